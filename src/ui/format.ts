import chalk from 'chalk';
import wrapAnsi from 'wrap-ansi';
import stringWidth from 'string-width';
import { formatBytes } from '../protocol/units.js';
import type { Line, Outgoing, Transfer } from './state.js';
import { safe } from './safe.js';
import { mentions } from '../core/mentions.js';

export { mentions };

/**
 * Colours can be turned off (`NO_COLOR`, https://no-color.org): then no colour is used, but bold, dim and
 * inverse stay (they are not colour, and the input's cursor is an inverse cell).
 */
let colourOn = true;
export function setColour(on: boolean): void {
  colourOn = on;
}
type Hue = UserColour | 'red' | 'yellowBright';
/** `text` in colour `c`, when colours are on. */
export function hue(c: Hue, text: string): string {
  return colourOn ? chalk[c](text) : text;
}
/** Ink props for colour `c` (nothing when colours are off or `c` is undefined). */
export function tint(c: string | undefined): { color?: string } {
  return colourOn && c !== undefined ? { color: c } : {};
}

/** Sender colours: distinct on dark and light terminals; a user keeps theirs (a hash of the name). */
const PALETTE = ['cyan', 'green', 'yellow', 'magenta', 'blue', 'red', 'cyanBright', 'greenBright', 'yellowBright', 'magentaBright'] as const;
export type UserColour = (typeof PALETTE)[number];

export function colourFor(user: string): UserColour {
  let h = 0;
  for (const ch of user.toLowerCase()) h = (Math.imul(h, 31) + ch.codePointAt(0)!) >>> 0;
  return PALETTE[h % PALETTE.length]!;
}

export function clock(ts: number): string {
  const d = new Date(ts);
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
}

/** Who a message goes to, as the input prompt shows it. */
export function recipientsLabel(to: readonly string[]): string {
  return to.length === 0 ? 'everyone' : safe(to.join(', '));
}

/** One message or notice as terminal rows of at most `width` columns (ANSI-coloured). */
export function renderLine(line: Line, me: string, width: number): string[] {
  const time = `${chalk.dim(clock(line.ts))} `;
  let head: string;
  if (line.kind === 'notice') head = `${line.level === 'error' ? hue('red', '!') : chalk.dim('*')} `;
  else {
    const from = chalk.bold(hue(colourFor(line.from), safe(line.from)));
    const own = line.from === me ? chalk.dim(' (you)') : '';
    const room = line.kind === 'message' ? line.room : undefined;
    const to = room !== undefined ? chalk.dim(` → #${safe(room)}`) : line.to.length === 0 ? '' : chalk.dim(` → ${safe(line.to.join(', '))}`);
    const dm = room === undefined && line.to.length > 0 ? hue('yellow', ' [direct]') : '';
    head = `${from}${own}${to}${dm}: `;
  }
  let body: string;
  if (line.kind === 'file') {
    const what = `${hue('cyan', '[file]')} ${chalk.bold(safe(line.name))} (${formatBytes(line.size)})`;
    body = line.path === undefined ? `${what} sent` : `${what} saved to ${safe(line.path)}`;
  } else if (line.kind === 'notice') body = line.level === 'error' ? hue('red', safe(line.text)) : safe(line.text);
  else body = line.from !== me && mentions(line.text, me) ? chalk.bold(hue('yellowBright', safe(line.text))) : safe(line.text);
  return hanging(time, head, body, width);
}

/** Columns of `HH:MM ` at the start of every row: the least a wrapped row is indented. */
const TIME_COLUMNS = 6;

/**
 * `lead` (the time), `head` (who) and `body`, wrapped to `width`, the rows after the first indented under the
 * start of the text (as irssi and weechat do); under the name instead when the head takes more than half the
 * width.
 */
export function hanging(lead: string, head: string, body: string, width: number): string[] {
  const w = Math.max(1, width);
  const leadWidth = stringWidth(lead);
  const headWidth = leadWidth + stringWidth(head);
  const [first, text, indent] = headWidth <= w / 2 ? [lead + head, body, headWidth] : [lead, head + body, Math.min(leadWidth, Math.floor(w / 2))];
  return rows(text, w - indent).map((r, i) => (i === 0 ? first + r : ' '.repeat(indent) + r.replace(/^ /, '')));
}

/** The local day of `ts`, as a key: lines of one day share it. */
export function dayOf(ts: number): string {
  const d = new Date(ts);
  return `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`;
}

/** A rule across the pane with `label` in it: `── Wednesday 2 December 2026 ──`. */
export function rule(label: string, width: number): string {
  const text = `── ${label} `;
  return chalk.dim(text + '─'.repeat(Math.max(0, width - stringWidth(text))));
}

/** The date line shown when the day changes between two lines (and above the first). */
export function dateLine(ts: number, width: number): string {
  const d = new Date(ts);
  return rule(d.toLocaleDateString('en-GB', { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' }), width);
}

/**
 * Every line of the pane as rows: a date line where the day changes, and a marker above the first unread
 * message (`unread`, a message id) when there is one.
 */
export function renderLines(lines: readonly Line[], me: string, width: number, unread: string | undefined): string[] {
  const out: string[] = [];
  let day = '';
  for (const line of lines) {
    const d = dayOf(line.ts);
    if (d !== day) {
      out.push(dateLine(line.ts, width));
      day = d;
    }
    if (unread !== undefined && line.kind !== 'notice' && line.id === unread) out.push(hue('red', rule('new messages', width)));
    for (const r of cachedRows(line, me, width)) out.push(r);
  }
  return out;
}

/**
 * A line's rows, wrapped once: lines are immutable, so each new message wraps only itself, not the 2,000
 * before it (wrapping is most of a render's time and garbage).
 */
const wrapped = new WeakMap<Line, { me: string; width: number; colour: boolean; rows: string[] }>();
function cachedRows(line: Line, me: string, width: number): string[] {
  const hit = wrapped.get(line);
  if (hit !== undefined && hit.me === me && hit.width === width && hit.colour === colourOn) return hit.rows;
  const rows = renderLine(line, me, width);
  wrapped.set(line, { me, width, colour: colourOn, rows });
  return rows;
}

/** `12.5 MiB of 40 MiB`, or only the bytes so far while the size is unknown. */
function progressText(t: Transfer): string {
  return t.size === 0 ? formatBytes(t.done) : `${formatBytes(t.done)} of ${formatBytes(t.size)}`;
}

/** One row for a file on its way: direction, name, peer, a bar and the bytes so far. */
export function renderTransfer(t: Transfer, width: number): string {
  const arrow = t.direction === 'out' ? hue('green', '↑') : hue('cyan', '↓');
  const peer = t.direction === 'out' ? `to ${recipientsLabel(t.peer)}` : `from ${safe(t.peer.join(', '))}`;
  const pct = t.size === 0 ? (t.direction === 'in' ? 100 : 0) : Math.floor((t.done / t.size) * 100);
  const bar = 20;
  const filled = Math.round((pct / 100) * bar);
  const text = `${arrow} ${safe(t.name)} ${chalk.dim(peer)} [${'█'.repeat(filled)}${chalk.dim('░'.repeat(bar - filled))}] ${String(pct).padStart(3)}% ${chalk.dim(progressText(t))}`;
  return rows(text, width)[0]!;
}

export function renderOutgoing(o: Outgoing, width: number): string[] {
  const to = o.to.length === 0 ? '' : ` → ${safe(o.to.join(', '))}`;
  return hanging(chalk.dim('--:-- '), chalk.dim(`sending${to}: `), chalk.dim(safe(o.text)), width);
}

function rows(text: string, width: number): string[] {
  return wrapAnsi(text, Math.max(1, width), { hard: true, trim: false }).split('\n');
}

/** One part of the status bar; parts with a higher `drop` go first when the bar is too narrow. */
export interface StatusPart {
  text: string;
  drop: number;
}

/**
 * The status bar's text for `columns`: every part if it fits; else the least useful parts go first (the
 * term, then the coordinator's address, the user, the unsent count, the network), and the connection
 * state stays whatever the width.
 */
export function statusText(parts: readonly StatusPart[], columns: number): string {
  const kept = [...parts];
  const render = () => ` ${kept.map((p) => p.text).join(' · ')}`;
  while (stringWidth(render()) > columns && kept.some((p) => p.drop > 0)) {
    const worst = kept.reduce((a, b) => (b.drop > a.drop ? b : a));
    kept.splice(kept.indexOf(worst), 1);
  }
  return render();
}
