/**
 * The one catalogue of error codes sent on the wire (`{type:'error', code, message}`)
 * and printed by the JSON client. Codes are stable: tools match on them.
 */
export const ERROR_CODES = {
  bad_json: 'frame is not valid JSON',
  bad_frame: 'binary frames are not accepted; send JSON text',
  frame_too_large: 'frame exceeds the maximum size',
  unknown_type: 'unknown message type',
  invalid_message: 'message does not match the protocol schema',
  text_too_long: 'message text is too long',
  too_many_recipients: 'too many recipients',
  unknown_recipient: 'no such user',
  not_authenticated: 'log in first',
  already_authenticated: 'this session is already logged in',
  network_password: 'network password missing or wrong',
  node_password: 'node password missing or wrong: this node may not hold a replica',
  not_admitted: 'this node is not a member of the network: it may not hold a replica',
  identity_changed: "the coordinator does not show this network's identity as this machine knows it",
  auth_failed: 'wrong username or password',
  username_taken: 'username taken',
  invalid_username: 'usernames are 1–32 letters, digits, "_", "." or "-"',
  password_too_long: 'passwords are at most 72 bytes',
  rate_limited: 'too many requests; slow down',
  too_many_sessions: 'this account has as many sessions open as a coordinator allows; close one first',
  protocol_version: 'unsupported protocol version',
  bad_input: 'input line is not a valid command',
  file_too_large: 'the file is larger than this network accepts',
  recipient_offline: 'files are not kept for users who are offline',
  file_unreadable: 'the file cannot be read',
  file_failed: 'the file transfer failed',
  room_not_found: 'no such room',
  room_exists: 'a room of that name exists already',
  room_forbidden: 'not allowed in this room',
  room_limit: 'too many rooms, or too many members in one',
  storage_full: 'the coordinator cannot store messages now (its disk is full or failing); not sent',
  connection_failed: 'could not connect to the coordinator',
  disconnected: 'connection to the coordinator lost',
  internal: 'internal error',
} as const;

/** A stable error code from the catalogue. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** An error that carries a catalogue code, for use across module boundaries. */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  constructor(
    readonly code: ErrorCode,
    message: string = ERROR_CODES[code],
  ) {
    super(message);
  }
}
