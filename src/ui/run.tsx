import { join } from 'node:path';
import { render } from 'ink';
import type { Logger } from 'pino';
import { createFileLogger } from '../node/logger.js';
import { App } from './app.js';
import { MdnsDiscovery } from '../discovery/mdns.js';
import { trustIn } from '../client/trust.js';
import { NetworkScan } from '../client/network-scan.js';
import { Node } from '../node/node.js';
import { findCoordinator } from '../client/find-coordinator.js';
import { SuccessionMemory } from '../store/known-networks.js';
import { lanAddresses, servedAddresses } from '../discovery/interfaces.js';
import { formatHostPort } from '../protocol/host-port.js';
import type { ChatDeps } from './hooks/use-chat.js';
import { setColour } from './format.js';
import { setWidthFit } from './safe.js';
import { AS_COUNTED, probeTerminal } from './terminal-width.js';

export interface UiOptions {
  connect?: string;
  locked: boolean;
  user?: string;
  network: string;
  dataDir: string;
  port: number;
  password?: string;
  networkPassword?: string;
  /** What the local node presents to hold a replica, when the network has a node password. */
  nodePassword?: string;
  logLevel: string;
  /** Where the UI (and its node) log: never over the screen. */
  logFile: string;
  reconnectTimeoutMs: number;
  bcryptCost: number;
  /** Where files sent to the user are saved. */
  downloadDir: string;
  /** The largest file the local node relays when it coordinates. */
  maxFileBytes: number;
  /** New accounts one address may register a minute at the local node when it coordinates. */
  registrationRate?: number;
}

// With the alternate screen: bracketed paste (a paste comes marked, so its line ends do not send it line by
// line) and focus reports (for the unread count in the title), both off again at the end.
const ENTER_ALT_SCREEN = '\x1b[?1049h\x1b[H\x1b[?2004h\x1b[?1004h';
const LEAVE_ALT_SCREEN = '\x1b[?1004l\x1b[?2004l\x1b[?1049l';
// The window title: the terminal's own is saved (xterm's title stack) before the first change, and put back.
const PUSH_TITLE = '\x1b[22;2t';
const POP_TITLE = '\x1b[23;2t';
const SHOW_CURSOR = '\x1b[?25h';
const STOP_DEADLINE_MS = 10_000;


/**
 * `lanchat`: starts a node on this machine (unless `--connect` or
 * `--locked`), then runs the chat UI on the alternate screen until the user
 * leaves. The terminal is restored however the process ends.
 */
export async function runUi(opts: UiOptions): Promise<number> {
  // NO_COLOR (non-empty) turns colours off; FORCE_COLOR wins over it, as chalk itself reads FORCE_COLOR.
  setColour(!(process.env.NO_COLOR ?? '') || (process.env.FORCE_COLOR ?? '') !== '');
  const log = createFileLogger(opts.logLevel, opts.logFile);
  const clientOnly = opts.connect !== undefined || opts.locked;
  const discovery = opts.locked ? undefined : new MdnsDiscovery(log.child({ component: 'mdns' }));
  // The local node starts while the UI draws its first screen (finding out whether the network already has
  // a coordinator takes a moment): it joins the list of networks when it is up.
  let node: Node | undefined;
  let nodeFailed: unknown;
  const nodeStarted = clientOnly
    ? Promise.resolve()
    : startNode(opts, log, discovery!).then(
        (n) => {
          node = n;
          scan?.refresh();
        },
        (err: unknown) => {
          // A node already runs from this data directory (a `lanchat serve`, another `lanchat`): use it, as a client.
          if ((err as Error).name === 'DataDirLockedError') return log.info({ err }, 'a node already runs here: opening the UI as a client');
          nodeFailed = err;
          leave();
        },
      );
  const local = (): { network: string; address: string }[] => {
    if (!node) return [];
    const host = servedAddresses('::')[0] ?? '127.0.0.1';
    return [{ network: opts.network, address: formatHostPort(host, node.relay.address.port) }];
  };
  // The live list of networks is for the connect screen: with --connect there is none (mDNS is then only
  // asked during a failover, for where the coordinator went).
  const scan = discovery && opts.connect === undefined ? new NetworkScan(discovery, local) : undefined;
  scan?.start();

  let titled = false;
  // A node remembers its network's succession itself (with its peers); a client-only UI does it here.
  const memory = clientOnly ? new SuccessionMemory(opts.dataDir, (err: unknown) => log.debug({ err }, 'could not remember the coordinator')) : undefined;
  const deps: ChatDeps = {
    log,
    bell: () => void process.stdout.write('\x07'),
    title: (text) => {
      if (!titled) say(PUSH_TITLE);
      titled = true;
      say(`\x1b]2;${text.replace(/[\p{Cc}]/gu, '')}\x07`);
    },
    reconnectTimeoutMs: opts.reconnectTimeoutMs,
    downloadDir: opts.downloadDir,
    trust: await trustIn(opts.dataDir, clientOnly),
    ...(discovery ? { discover: async (network: string) => (await findCoordinator(network, { discovery, dataDir: opts.dataDir })).addresses } : {}),
    ...(memory ? { remember: (network, s) => memory.remember(network, s) } : {}),
  };

  // The terminal can go away under us (its window closed: SIGHUP, then EIO or EPIPE on every write). Then
  // nothing more is drawn, and the UI ends as if the user had left: the local node still hands off.
  let terminalGone = false;
  let leave: () => void = () => undefined;
  const gone = (err: NodeJS.ErrnoException): boolean => err?.code === 'EIO' || err?.code === 'EPIPE' || err?.code === 'ENXIO';
  const onTerminalError = (err: NodeJS.ErrnoException): void => {
    if (!gone(err)) return crash(err);
    if (!terminalGone) log.info({ code: err.code }, 'the terminal went away: leaving');
    terminalGone = true;
    leave();
  };
  process.stdout.on('error', onTerminalError);
  process.stdin.on('error', onTerminalError);
  const say = (text: string): void => {
    if (!terminalGone) process.stdout.write(text);
  };
  let restored = false;
  const restore = (): void => {
    if (restored) return;
    restored = true;
    try {
      if (process.stdin.isTTY) process.stdin.setRawMode(false);
    } catch {
      // a terminal already gone cannot be reset
    }
    say(SHOW_CURSOR + LEAVE_ALT_SCREEN + (titled ? POP_TITLE : ''));
  };
  process.on('exit', restore);
  const crash = (err: unknown): void => {
    restore();
    log.fatal({ err }, 'crashed');
    process.stderr.write(`lanchat: crashed: ${(err as Error)?.stack ?? String(err)}\n(log: ${opts.logFile})\n`);
    process.exit(1);
  };
  process.on('uncaughtException', crash);
  process.on('unhandledRejection', crash);

  process.stdout.write(ENTER_ALT_SCREEN);
  // Emoji sequences this terminal draws wider or narrower than string-width counts them: asked once, here.
  setWidthFit(await probeTerminal(process.stdin, process.stdout).catch(() => AS_COUNTED));
  let code = 0;
  const quitRef: { current?: () => void } = {};
  const instance = render(
    <App
      deps={deps}
      locked={opts.locked}
      network={opts.network}
      {...(scan ? { scan } : {})}
      {...(opts.connect ? { address: opts.connect } : {})}
      {...(opts.user ? { user: opts.user } : {})}
      {...(opts.password ? { password: opts.password } : {})}
      {...(opts.networkPassword ? { networkPassword: opts.networkPassword } : {})}
      alone={() => (node && lanAddresses().length === 0 ? { port: node.relay.address.port } : undefined)}
      onExit={(c) => void (code = c)}
      quitRef={quitRef}
    />,
    { exitOnCtrlC: false },
  );
  log.info({ uptimeMs: Math.round(process.uptime() * 1000) }, 'first screen drawn');
  // SIGHUP (the terminal closed), SIGTERM, SIGINT: leave as /quit does (the session closed, so the others
  // see a leave at once), handing the local node off. A second signal while that runs ends the process at once.
  let leaving = false;
  leave = (): void => {
    if (leaving) return;
    leaving = true;
    if (quitRef.current) quitRef.current();
    else instance.unmount();
  };
  if (nodeFailed !== undefined) leave(); // the node failed while the terminal was being asked
  const onSignal = (signal: NodeJS.Signals): void => {
    if (leaving) process.exit(code || 128 + (signal === 'SIGINT' ? 2 : signal === 'SIGHUP' ? 1 : 15));
    log.info({ signal }, 'signal: leaving');
    leave();
  };
  for (const signal of ['SIGTERM', 'SIGHUP', 'SIGINT'] as const) process.on(signal, onSignal);
  try {
    await instance.waitUntilExit();
  } catch (err) {
    log.error({ err }, 'the UI failed'); // the node still hands off below
    code = 1;
  }
  leaving = true; // a signal from now on (during the hand-off) ends at once
  restore();
  scan?.stop();

  // However long the hand-off takes, the process goes within a bound: nobody may be left to send a second signal.
  const deadline = setTimeout(() => {
    log.warn('stopping took too long: exiting');
    process.exit(code);
  }, STOP_DEADLINE_MS);
  deadline.unref();
  await nodeStarted; // a node still starting is stopped below like one that runs
  if (nodeFailed !== undefined) {
    clearTimeout(deadline);
    await discovery?.stop();
    throw nodeFailed;
  }
  if (node) {
    say('stopping the local node (handing off to a standby)…\n');
    await node.stop();
  } else await discovery?.stop();
  await memory?.settled();
  clearTimeout(deadline);
  return code;
}

async function startNode(opts: UiOptions, log: Logger, discovery: MdnsDiscovery): Promise<Node> {
  const base = {
    dataDir: opts.dataDir,
    host: '::',
    network: opts.network,
    bcryptCost: opts.bcryptCost,
    limits: { maxFileBytes: opts.maxFileBytes },
    ...(opts.registrationRate === undefined ? {} : { registrationRate: opts.registrationRate }),
    discovery,
    ...(opts.networkPassword === undefined ? {} : { networkPassword: opts.networkPassword }),
    ...(opts.nodePassword === undefined ? {} : { nodePassword: opts.nodePassword }),
  };
  let node: Node;
  try {
    node = await Node.start({ ...base, port: opts.port }, log);
  } catch (err) {
    // Another lanchat (a `serve`) holds the usual port on this machine: any free port will do.
    if ((err as Error).name !== 'ListenError' || opts.port === 0) throw err;
    node = await Node.start({ ...base, port: 0 }, log);
  }
  const host = servedAddresses('::')[0];
  if (host) node.setAdvertisedHost(host);
  return node;
}
