import { mkdir, open, readFile, readdir, rename, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { z } from 'zod';
import type { Logger } from 'pino';
import { Entry, LogRecord } from '../protocol/entries.js';

/** Compact (snapshot + new segment) once the live segment holds this many entries… */
const DEFAULT_SEGMENT_ENTRIES = 20_000;
/** …or this many bytes, whichever comes first. */
const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;
/** Snapshot writes go out in chunks of about this size, so the event loop keeps turning. */
const WRITE_CHUNK_BYTES = 1024 * 1024;
const SNAPSHOT = 'snapshot.jsonl';
const SNAPSHOT_FORMAT = 2;
const SEGMENT_RE = /^log-(\d{6,})\.jsonl$/;

const Vector = z.array(z.tuple([z.string(), z.number().int().nonnegative()]));

/** First record of a snapshot: what it covers. `count` entry records follow. */
const SnapshotHeader = z.object({
  kind: z.literal('snapshot'),
  /** 1: written before floors existed (everything at or below `vv` may be compacted); 2: with `floor`. */
  format: z.union([z.literal(1), z.literal(2)]),
  /** First segment not contained in this snapshot. */
  nextSegment: z.number().int().positive(),
  /** Version vector of everything the snapshot covers, compacted-away entries included. */
  vv: Vector,
  /** Below this, entries may have been compacted away (their effect is in the entries kept). */
  floor: Vector.optional(),
  count: z.number().int().nonnegative(),
});
type SnapshotHeader = z.infer<typeof SnapshotHeader>;

/** What a snapshot holds: the replica's bounds and its entries (retained state and the tail). */
export interface Snapshot {
  vv: [string, number][];
  floor: [string, number][];
  entries: Entry[];
}

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
  /**
   * The replica as it stands, for a snapshot (called synchronously when a segment fills, once every record
   * written so far is durable and applied): bounds and entries. Older segments then go.
   */
  snapshot: () => Snapshot;
  segmentEntries?: number;
  segmentBytes?: number;
}

interface Pending {
  buf: Buffer;
  count: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

/**
 * The durable half of the replicated log (DESIGN §5): an append-only file of
 * CRC-checked JSON lines, fsynced before a write resolves, plus snapshots of
 * the replica, written atomically (temp file, fsync, rename, fsync of the
 * directory). It stores records; which records to write, and what they mean,
 * is the core's business (src/core/replica.ts).
 *
 * Writes that arrive while a write+fsync is in flight are committed together
 * in the next one (group commit), so durability costs one fsync per batch.
 * A write that fails (a full disk) fails every write queued behind it, and
 * the store refuses writes until `recover()` succeeds: the file's tail is cut
 * back to what was durable, so a retry never leaves a hole.
 */
export class LogStore {
  readonly #dir: string;
  readonly #log: Logger;
  readonly #opts: Required<LogStoreOptions>;
  #loaded: { snapshot: Snapshot | undefined; records: LogRecord[] } = { snapshot: undefined, records: [] };
  #queue: Pending[] = [];
  #flushing: Promise<void> | undefined;
  #fh: FileHandle | undefined;
  #segment = 1;
  #segmentCount = 0;
  /** Bytes of the live segment known durable: where a failed write's tail is cut back to. */
  #segmentBytes = 0;
  #failed: Error | undefined;
  #closed = false;
  /** A snapshot being written in the background, if any. */
  #compacting: Promise<void> | undefined;

  private constructor(dir: string, log: Logger, options: LogStoreOptions) {
    this.#dir = dir;
    this.#log = log;
    this.#opts = { segmentEntries: DEFAULT_SEGMENT_ENTRIES, segmentBytes: DEFAULT_SEGMENT_BYTES, ...options };
  }

  /**
   * Opens (or creates) the log in `dir` and reads it: the snapshot, then the
   * records of the segments since, in order (see `loaded`). A torn last record
   * is dropped with a warning; anything else unreadable throws `CorruptDataError`.
   */
  static async open(dir: string, log: Logger, options: LogStoreOptions): Promise<LogStore> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const store = new LogStore(dir, log, options);
    await store.#load();
    return store;
  }

  /** What the disk held at open (hand it to the core, then drop it). */
  get loaded(): { snapshot: Snapshot | undefined; records: LogRecord[] } {
    return this.#loaded;
  }

  /** Forgets what was loaded (the core has it now). */
  release(): void {
    this.#loaded = { snapshot: undefined, records: [] };
  }

  /** Why writes are refused now (a failed write, until `recover()`), if they are. */
  get failed(): Error | undefined {
    return this.#failed;
  }

  /** Durably appends records, after every earlier write; resolves after fsync. */
  write(records: readonly LogRecord[]): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('log store is closed'));
    if (this.#failed) return Promise.reject(this.#failed);
    if (records.length === 0) return Promise.resolve();
    const buf = Buffer.from(records.map(encodeRecord).join(''));
    return new Promise((resolve, reject) => {
      this.#queue.push({ buf, count: records.length, resolve, reject });
      this.#flushing ??= this.#flush();
    });
  }

  /**
   * After a failed write: cuts the live segment back to its durable size and
   * checks that it can be written (and fsynced) again. Resolves true when writes
   * are accepted again. Nothing to do (false) while another write is in flight.
   */
  async recover(): Promise<boolean> {
    if (!this.#failed || this.#closed || this.#flushing) return !this.#failed;
    try {
      await this.#fh!.truncate(this.#segmentBytes);
      await this.#fh!.datasync();
      this.#failed = undefined;
      this.#log.info('the message log can be written again');
      return true;
    } catch (err) {
      this.#log.debug({ err }, 'the message log still cannot be written');
      return false;
    }
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

  /** The write loop. Never rejects: failures reject the writes they concern. */
  async #flush(): Promise<void> {
    while (this.#queue.length > 0 && !this.#failed) {
      const batch = this.#queue;
      this.#queue = [];
      const buf = Buffer.concat(batch.map((p) => p.buf));
      try {
        await writeAll(this.#fh!, buf);
        await this.#fh!.datasync();
      } catch (err) {
        // The tail is unknown now: refuse writes until `recover()` cuts it back (issue #11: a full disk).
        this.#failed = new Error(`cannot write the message log: ${(err as Error).message}`);
        this.#log.error({ err }, 'log write failed; writes are refused until it can be written again');
        for (const p of [...batch, ...this.#queue.splice(0)]) p.reject(this.#failed);
        break;
      }
      this.#segmentBytes += buf.length;
      for (const p of batch) this.#segmentCount += p.count;
      for (const p of batch) p.resolve();
      if ((this.#segmentCount >= this.#opts.segmentEntries || this.#segmentBytes >= this.#opts.segmentBytes) && this.#compacting === undefined) {
        // Let the writes just resolved be applied before the snapshot is taken (their callers run first).
        await new Promise<void>((r) => setImmediate(r));
        try {
          await this.#startCompaction();
        } catch (err) {
          // The log is intact without the snapshot; try again after another segment's worth.
          this.#log.error({ err }, 'log compaction failed; will retry');
          this.#segmentCount = 0;
        }
      }
    }
    this.#flushing = undefined;
  }

  /**
   * Moves writes on to a fresh segment and writes a snapshot of the replica as
   * it stood at the switch in the background, so writes never wait for it.
   * Until the snapshot's rename, the old snapshot and the segments since it
   * still describe everything; after it, the segments before the new one go.
   */
  async #startCompaction(): Promise<void> {
    const next = this.#segment + 1;
    // Taken synchronously: every record written so far has been applied, and nothing is written until the switch.
    const snap = this.#opts.snapshot();
    const header: SnapshotHeader = { kind: 'snapshot', format: SNAPSHOT_FORMAT, nextSegment: next, vv: snap.vv, floor: snap.floor, count: snap.entries.length };
    await this.#openSegment(next);
    this.#compacting = this.#writeSnapshot(header, snap.entries)
      .then(() => this.#log.info({ kept: snap.entries.length, segment: next }, 'log compacted'))
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
    const entries: Entry[] = [];
    for (const [i, raw] of values.slice(1).entries()) {
      const e = Entry.safeParse(raw);
      if (!e.success) throw new CorruptDataError(path, `invalid entry ${i + 1}: ${e.error.issues[0]?.message ?? 'schema'}`);
      entries.push(e.data);
    }
    // Format 1 kept only the retained state: everything it covers counts as compacted.
    const { vv, floor = vv } = header.data;
    this.#loaded.snapshot = { vv, floor, entries };
    return header.data.nextSegment;
  }

  /** Reads one segment; returns its record count and size. Only the last segment may have a torn tail. */
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
      const r = LogRecord.safeParse(raw);
      if (!r.success) throw new CorruptDataError(path, `invalid entry ${i + 1}: ${r.error.issues[0]?.message ?? 'schema'}`);
      this.#loaded.records.push(r.data);
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
