import { errorFrame } from '../../protocol/messages.js';
import { formatHostPort } from '../../protocol/fields.js';
import { digest, passwordOk } from './auth.js';
import type { Msg, RelayContext } from '../context.js';
import type { Session } from '../session.js';

/*
 * The coordinator's side of replication (DESIGN §5): nodes say `peer:hello`,
 * upload what this coordinator lacks, and acknowledge what they hold. The
 * bookkeeping (catch-up, streaming, the succession list, the acknowledgment
 * bound) is the core's (src/core/standbys.ts, src/core/node-core.ts); this is
 * the door: the network name, the node password, and the session becoming a peer.
 */

export function peerHello(ctx: RelayContext, s: Session, msg: Msg<'peer:hello'>): void {
  if (msg.network !== ctx.network) {
    ctx.send(s, errorFrame('invalid_message', `this is network "${ctx.network}", not "${msg.network}"`));
    s.ws.close(1008, 'wrong network');
    return;
  }
  // Its own bucket, not the users': a refused node must not lock its machine's users out.
  if (ctx.nodePassword !== undefined && !passwordOk(ctx, s, `n:${s.address}`, msg.nodePassword, digest(ctx.nodePassword), 'node_password')) {
    ctx.log.warn({ address: s.address, node: msg.id }, 'a node without the node password was refused');
    return;
  }
  s.admitted();
  s.peer = { id: msg.id, nonce: msg.nonce };
  const hello = { id: msg.id, address: formatHostPort(s.address, msg.port), priority: msg.priority, eligible: msg.eligible, term: msg.term, vv: msg.vv };
  ctx.core.step({ type: 'peer-hello', session: s.id, hello, now: ctx.now() });
}

export function peerEntries(ctx: RelayContext, s: Session, msg: Msg<'peer:entries'>): void {
  ctx.core.step({ type: 'peer-entries', session: s.id, batch: { entries: msg.entries, covers: msg.covers ?? [] }, now: ctx.now() });
}

export function peerAck(ctx: RelayContext, s: Session, msg: Msg<'peer:ack'>): void {
  ctx.core.step({ type: 'peer-ack', session: s.id, vv: msg.vv, term: msg.term, now: ctx.now() });
}
