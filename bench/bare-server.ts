/**
 * The transport's limit: a bare `ws` broadcast server with the relay's
 * process layout (its own child process, 127.0.0.1 only, no compression,
 * TLS 1.3 with a certificate of the same kind as a node's).
 * Every text frame received is sent, unparsed, to every connected client,
 * the sender included. Run by bench.ts; prints its address on stdout.
 */
import { createServer } from 'node:https';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import { createNetworkIdentity, issueNodeCertificate } from '../src/trust/identity.js';
import { serverOptions } from '../src/trust/tls.js';

const MAX_PAYLOAD = 1024 * 1024; // bytes: the relay's HARD_MAX_PAYLOAD

const clients = new Set<WebSocket>();
const authority = await createNetworkIdentity('bench');
const https = createServer(serverOptions(authority.certPem, await issueNodeCertificate(authority, '00000000000000bb')));
const wss = new WebSocketServer({ server: https, perMessageDeflate: false, clientTracking: false, maxPayload: MAX_PAYLOAD });

wss.on('connection', (ws) => {
  clients.add(ws);
  ws.on('message', (data: RawData, isBinary: boolean) => {
    if (isBinary) return;
    for (const c of clients) if (c.readyState === WebSocket.OPEN) c.send(data as Buffer, { binary: false });
  });
  ws.on('close', () => clients.delete(ws));
  ws.on('error', () => undefined);
});

https.listen(0, '127.0.0.1', () => {
  const address = https.address();
  if (address === null || typeof address === 'string') throw new Error('not listening on TCP');
  console.log(`bare ws broadcast server at 127.0.0.1:${address.port}`);
});

process.on('SIGTERM', () => {
  for (const c of clients) c.terminate();
  wss.close(() => process.exit(0));
});
