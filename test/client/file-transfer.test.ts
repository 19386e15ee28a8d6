import t from 'tap';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { FileTransfers, type FileLink, type ReceivedFile } from '../../src/client/file-transfer.js';
import { tmpDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { fileChunk } from '../helpers/ws-client.js';

/** The receiving end against a scripted coordinator: what it sends back, saves and reports. */
function receiver(t: Parameters<typeof tmpDir>[0], maxFileBytes = 1024 * 1024) {
  const dir = join(tmpDir(t), 'downloads');
  const sent: Record<string, unknown>[] = [];
  const received: ReceivedFile[] = [];
  const failed: { name: string; reason: string }[] = [];
  const link: FileLink = {
    send: (frame) => (sent.push(frame as Record<string, unknown>), true),
    sendBinary: () => true,
    buffered: () => 0,
    maxFileBytes: () => maxFileBytes,
    log: pino({ level: 'silent' }),
    progress: () => undefined,
    sent: () => undefined,
    uploadFailed: () => undefined,
    received: (f) => received.push(f),
    receiveFailed: (f) => failed.push(f),
  };
  const files = new FileTransfers(link, dir);
  const start = (stream: number, name: string, size: number) =>
    files.onFrame({ type: 'file:start', stream, id: stream.toString(16).padStart(32, '0'), from: 'bob', name, size, to: ['alice'] });
  const data = (stream: number, bytes: Buffer) => files.onData(fileChunk(stream, bytes));
  const end = (stream: number, bytes: Buffer) => files.onFrame({ type: 'file:end', stream, sha256: createHash('sha256').update(bytes).digest('hex') });
  return { dir, files, sent, received, failed, start, data, end };
}

t.test('a file arrives, is acknowledged as it is written, checked and saved', async (t) => {
  const r = receiver(t);
  const body = Buffer.from('hello, file');
  r.start(1, 'hello.txt', body.length);
  r.data(1, body.subarray(0, 5));
  r.data(1, body.subarray(5));
  r.end(1, body);
  r.end(1, body); // a coordinator repeating itself changes nothing
  await waitFor(() => r.received.length === 1, 'the file');
  t.match(r.received[0], { from: 'bob', name: 'hello.txt', size: body.length, path: join(r.dir, 'hello.txt') });
  t.ok(readFileSync(join(r.dir, 'hello.txt')).equals(body));
  t.same(r.sent.at(-1), { type: 'file:done', stream: 1 });
  t.ok(r.sent.some((f) => f.type === 'file:ack' && f.received === body.length), 'everything written was acknowledged');
  r.data(1, Buffer.from('late')); // for a stream that is over: ignored
  t.equal(r.failed.length, 0);
});

t.test('hostile or broken streams: nothing is left under any name, and each says why', async (t) => {
  const r = receiver(t, 100);
  r.start(2, 'too-big.bin', 101);
  t.same(r.sent.at(-1), { type: 'file:fail', stream: 2, reason: "larger than the network's limit of 100 bytes" });

  r.start(3, 'long.bin', 4);
  r.data(3, Buffer.from('12345'));
  t.match(r.failed.at(-1), { name: 'long.bin', reason: /more data than the 4 bytes announced/ });

  r.start(4, 'tampered.bin', 3);
  r.data(4, Buffer.from('abc'));
  r.end(4, Buffer.from('abd'));
  await waitFor(() => r.failed.length === 2, 'the damaged file to fail');
  t.match(r.failed.at(-1), { name: 'tampered.bin', reason: /SHA-256 does not match/ });

  r.start(5, 'after.bin', 3);
  r.data(5, Buffer.from('abc'));
  r.end(5, Buffer.from('abc'));
  r.data(5, Buffer.from('d')); // data after the end: the file is not trusted
  await waitFor(() => r.received.length + r.failed.length === 3, 'an outcome');

  r.start(6, 'cut.bin', 10);
  r.data(6, Buffer.from('12345'));
  r.files.interrupt('the connection to the coordinator was lost');
  t.match(r.failed.at(-1), { name: 'cut.bin', reason: 'the connection to the coordinator was lost' });
  await r.files.cleanedUp();
  t.same(readdirSync(r.dir).filter((n) => n.endsWith('.part')), [], 'the temporary files are gone');
  t.notOk(readdirSync(r.dir).some((n) => ['too-big.bin', 'long.bin', 'tampered.bin', 'cut.bin'].includes(n)), 'no failed file under its name');
});

t.test('temporary files a crashed client left behind go before the first download; recent ones stay', async (t) => {
  const r = receiver(t);
  mkdirSync(r.dir, { recursive: true });
  const old = `.lanchat-${'a'.repeat(32)}.part`;
  const recent = `.lanchat-${'b'.repeat(32)}.part`;
  writeFileSync(join(r.dir, old), 'half of something');
  writeFileSync(join(r.dir, recent), 'another client is receiving this');
  writeFileSync(join(r.dir, '.lanchat-notes.part'), 'not ours: another name pattern');
  const twoHoursAgo = (Date.now() - 2 * 3600_000) / 1000;
  utimesSync(join(r.dir, old), twoHoursAgo, twoHoursAgo);
  const body = Buffer.from('x');
  r.start(9, 'x.txt', 1);
  r.data(9, body);
  r.end(9, body);
  await waitFor(() => r.received.length === 1, 'the file');
  t.same(readdirSync(r.dir).sort(), ['.lanchat-notes.part', recent, 'x.txt'].sort());
});
