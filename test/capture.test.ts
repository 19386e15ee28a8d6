import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Proc, startClient } from './helpers/processes.js';
import { tmpDir } from './helpers/tmp.js';
import { waitFor } from './helpers/wait.js';
import { inPrivateNetwork } from './helpers/netns.js';

/**
 * A passive capture of everything on the wire (tcpdump on `lo`, in a private network namespace) while a
 * three-node network with a network password and a node password registers, logs in, chats, sends a
 * file and fails over: no password, no message text and no file content may be in it.
 */
const tcpdump = spawnSync('tcpdump', ['--version']).status === 0;
if (!tcpdump) t.plan(0, 'needs tcpdump (apt-get install tcpdump)');
else if (inPrivateNetwork(import.meta.url)) main();

function main(): void {
  t.test('a capture of register, login, chat, a file and a failover holds none of their secrets', async (t) => {
    const dir = tmpDir(t);
    const pcap = join(dir, 'lan.pcap');
    const capture = spawn('tcpdump', ['-i', 'lo', '-U', '-s', '0', '-w', pcap], { stdio: ['ignore', 'ignore', 'pipe'] });
    t.teardown(() => void capture.kill('SIGKILL'));
    await new Promise<void>((resolve) => capture.stderr.on('data', (d: Buffer) => /listening on/.test(d.toString()) && resolve()));

    const secrets = {
      networkPassword: `netpw-${randomBytes(6).toString('hex')}`,
      nodePassword: `nodepw-${randomBytes(6).toString('hex')}`,
      alicePassword: `alicepw-${randomBytes(6).toString('hex')}`,
      bobPassword: `bobpw-${randomBytes(6).toString('hex')}`,
      broadcast: `hello-everyone-${randomBytes(6).toString('hex')}`,
      direct: `only-for-bob-${randomBytes(6).toString('hex')}`,
      afterFailover: `after-failover-${randomBytes(6).toString('hex')}`,
      file: `file-content-${randomBytes(12).toString('hex')}`,
    };
    const env = { LANCHAT_NETWORK_PASSWORD: secrets.networkPassword, LANCHAT_NODE_PASSWORD: secrets.nodePassword };
    const ports = [7811, 7812, 7813];
    const nodes = ports.map((port, i) => {
      const p = new Proc(['serve', '--locked', '--host', '127.0.0.1', '--port', String(port), '--data-dir', join(dir, `n${i}`), '--bcrypt-cost', '4', '--priority', String(3 - i), ...(i > 0 ? ['--join', `127.0.0.1:${ports[0]}`] : [])], env);
      t.teardown(() => p.kill('SIGKILL'));
      return p;
    });
    await nodes[0]!.line(/^lanchat coordinator/);
    for (const n of nodes.slice(1)) await n.line(/^lanchat standby/);

    const first = `127.0.0.1:${ports[0]}`;
    const bobDownloads = join(dir, 'downloads-bob');
    const alice = await startClient(t, first, 'alice', { register: true, password: secrets.alicePassword, env: { LANCHAT_NETWORK_PASSWORD: secrets.networkPassword } });
    const bob = await startClient(t, first, 'bob', { register: true, password: secrets.bobPassword, env: { LANCHAT_NETWORK_PASSWORD: secrets.networkPassword }, args: ['--download-dir', bobDownloads] });
    alice.write({ type: 'send', text: secrets.broadcast });
    alice.write({ type: 'send', text: secrets.direct, to: ['bob'] });
    await bob.next((e) => e.type === 'message' && e.text === secrets.direct, 'the direct message');
    const path = join(dir, 'notes.txt');
    writeFileSync(path, secrets.file.repeat(100));
    alice.write({ type: 'file', path, to: ['bob'], id: 'f1' });
    await bob.next((e) => e.type === 'file', 'the file', 30_000);
    t.equal(readFileSync(join(bobDownloads, 'notes.txt'), 'utf8'), secrets.file.repeat(100), 'the file arrived whole');

    nodes[0]!.kill('SIGKILL'); // a failover: the standbys take over, the clients resume there
    await nodes[1]!.line(/^lanchat coordinator/, 15_000);
    alice.write({ type: 'send', text: secrets.afterFailover, id: 'after' });
    await bob.next((e) => e.type === 'message' && e.text === secrets.afterFailover, 'a message after the failover', 30_000);

    // A plaintext marker sent the same way any frame would be seen: the capture and the search work.
    const marker = `plaintext-marker-${randomBytes(6).toString('hex')}`;
    const udp = createSocket('udp4');
    await new Promise<void>((r) => udp.send(marker, 9, '127.0.0.1', () => r()));
    udp.close();
    let bytes = Buffer.alloc(0);
    await waitFor(() => (bytes = readFileSync(pcap)).includes(marker), 'the marker in the capture');
    capture.kill('SIGTERM');
    bytes = readFileSync(pcap);
    t.ok(bytes.length > 100_000, `a capture of ${bytes.length} bytes`);
    for (const [what, secret] of Object.entries(secrets)) {
      const forms = [secret, Buffer.from(secret).toString('base64').slice(0, 12), Buffer.from(secret).toString('hex')];
      t.notOk(forms.some((f) => bytes.includes(f)), `no ${what} in the capture`);
    }
  });
}
