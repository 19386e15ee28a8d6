import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, Proc, startServe } from './helpers/processes.js';
import { tmpDir } from './helpers/tmp.js';
import { waitFor } from './helpers/wait.js';

// Issue #15: the command line behaves as users of git, npm and systemd expect.

t.test('lanchat help [command] shows the help of the program or of that command', async (t) => {
  for (const [args, want] of [
    [['help'], /Usage: lanchat \[options\] \[command\]/],
    [['help', 'serve'], /Usage: lanchat serve \[options\]/],
    [['help', 'client'], /Usage: lanchat client \[options\]/],
  ] as const) {
    const p = new Proc([...args]);
    t.equal(await p.exited(), 0, args.join(' '));
    t.match(p.stdout.join('\n'), want, args.join(' '));
  }
});

t.test('an unknown command is said as one, with the nearest real one, exit 2', async (t) => {
  for (const [word, near] of [
    ['serv', /did you mean serve\?/],
    ['clinet', /did you mean client\?/],
    ['frobnicate', /the commands are serve, client and help/],
  ] as const) {
    const p = new Proc([word]);
    t.equal(await p.exited(), 2, word);
    const err = p.stderr.join('\n');
    t.match(err, new RegExp(`unknown command '${word}'`), word);
    t.match(err, near, word);
    t.notMatch(err, /too many arguments/, word);
  }
  const extra = new Proc(['serve', 'now']);
  t.equal(await extra.exited(), 2, 'a sub-command still refuses words it does not take');
  t.match(extra.stderr.join('\n'), /too many arguments for 'serve'/);
});

t.test('an older Node.js than the package needs is one clear line, exit 1 (not a SyntaxError from the linker)', async (t) => {
  const older = 'data:text/javascript,Object.defineProperty(process.versions, "node", { value: "20.14.0" })';
  const r = spawnSync(process.execPath, ['--import', older, CLI, '--version'], { encoding: 'utf8', timeout: 15_000 });
  t.equal(r.status, 1);
  t.match(r.stderr, /^lanchat: needs Node\.js 20\.15 or later; this is 20\.14\.0\n$/);
  const now = spawnSync(process.execPath, [CLI, '--version'], { encoding: 'utf8', timeout: 15_000 });
  t.equal(now.status, 0, 'this one runs');
});

t.test('SIGHUP stops serve as SIGTERM does: handed off, lock released, exit 0', async (t) => {
  const dir = join(tmpDir(t), 'node');
  const { proc } = await startServe(t, dir);
  t.ok(existsSync(join(dir, 'lock')), 'the node holds its lock');
  proc.kill('SIGHUP');
  t.equal(await proc.exited(), 0, 'a graceful stop, not death by the signal');
  t.ok(proc.stdout.some((l) => /SIGHUP: shutting down/.test(l)), 'it says so');
  t.notOk(existsSync(join(dir, 'lock')), 'and leaves no lock behind');
  // The data directory is free again: a new node starts on it at once.
  const again = await startServe(t, dir);
  t.match(again.address, /^127\.0\.0\.1:\d+$/, 'a node starts on the same data directory');
});

t.test('a signal while serve still looks for its role (a node that may not coordinate, alone) stops it too', async (t) => {
  const dir = join(tmpDir(t), 'node');
  const proc = new Proc(['serve', '--locked', '--no-coordinator', '--host', '127.0.0.1', '--port', '0', '--data-dir', dir]);
  t.teardown(() => proc.kill('SIGKILL'));
  // The lock is taken once serve handles signals: from then on it waits for a coordinator that never comes.
  await waitFor(() => existsSync(join(dir, 'lock')) || undefined, 'the node to hold its lock');
  proc.kill('SIGTERM');
  t.equal(await proc.exited(), 0, 'a graceful stop, not a wait for a role that never comes');
  t.ok(proc.stdout.some((l) => /SIGTERM: shutting down/.test(l)), 'it says so');
  t.notOk(existsSync(join(dir, 'lock')), 'and leaves no lock behind');
});
