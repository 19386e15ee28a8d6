import { homedir } from 'node:os';
import { basename, resolve } from 'node:path';
import { useCallback, useEffect, useRef, type Dispatch } from 'react';
import type { Logger } from 'pino';
import { ChatClient, type ChatClientEvents, type ChatClientOptions } from '../../client/chat-client.js';
import { ProtocolError } from '../../protocol/errors.js';
import type { Action, UiState } from '../state.js';
import { mentions } from '../format.js';

export interface ChatDeps {
  log: Logger;
  /** Finds coordinator addresses of a network again during a failover (mDNS, remembered addresses). */
  discover?: (network: string) => Promise<string[]>;
  /** Called with each succession list, to remember it for the next start. */
  remember?: (network: string, succession: ChatClientEvents['succession'][0]) => void;
  /** Rings the terminal bell. */
  bell: () => void;
  /** Sets the terminal window's title (only once the terminal has reported focus: see `App`). */
  title?: (text: string) => void;
  makeClient?: (opts: ChatClientOptions) => ChatClient;
  reconnectTimeoutMs?: number;
  /** Where received files are saved (without it, files are refused). */
  downloadDir?: string;
  /** The network identities trusted, and how to pin one (see ChatClientOptions). */
  trust?: ChatClientOptions['trust'];
}

export interface ChatActions {
  /** Connects to `state.target` and logs in with the login form's fields (`patch`: values just typed, not yet in the state). */
  login: (patch?: Partial<Pick<UiState['login'], 'user' | 'password' | 'networkPassword'>>) => void;
  send: (text: string, to: readonly string[]) => void;
  /** Sends a file (`~` is the home directory); progress and the outcome come back as actions. */
  sendFile: (path: string, to: readonly string[]) => void;
  who: () => void;
  /** Closes the session (resolves once the socket is closed). */
  close: () => Promise<void>;
}

/**
 * The only UI code that talks to the `ChatClient` (DESIGN §8): client events in, actions out. `latest`: the
 * state as of the last dispatch (the keys just typed, such as Space on "create a new account", included).
 */
export function useChat(latest: () => UiState, dispatch: Dispatch<Action>, deps: ChatDeps): ChatActions {
  const client = useRef<ChatClient | undefined>(undefined);
  const connecting = useRef(false);
  const depsRef = useRef(deps);
  depsRef.current = deps;

  const login = useCallback((patch: Partial<Pick<UiState['login'], 'user' | 'password' | 'networkPassword'>> = {}) => {
    const s = latest();
    const d = depsRef.current;
    // One attempt at a time, decided synchronously: two Enter handlers can fire before the state says "busy".
    if (!s.target || connecting.current || client.current) return;
    const { address, network } = s.target;
    const { user, password, networkPassword, register } = { ...s.login, ...patch };
    if (user.trim() === '' || password === '') {
      dispatch(user.trim() === '' ? { type: 'login:failed', code: 'invalid_username', message: 'enter a username' } : { type: 'login:failed', code: 'bad_input', message: 'enter a password' });
      return;
    }
    connecting.current = true;
    dispatch({ type: 'login:busy' });
    const opts: ChatClientOptions = {
      address,
      user: user.trim(),
      password,
      register,
      log: d.log.child({ component: 'client' }),
      ...(networkPassword === '' ? {} : { networkPassword }),
      ...(d.reconnectTimeoutMs === undefined ? {} : { reconnectTimeoutMs: d.reconnectTimeoutMs }),
      ...(d.downloadDir === undefined ? {} : { downloadDir: d.downloadDir }),
      ...(d.trust === undefined ? {} : { trust: d.trust }),
      ...(d.discover && network !== '' ? { discover: () => d.discover!(network) } : {}),
      ...(network !== '' ? { network } : {}),
    };
    const c = (d.makeClient ?? ((o) => new ChatClient(o)))(opts);
    let replaying = true;
    const now = (): number => Date.now();
    c.on('ready', (r) => dispatch({ type: 'ready', user: r.user, coordinator: r.coordinator, network: r.network, resumed: r.resumed === true, now: now(), ...(r.identity ? { identity: r.identity } : {}) }));
    c.on('reconnecting', () => dispatch({ type: 'reconnecting', now: now() }));
    c.on('history:end', () => void (replaying = false));
    c.on('gap', (g) => dispatch({ type: 'notice', text: `more was said while you were away than is kept: the newest ${g.count} messages are shown`, level: 'info', now: now() }));
    c.on('message', (m) => {
      dispatch({ type: 'message', message: m, now: now() });
      const me = c.ready?.user;
      // A direct message, or a mention (@name or the name as a word), rings the bell.
      if (!replaying && me !== undefined && m.from !== me && ((m.room === undefined && m.to.includes(me)) || mentions(m.text, me))) depsRef.current.bell();
    });
    c.on('ack', (a) => dispatch({ type: 'ack', cid: a.id }));
    c.on('presence', (online) => dispatch({ type: 'presence', online, now: now() }));
    c.on('succession', (x) => {
      dispatch({ type: 'succession', term: x.term, coordinator: x.coordinator.address, leaving: x.leaving, now: now() });
      const net = c.ready?.network;
      if (net) depsRef.current.remember?.(net, x);
    });
    // Errors before login reject connect() (below); the reducer shows only those of a chat session.
    c.on('error', (e) => dispatch({ type: 'error', code: e.code, message: e.message, ...(e.ref === undefined ? {} : { ref: e.ref }), now: now() }));
    c.on('close', (x) => dispatch({ type: 'closed', reason: x.reason, now: now() }));
    c.on('file:progress', (p) => dispatch({ type: 'file:progress', id: p.id, direction: p.direction, name: p.name, done: p.done, size: p.size, ...(p.from === undefined ? {} : { from: p.from }) }));
    c.on('file:sent', (f) => dispatch({ type: 'file:sent', id: f.id, name: f.name, size: f.size, delivered: f.delivered, failed: f.failed, skipped: f.skipped, now: now() }));
    c.on('file', (f) => {
      dispatch({ type: 'file:received', id: f.id, from: f.from, to: f.to, name: f.name, size: f.size, path: f.path, ts: now() });
      if (f.to.length > 0) depsRef.current.bell(); // sent to you by name, as a direct message rings
    });
    c.on('file:failed', (f) => dispatch({ type: 'file:failed', id: f.id, from: f.from, name: f.name, reason: f.reason, now: now() }));
    client.current = c;
    c.connect().then(
      () => {
        connecting.current = false;
        dispatch({ type: 'presence', online: c.online });
      },
      (err: unknown) => {
        const e = err instanceof ProtocolError ? err : new ProtocolError('connection_failed', (err as Error).message);
        connecting.current = false;
        if (client.current === c) client.current = undefined;
        c.removeAllListeners();
        void c.close();
        dispatch({ type: 'login:failed', code: e.code, message: e.message });
      },
    );
  }, [dispatch]);

  const send = useCallback(
    (text: string, to: readonly string[]) => {
      const c = client.current;
      if (!c) return dispatch({ type: 'notice', text: 'not connected: nothing was sent', level: 'error', now: Date.now() });
      const cid = c.send(text, to);
      dispatch({ type: 'sent', cid, text, to: [...to] });
    },
    [dispatch],
  );

  const sendFile = useCallback(
    (path: string, to: readonly string[]) => {
      const c = client.current;
      if (!c) return dispatch({ type: 'notice', text: 'not connected: nothing was sent', level: 'error', now: Date.now() });
      const full = resolve(path.replace(/^~(?=$|\/)/, homedir()));
      const id = c.sendFile(full, to);
      dispatch({ type: 'file:started', id, name: basename(full), to: [...to] });
    },
    [dispatch],
  );

  const who = useCallback(() => client.current?.who(), []);

  const close = useCallback(async () => {
    const c = client.current;
    client.current = undefined;
    await c?.close();
  }, []);

  useEffect(() => () => void client.current?.close(), []);

  return { login, send, sendFile, who, close };
}
