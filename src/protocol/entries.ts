import { z } from 'zod';
import { Username } from './fields.js';

/**
 * The replicated log's entries (DESIGN §5). Every entry is immutable and
 * carries its origin node and a per-origin sequence number, so a replica's
 * content is summarised by a version vector and replicas can exchange exactly
 * what the other lacks (issue #4).
 */
const Origin = { origin: z.string().min(1).max(64), seq: z.number().int().positive() };

/** A user record: the credential store lives in the log. Only the bcrypt hash, never a password. */
export const UserEntry = z.object({
  kind: z.literal('user'),
  ...Origin,
  name: Username,
  hash: z.string().min(1).max(100),
  created: z.number(),
  updated: z.number(),
});

/** A chat message. `to` empty = everyone; `pending` = recipients offline when it was sent. */
export const MessageEntry = z.object({
  kind: z.literal('message'),
  ...Origin,
  id: z.string().min(1).max(64),
  /** The sender's idempotency key: the coordinator drops a resend with the same (from, cid). */
  cid: z.string().min(1).max(64),
  from: Username,
  to: z.array(Username),
  text: z.string(),
  ts: z.number(),
  pending: z.array(Username),
});

/** Marks a user's offline messages up to `upTo` as delivered, so each is delivered once. */
export const CollectEntry = z.object({
  kind: z.literal('collect'),
  ...Origin,
  user: Username,
  upTo: z.array(z.string().min(1).max(64)),
  ts: z.number(),
});

/**
 * The network's secret for session tokens (DESIGN §5: any replica can verify a
 * resume). Created once by the first coordinator; the earliest wins after a merge.
 */
export const SecretEntry = z.object({
  kind: z.literal('secret'),
  ...Origin,
  value: z.string().regex(/^[A-Za-z0-9+/=]{44}$/),
  created: z.number(),
});

export const Entry = z.discriminatedUnion('kind', [UserEntry, MessageEntry, CollectEntry, SecretEntry]);
export type Entry = z.infer<typeof Entry>;
export type UserEntry = z.infer<typeof UserEntry>;
export type MessageEntry = z.infer<typeof MessageEntry>;
export type CollectEntry = z.infer<typeof CollectEntry>;
export type SecretEntry = z.infer<typeof SecretEntry>;

/** Distributes `Omit` over a union, so each entry kind keeps its own fields. */
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** An entry before the log has stamped its origin and sequence number. */
export type NewEntry = DistributiveOmit<Entry, 'origin' | 'seq'>;

/** Key identifying an entry across all replicas. */
export function entryKey(e: Pick<Entry, 'origin' | 'seq'>): string {
  return `${e.origin}#${e.seq}`;
}
