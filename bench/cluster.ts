import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { fetchStatus } from '../src/discovery/status.js';
import { round } from './stats.js';

/**
 * Cluster figures (issue #11): no failover while both CPUs are saturated by
 * another process, and a 20 s partition with senders on both sides: nothing
 * acknowledged missing 5 s after the heal, and how long until every replica
 * agrees.
 */

const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));

interface Child {
  child: ChildProcess;
  lines: string[];
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Child {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'ignore'], env: { ...process.env, ...env } });
  live.add(child);
  child.once('exit', () => live.delete(child));
  child.stdin!.on('error', () => undefined);
  const lines: string[] = [];
  createInterface({ input: child.stdout! }).on('line', (l) => lines.push(l));
  return { child, lines };
}

async function until<T>(check: () => T | undefined | false, what: string, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export interface StabilityResult {
  minutes: number;
  /** Busy processes beside the cluster (one per CPU). */
  burners: number;
  failovers: number;
  /** Role or coordinator changes seen on any node (0 when stable). */
  role_changes: number;
  messages_acked: number;
}

/**
 * A 3-node cluster on 127.0.0.1 with a client sending 5 messages/s, for
 * `minutes`, while one busy loop per CPU saturates the machine: counts terms
 * that change (failovers) and role changes. The failure detector (a standby
 * presumes its coordinator dead after 1 s of silence) must not fire.
 */
export async function benchStability(minutes: number, cpus: number, log: (s: string) => void): Promise<StabilityResult> {
  const root = mkdtempSync(join(tmpdir(), 'lanchat-bench-stable-'));
  const base = 28_000 + (process.pid % 100) * 10;
  const nodes: Child[] = [];
  const burners: ChildProcess[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      const join_ = i === 0 ? [] : ['--join', `127.0.0.1:${base}`];
      nodes.push(run(process.execPath, [CLI, 'serve', '--locked', '--host', '127.0.0.1', '--port', String(base + i), '--data-dir', join(root, `n${i}`), '--bcrypt-cost', '4', '--registration-rate', '1000000', ...join_]));
      await until(() => nodes[i]!.lines.some((l) => /^lanchat (coordinator|standby) /.test(l)), `node ${i}`, 15_000);
    }
    const client = run(process.execPath, [CLI, 'client', '--locked', '--connect', `127.0.0.1:${base}`, '--user', 'steady', '--register', '--data-dir', join(root, 'c')], { LANCHAT_PASSWORD: 'pw' });
    await until(() => client.lines.some((l) => l.includes('"type":"ready"')), 'the client', 15_000);
    for (let i = 0; i < cpus; i++) {
      const b = spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' });
      live.add(b);
      burners.push(b);
    }
    const roles = new Map<number, string>();
    let changes = 0;
    const terms = new Set<number>();
    const end = Date.now() + minutes * 60_000;
    let sent = 0;
    const sender = setInterval(() => client.child.stdin!.write(`${JSON.stringify({ type: 'send', text: `tick ${sent++}` })}\n`), 200);
    while (Date.now() < end) {
      for (let i = 0; i < 3; i++) {
        const st = await fetchStatus(`127.0.0.1:${base + i}`, 2_000);
        if (!st) continue;
        const key = `${st.role} ${st.coordinator ?? ''}`;
        if (roles.has(i) && roles.get(i) !== key) changes++;
        roles.set(i, key);
        if (st.role === 'coordinator') terms.add(st.term);
      }
      await new Promise((r) => setTimeout(r, 1_000));
      const left = Math.round((end - Date.now()) / 1000);
      if (left % 60 === 0) log(`  ${left} s left, terms seen ${[...terms].join(', ')}`);
    }
    clearInterval(sender);
    for (const b of burners) b.kill('SIGKILL');
    const acked = client.lines.filter((l) => l.includes('"type":"ack"')).length;
    return { minutes, burners: cpus, failovers: terms.size - 1, role_changes: changes, messages_acked: acked };
  } finally {
    for (const b of burners) b.kill('SIGKILL');
    for (const n of nodes) n.child.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  }
}

export type PartitionResult =
  | {
      split_s: number;
      senders_per_side: number;
      rate_per_sender: number;
      acked: number;
      /** Acknowledged messages some client had not received 5 s after the heal. */
      missing_5s_after_heal: number;
      /** From the heal until every node holds the same number of entries (and one coordinator). */
      replicas_agree_ms: number | undefined;
      coordinators_after: number;
    }
  | { skipped: string };

/**
 * Two LANs (network namespaces) behind one switch, 2 nodes on each; 3 users a
 * side each sending 10 messages/s to everyone. The switch is split for
 * `splitS` seconds, then healed. Root only (ip netns); nothing leaves them.
 */
export async function benchPartition(splitS: number, log: (s: string) => void): Promise<PartitionResult> {
  if (process.getuid?.() !== 0) return { skipped: 'needs root for ip netns' };
  const id = `lcb${process.pid % 100_000}`;
  const ns = { a: `${id}a`, b: `${id}b`, sw: `${id}s` };
  const net = `10.252.${process.pid % 250}`;
  const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
  const names = [ns.a, ns.b, ns.sw];
  const down = () => {
    for (const n of names) {
      try {
        ip('netns', 'del', n);
      } catch {
        // gone
      }
    }
  };
  const root = mkdtempSync(join(tmpdir(), 'lanchat-bench-split-'));
  const procs: Child[] = [];
  try {
    for (const n of names) ip('netns', 'add', n);
    for (const br of ['br0', 'br1']) {
      ip('-n', ns.sw, 'link', 'add', br, 'type', 'bridge', 'mcast_snooping', '0');
      ip('-n', ns.sw, 'link', 'set', br, 'up');
    }
    for (const [n, host] of [[ns.a, 1], [ns.b, 2]] as const) {
      ip('-n', ns.sw, 'link', 'add', `p${host}`, 'type', 'veth', 'peer', 'name', 'lan0', 'netns', n);
      ip('-n', ns.sw, 'link', 'set', `p${host}`, 'master', 'br0', 'up');
      ip('-n', n, 'addr', 'add', `${net}.${host}/24`, 'dev', 'lan0');
      ip('-n', n, 'link', 'set', 'lo', 'up');
      ip('-n', n, 'link', 'set', 'lan0', 'up');
    }
  } catch (err) {
    down();
    rmSync(root, { recursive: true, force: true });
    return { skipped: `cannot create network namespaces: ${(err as Error).message.split('\n')[0]}` };
  }
  const hosts = { a: `${net}.1`, b: `${net}.2` };
  const inNs = (side: 'a' | 'b', args: string[], env: NodeJS.ProcessEnv = {}) => {
    const c = run('ip', ['netns', 'exec', ns[side], process.execPath, CLI, ...args], env);
    procs.push(c);
    return c;
  };
  try {
    const nodeArgs = (side: 'a' | 'b', name: string, port: number, join_: string[]) => ['serve', '--locked', '--host', hosts[side], '--port', String(port), '--data-dir', join(root, name), '--bcrypt-cost', '4', '--max-message-rate', '100', '--registration-rate', '1000000', ...join_.flatMap((j) => ['--join', j])];
    const first = `${hosts.a}:7401`;
    const all = [first, `${hosts.a}:7402`, `${hosts.b}:7401`, `${hosts.b}:7402`];
    const nodes = [inNs('a', nodeArgs('a', 'a1', 7401, []))];
    await until(() => nodes[0]!.lines.some((l) => l.startsWith('lanchat coordinator')), 'the first node', 15_000);
    nodes.push(inNs('a', nodeArgs('a', 'a2', 7402, all)), inNs('b', nodeArgs('b', 'b1', 7401, all)), inNs('b', nodeArgs('b', 'b2', 7402, all)));
    await until(() => nodes.slice(1).every((n) => n.lines.some((l) => l.startsWith('lanchat standby'))), 'three standbys', 20_000);
    const users: { side: 'a' | 'b'; name: string; c: Child }[] = [];
    for (const side of ['a', 'b'] as const) {
      for (let i = 0; i < 3; i++) {
        const name = `${side}${i}`;
        const home = side === 'a' ? all[0]! : all[2]!;
        const c = inNs(side, ['client', '--locked', '--connect', home, '--user', name, '--register', '--data-dir', join(root, `c-${name}`)], { LANCHAT_PASSWORD: `pw-${name}` });
        users.push({ side, name, c });
      }
    }
    await until(() => users.every((u) => u.c.lines.some((l) => l.includes('"type":"ready"'))), 'six users', 20_000);
    let k = 0;
    const senders = setInterval(() => {
      for (const u of users) u.c.child.stdin!.write(`${JSON.stringify({ type: 'send', text: `${u.name} ${k}`, id: `${u.name}-${k}` })}\n`);
      k++;
    }, 100);
    await new Promise((r) => setTimeout(r, 3_000));
    log(`  split for ${splitS} s`);
    ip('-n', ns.sw, 'link', 'set', 'p2', 'master', 'br1');
    await new Promise((r) => setTimeout(r, splitS * 1_000));
    ip('-n', ns.sw, 'link', 'set', 'p2', 'master', 'br0');
    const healed = Date.now();
    log('  healed');
    await new Promise((r) => setTimeout(r, 3_000));
    clearInterval(senders);
    // Replicas agree: one coordinator, every node the same number of entries (the same vector).
    let agreeMs: number | undefined;
    const deadline = healed + 60_000;
    while (Date.now() < deadline) {
      const sts = await Promise.all(all.map((a) => nodeStatus(ns[a.startsWith(hosts.a) ? 'a' : 'b'], a)));
      const positions = new Set(sts.map((s) => s?.position));
      if (sts.every((s) => s) && sts.filter((s) => s!.role === 'coordinator').length === 1 && positions.size === 1) {
        agreeMs = Date.now() - healed;
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    // 5 s after the senders stopped: what was acknowledged must be at every user.
    const stopAt = Date.now();
    await new Promise((r) => setTimeout(r, Math.max(0, healed + 3_000 + 5_000 - stopAt)));
    const acked = new Set<string>();
    for (const u of users) for (const l of u.c.lines) if (l.includes('"type":"ack"')) acked.add(String((JSON.parse(l) as { id: string }).id));
    let missing = 0;
    for (const u of users) {
      const got = new Set(u.c.lines.filter((l) => l.includes('"type":"message"')).map((l) => (JSON.parse(l) as { text: string }).text.replace(' ', '-')));
      for (const id of acked) if (!got.has(id)) missing++;
    }
    const sts = await Promise.all(all.map((a) => nodeStatus(ns[a.startsWith(hosts.a) ? 'a' : 'b'], a)));
    return {
      split_s: splitS,
      senders_per_side: 3,
      rate_per_sender: 10,
      acked: acked.size,
      missing_5s_after_heal: missing,
      replicas_agree_ms: agreeMs === undefined ? undefined : round(agreeMs, 0),
      coordinators_after: sts.filter((s) => s?.role === 'coordinator').length,
    };
  } finally {
    for (const p of procs) p.child.kill('SIGKILL');
    down();
    rmSync(root, { recursive: true, force: true });
  }
}

/** `/status` of a node inside a namespace (the bench itself is outside). */
async function nodeStatus(netns: string, address: string): Promise<{ role: string; position: number } | undefined> {
  return new Promise((resolve) => {
    const script = `require('node:https').get('https://${address}/status', { rejectUnauthorized: false, timeout: 1000 }, (r) => { let t = ''; r.on('data', (d) => (t += d)); r.on('end', () => process.stdout.write(t)); }).on('error', () => undefined)`;
    const p = spawn('ip', ['netns', 'exec', netns, process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.on('exit', () => {
      try {
        resolve(JSON.parse(out) as { role: string; position: number });
      } catch {
        resolve(undefined);
      }
    });
  });
}
