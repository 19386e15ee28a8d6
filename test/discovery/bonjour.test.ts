import t from 'tap';
import { pino } from 'pino';
import { BonjourDiscovery } from '../../src/discovery/bonjour.js';
import { discoveryContract } from '../helpers/discovery-contract.js';
import { inPrivateNetwork } from '../helpers/netns.js';

// Real multicast, on the loopback of a private network namespace only.
if (inPrivateNetwork(import.meta.url)) {
  discoveryContract(t, 'bonjour', () => new BonjourDiscovery(pino({ level: 'silent' })));
}
