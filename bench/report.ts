import type { UiBenchResult } from './ui.js';
import type { IdentityBenchResult } from './identity.js';
import type { FailoverFigures, ZeroConfigResult } from './failover.js';
import type { CrowdFailoverReport } from './crowd.js';
import type { AbuseRow } from './abuse.js';
import type { CliStartResult } from './cli.js';

/** The relay with and without the optional native masking of `bufferutil`. */
export interface MaskingResult {
  clients: number;
  native_deliveries_per_s: number;
  js_deliveries_per_s: number;
  /** JS fallback ÷ native. */
  ratio: number;
}
import type { FileBenchResult } from './files.js';
import type { PartitionResult, StabilityResult } from './cluster.js';

/** One fan-out size, as printed in --json (snake_case: it is an output format). */
export interface FanoutRow {
  clients: number;
  /** Relay, maximum rate. */
  relay_deliveries_per_s: number;
  /** Bare `ws` broadcast server, maximum rate, same senders and window. */
  bare_deliveries_per_s: number;
  /** relay ÷ bare deliveries per second. */
  ratio: number;
  /** Relay latency in the paced run at half its maximum message rate. */
  p50_ms: number;
  p99_ms: number;
  relay_max_messages_per_s: number;
  bare_max_messages_per_s: number;
  /** Messages per second actually completed in the half-rate run. */
  paced_messages_per_s: number;
  relay_max_rate_p50_ms: number;
  relay_max_rate_p99_ms: number;
  bare_max_rate_p50_ms: number;
  bare_max_rate_p99_ms: number;
  /** Bare server paced at the relay's half rate: the transport's share of p50_ms / p99_ms. */
  bare_paced_p50_ms: number;
  bare_paced_p99_ms: number;
  relay_paced_max_ms: number;
  relay_max_rate_server_cpu_pct: number;
  relay_max_rate_bench_cpu_pct: number;
  bare_max_rate_server_cpu_pct: number;
  bare_max_rate_bench_cpu_pct: number;
  /** Highest CPU use by other processes (kernel threads excluded) during any of the four kept runs, in % of one core: high means a noisy run. */
  other_cpu_pct_max: number;
  /** Highest hypervisor steal during any of the four runs, in % of one core. */
  steal_cpu_pct_max: number;
  /** Lowest deliveries ÷ (messages × clients) over the four runs: 1 when nothing was lost. */
  delivered_fraction_min: number;
  errors: number;
  paced_skipped: number;
}

/** The whole bench result: exactly what --json prints. */
export interface Report {
  profile: string;
  fanout: FanoutRow[];
  idle_kib_per_connection: number;
  idle: {
    connections: number;
    /** Relay just started; the baseline (`rss_before_kib`) is taken after a warm-up of 50 logins. */
    rss_fresh_kib: number;
    /** (after − fresh) ÷ connections: also charges the warm-up's fixed costs (bcrypt workers) to the connections. */
    kib_per_connection_from_fresh: number;
    mid_connections: number;
    rss_mid_kib: number;
    /** (after − mid) ÷ (connections − mid): the cost of one more connection, fixed costs excluded. */
    marginal_kib_per_connection: number;
    rss_before_kib: number;
    rss_after_kib: number;
    peak_rss_kib: number;
    idle_rss_samples_kib: number[];
    login_seconds: number;
    dropped: number;
  };
  failover_kill9: FailoverFigures;
  failover_stop: FailoverFigures;
  /** Messages acknowledged to the streaming sender across all failover trials. */
  messages_sent: number;
  /** Acknowledged but never delivered to the reading client / delivered more than once. */
  messages_lost: number;
  messages_duplicated: number;
  zero_config_start: ZeroConfigResult;
  ui: UiBenchResult;
  file_transfer: FileBenchResult;
  stability: StabilityResult;
  partition: PartitionResult;
  new_network: IdentityBenchResult;
  crowd_failover: CrowdFailoverReport;
  abuse: AbuseRow[];
  masking: MaskingResult;
  cli_start: CliStartResult;
  targets: {
    p99_ms_at_half_rate_below: number;
    p99_met: boolean;
    ratio_at_100_at_least: number;
    ratio_met: boolean;
    idle_kib_at_most: number;
    idle_met: boolean;
    kill9_p50_ms_at_most: number;
    kill9_max_ms_at_most: number;
    kill9_met: boolean;
    stop_p50_ms_at_most: number;
    stop_met: boolean;
    zero_config_p50_ms_at_most: number;
    /** null when the zero-config run was skipped (no network namespace). */
    zero_config_met: boolean | null;
    first_screen_ms_at_most: number;
    /** null when the UI bench was skipped (no namespace or no tmux). */
    first_screen_met: boolean | null;
    ui_rss_mib_at_most: number;
    ui_rss_met: boolean | null;
    nothing_lost_or_duplicated: boolean;
    file_ratio_at_least: number;
    file_ratio_met: boolean;
    file_peak_mib_at_most: number;
    file_peak_met: boolean;
    stable_failovers_at_most: number;
    stable_met: boolean;
    partition_missing_at_most: number;
    new_network_ms_at_most: number;
    new_network_met: boolean;
    /** The fan-out ratio at 100 clients with TLS on both sides, against ⅘ of the plain-WebSocket one before TLS. */
    tls_ratio_at_100_at_least: number;
    tls_ratio_met: boolean;
    crowd_probe_p50_ms_at_most: number;
    crowd_met: boolean;
    abuse_p95_ms_at_most: number;
    abuse_met: boolean;
    cli_help_ratio_at_most: number;
    cli_help_met: boolean;
    /** null when the partition run was skipped (not root, or no network namespaces). */
    partition_met: boolean | null;
  };
  config: { senders: number; window_per_sender: number; warmup_ms: number; measure_ms: number; max_attempts: number; rounds: number; retry_budget_ms: number; node: string };
  duration_s: number;
}

/** % of one core used by other processes during a run above which its figures are suspect (clean runs show 0–3 %). */
export const NOISY_OTHER_CPU_PCT = 10;

const FANOUT_COLUMNS: [string, (r: FanoutRow) => string][] = [
  ['clients', (r) => String(r.clients)],
  ['relay deliv/s', (r) => r.relay_deliveries_per_s.toLocaleString('en-US')],
  ['bare deliv/s', (r) => r.bare_deliveries_per_s.toLocaleString('en-US')],
  ['ratio', (r) => r.ratio.toFixed(2)],
  ['relay msg/s', (r) => r.relay_max_messages_per_s.toLocaleString('en-US')],
  ['p50 @½ (ms)', (r) => r.p50_ms.toFixed(2)],
  ['p99 @½ (ms)', (r) => r.p99_ms.toFixed(2)],
  ['bare p99 @½', (r) => r.bare_paced_p99_ms.toFixed(2)],
  ['p99 @max (ms)', (r) => r.relay_max_rate_p99_ms.toFixed(1)],
  ['cpu relay/bench %', (r) => `${r.relay_max_rate_server_cpu_pct}/${r.relay_max_rate_bench_cpu_pct}`],
  ['cpu bare/bench %', (r) => `${r.bare_max_rate_server_cpu_pct}/${r.bare_max_rate_bench_cpu_pct}`],
  ['other cpu % (max)', (r) => String(r.other_cpu_pct_max)],
];

/** Renders the report as plain-text tables for a terminal. */
export function formatReport(r: Report): string {
  const header = FANOUT_COLUMNS.map(([h]) => h);
  const body = r.fanout.map((row) => FANOUT_COLUMNS.map(([, cell]) => cell(row)));
  const t = r.targets;
  const at100 = r.fanout.find((row) => row.clients === 100);
  const mark = (ok: boolean): string => (ok ? 'met' : 'NOT MET');
  const lines = [
    `lanchat bench (${r.profile}, ${r.config.senders} senders × ${r.config.window_per_sender} in flight, ${r.config.measure_ms} ms windows, node ${r.config.node})`,
    '',
    'Broadcast fan-out (max rate; p50/p99 @½ = paced at half the relay max message rate)',
    ...table([header, ...body]),
    ...noiseWarning(r.fanout),
    '',
    `Idle connections: ${r.idle.connections} logged in, relay RSS ${r.idle.rss_before_kib} → ${r.idle.rss_after_kib} KiB ` +
      `(fresh relay ${r.idle.rss_fresh_kib} KiB before the warm-up logins; peak ${r.idle.peak_rss_kib} KiB; login + presence settle ${r.idle.login_seconds} s)`,
    `  ${r.idle_kib_per_connection.toFixed(1)} KiB per idle connection ` +
      `(${r.idle.kib_per_connection_from_fresh.toFixed(1)} KiB counting from the fresh relay; ` +
      `marginal ${r.idle.marginal_kib_per_connection.toFixed(1)} KiB from ${r.idle.mid_connections} to ${r.idle.connections})` +
      (r.idle.dropped > 0 ? `; ${r.idle.dropped} connections dropped` : ''),
    '',
    `Failover (3 nodes; a client sends every 20 ms; time from the signal until another client's send is acknowledged)`,
    `  kill -9:    p50 ${r.failover_kill9.p50_ms} ms, max ${r.failover_kill9.max_ms} ms over ${r.failover_kill9.trials} trials`,
    `  kill -STOP: p50 ${r.failover_stop.p50_ms} ms, max ${r.failover_stop.max_ms} ms over ${r.failover_stop.trials} trials`,
    `  ${r.messages_sent} messages acknowledged: ${r.messages_lost} lost, ${r.messages_duplicated} duplicated`,
    `Failover with a crowd (2 nodes, ${r.crowd_failover.clients} clients resuming with jitter, all of them in the bench process on this machine; kill -9, ${r.crowd_failover.trials} trials)`,
    `  a client's send acknowledged: p50 ${r.crowd_failover.probe_p50_ms} ms, max ${r.crowd_failover.probe_max_ms} ms; half the clients back: p50 ${r.crowd_failover.client_p50_ms} ms; ` +
      `all back: p50 ${r.crowd_failover.all_back_p50_ms} ms, max ${r.crowd_failover.all_back_max_ms} ms${r.crowd_failover.gave_up > 0 ? `; ${r.crowd_failover.gave_up} gave up` : ''}`,
    `Masking (optional bufferutil), ${r.masking.clients} clients, max rate: with it ${r.masking.native_deliveries_per_s} deliveries/s, with ws's JavaScript fallback ${r.masking.js_deliveries_per_s} (ratio ${r.masking.ratio.toFixed(2)})`,
    `Command line: lanchat --help p50 ${r.cli_start.help_ms} ms, node -e 0 p50 ${r.cli_start.node_bare_ms} ms (ratio ${r.cli_start.ratio.toFixed(2)}, ${r.cli_start.trials} each)`,
    'Good users during attacks (bcrypt cost 12; logins one after another from their own addresses, connect → auth:ok)',
    ...table([['attack', 'good', 'failed', 'p50 ms', 'p95 ms', 'p99 ms'], ...r.abuse.map((a) => [a.attack, String(a.good), String(a.failed), a.p50_ms.toFixed(0), a.p95_ms.toFixed(0), a.p99_ms.toFixed(0)])]),
    'p50_ms' in r.zero_config_start
      ? `Zero-config start (client launch → ready, coordinator found by mDNS): p50 ${r.zero_config_start.p50_ms} ms, max ${r.zero_config_start.max_ms} ms over ${r.zero_config_start.trials} trials`
      : `Zero-config start: skipped (${r.zero_config_start.skipped})`,
    'trials' in r.ui
      ? `Terminal UI: first screen (launch with its node starting → tmux shows it) p50 ${r.ui.first_screen_p50_ms} ms, max ${r.ui.first_screen_max_ms} ms over ${r.ui.trials}; RSS with ${r.ui.messages} messages: UI alone ${r.ui.ui_only_rss_mib} MiB (${r.ui.ui_only_rss_at_login_mib} at login), UI with its node coordinating ${r.ui.ui_with_node_rss_mib} MiB`
      : `Terminal UI: skipped (${r.ui.skipped})`,
    `New network (a node's first start: load the certificate code, make the authority and the node's certificate): p50 ${r.new_network.p50_ms} ms, max ${r.new_network.max_ms} ms over ${r.new_network.trials}`,
    '',
    `File transfer (${r.file_transfer.size_mib} MiB, one recipient, medians of ${r.file_transfer.trials}; command → file saved and synced)`,
    `  through the relay (sender, coordinator, recipient: 3 processes, SHA-256 checked): ${r.file_transfer.relay_mib_per_s} MiB/s`,
    `  plain TCP socket (sender, receiver: 2 processes, no hashing):                   ${r.file_transfer.tcp_mib_per_s} MiB/s`,
    `  ratio ${r.file_transfer.ratio.toFixed(2)}; coordinator RSS ${r.file_transfer.coordinator_idle_rss_kib} KiB idle, peak ${r.file_transfer.coordinator_peak_above_idle_mib} MiB above it`,
    '',
    `Cluster stability (3 nodes, ${r.stability.burners} busy loops saturating the CPUs, ${r.stability.minutes} min, a client sending 5 msg/s): ` +
      `${r.stability.failovers} failovers, ${r.stability.role_changes} role changes, ${r.stability.messages_acked} messages acknowledged`,
    'acked' in r.partition
      ? `Partition (2 nodes a side, ${r.partition.senders_per_side} senders a side at ${r.partition.rate_per_sender} msg/s, split ${r.partition.split_s} s): ` +
        `${r.partition.acked} acknowledged, ${r.partition.missing_5s_after_heal} missing 5 s after the heal; ` +
        `replicas agree ${r.partition.replicas_agree_ms === undefined ? 'not within 60 s' : `${r.partition.replicas_agree_ms} ms`} after it; ${r.partition.coordinators_after} coordinator(s) after`
      : `Partition: skipped (${r.partition.skipped})`,
    '',
    r.profile === 'quick' ? 'Targets (quick run: short windows and fewer idle connections; judge targets on a full run)' : 'Targets',
    `  p99 < ${t.p99_ms_at_half_rate_below} ms at half max rate (all sizes): ${mark(t.p99_met)} (${r.fanout.map((row) => `${row.clients}: ${row.p99_ms.toFixed(2)} ms`).join(', ')})`,
    `  relay/bare ratio ≥ ${t.ratio_at_100_at_least} at 100 clients: ${mark(t.ratio_met)} (${at100 === undefined ? 'not measured' : at100.ratio.toFixed(2)})`,
    `  ≤ ${t.idle_kib_at_most} KiB per idle connection: ${mark(t.idle_met)} (${r.idle_kib_per_connection.toFixed(1)} KiB)`,
    `  kill -9 failover p50 ≤ ${t.kill9_p50_ms_at_most} ms, max ≤ ${t.kill9_max_ms_at_most} ms: ${mark(t.kill9_met)}`,
    `  kill -STOP failover p50 ≤ ${t.stop_p50_ms_at_most} ms: ${mark(t.stop_met)}`,
    `  zero-config start p50 ≤ ${t.zero_config_p50_ms_at_most} ms: ${t.zero_config_met === null ? 'not measured' : mark(t.zero_config_met)}`,
    `  UI first screen ≤ ${t.first_screen_ms_at_most} ms (every trial): ${t.first_screen_met === null ? 'not measured' : mark(t.first_screen_met)}`,
    `  UI RSS with 2,000 messages ≤ ${t.ui_rss_mib_at_most} MiB (UI alone): ${t.ui_rss_met === null ? 'not measured' : mark(t.ui_rss_met)}`,
    `  0 messages lost or duplicated: ${mark(t.nothing_lost_or_duplicated)}`,
    `  relay/bare ratio with TLS ≥ ${t.tls_ratio_at_100_at_least} at 100 clients (⅘ of the one before TLS): ${mark(t.tls_ratio_met)} (${at100 === undefined ? 'not measured' : at100.ratio.toFixed(2)})`,
    `  failover with ${r.crowd_failover.clients} clients: a send acknowledged p50 ≤ ${t.crowd_probe_p50_ms_at_most} ms: ${mark(t.crowd_met)} (${r.crowd_failover.probe_p50_ms} ms; all back after ${r.crowd_failover.all_back_max_ms} ms at most)`,
    `  good users' logins p95 ≤ ${t.abuse_p95_ms_at_most} ms and none refused, during every attack: ${mark(t.abuse_met)} (${r.abuse.map((a) => `${a.p95_ms.toFixed(0)}`).join(', ')} ms)`,
    `  lanchat --help within ${t.cli_help_ratio_at_most}× a bare node -e 0: ${mark(t.cli_help_met)} (${r.cli_start.ratio.toFixed(2)}×)`,
    `  new network start-up ≤ ${t.new_network_ms_at_most} ms (every trial): ${mark(t.new_network_met)} (max ${r.new_network.max_ms} ms)`,
    `  file relay/TCP ratio ≥ ${t.file_ratio_at_least}: ${mark(t.file_ratio_met)} (${r.file_transfer.ratio.toFixed(2)})`,
    `  coordinator peak ≤ ${t.file_peak_mib_at_most} MiB above idle during the file: ${mark(t.file_peak_met)} (${r.file_transfer.coordinator_peak_above_idle_mib} MiB)`,
    `  ${t.stable_failovers_at_most} failovers with the CPUs saturated: ${mark(t.stable_met)} (${r.stability.failovers})`,
    `  ${t.partition_missing_at_most} acknowledged messages missing 5 s after a partition heals, one coordinator: ${t.partition_met === null ? 'not measured' : mark(t.partition_met)}`,
    '',
    `(${r.duration_s} s)`,
  ];
  return `${lines.join('\n')}\n`;
}

function noiseWarning(rows: FanoutRow[]): string[] {
  const noisy = rows.filter((row) => row.other_cpu_pct_max > NOISY_OTHER_CPU_PCT).map((row) => row.clients);
  if (noisy.length === 0) return [];
  return [
    `warning: other processes used > ${NOISY_OTHER_CPU_PCT} % of a core during runs with ${noisy.join(', ')} clients ` +
      '(even after retries); on this 2-core machine that skews those figures: rerun on a quiet machine.',
  ];
}

/** Right-aligned columns with a rule under the header. */
function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const line = (row: string[]): string => row.map((cell, i) => cell.padStart(widths[i]!)).join('  ');
  return [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)];
}
