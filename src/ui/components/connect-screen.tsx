import { Box, Text, useInput } from 'ink';
import TextInput from 'ink-text-input';
import type { Dispatch } from 'react';
import { splitInput, type Action, type UiState } from '../state.js';
import { safe } from '../safe.js';
import { tint } from '../format.js';

interface Props {
  readonly state: UiState;
  readonly dispatch: Dispatch<Action>;
  /** Seconds spent looking so far (shown while nothing is found). */
  readonly searching: number;
}

/** Networks found on the LAN, plus "enter an address manually"; in locked-down mode only the form. */
export function ConnectScreen({ state, dispatch, searching }: Props) {
  return state.manual ? <ManualForm state={state} dispatch={dispatch} /> : <NetworkList state={state} dispatch={dispatch} searching={searching} />;
}

function NetworkList({ state, dispatch, searching }: Props) {
  useInput((_input, key) => {
    if (key.upArrow) dispatch({ type: 'cursor', delta: -1 });
    else if (key.downArrow) dispatch({ type: 'cursor', delta: 1 });
    else if (key.return) dispatch({ type: 'choose' });
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

function ManualForm({ state, dispatch }: Omit<Props, 'searching'>) {
  const m = state.manual!;
  useInput((_input, key) => {
    if (key.tab || key.downArrow || key.upArrow) dispatch({ type: 'manual:field', field: m.field === 'host' ? 'port' : 'host' });
    else if (key.escape) dispatch({ type: 'manual:cancel' });
  });
  const submit = (): void => dispatch({ type: 'manual:submit' });
  const edit = (field: 'host' | 'port', v: string): void => {
    // Bracketed paste is on (for the chat input): its markers reach this field as `[200~` and `[201~`.
    const { lines, rest } = splitInput(v.replace(/\[20[01]~/g, ''));
    dispatch({ type: 'manual:edit', field, value: lines.length > 0 ? lines[0]! : rest });
    if (lines.length === 0) return;
    if (field === 'host') dispatch({ type: 'manual:field', field: 'port' });
    else submit();
  };
  return (
    <Box flexDirection="column">
      <Text bold>lanchat — connect by address{state.locked ? ' (locked-down mode: nothing is discovered)' : ''}</Text>
      <Box marginTop={1}>
        <Text>{m.field === 'host' ? '› ' : '  '}IP address: </Text>
        <TextInput value={m.host} focus={m.field === 'host'} placeholder="192.168.1.10" onChange={(v) => edit('host', v)} onSubmit={() => dispatch({ type: 'manual:field', field: 'port' })} />
      </Box>
      {m.hostError !== undefined && <Text {...tint('red')}>{`    ${safe(m.hostError)}`}</Text>}
      <Box>
        <Text>{m.field === 'port' ? '› ' : '  '}Port:       </Text>
        <TextInput value={m.port} focus={m.field === 'port'} onChange={(v) => edit('port', v)} onSubmit={submit} />
      </Box>
      {m.portError !== undefined && <Text {...tint('red')}>{`    ${m.portError}`}</Text>}
      <Box marginTop={1}>
        <Text dimColor>Tab next field · Enter connect{state.locked ? '' : ' · Esc back to the list'} · Ctrl+C quit</Text>
      </Box>
    </Box>
  );
}
