import t from 'tap';
import { appendFileSync, readFileSync, readdirSync, writeFileSync, statSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { LogStore, CorruptDataError, decodeRecords, encodeRecord } from '../../src/coordinator/log-store.js';
import type { NewEntry } from '../../src/coordinator/entries.js';
import { tmpDir } from '../helpers/tmp.js';

const silent = pino({ level: 'silent' });
const message = (i: number): NewEntry => ({ kind: 'message', id: `m${i}`, cid: `c${i}`, from: 'alice', to: [], text: `text ${i}`, ts: i, pending: [] });
const ids = (s: LogStore) => s.entries.map((e) => (e.kind === 'message' ? e.id : e.kind));
const segment = (dir: string) => join(dir, readdirSync(dir).filter((f) => f.startsWith('log-')).sort().at(-1)!);

/** A logger that records warnings. */
function recorder() {
  const warnings: string[] = [];
  const log = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(line) });
  return { log, warnings };
}

t.test('appends survive a reopen, in order, with stamped origin and sequence', async (t) => {
  const dir = tmpDir(t);
  const a = await LogStore.open(dir, silent, { origin: 'n1' });
  const stamped = await a.append([message(1), message(2)]);
  t.same(stamped.map((e) => [e.origin, e.seq]), [['n1', 1], ['n1', 2]]);
  await a.append([message(3)]);
  await a.close();
  await a.close(); // idempotent
  const b = await LogStore.open(dir, silent, { origin: 'n1' });
  t.teardown(() => b.close());
  t.same(ids(b), ['m1', 'm2', 'm3']);
  t.equal(b.versionVector.get('n1'), 3);
  const [next] = b.stamp([message(4)]);
  t.equal(next!.seq, 4, 'sequence continues after a restart');
});

t.test('concurrent appends are committed together (group commit) and all resolve', async (t) => {
  const dir = tmpDir(t);
  const s = await LogStore.open(dir, silent, { origin: 'n1' });
  t.teardown(() => s.close());
  await Promise.all(Array.from({ length: 500 }, (_, i) => s.append([message(i)])));
  t.equal(s.entries.length, 500);
  const lines = readFileSync(segment(join(dir)), 'utf8').trim().split('\n');
  t.equal(lines.length, 500);
});

t.test('an entry already in the log is not written twice', async (t) => {
  const dir = tmpDir(t);
  const s = await LogStore.open(dir, silent, { origin: 'n1' });
  t.teardown(() => s.close());
  const [e] = await s.append([message(1)]);
  await s.commit([e!]);
  t.equal(s.entries.length, 1);
});

t.test('a torn last record is dropped with a warning and the file repaired', async (t) => {
  const dir = tmpDir(t);
  const a = await LogStore.open(dir, silent, { origin: 'n1' });
  await a.append([message(1), message(2)]);
  await a.close();
  const file = segment(dir);
  const full = statSync(file).size;
  appendFileSync(file, encodeRecord({ ...message(3), origin: 'n1', seq: 3 } as never).slice(0, 30)); // crash mid-write
  const { log, warnings } = recorder();
  const b = await LogStore.open(dir, log, { origin: 'n1' });
  t.same(ids(b), ['m1', 'm2']);
  t.match(warnings.join(''), /torn last record/);
  t.equal(statSync(file).size, full, 'tail truncated');
  await b.append([message(4)]);
  await b.close();
  const c = await LogStore.open(dir, silent, { origin: 'n1' });
  t.teardown(() => c.close());
  t.same(ids(c), ['m1', 'm2', 'm4'], 'appends after the repair are readable');
});

t.test('a zero-filled tail (lost page) counts as torn too', async (t) => {
  const dir = tmpDir(t);
  const a = await LogStore.open(dir, silent, { origin: 'n1' });
  await a.append([message(1)]);
  await a.close();
  appendFileSync(segment(dir), Buffer.alloc(4096));
  const b = await LogStore.open(dir, silent, { origin: 'n1' });
  t.teardown(() => b.close());
  t.same(ids(b), ['m1']);
});

t.test('a bad record followed by good ones is corruption: refuse to start', async (t) => {
  const dir = tmpDir(t);
  const a = await LogStore.open(dir, silent, { origin: 'n1' });
  await a.append([message(1), message(2), message(3)]);
  await a.close();
  const file = segment(dir);
  const text = readFileSync(file, 'utf8');
  writeFileSync(file, text.replace('text 2', 'text X')); // a flipped byte in the middle
  await t.rejects(LogStore.open(dir, silent, { origin: 'n1' }), CorruptDataError);
  await t.rejects(LogStore.open(dir, silent, { origin: 'n1' }), { message: /checksum mismatch.*refusing to start/ });
});

t.test('a corrupt snapshot refuses to start; an unfinished one is ignored', async (t) => {
  const dir = tmpDir(t);
  const a = await LogStore.open(dir, silent, { origin: 'n1', segmentEntries: 2 });
  await a.append([message(1), message(2)]);
  await a.append([message(3)]);
  await a.close();
  t.ok(readdirSync(dir).includes('snapshot.json'), 'compaction wrote a snapshot');
  writeFileSync(join(dir, 'snapshot.json.tmp'), '{"half'); // crash while writing the next snapshot
  const b = await LogStore.open(dir, silent, { origin: 'n1' });
  t.same(ids(b), ['m1', 'm2', 'm3']);
  await b.close();
  t.notOk(readdirSync(dir).includes('snapshot.json.tmp'));
  writeFileSync(join(dir, 'snapshot.json'), '{"format":1,"nextSegment":2,"entries":[{"kind":"bogus"}]}');
  await t.rejects(LogStore.open(dir, silent, { origin: 'n1' }), CorruptDataError);
  writeFileSync(join(dir, 'snapshot.json'), 'not json');
  await t.rejects(LogStore.open(dir, silent, { origin: 'n1' }), { message: /snapshot.json is corrupt: not valid JSON/ });
});

t.test('compaction: snapshot + segments replay everything, across several rotations', async (t) => {
  const dir = tmpDir(t);
  const a = await LogStore.open(dir, silent, { origin: 'n1', segmentEntries: 10 });
  for (let i = 0; i < 35; i++) await a.append([message(i)]);
  await a.close();
  const segments = readdirSync(dir).filter((f) => f.startsWith('log-'));
  t.equal(segments.length, 1, 'old segments removed');
  const b = await LogStore.open(dir, silent, { origin: 'n1', segmentEntries: 10 });
  t.teardown(() => b.close());
  t.same(ids(b), Array.from({ length: 35 }, (_, i) => `m${i}`));
});

t.test('crash after the snapshot rename but before old segments are deleted: no duplicates', async (t) => {
  const dir = tmpDir(t);
  const a = await LogStore.open(dir, silent, { origin: 'n1', segmentEntries: 1_000 });
  await a.append([message(1), message(2)]);
  await a.close();
  const seg1 = segment(dir);
  const saved = readFileSync(seg1);
  const b = await LogStore.open(dir, silent, { origin: 'n1', segmentEntries: 3 });
  await b.append([message(3)]); // triggers compaction: snapshot covers m1..m3, segment 1 deleted
  await b.close();
  writeFileSync(seg1, saved); // as if the deletion never happened
  const c = await LogStore.open(dir, silent, { origin: 'n1' });
  t.teardown(() => c.close());
  t.same(ids(c), ['m1', 'm2', 'm3']);
});

t.test('a snapshot overlapping the live segment is deduplicated by (origin, seq)', async (t) => {
  const dir = tmpDir(t);
  const a = await LogStore.open(dir, silent, { origin: 'n1', segmentEntries: 2 });
  await a.append([message(1), message(2)]);
  await a.append([message(3)]);
  await a.close();
  const snap = JSON.parse(readFileSync(join(dir, 'snapshot.json'), 'utf8'));
  snap.nextSegment = 1; // replay the live segment's entries over a snapshot that already has some
  copyFileSync(segment(dir), join(dir, 'log-000001.jsonl'));
  writeFileSync(join(dir, 'snapshot.json'), JSON.stringify(snap));
  const b = await LogStore.open(dir, silent, { origin: 'n1' });
  t.teardown(() => b.close());
  t.same(ids(b), ['m1', 'm2', 'm3']);
});

t.test('decodeRecords: pure decoding of good, torn and corrupt data', async (t) => {
  const good = encodeRecord({ ...message(1), origin: 'n', seq: 1 } as never);
  t.same(decodeRecords(Buffer.from(good + good)).entries.length, 2);
  t.same(decodeRecords(Buffer.from(good + 'garbage\n')).bad?.torn, true);
  t.same(decodeRecords(Buffer.from('garbage\n' + good)).bad?.torn, false);
  t.same(decodeRecords(Buffer.from(`00000000 {}\n`)).bad?.reason, 'checksum mismatch');
  t.match(decodeRecords(Buffer.from(encodeRecord({ kind: 'nope' } as never))).bad?.reason, /invalid entry/);
  const json = '{not json';
  const { crc32 } = await import('node:zlib');
  t.same(decodeRecords(Buffer.from(`${crc32(json).toString(16).padStart(8, '0')} ${json}\n`)).bad?.reason, 'invalid JSON');
});

t.test('a closed store refuses appends', async (t) => {
  const dir = tmpDir(t);
  const s = await LogStore.open(dir, silent, { origin: 'n1' });
  await s.close();
  await t.rejects(s.append([message(1)]), /closed/);
});
