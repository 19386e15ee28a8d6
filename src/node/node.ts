import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { DataDir, DataDirError, writeFileAtomic } from '../store/data-dir.js';
import { fetchStatus, type Status } from '../discovery/status.js';
import { StandbyLink, type LinkEnd, type Succession } from '../replication/standby-link.js';
import { DEFAULT_LIMITS } from '../protocol/limits.js';
import { LogStore } from '../store/log-store.js';
import { ChatState } from '../core/chat-state.js';
import { CredentialStore } from '../store/credential-store.js';
import { ReplicationHub } from '../replication/hub.js';
import { Relay, type RelayOptions, type RoleInfo } from '../relay/server.js';
import { nextStep, resolveCoordinators, shouldLead, type Probe } from '../core/election.js';
import type { Discovery } from '../discovery/discovery.js';

const BROWSE_MS = 1_000; // start-up: look around this long before electing (DESIGN §4.2)
const RETRY_MS = 100; // between start-up and failover probing rounds
const REFUSED_RETRY_MS = 10_000; // after a coordinator refused this node, or this node refused it
const WAIT_FOR_SUCCESSOR_MS = 4_000; // a live successor that has not taken over by then is skipped
const MAINTAIN_MS = 2_000; // a coordinator looks for rival coordinators this often (healed partitions)
const HANDOFF_GRACE_MS = 300; // a leaving coordinator lets its successor take over before closing

export interface NodeOptions extends Omit<RelayOptions, 'nodeId'> {
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
}

export interface NodeEvents {
  role: [RoleInfo];
}

/**
 * One lanchat node (DESIGN §2, §4): a data directory, a replica of the log,
 * and a relay that serves chat when this node is the coordinator. Finds the
 * coordinator of its network, joins it as a standby, or — when there is none —
 * takes the role by the election rule; takes over when its predecessor dies.
 */
export class Node extends EventEmitter<NodeEvents> {
  readonly relay: Relay;
  readonly store: LogStore;
  readonly state: ChatState;
  readonly dataDir: DataDir;
  readonly hub: ReplicationHub;
  readonly #credentials: CredentialStore;
  readonly #log: Logger;
  readonly #opts: NodeOptions;
  #term: number;
  #link: StandbyLink | undefined;
  #maintain: NodeJS.Timeout | undefined;
  #stopping: Promise<void> | undefined;
  #lastSuccession: Succession | undefined;

  private constructor(parts: { dataDir: DataDir; store: LogStore; state: ChatState; credentials: CredentialStore; hub: ReplicationHub; relay: Relay; term: number }, options: NodeOptions, log: Logger) {
    super();
    this.dataDir = parts.dataDir;
    this.store = parts.store;
    this.state = parts.state;
    this.#credentials = parts.credentials;
    this.hub = parts.hub;
    this.relay = parts.relay;
    this.#term = parts.term;
    this.#opts = options;
    this.#log = log;
  }

  /** Opens the data directory and log, starts serving, and settles a role. */
  static async start(options: NodeOptions, log: Logger): Promise<Node> {
    const dataDir = await DataDir.open(options.dataDir).catch((err: unknown) => {
      throw describe(err, options.dataDir);
    });
    let store: LogStore | undefined;
    try {
      const state = new ChatState(options.limits?.historySize ?? DEFAULT_LIMITS.historySize);
      let hub: ReplicationHub | undefined;
      store = await LogStore.open(dataDir.logDir, log.child({ component: 'log' }), {
        origin: dataDir.nodeId,
        onDurable: (e) => {
          state.apply(e);
          hub?.stream(e);
        },
        retained: () => state.retained(),
      });
      const term = await readTerm(dataDir.path, dataDir.nodeId, store, log);
      const node: { current?: Node } = {};
      hub = new ReplicationHub({ store, state, log: log.child({ component: 'replication' }), term: () => node.current?.term ?? term });
      const credentials = new CredentialStore({ store, state, log: log.child({ component: 'credentials' }) }, { cost: options.bcryptCost });
      const relay = new Relay({ store, state, credentials, hub, log: log.child({ component: 'relay' }) }, { ...options, nodeId: dataDir.nodeId });
      relay.setRole({ role: 'starting', term, coordinator: undefined, priority: options.priority ?? 0, eligible: options.eligible ?? true });
      await relay.start();
      node.current = new Node({ dataDir, store, state, credentials, hub, relay, term }, options, log);
      await node.current.#settle();
      return node.current;
    } catch (err) {
      await store?.close();
      await dataDir.close();
      throw describe(err, options.dataDir);
    }
  }

  get id(): string {
    return this.dataDir.nodeId;
  }

  get term(): number {
    return this.#term;
  }

  get role(): RoleInfo {
    return this.relay.role;
  }

  /** Leaves: a coordinator hands off to its successor first (DESIGN §4.6). Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      clearInterval(this.#maintain);
      this.#link?.stop();
      if (this.role.role === 'coordinator' && this.hub.succession.length > 0) {
        this.hub.off('change', this.#onHubChange); // standbys leaving now must not shorten the list we hand off
        this.#publishSuccession(true);
        await new Promise((r) => setTimeout(r, HANDOFF_GRACE_MS));
      }
      this.hub.close();
      await this.relay.stop();
      await this.#opts.discovery?.stop();
      await this.#credentials.close();
      await this.store.close();
      await this.dataDir.close();
    })();
    return this.#stopping;
  }

  // ---- start-up ----

  /** Start-up (DESIGN §4.2): join the coordinator we find, or elect one. */
  async #settle(): Promise<void> {
    const d = this.#opts.discovery;
    if (d) {
      d.advertise({ id: this.id, network: this.#network, port: this.relay.address.port });
      d.browse();
    }
    const started = Date.now();
    const window = d || (this.#opts.join?.length ?? 0) > 0 ? (this.#opts.browseMs ?? BROWSE_MS) : 0;
    for (;;) {
      if (this.#stopping) return;
      const statuses = await this.#probeAll(this.#candidates());
      const coordinator = this.#bestCoordinator(statuses);
      if (coordinator) return this.#becomeStandby(coordinator.address);
      const pointed = statuses.find((s) => s.status.coordinator !== null && s.status.role !== 'coordinator');
      if (pointed?.status.coordinator) {
        const c = await fetchStatus(pointed.status.coordinator);
        if (c?.role === 'coordinator' && c.network === this.#network) return this.#becomeStandby(pointed.status.coordinator);
      }
      if (Date.now() - started >= window && (this.#opts.eligible ?? true)) {
        const rivals = statuses.filter((s) => s.status.role === 'starting' && s.status.eligible).map((s) => candidate(s.status));
        if (shouldLead(this.#self(), rivals)) return this.#becomeCoordinator(Math.max(this.#term, ...statuses.map((s) => s.status.term)) + 1);
      }
      await sleep(RETRY_MS);
    }
  }

  get #network(): string {
    return this.#opts.network ?? 'default';
  }

  #self() {
    return { id: this.id, priority: this.#opts.priority ?? 0, position: sumVv(this.store.versionVector) };
  }

  /** Addresses worth asking: `--join`, mDNS peers of our network, and the last succession list. */
  #candidates(): string[] {
    const out = new Set(this.#opts.join ?? []);
    for (const p of this.#opts.discovery?.peers() ?? []) {
      if (p.network === this.#network && p.id !== this.id) for (const a of p.addresses.slice(0, 2)) out.add(`${a}:${p.port}`);
    }
    const s = this.#lastSuccession;
    if (s) for (const e of [s.coordinator, ...s.standbys]) if (e.id !== this.id) out.add(e.address);
    return [...out];
  }

  async #probeAll(addresses: string[]): Promise<{ address: string; status: Status }[]> {
    const answers = await Promise.all(addresses.map(async (address) => ({ address, status: await fetchStatus(address) })));
    const seen = new Set<string>();
    return answers.filter((a): a is { address: string; status: Status } => {
      if (!a.status || a.status.network !== this.#network || a.status.id === this.id || seen.has(a.status.id)) return false;
      seen.add(a.status.id);
      return true;
    });
  }

  #bestCoordinator(statuses: { address: string; status: Status }[]): { address: string; status: Status } | undefined {
    const coords = statuses.filter((s) => s.status.role === 'coordinator');
    if (coords.length === 0) return undefined;
    return coords.reduce((a, b) => (resolveCoordinators({ ...candidate(a.status), term: a.status.term }, { ...candidate(b.status), term: b.status.term }).id === a.status.id ? a : b));
  }

  // ---- roles ----

  async #becomeCoordinator(term: number): Promise<void> {
    if (this.#stopping) return;
    this.#link?.stop();
    this.#link = undefined;
    this.#term = term;
    await writeFileAtomic(this.dataDir.path, 'term', `${term}\n`);
    this.store.setOrigin(`${this.id}.${term}`); // a new origin per term: sequence numbers never collide after a crash
    this.#setRole({ role: 'coordinator', term, coordinator: undefined, priority: this.#opts.priority ?? 0, eligible: true });
    if (this.state.secret === undefined) {
      await this.store.append([{ kind: 'secret', value: randomBytes(32).toString('base64'), created: Date.now() }]);
    }
    this.hub.on('change', this.#onHubChange);
    this.#publishSuccession(false);
    this.#log.info({ term }, 'coordinator');
    this.#maintain = setInterval(() => void this.#lookForRivals(), MAINTAIN_MS);
    this.#maintain.unref();
  }

  readonly #onHubChange = (): void => this.#publishSuccession(false);

  #publishSuccession(leaving: boolean): void {
    if (this.role.role !== 'coordinator') return;
    const me = { id: this.id, address: this.#ownAddress() };
    const frame = {
      type: 'succession' as const,
      term: this.#term,
      coordinator: me,
      standbys: this.hub.succession.map((l) => ({ id: l.id, address: l.address })),
      ...(leaving ? { leaving: true } : {}),
    };
    this.#lastSuccession = frame;
    this.relay.publishSuccession(frame);
    void this.#remember(frame);
  }

  /** The address standbys and clients use for us: the first LAN address, else the bound one. */
  #ownAddress(): string {
    const a = this.relay.address;
    const host = a.address === '0.0.0.0' || a.address === '::' ? (this.#lanAddress ?? '127.0.0.1') : a.address;
    return `${host}:${a.port}`;
  }

  #lanAddress: string | undefined;

  /** Used by the CLI to say which address is ours on the LAN. */
  setAdvertisedHost(host: string): void {
    this.#lanAddress = host;
  }

  #becomeStandby(address: string): void {
    if (this.#stopping) return;
    clearInterval(this.#maintain);
    this.hub.off('change', this.#onHubChange);
    const eligible = this.#opts.eligible ?? true;
    // The relay redirects callers at once; the role is announced once the coordinator has welcomed us.
    this.relay.setRole({ role: eligible ? 'standby' : 'observer', term: this.#term, coordinator: address, priority: this.#opts.priority ?? 0, eligible });
    const link = new StandbyLink(
      { store: this.store, state: this.state, log: this.#log.child({ component: 'standby' }) },
      {
        address,
        nodeId: this.id,
        network: this.#network,
        port: this.relay.address.port,
        priority: this.#opts.priority ?? 0,
        eligible,
        term: this.#term,
        ...(this.#opts.networkPassword === undefined ? {} : { networkPassword: this.#opts.networkPassword }),
        ...(this.#opts.nodePassword === undefined ? {} : { nodePassword: this.#opts.nodePassword }),
      },
    );
    this.#link = link;
    link.on('up', (term) => {
      this.#term = Math.max(this.#term, term);
      this.#setRole({ ...this.role, term: this.#term });
      this.#log.info({ coordinator: address, term }, 'standby');
    });
    link.on('succession', (s) => {
      this.#lastSuccession = s;
      void this.#remember(s);
    });
    link.on('end', (end) => void this.#onLinkEnd(address, end));
    link.start();
  }

  async #onLinkEnd(address: string, end: LinkEnd): Promise<void> {
    if (this.#stopping) return;
    this.#link = undefined;
    if (end.kind === 'redirect' && end.coordinator) return this.#becomeStandby(end.coordinator);
    if (end.kind === 'refused') this.#log.error({ coordinator: address, reason: end.reason }, `cannot stand by for the coordinator at ${address}; trying again in ${REFUSED_RETRY_MS / 1000} s`);
    if (end.kind === 'lost' && end.succession) return this.#failover(end.succession, address);
    this.#setRole({ ...this.role, role: 'starting', coordinator: undefined });
    // A refusal (passwords) will not change by itself soon: do not hammer the coordinator or fill the log.
    await sleep(end.kind === 'refused' ? REFUSED_RETRY_MS : RETRY_MS);
    return this.#settle();
  }

  /** Failover (DESIGN §4.3): the first live entry of the succession list takes over; everyone else joins it. */
  async #failover(succession: Succession, dead: string): Promise<void> {
    this.#setRole({ ...this.role, role: 'starting', coordinator: undefined });
    const list = succession.standbys;
    const waitingSince = new Map<number, number>();
    this.#log.warn({ dead, term: succession.term }, 'coordinator lost; following the succession list');
    for (;;) {
      if (this.#stopping) return;
      const probes: Probe[] = await Promise.all(
        list.map(async (e, i): Promise<Probe> => {
          if (e.id === this.id) return { kind: 'self' };
          const since = waitingSince.get(i);
          if (since !== undefined && Date.now() - since > WAIT_FOR_SUCCESSOR_MS) return { kind: 'unreachable' };
          const st = await fetchStatus(e.address);
          if (!st || st.id !== e.id) return { kind: 'unreachable' };
          if (st.role === 'coordinator') return { kind: 'coordinator', term: st.term };
          return { kind: 'standby' };
        }),
      );
      const step = nextStep(probes, succession.term);
      if (step.act === 'lead') {
        if (!(this.#opts.eligible ?? true)) return this.#settle();
        return this.#becomeCoordinator(Math.max(this.#term, succession.term) + 1);
      }
      if (step.act === 'join') return this.#becomeStandby(list[step.index]!.address);
      if (!waitingSince.has(step.index)) waitingSince.set(step.index, Date.now());
      await sleep(RETRY_MS);
    }
  }

  /** A coordinator checks that it is the only one (healed partitions, DESIGN §4.5). */
  async #lookForRivals(): Promise<void> {
    if (this.role.role !== 'coordinator' || this.#stopping) return;
    this.#opts.discovery?.refresh();
    const statuses = await this.#probeAll(this.#candidates());
    const rival = this.#bestCoordinator(statuses);
    if (!rival || this.role.role !== 'coordinator') return;
    const me = { ...this.#self(), term: this.#term };
    const winner = resolveCoordinators(me, { ...candidate(rival.status), term: rival.status.term });
    if (winner.id === this.id) return; // the other one steps down and merges into us
    this.#log.warn({ rival: rival.address, term: rival.status.term }, 'another coordinator outranks this one: stepping down and merging');
    clearInterval(this.#maintain);
    this.hub.off('change', this.#onHubChange);
    this.#setRole({ role: 'standby', term: this.#term, coordinator: rival.address, priority: this.#opts.priority ?? 0, eligible: true });
    this.hub.close();
    this.#becomeStandby(rival.address);
  }

  #setRole(role: RoleInfo): void {
    this.relay.setRole(role);
    this.emit('role', role);
  }

  /** Remembers the network's coordinator and succession list, for when mDNS finds nothing (issue #4). */
  async #remember(s: Succession): Promise<void> {
    try {
      await writeFileAtomic(this.dataDir.path, `known-${this.#network}.json`, JSON.stringify({ coordinator: s.coordinator, standbys: s.standbys, term: s.term }));
    } catch (err) {
      this.#log.debug({ err }, 'could not remember the succession list');
    }
  }
}

function candidate(s: Status) {
  return { id: s.id, priority: s.priority, position: s.position };
}

function sumVv(vv: ReadonlyMap<string, number>): number {
  let n = 0;
  for (const v of vv.values()) n += v;
  return n;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}

/**
 * The last term this node coordinated in: the `term` file, and never less than
 * the terms its own entries in the log carry (origin `<id>.<term>`), so a lost
 * or damaged file cannot take the node back to an older term.
 */
async function readTerm(dir: string, nodeId: string, store: LogStore, log: Logger): Promise<number> {
  let fromLog = 0;
  for (const origin of store.versionVector.keys()) {
    const m = /^([0-9a-f]+)\.(\d+)$/.exec(origin);
    if (m?.[1] === nodeId) fromLog = Math.max(fromLog, Number(m[2]));
  }
  const file = join(dir, 'term');
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (text === undefined) return fromLog;
  const n = Number(text.trim());
  if (!/^\d{1,15}\n?$/.test(text) || !Number.isSafeInteger(n)) {
    log.warn({ file, fromLog }, `${file} is damaged; going on from the highest term in the log (${fromLog})`);
    return fromLog;
  }
  return Math.max(n, fromLog);
}

/** A raw fs error names no file: say which directory it concerns. */
function describe(err: unknown, dir: string): unknown {
  const e = err as NodeJS.ErrnoException;
  return e.syscall !== undefined ? new DataDirError(`cannot use data directory ${dir}: ${e.message}`) : err;
}
