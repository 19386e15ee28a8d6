import t from 'tap';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Proc, nodeCommand } from './helpers/processes.js';
import { tmpDir } from './helpers/tmp.js';
import { waitFor } from './helpers/wait.js';
import { deleteNamespaces, namespaceProcs, switchedLan } from './helpers/netns.js';

/**
 * Rogue nodes on a LAN of namespaces (issue #13): hosts A (the coordinator), B (a standby, when the network
 * has a node password) and R (the rogue), joined by a switch. R advertises `_lanchat._tcp` for the same
 * network by mDNS and claims to coordinate it in term 999,999: once over plain HTTP/WebSocket, once over
 * TLS with a self-signed certificate. Nothing moves (no step-down, no term change, no session follows it),
 * a client that finds everything by mDNS still lands on the real coordinator, and neither the rogue nor a
 * capture on the switch sees a password, a token or a message. With both passwords set, and with none.
 * Needs root (ip netns) and tcpdump; the links never leave the private namespaces.
 */
const id = `lcr${process.pid % 100_000}`;
const ns = { a: `${id}a`, b: `${id}b`, r: `${id}r`, sw: `${id}s` };
const net = `10.252.${process.pid % 250}`;
const hosts = { a: `${net}.1`, b: `${net}.2`, r: `${net}.3` };
const ROGUE = fileURLToPath(new URL('./helpers/rogue-node.js', import.meta.url));

function setUp(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root for ip netns';
  if (spawnSync('tcpdump', ['--version']).status !== 0) return 'needs tcpdump (apt-get install tcpdump)';
  try {
    switchedLan(ns.sw, [
      { ns: ns.a, v4: hosts.a },
      { ns: ns.b, v4: hosts.b },
      { ns: ns.r, v4: hosts.r },
    ]);
    return undefined;
  } catch (err) {
    tearDown();
    return `cannot create network namespaces: ${(err as Error).message.split('\n')[0]}`;
  }
}

const tearDown = () => deleteNamespaces(Object.values(ns));
const skip = setUp();
t.teardown(tearDown);

/** A rogue in namespace R; its lines (everything it was sent) kept. */
function startRogue(t: { teardown(fn: () => unknown): void }, mode: 'plain' | 'tls', port: number): { lines: string[]; child: ChildProcess } {
  const child = spawn('ip', ['netns', 'exec', ns.r, ...nodeCommand(), ROGUE, mode, String(port), hosts.r], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  createInterface({ input: child.stdout! }).on('line', (l) => lines.push(l));
  createInterface({ input: child.stderr! }).on('line', (l) => lines.push(`stderr: ${l}`));
  t.teardown(() => void child.kill('SIGKILL'));
  return { lines, child };
}

for (const passwords of ['both passwords', 'no password'] as const) {
  t.test(`rogue coordinators by mDNS (plain WebSocket, self-signed TLS), ${passwords}: nothing follows them, nothing reaches them`, { skip: skip ?? false }, async (t) => {
    const dir = tmpDir(t);
    const secrets = {
      ...(passwords === 'both passwords' ? { networkPassword: `netpw-${randomBytes(6).toString('hex')}`, nodePassword: `nodepw-${randomBytes(6).toString('hex')}` } : {}),
      alicePassword: `alicepw-${randomBytes(6).toString('hex')}`,
      carolPassword: `carolpw-${randomBytes(6).toString('hex')}`,
      broadcast: `hello-everyone-${randomBytes(6).toString('hex')}`,
      afterRogues: `after-the-rogues-${randomBytes(6).toString('hex')}`,
    };
    const nodeEnv = { LANCHAT_NODE_PASSWORD: secrets.nodePassword ?? '', ...(secrets.networkPassword ? { LANCHAT_NETWORK_PASSWORD: secrets.networkPassword } : {}) };
    const clientEnv = (password: string) => ({ LANCHAT_PASSWORD: password, ...(secrets.networkPassword ? { LANCHAT_NETWORK_PASSWORD: secrets.networkPassword } : {}) });
    const pcap = join(dir, 'switch.pcap');
    const capture = spawn('ip', ['netns', 'exec', ns.sw, 'tcpdump', '-i', 'br0', '-U', '-s', '0', '-w', pcap], { stdio: ['ignore', 'ignore', 'pipe'] });
    t.teardown(() => void capture.kill('SIGKILL'));
    await new Promise<void>((resolve) => capture.stderr!.on('data', (d: Buffer) => /listening on/.test(d.toString()) && resolve()));

    const run = namespaceProcs(t);
    const roleOf = (p: Proc) => p.stdout.map((l) => /^lanchat (coordinator|standby) .*\(term (\d+)\)/.exec(l)).filter(Boolean).map((m) => `${m![1]} ${m![2]}`).at(-1);
    const a1 = run(ns.a, ['serve', '--host', hosts.a, '--port', '7401', '--data-dir', join(dir, 'a1'), '--bcrypt-cost', '4', '--priority', '10'], nodeEnv);
    await a1.line(/^lanchat coordinator/, 15_000);
    const nodes = [a1];
    if (secrets.nodePassword !== undefined) {
      const b1 = run(ns.b, ['serve', '--host', hosts.b, '--port', '7401', '--data-dir', join(dir, 'b1'), '--bcrypt-cost', '4', '--join', `${hosts.a}:7401`], nodeEnv);
      // Its term may be one or two above a1's first (a fresh node that looked under load joins a term up).
      await waitFor(() => roleOf(b1)?.startsWith('standby ') === true && roleOf(b1) === `standby ${roleOf(a1)!.split(' ')[1]}`, 'b1 to stand by', 20_000).catch((err: Error) => {
        throw new Error(`${err.message}; b1 said:\n${b1.stdout.concat(b1.stderr).slice(-30).join('\n')}\na1 said:\n${a1.stdout.concat(a1.stderr).slice(-30).join('\n')}`);
      });
      nodes.push(b1);
    }
    // alice finds the network by mDNS (no address) before the rogues come, and pins its identity.
    const alice = run(ns.b, ['client', '--user', 'alice', '--register', '--data-dir', join(dir, 'alice')], clientEnv(secrets.alicePassword));
    await alice.line(/"type":"ready"/, 15_000);
    const before = nodes.map(roleOf);

    const plain = startRogue(t, 'plain', 7402);
    const tls = startRogue(t, 'tls', 7403);
    for (const r of [plain, tls]) await waitFor(() => r.lines.some((l) => l.includes('"listening"')), 'a rogue to listen');
    // The rogues are seen: the coordinator finds them by mDNS and asks each for its status (over TLS: the
    // plain one cannot answer it; the TLS one answers and is ignored, with a warning).
    const contacts = (r: { lines: string[] }) => r.lines.filter((l) => l.includes(`"connection":"${hosts.a}"`)).length;
    await waitFor(() => contacts(plain) > 0, 'the coordinator to try the plain rogue', 20_000);
    await waitFor(() => tls.lines.some((l) => l.includes('GET /status')), 'the coordinator to ask the TLS rogue', 20_000);
    await waitFor(() => a1.stdout.concat(a1.stderr).some((l) => l.includes(`an unknown node at ${hosts.r}:7403 claims`)), 'the coordinator to say it ignores the TLS rogue', 20_000);

    // carol, new to the network, finds everything by mDNS with the rogues on it: she gets the real coordinator.
    const carol = run(ns.b, ['client', '--user', 'carol', '--register', '--data-dir', join(dir, 'carol')], clientEnv(secrets.carolPassword));
    const ready = JSON.parse((await carol.line(/"type":"ready"/, 20_000)).input) as { coordinator: string; identity: string };
    t.equal(ready.coordinator, `${hosts.a}:7401`, 'a new client lands on the real coordinator');
    t.match(alice.stdout.find((l) => l.includes('"type":"ready"')), ready.identity, 'with the identity alice pinned');
    alice.child.stdin!.write(`${JSON.stringify({ type: 'send', text: secrets.broadcast })}\n`);
    await waitFor(() => carol.stdout.some((l) => l.includes(secrets.broadcast)), 'carol to get alice\'s message', 15_000);

    // Some seconds of the rogues claiming term 999,999: every node keeps its role and term, no client moves.
    const polls = () => contacts(plain) + contacts(tls);
    const seen = polls();
    await waitFor(() => polls() >= seen + 4, 'more rounds of the coordinator asking the rogues', 20_000);
    t.same(nodes.map(roleOf), before, 'every node keeps its role and term');
    for (const c of [alice, carol]) t.notOk(c.stdout.some((l) => l.includes('"resumed":true') || l.includes('"reconnecting"')), 'no client left the coordinator');
    alice.child.stdin!.write(`${JSON.stringify({ type: 'send', text: secrets.afterRogues })}\n`);
    await waitFor(() => carol.stdout.some((l) => l.includes(secrets.afterRogues)), 'a message after the rogues', 15_000);
    for (const r of [plain, tls]) t.notOk(r.lines.some((l) => l.includes('"frame"')), 'no session was opened with the rogue');

    capture.kill('SIGTERM');
    await new Promise((r) => capture.once('exit', r));
    const bytes = readFileSync(pcap);
    t.ok(bytes.includes(Buffer.from('_lanchat')), 'the capture holds the mDNS traffic');
    const rogueSaw = [...plain.lines, ...tls.lines].join('\n');
    for (const [what, secret] of Object.entries(secrets)) {
      const forms = [secret, Buffer.from(secret).toString('base64').slice(0, 12), Buffer.from(secret).toString('hex')];
      t.notOk(forms.some((f) => bytes.includes(f)), `no ${what} on the switch`);
      t.notOk(forms.some((f) => rogueSaw.includes(f)), `no ${what} at the rogues`);
    }
  });
}
