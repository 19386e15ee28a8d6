import { X509Certificate } from 'node:crypto';
import { networkCode } from './identity.js';
import type { PresentedIdentity } from './tls.js';

/** What a client makes of the identity a coordinator presented, given the one it pinned (if any). */
export type Verdict =
  | { kind: 'trusted' }
  | { kind: 'first-contact'; presented: PresentedIdentity }
  | { kind: 'changed'; knownCode: string; presented: PresentedIdentity }
  | { kind: 'not-lanchat' };

/**
 * Trust on first use, as SSH's known_hosts: the first authority met is pinned; from then on only
 * coordinators it certifies are accepted, and another one is refused loudly, never followed.
 */
export function judge(pinned: string | undefined, presented: PresentedIdentity | undefined): Verdict {
  if (presented === undefined) return { kind: 'not-lanchat' };
  if (pinned === undefined) return { kind: 'first-contact', presented };
  if (sameAuthority(pinned, presented.authorityPem)) return { kind: 'trusted' };
  return { kind: 'changed', knownCode: networkCode(pinned), presented };
}

/** Whether two certificates (PEM) are the same authority: the same public key (a re-issued certificate of one key is one authority). */
export function sameAuthority(a: string, b: string): boolean {
  const key = (pem: string) => new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' });
  return key(a).equals(key(b));
}
