import t from 'tap';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { JsonClient, startClient, startServe } from '../helpers/processes.js';
import { tmpDir } from '../helpers/tmp.js';

const identityOf = (line: string | undefined): string | undefined => /; identity ([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})$/.exec(line ?? '')?.[1];

t.test("trust on first use: a client pins the network's identity, and refuses another network's loudly", async (t) => {
  const dir = tmpDir(t);
  const real = await startServe(t, join(dir, 'real'));
  const code = identityOf(real.proc.stdout.find((l) => l.startsWith('lanchat coordinator')));
  t.ok(code, `serve's first line shows the identity (${code})`);
  const clientDir = join(dir, 'alice');
  const alice = await startClient(t, real.address, 'alice', { register: true, dataDir: clientDir });
  t.match(alice.events.find((e) => e.type === 'ready'), { identity: code }, 'the ready line shows it');
  alice.end();
  await alice.exited();
  t.ok(existsSync(join(clientDir, 'identity-default.json')), 'pinned in the data directory');

  // Another network of the same name (a rogue, or a network made anew): same address space, another authority.
  const rogue = await startServe(t, join(dir, 'rogue'));
  const refused = new JsonClient(rogue.address, 'alice', { dataDir: clientDir });
  t.teardown(() => refused.kill('SIGKILL'));
  t.equal(await refused.exited(), 1, 'the client stops');
  const error = refused.events.find((e) => e.type === 'error');
  t.match(error, { code: 'identity_changed' });
  t.match(error?.['message'], new RegExp(`shows the identity ${identityOf(rogue.proc.stdout[0])}, not ${code} as before`), 'both codes, said plainly');
  t.match(error?.['message'], /identity-default\.json/, 'and what to do if the network was really made anew');
  t.notOk(refused.events.some((e) => e.type === 'ready'), 'never logged in');
  // (That nothing at all reaches such a node, login or token, is checked frame by frame in rogue.test.ts.)

  // The network really made anew: forget it, and the next first contact pins the new one.
  rmSync(join(clientDir, 'identity-default.json'));
  const again = await startClient(t, rogue.address, 'alice', { register: true, dataDir: clientDir });
  t.match(again.events.find((e) => e.type === 'ready'), { identity: identityOf(rogue.proc.stdout[0]) });
});
