import t from 'tap';
import { addressKey } from '../../src/core/address-key.js';

t.test('addresses are limited per IPv4 address and per IPv6 /64 (issue #14)', async (t) => {
  const table: [string, string][] = [
    ['10.0.0.5', '10.0.0.5'],
    ['::ffff:10.0.0.5', '10.0.0.5'], // a dual-stack socket's IPv4 peer is the IPv4 address
    ['::FFFF:10.0.0.5', '10.0.0.5'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:db8:1:2:ffff:ffff:ffff:ffff', '2001:db8:1:2::/64'], // every address of a prefix is one key
    ['2001:0db8:0001:0002::1', '2001:db8:1:2::/64'], // leading zeros
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['2001:DB8:0:0:1::', '2001:db8:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['::', '0:0:0:0::/64'],
    ['64:ff9b::10.0.0.5', '64:ff9b:0:0::/64'],
    ['unknown', 'unknown'],
    ['', ''],
  ];
  for (const [address, key] of table) t.equal(addressKey(address), key, address || '(none)');
  t.not(addressKey('2001:db8:1:2::1'), addressKey('2001:db8:1:3::1'), 'the next /64 is another key');
});
