import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { Proc } from './helpers/processes.js';
import { tmpDir } from './helpers/tmp.js';
import { waitFor } from './helpers/wait.js';
import { inPrivateNetwork } from './helpers/netns.js';

/**
 * Zero-configuration on one LAN, with real mDNS: the whole file runs in a
 * private network namespace where lo is the LAN (multicast stays inside).
 */
if (inPrivateNetwork(import.meta.url)) {
  const serve = (t: { teardown(fn: () => unknown): void }, dir: string, extra: string[] = []): Proc => {
    const p = new Proc(['serve', '--host', '127.0.0.1', '--port', '0', '--data-dir', dir, '--bcrypt-cost', '4', ...extra]);
    t.teardown(async () => {
      p.kill('SIGKILL');
      await p.exited().catch(() => undefined); // gone, sockets and all, before the next test starts
    });
    return p;
  };
  const roleOf = (p: Proc) => p.stdout.map((l) => /^lanchat (coordinator|standby) /.exec(l)?.[1]).filter(Boolean).at(-1);

  t.test('three nodes started at once: exactly one coordinator, two standbys, within 3 s', async (t) => {
    const dir = tmpDir(t);
    const started = Date.now();
    const nodes = [1, 2, 3].map((i) => serve(t, join(dir, `n${i}`)));
    // The 3 s is a figure of the bench (time to settle); here a loaded machine may take longer to start three processes.
    await waitFor(() => nodes.every((n) => roleOf(n) !== undefined), 'every node to settle', 15_000);
    // On a loaded machine a node's mDNS answer may come after another's 1 s browse: both lead, and the rival
    // rounds (every second) merge them into one (DESIGN §4.5). Wait for that, not for the first decision.
    const one = () => nodes.map(roleOf).sort().join() === 'coordinator,standby,standby';
    await waitFor(one, 'one coordinator and two standbys', 10_000).catch(() => undefined);
    const elapsed = Date.now() - started;
    const roles = nodes.map(roleOf).sort();
    t.same(roles, ['coordinator', 'standby', 'standby'], `settled in ${elapsed} ms`);
    const coordinator = nodes.find((n) => roleOf(n) === 'coordinator')!;
    const address = /at (127\.0\.0\.1:\d+)/.exec(coordinator.stdout.find((l) => l.startsWith('lanchat coordinator'))!)![1];
    for (const n of nodes.filter((x) => x !== coordinator)) t.match(n.stdout.at(-1), `coordinator at ${address}`);

    // A client with no address: it finds the coordinator by itself.
    const client = new Proc(['client', '--user', 'alice', '--register', '--data-dir', join(dir, 'client')], { LANCHAT_PASSWORD: 'pw' });
    t.teardown(() => client.kill('SIGKILL'));
    const ready = await client.line(/"type":"ready"/, 15_000);
    t.match(JSON.parse(ready.input), { type: 'ready', user: 'alice', coordinator: address });

    // The advertisement is standard DNS-SD: an independent browser (python-zeroconf) reads it.
    const browse = spawnSync('/usr/bin/python3', [fileURLToPath(new URL('../../test/helpers/zeroconf-browse.py', import.meta.url)), '1.5'], { encoding: 'utf8', timeout: 20_000 });
    if (browse.status === 3 || browse.error) {
      t.ok(true, 'interop with python-zeroconf', { skip: 'python3-zeroconf is not installed (apt-get install python3-zeroconf)' });
    } else {
      const services = JSON.parse(browse.stdout) as { name: string; host: string; port: number; txt: Record<string, string> }[];
      t.equal(services.length, 3, 'three services');
      for (const s of services) {
        t.match(s, { name: /-[0-9a-f]{8}\._lanchat\._tcp\.local\.$/, host: /\.local\.$/, txt: { id: /^[0-9a-f]{16}$/, net: 'default', v: '1' } });
        t.ok(s.port > 0);
      }
    }
  });

  t.test('--network separates networks on one LAN', async (t) => {
    const dir = tmpDir(t);
    const a = serve(t, join(dir, 'a'), ['--network', 'alpha']);
    const b = serve(t, join(dir, 'b'), ['--network', 'beta']);
    await waitFor(() => roleOf(a) && roleOf(b), 'both to settle', 20_000); // a first start under a loaded machine: this is not the figure being checked
    t.same([roleOf(a), roleOf(b)], ['coordinator', 'coordinator'], 'each leads its own network');
  });

  t.test('a client that finds nothing says what it tried and how to connect by address', async (t) => {
    const c = new Proc(['client', '--user', 'alice', '--network', 'nobody-here', '--data-dir', tmpDir(t)], { LANCHAT_PASSWORD: 'pw' });
    t.equal(await c.exited(), 1);
    t.match(c.stdout.join('\n'), /no coordinator of network \\"nobody-here\\" found: browsed mDNS for \d\.\d s .*nothing remembered.*--connect HOST:PORT/);
  });

  t.test('a client remembers the coordinator and finds it again when mDNS finds nothing', async (t) => {
    const dir = tmpDir(t);
    const hidden = serve(t, join(dir, 'node'), ['--locked']); // advertises nothing
    const address = (await hidden.line(/at (127\.0\.0\.1:\d+)/))[1]!;
    const first = new Proc(['client', '--locked', '--connect', address, '--user', 'alice', '--register', '--data-dir', join(dir, 'client')], { LANCHAT_PASSWORD: 'pw' });
    t.teardown(() => first.kill('SIGKILL'));
    await first.line(/"type":"ready"/);
    await waitFor(() => existsSync(join(dir, 'client', 'known-default.json')), 'the remembered succession list');
    const again = new Proc(['client', '--user', 'alice', '--data-dir', join(dir, 'client')], { LANCHAT_PASSWORD: 'pw' });
    t.teardown(() => again.kill('SIGKILL'));
    t.match(JSON.parse((await again.line(/"type":"ready"/, 15_000)).input), { coordinator: address });
  });

  t.test('locked-down mode sends and reads no mDNS at all', async (t) => {
    // Listen on the mDNS group, as any other responder on the LAN would.
    const packets: string[] = [];
    const sock = createSocket({ type: 'udp4', reuseAddr: true });
    await new Promise<void>((r) => sock.bind(5353, () => r()));
    sock.addMembership('224.0.0.251', '127.0.0.1');
    sock.on('message', (_m, rinfo) => packets.push(`${rinfo.address}:${rinfo.port}`));
    t.teardown(() => new Promise<void>((r) => sock.close(() => r())));
    const dir = tmpDir(t);
    const locked = serve(t, join(dir, 'locked'), ['--locked']);
    const address = (await locked.line(/at (127\.0\.0\.1:\d+)/))[1]!;
    const client = new Proc(['client', '--locked', '--connect', address, '--user', 'alice', '--register', '--data-dir', join(dir, 'client')], { LANCHAT_PASSWORD: 'pw' });
    t.teardown(() => client.kill('SIGKILL'));
    await client.line(/"type":"ready"/);
    const quiet = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 1500)']);
    await new Promise((r) => quiet.on('exit', r)); // let 1.5 s pass while both run
    t.same(packets, [], 'no packet on UDP 5353 from a locked node and client');
    // The same listener does hear an unlocked node: the silence above is meaningful.
    serve(t, join(dir, 'open'));
    await waitFor(() => packets.length > 0, 'mDNS from an unlocked node', 20_000); // its first start, on a machine that may be busy
    t.ok(packets.length > 0);
  });
  t.test('UDP 5353 held by another program: the node says so and works by address, the client says why', async (t) => {
    // A responder that binds 5353 without sharing it (no SO_REUSEADDR): ours cannot bind.
    const holder = await bindExclusively(5353);
    t.teardown(() => new Promise<void>((r) => holder.close(() => r())));
    const dir = tmpDir(t);
    const node = serve(t, join(dir, 'n'));
    const address = (await node.line(/^lanchat coordinator .* at (127\.0\.0\.1:\d+)/, 20_000))[1]!;
    await waitFor(() => node.stderr.find((l) => l.startsWith('lanchat: mDNS is unavailable: UDP port 5353 is held by another program')), 'the warning, in words');
    t.equal(node.exitCode, undefined, 'no crash');
    const byAddress = new Proc(['client', '--connect', address, '--user', 'alice', '--register', '--data-dir', join(dir, 'c1')], { LANCHAT_PASSWORD: 'pw' });
    t.teardown(() => byAddress.kill('SIGKILL'));
    await byAddress.line(/"type":"ready"/);
    const searching = new Proc(['client', '--user', 'bob', '--register', '--data-dir', join(dir, 'c2')], { LANCHAT_PASSWORD: 'pw' });
    t.teardown(() => searching.kill('SIGKILL'));
    t.equal(await searching.exited(), 1);
    t.match(searching.stdout.join('\n'), /"code":"connection_failed".*mDNS is unavailable: UDP port 5353 is held by another program.*--connect HOST:PORT/);
  });

  /** Binds a UDP port without sharing it; retries while a socket of an earlier test is still letting go of it. */
  async function bindExclusively(port: number): Promise<Socket> {
    for (let attempt = 0; ; attempt++) {
      const sock = createSocket({ type: 'udp4', reuseAddr: false });
      const err = await new Promise<Error | undefined>((resolve) => {
        sock.once('error', resolve);
        sock.bind(port, () => resolve(undefined));
      });
      if (err === undefined) return sock;
      sock.close();
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 50) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
