import type { EventEmitter } from 'node:events';
import { z } from 'zod';
import { PROTOCOL_VERSION } from '../protocol/limits.js';
import { NetworkName } from '../protocol/fields.js';

/** The DNS-SD service type every lanchat node advertises (DESIGN §3). */
export const SERVICE_TYPE = 'lanchat';

/** What a node advertises: static for the life of the process (role and term are asked of the node, never in TXT). */
export interface Advertisement {
  /** Node id (16 hex digits). */
  id: string;
  network: string;
  /** The node's relay port (SRV port). */
  port: number;
}

/** A node seen on the LAN. mDNS is a hint of who exists, never proof of liveness (DESIGN §3). */
export interface Peer {
  id: string;
  network: string;
  /** Protocol version from TXT. */
  version: number;
  /** DNS-SD instance name, e.g. `lab-h1-9f2c1a3b`. */
  name: string;
  /** SRV target host. */
  host: string;
  port: number;
  /** Addresses to dial, best first: the answer's source address, then the A records. */
  addresses: string[];
}

export interface DiscoveryEvents {
  up: [Peer];
  down: [Peer];
  /** mDNS cannot run (UDP 5353 cannot be bound). Emitted to listeners only, never thrown; discovery keeps retrying. */
  error: [Error];
}

/**
 * Advertises this node and browses for others. Two implementations share
 * one contract test suite: DNS-SD over multicast-dns (real multicast) and an in-memory
 * bus for unit tests.
 */
export interface Discovery extends EventEmitter<DiscoveryEvents> {
  /** Starts advertising (idempotent; one advertisement per instance). */
  advertise(ad: Advertisement): void;
  /** Starts browsing (idempotent). `up` fires for peers already known, too. */
  browse(): void;
  /** Asks the network again (a periodic re-query finds nodes whose announcements we missed). */
  refresh(): void;
  /** Peers currently known, other than this node's own advertisement. */
  peers(): Peer[];
  /** Withdraws the advertisement (goodbye packet) and releases sockets. Idempotent. */
  stop(): Promise<void>;
}

/** TXT record contents: short keys, as DNS-SD recommends (RFC 6763 §6). */
export const Txt = z.object({
  id: z.string().regex(/^[0-9a-f]{16}$/),
  net: NetworkName,
  v: z.coerce.number().int().positive(),
});

/** The TXT record for an advertisement. */
export function txtFor(ad: Advertisement): Record<string, string> {
  return { id: ad.id, net: ad.network, v: String(PROTOCOL_VERSION) };
}
