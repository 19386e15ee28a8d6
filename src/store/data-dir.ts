import { readFileSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { syncDir } from './log-store.js';

/** Another live process holds the data directory. */
export class DataDirLockedError extends Error {
  override readonly name = 'DataDirLockedError';
  readonly code = 'ELOCKED';
  constructor(dir: string, pid: number) {
    super(`data directory ${dir} is in use by another lanchat process (pid ${pid}); use --data-dir to pick another`);
  }
}

/** The data directory holds something unexpected. */
export class DataDirError extends Error {
  override readonly name = 'DataDirError';
}

let writes = 0;

/** Writes a small file atomically: temp file, fsync, rename, fsync the directory. */
export async function writeFileAtomic(dir: string, name: string, data: string): Promise<void> {
  // One temp file per write (pid, then a counter): two writes of one file at once never share one.
  const tmp = join(dir, `.${name}.${process.pid}.${++writes}.tmp`);
  const fh = await open(tmp, 'w', 0o600);
  try {
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, join(dir, name));
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined); // a full disk, or a rename refused: no temp file left
    throw err;
  }
  await syncDir(dir);
}

/** Removes temporary files of `writeFileAtomic` left by processes that died mid-write (their pid is in the name). */
async function removeOrphanTemps(dir: string): Promise<void> {
  for (const name of await readdir(dir).catch(() => [])) {
    const m = /^\..+\.(\d+)\.\d+\.tmp$/.exec(name) ?? /^\..+\.(\d+)\.tmp$/.exec(name); // pid.count, or an older pid only
    const pid = m?.[1];
    // Our own pid counts as dead: the directory is locked, so that file is from an earlier life (PID 1 in a container).
    if (pid === undefined || (Number(pid) !== process.pid && alive(Number(pid)))) continue;
    await rm(join(dir, name), { force: true }).catch(() => undefined);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // someone else's live process
  }
}

/**
 * A node's data directory: created with owner-only permissions, locked
 * against a second process, and holding the node's persistent id.
 */
export class DataDir {
  private constructor(
    readonly path: string,
    readonly nodeId: string,
  ) {}

  /** Opens `path`, taking its lock and reading (or creating) the node id. */
  static async open(path: string): Promise<DataDir> {
    await mkdir(path, { recursive: true, mode: 0o700 });
    await lock(path);
    await removeOrphanTemps(path);
    const idFile = join(path, 'node-id');
    const text = await readFile(idFile, 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    let id = text?.trim();
    if (id === undefined) {
      id = randomBytes(8).toString('hex');
      await writeFileAtomic(path, 'node-id', `${id}\n`);
    } else if (!/^[0-9a-f]{16}$/.test(id)) {
      // A node's identity is what replicas know it by: never replace it silently.
      throw new DataDirError(`${idFile} does not hold a node id (16 hex digits); restore it, or delete it to make this a new node`);
    }
    return new DataDir(path, id);
  }

  /** The log's directory. */
  get logDir(): string {
    return join(this.path, 'log');
  }

  /** Releases the lock. Idempotent. */
  async close(): Promise<void> {
    await rm(join(this.path, 'lock'), { force: true });
  }
}

async function lock(dir: string): Promise<void> {
  const file = join(dir, 'lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(file, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number((await readFile(file, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) throw new DataDirLockedError(dir, pid);
      await rm(file, { force: true }); // stale: its process is gone (e.g. after kill -9)
    }
  }
  throw new Error(`cannot lock data directory ${dir}`);
}

/** Whether `pid` is a live lanchat process: not gone, not a zombie awaiting its parent, not a reused pid. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (/^\d+ \(.*\) Z/s.test(stat)) return false; // killed, not yet reaped
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('node'); // a pid reused by something else is not a holder
  } catch {
    return true; // no /proc (not Linux): trust kill(0)
  }
}
