import { EventEmitter } from 'node:events';
import type { TLSSocket } from 'node:tls';
import { WebSocket } from '../protocol/ws.js';
import type { Logger } from 'pino';
import { ServerMessage, type ClientMessage } from '../protocol/messages.js';
import type { LinkEnd } from '../core/role.js';
import { clientOptions, presentedIdentity, proofOver } from '../trust/tls.js';
import type { KeyPair } from '../trust/identity.js';
import { sameAuthority } from '../trust/pin.js';
import type { PasswordProof } from '../trust/cpace.js';
import type { NodeIdentity } from '../trust/node-identity.js';

/** The coordinator pings its standbys every 200 ms: 1 s of silence (5 missed) and it is presumed dead (DESIGN §4.4). */
export const LINK_SILENCE_MS = 1_000;
/** TCP and the WebSocket upgrade must be done by then. */
const CONNECT_TIMEOUT_MS = 1_000;
const MAX_FRAME = 8 * 1024 * 1024; // bytes: catch-up frames are up to ~1 MiB
/** What a coordinator may send before it is known to be of our network. */
const HANDSHAKE = new Set(['welcome', 'network:proof', 'network:ok', 'peer:join-proof', 'peer:admit', 'error', 'redirect']);
/** Close codes a coordinator uses when it drops a standby on purpose (it is alive): replaced, silent. */
const DROPPED = new Set([4002, 4003]);

export interface StandbyLinkOptions {
  address: string;
  /** This node's network id: its certificate is presented to the coordinator, whose own must be from its authority. */
  identity: NodeIdentity;
  /** This node's id, for `peer:join`. */
  id: string;
  networkPassword?: string;
  /** Proved (`peer:join`) by a node not yet of the network, to be admitted; never sent. */
  nodePassword?: string;
  silenceMs?: number;
}

/**
 * The standby side of replication (DESIGN §5): a standby's connection to its
 * coordinator, as the core (src/core/node-core.ts) drives it. It does the
 * handshake: the network password proved (CPace), then the coordinator's
 * certificate checked against this node's network authority. A node not yet of
 * any network (its identity its own) proves the node password instead
 * (`peer:join`) and is given the network's authority (`admit`); a member never
 * follows a coordinator of another authority. It reports frames and the end —
 * closed, silent, or dropped on purpose by a coordinator that lives.
 */
export class StandbyLink extends EventEmitter<{ ready: []; frame: [ServerMessage]; end: [LinkEnd]; admit: [KeyPair] }> {
  readonly #opts: StandbyLinkOptions;
  readonly #log: Logger;
  #ws: WebSocket | undefined;
  #silence: NodeJS.Timeout | undefined;
  #ended = false;
  #tls: TLSSocket | undefined;
  #proof: PasswordProof | undefined;
  /** Which password is being proved now, and which were (in this TLS session). */
  #proving: 'network password' | 'node password' | undefined;
  readonly #proved = new Set<'network password' | 'node password'>();
  #welcomed = false;
  /** The coordinator is of our network: its frames count. */
  #ready = false;
  #network = '';

  constructor(log: Logger, options: StandbyLinkOptions) {
    super();
    this.#log = log;
    this.#opts = options;
  }

  start(): void {
    const ws = new WebSocket(`wss://${this.#opts.address}`, { handshakeTimeout: CONNECT_TIMEOUT_MS, maxPayload: MAX_FRAME, perMessageDeflate: false, ...clientOptions(undefined, this.#opts.identity.node) });
    this.#ws = ws;
    ws.on('upgrade', (res) => void (this.#tls = res.socket as TLSSocket));
    ws.on('error', (err) => this.#log.debug({ err }, 'standby link error'));
    ws.on('ping', () => this.#heard());
    ws.on('open', () => this.#heard());
    ws.on('close', (code) => this.#end({ kind: 'lost', succession: undefined, reason: DROPPED.has(code) ? 'dropped' : 'closed' }));
    ws.on('message', (data) => {
      this.#heard();
      let raw: unknown;
      try {
        raw = JSON.parse(data.toString());
      } catch {
        return;
      }
      const parsed = ServerMessage.safeParse(raw);
      if (parsed.success) this.#on(parsed.data);
      else this.#log.warn({ issue: parsed.error.issues[0] }, 'ignoring an invalid frame from the coordinator');
    });
  }

  /** Sends a frame to the coordinator. */
  send(frame: ClientMessage): void {
    if (this.#ws?.readyState !== WebSocket.OPEN) return;
    this.#ws.send(JSON.stringify(frame));
  }

  /** Closes the link without reporting an end. Idempotent. */
  stop(): void {
    this.#ended = true;
    clearTimeout(this.#silence);
    this.#ws?.terminate();
  }

  #on(msg: ServerMessage): void {
    const o = this.#opts;
    // Until the coordinator is known to be of our network (the 'ready' below), only the handshake's own
    // frames count: a node that sends peer:welcome, entries or a succession list first is not listened to.
    if (!this.#ready && !HANDSHAKE.has(msg.type)) {
      this.#log.warn({ address: o.address, type: msg.type }, 'a frame before the handshake was done: ignored');
      return this.#end({ kind: 'refused', reason: `the node at ${o.address} sent ${msg.type} out of turn` });
    }
    switch (msg.type) {
      case 'welcome': {
        if (this.#welcomed) return this.#end({ kind: 'refused', reason: 'a second welcome' });
        this.#welcomed = true;
        this.#network = msg.network;
        // A member checks the coordinator's identity before anything else, the network password's proof included.
        if (o.identity.member && !this.#ours()) return this.#notOurs();
        if (!msg.networkPassword) return this.#member();
        if (!o.networkPassword) return this.#end({ kind: 'refused', reason: 'the coordinator requires the network password' });
        return this.#prove(o.networkPassword, 'network password', 'network:auth');
      }
      case 'network:proof':
      case 'peer:join-proof': {
        const expecting = msg.type === 'network:proof' ? 'network password' : 'node password';
        if (this.#proving !== expecting) return this.#end({ kind: 'refused', reason: `${msg.type} out of turn` });
        const confirm = this.#proof?.check(Buffer.from(msg.share, 'base64'), Buffer.from(msg.confirm, 'base64'));
        const what = msg.type === 'network:proof' ? 'network' : 'node';
        if (confirm === undefined) return this.#end({ kind: 'refused', reason: `the ${what} password does not match the coordinator's (it is wrong here, or that is not our network's coordinator)` });
        this.#proof = undefined;
        this.#proved.add(expecting);
        return this.send({ type: msg.type === 'network:proof' ? 'network:confirm' : 'peer:join-confirm', confirm: confirm.toString('base64') });
      }
      case 'network:ok':
        if (!this.#proved.has('network password')) return this.#end({ kind: 'refused', reason: 'network:ok before the network password was proved' });
        return this.#member();
      case 'peer:admit':
        // Only from a coordinator that proved the node password in this TLS session: then it is our network's.
        if (!this.#proved.has('node password')) return this.#end({ kind: 'refused', reason: 'peer:admit without a proof of the node password' });
        if (o.identity.member) return this.#end({ kind: 'refused', reason: 'this node is already a member of a network' });
        this.emit('admit', { certPem: msg.authority, keyPem: msg.key });
        return this.#end({ kind: 'lost', succession: undefined, reason: 'dropped' }); // connect again, certified
      default:
        return void this.emit('frame', msg);
    }
  }

  /** Whether the coordinator's certificate is from our network's authority. */
  #ours(): boolean {
    const presented = this.#tls === undefined ? undefined : presentedIdentity(this.#tls);
    return presented !== undefined && sameAuthority(presented.authorityPem, this.#opts.identity.authorityPem);
  }

  #notOurs(): void {
    const o = this.#opts;
    const presented = this.#tls === undefined ? undefined : presentedIdentity(this.#tls);
    const theirs = presented === undefined ? 'no network identity' : `another network identity (${presented.code}; ours is ${o.identity.code})`;
    this.#log.warn({ address: o.address, network: this.#network }, `a node claims to coordinate network "${this.#network}" with ${theirs}: ignored`);
    this.#end({ kind: 'refused', reason: `the node at ${o.address} is not of this network (${theirs})` });
  }

  /**
   * After the network password: a coordinator certified by our authority gets `peer:hello` (the core sends
   * it on 'ready'). Another one: a member refuses it; a node not yet of a network joins it (node password).
   */
  #member(): void {
    const o = this.#opts;
    if (this.#ours()) {
      this.#ready = true;
      return void this.emit('ready');
    }
    if (o.identity.member) return this.#notOurs();
    if (o.nodePassword === undefined) {
      return this.#end({ kind: 'refused', reason: `this node has no node password, so it cannot join network "${this.#network}" (it chats as a client; LANCHAT_NODE_PASSWORD lets it stand by)` });
    }
    this.#prove(o.nodePassword, 'node password', 'peer:join');
  }

  #prove(password: string, purpose: 'network password' | 'node password', type: 'network:auth' | 'peer:join'): void {
    if (this.#tls === undefined) return this.#end({ kind: 'refused', reason: 'no TLS session' });
    this.#proving = purpose;
    this.#proof = proofOver(this.#tls, password, purpose, this.#network);
    const share = this.#proof.share.toString('base64');
    this.send(type === 'peer:join' ? { type, id: this.#opts.id, share } : { type, share });
  }

  #heard(): void {
    clearTimeout(this.#silence);
    const ms = this.#opts.silenceMs ?? LINK_SILENCE_MS;
    this.#silence = setTimeout(() => {
      this.#log.warn(`coordinator silent for ${ms} ms: presumed dead`);
      this.#end({ kind: 'lost', succession: undefined, reason: 'silent' });
    }, ms);
    this.#silence.unref();
  }

  #end(end: LinkEnd): void {
    if (this.#ended) return;
    this.#ended = true;
    clearTimeout(this.#silence);
    this.#ws?.terminate();
    this.emit('end', end);
  }
}
