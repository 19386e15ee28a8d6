import t from 'tap';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { tmpDir } from './helpers/tmp.js';
import { waitFor } from './helpers/wait.js';
import { deleteNamespaces, namespaceProcs, switchedLan } from './helpers/netns.js';
import { readMdns, type MdnsPacket } from './helpers/pcap.js';
import { SERVICE } from '../src/discovery/dns-sd.js';

/**
 * Standard DNS-SD (issue #15), checked against implementations that are not ours, on a LAN of namespaces:
 * hosts A and B (lanchat nodes; one host name, as two Raspberry Pis would have) and Z (avahi with its own
 * D-Bus, python-zeroconf), joined by a switch, each with an IPv4 and an IPv6 (ULA) address. avahi and
 * python-zeroconf resolve each node to its own address; lanchat finds what they advertise; a capture on the
 * switch shows the RFC 6762 behaviour (TTLs, txtvers, announcements, query backoff, known answers, goodbye);
 * a host with IPv6 only finds the coordinator and chats. Needs root (ip netns) and tcpdump; avahi and
 * python3-zeroconf parts are skipped, with the reason, where they are not installed.
 */
const id = `lcd${process.pid % 100_000}`;
const ns = { a: `${id}a`, b: `${id}b`, z: `${id}z`, sw: `${id}s` };
const octet = process.pid % 250;
const v4 = { a: `10.251.${octet}.1`, b: `10.251.${octet}.2`, z: `10.251.${octet}.3` };
const v6 = { a: `fd00:${octet.toString(16)}::1`, b: `fd00:${octet.toString(16)}::2`, z: `fd00:${octet.toString(16)}::3` };
const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
const helper = (name: string) => fileURLToPath(new URL(`./helpers/${name}`, import.meta.url));
const source = (name: string) => fileURLToPath(new URL(`../../test/helpers/${name}`, import.meta.url));

function setUp(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root for ip netns';
  if (spawnSync('tcpdump', ['--version']).status !== 0) return 'needs tcpdump (apt-get install tcpdump)';
  try {
    switchedLan(ns.sw, (['a', 'b', 'z'] as const).map((n) => ({ ns: ns[n], v4: v4[n], v6: v6[n] })));
    return undefined;
  } catch (err) {
    tearDown();
    return `cannot create network namespaces: ${(err as Error).message.split('\n')[0]}`;
  }
}

function tearDown(): void {
  // avahi-daemon forks away from its parent: whatever still runs in Z goes with the namespace.
  const pids = spawnSync('ip', ['netns', 'pids', ns.z], { encoding: 'utf8' }).stdout?.split('\n').filter(Boolean) ?? [];
  for (const pid of pids) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // gone
    }
  }
  deleteNamespaces(Object.values(ns));
}

const skip = setUp();
t.teardown(tearDown);

/** Runs a command in Z beside an avahi-daemon of its own; status 4 means avahi cannot run here. */
const withAvahi = (args: string[], timeout = 20_000) =>
  spawnSync('ip', ['netns', 'exec', ns.z, 'sh', source('avahi-env.sh'), ...args], { encoding: 'utf8', timeout });
const avahiMissing = () => (spawnSync('sh', ['-c', 'command -v avahi-daemon && command -v avahi-browse && command -v dbus-daemon']).status !== 0 ? 'avahi is not installed (apt-get install avahi-daemon avahi-utils)' : undefined);
const zeroconfMissing = () => (spawnSync('/usr/bin/python3', ['-c', 'import zeroconf']).status !== 0 ? 'python3-zeroconf is not installed (apt-get install python3-zeroconf)' : undefined);

interface Resolved {
  proto: string;
  name: string;
  host: string;
  address: string;
  port: number;
  txt: string[];
}

/** `avahi-browse -rpt` lines of resolved services. */
function parseAvahi(out: string): Resolved[] {
  return out
    .split('\n')
    .filter((l) => l.startsWith('='))
    .map((l) => {
      const f = l.split(';');
      return { proto: f[2]!, name: f[3]!, host: f[6]!, address: f[7]!, port: Number(f[8]), txt: [...(f[9] ?? '').matchAll(/"([^"]*)"/g)].map((m) => m[1]!) };
    });
}

t.test('DNS-SD with avahi, python-zeroconf and a capture on the switch', { skip: skip ?? false }, async (t) => {
  const dir = tmpDir(t);
  const inNs = namespaceProcs(t);
  const capture = join(dir, 'mdns.pcap');
  const dump = spawn('ip', ['netns', 'exec', ns.sw, 'tcpdump', '-U', '-i', 'br0', '-w', capture, 'udp', 'port', '5353'], { stdio: 'ignore' });
  t.teardown(() => void dump.kill('SIGKILL'));
  await waitFor(() => existsSync(capture), 'the capture to start', 10_000);

  // Two machines of one host name (the namespaces share this machine's), on networks of their own.
  const nodeB = inNs(ns.b, ['serve', '--port', '7777', '--network', 'beta', '--data-dir', join(dir, 'b'), '--bcrypt-cost', '4']);
  await nodeB.line(/^lanchat coordinator/, 15_000);
  const nodeA = inNs(ns.a, ['serve', '--port', '7777', '--network', 'alpha', '--data-dir', join(dir, 'a'), '--bcrypt-cost', '4']);
  await nodeA.line(/^lanchat coordinator/, 15_000);
  const mdnsFrom = (address: string) => readMdns(capture).filter((p) => p.src === address);

  await t.test('the capture: TTLs, txtvers, announcements, queries that back off with known answers (before anything else speaks mDNS)', async (t) => {
    // Node A's own queries (from its IPv4 address): at least four, to see the intervals double.
    const queries = () => mdnsFrom(v4.a).filter((p) => p.packet.type === 'query' && p.packet.questions.some((q) => q.name === SERVICE && q.type === 'PTR'));
    await waitFor(() => queries().length >= 4, "four of node A's queries", 60_000);
    const fromA = mdnsFrom(v4.a);
    const announcement = fromA.find((p) => p.packet.type === 'response' && p.packet.answers.some((r) => r.type === 'SRV'))!;
    t.ok(announcement, 'node A announced itself');
    const ttl = (type: string) => announcement.packet.answers.filter((r) => r.type === type).map((r) => (r as { ttl: number }).ttl);
    t.same(ttl('PTR'), [4500, 4500], 'PTR 75 min (the service and the service type enumeration)');
    t.same(ttl('SRV'), [120], 'SRV 120 s');
    t.same(ttl('TXT'), [4500], 'TXT 75 min');
    t.same(ttl('A'), [120], 'A 120 s');
    t.same(ttl('AAAA'), [120], 'AAAA 120 s');
    const txt = announcement.packet.answers.find((r) => r.type === 'TXT') as { data: Buffer[] };
    t.equal(txt.data[0]!.toString(), 'txtvers=1', 'txtvers first');
    t.same(announcement.packet.answers.filter((r) => r.type === 'A').map((r) => (r as { data: string }).data), [v4.a], 'its LAN address only');
    t.same(announcement.packet.answers.filter((r) => r.type === 'AAAA').map((r) => (r as { data: string }).data), [v6.a]);
    const announcements = fromA.filter((p) => p.packet.type === 'response' && p.packet.answers.length >= 5 && p.packet.questions.length === 0);
    t.ok(announcements.length >= 2 && announcements[1]!.time - announcements[0]!.time >= 0.9, 'announced twice, a second apart');
    const q = queries();
    const gaps = q.slice(1).map((p, i) => p.time - q[i]!.time);
    // The schedule doubles from each query's actual time; a busy machine may send later, never sooner. The
    // first interval is 1 s, not 2: a node does not take its own query, looped back, for someone else's.
    t.ok(
      gaps.every((g, i) => g >= 0.95 * 2 ** i),
      `the intervals double: at least 1, 2, 4, 8… s (${gaps.map((g) => g.toFixed(2)).join(', ')} s)`,
    );
    t.ok(gaps[0]! < 1.9, `the first interval is about a second (${gaps[0]!.toFixed(2)} s)`);
    const instanceB = mdnsFrom(v4.b)
      .flatMap((p) => p.packet.answers)
      .map((r) => (r.type === 'PTR' && r.name === SERVICE ? r.data : undefined))
      .find((x) => x !== undefined);
    const knows = (p: MdnsPacket | undefined) => p !== undefined && p.packet.answers.some((r) => r.type === 'PTR' && (r as { data: string }).data === instanceB);
    t.ok(q.some(knows), 'a later query lists the PTR it knows (node B’s) as a known answer');
    // Known-answer suppression: B does not answer a query that lists its PTR with more than half its TTL. (One
    // that follows a query that did not list it may be B's answer to that one, put off by the one-second rule.)
    const knowing = q.find((p, i) => i > 0 && knows(p) && knows(q[i - 1]));
    const bAnswers = (p: MdnsPacket) =>
      mdnsFrom(v4.b).filter((x) => x.time > p.time && x.time < p.time + 1 && x.packet.type === 'response' && x.packet.answers.some((r) => r.type === 'PTR' && r.name === SERVICE));
    t.ok(knowing, 'two queries in a row that list it');
    if (knowing !== undefined) t.same(bAnswers(knowing), [], 'node B stays silent: A knows its answer');
  });

  await t.test('avahi resolves each node to its own address, over IPv4 and IPv6', { skip: avahiMissing() ?? false }, async (t) => {
    let services: Resolved[] = [];
    await waitFor(() => {
      const r = withAvahi(['avahi-browse', '-rpt', '_lanchat._tcp']);
      if (r.status === 4) return true;
      services = parseAvahi(r.stdout ?? '');
      return new Set(services.filter((s) => s.proto === 'IPv4').map((s) => s.name)).size >= 2 && services.some((s) => s.proto === 'IPv6');
    }, 'avahi to resolve both nodes, over IPv4 and IPv6', 60_000);
    if (services.length === 0) return void t.ok(true, 'avahi', { skip: 'avahi-daemon cannot start in a namespace here' });
    const byAddress = new Map(services.filter((s) => s.proto === 'IPv4').map((s) => [s.address, s]));
    t.ok(byAddress.has(v4.a) && byAddress.has(v4.b), `each node at its own address (${[...byAddress.keys()].join(', ')})`);
    t.not(byAddress.get(v4.a)?.host, byAddress.get(v4.b)?.host, 'two SRV targets, though the machines share a host name');
    t.match(byAddress.get(v4.a), { port: 7777, host: /-[0-9a-f]{8}\.local$/ });
    t.same(byAddress.get(v4.a)!.txt.sort(), ['id=' + byAddress.get(v4.a)!.txt.find((x) => x.startsWith('id='))!.slice(3), 'net=alpha', 'txtvers=1', 'v=1'].sort());
    t.ok(services.some((s) => s.proto === 'IPv6'), 'found over IPv6 mDNS too');
  });

  await t.test('python-zeroconf resolves each node to its own address', { skip: zeroconfMissing() ?? false }, async (t) => {
    let services: { host: string; addresses: string[]; txt: Record<string, string> }[] = [];
    await waitFor(() => {
      const r = spawnSync('ip', ['netns', 'exec', ns.z, '/usr/bin/python3', source('zeroconf-browse.py'), '2'], { encoding: 'utf8', timeout: 20_000 });
      if (r.status !== 0) throw new Error(`zeroconf-browse.py: ${r.stderr}`);
      services = JSON.parse(r.stdout) as typeof services;
      return services.filter((s) => s.addresses.length > 0).length >= 2;
    }, 'python-zeroconf to resolve both nodes', 60_000);
    t.same(services.map((s) => s.addresses).sort(), [[v4.a], [v4.b]].sort(), 'each at its own address');
    t.equal(new Set(services.map((s) => s.host)).size, 2, 'two host names');
    t.ok(services.every((s) => s.txt.txtvers === '1'));
  });

  await t.test('lanchat finds what avahi-publish and python-zeroconf advertise', async (t) => {
    const found = (seconds: number) => {
      const r = spawnSync('ip', ['netns', 'exec', ns.a, process.execPath, helper('mdns-browse.js'), String(seconds)], { encoding: 'utf8', timeout: 20_000 });
      return JSON.parse(r.stdout || '[]') as { id: string; network: string; port: number; addresses: string[]; name: string }[];
    };
    await t.test('avahi-publish', { skip: avahiMissing() ?? false }, async (t) => {
      const pub = spawn('ip', ['netns', 'exec', ns.z, 'sh', source('avahi-env.sh'), 'avahi-publish', '-s', 'Avahi Node', '_lanchat._tcp', '7999', 'txtvers=1', 'id=abcdefabcdef0001', 'net=alpha', 'v=1'], { stdio: ['ignore', 'pipe', 'pipe'] });
      t.teardown(() => void pub.kill('SIGTERM'));
      const said: string[] = [];
      createInterface({ input: pub.stderr! }).on('line', (l) => said.push(l));
      const exited = new Promise<number | null>((r) => pub.once('exit', r));
      const up = await Promise.race([waitFor(() => said.some((l) => l.includes('Established')), 'avahi-publish to register', 20_000).then(() => 'up'), exited]);
      if (up === 4) return void t.ok(true, 'avahi-publish', { skip: 'avahi-daemon cannot start in a namespace here' });
      let peer: ReturnType<typeof found>[number] | undefined;
      await waitFor(() => (peer = found(2).find((p) => p.id === 'abcdefabcdef0001' && p.addresses.length >= 2)), 'lanchat to find the avahi service and both its addresses', 30_000);
      t.match(peer, { network: 'alpha', port: 7999, name: 'Avahi Node' });
      t.same([...peer!.addresses].sort(), [v4.z, v6.z].sort(), 'at its IPv4 and IPv6 addresses');
    });
    await t.test('python-zeroconf', { skip: zeroconfMissing() ?? false }, async (t) => {
      const pub = spawn('ip', ['netns', 'exec', ns.z, '/usr/bin/python3', source('zeroconf-publish.py'), 'Zeroconf Node', '7998', 'abcdefabcdef0002', 'alpha', v4.z], { stdio: ['ignore', 'pipe', 'pipe'] });
      t.teardown(() => void pub.kill('SIGTERM'));
      await new Promise<void>((resolve) => createInterface({ input: pub.stdout! }).once('line', () => resolve()));
      let peer: ReturnType<typeof found>[number] | undefined;
      await waitFor(() => (peer = found(2).find((p) => p.id === 'abcdefabcdef0002')), 'lanchat to find the python-zeroconf service', 30_000);
      t.match(peer, { network: 'alpha', port: 7998, name: 'Zeroconf Node', addresses: [v4.z] });
    });
  });

  await t.test('a goodbye on exit', async (t) => {
    nodeA.kill('SIGTERM');
    await nodeA.exited(15_000);
    const goodbye = await waitFor(() => mdnsFrom(v4.a).find((p) => p.packet.type === 'response' && p.packet.answers.length > 0 && p.packet.answers.every((r) => (r as { ttl: number }).ttl === 0)), 'a goodbye', 15_000);
    t.ok(goodbye.packet.answers.some((r) => r.type === 'PTR' && r.name === SERVICE), 'the PTR withdrawn with TTL 0');
  });

  await t.test('on an IPv6-only LAN, a client finds the coordinator and chats', async (t) => {
    ip('-n', ns.z, 'addr', 'del', `${v4.z}/24`, 'dev', 'lan0'); // Z has IPv6 only now
    const client = inNs(ns.z, ['client', '--network', 'beta', '--user', 'sixer', '--register', '--data-dir', join(dir, 'c6')], { LANCHAT_PASSWORD: 'pw-sixer' });
    const ready = JSON.parse((await client.line(/"type":"ready"/, 20_000)).input) as { coordinator: string };
    t.equal(ready.coordinator, `[${v6.b}]:7777`, 'found by mDNS over IPv6, reached over IPv6');
    client.child.stdin!.write('{"type":"send","text":"hello over IPv6"}\n');
    await client.line(/"type":"ack"/, 10_000);
    t.pass('a message acknowledged');
  });
});
