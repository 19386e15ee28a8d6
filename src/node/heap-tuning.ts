import { setFlagsFromString } from 'node:v8';

/**
 * V8 flags set at run time, kept so they can be set again: starting a worker thread puts every V8 flag
 * back to its start-up value (measured on Node 20: `--semi-space-growth-factor=1` set before the first
 * bcrypt worker was gone once it came online, and the young generation grew to 16 MiB semi-spaces).
 * Whoever starts a worker calls `reassertHeapFlags()` when it is online.
 */
const flags = new Map<string, string>();

/** Sets a V8 flag (`--name=value`) now and after every worker start. */
export function tuneHeap(flag: string): void {
  flags.set(flag.split('=')[0]!, flag);
  setFlagsFromString(flag);
}

/** Sets again every flag given to `tuneHeap` (a worker thread's start resets them). */
export function reassertHeapFlags(): void {
  for (const flag of flags.values()) setFlagsFromString(flag);
}

/**
 * Lets V8's old generation grow to 4× what survives a full GC (its own upper
 * bound for fast-allocating programs) instead of the adaptive factor, which on
 * lanchat's small heap (~10 MB) leaves less headroom than a young generation:
 * V8 then starts a full incremental marking every few megabytes of file data
 * relayed (chunk buffers are short-lived but outside the heap). Measured on the
 * 100 MiB file bench: coordinator CPU 0.30 → 0.16 s, relay 210–250 → ~400
 * MiB/s; chat latency and idle memory per connection stay within their
 * targets (npm run bench). The flag is read at each GC, so setting it now, at
 * start-up, applies to the whole run. Imported first by the CLI.
 */
tuneHeap('--heap-growing-percent=300');
