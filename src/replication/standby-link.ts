import { EventEmitter } from 'node:events';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import WebSocket from 'ws';
import type { Logger } from 'pino';
import { ServerMessage, nodeProof, type ClientMessage } from '../protocol/messages.js';
import type { LinkEnd } from '../core/role.js';
import { clientOptions } from '../trust/tls.js';
import type { KeyPair } from '../trust/identity.js';

/** The coordinator pings its standbys every 200 ms: 1 s of silence (5 missed) and it is presumed dead (DESIGN §4.4). */
export const LINK_SILENCE_MS = 1_000;
/** TCP and the WebSocket upgrade must be done by then. */
const CONNECT_TIMEOUT_MS = 1_000;
const MAX_FRAME = 8 * 1024 * 1024; // bytes: catch-up frames are up to ~1 MiB
/** Close codes a coordinator uses when it drops a standby on purpose (it is alive): replaced, silent. */
const DROPPED = new Set([4002, 4003]);

export interface StandbyLinkOptions {
  address: string;
  /** This node's certificate, presented to the coordinator (TLS). */
  tls: KeyPair;
  networkPassword?: string;
  /** Presented in `peer:hello` when the network has a node password; the coordinator must prove it knows it too. */
  nodePassword?: string;
  silenceMs?: number;
}

/**
 * The standby side of replication (DESIGN §5): a standby's connection to its
 * coordinator, as the core (src/core/node-core.ts) drives it. It does the
 * handshake (network password), adds the node password and a challenge to
 * `peer:hello`, checks the coordinator's proof, and reports frames and the
 * end — closed, silent, or dropped on purpose by a coordinator that lives.
 */
export class StandbyLink extends EventEmitter<{ ready: []; frame: [ServerMessage]; end: [LinkEnd] }> {
  readonly #opts: StandbyLinkOptions;
  readonly #log: Logger;
  #ws: WebSocket | undefined;
  #silence: NodeJS.Timeout | undefined;
  #ended = false;
  /** The challenge sent in `peer:hello` when the network has a node password. */
  #nonce: string | undefined;

  constructor(log: Logger, options: StandbyLinkOptions) {
    super();
    this.#log = log;
    this.#opts = options;
  }

  start(): void {
    const ws = new WebSocket(`wss://${this.#opts.address}`, { handshakeTimeout: CONNECT_TIMEOUT_MS, maxPayload: MAX_FRAME, perMessageDeflate: false, ...clientOptions(undefined, this.#opts.tls) });
    this.#ws = ws;
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

  /** Sends a frame to the coordinator; `peer:hello` gets the node password and a fresh challenge. */
  send(frame: ClientMessage): void {
    if (this.#ws?.readyState !== WebSocket.OPEN) return;
    let out: ClientMessage = frame;
    if (frame.type === 'peer:hello' && this.#opts.nodePassword !== undefined) {
      out = { ...frame, nodePassword: this.#opts.nodePassword, nonce: (this.#nonce = randomBytes(16).toString('hex')) };
    }
    this.#ws.send(JSON.stringify(out));
  }

  /** Closes the link without reporting an end. Idempotent. */
  stop(): void {
    this.#ended = true;
    clearTimeout(this.#silence);
    this.#ws?.terminate();
  }

  #on(msg: ServerMessage): void {
    const o = this.#opts;
    switch (msg.type) {
      case 'welcome':
        if (!msg.networkPassword) return void this.emit('ready');
        if (!o.networkPassword) return this.#end({ kind: 'refused', reason: 'the coordinator requires the network password' });
        this.#ws!.send(JSON.stringify({ type: 'network:auth', password: o.networkPassword }));
        return;
      case 'network:ok':
        return void this.emit('ready');
      case 'peer:welcome':
        // With a node password, a coordinator that cannot prove it knows it gets nothing from us, and we take nothing from it.
        if (o.nodePassword !== undefined && (msg.proof === undefined || this.#nonce === undefined || !sameHex(msg.proof, nodeProof(o.nodePassword, this.#nonce)))) {
          return this.#end({ kind: 'refused', reason: 'the coordinator did not prove it knows the node password' });
        }
        return void this.emit('frame', msg);
      default:
        return void this.emit('frame', msg);
    }
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

function sameHex(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}
