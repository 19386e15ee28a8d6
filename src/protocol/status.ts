import { z } from 'zod';
import { HostPort, NetworkName, NodeId } from './fields.js';

/** A node's role (DESIGN §2); only a coordinator serves chat sessions. */
export const Role = z.enum(['starting', 'standby', 'coordinator', 'observer']);
export type Role = z.infer<typeof Role>;

/** A node's answer to `GET /status` (issue #4). Validated: a peer is untrusted input. */
export const Status = z.object({
  id: NodeId,
  network: NetworkName,
  role: Role,
  term: z.number().int().nonnegative(),
  /** A later term than `term` its node has heard of: whoever asks moves past it too (the term never goes back). */
  highest: z.number().int().nonnegative().optional(),
  coordinator: HostPort.nullable(),
  priority: z.number().int(),
  eligible: z.boolean(),
  position: z.number().nonnegative(),
  protocol: z.number().int(),
});
export type Status = z.infer<typeof Status>;
