import type { TLSSocket } from 'node:tls';
import type { WebSocket } from '../protocol/ws.js';
import type { PasswordProof } from '../trust/cpace.js';
import type { UserEntry } from '../protocol/entries.js';
import type { ServerMessage } from '../protocol/messages.js';

/** One WebSocket connection to this node: a chat client, or a node standing by. */
export interface Session {
  /** The id the core knows it by. */
  readonly id: number;
  readonly ws: WebSocket;
  /** Its TLS socket: what the peer presented, and the session's exported keying material. */
  readonly tls: TLSSocket;
  readonly address: string;
  /** What its address is limited under (src/core/address-key.ts): the address, IPv4-mapped ones as IPv4. */
  readonly source: string;
  networkOk: boolean;
  /** A password proof under way (the network password's, or a joining node's node password). */
  proof: PasswordProof | undefined;
  /** Set once the core took its login. */
  user: UserEntry | undefined;
  /** Set once it said `peer:hello` (and knew the node password): it is a node, not a chat client. */
  peer: { id: string } | undefined;
  lastPong: number;
  readonly connectedAt: number;
  /** A handler is awaiting (bcrypt): later frames wait in `queue`. */
  busy: boolean;
  readonly queue: { buf: Buffer; isBinary: boolean }[];
  queuedBytes: number;
  /**
   * Frames waiting for the socket to drain (issue #14): the login replay goes out as the client reads it,
   * never more than a high-water mark ahead, and whatever comes meanwhile waits behind it (in order).
   * Replay frames wait as objects (their texts are shared with the state); others as the bytes they are.
   */
  readonly outbox: ({ frame: ServerMessage } | { raw: string | Buffer; binary: boolean; bytes: number })[];
  /** Bytes of the non-replay frames in `outbox` (the slow-reader rule counts them). */
  outboxBytes: number;
  /** Waiting for the socket's `drain` to go on with `outbox`. */
  draining: boolean;
  /** Gives back the connection's place in its address's quota of not-yet-logged-in connections. Idempotent. */
  readonly admitted: () => void;
}
