/**
 * File-transfer figures (issue #6): one file of `sizeMiB` from one `lanchat
 * client` to another through the relay (three processes, as on a LAN), and
 * the same bytes over a plain TCP socket between two processes (the limit);
 * plus the coordinator's peak memory above idle during the relay runs.
 * Timing runs from the command on the sender's stdin until the recipient says
 * the file is on disk (for lanchat: also verified by SHA-256).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { CLI, makeTempDir, spawnRelay } from './children.js';
import { percentile, round } from './stats.js';

const TCP_FILE = fileURLToPath(new URL('./tcp-file.js', import.meta.url));
const STEP_TIMEOUT_MS = 120_000; // one transfer of 100 MiB on a slow disk, with room
const SAMPLE_MS = 10; // coordinator RSS sampling period

export interface FileBenchResult {
  size_mib: number;
  trials: number;
  /** Medians over the trials. */
  relay_mib_per_s: number;
  tcp_mib_per_s: number;
  ratio: number;
  relay_ms: number[];
  tcp_ms: number[];
  coordinator_idle_rss_kib: number;
  coordinator_peak_rss_kib: number;
  coordinator_peak_above_idle_mib: number;
}

/** A child whose stdout lines can be awaited. */
class Child {
  readonly proc: ChildProcess;
  readonly #lines: string[] = [];
  #waiter: (() => void) | undefined;

  constructor(args: string[], env: NodeJS.ProcessEnv = {}) {
    this.proc = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, ...env } });
    createInterface({ input: this.proc.stdout! }).on('line', (l) => {
      this.#lines.push(l);
      this.#waiter?.();
    });
  }

  async line(pred: (l: string) => boolean, what: string): Promise<string> {
    const deadline = performance.now() + STEP_TIMEOUT_MS;
    for (;;) {
      const i = this.#lines.findIndex(pred);
      if (i >= 0) return this.#lines.splice(0, i + 1).pop()!;
      if (this.proc.exitCode !== null) throw new Error(`${what}: the process exited (${this.proc.exitCode})`);
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        this.#waiter = resolve;
        setTimeout(resolve, Math.min(left, 1_000)).unref();
      });
    }
  }

  write(line: string): void {
    this.proc.stdin!.write(`${line}\n`);
  }

  kill(): void {
    this.proc.kill('SIGKILL');
  }
}

export async function benchFiles(sizeMiB: number, trials: number, progress: (line: string) => void): Promise<FileBenchResult> {
  const dir = makeTempDir('lanchat-bench-files-');
  const path = join(dir, 'payload.bin');
  const data = randomBytes(sizeMiB * 1024 * 1024);
  const sha256 = createHash('sha256').update(data).digest('hex');
  writeFileSync(path, data);
  const children: Child[] = [];
  try {
    // Relay: coordinator, recipient, sender, each its own process.
    const relay = await spawnRelay();
    const address = `127.0.0.1:${relay.port}`;
    const client = (user: string): Child => {
      const c = new Child([CLI, 'client', '--locked', '--connect', address, '--user', user, '--register', '--download-dir', join(dir, `dl-${user}`), '--data-dir', join(dir, `data-${user}`)], { LANCHAT_PASSWORD: 'bench-pw' });
      children.push(c);
      return c;
    };
    const bob = client('bob');
    await bob.line((l) => l.includes('"type":"ready"'), 'bob ready');
    const alice = client('alice');
    await alice.line((l) => l.includes('"type":"ready"'), 'alice ready');
    await new Promise((r) => setTimeout(r, 500)); // logins settled
    const idle = relay.rssKiB();
    let peak = idle;
    const sampler = setInterval(() => (peak = Math.max(peak, relay.rssKiB())), SAMPLE_MS);
    const relayMs: number[] = [];
    const tcpMs: number[] = [];
    try {
      // One untimed transfer first on each path (JIT, page cache, first allocations), as the fan-out bench warms up.
      for (let i = -1; i < trials; i++) {
        const t0 = performance.now();
        alice.write(JSON.stringify({ type: 'file', path, to: ['bob'] }));
        const line = JSON.parse(await bob.line((l) => l.includes('"type":"file"') || l.includes('"type":"file-failed"'), 'the file at bob')) as { type: string; sha256?: string; path?: string };
        const ms = performance.now() - t0;
        if (line.type !== 'file' || line.sha256 !== sha256) throw new Error(`relay transfer failed: ${JSON.stringify(line)}`);
        await alice.line((l) => l.includes('"type":"file-sent"'), 'file-sent');
        rmSync(line.path!, { force: true });
        if (i >= 0) relayMs.push(ms);
        progress(`  relay${i < 0 ? ' (warm-up)' : ''}: ${sizeMiB} MiB in ${ms.toFixed(0)} ms (${((sizeMiB * 1000) / ms).toFixed(0)} MiB/s)`);
      }
    } finally {
      clearInterval(sampler);
    }
    await relay.stop();

    // The limit: a plain TCP socket between two processes, the receiver writing and syncing the file.
    const recv = new Child([TCP_FILE, 'recv', dir]);
    children.push(recv);
    const port = Number((await recv.line((l) => l.startsWith('listening '), 'the TCP receiver')).split(' ')[1]);
    const send = new Child([TCP_FILE, 'send', String(port)]);
    children.push(send);
    for (let i = -1; i < trials; i++) {
      const t0 = performance.now();
      send.write(path);
      await recv.line((l) => l.startsWith('received '), 'the TCP receiver');
      const ms = performance.now() - t0;
      rmSync(join(dir, `received-${i + 1}`), { force: true });
      if (i >= 0) tcpMs.push(ms);
      progress(`  plain TCP${i < 0 ? ' (warm-up)' : ''}: ${sizeMiB} MiB in ${ms.toFixed(0)} ms (${((sizeMiB * 1000) / ms).toFixed(0)} MiB/s)`);
    }
    const relayRate = (sizeMiB * 1000) / percentile(relayMs, 50);
    const tcpRate = (sizeMiB * 1000) / percentile(tcpMs, 50);
    return {
      size_mib: sizeMiB,
      trials,
      relay_mib_per_s: round(relayRate, 1),
      tcp_mib_per_s: round(tcpRate, 1),
      ratio: round(relayRate / tcpRate, 3),
      relay_ms: relayMs.map((x) => round(x, 1)),
      tcp_ms: tcpMs.map((x) => round(x, 1)),
      coordinator_idle_rss_kib: idle,
      coordinator_peak_rss_kib: peak,
      coordinator_peak_above_idle_mib: round((peak - idle) / 1024, 1),
    };
  } finally {
    for (const c of children) c.kill();
  }
}
