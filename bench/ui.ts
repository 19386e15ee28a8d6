import { runInPrivateNetwork } from './failover.js';

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
  const r = runInPrivateNetwork('./ui-inner.js', [String(trials)], 300_000, true);
  return 'skipped' in r ? { skipped: `needs a private network namespace and tmux: ${r.skipped}` } : (JSON.parse(r.stdout) as UiBenchResult);
}
