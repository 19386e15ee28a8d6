import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { networkCode, type KeyPair } from '../trust/identity.js';
import { writeFileAtomic } from './data-dir.js';

const Pem = (label: string) => z.string().max(8_192).regex(new RegExp(`^-----BEGIN ${label}-----\\n[A-Za-z0-9+/=\\n]+-----END ${label}-----\\n?$`));
const CertPem = Pem('CERTIFICATE');
const KeyPem = Pem('PRIVATE KEY');

/**
 * `identity-<network>.json`, owner-only: the network's authority as this machine knows it. A client keeps
 * only the authority's certificate, pinned at first contact; a node of the network also keeps the
 * authority's key (it may admit nodes and certify itself) and its own certificate and key.
 */
const Stored = z.object({
  authority: CertPem,
  authorityKey: KeyPem.optional(),
  node: z.object({ cert: CertPem, key: KeyPem }).optional(),
  /** A node's: the identity is its network's (it founded it or was admitted), not only its own first one. */
  member: z.boolean().optional(),
  pinnedAt: z.number().int().nonnegative(),
});

export interface KnownIdentity {
  /** The authority's certificate (PEM). */
  readonly authorityPem: string;
  /** Its short code. */
  readonly code: string;
  /** The authority's key: held by the network's nodes only. */
  readonly authorityKeyPem?: string;
  /** This node's certificate and key, issued by the authority. */
  readonly node?: KeyPair;
  readonly member?: boolean;
  readonly pinnedAt: number;
}

const file = (network: string) => `identity-${network}.json`;

/** The identity of `network` this machine knows; undefined if none yet. A damaged file is an error (never silently re-pinned). */
export async function readIdentity(dataDir: string, network: string): Promise<KnownIdentity | undefined> {
  let text: string;
  try {
    text = await readFile(join(dataDir, file(network)), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const parsed = Stored.safeParse(json);
  if (!parsed.success) throw new Error(`${join(dataDir, file(network))} is damaged; remove it to trust the network afresh`);
  const s = parsed.data;
  return {
    authorityPem: s.authority,
    code: networkCode(s.authority),
    ...(s.authorityKey ? { authorityKeyPem: s.authorityKey } : {}),
    ...(s.node ? { node: { certPem: s.node.cert, keyPem: s.node.key } } : {}),
    ...(s.member ? { member: true } : {}),
    pinnedAt: s.pinnedAt,
  };
}

/** Writes what this machine knows of `network`'s identity (atomically; owner-only). */
export async function writeIdentity(dataDir: string, network: string, id: Omit<KnownIdentity, 'code'>): Promise<void> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const stored: z.infer<typeof Stored> = {
    authority: id.authorityPem,
    ...(id.authorityKeyPem ? { authorityKey: id.authorityKeyPem } : {}),
    ...(id.node ? { node: { cert: id.node.certPem, key: id.node.keyPem } } : {}),
    ...(id.member ? { member: true } : {}),
    pinnedAt: id.pinnedAt,
  };
  Stored.parse(stored);
  await writeFileAtomic(dataDir, file(network), JSON.stringify(stored));
}

/** Where the identity of `network` is kept (said in the message when it changed). */
export function identityPath(dataDir: string, network: string): string {
  return join(dataDir, file(network));
}

/**
 * The network identities this machine trusts, by network name: a client's pins, and a node's network once
 * it is a member (a node's first identity, its own until a network admits it, is nobody's pin).
 */
export async function readPins(dataDir: string): Promise<Map<string, string>> {
  const pins = new Map<string, string>();
  for (const name of await readdir(dataDir).catch(() => [] as string[])) {
    const network = /^identity-(.+)\.json$/.exec(name)?.[1];
    if (network === undefined) continue;
    const known = await readIdentity(dataDir, network).catch(() => undefined);
    if (known !== undefined && (known.authorityKeyPem === undefined || known.member)) pins.set(network, known.authorityPem);
  }
  return pins;
}

/** Pins `network`'s identity on first contact (a client's: the authority's certificate only). Never replaces one. */
export async function pinIdentity(dataDir: string, network: string, authorityPem: string, now = Date.now()): Promise<void> {
  if ((await readIdentity(dataDir, network).catch(() => undefined)) !== undefined) return;
  await writeIdentity(dataDir, network, { authorityPem, pinnedAt: now });
}
