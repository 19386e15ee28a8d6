import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';

const CONNECT_TIMEOUT_MS = 60_000; // per client: registration waits behind bcrypt and presence storms
const MAX_SERVER_FRAME = 16 * 1024 * 1024; // bytes: presence lists of thousands of users are large
const PASSWORD = 'bench-password';

// Frames are recognised by their first bytes (the relay serialises `type` first) and the
// bench's own text marker, never by JSON.parse: the bench process hosts every receiver
// and must spend as little CPU per delivery as possible.
const prefix = (type: string): Buffer => Buffer.from(`{"type":"${type}"`);
const WELCOME = prefix('welcome');
const HISTORY_END = prefix('history:end');
const CHAT_MESSAGE = prefix('chat:message');
const CHAT_ACK = prefix('chat:ack');
const PRESENCE = prefix('presence'); // the full list (every login, or the newcomer only with delta presence)
const PRESENCE_JOINED = prefix('presence:joined');
const PRESENCE_LEFT = prefix('presence:left');
const COMMA = 0x2c;
const EMPTY_LIST = Buffer.from('[]');
const ERROR = prefix('error');
const REF = Buffer.from('"ref":"');
/** Start of a bench message's text: `"text":"~<t0 µs>~<sender index>~<padding>"`. */
const TEXT_MARK = Buffer.from('"text":"~');
const TILDE = 0x7e;

/** Which server the fleet talks to: the lanchat relay, or the bare `ws` broadcast server. */
export type ServerKind = 'relay' | 'bare';

/** Receives every measured delivery (a bench message arriving at any client). */
export interface DeliverySink {
  onDelivery(sentAtMs: number, receivedAtMs: number): void;
}

/** Builds the text of a bench message: send time (performance.now, µs) and sender, then padding. */
export function benchText(sentAtMs: number, sender: number, padding: string): string {
  return `~${Math.round(sentAtMs * 1000)}~${sender}~${padding}`;
}

/** One WebSocket connection held by the bench process. */
export class BenchClient {
  /** Sends in flight (not yet acked by the relay, or not yet echoed by the bare server). */
  inflight = 0;
  /** Called when one of this client's sends completes (ack, own echo, or error with a ref). */
  onSendDone: (() => void) | undefined;
  /** Users this client believes online, from the last full presence list and the deltas since. */
  online = 0;
  errors = 0;
  lastError = '';
  /** Registrations tried again after "busy" (the coordinator hashes new accounts on one thread, 16 waiting). */
  retries = 0;
  #handshake: { resolve: () => void; reject: (err: Error) => void } | undefined;

  constructor(
    readonly index: number,
    readonly name: string,
    readonly ws: WebSocket,
  ) {}

  /** Sends a raw text frame. */
  send(frame: string): void {
    this.ws.send(frame);
  }

  /** @internal Fleet → client: the handshake finished or failed. */
  settle(err?: Error): void {
    const h = this.#handshake;
    this.#handshake = undefined;
    if (h === undefined) return;
    if (err) h.reject(err);
    else h.resolve();
  }

  /** @internal */
  awaitHandshake(): Promise<void> {
    return new Promise((resolve, reject) => (this.#handshake = { resolve, reject }));
  }

  /** @internal */
  get handshaking(): boolean {
    return this.#handshake !== undefined;
  }
}

/**
 * All the bench's connections to one server, with the one frame handler
 * they share. Delivery timing goes to `sink` while a run is measuring.
 */
export class Fleet {
  readonly clients: BenchClient[] = [];
  sink: DeliverySink | undefined;
  /** Connections that closed while the bench still wanted them (the server dropped them). */
  unexpectedCloses = 0;
  #closing = false;

  constructor(
    readonly kind: ServerKind,
    readonly url: string,
  ) {}

  /** Opens `count` more connections (logging in as fresh users on the relay), `concurrency` at a time. */
  async grow(count: number, concurrency: number, namePrefix: string): Promise<void> {
    const first = this.clients.length;
    let next = first;
    const end = first + count;
    const worker = async (): Promise<void> => {
      while (next < end) {
        const index = next++;
        this.clients[index] = await this.#connect(index, `${namePrefix}${index}`); // decimal: base 36 made u1 and ul, one name by its skeleton
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  }

  /** Whether every open client knows every other one is online (each login sends presence to all). */
  presenceSettled(): boolean {
    const open = this.clients.filter((c) => c.ws.readyState === WebSocket.OPEN);
    return open.every((c) => c.online === open.length);
  }

  /** From now on, closes are the bench's doing, not the server's. */
  expectClose(): void {
    this.#closing = true;
  }

  /** Total error frames received. */
  get errors(): number {
    return this.clients.reduce((n, c) => n + c.errors, 0);
  }

  /** Drops every connection at once. */
  closeAll(): void {
    this.expectClose();
    for (const c of this.clients) c.ws.terminate();
  }

  async #connect(index: number, name: string): Promise<BenchClient> {
    const ws = new WebSocket(this.url, { perMessageDeflate: false, skipUTF8Validation: true, maxPayload: MAX_SERVER_FRAME, rejectUnauthorized: false });
    const client = new BenchClient(index, name, ws);
    const handshake = client.awaitHandshake();
    const timer = setTimeout(() => client.settle(new Error(`${name}: no login within ${CONNECT_TIMEOUT_MS} ms`)), CONNECT_TIMEOUT_MS);
    ws.on('message', (data: Buffer) => this.#onFrame(client, data));
    ws.on('error', (err) => client.settle(new Error(`${name}: ${err.message}`)));
    ws.on('close', () => {
      client.settle(new Error(`${name}: connection closed during login`));
      if (!this.#closing) this.unexpectedCloses++;
    });
    if (this.kind === 'bare') ws.on('open', () => client.settle());
    try {
      await handshake;
    } catch (err) {
      ws.terminate();
      throw err;
    } finally {
      clearTimeout(timer);
    }
    return client;
  }

  #onFrame(c: BenchClient, buf: Buffer): void {
    if (this.kind === 'bare') return this.#onBench(c, buf); // the bare server only ever echoes bench sends
    if (startsWith(buf, CHAT_MESSAGE)) return this.#onBench(c, buf);
    if (startsWith(buf, CHAT_ACK)) return this.#sendDone(c);
    if (startsWith(buf, PRESENCE_JOINED)) return void c.online++;
    if (startsWith(buf, PRESENCE_LEFT)) return void c.online--;
    if (startsWith(buf, PRESENCE)) return void (c.online = countNames(buf));
    if (startsWith(buf, ERROR)) return this.#onError(c, buf);
    if (!c.handshaking) return;
    if (startsWith(buf, WELCOME)) c.send(JSON.stringify({ type: 'auth:register', user: c.name, password: PASSWORD }));
    else if (startsWith(buf, HISTORY_END)) c.settle();
  }

  /** A bench message arrived: time it, and complete the send if it is this client's own echo (bare). */
  #onBench(c: BenchClient, buf: Buffer): void {
    const now = performance.now();
    const at = buf.indexOf(TEXT_MARK);
    if (at < 0) return;
    let pos = at + TEXT_MARK.length;
    let sentAtUs = 0;
    for (; pos < buf.length && buf[pos] !== TILDE; pos++) sentAtUs = sentAtUs * 10 + buf[pos]! - 48;
    this.sink?.onDelivery(sentAtUs / 1000, now);
    if (this.kind !== 'bare' || c.onSendDone === undefined) return;
    let sender = 0;
    for (pos++; pos < buf.length && buf[pos] !== TILDE; pos++) sender = sender * 10 + buf[pos]! - 48;
    if (sender === c.index) this.#sendDone(c);
  }

  #onError(c: BenchClient, buf: Buffer): void {
    c.errors++;
    c.lastError = buf.toString('utf8', 0, Math.min(buf.length, 300));
    if (c.handshaking && buf.includes('"rate_limited"') && c.retries < 100) {
      c.retries++; // "try again shortly", as a person would
      setTimeout(() => c.send(JSON.stringify({ type: 'auth:register', user: c.name, password: PASSWORD })), 250).unref();
      return;
    }
    if (c.handshaking) return c.settle(new Error(`${c.name}: ${c.lastError}`));
    if (buf.includes(REF)) this.#sendDone(c); // a refused send will never be acked
  }

  #sendDone(c: BenchClient): void {
    if (c.inflight > 0) c.inflight--;
    c.onSendDone?.();
  }
}

/** Names in a `{"type":"presence","online":[...]}` frame: commas + 1, or 0 for an empty list (names hold no commas). */
function countNames(buf: Buffer): number {
  if (buf.includes(EMPTY_LIST)) return 0;
  let commas = 0;
  for (let i = PRESENCE.length + 1; i < buf.length; i++) if (buf[i] === COMMA) commas++;
  return commas + 1;
}

function startsWith(buf: Buffer, head: Buffer): boolean {
  return buf.length >= head.length && head.compare(buf, 0, head.length) === 0;
}
