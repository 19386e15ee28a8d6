/**
 * The limit for the file-transfer bench: the same file over one plain TCP
 * socket on loopback, no relay, no WebSocket, no hashing.
 *
 *   node tcp-file.js recv DIR   prints "listening PORT", then for each connection
 *                               writes the bytes to DIR/received-N, fsyncs it
 *                               (as lanchat's recipient does) and prints "received BYTES"
 *   node tcp-file.js send PORT  for each stdin line (a path), connects, sends the file
 *                               and prints "sent BYTES"
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';

const [mode, arg] = process.argv.slice(2);
if (mode === 'recv') {
  let n = 0;
  const server = createServer((socket) => {
    const path = join(arg!, `received-${n++}`);
    void (async () => {
      const fh = await open(path, 'w');
      let bytes = 0;
      for await (const chunk of socket) {
        await fh.write(chunk as Buffer);
        bytes += (chunk as Buffer).length;
      }
      await fh.sync();
      await fh.close();
      process.stdout.write(`received ${bytes}\n`);
    })();
  });
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    process.stdout.write(`listening ${typeof address === 'object' && address ? address.port : 0}\n`);
  });
} else if (mode === 'send') {
  const lines = createInterface({ input: process.stdin });
  for await (const path of lines) {
    const socket = connect(Number(arg), '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    let bytes = 0;
    const file = createReadStream(path, { highWaterMark: 256 * 1024 });
    file.on('data', (c) => (bytes += c.length));
    await pipeline(file, socket);
    process.stdout.write(`sent ${bytes}\n`);
  }
} else {
  process.stderr.write('usage: tcp-file.js recv DIR | send PORT\n');
  process.exitCode = 2;
}
