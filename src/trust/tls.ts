import { X509Certificate } from 'node:crypto';
import type { ConnectionOptions, PeerCertificate, TLSSocket, TlsOptions } from 'node:tls';
import { certifiedNode, isAuthority, networkCode, type KeyPair } from './identity.js';
import { PasswordProof } from './cpace.js';
import { proofContext } from '../protocol/messages.js';

/**
 * TLS 1.3 on every link, with the network's identity instead of the web's authorities: a node serves with
 * its certificate (issued by the network's authority) and asks connecting peers for theirs; a client
 * verifies a coordinator against the authority it pinned, or, on first contact, reads which authority
 * the coordinator presents so it can be pinned. Host names are not checked: on a LAN, addresses change and
 * nodes have no names a certificate could hold; the authority is what identifies the network.
 */

export const MIN_TLS = 'TLSv1.3';

/** What a node serves with: its certificate and the authority's (the chain a first-time client pins). */
export function serverOptions(authorityPem: string, node: KeyPair): TlsOptions {
  return {
    key: node.keyPem,
    cert: `${node.certPem.trim()}\n${authorityPem.trim()}\n`,
    ca: [authorityPem], // a peer's certificate is checked against the network's authority
    requestCert: true, // nodes present theirs; clients have none and are still served
    rejectUnauthorized: false,
    minVersion: MIN_TLS,
  };
}

/**
 * How a client or node connects: verifying the coordinator against `pinned` (the authority's PEM) when it
 * has one, else accepting any certificate for `firstContact` to judge; a node presents its own.
 */
export function clientOptions(pinned: string | undefined, node?: KeyPair): ConnectionOptions {
  return {
    minVersion: MIN_TLS,
    ...(pinned === undefined ? { rejectUnauthorized: false } : { ca: [pinned], rejectUnauthorized: true }),
    checkServerIdentity: () => undefined, // see above: the authority, not a host name, identifies the network
    ...(node ? { key: node.keyPem, cert: node.certPem } : {}),
  };
}

/** The network identity a TLS peer presented: its authority (PEM and short code) and the node it certifies. */
export interface PresentedIdentity {
  readonly authorityPem: string;
  readonly code: string;
  readonly nodeId: string;
}

/**
 * What the other end of `socket` presented: a node certificate and the authority that issued it, as a
 * lanchat node sends them. Undefined when it presented anything else (no certificate, a self-signed leaf,
 * a chain that does not verify): that is no lanchat node of any network.
 */
export function presentedIdentity(socket: TLSSocket): PresentedIdentity | undefined {
  const leaf = socket.getPeerCertificate(true) as PeerCertificate & { issuerCertificate?: PeerCertificate };
  if (leaf === null || leaf.raw === undefined) return undefined;
  const issuer = leaf.issuerCertificate;
  if (issuer === undefined || issuer.raw === undefined || issuer === leaf) return undefined;
  try {
    const cert = new X509Certificate(leaf.raw);
    const authority = new X509Certificate(issuer.raw);
    if (!isAuthority(authority)) return undefined;
    const nodeId = certifiedNode(cert, authority);
    return nodeId === undefined ? undefined : { authorityPem: authority.toString(), code: networkCode(authority), nodeId };
  } catch {
    return undefined;
  }
}

/**
 * The node a connecting peer's certificate names, when the network's authority issued it (the server asked
 * for it and OpenSSL verified the chain against that authority): only such peers are nodes of the network.
 */
export function certifiedPeer(socket: TLSSocket, authority: X509Certificate): string | undefined {
  if (!socket.authorized) return undefined;
  const cert = socket.getPeerX509Certificate();
  return cert === undefined ? undefined : certifiedNode(cert, authority);
}

/** Bytes unique to this TLS session (RFC 8446 §7.5 exporter), to bind a proof to it: replayed elsewhere it is worthless. */
export function sessionBinding(socket: TLSSocket, label: string): Buffer {
  return socket.exportKeyingMaterial(32, `EXPORTER-lanchat ${label}`, Buffer.alloc(0));
}

/** One side of proving `password` (the network's or the node password of `network`) over this TLS session. */
export function proofOver(socket: TLSSocket, password: string, purpose: 'network password' | 'node password', network: string): PasswordProof {
  return new PasswordProof(password, proofContext(purpose, network), sessionBinding(socket, 'password'));
}
