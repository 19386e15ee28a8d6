import t from 'tap';
import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join, relative } from 'node:path';

/**
 * The tests of pure code (`*.pure.test.ts`: tables and properties of decision logic, parsers, formatters and
 * the UI's reducer, with no I/O and no process of their own) run here, in one process, in path order. A
 * test file run by tap gets a process of its own, which costs ~0.8 s of CPU (tap, and its module-loader
 * thread on Node 20) and 3-4 s of a slot on a loaded 2-core machine: more than most of these take to run.
 * Each still runs on its own, e.g. `node dist/test/core/election.pure.test.js`; `.taprc` keeps tap from
 * running them twice.
 */
const compiled = fileURLToPath(new URL('.', import.meta.url)); // dist/test
const sources = join(compiled, '..', '..', 'test');

/** Paths under `root`, relative and without their extension, of the files named `*.pure.test.<ext>` for an `ext` of `exts`. */
function pureTests(root: string, exts: string[], dir = root): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => {
      if (e.isDirectory()) return pureTests(root, exts, join(dir, e.name));
      const [, base, ext] = /^(.*\.pure\.test)\.([a-z]+)$/.exec(e.name) ?? [];
      return base !== undefined && exts.includes(ext!) ? [relative(root, join(dir, base))] : [];
    })
    .sort();
}

const found = pureTests(compiled, ['js']);
// What is run is what the sources hold: none missing, no stale copy of a renamed or deleted test.
if (existsSync(sources)) t.same(found, pureTests(sources, ['ts', 'tsx']), `${found.length} tests of pure code, as compiled from test/`);
t.ok(found.length > 0, 'tests of pure code were found');
for (const file of found) await import(`./${file}.js`);
