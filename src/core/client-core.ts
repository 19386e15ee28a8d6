import type { ChatMessage, ServerMessage } from '../protocol/messages.js';
import { PROTOCOL_VERSION } from '../protocol/limits.js';
import { ERROR_CODES, type ErrorCode } from '../protocol/errors.js';
import { fromPairs, raise, toPairs, type VersionVector } from './version-vector.js';

/** Message ids remembered to drop a message seen twice (a replay after a failover), in two generations of this many. */
const SEEN_GENERATION = 25_000;
/** Between reconnection rounds, doubling from the first to the last (ms). */
export const RETRY_MIN_MS = 50;
export const RETRY_MAX_MS = 1_000;

export interface ClientIdentity {
  user: string;
  password: string;
  /** Create the account first (then log in). */
  register?: boolean;
  networkPassword?: string;
}

/** How a connection attempt ended. */
export type Outcome =
  | { ok: true; resumed: boolean; user: string }
  /** `redirect`: the node said who coordinates (`null`: it does not know yet — it is starting: wait and retry). */
  | { ok: false; redirect?: string | null; code: ErrorCode | string; message: string };

/** What the handshake says to do with a frame: frames to send, and whether the attempt is over. */
export interface HandshakeStep {
  send: object[];
  done?: Outcome;
  /** Prove this shared password (the network's, for `network`) before anything else: the adapter runs the exchange. */
  prove?: { password: string; network: string };
}

/** Events of a logged-in session, after the core has dropped what was seen already. */
export type ClientEvent =
  | { type: 'message'; message: ChatMessage }
  | { type: 'ack'; id: string; messageId: string; ts: number }
  | { type: 'error'; code: string; message: string; ref?: string }
  | { type: 'presence'; online: string[]; full: boolean }
  | { type: 'history:end'; count: number; gap: boolean }
  | { type: 'succession'; term: number; coordinator: { id: string; address: string }; standbys: { id: string; address: string }[]; leaving: boolean };

/** Error codes after which trying another node cannot help. */
export const FINAL_CODES: readonly string[] = ['auth_failed', 'username_taken', 'network_password', 'password_too_long', 'protocol_version', 'invalid_username', 'too_many_sessions'];

/**
 * A chat client's decision logic (DESIGN §8), pure: the outbox of sends not
 * yet acknowledged, the ids already seen (exactly-once delivery), the resume
 * cursor (what the session has seen, so a new coordinator sends exactly what
 * it missed), the handshake, and where to look when the coordinator goes
 * away. `ChatClient` drives it with sockets; the simulator with its network.
 */
export class ClientCore {
  readonly #id: ClientIdentity;
  /** Sends not yet acknowledged, in the order they were made. */
  readonly outbox = new Map<string, { text: string; to: string[]; room?: string }>();
  #seen = new Set<string>();
  #oldSeen = new Set<string>();
  /** What this session has seen of the log: raised by `history:end` and by each message's place. */
  readonly #cursor: VersionVector = new Map();
  #token: string | undefined;
  #registered = false;
  #user: string;
  /** Where to go when the coordinator goes away: its successors first, then itself. */
  #succession: string[] = [];
  #ready = false;

  constructor(identity: ClientIdentity) {
    this.#id = identity;
    this.#user = identity.user;
  }

  /** The user as the coordinator spells it, once logged in. */
  get user(): string {
    return this.#user;
  }

  /** Whether a session was ever established (later ones are resumes). */
  get everReady(): boolean {
    return this.#registered;
  }

  get ready(): boolean {
    return this.#ready;
  }

  get cursor(): [string, number][] {
    return toPairs(this.#cursor);
  }

  /** The successors, best first, as the last succession list named them. */
  get succession(): readonly string[] {
    return this.#succession;
  }

  /** Queues a send; the caller writes `sendFrame(id)` when it may. */
  queue(id: string, text: string, to: readonly string[], room?: string): void {
    this.outbox.set(id, { text, to: [...to], ...(room === undefined ? {} : { room }) });
  }

  sendFrame(id: string): object | undefined {
    const m = this.outbox.get(id);
    return m && { type: 'chat:send', id, to: m.to, text: m.text, ...(m.room === undefined ? {} : { room: m.room }) };
  }

  /** The connection is gone: nothing is ready until the next handshake succeeds. */
  lost(): void {
    this.#ready = false;
  }

  /** Frames to send once connected, before anything else: none (the server speaks first, `welcome`). */
  handshake(msg: ServerMessage): HandshakeStep {
    const { password, register, networkPassword } = this.#id;
    const login = (): object =>
      this.#token
        ? { type: 'auth:resume', user: this.#user, token: this.#token, ...(this.#cursor.size > 0 ? { cursor: this.cursor } : {}) }
        : { type: register && !this.#registered ? 'auth:register' : 'auth:login', user: this.#user, password };
    switch (msg.type) {
      case 'welcome':
        if (msg.protocol !== PROTOCOL_VERSION) return { send: [], done: fail('protocol_version', `coordinator speaks protocol ${msg.protocol}; this client speaks ${PROTOCOL_VERSION}`) };
        if (msg.networkPassword) {
          if (!networkPassword) return { send: [], done: fail('network_password', 'this network requires a network password (LANCHAT_NETWORK_PASSWORD or --network-password-file)') };
          return { send: [], prove: { password: networkPassword, network: msg.network } };
        }
        return { send: [login()] };
      case 'network:ok':
        return { send: [login()] };
      case 'redirect':
        return { send: [], done: { ok: false, redirect: msg.coordinator, code: 'connection_failed', message: msg.coordinator === null ? 'that node is starting: it does not know the coordinator yet' : 'not the coordinator' } };
      case 'auth:ok': {
        const resumed = this.#registered;
        this.#registered = true;
        this.#token = msg.token;
        this.#user = msg.user;
        this.#ready = true;
        return { send: [], done: { ok: true, resumed, user: msg.user } };
      }
      case 'error':
        if (msg.code === 'auth_failed' && this.#token) {
          this.#token = undefined; // an expired or foreign token: log in with the password instead
          return { send: [login()] };
        }
        return { send: [], done: fail(msg.code, msg.message) };
      default:
        return { send: [] };
    }
  }

  /** Ids of sends to write again after a (re)login, in order: the new coordinator drops what it already has. */
  resend(): string[] {
    return [...this.outbox.keys()];
  }

  /** Handles a frame of a logged-in session. */
  receive(msg: ServerMessage): ClientEvent | undefined {
    switch (msg.type) {
      case 'chat:message':
        if (msg.at) raise(this.#cursor, [msg.at]);
        // After a failover the new coordinator may send what we have seen: drop it (exactly once, DESIGN §5).
        if (this.#seen.has(msg.id) || this.#oldSeen.has(msg.id)) return undefined;
        if (this.#seen.size >= SEEN_GENERATION) {
          this.#oldSeen = this.#seen;
          this.#seen = new Set();
        }
        this.#seen.add(msg.id);
        return { type: 'message', message: msg };
      case 'chat:ack':
        if (!this.outbox.delete(msg.id)) return undefined; // a resend acknowledged twice
        return { type: 'ack', id: msg.id, messageId: msg.messageId, ts: msg.ts };
      case 'history:end':
        if (msg.cursor) raise(this.#cursor, fromPairs(msg.cursor));
        return { type: 'history:end', count: msg.count, gap: msg.gap === true };
      case 'presence':
        return { type: 'presence', online: msg.online, full: true };
      case 'presence:joined':
      case 'presence:left':
        return { type: 'presence', online: [msg.user], full: false };
      case 'succession':
        this.#succession = msg.standbys.map((s) => s.address).concat(msg.coordinator.address);
        return { type: 'succession', term: msg.term, coordinator: msg.coordinator, standbys: msg.standbys, leaving: msg.leaving === true };
      case 'error':
        if (msg.ref !== undefined) this.outbox.delete(msg.ref); // that send failed for good: it will not be acked
        return { type: 'error', code: msg.code, message: msg.message, ...(msg.ref === undefined ? {} : { ref: msg.ref }) };
      default:
        return undefined;
    }
  }

  /**
   * Whether trying other nodes cannot help after `code`. A wrong password is final at the first login; once
   * logged in with it, it means the node does not know the account yet (a partition's sides still merging).
   * Too many sessions likewise: back after a lost link, one of them may be our own old one, kept until the
   * coordinator sees it is gone. Both: try again until the reconnect timeout.
   */
  isFinal(code: string): boolean {
    return FINAL_CODES.includes(code) && !(this.#registered && (code === 'auth_failed' || code === 'too_many_sessions'));
  }

  /** Where to look for a coordinator after losing `from`: successors in order, `from` last (it may come back), then the discovered. */
  candidates(from: string, discovered: readonly string[]): string[] {
    return [...new Set([...this.#succession.filter((a) => a !== from), from, ...discovered])];
  }
}

function fail(code: string, message: string): Outcome {
  return { ok: false, code: Object.hasOwn(ERROR_CODES, code) ? code : 'internal', message };
}
