import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The terminal UI's figures (bench/ui-inner.ts), or why they were not measured. */
export type UiBenchResult =
  | {
      trials: number;
      first_screen_p50_ms: number;
      first_screen_max_ms: number;
      first_screen_samples_ms: number[];
      drawn_at_uptime_ms: number[];
      ui_only_rss_at_login_mib: number;
      ui_only_rss_mib: number;
      ui_with_node_rss_mib: number;
      messages: number;
    }
  | { skipped: string };

/** Runs the UI bench in a private network namespace (the UI's node advertises itself over mDNS). */
export function benchUi(trials: number): UiBenchResult {
  const script = fileURLToPath(new URL('./ui-inner.js', import.meta.url));
  const setup = 'ip link set lo up && ip link set lo multicast on && ip route add 224.0.0.0/4 dev lo';
  const r = spawnSync('unshare', [process.getuid?.() === 0 ? '-n' : '-rn', 'sh', '-c', `${setup} && exec "$0" "$@"`, process.execPath, script, String(trials)], {
    encoding: 'utf8',
    timeout: 300_000,
  });
  if (r.status !== 0) return { skipped: `needs a private network namespace and tmux: ${(r.stderr || r.error?.message || '').trim().split('\n').at(-1)}` };
  return JSON.parse(r.stdout) as UiBenchResult;
}
