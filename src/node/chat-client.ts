import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import type { Logger } from 'pino';
import { ServerMessage, type ChatMessage } from '../protocol/messages.js';
import { PROTOCOL_VERSION, type Limits } from '../protocol/limits.js';
import { ProtocolError, type ErrorCode, ERROR_CODES } from '../protocol/errors.js';

const CONNECT_TIMEOUT_MS = 5_000; // TCP + WebSocket handshake on a LAN; longer means nobody is there
const SILENCE_MS = 3_500; // the coordinator pings every 1 s: 3 missed pings and it is gone (DESIGN §4)
const MAX_SERVER_FRAME = 8 * 1024 * 1024; // bytes: a server frame larger than this is hostile

export interface ChatClientOptions {
  /** `host:port` of the coordinator. */
  address: string;
  user: string;
  password: string;
  /** Create the account first (then log in). */
  register?: boolean;
  networkPassword?: string;
  log: Logger;
  connectTimeoutMs?: number;
}

/** What the client knows once logged in. */
export interface Ready {
  user: string;
  coordinator: string;
  network: string;
  protocol: number;
  limits: Limits;
}

/** A server-reported or local error, with a catalogue code. */
export interface ClientError {
  code: ErrorCode | string;
  message: string;
  /** The client id of the send it concerns, if any. */
  ref?: string;
}

export interface ChatClientEvents {
  /** Logged in; emitted synchronously, before any replayed message. */
  ready: [Ready];
  message: [ChatMessage];
  ack: [{ id: string; messageId: string; ts: number }];
  presence: [string[]];
  'history:end': [number];
  error: [ClientError];
  close: [{ code: number; reason: string }];
}

/**
 * The one client library (DESIGN §8): connects, authenticates, sends with an
 * outbox of unacknowledged messages, and emits typed events. The JSON client
 * and the UI both use it; neither speaks the protocol directly.
 */
export class ChatClient extends EventEmitter<ChatClientEvents> {
  readonly #opts: ChatClientOptions;
  readonly #outbox = new Map<string, { text: string; to: string[] }>();
  #online = new Set<string>();
  /** Sends waiting for a token: the client paces itself to the coordinator's announced rate. */
  readonly #paced: { id: string; text: string; to: string[] }[] = [];
  #tokens = 0;
  #tokensAt = 0;
  #paceTimer: NodeJS.Timeout | undefined;
  #historyDone = false;
  #whoPending = 0;
  #ws: WebSocket | undefined;
  #silence: NodeJS.Timeout | undefined;
  #ready: Ready | undefined;
  #drainWaiters: (() => void)[] = [];
  #closed = false;

  constructor(options: ChatClientOptions) {
    super();
    this.#opts = options;
  }

  get ready(): Ready | undefined {
    return this.#ready;
  }

  /** Messages sent but not yet acknowledged. */
  get pending(): number {
    return this.#outbox.size;
  }

  /**
   * Connects and logs in (registering first with `register`). Rejects with a
   * `ProtocolError` (`connection_failed`, `network_password`, `auth_failed`,
   * `username_taken`, …) when that fails.
   */
  connect(): Promise<Ready> {
    const { address, log } = this.#opts;
    return new Promise<Ready>((resolve, reject) => {
      let settled = false;
      const fail = (err: ProtocolError): void => {
        if (settled) return;
        settled = true;
        ws.terminate();
        reject(err);
      };
      const ws = new WebSocket(`ws://${address}`, {
        handshakeTimeout: this.#opts.connectTimeoutMs ?? CONNECT_TIMEOUT_MS,
        maxPayload: MAX_SERVER_FRAME,
        perMessageDeflate: false,
      });
      this.#ws = ws;
      ws.on('error', (err) => {
        log.debug({ err }, 'socket error');
        fail(new ProtocolError('connection_failed', `could not connect to ${address}: ${err.message}`));
      });
      ws.on('ping', () => this.#heard());
      ws.on('open', () => this.#heard());
      ws.on('close', (code, reasonBuf) => {
        clearTimeout(this.#silence);
        const reason = reasonBuf.toString();
        if (!settled) {
          fail(new ProtocolError(code === 1008 ? 'network_password' : 'connection_failed', reason || `connection to ${address} closed (${code})`));
          return;
        }
        if (!this.#closed) this.emit('close', { code, reason });
        this.#wakeDrainWaiters();
      });
      ws.on('message', (data, isBinary) => {
        this.#heard();
        const parsed = isBinary ? undefined : safeJson(data.toString());
        const result = ServerMessage.safeParse(parsed);
        if (!result.success) {
          log.warn({ issues: result.error.issues.slice(0, 3) }, 'ignoring an invalid frame from the coordinator');
          return;
        }
        const msg = result.data;
        if (!settled) this.#handshake(msg, (r) => ((settled = true), resolve(r)), fail);
        else this.#dispatch(msg);
      });
    });
  }

  /** Queues a message; returns its client id. `to` empty = everyone. */
  send(text: string, to: readonly string[] = [], id: string = randomUUID()): string {
    this.#outbox.set(id, { text, to: [...to] });
    this.#paced.push({ id, text, to: [...to] });
    this.#pump();
    return id;
  }

  /** Writes paced sends as tokens allow (burst = the announced rate, refilled at 90 % of it for safety). */
  #pump(): void {
    const rate = this.#ready?.limits.maxMessageRate ?? 20;
    const now = performance.now();
    this.#tokens = Math.min(rate, this.#tokens + ((now - this.#tokensAt) / 1000) * rate * 0.9);
    this.#tokensAt = now;
    while (this.#paced.length > 0 && this.#tokens >= 1) {
      const { id, text, to } = this.#paced.shift()!;
      this.#tokens -= 1;
      this.#write({ type: 'chat:send', id, to, text });
    }
    if (this.#paced.length > 0 && this.#paceTimer === undefined) {
      this.#paceTimer = setTimeout(() => {
        this.#paceTimer = undefined;
        this.#pump();
      }, Math.ceil(((1 - this.#tokens) / (rate * 0.9)) * 1000));
    }
  }

  /** The users online now, sorted. */
  get online(): string[] {
    return [...this.#online].sort((a, b) => a.localeCompare(b));
  }

  /** Asks for the online list; the answer arrives as a `presence` event. */
  who(): void {
    this.#whoPending++;
    this.#write({ type: 'presence:get' });
  }

  /**
   * Resolves once the login replay has arrived, every `who` is answered and
   * every sent message is acknowledged or failed (or the connection is gone).
   */
  drained(): Promise<void> {
    if (this.#idle()) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  #idle(): boolean {
    return (this.#outbox.size === 0 && this.#historyDone && this.#whoPending === 0) || this.#ws?.readyState !== WebSocket.OPEN;
  }

  /** Closes the connection. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#silence);
    clearTimeout(this.#paceTimer);
    const ws = this.#ws;
    if (ws === undefined || ws.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      ws.once('close', () => resolve());
      ws.close(1000, 'bye');
      setTimeout(() => (ws.terminate(), resolve()), 1_000).unref();
    });
  }

  #handshake(msg: ServerMessage, done: (r: Ready) => void, fail: (e: ProtocolError) => void): void {
    const { user, password, register, networkPassword } = this.#opts;
    switch (msg.type) {
      case 'welcome': {
        if (msg.protocol !== PROTOCOL_VERSION) return fail(new ProtocolError('protocol_version', `coordinator speaks protocol ${msg.protocol}; this client speaks ${PROTOCOL_VERSION}`));
        this.#ready = { user, coordinator: this.#opts.address, network: msg.network, protocol: msg.protocol, limits: msg.limits };
        if (msg.networkPassword) {
          if (!networkPassword) return fail(new ProtocolError('network_password', 'this network requires a network password (LANCHAT_NETWORK_PASSWORD or --network-password-file)'));
          this.#write({ type: 'network:auth', password: networkPassword });
        } else {
          this.#write({ type: register ? 'auth:register' : 'auth:login', user, password });
        }
        return;
      }
      case 'network:ok':
        return this.#write({ type: register ? 'auth:register' : 'auth:login', user, password });
      case 'auth:ok':
        this.#ready = { ...this.#ready!, user: msg.user };
        this.#tokens = msg.type === 'auth:ok' ? this.#ready.limits.maxMessageRate : 0;
        this.#tokensAt = performance.now();
        this.emit('ready', this.#ready);
        return done(this.#ready);
      case 'error':
        return fail(new ProtocolError(isCode(msg.code) ? msg.code : 'internal', msg.message));
      default:
        return; // nothing else is expected before login; ignore rather than guess
    }
  }

  #dispatch(msg: ServerMessage): void {
    switch (msg.type) {
      case 'chat:message':
        return void this.emit('message', msg);
      case 'chat:ack':
        this.#outbox.delete(msg.id);
        this.emit('ack', { id: msg.id, messageId: msg.messageId, ts: msg.ts });
        return this.#wakeDrainWaiters();
      case 'presence':
        this.#online = new Set(msg.online);
        // The first full list is the login one (it follows history:end); later ones answer `who`.
        if (!this.#historyDone) this.#historyDone = true;
        else if (this.#whoPending > 0) this.#whoPending--;
        this.#emitPresence();
        return this.#wakeDrainWaiters();
      case 'presence:joined':
        this.#online.add(msg.user);
        return this.#emitPresence();
      case 'presence:left':
        this.#online.delete(msg.user);
        return this.#emitPresence();
      case 'history:end':
        this.emit('history:end', msg.count);
        return; // done once the login presence that follows has arrived
      case 'error':
        if (msg.ref !== undefined) this.#outbox.delete(msg.ref); // that send failed for good: it will not be acked
        this.emit('error', { code: msg.code, message: msg.message, ...(msg.ref === undefined ? {} : { ref: msg.ref }) });
        return this.#wakeDrainWaiters();
      default:
        return;
    }
  }

  /** Emits the whole online list, whatever changed: consumers never apply deltas themselves. */
  #emitPresence(): void {
    this.emit('presence', this.online);
  }

  #write(frame: object): void {
    if (this.#ws?.readyState === WebSocket.OPEN) this.#ws.send(JSON.stringify(frame));
  }

  /** Any frame or ping proves the coordinator alive; silence past SILENCE_MS means it is not. */
  #heard(): void {
    clearTimeout(this.#silence);
    this.#silence = setTimeout(() => {
      this.#opts.log.warn('coordinator silent: dropping the connection');
      this.#ws?.terminate();
    }, SILENCE_MS);
    this.#silence.unref();
  }

  #wakeDrainWaiters(): void {
    if (!this.#idle()) return;
    for (const w of this.#drainWaiters.splice(0)) w();
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_CODES, code);
}
