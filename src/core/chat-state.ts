import { userKey } from '../protocol/messages.js';
import type { Entry, MessageEntry, SecretEntry, UserEntry } from '../protocol/entries.js';

/** Undelivered direct messages kept per offline user; older ones beyond this are dropped. */
const MAX_PENDING_PER_USER = 1_000;
/** Recent (sender, client id) pairs remembered for duplicate detection: resends come within seconds. */
const MAX_DEDUP_IDS = 100_000;

/**
 * The chat state derived from the log: accounts, recent history, offline
 * queues and the duplicate-send index. Pure: no I/O, no clock, no sockets.
 * Replaying the same entries always yields the same state.
 */
export class ChatState {
  readonly #historySize: number;
  readonly #users = new Map<string, UserEntry>();
  /** Last `historySize` broadcasts, oldest first. */
  readonly #broadcasts: MessageEntry[] = [];
  /** Per user: last `historySize` direct messages they sent or received. */
  readonly #direct = new Map<string, MessageEntry[]>();
  /** Per user: direct messages sent while they were offline and not yet delivered. */
  readonly #pending = new Map<string, Map<string, MessageEntry>>();
  /** (sender, client id) → message, so a resent message is acknowledged, not stored twice. */
  readonly #byClientId = new Map<string, MessageEntry>();
  #secret: SecretEntry | undefined;
  /** Accounts that lost their name to an earlier registration made elsewhere (a partition, DESIGN §5). */
  readonly #displaced = new Map<string, UserEntry[]>();
  /** Every message id applied lately, so a message that reaches us by two paths (a merge) counts once. */
  readonly #messageIds = new Set<string>();

  constructor(historySize: number) {
    this.#historySize = historySize;
  }

  /** Applies one log entry. Idempotence is the log's job: each entry arrives once. */
  apply(e: Entry): void {
    switch (e.kind) {
      case 'user':
        return this.#applyUser(e);
      case 'message':
        return this.#applyMessage(e);
      case 'collect': {
        const queue = this.#pending.get(userKey(e.user));
        for (const id of e.upTo) queue?.delete(id);
        return;
      }
      case 'secret':
        // After a merge there may be two: the earliest wins, everywhere (DESIGN §5).
        if (this.#secret === undefined || e.created < this.#secret.created || (e.created === this.#secret.created && e.value < this.#secret.value)) {
          this.#secret = e;
        }
        return;
    }
  }

  /**
   * The state as entries, for snapshots (LogStore compaction): accounts, the
   * messages still in some history or offline queue, each with its current
   * offline recipients. Replaying these rebuilds this state.
   */
  *retained(): Iterable<Entry> {
    if (this.#secret) yield this.#secret;
    yield* this.#users.values();
    for (const list of this.#displaced.values()) yield* list;
    const messages = new Map<string, MessageEntry>();
    for (const m of this.#broadcasts) messages.set(m.id, m);
    for (const list of this.#direct.values()) for (const m of list) messages.set(m.id, m);
    const pendingFor = new Map<string, string[]>();
    for (const [key, queue] of this.#pending) {
      for (const m of queue.values()) {
        messages.set(m.id, m);
        const name = m.to.find((n) => userKey(n) === key) ?? key;
        pendingFor.set(m.id, [...(pendingFor.get(m.id) ?? []), name]);
      }
    }
    for (const m of [...messages.values()].sort(byTime)) yield { ...m, pending: pendingFor.get(m.id) ?? [] };
  }

  /** `name` got `id` live after all (it logged in while the message was being stored). */
  markDelivered(name: string, id: string): void {
    this.#pending.get(userKey(name))?.delete(id);
  }

  /** `name` left while `m` was being stored: keep it for their next login. */
  addPending(name: string, m: MessageEntry): void {
    this.#queue(userKey(name), m);
  }

  /** The network secret for session tokens, once one exists. */
  get secret(): SecretEntry | undefined {
    return this.#secret;
  }

  /** The account for `name` (any case), if registered. */
  user(name: string): UserEntry | undefined {
    return this.#users.get(userKey(name));
  }

  get userCount(): number {
    return this.#users.size;
  }

  /** The stored message `from` already sent with client id `cid`, if any. */
  duplicateOf(from: string, cid: string): MessageEntry | undefined {
    return this.#byClientId.get(dupKey(from, cid));
  }

  /**
   * What a user receives at login (issue #3): the recent messages they may
   * see (last broadcasts and their own direct messages), then the direct
   * messages sent to them while offline — each exactly once, in time order.
   */
  replayFor(name: string): { history: MessageEntry[]; offline: MessageEntry[] } {
    const key = userKey(name);
    const offline = [...(this.#pending.get(key)?.values() ?? [])].sort(byTime);
    const offlineIds = new Set(offline.map((m) => m.id));
    const history = mergeByTime(this.#broadcasts, this.#direct.get(key) ?? []).filter((m) => !offlineIds.has(m.id));
    return { history, offline };
  }

  #applyUser(e: UserEntry): void {
    const key = userKey(e.name);
    const cur = this.#users.get(key);
    if (cur === undefined) return void this.#users.set(key, e);
    if (e.created === cur.created) {
      if (e.updated >= cur.updated) this.#users.set(key, e); // one account: the latest update wins
      return;
    }
    // Two accounts, one name: the earlier registration wins (DESIGN §5); the other is remembered, to be told so.
    const [winner, loser] = e.created < cur.created ? [e, cur] : [cur, e];
    this.#users.set(key, winner);
    const list = this.#displaced.get(key) ?? [];
    if (!list.some((u) => u.created === loser.created)) list.push(loser);
    this.#displaced.set(key, list.filter((u) => u.created !== winner.created));
  }

  /** Accounts that lost `name` to an earlier registration elsewhere. */
  displaced(name: string): readonly UserEntry[] {
    return this.#displaced.get(userKey(name)) ?? [];
  }

  #applyMessage(m: MessageEntry): void {
    if (this.#messageIds.has(m.id)) return; // the same message, stored on both sides of a healed partition
    this.#messageIds.add(m.id);
    applied.set(m, ++appliedCount);
    if (this.#messageIds.size > MAX_DEDUP_IDS) this.#messageIds.delete(this.#messageIds.values().next().value!);
    this.#byClientId.set(dupKey(m.from, m.cid), m);
    if (this.#byClientId.size > MAX_DEDUP_IDS) this.#byClientId.delete(this.#byClientId.keys().next().value!);
    if (m.to.length === 0) {
      pushBounded(this.#broadcasts, m, this.#historySize);
      return;
    }
    const involved = new Set([userKey(m.from), ...m.to.map(userKey)]);
    for (const key of involved) {
      let list = this.#direct.get(key);
      if (list === undefined) this.#direct.set(key, (list = []));
      pushBounded(list, m, this.#historySize);
    }
    for (const name of m.pending) this.#queue(userKey(name), m);
  }

  #queue(key: string, m: MessageEntry): void {
    let queue = this.#pending.get(key);
    if (queue === undefined) this.#pending.set(key, (queue = new Map()));
    queue.set(m.id, m);
    if (queue.size > MAX_PENDING_PER_USER) queue.delete(queue.keys().next().value!);
  }
}

function dupKey(from: string, cid: string): string {
  return `${userKey(from)}\n${cid}`;
}

/** Order of application (= log order on one coordinator): the tiebreak for messages stamped in the same millisecond. */
const applied = new WeakMap<MessageEntry, number>();
let appliedCount = 0;

function byTime(a: MessageEntry, b: MessageEntry): number {
  return a.ts - b.ts || (applied.get(a) ?? 0) - (applied.get(b) ?? 0);
}

function pushBounded<T>(list: T[], item: T, max: number): void {
  list.push(item);
  if (list.length > max) list.splice(0, list.length - max);
}

/** Merges two time-ordered lists into one, dropping an id that appears in both. */
function mergeByTime(a: readonly MessageEntry[], b: readonly MessageEntry[]): MessageEntry[] {
  const seen = new Set<string>();
  return [...a, ...b].sort(byTime).filter((m) => !seen.has(m.id) && (seen.add(m.id), true));
}
