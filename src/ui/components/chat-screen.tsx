import { Box, Text } from 'ink';
import stringWidth from 'string-width';
import { useLayoutEffect, useMemo, useRef, type Dispatch } from 'react';
import { completion, type Action, type UiState } from '../state.js';
import { EMPTY, edit, pasted, type Key, type Line } from '../line-editor.js';
import { useRawKeys } from '../hooks/use-raw-keys.js';
import { InputLine, layoutInput } from './input-line.js';
import { colourFor, recipientsLabel, renderLines, renderOutgoing, renderTransfer, statusText, tint } from '../format.js';
import { safe } from '../safe.js';

interface Props {
  readonly state: UiState;
  /** The state as of the last dispatch, ahead of `state` (which is as last rendered). */
  readonly latest: () => UiState;
  readonly dispatch: Dispatch<Action>;
  readonly columns: number;
  readonly rows: number;
  readonly onSubmit: (line: string) => void;
  /** Keys typed while logging in, for the input line (taken on the first render). */
  readonly typeahead?: Key[];
}

const USERS_WIDTH = 22; // columns of the users pane, its border included
const NARROW = 50; // below this width the users pane is hidden (/who still lists them)
const MAX_TRANSFER_ROWS = 3; // progress bars shown at once; more are summed up in one row
const MAX_INPUT_ROWS = 3; // the input grows to this many rows, then scrolls inside

/** Status bar, message pane, users pane and input line; at most `rows - 1` rows high. */
export function ChatScreen({ state, latest, dispatch, columns, rows, onSubmit, typeahead }: Props) {
  const c = state.chat;
  // The line being edited, ahead of the state: every key of a chunk applies to what the keys before it made,
  // before any re-render. The state catches up at the end of each chunk; it replaces the line only when
  // something else did (recall, a send), which bumps `inputEpoch` (below, with the keys held back).
  const line = useRef<Line>({ text: c.input, cursor: c.caret });
  const pasting = useRef(false);
  const prompt = `to ${recipientsLabel(c.selected)} › `;
  const placeholder = c.lines.length === 0 ? 'type a message, /help for commands' : '';
  // A long input line wraps; the message pane gives up the rows it needs.
  // The input grows to at most 3 rows; a longer line (a paste) scrolls inside it.
  const inputWidth = Math.max(1, columns - stringWidth(prompt));
  const maxInputRows = Math.min(MAX_INPUT_ROWS, Math.max(1, rows - 5));
  const inputRows = c.input === '' ? 1 : Math.min(maxInputRows, layoutInput(c.input, c.caret, inputWidth, maxInputRows).total);
  const transfers = c.transfers.length <= MAX_TRANSFER_ROWS ? c.transfers.map((x) => renderTransfer(x, columns)) : [...c.transfers.slice(0, MAX_TRANSFER_ROWS - 1).map((x) => renderTransfer(x, columns)), `  … and ${c.transfers.length - MAX_TRANSFER_ROWS + 1} more files on their way`];
  const height = Math.max(3, rows - 2 - inputRows - transfers.length); // status bar + progress bars + input rows + one spare row
  const showUsers = columns >= NARROW;
  const paneWidth = showUsers ? columns - USERS_WIDTH : columns;
  // Wrapping every line is the costly part of a render: only when the lines or the width change, not per key.
  const all = useMemo(
    () => [...renderLines(c.lines, c.user, paneWidth, c.unread), ...c.outbox.flatMap((o) => renderOutgoing(o, paneWidth))],
    [c.lines, c.outbox, c.user, paneWidth, c.unread],
  );
  const maxScroll = Math.max(0, all.length - height);
  const scroll = Math.min(c.scroll, maxScroll);
  const page = Math.max(1, height - 1);

  // Keys come raw, as the terminal sent them: every one is applied, in order. Which pane has them is read as of
  // the last key (Esc may have moved them in this read). Keys after ↑ or ↓ in the same read wait for the
  // recalled line to be rendered, then apply to it.
  const pending = useRef<Key[]>([]);
  const held = useRef(false);
  if (typeahead !== undefined && typeahead.length > 0) pending.current.push(...typeahead.splice(0));
  const onKeys = (keys: readonly Key[]): void => {
    if (held.current) return void pending.current.push(...keys); // a recalled line is on its way: after it
    const before = line.current;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      if (key.type === 'paste-start' || key.type === 'paste-end') {
        pasting.current = key.type === 'paste-start';
        continue;
      }
      if (pasting.current) {
        // A paste is text, whatever it holds: one line, sent when the user presses Enter.
        if (key.type === 'insert') line.current = edit(line.current, { type: 'insert', text: pasted(key.text) });
        else if (key.type === 'submit' || key.type === 'tab' || key.type === 'space') line.current = edit(line.current, { type: 'insert', text: ' ' });
        continue;
      }
      if (key.type === 'page-up') dispatch({ type: 'scroll', rows: page, max: maxScroll });
      else if (key.type === 'page-down') dispatch({ type: 'scroll', rows: -page, max: maxScroll });
      else if (latest().chat.focus === 'users') {
        if (key.type === 'up') dispatch({ type: 'users:move', delta: -1 });
        else if (key.type === 'down') dispatch({ type: 'users:move', delta: 1 });
        else if (key.type === 'space' || (key.type === 'insert' && key.text.trim() === '')) dispatch({ type: 'users:toggle' });
        else if (key.type === 'escape' || key.type === 'submit' || key.type === 'tab') dispatch({ type: 'focus', focus: 'input' });
      } else if (key.type === 'up' || key.type === 'down') {
        const delta = key.type === 'up' ? -1 : 1;
        const { recall, recallIndex } = latest().chat; // a line sent in this read is in it already
        const at = recallIndex ?? recall.length;
        if (Math.max(0, Math.min(recall.length, at + delta)) === at) continue; // nothing older or newer to recall
        if (line.current !== before) dispatch({ type: 'input', value: line.current.text, caret: line.current.cursor });
        dispatch({ type: 'recall', delta });
        // The recalled line replaces this one at the next render: what comes until then (the rest of this read,
        // and the next reads: Ink gives an escape sequence a read of its own) applies to it.
        held.current = true;
        pending.current = keys.slice(i + 1);
        return;
      } else if (key.type === 'escape') dispatch({ type: 'focus', focus: showUsers ? 'users' : 'input' });
      else if (key.type === 'tab') {
        if (line.current.text.trim() === '' && showUsers) dispatch({ type: 'focus', focus: 'users' });
        else {
          const done = completion(line.current.text, c.online, c.user);
          if (done !== undefined) line.current = { text: done, cursor: done.length };
        }
      } else if (key.type === 'submit') {
        const text = line.current.text;
        line.current = EMPTY;
        onSubmit(text);
      } else line.current = edit(line.current, key);
    }
    if (line.current !== before) dispatch({ type: 'input', value: line.current.text, caret: line.current.cursor });
  };
  useRawKeys(onKeys);
  // Keys held back (after a recall, or typed while logging in) go on once the line they apply to is in place.
  useLayoutEffect(() => {
    line.current = { text: c.input, cursor: c.caret };
    held.current = false;
    if (pending.current.length === 0) return;
    const keys = pending.current;
    pending.current = [];
    onKeys(keys);
  }, [c.inputEpoch]);

  let visible = all.slice(Math.max(0, all.length - height - scroll), all.length - scroll);
  if (scroll > 0) visible = [...visible.slice(1), `── scrolled up${c.unseen > 0 ? ` · ${c.unseen} new` : ''} · PgDn for newer ──`];
  while (visible.length < height) visible.unshift('');

  return (
    <Box flexDirection="column" width={columns}>
      <StatusBar state={state} columns={columns} />
      <Box height={height}>
        <Box flexDirection="column" width={paneWidth}>
          {visible.map((row, i) => (
            <Text key={i} wrap="truncate">
              {row}
            </Text>
          ))}
        </Box>
        {showUsers && <UsersPane state={state} height={height} />}
      </Box>
      {transfers.map((row, i) => (
        <Text key={`t${i}`} wrap="truncate">
          {row}
        </Text>
      ))}
      <Box width={columns}>
        <Box flexShrink={0}>
          <Text {...tint(c.selected.length > 0 ? 'yellow' : 'green')}>{prompt}</Text>
        </Box>
        <Box flexGrow={1}>
          <InputLine text={c.input} caret={c.caret} focus={c.focus === 'input'} placeholder={placeholder} width={inputWidth} maxRows={maxInputRows} />
        </Box>
      </Box>
    </Box>
  );
}

function StatusBar({ state, columns }: { readonly state: UiState; readonly columns: number }) {
  const c = state.chat;
  const conn = c.connection === 'online' ? 'online' : c.connection === 'reconnecting' ? 'reconnecting' : c.connection === 'offline' ? 'offline' : 'connecting…';
  const text = statusText(
    [
      { text: safe(c.network) || 'lanchat', drop: 1 },
      { text: `coordinator ${safe(c.coordinator) || '?'}`, drop: 5 },
      ...(c.term === undefined ? [] : [{ text: `term ${c.term}`, drop: 6 }]),
      { text: safe(c.user), drop: 4 },
      { text: conn, drop: 0 },
      // The network's short code, for people to compare (it stays, with the connection, down to 30 columns).
      ...(c.identity === '' ? [] : [{ text: c.identity, drop: 0 }]),
      ...(c.outbox.length > 0 ? [{ text: `${c.outbox.length} unsent`, drop: 2 }] : []),
    ],
    columns,
  );
  return (
    <Text inverse {...tint(c.connection === 'online' ? undefined : c.connection === 'reconnecting' ? 'yellow' : 'red')} wrap="truncate">
      {text.padEnd(columns)}
    </Text>
  );
}

function UsersPane({ state, height }: { readonly state: UiState; readonly height: number }) {
  const c = state.chat;
  const listHeight = Math.max(1, height - 2);
  const first = Math.max(0, Math.min(c.userCursor - listHeight + 1, c.online.length - listHeight));
  const shown = c.online.slice(Math.max(0, first), Math.max(0, first) + listHeight);
  const focused = c.focus === 'users';
  return (
    <Box flexDirection="column" width={USERS_WIDTH} borderStyle="single" borderTop={false} borderBottom={false} borderRight={false} paddingLeft={1}>
      <Text bold {...tint(focused ? 'cyan' : undefined)} wrap="truncate">
        online ({c.online.length})
      </Text>
      {shown.map((u) => {
        const i = c.online.indexOf(u);
        const sel = c.selected.includes(u);
        return (
          <Text key={u} wrap="truncate" {...(focused && i === c.userCursor ? { inverse: true } : {})}>
            {focused && i === c.userCursor ? '›' : ' '}
            {sel ? '[x] ' : '[ ] '}
            <Text {...tint(colourFor(u))}>{safe(u)}</Text>
            {u === c.user ? <Text dimColor> (you)</Text> : null}
          </Text>
        );
      })}
      <Text dimColor wrap="truncate">
        {focused ? 'Space select · Esc back' : 'Esc: pick recipients'}
      </Text>
    </Box>
  );
}
