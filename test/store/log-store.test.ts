import t from 'tap';
import { appendFileSync, readFileSync, readdirSync, writeFileSync, statSync, copyFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { pino, type Logger } from 'pino';
import { CorruptDataError, decodeLines, encodeRecord } from '../../src/store/log-store.js';
import { openReplicatedLog } from '../helpers/replicated-log.js';
import type { Entry, NewEntry } from '../../src/protocol/entries.js';
import { tmpDir } from '../helpers/tmp.js';

const silent = pino({ level: 'silent' });
const message = (i: number): NewEntry => ({ kind: 'message', id: `m${i}`, cid: `c${i}`, from: 'alice', to: [], text: `text ${i}`, ts: i, pending: [] });
const segment = (dir: string) => join(dir, readdirSync(dir).filter((f) => f.startsWith('log-')).sort().at(-1)!);

/** Opens a store whose "state" is the list of entries it was given; retains everything unless told otherwise. */
async function openStore(dir: string, opts: { log?: Logger; keep?: number; segmentEntries?: number } = {}) {
  return openReplicatedLog(dir, opts);
}

/** A logger that records what it writes. */
function recorder() {
  const lines: string[] = [];
  return { log: pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) }), lines };
}

t.test('appends survive a reopen, in order, with stamped origin and sequence', async (t) => {
  const dir = tmpDir(t);
  const a = await openStore(dir);
  const stamped = await a.store.append([message(1), message(2)]);
  t.same(stamped.map((e) => [e.origin, e.seq]), [['n1', 1], ['n1', 2]]);
  await a.store.append([message(3)]);
  t.same(a.ids(), ['m1', 'm2', 'm3'], 'onDurable saw each entry once it was durable');
  await a.store.close();
  await a.store.close(); // idempotent
  const b = await openStore(dir);
  t.teardown(() => b.store.close());
  t.same(b.ids(), ['m1', 'm2', 'm3']);
  t.equal(b.store.versionVector.get('n1'), 3);
  t.equal(b.store.stamp([message(4)])[0]!.seq, 4, 'sequence continues after a restart');
  b.store.setOrigin('n1.2');
  t.same(b.store.stamp([message(5)]).map((e) => [e.origin, e.seq]), [['n1.2', 1]], 'a new origin counts from 1');
});

t.test('concurrent appends are committed together (group commit); each resolves after onDurable saw it', async (t) => {
  const dir = tmpDir(t);
  const s = await openStore(dir);
  t.teardown(() => s.store.close());
  const seenAtResolve = await Promise.all(
    Array.from({ length: 500 }, (_, i) => s.store.append([message(i)]).then(([e]) => s.entries.includes(e!))),
  );
  t.ok(seenAtResolve.every(Boolean));
  t.equal(s.entries.length, 500);
  t.equal(readFileSync(segment(dir), 'utf8').trim().split('\n').length, 500);
});

t.test('an entry the version vector covers is not written twice', async (t) => {
  const s = await openStore(tmpDir(t));
  t.teardown(() => s.store.close());
  const [e] = await s.store.append([message(1)]);
  await s.store.commit([e!]);
  t.equal(s.entries.length, 1);
});

t.test('a torn last record is dropped with a warning and the file repaired', async (t) => {
  const dir = tmpDir(t);
  const a = await openStore(dir);
  await a.store.append([message(1), message(2)]);
  await a.store.close();
  const file = segment(dir);
  const full = statSync(file).size;
  appendFileSync(file, encodeRecord({ ...message(3), origin: 'n1', seq: 3 }).slice(0, 30)); // crash mid-write
  const { log, lines } = recorder();
  const b = await openStore(dir, { log });
  t.same(b.ids(), ['m1', 'm2']);
  t.match(lines.join(''), /torn last record/);
  t.equal(statSync(file).size, full, 'tail truncated');
  await b.store.append([message(4)]);
  await b.store.close();
  const c = await openStore(dir);
  t.teardown(() => c.store.close());
  t.same(c.ids(), ['m1', 'm2', 'm4'], 'appends after the repair are readable');
});

t.test('a zero-filled tail (pages lost in a power cut) counts as torn too', async (t) => {
  const dir = tmpDir(t);
  const a = await openStore(dir);
  await a.store.append([message(1)]);
  await a.store.close();
  appendFileSync(segment(dir), Buffer.concat([Buffer.alloc(4096), Buffer.from('\n')]));
  const b = await openStore(dir);
  t.teardown(() => b.store.close());
  t.same(b.ids(), ['m1']);
});

t.test('damage is refused, even in the last record', async (t) => {
  const dir = tmpDir(t);
  const a = await openStore(dir);
  await a.store.append([message(1), message(2), message(3)]);
  await a.store.close();
  const file = segment(dir);
  const text = readFileSync(file, 'utf8');
  writeFileSync(file, text.replace('text 2', 'text X')); // a flipped byte in the middle
  await t.rejects(openStore(dir), CorruptDataError);
  await t.rejects(openStore(dir), { message: /checksum mismatch.*refusing to start/ });
  writeFileSync(file, text.replace('text 3', 'text X')); // in the last, complete record
  await t.rejects(openStore(dir), { message: /bad record at byte \d+: checksum mismatch/ });
});

t.test('compaction keeps the retained state; the version vector still covers what was dropped', async (t) => {
  const dir = tmpDir(t);
  const a = await openStore(dir, { segmentEntries: 10, keep: 4 });
  for (let i = 0; i < 35; i++) await a.store.append([message(i)]);
  await a.store.close();
  t.equal(readdirSync(dir).filter((f) => f.startsWith('log-')).length, 1, 'old segments removed');
  t.ok(readdirSync(dir).includes('snapshot.jsonl'));
  const b = await openStore(dir);
  t.teardown(() => b.store.close());
  // Where the last snapshot was cut depends on how fast the background writes went (a segment that fills while a
  // snapshot is still being written waits for it), so read the cut from the snapshot itself.
  const header = JSON.parse(readFileSync(join(dir, 'snapshot.jsonl'), 'utf8').split('\n')[0]!.slice(9)) as { count: number; vv: [string, number][] };
  const cut = new Map(header.vv).get('n1')!;
  t.equal(header.count, 4, 'the snapshot holds the retained 4');
  t.ok(cut >= 10 && cut <= 35, `the snapshot covers entries 1..${cut}`);
  const expected = Array.from({ length: 35 - (cut - 4) }, (_, i) => `m${cut - 4 + i}`);
  t.same(b.ids(), expected, 'the last 4 at the snapshot, then the live segment');
  t.equal(b.store.versionVector.get('n1'), 35);
  await b.store.commit([{ ...message(0), origin: 'n1', seq: 1 } as Entry]);
  t.equal(b.entries.length, expected.length, 'a compacted-away entry offered again is not re-added');
});

t.test('appends go on while snapshots are written in the background: nothing lost, nothing twice', async (t) => {
  const dir = tmpDir(t);
  const a = await openStore(dir, { segmentEntries: 10 });
  // Waves of concurrent appends, so new segments start while earlier snapshots are still being written.
  for (let wave = 0; wave < 20; wave++) await Promise.all(Array.from({ length: 7 }, (_, i) => a.store.append([message(wave * 7 + i)])));
  await a.store.close();
  const b = await openStore(dir);
  t.teardown(() => b.store.close());
  t.same(b.ids(), Array.from({ length: 140 }, (_, i) => `m${i}`), 'every entry once, in order');
  t.equal(b.store.versionVector.get('n1'), 140);
  t.notOk(readdirSync(dir).includes('snapshot.jsonl.tmp'), 'no snapshot left half-written after close');
});

t.test('a snapshot must be whole and must match the segments', async (t) => {
  const dir = tmpDir(t);
  const a = await openStore(dir, { segmentEntries: 2 });
  await a.store.append([message(1), message(2)]);
  await a.store.append([message(3)]);
  await a.store.close();
  const snap = join(dir, 'snapshot.jsonl');
  const good = readFileSync(snap, 'utf8');
  writeFileSync(`${snap}.tmp`, '{"half'); // crash while writing the next snapshot
  const b = await openStore(dir);
  t.same(b.ids(), ['m1', 'm2', 'm3'], 'an unfinished snapshot is ignored');
  await b.store.close();
  t.notOk(readdirSync(dir).includes('snapshot.jsonl.tmp'));

  writeFileSync(snap, good.replace('text 1', 'text X'));
  await t.rejects(openStore(dir), { message: /snapshot.jsonl is corrupt: bad record at byte \d+: checksum mismatch/ });
  writeFileSync(snap, good.split('\n').slice(0, 2).join('\n') + '\n');
  await t.rejects(openStore(dir), { message: /expected 2 entries, found 1/ });
  writeFileSync(snap, '');
  await t.rejects(openStore(dir), { message: /missing or invalid header/ });
  rmSync(snap);
  await t.rejects(openStore(dir), { message: /log-000001.jsonl is corrupt: missing, and there is no snapshot.jsonl/ }, 'a deleted snapshot is noticed');
  writeFileSync(snap, good);
  copyFileSync(segment(dir), join(dir, 'log-000005.jsonl'));
  await t.rejects(openStore(dir), { message: /log-000003.jsonl is corrupt: missing \(a gap in the log\)/ });
});

t.test('crash after the snapshot rename but before old segments are deleted: no duplicates', async (t) => {
  const dir = tmpDir(t);
  const a = await openStore(dir, { segmentEntries: 1_000 });
  await a.store.append([message(1), message(2)]);
  await a.store.close();
  const seg1 = segment(dir);
  const saved = readFileSync(seg1);
  const b = await openStore(dir, { segmentEntries: 3 });
  await b.store.append([message(3)]); // compaction: snapshot covers m1..m3, segment 1 deleted
  await b.store.close();
  writeFileSync(seg1, saved); // as if the deletion never happened
  const c = await openStore(dir);
  t.teardown(() => c.store.close());
  t.same(c.ids(), ['m1', 'm2', 'm3']);
  t.notOk(readdirSync(dir).includes('log-000001.jsonl'), 'the leftover is removed');
});

t.test('a failed compaction is logged, and the log goes on', async (t) => {
  const dir = tmpDir(t);
  const { log, lines } = recorder();
  const { store: s } = await openReplicatedLog(dir, {
    log,
    segmentEntries: 2,
    retained: () => {
      throw new Error('boom');
    },
  });
  t.teardown(() => s.close());
  for (let i = 0; i < 5; i++) await s.append([message(i)]);
  t.match(lines.join(''), /log compaction failed/);
  t.equal(s.versionVector.get('n1'), 5);
});

t.test('decodeLines: pure decoding of good, torn and damaged data', async (t) => {
  const good = encodeRecord({ a: 1 });
  t.same(decodeLines(Buffer.from(good + good)).values, [{ a: 1 }, { a: 1 }]);
  t.same(decodeLines(Buffer.from(good + good.slice(0, 5))).bad?.torn, true, 'no newline: torn');
  t.same(decodeLines(Buffer.from(good + 'garbage\n')).bad?.torn, false, 'a complete bad line: damage');
  t.same(decodeLines(Buffer.from(good + '\0\0\0\n')).bad?.torn, true, 'zeros: lost pages');
  t.same(decodeLines(Buffer.from('\0\0\n' + good)).bad?.torn, false, 'valid data after: damage');
  t.same(decodeLines(Buffer.from('00000000 {}\n')).bad?.reason, 'checksum mismatch');
  t.same(decodeLines(Buffer.from('nospace\n')).bad?.reason, 'malformed record header');
  const json = '{not json';
  t.same(decodeLines(Buffer.from(`${crc32(json).toString(16).padStart(8, '0')} ${json}\n`)).bad?.reason, 'invalid JSON');
});

t.test('a valid record that is not a valid entry is damage', async (t) => {
  const dir = tmpDir(t);
  const a = await openStore(dir);
  await a.store.append([message(1)]);
  await a.store.close();
  appendFileSync(segment(dir), encodeRecord({ kind: 'nope', origin: 'n1', seq: 2 }));
  await t.rejects(openStore(dir), { message: /invalid entry 2/ });
});

t.test('a closed store refuses appends', async (t) => {
  const s = await openStore(tmpDir(t));
  await s.store.close();
  await t.rejects(s.store.append([message(1)]), /closed/);
});
