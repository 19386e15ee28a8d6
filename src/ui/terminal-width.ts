import stringWidth from 'string-width';

/**
 * Terminals disagree on the width of some emoji sequences (tmux 3.3 draws 👍🏽 as four columns where
 * kitty draws two). Widths are measured by one library, string-width, the one Ink measures text with
 * (and Ink's screen grid gives every grapheme one or two cells, as string-width does for these); where
 * the terminal draws a kind of sequence otherwise, the text is written in a form all three count alike,
 * and the screen's columns line up. The terminal is asked at start (`probeTerminal`): it draws each
 * sample and reports where the cursor ended.
 */
export const SAMPLES = {
  /** An emoji with a skin tone: one glyph (2 columns), or the emoji and the swatch (4). */
  modifier: '\u{1F44D}\u{1F3FD}',
  /** A ZWJ sequence (a family): one glyph (2), or each person (6). */
  zwj: '\u{1F468}\u200d\u{1F469}\u200d\u{1F467}',
  /** A text character asking for emoji presentation (VS16): an emoji (2), or the plain character (1). */
  vs16: '\u2764\ufe0f',
} as const;
export type Sample = keyof typeof SAMPLES;

/** How text is rewritten for this terminal: the kinds of sequence it draws unlike string-width counts them. */
export interface WidthFit {
  /** Skin tones drawn apart from their emoji. */
  modifier: boolean;
  /** ZWJ sequences drawn as their parts. */
  zwj: boolean;
  /** VS16 ignored: the character keeps its text width. */
  vs16: boolean;
}

export const AS_COUNTED: WidthFit = { modifier: false, zwj: false, vs16: false };

/** The fit for what the terminal drew (columns per sample; a sample it did not report is taken as counted). */
export function fitFor(drawn: Partial<Record<Sample, number>>): WidthFit {
  return {
    modifier: drawn.modifier === 4,
    zwj: drawn.zwj !== undefined && drawn.zwj > stringWidth(SAMPLES.zwj),
    vs16: drawn.vs16 === 1,
  };
}

/**
 * `text` written so that string-width, Ink's grid and this terminal count the same columns: where the
 * terminal draws a ZWJ sequence as its parts, they are shown apart (a space for each joiner); where it
 * draws a skin tone apart from its emoji, the emoji is shown without it (a swatch alone is one grapheme
 * with the character before it, so nothing else counts alike); where it ignores VS16, the character is
 * shown in its text form.
 */
export function fitted(text: string, fit: WidthFit): string {
  let out = text;
  if (fit.zwj) out = out.replace(/(?<=\p{Extended_Pictographic}[\u{1F3FB}-\u{1F3FF}\ufe0f]?)\u200d(?=\p{Extended_Pictographic})/gu, ' ');
  if (fit.modifier) out = out.replace(/(?<=\p{Extended_Pictographic}\ufe0f?)[\u{1F3FB}-\u{1F3FF}]/gu, '');
  if (fit.vs16) out = out.replace(/\ufe0f/g, '');
  return out;
}

interface TerminalIn {
  isTTY?: boolean;
  setRawMode?(on: boolean): unknown;
  on(event: 'readable', f: () => void): unknown;
  off(event: 'readable', f: () => void): unknown;
  read(): Buffer | string | null;
  unshift(chunk: Buffer): void;
}

/**
 * Asks the terminal how wide it draws each sample: each is written at the top left, then a cursor position
 * report is asked for (`CSI 6 n`); the answers (`CSI row ; col R`) say. Whatever else arrives meanwhile
 * (keys typed at once) is put back for the UI. A terminal that does not answer within `timeoutMs` is
 * taken to count as string-width does. Run on the alternate screen, before anything is drawn. Input is
 * read as Ink reads it ('readable', never 'data': a stream once made to flow loses what comes while
 * nobody listens), and the terminal is left in raw mode for Ink.
 */
export async function probeTerminal(input: TerminalIn, output: { write(s: string): unknown }, timeoutMs = 300): Promise<WidthFit> {
  if (input.isTTY !== true || input.setRawMode === undefined) return AS_COUNTED;
  const names = Object.keys(SAMPLES) as Sample[];
  const drawn: Partial<Record<Sample, number>> = {};
  let buffered = '';
  let rest = '';
  input.setRawMode(true);
  await new Promise<void>((done) => {
    const timer = setTimeout(finish, timeoutMs);
    function onReadable(): void {
      let chunk: Buffer | string | null;
      while ((chunk = input.read()) !== null) buffered += typeof chunk === 'string' ? chunk : chunk.toString('latin1');
      let m: RegExpExecArray | null;
      while ((m = /\x1b\[(\d+);(\d+)R/.exec(buffered)) !== null) {
        rest += buffered.slice(0, m.index);
        buffered = buffered.slice(m.index + m[0].length);
        const name = names[Object.keys(drawn).length];
        if (name !== undefined) drawn[name] = Number(m[2]) - 1;
      }
      if (Object.keys(drawn).length === names.length) finish();
    }
    function finish(): void {
      clearTimeout(timer);
      input.off('readable', onReadable);
      done();
    }
    input.on('readable', onReadable);
    output.write(names.map((n) => `\x1b[H${SAMPLES[n]}\x1b[6n`).join('') + '\x1b[H\x1b[2K');
  });
  const left = rest + buffered;
  if (left !== '') input.unshift(Buffer.from(left, 'latin1'));
  return fitFor(drawn);
}
