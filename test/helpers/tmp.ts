import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A fresh temp directory removed at teardown. */
export function tmpDir(t: { teardown(fn: () => void): void }, prefix = 'lanchat-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => {
    try {
      // Retried: a process being torn down may still be removing its own files in there.
      rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
    } catch (err) {
      // Never fail a teardown over a leftover temp dir: tap would skip the teardowns after this one.
      console.error(`# could not remove ${dir}: ${(err as Error).message}`);
    }
  });
  return dir;
}
