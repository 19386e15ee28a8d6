import { createPrivateKey, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { identityPath, readIdentity, writeIdentity } from '../store/identity-store.js';
import { certifiedNode, createNetworkIdentity, isAuthority, issueNodeCertificate, networkCode, type KeyPair } from './identity.js';

/** What a node serves with: its network's authority (and its key) and its own certificate from it. */
export interface NodeIdentity {
  readonly authorityPem: string;
  readonly authorityKeyPem: string;
  readonly node: KeyPair;
  /** The network's short code. */
  readonly code: string;
  /**
   * Whether this identity is the network's: the node founded it (coordinated under it) or was admitted
   * to it. Until then it is the node's own, made at its first start, and it takes a network's when a
   * coordinator admits it. A member never takes another.
   */
  readonly member: boolean;
}

/**
 * This node's identity in `network`, from its data directory; at a node's first start, a new authority
 * (the node is its network's first, until it is admitted to one that already exists) and a certificate
 * from it. A certificate that does not name this node, or that its authority did not issue, is replaced.
 * Costs ~0.2 s the first time (loading the certificate library), nothing later.
 */
export async function ensureNodeIdentity(dataDir: string, network: string, nodeId: string, now = Date.now()): Promise<NodeIdentity> {
  const known = await readIdentity(dataDir, network);
  if (known !== undefined && known.authorityKeyPem === undefined) {
    throw new Error(`${identityPath(dataDir, network)} holds a client's pin, not a node's identity: a node and a client cannot share a data directory`);
  }
  const authority: KeyPair = known ? { certPem: known.authorityPem, keyPem: known.authorityKeyPem! } : await createNetworkIdentity(network, now);
  return certify(dataDir, network, nodeId, authority, known?.member ?? false, known?.node, now);
}

/** Takes the authority of the network that admitted this node (`peer:admit`), and a certificate from it. */
export async function adoptAuthority(dataDir: string, network: string, nodeId: string, authority: KeyPair, now = Date.now()): Promise<NodeIdentity> {
  const cert = new X509Certificate(authority.certPem); // throws on garbage
  if (!isAuthority(cert)) throw new Error('the coordinator sent no network authority');
  const spki = (k: KeyObject) => k.export({ type: 'spki', format: 'der' });
  if (!spki(createPublicKey(createPrivateKey(authority.keyPem))).equals(spki(cert.publicKey))) throw new Error("the coordinator sent a key that is not its authority's");
  return certify(dataDir, network, nodeId, authority, true, undefined, now);
}

/** Records that this node's identity is its network's (it coordinated under it). */
export async function becomeMember(dataDir: string, network: string, id: NodeIdentity, now = Date.now()): Promise<NodeIdentity> {
  if (id.member) return id;
  await writeIdentity(dataDir, network, { authorityPem: id.authorityPem, authorityKeyPem: id.authorityKeyPem, node: id.node, member: true, pinnedAt: now });
  return { ...id, member: true };
}

async function certify(dataDir: string, network: string, nodeId: string, authority: KeyPair, member: boolean, node: KeyPair | undefined, now: number): Promise<NodeIdentity> {
  let cert = node;
  const valid = cert !== undefined && certifiedNode(new X509Certificate(cert.certPem), new X509Certificate(authority.certPem), now) === nodeId;
  if (!valid || node === undefined) {
    cert = await issueNodeCertificate(authority, nodeId, now);
    if (certifiedNode(new X509Certificate(cert.certPem), new X509Certificate(authority.certPem), now) !== nodeId) throw new Error('the authority does not certify the certificate made with it');
    await writeIdentity(dataDir, network, { authorityPem: authority.certPem, authorityKeyPem: authority.keyPem, node: cert, member, pinnedAt: now });
  }
  return { authorityPem: authority.certPem, authorityKeyPem: authority.keyPem, node: cert!, code: networkCode(authority.certPem), member };
}
