import t, { type Test } from 'tap';
import { once } from 'node:events';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { WebSocketServer } from 'ws';
import { ChatClient } from '../../src/client/chat-client.js';
import { DEFAULT_LIMITS } from '../../src/protocol/limits.js';
import { StandbyLink } from '../../src/replication/standby-link.js';
import { createNetworkIdentity, issueNodeCertificate, networkCode } from '../../src/trust/identity.js';
import type { NodeIdentity } from '../../src/trust/node-identity.js';
import { serverOptions } from '../../src/trust/tls.js';

const silent = pino({ level: 'silent' });
const real = await createNetworkIdentity('default');
const rogueAuthority = await createNetworkIdentity('default');
const rogueCert = await issueNodeCertificate(rogueAuthority, 'ffffffffffffffff');
const welcome = (extra: object = {}) => ({ type: 'welcome', protocol: 1, network: 'default', node: 'ffffffffffffffff', networkPassword: false, limits: DEFAULT_LIMITS, ...extra });

/** A rogue node over TLS (an authority of its own) that sends `script`'s frames on each connection and records what it gets. */
async function rogue(t: Test, script: (send: (f: object) => void, got: Record<string, unknown>) => void) {
  const https = createServer(serverOptions(rogueAuthority.certPem, rogueCert));
  const wss = new WebSocketServer({ server: https });
  const frames: Record<string, unknown>[] = [];
  wss.on('connection', (ws) => {
    const send = (f: object) => ws.send(JSON.stringify(f));
    ws.on('message', (d) => {
      const f = JSON.parse(d.toString()) as Record<string, unknown>;
      frames.push(f);
      script(send, f);
    });
    script(send, { type: 'open' });
  });
  https.listen(0, '127.0.0.1');
  await once(https, 'listening');
  t.teardown(() => new Promise<void>((r) => (wss.close(), https.closeAllConnections(), https.close(() => r()))));
  return { address: `127.0.0.1:${(https.address() as AddressInfo).port}`, frames };
}

const secretsIn = (frames: Record<string, unknown>[]) => frames.filter((f) => typeof f['type'] === 'string' && (f['type'] as string).startsWith('auth:'));

t.test('a client gives a rogue nothing, whatever order it answers in', async (t) => {
  const cases: [string, (send: (f: object) => void, got: Record<string, unknown>) => void, RegExp][] = [
    ['network:ok before any welcome', (send, got) => got['type'] === 'open' && send({ type: 'network:ok' }), /out of turn/],
    ['auth:ok before any welcome', (send, got) => got['type'] === 'open' && send({ type: 'auth:ok', user: 'alice' }), /out of turn/],
    ['a welcome for another network name', (send, got) => got['type'] === 'open' && send(welcome({ network: 'default-x' })), /is of network "default-x", not "default"/],
    ['a welcome with another identity', (send, got) => got['type'] === 'open' && send(welcome()), /shows the identity .*, not .* as before/],
    // Never met (nothing pinned): the identity passes, the missing proof does not.
    ['network:ok right after the welcome, with no proof (first contact)', (send, got) => got['type'] === 'open' && (send(welcome({ networkPassword: true })), send({ type: 'network:ok' })), /out of turn/],
  ];
  for (const [what, script, refusal] of cases) {
    const r = await rogue(t, script);
    const pins = new Map(what.includes('first contact') ? [] : [['default', real.certPem]]);
    const client = new ChatClient({ address: r.address, network: 'default', user: 'alice', password: 'alice-secret', networkPassword: 'net', log: silent, reconnectTimeoutMs: 500, trust: { pins } });
    t.teardown(() => client.close());
    await t.rejects(client.connect(), { message: refusal }, what);
    t.same(secretsIn(r.frames), [], `${what}: no login, no token, no password sent`);
  }
});

t.test('first contact with a rogue that does not know the network password: its proof fails and nothing follows', async (t) => {
  const r = await rogue(t, (send, got) => {
    if (got['type'] === 'open') send(welcome({ networkPassword: true }));
    if (got['type'] === 'network:auth') send({ type: 'network:proof', share: got['share'], confirm: Buffer.alloc(64, 3).toString('base64') });
  });
  const client = new ChatClient({ address: r.address, network: 'default', user: 'alice', password: 'alice-secret', networkPassword: 'net', log: silent, reconnectTimeoutMs: 500, trust: { pins: new Map() } });
  t.teardown(() => client.close());
  await t.rejects(client.connect(), { code: 'network_password' });
  t.same(r.frames.map((f) => f['type']), ['network:auth'], 'only the share went out: no confirmation, no login');
});

/** An identity as a node holds it. */
async function identity(member: boolean): Promise<NodeIdentity> {
  const node = await issueNodeCertificate(real, '0123456789abcdef');
  return { authorityPem: real.certPem, authorityKeyPem: real.keyPem, node, code: networkCode(real.certPem), member };
}

/** A standby link to `address`; what it emitted. */
async function link(t: Test, address: string, id: NodeIdentity) {
  const l = new StandbyLink(silent, { address, identity: id, id: '0123456789abcdef', nodePassword: 'node-secret', silenceMs: 5_000 });
  const seen: { frames: string[]; admitted: number; ready: number } = { frames: [], admitted: 0, ready: 0 };
  l.on('frame', (f) => seen.frames.push(f.type));
  l.on('admit', () => seen.admitted++);
  l.on('ready', () => seen.ready++);
  const ended = new Promise<{ kind: string; reason?: string }>((r) => l.once('end', (e) => r(e as { kind: string; reason?: string })));
  t.teardown(() => l.stop());
  l.start();
  return { seen, ended };
}

t.test('a member standby follows no rogue coordinator, even one that skips the handshake', async (t) => {
  const r = await rogue(t, (send, got) => {
    if (got['type'] !== 'open') return;
    send({ type: 'peer:welcome', term: 999_999, vv: [] });
    send({ type: 'succession', term: 999_999, coordinator: { id: 'ffffffffffffffff', address: '127.0.0.1:1' }, standbys: [] });
  });
  const { seen, ended } = await link(t, r.address, await identity(true));
  t.match(await ended, { kind: 'refused', reason: /out of turn/ });
  t.same(seen, { frames: [], admitted: 0, ready: 0 }, 'nothing reached the core');

  const polite = await rogue(t, (send, got) => got['type'] === 'open' && send(welcome({ networkPassword: true })));
  const second = await link(t, polite.address, await identity(true));
  t.match(await second.ended, { kind: 'refused', reason: /not of this network/ });
  t.same(polite.frames, [], 'a member checks the identity before proving any password: the rogue got no share');
});

t.test('a node not yet of a network is admitted only by a coordinator that proved the node password', async (t) => {
  const r = await rogue(t, (send, got) => {
    if (got['type'] === 'open') send(welcome());
    if (got['type'] === 'peer:join') send({ type: 'peer:admit', authority: rogueAuthority.certPem, key: rogueAuthority.keyPem });
  });
  const fresh = await identity(false);
  const { seen, ended } = await link(t, r.address, { ...fresh, authorityPem: (await createNetworkIdentity('default')).certPem });
  t.match(await ended, { kind: 'refused', reason: /peer:admit without a proof/ });
  t.equal(seen.admitted, 0, 'no authority taken');
});
