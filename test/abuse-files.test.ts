import t from 'tap';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { startServe } from './helpers/processes.js';
import { TestSocket, fileChunk, loggedIn } from './helpers/ws-client.js';
import { tmpDir } from './helpers/tmp.js';
import { waitFor } from './helpers/wait.js';

// Issue #14, finding 5: throwaway accounts offering big files to an account that acknowledges everything,
// then sending a byte per stream every 25 s, held every transfer slot of the coordinator for as long as
// they liked. Slots are now limited per address too, and a transfer slower than 16 KiB/s over 30 s ends.

t.test('trickling transfers from throwaway accounts hold no slot for long, and others send files meanwhile', { timeout: 110_000 }, async (t) => {
  const dir = tmpDir(t);
  const { address } = await startServe(t, join(dir, 'node'), ['--registration-rate', '100', '--max-message-rate', '1000']);
  const url = `wss://${address}`;
  // The accomplice: acknowledges every byte at once.
  const sink = await loggedIn(url, 'sink');
  t.teardown(() => sink.close());
  const got = new Map<number, number>();
  sink.onBinary = (buf) => {
    const stream = buf.readUInt32BE(0);
    got.set(stream, (got.get(stream) ?? 0) + buf.length - 4);
    sink.send({ type: 'file:ack', stream, received: got.get(stream) });
  };
  const accounts = await Promise.all(Array.from({ length: 16 }, (_, i) => loggedIn(url, `throwaway${i}`, { localAddress: '127.0.10.1' })));
  t.teardown(() => accounts.forEach((s) => s.close()));
  const offers = accounts.flatMap((s, i) =>
    Array.from({ length: 4 }, (_, j) => {
      const id = `big-${i}-${j}`;
      s.send({ type: 'file:offer', id, name: `big${j}.bin`, size: 100 * 1024 * 1024, to: ['sink'] });
      // Looked for without consuming: four answers on one socket, waited for at once.
      return waitFor(() => s.frames.find((f) => (f.type === 'file:accepted' && f.id === id) || (f.type === 'error' && f.ref === id)), 'the answer to an offer').then((f) => ({ s, f }));
    }),
  );
  const answers = await Promise.all(offers);
  const accepted = answers.filter((a) => a.f.type === 'file:accepted');
  t.equal(accepted.length, 8, 'eight of 64 offers from one address are taken');
  t.match(answers.find((a) => a.f.type === 'error')?.f.message, /at most 8 files at once from one address/);
  // A byte per stream, every 25 s (twice at most).
  const trickle = (): void => {
    for (const { s, f } of accepted) s.send(fileChunk(f.stream as number, Buffer.from('x')));
  };
  trickle();
  const timer = setTimeout(trickle, 25_000);
  t.teardown(() => clearTimeout(timer));

  // Meanwhile alice sends bob a file, from another host.
  const alice = await loggedIn(url, 'alice');
  const bob = await loggedIn(url, 'bob');
  t.teardown(() => (alice.close(), bob.close()));
  let bobGot = 0;
  bob.onBinary = (buf) => {
    bobGot += buf.length - 4;
    bob.send({ type: 'file:ack', stream: buf.readUInt32BE(0), received: bobGot });
  };
  alice.send({ type: 'file:offer', id: 'report', name: 'report.pdf', size: 256 * 1024, to: ['bob'] });
  const ok = await alice.next((f) => (f.type === 'file:accepted' || f.type === 'error') && (f.id === 'report' || f.ref === 'report'), 'alice\'s answer');
  t.equal(ok.type, 'file:accepted', `alice's file is taken (${JSON.stringify(ok)})`);
  for (let at = 0; at < 256 * 1024; at += 64 * 1024) alice.send(fileChunk(ok.stream as number, Buffer.alloc(64 * 1024, 7)));
  alice.send({ type: 'file:end', stream: ok.stream, sha256: createHash('sha256').update(Buffer.alloc(256 * 1024, 7)).digest('hex') });
  await waitFor(() => bobGot === 256 * 1024, 'bob to get all of it');
  bob.send({ type: 'file:done', stream: ok.stream });
  t.match(await alice.nextOf('file:sent'), { delivered: ['bob'] }, 'delivered');

  // The trickles end within a rate window (30 s) and a heartbeat.
  const failed = await Promise.all(accepted.map(({ s, f }) => waitFor(() => s.frames.find((x) => x.type === 'error' && x.code === 'file_failed' && x.ref === f.id), 'the trickle to be ended', 45_000)));
  t.match(failed[0]!.message, /sent slower than the minimum of 16 KiB\/s over 30 s/);
  t.equal(failed.length, 8, 'every trickling transfer ended');
});

t.test('with every slot taken by a few addresses, a user from another gets one: the slowest of the heaviest address gives way', { timeout: 60_000 }, async (t) => {
  const dir = tmpDir(t);
  const { address } = await startServe(t, join(dir, 'node'), ['--registration-rate', '100', '--max-message-rate', '1000']);
  const url = `wss://${address}`;
  const sink = await loggedIn(url, 'sink');
  t.teardown(() => sink.close());
  // Eight addresses, two accounts each, four offers per account: the 64 slots, 8 per address.
  const accounts = await Promise.all(Array.from({ length: 16 }, (_, i) => loggedIn(url, `hog${i}`, { localAddress: `127.0.12.${1 + (i >> 1)}` })));
  t.teardown(() => accounts.forEach((s) => s.close()));
  const answers = await Promise.all(
    accounts.flatMap((s, i) =>
      Array.from({ length: 4 }, (_, j) => {
        const id = `hog-${i}-${j}`;
        s.send({ type: 'file:offer', id, name: `big${j}.bin`, size: 100 * 1024 * 1024, to: ['sink'] });
        return waitFor(() => s.frames.find((f) => (f.type === 'file:accepted' && f.id === id) || (f.type === 'error' && f.ref === id)), 'the answer to an offer').then((f) => ({ s, f }));
      }),
    ),
  );
  t.equal(answers.filter((a) => a.f.type === 'file:accepted').length, 64, 'all 64 slots taken');
  const alice = await loggedIn(url, 'alice');
  t.teardown(() => alice.close());
  alice.send({ type: 'file:offer', id: 'report', name: 'report.pdf', size: 1024, to: ['sink'] });
  const ok = await alice.next((f) => (f.type === 'file:accepted' || f.type === 'error') && (f.id === 'report' || f.ref === 'report'), 'alice\'s answer');
  t.equal(ok.type, 'file:accepted', `alice's file is taken (${JSON.stringify(ok)})`);
  const gaveWay = await waitFor(() => accounts.find((s) => s.frames.some((f) => f.type === 'error' && f.code === 'file_failed')), 'a hog to be told');
  t.match(gaveWay.frames.find((f) => f.code === 'file_failed')?.message, /relays 64 files at once, and your address held the most/);
  // The address that gave way (now 7) cannot take its slot back from the others (8): nobody takes turns.
  gaveWay.send({ type: 'file:offer', id: 'again', name: 'again.bin', size: 1024, to: ['sink'] });
  const again = await waitFor(() => gaveWay.frames.find((f) => (f.type === 'error' && f.ref === 'again') || (f.type === 'file:accepted' && f.id === 'again')), 'the answer');
  t.match(again, { type: 'error', code: 'rate_limited', message: /relaying 64 files already/ }, 'refused: it holds fewer than two less than the heaviest');
});
