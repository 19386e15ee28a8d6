import t from 'tap';
import { pino } from 'pino';
import { MdnsDiscovery } from '../../src/discovery/mdns.js';
import { discoveryContract } from '../helpers/discovery-contract.js';
import { inPrivateNetwork } from '../helpers/netns.js';

// Real multicast, on the loopback of a private network namespace only.
if (inPrivateNetwork(import.meta.url)) {
  discoveryContract(t, 'mdns', () => new MdnsDiscovery(pino({ level: 'silent' })));
}
