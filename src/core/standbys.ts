import { successionOrder } from './election.js';
import { covers, dominates, meet, raise, size, type ReadonlyVersionVector, type VersionVector } from './version-vector.js';

/** What a node says of itself when it stands by (`peer:hello`). */
export interface StandbyInfo {
  id: string;
  /** `host:port` where clients and nodes reach it. */
  address: string;
  priority: number;
  /** Holds a replica and may take over (`--no-coordinator` nodes do not). */
  eligible: boolean;
}

/** A standby as the coordinator's book keeps it. */
export interface Standby extends StandbyInfo {
  /** What it holds durably (its acknowledgments). */
  readonly acked: VersionVector;
  /**
   * In the succession list: it caught up, and has acknowledged within the
   * bound since. Only such a standby is waited for, and only it takes over.
   */
  inSync: boolean;
  /** What it must hold to (re)enter the succession list. */
  target: VersionVector;
  /** Rank criterion: entries held. */
  position: number;
}

/**
 * The coordinator's side of replication, as pure bookkeeping (DESIGN §5):
 * which nodes stand by, what each holds, who is in the succession list and
 * in which order, and below what every known replica holds everything (the
 * floor: compaction may drop entries there, never above).
 */
export class StandbyBook {
  readonly #standbys = new Map<string, Standby>();
  /** Replicas that left, with what they held then: the floor waits for them (up to the tail's bound). */
  readonly #departed = new Map<string, VersionVector>();
  /**
   * The succession list as last ranked. Ranked only when membership changes:
   * acks move positions all the time, and the standby waited for must be the
   * one everybody will follow, not whichever is ahead this instant.
   */
  #order: Standby[] = [];

  /** A node said hello. A previous link of the same node is replaced. It enters the succession once caught up with `ours`. */
  attach(info: StandbyInfo, theirs: ReadonlyVersionVector, ours: ReadonlyVersionVector): Standby {
    const acked = new Map(theirs);
    const s: Standby = { ...info, acked, inSync: false, target: new Map(ours), position: size(acked) };
    this.#standbys.set(info.id, s);
    this.#departed.delete(info.id);
    this.#rank();
    return s;
  }

  /** Its link closed. Returns whether the succession list changed. */
  detach(id: string): boolean {
    const s = this.#standbys.get(id);
    if (s === undefined) return false;
    this.#standbys.delete(id);
    if (s.eligible) this.#departed.set(id, s.acked);
    const was = s.inSync;
    this.#rank();
    return was;
  }

  /** Replicas to wait for although they are not attached (the last succession list, after a failover). */
  remember(ids: readonly string[], held: ReadonlyVersionVector): void {
    for (const id of ids) if (!this.#standbys.has(id) && !this.#departed.has(id)) this.#departed.set(id, new Map(held));
  }

  /** A standby reports what it holds. Returns whether it entered the succession list. */
  ack(id: string, vv: ReadonlyVersionVector): boolean {
    const s = this.#standbys.get(id);
    if (s === undefined) return false;
    raise(s.acked, vv);
    s.position = size(s.acked);
    if (!s.inSync && s.eligible && dominates(s.acked, s.target)) {
      s.inSync = true;
      this.#rank();
      return true;
    }
    return false;
  }

  /** It did not acknowledge within the bound: out of the succession list until it holds `ours`. */
  demote(id: string, ours: ReadonlyVersionVector): void {
    const s = this.#standbys.get(id);
    if (s === undefined || !s.inSync) return;
    s.inSync = false;
    s.target = new Map(ours);
    this.#rank();
  }

  /** Ids of every replica the floor waits for (attached or departed). */
  known(): string[] {
    return [...this.#standbys.keys(), ...this.#departed.keys()];
  }

  get(id: string): Standby | undefined {
    return this.#standbys.get(id);
  }

  /** Every attached node. */
  get all(): Standby[] {
    return [...this.#standbys.values()];
  }

  /** In-sync eligible standbys, best first. */
  get succession(): readonly Standby[] {
    return this.#order;
  }

  /** The node that takes over if this coordinator goes: the one acknowledgments wait for. */
  get successor(): Standby | undefined {
    return this.#order[0];
  }

  /** Whether the successor holds `(origin, seq)`; undefined when there is no successor. */
  successorHolds(origin: string, seq: number): boolean | undefined {
    const s = this.successor;
    return s === undefined ? undefined : covers(s.acked, origin, seq);
  }

  /** Below this, every known replica (attached or departed, and this one) holds everything. */
  floor(ours: ReadonlyVersionVector): VersionVector {
    let f: VersionVector = new Map(ours);
    for (const s of this.#standbys.values()) if (s.eligible) f = meet(f, s.acked);
    for (const vv of this.#departed.values()) f = meet(f, vv);
    return f;
  }

  /** Forgets everyone (stepping down). */
  clear(): void {
    this.#standbys.clear();
    this.#departed.clear();
    this.#order = [];
  }

  #rank(): void {
    this.#order = successionOrder([...this.#standbys.values()].filter((s) => s.eligible && s.inSync));
  }
}
