/**
 * Election and succession rules (DESIGN §4), as pure functions: no clock, no
 * sockets. Every node applies the same rules to the same facts and so reaches
 * the same answer without a vote.
 */

/** What the rules need to know of a node. */
export interface Candidate {
  id: string;
  /** Operator preference (`--priority`); higher wins. */
  priority: number;
  /** How much of the log it holds (sum of its version vector); more wins. */
  position: number;
}

/**
 * Orders candidates best first: priority desc, replica position desc, node id
 * asc. Total and deterministic: ties on the first two are broken by the id.
 */
export function compareRank(a: Candidate, b: Candidate): number {
  return b.priority - a.priority || b.position - a.position || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** The succession list: standbys ranked best first. */
export function successionOrder<T extends Candidate>(standbys: readonly T[]): T[] {
  return [...standbys].sort(compareRank);
}

/**
 * Start-up (DESIGN §4.2): with no live coordinator found, the best-ranked of
 * the eligible nodes that answered takes the role. Returns whether `self` is it.
 */
export function shouldLead(self: Candidate, others: readonly Candidate[]): boolean {
  return others.every((o) => compareRank(self, o) < 0);
}

/** A coordinator as another coordinator sees it: its term and rank. */
export interface CoordinatorClaim extends Candidate {
  term: number;
}

/**
 * Two coordinators of one network meet (a healed partition, DESIGN §4.5): the
 * higher term stays; on equal terms, the better rank. Returns the winner.
 */
export function resolveCoordinators<T extends CoordinatorClaim>(a: T, b: T): T {
  if (a.term !== b.term) return a.term > b.term ? a : b;
  return compareRank(a, b) <= 0 ? a : b;
}

/** What a standby should do about one entry of the succession list, once the coordinator is gone. */
export type Probe =
  | { kind: 'self' }
  | { kind: 'coordinator'; term: number }
  | { kind: 'standby' }
  | { kind: 'unreachable' };

/**
 * Failover (DESIGN §4.3): walk the succession list in order; the first live
 * entry takes over. Given what probing each entry found, returns the action:
 * take over, join the entry that already did, wait for the entry that will,
 * or (list exhausted) take over.
 */
export function nextStep(probes: readonly Probe[], lastTerm: number): { act: 'lead' } | { act: 'join'; index: number } | { act: 'wait'; index: number } {
  for (const [index, p] of probes.entries()) {
    if (p.kind === 'self') return { act: 'lead' };
    if (p.kind === 'coordinator' && p.term > lastTerm) return { act: 'join', index };
    if (p.kind === 'standby') return { act: 'wait', index }; // it is ahead of us and alive: it will take over
    // unreachable, or a coordinator of a stale term: skip it
  }
  return { act: 'lead' };
}
