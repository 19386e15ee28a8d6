import t from 'tap';
import { createServer } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Proc, startServe, startClient, JsonClient } from './helpers/processes.js';
import { tmpDir } from './helpers/tmp.js';
import { waitFor } from './helpers/wait.js';

const texts = (c: JsonClient) => c.events.filter((e) => e.type === 'message').map((e) => e.text);

t.test('--help, --version and sub-command help', async (t) => {
  const v = new Proc(['--version']);
  t.equal(await v.exited(), 0);
  t.match(v.stdout[0], /^\d+\.\d+\.\d+$/);
  for (const args of [['--help'], ['serve', '--help'], ['client', '--help']]) {
    const p = new Proc(args);
    t.equal(await p.exited(), 0, args.join(' '));
    t.match(p.stdout.join('\n'), /Usage: lanchat/);
  }
  const bad = new Proc(['serve', '--port', 'seventy']);
  t.equal(await bad.exited(), 2);
  t.match(bad.stderr.join('\n'), /--port.*integer/);
  const badSize = new Proc(['serve', '--max-file-size', 'huge']);
  t.equal(await badSize.exited(), 2);
  t.match(badSize.stderr.join('\n'), /--max-file-size.*100MiB/);
  // An empty password file would leave the network open while the user meant to close it.
  const dir = tmpDir(t);
  const empty = join(dir, 'empty');
  writeFileSync(empty, '\nsecret on the second line\n');
  const open = new Proc(['serve', '--locked', '--host', '127.0.0.1', '--port', '0', '--data-dir', join(dir, 'data'), '--network-password-file', empty]);
  t.equal(await open.exited(), 2);
  t.match(open.stderr.join('\n'), /holds no password: put it on the first line/);
});

t.test('serve + three clients: broadcast, one, several, presence, offline, history, restart', async (t) => {
  const dataDir = tmpDir(t);
  const server = await startServe(t, dataDir);
  const alice = await startClient(t, server.address, 'alice', { register: true });
  t.match(alice.events[0], { type: 'ready', user: 'alice', coordinator: server.address, limits: { maxTextChars: 4000 } });
  const bob = await startClient(t, server.address, 'bob', { register: true });
  const carol = await startClient(t, server.address, 'carol', { register: true });
  await alice.next((e) => e.type === 'presence' && (e.online as string[]).length === 3, 'three online');
  await server.proc.line(/^carol joined/);
  t.notOk(server.proc.stdout.some((l) => l.includes('pw-')), 'no password in the server output');

  alice.write({ type: 'send', text: 'hello all', id: 'a1' });
  t.match(await alice.next((e) => e.type === 'ack'), { id: 'a1' });
  alice.write({ type: 'send', text: 'just bob', to: ['bob'], id: 2 });
  t.match(await alice.next((e) => e.type === 'ack'), { id: 2 });
  bob.write({ type: 'send', text: 'alice and carol', to: ['alice', 'carol'] });
  await bob.next((e) => e.type === 'ack');
  carol.write({ type: 'send', text: 'x', to: ['nobody'], id: 'bad' });
  t.match(await carol.next((e) => e.type === 'error'), { code: 'unknown_recipient', id: 'bad' });
  carol.write('this is not json');
  t.match(await carol.next((e) => e.type === 'error'), { code: 'bad_input' });
  // Over the announced limits: refused with the send's id, not left waiting for an ack (end of input would hang).
  carol.write({ type: 'send', text: 'x'.repeat(4001), id: 'long' });
  t.match(await carol.next((e) => e.type === 'error'), { code: 'text_too_long', id: 'long', message: /4001 characters; the limit is 4000/ });
  carol.write({ type: 'send', text: '€'.repeat(300_000), id: 'huge' }); // 900 KB of UTF-8: past the frame limit too
  t.match(await carol.next((e) => e.type === 'error'), { code: 'text_too_long', id: 'huge' });
  carol.write({ type: 'who' });
  t.match(await carol.next((e) => e.type === 'presence'), { online: ['alice', 'bob', 'carol'] });
  carol.write({ type: 'send', text: 'done' });
  for (const c of [alice, bob, carol]) await c.next((e) => e.type === 'message' && e.text === 'done');
  t.same(texts(alice), ['hello all', 'just bob', 'alice and carol', 'done']);
  t.same(texts(bob), ['hello all', 'just bob', 'alice and carol', 'done']);
  t.same(texts(carol), ['hello all', 'alice and carol', 'done']);
  t.match(bob.events.find((e) => e.text === 'just bob'), { from: 'alice', to: ['bob'] });

  // bob leaves; alice writes to him while he is away.
  bob.write({ type: 'quit' });
  bob.write({ type: 'send', text: 'after quit' }); // nothing after quit is sent
  t.equal(await bob.exited(), 0);
  await alice.next((e) => e.type === 'presence' && !(e.online as string[]).includes('bob'), 'bob offline');
  alice.write({ type: 'send', text: 'for offline bob', to: ['bob'] });
  await alice.next((e) => e.type === 'ack');
  alice.end(); // end of input: quit once acknowledged
  t.equal(await alice.exited(), 0);

  // Restart the server: accounts and history intact.
  server.proc.kill('SIGTERM');
  t.equal(await server.proc.exited(), 0, 'clean shutdown on SIGTERM exits 0');
  const again = await startServe(t, dataDir);
  const bob2 = await startClient(t, again.address, 'bob');
  await bob2.next((e) => e.type === 'message' && e.text === 'for offline bob', 'offline message after restart');
  t.same(texts(bob2), ['hello all', 'just bob', 'alice and carol', 'done', 'for offline bob'], 'no "after quit"');
  t.equal(bob2.events[0]!.type, 'ready', 'ready comes before the replay');
  t.ok(bob2.events.filter((e) => e.type === 'message').every((e) => e.replay === true));
  const wrong = new JsonClient(again.address, 'alice', { password: 'nope' });
  t.equal(await wrong.exited(), 1);
  t.match(wrong.events.at(-1), { type: 'error', code: 'auth_failed' });
});

t.test('a user logged in from two places gets messages in both', async (t) => {
  const server = await startServe(t, tmpDir(t));
  const a1 = await startClient(t, server.address, 'alice', { register: true });
  const a2 = await startClient(t, server.address, 'alice');
  const bob = await startClient(t, server.address, 'bob', { register: true });
  bob.write({ type: 'send', text: 'to both alices', to: ['alice'] });
  await a1.next((e) => e.text === 'to both alices');
  await a2.next((e) => e.text === 'to both alices');
  t.pass();
});

t.test('network password from the environment or a file', async (t) => {
  const dir = tmpDir(t);
  const pwFile = join(dir, 'netpw');
  writeFileSync(pwFile, 'sesame\n');
  const server = await startServe(t, join(dir, 'data'), ['--network-password-file', pwFile]);
  await server.proc.line(/network password required/);
  const without = new JsonClient(server.address, 'alice', { register: true });
  t.equal(await without.exited(), 1);
  t.match(without.events.at(-1), { type: 'error', code: 'network_password' });
  const wrong = new JsonClient(server.address, 'alice', { register: true, env: { LANCHAT_NETWORK_PASSWORD: 'open' } });
  t.equal(await wrong.exited(), 1);
  t.match(wrong.events.at(-1), { type: 'error', code: 'network_password' });
  await startClient(t, server.address, 'alice', { register: true, env: { LANCHAT_NETWORK_PASSWORD: 'sesame' } });
});

t.test('node password: only nodes that know it hold a replica; users need not know it', async (t) => {
  const dir = tmpDir(t);
  const server = await startServe(t, join(dir, 'n1'), [], { LANCHAT_NODE_PASSWORD: 'cluster-key' });
  await server.proc.line(/node password required from every node/);
  const node = (name: string, env: NodeJS.ProcessEnv) => {
    const p = new Proc(['serve', '--locked', '--host', '127.0.0.1', '--port', '0', '--data-dir', join(dir, name), '--bcrypt-cost', '4', '--join', server.address], env);
    t.teardown(() => p.kill('SIGKILL'));
    return p;
  };
  const trusted = node('n2', { LANCHAT_NODE_PASSWORD: 'cluster-key' });
  await trusted.line(new RegExp(`^lanchat standby .* coordinator at ${server.address}`));
  const stranger = node('n3', { LANCHAT_NODE_PASSWORD: 'guess' });
  await waitFor(() => stranger.stderr.some((l) => l.includes('cannot stand by for the coordinator') && l.includes('node password does not match')), 'the refusal, in the log');
  const anonymous = node('n4', { LANCHAT_NODE_PASSWORD: '' });
  await waitFor(() => anonymous.stderr.some((l) => l.includes('has no node password, so it cannot join')), 'the refusal of a node without it');
  t.notOk([...stranger.stdout, ...anonymous.stdout].some((l) => l.startsWith('lanchat standby')), 'neither became a standby');
  const alice = await startClient(t, server.address, 'alice', { register: true }); // chat users need only their own password
  alice.end();
  t.equal(await alice.exited(), 0);
  // Refused nodes on this machine use up no login attempts of its users.
  await startClient(t, server.address, 'alice');

  // The other way round: a coordinator without the node password gets nothing from a node that has it.
  const rogue = await startServe(t, join(dir, 'rogue'), [], { LANCHAT_NODE_PASSWORD: '' });
  const towardRogue = new Proc(['serve', '--locked', '--host', '127.0.0.1', '--port', '0', '--data-dir', join(dir, 'n6'), '--bcrypt-cost', '4', '--join', rogue.address], { LANCHAT_NODE_PASSWORD: 'cluster-key' });
  t.teardown(() => towardRogue.kill('SIGKILL'));
  await waitFor(() => towardRogue.stderr.some((l) => l.includes('cannot stand by for the coordinator') && l.includes('admits no nodes')), 'no admission from a coordinator that does not know the node password');
  t.notOk(towardRogue.stdout.some((l) => l.startsWith('lanchat standby')), 'it does not stand by for it');
});

t.test('port in use: one clear line, non-zero exit, no stack trace', async (t) => {
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  t.teardown(() => blocker.close());
  const port = (blocker.address() as { port: number }).port;
  const p = new Proc(['serve', '--locked', '--host', '127.0.0.1', '--port', String(port), '--data-dir', tmpDir(t)]);
  t.equal(await p.exited(), 1);
  t.same(p.stderr, [`lanchat: port ${port} is already in use on 127.0.0.1 (is another lanchat running? try --port 0)`]);
});

t.test('a data directory in use by another server is refused', async (t) => {
  const dir = tmpDir(t);
  await startServe(t, dir);
  const second = new Proc(['serve', '--locked', '--host', '127.0.0.1', '--port', '0', '--data-dir', dir]);
  t.equal(await second.exited(), 1);
  t.match(second.stderr.join('\n'), /^lanchat: data directory .* is in use by another lanchat process/);
});

t.test('a corrupt data file stops the server with a clear message', async (t) => {
  const dir = tmpDir(t);
  const server = await startServe(t, dir);
  const alice = await startClient(t, server.address, 'alice', { register: true });
  alice.write({ type: 'send', text: 'one' });
  await alice.next((e) => e.type === 'ack');
  alice.write({ type: 'send', text: 'two' });
  await alice.next((e) => e.type === 'ack');
  server.proc.kill('SIGKILL');
  await server.proc.exited();
  const seg = join(dir, 'log', 'log-000001.jsonl');
  const { readFileSync } = await import('node:fs');
  writeFileSync(seg, readFileSync(seg, 'utf8').replace('"one"', '"0ne"'));
  const p = new Proc(['serve', '--locked', '--host', '127.0.0.1', '--port', '0', '--data-dir', dir]);
  t.equal(await p.exited(), 1);
  t.match(p.stderr.join('\n'), /^lanchat: data file .*log-000001\.jsonl is corrupt: bad record at byte \d+: checksum mismatch; refusing to start/);
  t.notMatch(p.stderr.join('\n'), /\n\s+at /, 'no stack trace');
});
