import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { DataDir, DataDirError, writeFileAtomic } from '../store/data-dir.js';
import { CorruptDataError, LogStore } from '../store/log-store.js';
import { CredentialStore } from '../store/credential-store.js';
import { readKnown, SuccessionMemory } from '../store/known-networks.js';
import { NodeCore, type CoreEvent, type Effect } from '../core/node-core.js';
import type { ChatState } from '../core/chat-state.js';
import type { RoleInfo, RoleTiming } from '../core/role.js';
import type { CoreTiming } from '../core/node-core.js';
import { DEFAULT_LIMITS } from '../protocol/limits.js';
import { ProtocolError } from '../protocol/errors.js';
import { formatHostPort } from '../protocol/fields.js';
import type { Entry, NewEntry } from '../protocol/entries.js';
import { Relay, type RelayOptions } from '../relay/server.js';
import type { CoreAccess } from '../relay/context.js';
import { StandbyLink } from '../replication/standby-link.js';
import { probeStatus, type Probe, type Status } from '../discovery/status.js';
import { adoptAuthority, becomeMember, ensureNodeIdentity, type NodeIdentity } from '../trust/node-identity.js';
import { sameAuthority } from '../trust/pin.js';
import type { KeyPair } from '../trust/identity.js';
import type { Discovery } from '../discovery/discovery.js';

/** The driver ticks the core this often: the resolution of every timeout in src/core/role.ts. */
const TICK_MS = 50;
/** A failed log is retried this often (a full disk that gets space back recovers with no restart). */
const STORAGE_RETRY_MS = 1_000;
/** Addresses worth asking are re-read this often (mDNS peers come and go). */
const CANDIDATES_MS = 500;

export interface NodeOptions extends Omit<RelayOptions, 'nodeId' | 'tls'> {
  dataDir: string;
  bcryptCost?: number;
  /** Rank preference: higher takes over first. */
  priority?: number;
  /** False for `--no-coordinator`: never coordinates, holds no replica. */
  eligible?: boolean;
  /** Nodes to contact besides those discovered (`--join`, and locked-down mode). */
  join?: string[];
  /** mDNS; absent in locked-down mode. */
  discovery?: Discovery;
  browseMs?: number;
  /** Shorter timeouts, for tests. */
  timing?: Partial<RoleTiming & CoreTiming>;
}

export interface NodeEvents {
  role: [RoleInfo];
}

/**
 * One lanchat node (DESIGN §2, §4): the driver of a `NodeCore`. It owns the
 * data directory, the log store, the relay and the standby link, feeds the
 * core what happens (ticks, answers, frames, writes done), and carries out
 * what the core decides (writes, probes, frames, role changes).
 */
export class Node extends EventEmitter<NodeEvents> {
  readonly relay: Relay;
  readonly store: LogStore;
  readonly dataDir: DataDir;
  readonly core: NodeCore;
  #identity: NodeIdentity;
  #adopting: Promise<void> | undefined;
  /** Identity writes under way: stopping waits for them (a node that founded must stay a member). */
  readonly #writes = new Set<Promise<void>>();
  /** Addresses already warned about (an unknown node claiming our network), so a rogue fills no log. */
  readonly #warned = new Set<string>();
  readonly #credentials: CredentialStore;
  readonly #log: Logger;
  readonly #opts: NodeOptions;
  #tick: NodeJS.Timeout | undefined;
  #candidatesTimer: NodeJS.Timeout | undefined;
  #storageTimer: NodeJS.Timeout | undefined;
  #lastCandidates = '';
  #link: { id: number; link: StandbyLink } | undefined;
  /** Writes done in this turn of the event loop, handed to the core together (group commit). */
  #written: number[] = [];
  #termWrites: Promise<void> = Promise.resolve();
  /** The succession lists seen, kept for a restart (stopping waits for the last one). */
  readonly #succession: SuccessionMemory;
  readonly #appends = new Map<number, { resolve: (e: Entry[]) => void; reject: (err: Error) => void }>();
  #nextAppend = 1;
  #stopped: (() => void) | undefined;
  #stopping: Promise<void> | undefined;
  #closed = false;
  #lanAddress: string | undefined;

  private constructor(parts: { dataDir: DataDir; store: LogStore; core: NodeCore; identity: NodeIdentity }, options: NodeOptions, log: Logger) {
    super();
    this.dataDir = parts.dataDir;
    this.#identity = parts.identity;
    this.store = parts.store;
    this.core = parts.core;
    this.#opts = options;
    this.#log = log;
    this.#succession = new SuccessionMemory(this.dataDir.path, (err: unknown) => log.debug({ err }, 'could not remember the succession list'));
    this.#credentials = new CredentialStore({ append: (e) => this.append(e), state: this.core.state, log: log.child({ component: 'credentials' }) }, { cost: options.bcryptCost });
    const core = this.core;
    const access: CoreAccess = {
      step: (ev) => this.#step(ev),
      get state() {
        return core.state;
      },
      get info() {
        return core.info;
      },
      get highest() {
        return core.highest;
      },
      get position() {
        return core.position;
      },
      sessionUser: (id) => core.sessionUser(id),
      sessionsOf: (name) => core.sessionsOf(name),
      get online() {
        return core.online;
      },
    };
    this.relay = new Relay({ core: access, credentials: this.#credentials, log: log.child({ component: 'relay' }) }, { ...options, nodeId: this.dataDir.nodeId, tls: parts.identity });
    this.relay.on('user:joined', () => this.#found());
    this.relay.on('node:admitted', () => this.#found());
  }

  /** Opens the data directory and log, starts serving, and settles a role. */
  /** `signal`: once aborted, start stops waiting for a role (a node asked to stop while it looks for one). */
  static async start(options: NodeOptions, log: Logger, signal?: AbortSignal): Promise<Node> {
    const dataDir = await DataDir.open(options.dataDir).catch((err: unknown) => {
      throw describe(err, options.dataDir);
    });
    let store: LogStore | undefined;
    let node: Node | undefined;
    try {
      const holder: { core?: NodeCore } = {};
      store = await LogStore.open(dataDir.logDir, log.child({ component: 'log' }), { snapshot: () => holder.core!.snapshot() });
      const network = options.network ?? 'default';
      const known = await readKnown(dataDir.path, network);
      const { snapshot, records } = store.loaded;
      const origins = new Map<string, number>([...(snapshot?.vv ?? []), ...records.map((r) => [r.origin, 1] as [string, number])]);
      const term = NodeCore.termFrom(await readTerm(dataDir.path, log), dataDir.nodeId, origins);
      const alone = options.discovery === undefined && (options.join?.length ?? 0) === 0;
      const core = new NodeCore(
        {
          self: { id: dataDir.nodeId, network, priority: options.priority ?? 0, eligible: options.eligible ?? true },
          address: '127.0.0.1:0',
          historySize: options.limits?.historySize ?? DEFAULT_LIMITS.historySize,
          // Nobody to look for (no mDNS, no --join): decide at once, as a lone node always has.
          timing: { ...(alone ? { browseMs: 0, browseMaxMs: 0 } : options.browseMs === undefined ? {} : { browseMs: options.browseMs }), ...options.timing },
          newSecret: () => randomBytes(32).toString('base64'),
        },
        { term, peers: known.peers, ...(known.succession ? { succession: known.succession } : {}) },
        Date.now(),
      );
      holder.core = core;
      const error = core.load(snapshot, records);
      if (error !== undefined) throw new CorruptDataError(dataDir.logDir, error);
      store.release();
      const identity = await ensureNodeIdentity(dataDir.path, network, dataDir.nodeId);
      node = new Node({ dataDir, store, core, identity }, options, log);
      await node.relay.start();
      await node.#run(signal);
      return node;
    } catch (err) {
      if (node) await node.stop().catch(() => undefined);
      else {
        await store?.close();
        await dataDir.close();
      }
      throw describe(err, options.dataDir);
    }
  }

  get id(): string {
    return this.dataDir.nodeId;
  }

  /** The network's authority and this node's certificate (TLS on every link); `identity.code` is the network's short code. */
  get identity(): NodeIdentity {
    return this.#identity;
  }

  get term(): number {
    return this.core.term;
  }

  get role(): RoleInfo {
    return this.core.info;
  }

  get state(): ChatState {
    return this.core.state;
  }

  /** Used by the CLI to say which address is ours on the LAN (published in the succession list). */
  setAdvertisedHost(host: string): void {
    this.#lanAddress = host;
    this.#step({ type: 'address', address: this.#ownAddress() });
  }

  /**
   * Writes entries to the replicated log (a registration, a rehash); resolves
   * once they are durable here and held by the successor. Rejects with a
   * `ProtocolError` when this node cannot (not the coordinator, disk full).
   */
  append(entries: NewEntry[]): Promise<Entry[]> {
    const ticket = this.#nextAppend++;
    return new Promise((resolve, reject) => {
      this.#appends.set(ticket, { resolve, reject });
      this.#step({ type: 'append', ticket, entries, now: Date.now() });
    });
  }

  /** Leaves: a coordinator hands off to its successor first (DESIGN §4.6). Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      if (!this.#closed) {
        const stopped = new Promise<void>((r) => (this.#stopped = r));
        this.#step({ type: 'stop', now: Date.now() });
        await stopped;
      }
      await this.#close();
    })();
    return this.#stopping;
  }

  // ---- the loop ----

  /** Starts discovery and the tick, and resolves once the node has a role. */
  async #run(signal?: AbortSignal): Promise<void> {
    const d = this.#opts.discovery;
    if (d) {
      d.advertise({ id: this.id, network: this.#opts.network ?? 'default', port: this.relay.address.port });
      d.browse();
    }
    this.#step({ type: 'address', address: this.#ownAddress() });
    this.#refreshCandidates();
    this.#candidatesTimer = setInterval(() => this.#refreshCandidates(), CANDIDATES_MS);
    this.#candidatesTimer.unref();
    this.#tick = setInterval(() => this.#step({ type: 'tick', now: Date.now() }), TICK_MS);
    this.#tick.unref();
    this.#step({ type: 'tick', now: Date.now() });
    await new Promise<void>((resolve) => {
      const settled = (r: RoleInfo) => r.role === 'coordinator' || r.coordinator !== undefined;
      if (settled(this.role) || signal?.aborted) return resolve();
      const done = () => {
        this.off('role', onRole);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const onRole = (r: RoleInfo) => {
        if (settled(r)) done();
      };
      this.on('role', onRole);
      signal?.addEventListener('abort', done);
    });
  }

  /** Addresses worth asking: `--join` and mDNS peers of our network (the core adds the remembered ones). */
  #refreshCandidates(): void {
    const out = new Set(this.#opts.join ?? []);
    const network = this.#opts.network ?? 'default';
    if (this.#opts.discovery) this.#opts.discovery.refresh();
    for (const p of this.#opts.discovery?.peers() ?? []) {
      if (p.network === network && p.id !== this.id) for (const a of p.addresses.slice(0, 2)) out.add(formatHostPort(a, p.port));
    }
    const key = [...out].sort().join(' ');
    if (key === this.#lastCandidates) return;
    this.#lastCandidates = key;
    this.#step({ type: 'candidates', addresses: [...out] });
  }

  #step(ev: CoreEvent): void {
    if (this.#closed) return;
    for (const e of this.core.step(ev)) this.#exec(e);
  }

  #exec(e: Effect): void {
    switch (e.type) {
      case 'write':
        this.store.write(e.records).then(
          () => this.#done(e.ticket),
          (err: Error) => this.#failed(e.ticket, err),
        );
        return;
      case 'save-term': {
        const term = e.term;
        this.#termWrites = this.#termWrites
          .then(() => writeFileAtomic(this.dataDir.path, 'term', `${term}\n`))
          .then(
            () => this.#step({ type: 'term-saved', term, now: Date.now() }),
            (err: unknown) => this.#log.error({ err }, 'cannot save the term'),
          );
        return;
      }
      case 'probe': {
        const { probe, addresses, timeoutMs, from } = e;
        let left = addresses.length;
        const answers = addresses.map(async (address) => {
          const answer = { address, status: this.#vetted(address, await probeStatus(address, timeoutMs, from)) };
          // Of several, each answer as it comes (the last one with the round): a cut-off address holds up the
          // round, not what the others said.
          if (--left > 0) this.#step({ type: 'answer', probe, answer, now: Date.now() });
          return answer;
        });
        void Promise.all(answers).then((all) => this.#step({ type: 'probed', probe, answers: all, now: Date.now() }));
        return;
      }
      case 'link-open':
        return this.#openLink(e.link, e.address);
      case 'link-close':
        if (this.#link?.id === e.link) {
          this.#link.link.stop();
          this.#link = undefined;
        }
        return;
      case 'link-send':
        if (this.#link?.id === e.link) this.#link.link.send(e.frame);
        return;
      case 'send':
        return this.relay.deliver(e.to, e.frame);
      case 'close':
        return this.relay.closeSession(e.session, e.code, e.reason);
      case 'role':
        this.relay.setRole(e.info);
        this.emit('role', e.info);
        return;
      case 'succession':
        this.relay.publishSuccession(e.frame);
        this.#succession.remember(this.#opts.network ?? 'default', e.frame, e.peers);
        return;
      case 'presence':
        if (e.online) this.relay.emit('user:joined', e.user, this.relay.addressOf(e.session) ?? 'unknown');
        else this.relay.emit('user:left', e.user);
        return;
      case 'stored':
        this.relay.emit('message:stored', e.entry);
        return;
      case 'appended':
        this.#appends.get(e.ticket)?.resolve(e.entries);
        this.#appends.delete(e.ticket);
        return;
      case 'append-failed':
        this.#appends.get(e.ticket)?.reject(new ProtocolError(e.code, e.code === 'storage_full' ? undefined : 'this node is not the coordinator now; try again'));
        this.#appends.delete(e.ticket);
        return;
      case 'stopped':
        this.#stopped?.();
        if (this.#stopped === undefined) void this.stop();
        return;
      case 'log':
        this.#log[e.level](e.data ?? {}, e.msg);
        return;
    }
  }

  #done(ticket: number): void {
    if (this.#written.length === 0) queueMicrotask(() => this.#step({ type: 'written', tickets: this.#written.splice(0), now: Date.now() }));
    this.#written.push(ticket);
  }

  #failed(ticket: number, err: Error): void {
    this.#step({ type: 'write-failed', tickets: [ticket], reason: err.message, now: Date.now() });
    if (this.#storageTimer !== undefined) return;
    // Retry until the disk can be written again, then tell the core (no restart needed).
    this.#storageTimer = setInterval(() => {
      void this.store.recover().then((ok) => {
        if (!ok || this.#storageTimer === undefined) return;
        clearInterval(this.#storageTimer);
        this.#storageTimer = undefined;
        this.#step({ type: 'storage-ok', now: Date.now() });
      });
    }, STORAGE_RETRY_MS);
    this.#storageTimer.unref();
  }

  #openLink(id: number, address: string): void {
    this.#link?.link.stop();
    const link = new StandbyLink(this.#log.child({ component: 'standby' }), {
      address,
      identity: this.#identity,
      id: this.id,
      ...(this.#opts.networkPassword === undefined ? {} : { networkPassword: this.#opts.networkPassword }),
      ...(this.#opts.nodePassword === undefined ? {} : { nodePassword: this.#opts.nodePassword }),
    });
    this.#link = { id, link };
    link.on('ready', () => this.#step({ type: 'link-ready', link: id }));
    link.on('admit', (authority) => this.#adopt(authority));
    link.on('frame', (frame) => this.#step({ type: 'link-frame', link: id, frame, now: Date.now() }));
    link.on('end', (end) => {
      if (this.#link?.link === link) this.#link = undefined;
      this.#step({ type: 'link-end', link: id, end, now: Date.now() });
    });
    link.start();
  }

  /**
   * A status counts only from a node of our network (its certificate from our authority, naming the node
   * the status says): anyone else's claim to coordinate is ignored, so nobody outside can make this node
   * step down or move a term. A node not yet of a network listens to every claim: it looks for one to join
   * (and joins only by proving the node password).
   */
  #vetted(address: string, p: Probe): Status | undefined {
    if (!p.ok) return undefined;
    // A node of no network yet defers to any coordinator it sees (and joins it, by proving the node
    // password): were it to out-rank an existing network while its own join is slow, that network, whose
    // members ignore it, would never merge with it. The claim is made to out-rank it by one term, no more.
    if (!this.#identity.member) return p.status.role === 'coordinator' ? { ...p.status, term: Math.max(p.status.term, this.core.term + 1) } : p.status;
    if (p.presented !== undefined && p.presented.nodeId === p.status.id && sameAuthority(p.presented.authorityPem, this.#identity.authorityPem)) return p.status;
    if (!this.#warned.has(address) && this.#warned.size < 100) {
      this.#warned.add(address);
      const theirs = p.presented === undefined ? 'no network identity' : `network identity ${p.presented.code} (ours is ${this.#identity.code})`;
      this.#log.warn({ address, claims: p.status.role, term: p.status.term }, `an unknown node at ${address} claims to be of network "${p.status.network}", with ${theirs}: ignored`);
    }
    return undefined;
  }

  /**
   * This node coordinates under its own first identity and someone relies on it (a user logged in, a node
   * was admitted): it founded the network, and its identity is the network's for good. Not at once on
   * coordinating: nodes started together each coordinate for a moment before they agree on one, and the
   * others must still be able to join it.
   */
  #found(): void {
    if (this.#identity.member || this.role.role !== 'coordinator') return;
    const network = this.#opts.network ?? 'default';
    const before = this.#identity;
    this.#identity = { ...before, member: true };
    const write = becomeMember(this.dataDir.path, network, before).then(
      () => undefined,
      (err: unknown) => this.#log.error({ err }, 'could not record the network identity'),
    );
    this.#writes.add(write);
    void write.finally(() => this.#writes.delete(write));
    this.#log.info({ code: this.#identity.code }, `founded network "${network}" (identity ${this.#identity.code})`);
  }

  /** Admitted to a network: its authority replaces our first one, on disk and in what we serve with. One at a time. */
  #adopt(authority: KeyPair): void {
    if (this.#identity.member || this.#adopting !== undefined) return;
    const network = this.#opts.network ?? 'default';
    const adopting = (this.#adopting = (async () => {
      try {
        const next = await adoptAuthority(this.dataDir.path, network, this.id, authority);
        this.relay.setIdentity(next); // throws on a bad context: then nothing changes here either
        this.#identity = next;
        this.#log.info({ code: next.code }, `admitted to network "${network}" (identity ${next.code})`);
      } catch (err) {
        this.#log.error({ err }, 'could not take the network identity the coordinator sent');
      } finally {
        this.#adopting = undefined;
      }
    })());
    this.#writes.add(adopting);
    void adopting.finally(() => this.#writes.delete(adopting));
  }

  /** The address standbys and clients use for us: the first LAN address, else the bound one. */
  #ownAddress(): string {
    const a = this.relay.address;
    const host = a.address === '0.0.0.0' || a.address === '::' ? (this.#lanAddress ?? '127.0.0.1') : a.address;
    return formatHostPort(host, a.port);
  }

  async #close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#tick);
    clearInterval(this.#candidatesTimer);
    clearInterval(this.#storageTimer);
    this.#link?.link.stop();
    for (const a of this.#appends.values()) a.reject(new ProtocolError('disconnected', 'the node is stopping'));
    this.#appends.clear();
    await Promise.all([...this.#writes]);
    await this.relay.stop();
    await this.#opts.discovery?.stop();
    await this.#credentials.close();
    await this.#termWrites;
    await this.#succession.settled();
    await this.store.close();
    await this.dataDir.close();
  }
}

/** The saved term (`term` file); a damaged or missing one counts as 0 (the log's own origins say more, see `NodeCore.termFrom`). */
async function readTerm(dir: string, log: Logger): Promise<number> {
  const file = join(dir, 'term');
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (text === undefined) return 0;
  const n = Number(text.trim());
  if (!/^\d{1,15}\n?$/.test(text) || !Number.isSafeInteger(n)) {
    log.warn({ file }, `${file} is damaged; going on from the highest term in the log`);
    return 0;
  }
  return n;
}

/** A raw fs error names no file: say which directory it concerns. */
function describe(err: unknown, dir: string): unknown {
  const e = err as NodeJS.ErrnoException;
  return e.syscall !== undefined ? new DataDirError(`cannot use data directory ${dir}: ${e.message}`) : err;
}
