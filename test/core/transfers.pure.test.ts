import t from 'tap';
import { MAX_TRANSFERS, MAX_UPLOADS_PER_ADDRESS, MAX_UPLOADS_PER_USER, MIN_RATE_BYTES_PER_S, RATE_WINDOW_MS, SENDER_STALL_MS, STALL_MS, Transfers } from '../../src/core/transfers.js';

/** The book of transfers with a hand-driven clock and a 100-byte window. */
function book() {
  let now = 0;
  const tr = new Transfers<string>({ window: 100, now: () => now });
  return { tr, tick: (ms: number) => void (now += ms) };
}

t.test('a sender may run one window ahead of its slowest recipient, no further', async (t) => {
  const { tr } = book();
  const x = tr.open('alice', 'alice', 'c1', 'a.bin', 300, [
    { session: 'bob', user: 'bob' },
    { session: 'carol', user: 'carol' },
  ]);
  t.ok(tr.data('alice', x.stream, 100).ok, 'a full window');
  t.match(tr.data('alice', x.stream, 1), { ok: false, reason: /window/ }, 'one byte past it is refused');
  t.same(tr.ack('bob', x.stream, 100), { transfer: x }, 'bob alone does not move the window: carol has nothing yet');
  t.equal(tr.ack('carol', x.stream, 50)?.credit, 50, 'the slowest recipient sets the credit');
  t.ok(tr.data('alice', x.stream, 50).ok);
  t.notOk(tr.data('alice', x.stream, 1).ok);
  t.equal(tr.ack('carol', x.stream, 200), undefined, 'an ack for bytes never sent is refused');
  t.equal(tr.ack('carol', x.stream, 40), undefined, 'acks never go back');
  t.equal(tr.ack('mallory', x.stream, 10), undefined, 'only recipients ack');
  t.match(tr.data('bob', x.stream, 1), { ok: false, reason: /no transfer of yours/ }, 'only the sender sends');
});

t.test('more data than offered, data after the end, an end too early', async (t) => {
  const { tr } = book();
  const x = tr.open('alice', 'alice', 'c1', 'a.bin', 10, [{ session: 'bob', user: 'bob' }]);
  t.match(tr.data('alice', x.stream, 11), { ok: false, reason: /more data than the 10 bytes/ });
  t.ok(tr.data('alice', x.stream, 4).ok);
  t.match(tr.end('alice', x.stream), { ok: false, reason: /after 4 of 10 bytes/ });
  t.ok(tr.data('alice', x.stream, 6).ok);
  t.ok(tr.end('alice', x.stream).ok);
  t.match(tr.data('alice', x.stream, 1), { ok: false, reason: /after file:end/ });
  t.match(tr.end('alice', x.stream), { ok: false, reason: /twice/ });
});

t.test('a transfer completes when every recipient has saved it or failed; the report says who and why', async (t) => {
  const { tr } = book();
  const x = tr.open('alice', 'alice', 'c1', 'a.bin', 10, [
    { session: 'bob', user: 'bob' },
    { session: 'bob-laptop', user: 'bob' },
    { session: 'carol', user: 'carol' },
  ]);
  tr.data('alice', x.stream, 10);
  t.equal(tr.finish('bob', x.stream), undefined, '"done" before the end is not believed');
  tr.end('alice', x.stream);
  tr.ack('bob', x.stream, 10);
  t.notOk(tr.finish('bob', x.stream)?.complete);
  t.notOk(tr.finish('carol', x.stream, 'disk full')?.complete);
  const { outcomes } = tr.leave('bob-laptop', 'bob disconnected');
  t.equal(outcomes.length, 1);
  t.ok(outcomes[0]!.complete, 'the last recipient leaving completes it');
  t.same(tr.report(x), { delivered: ['bob'], failed: [{ user: 'carol', reason: 'disk full' }] }, 'bob saved it on one of his two sessions');
  t.equal(tr.size, 0, 'and it is forgotten');
});

t.test('a slow recipient that leaves lets the others go on at their pace', async (t) => {
  const { tr } = book();
  const x = tr.open('alice', 'alice', 'c1', 'a.bin', 1000, [
    { session: 'bob', user: 'bob' },
    { session: 'slow', user: 'slow' },
  ]);
  tr.data('alice', x.stream, 100);
  tr.ack('bob', x.stream, 100);
  const { outcomes } = tr.leave('slow', 'slow disconnected');
  t.equal(outcomes[0]!.credit, 100, 'the window jumps to the remaining recipient');
});

t.test('a sender that leaves aborts its transfers', async (t) => {
  const { tr } = book();
  const x = tr.open('alice', 'alice', 'c1', 'a.bin', 10, [{ session: 'bob', user: 'bob' }]);
  const { aborted } = tr.leave('alice', 'alice disconnected');
  t.same(aborted, [x]);
  t.equal(tr.get(x.stream), undefined);
});

t.test('limits on transfers at once', async (t) => {
  const { tr } = book();
  // One user over several sessions counts once: more sessions do not buy more slots.
  for (let i = 0; i < MAX_UPLOADS_PER_USER; i++) tr.open(`alice-${i}`, 'alice', `c${i}`, 'a', 1, [{ session: 'bob', user: 'bob' }]);
  t.match(tr.refusal('Alice'), /at most 4 files at once from one user/);
  t.equal(tr.refusal('carol'), undefined);
  for (let i = tr.size; i < MAX_TRANSFERS; i++) tr.open(`s${i}`, `s${i}`, 'c', 'a', 1, [{ session: 'bob', user: 'bob' }]);
  t.match(tr.refusal('carol', '10.0.0.9'), /relaying 64 files already/);
  t.equal(new Set(Array.from({ length: MAX_TRANSFERS }, (_, i) => tr.get(i + 1)?.stream)).size, MAX_TRANSFERS, 'distinct streams');
  t.equal(tr.incomingOf('bob'), MAX_TRANSFERS);
});

t.test('stalls: a recipient that stops writing, a sender that stops sending', async (t) => {
  const { tr, tick } = book();
  const x = tr.open('alice', 'alice', 'c1', 'a.bin', 1000, [
    { session: 'bob', user: 'bob' },
    { session: 'carol', user: 'carol' },
  ]);
  tr.data('alice', x.stream, 100);
  tick(STALL_MS / 2);
  tr.ack('bob', x.stream, 100);
  tick(STALL_MS / 2 + 1);
  const { recipients, senders } = tr.stalled();
  t.same(recipients.map((r) => r.target.user), ['carol'], 'carol wrote nothing for too long; bob is fine');
  t.same(senders, [], 'alice is waiting for credit, not stalled');
  tr.finish('carol', x.stream, 'stopped receiving');
  tick(SENDER_STALL_MS + 1);
  t.same(tr.stalled().senders, [x], 'alice had credit for a minute and sent nothing');
});

t.test('stalls: no transfer stays open because a side owes its last word', async (t) => {
  const { tr, tick } = book();
  tr.open('alice', 'alice', 'c1', 'empty', 0, [{ session: 'bob', user: 'bob' }]); // never ended
  const allIn = tr.open('carol', 'carol', 'c2', 'all', 10, [{ session: 'bob', user: 'bob' }]);
  tr.data('carol', allIn.stream, 10); // every byte, then no file:end
  tr.ack('bob', allIn.stream, 10);
  const noVerdict = tr.open('dave', 'dave', 'c3', 'quiet', 10, [{ session: 'erin', user: 'erin' }]);
  tr.data('dave', noVerdict.stream, 10);
  tr.end('dave', noVerdict.stream);
  tr.ack('erin', noVerdict.stream, 10); // everything written, then neither done nor fail
  tick(STALL_MS + 1);
  t.same(tr.stalled().recipients.map((r) => r.transfer.name), ['quiet'], 'a recipient that wrote everything owes its verdict');
  tick(SENDER_STALL_MS);
  t.same(tr.stalled().senders.map((x) => x.name), ['empty', 'all'], 'a sender with nothing left to send owes the end');
});

t.test('a transfer keeps a minimum rate, and the side holding it back is ended (issue #14)', async (t) => {
  let now = 0;
  const tr = new Transfers<string>({ window: 4 * 1024 * 1024, now: () => now });
  const trickle = tr.open('mallory', 'mallory', 'c1', 'big', 100 * 1024 * 1024, [{ session: 'sink', user: 'sink' }], '10.0.0.66');
  const good = tr.open('alice', 'alice', 'c2', 'ok', 100 * 1024 * 1024, [{ session: 'bob', user: 'bob' }, { session: 'carol', user: 'carol' }], '10.0.0.5');
  const small = tr.open('dave', 'dave', 'c3', 'tiny', 1_000, [{ session: 'erin', user: 'erin' }], '10.0.0.7');
  let carol = 0;
  const run = (seconds: number) => {
    for (let s = 0; s < seconds; s++) {
      now += 1_000;
      if (now % 25_000 < 1_000) (tr.data('mallory', trickle.stream, 1), tr.ack('sink', trickle.stream, trickle.received));
      // alice sends 20 KiB a second; bob keeps up, carol writes 8 KiB a second.
      tr.data('alice', good.stream, 20 * 1024);
      tr.ack('bob', good.stream, good.received);
      carol = Math.min(good.received, carol + 8 * 1024);
      tr.ack('carol', good.stream, carol);
    }
  };
  run(29);
  tr.data('dave', small.stream, 1_000);
  tr.ack('erin', small.stream, 1_000);
  t.same(tr.tooSlow(), [], 'nothing judged before a whole window has passed');
  run(1);
  t.same(tr.tooSlow().map((v) => [v.transfer.name, v.sender, v.recipients.map((x) => x.user)]), [['big', true, []]], 'the trickling sender; recipients owe only what waited when the window began');
  run(RATE_WINDOW_MS / 1000);
  t.same(tr.tooSlow().map((v) => [v.transfer.name, v.sender, v.recipients.map((x) => x.user)]), [
    ['big', true, []],
    ['ok', false, ['carol']],
  ], 'then the slow recipient (not its sender); a small file that moved all it could is fine');
  t.ok(MIN_RATE_BYTES_PER_S * (RATE_WINDOW_MS / 1000) > 8 * 1024 * 30, 'carol was below the minimum');
});

t.test('a sender owes the minimum rate only over the time it had room, not while its window waited on a recipient', async (t) => {
  let now = 0;
  const window = 4 * 1024 * 1024;
  const tr = new Transfers<string>({ window, now: () => now });
  const x = tr.open('alice', 'alice', 'c1', 'big', 100 * 1024 * 1024, [{ session: 'bob', user: 'bob' }]);
  tr.data('alice', x.stream, window); // her whole window at once
  now += RATE_WINDOW_MS;
  t.same(tr.tooSlow(), [], 'first window: alice sent plenty; bob owed nothing that waited when it began');
  // Second window: bob writes nothing for 29 s, then everything just before it ends. Alice had no room.
  now += RATE_WINDOW_MS - 1_000;
  tr.ack('bob', x.stream, window);
  now += 1_000;
  t.same(tr.tooSlow(), [], 'alice is not blamed for the window bob held (she had room for its last second only: the credit was on its way), and bob caught up');
  // Third window: room all of it, and she sends one byte: now she is the one holding it back.
  now += RATE_WINDOW_MS;
  tr.data('alice', x.stream, 1);
  t.same(tr.tooSlow().map((o) => [o.sender, o.recipients.length]), [[true, 0]], 'a sender with room all window that sends a byte is ended');
});

t.test('when every slot is taken, the address holding the most gives way to one holding fewer: its slowest transfer (issue #14)', async (t) => {
  let now = 0;
  const tr = new Transfers<string>({ window: 10_000, now: () => now });
  const open = (address: string, n: number) => Array.from({ length: n }, (_, i) => tr.open(`${address}-${i}`, `${address}-${i}`, 'c', 'f', 1_000, [{ session: 'sink', user: 'sink' }], address));
  // Eight addresses fill the 64 slots, 8 each; one of the first address's transfers moves, the others trickle.
  const first = open('10.0.0.1', 8);
  for (let a = 2; a <= 8; a++) open(`10.0.0.${a}`, 8);
  now += 10_000;
  tr.data('10.0.0.1-0', first[0]!.stream, 50);
  tr.data('10.0.0.1-7', first[7]!.stream, 1_000); // all its bytes are in, and then the end: spared
  tr.end('10.0.0.1-7', first[7]!.stream);
  t.equal(tr.refusal('alice', '10.0.0.99', false), undefined, 'alice may send but for the full book');
  t.match(tr.refusal('alice', '10.0.0.99'), /relaying 64 files/);
  const victim = tr.displaced('10.0.0.99');
  t.equal(victim?.address, '10.0.0.1', 'an address holding the most (the first of those that do)');
  t.not(victim, first[0], 'not the one that moves');
  t.not(victim, first[7], 'nor one whose bytes are all in');
  t.equal(victim, first[6], 'the newest of those that moved nothing');
  t.equal(tr.displaced('10.0.0.1'), undefined, 'an address holding as many as the heaviest displaces nobody');
  tr.abort(victim!.stream);
  t.equal(tr.displaced('10.0.0.99'), undefined, 'a free slot: nobody need give way');
  tr.open('alice', 'alice', 'c', 'f', 1_000, [{ session: 'sink', user: 'sink' }], '10.0.0.99');
  t.ok(tr.displaced('10.0.0.98'), 'the next newcomer displaces another of the eight holding 8');
  // Sixty-four addresses holding one each: nobody holds two more than a newcomer.
  const even = new Transfers<string>({ window: 100 });
  for (let a = 0; a < MAX_TRANSFERS; a++) even.open(`s${a}`, `s${a}`, 'c', 'f', 1, [{ session: 'sink', user: 'sink' }], `10.1.0.${a}`);
  t.equal(even.displaced('10.9.9.9'), undefined, 'one each: the newcomer waits like everyone');
});

t.test('files at once from one address are limited, however many accounts it has (issue #14)', async (t) => {
  const { tr } = book();
  for (let i = 0; i < MAX_UPLOADS_PER_ADDRESS; i++) tr.open(`s${i}`, `throwaway${i}`, 'c', 'a', 1, [{ session: 'sink', user: 'sink' }], '10.0.0.66');
  t.match(tr.refusal('throwaway99', '10.0.0.66'), /at most 8 files at once from one address/);
  t.equal(tr.refusal('alice', '10.0.0.5'), undefined, 'other addresses are not affected');
});
