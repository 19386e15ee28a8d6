/** A clock in milliseconds; injected so tests need no timers. */
export type Clock = () => number;

export interface BucketOptions {
  /** Tokens available at once (the burst). */
  capacity: number;
  /** Tokens regained per second. */
  refillPerSecond: number;
}

/**
 * Token buckets keyed by string (a user, an address, a session). Pure apart
 * from the injected clock. Idle full buckets are forgotten so memory stays
 * bounded by the number of recently active keys.
 */
export class RateLimiter {
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  readonly #options: BucketOptions;
  readonly #now: Clock;

  constructor(options: BucketOptions, now: Clock = Date.now) {
    if (!(options.capacity > 0) || !(options.refillPerSecond > 0)) {
      throw new TypeError('RateLimiter needs a positive capacity and refill rate');
    }
    this.#options = options;
    this.#now = now;
  }

  /** Takes one token for `key`; false when the bucket is empty (the caller is over its rate). */
  take(key: string): boolean {
    const b = this.#refill(key);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  /** Takes a token for `key` even if it has none: a refused attempt costs its maker, down to a debt of one full bucket. */
  charge(key: string): void {
    const b = this.#refill(key);
    b.tokens = Math.max(-this.#options.capacity, b.tokens - 1);
  }

  /** The tokens `key` has now (fractional; negative when in debt). */
  tokens(key: string): number {
    return this.#buckets.has(key) ? this.#refill(key).tokens : this.#options.capacity;
  }

  /** Whether `key` has a token left, without taking it. */
  allows(key: string): boolean {
    return this.#refill(key).tokens >= 1;
  }

  /** Gives back a token taken for an attempt that turned out fine. */
  refund(key: string): void {
    const b = this.#buckets.get(key);
    if (b) b.tokens = Math.min(this.#options.capacity, b.tokens + 1);
  }

  /** Forgets `key` (e.g. after a successful login). */
  reset(key: string): void {
    this.#buckets.delete(key);
  }

  #refill(key: string): { tokens: number; at: number } {
    const now = this.#now();
    const { capacity, refillPerSecond } = this.#options;
    let b = this.#buckets.get(key);
    if (b === undefined) {
      if (this.#buckets.size > 10_000) this.#sweep(now);
      b = { tokens: capacity, at: now };
      this.#buckets.set(key, b);
      return b;
    }
    b.tokens = Math.min(capacity, b.tokens + ((now - b.at) / 1000) * refillPerSecond);
    b.at = now;
    return b;
  }

  #sweep(now: number): void {
    const { capacity, refillPerSecond } = this.#options;
    for (const [key, b] of this.#buckets) {
      if (b.tokens + ((now - b.at) / 1000) * refillPerSecond >= capacity) this.#buckets.delete(key);
    }
  }
}
