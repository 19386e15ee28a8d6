import t from 'tap';
import { startClient, startServe, type JsonClient } from './helpers/processes.js';
import { tmpDir } from './helpers/tmp.js';
import { waitFor } from './helpers/wait.js';

// Rooms, status and mentions (issue #16) through the JSON client, on a real coordinator: join and create,
// private rooms by invitation, messages to members only, what an offline member missed at login, a late
// joiner's history; statuses beside names; messages that name you flagged.

t.test('rooms: public and private, messages to members only, offline members and late joiners', async (t) => {
  const server = await startServe(t, tmpDir(t));
  const [alice, bob, carol] = (await Promise.all(['alice', 'bob', 'carol'].map((u) => startClient(t, server.address, u, { register: true })))) as [JsonClient, JsonClient, JsonClient];
  const room = (c: JsonClient, id: string) => c.next((e) => (e.type === 'room' || e.type === 'error') && e.id === id, `the answer to ${id}`);

  // A room that does not exist is created by its first join, public, with the joiner as its op.
  alice.write({ type: 'join', room: 'Ops', id: 'j1' });
  t.match(await room(alice, 'j1'), { type: 'room', room: 'Ops', private: false, members: ['alice'], ops: ['alice'], creator: 'alice', member: true });
  bob.write({ type: 'join', room: 'ops', id: 'j2' });
  t.match(await room(bob, 'j2'), { type: 'room', room: 'Ops', members: ['alice', 'bob'] }, 'names are case-insensitive');
  t.match(await alice.next((e) => e.type === 'room' && (e.members as string[]).includes('bob'), 'alice told bob joined'), { member: true, id: undefined });

  alice.write({ type: 'send', room: 'ops', text: 'deploy at five', id: 's1' });
  await alice.next((e) => e.type === 'ack' && e.id === 's1', 'the ack');
  t.match(await bob.next((e) => e.type === 'message' && e.text === 'deploy at five', 'bob gets it'), { from: 'alice', room: 'Ops', to: ['alice', 'bob'] });
  carol.write({ type: 'send', room: 'ops', text: 'let me in', id: 's2' });
  t.match(await carol.next((e) => e.type === 'error' && e.id === 's2', 'refused'), { code: 'room_forbidden' }, 'not a member: refused');
  carol.write({ type: 'send', room: 'nowhere', text: 'hello?', id: 's3' });
  t.match(await carol.next((e) => e.type === 'error' && e.id === 's3', 'refused'), { code: 'room_not_found' });

  // Private: only by invitation from a member.
  // Two creations of one name asked back to back: the second is refused, though the first is not on disk yet.
  alice.child.stdin!.write(`${JSON.stringify({ type: 'create', room: 'board', private: true, id: 'c1' })}\n${JSON.stringify({ type: 'create', room: 'board', id: 'c2' })}\n`);
  const answered = (id: string) => waitFor(() => alice.events.find((e) => (e.type === 'room' || e.type === 'error') && e.id === id), `the answer to ${id}`);
  const [c1, c2] = await Promise.all([answered('c1'), answered('c2')]); // in either order
  t.match(c1, { type: 'room', room: 'board', private: true, members: ['alice'] });
  t.match(c2, { type: 'error', code: 'room_exists' });
  alice.write({ type: 'send', room: 'board', text: 'board only', id: 's5' });
  await alice.next((e) => e.type === 'ack' && e.id === 's5', 'the ack');
  carol.write({ type: 'join', room: 'board', id: 'j3' });
  t.match(await room(carol, 'j3'), { type: 'error', code: 'room_forbidden' }, 'not invited');
  bob.write({ type: 'invite', room: 'board', users: ['carol'], id: 'i0' });
  t.match(await room(bob, 'i0'), { type: 'error', code: 'room_forbidden' }, 'bob is no member: he cannot invite');
  alice.write({ type: 'invite', room: 'board', users: ['carol'], id: 'i1' });
  await room(alice, 'i1');
  t.match(await carol.next((e) => e.type === 'invited', 'the invitation'), { room: 'board', by: 'alice' });
  carol.write({ type: 'join', room: 'board', id: 'j4' });
  t.match(await room(carol, 'j4'), { type: 'room', members: ['alice', 'carol'], member: true });

  // bob leaves for a while: what the room says meanwhile waits for him, and comes at his next login.
  bob.write({ type: 'quit' });
  t.equal(await bob.exited(), 0);
  alice.write({ type: 'send', room: 'ops', text: 'while bob was away', id: 's4' });
  await alice.next((e) => e.type === 'ack' && e.id === 's4', 'the ack');
  const back = await startClient(t, server.address, 'bob');
  t.match(await back.next((e) => e.type === 'room', 'his rooms, at login'), { room: 'Ops', member: true, members: ['alice', 'bob'] });
  t.match(await back.next((e) => e.type === 'message' && e.text === 'while bob was away', 'what he missed'), { room: 'Ops', replay: true });

  // carol joins ops late: she gets its recent history.
  carol.write({ type: 'join', room: 'ops', id: 'j5' });
  await room(carol, 'j5');
  t.match(await carol.next((e) => e.type === 'message' && e.text === 'deploy at five', "the room's history"), { room: 'Ops', replay: true });
  t.match(carol.events.find((e) => e.type === 'message' && e.text === 'board only'), { room: 'board', replay: true }, 'the private room said before she joined: hers once she is in');
  t.notOk([...bob.events, ...back.events].some((e) => e.type === 'message' && e.text === 'board only'), 'bob, not in board, never got it');

  // leave: the others see it, and the one who left is told they are out.
  carol.write({ type: 'leave', room: 'ops', id: 'l1' });
  t.match(await room(carol, 'l1'), { type: 'room', member: false, members: ['alice', 'bob'] });
  t.match(await alice.next((e) => e.type === 'room' && e.room === 'Ops' && !(e.members as string[]).includes('carol'), 'alice told'), { members: ['alice', 'bob'] });

  // The op names another, who sets the topic; a member who is no op cannot remove; an op can.
  alice.write({ type: 'op', room: 'ops', user: 'bob', id: 'o1' });
  t.match(await room(alice, 'o1'), { type: 'room', ops: ['alice', 'bob'] });
  back.write({ type: 'topic', room: 'ops', topic: 'deploys at five', id: 't1' });
  t.match(await room(back, 't1'), { type: 'room', topic: 'deploys at five' });
  carol.write({ type: 'remove', room: 'board', user: 'alice', id: 'x1' });
  t.match(await room(carol, 'x1'), { type: 'error', code: 'room_forbidden' });
  alice.write({ type: 'remove', room: 'board', user: 'carol', id: 'x2' });
  t.match(await room(alice, 'x2'), { type: 'room', members: ['alice'] });
  t.match(await carol.next((e) => e.type === 'room' && e.room === 'board', 'carol told'), { member: false });
  alice.write({ type: 'send', room: 'board', text: 'after carol left', id: 's6' });
  await alice.next((e) => e.type === 'ack' && e.id === 's6', 'the ack');
  carol.write({ type: 'who' });
  await carol.next((e) => e.type === 'presence', 'a round trip after it');
  t.notOk(carol.events.some((e) => e.type === 'message' && e.text === 'after carol left'), 'removed: nothing more of the room');
});

t.test('status: away, busy or do not disturb with a text, beside the name for everyone, and seen by a newcomer at login', async (t) => {
  const server = await startServe(t, tmpDir(t));
  const [alice, bob] = (await Promise.all(['alice', 'bob'].map((u) => startClient(t, server.address, u, { register: true })))) as [JsonClient, JsonClient];
  alice.write({ type: 'status', status: 'away', text: 'lunch' });
  t.match(await bob.next((e) => e.type === 'presence' && e.status !== undefined, "alice's status"), { online: ['alice', 'bob'], status: { alice: { status: 'away', text: 'lunch' } } });
  alice.write({ type: 'status', status: 'dnd', text: 'x'.repeat(81) });
  t.match(await alice.next((e) => e.type === 'error', 'refused'), { code: 'bad_input' }, 'a text over 80 characters is refused');
  const carol = await startClient(t, server.address, 'carol', { register: true });
  t.match(await carol.next((e) => e.type === 'presence', 'the online list at login'), { status: { alice: { status: 'away', text: 'lunch' } } }, 'a newcomer sees it at once');
  alice.write({ type: 'status', status: 'online' });
  t.match(await carol.next((e) => e.type === 'presence' && e.status === undefined, 'back'), { online: ['alice', 'bob', 'carol'] }, 'plain online again: no status shown');
  // One who set a status and comes back online brings it: the others see it as they see them come.
  carol.write({ type: 'status', status: 'busy', text: 'release' });
  await bob.next((e) => e.type === 'presence' && (e.status as Record<string, unknown> | undefined)?.carol !== undefined, "carol's status");
  carol.write({ type: 'quit' });
  t.equal(await carol.exited(), 0);
  await bob.next((e) => e.type === 'presence' && !(e.online as string[]).includes('carol'), 'carol gone');
  const dave = await startClient(t, server.address, 'dave', { register: true }); // knows nothing of carol yet
  await dave.next((e) => e.type === 'presence', 'his first list');
  await startClient(t, server.address, 'carol');
  t.match(await dave.next((e) => e.type === 'presence' && (e.online as string[]).includes('carol'), 'carol back'), { status: { carol: { status: 'busy', text: 'release' } } }, 'her status comes with her, kept across logins');
});

t.test('mentions: a message that names you (@bob, or bob as a word) is flagged for you, not for its sender or others', async (t) => {
  const server = await startServe(t, tmpDir(t));
  const [alice, bob, carol] = (await Promise.all(['alice', 'bob', 'carol'].map((u) => startClient(t, server.address, u, { register: true })))) as [JsonClient, JsonClient, JsonClient];
  alice.write({ type: 'send', text: 'ping @Bob about the deploy', id: 'm1' });
  t.match(await bob.next((e) => e.type === 'message' && e.text === 'ping @Bob about the deploy', 'bob gets it'), { mention: true });
  for (const c of [alice, carol]) t.notOk((await c.next((e) => e.type === 'message' && e.text === 'ping @Bob about the deploy', 'the broadcast')).mention, 'not a mention of them');
  alice.write({ type: 'send', text: 'bobcat sighting', id: 'm2' });
  t.notOk((await bob.next((e) => e.type === 'message' && e.text === 'bobcat sighting', 'another')).mention, 'a word that merely starts with the name is not one');
});
