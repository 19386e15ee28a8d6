import { Box, Text } from 'ink';
import { useLayoutEffect, useRef, type Dispatch } from 'react';
import type { Action, UiState } from '../state.js';
import { edit, pasted, type Key, type Line } from '../line-editor.js';
import { useRawKeys } from '../hooks/use-raw-keys.js';
import { InputLine } from './input-line.js';
import { safe } from '../safe.js';
import { tint } from '../format.js';

interface Props {
  readonly state: UiState;
  /** The state as of the last dispatch, ahead of `state` (which is as last rendered). */
  readonly latest: () => UiState;
  readonly dispatch: Dispatch<Action>;
  /** Seconds spent looking so far (shown while nothing is found). */
  readonly searching: number;
  /** Where keys typed on after Enter on the address go (the login screen takes them). */
  readonly typeahead?: Key[];
}

/** Networks found on the LAN, plus "enter an address manually"; in locked-down mode only the form. */
export function ConnectScreen({ state, latest, dispatch, searching, typeahead }: Props) {
  return state.manual ? <ManualForm state={state} latest={latest} dispatch={dispatch} typeahead={typeahead} /> : <NetworkList state={state} latest={latest} dispatch={dispatch} searching={searching} typeahead={typeahead} />;
}

function NetworkList({ state, latest, dispatch, searching, typeahead }: Props) {
  const paste = useRef(false);
  useRawKeys((keys) => {
    // Chosen already, not yet drawn: the keys are the login screen's.
    if (latest().screen !== 'connect') return void typeahead?.push(...keys);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      if (key.type === 'paste-start' || key.type === 'paste-end') paste.current = key.type === 'paste-start';
      else if (paste.current) continue; // a paste chooses nothing (its Enter is text)
      else if (key.type === 'up') dispatch({ type: 'cursor', delta: -1 });
      else if (key.type === 'down') dispatch({ type: 'cursor', delta: 1 });
      else if (key.type === 'submit') {
        dispatch({ type: 'choose' });
        // Typed on after Enter, in the same read: for the login screen of the network chosen.
        if (latest().screen === 'login') typeahead?.push(...keys.slice(i + 1));
        return;
      }
    }
  });
  const { networks, cursor } = state;
  const nameWidth = Math.max(0, ...networks.map((n) => safe(n.network).length));
  return (
    <Box flexDirection="column">
      <Text bold>lanchat — choose a network</Text>
      <Text dimColor>
        {networks.length === 0
          ? `looking for lanchat networks on the LAN… (${searching} s)`
          : `${networks.length} network${networks.length === 1 ? '' : 's'} found on the LAN`}
      </Text>
      <Box flexDirection="column" marginY={1}>
        {networks.map((n, i) => (
          <Text key={n.network} {...tint(i === cursor ? 'cyan' : undefined)}>
            {i === cursor ? '› ' : '  '}
            <Text bold>{safe(n.network).padEnd(nameWidth)}</Text>
            {`  coordinator ${safe(n.host === n.coordinator.replace(/:\d+$/, '') ? n.coordinator : `${n.host} (${n.coordinator})`)} · ${n.nodes} node${n.nodes === 1 ? '' : 's'} · term ${n.term}`}
          </Text>
        ))}
        <Text {...tint(cursor === networks.length ? 'cyan' : undefined)}>{cursor === networks.length ? '› ' : '  '}Enter an address manually…</Text>
      </Box>
      <Text dimColor>↑/↓ choose · Enter connect · Ctrl+C quit</Text>
    </Box>
  );
}

type Field = 'host' | 'port';
const end = (text: string): Line => ({ text, cursor: text.length });

/**
 * The address form, on the same line editor as the chat input: every key of every read applies, in order.
 * Enter asks the address for its status first; what was typed stays, whatever the answer.
 */
function ManualForm({ state, latest, dispatch, typeahead }: Omit<Props, 'searching'>) {
  const m = state.manual!;
  const lines = useRef<Record<Field, Line>>({ host: end(m.host), port: end(m.port) });
  const focused = useRef<Field>(m.field);
  useLayoutEffect(() => {
    for (const f of ['host', 'port'] as const) if (lines.current[f].text !== m[f]) lines.current[f] = end(m[f]);
    focused.current = m.field;
  }, [m.host, m.port, m.field]);
  const paste = useRef(false);
  useRawKeys((keys) => {
    // While the address is checked, or once it answered (the login screen not yet drawn), keys are for the
    // login screen (a failed check drops them).
    if (latest().screen !== 'connect' || latest().manual?.checking !== undefined) return void typeahead?.push(...keys);
    let before = { ...lines.current };
    const flush = () => {
      for (const f of ['host', 'port'] as const) if (lines.current[f] !== before[f]) dispatch({ type: 'manual:edit', field: f, value: lines.current[f].text });
      before = { ...lines.current };
    };
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      const field = focused.current;
      if (key.type === 'paste-start' || key.type === 'paste-end') {
        paste.current = key.type === 'paste-start';
        continue;
      }
      if (paste.current) {
        if (key.type === 'insert') lines.current[field] = edit(lines.current[field], { type: 'insert', text: pasted(key.text).trim() });
        continue;
      }
      if (key.type === 'tab' || key.type === 'back-tab' || key.type === 'up' || key.type === 'down') {
        focused.current = field === 'host' ? 'port' : 'host';
        dispatch({ type: 'manual:field', field: focused.current });
      } else if (key.type === 'escape') {
        flush();
        return dispatch({ type: 'manual:cancel' });
      } else if (key.type === 'submit') {
        flush();
        dispatch({ type: 'manual:submit' });
        const after = latest().manual;
        // Typed on after Enter, in the same read: for the login screen, once the address answers…
        if (after?.checking !== undefined || after === undefined) return void typeahead?.push(...keys.slice(i + 1));
        focused.current = after.field; // …or, refused here (a bad host or port), for the field it points to
      } else lines.current[field] = edit(lines.current[field], key);
    }
    flush();
  });
  const field = (name: Field, label: string, placeholder = '') => (
    <Box>
      <Text>{m.field === name ? '› ' : '  '}{label}</Text>
      <InputLine text={m[name]} caret={m.field === name ? lines.current[name].cursor : m[name].length} focus={m.field === name && m.checking === undefined} placeholder={placeholder} />
    </Box>
  );
  return (
    <Box flexDirection="column">
      <Text bold>lanchat — connect by address{state.locked ? ' (locked-down mode: nothing is discovered)' : ''}</Text>
      <Box flexDirection="column" marginTop={1}>
        {field('host', 'IP address: ', '192.168.1.10')}
        {m.hostError !== undefined && <Text {...tint('red')}>{`    ${safe(m.hostError)}`}</Text>}
        {field('port', 'Port:       ')}
        {m.portError !== undefined && <Text {...tint('red')}>{`    ${safe(m.portError)}`}</Text>}
      </Box>
      {m.checking !== undefined && <Text {...tint('yellow')}>{`checking ${safe(m.checking)}…`}</Text>}
      {m.probeError !== undefined && <Text {...tint('red')}>{safe(m.probeError)}</Text>}
      <Box marginTop={1}>
        <Text dimColor>Enter connect · Tab next field{state.locked ? '' : ' · Esc back to the list'} · Ctrl+C quit</Text>
      </Box>
    </Box>
  );
}
