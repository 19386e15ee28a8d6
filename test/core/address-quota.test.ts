import t from 'tap';
import { AddressQuota } from '../../src/core/address-quota.js';

t.test('each address holds at most its share; releases give it back', async (t) => {
  const q = new AddressQuota(2);
  t.ok(q.tryAcquire('10.0.0.1'));
  t.ok(q.tryAcquire('10.0.0.1'));
  t.notOk(q.tryAcquire('10.0.0.1'), 'the third is refused');
  t.equal(q.held('10.0.0.1'), 2, 'a refusal takes nothing');
  t.ok(q.tryAcquire('10.0.0.2'), 'other addresses are not affected');
  q.release('10.0.0.1');
  t.ok(q.tryAcquire('10.0.0.1'), 'a release makes room');
  q.release('10.0.0.1');
  q.release('10.0.0.1');
  q.release('10.0.0.2');
  t.equal(q.size, 0, 'addresses holding nothing are forgotten');
  q.release('10.0.0.3');
  t.equal(q.held('10.0.0.3'), 0, 'releasing what was never held does not go negative');
});

t.test('a limit below one is a programming error', async (t) => {
  t.throws(() => new AddressQuota(0), TypeError);
  t.throws(() => new AddressQuota(Number.NaN), TypeError);
});
