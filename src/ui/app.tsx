import { useEffect, useRef, useState } from 'react';
import { networkCode } from '../trust/identity.js';
import { Box, useApp, useInput } from 'ink';
import type { Key } from './line-editor.js';
import { useRawKeys } from './hooks/use-raw-keys.js';
import { useLatestReducer } from './hooks/use-latest-reducer.js';
import { safe } from './safe.js';
import { probeStatus, type Probe } from '../discovery/status.js';
import { initialState, reducer, type InitialOptions, type NetworkInfo } from './state.js';
import { useChat, type ChatDeps } from './hooks/use-chat.js';
import { useTerminalSize } from './hooks/use-terminal-size.js';
import { parseCommand, HELP } from './commands.js';
import { ConnectScreen } from './components/connect-screen.js';
import { LoginScreen } from './components/login-screen.js';
import { ChatScreen } from './components/chat-screen.js';

/** Something that reports the networks on the LAN (the NetworkScan), absent in locked-down mode. */
export interface NetworkSource {
  readonly networks: NetworkInfo[];
  on(event: 'change', listener: (n: NetworkInfo[]) => void): unknown;
  off(event: 'change', listener: (n: NetworkInfo[]) => void): unknown;
}

export interface AppProps extends InitialOptions {
  readonly deps: ChatDeps;
  readonly scan?: NetworkSource;
  /** From LANCHAT_PASSWORD: log in without asking. */
  readonly password?: string;
  /** From LANCHAT_NETWORK_PASSWORD. */
  readonly networkPassword?: string;
  /** Called once the session is closed, to leave. */
  readonly onExit: (code: number) => void;
  /** Filled in with how to leave as /quit does (the session closed first): for signals and a terminal gone. */
  readonly quitRef?: { current?: () => void };
  /** Asks an address typed in the manual form for its status (tests replace it). */
  readonly probe?: (address: string, timeoutMs: number) => Promise<Probe>;
  /** Whether this machine has no LAN (no interface but loopback): then the local node's port, to say how others could reach it. */
  readonly alone?: () => { port: number } | undefined;
  /** Terminal size; read from stdout (following resizes) when absent. */
  readonly size?: { columns: number; rows: number };
}

/** How long an address typed by hand has to answer `GET /status` (a LAN answers in milliseconds). */
const MANUAL_PROBE_MS = 2_000;

/** Picks the screen; owns the state (one reducer) and the session (one hook). */
export function App(props: AppProps) {
  const [state, dispatch, latest] = useLatestReducer(reducer, props, (p: AppProps) => {
    const s = initialState(p);
    return {
      ...s,
      login: {
        ...s.login,
        password: p.password ?? '',
        networkPassword: p.networkPassword ?? '',
        needNetworkPassword: s.login.needNetworkPassword || p.networkPassword !== undefined,
      },
    };
  });
  const chat = useChat(latest, dispatch, props.deps);
  const terminal = useTerminalSize();
  const { columns, rows } = props.size ?? terminal;
  const { exit } = useApp();
  const [searching, setSearching] = useState(0);
  const autoChosen = useRef(false);
  const autoLogin = useRef(false);
  const leaving = useRef(false);
  const typeahead = useRef<Key[]>([]);
  if (state.screen === 'login' && !state.login.busy) typeahead.current.length = 0; // a failed login drops them
  const loginAhead = useRef<Key[]>([]);
  if (state.screen === 'connect' && state.manual?.checking === undefined) loginAhead.current.length = 0; // so does a failed check

  const quit = (code = 0): void => {
    if (leaving.current) return;
    leaving.current = true;
    void chat.close().finally(() => {
      exit();
      props.onExit(code);
    });
  };

  if (props.quitRef) props.quitRef.current = () => quit(0);

  useInput((input, key) => {
    if (key.ctrl && input === 'c') quit(0);
  });

  // Focus reports (`CSI I`, `CSI O`; asked for at start): while the window has no focus, its title counts the
  // messages that came. A terminal that never reports focus keeps its title.
  useRawKeys((keys) => {
    for (const key of keys) if (key.type === 'focus-in' || key.type === 'focus-out') dispatch({ type: 'terminal-focus', focused: key.type === 'focus-in' });
  });
  const { focused, away, user, network } = state.chat;
  useEffect(() => {
    if (focused === undefined) return;
    const who = user === '' ? '' : ` · ${safe(user)}${network === '' ? '' : `@${safe(network)}`}`;
    props.deps.title?.(`${away > 0 ? `(${away}) ` : ''}lanchat${who}`);
  }, [focused, away, user, network]);

  // The live list of networks (not in locked-down mode, where nothing is browsed).
  const { scan } = props;
  useEffect(() => {
    if (!scan || state.locked) return;
    const onChange = (networks: NetworkInfo[]): void => dispatch({ type: 'networks', networks });
    scan.on('change', onChange);
    onChange(scan.networks);
    const started = Date.now();
    const tick = setInterval(() => setSearching(Math.round((Date.now() - started) / 1000)), 1_000);
    return () => {
      scan.off('change', onChange);
      clearInterval(tick);
    };
  }, [scan, state.locked]);

  // No LAN at all: the chat works, but only on this machine. Said once, with what to do about it.
  const toldAlone = useRef(false);
  useEffect(() => {
    const alone = props.alone?.();
    if (state.screen !== 'chat' || alone === undefined || toldAlone.current) return;
    toldAlone.current = true;
    const text = `you are alone on this machine: it is on no network, so nobody else can reach it. Once it is on the LAN, others find this network by themselves, or connect to this machine's address, port ${alone.port}`;
    dispatch({ type: 'notice', text, level: 'info', now: Date.now() });
  }, [state.screen]);

  // An address typed in the manual form is asked for its status before the login form: a wrong address, a
  // machine without lanchat or the wrong port is said at once, and nothing typed is lost.
  const checking = state.manual?.checking;
  useEffect(() => {
    if (checking === undefined) return;
    void (props.probe ?? probeStatus)(checking, MANUAL_PROBE_MS).then((p) =>
      dispatch(p.ok ? { type: 'manual:probed', address: checking, ok: true, network: p.status.network } : { type: 'manual:probed', address: checking, ok: false, errno: p.errno }),
    );
  }, [checking]);

  // The first sighting is exactly one network: no choice to make. (Later changes never pick for the user.)
  useEffect(() => {
    if (autoChosen.current || state.networks.length === 0) return;
    autoChosen.current = true;
    if (state.screen === 'connect' && !state.manual && state.networks.length === 1) dispatch({ type: 'choose' });
  }, [state.screen, state.manual, state.networks.length]);

  // LANCHAT_PASSWORD and a user name: log in without asking (once; a failure shows the form).
  useEffect(() => {
    if (state.screen === 'login' && !autoLogin.current && props.password && state.login.user !== '') {
      autoLogin.current = true;
      chat.login();
    }
  }, [state.screen]);

  // A line is taken with the recipients picked as of its Enter, though the screen may not show them yet.
  const submit = (line: string): void => {
    const cmd = parseCommand(line, latest().chat.selected);
    if (cmd.kind !== 'none') dispatch({ type: 'submitted', line });
    const now = Date.now();
    switch (cmd.kind) {
      case 'send':
        return chat.send(cmd.text, cmd.to);
      case 'who':
        chat.who();
        return dispatch({ type: 'notice', text: `online: ${latest().chat.online.join(', ') || 'nobody'}`, now });
      case 'help':
        for (const text of HELP) dispatch({ type: 'notice', text, now });
        return;
      case 'quit':
        return quit(0);
      case 'file':
        return chat.sendFile(cmd.path, cmd.to);
      case 'error':
        return dispatch({ type: 'notice', text: cmd.text, level: 'error', now });
      case 'none':
        return;
    }
  };

  return (
    <Box flexDirection="column">
      {state.screen === 'connect' && <ConnectScreen state={state} latest={latest} dispatch={dispatch} searching={searching} typeahead={loginAhead.current} />}
      {state.screen === 'login' && <LoginScreen state={state} latest={latest} dispatch={dispatch} onSubmit={(patch) => chat.login(patch)} typeahead={typeahead.current} ahead={loginAhead.current} identity={pinnedCode(props.deps, state.target?.network)} />}
      {state.screen === 'chat' && <ChatScreen state={state} latest={latest} dispatch={dispatch} columns={columns} rows={rows} onSubmit={submit} typeahead={typeahead.current} />}
    </Box>
  );
}

/** The short code of the identity pinned for `network`, when this machine has met it. */
function pinnedCode(deps: ChatDeps, network: string | undefined): string | undefined {
  const pem = network === undefined || network === '' ? undefined : deps.trust?.pins.get(network);
  return pem === undefined ? undefined : networkCode(pem);
}
