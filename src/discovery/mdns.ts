import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import type { RemoteInfo } from 'node:dgram';
import makeMdns from 'multicast-dns';
import type { Answer, Packet, Question } from 'dns-packet';
import type { Logger } from 'pino';
import { inSubnet, lanInterfaces, type LanInterface } from './interfaces.js';
import { Txt, type Advertisement, type Discovery, type DiscoveryEvents, type Peer } from './discovery.js';
import { conflicts, coversOurQuery, goodbyes, MAX_KNOWN, MAX_QUESTIONS, namesFor, recordKey, QuerySchedule, recordsFor, respond, SERVICE, ServiceCache, type Instance, type Rr } from './dns-sd.js';

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
  /** Signatures of the queries we sent in the last second. */
  readonly ownQueries: Set<string>;
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
  /**
   * The ID our queries carry, one per process (RFC 6762 §18.1 lets it be non-zero; responders ignore it): two
   * processes of one host asking the same thing are told apart, so neither takes the other's query for its own.
   */
  readonly #queryId = 1 + Math.floor(Math.random() * 0xfffe);

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
      // An address came or went (DHCP, SLAAC): the sockets were set up for the old ones (a socket sends from
      // the address it was given), so the link starts again: goodbyes for the old records, new sockets, records
      // announced anew, queries from 1 s again (the network changed).
      this.#log.info({ address: this.#describe(lan) }, 'mDNS: addresses changed');
      this.#links.delete(key);
      const gone = [...link.known.values()].filter((p) => !this.#seenElsewhere(p.name, link));
      void this.#close(link, true);
      for (const p of gone) this.emit('down', p); // found again on the new link, as its answers come
      const made = this.#open(key, lan);
      if (made === undefined) continue;
      this.#links.set(key, made);
      if (this.#ad) this.#publish(made);
    }
  }

  #describe(lan: LanInterface | undefined): string {
    return lan === undefined ? 'default route' : [...lan.v4.map((a) => a.address), ...lan.v6].join(' ');
  }

  #open(key: string, lan: LanInterface | undefined): Link | undefined {
    const link: Link = { key, lan, sockets: [], records: [], cache: new ServiceCache(), schedule: this.#browsing ? new QuerySchedule(Date.now()) : undefined, known: new Map(), timers: new Set(), conflictWarned: false, multicastAt: new Map(), ownQueries: new Set(), legacy: { second: 0, count: 0 } };
    const ready = new Set<Mdns>();
    const failed = new Set<Mdns>();
    const onError = (err: NodeJS.ErrnoException, socket: Mdns, family: 4 | 6): void => {
      if (failed.has(socket)) return; // multicast-dns reports a bind failure twice
      const binding = !ready.has(socket) || err.code === 'EADDRINUSE' || err.code === 'EACCES';
      if (!binding) {
        // A send that failed (an interface going away before the next rescan): not fatal for the link.
        this.#log.debug({ err, iface: key }, 'mDNS send failed');
        return;
      }
      failed.add(socket);
      const i = link.sockets.indexOf(socket);
      if (i >= 0) link.sockets.splice(i, 1);
      socket.destroy();
      if (family === 6 && link.sockets.length > 0) return void this.#log.debug({ err, iface: key }, 'mDNS over IPv6 is unavailable on this interface');
      if (err.code !== 'EADDRINUSE' && err.code !== 'EACCES') {
        this.#log.debug({ err, iface: key, family }, 'mDNS socket could not be set up');
        if (link.sockets.length > 0) return;
      }
      // Binding UDP 5353 failed: another responder holds it without sharing, or no permission.
      // The link goes; the next rescan tries again. Without mDNS the node still works by address (--join, --connect).
      const unavailable = new MdnsUnavailableError(err);
      if (!this.#warned) this.#log.warn({ err, iface: key }, unavailable.message);
      this.#warned = true;
      if (this.#links.get(key) === link) {
        this.#links.delete(key);
        void this.#close(link, false);
      }
      if (this.listenerCount('error') > 0) this.emit('error', unavailable);
    };
    const add = (family: 4 | 6, options: makeMdns.Options): void => {
      let socket: Mdns;
      try {
        socket = makeMdns(options);
      } catch (err) {
        return void this.#log.debug({ err, iface: key, family }, 'mDNS socket not opened');
      }
      socket.on('error', (err: NodeJS.ErrnoException) => onError(err, socket, family));
      socket.once('ready', () => ready.add(socket));
      socket.on('warning', (err: Error) => this.#log.debug({ err }, 'mDNS warning (a malformed packet or a failed send, ignored)'));
      socket.on('query', (packet: Packet, rinfo: RemoteInfo) => this.#onQuery(link, socket, family, packet, rinfo));
      socket.on('response', (packet: Packet, rinfo: RemoteInfo) => this.#onResponse(link, family, packet, rinfo));
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
      else socket.query({ id: this.#queryId, questions: packet.questions ?? [], answers: packet.answers ?? [] }, sent);
    }
    if (packet.type === 'query') {
      // Remembered a moment, so that our own query, looped back, is not taken for another host's (§7.3).
      const signature = querySignature(this.#queryId, packet.questions ?? [], only(packet.answers));
      link.ownQueries.add(signature);
      this.#later(link, 1_000, () => link.ownQueries.delete(signature));
    }
  }

  #onQuery(link: Link, socket: Mdns, family: 4 | 6, packet: Packet, rinfo: RemoteInfo): void {
    if (this.#stopping || !this.#onLink(link, family, rinfo)) return;
    const questions = (packet.questions ?? []).slice(0, MAX_QUESTIONS);
    const known = only(packet.answers).slice(0, MAX_KNOWN);
    const now = Date.now();
    // Our own query, looped back: nothing to answer (we hold our records) and nobody else's question (§7.3).
    if (link.ownQueries.has(querySignature(packet.id ?? 0, questions, known))) return;
    // Another host asking what we would ask, knowing no more than we do: our own query counts as sent (§7.3).
    if (link.schedule !== undefined && questions.some((q) => q.name.toLowerCase() === SERVICE && (q.type === 'PTR' || (q.type as string) === 'ANY')) && link.schedule.next - now < 1_000) {
      if (coversOurQuery(link.cache.knownAnswers([{ name: SERVICE, type: 'PTR' }], now), known)) link.schedule.sent(now);
    }
    if (link.records.length === 0) return;
    const reply = respond(link.records, questions, known);
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
    // A record goes out on a socket at most once a second (RFC 6762 §6): one multicast within the last second
    // delays it to a second after that one; one already on its way is not sent twice.
    const sentAt = this.#sentAt(link, socket);
    const answers = reply.answers.filter((r) => (sentAt.get(recordKey(r)) ?? -Infinity) <= now);
    if (answers.length === 0) return;
    const wait = Math.max(0, ...answers.map((r) => (sentAt.get(recordKey(r)) ?? -Infinity) + 1_000 - now));
    // Shared records (a PTR many hosts may hold) wait 20–120 ms so answers do not collide (§6); unique ones go at once.
    const delay = Math.max(wait, answers.some((r) => r.type === 'PTR') ? 20 + Math.floor(Math.random() * 100) : 0);
    this.#mark(link, socket, answers, now + delay);
    // On the socket the query came in on: a querier that asks over IPv4 and IPv6 gets one answer on each.
    const go = () => socket.respond({ answers, additionals: reply.additionals });
    if (delay > 0) this.#later(link, delay, go);
    else go();
  }

  /**
   * Whether a packet came from this link's LAN: every socket on the shared port hears every interface, so an
   * IPv4 source must be in one of the interface's subnets (or link-local), an IPv6 one link-local on this
   * interface or in its prefixes. The default-route link (no LAN interface) takes everything.
   */
  #onLink(link: Link, family: 4 | 6, rinfo: RemoteInfo): boolean {
    const lan = link.lan;
    if (lan === undefined) return true;
    const address = rinfo.address;
    if (family === 4) return address.startsWith('169.254.') || lan.v4.some((a) => inSubnet(address, a.address, a.netmask));
    const zone = /%(.+)$/.exec(address)?.[1];
    if (/^fe[89ab]/i.test(address)) return zone === undefined || zone === lan.iface;
    return lan.v6.some((mine) => samePrefix64(address, mine));
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

  #onResponse(link: Link, family: 4 | 6, packet: Packet, rinfo: RemoteInfo): void {
    // Responses come from port 5353 (RFC 6762 §6), from this LAN; a bounded number of records is looked at.
    if (this.#stopping || rinfo.port !== 5353 || !this.#onLink(link, family, rinfo)) return;
    const records = [...only(packet.answers), ...only(packet.additionals)].slice(0, MAX_RECORDS);
    if (link.records.length > 0 && !link.conflictWarned) {
      const clash = conflicts(link.records, records);
      if (clash.length > 0) {
        link.conflictWarned = true;
        this.#log.warn({ from: rinfo.address, name: clash[0]!.name }, 'mDNS: another host advertises this node’s name with other data (a copied data directory gives two machines one node id)');
      }
    }
    if (!this.#browsing) return;
    // Our own records, echoed back by the multicast loop, are not something we found.
    const own = this.#ad === undefined ? undefined : namesFor(this.#ad, hostname());
    const others = own === undefined ? records : records.filter((r) => ![own.instance, own.target].includes(r.name.toLowerCase()) && !(r.type === 'PTR' && r.data.toLowerCase() === own.instance));
    if (link.cache.add(others, rinfo.address.replace(/%.*$/, ''), Date.now())) this.#update(link);
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

/** At most this many records of one response are looked at. */
const MAX_RECORDS = 512;

/** What identifies a query of ours when it comes back: this process's query ID, its questions and known answers. */
function querySignature(id: number, questions: readonly Question[], known: readonly Rr[]): string {
  return `${id}|${questions.map((q) => `${q.type} ${q.name.toLowerCase()}`).join(',')}|${known.map(recordKey).join(',')}`;
}

/** Whether two IPv6 addresses share their first 64 bits (the LAN's prefix). */
function samePrefix64(a: string, b: string): boolean {
  const head = (x: string) => {
    const [left = '', right] = x.replace(/%.*$/, '').toLowerCase().split('::');
    const l = left === '' ? [] : left.split(':');
    const r = right === undefined || right === '' ? [] : right.split(':');
    const groups = right === undefined ? l : [...l, ...Array<string>(8 - l.length - r.length).fill('0'), ...r];
    return groups.slice(0, 4).map((g) => parseInt(g || '0', 16)).join(':');
  };
  return head(a) === head(b);
}

/** A packet's records less EDNS's OPT. */
function only(records: readonly Answer[] | undefined): Rr[] {
  return (records ?? []).filter((r): r is Rr => r.type !== 'OPT');
}
