import { formatHostPort } from '../protocol/fields.js';
import type { Discovery } from '../discovery/discovery.js';
import { lanAddresses } from '../discovery/interfaces.js';
import { fetchStatus } from '../discovery/status.js';
import { readKnown } from '../store/known-networks.js';

const BROWSE_MS = 1_500; // mDNS answers a query in ~20 ms on a LAN; a second and a half covers a slow or lossy one
const SETTLE_MS = 200;

/** What a search tried, so a user who gets nothing knows why. */
export interface SearchReport {
  addresses: string[];
  interfaces: string[];
  seconds: number;
  remembered: string[];
}

/**
 * Finds the coordinator of `network`: browses mDNS (when given) until a node
 * of the network answers, asks the nodes found and the remembered addresses
 * who coordinates, and returns coordinator addresses, best first.
 */
export async function findCoordinator(
  network: string,
  opts: { discovery?: Discovery; dataDir?: string; browseMs?: number },
): Promise<{ addresses: string[]; report: SearchReport }> {
  const started = Date.now();
  const remembered = opts.dataDir ? (await readKnown(opts.dataDir, network)).addresses : [];
  const d = opts.discovery;
  const deadline = started + (opts.browseMs ?? BROWSE_MS);
  d?.browse();
  let firstFound: number | undefined;
  // What every round found, kept across rounds (a status that timed out once does not undo a sighting).
  const found = new Map<string, number>();
  let candidates: string[] = [];
  for (;;) {
    const peers = (d?.peers() ?? []).filter((p) => p.network === network);
    candidates = [...new Set([...peers.flatMap((p) => p.addresses.slice(0, 2).map((a) => formatHostPort(a, p.port))), ...remembered])];
    const statuses = await Promise.all(candidates.map((a) => fetchStatus(a)));
    statuses.forEach((st, i) => {
      if (!st || st.network !== network) return;
      if (st.role === 'coordinator') found.set(candidates[i]!, Math.max(found.get(candidates[i]!) ?? -1, st.term));
      else if (st.coordinator) found.set(st.coordinator, Math.max(found.get(st.coordinator) ?? -1, st.term - 1));
    });
    // Responders spread their answers over 20–120 ms (RFC 6762 §6): once one coordinator is found, the others'
    // answers are waited for a moment, so that a node claiming a high term (a rogue, a stale one) is not all we try.
    if (found.size > 0) firstFound ??= Date.now();
    if ((firstFound !== undefined && Date.now() - firstFound >= SETTLE_MS) || Date.now() >= deadline) {
      const addresses = [...found.entries()].sort((a, b) => b[1] - a[1]).map(([a]) => a);
      return {
        addresses,
        report: { addresses: candidates, interfaces: lanAddresses().map((a) => `${a.iface} ${a.address}`), seconds: (Date.now() - started) / 1000, remembered },
      };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
