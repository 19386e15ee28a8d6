import t from 'tap';
import { ChatState, MAX_HISTORY_BYTES } from '../../src/core/chat-state.js';
import type { Entry, MessageEntry } from '../../src/protocol/entries.js';

let seq = 0;
const msg = (from: string, to: string[], text: string, ts: number, pending: string[] = []): MessageEntry => ({
  kind: 'message', origin: 'n1', seq: ++seq, id: `id-${text}`, cid: `c-${text}`, from, to, text, ts, pending,
});
const user = (name: string, created: number, hash = `h-${name}-${created}`, updated = created): Entry => ({
  kind: 'user', origin: 'n1', seq: ++seq, name, hash, created, updated,
});
const texts = (ms: MessageEntry[]) => ms.map((m) => m.text);

t.test('history: last N broadcasts plus own direct messages, in time order', async (t) => {
  const s = new ChatState(3);
  for (let i = 1; i <= 5; i++) s.apply(msg('alice', [], `b${i}`, i * 10));
  s.apply(msg('alice', ['bob'], 'dm-ab', 15));
  s.apply(msg('carol', ['dave'], 'dm-cd', 16));
  s.apply(msg('bob', ['alice', 'carol'], 'multi', 45));
  t.same(texts(s.replayFor('bob').history), ['dm-ab', 'b3', 'b4', 'multi', 'b5']);
  t.same(texts(s.replayFor('CAROL').history), ['dm-cd', 'b3', 'b4', 'multi', 'b5'], 'names are case-insensitive');
  t.same(texts(s.replayFor('eve').history), ['b3', 'b4', 'b5'], 'nobody sees others\' direct messages');
});

t.test("rooms: a room message is in its room's history, replayed to its members at login (not to others), and kept apart from direct messages", async (t) => {
  const s = new ChatState(3);
  const room = (e: object): Entry => ({ origin: 'n1', seq: ++seq, ...e }) as Entry;
  s.apply(room({ kind: 'room', room: 'ops', private: true, creator: 'alice', created: 1 }));
  for (const u of ['alice', 'bob']) s.apply(room({ kind: 'member', room: 'ops', user: u, state: u === 'alice' ? 'op' : 'member', by: 'alice', ts: 2 }));
  s.apply(msg('alice', ['bob'], 'dm', 3));
  for (let i = 1; i <= 4; i++) s.apply({ ...msg('alice', ['alice', 'bob'], `r${i}`, 3 + i, i === 4 ? ['bob'] : []), room: 'ops' });
  t.same(s.roomHistory('OPS').map((m) => m.text), ['r2', 'r3', 'r4'], 'the room keeps its own last N');
  t.same(texts(s.replayFor('bob').history), ['dm', 'r2', 'r3'], 'room history with the direct messages; r4 waits in the offline queue');
  t.same(texts(s.replayFor('bob').offline), ['r4'], 'kept for bob, offline when it was sent');
  t.same(texts(s.replayFor('carol').history), [], 'not a member: nothing of the room');
  s.apply(room({ kind: 'member', room: 'ops', user: 'carol', state: 'member', by: 'carol', ts: 9 }));
  t.same(texts(s.replayFor('carol').history), ['r2', 'r3', 'r4'], "a late joiner gets the room's recent history");
  t.match(s.digest(), /rh ops .*\nr ops n1#\d+ private alice\nrm ops alice=op,bob=member,carol=member/, 'in the digest replicas compare');
  const rebuilt = new ChatState(3);
  for (const e of s.retained()) rebuilt.apply(e);
  t.equal(rebuilt.digest(), s.digest(), 'rebuilt from what it retains');
  t.ok(s.stampTime(0) > 9, 'the clock moved past room entries too');
});

t.test('status: the latest by (ts, origin, seq) holds whatever the order, and the retained entries keep it', async (t) => {
  const st = (origin: string, status: string, text: string, ts: number): Entry => ({ kind: 'status', origin, seq: ++seq, user: 'Bob', status, text, ts }) as Entry;
  const entries = [st('n1', 'away', 'lunch', 5), st('n2', 'busy', 'call', 5), st('n1', 'dnd', 'old', 3)];
  const digests = new Set<string>();
  for (const order of [[0, 1, 2], [2, 1, 0], [1, 0, 2]]) {
    const s = new ChatState(3);
    for (const i of order) s.apply(entries[i]!);
    t.match(s.statusOf('bob'), { status: 'busy', text: 'call' }, 'the same millisecond: the higher origin');
    digests.add(s.digest());
  }
  t.equal(digests.size, 1, 'one state whatever the order');
  const s = new ChatState(3);
  for (const e of entries) s.apply(e);
  const rebuilt = new ChatState(3);
  for (const e of s.retained()) rebuilt.apply(e);
  t.equal(rebuilt.digest(), s.digest());
});

t.test('messages stored in one millisecond keep the order they were stored in, in history and in a resume', async (t) => {
  const s = new ChatState({ historySize: 200, resumeWindow: 100 });
  // Ids that sort against the order of storing: only (origin, seq) can keep it.
  const names = ['z', 'c', 'x', 'a', 'm'];
  for (const n of names) s.apply(msg('alice', [], n, 7));
  t.same(texts(s.replayFor('bob').history), names);
  t.same(texts(s.resumeFor('bob', new Map()).missed), names);
  const other: MessageEntry = { ...msg('carol', [], 'other', 7), origin: 'n0' };
  s.apply(other);
  t.same(texts(s.replayFor('bob').history), ['other', ...names], 'another origin in the same millisecond: by origin, alike on every replica');
});

t.test('stamps never go back and never fall at or before a stored message', async (t) => {
  const s = new ChatState(200);
  t.equal(s.stampTime(100), 100);
  t.equal(s.stampTime(90), 100, 'a clock stepped back: not before the last stamp');
  s.apply(msg('alice', [], 'late', 150));
  t.equal(s.stampTime(120), 151, 'after what is stored');
  t.equal(s.stampTime(200), 200);
});

t.test('the history of a login replay is bounded in bytes as JSON writes them; what was kept offline comes whole (issue #14)', async (t) => {
  const s = new ChatState(400);
  // 400 broadcasts of 4,000 control characters: 24 kB each as JSON, 9.6 MB in all.
  for (let i = 0; i < 400; i++) s.apply({ ...msg('mallory', [], `x${i}`, i + 1), text: '\u0001'.repeat(4_000), id: `junk-${i}` });
  for (let i = 0; i < 50; i++) s.apply({ ...msg('alice', ['bob'], `kept${i}`, 1_000 + i, ['bob']), text: '\u0002'.repeat(4_000), id: `kept-${i}` });
  const r = s.replayFor('bob');
  const bytes = r.history.reduce((n, m) => n + JSON.stringify(m.text).length, 0);
  t.ok(bytes <= MAX_HISTORY_BYTES, `history: ${r.history.length} messages, ${bytes} bytes of text`);
  t.ok(r.history.length >= 40, 'as many of the newest as fit');
  t.equal(r.history.at(-1)!.id, 'junk-399', 'the newest');
  t.equal(r.gap, true, 'and a gap is said');
  t.equal(r.offline.length, 50, 'every message kept for bob, whatever it weighs');
  t.equal(new ChatState(400).replayFor('bob').gap, false, 'no gap when all of it fits');
});

t.test('offline messages: delivered after history, once, until collected', async (t) => {
  const s = new ChatState(200);
  s.apply(msg('alice', [], 'hello', 1));
  s.apply(msg('alice', ['bob'], 'while-away', 2, ['bob']));
  s.apply(msg('alice', ['bob', 'carol'], 'both-away', 3, ['bob', 'carol']));
  const r = s.replayFor('bob');
  t.same(texts(r.history), ['hello'], 'offline messages are not repeated in history');
  t.same(texts(r.offline), ['while-away', 'both-away']);
  s.apply({ kind: 'collect', origin: 'n1', seq: ++seq, user: 'bob', upTo: r.offline.map((m) => m.id), ts: 4 });
  const again = s.replayFor('bob');
  t.same(texts(again.offline), [], 'collected: not offline any more');
  t.same(texts(again.history), ['hello', 'while-away', 'both-away'], 'still in history as own direct messages');
  t.same(texts(s.replayFor('carol').offline), ['both-away'], 'carol still has hers');
});

t.test('duplicate sends are found by (sender, client id)', async (t) => {
  const s = new ChatState(10);
  const m = msg('alice', [], 'x', 1);
  s.apply(m);
  t.equal(s.duplicateOf('ALICE', m.cid), m);
  t.equal(s.duplicateOf('bob', m.cid), undefined, 'another sender may reuse the id');
});

t.test('user records: earliest registration wins; updates of one account apply', async (t) => {
  const s = new ChatState(10);
  s.apply(user('Alice', 100));
  s.apply(user('alice', 200)); // a later registration of the same name (after a partition)
  t.equal(s.user('ALICE')?.hash, 'h-Alice-100');
  s.apply(user('Alice', 100, 'rehashed', 300));
  t.equal(s.user('alice')?.hash, 'rehashed');
  s.apply(user('aLiCe', 50));
  t.equal(s.user('alice')?.name, 'aLiCe', 'an earlier registration replaces a later one');
  t.equal(s.userCount, 1);
});

t.test('retained(): replaying the snapshot entries rebuilds the same state', async (t) => {
  const s = new ChatState(2);
  s.apply(user('alice', 1));
  s.apply(user('bob', 2));
  for (let i = 1; i <= 4; i++) s.apply(msg('alice', [], `r${i}`, 10 + i));
  s.apply(msg('alice', ['bob'], 'away1', 20, ['bob']));
  s.apply(msg('alice', ['bob', 'carol'], 'away2', 21, ['bob', 'carol']));
  const away = s.replayFor('bob').offline;
  s.apply({ kind: 'collect', origin: 'n1', seq: ++seq, user: 'bob', upTo: [away[0]!.id], ts: 22 });
  const copy = new ChatState(2);
  for (const e of s.retained()) copy.apply(e);
  const view = (st: ChatState, name: string) => {
    const r = st.replayFor(name);
    return { history: texts(r.history), offline: texts(r.offline) };
  };
  for (const name of ['alice', 'bob', 'carol', 'dave']) t.same(view(copy, name), view(s, name), name);
  t.equal(copy.userCount, 2);
  t.same(texts([...s.retained()].filter((e): e is MessageEntry => e.kind === 'message')), ['r3', 'r4', 'away1', 'away2'], 'only what some history still shows');
});

t.test('offline fix-ups are entries: delivered live after all (a collect), or in history for one who left while it was stored', async (t) => {
  const s = new ChatState(10);
  const m = msg('alice', ['bob', 'carol'], 'x', 1, ['bob']);
  s.apply(m);
  // bob came online while it was being stored and got it live: the coordinator writes a collect, so every replica agrees.
  s.apply({ kind: 'collect', origin: 'n1', seq: ++seq, user: 'bob', upTo: [m.id], ts: 2 });
  t.same(texts(s.replayFor('bob').offline), []);
  t.same(texts(s.replayFor('carol').history), ['x'], 'carol left while it was stored: it is in her history at her next login');
  const copy = new ChatState(10);
  copy.apply({ kind: 'collect', origin: 'n1', seq: seq, user: 'bob', upTo: [m.id], ts: 2 });
  copy.apply(m);
  t.same(texts(copy.replayFor('bob').offline), [], 'the collect may come first (a merge): the same state');
  t.equal(copy.digest(), s.digest());
});

t.test('one name registered on both sides of a partition: the earlier wins, the other is remembered', async (t) => {
  const s = new ChatState(10);
  s.apply(user('carol', 200, 'later'));
  s.apply(user('Carol', 100, 'earlier'));
  t.equal(s.user('carol')?.hash, 'earlier');
  t.same(s.displaced('CAROL').map((u) => u.hash), ['later']);
  const copy = new ChatState(10);
  for (const e of s.retained()) copy.apply(e);
  t.same(copy.displaced('carol').map((u) => u.hash), ['later'], 'kept across compaction');
  t.equal(copy.user('carol')?.hash, 'earlier');
});

t.test('the same entries in any order give the same state: copies of one message, small windows, collects', async (t) => {
  // A seeded shuffle (no Math.random: a failure replays).
  let x = 12345;
  const rand = (n: number) => ((x = (x * 1103515245 + 12345) % 2 ** 31), x % n);
  const shuffled = <T>(list: readonly T[]): T[] => {
    const out = [...list];
    for (let i = out.length - 1; i > 0; i--) {
      const j = rand(i + 1);
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  };
  const entries: Entry[] = [];
  const seqs = new Map<string, number>();
  const at = (origin: string) => {
    seqs.set(origin, (seqs.get(origin) ?? 0) + 1);
    return seqs.get(origin)!;
  };
  for (let i = 0; i < 40; i++) {
    const to = i % 3 === 0 ? [] : i % 3 === 1 ? ['bob'] : ['bob', 'carol'];
    const base: MessageEntry = { kind: 'message', origin: 'a', seq: at('a'), id: `m${i}`, cid: `c${i}`, from: 'alice', to, text: `t${i}`, ts: 100 + i * 3, pending: to.length > 0 ? ['bob'] : [] };
    entries.push(base);
    // Every fourth is stored again by another coordinator, later, for other offline recipients (a resend).
    if (i % 4 === 0) entries.push({ ...base, origin: 'b', seq: at('b'), ts: base.ts + 7, pending: to.includes('carol') ? ['carol'] : [] });
  }
  entries.push({ kind: 'collect', origin: 'b', seq: at('b'), user: 'bob', upTo: ['m1', 'm2', 'm4', 'm5'], ts: 500 });
  const digestOf = (order: readonly Entry[]) => {
    const s = new ChatState({ historySize: 3, resumeWindow: 5 });
    for (const e of order) s.apply(e);
    return s.digest();
  };
  const expected = digestOf(entries);
  for (let k = 0; k < 200; k++) {
    const got = digestOf(shuffled(entries));
    if (got !== expected) {
      t.equal(got, expected, `permutation ${k}`);
      return;
    }
  }
  t.pass('200 permutations, one state');
});
