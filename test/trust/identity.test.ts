import t, { type Test } from 'tap';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { statSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { connect, createServer, type TLSSocket } from 'node:tls';
import { certifiedNode, createNetworkIdentity, isAuthority, issueNodeCertificate, networkCode, type KeyPair } from '../../src/trust/identity.js';
import { certifiedPeer, clientOptions, presentedIdentity, serverOptions, sessionBinding } from '../../src/trust/tls.js';
import { judge, sameAuthority } from '../../src/trust/pin.js';
import { identityPath, readIdentity, writeIdentity } from '../../src/store/identity-store.js';
import { tmpDir } from '../helpers/tmp.js';

const NODE_A = '0123456789abcdef';
const NODE_B = 'fedcba9876543210';

const lab = await createNetworkIdentity('lab');
const other = await createNetworkIdentity('lab'); // another network that took the same name
const nodeA = await issueNodeCertificate(lab, NODE_A);
const nodeB = await issueNodeCertificate(lab, NODE_B);
const stranger = await issueNodeCertificate(other, NODE_B);

t.test('a network identity: an authority of its own, and a short code people can compare', async (t) => {
  const ca = new X509Certificate(lab.certPem);
  t.ok(isAuthority(ca), 'self-signed, a CA');
  t.match(networkCode(ca), /^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/, 'twelve characters of Crockford base32');
  t.equal(networkCode(lab.certPem), networkCode(ca), 'the same from PEM or certificate');
  t.not(networkCode(lab.certPem), networkCode(other.certPem), 'two networks of one name have two codes');
  t.notOk(isAuthority(new X509Certificate(nodeA.certPem)), 'a node certificate is no authority');
  t.notOk(isAuthority(ca, Date.now() + 40 * 365 * 86_400_000), 'an expired authority is none');
});

t.test('node certificates: the issuing network certifies them; nobody else does', async (t) => {
  const ca = new X509Certificate(lab.certPem);
  t.equal(certifiedNode(new X509Certificate(nodeA.certPem), ca), NODE_A, 'names its node');
  t.equal(certifiedNode(new X509Certificate(stranger.certPem), ca), undefined, "another network's node (same name, same node id)");
  t.equal(certifiedNode(ca, ca), undefined, "the authority's own certificate is not a node's");
  t.equal(certifiedNode(new X509Certificate(nodeA.certPem), ca, Date.now() + 40 * 365 * 86_400_000), undefined, 'expired');
  await t.rejects(issueNodeCertificate(lab, 'not-an-id'), /not a node id/);
});

t.test('trust on first use: pin, trust, refuse a changed identity', async (t) => {
  const presented = { authorityPem: lab.certPem, code: networkCode(lab.certPem), nodeId: NODE_A };
  t.same(judge(undefined, undefined), { kind: 'not-lanchat' });
  t.same(judge(lab.certPem, undefined), { kind: 'not-lanchat' });
  t.same(judge(undefined, presented), { kind: 'first-contact', presented });
  t.same(judge(lab.certPem, presented), { kind: 'trusted' });
  const rogue = { authorityPem: other.certPem, code: networkCode(other.certPem), nodeId: NODE_A };
  t.same(judge(lab.certPem, rogue), { kind: 'changed', knownCode: networkCode(lab.certPem), presented: rogue });
  t.ok(sameAuthority(lab.certPem, `${lab.certPem.trim()}\n`), 'compared by key, not by text');
});

/** A TLS server with `serverOptions`; every connection's socket is kept. */
async function serve(t: Test, authority: KeyPair, node: KeyPair) {
  const sockets: TLSSocket[] = [];
  const server = createServer(serverOptions(authority.certPem, node), (s) => void sockets.push(s));
  server.on('tlsClientError', () => undefined);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => new Promise<void>((r) => (sockets.forEach((s) => s.destroy()), server.close(() => r()))));
  return { port: (server.address() as AddressInfo).port, sockets };
}

async function dial(port: number, options: ReturnType<typeof clientOptions>): Promise<TLSSocket> {
  const socket = connect({ host: '127.0.0.1', port, ...options });
  await Promise.race([once(socket, 'secureConnect'), once(socket, 'error').then(([e]) => Promise.reject(e as Error))]);
  return socket;
}

t.test('over real TLS: a client reads the identity on first contact, then accepts only that authority', async (t) => {
  const { port, sockets } = await serve(t, lab, nodeA);
  const first = await dial(port, clientOptions(undefined));
  t.teardown(() => first.destroy());
  t.equal(first.getProtocol(), 'TLSv1.3');
  t.same(presentedIdentity(first), { authorityPem: new X509Certificate(lab.certPem).toString(), code: networkCode(lab.certPem), nodeId: NODE_A }, 'the authority and node it presented');
  const pinned = await dial(port, clientOptions(lab.certPem));
  t.teardown(() => pinned.destroy());
  t.ok(pinned.authorized, 'verified against the pinned authority');
  await t.rejects(dial(port, clientOptions(other.certPem)), 'a coordinator of another authority is refused by TLS itself');
  // A TLS 1.2 client: a context of its own (ours, shared, would speak 1.3).
  const { secureContext: _, ...tls12 } = clientOptions(undefined);
  await t.rejects(dial(port, { ...tls12, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' }), 'TLS 1.2 is refused');
  await new Promise((r) => setTimeout(r, 0));
  t.equal(sockets.length, 2, 'two connections made it');
});

t.test('over real TLS: a rogue with its own authority presents nothing a client would take for the network', async (t) => {
  const { port } = await serve(t, other, stranger);
  const socket = await dial(port, clientOptions(undefined));
  t.teardown(() => socket.destroy());
  t.equal(judge(lab.certPem, presentedIdentity(socket)).kind, 'changed', 'refused, loudly');
});

t.test('over real TLS: peers are certified nodes only; both ends share a session binding', async (t) => {
  const { port, sockets } = await serve(t, lab, nodeA);
  const ca = new X509Certificate(lab.certPem);
  const waitFor = async (n: number) => {
    while (sockets.length < n) await new Promise((r) => setTimeout(r, 5));
    const s = sockets[n - 1]!;
    if (!s.getPeerCertificate()) await once(s, 'secure');
    return s;
  };
  const peer = await dial(port, clientOptions(lab.certPem, nodeB));
  t.teardown(() => peer.destroy());
  const atServer = await waitFor(1);
  t.equal(certifiedPeer(atServer, ca), NODE_B, 'a node of the network');
  t.ok(sessionBinding(atServer, 'test').equals(sessionBinding(peer, 'test')), 'the same binding on both ends');
  const client = await dial(port, clientOptions(lab.certPem));
  t.teardown(() => client.destroy());
  t.equal(certifiedPeer(await waitFor(2), ca), undefined, 'a client without a certificate is no node');
  t.notOk(sessionBinding(client, 'test').equals(sessionBinding(peer, 'test')), 'each session its own binding');
  const rogue = await dial(port, clientOptions(lab.certPem, stranger));
  t.teardown(() => rogue.destroy());
  t.equal(certifiedPeer(await waitFor(3), ca), undefined, "another network's node is no node of this one");
});

t.test('the identity on disk: owner-only, atomic, a damaged file never silently re-pinned', async (t) => {
  const dir = tmpDir(t);
  t.equal(await readIdentity(dir, 'lab'), undefined, 'nothing known yet');
  await writeIdentity(dir, 'lab', { authorityPem: lab.certPem, authorityKeyPem: lab.keyPem, node: nodeA, pinnedAt: 1 });
  const back = await readIdentity(dir, 'lab');
  t.same(back, { authorityPem: lab.certPem, code: networkCode(lab.certPem), authorityKeyPem: lab.keyPem, node: nodeA, pinnedAt: 1 });
  t.equal(statSync(identityPath(dir, 'lab')).mode & 0o777, 0o600, 'owner-only');
  await writeIdentity(dir, 'client-side', { authorityPem: lab.certPem, pinnedAt: 2 });
  t.same(await readIdentity(dir, 'client-side'), { authorityPem: lab.certPem, code: networkCode(lab.certPem), pinnedAt: 2 }, 'a client keeps the certificate only');
  writeFileSync(identityPath(dir, 'lab'), '{"authority":"not a certificate","pinnedAt":1}');
  await t.rejects(readIdentity(dir, 'lab'), /damaged; remove it/);
  writeFileSync(identityPath(dir, 'lab'), '{"authority":"-----BEGIN CERT'); // torn
  await t.rejects(readIdentity(dir, 'lab'), /damaged; remove it/, 'a torn file too');
});
