import type { Logger } from 'pino';
import { pino } from 'pino';
import { LogStore } from '../../src/store/log-store.js';
import { Replica } from '../../src/core/replica.js';
import type { Entry, NewEntry } from '../../src/protocol/entries.js';

/**
 * The log store as a node uses it, for the store's own tests: the core's replica bookkeeping
 * (src/core/replica.ts) decides what to write, the store writes it. `entries` is every entry in the
 * order the node's state would see it (at open, then as each write is durable).
 */
export async function openReplicatedLog(
  dir: string,
  opts: { log?: Logger; origin?: string; segmentEntries?: number; keep?: number; retained?: () => Entry[] } = {},
) {
  const entries: Entry[] = [];
  const replica = new Replica();
  let origin = opts.origin ?? 'n1';
  const store = await LogStore.open(dir, opts.log ?? pino({ level: 'silent' }), {
    ...(opts.segmentEntries === undefined ? {} : { segmentEntries: opts.segmentEntries }),
    snapshot: () => {
      // No other replica: everything may be compacted; the "state" keeps what `retained` says.
      replica.release(replica.vector);
      const kept = opts.retained ? opts.retained() : opts.keep === undefined ? entries : entries.slice(-opts.keep);
      return replica.snapshot(kept);
    },
  });
  const { snapshot, records } = store.loaded;
  if (snapshot) {
    const r = replica.loadSnapshot(new Map(snapshot.vv), new Map(snapshot.floor), snapshot.entries);
    if ('error' in r) throw new Error(r.error);
    entries.push(...r.entries);
  }
  entries.push(...replica.durable(records));
  replica.rollback();
  store.release();
  const stamp = (news: readonly NewEntry[]): Entry[] => {
    let seq = replica.accepted.get(origin) ?? 0;
    return news.map((e) => ({ ...e, origin, seq: ++seq }) as Entry);
  };
  const commit = async (es: readonly Entry[]): Promise<void> => {
    const recs = replica.accept({ entries: [...es], covers: [] });
    await store.write(recs);
    entries.push(...replica.durable(recs));
  };
  const log = {
    stamp,
    commit,
    async append(news: readonly NewEntry[]): Promise<Entry[]> {
      const stamped = stamp(news);
      await commit(stamped);
      return stamped;
    },
    get versionVector(): ReadonlyMap<string, number> {
      return replica.vector;
    },
    setOrigin(o: string): void {
      origin = o;
    },
    close: () => store.close(),
  };
  return { store: log, entries, ids: () => entries.map((e) => (e.kind === 'message' ? e.id : e.kind)) };
}

/** Every entry a data directory's log holds (snapshot and segments), as a restarted node would read them. */
export async function readLog(dir: string): Promise<Entry[]> {
  const l = await openReplicatedLog(dir);
  await l.store.close();
  return l.entries;
}
