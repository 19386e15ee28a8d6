import { Status } from '../protocol/status.js';

export { Status } from '../protocol/status.js';

/** Probing a node takes at most this long on a LAN; longer means it is gone or cut off. */
export const STATUS_TIMEOUT_MS = 400;

/**
 * Asks `address` (`host:port`) for its status; undefined when it does not answer sensibly in time. `from`: a
 * coordinator asking says where it is, so a rival it outranks, which may not know it, asks it back.
 */
export async function fetchStatus(address: string, timeoutMs = STATUS_TIMEOUT_MS, from?: string): Promise<Status | undefined> {
  try {
    const query = from === undefined ? '' : `?from=${encodeURIComponent(from)}`;
    const res = await fetch(`http://${address}/status${query}`, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) return undefined;
    const text = await res.text();
    if (text.length > 4_096) return undefined;
    const parsed = Status.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
