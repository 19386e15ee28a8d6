import { Worker } from 'node:worker_threads';
import { reassertHeapFlags } from '../node/heap-tuning.js';
import type { BcryptJob, BcryptResult } from './bcrypt-worker.js';

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/**
 * bcryptjs in worker threads. bcryptjs's async API still runs up to 100 ms of
 * hashing at a time on the calling thread, which stalls every socket of the
 * relay during a login (measured: a 55 ms hash delayed a peer's close by
 * 58 ms). Workers keep the relay's event loop free.
 *
 * A worker is a V8 isolate of its own (~13 MiB of RSS each): one idle for
 * `idleMs` exits, and the next job starts one again (~30 ms, against the
 * ~250 ms of a hash at cost 12). A UI with its own node logs in once and
 * would otherwise carry its workers for good.
 */
export class BcryptPool {
  readonly #size: number;
  readonly #idle: Worker[] = [];
  readonly #all = new Set<Worker>();
  readonly #waiting: { job: DistributiveOmit<BcryptJob, 'id'>; resolve: (v: string | boolean) => void; reject: (e: Error) => void }[] = [];
  /** Started, not online yet: they take no job until they are. */
  readonly #starting = new Set<Worker>();
  readonly #busy = new Map<Worker, { id: number; resolve: (v: string | boolean) => void; reject: (e: Error) => void }>();
  #nextId = 1;
  #closed = false;

  readonly #idleMs: number;
  readonly #idleTimers = new Map<Worker, NodeJS.Timeout>();

  constructor(size = 2, idleMs = 10_000) {
    this.#size = size;
    this.#idleMs = idleMs;
  }

  /** Workers alive now (busy or idle). */
  get workers(): number {
    return this.#all.size;
  }

  hash(password: string, cost: number): Promise<string> {
    return this.#run({ op: 'hash', password, cost }) as Promise<string>;
  }

  compare(password: string, hash: string): Promise<boolean> {
    return this.#run({ op: 'compare', password, hash }) as Promise<boolean>;
  }

  /** Terminates the workers. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const w of this.#waiting.splice(0)) w.reject(new Error('bcrypt pool closed'));
    for (const job of this.#busy.values()) job.reject(new Error('bcrypt pool closed'));
    this.#busy.clear();
    for (const t of this.#idleTimers.values()) clearTimeout(t);
    this.#idleTimers.clear();
    await Promise.all([...this.#all].map((w) => w.terminate()));
    this.#all.clear();
  }

  #run(job: DistributiveOmit<BcryptJob, 'id'>): Promise<string | boolean> {
    if (this.#closed) return Promise.reject(new Error('bcrypt pool closed'));
    return new Promise((resolve, reject) => {
      this.#waiting.push({ job, resolve, reject });
      this.#next();
    });
  }

  /**
   * Gives waiting jobs to idle workers, and starts workers for the jobs left (up to the size). A job waits for
   * whichever worker is free first, never for the start of a particular one (30–120 ms): a login that comes
   * while a thread starts goes to the one that finishes a registration first.
   */
  #next(): void {
    while (this.#waiting.length > 0) {
      const worker = this.#idle.pop();
      if (worker === undefined) {
        while (this.#all.size < this.#size && this.#starting.size < this.#waiting.length) this.#spawn();
        return;
      }
      clearTimeout(this.#idleTimers.get(worker));
      this.#idleTimers.delete(worker);
      const { job, resolve, reject } = this.#waiting.shift()!;
      const id = this.#nextId++;
      this.#busy.set(worker, { id, resolve, reject });
      worker.postMessage({ ...job, id });
    }
  }

  #spawn(): void {
    // No inherited loaders or flags: the worker only runs bcryptjs (and starts in ~30 ms instead of ~500 under test hooks).
    const worker = new Worker(new URL('./bcrypt-worker.js', import.meta.url), { execArgv: [] });
    worker.unref(); // never what keeps a process alive
    this.#all.add(worker);
    this.#starting.add(worker);
    worker.once('online', () => {
      reassertHeapFlags();
      this.#starting.delete(worker);
      if (this.#closed || !this.#all.has(worker)) return;
      this.#idle.push(worker);
      this.#retireWhenIdle(worker);
      this.#next();
    });
    worker.on('message', (r: BcryptResult) => {
      const job = this.#busy.get(worker);
      this.#busy.delete(worker);
      this.#idle.push(worker);
      this.#retireWhenIdle(worker);
      if (job && job.id === r.id) {
        if (r.ok) job.resolve(r.value);
        else job.reject(new Error(r.error));
      }
      this.#next();
    });
    worker.on('error', (err) => {
      // A dead worker fails its job; the pool replaces it on demand. One that died starting (its script runs
      // after 'online', so: its thread could not be made) fails the job that waited longest if no other worker
      // could take it, so that a thread that cannot start is not started again and again for the same jobs.
      if (this.#starting.has(worker) && this.#all.size === 1) this.#waiting.shift()?.reject(err);
      this.#busy.get(worker)?.reject(err);
      this.#busy.delete(worker);
      this.#forget(worker);
      this.#next();
    });
  }

  /** Ends `worker` once it has been idle for `idleMs` (a job taking it first cancels this). */
  #retireWhenIdle(worker: Worker): void {
    if (this.#closed) return;
    const timer = setTimeout(() => {
      if (!this.#idle.includes(worker)) return;
      this.#forget(worker);
      void worker.terminate();
    }, this.#idleMs);
    timer.unref();
    this.#idleTimers.set(worker, timer);
  }

  #forget(worker: Worker): void {
    clearTimeout(this.#idleTimers.get(worker));
    this.#idleTimers.delete(worker);
    this.#all.delete(worker);
    this.#starting.delete(worker);
    const i = this.#idle.indexOf(worker);
    if (i >= 0) this.#idle.splice(i, 1);
  }
}
