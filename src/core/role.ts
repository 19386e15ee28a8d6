import type { Role, Status } from '../protocol/status.js';
import { compareRank, nextStep, resolveCoordinators, type Candidate, type Probe } from './election.js';

/**
 * The node's role as a pure state machine (DESIGN §4): start-up, election,
 * failover, rival coordinators, terms, fencing and hand-off. No clock, no
 * I/O: every event carries the time, and the machine answers with actions
 * (probe these addresses, save this term, join that node, lead…) that a
 * driver carries out and reports back as events — the shape of etcd's raft.
 */

export interface SuccessionEntry {
  id: string;
  address: string;
}

/** Who coordinates, at which term, and who takes over next, in order (DESIGN §4.3). */
export interface Succession {
  term: number;
  coordinator: SuccessionEntry;
  standbys: SuccessionEntry[];
  /** The coordinator is leaving cleanly: the first standby takes over now. */
  leaving?: boolean;
  /** The highest term the coordinator has heard of, when above its own: a successor's term goes above it. */
  highest?: number;
}

/** What `/status` answers and what a redirect tells a caller. */
export interface RoleInfo {
  role: Role;
  term: number;
  /** The coordinator's `host:port`, when known (undefined while we are it: callers reach us). */
  coordinator: string | undefined;
  priority: number;
  eligible: boolean;
  /** Standing by, but not welcomed yet (the link is being set up): callers are redirected, nobody is told. */
  joining?: true;
}

/** Whether two RoleInfo say the same (every field: a step compares the node's before and after). */
function sameInfo(a: RoleInfo, b: RoleInfo): boolean {
  return a.role === b.role && a.term === b.term && a.coordinator === b.coordinator && a.priority === b.priority && a.eligible === b.eligible && a.joining === b.joining;
}

/** Why a standby's link to its coordinator ended. */
export type LinkEnd =
  /**
   * Closed or silent. `dropped`: the coordinator closed the link on purpose (it found this node silent, or a
   * newer link replaced it): it is alive, so this node stands by again rather than taking over.
   */
  | { kind: 'lost'; succession: Succession | undefined; reason?: 'closed' | 'silent' | 'dropped' }
  | { kind: 'redirect'; coordinator: string | null; term: number }
  | { kind: 'refused'; reason: string };

/** Timings (ms). Defaults in ROLE_TIMING; the simulator and tests may shorten them. */
export interface RoleTiming {
  /** Start-up: look around this long before electing (DESIGN §4.2)… */
  browseMs: number;
  /** …and up to this long for remembered members of the network that have not answered yet (a restart storm). */
  browseMaxMs: number;
  /** A start-up answer counts this long. */
  staleMs: number;
  /** Between probing rounds while starting or in failover. */
  retryMs: number;
  /** After a coordinator refused this node (passwords), or this node refused it. */
  refusedRetryMs: number;
  startupProbeMs: number;
  /** A successor that does not answer this fast is skipped for now (a frozen process accepts TCP but never answers). */
  failoverProbeMs: number;
  /** A live successor that has not taken over by then is skipped. */
  waitForSuccessorMs: number;
  /** A coordinator looks for rival coordinators this often (healed partitions)… */
  maintainMs: number;
  /** …and waits this long for slow answers (however slowly nodes answer, a rival is found). */
  rivalProbeMs: number;
  /** A fenced coordinator (it lost its last standby, or was frozen) checks for a successor this long before acknowledging alone. */
  fenceProbeMs: number;
  /** A gap this long between ticks means the process was frozen (SIGSTOP, a stalled VM): others may have taken over. */
  stallMs: number;
  /** A leaving coordinator lets its messages in flight finish this long at most… */
  handoffDrainMs: number;
  /** …then tells everyone, and gives its successor this long to take over before closing. */
  handoffGraceMs: number;
}

/** Addresses of this network remembered for rival rounds (nodes that answered, members of succession lists). */
const MAX_ADDRESSES = 256;
/** Probes asked for by `/status?from=` hints that may be out at once. */
const MAX_HINT_PROBES = 8;
/** Hinted addresses remembered within a round (more in one round are not asked: hints are unauthenticated). */
const MAX_HINTED = 256;

export const ROLE_TIMING: Readonly<RoleTiming> = Object.freeze({
  browseMs: 1_000, // mDNS answers a query in ~20 ms; a second covers a slow LAN (DESIGN §4.2)
  browseMaxMs: 3_000,
  staleMs: 3_000,
  retryMs: 100,
  refusedRetryMs: 10_000,
  startupProbeMs: 1_500,
  failoverProbeMs: 500,
  waitForSuccessorMs: 3_000, // a standby notices a dead coordinator within its 1 s silence bound
  maintainMs: 1_000,
  rivalProbeMs: 10_000,
  fenceProbeMs: 1_000,
  stallMs: 1_000, // = a standby's silence bound: after that long, a standby may have taken over
  handoffDrainMs: 500,
  handoffGraceMs: 300,
});

export interface NodeSelf {
  id: string;
  network: string;
  priority: number;
  /** False for `--no-coordinator`: never coordinates, holds no replica. */
  eligible: boolean;
}

/** One answer of a probe round: the address asked, and its status if it answered sensibly in time. */
export interface Answer {
  address: string;
  status: Status | undefined;
}

export type RoleEvent =
  | { type: 'tick'; now: number }
  /** Addresses worth asking (`--join`, mDNS peers of our network), as the driver sees them now. */
  | { type: 'candidates'; addresses: readonly string[] }
  | { type: 'probed'; probe: number; answers: readonly Answer[]; now: number }
  /**
   * One answer of a probe of several addresses, as it comes (the `probed` that follows carries them all): the
   * terms it names are known at once, so a term being saved meanwhile is never one another node is heard to hold.
   */
  | { type: 'answer'; probe: number; answer: Answer; now: number }
  | { type: 'term-saved'; term: number; now: number }
  /** The coordinator welcomed this node as a standby. */
  | { type: 'link-up'; term: number; now: number }
  | { type: 'link-succession'; succession: Succession }
  | { type: 'link-end'; end: LinkEnd; now: number }
  /** As coordinator: no standby is left in the succession list. */
  | { type: 'successor-lost'; now: number }
  /** As coordinator: a node stood by that has seen this term. */
  | { type: 'peer-term'; term: number; now: number }
  /** As coordinator: the store cannot write (`ok: false`) or can again. `successor`: where to hand off. */
  | { type: 'storage'; ok: boolean; successor: string | undefined; now: number }
  | { type: 'stop'; hasSuccessor: boolean; now: number }
  /** As a leaving coordinator: nothing of ours is in flight any more. */
  | { type: 'drained'; now: number }
  /** A coordinator asked us for our status (a healed partition: it may outrank us). */
  | { type: 'hint'; address: string; now: number };

export type RoleAction =
  /** Ask these addresses for `/status`; `from`: tell them we coordinate here (a rival that outranks us may not know us). */
  | { type: 'probe'; probe: number; addresses: string[]; timeoutMs: number; from?: string }
  /** Persist the term before acting on it. `term-saved` follows. */
  | { type: 'save-term'; term: number }
  /** Open a standby link to this address (closing any other). */
  | { type: 'join'; address: string }
  /** Take the coordinator role in `term` (saved). */
  | { type: 'lead'; term: number; succession: Succession | undefined }
  /** A running coordinator moves to a new term (a standby had seen ours). */
  | { type: 'new-term'; term: number }
  /** Stop coordinating: redirect everyone to `to` (or nobody) and merge into it as a standby. */
  | { type: 'step-down'; to: string | undefined }
  /** Acknowledging alone is not (`on`) or again (`off`) allowed. */
  | { type: 'fence'; on: boolean }
  /** Refuse new sends (leaving) or storage-full mode. */
  | { type: 'accepting'; sends: 'yes' | 'no' | 'storage_full' }
  /** Tell everyone the successor takes over now. */
  | { type: 'hand-off' }
  | { type: 'role'; info: RoleInfo }
  | { type: 'stopped' }
  | { type: 'log'; level: 'debug' | 'info' | 'warn' | 'error'; msg: string; data?: Record<string, unknown> };

type State =
  | {
      kind: 'starting';
      since: number;
      next: number;
      seen: Map<string, { status: Status; address: string; at: number }>;
      /** Coordinators other nodes named: asked at once; while one has not answered, nobody is elected. */
      pointed: Set<string>;
      awaiting: Set<string>;
      /** Ids of the nodes that answered. */
      answered: Set<string>;
      /** Addresses whose probe has come back (an answer, a refusal, a timeout) at least once. */
      returned: Set<string>;
    }
  /** About to lead this term once it is saved; `startup`: elected at start-up (not by failover). */
  | { kind: 'saving'; term: number; succession: Succession | undefined; startup?: boolean }
  /** Linking to a coordinator; `welcomed`: it welcomed us in this term, which is being saved before we say so. */
  | { kind: 'joining'; address: string; welcomed?: number }
  | { kind: 'standby'; address: string }
  | { kind: 'failover'; succession: Succession; waiting: Map<string, number>; next: number }
  | {
      kind: 'coordinator';
      fenced: boolean;
      nextRival: number;
      mode: 'serving' | 'leaving' | 'handing-off' | 'full';
      /** Leaving: when the drain started, and when the hand-off went out. */
      leavingAt?: number;
      handoffAt?: number;
      bump?: number;
    }
  | { kind: 'stopped' };

type ProbePurpose = 'startup' | 'failover' | 'rival' | 'fence';
/** A probe of one address: a rival or start-up check, or (`failover`) of the coordinator we lost. */
type SinglePurpose = 'rival' | 'startup' | 'failover';

/** The role machine. Construct, then feed events; each `step` returns what to do. */
export class RoleMachine {
  readonly #self: NodeSelf;
  readonly #t: RoleTiming;
  readonly #position: () => number;
  #term: number;
  /** The highest term heard of (from any answer or link): a new coordinator's term is above it. */
  #known: number;
  #state: State;
  #candidates: string[] = [];
  /** The last succession list seen (ours, or our coordinator's); remembered across restarts by the driver. */
  #succession: Succession | undefined;
  #probe: { id: number; purpose: ProbePurpose } | undefined;
  /**
   * Rival rounds run beside everything else and may overlap: a slow answer holds only its own round, and an
   * address still being asked is not asked again (however slowly a node answers, a rival is found).
   */
  readonly #singles = new Map<number, { purpose: SinglePurpose; address: string; at: number; hinted: boolean }>();
  /** When each hinted address was last asked (bounded): a hint is answered at most once a round per address. */
  readonly #hintedAt = new Map<string, number>();
  #nextProbeId = 1;
  /** The latest time an event carried (a tick, an answer): a long gap since means this process was frozen. */
  #lastTick: number;
  /** When this process last found itself frozen (a late tick): silence heard just after means nothing. */
  #stalledAt = -Infinity;
  #address: string | undefined;
  #storageOk = true;
  /**
   * Every node address met in a succession list (bounded): after a split, the other side's nodes leave our
   * list, and are the ones to ask when it heals.
   */
  readonly #everyone = new Set<string>();
  /** The highest term heard of from other nodes (not our own elections). */
  #heard = 0;
  /** The term this node leads in, while it coordinates. */
  #leading = 0;
  /** The highest term a save was asked for. */
  #asked = 0;
  /** The term saved to disk: what this node says it is in (never more than it could remember after a crash). */
  #saved: number;
  #out: RoleAction[] = [];

  constructor(self: NodeSelf, persisted: { term: number; succession?: Succession }, now: number, options: { timing?: Partial<RoleTiming>; position: () => number }) {
    this.#self = self;
    this.#t = { ...ROLE_TIMING, ...options.timing };
    this.#position = options.position;
    this.#term = persisted.term;
    this.#saved = persisted.term;
    // A hand-off we made means our successor took the next term: a term of ours must be above it.
    const s = persisted.succession;
    this.#known = Math.max(persisted.term, s === undefined ? 0 : Math.max(s.highest ?? 0, s.term + (s.leaving && s.coordinator.id === self.id ? 1 : 0)));
    this.#succession = persisted.succession;
    for (const e of persisted.succession ? [persisted.succession.coordinator, ...persisted.succession.standbys] : []) if (e.id !== self.id) this.#everyone.add(e.address);
    this.#state = this.#starting(now, 0);
    this.#lastTick = now;
  }

  /** The term it leads in when coordinating; else the highest term it has stood by in or heard of. */
  get term(): number {
    return this.#state.kind === 'coordinator' ? this.#leading : this.#term;
  }

  get succession(): Succession | undefined {
    return this.#succession;
  }

  /** The highest term heard of. */
  get known(): number {
    return this.#known;
  }

  /** A later term than `info.term` heard of, if any (`/status` tells it, so that whoever asks moves past it too). */
  get highest(): number | undefined {
    return this.#known > this.info.term ? this.#known : undefined;
  }

  get kind(): State['kind'] {
    return this.#state.kind;
  }

  /** Whether this node coordinates now (and is not stepping down). */
  get coordinating(): boolean {
    return this.#state.kind === 'coordinator';
  }

  /** A coordinator on its way out (SIGTERM): nothing it publishes now should replace the hand-off. */
  get leaving(): boolean {
    const s = this.#state;
    return s.kind === 'coordinator' && (s.mode === 'leaving' || s.mode === 'handing-off');
  }

  get info(): RoleInfo {
    // Object literals, not `{ ...base, … }`: a spread here cost ~2.5 µs a call on Node 20 (50× a literal), and
    // every step reads this twice (measured in the simulator, where it was the hottest function).
    const s = this.#state;
    const { priority, eligible } = this.#self;
    switch (s.kind) {
      case 'coordinator':
        // The term it leads in (saved before it led; a move past a later one shows once saved).
        return { role: 'coordinator', term: this.#leading, coordinator: undefined, priority, eligible };
      case 'joining':
        return { role: eligible ? 'standby' : 'observer', term: this.#saved, coordinator: s.address, priority, eligible, joining: true };
      case 'standby':
        return { role: eligible ? 'standby' : 'observer', term: this.#saved, coordinator: s.address, priority, eligible };
      default:
        return { role: 'starting', term: this.#saved, coordinator: undefined, priority, eligible };
    }
  }

  /** Handles one event; returns the actions, in order. */
  step(ev: RoleEvent): RoleAction[] {
    this.#out = [];
    const before = this.info;
    if ('now' in ev && ev.type !== 'tick') this.#noticeStall(ev.now);
    this.#on(ev);
    // Stopping is not a role change anyone is told of: the process goes (its sessions close with 1001).
    if (this.#state.kind !== 'stopped') {
      const after = this.info;
      if (!sameInfo(before, after)) this.#out.push({ type: 'role', info: after });
    }
    return this.#out;
  }

  #on(ev: RoleEvent): void {
    const s = this.#state;
    if (s.kind === 'stopped') return;
    switch (ev.type) {
      case 'candidates':
        this.#candidates = [...ev.addresses];
        return;
      case 'tick':
        return this.#tick(ev.now);
      case 'probed': {
        const single = this.#singles.get(ev.probe);
        if (single !== undefined) {
          this.#singles.delete(ev.probe);
          if (single.purpose === 'failover') return this.#lostAnswered(ev.answers);
          return this.#probed(single.purpose, ev.answers, ev.now);
        }
        if (this.#probe?.id !== ev.probe) return;
        const purpose = this.#probe.purpose;
        this.#probe = undefined;
        return this.#probed(purpose, ev.answers, ev.now);
      }
      case 'answer':
        if (this.#probe?.id === ev.probe) this.#answered(this.#probe.purpose, ev.answer);
        return;
      case 'term-saved':
        this.#saved = Math.max(this.#saved, ev.term);
        if (s.kind === 'joining' && s.welcomed !== undefined && s.welcomed <= this.#saved) this.#state = { kind: 'standby', address: s.address };
        if (s.kind === 'saving' && ev.term === s.term) {
          // Another node took this term while we saved it (we heard of it meanwhile): take the next one instead.
          if (this.#heard >= s.term) return this.#saveAndLead(s.succession, s.startup);
          return this.#lead(s.term, s.succession, ev.now);
        }
        if (s.kind === 'coordinator' && s.bump === ev.term) {
          delete s.bump;
          // Heard of this term (or a later one) held elsewhere while we saved it: past that one instead.
          if (this.#heard >= ev.term) return this.#bump(s, this.#heard);
          this.#leading = ev.term;
          this.#out.push({ type: 'new-term', term: ev.term });
        }
        return;
      case 'link-up':
        if (s.kind !== 'joining') return;
        this.#raiseTerm(ev.term);
        // Said to be a standby of this term only once the term is saved: after a crash it is still the term.
        if (this.#saved >= ev.term) this.#state = { kind: 'standby', address: s.address };
        else s.welcomed = ev.term;
        return;
      case 'link-succession':
        if (s.kind !== 'standby' && !(s.kind === 'joining' && s.welcomed !== undefined)) return;
        this.#succession = ev.succession;
        this.#known = Math.max(this.#known, ev.succession.highest ?? 0); this.#heard = Math.max(this.#heard, ev.succession.highest ?? 0);
        for (const a of this.#members()) this.#addAddress(a);
        this.#raiseTerm(ev.succession.term);
        return;
      case 'link-end':
        if (s.kind === 'joining' || s.kind === 'standby') return this.#linkEnd(ev.end, ev.now, s.kind === 'standby' || s.welcomed !== undefined, s.address);
        return;
      case 'successor-lost':
        if (s.kind === 'coordinator' && s.mode === 'serving' && !s.fenced) this.#fence(s);
        return;
      case 'peer-term':
        this.#known = Math.max(this.#known, ev.term); this.#heard = Math.max(this.#heard, ev.term);
        if (s.kind === 'coordinator') this.#bump(s, ev.term);
        return;
      case 'storage':
        return this.#storage(ev.ok, ev.successor);
      case 'stop':
        return this.#stop(ev.hasSuccessor, ev.now);
      case 'drained':
        if (s.kind === 'coordinator' && s.mode === 'leaving') this.#handOff(s, ev.now);
        return;
      case 'hint': {
        // Only a question: the answer to our own probe decides, and only an address that answers as a node of
        // this network is remembered. Unauthenticated, so bounded: an address asked recently is not asked
        // again, and at most MAX_HINT_PROBES hinted probes are out at once.
        // (Two coordinators that hint each other would otherwise ask each other back and forth at the speed of
        // the network: one whose answer does not make it step down, as when leaving, kept both busy.)
        if (s.kind !== 'coordinator' || ev.address === this.#address) return;
        const since = ev.now - this.#t.maintainMs;
        if ((this.#hintedAt.get(ev.address) ?? -Infinity) > since) return;
        const asking = this.#asking('rival', since);
        if (asking.has(ev.address) || [...this.#singles.values()].filter((x) => x.hinted).length >= MAX_HINT_PROBES) return;
        if (this.#hintedAt.size >= MAX_HINTED) for (const [a, at] of this.#hintedAt) if (at <= since) this.#hintedAt.delete(a);
        if (this.#hintedAt.size >= MAX_HINTED) return;
        this.#hintedAt.set(ev.address, ev.now);
        this.#single('rival', ev.address, this.#t.rivalProbeMs, ev.now, true);
        return;
      }
    }
  }

  /**
   * Whatever event comes first after a freeze (a late tick, answers that waited in the socket) shows the gap:
   * starting or in failover, what we heard before is stale and the others moved on.
   */
  #noticeStall(now: number): void {
    const gap = now - this.#lastTick;
    this.#lastTick = Math.max(this.#lastTick, now);
    if (gap <= this.#t.stallMs) return;
    this.#stalledAt = now;
    const s = this.#state;
    if (s.kind === 'starting') this.#state = this.#starting(now, 0);
    if (s.kind === 'failover') s.waiting.clear();
    if (s.kind === 'coordinator' && s.mode === 'serving') {
      // Frozen again while a check was out: its answers (or its timeout) say nothing of the time since; ask again.
      if (!s.fenced) this.#out.push({ type: 'log', level: 'warn', msg: 'this process was frozen: checking that no other node took over before acknowledging alone', data: { gapMs: gap } });
      this.#fence(s);
    }
  }

  #tick(now: number): void {
    this.#noticeStall(now);
    const s = this.#state;
    switch (s.kind) {
      case 'starting': {
        if (now >= s.next) {
          s.next = now + this.#t.retryMs;
          // While remembered members have not answered, wait for slow answers up to the end of the longer window;
          // so too for an address given or found whose first probe has not come back (see #startup).
          const missing = this.#memberEntries().some((m) => !s.answered.has(m.id));
          const stretched = Math.max(this.#t.startupProbeMs, this.#t.browseMaxMs - (now - s.since));
          // Each address on its own: a slow or cut-off node holds up only its own answer.
          const asking = this.#asking('startup');
          for (const address of new Set([...this.#candidates, ...s.pointed, ...this.#members()])) {
            if (!asking.has(address)) this.#single('startup', address, missing || !s.returned.has(address) ? stretched : this.#t.startupProbeMs, now);
          }
        }
        if (now >= s.since) this.#startup(s, [], now);
        return;
      }
      case 'failover':
        if (this.#probe === undefined && now >= s.next) this.#probeSuccessors(s, now);
        return;
      case 'coordinator':
        if (s.mode === 'leaving' && now - s.leavingAt! >= this.#t.handoffDrainMs) return this.#handOff(s, now);
        if (s.mode === 'handing-off' && now - s.handoffAt! >= this.#t.handoffGraceMs) return this.#stopped();
        if (now >= s.nextRival) {
          s.nextRival = now + this.#t.maintainMs;
          // An address asked in the last two rounds and not answered yet is not asked again (slow, not gone);
          // one that has not answered for longer is (a healed cable: the old request may hang a while).
          const asking = this.#asking('rival', now - 2 * this.#t.maintainMs);
          // One probe per address: a slow or cut-off node holds up only its own answer.
          for (const address of new Set(this.#rivalAddresses())) if (!asking.has(address)) this.#single('rival', address, this.#t.rivalProbeMs, now);
        }
        return;
      default:
        return;
    }
  }

  #probed(purpose: ProbePurpose, answers: readonly Answer[], now: number): void {
    const mine = answers.filter((a) => a.status !== undefined && a.status.network === this.#self.network && a.status.id !== this.#self.id);
    for (const a of mine) {
      this.#addAddress(a.address); // a node of this network: asked in every rival round from now on
      this.#learn(a.status!);
    }
    this.#remember();
    const s = this.#state;
    if (purpose === 'startup' && s.kind === 'starting') {
      for (const a of answers) {
        s.awaiting.delete(a.address);
        s.returned.add(a.address);
      }
      return this.#startup(s, mine, now);
    }
    // Elected at start-up, but a coordinator's answer came late, while the term was being saved: it runs, so
    // we join it (sticky leadership). Leading instead would put us a term above it, and the higher term wins
    // when two coordinators meet: a fresh node would take over a running network because it answered slowly.
    if (purpose === 'startup' && s.kind === 'saving' && s.startup === true) {
      const coordinators = mine.filter((a) => a.status!.role === 'coordinator');
      if (coordinators.length > 0) {
        const best = coordinators.reduce((a, b) => (resolveCoordinators(claim(a.status!), claim(b.status!)).id === a.status!.id ? a : b));
        this.#out.push({ type: 'log', level: 'info', msg: 'a coordinator answered while this node was about to lead: joining it', data: { coordinator: best.address, term: best.status!.term } });
        return this.#join(best.address);
      }
    }
    if (purpose === 'failover' && s.kind === 'failover') return this.#failover(s, answers, now);
    if ((purpose === 'rival' || purpose === 'fence') && s.kind === 'coordinator' && !this.leaving) {
      if (this.#outranked(mine)) return;
      // A node that follows another coordinator: ask that one before anything else (it may outrank us).
      const elsewhere = [...new Set(mine.map((a) => a.status!).filter((st) => st.role !== 'coordinator' && st.coordinator !== null && st.coordinator !== this.#address).map((st) => st.coordinator!))];
      if (elsewhere.length > 0) {
        if (purpose === 'fence') this.#send('fence', elsewhere, this.#t.fenceProbeMs);
        else for (const address of elsewhere) this.#single('rival', address, this.#t.rivalProbeMs, now);
        return;
      }
      // A node that has seen a later term and follows nobody (it is starting): it will either lead — then it
      // outranks us — or join us, and we move past its term then (`peer-term`). Until then we stay fenced.
      if (purpose === 'fence' && mine.some((a) => a.status!.role === 'starting' && told(a.status!) > this.#leading)) {
        this.#send('fence', this.#rivalAddresses(), this.#t.fenceProbeMs);
        return;
      }
      if (purpose === 'fence' && s.fenced) {
        s.fenced = false;
        this.#out.push({ type: 'fence', on: false });
      }
    }
  }

  /**
   * One answer of a round of several, before the rest: its terms are known now (a bump being saved checks them),
   * and a coordinator that outranks us is followed at once. What nobody answered is decided when the round ends.
   */
  #answered(purpose: ProbePurpose, answer: Answer): void {
    if (!this.#hear(answer)) return;
    const s = this.#state;
    if ((purpose === 'rival' || purpose === 'fence') && s.kind === 'coordinator' && !this.leaving) this.#outranked([answer]);
  }

  /** An answer of a node of this network: its address is asked from now on, its terms known. False if not one. */
  #hear(answer: Answer): boolean {
    const st = answer.status;
    if (st === undefined || st.network !== this.#self.network || st.id === this.#self.id) return false;
    this.#addAddress(answer.address);
    this.#learn(st);
    this.#remember();
    return true;
  }

  /** The terms a node's status tells of: the one it holds, or a later one it heard of. */
  #learn(st: Status): void {
    const term = told(st);
    this.#known = Math.max(this.#known, term);
    this.#heard = Math.max(this.#heard, term);
  }

  /** As coordinator: steps down to the first of these coordinators that outranks us; true if one did. */
  #outranked(answers: readonly Answer[]): boolean {
    const me = { id: this.#self.id, priority: this.#self.priority, position: this.#position(), term: this.#leading };
    for (const a of answers) {
      const st = a.status!;
      if (st.role !== 'coordinator') continue;
      if (resolveCoordinators(me, { id: st.id, priority: st.priority, position: st.position, term: st.term }).id === st.id) {
        this.#out.push({ type: 'log', level: 'warn', msg: 'another coordinator outranks this one: stepping down and merging', data: { rival: a.address, term: st.term } });
        this.#out.push({ type: 'step-down', to: a.address });
        this.#state = { kind: 'joining', address: a.address };
        return true;
      }
    }
    return false;
  }

  /** Remembers an address of this network; the least recently seen goes first past the bound. */
  #addAddress(address: string): void {
    this.#everyone.delete(address);
    this.#everyone.add(address);
    if (this.#everyone.size > MAX_ADDRESSES) this.#everyone.delete(this.#everyone.values().next().value!);
  }

  /** Asks one address (answers come one by one, each in its own time). */
  #single(purpose: SinglePurpose, address: string, timeoutMs: number, now: number, hinted = false): void {
    const id = this.#nextProbeId++;
    this.#singles.set(id, { purpose, address, at: now, hinted });
    const from = purpose === 'rival' && this.#address !== undefined ? { from: this.#address } : {};
    this.#out.push({ type: 'probe', probe: id, addresses: [address], timeoutMs, ...from });
  }

  /** Addresses being asked for `purpose` (since `after`). */
  #asking(purpose: SinglePurpose, after = -Infinity): Set<string> {
    const out = new Set<string>();
    for (const x of this.#singles.values()) if (x.purpose === purpose && x.at > after) out.add(x.address);
    return out;
  }

  /** Where callers reach this node (so an answer naming it as coordinator is about us). */
  setAddress(address: string): void {
    this.#address = address;
  }

  // ---- start-up (DESIGN §4.2) ----

  /** Start-up, after `delay` (a refusal's back-off): probing and the election windows begin then. */
  #starting(now: number, delay: number): State {
    return { kind: 'starting', since: now + delay, next: now + delay, seen: new Map(), pointed: new Set(), awaiting: new Set(), answered: new Set(), returned: new Set() };
  }

  /** Start-up: what the answers so far say (called with each answer and each tick). */
  #startup(s: Extract<State, { kind: 'starting' }>, answers: readonly Answer[], now: number): void {
    for (const a of answers) {
      s.seen.set(a.status!.id, { status: a.status!, address: a.address, at: now });
      s.answered.add(a.status!.id);
    }
    const fresh = [...s.seen.values()].filter((x) => now - x.at <= this.#t.staleMs);
    // Sticky leadership: a running coordinator stays; we join the best one we see.
    const coordinators = fresh.filter((x) => x.status.role === 'coordinator' && x.at === now);
    if (coordinators.length > 0) {
      const best = coordinators.reduce((a, b) => (resolveCoordinators(claim(a.status), claim(b.status)).id === a.status.id ? a : b));
      return this.#join(best.address);
    }
    // A node that knows a coordinator we did not ask: ask it next round.
    for (const a of answers) {
      const c = a.status!.coordinator;
      if (c !== null && a.status!.role !== 'coordinator' && !s.pointed.has(c) && c !== this.#address) {
        s.pointed.add(c);
        s.awaiting.add(c);
        this.#single('startup', c, this.#t.startupProbeMs, now);
      }
    }
    if (s.awaiting.size > 0) return;
    // A node that cannot write its log does not lead (it could store nothing).
    if (!this.#self.eligible || !this.#storageOk || now - s.since < this.#t.browseMs) return;
    // In a restart storm the members we remember may answer slowly: wait for them a little longer. So too for
    // an address we were given or found (`--join`, mDNS) whose first probe is still out: on a loaded machine
    // a first TLS answer can take longer than the browse window, and the node would lead beside a coordinator.
    const missing = this.#memberEntries().filter((m) => !s.answered.has(m.id));
    const unreturned = this.#candidates.filter((a) => a !== this.#address && !s.returned.has(a));
    if ((missing.length > 0 || unreturned.length > 0) && now - s.since < this.#t.browseMaxMs) return;
    const rivals = fresh.filter((x) => x.status.role === 'starting' && x.status.eligible).map((x) => candidate(x.status));
    const self = { id: this.#self.id, priority: this.#self.priority, position: this.#position() };
    if (rivals.every((r) => compareRank(self, r) < 0)) {
      this.#out.push({ type: 'log', level: 'info', msg: 'no coordinator found: this node ranks first', data: { self, rivals, members: this.#memberEntries().map((m) => m.id), answered: [...s.answered] } });
      this.#saveAndLead(undefined, true);
    }
  }

  // ---- standby ----

  /** In failover, the coordinator we lost answered: if it still coordinates (its term or later), we rejoin it. */
  #lostAnswered(answers: readonly Answer[]): void {
    for (const a of answers) this.#hear(a);
    const s = this.#state;
    if (s.kind !== 'failover') return;
    const lost = s.succession.coordinator;
    const st = answers.find((a) => a.address === lost.address)?.status;
    if (st === undefined || st.id !== lost.id || st.network !== this.#self.network || st.role !== 'coordinator' || st.term < s.succession.term) return;
    this.#out.push({ type: 'log', level: 'info', msg: 'the coordinator is there after all: joining it again', data: { coordinator: lost.address, term: st.term } });
    this.#join(lost.address);
  }

  #join(address: string): void {
    this.#state = { kind: 'joining', address };
    this.#out.push({ type: 'join', address });
  }

  #linkEnd(end: LinkEnd, now: number, welcomed: boolean, address: string): void {
    if (end.kind === 'redirect') {
      this.#known = Math.max(this.#known, end.term); this.#heard = Math.max(this.#heard, end.term);
      if (end.coordinator) return this.#join(end.coordinator);
      this.#state = this.#starting(now, this.#t.retryMs);
      return;
    }
    if (end.kind === 'refused') {
      this.#out.push({ type: 'log', level: 'error', msg: `cannot stand by for the coordinator at ${address}: ${end.reason}; trying again in ${this.#t.refusedRetryMs / 1000} s` });
      this.#state = this.#starting(now, this.#t.refusedRetryMs);
      return;
    }
    const succession = end.succession ?? (welcomed ? this.#succession : undefined);
    // The coordinator dropped us (it lives), or we heard nothing because we were the frozen one: stand by again.
    const unsure = end.reason === 'dropped' || (end.reason === 'silent' && now - this.#stalledAt <= this.#t.stallMs);
    if (succession === undefined || unsure) {
      this.#state = this.#starting(now, this.#t.retryMs);
      return;
    }
    this.#out.push({ type: 'log', level: 'warn', msg: 'coordinator lost; following the succession list', data: { term: succession.term } });
    const s: Extract<State, { kind: 'failover' }> = { kind: 'failover', succession, waiting: new Map(), next: now };
    this.#state = s;
    this.#probeSuccessors(s, now);
  }

  // ---- failover (DESIGN §4.3) ----

  #probeSuccessors(s: Extract<State, { kind: 'failover' }>, now: number): void {
    const list = s.succession.standbys;
    const me = list.findIndex((e) => e.id === this.#self.id);
    if (me === 0 || list.length === 0) return this.#failover(s, [], now); // we are next: nobody to ask
    const ahead = me === -1 ? list : list.slice(0, me);
    this.#send('failover', ahead.map((e) => e.address), this.#t.failoverProbeMs);
  }

  #failover(s: Extract<State, { kind: 'failover' }>, answers: readonly Answer[], now: number): void {
    const byAddress = new Map(answers.map((a) => [a.address, a.status]));
    const probes: Probe[] = s.succession.standbys.map((e): Probe => {
      if (e.id === this.#self.id) return { kind: 'self' };
      const since = s.waiting.get(e.id);
      if (since !== undefined && now - since > this.#t.waitForSuccessorMs) return { kind: 'unreachable' };
      const st = byAddress.get(e.address);
      if (!st || st.id !== e.id || st.network !== this.#self.network) return { kind: 'unreachable' };
      this.#learn(st);
      if (st.role === 'coordinator') return { kind: 'coordinator', term: st.term };
      return { kind: 'standby' };
    });
    // A standby ahead of us still follows the coordinator we lost: it may be we alone who lost it (a link that
    // timed out as a cut healed). Ask it too; if it still coordinates, we go back to it (see #lostAnswered).
    // (Not when it said it was leaving: it is, and the successor is on its way.)
    const lost = s.succession.coordinator.address;
    const ahead = new Map(s.succession.standbys.map((e) => [e.address, e.id]));
    const follows = answers.some(({ address, status: st }) => st !== undefined && ahead.get(address) === st.id && st.network === this.#self.network && (st.role === 'standby' || st.role === 'observer') && st.coordinator === lost);
    if (follows && !s.succession.leaving && lost !== this.#address && !this.#asking('failover').has(lost)) this.#single('failover', lost, this.#t.failoverProbeMs, now);
    const step = nextStep(probes, s.succession.term);
    if (step.act === 'lead') {
      if (!this.#self.eligible || !this.#storageOk) {
        this.#state = this.#starting(now, this.#t.retryMs);
        return;
      }
      return this.#saveAndLead(s.succession);
    }
    if (step.act === 'join') return this.#join(s.succession.standbys[step.index]!.address);
    const id = s.succession.standbys[step.index]!.id;
    if (!s.waiting.has(id)) s.waiting.set(id, now);
    s.next = now + this.#t.retryMs;
  }

  // ---- coordinator ----

  #saveAndLead(succession: Succession | undefined, startup = false): void {
    const term = Math.max(this.#term, this.#known) + 1;
    this.#term = term;
    this.#known = term;
    this.#state = { kind: 'saving', term, succession, ...(startup ? { startup } : {}) };
    this.#out.push({ type: 'save-term', term });
  }

  #lead(term: number, succession: Succession | undefined, now: number): void {
    this.#leading = term;
    this.#state = { kind: 'coordinator', fenced: false, nextRival: now + this.#t.maintainMs, mode: 'serving' };
    this.#out.push({ type: 'lead', term, succession });
  }

  /** Acknowledging alone stops until a probe of everyone we know finds no coordinator that outranks us. */
  /**
   * A coordinator that hears of a later term than its own (a standby of a restart storm that saw one, a node
   * that took over while this one was frozen) moves past it, so the network's term never goes back for anyone
   * who saw that one.
   */
  #bump(s: Extract<State, { kind: 'coordinator' }>, seen: number): void {
    if (seen <= this.#leading || s.bump !== undefined) return;
    s.bump = Math.max(this.#known, seen) + 1;
    this.#term = s.bump;
    this.#known = s.bump;
    this.#out.push({ type: 'save-term', term: s.bump });
  }

  #fence(s: Extract<State, { kind: 'coordinator' }>): void {
    if (!s.fenced) this.#out.push({ type: 'fence', on: true });
    s.fenced = true;
    this.#send('fence', this.#rivalAddresses(), this.#t.fenceProbeMs); // pre-empts a slow rival round
  }

  #storage(ok: boolean, successor: string | undefined): void {
    this.#storageOk = ok;
    const s = this.#state;
    if (s.kind === 'starting' && ok) this.#state = this.#starting(this.#lastTick, 0); // waiting to stand by again: now
    if (s.kind !== 'coordinator') return;
    if (ok) {
      if (s.mode === 'full') {
        s.mode = 'serving';
        this.#out.push({ type: 'accepting', sends: 'yes' });
      }
      return;
    }
    if (s.mode !== 'serving') return;
    if (successor !== undefined) {
      // A coordinator that cannot write hands the network to one that can, and stands by for it.
      this.#out.push({ type: 'log', level: 'error', msg: 'cannot write the log: handing the network to the successor' });
      this.#out.push({ type: 'hand-off' });
      this.#out.push({ type: 'step-down', to: successor });
      this.#state = { kind: 'joining', address: successor };
      return;
    }
    s.mode = 'full';
    this.#out.push({ type: 'log', level: 'error', msg: 'cannot write the log and no standby can take over: sends are refused (storage_full) until space returns' });
    this.#out.push({ type: 'accepting', sends: 'storage_full' });
  }

  #stop(hasSuccessor: boolean, now: number): void {
    const s = this.#state;
    if (s.kind === 'coordinator' && s.mode !== 'leaving' && s.mode !== 'handing-off' && hasSuccessor) {
      // Stop accepting first, so nothing is acknowledged by this node alone once its standbys go (issue #11).
      s.mode = 'leaving';
      s.leavingAt = now;
      this.#out.push({ type: 'accepting', sends: 'no' });
      return;
    }
    if (s.kind === 'coordinator' && (s.mode === 'leaving' || s.mode === 'handing-off')) return;
    this.#stopped();
  }

  #handOff(s: Extract<State, { kind: 'coordinator' }>, now: number): void {
    s.mode = 'handing-off';
    s.handoffAt = now;
    this.#out.push({ type: 'hand-off' });
  }

  #stopped(): void {
    this.#state = { kind: 'stopped' };
    this.#out.push({ type: 'stopped' });
  }

  /** Updates the succession list as this coordinator publishes it. */
  published(succession: Succession): void {
    this.#succession = succession;
    for (const a of this.#members()) this.#addAddress(a);
  }

  // ---- helpers ----

  /**
   * A term heard of is saved too, so that after a crash this node still elects above it: a node that saw a
   * coordinator in term 2 and died before joining it never starts a term 2 of its own.
   */
  #remember(): void {
    if (this.#known <= Math.max(this.#saved, this.#asked)) return;
    this.#asked = this.#known;
    if (this.#state.kind !== 'coordinator' && this.#state.kind !== 'saving') this.#term = Math.max(this.#term, this.#known);
    this.#out.push({ type: 'save-term', term: this.#known });
  }

  #raiseTerm(term: number): void {
    this.#known = Math.max(this.#known, term); this.#heard = Math.max(this.#heard, term);
    if (term > this.#term) {
      this.#term = term;
      this.#out.push({ type: 'save-term', term });
    }
  }

  #send(purpose: ProbePurpose, addresses: string[], timeoutMs: number): void {
    const unique = [...new Set(addresses)];
    const id = this.#nextProbeId++;
    this.#probe = { id, purpose };
    this.#out.push({ type: 'probe', probe: id, addresses: unique, timeoutMs });
  }

  /** Members of the last succession list other than us. */
  #memberEntries(): SuccessionEntry[] {
    const s = this.#succession;
    return s ? [s.coordinator, ...s.standbys].filter((e) => e.id !== this.#self.id) : [];
  }

  #members(): string[] {
    return this.#memberEntries().map((e) => e.address);
  }

  /** Everyone worth asking whether they coordinate: candidates, and every member of every succession list seen. */
  #rivalAddresses(): string[] {
    return [...new Set([...this.#members(), ...this.#candidates, ...this.#everyone])].filter((a) => a !== this.#address);
  }
}

function candidate(s: Status): Candidate {
  return { id: s.id, priority: s.priority, position: s.position };
}

function claim(s: Status) {
  return { ...candidate(s), term: s.term };
}

/** The highest term a status tells of: the one it holds, or a later one its node heard of. */
function told(s: Status): number {
  return Math.max(s.term, s.highest ?? 0);
}
