import type { Msg, RelayContext } from '../context.js';
import type { Session } from '../session.js';

/** A message to send: paced per session here, stored, replicated and delivered by the core (src/core/pipeline.ts). */
export function send(ctx: RelayContext, s: Session, msg: Msg<'chat:send'>): void {
  // A resend of something already stored is only acknowledged again: it costs no token.
  const resend = ctx.core.state.duplicateOf(s.user!.name, msg.id) !== undefined;
  if (!resend && !ctx.sendRate.take(`s${s.id}`)) return ctx.reject(s, 'rate_limited', 'sending too fast; slow down', msg.id);
  ctx.core.step({ type: 'send', session: s.id, cid: msg.id, to: msg.to, text: msg.text, room: msg.room, now: ctx.now() });
}

export function presence(ctx: RelayContext, s: Session): void {
  ctx.core.step({ type: 'presence-get', session: s.id });
}

/** A status (issue #16): rate-limited like room requests. */
export function status(ctx: RelayContext, s: Session, msg: Msg<'status:set'>): void {
  if (!ctx.requestRate.take(`s${s.id}`)) return ctx.reject(s, 'rate_limited', 'too many requests; slow down');
  ctx.core.step({ type: 'status', session: s.id, status: msg.status, text: msg.text, now: ctx.now() });
}
