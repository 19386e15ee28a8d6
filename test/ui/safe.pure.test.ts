import t from 'tap';
import { safe } from '../../src/ui/safe.js';

t.test('nothing from outside is interpreted by the terminal; what is hidden is shown', async (t) => {
  const rows: [string, string, string][] = [
    ['ESC sequences', '\x1b[31mred\x1b[0m', '␛[31mred␛[0m'],
    ['OSC (title, hyperlink)', '\x1b]0;owned\x07', '␛]0;owned␇'],
    ['C0 controls', 'a\x00b\rc\nd\x08e', 'a␀b␍c␊d␈e'],
    ['DEL', 'x\x7fy', 'x␡y'],
    ['C1 controls (8-bit CSI, NEL)', 'a\x9b31mb\x85c', 'a<U+009B>31mb<U+0085>c'],
    ['bidi override', 'user\u202Efdp.exe', 'user<U+202E>fdp.exe'],
    ['bidi isolates', '\u2066x\u2069', '<U+2066>x<U+2069>'],
    ['invisible characters', 'ad\u200Bmin\u2060\uFEFF', 'ad<U+200B>min<U+2060><U+FEFF>'],
    ['joiners stay: a family emoji, a Persian word', '👨\u200D👩\u200D👧 می\u200Cخواهم', '👨\u200D👩\u200D👧 می\u200Cخواهم'],
    ['a tab', 'a\tb', 'a    b'],
    ['plain text, emoji, CJK, combining marks', 'héllo 👍🏽 日本 e\u0301', 'héllo 👍🏽 日本 e\u0301'],
  ];
  for (const [what, input, shown] of rows) t.equal(safe(input), shown, what);
  t.notOk(/[\u0000-\u001f\u007f-\u009f]/.test(safe(String.fromCharCode(...Array.from({ length: 160 }, (_, i) => i)))), 'no control character survives');
});
