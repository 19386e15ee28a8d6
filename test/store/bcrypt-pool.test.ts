import t from 'tap';
import { BcryptPool } from '../../src/store/bcrypt-pool.js';

t.test('hashes and compares off the main thread', async (t) => {
  const pool = new BcryptPool(2);
  t.teardown(() => pool.close());
  const hash = await pool.hash('correct horse', 4);
  t.equal(await pool.compare('correct horse', hash), true);
  t.equal(await pool.compare('wrong horse', hash), false);
  t.ok(pool.workers >= 1 && pool.workers <= 2, `at most its size in workers (${pool.workers})`);
});

t.test('an idle worker exits, and the next job starts one again', async (t) => {
  const pool = new BcryptPool(2, 500);
  t.teardown(() => pool.close());
  await Promise.all([pool.hash('a', 4), pool.hash('b', 4)]);
  t.equal(pool.workers, 2, 'two jobs at once: two workers');
  while (pool.workers > 0) await new Promise((r) => setTimeout(r, 10)); // waits for the event; tap's timeout bounds it
  t.pass('both exited once idle');
  t.equal(await pool.compare('a', await pool.hash('a', 4)), true, 'a new job gets a new worker');
  t.equal(pool.workers, 1);
});

t.test('a burst starts no more workers than the size, and every job is answered', async (t) => {
  const pool = new BcryptPool(3);
  t.teardown(() => pool.close());
  const jobs = Array.from({ length: 9 }, (_, i) => pool.hash(`p${i}`, 4));
  t.equal(pool.workers, 3, 'nine jobs at once start three workers, not nine');
  const hashes = await Promise.all(jobs);
  t.equal(new Set(hashes).size, 9, 'every job answered');
  t.equal(pool.workers, 3, 'and no more were started meanwhile');
  const one = new BcryptPool(2);
  t.teardown(() => one.close());
  await one.hash('warm', 4);
  t.equal(one.workers, 1, 'one job, one worker');
  t.equal(await one.compare('warm', await one.hash('warm', 4)), true, 'the next jobs go to the worker already free');
  t.equal(one.workers, 1, 'one at a time starts no second worker');
});

t.test('a busy worker is not retired under its job', async (t) => {
  const pool = new BcryptPool(1, 1);
  t.teardown(() => pool.close());
  const results = await Promise.all(Array.from({ length: 6 }, (_, i) => pool.hash(`p${i}`, 6)));
  t.equal(results.length, 6, 'every job of a queue answered though each gap is longer than the idle time');
});

t.test('a closed pool ends its running and queued jobs and refuses more', async (t) => {
  const pool = new BcryptPool(1);
  const running = t.rejects(pool.hash('x', 8), /closed/);
  const queued = t.rejects(pool.hash('y', 4), /closed/);
  await pool.close();
  await Promise.all([running, queued]);
  await t.rejects(pool.hash('z', 4), /closed/);
});
