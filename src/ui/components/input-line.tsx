import { Box, Text } from 'ink';
import stringWidth from 'string-width';
import { safe } from '../safe.js';

const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/** One row of the input as drawn: the text before the cursor cell, the cell, and after it. */
export interface InputRow {
  before: string;
  /** The cell under the cursor (a space at the end of the line), or undefined on rows without it. */
  at: string | undefined;
  after: string;
}

/**
 * Lays `text` out in rows of `width` columns (graphemes never split, wide
 * characters counted as two) and keeps the `maxRows` rows around the cursor:
 * a long line or a paste scrolls inside the input instead of taking the screen.
 */
export function layoutInput(text: string, caret: number, width: number, maxRows: number, mask?: string): { rows: InputRow[]; total: number } {
  const w = Math.max(1, width);
  const cells = [...segmenter.segment(text)].map((s) => ({ index: s.index, shown: mask === undefined ? safe(s.segment) : mask })) // pasted controls and overrides shown, not obeyed;
  const rows: { start: number; end: number }[] = []; // indexes into cells; the cursor cell at the end counts too
  let start = 0;
  let used = 0;
  for (let i = 0; i <= cells.length; i++) {
    const cw = i < cells.length ? Math.max(1, stringWidth(cells[i]!.shown)) : 1; // the end: room for the cursor
    if (used + cw > w && i > start) {
      rows.push({ start, end: i });
      start = i;
      used = 0;
    }
    used += cw;
  }
  rows.push({ start, end: cells.length + 1 });
  const caretCell = Math.max(0, cells.findIndex((c) => c.index >= caret));
  const at = caret >= text.length ? cells.length : caretCell;
  const caretRow = Math.max(0, rows.findIndex((r) => at >= r.start && at < r.end));
  const first = Math.max(0, Math.min(caretRow - maxRows + 1, rows.length - maxRows));
  const shown = rows.slice(first, first + Math.max(1, maxRows));
  const join = (from: number, to: number) => cells.slice(from, to).map((c) => c.shown).join('');
  return {
    total: rows.length,
    rows: shown.map((r) => {
      const end = Math.min(r.end, cells.length);
      if (at < r.start || at >= r.end) return { before: join(r.start, end), at: undefined, after: '' };
      return { before: join(r.start, at), at: at < cells.length ? cells[at]!.shown : ' ', after: join(at + 1, end) };
    }),
  };
}

interface Props {
  readonly text: string;
  readonly caret: number;
  readonly focus: boolean;
  readonly placeholder?: string;
  /** Shown instead of each character (passwords). */
  readonly mask?: string;
  /** Columns for the text, and at most this many rows (the rest scrolls); one row, unwrapped, when absent. */
  readonly width?: number;
  readonly maxRows?: number;
}

/** A line being typed, with the cursor drawn as an inverse cell (the terminal's own cursor stays hidden). */
export function InputLine({ text, caret, focus, placeholder = '', mask, width = Number.MAX_SAFE_INTEGER, maxRows = 1 }: Props) {
  if (text === '') {
    return (
      <Text wrap="truncate">
        {focus ? <Text inverse>{placeholder.slice(0, 1) || ' '}</Text> : placeholder.slice(0, 1)}
        <Text dimColor>{placeholder.slice(1)}</Text>
      </Text>
    );
  }
  const { rows } = layoutInput(text, caret, width, maxRows, mask);
  return (
    <Box flexDirection="column">
      {rows.map((r, i) => (
        <Text key={i} wrap="truncate">
          {r.before}
          {r.at === undefined ? '' : focus ? <Text inverse>{r.at}</Text> : r.at}
          {r.after}
        </Text>
      ))}
    </Box>
  );
}
