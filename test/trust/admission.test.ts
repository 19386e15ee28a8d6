import t, { type Test } from 'tap';
import { once } from 'node:events';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Node, type NodeOptions } from '../../src/node/node.js';
import { readIdentity } from '../../src/store/identity-store.js';
import { readKnown } from '../../src/store/known-networks.js';
import { createNetworkIdentity, issueNodeCertificate } from '../../src/trust/identity.js';
import { serverOptions } from '../../src/trust/tls.js';
import { loggedIn } from '../helpers/ws-client.js';
import { tmpDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

/** An in-process node on loopback whose log lines are kept (`lines`), stopped at teardown. */
async function node(t: Test, options: Partial<NodeOptions> = {}) {
  const lines: { level: number; msg: string }[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l !== '') lines.push(JSON.parse(l) as { level: number; msg: string });
      done();
    },
  });
  const dataDir = options.dataDir ?? tmpDir(t);
  const n = await Node.start({ host: '127.0.0.1', port: 0, bcryptCost: 4, ...options, dataDir }, pino({ level: 'info' }, sink));
  t.teardown(() => n.stop());
  return { node: n, lines, dataDir, address: `127.0.0.1:${n.relay.address.port}` };
}

/** A coordinator that founded its network (a user logged in on it). */
async function founded(t: Test, options: Partial<NodeOptions> = {}) {
  const c = await node(t, options);
  (await loggedIn(`wss://${c.address}`, 'founder')).close();
  await waitFor(() => c.node.identity.member, 'the coordinator to found its network');
  return c;
}

const logged = (lines: { msg: string }[], text: string) => lines.some((l) => l.msg.includes(text));

t.test('a node that proves the node password joins: it takes the network identity and stands by', async (t) => {
  const c = await founded(t, { nodePassword: 'cluster-key' });
  const s = await node(t, { nodePassword: 'cluster-key', join: [c.address] });
  await waitFor(() => s.node.role.role === 'standby' && !s.node.role.joining && s.node.identity.member, 'the standby, admitted');
  t.equal(s.node.identity.code, c.node.identity.code, 'the same network identity (short code) as its coordinator');
  t.ok(s.node.identity.member, 'a member now');
  t.ok((await readIdentity(s.dataDir, 'default'))?.member, 'kept on disk');
  t.ok(logged(c.lines, 'admitted to the network'), "in the coordinator's log");
});

t.test('a wrong node password, or none: refused, and the node keeps only its own identity', async (t) => {
  const c = await founded(t, { nodePassword: 'cluster-key' });
  const wrong = await node(t, { nodePassword: 'guess', join: [c.address] });
  const none = await node(t, { join: [c.address] });
  await waitFor(() => logged(wrong.lines, 'node password does not match'), 'the wrong one refused');
  await waitFor(() => logged(none.lines, 'has no node password, so it cannot join'), 'the one without refused');
  for (const n of [wrong, none]) {
    t.not(n.node.identity.code, c.node.identity.code, 'not given the network identity');
    t.notOk(n.node.identity.member);
    t.not(n.node.role.role, 'standby');
  }
  t.same(c.node.role.role, 'coordinator');
});

t.test('a network without a node password admits no node', async (t) => {
  const c = await founded(t);
  const s = await node(t, { nodePassword: 'cluster-key', join: [c.address] });
  await waitFor(() => logged(s.lines, 'admits no nodes'), 'the refusal');
  t.not(s.node.identity.code, c.node.identity.code);
  t.not(s.node.role.role, 'standby');
});

t.test('a member never follows a coordinator of another network identity, even one that knows the node password', async (t) => {
  const a = await founded(t, { nodePassword: 'cluster-key' });
  const b = await founded(t, { nodePassword: 'cluster-key' }); // another network of the same name
  const s = await node(t, { nodePassword: 'cluster-key', join: [a.address] });
  await waitFor(() => s.node.role.role === 'standby' && !s.node.role.joining && s.node.identity.member, 'a standby of a');
  // What it remembers is the succession list a sent it (the welcome comes first, the list after).
  await waitFor(() => s.node.core.role.succession?.standbys.some((x) => x.id === s.node.id), "a's succession list, naming it");
  await s.node.stop();
  t.equal((await readKnown(s.dataDir, 'default')).succession?.coordinator.id, a.node.id, 'the list kept on disk');
  const again = await node(t, { nodePassword: 'cluster-key', dataDir: s.dataDir, join: [b.address] });
  await waitFor(() => logged(again.lines, `an unknown node at ${b.address} claims`), "b's claim ignored");
  t.equal(again.node.identity.code, a.node.identity.code, "still a's");
  await waitFor(() => again.node.role.role === 'standby' && again.node.role.coordinator === a.address, 'back with a, which it remembers').catch((err: Error) => {
    const log = (n: typeof a) => n.lines.map((l) => JSON.stringify(l)).join('\n');
    throw new Error(`${err.message}; it is ${again.node.role.role} of ${again.node.role.coordinator}, a is ${a.node.role.role} of ${a.node.role.coordinator} at ${a.address}\n${log(again)}\n--- a:\n${log(a)}`);
  });
  t.pass("a standby of a again, never of b");
});

t.test('a rogue claiming to coordinate the network with a huge term moves nothing', async (t) => {
  // A stranger's HTTPS server with an authority of its own, answering /status as a coordinator of term 999999.
  const authority = await createNetworkIdentity('default');
  const rogueCert = await issueNodeCertificate(authority, 'ffffffffffffffff');
  const rogue = createServer(serverOptions(authority.certPem, rogueCert), (req, res) => {
    const port = (rogue.address() as AddressInfo).port;
    res.end(JSON.stringify({ id: 'ffffffffffffffff', network: 'default', role: 'coordinator', term: 999_999, coordinator: `127.0.0.1:${port}`, priority: 1000, eligible: true, position: 0, protocol: 1 }));
  });
  rogue.listen(0, '127.0.0.1');
  await once(rogue, 'listening');
  t.teardown(() => new Promise<void>((r) => (rogue.closeAllConnections(), rogue.close(() => r()))));
  const rogueAddress = `127.0.0.1:${(rogue.address() as AddressInfo).port}`;
  const first = await founded(t, { nodePassword: 'cluster-key' });
  await first.node.stop();
  const c = await node(t, { nodePassword: 'cluster-key', dataDir: first.dataDir, join: [rogueAddress] });
  const term = c.node.term;
  await waitFor(() => logged(c.lines, `an unknown node at ${rogueAddress} claims`), 'the claim seen and ignored', 15_000).catch((err: Error) => {
    throw new Error(`${err.message}\n${c.lines.map((l) => l.msg).join('\n')}`);
  });
  t.equal(c.node.role.role, 'coordinator', 'still the coordinator');
  t.equal(c.node.term, term, 'its term unmoved');
  t.ok(term < 10, `a small term (${term})`);
});

t.test('two fresh nodes started together end in one network, not two', async (t) => {
  const base = 17_600 + (process.pid % 40) * 5;
  const [a, b] = await Promise.all([
    node(t, { nodePassword: 'cluster-key', port: base, join: [`127.0.0.1:${base + 1}`] }),
    node(t, { nodePassword: 'cluster-key', port: base + 1, join: [`127.0.0.1:${base}`] }),
  ]);
  await waitFor(() => [a.node.role.role, b.node.role.role].sort().join(' ') === 'coordinator standby' && !a.node.role.joining && !b.node.role.joining, 'one coordinator and its standby', 20_000);
  await waitFor(() => a.node.identity.code === b.node.identity.code, 'one network identity for both', 20_000);
  t.pass(`one network (${a.node.identity.code})`);
});
