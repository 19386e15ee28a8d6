import t, { type Test } from 'tap';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileChunk, loggedIn, offerFile } from './helpers/ws-client.js';
import { Proc, startClient, type JsonClient } from './helpers/processes.js';
import { tmpDir } from './helpers/tmp.js';
import { waitFor } from './helpers/wait.js';

/**
 * Failover between processes on 127.0.0.1 in locked-down mode (`--join`, no
 * mDNS): what happens when the coordinator dies, freezes or leaves.
 */

/** Starts a locked node; resolves once it reports a role. */
async function startNode(t: Test, dir: string, port: number, join: string[] = [], priority = 0): Promise<Proc> {
  const p = new Proc(['serve', '--locked', '--host', '127.0.0.1', '--port', String(port), '--data-dir', dir, '--bcrypt-cost', '4', '--priority', String(priority), ...join.flatMap((j) => ['--join', j])]);
  t.teardown(async () => {
    // A clean exit writes the child's coverage; a frozen or stuck one is killed.
    p.child.kill('SIGCONT');
    p.kill('SIGTERM');
    await p.exited(5_000).catch(() => p.kill('SIGKILL'));
  });
  await p.line(/^lanchat (coordinator|standby) /);
  return p;
}

let basePort = 17_100 + (process.pid % 50) * 10;

async function cluster(t: Test) {
  const dir = tmpDir(t);
  const ports = [basePort, basePort + 1, basePort + 2];
  basePort += 3;
  const first = `127.0.0.1:${ports[0]}`;
  // Priorities make n2 the successor whatever order the standbys' first acks come in.
  const nodes = [await startNode(t, join(dir, 'n1'), ports[0]!, [], 3)];
  nodes.push(await startNode(t, join(dir, 'n2'), ports[1]!, [first], 2));
  nodes.push(await startNode(t, join(dir, 'n3'), ports[2]!, [first], 1));
  t.match(nodes[0]!.stdout[0], /coordinator .* \(term \d+\)/);
  // A fresh node that looked for its network under load may join one term up, and the coordinator then
  // moves past it: wait until the three agree on a term (the one a failover must go above).
  const term = await waitFor(() => {
    const terms = nodes.map(lastTerm);
    return terms.every((x) => x !== undefined && x === terms[0]) && terms[0];
  }, 'the three nodes to agree on a term');
  t.match(nodes[0]!.stdout.filter((l) => l.startsWith('lanchat ')).at(-1), /^lanchat coordinator/, 'n1 coordinates');
  // Their role lines, whatever else they printed around them (the password notes come as the node starts).
  for (const n of nodes.slice(1)) t.match(n.stdout.filter((l) => l.startsWith('lanchat ')).at(-1), new RegExp(`coordinator at ${first} \\(term ${term}\\)`));
  return { nodes, first, term };
}

/** The term a node last said it is in. */
function lastTerm(n: Proc): number | undefined {
  const m = n.stdout.map((l) => /^lanchat (?:coordinator|standby) .*\(term (\d+)\)/.exec(l)).filter((x) => x !== null).at(-1);
  return m ? Number(m[1]) : undefined;
}

/** Waits for `n` to say it coordinates in a term above `term`; its address. */
async function coordinatesAbove(n: Proc, term: number): Promise<string> {
  const m = await waitFor(() => n.stdout.map((l) => /^lanchat coordinator for network "default" at (127\.0\.0\.1:\d+) \(term (\d+)\)/.exec(l)).find((x) => x !== null && Number(x[2]) > term) ?? undefined, `a coordinator above term ${term}`, 10_000);
  return m[1]!;
}

/** Sends `count` messages at the client's pace; returns the acked message ids. */
async function stream(sender: JsonClient, count: number, tag: string): Promise<void> {
  for (let i = 0; i < count; i++) sender.write({ type: 'send', text: `${tag} ${i}`, id: `${tag}-${i}` });
}

function messageIds(c: JsonClient): string[] {
  return c.events.filter((e) => e.type === 'message').map((e) => e.id as string);
}

async function checkExactlyOnce(t: Test, alice: JsonClient, bob: JsonClient, count: number, tag: string) {
  await waitFor(() => alice.events.filter((e) => e.type === 'ack').length === count, `${count} acks`, 30_000);
  const acked = alice.events.filter((e) => e.type === 'ack').map((e) => e.messageId as string);
  t.equal(new Set(acked).size, count, 'every send acknowledged once');
  await waitFor(() => acked.every((id) => messageIds(bob).includes(id)), 'bob to have every acknowledged message', 15_000);
  const got = messageIds(bob);
  t.equal(got.length, new Set(got).size, 'no duplicates at the other client');
  t.same(bob.events.filter((e) => e.type === 'message').map((e) => e.text), Array.from({ length: count }, (_, i) => `${tag} ${i}`), 'in order, none missing');
  t.ok(alice.events.some((e) => e.type === 'reconnecting') && alice.events.filter((e) => e.type === 'ready').length === 2, 'alice reconnected once');
  t.same(alice.events.filter((e) => e.type === 'error'), [], 'no errors');
}

t.test('kill -9 of the coordinator during a stream: the successor takes over, nothing lost or doubled', async (t) => {
  const { nodes, first, term } = await cluster(t);
  const alice = await startClient(t, first, 'alice', { register: true });
  const bob = await startClient(t, first, 'bob', { register: true });
  await stream(alice, 60, 'k');
  await waitFor(() => alice.events.filter((e) => e.type === 'ack').length >= 20, 'some acks first');
  nodes[0]!.kill('SIGKILL');
  const successor = await coordinatesAbove(nodes[1]!, term);
  await checkExactlyOnce(t, alice, bob, 60, 'k');
  await waitFor(() => nodes[2]!.stdout.some((l) => l.includes(`standby`) && l.includes(`coordinator at ${successor} (term ${lastTerm(nodes[1]!)})`)), 'n3 to follow the successor');
});

t.test('kill -STOP of the coordinator (silent failure): the same, after the heartbeat timeout', async (t) => {
  const { nodes, first, term } = await cluster(t);
  const alice = await startClient(t, first, 'alice', { register: true });
  const bob = await startClient(t, first, 'bob', { register: true });
  await stream(alice, 60, 's');
  await waitFor(() => alice.events.filter((e) => e.type === 'ack').length >= 20, 'some acks first');
  nodes[0]!.kill('SIGSTOP');
  await coordinatesAbove(nodes[1]!, term);
  await checkExactlyOnce(t, alice, bob, 60, 's');
});

t.test('clean exit of the coordinator: hand-off, no error on clients', async (t) => {
  const { nodes, first } = await cluster(t);
  const alice = await startClient(t, first, 'alice', { register: true });
  const bob = await startClient(t, first, 'bob', { register: true });
  await stream(alice, 40, 'c');
  await waitFor(() => alice.events.filter((e) => e.type === 'ack').length >= 10, 'some acks first');
  nodes[0]!.kill('SIGTERM');
  t.equal(await nodes[0]!.exited(), 0, `a clean exit (stderr: ${nodes[0]!.stderr.slice(-30).join(' | ')})`);
  await checkExactlyOnce(t, alice, bob, 40, 'c');
  t.same(bob.events.filter((e) => e.type === 'error'), []);
});

t.test('a failover in the middle of file transfers: both ends say so, nothing partial is left, and the file can be sent again', async (t) => {
  const { nodes, first } = await cluster(t);
  const dir = tmpDir(t);
  const downloads = join(dir, 'bob-downloads');
  const bob = await startClient(t, first, 'bob', { register: true, args: ['--download-dir', downloads] });
  const alice = await startClient(t, first, 'alice', { register: true });
  // carol reads but never acknowledges, so alice's file stops at the window: mid-transfer when the coordinator dies.
  const carol = await loggedIn(`wss://${first}`, 'carol');
  t.teardown(() => carol.close());
  const big = join(dir, 'big.bin');
  writeFileSync(big, randomBytes(20 * 1024 * 1024));
  alice.write({ type: 'file', path: big, to: ['carol'], id: 'to-carol' });
  await carol.next((f) => f.type === 'binary', 'the first chunk at carol');
  // mallory sends bob half a file, then waits.
  const mallory = await loggedIn(`wss://${first}`, 'mallory');
  t.teardown(() => mallory.close());
  mallory.send(fileChunk(await offerFile(mallory, 'half.bin', 1000, ['bob']), randomBytes(500)));
  await bob.next((e) => e.type === 'file-progress' && e.received === 500, 'half the file written at bob');

  nodes[0]!.kill('SIGKILL');
  t.match(await alice.next((e) => e.type === 'error', 'alice told'), { code: 'file_failed', id: 'to-carol', message: /connection to the coordinator was lost; send it again/ });
  t.match(await bob.next((e) => e.type === 'file-failed', 'bob told'), { name: 'half.bin', reason: /connection to the coordinator was lost/ });
  await waitFor(() => !existsSync(downloads) || readdirSync(downloads).length === 0, 'no partial file at bob');
  await alice.next((e) => e.type === 'ready' && e.resumed === true, 'alice back', 15_000);
  await bob.next((e) => e.type === 'ready' && e.resumed === true, 'bob back', 15_000);

  alice.write({ type: 'file', path: big, to: ['bob'], id: 'again' });
  t.match(await alice.next((e) => e.type === 'file-sent' || e.type === 'error', 'the resend', 30_000), { type: 'file-sent', id: 'again', to: ['bob'] });
  const got = await bob.next((e) => e.type === 'file', 'the file at bob');
  t.equal(readFileSync(got.path as string).equals(readFileSync(big)), true, 'the new coordinator relayed it whole');
  t.same(readdirSync(downloads), ['big.bin'], 'and only it');
});
