import { nameSkeleton, userKey } from '../protocol/messages.js';
import { accountOf, messageId, type CollectEntry, type Entry, type MessageEntry, type SecretEntry, type StatusEntry, type UserEntry } from '../protocol/entries.js';
import { at, type ReadonlyVersionVector, type VersionVector } from './version-vector.js';
import { Rooms } from './rooms.js';

/** Undelivered direct messages kept per offline user; the oldest beyond this are dropped. */
const MAX_PENDING_PER_USER = 1_000;
/** Collected message ids remembered per user (a merge may bring copies and collects in any order). */
const MAX_COLLECTED_PER_USER = 2_000;
/** Message ids remembered for duplicate detection, in two generations of this many (resends come within seconds). */
const DEDUP_GENERATION = 50_000;
/** A resume replays at most this many messages (then the newest, and a gap)… */
const MAX_RESUME_MESSAGES = 10_000;
/** …and at most about this many bytes of frames, so a replay stays bounded. */
const MAX_RESUME_BYTES = 4 * 1024 * 1024;
/**
 * The history part of a login replay (broadcasts and one's own direct messages) is at most about this many
 * bytes on the wire, the newest that fit (issue #14: 400 messages of 4,000 control characters were 9.6 MB
 * of JSON at every login). What was kept for the user while offline comes whole.
 */
export const MAX_HISTORY_BYTES = 1024 * 1024;

export interface ChatStateOptions {
  /** Broadcasts (and direct messages per user) replayed at a login. */
  historySize: number;
  /**
   * Messages kept for sessions that resume with a cursor (DESIGN §5): a client
   * that was away, or on the other side of a partition, gets every message it
   * missed among the last this many; beyond, the newest and a gap.
   */
  resumeWindow?: number;
}

/** What a resuming session missed, in time order; `gap` when older ones it may have missed are gone. */
export interface Resume {
  missed: MessageEntry[];
  gap: boolean;
}

/**
 * The chat state derived from the log: accounts, recent history, offline
 * queues, the resume window and the duplicate-send index. Pure: no I/O, no
 * clock. Applying a set of entries in any order yields the same state
 * (messages are a grow-only set ordered by (ts, id); accounts resolve by
 * registration time; collects are set removals), so replicas that exchanged
 * what they lack agree, whatever the order of the exchange (DESIGN §5).
 */
export class ChatState {
  readonly #historySize: number;
  readonly #resumeWindow: number;
  /** Name key → the account holding the name. */
  readonly #users = new Map<string, UserEntry>();
  /** Registered names by skeleton (see `lookalike`). */
  readonly #skeletons = new Map<string, Set<string>>();
  /** Name key → accounts that lost the name to an earlier registration (a partition, DESIGN §5). */
  readonly #displaced = new Map<string, UserEntry[]>();
  /** Accounts displaced since the last `takeDisplaced()`: their sessions must close. */
  #newlyDisplaced: UserEntry[] = [];
  /** Queued since the last `takeQueued()`. */
  #queued: { user: string; message: MessageEntry }[] = [];
  #secret: SecretEntry | undefined;
  /** Last `historySize` broadcasts, in (ts, id) order. */
  readonly #broadcasts: MessageEntry[] = [];
  /** Per user: last `historySize` direct messages they sent or received. */
  readonly #direct = new Map<string, MessageEntry[]>();
  /** Per room (name key): its last `historySize` messages. */
  readonly #roomHistory = new Map<string, MessageEntry[]>();
  /** Rooms, their members and topics (issue #16). */
  readonly rooms = new Rooms();
  /** Name key → the latest status its user set. */
  readonly #statuses = new Map<string, StatusEntry>();
  /** The last `resumeWindow` messages of any kind. */
  readonly #window: MessageEntry[] = [];
  /** Per origin: the highest sequence number of a message that left the resume window. */
  readonly #evicted: VersionVector = new Map();
  /** Per user: direct messages sent while they were offline and not yet delivered. */
  readonly #pending = new Map<string, Map<string, MessageEntry>>();
  /** Per user: ids collected (delivered) → the collect's time, so a late copy of the message is not queued again. */
  readonly #collected = new Map<string, Map<string, number>>();
  /**
   * Collect entries whose ids are still remembered: kept in snapshots and installs, so a replica that gets
   * the state, not every entry, also learns what was delivered (its copies of the messages may still be queued).
   */
  readonly #collects = new Map<string, CollectEntry>();
  /** Every message id applied lately (two generations), so a message that comes by two paths counts once. */
  #ids = new Map<string, MessageEntry>();
  #oldIds = new Map<string, MessageEntry>();
  /** Every stored copy of a message stored more than once (two coordinators stored it), while its id is remembered. */
  readonly #copies = new Map<string, MessageEntry[]>();
  /** (sender, client id) → message id, in the same generations: a resend is found by what the client gave. */
  #clientIds = new Map<string, string>();
  #oldClientIds = new Map<string, string>();
  /** The highest timestamp seen: the hybrid logical clock new messages are stamped after. */
  #clock = 0;
  /** The last timestamp handed out by stampTime (messages stamped but not yet stored share it at most). */
  #stamped = 0;

  constructor(options: ChatStateOptions | number) {
    const o = typeof options === 'number' ? { historySize: options } : options;
    this.#historySize = o.historySize;
    this.#resumeWindow = o.resumeWindow ?? 0;
  }

  /** Applies one log entry. Idempotent and order-independent. */
  apply(e: Entry): void {
    switch (e.kind) {
      case 'user':
        return this.#applyUser(e);
      case 'message':
        return this.#applyMessage(e);
      case 'collect':
        return this.#applyCollect(e);
      case 'secret':
        // After a merge there may be two: the earliest wins, everywhere (DESIGN §5).
        if (this.#secret === undefined || e.created < this.#secret.created || (e.created === this.#secret.created && e.value < this.#secret.value)) {
          this.#secret = e;
        }
        return;
      case 'status': {
        this.#tick(e.ts);
        const key = userKey(e.user);
        const cur = this.#statuses.get(key);
        if (cur === undefined || e.ts > cur.ts || (e.ts === cur.ts && (e.origin > cur.origin || (e.origin === cur.origin && e.seq > cur.seq)))) this.#statuses.set(key, e);
        return;
      }
      case 'room':
      case 'member':
      case 'topic':
        // Stamped by the same clock as messages: a room's entries and messages keep the order they were stored in.
        this.#tick(e.kind === 'room' ? e.created : e.ts);
        return this.rooms.apply(e);
    }
  }

  /**
   * The state as entries, for snapshots and for catching up a replica that
   * lacks compacted entries: accounts, the messages still in some history,
   * window or offline queue (each with its current offline recipients), and
   * collects whose message has not arrived. Replaying these rebuilds this state.
   */
  *retained(): Iterable<Entry> {
    if (this.#secret) yield this.#secret;
    yield* this.#users.values();
    yield* this.rooms.retained();
    yield* this.#statuses.values();
    for (const list of this.#displaced.values()) yield* list;
    this.#pruneCollects();
    yield* this.#collects.values();
    const messages = new Map<string, MessageEntry>();
    const keep = (m: MessageEntry) => messages.set(m.id, m);
    this.#broadcasts.forEach(keep);
    for (const list of this.#direct.values()) list.forEach(keep);
    for (const list of this.#roomHistory.values()) list.forEach(keep);
    this.#window.forEach(keep);
    const pendingFor = new Map<string, string[]>();
    for (const [key, queue] of this.#pending) {
      for (const m of queue.values()) {
        keep(m);
        const name = m.to.find((n) => userKey(n) === key) ?? key;
        pendingFor.set(m.id, [...(pendingFor.get(m.id) ?? []), name]);
      }
    }
    for (const m of [...messages.values()].sort(byTime)) yield Object.assign({}, m, { pending: pendingFor.get(m.id) ?? [] }); // not a spread: one adding a key costs ~2.5 µs on Node 20
  }

  /** The network secret for session tokens, once one exists. */
  get secret(): SecretEntry | undefined {
    return this.#secret;
  }

  /** The account holding `name` (any case), if registered. */
  user(name: string): UserEntry | undefined {
    return this.#users.get(userKey(name));
  }

  get userCount(): number {
    return this.#users.size;
  }

  /** A registered name that looks like `name` (see `nameSkeleton`) but is not it, if any. */
  lookalike(name: string): string | undefined {
    const key = userKey(name);
    for (const other of this.#skeletons.get(nameSkeleton(name)) ?? []) if (other !== key) return this.#users.get(other)!.name;
    return undefined;
  }

  /** Accounts that lost `name` to an earlier registration elsewhere. */
  displaced(name: string): readonly UserEntry[] {
    return this.#displaced.get(userKey(name)) ?? [];
  }

  /** Messages queued for an offline user since the last call (a coordinator delivers those whose user is online). */
  takeQueued(): { user: string; message: MessageEntry }[] {
    const out = this.#queued;
    this.#queued = [];
    return out;
  }

  /** Accounts displaced since the last call: their live sessions must end (DESIGN §5). */
  takeDisplaced(): UserEntry[] {
    const out = this.#newlyDisplaced;
    this.#newlyDisplaced = [];
    return out;
  }

  /** The copies of message `id` applied here (one, unless two coordinators stored it); the representative first. */
  copiesOf(id: string): readonly MessageEntry[] {
    const rep = this.#ids.get(id) ?? this.#oldIds.get(id);
    if (rep === undefined) return [];
    const copies = this.#copies.get(id);
    return copies === undefined ? [rep] : [rep, ...copies.filter((c) => c !== rep)];
  }

  /** The stored message `from` already sent with client id `cid`, if any. */
  duplicateOf(from: string, cid: string): MessageEntry | undefined {
    const key = `${userKey(from)}\n${cid}`;
    const id = this.#clientIds.get(key) ?? this.#oldClientIds.get(key) ?? messageId(from, cid);
    return this.#ids.get(id) ?? this.#oldIds.get(id);
  }

  /**
   * A timestamp for a new message: now, but never at or before one already stored (a hybrid logical
   * clock), and never before one stamped earlier, so ts order is the order messages were stored in.
   */
  stampTime(now: number): number {
    this.#stamped = Math.max(now, this.#clock + 1, this.#stamped);
    return this.#stamped;
  }

  /** Offline messages waiting for `name` (for tests and the simulator's reports). */
  pendingFor(name: string): MessageEntry[] {
    return [...(this.#pending.get(userKey(name))?.values() ?? [])];
  }

  /** Whether `name` has offline messages waiting. */
  hasPending(name: string, id: string): boolean {
    return this.#pending.get(userKey(name))?.has(id) ?? false;
  }

  /**
   * What a user receives at login (issue #3): the recent messages they may
   * see (last broadcasts and their own direct messages), then the direct
   * messages sent to them while offline — each exactly once, in time order.
   */
  replayFor(name: string): { history: MessageEntry[]; offline: MessageEntry[]; gap: boolean } {
    const key = userKey(name);
    const offline = [...(this.#pending.get(key)?.values() ?? [])].sort(byTime);
    const offlineIds = new Set(offline.map((m) => m.id));
    const rooms = this.rooms.roomsOf(name).map((r) => newest(this.#roomHistory.get(userKey(r)) ?? [], this.#historySize));
    const history = mergeByTime(newest(this.#broadcasts, this.#historySize), newest(this.#direct.get(key) ?? [], this.#historySize), ...rooms).filter((m) => !offlineIds.has(m.id));
    let bytes = 0;
    let from = history.length;
    while (from > 0 && bytes + weight(history[from - 1]!) <= MAX_HISTORY_BYTES) bytes += weight(history[--from]!);
    return { history: history.slice(from), offline, gap: from > 0 };
  }

  /**
   * What a session that resumes with `cursor` (what it has seen, as a version
   * vector) missed: every message it may see that the cursor does not cover,
   * from the resume window and its offline queue, in time order. `gap` when
   * messages it may not have seen have left the window, or there are more
   * than a replay carries (then it gets the newest).
   */
  resumeFor(name: string, cursor: ReadonlyVersionVector, exclude: (m: MessageEntry) => boolean = () => false): Resume {
    const key = userKey(name);
    const found = new Map<string, MessageEntry>();
    const consider = (m: MessageEntry) => {
      if (m.seq > at(cursor, m.origin) && visibleTo(m, key) && !exclude(m)) found.set(m.id, m);
    };
    this.#window.forEach(consider);
    // What is kept for them goes whatever the cursor says: a copy may have reached them elsewhere, or not
    // (their client drops what it has seen); either way it is collected, so no queue keeps it for ever.
    this.#pending.get(key)?.forEach((m) => !exclude(m) && found.set(m.id, m));
    let gap = false;
    for (const [origin, seq] of this.#evicted) if (seq > at(cursor, origin)) gap = true;
    const missed = [...found.values()].sort(byTime);
    let bytes = 0;
    let from = missed.length;
    while (from > 0 && missed.length - from < MAX_RESUME_MESSAGES && bytes + weight(missed[from - 1]!) <= MAX_RESUME_BYTES) bytes += weight(missed[--from]!);
    if (from > 0) gap = true;
    return { missed: missed.slice(from), gap };
  }

  /**
   * A digest of everything replicas must agree on (the simulator compares
   * them): accounts, histories, offline queues, the resume window.
   */
  digest(): string {
    const parts: string[] = [];
    for (const [k, u] of [...this.#users].sort(byKey)) parts.push(`u ${k} ${accountOf(u)} ${u.hash} ${u.updated}`);
    for (const [k, list] of [...this.#displaced].sort(byKey)) parts.push(`d ${k} ${list.map(accountOf).sort().join(',')}`);
    parts.push(`s ${this.#secret?.value ?? '-'}`);
    parts.push(`b ${newest(this.#broadcasts, this.#historySize).map((m) => m.id).join(',')}`);
    for (const [k, list] of [...this.#direct].sort(byKey)) parts.push(`m ${k} ${newest(list, this.#historySize).map((m) => m.id).join(',')}`);
    for (const [k, list] of [...this.#roomHistory].sort(byKey)) parts.push(`rh ${k} ${newest(list, this.#historySize).map((m) => m.id).join(',')}`);
    parts.push(...this.rooms.digest());
    for (const [k, st] of [...this.#statuses].sort(byKey)) parts.push(`st ${k} ${st.status} ${JSON.stringify(st.text)}`);
    for (const [k, q] of [...this.#pending].sort(byKey)) if (q.size > 0) parts.push(`p ${k} ${[...q.keys()].sort().join(',')}`);
    parts.push(`w ${newest(this.#window, this.#resumeWindow).map((m) => m.id).join(',')}`);
    return parts.join('\n');
  }

  #applyUser(e: UserEntry): void {
    const key = userKey(e.name);
    const cur = this.#users.get(key);
    if (cur === undefined) {
      if (this.#displaced.get(key)?.some((u) => accountOf(u) === accountOf(e))) return this.#updateDisplaced(key, e);
      const skeleton = nameSkeleton(e.name);
      this.#skeletons.set(skeleton, (this.#skeletons.get(skeleton) ?? new Set()).add(key));
      return void this.#users.set(key, e);
    }
    if (accountOf(e) === accountOf(cur)) {
      if (newer(e, cur)) this.#users.set(key, e); // one account: the latest update wins
      return;
    }
    // Two accounts, one name: the earlier registration wins (DESIGN §5); the other is displaced, and told so.
    if (earlier(e, cur)) {
      this.#users.set(key, e);
      this.#displace(key, cur);
    } else {
      this.#displace(key, e);
    }
  }

  #displace(key: string, loser: UserEntry): void {
    const list = this.#displaced.get(key) ?? [];
    const same = list.findIndex((u) => accountOf(u) === accountOf(loser));
    if (same === -1) {
      list.push(loser);
      this.#newlyDisplaced.push(loser);
    } else if (newer(loser, list[same]!)) list[same] = loser;
    this.#displaced.set(key, list);
  }

  #updateDisplaced(key: string, e: UserEntry): void {
    const list = this.#displaced.get(key)!;
    const i = list.findIndex((u) => accountOf(u) === accountOf(e));
    if (newer(e, list[i]!)) list[i] = e;
  }

  #applyMessage(m: MessageEntry): void {
    const known = this.#ids.get(m.id) ?? this.#oldIds.get(m.id);
    if (known !== undefined) {
      // The same message stored twice (a resend to a new coordinator, both sides of a partition): one entry
      // represents it everywhere, the latest by (ts, origin, seq); offline recipients of either are kept.
      const copies = this.#copies.get(m.id) ?? [known];
      if (!copies.some((c) => c.origin === m.origin && c.seq === m.seq)) copies.push(m);
      this.#copies.set(m.id, copies);
      if (representsBefore(m, known)) this.#replace(known, m);
      this.#queueFor(m, this.#ids.get(m.id) ?? this.#oldIds.get(m.id)!);
      return;
    }
    if (this.#ids.size >= DEDUP_GENERATION) {
      for (const id of this.#oldIds.keys()) this.#copies.delete(id);
      this.#oldIds = this.#ids;
      this.#ids = new Map();
      this.#oldClientIds = this.#clientIds;
      this.#clientIds = new Map();
    }
    this.#ids.set(m.id, m);
    this.#clientIds.set(`${userKey(m.from)}\n${m.cid}`, m.id);
    this.#tick(m.ts);
    if (this.#resumeWindow > 0) insertBounded(this.#window, m, this.#resumeWindow, (gone) => this.#evict(gone));
    else this.#evict(m);
    this.#file(m);
    this.#queueFor(m, m);
  }

  /** Files `m` in the history it belongs to: the broadcasts, its room's, or its sender's and recipients'. */
  #file(m: MessageEntry): void {
    if (m.room !== undefined) {
      const key = userKey(m.room);
      let list = this.#roomHistory.get(key);
      if (list === undefined) this.#roomHistory.set(key, (list = []));
      return insertBounded(list, m, this.#historySize);
    }
    if (m.to.length === 0) return insertBounded(this.#broadcasts, m, this.#historySize);
    for (const key of involved(m)) {
      let list = this.#direct.get(key);
      if (list === undefined) this.#direct.set(key, (list = []));
      insertBounded(list, m, this.#historySize);
    }
  }

  /** The hybrid logical clock moves past every timestamp stored. */
  #tick(ts: number): void {
    if (ts > this.#clock) this.#clock = ts;
  }

  /** What `name` said they are, if they ever set a status. */
  statusOf(name: string): StatusEntry | undefined {
    return this.#statuses.get(userKey(name));
  }

  /** A room's last messages, oldest first (what a late joiner gets). */
  roomHistory(room: string): MessageEntry[] {
    return newest(this.#roomHistory.get(userKey(room)) ?? [], this.#historySize);
  }

  /** Notes that the resume window no longer holds `gone`: a cursor below it has a gap. */
  #evict(gone: MessageEntry): void {
    if (gone.seq > at(this.#evicted, gone.origin)) this.#evicted.set(gone.origin, gone.seq);
  }

  /** Queues `rep` (the message's representative) for the offline recipients `version` names, unless they had it. */
  #queueFor(version: MessageEntry, rep: MessageEntry): void {
    for (const name of version.pending) {
      const key = userKey(name);
      if (this.#collected.get(key)?.has(rep.id)) continue; // delivered already (its collect may have come first)
      this.#queue(key, rep);
    }
  }

  /** `m` represents its message from now on instead of `old`, wherever `old` was kept. */
  #replace(old: MessageEntry, m: MessageEntry): void {
    (this.#ids.has(old.id) ? this.#ids : this.#oldIds).set(m.id, m);
    // The newer copy goes in even where the old one was already dropped as too old: a window is the newest N
    // of the representatives, as on a replica that had the newer copy first.
    // Copies may even disagree on recipients (a client that reused a client id): the old one leaves the lists it
    // was in, the new one goes into its own.
    const drop = (list: MessageEntry[] | undefined) => {
      const i = list?.indexOf(old) ?? -1;
      if (i !== -1) list!.splice(i, 1);
    };
    drop(this.#window);
    if (this.#resumeWindow > 0) insertBounded(this.#window, m, this.#resumeWindow, (gone) => this.#evict(gone));
    if (old.room !== undefined) drop(this.#roomHistory.get(userKey(old.room)));
    else if (old.to.length === 0) drop(this.#broadcasts);
    else for (const key of involved(old)) drop(this.#direct.get(key));
    this.#file(m);
    for (const queue of this.#pending.values()) if (queue.get(m.id) === old) queue.set(m.id, m);
  }

  #applyCollect(e: CollectEntry): void {
    const key = userKey(e.user);
    const queue = this.#pending.get(key);
    let collected = this.#collected.get(key);
    if (collected === undefined) this.#collected.set(key, (collected = new Map()));
    for (const id of e.upTo) {
      queue?.delete(id);
      collected.set(id, e.ts);
    }
    while (collected.size > MAX_COLLECTED_PER_USER) collected.delete(oldestKey(collected));
    this.#collects.set(`${e.origin}#${e.seq}`, e);
    if (this.#collects.size > 4 * MAX_COLLECTED_PER_USER) this.#pruneCollects();
  }

  /** Forgets collect entries none of whose ids is remembered any more. */
  #pruneCollects(): void {
    for (const [k, c] of this.#collects) {
      const ids = this.#collected.get(userKey(c.user));
      if (!c.upTo.some((id) => ids?.has(id))) this.#collects.delete(k);
    }
  }

  #queue(key: string, m: MessageEntry): void {
    let queue = this.#pending.get(key);
    if (queue === undefined) this.#pending.set(key, (queue = new Map()));
    if (!queue.has(m.id)) this.#queued.push({ user: key, message: m });
    queue.set(m.id, m);
    if (queue.size > MAX_PENDING_PER_USER) {
      let oldest: MessageEntry | undefined;
      for (const x of queue.values()) if (oldest === undefined || byTime(x, oldest) < 0) oldest = x;
      queue.delete(oldest!.id);
    }
  }
}

/** Whether the user with name key `key` may see `m`: a broadcast, or a direct message they sent or received. */
export function visibleTo(m: MessageEntry, key: string): boolean {
  return m.to.length === 0 || userKey(m.from) === key || m.to.some((n) => userKey(n) === key);
}

/**
 * Messages in time order; ties (the same millisecond, from different origins) by origin, then by the
 * order they were stored in, so every replica orders them alike and one sender's messages keep theirs.
 */
export function byTime(a: MessageEntry, b: MessageEntry): number {
  return a.ts - b.ts || (a.origin < b.origin ? -1 : a.origin > b.origin ? 1 : a.seq - b.seq);
}

/** The users a direct message concerns: its sender and recipients, by name key. */
function involved(m: MessageEntry): Set<string> {
  return new Set([userKey(m.from), ...m.to.map(userKey)]);
}

/**
 * Which of two copies of one message represents it: the later by (ts, origin, seq), on every replica alike.
 * The later one, so that swapping copies never takes a message out of a bounded window without putting a
 * newer one in its place: every window stays the newest N of the same set, whatever order copies came in.
 */
function representsBefore(a: MessageEntry, b: MessageEntry): boolean {
  return a.ts > b.ts || (a.ts === b.ts && (a.origin > b.origin || (a.origin === b.origin && a.seq > b.seq)));
}

function earlier(a: UserEntry, b: UserEntry): boolean {
  return a.created < b.created || (a.created === b.created && accountOf(a) < accountOf(b));
}

function newer(a: UserEntry, b: UserEntry): boolean {
  return a.updated > b.updated || (a.updated === b.updated && a.hash > b.hash);
}

function byKey<T>(a: [string, T], b: [string, T]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}

/** About what a message weighs as a frame: its text as JSON writes it (a control character is six bytes), and the rest. */
function weight(m: MessageEntry): number {
  return Buffer.byteLength(JSON.stringify(m.text)) + 200 + 40 * m.to.length;
}

function oldestKey(map: Map<string, number>): string {
  let key = '';
  let ts = Infinity;
  for (const [k, v] of map) if (v < ts || (v === ts && k < key)) [key, ts] = [k, v];
  return key;
}

/** The newest `n` of a time-ordered list. */
function newest(list: readonly MessageEntry[], n: number): MessageEntry[] {
  return list.length <= n ? [...list] : list.slice(list.length - n);
}

/** Inserts `m` into the time-ordered `list`, keeping its newest `max`; `evict` sees each one dropped. */
function insertBounded(list: MessageEntry[], m: MessageEntry, max: number, evict?: (m: MessageEntry) => void): void {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (byTime(list[mid]!, m) < 0) lo = mid + 1;
    else hi = mid;
  }
  list.splice(lo, 0, m);
  if (list.length > max) for (const gone of list.splice(0, list.length - max)) evict?.(gone);
}

/** Merges time-ordered lists into one, dropping an id that appears in more than one. */
function mergeByTime(...lists: (readonly MessageEntry[])[]): MessageEntry[] {
  const seen = new Set<string>();
  return lists.flat().sort(byTime).filter((m) => !seen.has(m.id) && (seen.add(m.id), true));
}
