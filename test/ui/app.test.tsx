import t, { type Test } from 'tap';
import { EventEmitter } from 'node:events';
import { render } from 'ink-testing-library';
import { pino } from 'pino';
import { App } from '../../src/ui/app.js';
import { ChatClient } from '../../src/client/chat-client.js';
import type { NetworkInfo } from '../../src/ui/state.js';
import { testCoordinator } from '../helpers/coordinator.js';
import { waitFor } from '../helpers/wait.js';
import { tmpDir } from '../helpers/tmp.js';
import { join } from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import type { ReceivedFile } from '../../src/client/file-transfer.js';
import type { Probe, Status } from '../../src/discovery/status.js';
import { fileChunk, loggedIn, offerFile } from '../helpers/ws-client.js';

const log = pino({ level: 'silent' });
const ENTER = '\r';
const ESC = '\u001b';
const DOWN = '\u001b[B';
const UP = '\u001b[A';
const size = { columns: 80, rows: 24 };

/** Renders the app; `frame()` is the last frame, polled with waitFor (Ink renders asynchronously). */
function mount(t: Test, props: Partial<Parameters<typeof App>[0]> = {}) {
  const bells: number[] = [];
  const exits: number[] = [];
  const app = render(<App deps={{ log, bell: () => bells.push(Date.now()) }} onExit={(c) => exits.push(c)} size={size} {...props} />);
  t.teardown(() => app.unmount());
  const frame = (): string => app.lastFrame() ?? '';
  const see = (what: string | RegExp, timeoutMs = 5_000) =>
    waitFor(() => (typeof what === 'string' ? frame().includes(what) : what.test(frame())), `the screen to show ${what}`, timeoutMs).catch((err: Error) => {
      throw new Error(`${err.message}\n--- last frame ---\n${frame()}`);
    });
  /** Writes keys one chunk at a time, letting Ink handle each. */
  const type = async (...chunks: string[]) => {
    for (const c of chunks) {
      app.stdin.write(c);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  /**
   * Types a line and waits until the input shows it before pressing Enter. Ink attaches a new screen's key
   * handlers in an effect after it first paints, so keys typed within that moment are lost: type again then.
   */
  const say = async (text: string) => {
    await press(text, `› ${text}`);
    await type(ENTER);
    // The line leaves the input before the next one is typed.
    await waitFor(() => !frame().includes(`› ${text}`), 'the input to clear').catch((err: Error) => {
      throw new Error(`${err.message}\n${frame()}`);
    });
  };
  /**
   * Presses a key (or types some text) and waits for the screen to show its effect, as a person looks before the
   * next key. Keys typed in the moment before a new screen's handlers are attached are lost, leaving the screen
   * as it was: type them again then (a person would too).
   */
  const press = async (key: string, shows: string) => {
    for (let attempt = 0; ; attempt++) {
      const before = frame();
      await type(key);
      const shown = await waitFor(() => frame().includes(shows), `the screen to show ${shows}`, 1_000).then(() => true, () => false);
      if (shown) return;
      if (attempt === 2 || frame() !== before) return see(shows); // something happened: wait for the rest, or fail with the frame
    }
  };
  return { app, frame, see, type, say, press, bells, exits };
}

async function peer(t: Test, address: string, user: string, register = true, downloadDir?: string): Promise<ChatClient> {
  const c = new ChatClient({ address, user, password: 'pw', register, log, ...(downloadDir ? { downloadDir } : {}) });
  t.teardown(() => c.close());
  await c.connect();
  return c;
}

class FakeScan extends EventEmitter {
  networks: NetworkInfo[] = [];
  set(n: NetworkInfo[]): void {
    this.networks = n;
    this.emit('change', n);
  }
}

t.test('connect screen: the live list of networks, and the manual entry with checked fields', async (t) => {
  const scan = new FakeScan();
  const { see, type, press, frame } = mount(t, { scan });
  await see('looking for lanchat networks');
  await see('Enter an address manually');
  scan.set([
    { network: 'default', coordinator: '10.0.0.1:7777', host: 'lab-h1.local', nodes: 3, term: 2 },
    { network: 'lab', coordinator: '10.0.0.9:7777', host: '10.0.0.9', nodes: 1, term: 1 },
  ]);
  await see('2 networks found');
  t.match(frame(), /default\s+coordinator lab-h1\.local \(10\.0\.0\.1:7777\) · 3 nodes · term 2/);
  t.match(frame(), /lab\s+coordinator 10\.0\.0\.9:7777 · 1 node · term 1/);
  scan.set([{ network: 'lab', coordinator: '10.0.0.9:7777', host: '10.0.0.9', nodes: 1, term: 1 }]);
  await see('1 network found');
  t.notMatch(frame(), /lab-h1/, 'a network that vanished leaves the list; the choice stays the user\'s');
  await press(DOWN, '› Enter an address manually');
  await press(ENTER, 'connect by address');
  // Typed in one read: the host, Tab, a digit more for the port and Enter, each key where it was meant to go.
  await type('10.0.0.300\t0\r');
  await see('10.0.0.300 is not a valid IP address');
  await see('the port is a number from 1 to 65535');
  t.match(frame(), /Port:\s+77770/, 'the port field got the digit typed after Tab');
  await type(ESC);
  await see('1 network found');
  // ↑ back to the network, Enter and a username, in one read: the username is the login screen's.
  await type('\x1b[A\ralice');
  await see('log in on network "lab" at 10.0.0.9:7777');
  await see(/Username:\s+alice/);
});

t.test('manual address: it is asked for its status before any password, and what was typed stays', async (t) => {
  const asked: string[] = [];
  const answers: Probe[] = [
    { ok: false, errno: 'ECONNREFUSED' },
    { ok: false, errno: 'ENOTLANCHAT' },
    { ok: true, status: { network: 'lab' } as Status },
  ];
  const probe = async (address: string) => {
    asked.push(address);
    return answers.shift()!;
  };
  const { see, type, press, frame } = mount(t, { locked: true, probe });
  await press('10.0.0.5', '› IP address: 10.0.0.5');
  await type(ENTER);
  await see('nothing answers at 10.0.0.5:7777 — is lanchat running there?');
  t.match(frame(), /IP address: 10\.0\.0\.5/, 'the address typed is kept');
  t.notMatch(frame(), /Password/, 'no password asked for an address that does not answer');
  await type('\t\x15', '8080', ENTER); // Ctrl+U clears the port, then a new one
  await see('something answers at 10.0.0.5:8080, but not lanchat — check the port');
  await type('\t\x15', '7778', ENTER);
  await see('log in on network "lab" at 10.0.0.5:7778');
  t.same(asked, ['10.0.0.5:7777', '10.0.0.5:8080', '10.0.0.5:7778']);
  await type(ESC);
  await see('connect by address');
  t.match(frame(), /IP address: 10\.0\.0\.5/, 'back from the login form, the address is still there');
  t.match(frame(), /Port:\s+7778/);
});

t.test('keys in one read on the address form: typed on after Enter, or while it is checked, are for the login screen; a refused address drops them', async (t) => {
  let answer: ((p: Probe) => void) | undefined;
  const probe = (): Promise<Probe> => new Promise((resolve) => (answer = resolve));
  const { see, type, frame } = mount(t, { locked: true, probe });
  await see('locked-down mode');
  await type('10.0.0.5\ral'); // the address, Enter and the start of a username, in one read
  await see('checking 10.0.0.5:7777');
  await type('ice\t'); // while it is checked
  answer!({ ok: false, errno: 'ECONNREFUSED' });
  await see('nothing answers at 10.0.0.5:7777');
  t.match(frame(), /IP address: 10\.0\.0\.5\s*$/m, 'what was typed for the login screen is not in the form');
  await type('\x15127.0.0.1\ralice\t'); // Ctrl+U, another address, Enter, a username and Tab
  await see('checking 127.0.0.1:7777');
  await type('pw'); // the password, while it is checked
  answer!({ ok: true, status: { network: 'lab' } as Status });
  await see('log in on network "lab" at 127.0.0.1:7777');
  await see('Password:         ••');
  t.match(frame(), /Username:\s+alice\b/, 'the username typed ahead, in its field');
  t.match(frame(), /› Password:/, 'Tab moved on to the password');
});

t.test('exactly one network found: straight to the login screen', async (t) => {
  const scan = new FakeScan();
  scan.networks = [{ network: 'default', coordinator: '10.0.0.1:7777', host: 'h1.local', nodes: 1, term: 1 }];
  const { see } = mount(t, { scan });
  await see('log in on network "default" at 10.0.0.1:7777');
});

t.test('locked-down mode: only the manual form, which leads to the login screen with a network password field', async (t) => {
  const probe = async (): Promise<Probe> => ({ ok: true, status: { network: '' } as Status });
  const { see, type, press, frame } = mount(t, { locked: true, probe });
  await see('locked-down mode');
  t.notMatch(frame(), /looking for/);
  await press('127.0.0.1', '› IP address: 127.0.0.1');
  await type(ENTER);
  await see('log in on 127.0.0.1:7777');
  await see('Network password:');
});

t.test('log in, chat with a real coordinator: everyone, one, several; history; presence; bell', async (t) => {
  const { url } = await testCoordinator(t);
  const address = url.replace('wss://', '');
  const bob = await peer(t, address, 'bob');
  const carol = await peer(t, address, 'carol');
  bob.send('before alice came');
  await bob.drained();
  const { app, see, type, say, press, frame, bells, exits } = mount(t, { address, user: 'alice' });
  await see('log in on 127.0.0.1');
  await press('pw', 'Password:         ••');
  await type(ENTER);
  await see('wrong username or password');
  await press(DOWN, '› [ ] create a new account');
  await press(' ', '[x] create a new account');
  await press(UP, '› Password:');
  await press('pw', 'Password:         ••');
  await type(ENTER);
  await see('alice · online');
  await see('before alice came', 5_000); // history on login
  await see('online (3)');

  const toBob: string[] = [];
  const toCarol: string[] = [];
  bob.on('message', (m) => toBob.push(m.text));
  carol.on('message', (m) => toCarol.push(m.text));
  await say('hello all');
  await waitFor(() => toBob.includes('hello all') && toCarol.includes('hello all'), 'the broadcast').catch((err: Error) => {
    throw new Error(`${err.message}\n--- last frame ---\n${frame()}`);
  });
  await see('alice (you): hello all');

  await say('/msg bob just you');
  await waitFor(() => toBob.includes('just you'), 'the direct message');

  // Several recipients picked in the users pane.
  await press(ESC, 'Space select');
  await press(DOWN, '›[ ] bob');
  await press(' ', '›[x] bob');
  await press(DOWN, '›[ ] carol');
  await press(' ', '›[x] carol');
  await press(ESC, 'Esc: pick recipients'); // the input has the keys again
  await see('to bob, carol ›');
  await say('you two');
  await waitFor(() => toBob.includes('you two') && toCarol.includes('you two'), 'the message to two');
  t.notOk(toCarol.includes('just you'), 'carol never saw the direct message to bob');

  bob.send('psst', ['alice']);
  await see('bob → alice [direct]: psst');
  await waitFor(() => bells.length > 0, 'the bell');
  const rung = bells.length;
  bob.send('lunch, @alice?');
  await see('bob: lunch, @alice?');
  await waitFor(() => bells.length > rung, 'the bell for a mention');
  bob.send('a broadcast for nobody in particular');
  await see('bob: a broadcast for nobody in particular');
  t.equal(bells.length, rung + 1, 'no bell for a message that mentions nobody');

  await bob.close();
  await see('online (2)');
  await type('/bogus');
  await see('› /bogus');
  // Enter, then the next line at once, before Ink draws again: those keys must not land on the line just sent.
  app.stdin.write(ENTER);
  app.stdin.write('/quit');
  app.stdin.write(ENTER);
  await waitFor(() => exits.length === 1, 'the app to leave');
  t.same(exits, [0]);
  t.ok(app.frames.some((f) => f.includes('unknown command /bogus')), 'the first line was its own command'); // (the screen is gone now)
});

t.test('keys in one read: typed on after Enter at login, after ↑, after Esc into the users pane, and pastes whose end marker is cut between reads', async (t) => {
  const { url } = await testCoordinator(t);
  const address = url.replace('wss://', '');
  const bob = await peer(t, address, 'bob');
  await peer(t, address, 'alice');
  const got: string[] = [];
  const gotTo: string[][] = [];
  bob.on('message', (m) => {
    if (m.from !== 'alice') return;
    got.push(m.text);
    gotTo.push(m.to);
  });
  const { see, type, press } = mount(t, { address, user: 'alice' });
  await see('log in on 127.0.0.1');
  await press('p', 'Password:         •');
  // The rest of the password, Enter, and the first message, all in one read before the chat is on screen.
  await type('w\rfirst words\r');
  await waitFor(() => got.length === 1, 'the line typed while logging in');
  t.same(got, ['first words'], 'kept for the chat, and sent');
  await see('alice · online');
  // ↑ then an edit and Enter in one read: the edit applies to the recalled line.
  await type('\x1b[A!\r');
  await waitFor(() => got.length === 2, 'the recalled line');
  t.equal(got[1], 'first words!');
  // A paste whose end marker comes in two reads: the marker is not text, and the paste ends.
  await type('\x1b[200~pasted', '\x1b[20', '1~\r');
  await waitFor(() => got.length === 3, 'the paste, sent by Enter');
  t.equal(got[2], 'pasted');
  // Cut right after the marker's ESC: that ESC is not the Esc key, and the paste still ends.
  await type('\x1b[200~two\nlines\x1b', '[201~ typed\r');
  await waitFor(() => got.length === 4, 'the second paste, sent by Enter');
  t.equal(got[3], 'two lines typed', 'the newline a space, the marker gone, the paste closed (typed text after it is kept)');
  // Esc, a pick and Enter, then a line, all in one read: the keys after Esc go to the users pane (↓ moves to
  // bob, Space picks him), and those after Enter back to the line, which goes to bob alone.
  await type('\x1b\x1b[B \rjust bob\r');
  await waitFor(() => got.length === 5, 'the line typed after the pick');
  t.same([got[4], gotTo[4]], ['just bob', ['bob']], 'picked in the pane, typed in the line');
});

t.test('keys in one read: Space on "create a new account" then Enter creates it; the first line sent, then ↑, recalls it', async (t) => {
  const { url } = await testCoordinator(t);
  const address = url.replace('wss://', '');
  const bob = await peer(t, address, 'bob');
  const got: string[] = [];
  bob.on('message', (m) => void (m.from === 'dora' && got.push(m.text)));
  const { see, type, press } = mount(t, { address, user: 'dora' });
  await see('log in on 127.0.0.1');
  await press('pw', 'Password:         ••');
  await press(DOWN, '› [ ] create a new account');
  await type(' \r'); // Space and Enter in one read: the account is asked for, not a login
  await see('dora · online');
  // The first line ever sent, Enter, ↑ and an edit, in one read: ↑ finds the line just sent.
  await type('hi\r\x1b[A!\r');
  await waitFor(() => got.length === 2, 'two lines from dora');
  t.same(got, ['hi', 'hi!']);
});

t.test('the chat screen fits the terminal and follows a resize', async (t) => {
  const { url } = await testCoordinator(t);
  const address = url.replace('wss://', '');
  await peer(t, address, 'alice');
  const app = mount(t, { address, user: 'alice', password: 'pw' });
  await app.see('alice · online');
  const rows = app.frame().split('\n');
  t.ok(rows.length <= 23, `at most rows - 1 rows (${rows.length})`);
  t.ok(rows.every((r) => r.length <= 80), 'no row wider than the terminal');
  app.app.rerender(<App deps={{ log, bell: () => undefined }} onExit={() => undefined} size={{ columns: 40, rows: 12 }} address={address} user="alice" password="pw" />);
  await waitFor(() => app.frame().split('\n').length <= 11 && !app.frame().includes('online ('), 'the narrow layout').catch((err: Error) => {
    throw new Error(`${err.message}\n${app.frame()}`);
  });
  t.ok(app.frame().split('\n').every((r) => r.length <= 40));
});

t.test('files: /file to the selected user, with the outcome in the pane; a file received shows where it was saved', async (t) => {
  const { url } = await testCoordinator(t);
  const address = url.replace('wss://', '');
  const dir = tmpDir(t);
  const bob = await peer(t, address, 'bob', true, join(dir, 'bob'));
  await peer(t, address, 'alice');
  const bells: number[] = [];
  const app = mount(t, { address, user: 'alice', password: 'pw', deps: { log, bell: () => bells.push(1), downloadDir: join(dir, 'alice') } });
  const { see, say, press } = app;
  await see('alice · online');
  await see('online (2)');
  const got: ReceivedFile[] = [];
  bob.on('file', (f) => got.push(f));

  const report = join(dir, 'report 2026.txt');
  writeFileSync(report, 'quarterly numbers\n');
  await press(ESC, 'Space select');
  await press(DOWN, '›[ ] bob');
  await press(' ', '›[x] bob');
  await press(ESC, 'to bob ›');
  await say(`/file ${report.replace(/ /g, '\\ ')}`);
  await waitFor(() => got.length === 1, 'bob to have the file');
  t.match(got[0], { from: 'alice', name: 'report 2026.txt', size: 18 });
  t.equal(readFileSync(got[0]!.path, 'utf8'), 'quarterly numbers\n');
  await see('alice (you) → bob [direct]: [file] report 2026.txt'); // the pane wraps the rest
  await see('(18 bytes) sent');

  const notes = join(dir, 'notes.txt');
  writeFileSync(notes, 'see you at 3');
  bob.sendFile(notes, ['alice']);
  await see('bob → alice [direct]: [file] notes.txt (12 bytes)');
  await see('saved to /'); // the path wraps, indented under the text
  await see(join('alice', 'notes.txt'));
  t.equal(readFileSync(join(dir, 'alice', 'notes.txt'), 'utf8'), 'see you at 3');
  t.ok(bells.length > 0, 'a file sent to you by name rings the bell');

  await say('/file /no/such/file.bin');
  await see('no such file: /no/such/file.bin');

  // A file on its way shows a bar until it is over; here its sender stops half way, then leaves.
  const mallory = await loggedIn(url, 'mallory');
  mallory.send(fileChunk(await offerFile(mallory, 'half.bin', 1000, ['alice']), Buffer.alloc(500)));
  await see(/↓ half\.bin from mallory \[.*\] +\d+% /);
  mallory.close();
  await see('half.bin from mallory was not saved: mallory'); // the pane wraps the rest
  await waitFor(() => !app.frame().includes('↓ half.bin'), 'the bar to go');
});
