import t from 'tap';
import { layoutInput } from '../../src/ui/components/input-line.js';
import { statusText } from '../../src/ui/format.js';

const shown = (r: { before: string; at: string | undefined; after: string }) => `${r.before}${r.at === undefined ? '' : `[${r.at}]`}${r.after}`;

t.test('the input grows to 3 rows, then scrolls inside around the cursor', async (t) => {
  t.same(layoutInput('hello', 5, 10, 3).rows.map(shown), ['hello[ ]']);
  t.same(layoutInput('abcdefghij', 10, 5, 3).rows.map(shown), ['abcde', 'fghij', '[ ]'], 'the cursor at the end of a full row goes on the next');
  const long = 'x'.repeat(3_000);
  const end = layoutInput(long, long.length, 40, 3);
  t.equal(end.rows.length, 3, 'a 3,000-character paste: 3 rows');
  t.equal(end.total, 76);
  t.same(end.rows.slice(1).map(shown), ['x'.repeat(40), '[ ]'], 'the last rows, with the cursor');
  const home = layoutInput(long, 0, 40, 3);
  t.equal(shown(home.rows[0]!), `[x]${'x'.repeat(39)}`, 'Home: the first rows');
  t.same(layoutInput('日本語のテキスト', 0, 6, 3).rows.map(shown), ['[日]本語', 'のテキ', 'スト'], 'wide characters take two columns');
  t.same(layoutInput('👍🏽👍🏽👍🏽', 4, 4, 3).rows.map(shown), ['👍🏽[👍🏽]', '👍🏽'], 'a grapheme is never split');
  t.same(layoutInput('secret', 6, 10, 1, '•').rows.map(shown), ['••••••[ ]'], 'masked');
});

t.test('the status bar drops the least useful parts first and always keeps the connection state', async (t) => {
  const parts = [
    { text: 'default', drop: 1 },
    { text: 'coordinator 10.77.4.2:7777', drop: 5 },
    { text: 'term 12', drop: 6 },
    { text: 'alice', drop: 4 },
    { text: 'reconnecting…', drop: 0 },
  ];
  t.equal(statusText(parts, 80), ' default · coordinator 10.77.4.2:7777 · term 12 · alice · reconnecting…');
  t.equal(statusText(parts, 65), ' default · coordinator 10.77.4.2:7777 · alice · reconnecting…', 'the term goes first');
  t.equal(statusText(parts, 60), ' default · alice · reconnecting…', 'then the address');
  t.equal(statusText(parts, 30), ' default · reconnecting…', 'at 30 columns: the network and the connection state');
  t.equal(statusText(parts, 20), ' reconnecting…');
  // With the network's short code, as the chat screen has it: the code and the state stay down to 30 columns.
  const coded = [...parts.slice(0, 4), { text: 'reconnecting', drop: 0 }, { text: 'K7Q2-M9XD-4TJB', drop: 0 }];
  t.equal(statusText(coded, 100), ' default · coordinator 10.77.4.2:7777 · term 12 · alice · reconnecting · K7Q2-M9XD-4TJB');
  t.equal(statusText(coded, 30), ' reconnecting · K7Q2-M9XD-4TJB', 'at 30 columns: the connection state and the code');
});
