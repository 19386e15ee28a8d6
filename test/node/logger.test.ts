import t from 'tap';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createFileLogger } from '../../src/node/logger.js';
import { tmpDir } from '../helpers/tmp.js';

t.test('a log file is bounded: past its size it becomes FILE.1 and begins anew', async (t) => {
  const dir = tmpDir(t);
  const file = join(dir, 'sub', 'lanchat.log');
  const log = createFileLogger('info', file, 10_000);
  for (let i = 0; i < 400; i++) log.info({ i }, 'a line of the log, long enough to matter');
  const current = readFileSync(file, 'utf8').trim().split('\n');
  const previous = readFileSync(`${file}.1`, 'utf8').trim().split('\n');
  t.ok(statSync(file).size <= 10_000 + 200, `the file stays within its bound (${statSync(file).size} bytes)`);
  t.ok(statSync(`${file}.1`).size <= 10_000 + 200, 'and so does the one before');
  t.equal(JSON.parse(current.at(-1)!).i, 399, 'the newest line is in the file');
  t.ok(current.concat(previous).every((l) => typeof JSON.parse(l).i === 'number'), 'every line whole');
  t.equal((statSync(join(dir, 'sub')).mode & 0o777).toString(8), '700', 'its directory is owner-only');
  // A big file from an earlier run is moved aside at start.
  writeFileSync(file, 'x'.repeat(20_000));
  createFileLogger('info', file, 10_000).info('fresh');
  t.match(readFileSync(file, 'utf8'), /^\{.*"msg":"fresh"/, 'begun anew');
  t.equal(statSync(`${file}.1`).size, 20_000, 'the old one kept as FILE.1');
});
