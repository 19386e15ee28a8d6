import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import { WebSocket } from '../protocol/ws.js';
import type { Logger } from 'pino';
import { ServerMessage, type ChatMessage, type ClientMessage, type RoomFrame, type StatusValue } from '../protocol/messages.js';
import { DEFAULT_LIMITS, type Limits, type UserStatus } from '../protocol/limits.js';
import { ProtocolError, type ErrorCode, ERROR_CODES } from '../protocol/errors.js';
import { ClientCore, RETRY_MAX_MS, RETRY_MIN_MS } from '../core/client-core.js';
import { fetchStatus } from '../discovery/status.js';
import { FileTransfers, type FileProgress, type FileSent, type ReceivedFile } from './file-transfer.js';
import type { TLSSocket } from 'node:tls';
import { clientOptions, presentedIdentity, proofOver, type PresentedIdentity } from '../trust/tls.js';
import { judge } from '../trust/pin.js';
import type { PasswordProof } from '../trust/cpace.js';

const CONNECT_TIMEOUT_MS = 5_000; // first connection: TCP + WebSocket handshake on a LAN
const FAILOVER_CONNECT_TIMEOUT_MS = 700; // during a failover, a candidate that is this slow is skipped for now
const WELCOME_MS = 3_000; // a node sends `welcome` at once: one that has not by then is skipped (issue #11)
const LOGIN_MS = 15_000; // a login waits for bcrypt behind others (64 queued × 0.23 s / 2 workers ≈ 7 s); never longer
const RESUME_MS = 3_000; // a resume costs one HMAC
const SUSPECT_MS = 1_000; // the coordinator pings every 500 ms: after this much silence, ask its successor whether it took over
const SUSPECT_PROBE_MS = 300;
const SILENCE_MS = 3_000; // …and after this much, presume it gone (DESIGN §4)
const MAX_SERVER_FRAME = 8 * 1024 * 1024; // bytes: a server frame larger than this is hostile
const RECONNECT_SPREAD_PER_USER_MS = 1; // after a coordinator is lost, first attempts spread over 1 ms per user online…
const RECONNECT_SPREAD_MAX_MS = 1_000; // …and never more than this (DESIGN §4)
/** Searches a first connect makes when all it found impersonate the network (see connect). */
const MAX_SEARCHES = 3;
const RECONNECT_TIMEOUT_MS = 60_000; // give up (and report `disconnected`) after this long without a coordinator
const MAX_REDIRECTS = 5;
/** What a node may send at each step of the handshake (an error or a redirect at any): nothing else is followed. */
const IN_TURN = { welcome: ['welcome'], network: ['network:proof'], confirmed: ['network:ok'], auth: ['auth:ok'] } as const satisfies Record<string, readonly string[]>;

export interface ChatClientOptions {
  /** `host:port` of the coordinator, when known. */
  address?: string;
  /**
   * The network this client means to join: a node of another network is refused (its name is part of what
   * is trusted: a pin is for one network). Without it, the first node's network is taken and then kept.
   */
  network?: string;
  /** Finds coordinator addresses (mDNS, remembered ones), for the first connection and failovers. */
  discover?: () => Promise<string[]>;
  user: string;
  password: string;
  /** Create the account first (then log in). */
  register?: boolean;
  networkPassword?: string;
  log: Logger;
  connectTimeoutMs?: number;
  reconnectTimeoutMs?: number;
  /** The local address to connect from (a machine with several; a bench giving each client its own loopback address). */
  localAddress?: string;
  /** How long a node may take to answer a login (a resume: a fifth of it, at least 1 s). */
  loginTimeoutMs?: number;
  /** Where files sent to this user are saved; without it, files are refused. */
  downloadDir?: string;
  /**
   * The network identities this machine trusts (network name → authority PEM; see readPins), and how to
   * pin a new one (after the first login on a network never met). Without `pins`, any identity is taken
   * (tests that speak to a node they built).
   */
  trust?: { pins: Map<string, string>; pin?: (network: string, authorityPem: string) => Promise<void>; forgetHint?: (network: string) => string };
}

/** What the client knows once logged in. */
export interface Ready {
  user: string;
  coordinator: string;
  network: string;
  protocol: number;
  /** As the coordinator announced them (absent from one that predates them: `maxFileBytes`, the room limits). */
  limits: Omit<Limits, 'maxFileBytes' | 'maxRooms' | 'maxRoomMembers'> & Partial<Pick<Limits, 'maxFileBytes' | 'maxRooms' | 'maxRoomMembers'>>;
  /** Present after a failover or reconnect. */
  resumed?: boolean;
  /** The network's short code (its authority's), for people to compare. */
  identity?: string;
}

/** A server-reported or local error, with a catalogue code. */
export interface ClientError {
  code: ErrorCode | string;
  message: string;
  /** The client id of the send it concerns, if any. */
  ref?: string;
}

export interface ChatClientEvents {
  /** Logged in (again, after a failover); emitted before any replayed message. */
  ready: [Ready];
  /** The coordinator is gone; the client is looking for its successor. */
  reconnecting: [{ from: string }];
  message: [ChatMessage];
  ack: [{ id: string; messageId: string; ts: number }];
  /** The whole online list, and the statuses of those online who set one other than plain online. */
  presence: [string[], Readonly<Record<string, StatusValue>>];
  'history:end': [number];
  /** Who coordinates and who is next: worth remembering for when discovery finds nothing. */
  /** `leaving`: the coordinator is handing off now (a planned move). */
  succession: [{ term: number; coordinator: { id: string; address: string }; standbys: { id: string; address: string }[]; leaving: boolean }];
  error: [ClientError];
  /** A file going out or coming in moved on (at most every 250 ms per file). */
  'file:progress': [FileProgress];
  /** A file we sent is saved by (some of) its recipients. */
  'file:sent': [FileSent];
  /** A file sent to us is saved and verified. */
  file: [ReceivedFile];
  /** A file sent to us was interrupted or damaged: nothing was saved under its name. */
  'file:failed': [{ id: string; from: string; name: string; reason: string }];
  /** The replay holds the newest only: older messages (that it may have missed) did not fit, or are no longer kept. */
  gap: [{ count: number }];
  /** Gave up: no coordinator within the reconnect timeout, or login refused. */
  close: [{ code: number; reason: string }];
  /** A room as it is now: at login (each of ours), on every change of its members or topic, and as an answer. */
  room: [RoomFrame];
  /** Someone invited us into a room. */
  invited: [{ room: string; by: string }];
}

/** A room request as sent (`id` added by `room()`). */
export type RoomRequestFrame = DistributiveOmit<Extract<ClientMessage, { type: `room:${string}` }>, 'id'>;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

type Attempt = { ok: true } | { ok: false; redirect?: string | null; error: ProtocolError };

/** Names in the order people read them (one collator: `localeCompare` builds one per call). */
const byName = new Intl.Collator();

/** A node that is starting knows no coordinator yet: the client waits for it (issue #11). */
const STARTING = 'starting';

/**
 * The one client library (DESIGN §8): connects, authenticates, sends with an
 * outbox of unacknowledged messages, follows the succession list when the
 * coordinator goes away (resuming with a token, no password, no bcrypt),
 * resends what was not acknowledged, and delivers each message once.
 */
export class ChatClient extends EventEmitter<ChatClientEvents> {
  readonly #opts: ChatClientOptions;
  /** The decision logic: outbox, ids seen, resume cursor, handshake, where to go next. */
  readonly #core: ClientCore;
  #online = new Set<string>();
  #ws: WebSocket | undefined;
  #silence: NodeJS.Timeout | undefined;
  #suspect: NodeJS.Timeout | undefined;
  #heardAt = 0;
  #term = 0;
  #ready: Ready | undefined;
  /** The identity the coordinator of this connection presented. */
  #identity: PresentedIdentity | undefined;
  /** The network this client is of: as asked, or the first one met. */
  #network: string | undefined;
  /** The pin being written: a client closing waits for it. */
  #pinning: Promise<void> = Promise.resolve();
  /** An identity met for the first time, pinned once the login there succeeds. */
  #firstContact: { network: string; authorityPem: string } | undefined;
  #drainWaiters: (() => void)[] = [];
  #closed = false;
  #reconnecting = false;
  /** Sends waiting for a token: the client paces itself to the coordinator's announced rate. */
  readonly #paced: string[] = [];
  #tokens = 0;
  #tokensAt = 0;
  #paceTimer: NodeJS.Timeout | undefined;
  /** Ends the wait between reconnection rounds early (on close). */
  #wakeBackoff: (() => void) | undefined;
  #historyDone = false;
  #whoPending = 0;
  readonly #files: FileTransfers;

  constructor(options: ChatClientOptions) {
    super();
    this.#opts = options;
    this.#network = options.network;
    this.#core = new ClientCore({
      user: options.user,
      password: options.password,
      ...(options.register ? { register: true } : {}),
      ...(options.networkPassword === undefined ? {} : { networkPassword: options.networkPassword }),
    });
    this.#files = new FileTransfers(
      {
        send: (frame) => this.#write(frame),
        sendBinary: (data, written) => {
          if (this.#ws?.readyState !== WebSocket.OPEN) return false;
          this.#ws.send(data, { binary: true }, written);
          return true;
        },
        buffered: () => this.#ws?.bufferedAmount ?? 0,
        maxFileBytes: () => this.#ready?.limits.maxFileBytes,
        log: options.log,
        progress: (p) => this.emit('file:progress', p),
        sent: (f) => {
          this.emit('file:sent', f);
          this.#wakeDrainWaiters();
        },
        uploadFailed: (id, err) => {
          this.emit('error', { code: err.code, message: err.message, ref: id });
          this.#wakeDrainWaiters();
        },
        received: (f) => this.emit('file', f),
        receiveFailed: (f) => this.emit('file:failed', f),
      },
      options.downloadDir,
    );
  }

  get ready(): Ready | undefined {
    return this.#ready;
  }

  /** Messages sent but not yet acknowledged. */
  get pending(): number {
    return this.#core.outbox.size;
  }

  /** The users online now, sorted. */
  get online(): string[] {
    return [...this.#online].sort(byName.compare);
  }

  /**
   * Connects and logs in (registering first with `register`). Rejects with a
   * `ProtocolError` (`connection_failed`, `network_password`, `auth_failed`,
   * `username_taken`, …) when that fails.
   */
  async connect(): Promise<Ready> {
    const discover = this.#opts.address ? undefined : this.#opts.discover;
    let candidates = this.#opts.address ? [this.#opts.address] : await (discover?.() ?? Promise.resolve([]));
    if (candidates.length === 0) throw new ProtocolError('connection_failed', 'no coordinator address to connect to');
    const deadline = Date.now() + (this.#opts.reconnectTimeoutMs ?? RECONNECT_TIMEOUT_MS);
    let delay = RETRY_MIN_MS;
    let searches = 1;
    for (;;) {
      let last: ProtocolError = new ProtocolError('connection_failed', 'no coordinator answered');
      let starting = false;
      for (const first of candidates) {
        const r = await this.#follow(first, this.#opts.connectTimeoutMs ?? CONNECT_TIMEOUT_MS);
        if (r.ok) return this.#ready!;
        // A node impersonating the network is said, whatever else failed: it is what the user must hear.
        if (r.error.code === 'identity_changed' || last.code !== 'identity_changed') last = r.error;
        if (r.error.message === STARTING) starting = true;
        if (this.#core.isFinal(r.error.code) || r.error.code === 'rate_limited') throw r.error;
      }
      // A node that is still deciding its role will have one shortly: wait for it, within the reconnect timeout.
      // Everything found by discovery impersonating the network (a rogue that answered first, claiming a high
      // term, while the real nodes' answers were still on their way): search again, a few times.
      const again = discover !== undefined && last.code === 'identity_changed' && searches < MAX_SEARCHES;
      if ((!starting && !again) || Date.now() + delay > deadline || this.#closed) throw starting ? new ProtocolError('connection_failed', 'the node is still starting: no coordinator yet') : last;
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, RETRY_MAX_MS);
      if (again) {
        searches++;
        const found = await discover().catch(() => []);
        if (found.length > 0) candidates = found;
      }
    }
  }

  /** Queues a message; returns its client id. `to` empty = everyone; `room`: to a room's members (then `to` is empty). */
  send(text: string, to: readonly string[] = [], id: string = randomUUID(), room?: string): string {
    // Checked here against the announced limits: the coordinator could only refuse the frame, not say which send it was.
    const limits = this.#ready?.limits ?? DEFAULT_LIMITS;
    const refusal =
      text.length === 0
        ? new ProtocolError('invalid_message', 'a message needs some text')
        : text.length > limits.maxTextChars
          ? new ProtocolError('text_too_long', `the text is ${text.length} characters; the limit is ${limits.maxTextChars}`)
          : to.length > limits.maxRecipients
            ? new ProtocolError('too_many_recipients', `${to.length} recipients; the limit is ${limits.maxRecipients}`)
            : undefined;
    if (refusal !== undefined) {
      // After the caller has the id (it may correlate the error with its own).
      queueMicrotask(() => {
        this.emit('error', { code: refusal.code, message: refusal.message, ref: id });
        this.#wakeDrainWaiters();
      });
      return id;
    }
    this.#core.queue(id, text, to, room);
    this.#paced.push(id);
    this.#pump();
    return id;
  }

  /**
   * Asks something of a room (join, create, invite, leave, remove, op, topic); returns its id. A `room` event
   * with this id answers it, or an `error` with it as `ref`. Not resent after a failover: ask again then.
   */
  room(request: RoomRequestFrame, id: string = randomUUID()): string {
    if (this.#ws?.readyState !== WebSocket.OPEN) {
      queueMicrotask(() => this.emit('error', { code: 'disconnected', message: 'not connected to the coordinator now: ask again once it is back', ref: id }));
      return id;
    }
    this.#roomAsks.add(id);
    this.#write({ ...request, id });
    return id;
  }

  /** Says what this user is (online, away, busy, do not disturb), with an optional text; everyone online sees it. */
  setStatus(status: UserStatus, text = ''): void {
    this.#write({ type: 'status:set', status, text });
  }

  /** Statuses by name as the coordinator last told them. */
  readonly #statuses = new Map<string, StatusValue>();

  /** Room requests not answered yet (drained() waits for them). */
  readonly #roomAsks = new Set<string>();

  /**
   * Sends the file at `path` to `to` (empty = everyone online); returns its id.
   * Progress, then `file:sent` or an `error` with this id as `ref`, follow.
   */
  sendFile(path: string, to: readonly string[] = [], id: string = randomUUID()): string {
    this.#files.send(path, [...to], id);
    return id;
  }

  /** Asks for the online list; the answer arrives as a `presence` event. */
  who(): void {
    this.#whoPending++;
    this.#write({ type: 'presence:get' });
  }

  /**
   * Resolves once the login replay has arrived, every `who` is answered and
   * every sent message is acknowledged or failed (or the client gave up).
   */
  drained(): Promise<void> {
    if (this.#idle()) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  /** Closes the connection. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#silence);
    clearTimeout(this.#suspect);
    clearTimeout(this.#paceTimer);
    this.#wakeBackoff?.();
    this.#files.interrupt('the client was closed');
    const ws = this.#ws;
    this.#wakeDrainWaiters();
    const cleaned = this.#files.cleanedUp(); // no temporary file of an unfinished download is left behind
    if (ws !== undefined && ws.readyState !== WebSocket.CLOSED) {
      await new Promise<void>((resolve) => {
        ws.once('close', () => resolve());
        ws.close(1000, 'bye');
        setTimeout(() => (ws.terminate(), resolve()), 1_000).unref();
      });
    }
    await cleaned;
    await this.#pinning;
  }

  /**
   * Whether the node at `address` may be spoken to, by the network identity its TLS certificate shows:
   * the one pinned for `network` (trust on first use, as SSH does), or, never met, any lanchat node's (to
   * be pinned at the first login). A changed identity is refused loudly before anything is sent.
   */
  #judge(address: string, announced: string, tls: TLSSocket | undefined): ProtocolError | undefined {
    const presented = tls === undefined ? undefined : presentedIdentity(tls);
    this.#identity = presented;
    const network = this.#network ?? announced;
    if (announced !== network) return new ProtocolError('connection_failed', `the node at ${address} is of network "${announced}", not "${network}": not connecting (nothing was sent to it)`);
    this.#network = network; // a client that met a network stays with it (failovers included)
    const trust = this.#opts.trust;
    if (trust === undefined) return undefined;
    const verdict = judge(trust.pins.get(network), presented);
    switch (verdict.kind) {
      case 'trusted':
        return undefined;
      case 'first-contact':
        this.#firstContact = { network, authorityPem: verdict.presented.authorityPem };
        return undefined;
      case 'not-lanchat':
        return new ProtocolError('identity_changed', `the node at ${address} shows no lanchat network identity: not connecting (nothing was sent to it)`);
      case 'changed': {
        const hint = trust.forgetHint?.(network) ?? `remove this machine's record of network "${network}"`;
        return new ProtocolError(
          'identity_changed',
          `network "${network}" at ${address} shows the identity ${verdict.presented.code}, not ${verdict.knownCode} as before: someone may be impersonating it, so nothing was sent. Compare the code with the network's people; if the network was really made anew, ${hint} and connect again`,
        );
      }
    }
  }

  // ---- connecting ----

  /** Tries `address`, following redirects to the coordinator. A node that does not know one yet ends it with STARTING. */
  async #follow(address: string, timeoutMs: number): Promise<Attempt> {
    let target: string | null = address;
    let result: Attempt = { ok: false, error: new ProtocolError('connection_failed', `could not connect to ${address}`) };
    for (let hops = 0; target !== null && hops < MAX_REDIRECTS; hops++) {
      result = await this.#attempt(target, timeoutMs);
      if (result.ok || result.redirect === undefined) return result;
      target = result.redirect;
      if (target === null) return { ok: false, error: new ProtocolError('connection_failed', STARTING) };
    }
    return result;
  }

  /**
   * One connection: welcome, network password, login (or resume), each phase
   * with a deadline (TCP and upgrade, then `welcome`, then the login's answer):
   * a node that accepts and says nothing never holds the client (issue #11).
   */
  #attempt(address: string, timeoutMs: number): Promise<Attempt> {
    const { log } = this.#opts;
    return new Promise<Attempt>((resolve) => {
      let settled = false;
      let phase: NodeJS.Timeout | undefined;
      const settle = (r: Attempt): void => {
        if (settled) return;
        settled = true;
        clearTimeout(phase);
        if (!r.ok) ws.terminate();
        resolve(r);
      };
      const deadline = (ms: number, what: string): void => {
        clearTimeout(phase);
        phase = setTimeout(() => settle({ ok: false, error: new ProtocolError('connection_failed', `${address} ${what} within ${ms / 1000} s`) }), ms);
      };
      const ws = new WebSocket(`wss://${address}`, { handshakeTimeout: timeoutMs, maxPayload: MAX_SERVER_FRAME, perMessageDeflate: false, ...clientOptions(undefined), ...(this.#opts.localAddress !== undefined ? { localAddress: this.#opts.localAddress } : {}) });
      let tls: TLSSocket | undefined;
      let proof: PasswordProof | undefined;
      let stage: keyof typeof IN_TURN = 'welcome';
      ws.on('upgrade', (res) => void (tls = res.socket as TLSSocket));
      ws.on('open', () => deadline(WELCOME_MS, 'sent no welcome'));
      ws.on('error', (err) => {
        log.debug({ err, address }, 'socket error');
        settle({ ok: false, error: new ProtocolError('connection_failed', `could not connect to ${address}: ${err.message}`) });
      });
      ws.on('ping', () => ws === this.#ws && this.#heard());
      ws.on('close', (code, reasonBuf) => {
        const reason = reasonBuf.toString();
        // Normally an error frame came first and settled this; the close reason is the fallback.
        const wrongPassword = code === 1008 && /network password/.test(reason);
        settle({ ok: false, error: new ProtocolError(wrongPassword ? 'network_password' : 'connection_failed', reason || `connection to ${address} closed (${code})`) });
        if (ws === this.#ws) this.#lost(address);
      });
      ws.on('message', (data, isBinary) => {
        if (isBinary) {
          // File data; nothing else comes in binary frames.
          if (settled && ws === this.#ws) {
            this.#heard();
            this.#files.onData(Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data));
          }
          return;
        }
        const result = ServerMessage.safeParse(safeJson(data.toString()));
        if (!result.success) {
          log.warn({ issues: result.error.issues.slice(0, 3) }, 'ignoring an invalid frame from the coordinator');
          return;
        }
        const msg = result.data;
        if (settled) {
          if (ws === this.#ws) {
            this.#heard();
            this.#dispatch(msg);
          }
          return;
        }
        // Each frame in its turn: a node that skips a step (a login answered before its welcome was judged,
        // `network:ok` before the password was proved) is refused, never followed.
        if (msg.type !== 'error' && msg.type !== 'redirect' && !(IN_TURN[stage] as readonly string[]).includes(msg.type)) {
          return settle({ ok: false, error: new ProtocolError('connection_failed', `the node at ${address} sent ${msg.type} out of turn: not connecting (nothing more was sent to it)`) });
        }
        if (msg.type === 'welcome') {
          const refusal = this.#judge(address, msg.network, tls);
          if (refusal !== undefined) return settle({ ok: false, error: refusal });
          this.#ready = { user: this.#core.user, coordinator: address, network: msg.network, protocol: msg.protocol, limits: msg.limits, ...(this.#identity ? { identity: this.#identity.code } : {}) };
        }
        if (msg.type === 'network:proof') {
          // The coordinator's proof that it knows the network password: checked before anything more is sent.
          const confirm = proof?.check(Buffer.from(msg.share, 'base64'), Buffer.from(msg.confirm, 'base64'));
          if (confirm === undefined) {
            return settle({ ok: false, error: new ProtocolError('network_password', `the network password does not match the one of the network at ${address}: a wrong password, or a coordinator that is not your network's (nothing more was sent to it)`) });
          }
          stage = 'confirmed';
          return void ws.send(JSON.stringify({ type: 'network:confirm', confirm: confirm.toString('base64') }));
        }
        const step = this.#core.handshake(msg);
        if (step.prove !== undefined) {
          if (tls === undefined) return settle({ ok: false, error: new ProtocolError('connection_failed', `${address}: no TLS session to prove the network password in`) });
          proof = proofOver(tls, step.prove.password, 'network password', step.prove.network);
          stage = 'network';
          ws.send(JSON.stringify({ type: 'network:auth', share: proof.share.toString('base64') }));
        }
        for (const f of step.send) {
          ws.send(JSON.stringify(f));
          const type = (f as { type: string }).type;
          const login = this.#opts.loginTimeoutMs ?? LOGIN_MS;
          if (type.startsWith('auth:')) stage = 'auth';
          if (type === 'auth:resume') deadline(Math.min(RESUME_MS, Math.max(1_000, login / 5)), 'did not answer the resume');
          else if (type.startsWith('auth:')) deadline(login, 'did not answer the login');
        }
        if (step.done === undefined) return;
        if (!step.done.ok) {
          const code = isCode(step.done.code) ? step.done.code : 'internal';
          return settle({ ok: false, ...(step.done.redirect === undefined ? {} : { redirect: step.done.redirect }), error: new ProtocolError(code, step.done.message) });
        }
        this.#ws = ws;
        if (this.#firstContact !== undefined) {
          // Trust on first use: the identity met at the first login on this network is the one from now on.
          const { network, authorityPem } = this.#firstContact;
          this.#opts.trust?.pins.set(network, authorityPem);
          const pinned = this.#opts.trust?.pin?.(network, authorityPem);
          if (pinned) this.#pinning = pinned.catch((err: unknown) => this.#opts.log.warn({ err }, 'could not keep the network identity'));
          this.#firstContact = undefined;
        }
        this.#historyDone = false;
        this.#whoPending = 0;
        this.#term = 0;
        this.#ready = { ...this.#ready!, user: step.done.user, ...(step.done.resumed ? { resumed: true } : {}) };
        this.#tokens = this.#ready.limits.maxMessageRate;
        this.#tokensAt = performance.now();
        this.#reconnecting = false;
        this.#heard();
        settle({ ok: true });
        this.emit('ready', this.#ready);
        // Resend what the last coordinator never acknowledged; the new one drops what it already has (DESIGN §5).
        this.#paced.splice(0, this.#paced.length, ...this.#core.resend());
        this.#pump();
      });
    });
  }

  /** The coordinator went away: find its successor (DESIGN §4.3) and resume there. */
  #lost(from: string): void {
    clearTimeout(this.#silence);
    clearTimeout(this.#suspect);
    this.#ws = undefined;
    this.#core.lost();
    this.#files.interrupt('the connection to the coordinator was lost');
    for (const id of this.#roomAsks) this.emit('error', { code: 'disconnected', message: 'the connection to the coordinator was lost before it answered: ask again once it is back', ref: id });
    this.#roomAsks.clear();
    if (this.#closed || this.#reconnecting) return;
    this.#reconnecting = true;
    this.emit('reconnecting', { from });
    void this.#reconnect(from);
  }

  async #reconnect(from: string): Promise<void> {
    const deadline = Date.now() + (this.#opts.reconnectTimeoutMs ?? RECONNECT_TIMEOUT_MS);
    let delay = RETRY_MIN_MS;
    // Everyone lost the coordinator at once: each comes back at a random moment of a window as wide as
    // the crowd is large, so the successor meets a stream of handshakes, not all of them in one instant.
    const spread = Math.min(RECONNECT_SPREAD_MAX_MS, this.#online.size * RECONNECT_SPREAD_PER_USER_MS);
    if (spread > 0) await this.#pause(Math.random() * spread);
    while (!this.#closed && Date.now() < deadline) {
      // Successors first (in order), the lost coordinator last (it may come back), then anything discovered.
      const discovered = this.#opts.discover ? await this.#opts.discover().catch(() => []) : [];
      for (const address of this.#core.candidates(from, discovered)) {
        if (this.#closed) return;
        const r = await this.#follow(address, FAILOVER_CONNECT_TIMEOUT_MS);
        if (r.ok) return;
        this.#opts.log.debug({ address, code: r.error.code, reason: r.error.message }, 'failover candidate did not take us');
        // A wrong password after a session worked means a node that does not know the account yet: go on trying.
        if (this.#core.isFinal(r.error.code) || r.error.code === 'network_password') return this.#giveUp(r.error.message);
      }
      await this.#pause(delay);
      delay = Math.min(delay * 2, RETRY_MAX_MS);
    }
    this.#giveUp(`no coordinator found within ${Math.round((this.#opts.reconnectTimeoutMs ?? RECONNECT_TIMEOUT_MS) / 1000)} s (tried ${this.#core.succession.join(', ') || from})`);
  }

  /** Waits `ms`, or until the client is closed. */
  async #pause(ms: number): Promise<void> {
    // Not unref'd: a client looking for its coordinator is alive (a script whose input has ended waits for its acks).
    await new Promise<void>((r) => {
      const timer = setTimeout(r, ms);
      this.#wakeBackoff = () => (clearTimeout(timer), r());
    });
    this.#wakeBackoff = undefined;
  }

  #giveUp(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.emit('close', { code: 1006, reason });
    this.#wakeDrainWaiters();
  }

  // ---- traffic ----

  #dispatch(msg: ServerMessage): void {
    switch (msg.type) {
      case 'file:accepted':
      case 'file:credit':
      case 'file:sent':
      case 'file:start':
      case 'file:end':
      case 'file:abort':
        return this.#files.onFrame(msg);
      case 'redirect':
        return; // the close that follows starts the reconnection, which follows it
      case 'error':
        if (msg.ref !== undefined && this.#files.onError(msg.ref, new ProtocolError(isCode(msg.code) ? msg.code : 'file_failed', msg.message))) return;
        break;
      case 'succession':
        this.#term = Math.max(this.#term, msg.term);
        this.#opts.log.debug({ succession: msg, leaving: msg.leaving }, 'succession');
        break;
      case 'presence:status':
        this.#statuses.set(msg.user, { status: msg.status, text: msg.text });
        return this.#emitPresence();
      case 'presence:joined':
        if (msg.status !== undefined) this.#statuses.set(msg.user, msg.status);
        else this.#statuses.delete(msg.user);
        break;
      case 'presence:left':
        this.#statuses.delete(msg.user);
        break;
      case 'presence':
        this.#statuses.clear();
        for (const [name, st] of Object.entries(msg.status ?? {})) this.#statuses.set(name, st);
        break;
      case 'room':
        this.emit('room', msg);
        if (msg.id !== undefined && this.#roomAsks.delete(msg.id)) this.#wakeDrainWaiters();
        return;
      case 'room:invited':
        return void this.emit('invited', { room: msg.room, by: msg.by });
      default:
        break;
    }
    const ev = this.#core.receive(msg);
    if (ev === undefined) return;
    switch (ev.type) {
      case 'message':
        return void this.emit('message', ev.message);
      case 'ack':
        this.emit('ack', { id: ev.id, messageId: ev.messageId, ts: ev.ts });
        return this.#wakeDrainWaiters();
      case 'presence':
        if (ev.full) {
          this.#online = new Set(ev.online);
          // The first full list is the login one (it follows history:end); later ones answer `who`.
          if (!this.#historyDone) this.#historyDone = true;
          else if (this.#whoPending > 0) this.#whoPending--;
        } else if (msg.type === 'presence:joined') this.#online.add(ev.online[0]!);
        else this.#online.delete(ev.online[0]!);
        this.#emitPresence();
        return this.#wakeDrainWaiters();
      case 'history:end':
        if (ev.gap) this.emit('gap', { count: ev.count });
        return void this.emit('history:end', ev.count);
      case 'succession':
        return void this.emit('succession', { term: ev.term, coordinator: ev.coordinator, standbys: ev.standbys, leaving: ev.leaving });
      case 'error':
        if (ev.ref !== undefined) this.#roomAsks.delete(ev.ref);
        this.emit('error', { code: ev.code, message: ev.message, ...(ev.ref === undefined ? {} : { ref: ev.ref }) });
        return this.#wakeDrainWaiters();
    }
  }

  /** Writes paced sends as tokens allow (burst = the announced rate, refilled at 90 % of it for safety). */
  #pump(): void {
    if (this.#ws?.readyState !== WebSocket.OPEN) return; // resent on the next login
    const rate = this.#ready?.limits.maxMessageRate ?? 20;
    const now = performance.now();
    this.#tokens = Math.min(rate, this.#tokens + ((now - this.#tokensAt) / 1000) * rate * 0.9);
    this.#tokensAt = now;
    while (this.#paced.length > 0 && this.#tokens >= 1) {
      const id = this.#paced.shift()!;
      const frame = this.#core.sendFrame(id);
      if (frame === undefined) continue;
      this.#tokens -= 1;
      this.#write(frame);
    }
    if (this.#paced.length > 0 && this.#paceTimer === undefined) {
      this.#paceTimer = setTimeout(
        () => {
          this.#paceTimer = undefined;
          this.#pump();
        },
        Math.ceil(((1 - this.#tokens) / (rate * 0.9)) * 1000),
      );
    }
  }

  #idle(): boolean {
    return this.#closed || (this.#core.outbox.size === 0 && this.#roomAsks.size === 0 && this.#files.uploading === 0 && this.#historyDone && this.#whoPending === 0 && !this.#reconnecting);
  }

  /** Emits the whole online list, whatever changed: consumers never apply deltas themselves. */
  #emitPresence(): void {
    // Sorted only for someone who listens: a failover brings one change per user who comes back.
    if (this.listenerCount('presence') === 0) return;
    const online = this.online;
    const status: Record<string, StatusValue> = {};
    for (const name of online) {
      const st = this.#statuses.get(name);
      if (st !== undefined && (st.status !== 'online' || st.text !== '')) status[name] = st;
    }
    this.emit('presence', online, status);
  }

  #write(frame: object): boolean {
    if (this.#ws?.readyState !== WebSocket.OPEN) return false;
    this.#ws.send(JSON.stringify(frame));
    return true;
  }

  /**
   * Any frame or ping proves the coordinator alive. After SUSPECT_MS of
   * silence the client asks the first successor whether it took over (a frozen
   * or cut-off coordinator) and goes to it at once if so; after SILENCE_MS it
   * presumes the coordinator gone whatever the successor says.
   */
  #heard(): void {
    this.#heardAt = performance.now();
    clearTimeout(this.#silence);
    clearTimeout(this.#suspect);
    this.#silence = setTimeout(() => this.#drop('coordinator silent: dropping the connection'), SILENCE_MS);
    this.#silence.unref();
    this.#suspect = setTimeout(() => void this.#checkSuccessor(), SUSPECT_MS);
    this.#suspect.unref();
  }

  async #checkSuccessor(): Promise<void> {
    const ws = this.#ws;
    const next = this.#core.succession[0];
    if (ws === undefined || next === undefined || next === this.#ready?.coordinator) return;
    const st = await fetchStatus(next, SUSPECT_PROBE_MS);
    if (ws !== this.#ws || performance.now() - this.#heardAt < SUSPECT_MS) return;
    if (st?.role === 'coordinator' && st.term > this.#term) return this.#drop(`the successor ${next} took over (term ${st.term})`);
    this.#suspect = setTimeout(() => void this.#checkSuccessor(), 200);
    this.#suspect.unref();
  }

  #drop(why: string): void {
    const ws = this.#ws;
    if (!ws) return;
    this.#opts.log.warn(why);
    this.#lost(this.#ready?.coordinator ?? 'the coordinator');
    ws.terminate();
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
