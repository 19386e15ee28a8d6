import t from 'tap';
import { connect, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { Proc, JsonClient, startServe } from './helpers/processes.js';
import { TestSocket, loggedIn } from './helpers/ws-client.js';
import { insecure } from './helpers/identity.js';
import { tmpDir } from './helpers/tmp.js';
import { waitFor } from './helpers/wait.js';

// Issue #14: each finding of a hostile user on the LAN, with an ordinary account or none, against a real
// `lanchat serve`; the attackers come from addresses of their own (127.0.0.0/8 is all loopback on Linux).

/** Resolves with a login's outcome: `ok`, or the error code. */
async function login(url: string, user: string, password: string, localAddress: string): Promise<string> {
  const s = new TestSocket(url, { localAddress });
  try {
    await s.nextOf('welcome', 20_000);
    s.send({ type: 'auth:login', user, password });
    const answer = await s.next((f) => f.type === 'error' || f.type === 'auth:ok', `${user}'s answer`, 20_000);
    return answer.type === 'auth:ok' ? 'ok' : (answer.code as string);
  } finally {
    s.close();
  }
}

function rssMiB(pid: number): number {
  const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
  return kb / 1024;
}

function status(address: string): Promise<number> {
  return new Promise((resolve) => {
    const req = httpsRequest(`https://${address}/status`, { ...insecure, agent: false, timeout: 5_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
    req.end();
  });
}

t.test('a registration flood at bcrypt cost 12 leaves existing users\' logins working', async (t) => {
  const dir = tmpDir(t);
  const { address, proc } = await startServe(t, join(dir, 'node'), ['--bcrypt-cost', '12']);
  const url = `wss://${address}`;
  (await loggedIn(url, 'alice', { password: 'alice-pw' })).close();
  const started = Date.now();
  // Two hosts, 60 connections each, registering random names as fast as they are answered.
  let stop = false;
  let refused = 0;
  const flood = ['127.0.5.1', '127.0.5.2'].flatMap((host) =>
    Array.from({ length: 60 }, async (_, i) => {
      for (let n = 0; n < 20 && !stop; n++) {
        const s = new TestSocket(url, { localAddress: host });
        try {
          await s.nextOf('welcome', 20_000);
          s.send({ type: 'auth:register', user: `junk${host.at(-1)}x${i}x${n}`, password: 'x' });
          const a = await s.next((f) => f.type === 'error' || f.type === 'auth:ok', 'a registration answer', 30_000);
          if (a.type === 'error' && a.code === 'rate_limited') refused++;
        } catch {
          // closed under us: go on
        } finally {
          s.close();
        }
      }
    }),
  );
  await waitFor(() => refused >= 20, 'the flood to be refused');
  const outcomes: string[] = [];
  for (let i = 0; i < 6; i++) outcomes.push(await login(url, 'alice', 'alice-pw', '127.0.0.1'));
  stop = true;
  await Promise.all(flood);
  t.same(outcomes, Array(6).fill('ok'), 'alice logged in six times of six during the flood');
  const junk = proc.stdout.filter((l) => /registered junk/.test(l)).length;
  const allowed = 2 * (5 + Math.ceil(((Date.now() - started) / 60_000) * 5)); // five at once from each host, then five a minute
  t.ok(junk <= allowed, `${junk} junk accounts (at most ${allowed}: five at once from each host, then five a minute)`);
});

t.test("guesses at alice's password from one host never keep alice out", async (t) => {
  const dir = tmpDir(t);
  const { address } = await startServe(t, join(dir, 'node'));
  const url = `wss://${address}`;
  (await loggedIn(url, 'alice', { password: 'alice-pw' })).close();
  let stop = false;
  const guesses: string[] = [];
  const guesser = (async () => {
    for (let i = 0; i < 200 && !stop; i++) {
      guesses.push(await login(url, 'alice', `guess${i}`, '127.0.6.1'));
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  await waitFor(() => guesses.filter((g) => g === 'rate_limited').length >= 10, 'the guesser to be refused');
  const outcomes: string[] = [];
  for (let i = 0; i < 5; i++) outcomes.push(await login(url, 'alice', 'alice-pw', '127.0.0.1'));
  stop = true;
  await guesser;
  t.same(outcomes, Array(5).fill('ok'), 'alice got in five times of five');
  t.equal(guesses.filter((g) => g === 'auth_failed').length, 5, 'the guesser had its five tries, no more');
});

t.test('look-alike names are refused with the name they resemble', async (t) => {
  const dir = tmpDir(t);
  const { address } = await startServe(t, join(dir, 'node'));
  (await loggedIn(`wss://${address}`, 'alice')).close();
  for (const like of ['aIice', 'a1ice', 'alice.']) {
    const c = new JsonClient(address, like, { register: true });
    t.teardown(() => c.kill('SIGKILL'));
    const e = await c.next((x) => x.type === 'error', `${like}'s error`);
    t.match(e, { code: 'username_taken', message: new RegExp(`"${like.replace('.', '\\.')}" looks too much like "alice"`) });
    t.equal(await c.exited(), 1);
  }
});

t.test('many sessions and resumes of one account, each with a heavy replay: bounded, and the memory is given back', async (t) => {
  const dir = tmpDir(t);
  const { address, proc } = await startServe(t, join(dir, 'node'), ['--max-message-rate', '1000', '--registration-rate', '100']);
  const url = `wss://${address}`;
  const mallory = await loggedIn(url, 'mallory');
  const junk = '\u0001'.repeat(4_000);
  for (let i = 0; i < 400; i++) mallory.send({ type: 'chat:send', id: `j${i}`, to: [], text: junk });
  await mallory.next((f) => f.type === 'chat:ack' && f.id === 'j399', 'the last ack', 60_000);
  const token = mallory.all('auth:ok')[0]!.token as string;
  mallory.close();
  await waitFor(() => proc.stdout.some((l) => /mallory left/.test(l)), 'mallory to leave');
  const pid = proc.child.pid!;
  const base = rssMiB(pid);
  // 211 resumes from one address, none reading its replay.
  const started = Date.now();
  const sockets: TestSocket[] = [];
  const codes: string[] = [];
  for (let i = 0; i < 211; i++) {
    const s = new TestSocket(url, { localAddress: '127.0.7.1' });
    const a = await s.nextOf('welcome').then(
      () => (s.send({ type: 'auth:resume', user: 'mallory', token }), s.next((f) => f.type === 'error' || f.type === 'auth:ok', 'a resume answer')),
      () => ({ type: 'error', code: 'refused at accept' }),
    );
    codes.push(a.type === 'auth:ok' ? 'ok' : (a.code as string));
    if (a.type === 'auth:ok') (sockets.push(s), s.tls!.pause());
    else s.close(); // refused: a resumer tries again later
  }
  const peak = rssMiB(pid);
  t.same(codes.slice(0, 11), [...Array(10).fill('ok'), 'too_many_sessions'], 'ten sessions, as many as an account may have (more only as silent ones are dropped)');
  const allowance = 100 + Math.ceil(((Date.now() - started) / 1000) * 2); // a hundred at once, then two a second
  const limited = codes.filter((c) => c === 'rate_limited').length;
  t.ok(limited >= 211 - allowance && limited > 0, `past a hundred resumes, the address is refused (${limited} of 211; allowed ${allowance})`);
  for (const s of sockets) s.close();
  await waitFor(() => proc.stdout.filter((l) => /mallory left/.test(l)).length >= 2, 'the sessions to leave', 20_000);
  // The coordinator collects its garbage when it next allocates; give it some work.
  for (let i = 0; i < 5; i++) (await loggedIn(url, `after${i}`)).close();
  const after = await waitFor(() => {
    const now = rssMiB(pid);
    return now - base <= 20 && now;
  }, 'the memory to come back within 20 MiB', 20_000).catch(() => rssMiB(pid));
  t.ok(after - base <= 20, `coordinator RSS: ${base.toFixed(0)} MiB before, ${peak.toFixed(0)} with them, ${after.toFixed(0)} after (within 20 MiB)`);
});

t.test('idle sockets from many addresses cannot take a coordinator with 1,024 descriptors: good logins and /status get in', async (t) => {
  const dir = tmpDir(t);
  const proc = new Proc(['serve', '--locked', '--host', '127.0.0.1', '--port', '0', '--data-dir', join(dir, 'node'), '--bcrypt-cost', '4', '--registration-rate', '100'], {}, ['prlimit', '--nofile=1024:1024', '--']);
  t.teardown(() => proc.kill('SIGKILL'));
  const address = (await proc.line(/coordinator for network .* at (127\.0\.0\.1:\d+)/))[1]!;
  const [host, port] = [address.split(':')[0]!, Number(address.split(':')[1])];
  const url = `wss://${address}`;
  const users = Array.from({ length: 30 }, (_, i) => `good${i}`);
  for (const u of users) (await loggedIn(url, u)).close();
  // 20 addresses × 60 idle sockets, each reconnecting as soon as it is closed (at most 50 times each).
  let stop = false;
  let opened = 0;
  const live = new Set<Socket>();
  const hold = (from: string, left: number): void => {
    if (stop || left === 0) return;
    const s = connect({ host, port, localAddress: from });
    live.add(s);
    opened++;
    s.on('error', () => undefined);
    s.on('close', () => {
      live.delete(s);
      setTimeout(() => hold(from, left - 1), 20);
    });
  };
  for (let a = 1; a <= 20; a++) for (let i = 0; i < 60; i++) hold(`127.0.8.${a}`, 50);
  t.teardown(() => {
    stop = true;
    for (const s of live) s.destroy();
  });
  await waitFor(() => opened >= 1_200 && live.size >= 400, 'the idle sockets to be held');
  const outcomes: string[] = [];
  for (const [i, u] of users.entries()) outcomes.push(await login(url, u, `pw-${u}`, `127.0.9.${i + 1}`));
  t.equal(outcomes.filter((o) => o === 'ok').length, 30, `30 of 30 good logins got in (${outcomes.join(' ')})`);
  t.equal(await status(address), 200, '/status answers');
  t.equal(proc.exitCode, undefined, 'the coordinator is alive');
  const limits = readFileSync(`/proc/${proc.child.pid!}/limits`, 'utf8');
  t.match(limits, /Max open files\s+1024\s+1024/, 'with 1,024 descriptors');
});

t.test('a node raises its soft descriptor limit to the hard one', async (t) => {
  const dir = tmpDir(t);
  const proc = new Proc(['serve', '--locked', '--host', '127.0.0.1', '--port', '0', '--data-dir', join(dir, 'node'), '--bcrypt-cost', '4'], {}, ['prlimit', '--nofile=512:4096', '--']);
  t.teardown(() => proc.kill('SIGKILL'));
  await proc.line(/coordinator for network/);
  t.match(readFileSync(`/proc/${proc.child.pid!}/limits`, 'utf8'), /Max open files\s+4096\s+4096/, 'soft 512 became 4,096');
});
