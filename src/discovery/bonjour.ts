import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { isIPv4 } from 'node:net';
import BonjourModule from 'bonjour-service';
import type { Logger } from 'pino';
import { lanAddresses } from '../node/interfaces.js';
import { SERVICE_TYPE, Txt, txtFor, type Advertisement, type Discovery, type DiscoveryEvents, type Peer } from './discovery.js';

const { Bonjour, Service } = BonjourModule;
type BrowserT = ReturnType<InstanceType<typeof Bonjour>['find']>;
type ServiceT = InstanceType<typeof Service>;

/*
 * bonjour-service puts an A record in every advertisement for every
 * non-loopback address of the machine, virtual bridges included (docker0,
 * veth…). Clients on the LAN cannot reach those (issue #4), so the records
 * are filtered down to real LAN addresses, once, for every Service.
 */
const originalRecords = Service.prototype.records;
Service.prototype.records = function records(this: ServiceT) {
  const allowed = new Set(lanAddresses().map((a) => a.address));
  return originalRecords.call(this).filter((r) => r.type !== 'A' || allowed.has(String(r.data)));
};

/**
 * `Discovery` over real mDNS/DNS-SD with bonjour-service, with its sharp
 * edges handled (DESIGN §3): an error listener on the inner socket and an
 * error callback, unique instance names, IPv4 only, a `.local` SRV target,
 * `unpublishAll` then `destroy` on exit, and the answer's source address
 * dialled first.
 */
export class BonjourDiscovery extends EventEmitter<DiscoveryEvents> implements Discovery {
  readonly #log: Logger;
  readonly #bonjour: InstanceType<typeof Bonjour>;
  readonly #known = new Map<string, Peer>();
  #ownId: string | undefined;
  #browser: BrowserT | undefined;
  #published = false;
  #stopping: Promise<void> | undefined;

  constructor(log: Logger) {
    super();
    this.#log = log;
    // Send and join the group on the first real LAN interface when there is one; else the default route (a namespace's lo).
    const lan = lanAddresses()[0];
    const onError = (err: Error): void => {
      this.#log.warn({ err }, 'mDNS error');
      this.emit('error', err);
    };
    // The options reach multicast-dns, whose `interface`/`bind` bonjour-service's types do not declare.
    const mdnsOptions = lan ? { interface: lan.address, bind: '0.0.0.0' } : {};
    this.#bonjour = new Bonjour(mdnsOptions as ConstructorParameters<typeof Bonjour>[0], onError);
    const mdns = (this.#bonjour as unknown as { server: { mdns: EventEmitter } }).server.mdns;
    mdns.on('error', onError); // EADDRINUSE/EACCES on 5353 would otherwise be thrown
    mdns.on('warning', (err: Error) => this.#log.debug({ err }, 'mDNS warning (malformed packet ignored)'));
  }

  advertise(ad: Advertisement): void {
    if (this.#published || this.#stopping) return;
    this.#published = true;
    this.#ownId = ad.id;
    const host = hostname().replace(/\.local$/, '');
    this.#bonjour.publish({
      name: `${host}-${ad.id.slice(0, 8)}`, // unique: the node id makes name conflicts (and probing) moot
      type: SERVICE_TYPE,
      port: ad.port,
      host: `${host}.local`, // RFC 6762 expects a .local SRV target; bonjour-service's default is the bare hostname
      txt: txtFor(ad),
      disableIPv6: true,
      probe: false, // probing costs ~1 s before the first announcement; names carry the node id
    });
  }

  browse(): void {
    if (this.#browser || this.#stopping) return;
    const browser = this.#bonjour.find({ type: SERVICE_TYPE });
    browser.on('up', (s) => this.#up(s));
    browser.on('down', (s) => this.#down(s));
    // A node restarted under the same name with a new port: forget the old, learn the new.
    browser.on('srv-update', (s) => (this.#down(s), this.#up(s)));
    browser.on('txt-update', (s) => (this.#down(s), this.#up(s)));
    this.#browser = browser;
  }

  refresh(): void {
    this.#browser?.update();
  }

  peers(): Peer[] {
    return [...this.#known.values()];
  }

  stop(): Promise<void> {
    this.#stopping ??= new Promise<void>((resolve) => {
      this.#browser?.stop();
      const destroy = (): void => this.#bonjour.destroy(() => resolve());
      if (!this.#published) return destroy();
      const timer = setTimeout(destroy, 1_000); // the goodbye is best effort
      this.#bonjour.unpublishAll(() => {
        clearTimeout(timer);
        destroy();
      });
    });
    return this.#stopping;
  }

  #up(s: ServiceT): void {
    const txt = Txt.safeParse(s.txt ?? {});
    if (!txt.success) {
      this.#log.debug({ name: s.name }, 'ignoring a _lanchat._tcp service with a bad TXT record');
      return;
    }
    if (txt.data.id === this.#ownId) return;
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
    this.#known.set(s.name, peer);
    this.emit('up', peer);
  }

  #down(s: ServiceT): void {
    const peer = this.#known.get(s.name);
    if (peer && this.#known.delete(s.name)) this.emit('down', peer);
  }
}
