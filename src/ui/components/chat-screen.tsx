import { Box, Text, useInput } from 'ink';
import TextInput from 'ink-text-input';
import stringWidth from 'string-width';
import { useEffect, useMemo, useRef, type Dispatch } from 'react';
import { splitInput, type Action, type UiState } from '../state.js';
import { colourFor, recipientsLabel, renderLine, renderOutgoing, renderTransfer } from '../format.js';

interface Props {
  readonly state: UiState;
  readonly dispatch: Dispatch<Action>;
  readonly columns: number;
  readonly rows: number;
  readonly onSubmit: (line: string) => void;
}

const USERS_WIDTH = 22; // columns of the users pane, its border included
const NARROW = 50; // below this width the users pane is hidden (/who still lists them)
const MAX_TRANSFER_ROWS = 3; // progress bars shown at once; more are summed up in one row

/** Status bar, message pane, users pane and input line; at most `rows - 1` rows high. */
export function ChatScreen({ state, dispatch, columns, rows, onSubmit }: Props) {
  const c = state.chat;
  // What the input holds now: Enter can arrive in the same chunk of input as the keys before it, before a re-render.
  const latest = useRef(c.input);
  useEffect(() => void (latest.current = c.input), [c.input, c.inputEpoch]);
  // What the text field was last drawn with: it builds each new value from this, however stale.
  const drawn = useRef(c.input);
  drawn.current = c.input;
  const prompt = `to ${recipientsLabel(c.selected)} › `;
  const placeholder = c.lines.length === 0 ? 'type a message, /help for commands' : '';
  // A long input line wraps; the message pane gives up the rows it needs.
  const inputRows = Math.min(Math.max(1, rows - 5), Math.ceil((stringWidth(prompt) + stringWidth(c.input || placeholder) + 1) / Math.max(1, columns)));
  const transfers = c.transfers.length <= MAX_TRANSFER_ROWS ? c.transfers.map((x) => renderTransfer(x, columns)) : [...c.transfers.slice(0, MAX_TRANSFER_ROWS - 1).map((x) => renderTransfer(x, columns)), `  … and ${c.transfers.length - MAX_TRANSFER_ROWS + 1} more files on their way`];
  const height = Math.max(3, rows - 2 - inputRows - transfers.length); // status bar + progress bars + input rows + one spare row
  const showUsers = columns >= NARROW;
  const paneWidth = showUsers ? columns - USERS_WIDTH : columns;
  // Wrapping every line is the costly part of a render: only when the lines or the width change, not per key.
  const all = useMemo(
    () => [...c.lines.flatMap((l) => renderLine(l, c.user, paneWidth)), ...c.outbox.flatMap((o) => renderOutgoing(o, paneWidth))],
    [c.lines, c.outbox, c.user, paneWidth],
  );
  const maxScroll = Math.max(0, all.length - height);
  const scroll = Math.min(c.scroll, maxScroll);
  const page = Math.max(1, height - 1);

  // Key handlers read the state as last rendered: Ink re-attaches them in an effect, which can lag a render.
  const rendered = useRef({ c, page, maxScroll, showUsers });
  rendered.current = { c, page, maxScroll, showUsers };
  useInput((input, key) => {
    const { c, page, maxScroll, showUsers } = rendered.current;
    if (key.pageUp) return dispatch({ type: 'scroll', rows: page, max: maxScroll });
    if (key.pageDown) return dispatch({ type: 'scroll', rows: -page, max: maxScroll });
    if (c.focus === 'users') {
      if (key.upArrow) dispatch({ type: 'users:move', delta: -1 });
      else if (key.downArrow) dispatch({ type: 'users:move', delta: 1 });
      else if (input === ' ') dispatch({ type: 'users:toggle' });
      else if (key.escape || key.return || key.tab) dispatch({ type: 'focus', focus: 'input' });
      return;
    }
    if (key.upArrow) dispatch({ type: 'recall', delta: -1 });
    else if (key.downArrow) dispatch({ type: 'recall', delta: 1 });
    else if (key.escape) dispatch({ type: 'focus', focus: showUsers ? 'users' : 'input' });
    else if (key.tab) {
      if (c.input.trim() === '' && showUsers) dispatch({ type: 'focus', focus: 'users' });
      else dispatch({ type: 'complete' });
    }
  });

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
        <Text color={c.selected.length > 0 ? 'yellow' : 'green'}>{prompt}</Text>
        <Box flexGrow={1}>
          <TextInput
            key={c.inputEpoch}
            value={c.input}
            focus={c.focus === 'input'}
            placeholder={placeholder}
            onChange={(edited) => {
              // A key typed after Enter but before the next draw comes on top of the line just sent: put it on
              // what the input holds now instead (typing appends; other edits are rare in that moment).
              const base = drawn.current;
              const v = latest.current !== base && edited.startsWith(base) ? latest.current + edited.slice(base.length) : edited;
              const { lines, rest } = splitInput(v);
              for (const line of lines) onSubmit(line);
              latest.current = rest;
              dispatch({ type: 'input', value: rest });
            }}
            onSubmit={() => {
              const line = latest.current;
              latest.current = '';
              onSubmit(line);
            }}
          />
        </Box>
      </Box>
    </Box>
  );
}

function StatusBar({ state, columns }: { readonly state: UiState; readonly columns: number }) {
  const c = state.chat;
  const conn = c.connection === 'online' ? 'online' : c.connection === 'reconnecting' ? 'reconnecting…' : c.connection === 'offline' ? 'offline' : 'connecting…';
  const text = ` ${c.network || 'lanchat'} · coordinator ${c.coordinator || '?'}${c.term === undefined ? '' : ` · term ${c.term}`} · ${c.user} · ${conn}${c.outbox.length > 0 ? ` · ${c.outbox.length} unsent` : ''}`;
  return (
    <Text inverse color={c.connection === 'online' ? undefined : c.connection === 'reconnecting' ? 'yellow' : 'red'} wrap="truncate">
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
      <Text bold {...(focused ? { color: 'cyan' } : {})} wrap="truncate">
        online ({c.online.length})
      </Text>
      {shown.map((u) => {
        const i = c.online.indexOf(u);
        const sel = c.selected.includes(u);
        return (
          <Text key={u} wrap="truncate" {...(focused && i === c.userCursor ? { inverse: true } : {})}>
            {focused && i === c.userCursor ? '›' : ' '}
            {sel ? '[x] ' : '[ ] '}
            <Text color={colourFor(u)}>{u}</Text>
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
