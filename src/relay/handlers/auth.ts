import { createHash, timingSafeEqual } from 'node:crypto';
import { WebSocket } from 'ws';
import { ProtocolError } from '../../protocol/errors.js';
import { errorFrame, proofContext, userKey } from '../../protocol/messages.js';
import { PasswordProof } from '../../trust/cpace.js';
import { sessionBinding } from '../../trust/tls.js';
import { accountOf, type UserEntry } from '../../protocol/entries.js';
import { issueToken, verifyToken } from '../../store/session-token.js';
import type { Msg, RelayContext } from '../context.js';
import type { Session } from '../session.js';

/**
 * The network password, first of all (issue #3), proved both ways and never sent (CPace bound to this TLS
 * session, src/trust/cpace.ts): the client's share; we answer with ours and a confirmation.
 */
export function networkAuth(ctx: RelayContext, s: Session, msg: Msg<'network:auth'>): void {
  if (s.networkOk) return ctx.send(s, { type: 'network:ok' });
  if (s.proof !== undefined || !takeGuess(ctx, s, `a:${s.address}`)) return refuse(ctx, s, 'network_password');
  const proof = new PasswordProof(ctx.networkPassword!, proofContext('network password', ctx.network), sessionBinding(s.tls, 'password'));
  const confirm = proof.answer(Buffer.from(msg.share, 'base64'));
  if (confirm === undefined) return refuse(ctx, s, 'network_password');
  s.proof = proof;
  ctx.send(s, { type: 'network:proof', share: proof.share.toString('base64'), confirm: confirm.toString('base64') });
}

/** The client's confirmation: it knew the network password (and checked that we do). */
export function networkConfirm(ctx: RelayContext, s: Session, msg: Msg<'network:confirm'>): void {
  if (s.networkOk) return ctx.send(s, { type: 'network:ok' });
  if (s.proof === undefined || !s.proof.verify(Buffer.from(msg.confirm, 'base64'))) return refuse(ctx, s, 'network_password');
  s.proof = undefined;
  ctx.loginByAddress.refund(`a:${s.address}`);
  s.networkOk = true;
  ctx.send(s, { type: 'network:ok' });
}

/** A guess at a shared password costs a token of the address's bucket, given back when it was right. */
export function takeGuess(ctx: RelayContext, s: Session, bucket: string): boolean {
  if (ctx.loginByAddress.take(bucket)) return true;
  ctx.send(s, errorFrame('rate_limited', 'too many wrong passwords from this address; wait a minute'));
  s.ws.close(1008, 'rate limited');
  return false;
}

export function refuse(ctx: RelayContext, s: Session, code: 'network_password' | 'node_password'): void {
  if (s.ws.readyState !== WebSocket.OPEN) return; // already closed (rate limited)
  ctx.send(s, errorFrame(code));
  s.ws.close(1008, code === 'network_password' ? 'wrong network password' : 'wrong node password');
}

/**
 * Checks a shared password (network or node), rate-limited per address in `bucket`: a failure costs a token
 * (taken before the check, so concurrent guesses cannot slip past), a success gives it back. On failure the
 * session is told `code` (or `rate_limited`) and closed.
 */
export function passwordOk(ctx: RelayContext, s: Session, bucket: string, given: string | undefined, expected: Buffer, code: 'network_password' | 'node_password'): boolean {
  if (!ctx.loginByAddress.take(bucket)) {
    ctx.send(s, errorFrame('rate_limited', 'too many wrong passwords from this address; wait a minute'));
    s.ws.close(1008, 'rate limited');
    return false;
  }
  if (given === undefined || !timingSafeEqual(digest(given), expected)) {
    ctx.send(s, errorFrame(code));
    s.ws.close(1008, code === 'network_password' ? 'wrong network password' : 'wrong node password');
    return false;
  }
  ctx.loginByAddress.refund(bucket);
  return true;
}

export async function register(ctx: RelayContext, s: Session, msg: Msg<'auth:register'>): Promise<void> {
  const user = await ctx.credentials.register(msg.user, msg.password);
  ctx.emitEvent('user:registered', user.name, s.address);
  if (s.ws.readyState === WebSocket.OPEN) loginSession(ctx, s, user); // it may have left during the hash
}

export async function login(ctx: RelayContext, s: Session, msg: Msg<'auth:login'>): Promise<void> {
  const userBucket = `u:${userKey(msg.user)}`;
  const addrBucket = `a:${s.address}`;
  // Tokens are taken before the check and given back on success, so concurrent guesses cannot slip past.
  const userOk = ctx.loginByUser.take(userBucket);
  if (!userOk || !ctx.loginByAddress.take(addrBucket)) {
    if (userOk) ctx.loginByUser.refund(userBucket);
    throw new ProtocolError('rate_limited', 'too many failed logins; wait a minute and try again');
  }
  let user: UserEntry;
  try {
    user = await ctx.credentials.verify(msg.user, msg.password);
  } catch (err) {
    if (err instanceof ProtocolError && err.code === 'auth_failed') {
      ctx.send(s, errorFrame('auth_failed')); // not a strike: people mistype passwords
      return;
    }
    ctx.loginByUser.refund(userBucket);
    ctx.loginByAddress.refund(addrBucket);
    throw err;
  }
  ctx.loginByUser.reset(userBucket);
  ctx.loginByAddress.refund(addrBucket);
  if (s.ws.readyState === WebSocket.OPEN) loginSession(ctx, s, user); // it may have left during the check
}

/**
 * Session resume after a failover: a token any replica can verify, no bcrypt (DESIGN §5). The token names
 * the account, so one that lost its name to an earlier registration is told so, not logged in as the winner.
 */
export function resume(ctx: RelayContext, s: Session, msg: Msg<'auth:resume'>): void {
  const state = ctx.core.state;
  const secret = state.secret?.value;
  const account = secret === undefined ? undefined : verifyToken(secret, ctx.identity().authorityId, msg.user, msg.token, ctx.now());
  const user = account === undefined ? undefined : [state.user(msg.user), ...state.displaced(msg.user)].find((u): u is UserEntry => u !== undefined && accountOf(u) === account);
  if (user === undefined) {
    ctx.send(s, errorFrame('auth_failed', 'session expired; log in with your password')); // the client falls back to a login
    return;
  }
  loginSession(ctx, s, user, msg.cursor);
}

/** Hands a session whose password (or token) was checked to the core, with a fresh token. */
function loginSession(ctx: RelayContext, s: Session, user: UserEntry, cursor?: [string, number][]): void {
  const secret = ctx.core.state.secret?.value;
  const token = secret === undefined ? undefined : issueToken(secret, ctx.identity().authorityId, user.name, accountOf(user), ctx.now());
  ctx.core.step({ type: 'login', session: s.id, user, token, cursor, now: ctx.now() });
  s.user = ctx.core.sessionUser(s.id);
  if (s.user) s.admitted();
}

export function digest(password: string): Buffer {
  return createHash('sha256').update(password, 'utf8').digest();
}
