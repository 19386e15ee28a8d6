import { request } from 'node:https';
import { Status } from '../protocol/status.js';
import type { TLSSocket } from 'node:tls';
import { clientOptions, presentedIdentity, type PresentedIdentity } from '../trust/tls.js';

export { Status } from '../protocol/status.js';

/** Probing a node takes at most this long on a LAN; longer means it is gone or cut off. */
export const STATUS_TIMEOUT_MS = 400;

/** What asking a node for its status found: its status, or why there is none (a socket error's code). */
/** `presented`: the network identity its TLS certificate shows (undefined: none a lanchat node would send). */
export type Probe = { ok: true; status: Status; presented?: PresentedIdentity | undefined } | { ok: false; errno: string };

/** `errno` of a probe that reached something that is not a lanchat node. */
export const NOT_LANCHAT = 'ENOTLANCHAT';

/**
 * Asks `address` (`host:port`) for its status, and says why when there is none: `ECONNREFUSED`,
 * `EHOSTUNREACH`, `ETIMEDOUT` (no answer in time), `ENOTLANCHAT` (an answer, but not a lanchat node's).
 * `from`: a coordinator asking says where it is, so a rival it outranks, which may not know it, asks it back.
 */
export async function probeStatus(address: string, timeoutMs = STATUS_TIMEOUT_MS, from?: string): Promise<Probe> {
  const query = from === undefined ? '' : `?from=${encodeURIComponent(from)}`;
  let url: URL;
  try {
    url = new URL(`https://${address}/status${query}`);
  } catch {
    return { ok: false, errno: 'EINVAL' };
  }
  const signal = AbortSignal.timeout(timeoutMs);
  return new Promise<Probe>((resolve) => {
    let settled = false;
    const settle = (p: Probe): void => {
      if (settled) return;
      settled = true;
      req.destroy();
      resolve(p);
    };
    const req = request(url, { ...clientOptions(undefined), signal, agent: false, headers: { connection: 'close' } }, (res) => {
      if (res.statusCode !== 200) return settle({ ok: false, errno: NOT_LANCHAT });
      const presented = presentedIdentity(res.socket as TLSSocket);
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_STATUS_BYTES) return settle({ ok: false, errno: NOT_LANCHAT }); // not read to its end
        chunks.push(chunk);
      });
      res.on('end', () => {
        let parsed: ReturnType<typeof Status.safeParse> | undefined;
        try {
          parsed = Status.safeParse(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        } catch {
          parsed = undefined;
        }
        settle(parsed?.success ? { ok: true, status: parsed.data, presented } : { ok: false, errno: NOT_LANCHAT });
      });
      res.on('error', () => settle({ ok: false, errno: signal.aborted ? 'ETIMEDOUT' : NOT_LANCHAT }));
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (signal.aborted || err.name === 'AbortError') return settle({ ok: false, errno: 'ETIMEDOUT' });
      // A TLS handshake that fails: whatever answered speaks no TLS, or not ours.
      const tlsFailure = typeof err.code === 'string' && (err.code.startsWith('ERR_SSL') || err.code === 'EPROTO');
      settle({ ok: false, errno: tlsFailure ? NOT_LANCHAT : (err.code ?? 'ECONNREFUSED') });
    });
    req.end();
  });
}

/** The largest status body read; a longer one is not lanchat's (and is not read to its end). */
const MAX_STATUS_BYTES = 4_096;

/** Asks `address` (`host:port`) for its status; undefined when it does not answer sensibly in time (see `probeStatus`). */
export async function fetchStatus(address: string, timeoutMs = STATUS_TIMEOUT_MS, from?: string): Promise<Status | undefined> {
  const p = await probeStatus(address, timeoutMs, from);
  return p.ok ? p.status : undefined;
}
