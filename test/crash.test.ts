import t from 'tap';
import { startServe, startClient } from './helpers/processes.js';
import { loggedIn, type TestSocket } from './helpers/ws-client.js';
import { tmpDir } from './helpers/tmp.js';
import { waitFor } from './helpers/wait.js';
import { readLog } from './helpers/replicated-log.js';

const SENDERS = 4;
const WINDOW = 16; // messages in flight per sender, so kills land mid-batch
const ROUNDS = 3;

/** Keeps `WINDOW` sends in flight until stopped; records every acknowledged message id. */
function stream(s: TestSocket, name: string, acked: Set<string>): { stop: () => void } {
  let next = 0;
  let stopped = false;
  const fire = () => {
    if (stopped || s.ws.readyState !== s.ws.OPEN) return;
    s.send({ type: 'chat:send', id: `${name}-${next}`, text: `${name} ${next}` });
    next++;
  };
  s.ws.on('message', (data) => {
    const f = JSON.parse(data.toString()) as { type: string; messageId?: string };
    if (f.type === 'chat:ack') {
      acked.add(f.messageId!);
      fire();
    }
  });
  for (let i = 0; i < WINDOW; i++) fire();
  return { stop: () => (stopped = true) };
}

t.test('kill -9 during a stream of sends loses nothing acknowledged', async (t) => {
  const dataDir = tmpDir(t);
  const acked = new Set<string>();
  for (let round = 0; round < ROUNDS; round++) {
    const server = await startServe(t, dataDir, ['--max-message-rate', '100000']);
    const url = `wss://${server.address}`;
    const senders = await Promise.all(
      Array.from({ length: SENDERS }, (_, i) => loggedIn(url, `s${i}`, { register: round === 0, password: 'pw' })),
    );
    const before = acked.size;
    const streams = senders.map((s, i) => stream(s, `r${round}s${i}`, acked));
    // Kill at a different point each round, once a few hundred sends were acknowledged.
    await waitFor(() => acked.size >= before + 200 + round * 150, 'acks to flow', 20_000);
    server.proc.kill('SIGKILL');
    await server.proc.exited();
    streams.forEach((s) => s.stop());
    senders.forEach((s) => s.close());
  }
  const stored = new Set((await readLog(`${dataDir}/log`)).flatMap((e) => (e.kind === 'message' ? [e.id] : [])));
  const lost = [...acked].filter((id) => !stored.has(id));
  t.same(lost, [], `all ${acked.size} acknowledged messages are on disk after ${ROUNDS} kills`);
  const server = await startServe(t, dataDir);
  const check = await loggedIn(`wss://${server.address}`, 's0', { register: false, password: 'pw' });
  t.teardown(() => check.close());
  t.equal(check.all('chat:message').length, 200, 'the restarted server serves full history');
});

t.test('a script whose input has ended waits through a coordinator restart for every ack, then exits 0', async (t) => {
  const dataDir = tmpDir(t);
  const first = await startServe(t, dataDir);
  const port = first.address.split(':')[1]!;
  const client = await startClient(t, first.address, 'bot', { register: true });
  const N = 60; // more than the send rate lets out at once (burst 40, then 20 a second): many are pending at the kill
  for (let i = 0; i < N; i++) client.write({ type: 'send', text: `line ${i}`, id: `b${i}` });
  client.end();
  await client.next((e) => e.type === 'ack', 'a first ack');
  first.proc.kill('SIGKILL');
  await first.proc.exited();
  await client.next((e) => e.type === 'reconnecting', 'reconnecting');
  await new Promise((r) => setTimeout(r, 1_500)); // down for longer than the client's backoff steps
  t.equal(client.exitCode, undefined, 'still waiting for its acks while the coordinator is down');
  await startServe(t, dataDir, ['--port', port]);
  t.equal(await client.exited(20_000), 0, 'exits 0 once everything is acknowledged');
  const acks = new Set(client.events.filter((e) => e.type === 'ack').map((e) => e.id));
  t.equal(acks.size, N, 'every send acknowledged');
});
