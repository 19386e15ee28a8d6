import t from 'tap';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DataDir } from '../../src/store/data-dir.js';
import { tmpDir } from '../helpers/tmp.js';

t.test('temporary files of writers that died mid-write are removed at open; a live writer\'s are not', async (t) => {
  const dir = tmpDir(t);
  writeFileSync(join(dir, '.known-default.json.999999999.tmp'), '{"half'); // no such process
  writeFileSync(join(dir, `.known-lab.json.${process.ppid}.tmp`), '{"in progress'); // this one is alive (tap's runner)
  writeFileSync(join(dir, '.identity-default.json.999999999.3.tmp'), '{"half'); // pid and a write counter
  writeFileSync(join(dir, `.identity-lab.json.${process.ppid}.12.tmp`), '{"in progress');
  const d = await DataDir.open(dir);
  t.teardown(() => d.close());
  const names = readdirSync(dir);
  t.notOk(names.includes('.known-default.json.999999999.tmp'), 'the orphan is gone');
  t.ok(names.includes(`.known-lab.json.${process.ppid}.tmp`), 'a live writer keeps its file');
  t.notOk(names.includes('.identity-default.json.999999999.3.tmp'), 'the orphan of a numbered write is gone');
  t.ok(names.includes(`.identity-lab.json.${process.ppid}.12.tmp`), "a live writer's numbered write is kept");
});
