import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/**
 * Runs inside a private network namespace (bench/ui.ts arranges it): the terminal UI in tmux, as a person
 * starts it. (1) First screen: from launching `lanchat` (its node starting too) to tmux showing the UI's
 * first screen, `trials` times. (2) Memory: the UI's RSS once 2,000 messages are in its pane, for the UI
 * alone (`--connect`) and for the UI with its own node coordinating (the default). Prints one JSON object.
 */
const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));
const trials = Number(process.argv[2] ?? 5);
const MESSAGES = 2_000;
const SENDERS = 10; // the default limit is 20 messages/s per user: ten bots fill the pane in about 15 s
const root = mkdtempSync(join(tmpdir(), 'lanchat-bench-ui-'));
const socket = `lanchat-bench-${process.pid}`;
const tmux = (...args: string[]): string => execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });
const children: ChildProcess[] = [];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until<T>(check: () => T | undefined | false, what: string, timeoutMs: number, everyMs = 5): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v !== undefined && v !== false) return v;
    if (performance.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms`);
    await sleep(everyMs);
  }
}

function lines(child: ChildProcess): string[] {
  const out: string[] = [];
  createInterface({ input: child.stdout! }).on('line', (l) => out.push(l));
  return out;
}

function lanchat(args: string[], env: NodeJS.ProcessEnv = {}): { child: ChildProcess; out: string[] } {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'ignore'] });
  children.push(child);
  child.stdin!.on('error', () => undefined);
  return { child, out: lines(child) };
}

async function client(address: string, user: string, register: boolean, network = 'default'): Promise<{ child: ChildProcess; out: string[] }> {
  const c = lanchat(['client', '--locked', '--connect', address, '--network', network, '--user', user, '--data-dir', join(root, `c-${user}`), ...(register ? ['--register'] : [])], { LANCHAT_PASSWORD: 'pw' });
  await until(() => c.out.some((l) => l.includes('"type":"ready"')), `${user} ready`, 15_000).catch((err: Error) => {
    throw new Error(`${err.message} (it said: ${c.out.slice(-3).join(' | ') || 'nothing'})`);
  });
  return c;
}

const view = (name: string): string => tmux('capture-pane', '-p', '-t', name);
const panePid = (name: string): number => Number(tmux('display-message', '-p', '-t', name, '#{pane_pid}').trim());
const rssKiB = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);

/** `lanchat ARGS` in an 80×24 tmux session (the node process is the pane's own). */
function ui(name: string, args: string[], env: string): void {
  tmux('new-session', '-d', '-s', name, '-x', '80', '-y', '24', `exec env -u NO_COLOR ${env} TERM=xterm-256color ${process.execPath} ${CLI} ${args.join(' ')}`);
}

async function stop(name: string): Promise<void> {
  const pid = panePid(name);
  spawnSync('tmux', ['-L', socket, 'kill-session', '-t', name]); // SIGHUP: the UI hands its node off and exits
  await until(() => !existsPid(pid), 'the UI to exit', 15_000, 20).catch(() => process.kill(pid, 'SIGKILL'));
}

function existsPid(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function firstScreen(): Promise<{ samples_ms: number[]; drawn_at_uptime_ms: number[] }> {
  const samples: number[] = [];
  const drawn: number[] = [];
  for (let i = 0; i < trials; i++) {
    const dir = join(root, `first${i}`);
    const t0 = performance.now();
    ui(`first${i}`, ['--data-dir', dir, '--log-file', join(dir, 'lanchat.log'), '--network', `first${i}`, '--bcrypt-cost', '4'], '');
    await until(() => /lanchat —/.test(view(`first${i}`)), 'first screen', 20_000);
    samples.push(performance.now() - t0);
    const logged = readFileSync(join(dir, 'lanchat.log'), 'utf8').split('\n').find((l) => l.includes('first screen drawn'));
    if (logged) drawn.push((JSON.parse(logged) as { uptimeMs: number }).uptimeMs);
    await stop(`first${i}`);
  }
  return { samples_ms: samples, drawn_at_uptime_ms: drawn };
}

/** Ten bots send 2,000 messages in all at ~15/s each; resolves when the UI shows the last. */
async function fill(address: string, name: string, network?: string): Promise<void> {
  const bots = await Promise.all(Array.from({ length: SENDERS }, (_, i) => client(address, `bot${i}`, true, network)));
  const per = MESSAGES / SENDERS;
  await Promise.all(
    bots.map(async (b, i) => {
      for (let k = 0; k < per; k++) {
        const last = i === SENDERS - 1 && k === per - 1;
        b.child.stdin!.write(`${JSON.stringify({ type: 'send', text: last ? 'the-last-one' : `bot${i} line ${k}: a message of ordinary length, like most people write in a chat` })}\n`);
        await sleep(66);
      }
    }),
  );
  await until(() => view(name).includes('the-last-one'), 'the last message on screen', 60_000, 50);
  for (const b of bots) b.child.stdin!.end();
}

async function memory(): Promise<{ ui_only_rss_at_login_mib: number; ui_only_rss_mib: number; ui_with_node_rss_mib: number; messages: number }> {
  // The UI alone, connected to a coordinator elsewhere.
  const server = lanchat(['serve', '--locked', '--host', '127.0.0.1', '--port', '0', '--data-dir', join(root, 'server'), '--bcrypt-cost', '4', '--registration-rate', '1000']);
  const address = await until(() => server.out.map((l) => /coordinator for network .* at (127\.0\.0\.1:\d+)/.exec(l)?.[1]).find(Boolean), 'the coordinator', 15_000);
  (await client(address, 'alice', true)).child.stdin!.end();
  ui('mem1', ['--connect', address, '--user', 'alice', '--data-dir', join(root, 'ui1'), '--log-file', join(root, 'ui1.log')], 'LANCHAT_PASSWORD=pw');
  await until(() => view('mem1').includes('alice · online'), 'alice online', 20_000, 20);
  await sleep(1_000);
  const atLogin = rssKiB(panePid('mem1'));
  await fill(address, 'mem1');
  await sleep(2_000); // let the last renders and the garbage settle
  const uiOnly = rssKiB(panePid('mem1'));
  await stop('mem1');
  server.child.kill('SIGKILL');

  // The UI with its own node, which coordinates (alone in this namespace): the default way to start it.
  ui('mem2', ['--user', 'alice', '--data-dir', join(root, 'ui2'), '--log-file', join(root, 'ui2.log'), '--network', 'mem', '--bcrypt-cost', '4', '--registration-rate', '1000', '--port', '7790'], 'LANCHAT_PASSWORD=pw');
  await until(() => /log in/.test(view('mem2')), 'the login screen', 20_000, 20);
  const local = '127.0.0.1:7790';
  (await client(local, 'alice', true, 'mem')).child.stdin!.end();
  // Her first login (from LANCHAT_PASSWORD) came before the account: the form says so and asks again.
  await until(() => /wrong username or password/.test(view('mem2')), 'the failed first login', 20_000, 20);
  tmux('send-keys', '-t', 'mem2', '-l', 'pw');
  tmux('send-keys', '-t', 'mem2', 'Enter');
  await until(() => view('mem2').includes('alice · online'), 'alice online on her own node', 20_000, 20);
  await fill(local, 'mem2', 'mem');
  await sleep(2_000);
  const withNode = rssKiB(panePid('mem2'));
  await stop('mem2');
  const mib = (k: number) => Math.round((k / 1024) * 10) / 10;
  return { ui_only_rss_at_login_mib: mib(atLogin), ui_only_rss_mib: mib(uiOnly), ui_with_node_rss_mib: mib(withNode), messages: MESSAGES };
}

try {
  if (spawnSync('tmux', ['-V']).status !== 0) {
    process.stdout.write(JSON.stringify({ skipped: 'tmux is not installed (apt-get install tmux)' }));
  } else {
    const first = await firstScreen();
    const mem = await memory();
    const sorted = [...first.samples_ms].sort((a, b) => a - b);
    const r = (x: number) => Math.round(x);
    process.stdout.write(JSON.stringify({ trials, first_screen_p50_ms: r(sorted[Math.floor(trials / 2)]!), first_screen_max_ms: r(sorted.at(-1)!), first_screen_samples_ms: first.samples_ms.map(r), drawn_at_uptime_ms: first.drawn_at_uptime_ms, ...mem }));
  }
} finally {
  for (const c of children) c.kill('SIGKILL');
  spawnSync('tmux', ['-L', socket, 'kill-server']);
  rmSync(root, { recursive: true, force: true });
}
