import { X509Certificate } from 'node:crypto';
import { createSecureContext, type ConnectionOptions, type SecureContext, type TLSSocket, type TlsOptions } from 'node:tls';
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
  const context = {
    minVersion: MIN_TLS,
    ...(pinned === undefined ? {} : { ca: [pinned] }),
    ...(node ? { key: node.keyPem, cert: node.certPem } : {}),
  } satisfies TlsOptions;
  return {
    ...context,
    secureContext: contextFor(context),
    rejectUnauthorized: pinned !== undefined,
    checkServerIdentity: () => undefined, // see above: the authority, not a host name, identifies the network
  };
}

const CONTEXTS_KEPT = 16;
const contexts = new Map<string, SecureContext>();

/**
 * One secure context per set of keys and authorities, shared by every connection made with it: building
 * one parses the keys and certificates again (about half of a client's cost of a TLS connection).
 */
function contextFor(options: { minVersion: typeof MIN_TLS; ca?: string[]; key?: string; cert?: string }): SecureContext {
  const key = JSON.stringify([options.ca, options.key, options.cert]);
  let context = contexts.get(key);
  if (context === undefined) {
    context = createSecureContext(options);
    if (contexts.size >= CONTEXTS_KEPT) contexts.delete(contexts.keys().next().value!);
    contexts.set(key, context);
  }
  return context;
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
  const { leaf, issuer } = peerCertificates(socket);
  if (leaf === undefined || issuer === undefined || issuer.fingerprint256 === leaf.fingerprint256) return undefined;
  // The signatures are checked once per pair of certificates (a reconnecting client meets the same ones
  // again and again); the validity dates on every use.
  const key = `${leaf.fingerprint256} ${issuer.fingerprint256}`;
  let judged = judgedPairs.get(key);
  if (judged === undefined) {
    judged = judgePair(leaf, issuer);
    if (judgedPairs.size >= PAIRS_KEPT) judgedPairs.delete(judgedPairs.keys().next().value!);
    judgedPairs.set(key, judged);
  }
  if (judged === null) return undefined;
  const now = Date.now();
  return now >= judged.from && now <= judged.until ? judged.identity : undefined;
}

/**
 * The certificate a TLS peer presented and the one it sent as its issuer, read once per socket: Node
 * (20) hands the peer's certificate out once — a second `getPeerX509Certificate()` gives nothing, and
 * `getPeerCertificate()` an empty object, once `issuerCertificate` has been read.
 */
function peerCertificates(socket: TLSSocket): { leaf?: X509Certificate; issuer?: X509Certificate } {
  let pair = peers.get(socket);
  if (pair === undefined) {
    const leaf = socket.getPeerX509Certificate();
    pair = leaf === undefined ? {} : { leaf, ...(leaf.issuerCertificate ? { issuer: leaf.issuerCertificate } : {}) };
    peers.set(socket, pair);
  }
  return pair;
}

const peers = new WeakMap<TLSSocket, { leaf?: X509Certificate; issuer?: X509Certificate }>();

const PAIRS_KEPT = 64;
const judgedPairs = new Map<string, { identity: PresentedIdentity; from: number; until: number } | null>();

/** A node certificate and the authority that issued it, verified: what they identify, and while when. */
function judgePair(leaf: X509Certificate, issuer: X509Certificate): { identity: PresentedIdentity; from: number; until: number } | null {
  try {
    const [authority, cert] = [issuer, leaf];
    const from = Math.max(Date.parse(cert.validFrom), Date.parse(authority.validFrom));
    const until = Math.min(Date.parse(cert.validTo), Date.parse(authority.validTo));
    // Checked as of a moment both are valid, so the verdict holds for that whole span.
    if (!(from <= until) || !isAuthority(authority, from)) return null;
    const nodeId = certifiedNode(cert, authority, from);
    return nodeId === undefined ? null : { identity: { authorityPem: authority.toString(), code: networkCode(authority), nodeId }, from, until };
  } catch {
    return null;
  }
}

/**
 * The node a connecting peer's certificate names, when the network's authority issued it (the server asked
 * for it and OpenSSL verified the chain against that authority): only such peers are nodes of the network.
 */
export function certifiedPeer(socket: TLSSocket, authority: X509Certificate): string | undefined {
  if (!socket.authorized) return undefined;
  const cert = peerCertificates(socket).leaf;
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
