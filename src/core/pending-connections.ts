/** What `PendingConnections.admit` decided: refused, or admitted (having made room by dropping `evict`). */
export type Admission<K> = { ok: false; why: 'address' | 'full' } | { ok: true; evict: K | undefined };

/**
 * Connections that have not logged in yet (issue #14), bounded per address and in all. Each is kept, oldest
 * first, under its address. When all the room is taken, a newcomer gets in by displacing the oldest
 * connection of the address holding the most — if that one holds more than the newcomer's address would —
 * so a host (or a few) holding sockets open cannot keep others out: a good login from an address holding
 * none always finds room, and the hosts holding many only displace their own. Pure; the relay admits on
 * accept, drops what it is told to evict, and releases on login or close.
 */
export class PendingConnections<K> {
  readonly #byAddress = new Map<string, K[]>();
  #count = 0;

  constructor(
    readonly perAddress: number,
    readonly total: number,
  ) {
    if (!(perAddress >= 1) || !(total >= 1)) throw new TypeError('PendingConnections needs positive limits');
  }

  /** A new connection `key` from `address`; `full` says the process has no room for another connection, pending or not. */
  admit(address: string, key: K, full = false): Admission<K> {
    const mine = this.#byAddress.get(address)?.length ?? 0;
    if (mine >= this.perAddress) return { ok: false, why: 'address' };
    let evict: K | undefined;
    if (this.#count >= this.total || full) {
      const [heaviest, theirs] = this.#heaviest();
      if (heaviest === undefined || theirs <= mine + 1) return { ok: false, why: 'full' };
      evict = this.#byAddress.get(heaviest)![0];
      this.release(heaviest, evict!);
    }
    const list = this.#byAddress.get(address);
    if (list) list.push(key);
    else this.#byAddress.set(address, [key]);
    this.#count++;
    return { ok: true, evict };
  }

  /** Gives `key`'s place back (on login, or close). Idempotent: an evicted or released key is ignored. */
  release(address: string, key: K): void {
    const list = this.#byAddress.get(address);
    const i = list?.indexOf(key) ?? -1;
    if (list === undefined || i < 0) return;
    list.splice(i, 1);
    this.#count--;
    if (list.length === 0) this.#byAddress.delete(address);
  }

  held(address: string): number {
    return this.#byAddress.get(address)?.length ?? 0;
  }

  /** Connections held in all. */
  get count(): number {
    return this.#count;
  }

  /** Addresses holding anything. */
  get size(): number {
    return this.#byAddress.size;
  }

  #heaviest(): [string | undefined, number] {
    let best: string | undefined;
    let most = 0;
    for (const [address, list] of this.#byAddress) {
      if (list.length > most) [best, most] = [address, list.length];
    }
    return [best, most];
  }
}
