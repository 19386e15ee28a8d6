import t from 'tap';
import { initialState, reducer, hostError, portError, joinHostPort, MAX_LINES, type Action, type UiState } from '../../src/ui/state.js';
import { parseCommand } from '../../src/ui/commands.js';
import { colourFor, renderLine, renderTransfer } from '../../src/ui/format.js';

const run = (s: UiState, ...actions: Action[]): UiState => actions.reduce(reducer, s);
const msg = (id: string, from: string, text: string, ts: number, to: string[] = []) => ({ type: 'message', message: { id, from, to, text, ts } }) as Action;
const net = (network: string, coordinator = '10.0.0.1:7777') => ({ network, coordinator, host: 'lab-h1.local', nodes: 2, term: 1 });
const chatting = (): UiState => run(initialState({ address: '10.0.0.1:7777', user: 'alice' }), { type: 'ready', user: 'alice', coordinator: '10.0.0.1:7777', network: 'default', resumed: false, now: 0 });

t.test('manual address: the IP and the port are checked, with the error under the field', async (t) => {
  const cases: [string, string, string | undefined, string | undefined][] = [
    ['192.168.1.10', '7777', undefined, undefined],
    ['fe80::1', '7777', undefined, undefined],
    ['lab-h1.local', '1', undefined, undefined],
    ['', '7777', "enter the coordinator's IP address", undefined],
    ['300.1.2.3', '7777', '300.1.2.3 is not a valid IP address', undefined],
    ['bad host!', '7777', 'bad host! is not an IP address or host name', undefined],
    ['10.0.0.1', '0', undefined, 'the port is a number from 1 to 65535'],
    ['10.0.0.1', '65536', undefined, 'the port is a number from 1 to 65535'],
    ['10.0.0.1', 'http', undefined, 'the port is a number from 1 to 65535'],
  ];
  for (const [host, port, he, pe] of cases) {
    t.equal(hostError(host), he, `host ${JSON.stringify(host)}`);
    t.equal(portError(port), pe, `port ${JSON.stringify(port)}`);
  }
  let s = initialState({ locked: true });
  t.equal(s.screen, 'connect');
  t.ok(s.manual, 'locked-down mode opens on the manual form');
  s = run(s, { type: 'manual:edit', field: 'host', value: '10.0.0.256' }, { type: 'manual:edit', field: 'port', value: '99999' }, { type: 'manual:submit' });
  t.equal(s.screen, 'connect', 'a bad address goes nowhere');
  t.equal(s.manual?.hostError, '10.0.0.256 is not a valid IP address');
  t.equal(s.manual?.portError, 'the port is a number from 1 to 65535');
  s = run(s, { type: 'manual:edit', field: 'host', value: '10.0.0.2' });
  t.equal(s.manual?.hostError, undefined, 'editing the field clears its error');
  s = run(s, { type: 'manual:edit', field: 'port', value: '7777' }, { type: 'manual:submit' });
  t.equal(s.screen, 'connect', 'a well-formed address is asked for its status first');
  t.equal(s.manual?.checking, '10.0.0.2:7777');
  t.equal(run(s, { type: 'manual:submit' }), s, 'one check at a time');
  t.equal(run(s, { type: 'manual:probed', address: '10.0.0.9:1', ok: true }), s, 'an answer for another address is ignored');
  const refused = run(s, { type: 'manual:probed', address: '10.0.0.2:7777', ok: false, errno: 'EHOSTUNREACH' });
  t.equal(refused.screen, 'connect');
  t.equal(refused.manual?.probeError, '10.0.0.2:7777 cannot be reached from this machine — is it on this network?');
  t.match(refused.manual, { host: '10.0.0.2', port: '7777', checking: undefined }, 'what was typed stays');
  t.equal(run(refused, { type: 'manual:edit', field: 'host', value: '10.0.0.3' }).manual?.probeError, undefined, 'editing clears it');
  s = run(s, { type: 'manual:probed', address: '10.0.0.2:7777', ok: true, network: 'lab' });
  t.equal(s.screen, 'login');
  t.same(s.target, { address: '10.0.0.2:7777', network: 'lab' });
  t.ok(s.login.needNetworkPassword, 'locked-down mode asks for the network password');
  t.equal(run(s, { type: 'manual:cancel' }).manual !== undefined, true, 'no list to go back to in locked-down mode');
  t.equal(joinHostPort('fe80::1', '7777'), '[fe80::1]:7777');
});

t.test('connect screen: networks come and go; the cursor stays in range; "manual" is the last entry', async (t) => {
  let s = initialState();
  t.equal(s.screen, 'connect');
  s = run(s, { type: 'networks', networks: [net('default'), net('lab', '10.0.0.9:7777')] }, { type: 'cursor', delta: 5 });
  t.equal(s.cursor, 2, 'the manual entry');
  s = run(s, { type: 'networks', networks: [net('lab', '10.0.0.9:7777')] });
  t.equal(s.cursor, 1);
  s = run(s, { type: 'cursor', delta: -1 }, { type: 'choose' });
  t.equal(s.screen, 'login');
  t.same(s.target, { address: '10.0.0.9:7777', network: 'lab' });
  s = run(s, { type: 'login:back' });
  t.equal(s.screen, 'connect');
  s = run(s, { type: 'cursor', delta: 1 }, { type: 'choose' });
  t.ok(s.manual, 'choosing the last entry opens the form');
  t.equal(run(s, { type: 'manual:cancel' }).manual, undefined, 'Esc goes back to the list');
});

t.test('login errors are said in words and put the cursor where the fix goes', async (t) => {
  const base = initialState({ address: '10.0.0.1:7777', user: 'alice' });
  t.equal(base.screen, 'login', '--connect skips the connect screen');
  t.equal(base.login.field, 'password', '--user pre-fills the name');
  const cases: [string, string, string][] = [
    ['auth_failed', 'wrong username or password', 'password'],
    ['username_taken', 'that name is taken: pick another', 'user'],
    ['network_password', 'wrong network password (ask whoever runs this network)', 'networkPassword'],
    ['invalid_username', 'enter a username', 'user'],
  ];
  for (const [code, words, field] of cases) {
    const s = run(base, { type: 'login:edit', field: 'password', value: 'x' }, { type: 'login:busy' }, { type: 'login:failed', code, message: code === 'username_taken' ? 'username taken' : 'enter a username' });
    t.equal(s.login.error, words, code);
    t.equal(s.login.field, field, `${code}: focus`);
    t.equal(s.login.busy, false);
  }
  const s = run(base, { type: 'login:failed', code: 'network_password', message: '' });
  t.ok(s.login.needNetworkPassword, 'the network password field appears when the coordinator asks for it');
  t.same(
    [s, run(s, { type: 'login:field', delta: 1 }), run(s, { type: 'login:field', delta: 2 })].map((x) => x.login.field),
    ['networkPassword', 'register', 'user'],
    'Tab cycles through the fields and the register toggle',
  );
  t.equal(run(base, { type: 'login:toggle-register' }).login.register, true);
});

t.test('chat: messages are shown once, in time order; the pane is bounded', async (t) => {
  let s = run(chatting(), msg('b', 'bob', 'second', 20), msg('a', 'bob', 'first', 10), msg('b', 'bob', 'second', 20));
  t.same(s.chat.lines.map((l) => (l.kind === 'message' ? l.text : '')), ['first', 'second']);
  for (let i = 0; i < MAX_LINES + 10; i++) s = reducer(s, msg(`m${i}`, 'bob', 'x', 100 + i));
  t.equal(s.chat.lines.length, MAX_LINES);
});

t.test('chat: outbox, acks and errors about a send', async (t) => {
  let s = run(chatting(), { type: 'submitted', line: 'hello' }, { type: 'sent', cid: 'c1', text: 'hello', to: [] }, { type: 'sent', cid: 'c2', text: 'x', to: ['zed'] });
  t.equal(s.chat.input, '');
  t.same(s.chat.outbox.map((o) => o.cid), ['c1', 'c2']);
  s = run(s, { type: 'ack', cid: 'c1' }, { type: 'error', code: 'unknown_recipient', message: 'no such user: zed', ref: 'c2', now: 5 });
  t.same(s.chat.outbox, []);
  t.match(s.chat.lines.at(-1), { kind: 'notice', level: 'error', text: 'no such user: zed' });
});

t.test('chat: recipients are picked in the users pane; users who leave are unselected', async (t) => {
  let s = run(chatting(), { type: 'presence', online: ['alice', 'bob', 'carol'] }, { type: 'focus', focus: 'users' });
  s = run(s, { type: 'users:move', delta: 1 }, { type: 'users:toggle' }, { type: 'users:move', delta: 1 }, { type: 'users:toggle' });
  t.same(s.chat.selected, ['bob', 'carol']);
  s = run(s, { type: 'users:toggle' });
  t.same(s.chat.selected, ['bob'], 'Space again unselects');
  s = run(s, { type: 'users:move', delta: 9 });
  t.equal(s.chat.userCursor, 2, 'the cursor stops at the last user');
  s = run(s, { type: 'presence', online: ['alice', 'carol', 'dave'], now: 7 });
  t.same(s.chat.selected, [], 'bob left: no longer a recipient');
  t.same(s.chat.lines.map((l) => (l.kind === 'file' ? l.name : l.text)), ['dave joined', 'bob left'], 'joins and departures are shown');
  s = run(s, { type: 'presence', online: ['alice'], now: 8 });
  t.equal(s.chat.userCursor, 0, 'the cursor stays on the list');
});

t.test('chat: ↑/↓ recall earlier lines and give back the draft', async (t) => {
  let s = run(chatting(), { type: 'submitted', line: 'one' }, { type: 'submitted', line: 'two' }, { type: 'input', value: 'dra' });
  s = run(s, { type: 'recall', delta: -1 });
  t.equal(s.chat.input, 'two');
  s = run(s, { type: 'recall', delta: -1 }, { type: 'recall', delta: -1 });
  t.equal(s.chat.input, 'one', 'stops at the oldest');
  s = run(s, { type: 'recall', delta: 1 }, { type: 'recall', delta: 1 });
  t.equal(s.chat.input, 'dra', 'the draft comes back');
  t.equal(s.chat.recallIndex, undefined);
});

t.test('chat: Tab completes user names', async (t) => {
  const s = run(chatting(), { type: 'presence', online: ['alice', 'bob', 'bobby', 'carol'] });
  const complete = (input: string) => run(s, { type: 'input', value: input }, { type: 'complete' }).chat.input;
  t.equal(complete('ca'), 'carol: ', 'at the start: an address');
  t.equal(complete('hi ca'), 'hi carol ');
  t.equal(complete('/msg ca'), '/msg carol ');
  t.equal(complete('hi b'), 'hi bob', 'several: as far as they agree');
  t.equal(complete('hi al'), 'hi al', 'never yourself');
  t.equal(complete('hi zz'), 'hi zz');
});

t.test('chat: failover shows in the state, and nothing typed is lost', async (t) => {
  let s = run(chatting(), { type: 'input', value: 'half a thought' }, { type: 'sent', cid: 'c1', text: 'queued', to: [] }, { type: 'reconnecting', now: 1 });
  t.equal(s.chat.connection, 'reconnecting');
  t.equal(s.chat.input, 'half a thought');
  t.equal(s.chat.outbox.length, 1);
  t.match(s.chat.lines.at(-1), { kind: 'notice', level: 'error', text: 'lost the coordinator: reconnecting…' });
  s = run(s, { type: 'ready', user: 'alice', coordinator: '10.0.0.2:7777', network: 'default', resumed: true, now: 2 }, { type: 'succession', term: 2, coordinator: '10.0.0.2:7777', now: 2 });
  t.equal(s.chat.connection, 'online');
  t.equal(s.chat.coordinator, '10.0.0.2:7777');
  t.equal(s.chat.term, 2);
  t.match(s.chat.lines.at(-1), { kind: 'notice', level: 'info', text: 'coordinator moved to 10.0.0.2:7777 (term 2)' });
  s = run(s, { type: 'succession', term: 2, coordinator: '10.0.0.2:7777', now: 3 });
  t.equal(s.chat.lines.filter((l) => l.kind === 'notice' && l.text.startsWith('coordinator moved')).length, 1, 'one notice per move');
});

t.test("chat: a joiner's first message comes after its join notice, whatever the clocks say", async (t) => {
  let s = run(chatting(), { type: 'presence', online: ['alice', 'bob'], now: 1_000 });
  s = run(s, { type: 'presence', online: ['alice', 'bob', 'dave'], now: 5_000 }); // this machine's clock is ahead
  s = run(s, msg('d1', 'dave', 'hi all', 4_200)); // the coordinator's clock
  t.same(s.chat.lines.map((l) => (l.kind === 'file' ? l.name : l.text)), ['dave joined', 'hi all']);
});

t.test('chat: back on the same coordinator is no move', async (t) => {
  let s = run(chatting(), { type: 'succession', term: 1, coordinator: '10.0.0.1:7777', now: 1 }, { type: 'reconnecting', now: 2 });
  s = run(s, { type: 'ready', user: 'alice', coordinator: '10.0.0.1:7777', network: 'default', resumed: true, now: 3 }, { type: 'succession', term: 1, coordinator: '10.0.0.1:7777', now: 3 });
  t.match(s.chat.lines.at(-1), { kind: 'notice', level: 'info', text: 'reconnected to the coordinator at 10.0.0.1:7777 (term 1)' });
});

t.test('chat: a planned hand-off is news, not an error', async (t) => {
  let s = run(chatting(), { type: 'succession', term: 1, coordinator: '10.0.0.1:7777', leaving: true, now: 1 }, { type: 'reconnecting', now: 2 });
  t.match(s.chat.lines.at(-1), { kind: 'notice', level: 'info', text: 'the coordinator is handing off: moving to the next one…' });
  s = run(s, { type: 'ready', user: 'alice', coordinator: '10.0.0.2:7777', network: 'default', resumed: true, now: 3 }, { type: 'succession', term: 2, coordinator: '10.0.0.2:7777', now: 3 });
  t.same(s.chat.lines.filter((l) => l.kind === 'notice' && l.level === 'error'), [], 'nothing in red');
});

t.test('chat: no false departures or joins across a failover: people come back one by one', async (t) => {
  let s = run(chatting(), { type: 'presence', online: ['alice', 'bob', 'carol'], now: 1 });
  s = run(s, { type: 'reconnecting', now: 2 }, { type: 'presence', online: [], now: 2 });
  s = run(s, { type: 'ready', user: 'alice', coordinator: '10.0.0.2:7777', network: 'default', resumed: true, now: 3 });
  s = run(s, { type: 'presence', online: ['alice'], now: 3 }, { type: 'presence', online: ['alice', 'carol'], now: 1_000 }, { type: 'presence', online: ['alice', 'bob', 'carol'], now: 2_000 });
  t.same(s.chat.lines.filter((l) => l.kind === 'notice' && /joined|left/.test(l.text)), [], 'carol and bob never left');
  s = run(s, { type: 'presence', online: ['alice', 'bob', 'carol', 'dave'], now: 20_000 }, { type: 'presence', online: ['alice', 'carol', 'dave'], now: 21_000 });
  t.same(s.chat.lines.filter((l) => l.kind === 'notice' && /joined|left/.test(l.text)).map((l) => (l.kind === 'notice' ? l.text : '')), ['dave joined', 'bob left'], 'after it, what really happens');
  // Someone who really left during the failover is announced once the list has settled.
  let u = run(chatting(), { type: 'presence', online: ['alice', 'bob', 'carol'], now: 1 }, { type: 'reconnecting', now: 2 });
  u = run(u, { type: 'ready', user: 'alice', coordinator: '10.0.0.2:7777', network: 'default', resumed: true, now: 3 }, { type: 'presence', online: ['alice', 'carol'], now: 3 });
  u = run(u, { type: 'presence', online: ['alice', 'carol', 'erin'], now: 15_000 });
  t.same(u.chat.lines.filter((l) => l.kind === 'notice' && /joined|left/.test(l.text)).map((l) => (l.kind === 'notice' ? l.text : '')), ['erin joined', 'bob left']);
});

t.test('scrolling is bounded and returns to live', async (t) => {
  let s = run(chatting(), { type: 'scroll', rows: 10, max: 4 });
  t.equal(s.chat.scroll, 4);
  s = run(s, msg('x', 'bob', 'new', 5));
  t.equal(s.chat.unseen, 1);
  s = run(s, { type: 'scroll', rows: -20, max: 4 });
  t.equal(s.chat.scroll, 0);
  t.equal(s.chat.unseen, 0);
});

t.test('parseCommand', async (t) => {
  const cases: [string, string[], ReturnType<typeof parseCommand>][] = [
    ['hello', [], { kind: 'send', text: 'hello', to: [] }],
    ['hello', ['bob'], { kind: 'send', text: 'hello', to: ['bob'] }],
    ['  ', [], { kind: 'none' }],
    ['/msg bob hi there', ['carol'], { kind: 'send', text: 'hi there', to: ['bob'] }],
    ['/msg bob,carol,bob hi', [], { kind: 'send', text: 'hi', to: ['bob', 'carol'] }],
    ['/msg bob', [], { kind: 'error', text: 'usage: /msg NAME[,NAME…] text' }],
    ['/msg ../x hi', [], { kind: 'error', text: 'usage: /msg NAME[,NAME…] text' }],
    ['/who', [], { kind: 'who' }],
    ['/WHO', [], { kind: 'who' }],
    ['/help', [], { kind: 'help' }],
    ['/quit', [], { kind: 'quit' }],
    ['/file ./a b.txt', ['bob'], { kind: 'file', path: './a b.txt', to: ['bob'] }],
    ["/file '/tmp/my photo.jpg'", [], { kind: 'file', path: '/tmp/my photo.jpg', to: [] }],
    ['/file "/tmp/my photo.jpg"', [], { kind: 'file', path: '/tmp/my photo.jpg', to: [] }],
    ['/file /tmp/my\\ photo.jpg', [], { kind: 'file', path: '/tmp/my photo.jpg', to: [] }],
    ['/file', [], { kind: 'error', text: 'usage: /file PATH' }],
    ["/file ''", [], { kind: 'error', text: 'usage: /file PATH' }],
    ['/frobnicate now', [], { kind: 'error', text: 'unknown command /frobnicate: /help lists the commands' }],
    ['//etc is a path', [], { kind: 'send', text: '/etc is a path', to: [] }],
  ];
  for (const [line, selected, want] of cases) t.same(parseCommand(line, selected), want, line);
});

t.test('rendering a line: colours are stable, text is wrapped and control characters are harmless', async (t) => {
  t.equal(colourFor('Bob'), colourFor('bob'));
  const rows = renderLine({ kind: 'message', id: 'x', ts: 0, from: 'bob', to: ['alice'], text: 'a\u001b[2Jb '.repeat(20) }, 'alice', 30);
  t.ok(rows.length > 1, 'wrapped');
  t.notMatch(rows.join(''), /\u001b\[2J/, 'an escape sequence from the network is not passed to the terminal');
  t.match(rows[0], /bob/);
  t.match(rows[0], /direct/);
});

t.test('files: a progress bar while on the way, then a line with the size and where it was saved', async (t) => {
  let s = chatting();
  s = run(s, { type: 'file:started', id: 'f1', name: 'photo.jpg', to: ['bob'] });
  t.same(s.chat.transfers, [{ id: 'f1', direction: 'out', name: 'photo.jpg', done: 0, size: 0, peer: ['bob'] }], 'shown at once, before any byte moved');
  s = run(s, { type: 'file:progress', id: 'f1', direction: 'out', name: 'photo.jpg', done: 512 * 1024, size: 2 * 1024 * 1024 });
  t.match(renderTransfer(s.chat.transfers[0]!, 100), /↑ photo\.jpg .*to bob.*25% .*512 KiB of 2 MiB/);
  s = run(s, { type: 'file:progress', id: 'in1', direction: 'in', name: 'log.txt', done: 10, size: 20, from: 'carol' });
  t.match(renderTransfer(s.chat.transfers[1]!, 100), /↓ log\.txt .*from carol.*50%/);
  s = run(s, { type: 'file:sent', id: 'f1', name: 'photo.jpg', size: 2 * 1024 * 1024, delivered: ['bob'], failed: [], skipped: ['dave'], now: 5 });
  t.same(s.chat.transfers.map((x) => x.id), ['in1'], 'the finished transfer leaves the bars');
  t.match(renderLine(s.chat.lines.at(-2)!, 'alice', 200).join(''), /alice.*\(you\).*→ bob.*\[file\].*photo\.jpg.*\(2 MiB\) sent/);
  t.match(s.chat.lines.at(-1), { kind: 'notice', level: 'error', text: /not sent to dave: offline/ });
  s = run(s, { type: 'file:received', id: 'in1', from: 'carol', to: ['alice'], name: 'log.txt', size: 20, path: '/home/alice/Downloads/lanchat/log.txt', ts: 6 });
  t.same(s.chat.transfers, []);
  t.match(renderLine(s.chat.lines.at(-1)!, 'alice', 200).join(''), /carol.*\[direct\].*\[file\].*log\.txt.*\(20 bytes\) saved to \/home\/alice\/Downloads\/lanchat\/log\.txt/);
  s = run(s, { type: 'file:progress', id: 'in2', direction: 'in', name: 'big.iso', done: 0, size: 99, from: 'bob' }, { type: 'file:failed', id: 'in2', from: 'bob', name: 'big.iso', reason: 'bob disconnected', now: 7 });
  t.same(s.chat.transfers, []);
  t.match(s.chat.lines.at(-1), { kind: 'notice', level: 'error', text: 'big.iso from bob was not saved: bob disconnected' });
  s = run(s, { type: 'file:started', id: 'f2', name: 'x', to: [] }, { type: 'error', code: 'file_too_large', message: 'x is 200 MiB; this network accepts files up to 100 MiB', ref: 'f2', now: 8 });
  t.same(s.chat.transfers, [], 'a refused file leaves the bars');
  t.match(s.chat.lines.at(-1), { kind: 'notice', text: /accepts files up to 100 MiB/ });
});

t.test('a failed login clears only the secret that was wrong; a failed connection keeps everything', async (t) => {
  const s = run(initialState({ address: '10.0.0.2:7777' }), { type: 'login:edit', field: 'user', value: 'alice' }, { type: 'login:edit', field: 'password', value: 'pw' }, { type: 'login:edit', field: 'networkPassword', value: 'np' });
  const failed = (code: string) => run(s, { type: 'login:busy' }, { type: 'login:failed', code, message: '' }).login;
  t.match(failed('connection_failed'), { user: 'alice', password: 'pw', networkPassword: 'np' });
  t.match(failed('auth_failed'), { user: 'alice', password: '', networkPassword: 'np' });
  t.match(failed('network_password'), { user: 'alice', password: 'pw', networkPassword: '', field: 'networkPassword' });
  t.match(failed('rate_limited'), { password: 'pw', networkPassword: 'np' });
});

t.test('the unread marker: above the first message missed in a reconnect, while scrolled up, or while away', async (t) => {
  const msg = (id: string, from = 'bob', now = 60_000) => ({ type: 'message', message: { type: 'chat:message', id, ts: 1_000, from, to: [], text: id }, now }) as Action;
  let s = run(initialState({ address: 'x:1' }), { type: 'ready', user: 'alice', coordinator: 'x:1', network: 'n', resumed: false, now: 0 });
  s = run(s, msg('m1'));
  t.equal(s.chat.unread, undefined, 'live messages while watching: no marker');
  s = run(s, { type: 'reconnecting', now: 4_000 }, { type: 'ready', user: 'alice', coordinator: 'y:1', network: 'n', resumed: true, now: 4_500 });
  s = run(s, msg('m2', 'bob', 5_000), msg('m3', 'bob', 5_000));
  t.equal(s.chat.unread, 'm2', 'the replay after a reconnect: the first message missed');
  s = run(s, { type: 'message', message: { type: 'chat:message', id: 'm4', ts: 2_000, from: 'bob', to: [], text: '' }, now: 9_000 });
  t.equal(s.chat.unread, 'm2', 'later live messages leave it where it is');
  s = run(s, { type: 'submitted', line: 'hi' });
  t.equal(s.chat.unread, undefined, 'whoever sends has read it');
  s = run(s, { type: 'scroll', rows: 5, max: 10 }, msg('m5', 'alice'), msg('m6'), msg('m7'));
  t.equal(s.chat.unread, 'm6', 'scrolled up: the first message from someone else');
  s = run(s, { type: 'scroll', rows: -5, max: 10 }, msg('m8'));
  t.equal(s.chat.unread, 'm6', 'back at the end: the marker stays to be seen');
  s = run(s, { type: 'terminal-focus', focused: false }, msg('m9'), msg('m10'));
  t.equal(s.chat.unread, 'm9', 'away from the window: a new marker');
  t.equal(s.chat.away, 2, 'and a count for the title');
  s = run(s, { type: 'terminal-focus', focused: true });
  t.equal(s.chat.away, 0, 'back in the window: the count goes');
  t.equal(s.chat.unread, 'm9');
  s = run(s, { type: 'submitted', line: 'x' }, { type: 'reconnecting', now: 70_000 }, { type: 'closed', reason: 'gone', now: 71_000 });
  s = run(s, { type: 'ready', user: 'alice', coordinator: 'x:1', network: 'n', resumed: false, now: 80_000 }, msg('m11', 'bob', 90_000));
  t.equal(s.chat.unread, undefined, 'a reconnect that ended in a fresh login leaves no replay window open');
});

t.test('a room message is shown with its room, not as a direct message to every member', async (t) => {
  const s = run(chatting(), { type: 'message', message: { id: 'r1', from: 'bob', to: ['alice', 'bob', 'carol'], text: 'deploy', ts: 1, room: 'ops' } } as Action);
  const row = renderLine(s.chat.lines.at(-1)!, 'alice', 200).join('');
  t.match(row, /bob.*→ #ops.*deploy/);
  t.notMatch(row, /\[direct\]|carol/, 'neither "[direct]" nor the member list');
});
