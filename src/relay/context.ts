import type { X509Certificate } from 'node:crypto';
import type { Logger } from 'pino';
import type { ChatState } from '../core/chat-state.js';
import type { CoreEvent } from '../core/node-core.js';
import type { RoleInfo } from '../core/role.js';
import type { LoginLimits } from '../core/login-limits.js';
import type { RateLimiter } from '../core/rate-limiter.js';
import type { Transfers } from '../core/transfers.js';
import type { ErrorCode } from '../protocol/errors.js';
import type { Limits } from '../protocol/limits.js';
import type { ClientMessage, ServerMessage } from '../protocol/messages.js';
import type { UserEntry } from '../protocol/entries.js';
import type { CredentialStore } from '../store/credential-store.js';
import type { Session } from './session.js';

/** What the relay needs of the node's core (src/core/node-core.ts): events in, and a few reads. */
export interface CoreAccess {
  /** Hands the core an event; its effects are carried out before this returns. */
  step(ev: CoreEvent): void;
  readonly state: ChatState;
  readonly info: RoleInfo;
  /** A later term than `info.term` heard of, if any (`/status`). */
  readonly highest: number | undefined;
  /** Entries held (`/status`). */
  readonly position: number;
  /** The account a session is logged in as, once the core took its login. */
  sessionUser(session: number): UserEntry | undefined;
  /** Sessions of a user (any case). */
  sessionsOf(name: string): number[];
  /** Users online, sorted. */
  readonly online: string[];
}

/** A message of the given type, as the schema validated it. */
export type Msg<K extends ClientMessage['type']> = Extract<ClientMessage, { type: K }>;

/** One entry of the handler table. */
export interface Handler<K extends ClientMessage['type']> {
  /** What the session must have done first: nothing, passed the network password, logged in, or said `peer:hello`. */
  needs: 'nothing' | 'network' | 'login' | 'peer';
  run(ctx: RelayContext, s: Session, msg: Msg<K>): void | Promise<void>;
}

/** What handlers (free functions, one file per concern) may use of the relay. */
export interface RelayContext {
  readonly core: CoreAccess;
  readonly credentials: CredentialStore;
  readonly log: Logger;
  readonly limits: Limits;
  readonly network: string;
  readonly nodeId: string;
  /** The node password, when the network has one. */
  readonly nodePassword: string | undefined;
  /** Proved by clients (CPace), never received. */
  readonly networkPassword: string | undefined;
  /** The network's authority now (it changes when this node is admitted to a network), and its key to admit nodes. */
  readonly identity: () => { authority: X509Certificate; authorityPem: string; authorityKeyPem: string; authorityId: string };
  readonly sendRate: RateLimiter;
  /** Room requests and status changes, per session (not the sends' bucket: clients pace sends to it). */
  readonly requestRate: RateLimiter;
  /** Wrong shared passwords (network, node) from an address; logins from an address count here too. */
  readonly loginByAddress: RateLimiter;
  /** Who may try an account's password now (per user and address, per address, per user). */
  readonly logins: LoginLimits;
  /** New accounts, per address and for the whole network. */
  readonly registrations: { byAddress: RateLimiter; overall: RateLimiter };
  /** Sessions resumed by token, per address. */
  readonly resumes: RateLimiter;
  readonly transfers: Transfers<Session>;
  now(): number;
  session(id: number): Session | undefined;
  /** Sends a frame (serialised here); `checked: false` skips the slow-reader check (the bounded login replay). */
  send(s: Session, msg: ServerMessage, checked?: boolean): void;
  sendRaw(s: Session, frame: string | Buffer, checked?: boolean): void;
  /** Answers bad input with an error and counts a strike; too many strikes close the connection (1008). */
  reject(s: Session, code: ErrorCode, message?: string, ref?: string): void;
  strike(s: Session): void;
  emitEvent(name: 'user:registered', user: string, address: string): void;
  nodeAdmitted(address: string): void;
}
