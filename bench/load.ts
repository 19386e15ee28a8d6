import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { CLK_TCK, type ServerChild } from './children.js';
import { benchText, type BenchClient, type DeliverySink, type Fleet } from './clients.js';
import { LatencyHistogram } from './stats.js';

const DRAIN_TIMEOUT_MS = 10_000; // after a run, wait at most this long for in-flight sends to complete
const DRAIN_POLL_MS = 5; // ms between drain checks
const SETTLE_QUIET_MS = 500; // after a run, stop waiting for deliveries once none arrived for this long
const PACE_TICK_MS = 1; // paced runs send what is due every tick
const PACED_MAX_INFLIGHT = 200; // per sender: beyond this a paced send is skipped and counted; below the relay's 256 queued frames per session, past which it refuses frames and disconnects
const TEXT_PADDING = 'x'.repeat(48); // chars: brings the text to ~70 chars, a typical chat line

/** How a run loads the server. */
export interface LoadOptions {
  fleet: Fleet;
  server: ServerChild;
  /** The first `senders` clients of the fleet send; all of them receive. */
  senders: number;
  /** Unique per run on one server, so client message ids never repeat (the relay drops resends). */
  runId: string;
  warmupMs: number;
  measureMs: number;
  /** Hard cap on messages sent in the run, whatever the duration. */
  maxMessages: number;
}

/** What one run measured over its measurement window (warm-up excluded). */
export interface RunResult {
  clients: number;
  /** Sends completed (acked / echoed) per second. */
  messagesPerS: number;
  deliveriesPerS: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** CPU used by the server child, in % of one core. */
  serverCpuPct: number;
  /** CPU used by the bench process (all the clients), in % of one core. */
  benchCpuPct: number;
  /** CPU used by other processes on the machine (kernel threads excluded), in % of one core: high means a noisy run. */
  otherCpuPct: number;
  /** CPU time the hypervisor took from this VM, in % of one core. */
  stealCpuPct: number;
  /** Deliveries seen over the whole run ÷ (messages sent × clients): 1 when nothing was lost. */
  deliveredFraction: number;
  /** Paced runs only: sends skipped because too many were in flight. */
  skipped: number;
  errors: number;
}

/** Counts deliveries and times them, but only inside the measurement window. */
class Window implements DeliverySink {
  readonly latency = new LatencyHistogram();
  measuring = false;
  deliveriesInWindow = 0;
  doneInWindow = 0;
  deliveriesTotal = 0;
  startMs = 0;
  endMs = 0;
  #cpu = { server: 0, bench: 0, machine: machineCpu() };
  serverCpuPct = 0;
  benchCpuPct = 0;
  otherCpuPct = 0;
  stealCpuPct = 0;

  constructor(readonly server: ServerChild) {}

  onDelivery(sentAtMs: number, receivedAtMs: number): void {
    this.deliveriesTotal++;
    if (!this.measuring) return;
    this.deliveriesInWindow++;
    this.latency.record(receivedAtMs - sentAtMs);
  }

  sendDone(): void {
    if (this.measuring) this.doneInWindow++;
  }

  open(): void {
    this.startMs = performance.now();
    this.#cpu = { server: this.server.cpuSeconds(), bench: cpuSeconds(), machine: machineCpu() };
    this.measuring = true;
  }

  close(): void {
    this.measuring = false;
    this.endMs = performance.now();
    const seconds = (this.endMs - this.startMs) / 1000;
    this.serverCpuPct = ((this.server.cpuSeconds() - this.#cpu.server) / seconds) * 100;
    this.benchCpuPct = ((cpuSeconds() - this.#cpu.bench) / seconds) * 100;
    const machine = machineCpu();
    const busyPct = ((machine.busy - this.#cpu.machine.busy) / seconds) * 100;
    this.otherCpuPct = Math.max(0, busyPct - this.serverCpuPct - this.benchCpuPct);
    this.stealCpuPct = ((machine.steal - this.#cpu.machine.steal) / seconds) * 100;
  }

  result(fleet: Fleet, sent: number, skipped: number, errorsBefore: number): RunResult {
    const seconds = (this.endMs - this.startMs) / 1000;
    const n = fleet.clients.length;
    return {
      clients: n,
      messagesPerS: this.doneInWindow / seconds,
      deliveriesPerS: this.deliveriesInWindow / seconds,
      p50Ms: this.latency.percentile(50),
      p99Ms: this.latency.percentile(99),
      maxMs: this.latency.maxMs,
      serverCpuPct: this.serverCpuPct,
      benchCpuPct: this.benchCpuPct,
      otherCpuPct: this.otherCpuPct,
      stealCpuPct: this.stealCpuPct,
      deliveredFraction: sent === 0 ? 0 : this.deliveriesTotal / (sent * n),
      skipped,
      errors: fleet.errors - errorsBefore,
    };
  }
}

/**
 * Maximum-rate run: every sender keeps `window` sends in flight (paced by
 * the relay's acks, or by the bare server's echo of its own frame), for
 * `warmupMs + measureMs`. Deliveries and latency are counted in the
 * measurement window only.
 */
export async function runMaxRate(opts: LoadOptions, window: number): Promise<RunResult> {
  const { fleet } = opts;
  const w = new Window(opts.server);
  const senders = fleet.clients.slice(0, opts.senders);
  const errorsBefore = fleet.errors;
  let sending = true;
  let sent = 0;
  const topUp = (c: BenchClient): void => {
    while (sending && c.inflight < window && sent < opts.maxMessages) {
      sendOne(c, opts.runId, sent++);
    }
  };
  fleet.sink = w;
  for (const c of senders) {
    c.onSendDone = () => {
      w.sendDone();
      topUp(c);
    };
  }
  try {
    for (const c of senders) topUp(c);
    await sleep(opts.warmupMs);
    w.open();
    await sleep(opts.measureMs);
    w.close();
    sending = false;
    await drain(fleet, senders, opts.server);
    await settle(w, sent * fleet.clients.length);
  } finally {
    sending = false;
    for (const c of senders) c.onSendDone = undefined;
    fleet.sink = undefined;
  }
  return w.result(fleet, sent, 0, errorsBefore);
}

/**
 * Paced run: `ratePerS` messages a second in total, open loop (sent when due,
 * round robin over the senders, not waiting for acks), for
 * `warmupMs + measureMs`. Latency is measured from the actual send time.
 */
export async function runPaced(opts: LoadOptions, ratePerS: number): Promise<RunResult> {
  const { fleet } = opts;
  const w = new Window(opts.server);
  const senders = fleet.clients.slice(0, opts.senders);
  const errorsBefore = fleet.errors;
  let sent = 0;
  let skipped = 0;
  let due = 0;
  const start = performance.now();
  const tick = (): void => {
    const target = Math.min(opts.maxMessages, Math.floor(((performance.now() - start) * ratePerS) / 1000));
    for (; due < target; due++) {
      const c = senders[due % senders.length]!;
      if (c.inflight >= PACED_MAX_INFLIGHT) skipped++;
      else sendOne(c, opts.runId, sent++);
    }
  };
  fleet.sink = w;
  for (const c of senders) c.onSendDone = () => w.sendDone();
  const timer = setInterval(tick, PACE_TICK_MS);
  try {
    await sleep(opts.warmupMs);
    w.open();
    await sleep(opts.measureMs);
    w.close();
    clearInterval(timer);
    await drain(fleet, senders, opts.server);
    await settle(w, sent * fleet.clients.length);
  } finally {
    clearInterval(timer);
    for (const c of senders) c.onSendDone = undefined;
    fleet.sink = undefined;
  }
  return w.result(fleet, sent, skipped, errorsBefore);
}

function sendOne(c: BenchClient, runId: string, n: number): void {
  const text = benchText(performance.now(), c.index, TEXT_PADDING);
  c.inflight++;
  c.send(`{"type":"chat:send","id":"${runId}-${c.index}-${n}","to":[],"text":"${text}"}`);
}

/** Waits (bounded) until no send is in flight; fails if the server died meanwhile. */
async function drain(fleet: Fleet, senders: BenchClient[], server: ServerChild): Promise<void> {
  const deadline = performance.now() + DRAIN_TIMEOUT_MS;
  while (senders.some((c) => c.inflight > 0) && performance.now() < deadline) {
    const died = server.exitInfo();
    if (died !== undefined) throw new Error(`server ${died}`);
    await sleep(DRAIN_POLL_MS);
  }
  const stuck = senders.reduce((n, c) => n + c.inflight, 0);
  if (stuck > 0) process.stderr.write(`warning: ${stuck} sends still in flight after ${DRAIN_TIMEOUT_MS} ms (${fleet.kind})\n`);
  for (const c of senders) c.inflight = 0;
}

/** Waits (bounded) until every expected delivery has arrived, or none has for a while. */
async function settle(w: Window, expected: number): Promise<void> {
  const deadline = performance.now() + DRAIN_TIMEOUT_MS;
  let last = -1;
  let quietSince = performance.now();
  while (w.deliveriesTotal < expected && performance.now() < deadline && performance.now() - quietSince < SETTLE_QUIET_MS) {
    if (w.deliveriesTotal !== last) {
      last = w.deliveriesTotal;
      quietSince = performance.now();
    }
    await sleep(DRAIN_POLL_MS);
  }
}

/**
 * Machine-wide busy (non-idle, non-iowait, non-steal) CPU seconds from
 * /proc/stat, less what kernel threads used (log fsyncs wake the journal
 * thread: that is the relay's doing, not noise), and steal seconds.
 */
function machineCpu(): { busy: number; steal: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = line.trim().split(/\s+/).slice(1).map(Number);
  return { busy: (user + nice + system + irq + softirq) / CLK_TCK - kernelThreadSeconds(), steal: steal / CLK_TCK };
}

/** CPU seconds used so far by kernel threads (children of kthreadd, pid 2). */
function kernelThreadSeconds(): number {
  let ticks = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // the process ended meanwhile
    }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (entry === '2' || fields[1] === '2') ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks / CLK_TCK;
}

function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}
