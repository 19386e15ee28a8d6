import t from 'tap';
import type { NetworkInterfaceInfo } from 'node:os';
import { inSubnet, lanAddresses, lanInterfaces, servedAddresses } from '../../src/discovery/interfaces.js';

const v4 = (address: string, internal = false): NetworkInterfaceInfo =>
  ({ address, netmask: '255.255.255.0', family: 'IPv4', mac: '00:00:00:00:00:00', internal, cidr: `${address}/24` }) as NetworkInterfaceInfo;
const v6 = (address: string): NetworkInterfaceInfo =>
  ({ address, netmask: 'ffff::', family: 'IPv6', mac: '00:00:00:00:00:00', internal: false, cidr: `${address}/64`, scopeid: 0 }) as NetworkInterfaceInfo;

const ifaces = {
  lo: [v4('127.0.0.1', true)],
  eth0: [v4('192.168.1.10'), v6('fe80::1')],
  wlan0: [v4('10.0.0.7')],
  docker0: [v4('172.17.0.1')],
  'br-1234': [v4('172.18.0.1')],
  veth99: [v4('172.19.0.1')],
  virbr0: [v4('192.168.122.1')],
  'vEthernet (WSL)': [v4('172.20.0.1')],
  eth1: [v4('169.254.3.4')],
};

t.test('only real LAN IPv4 addresses are served', async (t) => {
  t.same(lanAddresses(ifaces), [
    { iface: 'eth0', address: '192.168.1.10' },
    { iface: 'wlan0', address: '10.0.0.7' },
  ]);
  t.same(servedAddresses('0.0.0.0', ifaces), ['192.168.1.10', '10.0.0.7']);
  t.same(servedAddresses('10.0.0.7', ifaces), ['10.0.0.7'], 'a specific bind is printed as is');
  t.same(servedAddresses('0.0.0.0', { lo: [v4('127.0.0.1', true)] }), ['127.0.0.1'], 'loopback when there is no LAN');
});

t.test('an IPv6-only LAN: a wildcard bind of :: is served at the routable IPv6 addresses', async (t) => {
  const only6 = { lo: [v4('127.0.0.1', true)], eth0: [v6('fe80::1'), v6('fd00::5')] };
  t.same(lanInterfaces(only6), [{ iface: 'eth0', v4: [], v6: ['fd00::5'] }], 'link-local is not served');
  t.same(servedAddresses('::', only6), ['fd00::5']);
  t.same(servedAddresses('0.0.0.0', only6), ['127.0.0.1'], 'an IPv4 bind has no IPv6 address to offer');
  t.same(servedAddresses('::', ifaces), ['192.168.1.10', '10.0.0.7'], 'IPv4 first where there is some');
});

t.test('inSubnet', async (t) => {
  t.ok(inSubnet('192.168.1.77', '192.168.1.10', '255.255.255.0'));
  t.notOk(inSubnet('192.168.2.77', '192.168.1.10', '255.255.255.0'));
  t.ok(inSubnet('10.1.2.3', '10.0.0.7', '255.0.0.0'));
  t.notOk(inSubnet('fe80::1', '10.0.0.7', '255.0.0.0'), 'not an IPv4 address');
});
