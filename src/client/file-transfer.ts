import { createHash, type Hash } from 'node:crypto';
import { open, statfs, unlink, type FileHandle } from 'node:fs/promises';
import { constants as fsConstants } from 'node:fs';
import { basename, join } from 'node:path';
import type { Logger } from 'pino';
import { FILE_HEADER_BYTES, FILE_WINDOW_BYTES } from '../protocol/limits.js';
import { ProtocolError } from '../protocol/errors.js';
import type { ServerMessage } from '../protocol/messages.js';
import { formatBytes } from '../protocol/units.js';
import { ensureDir, removeStaleParts, sanitizeFileName, saveUnder } from './file-names.js';

const PROGRESS_MS = 250; // at most this often per transfer (issue #6)
const READ_AHEAD = 8; // chunks being read from disk while earlier ones go out
const SOCKET_HIGH_WATER = 1024 * 1024; // file data queued on our socket before an upload waits: chat lines are not stuck behind more
const MAX_DOWNLOADS = 16; // files coming in at once; more are refused (a coordinator is a peer, not a friend)
const MAX_UNWRITTEN_BYTES = 2 * FILE_WINDOW_BYTES; // received, not yet on disk: more means the sender ignored the window
const ACK_EVERY_BYTES = 1024 * 1024; // a recipient acknowledges what it wrote at least this often (a quarter of the window)…
const ACK_EVERY_MS = 2_000; // …and, on a slow link, whatever it wrote every 2 s (the coordinator judges a transfer's rate by acks)

type FileFrame = Extract<ServerMessage, { type: `file:${string}` }>;

/** A transfer's progress, in or out. */
export interface FileProgress {
  id: string;
  direction: 'out' | 'in';
  name: string;
  /** Bytes sent (out) or written (in). */
  done: number;
  size: number;
  /** The sender, for files coming in. */
  from?: string;
}

/** A file received, verified and saved. */
export interface ReceivedFile {
  id: string;
  from: string;
  /** The name it was saved under (sanitised, maybe numbered). */
  name: string;
  size: number;
  sha256: string;
  path: string;
  to: string[];
}

export interface FileSent {
  id: string;
  name: string;
  size: number;
  delivered: string[];
  failed: { user: string; reason: string }[];
  skipped: string[];
}

/** What the file transfers need from the connection they run on. */
export interface FileLink {
  /** Writes a JSON frame; false when not connected. */
  send(frame: object): boolean;
  /** Writes a binary frame; false when not connected. `written` is called once it has left for the network. */
  sendBinary(data: Buffer, written: () => void): boolean;
  /** Bytes queued on the connection, not yet handed to the network. */
  buffered(): number;
  /** The coordinator's limit, once known. */
  maxFileBytes(): number | undefined;
  log: Logger;
  progress(p: FileProgress): void;
  sent(s: FileSent): void;
  /** An upload failed: `id` is the sender's id. */
  uploadFailed(id: string, error: ProtocolError): void;
  received(f: ReceivedFile): void;
  /** A file coming in was not saved; nothing is left under its name. */
  receiveFailed(f: { id: string; from: string; name: string; reason: string }): void;
}

interface Upload {
  readonly id: string;
  readonly path: string;
  readonly to: string[];
  readonly name: string;
  size: number;
  stream?: number;
  window: number;
  chunk: number;
  skipped: string[];
  credit: number;
  sent: number;
  result?: { delivered: string[]; failed: { user: string; reason: string }[] };
  failure?: ProtocolError;
  wake?: () => void;
  progressAt: number;
}

interface Download {
  readonly stream: number;
  readonly id: string;
  readonly from: string;
  readonly name: string;
  readonly size: number;
  readonly to: string[];
  readonly tmp: string;
  readonly hash: Hash;
  received: number;
  written: number;
  /** The temporary file, once open. */
  readonly file: Promise<FileHandle>;
  /** Chunks received and not yet written: written together, in order, by one writer at a time. */
  readonly queue: Buffer[];
  /** The writer, while it runs. */
  writer: Promise<void> | undefined;
  acked: number;
  /** When it last acknowledged. */
  ackedAt: number;
  /** `file:end` has come: no more data is expected. */
  ended: boolean;
  /** Verified and being saved: an abort or a lost connection can no longer undo it. */
  finishing: boolean;
  failed: boolean;
  progressAt: number;
}

/**
 * Both ends of file sharing for one client (issue #6). Uploads read the file
 * in chunks, hash it as they go and never run more than the window ahead of
 * what every recipient has written. Downloads write to a hidden temporary
 * file in the download folder, acknowledge each chunk once it is written,
 * check size and SHA-256, and only then give the file its (sanitised,
 * never clobbering) name. Anything interrupted is removed and reported.
 */
export class FileTransfers {
  readonly #link: FileLink;
  readonly #downloadDir: string | undefined;
  readonly #uploads = new Map<string, Upload>();
  readonly #downloads = new Map<number, Download>();
  /** Removals of failed downloads' temporary files, still under way. */
  readonly #cleanups = new Set<Promise<unknown>>();
  /** Temporary files left by an earlier process that crashed, removed once, before the first download. */
  #swept: Promise<void> | undefined;

  constructor(link: FileLink, downloadDir: string | undefined) {
    this.#link = link;
    this.#downloadDir = downloadDir;
  }

  /** Files being sent. */
  get uploading(): number {
    return this.#uploads.size;
  }

  /** Starts sending the file at `path`; the outcome comes through the link. */
  send(path: string, to: string[], id: string): void {
    const up: Upload = { id, path, to, name: basename(path), size: 0, window: 0, chunk: 0, skipped: [], credit: 0, sent: 0, progressAt: 0 };
    this.#uploads.set(id, up);
    this.#upload(up).then(
      () => {
        this.#uploads.delete(id);
        const { delivered, failed } = up.result!;
        if (delivered.length === 0) {
          const why = failed.map((f) => `${f.user}: ${f.reason}`).join('; ') || 'nobody received it';
          this.#link.uploadFailed(id, new ProtocolError('file_failed', `${up.name} was not delivered (${why}); send it again`));
        } else {
          this.#link.sent({ id, name: up.name, size: up.size, delivered, failed, skipped: up.skipped });
        }
      },
      (err: unknown) => {
        this.#uploads.delete(id);
        if (up.stream !== undefined && !(err instanceof ProtocolError && up.failure === err)) {
          this.#link.send({ type: 'file:cancel', stream: up.stream, reason: 'the sender could not read the file' });
        }
        this.#link.uploadFailed(id, err instanceof ProtocolError ? err : new ProtocolError('file_unreadable', `${up.name}: ${(err as Error).message}`));
      },
    );
  }

  /** A `file:*` frame from the coordinator. */
  onFrame(msg: FileFrame): void {
    switch (msg.type) {
      case 'file:accepted': {
        const up = this.#uploads.get(msg.id);
        if (up === undefined || up.stream !== undefined) return;
        up.stream = msg.stream;
        up.window = msg.window;
        up.chunk = msg.chunk;
        up.skipped = msg.skipped;
        return up.wake?.();
      }
      case 'file:credit': {
        const up = this.#byStream(msg.stream);
        if (up && msg.acked > up.credit) up.credit = msg.acked;
        return up?.wake?.();
      }
      case 'file:sent': {
        const up = this.#uploads.get(msg.id);
        if (up === undefined) return;
        up.result = { delivered: msg.delivered, failed: msg.failed };
        return up.wake?.();
      }
      case 'file:start':
        return this.#start(msg);
      case 'file:end':
        return this.#end(msg.stream, msg.sha256);
      case 'file:abort': {
        const d = this.#downloads.get(msg.stream);
        if (d) this.#fail(d, msg.reason, false);
        return;
      }
    }
  }

  /** An `error` frame about one of our uploads (refused, or stopped by the coordinator). True if it was ours. */
  onError(ref: string, error: ProtocolError): boolean {
    const up = this.#uploads.get(ref);
    if (up === undefined) return false;
    up.failure = error;
    up.wake?.();
    return true;
  }

  /** A binary frame: a chunk of a file coming in. */
  onData(buf: Buffer): void {
    if (buf.length < FILE_HEADER_BYTES) return;
    const d = this.#downloads.get(buf.readUInt32BE(0));
    if (d === undefined || d.failed) return;
    if (d.ended) return this.#fail(d, 'data after the end of the file', true);
    const data = buf.subarray(FILE_HEADER_BYTES);
    d.received += data.length;
    if (d.received > d.size) return this.#fail(d, `more data than the ${d.size} bytes announced`, true);
    if (d.received - d.written > MAX_UNWRITTEN_BYTES) return this.#fail(d, 'the data came faster than this client acknowledged it', true);
    d.hash.update(data);
    d.queue.push(data);
    d.writer ??= this.#write(d).finally(() => (d.writer = undefined));
  }

  /** Writes what is queued (several chunks in one call when the disk is slower than the network) and acknowledges it. */
  async #write(d: Download): Promise<void> {
    try {
      const fh = await d.file;
      while (d.queue.length > 0 && !d.failed) {
        const chunks = d.queue.splice(0);
        const bytes = chunks.reduce((n, c) => n + c.length, 0);
        // writev may write less than asked (a full disk, a file size limit) without failing: write the rest, or fail.
        let done = (await fh.writev(chunks)).bytesWritten;
        if (done < bytes) {
          const rest = Buffer.concat(chunks).subarray(done);
          for (let off = 0; off < rest.length; ) {
            const { bytesWritten } = await fh.write(rest, off, rest.length - off);
            if (bytesWritten === 0) throw new Error(`the disk took only ${d.written + done + off} of ${d.size} bytes`);
            off += bytesWritten;
          }
          done = bytes;
        }
        if (d.failed) return; // stopped meanwhile: nothing more to acknowledge or show
        d.written += done;
        if (d.written - d.acked >= ACK_EVERY_BYTES || d.written === d.size || (d.written > d.acked && performance.now() - d.ackedAt >= ACK_EVERY_MS)) {
          d.acked = d.written;
          d.ackedAt = performance.now();
          this.#link.send({ type: 'file:ack', stream: d.stream, received: d.written });
        }
        this.#progress(d, { id: d.id, direction: 'in', name: d.name, done: d.written, size: d.size, from: d.from });
      }
    } catch (err) {
      this.#fail(d, `could not write it: ${(err as Error).message}`, true);
    }
  }

  /** Resolves once the temporary files of failed downloads are gone (a client that exits leaves none behind). */
  async cleanedUp(): Promise<void> {
    while (this.#cleanups.size > 0) await Promise.all(this.#cleanups);
  }

  /** The connection is gone (failover, close): every transfer in flight stops, and says so. */
  interrupt(reason: string): void {
    for (const up of this.#uploads.values()) {
      up.failure = new ProtocolError('file_failed', `${up.name}: ${reason}; send it again`);
      up.wake?.();
    }
    for (const d of this.#downloads.values()) this.#fail(d, reason, false);
  }

  // ---- sending ----

  async #upload(up: Upload): Promise<void> {
    // Non-blocking, so a FIFO or a device is refused below instead of holding a thread of the pool forever.
    const fh = await open(up.path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK).catch((err: NodeJS.ErrnoException) => {
      throw new ProtocolError('file_unreadable', err.code === 'ENOENT' ? `no such file: ${up.path}` : `cannot read ${up.path}: ${err.message}`);
    });
    try {
      const stat = await fh.stat();
      if (!stat.isFile()) throw new ProtocolError('file_unreadable', `${up.path} is not a regular file`);
      up.size = stat.size;
      const max = this.#link.maxFileBytes();
      if (max !== undefined && up.size > max) {
        throw new ProtocolError('file_too_large', `${up.name} is ${formatBytes(up.size)}; this network accepts files up to ${formatBytes(max)}`);
      }
      if (!this.#link.send({ type: 'file:offer', id: up.id, name: up.name, size: up.size, to: up.to })) {
        throw new ProtocolError('file_failed', 'not connected to the coordinator');
      }
      await this.#until(up, () => up.stream !== undefined);
      const hash = createHash('sha256');
      const read = (offset: number): Promise<Buffer> => {
        const frame = Buffer.allocUnsafe(FILE_HEADER_BYTES + Math.min(up.chunk, up.size - offset));
        frame.writeUInt32BE(up.stream!, 0);
        return fh.read(frame, FILE_HEADER_BYTES, frame.length - FILE_HEADER_BYTES, offset).then(({ bytesRead }) => {
          if (bytesRead === 0) throw new ProtocolError('file_unreadable', `${up.name} shrank while it was being sent`);
          return frame.subarray(0, FILE_HEADER_BYTES + bytesRead);
        });
      };
      // Several reads in flight: each waits for a thread of the pool, which on a busy machine takes a while.
      const ahead: Promise<Buffer>[] = [];
      let offset = 0;
      const fill = (): void => {
        while (ahead.length < READ_AHEAD && offset < up.size) {
          const p = read(offset);
          p.catch(() => undefined); // reported when awaited
          ahead.push(p);
          offset += Math.min(up.chunk, up.size - offset);
        }
      };
      fill();
      while (ahead.length > 0) {
        const frame = await ahead.shift()!;
        fill();
        const bytes = frame.length - FILE_HEADER_BYTES;
        await this.#until(up, () => up.sent + bytes - up.credit <= up.window);
        if (up.result) return; // over early: every recipient left or failed
        await this.#writable(up);
        if (up.result) return;
        hash.update(frame.subarray(FILE_HEADER_BYTES));
        if (!this.#link.sendBinary(frame, () => this.#wakeWriters())) throw new ProtocolError('file_failed', `${up.name}: connection to the coordinator lost; send it again`);
        up.sent += bytes;
        this.#progress(up, { id: up.id, direction: 'out', name: up.name, done: up.sent, size: up.size });
      }
      this.#link.send({ type: 'file:end', stream: up.stream, sha256: hash.digest('hex') });
      await this.#until(up, () => up.result !== undefined);
    } finally {
      await fh.close().catch(() => undefined);
    }
  }

  /** Waits until `ready()` holds or the transfer is over; throws the upload's failure as soon as there is one. */
  async #until(up: Upload, ready: () => boolean): Promise<void> {
    for (;;) {
      if (up.failure) throw up.failure;
      if (ready() || up.result) return;
      await new Promise<void>((resolve) => (up.wake = resolve));
      up.wake = undefined;
    }
  }

  readonly #writers = new Set<() => void>();

  /** Waits until the connection has room (its queue under SOCKET_HIGH_WATER), or the upload is over. */
  async #writable(up: Upload): Promise<void> {
    while (this.#link.buffered() > SOCKET_HIGH_WATER && !up.failure && !up.result) {
      await new Promise<void>((resolve) => {
        this.#writers.add(resolve);
        up.wake = resolve; // a failure or the outcome ends the wait too
      });
      up.wake = undefined;
    }
    if (up.failure) throw up.failure;
  }

  #wakeWriters(): void {
    for (const w of this.#writers) w();
    this.#writers.clear();
  }

  #byStream(stream: number): Upload | undefined {
    for (const up of this.#uploads.values()) if (up.stream === stream) return up;
    return undefined;
  }

  // ---- receiving ----

  #start(msg: Extract<FileFrame, { type: 'file:start' }>): void {
    if (this.#downloads.has(msg.stream)) return;
    if (this.#downloads.size >= MAX_DOWNLOADS) {
      this.#link.send({ type: 'file:fail', stream: msg.stream, reason: `this client takes ${MAX_DOWNLOADS} files at once; send it again shortly` });
      return;
    }
    const dir = this.#downloadDir;
    const name = sanitizeFileName(msg.name);
    if (dir === undefined) {
      this.#link.send({ type: 'file:fail', stream: msg.stream, reason: 'this client does not take files' });
      return;
    }
    const max = this.#link.maxFileBytes();
    if (max !== undefined && msg.size > max) {
      // The coordinator announced this limit itself: a larger file is not what this network agreed to.
      this.#link.send({ type: 'file:fail', stream: msg.stream, reason: `larger than the network's limit of ${formatBytes(max)}` });
      return;
    }
    const tmp = join(dir, `.lanchat-${msg.id}.part`);
    const d: Download = {
      stream: msg.stream,
      id: msg.id,
      from: msg.from,
      name,
      size: msg.size,
      to: msg.to,
      tmp,
      hash: createHash('sha256'),
      received: 0,
      written: 0,
      file: ensureDir(dir)
        .then(() => (this.#swept ??= removeStaleParts(dir, this.#link.log)))
        .then(() => enoughSpace(dir, msg.size))
        .then(() => open(tmp, 'wx')),
      queue: [],
      writer: undefined,
      acked: 0,
      ackedAt: performance.now(),
      ended: false,
      finishing: false,
      failed: false,
      progressAt: 0,
    };
    this.#downloads.set(msg.stream, d);
    d.file.catch((err: Error) => this.#fail(d, `could not save it in ${dir}: ${err.message}`, true));
    this.#link.progress({ id: d.id, direction: 'in', name, done: 0, size: d.size, from: d.from });
  }

  #end(stream: number, sha256: string): void {
    const d = this.#downloads.get(stream);
    if (d === undefined || d.failed || d.ended) return;
    d.ended = true;
    const digest = d.received === d.size ? d.hash.digest('hex') : undefined;
    Promise.all([d.file, d.writer])
      .then(async ([fh]) => {
        if (d.failed) return;
        if (digest === undefined) throw new Error(`only ${d.received} of ${d.size} bytes came`);
        if (digest !== sha256) throw new Error('its SHA-256 does not match the sender’s: the data was damaged');
        d.finishing = true; // from here on only this path keeps or drops the file
        const onDisk = (await fh.stat()).size;
        if (onDisk !== d.size) throw new Error(`the disk holds ${onDisk} of its ${d.size} bytes`);
        await fh.sync();
        await fh.close();
        const path = await saveUnder(d.tmp, this.#downloadDir!, d.name);
        this.#downloads.delete(stream);
        this.#link.send({ type: 'file:done', stream });
        this.#link.received({ id: d.id, from: d.from, name: basename(path), size: d.size, sha256, path, to: d.to });
      })
      .catch((err: Error) => this.#fail(d, `it was not saved: ${err.message}`, true, true));
  }

  /**
   * Drops a download: removes its temporary file and reports it; `tell` also tells the coordinator. A file
   * already verified and being saved is left to that (`force`: the saving itself failed).
   */
  #fail(d: Download, reason: string, tell: boolean, force = false): void {
    if (d.failed || (d.finishing && !force)) return;
    d.failed = true;
    this.#downloads.delete(d.stream);
    if (tell) this.#link.send({ type: 'file:fail', stream: d.stream, reason: reason.slice(0, 300) });
    d.queue.length = 0;
    const cleanup = Promise.all([d.file, d.writer])
      .then(([fh]) => fh.close())
      .catch(() => undefined)
      .then(() => unlink(d.tmp))
      .catch(() => undefined)
      .finally(() => this.#cleanups.delete(cleanup));
    this.#cleanups.add(cleanup);
    this.#link.log.info({ id: d.id, from: d.from, reason }, 'file not received');
    this.#link.receiveFailed({ id: d.id, from: d.from, name: d.name, reason });
  }

  /** Reports progress at most every 250 ms per transfer, the last one included: the outcome follows anyway. */
  #progress(t: { progressAt: number }, p: FileProgress): void {
    const now = performance.now();
    if (now - t.progressAt < PROGRESS_MS) return;
    t.progressAt = now;
    this.#link.progress(p);
  }
}

/** Fails at once, with both figures, when the folder's file system cannot hold `size` more bytes. */
async function enoughSpace(dir: string, size: number): Promise<void> {
  const fs = await statfs(dir).catch(() => undefined); // not every platform can tell: then the writes will
  if (fs === undefined) return;
  const free = fs.bavail * fs.bsize;
  if (free < size) throw new Error(`not enough space (${formatBytes(free)} free, ${formatBytes(size)} needed)`);
}
