import type { Cover, Entry, LogRecord } from '../protocol/entries.js';
import { MAX_ENTRIES_PER_FRAME } from '../protocol/messages.js';
import { at, raise, toPairs, type ReadonlyVersionVector, type VersionVector } from './version-vector.js';

/**
 * A `peer:entries` frame stays under this many bytes of entries, whatever they hold: a standby's frames go
 * through the coordinator's 1 MiB frame limit, and 200 messages of 4,000 escaped characters (or room
 * messages naming 1,000 members) would be several MiB. `entryBound` is an upper bound of an entry's JSON.
 */
export const MAX_BATCH_BYTES = 768 * 1024;

/** At least the bytes of `e` as JSON: every string character at most 6 (`\u0000`), a name at most 40 with its quotes and comma. */
export function entryBound(e: Entry): number {
  switch (e.kind) {
    case 'message':
      return 400 + 6 * e.text.length + 40 * (e.to.length + e.pending.length);
    case 'collect':
      return 300 + 70 * e.upTo.length;
    case 'topic':
      return 300 + 6 * e.topic.length;
    case 'status':
      return 300 + 6 * e.text.length;
    default:
      return 600; // users (a bcrypt hash), secrets, rooms, members: short fields only
  }
}

/** Splits entries into frames of at most MAX_ENTRIES_PER_FRAME entries and MAX_BATCH_BYTES (a frame holds one entry at least). */
export function splitEntries<T extends Entry>(entries: readonly T[]): T[][] {
  const parts: T[][] = [];
  let part: T[] = [];
  let bytes = 0;
  for (const e of entries) {
    const b = entryBound(e);
    if (part.length > 0 && (part.length === MAX_ENTRIES_PER_FRAME || bytes + b > MAX_BATCH_BYTES)) {
      parts.push(part);
      part = [];
      bytes = 0;
    }
    part.push(e);
    bytes += b;
  }
  if (part.length > 0) parts.push(part);
  return parts;
}

/** One `peer:entries` frame: entries, and the covers that end the install ranges among them. */
export interface Batch {
  entries: Entry[];
  covers: Cover[];
}

/** A replica's bounds: what it holds (`vv`) and below what it may lack entries it has the state of (`floor`). */
interface View {
  vv: VersionVector;
  floor: VersionVector;
}

/** How a record counts: extends an origin's prefix, only feeds the chat state (covered), or is a cover. */
type Kind = 'next' | 'state' | 'cover';

/**
 * What this node's replica holds (DESIGN §5), as pure bookkeeping:
 *
 * - `vector`: per origin, the contiguous prefix held — "every entry up to
 *   here, or its effect". It never advances past a hole.
 * - `floor`: entries at or below it may have been compacted away (their
 *   effect lives on in the chat state's retained entries). Above it, up to
 *   the vector, every entry is kept (`tail`), so a replica that lacks any of
 *   them gets exactly those.
 * - A peer that lacks entries below our floor gets an *install*: the retained
 *   entries of that range, then a cover saying the range is done.
 *
 * The floor only rises when every known replica holds what it passes
 * (`release`), or past a stated bound on the tail (`cap`).
 */
export class Replica {
  /** Durable. */
  readonly #durable: View = { vv: new Map(), floor: new Map() };
  /** Accepted for writing: the durable view plus what is being written. */
  #accepted: View = { vv: new Map(), floor: new Map() };
  /** Durable entries above the floor, per origin, dense and in sequence order. */
  readonly #tail = new Map<string, Entry[]>();
  #tailSize = 0;

  /** What this replica holds durably. */
  get vector(): ReadonlyVersionVector {
    return this.#durable.vv;
  }

  /** What it holds or is writing: new entries continue this. */
  get accepted(): ReadonlyVersionVector {
    return this.#accepted.vv;
  }

  get floor(): ReadonlyVersionVector {
    return this.#durable.floor;
  }

  /** Entries kept above the floor (the tail). */
  get tailSize(): number {
    return this.#tailSize;
  }

  /**
   * Which records of an incoming batch to write, in order: entries that
   * continue an origin's prefix, install ranges whose start we hold (their
   * entries, then the cover). Duplicates and entries past a hole are left out.
   * Advances the accepted view; `durable` follows once they are written.
   */
  accept(batch: Batch): LogRecord[] {
    const records: LogRecord[] = [...batch.entries, ...batch.covers];
    const kept: LogRecord[] = [];
    walk(this.#accepted, records, (r) => void kept.push(r));
    return kept;
  }

  /**
   * Records are durable (in the order accepted, or read back from disk):
   * advances the vector and the tail. Returns the entries for the chat state.
   */
  durable(records: readonly LogRecord[]): Entry[] {
    const out: Entry[] = [];
    walk(this.#durable, records, (r, kind) => {
      if (kind === 'cover') return this.#trim((r as Cover).origin);
      const e = r as Entry;
      if (kind === 'next') {
        let list = this.#tail.get(e.origin);
        if (list === undefined) this.#tail.set(e.origin, (list = []));
        list.push(e);
        this.#tailSize++;
      }
      out.push(e);
    });
    return out;
  }

  /** Writing failed: forget what was accepted but is not durable, so it can be accepted again. */
  rollback(): void {
    this.#accepted = { vv: new Map(this.#durable.vv), floor: new Map(this.#durable.floor) };
  }

  /**
   * Loads a snapshot: its bounds and its entries, in any order (entries at or
   * below the floor are state; above it, the tail, which must be dense).
   * Returns the entries for the chat state, or a reason the snapshot is inconsistent.
   */
  loadSnapshot(vv: ReadonlyVersionVector, floor: ReadonlyVersionVector, entries: readonly Entry[]): { entries: Entry[] } | { error: string } {
    raise(this.#durable.vv, vv);
    for (const [origin, seq] of floor) this.#durable.floor.set(origin, Math.min(seq, at(vv, origin)));
    for (const e of entries) {
      if (e.seq <= at(this.#durable.floor, e.origin) || e.seq > at(this.#durable.vv, e.origin)) continue;
      let list = this.#tail.get(e.origin);
      if (list === undefined) this.#tail.set(e.origin, (list = []));
      list.push(e);
    }
    for (const [origin, list] of this.#tail) {
      list.sort((a, b) => a.seq - b.seq);
      const base = at(this.#durable.floor, origin);
      if (list.some((e, i) => e.seq !== base + i + 1) || base + list.length !== at(this.#durable.vv, origin)) {
        return { error: `entries of ${origin} between ${base} and ${at(this.#durable.vv, origin)} are missing` };
      }
      this.#tailSize += list.length;
    }
    for (const [origin, seq] of this.#durable.vv) {
      if (!this.#tail.has(origin) && seq > at(this.#durable.floor, origin)) return { error: `entries of ${origin} above ${at(this.#durable.floor, origin)} are missing` };
    }
    this.rollback();
    return { entries: [...entries] };
  }

  /** What a snapshot holds: the bounds, the retained state at or below the floor, and the tail. */
  snapshot(retained: Iterable<Entry>): { vv: [string, number][]; floor: [string, number][]; entries: Entry[] } {
    const entries: Entry[] = [];
    for (const e of retained) if (e.seq <= at(this.#durable.floor, e.origin)) entries.push(e);
    for (const list of this.#tail.values()) entries.push(...list);
    return { vv: toPairs(this.#durable.vv), floor: toPairs(this.#durable.floor), entries };
  }

  /**
   * Everything a replica that holds `theirs` lacks, as frames (DESIGN §5:
   * catch-up and merge send every entry the other side lacks, whatever the
   * chat's window). Exact entries from the tail; below our floor, an install
   * of the retained entries of the range and a cover.
   */
  lacking(theirs: ReadonlyVersionVector, retained: () => Iterable<Entry>): Batch[] {
    const batches: Batch[] = [];
    const installs = new Map<string, { from: number; to: number; entries: Entry[] }>();
    for (const [origin, seq] of this.#durable.vv) {
      const t = at(theirs, origin);
      const f = at(this.#durable.floor, origin);
      if (t < f && t < seq) installs.set(origin, { from: t, to: f, entries: [] });
    }
    if (installs.size > 0) {
      for (const e of retained()) {
        const range = installs.get(e.origin);
        if (range && e.seq > range.from && e.seq <= range.to) range.entries.push(e);
      }
    }
    for (const [origin, range] of [...installs].sort(byOrigin)) {
      const list = range.entries.sort((a, b) => a.seq - b.seq);
      let from = range.from;
      // Split into self-contained frames: each ends with the cover of the part it carries.
      const parts = list.length === 0 ? [[]] : splitEntries(list);
      parts.forEach((part, i) => {
        const to = i === parts.length - 1 ? range.to : part.at(-1)!.seq;
        batches.push({ entries: part, covers: [{ kind: 'cover', origin, from, to }] });
        from = to;
      });
    }
    const exact: Entry[] = [];
    for (const [origin, list] of [...this.#tail].sort(byOrigin)) {
      const base = at(this.#durable.floor, origin);
      const from = Math.max(at(theirs, origin), base);
      for (let i = from - base; i < list.length; i++) exact.push(list[i]!);
    }
    for (const part of splitEntries(exact)) batches.push({ entries: part, covers: [] });
    return batches;
  }

  /**
   * Raises the floor to `to` (capped by what we hold): every known replica
   * holds at least that much, so the tail below it can go.
   */
  release(to: ReadonlyVersionVector): void {
    for (const [origin, seq] of to) {
      const f = Math.min(seq, at(this.#durable.vv, origin));
      if (f > at(this.#durable.floor, origin)) {
        this.#durable.floor.set(origin, f);
        if (f > at(this.#accepted.floor, origin)) this.#accepted.floor.set(origin, f);
        this.#trim(origin);
      }
    }
  }

  /**
   * Keeps the tail to at most `max` entries, dropping the oldest of the
   * longest origins first: a replica further behind than this gets an
   * install (the state) instead of every old entry — the stated bound.
   */
  cap(max: number): void {
    while (this.#tailSize > max) {
      const [origin, list] = [...this.#tail].reduce((a, b) => (b[1].length > a[1].length ? b : a));
      const drop = Math.max(1, Math.min(list.length, this.#tailSize - max));
      this.release(new Map([[origin, list[drop - 1]!.seq]]));
    }
  }

  #trim(origin: string): void {
    const list = this.#tail.get(origin);
    if (list === undefined) return;
    const f = at(this.#durable.floor, origin);
    let n = 0;
    while (n < list.length && list[n]!.seq <= f) n++;
    if (n === 0) return;
    list.splice(0, n);
    this.#tailSize -= n;
    if (list.length === 0) this.#tail.delete(origin);
  }
}

/**
 * Walks records in order against a view, advancing it, and visits the ones
 * that count. The next entry of an origin extends the prefix; one past a hole
 * counts (for the state only) if a cover later in the same records closes the
 * hole — an install range — else it is left out, like a duplicate. A cover
 * counts if its range starts at or below what the view holds.
 */
function walk(view: View, records: readonly LogRecord[], visit: (r: LogRecord, kind: Kind) => void): void {
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    const held = at(view.vv, r.origin);
    if (r.kind === 'cover') {
      if (r.from > held) continue; // a hole before the range: not ours to close
      if (r.to > held) view.vv.set(r.origin, r.to);
      if (r.to > at(view.floor, r.origin)) view.floor.set(r.origin, r.to);
      visit(r, 'cover');
      continue;
    }
    if (r.seq <= held) continue; // a duplicate: held already, or its effect (below the floor)
    if (r.seq === held + 1) {
      view.vv.set(r.origin, r.seq);
      visit(r, 'next');
    } else if (coveredLater(records, i, r.origin, r.seq, held)) visit(r, 'state');
  }
}

/** Whether a cover of `origin` later in `records` starts at or below `held` and reaches `seq`. */
function coveredLater(records: readonly LogRecord[], i: number, origin: string, seq: number, held: number): boolean {
  for (let j = i + 1; j < records.length; j++) {
    const r = records[j]!;
    if (r.kind === 'cover' && r.origin === origin && r.to >= seq) return r.from <= held;
  }
  return false;
}

function byOrigin<T>(a: [string, T], b: [string, T]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}
