import { EventEmitter } from 'node:events';
import { X509Certificate } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { serverOptions } from '../trust/tls.js';
import { authorityId } from '../trust/identity.js';
import type { KeyPair } from '../trust/identity.js';
import { WebSocketServer, WebSocket, type RawData } from '../protocol/ws.js';
import type { Logger } from 'pino';
import { DEFAULT_LIMITS, FILE_CHUNK_BYTES, FILE_HEADER_BYTES, FILE_WINDOW_BYTES, HARD_MAX_PAYLOAD, PROTOCOL_VERSION, type Limits } from '../protocol/limits.js';
import { ERROR_CODES, ProtocolError, type ErrorCode } from '../protocol/errors.js';
import { clientMessageSchema, errorFrame, parseClientFrame, welcome, type ServerMessage } from '../protocol/messages.js';
import { HostPort, formatHostPort } from '../protocol/fields.js';
import type { MessageEntry } from '../protocol/entries.js';
import type { Status } from '../protocol/status.js';
import type { RoleInfo, Succession } from '../core/role.js';
import { RateLimiter } from '../core/rate-limiter.js';
import { PendingConnections } from '../core/pending-connections.js';
import { addressKey } from '../core/address-key.js';
import { descriptorLimit } from '../node/descriptors.js';
import { Transfers } from '../core/transfers.js';
import type { CredentialStore } from '../store/credential-store.js';
import type { CoreAccess, Handler, RelayContext } from './context.js';
import type { Session } from './session.js';
import { HANDLERS } from './dispatch.js';
import { LoginLimits, PER_ADDRESS } from '../core/login-limits.js';
import { StallWatch } from '../core/stall.js';
import { checkTransfers, fileData, leaveTransfers } from './handlers/files.js';

export type { Role } from '../protocol/status.js';
export type { RoleInfo } from '../core/role.js';

const HEARTBEAT_MS = 500; // ping period for clients: a client suspects its coordinator after 1 s of silence (DESIGN §4.4)
const PEER_HEARTBEAT_MS = 200; // and for standbys, which presume it dead after 1 s (5 missed)
const DEAD_AFTER_MS = 3_000; // a session silent this long is gone (DESIGN §4)
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024; // a slower consumer is cut off, never buffered without bound (DESIGN §6)
/**
 * A client's socket is written while it holds less than this; the rest (a login replay, and whatever comes for a
 * reader that is behind) waits in the session's outbox as it drains, as frames shared with other recipients.
 */
const SOCKET_HIGH_WATER = 256 * 1024;
const MAX_CONNECTIONS = 10_000; // sockets at once; beyond this new ones get HTTP 503
const LOGIN_TIMEOUT_MS = 30_000; // a connection that has not logged in by then is closed (idle sockets cost memory)
const MAX_PENDING_PER_ADDRESS = 64; // connections one address may hold before logging in; beyond, refused at accept
const HOLD_WHILE_DECIDING_MS = 1_500; // a node deciding its role (starting, taking over) answers a new connection once it knows, within this
const HANDSHAKE_TIMEOUT_MS = 10_000; // a TCP connection must have sent its HTTP request (upgrade or /status) by then
const TOO_MANY = refusal('too many connections from your address not logged in');
const SERVER_FULL = refusal('too many connections not logged in; try again shortly');
const MAX_PENDING = 4_096; // connections not logged in, in all, however many descriptors there are (each costs up to 80 KiB)
const MAX_REFUSALS_TOLD = 64; // refused connections kept up to 1 s to be told why; beyond, closed at once (descriptors)
/**
 * Descriptors kept free of client connections (issue #14): the log and snapshot files, standby links,
 * `/status` asked of others, mDNS, and room to accept (and refuse) a connection when all else is taken.
 */
const DESCRIPTOR_RESERVE = 128;
const MAX_QUEUED_FRAMES = 256; // frames waiting behind a slow handler (e.g. bcrypt) per session…
const MAX_QUEUED_BYTES = 1024 * 1024; // …and their bytes, so a pending login cannot pin unbounded memory
const STRIKES = { capacity: 20, refillPerSecond: 1 }; // bad frames or over-rate sends before disconnection
const REGISTRATIONS_PER_MINUTE = 5; // new accounts per address (burst: as many), and ten times this for the network
const RESUMES_PER_ADDRESS = { capacity: 100, refillPerSecond: 2 }; // sessions resumed by token: a failover brings each back once
/** Close code for a session dropped as silent: a standby that hears it (after a freeze) rejoins rather than taking over. */
export const SILENT_CLOSE = 4003;

/** Collaborators, injected so tests can swap them (STYLE: construction). */
export interface RelayDeps {
  core: CoreAccess;
  credentials: CredentialStore;
  log: Logger;
  now?: () => number;
}

export interface RelayOptions {
  /** This node's id, announced in `welcome` and `/status`. */
  nodeId: string;
  /** What it serves with (TLS 1.3 on every link): the network's authority (with its key, to admit nodes) and this node's certificate from it. */
  tls: RelayIdentity;
  network?: string;
  host?: string;
  port?: number;
  /** When set, every client must present it first (`network:auth`). */
  networkPassword?: string;
  /** When set, a node must present it in `peer:hello` to receive the replica (users need not know it). */
  nodePassword?: string;
  limits?: Partial<Limits>;
  /** Messages per second one session may send (burst: twice this). */
  maxMessageRate?: number;
  heartbeatMs?: number;
  deadAfterMs?: number;
  /** A connection that has not logged in by then is closed. */
  loginTimeoutMs?: number;
  /** Sockets at once; beyond this, upgrades get HTTP 503. */
  maxConnections?: number;
  /** Connections one address may hold that have not logged in (or said `peer:hello`); beyond this, HTTP 503. */
  maxPendingPerAddress?: number;
  /** Connections not logged in, from all addresses (default: half of `maxOpen`); when full, see `PendingConnections`. */
  maxPending?: number;
  /** TCP connections at once, of every kind (default: the descriptor limit less a reserve). */
  maxOpen?: number;
  /** A TCP connection must have sent its whole HTTP request by then, or it is closed. */
  handshakeTimeoutMs?: number;
  /** A reader with more than this queued (plus a window per file coming to it) is disconnected. */
  maxBufferedBytes?: number;
  /** New accounts one address may register a minute (burst: as many); the network as a whole, ten times this. */
  registrationRate?: number;
}

export interface RelayIdentity {
  authorityPem: string;
  authorityKeyPem: string;
  node: KeyPair;
}

/** Relay events, for the CLI's one-line-per-event output and for tests. */
export interface RelayEvents {
  'user:joined': [name: string, address: string];
  'user:left': [name: string];
  'user:registered': [name: string, address: string];
  'message:stored': [MessageEntry];
  /** A node proved the node password and was given the network's authority. */
  'node:admitted': [address: string];
  error: [Error];
}

/** The port is taken or the address cannot be bound: an environment failure shown in words. */
export class ListenError extends Error {
  override readonly name = 'ListenError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The node's relay (DESIGN §6): a `ws` server in noServer mode behind an HTTP
 * server that also answers `GET /status`. It admits connections, validates
 * every frame before dispatch through one handler table, checks passwords
 * and rates, relays files, and hands logins, sends and replication frames to
 * the core, whose answers it writes out (`deliver`, `closeSession`, `setRole`).
 */
export class Relay extends EventEmitter<RelayEvents> {
  readonly #deps: RelayDeps;
  readonly #opts: Required<Omit<RelayOptions, 'networkPassword' | 'nodePassword' | 'limits'>> & { limits: Limits };
  readonly #schema: ReturnType<typeof clientMessageSchema>;
  readonly #sessions = new Map<number, Session>();
  readonly #strikes: RateLimiter;
  readonly #ctx: RelayContext;
  /** Connections not logged in yet, per address; the callback gives a connection's place back. */
  readonly #pending: PendingConnections<string>;
  /** TCP connections open now (pending, refused on their way out, logged in, standbys, `/status`). */
  #open = 0;
  /** Sockets of the pending connections, by connection key (to drop one evicted). */
  readonly #pendingSockets = new Map<string, Socket>();
  /** Connections counted against their address's quota, by `address:port`: the TCP socket and the TLS one on it share it. */
  readonly #admissions = new Map<string, () => void>();
  /** Connections refused at accept, waiting for their TLS handshake to be told why (the 503 to send). */
  readonly #refused = new Map<string, string>();
  #http: Server | undefined;
  #wss: WebSocketServer | undefined;
  #timer: NodeJS.Timeout | undefined;
  #peerTimer: NodeJS.Timeout | undefined;
  #nextSessionId = 1;
  #stopping: Promise<void> | undefined;
  #role: RoleInfo = { role: 'starting', term: 0, coordinator: undefined, priority: 0, eligible: true };
  readonly #networkPasswordRequired: boolean;
  #authority: X509Certificate;
  /** The authority's key hash: what tokens are bound to. */
  #authorityId: string;
  /** The last succession frame, sent to every new session. */
  #succession: string | undefined;
  /** Connections that came while this node was deciding its role: answered once it has one (see #onConnection). */
  readonly #held = new Map<WebSocket, { req: IncomingMessage; timer: NodeJS.Timeout; pinger: NodeJS.Timeout }>();
  /** The port bound at start (kept: the server's own address is gone once it closes, and `/status` may still be answered). */
  #bound: AddressInfo | undefined;

  constructor(deps: RelayDeps, options: RelayOptions) {
    super();
    this.#deps = deps;
    const now = deps.now ?? Date.now;
    const maxOpen = options.maxOpen ?? Math.max(2 * MAX_PENDING_PER_ADDRESS, Math.min(MAX_CONNECTIONS + MAX_PENDING, (descriptorLimit() ?? Infinity) - DESCRIPTOR_RESERVE));
    this.#opts = {
      nodeId: options.nodeId,
      tls: options.tls,
      network: options.network ?? 'default',
      host: options.host ?? '::',
      port: options.port ?? 7777,
      maxMessageRate: options.maxMessageRate ?? options.limits?.maxMessageRate ?? DEFAULT_LIMITS.maxMessageRate,
      heartbeatMs: options.heartbeatMs ?? HEARTBEAT_MS,
      deadAfterMs: options.deadAfterMs ?? DEAD_AFTER_MS,
      loginTimeoutMs: options.loginTimeoutMs ?? LOGIN_TIMEOUT_MS,
      maxConnections: options.maxConnections ?? Math.min(MAX_CONNECTIONS, maxOpen),
      maxPendingPerAddress: options.maxPendingPerAddress ?? MAX_PENDING_PER_ADDRESS,
      maxPending: options.maxPending ?? Math.max(MAX_PENDING_PER_ADDRESS, Math.min(MAX_PENDING, Math.floor(maxOpen / 2))),
      maxOpen,
      handshakeTimeoutMs: options.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS,
      maxBufferedBytes: options.maxBufferedBytes ?? MAX_BUFFERED_BYTES,
      registrationRate: options.registrationRate ?? REGISTRATIONS_PER_MINUTE,
      limits: { ...DEFAULT_LIMITS, ...options.limits },
    };
    this.#opts.limits.maxMessageRate = this.#opts.maxMessageRate;
    this.#authority = new X509Certificate(options.tls.authorityPem);
    this.#authorityId = authorityId(this.#authority);
    if (this.#opts.limits.maxFrameBytes > HARD_MAX_PAYLOAD) throw new TypeError(`maxFrameBytes may not exceed ${HARD_MAX_PAYLOAD}`);
    this.#schema = clientMessageSchema(this.#opts.limits);
    const rate = this.#opts.maxMessageRate;
    this.#strikes = new RateLimiter(STRIKES, now);
    this.#pending = new PendingConnections(this.#opts.maxPendingPerAddress, this.#opts.maxPending);
    this.#networkPasswordRequired = Boolean(options.networkPassword);
    const loginByAddress = new RateLimiter(PER_ADDRESS, now); // logins and network-password proofs from one address, together
    const registrations = this.#opts.registrationRate;
    this.#ctx = {
      core: deps.core,
      credentials: deps.credentials,
      log: deps.log,
      limits: this.#opts.limits,
      network: this.#opts.network,
      nodeId: this.#opts.nodeId,
      nodePassword: options.nodePassword || undefined,
      networkPassword: options.networkPassword || undefined,
      identity: () => ({ authority: this.#authority, authorityPem: this.#opts.tls.authorityPem, authorityKeyPem: this.#opts.tls.authorityKeyPem, authorityId: this.#authorityId }),
      sendRate: new RateLimiter({ capacity: rate * 2, refillPerSecond: rate }, now),
      // Room requests and statuses: a bucket of their own, so that they never cost a paced client its sends.
      requestRate: new RateLimiter({ capacity: 20, refillPerSecond: 5 }, now),
      loginByAddress,
      logins: new LoginLimits(loginByAddress, now),
      registrations: {
        byAddress: new RateLimiter({ capacity: registrations, refillPerSecond: registrations / 60 }, now),
        overall: new RateLimiter({ capacity: registrations * 10, refillPerSecond: registrations / 6 }, now),
      },
      resumes: new RateLimiter(RESUMES_PER_ADDRESS, now),
      transfers: new Transfers({ now }),
      now,
      session: (id) => this.#sessions.get(id),
      send: (s, msg, checked) => this.#send(s, msg, checked),
      sendRaw: (s, frame, checked) => this.#sendRaw(s, frame, checked),
      reject: (s, code, message, ref) => this.#reject(s, code, message, ref),
      strike: (s) => this.#strike(s),
      emitEvent: (name, user, address) => this.emit(name, user, address),
      nodeAdmitted: (address) => this.emit('node:admitted', address),
    };
  }

  /** The bound address, once started. */
  get address(): AddressInfo {
    if (this.#bound === undefined) throw new Error('relay is not listening');
    return this.#bound;
  }

  /** Names of users with at least one live session, sorted. */
  get online(): string[] {
    return this.#deps.core.online;
  }

  /** This node's role, as `/status` and redirects report it. */
  get role(): RoleInfo {
    return this.#role;
  }

  /** Serves with another identity from now on (a node admitted to a network takes its authority). */
  setIdentity(tls: RelayIdentity): void {
    this.#opts.tls = tls;
    this.#authority = new X509Certificate(tls.authorityPem);
    this.#authorityId = authorityId(this.#authority);
    this.#http?.setSecureContext(serverOptions(tls.authorityPem, tls.node));
  }

  /** Binds and starts serving. Throws `ListenError` when the port is taken. Idempotent. */
  async start(): Promise<void> {
    if (this.#http) return;
    const t = this.#opts.handshakeTimeoutMs;
    // Node's own defaults let a silent socket sit for 60-90 s; a lanchat request is a few hundred bytes.
    const http = createServer(
      { ...serverOptions(this.#opts.tls.authorityPem, this.#opts.tls.node), handshakeTimeout: t, headersTimeout: t, requestTimeout: t, connectionsCheckingInterval: Math.min(1_000, t) },
      (req, res) => this.#onHttp(req, res),
    );
    http.on('connection', (socket: Socket) => this.#admit(socket));
    http.on('secureConnection', (socket: TLSSocket) => this.#secured(socket));
    http.on('tlsClientError', (_err, socket) => socket.destroy());
    const wss = new WebSocketServer({ noServer: true, maxPayload: HARD_MAX_PAYLOAD, perMessageDeflate: false, clientTracking: false });
    http.on('upgrade', (req, socket, head) => {
      socket.on('error', () => socket.destroy());
      if (socket.writableEnded) return; // refused at accept: its 503 is on the way, and the socket closes (see #admit)
      if (this.#sessions.size + this.#held.size >= this.#opts.maxConnections) {
        socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n');
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => this.#onConnection(ws, req));
    });
    http.on('clientError', (_err, socket) => socket.destroy());
    const listen = (host: string) =>
      new Promise<void>((resolve, reject) => {
        http.once('error', (err: NodeJS.ErrnoException) => {
          const where = `${host}:${this.#opts.port}`;
          if (err.code === 'EADDRINUSE') reject(new ListenError(err.code, `port ${this.#opts.port} is already in use on ${host} (is another lanchat running? try --port 0)`));
          else if (err.code === 'EADDRNOTAVAIL') reject(new ListenError(err.code, `cannot listen on ${where}: no such local address`));
          else if (err.code === 'EACCES') reject(new ListenError(err.code, `cannot listen on ${where}: permission denied`));
          else reject(new ListenError(err.code ?? 'ELISTEN', `cannot listen on ${where}: ${err.message}`));
        });
        http.listen(this.#opts.port, host, () => resolve());
      });
    await listen(this.#opts.host).catch((err: ListenError) => {
      // `::` (the default: IPv6 and IPv4 at once) on a machine without IPv6: every IPv4 address instead.
      if (this.#opts.host !== '::' || (err.code !== 'EAFNOSUPPORT' && err.code !== 'EADDRNOTAVAIL')) throw err;
      this.#opts.host = '0.0.0.0';
      return listen(this.#opts.host);
    });
    const bound = http.address();
    if (bound === null || typeof bound === 'string') throw new Error('relay is not listening on an IP address');
    this.#bound = bound;
    http.on('error', (err) => this.emit('error', err));
    this.#http = http;
    this.#wss = wss;
    const stall = new StallWatch(this.#opts.heartbeatMs, this.#ctx.now()); // a stall before the first beat counts too
    this.#timer = setInterval(() => this.#heartbeat(stall), this.#opts.heartbeatMs);
    this.#timer.unref();
    this.#peerTimer = setInterval(() => this.#pingPeers(), Math.min(PEER_HEARTBEAT_MS, this.#opts.heartbeatMs));
    this.#peerTimer.unref();
  }

  /** Closes every session (1001) and the server. Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      clearInterval(this.#timer);
      clearInterval(this.#peerTimer);
      for (const s of this.#sessions.values()) this.#close(s, 1001, 'server shutting down');
      const held = [...this.#held.keys()];
      this.#releaseHeld((ws) => ws.close(1001, 'server shutting down'));
      const http = this.#http;
      if (http) {
        await new Promise<void>((resolve) => {
          http.close(() => resolve());
          setTimeout(() => {
            // A peer that never answers the closing handshake would hold `close` for 30 s.
            for (const s of this.#sessions.values()) s.ws.terminate();
            for (const ws of held) ws.terminate();
            http.closeAllConnections();
          }, 500).unref();
        });
      }
      this.#wss?.close();
    })();
    return this.#stopping;
  }

  // ---- what the core says to do ----

  /** One frame to these sessions, serialised once. */
  deliver(to: readonly number[], frame: ServerMessage): void {
    // The login replay (history:end closes it) goes out as the client reads it, however slowly (see #pump).
    if ((frame.type === 'chat:message' && frame.replay === true) || frame.type === 'history:end') {
      for (const id of to) {
        const s = this.#sessions.get(id);
        if (s === undefined || s.ws.readyState !== WebSocket.OPEN) continue;
        s.outbox.push({ frame });
        this.#pump(s);
      }
      return;
    }
    const checked = frame.type !== 'auth:ok';
    // Encoded once: `ws` would turn a string into UTF-8 bytes again for every recipient.
    const text = to.length > 1 ? Buffer.from(JSON.stringify(frame)) : JSON.stringify(frame);
    for (const id of to) {
      const s = this.#sessions.get(id);
      if (s) this.#sendRaw(s, text, checked, false);
    }
  }

  /** Closes a session the core is done with (an account that lost its name, a replaced standby link…). */
  closeSession(id: number, code: number, reason: string): void {
    const s = this.#sessions.get(id);
    if (s) this.#close(s, code, reason);
  }

  /**
   * Closes a session on purpose: what waits in its outbox (an error saying why, at its end) goes first
   * while the socket has room, then `last`; a replay, and what a reader far behind would not read before
   * the close anyway, are moot (written out, they would be an encrypted copy each for sessions closing together).
   */
  #close(s: Session, code: number, reason: string, last?: string): void {
    const waiting = s.outbox.splice(0);
    s.outboxBytes = 0;
    if (s.ws.readyState === WebSocket.OPEN) {
      for (const item of waiting) if (!('frame' in item) && s.ws.bufferedAmount < SOCKET_HIGH_WATER) s.ws.send(item.raw, { binary: item.binary });
      if (last !== undefined) s.ws.send(last);
    }
    s.ws.close(code, reason);
  }

  /**
   * Changes role. Leaving the coordinator role sends every session (clients
   * and standbys) a redirect to `role.coordinator` and closes it (4001).
   */
  setRole(role: RoleInfo): void {
    const was = this.#role.role;
    this.#role = role;
    if (was === 'coordinator' && role.role !== 'coordinator') {
      const frame = JSON.stringify({ type: 'redirect', coordinator: role.coordinator ?? null, term: role.term } satisfies ServerMessage);
      for (const s of this.#sessions.values()) this.#close(s, 4001, 'not the coordinator any more', frame);
      this.#succession = undefined;
    }
    if (role.role !== 'starting') this.#releaseHeld((ws, req) => this.#onConnection(ws, req));
  }

  /** Stops holding every held connection, and hands each that is still open to `then` (one that throws is dropped alone). */
  #releaseHeld(then: (ws: WebSocket, req: IncomingMessage) => void): void {
    if (this.#held.size === 0) return;
    const held = [...this.#held];
    this.#held.clear();
    for (const [ws, { req, timer, pinger }] of held) {
      clearTimeout(timer);
      clearInterval(pinger);
      if (ws.readyState !== WebSocket.OPEN) continue;
      try {
        then(ws, req);
      } catch (err) {
        this.#deps.log.warn({ err }, 'dropping a held connection');
        ws.terminate();
      }
    }
  }

  /** Sends the succession list to every session (clients and standbys) now and to every later one. */
  publishSuccession(frame: Succession): void {
    this.#succession = JSON.stringify({ type: 'succession', ...frame } satisfies ServerMessage);
    for (const s of this.#sessions.values()) if (s.user !== undefined || s.peer !== undefined) this.#sendRaw(s, this.#succession);
  }

  // ---- connections ----

  /**
   * Counts a new TCP connection against its address's quota of connections
   * not logged in yet; over it, the connection gets a 503 and is closed. The
   * place is given back at login, `peer:hello` or close.
   */
  #admit(socket: Socket): void {
    const address = addressKey(socket.remoteAddress ?? 'unknown');
    const key = connectionKey(socket);
    this.#open++;
    socket.once('close', () => this.#open--);
    const verdict = this.#pending.admit(address, key, this.#open > this.#opts.maxOpen);
    if (!verdict.ok) {
      this.#deps.log.debug({ address, why: verdict.why }, 'connection refused: too many not logged in');
      socket.on('error', () => socket.destroy());
      // Refused before TLS, said after it (see #secured) — while few wait to be told; a flood is just closed.
      if (this.#refused.size >= MAX_REFUSALS_TOLD) return void socket.destroy();
      this.#refused.set(key, verdict.why === 'address' ? TOO_MANY : SERVER_FULL);
      socket.once('close', () => this.#refused.delete(key));
      setTimeout(() => socket.destroy(), 1_000).unref();
      return;
    }
    if (verdict.evict !== undefined) {
      this.#deps.log.debug({ address }, 'connections not logged in are at their limit: dropping the oldest of the address holding the most');
      this.#pendingSockets.get(verdict.evict)?.destroy();
    }
    this.#pendingSockets.set(key, socket);
    let held = true;
    const release = (): void => {
      if (!held) return;
      held = false;
      this.#pending.release(address, key);
      this.#pendingSockets.delete(key);
    };
    this.#admissions.set(key, release);
    socket.once('close', () => {
      release();
      this.#admissions.delete(key);
    });
  }

  /** A TLS session is up on a TCP connection: one refused at accept is told why, and closed. */
  #secured(socket: TLSSocket): void {
    const answer = this.#refused.get(connectionKey(socket));
    if (answer === undefined) return;
    socket.on('error', () => socket.destroy());
    socket.end(answer);
  }

  #onHttp(req: IncomingMessage, res: ServerResponse): void {
    if (req.socket.writableEnded) return; // refused at accept: its 503 is on the way, and the socket closes (see #admit)
    if (this.#stopping !== undefined) {
      res.writeHead(503, { 'content-type': 'text/plain', connection: 'close' }).end('lanchat relay: shutting down\n');
      return;
    }
    const [path, query] = (req.url ?? '').split('?', 2);
    if (req.method === 'GET' && path === '/status') {
      // A coordinator asking says where it is: ours then asks it back (a healed partition, DESIGN §4.5).
      // Only its own address counts (nobody can point us at a third host), and the core bounds how many it asks.
      const from = new URLSearchParams(query ?? '').get('from');
      const caller = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
      if (from !== null && HostPort.safeParse(from).success && from.slice(0, from.lastIndexOf(':')) === caller) {
        this.#deps.core.step({ type: 'hint', address: from, now: this.#ctx.now() });
      }
      const { role, term, priority, eligible } = this.#role;
      const highest = this.#deps.core.highest; // read now: it changes without a change of role
      const body: Status = {
        id: this.#opts.nodeId,
        network: this.#opts.network,
        role,
        term,
        ...(highest !== undefined ? { highest } : {}),
        coordinator: this.#coordinatorFor(req.socket.localAddress) ?? null,
        priority,
        eligible,
        position: this.#deps.core.position,
        protocol: PROTOCOL_VERSION,
      };
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body));
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('lanchat relay: connect with a WebSocket, or GET /status\n');
  }

  /** Our coordinator address as seen from a socket's local address (reachable by that caller). */
  #coordinatorFor(localAddress: string | undefined): string | undefined {
    if (this.#role.role !== 'coordinator') return this.#role.coordinator;
    return formatHostPort(localAddress ?? this.address.address, this.address.port);
  }

  /** Only the coordinator serves sessions; the caller is told where it is (DESIGN §3). Null: this node is starting. */
  #redirect(ws: WebSocket): void {
    if (ws.listenerCount('error') === 0) ws.on('error', () => undefined); // its closing handshake may still fail
    ws.send(JSON.stringify({ type: 'redirect', coordinator: this.#role.coordinator ?? null, term: this.#role.term } satisfies ServerMessage));
    ws.close(4001, 'not the coordinator');
  }

  #onConnection(ws: WebSocket, req: IncomingMessage): void {
    if (this.#stopping !== undefined) return void ws.close(1001, 'server shutting down');
    if (this.#role.role === 'starting') {
      // Deciding (a node starting, or a standby taking over from a coordinator that is gone): the answer is
      // moments away, and a client that came to the successor first is served by it without a second
      // handshake. Nothing is read meanwhile (a client speaks after `welcome`); bounded by the socket limits.
      // Pinged meanwhile as a coordinator pings its standbys: a standby's link presumes silence death (1 s).
      const timer = setTimeout(() => {
        clearInterval(pinger);
        this.#held.delete(ws);
        if (ws.readyState === WebSocket.OPEN) this.#redirect(ws);
      }, HOLD_WHILE_DECIDING_MS);
      const pinger = setInterval(() => ws.ping(), PEER_HEARTBEAT_MS);
      timer.unref();
      pinger.unref();
      this.#held.set(ws, { req, timer, pinger });
      ws.on('error', (err) => this.#deps.log.debug({ err }, 'socket error while held')); // an 'error' with no listener would throw
      ws.once('close', () => {
        clearTimeout(timer);
        clearInterval(pinger);
        this.#held.delete(ws);
      });
      return;
    }
    if (this.#role.role !== 'coordinator') return this.#redirect(ws);
    const now = this.#deps.now ?? Date.now;
    const s: Session = {
      id: this.#nextSessionId++,
      ws,
      tls: req.socket as TLSSocket,
      address: addressKey(req.socket.remoteAddress ?? 'unknown'),
      source: addressKey(req.socket.remoteAddress ?? 'unknown'),
      networkOk: !this.#networkPasswordRequired,
      proof: undefined,
      user: undefined,
      peer: undefined,
      lastPong: now(),
      connectedAt: now(),
      busy: false,
      queue: [],
      queuedBytes: 0,
      outbox: [],
      outboxBytes: 0,
      draining: false,
      admitted: this.#admissions.get(connectionKey(req.socket)) ?? (() => undefined),
    };
    this.#sessions.set(s.id, s);
    ws.on('pong', () => (s.lastPong = now()));
    ws.on('message', (data, isBinary) => this.#onFrame(s, data, isBinary));
    ws.on('error', (err) => this.#deps.log.debug({ err, session: s.id }, 'socket error'));
    ws.on('close', () => this.#onClose(s));
    const { network, nodeId, limits } = this.#opts;
    this.#send(s, welcome(network, nodeId, this.#networkPasswordRequired, limits));
  }

  #onFrame(s: Session, data: RawData, isBinary: boolean): void {
    // Any frame proves the peer alive: on a slow link its pong may queue behind file data for seconds.
    s.lastPong = (this.#deps.now ?? Date.now)();
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    // Size first, so an oversize frame is never queued. Nodes exchange entries in larger frames; file data comes in chunks.
    const max = isBinary && s.user !== undefined ? FILE_HEADER_BYTES + FILE_CHUNK_BYTES : this.#opts.limits.maxFrameBytes;
    if (buf.length > max && s.peer === undefined) {
      return this.#reject(s, 'frame_too_large', `frame is ${buf.length} bytes; the limit is ${max}`);
    }
    if (s.busy) {
      if (s.queue.length >= MAX_QUEUED_FRAMES || s.queuedBytes + buf.length > MAX_QUEUED_BYTES) {
        return this.#reject(s, 'rate_limited', 'too many requests waiting; slow down');
      }
      s.queue.push({ buf, isBinary });
      s.queuedBytes += buf.length;
      return;
    }
    void this.#process(s, buf, isBinary);
  }

  /**
   * Handles a session's frames in order. Synchronous handlers run inline (a
   * pipelined burst is handled in the tick it arrives); while an asynchronous
   * one (bcrypt) is pending, later frames wait in the session's queue.
   */
  async #process(s: Session, buf: Buffer, isBinary: boolean): Promise<void> {
    let next: { buf: Buffer; isBinary: boolean } | undefined = { buf, isBinary };
    while (next !== undefined && s.ws.readyState === WebSocket.OPEN) {
      const pending = this.#dispatchSafely(s, next.buf, next.isBinary);
      if (pending !== undefined) {
        s.busy = true;
        await pending;
        s.busy = false;
      }
      next = s.queue.shift();
      if (next !== undefined) s.queuedBytes -= next.buf.length;
    }
  }

  #dispatchSafely(s: Session, buf: Buffer, isBinary: boolean): Promise<void> | undefined {
    const fail = (err: unknown): void => {
      if (err instanceof ProtocolError) this.#reject(s, err.code, err.message);
      else {
        this.#deps.log.error({ err, session: s.id }, 'handler failed');
        this.#send(s, errorFrame('internal'));
      }
    };
    try {
      return this.#dispatch(s, buf, isBinary)?.catch(fail);
    } catch (err) {
      fail(err);
      return undefined;
    }
  }

  #dispatch(s: Session, buf: Buffer, isBinary: boolean): Promise<void> | void {
    if (isBinary) return s.user === undefined ? this.#reject(s, 'bad_frame') : fileData(this.#ctx, s, buf);
    const parsed = parseClientFrame(buf.toString('utf8'), this.#schema);
    if (!s.networkOk && !(parsed.ok && (parsed.value.type === 'network:auth' || parsed.value.type === 'network:confirm'))) {
      // The network password comes before anything else (issue #3): no second chance on this connection.
      this.#send(s, errorFrame('network_password', 'this network requires its password first'));
      s.ws.close(1008, 'network password required');
      return;
    }
    if (!parsed.ok) return this.#reject(s, parsed.code, parsed.message, parsed.ref);
    const msg = parsed.value;
    const handler = HANDLERS[msg.type] as Handler<typeof msg.type>;
    if (handler.needs === 'login' && s.user === undefined) return this.#reject(s, 'not_authenticated');
    if (handler.needs === 'network' && (s.user !== undefined || s.peer !== undefined)) return this.#reject(s, 'already_authenticated');
    if (handler.needs === 'peer' && s.peer === undefined) return this.#reject(s, 'not_authenticated', 'say peer:hello first');
    return handler.run(this.#ctx, s, msg as never);
  }

  /** Answers bad input with an error and counts a strike; too many strikes close the connection (1008). */
  #reject(s: Session, code: ErrorCode, message: string = ERROR_CODES[code], ref?: string): void {
    this.#send(s, errorFrame(code, message, ref));
    this.#strike(s);
  }

  /** Counts a strike against a session (its error already said); too many close it (1008). */
  #strike(s: Session): void {
    if (!this.#strikes.take(`s${s.id}`)) {
      this.#deps.log.warn({ session: s.id, address: s.address }, 'disconnecting a client that keeps sending bad or excess frames');
      this.#close(s, 1008, 'too many bad or excess frames');
    }
  }

  #onClose(s: Session): void {
    this.#sessions.delete(s.id);
    this.#strikes.reset(`s${s.id}`);
    this.#ctx.sendRate.reset(`s${s.id}`);
    this.#ctx.requestRate.reset(`s${s.id}`);
    leaveTransfers(this.#ctx, s);
    s.queue.length = 0;
    s.queuedBytes = 0;
    s.outbox.length = 0;
    s.outboxBytes = 0;
    if (s.user !== undefined || s.peer !== undefined) this.#deps.core.step({ type: 'session-closed', session: s.id, now: this.#ctx.now() });
  }

  #heartbeat(stall: StallWatch): void {
    checkTransfers(this.#ctx);
    const now = this.#ctx.now();
    const { stalledMs, judging } = stall.beat(now);
    if (stalledMs > 0) this.#deps.log.info({ stalledMs }, 'this process was stalled: sessions are judged silent only from the next heartbeat');
    for (const s of this.#sessions.values()) {
      if (judging && now - s.lastPong > this.#opts.deadAfterMs) {
        this.#deps.log.info({ session: s.id, user: s.user?.name, node: s.peer?.id }, 'no pong: dropping a dead session');
        if (s.peer !== undefined) {
          // A close frame first: a standby that was only frozen reads it when it thaws and rejoins (DESIGN §4.4).
          s.ws.close(SILENT_CLOSE, 'silent');
          setTimeout(() => s.ws.terminate(), 1_000).unref();
        } else s.ws.terminate(); // 'close' follows and updates presence
      } else if (s.user === undefined && s.peer === undefined && !s.busy && now - s.connectedAt > this.#opts.loginTimeoutMs) {
        this.#send(s, errorFrame('not_authenticated', `no login within ${this.#opts.loginTimeoutMs / 1000} s`));
        s.ws.close(1008, 'login timeout');
      } else if (s.peer === undefined && s.ws.readyState === WebSocket.OPEN) {
        s.ws.ping();
      }
    }
  }

  #pingPeers(): void {
    for (const s of this.#sessions.values()) if (s.peer !== undefined && s.ws.readyState === WebSocket.OPEN) s.ws.ping();
  }

  #send(s: Session, msg: ServerMessage, checked = true): void {
    this.#sendRaw(s, JSON.stringify(msg), checked);
  }

  /**
   * Sends a frame. A reader that has fallen more than `maxBufferedBytes`
   * behind is cut off rather than buffered without bound, whatever it is sent
   * (fan-out, replies to requests it keeps making, file data beyond what it
   * acknowledged). A client's frames wait in its outbox while its socket holds SOCKET_HIGH_WATER or
   * something waits there already (a login replay, written as the client reads it), counted alike (#pump).
   */
  /** `binary`: a Buffer is file data unless said otherwise (a text frame already encoded). */
  #sendRaw(s: Session, frame: string | Buffer, checked = true, binary = typeof frame !== 'string'): void {
    if (s.ws.readyState !== WebSocket.OPEN) return;
    // Standbys are exempt: their catch-up (the whole replica) is written at once, and they are nodes, not users.
    // What waits behind a replay counts as queued: a client that reads nothing is cut off as it would be anyway.
    if (checked && s.peer === undefined && this.#tooFarBehind(s, s.outboxBytes)) {
      this.#deps.log.warn({ session: s.id, user: s.user?.name }, 'client too slow: disconnecting');
      s.ws.terminate();
      return;
    }
    // A client's socket that holds enough already gets the frame later, as it drains: what waits here is the
    // frame itself, shared by every recipient of a broadcast, where a socket would hold an encrypted copy each.
    if (s.outbox.length === 0 && (s.peer !== undefined || s.ws.bufferedAmount < SOCKET_HIGH_WATER)) return void s.ws.send(frame, { binary });
    const bytes = typeof frame === 'string' ? Buffer.byteLength(frame) : frame.length; // behind others: in order
    s.outbox.push({ raw: frame, binary, bytes });
    s.outboxBytes += bytes;
    if (!s.draining) this.#pump(s);
  }

  /** Writes what waits in `s.outbox` while the socket holds less than SOCKET_HIGH_WATER; the rest when it drains. */
  #pump(s: Session): void {
    while (s.outbox.length > 0 && s.ws.readyState === WebSocket.OPEN && s.ws.bufferedAmount < SOCKET_HIGH_WATER) {
      const item = s.outbox.shift()!;
      if ('frame' in item) s.ws.send(JSON.stringify(item.frame));
      else {
        s.outboxBytes -= item.bytes;
        s.ws.send(item.raw, { binary: item.binary });
      }
    }
    if (s.outbox.length > 0 && !s.draining && s.ws.readyState === WebSocket.OPEN) {
      s.draining = true;
      s.tls.once('drain', () => {
        s.draining = false;
        this.#pump(s);
      });
    }
  }

  #tooFarBehind(s: Session, waiting = 0): boolean {
    const queued = s.ws.bufferedAmount + waiting;
    // Each file coming to it may hold a window on top (counted only past the plain limit: counting walks the transfers).
    const max = this.#opts.maxBufferedBytes;
    return queued > max && queued > max + this.#ctx.transfers.incomingOf(s) * FILE_WINDOW_BYTES;
  }

  /** Where a session comes from (for the CLI's "alice joined (from …)"). */
  addressOf(id: number): string | undefined {
    return this.#sessions.get(id)?.address;
  }
}

/** A connection's key: its peer's address and port, the same for a TCP socket and the TLS socket on it. */
function connectionKey(socket: Socket): string {
  return `${socket.remoteAddress ?? ''}:${socket.remotePort ?? ''}`;
}

/** An HTTP 503 saying why, as a refused connection is told once its TLS handshake is done. */
function refusal(why: string): string {
  return `HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(why)}\r\n\r\n${why}`;
}
