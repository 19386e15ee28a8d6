import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { ChatClient } from '../src/client/chat-client.js';
import { coordinatorOf, startNode, type NodeProc } from './failover.js';
import { percentile } from './stats.js';

/**
 * Failover with a crowd (issue #13): a coordinator and a standby on 127.0.0.1 (TLS, locked-down), `n`
 * logged-in clients; the coordinator is killed with `kill -9` and every client finds the successor
 * and resumes by token, as it would on a LAN (with its own jitter). Per trial: when one client
 * (the probe, one of the crowd, sending at the moment of the kill) has its message acknowledged,
 * when half the crowd is back (p50 of the per-client times) and when all of it is. Every client has its
 * own loopback address (127.1.x.y), as on a LAN, so the per-address limits see 500 machines, not one;
 * but all of them share this machine's two cores with the successor, which a LAN does not.
 */
export interface CrowdFailoverReport {
  clients: number;
  trials: number;
  /** Kill until the probe's message is acknowledged: p50 and max over the trials. */
  probe_p50_ms: number;
  probe_max_ms: number;
  /** Kill until a client is ready again: the median client, p50 over the trials; the slowest client, max over the trials. */
  client_p50_ms: number;
  all_back_p50_ms: number;
  all_back_max_ms: number;
  /** Clients that gave up (never back within the timeout), summed over the trials. */
  gave_up: number;
  /** Per trial; with the CPU time the clients (all in this process) and the successor used until all were back. */
  samples: { probe_ms: number; client_p50_ms: number; all_back_ms: number; successor_coordinating_ms: number; bench_ms: number; successor_ms: number }[];
}

const CONNECT_CONCURRENCY = 16; // registrations in flight: the coordinator queues 16 new accounts beyond the one it hashes
const BACK_TIMEOUT_MS = 30_000; // a trial in which a client is not back by then counts it as given up
const silent = pino({ level: 'silent' });

export async function benchCrowdFailover(n: number, trials: number, log: (s: string) => void): Promise<CrowdFailoverReport> {
  const root = mkdtempSync(join(tmpdir(), 'lanchat-bench-crowd-'));
  const base = 28_000 + (process.pid % 100) * 10;
  const ports = [base, base + 1];
  const nodes: NodeProc[] = [];
  const clients: ChatClient[] = [];
  try {
    nodes.push(await startNode(join(root, 'n0'), ports[0]!, []));
    nodes.push(await startNode(join(root, 'n1'), ports[1]!, [`127.0.0.1:${ports[0]}`]));
    await coordinatorOf(nodes);
    for (let i = 0; i < n; i += CONNECT_CONCURRENCY) {
      const batch = Array.from({ length: Math.min(CONNECT_CONCURRENCY, n - i) }, (_, j) => {
        const c = new ChatClient({ address: `127.0.0.1:${ports[0]}`, user: `c${i + j}`, password: 'pw', localAddress: clientAddress(i + j), register: true, log: silent, reconnectTimeoutMs: BACK_TIMEOUT_MS });
        clients.push(c);
        return c.connect();
      });
      await Promise.all(batch);
    }
    log(`  ${n} clients logged in`);
    const probe = clients[0]!;
    const samples: CrowdFailoverReport['samples'] = [];
    let gaveUp = 0;
    for (let t = 0; t < trials; t++) {
      const victim = await coordinatorOf(nodes);
      const back: number[] = [];
      let killedAt = 0;
      const allBack = new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, BACK_TIMEOUT_MS);
        for (const c of clients) {
          const onReady = (r: { resumed?: boolean }): void => {
            if (r.resumed !== true) return;
            c.off('ready', onReady);
            back.push(performance.now() - killedAt);
            if (back.length === clients.length) (clearTimeout(timer), resolve());
          };
          c.on('ready', onReady);
        }
      });
      const onAck = (a: { id: string }): void => {
        if (a.id === probeId) ackedAt(performance.now() - killedAt);
      };
      let ackedAt: (ms: number) => void = () => undefined;
      const probeAck = new Promise<number>((resolve) => (ackedAt = resolve));
      probe.on('ack', onAck);
      // When the successor says it coordinates, and when it takes its first and last resumed session.
      const successor = nodes.find((x) => x !== victim)!;
      const seen: { coordinating?: number; firstJoin?: number; lastJoin?: number } = {};
      const onLine = (chunk: Buffer): void => {
        const at = performance.now() - killedAt;
        for (const line of chunk.toString().split('\n')) {
          if (line.startsWith('lanchat coordinator')) seen.coordinating ??= at;
          else if (line.includes(' joined (from ')) (seen.firstJoin ??= at), (seen.lastJoin = at);
        }
      };
      successor.child.stdout!.on('data', onLine);
      const cpu0 = { bench: process.cpuUsage(), node: cpuMs(successor.child.pid!) };
      killedAt = performance.now();
      victim.child.kill('SIGKILL');
      const probeId = probe.send(`trial ${t}`);
      await allBack;
      const used = process.cpuUsage(cpu0.bench);
      const cpu = { bench_ms: Math.round((used.user + used.system) / 1000), successor_ms: cpuMs(successor.child.pid!) - cpu0.node };
      const probeMs = await Promise.race([probeAck, new Promise<number>((r) => setTimeout(() => r(Number.NaN), BACK_TIMEOUT_MS))]);
      probe.off('ack', onAck); // also when it never came
      for (const c of clients) c.removeAllListeners('ready');
      successor.child.stdout!.off('data', onLine);
      gaveUp += clients.length - back.length;
      const sample = { probe_ms: round(probeMs), client_p50_ms: round(percentile(back, 50)), all_back_ms: round(back.length === clients.length ? Math.max(...back) : Number.NaN), successor_coordinating_ms: round(seen.coordinating ?? Number.NaN), ...cpu };
      samples.push(sample);
      log(`  trial ${t + 1}/${trials}: probe acknowledged after ${sample.probe_ms} ms; half the clients back after ${sample.client_p50_ms} ms, all ${back.length}/${clients.length} after ${sample.all_back_ms} ms (successor coordinating after ${sample.successor_coordinating_ms} ms, resumed sessions ${round(seen.firstJoin ?? NaN)}–${round(seen.lastJoin ?? NaN)} ms; CPU meanwhile: clients ${cpu.bench_ms} ms, successor ${cpu.successor_ms} ms)`);
      await new Promise((r) => (victim.child.exitCode !== null || victim.child.signalCode !== null ? r(undefined) : victim.child.once('exit', r)));
      const idx = nodes.indexOf(victim);
      const survivor = nodes.find((x) => x !== victim)!;
      nodes[idx] = await startNode(victim.dir, victim.port, [`127.0.0.1:${survivor.port}`]);
      await coordinatorOf(nodes);
    }
    const probes = samples.map((s) => s.probe_ms);
    const alls = samples.map((s) => s.all_back_ms);
    return {
      clients: n,
      trials,
      probe_p50_ms: round(percentile(probes, 50)),
      probe_max_ms: round(Math.max(...probes)),
      client_p50_ms: round(percentile(samples.map((s) => s.client_p50_ms), 50)),
      all_back_p50_ms: round(percentile(alls, 50)),
      all_back_max_ms: round(Math.max(...alls)),
      gave_up: gaveUp,
      samples,
    };
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    // SIGTERM (a node profiled with BENCH_RELAY_NODE_ARGS writes its profile), SIGKILL after a second.
    await Promise.all(nodes.map((x) => new Promise((resolve) => {
      if (x.child.exitCode !== null || x.child.signalCode !== null) return resolve(undefined);
      x.child.once('exit', resolve);
      x.child.kill('SIGTERM');
      setTimeout(() => x.child.kill('SIGKILL'), 2_000).unref();
    })));
    rmSync(root, { recursive: true, force: true });
  }
}

/** Each client its own loopback address (127.1.x.y), as each machine of a LAN has its own. */
function clientAddress(i: number): string {
  return `127.${1 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
}

function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}
