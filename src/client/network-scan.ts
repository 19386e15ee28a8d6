import { EventEmitter } from 'node:events';
import type { Discovery, Peer } from '../discovery/discovery.js';
import { fetchStatus } from '../discovery/status.js';

const SCAN_EVERY_MS = 1_000; // the connect screen's list is at most this stale
const PROBES_PER_NETWORK = 3; // nodes asked who coordinates; one answer is enough

/** A network seen on the LAN, with its coordinator (what the connect screen lists). */
export interface NetworkSighting {
  network: string;
  /** `host:port` of its coordinator. */
  coordinator: string;
  /** The coordinator's advertised host name, else its address. */
  host: string;
  /** Nodes seen advertising this network. */
  nodes: number;
  term: number;
}

export interface NetworkScanEvents {
  change: [NetworkSighting[]];
}

/**
 * Watches mDNS for lanchat networks and asks their nodes who coordinates
 * (mDNS says who exists; only a status answer says who leads). Emits the
 * whole list, sorted by network name, whenever it changes.
 */
export class NetworkScan extends EventEmitter<NetworkScanEvents> {
  readonly #discovery: Discovery;
  /** Nodes not seen by mDNS that still count, e.g. the node running in this process. */
  readonly #local: () => { network: string; address: string }[];
  #timer: NodeJS.Timeout | undefined;
  #last = '';
  #list: NetworkSighting[] = [];
  #scanning = false;
  #stopped = false;

  constructor(discovery: Discovery, local: () => { network: string; address: string }[] = () => []) {
    super();
    this.#discovery = discovery;
    this.#local = local;
  }

  get networks(): NetworkSighting[] {
    return this.#list;
  }

  start(): void {
    this.#discovery.browse();
    const kick = (): void => void this.#scan();
    this.#discovery.on('up', kick);
    this.#discovery.on('down', kick);
    this.#timer = setInterval(kick, SCAN_EVERY_MS);
    kick();
  }

  /** Looks again now (the local node has just started, say), rather than at the next tick. */
  refresh(): void {
    if (this.#timer !== undefined && !this.#stopped) void this.#scan();
  }

  stop(): void {
    this.#stopped = true;
    clearInterval(this.#timer);
  }

  async #scan(): Promise<void> {
    if (this.#scanning || this.#stopped) return;
    this.#scanning = true;
    try {
      const byNetwork = new Map<string, { peers: Peer[]; candidates: string[] }>();
      const entry = (network: string) => {
        let e = byNetwork.get(network);
        if (!e) byNetwork.set(network, (e = { peers: [], candidates: [] }));
        return e;
      };
      for (const p of this.#discovery.peers()) {
        const e = entry(p.network);
        e.peers.push(p);
        e.candidates.push(...p.addresses.slice(0, 1).map((a) => `${a}:${p.port}`));
      }
      const local = this.#local();
      for (const l of local) entry(l.network).candidates.unshift(l.address);
      const list = await Promise.all([...byNetwork].map(([network, e]) => this.#sight(network, e.peers, e.candidates, local.filter((l) => l.network === network).length)));
      if (this.#stopped) return;
      const found = list.filter((s): s is NetworkSighting => s !== undefined).sort((a, b) => a.network.localeCompare(b.network));
      const key = JSON.stringify(found);
      if (key !== this.#last) {
        this.#last = key;
        this.#list = found;
        this.emit('change', found);
      }
    } finally {
      this.#scanning = false;
    }
  }

  async #sight(network: string, peers: Peer[], candidates: string[], local: number): Promise<NetworkSighting | undefined> {
    const asked = candidates.slice(0, PROBES_PER_NETWORK);
    const answers = (await Promise.all(asked.map((a) => fetchStatus(a)))).map((s, i) => ({ s, address: asked[i]! }));
    let best: { coordinator: string; term: number } | undefined;
    const consider = (coordinator: string, term: number): void => {
      if (!best || term > best.term) best = { coordinator, term };
    };
    for (const { s, address } of answers) {
      if (!s || s.network !== network) continue;
      if (s.role === 'coordinator') consider(address, s.term);
      else if (s.coordinator !== null) consider(s.coordinator, s.term);
    }
    if (!best) return undefined;
    const { coordinator, term } = best;
    const ip = coordinator.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
    const host = peers.find((p) => p.addresses.includes(ip))?.host ?? ip;
    return { network, coordinator, host, nodes: peers.length + local, term };
  }
}
