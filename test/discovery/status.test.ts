import t, { type Test } from 'tap';
import { createServer as createHttpServer, type ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import { serverOptions } from '../../src/trust/tls.js';
import { testIdentity } from '../helpers/identity.js';
import type { AddressInfo } from 'node:net';
import { NOT_LANCHAT, probeStatus } from '../../src/discovery/status.js';

const status = { id: '0123456789abcdef', network: 'lab', role: 'coordinator', term: 3, coordinator: '127.0.0.1:7777', priority: 0, eligible: true, position: 0, protocol: 1 };

const { authority, node } = await testIdentity();

/** An HTTPS server on loopback, as a node serves, answering every request with `answer`; its address. */
async function serving(t: Test, answer: (res: ServerResponse) => void, plain = false): Promise<string> {
  const server = plain ? createHttpServer((_req, res) => answer(res)) : createServer(serverOptions(authority.certPem, node), (_req, res) => answer(res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

t.test('a lanchat node answers with its status', async (t) => {
  const address = await serving(t, (res) => res.end(JSON.stringify(status)));
  const p = await probeStatus(address, 2_000);
  t.match(p, { ok: true, status, presented: { nodeId: '00000000000000aa', authorityPem: /BEGIN CERTIFICATE/ } }, 'its status, and the identity its certificate shows');
});

t.test('whatever else answers is not lanchat, and is said so', async (t) => {
  const rows: [string, (res: ServerResponse) => void][] = [
    ['a web server', (res) => res.end('<html>hello</html>')],
    ['an error page', (res) => ((res.statusCode = 404), res.end('{}'))],
    ['JSON of another shape', (res) => res.end(JSON.stringify({ ...status, term: -1 }))],
    ['an empty body', (res) => res.end()],
    ['a status padded past 4 KiB', (res) => res.end(JSON.stringify(status) + ' '.repeat(5_000))],
  ];
  for (const [what, answer] of rows) t.same(await probeStatus(await serving(t, answer), 2_000), { ok: false, errno: NOT_LANCHAT }, what);
  t.same(await probeStatus(await serving(t, (res) => res.end(JSON.stringify(status)), true), 2_000), { ok: false, errno: NOT_LANCHAT }, 'a status over plain HTTP (every node speaks TLS)');
});

t.test('an endless body is cut at 4 KiB, not read to the timeout', async (t) => {
  const address = await serving(t, (res) => {
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    const pump = (): void => {
      while (!res.destroyed && res.write(chunk));
      if (!res.destroyed) res.once('drain', pump);
    };
    res.write('{');
    pump();
  });
  // Read to its end, it would run into the timeout (ETIMEDOUT) with megabytes in memory.
  t.same(await probeStatus(address, 10_000), { ok: false, errno: NOT_LANCHAT }, 'not lanchat, said before the timeout');
});

t.test('nothing listening, and a server that never answers', async (t) => {
  const silent = await serving(t, () => undefined);
  t.same(await probeStatus(silent, 300), { ok: false, errno: 'ETIMEDOUT' }, 'no answer in time');
  const srv = createHttpServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  t.same(await probeStatus(`127.0.0.1:${port}`, 2_000), { ok: false, errno: 'ECONNREFUSED' }, 'refused');
});
