import { Status } from '../protocol/status.js';

export { Status } from '../protocol/status.js';

/** Probing a node takes at most this long on a LAN; longer means it is gone or cut off. */
export const STATUS_TIMEOUT_MS = 400;

/** What asking a node for its status found: its status, or why there is none (a socket error's code). */
export type Probe = { ok: true; status: Status } | { ok: false; errno: string };

/** `errno` of a probe that reached something that is not a lanchat node. */
export const NOT_LANCHAT = 'ENOTLANCHAT';

/**
 * Asks `address` (`host:port`) for its status, and says why when there is none: `ECONNREFUSED`,
 * `EHOSTUNREACH`, `ETIMEDOUT` (no answer in time), `ENOTLANCHAT` (an answer, but not a lanchat node's).
 * `from`: a coordinator asking says where it is, so a rival it outranks, which may not know it, asks it back.
 */
export async function probeStatus(address: string, timeoutMs = STATUS_TIMEOUT_MS, from?: string): Promise<Probe> {
  let res: Response;
  try {
    const query = from === undefined ? '' : `?from=${encodeURIComponent(from)}`;
    res = await fetch(`http://${address}/status${query}`, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    const e = err as Error & { cause?: { code?: unknown } };
    if (e.name === 'TimeoutError' || e.name === 'AbortError') return { ok: false, errno: 'ETIMEDOUT' };
    return { ok: false, errno: typeof e.cause?.code === 'string' ? e.cause.code : 'ECONNREFUSED' };
  }
  try {
    if (!res.ok) {
      await res.body?.cancel();
      return { ok: false, errno: NOT_LANCHAT };
    }
    const text = await boundedText(res, MAX_STATUS_BYTES);
    const parsed = text !== undefined && text.length > 0 ? Status.safeParse(JSON.parse(text)) : undefined;
    return parsed?.success ? { ok: true, status: parsed.data } : { ok: false, errno: NOT_LANCHAT };
  } catch (err) {
    return { ok: false, errno: (err as Error).name === 'TimeoutError' ? 'ETIMEDOUT' : NOT_LANCHAT };
  }
}

/** The largest status body read; a longer one is not lanchat's (and is not read to its end). */
const MAX_STATUS_BYTES = 4_096;

/** The body as text, or undefined (the rest cancelled) once it passes `max` bytes. */
async function boundedText(res: Response, max: number): Promise<string | undefined> {
  if (res.body === null) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Asks `address` (`host:port`) for its status; undefined when it does not answer sensibly in time (see `probeStatus`). */
export async function fetchStatus(address: string, timeoutMs = STATUS_TIMEOUT_MS, from?: string): Promise<Status | undefined> {
  const p = await probeStatus(address, timeoutMs, from);
  return p.ok ? p.status : undefined;
}
