import type { Msg, RelayContext } from '../context.js';
import type { Session } from '../session.js';
import type { RoomRequest } from '../../core/rooms.js';

type RoomMessage = Msg<'room:join' | 'room:create' | 'room:invite' | 'room:leave' | 'room:remove' | 'room:op' | 'room:topic'>;

/** A room action (issue #16): rate-limited per session (20, then 5 a second), decided and stored by the core, answered with a `room` frame. */
export function room(ctx: RelayContext, s: Session, msg: RoomMessage): void {
  if (!ctx.requestRate.take(`s${s.id}`)) return ctx.reject(s, 'rate_limited', 'too many requests; slow down', msg.id);
  ctx.core.step({ type: 'room', session: s.id, cid: msg.id, action: requestOf(msg), now: ctx.now() });
}

function requestOf(msg: RoomMessage): RoomRequest {
  switch (msg.type) {
    case 'room:join':
      return { type: 'join', room: msg.room };
    case 'room:create':
      return { type: 'create', room: msg.room, private: msg.private };
    case 'room:invite':
      return { type: 'invite', room: msg.room, users: msg.users };
    case 'room:leave':
      return { type: 'leave', room: msg.room };
    case 'room:remove':
      return { type: 'remove', room: msg.room, target: msg.user };
    case 'room:op':
      return { type: 'op', room: msg.room, target: msg.user };
    case 'room:topic':
      return { type: 'topic', room: msg.room, topic: msg.topic };
  }
}
