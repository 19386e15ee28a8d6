import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { z } from 'zod';
import type { Logger } from 'pino';
import { ChatClient, type ChatClientOptions, type RoomRequestFrame } from './chat-client.js';
import { ProtocolError } from '../protocol/errors.js';
import { SuccessionMemory } from '../store/known-networks.js';
import { DEFAULT_LIMITS, MAX_STATUS_CHARS, MAX_TOPIC_CHARS, USER_STATUSES } from '../protocol/limits.js';
import { Username } from '../protocol/fields.js';
import { userKey } from '../protocol/messages.js';
import { mentions } from '../core/mentions.js';

const MAX_INPUT_LINE = 1024 * 1024; // chars: far above any valid command; longer lines are refused unparsed

/** A command on stdin (issue #3's JSON-lines contract). */
const Command = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('send'),
    text: z.string().min(1),
    to: z.array(z.string()).optional(),
    /** To a room's members instead (issue #16). */
    room: z.string().optional(),
    id: z.union([z.string().max(256), z.number()]).optional(),
  }),
  // Rooms (issue #16): each answered by a `room` line with the command's id, or an `error` line. Names and sizes
  // are checked here as the coordinator checks them (an oversized frame could not say which command it was).
  z.object({ type: z.literal('join'), room: Username, id: z.union([z.string().max(256), z.number()]).optional() }),
  z.object({ type: z.literal('create'), room: Username, private: z.boolean().optional(), id: z.union([z.string().max(256), z.number()]).optional() }),
  z.object({ type: z.literal('invite'), room: Username, users: z.array(Username).min(1).max(DEFAULT_LIMITS.maxRecipients), id: z.union([z.string().max(256), z.number()]).optional() }),
  z.object({ type: z.literal('leave'), room: Username, id: z.union([z.string().max(256), z.number()]).optional() }),
  z.object({ type: z.literal('remove'), room: Username, user: Username, id: z.union([z.string().max(256), z.number()]).optional() }),
  z.object({ type: z.literal('op'), room: Username, user: Username, id: z.union([z.string().max(256), z.number()]).optional() }),
  z.object({ type: z.literal('topic'), room: Username, topic: z.string().max(MAX_TOPIC_CHARS), id: z.union([z.string().max(256), z.number()]).optional() }),
  z.object({
    type: z.literal('file'),
    path: z.string().min(1).max(4096),
    to: z.array(z.string()).optional(),
    id: z.union([z.string().max(256), z.number()]).optional(),
  }),
  z.object({ type: z.literal('who') }),
  z.object({ type: z.literal('status'), status: z.enum(USER_STATUSES), text: z.string().max(MAX_STATUS_CHARS).optional() }),
  z.object({ type: z.literal('quit') }),
]);

/**
 * `lanchat client`: JSON lines on stdin become actions, events become JSON
 * lines on stdout. Nothing else is written to stdout. Resolves with the exit
 * code: 0 after a quit or end of input, 1 when the connection or login fails.
 */
export async function runJsonClient(
  options: ChatClientOptions,
  io: { stdin: Readable; stdout: Writable },
  log: Logger,
  remember?: { dataDir: string; network: string },
): Promise<number> {
  const code = await session(options, io, log, remember);
  // Every line out before the caller exits: a pipe to a slow reader may hold them in memory (a parent Node,
  // as with npx, leaves the pipe non-blocking). A reader that is gone makes it a failure: its lines are lost.
  return (await written(io.stdout)) ? code : Math.max(code, 1);
}

/** Resolves once everything written so far has left `out`: true, or false if it failed (EPIPE). */
function written(out: Writable): Promise<boolean> {
  if (out.destroyed || out.writableEnded) return Promise.resolve(!out.errored);
  return new Promise((resolve) => {
    out.once('error', () => resolve(false));
    out.write('', (err) => resolve(err === undefined || err === null));
  });
}

async function session(
  options: ChatClientOptions,
  io: { stdin: Readable; stdout: Writable },
  log: Logger,
  remember?: { dataDir: string; network: string },
): Promise<number> {
  // JSON leaves DEL and C1 controls raw; a terminal showing the output would act on them: escape them as JSON does.
  const out = (obj: object): void => void io.stdout.write(`${JSON.stringify(obj).replace(/[\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)}\n`);
  // A reader that went away (`| head -1`): stop quietly instead of dying on EPIPE.
  let stdoutGone = false;
  let finishEarly: ((code: number) => void) | undefined;
  io.stdout.on('error', () => {
    stdoutGone = true;
    if (finishEarly) finishEarly(1);
    else void client.close();
  });
  const client = new ChatClient(options);
  /** Client id of each send → the id the script gave, so acks and errors echo it. */
  const correlation = new Map<string, string | number>();
  const idFor = (cid: string | undefined): string | number | undefined => (cid === undefined ? undefined : (correlation.get(cid) ?? cid));

  // Printed from the event, not after `await connect()`: replayed messages may arrive in the same tick.
  client.on('ready', (r) => out({ type: 'ready', ...r }));
  client.on('message', (m) => {
    const me = client.ready?.user ?? options.user;
    const mention = userKey(m.from) !== userKey(me) && mentions(m.text, me);
    out({ type: 'message', id: m.id, from: m.from, to: m.to, text: m.text, ts: m.ts, ...(m.room === undefined ? {} : { room: m.room }), ...(mention ? { mention: true } : {}), ...(m.replay ? { replay: true } : {}) });
  });
  client.on('room', (r) => {
    out({ type: 'room', room: r.room, private: r.private, members: r.members, ops: r.ops, topic: r.topic, creator: r.creator, member: r.member, ...(r.id === undefined ? {} : { id: idFor(r.id) }) });
    if (r.id !== undefined) correlation.delete(r.id);
  });
  client.on('invited', (i) => out({ type: 'invited', room: i.room, by: i.by }));
  client.on('ack', (a) => {
    out({ type: 'ack', id: idFor(a.id), messageId: a.messageId, ts: a.ts });
    correlation.delete(a.id);
  });
  client.on('presence', (online, status) => out({ type: 'presence', online, ...(Object.keys(status).length > 0 ? { status } : {}) }));
  // After a resume the replay held only the newest: say so (DESIGN §5: past a bound, the newest and a gap).
  client.on('gap', () => out({ type: 'gap', message: 'some older messages are not in this replay: it holds the newest that fit' }));
  // Failover: say so, then a new `ready` line once the successor has us (DESIGN §4).
  client.on('reconnecting', () => out({ type: 'reconnecting' }));
  // Remember the coordinator and its successors, for when mDNS finds nothing next time (issue #4).
  const memory = remember && new SuccessionMemory(remember.dataDir, (err: unknown) => log.debug({ err }, 'could not remember the coordinator'));
  if (memory) client.on('succession', (succession) => memory.remember(remember!.network, succession));
  // Files (issue #6): the sender's progress and outcome carry its id; recipients get one line per saved file.
  client.on('file:progress', (p) => {
    if (p.direction === 'out') out({ type: 'file-progress', id: idFor(p.id), sent: p.done, size: p.size });
    else out({ type: 'file-progress', id: p.id, from: p.from, name: p.name, received: p.done, size: p.size });
  });
  client.on('file:sent', (f) => {
    out({ type: 'file-sent', id: idFor(f.id), name: f.name, size: f.size, to: f.delivered, ...(f.failed.length > 0 ? { failed: f.failed } : {}), ...(f.skipped.length > 0 ? { offline: f.skipped } : {}) });
    correlation.delete(f.id);
  });
  client.on('file', (f) => out({ type: 'file', id: f.id, from: f.from, to: f.to, name: f.name, size: f.size, sha256: f.sha256, path: f.path }));
  client.on('file:failed', (f) => out({ type: 'file-failed', id: f.id, from: f.from, name: f.name, reason: f.reason }));
  client.on('error', (e) => {
    out({ type: 'error', code: e.code, message: e.message, ...(e.ref === undefined ? {} : { id: idFor(e.ref) }) });
    if (e.ref !== undefined) correlation.delete(e.ref);
  });

  let ready;
  try {
    ready = await client.connect();
  } catch (err) {
    const e = err instanceof ProtocolError ? err : new ProtocolError('connection_failed', String(err));
    out({ type: 'error', code: e.code, message: e.message });
    return 1;
  }

  return new Promise<number>((resolve) => {
    let finished = false;
    // Created first: `finish` closes it, and may run at once (stdout already gone).
    const rl = createInterface({ input: io.stdin, crlfDelay: Infinity });
    const finish = async (code: number): Promise<void> => {
      if (finished) return;
      finished = true;
      rl.close();
      await client.close();
      await memory?.settled();
      resolve(code);
    };
    finishEarly = (code) => void finish(code);
    if (stdoutGone) void finish(1);
    client.on('close', ({ code, reason }) => {
      out({ type: 'error', code: 'disconnected', message: `connection to the coordinator lost (${code}${reason ? `: ${reason}` : ''})` });
      void finish(1);
    });
    let quitting = false;
    rl.on('line', (line) => {
      if (finished || quitting || line.trim() === '') return; // nothing after quit is sent
      const json = line.length > MAX_INPUT_LINE ? undefined : safeJson(line);
      const cmd = json === undefined ? undefined : Command.safeParse(json);
      if (cmd === undefined || !cmd.success) {
        const why = cmd === undefined ? (line.length > MAX_INPUT_LINE ? 'line too long' : 'not valid JSON') : cmd.error.issues.map((i) => `${i.path.join('.') || '(line)'}: ${i.message}`).slice(0, 3).join('; ');
        out({ type: 'error', code: 'bad_input', message: `bad input line (${why}); expected {"type":"send","text":"…","to":[…]}, {"type":"send","text":"…","room":"…"}, {"type":"file","path":"…","to":[…]}, {"type":"join","room":"…"}, {"type":"who"} or {"type":"quit"} (README: the JSON client)` });
        return;
      }
      const c = cmd.data;
      if (c.type === 'send') {
        const cid = client.send(c.text, c.to ?? [], undefined, c.room);
        if (c.id !== undefined) correlation.set(cid, c.id);
      } else if (c.type === 'file') {
        const cid = client.sendFile(c.path, c.to ?? []);
        if (c.id !== undefined) correlation.set(cid, c.id);
      } else if (c.type === 'who') {
        client.who();
      } else if (c.type === 'status') {
        client.setStatus(c.status, c.text ?? '');
      } else if (c.type === 'quit') {
        quitting = true;
        void client.drained().then(() => finish(0));
      } else {
        const cid = client.room(roomRequest(c));
        if (c.id !== undefined) correlation.set(cid, c.id);
      }
    });
    // End of input: quit once everything sent is acknowledged (issue #3).
    rl.on('close', () => void client.drained().then(() => finish(0)));
    log.debug({ user: ready.user }, 'json client ready');
  });
}

/** A room command as the protocol asks it: the same fields, under the protocol's type (a room is public unless said). */
function roomRequest(c: Extract<z.infer<typeof Command>, { type: 'join' | 'create' | 'invite' | 'leave' | 'remove' | 'op' | 'topic' }>): RoomRequestFrame {
  const { type, id: _id, ...fields } = c;
  return { type: `room:${type}`, ...fields, ...(type === 'create' ? { private: c.private ?? false } : {}) } as RoomRequestFrame;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
