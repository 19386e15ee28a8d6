import { z } from 'zod';
import { HostPort, NodeId } from '../protocol/fields.js';

/** Probing a node takes at most this long on a LAN; longer means it is gone or cut off. */
export const STATUS_TIMEOUT_MS = 400;

/** A node's answer to `GET /status` (issue #4). Validated: a peer is untrusted input. */
export const Status = z.object({
  id: NodeId,
  network: z.string().max(32),
  role: z.enum(['starting', 'standby', 'coordinator', 'observer']),
  term: z.number().int().nonnegative(),
  coordinator: HostPort.nullable(),
  priority: z.number().int(),
  eligible: z.boolean(),
  position: z.number().nonnegative(),
  protocol: z.number().int(),
});
export type Status = z.infer<typeof Status>;

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
