import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import type { Logger } from 'pino';
import { ServerMessage, type ChatMessage } from '../protocol/messages.js';
import { DEFAULT_LIMITS, PROTOCOL_VERSION, type Limits } from '../protocol/limits.js';
import { ProtocolError, type ErrorCode, ERROR_CODES } from '../protocol/errors.js';
import { FileTransfers, type FileProgress, type FileSent, type ReceivedFile } from './file-transfer.js';

const CONNECT_TIMEOUT_MS = 5_000; // first connection: TCP + WebSocket handshake on a LAN
const FAILOVER_CONNECT_TIMEOUT_MS = 700; // during a failover, a candidate that is this slow is skipped for now
const SILENCE_MS = 3_500; // the coordinator pings every 1 s: 3 missed pings and it is gone (DESIGN §4)
const MAX_SERVER_FRAME = 8 * 1024 * 1024; // bytes: a server frame larger than this is hostile
const RECONNECT_TIMEOUT_MS = 60_000; // give up (and report `disconnected`) after this long without a coordinator
const RETRY_MIN_MS = 50; // between failover rounds, doubling…
const RETRY_MAX_MS = 1_000; // …up to this
const SEEN_IDS = 20_000; // message ids remembered to drop a message seen twice (replay after failover)
const MAX_REDIRECTS = 5;

export interface ChatClientOptions {
  /** `host:port` of the coordinator, when known. */
  address?: string;
  /** Finds coordinator addresses (mDNS, remembered ones), for the first connection and failovers. */
  discover?: () => Promise<string[]>;
  user: string;
  password: string;
  /** Create the account first (then log in). */
  register?: boolean;
  networkPassword?: string;
  log: Logger;
  connectTimeoutMs?: number;
  reconnectTimeoutMs?: number;
  /** Where files sent to this user are saved; without it, files are refused. */
  downloadDir?: string;
}

/** What the client knows once logged in. */
export interface Ready {
  user: string;
  coordinator: string;
  network: string;
  protocol: number;
  /** As the coordinator announced them (`maxFileBytes` absent from one that predates file sharing). */
  limits: Omit<Limits, 'maxFileBytes'> & { maxFileBytes?: number };
  /** Present after a failover or reconnect. */
  resumed?: boolean;
}

/** A server-reported or local error, with a catalogue code. */
export interface ClientError {
  code: ErrorCode | string;
  message: string;
  /** The client id of the send it concerns, if any. */
  ref?: string;
}

export interface ChatClientEvents {
  /** Logged in (again, after a failover); emitted before any replayed message. */
  ready: [Ready];
  /** The coordinator is gone; the client is looking for its successor. */
  reconnecting: [{ from: string }];
  message: [ChatMessage];
  ack: [{ id: string; messageId: string; ts: number }];
  presence: [string[]];
  'history:end': [number];
  /** Who coordinates and who is next: worth remembering for when discovery finds nothing. */
  succession: [{ term: number; coordinator: { id: string; address: string }; standbys: { id: string; address: string }[] }];
  error: [ClientError];
  /** A file going out or coming in moved on (at most every 250 ms per file). */
  'file:progress': [FileProgress];
  /** A file we sent is saved by (some of) its recipients. */
  'file:sent': [FileSent];
  /** A file sent to us is saved and verified. */
  file: [ReceivedFile];
  /** A file sent to us was interrupted or damaged: nothing was saved under its name. */
  'file:failed': [{ id: string; from: string; name: string; reason: string }];
  /** Gave up: no coordinator within the reconnect timeout, or login refused. */
  close: [{ code: number; reason: string }];
}

type Attempt = { ok: true } | { ok: false; redirect?: string | null; error: ProtocolError };

/**
 * The one client library (DESIGN §8): connects, authenticates, sends with an
 * outbox of unacknowledged messages, follows the succession list when the
 * coordinator goes away (resuming with a token, no password, no bcrypt),
 * resends what was not acknowledged, and delivers each message once.
 */
export class ChatClient extends EventEmitter<ChatClientEvents> {
  readonly #opts: ChatClientOptions;
  readonly #outbox = new Map<string, { text: string; to: string[] }>();
  readonly #seen = new Set<string>();
  #online = new Set<string>();
  #ws: WebSocket | undefined;
  #silence: NodeJS.Timeout | undefined;
  #ready: Ready | undefined;
  #token: string | undefined;
  #registered = false;
  /** Where to go when the coordinator goes away: its successors first, then itself. */
  #succession: string[] = [];
  #drainWaiters: (() => void)[] = [];
  #closed = false;
  #reconnecting = false;
  /** Sends waiting for a token: the client paces itself to the coordinator's announced rate. */
  readonly #paced: string[] = [];
  #tokens = 0;
  #tokensAt = 0;
  #paceTimer: NodeJS.Timeout | undefined;
  /** Ends the wait between reconnection rounds early (on close). */
  #wakeBackoff: (() => void) | undefined;
  #historyDone = false;
  #whoPending = 0;
  readonly #files: FileTransfers;

  constructor(options: ChatClientOptions) {
    super();
    this.#opts = options;
    this.#files = new FileTransfers(
      {
        send: (frame) => this.#write(frame),
        sendBinary: (data, written) => {
          if (this.#ws?.readyState !== WebSocket.OPEN) return false;
          this.#ws.send(data, { binary: true }, written);
          return true;
        },
        buffered: () => this.#ws?.bufferedAmount ?? 0,
        maxFileBytes: () => this.#ready?.limits.maxFileBytes,
        log: options.log,
        progress: (p) => this.emit('file:progress', p),
        sent: (f) => {
          this.emit('file:sent', f);
          this.#wakeDrainWaiters();
        },
        uploadFailed: (id, err) => {
          this.emit('error', { code: err.code, message: err.message, ref: id });
          this.#wakeDrainWaiters();
        },
        received: (f) => this.emit('file', f),
        receiveFailed: (f) => this.emit('file:failed', f),
      },
      options.downloadDir,
    );
  }

  get ready(): Ready | undefined {
    return this.#ready;
  }

  /** Messages sent but not yet acknowledged. */
  get pending(): number {
    return this.#outbox.size;
  }

  /** The users online now, sorted. */
  get online(): string[] {
    return [...this.#online].sort((a, b) => a.localeCompare(b));
  }

  /**
   * Connects and logs in (registering first with `register`). Rejects with a
   * `ProtocolError` (`connection_failed`, `network_password`, `auth_failed`,
   * `username_taken`, …) when that fails.
   */
  async connect(): Promise<Ready> {
    const candidates = this.#opts.address ? [this.#opts.address] : await (this.#opts.discover?.() ?? Promise.resolve([]));
    if (candidates.length === 0) throw new ProtocolError('connection_failed', 'no coordinator address to connect to');
    let last: ProtocolError = new ProtocolError('connection_failed', 'no coordinator answered');
    for (const first of candidates) {
      const r = await this.#follow(first, this.#opts.connectTimeoutMs ?? CONNECT_TIMEOUT_MS);
      if (r.ok) return this.#ready!;
      last = r.error;
      if (['auth_failed', 'username_taken', 'network_password', 'password_too_long', 'protocol_version', 'rate_limited'].includes(r.error.code)) break;
    }
    throw last;
  }

  /** Queues a message; returns its client id. `to` empty = everyone. */
  send(text: string, to: readonly string[] = [], id: string = randomUUID()): string {
    // Checked here against the announced limits: the coordinator could only refuse the frame, not say which send it was.
    const limits = this.#ready?.limits ?? DEFAULT_LIMITS;
    const refusal =
      text.length === 0
        ? new ProtocolError('invalid_message', 'a message needs some text')
        : text.length > limits.maxTextChars
          ? new ProtocolError('text_too_long', `the text is ${text.length} characters; the limit is ${limits.maxTextChars}`)
          : to.length > limits.maxRecipients
            ? new ProtocolError('too_many_recipients', `${to.length} recipients; the limit is ${limits.maxRecipients}`)
            : undefined;
    if (refusal !== undefined) {
      // After the caller has the id (it may correlate the error with its own).
      queueMicrotask(() => {
        this.emit('error', { code: refusal.code, message: refusal.message, ref: id });
        this.#wakeDrainWaiters();
      });
      return id;
    }
    this.#outbox.set(id, { text, to: [...to] });
    this.#paced.push(id);
    this.#pump();
    return id;
  }

  /**
   * Sends the file at `path` to `to` (empty = everyone online); returns its id.
   * Progress, then `file:sent` or an `error` with this id as `ref`, follow.
   */
  sendFile(path: string, to: readonly string[] = [], id: string = randomUUID()): string {
    this.#files.send(path, [...to], id);
    return id;
  }

  /** Asks for the online list; the answer arrives as a `presence` event. */
  who(): void {
    this.#whoPending++;
    this.#write({ type: 'presence:get' });
  }

  /**
   * Resolves once the login replay has arrived, every `who` is answered and
   * every sent message is acknowledged or failed (or the client gave up).
   */
  drained(): Promise<void> {
    if (this.#idle()) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  /** Closes the connection. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#silence);
    clearTimeout(this.#paceTimer);
    this.#wakeBackoff?.();
    this.#files.interrupt('the client was closed');
    const ws = this.#ws;
    this.#wakeDrainWaiters();
    const cleaned = this.#files.cleanedUp(); // no temporary file of an unfinished download is left behind
    if (ws !== undefined && ws.readyState !== WebSocket.CLOSED) {
      await new Promise<void>((resolve) => {
        ws.once('close', () => resolve());
        ws.close(1000, 'bye');
        setTimeout(() => (ws.terminate(), resolve()), 1_000).unref();
      });
    }
    await cleaned;
  }

  // ---- connecting ----

  /** Tries `address`, following redirects to the coordinator. */
  async #follow(address: string, timeoutMs: number): Promise<Attempt> {
    let target: string | null = address;
    let result: Attempt = { ok: false, error: new ProtocolError('connection_failed', `could not connect to ${address}`) };
    for (let hops = 0; target !== null && hops < MAX_REDIRECTS; hops++) {
      result = await this.#attempt(target, timeoutMs);
      if (result.ok || result.redirect === undefined) return result;
      target = result.redirect; // null: that node knows no coordinator yet
    }
    return result;
  }

  /** One connection: welcome, network password, login (or resume). Resolves once logged in or failed. */
  #attempt(address: string, timeoutMs: number): Promise<Attempt> {
    const { log } = this.#opts;
    return new Promise<Attempt>((resolve) => {
      let settled = false;
      const settle = (r: Attempt): void => {
        if (settled) return;
        settled = true;
        if (!r.ok) ws.terminate();
        resolve(r);
      };
      const ws = new WebSocket(`ws://${address}`, { handshakeTimeout: timeoutMs, maxPayload: MAX_SERVER_FRAME, perMessageDeflate: false });
      ws.on('error', (err) => {
        log.debug({ err, address }, 'socket error');
        settle({ ok: false, error: new ProtocolError('connection_failed', `could not connect to ${address}: ${err.message}`) });
      });
      ws.on('ping', () => ws === this.#ws && this.#heard());
      ws.on('close', (code, reasonBuf) => {
        const reason = reasonBuf.toString();
        // Normally an error frame came first and settled this; the close reason is the fallback.
        const wrongPassword = code === 1008 && /network password/.test(reason);
        settle({ ok: false, error: new ProtocolError(wrongPassword ? 'network_password' : 'connection_failed', reason || `connection to ${address} closed (${code})`) });
        if (ws === this.#ws) this.#lost(address);
      });
      ws.on('message', (data, isBinary) => {
        if (isBinary) {
          // File data; nothing else comes in binary frames.
          if (settled && ws === this.#ws) {
            this.#heard();
            this.#files.onData(Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data));
          }
          return;
        }
        const result = ServerMessage.safeParse(safeJson(data.toString()));
        if (!result.success) {
          log.warn({ issues: result.error.issues.slice(0, 3) }, 'ignoring an invalid frame from the coordinator');
          return;
        }
        const msg = result.data;
        if (settled) {
          if (ws === this.#ws) {
            this.#heard();
            this.#dispatch(msg);
          }
          return;
        }
        this.#handshake(ws, address, msg, settle);
      });
    });
  }

  #handshake(ws: WebSocket, address: string, msg: ServerMessage, settle: (r: Attempt) => void): void {
    const { user, password, register, networkPassword } = this.#opts;
    const send = (frame: object): void => void ws.send(JSON.stringify(frame));
    const login = (): void => {
      if (this.#token) send({ type: 'auth:resume', user: this.#ready?.user ?? user, token: this.#token });
      else send({ type: register && !this.#registered ? 'auth:register' : 'auth:login', user, password });
    };
    switch (msg.type) {
      case 'welcome':
        if (msg.protocol !== PROTOCOL_VERSION) return settle({ ok: false, error: new ProtocolError('protocol_version', `coordinator speaks protocol ${msg.protocol}; this client speaks ${PROTOCOL_VERSION}`) });
        this.#ready = { user: this.#ready?.user ?? user, coordinator: address, network: msg.network, protocol: msg.protocol, limits: msg.limits };
        if (msg.networkPassword) {
          if (!networkPassword) return settle({ ok: false, error: new ProtocolError('network_password', 'this network requires a network password (LANCHAT_NETWORK_PASSWORD or --network-password-file)') });
          send({ type: 'network:auth', password: networkPassword });
        } else login();
        return;
      case 'network:ok':
        return login();
      case 'redirect':
        return settle({ ok: false, redirect: msg.coordinator, error: new ProtocolError('connection_failed', `${address} is not the coordinator`) });
      case 'auth:ok': {
        const resumed = this.#registered;
        this.#registered = true;
        this.#token = msg.token;
        this.#ws = ws;
        this.#historyDone = false;
        this.#whoPending = 0;
        this.#ready = { ...this.#ready!, user: msg.user, ...(resumed ? { resumed: true } : {}) };
        this.#tokens = this.#ready.limits.maxMessageRate;
        this.#tokensAt = performance.now();
        this.#reconnecting = false;
        this.#heard();
        settle({ ok: true });
        this.emit('ready', this.#ready);
        // Resend what the last coordinator never acknowledged; the new one drops what it already has (DESIGN §5).
        this.#paced.splice(0, this.#paced.length, ...this.#outbox.keys());
        this.#pump();
        return;
      }
      case 'error':
        if (msg.code === 'auth_failed' && this.#token) {
          this.#token = undefined; // an expired or foreign token: log in with the password instead
          return login();
        }
        return settle({ ok: false, error: new ProtocolError(isCode(msg.code) ? msg.code : 'internal', msg.message) });
      default:
        return;
    }
  }

  /** The coordinator went away: find its successor (DESIGN §4.3) and resume there. */
  #lost(from: string): void {
    clearTimeout(this.#silence);
    this.#ws = undefined;
    this.#files.interrupt('the connection to the coordinator was lost');
    if (this.#closed || this.#reconnecting) return;
    this.#reconnecting = true;
    this.emit('reconnecting', { from });
    void this.#reconnect(from);
  }

  async #reconnect(from: string): Promise<void> {
    const deadline = Date.now() + (this.#opts.reconnectTimeoutMs ?? RECONNECT_TIMEOUT_MS);
    let delay = RETRY_MIN_MS;
    while (!this.#closed && Date.now() < deadline) {
      // Successors first (in order), the lost coordinator last (it may come back), then anything discovered.
      const discovered = this.#opts.discover ? await this.#opts.discover().catch(() => []) : [];
      const candidates = [...new Set([...this.#succession.filter((a) => a !== from), from, ...discovered])];
      for (const address of candidates) {
        if (this.#closed) return;
        const r = await this.#follow(address, FAILOVER_CONNECT_TIMEOUT_MS);
        if (r.ok) return;
        this.#opts.log.debug({ address, code: r.error.code, reason: r.error.message }, 'failover candidate did not take us');
        if (r.error.code === 'auth_failed' || r.error.code === 'network_password') return this.#giveUp(r.error.message);
      }
      // Not unref'd: a client looking for its coordinator is alive (a script whose input has ended waits for its acks).
      await new Promise<void>((r) => {
        const timer = setTimeout(r, delay);
        this.#wakeBackoff = () => (clearTimeout(timer), r());
      });
      this.#wakeBackoff = undefined;
      delay = Math.min(delay * 2, RETRY_MAX_MS);
    }
    this.#giveUp(`no coordinator found within ${Math.round((this.#opts.reconnectTimeoutMs ?? RECONNECT_TIMEOUT_MS) / 1000)} s (tried ${this.#succession.join(', ') || from})`);
  }

  #giveUp(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.emit('close', { code: 1006, reason });
    this.#wakeDrainWaiters();
  }

  // ---- traffic ----

  #dispatch(msg: ServerMessage): void {
    switch (msg.type) {
      case 'chat:message':
        // After a failover the new coordinator replays history: drop what we have seen (exactly once, DESIGN §5).
        if (this.#seen.has(msg.id)) return;
        this.#seen.add(msg.id);
        if (this.#seen.size > SEEN_IDS) this.#seen.delete(this.#seen.values().next().value!);
        return void this.emit('message', msg);
      case 'chat:ack':
        if (!this.#outbox.delete(msg.id)) return; // a resend acknowledged twice
        this.emit('ack', { id: msg.id, messageId: msg.messageId, ts: msg.ts });
        return this.#wakeDrainWaiters();
      case 'presence':
        this.#online = new Set(msg.online);
        // The first full list is the login one (it follows history:end); later ones answer `who`.
        if (!this.#historyDone) this.#historyDone = true;
        else if (this.#whoPending > 0) this.#whoPending--;
        this.#emitPresence();
        return this.#wakeDrainWaiters();
      case 'presence:joined':
        this.#online.add(msg.user);
        return this.#emitPresence();
      case 'presence:left':
        this.#online.delete(msg.user);
        return this.#emitPresence();
      case 'history:end':
        return void this.emit('history:end', msg.count);
      case 'succession':
        this.#succession = msg.standbys.map((s) => s.address).concat(msg.coordinator.address);
        this.#opts.log.debug({ succession: this.#succession, leaving: msg.leaving }, 'succession');
        return void this.emit('succession', { term: msg.term, coordinator: msg.coordinator, standbys: msg.standbys });
      case 'redirect':
        return; // the close that follows starts the reconnection, which follows it
      case 'file:accepted':
      case 'file:credit':
      case 'file:sent':
      case 'file:start':
      case 'file:end':
      case 'file:abort':
        return this.#files.onFrame(msg);
      case 'error':
        if (msg.ref !== undefined && this.#files.onError(msg.ref, new ProtocolError(isCode(msg.code) ? msg.code : 'file_failed', msg.message))) return;
        if (msg.ref !== undefined) this.#outbox.delete(msg.ref); // that send failed for good: it will not be acked
        this.emit('error', { code: msg.code, message: msg.message, ...(msg.ref === undefined ? {} : { ref: msg.ref }) });
        return this.#wakeDrainWaiters();
      default:
        return;
    }
  }

  /** Writes paced sends as tokens allow (burst = the announced rate, refilled at 90 % of it for safety). */
  #pump(): void {
    if (this.#ws?.readyState !== WebSocket.OPEN) return; // resent on the next login
    const rate = this.#ready?.limits.maxMessageRate ?? 20;
    const now = performance.now();
    this.#tokens = Math.min(rate, this.#tokens + ((now - this.#tokensAt) / 1000) * rate * 0.9);
    this.#tokensAt = now;
    while (this.#paced.length > 0 && this.#tokens >= 1) {
      const id = this.#paced.shift()!;
      const m = this.#outbox.get(id);
      if (m === undefined) continue;
      this.#tokens -= 1;
      this.#write({ type: 'chat:send', id, to: m.to, text: m.text });
    }
    if (this.#paced.length > 0 && this.#paceTimer === undefined) {
      this.#paceTimer = setTimeout(
        () => {
          this.#paceTimer = undefined;
          this.#pump();
        },
        Math.ceil(((1 - this.#tokens) / (rate * 0.9)) * 1000),
      );
    }
  }

  #idle(): boolean {
    return this.#closed || (this.#outbox.size === 0 && this.#files.uploading === 0 && this.#historyDone && this.#whoPending === 0 && !this.#reconnecting);
  }

  /** Emits the whole online list, whatever changed: consumers never apply deltas themselves. */
  #emitPresence(): void {
    this.emit('presence', this.online);
  }

  #write(frame: object): boolean {
    if (this.#ws?.readyState !== WebSocket.OPEN) return false;
    this.#ws.send(JSON.stringify(frame));
    return true;
  }

  /** Any frame or ping proves the coordinator alive; silence past SILENCE_MS means it is not. */
  #heard(): void {
    clearTimeout(this.#silence);
    this.#silence = setTimeout(() => {
      this.#opts.log.warn('coordinator silent: dropping the connection');
      const ws = this.#ws;
      if (ws) {
        this.#lost(this.#ready?.coordinator ?? 'the coordinator');
        ws.terminate();
      }
    }, SILENCE_MS);
    this.#silence.unref();
  }

  #wakeDrainWaiters(): void {
    if (!this.#idle()) return;
    for (const w of this.#drainWaiters.splice(0)) w();
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_CODES, code);
}
