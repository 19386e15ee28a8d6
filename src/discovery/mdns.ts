import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import type { RemoteInfo } from 'node:dgram';
import makeMdns from 'multicast-dns';
import type { Answer, Packet, Question } from 'dns-packet';
import type { Logger } from 'pino';
import { inSubnet, lanInterfaces, type LanInterface } from './interfaces.js';
import { Txt, type Advertisement, type Discovery, type DiscoveryEvents, type Peer } from './discovery.js';
import { conflicts, dataKey, goodbyes, QuerySchedule, recordsFor, respond, SERVICE, ServiceCache, type Instance, type Rr } from './dns-sd.js';

type Mdns = ReturnType<typeof makeMdns>;

/** How often the interfaces are looked at again (Wi-Fi joining, a cable plugged in). */
const RESCAN_MS = 5_000;
/** How often the schedule is looked at: queries due, records expired. */
const PUMP_MS = 100;
/** An announcement goes out twice, a second apart (RFC 6762 §8.3). */
const ANNOUNCE_GAP_MS = 1_000;
/** Goodbyes are best effort: a link closes after this even if a send hangs. */
const GOODBYE_MS = 1_000;
/** A legacy querier (not from port 5353) gets answers with TTLs of at most 10 s (RFC 6762 §6.7). */
const LEGACY_TTL = 10;
const LEGACY_PER_SECOND = 20;

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

/** mDNS on one interface: its sockets (IPv4, and IPv6 where it has a routable address), records and cache. */
interface Link {
  /** The interface's name; '' for the default route (a host with no LAN interface, e.g. a namespace's lo). */
  readonly key: string;
  lan: LanInterface | undefined;
  readonly sockets: Mdns[];
  /** What this node answers for here (its addresses on this interface only). */
  records: Rr[];
  readonly cache: ServiceCache;
  schedule: QuerySchedule | undefined;
  /** Peers as last told, by instance name. */
  readonly known: Map<string, Peer>;
  readonly timers: Set<NodeJS.Timeout>;
  conflictWarned: boolean;
  /** When each record was last multicast on each socket: not again within a second (RFC 6762 §6), whoever asks. */
  readonly multicastAt: Map<Mdns, Map<string, number>>;
  /** Legacy unicast replies in the current second (bounded: a spoofed source would make us a reflector). */
  legacy: { second: number; count: number };
}

/**
 * `Discovery` over mDNS/DNS-SD (RFC 6762, 6763), on `multicast-dns` sockets
 * with the protocol's decisions in `dns-sd.ts`: a unique SRV target per node
 * (`<host>-<id>.local`), A and AAAA records of the interface a query came in
 * on, TTLs of 120 s and 75 min, answers less what the querier already knows,
 * queries 1 s apart doubling to an hour with known answers listed, cache
 * refreshes before records die, goodbyes on exit. A machine on several LANs
 * (Ethernet and Wi-Fi) advertises and browses on each, with the right
 * addresses on each.
 */
export class MdnsDiscovery extends EventEmitter<DiscoveryEvents> implements Discovery {
  readonly #log: Logger;
  readonly #links = new Map<string, Link>();
  #ad: Advertisement | undefined;
  #browsing = false;
  readonly #rescan: NodeJS.Timeout;
  readonly #pump: NodeJS.Timeout;
  #stopping: Promise<void> | undefined;
  #warned = false;
  #synced = 0;

  constructor(log: Logger) {
    super();
    this.#log = log;
    this.#sync();
    this.#rescan = setInterval(() => this.#sync(), RESCAN_MS);
    this.#rescan.unref();
    this.#pump = setInterval(() => this.#tick(Date.now()), PUMP_MS);
    this.#pump.unref();
  }

  advertise(ad: Advertisement): void {
    if (this.#ad || this.#stopping) return;
    this.#ad = ad;
    for (const link of this.#links.values()) this.#publish(link);
  }

  browse(): void {
    if (this.#browsing || this.#stopping) return;
    this.#browsing = true;
    const now = Date.now();
    for (const link of this.#links.values()) link.schedule = new QuerySchedule(now);
  }

  /** Looks at the interfaces again (at most once a second). Queries keep their own schedule: answers to anyone's queries reach us too. */
  refresh(): void {
    if (Date.now() - this.#synced >= 1_000) this.#sync();
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
      clearInterval(this.#pump);
      await Promise.all([...this.#links.values()].map((link) => this.#close(link, true)));
      this.#links.clear();
    })();
    return this.#stopping;
  }

  /** Opens a link for each new LAN interface, updates those whose addresses changed, closes those gone. */
  #sync(): void {
    if (this.#stopping) return;
    this.#synced = Date.now();
    const lan = lanInterfaces().filter((l) => l.v4.length > 0 || l.v6.length > 0);
    const wanted = new Map<string, LanInterface | undefined>(lan.length > 0 ? lan.map((l) => [l.iface, l]) : [['', undefined]]);
    for (const [key, link] of this.#links) {
      if (wanted.has(key)) continue;
      this.#links.delete(key);
      this.#log.info({ address: this.#describe(link.lan) }, 'mDNS: interface gone');
      const gone = [...link.known.values()].filter((p) => !this.#seenElsewhere(p.name, link));
      void this.#close(link, false); // nothing to say goodbye on: the address is gone
      for (const p of gone) this.emit('down', p);
    }
    for (const [key, lan] of wanted) {
      const link = this.#links.get(key);
      if (link === undefined) {
        const made = this.#open(key, lan);
        if (made === undefined) continue;
        this.#links.set(key, made);
        if (key !== '') this.#log.info({ address: this.#describe(lan) }, 'mDNS: on interface');
        if (this.#ad) this.#publish(made);
        continue;
      }
      if (this.#describe(link.lan) === this.#describe(lan)) continue;
      // An address came or went on the interface: say the new records, and ask again (the network changed).
      link.lan = lan;
      this.#log.info({ address: this.#describe(lan) }, 'mDNS: addresses changed');
      if (this.#ad) this.#publish(link);
      link.schedule?.restart(Date.now());
    }
  }

  #describe(lan: LanInterface | undefined): string {
    return lan === undefined ? 'default route' : [...lan.v4.map((a) => a.address), ...lan.v6].join(' ');
  }

  #open(key: string, lan: LanInterface | undefined): Link | undefined {
    const link: Link = { key, lan, sockets: [], records: [], cache: new ServiceCache(), schedule: this.#browsing ? new QuerySchedule(Date.now()) : undefined, known: new Map(), timers: new Set(), conflictWarned: false, multicastAt: new Map(), legacy: { second: 0, count: 0 } };
    const onError = (err: NodeJS.ErrnoException, socket: Mdns, family: 4 | 6): void => {
      if (err.code !== 'EADDRINUSE' && err.code !== 'EACCES') {
        // A send that failed (an interface going away before the next rescan): not fatal for the link.
        this.#log.debug({ err, iface: key }, 'mDNS send failed');
        return;
      }
      const i = link.sockets.indexOf(socket);
      if (i >= 0) link.sockets.splice(i, 1);
      socket.destroy();
      if (family === 6) return void this.#log.debug({ err, iface: key }, 'mDNS over IPv6 is unavailable on this interface');
      // Binding UDP 5353 failed: another responder holds it without sharing, or no permission.
      // The link goes; the next rescan tries again. Without mDNS the node still works by address (--join, --connect).
      const failed = new MdnsUnavailableError(err);
      if (!this.#warned) this.#log.warn({ err, iface: key }, failed.message);
      this.#warned = true;
      if (this.#links.get(key) === link) {
        this.#links.delete(key);
        void this.#close(link, false);
      }
      if (this.listenerCount('error') > 0) this.emit('error', failed);
    };
    const add = (family: 4 | 6, options: makeMdns.Options): void => {
      let socket: Mdns;
      try {
        socket = makeMdns(options);
      } catch (err) {
        return void this.#log.debug({ err, iface: key, family }, 'mDNS socket not opened');
      }
      socket.on('error', (err: NodeJS.ErrnoException) => onError(err, socket, family));
      socket.on('warning', (err: Error) => this.#log.debug({ err }, 'mDNS warning (a malformed packet or a failed send, ignored)'));
      socket.on('query', (packet: Packet, rinfo: RemoteInfo) => this.#onQuery(link, socket, family, packet, rinfo));
      socket.on('response', (packet: Packet, rinfo: RemoteInfo) => this.#onResponse(link, packet, rinfo));
      link.sockets.push(socket);
    };
    // Send on and join the group on this interface only; receive from any (the group's port is shared).
    if (lan === undefined) add(4, {});
    else {
      if (lan.v4.length > 0) add(4, { interface: lan.v4[0]!.address, bind: '0.0.0.0' });
      if (lan.v6.length > 0) add(6, { type: 'udp6', ip: 'ff02::fb', interface: `::%${lan.iface}`, bind: '::' });
    }
    return link.sockets.length > 0 ? link : undefined;
  }

  /** This node's records on a link, announced twice (RFC 6762 §8.3). */
  #publish(link: Link): void {
    const ad = this.#ad!;
    const addresses = link.lan === undefined ? [] : [...link.lan.v4.map((a) => a.address), ...link.lan.v6];
    link.records = recordsFor(ad, hostname(), addresses.length > 0 ? addresses : ['127.0.0.1']);
    this.#send(link, { type: 'response', answers: link.records });
    this.#later(link, ANNOUNCE_GAP_MS, () => this.#send(link, { type: 'response', answers: link.records }));
  }

  #later(link: Link, ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      link.timers.delete(timer);
      fn();
    }, ms);
    timer.unref();
    link.timers.add(timer);
  }

  /** Multicasts a packet on every socket of the link. */
  #send(link: Link, packet: Packet, done?: () => void): void {
    let left = link.sockets.length;
    if (left === 0) return done?.();
    const sent = () => {
      if (--left === 0) done?.();
    };
    for (const socket of link.sockets) {
      if (packet.type === 'response') this.#mark(link, socket, only(packet.answers), Date.now());
      if (packet.type === 'response') socket.respond({ answers: packet.answers ?? [], additionals: packet.additionals ?? [] }, sent); // authoritative
      else socket.query({ questions: packet.questions ?? [], answers: packet.answers ?? [] }, sent);
    }
  }

  #onQuery(link: Link, socket: Mdns, family: 4 | 6, packet: Packet, rinfo: RemoteInfo): void {
    const questions = packet.questions ?? [];
    const now = Date.now();
    // Another host asking what we would ask, knowing no more than we do: our own query counts as sent (§7.3).
    if (link.schedule !== undefined && questions.some((q) => q.name.toLowerCase() === SERVICE && (q.type === 'PTR' || (q.type as string) === 'ANY')) && link.schedule.next - now < 1_000) {
      const ours = link.cache.knownAnswers([{ name: SERVICE, type: 'PTR' }], now);
      const theirs = new Set(only(packet.answers).map((a) => (a.type === 'PTR' ? a.data.toLowerCase() : '')));
      if (ours.every((a) => a.type === 'PTR' && theirs.has(a.data.toLowerCase()))) link.schedule.sent(now);
    }
    if (link.records.length === 0 || this.#stopping) return;
    // A query that reached this socket from another LAN (the group's port is shared by every interface's socket).
    if (family === 4 && link.lan !== undefined && !link.lan.v4.some((a) => inSubnet(rinfo.address, a.address, a.netmask))) return;
    const reply = respond(link.records, questions, only(packet.answers));
    if (reply === undefined) return;
    if (rinfo.port !== 5353) {
      // A legacy resolver (not a full mDNS querier): a unicast reply with its question and ID, short TTLs, no flush.
      const second = Math.floor(now / 1_000);
      if (link.legacy.second !== second) link.legacy = { second, count: 0 };
      if (++link.legacy.count > LEGACY_PER_SECOND) return;
      const cap = (r: Rr) => ({ ...r, ttl: Math.min(r.ttl ?? 0, LEGACY_TTL), flush: false }) as Rr;
      socket.respond({ id: packet.id ?? 0, questions, answers: reply.answers.map(cap), additionals: reply.additionals.map(cap) }, { port: rinfo.port, address: rinfo.address });
      return;
    }
    // Not a record multicast here in the last second (a flood of queries gets one answer a second).
    const answers = reply.answers.filter((r) => now - (this.#sentAt(link, socket).get(recordKey(r)) ?? -Infinity) >= 1_000);
    if (answers.length === 0) return;
    this.#mark(link, socket, answers, now);
    // Shared records (a PTR many hosts may hold) wait 20–120 ms so answers do not collide (§6); unique ones go at once.
    const shared = answers.some((r) => r.type === 'PTR');
    // On the socket the query came in on: a querier that asks over IPv4 and IPv6 gets one answer on each.
    const go = () => socket.respond({ answers, additionals: reply.additionals });
    if (shared) this.#later(link, 20 + Math.floor(Math.random() * 100), go);
    else go();
  }

  #sentAt(link: Link, socket: Mdns): Map<string, number> {
    let m = link.multicastAt.get(socket);
    if (m === undefined) link.multicastAt.set(socket, (m = new Map()));
    return m;
  }

  #mark(link: Link, socket: Mdns, records: readonly Rr[], now: number): void {
    const m = this.#sentAt(link, socket);
    for (const r of records) m.set(recordKey(r), now);
  }

  #onResponse(link: Link, packet: Packet, rinfo: RemoteInfo): void {
    const records = [...only(packet.answers), ...only(packet.additionals)];
    if (link.records.length > 0 && !link.conflictWarned) {
      const clash = conflicts(link.records, records);
      if (clash.length > 0) {
        link.conflictWarned = true;
        this.#log.warn({ from: rinfo.address, name: clash[0]!.name }, 'mDNS: another host advertises this node’s name with other data (a copied data directory gives two machines one node id)');
      }
    }
    if (!this.#browsing) return;
    if (link.cache.add(records, rinfo.address, Date.now())) this.#update(link);
  }

  /** Sends what is due on each link (queries, refreshes) and drops what expired. */
  #tick(now: number): void {
    if (this.#stopping || !this.#browsing) return;
    for (const link of this.#links.values()) {
      if (link.cache.expire(now)) this.#update(link);
      const questions: Question[] = link.cache.questions(now);
      if (link.schedule !== undefined && now >= link.schedule.next) {
        link.schedule.sent(now);
        if (!questions.some((q) => q.name === SERVICE && q.type === 'PTR')) questions.unshift({ name: SERVICE, type: 'PTR' });
      }
      if (questions.length === 0) continue;
      this.#send(link, { type: 'query', questions, answers: link.cache.knownAnswers(questions, now) });
    }
  }

  /** Tells what changed in a link's view: peers gone, peers new or changed. */
  #update(link: Link): void {
    const now = new Map<string, Peer>();
    for (const i of link.cache.instances()) {
      const peer = this.#peer(i);
      if (peer !== undefined) now.set(peer.name, peer);
    }
    for (const [name, old] of link.known) {
      const next = now.get(name);
      if (next !== undefined && JSON.stringify(next) === JSON.stringify(old)) continue;
      link.known.delete(name);
      if (!this.#seenElsewhere(name, link)) this.emit('down', old);
    }
    for (const [name, peer] of now) {
      if (link.known.has(name)) continue;
      link.known.set(name, peer);
      this.emit('up', this.peers().find((p) => p.name === name) ?? peer);
    }
  }

  #peer(i: Instance): Peer | undefined {
    const txt = Txt.safeParse(i.txt);
    if (!txt.success) return undefined;
    if (txt.data.id === this.#ad?.id || i.addresses.length === 0 || !(i.port > 0)) return undefined;
    const name = i.name.slice(0, -(SERVICE.length + 1));
    return { id: txt.data.id, network: txt.data.net, version: txt.data.v, name, host: i.host, port: i.port, addresses: i.addresses };
  }

  /** Stops a link's sockets, first withdrawing its advertisement when `goodbye`. */
  #close(link: Link, goodbye: boolean): Promise<void> {
    for (const timer of link.timers) clearTimeout(timer);
    link.timers.clear();
    return new Promise<void>((resolve) => {
      const destroy = (): void => {
        clearTimeout(timer);
        let left = link.sockets.length;
        if (left === 0) return resolve();
        for (const s of link.sockets) s.destroy(() => --left === 0 && resolve());
      };
      const timer = setTimeout(destroy, GOODBYE_MS); // the goodbye is best effort
      if (!goodbye || link.records.length === 0) return destroy();
      this.#send(link, { type: 'response', answers: goodbyes(link.records) }, destroy);
    });
  }

  #seenElsewhere(name: string, except: Link): boolean {
    for (const link of this.#links.values()) if (link !== except && link.known.has(name)) return true;
    return false;
  }
}

/** A record's identity for the one-second rule: name, type and data. */
function recordKey(r: Rr): string {
  return `${r.type} ${r.name.toLowerCase()} ${dataKey(r)}`;
}

/** A packet's records less EDNS's OPT. */
function only(records: readonly Answer[] | undefined): Rr[] {
  return (records ?? []).filter((r): r is Rr => r.type !== 'OPT');
}
