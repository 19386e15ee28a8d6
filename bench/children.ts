import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const START_TIMEOUT_MS = 15_000; // a server that has not printed its address by then is broken
const STOP_GRACE_MS = 3_000; // SIGTERM, then SIGKILL after this
/** Clock ticks per second in /proc/<pid>/stat and /proc/stat (USER_HZ, 100 on Linux). */
export const CLK_TCK = 100;
const STDERR_LINES_KEPT = 20; // for error messages

/** The compiled CLI, next to this file once built (dist/bench → dist/src). */
export const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));
/** The bare `ws` broadcast server (dist/bench/bare-server.js). */
export const BARE_SERVER = fileURLToPath(new URL('./bare-server.js', import.meta.url));

const live = new Set<ChildProcess>();
const tempDirs = new Set<string>();

/** A server child process (relay or bare) listening on 127.0.0.1. */
export interface ServerChild {
  readonly pid: number;
  readonly port: number;
  /** Unexpected exit, if it happened: a run that sees this is void. */
  readonly exitInfo: () => string | undefined;
  /** Resident set size of the child, in KiB (VmRSS). */
  rssKiB(): number;
  /** Peak resident set size of the child, in KiB (VmHWM). */
  peakRssKiB(): number;
  /** User + system CPU time the child has used so far, in seconds. */
  cpuSeconds(): number;
  /** SIGTERM, then SIGKILL after a grace period. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Spawns `node [nodeArgs] script args` and resolves once a stdout line
 * matches `addressRe` (its first group is the port). Stdout keeps being
 * drained afterwards so a chatty child never blocks on a full pipe.
 */
export async function spawnServer(script: string, args: string[], addressRe: RegExp, nodeArgs: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<ServerChild> {
  const child = spawn(process.execPath, [...nodeArgs, script, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  live.add(child);
  const stderr: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (l) => {
    stderr.push(l);
    if (stderr.length > STDERR_LINES_KEPT) stderr.shift();
  });
  let exited: string | undefined;
  const exitPromise = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exited = `exited with ${code ?? signal}; stderr: ${stderr.join(' | ')}`;
      live.delete(child);
      resolve();
    }),
  );
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} did not print its address within ${START_TIMEOUT_MS} ms; stderr: ${stderr.join(' | ')}`)), START_TIMEOUT_MS);
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (l) => {
      const m = addressRe.exec(l);
      if (m?.[1] !== undefined) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    void exitPromise.then(() => {
      clearTimeout(timer);
      reject(new Error(`${script} ${exited ?? 'exited'}`));
    });
  }).catch((err: unknown) => {
    child.kill('SIGKILL');
    throw err;
  });
  const pid = child.pid!;
  let stopping: Promise<void> | undefined;
  return {
    pid,
    port,
    exitInfo: () => exited,
    rssKiB: () => procStatusKiB(pid, 'VmRSS'),
    peakRssKiB: () => procStatusKiB(pid, 'VmHWM'),
    cpuSeconds: () => procCpuSeconds(pid),
    stop: () =>
      (stopping ??= (async () => {
        if (exited !== undefined) return;
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
        await exitPromise;
        clearTimeout(timer);
      })()),
  };
}

/** Starts the lanchat coordinator on 127.0.0.1:0 (no mDNS) with a fresh data dir, cheap bcrypt and no practical rate limit. */
/** `env`: e.g. `WS_NO_BUFFER_UTIL=1`, the relay without the optional native masking (ws's JS fallback). */
export function spawnRelay(nodeArgs: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<ServerChild> {
  const dataDir = makeTempDir('lanchat-bench-');
  const args = ['serve', '--locked', '--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir, '--bcrypt-cost', '4', '--max-message-rate', '1000000', '--registration-rate', '1000000'];
  return spawnServer(CLI, args, /^lanchat coordinator for network "default" at 127\.0\.0\.1:(\d+)\b/, nodeArgs, env);
}

/** Starts the bare `ws` broadcast server on 127.0.0.1:0. */
export function spawnBare(): Promise<ServerChild> {
  return spawnServer(BARE_SERVER, [], /^bare ws broadcast server at 127\.0\.0\.1:(\d+)$/);
}

/** A fresh temporary directory, removed by `cleanup()`. */
export function makeTempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

/** Stops every child still running and removes every temp dir. Safe to call more than once. */
export async function cleanup(): Promise<void> {
  await Promise.all(
    [...live].map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          c.once('exit', () => resolve());
          c.kill('SIGTERM');
          setTimeout(() => c.kill('SIGKILL'), STOP_GRACE_MS).unref();
        }),
    ),
  );
  removeTempDirs();
}

/** Last resort on process exit or a signal: synchronous SIGKILL of every child, then temp dirs. */
export function cleanupSync(): void {
  for (const c of live) c.kill('SIGKILL');
  live.clear();
  removeTempDirs();
}

function removeTempDirs(): void {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

function procStatusKiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status);
  if (m?.[1] === undefined) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(m[1]);
}

function procCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15 (1-based).
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}
