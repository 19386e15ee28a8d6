import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join, relative } from 'node:path';

/**
 * The tests of pure code (`*.pure.test.ts`: tables and properties of decision logic, parsers and formatters,
 * with no I/O, no clock and no process of their own) run here, in one process, in path order. A test file
 * run by tap gets a process of its own, which costs ~0.8 s of CPU (tap, and its module-loader thread on Node
 * 20) and 3-4 s of a slot on a loaded 2-core machine: more than most of these take to run. Each still runs on
 * its own, e.g. `node dist/test/core/election.pure.test.js`; `.taprc` keeps tap from running them twice.
 */
const here = fileURLToPath(new URL('.', import.meta.url));

function pureTests(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? pureTests(join(dir, e.name)) : e.name.endsWith('.pure.test.js') ? [join(dir, e.name)] : []))
    .sort();
}

for (const file of pureTests(here)) await import(`./${relative(here, file)}`);
