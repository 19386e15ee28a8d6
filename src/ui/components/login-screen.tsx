import { Box, Text } from 'ink';
import { useLayoutEffect, useRef, type Dispatch } from 'react';
import { loginFields, type Action, type UiState } from '../state.js';
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
  readonly onSubmit: (patch?: Partial<Record<Field, string>>) => void;
  /** Where keys typed while logging in go (the chat screen takes them). */
  readonly typeahead?: Key[];
  /** Keys typed before this screen was drawn (after Enter on the address form): applied first, in order. */
  readonly ahead?: Key[];
  /** The short code of the network identity this machine pinned for the target's network, if any. */
  readonly identity?: string | undefined;
}

type Field = Exclude<UiState['login']['field'], 'register'>;
const TEXT_FIELDS: readonly Field[] = ['user', 'password', 'networkPassword'];
const end = (text: string): Line => ({ text, cursor: text.length });

/** Username, password (masked), network password when needed, and the register toggle. */
export function LoginScreen({ state, latest, dispatch, onSubmit, typeahead, ahead, identity }: Props) {
  const l = state.login;
  const t = state.target;
  // The fields and the focus as the keys left them, ahead of the state: `alice`, Tab and a password typed in
  // one breath (or arriving in one read) go where they were meant to, whatever has been rendered yet.
  const lines = useRef<Record<Field, Line>>({ user: end(l.user), password: end(l.password), networkPassword: end(l.networkPassword) });
  const focused = useRef(l.field);
  // The state replaces them when something else changed them (a failed login clears the password, Esc).
  useLayoutEffect(() => {
    for (const f of TEXT_FIELDS) if (lines.current[f].text !== l[f]) lines.current[f] = end(l[f]);
    focused.current = l.field;
  }, [l.user, l.password, l.networkPassword, l.field]);
  const paste = useRef(false);
  const onKeys = (keys: Key[]): void => {
    // While logging in, keys are for the chat that follows: they wait for it (a login failure drops them).
    if (latest().login.busy) return void typeahead?.push(...keys);
    const before = { ...lines.current };
    const fields = loginFields(l.needNetworkPassword);
    const move = (delta: number) => {
      const i = Math.max(0, fields.indexOf(focused.current));
      focused.current = fields[(i + delta + fields.length) % fields.length]!;
      dispatch({ type: 'login:field', delta });
    };
    const flush = () => {
      for (const f of TEXT_FIELDS) if (lines.current[f] !== before[f]) dispatch({ type: 'login:edit', field: f, value: lines.current[f].text });
    };
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      const field = focused.current;
      if (key.type === 'paste-start' || key.type === 'paste-end') {
        paste.current = key.type === 'paste-start';
        continue;
      }
      if (paste.current) {
        if (field !== 'register' && key.type === 'insert') lines.current[field] = edit(lines.current[field], { type: 'insert', text: pasted(key.text).trim() });
        continue;
      }
      if (key.type === 'tab' || key.type === 'down') move(1);
      else if (key.type === 'back-tab' || key.type === 'up') move(-1);
      else if (key.type === 'escape') {
        flush();
        return dispatch({ type: 'login:back' });
      } else if (key.type === 'submit') {
        flush();
        typeahead?.push(...keys.slice(i + 1)); // typed on after Enter, in the same read: for the chat
        return onSubmit({ user: lines.current.user.text, password: lines.current.password.text, networkPassword: lines.current.networkPassword.text });
      } else if (field === 'register') {
        if (key.type === 'space' || (key.type === 'insert' && key.text.trim() === '')) dispatch({ type: 'login:toggle-register' });
      } else lines.current[field] = edit(lines.current[field], key);
    }
    flush();
  };
  useRawKeys(onKeys);
  useLayoutEffect(() => {
    if (ahead !== undefined && ahead.length > 0) onKeys(ahead.splice(0));
  }, []); // once, as the screen is drawn
  const field = (name: Field, label: string, mask?: string) => (
    <Box>
      <Text>{l.field === name ? '› ' : '  '}{label}</Text>
      <InputLine text={l[name]} caret={l.field === name ? lines.current[name].cursor : l[name].length} focus={l.field === name && !l.busy} {...(mask === undefined ? {} : { mask })} />
    </Box>
  );
  return (
    <Box flexDirection="column">
      <Text bold>
        lanchat — {l.register ? 'create an account' : 'log in'}
        {t ? ` on ${t.network ? `network "${safe(t.network)}" at ` : ''}${safe(t.address)}` : ''}
      </Text>
      {identity !== undefined && <Text dimColor>identity {identity} (known to this machine: a coordinator without it is refused)</Text>}
      <Box flexDirection="column" marginY={1}>
        {field('user', 'Username:         ')}
        {field('password', 'Password:         ', '•')}
        {l.needNetworkPassword && field('networkPassword', 'Network password: ', '•')}
        <Text>
          {l.field === 'register' ? '› ' : '  '}[{l.register ? 'x' : ' '}] create a new account <Text dimColor>(Space toggles)</Text>
        </Text>
      </Box>
      {l.busy && <Text {...tint('yellow')}>{l.register ? 'creating the account…' : 'logging in…'}</Text>}
      {l.error !== undefined && <Text {...tint('red')}>{safe(l.error)}</Text>}
      <Text dimColor>Enter {l.register ? 'register' : 'log in'} · Tab next field · Esc back · Ctrl+C quit</Text>
    </Box>
  );
}
