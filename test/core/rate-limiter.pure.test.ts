import t from 'tap';
import { RateLimiter } from '../../src/core/rate-limiter.js';

t.test('token bucket: burst, then refill over time', async (t) => {
  let now = 0;
  const r = new RateLimiter({ capacity: 3, refillPerSecond: 1 }, () => now);
  t.same([r.take('a'), r.take('a'), r.take('a'), r.take('a')], [true, true, true, false]);
  t.ok(r.take('b'), 'keys are independent');
  now = 999;
  t.notOk(r.take('a'), 'not yet a whole token');
  now = 1_000;
  t.ok(r.take('a'));
  t.notOk(r.allows('a'));
  r.reset('a');
  t.ok(r.allows('a'), 'reset forgets the key');
  now = 1_000_000;
  t.same([r.take('a'), r.take('a'), r.take('a'), r.take('a')], [true, true, true, false], 'refill caps at capacity');
});

t.test('rejects nonsense options', async (t) => {
  t.throws(() => new RateLimiter({ capacity: 0, refillPerSecond: 1 }), TypeError);
  t.throws(() => new RateLimiter({ capacity: 1, refillPerSecond: Number.NaN }), TypeError);
});

t.test('memory stays bounded by active keys', async (t) => {
  let now = 0;
  const r = new RateLimiter({ capacity: 1, refillPerSecond: 10 }, () => now);
  for (let i = 0; i < 10_050; i++) r.take(`k${i}`);
  now = 10_000; // every bucket is full again
  r.take('new');
  t.ok(r.allows('k1'), 'swept keys start full');
});
