/**
 * What the UI says when something fails: one sentence a person understands
 * for every error code (the wire's catalogue and the client's own), with the
 * address or name it concerns. The server's own message is used only where
 * it carries the detail (which user is unknown, how long to wait).
 */
export interface Context {
  /** The coordinator's address, when it is known. */
  address?: string;
}

/** Socket errors, as Node names them, in words. */
function network(errno: string | undefined, address: string): string | undefined {
  switch (errno) {
    case 'ECONNREFUSED':
      return `nothing answers at ${address} — is lanchat running there?`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EHOSTDOWN':
      return `${address} cannot be reached from this machine — is it on this network?`;
    case 'ETIMEDOUT':
      return `${address} did not answer in time — is it on this network, and is lanchat running there?`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `no machine is called ${address.replace(/:\d+$/, '')} on this network — try its IP address`;
    case 'ECONNRESET':
    case 'EPIPE':
      return `${address} closed the connection — is it running lanchat?`;
    case 'ENOTLANCHAT':
      return `something answers at ${address}, but not lanchat — check the port`;
    default:
      return undefined;
  }
}

const SENTENCES: Readonly<Record<string, string>> = {
  auth_failed: 'wrong username or password',
  username_taken: 'that name is taken: pick another',
  invalid_username: 'names are 1–32 letters, digits, . _ -',
  network_password: 'wrong network password (ask whoever runs this network)',
  node_password: 'this node is not allowed on this network (wrong node password)',
  password_too_long: 'passwords are at most 72 bytes',
  rate_limited: 'too many attempts: wait a little and try again',
  too_many_sessions: 'you are logged in from too many places at once (10): quit one of them first',
  text_too_long: 'that message is too long',
  too_many_recipients: 'too many recipients: at most 64',
  unknown_recipient: 'no such user',
  recipient_offline: 'they are offline: files are not kept for later',
  file_too_large: 'that file is larger than this network accepts',
  file_unreadable: 'that file cannot be read',
  file_failed: 'the file did not get through: send it again',
  storage_full: 'the coordinator cannot store messages now (its disk is full): not sent, try again later',
  protocol_version: 'this lanchat is a different version from the network\'s: update one of them',
  disconnected: 'the connection to the coordinator was lost',
  internal: 'the coordinator could not do that (an internal error): try again',
  // Frames this client should never send: a version mismatch or a bug, said plainly.
  bad_json: 'the coordinator did not understand this lanchat (a garbled message): update one of them',
  bad_frame: 'the coordinator did not understand this lanchat (an unexpected message): update one of them',
  unknown_type: 'the coordinator did not understand this lanchat (an unknown request): update one of them',
  invalid_message: 'the coordinator did not understand this lanchat (a malformed request): update one of them',
  frame_too_large: 'that was too large to send',
  not_authenticated: 'log in first',
  already_authenticated: 'already logged in',
  bad_input: 'that line is not a command lanchat knows',
};

/** The sentence for an error: `code` from the catalogue, `message` as it came, `errno` for socket errors. */
export function explain(code: string, message: string, context: Context = {}, errno?: string): string {
  const address = context.address ?? 'the coordinator';
  if (code === 'connection_failed') return network(errno ?? /\b(E[A-Z]{3,})\b/.exec(message)?.[1], address) ?? `cannot reach ${address}: ${message}`;
  // Where the server says which one (`no such user: zed`, a wait), its detail is kept after ours.
  if (code === 'unknown_recipient') {
    const detail = /:\s*(.+)$/.exec(message)?.[1];
    return detail === undefined ? SENTENCES[code]! : `no such user: ${detail}`;
  }
  if (code === 'username_taken' && message !== '' && message !== 'username taken') return message; // a look-alike, a name lost in a split
  if (code === 'file_failed' && message !== '') return message; // it says why (who left, what stalled)
  if (code === 'file_too_large' && /\d/.test(message)) return message; // it says the limit
  if (code === 'file_unreadable' && message !== '') return message; // this client's own words: which file, why
  if (code === 'invalid_username' && message !== '' && !/schema/.test(message)) return message; // our own check's words
  if (code === 'bad_input' && message !== '') return message; // this UI's own check (an empty password)
  // `code` comes from the other side: only the catalogue's own keys (never `__proto__` or `toString`).
  return Object.hasOwn(SENTENCES, code) ? SENTENCES[code]! : message;
}
