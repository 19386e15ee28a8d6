import t from 'tap';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { CLI, nodeCommand } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';
import { inPrivateNetwork } from '../helpers/netns.js';
import { terminals } from '../helpers/tmux.js';

/**
 * The UI in a real terminal (tmux, see helpers/tmux.ts), from start to leaving: logged in from the
 * environment, a message each way, and every way out (/quit, the window closed, SIGTERM) leaving the
 * terminal as it was and the others told. Keys are in terminal-keys.test.ts, what is drawn in
 * terminal-screen.test.ts.
 */
if (inPrivateNetwork(import.meta.url)) main();

function main(): void {
  t.test('without a terminal, lanchat points to `lanchat client` and exits non-zero', async (t) => {
    const [node, ...pre] = nodeCommand();
    const r = spawnSync(node!, [...pre, CLI, '--locked'], { encoding: 'utf8', input: '', timeout: 10_000 });
    t.equal(r.status, 2);
    t.match(r.stderr, /needs a terminal.*lanchat client/);
    t.equal(r.stdout, '', 'nothing drawn on a pipe');
  });

  const term = terminals(t);
  if (term === undefined) return;
  const { tmux, network, session } = term;

  t.test('lanchat in tmux: log in from the environment, send, receive, quit with the terminal restored', async (t) => {
    const { root, address, bob: other } = await network(t);
    const bob = other!;
    const { view, shows: see, keys } = session(t, 'ui', 'LANCHAT_PASSWORD=alice-pw', `--connect ${address} --user alice --data-dir ${join(root, 'ui')}`);
    await see(/alice · online/);
    t.equal(tmux('display-message', '-p', '-t', 'ui', '#{alternate_on}').trim(), '1', 'the UI runs on the alternate screen');
    await see('online (2)');

    keys('-l', 'hello from a real terminal');
    await see('› hello from a real terminal'); // look before pressing Enter, as a person would
    keys('Enter');
    const got = await bob.next((e) => e.type === 'message' && e.text === 'hello from a real terminal', 'the line typed in tmux').catch((err: Error) => {
      throw new Error(`${err.message}\n--- screen ---\n${view()}`);
    });
    t.equal(got.from, 'alice');

    bob.write({ type: 'send', text: 'reply from bob' });
    await see(/bob: reply from bob/);
    bob.write({ type: 'send', text: 'only for alice', to: ['alice'] });
    await see(/bob → alice \[direct\]: only for alice/);

    keys('-l', '/quit');
    await see('› /quit');
    keys('Enter');
    await see('exit code 0');
    t.equal(tmux('display-message', '-p', '-t', 'ui', '#{alternate_on}').trim(), '0', 'back on the normal screen');
    t.equal(tmux('display-message', '-p', '-t', 'ui', '#{cursor_flag}').trim(), '1', 'the cursor is visible again');
    await bob.next((e) => e.type === 'presence' && Array.isArray(e.online) && !e.online.includes('alice'), 'alice to leave');
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
    const { shows } = session(t, 'term', 'LANCHAT_PASSWORD=alice-pw', `--connect ${address} --user alice --log-file ${join(ui, 'lanchat.log')} --data-dir ${ui}`);
    await shows('alice · online');
    await waitFor(() => bob.events.some((e) => e.type === 'presence' && Array.isArray(e.online) && e.online.includes('alice')), 'bob to see alice');
    const pid = Number(spawnSync('pgrep', ['-f', '--', `--data-dir ${ui}$`], { encoding: 'utf8' }).stdout.trim().split('\n')[0]);
    t.ok(pid > 0, `the UI's process (${pid})`);
    process.kill(pid, 'SIGTERM');
    await shows('exit code 0');
    t.equal(tmux('display-message', '-p', '-t', 'term', '#{alternate_on}').trim(), '0', 'back on the normal screen');
    await bob.next((e) => e.type === 'presence' && Array.isArray(e.online) && !e.online.includes('alice'), 'alice to leave');
    const logged = readFileSync(join(ui, 'lanchat.log'), 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { level: number; msg: string });
    t.ok(logged.some((l) => l.msg === 'signal: leaving'), 'the signal was taken as a leave');
    t.same(logged.filter((l) => l.level >= 40).map((l) => l.msg), [], 'no warning (such as a stop that took too long), no error');
  });
}
