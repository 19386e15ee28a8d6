import { mkdir, open, readFile, readdir, rename, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { z } from 'zod';
import type { Logger } from 'pino';
import { Entry, type NewEntry } from '../protocol/entries.js';

/** Compact (snapshot + new segment) once the live segment holds this many entries… */
const DEFAULT_SEGMENT_ENTRIES = 20_000;
/** …or this many bytes, whichever comes first. */
const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;
/** Snapshot writes go out in chunks of about this size, so the event loop keeps turning. */
const WRITE_CHUNK_BYTES = 1024 * 1024;
const SNAPSHOT = 'snapshot.jsonl';
const SNAPSHOT_FORMAT = 1;
const SEGMENT_RE = /^log-(\d{6,})\.jsonl$/;

/** First record of a snapshot: what it covers. `count` entry records follow. */
const SnapshotHeader = z.object({
  kind: z.literal('snapshot'),
  format: z.literal(SNAPSHOT_FORMAT),
  /** First segment not contained in this snapshot. */
  nextSegment: z.number().int().positive(),
  /** Version vector of everything the snapshot covers, compacted-away entries included. */
  vv: z.array(z.tuple([z.string(), z.number().int().nonnegative()])),
  count: z.number().int().nonnegative(),
});
type SnapshotHeader = z.infer<typeof SnapshotHeader>;

/** The data directory holds something we cannot read safely: we refuse to start rather than start empty. */
export class CorruptDataError extends Error {
  override readonly name = 'CorruptDataError';
  readonly code = 'ECORRUPT';
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super(`data file ${file} is corrupt: ${detail}; refusing to start (move the data directory aside or restore a backup)`);
  }
}

export interface LogStoreOptions {
  /** Origin stamped on entries created here (see `setOrigin`). */
  origin: string;
  /**
   * Called with every entry once it is durable (and for every entry loaded
   * at open), before the append resolves: the one path into the chat state.
   */
  onDurable: (e: Entry) => void;
  /**
   * The live state as entries, for snapshots: what the chat retains (recent
   * history, accounts, undelivered messages). Older entries are compacted away;
   * the version vector still covers them.
   */
  retained: () => Iterable<Entry>;
  segmentEntries?: number;
  segmentBytes?: number;
}

interface Pending {
  buf: Buffer;
  entries: Entry[];
  resolve: () => void;
  reject: (err: Error) => void;
}

/**
 * The durable half of the replicated log (DESIGN §5): an append-only file of
 * CRC-checked JSON lines, fsynced before an append resolves, plus snapshots
 * of the retained state, written atomically (temp file, fsync, rename, fsync
 * of the directory).
 *
 * Appends that arrive while a write+fsync is in flight are committed together
 * in the next one (group commit), so durability costs one fsync per batch,
 * not per message.
 */
export class LogStore {
  readonly #dir: string;
  readonly #log: Logger;
  readonly #opts: Required<LogStoreOptions>;
  /** Version vector of everything accepted (durable or queued). */
  readonly #known = new Map<string, number>();
  /** Version vector of everything durable. */
  readonly #durable = new Map<string, number>();
  #origin: string;
  #nextOwnSeq = 1;
  #queue: Pending[] = [];
  #flushing: Promise<void> | undefined;
  #fh: FileHandle | undefined;
  #segment = 1;
  #segmentCount = 0;
  #segmentBytes = 0;
  #failed: Error | undefined;
  #closed = false;
  /** A snapshot being written in the background, if any. */
  #compacting: Promise<void> | undefined;

  private constructor(dir: string, log: Logger, options: LogStoreOptions) {
    this.#dir = dir;
    this.#log = log;
    this.#opts = {
      segmentEntries: DEFAULT_SEGMENT_ENTRIES,
      segmentBytes: DEFAULT_SEGMENT_BYTES,
      ...options,
    };
    this.#origin = options.origin;
  }

  /**
   * Opens (or creates) the log in `dir`, replaying the snapshot and segments
   * through `onDurable`. A torn last record is dropped with a warning; anything
   * else unreadable throws `CorruptDataError`.
   */
  static async open(dir: string, log: Logger, options: LogStoreOptions): Promise<LogStore> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const store = new LogStore(dir, log, options);
    await store.#load();
    return store;
  }

  /** Highest sequence number accepted per origin: the replica's version vector. */
  get versionVector(): ReadonlyMap<string, number> {
    return this.#known;
  }

  /** Highest sequence number durable per origin: what this replica may acknowledge holding. */
  get durableVersionVector(): ReadonlyMap<string, number> {
    return this.#durable;
  }

  /** Changes the origin stamped on new entries (a new coordinator term is a new origin). */
  setOrigin(origin: string): void {
    this.#origin = origin;
    this.#nextOwnSeq = (this.#known.get(origin) ?? 0) + 1;
  }

  /** Stamps entries created on this node with its origin and the next sequence numbers. */
  stamp(entries: readonly NewEntry[]): Entry[] {
    return entries.map((e) => ({ ...e, origin: this.#origin, seq: this.#nextOwnSeq++ }) as Entry);
  }

  /** Stamps and durably appends entries created here; resolves once they are fsynced. */
  async append(entries: readonly NewEntry[]): Promise<Entry[]> {
    const stamped = this.stamp(entries);
    await this.commit(stamped);
    return stamped;
  }

  /**
   * Durably appends already-stamped entries (ours or a peer's). Entries the
   * version vector already covers are skipped. Resolves after fsync, once
   * `onDurable` has seen them.
   */
  commit(entries: readonly Entry[]): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('log store is closed'));
    if (this.#failed) return Promise.reject(this.#failed);
    const fresh = entries.filter((e) => e.seq > (this.#known.get(e.origin) ?? 0));
    if (fresh.length === 0) return Promise.resolve();
    for (const e of fresh) this.#known.set(e.origin, Math.max(e.seq, this.#known.get(e.origin) ?? 0));
    const buf = Buffer.from(fresh.map(encodeRecord).join(''));
    return new Promise((resolve, reject) => {
      this.#queue.push({ buf, entries: fresh, resolve, reject });
      this.#flushing ??= this.#flush();
    });
  }

  /** Waits for pending writes, then closes the file. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#flushing;
    await this.#compacting;
    this.#closed = true;
    await this.#fh?.close();
    this.#fh = undefined;
  }

  /** The write loop. Never rejects: failures reject the appends they concern. */
  async #flush(): Promise<void> {
    while (this.#queue.length > 0 && !this.#failed) {
      const batch = this.#queue;
      this.#queue = [];
      const buf = Buffer.concat(batch.map((p) => p.buf));
      try {
        await writeAll(this.#fh!, buf);
        await this.#fh!.datasync();
      } catch (err) {
        // After a failed write the file's tail is unknown: stop accepting writes (a restart repairs the tail).
        this.#failed = new Error(`cannot write the message log: ${(err as Error).message}`);
        this.#log.error({ err }, 'log write failed; the store is now read-only');
        for (const p of [...batch, ...this.#queue.splice(0)]) p.reject(this.#failed);
        break;
      }
      for (const p of batch) {
        for (const e of p.entries) {
          this.#durable.set(e.origin, Math.max(e.seq, this.#durable.get(e.origin) ?? 0));
          this.#opts.onDurable(e);
        }
        this.#segmentCount += p.entries.length;
      }
      this.#segmentBytes += buf.length;
      for (const p of batch) p.resolve();
      if ((this.#segmentCount >= this.#opts.segmentEntries || this.#segmentBytes >= this.#opts.segmentBytes) && this.#compacting === undefined) {
        try {
          await this.#startCompaction();
        } catch (err) {
          // The log is intact without the snapshot; try again after another segment's worth.
          this.#log.error({ err }, 'log compaction failed; will retry');
          this.#segmentCount = 0;
          this.#segmentBytes = 0;
        }
      }
    }
    this.#flushing = undefined;
  }

  /**
   * Moves appends on to a fresh segment and writes a snapshot of the state as
   * it stood at the switch in the background, so appends never wait for it.
   * Until the snapshot's rename, the old snapshot and the segments since it
   * still describe everything; after it, the segments before the new one are
   * redundant and go.
   */
  async #startCompaction(): Promise<void> {
    const next = this.#segment + 1;
    // Taken synchronously: `onDurable` has seen every entry written so far, and nothing is written until the switch.
    const entries = [...this.#opts.retained()];
    const header: SnapshotHeader = { kind: 'snapshot', format: SNAPSHOT_FORMAT, nextSegment: next, vv: [...this.#durable], count: entries.length };
    await this.#openSegment(next);
    this.#compacting = this.#writeSnapshot(header, entries)
      .then(() => this.#log.info({ retained: entries.length, segment: next }, 'log compacted'))
      // The log is intact without the new snapshot; another segment's worth from now, compaction runs again.
      .catch((err: unknown) => this.#log.error({ err }, 'log compaction failed; will retry'))
      .finally(() => (this.#compacting = undefined));
  }

  async #writeSnapshot(header: SnapshotHeader, entries: readonly Entry[]): Promise<void> {
    const tmp = join(this.#dir, `${SNAPSHOT}.tmp`);
    const fh = await open(tmp, 'w', 0o600);
    try {
      let chunk = encodeRecord(header);
      for (const e of entries) {
        chunk += encodeRecord(e);
        if (chunk.length >= WRITE_CHUNK_BYTES) {
          await writeAll(fh, Buffer.from(chunk));
          chunk = '';
        }
      }
      await writeAll(fh, Buffer.from(chunk));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, join(this.#dir, SNAPSHOT));
    await syncDir(this.#dir);
    await this.#removeSegmentsBefore(header.nextSegment);
  }

  async #openSegment(n: number): Promise<void> {
    await this.#fh?.close();
    this.#fh = await open(join(this.#dir, segmentName(n)), 'a', 0o600);
    this.#segment = n;
    this.#segmentCount = 0;
    this.#segmentBytes = 0;
    await syncDir(this.#dir);
  }

  async #removeSegmentsBefore(n: number): Promise<void> {
    for (const name of await readdir(this.#dir)) {
      const m = SEGMENT_RE.exec(name);
      if (m && Number(m[1]) < n) await rm(join(this.#dir, name), { force: true });
    }
  }

  #accept(e: Entry): void {
    // A snapshot and a segment may overlap after a crash mid-compaction: the version vector drops repeats.
    if (e.seq <= (this.#known.get(e.origin) ?? 0)) return;
    this.#known.set(e.origin, e.seq);
    this.#durable.set(e.origin, e.seq);
    this.#opts.onDurable(e);
  }

  async #load(): Promise<void> {
    await rm(join(this.#dir, `${SNAPSHOT}.tmp`), { force: true }); // an unfinished snapshot is never trusted
    const nextSegment = await this.#loadSnapshot();
    const segments = (await readdir(this.#dir))
      .map((name) => SEGMENT_RE.exec(name))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .filter((n) => n >= nextSegment)
      .sort((a, b) => a - b);
    // Segments run on from the snapshot without a gap; anything else means a lost file.
    segments.forEach((n, i) => {
      if (n !== nextSegment + i) {
        const expected = segmentName(nextSegment + i);
        throw new CorruptDataError(join(this.#dir, expected), nextSegment === 1 && i === 0 ? `missing, and there is no ${SNAPSHOT}` : 'missing (a gap in the log)');
      }
    });
    await this.#removeSegmentsBefore(nextSegment); // leftovers of a compaction interrupted after its rename
    let lastCount = 0;
    let lastBytes = 0;
    for (const [i, n] of segments.entries()) [lastCount, lastBytes] = await this.#loadSegment(n, i === segments.length - 1);
    await this.#openSegment(segments.at(-1) ?? nextSegment);
    this.#segmentCount = lastCount;
    this.#segmentBytes = lastBytes;
    this.#nextOwnSeq = (this.#known.get(this.#origin) ?? 0) + 1;
  }

  /** Loads the snapshot, if any; returns the first segment it does not cover. */
  async #loadSnapshot(): Promise<number> {
    const path = join(this.#dir, SNAPSHOT);
    const data = await readFile(path).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    if (data === undefined) return 1;
    // Written atomically: every byte must be good, the last record included.
    const { values, bad, goodBytes } = decodeLines(data);
    if (bad !== undefined) throw new CorruptDataError(path, `bad record at byte ${goodBytes}: ${bad.reason}`);
    const header = SnapshotHeader.safeParse(values[0]);
    if (!header.success) throw new CorruptDataError(path, 'missing or invalid header');
    if (values.length !== header.data.count + 1) throw new CorruptDataError(path, `expected ${header.data.count} entries, found ${values.length - 1}`);
    for (const [i, raw] of values.slice(1).entries()) {
      const e = Entry.safeParse(raw);
      if (!e.success) throw new CorruptDataError(path, `invalid entry ${i + 1}: ${e.error.issues[0]?.message ?? 'schema'}`);
      this.#accept(e.data);
    }
    for (const [origin, seq] of header.data.vv) {
      if (seq > (this.#known.get(origin) ?? 0)) {
        this.#known.set(origin, seq);
        this.#durable.set(origin, seq);
      }
    }
    return header.data.nextSegment;
  }

  /** Replays one segment; returns its record count and size. Only the last segment may have a torn tail. */
  async #loadSegment(n: number, last: boolean): Promise<[number, number]> {
    const path = join(this.#dir, segmentName(n));
    const data = await readFile(path);
    const { values, goodBytes, bad } = decodeLines(data);
    if (bad !== undefined) {
      if (!(bad.torn && last)) throw new CorruptDataError(path, `bad record at byte ${goodBytes}: ${bad.reason}`);
      this.#log.warn({ file: path, droppedBytes: data.length - goodBytes }, 'dropping a torn last record (crash during a write)');
      const fh = await open(path, 'r+');
      try {
        await fh.truncate(goodBytes);
        await fh.sync();
      } finally {
        await fh.close();
      }
    }
    for (const [i, raw] of values.entries()) {
      const e = Entry.safeParse(raw);
      if (!e.success) throw new CorruptDataError(path, `invalid entry ${i + 1}: ${e.error.issues[0]?.message ?? 'schema'}`);
      this.#accept(e.data);
    }
    return [values.length, goodBytes];
  }
}

/** One record: `<crc32 hex> <json>\n`. */
export function encodeRecord(value: unknown): string {
  const json = JSON.stringify(value);
  return `${crc32(json).toString(16).padStart(8, '0')} ${json}\n`;
}

interface Decoded {
  values: unknown[];
  /** Length of the valid prefix, in bytes. */
  goodBytes: number;
  /**
   * The first bad record, if any. `torn` when it is what a crash mid-append
   * leaves — a record without its newline, or one with zero-filled (lost)
   * pages — and nothing valid follows. A complete record with a bad checksum
   * is damage, wherever it is.
   */
  bad?: { reason: string; torn: boolean };
}

/** Decodes CRC-checked JSON lines, stopping at the first bad one. Pure: exported for tests. */
export function decodeLines(data: Buffer): Decoded {
  const values: unknown[] = [];
  let pos = 0;
  while (pos < data.length) {
    const nl = data.indexOf(0x0a, pos);
    const end = nl === -1 ? data.length : nl;
    const line = data.subarray(pos, end);
    const reason = nl === -1 ? 'record has no end (torn write)' : decodeOne(line, values);
    if (reason !== undefined) {
      const crashShaped = nl === -1 || line.includes(0);
      return { values, goodBytes: pos, bad: { reason, torn: crashShaped && !hasValidRecordAfter(data, end + 1) } };
    }
    pos = end + 1;
  }
  return { values, goodBytes: pos };
}

function decodeOne(line: Buffer, out: unknown[]): string | undefined {
  const text = line.toString('utf8');
  if (text.indexOf(' ') !== 8) return 'malformed record header';
  const json = text.slice(9);
  if (crc32(json).toString(16).padStart(8, '0') !== text.slice(0, 8)) return 'checksum mismatch';
  try {
    out.push(JSON.parse(json));
  } catch {
    return 'invalid JSON';
  }
  return undefined;
}

function hasValidRecordAfter(data: Buffer, from: number): boolean {
  let pos = from;
  while (pos < data.length) {
    const nl = data.indexOf(0x0a, pos);
    if (nl === -1) return false;
    if (decodeOne(data.subarray(pos, nl), []) === undefined) return true;
    pos = nl + 1;
  }
  return false;
}

function segmentName(n: number): string {
  return `log-${String(n).padStart(6, '0')}.jsonl`;
}

async function writeAll(fh: FileHandle, buf: Buffer): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    const { bytesWritten } = await fh.write(buf, off, buf.length - off);
    off += bytesWritten;
  }
}

/** fsyncs a directory so a created or renamed file survives a power cut. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
