import { NodeCore, type CoreEvent, type Effect } from '../../src/core/node-core.js';
import type { RoleInfo, Succession } from '../../src/core/role.js';
import type { Status } from '../../src/protocol/status.js';
import type { Entry, LogRecord, UserEntry } from '../../src/protocol/entries.js';
import { accountOf } from '../../src/protocol/entries.js';
import { errorFrame, type ServerMessage } from '../../src/protocol/messages.js';
import { covers } from '../../src/core/version-vector.js';
import type { Conn, Host, World } from './world.js';

/** Set SIM_DEBUG=1 to see what the nodes say. */
const DEBUG = process.env.SIM_DEBUG === '1';

/** The real relay pings every second and drops a session silent for 3 s (DESIGN §6). */
const SESSION_DEAD_MS = 3_000;
/** A standby presumes its coordinator dead after this much silence (DESIGN §4.4). */
export const LINK_SILENCE_MS = 1_000;
/** A standby link that has no welcome by then is given up (the real one: the WebSocket handshake timeout). */
const LINK_CONNECT_MS = 1_000;
/** The simulated driver ticks this often (the real one: every 50 ms). */
export const TICK_MS = 100;
/** A store that failed is retried this often. */
const STORAGE_RETRY_MS = 1_000;
/** Connection refused: how long a failed connect takes on a LAN. */
const REFUSED_MS = 1;

export interface NodeKnobs {
  /** Milliseconds an fsync takes. */
  fsyncMs: [number, number];
  /** `/status` answers come this late. */
  statusDelayMs: number;
  /** Writes fail (ENOSPC). */
  diskFull: boolean;
  /** A standby that answers pings but never acknowledges. */
  mute: boolean;
}

/** The oracle hooks: what the checker wants to know as it happens. */
export interface Observer {
  role(node: SimNode, info: RoleInfo): void;
  /** `node` took `term` although it could know that `holder` held it. */
  termClash(node: SimNode, term: number, holder: string): void;
  acked(node: SimNode, session: number, frame: Extract<ServerMessage, { type: 'chat:ack' }>): void;
  stored(node: SimNode, entry: Extract<Entry, { kind: 'message' }>): void;
}

interface RelaySession {
  id: number;
  conn: Conn;
  kind: 'new' | 'user' | 'peer';
}

/** The simulated disk of a node: what survives its process. */
class Disk {
  snapshot: { vv: [string, number][]; floor: [string, number][]; entries: Entry[] } | undefined;
  records: LogRecord[] = [];
  /** Written, not yet fsynced: lost in a power cut, maybe in a kill -9. */
  pending: { ticket: number; records: LogRecord[] }[] = [];
  lastDue = 0;
  term = 0;
  succession: Succession | undefined;
  peers: string[] = [];
  /** Keys of the entries durable in `records` (what a crashed node's disk still holds, for the checker). */
  keys = new Set<string>();

  append(records: readonly LogRecord[]): void {
    for (const r of records) {
      this.records.push(r);
      if (r.kind !== 'cover') this.keys.add(`${r.origin}#${r.seq}`);
    }
  }

  holds(origin: string, seq: number): boolean {
    const snap = this.snapshot?.vv.find(([o]) => o === origin)?.[1] ?? 0;
    return seq <= snap || this.keys.has(`${origin}#${seq}`);
  }
}

/**
 * One simulated lanchat node: the real `NodeCore`, driven the way
 * `src/node/node.ts` drives it, over the simulated network and disk.
 */
export class SimNode {
  readonly host: Host;
  readonly address: string;
  readonly disk = new Disk();
  readonly knobs: NodeKnobs = { fsyncMs: [1, 4], statusDelayMs: 0, diskFull: false, mute: false };
  core: NodeCore | undefined;
  /**
   * Ghost knowledge (checker only, never seen by the core): term → the node that coordinated in it, as far as
   * anything this node heard from other nodes could tell it. Kept across restarts: conservative.
   */
  readonly ghost = new Map<number, string>();
  /** Processes started (restarts count). */
  lives = 0;
  readonly #world: World;
  readonly #sim: SimNetwork;
  readonly #cfg: { historySize: number; resumeWindow?: number; segmentRecords: number; priority: number; join?: string[] };
  readonly #sessions = new Map<number, RelaySession>();
  #nextSession = 1;
  readonly #links = new Map<number, { conn: Conn; welcomed: boolean }>();
  #storageFailed = false;
  #termAtStart = 0;
  #highestTerm = 0;

  constructor(world: World, sim: SimNetwork, name: string, cfg: { historySize: number; resumeWindow?: number; segmentRecords: number; priority: number; join?: string[] }) {
    this.#world = world;
    this.#sim = sim;
    this.host = world.host(name);
    this.host.up = false;
    this.address = `${name}:7777`;
    this.#cfg = cfg;
  }

  get name(): string {
    return this.host.name;
  }

  get id(): string {
    return this.#sim.idOf(this.name);
  }

  /** The highest term this node's process ever reported (for the never-backwards check). */
  get highestTerm(): number {
    return this.#highestTerm;
  }

  // ---- process lifecycle ----

  start(): void {
    if (this.host.up) return;
    const w = this.#world;
    this.host.up = true;
    this.host.frozen = false;
    this.host.life++;
    this.lives++;
    this.#sessions.clear();
    this.#links.clear();
    this.#storageFailed = false;
    const term = NodeCore.termFrom(this.disk.term, this.id, new Map(this.disk.snapshot?.vv ?? []));
    if (DEBUG) console.log(`${(w.now / 1000).toFixed(3)} ${this.name} starts: term ${term}, succession ${JSON.stringify(this.disk.succession)}`);
    const core = new NodeCore(
      {
        self: { id: this.id, network: 'default', priority: this.#cfg.priority, eligible: true },
        address: this.address,
        historySize: this.#cfg.historySize,
        ...(this.#cfg.resumeWindow === undefined ? {} : { resumeWindow: this.#cfg.resumeWindow }),
        newSecret: () => Buffer.from(w.rng.hex(32), 'hex').toString('base64'),
      },
      { term, peers: this.disk.peers, ...(this.disk.succession ? { succession: this.disk.succession } : {}) },
      w.now,
    );
    const error = core.load(this.disk.snapshot, this.disk.records);
    if (error !== undefined) throw new Error(`${this.name}: the disk does not load: ${error}`);
    this.#termAtStart = NodeCore.termFrom(this.disk.term, this.id, core.replica.vector);
    if (DEBUG) console.log(`${(w.now / 1000).toFixed(3)} ${this.name} loaded ${JSON.stringify([...core.replica.vector])} from ${this.disk.records.length} records`);
    if (this.#termAtStart < this.#highestSaved()) throw new Error(`${this.name}: restarted at term ${this.#termAtStart}, below the term ${this.#highestSaved()} it saved`);
    this.core = core;
    // Zero-config: everyone (mDNS); locked down: the first node knows nobody, the others `--join` it.
    const candidates = this.#cfg.join ?? this.#sim.addresses().filter((a) => a !== this.address);
    this.#step({ type: 'candidates', addresses: candidates });
    const phase = w.rng.int(0, TICK_MS - 1);
    w.later(this.host, phase, () => this.#tick());
  }

  #highestSaved(): number {
    return this.disk.term;
  }

  /** kill -9 (or a power cut: unsynced writes are lost too; with kill -9 the page cache keeps a prefix of them). */
  crash(power: boolean): void {
    if (!this.host.up) return;
    this.host.up = false;
    this.host.frozen = false;
    this.host.backlog.length = 0;
    this.host.life++;
    const keep = power ? 0 : this.#world.rng.int(0, this.disk.pending.length);
    for (const p of this.disk.pending.slice(0, keep)) this.disk.append(p.records);
    this.disk.pending = [];
    this.disk.lastDue = 0;
    this.core = undefined;
    // What it heard of and had not saved is forgotten with the process (a term it saved, it elects above).
    for (const term of [...this.ghost.keys()]) if (term > this.disk.term && this.ghost.get(term) !== this.id) this.ghost.delete(term);
    for (const s of this.#sessions.values()) s.conn.close(1);
    for (const l of this.#links.values()) l.conn.close(0);
    this.#sessions.clear();
    this.#links.clear();
  }

  /** SIGTERM: the core hands off, then the process exits. */
  stop(): void {
    if (!this.host.up || this.host.frozen || !this.core) return;
    this.#step({ type: 'stop', now: this.#world.now });
  }

  // ---- the driver loop ----

  #tick(): void {
    const core = this.core;
    if (!core) return;
    const now = this.#world.now;
    this.#step({ type: 'tick', now });
    // Liveness: the other ends of our connections hear our pings while the path is up.
    for (const s of this.#sessions.values()) {
      if (this.#world.connected(s.conn.a, s.conn.b)) s.conn.heard[0] = now; // clients and standbys hear the coordinator
      if (now - s.conn.heard[1] > SESSION_DEAD_MS) this.#dropSession(s, true, 4003);
    }
    for (const [id, l] of this.#links) {
      if (this.#world.connected(l.conn.a, l.conn.b)) l.conn.heard[1] = now; // the coordinator hears its standby
      if (now - l.conn.heard[0] > (l.welcomed ? LINK_SILENCE_MS : LINK_CONNECT_MS)) {
        l.conn.close(0);
        this.#links.delete(id);
        this.#step({ type: 'link-end', link: id, end: { kind: 'lost', succession: undefined, reason: 'silent' }, now });
      }
    }
    if (this.#storageFailed && !this.knobs.diskFull) {
      this.#storageFailed = false;
      this.#step({ type: 'storage-ok', now });
    }
    this.#world.later(this.host, TICK_MS, () => this.#tick());
  }

  #step(ev: CoreEvent): void {
    const core = this.core;
    if (!core) return;
    for (const e of core.step(ev)) this.#exec(e);
  }

  #exec(e: Effect): void {
    const w = this.#world;
    switch (e.type) {
      case 'write':
        return this.#write(e.ticket, e.records);
      case 'save-term': {
        const term = e.term;
        const life = this.host.life;
        w.schedule(w.now + w.rng.int(...this.knobs.fsyncMs), () => {
          if (this.host.life !== life) return;
          this.disk.term = Math.max(this.disk.term, term);
          w.at(this.host, () => this.#step({ type: 'term-saved', term, now: w.now }));
        });
        return;
      }
      case 'probe':
        return this.#probe(e.probe, e.addresses, e.timeoutMs, e.from);
      case 'link-open':
        return this.#openLink(e.link, e.address);
      case 'link-close': {
        const l = this.#links.get(e.link);
        this.#links.delete(e.link);
        l?.conn.close(0);
        return;
      }
      case 'link-send': {
        const l = this.#links.get(e.link);
        if (!l) return;
        if (this.knobs.mute && e.frame.type === 'peer:ack') return;
        l.conn.send(0, e.frame, new Map(this.ghost));
        return;
      }
      case 'send':
        for (const id of e.to) {
          const s = this.#sessions.get(id);
          if (!s) continue;
          if (e.frame.type === 'chat:ack') this.#sim.observer.acked(this, id, e.frame);
          // Peers learn what this node knew of terms; a client's checker judges a succession list by it.
          s.conn.send(1, e.frame, s.kind === 'peer' || e.frame.type === 'succession' ? new Map(this.ghost) : undefined);
        }
        return;
      case 'close': {
        const s = this.#sessions.get(e.session);
        if (s) this.#dropSession(s, true, e.code);
        return;
      }
      case 'role':
        if (DEBUG) console.log(`${(w.now / 1000).toFixed(3)} ${this.name} role ${JSON.stringify(e.info)}`);
        this.#highestTerm = Math.max(this.#highestTerm, e.info.term);
        if (e.info.role === 'coordinator') {
          const holder = this.ghost.get(e.info.term);
          if (holder !== undefined && holder !== this.id) this.#sim.observer.termClash(this, e.info.term, holder);
          this.ghost.set(e.info.term, this.id);
        }
        this.#sim.observer.role(this, e.info);
        if (e.info.role !== 'coordinator') {
          // Only the coordinator serves sessions: everyone is told where it is, and closed (the relay's setRole).
          for (const s of [...this.#sessions.values()]) {
            s.conn.send(1, { type: 'redirect', coordinator: e.info.coordinator ?? null, term: e.info.term } satisfies ServerMessage);
            this.#dropSession(s, false);
          }
        }
        return;
      case 'succession':
        this.disk.succession = e.frame;
        this.disk.peers = e.peers;
        for (const s of this.#sessions.values()) if (s.kind !== 'new') s.conn.send(1, { type: 'succession', ...e.frame } satisfies ServerMessage, new Map(this.ghost));
        return;
      case 'stored':
        return this.#sim.observer.stored(this, e.entry);
      case 'appended':
        return this.#appended.get(e.ticket)?.(e.entries);
      case 'append-failed':
        return this.#appendFailed.get(e.ticket)?.();
      case 'stopped':
        // The process exits: its sockets close.
        this.host.up = false;
        this.host.life++;
        for (const s of this.#sessions.values()) s.conn.close(1);
        for (const l of this.#links.values()) l.conn.close(0);
        this.#sessions.clear();
        this.#links.clear();
        this.core = undefined;
        return;
      case 'log':
        if (DEBUG) console.log(`${(w.now / 1000).toFixed(3)} ${this.name} ${e.level} ${e.msg} ${e.data ? JSON.stringify(e.data) : ''}`);
        return;
      case 'presence':
        if (DEBUG) console.log(`${(w.now / 1000).toFixed(3)} ${this.name} ${e.user} ${e.online ? 'joined' : 'left'}`);
        return;
    }
  }

  /**
   * Like the log store: writes go out in order, each fsynced; one that fails (a full disk) fails every write
   * queued behind it too, and the store refuses writes until it is told the disk can be written again.
   */
  #write(ticket: number, records: LogRecord[]): void {
    const w = this.#world;
    const life = this.host.life;
    const fail = (tickets: number[]) =>
      w.later(this.host, 0.1, () => {
        this.#storageFailed = true; // the driver retries from when it hears of the failure (src/node/node.ts)
        this.#step({ type: 'write-failed', tickets, reason: 'ENOSPC: no space left on device', now: w.now });
      });
    if (this.#storageFailed) return void fail([ticket]);
    for (const r of records) Object.freeze(r);
    const p = { ticket, records };
    this.disk.pending.push(p);
    const due = Math.max(this.disk.lastDue, w.now + w.rng.int(...this.knobs.fsyncMs));
    this.disk.lastDue = due;
    w.schedule(due, () => {
      if (this.host.life !== life) return;
      const i = this.disk.pending.indexOf(p);
      if (i === -1) return;
      if (this.knobs.diskFull) {
        this.#storageFailed = true;
        const failed = this.disk.pending.splice(i);
        return void fail(failed.map((x) => x.ticket));
      }
      this.disk.pending.splice(i, 1);
      this.disk.append(records);
      w.at(this.host, () => {
        this.#step({ type: 'written', tickets: [ticket], now: w.now });
        this.#maybeCompact();
      });
    });
  }

  /** Like the log store: past a segment's worth, the state is snapshotted and the records since start over. */
  #maybeCompact(): void {
    const core = this.core;
    if (!core || this.disk.records.length < this.#cfg.segmentRecords || this.disk.pending.length > 0) return;
    this.disk.snapshot = core.replica.snapshot(core.state.retained());
    this.disk.records = [];
    this.disk.keys = new Set();
  }

  #probe(probe: number, addresses: readonly string[], timeoutMs: number, from?: string): void {
    const w = this.#world;
    let left = addresses.length;
    const answers: { address: string; status: Status | undefined }[] = [];
    if (process.env.SIM_PROBES) console.log(`${(w.now / 1000).toFixed(3)} ${this.name} PROBE ${probe} -> ${addresses.join(',')} timeout ${timeoutMs}${from ? ` from ${from}` : ''}`);
    const done = (address: string, status: Status | undefined) => {
      if (process.env.SIM_PROBES) console.log(`${(w.now / 1000).toFixed(3)} ${this.name} PROBE ${probe} <- ${address}: ${status ? `${status.role} t${status.term}` : 'none'}`);
      const answer = { address, status };
      answers.push(answer);
      // Like the node: of several, each answer reaches the core as it comes, the round when the last is in.
      if (--left === 0) w.at(this.host, () => this.#step({ type: 'probed', probe, answers, now: w.now }));
      else w.at(this.host, () => this.#step({ type: 'answer', probe, answer, now: w.now }));
    };
    if (left === 0) return void w.later(this.host, 0, () => this.#step({ type: 'probed', probe, answers: [], now: w.now }));
    for (const address of addresses) {
      const target = this.#sim.nodeAt(address);
      const sentAt = w.now;
      const life = this.host.life;
      const finish = (status: Status | undefined) => {
        if (this.host.life === life) done(address, status);
      };
      if (target === undefined || !target.host.up || !w.connected(this.host, target.host)) {
        // Refused at once when the host is reachable and its process is gone; silence until the timeout when cut off.
        const reachable = target !== undefined && w.connected(this.host, target.host);
        w.schedule(sentAt + (reachable ? REFUSED_MS : timeoutMs), () => finish(undefined));
        continue;
      }
      const rtt = w.latency() * 2 + target.knobs.statusDelayMs;
      w.schedule(sentAt + Math.min(rtt, timeoutMs), () => {
        // The answer is what the target says when it handles the request: nothing if it is frozen, cut off or gone by then.
        if (rtt > timeoutMs || !target.host.up || target.host.frozen || !w.connected(this.host, target.host) || !target.core) return finish(undefined);
        if (this.host.life === life) this.learn(target.ghost);
        if (from !== undefined) target.hint(from);
        finish(target.status());
      });
    }
  }

  /** A coordinator asked for our status, saying where it is (`/status?from=`). */
  hint(from: string): void {
    this.#step({ type: 'hint', address: from, now: this.#world.now });
  }

  /** What `GET /status` answers. */
  status(): Status {
    const c = this.core!;
    const info = c.info;
    // Ghost knowledge of terms travels with every node-to-node answer.
    return {
      id: this.id,
      network: 'default',
      role: info.role,
      term: info.term,
      ...(c.highest !== undefined ? { highest: c.highest } : {}),
      coordinator: info.role === 'coordinator' ? this.address : (info.coordinator ?? null),
      priority: info.priority,
      eligible: info.eligible,
      position: c.position,
      protocol: 1,
    };
  }

  // ---- the standby link (src/replication/standby-link.ts) ----

  #openLink(link: number, address: string): void {
    const w = this.#world;
    const target = this.#sim.nodeAt(address);
    const refuse = () => w.later(this.host, REFUSED_MS, () => this.#step({ type: 'link-end', link, end: { kind: 'lost', succession: undefined }, now: w.now }));
    if (target === undefined || !target.host.up) return void refuse();
    const conn = w.connect(this.host, target.host);
    const entry = { conn, welcomed: false };
    this.#links.set(link, entry);
    conn.attach(0, {
      onFrame: (frame, meta) => {
        const f = frame as ServerMessage;
        conn.heard[0] = w.now;
        if (meta instanceof Map) this.learn(meta as Map<number, string>);
        if (f.type === 'welcome') return this.#step({ type: 'link-ready', link });
        if (f.type === 'peer:welcome') entry.welcomed = true;
        this.#step({ type: 'link-frame', link, frame: f, now: w.now });
      },
      onClose: (code) => {
        if (this.#links.get(link)?.conn !== conn) return;
        this.#links.delete(link);
        this.#step({ type: 'link-end', link, end: { kind: 'lost', succession: undefined, reason: code === 4003 || code === 4002 ? 'dropped' : 'closed' }, now: w.now });
      },
    });
    target.accept(conn);
  }

  // ---- the relay (src/relay) ----

  /** A connection arrives (from a client or a node). */
  accept(conn: Conn): void {
    const w = this.#world;
    const session: RelaySession = { id: this.#nextSession++, conn, kind: 'new' };
    w.schedule(w.now + w.latency(), () => {
      if (!conn.open || !conn.alive(1)) return;
      w.at(this.host, () => {
        const core = this.core;
        if (!core || !conn.open) return;
        const info = core.info;
        if (info.role !== 'coordinator') {
          conn.send(1, { type: 'redirect', coordinator: info.coordinator ?? null, term: info.term } satisfies ServerMessage);
          conn.close(1);
          return;
        }
        this.#sessions.set(session.id, session);
        conn.heard[1] = w.now;
        conn.attach(1, {
          onFrame: (frame, meta) => {
            conn.heard[1] = w.now;
            if (meta instanceof Map) this.learn(meta as Map<number, string>);
            this.#onFrame(session, frame as { type: string } & Record<string, unknown>);
          },
          onClose: () => this.#dropSession(session, false),
        });
        conn.send(1, { type: 'welcome', protocol: 1, network: 'default', node: this.id, networkPassword: false, limits: { maxFrameBytes: 65536, maxTextChars: 4000, maxRecipients: 64, historySize: 200, maxMessageRate: 20 } } satisfies ServerMessage);
      });
    });
  }

  #dropSession(s: RelaySession, close = true, code?: number): void {
    if (!this.#sessions.delete(s.id)) return;
    if (close || s.conn.open) s.conn.close(1, code);
    this.#step({ type: 'session-closed', session: s.id, now: this.#world.now });
  }

  readonly #appended = new Map<number, (entries: Entry[]) => void>();
  readonly #appendFailed = new Map<number, () => void>();
  #nextTicket = 1;

  #onFrame(s: RelaySession, f: { type: string } & Record<string, unknown>): void {
    const core = this.core;
    if (!core) return;
    const now = this.#world.now;
    const reply = (frame: ServerMessage) => s.conn.send(1, frame);
    switch (f.type) {
      case 'peer:hello': {
        s.kind = 'peer';
        const h = f as unknown as { id: string; priority: number; eligible: boolean; term: number; vv: [string, number][] };
        return this.#step({ type: 'peer-hello', session: s.id, hello: { id: h.id, address: `${this.#sim.nameOf(h.id)}:7777`, priority: h.priority, eligible: h.eligible, term: h.term, vv: h.vv }, now });
      }
      case 'peer:entries':
        return this.#step({ type: 'peer-entries', session: s.id, batch: { entries: f.entries as Entry[], covers: (f.covers as never) ?? [] }, now });
      case 'peer:ack':
        return this.#step({ type: 'peer-ack', session: s.id, vv: f.vv as [string, number][], term: f.term as number | undefined, now });
      case 'auth:register': {
        const name = f.user as string;
        if (core.state.user(name)) return reply(errorFrame('username_taken'));
        const ticket = this.#nextTicket++;
        const account = this.#world.rng.hex(8);
        this.#appended.set(ticket, (entries) => {
          this.#appended.delete(ticket);
          this.#login(s, entries[0] as UserEntry);
        });
        this.#appendFailed.set(ticket, () => {
          this.#appendFailed.delete(ticket);
          reply(errorFrame('storage_full'));
        });
        return this.#step({ type: 'append', ticket, entries: [{ kind: 'user', name, hash: f.password as string, created: now, updated: now, account }], now });
      }
      case 'auth:login': {
        const user = core.state.user(f.user as string);
        if (user !== undefined && user.hash === f.password) return this.#login(s, user);
        if (core.state.displaced(f.user as string).some((u) => u.hash === f.password)) return reply(errorFrame('username_taken', 'registered elsewhere first'));
        return reply(errorFrame('auth_failed'));
      }
      case 'auth:resume': {
        // Sim tokens name the account; the real ones are HMACs of it (src/store/session-token.ts).
        const name = f.user as string;
        const account = f.token as string;
        const user = [core.state.user(name), ...core.state.displaced(name)].find((u): u is UserEntry => u !== undefined && accountOf(u) === account);
        if (!user) return reply(errorFrame('auth_failed', 'session expired; log in with your password'));
        return this.#login(s, user, f.cursor as [string, number][] | undefined);
      }
      case 'chat:send':
        if (s.kind !== 'user') return;
        return this.#step({ type: 'send', session: s.id, cid: f.id as string, to: (f.to as string[]) ?? [], text: f.text as string, room: f.room as string | undefined, now });
      case 'room:join':
        if (s.kind !== 'user') return;
        return this.#step({ type: 'room', session: s.id, cid: f.id as string, action: { type: 'join', room: f.room as string }, now });
      case 'presence:get':
        return this.#step({ type: 'presence-get', session: s.id });
      default:
        return;
    }
  }

  #login(s: RelaySession, user: UserEntry, cursor?: [string, number][]): void {
    if (!this.#sessions.has(s.id)) return;
    s.kind = 'user';
    this.#step({ type: 'login', session: s.id, user, token: accountOf(user), cursor, now: this.#world.now });
  }

  /** Merges what another node knew of terms (ghost bookkeeping). */
  learn(ghost: ReadonlyMap<number, string>): void {
    for (const [term, id] of ghost) {
      if (this.ghost.has(term)) continue;
      this.ghost.set(term, id);
      if (DEBUG) console.log(`${(this.#world.now / 1000).toFixed(3)} ${this.name} ghost: term ${term} was ${this.#sim.nameOf(id)}'s`);
    }
  }

  /** Whether this node's durable log holds `(origin, seq)`. */
  holds(origin: string, seq: number): boolean {
    const core = this.core;
    if (core) return covers(core.replica.vector, origin, seq);
    return this.disk.holds(origin, seq);
  }
}

/** What a node needs of the simulation around it. */
export interface SimNetwork {
  observer: Observer;
  addresses(): string[];
  nodeAt(address: string): SimNode | undefined;
  idOf(name: string): string;
  nameOf(id: string): string;
}
