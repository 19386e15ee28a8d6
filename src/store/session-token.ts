import { createHmac, timingSafeEqual } from 'node:crypto';
import { userKey } from '../protocol/messages.js';

/** Session tokens live this long: a failover within a day resumes without a password. */
export const TOKEN_TTL_MS = 24 * 60 * 60 * 1000;

/**
 * Issues a session token any replica can verify (DESIGN §5): the user, the
 * account (so an account that lost its name to an earlier registration cannot
 * resume as the winner), an expiry, and an HMAC-SHA256 over them and the
 * network's identity (`network`: its authority's key hash) with the network
 * secret: a token is good on its own network only. Resuming costs one HMAC, not a bcrypt.
 */
export function issueToken(secret: string, network: string, user: string, account: string, now: number): string {
  const body = `${userKey(user)}.${account}.${now + TOKEN_TTL_MS}`;
  return `${body}.${mac(secret, network, body)}`;
}

/** The account a valid, unexpired token for `user` names; undefined for any other token. */
export function verifyToken(secret: string, network: string, user: string, token: string, now: number): string | undefined {
  const parts = token.split('.');
  if (parts.length < 4) return undefined;
  const tag = parts.pop()!;
  const expiry = Number(parts.pop());
  const account = parts.pop()!;
  const name = parts.join('.');
  if (name !== userKey(user) || !Number.isFinite(expiry) || expiry < now || account === '') return undefined;
  const want = Buffer.from(mac(secret, network, `${name}.${account}.${expiry}`), 'base64url');
  const got = Buffer.from(tag, 'base64url');
  return got.length === want.length && timingSafeEqual(got, want) ? account : undefined;
}

function mac(secret: string, network: string, body: string): string {
  return createHmac('sha256', Buffer.from(secret, 'base64')).update(`lanchat token ${network} ${body}`).digest('base64url');
}
