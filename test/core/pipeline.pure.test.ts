import t from 'tap';
import { Pipeline, entryKey } from '../../src/core/pipeline.js';
import type { Entry, MessageEntry } from '../../src/protocol/entries.js';

const m = (seq: number, cid = `c${seq}`): MessageEntry => ({ kind: 'message', origin: 'n.1', seq, id: `id${seq}`, cid, from: 'alice', to: [], text: `t${seq}`, ts: seq, pending: [] });
const keys = (...es: Entry[]) => new Set(es.map(entryKey));

t.test('commit → held by the successor → released in the order created → acknowledged', async (t) => {
  const p = new Pipeline();
  const [a, b, c] = [m(1), m(2), m(3)];
  p.add(a, { session: 1, cid: a.cid });
  p.add(b, { session: 2, cid: b.cid });
  p.add(c, { session: 1, cid: c.cid });
  let held = new Set<number>();
  const isHeld = (e: Entry) => held.has(e.seq);
  t.same(p.release(isHeld).own, [], 'nothing durable yet');
  p.durable(keys(b, c), 10);
  held = new Set([1, 2, 3]);
  t.same(p.release(isHeld).own, [], 'the first is not durable here: the others wait behind it');
  p.durable(keys(a), 20);
  t.same(p.oldestWaiting, { entry: a, since: 20 });
  held = new Set([2, 3]);
  t.same(p.release(isHeld).own, [], 'the successor does not hold the first yet');
  held = new Set([1, 2, 3]);
  const r = p.release(isHeld);
  t.same(r.own.map((f) => f.entry.seq), [1, 2, 3], 'in order');
  t.same(r.own.map((f) => f.acks), [[{ session: 1, cid: 'c1' }], [{ session: 2, cid: 'c2' }], [{ session: 1, cid: 'c3' }]]);
  t.equal(p.released('n.1'), 3);
  t.equal(p.size, 0);
});

t.test('a resend joins its message on the way; a resend of a stored one waits until the successor holds it', async (t) => {
  const p = new Pipeline();
  const a = m(1);
  p.add(a, { session: 1, cid: 'c1' });
  const f = p.inFlight('ALICE', 'c1');
  t.ok(f, 'found by sender (any case) and client id');
  f!.acks.push({ session: 2, cid: 'c1' });
  t.ok(p.holds(a.id), 'a replay leaves it out: it comes live');
  const stored = m(7, 'old');
  p.wait(stored, { session: 3, cid: 'old' }, 5);
  t.same(p.release(() => false).acks, []);
  t.same(p.release((e) => e.seq === 7).acks.map((w) => w.ack), [{ session: 3, cid: 'old' }]);
  p.forgetSession(2);
  p.durable(keys(a), 9);
  t.same(p.release(() => true).own[0]!.acks, [{ session: 1, cid: 'c1' }], 'a closed session is not acknowledged');
});

t.test('what cannot be written, or a coordinator that steps down, leaves unacknowledged', async (t) => {
  const p = new Pipeline();
  p.add(m(1));
  p.add(m(2));
  p.add(m(3));
  t.same(p.drop(keys(m(2))).map((f) => f.entry.seq), [2]);
  t.equal(p.firstPending('n.1'), 1);
  t.same(p.drop().map((f) => f.entry.seq), [1, 3]);
  t.equal(p.size, 0);
  t.equal(p.firstPending('n.1'), undefined);
});
