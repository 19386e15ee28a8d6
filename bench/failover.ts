import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { ChatClient } from '../src/client/chat-client.js';
import { fetchStatus } from '../src/discovery/status.js';
import { percentile } from './stats.js';

/**
 * Failover figures (issue #4): time from the coordinator's death until
 * another client can send again, after `kill -9` and after `kill -STOP`; and
 * messages lost or duplicated across all trials. Nodes run locked-down on
 * 127.0.0.1 (`--join`), so no multicast leaves this machine.
 */

const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));
const NODES = 3;
const STREAM_EVERY_MS = 20; // a steady stream from one client during every trial
const TRIAL_TIMEOUT_MS = 15_000;
const silent = pino({ level: 'silent' });

export interface FailoverFigures {
  trials: number;
  p50_ms: number;
  max_ms: number;
  samples_ms: number[];
}

export interface FailoverReport {
  kill9: FailoverFigures;
  stop: FailoverFigures;
  messages_sent: number;
  messages_lost: number;
  messages_duplicated: number;
}

export interface NodeProc {
  port: number;
  dir: string;
  child: ChildProcess;
}

export function startNode(dir: string, port: number, join: string[]): Promise<NodeProc> {
  const args = ['serve', '--locked', '--host', '127.0.0.1', '--port', String(port), '--data-dir', dir, '--bcrypt-cost', '4', '--max-message-rate', '10000', '--registration-rate', '1000000', ...join.flatMap((j) => ['--join', j])];
  const nodeArgs = (process.env['BENCH_RELAY_NODE_ARGS'] ?? '').split(' ').filter((a) => a !== '');
  const child = spawn(process.execPath, [...nodeArgs, CLI, ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node on ${port} did not settle`)), TRIAL_TIMEOUT_MS);
    createInterface({ input: child.stdout! }).on('line', (l) => {
      if (/^lanchat (coordinator|standby) /.test(l)) {
        clearTimeout(timer);
        resolve({ port, dir, child });
      }
    });
  });
}

export async function coordinatorOf(nodes: NodeProc[]): Promise<NodeProc> {
  const deadline = Date.now() + TRIAL_TIMEOUT_MS;
  while (Date.now() < deadline) {
    for (const n of nodes) {
      const st = await fetchStatus(`127.0.0.1:${n.port}`);
      if (st?.role === 'coordinator') {
        const standbys = await Promise.all(nodes.filter((x) => x !== n).map((x) => fetchStatus(`127.0.0.1:${x.port}`)));
        if (standbys.every((s) => s?.role === 'standby' && s.coordinator?.endsWith(`:${n.port}`))) return n;
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('no settled cluster');
}

/** Runs `kill9Trials` kill -9 and `stopTrials` kill -STOP failovers on one cluster. */
export async function benchFailover(kill9Trials: number, stopTrials: number, log: (s: string) => void): Promise<FailoverReport> {
  const root = mkdtempSync(join(tmpdir(), 'lanchat-bench-failover-'));
  const base = 27_000 + (process.pid % 100) * 10;
  const ports = Array.from({ length: NODES }, (_, i) => base + i);
  const addresses = ports.map((p) => `127.0.0.1:${p}`);
  const nodes: NodeProc[] = [];
  const clients: ChatClient[] = [];
  try {
    nodes.push(await startNode(join(root, 'n0'), ports[0]!, []));
    for (let i = 1; i < NODES; i++) nodes.push(await startNode(join(root, `n${i}`), ports[i]!, [addresses[0]!]));
    const mk = (user: string) => {
      const c = new ChatClient({ address: addresses[0]!, user, password: 'pw', register: true, log: silent, reconnectTimeoutMs: TRIAL_TIMEOUT_MS });
      clients.push(c);
      return c;
    };
    const sender = mk('sender');
    const other = mk('other');
    const reader = mk('reader');
    await Promise.all(clients.map((c) => c.connect()));
    const acked = new Set<string>();
    const received = new Map<string, number>();
    sender.on('ack', (a) => acked.add(a.messageId));
    reader.on('message', (m) => m.from === 'sender' && received.set(m.id, (received.get(m.id) ?? 0) + 1));
    let sent = 0;
    const streamer = setInterval(() => {
      sender.send(`m${sent++}`);
    }, STREAM_EVERY_MS);

    const trial = async (signal: 'SIGKILL' | 'SIGSTOP'): Promise<number> => {
      const victim = await coordinatorOf(nodes);
      await new Promise((r) => setTimeout(r, 200)); // some traffic first
      const acks = new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no ack after failover')), TRIAL_TIMEOUT_MS);
        const onAck = (a: { id: string }): void => {
          if (a.id !== probe) return;
          clearTimeout(timer);
          other.off('ack', onAck);
          resolve(performance.now());
        };
        other.on('ack', onAck);
      });
      const killedAt = performance.now();
      victim.child.kill(signal);
      const probe = other.send('can I send?'); // queued in the outbox until a coordinator takes it
      const ms = (await acks) - killedAt;
      if (signal === 'SIGSTOP') victim.child.kill('SIGKILL');
      await new Promise((r) => victim.child.exitCode !== null || victim.child.signalCode !== null ? r(undefined) : victim.child.once('exit', r));
      // Bring the node back as a standby for the next trial.
      const idx = nodes.indexOf(victim);
      const live = nodes.filter((n) => n !== victim).map((n) => `127.0.0.1:${n.port}`);
      nodes[idx] = await startNode(victim.dir, victim.port, live);
      return ms;
    };

    const run = async (signal: 'SIGKILL' | 'SIGSTOP', n: number): Promise<FailoverFigures> => {
      const samples: number[] = [];
      for (let i = 0; i < n; i++) {
        samples.push(await trial(signal));
        log(`  ${signal === 'SIGKILL' ? 'kill -9' : 'kill -STOP'} trial ${i + 1}/${n}: ${samples.at(-1)!.toFixed(0)} ms`);
      }
      return { trials: n, p50_ms: round(percentile(samples, 50)), max_ms: round(Math.max(...samples)), samples_ms: samples.map(round) };
    };
    const kill9 = await run('SIGKILL', kill9Trials);
    const stop = await run('SIGSTOP', stopTrials);
    clearInterval(streamer);
    await sender.drained();
    await new Promise((r) => setTimeout(r, 500)); // the last deliveries
    const lost = [...acked].filter((id) => !received.has(id)).length;
    const duplicated = [...received.values()].filter((c) => c > 1).length;
    return { kill9, stop, messages_sent: acked.size, messages_lost: lost, messages_duplicated: duplicated };
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    for (const n of nodes) n.child.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  }
}

/**
 * Zero-config start (issue #4): time from launching `lanchat client` (no
 * address) until its `ready` line, with a coordinator running. Needs real
 * mDNS, so it runs in a private network namespace (`unshare -n` as root,
 * `unshare -rn` otherwise); undefined where that is impossible.
 */
export type ZeroConfigResult = { trials: number; p50_ms: number; max_ms: number } | { skipped: string };

export function benchZeroConfig(trials: number): ZeroConfigResult {
  const r = runInPrivateNetwork('./zero-config-inner.js', [String(trials)], 120_000);
  return 'skipped' in r ? { skipped: `needs a private network namespace: ${r.skipped}` } : (JSON.parse(r.stdout) as { trials: number; p50_ms: number; max_ms: number });
}

/**
 * Runs the bench script `script` (next to this file) in a private network namespace with only `lo`,
 * multicast on and a 224.0.0.0/4 route; its stdout, or why it could not run (the first line of its error).
 */
export function runInPrivateNetwork(script: string, args: string[], timeoutMs: number, lastLine = false): { stdout: string } | { skipped: string } {
  const path = fileURLToPath(new URL(script, import.meta.url));
  const setup = 'ip link set lo up && ip link set lo multicast on && ip route add 224.0.0.0/4 dev lo';
  const r = spawnSync('unshare', [process.getuid?.() === 0 ? '-n' : '-rn', 'sh', '-c', `${setup} && exec "$0" "$@"`, process.execPath, path, ...args], { encoding: 'utf8', timeout: timeoutMs });
  if (r.status === 0) return { stdout: r.stdout };
  const lines = (r.stderr || r.error?.message || '').trim().split('\n');
  return { skipped: (lastLine ? lines.at(-1) : lines[0]) ?? '' };
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}
