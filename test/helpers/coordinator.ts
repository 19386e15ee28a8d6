import { pino } from 'pino';
import { startCoordinator, type Coordinator, type CoordinatorOptions } from '../../src/coordinator/coordinator.js';
import { tmpDir } from './tmp.js';

/** Starts an in-process coordinator on 127.0.0.1, port 0, bcrypt cost 4; stopped at teardown. */
export async function testCoordinator(
  t: { teardown(fn: () => unknown): void },
  options: Partial<CoordinatorOptions> = {},
): Promise<{ coordinator: Coordinator; url: string; dataDir: string }> {
  const dataDir = options.dataDir ?? tmpDir(t);
  const coordinator = await startCoordinator(
    { host: '127.0.0.1', port: 0, bcryptCost: 4, ...options, dataDir },
    pino({ level: process.env.LANCHAT_TEST_LOG ?? 'silent' }),
  );
  t.teardown(() => coordinator.stop());
  return { coordinator, url: `ws://127.0.0.1:${coordinator.relay.address.port}`, dataDir };
}
