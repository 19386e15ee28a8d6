import t from 'tap';
import { EMPTY, edit, keysOf, NO_CARRY, pasted, splitInput, type InputCarry, type Key, type Line } from '../../src/ui/line-editor.js';

/** Types raw terminal input into a line, as the chat screen does (submit and screen keys left out). */
const typed = (raw: string, from: Line = EMPTY): Line => keysOf(raw).reduce(edit, from);
/** A line written with `|` where the cursor is. */
const at = (s: string): Line => ({ text: s.replace('|', ''), cursor: s.indexOf('|') });
const show = (l: Line): string => `${l.text.slice(0, l.cursor)}|${l.text.slice(l.cursor)}`;

t.test('every key of a chunk is applied, in order', async (t) => {
  t.equal(show(typed('abc\x7f\x7f\x7f')), '|', 'three Backspaces in one read delete three');
  t.equal(show(typed('s-alpha')), 's-alpha|');
  t.equal(show(typed('hello\x1b[D\x1b[DXY')), 'helXY|lo', 'arrows between letters');
  t.same(keysOf('hi\rthere').map((k) => k.type), ['insert', 'submit', 'insert'], 'text, Enter, text: three keys');
  t.same(keysOf('alice\tpw1\r').map((k) => k.type), ['insert', 'tab', 'insert', 'submit']);
});

t.test('readline keys edit the line instead of typing letters', async (t) => {
  const rows: [string, string, string][] = [
    // [line before, raw keys, line after]
    ['hello wor|ld', '\x01', '|hello world'], // Ctrl+A
    ['|hello world', '\x05', 'hello world|'], // Ctrl+E
    ['hello wor|ld', '\x1b[H', '|hello world'], // Home
    ['hel|lo', '\x1b[F', 'hello|'], // End
    ['hel|lo', '\x1b[1~', '|hello'], // Home (VT220)
    ['hel|lo', '\x1b[4~', 'hello|'], // End (VT220)
    ['hello wor|ld', '\x15', '|ld'], // Ctrl+U
    ['hello wor|ld', '\x0b', 'hello wor|'], // Ctrl+K
    ['say hello wor|ld', '\x17', 'say hello |ld'], // Ctrl+W
    ['a.b-c d|', '\x17', 'a.b-c |'], // Ctrl+W: back to white space
    ['a.b-c d|', '\x1b\x7f', 'a.b-c |'], // Alt+Backspace
    ['see foo.bar|', '\x1b\x7f', 'see foo.|'], // Alt+Backspace: by letters and digits
    ['see foo.bar|', '\x17', 'see |'], // Ctrl+W: to the space
    ['foo| bar.baz', '\x1bd', 'foo|.baz'], // Alt+D
    ['one two three|', '\x1bb', 'one two |three'], // Alt+B
    ['|one two', '\x1bf', 'one| two'], // Alt+F
    ['one two three|', '\x1b[1;5D', 'one two |three'], // Ctrl+Left
    ['|one two', '\x1b[1;5C', 'one| two'], // Ctrl+Right
    ['ab|cd', '\x1b[3~', 'ab|d'], // Delete
    ['ab|cd', '\x7f', 'a|cd'], // Backspace (DEL)
    ['ab|cd', '\b', 'a|cd'], // Backspace (BS)
    ['ab|cd', '\x04', 'ab|d'], // Ctrl+D
    ['ab|cd', '\x02\x02', '|abcd'], // Ctrl+B twice
    ['|', '\x7f\x1b[3~\x1b[D', '|'], // nothing to delete, nowhere to go
  ];
  for (const [before, raw, after] of rows) t.equal(show(typed(raw, at(before))), after, JSON.stringify(raw));
  t.equal(typed('\x15\x01\x17').text, '', 'Ctrl+U, Ctrl+A, Ctrl+W type nothing');
  t.equal(show(keysOf('\x1bb\x1bb').reduce(edit, at('cafe\u0301 lait|'))), '|cafe\u0301 lait', 'a word motion never stops inside a letter and its mark');
  t.same(keysOf('\x1b\x1b[A').map((k) => k.type), ['escape', 'up'], 'Esc then an arrow in one read: both');
  t.same(keysOf('\x1b\r').map((k) => k.type), ['escape', 'submit'], 'Esc then Enter: both');
  t.same(keysOf('a\r\nb').map((k) => k.type), ['insert', 'submit', 'insert'], 'CR LF is one line end');
});

t.test('a grapheme is one step: emoji with skin tones, combining marks, CJK', async (t) => {
  const thumbs = '👍🏽';
  t.equal(show(typed(`a${thumbs}\x7f`)), 'a|', 'one Backspace removes the whole emoji');
  t.equal(show(typed(`e\u0301x\x1b[D\x1b[D`)), '|e\u0301x', 'left over a combining mark is one step');
  t.equal(show(typed('日本語\x1b[D\x7f')), '日|語');
});

t.test('control bytes and unknown sequences never reach the line', async (t) => {
  t.equal(typed('a\x00b\x07c\x1b[99~d\x1b[?25le').text, 'abcde');
  t.same(keysOf('\x1b[200~x\ny\x1b[201~').map((k) => k.type), ['paste-start', 'insert', 'submit', 'insert', 'paste-end']);
  t.equal(pasted('line one\r\nline two\tend\x07'), 'line one line two end', 'a paste becomes one line');
  const escape: Key[] = keysOf('\x1b');
  t.same(escape, [{ type: 'escape' }], 'a lone Esc');
});

t.test('splitInput: an escape sequence cut between two reads waits for its end', async (t) => {
  const split = (raw: string, carry: InputCarry = NO_CARRY): [string, string] => {
    const r = splitInput(carry, raw);
    return [r.complete, r.carry.held];
  };
  t.same(split('pasted text\x1b[20'), ['pasted text', '\x1b[20'], 'the start of a paste end marker is held');
  t.same(split('\x1b['), ['', '\x1b[']);
  t.same(split('abc\x1b[201~'), ['abc\x1b[201~', ''], 'a whole sequence is complete');
  t.same(split('\x1b'), ['\x1b', ''], 'outside a paste, a lone Esc is the Esc key, at once');
  t.same(split('plain'), ['plain', '']);
  const first = splitInput(NO_CARRY, 'x\x1b[20');
  t.same(keysOf(first.complete), [{ type: 'insert', text: 'x' }]);
  const second = splitInput(first.carry, '1~');
  t.same(keysOf(second.complete), [{ type: 'paste-end' }], 'joined with the next read, it is the key it was');
  t.same(second.carry, NO_CARRY);
});

t.test('splitInput: inside a paste, a read that ends right after the ESC of the end marker holds the ESC', async (t) => {
  const a = splitInput(NO_CARRY, '\x1b[200~line one\nline two\x1b');
  t.same(a.complete, '\x1b[200~line one\nline two', 'the paste so far');
  t.same(a.carry, { held: '\x1b', pasting: true });
  const b = splitInput(a.carry, '[201~');
  t.same(keysOf(b.complete), [{ type: 'paste-end' }], 'the end marker whole: the paste closes');
  t.same(b.carry, NO_CARRY);
  // A paste opened by an earlier read.
  const c = splitInput({ held: '', pasting: true }, 'more text\x1b');
  t.same([c.complete, c.carry], ['more text', { held: '\x1b', pasting: true }]);
  // The end marker, then the Esc key in the same read: the paste is closed, so the Esc is a key.
  const d = splitInput(NO_CARRY, '\x1b[200~x\x1b[201~\x1b');
  t.same([d.complete, d.carry], ['\x1b[200~x\x1b[201~\x1b', NO_CARRY]);
  // Split inside the start marker: held, and no paste yet.
  const e = splitInput(NO_CARRY, 'a\x1b[20');
  t.same(e.carry, { held: '\x1b[20', pasting: false });
  const f = splitInput(e.carry, '0~text\x1b');
  t.same([f.complete, f.carry], ['\x1b[200~text', { held: '\x1b', pasting: true }]);
});
