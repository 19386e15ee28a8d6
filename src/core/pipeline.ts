import type { Entry, MessageEntry } from '../protocol/entries.js';
import { userKey } from '../protocol/messages.js';

/** Who waits for a message: the session that sent it, and the client id it gave. */
export interface Ack {
  session: number;
  cid: string;
}

/** An entry this coordinator created, on its way: written, then held by the successor, then released. */
export interface InFlight {
  readonly entry: Entry;
  /** Sessions to acknowledge once released (a message and its resends). */
  readonly acks: Ack[];
  /** A caller waiting for the entry itself (a registration). */
  readonly ticket: number | undefined;
  /** When it became durable here (the successor's acknowledgment is timed from then). */
  durableAt: number | undefined;
}

/** What a release hands on, in order. */
export interface Released {
  /** Entries of ours, in the order they were created: deliver, then acknowledge. */
  own: InFlight[];
  /** Resends of messages stored earlier that are now held by two nodes: acknowledge only. */
  acks: Waiter[];
}

/** A resend of a message stored earlier, waiting until the successor holds it. */
export interface Waiter {
  ack: Ack;
  entry: MessageEntry;
  since: number;
}

/**
 * The commit → replicated → ordered → delivered → acknowledged pipeline of a
 * coordinator (DESIGN §5), as bookkeeping: entries it created wait here until
 * they are durable locally and held by the successor, and leave in the order
 * they were created, so recipients get messages in the order they were stored.
 */
export class Pipeline {
  readonly #queue: InFlight[] = [];
  /** `from \n cid` → the message in flight, so a resend joins it instead of being stored twice. */
  readonly #byClientId = new Map<string, InFlight>();
  readonly #ids = new Set<string>();
  /** Resends of stored messages that the successor does not hold yet. */
  #waiting: Waiter[] = [];
  /** Per origin, the highest sequence number released (all below it too). */
  readonly #released = new Map<string, number>();

  get size(): number {
    return this.#queue.length;
  }

  /** Adds an entry just written (not yet durable). */
  add(entry: Entry, ack?: Ack, ticket?: number): InFlight {
    const f: InFlight = { entry, acks: ack ? [ack] : [], ticket, durableAt: undefined };
    this.#queue.push(f);
    if (entry.kind === 'message') {
      this.#byClientId.set(dupKey(entry.from, entry.cid), f);
      this.#ids.add(entry.id);
    }
    return f;
  }

  /** The message `from` is sending with client id `cid`, if it is still on its way. */
  inFlight(from: string, cid: string): InFlight | undefined {
    return this.#byClientId.get(dupKey(from, cid));
  }

  /** Whether message `id` is on its way (not yet delivered: replays leave it out, it comes live). */
  holds(id: string): boolean {
    return this.#ids.has(id);
  }

  /** A resend of a message stored earlier: acknowledged once the successor holds it. */
  wait(entry: MessageEntry, ack: Ack, now: number): void {
    this.#waiting.push({ ack, entry, since: now });
  }

  /** These entries are durable here now. */
  durable(keys: ReadonlySet<string>, now: number): void {
    for (const f of this.#queue) if (f.durableAt === undefined && keys.has(entryKey(f.entry))) f.durableAt = now;
  }

  /** The oldest wait for the successor (a durable entry of ours, or a resend): what the acknowledgment bound measures. */
  get oldestWaiting(): { entry: Entry; since: number } | undefined {
    const head = this.#queue[0];
    const w = this.#waiting[0];
    if (head?.durableAt !== undefined && (w === undefined || head.durableAt <= w.since)) return { entry: head.entry, since: head.durableAt };
    return w === undefined ? undefined : { entry: w.entry, since: w.since };
  }

  /**
   * Releases, in order, every durable entry `held` says is safe (held by the
   * successor, or there is none and acknowledging alone is allowed), and the
   * resends waiting on such entries.
   */
  release(held: (e: Entry) => boolean): Released {
    const own: InFlight[] = [];
    while (this.#queue.length > 0) {
      const f = this.#queue[0]!;
      if (f.durableAt === undefined || !held(f.entry)) break;
      this.#queue.shift();
      this.#forget(f);
      if (f.entry.seq > (this.#released.get(f.entry.origin) ?? 0)) this.#released.set(f.entry.origin, f.entry.seq);
      own.push(f);
    }
    const acks: Released['acks'] = [];
    const still: Waiter[] = [];
    for (const w of this.#waiting) (held(w.entry) ? acks : still).push(w);
    this.#waiting = still;
    return { own, acks };
  }

  /**
   * Entries that could not be written, or everything (the coordinator is
   * leaving or stepping down): they leave unacknowledged; their senders resend.
   */
  drop(keys?: ReadonlySet<string>): InFlight[] {
    const gone: InFlight[] = [];
    for (let i = this.#queue.length - 1; i >= 0; i--) {
      const f = this.#queue[i]!;
      if (keys === undefined || keys.has(entryKey(f.entry))) {
        this.#queue.splice(i, 1);
        this.#forget(f);
        gone.unshift(f);
      }
    }
    if (keys === undefined) this.#waiting = [];
    return gone;
  }

  /** Forgets the acknowledgments a closed session waited for. */
  forgetSession(session: number): void {
    for (const f of this.#queue) {
      for (let i = f.acks.length - 1; i >= 0; i--) if (f.acks[i]!.session === session) f.acks.splice(i, 1);
    }
    this.#waiting = this.#waiting.filter((w) => w.ack.session !== session);
  }

  /** Per origin, the highest sequence number released: what a session may be told it has seen. */
  released(origin: string): number | undefined {
    return this.#released.get(origin);
  }

  /** The first entry of `origin` not yet released, if any is on its way. */
  firstPending(origin: string): number | undefined {
    for (const f of this.#queue) if (f.entry.origin === origin) return f.entry.seq;
    return undefined;
  }

  #forget(f: InFlight): void {
    if (f.entry.kind !== 'message') return;
    const k = dupKey(f.entry.from, f.entry.cid);
    if (this.#byClientId.get(k) === f) this.#byClientId.delete(k);
    this.#ids.delete(f.entry.id);
  }
}

export function entryKey(e: Pick<Entry, 'origin' | 'seq'>): string {
  return `${e.origin}#${e.seq}`;
}

function dupKey(from: string, cid: string): string {
  return `${userKey(from)}\n${cid}`;
}
