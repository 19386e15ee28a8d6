/**
 * Version vectors (DESIGN §5): per origin, the highest sequence number of a
 * contiguous prefix. "I hold every entry of origin O up to n" — a replica
 * never advances its vector past a hole. The one home of this arithmetic.
 */

/** Origin → highest sequence number held (as a contiguous prefix). */
export type VersionVector = Map<string, number>;
export type ReadonlyVersionVector = ReadonlyMap<string, number>;
/** The wire and disk form: `[origin, seq]` pairs. */
export type VectorPairs = readonly (readonly [string, number])[];

/** What `vv` holds of `origin` (0: nothing). */
export function at(vv: ReadonlyVersionVector, origin: string): number {
  return vv.get(origin) ?? 0;
}

/** Whether `vv` holds the entry `(origin, seq)`. */
export function covers(vv: ReadonlyVersionVector, origin: string, seq: number): boolean {
  return seq <= at(vv, origin);
}

/** Whether `a` holds everything `b` holds. */
export function dominates(a: ReadonlyVersionVector, b: ReadonlyVersionVector): boolean {
  for (const [origin, seq] of b) if (at(a, origin) < seq) return false;
  return true;
}

/** Whether the two hold the same entries. */
export function equal(a: ReadonlyVersionVector, b: ReadonlyVersionVector): boolean {
  return dominates(a, b) && dominates(b, a);
}

/** Pointwise minimum: what both hold. An origin one of them lacks counts as 0. */
export function meet(a: ReadonlyVersionVector, b: ReadonlyVersionVector): VersionVector {
  const out: VersionVector = new Map();
  for (const [origin, seq] of a) {
    const m = Math.min(seq, at(b, origin));
    if (m > 0) out.set(origin, m);
  }
  return out;
}

/** Raises `vv` in place to hold everything `other` holds. */
export function raise(vv: VersionVector, other: ReadonlyVersionVector | VectorPairs): void {
  for (const [origin, seq] of other) if (seq > at(vv, origin)) vv.set(origin, seq);
}

/** Total entries held (a replica's "position", a rank criterion in DESIGN §4.3). */
export function size(vv: ReadonlyVersionVector): number {
  let n = 0;
  for (const v of vv.values()) n += v;
  return n;
}

/** The wire form, sorted by origin so equal vectors encode equally. */
export function toPairs(vv: ReadonlyVersionVector): [string, number][] {
  return [...vv].filter(([, seq]) => seq > 0).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

export function fromPairs(pairs: VectorPairs): VersionVector {
  const vv: VersionVector = new Map();
  raise(vv, pairs);
  return vv;
}

/** `"<node id>.<term>"`: a coordinator's origin, one per term (a new term never reuses sequence numbers). */
export function originOf(nodeId: string, term: number): string {
  return `${nodeId}.${term}`;
}

/** The term of an origin this node wrote (`<id>.<term>`), or undefined for another node's. */
export function termOfOwnOrigin(origin: string, nodeId: string): number | undefined {
  const m = /^([0-9a-f]+)\.(\d+)$/.exec(origin);
  return m?.[1] === nodeId ? Number(m[2]) : undefined;
}
