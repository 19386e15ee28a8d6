import t from 'tap';
import { mentions } from '../../src/ui/format.js';

t.test('a mention is @name or the bare name as a word, in any case', async (t) => {
  const rows: [string, boolean][] = [
    ['@alice can you look', true],
    ['thanks Alice.', true],
    ['ALICE: ping', true],
    ['(alice)', true],
    ['hi alice, bob', true],
    ['malice aforethought', false],
    ['alice2 is someone else', false],
    ['alice.smith is too', false],
    ['mail alice@example.org', false],
    ['x@alice is an address', false],
    ['nobody here', false],
  ];
  for (const [text, want] of rows) t.equal(mentions(text, 'alice'), want, text);
  t.equal(mentions('hey a.b-c!', 'a.b-c'), true, 'names with dots and dashes');
  t.equal(mentions('anything', ''), false);
});
