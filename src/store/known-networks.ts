import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { HostPort, NodeId } from '../protocol/fields.js';
import type { Succession } from '../core/role.js';
import { writeFileAtomic } from './data-dir.js';

const Entry = z.object({ id: NodeId.optional(), address: HostPort });

/** `known-<network>.json`: the last succession list seen, and every replica known (nodes only). Lenient: clients wrote fewer fields. */
const Known = z.object({
  term: z.number().int().nonnegative().optional(),
  coordinator: Entry,
  standbys: z.array(Entry).max(1_000),
  peers: z.array(NodeId).max(1_000).optional(),
  leaving: z.boolean().optional(),
});

/**
 * The one home of the remembered succession list (issue #4): a node keeps its
 * network's last succession list and known replicas for a restart, and
 * clients the coordinators they met, for when mDNS finds nothing.
 */
export async function readKnown(dataDir: string, network: string): Promise<{ succession: Succession | undefined; peers: string[]; addresses: string[] }> {
  try {
    const k = Known.parse(JSON.parse(await readFile(join(dataDir, `known-${network}.json`), 'utf8')));
    const addresses = [k.coordinator.address, ...k.standbys.map((s) => s.address)];
    const complete = k.term !== undefined && k.coordinator.id !== undefined && k.standbys.every((s) => s.id !== undefined);
    const succession = complete
      ? { term: k.term!, coordinator: { id: k.coordinator.id!, address: k.coordinator.address }, standbys: k.standbys.map((s) => ({ id: s.id!, address: s.address })), ...(k.leaving ? { leaving: true } : {}) }
      : undefined;
    return { succession, peers: k.peers ?? [], addresses };
  } catch {
    return { succession: undefined, peers: [], addresses: [] };
  }
}

/** A succession list as remembered (clients keep fewer fields than nodes). */
export interface RememberedSuccession {
  term?: number;
  coordinator: { id?: string; address: string };
  standbys: { id?: string; address: string }[];
  leaving?: boolean;
}

/** Remembers a network's succession list (and, for a node, every replica it knows of). */
export async function remember(dataDir: string, network: string, s: RememberedSuccession, peers?: readonly string[]): Promise<void> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const { term, coordinator, standbys } = s;
  await writeFileAtomic(dataDir, `known-${network}.json`, JSON.stringify({ term, coordinator, standbys, ...(s.leaving ? { leaving: true } : {}), ...(peers ? { peers } : {}) }));
}

/**
 * Remembers the succession lists of one data directory as they come, one write at a time: lists that come
 * while one is written are coalesced to the newest, so an older list never lands after a newer one (two
 * writes at once finish in any order). `settled()` resolves once all asked so far is on disk (or failed:
 * `onError` is told), so a process that stops keeps the last list it saw.
 */
export class SuccessionMemory {
  readonly #dataDir: string;
  readonly #onError: (err: unknown) => void;
  /** The newest list of each network not yet being written. */
  readonly #next = new Map<string, { s: RememberedSuccession; peers: readonly string[] | undefined }>();
  #chain: Promise<void> = Promise.resolve();

  constructor(dataDir: string, onError: (err: unknown) => void) {
    this.#dataDir = dataDir;
    this.#onError = onError;
  }

  remember(network: string, s: RememberedSuccession, peers?: readonly string[]): void {
    const queued = this.#next.has(network);
    this.#next.set(network, { s, peers });
    if (queued) return; // the write already queued takes this newer list
    this.#chain = this.#chain.then(() => {
      const { s: latest, peers: known } = this.#next.get(network)!;
      this.#next.delete(network);
      return remember(this.#dataDir, network, latest, known).catch((err: unknown) => {
        try {
          this.#onError(err);
        } catch {
          // a failing report must not jam the writes after it
        }
      });
    });
  }

  settled(): Promise<void> {
    return this.#chain;
  }
}
