import t from 'tap';
import { MemoryBus, MemoryDiscovery } from '../../src/discovery/memory.js';
import { discoveryContract } from '../helpers/discovery-contract.js';

const bus = new MemoryBus();
discoveryContract(t, 'memory', () => new MemoryDiscovery(bus));

t.test('memory: a crashed node lingers, as in real mDNS caches (liveness is not mDNS\'s job)', async (t) => {
  const local = new MemoryBus();
  const a = new MemoryDiscovery(local);
  const b = new MemoryDiscovery(local);
  a.advertise({ id: 'eeeeeeeeeeeeeeee', network: 'lab', port: 1 });
  b.browse();
  a.crash();
  t.equal(b.peers().length, 1);
  await b.stop();
});
