import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';

/** Virtual bridges and tunnels that are never the LAN (issue #4: docker0, br-*, veth*, virbr*, vEthernet*). */
const VIRTUAL_IF = /^(docker\d*|br-|veth|virbr|vEthernet|vmnet|cni|flannel|cali|tun|tap|zt|wg|tailscale|utun)/i;

/** An interface address this node serves on. */
export interface LanAddress {
  iface: string;
  address: string;
}

/**
 * The IPv4 addresses of this machine's real LAN interfaces: no loopback, no
 * virtual bridges. Pure over its input, so it is tested with fixtures.
 */
export function lanAddresses(ifaces: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces()): LanAddress[] {
  const out: LanAddress[] = [];
  for (const [iface, infos] of Object.entries(ifaces)) {
    if (VIRTUAL_IF.test(iface)) continue;
    for (const info of infos ?? []) {
      if (info.family === 'IPv4' && !info.internal && !info.address.startsWith('169.254.')) out.push({ iface, address: info.address });
    }
  }
  return out;
}

/** A real LAN interface and its addresses: IPv4 (not link-local) with netmasks, IPv6 that a URL can dial (not link-local). */
export interface LanInterface {
  iface: string;
  v4: { address: string; netmask: string }[];
  v6: string[];
}

/** The machine's real LAN interfaces (as `lanAddresses` chooses them), each with its IPv4 and routable IPv6 addresses. */
export function lanInterfaces(ifaces: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces()): LanInterface[] {
  const out: LanInterface[] = [];
  for (const [iface, infos] of Object.entries(ifaces)) {
    if (VIRTUAL_IF.test(iface)) continue;
    const v4 = (infos ?? []).filter((i) => i.family === 'IPv4' && !i.internal && !i.address.startsWith('169.254.')).map((i) => ({ address: i.address, netmask: i.netmask }));
    const v6 = (infos ?? []).filter((i) => i.family === 'IPv6' && !i.internal && !/^fe[89ab]/i.test(i.address)).map((i) => i.address);
    if (v4.length + v6.length > 0) out.push({ iface, v4, v6 });
  }
  return out;
}

/** Whether an IPv4 address is in the subnet of `base`/`netmask`. */
export function inSubnet(address: string, base: string, netmask: string): boolean {
  const n = (a: string) => a.split('.').reduce((x, o) => ((x << 8) | (Number(o) & 255)) >>> 0, 0);
  if (!/^\d+\.\d+\.\d+\.\d+$/.test(address)) return false;
  const mask = n(netmask);
  return ((n(address) & mask) >>> 0) === ((n(base) & mask) >>> 0);
}

/**
 * The addresses to print (and advertise as this node's) for a server bound to `host`: every LAN address for
 * a wildcard bind (IPv4 ones, else routable IPv6 ones on an IPv6-only LAN; IPv4 only for `0.0.0.0`), else `host`.
 */
export function servedAddresses(host: string, ifaces?: NodeJS.Dict<NetworkInterfaceInfo[]>): string[] {
  if (host !== '0.0.0.0' && host !== '::') return [host];
  const lan = lanAddresses(ifaces).map((a) => a.address);
  if (lan.length > 0) return lan;
  const v6 = host === '::' ? lanInterfaces(ifaces).flatMap((l) => l.v6) : [];
  return v6.length > 0 ? v6 : ['127.0.0.1'];
}
