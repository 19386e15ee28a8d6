import { Worker } from 'node:worker_threads';
import type { BcryptJob, BcryptResult } from './bcrypt-worker.js';

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/**
 * bcryptjs in worker threads. bcryptjs's async API still runs up to 100 ms of
 * hashing at a time on the calling thread, which stalls every socket of the
 * relay during a login (measured: a 55 ms hash delayed a peer's close by
 * 58 ms). Workers keep the relay's event loop free.
 */
export class BcryptPool {
  readonly #size: number;
  readonly #idle: Worker[] = [];
  readonly #all = new Set<Worker>();
  readonly #waiting: { job: DistributiveOmit<BcryptJob, 'id'>; resolve: (v: string | boolean) => void; reject: (e: Error) => void }[] = [];
  readonly #busy = new Map<Worker, { id: number; resolve: (v: string | boolean) => void; reject: (e: Error) => void }>();
  #nextId = 1;
  #closed = false;

  constructor(size = 2) {
    this.#size = size;
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

  #next(): void {
    while (this.#waiting.length > 0) {
      const worker = this.#idle.pop() ?? (this.#all.size < this.#size ? this.#spawn() : undefined);
      if (worker === undefined) return;
      const { job, resolve, reject } = this.#waiting.shift()!;
      const id = this.#nextId++;
      this.#busy.set(worker, { id, resolve, reject });
      worker.postMessage({ ...job, id });
    }
  }

  #spawn(): Worker {
    // No inherited loaders or flags: the worker only runs bcryptjs (and starts in ~30 ms instead of ~500 under test hooks).
    const worker = new Worker(new URL('./bcrypt-worker.js', import.meta.url), { execArgv: [] });
    worker.unref(); // never what keeps a process alive
    this.#all.add(worker);
    worker.on('message', (r: BcryptResult) => {
      const job = this.#busy.get(worker);
      this.#busy.delete(worker);
      this.#idle.push(worker);
      if (job && job.id === r.id) {
        if (r.ok) job.resolve(r.value);
        else job.reject(new Error(r.error));
      }
      this.#next();
    });
    worker.on('error', (err) => {
      // A dead worker fails its job; the pool replaces it on demand.
      this.#busy.get(worker)?.reject(err);
      this.#busy.delete(worker);
      this.#all.delete(worker);
      this.#next();
    });
    return worker;
  }
}
