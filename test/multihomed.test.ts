import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { tmpDir } from './helpers/tmp.js';
import { waitFor } from './helpers/wait.js';
import { deleteNamespaces, namespaceProcs } from './helpers/netns.js';

/**
 * A coordinator on two LANs at once (a laptop on Ethernet and Wi-Fi): it must
 * advertise on both, each with the address that LAN can reach, so users on
 * either find it and chat together. Three network namespaces: M with lan0
 * (to A) and lan1 (to B), joined by veth pairs; multicast stays inside them.
 * Only lan0 carries M's multicast route, so sending on lan1 relies on the
 * per-interface socket; lan1 gets its address only after the node started
 * (Wi-Fi joining late). Needs root (ip netns).
 */
const id = `lcm${process.pid % 100_000}`;
const ns = { m: `${id}m`, a: `${id}a`, b: `${id}b` };
const octet = process.pid % 250;
const addr = { ma: `10.252.${octet}.1`, a: `10.252.${octet}.2`, mb: `10.253.${octet}.1`, b: `10.253.${octet}.2` };
const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });

function setUp(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root for ip netns';
  try {
    for (const n of Object.values(ns)) {
      ip('netns', 'add', n);
      ip('-n', n, 'link', 'set', 'lo', 'up');
    }
    const link = (mIf: string, mAddr: string | undefined, other: string, otherAddr: string, route: boolean) => {
      ip('-n', ns.m, 'link', 'add', mIf, 'type', 'veth', 'peer', 'name', 'lan0', 'netns', other); // not "veth*": lanchat ignores virtual links
      if (mAddr !== undefined) ip('-n', ns.m, 'addr', 'add', `${mAddr}/24`, 'dev', mIf);
      ip('-n', ns.m, 'link', 'set', mIf, 'up', 'multicast', 'on');
      if (route) ip('-n', ns.m, 'route', 'add', '224.0.0.0/4', 'dev', mIf);
      ip('-n', other, 'addr', 'add', `${otherAddr}/24`, 'dev', 'lan0');
      ip('-n', other, 'link', 'set', 'lan0', 'up', 'multicast', 'on');
      ip('-n', other, 'route', 'add', '224.0.0.0/4', 'dev', 'lan0');
    };
    link('lan0', addr.ma, ns.a, addr.a, true);
    link('lan1', undefined, ns.b, addr.b, false);
    return undefined;
  } catch (err) {
    tearDown();
    return `cannot create network namespaces: ${(err as Error).message.split('\n')[0]}`;
  }
}

const tearDown = () => deleteNamespaces(Object.values(ns));

const skip = setUp();
t.test('a coordinator on two LANs is found from both, at the address each can reach, and they chat', { skip: skip ?? false }, async (t) => {
  t.teardown(tearDown);
  const dir = tmpDir(t);
  const inNs = namespaceProcs(t);

  const node = inNs(ns.m, ['serve', '--port', '7777', '--data-dir', join(dir, 'm'), '--bcrypt-cost', '4', '--log-level', 'info']);
  const up = await node.line(/^lanchat coordinator .* at (.*) \(term/, 10_000);
  t.match(up[1], addr.ma, 'serves on lan0');
  ip('-n', ns.m, 'addr', 'add', `${addr.mb}/24`, 'dev', 'lan1'); // the second LAN comes up later
  await waitFor(() => node.stderr.some((l) => l.includes('mDNS: on interface') && l.includes(addr.mb)), 'mDNS on the new interface', 15_000);

  const client = (n: string, user: string) =>
    inNs(n, ['client', '--user', user, '--register', '--data-dir', join(dir, `c-${user}`)], { LANCHAT_PASSWORD: `pw-${user}` });
  const ann = client(ns.a, 'ann');
  const bob = client(ns.b, 'bob');
  const readyA = JSON.parse((await ann.line(/"type":"ready"/, 10_000)).input) as { coordinator: string };
  const readyB = JSON.parse((await bob.line(/"type":"ready"/, 10_000)).input) as { coordinator: string };
  t.equal(readyA.coordinator, `${addr.ma}:7777`, 'LAN A found it at its lan0 address');
  t.equal(readyB.coordinator, `${addr.mb}:7777`, 'LAN B found it at its lan1 address');
  ann.child.stdin!.write('{"type":"send","text":"hello from A","to":["bob"]}\n');
  await bob.line(/"text":"hello from A"/, 10_000);
  t.pass('a message crosses from one LAN to the other');

  // What an independent browser on each LAN sees: only the address it can reach.
  const browse = (n: string) =>
    spawnSync('ip', ['netns', 'exec', n, '/usr/bin/python3', fileURLToPath(new URL('../../test/helpers/zeroconf-browse.py', import.meta.url)), '1.5'], { encoding: 'utf8', timeout: 20_000 });
  const onA = browse(ns.a);
  if (onA.status === 3 || onA.error) {
    t.ok(true, 'A records as python-zeroconf sees them', { skip: 'python3-zeroconf is not installed (apt-get install python3-zeroconf)' });
  } else {
    t.equal(onA.status, 0, onA.stderr);
    const servicesA = JSON.parse(onA.stdout) as { addresses: string[] }[];
    const servicesB = JSON.parse(browse(ns.b).stdout) as { addresses: string[] }[];
    t.same(servicesA.map((s) => s.addresses), [[addr.ma]], 'LAN A is told the lan0 address only');
    t.same(servicesB.map((s) => s.addresses), [[addr.mb]], 'LAN B is told the lan1 address only');
  }

  ip('-n', ns.m, 'addr', 'del', `${addr.mb}/24`, 'dev', 'lan1'); // B's Wi-Fi goes away
  await waitFor(() => node.stderr.some((l) => l.includes('mDNS: interface gone') && l.includes(addr.mb)), 'the link on lan1 to close', 15_000);
  ann.child.stdin!.write('{"type":"send","text":"still here"}\n');
  await ann.line(/"text":"still here"/, 10_000);
  t.pass('the node goes on on the LAN it still has');
});
