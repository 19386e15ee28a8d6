import { EventEmitter } from 'node:events';
import { WebSocket } from 'ws';
import type { Logger } from 'pino';
import type { Entry } from '../protocol/entries.js';
import { MAX_ENTRIES_PER_FRAME, type ServerMessage } from '../protocol/messages.js';
import type { LogStore } from '../store/log-store.js';
import type { ChatState } from '../core/chat-state.js';
import { successionOrder } from '../core/election.js';

/** A node connected to this coordinator. */
export interface StandbyLink {
  readonly id: string;
  readonly ws: WebSocket;
  /** `host:port` where clients and nodes reach it. */
  readonly address: string;
  readonly priority: number;
  /** Holds a replica and may take over (`--no-coordinator` nodes do not). */
  readonly eligible: boolean;
  /** What it holds durably: its version vector. */
  readonly acked: Map<string, number>;
  /** Sum of `acked`: how much of the log it holds (a rank criterion). */
  position: number;
}

export interface ReplicationDeps {
  store: LogStore;
  state: ChatState;
  log: Logger;
  term: () => number;
}

/**
 * The coordinator's side of replication (DESIGN §5): catches each standby up
 * with what it lacks, streams every new entry, tracks what each holds, and
 * tells the relay when an entry is safe to acknowledge: once the successor
 * (the first standby of the succession list) holds it. The successor is the
 * node that takes over, so nothing acknowledged is lost when this one dies.
 */
export class ReplicationHub extends EventEmitter<{ change: []; merged: [Entry[]] }> {
  readonly #deps: ReplicationDeps;
  readonly #links = new Map<string, StandbyLink>();
  #waiters: { origin: string; seq: number; resolve: () => void }[] = [];
  /**
   * The succession list as last published. Ranked only when membership
   * changes: acks move positions all the time, and the standby we wait for
   * must be the one everybody will follow, not whichever is ahead this instant.
   */
  #order: StandbyLink[] = [];
  #outgoing: Entry[] = [];

  constructor(deps: ReplicationDeps) {
    super();
    this.#deps = deps;
  }

  /** Eligible standbys, best first: the succession list. */
  get succession(): StandbyLink[] {
    return this.#order;
  }

  #reorder(): void {
    this.#order = successionOrder([...this.#links.values()].filter((l) => l.eligible));
  }

  get links(): StandbyLink[] {
    return [...this.#links.values()];
  }

  /** A node said `peer:hello`: welcome it and send what it lacks. */
  attach(link: Omit<StandbyLink, 'position'>, theirs: readonly [string, number][], proof?: string): StandbyLink {
    this.#links.get(link.id)?.ws.close(4002, 'replaced by a newer connection of the same node');
    const full: StandbyLink = { ...link, position: sum(link.acked) };
    this.#links.set(link.id, full);
    const vv = new Map(theirs);
    send(full.ws, { type: 'peer:welcome', term: this.#deps.term(), vv: [...this.#deps.store.versionVector], ...(proof === undefined ? {} : { proof }) });
    if (full.eligible) {
      // Per origin in sequence order: a replica holds a prefix of each origin's entries.
      const lacking = [...this.#deps.state.retained()].filter((e) => e.seq > (vv.get(e.origin) ?? 0)).sort(byOriginSeq);
      for (let i = 0; i < lacking.length; i += MAX_ENTRIES_PER_FRAME) {
        send(full.ws, { type: 'peer:entries', entries: lacking.slice(i, i + MAX_ENTRIES_PER_FRAME) });
      }
    }
    this.#deps.log.info({ node: link.id, address: link.address, eligible: link.eligible }, 'standby joined');
    this.#reorder();
    this.#settle();
    this.emit('change');
    return full;
  }

  /** The node's connection closed. */
  detach(link: StandbyLink): void {
    if (this.#links.get(link.id) !== link) return;
    this.#links.delete(link.id);
    this.#deps.log.info({ node: link.id }, 'standby left');
    this.#reorder();
    this.#settle();
    this.emit('change');
  }

  /** A standby sent entries this coordinator lacks (after a failover or a healed partition). */
  async receive(entries: readonly Entry[]): Promise<void> {
    const vv = this.#deps.store.versionVector;
    const fresh = entries.filter((e) => e.seq > (vv.get(e.origin) ?? 0));
    await this.#deps.store.commit(entries);
    // Messages nobody here has seen yet (stored by a dead coordinator or the other side of a partition).
    if (fresh.length > 0) this.emit('merged', fresh);
  }

  /** A standby reports what it holds. */
  ack(link: StandbyLink, vv: readonly [string, number][]): void {
    for (const [origin, seq] of vv) if (seq > (link.acked.get(origin) ?? 0)) link.acked.set(origin, seq);
    link.position = sum(link.acked);
    this.#settle();
  }

  /** Queues a durable entry for every standby; sent at the end of the tick, batched. */
  stream(e: Entry): void {
    if (this.#links.size === 0) return;
    if (this.#outgoing.length === 0) queueMicrotask(() => this.#flush());
    this.#outgoing.push(e);
  }

  /** Resolves once `e` is safe to acknowledge: the successor holds it, or there is no standby. */
  replicated(e: Entry): Promise<void> {
    if (this.#holds(this.succession[0], e)) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ origin: e.origin, seq: e.seq, resolve }));
  }

  /** Releases every waiter (the coordinator is stepping down or stopping). */
  close(): void {
    for (const w of this.#waiters.splice(0)) w.resolve();
    for (const link of this.#links.values()) link.ws.close(1001, 'coordinator leaving');
    this.#links.clear();
    this.#order = [];
  }

  #flush(): void {
    const entries = this.#outgoing;
    this.#outgoing = [];
    for (let i = 0; i < entries.length; i += MAX_ENTRIES_PER_FRAME) {
      const frame = JSON.stringify({ type: 'peer:entries', entries: entries.slice(i, i + MAX_ENTRIES_PER_FRAME) } satisfies ServerMessage);
      for (const link of this.#links.values()) if (link.eligible && link.ws.readyState === WebSocket.OPEN) link.ws.send(frame);
    }
  }

  #holds(link: StandbyLink | undefined, e: { origin: string; seq: number }): boolean {
    return link === undefined || (link.acked.get(e.origin) ?? 0) >= e.seq;
  }

  #settle(): void {
    const successor = this.succession[0];
    const still: { origin: string; seq: number; resolve: () => void }[] = [];
    for (const w of this.#waiters) (this.#holds(successor, w) ? w.resolve() : still.push(w));
    this.#waiters = still;
  }
}

function send(ws: WebSocket, msg: ServerMessage): void {
  if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
}

function sum(vv: ReadonlyMap<string, number>): number {
  let n = 0;
  for (const v of vv.values()) n += v;
  return n;
}

function byOriginSeq(a: Entry, b: Entry): number {
  return a.origin < b.origin ? -1 : a.origin > b.origin ? 1 : a.seq - b.seq;
}
