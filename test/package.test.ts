import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, symlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tmpDir } from './helpers/tmp.js';

// Issue #15: what `npm pack` ships is what runs, and the packed tarball runs. `npm pack` itself builds
// (prepack); here the suite has built already, so the scripts are skipped.
const ROOT = resolve(import.meta.dirname, '..', '..');
const npm = (args: string[], cwd = ROOT) => spawnSync('npm', args, { cwd, encoding: 'utf8', timeout: 60_000, env: { ...process.env, npm_config_update_notifier: 'false' } });

t.test('the package ships the program, its docs and licence, and nothing of the tests, benchmarks or sources', async (t) => {
  const r = npm(['pack', '--dry-run', '--json', '--ignore-scripts']);
  t.equal(r.status, 0, r.stderr);
  const files = (JSON.parse(r.stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
  for (const must of ['package.json', 'README.md', 'LICENSE', 'dist/src/cli.js', 'dist/src/commands.js', 'dist/src/store/bcrypt-worker.js', 'docs/PROTOCOL.md', 'contrib/lanchat.service']) t.ok(files.includes(must), `ships ${must}`);
  const unwanted = files.filter((f) => /^(dist\/(test|bench)\/|test\/|bench\/|src\/|\.ci\/|\.taprc|tsconfig)|\.map$|\.ts$/.test(f));
  t.same(unwanted, [], 'no tests, benchmarks, sources, source maps or CI files');
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string }; optionalDependencies?: Record<string, string>; dependencies: Record<string, string> };
  t.equal(pkg.engines.node, '>=20.15', 'engines says what runs (zlib.crc32 came in 20.15)');
  t.ok(pkg.optionalDependencies?.bufferutil && !pkg.dependencies['bufferutil'], 'bufferutil is optional, as ws treats it');
});

t.test('the packed tarball runs: lanchat --version and help', async (t) => {
  const dir = tmpDir(t);
  const r = npm(['pack', '--ignore-scripts', '--pack-destination', dir]);
  t.equal(r.status, 0, r.stderr);
  const tgz = readdirSync(dir).find((f) => f.endsWith('.tgz'))!;
  t.equal(spawnSync('tar', ['xzf', join(dir, tgz), '-C', dir]).status, 0, 'unpacked');
  // Its dependencies as installed here (no registry in a test): the package itself is what is tried.
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'package', 'node_modules'));
  const bin = join(dir, 'package', 'dist', 'src', 'cli.js');
  const version = spawnSync(process.execPath, [bin, '--version'], { encoding: 'utf8', timeout: 15_000 });
  t.equal(version.stdout.trim(), (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);
  const help = spawnSync(process.execPath, [bin, 'help', 'serve'], { encoding: 'utf8', timeout: 15_000 });
  t.equal(help.status, 0);
  t.match(help.stdout, /Usage: lanchat serve/);
});
