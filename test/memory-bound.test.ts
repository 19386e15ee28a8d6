import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServe } from './helpers/processes.js';
import { TestSocket, fileChunk, loggedIn } from './helpers/ws-client.js';
import { tmpDir } from './helpers/tmp.js';
import { waitFor } from './helpers/wait.js';

// Issue #14: the README states the coordinator's memory bound as a formula,
//   RSS ≤ base + 80 KiB × connections + 9.3 MiB × sessions + 4 MiB × transfers,
// and this holds a real coordinator where each term is at its worst (connections that never log in,
// sessions that read nothing while a flood and a heavy replay are sent to them, transfers whose
// recipients read nothing) and checks the bound at every moment, then that the memory is given back.

const KiB = 1024;
const MiB = 1024 * 1024;
const PER_CONNECTION = 80 * KiB;
const PER_SESSION = 9.3 * MiB;
const PER_TRANSFER = 4 * MiB;

function rss(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) * KiB;
}

t.test('the coordinator stays within its memory formula at its limits, and gives the memory back', { timeout: 180_000 }, async (t) => {
  const dir = tmpDir(t);
  const { address, proc } = await startServe(t, join(dir, 'node'), ['--max-message-rate', '10000', '--registration-rate', '100', '--log-level', 'info']);
  const url = `wss://${address}`;
  const pid = proc.child.pid!;
  const junk = '\u0001'.repeat(4_000); // 24 kB as JSON
  // A history that makes every login replay its 1 MiB bound.
  const mallory = await loggedIn(url, 'mallory');
  t.teardown(() => mallory.close());
  for (let i = 0; i < 100; i++) mallory.send({ type: 'chat:send', id: `h${i}`, to: [], text: junk });
  await mallory.next((f) => f.type === 'chat:ack' && f.id === 'h99', 'the history', 30_000);
  const readers = Array.from({ length: 10 }, (_, i) => `reader${i}`);
  for (const u of readers) (await loggedIn(url, u)).close();
  const [alice, bob, carol, dave] = (await Promise.all(['alice', 'bob', 'carol', 'dave'].map((u) => loggedIn(url, u)))) as [TestSocket, TestSocket, TestSocket, TestSocket];
  t.teardown(() => [alice, bob, carol, dave].forEach((s) => s.close()));
  const base = rss(pid);
  let peak = base;
  const sampler = setInterval(() => (peak = Math.max(peak, rss(pid))), 50);
  t.teardown(() => clearInterval(sampler));

  // 200 connections that never log in, from four addresses.
  const idle: TestSocket[] = [];
  for (let a = 1; a <= 4; a++) for (let i = 0; i < 50; i++) idle.push(new TestSocket(url, { localAddress: `127.0.11.${a}` }));
  t.teardown(() => idle.forEach((s) => s.close()));
  await Promise.all(idle.map((s) => s.nextOf('welcome', 30_000)));
  // Ten sessions that read nothing past their login: a heavy replay, then a flood, is sent to them. They
  // write a frame every 200 ms, so they look alive (their pongs wait behind what they do not read) and
  // stay until the slow-reader rule cuts them off at their limit: each holds its worst.
  const stalled = await Promise.all(
    readers.map(async (u) => {
      const s = new TestSocket(url);
      await s.nextOf('welcome');
      s.tls!.pause();
      s.send({ type: 'auth:login', user: u, password: `pw-${u}` });
      return s;
    }),
  );
  // Two transfers whose recipients read nothing: each holds its window. They too look alive: on a loaded
  // machine the flood below takes longer than the 3 s after which a session that says nothing is dead.
  bob.tls!.pause();
  dave.tls!.pause();
  const unread = [...stalled, bob, dave];
  let lastBeat = Date.now();
  let worstGap = 0;
  const keepAlive = setInterval(() => {
    worstGap = Math.max(worstGap, Date.now() - lastBeat);
    lastBeat = Date.now();
    unread.forEach((s) => s.send({ type: 'presence:get' }));
  }, 200);
  t.teardown(() => (clearInterval(keepAlive), stalled.forEach((s) => s.close())));
  const windows = [
    [alice, 'bob'],
    [carol, 'dave'],
  ] as const;
  for (const [from, to] of windows) {
    from.send({ type: 'file:offer', id: `f-${to}`, name: 'big.bin', size: 64 * MiB, to: [to] });
    const accepted = await from.next((f) => f.type === 'file:accepted', 'the offer taken');
    for (let sent = 0; sent < 4 * MiB; sent += 256 * KiB) from.send(fileChunk(accepted.stream as number, Buffer.alloc(256 * KiB, 1)));
  }
  // The flood: 12 MB of broadcasts, past every stalled reader's 8 MiB.
  for (let i = 0; i < 500; i++) mallory.send({ type: 'chat:send', id: `f${i}`, to: [], text: junk });
  await mallory.next((f) => f.type === 'chat:ack' && f.id === 'f499', 'the flood', 60_000);
  const logged = () => proc.stderr.flatMap((l) => {
    try {
      return [JSON.parse(l) as { msg?: string; user?: string; stalledMs?: number }];
    } catch {
      return [];
    }
  });
  // The stalled readers' own cut-offs: bob and dave are cut off too, and must not stand in for the last of them.
  const cutOff = () => logged().filter((l) => l.msg?.startsWith('client too slow') && readers.includes(l.user ?? '')).length;
  await waitFor(() => cutOff() >= stalled.length || undefined, 'every stalled reader cut off as too slow (not as silent)', 30_000);
  clearInterval(keepAlive);
  const dropped = logged().filter((l) => l.msg?.startsWith('no pong')).map((l) => l.user);
  const stalls = logged().filter((l) => l.stalledMs !== undefined).map((l) => l.stalledMs);
  t.same(dropped, [], `none was dropped as silent before reaching its limit (keep-alive: ${worstGap} ms at worst between beats; coordinator stalls: ${stalls.join(', ') || 'none'} ms)`);

  const sessions = 10 + 5; // the stalled readers; mallory, alice, bob, carol, dave
  const bound = base + PER_CONNECTION * (200 + sessions) + PER_SESSION * sessions + PER_TRANSFER * windows.length;
  const mib = (n: number) => (n / MiB).toFixed(0);
  t.ok(peak <= bound, `peak ${mib(peak)} MiB ≤ base ${mib(base)} + 215 × 80 KiB + 15 × 9.3 MiB + 2 × 4 MiB = ${mib(bound)} MiB`);

  // They leave: the memory comes back (within 20 MiB) once the coordinator collects.
  idle.forEach((s) => s.close());
  stalled.forEach((s) => s.close());
  bob.close();
  dave.close();
  await waitFor(() => proc.stdout.some((l) => /dave left/.test(l)), 'dave to leave');
  for (let i = 0; i < 5; i++) (await loggedIn(url, `after${i}`)).close();
  let after = rss(pid);
  // What the burst took comes back when V8's memory reducer shrinks the heap, once the process has been idle
  // a while: measured at ~40 s after start on Node 20, and at most its watchdog's 100 s after the last full
  // collection. Until then the allocator keeps the freed buffers' pages (+20–33 MiB measured), and what the
  // collector has not yet reached (12–25 MiB of buffers). The bound is the watchdog's, not a budget.
  await waitFor(() => (after = rss(pid)) - base <= 20 * MiB, 'the memory to come back within 20 MiB', 110_000).catch(() => undefined);
  t.ok(after - base <= 20 * MiB, `after: ${mib(after)} MiB (base ${mib(base)}, within 20 MiB)`);
});
