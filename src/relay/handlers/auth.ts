import { WebSocket } from '../../protocol/ws.js';
import { ProtocolError } from '../../protocol/errors.js';
import { errorFrame, userKey } from '../../protocol/messages.js';
import { proofOver } from '../../trust/tls.js';
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
  const answer = answerProof(ctx, s, ctx.networkPassword!, 'network password', msg.share);
  if (answer !== undefined) ctx.send(s, { type: 'network:proof', ...answer });
}

/** The client's confirmation: it knew the network password (and checked that we do). */
export function networkConfirm(ctx: RelayContext, s: Session, msg: Msg<'network:confirm'>): void {
  if (s.networkOk) return ctx.send(s, { type: 'network:ok' });
  if (!proofConfirmed(ctx, s, 'network password', msg.confirm)) return;
  s.networkOk = true;
  ctx.send(s, { type: 'network:ok' });
}

/** What each shared password's proof costs: its bucket of the address's guesses, and its refusal. */
const PROOFS = {
  'network password': { bucket: 'a', code: 'network_password', reason: 'wrong network password' },
  'node password': { bucket: 'n', code: 'node_password', reason: 'wrong node password' },
} as const;

/**
 * Our side of a shared password's proof (CPace bound to this TLS session, never sent): the peer's share,
 * answered with ours and a confirmation. A guess costs a token of the address's bucket (taken first, so
 * concurrent guesses cannot slip past), given back once confirmed. Undefined: refused, and closed.
 */
export function answerProof(ctx: RelayContext, s: Session, password: string, purpose: keyof typeof PROOFS, share: string): { share: string; confirm: string } | undefined {
  if (s.proof !== undefined) return void refuse(s, ctx, purpose);
  if (!ctx.loginByAddress.take(`${PROOFS[purpose].bucket}:${s.source}`)) {
    ctx.send(s, errorFrame('rate_limited', 'too many wrong passwords from this address; wait a minute'));
    s.ws.close(1008, 'rate limited');
    return undefined;
  }
  const proof = proofOver(s.tls, password, purpose, ctx.network);
  const confirm = proof.answer(Buffer.from(share, 'base64'));
  if (confirm === undefined) return void refuse(s, ctx, purpose);
  s.proof = proof;
  return { share: proof.share.toString('base64'), confirm: confirm.toString('base64') };
}

/** The peer's confirmation of a proof `answerProof` answered: whether it knew the password (else refused, closed). */
export function proofConfirmed(ctx: RelayContext, s: Session, purpose: keyof typeof PROOFS, confirm: string): boolean {
  if (s.proof === undefined || !s.proof.verify(Buffer.from(confirm, 'base64'))) {
    refuse(s, ctx, purpose);
    return false;
  }
  s.proof = undefined;
  ctx.loginByAddress.refund(`${PROOFS[purpose].bucket}:${s.source}`);
  return true;
}

function refuse(s: Session, ctx: RelayContext, purpose: keyof typeof PROOFS): void {
  ctx.send(s, errorFrame(PROOFS[purpose].code));
  s.ws.close(1008, PROOFS[purpose].reason);
}

/**
 * A new account: its own budget (per address, and for the whole network), taken before the hash and
 * given back when the name or password is refused, so a flood of new names is refused at once and never
 * waits in line for the hashing threads that logins use (the credential store keeps them apart too).
 */
export async function register(ctx: RelayContext, s: Session, msg: Msg<'auth:register'>): Promise<void> {
  const { byAddress, overall } = ctx.registrations;
  if (!byAddress.allows(s.source)) throw new ProtocolError('rate_limited', 'too many new accounts from this address; wait a minute and try again');
  if (!overall.take('all')) throw new ProtocolError('rate_limited', 'too many new accounts on this network just now; wait a minute and try again');
  byAddress.take(s.source);
  let user: UserEntry;
  try {
    user = await ctx.credentials.register(msg.user, msg.password);
  } catch (err) {
    // A refused name or password costs nothing (a name taken, a look-alike, too long); being busy neither.
    if (err instanceof ProtocolError && err.code !== 'internal') (byAddress.refund(s.source), overall.refund('all'));
    throw err;
  }
  ctx.emitEvent('user:registered', user.name, s.address);
  if (s.ws.readyState === WebSocket.OPEN) loginSession(ctx, s, user); // it may have left during the hash
}

/** A password login, within the login limits (src/core/login-limits.ts). */
export async function login(ctx: RelayContext, s: Session, msg: Msg<'auth:login'>): Promise<void> {
  const verdict = ctx.logins.begin(userKey(msg.user), s.source);
  if (!verdict.ok) throw new ProtocolError('rate_limited', 'too many failed logins; wait a minute and try again');
  let user: UserEntry;
  try {
    user = await ctx.credentials.verify(msg.user, msg.password, !verdict.ticket.clean);
  } catch (err) {
    if (err instanceof ProtocolError && err.code === 'auth_failed') {
      ctx.logins.failed(verdict.ticket);
      ctx.send(s, errorFrame('auth_failed')); // not a strike: people mistype passwords
      return;
    }
    ctx.logins.abandoned(verdict.ticket);
    throw err;
  }
  ctx.logins.succeeded(verdict.ticket);
  if (s.ws.readyState === WebSocket.OPEN) loginSession(ctx, s, user); // it may have left during the check
}

/**
 * Session resume after a failover: a token any replica can verify, no bcrypt (DESIGN §5). The token names
 * the account, so one that lost its name to an earlier registration is told so, not logged in as the winner.
 */
export function resume(ctx: RelayContext, s: Session, msg: Msg<'auth:resume'>): void {
  if (!ctx.resumes.take(s.source)) throw new ProtocolError('rate_limited', 'too many sessions resumed from this address; try again shortly');
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

/** Sessions one account may have at once: a few devices and scripts, never an attacker's thousands (issue #14). */
export const MAX_SESSIONS_PER_USER = 10;

/** Hands a session whose password (or token) was checked to the core, with a fresh token. */
function loginSession(ctx: RelayContext, s: Session, user: UserEntry, cursor?: [string, number][]): void {
  if (ctx.core.sessionsOf(user.name).length >= MAX_SESSIONS_PER_USER) {
    ctx.send(s, errorFrame('too_many_sessions', `${user.name} has ${MAX_SESSIONS_PER_USER} sessions open, as many as a coordinator allows; close one first`));
    s.ws.close(1008, 'too many sessions');
    return;
  }
  const secret = ctx.core.state.secret?.value;
  const token = secret === undefined ? undefined : issueToken(secret, ctx.identity().authorityId, user.name, accountOf(user), ctx.now());
  ctx.core.step({ type: 'login', session: s.id, user, token, cursor, now: ctx.now() });
  s.user = ctx.core.sessionUser(s.id);
  if (s.user) s.admitted();
}
