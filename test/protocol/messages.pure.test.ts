import t from 'tap';
import { parseClientFrame, clientMessageSchema, ServerMessage, userKey, nameSkeleton } from '../../src/protocol/messages.js';
import { DEFAULT_LIMITS } from '../../src/protocol/limits.js';

const ok = (frame: unknown) => parseClientFrame(typeof frame === 'string' ? frame : JSON.stringify(frame));

t.test('valid frames parse to typed messages', async (t) => {
  const r = ok({ type: 'chat:send', id: 'm1', text: 'hi' });
  t.ok(r.ok);
  if (r.ok && r.value.type === 'chat:send') t.same(r.value.to, [], 'to defaults to everyone');
  t.ok(ok({ type: 'auth:login', user: 'Alice.B-c_1', password: 'x' }).ok);
  t.ok(ok({ type: 'presence:get' }).ok);
  t.ok(ok({ type: 'network:auth', share: Buffer.alloc(32, 7).toString('base64') }).ok);
  t.notOk(ok({ type: 'network:auth', password: 'p' }).ok, 'a password is never sent: only a share');
  t.notOk(ok({ type: 'network:auth', share: Buffer.alloc(31).toString('base64') }).ok, 'a share is 32 bytes');
  t.ok(ok({ type: 'network:confirm', confirm: Buffer.alloc(64, 1).toString('base64') }).ok);
});

const cases: [string, unknown, string][] = [
  ['not JSON', '{"type":', 'bad_json'],
  ['JSON but not an object', '42', 'invalid_message'],
  ['an array', '[1,2]', 'invalid_message'],
  ['null', 'null', 'invalid_message'],
  ['no type', { text: 'hi' }, 'unknown_type'],
  ['unknown type', { type: 'chat:delete', id: 'x' }, 'unknown_type'],
  ['type of wrong type', { type: 7 }, 'unknown_type'],
  ['missing text', { type: 'chat:send', id: 'm1' }, 'invalid_message'],
  ['text of wrong type', { type: 'chat:send', id: 'm1', text: 5 }, 'invalid_message'],
  ['empty text', { type: 'chat:send', id: 'm1', text: '' }, 'invalid_message'],
  ['text one char over the limit', { type: 'chat:send', id: 'm1', text: 'x'.repeat(4_001) }, 'text_too_long'],
  ['too many recipients', { type: 'chat:send', id: 'm1', text: 'x', to: Array.from({ length: 65 }, (_, i) => `u${i}`) }, 'too_many_recipients'],
  ['recipient not a username', { type: 'chat:send', id: 'm1', text: 'x', to: ['../etc'] }, 'invalid_message'],
  ['recipients not an array', { type: 'chat:send', id: 'm1', text: 'x', to: 'bob' }, 'invalid_message'],
  ['a forged from field', { type: 'chat:send', id: 'm1', text: 'x', from: 'mallory' }, 'invalid_message'],
  ['bad message id', { type: 'chat:send', id: 'a b', text: 'x' }, 'invalid_message'],
  ['username too long', { type: 'auth:login', user: 'a'.repeat(33), password: 'x' }, 'invalid_message'],
  ['username with a space', { type: 'auth:register', user: 'a b', password: 'x' }, 'invalid_message'],
  ['empty password', { type: 'auth:login', user: 'a', password: '' }, 'invalid_message'],
  ['__proto__ pollution attempt', '{"type":"presence:get","__proto__":{"x":1}}', 'invalid_message'],
];

t.test('malformed frames map to catalogue codes', async (t) => {
  for (const [name, frame, code] of cases) {
    const r = ok(frame);
    t.equal(r.ok ? 'ok' : r.code, code, name);
  }
});

t.test('text of exactly the limit is accepted, counted in characters', async (t) => {
  t.ok(ok({ type: 'chat:send', id: 'm', text: 'é'.repeat(DEFAULT_LIMITS.maxTextChars) }).ok);
});

t.test('errors carry the id of the frame they answer', async (t) => {
  const r = ok({ type: 'chat:send', id: 'abc', text: 'x'.repeat(5_000) });
  t.equal(r.ok ? undefined : r.ref, 'abc');
});

t.test('schema follows configured limits', async (t) => {
  const schema = clientMessageSchema({ ...DEFAULT_LIMITS, maxTextChars: 3, maxRecipients: 1 });
  const r = parseClientFrame(JSON.stringify({ type: 'chat:send', id: 'm', text: 'abcd' }), schema);
  t.equal(r.ok ? 'ok' : r.code, 'text_too_long');
  const r2 = parseClientFrame(JSON.stringify({ type: 'chat:send', id: 'm', text: 'a', to: ['a', 'b'] }), schema);
  t.equal(r2.ok ? 'ok' : r2.code, 'too_many_recipients');
});

t.test('server messages are validated too', async (t) => {
  t.ok(ServerMessage.safeParse({ type: 'presence', online: ['a'] }).success);
  t.notOk(ServerMessage.safeParse({ type: 'presence', online: 'a' }).success);
  t.notOk(ServerMessage.safeParse({ type: 'chat:message', id: 'x', from: 'a b', to: [], text: '', ts: 1 }).success);
});

t.test('usernames are unique case-insensitively', async (t) => {
  t.equal(userKey('Alice'), userKey('aLICE'));
});

t.test('look-alike names share a skeleton; different names do not', async (t) => {
  const alike: [string, string][] = [
    ['alice', 'aIice'], // capital i
    ['alice', 'a1ice'],
    ['alice', 'alice.'],
    ['alice', '-alice'],
    ['Alice', 'aIice'],
    ['bob', 'b0b'],
    ['martin', 'rnartin'],
    ['will', 'vvill'],
    ['dave', 'clave'],
    ['ann.lee', 'ann_lee'],
    ['ann.lee', 'ann--lee'],
    ['Ivan', 'lvan'],
  ];
  for (const [a, b] of alike) t.equal(nameSkeleton(b), nameSkeleton(a), `${b} looks like ${a}`);
  const distinct: [string, string][] = [
    ['alice', 'alicia'],
    ['alice', 'alice2'],
    ['bob', 'bobby'],
    ['u10', 'u100'],
    ['c1', 'c2'],
    ['annlee', 'ann.lee'],
    ['neil', 'nell'], // a small i has its dot
    ['kai', 'kal'],
    ['lucia', 'luda'],
    ['mac1', 'mad'],
  ];
  for (const [a, b] of distinct) t.not(nameSkeleton(b), nameSkeleton(a), `${b} is not ${a}`);
  // Numbered names (bots, load tests) never collide: the digits that fold (0, 1) fold to letters no digit is.
  const skeletons = new Set(Array.from({ length: 1_000 }, (_, i) => nameSkeleton(`bot${i}`)));
  t.equal(skeletons.size, 1_000, 'bot0…bot999 are 1,000 names');
});
