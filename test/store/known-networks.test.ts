import t from 'tap';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { readKnown, SuccessionMemory } from '../../src/store/known-networks.js';
import { tmpDir } from '../helpers/tmp.js';

const list = (term: number) => ({ term, coordinator: { id: 'a'.repeat(16), address: `127.0.0.1:${1000 + term}` }, standbys: [{ id: 'b'.repeat(16), address: '127.0.0.1:2000' }] });

t.test('lists that come while one is written: the newest is what stays, written once the writes settle', async (t) => {
  const dir = tmpDir(t);
  const memory = new SuccessionMemory(dir, (err) => t.fail(String(err)));
  // A burst, and lists that come while a write is under way (each turn of the loop lets a write start).
  for (let term = 1; term <= 40; term++) {
    memory.remember('default', list(term), ['b'.repeat(16)]);
    if (term % 7 === 0) await new Promise((r) => setImmediate(r));
  }
  await memory.settled();
  const known = await readKnown(dir, 'default');
  t.equal(known.succession?.term, 40, 'the last list, never an older one that finished later');
  t.same(known.peers, ['b'.repeat(16)]);
  t.same(readdirSync(dir).filter((n) => n.endsWith('.tmp')), [], 'no temporary file left');
});

t.test('each network keeps its own newest list', async (t) => {
  const dir = tmpDir(t);
  const memory = new SuccessionMemory(dir, (err) => t.fail(String(err)));
  memory.remember('lab', list(3));
  memory.remember('default', list(5));
  memory.remember('lab', list(4));
  await memory.settled();
  t.equal((await readKnown(dir, 'lab')).succession?.term, 4);
  t.equal((await readKnown(dir, 'default')).succession?.term, 5);
});

t.test('a write that fails is reported and does not stop the next one', async (t) => {
  const dir = tmpDir(t);
  const errors: unknown[] = [];
  const memory = new SuccessionMemory(dir, (err) => errors.push(err));
  mkdirSync(join(dir, 'known-default.json')); // the rename onto it fails, root or not
  memory.remember('default', list(1));
  await memory.settled();
  t.equal(errors.length, 1, 'told');
  t.same(readdirSync(dir).filter((n) => n.endsWith('.tmp')), [], 'no temporary file left by the failed write');
  rmSync(join(dir, 'known-default.json'), { recursive: true });
  memory.remember('default', list(2));
  await memory.settled();
  t.equal((await readKnown(dir, 'default')).succession?.term, 2, 'the next list written');
});
