import type { Test } from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { CLI, nodeShell, startClient, startServe } from './processes.js';
import { tmpDir } from './tmp.js';
import { waitFor } from './wait.js';

/**
 * The UI in a real terminal: tmux runs `lanchat`, keys go in with send-keys, the screen comes back with
 * capture-pane. Each test file has a tmux server of its own (a socket named by its pid), started from the
 * file's private network namespace (see inPrivateNetwork): the UI looks for networks over mDNS unless it is
 * locked down, and nothing reaches a real interface. Where tmux is not installed, says so in `root` (a
 * skip, with the reason) and returns undefined.
 */
export function terminals(root: Test) {
  if (spawnSync('tmux', ['-V'], { encoding: 'utf8' }).status !== 0) {
    root.comment('skipped: tmux is not installed (apt-get install tmux)');
    root.pass('skipped: no tmux');
    return undefined;
  }
  // The UIs' logs (XDG state), never in the home of whoever runs the tests.
  const state = mkdtempSync(join(tmpdir(), 'lanchat-state-'));
  root.teardown(() => rmSync(state, { recursive: true, force: true }));
  const socket = `lanchat-test-${process.pid}`;
  root.teardown(() => void spawnSync('tmux', ['-L', socket, 'kill-server']));
  const tmux = (...args: string[]): string => execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });

  /** A coordinator on which alice is registered (password `alice-pw`, logged out), and bob online unless `bob: false`. */
  const network = async (t: Test, { bob = true } = {}) => {
    const dir = tmpDir(t);
    const { address } = await startServe(t, join(dir, 'server'));
    const alice = await startClient(t, address, 'alice', { register: true, password: 'alice-pw' });
    alice.end();
    await alice.exited();
    return { root: dir, address, bob: bob ? await startClient(t, address, 'bob', { register: true }) : undefined };
  };

  /**
   * `lanchat ARGS` in its own tmux session (80×24 unless `size`) with `env` (killed at the end); `hold` keeps the
   * pane after it exits, with its exit code shown.
   */
  const session = (t: Test, name: string, env: string, args: string, hold = true, size = { columns: 80, rows: 24 }) => {
    t.teardown(() => void spawnSync('tmux', ['-L', socket, 'kill-session', '-t', name]));
    tmux('new-session', '-d', '-s', name, '-x', String(size.columns), '-y', String(size.rows), `env ${env} XDG_STATE_HOME=${state} TERM=xterm-256color ${nodeShell()} ${CLI} ${args}${hold ? '; echo "exit code $?"; sleep 60' : ''}`);
    const view = (): string => tmux('capture-pane', '-p', '-t', name);
    const shows = (what: string | RegExp, timeoutMs?: number) =>
      waitFor(() => (typeof what === 'string' ? view().includes(what) : what.test(view())), `the terminal to show ${what}`, timeoutMs).catch((err: Error) => {
        throw new Error(`${err.message}\n--- screen ---\n${view()}`);
      });
    return { view, shows, keys: (...keys: string[]) => tmux('send-keys', '-t', name, ...keys) };
  };

  return { tmux, network, session };
}
