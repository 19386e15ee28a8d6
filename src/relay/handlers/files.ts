import { FILE_CHUNK_BYTES, FILE_HEADER_BYTES, FILE_WINDOW_BYTES } from '../../protocol/limits.js';
import { errorFrame, userKey, type ServerMessage } from '../../protocol/messages.js';
import { formatBytes } from '../../protocol/units.js';
import { MAX_TRANSFERS, MIN_RATE_BYTES_PER_S, RATE_WINDOW_MS, type Outcome, type Transfer } from '../../core/transfers.js';
import type { Msg, RelayContext } from '../context.js';
import type { Session } from '../session.js';

/*
 * Files (issue #6): offered, accepted, then relayed chunk by chunk within the
 * window. Not in the replicated log: a transfer lives on one coordinator.
 */

export function fileOffer(ctx: RelayContext, s: Session, msg: Msg<'file:offer'>): void {
  const from = s.user!;
  if (!ctx.sendRate.take(`s${s.id}`)) return ctx.reject(s, 'rate_limited', 'sending too fast; slow down', msg.id);
  const max = ctx.limits.maxFileBytes;
  if (msg.size > max) {
    // A user's mistake, not abuse: no strike. Refused before any data flows.
    return ctx.send(s, errorFrame('file_too_large', `${msg.name} is ${formatBytes(msg.size)}; this network accepts files up to ${formatBytes(max)}`, msg.id));
  }
  const state = ctx.core.state;
  const users = new Map<string, string>();
  for (const name of msg.to) {
    const user = state.user(name);
    if (user === undefined) return ctx.reject(s, 'unknown_recipient', `no such user: ${name}`, msg.id);
    users.set(userKey(user.name), user.name);
  }
  const everyone = users.size === 0;
  if (everyone) for (const name of ctx.core.online) users.set(userKey(name), name);
  const targets: { session: Session; user: string }[] = [];
  const skipped: string[] = [];
  for (const [key, name] of users) {
    const sessions = ctx.core.sessionsOf(name).map((id) => ctx.session(id)).filter((x): x is Session => x !== undefined && x !== s);
    if (sessions.length === 0 && key !== userKey(from.name)) skipped.push(name);
    for (const session of sessions) targets.push({ session, user: name });
  }
  if (targets.length === 0) {
    const why = everyone || skipped.length === 0 ? 'nobody else is online' : `${skipped.join(', ')} ${skipped.length === 1 ? 'is' : 'are'} offline`;
    return ctx.send(s, errorFrame('recipient_offline', `${why}: files are not kept for users who are offline; nothing was sent`, msg.id));
  }
  // Every slot taken, most by another address: its slowest transfer gives way (see Transfers.displaced).
  const victim = ctx.transfers.refusal(from.name, s.source, false) === undefined ? ctx.transfers.displaced(s.source) : undefined;
  if (victim !== undefined) {
    ctx.log.info({ from: victim.from, stream: victim.stream, for: from.name }, 'every file slot taken: the slowest of the address holding the most gives way');
    abortTransfer(ctx, victim, `${victim.from}'s transfer was ended to make room for others`, `file transfer stopped: the coordinator relays ${MAX_TRANSFERS} files at once, and your address held the most of them; send it again later`);
  }
  const refusal = ctx.transfers.refusal(from.name, s.source);
  if (refusal !== undefined) return ctx.send(s, errorFrame('rate_limited', refusal, msg.id));
  const t = ctx.transfers.open(s, from.name, msg.id, msg.name, msg.size, targets, s.source);
  const to = [...new Set(targets.map((x) => x.user))];
  ctx.send(s, { type: 'file:accepted', id: msg.id, stream: t.stream, to, skipped: everyone ? [] : skipped, chunk: FILE_CHUNK_BYTES, window: FILE_WINDOW_BYTES });
  const start = JSON.stringify({ type: 'file:start', stream: t.stream, id: t.id, from: from.name, name: msg.name, size: msg.size, to: everyone ? [] : to } satisfies ServerMessage);
  for (const target of t.targets) ctx.sendRaw(target.session, start);
  ctx.log.info({ from: from.name, to, size: msg.size, stream: t.stream }, 'file transfer started');
}

/** A chunk: checked against the offer and the window, then passed on as it came (no copy). */
export function fileData(ctx: RelayContext, s: Session, buf: Buffer): void {
  if (buf.length < FILE_HEADER_BYTES) return ctx.reject(s, 'bad_frame', 'a file chunk starts with its 4-byte stream number');
  const stream = buf.readUInt32BE(0);
  const check = ctx.transfers.data(s, stream, buf.length - FILE_HEADER_BYTES);
  if (!check.ok) return senderBroke(ctx, s, check); // (no transfer: a chunk already in flight when it ended)
  for (const target of check.transfer.targets) {
    // A recipient that acknowledges data it has not read (its socket backs up) is cut off like any slow reader.
    if (target.state === 'receiving') ctx.sendRaw(target.session, buf);
  }
}

export function fileEnd(ctx: RelayContext, s: Session, msg: Msg<'file:end'>): void {
  const check = ctx.transfers.end(s, msg.stream);
  if (!check.ok) return senderBroke(ctx, s, check);
  const frame = JSON.stringify({ type: 'file:end', stream: msg.stream, sha256: msg.sha256 } satisfies ServerMessage);
  for (const target of check.transfer.targets) if (target.state === 'receiving') ctx.sendRaw(target.session, frame);
}

export function fileCancel(ctx: RelayContext, s: Session, msg: Msg<'file:cancel'>): void {
  const t = ctx.transfers.get(msg.stream);
  if (t?.sender !== s) return; // over already
  abortTransfer(ctx, t, `${t.from} cancelled it${msg.reason ? ` (${msg.reason})` : ''}`);
}

export function fileAck(ctx: RelayContext, s: Session, msg: Msg<'file:ack'>): void {
  const outcome = ctx.transfers.ack(s, msg.stream, msg.received);
  if (outcome === undefined) {
    const t = ctx.transfers.get(msg.stream);
    if (t?.targets.some((x) => x.session === s && x.state === 'receiving')) ctx.reject(s, 'invalid_message', `acknowledged ${msg.received} bytes of ${t.received} sent`);
    return;
  }
  applyOutcome(ctx, outcome);
}

export function fileDone(ctx: RelayContext, s: Session, msg: Msg<'file:done'>): void {
  const outcome = ctx.transfers.finish(s, msg.stream);
  if (outcome) applyOutcome(ctx, outcome);
}

export function fileFail(ctx: RelayContext, s: Session, msg: Msg<'file:fail'>): void {
  const outcome = ctx.transfers.finish(s, msg.stream, msg.reason);
  if (outcome) applyOutcome(ctx, outcome);
}

export function applyOutcome(ctx: RelayContext, o: Outcome<Session>): void {
  const t = o.transfer;
  if (o.credit !== undefined && !o.complete) ctx.sendRaw(t.sender, JSON.stringify({ type: 'file:credit', stream: t.stream, acked: o.credit } satisfies ServerMessage));
  if (o.complete) {
    const report = ctx.transfers.report(t);
    ctx.send(t.sender, { type: 'file:sent', id: t.cid, ...report });
    ctx.log.info({ from: t.from, stream: t.stream, ...report }, 'file transfer over');
  }
}

/** A sender broke the rules of its transfer (if it still has one): stop it, tell both sides, count a strike. */
function senderBroke(ctx: RelayContext, s: Session, check: { transfer?: Transfer<Session>; reason: string }): void {
  if (check.transfer === undefined) return;
  abortTransfer(ctx, check.transfer, `the sender broke the protocol (${check.reason})`, `file transfer stopped: ${check.reason}`);
  ctx.strike(s);
}

/** Stops a transfer: its recipients are told why, and the sender too when `toSender` says what to tell. */
export function abortTransfer(ctx: RelayContext, t: Transfer<Session>, reason: string, toSender?: string): void {
  ctx.transfers.abort(t.stream);
  const frame = JSON.stringify({ type: 'file:abort', stream: t.stream, reason } satisfies ServerMessage);
  for (const target of t.targets) if (target.state === 'receiving') ctx.sendRaw(target.session, frame);
  if (toSender !== undefined) ctx.send(t.sender, errorFrame('file_failed', toSender, t.cid));
}

/** Recipients that stopped writing leave the transfer; senders that stopped sending lose it. */
export function checkTransfers(ctx: RelayContext): void {
  if (ctx.transfers.size === 0) return;
  const { recipients, senders } = ctx.transfers.stalled();
  for (const { transfer, target } of recipients) dropRecipient(ctx, transfer, target.session, 'this client stopped writing the file', 'stopped receiving');
  for (const t of senders) abortTransfer(ctx, t, `${t.from} stopped sending`, 'file transfer stopped: the sender sent nothing for a minute');
  // Slower than the minimum rate (a slot held by a trickle): the side holding it back is ended.
  const rate = `${formatBytes(MIN_RATE_BYTES_PER_S)}/s over ${RATE_WINDOW_MS / 1000} s`;
  for (const { transfer, sender, recipients } of ctx.transfers.tooSlow()) {
    if (ctx.transfers.get(transfer.stream) !== transfer) continue; // ended above
    if (sender) {
      abortTransfer(ctx, transfer, `${transfer.from} sent too slowly`, `file transfer stopped: sent slower than the minimum of ${rate}`);
      continue;
    }
    for (const target of recipients) dropRecipient(ctx, transfer, target.session, `this client received it slower than the minimum of ${rate}`, 'received too slowly');
  }
}

/** One recipient leaves a transfer that goes on for the others: it is told why (`told`), its sender in the end (`reason`). */
function dropRecipient(ctx: RelayContext, transfer: Transfer<Session>, session: Session, told: string, reason: string): void {
  ctx.sendRaw(session, JSON.stringify({ type: 'file:abort', stream: transfer.stream, reason: told } satisfies ServerMessage));
  const outcome = ctx.transfers.finish(session, transfer.stream, reason);
  if (outcome) applyOutcome(ctx, outcome);
}

/** A session left: its transfers end, and the other sides are told. */
export function leaveTransfers(ctx: RelayContext, s: Session): void {
  const { aborted, outcomes } = ctx.transfers.leave(s, s.user === undefined ? 'disconnected' : `${s.user.name} disconnected`);
  for (const t of aborted) abortTransfer(ctx, t, `${t.from} disconnected`);
  for (const o of outcomes) applyOutcome(ctx, o);
}
