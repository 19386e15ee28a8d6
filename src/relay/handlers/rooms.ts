import type { Msg, RelayContext } from '../context.js';
import type { Session } from '../session.js';
import type { RoomRequest } from '../../core/rooms.js';

type RoomMessage = Msg<'room:join' | 'room:create' | 'room:invite' | 'room:leave' | 'room:remove' | 'room:op' | 'room:topic'>;

/** A room action (issue #16): rate-limited per session (20, then 5 a second), decided and stored by the core, answered with a `room` frame. */
export function room(ctx: RelayContext, s: Session, msg: RoomMessage): void {
  if (!ctx.requestRate.take(`s${s.id}`)) return ctx.reject(s, 'rate_limited', 'too many requests; slow down', msg.id);
  ctx.core.step({ type: 'room', session: s.id, cid: msg.id, action: requestOf(msg), now: ctx.now() });
}

/** The frame as the core's request: `room:remove`'s and `room:op`'s `user` is their target (the asker is the session's). */
function requestOf(msg: RoomMessage): RoomRequest {
  const { type, id: _id, ...fields } = msg;
  const kind = type.slice('room:'.length);
  return ('user' in fields ? { type: kind, room: fields.room, target: fields.user } : { type: kind, ...fields }) as RoomRequest;
}
