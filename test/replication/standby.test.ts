import t from 'tap';
import { testCoordinator } from '../helpers/coordinator.js';
import { loggedIn, memberSocket } from '../helpers/ws-client.js';
import type { Node } from '../../src/node/node.js';

/** A raw node: says hello, acknowledges what it is sent until told to go mute (it still answers pings). */
async function rawStandby(url: string, coordinator: Node, id: string, priority: number) {
  const s = await memberSocket(url, coordinator, id);
  await s.nextOf('welcome');
  let mute = false;
  const vv = new Map<string, number>();
  s.ws.on('message', (data) => {
    const f = JSON.parse(data.toString()) as { type: string; entries?: { origin: string; seq: number }[]; vv?: [string, number][] };
    if (f.type === 'peer:welcome') for (const [o, n] of f.vv ?? []) vv.set(o, n);
    if (f.type === 'peer:entries') for (const e of f.entries ?? []) vv.set(e.origin, Math.max(vv.get(e.origin) ?? 0, e.seq));
    if ((f.type === 'peer:entries' || f.type === 'peer:welcome') && !mute) s.send({ type: 'peer:ack', vv: [...vv] });
  });
  s.send({ type: 'peer:hello', id, network: 'default', port: 1, priority, eligible: true, term: 0, vv: [] });
  await s.nextOf('peer:welcome');
  return { s, mute: () => (mute = true) };
}

t.test('a successor that answers pings but never acknowledges leaves the succession list; sends go on (issue #11)', async (t) => {
  const { url, coordinator } = await testCoordinator(t);
  const alice = await loggedIn(url, 'alice');
  t.teardown(() => alice.close());
  const standby = await rawStandby(url, coordinator, 'aaaaaaaaaaaaaaa1', 10);
  t.teardown(() => standby.s.close());
  await alice.next((f) => f.type === 'succession' && (f.standbys as { id: string }[]).some((x) => x.id === 'aaaaaaaaaaaaaaa1'), 'the standby in the succession list');
  alice.send({ type: 'chat:send', id: 'before', text: 'held by two nodes' });
  await alice.next((f) => f.type === 'chat:ack' && f.id === 'before', 'acknowledged while the standby acknowledges');
  standby.mute();
  const sent = performance.now();
  for (let i = 0; i < 5; i++) alice.send({ type: 'chat:send', id: `m${i}`, text: `after ${i}` });
  for (let i = 0; i < 5; i++) await alice.next((f) => f.type === 'chat:ack' && f.id === `m${i}`, `ack ${i}`, 10_000);
  t.pass(`every send acknowledged ${Math.round(performance.now() - sent)} ms after the standby went quiet (bound: 1 s, then alone)`);
  const last = alice.all('succession').at(-1)!;
  t.same(last.standbys, [], 'it left the succession list');
  t.equal(standby.s.closeCode, undefined, 'still attached: it may catch up and come back');
});
