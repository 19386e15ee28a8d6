import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import type { Logger } from 'pino';
import { DEFAULT_LIMITS, FILE_CHUNK_BYTES, FILE_HEADER_BYTES, FILE_WINDOW_BYTES, HARD_MAX_PAYLOAD, type Limits } from '../protocol/limits.js';
import { ERROR_CODES, ProtocolError, type ErrorCode } from '../protocol/errors.js';
import {
  clientMessageSchema,
  errorFrame,
  nodeProof,
  parseClientFrame,
  userKey,
  welcome,
  type ClientMessage,
  type ServerMessage,
} from '../protocol/messages.js';
import type { MessageEntry, UserEntry } from '../protocol/entries.js';
import type { LogStore } from '../store/log-store.js';
import type { ChatState } from '../core/chat-state.js';
import type { CredentialStore } from '../store/credential-store.js';
import type { ReplicationHub, StandbyLink } from '../replication/hub.js';
import { issueToken, verifyToken } from '../store/session-token.js';
import { RateLimiter } from '../core/rate-limiter.js';
import { AddressQuota } from '../core/address-quota.js';
import { Transfers, type Outcome, type Transfer } from '../core/transfers.js';
import { formatBytes } from '../protocol/units.js';

const HEARTBEAT_MS = 1_000; // ping period (DESIGN §6)
const DEAD_AFTER_MS = 3_000; // 3 missed pongs: the client is gone (DESIGN §4)
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024; // a slower consumer is cut off, never buffered without bound (DESIGN §6)
const MAX_CONNECTIONS = 10_000; // sockets at once; beyond this new ones get HTTP 503
const LOGIN_TIMEOUT_MS = 30_000; // a connection that has not logged in by then is closed (idle sockets cost memory)
const MAX_PENDING_PER_ADDRESS = 64; // connections one address may hold before logging in; beyond, refused at accept
const HANDSHAKE_TIMEOUT_MS = 10_000; // a TCP connection must have sent its HTTP request (upgrade or /status) by then
const TOO_MANY = 'HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 52\r\n\r\ntoo many connections from your address not logged in';
const MAX_QUEUED_FRAMES = 256; // frames waiting behind a slow handler (e.g. bcrypt) per session…
const MAX_QUEUED_BYTES = 1024 * 1024; // …and their bytes, so a pending login cannot pin unbounded memory
const STRIKES = { capacity: 20, refillPerSecond: 1 }; // bad frames or over-rate sends before disconnection
const LOGIN_FAILURES_PER_USER = { capacity: 5, refillPerSecond: 1 / 12 }; // 5 at once, then 5 a minute
const LOGIN_FAILURES_PER_ADDRESS = { capacity: 20, refillPerSecond: 1 / 3 }; // 20 at once, then 20 a minute

/** Collaborators, injected so tests can swap them (STYLE: construction). */
export interface RelayDeps {
  store: LogStore;
  state: ChatState;
  credentials: CredentialStore;
  hub: ReplicationHub;
  log: Logger;
  now?: () => number;
}

/** A node's role (DESIGN §2); only a coordinator serves chat sessions. */
export type Role = 'starting' | 'standby' | 'coordinator' | 'observer';

/** What `/status` answers and what `redirect` tells a caller. */
export interface RoleInfo {
  role: Role;
  term: number;
  /** The coordinator's `host:port`, when known (ours, when we are it). */
  coordinator: string | undefined;
  priority: number;
  eligible: boolean;
}

export interface RelayOptions {
  /** This node's id, announced in `welcome` and `/status`. */
  nodeId: string;
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
  /** A TCP connection must have sent its whole HTTP request by then, or it is closed. */
  handshakeTimeoutMs?: number;
  /** A reader with more than this queued (plus a window per file coming to it) is disconnected. */
  maxBufferedBytes?: number;
}

interface Session {
  readonly id: number;
  readonly ws: WebSocket;
  readonly address: string;
  networkOk: boolean;
  user: UserEntry | undefined;
  lastPong: number;
  readonly connectedAt: number;
  /** A handler is awaiting (bcrypt, fsync): later frames wait in `queue`. */
  busy: boolean;
  readonly queue: { buf: Buffer; isBinary: boolean }[];
  queuedBytes: number;
  /** Set once the session said `peer:hello`: it is a node, not a chat client. */
  peer: StandbyLink | undefined;
  /** Gives back the connection's place in its address's quota of not-yet-logged-in connections. Idempotent. */
  readonly admitted: () => void;
}

type Msg<K extends ClientMessage['type']> = Extract<ClientMessage, { type: K }>;
interface Handler<K extends ClientMessage['type']> {
  /** What the session must have done first: nothing, passed the network password, logged in, or said `peer:hello`. */
  needs: 'nothing' | 'network' | 'login' | 'peer';
  run(s: Session, msg: Msg<K>): void | Promise<void>;
}

/** Relay events, for the CLI's one-line-per-event output and for tests. */
export interface RelayEvents {
  'user:joined': [name: string, address: string];
  'user:left': [name: string];
  'user:registered': [name: string, address: string];
  'message:stored': [MessageEntry];
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
 * The coordinator's relay (DESIGN §6): a `ws` server in noServer mode behind
 * an HTTP server that also answers `GET /status`. Validates every frame
 * before dispatch, routes messages to exactly their recipients, and
 * acknowledges (and delivers) a message only once it is durable.
 */
export class Relay extends EventEmitter<RelayEvents> {
  readonly #deps: RelayDeps;
  readonly #opts: Required<Omit<RelayOptions, 'networkPassword' | 'nodePassword' | 'limits'>> & { limits: Limits };
  readonly #networkPasswordDigest: Buffer | undefined;
  readonly #nodePassword: string | undefined;
  readonly #schema: ReturnType<typeof clientMessageSchema>;
  readonly #sessions = new Set<Session>();
  readonly #byUser = new Map<string, Set<Session>>();
  readonly #inflight = new Map<string, Promise<MessageEntry>>();
  readonly #strikes: RateLimiter;
  readonly #sendRate: RateLimiter;
  readonly #loginByUser: RateLimiter;
  readonly #loginByAddress: RateLimiter;
  readonly #transfers: Transfers<Session>;
  /** Connections not logged in yet, per address; the callback gives a connection's place back. */
  readonly #pending: AddressQuota;
  readonly #admissions = new WeakMap<Socket, () => void>();
  #http: Server | undefined;
  #wss: WebSocketServer | undefined;
  #timer: NodeJS.Timeout | undefined;
  #nextSessionId = 1;
  #stopping: Promise<void> | undefined;
  #role: RoleInfo = { role: 'coordinator', term: 1, coordinator: undefined, priority: 0, eligible: true };
  /** Settles when every message accepted so far has been delivered (or failed). */
  #deliveryTail: Promise<void> = Promise.resolve();
  /** The last succession frame, sent to every new session. */
  #succession: string | undefined;

  constructor(deps: RelayDeps, options: RelayOptions) {
    super();
    this.#deps = deps;
    const now = deps.now ?? Date.now;
    this.#opts = {
      nodeId: options.nodeId,
      network: options.network ?? 'default',
      host: options.host ?? '0.0.0.0',
      port: options.port ?? 7777,
      maxMessageRate: options.maxMessageRate ?? options.limits?.maxMessageRate ?? DEFAULT_LIMITS.maxMessageRate,
      heartbeatMs: options.heartbeatMs ?? HEARTBEAT_MS,
      deadAfterMs: options.deadAfterMs ?? DEAD_AFTER_MS,
      loginTimeoutMs: options.loginTimeoutMs ?? LOGIN_TIMEOUT_MS,
      maxConnections: options.maxConnections ?? MAX_CONNECTIONS,
      maxPendingPerAddress: options.maxPendingPerAddress ?? MAX_PENDING_PER_ADDRESS,
      handshakeTimeoutMs: options.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS,
      maxBufferedBytes: options.maxBufferedBytes ?? MAX_BUFFERED_BYTES,
      limits: { ...DEFAULT_LIMITS, ...options.limits },
    };
    this.#opts.limits.maxMessageRate = this.#opts.maxMessageRate;
    if (this.#opts.limits.maxFrameBytes > HARD_MAX_PAYLOAD) throw new TypeError(`maxFrameBytes may not exceed ${HARD_MAX_PAYLOAD}`);
    this.#networkPasswordDigest = options.networkPassword ? digest(options.networkPassword) : undefined;
    this.#nodePassword = options.nodePassword || undefined;
    this.#schema = clientMessageSchema(this.#opts.limits);
    const rate = this.#opts.maxMessageRate;
    this.#strikes = new RateLimiter(STRIKES, now);
    this.#sendRate = new RateLimiter({ capacity: rate * 2, refillPerSecond: rate }, now);
    this.#loginByUser = new RateLimiter(LOGIN_FAILURES_PER_USER, now);
    this.#loginByAddress = new RateLimiter(LOGIN_FAILURES_PER_ADDRESS, now);
    this.#transfers = new Transfers({ now });
    this.#pending = new AddressQuota(this.#opts.maxPendingPerAddress);
    // Messages merged in from a standby reach the recipients online now; the sender's resend will only be acked.
    deps.hub.on('merged', (entries) => {
      for (const e of entries) if (e.kind === 'message') this.#deliver(e);
    });
  }

  /** The bound address, once started. */
  get address(): AddressInfo {
    const a = this.#http?.address();
    if (a === null || a === undefined || typeof a === 'string') throw new Error('relay is not listening');
    return a;
  }

  /** Names of users with at least one live session, sorted. */
  get online(): string[] {
    return [...this.#byUser.values()]
      .map((set) => set.values().next().value!.user!.name)
      .sort((a, b) => a.localeCompare(b));
  }

  /** Binds and starts serving. Throws `ListenError` when the port is taken. Idempotent. */
  async start(): Promise<void> {
    if (this.#http) return;
    const t = this.#opts.handshakeTimeoutMs;
    // Node's own defaults let a silent socket sit for 60-90 s; a lanchat request is a few hundred bytes.
    const http = createServer({ headersTimeout: t, requestTimeout: t, connectionsCheckingInterval: Math.min(1_000, t) }, (req, res) => this.#onHttp(req, res));
    http.on('connection', (socket: Socket) => this.#admit(socket));
    const wss = new WebSocketServer({ noServer: true, maxPayload: HARD_MAX_PAYLOAD, perMessageDeflate: false, clientTracking: false });
    http.on('upgrade', (req, socket, head) => {
      socket.on('error', () => socket.destroy());
      if (socket.writableEnded) return void socket.destroy(); // refused at accept (see #admit)
      if (this.#sessions.size >= this.#opts.maxConnections) {
        socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n');
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => this.#onConnection(ws, req));
    });
    http.on('clientError', (_err, socket) => socket.destroy());
    await new Promise<void>((resolve, reject) => {
      http.once('error', (err: NodeJS.ErrnoException) => {
        const where = `${this.#opts.host}:${this.#opts.port}`;
        if (err.code === 'EADDRINUSE') reject(new ListenError(err.code, `port ${this.#opts.port} is already in use on ${this.#opts.host} (is another lanchat running? try --port 0)`));
        else if (err.code === 'EADDRNOTAVAIL') reject(new ListenError(err.code, `cannot listen on ${where}: no such local address`));
        else if (err.code === 'EACCES') reject(new ListenError(err.code, `cannot listen on ${where}: permission denied`));
        else reject(new ListenError(err.code ?? 'ELISTEN', `cannot listen on ${where}: ${err.message}`));
      });
      http.listen(this.#opts.port, this.#opts.host, () => resolve());
    });
    http.on('error', (err) => this.emit('error', err));
    this.#http = http;
    this.#wss = wss;
    this.#timer = setInterval(() => this.#heartbeat(), this.#opts.heartbeatMs);
    this.#timer.unref();
  }

  /** Closes every session (1001) and the server. Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      clearInterval(this.#timer);
      for (const s of this.#sessions) s.ws.close(1001, 'server shutting down');
      const http = this.#http;
      if (http) {
        await new Promise<void>((resolve) => {
          http.close(() => resolve());
          setTimeout(() => {
            for (const s of this.#sessions) s.ws.terminate();
            http.closeAllConnections();
          }, 500).unref();
        });
      }
      this.#wss?.close();
      // Let acknowledgements already being written finish, so nothing stored is left unacked by our choice.
      await Promise.allSettled(this.#inflight.values());
    })();
    return this.#stopping;
  }

  /**
   * Counts a new TCP connection against its address's quota of connections
   * not logged in yet; over it, the connection gets a 503 and is closed. The
   * place is given back at login, `peer:hello` or close.
   */
  #admit(socket: Socket): void {
    const address = socket.remoteAddress ?? 'unknown';
    if (!this.#pending.tryAcquire(address)) {
      this.#deps.log.debug({ address }, 'connection refused: too many from this address not logged in');
      socket.on('error', () => socket.destroy());
      socket.end(TOO_MANY);
      setTimeout(() => socket.destroy(), 1_000).unref();
      return;
    }
    let held = true;
    const release = (): void => {
      if (!held) return;
      held = false;
      this.#pending.release(address);
    };
    this.#admissions.set(socket, release);
    socket.once('close', release);
  }

  #onHttp(req: IncomingMessage, res: ServerResponse): void {
    if (req.socket.writableEnded) return void req.socket.destroy(); // refused at accept (see #admit)
    if (req.method === 'GET' && req.url === '/status') {
      const { role, term, priority, eligible } = this.#role;
      const body = JSON.stringify({
        id: this.#opts.nodeId,
        network: this.#opts.network,
        role,
        term,
        coordinator: this.#coordinatorFor(req.socket.localAddress) ?? null,
        priority,
        eligible,
        position: sumVv(this.#deps.store.versionVector),
        protocol: 1,
      });
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(body);
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('lanchat relay: connect with a WebSocket, or GET /status\n');
  }

  /** This node's role, as `/status` and redirects report it. */
  get role(): RoleInfo {
    return this.#role;
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
      for (const s of this.#sessions) {
        this.#sendRaw(s, frame, false);
        s.ws.close(4001, 'not the coordinator any more');
      }
      this.#succession = undefined;
    }
  }

  /** Sends the succession list to every session (clients and standbys) now and to every later one. */
  publishSuccession(frame: ServerMessage & { type: 'succession' }): void {
    this.#succession = JSON.stringify(frame);
    for (const s of this.#sessions) if (s.user !== undefined || s.peer !== undefined) this.#sendRaw(s, this.#succession);
  }

  /** Our coordinator address as seen from a socket's local address (reachable by that caller). */
  #coordinatorFor(localAddress: string | undefined): string | undefined {
    if (this.#role.role !== 'coordinator') return this.#role.coordinator;
    const host = localAddress?.replace(/^::ffff:/, '') ?? this.address.address;
    return `${host.includes(':') ? `[${host}]` : host}:${this.address.port}`;
  }

  #onConnection(ws: WebSocket, req: IncomingMessage): void {
    if (this.#role.role !== 'coordinator') {
      // Only the coordinator serves sessions; tell the caller where it is (DESIGN §3).
      ws.send(JSON.stringify({ type: 'redirect', coordinator: this.#role.coordinator ?? null, term: this.#role.term } satisfies ServerMessage));
      ws.close(4001, 'not the coordinator');
      return;
    }
    const now = this.#deps.now ?? Date.now;
    const s: Session = {
      id: this.#nextSessionId++,
      ws,
      address: req.socket.remoteAddress ?? 'unknown',
      networkOk: this.#networkPasswordDigest === undefined,
      user: undefined,
      lastPong: now(),
      connectedAt: now(),
      busy: false,
      queue: [],
      queuedBytes: 0,
      peer: undefined,
      admitted: this.#admissions.get(req.socket) ?? (() => undefined),
    };
    this.#sessions.add(s);
    ws.on('pong', () => (s.lastPong = now()));
    ws.on('message', (data, isBinary) => this.#onFrame(s, data, isBinary));
    ws.on('error', (err) => this.#deps.log.debug({ err, session: s.id }, 'socket error'));
    ws.on('close', () => this.#onClose(s));
    const { network, nodeId, limits } = this.#opts;
    this.#send(s, welcome(network, nodeId, this.#networkPasswordDigest !== undefined, limits));
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
   * one (bcrypt, fsync) is pending, later frames wait in the session's queue.
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
    if (isBinary) return s.user === undefined ? this.#reject(s, 'bad_frame') : this.#fileData(s, buf);
    const parsed = parseClientFrame(buf.toString('utf8'), this.#schema);
    if (!s.networkOk && !(parsed.ok && parsed.value.type === 'network:auth')) {
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
    return handler.run.call(this, s, msg as never);
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
      s.ws.close(1008, 'too many bad or excess frames');
    }
  }

  // ---- handlers (bound to the relay through HANDLERS below) ----

  networkAuth(s: Session, msg: Msg<'network:auth'>): void {
    if (s.networkOk) return this.#send(s, { type: 'network:ok' });
    if (!this.#passwordOk(s, `a:${s.address}`, msg.password, this.#networkPasswordDigest!, 'network_password')) return;
    s.networkOk = true;
    this.#send(s, { type: 'network:ok' });
  }

  /**
   * Checks a shared password (network or node), rate-limited per address in `bucket`: a failure costs a token
   * (taken before the check, so concurrent guesses cannot slip past), a success gives it back. On failure the
   * session is told `code` (or `rate_limited`) and closed.
   */
  #passwordOk(s: Session, bucket: string, given: string | undefined, expected: Buffer, code: 'network_password' | 'node_password'): boolean {
    if (!this.#loginByAddress.take(bucket)) {
      this.#send(s, errorFrame('rate_limited', 'too many wrong passwords from this address; wait a minute'));
      s.ws.close(1008, 'rate limited');
      return false;
    }
    if (given === undefined || !timingSafeEqual(digest(given), expected)) {
      this.#send(s, errorFrame(code));
      s.ws.close(1008, code === 'network_password' ? 'wrong network password' : 'wrong node password');
      return false;
    }
    this.#loginByAddress.refund(bucket);
    return true;
  }

  async register(s: Session, msg: Msg<'auth:register'>): Promise<void> {
    const user = await this.#deps.credentials.register(msg.user, msg.password);
    this.emit('user:registered', user.name, s.address);
    if (s.ws.readyState === WebSocket.OPEN) this.#login(s, user); // it may have left during the hash
  }

  async login(s: Session, msg: Msg<'auth:login'>): Promise<void> {
    const userBucket = `u:${userKey(msg.user)}`;
    const addrBucket = `a:${s.address}`;
    // Tokens are taken before the check and given back on success, so concurrent guesses cannot slip past.
    const userOk = this.#loginByUser.take(userBucket);
    if (!userOk || !this.#loginByAddress.take(addrBucket)) {
      if (userOk) this.#loginByUser.refund(userBucket);
      throw new ProtocolError('rate_limited', 'too many failed logins; wait a minute and try again');
    }
    let user: UserEntry;
    try {
      user = await this.#deps.credentials.verify(msg.user, msg.password);
    } catch (err) {
      if (err instanceof ProtocolError && err.code === 'auth_failed') {
        this.#send(s, errorFrame('auth_failed')); // not a strike: people mistype passwords
        return;
      }
      this.#loginByUser.refund(userBucket);
      this.#loginByAddress.refund(addrBucket);
      throw err;
    }
    this.#loginByUser.reset(userBucket);
    this.#loginByAddress.refund(addrBucket);
    if (s.ws.readyState === WebSocket.OPEN) this.#login(s, user); // it may have left during the check
  }

  send(s: Session, msg: Msg<'chat:send'>): void {
    const from = s.user!;
    const known = new Map<string, string>();
    for (const name of msg.to) {
      const user = this.#deps.state.user(name);
      if (user === undefined) return this.#reject(s, 'unknown_recipient', `no such user: ${name}`, msg.id);
      known.set(userKey(user.name), user.name);
    }
    const dupKey = `${userKey(from.name)}\n${msg.id}`;
    const earlier = this.#deps.state.duplicateOf(from.name, msg.id);
    if (earlier) return this.#ack(s, msg.id, earlier); // a resend: acknowledge again, store and deliver nothing
    const inflight = this.#inflight.get(dupKey);
    if (inflight) {
      void inflight.then(
        (m) => this.#ack(s, msg.id, m),
        () => this.#send(s, errorFrame('internal', 'the message could not be stored; it was not sent', msg.id)),
      );
      return;
    }
    if (!this.#sendRate.take(`s${s.id}`)) return this.#reject(s, 'rate_limited', 'sending too fast; slow down', msg.id);
    const to = [...known.values()];
    const pending = to.filter((name) => userKey(name) !== userKey(from.name) && !this.#byUser.has(userKey(name)));
    const now = (this.#deps.now ?? Date.now)();
    const [entry] = this.#deps.store.stamp([
      { kind: 'message', id: messageId(from.name, msg.id), cid: msg.id, from: from.name, to, text: msg.text, ts: now, pending },
    ]) as [MessageEntry];
    // Durable here (the store applies it to the state), then held by the successor, then delivered and acked (DESIGN §5).
    // Delivered in the order stored, whatever order the replication waits end in.
    const previous = this.#deliveryTail;
    const stored = this.#deps.store
      .commit([entry])
      .then(() => this.#deps.hub.replicated(entry))
      .then(() => previous)
      .then(() => entry);
    this.#deliveryTail = stored.then(
      () => undefined,
      () => undefined,
    );
    this.#inflight.set(dupKey, stored);
    stored.then(
      (m) => {
        this.#inflight.delete(dupKey);
        this.#settleOffline(m);
        this.#deliver(m);
        this.#ack(s, msg.id, m);
        this.emit('message:stored', m);
      },
      (err: Error) => {
        this.#inflight.delete(dupKey);
        this.#deps.log.error({ err }, 'message not stored');
        this.#send(s, errorFrame('internal', 'the message could not be stored; it was not sent', msg.id));
      },
    );
  }

  presence(s: Session): void {
    this.#send(s, { type: 'presence', online: this.online });
  }

  resume(s: Session, msg: Msg<'auth:resume'>): void {
    const secret = this.#deps.state.secret?.value;
    const user = this.#deps.state.user(msg.user);
    if (secret === undefined || user === undefined || !verifyToken(secret, msg.user, msg.token, (this.#deps.now ?? Date.now)())) {
      this.#send(s, errorFrame('auth_failed', 'session expired; log in with your password')); // the client falls back to a login
      return;
    }
    this.#login(s, user);
  }

  peerHello(s: Session, msg: Msg<'peer:hello'>): void {
    if (msg.network !== this.#opts.network) {
      this.#send(s, errorFrame('invalid_message', `this is network "${this.#opts.network}", not "${msg.network}"`));
      s.ws.close(1008, 'wrong network');
      return;
    }
    // Its own bucket, not the users': a refused node must not lock its machine's users out.
    if (this.#nodePassword !== undefined && !this.#passwordOk(s, `n:${s.address}`, msg.nodePassword, digest(this.#nodePassword), 'node_password')) {
      this.#deps.log.warn({ address: s.address, node: msg.id }, 'a node without the node password was refused');
      return;
    }
    const host = s.address.replace(/^::ffff:/, '');
    s.admitted();
    s.peer = this.#deps.hub.attach(
      {
        id: msg.id,
        ws: s.ws,
        address: `${host.includes(':') ? `[${host}]` : host}:${msg.port}`,
        priority: msg.priority,
        eligible: msg.eligible,
        acked: new Map(msg.vv),
      },
      msg.vv,
      this.#nodePassword !== undefined && msg.nonce !== undefined ? nodeProof(this.#nodePassword, msg.nonce) : undefined,
    );
    if (this.#succession) this.#sendRaw(s, this.#succession);
  }

  peerEntries(s: Session, msg: Msg<'peer:entries'>): Promise<void> {
    return this.#deps.hub.receive(msg.entries);
  }

  peerAck(s: Session, msg: Msg<'peer:ack'>): void {
    this.#deps.hub.ack(s.peer!, msg.vv);
  }

  // ---- files (issue #6): offered, accepted, then relayed chunk by chunk within the window ----

  fileOffer(s: Session, msg: Msg<'file:offer'>): void {
    const from = s.user!;
    if (!this.#sendRate.take(`s${s.id}`)) return this.#reject(s, 'rate_limited', 'sending too fast; slow down', msg.id);
    const max = this.#opts.limits.maxFileBytes;
    if (msg.size > max) {
      // A user's mistake, not abuse: no strike. Refused before any data flows.
      return this.#send(s, errorFrame('file_too_large', `${msg.name} is ${formatBytes(msg.size)}; this network accepts files up to ${formatBytes(max)}`, msg.id));
    }
    const users = new Map<string, string>();
    for (const name of msg.to) {
      const user = this.#deps.state.user(name);
      if (user === undefined) return this.#reject(s, 'unknown_recipient', `no such user: ${name}`, msg.id);
      users.set(userKey(user.name), user.name);
    }
    const everyone = users.size === 0;
    if (everyone) for (const [key, set] of this.#byUser) users.set(key, set.values().next().value!.user!.name);
    const targets: { session: Session; user: string }[] = [];
    const skipped: string[] = [];
    for (const [key, name] of users) {
      const sessions = [...(this.#byUser.get(key) ?? [])].filter((x) => x !== s);
      if (sessions.length === 0 && key !== userKey(from.name)) skipped.push(name);
      for (const session of sessions) targets.push({ session, user: name });
    }
    if (targets.length === 0) {
      const why = everyone || skipped.length === 0 ? 'nobody else is online' : `${skipped.join(', ')} ${skipped.length === 1 ? 'is' : 'are'} offline`;
      return this.#send(s, errorFrame('recipient_offline', `${why}: files are not kept for users who are offline; nothing was sent`, msg.id));
    }
    const refusal = this.#transfers.refusal(from.name);
    if (refusal !== undefined) return this.#send(s, errorFrame('rate_limited', refusal, msg.id));
    const t = this.#transfers.open(s, from.name, msg.id, msg.name, msg.size, targets);
    const to = [...new Set(targets.map((x) => x.user))];
    this.#send(s, { type: 'file:accepted', id: msg.id, stream: t.stream, to, skipped: everyone ? [] : skipped, chunk: FILE_CHUNK_BYTES, window: FILE_WINDOW_BYTES });
    const start = JSON.stringify({ type: 'file:start', stream: t.stream, id: t.id, from: from.name, name: msg.name, size: msg.size, to: everyone ? [] : to } satisfies ServerMessage);
    for (const target of t.targets) this.#sendRaw(target.session, start);
    this.#deps.log.info({ from: from.name, to, size: msg.size, stream: t.stream }, 'file transfer started');
  }

  /** A chunk: checked against the offer and the window, then passed on as it came (no copy). */
  #fileData(s: Session, buf: Buffer): void {
    if (buf.length < FILE_HEADER_BYTES) return this.#reject(s, 'bad_frame', 'a file chunk starts with its 4-byte stream number');
    const stream = buf.readUInt32BE(0);
    const check = this.#transfers.data(s, stream, buf.length - FILE_HEADER_BYTES);
    if (!check.ok) return this.#senderBroke(s, check); // (no transfer: a chunk already in flight when it ended)
    for (const target of check.transfer.targets) {
      // A recipient that acknowledges data it has not read (its socket backs up) is cut off like any slow reader.
      if (target.state === 'receiving') this.#sendRaw(target.session, buf);
    }
  }

  fileEnd(s: Session, msg: Msg<'file:end'>): void {
    const check = this.#transfers.end(s, msg.stream);
    if (!check.ok) return this.#senderBroke(s, check);
    const frame = JSON.stringify({ type: 'file:end', stream: msg.stream, sha256: msg.sha256 } satisfies ServerMessage);
    for (const target of check.transfer.targets) if (target.state === 'receiving') this.#sendRaw(target.session, frame);
  }

  fileCancel(s: Session, msg: Msg<'file:cancel'>): void {
    const t = this.#transfers.get(msg.stream);
    if (t?.sender !== s) return; // over already
    this.#abortTransfer(t, `${t.from} cancelled it${msg.reason ? ` (${msg.reason})` : ''}`);
  }

  fileAck(s: Session, msg: Msg<'file:ack'>): void {
    const outcome = this.#transfers.ack(s, msg.stream, msg.received);
    if (outcome === undefined) {
      const t = this.#transfers.get(msg.stream);
      if (t?.targets.some((x) => x.session === s && x.state === 'receiving')) this.#reject(s, 'invalid_message', `acknowledged ${msg.received} bytes of ${t.received} sent`);
      return;
    }
    this.#applyOutcome(outcome);
  }

  fileDone(s: Session, msg: Msg<'file:done'>): void {
    const outcome = this.#transfers.finish(s, msg.stream);
    if (outcome) this.#applyOutcome(outcome);
  }

  fileFail(s: Session, msg: Msg<'file:fail'>): void {
    const outcome = this.#transfers.finish(s, msg.stream, msg.reason);
    if (outcome) this.#applyOutcome(outcome);
  }

  #applyOutcome(o: Outcome<Session>): void {
    const t = o.transfer;
    if (o.credit !== undefined && !o.complete) this.#sendRaw(t.sender, JSON.stringify({ type: 'file:credit', stream: t.stream, acked: o.credit } satisfies ServerMessage));
    if (o.complete) {
      const report = this.#transfers.report(t);
      this.#send(t.sender, { type: 'file:sent', id: t.cid, ...report });
      this.#deps.log.info({ from: t.from, stream: t.stream, ...report }, 'file transfer over');
    }
  }

  /** A sender broke the rules of its transfer (if it still has one): stop it, tell both sides, count a strike. */
  #senderBroke(s: Session, check: { transfer?: Transfer<Session>; reason: string }): void {
    if (check.transfer === undefined) return;
    this.#abortTransfer(check.transfer, `the sender broke the protocol (${check.reason})`, `file transfer stopped: ${check.reason}`);
    this.#strike(s);
  }

  /** Stops a transfer: its recipients are told why, and the sender too when `toSender` says what to tell. */
  #abortTransfer(t: Transfer<Session>, reason: string, toSender?: string): void {
    this.#transfers.abort(t.stream);
    const frame = JSON.stringify({ type: 'file:abort', stream: t.stream, reason } satisfies ServerMessage);
    for (const target of t.targets) if (target.state === 'receiving') this.#sendRaw(target.session, frame);
    if (toSender !== undefined) this.#send(t.sender, errorFrame('file_failed', toSender, t.cid));
  }

  /** Recipients that stopped writing leave the transfer; senders that stopped sending lose it. */
  #checkTransfers(): void {
    if (this.#transfers.size === 0) return;
    const { recipients, senders } = this.#transfers.stalled();
    for (const { transfer, target } of recipients) {
      this.#sendRaw(target.session, JSON.stringify({ type: 'file:abort', stream: transfer.stream, reason: 'this client stopped writing the file' } satisfies ServerMessage));
      const outcome = this.#transfers.finish(target.session, transfer.stream, 'stopped receiving');
      if (outcome) this.#applyOutcome(outcome);
    }
    for (const t of senders) this.#abortTransfer(t, `${t.from} stopped sending`, 'file transfer stopped: the sender sent nothing for a minute');
  }

  // ---- routing ----

  /**
   * Offline recipients were decided when the message was stamped; fix up who
   * came or went while it was being stored, so each gets it exactly once.
   */
  #settleOffline(m: MessageEntry): void {
    const from = userKey(m.from);
    for (const name of m.to) {
      const key = userKey(name);
      if (key === from) continue;
      const online = this.#byUser.has(key);
      const queued = m.pending.some((p) => userKey(p) === key);
      if (queued && online) this.#deps.state.markDelivered(name, m.id);
      else if (!queued && !online) this.#deps.state.addPending(name, m);
    }
  }

  #login(s: Session, user: UserEntry): void {
    const key = userKey(user.name);
    s.user = user;
    s.admitted();
    const secret = this.#deps.state.secret?.value;
    const token = secret === undefined ? undefined : issueToken(secret, user.name, (this.#deps.now ?? Date.now)());
    this.#send(s, { type: 'auth:ok', user: user.name, ...(token === undefined ? {} : { token }) }, false);
    if (this.#succession) this.#sendRaw(s, this.#succession, false);
    // Replay and joining happen in one tick: every message stored before is in the replay, every later one is live.
    const { history, offline } = this.#deps.state.replayFor(user.name);
    // The replay is bounded (history and offline queues are), so it goes out whole however slowly the client reads.
    for (const m of history) this.#send(s, chatFrame(m, true), false);
    for (const m of offline) this.#send(s, chatFrame(m, true), false);
    this.#send(s, { type: 'history:end', count: history.length + offline.length }, false);
    if (offline.length > 0) {
      this.#deps.store
        .append([{ kind: 'collect', user: user.name, upTo: offline.map((m) => m.id), ts: (this.#deps.now ?? Date.now)() }])
        .catch((err: unknown) => this.#deps.log.warn({ err }, 'could not record offline delivery; it may repeat'));
    }
    let sessions = this.#byUser.get(key);
    const first = sessions === undefined;
    if (sessions === undefined) this.#byUser.set(key, (sessions = new Set()));
    sessions.add(s);
    // The newcomer gets the full list; everyone else a one-name delta, so a join costs O(users), not O(users²).
    this.#send(s, { type: 'presence', online: this.online }, false);
    if (first) {
      this.emit('user:joined', user.name, s.address);
      this.#broadcastExcept(s, JSON.stringify({ type: 'presence:joined', user: user.name } satisfies ServerMessage));
    }
  }

  /** Sends a stored message to exactly its recipients' sessions and the sender's, serialised once. */
  #deliver(m: MessageEntry): void {
    const frame = JSON.stringify(chatFrame(m, false));
    if (m.to.length === 0) return this.#broadcastExcept(undefined, frame);
    const keys = new Set([userKey(m.from), ...m.to.map(userKey)]);
    for (const key of keys) for (const s of this.#byUser.get(key) ?? []) this.#sendRaw(s, frame);
  }

  #ack(s: Session, id: string, m: MessageEntry): void {
    this.#send(s, { type: 'chat:ack', id, messageId: m.id, ts: m.ts });
  }

  /** Sends one serialised frame to every logged-in session but `except`. */
  #broadcastExcept(except: Session | undefined, frame: string): void {
    for (const set of this.#byUser.values()) for (const s of set) if (s !== except) this.#sendRaw(s, frame);
  }

  #onClose(s: Session): void {
    this.#sessions.delete(s);
    if (s.peer) this.#deps.hub.detach(s.peer);
    this.#strikes.reset(`s${s.id}`);
    this.#sendRate.reset(`s${s.id}`);
    const { aborted, outcomes } = this.#transfers.leave(s, s.user === undefined ? 'disconnected' : `${s.user.name} disconnected`);
    for (const t of aborted) this.#abortTransfer(t, `${t.from} disconnected`);
    for (const o of outcomes) this.#applyOutcome(o);
    s.queue.length = 0;
    s.queuedBytes = 0;
    if (s.user === undefined) return;
    const key = userKey(s.user.name);
    const set = this.#byUser.get(key);
    set?.delete(s);
    if (set?.size === 0) {
      this.#byUser.delete(key);
      this.emit('user:left', s.user.name);
      if (!this.#stopping) this.#broadcastExcept(undefined, JSON.stringify({ type: 'presence:left', user: s.user.name } satisfies ServerMessage));
    }
  }

  #heartbeat(): void {
    this.#checkTransfers();
    const now = (this.#deps.now ?? Date.now)();
    for (const s of this.#sessions) {
      if (now - s.lastPong > this.#opts.deadAfterMs) {
        this.#deps.log.info({ session: s.id, user: s.user?.name }, 'no pong: dropping a dead client');
        s.ws.terminate(); // 'close' follows and updates presence
      } else if (s.user === undefined && s.peer === undefined && !s.busy && now - s.connectedAt > this.#opts.loginTimeoutMs) {
        this.#send(s, errorFrame('not_authenticated', `no login within ${this.#opts.loginTimeoutMs / 1000} s`));
        s.ws.close(1008, 'login timeout');
      } else if (s.ws.readyState === WebSocket.OPEN) {
        s.ws.ping();
      }
    }
  }

  #send(s: Session, msg: ServerMessage, checked = true): void {
    this.#sendRaw(s, JSON.stringify(msg), checked);
  }

  /**
   * Sends a frame. A reader that has fallen more than `maxBufferedBytes`
   * behind is cut off rather than buffered without bound, whatever it is sent
   * (fan-out, replies to requests it keeps making, file data beyond what it
   * acknowledged). Only the login replay, which is bounded, goes out unchecked.
   */
  #sendRaw(s: Session, frame: string | Buffer, checked = true): void {
    if (s.ws.readyState !== WebSocket.OPEN) return;
    // Standbys are exempt: their catch-up (the whole replica) is written at once, and they are nodes, not users.
    if (checked && s.peer === undefined && this.#tooFarBehind(s)) {
      this.#deps.log.warn({ session: s.id, user: s.user?.name }, 'client too slow: disconnecting');
      s.ws.terminate();
      return;
    }
    s.ws.send(frame, { binary: typeof frame !== 'string' });
  }

  #tooFarBehind(s: Session): boolean {
    const queued = s.ws.bufferedAmount;
    // Each file coming to it may hold a window on top (counted only past the plain limit: counting walks the transfers).
    const max = this.#opts.maxBufferedBytes;
    return queued > max && queued > max + this.#transfers.incomingOf(s) * FILE_WINDOW_BYTES;
  }
}

/** The handler table: a message type without a handler fails to compile (STYLE: protocol). */
const HANDLERS: { [K in ClientMessage['type']]: Handler<K> } = {
  'network:auth': { needs: 'nothing', run: Relay.prototype.networkAuth },
  'auth:register': { needs: 'network', run: Relay.prototype.register },
  'auth:login': { needs: 'network', run: Relay.prototype.login },
  'chat:send': { needs: 'login', run: Relay.prototype.send },
  'presence:get': { needs: 'login', run: Relay.prototype.presence },
  'auth:resume': { needs: 'network', run: Relay.prototype.resume },
  'peer:hello': { needs: 'network', run: Relay.prototype.peerHello },
  'peer:entries': { needs: 'peer', run: Relay.prototype.peerEntries },
  'peer:ack': { needs: 'peer', run: Relay.prototype.peerAck },
  'file:offer': { needs: 'login', run: Relay.prototype.fileOffer },
  'file:end': { needs: 'login', run: Relay.prototype.fileEnd },
  'file:cancel': { needs: 'login', run: Relay.prototype.fileCancel },
  'file:ack': { needs: 'login', run: Relay.prototype.fileAck },
  'file:done': { needs: 'login', run: Relay.prototype.fileDone },
  'file:fail': { needs: 'login', run: Relay.prototype.fileFail },
};

/**
 * A message's id, derived from its sender and client id: a message resent to
 * a new coordinator after a failover gets the same id, so every replica and
 * every client recognises it (DESIGN §5: exactly-once).
 */
export function messageId(from: string, cid: string): string {
  return createHash('sha256').update(`${userKey(from)}\n${cid}`).digest('hex').slice(0, 32);
}

function sumVv(vv: ReadonlyMap<string, number>): number {
  let n = 0;
  for (const v of vv.values()) n += v;
  return n;
}

function chatFrame(m: MessageEntry, replay: boolean): ServerMessage {
  const frame: ServerMessage = { type: 'chat:message', id: m.id, from: m.from, to: m.to, text: m.text, ts: m.ts };
  if (replay) frame.replay = true;
  return frame;
}

function digest(password: string): Buffer {
  return createHash('sha256').update(password, 'utf8').digest();
}
