import { userKey } from '../protocol/messages.js';
import { accountOf, type MessageEntry, type UserEntry } from '../protocol/entries.js';

/** A logged-in chat session as the core knows it: an id the relay gave it, and the account. */
interface LoggedIn {
  readonly id: number;
  readonly user: UserEntry;
}

/**
 * Who is online and which sessions a message goes to (DESIGN §6): the
 * router and presence book of a coordinator. Pure: session ids only.
 */
export class Sessions {
  readonly #sessions = new Map<number, LoggedIn>();
  /** Name key → its sessions. */
  readonly #byUser = new Map<string, Set<number>>();
  #sorted: string[] | undefined;

  /** Adds a session; returns whether it is its user's first (the user just came online). */
  add(id: number, user: UserEntry): boolean {
    this.#sessions.set(id, { id, user });
    const key = userKey(user.name);
    let set = this.#byUser.get(key);
    const first = set === undefined;
    if (set === undefined) this.#byUser.set(key, (set = new Set()));
    set.add(id);
    if (first) this.#sorted = undefined;
    return first;
  }

  /** Removes a session; returns its user if it was their last (the user just went offline). */
  remove(id: number): UserEntry | undefined {
    const s = this.#sessions.get(id);
    if (s === undefined) return undefined;
    this.#sessions.delete(id);
    const key = userKey(s.user.name);
    const set = this.#byUser.get(key)!;
    set.delete(id);
    if (set.size > 0) return undefined;
    this.#byUser.delete(key);
    this.#sorted = undefined;
    return s.user;
  }

  user(id: number): UserEntry | undefined {
    return this.#sessions.get(id)?.user;
  }

  isOnline(name: string): boolean {
    return this.#byUser.has(userKey(name));
  }

  get size(): number {
    return this.#sessions.size;
  }

  /** Every logged-in session. */
  ids(): IterableIterator<number> {
    return this.#sessions.keys();
  }

  /** Names of users with at least one live session, sorted. */
  get online(): string[] {
    this.#sorted ??= [...this.#byUser.values()].map((set) => this.#sessions.get(set.values().next().value!)!.user.name).sort((a, b) => a.localeCompare(b));
    return this.#sorted;
  }

  /** The sessions of the user called `name` (any case). */
  ofUser(name: string): number[] {
    return [...(this.#byUser.get(userKey(name)) ?? [])];
  }

  /** The sessions a stored message goes to: everyone's for a broadcast, else the sender's and the recipients'. */
  recipients(m: MessageEntry): number[] {
    if (m.to.length === 0) return [...this.#sessions.keys()];
    const out: number[] = [];
    for (const key of new Set([userKey(m.from), ...m.to.map(userKey)])) for (const id of this.#byUser.get(key) ?? []) out.push(id);
    return out;
  }

  /** Sessions of `account` (an account that lost its name must lose its sessions). */
  ofAccount(account: UserEntry): number[] {
    const out: number[] = [];
    for (const id of this.#byUser.get(userKey(account.name)) ?? []) {
      if (accountOf(this.#sessions.get(id)!.user) === accountOf(account)) out.push(id);
    }
    return out;
  }

  clear(): void {
    this.#sessions.clear();
    this.#byUser.clear();
    this.#sorted = undefined;
  }
}
