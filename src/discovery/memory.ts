import { EventEmitter } from 'node:events';
import type { Advertisement, Discovery, DiscoveryEvents, Peer } from './discovery.js';
import { PROTOCOL_VERSION } from '../protocol/limits.js';

/** A shared in-memory "LAN" for `MemoryDiscovery` instances in unit tests. */
export class MemoryBus {
  readonly members = new Set<MemoryDiscovery>();
  /** Advertisements by instance; a crashed node's advertisement lingers, as with real mDNS caches. */
  readonly ads = new Map<MemoryDiscovery, Peer>();
}

/** An in-memory `Discovery`: synchronous, deterministic, no sockets. */
export class MemoryDiscovery extends EventEmitter<DiscoveryEvents> implements Discovery {
  readonly #bus: MemoryBus;
  readonly #host: string;
  #browsing = false;
  #stopped = false;
  readonly #known = new Map<string, Peer>();

  constructor(bus: MemoryBus, host = '127.0.0.1') {
    super();
    this.#bus = bus;
    this.#host = host;
    bus.members.add(this);
  }

  advertise(ad: Advertisement): void {
    if (this.#stopped || this.#bus.ads.has(this)) return;
    const peer: Peer = { id: ad.id, network: ad.network, version: PROTOCOL_VERSION, name: `mem-${ad.id}`, host: this.#host, port: ad.port, addresses: [this.#host] };
    this.#bus.ads.set(this, peer);
    for (const m of this.#bus.members) if (m !== this) m.#saw(peer);
  }

  browse(): void {
    if (this.#stopped || this.#browsing) return;
    this.#browsing = true;
    this.refresh();
  }

  refresh(): void {
    if (!this.#browsing) return;
    for (const [owner, peer] of this.#bus.ads) if (owner !== this) this.#saw(peer);
  }

  peers(): Peer[] {
    return [...this.#known.values()];
  }

  /** Simulates a crash: no goodbye, the advertisement lingers in others' caches. */
  crash(): void {
    this.#stopped = true;
    this.#bus.members.delete(this);
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#bus.members.delete(this);
    const mine = this.#bus.ads.get(this);
    this.#bus.ads.delete(this);
    if (mine) for (const m of this.#bus.members) m.#gone(mine);
  }

  #saw(peer: Peer): void {
    if (!this.#browsing || this.#stopped || this.#known.has(peer.name)) return;
    this.#known.set(peer.name, peer);
    this.emit('up', peer);
  }

  #gone(peer: Peer): void {
    if (this.#known.delete(peer.name)) this.emit('down', peer);
  }
}
