import t from 'tap';
import { LoginLimits, PER_ADDRESS, PER_USER, PER_USER_ADDRESS } from '../../src/core/login-limits.js';
import { RateLimiter } from '../../src/core/rate-limiter.js';

/** A LoginLimits on a clock the test moves. */
function limits() {
  let now = 1_000_000;
  const addresses = new RateLimiter(PER_ADDRESS, () => now);
  const l = new LoginLimits(addresses, () => now);
  /** An attempt that fails (its tokens are kept); true if it was allowed to try. */
  const fail = (user: string, address: string): boolean => {
    const v = l.begin(user, address);
    if (v.ok) l.failed(v.ticket);
    return v.ok;
  };
  const succeed = (user: string, address: string): boolean => {
    const v = l.begin(user, address);
    if (v.ok) l.succeeded(v.ticket);
    return v.ok;
  };
  return { l, addresses, fail, succeed, advance: (ms: number) => (now += ms) };
}

t.test('guesses from one address: 5 for a user, then one every 12 s', async (t) => {
  const { fail, advance } = limits();
  const tries = Array.from({ length: 7 }, () => fail('alice', '10.0.0.66'));
  t.same(tries, [true, true, true, true, true, false, false]);
  advance(12_000);
  t.equal(fail('alice', '10.0.0.66'), false, 'the refused tries were charged: 12 s is not enough');
  advance(3 * 12_000);
  t.equal(fail('alice', '10.0.0.66'), true, 'once the debt (three refused tries) is paid, one more');
  t.equal(PER_USER_ADDRESS.capacity, 5);
});

t.test("someone else's guesses never lock alice out of her own address", async (t) => {
  const { fail, succeed, advance } = limits();
  // The attacker polls every 100 ms for a minute.
  let refused = 0;
  for (let i = 0; i < 600; i++) {
    if (!fail('alice', '10.0.0.66')) refused++;
    advance(100);
    if (i % 50 === 0) t.equal(succeed('alice', '10.0.0.5'), true, `alice gets in at ${i / 10} s`);
  }
  t.ok(refused > 590, `the attacker was refused ${refused} of 600 times`);
  t.equal(succeed('alice', '10.0.0.5'), true, 'and after it all');
});

t.test('many addresses guessing at one user share its budget: 20, then one every 6 s', async (t) => {
  const { fail, succeed, advance } = limits();
  // 20 addresses, 5 guesses each: the shared budget binds an address from its second failure on, and every failure drains it.
  let allowed = 0;
  for (let round = 0; round < 5; round++) for (let a = 0; a < 20; a++) if (fail('alice', `10.0.1.${a}`)) allowed++;
  t.equal(allowed, 2 * 20, 'two tries per address, and the shared 20 are spent by then');
  t.equal(succeed('alice', '10.0.0.5'), true, 'an address that has not been guessing still gets in');
  t.equal(succeed('alice', '10.0.1.3'), false, 'a guessing address with the password waits like any guesser');
  // Pacing does not help: one try per address every 13 s (the pair's own rate) for 10 minutes.
  let paced = 0;
  for (let s = 0; s < 600; s += 13) {
    advance(13_000);
    for (let a = 0; a < 20; a++) if (fail('alice', `10.0.2.${a}`)) paced++;
  }
  t.ok(paced <= PER_USER.capacity + 600 / 6 + 20 * 4, `20 hosts pacing themselves: ${paced} tries in 10 minutes (one host alone: 5 + 50; the shared 20 + 100, and two or three a host each 5 minutes)`);
});

t.test('one address guessing across many users: 20, then one every 3 s', async (t) => {
  const { fail, advance } = limits();
  const allowed = Array.from({ length: 30 }, (_, i) => fail(`user${i}`, '10.0.0.66')).filter(Boolean).length;
  t.equal(allowed, 20);
  advance(3_000 * 11); // the 10 refused tries were charged too
  t.equal(fail('user99', '10.0.0.66'), true);
});

t.test('a success forgets the failures of its pair and gives back what it took', async (t) => {
  const { l, addresses, fail, succeed } = limits();
  for (let i = 0; i < 4; i++) fail('bob', '10.0.0.7');
  t.equal(succeed('bob', '10.0.0.7'), true, 'the fifth try, right');
  t.same(Array.from({ length: 6 }, () => fail('bob', '10.0.0.7')), [true, true, true, true, true, false], 'five again');
  const before = addresses.tokens('a:10.0.0.9');
  const v = l.begin('carol', '10.0.0.9');
  t.ok(v.ok);
  if (v.ok) l.abandoned(v.ticket);
  t.equal(addresses.tokens('a:10.0.0.9'), before, 'an abandoned check costs nothing');
});

t.test('an address with a failure in the last 30 s is a suspect: its checks wait behind the others', async (t) => {
  const { l, advance } = limits();
  const first = l.begin('alice', '10.0.0.66');
  t.ok(first.ok && first.ticket.clean, 'a first try is clean');
  if (first.ok) l.failed(first.ticket);
  const second = l.begin('bob', '10.0.0.66');
  t.ok(second.ok && !second.ticket.clean, 'after a failure, any user from that address is a suspect');
  const other = l.begin('alice', '10.0.0.5');
  t.ok(other.ok && other.ticket.clean, 'other addresses are not');
  advance(30_000);
  const later = l.begin('alice', '10.0.0.66');
  t.ok(later.ok && later.ticket.clean, 'clean again 30 s after its failure');
});
