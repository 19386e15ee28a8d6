import { open, readFile, readdir, rename, rm, mkdir, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { z } from 'zod';
import type { Logger } from 'pino';
import { Entry, entryKey, type NewEntry } from './entries.js';

/** Compact (snapshot + new segment) once the live segment holds this many entries. */
const DEFAULT_SEGMENT_ENTRIES = 20_000;
const SNAPSHOT = 'snapshot.json';
const SNAPSHOT_FORMAT = 1;
const SEGMENT_RE = /^log-(\d{6,})\.jsonl$/;

const Snapshot = z.object({
  format: z.literal(SNAPSHOT_FORMAT),
  /** First segment not contained in this snapshot. */
  nextSegment: z.number().int().positive(),
  entries: z.array(Entry),
});

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
  /** This node's id, stamped as the origin of entries it creates. */
  origin: string;
  segmentEntries?: number;
}

interface Pending {
  buf: Buffer;
  entries: Entry[];
  resolve: () => void;
  reject: (err: Error) => void;
}

/**
 * The durable half of the replicated log (DESIGN §5): an append-only file of
 * CRC-checked JSON lines, fsynced before an append resolves, plus atomic
 * snapshots (temp file, fsync, rename, fsync dir).
 *
 * Appends that arrive while a write+fsync is in flight are committed together
 * in the next one (group commit), so durability costs one fsync per batch,
 * not per message.
 */
export class LogStore {
  readonly #dir: string;
  readonly #log: Logger;
  readonly #origin: string;
  readonly #segmentEntries: number;
  readonly #entries: Entry[] = [];
  readonly #seen = new Set<string>();
  readonly #maxSeq = new Map<string, number>();
  #queue: Pending[] = [];
  #flushing: Promise<void> | undefined;
  #fh: FileHandle | undefined;
  #segment = 1;
  #segmentCount = 0;
  #failed: Error | undefined;
  #closed = false;

  private constructor(dir: string, log: Logger, options: LogStoreOptions) {
    this.#dir = dir;
    this.#log = log;
    this.#origin = options.origin;
    this.#segmentEntries = options.segmentEntries ?? DEFAULT_SEGMENT_ENTRIES;
  }

  /**
   * Opens (or creates) the log in `dir`, replaying the snapshot and segments.
   * A torn last record is dropped with a warning; anything else unreadable
   * throws `CorruptDataError`.
   */
  static async open(dir: string, log: Logger, options: LogStoreOptions): Promise<LogStore> {
    await mkdir(dir, { recursive: true });
    const store = new LogStore(dir, log, options);
    await store.#load();
    return store;
  }

  /** Every durable entry, in log order. The array is live: do not mutate it. */
  get entries(): readonly Entry[] {
    return this.#entries;
  }

  /** Highest sequence number seen per origin: the replica's version vector. */
  get versionVector(): ReadonlyMap<string, number> {
    return this.#maxSeq;
  }

  /** Stamps entries created on this node with its origin and the next sequence numbers. */
  stamp(entries: readonly NewEntry[]): Entry[] {
    let seq = this.#maxSeq.get(this.#origin) ?? 0;
    const stamped = entries.map((e) => ({ ...e, origin: this.#origin, seq: ++seq }) as Entry);
    this.#maxSeq.set(this.#origin, seq);
    return stamped;
  }

  /** Stamps and durably appends entries created here; resolves once they are fsynced. */
  async append(entries: readonly NewEntry[]): Promise<Entry[]> {
    const stamped = this.stamp(entries);
    await this.commit(stamped);
    return stamped;
  }

  /**
   * Durably appends already-stamped entries (ours or, later, a peer's).
   * Entries already in the log are skipped. Resolves after fsync.
   */
  commit(entries: readonly Entry[]): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('log store is closed'));
    if (this.#failed) return Promise.reject(this.#failed);
    const fresh = entries.filter((e) => !this.#seen.has(entryKey(e)));
    if (fresh.length === 0) return Promise.resolve();
    for (const e of fresh) {
      this.#seen.add(entryKey(e));
      if (e.seq > (this.#maxSeq.get(e.origin) ?? 0)) this.#maxSeq.set(e.origin, e.seq);
    }
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
    this.#closed = true;
    await this.#fh?.close();
    this.#fh = undefined;
  }

  async #flush(): Promise<void> {
    try {
      while (this.#queue.length > 0 && !this.#failed) {
        const batch = this.#queue;
        this.#queue = [];
        try {
          await writeAll(this.#fh!, Buffer.concat(batch.map((p) => p.buf)));
          await this.#fh!.datasync();
        } catch (err) {
          // After a failed write the file's tail is unknown: stop accepting writes (restart repairs the tail).
          this.#failed = new Error(`cannot write the message log: ${(err as Error).message}`);
          this.#log.error({ err }, 'log write failed; the store is now read-only');
          for (const p of [...batch, ...this.#queue.splice(0)]) p.reject(this.#failed);
          return;
        }
        for (const p of batch) {
          for (const e of p.entries) this.#entries.push(e);
          this.#segmentCount += p.entries.length;
        }
        for (const p of batch) p.resolve();
        if (this.#segmentCount >= this.#segmentEntries) await this.#compact();
      }
    } finally {
      this.#flushing = undefined;
    }
  }

  /** Writes a snapshot of every durable entry, then moves on to a fresh segment. */
  async #compact(): Promise<void> {
    const next = this.#segment + 1;
    const body = JSON.stringify({ format: SNAPSHOT_FORMAT, nextSegment: next, entries: this.#entries });
    const tmp = join(this.#dir, `${SNAPSHOT}.tmp`);
    const fh = await open(tmp, 'w');
    try {
      await writeAll(fh, Buffer.from(body));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, join(this.#dir, SNAPSHOT));
    await this.#openSegment(next); // fsyncs the directory, making the rename durable too
    await this.#removeSegmentsBefore(next);
    this.#log.info({ entries: this.#entries.length, segment: next }, 'log compacted');
  }

  async #openSegment(n: number): Promise<void> {
    await this.#fh?.close();
    this.#fh = await open(join(this.#dir, segmentName(n)), 'a');
    this.#segment = n;
    this.#segmentCount = 0;
    await syncDir(this.#dir);
  }

  async #removeSegmentsBefore(n: number): Promise<void> {
    for (const name of await readdir(this.#dir)) {
      const m = SEGMENT_RE.exec(name);
      if (m && Number(m[1]) < n) await rm(join(this.#dir, name), { force: true });
    }
  }

  #add(e: Entry): void {
    const key = entryKey(e);
    if (this.#seen.has(key)) return; // a snapshot and a segment may overlap after a crash mid-compaction
    this.#seen.add(key);
    this.#entries.push(e);
    if (e.seq > (this.#maxSeq.get(e.origin) ?? 0)) this.#maxSeq.set(e.origin, e.seq);
  }

  async #load(): Promise<void> {
    await rm(join(this.#dir, `${SNAPSHOT}.tmp`), { force: true }); // an unfinished snapshot is never trusted
    let nextSegment = 1;
    const snapPath = join(this.#dir, SNAPSHOT);
    const snapText = await readFile(snapPath, 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    if (snapText !== undefined) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(snapText);
      } catch {
        throw new CorruptDataError(snapPath, 'not valid JSON');
      }
      const snap = Snapshot.safeParse(parsed);
      if (!snap.success) throw new CorruptDataError(snapPath, snap.error.issues[0]?.message ?? 'invalid');
      for (const e of snap.data.entries) this.#add(e);
      nextSegment = snap.data.nextSegment;
    }
    const segments = (await readdir(this.#dir))
      .map((name) => SEGMENT_RE.exec(name))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
    await this.#removeSegmentsBefore(nextSegment);
    const live = segments.filter((n) => n >= nextSegment);
    let lastCount = 0;
    for (const [i, n] of live.entries()) lastCount = await this.#loadSegment(n, i === live.length - 1);
    await this.#openSegment(live.at(-1) ?? nextSegment);
    this.#segmentCount = lastCount;
  }

  /** Replays one segment; returns its record count. Only the last segment may have a torn tail. */
  async #loadSegment(n: number, last: boolean): Promise<number> {
    const path = join(this.#dir, segmentName(n));
    const data = await readFile(path);
    const { entries, goodBytes, bad } = decodeRecords(data);
    if (bad !== undefined) {
      if (bad.torn && last) {
        this.#log.warn({ file: path, droppedBytes: data.length - goodBytes }, 'dropping a torn last record (crash during a write)');
        const fh = await open(path, 'r+');
        try {
          await fh.truncate(goodBytes);
          await fh.sync();
        } finally {
          await fh.close();
        }
      } else {
        throw new CorruptDataError(path, `bad record at byte ${goodBytes}: ${bad.reason}`);
      }
    }
    for (const e of entries) this.#add(e);
    return entries.length;
  }
}

/** One record: `<crc32 hex> <json>\n`. */
export function encodeRecord(e: Entry): string {
  const json = JSON.stringify(e);
  return `${crc32(json).toString(16).padStart(8, '0')} ${json}\n`;
}

interface Decoded {
  entries: Entry[];
  /** Length of the valid prefix, in bytes. */
  goodBytes: number;
  /** The first bad record, if any; `torn` when nothing valid follows it (a crash mid-append). */
  bad?: { reason: string; torn: boolean };
}

/** Decodes a segment's records, stopping at the first bad one. Pure: exported for tests. */
export function decodeRecords(data: Buffer): Decoded {
  const entries: Entry[] = [];
  let pos = 0;
  while (pos < data.length) {
    const nl = data.indexOf(0x0a, pos);
    const end = nl === -1 ? data.length : nl;
    const reason = nl === -1 ? 'record has no end (torn write)' : decodeOne(data.subarray(pos, end), entries);
    if (reason !== undefined) {
      return { entries, goodBytes: pos, bad: { reason, torn: !hasValidRecordAfter(data, end + 1) } };
    }
    pos = end + 1;
  }
  return { entries, goodBytes: pos };
}

function decodeOne(line: Buffer, out: Entry[]): string | undefined {
  const text = line.toString('utf8');
  const space = text.indexOf(' ');
  if (space !== 8) return 'malformed record header';
  const json = text.slice(9);
  if (crc32(json).toString(16).padStart(8, '0') !== text.slice(0, 8)) return 'checksum mismatch';
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    return 'invalid JSON';
  }
  const parsed = Entry.safeParse(raw);
  if (!parsed.success) return `invalid entry (${parsed.error.issues[0]?.message ?? 'schema'})`;
  out.push(parsed.data);
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
