import { Box, Text, useInput } from 'ink';
import TextInput from 'ink-text-input';
import { useEffect, useRef, type Dispatch } from 'react';
import { splitInput, type Action, type UiState } from '../state.js';

interface Props {
  readonly state: UiState;
  readonly dispatch: Dispatch<Action>;
  readonly onSubmit: (patch?: Partial<Record<Field, string>>) => void;
}

type Field = Exclude<UiState['login']['field'], 'register'>;

/** Username, password (masked), network password when needed, and the register toggle. */
export function LoginScreen({ state, dispatch, onSubmit }: Props) {
  const l = state.login;
  const t = state.target;
  // What the fields hold now: Enter can arrive right after the keys before it, before a re-render.
  const latest = useRef<Record<Field, string>>({ user: l.user, password: l.password, networkPassword: l.networkPassword });
  useEffect(() => void (latest.current = { user: l.user, password: l.password, networkPassword: l.networkPassword }), [l.user, l.password, l.networkPassword]);
  const submit = (): void => onSubmit({ ...latest.current });
  // The field that has the focus as last rendered: Ink attaches and detaches key handlers in effects, which
  // can lag behind a render, so a handler consults this rather than the state its closure saw.
  const focused = useRef(l.field);
  focused.current = l.field;
  const busy = useRef(l.busy);
  busy.current = l.busy;
  useInput((input, key) => {
    if (busy.current) return;
    if (key.tab || key.downArrow) dispatch({ type: 'login:field', delta: key.shift ? -1 : 1 });
    else if (key.upArrow) dispatch({ type: 'login:field', delta: -1 });
    else if (key.escape) dispatch({ type: 'login:back' });
    else if (focused.current === 'register' && input === ' ') dispatch({ type: 'login:toggle-register' });
    else if (focused.current === 'register' && key.return) submit();
  });
  const field = (name: Field, label: string, value: string, mask?: string) => (
    <Box>
      <Text>{l.field === name ? '› ' : '  '}{label}</Text>
      <TextInput
        value={value}
        focus={l.field === name && !l.busy}
        {...(mask === undefined ? {} : { mask })}
        onChange={(v) => {
          if (focused.current !== name) return; // a key meant for the field that has just taken the focus
          const { lines, rest } = splitInput(v);
          const value = lines.length > 0 ? lines[0]! : rest;
          latest.current = { ...latest.current, [name]: value };
          dispatch({ type: 'login:edit', field: name, value });
          if (lines.length > 0) submit();
        }}
        onSubmit={() => focused.current === name && submit()}
      />
    </Box>
  );
  return (
    <Box flexDirection="column">
      <Text bold>
        lanchat — {l.register ? 'create an account' : 'log in'}
        {t ? ` on ${t.network ? `network "${t.network}" at ` : ''}${t.address}` : ''}
      </Text>
      <Box flexDirection="column" marginY={1}>
        {field('user', 'Username:         ', l.user)}
        {field('password', 'Password:         ', l.password, '•')}
        {l.needNetworkPassword && field('networkPassword', 'Network password: ', l.networkPassword, '•')}
        <Text>
          {l.field === 'register' ? '› ' : '  '}[{l.register ? 'x' : ' '}] create a new account <Text dimColor>(Space toggles)</Text>
        </Text>
      </Box>
      {l.busy && <Text color="yellow">{l.register ? 'creating the account…' : 'logging in…'}</Text>}
      {l.error !== undefined && <Text color="red">{l.error}</Text>}
      <Text dimColor>Enter {l.register ? 'register' : 'log in'} · Tab next field · Esc back · Ctrl+C quit</Text>
    </Box>
  );
}
