import { ClientCore, RETRY_MAX_MS, RETRY_MIN_MS } from '../../src/core/client-core.js';
import { userKey, type ServerMessage } from '../../src/protocol/messages.js';
import type { Conn, Host, World } from './world.js';
import type { SimNode } from './sim-node.js';

/** The real client's silence bounds (src/client/chat-client.ts): suspect, then presume the coordinator gone. */
const SUSPECT_MS = 1_000;
const DEAD_MS = 3_000;
const FAILOVER_ATTEMPT_MS = 700;
const FIRST_ATTEMPT_MS = 5_000;
const MAX_REDIRECTS = 5;
const TICK_MS = 100;

/** What the checker learns from a client. */
export interface ClientLog {
  user: string;
  /** When its first session started (messages acknowledged after this must reach it). */
  firstReady: number | undefined;
  readyAt: number[];
  /** Every message received, by id, with how often (more than once is a defect). */
  received: Map<string, number>;
  /** Acknowledged sends: client id → message id, and when. */
  acked: Map<string, string>;
  ackedAt: Map<string, number>;
  /** The account it logged in with (sim tokens name it). */
  account: string | undefined;
  /** Highest term seen in a succession list, and whether it ever went down. */
  term: number;
  termWentBack: string | undefined;
  gaps: number;
  errors: { code: string; ref?: string | undefined }[];
  gaveUp: string | undefined;
  displaced: boolean;
}

/**
 * One simulated chat client: the real `ClientCore`, driven the way
 * `ChatClient` drives it (attempts with deadlines, redirects, the succession
 * list on failover, resends, resume with a cursor).
 */
export class SimClient {
  readonly host: Host;
  readonly core: ClientCore;
  readonly log: ClientLog;
  readonly #world: World;
  readonly #nodes: () => SimNode[];
  #conn: Conn | undefined;
  #coordinator: string | undefined;
  #state: 'idle' | 'trying' | 'ready' | 'done' = 'idle';
  #attempt = 0;
  #term = 0;
  #suspecting = false;
  #reconnectSince = 0;
  readonly reconnectTimeoutMs = 60_000;
  /** Asked when a succession list names a lower term than one seen before: false if nobody could know better. */
  termBack: ((seen: number, coordinator: string, known: ReadonlyMap<number, string> | undefined) => boolean) | undefined;

  constructor(world: World, name: string, user: string, nodes: () => SimNode[]) {
    this.#world = world;
    this.host = world.host(name);
    this.#nodes = nodes;
    this.core = new ClientCore({ user, password: `pw-${name}`, register: true });
    this.log = { user, firstReady: undefined, readyAt: [], received: new Map(), acked: new Map(), ackedAt: new Map(), account: undefined, term: 0, termWentBack: undefined, gaps: 0, errors: [], gaveUp: undefined, displaced: false };
  }

  get ready(): boolean {
    return this.#state === 'ready';
  }

  get done(): boolean {
    return this.#state === 'done';
  }

  start(first: string): void {
    this.#tick();
    this.#connect([first], FIRST_ATTEMPT_MS);
  }

  send(cid: string, text: string, to: string[], room?: string): void {
    if (this.#state === 'done') return;
    this.core.queue(cid, text, to, room);
    if (this.#state === 'ready') this.#write(this.core.sendFrame(cid)!);
  }

  /** Rooms this client means to be in: asked at every login until a `room` frame says it is in (joins are not resent by the protocol). */
  readonly wantRooms = new Set<string>();
  /** Rooms a `room` frame said it is in (by name key). */
  readonly inRooms = new Set<string>();
  #joins = 0;

  join(room: string): void {
    this.wantRooms.add(room);
    if (this.#state === 'ready') this.#askRooms();
  }

  #askRooms(): void {
    for (const room of this.wantRooms) if (!this.inRooms.has(userKey(room))) this.#write({ type: 'room:join', id: `join-${++this.#joins}`, room });
  }

  /** Whether everything sent was acknowledged or refused. */
  get drained(): boolean {
    return this.core.outbox.size === 0;
  }

  #tick(): void {
    const w = this.#world;
    const now = w.now;
    const c = this.#conn;
    if (c && this.#state === 'ready') {
      if (w.connected(c.a, c.b)) c.heard[1] = now; // our pongs reach the coordinator
      const silent = now - c.heard[0];
      if (silent > DEAD_MS) this.#lost('silent');
      else if (silent > SUSPECT_MS && !this.#suspecting) this.#suspect();
    }
    w.later(this.host, TICK_MS, () => this.#tick());
  }

  /** Silence: ask the successor whether it took over, and go to it at once if so (a frozen coordinator, a cut cable). */
  #suspect(): void {
    this.#suspecting = true;
    const next = this.core.succession[0];
    const node = next === undefined ? undefined : this.#nodes().find((n) => n.address === next);
    const w = this.#world;
    const conn = this.#conn;
    w.later(this.host, 2 * w.latency() + 100, () => {
      this.#suspecting = false;
      if (this.#conn !== conn || !conn) return;
      if (node?.host.up && !node.host.frozen && node.core && w.connected(this.host, node.host)) {
        const st = node.status();
        if (st.role === 'coordinator' && st.term > this.#term) this.#lost('the successor took over');
      }
    });
  }

  #write(frame: object): void {
    this.#conn?.send(0, frame);
  }

  #lost(why: string): void {
    const c = this.#conn;
    this.#conn = undefined;
    c?.close(0);
    this.core.lost();
    if (this.#state !== 'ready') return;
    this.#state = 'trying';
    this.#reconnectSince = this.#world.now;
    void why;
    this.#reconnect(this.#coordinator ?? '');
  }

  /** Rounds over the candidates, with a doubling pause, until one takes us or the reconnect timeout passes. */
  #reconnect(from: string): void {
    const w = this.#world;
    let delay = RETRY_MIN_MS;
    const round = (): void => {
      if (this.#state !== 'trying') return;
      if (w.now - this.#reconnectSince > this.reconnectTimeoutMs) {
        this.log.gaveUp = `no coordinator within ${this.reconnectTimeoutMs} ms`;
        this.#state = 'done';
        return;
      }
      const discovered = this.#nodes().map((n) => n.address);
      this.#tryList(this.core.candidates(from, discovered), 0, FAILOVER_ATTEMPT_MS, (ok) => {
        if (ok || this.#state !== 'trying') return;
        w.later(this.host, delay, round);
        delay = Math.min(delay * 2, RETRY_MAX_MS);
      });
    };
    round();
  }

  #connect(first: string[], timeoutMs: number): void {
    this.#state = 'trying';
    this.#reconnectSince = this.#world.now;
    this.#tryList(first, 0, timeoutMs, (ok) => {
      if (!ok && this.#state === 'trying') this.#reconnect(first[0]!);
    });
  }

  #tryList(list: string[], i: number, timeoutMs: number, done: (ok: boolean) => void): void {
    if (i >= list.length || this.#state !== 'trying') return done(this.#state !== 'trying');
    this.#follow(list[i]!, 0, timeoutMs, (r) => (r === 'ok' || r === 'final' ? done(true) : this.#tryList(list, i + 1, timeoutMs, done)));
  }

  /** Tries `address`, following redirects to the coordinator; a node that does not know one yet (starting) counts as a failure, retried next round. */
  #follow(address: string, hops: number, timeoutMs: number, done: (r: 'ok' | 'final' | 'failed') => void): void {
    this.#try(address, timeoutMs, (r) => {
      if (typeof r === 'object' && r.redirect !== null && hops < MAX_REDIRECTS) return this.#follow(r.redirect, hops + 1, timeoutMs, done);
      done(typeof r === 'object' ? 'failed' : r);
    });
  }

  /** One connection attempt, every phase bounded by `timeoutMs`. */
  #try(address: string, timeoutMs: number, resolve: (r: 'ok' | 'final' | 'failed' | { redirect: string | null }) => void): void {
    const w = this.#world;
    const node = this.#nodes().find((n) => n.address === address);
    const attempt = ++this.#attempt;
    {
      let settled = false;
      let conn: Conn | undefined;
      const settle = (r: 'ok' | 'final' | 'failed' | { redirect: string | null }) => {
        if (settled) return;
        settled = true;
        if (r !== 'ok') conn?.close(0);
        resolve(r);
      };
      if (!node || !node.host.up) return void w.later(this.host, w.connected(this.host, node?.host ?? this.host) ? 1 : timeoutMs, () => settle('failed'));
      const c: Conn = w.connect(this.host, node.host);
      conn = c;
      w.later(this.host, timeoutMs, () => settle('failed'));
      c.attach(0, {
        onFrame: (frame, meta) => {
          const msg = frame as ServerMessage;
          c.heard[0] = w.now;
          if (!settled) {
            if (msg.type === 'auth:ok' && msg.token) this.log.account = msg.token;
            const step = this.core.handshake(msg);
            for (const f of step.send) c.send(0, f);
            if (!step.done) return;
            if (!step.done.ok) {
              if (step.done.redirect !== undefined) return settle({ redirect: step.done.redirect });
              this.log.errors.push({ code: step.done.code });
              if (step.done.code === 'username_taken') {
                this.log.displaced = true;
                this.#state = 'done';
                return settle('final');
              }
              if (this.core.isFinal(step.done.code)) {
                this.log.gaveUp = step.done.message;
                this.#state = 'done';
                return settle('final');
              }
              return settle('failed');
            }
            if (attempt !== this.#attempt) return settle('failed');
            this.#conn = c;
            this.#coordinator = address;
            this.#state = 'ready';
            this.log.firstReady ??= w.now;
            this.log.readyAt.push(w.now);
            settle('ok');
            for (const id of this.core.resend()) c.send(0, this.core.sendFrame(id)!);
            this.#askRooms();
            return;
          }
          if (this.#conn !== c) return;
          this.#receive(msg, meta as ReadonlyMap<number, string> | undefined);
        },
        onClose: () => {
          if (!settled) return settle('failed');
          if (this.#conn === c) this.#lost('closed');
        },
      });
      node.accept(c);
    }
  }

  /** `known`: the terms the sending node knew of when it sent a succession list (the checker's view). */
  #receive(msg: ServerMessage, known?: ReadonlyMap<number, string>): void {
    if (msg.type === 'redirect') return; // the close follows
    if (msg.type === 'succession') {
      // A coordinator that names a later term as the highest it knows is on its way past it (it cannot take
      // it before the node that holds it joins or leads: two coordinators would share it); the end check
      // sees that it got there.
      const claims = Math.max(msg.term, msg.highest ?? 0);
      if (claims < this.log.term && this.termBack?.(this.log.term, msg.coordinator.address, known) !== false) this.log.termWentBack ??= `term ${msg.term} after ${this.log.term}`;
      this.#term = Math.max(this.#term, msg.term);
      this.log.term = this.#term;
    }
    if (process.env.SIM_TRACE === this.host.name && (msg.type !== 'chat:message' || msg.text.includes(process.env.SIM_TRACE_TEXT ?? '\u0000'))) console.log(`${(this.#world.now / 1000).toFixed(3)} TRACE ${this.host.name} <- ${JSON.stringify(msg).slice(0, 300)}`);
    if (msg.type === 'room') {
      if (msg.member) this.inRooms.add(userKey(msg.room));
      return;
    }
    const ev = this.core.receive(msg);
    if (ev === undefined) {
      if (msg.type === 'chat:message') this.log.received.set(msg.id, (this.log.received.get(msg.id) ?? 1) + 0); // seen before: dropped
      return;
    }
    switch (ev.type) {
      case 'message':
        this.log.received.set(ev.message.id, (this.log.received.get(ev.message.id) ?? 0) + 1);
        return;
      case 'ack':
        this.log.acked.set(ev.id, ev.messageId);
        this.log.ackedAt.set(ev.id, this.#world.now);
        return;
      case 'history:end':
        if (ev.gap) this.log.gaps++;
        return;
      case 'error':
        this.log.errors.push({ code: ev.code, ref: ev.ref });
        if (ev.code === 'username_taken') {
          this.log.displaced = true;
          this.#state = 'done';
          this.#conn?.close(0);
          this.#conn = undefined;
        }
        return;
      default:
        return;
    }
  }
}
