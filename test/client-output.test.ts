import t from 'tap';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, nodeShell, startServe } from './helpers/processes.js';
import { tmpDir } from './helpers/tmp.js';

// Issue #14: `lanchat client … | (sleep 1; cat)` delivered 11 of 203 lines, the last cut mid-JSON, exit 0.
// A script's reader may be slow or gone; the client writes every line before it exits, and says when it could not.

/** Runs a shell pipeline with the client first; resolves with the client's own exit code (PIPESTATUS) and what the reader kept. */
async function pipeline(dir: string, address: string, user: string, input: string, reader: string): Promise<{ code: number; out: string; stderr: string }> {
  const inFile = join(dir, `${user}.in`);
  const outFile = join(dir, `${user}.out`);
  writeFileSync(inFile, input);
  const args = [CLI, 'client', '--locked', '--connect', address, '--user', user, '--register', '--data-dir', join(dir, user)];
  // Started as `npx lanchat` or npm's bin shim would: by a parent Node that has opened its stdout, which
  // makes the shared pipe non-blocking, so the client's writes are queued in memory, not written at once.
  const parent = `process.stdout.write(''); const r = require('child_process').spawnSync(process.execPath, ${JSON.stringify(args)}, { stdio: 'inherit' }); process.exitCode = r.status ?? 1;`;
  const client = `${nodeShell()} -e "${parent.replace(/["$`\\]/g, '\\$&')}"`;
  const sh = spawn('bash', ['-c', `${client} < '${inFile}' | ${reader} > '${outFile}'; echo "\${PIPESTATUS[0]}"`], {
    env: { ...process.env, LANCHAT_PASSWORD: `pw-${user}` },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  sh.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  sh.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  await once(sh, 'exit');
  return { code: Number(stdout.trim()), out: readFileSync(outFile, 'utf8'), stderr };
}

t.test('a slow reader gets every line, whole, and the client exits 0 once it has them', async (t) => {
  const dir = tmpDir(t);
  const { address } = await startServe(t, join(dir, 'node'), ['--max-message-rate', '1000']);
  const sends = 500;
  const text = 'x'.repeat(200);
  const input = Array.from({ length: sends }, (_, i) => JSON.stringify({ type: 'send', text: `${i} ${text}`, id: i })).join('\n') + '\n';
  // The reader sleeps while the client answers: its output (≈ 250 KiB) fills the pipe many times over.
  const r = await pipeline(dir, address, 'bot', input, '(sleep 1; cat)');
  const lines = r.out.split('\n');
  t.equal(lines.pop(), '', 'the output ends with a whole line');
  const events = lines.map((l) => JSON.parse(l) as { type: string; id?: number });
  t.equal(events.filter((e) => e.type === 'ack').length, sends, 'every ack');
  t.equal(events.filter((e) => e.type === 'message').length, sends, 'every message');
  t.ok(lines.length >= 1_000, `${lines.length} lines, none lost`);
  t.equal(r.code, 0, `exit 0 (stderr: ${r.stderr.slice(-300)})`);
});

t.test('a slow reader of a long login replay gets all of it when the input is empty', async (t) => {
  const dir = tmpDir(t);
  const { address } = await startServe(t, join(dir, 'node'), ['--max-message-rate', '1000']);
  const history = 200;
  const input = Array.from({ length: history }, (_, i) => JSON.stringify({ type: 'send', text: `${i} ${'z'.repeat(3_990)}` })).join('\n') + '\n';
  const seed = await pipeline(dir, address, 'seeder', input, 'cat');
  t.equal(seed.code, 0, 'the history is written');
  // Nothing to send: the client has its replay (≈ 800 KiB) and is done at once, long before the reader wakes.
  const r = await pipeline(dir, address, 'reader', '', '(sleep 1; cat)');
  const lines = r.out.split('\n');
  t.equal(lines.pop(), '', 'the output ends with a whole line');
  const replayed = lines.map((l) => JSON.parse(l) as { type: string; replay?: boolean }).filter((e) => e.type === 'message' && e.replay === true);
  t.equal(replayed.length, history, 'the whole replay');
  t.equal(r.code, 0, `exit 0 (stderr: ${r.stderr.slice(-300)})`);
});

t.test('a reader that goes away: the client stops and exits non-zero', async (t) => {
  const dir = tmpDir(t);
  const { address } = await startServe(t, join(dir, 'node'), ['--max-message-rate', '1000']);
  const input = Array.from({ length: 200 }, (_, i) => JSON.stringify({ type: 'send', text: `line ${i} ${'y'.repeat(400)}` })).join('\n') + '\n';
  const r = await pipeline(dir, address, 'quitter', input, 'head -1');
  t.match(r.out, /^\{"type":"ready".*\}\n$/, 'the reader kept its one line');
  t.not(r.code, 0, `the client says its output was lost (exit ${r.code})`);
  t.notMatch(r.stderr, /EPIPE|Error:|at .*\.js/, 'and does not die with a stack');
});
