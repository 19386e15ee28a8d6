/** Wire protocol version, announced in `welcome` and checked by clients. */
export const PROTOCOL_VERSION = 1;

/**
 * Limits the coordinator enforces, announced to every client in `welcome`
 * so clients and third-party tools never have to guess them (issue #3).
 */
export interface Limits {
  /** Largest accepted client frame, in bytes (UTF-8 JSON text). */
  maxFrameBytes: number;
  /** Longest message text, in characters (UTF-16 code units, as JS counts). */
  maxTextChars: number;
  /** Most recipients one message may name. */
  maxRecipients: number;
  /** Broadcasts replayed to a user at login. */
  historySize: number;
  /** Messages per second one session may send (the burst is twice this); clients pace themselves to it. */
  maxMessageRate: number;
  /** Largest file the coordinator relays, in bytes; a larger offer is refused before any data flows. */
  maxFileBytes: number;
  /** Rooms one user may be a member of at once. */
  maxRooms: number;
  /** Members one room may have. */
  maxRoomMembers: number;
}

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxFrameBytes: 64 * 1024, // bytes: 4,000 chars × 6 bytes of worst-case JSON escaping, plus envelope
  maxTextChars: 4_000,
  maxRecipients: 64,
  historySize: 200,
  maxMessageRate: 20, // a fast typist sends 2/s; 20 leaves room for bots without letting one flood the room
  maxFileBytes: 100 * 1024 * 1024, // 100 MiB (issue #6): photos, logs, builds; not disk images
  maxRooms: 100,
  maxRoomMembers: 1_000,
});

/**
 * File data travels in binary frames: a 4-byte big-endian stream number,
 * then at most FILE_CHUNK_BYTES of the file. A sender keeps at most
 * FILE_WINDOW_BYTES beyond what every recipient has written to disk, so the
 * coordinator never holds more than that per transfer, whatever the file size.
 */
export const FILE_CHUNK_BYTES = 256 * 1024;
export const FILE_WINDOW_BYTES = 4 * 1024 * 1024;
/** Bytes of the stream number in front of each chunk. */
export const FILE_HEADER_BYTES = 4;

/**
 * Hard ceiling handed to `ws` as `maxPayload`. Frames between
 * `maxFrameBytes` and this get a `frame_too_large` error on a live
 * connection; beyond it `ws` closes with 1009 before buffering more.
 */
export const HARD_MAX_PAYLOAD = 1024 * 1024; // bytes

/** Longest accepted password, in UTF-8 bytes: bcrypt ignores anything past 72. */
export const MAX_PASSWORD_BYTES = 72;

/** Longest room topic, in characters. */
export const MAX_TOPIC_CHARS = 200;

/** What a user may say they are (issue #16); `dnd` silences their bell and notifications. */
export const USER_STATUSES = ['online', 'away', 'busy', 'dnd'] as const;
export type UserStatus = (typeof USER_STATUSES)[number];
/** Longest status text, in characters. */
export const MAX_STATUS_CHARS = 80;

/** Usernames: 1–32 letters, digits, `_`, `.`, `-`; unique case-insensitively. */
export const USERNAME_RE = /^[A-Za-z0-9_.-]{1,32}$/;
