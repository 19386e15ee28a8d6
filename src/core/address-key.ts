import { isIPv4, isIPv6 } from 'node:net';

/**
 * The key a peer's address is limited under (issue #14): an IPv4 address as it is (also when it comes
 * IPv4-mapped, `::ffff:10.0.0.5`, from a dual-stack socket), and an IPv6 address by its /64, since one
 * host on an IPv6 LAN may take any number of addresses in its prefix (privacy addresses, or made up at
 * will), the way an IPv4 host has one. Anything else (no address) is its own key. Pure.
 */
export function addressKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (isIPv4(address)) return address;
  const bare = address.replace(/%.*$/, ''); // a zone (fe80::1%eth0): one link's prefix is still one prefix
  if (!isIPv6(bare)) return address;
  return `${expand(bare).slice(0, 4).join(':')}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address, as lower-case hex without leading zeros. */
function expand(address: string): string[] {
  const [head = '', tail] = address.split('::');
  const groups = (part: string): string[] => {
    if (part === '') return [];
    const out: string[] = [];
    for (const g of part.split(':')) {
      if (g.includes('.')) {
        const [a, b, c, d] = g.split('.').map(Number) as [number, number, number, number];
        out.push(((a << 8) | b).toString(16), ((c << 8) | d).toString(16));
      } else out.push(parseInt(g, 16).toString(16));
    }
    return out;
  };
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  return [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
}
