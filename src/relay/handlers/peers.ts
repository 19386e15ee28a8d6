import { errorFrame } from '../../protocol/messages.js';
import { formatHostPort } from '../../protocol/fields.js';
import { answerProof, proofConfirmed } from './auth.js';
import { certifiedPeer } from '../../trust/tls.js';
import type { Msg, RelayContext } from '../context.js';
import type { Session } from '../session.js';

/*
 * The coordinator's side of replication (DESIGN §5): nodes say `peer:hello`,
 * upload what this coordinator lacks, and acknowledge what they hold. The
 * bookkeeping (catch-up, streaming, the succession list, the acknowledgment
 * bound) is the core's (src/core/standbys.ts, src/core/node-core.ts); this is
 * the door: the network name, the node password, and the session becoming a peer.
 */

/**
 * A node of the network (its TLS certificate, from the network's authority, names it) stands by. Anyone
 * else is refused: a node joins first (`peer:join`), and a certificate is what it gets for it.
 */
export function peerHello(ctx: RelayContext, s: Session, msg: Msg<'peer:hello'>): void {
  if (msg.network !== ctx.network) {
    ctx.send(s, errorFrame('invalid_message', `this is network "${ctx.network}", not "${msg.network}"`));
    s.ws.close(1008, 'wrong network');
    return;
  }
  if (certifiedPeer(s.tls, ctx.identity().authority) !== msg.id) {
    ctx.log.warn({ address: s.address, node: msg.id }, 'a node that is not a member of the network was refused');
    ctx.send(s, errorFrame('not_admitted', `node ${msg.id} is not a member of network "${ctx.network}": it joins with the node password first`));
    s.ws.close(1008, 'not a member');
    return;
  }
  s.admitted();
  s.peer = { id: msg.id };
  const hello = { id: msg.id, address: formatHostPort(s.address, msg.port), priority: msg.priority, eligible: msg.eligible, term: msg.term, vv: msg.vv };
  ctx.core.step({ type: 'peer-hello', session: s.id, hello, now: ctx.now() });
}

export function peerEntries(ctx: RelayContext, s: Session, msg: Msg<'peer:entries'>): void {
  ctx.core.step({ type: 'peer-entries', session: s.id, batch: { entries: msg.entries, covers: msg.covers ?? [] }, now: ctx.now() });
}

export function peerAck(ctx: RelayContext, s: Session, msg: Msg<'peer:ack'>): void {
  ctx.core.step({ type: 'peer-ack', session: s.id, vv: msg.vv, term: msg.term, now: ctx.now() });
}

/**
 * A node asks to join the network, proving the node password (CPace bound to this TLS session, never
 * sent): our share and confirmation. Without a node password the network admits nobody (the safe
 * default: the machine still chats, as a client). Guesses are limited per address, in their own bucket.
 */
export function peerJoin(ctx: RelayContext, s: Session, msg: Msg<'peer:join'>): void {
  if (ctx.nodePassword === undefined) {
    ctx.log.warn({ address: s.address, node: msg.id }, 'a node asked to join, but this network has no node password: refused');
    ctx.send(s, errorFrame('not_admitted', `network "${ctx.network}" admits no nodes: it has no node password (give its nodes one, LANCHAT_NODE_PASSWORD, to let machines stand by)`));
    s.ws.close(1008, 'no admission');
    return;
  }
  const answer = answerProof(ctx, s, ctx.nodePassword, 'node password', msg.share);
  if (answer !== undefined) ctx.send(s, { type: 'peer:join-proof', ...answer });
}

/** The joining node's confirmation: it knows the node password. It gets the network's authority, and goes. */
export function peerJoinConfirm(ctx: RelayContext, s: Session, msg: Msg<'peer:join-confirm'>): void {
  if (!proofConfirmed(ctx, s, 'node password', msg.confirm)) return void ctx.log.warn({ address: s.address }, 'a node with a wrong node password was refused');
  const { authorityPem, authorityKeyPem } = ctx.identity();
  ctx.log.info({ address: s.address }, 'a node proved the node password: admitted to the network');
  ctx.send(s, { type: 'peer:admit', authority: authorityPem, key: authorityKeyPem });
  ctx.nodeAdmitted(s.address);
  s.ws.close(1000, 'admitted');
}
