import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { startClient, startServe, Proc } from '../helpers/processes.js';
import { tmpDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

/**
 * A full disk (issue #11): a coordinator alone answers `storage_full` and
 * takes sends again once space returns, with no restart; one with a standby
 * hands the network to it. The data directory is on a small tmpfs (root only).
 */
function smallDisk(t: { teardown(fn: () => unknown): void }): string | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const dir = join(tmpDir(t), 'small');
  mkdirSync(dir);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', dir], { stdio: 'pipe' });
  } catch {
    return undefined;
  }
  t.teardown(() => {
    try {
      execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
    } catch {
      // already gone
    }
  });
  return dir;
}

/** Fills the file system holding `dir` (a filler file written until ENOSPC); returns it. */
function fill(dir: string): string {
  const file = join(dir, 'filler');
  const fd = openSync(file, 'w');
  const block = Buffer.alloc(64 * 1024, 1);
  try {
    for (;;) writeSync(fd, block);
  } catch {
    // full
  } finally {
    closeSync(fd);
  }
  // The last few bytes too.
  try {
    for (;;) writeFileSync(file, Buffer.alloc(512), { flag: 'a' });
  } catch {
    // full
  }
  return file;
}

t.test('alone: storage_full while the disk is full, then on again with no restart', async (t) => {
  const disk = smallDisk(t);
  if (disk === undefined) { t.pass('skipped: needs root to mount a small tmpfs'); return; }
  const server = await startServe(t, join(disk, 'n1'));
  const alice = await startClient(t, server.address, 'alice', { register: true });
  alice.write({ type: 'send', text: 'before', id: 'b' });
  await alice.next((e) => e.type === 'ack' && e.id === 'b', 'stored');
  const filler = fill(disk);
  // A write may still fit in the file's last page: send until one does not.
  let refused: Record<string, unknown> | undefined;
  for (let i = 0; i < 200 && refused === undefined; i++) {
    alice.write({ type: 'send', text: `while full ${'x'.repeat(500)}`, id: `f${i}` });
    const e = await alice.next((x) => (x.type === 'error' || x.type === 'ack') && x.id === `f${i}`, 'the answer', 10_000);
    if (e.type === 'error') refused = e;
  }
  t.match(refused, { type: 'error', code: 'storage_full' }, 'told, not left waiting');
  rmSync(filler);
  let acked = false;
  for (let i = 0; i < 40 && !acked; i++) {
    alice.write({ type: 'send', text: `after ${i}`, id: `a${i}` });
    const e = await alice.next((x) => (x.type === 'ack' || x.type === 'error') && String(x.id).startsWith('a'), 'an answer');
    acked = e.type === 'ack';
    if (!acked) await new Promise((r) => setTimeout(r, 250));
  }
  t.ok(acked, 'sends are stored again once space returns');
  t.equal(server.proc.exitCode, undefined, 'no restart');
});

t.test('with a standby: a coordinator that cannot write hands the network to one that can', async (t) => {
  const disk = smallDisk(t);
  if (disk === undefined) { t.pass('skipped: needs root to mount a small tmpfs'); return; }
  const dir = tmpDir(t);
  const first = await startServe(t, join(disk, 'n1'));
  const second = new Proc(['serve', '--locked', '--host', '127.0.0.1', '--port', '0', '--data-dir', join(dir, 'n2'), '--bcrypt-cost', '4', '--join', first.address]);
  t.teardown(() => second.kill('SIGKILL'));
  await second.line(/^lanchat standby/);
  // It stood by from the start (it did not lead beside the coordinator first); whatever term it takes over
  // in (one above every term it heard of), its first line saying it coordinates comes after that one.
  const stoodBy = second.stdout.findIndex((l) => /^lanchat standby/.test(l));
  t.notOk(second.stdout.slice(0, stoodBy).some((l) => /^lanchat coordinator/.test(l)), 'a standby from the start');
  const tookOver = () => second.stdout.slice(stoodBy + 1).some((l) => /^lanchat coordinator/.test(l));
  const alice = await startClient(t, first.address, 'alice', { register: true });
  alice.write({ type: 'send', text: 'before', id: 'b' });
  await alice.next((e) => e.type === 'ack' && e.id === 'b', 'stored');
  fill(disk);
  // A write may still fit in the file's last page: send until the coordinator can write no more and hands off.
  for (let i = 0; i < 200 && !tookOver(); i++) {
    alice.write({ type: 'send', text: `while full ${'x'.repeat(500)}`, id: `f${i}` });
    const answer = await alice.next((e) => (e.type === 'ack' || e.type === 'error') && e.id === `f${i}`, 'the send', 15_000);
    // Acknowledged (by the full coordinator while it could, or by the new one after a resend), or refused: never left waiting.
    t.ok(answer.type === 'ack' || answer.code === 'storage_full', `f${i}: ${answer.type}`);
  }
  await waitFor(tookOver, 'the standby to take over', 15_000).catch((err: Error) => {
    const logs = (name: string, p: { stdout: string[]; stderr: string[] }) => `--- ${name} ---\n${[...p.stdout, ...p.stderr].join('\n')}`;
    throw new Error(`${err.message}\n${logs('the full coordinator', first.proc)}\n${logs('its standby', second)}`);
  });
  alice.write({ type: 'send', text: 'on the new coordinator', id: 'n' });
  t.match(await alice.next((e) => (e.type === 'ack' || e.type === 'error') && e.id === 'n', 'stored by the successor', 15_000), { type: 'ack' });
});
