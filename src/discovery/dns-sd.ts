import { isIP } from 'node:net';
import type { Answer, Question, SrvData } from 'dns-packet';
import { PROTOCOL_VERSION } from '../protocol/limits.js';
import type { Advertisement } from './discovery.js';

/**
 * DNS-SD over mDNS as RFC 6762 and 6763 ask, without I/O or a clock: the
 * records a node advertises, the answer to a query (known answers
 * suppressed), the cache a browser keeps (flushes, goodbyes, expiry), and
 * when it asks (1 s doubling to an hour, and refreshes at 80–95 % of a
 * record's life). `mdns.ts` drives it with sockets and timers.
 */

/** The service type's name (DNS-SD `_lanchat._tcp`, DESIGN §3). */
export const SERVICE = '_lanchat._tcp.local';
/** Service type enumeration (RFC 6763 §9): lists the types a host offers. */
export const SERVICES = '_services._dns-sd._udp.local';

/** RFC 6762 §10: 120 s for records naming a host (SRV, A, AAAA), 75 minutes for the others. */
export const HOST_TTL = 120;
export const OTHER_TTL = 4_500;

/** Between queries: at least 1 s, then each interval double the last, up to an hour (RFC 6762 §5.2). */
export const FIRST_INTERVAL_MS = 1_000;
export const MAX_INTERVAL_MS = 3_600_000;

/** Bounds on what a browser keeps from the network (anyone on the LAN may send anything). */
export const MAX_INSTANCES = 256;
const MAX_ADDRESSES = 8;
/** Record sets (a name and a type) kept: an instance has a PTR entry, SRV, TXT, A and AAAA. */
const MAX_SETS = MAX_INSTANCES * 4 + 1;
/** A TXT record longer than this is not kept (RFC 6763 §6.2 recommends at most 1,300 bytes). */
const MAX_TXT_BYTES = 1_300;

/** Every record kind but EDNS's OPT (which has no TTL or data of its own). */
export type Rr = Exclude<Answer, { type: 'OPT' }>;

/** A host name's label: letters, digits and hyphens (RFC 952/1123), at most 40 characters, never empty. */
export function hostLabel(hostname: string): string {
  const label = (hostname.split('.')[0] ?? '')
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .replace(/[^A-Za-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40)
    .replace(/-+$/, '');
  return label === '' ? 'lanchat' : label;
}

/** The names a node advertises under: unique by its id, so two machines of one host name never clash. */
export function namesFor(ad: Pick<Advertisement, 'id'>, hostname: string): { instance: string; target: string } {
  const label = `${hostLabel(hostname)}-${ad.id.slice(0, 8)}`;
  return { instance: `${label}.${SERVICE}`, target: `${label}.local` };
}

/** TXT strings: `txtvers` first (RFC 6763 §6.7), short keys. */
export function txtStrings(ad: Advertisement): string[] {
  return ['txtvers=1', `id=${ad.id}`, `net=${ad.network}`, `v=${PROTOCOL_VERSION}`];
}

/** Everything a node answers for on one link: its addresses there are that link's only. */
export function recordsFor(ad: Advertisement, hostname: string, addresses: readonly string[]): Rr[] {
  const { instance, target } = namesFor(ad, hostname);
  const out: Rr[] = [
    { name: SERVICE, type: 'PTR', ttl: OTHER_TTL, data: instance },
    { name: SERVICES, type: 'PTR', ttl: OTHER_TTL, data: SERVICE },
    { name: instance, type: 'SRV', ttl: HOST_TTL, flush: true, data: { priority: 0, weight: 0, port: ad.port, target } },
    { name: instance, type: 'TXT', ttl: OTHER_TTL, flush: true, data: txtStrings(ad).map((s) => Buffer.from(s)) },
  ];
  for (const a of addresses) {
    const family = isIP(a);
    if (family === 4) out.push({ name: target, type: 'A', ttl: HOST_TTL, flush: true, data: a });
    if (family === 6) out.push({ name: target, type: 'AAAA', ttl: HOST_TTL, flush: true, data: a });
  }
  return out;
}

/** The same record set with TTL 0: a goodbye (RFC 6762 §10.1). */
export function goodbyes(records: readonly Rr[]): Rr[] {
  return records.map((r) => ({ ...r, ttl: 0 }) as Rr);
}

const lower = (s: string) => s.toLowerCase();

/** The record's data in one comparable form (names compare without case). */
export function dataKey(r: Rr): string {
  switch (r.type) {
    case 'PTR':
      return lower(r.data);
    case 'SRV':
      return `${r.data.priority} ${r.data.weight} ${r.data.port} ${lower(r.data.target)}`;
    case 'TXT': {
      const parts = Array.isArray(r.data) ? r.data : [r.data];
      return parts.map((p) => Buffer.from(p).toString('hex')).join(' ');
    }
    case 'A':
    case 'AAAA':
      return r.data;
    default:
      return '';
  }
}

/** At most this many questions and known answers of one query are looked at. */
export const MAX_QUESTIONS = 64;
export const MAX_KNOWN = 256;

/** A record's identity: type, name (without case) and data. */
export function recordKey(r: Rr): string {
  return `${r.type} ${lower(r.name)} ${dataKey(r)}`;
}

const classOk = (q: Question) => q.class === undefined || q.class === 'IN' || q.class === 'ANY' || String(q.class) === 'UNKNOWN_32769'; // IN with the QU bit (dns-packet does not decode it)

/**
 * What to answer to a query, or nothing: the records asked for, less those the querier says it already has
 * with at least half their life left (known-answer suppression, RFC 6762 §7.1), and as additional records
 * what it will want next (RFC 6763 §12).
 */
export function respond(records: readonly Rr[], questions: readonly Question[], known: readonly Rr[]): { answers: Rr[]; additionals: Rr[] } | undefined {
  // Bounded, and each lookup O(1): a packet from anyone may hold thousands of questions and known answers.
  const knownTtl = new Map<string, number>();
  for (const k of known.slice(0, MAX_KNOWN)) {
    const key = recordKey(k);
    knownTtl.set(key, Math.max(knownTtl.get(key) ?? 0, k.ttl ?? 0));
  }
  const suppressed = (r: Rr) => (knownTtl.get(recordKey(r)) ?? -1) >= (r.ttl ?? 0) / 2;
  const answers: Rr[] = [];
  for (const q of questions.slice(0, MAX_QUESTIONS)) {
    if (!classOk(q)) continue;
    for (const r of records) {
      if (lower(r.name) !== lower(q.name) || ((q.type as string) !== 'ANY' && q.type !== r.type)) continue;
      if (!answers.includes(r) && !suppressed(r)) answers.push(r);
    }
  }
  if (answers.length === 0) return undefined;
  const additionals: Rr[] = [];
  const add = (r: Rr) => {
    if (!answers.includes(r) && !additionals.includes(r)) additionals.push(r);
  };
  for (const a of answers) {
    if (a.type === 'PTR' && lower(a.name) === lower(SERVICE)) for (const r of records) if (lower(r.name) === lower(a.data)) add(r);
  }
  for (const a of [...answers, ...additionals]) {
    if (a.type === 'SRV') for (const r of records) if ((r.type === 'A' || r.type === 'AAAA') && lower(r.name) === lower(a.data.target)) add(r);
  }
  return { answers, additionals };
}

/**
 * Duplicate question suppression (RFC 6762 §7.3): another host's query of our question lets us count ours as
 * sent only when every known answer it lists is one we would list too (`ours`: the PTR data we know). A query
 * that knows more than we do is not answered with what we lack (its known answers are suppressed), so ours
 * must still go out: a new client that took the query of a node knowing its peers for its own heard nothing.
 */
export function coversOurQuery(ours: readonly Rr[], theirs: readonly Rr[]): boolean {
  const mine = new Set(ours.filter((a) => a.type === 'PTR').map((a) => lower(String(a.data))));
  return theirs.filter((a) => a.type === 'PTR' && lower(a.name) === SERVICE).every((a) => mine.has(lower(String(a.data))));
}

/** True when a response from elsewhere claims one of our unique records with other data (a conflict). */
export function conflicts(records: readonly Rr[], received: readonly Rr[]): Rr[] {
  return received.filter(
    (x) => (x.ttl ?? 0) > 0 && records.some((r) => r.flush === true && r.type === x.type && lower(r.name) === lower(x.name) && (r.type === 'SRV' || r.type === 'TXT') && dataKey(r) !== dataKey(x)),
  );
}

/** A service instance as the cache knows it. */
export interface Instance {
  /** The instance's full name, e.g. `lab-9f2c1a3b._lanchat._tcp.local`. */
  name: string;
  host: string;
  port: number;
  /** TXT keys (lower case) and values, first occurrence of each key (RFC 6763 §6.4). */
  txt: Record<string, string>;
  /** Addresses to dial, best first: where the SRV came from, then A, then AAAA (no link-local ones). */
  addresses: string[];
}

interface Cached {
  rr: Rr;
  /** When received (ms) and when it dies. */
  at: number;
  expires: number;
  /** Refresh queries sent for it so far (at 80, 85, 90, 95 % of its life). */
  refreshes: number;
}

const REFRESH_AT = [0.8, 0.85, 0.9, 0.95];

/** Whether an address is worth dialling: IPv4 (not link-local, not a wildcard or multicast one), or IPv6 that is not link-local (a URL cannot carry a zone). */
export function dialable(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return !address.startsWith('169.254.') && address !== '0.0.0.0' && !/^(22[4-9]|2[3-5]\d)\./.test(address);
  if (family === 6) return !/^fe[89ab]/i.test(address) && !/^ff/i.test(address) && address !== '::1' && address !== '::';
  return false;
}

/** A TXT record's data, copied out of the datagram it came in (kept alone, not the whole packet), if not too long (RFC 6763 §6.2). */
function ownTxt(rr: Rr): Rr | undefined {
  if (rr.type !== 'TXT') return rr;
  const parts = (Array.isArray(rr.data) ? rr.data : [rr.data]).map((p) => Buffer.from(p));
  if (parts.reduce((n, p) => n + p.length + 1, 0) > MAX_TXT_BYTES) return undefined;
  return { ...rr, data: parts };
}

/** Retries of a question about a record an instance lacks: 1 s, 2 s, 4 s, 8 s, then the instance is given up. */
const MISSING_TRIES = 4;

/**
 * A browser's cache of `_lanchat._tcp` instances and their hosts. `now` is given to every call. Only the
 * service's PTRs, the SRV and TXT of instances they name and the addresses of hosts those SRVs name are
 * kept; TTLs are capped (75 min, 120 s for host records) and the number of record sets is bounded, the
 * least recently refreshed going first.
 */
export class ServiceCache {
  readonly #records = new Map<string, Cached[]>();
  /** Where each instance's SRV last came from (the source address answers from a reachable address). */
  readonly #source = new Map<string, string>();
  /** Questions about what an instance lacks: how often asked, and when next. */
  readonly #missing = new Map<string, { tries: number; next: number }>();
  readonly #random: () => number;

  constructor(random: () => number = Math.random) {
    this.#random = random;
  }

  /** Applies the records of a response received from `from` at `now`. Returns whether anything changed. */
  add(records: readonly Rr[], from: string, now: number): boolean {
    let changed = false;
    const flushed = new Set<string>();
    // Names this packet or the cache make worth keeping: instances a PTR names, hosts an SRV names.
    const instances = new Set(this.#get('PTR', SERVICE).map((c) => lower(c.rr.data as string)));
    for (const rr of records) if (rr.type === 'PTR' && lower(rr.name) === lower(SERVICE) && (rr.ttl ?? 0) > 0) instances.add(lower(rr.data));
    const hosts = new Set<string>();
    for (const name of instances) for (const c of this.#get('SRV', name)) hosts.add(lower((c.rr.data as SrvData).target));
    for (const rr of records) if (rr.type === 'SRV' && instances.has(lower(rr.name))) hosts.add(lower(rr.data.target));
    for (const raw of records) {
      if (!wanted(raw, instances, hosts)) continue;
      const rr = ownTxt(raw);
      if (rr === undefined) continue;
      const key = `${rr.type} ${lower(rr.name)}`;
      let list = this.#records.get(key);
      if (list === undefined) {
        if ((rr.ttl ?? 0) === 0) continue;
        if (this.#records.size >= MAX_SETS) this.#evictOldest();
        list = [];
        this.#records.set(key, list);
      }
      // Cache flush (RFC 6762 §10.2): records of this set older than a second are replaced by this response's.
      if (rr.flush === true && !flushed.has(key)) {
        flushed.add(key);
        const kept = list.filter((c) => now - c.at < 1_000 || dataKey(c.rr) === dataKey(rr));
        if (kept.length !== list.length) changed = true;
        list.splice(0, list.length, ...kept);
      }
      const i = list.findIndex((c) => dataKey(c.rr) === dataKey(rr));
      const ttl = Math.min(rr.ttl ?? 0, rr.type === 'PTR' || rr.type === 'TXT' ? OTHER_TTL : HOST_TTL);
      if (ttl === 0) {
        // A goodbye: gone now (RFC 6762 §10.1 allows a second's grace; nothing here needs it).
        if (i >= 0) {
          list.splice(i, 1);
          changed = true;
        }
      } else if (i >= 0) {
        list[i] = { rr, at: now, expires: now + ttl * 1_000, refreshes: 0 };
      } else if (list.length < (rr.type === 'PTR' ? MAX_INSTANCES : MAX_ADDRESSES)) {
        list.push({ rr, at: now, expires: now + ttl * 1_000, refreshes: 0 });
        changed = true;
      }
      if (list.length === 0) this.#records.delete(key);
      if (rr.type === 'SRV' && ttl > 0) this.#source.set(lower(rr.name), from);
    }
    return this.#forgetHalfGone() || changed;
  }

  /** Drops what has outlived its TTL. Returns whether anything went. */
  expire(now: number): boolean {
    let changed = false;
    for (const [key, list] of this.#records) {
      const kept = list.filter((c) => c.expires > now);
      if (kept.length === list.length) continue;
      changed = true;
      if (kept.length === 0) this.#records.delete(key);
      else this.#records.set(key, kept);
    }
    return this.#forgetHalfGone() || changed;
  }

  /** The instances whose PTR, SRV and TXT are all known, with their addresses. */
  instances(): Instance[] {
    const out: Instance[] = [];
    for (const ptr of this.#get('PTR', SERVICE)) {
      const name = ptr.rr.data as string;
      const srv = this.#get('SRV', name)[0]?.rr.data as SrvData | undefined;
      const txt = this.#get('TXT', name)[0];
      if (srv === undefined || txt === undefined) continue;
      const a = this.#get('A', srv.target).map((c) => c.rr.data as string);
      const aaaa = this.#get('AAAA', srv.target).map((c) => c.rr.data as string);
      const source = this.#source.get(lower(name));
      const addresses = [...new Set([...(source !== undefined ? [source] : []), ...a, ...aaaa])].filter(dialable);
      out.push({ name, host: srv.target, port: srv.port, txt: parseTxt(txt.rr), addresses });
    }
    return out;
  }

  /**
   * Questions worth asking now: what a known instance lacks (its SRV and TXT, its host's addresses; each
   * asked 1, 2, 4 and 8 s apart, then the instance is given up), and the records past 80 % of their life
   * (each asked at most four times, at 80, 85, 90 and 95 %, RFC 6762 §5.2).
   */
  questions(now: number): Question[] {
    const out = new Map<string, Question>();
    const ask = (name: string, type: Question['type']) => out.set(`${type} ${lower(name)}`, { name, type });
    const lacking = new Set<string>();
    const askMissing = (instance: string, name: string, type: Question['type']) => {
      const key = `${type} ${lower(name)}`;
      lacking.add(key);
      const m = this.#missing.get(key) ?? { tries: 0, next: now };
      if (now < m.next) return;
      if (m.tries >= MISSING_TRIES) return this.#giveUp(instance);
      m.tries++;
      m.next = now + 1_000 * 2 ** (m.tries - 1);
      this.#missing.set(key, m);
      ask(name, type);
    };
    for (const ptr of [...this.#get('PTR', SERVICE)]) {
      const name = ptr.rr.data as string;
      const srv = this.#get('SRV', name)[0]?.rr.data as SrvData | undefined;
      if (srv === undefined) askMissing(name, name, 'SRV');
      if (this.#get('TXT', name).length === 0) askMissing(name, name, 'TXT');
      if (srv !== undefined && this.#get('A', srv.target).length + this.#get('AAAA', srv.target).length === 0) {
        askMissing(name, srv.target, 'A');
        askMissing(name, srv.target, 'AAAA');
      }
    }
    for (const key of this.#missing.keys()) if (!lacking.has(key)) this.#missing.delete(key);
    for (const list of this.#records.values()) {
      for (const c of list) {
        const life = c.expires - c.at;
        const due = c.refreshes < REFRESH_AT.length && now >= c.at + life * (REFRESH_AT[c.refreshes]! + this.#jitter(c));
        if (!due) continue;
        c.refreshes++;
        ask(c.rr.name, c.rr.type as Question['type']);
      }
    }
    return [...out.values()];
  }

  /** The answers to put in a query for these questions: those with more than half their life left (RFC 6762 §7.1). */
  knownAnswers(questions: readonly Question[], now: number): Rr[] {
    const out: Rr[] = [];
    for (const q of questions) {
      for (const c of this.#get(q.type, q.name)) {
        const left = c.expires - now;
        if (left > (c.expires - c.at) / 2) out.push({ ...c.rr, ttl: Math.floor(left / 1_000) } as Rr);
      }
    }
    return out;
  }

  #get(type: string, name: string): Cached[] {
    return this.#records.get(`${type} ${lower(name)}`) ?? [];
  }

  /** An instance that stopped answering for what it lacks: its PTR (and what else it left) goes. */
  #giveUp(instance: string): void {
    const ptrs = this.#records.get(`PTR ${lower(SERVICE)}`);
    if (ptrs !== undefined) {
      const kept = ptrs.filter((c) => lower(c.rr.data as string) !== lower(instance));
      if (kept.length === 0) this.#records.delete(`PTR ${lower(SERVICE)}`);
      else this.#records.set(`PTR ${lower(SERVICE)}`, kept);
    }
    for (const type of ['SRV', 'TXT']) this.#records.delete(`${type} ${lower(instance)}`);
    this.#source.delete(lower(instance));
  }

  /** An instance whose SRV went (expired, said goodbye) is gone, PTR and all (RFC 6762 §10.5); strays too. */
  #forgetHalfGone(): boolean {
    let changed = false;
    for (const name of [...this.#source.keys()]) {
      if (this.#records.has(`SRV ${name}`)) continue;
      this.#giveUp(name);
      changed = true;
    }
    return changed;
  }

  /** Makes room: the record set refreshed least recently goes. */
  #evictOldest(): void {
    let oldest: string | undefined;
    let at = Infinity;
    for (const [key, list] of this.#records) {
      const newest = Math.max(...list.map((c) => c.at));
      if (newest < at) {
        at = newest;
        oldest = key;
      }
    }
    if (oldest !== undefined) this.#records.delete(oldest);
  }

  /** A record's own 0–2 % (RFC 6762 §5.2), fixed for its life so a refresh is asked once per step. */
  #jitter(c: Cached & { jitter?: number }): number {
    c.jitter ??= this.#random() * 0.02;
    return c.jitter;
  }
}

/** Only the service's PTRs, the SRV and TXT records of instances they name, and the addresses of hosts those name. */
function wanted(rr: Rr, instances: ReadonlySet<string>, hosts: ReadonlySet<string>): boolean {
  if (rr.type === 'PTR') return lower(rr.name) === lower(SERVICE);
  if (rr.type === 'SRV' || rr.type === 'TXT') return instances.has(lower(rr.name));
  if (rr.type === 'A' || rr.type === 'AAAA') return hosts.has(lower(rr.name)) && isIP(rr.data) !== 0;
  return false;
}

/** TXT strings as keys and values: keys without case, the first of each key, `key` alone as empty (RFC 6763 §6). */
export function parseTxt(rr: Rr): Record<string, string> {
  const out: Record<string, string> = {};
  const data = rr.type === 'TXT' ? rr.data : [];
  for (const part of Array.isArray(data) ? data : [data]) {
    const s = Buffer.from(part).toString('utf8');
    if (s === '') continue;
    const eq = s.indexOf('=');
    const key = (eq < 0 ? s : s.slice(0, eq)).toLowerCase();
    if (key === '' || key in out) continue;
    out[key] = eq < 0 ? '' : s.slice(eq + 1);
  }
  return out;
}

/**
 * When to ask: the first query 20–120 ms after browsing starts (RFC 6762 §5.2), then 1 s later, then each
 * interval twice the last, up to an hour. `restart` when the network changed (an interface came up).
 */
export class QuerySchedule {
  #next: number;
  #interval = FIRST_INTERVAL_MS;
  readonly #random: () => number;

  constructor(now: number, random: () => number = Math.random) {
    this.#random = random;
    this.#next = now + 20 + Math.floor(random() * 100);
  }

  get next(): number {
    return this.#next;
  }

  /** A query went out at `now`: the next one is due after the current interval, which doubles. */
  sent(now: number): void {
    this.#next = now + this.#interval;
    this.#interval = Math.min(this.#interval * 2, MAX_INTERVAL_MS);
  }

  restart(now: number): void {
    this.#interval = FIRST_INTERVAL_MS;
    this.#next = now + 20 + Math.floor(this.#random() * 100);
  }
}
