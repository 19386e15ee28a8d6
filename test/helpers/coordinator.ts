import { pino } from 'pino';
import { Node, type NodeOptions } from '../../src/node/node.js';
import { tmpDir } from './tmp.js';
import { TEST_NODE_PASSWORD } from './processes.js';

/**
 * Starts an in-process node on 127.0.0.1, port 0, bcrypt cost 4, registrations unlimited in practice (tests
 * register many users from one address; the limit has tests of its own); stopped at teardown. With no
 * discovery and no `join` addresses it contacts nobody and becomes the coordinator at once.
 */
export async function testCoordinator(
  t: { teardown(fn: () => unknown): void },
  options: Partial<NodeOptions> = {},
): Promise<{ coordinator: Node; url: string; dataDir: string }> {
  const dataDir = options.dataDir ?? tmpDir(t);
  const coordinator = await Node.start(
    { host: '127.0.0.1', port: 0, bcryptCost: 4, nodePassword: TEST_NODE_PASSWORD, registrationRate: 10_000, ...options, dataDir },
    pino({ level: process.env.LANCHAT_TEST_LOG ?? 'silent' }),
  );
  t.teardown(() => coordinator.stop());
  return { coordinator, url: `wss://127.0.0.1:${coordinator.relay.address.port}`, dataDir };
}
