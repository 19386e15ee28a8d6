/**
 * Counts how much of a bounded resource each remote address holds — here,
 * connections that have not logged in yet — so one host cannot take all of
 * it. Pure; the relay acquires on accept and releases on login or close.
 */
export class AddressQuota {
  readonly #held = new Map<string, number>();

  constructor(readonly perAddress: number) {
    if (!(perAddress >= 1)) throw new TypeError('AddressQuota needs a positive limit');
  }

  /** Takes one unit for `address`; false (and nothing taken) when it already holds `perAddress`. */
  tryAcquire(address: string): boolean {
    const n = this.#held.get(address) ?? 0;
    if (n >= this.perAddress) return false;
    this.#held.set(address, n + 1);
    return true;
  }

  /** Gives one unit back. Addresses holding nothing are forgotten, so memory follows live connections. */
  release(address: string): void {
    const n = this.#held.get(address) ?? 0;
    if (n <= 1) this.#held.delete(address);
    else this.#held.set(address, n - 1);
  }

  held(address: string): number {
    return this.#held.get(address) ?? 0;
  }

  /** Addresses holding anything. */
  get size(): number {
    return this.#held.size;
  }
}
