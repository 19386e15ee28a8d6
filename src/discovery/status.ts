import { Status } from '../protocol/status.js';

export { Status } from '../protocol/status.js';

/** Probing a node takes at most this long on a LAN; longer means it is gone or cut off. */
export const STATUS_TIMEOUT_MS = 400;

/** Asks `address` (`host:port`) for its status; undefined when it does not answer sensibly in time. */
export async function fetchStatus(address: string, timeoutMs = STATUS_TIMEOUT_MS): Promise<Status | undefined> {
  try {
    const res = await fetch(`http://${address}/status`, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) return undefined;
    const text = await res.text();
    if (text.length > 4_096) return undefined;
    const parsed = Status.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
