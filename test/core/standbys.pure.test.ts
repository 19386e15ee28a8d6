import t from 'tap';
import { StandbyBook } from '../../src/core/standbys.js';

const info = (id: string, priority = 0, eligible = true) => ({ id, address: `${id}:7777`, priority, eligible });
const v = (o: Record<string, number>) => new Map(Object.entries(o));

t.test('a standby enters the succession list once it holds what the coordinator held when it joined', async (t) => {
  const b = new StandbyBook();
  b.attach(info('s1'), v({ a: 2 }), v({ a: 10 }));
  t.equal(b.successor, undefined, 'catching up: not waited for, not a successor');
  t.equal(b.ack('s1', v({ a: 9 })), false);
  t.equal(b.ack('s1', v({ a: 10 })), true, 'caught up');
  t.equal(b.successor?.id, 's1');
  t.equal(b.successorHolds('a', 10), true);
  t.equal(b.successorHolds('a', 11), false);
});

t.test('ranked by priority, position, id; a demoted one leaves until it catches up; observers never enter', async (t) => {
  const b = new StandbyBook();
  for (const [id, p] of [['s1', 0], ['s2', 5], ['s3', 0]] as const) {
    b.attach(info(id, p), v({}), v({}));
    b.ack(id, v({}));
  }
  b.attach(info('o1', 9, false), v({}), v({}));
  b.ack('o1', v({}));
  t.same(b.succession.map((s) => s.id), ['s2', 's1', 's3']);
  b.demote('s2', v({ a: 4 }));
  t.same(b.succession.map((s) => s.id), ['s1', 's3'], 'the next one is used');
  b.ack('s2', v({ a: 4 }));
  t.same(b.succession.map((s) => s.id), ['s2', 's1', 's3'], 'back once it holds it');
  t.equal(b.successorHolds('b', 1), false);
  t.equal(new StandbyBook().successorHolds('a', 1), undefined, 'no successor at all');
});

t.test('the floor waits for every known replica, attached or departed', async (t) => {
  const b = new StandbyBook();
  b.attach(info('s1'), v({ a: 5, b: 3 }), v({ a: 5, b: 3 }));
  b.attach(info('s2'), v({ a: 2 }), v({ a: 5, b: 3 }));
  t.same(Object.fromEntries(b.floor(v({ a: 9, b: 3 }))), { a: 2 }, 'b: s2 holds none of it');
  t.equal(b.detach('s2'), false, 'it was not in the succession list');
  b.ack('s1', v({ a: 9, b: 3 }));
  t.same(Object.fromEntries(b.floor(v({ a: 9, b: 3 }))), { a: 2 }, 'a departed replica is still waited for');
  b.remember(['s3'], v({ a: 1 }));
  t.same(Object.fromEntries(b.floor(v({ a: 9, b: 3 }))), { a: 1 }, 'and one remembered from the last succession list');
  t.same(b.known().sort(), ['s1', 's2', 's3']);
});
