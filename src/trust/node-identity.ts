import { identityPath, readIdentity, writeIdentity } from '../store/identity-store.js';
import { certifiedNode, createNetworkIdentity, issueNodeCertificate, networkCode, type KeyPair } from './identity.js';
import { X509Certificate } from 'node:crypto';

/** What a node serves with: its network's authority and its own certificate from it. */
export interface NodeIdentity {
  readonly authorityPem: string;
  readonly node: KeyPair;
  /** The network's short code. */
  readonly code: string;
}

/**
 * This node's identity in `network`, from its data directory; at a node's first start, a new network
 * identity (the node is the network's first, until it is admitted to one that already exists) and its
 * certificate. A certificate that does not name this node, or that its authority did not issue, is
 * replaced. Costs ~0.2 s the first time (loading the certificate library), nothing later.
 */
export async function ensureNodeIdentity(dataDir: string, network: string, nodeId: string, now = Date.now()): Promise<NodeIdentity> {
  const known = await readIdentity(dataDir, network);
  if (known?.authorityKeyPem === undefined && known !== undefined) {
    throw new Error(`${identityPath(dataDir, network)} holds a client's pin, not a node's identity: a node and a client cannot share a data directory`);
  }
  const authority: KeyPair = known ? { certPem: known.authorityPem, keyPem: known.authorityKeyPem! } : await createNetworkIdentity(network, now);
  let node = known?.node;
  if (node === undefined || certifiedNode(new X509Certificate(node.certPem), new X509Certificate(authority.certPem), now) !== nodeId) {
    node = await issueNodeCertificate(authority, nodeId, now);
    await writeIdentity(dataDir, network, { authorityPem: authority.certPem, authorityKeyPem: authority.keyPem, node, pinnedAt: known?.pinnedAt ?? now });
  }
  return { authorityPem: authority.certPem, node, code: networkCode(authority.certPem) };
}
