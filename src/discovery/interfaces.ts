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

/** The addresses to print for a server bound to `host`: every LAN address for a wildcard bind, else `host`. */
export function servedAddresses(host: string, ifaces?: NodeJS.Dict<NetworkInterfaceInfo[]>): string[] {
  if (host !== '0.0.0.0' && host !== '::') return [host];
  const lan = lanAddresses(ifaces).map((a) => a.address);
  return lan.length > 0 ? lan : ['127.0.0.1'];
}
