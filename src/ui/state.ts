import { isIP } from 'node:net';
import type { ChatMessage } from '../protocol/messages.js';
import { explain } from './explain.js';

/**
 * The UI's whole state and its pure reducer (DESIGN §8). Components render
 * it; `use-chat` turns client events into actions; nothing here touches a
 * socket, a timer or the terminal.
 */

export type Screen = 'connect' | 'login' | 'chat';
export type Connection = 'connecting' | 'online' | 'reconnecting' | 'offline';
export type Focus = 'input' | 'users';

/** A network seen on the LAN, with its coordinator. */
export interface NetworkInfo {
  network: string;
  /** `host:port` of its coordinator. */
  coordinator: string;
  /** The coordinator's host name, as advertised (e.g. `lab-h1.local`). */
  host: string;
  nodes: number;
  term: number;
}

/** A line of the message pane. */
export type Line =
  /** `room`: a room message (issue #16), `to` its members when it was stored. */
  | { kind: 'message'; id: string; ts: number; from: string; to: string[]; text: string; room?: string }
  | { kind: 'notice'; ts: number; text: string; level: 'info' | 'error' }
  /** A file sent or received: shown like a message, with its size and, when received, where it was saved. */
  | { kind: 'file'; id: string; ts: number; from: string; to: string[]; name: string; size: number; path?: string };

/** A file on its way, shown with a progress bar above the input. */
export interface Transfer {
  id: string;
  direction: 'out' | 'in';
  name: string;
  /** Bytes so far, and in all (0 until the first progress of a file going out). */
  done: number;
  size: number;
  /** Who it comes from (in) or goes to (out; empty = everyone). */
  peer: string[];
}

/** A sent message not yet acknowledged (kept in the client's outbox; shown dimmed). */
export interface Outgoing {
  cid: string;
  to: string[];
  text: string;
}

export interface ManualForm {
  host: string;
  port: string;
  field: 'host' | 'port';
  hostError?: string;
  portError?: string;
  /** The address being asked for its status (`GET /status`) before the login form is shown. */
  checking?: string;
  /** Why the address did not do (nothing answers there, not lanchat), in words. */
  probeError?: string;
}

export interface UiState {
  screen: Screen;
  /** Locked-down mode: only the manual form, no discovery. */
  locked: boolean;
  networks: NetworkInfo[];
  /** Connect screen: index in `networks`, `networks.length` = "enter address manually". */
  cursor: number;
  /** The manual form, when open. */
  manual: ManualForm | undefined;
  /** Where we are going or are: coordinator address and network name. */
  target: { address: string; network: string } | undefined;
  login: {
    user: string;
    password: string;
    networkPassword: string;
    /** The coordinator asked for a network password: show its field. */
    needNetworkPassword: boolean;
    register: boolean;
    field: 'user' | 'password' | 'networkPassword' | 'register';
    error?: string;
    busy: boolean;
  };
  chat: {
    user: string;
    network: string;
    coordinator: string;
    /** The network's short code, as its coordinator's certificate shows it (pinned on first contact). */
    identity: string;
    term: number | undefined;
    connection: Connection;
    lines: Line[];
    outbox: Outgoing[];
    online: string[];
    /** The online list as the pane last told it (joins and departures are the difference from it). */
    announced: string[];
    /** After a failover, users come back one by one: until then, no join or departure is announced. */
    quietUntil: number;
    /** The coordinator said it is handing off: the move that follows is planned, not an error. */
    handoff: boolean;
    /** Resumed on a new coordinator: say where once its term is known (the succession list). */
    moved: boolean;
    /** The coordinator before the last failover (a resume on the same one is no move). */
    movedFrom: string;
    focus: Focus;
    /** Users pane cursor (index into `online`). */
    userCursor: number;
    /** Selected recipients; none = everyone. */
    selected: string[];
    input: string;
    /** Where the cursor is in `input` (a UTF-16 offset at a grapheme boundary). */
    caret: number;
    /** Bumped when the input line is replaced (recall, completion, send), so its cursor goes to the end. */
    inputEpoch: number;
    /** Lines sent earlier, oldest first, for ↑/↓. */
    recall: string[];
    /** Position in `recall` while browsing it; undefined = editing a new line. */
    recallIndex: number | undefined;
    /** The line being edited before ↑ was pressed. */
    draft: string;
    /** Rows scrolled up from the live bottom of the message pane. */
    scroll: number;
    /** Messages that arrived while scrolled up. */
    unseen: number;
    /** Files on their way, in either direction. */
    transfers: Transfer[];
    /** The first message not yet seen (a marker line goes above it): set after a reconnect, while scrolled up or away. */
    unread: string | undefined;
    /** The marker of the current absence is set: later messages of it go under the same marker. */
    unreadOpen: boolean;
    /** Until then, messages are the replay of what was missed during a reconnect. */
    missedUntil: number;
    /** Whether the terminal window has focus; undefined until the terminal reports it (not every terminal does). */
    focused: boolean | undefined;
    /** Messages that arrived while the window had no focus (shown in the terminal's title). */
    away: number;
  };
}

/** Lines kept in the message pane; older ones fall off (history stays on the coordinator). */
export const MAX_LINES = 2_000;
/** Input lines kept for recall. */
export const MAX_RECALL = 100;

export type Action =
  | { type: 'networks'; networks: NetworkInfo[] }
  | { type: 'cursor'; delta: number }
  | { type: 'choose' }
  | { type: 'manual:open' }
  | { type: 'manual:edit'; field: 'host' | 'port'; value: string }
  | { type: 'manual:field'; field: 'host' | 'port' }
  | { type: 'manual:submit' }
  | { type: 'manual:probed'; address: string; ok: boolean; network?: string; errno?: string }
  | { type: 'manual:cancel' }
  | { type: 'target'; address: string; network: string }
  | { type: 'login:edit'; field: 'user' | 'password' | 'networkPassword'; value: string }
  | { type: 'login:field'; delta: number }
  | { type: 'login:toggle-register' }
  | { type: 'login:busy' }
  | { type: 'login:failed'; code: string; message: string }
  | { type: 'login:back' }
  | { type: 'ready'; user: string; coordinator: string; network: string; resumed: boolean; now: number; identity?: string }
  | { type: 'reconnecting'; now: number }
  | { type: 'closed'; reason: string; now: number }
  | { type: 'succession'; term: number; coordinator: string; leaving?: boolean; now?: number }
  | { type: 'message'; message: ChatMessage; now?: number }
  | { type: 'terminal-focus'; focused: boolean }
  | { type: 'submitted'; line: string }
  | { type: 'sent'; cid: string; text: string; to: string[] }
  | { type: 'ack'; cid: string }
  | { type: 'error'; code: string; message: string; ref?: string; now: number }
  | { type: 'presence'; online: string[]; now?: number }
  | { type: 'notice'; text: string; level?: 'info' | 'error'; now: number }
  | { type: 'input'; value: string; caret?: number }
  | { type: 'recall'; delta: -1 | 1 }
  | { type: 'complete' }
  | { type: 'focus'; focus: Focus }
  | { type: 'users:move'; delta: number }
  | { type: 'users:toggle' }
  | { type: 'scroll'; rows: number; max: number }
  | { type: 'file:started'; id: string; name: string; to: string[] }
  | { type: 'file:progress'; id: string; direction: 'out' | 'in'; name: string; done: number; size: number; from?: string }
  | { type: 'file:sent'; id: string; name: string; size: number; delivered: string[]; failed: { user: string; reason: string }[]; skipped: string[]; now: number }
  | { type: 'file:received'; id: string; from: string; to: string[]; name: string; size: number; path: string; ts: number }
  | { type: 'file:failed'; id: string; from: string; name: string; reason: string; now: number };

export interface InitialOptions {
  locked?: boolean;
  user?: string;
  /** `--connect`: skip the connect screen. */
  address?: string;
  network?: string;
}

export function initialState(opts: InitialOptions = {}): UiState {
  const locked = opts.locked === true;
  return {
    screen: opts.address !== undefined ? 'login' : 'connect',
    locked,
    networks: [],
    cursor: 0,
    manual: locked && opts.address === undefined ? { host: '', port: '7777', field: 'host' } : undefined,
    target: opts.address !== undefined ? { address: opts.address, network: opts.network ?? '' } : undefined,
    login: { user: opts.user ?? '', password: '', networkPassword: '', needNetworkPassword: locked, register: false, field: opts.user ? 'password' : 'user', busy: false },
    chat: {
      user: '',
      network: opts.network ?? '',
      coordinator: '',
      identity: '',
      term: undefined,
      connection: 'connecting',
      lines: [],
      outbox: [],
      online: [],
      announced: [],
      quietUntil: 0,
      handoff: false,
      moved: false,
      movedFrom: '',
      focus: 'input',
      userCursor: 0,
      selected: [],
      input: '',
      caret: 0,
      inputEpoch: 0,
      recall: [],
      recallIndex: undefined,
      draft: '',
      scroll: 0,
      unseen: 0,
      transfers: [],
      unread: undefined,
      unreadOpen: false,
      missedUntil: 0,
      focused: undefined,
      away: 0,
    },
  };
}

/** How long after a reconnect the messages that come are taken as the replay of what was missed. */
export const REPLAY_MS = 3_000;

/** How long after a failover the online list settles before joins and departures are announced again. */
export const PRESENCE_QUIET_MS = 10_000;

/** The login form's fields, in Tab order. */
export function loginFields(needNetworkPassword: boolean): UiState['login']['field'][] {
  return needNetworkPassword ? ['user', 'password', 'networkPassword', 'register'] : ['user', 'password', 'register'];
}

/** Checks the manual form's host: an IP address or a DNS name. */
export function hostError(host: string): string | undefined {
  const h = host.trim();
  if (h === '') return 'enter the coordinator\'s IP address';
  if (isIP(h.replace(/^\[(.*)\]$/, '$1')) !== 0) return undefined;
  if (/^[0-9.]+$/.test(h)) return `${h} is not a valid IP address`;
  if (h.length <= 253 && /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?$/.test(h)) return undefined;
  return `${h} is not an IP address or host name`;
}

export function portError(port: string): string | undefined {
  const p = port.trim();
  if (!/^\d{1,5}$/.test(p) || Number(p) < 1 || Number(p) > 65535) return 'the port is a number from 1 to 65535';
  return undefined;
}

/** `host:port`, with brackets for IPv6. */
export function joinHostPort(host: string, port: string): string {
  const h = host.trim().replace(/^\[(.*)\]$/, '$1');
  return `${isIP(h) === 6 ? `[${h}]` : h}:${port.trim()}`;
}

/** What a failed login means, in words. */
export function loginErrorText(code: string, message: string, address?: string): string {
  return explain(code, message, address === undefined ? {} : { address });
}

function notice(lines: Line[], text: string, level: 'info' | 'error', now: number): Line[] {
  return bounded([...lines, { kind: 'notice', ts: now, text, level }]);
}

function bounded(lines: Line[]): Line[] {
  return lines.length > MAX_LINES ? lines.slice(lines.length - MAX_LINES) : lines;
}

/** The word being typed at the end of the input, for Tab completion. */
export function completion(input: string, online: readonly string[], self: string): string | undefined {
  const m = /(^|\s)(@?)([A-Za-z0-9_.-]*)$/.exec(input);
  if (!m || m[3] === '') return undefined;
  const partial = m[3]!.toLowerCase();
  const matches = online.filter((u) => u !== self && u.toLowerCase().startsWith(partial));
  if (matches.length === 0) return undefined;
  // One match: complete it; several: as far as they agree.
  let common = matches[0]!;
  for (const u of matches.slice(1)) {
    let i = 0;
    while (i < common.length && i < u.length && common[i]!.toLowerCase() === u[i]!.toLowerCase()) i++;
    common = common.slice(0, i);
  }
  const atStart = input.length - m[3]!.length - m[2]!.length === 0;
  const suffix = matches.length === 1 ? (atStart && m[2] === '' ? ': ' : ' ') : '';
  const word = matches.length === 1 ? matches[0]! : common.length > partial.length ? common : undefined;
  if (word === undefined) return undefined;
  return input.slice(0, input.length - m[3]!.length) + word + suffix;
}

/**
 * The unread bookkeeping after a message or file from `from` arrives (`now`: this machine's clock): it counts
 * while the window has no focus, and the first one of an absence (scrolled up, window unfocused, or the
 * replay after a reconnect) gets the marker.
 */
function unreadAfter(chat: UiState['chat'], id: string, from: string, now: number | undefined): Partial<UiState['chat']> {
  if (from === chat.user) return {};
  const absent = chat.scroll > 0 || chat.focused === false || (now !== undefined && now < chat.missedUntil);
  const away = chat.focused === false ? { away: chat.away + 1 } : {};
  if (!absent || chat.unreadOpen) return away;
  return { ...away, unread: id, unreadOpen: true };
}

export function reducer(state: UiState, action: Action): UiState {
  const chat = state.chat;
  switch (action.type) {
    case 'networks': {
      const cursor = Math.min(state.cursor, action.networks.length);
      return { ...state, networks: action.networks, cursor };
    }
    case 'cursor':
      return { ...state, cursor: Math.max(0, Math.min(state.networks.length, state.cursor + action.delta)) };
    case 'choose': {
      if (state.cursor >= state.networks.length) return reducer(state, { type: 'manual:open' });
      const n = state.networks[state.cursor]!;
      return reducer(state, { type: 'target', address: n.coordinator, network: n.network });
    }
    case 'manual:open':
      return { ...state, manual: state.manual ?? { host: '', port: '7777', field: 'host' } };
    case 'manual:edit': {
      if (!state.manual) return state;
      const m = { ...state.manual, [action.field]: action.value };
      // An error goes once the field is edited; it is checked again on submit.
      if (action.field === 'host') delete m.hostError;
      else delete m.portError;
      delete m.probeError;
      return { ...state, manual: m };
    }
    case 'manual:field':
      return state.manual ? { ...state, manual: { ...state.manual, field: action.field } } : state;
    case 'manual:submit': {
      const m = state.manual;
      if (!m || m.checking !== undefined) return state;
      const he = hostError(m.host);
      const pe = portError(m.port);
      if (he !== undefined || pe !== undefined) {
        const next: ManualForm = { ...m, field: he !== undefined ? 'host' : 'port' };
        if (he !== undefined) next.hostError = he;
        if (pe !== undefined) next.portError = pe;
        return { ...state, manual: next };
      }
      // The address is asked for its status first: a wrong one is said here, before any password is asked for.
      const { probeError: _gone, ...rest } = m;
      return { ...state, manual: { ...rest, checking: joinHostPort(m.host, m.port) } };
    }
    case 'manual:probed': {
      const m = state.manual;
      if (!m || m.checking !== action.address) return state;
      const { checking: _done, ...rest } = m;
      if (action.ok) return reducer({ ...state, manual: rest }, { type: 'target', address: action.address, network: action.network ?? '' });
      return { ...state, manual: { ...rest, field: 'host', probeError: explain('connection_failed', '', { address: action.address }, action.errno) } };
    }
    case 'manual:cancel':
      return state.locked ? state : { ...state, manual: undefined };
    case 'target':
      return {
        ...state,
        screen: 'login',
        target: { address: action.address, network: action.network },
        login: { ...state.login, error: undefined, busy: false } as UiState['login'],
      };
    case 'login:edit':
      return { ...state, login: { ...state.login, [action.field]: action.value } };
    case 'login:field': {
      const fields = loginFields(state.login.needNetworkPassword);
      const i = Math.max(0, fields.indexOf(state.login.field));
      return { ...state, login: { ...state.login, field: fields[(i + action.delta + fields.length) % fields.length]! } };
    }
    case 'login:toggle-register':
      return { ...state, login: { ...state.login, register: !state.login.register } };
    case 'login:busy': {
      const { error: _dropped, ...rest } = state.login;
      return { ...state, login: { ...rest, busy: true } };
    }
    case 'login:failed': {
      const needNetworkPassword = state.login.needNetworkPassword || action.code === 'network_password';
      const field = action.code === 'network_password' ? 'networkPassword' : action.code === 'username_taken' || action.code === 'invalid_username' ? 'user' : 'password';
      return {
        ...state,
        // Only the secret that was wrong is cleared; a connection that failed keeps everything typed.
        login: {
          ...state.login,
          busy: false,
          needNetworkPassword,
          field,
          error: loginErrorText(action.code, action.message, state.target?.address),
          password: action.code === 'auth_failed' ? '' : state.login.password,
          networkPassword: action.code === 'network_password' ? '' : state.login.networkPassword,
        },
      };
    }
    case 'login:back':
      if (state.locked) return { ...state, screen: 'connect', manual: state.manual ?? { host: '', port: '7777', field: 'host' } };
      return { ...state, screen: 'connect', target: undefined };
    case 'ready': {
      const moved = action.resumed && chat.connection !== 'online';
      return {
        ...state,
        screen: 'chat',
        login: { ...state.login, busy: false, password: '' },
        chat: {
          ...chat,
          user: action.user,
          coordinator: action.coordinator,
          identity: action.identity ?? chat.identity,
          network: action.network || chat.network,
          connection: 'online',
          missedUntil: chat.connection === 'reconnecting' ? action.now + REPLAY_MS : 0, // a replay follows a reconnect only
          ...(moved ? { moved: true, handoff: false, quietUntil: action.now + PRESENCE_QUIET_MS } : {}),
        },
      };
    }
    case 'reconnecting': {
      // A planned hand-off is news, not an error.
      const [text, level] = chat.handoff ? ['the coordinator is handing off: moving to the next one…', 'info'] as const : ['lost the coordinator: reconnecting…', 'error'] as const;
      // What comes after the reconnect is what was missed: it goes under a new unread marker.
      return { ...state, chat: { ...chat, connection: 'reconnecting', movedFrom: chat.coordinator, missedUntil: Number.POSITIVE_INFINITY, unreadOpen: false, lines: notice(chat.lines, text, level, action.now) } };
    }
    case 'closed':
      return { ...state, chat: { ...chat, connection: 'offline', lines: notice(chat.lines, `disconnected: ${action.reason}`, 'error', action.now) } };
    case 'succession': {
      const say = chat.moved && action.now !== undefined;
      const where = action.coordinator === chat.movedFrom ? `reconnected to the coordinator at ${action.coordinator}` : `coordinator moved to ${action.coordinator}`;
      const lines = say ? notice(chat.lines, `${where} (term ${action.term})`, 'info', action.now!) : chat.lines;
      return { ...state, chat: { ...chat, term: action.term, coordinator: action.coordinator, handoff: action.leaving === true, moved: chat.moved && !say, lines } };
    }
    case 'message': {
      const m = action.message;
      if (chat.lines.some((l) => l.kind === 'message' && l.id === m.id)) return state;
      const line: Line = { kind: 'message', id: m.id, ts: m.ts, from: m.from, to: [...m.to], text: m.text, ...(m.room === undefined ? {} : { room: m.room }) };
      // History and replays can arrive out of time order: keep the messages sorted by timestamp. A message never
      // goes above a notice already shown (notices carry this machine's clock, messages the coordinator's: a
      // joiner's first message must not appear before its join notice).
      const lines = [...chat.lines];
      let i = lines.length;
      while (i > 0 && lines[i - 1]!.kind !== 'notice' && lines[i - 1]!.ts > m.ts) i--;
      lines.splice(i, 0, line);
      return { ...state, chat: { ...chat, ...unreadAfter(chat, m.id, m.from, action.now), lines: bounded(lines), unseen: chat.scroll > 0 ? chat.unseen + 1 : 0 } };
    }
    case 'submitted': {
      const recall = chat.recall.at(-1) === action.line ? chat.recall : [...chat.recall, action.line].slice(-MAX_RECALL);
      // Whoever sends has read what was above: the unread marker goes.
      return { ...state, chat: { ...chat, input: '', caret: 0, inputEpoch: chat.inputEpoch + 1, recall, recallIndex: undefined, draft: '', scroll: 0, unseen: 0, unread: undefined, unreadOpen: false } };
    }
    case 'sent':
      return { ...state, chat: { ...chat, outbox: [...chat.outbox, { cid: action.cid, to: action.to, text: action.text }] } };
    case 'ack':
      return { ...state, chat: { ...chat, outbox: chat.outbox.filter((o) => o.cid !== action.cid) } };
    case 'error': {
      const outbox = action.ref === undefined ? chat.outbox : chat.outbox.filter((o) => o.cid !== action.ref);
      const transfers = action.ref === undefined ? chat.transfers : chat.transfers.filter((x) => x.id !== action.ref); // a file that failed
      if (state.screen !== 'chat') return state;
      return { ...state, chat: { ...chat, outbox, transfers, lines: notice(chat.lines, explain(action.code, action.message, chat.coordinator ? { address: chat.coordinator } : {}), 'error', action.now) } };
    }
    case 'file:started':
      return { ...state, chat: { ...chat, transfers: [...chat.transfers, { id: action.id, direction: 'out', name: action.name, done: 0, size: 0, peer: action.to }] } };
    case 'file:progress': {
      const known = chat.transfers.find((x) => x.id === action.id);
      const transfers = known
        ? chat.transfers.map((x) => (x.id === action.id ? { ...x, done: action.done, size: action.size } : x))
        : [...chat.transfers, { id: action.id, direction: action.direction, name: action.name, done: action.done, size: action.size, peer: action.from === undefined ? [] : [action.from] }];
      return { ...state, chat: { ...chat, transfers } };
    }
    case 'file:sent': {
      // Shown as it was addressed: to everyone, or to the users named (failures and skips follow as notices).
      const to = chat.transfers.find((x) => x.id === action.id)?.peer ?? action.delivered;
      let lines = bounded([...chat.lines, { kind: 'file', id: action.id, ts: action.now, from: chat.user, to, name: action.name, size: action.size }]);
      for (const f of action.failed) lines = notice(lines, `${action.name} did not reach ${f.user}: ${f.reason}`, 'error', action.now);
      if (action.skipped.length > 0) lines = notice(lines, `${action.name} was not sent to ${action.skipped.join(', ')}: offline (files are not kept)`, 'error', action.now);
      return { ...state, chat: { ...chat, lines, transfers: chat.transfers.filter((x) => x.id !== action.id) } };
    }
    case 'file:received': {
      const line: Line = { kind: 'file', id: action.id, ts: action.ts, from: action.from, to: action.to, name: action.name, size: action.size, path: action.path };
      return { ...state, chat: { ...chat, ...unreadAfter(chat, action.id, action.from, action.ts), lines: bounded([...chat.lines, line]), transfers: chat.transfers.filter((x) => x.id !== action.id), unseen: chat.scroll > 0 ? chat.unseen + 1 : 0 } };
    }
    case 'file:failed': {
      const lines = notice(chat.lines, `${action.name} from ${action.from} was not saved: ${action.reason}`, 'error', action.now);
      return { ...state, chat: { ...chat, lines, transfers: chat.transfers.filter((x) => x.id !== action.id) } };
    }
    case 'presence': {
      const online = [...action.online];
      const selected = chat.selected.filter((u) => online.includes(u));
      // Joins and departures as notices, as IRC clients show them: not the first list, and only what happened —
      // after a failover people come back one by one, so the lists are compared once that is over.
      let lines = chat.lines;
      let announced = chat.announced;
      if (state.screen === 'chat' && chat.connection === 'online') {
        if (announced.length === 0) announced = online;
        else if (action.now !== undefined && action.now >= chat.quietUntil) {
          const joined = online.filter((u) => !announced.includes(u));
          const left = announced.filter((u) => !online.includes(u));
          if (joined.length > 0) lines = notice(lines, `${joined.join(', ')} joined`, 'info', action.now);
          if (left.length > 0) lines = notice(lines, `${left.join(', ')} left`, 'info', action.now);
          announced = online;
        }
      }
      return { ...state, chat: { ...chat, online, announced, selected, lines, userCursor: Math.min(chat.userCursor, Math.max(0, online.length - 1)) } };
    }
    case 'notice':
      return { ...state, chat: { ...chat, lines: notice(chat.lines, action.text, action.level ?? 'info', action.now) } };
    case 'input':
      return { ...state, chat: { ...chat, input: action.value, caret: Math.max(0, Math.min(action.value.length, action.caret ?? action.value.length)) } };
    case 'recall': {
      if (chat.recall.length === 0) return state;
      const at = chat.recallIndex ?? chat.recall.length;
      const next = Math.max(0, Math.min(chat.recall.length, at + action.delta));
      if (next === at) return state;
      const draft = chat.recallIndex === undefined ? chat.input : chat.draft;
      const input = next === chat.recall.length ? draft : chat.recall[next]!;
      return { ...state, chat: { ...chat, input, caret: input.length, draft, recallIndex: next === chat.recall.length ? undefined : next, inputEpoch: chat.inputEpoch + 1 } };
    }
    case 'complete': {
      const input = completion(chat.input, chat.online, chat.user);
      return input === undefined ? state : { ...state, chat: { ...chat, input, caret: input.length, inputEpoch: chat.inputEpoch + 1 } };
    }
    case 'focus':
      return { ...state, chat: { ...chat, focus: action.focus } };
    case 'users:move':
      return { ...state, chat: { ...chat, userCursor: Math.max(0, Math.min(chat.online.length - 1, chat.userCursor + action.delta)) } };
    case 'users:toggle': {
      const u = chat.online[chat.userCursor];
      if (u === undefined) return state;
      const selected = chat.selected.includes(u) ? chat.selected.filter((s) => s !== u) : [...chat.selected, u].sort((a, b) => a.localeCompare(b));
      return { ...state, chat: { ...chat, selected } };
    }
    case 'scroll': {
      const scroll = Math.max(0, Math.min(action.max, chat.scroll + action.rows));
      // Scrolling up starts an absence from the live end; coming back to it ends one (the marker stays to be seen).
      const edge = (scroll === 0) !== (chat.scroll === 0);
      return { ...state, chat: { ...chat, scroll, unseen: scroll === 0 ? 0 : chat.unseen, unreadOpen: edge ? false : chat.unreadOpen } };
    }
    case 'terminal-focus': {
      if (action.focused === chat.focused) return state;
      return { ...state, chat: { ...chat, focused: action.focused, away: 0, unreadOpen: false } };
    }
  }
}
