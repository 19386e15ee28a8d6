import t from 'tap';
import { addressKey } from '../../src/core/address-key.js';

t.test('addresses are limited as the addresses they are; IPv4-mapped ones as their IPv4 address (issue #14)', async (t) => {
  const table: [string, string][] = [
    ['10.0.0.5', '10.0.0.5'],
    ['::ffff:10.0.0.5', '10.0.0.5'], // a dual-stack socket's IPv4 peer is the IPv4 address
    ['::FFFF:10.0.0.5', '10.0.0.5'],
    ['0:0:0:0:0:ffff:10.0.0.5', '10.0.0.5'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2:3:4:5:6'],
    ['2001:DB8::1', '2001:db8::1'],
    ['fe80::1%eth0', 'fe80::1%eth0'],
    ['unknown', 'unknown'],
    ['', ''],
  ];
  for (const [address, key] of table) t.equal(addressKey(address), key, address || '(none)');
  // On a LAN every host is in the same /64: two of them are two keys, so one's guesses never lock out the other.
  t.not(addressKey('2001:db8:1:2::10'), addressKey('2001:db8:1:2::11'), 'two hosts of one prefix are two keys');
  t.not(addressKey('fe80::1%eth0'), addressKey('fe80::2%eth0'), 'two link-local hosts are two keys');
});
