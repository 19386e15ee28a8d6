import { randomBytes } from 'node:crypto';
import { FILE_WINDOW_BYTES } from '../protocol/limits.js';

/** Files one user may be sending at once (over all their sessions). */
export const MAX_UPLOADS_PER_USER = 4;
/** Files one address may be sending at once (over all its users: throwaway accounts buy no more slots). */
export const MAX_UPLOADS_PER_ADDRESS = 8;
/** Transfers the coordinator relays at once: with the window, this bounds its file memory (64 × 4 MiB). */
export const MAX_TRANSFERS = 64;
/**
 * A transfer must move at least this many bytes a second, averaged over RATE_WINDOW_MS (or all it could,
 * if less was left), or the side holding it back is ended (issue #14: a byte every 25 s held a slot for good).
 */
export const MIN_RATE_BYTES_PER_S = 16 * 1024;
export const RATE_WINDOW_MS = 30_000;
/** Of the time a sender had room, this much is not counted: the credit's way to it and its data's way back. */
const ROOM_GRACE_MS = 1_000;
/**
 * A recipient that makes no progress for this long while it owes some (data waits for it, or after the end
 * its verdict) is dropped from the transfer…
 */
export const STALL_MS = 30_000;
/** …and a sender that sends nothing for this long while it may (data within the window, or the end) is cut off. */
export const SENDER_STALL_MS = 60_000;

/** One recipient session of a transfer. */
export interface Target<S> {
  readonly session: S;
  readonly user: string;
  /** Bytes it has written to disk. */
  acked: number;
  state: 'receiving' | 'done' | 'failed';
  /** Why it failed. */
  reason?: string;
  /** When it last acknowledged anything (or the transfer began). */
  progressAt: number;
  /** What it had written when the current rate window began. */
  rateAcked: number;
}

/** A file on its way from one session to several, through the coordinator. */
export interface Transfer<S> {
  /** The number in front of every data frame. */
  readonly stream: number;
  /** The id recipients see (random: it says nothing about the sender). */
  readonly id: string;
  /** The sender's own id for it. */
  readonly cid: string;
  readonly sender: S;
  readonly from: string;
  /** The sender's address (slots are counted per address too). */
  readonly address: string;
  readonly name: string;
  readonly size: number;
  readonly targets: Target<S>[];
  /** Bytes forwarded so far. */
  received: number;
  /** The sender said `file:end` (all bytes are in), and when. */
  ended: boolean;
  endedAt?: number;
  /** The credit last sent to the sender, and when. */
  credit: number;
  creditAt: number;
  /** When it was opened. */
  readonly openedAt: number;
  /** When the sender last sent data. */
  dataAt: number;
  /** When the current rate window began, and what had come in by then. */
  rateAt: number;
  rateReceived: number;
  /**
   * How long in the current rate window the sender had room (less than half its window waiting on
   * recipients), and since when it has had it now: the sender owes the minimum rate over that time only.
   */
  roomMs: number;
  roomSince: number | undefined;
}

/** What the relay must do after a recipient's ack, done or fail, or a session leaving. */
export interface Outcome<S> {
  transfer: Transfer<S>;
  /** Send the sender this new credit. */
  credit?: number;
  /** Every recipient has finished: tell the sender and forget the transfer. */
  complete?: boolean;
}

export type DataCheck<S> = { ok: true; transfer: Transfer<S> } | { ok: false; transfer?: Transfer<S>; reason: string };

/**
 * The coordinator's book of file transfers (issue #6), kept apart from the
 * sockets so the rules can be tested without any: who may send what on which
 * stream, how far a sender may run ahead of its slowest recipient (the
 * window: the coordinator's memory bound), and when a transfer is over.
 */
export class Transfers<S> {
  readonly #byStream = new Map<number, Transfer<S>>();
  readonly #window: number;
  readonly #now: () => number;
  #next = 1;

  constructor(options: { window?: number; now?: () => number } = {}) {
    this.#window = options.window ?? FILE_WINDOW_BYTES;
    this.#now = options.now ?? Date.now;
  }

  get size(): number {
    return this.#byStream.size;
  }

  get(stream: number): Transfer<S> | undefined {
    return this.#byStream.get(stream);
  }

  /** Transfers `session` is receiving now. */
  incomingOf(session: S): number {
    let n = 0;
    for (const t of this.#byStream.values()) for (const x of t.targets) if (x.session === session && x.state === 'receiving') n++;
    return n;
  }

  /** Why user `from` (at `address`) may not start another transfer now, or undefined when they may. `full`: count the coordinator's slots too. */
  refusal(from: string, address = '', full = true): string | undefined {
    const key = from.toLowerCase();
    let mine = 0;
    let here = 0;
    for (const t of this.#byStream.values()) {
      if (t.from.toLowerCase() === key) mine++;
      if (t.address === address) here++;
    }
    if (mine >= MAX_UPLOADS_PER_USER) return `at most ${MAX_UPLOADS_PER_USER} files at once from one user; wait for one to finish`;
    if (here >= MAX_UPLOADS_PER_ADDRESS) return `at most ${MAX_UPLOADS_PER_ADDRESS} files at once from one address; wait for one to finish`;
    if (full && this.#byStream.size >= MAX_TRANSFERS) return `the coordinator is relaying ${MAX_TRANSFERS} files already; try again shortly`;
    return undefined;
  }

  /**
   * When every slot is taken, the transfer to end so that `address` may have one (issue #14): of the address
   * holding the most, if it holds at least two more than `address` does, the one still sending that moved
   * the fewest bytes a second since it began (then the newest); one whose bytes are all in is spared. So
   * addresses holding many never keep out one holding few, and after the exchange the newcomer still holds
   * fewer than the one that gave way: nobody takes turns. Undefined when there are free slots or no address
   * holds enough more. Does not end it: the relay does.
   */
  displaced(address: string): Transfer<S> | undefined {
    if (this.#byStream.size < MAX_TRANSFERS) return undefined;
    const held = new Map<string, Transfer<S>[]>();
    for (const t of this.#byStream.values()) held.set(t.address, [...(held.get(t.address) ?? []), t]);
    let heaviest: Transfer<S>[] = [];
    for (const ts of held.values()) if (ts.length > heaviest.length) heaviest = ts;
    if (heaviest.length < (held.get(address)?.length ?? 0) + 2) return undefined;
    const now = this.#now();
    const rate = (t: Transfer<S>): number => t.received / Math.max(1, now - t.openedAt);
    let victim: Transfer<S> | undefined;
    for (const t of heaviest) {
      if (t.ended) continue;
      if (victim === undefined || rate(t) < rate(victim) || (rate(t) === rate(victim) && t.openedAt >= victim.openedAt)) victim = t;
    }
    return victim;
  }

  /** Opens a transfer to `targets` (at least one). */
  open(sender: S, from: string, cid: string, name: string, size: number, targets: { session: S; user: string }[], address = ''): Transfer<S> {
    const now = this.#now();
    while (this.#byStream.has(this.#next)) this.#advance();
    const stream = this.#next;
    this.#advance();
    const transfer: Transfer<S> = {
      stream,
      id: randomBytes(16).toString('hex'),
      cid,
      sender,
      from,
      address,
      name,
      size,
      targets: targets.map((t) => ({ ...t, acked: 0, state: 'receiving', progressAt: now, rateAcked: 0 })),
      received: 0,
      ended: false,
      credit: 0,
      creditAt: now,
      openedAt: now,
      dataAt: now,
      rateAt: now,
      rateReceived: 0,
      roomMs: 0,
      roomSince: now,
    };
    this.#byStream.set(stream, transfer);
    return transfer;
  }

  /** Checks `bytes` of data from `sender` on `stream` and counts them. */
  data(sender: S, stream: number, bytes: number): DataCheck<S> {
    const t = this.#byStream.get(stream);
    if (t === undefined || t.sender !== sender) return { ok: false, reason: `no transfer of yours on stream ${stream}` };
    if (t.ended) return { ok: false, transfer: t, reason: 'data after file:end' };
    if (t.received + bytes > t.size) return { ok: false, transfer: t, reason: `more data than the ${t.size} bytes offered` };
    if (t.received + bytes - this.#floor(t) > this.#window) return { ok: false, transfer: t, reason: `sent past the window of ${this.#window} bytes` };
    t.received += bytes;
    t.dataAt = this.#now();
    this.#room(t);
    return { ok: true, transfer: t };
  }

  /** The sender says all data was sent: true when that is so. */
  end(sender: S, stream: number): DataCheck<S> {
    const t = this.#byStream.get(stream);
    if (t === undefined || t.sender !== sender) return { ok: false, reason: `no transfer of yours on stream ${stream}` };
    if (t.ended) return { ok: false, transfer: t, reason: 'file:end twice' };
    if (t.received !== t.size) return { ok: false, transfer: t, reason: `file:end after ${t.received} of ${t.size} bytes` };
    t.ended = true;
    t.endedAt = this.#now();
    this.#room(t);
    return { ok: true, transfer: t };
  }

  /** A recipient wrote `received` bytes. Undefined: not a recipient of that stream, or an impossible count. */
  ack(session: S, stream: number, received: number): Outcome<S> | undefined {
    const t = this.#byStream.get(stream);
    const target = t?.targets.find((x) => x.session === session);
    if (t === undefined || target === undefined || target.state !== 'receiving') return undefined;
    if (received < target.acked || received > t.received) return undefined;
    if (received > target.acked) target.progressAt = this.#now();
    target.acked = received;
    return this.#credit(t);
  }

  /** A recipient finished: saved (`reason` undefined) or failed. */
  finish(session: S, stream: number, reason?: string): Outcome<S> | undefined {
    const t = this.#byStream.get(stream);
    const target = t?.targets.find((x) => x.session === session);
    if (t === undefined || target === undefined || target.state !== 'receiving') return undefined;
    if (reason === undefined && !(t.ended && target.acked === t.size)) return undefined; // "done" before it has it all
    target.state = reason === undefined ? 'done' : 'failed';
    if (reason !== undefined) target.reason = reason;
    return this.#settle(t);
  }

  /** Removes a transfer (sender cancelled, broke the rules or left); returns it so its recipients can be told. */
  abort(stream: number): Transfer<S> | undefined {
    const t = this.#byStream.get(stream);
    if (t === undefined) return undefined;
    this.#byStream.delete(stream);
    return t;
  }

  /**
   * A session left. Transfers it was sending are aborted (returned in `aborted`
   * for their recipients to be told); in those it was receiving it fails.
   */
  leave(session: S, why: string): { aborted: Transfer<S>[]; outcomes: Outcome<S>[] } {
    const aborted: Transfer<S>[] = [];
    const outcomes: Outcome<S>[] = [];
    for (const t of [...this.#byStream.values()]) {
      if (t.sender === session) {
        this.abort(t.stream);
        aborted.push(t);
        continue;
      }
      if (t.targets.some((x) => x.session === session)) {
        const o = this.finish(session, t.stream, why);
        if (o) outcomes.push(o);
      }
    }
    return { aborted, outcomes };
  }

  /** Recipients that stopped writing and senders that stopped sending, as of now. */
  stalled(): { recipients: { transfer: Transfer<S>; target: Target<S> }[]; senders: Transfer<S>[] } {
    const now = this.#now();
    const recipients: { transfer: Transfer<S>; target: Target<S> }[] = [];
    const senders: Transfer<S>[] = [];
    for (const t of this.#byStream.values()) {
      for (const target of t.targets) {
        const owes = target.acked < t.received || t.ended; // data to write, or after the end its done/fail
        if (target.state === 'receiving' && owes && now - Math.max(target.progressAt, t.endedAt ?? 0) > STALL_MS) recipients.push({ transfer: t, target });
      }
      // The sender owes data while the window allows it, and the end once every byte is in.
      const owes = !t.ended && (t.received === t.size || t.received - this.#floor(t) < this.#window);
      if (owes && now - Math.max(t.dataAt, t.creditAt) > SENDER_STALL_MS) senders.push(t);
    }
    return { recipients, senders };
  }

  /**
   * Transfers whose rate window has passed, with whoever moved less than MIN_RATE_BYTES_PER_S over it (or
   * less than all they could): the sender, if it had room in its window and sent too little; recipients that
   * had data to write and wrote too little. Each is judged by what was up to it, so a slow recipient does not
   * make its sender look slow. The windows start again.
   */
  tooSlow(): { transfer: Transfer<S>; sender: boolean; recipients: Target<S>[] }[] {
    const now = this.#now();
    const out: { transfer: Transfer<S>; sender: boolean; recipients: Target<S>[] }[] = [];
    const least = (MIN_RATE_BYTES_PER_S * RATE_WINDOW_MS) / 1000;
    for (const t of this.#byStream.values()) {
      if (now - t.rateAt < RATE_WINDOW_MS) continue;
      // The sender owes the rate over the time it had room, not for the time its window waited on recipients
      // (a recipient that was slow all window and caught up at its end does not make the sender look slow).
      const roomMs = Math.max(0, t.roomMs + (t.roomSince === undefined ? 0 : now - t.roomSince) - ROOM_GRACE_MS);
      const owed = Math.min((least * roomMs) / (now - t.rateAt), t.size - t.rateReceived);
      const sender = !t.ended && roomMs > 0 && t.received - t.rateReceived < owed;
      // A recipient owes what was waiting for it when the window began (what came since may be in flight).
      const recipients = t.targets.filter((x) => x.state === 'receiving' && x.acked - x.rateAcked < Math.min(least, t.rateReceived - x.rateAcked));
      if (sender || recipients.length > 0) out.push({ transfer: t, sender, recipients });
      t.rateAt = now;
      t.rateReceived = t.received;
      t.roomMs = 0;
      if (t.roomSince !== undefined) t.roomSince = now;
      for (const x of t.targets) x.rateAcked = x.acked;
    }
    return out;
  }

  /** Who saved it and who did not (and why), for `file:sent`. */
  report(t: Transfer<S>): { delivered: string[]; failed: { user: string; reason: string }[] } {
    const delivered = new Set<string>();
    for (const target of t.targets) if (target.state === 'done') delivered.add(target.user);
    const failed = new Map<string, string>();
    for (const target of t.targets) {
      if (target.state !== 'done' && !delivered.has(target.user)) failed.set(target.user, target.reason ?? 'not saved');
    }
    return { delivered: [...delivered], failed: [...failed].map(([user, reason]) => ({ user, reason })) };
  }

  /** The least any still-receiving recipient has written: the sender's window starts there. */
  #floor(t: Transfer<S>): number {
    let min = Infinity;
    for (const target of t.targets) if (target.state === 'receiving') min = Math.min(min, target.acked);
    return min === Infinity ? t.received : min;
  }

  /** Starts or stops the clock of the sender's room (see `roomMs`) after what moved its window. */
  #room(t: Transfer<S>): void {
    const now = this.#now();
    const room = !t.ended && t.received - this.#floor(t) <= this.#window / 2;
    if (room && t.roomSince === undefined) t.roomSince = now;
    else if (!room && t.roomSince !== undefined) {
      t.roomMs += now - t.roomSince;
      t.roomSince = undefined;
    }
  }

  #credit(t: Transfer<S>): Outcome<S> {
    this.#room(t);
    const floor = this.#floor(t);
    if (floor <= t.credit) return { transfer: t };
    t.credit = floor;
    t.creditAt = this.#now();
    return { transfer: t, credit: floor };
  }

  #settle(t: Transfer<S>): Outcome<S> {
    if (t.targets.every((x) => x.state !== 'receiving')) {
      this.#byStream.delete(t.stream);
      return { transfer: t, complete: true };
    }
    return this.#credit(t); // the slowest may have gone: the window moves on
  }

  #advance(): void {
    this.#next = this.#next >= 0xffff_ffff ? 1 : this.#next + 1;
  }
}
