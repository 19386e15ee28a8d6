/**
 * lanchat benchmark (`npm run bench [-- --json] [-- --quick]`).
 *
 * 1. Broadcast fan-out with 10, 100 and 500 clients: deliveries/s at the
 *    maximum rate through the relay and through a bare `ws` broadcast server
 *    (the transport's limit, same process layout), their ratio, and latency
 *    p50/p99 in a paced run at half the relay's maximum message rate.
 *    The relay with and without the optional `bufferutil` (ws's JavaScript masking), 100 clients; and
 *    `lanchat --help` against a bare `node -e 0`.
 * 2. Relay RSS per idle, logged-in connection (2,000 connections).
 * 3. Failover: time from `kill -9` / `kill -STOP` of the coordinator until
 *    another client can send again, messages lost or duplicated; the same
 *    after kill -9 with 500 clients resuming at once (until one can send, half
 *    and all are back); and the zero-config start of a client found by mDNS (in a private namespace).
 *    Good users' logins during each attack of issue #14 (bench/abuse.ts).
 * 4. File transfer: one 100 MiB file between two `lanchat client`s through the
 *    relay, against the same bytes over a plain TCP socket; the coordinator's
 *    peak memory above idle meanwhile.
 * 5. Cluster: a 3-node cluster for 5 minutes with every CPU saturated by busy
 *    loops in other processes (failovers must stay at 0); a 20 s partition
 *    between two virtual LANs with 3 senders a side at 10 msg/s (acknowledged
 *    messages missing 5 s after the heal, time until every replica agrees;
 *    root only, in network namespaces).
 *
 * Everything binds 127.0.0.1. Servers are child processes; all clients live
 * in this process. Progress goes to stderr; stdout gets a table, or with
 * --json exactly one JSON object. Extra node flags for the relay child (e.g.
 * `--cpu-prof --cpu-prof-dir=/tmp/prof`) can be passed in BENCH_RELAY_NODE_ARGS.
 */
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { cleanup, cleanupSync, spawnBare, spawnRelay, type ServerChild } from './children.js';
import { Fleet, type ServerKind } from './clients.js';
import { measureIdleMemory, waitForPresence, type IdleResult } from './idle.js';
import { runMaxRate, runPaced, type LoadOptions, type RunResult } from './load.js';
import { benchFailover, benchZeroConfig, type FailoverReport, type ZeroConfigResult } from './failover.js';
import { benchFiles, type FileBenchResult } from './files.js';
import { benchUi, type UiBenchResult } from './ui.js';
import { benchIdentity, type IdentityBenchResult } from './identity.js';
import { benchCrowdFailover, type CrowdFailoverReport } from './crowd.js';
import { benchAbuse, type AbuseRow } from './abuse.js';
import { benchCliStart, type CliStartResult } from './cli.js';

/** `lanchat --help` and `node -e 0`, each this many times. */
const CLI_TRIALS = 15;
import { benchPartition, benchStability, type PartitionResult, type StabilityResult } from './cluster.js';
import { formatReport, NOISY_OTHER_CPU_PCT, type FanoutRow, type MaskingResult, type Report } from './report.js';
import { round } from './stats.js';

/** How much work one bench run does. */
interface Profile {
  name: 'full' | 'quick';
  /** Fan-out sizes: connected clients. */
  sizes: number[];
  /** Clients that send, the same for relay and bare, so one session's ack round trip does not cap throughput. */
  senders: number;
  /** Sends in flight per sender in max-rate runs. */
  window: number;
  warmupMs: number;
  measureMs: number;
  /** Safety cap on messages per run. */
  maxMessages: number;
  /** Connections for the idle-memory test. */
  idleConnections: number;
  /** Runs per measurement while other processes disturb them. */
  maxAttempts: number;
  /** Alternating relay / bare max-rate runs per size; the fastest of each is kept. */
  rounds: number;
  /** Failover trials after kill -9 and after kill -STOP; zero-config client starts. */
  kill9Trials: number;
  stopTrials: number;
  /** Clients and kill -9 trials of the failover with a crowd. */
  crowdClients: number;
  crowdTrials: number;
  /** Good users' logins measured during each attack. */
  abuseLogins: number;
  zeroConfigTrials: number;
  uiTrials: number;
  /** File size and transfers per path for the file figures. */
  fileMiB: number;
  fileTrials: number;
  /** Minutes of the saturated-CPU stability run; seconds of the partition. */
  stabilityMinutes: number;
  partitionSplitS: number;
}

const FULL: Profile = {
  name: 'full',
  sizes: [10, 100, 500],
  senders: 4,
  window: 16,
  warmupMs: 1_000,
  measureMs: 5_000,
  maxMessages: 2_000_000,
  idleConnections: 2_000,
  maxAttempts: 3,
  rounds: 2,
  kill9Trials: 20,
  stopTrials: 10,
  crowdClients: 500,
  crowdTrials: 5,
  abuseLogins: 30,
  zeroConfigTrials: 20,
  uiTrials: 5,
  fileMiB: 100,
  fileTrials: 5,
  stabilityMinutes: 5,
  partitionSplitS: 20,
};

const QUICK: Profile = { ...FULL, name: 'quick', warmupMs: 250, measureMs: 800, idleConnections: 500, maxAttempts: 1, rounds: 1, kill9Trials: 3, stopTrials: 2, crowdTrials: 2, abuseLogins: 10, zeroConfigTrials: 5, uiTrials: 2, fileTrials: 2, stabilityMinutes: 0.5, partitionSplitS: 5 };

const RETRY_BUDGET_MS = 60_000; // ms: repeated runs stop once they have cost this much in total, to bound the bench's duration
const CONNECT_CONCURRENCY = 50; // connections (and relay registrations) opened at once
const TARGET_P99_MS = 20; // p99 at half the maximum rate
const TARGET_RATIO_AT_100 = 0.5; // relay ÷ bare deliveries/s with 100 clients
const TARGET_IDLE_KIB = 30; // KiB of relay RSS per idle connection
const TARGET_KILL9_P50_MS = 200; // failover after kill -9 (the standby sees the connection close)
const TARGET_KILL9_MAX_MS = 2_000;
const TARGET_STOP_P50_MS = 1_500; // failover after kill -STOP (1 s of silence, then the successor takes over)
const TARGET_STABLE_FAILOVERS = 0; // failovers during the saturated-CPU run
const TARGET_PARTITION_MISSING = 0; // acknowledged messages missing somewhere 5 s after a partition heals
const TARGET_ZERO_CONFIG_P50_MS = 1_500; // client launch to ready, found by mDNS
const TARGET_FIRST_SCREEN_MS = 1_000; // `lanchat` launch (its node starting) to the UI's first screen
const TARGET_UI_RSS_MIB = 120; // the UI process with 2,000 messages in its pane
const TARGET_FILE_RATIO = 0.5; // relay ÷ plain TCP throughput for one 100 MiB file
const TARGET_FILE_PEAK_MIB = 64; // coordinator RSS above idle during that transfer
const TARGET_TLS_RATIO_AT_100 = 0.8 * 0.72; // ⅘ of the ratio at 100 clients before TLS (0.72, plain WebSocket on both sides)
const TARGET_ABUSE_P95_MS = 3_000; // good users' logins during the registration flood (issue #14), and during every other attack
const TARGET_CLI_HELP_RATIO = 2; // `lanchat --help` within 2× a bare `node -e 0` (issue #15: the commands load their modules when they run)
const TARGET_CROWD_PROBE_P50_MS = 250; // failover after kill -9 with 500 clients reconnecting: a send acknowledged
const TARGET_NEW_NETWORK_MS = 300; // a node's first start: the network's authority and its certificate

// Every node the bench starts inherits it: without a node password a network admits no standby.
process.env['LANCHAT_NODE_PASSWORD'] ??= 'bench-node-password';

const json = process.argv.includes('--json');
const profile = process.argv.includes('--quick') ? QUICK : FULL;
const relayNodeArgs = (process.env.BENCH_RELAY_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
let retryBudgetMs = RETRY_BUDGET_MS;

function progress(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** A server child with its fleet of connected (and, on the relay, logged-in) clients. */
interface Target {
  kind: ServerKind;
  server: ServerChild;
  fleet: Fleet;
}

/** Starts a fresh server of `kind` and connects `n` clients to it; stops the server again if that fails. */
async function startTarget(kind: ServerKind, n: number, env: NodeJS.ProcessEnv = {}): Promise<Target> {
  const server = kind === 'relay' ? await spawnRelay(relayNodeArgs, env) : await spawnBare();
  const fleet = new Fleet(kind, `wss://127.0.0.1:${server.port}`);
  try {
    await fleet.grow(n, CONNECT_CONCURRENCY, kind === 'relay' ? 'u' : 'b');
    if (kind === 'relay') await waitForPresence(fleet); // the login presence storm must be over before measuring
  } catch (err) {
    await stopTarget({ kind, server, fleet });
    throw err;
  }
  return { kind, server, fleet };
}

async function stopTarget(t: Target): Promise<void> {
  t.fleet.expectClose();
  await t.server.stop(); // before the clients go, so the relay is not made to announce every departure
  t.fleet.closeAll();
}

/** A run is void if the server dropped any of its clients. */
function checkNoDrops(t: Target): void {
  const n = t.fleet.unexpectedCloses;
  if (n > 0) throw new Error(`${t.kind}: the server dropped ${n} of ${t.fleet.clients.length} connections`);
}

function loadOptions({ fleet, server }: Target, runId: string): LoadOptions {
  const { senders, warmupMs, measureMs, maxMessages } = profile;
  return { fleet, server, senders: Math.min(senders, fleet.clients.length), runId, warmupMs, measureMs, maxMessages };
}

function describe(label: string, r: RunResult): string {
  return (
    `  ${label}: ${Math.round(r.deliveriesPerS)} deliveries/s (${Math.round(r.messagesPerS)} msg/s), ` +
    `p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms, max ${r.maxMs.toFixed(1)} ms; ` +
    `cpu: server ${r.serverCpuPct.toFixed(0)} %, bench ${r.benchCpuPct.toFixed(0)} %, other ${r.otherCpuPct.toFixed(0)} %, steal ${r.stealCpuPct.toFixed(0)} %` +
    (r.deliveredFraction < 0.999 ? `, delivered ${(r.deliveredFraction * 100).toFixed(1)} %` : '') +
    (r.errors > 0 ? `, ${r.errors} errors` : '') +
    (r.skipped > 0 ? `, ${r.skipped} skipped` : '')
  );
}

/**
 * Repeats a run while other processes disturb it (at most
 * `profile.maxAttempts` runs, and while the bench-wide retry budget lasts)
 * and keeps the best one by `better`.
 */
async function quietRun(label: string, run: (attempt: number) => Promise<RunResult>, better: (a: RunResult, b: RunResult) => boolean): Promise<RunResult> {
  let best: RunResult | undefined;
  for (let attempt = 1; attempt <= profile.maxAttempts; attempt++) {
    const started = performance.now();
    const r = await run(attempt);
    if (attempt > 1) retryBudgetMs -= performance.now() - started;
    progress(describe(label, r));
    if (best === undefined || better(r, best)) best = r;
    if (r.otherCpuPct <= NOISY_OTHER_CPU_PCT) break;
    if (attempt === profile.maxAttempts || retryBudgetMs <= 0) break;
    progress(`  (other processes used ${r.otherCpuPct.toFixed(0)} % of a core: measuring again)`);
  }
  return best!;
}

/** Interference only ever slows a max-rate run down: the fastest attempt is the best estimate of capacity. */
const faster = (a: RunResult, b: RunResult): boolean => a.deliveriesPerS > b.deliveriesPerS;
/** For latency, keep the least disturbed attempt. */
const quieter = (a: RunResult, b: RunResult): boolean => a.otherCpuPct < b.otherCpuPct;

/**
 * One fan-out size. Relay and bare server run side by side, each with its
 * own clients; their max-rate runs alternate (`profile.rounds` each, the
 * fastest kept) so a slow drift of the machine's speed hits both alike.
 * Then the relay is paced at half its max message rate, and the bare server
 * at the same rate.
 */
async function fanout(n: number): Promise<FanoutRow> {
  progress(`fan-out, ${n} clients`);
  const targets: Target[] = [];
  try {
    const relay = await startTarget('relay', n);
    targets.push(relay);
    const bare = await startTarget('bare', n);
    targets.push(bare);
    let relayMax: RunResult | undefined;
    let bareMax: RunResult | undefined;
    for (let round = 1; round <= profile.rounds; round++) {
      const r = await quietRun('relay max rate ', (i) => runMaxRate(loadOptions(relay, `max${round}.${i}`), profile.window), faster);
      if (relayMax === undefined || faster(r, relayMax)) relayMax = r;
      const b = await quietRun('bare max rate  ', (i) => runMaxRate(loadOptions(bare, `max${round}.${i}`), profile.window), faster);
      if (bareMax === undefined || faster(b, bareMax)) bareMax = b;
    }
    const rate = relayMax!.messagesPerS / 2;
    const relayPaced = await quietRun('relay half rate', (i) => runPaced(loadOptions(relay, `paced${i}`), rate), quieter);
    const barePaced = await quietRun('bare same pace ', (i) => runPaced(loadOptions(bare, `paced${i}`), rate), quieter);
    checkNoDrops(relay);
    checkNoDrops(bare);
    return toRow(n, { max: relayMax!, paced: relayPaced }, { max: bareMax!, paced: barePaced });
  } finally {
    for (const t of targets) await stopTarget(t);
  }
}

/**
 * `bufferutil` is optional (a machine without a compiler or a prebuilt binary installs without it): the
 * relay with it and with ws's JavaScript fallback (`WS_NO_BUFFER_UTIL=1`), 100 clients, max-rate runs
 * alternating as in `fanout`.
 */
async function masking(n: number): Promise<MaskingResult> {
  progress(`masking: the relay with bufferutil and with ws's JavaScript fallback, ${n} clients`);
  const targets: Target[] = [];
  try {
    const native = await startTarget('relay', n);
    targets.push(native);
    const js = await startTarget('relay', n, { WS_NO_BUFFER_UTIL: '1' });
    targets.push(js);
    let best = { native: 0, js: 0 };
    for (let round = 1; round <= profile.rounds; round++) {
      const a = await quietRun('with bufferutil ', (i) => runMaxRate(loadOptions(native, `mask${round}.${i}`), profile.window), faster);
      const b = await quietRun('JS fallback     ', (i) => runMaxRate(loadOptions(js, `mask${round}.${i}`), profile.window), faster);
      best = { native: Math.max(best.native, a.deliveriesPerS), js: Math.max(best.js, b.deliveriesPerS) };
    }
    checkNoDrops(native);
    checkNoDrops(js);
    return { clients: n, native_deliveries_per_s: Math.round(best.native), js_deliveries_per_s: Math.round(best.js), ratio: round(best.js / best.native, 3) };
  } finally {
    for (const t of targets) await stopTarget(t);
  }
}

function toRow(n: number, relay: { max: RunResult; paced: RunResult }, bare: { max: RunResult; paced: RunResult }): FanoutRow {
  const runs = [relay.max, relay.paced, bare.max, bare.paced];
  return {
    clients: n,
    relay_deliveries_per_s: Math.round(relay.max.deliveriesPerS),
    bare_deliveries_per_s: Math.round(bare.max.deliveriesPerS),
    ratio: round(relay.max.deliveriesPerS / bare.max.deliveriesPerS, 3),
    p50_ms: round(relay.paced.p50Ms, 3),
    p99_ms: round(relay.paced.p99Ms, 3),
    relay_max_messages_per_s: Math.round(relay.max.messagesPerS),
    bare_max_messages_per_s: Math.round(bare.max.messagesPerS),
    paced_messages_per_s: Math.round(relay.paced.messagesPerS),
    relay_max_rate_p50_ms: round(relay.max.p50Ms, 3),
    relay_max_rate_p99_ms: round(relay.max.p99Ms, 3),
    bare_max_rate_p50_ms: round(bare.max.p50Ms, 3),
    bare_max_rate_p99_ms: round(bare.max.p99Ms, 3),
    bare_paced_p50_ms: round(bare.paced.p50Ms, 3),
    bare_paced_p99_ms: round(bare.paced.p99Ms, 3),
    relay_paced_max_ms: round(relay.paced.maxMs, 3),
    relay_max_rate_server_cpu_pct: Math.round(relay.max.serverCpuPct),
    relay_max_rate_bench_cpu_pct: Math.round(relay.max.benchCpuPct),
    bare_max_rate_server_cpu_pct: Math.round(bare.max.serverCpuPct),
    bare_max_rate_bench_cpu_pct: Math.round(bare.max.benchCpuPct),
    other_cpu_pct_max: Math.round(Math.max(...runs.map((r) => r.otherCpuPct))),
    steal_cpu_pct_max: Math.round(Math.max(...runs.map((r) => r.stealCpuPct))),
    delivered_fraction_min: round(Math.min(...runs.map((r) => r.deliveredFraction)), 4),
    errors: runs.reduce((sum, r) => sum + r.errors, 0),
    paced_skipped: relay.paced.skipped + bare.paced.skipped,
  };
}

function buildReport(rows: FanoutRow[], idle: IdleResult, failover: FailoverReport, zeroConfig: ZeroConfigResult, ui: UiBenchResult, files: FileBenchResult, cluster: { stability: StabilityResult; partition: PartitionResult; identity: IdentityBenchResult; crowd: CrowdFailoverReport; abuse: AbuseRow[]; masking: MaskingResult; cli: CliStartResult }, seconds: number): Report {
  const at100 = rows.find((r) => r.clients === 100);
  return {
    profile: profile.name,
    fanout: rows,
    idle_kib_per_connection: round(idle.kibPerConnection, 2),
    idle: {
      connections: idle.connections,
      rss_fresh_kib: idle.rssFreshKiB,
      kib_per_connection_from_fresh: round((idle.rssAfterKiB - idle.rssFreshKiB) / idle.connections, 2),
      mid_connections: idle.midConnections,
      rss_mid_kib: idle.rssMidKiB,
      marginal_kib_per_connection: round(idle.marginalKibPerConnection, 2),
      rss_before_kib: idle.rssBeforeKiB,
      rss_after_kib: idle.rssAfterKiB,
      peak_rss_kib: idle.peakRssKiB,
      idle_rss_samples_kib: idle.idleRssSamplesKiB,
      login_seconds: round(idle.loginSeconds, 1),
      dropped: idle.dropped,
    },
    failover_kill9: failover.kill9,
    failover_stop: failover.stop,
    messages_sent: failover.messages_sent,
    messages_lost: failover.messages_lost,
    messages_duplicated: failover.messages_duplicated,
    zero_config_start: zeroConfig,
    ui,
    file_transfer: files,
    stability: cluster.stability,
    partition: cluster.partition,
    new_network: cluster.identity,
    crowd_failover: cluster.crowd,
    abuse: cluster.abuse,
    masking: cluster.masking,
    cli_start: cluster.cli,
    targets: {
      p99_ms_at_half_rate_below: TARGET_P99_MS,
      p99_met: rows.every((r) => r.p99_ms < TARGET_P99_MS),
      ratio_at_100_at_least: TARGET_RATIO_AT_100,
      ratio_met: at100 !== undefined && at100.ratio >= TARGET_RATIO_AT_100,
      idle_kib_at_most: TARGET_IDLE_KIB,
      idle_met: idle.kibPerConnection <= TARGET_IDLE_KIB,
      kill9_p50_ms_at_most: TARGET_KILL9_P50_MS,
      kill9_max_ms_at_most: TARGET_KILL9_MAX_MS,
      kill9_met: failover.kill9.p50_ms <= TARGET_KILL9_P50_MS && failover.kill9.max_ms <= TARGET_KILL9_MAX_MS,
      stop_p50_ms_at_most: TARGET_STOP_P50_MS,
      stop_met: failover.stop.p50_ms <= TARGET_STOP_P50_MS,
      zero_config_p50_ms_at_most: TARGET_ZERO_CONFIG_P50_MS,
      zero_config_met: 'p50_ms' in zeroConfig ? zeroConfig.p50_ms <= TARGET_ZERO_CONFIG_P50_MS : null,
      first_screen_ms_at_most: TARGET_FIRST_SCREEN_MS,
      first_screen_met: 'trials' in ui ? ui.first_screen_max_ms <= TARGET_FIRST_SCREEN_MS : null,
      ui_rss_mib_at_most: TARGET_UI_RSS_MIB,
      ui_rss_met: 'trials' in ui ? ui.ui_only_rss_mib <= TARGET_UI_RSS_MIB : null,
      nothing_lost_or_duplicated: failover.messages_lost === 0 && failover.messages_duplicated === 0,
      file_ratio_at_least: TARGET_FILE_RATIO,
      file_ratio_met: files.ratio >= TARGET_FILE_RATIO,
      file_peak_mib_at_most: TARGET_FILE_PEAK_MIB,
      file_peak_met: files.coordinator_peak_above_idle_mib <= TARGET_FILE_PEAK_MIB,
      stable_failovers_at_most: TARGET_STABLE_FAILOVERS,
      stable_met: cluster.stability.failovers <= TARGET_STABLE_FAILOVERS,
      partition_missing_at_most: TARGET_PARTITION_MISSING,
      new_network_ms_at_most: TARGET_NEW_NETWORK_MS,
      new_network_met: cluster.identity.max_ms <= TARGET_NEW_NETWORK_MS,
      tls_ratio_at_100_at_least: round(TARGET_TLS_RATIO_AT_100, 3),
      tls_ratio_met: at100 !== undefined && at100.ratio >= TARGET_TLS_RATIO_AT_100,
      crowd_probe_p50_ms_at_most: TARGET_CROWD_PROBE_P50_MS,
      crowd_met: cluster.crowd.probe_p50_ms <= TARGET_CROWD_PROBE_P50_MS && cluster.crowd.gave_up === 0,
      abuse_p95_ms_at_most: TARGET_ABUSE_P95_MS,
      abuse_met: cluster.abuse.every((row) => row.failed === 0 && row.p95_ms <= TARGET_ABUSE_P95_MS),
      cli_help_ratio_at_most: TARGET_CLI_HELP_RATIO,
      cli_help_met: cluster.cli.ratio <= TARGET_CLI_HELP_RATIO,
      partition_met: 'acked' in cluster.partition ? cluster.partition.missing_5s_after_heal <= TARGET_PARTITION_MISSING && cluster.partition.coordinators_after === 1 : null,
    },
    config: {
      senders: profile.senders,
      window_per_sender: profile.window,
      warmup_ms: profile.warmupMs,
      measure_ms: profile.measureMs,
      max_attempts: profile.maxAttempts,
      rounds: profile.rounds,
      retry_budget_ms: RETRY_BUDGET_MS,
      node: process.version,
    },
    duration_s: round(seconds, 1),
  };
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const rows: FanoutRow[] = [];
  for (const n of profile.sizes) rows.push(await fanout(n));
  const mask = await masking(100);
  progress(`command line: ${CLI_TRIALS} × --help against a bare node -e 0`);
  const cli = benchCliStart(CLI_TRIALS);
  progress(`idle memory, ${profile.idleConnections} connections`);
  const idle = await measureIdleMemory(profile.idleConnections, relayNodeArgs, progress);
  progress(`  ${idle.kibPerConnection.toFixed(1)} KiB per connection (RSS ${idle.rssBeforeKiB} → ${idle.rssAfterKiB} KiB, peak ${idle.peakRssKiB} KiB)`);
  progress(`failover, ${profile.kill9Trials} × kill -9 and ${profile.stopTrials} × kill -STOP of the coordinator`);
  const failover = await benchFailover(profile.kill9Trials, profile.stopTrials, progress);
  progress(`failover with a crowd: ${profile.crowdClients} clients, ${profile.crowdTrials} × kill -9 of the coordinator`);
  const crowd = await benchCrowdFailover(profile.crowdClients, profile.crowdTrials, progress);
  progress(`good users during attacks: ${profile.abuseLogins} logins during each`);
  const abuse = await benchAbuse(profile.abuseLogins, progress);
  progress(`zero-config start, ${profile.zeroConfigTrials} clients`);
  const zeroConfig = benchZeroConfig(profile.zeroConfigTrials);
  progress(`terminal UI: first screen × ${profile.uiTrials}, memory with 2,000 messages`);
  const ui = benchUi(profile.uiTrials);
  progress('new network start-up (authority and first node certificate), 10 fresh processes');
  const identity = benchIdentity(10);
  progress(`file transfer, ${profile.fileTrials} × ${profile.fileMiB} MiB through the relay and over plain TCP`);
  const files = await benchFiles(profile.fileMiB, profile.fileTrials, progress);
  const burners = cpus().length;
  progress(`stability, ${profile.stabilityMinutes} min of a 3-node cluster with ${burners} busy loops beside it`);
  const stability = await benchStability(profile.stabilityMinutes, burners, progress);
  progress(`partition, ${profile.partitionSplitS} s between two virtual LANs`);
  const partition = await benchPartition(profile.partitionSplitS, progress);
  const report = buildReport(rows, idle, failover, zeroConfig, ui, files, { stability, partition, identity, crowd, abuse, masking: mask, cli }, (performance.now() - t0) / 1000);
  process.stdout.write(json ? `${JSON.stringify(report)}\n` : formatReport(report));
}

process.on('exit', cleanupSync);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    cleanupSync();
    process.exit(130);
  });
}

try {
  await main();
} catch (err) {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
process.exit(); // open client sockets or timers must not keep a finished bench alive
