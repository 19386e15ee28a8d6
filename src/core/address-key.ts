/**
 * The key a peer's address is limited under (issue #14): the address itself, an IPv4 address also when it
 * comes IPv4-mapped (`::ffff:10.0.0.5`) from a dual-stack socket, IPv6 in lower case. Not an IPv6 /64, as
 * an internet server would key it: on a LAN every host takes its addresses from the same /64 (and every
 * link-local one from fe80::/64), so a prefix would make one host's guesses everyone's lock-out. Pure.
 */
export function addressKey(address: string): string {
  const mapped = /^(?:0{0,4}:){0,5}:?ffff:(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/i.exec(address);
  return mapped ? mapped[1]! : address.toLowerCase();
}
