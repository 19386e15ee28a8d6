import t from 'tap';
import { ClientCore } from '../../src/core/client-core.js';
import type { ServerMessage } from '../../src/protocol/messages.js';

const welcome = (networkPassword = false): ServerMessage => ({ type: 'welcome', protocol: 1, network: 'default', node: 'n', networkPassword, limits: { maxFrameBytes: 1, maxTextChars: 1, maxRecipients: 1, historySize: 1, maxMessageRate: 1 } });
const msg = (id: string, at: [string, number]): ServerMessage => ({ type: 'chat:message', id, from: 'bob', to: [], text: id, ts: 1, at });

t.test('handshake: register first, then resume with the token and the cursor; a refused token falls back to the password', async (t) => {
  const c = new ClientCore({ user: 'alice', password: 'pw', register: true });
  t.same(c.handshake(welcome()).send, [{ type: 'auth:register', user: 'alice', password: 'pw' }]);
  t.same(c.handshake({ type: 'auth:ok', user: 'Alice', token: 'tok' }).done, { ok: true, resumed: false, user: 'Alice' });
  c.receive({ type: 'history:end', count: 0, cursor: [['n.1', 4]] });
  c.receive(msg('m1', ['n.1', 6]));
  c.receive(msg('m2', ['n.2', 1]));
  t.same(c.handshake(welcome()).send, [{ type: 'auth:resume', user: 'Alice', token: 'tok', cursor: [['n.1', 6], ['n.2', 1]] }], 'what it saw, to resume from');
  t.same(c.handshake({ type: 'error', code: 'auth_failed', message: 'expired' }).send, [{ type: 'auth:login', user: 'Alice', password: 'pw' }], 'registered already: a login');
  t.same(c.handshake({ type: 'auth:ok', user: 'Alice' }).done, { ok: true, resumed: true, user: 'Alice' });
});

t.test('a network password first; a node that is starting is a redirect to nobody yet', async (t) => {
  const c = new ClientCore({ user: 'alice', password: 'pw', networkPassword: 'net' });
  const first = c.handshake(welcome(true));
  t.same(first.send, [], 'nothing sent as is: the password is proved, by the adapter (it holds the TLS session)');
  t.match(first.prove, { password: 'net' });
  t.same(c.handshake({ type: 'network:ok' }).send, [{ type: 'auth:login', user: 'alice', password: 'pw' }]);
  t.match(c.handshake({ type: 'redirect', coordinator: null, term: 3 }).done, { ok: false, redirect: null });
  t.match(new ClientCore({ user: 'a', password: 'p' }).handshake(welcome(true)).done, { ok: false, code: 'network_password' });
});

t.test('each message once, the outbox until acknowledged, successors in order', async (t) => {
  const c = new ClientCore({ user: 'alice', password: 'pw' });
  c.queue('x1', 'hi', []);
  c.queue('x2', 'there', ['bob']);
  t.same(c.resend(), ['x1', 'x2']);
  t.same(c.sendFrame('x2'), { type: 'chat:send', id: 'x2', to: ['bob'], text: 'there' });
  t.match(c.receive(msg('m1', ['n.1', 1])), { type: 'message' });
  t.equal(c.receive(msg('m1', ['n.1', 1])), undefined, 'seen: dropped');
  t.match(c.receive({ type: 'chat:ack', id: 'x1', messageId: 'm', ts: 1 }), { type: 'ack', id: 'x1' });
  t.equal(c.receive({ type: 'chat:ack', id: 'x1', messageId: 'm', ts: 1 }), undefined, 'acknowledged twice: once');
  c.receive({ type: 'error', code: 'text_too_long', message: 'long', ref: 'x2' });
  t.equal(c.outbox.size, 0, 'a refused send leaves the outbox');
  c.receive({ type: 'succession', term: 2, coordinator: { id: 'aaaaaaaaaaaaaaa1', address: 'c:1' }, standbys: [{ id: 'aaaaaaaaaaaaaaa2', address: 's:1' }] });
  t.same(c.candidates('c:1', ['d:1', 's:1']), ['s:1', 'c:1', 'd:1']);
});

t.test('a wrong password is final at the first login only: later it means a node that does not know the account yet', async (t) => {
  const c = new ClientCore({ user: 'alice', password: 'pw' });
  t.equal(c.isFinal('auth_failed'), true);
  t.equal(c.isFinal('too_many_sessions'), true, 'too many sessions at the first login: quit one');
  c.handshake(welcome());
  c.handshake({ type: 'auth:ok', user: 'alice' });
  t.equal(c.isFinal('auth_failed'), false);
  t.equal(c.isFinal('too_many_sessions'), false, 'after a lost link one may be our own old session, not yet seen gone');
  t.equal(c.isFinal('username_taken'), true);
});
