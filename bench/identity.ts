import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * Start-up cost of a new network: in a fresh Node process, from before the certificate code is loaded
 * until the network's authority and the first node's certificate exist (what a node's first start adds).
 */
export interface IdentityBenchResult {
  trials: number;
  p50_ms: number;
  max_ms: number;
}

const script = `
const t0 = performance.now();
const { createNetworkIdentity, issueNodeCertificate } = await import(${JSON.stringify(new URL('../src/trust/identity.js', import.meta.url).href)});
const authority = await createNetworkIdentity('bench');
await issueNodeCertificate(authority, '0123456789abcdef');
process.stdout.write(String(performance.now() - t0));
`;

export function benchIdentity(trials: number): IdentityBenchResult {
  const samples: number[] = [];
  for (let i = 0; i < trials; i++) {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000, cwd: fileURLToPath(new URL('.', import.meta.url)) });
    if (r.status !== 0) throw new Error(`identity bench failed: ${r.stderr}`);
    samples.push(Number(r.stdout));
  }
  samples.sort((a, b) => a - b);
  return { trials, p50_ms: Math.round(samples[Math.floor(trials / 2)]!), max_ms: Math.round(samples.at(-1)!) };
}
