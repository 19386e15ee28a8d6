import { z } from 'zod';
import { DEFAULT_LIMITS, type Limits, MAX_STATUS_CHARS, MAX_TOPIC_CHARS, PROTOCOL_VERSION, USER_STATUSES } from './limits.js';
import { ERROR_CODES, type ErrorCode } from './errors.js';
import { ClientMessageId, HostPort, NetworkName, NodeId, Username, VersionVector } from './fields.js';
import { Cover, Entry } from './entries.js';

export { ClientMessageId, Username } from './fields.js';

/** Entries per `peer:entries` frame: keeps replication frames well under the 1 MiB hard limit. */
export const MAX_ENTRIES_PER_FRAME = 200;
/** Install ranges per `peer:entries` frame (one per origin at most). */
const MAX_COVERS_PER_FRAME = 1_000;

/** A transfer's stream number: the 4-byte prefix of its binary frames. */
export const StreamId = z.number().int().min(1).max(0xffff_ffff);
/** A file name as offered: untrusted, sanitised by each recipient before use. */
const FileName = z.string().min(1).max(1024);
const Sha256 = z.string().regex(/^[0-9a-f]{64}$/);
const Reason = z.string().max(300);

/** Password as sent on the wire; the 72-byte bcrypt bound is checked by the handler. */
const Password = z.string().min(1).max(256);

/** A CPace share (32 bytes) and confirmation (64 bytes), base64: see src/trust/cpace.ts. */
export const Share = z.string().regex(/^[A-Za-z0-9+/]{43}=$/);
export const Confirmation = z.string().regex(/^[A-Za-z0-9+/]{86}==$/);

/** What a shared password is proved for, bound into the proof: a proof for one is no proof for another. */
export const proofContext = (purpose: 'network password' | 'node password', network: string): string => `lanchat/1 ${purpose} ${network}`;

/** Builds the schema of client → coordinator messages for the given limits. */
export function clientMessageSchema(limits: Limits = DEFAULT_LIMITS) {
  return z.discriminatedUnion('type', [
    /** The network password, proved (CPace, bound to the TLS session), never sent: the first step, the client's share. */
    z.strictObject({ type: z.literal('network:auth'), share: Share }),
    /** The last step: the client's confirmation, once the coordinator's proved that it knows the password too. */
    z.strictObject({ type: z.literal('network:confirm'), confirm: Confirmation }),
    z.strictObject({ type: z.literal('auth:register'), user: Username, password: Password }),
    z.strictObject({ type: z.literal('auth:login'), user: Username, password: Password }),
    z.strictObject({
      type: z.literal('chat:send'),
      id: ClientMessageId,
      to: z.array(Username).max(limits.maxRecipients).default([]),
      text: z.string().min(1).max(limits.maxTextChars),
      /** To a room's members (then `to` stays empty); the sender must be one. */
      room: Username.optional(),
    }),
    z.strictObject({ type: z.literal('presence:get') }),
    /** Online, away, busy or do-not-disturb, with an optional text: shown beside the name to everyone. */
    z.strictObject({ type: z.literal('status:set'), status: z.enum(USER_STATUSES), text: z.string().max(MAX_STATUS_CHARS).default('') }),
    // ---- rooms (issue #16): each answered by a `room` frame carrying the request's id, or an `error` ----
    /** Joins a room; one that does not exist is created, public, with the sender as its op. */
    z.strictObject({ type: z.literal('room:join'), id: ClientMessageId, room: Username }),
    z.strictObject({ type: z.literal('room:create'), id: ClientMessageId, room: Username, private: z.boolean().default(false) }),
    z.strictObject({ type: z.literal('room:invite'), id: ClientMessageId, room: Username, users: z.array(Username).min(1).max(limits.maxRecipients) }),
    z.strictObject({ type: z.literal('room:leave'), id: ClientMessageId, room: Username }),
    /** An op removes a member (or an invitation), or names another op. */
    z.strictObject({ type: z.literal('room:remove'), id: ClientMessageId, room: Username, user: Username }),
    z.strictObject({ type: z.literal('room:op'), id: ClientMessageId, room: Username, user: Username }),
    z.strictObject({ type: z.literal('room:topic'), id: ClientMessageId, room: Username, topic: z.string().max(MAX_TOPIC_CHARS) }),
    /**
     * Session resume after a failover: no password, no bcrypt (DESIGN §5). `cursor`: what the session has
     * seen (the version vector of `history:end`, raised by each message's `at`); it gets everything after it.
     */
    z.strictObject({ type: z.literal('auth:resume'), user: Username, token: z.string().min(1).max(512), cursor: VersionVector.optional() }),
    /** A node joining the coordinator as a standby (or, not eligible, as an observer). */
    z.strictObject({
      type: z.literal('peer:hello'),
      id: NodeId,
      network: NetworkName,
      port: z.number().int().min(1).max(65535),
      priority: z.number().int().min(-1000).max(1000),
      eligible: z.boolean(),
      term: z.number().int().nonnegative(),
      vv: VersionVector,
    }),
    /**
     * A node not yet of this network asks to join it, proving the node password (CPace bound to the TLS
     * session, as `network:auth`): its share. Admitted, it gets the network's authority (`peer:admit`).
     */
    z.strictObject({ type: z.literal('peer:join'), id: NodeId, share: Share }),
    z.strictObject({ type: z.literal('peer:join-confirm'), confirm: Confirmation }),
    /** Entries the coordinator lacks (a standby's side of the catch-up exchange); covers end install ranges. */
    z.strictObject({ type: z.literal('peer:entries'), entries: z.array(Entry).max(MAX_ENTRIES_PER_FRAME), covers: z.array(Cover).max(MAX_COVERS_PER_FRAME).optional() }),
    /**
     * What the standby holds durably now; `term`: a later term than the coordinator's that it has heard of
     * (the coordinator moves past it and names it in the succession list, so no successor reuses it).
     */
    z.strictObject({ type: z.literal('peer:ack'), vv: VersionVector, term: z.number().int().nonnegative().optional() }),
    // ---- file transfer (issue #6; README "Files") ----
    /** Announces a file; no data flows until the coordinator answers `file:accepted`. */
    z.strictObject({
      type: z.literal('file:offer'),
      id: ClientMessageId,
      name: FileName,
      size: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
      to: z.array(Username).max(limits.maxRecipients).default([]),
    }),
    /** Sender: every byte was sent; recipients check this digest. */
    z.strictObject({ type: z.literal('file:end'), stream: StreamId, sha256: Sha256 }),
    /** Sender: give up (the file could not be read, or the user cancelled). */
    z.strictObject({ type: z.literal('file:cancel'), stream: StreamId, reason: Reason.optional() }),
    /** Recipient: bytes written to disk so far (the sender's credit). */
    z.strictObject({ type: z.literal('file:ack'), stream: StreamId, received: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER) }),
    /** Recipient: saved and verified. */
    z.strictObject({ type: z.literal('file:done'), stream: StreamId }),
    /** Recipient: could not save it (disk full, checksum mismatch). */
    z.strictObject({ type: z.literal('file:fail'), stream: StreamId, reason: Reason }),
  ]);
}

export const ClientMessage = clientMessageSchema();
/** A validated client → coordinator message. */
export type ClientMessage = z.infer<typeof ClientMessage>;
export type ClientMessageType = ClientMessage['type'];

const LimitsSchema = z.object({
  maxFrameBytes: z.number().int().positive(),
  maxTextChars: z.number().int().positive(),
  maxRecipients: z.number().int().positive(),
  historySize: z.number().int().nonnegative(),
  maxMessageRate: z.number().positive(),
  /** Absent from a coordinator that predates file sharing: then only the coordinator checks sizes. */
  maxFileBytes: z.number().int().nonnegative().optional(),
  /** Absent from a coordinator that predates rooms. */
  maxRooms: z.number().int().nonnegative().optional(),
  maxRoomMembers: z.number().int().nonnegative().optional(),
});

/** A status as the wire carries it. */
export const StatusValue = z.object({ status: z.enum(USER_STATUSES), text: z.string().max(MAX_STATUS_CHARS) });
export type StatusValue = z.infer<typeof StatusValue>;

/** A chat message as delivered (live or from history). `to` empty = everyone. */
export const ChatMessage = z.object({
  type: z.literal('chat:message'),
  id: z.string().max(64),
  from: Username,
  to: z.array(Username),
  text: z.string(),
  ts: z.number(),
  /** Set on messages replayed at login (history and offline delivery). */
  replay: z.boolean().optional(),
  /** Its place in the log, `[origin, seq]`: a client raises its resume cursor with it. */
  at: z.tuple([z.string().min(1).max(64), z.number().int().positive()]).optional(),
  /** A room message: `to` is the room's members when it was stored. */
  room: Username.optional(),
});
export type ChatMessage = z.infer<typeof ChatMessage>;

/**
 * A room as its members see it: to the one who asked (with `id`), and to every member online whenever its
 * members or topic change. `member: false`: the receiver is not (or no longer) a member.
 */
export const RoomFrame = z.object({
  type: z.literal('room'),
  room: Username,
  private: z.boolean(),
  creator: Username,
  topic: z.string().max(MAX_TOPIC_CHARS),
  members: z.array(Username).max(100_000),
  ops: z.array(Username).max(100_000),
  member: z.boolean(),
  id: ClientMessageId.optional(),
});
export type RoomFrame = z.infer<typeof RoomFrame>;

/** Coordinator → client messages. Clients validate these too: a server is a peer, not a friend. */
export const ServerMessage = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('welcome'),
    protocol: z.number().int(),
    network: NetworkName,
    node: z.string(),
    networkPassword: z.boolean(),
    limits: LimitsSchema,
  }),
  /** The coordinator's side of `peer:join`: checked by the joining node before it confirms. */
  z.object({ type: z.literal('peer:join-proof'), share: Share, confirm: Confirmation }),
  /**
   * A joining node proved the node password: the network's authority, certificate and key (the TLS session
   * is bound to the proof: nobody else reads it). The node certifies itself with it and connects again.
   */
  z.object({ type: z.literal('peer:admit'), authority: z.string().max(8_192), key: z.string().max(8_192) }),
  /** The coordinator's share and confirmation: the client checks it before it sends anything more. */
  z.object({ type: z.literal('network:proof'), share: Share, confirm: Confirmation }),
  z.object({ type: z.literal('network:ok') }),
  z.object({ type: z.literal('auth:ok'), user: Username, token: z.string().max(512).optional() }),
  /** Who coordinates, at which term, and who takes over next, in order (DESIGN §4.3). */
  z.object({
    type: z.literal('succession'),
    term: z.number().int(),
    coordinator: z.object({ id: NodeId, address: HostPort }),
    standbys: z.array(z.object({ id: NodeId, address: HostPort })).max(1_000),
    /** Set when the coordinator is leaving cleanly: the first standby takes over now. */
    leaving: z.boolean().optional(),
    /** The highest term the coordinator has heard of, when above its own (a successor takes a term above it). */
    highest: z.number().int().nonnegative().optional(),
  }),
  /** This node does not coordinate; `coordinator` does (or nobody yet: null). The connection closes. */
  z.object({ type: z.literal('redirect'), coordinator: HostPort.nullable(), term: z.number().int() }),
  z.object({
    type: z.literal('peer:welcome'),
    term: z.number().int(),
    vv: VersionVector,
  }),
  z.object({ type: z.literal('peer:entries'), entries: z.array(Entry).max(MAX_ENTRIES_PER_FRAME), covers: z.array(Cover).max(MAX_COVERS_PER_FRAME).optional() }),
  /** Below this, every replica of the network holds everything: a standby may compact up to it. */
  z.object({ type: z.literal('peer:floor'), vv: VersionVector }),
  ChatMessage,
  RoomFrame,
  /** To a user invited into a room (each of their sessions; at login, for each invitation still open). */
  z.object({ type: z.literal('room:invited'), room: Username, by: Username }),
  /**
   * The login replay is over. `cursor`: what the session has now seen, to resume from; `gap`: messages it
   * may not have seen are no longer kept (it got the newest).
   */
  z.object({ type: z.literal('history:end'), count: z.number().int(), cursor: VersionVector.optional(), gap: z.boolean().optional() }),
  z.object({ type: z.literal('chat:ack'), id: ClientMessageId, messageId: z.string(), ts: z.number() }),
  /** The full online list: at login and on `presence:get`; `status`: of those online who set one other than plain online. */
  z.object({ type: z.literal('presence'), online: z.array(Username), status: z.record(Username, StatusValue).refine((o) => Object.keys(o).length <= 100_000).optional() }),
  /** A user's status changed (to everyone online). */
  z.object({ type: z.literal('presence:status'), user: Username, ...StatusValue.shape }),
  /** Changes to it: one name each, so a join costs O(users) bytes, not O(users²). */
  z.object({ type: z.literal('presence:joined'), user: Username, /** Theirs, if other than plain online. */ status: StatusValue.optional() }),
  z.object({ type: z.literal('presence:left'), user: Username }),
  /** The offer is accepted: send the data on `stream`, keeping at most `window` bytes beyond `file:credit`. */
  z.object({
    type: z.literal('file:accepted'),
    id: ClientMessageId,
    stream: StreamId,
    to: z.array(Username),
    /** Recipients who are offline: files are not kept for them. */
    skipped: z.array(Username),
    chunk: z.number().int().positive(),
    window: z.number().int().positive(),
  }),
  /** Bytes every remaining recipient has written: the sender may run `window` ahead of this. */
  z.object({ type: z.literal('file:credit'), stream: StreamId, acked: z.number().int().nonnegative() }),
  /** The transfer is over: who saved it, who did not and why. */
  z.object({
    type: z.literal('file:sent'),
    id: ClientMessageId,
    delivered: z.array(Username),
    failed: z.array(z.object({ user: Username, reason: z.string().max(300) })).max(10_000),
  }),
  /** To a recipient: a file is coming on `stream`. */
  z.object({
    type: z.literal('file:start'),
    stream: StreamId,
    id: z.string().regex(/^[0-9a-f]{32}$/),
    from: Username,
    name: z.string().max(1024),
    size: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
    to: z.array(Username),
  }),
  /** To a recipient: all data has come; check it against this digest. */
  z.object({ type: z.literal('file:end'), stream: StreamId, sha256: Sha256 }),
  /** To a recipient: the transfer on `stream` stopped (the sender left, cancelled or broke the rules). */
  z.object({ type: z.literal('file:abort'), stream: StreamId, reason: z.string().max(300) }),
  z.object({
    type: z.literal('error'),
    code: z.string(),
    message: z.string(),
    ref: z.string().optional(),
  }),
]);
export type ServerMessage = z.infer<typeof ServerMessage>;

/** The `welcome` frame the coordinator sends first on every connection. */
export function welcome(network: string, node: string, networkPassword: boolean, limits: Limits): ServerMessage {
  return { type: 'welcome', protocol: PROTOCOL_VERSION, network, node, networkPassword, limits };
}

/** Builds an error frame; `ref` names the request it answers, when there is one. */
export function errorFrame(code: ErrorCode, message: string = ERROR_CODES[code], ref?: string): ServerMessage {
  return ref === undefined ? { type: 'error', code, message } : { type: 'error', code, message, ref };
}

export type ParseResult<T> = { ok: true; value: T } | { ok: false; code: ErrorCode; message: string; ref?: string };

/**
 * Parses one text frame from a client: JSON, then the schema. Maps schema
 * failures onto the most specific catalogue code so users see `text_too_long`
 * rather than a generic complaint.
 */
export function parseClientFrame(
  text: string,
  schema: ReturnType<typeof clientMessageSchema> = ClientMessage,
): ParseResult<ClientMessage> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, code: 'bad_json', message: ERROR_CODES.bad_json };
  }
  const result = schema.safeParse(raw);
  if (result.success) return { ok: true, value: result.data };
  const ref = refOf(raw);
  const issue = result.error.issues[0];
  const field = issue?.path[0];
  let code: ErrorCode = 'invalid_message';
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) code = 'invalid_message';
  else if (field === 'type') code = 'unknown_type';
  else if (field === 'text' && issue?.code === 'too_big') code = 'text_too_long';
  else if (field === 'to' && issue?.path.length === 1 && issue.code === 'too_big') code = 'too_many_recipients';
  const detail = result.error.issues
    .slice(0, 3)
    .map((i) => `${i.path.join('.') || '(message)'}: ${i.message}`)
    .join('; ');
  return { ok: false, code, message: `${ERROR_CODES[code]} (${detail})`, ...(ref === undefined ? {} : { ref }) };
}

/** The `id` of a rejected frame, if it had a usable one, so the client can match the error. */
function refOf(raw: unknown): string | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const id = (raw as Record<string, unknown>).id;
  return typeof id === 'string' && ClientMessageId.safeParse(id).success ? id : undefined;
}

/** The case-insensitive identity of a username. */
export function userKey(name: string): string {
  return name.toLowerCase();
}

/**
 * What a username looks like, for telling look-alikes apart (the idea of Unicode TR39's confusable
 * skeleton, for the characters a username may hold): case ignored; `I` (capital i), `l` and `1` one letter,
 * `o` and `0` one, `rn` as `m`, `vv` as `w`, `cl` as `d`; `.`, `_` and `-` one separator, repeats as one, none at
 * either end. Two names with one skeleton cannot both be registered.
 */
export function nameSkeleton(name: string): string {
  return name
    .replace(/cl/gi, 'd') // the letters themselves, before any folding: `c1` is not `d`
    .replace(/I/g, 'l') // a capital i is an l; a small one has its dot
    .toLowerCase()
    .replace(/1/g, 'l')
    .replace(/0/g, 'o')
    .replace(/rn/g, 'm')
    .replace(/vv/g, 'w')
    .replace(/[._-]+/g, '.')
    .replace(/^\.|\.$/g, '');
}

