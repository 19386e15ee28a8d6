import t from 'tap';
import { MAX_BATCH_BYTES, Replica, entryBound } from '../../src/core/replica.js';
import { ChatState } from '../../src/core/chat-state.js';
import type { Entry, MessageEntry } from '../../src/protocol/entries.js';

const m = (origin: string, seq: number, text = `${origin}#${seq}`): MessageEntry => ({ kind: 'message', origin, seq, id: `id-${origin}-${seq}`, cid: `c-${origin}-${seq}`, from: 'alice', to: [], text, ts: seq, pending: [] });
const vv = (r: Replica) => Object.fromEntries(r.vector);
const keys = (es: readonly Entry[]) => es.map((e) => `${e.origin}#${e.seq}`);

/** Writes what `r` accepts and makes it durable at once (a disk that never fails). */
function take(r: Replica, entries: Entry[], covers: { origin: string; from: number; to: number }[] = []): Entry[] {
  return r.durable(r.accept({ entries, covers: covers.map((c) => ({ kind: 'cover' as const, ...c })) }));
}

t.test('accepts an origin\'s entries only as a contiguous prefix: duplicates and entries past a hole are left out', async (t) => {
  const r = new Replica();
  t.same(keys(take(r, [m('a', 1), m('a', 2)])), ['a#1', 'a#2']);
  t.same(keys(take(r, [m('a', 2), m('a', 4), m('a', 3)])), ['a#3'], 'a#2 held, a#4 past the hole (a#3 came after it)');
  t.same(vv(r), { a: 3 }, 'the vector never passes a hole');
  t.same(keys(take(r, [m('a', 4), m('b', 1)])), ['a#4', 'b#1']);
  t.equal(r.tailSize, 5);
});

t.test('accepted runs ahead of durable while writes are out; a failed write rolls back so it can be accepted again', async (t) => {
  const r = new Replica();
  const first = r.accept({ entries: [m('a', 1)], covers: [] });
  t.same(keys(first as Entry[]), ['a#1']);
  t.same(keys(r.accept({ entries: [m('a', 1), m('a', 2)], covers: [] }) as Entry[]), ['a#2'], 'a#1 is on its way already');
  t.same(vv(r), {}, 'nothing durable yet');
  r.rollback();
  t.same(keys(r.accept({ entries: [m('a', 1), m('a', 2)], covers: [] }) as Entry[]), ['a#1', 'a#2'], 'after a failed write both are accepted again');
});

t.test('catch-up sends exactly what the other side lacks, whatever the window, in frames of 200', async (t) => {
  const r = new Replica();
  take(r, Array.from({ length: 450 }, (_, i) => m('a', i + 1)));
  take(r, [m('b', 1), m('b', 2)]);
  const batches = r.lacking(new Map([['a', 100], ['b', 2]]), () => []);
  t.same(batches.map((b) => b.entries.length), [200, 150]);
  t.same(keys(batches.flatMap((b) => b.entries)), Array.from({ length: 350 }, (_, i) => `a#${i + 101}`));
  t.same(r.lacking(new Map([['a', 450], ['b', 2]]), () => []), [], 'nothing to send to an equal');
});

t.test('frames stay under 1 MiB whatever the entries hold: 4,000 escaped characters each, or a room naming 1,000 members', async (t) => {
  const r = new Replica();
  const heavy = Array.from({ length: 300 }, (_, i) => m('a', i + 1, '\u0001'.repeat(4_000)));
  const members = Array.from({ length: 1_000 }, (_, i) => `member-with-a-long-name-${String(i).padStart(6, '0')}`);
  const room = Array.from({ length: 50 }, (_, i): MessageEntry => ({ ...m('b', i + 1), to: members, pending: members, room: 'all-hands' }));
  take(r, [...heavy, ...room]);
  const batches = r.lacking(new Map(), () => []);
  const sizes = batches.map((b) => Buffer.byteLength(JSON.stringify({ type: 'peer:entries', entries: b.entries })));
  t.same(keys(batches.flatMap((b) => b.entries)), keys([...heavy, ...room]), 'everything, in order');
  t.ok(sizes.every((n) => n <= MAX_BATCH_BYTES), `every frame within the bound (largest ${Math.max(...sizes)} bytes)`);
  t.ok(batches.every((b) => b.entries.every((e) => entryBound(e) >= Buffer.byteLength(JSON.stringify(e)))), 'the bound is one');
  t.ok(batches.length > 2, `split by size, not only by count (${batches.length} frames)`);
});

t.test('below the floor, a replica that lacks entries gets an install: the retained state of the range, and a cover', async (t) => {
  const sender = new Replica();
  const state = new ChatState(7); // its history keeps a#4..10
  for (const e of take(sender, Array.from({ length: 10 }, (_, i) => m('a', i + 1)))) state.apply(e);
  sender.release(new Map([['a', 8]])); // every known replica holds a#1..8: those may go
  t.same(Object.fromEntries(sender.floor), { a: 8 });
  t.equal(sender.tailSize, 2);
  const batches = sender.lacking(new Map([['a', 3]]), () => state.retained());
  t.same(
    batches.map((b) => [keys(b.entries), b.covers]),
    [
      [['a#4', 'a#5', 'a#6', 'a#7', 'a#8'], [{ kind: 'cover', origin: 'a', from: 3, to: 8 }]], // what the state still keeps of a#4..8
      [['a#9', 'a#10'], []], // then the tail, exactly
    ],
  );
  const receiver = new Replica();
  take(receiver, [m('a', 1), m('a', 2), m('a', 3)]);
  for (const b of batches) take(receiver, b.entries, b.covers);
  t.same(vv(receiver), { a: 10 }, 'the receiver holds the same vector');
  t.same(Object.fromEntries(receiver.floor), { a: 8 }, 'and knows below what it may lack entries');
});

t.test('an install frame is all or nothing: its entries past the hole count only with the cover that closes it', async (t) => {
  const r = new Replica();
  take(r, [m('a', 1)]);
  t.same(keys(take(r, [m('a', 5)])), [], 'a#5 without a cover: a hole');
  t.same(keys(take(r, [m('a', 5)], [{ origin: 'a', from: 1, to: 6 }])), ['a#5'], 'with the cover from a#1: state only');
  t.same(vv(r), { a: 6 });
  t.same(keys(take(r, [m('a', 9)], [{ origin: 'a', from: 7, to: 9 }])), [], 'a cover starting past what is held is refused too');
  t.same(vv(r), { a: 6 });
});

t.test('a snapshot reloads to exactly what was written: the bounds, the tail, the state (issue #11: nothing dropped at reload)', async (t) => {
  const r = new Replica();
  const state = new ChatState({ historySize: 3, resumeWindow: 5 });
  const user: Entry = { kind: 'user', origin: 'a', seq: 1, name: 'bob', hash: 'h', created: 1, updated: 1 };
  const offline: MessageEntry = { ...m('a', 3), to: ['bob'], pending: ['bob'], text: 'while you were away' };
  const entries: Entry[] = [user, m('a', 2), offline, ...Array.from({ length: 20 }, (_, i) => m('a', i + 4))];
  for (const e of take(r, entries)) state.apply(e);
  take(r, [m('b', 1)]).forEach((e) => state.apply(e));
  r.release(new Map([['a', 20]]));
  const snap = r.snapshot(state.retained());
  const copy = new Replica();
  const copyState = new ChatState({ historySize: 3, resumeWindow: 5 });
  const loaded = copy.loadSnapshot(new Map(snap.vv), new Map(snap.floor), snap.entries);
  t.notOk('error' in loaded);
  if ('error' in loaded) return;
  for (const e of loaded.entries) copyState.apply(e);
  t.same(vv(copy), vv(r));
  t.same(Object.fromEntries(copy.floor), Object.fromEntries(r.floor));
  t.equal(copy.tailSize, r.tailSize, 'the tail above the floor, entry for entry');
  t.equal(copyState.digest(), state.digest(), 'the same state');
  t.same(copyState.replayFor('bob').offline.map((x) => x.text), ['while you were away'], 'an offline user\'s message after a higher entry of its origin survives');
  t.same(new Replica().loadSnapshot(new Map([['a', 30]]), new Map([['a', 20]]), []), { error: 'entries of a above 20 are missing' }, 'a snapshot that does not add up is refused');
  t.match(new Replica().loadSnapshot(new Map([['a', 3]]), new Map(), [m('a', 1), m('a', 3)]), { error: /between 0 and 3 are missing/ }, 'nor one with a hole in its tail');
});

t.test('the tail is kept for lagging replicas up to a bound, then the oldest go (they get an install)', async (t) => {
  const r = new Replica();
  take(r, Array.from({ length: 30 }, (_, i) => m('a', i + 1)));
  take(r, Array.from({ length: 10 }, (_, i) => m('b', i + 1)));
  r.cap(25);
  t.ok(r.tailSize <= 25, `tail ${r.tailSize}`);
  t.ok((r.floor.get('a') ?? 0) >= 15, 'the longest origin went first');
  t.same(vv(r), { a: 30, b: 10 }, 'the vector is unchanged');
});
