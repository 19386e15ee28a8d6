import { createHmac, timingSafeEqual } from 'node:crypto';
import { userKey } from '../protocol/messages.js';

/** Session tokens live this long: a failover within a day resumes without a password. */
export const TOKEN_TTL_MS = 24 * 60 * 60 * 1000;

/**
 * Issues a session token any replica can verify (DESIGN §5): the user, an
 * expiry, and an HMAC-SHA256 over both with the network secret. Resuming costs
 * one HMAC, not a bcrypt (a failover storm of 500 re-logins at 0.25 s each
 * would take two minutes).
 */
export function issueToken(secret: string, user: string, now: number): string {
  const body = `${userKey(user)}.${now + TOKEN_TTL_MS}`;
  return `${body}.${mac(secret, body)}`;
}

/** Whether `token` is a valid, unexpired token for `user`. */
export function verifyToken(secret: string, user: string, token: string, now: number): boolean {
  const parts = token.split('.');
  if (parts.length < 3) return false;
  const tag = parts.pop()!;
  const body = parts.join('.');
  const expiry = Number(parts.at(-1));
  const name = parts.slice(0, -1).join('.');
  if (name !== userKey(user) || !Number.isFinite(expiry) || expiry < now) return false;
  const want = Buffer.from(mac(secret, body), 'base64url');
  const got = Buffer.from(tag, 'base64url');
  return got.length === want.length && timingSafeEqual(got, want);
}

function mac(secret: string, body: string): string {
  return createHmac('sha256', Buffer.from(secret, 'base64')).update(body).digest('base64url');
}
