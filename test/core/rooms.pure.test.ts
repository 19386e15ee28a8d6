import t from 'tap';
import { MAX_MEMBERS_PER_ROOM, MAX_ROOMS_PER_USER, Rooms, type Decision, type RoomAction, type RoomEntries } from '../../src/core/rooms.js';
import type { NewEntry } from '../../src/protocol/entries.js';
import { Rng } from '../sim/rng.js';

/** A coordinator's view: decides, then stores what it decided (stamped with an origin and a sequence number). */
function network(registered: readonly string[] = ['alice', 'bob', 'carol', 'dave'], { origin = 'n1.1', ts: start = 1_000 } = {}) {
  const rooms = new Rooms();
  const log: RoomEntries[] = [];
  let ts = start;
  let seq = 0;
  const store = (entries: NewEntry[]) => {
    for (const e of entries) {
      const stamped = { ...e, origin, seq: ++seq } as RoomEntries;
      log.push(stamped);
      rooms.apply(stamped);
    }
  };
  const act = (a: RoomAction): Decision => {
    const d = rooms.decide(a, { ts: ++ts, registered: (n) => registered.find((r) => r.toLowerCase() === n.toLowerCase()) });
    if (d.ok) store(d.entries);
    return d;
  };
  return { rooms, log, act, store };
}

const refused = (d: Decision) => (d.ok ? 'ok' : d.code);

t.test('join creates a public room with its creator as op; others join; joining again stores nothing', async (t) => {
  const n = network();
  t.match(n.act({ type: 'join', room: 'Ops', user: 'alice' }), { ok: true, entries: [{ kind: 'room', room: 'Ops', private: false, creator: 'alice' }, { kind: 'member', user: 'alice', state: 'op' }] });
  t.match(n.rooms.room('ops'), { name: 'Ops', private: false, creator: 'alice', members: ['alice'], ops: ['alice'], topic: '' }, 'names are case-insensitive; the name as created');
  n.act({ type: 'join', room: 'OPS', user: 'carol' });
  n.act({ type: 'join', room: 'ops', user: 'bob' });
  t.same(n.rooms.members('ops'), ['alice', 'bob', 'carol'], 'sorted by name');
  t.same(n.act({ type: 'join', room: 'ops', user: 'bob' }), { ok: true, entries: [] }, 'already in: nothing stored, not refused');
  t.same(n.rooms.roomsOf('BOB'), ['Ops']);
  t.equal(refused(n.act({ type: 'create', room: 'ops', user: 'dave', private: true })), 'room_exists');
});

t.test('a private room: only by invitation from a member, of registered users', async (t) => {
  const n = network();
  n.act({ type: 'create', room: 'board', user: 'alice', private: true });
  t.equal(refused(n.act({ type: 'join', room: 'board', user: 'bob' })), 'room_forbidden', 'not invited');
  t.equal(refused(n.act({ type: 'invite', room: 'board', user: 'carol', users: ['bob'] })), 'room_forbidden', 'a non-member cannot invite');
  t.equal(refused(n.act({ type: 'invite', room: 'board', user: 'alice', users: ['bob', 'mallory'] })), 'unknown_recipient', 'nobody invited when one name is unknown');
  t.equal(n.rooms.membership('board', 'bob'), undefined);
  t.equal(refused(n.act({ type: 'invite', room: 'nowhere', user: 'alice', users: ['bob'] })), 'room_not_found');
  const invited = n.act({ type: 'invite', room: 'board', user: 'alice', users: ['bob', 'BOB', 'alice'] });
  t.match(invited, { ok: true, entries: [{ kind: 'member', user: 'bob', state: 'invited', by: 'alice' }] }, 'once each, and not a member');
  t.same(n.act({ type: 'invite', room: 'board', user: 'alice', users: ['bob'] }), { ok: true, entries: [] }, 'invited already');
  t.notOk(n.rooms.isMember('board', 'bob'), 'invited is not a member');
  t.equal(refused(n.act({ type: 'join', room: 'board', user: 'bob' })), 'ok');
  t.ok(n.rooms.isMember('board', 'bob'));
  n.act({ type: 'leave', room: 'board', user: 'bob' });
  t.equal(refused(n.act({ type: 'join', room: 'board', user: 'bob' })), 'room_forbidden', 'having left, invited again first');
});

t.test('leave, remove and name ops: the creator and the ops they name remove; members set the topic', async (t) => {
  const n = network();
  n.act({ type: 'join', room: 'ops', user: 'alice' });
  for (const u of ['bob', 'carol', 'dave']) n.act({ type: 'join', room: 'ops', user: u });
  t.equal(refused(n.act({ type: 'remove', room: 'ops', user: 'bob', target: 'carol' })), 'room_forbidden', 'a member cannot remove');
  t.equal(refused(n.act({ type: 'op', room: 'ops', user: 'bob', target: 'bob' })), 'room_forbidden', 'nor name themselves op');
  t.equal(refused(n.act({ type: 'op', room: 'ops', user: 'alice', target: 'bob' })), 'ok');
  t.same(n.rooms.room('ops')?.ops, ['alice', 'bob']);
  t.equal(refused(n.act({ type: 'remove', room: 'ops', user: 'bob', target: 'carol' })), 'ok', 'an op named by the creator removes');
  t.same(n.rooms.members('ops'), ['alice', 'bob', 'dave']);
  t.equal(refused(n.act({ type: 'op', room: 'ops', user: 'alice', target: 'carol' })), 'room_forbidden', 'one who is not in cannot be op');
  t.same(n.act({ type: 'remove', room: 'ops', user: 'alice', target: 'carol' }), { ok: true, entries: [] }, 'removed already');
  t.equal(refused(n.act({ type: 'join', room: 'ops', user: 'carol' })), 'room_forbidden', 'removed from a public room: not back by joining');
  n.act({ type: 'invite', room: 'ops', user: 'dave', users: ['carol'] });
  t.equal(refused(n.act({ type: 'join', room: 'ops', user: 'carol' })), 'ok', 'back once a member invites her');
  n.act({ type: 'remove', room: 'ops', user: 'alice', target: 'carol' });
  t.equal(refused(n.act({ type: 'leave', room: 'ops', user: 'carol' })), 'room_forbidden', 'carol is not in');
  t.equal(refused(n.act({ type: 'topic', room: 'ops', user: 'carol', topic: 'x' })), 'room_forbidden', 'nor sets the topic');
  t.equal(refused(n.act({ type: 'topic', room: 'ops', user: 'dave', topic: 'deploys at 5' })), 'ok');
  t.equal(n.rooms.room('ops')?.topic, 'deploys at 5');
  n.act({ type: 'leave', room: 'ops', user: 'dave' });
  t.same(n.rooms.roomsOf('dave'), []);
  t.equal(refused(n.act({ type: 'leave', room: 'gone', user: 'dave' })), 'room_not_found');
});

t.test('limits: rooms per user, members per room', async (t) => {
  const users = Array.from({ length: MAX_MEMBERS_PER_ROOM + 1 }, (_, i) => `u${i}`);
  const n = network(users);
  for (let i = 0; i < MAX_ROOMS_PER_USER; i++) t.equal(refused(n.act({ type: 'join', room: `r${i}`, user: 'u0' })), 'ok') || t.fail(`room ${i}`);
  t.equal(refused(n.act({ type: 'join', room: 'one-more', user: 'u0' })), 'room_limit', `${MAX_ROOMS_PER_USER} rooms at most`);
  t.equal(n.rooms.room('one-more'), undefined, 'and not created');
  for (const u of users.slice(1, MAX_MEMBERS_PER_ROOM)) n.act({ type: 'join', room: 'r0', user: u });
  t.equal(n.rooms.members('r0').length, MAX_MEMBERS_PER_ROOM);
  t.equal(refused(n.act({ type: 'join', room: 'r0', user: users.at(-1)! })), 'room_limit', `${MAX_MEMBERS_PER_ROOM} members at most`);
});

t.test('replicas agree whatever order the entries come in, and the retained entries rebuild the state', async (t) => {
  // Two sides of a partition create one name (public on one, private on the other), and say different
  // things of the same users at the same millisecond.
  const a = network(undefined, { origin: 'n1.1', ts: 1_000 });
  const b = network(undefined, { origin: 'n2.1', ts: 1_000 }); // at the same milliseconds
  a.act({ type: 'join', room: 'ops', user: 'alice' });
  a.act({ type: 'join', room: 'ops', user: 'bob' });
  a.act({ type: 'topic', room: 'ops', user: 'bob', topic: 'from a' });
  b.act({ type: 'create', room: 'OPS', user: 'carol', private: true });
  b.act({ type: 'invite', room: 'ops', user: 'carol', users: ['bob', 'dave'] });
  b.act({ type: 'join', room: 'ops', user: 'dave' });
  b.act({ type: 'topic', room: 'ops', user: 'dave', topic: 'from b' });
  const entries = [...a.log, ...b.log];
  const reference = new Rooms();
  for (const e of entries) reference.apply(e);
  const winner = a.log[0]!; // the same millisecond as b's: the lower origin
  t.match(reference.room('ops'), { name: winner.room, members: ['alice', 'bob', 'carol', 'dave'] }, 'one creation holds the name (at the same time: by origin); the members of both stay');
  const later = network(undefined, { origin: 'n3.1', ts: 5_000 });
  later.act({ type: 'create', room: 'ops', user: 'dave', private: true });
  for (const e of later.log) reference.apply(e);
  t.match(reference.room('ops'), { name: winner.room, creator: winner.kind === 'room' ? winner.creator : '' }, 'a later creation does not take it');
  entries.push(...later.log);
  const random = new Rng(7);
  for (let round = 0; round < 50; round++) {
    const shuffled = [...entries];
    for (let i = shuffled.length - 1; i > 0; i--) {
      const j = random.int(0, i);
      [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
    }
    const r = new Rooms();
    for (const e of [...shuffled, ...shuffled.slice(0, 3)]) r.apply(e); // and some twice
    if (r.digest().join('\n') !== reference.digest().join('\n')) t.fail(`order ${round} differs`);
  }
  const rebuilt = new Rooms();
  for (const e of reference.retained()) rebuilt.apply(e);
  t.same(rebuilt.digest(), reference.digest(), 'rebuilt from what it retains');
  t.ok(reference.retained()[Symbol.iterator]().next().done === false);
});
