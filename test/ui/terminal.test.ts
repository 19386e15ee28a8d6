import t, { type Test } from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { CLI, nodeCommand, nodeShell, startClient, startServe } from '../helpers/processes.js';
import { tmpDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { inPrivateNetwork } from '../helpers/netns.js';

/**
 * The UI in a real terminal: tmux runs `lanchat --connect … --user alice`
 * with LANCHAT_PASSWORD set; keys go in with send-keys, the screen comes
 * back with capture-pane; a `lanchat client` is on the other end.
 */
// The UI looks for networks over mDNS unless it is locked down: it runs in a private network namespace (tmux's
// server, started from here, with it), so nothing reaches a real interface.
// The UIs' logs (XDG state), never in the home of whoever runs the tests; two tests read theirs by --log-file.
const STATE = mkdtempSync(join(tmpdir(), 'lanchat-state-'));
t.teardown(() => rmSync(STATE, { recursive: true, force: true }));

if (inPrivateNetwork(import.meta.url)) main();

function main(): void {
  t.test('without a terminal, lanchat points to `lanchat client` and exits non-zero', async (t) => {
    const [node, ...pre] = nodeCommand();
    const r = spawnSync(node!, [...pre, CLI, '--locked'], { encoding: 'utf8', input: '', timeout: 10_000 });
    t.equal(r.status, 2);
    t.match(r.stderr, /needs a terminal.*lanchat client/);
    t.equal(r.stdout, '', 'nothing drawn on a pipe');
  });

  const tmuxVersion = spawnSync('tmux', ['-V'], { encoding: 'utf8' });
  if (tmuxVersion.status !== 0) {
    t.comment('skipped: tmux is not installed (apt-get install tmux)');
    t.pass('skipped: no tmux');
  } else {
    const socket = `lanchat-test-${process.pid}`;
    const tmux = (...args: string[]): string => execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });
    const screen = (): string => tmux('capture-pane', '-p', '-t', 'ui');
    const see = (what: string | RegExp, timeoutMs = 10_000) =>
      waitFor(() => (typeof what === 'string' ? screen().includes(what) : what.test(screen())), `the terminal to show ${what}`, timeoutMs).catch((err: Error) => {
        throw new Error(`${err.message}\n--- screen ---\n${screen()}`);
      });

    /** A coordinator on which alice is registered (password `alice-pw`, logged out), and bob online unless `bob: false`. */
    const network = async (t: Test, { bob = true } = {}) => {
      const root = tmpDir(t);
      const { address } = await startServe(t, join(root, 'server'));
      const alice = await startClient(t, address, 'alice', { register: true, password: 'alice-pw' });
      alice.end();
      await alice.exited();
      return { root, address, bob: bob ? await startClient(t, address, 'bob', { register: true }) : undefined };
    };

    /** `lanchat ARGS` in its own tmux session (80×24 unless `size`) with `env` (killed at the end); `hold` keeps the pane after it exits. */
    const session = (t: Test, name: string, env: string, args: string, hold = true, size = { columns: 80, rows: 24 }) => {
      t.teardown(() => void spawnSync('tmux', ['-L', socket, 'kill-session', '-t', name]));
      tmux('new-session', '-d', '-s', name, '-x', String(size.columns), '-y', String(size.rows), `env ${env} XDG_STATE_HOME=${STATE} TERM=xterm-256color ${nodeShell()} ${CLI} ${args}${hold ? '; sleep 60' : ''}`);
      const view = (): string => tmux('capture-pane', '-p', '-t', name);
      const shows = (what: string) => waitFor(() => view().includes(what), `the terminal to show ${what}`).catch((err: Error) => {
        throw new Error(`${err.message}\n--- screen ---\n${view()}`);
      });
      return { view, shows, keys: (...keys: string[]) => tmux('send-keys', '-t', name, ...keys) };
    };

    t.test('lanchat in tmux: log in from the environment, send, receive, quit with the terminal restored', async (t) => {
      const root = tmpDir(t);
      const { address } = await startServe(t, join(root, 'server'));
      const alice = await startClient(t, address, 'alice', { register: true, password: 'alice-pw' });
      alice.end();
      await alice.exited();
      const bob = await startClient(t, address, 'bob', { register: true });

      t.teardown(() => void spawnSync('tmux', ['-L', socket, 'kill-server']));
      const cmd = `env XDG_STATE_HOME=${STATE} LANCHAT_PASSWORD=alice-pw TERM=xterm-256color ${nodeShell()} ${CLI} --connect ${address} --user alice --data-dir ${join(root, 'ui')}; echo "exit code $?"; sleep 60`;
      tmux('new-session', '-d', '-s', 'ui', '-x', '80', '-y', '24', cmd);
      await see(/alice · online/);
      t.equal(tmux('display-message', '-p', '-t', 'ui', '#{alternate_on}').trim(), '1', 'the UI runs on the alternate screen');
      await see('online (2)');

      tmux('send-keys', '-t', 'ui', '-l', 'hello from a real terminal');
      await see('› hello from a real terminal'); // look before pressing Enter, as a person would
      tmux('send-keys', '-t', 'ui', 'Enter');
      const got = await bob.next((e) => e.type === 'message' && e.text === 'hello from a real terminal', 'the line typed in tmux').catch((err: Error) => {
        throw new Error(`${err.message}\n--- screen ---\n${screen()}`);
      });
      t.equal(got.from, 'alice');

      bob.write({ type: 'send', text: 'reply from bob' });
      await see(/bob: reply from bob/);
      bob.write({ type: 'send', text: 'only for alice', to: ['alice'] });
      await see(/bob → alice \[direct\]: only for alice/);

      tmux('send-keys', '-t', 'ui', '-l', '/quit');
      await see('› /quit');
      tmux('send-keys', '-t', 'ui', 'Enter');
      await see('exit code 0');
      t.equal(tmux('display-message', '-p', '-t', 'ui', '#{alternate_on}').trim(), '0', 'back on the normal screen');
      t.equal(tmux('display-message', '-p', '-t', 'ui', '#{cursor_flag}').trim(), '1', 'the cursor is visible again');
      await bob.next((e) => e.type === 'presence' && Array.isArray(e.online) && !e.online.includes('alice'), 'alice to leave');
    });

    t.test('the login form in tmux: a name, Tab and a password sent in one go land in their fields', async (t) => {
      const { root, address } = await network(t, { bob: false });
      const { shows, keys } = session(t, 'login', '', `--connect ${address} --data-dir ${join(root, 'ui')}`);
      await shows('lanchat — log in');
      // In quick succession, with no wait between them: the name, Tab, the password with a typo fixed by Backspace, Enter.
      keys('-l', 'alice');
      keys('Tab');
      keys('-l', 'alice-pwx');
      keys('BSpace', 'Enter');
      await shows('alice · online');
      t.pass('logged in');
    });

    t.test('NO_COLOR: no colour anywhere on the screen, the cursor still shown (inverse is not colour)', async (t) => {
      const { root, address, bob } = await network(t);
      const { shows } = session(t, 'nocolor', '-u FORCE_COLOR NO_COLOR=1 LANCHAT_PASSWORD=alice-pw', `--connect ${address} --user alice --data-dir ${join(root, 'ui')}`);
      await shows('online (2)');
      bob!.write({ type: 'send', text: 'in plain text, @alice', to: ['alice'] });
      await shows('in plain text, @alice');
      const styled = tmux('capture-pane', '-p', '-e', '-t', 'nocolor');
      t.notMatch(styled, /\x1b\[(?:[0-9;]*;)?(?:3[0-7]|9[0-7]|38;[0-9;]+|4[0-7]|10[0-7])m/, 'no colour (39 and 49, the defaults, are not colour)');
      t.match(styled, /\x1b\[(?:[0-9;]*;)?7m/, 'inverse (the status bar, the cursor) stays');
    });

    t.test('closing the terminal window: the UI leaves cleanly (no crash in its log), and the others see it go', async (t) => {
      const { root, address, bob: other } = await network(t);
      const bob = other!;
      const ui = join(root, 'ui');
      const { shows } = session(t, 'closing', 'LANCHAT_PASSWORD=alice-pw', `--connect ${address} --user alice --log-file ${join(ui, 'lanchat.log')} --data-dir ${ui}`, false);
      await shows('alice · online');
      await waitFor(() => bob.events.some((e) => e.type === 'presence' && Array.isArray(e.online) && e.online.includes('alice')), 'bob to see alice');
      tmux('kill-session', '-t', 'closing'); // the window closes: SIGHUP, and the terminal is gone
      await bob.next((e) => e.type === 'presence' && Array.isArray(e.online) && !e.online.includes('alice'), 'alice to leave');
      const logged = () => readFileSync(join(ui, 'lanchat.log'), 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { level: number; msg: string });
      await waitFor(() => logged().some((l) => /signal: leaving|the terminal went away/.test(l.msg)), 'the UI to log why it left');
      t.same(logged().filter((l) => l.level >= 50).map((l) => l.msg), [], 'no error and no crash in the log');
    });

    t.test('SIGTERM: the UI leaves as /quit does (session closed, terminal restored, exit code 0)', async (t) => {
      const { root, address, bob: other } = await network(t);
      const bob = other!;
      const ui = join(root, 'ui-term');
      t.teardown(() => void spawnSync('tmux', ['-L', socket, 'kill-session', '-t', 'term']));
      tmux('new-session', '-d', '-s', 'term', '-x', '80', '-y', '24', `env XDG_STATE_HOME=${STATE} LANCHAT_PASSWORD=alice-pw TERM=xterm-256color ${nodeShell()} ${CLI} --connect ${address} --user alice --log-file ${join(ui, 'lanchat.log')} --data-dir ${ui}; echo "exit code $?"; sleep 60`);
      const view = (): string => tmux('capture-pane', '-p', '-t', 'term');
      await waitFor(() => view().includes('alice · online'), 'alice online');
      await waitFor(() => bob.events.some((e) => e.type === 'presence' && Array.isArray(e.online) && e.online.includes('alice')), 'bob to see alice');
      const pid = Number(spawnSync('pgrep', ['-f', '--', `--data-dir ${ui}$`], { encoding: 'utf8' }).stdout.trim().split('\n')[0]);
      t.ok(pid > 0, `the UI's process (${pid})`);
      process.kill(pid, 'SIGTERM');
      await waitFor(() => view().includes('exit code 0'), 'the UI to exit with 0').catch((err: Error) => {
        throw new Error(`${err.message}\n--- screen ---\n${view()}`);
      });
      t.equal(tmux('display-message', '-p', '-t', 'term', '#{alternate_on}').trim(), '0', 'back on the normal screen');
      await bob.next((e) => e.type === 'presence' && Array.isArray(e.online) && !e.online.includes('alice'), 'alice to leave');
      const logged = readFileSync(join(ui, 'lanchat.log'), 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { level: number; msg: string });
      t.ok(logged.some((l) => l.msg === 'signal: leaving'), 'the signal was taken as a leave');
      t.same(logged.filter((l) => l.level >= 40).map((l) => l.msg), [], 'no warning (such as a stop that took too long), no error');
    });

    t.test('a fast typist in tmux: every key kept at 20 keys/s with 50 ms after Enter; readline keys; keys in one read; a paste', async (t) => {
      const { root, address, bob: other } = await network(t);
      const bob = other!;
      // Colours on whatever the test runner's environment says: the checks below are about what the network sends.
      const { view, shows, keys } = session(t, 'typist', '-u NO_COLOR -u FORCE_COLOR LANCHAT_PASSWORD=alice-pw', `--connect ${address} --user alice --data-dir ${join(root, 'ui')}`);
      await shows('online (2)');
      const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

      // A typist at 20 keys/s who starts the next line 50 ms after Enter (the pace is the point: not a wait for an event).
      const lines = ['s-alpha', 's-beta', 's-gamma', 'the quick brown fox'];
      for (const line of lines) {
        for (const ch of line) {
          keys('-l', ch);
          await pause(50);
        }
        keys('Enter');
        await pause(50);
      }
      const got = async (n: number) => {
        await waitFor(() => bob.events.filter((e) => e.type === 'message' && e.from === 'alice').length >= n, `${n} lines from alice`);
        return bob.events.filter((e) => e.type === 'message' && e.from === 'alice').map((e) => e.text);
      };
      t.same(await got(lines.length), lines, 'each line exactly as typed');

      // Keys that arrive in one read: three Backspaces, then readline keys.
      keys('-l', 'abcdef');
      await shows('› abcdef');
      keys('BSpace', 'BSpace', 'BSpace', 'Enter');
      t.same((await got(lines.length + 1)).at(-1), 'abc', 'three Backspaces in one command delete three');
      keys('-l', 'junk to clear');
      await shows('› junk to clear');
      keys('C-u');
      keys('-l', 'say world');
      keys('C-a');
      keys('-l', 'I ');
      keys('End');
      keys('-l', ' hello');
      keys('C-w');
      keys('-l', 'there');
      keys('Home', 'Delete', 'Enter');
      t.same((await got(lines.length + 2)).at(-1), ' say world there', 'Ctrl+U, Ctrl+A, End, Ctrl+W, Home, Delete');

      // Hostile text from the network is shown, never acted on: no colour, no title, nothing reordered or hidden.
      bob.write({ type: 'send', text: 'X\x1b[31mRED\x1b[0m \x1b]2;owned\x07 \u202eevil \u200bzw \x9b7m' });
      await shows('<U+009B>7m');
      t.match(view(), 'bob: X␛[31mRED␛[0m ␛]2;owned␇ <U+202E>evil', 'shown for what it is');
      t.match(view(), '<U+200B>zw <U+009B>7m');
      const coloured = tmux('capture-pane', '-p', '-e', '-t', 'typist').split('\n').find((l) => l.includes('RED'))!;
      t.match(tmux('capture-pane', '-p', '-e', '-t', 'typist'), /\x1b\[(?:[0-9;]*;)?(?:3[0-7]|9[0-7]|38;[0-9;]+)m/, 'colours are on (so what follows can fail)');
      t.notMatch(coloured, /\x1b\[(?:[0-9;]*;)?31m/, 'the message turned nothing red');
      t.notMatch(coloured, /\x1b\[(?:[0-9;]*;)?7m/, 'nor inverse');
      t.not(tmux('display-message', '-p', '-t', 'typist', '#{pane_title}').trim(), 'owned', 'nor set the title');
      const raw = await waitFor(() => bob.stdout.find((l) => l.includes('RED')), "bob's own copy of the message, as his JSON client wrote it"); // the screen can show it first
      t.match(raw, /\\u009b7m/, 'the JSON client escapes C1 controls as JSON does');
      t.notMatch(raw, /[\u007f-\u009f]/, 'and writes none raw');

      // A bracketed paste of two lines is one message, sent on Enter.
      tmux('set-buffer', '-b', 'p', 'pasted line one\npasted line two');
      tmux('paste-buffer', '-p', '-b', 'p', '-t', 'typist');
      await shows('› pasted line one pasted line two');
      keys('Enter');
      t.same((await got(lines.length + 3)).at(-1), 'pasted line one pasted line two');

      // A 3,000-character paste: the input takes at most 3 rows and the status bar stays.
      tmux('set-buffer', '-b', 'q', 'y'.repeat(3_000));
      tmux('paste-buffer', '-p', '-b', 'q', '-t', 'typist');
      await waitFor(() => view().split('\n').filter((r) => r.includes('yyyyyyyyyy')).length > 0, 'the paste');
      const screenRows = view().split('\n');
      t.ok(screenRows.filter((r) => /y{20}/.test(r)).length <= 3, 'at most 3 rows of input');
      t.match(screenRows[0], /alice · online/, 'the status bar is still there');
      keys('C-u');
      await waitFor(() => !view().includes('yyyyyyyyyy'), 'the input cleared');
    });

    // Emoji with skin tones, a ZWJ family, VS16, CJK and combining marks: tmux 3.3 draws some of them wider or
    // narrower than string-width counts them. The UI asks the terminal at start, so the columns still line up:
    // the status bar stays on the first row, the prompt on the last, the users pane beside every row.
    const WIDE = 'tones 👍🏽👋🏿 family 👨‍👩‍👧 heart ❤️ 漢字テスト café́ ñ̃ ';
    for (const size of [{ columns: 80, rows: 24 }, { columns: 40, rows: 15 }]) {
      t.test(`wide and combining characters at ${size.columns}×${size.rows}: every row where it belongs`, async (t) => {
        const { root, address, bob } = await network(t);
        const name = `wide${size.columns}`;
        const { view, shows } = session(t, name, 'LANCHAT_PASSWORD=alice-pw', `--connect ${address} --user alice --data-dir ${join(root, 'ui')}`, true, size);
        await shows(size.columns >= 50 ? 'alice · online' : ' · online'); // at 40 columns the name gives way to the network's code
        await shows(size.columns >= 50 ? 'online (2)' : 'online');
        bob!.write({ type: 'send', text: WIDE.repeat(4) + 'END' });
        await shows('END');
        const rows = view().split('\n').slice(0, size.rows);
        t.match(rows[0], size.columns >= 50 ? /alice · online/ : / · online/, 'the status bar is on the first row');
        t.match(rows[size.rows - 2], /^to everyone ›/, 'the prompt is on the last row but the spare one');
        const message = rows.filter((r) => /tones|family|heart|漢字|END/.test(r));
        t.ok(message.length >= 3, 'the message wraps over several rows');
        t.ok(message.slice(1).every((r) => r.startsWith('           ')), 'each wrapped row is indented under the text');
        if (size.columns >= 50) {
          const pane = rows.slice(1, size.rows - 2);
          t.ok(pane.every((r) => r.includes('│')), 'the users pane border is on every row');
          t.same(pane.map((r) => r.slice(r.lastIndexOf('│') + 1).trim()).filter((x) => x !== ''), ['online (2)', '[ ] alice (you)', '[ ] bob', 'Esc: pick recipients']);
        }
      });
    }
  }
}
