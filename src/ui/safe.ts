import { AS_COUNTED, fitted, type WidthFit } from './terminal-width.js';

/**
 * Every string from outside (message text, names, file names, network and
 * host names, addresses, error messages, TXT values) goes through `safe`
 * before it reaches the terminal: nothing in it is interpreted, and what
 * would be invisible or would reorder the line is shown for what it is.
 * C0 controls and DEL become their Unicode control pictures (␛ for ESC);
 * C1 controls, bidirectional overrides and isolates, and invisible
 * characters (zero-width space, word joiner, BOM) become `<U+XXXX>`; the
 * joiners emoji and scripts need stay. A tab becomes spaces.
 */
// Joiners (U+200C, U+200D) and directional marks stay: emoji sequences and many scripts need them. Overrides
// and isolates, which reorder what follows, and characters that are only invisible are shown.
const HIDDEN = /[\u0080-\u009f\u200b\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]/gu;

export function safe(text: string): string {
  const shown = text
    .replace(/\t/g, '    ')
    .replace(/[\u0000-\u001f\u007f]/g, (c) => (c === '\u007f' ? '\u2421' : String.fromCharCode(0x2400 + c.charCodeAt(0))))
    .replace(HIDDEN, (c) => `<U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}>`);
  return fit === AS_COUNTED ? shown : fitted(shown, fit);
}

let fit: WidthFit = AS_COUNTED;
/** What this terminal draws unlike string-width counts (from `probeTerminal` at start): safe text is fitted to it. */
export function setWidthFit(f: WidthFit): void {
  fit = f.modifier || f.zwj || f.vs16 ? f : AS_COUNTED;
}
