import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { percentile } from './stats.js';

const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));

export interface CliStartResult {
  trials: number;
  /** Median wall time of `node -e 0`: the floor of any Node.js command. */
  node_bare_ms: number;
  /** Median wall time of `lanchat --help` (the commands' modules are loaded only when one runs). */
  help_ms: number;
  ratio: number;
}

/** `lanchat --help` against a bare `node -e 0`, interleaved, medians of `trials` each. */
export function benchCliStart(trials: number): CliStartResult {
  const bare: number[] = [];
  const help: number[] = [];
  const time = (args: string[]): number => {
    const t0 = performance.now();
    const r = spawnSync(process.execPath, args, { stdio: 'ignore', timeout: 30_000 });
    if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited with ${r.status ?? r.signal}`);
    return performance.now() - t0;
  };
  for (let i = 0; i < trials; i++) {
    bare.push(time(['-e', '0']));
    help.push(time([CLI, '--help']));
  }
  const b = percentile(bare, 50);
  const h = percentile(help, 50);
  return { trials, node_bare_ms: Math.round(b), help_ms: Math.round(h), ratio: Math.round((h / b) * 100) / 100 };
}
