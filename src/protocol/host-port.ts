/** `host:port`, with an IPv6 host in brackets: the one way addresses are written (no dependencies: the CLI loads it up front). */
export function formatHostPort(host: string, port: number): string {
  const h = host.replace(/^::ffff:/, '');
  return `${h.includes(':') ? `[${h}]` : h}:${port}`;
}
