import type { Cover, Entry, LogRecord, MessageEntry, NewEntry, StatusEntry, UserEntry } from '../protocol/entries.js';
import { accountOf, messageId } from '../protocol/entries.js';
import { errorFrame, userKey, type ClientMessage, type ServerMessage } from '../protocol/messages.js';
import type { ErrorCode } from '../protocol/errors.js';
import type { UserStatus } from '../protocol/limits.js';
import { ChatState, byTime } from './chat-state.js';
import { Pipeline, entryKey, type Ack } from './pipeline.js';
import { Replica, splitEntries, type Batch } from './replica.js';
import { RoleMachine, type LinkEnd, type NodeSelf, type RoleAction, type RoleEvent, type RoleInfo, type RoleTiming, type Succession } from './role.js';
import { Sessions } from './sessions.js';
import type { RoomAction, RoomRequest } from './rooms.js';
import { StandbyBook, type StandbyInfo } from './standbys.js';
import { at, fromPairs, meet, originOf, size, termOfOwnOrigin, toPairs, type ReadonlyVersionVector, type VectorPairs } from './version-vector.js';

/** Timings of the replication core (ms). */
export interface CoreTiming {
  /**
   * A successor that has not acknowledged an entry this long after it was
   * durable here leaves the succession list; the next standby is used
   * (issue #11: a standby that answers pings but never acknowledges must not
   * freeze every send). Measured: a standby acknowledges within 2–6 ms on a
   * LAN, p99 under 60 ms with both CPUs busy (npm run bench).
   */
  ackTimeoutMs: number;
  /** The coordinator recomputes the floor (what every replica holds) this often, and tells standbys. */
  floorEveryMs: number;
}

export const CORE_TIMING: Readonly<CoreTiming> = Object.freeze({ ackTimeoutMs: 1_000, floorEveryMs: 1_000 });

/**
 * The tail (entries above the floor) is kept up to this many entries for
 * replicas that are behind; one further behind gets an install (the state,
 * the newest messages) instead of every old entry. At 80 messages/s, 10 minutes.
 */
export const MAX_TAIL_ENTRIES = 50_000;
/** Messages kept for resuming sessions (DESIGN §5); past it a resuming client gets the newest and a gap. */
export const RESUME_WINDOW = 10_000;

export interface NodeCoreConfig {
  self: NodeSelf;
  /** `host:port` where clients and nodes reach this node (published in the succession list). */
  address: string;
  historySize: number;
  resumeWindow?: number;
  maxTail?: number;
  timing?: Partial<RoleTiming & CoreTiming>;
  /** A fresh random secret for session tokens (the core itself has no randomness: the simulator must replay). */
  newSecret: () => string;
}

/** What a standby says in `peer:hello`, as the core needs it. */
export interface Hello extends StandbyInfo {
  term: number;
  vv: VectorPairs;
}

export type CoreEvent =
  | RoleEventPassThrough
  | { type: 'address'; address: string }
  | { type: 'written'; tickets: readonly number[]; now: number }
  | { type: 'write-failed'; tickets: readonly number[]; reason: string; now: number }
  | { type: 'storage-ok'; now: number }
  | { type: 'stop'; now: number }
  // ---- standby side: the link to our coordinator ----
  /** The coordinator's welcome (network password done): time to say hello. */
  | { type: 'link-ready'; link: number }
  | { type: 'link-frame'; link: number; frame: ServerMessage; now: number }
  | { type: 'link-end'; link: number; end: LinkEnd; now: number }
  // ---- coordinator side ----
  | { type: 'peer-hello'; session: number; hello: Hello; now: number }
  | { type: 'peer-entries'; session: number; batch: Batch; now: number }
  | { type: 'peer-ack'; session: number; vv: VectorPairs; term?: number | undefined; now: number }
  | { type: 'login'; session: number; user: UserEntry; token: string | undefined; cursor: VectorPairs | undefined; now: number }
  | { type: 'send'; session: number; cid: string; to: readonly string[]; text: string; room?: string | undefined; now: number }
  /** A status set (issue #16): told to everyone online once stored. */
  | { type: 'status'; session: number; status: UserStatus; text: string; now: number }
  /** A room action (issue #16): answered with a `room` frame carrying `cid`, or an error. */
  | { type: 'room'; session: number; cid: string; action: RoomRequest; now: number }
  | { type: 'presence-get'; session: number }
  | { type: 'session-closed'; session: number; now: number }
  /** Entries made outside a session's send (a registration, a rehash): `appended` or `append-failed` follows. */
  | { type: 'append'; ticket: number; entries: readonly NewEntry[]; now: number };

type RoleEventPassThrough = Extract<RoleEvent, { type: 'tick' | 'candidates' | 'probed' | 'answer' | 'term-saved' | 'hint' }>;

export type Effect =
  /** Write these records durably, in order after earlier writes; `written` or `write-failed` follows. */
  | { type: 'write'; ticket: number; records: LogRecord[] }
  | { type: 'save-term'; term: number }
  | { type: 'probe'; probe: number; addresses: string[]; timeoutMs: number; from?: string }
  /** Open the standby link `link` to a coordinator (closing any other). */
  | { type: 'link-open'; link: number; address: string }
  | { type: 'link-close'; link: number }
  | { type: 'link-send'; link: number; frame: ClientMessage }
  /** One frame to these sessions (clients or standbys), serialised once. */
  | { type: 'send'; to: number[]; frame: ServerMessage }
  | { type: 'close'; session: number; code: number; reason: string }
  | { type: 'role'; info: RoleInfo }
  /**
   * The succession list changed: every session gets it, and it is remembered with `peers`, every replica this
   * node knows of (after a restart, compaction still waits for the ones that are away).
   */
  | { type: 'succession'; frame: Succession; peers: string[] }
  | { type: 'presence'; user: string; online: boolean; session: number }
  | { type: 'stored'; entry: MessageEntry }
  | { type: 'appended'; ticket: number; entries: Entry[] }
  | { type: 'append-failed'; ticket: number; code: ErrorCode }
  | { type: 'stopped' }
  | { type: 'log'; level: 'debug' | 'info' | 'warn' | 'error'; msg: string; data?: Record<string, unknown> };

/** What a pending write is for, once it is durable or has failed. */
type Write =
  | { kind: 'own'; records: LogRecord[]; keys: Set<string> }
  | { kind: 'peer'; records: LogRecord[]; session: number }
  | { kind: 'link'; records: LogRecord[]; link: number };

/**
 * One node's decision logic (DESIGN §4, §5), pure: the role machine, the
 * replica, the chat state, the standby book, the send pipeline and the
 * router, driven by events and answering with effects. `src/node/node.ts`
 * carries the effects out with sockets and files; the simulator (test/sim)
 * with a simulated clock, network and disk.
 */
export class NodeCore {
  readonly state: ChatState;
  readonly replica = new Replica();
  readonly role: RoleMachine;
  readonly #cfg: Required<Omit<NodeCoreConfig, 'timing'>> & { timing: CoreTiming };
  /** The latest time an event carried. */
  #now = 0;
  readonly #book = new StandbyBook();
  readonly #pipeline = new Pipeline();
  readonly #sessions = new Sessions();
  /** Relay sessions that are standby links: session → node id. */
  readonly #peers = new Map<number, string>();
  readonly #writes = new Map<number, Write>();
  #nextTicket = 1;
  #out: Effect[] = [];
  #origin = '';
  /** The standby link, when this node stands by (or is joining). */
  /** `told`: the highest term named to the coordinator in a `peer:ack`. */
  #link: { id: number; address: string; welcomed: boolean; told: number } | undefined;
  #nextLink = 1;
  #fenced = false;
  #accepting: 'yes' | 'no' | 'storage_full' = 'yes';
  #storageOk = true;
  #floorAt = 0;
  #lastFloor = '';
  /** Collects owed: user → ids delivered to them live or in a replay. */
  readonly #collects = new Map<string, Set<string>>();
  #succession: Succession | undefined;

  /** Replicas known from before a restart (what was remembered with the succession list). */
  readonly #knownPeers: Set<string>;

  constructor(config: NodeCoreConfig, persisted: { term: number; succession?: Succession; peers?: readonly string[] }, now: number) {
    this.#cfg = {
      resumeWindow: RESUME_WINDOW,
      maxTail: MAX_TAIL_ENTRIES,
      ...config,
      timing: { ackTimeoutMs: config.timing?.ackTimeoutMs ?? CORE_TIMING.ackTimeoutMs, floorEveryMs: config.timing?.floorEveryMs ?? CORE_TIMING.floorEveryMs },
    };
    this.#now = now;
    this.#knownPeers = new Set(persisted.peers ?? []);
    this.state = new ChatState({ historySize: config.historySize, resumeWindow: this.#cfg.resumeWindow });
    this.role = new RoleMachine(config.self, persisted, now, { ...(config.timing ? { timing: config.timing } : {}), position: () => size(this.replica.vector) });
    this.role.setAddress(config.address);
  }

  /**
   * Loads what the disk holds (before the first event): a snapshot, if any,
   * then the records written since, in order. Returns an error when they are
   * inconsistent (a lost segment, a snapshot that does not add up).
   */
  load(snapshot: { vv: VectorPairs; floor: VectorPairs; entries: Entry[] } | undefined, records: readonly LogRecord[]): string | undefined {
    if (snapshot) {
      const r = this.replica.loadSnapshot(fromPairs(snapshot.vv), fromPairs(snapshot.floor), snapshot.entries);
      if ('error' in r) return r.error;
      for (const e of r.entries) this.state.apply(e);
    }
    const entries = this.replica.durable(records);
    for (const e of entries) this.state.apply(e);
    this.state.takeDisplaced();
    this.replica.rollback();
    return undefined;
  }

  /** The last term this node coordinated in or stood by for: the saved term, and never below its own origins' terms. */
  static termFrom(saved: number, nodeId: string, vv: ReadonlyVersionVector): number {
    let t = saved;
    for (const origin of vv.keys()) t = Math.max(t, termOfOwnOrigin(origin, nodeId) ?? 0);
    return t;
  }

  get info(): RoleInfo {
    return this.role.info;
  }

  get term(): number {
    return this.role.term;
  }

  /** A later term than `info.term` heard of, if any (`/status`). */
  get highest(): number | undefined {
    return this.role.highest;
  }

  /** Entries held: a rank criterion (`/status`). */
  get position(): number {
    return size(this.replica.vector);
  }

  get online(): string[] {
    return this.#sessions.online;
  }

  get succession(): Succession | undefined {
    return this.#succession;
  }

  /** The standbys attached now (for tests and status). */
  /** The account a session is logged in as. */
  sessionUser(session: number): UserEntry | undefined {
    return this.#sessions.user(session);
  }

  /** Sessions of a user (any case). */
  sessionsOf(name: string): number[] {
    return this.#sessions.recipients({ kind: 'message', origin: '', seq: 0, id: '', cid: '', from: name, to: [name], text: '', ts: 0, pending: [] });
  }

  /** What a snapshot of this replica holds (the log store's compaction). */
  snapshot(): { vv: [string, number][]; floor: [string, number][]; entries: Entry[] } {
    return this.replica.snapshot(this.state.retained());
  }

  get standbys() {
    return this.#book.all;
  }

  /** Whether a message is on its way through the pipeline (sent, not yet acknowledged). */
  get inFlight(): number {
    return this.#pipeline.size;
  }

  /** Handles one event; returns what to do, in order. */
  step(ev: CoreEvent): Effect[] {
    this.#out = [];
    const now = (ev as { now?: number }).now;
    if (now !== undefined && now > this.#now) this.#now = now;
    this.#on(ev);
    this.#flushCollects(this.#now);
    return this.#out;
  }

  #on(ev: CoreEvent): void {
    switch (ev.type) {
      case 'tick':
        this.#role(ev);
        return this.#tick(ev.now);
      case 'candidates':
      case 'probed':
      case 'answer':
      case 'term-saved':
      case 'hint':
        return this.#role(ev);
      case 'address':
        this.#cfg.address = ev.address;
        this.role.setAddress(ev.address);
        if (this.role.coordinating) this.#publish(false);
        return;
      case 'written':
        for (const t of ev.tickets) this.#written(t, ev.now);
        return this.#release(ev.now);
      case 'write-failed':
        return this.#writeFailed(ev.tickets, ev.reason, ev.now);
      case 'storage-ok':
        if (this.#storageOk) return;
        this.#storageOk = true;
        this.#log('info', 'the log can be written again');
        return this.#role({ type: 'storage', ok: true, successor: undefined, now: ev.now });
      case 'stop':
        return this.#role({ type: 'stop', hasSuccessor: this.#book.successor !== undefined, now: ev.now });
      case 'link-ready':
        return this.#linkReady(ev.link);
      case 'link-frame':
        return this.#linkFrame(ev.link, ev.frame, ev.now);
      case 'link-end':
        if (this.#link?.id !== ev.link) return;
        this.#link = undefined;
        return this.#role({ type: 'link-end', end: ev.end, now: ev.now });
      case 'peer-hello':
        return this.#peerHello(ev.session, ev.hello, ev.now);
      case 'peer-entries':
        return this.#peerEntries(ev.session, ev.batch);
      case 'peer-ack':
        return this.#peerAck(ev.session, ev.vv, ev.term, ev.now);
      case 'login':
        return this.#login(ev.session, ev.user, ev.token, ev.cursor, ev.now);
      case 'send':
        return this.#send(ev.session, ev.cid, ev.to, ev.text, ev.now, ev.room);
      case 'room':
        return this.#roomAction(ev.session, ev.cid, ev.action, ev.now);
      case 'status': {
        const user = this.#sessions.user(ev.session);
        if (user === undefined || !this.role.coordinating || this.#accepting === 'no') return;
        if (this.#accepting === 'storage_full' || !this.#storageOk) return this.#emit({ type: 'send', to: [ev.session], frame: errorFrame('storage_full') });
        return void this.#writeOwn([{ kind: 'status', user: user.name, status: ev.status, text: ev.text, ts: this.state.stampTime(ev.now) }]);
      }
      case 'presence-get':
        return this.#emit({ type: 'send', to: [ev.session], frame: this.#presenceFrame() });
      case 'session-closed':
        return this.#sessionClosed(ev.session, ev.now);
      case 'append':
        return this.#append(ev.ticket, ev.entries);
    }
  }

  // ---- the role machine's actions ----

  #role(ev: RoleEvent): void {
    for (const a of this.role.step(ev)) this.#act(a, 'now' in ev ? ev.now : 0);
    // Heard of a later term than ours: standbys must know it, so that whoever succeeds us goes above it.
    if (this.role.coordinating && this.role.known > this.role.term && (this.#succession?.highest ?? 0) < this.role.known) this.#publish(false);
    // A standby that heard of a later term than its coordinator's tells it (which then tells the others).
    // (What it already knows: the list it sent us, not one of a coordinator before it.)
    const link = this.#link;
    const listed = this.#succession?.coordinator.address === link?.address ? Math.max(this.#succession?.highest ?? 0, this.#succession?.term ?? 0) : 0;
    if (!this.role.coordinating && link?.welcomed && this.role.known > link.told && this.role.known > listed) {
      link.told = this.role.known;
      this.#emit({ type: 'link-send', link: link.id, frame: { type: 'peer:ack', vv: toPairs(this.replica.vector), term: this.role.known } });
    }
  }

  #act(a: RoleAction, now: number): void {
    switch (a.type) {
      case 'probe':
      case 'save-term':
        return this.#emit(a);
      case 'role':
        return this.#emit({ type: 'role', info: a.info });
      case 'log':
        return this.#log(a.level, a.msg, a.data);
      case 'join':
        return this.#openLink(a.address);
      case 'lead':
        return this.#lead(a.term, a.succession, now);
      case 'new-term':
        this.#origin = originOf(this.#cfg.self.id, a.term);
        this.#log('info', 'coordinator: new term', { term: a.term });
        return this.#publish(false);
      case 'step-down':
        return this.#stepDown(a.to);
      case 'fence':
        this.#fenced = a.on;
        if (!a.on) this.#release(now);
        return;
      case 'accepting':
        this.#accepting = a.sends;
        return;
      case 'hand-off':
        return this.#publish(true, true);
      case 'stopped':
        this.#pipeline.drop();
        return this.#emit({ type: 'stopped' });
    }
  }

  #lead(term: number, succession: Succession | undefined, now: number): void {
    this.#closeLink();
    this.#origin = originOf(this.#cfg.self.id, term);
    this.#book.clear();
    this.#sessions.clear();
    this.#roomWrites = 0;
    this.#roomQueue.length = 0;
    this.#fenced = false;
    this.#accepting = 'yes';
    // Every replica we know of may lack what we hold: keep it for them until they come (compaction waits).
    const last = succession ?? this.role.succession;
    this.#book.remember(last ? this.#peerIds(last) : [...this.#knownPeers].filter((id) => id !== this.#cfg.self.id), this.replica.floor);
    this.#log('info', 'coordinator', { term });
    this.#publish(false);
    if (this.state.secret === undefined) this.#writeOwn([{ kind: 'secret', value: this.#cfg.newSecret(), created: now }]);
  }

  #stepDown(to: string | undefined): void {
    // Nothing in flight is acknowledged by us now: the senders resend to the winner, which has what we merge into it.
    this.#pipeline.drop();
    this.#roomAsks.clear(); // their sessions close: the clients ask again of the winner
    this.#roomWrites = 0;
    this.#roomQueue.length = 0;
    this.#book.clear();
    this.#sessions.clear();
    this.#peers.clear();
    this.#succession = undefined;
    if (to !== undefined) this.#openLink(to);
  }

  // ---- time ----

  #tick(now: number): void {
    if (!this.role.coordinating) return;
    const waiting = this.#pipeline.oldestWaiting;
    const successor = this.#book.successor;
    if (waiting && successor && now - waiting.since > this.#cfg.timing.ackTimeoutMs && !this.#book.successorHolds(waiting.entry.origin, waiting.entry.seq)) {
      this.#log('warn', `standby ${successor.id} did not acknowledge within ${this.#cfg.timing.ackTimeoutMs} ms: out of the succession list until it catches up`, { node: successor.id });
      this.#book.demote(successor.id, this.replica.vector);
      this.#successionChanged(now);
    }
    if (now - this.#floorAt >= this.#cfg.timing.floorEveryMs) {
      this.#floorAt = now;
      this.replica.release(this.#book.floor(this.replica.vector));
      this.replica.cap(this.#cfg.maxTail);
      const floor = toPairs(this.replica.floor);
      const key = JSON.stringify(floor);
      if (key !== this.#lastFloor) {
        this.#lastFloor = key;
        const to = this.#book.all.filter((s) => s.eligible).map((s) => this.#sessionOf(s.id)).filter((x): x is number => x !== undefined);
        if (to.length > 0) this.#emit({ type: 'send', to, frame: { type: 'peer:floor', vv: floor } });
      }
    }
  }

  // ---- writing ----

  /** Stamps entries of ours with this term's origin and writes them; they enter the pipeline. */
  #writeOwn(entries: readonly NewEntry[], ack?: Ack, ticket?: number): Entry[] | undefined {
    if (!this.#storageOk) return undefined;
    let seq = at(this.replica.accepted, this.#origin);
    // Object.assign, not `{ ...e, origin, seq }`: on Node 20 a spread that adds keys costs ~2.5 µs, ten times this.
    const stamped = entries.map((e) => Object.assign({}, e, { origin: this.#origin, seq: ++seq }) as Entry);
    const records = this.replica.accept({ entries: stamped, covers: [] });
    const keys = new Set(stamped.map(entryKey));
    for (const e of stamped) this.#pipeline.add(e, ack, ticket);
    this.#write({ kind: 'own', records, keys });
    return stamped;
  }

  #write(w: Write): void {
    if (w.records.length === 0) return;
    const ticket = this.#nextTicket++;
    this.#writes.set(ticket, w);
    this.#emit({ type: 'write', ticket, records: w.records });
  }

  #written(ticket: number, now: number): void {
    const w = this.#writes.get(ticket);
    if (w === undefined) return;
    this.#writes.delete(ticket);
    const knew = new Set<string>();
    for (const r of w.records) if (r.kind === 'message' && this.state.duplicateOf(r.from, r.cid)) knew.add(r.id);
    const entries = this.replica.durable(w.records);
    for (const e of entries) this.state.apply(e);
    this.#closeDisplaced();
    if (this.role.coordinating) this.#stream(w.records, w.kind === 'peer' ? w.session : undefined);
    else if (w.kind !== 'link' && this.#link?.welcomed) {
      // Written while we still coordinated, durable only now that we stand by: the coordinator lacks these.
      for (const frame of framesOf(w.records)) this.#emit({ type: 'link-send', link: this.#link.id, frame: frame as ClientMessage });
    }
    if (w.kind === 'own') this.#pipeline.durable(w.keys, now);
    if (this.role.coordinating) {
      // Messages merged in (from a dead coordinator's standby, the other side of a partition, or a write still
      // in flight from when we stood by) reach who is online; so do ours of an earlier term, durable only now
      // (their pipeline went when we stepped down: nothing else will deliver them).
      // One we are storing again ourselves (a resend) is delivered now too: its senders may see it twice (their
      // client drops the second), but nobody's cursor passes its place without it.
      // (Ours still in the pipeline, of an earlier origin after a term bump, are left to its release.)
      const merged = (e: Entry) => w.kind !== 'own' || (e.origin !== this.#origin && e.kind === 'message' && !this.#pipeline.holds(e.id));
      const fresh = (e: Entry): e is MessageEntry => e.kind === 'message' && merged(e) && (!knew.has(e.id) || this.#pipeline.holds(e.id));
      for (const m of entries.filter(fresh).sort(byTime)) this.#deliver(m);
    }
    if (this.role.coordinating) this.#deliverQueued();
    else this.state.takeQueued();
    if (w.kind === 'link' && this.#link?.id === w.link) {
      this.#emit({ type: 'link-send', link: w.link, frame: { type: 'peer:ack', vv: toPairs(this.replica.vector) } });
    }
    if (w.kind === 'own' && w.records.some(isRoomRecord)) this.#roomWritten();
  }

  #writeFailed(tickets: readonly number[], reason: string, now: number): void {
    this.#storageOk = false;
    this.replica.rollback();
    for (const t of tickets) {
      const w = this.#writes.get(t);
      if (w === undefined) continue;
      this.#writes.delete(t);
      if (w.kind === 'own') {
        if (w.records.some(isRoomRecord)) this.#roomWritten();
        for (const f of this.#pipeline.drop(w.keys)) {
          for (const a of f.acks) this.#emit({ type: 'send', to: [a.session], frame: errorFrame('storage_full', undefined, a.cid) });
          if (f.ticket !== undefined) this.#emit({ type: 'append-failed', ticket: f.ticket, code: 'storage_full' });
          const ask = this.#roomAsks.get(entryKey(f.entry));
          if (ask !== undefined) {
            this.#roomAsks.delete(entryKey(f.entry));
            this.#emit({ type: 'send', to: [ask.session], frame: errorFrame('storage_full', undefined, ask.cid) });
          }
        }
      } else if (w.kind === 'peer') {
        this.#emit({ type: 'close', session: w.session, code: 1011, reason: 'the coordinator cannot store entries now' });
      } else if (this.#link?.id === w.link) {
        this.#log('error', 'cannot store replicated entries; leaving the coordinator until the log can be written', { reason });
        this.#closeLink();
        this.#role({ type: 'link-end', end: { kind: 'refused', reason: `this node cannot write its log (${reason})` }, now });
      }
    }
    this.#role({ type: 'storage', ok: false, successor: this.role.coordinating ? this.#book.successor?.address : undefined, now });
  }

  /** Sends durable records to every eligible standby but the one they came from. */
  #stream(records: readonly LogRecord[], from: number | undefined): void {
    const to: number[] = [];
    for (const s of this.#book.all) {
      const session = this.#sessionOf(s.id);
      if (s.eligible && session !== undefined && session !== from) to.push(session);
    }
    if (to.length === 0) return;
    for (const frame of framesOf(records)) this.#emit({ type: 'send', to, frame });
  }

  // ---- the pipeline: commit → held by the successor → delivered in order → acknowledged ----

  /** Whether an entry may be acknowledged: the successor holds it, or there is none and we may stand alone. */
  #held = (e: Entry): boolean => {
    const s = this.#book.successorHolds(e.origin, e.seq);
    if (s !== undefined) return s;
    return !this.#fenced && this.#accepting !== 'no';
  };

  #release(now: number): void {
    if (!this.role.coordinating) return;
    const r = this.#pipeline.release(this.#held);
    const rooms = new Map<string, { room: string; changed: Entry[]; asks: Ack[] }>();
    for (const f of r.own) {
      if (f.entry.kind === 'message') {
        const m = f.entry;
        this.#deliver(m);
        for (const a of f.acks) this.#ackTo(a, m);
        this.#emit({ type: 'stored', entry: m });
      }
      if (f.entry.kind === 'status') {
        const to = [...this.#sessions.ids()];
        if (to.length > 0) this.#emit({ type: 'send', to, frame: { type: 'presence:status', user: f.entry.user, status: f.entry.status, text: f.entry.text } });
      }
      if (f.entry.kind === 'room' || f.entry.kind === 'member' || f.entry.kind === 'topic') {
        const key = userKey(f.entry.room);
        const change = rooms.get(key) ?? { room: f.entry.room, changed: [], asks: [] };
        rooms.set(key, change);
        change.changed.push(f.entry);
        const ask = this.#roomAsks.get(entryKey(f.entry));
        if (ask !== undefined) {
          this.#roomAsks.delete(entryKey(f.entry));
          change.asks.push(ask);
        }
      }
      if (f.ticket !== undefined) {
        const a = this.#appends.get(f.ticket);
        if (a !== undefined && --a.remaining === 0) {
          this.#appends.delete(f.ticket);
          this.#emit({ type: 'appended', ticket: f.ticket, entries: a.entries });
        }
      }
    }
    for (const w of r.acks) this.#ackTo(w.ack, w.entry);
    for (const c of rooms.values()) this.#roomFrames(c.room, c.changed, c.asks);
    if (this.#accepting === 'no' && this.#pipeline.size === 0) this.#role({ type: 'drained', now });
  }

  /** Appends on their way: done once their last entry is released. */
  readonly #appends = new Map<number, { entries: Entry[]; remaining: number }>();

  /**
   * Messages just queued for someone who is online (another copy of a message arrived, a merge brought one)
   * reach them now — clients drop what they have seen — so no queue keeps a message for a user who is here.
   * Ours still on their way are left to their release.
   */
  #deliverQueued(): void {
    for (const { user, message } of this.state.takeQueued()) {
      if (this.#pipeline.holds(message.id) || !this.#sessions.isOnline(user) || !this.state.hasPending(user, message.id)) continue;
      this.#emit({ type: 'send', to: this.#sessions.recipients({ ...message, from: user, to: [user] }), frame: chatFrame(message, false) });
      this.#collect(user, message.id);
    }
  }

  #ackTo(a: Ack, m: MessageEntry): void {
    this.#emit({ type: 'send', to: [a.session], frame: { type: 'chat:ack', id: a.cid, messageId: m.id, ts: m.ts } });
  }

  /** Sends a stored message to exactly its recipients' sessions (serialised once); those it was kept for are collected. */
  #deliver(m: MessageEntry): void {
    const to = this.#sessions.recipients(m);
    if (to.length > 0) this.#emit({ type: 'send', to, frame: chatFrame(m, false) });
    // Kept for someone by this copy or another (a resend stored twice): whoever is here has it now.
    for (const name of new Set([...m.pending, ...m.to])) if (this.#sessions.isOnline(name) && this.state.hasPending(name, m.id)) this.#collect(name, m.id);
  }

  #send(session: number, cid: string, toNames: readonly string[], text: string, now: number, room?: string): void {
    const user = this.#sessions.user(session);
    if (user === undefined || !this.role.coordinating) return;
    if (room !== undefined && this.#roomWrites > 0) return this.#waitForRooms(session, cid, () => this.#send(session, cid, toNames, text, now, room));
    const ack = { session, cid };
    if (this.#accepting === 'no') return; // leaving: the client resends to the successor
    if (this.#accepting === 'storage_full' || !this.#storageOk) return this.#emit({ type: 'send', to: [session], frame: errorFrame('storage_full', undefined, cid) });
    const to = new Map<string, string>();
    let roomName: string | undefined;
    if (room !== undefined) {
      // To a room: its members as they are now (the sender among them); nobody else, whatever `to` says.
      const r = this.state.rooms.room(room);
      const refusal = toNames.length > 0 ? 'a message goes to a room or to users, not both' : r === undefined ? `there is no room called ${room}` : !this.state.rooms.isMember(room, user.name) ? `you are not in ${r.name}: join it first` : undefined;
      if (refusal !== undefined) {
        const code: ErrorCode = toNames.length > 0 ? 'invalid_message' : r === undefined ? 'room_not_found' : 'room_forbidden';
        if (this.state.duplicateOf(user.name, cid) === undefined) return this.#emit({ type: 'send', to: [session], frame: errorFrame(code, refusal, cid) });
      } else {
        roomName = r!.name;
        for (const name of r!.members) to.set(userKey(name), name);
      }
    }
    for (const name of toNames) {
      const u = this.state.user(name);
      if (u === undefined) return this.#emit({ type: 'send', to: [session], frame: errorFrame('unknown_recipient', `no such user: ${name}`, cid) });
      to.set(userKey(u.name), u.name);
    }
    const earlier = this.state.duplicateOf(user.name, cid);
    if (earlier) {
      // A resend: acknowledge again, store and deliver nothing — once two nodes hold it (DESIGN §5).
      if (this.#held(earlier) && !this.#pipeline.holds(earlier.id)) return this.#ackTo(ack, earlier);
      const inflight = this.#pipeline.inFlight(user.name, cid);
      if (inflight) return void inflight.acks.push(ack);
      return this.#pipeline.wait(earlier, ack, now);
    }
    const inflight = this.#pipeline.inFlight(user.name, cid);
    if (inflight) return void inflight.acks.push(ack);
    const names = [...to.values()];
    const pending = names.filter((n) => userKey(n) !== userKey(user.name) && !this.#sessions.isOnline(n));
    this.#writeOwn([{ kind: 'message', id: messageId(user.name, cid), cid, from: user.name, to: names, text, ts: this.state.stampTime(now), pending, ...(roomName === undefined ? {} : { room: roomName }) }], ack);
  }

  /** A room action: decided against the state as it is, stored, and answered once released (DESIGN §5.10). */
  #roomAction(session: number, cid: string, action: RoomRequest, now: number): void {
    const user = this.#sessions.user(session);
    if (user === undefined || !this.role.coordinating) return;
    if (this.#roomWrites > 0) return this.#waitForRooms(session, cid, () => this.#roomAction(session, cid, action, now));
    if (this.#accepting === 'no') return this.#emit({ type: 'send', to: [session], frame: errorFrame('disconnected', 'the coordinator is handing over: try again in a moment', cid) });
    if (this.#accepting === 'storage_full' || !this.#storageOk) return this.#emit({ type: 'send', to: [session], frame: errorFrame('storage_full', undefined, cid) });
    const d = this.state.rooms.decide({ ...action, user: user.name } as RoomAction, { ts: this.state.stampTime(now), registered: (name) => this.state.user(name)?.name });
    if (!d.ok) return this.#emit({ type: 'send', to: [session], frame: errorFrame(d.code, d.message, cid) });
    if (d.entries.length === 0) return this.#roomFrames(action.room, [], [{ session, cid }]);
    const stamped = this.#writeOwn(d.entries);
    if (stamped === undefined) return;
    this.#roomAsks.set(entryKey(stamped.at(-1)!), { session, cid });
    this.#roomWrites++;
  }

  /**
   * Room writes of ours not yet durable (so not yet in the state): the next room decision, and the next room
   * message (whose recipients are the members), wait for them, or two creations of one name would both pass,
   * limits be passed, and a message go to one just removed. They wait in order, a write's time at most.
   */
  #roomWrites = 0;
  readonly #roomQueue: { session: number; run: () => void }[] = [];

  #waitForRooms(session: number, cid: string, run: () => void): void {
    if (this.#roomQueue.length >= MAX_ROOM_QUEUE) return this.#emit({ type: 'send', to: [session], frame: errorFrame('rate_limited', 'too many room requests at once; try again', cid) });
    this.#roomQueue.push({ session, run });
  }

  /** A room write of ours is durable (or failed): what waited for it goes on, until one waits again. */
  #roomWritten(): void {
    this.#roomWrites = Math.max(0, this.#roomWrites - 1);
    while (this.#roomWrites === 0 && this.#roomQueue.length > 0) this.#roomQueue.shift()!.run();
  }

  /** The online list, with the status of those online who set one (other than plain online). */
  #presenceFrame(): ServerMessage {
    const online = this.#sessions.online;
    const status: Record<string, { status: UserStatus; text: string }> = {};
    for (const name of online) {
      const st = shownStatus(this.state.statusOf(name));
      if (st !== undefined) status[name] = st;
    }
    return Object.keys(status).length > 0 ? { type: 'presence', online, status } : { type: 'presence', online };
  }

  /** The `room` frame of room `name` as it is now. */
  #roomFrame(name: string, member: boolean, id?: string): ServerMessage | undefined {
    const view = this.state.rooms.room(name);
    if (view === undefined) return undefined;
    return { type: 'room', room: view.name, private: view.private, creator: view.creator, topic: view.topic, members: view.members, ops: view.ops, member, ...(id === undefined ? {} : { id }) };
  }

  /** Room actions waiting for their last entry's release, by entry key: who asked. */
  readonly #roomAsks = new Map<string, Ack>();

  /**
   * A room's members or topic changed (entries released), or someone asked: its view to every member online,
   * to those who just left it or were removed (`member: false`), and to who asked (with their request's id);
   * an invitation to the invited. Each session gets one frame.
   */
  #roomFrames(room: string, changed: readonly Entry[], asks: readonly Ack[]): void {
    const view = this.state.rooms.room(room);
    if (view === undefined) return;
    const frame = (member: boolean, id?: string): ServerMessage => this.#roomFrame(view.name, member, id)!;
    const asked = new Set(asks.map((a) => a.session));
    for (const a of asks) this.#emit({ type: 'send', to: [a.session], frame: frame(this.state.rooms.isMember(room, this.#sessions.user(a.session)?.name ?? ''), a.cid) });
    if (changed.length === 0) return;
    const sessionsOf = (names: Iterable<string>) => [...new Set([...names].flatMap((n) => this.#sessions.ofUser(n)))].filter((s) => !asked.has(s));
    const members = sessionsOf(view.members);
    if (members.length > 0) this.#emit({ type: 'send', to: members, frame: frame(true) });
    const gone = sessionsOf(changed.flatMap((e) => (e.kind === 'member' && (e.state === 'left' || e.state === 'removed') ? [e.user] : [])));
    if (gone.length > 0) this.#emit({ type: 'send', to: gone, frame: frame(false) });
    // One who joined gets the room's recent history (the same window as broadcasts), as a replay.
    for (const e of changed) {
      if (e.kind !== 'member' || e.state !== 'member' || userKey(e.by) !== userKey(e.user) || !this.state.rooms.isMember(room, e.user)) continue;
      const to = this.#sessions.ofUser(e.user);
      const history = this.state.roomHistory(room).filter((m) => !this.#pipeline.holds(m.id));
      if (to.length > 0) for (const m of history) this.#emit({ type: 'send', to, frame: chatFrame(m, true) });
    }
    for (const e of changed) {
      if (e.kind !== 'member' || e.state !== 'invited' || this.state.rooms.membership(room, e.user) !== 'invited') continue;
      const to = this.#sessions.ofUser(e.user);
      if (to.length > 0) this.#emit({ type: 'send', to, frame: { type: 'room:invited', room: view.name, by: e.by } });
    }
  }

  #append(ticket: number, entries: readonly NewEntry[]): void {
    if (!this.#storageOk || this.#accepting === 'storage_full') return this.#emit({ type: 'append-failed', ticket, code: 'storage_full' });
    if (!this.role.coordinating || this.#accepting === 'no') return this.#emit({ type: 'append-failed', ticket, code: 'disconnected' });
    const stamped = this.#writeOwn(entries, undefined, ticket)!;
    this.#appends.set(ticket, { entries: stamped, remaining: stamped.length });
  }

  // ---- sessions ----

  #login(session: number, user: UserEntry, token: string | undefined, cursor: VectorPairs | undefined, now: number): void {
    if (!this.role.coordinating || this.#fenced) {
      // Not now: a fenced coordinator may have been replaced while it was frozen; it knows within a probe.
      this.#emit({ type: 'send', to: [session], frame: { type: 'redirect', coordinator: null, term: this.role.term } });
      return this.#emit({ type: 'close', session, code: 4001, reason: 'not the coordinator now' });
    }
    const holder = this.state.user(user.name);
    if (holder === undefined || accountOf(holder) !== accountOf(user)) {
      this.#emit({ type: 'send', to: [session], frame: errorFrame('username_taken', lostName(user.name)) });
      return this.#emit({ type: 'close', session, code: 1008, reason: 'account lost its name' });
    }
    const name = holder.name;
    this.#emit({ type: 'send', to: [session], frame: { type: 'auth:ok', user: name, ...(token === undefined ? {} : { token }) } });
    if (this.#succession) this.#emit({ type: 'send', to: [session], frame: { type: 'succession', ...this.#succession } });
    // Their rooms and open invitations first, so the replay's room messages land in rooms the client knows.
    for (const room of this.state.rooms.roomsOf(name)) this.#emit({ type: 'send', to: [session], frame: this.#roomFrame(room, true)! });
    for (const inv of this.state.rooms.invitationsOf(name)) this.#emit({ type: 'send', to: [session], frame: { type: 'room:invited', room: inv.room, by: inv.by } });
    // Replay and joining happen in one step: every message released before is in the replay, every later one
    // is live (the cursor stops below the first of ours still on its way). A message we are storing again (a
    // resend) that another node stored already is sent now as that copy: the cursor passes its place.
    const stored = (m: MessageEntry) => (this.#pipeline.holds(m.id) ? this.#deliverable(m.id) : m);
    const unreleased = (m: MessageEntry) => stored(m) === undefined;
    let replay: MessageEntry[];
    let gap = false;
    if (cursor !== undefined) {
      const r = this.state.resumeFor(name, fromPairs(cursor), unreleased);
      replay = r.missed;
      gap = r.gap;
    } else {
      const r = this.state.replayFor(name);
      replay = [...r.history, ...r.offline].filter((m) => !unreleased(m));
      gap = r.gap;
    }
    replay = replay.map((m) => stored(m)!);
    if (cursor !== undefined) replay.sort(byTime); // one time-ordered list, and another copy may stand elsewhere in time
    for (const m of replay) this.#emit({ type: 'send', to: [session], frame: chatFrame(m, true) });
    const collected = replay.filter((m) => this.state.hasPending(name, m.id)).map((m) => m.id);
    for (const id of collected) this.#collect(name, id);
    this.#emit({ type: 'send', to: [session], frame: { type: 'history:end', count: replay.length, cursor: this.#cursor(), ...(gap ? { gap: true } : {}) } });
    const first = this.#sessions.add(session, holder);
    this.#emit({ type: 'send', to: [session], frame: this.#presenceFrame() });
    if (first) {
      this.#emit({ type: 'presence', user: name, online: true, session });
      const others = [...this.#sessions.ids()].filter((id) => id !== session);
      const st = shownStatus(this.state.statusOf(name));
      const status = st === undefined ? {} : { status: st };
      if (others.length > 0) this.#emit({ type: 'send', to: others, frame: { type: 'presence:joined', user: name, ...status } });
    }
    void now;
  }

  /** What a session that has had every released message may resume from: the vector, less what is still on its way. */
  #cursor(): [string, number][] {
    const vv = new Map(this.replica.vector);
    for (const origin of vv.keys()) {
      const first = this.#pipeline.firstPending(origin);
      if (first !== undefined) vv.set(origin, first - 1);
    }
    return toPairs(vv);
  }

  /** A copy of message `id` stored here that is not ours on its way (another node stored it too), if any. */
  #deliverable(id: string): MessageEntry | undefined {
    return this.state.copiesOf(id).find((c) => c.origin !== this.#origin);
  }

  #sessionClosed(session: number, now: number): void {
    const peer = this.#peers.get(session);
    if (peer !== undefined) {
      this.#peers.delete(session);
      if (this.#book.get(peer) && this.#sessionOf(peer) === undefined) {
        const changed = this.#book.detach(peer);
        this.#log('info', 'standby left', { node: peer });
        if (changed) this.#successionChanged(now);
      }
      return;
    }
    this.#pipeline.forgetSession(session);
    for (const [k, a] of this.#roomAsks) if (a.session === session) this.#roomAsks.delete(k);
    const gone = this.#sessions.remove(session);
    if (gone === undefined) return;
    this.#emit({ type: 'presence', user: gone.name, online: false, session });
    const others = [...this.#sessions.ids()];
    if (others.length > 0 && this.role.coordinating) this.#emit({ type: 'send', to: others, frame: { type: 'presence:left', user: gone.name } });
  }

  /** Accounts that just lost their name to an earlier registration lose their sessions too (DESIGN §5). */
  #closeDisplaced(): void {
    for (const lost of this.state.takeDisplaced()) {
      for (const session of this.#sessions.ofAccount(lost)) {
        this.#emit({ type: 'send', to: [session], frame: errorFrame('username_taken', lostName(lost.name)) });
        this.#emit({ type: 'close', session, code: 4004, reason: 'account lost its name' });
        this.#sessionClosed(session, 0);
      }
    }
  }

  #collect(name: string, id: string): void {
    const key = userKey(name);
    let set = this.#collects.get(key);
    if (set === undefined) this.#collects.set(key, (set = new Set()));
    set.add(id);
  }

  /** One collect entry per user for what they were delivered in this step (so each is delivered once, DESIGN §5). */
  #flushCollects(now: number): void {
    if (this.#collects.size === 0) return;
    const entries: NewEntry[] = [];
    for (const [key, ids] of this.#collects) entries.push({ kind: 'collect', user: this.state.user(key)?.name ?? key, upTo: [...ids], ts: now });
    this.#collects.clear();
    if (this.role.coordinating && this.#accepting !== 'storage_full') this.#writeOwn(entries);
  }

  // ---- coordinator side of replication ----

  #peerHello(session: number, hello: Hello, now: number): void {
    if (!this.role.coordinating) return this.#emit({ type: 'close', session, code: 4001, reason: 'not the coordinator any more' });
    const old = this.#sessionOf(hello.id);
    if (old !== undefined && old !== session) {
      this.#peers.delete(old);
      this.#emit({ type: 'close', session: old, code: 4002, reason: 'replaced by a newer connection of the same node' });
    }
    this.#peers.set(session, hello.id);
    const theirs = fromPairs(hello.vv);
    // A node that comes back (it restarted, or its old link hung) replaces its entry: what it held before
    // is no longer known, so it leaves the succession list until it catches up. If it was the successor,
    // what waited on it is not acknowledged alone before the fence check (another may have taken over).
    const wasListed = this.#book.get(hello.id)?.inSync === true;
    this.#book.attach(hello, theirs, this.replica.vector);
    this.#log('info', 'standby joined', { node: hello.id, address: hello.address, eligible: hello.eligible });
    if (wasListed) this.#successionChanged(now);
    this.#emit({ type: 'send', to: [session], frame: { type: 'peer:welcome', term: this.role.term, vv: toPairs(this.replica.vector) } });
    if (hello.eligible) {
      // Everything it lacks, whatever the chat's window (DESIGN §5); then every new entry as it is durable.
      for (const b of this.replica.lacking(theirs, () => this.state.retained())) this.#emit({ type: 'send', to: [session], frame: batchFrame(b) });
    }
    if (this.#succession) this.#emit({ type: 'send', to: [session], frame: { type: 'succession', ...this.#succession } });
    this.#role({ type: 'peer-term', term: hello.term, now });
  }

  #peerEntries(session: number, batch: Batch): void {
    if (!this.#peers.has(session) || !this.role.coordinating) return;
    if (!this.#storageOk) return this.#emit({ type: 'close', session, code: 1011, reason: 'the coordinator cannot store entries now' });
    const records = this.replica.accept(batch);
    if (records.length < batch.entries.length + batch.covers.length) this.#log('debug', 'entries from a standby left out (held already, or past a hole)', { got: batch.entries.length, kept: records.length });
    this.#write({ kind: 'peer', records, session });
  }

  #peerAck(session: number, vv: VectorPairs, term: number | undefined, now: number): void {
    const id = this.#peers.get(session);
    if (id === undefined) return;
    if (term !== undefined) this.#role({ type: 'peer-term', term, now });
    if (this.#book.ack(id, fromPairs(vv))) this.#successionChanged(now);
    this.#release(now);
  }

  #successionChanged(now: number): void {
    this.#publish(false);
    if (this.#book.successor === undefined && this.role.coordinating) this.#role({ type: 'successor-lost', now });
    this.#release(now);
  }

  #publish(leaving: boolean, handingOff = false): void {
    // While a later term is being saved the list still names the current one, and as `highest` the later:
    // standbys know it at once (one that takes over must not reuse it).
    if (!handingOff && (!this.role.coordinating || this.role.leaving)) return;
    const frame: Succession = {
      term: this.role.term,
      coordinator: { id: this.#cfg.self.id, address: this.#cfg.address },
      standbys: this.#book.succession.map((s) => ({ id: s.id, address: s.address })),
      ...(leaving ? { leaving: true } : {}),
      ...(this.role.known > this.role.term ? { highest: this.role.known } : {}),
    };
    this.#succession = frame;
    this.role.published(frame);
    this.#emit({ type: 'succession', frame, peers: this.#peerIds(frame) });
  }

  /** Every replica known: the succession list's, the attached and departed standbys', and those remembered. */
  #peerIds(s: Succession): string[] {
    const ids = new Set(this.#knownPeers);
    for (const e of [s.coordinator, ...s.standbys]) ids.add(e.id);
    for (const id of this.#book.known()) ids.add(id);
    ids.delete(this.#cfg.self.id);
    for (const id of ids) this.#knownPeers.add(id);
    return [...ids].sort();
  }

  #sessionOf(nodeId: string): number | undefined {
    for (const [session, id] of this.#peers) if (id === nodeId) return session;
    return undefined;
  }

  // ---- standby side ----

  #openLink(address: string): void {
    this.#closeLink();
    if (address === this.#cfg.address) {
      // Told that we coordinate (a redirect from a node that stepped down to us): we do not, yet.
      this.#role({ type: 'link-end', end: { kind: 'redirect', coordinator: null, term: this.role.term }, now: this.#now });
      return;
    }
    const id = this.#nextLink++;
    this.#link = { id, address, welcomed: false, told: 0 };
    this.#emit({ type: 'link-open', link: id, address });
  }

  #closeLink(): void {
    if (this.#link === undefined) return;
    this.#emit({ type: 'link-close', link: this.#link.id });
    this.#link = undefined;
  }

  #linkReady(link: number): void {
    if (this.#link?.id !== link) return;
    const s = this.#cfg.self;
    this.#emit({
      type: 'link-send',
      link,
      frame: {
        type: 'peer:hello',
        id: s.id,
        network: s.network,
        port: portOf(this.#cfg.address),
        priority: s.priority,
        eligible: s.eligible,
        term: this.role.term,
        vv: toPairs(this.replica.vector),
      },
    });
  }

  #linkFrame(link: number, frame: ServerMessage, now: number): void {
    const l = this.#link;
    if (l?.id !== link) return;
    switch (frame.type) {
      case 'peer:welcome': {
        l.welcomed = true;
        // Upload what the coordinator lacks: after a failover or a partition we may hold entries it never saw.
        if (this.#cfg.self.eligible) {
          const upload = this.replica.lacking(fromPairs(frame.vv), () => this.state.retained());
          if (upload.length > 0) this.#log('info', 'uploading what the coordinator lacks', { entries: upload.reduce((n, b) => n + b.entries.length, 0) });
          for (const b of upload) {
            this.#emit({ type: 'link-send', link, frame: { type: 'peer:entries', entries: b.entries, ...(b.covers.length > 0 ? { covers: b.covers } : {}) } });
          }
        }
        this.#emit({ type: 'link-send', link, frame: { type: 'peer:ack', vv: toPairs(this.replica.vector) } });
        return this.#role({ type: 'link-up', term: frame.term, now });
      }
      case 'peer:entries':
        if (!l.welcomed || !this.#cfg.self.eligible) return; // observers hold no replica
        if (!this.#storageOk) {
          // We cannot hold what we are sent: stand by again once the log can be written (and catch up then).
          this.#closeLink();
          return this.#role({ type: 'link-end', end: { kind: 'refused', reason: 'this node cannot write its log' }, now });
        }
        return this.#write({ kind: 'link', records: this.replica.accept({ entries: frame.entries, covers: frame.covers ?? [] }), link });
      case 'peer:floor':
        if (!l.welcomed) return;
        this.replica.release(meet(fromPairs(frame.vv), this.replica.vector));
        this.replica.cap(this.#cfg.maxTail);
        return;
      case 'succession':
        if (!l.welcomed) return;
        this.#succession = frame;
        this.#emit({ type: 'succession', frame, peers: this.#peerIds(frame) }); // remembered, for a restart that finds nobody by mDNS
        this.#role({ type: 'link-succession', succession: frame });
        if (frame.leaving) {
          // A clean hand-off: take over (or follow) now.
          this.#link = undefined;
          this.#emit({ type: 'link-close', link });
          this.#role({ type: 'link-end', end: { kind: 'lost', succession: frame }, now });
        }
        return;
      case 'redirect':
        this.#link = undefined;
        this.#emit({ type: 'link-close', link });
        return this.#role({ type: 'link-end', end: { kind: 'redirect', coordinator: frame.coordinator, term: frame.term }, now });
      case 'error':
        if (['network_password', 'node_password', 'not_admitted', 'invalid_message'].includes(frame.code)) {
          this.#link = undefined;
          this.#emit({ type: 'link-close', link });
          this.#role({ type: 'link-end', end: { kind: 'refused', reason: frame.message }, now });
        }
        return;
      default:
        return;
    }
  }

  // ---- output ----

  #emit(e: Effect): void {
    this.#out.push(e);
  }

  #log(level: 'debug' | 'info' | 'warn' | 'error', msg: string, data?: Record<string, unknown>): void {
    this.#out.push({ type: 'log', level, msg, ...(data ? { data } : {}) });
  }

}

/** A chat message as delivered, with its place in the log (a resuming client's cursor). */
/** A status as others are shown it: none for plain online with no text. */
function shownStatus(st: StatusEntry | undefined): { status: UserStatus; text: string } | undefined {
  return st === undefined || (st.status === 'online' && st.text === '') ? undefined : { status: st.status, text: st.text };
}

/** Room requests and room messages that may wait for a room write at once (per coordinator). */
const MAX_ROOM_QUEUE = 1_000;

function isRoomRecord(r: LogRecord): boolean {
  return r.kind === 'room' || r.kind === 'member' || r.kind === 'topic';
}

export function chatFrame(m: MessageEntry, replay: boolean): ServerMessage {
  const frame: ServerMessage = { type: 'chat:message', id: m.id, from: m.from, to: m.to, text: m.text, ts: m.ts, at: [m.origin, m.seq] };
  if (replay) frame.replay = true;
  if (m.room !== undefined) frame.room = m.room;
  return frame;
}

function batchFrame(b: Batch): ServerMessage {
  return { type: 'peer:entries', entries: b.entries, ...(b.covers.length > 0 ? { covers: b.covers } : {}) };
}

/** Durable records as `peer:entries` frames: a batch with covers stays whole (it came as one frame). */
function framesOf(records: readonly LogRecord[]): ServerMessage[] {
  const entries = records.filter((r): r is Entry => r.kind !== 'cover');
  const covers = records.filter((r): r is Cover => r.kind === 'cover');
  if (covers.length > 0) return [batchFrame({ entries, covers })];
  const frames: ServerMessage[] = [];
  for (const part of splitEntries(entries)) frames.push(batchFrame({ entries: part, covers: [] }));
  return frames;
}

function lostName(name: string): string {
  return `"${name}" was registered elsewhere first while the network was split; your account lost the name: register another`;
}

function portOf(address: string): number {
  return Number(/:(\d+)$/.exec(address)?.[1] ?? 0) || 1;
}
