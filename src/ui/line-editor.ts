/**
 * The input line as a pure editing model: a text, a cursor, and the keys
 * that change them (readline's, as bash and irssi have them). Every key of
 * every chunk the terminal sends is applied, in order: `keysOf` turns raw
 * terminal input (one keypress, or a run of plain characters and control
 * bytes read together) into keys, `edit` applies one. No I/O, no React.
 */

export interface Line {
  readonly text: string;
  /** A UTF-16 offset into `text`, always at a grapheme boundary. */
  readonly cursor: number;
}

export type Key =
  | { type: 'insert'; text: string }
  | { type: 'backspace' | 'delete' | 'left' | 'right' | 'home' | 'end' | 'word-left' | 'word-right' }
  /** `kill-word-back`: to the previous white space (Ctrl+W); `kill-word-left`: by letters and digits (Alt+Backspace). */
  | { type: 'kill-start' | 'kill-end' | 'kill-word-back' | 'kill-word-left' | 'kill-word-forward' }
  /** Keys the line does not change itself; the screen acts on them. */
  | { type: 'submit' | 'tab' | 'back-tab' | 'up' | 'down' | 'page-up' | 'page-down' | 'escape' | 'space' }
  | { type: 'paste-start' | 'paste-end' }
  /** The terminal window gained or lost focus (reported once focus reporting, `CSI ? 1004 h`, is on). */
  | { type: 'focus-in' | 'focus-out' };

export const EMPTY: Line = { text: '', cursor: 0 };

const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/** Offsets of the grapheme boundaries of `text` (0 and its length included). */
function boundaries(text: string): number[] {
  const out = [0];
  for (const s of segmenter.segment(text)) if (s.index > 0) out.push(s.index);
  if (text.length > 0) out.push(text.length);
  return out;
}

function prevBoundary(text: string, at: number): number {
  let best = 0;
  for (const b of boundaries(text)) if (b < at) best = b;
  return best;
}

function nextBoundary(text: string, at: number): number {
  for (const b of boundaries(text)) if (b > at) return b;
  return text.length;
}

const isWordChar = (ch: string): boolean => /[\p{L}\p{M}\p{N}_]/u.test(ch); // marks belong to their letter

/** Start of the word before `at` (readline's backward-word: skip non-word characters, then word characters). */
function wordLeft(text: string, at: number): number {
  let i = at;
  while (i > 0 && !isWordChar(text[i - 1]!)) i--;
  while (i > 0 && isWordChar(text[i - 1]!)) i--;
  return i;
}

function wordRight(text: string, at: number): number {
  let i = at;
  while (i < text.length && !isWordChar(text[i]!)) i++;
  while (i < text.length && isWordChar(text[i]!)) i++;
  return i;
}

/** Start of the whitespace-delimited word before `at` (readline's Ctrl+W, unix-word-rubout). */
function spaceWordLeft(text: string, at: number): number {
  let i = at;
  while (i > 0 && /\s/.test(text[i - 1]!)) i--;
  while (i > 0 && !/\s/.test(text[i - 1]!)) i--;
  return i;
}

/** Applies one key; keys the line does not handle leave it as it is. */
export function edit(line: Line, key: Key): Line {
  const { text, cursor } = line;
  const cut = (from: number, to: number, at: number): Line => ({ text: text.slice(0, from) + text.slice(to), cursor: at });
  switch (key.type) {
    case 'insert':
      return { text: text.slice(0, cursor) + key.text + text.slice(cursor), cursor: cursor + key.text.length };
    case 'space':
      return edit(line, { type: 'insert', text: ' ' });
    case 'backspace': {
      const from = prevBoundary(text, cursor);
      return cut(from, cursor, from);
    }
    case 'delete':
      return cut(cursor, nextBoundary(text, cursor), cursor);
    case 'left':
      return { text, cursor: prevBoundary(text, cursor) };
    case 'right':
      return { text, cursor: nextBoundary(text, cursor) };
    case 'home':
      return { text, cursor: 0 };
    case 'end':
      return { text, cursor: text.length };
    case 'word-left':
      return { text, cursor: wordLeft(text, cursor) };
    case 'word-right':
      return { text, cursor: wordRight(text, cursor) };
    case 'kill-start':
      return cut(0, cursor, 0);
    case 'kill-end':
      return cut(cursor, text.length, cursor);
    case 'kill-word-back': {
      const from = spaceWordLeft(text, cursor);
      return cut(from, cursor, from);
    }
    case 'kill-word-left': {
      const from = wordLeft(text, cursor);
      return cut(from, cursor, from);
    }
    case 'kill-word-forward':
      return cut(cursor, wordRight(text, cursor), cursor);
    default:
      return line;
  }
}

/** Escape sequences (after ESC) and what they mean; xterm, VT220 and rxvt forms. */
const SEQUENCES: Readonly<Record<string, Key['type']>> = {
  '[A': 'up', '[B': 'down', '[C': 'right', '[D': 'left', OA: 'up', OB: 'down', OC: 'right', OD: 'left',
  '[H': 'home', '[F': 'end', OH: 'home', OF: 'end', '[1~': 'home', '[4~': 'end', '[7~': 'home', '[8~': 'end',
  '[3~': 'delete', '[5~': 'page-up', '[6~': 'page-down',
  '[1;5D': 'word-left', '[1;5C': 'word-right', '[1;3D': 'word-left', '[1;3C': 'word-right', Od: 'word-left', Oc: 'word-right',
  '[3;5~': 'kill-word-forward', '[Z': 'back-tab', '[200~': 'paste-start', '[201~': 'paste-end',
  '[I': 'focus-in', '[O': 'focus-out',
  b: 'word-left', f: 'word-right', d: 'kill-word-forward', '\x7f': 'kill-word-left', '\b': 'kill-word-left',
};

/** Control bytes and what they mean (Ctrl+letter as readline binds it). */
const CONTROLS: Readonly<Record<string, Key['type']>> = {
  '\r': 'submit', '\n': 'submit', '\t': 'tab', '\x7f': 'backspace', '\b': 'backspace',
  '\x01': 'home', '\x05': 'end', '\x02': 'left', '\x06': 'right', '\x04': 'delete',
  '\x15': 'kill-start', '\x0b': 'kill-end', '\x17': 'kill-word-back',
};

/**
 * The keys in raw terminal input: one escape sequence, or any run of
 * characters and control bytes (a fast typist's or a paste's chunk).
 * Other control bytes are dropped: they never reach the line.
 */
export function keysOf(raw: string): Key[] {
  const keys: Key[] = [];
  let plain = '';
  const flush = () => {
    if (plain !== '') keys.push({ type: 'insert', text: plain });
    plain = '';
  };
  let i = 0;
  while (i < raw.length) {
    const ch = raw[i]!;
    if (ch === '\x1b') {
      flush();
      const rest = raw.slice(i + 1);
      const m = /^(\[[0-?]*[ -/]*[@-~]|O[\s\S]|[\s\S])/.exec(rest); // CSI (ECMA-48), SS3, or Alt+key
      if (m === null || rest[0] === '\x1b' || /[\x00-\x1f]/.test(rest[0]!)) {
        // A lone Esc, or Esc before another Esc or a control key: Esc, then that key on its own.
        keys.push({ type: 'escape' });
        i++;
        continue;
      }
      const type = SEQUENCES[m[1]!];
      if (type !== undefined) keys.push({ type } as Key);
      else if (m[1]!.length === 1 && !m[1]!.startsWith('[')) keys.push({ type: 'escape' });
      i += 1 + m[1]!.length;
      continue;
    }
    if (ch === '\r' && raw[i + 1] === '\n') i++; // CR LF is one line end
    const control = CONTROLS[ch];
    if (control !== undefined) {
      flush();
      keys.push({ type: control } as Key);
    } else if (ch === ' ') {
      plain += ch;
    } else if (!/[\p{Cc}]/u.test(ch)) {
      plain += ch;
    }
    i++;
  }
  flush();
  return keys;
}

/** What raw input holds back between reads: an unfinished escape sequence, and whether a paste is open. */
export interface InputCarry {
  held: string;
  pasting: boolean;
}

export const NO_CARRY: InputCarry = { held: '', pasting: false };

/**
 * Splits the held input and a new read into what is complete now and what waits for the next read: an
 * escape sequence cut in the middle (`ESC [ 2 0` of a paste's `ESC [ 2 0 1 ~`) waits for its end. A
 * lone ESC at the end is the Esc key, at once, except inside a paste: there it is the start of the end
 * marker, cut right after its first byte, and waits too. Whoever holds input for the next read delivers
 * it anyway if none comes soon (an Esc key pressed mid-paste, a terminal that never finishes).
 */
export function splitInput(carry: InputCarry, raw: string): { complete: string; carry: InputCarry } {
  const all = carry.held + raw;
  const start = all.lastIndexOf('\x1b[200~');
  const end = all.lastIndexOf('\x1b[201~');
  const pasting = start > end ? true : end > start ? false : carry.pasting;
  const m = (pasting ? /\x1b(?:\[[0-?]{0,16}[ -/]{0,4})?$/ : /\x1b\[[0-?]{0,16}[ -/]{0,4}$/).exec(all);
  if (m === null) return { complete: all, carry: { held: '', pasting } };
  return { complete: all.slice(0, m.index), carry: { held: m[0], pasting } };
}

/**
 * What a bracketed paste inserts: its text on one line (line ends and tabs
 * become spaces, other control characters are dropped), so a pasted
 * paragraph is one message, sent when the user presses Enter.
 */
export function pasted(text: string): string {
  return text.replace(/\r\n|[\r\n\t]/g, ' ').replace(/\p{Cc}/gu, '');
}
