import { execFileSync, spawnSync } from 'node:child_process';
import { Proc } from './processes.js';
import { fileURLToPath } from 'node:url';

/** Set in the environment of a test re-run inside its private network namespace. */
const MARK = 'LANCHAT_TEST_NETNS';

/**
 * Runs the calling test file inside a private network namespace with only
 * `lo`, multicast on, and a 224.0.0.0/4 route (the tests never send
 * multicast on a real interface). Returns true when the caller is already
 * inside and should run its tests; otherwise re-runs the file there, relays
 * its TAP output, and returns false (the caller then does nothing). Where
 * namespaces cannot be made, prints a skip with the reason.
 */
export function inPrivateNetwork(testFileUrl: string): boolean {
  if (process.env[MARK] === '1') return true;
  const file = fileURLToPath(testFileUrl);
  const asRoot = process.getuid?.() === 0;
  const setup = 'ip link set lo up && ip link set lo multicast on && ip route add 224.0.0.0/4 dev lo';
  // `exec` keeps the node process the namespace's only payload; its output is the test's TAP stream.
  const script = `${setup} || exit 77; exec "$0" "$@"`;
  const args = [...(asRoot ? ['-n'] : ['-rn']), 'sh', '-c', script, process.execPath, ...process.execArgv, file];
  const r = spawnSync('unshare', args, { env: { ...process.env, [MARK]: '1' }, stdio: ['ignore', 'inherit', 'pipe'], timeout: 300_000 });
  const stderr = r.stderr?.toString() ?? '';
  if (r.error || r.status === 77 || /unshare: /.test(stderr)) {
    const why = (r.error?.message ?? stderr.split('\n').find((l) => l.trim()) ?? 'unknown').trim();
    process.stdout.write(`1..0 # SKIP needs a private network namespace (unshare -n as root, or unshare -rn): ${why}\n`);
    return false;
  }
  process.stderr.write(stderr);
  process.exitCode = r.status ?? 1;
  return false;
}

/** Deletes network namespaces made by a test (`ip netns add`); those already gone are skipped. */
export function deleteNamespaces(names: string[]): void {
  for (const n of names) {
    try {
      execFileSync('ip', ['netns', 'del', n], { stdio: 'pipe' });
    } catch {
      // already gone
    }
  }
}

/**
 * Runs `lanchat` processes inside named network namespaces (`ip netns exec`); at teardown each gets SIGTERM
 * (a clean exit writes its coverage), then SIGKILL if it lingers.
 */
export function namespaceProcs(t: { teardown(fn: () => unknown): void }): (ns: string, args: string[], env?: NodeJS.ProcessEnv) => Proc {
  const procs: Proc[] = [];
  t.teardown(async () => {
    for (const p of procs) p.kill('SIGTERM');
    await Promise.all(procs.map((p) => p.exited(5_000).catch(() => p.kill('SIGKILL'))));
  });
  return (ns, args, env = {}) => {
    const p = new Proc(args, env, ['ip', 'netns', 'exec', ns]);
    procs.push(p);
    return p;
  };
}

/**
 * A LAN of namespaces: a switch namespace holding bridge `br0` (no multicast snooping, so mDNS floods), and
 * each host a namespace whose `lan0` is plugged into it, with its IPv4 address (/24) and optionally an IPv6
 * one (/64, no duplicate detection), `lo` up and the multicast route. Throws if `ip` refuses.
 */
export function switchedLan(sw: string, hosts: readonly { ns: string; v4: string; v6?: string }[]): void {
  const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
  for (const n of [sw, ...hosts.map((h) => h.ns)]) ip('netns', 'add', n);
  ip('-n', sw, 'link', 'add', 'br0', 'type', 'bridge', 'mcast_snooping', '0');
  ip('-n', sw, 'link', 'set', 'br0', 'up');
  hosts.forEach((h, i) => {
    ip('-n', sw, 'link', 'add', `p${i + 1}`, 'type', 'veth', 'peer', 'name', 'lan0', 'netns', h.ns);
    ip('-n', sw, 'link', 'set', `p${i + 1}`, 'master', 'br0', 'up');
    ip('-n', h.ns, 'addr', 'add', `${h.v4}/24`, 'dev', 'lan0');
    if (h.v6 !== undefined) ip('-n', h.ns, 'addr', 'add', `${h.v6}/64`, 'dev', 'lan0', 'nodad');
    ip('-n', h.ns, 'link', 'set', 'lo', 'up');
    ip('-n', h.ns, 'link', 'set', 'lan0', 'up', 'multicast', 'on');
    ip('-n', h.ns, 'route', 'add', '224.0.0.0/4', 'dev', 'lan0');
  });
}
