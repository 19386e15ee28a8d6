import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { isIPv4 } from 'node:net';
import BonjourModule from 'bonjour-service';
import type { Logger } from 'pino';
import { lanAddresses } from './interfaces.js';
import { SERVICE_TYPE, Txt, txtFor, type Advertisement, type Discovery, type DiscoveryEvents, type Peer } from './discovery.js';

const { Bonjour, Service } = BonjourModule;
type BonjourT = InstanceType<typeof Bonjour>;
type BrowserT = ReturnType<BonjourT['find']>;
type ServiceT = InstanceType<typeof Service>;

/** How often the interfaces are looked at again (Wi-Fi joining, a cable plugged in). */
const RESCAN_MS = 5_000;

/*
 * bonjour-service puts an A record in every advertisement for every
 * non-loopback address of the machine, virtual bridges included (docker0,
 * veth…), and sends it on one interface. Clients cannot reach most of those
 * (issue #4), so each interface gets its own mDNS socket whose records carry
 * that interface's address only. `records()` is called synchronously inside
 * `publish()` and `unpublishAll()`, which run with `recordsFor` set to the
 * link's address.
 */
let recordsFor: string | undefined;
const originalRecords = Service.prototype.records;
Service.prototype.records = function records(this: ServiceT) {
  const allowed = recordsFor === undefined ? new Set(lanAddresses().map((a) => a.address)) : new Set([recordsFor]);
  return originalRecords.call(this).filter((r) => r.type !== 'A' || allowed.has(String(r.data)));
};

function withRecordsFor<T>(address: string | undefined, fn: () => T): T {
  recordsFor = address;
  try {
    return fn();
  } finally {
    recordsFor = undefined;
  }
}

/** mDNS cannot run here: UDP port 5353 cannot be bound. The node goes on without discovery. */
export class MdnsUnavailableError extends Error {
  override readonly name = 'MdnsUnavailableError';
  constructor(override readonly cause: NodeJS.ErrnoException) {
    super(
      cause.code === 'EACCES'
        ? 'mDNS is unavailable: no permission to use UDP port 5353'
        : 'mDNS is unavailable: UDP port 5353 is held by another program that does not share it',
    );
  }
}

/** mDNS on one interface: its own socket (sending there, joined there), advertisement and browser. */
interface Link {
  /** The interface's address; undefined for the default route (a host with no LAN interface, e.g. a namespace's lo). */
  readonly address: string | undefined;
  readonly bonjour: BonjourT;
  browser: BrowserT | undefined;
  /** Peers seen through this link, by instance name. */
  readonly known: Map<string, Peer>;
}

/**
 * `Discovery` over real mDNS/DNS-SD with bonjour-service, with its sharp
 * edges handled (DESIGN §3): an error listener on the inner socket and an
 * error callback, unique instance names, IPv4 only, a `.local` SRV target,
 * `unpublishAll` then `destroy` on exit, and the answer's source address
 * dialled first. A machine on several LANs (Ethernet and Wi-Fi) advertises
 * and browses on each, with the right address on each.
 */
export class BonjourDiscovery extends EventEmitter<DiscoveryEvents> implements Discovery {
  readonly #log: Logger;
  /** By interface address ('' for the default-route link). */
  readonly #links = new Map<string, Link>();
  #ad: Advertisement | undefined;
  #browsing = false;
  #rescan: NodeJS.Timeout | undefined;
  #stopping: Promise<void> | undefined;
  #warned = false;

  constructor(log: Logger) {
    super();
    this.#log = log;
    this.#sync();
    this.#rescan = setInterval(() => this.#sync(), RESCAN_MS);
    this.#rescan.unref();
  }

  advertise(ad: Advertisement): void {
    if (this.#ad || this.#stopping) return;
    this.#ad = ad;
    for (const link of this.#links.values()) this.#publish(link);
  }

  browse(): void {
    if (this.#browsing || this.#stopping) return;
    this.#browsing = true;
    for (const link of this.#links.values()) this.#browse(link);
  }

  refresh(): void {
    this.#sync();
    for (const link of this.#links.values()) link.browser?.update();
  }

  peers(): Peer[] {
    const merged = new Map<string, Peer>();
    for (const link of this.#links.values()) {
      for (const [name, p] of link.known) {
        const seen = merged.get(name);
        merged.set(name, seen ? { ...seen, addresses: [...new Set([...seen.addresses, ...p.addresses])] } : p);
      }
    }
    return [...merged.values()];
  }

  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      clearInterval(this.#rescan);
      await Promise.all([...this.#links.values()].map((link) => this.#close(link, true)));
      this.#links.clear();
    })();
    return this.#stopping;
  }

  /** Opens a link for each new LAN interface and closes those of interfaces that went away. */
  #sync(): void {
    if (this.#stopping) return;
    const lan = lanAddresses();
    const wanted = lan.length > 0 ? lan.map((a) => a.address) : [''];
    for (const [key, link] of this.#links) {
      if (wanted.includes(key)) continue;
      this.#links.delete(key);
      this.#log.info({ address: link.address ?? 'default route' }, 'mDNS: interface gone');
      const gone = [...link.known.values()].filter((p) => !this.#seenElsewhere(p.name));
      void this.#close(link, false); // nothing to say goodbye on: the address is gone
      for (const p of gone) this.emit('down', p);
    }
    for (const key of wanted) {
      if (this.#links.has(key)) continue;
      const link = this.#open(key === '' ? undefined : key);
      this.#links.set(key, link);
      if (key !== '') this.#log.info({ address: key }, 'mDNS: on interface');
      if (this.#ad) this.#publish(link);
      if (this.#browsing) this.#browse(link);
    }
  }

  #open(address: string | undefined): Link {
    const key = address ?? '';
    const onError = (err: NodeJS.ErrnoException): void => {
      if (err.code !== 'EADDRINUSE' && err.code !== 'EACCES') {
        // A send that failed (an interface going away before the next rescan): not fatal for the link.
        this.#log.debug({ err, address }, 'mDNS send failed');
        return;
      }
      // Binding UDP 5353 failed: another responder holds it without sharing, or no permission.
      // The link goes; the next rescan tries again. Without mDNS the node still works by address (--join, --connect).
      const failed = new MdnsUnavailableError(err);
      if (!this.#warned) this.#log.warn({ err, address }, failed.message);
      this.#warned = true;
      const link = this.#links.get(key);
      if (link !== undefined && link.bonjour === bonjour) {
        this.#links.delete(key);
        void this.#close(link, false);
      }
      if (this.listenerCount('error') > 0) this.emit('error', failed);
    };
    // Send on and join the group on this interface only. The options reach multicast-dns,
    // whose `interface`/`bind` bonjour-service's types do not declare.
    const mdnsOptions = address === undefined ? {} : { interface: address, bind: '0.0.0.0' };
    const bonjour = new Bonjour(mdnsOptions as ConstructorParameters<typeof Bonjour>[0], onError);
    const mdns = (bonjour as unknown as { server: { mdns: EventEmitter } }).server.mdns;
    mdns.on('error', onError); // EADDRINUSE/EACCES on 5353 would otherwise be thrown
    mdns.on('warning', (err: Error) => this.#log.debug({ err }, 'mDNS warning (malformed packet ignored)'));
    return { address, bonjour, browser: undefined, known: new Map() };
  }

  #publish(link: Link): void {
    const ad = this.#ad!;
    const host = hostname().replace(/\.local$/, '');
    withRecordsFor(link.address, () =>
      link.bonjour.publish({
        name: `${host}-${ad.id.slice(0, 8)}`, // unique: the node id makes name conflicts (and probing) moot
        type: SERVICE_TYPE,
        port: ad.port,
        host: `${host}.local`, // RFC 6762 expects a .local SRV target; bonjour-service's default is the bare hostname
        txt: txtFor(ad),
        disableIPv6: true,
        probe: false, // probing costs ~1 s before the first announcement; names carry the node id
      }),
    );
  }

  #browse(link: Link): void {
    const browser = link.bonjour.find({ type: SERVICE_TYPE });
    browser.on('up', (s) => this.#up(link, s));
    browser.on('down', (s) => this.#down(link, s));
    // A node restarted under the same name with a new port: forget the old, learn the new.
    browser.on('srv-update', (s) => (this.#down(link, s), this.#up(link, s)));
    browser.on('txt-update', (s) => (this.#down(link, s), this.#up(link, s)));
    link.browser = browser;
  }

  /** Stops a link's browser and socket, first withdrawing its advertisement when `goodbye`. */
  #close(link: Link, goodbye: boolean): Promise<void> {
    return new Promise<void>((resolve) => {
      link.browser?.stop();
      const destroy = (): void => link.bonjour.destroy(() => resolve());
      if (!this.#ad || !goodbye) return destroy();
      const timer = setTimeout(destroy, 1_000); // the goodbye is best effort
      withRecordsFor(link.address, () =>
        link.bonjour.unpublishAll(() => {
          clearTimeout(timer);
          destroy();
        }),
      );
    });
  }

  #up(link: Link, s: ServiceT): void {
    const txt = Txt.safeParse(s.txt ?? {});
    if (!txt.success) {
      this.#log.debug({ name: s.name }, 'ignoring a _lanchat._tcp service with a bad TXT record');
      return;
    }
    if (txt.data.id === this.#ad?.id) return;
    const addresses = [s.referer?.address, ...(s.addresses ?? [])].filter((a): a is string => typeof a === 'string' && isIPv4(a));
    const peer: Peer = {
      id: txt.data.id,
      network: txt.data.net,
      version: txt.data.v,
      name: s.name,
      host: s.host,
      port: s.port,
      addresses: [...new Set(addresses)],
    };
    if (peer.addresses.length === 0 || !(peer.port > 0)) return;
    link.known.set(s.name, peer);
    this.emit('up', this.peers().find((p) => p.name === s.name) ?? peer);
  }

  #down(link: Link, s: ServiceT): void {
    const peer = link.known.get(s.name);
    if (peer && link.known.delete(s.name) && !this.#seenElsewhere(s.name)) this.emit('down', peer);
  }

  #seenElsewhere(name: string): boolean {
    for (const link of this.#links.values()) if (link.known.has(name)) return true;
    return false;
  }
}
