/**
 * Polls `check` until it returns a value other than undefined/false, or fails after `timeoutMs`: a bound for a
 * hung wait, not a time budget (a process start on a loaded 2-core machine has taken over 10 s).
 */
export async function waitFor<T>(check: () => T | undefined | false, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
