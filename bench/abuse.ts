import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { TestSocket, fileChunk, loggedIn } from '../test/helpers/ws-client.js';
import { percentile, round } from './stats.js';

/**
 * Good users during attacks (issue #14): a coordinator at the real bcrypt cost (12), and one attack at a
 * time, each as a hostile user on the LAN would run it from addresses of its own (127.0.0.0/8 is all
 * loopback): a registration flood, password guessing at one user (from one host and from twenty), 211
 * token resumes with a heavy replay, 20 hosts × 60 idle sockets against 1,024 descriptors, and trickling
 * file transfers. Meanwhile good users log in, one after another from their own addresses, and the
 * bench reports the p50/p99 of their logins (connect to `auth:ok`) and how many failed; during the file
 * attack it is a good user's 1 MiB file instead.
 */
export interface AbuseRow {
  attack: string;
  good: number;
  failed: number;
  p50_ms: number;
  p95_ms: number;
  p99_ms: number;
}

const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));
const JUNK = '\u0001'.repeat(4_000);

interface Coordinator {
  url: string;
  child: ChildProcess;
}

async function startCoordinator(dir: string, fds?: number): Promise<Coordinator> {
  const args = [CLI, 'serve', '--locked', '--host', '127.0.0.1', '--port', '0', '--data-dir', dir, '--max-message-rate', '10000'];
  const child = fds === undefined ? spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'ignore'] }) : spawn('prlimit', [`--nofile=${fds}:${fds}`, '--', process.execPath, ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
  const address = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.on('line', (l) => {
      const m = /coordinator for network .* at (127\.0\.0\.1:\d+)/.exec(l);
      if (m) resolve(m[1]!);
    });
    child.once('exit', () => reject(new Error('the coordinator exited before it served')));
  });
  child.stdout!.resume();
  return { url: `wss://${address}`, child };
}

/** Good users log in `n` times, one at a time, each from an address of its own: the time of each, or NaN if refused. */
async function goodLogins(url: string, users: string[], n: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const user = users[i % users.length]!;
    const started = performance.now();
    const s = new TestSocket(url, { localAddress: `127.0.20.${(i % 200) + 1}` });
    try {
      await s.nextOf('welcome', 20_000);
      s.send({ type: 'auth:login', user, password: `pw-${user}` });
      const a = await s.next((f) => f.type === 'auth:ok' || f.type === 'error', 'the answer', 20_000);
      times.push(a.type === 'auth:ok' ? performance.now() - started : Number.NaN);
    } catch {
      times.push(Number.NaN);
    } finally {
      s.close();
    }
  }
  return times;
}

function row(attack: string, times: number[]): AbuseRow {
  const ok = times.filter((x) => !Number.isNaN(x));
  return { attack, good: ok.length, failed: times.length - ok.length, p50_ms: round(percentile(ok, 50)), p95_ms: round(percentile(ok, 95)), p99_ms: round(percentile(ok, 99)) };
}

/** Runs `attack` (which runs until `stop()` says so) while good users log in. */
async function during(url: string, users: string[], n: number, attack: (stopped: () => boolean) => Promise<unknown>): Promise<number[]> {
  let stop = false;
  const running = attack(() => stop);
  await new Promise((r) => setTimeout(r, 2_000)); // the attack under way
  const times = await goodLogins(url, users, n);
  stop = true;
  await running;
  return times;
}

/** Sockets that each try `step` until stopped, at most `rounds` times. */
function swarm(hosts: string[], perHost: number, rounds: number, stopped: () => boolean, step: (from: string, i: number, n: number) => Promise<void>): Promise<unknown> {
  return Promise.all(hosts.flatMap((host) => Array.from({ length: perHost }, async (_, i) => {
    for (let n = 0; n < rounds && !stopped(); n++) await step(host, i, n).catch(() => undefined);
  })));
}

async function answer(url: string, from: string, frame: object): Promise<void> {
  const s = new TestSocket(url, { localAddress: from });
  try {
    await s.nextOf('welcome', 20_000);
    s.send(frame);
    await s.next((f) => f.type === 'error' || f.type === 'auth:ok', 'an answer', 30_000);
  } finally {
    s.close();
  }
}

export async function benchAbuse(logins: number, log: (s: string) => void): Promise<AbuseRow[]> {
  const root = mkdtempSync(join(tmpdir(), 'lanchat-bench-abuse-'));
  const rows: AbuseRow[] = [];
  const users = ['alice', 'bob', 'carol'];
  let c: Coordinator | undefined;
  try {
    c = await startCoordinator(join(root, 'n'));
    const { url } = c;
    for (const u of users) (await loggedIn(url, u, { localAddress: '127.0.19.1' })).close();
    const mallory = await loggedIn(url, 'mallory', { localAddress: '127.0.19.2' });
    for (let i = 0; i < 400; i++) mallory.send({ type: 'chat:send', id: `j${i}`, to: [], text: JUNK });
    await mallory.next((f) => f.type === 'chat:ack' && f.id === 'j399', 'the junk history', 60_000);
    const token = mallory.all('auth:ok')[0]!.token as string;
    mallory.close();

    rows.push(row('none', await goodLogins(url, users, logins)));
    log(`  no attack: ${JSON.stringify(rows.at(-1))}`);
    rows.push(row('registration flood (2 hosts × 60)', await during(url, users, logins, (stopped) =>
      swarm(['127.0.21.1', '127.0.21.2'], 60, 20, stopped, (from, i, n) => answer(url, from, { type: 'auth:register', user: `j${from.at(-1)}x${i}x${n}`, password: 'x' }))),
    ));
    log(`  registration flood: ${JSON.stringify(rows.at(-1))}`);
    rows.push(row('guessing at the users (1 host, every 100 ms)', await during(url, users, logins, (stopped) =>
      swarm(['127.0.22.1'], 1, 600, stopped, async (from, _i, n) => {
        await answer(url, from, { type: 'auth:login', user: users[n % users.length]!, password: `guess${n}` });
        await new Promise((r) => setTimeout(r, 100));
      })),
    ));
    log(`  guessing from one host: ${JSON.stringify(rows.at(-1))}`);
    rows.push(row('guessing at the users (20 hosts)', await during(url, users, logins, (stopped) =>
      swarm(Array.from({ length: 20 }, (_, i) => `127.0.23.${i + 1}`), 1, 300, stopped, async (from, _i, n) => {
        await answer(url, from, { type: 'auth:login', user: users[n % users.length]!, password: `guess${n}` });
        await new Promise((r) => setTimeout(r, 100));
      })),
    ));
    log(`  guessing from twenty hosts: ${JSON.stringify(rows.at(-1))}`);
    rows.push(row('211 resumes, heavy replays unread', await during(url, users, logins, async () => {
      const held: TestSocket[] = [];
      for (let i = 0; i < 211; i++) {
        const s = new TestSocket(url, { localAddress: '127.0.24.1' });
        held.push(s);
        await s.nextOf('welcome', 20_000).then(() => (s.send({ type: 'auth:resume', user: 'mallory', token }), s.tls!.pause())).catch(() => undefined);
      }
      await new Promise((r) => setTimeout(r, 3_000));
      for (const s of held) s.close();
    })));
    log(`  resumes: ${JSON.stringify(rows.at(-1))}`);
    rows.push(await fileTrickle(url, log));
  } finally {
    c?.child.kill('SIGKILL');
  }
  // Descriptors: a coordinator of its own, with 1,024.
  try {
    c = await startCoordinator(join(root, 'fd'), 1_024);
    const { url } = c;
    for (const u of users) (await loggedIn(url, u, { localAddress: '127.0.19.1' })).close();
    const [host, port] = [new URL(url).hostname, Number(new URL(url).port)];
    rows.push(row('20 hosts × 60 idle sockets, 1,024 descriptors', await during(url, users, logins, async (stopped) => {
      const live = new Set<Socket>();
      const hold = (from: string, left: number): void => {
        if (stopped() || left === 0) return;
        const s = connect({ host, port, localAddress: from });
        live.add(s);
        s.on('error', () => undefined);
        s.on('close', () => (live.delete(s), setTimeout(() => hold(from, left - 1), 20)));
      };
      for (let a = 1; a <= 20; a++) for (let i = 0; i < 60; i++) hold(`127.0.25.${a}`, 100);
      while (!stopped()) await new Promise((r) => setTimeout(r, 100));
      for (const s of live) s.destroy();
    })));
    log(`  idle sockets: ${JSON.stringify(rows.at(-1))}`);
  } finally {
    c?.child.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  }
  return rows;
}

/** 16 throwaway accounts on 4 hosts × 4 offers of 100 MB, a byte per stream; meanwhile a good user's 1 MiB files, one after another. */
async function fileTrickle(url: string, log: (s: string) => void): Promise<AbuseRow> {
  const sink = await loggedIn(url, 'sink', { localAddress: '127.0.26.1' });
  const got = new Map<number, number>();
  sink.onBinary = (buf) => {
    const stream = buf.readUInt32BE(0);
    got.set(stream, (got.get(stream) ?? 0) + buf.length - 4);
    sink.send({ type: 'file:ack', stream, received: got.get(stream) });
  };
  // Four hosts with four throwaway accounts each (new accounts are limited per address).
  // One after another: the coordinator queues 16 new accounts beyond the one it hashes.
  const throwaways: TestSocket[] = [];
  for (let i = 0; i < 16; i++) throwaways.push(await loggedIn(url, `throwaway${i}`, { localAddress: `127.0.26.${2 + (i % 4)}` }));
  for (const [i, s] of throwaways.entries()) for (let j = 0; j < 4; j++) s.send({ type: 'file:offer', id: `t${i}x${j}`, name: 'big.bin', size: 100 * 1024 * 1024, to: ['sink'] });
  await new Promise((r) => setTimeout(r, 1_000));
  for (const s of throwaways) for (const f of s.all('file:accepted')) s.send(fileChunk(f.stream as number, Buffer.from('x')));
  const alice = await loggedIn(url, 'alice', { password: 'pw-alice', register: false });
  const bob = await loggedIn(url, 'bob', { password: 'pw-bob', register: false });
  let bobGot = 0;
  bob.onBinary = (buf) => {
    bobGot += buf.length - 4;
    bob.send({ type: 'file:ack', stream: buf.readUInt32BE(0), received: bobGot });
  };
  const times: number[] = [];
  const size = 1024 * 1024;
  for (let i = 0; i < 10; i++) {
    const started = performance.now();
    bobGot = 0;
    alice.send({ type: 'file:offer', id: `good${i}`, name: 'report.pdf', size, to: ['bob'] });
    const a = await alice.next((f) => (f.type === 'file:accepted' && f.id === `good${i}`) || (f.type === 'error' && f.ref === `good${i}`), 'the offer answered');
    if (a.type !== 'file:accepted') {
      times.push(Number.NaN);
      continue;
    }
    for (let at = 0; at < size; at += 256 * 1024) alice.send(fileChunk(a.stream as number, Buffer.alloc(256 * 1024, 7)));
    const sha = createHash('sha256').update(Buffer.alloc(size, 7)).digest('hex');
    alice.send({ type: 'file:end', stream: a.stream, sha256: sha });
    const deadline = Date.now() + 20_000;
    while (bobGot < size && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    bob.send({ type: 'file:done', stream: a.stream });
    await alice.next((f) => f.type === 'file:sent', 'file:sent').catch(() => undefined);
    times.push(bobGot === size ? performance.now() - started : Number.NaN);
  }
  for (const s of [sink, alice, bob, ...throwaways]) s.close();
  const r = row('file slots held by trickling transfers (good: a 1 MiB file)', times);
  log(`  file trickle: ${JSON.stringify(r)}`);
  return r;
}
