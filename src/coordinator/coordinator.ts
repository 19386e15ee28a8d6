import type { Logger } from 'pino';
import { DataDir, DataDirError } from '../node/data-dir.js';
import { DEFAULT_LIMITS } from '../protocol/limits.js';
import { LogStore } from './log-store.js';
import { ChatState } from './state.js';
import { CredentialStore } from './credential-store.js';
import { Relay, type RelayOptions } from './relay.js';

export interface CoordinatorOptions extends Omit<RelayOptions, 'nodeId'> {
  dataDir: string;
  bcryptCost?: number;
}

/** A running coordinator: its relay plus the stores behind it. */
export interface Coordinator {
  readonly relay: Relay;
  readonly store: LogStore;
  readonly state: ChatState;
  readonly dataDir: DataDir;
  /** Stops the relay, flushes the log and releases the data directory. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Opens the data directory, replays the log into the chat state and starts
 * the relay. On any failure, whatever was opened is closed again.
 */
export async function startCoordinator(options: CoordinatorOptions, log: Logger): Promise<Coordinator> {
  const dataDir = await DataDir.open(options.dataDir).catch((err: unknown) => {
    throw describe(err, options.dataDir);
  });
  let store: LogStore | undefined;
  try {
    const state = new ChatState(options.limits?.historySize ?? DEFAULT_LIMITS.historySize);
    store = await LogStore.open(dataDir.logDir, log.child({ component: 'log' }), {
      origin: dataDir.nodeId,
      onDurable: (e) => state.apply(e),
      retained: () => state.retained(),
    });
    const credentials = new CredentialStore({ store, state, log: log.child({ component: 'credentials' }) }, { cost: options.bcryptCost });
    const relay = new Relay({ store, state, credentials, log: log.child({ component: 'relay' }) }, { ...options, nodeId: dataDir.nodeId });
    await relay.start();
    const opened = store;
    let stopping: Promise<void> | undefined;
    return {
      relay,
      store: opened,
      state,
      dataDir,
      stop: () =>
        (stopping ??= (async () => {
          await relay.stop();
          await credentials.close();
          await opened.close();
          await dataDir.close();
        })()),
    };
  } catch (err) {
    await store?.close();
    await dataDir.close();
    throw describe(err, options.dataDir);
  }
}

/** A raw fs error names no file: say which directory it concerns. */
function describe(err: unknown, dir: string): unknown {
  const e = err as NodeJS.ErrnoException;
  return e.syscall !== undefined ? new DataDirError(`cannot use data directory ${dir}: ${e.message}`) : err;
}
