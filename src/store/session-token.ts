import { createHmac, timingSafeEqual } from 'node:crypto';
import { userKey } from '../protocol/messages.js';

/** Session tokens live this long: a failover within a day resumes without a password. */
export const TOKEN_TTL_MS = 24 * 60 * 60 * 1000;

/**
 * Issues a session token any replica can verify (DESIGN §5): the user, the
 * account (so an account that lost its name to an earlier registration cannot
 * resume as the winner), an expiry, and an HMAC-SHA256 over them with the
 * network secret. Resuming costs one HMAC, not a bcrypt.
 */
export function issueToken(secret: string, user: string, account: string, now: number): string {
  const body = `${userKey(user)}.${account}.${now + TOKEN_TTL_MS}`;
  return `${body}.${mac(secret, body)}`;
}

/** The account a valid, unexpired token for `user` names; undefined for any other token. */
export function verifyToken(secret: string, user: string, token: string, now: number): string | undefined {
  const parts = token.split('.');
  if (parts.length < 4) return undefined;
  const tag = parts.pop()!;
  const expiry = Number(parts.pop());
  const account = parts.pop()!;
  const name = parts.join('.');
  if (name !== userKey(user) || !Number.isFinite(expiry) || expiry < now || account === '') return undefined;
  const want = Buffer.from(mac(secret, `${name}.${account}.${expiry}`), 'base64url');
  const got = Buffer.from(tag, 'base64url');
  return got.length === want.length && timingSafeEqual(got, want) ? account : undefined;
}

function mac(secret: string, body: string): string {
  return createHmac('sha256', Buffer.from(secret, 'base64')).update(body).digest('base64url');
}
