import { createHash, webcrypto, X509Certificate } from 'node:crypto';
import { createRequire } from 'node:module';

/**
 * A network's identity: a certificate authority of its own (ECDSA P-256), created by the network's first
 * node. Every node admitted to the network holds a certificate from it, issued in advance, so a failover
 * needs no signing; clients pin the authority on first contact (trust on first use, as SSH does) and from
 * then on accept only coordinators it certifies. People compare it by its short code (`networkCode`).
 *
 * Node's crypto verifies certificates but cannot create them: `@peculiar/x509` does that, loaded only when
 * a certificate is made (it costs ~0.2 s to load; a node makes one at its first start).
 */

/** A certificate and its private key, PEM. */
export interface KeyPair {
  readonly certPem: string;
  readonly keyPem: string;
}

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const VALID_YEARS = 30;
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
/** Crockford's base32: no I, L, O or U, so a code read aloud or copied by hand is not misread. */
const BASE32 = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
/** A node's certificate names it: `CN=lanchat node <16 hex digits>`. */
const NODE_CN = /^lanchat node ([0-9a-f]{16})$/;

type X509 = typeof import('@peculiar/x509');
let x509: Promise<X509> | undefined;
async function library(): Promise<X509> {
  x509 ??= (async () => {
    // Both are CommonJS: `require`, not `import`, which would first scan their source for its exports (0.15 s
    // of CPU at a node's first start, measured on Node 20).
    const require = createRequire(import.meta.url);
    require('reflect-metadata'); // @peculiar/x509 2 asks its user to load the Reflect metadata API first
    const lib = require('@peculiar/x509') as X509;
    lib.cryptoProvider.set(webcrypto as unknown as Crypto);
    return lib;
  })();
  return x509;
}

function pem(label: string, der: ArrayBuffer): string {
  const b64 = Buffer.from(der).toString('base64');
  return `-----BEGIN ${label}-----\n${b64.match(/.{1,64}/g)!.join('\n')}\n-----END ${label}-----\n`;
}

function serial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0]! &= 0x7f; // a positive integer, as RFC 5280 asks
  return Buffer.from(bytes).toString('hex');
}

function validity(now: number): { notBefore: Date; notAfter: Date } {
  // An hour back: machines on one LAN disagree about the time by minutes, sometimes more.
  return { notBefore: new Date(now - 3_600_000), notAfter: new Date(now + VALID_YEARS * 365 * 86_400_000) };
}

/** A new network identity: the authority's certificate and key. */
export async function createNetworkIdentity(network: string, now = Date.now()): Promise<KeyPair> {
  const lib = await library();
  const keys = await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']);
  const cert = await lib.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: [{ CN: [`lanchat network ${network}`] }],
    ...validity(now),
    keys: keys as CryptoKeyPair,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new lib.BasicConstraintsExtension(true, 0, true), // an authority that certifies nodes, never other authorities
      new lib.KeyUsagesExtension(lib.KeyUsageFlags.keyCertSign | lib.KeyUsageFlags.cRLSign, true),
      await lib.SubjectKeyIdentifierExtension.create(keys.publicKey as CryptoKey),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: pem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)) };
}

/** A certificate for node `nodeId`, issued by the network's authority (whose key only admitted nodes hold). */
export async function issueNodeCertificate(authority: KeyPair, nodeId: string, now = Date.now()): Promise<KeyPair> {
  if (!/^[0-9a-f]{16}$/.test(nodeId)) throw new Error(`not a node id: ${nodeId}`);
  const lib = await library();
  const ca = new lib.X509Certificate(authority.certPem);
  const caKey = await webcrypto.subtle.importKey('pkcs8', pemBody(authority.keyPem), ALGORITHM, false, ['sign']);
  const keys = await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']);
  const cert = await lib.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: [{ CN: [`lanchat node ${nodeId}`] }],
    issuer: ca.subjectName,
    ...validity(now),
    signingKey: caKey as CryptoKey,
    publicKey: keys.publicKey as CryptoKey,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new lib.BasicConstraintsExtension(false, undefined, true),
      new lib.KeyUsagesExtension(lib.KeyUsageFlags.digitalSignature, true),
      new lib.ExtendedKeyUsageExtension([SERVER_AUTH, CLIENT_AUTH]), // it serves clients and peers, and connects to peers
      await lib.AuthorityKeyIdentifierExtension.create(ca, false),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: pem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)) };
}

function pemBody(text: string): ArrayBuffer {
  const der = Buffer.from(text.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  return der.buffer.slice(der.byteOffset, der.byteOffset + der.byteLength) as ArrayBuffer;
}

/**
 * The network's short code: the SHA-256 of its authority's public key, first 60 bits, in Crockford's
 * base32 (`K7Q2-M9XD-4TJB`). The same on every node and client of one network; people compare it aloud.
 */
export function networkCode(authority: X509Certificate | string): string {
  const cert = typeof authority === 'string' ? new X509Certificate(authority) : authority;
  const digest = createHash('sha256').update(cert.publicKey.export({ type: 'spki', format: 'der' })).digest();
  let bits = 0n;
  for (const byte of digest.subarray(0, 8)) bits = (bits << 8n) | BigInt(byte);
  bits >>= 4n; // 64 bits → 60: twelve characters of five bits
  let out = '';
  for (let i = 11; i >= 0; i--) out += BASE32[Number((bits >> BigInt(i * 5)) & 31n)];
  return `${out.slice(0, 4)}-${out.slice(4, 8)}-${out.slice(8)}`;
}

/** An authority's full identifier: the SHA-256 of its public key (the short code is its first 60 bits). */
export function authorityId(authority: X509Certificate): string {
  return createHash('sha256').update(authority.publicKey.export({ type: 'spki', format: 'der' })).digest('base64url');
}

/** Whether `cert` is a network authority's certificate: self-issued, self-signed, a CA. */
export function isAuthority(cert: X509Certificate, now = Date.now()): boolean {
  return cert.ca && cert.checkIssued(cert) && cert.verify(cert.publicKey) && now >= Date.parse(cert.validFrom) && now <= Date.parse(cert.validTo);
}

/**
 * The node a certificate names, when `authority` issued it and it is valid at `now`; undefined otherwise
 * (another network's node, a forged or expired certificate, an authority's own certificate).
 */
export function certifiedNode(cert: X509Certificate, authority: X509Certificate, now = Date.now()): string | undefined {
  if (cert.ca || !cert.checkIssued(authority) || !cert.verify(authority.publicKey)) return undefined;
  if (now < Date.parse(cert.validFrom) || now > Date.parse(cert.validTo)) return undefined;
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(cert.subject)?.[1];
  return cn === undefined ? undefined : NODE_CN.exec(cn)?.[1];
}
