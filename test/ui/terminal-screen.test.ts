import t from 'tap';
import { join } from 'node:path';
import { inPrivateNetwork } from '../helpers/netns.js';
import { terminals } from '../helpers/tmux.js';

/**
 * What a real terminal (tmux, see helpers/tmux.ts) shows: no colour under NO_COLOR, and wide and combining
 * characters that leave every row where it belongs.
 */
if (inPrivateNetwork(import.meta.url)) main();

function main(): void {
  const term = terminals(t);
  if (term === undefined) return;
  const { tmux, network, session } = term;

  t.test('NO_COLOR: no colour anywhere on the screen, the cursor still shown (inverse is not colour)', async (t) => {
    const { root, address, bob } = await network(t);
    const { shows } = session(t, 'nocolor', '-u FORCE_COLOR NO_COLOR=1 LANCHAT_PASSWORD=alice-pw', `--connect ${address} --user alice --data-dir ${join(root, 'ui')}`);
    await shows('online (2)');
    bob!.write({ type: 'send', text: 'in plain text, @alice', to: ['alice'] });
    await shows('in plain text, @alice');
    const styled = tmux('capture-pane', '-p', '-e', '-t', 'nocolor');
    t.notMatch(styled, /\x1b\[(?:[0-9;]*;)?(?:3[0-7]|9[0-7]|38;[0-9;]+|4[0-7]|10[0-7])m/, 'no colour (39 and 49, the defaults, are not colour)');
    t.match(styled, /\x1b\[(?:[0-9;]*;)?7m/, 'inverse (the status bar, the cursor) stays');
  });

  // Emoji with skin tones, a ZWJ family, VS16, CJK and combining marks: tmux 3.3 draws some of them wider or
  // narrower than string-width counts them. The UI asks the terminal at start, so the columns still line up:
  // the status bar stays on the first row, the prompt on the last, the users pane beside every row.
  const WIDE = 'tones 👍🏽👋🏿 family 👨‍👩‍👧 heart ❤️ 漢字テスト café́ ñ̃ ';
  for (const size of [{ columns: 80, rows: 24 }, { columns: 40, rows: 15 }]) {
    t.test(`wide and combining characters at ${size.columns}×${size.rows}: every row where it belongs`, async (t) => {
      const { root, address, bob } = await network(t);
      const name = `wide${size.columns}`;
      const { view, shows } = session(t, name, 'LANCHAT_PASSWORD=alice-pw', `--connect ${address} --user alice --data-dir ${join(root, 'ui')}`, true, size);
      await shows(size.columns >= 50 ? 'alice · online' : ' · online'); // at 40 columns the name gives way to the network's code
      await shows(size.columns >= 50 ? 'online (2)' : 'online');
      bob!.write({ type: 'send', text: WIDE.repeat(4) + 'END' });
      await shows('END');
      const rows = view().split('\n').slice(0, size.rows);
      t.match(rows[0], size.columns >= 50 ? /alice · online/ : / · online/, 'the status bar is on the first row');
      t.match(rows[size.rows - 2], /^to everyone ›/, 'the prompt is on the last row but the spare one');
      const message = rows.filter((r) => /tones|family|heart|漢字|END/.test(r));
      t.ok(message.length >= 3, 'the message wraps over several rows');
      t.ok(message.slice(1).every((r) => r.startsWith('           ')), 'each wrapped row is indented under the text');
      if (size.columns >= 50) {
        const pane = rows.slice(1, size.rows - 2);
        t.ok(pane.every((r) => r.includes('│')), 'the users pane border is on every row');
        t.same(pane.map((r) => r.slice(r.lastIndexOf('│') + 1).trim()).filter((x) => x !== ''), ['online (2)', '[ ] alice (you)', '[ ] bob', 'Esc: pick recipients']);
      }
    });
  }
}
