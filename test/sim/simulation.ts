import { messageId, type MessageEntry } from '../../src/protocol/entries.js';
import { visibleTo } from '../../src/core/chat-state.js';
import { userKey } from '../../src/protocol/messages.js';
import { covers, equal } from '../../src/core/version-vector.js';
import { World } from './world.js';
import { SimNode, type Observer } from './sim-node.js';
import { SimClient } from './sim-client.js';
import { Rng } from './rng.js';

/** One fault, at a time (ms) of the schedule. Hosts: `n0…` nodes, `c0…` clients. */
export type Fault = { at: number } & (
  | { kind: 'crash'; node: number; power?: boolean }
  | { kind: 'restart'; node: number }
  | { kind: 'freeze'; node: number }
  | { kind: 'thaw'; node: number }
  | { kind: 'cut'; host: string }
  | { kind: 'uncut'; host: string }
  | { kind: 'split'; groups: string[][] }
  | { kind: 'heal' }
  | { kind: 'stop'; node: number }
  | { kind: 'restart-all' }
  | { kind: 'disk-full'; node: number }
  | { kind: 'disk-ok'; node: number }
  | { kind: 'slow-disk'; node: number; ms: number }
  | { kind: 'mute'; node: number }
  | { kind: 'unmute'; node: number }
  | { kind: 'slow-status'; node: number; ms: number }
  /** A client that starts late, connecting to `node`, under `user` (a name another client has: a conflict). */
  | { kind: 'client'; client: number; user: string; node: number }
);

/** A fault schedule: a seed (latencies, workload), a cluster, and faults. Everything is healed at `duration`. */
export interface Schedule {
  name?: string;
  seed: number;
  nodes: number;
  clients: number;
  /** ms of traffic and faults; then every fault is healed and the network has `settleMs` to converge. */
  duration: number;
  settleMs?: number;
  /** Each client sends every this many ms (a range). */
  sendEveryMs?: [number, number];
  /** Fraction of sends that go to everyone. */
  broadcastShare?: number;
  historySize?: number;
  resumeWindow?: number;
  /** Records before the disk snapshots (compaction); small values exercise snapshots and installs. */
  segmentRecords?: number;
  /** Locked-down mode: no mDNS; the first node knows nobody, the others `--join` it. */
  locked?: boolean;
  /** Clients that start late (by a `client` fault) are not started at first. */
  lateClients?: number[];
  /**
   * Rooms (issue #16): client i joins room r when (i + r) is even, at every login until it is in, and sends a
   * share of its messages to a room it is in; they must reach the members the stored message names.
   */
  rooms?: number;
  faults: Fault[];
}

export interface Outcome {
  schedule: Schedule;
  violations: string[];
  stats: { acked: number; sent: number; delivered: number; gaps: number; coordinators: number; steps: number; terms: number; aloneAcks: number; settledMs: number };
}

const NODE_START_SPREAD_MS = 400;
const CLIENT_START_MS = 2_000;
const DEFAULT_SETTLE_MS = 20_000;
/** After the heal, one coordinator with every node its standby within this long of the last node starting. */
const SETTLE_BOUND_MS = 5_000;
const SAMPLE_MS = 50;
/** After paths change, two coordinators may both serve until one finds the other: a rival round (1 s) and its answers. */
const RIVAL_GRACE_MS = 2_500;

/** Runs one schedule and checks the guarantees (README "Failover", DESIGN §5). */
export function run(schedule: Schedule): Outcome {
  const w = new World(schedule.seed);
  const rng = new Rng(schedule.seed ^ 0x5bd1e995);
  const violations: string[] = [];
  const violate = (v: string) => {
    if (violations.length < 20) violations.push(`${(w.now / 1000).toFixed(2)} s: ${v}`);
  };
  const ids = new Map<string, string>();
  const names = new Map<string, string>();
  const nodes: SimNode[] = [];
  /** A rival is found as fast as its status answer comes: slow answers stretch the grace. */
  const slowest = () => Math.max(0, ...nodes.map((n) => n.knobs.statusDelayMs));
  let aloneAcks = 0;
  let pathsChangedAt = 0;
  /** When each node was last thawed: frozen, it answered no probe, so a rival could not find it (a heal for it). */
  const thawedAt = new Map<string, number>();
  const coordinatorsByTerm = new Map<number, Set<string>>();
  const coordinatorSince = new Map<string, { key: string; at: number }>();

  const observer: Observer = {
    role(node, info) {
      if (info.term < node.highestTerm) violate(`${node.name}'s term went back from ${node.highestTerm} to ${info.term}`);
      const key = `${node.name}/${node.lives}/${info.term}`;
      if (info.role === 'coordinator' && coordinatorSince.get(node.name)?.key !== key) coordinatorSince.set(node.name, { key, at: w.now });
      if (info.role !== 'coordinator') coordinatorSince.delete(node.name);
      if (info.role === 'coordinator') {
        let set = coordinatorsByTerm.get(info.term);
        if (set === undefined) coordinatorsByTerm.set(info.term, (set = new Set()));
        set.add(node.name);
      }
    },
    termClash(node, term, holder) {
      violate(`${node.name} became coordinator in term ${term}, which ${names.get(holder) ?? holder} held, as ${node.name} could know`);
    },
    acked(node, session, frame) {
      void session;
      const core = node.core!;
      const entry = storedById.get(frame.messageId) ?? findEntry(frame.messageId);
      if (entry === undefined) return;
      // A resend acknowledged from a copy another coordinator stored (and never released): remember where it is.
      if (!storedById.has(entry.id)) storedById.set(entry.id, entry);
      // A node holds the message if it holds any copy of it (a resend may be stored twice, once per coordinator).
      const m = byId.get(frame.messageId)!;
      // The members the copy that was acknowledged names (the acknowledging node's copy).
      if (m.room !== undefined && m.to.length === 0) m.to = [...(core.state.duplicateOf(m.from, cidOf.get(frame.messageId)!) ?? entry).to];
      const copies = nodes.map((n) => n.core?.state.duplicateOf(m.from, cidOf.get(frame.messageId)!)).filter((e): e is MessageEntry => e !== undefined);
      const holders = nodes.filter((n) => {
        const mine = n.core?.state.duplicateOf(m.from, cidOf.get(frame.messageId)!);
        return (mine ? [mine] : copies).some((e) => n.holds(e.origin, e.seq)); // a stopped node: its disk
      }).length;
      if (process.env.SIM_WHY !== undefined && new RegExp(process.env.SIM_WHY).test(entry.text)) console.log(`ack ${entry.text} by ${node.name}: holders ${nodes.filter((n) => n.holds(entry.origin, entry.seq)).map((n) => n.name)} succession ${JSON.stringify(core.succession?.standbys.map((x) => x.address))}`);
      if (holders >= 2) return;
      if ((core.succession?.standbys.length ?? 0) > 0) violate(`${node.name} acknowledged ${entry.text} held by ${holders} node(s) while it had a successor`);
      aloneAcks++;
      // Alone, an acknowledgment is only allowed if no other node took over (a thawed coordinator, a leaving one).
      // After a heal, a rival is found within a probing round (DESIGN §4.5): until then both sides go on.
      if (w.now - pathsChangedAt < RIVAL_GRACE_MS + slowest()) return;
      for (const other of nodes) {
        if (other === node || !other.core || !other.host.up || other.host.frozen) continue;
        const since = Math.max(coordinatorSince.get(other.name)?.at ?? 0, thawedAt.get(other.name) ?? 0);
        if (other.core.info.role === 'coordinator' && other.core.term > core.term && w.connected(node.host, other.host) && w.now - since > RIVAL_GRACE_MS + slowest()) {
          violate(`${node.name} (term ${core.term}) acknowledged ${entry.text} alone while ${other.name} coordinates in term ${other.core.term} within its reach`);
        }
      }
    },
    stored(node, entry) {
      void node;
      if (!storedById.has(entry.id)) storedById.set(entry.id, entry);
    },
  };
  const storedById = new Map<string, MessageEntry>();
  const byId = new Map<string, { from: string; to: string[]; text: string; room?: string }>();
  const findEntry = (id: string): MessageEntry | undefined => {
    const m = byId.get(id);
    if (!m) return undefined;
    for (const n of nodes) {
      const e = n.core?.state.duplicateOf(m.from, cidOf.get(id)!);
      if (e) return e;
    }
    return undefined;
  };
  const cidOf = new Map<string, string>();

  const net = {
    observer,
    addresses: () => nodes.map((n) => n.address),
    nodeAt: (address: string) => nodes.find((n) => n.address === address),
    idOf: (name: string) => ids.get(name)!,
    nameOf: (id: string) => names.get(id)!,
  };
  for (let i = 0; i < schedule.nodes; i++) {
    const name = `n${i}`;
    const id = rng.hex(8);
    ids.set(name, id);
    names.set(id, name);
    nodes.push(
      new SimNode(w, net, name, {
        historySize: schedule.historySize ?? 200,
        ...(schedule.resumeWindow === undefined ? {} : { resumeWindow: schedule.resumeWindow }),
        segmentRecords: schedule.segmentRecords ?? 100_000,
        priority: 0,
        ...(schedule.locked ? { join: i === 0 ? [] : ['n0:7777'] } : {}),
      }),
    );
  }
  const clients: SimClient[] = [];
  const late = new Set(schedule.lateClients ?? []);
  // A client may see the term go back only when no running node knows the later one (they all died with it).
  const termBack = (seen: number, coordinator: string, known: ReadonlyMap<number, string> | undefined) => {
    const c = nodes.find((n) => n.address === coordinator);
    if (w.now - pathsChangedAt < RIVAL_GRACE_MS + slowest()) return false; // a heal: two coordinators until one finds the other
    // A violation when that coordinator could know the later term when it sent the list (its ghost had it):
    // it should have moved past it. (What it learned while the list was on its way does not count.)
    return c !== undefined && [...(known ?? c.ghost)].some(([term, holder]) => term >= seen && holder !== c.id);
  };
  const makeClient = (i: number, user: string) => {
    const c = new SimClient(w, `c${i}`, user, () => nodes);
    c.termBack = termBack;
    return c;
  };
  for (let i = 0; i < schedule.clients; i++) clients.push(makeClient(i, `u${i}`));

  // ---- start ----
  for (const n of nodes) w.schedule(rng.int(0, NODE_START_SPREAD_MS), () => n.start());
  clients.forEach((c, i) => {
    if (!late.has(i)) w.schedule(CLIENT_START_MS + rng.int(0, 500), () => c.start(rng.pick(nodes).address));
  });

  // ---- workload ----
  let sent = 0;
  const every = schedule.sendEveryMs ?? [300, 1_200];
  const share = schedule.broadcastShare ?? 0.6;
  const users = clients.map((c) => c.log.user);
  const roomCount = schedule.rooms ?? 0;
  clients.forEach((c, i) => {
    for (let r = 0; r < roomCount; r++) if ((i + r) % 2 === 0) c.join(`room${r}`);
  });
  clients.forEach((c, i) => {
    let k = 0;
    const next = () => {
      if (w.now >= schedule.duration) return;
      if (c.log.firstReady !== undefined && !c.done) {
        const cid = `${c.log.user}-${k++}`;
        const others = users.filter((u) => userKey(u) !== userKey(c.log.user));
        const mine = roomCount > 0 ? [...c.inRooms] : [];
        const room = mine.length > 0 && rng.next() < 0.3 ? rng.pick(mine) : undefined;
        const to = room !== undefined || rng.next() < share || others.length === 0 ? [] : rng.sample(others, rng.int(1, Math.min(2, others.length)));
        const text = `${c.log.user} #${k}`;
        const id = messageId(c.log.user, cid);
        // A room message's recipients are the members the coordinator names when it stores it (set at its ack).
        byId.set(id, { from: c.log.user, to, text, ...(room === undefined ? {} : { room }) });
        cidOf.set(id, cid);
        c.send(cid, text, to, room);
        sent++;
      }
      w.schedule(w.now + rng.int(every[0], every[1]), next);
    };
    w.schedule(CLIENT_START_MS + 1_000 + rng.int(0, 1_000), next);
    void i;
  });

  // ---- faults ----
  const byName = (h: string) => w.host(h);
  for (const f of schedule.faults) {
    w.schedule(f.at, () => {
      switch (f.kind) {
        case 'crash':
          return nodes[f.node]?.crash(f.power === true);
        case 'restart':
          return nodes[f.node]?.start();
        case 'freeze': {
          const h = nodes[f.node]?.host;
          if (h?.up) h.frozen = true;
          return;
        }
        case 'thaw': {
          const h = nodes[f.node]?.host;
          if (h?.frozen) {
            w.thaw(h);
            thawedAt.set(nodes[f.node]!.name, w.now);
          }
          return;
        }
        case 'cut':
          byName(f.host).cut = true;
          return w.pathsChanged();
        case 'uncut':
          byName(f.host).cut = false;
          pathsChangedAt = w.now;
          return w.pathsChanged();
        case 'split':
          for (const h of w.hosts.values()) h.group = 0;
          f.groups.forEach((g, i) => g.forEach((name) => (byName(name).group = i + 1)));
          pathsChangedAt = w.now;
          return w.pathsChanged();
        case 'heal':
          for (const h of w.hosts.values()) h.group = 0;
          pathsChangedAt = w.now;
          return w.pathsChanged();
        case 'stop':
          return nodes[f.node]?.stop();
        case 'restart-all':
          for (const n of nodes) n.crash(false);
          for (const n of nodes) w.schedule(w.now + rng.int(0, 300), () => n.start());
          return;
        case 'disk-full':
          if (nodes[f.node]) nodes[f.node]!.knobs.diskFull = true;
          return;
        case 'disk-ok':
          if (nodes[f.node]) nodes[f.node]!.knobs.diskFull = false;
          return;
        case 'slow-disk':
          if (nodes[f.node]) nodes[f.node]!.knobs.fsyncMs = [f.ms, f.ms * 2];
          return;
        case 'mute':
          if (nodes[f.node]) nodes[f.node]!.knobs.mute = true;
          return;
        case 'unmute':
          if (nodes[f.node]) nodes[f.node]!.knobs.mute = false;
          return;
        case 'slow-status':
          if (nodes[f.node]) nodes[f.node]!.knobs.statusDelayMs = f.ms;
          return;
        case 'client': {
          const c = clients[f.client];
          if (!c) return;
          if (c.log.user !== f.user) {
            const replacement = makeClient(f.client, f.user);
            clients[f.client] = replacement;
            replacement.start(nodes[f.node]?.address ?? nodes[0]!.address);
          } else c.start(nodes[f.node]?.address ?? nodes[0]!.address);
          return;
        }
      }
    });
  }

  // ---- heal everything, let it settle ----
  // When the last node started after the heal, and the last time (sampled) the cluster was not one coordinator
  // with every node its standby.
  let lastStart = schedule.duration;
  let unsettledAt = schedule.duration;
  const settled = () => {
    const leaders = nodes.filter((n) => n.core?.info.role === 'coordinator' && n.host.up && !n.host.frozen);
    const leader = leaders[0];
    return leaders.length === 1 && nodes.every((n) => n === leader || (n.core?.info.role === 'standby' && n.core.info.coordinator === leader!.address && !n.core.info.joining));
  };
  const sample = () => {
    if (!settled()) unsettledAt = w.now;
    if (w.now + SAMPLE_MS <= end) w.schedule(w.now + SAMPLE_MS, sample);
  };
  w.schedule(schedule.duration, sample);
  w.schedule(schedule.duration, () => {
    pathsChangedAt = w.now;
    for (const h of w.hosts.values()) {
      h.group = 0;
      h.cut = false;
      if (h.frozen) w.thaw(h);
    }
    w.pathsChanged();
    for (const n of nodes) {
      n.knobs.diskFull = false;
      n.knobs.mute = false;
      n.knobs.statusDelayMs = 0;
      n.knobs.fsyncMs = [1, 4];
      if (!n.host.up) n.start();
    }
    // A node still handing off at the heal exits just after: start it again too.
    w.schedule(w.now + 3_000, () => {
      for (const n of nodes) {
        if (n.host.up) continue;
        n.start();
        lastStart = w.now;
      }
    });
  });
  const end = schedule.duration + (schedule.settleMs ?? DEFAULT_SETTLE_MS);
  try {
    w.run(end);
  } catch (err) {
    violate(`the simulation failed: ${(err as Error).stack ?? String(err)}`);
  }

  // ---- the checks ----
  const live = nodes.filter((n) => n.core);
  const coordinators = live.filter((n) => n.core!.info.role === 'coordinator');
  if (live.length !== nodes.length) violate(`nodes not running at the end: ${nodes.filter((n) => !n.core).map((n) => n.name).join(', ')}`);
  const settledMs = Math.max(0, unsettledAt + SAMPLE_MS - lastStart);
  if (settledMs > SETTLE_BOUND_MS) violate(`one coordinator with every node its standby only ${(settledMs / 1000).toFixed(2)} s after the last node started (bound ${SETTLE_BOUND_MS / 1000} s)`);
  if (coordinators.length !== 1) violate(`${coordinators.length} coordinators at the end (${coordinators.map((n) => `${n.name}@${n.core!.term}`).join(', ')})`);
  const leader = coordinators[0];
  if (leader) {
    for (const n of live) {
      if (n === leader) continue;
      const info = n.core!.info;
      if (info.role !== 'standby' || info.coordinator !== leader.address) violate(`${n.name} is ${info.role} (coordinator ${info.coordinator}), not a standby of ${leader.name}`);
      if (info.term > leader.core!.term) violate(`${n.name} has term ${info.term}, above the coordinator's ${leader.core!.term}`);
    }
    // It has moved past every term a running node knows was held.
    const highest = Math.max(...live.flatMap((n) => [...n.ghost.keys()]));
    if (highest > leader.core!.term) violate(`the coordinator ${leader.name} ends in term ${leader.core!.term}, below term ${highest} a running node knows`);
    for (const n of live) {
      if (!equal(n.core!.replica.vector, leader.core!.replica.vector)) violate(`replica ${n.name} holds ${vv(n)}; the coordinator ${vv(leader)}`);
      else if (n.core!.state.digest() !== leader.core!.state.digest()) {
        const a = n.core!.state.digest().split('\n');
        const b = leader.core!.state.digest().split('\n');
        const i = a.findIndex((line, k) => line !== b[k]);
        violate(`replica ${n.name} has the same vector as the coordinator but another state: ${a[i]?.slice(0, 200)} | coordinator: ${b[i]?.slice(0, 200)}`);
        if (process.env.SIM_DEBUG === '1') console.log(`DIGEST ${n.name}\n${a.join('\n')}\nDIGEST ${leader.name}\n${b.join('\n')}`);
      }
    }
  }
  // Every acknowledged message is on every replica.
  const acked = new Map<string, number>(); // message id → first ack time
  for (const c of clients) {
    for (const [cid, id] of c.log.acked) {
      const t = c.log.ackedAt.get(cid)!;
      if (!acked.has(id) || acked.get(id)! > t) acked.set(id, t);
    }
  }
  let missingOnReplicas = 0;
  for (const id of acked.keys()) {
    const m = byId.get(id);
    if (!m) {
      violate(`an ack names message ${id}, which nobody sent`);
      continue;
    }
    // Where it is in the log (any replica that stored it knows); every replica must hold that place (it may
    // have compacted it away since: what the chat still shows of it is compared with the states below).
    const e = storedById.get(id) ?? findEntry(id);
    if (e === undefined) {
      violate(`acknowledged "${m.text}" is on no replica`);
      continue;
    }
    for (const n of live) {
      if (!covers(n.core!.replica.vector, e.origin, e.seq)) {
        if (missingOnReplicas++ < 5) violate(`acknowledged "${m.text}" is not on replica ${n.name}`);
      }
    }
  }
  if (missingOnReplicas > 5) violate(`… ${missingOnReplicas} acknowledged message-replica pairs missing in all`);
  // Every client online at the end got every message for it, acknowledged after it first logged in, exactly once.
  let delivered = 0;
  let gaps = 0;
  const displacedAccounts = new Set<string>();
  if (leader) for (const c of clients) for (const u of leader.core!.state.displaced(c.log.user)) displacedAccounts.add(`${userKey(u.name)} ${u.account}`);
  // Members never leave a room here: one who got a room message must be a member at the end (replicas agree then).
  const endRooms = (leader ?? live[0])?.core?.state.rooms;
  for (const c of clients) {
    const log = c.log;
    gaps += log.gaps;
    if (log.termWentBack) violate(`${c.host.name} saw the network's term go back (${log.termWentBack})`);
    if (log.displaced) continue;
    if (log.account !== undefined && displacedAccounts.has(`${userKey(log.user)} ${log.account}`)) {
      violate(`${c.host.name} (${log.user}) lost its name but was not told`);
      continue;
    }
    if (log.firstReady === undefined) {
      if (!late.has(clients.indexOf(c))) violate(`${c.host.name} never logged in`);
      continue;
    }
    if (!c.ready) violate(`${c.host.name} is not connected at the end${log.gaveUp ? ` (${log.gaveUp})` : ''}`);
    if (!c.drained) violate(`${c.host.name} has ${c.core.outbox.size} sends never acknowledged`);
    const key = userKey(log.user);
    let missing = 0;
    for (const [id, t] of acked) {
      const m = byId.get(id)!;
      if (t <= log.firstReady || (m.room !== undefined && m.to.length === 0) || !visibleTo(asEntry(m), key)) continue; // a room message with no copy found: recipients unknown
      if (!log.received.has(id)) {
        missing++;
        if (process.env.SIM_WHY === '1') {
          const e = storedById.get(id) ?? findEntry(id);
          console.log(`${c.host.name} missed "${m.text}" to ${JSON.stringify(m.to)} acked at ${(t / 1000).toFixed(3)} at ${e?.origin}#${e?.seq} ts ${e?.ts?.toFixed(0)}; ready at ${log.readyAt.map((x) => (x / 1000).toFixed(3)).join(',')}`);
        }
      }
    }
    if (missing > 0 && log.gaps === 0) violate(`${c.host.name} (${log.user}) never received ${missing} acknowledged message(s) for it`);
    for (const [id, count] of log.received) {
      delivered++;
      const m = byId.get(id);
      if (!m) violate(`${c.host.name} received message ${id}, which nobody sent`);
      else if (m.room !== undefined ? !endRooms?.isMember(m.room, log.user) : !visibleTo(asEntry(m), key)) violate(`${c.host.name} received "${m.text}", not meant for ${log.user}`);
      if (count > 1) violate(`${c.host.name} received "${m?.text}" ${count} times`);
    }
  }
  if (process.env.SIM_DEBUG === '1') {
    for (const n of live) for (const c of clients) {
      const p = n.core!.state.pendingFor(c.log.user);
      if (p.length > 0) console.log(n.name, 'pending for', c.log.user, p.map((m) => `${m.text}@${m.origin}#${m.seq} pending=${m.pending} ts=${m.ts}`).join('; '));
    }
  }
  if (process.env.SIM_DEBUG === '1') for (const c of clients) console.log(c.host.name, c.log.user, JSON.stringify({ errors: c.log.errors, readyAt: c.log.readyAt, displaced: c.log.displaced, account: c.log.account }));
  return {
    schedule,
    violations,
    stats: { acked: acked.size, sent, delivered, gaps, coordinators: coordinators.length, steps: w.steps, terms: coordinatorsByTerm.size, aloneAcks, settledMs },
  };
}

function asEntry(m: { from: string; to: string[] }): MessageEntry {
  return { kind: 'message', origin: '', seq: 1, id: '', cid: '', from: m.from, to: m.to, text: '', ts: 0, pending: [] };
}

function vv(n: SimNode): string {
  return JSON.stringify([...n.core!.replica.vector].sort());
}
