import t from 'tap';
import { writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { testCoordinator } from '../helpers/coordinator.js';
import { loggedIn } from '../helpers/ws-client.js';
import { tmpDir } from '../helpers/tmp.js';

/** Runs a coordinator on `dataDir` that stores one entry, and returns the term it served in. */
async function oneTerm(t: { teardown(fn: () => unknown): void }, dataDir: string, user: string): Promise<number> {
  const { coordinator, url } = await testCoordinator(t, { dataDir });
  const s = await loggedIn(url, user); // a registration: an entry stamped with this term's origin
  s.close();
  const term = coordinator.role.term;
  await coordinator.stop();
  return term;
}

t.test('a lost or damaged term file never takes a node back to an older term', async (t) => {
  const dataDir = tmpDir(t);
  const first = await oneTerm(t, dataDir, 'alice');
  t.equal(await oneTerm(t, dataDir, 'bob'), first + 1, 'each start as coordinator is a new term');
  writeFileSync(join(dataDir, 'term'), 'garbage\n');
  t.equal(await oneTerm(t, dataDir, 'carol'), first + 2, 'a damaged file: the log still knows the last term');
  rmSync(join(dataDir, 'term'));
  t.equal(await oneTerm(t, dataDir, 'dave'), first + 3, 'a lost file: likewise');
});
