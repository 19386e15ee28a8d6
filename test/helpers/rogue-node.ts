/**
 * A rogue node for tests on a LAN of namespaces (run as a script: `node rogue-node.js MODE PORT HOST`): it
 * advertises `_lanchat._tcp` for network "default" by mDNS (bonjour-service as is, not lanchat's code),
 * answers `GET /status` as the coordinator of that network in term 999,999, and takes WebSocket sessions
 * with a welcome. MODE `plain`: HTTP and plain WebSocket; `tls`: HTTPS and WSS with a self-signed
 * certificate. Every request and frame it gets is printed on stdout (`ROGUE <json>`) for the test to search.
 */
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { Bonjour } from 'bonjour-service';
import { WebSocketServer } from 'ws';
import { createNetworkIdentity } from '../../src/trust/identity.js';
import { DEFAULT_LIMITS } from '../../src/protocol/limits.js';

const [mode, portArg, host] = process.argv.slice(2);
const port = Number(portArg);
const id = 'ffffffffffffff00';
const record = (what: object) => process.stdout.write(`ROGUE ${JSON.stringify(what)}\n`);

const onRequest = (req: IncomingMessage, res: ServerResponse) => {
  record({ http: `${req.method} ${req.url}`, headers: req.headers });
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ id, network: 'default', role: 'coordinator', term: 999_999, coordinator: `${host}:${port}`, priority: 1_000, eligible: true, position: 1e12, protocol: 1 }));
};
// Self-signed: the certificate is its own issuer (a lanchat node presents one issued by its network's authority).
const self = await createNetworkIdentity('default');
const server = mode === 'tls' ? createHttpsServer({ key: self.keyPem, cert: self.certPem }, onRequest) : createHttpServer(onRequest);
// Every TCP connection, whatever it then says (a TLS client hello at the plain one is an HTTP parse error).
server.on('connection', (socket: { remoteAddress?: string }) => record({ connection: socket.remoteAddress }));
server.on('clientError', (err: NodeJS.ErrnoException, socket: { destroy(): void }) => (record({ clientError: err.code }), socket.destroy()));
const wss = new WebSocketServer({ server });
wss.on('connection', (ws) => {
  ws.send(JSON.stringify({ type: 'welcome', protocol: 1, network: 'default', node: id, networkPassword: false, limits: DEFAULT_LIMITS }));
  ws.on('message', (data) => {
    const text = data.toString();
    record({ frame: text });
    // Whatever is asked: "yes", so a client that would go on has every chance to send its secrets.
    const f = JSON.parse(text) as { type?: string; user?: string };
    if (f.type?.startsWith('auth:')) ws.send(JSON.stringify({ type: 'auth:ok', user: f.user ?? 'x', token: 'rogue-token' }));
    if (f.type === 'peer:hello') ws.send(JSON.stringify({ type: 'peer:welcome', term: 999_999 }));
  });
});
server.listen(port, host, () => {
  const bonjour = new Bonjour(); // the namespace has only this host's LAN port (and lo)
  bonjour.publish({ name: `rogue-${mode}`, type: 'lanchat', port, txt: { id, net: 'default', v: '1' }, disableIPv6: true, probe: false });
  record({ listening: `${host}:${port}`, mode });
});
process.on('SIGTERM', () => process.exit(0));
