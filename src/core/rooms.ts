import { userKey } from '../protocol/messages.js';
import type { ErrorCode } from '../protocol/errors.js';
import { DEFAULT_LIMITS } from '../protocol/limits.js';
import type { MemberEntry, NewEntry, RoomEntry, TopicEntry } from '../protocol/entries.js';

/** Rooms one user may be a member of at once, and members one room may have (announced in `welcome`). */
export const MAX_ROOMS_PER_USER = DEFAULT_LIMITS.maxRooms;
export const MAX_MEMBERS_PER_ROOM = DEFAULT_LIMITS.maxRoomMembers;

export type RoomEntries = RoomEntry | MemberEntry | TopicEntry;
export type Membership = MemberEntry['state'];

/** A room as its members see it. Names as their users registered them; members sorted by name key. */
export interface RoomView {
  name: string;
  private: boolean;
  creator: string;
  created: number;
  topic: string;
  members: string[];
  ops: string[];
}

/** What a user asks of a room; the coordinator decides (`Rooms.decide`) before anything is stored. */
export type RoomAction =
  /** Joins, creating a public room if there is none. */
  | { type: 'join'; room: string; user: string }
  | { type: 'create'; room: string; user: string; private: boolean }
  | { type: 'invite'; room: string; user: string; users: readonly string[] }
  | { type: 'leave'; room: string; user: string }
  | { type: 'remove'; room: string; user: string; target: string }
  | { type: 'op'; room: string; user: string; target: string }
  | { type: 'topic'; room: string; user: string; topic: string };

/** An action as a session asks it (the coordinator knows who asks). */
export type RoomRequest = RoomAction extends infer A ? (A extends RoomAction ? Omit<A, 'user'> : never) : never;

export type Decision = { ok: true; entries: NewEntry[] } | { ok: false; code: ErrorCode; message: string };

/** What a decision needs from outside: the time to stamp, and the name a user registered (if one did). */
export interface DecideContext {
  ts: number;
  registered: (name: string) => string | undefined;
}

/**
 * Rooms, their members and topics, as the log says (issue #16). Pure: no I/O, no clock. Applying the
 * same entries in any order gives the same state, so replicas that exchanged what they lack agree:
 * the earlier creation of a name wins (by (created, origin, seq)); what a user is in a room, and a room's topic,
 * are the latest entry by (ts, origin, seq). Entries are applied whatever they say (a replica checks
 * nothing: the coordinator decided before storing them, with `decide`).
 */
export class Rooms {
  /** Room key → the creation that holds the name. */
  readonly #rooms = new Map<string, RoomEntry>();
  /**
   * Room key → user key → the latest entry that decides (member, op, left, removed) and the latest
   * invitation: an invitation never takes a member out (one from the other side of a partition).
   */
  readonly #members = new Map<string, Map<string, Said>>();
  readonly #topics = new Map<string, TopicEntry>();
  /** User key → keys of the rooms they are a member (or op) of, existing or not yet. */
  readonly #byUser = new Map<string, Set<string>>();

  apply(e: RoomEntries): void {
    const key = userKey(e.room);
    if (e.kind === 'room') {
      const cur = this.#rooms.get(key);
      if (cur === undefined || createdBefore(e, cur)) this.#rooms.set(key, e);
      return;
    }
    if (e.kind === 'topic') {
      const cur = this.#topics.get(key);
      if (cur === undefined || later(e, cur)) this.#topics.set(key, e);
      return;
    }
    let members = this.#members.get(key);
    if (members === undefined) this.#members.set(key, (members = new Map()));
    const user = userKey(e.user);
    let said = members.get(user);
    if (said === undefined) members.set(user, (said = {}));
    const slot = e.state === 'invited' ? 'invite' : 'decisive';
    const cur = said[slot];
    if (cur !== undefined && !later(e, cur)) return;
    said[slot] = e;
    let rooms = this.#byUser.get(user);
    if (isIn(stateOf(said))) {
      if (rooms === undefined) this.#byUser.set(user, (rooms = new Set()));
      rooms.add(key);
    } else if (rooms !== undefined) {
      rooms.delete(key);
      if (rooms.size === 0) this.#byUser.delete(user);
    }
  }

  /** The room called `name` (any case), if it was created. */
  room(name: string): RoomView | undefined {
    const key = userKey(name);
    const r = this.#rooms.get(key);
    if (r === undefined) return undefined;
    const members: string[] = [];
    const ops: string[] = [];
    for (const [, said] of [...(this.#members.get(key) ?? [])].sort(byKey)) {
      const state = stateOf(said);
      if (isIn(state)) members.push(nameOf(said));
      if (state === 'op') ops.push(nameOf(said));
    }
    return { name: r.room, private: r.private, creator: r.creator, created: r.created, topic: this.#topics.get(key)?.topic ?? '', members, ops };
  }

  /** What `user` is in room `name`, if anything was ever said. */
  membership(name: string, user: string): Membership | undefined {
    const said = this.#members.get(userKey(name))?.get(userKey(user));
    return said === undefined ? undefined : stateOf(said);
  }

  /** Whether `user` is a member (or op) of the existing room `name`. */
  isMember(name: string, user: string): boolean {
    return this.#rooms.has(userKey(name)) && isIn(this.membership(name, user));
  }

  /** The names of the existing rooms `user` is a member of, sorted by key. */
  roomsOf(user: string): string[] {
    return [...(this.#byUser.get(userKey(user)) ?? [])]
      .filter((k) => this.#rooms.has(k))
      .sort()
      .map((k) => this.#rooms.get(k)!.room);
  }

  /** The existing rooms `user` is invited to and not yet in, with who invited them last, sorted by key. */
  invitationsOf(user: string): { room: string; by: string }[] {
    const key = userKey(user);
    const out: { room: string; by: string }[] = [];
    for (const [roomKey, members] of [...this.#members].sort(byKey)) {
      const said = members.get(key);
      const room = this.#rooms.get(roomKey);
      if (room !== undefined && said !== undefined && stateOf(said) === 'invited') out.push({ room: room.room, by: said.invite!.by });
    }
    return out;
  }

  /** The member names of room `name` (none if it does not exist). */
  members(name: string): string[] {
    return this.room(name)?.members ?? [];
  }

  /**
   * The coordinator's decision on an action, against the state as it is: the entries to store, or why
   * not. Asking what one already is (joining a room one is in) stores nothing and is not refused.
   */
  decide(a: RoomAction, c: DecideContext): Decision {
    const room = this.room(a.room);
    const mine = this.membership(a.room, a.user);
    const member = (user: string, state: Membership): NewEntry => ({ kind: 'member', room: room?.name ?? a.room, user, state, by: a.user, ts: c.ts });
    const refuse = (code: ErrorCode, message: string): Decision => ({ ok: false, code, message });
    const full = (r: RoomView) => r.members.length >= MAX_MEMBERS_PER_ROOM;
    const tooMany = (user: string) => this.roomsOf(user).length >= MAX_ROOMS_PER_USER;
    switch (a.type) {
      case 'join':
      case 'create': {
        if (room === undefined) {
          if (tooMany(a.user)) return refuse('room_limit', `you are in ${MAX_ROOMS_PER_USER} rooms already: leave one first`);
          const created: NewEntry = { kind: 'room', room: a.room, private: a.type === 'create' && a.private, creator: a.user, created: c.ts };
          return { ok: true, entries: [created, { kind: 'member', room: a.room, user: a.user, state: 'op', by: a.user, ts: c.ts }] };
        }
        if (a.type === 'create') return refuse('room_exists', `a room called ${room.name} exists already`);
        if (isIn(mine)) return { ok: true, entries: [] };
        if (room.private && mine !== 'invited') return refuse('room_forbidden', `${room.name} is private: a member must invite you`);
        if (mine === 'removed') return refuse('room_forbidden', `you were removed from ${room.name}: a member must invite you back`);
        if (tooMany(a.user)) return refuse('room_limit', `you are in ${MAX_ROOMS_PER_USER} rooms already: leave one first`);
        if (full(room)) return refuse('room_limit', `${room.name} has ${MAX_MEMBERS_PER_ROOM} members already`);
        return { ok: true, entries: [member(a.user, 'member')] };
      }
      case 'invite': {
        if (room === undefined) return refuse('room_not_found', `there is no room called ${a.room}`);
        if (!isIn(mine)) return refuse('room_forbidden', `only members of ${room.name} may invite`);
        const unknown = a.users.filter((u) => c.registered(u) === undefined);
        if (unknown.length > 0) return refuse('unknown_recipient', `no such user: ${unknown.join(', ')}`);
        const names = new Set(a.users.map((u) => c.registered(u)!)); // as they registered them, once each
        const invited = [...names].filter((u) => !isIn(this.membership(room.name, u)) && this.membership(room.name, u) !== 'invited');
        return { ok: true, entries: invited.map((u) => member(u, 'invited')) };
      }
      case 'leave':
        if (room === undefined) return refuse('room_not_found', `there is no room called ${a.room}`);
        if (!isIn(mine)) return refuse('room_forbidden', `you are not in ${room.name}`);
        return { ok: true, entries: [member(a.user, 'left')] };
      case 'remove':
      case 'op': {
        if (room === undefined) return refuse('room_not_found', `there is no room called ${a.room}`);
        if (mine !== 'op') return refuse('room_forbidden', `only the creator of ${room.name}, and the members they name, may ${a.type === 'op' ? 'name them' : 'remove members'}`);
        const said = this.#members.get(userKey(room.name))?.get(userKey(a.target));
        const theirs = said === undefined ? undefined : stateOf(said);
        if (a.type === 'op') return isIn(theirs) ? { ok: true, entries: theirs === 'op' ? [] : [member(nameOf(said!), 'op')] } : refuse('room_forbidden', `${a.target} is not in ${room.name}`);
        if (!isIn(theirs) && theirs !== 'invited') return { ok: true, entries: [] };
        return { ok: true, entries: [member(nameOf(said!), 'removed')] };
      }
      case 'topic':
        if (room === undefined) return refuse('room_not_found', `there is no room called ${a.room}`);
        if (!isIn(mine)) return refuse('room_forbidden', `only members of ${room.name} may set its topic`);
        return { ok: true, entries: [{ kind: 'topic', room: room.name, topic: a.topic, by: a.user, ts: c.ts }] };
    }
  }

  /** The entries that rebuild this state (snapshots, a replica that gets the state): creations, memberships, topics. */
  *retained(): Iterable<RoomEntries> {
    yield* this.#rooms.values();
    for (const members of this.#members.values()) {
      for (const said of members.values()) {
        if (said.decisive) yield said.decisive;
        if (said.invite) yield said.invite;
      }
    }
    yield* this.#topics.values();
  }

  /** What replicas must agree on, as digest lines (the simulator compares them). */
  digest(): string[] {
    const out: string[] = [];
    for (const [k, r] of [...this.#rooms].sort(byKey)) out.push(`r ${k} ${r.origin}#${r.seq} ${r.private ? 'private' : 'public'} ${userKey(r.creator)}`);
    for (const [k, members] of [...this.#members].sort(byKey)) out.push(`rm ${k} ${[...members].sort(byKey).map(([u, said]) => `${u}=${stateOf(said)}`).join(',')}`);
    for (const [k, t] of [...this.#topics].sort(byKey)) out.push(`rt ${k} ${JSON.stringify(t.topic)}`);
    return out;
  }
}

/** What was said of one user in one room: the latest entry that decides, and the latest invitation. */
interface Said {
  decisive?: MemberEntry;
  invite?: MemberEntry;
}

/** In, if the latest decisive entry says so; else invited, if invited since; else what that entry says. */
function stateOf(said: Said): Membership | undefined {
  const d = said.decisive;
  if (d !== undefined && isIn(d.state)) return d.state;
  if (said.invite !== undefined && (d === undefined || later(said.invite, d))) return 'invited';
  return d?.state;
}

/** The user's name as the latest entry about them spells it. */
function nameOf(said: Said): string {
  return (said.decisive ?? said.invite)!.user;
}

/** Member or op: in the room. */
function isIn(state: Membership | undefined): boolean {
  return state === 'member' || state === 'op';
}

/** Whether creation `a` holds the name before `b`: the earlier by (created, origin, seq), on every replica alike. */
function createdBefore(a: RoomEntry, b: RoomEntry): boolean {
  if (a.created !== b.created) return a.created < b.created;
  return a.origin < b.origin || (a.origin === b.origin && a.seq < b.seq);
}

/** Whether `a` comes after `b` by (ts, origin, seq): the same answer on every replica. */
function later(a: MemberEntry | TopicEntry, b: MemberEntry | TopicEntry): boolean {
  return a.ts > b.ts || (a.ts === b.ts && (a.origin > b.origin || (a.origin === b.origin && a.seq > b.seq)));
}

function byKey<T>(a: [string, T], b: [string, T]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}
