import t from 'tap';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DataDir } from '../../src/store/data-dir.js';
import { tmpDir } from '../helpers/tmp.js';

t.test('temporary files of writers that died mid-write are removed at open; a live writer\'s are not', async (t) => {
  const dir = tmpDir(t);
  writeFileSync(join(dir, '.known-default.json.999999999.tmp'), '{"half'); // no such process
  writeFileSync(join(dir, `.known-lab.json.${process.ppid}.tmp`), '{"in progress'); // this one is alive (tap's runner)
  const d = await DataDir.open(dir);
  t.teardown(() => d.close());
  const names = readdirSync(dir);
  t.notOk(names.includes('.known-default.json.999999999.tmp'), 'the orphan is gone');
  t.ok(names.includes(`.known-lab.json.${process.ppid}.tmp`), 'a live writer keeps its file');
});
