import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from './wait.js';

/** Where test clients remember coordinators: never the user's home. */
const CLIENT_DATA = join(tmpdir(), `lanchat-test-clients-${process.pid}`);
process.on('exit', () => rmSync(CLIENT_DATA, { recursive: true, force: true }));

/** The compiled CLI (tests run from dist/test, next to dist/src). */
export const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

/**
 * The node password every test node has unless a test says otherwise (`LANCHAT_NODE_PASSWORD: ''` for none):
 * without one a network admits no standbys, and most tests are about a network that fails over.
 */
export const TEST_NODE_PASSWORD = 'test-node-password';

/**
 * How a test starts `node`. tap loads its process-info hooks into every process under a test, and its spawn
 * hook puts them back into the NODE_OPTIONS of every child, whatever environment the child is given; on Node 20
 * those hooks send each module through a loader thread (a `lanchat serve` took 2.3 s of CPU to start instead
 * of 1.2). So children start through `env`, which drops them after the hook has run; what else NODE_OPTIONS
 * held is kept, and V8's own coverage is written where tap's report reads it (`.tap/coverage`).
 */
export function nodeCommand(): string[] {
  const words = ['env', '-u', 'NODE_OPTIONS'];
  const kept: string[] = [];
  for (const o of (process.env['NODE_OPTIONS'] ?? '').split(/\s+/)) {
    if (o.includes('@tapjs/')) {
      if (/^"?--(import|loader|require)"?$/.test(kept.at(-1) ?? '')) kept.pop(); // `--import PATH`: both go
    } else if (o !== '') kept.push(o);
  }
  if (kept.length > 0) words.push(`NODE_OPTIONS=${kept.join(' ')}`);
  const root = process.env['_TAPJS_PROCESSINFO_CWD_'];
  if (process.env['_TAPJS_PROCESSINFO_COVERAGE_'] === '1' && root !== undefined) words.push(`NODE_V8_COVERAGE=${join(root, '.tap', 'coverage')}`);
  words.push(process.execPath);
  return words;
}

/** nodeCommand for a shell command line (tmux, bash -c), each word quoted. */
export function nodeShell(): string {
  return nodeCommand()
    .map((w) => `'${w.replace(/'/g, `'\\''`)}'`)
    .join(' ');
}

/** A running `lanchat` child process with its output captured line by line. */
export class Proc {
  readonly stdout: string[] = [];
  readonly stderr: string[] = [];
  exitCode: number | null | undefined;
  signal: NodeJS.Signals | null = null;
  readonly child: ChildProcess;

  /** `wrap` runs the CLI under another command, e.g. `ip netns exec NS`. */
  constructor(args: string[], env: NodeJS.ProcessEnv = {}, wrap: string[] = []) {
    const [cmd, ...pre] = [...wrap, ...nodeCommand()];
    const nodePassword = env['LANCHAT_NODE_PASSWORD'] ?? TEST_NODE_PASSWORD;
    // XDG_*: a process a test starts never writes into the user's home, nor reads the user's config file.
    const merged: NodeJS.ProcessEnv = { ...process.env, XDG_DATA_HOME: join(CLIENT_DATA, 'xdg'), XDG_STATE_HOME: join(CLIENT_DATA, 'xdg-state'), XDG_CONFIG_HOME: join(CLIENT_DATA, 'xdg-config'), ...env, LANCHAT_NODE_PASSWORD: nodePassword };
    if (nodePassword === '') delete merged['LANCHAT_NODE_PASSWORD'];
    this.child = spawn(cmd!, [...pre, CLI, ...args], { env: merged, stdio: ['pipe', 'pipe', 'pipe'] });
    createInterface({ input: this.child.stdout! }).on('line', (l) => this.stdout.push(l));
    createInterface({ input: this.child.stderr! }).on('line', (l) => this.stderr.push(l));
    this.child.on('exit', (code, signal) => {
      this.exitCode = code;
      this.signal = signal;
    });
    this.child.stdin!.on('error', () => undefined);
  }

  /** Resolves with the exit code (null if killed by a signal). */
  exited(timeoutMs = 15_000): Promise<number | null> {
    return waitFor(() => this.exitCode !== undefined && { code: this.exitCode }, 'the process to exit', timeoutMs).then((r) => r.code);
  }

  line(re: RegExp, timeoutMs?: number): Promise<RegExpExecArray> {
    return waitFor(() => this.stdout.map((l) => re.exec(l)).find((m) => m !== null) ?? undefined, `a stdout line matching ${re}`, timeoutMs).catch((err: Error) => {
      throw new Error(`${err.message} (stdout: ${this.stdout.slice(-4).join(' | ')}; stderr: ${this.stderr.slice(-3).join(' | ')})`);
    });
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.exitCode === undefined) this.child.kill(signal);
  }
}

/** Starts `lanchat serve` on 127.0.0.1:0 with bcrypt cost 4 and waits for its address. */
export async function startServe(
  t: { teardown(fn: () => unknown): void },
  dataDir: string,
  extra: string[] = [],
  env: NodeJS.ProcessEnv = {},
): Promise<{ proc: Proc; address: string }> {
  // --locked: outside a private network namespace, tests send no multicast at all (README, "Test it").
  const proc = new Proc(['serve', '--locked', '--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir, '--bcrypt-cost', '4', ...extra], env);
  t.teardown(() => proc.kill('SIGKILL'));
  const m = await proc.line(/coordinator for network .* at (127\.0\.0\.1:\d+)/).catch((err: Error) => {
    throw new Error(`${err.message}; stderr: ${proc.stderr.join('\n')}`);
  });
  return { proc, address: m[1]! };
}

let clients = 0;

/**
 * A `lanchat client` child speaking JSON lines. Each has a data directory of its own unless `dataDir` is
 * given: a client pins the network identity it first meets, and every test makes networks of its own.
 */
export class JsonClient extends Proc {
  #seen = 0;

  constructor(address: string, user: string, opts: { register?: boolean; password?: string; env?: NodeJS.ProcessEnv; args?: string[]; dataDir?: string } = {}) {
    const dataDir = opts.dataDir ?? join(CLIENT_DATA, String(++clients));
    super(['client', '--locked', '--connect', address, '--user', user, '--data-dir', dataDir, ...(opts.register ? ['--register'] : []), ...(opts.args ?? [])], {
      LANCHAT_PASSWORD: opts.password ?? `pw-${user}`,
      ...opts.env,
    });
  }

  /** Every stdout line parsed; a non-JSON line fails the test loudly. */
  get events(): Record<string, unknown>[] {
    return this.stdout.map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        throw new Error(`client wrote a non-JSON line to stdout: ${l}`);
      }
    });
  }

  /** Waits for the next event (after those consumed) matching `pred`. */
  next(pred: (e: Record<string, unknown>) => boolean, what = 'an event', timeoutMs = 10_000): Promise<Record<string, unknown>> {
    return waitFor(
      () => {
        const ev = this.events;
        for (let i = this.#seen; i < ev.length; i++) {
          if (pred(ev[i]!)) {
            this.#seen = i + 1;
            return ev[i];
          }
        }
        return undefined;
      },
      what,
      timeoutMs,
    ).catch((err: Error) => {
      // The output as it is at the timeout, not as it was when the wait began.
      throw new Error(`${err.message} (stdout: ${this.stdout.slice(-5).join(' | ')}; stderr: ${this.stderr.slice(-3).join(' | ')}; exit: ${this.exitCode})`);
    });
  }

  write(obj: object | string): void {
    this.child.stdin!.write(`${typeof obj === 'string' ? obj : JSON.stringify(obj)}\n`);
  }

  end(): void {
    this.child.stdin!.end();
  }
}

/** Starts a JSON client and waits for its `ready` line. */
export async function startClient(
  t: { teardown(fn: () => unknown): void },
  address: string,
  user: string,
  opts: { register?: boolean; password?: string; env?: NodeJS.ProcessEnv; args?: string[]; dataDir?: string } = {},
): Promise<JsonClient> {
  const c = new JsonClient(address, user, opts);
  t.teardown(() => c.kill('SIGKILL'));
  await c.next((e) => e.type === 'ready', `${user} ready`);
  return c;
}
