const BUCKET_US = 10; // µs: histogram resolution
const RANGE_MS = 10_000; // ms: latencies above this land in the last bucket (and still count)
const BUCKETS = (RANGE_MS * 1000) / BUCKET_US;

/**
 * A fixed-resolution latency histogram (10 µs buckets up to 10 s): O(1) to
 * record, so the bench process can record every delivery without becoming
 * the bottleneck, and without keeping one sample per delivery in memory.
 */
export class LatencyHistogram {
  readonly #counts = new Uint32Array(BUCKETS);
  #total = 0;
  #maxMs = 0;

  /** Records one latency, in milliseconds. */
  record(ms: number): void {
    const bucket = Math.min(BUCKETS - 1, Math.max(0, Math.floor((ms * 1000) / BUCKET_US)));
    this.#counts[bucket]! += 1;
    this.#total += 1;
    if (ms > this.#maxMs) this.#maxMs = ms;
  }

  get count(): number {
    return this.#total;
  }

  get maxMs(): number {
    return this.#maxMs;
  }

  /** The `p`-th percentile (0 < p ≤ 100) in ms, at bucket resolution (upper edge); NaN when empty. */
  percentile(p: number): number {
    if (this.#total === 0) return Number.NaN;
    const rank = Math.ceil((p / 100) * this.#total);
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.#counts[i]!;
      if (seen >= rank) return Math.min(((i + 1) * BUCKET_US) / 1000, this.#maxMs);
    }
    return this.#maxMs;
  }
}

/** Rounds to `digits` decimals, keeping JSON output short and readable. */
export function round(value: number, digits = 2): number {
  if (!Number.isFinite(value)) return value;
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** The p-th percentile of a list of samples (nearest rank, from below). */
export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}
