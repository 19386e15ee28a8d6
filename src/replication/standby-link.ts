import { EventEmitter } from 'node:events';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import WebSocket from 'ws';
import type { Logger } from 'pino';
import { MAX_ENTRIES_PER_FRAME, ServerMessage, nodeProof } from '../protocol/messages.js';
import type { Entry } from '../protocol/entries.js';
import type { LogStore } from '../store/log-store.js';
import type { ChatState } from '../core/chat-state.js';

const SILENCE_MS = 3_000; // the coordinator pings every 1 s: 3 missed and it is dead (DESIGN §4.4)
const CONNECT_TIMEOUT_MS = 1_000;
const MAX_FRAME = 8 * 1024 * 1024; // bytes: catch-up frames are up to ~1 MiB

export interface SuccessionEntry {
  id: string;
  address: string;
}

export interface Succession {
  term: number;
  coordinator: SuccessionEntry;
  standbys: SuccessionEntry[];
  leaving?: boolean;
}

export interface StandbyLinkOptions {
  address: string;
  nodeId: string;
  network: string;
  port: number;
  priority: number;
  eligible: boolean;
  term: number;
  networkPassword?: string;
  /** Presented in `peer:hello` when the network has a node password. */
  nodePassword?: string;
}

/** Why the link ended. */
export type LinkEnd =
  | { kind: 'lost'; succession: Succession | undefined } // closed or silent
  | { kind: 'redirect'; coordinator: string | null; term: number }
  | { kind: 'refused'; reason: string };

/**
 * A standby's connection to its coordinator (DESIGN §5): says hello with its
 * version vector, uploads what the coordinator lacks, stores what it is sent
 * (fsynced before acknowledging), and keeps the succession list for the day
 * the coordinator goes away.
 */
export class StandbyLink extends EventEmitter<{ up: [term: number]; succession: [Succession]; end: [LinkEnd] }> {
  readonly #opts: StandbyLinkOptions;
  readonly #deps: { store: LogStore; state: ChatState; log: Logger };
  #ws: WebSocket | undefined;
  #silence: NodeJS.Timeout | undefined;
  #succession: Succession | undefined;
  #ended = false;
  #term = 0;
  /** The challenge sent in `peer:hello` when the network has a node password. */
  #nonce: string | undefined;
  /** Set once `peer:welcome` arrived (and, with a node password, proved the coordinator knows it). */
  #welcomed = false;

  constructor(deps: { store: LogStore; state: ChatState; log: Logger }, options: StandbyLinkOptions) {
    super();
    this.#deps = deps;
    this.#opts = options;
  }

  get succession(): Succession | undefined {
    return this.#succession;
  }

  get term(): number {
    return this.#term;
  }

  start(): void {
    const ws = new WebSocket(`ws://${this.#opts.address}`, { handshakeTimeout: CONNECT_TIMEOUT_MS, maxPayload: MAX_FRAME, perMessageDeflate: false });
    this.#ws = ws;
    ws.on('error', (err) => this.#deps.log.debug({ err }, 'standby link error'));
    ws.on('ping', () => this.#heard());
    ws.on('open', () => this.#heard());
    ws.on('close', () => this.#end({ kind: 'lost', succession: this.#succession }));
    ws.on('message', (data) => {
      this.#heard();
      let raw: unknown;
      try {
        raw = JSON.parse(data.toString());
      } catch {
        return;
      }
      const parsed = ServerMessage.safeParse(raw);
      if (parsed.success) void this.#on(parsed.data);
      else this.#deps.log.warn({ issue: parsed.error.issues[0] }, 'ignoring an invalid frame from the coordinator');
    });
  }

  /** Closes the link without reporting an end. Idempotent. */
  stop(): void {
    this.#ended = true;
    clearTimeout(this.#silence);
    this.#ws?.terminate();
  }

  async #on(msg: ServerMessage): Promise<void> {
    const o = this.#opts;
    switch (msg.type) {
      case 'welcome':
        if (msg.networkPassword) {
          if (!o.networkPassword) return this.#end({ kind: 'refused', reason: 'the coordinator requires the network password' });
          this.#write({ type: 'network:auth', password: o.networkPassword });
        } else this.#hello();
        return;
      case 'network:ok':
        return this.#hello();
      case 'peer:welcome': {
        // With a node password, a coordinator that cannot prove it knows it gets nothing from us, and we take nothing from it.
        if (o.nodePassword !== undefined && (msg.proof === undefined || !sameHex(msg.proof, nodeProof(o.nodePassword, this.#nonce!)))) {
          return this.#end({ kind: 'refused', reason: 'the coordinator did not prove it knows the node password' });
        }
        this.#welcomed = true;
        this.#term = msg.term;
        this.emit('up', msg.term);
        // Upload what the coordinator lacks: after a failover or a partition we may hold entries it never saw.
        const theirs = new Map(msg.vv);
        const lacking = [...this.#deps.state.retained()].filter((e) => e.seq > (theirs.get(e.origin) ?? 0)).sort(byOriginSeq);
        for (let i = 0; i < lacking.length; i += MAX_ENTRIES_PER_FRAME) this.#write({ type: 'peer:entries', entries: lacking.slice(i, i + MAX_ENTRIES_PER_FRAME) });
        return this.#ack();
      }
      case 'peer:entries':
        if (this.#welcomed) await this.#store(msg.entries);
        return;
      case 'succession':
        if (!this.#welcomed) return;
        this.#succession = msg;
        this.#term = msg.term;
        this.emit('succession', msg);
        if (msg.leaving) this.#end({ kind: 'lost', succession: msg }); // clean hand-off: take over now
        return;
      case 'redirect':
        return this.#end({ kind: 'redirect', coordinator: msg.coordinator, term: msg.term });
      case 'error':
        if (msg.code === 'network_password' || msg.code === 'node_password' || msg.code === 'invalid_message') this.#end({ kind: 'refused', reason: msg.message });
        return;
      default:
        return;
    }
  }

  #hello(): void {
    const o = this.#opts;
    this.#write({
      type: 'peer:hello',
      id: o.nodeId,
      network: o.network,
      port: o.port,
      priority: o.priority,
      eligible: o.eligible,
      term: o.term,
      vv: [...this.#deps.store.durableVersionVector],
      ...(o.nodePassword === undefined ? {} : { nodePassword: o.nodePassword, nonce: (this.#nonce = randomBytes(16).toString('hex')) }),
    });
  }

  async #store(entries: Entry[]): Promise<void> {
    if (!this.#opts.eligible) return; // observers hold no replica
    try {
      await this.#deps.store.commit(entries);
      this.#ack();
    } catch (err) {
      this.#deps.log.error({ err }, 'cannot store replicated entries; leaving the coordinator');
      this.#ws?.close(1011, 'storage failure');
    }
  }

  #ack(): void {
    this.#write({ type: 'peer:ack', vv: [...this.#deps.store.durableVersionVector] });
  }

  #write(frame: object): void {
    if (this.#ws?.readyState === WebSocket.OPEN) this.#ws.send(JSON.stringify(frame));
  }

  #heard(): void {
    clearTimeout(this.#silence);
    this.#silence = setTimeout(() => {
      this.#deps.log.warn('coordinator silent for 3 s: presumed dead');
      this.#end({ kind: 'lost', succession: this.#succession });
    }, SILENCE_MS);
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

function byOriginSeq(a: Entry, b: Entry): number {
  return a.origin < b.origin ? -1 : a.origin > b.origin ? 1 : a.seq - b.seq;
}

function sameHex(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}
