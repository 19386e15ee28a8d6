import { readFileSync } from 'node:fs';

/**
 * The process's limit on open descriptors (its soft RLIMIT_NOFILE), from `/proc/self/limits`; undefined
 * where that cannot be read (not Linux). Node raises the soft limit to the hard one as it starts, so this
 * is the most the process can have; the relay keeps its connections below it, with a reserve.
 */
export function descriptorLimit(): number | undefined {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const soft = line === undefined ? Number.NaN : Number(line.slice('Max open files'.length).trim().split(/\s+/)[0]);
    return Number.isSafeInteger(soft) && soft > 0 ? soft : undefined;
  } catch {
    return undefined;
  }
}
