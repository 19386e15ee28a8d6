import t from 'tap';
import { EventEmitter } from 'node:events';
import stringWidth from 'string-width';
import { AS_COUNTED, SAMPLES, fitFor, fitted, probeTerminal } from '../../src/ui/terminal-width.js';

t.test('fitFor: a sequence drawn unlike string-width counts it is rewritten; as counted, nothing is', async (t) => {
  t.same(fitFor({ modifier: 2, zwj: 2, vs16: 2 }), AS_COUNTED, 'a terminal that combines them all (kitty, WezTerm)');
  t.same(fitFor({ modifier: 4, zwj: 2, vs16: 1 }), { modifier: true, zwj: false, vs16: true }, 'tmux 3.3');
  t.same(fitFor({ modifier: 4, zwj: 6, vs16: 1 }), { modifier: true, zwj: true, vs16: true }, 'a terminal that knows no sequences');
  t.same(fitFor({}), AS_COUNTED, 'no answer: as counted');
});

t.test('fitted: the rewritten text is as wide, by string-width, as the terminal draws the original', async (t) => {
  const all = { modifier: true, zwj: true, vs16: true };
  t.equal(fitted('ok 👍🏽!', { ...AS_COUNTED, modifier: true }), 'ok 👍!', 'the skin tone goes: the emoji stays');
  t.equal(stringWidth(fitted(SAMPLES.modifier, all)), 2);
  t.equal(fitted(SAMPLES.zwj, { ...AS_COUNTED, zwj: true }), '👨 👩 👧', 'the parts of a ZWJ sequence apart');
  t.equal(stringWidth(fitted(SAMPLES.zwj, all)), 8, 'each person two columns and a space between');
  t.equal(fitted('I ❤️ it', { ...AS_COUNTED, vs16: true }), 'I ❤ it');
  t.equal(stringWidth(fitted(SAMPLES.vs16, all)), 1);
  t.equal(fitted('漢字 café\u0301 ñ\u0303 a\u200db', all), '漢字 café\u0301 ñ\u0303 a\u200db', 'CJK, combining marks and joiners in words are left alone');
  t.equal(fitted('👍🏽', AS_COUNTED), '👍🏽');
});

class FakeTty extends EventEmitter {
  isTTY = true;
  raw: boolean[] = [];
  back: Buffer[] = [];
  queue: Buffer[] = [];
  setRawMode(on: boolean) { this.raw.push(on); }
  read(): Buffer | null { return this.queue.shift() ?? null; }
  unshift(b: Buffer) { this.back.push(b); }
  feed(s: string) {
    this.queue.push(Buffer.from(s, 'latin1'));
    this.emit('readable');
  }
}

t.test('probeTerminal: reads the cursor reports, gives back keys typed meanwhile, and gives up on a silent terminal', async (t) => {
  const tty = new FakeTty();
  const written: string[] = [];
  const answer = (s: string) => setImmediate(() => tty.feed(s));
  const out = { write: (s: string) => { written.push(s); answer('x\x1b[1;5R\x1b[1;3Ry'); answer('\x1b[1;2R'); return true; } };
  t.same(await probeTerminal(tty, out, 2_000), { modifier: true, zwj: false, vs16: true }, 'the tmux 3.3 answers');
  t.match(written.join(''), /\x1b\[H👍🏽\x1b\[6n/, 'each sample is drawn at the top left, then the cursor asked for');
  t.equal(Buffer.concat(tty.back).toString(), 'xy', 'keys typed during the probe are given back');
  t.same(tty.raw, [true], 'left in raw mode for Ink');
  t.equal(tty.listenerCount('readable'), 0, 'and its listener gone, so what comes next waits in the stream for Ink');

  const silent = new FakeTty();
  const started = Date.now();
  t.same(await probeTerminal(silent, { write: () => true }, 100), AS_COUNTED, 'no answer: widths as counted');
  t.ok(Date.now() - started < 2_000, 'within its bound');
  t.same(await probeTerminal(Object.assign(new FakeTty(), { isTTY: false }), { write: () => true }), AS_COUNTED, 'not a terminal: not asked');
});
