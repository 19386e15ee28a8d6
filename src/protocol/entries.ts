import { createHash } from 'node:crypto';
import { z } from 'zod';
import { Username } from './fields.js';
import { MAX_STATUS_CHARS, MAX_TOPIC_CHARS, USER_STATUSES } from './limits.js';

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
  /**
   * The account's identity, random at registration and kept by its updates, so two registrations of one
   * name (on both sides of a partition) stay two accounts. Absent from entries older than this field.
   */
  account: z.string().regex(/^[0-9a-f]{16}$/).optional(),
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
  /** A room message: `to` is the room's members when it was stored (the sender among them). */
  room: Username.optional(),
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

/**
 * A room created (issue #16). Names follow the rules of usernames (case-insensitive). Two creations of one
 * name (both sides of a partition) are one room after the merge: the earlier creation's settings win, and
 * the members of both stay members.
 */
export const RoomEntry = z.object({
  kind: z.literal('room'),
  ...Origin,
  room: Username,
  private: z.boolean(),
  creator: Username,
  /** When it was created: of two creations of one name, the earlier by (created, origin, seq) holds it. */
  created: z.number(),
});

/** What a user is in a room from `ts` on; the latest by (ts, origin, seq) wins for each (room, user). */
export const MemberEntry = z.object({
  kind: z.literal('member'),
  ...Origin,
  room: Username,
  user: Username,
  /** `op`: a member who may remove members and name other ops (the creator is one from the start). */
  state: z.enum(['member', 'op', 'invited', 'left', 'removed']),
  by: Username,
  ts: z.number(),
});

/** A room's topic from `ts` on (the latest wins). */
export const TopicEntry = z.object({
  kind: z.literal('topic'),
  ...Origin,
  room: Username,
  topic: z.string().max(MAX_TOPIC_CHARS),
  by: Username,
  ts: z.number(),
});

/** What a user says of themselves (issue #16), beside their name; the latest by (ts, origin, seq) holds. */
export const StatusEntry = z.object({
  kind: z.literal('status'),
  ...Origin,
  user: Username,
  status: z.enum(USER_STATUSES),
  text: z.string().max(MAX_STATUS_CHARS),
  ts: z.number(),
});

export const Entry = z.discriminatedUnion('kind', [UserEntry, MessageEntry, CollectEntry, SecretEntry, RoomEntry, MemberEntry, TopicEntry, StatusEntry]);
export type Entry = z.infer<typeof Entry>;
export type UserEntry = z.infer<typeof UserEntry>;
export type MessageEntry = z.infer<typeof MessageEntry>;
export type CollectEntry = z.infer<typeof CollectEntry>;
export type SecretEntry = z.infer<typeof SecretEntry>;
export type RoomEntry = z.infer<typeof RoomEntry>;
export type MemberEntry = z.infer<typeof MemberEntry>;
export type TopicEntry = z.infer<typeof TopicEntry>;
export type StatusEntry = z.infer<typeof StatusEntry>;

/** Distributes `Omit` over a union, so each entry kind keeps its own fields. */
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** An entry before the log has stamped its origin and sequence number. */
export type NewEntry = DistributiveOmit<Entry, 'origin' | 'seq'>;

/**
 * A range of one origin's sequence numbers that a replica holds only in part: the entries of it that still
 * matter were written before this record, the rest were compacted away by the replica it came from (DESIGN §5:
 * a replica too far behind gets the state, not every old entry). On disk and in `peer:entries`.
 */
export const Cover = z.object({
  kind: z.literal('cover'),
  origin: z.string().min(1).max(64),
  from: z.number().int().nonnegative(),
  to: z.number().int().positive(),
});
export type Cover = z.infer<typeof Cover>;

/** One record of the log on disk: an entry, or a cover. */
export const LogRecord = z.discriminatedUnion('kind', [UserEntry, MessageEntry, CollectEntry, SecretEntry, RoomEntry, MemberEntry, TopicEntry, StatusEntry, Cover]);
export type LogRecord = z.infer<typeof LogRecord>;

/** The identity of an account: its `account` field, or (older entries) its registration time. */
export function accountOf(u: Pick<UserEntry, 'account' | 'created'>): string {
  return u.account ?? `t${u.created}`;
}

/**
 * A message's id, derived from its sender and client id: a message resent to
 * a new coordinator after a failover gets the same id, so every replica and
 * every client recognises it (DESIGN §5: exactly-once).
 */
export function messageId(from: string, cid: string): string {
  return createHash('sha256').update(`${from.toLowerCase()}\n${cid}`).digest('hex').slice(0, 32);
}

/** Key identifying an entry across all replicas. */
export function entryKey(e: Pick<Entry, 'origin' | 'seq'>): string {
  return `${e.origin}#${e.seq}`;
}
