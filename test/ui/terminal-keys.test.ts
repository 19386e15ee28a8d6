import t from 'tap';
import { join } from 'node:path';
import { waitFor } from '../helpers/wait.js';
import { inPrivateNetwork } from '../helpers/netns.js';
import { terminals } from '../helpers/tmux.js';

/**
 * Keys in a real terminal (tmux, see helpers/tmux.ts), as a person types them: the login form filled in one
 * go, a fast typist, readline keys, keys that come in one read, pastes; and hostile text from the network
 * shown for what it is, never acted on.
 */
if (inPrivateNetwork(import.meta.url)) main();

function main(): void {
  const term = terminals(t);
  if (term === undefined) return;
  const { tmux, network, session } = term;

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
}
