import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/**
 * Runs inside a private network namespace (bench/failover.ts arranges it):
 * one node, then `trials` clients started without an address, each timed
 * from launch to its `ready` line. Prints one JSON object.
 */
const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));
const trials = Number(process.argv[2] ?? 20);
const root = mkdtempSync(join(tmpdir(), 'lanchat-bench-zc-'));

function waitLine(child: ReturnType<typeof spawn>, re: RegExp, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${re} within ${timeoutMs} ms`)), timeoutMs);
    createInterface({ input: child.stdout! }).on('line', (l) => {
      if (re.test(l)) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

const node = spawn(process.execPath, [CLI, 'serve', '--host', '127.0.0.1', '--port', '0', '--data-dir', join(root, 'node'), '--bcrypt-cost', '4'], { stdio: ['ignore', 'pipe', 'ignore'] });
try {
  await waitLine(node, /^lanchat coordinator/, 10_000);
  const env = { ...process.env, LANCHAT_PASSWORD: 'pw' };
  const reg = spawn(process.execPath, [CLI, 'client', '--user', 'bench', '--register', '--data-dir', join(root, 'c')], { env, stdio: ['pipe', 'pipe', 'ignore'] });
  await waitLine(reg, /"type":"ready"/, 10_000);
  reg.stdin!.end();
  const samples: number[] = [];
  for (let i = 0; i < trials; i++) {
    const t0 = performance.now();
    const c = spawn(process.execPath, [CLI, 'client', '--user', 'bench', '--data-dir', join(root, `c${i}`)], { env, stdio: ['pipe', 'pipe', 'ignore'] });
    await waitLine(c, /"type":"ready"/, 10_000);
    samples.push(performance.now() - t0);
    c.stdin!.end();
    await new Promise((r) => c.once('exit', r));
  }
  const sorted = [...samples].sort((a, b) => a - b);
  const r1 = (x: number) => Math.round(x * 10) / 10;
  process.stdout.write(JSON.stringify({ trials, p50_ms: r1(sorted[Math.floor(trials / 2)]!), max_ms: r1(sorted.at(-1)!), samples_ms: samples.map(r1) }));
} finally {
  node.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
}
