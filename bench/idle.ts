import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawnRelay, type ServerChild } from './children.js';
import { Fleet } from './clients.js';

const SETTLE_BEFORE_MS = 1_000; // let the relay finish starting up (and warming up) before the baseline
const LOGIN_CONCURRENCY = 50; // registrations in flight at once (bcrypt cost 4)
const WARM_UP_CONNECTIONS = LOGIN_CONCURRENCY; // logged in before the baseline: starts every lazily created bcrypt worker
const PRESENCE_SETTLE_TIMEOUT_MS = 120_000; // wait at most this for every client to see the final presence list
const POLL_MS = 50;
const IDLE_MS = 5_000; // connections idle (heartbeats only) before the final RSS reading
const MID_IDLE_MS = 3_000; // idle time before the reading at a quarter of the connections
const MID_FRACTION = 0.25; // the intermediate reading, for the marginal cost, is taken at this share of the connections
const RSS_SAMPLE_MS = 1_000; // RSS is sampled this often while idle

/** Memory cost of idle, logged-in connections on the relay. */
export interface IdleResult {
  connections: number;
  /** RSS of the relay just started, before the warm-up connections, in KiB. */
  rssFreshKiB: number;
  rssBeforeKiB: number;
  rssAfterKiB: number;
  /** (after − before) ÷ connections. */
  kibPerConnection: number;
  /** Connections at the intermediate reading. */
  midConnections: number;
  rssMidKiB: number;
  /** Slope between the intermediate and final readings: per-connection cost without fixed costs (heap growth under load). */
  marginalKibPerConnection: number;
  /** Peak RSS of the relay during the test (VmHWM), in KiB. */
  peakRssKiB: number;
  /** RSS samples (KiB) taken once a second while idle. */
  idleRssSamplesKiB: number[];
  /** Time to connect and log in every client and let presence settle, in s. */
  loginSeconds: number;
  /** Connections the relay dropped during the test (should be 0). */
  dropped: number;
}

/**
 * Starts a fresh relay and warms it up with `WARM_UP_CONNECTIONS` logins
 * (the relay starts its bcrypt worker threads on demand: a fixed cost, not
 * a per-connection one). Then reads its RSS, logs in `connections` more
 * clients (`LOGIN_CONCURRENCY` at a time; RSS read once more at a quarter of
 * them), waits until every client has received the final presence list,
 * lets them idle, and reads the RSS again.
 */
export async function measureIdleMemory(connections: number, relayNodeArgs: string[], progress: (line: string) => void): Promise<IdleResult> {
  const relay = await spawnRelay(relayNodeArgs);
  const fleet = new Fleet('relay', `wss://127.0.0.1:${relay.port}`);
  try {
    await sleep(SETTLE_BEFORE_MS);
    const rssFreshKiB = relay.rssKiB();
    await fleet.grow(WARM_UP_CONNECTIONS, LOGIN_CONCURRENCY, 'w');
    await waitForPresence(fleet);
    await sleep(SETTLE_BEFORE_MS);
    const rssBeforeKiB = relay.rssKiB();
    const t0 = performance.now();
    const midConnections = Math.round(connections * MID_FRACTION);
    await fleet.grow(midConnections, LOGIN_CONCURRENCY, 'i');
    await waitForPresence(fleet);
    const rssMidKiB = (await idleRss(relay, MID_IDLE_MS)).at(-1)!;
    await fleet.grow(connections - midConnections, LOGIN_CONCURRENCY, 'i');
    progress(`  ${connections} logged in after ${((performance.now() - t0) / 1000).toFixed(1)} s; waiting for presence to settle`);
    await waitForPresence(fleet);
    const loginSeconds = (performance.now() - t0) / 1000;
    const idleRssSamplesKiB = await idleRss(relay, IDLE_MS);
    const rssAfterKiB = idleRssSamplesKiB.at(-1)!;
    const died = relay.exitInfo();
    if (died !== undefined) throw new Error(`relay ${died}`);
    return {
      connections,
      rssFreshKiB,
      rssBeforeKiB,
      rssAfterKiB,
      kibPerConnection: (rssAfterKiB - rssBeforeKiB) / connections,
      midConnections,
      rssMidKiB,
      marginalKibPerConnection: (rssAfterKiB - rssMidKiB) / (connections - midConnections),
      peakRssKiB: relay.peakRssKiB(),
      idleRssSamplesKiB,
      loginSeconds,
      dropped: fleet.unexpectedCloses,
    };
  } finally {
    fleet.expectClose();
    await relay.stop(); // before the clients go, so the relay is not made to broadcast 2,000 departures
    fleet.closeAll();
  }
}

/** Samples the relay's RSS once a second for `ms` while the clients idle. */
async function idleRss(relay: ServerChild, ms: number): Promise<number[]> {
  const samples: number[] = [];
  for (let waited = 0; waited < ms; waited += RSS_SAMPLE_MS) {
    await sleep(RSS_SAMPLE_MS);
    samples.push(relay.rssKiB());
  }
  return samples;
}

/** Every login broadcasts the presence list to everyone: waits (bounded) until all clients have the last one. */
export async function waitForPresence(fleet: Fleet): Promise<void> {
  const deadline = performance.now() + PRESENCE_SETTLE_TIMEOUT_MS;
  while (!fleet.presenceSettled()) {
    if (performance.now() > deadline) throw new Error(`presence did not settle within ${PRESENCE_SETTLE_TIMEOUT_MS} ms`);
    await sleep(POLL_MS);
  }
}
