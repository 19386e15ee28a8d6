import { parentPort } from 'node:worker_threads';
import bcrypt from 'bcryptjs';

/** One bcrypt job: hashing or comparing, run synchronously here, off the event loop of the relay. */
export type BcryptJob = { id: number; op: 'hash'; password: string; cost: number } | { id: number; op: 'compare'; password: string; hash: string };
export type BcryptResult = { id: number; ok: true; value: string | boolean } | { id: number; ok: false; error: string };

parentPort?.on('message', (job: BcryptJob) => {
  let reply: BcryptResult;
  try {
    const value = job.op === 'hash' ? bcrypt.hashSync(job.password, job.cost) : bcrypt.compareSync(job.password, job.hash);
    reply = { id: job.id, ok: true, value };
  } catch (err) {
    reply = { id: job.id, ok: false, error: (err as Error).message };
  }
  parentPort!.postMessage(reply);
});
