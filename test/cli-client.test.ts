import t from 'tap';
import { createServer } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Proc, startServe, startClient, JsonClient } from './helpers/processes.js';
import { tmpDir } from './helpers/tmp.js';
import { waitFor } from './helpers/wait.js';

// `lanchat client`'s own behaviour at its edges (split from cli.test.ts so neither file runs long).

t.test('client: no password, bad address, nobody listening', async (t) => {
  const noPw = new Proc(['client', '--locked', '--connect', '127.0.0.1:9', '--user', 'a'], { LANCHAT_PASSWORD: '' });
  t.equal(await noPw.exited(), 2);
  t.match(noPw.stderr.join('\n'), /no password: set LANCHAT_PASSWORD or use --password-file/);
  const badAddr = new Proc(['client', '--locked', '--connect', 'nowhere', '--user', 'a'], { LANCHAT_PASSWORD: 'x' });
  t.equal(await badAddr.exited(), 2, 'a usage error exits 2');
  t.match(badAddr.stderr.join('\n'), /HOST:PORT/);
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  const port = (blocker.address() as { port: number }).port;
  await new Promise<void>((r) => blocker.close(() => r()));
  const refused = new JsonClient(`127.0.0.1:${port}`, 'a');
  t.equal(await refused.exited(), 1);
  t.match(refused.events, [{ type: 'error', code: 'connection_failed' }]);
});

t.test('a coordinator stalled past the dead-session bound (SIGSTOP: a long GC, a starved CPU) keeps its clients', async (t) => {
  const server = await startServe(t, tmpDir(t), ['--log-level', 'info']);
  const alice = await startClient(t, server.address, 'alice', { register: true });
  server.proc.kill('SIGSTOP');
  await new Promise((r) => setTimeout(r, 4_500)); // the stall itself: longer than the 3 s a silent session is given
  server.proc.kill('SIGCONT');
  await waitFor(() => server.proc.stderr.some((l) => l.includes('this process was stalled')), 'the coordinator to notice its stall', 15_000);
  alice.child.stdin!.write('{"type":"send","text":"still here","id":"s1"}\n');
  await alice.next((e) => e.type === 'ack' && e.id === 's1', 'the ack', 15_000);
  // (alice may have reconnected on her side: to her the coordinator was silent; she resumes.)
  t.notOk(server.proc.stderr.some((l) => l.includes('no pong')), 'nobody was dropped as silent: what they sent was waiting unread');
});

t.test('the client reports a lost coordinator and exits non-zero', async (t) => {
  const server = await startServe(t, tmpDir(t));
  const alice = await startClient(t, server.address, 'alice', { register: true, args: ['--reconnect-timeout', '1'] });
  server.proc.kill('SIGKILL');
  await alice.next((e) => e.type === 'reconnecting');
  t.equal(await alice.exited(), 1);
  await waitFor(() => alice.events.some((e) => e.type === 'error' && e.code === 'disconnected'), 'a disconnected error');
});

t.test('end of input: the client waits for the login replay, `who` answers and every ack', async (t) => {
  const server = await startServe(t, tmpDir(t));
  await startClient(t, server.address, 'bob', { register: true });
  const script = new JsonClient(server.address, 'alice', { register: true });
  t.teardown(() => script.kill('SIGKILL'));
  // 60 sends at the default 20/s: the client paces itself instead of being cut off.
  for (let i = 0; i < 60; i++) script.write({ type: 'send', text: `line ${i}`, id: i });
  script.write({ type: 'who' });
  script.end();
  t.equal(await script.exited(20_000), 0);
  const ev = script.events;
  t.equal(ev.filter((e) => e.type === 'ack').length, 60, 'every send acknowledged');
  t.equal(ev.filter((e) => e.type === 'error').length, 0, 'no rate_limited');
  t.ok(ev.filter((e) => e.type === 'presence').length >= 2, 'the login list and the who answer');
});

t.test('a reader that goes away (| head -1) ends the client quietly', async (t) => {
  const server = await startServe(t, tmpDir(t));
  const c = new JsonClient(server.address, 'alice', { register: true });
  t.teardown(() => c.kill('SIGKILL'));
  await c.next((e) => e.type === 'ready');
  c.child.stdout!.destroy();
  for (let i = 0; i < 5; i++) c.write({ type: 'send', text: `x${i}` });
  t.equal(await c.exited(), 1);
  t.same(c.stderr.filter((l) => /Error|at /.test(l)), [], 'no stack trace');
});

t.test('a damaged data directory is one clear line, never a stack trace or a fresh start', async (t) => {
  const { mkdirSync } = await import('node:fs');
  const dirs = {
    snapshotIsDir: (d: string) => mkdirSync(join(d, 'log', 'snapshot.jsonl'), { recursive: true }),
    badNodeId: (d: string) => (mkdirSync(d, { recursive: true }), writeFileSync(join(d, 'node-id'), 'not an id\n')),
    logIsFile: (d: string) => (mkdirSync(d, { recursive: true }), writeFileSync(join(d, 'log'), '')),
  };
  for (const [name, damage] of Object.entries(dirs)) {
    const dir = join(tmpDir(t), 'data');
    damage(dir);
    const p = new Proc(['serve', '--locked', '--host', '127.0.0.1', '--port', '0', '--data-dir', dir]);
    t.equal(await p.exited(), 1, name);
    t.equal(p.stderr.length, 1, `${name}: one line (${p.stderr.join(' | ')})`);
    t.match(p.stderr[0], /^lanchat: /, name);
  }
});
