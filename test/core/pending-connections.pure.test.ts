import t from 'tap';
import { PendingConnections } from '../../src/core/pending-connections.js';

t.test('each address holds at most its share; releases give it back', async (t) => {
  const q = new PendingConnections<string>(2, 100);
  t.match(q.admit('10.0.0.1', 'a'), { ok: true, evict: undefined });
  t.match(q.admit('10.0.0.1', 'b'), { ok: true });
  t.same(q.admit('10.0.0.1', 'c'), { ok: false, why: 'address' }, 'the third is refused');
  t.equal(q.held('10.0.0.1'), 2, 'a refusal takes nothing');
  t.match(q.admit('10.0.0.2', 'd'), { ok: true }, 'other addresses are not affected');
  q.release('10.0.0.1', 'a');
  t.match(q.admit('10.0.0.1', 'c'), { ok: true }, 'a release makes room');
  q.release('10.0.0.1', 'b');
  q.release('10.0.0.1', 'c');
  q.release('10.0.0.1', 'c');
  q.release('10.0.0.2', 'd');
  t.equal(q.size, 0, 'addresses holding nothing are forgotten');
  t.equal(q.count, 0, 'a release twice counts once');
  q.release('10.0.0.3', 'x');
  t.equal(q.held('10.0.0.3'), 0, 'releasing what was never held does nothing');
});

t.test('when all the room is taken, a newcomer displaces the oldest of the address holding the most', async (t) => {
  const q = new PendingConnections<string>(64, 10);
  for (let i = 0; i < 6; i++) q.admit('10.0.0.66', `slow${i}`);
  for (let i = 0; i < 4; i++) q.admit('10.0.0.67', `slower${i}`);
  t.equal(q.count, 10, 'full');
  t.same(q.admit('10.0.0.5', 'alice'), { ok: true, evict: 'slow0' }, 'a good login gets in; the heaviest address loses its oldest');
  t.same(q.admit('10.0.0.66', 'slow6'), { ok: false, why: 'full' }, 'the heavy address cannot displace an equal or a lighter one');
  t.same(q.admit('10.0.0.67', 'slower4'), { ok: false, why: 'full' });
  t.same(q.admit('10.0.0.6', 'bob'), { ok: true, evict: 'slow1' });
  t.equal(q.count, 10, 'still at the limit');
  t.equal(q.held('10.0.0.5'), 1, 'alice kept her place');
  q.release('10.0.0.66', 'slow0');
  t.equal(q.count, 10, 'a displaced connection, closing, gives back nothing twice');
});

t.test('a process with no room left: admitted only by displacing', async (t) => {
  const q = new PendingConnections<string>(64, 100);
  for (let i = 0; i < 3; i++) q.admit('10.0.0.66', `s${i}`);
  t.same(q.admit('10.0.0.5', 'alice', true), { ok: true, evict: 's0' });
  t.same(q.admit('10.0.0.5', 'alice2', true), { ok: false, why: 'full' }, '2 against 1+1: nothing to gain');
  const empty = new PendingConnections<string>(64, 100);
  t.same(empty.admit('10.0.0.5', 'alice', true), { ok: false, why: 'full' }, 'nobody to displace');
});

t.test('a limit below one is a programming error', async (t) => {
  t.throws(() => new PendingConnections(0, 1), TypeError);
  t.throws(() => new PendingConnections(1, Number.NaN), TypeError);
});
