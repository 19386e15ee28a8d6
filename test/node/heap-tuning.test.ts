import t from 'tap';
import { execFileSync } from 'node:child_process';

// In a process of its own: the young generation never shrinks back, and tap's own loaders grow it first.
const script = (tune: boolean) => `
import { getHeapSpaceStatistics } from 'node:v8';
import { tuneHeap } from ${JSON.stringify(new URL('../../src/node/heap-tuning.js', import.meta.url).href)};
import { BcryptPool } from ${JSON.stringify(new URL('../../src/store/bcrypt-pool.js', import.meta.url).href)};
const newSpace = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size / 2 ** 20;
${tune ? "tuneHeap('--semi-space-growth-factor=1');" : ''}
const before = newSpace();
const pool = new BcryptPool(1);
await pool.hash('x', 4); // a worker started and answered
const keep = [];
for (let i = 0; i < 2_000_000; i++) { const o = { i, s: 'x' + i }; if (i % 3 === 0) keep.push(o); if (keep.length > 100_000) keep.length = 0; }
await pool.close();
process.stdout.write(JSON.stringify({ before, after: newSpace() }));
`;
// `env -u`: tap gives every child process its loader in NODE_OPTIONS, and Node 20 runs loaders in a worker.
const run = (tune: boolean) => JSON.parse(execFileSync('env', ['-u', 'NODE_OPTIONS', process.execPath, '--input-type=module', '-e', script(tune)], { encoding: 'utf8' })) as { before: number; after: number };

t.test('heap flags set at run time still hold after a worker thread starts (its start resets every V8 flag)', async (t) => {
  const untuned = run(false);
  t.ok(untuned.after > 8, `without the flag the churn grows the young generation (${untuned.before} → ${untuned.after} MiB): the test can tell`);
  const tuned = run(true);
  t.ok(tuned.after <= 4, `with it, the young generation keeps its size across a worker's start (${tuned.before} → ${tuned.after} MiB)`);
});
