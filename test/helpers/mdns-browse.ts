import { networkInterfaces } from 'node:os';
import { pino } from 'pino';
import { MdnsDiscovery } from '../../src/discovery/mdns.js';

/**
 * lanchat's own browser, as a process: browses `_lanchat._tcp` for the given seconds (default 3) and prints
 * the peers it found as one JSON line. With `--advertise ID NETWORK PORT` it advertises too, until killed.
 * Used to check interoperability with other DNS-SD implementations (avahi, python-zeroconf).
 */
// Only inside a private network namespace (lo and the tests' lan* links): never multicast on a real interface.
const names = Object.keys(networkInterfaces());
if (names.some((n) => !/^(lo|lan\d+)$/.test(n))) {
  process.stderr.write(`refusing: not in a private namespace (interfaces: ${names.join(', ')})\n`);
  process.exit(2);
}
const args = process.argv.slice(2);
const d = new MdnsDiscovery(pino({ level: process.env.LOG_LEVEL ?? 'silent' }, pino.destination(2)));
if (args[0] === '--advertise') {
  d.advertise({ id: args[1]!, network: args[2]!, port: Number(args[3]) });
  process.stdout.write('advertising\n');
  process.on('SIGTERM', () => void d.stop().then(() => process.exit(0)));
} else {
  d.browse();
  setTimeout(() => {
    process.stdout.write(`${JSON.stringify(d.peers())}\n`);
    void d.stop().then(() => process.exit(0));
  }, Number(args[0] ?? 3) * 1_000);
}
