import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CLI } from './helpers/processes.js';
import { tmpDir } from './helpers/tmp.js';

// Issue #15: the repository ships a hardened systemd unit; systemd's own checker finds nothing to say.
const UNIT = resolve(import.meta.dirname, '..', '..', 'contrib', 'lanchat.service');
const analyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });

t.test('contrib/lanchat.service passes systemd-analyze verify, and its exposure is low', { skip: analyze.status === 0 ? false : 'systemd-analyze is not installed here' }, async (t) => {
  const text = readFileSync(UNIT, 'utf8');
  for (const line of ['DynamicUser=yes', 'StateDirectory=lanchat', 'ProtectSystem=strict', 'NoNewPrivileges=yes', 'CapabilityBoundingSet=', 'LoadCredential=node-password:/etc/lanchat/node-password']) {
    t.ok(text.split('\n').includes(line), line);
  }
  t.match(text, /^ExecStart=\/usr\/local\/bin\/lanchat serve --config \$\{CONFIGURATION_DIRECTORY\}\/config\.json --data-dir \$\{STATE_DIRECTORY\} --node-password-file %d\/node-password$/m);
  // verify checks that the program exists: point it at this checkout's.
  const dir = tmpDir(t);
  const unit = join(dir, 'lanchat.service');
  writeFileSync(unit, text.replace('/usr/local/bin/lanchat', `${process.execPath} ${CLI}`));
  const verify = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8', timeout: 30_000 });
  t.equal(verify.status, 0, 'verify passes');
  t.equal(verify.stderr.trim(), '', 'and says nothing (unknown keys and bad values are only warnings)');
  const security = spawnSync('systemd-analyze', ['security', '--offline=yes', unit], { encoding: 'utf8', timeout: 30_000 });
  const exposure = Number(/Overall exposure level for lanchat\.service: ([\d.]+)/.exec(security.stdout + security.stderr)?.[1]);
  t.ok(exposure <= 2, `exposure ${exposure} (systemd's scale: 0 safest, 10 unprotected; ≤ 2 wanted)`);
});
