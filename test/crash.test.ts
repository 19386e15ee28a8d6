import t from 'tap';
import { pino } from 'pino';
import { startServe } from './helpers/processes.js';
import { loggedIn, type TestSocket } from './helpers/ws-client.js';
import { tmpDir } from './helpers/tmp.js';
import { waitFor } from './helpers/wait.js';
import { LogStore } from '../src/coordinator/log-store.js';

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
    const url = `ws://${server.address}`;
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
  const stored = new Set<string>();
  const store = await LogStore.open(`${dataDir}/log`, pino({ level: 'silent' }), {
    origin: 'checker',
    onDurable: (e) => void (e.kind === 'message' && stored.add(e.id)),
    retained: () => [],
  });
  t.teardown(() => store.close());
  const lost = [...acked].filter((id) => !stored.has(id));
  t.same(lost, [], `all ${acked.size} acknowledged messages are on disk after ${ROUNDS} kills`);
  const server = await startServe(t, dataDir);
  const check = await loggedIn(`ws://${server.address}`, 's0', { register: false, password: 'pw' });
  t.teardown(() => check.close());
  t.equal(check.all('chat:message').length, 200, 'the restarted server serves full history');
});
