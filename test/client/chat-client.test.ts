import t from 'tap';
import { WebSocketServer } from 'ws';
import { pino } from 'pino';
import { ChatClient } from '../../src/client/chat-client.js';
import { ProtocolError } from '../../src/protocol/errors.js';
import { DEFAULT_LIMITS } from '../../src/protocol/limits.js';
import { startServe } from '../helpers/processes.js';
import { Proc } from '../helpers/processes.js';
import { tmpDir } from '../helpers/tmp.js';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { fetchStatus } from '../../src/discovery/status.js';
import { createServer as createHttpsServer } from 'node:https';
import { serverOptions } from '../../src/trust/tls.js';
import { testIdentity } from '../helpers/identity.js';
import { createNetworkIdentity, issueNodeCertificate, type KeyPair } from '../../src/trust/identity.js';

/** A WebSocket server over TLS on 127.0.0.1, as a node serves (with a test network's certificate). */
async function tlsWebSocketServer(t: { teardown(fn: () => unknown): void }, identity?: { authority: KeyPair; node: KeyPair }): Promise<{ wss: WebSocketServer; address: string }> {
  const { authority, node } = identity ?? (await testIdentity());
  const https = createHttpsServer(serverOptions(authority.certPem, node));
  const wss = new WebSocketServer({ server: https });
  await new Promise<void>((r) => https.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => (wss.close(), https.closeAllConnections(), https.close(() => r()))));
  return { wss, address: `127.0.0.1:${(https.address() as { port: number }).port}` };
}

const silent = pino({ level: 'silent' });

/** A WebSocket server on 127.0.0.1 that says `welcome` and then does what `then` says with each frame. */
async function fakeNode(t: { teardown(fn: () => unknown): void }, onFrame: (frame: { type: string }, send: (o: object) => void) => void = () => undefined, identity?: { authority: KeyPair; node: KeyPair }) {
  const { wss, address } = await tlsWebSocketServer(t, identity);
  wss.on('connection', (ws) => {
    ws.send(JSON.stringify({ type: 'welcome', protocol: 1, network: 'default', node: 'fake', networkPassword: false, limits: DEFAULT_LIMITS }));
    ws.on('message', (d) => onFrame(JSON.parse(d.toString()) as { type: string }, (o) => ws.send(JSON.stringify(o))));
  });
  return address;
}

t.test('a node that says welcome and never answers the login does not hold the client (issue #11)', async (t) => {
  const address = await fakeNode(t);
  const client = new ChatClient({ address, user: 'alice', password: 'pw', log: silent, loginTimeoutMs: 800, reconnectTimeoutMs: 5_000 });
  t.teardown(() => client.close());
  const started = performance.now();
  await t.rejects(client.connect(), { code: 'connection_failed', message: /did not answer the login within 0\.8 s/ });
  t.ok(performance.now() - started < 4_000, 'bounded');
});

t.test('a first search that finds only an impersonator (it answered first) searches again, a few times', async (t) => {
  const real = await fakeNode(t, (f, send) => f.type === 'auth:login' && send({ type: 'auth:ok', user: 'alice' }));
  const rogueAuthority = await createNetworkIdentity('default');
  const rogue = await fakeNode(t, () => undefined, { authority: rogueAuthority, node: await issueNodeCertificate(rogueAuthority, '00000000000000bb') });
  const trust = { pins: new Map([['default', (await testIdentity()).authority.certPem]]) };
  let searches = 0;
  const client = new ChatClient({ user: 'alice', password: 'pw', log: silent, trust, discover: async () => (++searches === 1 ? [rogue] : [rogue, real]) });
  t.teardown(() => client.close());
  t.match(await client.connect(), { user: 'alice', coordinator: real }, 'the real node, found by the second search');
  t.equal(searches, 2);

  let alone = 0;
  const fooled = new ChatClient({ user: 'alice', password: 'pw', log: silent, trust, discover: async () => (++alone, [rogue]) });
  t.teardown(() => fooled.close());
  await t.rejects(fooled.connect(), { code: 'identity_changed' }, 'only the impersonator, search after search: said');
  t.equal(alone, 3, 'three searches, then it says so');
});

t.test('a node that never says welcome is skipped too', async (t) => {
  const { address } = await tlsWebSocketServer(t);
  const client = new ChatClient({ address, user: 'alice', password: 'pw', log: silent });
  t.teardown(() => client.close());
  await t.rejects(client.connect(), { code: 'connection_failed', message: /sent no welcome within 3 s/ });
});

t.test('a client told that its node is starting waits for it, instead of giving up', async (t) => {
  let starting = 2;
  const address = await fakeNode(t, (f, send) => {
    if (f.type !== 'auth:login') return;
    if (starting-- > 0) send({ type: 'redirect', coordinator: null, term: 0 });
    else send({ type: 'auth:ok', user: 'alice' });
  });
  const client = new ChatClient({ address, user: 'alice', password: 'pw', log: silent, reconnectTimeoutMs: 10_000 });
  t.teardown(() => client.close());
  t.match(await client.connect(), { user: 'alice', coordinator: address });
});

t.test('a real node still deciding its role: a client that reaches it waits and gets in', async (t) => {
  const dir = tmpDir(t);
  // Somewhere to --join that accepts TCP and never answers: the node looks there (1.5 s) before it decides.
  const hole = createServer(() => undefined);
  await new Promise<void>((r) => hole.listen(0, '127.0.0.1', r));
  t.teardown(() => hole.close());
  const port = await freePort();
  const node = new Proc(['serve', '--locked', '--host', '127.0.0.1', '--port', String(port), '--data-dir', join(dir, 'n'), '--bcrypt-cost', '4', '--join', `127.0.0.1:${(hole.address() as { port: number }).port}`], {});
  t.teardown(() => node.kill('SIGKILL'));
  const address = `127.0.0.1:${port}`;
  // Once it listens it looks at the hole for 1.5 s: asked as soon as it answers, it is still starting.
  let st = await fetchStatus(address);
  for (const deadline = Date.now() + 30_000; st === undefined && Date.now() < deadline; ) st = await new Promise((r) => setTimeout(r, 25)).then(() => fetchStatus(address));
  t.equal(st?.role, 'starting', 'it is still starting');
  const client = new ChatClient({ address, user: 'alice', password: 'pw', register: true, log: silent, reconnectTimeoutMs: 15_000 });
  t.teardown(() => client.close());
  t.match(await client.connect(), { user: 'alice', coordinator: address });
  t.match(node.stdout.join('\n'), /coordinator for network/);
});

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

t.test('a wrong password is final at the first login', async (t) => {
  const server = await startServe(t, tmpDir(t));
  const a = new ChatClient({ address: server.address, user: 'alice', password: 'pw', register: true, log: silent });
  await a.connect();
  await a.close();
  const b = new ChatClient({ address: server.address, user: 'alice', password: 'wrong', log: silent });
  t.teardown(() => b.close());
  const err = await b.connect().catch((e: unknown) => e);
  t.ok(err instanceof ProtocolError && err.code === 'auth_failed');
});
