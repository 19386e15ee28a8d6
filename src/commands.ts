import { tuneHeap } from './node/heap-tuning.js'; // first: see there
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { LOG_LEVELS, defaultConfigFile, defaultDataDir, defaultDownloadDir, defaultLogFile } from './defaults.js';
import { ConfigError, applyConfig, fromEnv } from './config-file.js';
import { servedAddresses } from './discovery/interfaces.js';
import { formatHostPort } from './protocol/host-port.js';
import { DEFAULT_BCRYPT_COST } from './store/bcrypt-cost.js';
import { USERNAME_RE } from './protocol/limits.js';
import { ProtocolError } from './protocol/errors.js';
import { DEFAULT_LIMITS } from './protocol/limits.js';
import { parseBytes } from './protocol/units.js';
import type { Node as LanchatNode } from './node/node.js';

// The commands' own modules (the node, TLS and certificates, mDNS, the JSON client, pino) load when a command
// runs, not for `--help`, `--version` or a usage error.
const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };

/** A user-facing failure: printed as one line, no stack trace. */
class UsageError extends Error {}

function intOption(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min || n > max) throw new InvalidArgumentError(`expected an integer from ${min} to ${max}`);
    return n;
  };
}

/** `--max-file-size`: bytes, or with a unit (100MiB, 1.5G, 500KB). */
function sizeOption(value: string): number {
  const n = parseBytes(value);
  if (n === undefined || n > Number.MAX_SAFE_INTEGER) throw new InvalidArgumentError('expected a size such as 100MiB, 2G or 500000 (bytes)');
  return n;
}

/** `lanchat serv`: an unknown command, said with the nearest real one (exit 2, like any usage error). */
function unknownCommand(word: string): never {
  const names = [...program.commands.map((c) => c.name()), 'help'];
  const near = names.filter((n) => n.startsWith(word.toLowerCase()) || editDistance(word.toLowerCase(), n) <= 2);
  return program.error(`error: unknown command '${word}'${near.length > 0 ? ` (did you mean ${near.join(' or ')}?)` : ''}; the commands are ${names.slice(0, -1).join(', ')} and ${names.at(-1)}`, { code: 'commander.unknownCommand', exitCode: 2 });
}

/** Levenshtein distance, for suggesting a command name. */
function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length]!;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, hostPort(value)];
}

function hostPort(value: string): string {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:\s]+):(\d{1,5})$/.exec(value);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new InvalidArgumentError('expected HOST:PORT, e.g. 192.168.1.10:7777');
  return value;
}

/** Reads a secret from a file (first line, trailing newline stripped) or an environment variable. */
function secret(file: string | undefined, env: string): string | undefined {
  if (file !== undefined) {
    let first: string;
    try {
      first = readFileSync(file, 'utf8').split(/\r?\n/)[0] ?? '';
    } catch (err) {
      throw new UsageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    // An empty password would mean none at all: never open a network the user meant to close.
    if (first === '') throw new UsageError(`${file} holds no password: put it on the first line`);
    return first;
  }
  return process.env[env] || undefined;
}

const program = new Command('lanchat')
  .description('Zero-configuration chat for a local network.\nWithout a command: start a node on this machine and open the chat UI.')
  .version(version, '-V, --version')
  .showHelpAfterError('(run with --help for usage)')
  .enablePositionalOptions() // the UI's options go before a command; `serve` and `client` have their own
  .exitOverride() // usage errors reach the catch below and exit 2; inherited by the sub-commands
  .helpCommand('help [command]', 'show help for a command') // `lanchat help serve`, as git and npm users expect
  .allowExcessArguments() // a word that is no command reaches the action, which says so (see unknownCommand)
  .option('--connect <host:port>', 'open the UI as a client of this coordinator (no local node, no discovery)', hostPort)
  .option('--locked', 'locked-down mode: no mDNS at all, no local node; type the address in the UI')
  .option('--user <name>', 'username to log in with (with LANCHAT_PASSWORD set, logs in without asking)')
  .option('--network <name>', 'network of the local node', 'default')
  .option('--port <n>', 'TCP port of the local node (taken: any free one)', intOption(0, 65535), 7777)
  .option('--data-dir <dir>', 'where the node keeps its data and the UI its log', defaultDataDir())
  .option('--password-file <file>', 'file holding the password (else LANCHAT_PASSWORD)')
  .option('--network-password-file <file>', 'file holding the network password (else LANCHAT_NETWORK_PASSWORD)')
  .option('--node-password-file <file>', 'file holding the node password the local node needs to hold a replica (else LANCHAT_NODE_PASSWORD)')
  .option('--reconnect-timeout <s>', 'seconds to look for a new coordinator after losing one', intOption(1, 86_400), 3600)
  .option('--bcrypt-cost <n>', 'bcrypt cost for new password hashes (local node)', intOption(4, 31), DEFAULT_BCRYPT_COST)
  .option('--download-dir <dir>', 'where files sent to you are saved', defaultDownloadDir())
  .addOption(new Option('--max-file-size <size>', 'largest file the local node relays when it coordinates').argParser(sizeOption).default(DEFAULT_LIMITS.maxFileBytes, '100MiB'))
  .option('--registration-rate <n>', 'new accounts one address may register a minute at the local node (the network: ten times this)', intOption(1, 1_000_000), 5)
  .option('--log-file <file>', 'where the UI and its node log (at most 5 MiB, then it is moved to FILE.1)', defaultLogFile())
  .addOption(new Option('--log-level <level>', 'log level').choices(LOG_LEVELS).default('info'))
  .action(async (opts: { connect?: string; locked?: boolean; user?: string; network: string; port: number; dataDir: string; passwordFile?: string; networkPasswordFile?: string; nodePasswordFile?: string; reconnectTimeout: number; bcryptCost: number; downloadDir: string; maxFileSize: number; registrationRate: number; logFile: string; logLevel: string }) => {
    if (program.args.length > 0) unknownCommand(program.args[0]!);
    if (!process.stdout.isTTY || !process.stdin.isTTY) {
      throw new UsageError('the chat UI needs a terminal; from scripts and pipes use `lanchat client` (see lanchat client --help)');
    }
    if (opts.user !== undefined && !USERNAME_RE.test(opts.user)) throw new UsageError('--user: 1–32 letters, digits, "_", "." or "-"');
    if (!/^[A-Za-z0-9_.-]{1,32}$/.test(opts.network)) throw new UsageError('--network: 1–32 letters, digits, "_", "." or "-"');
    const password = secret(opts.passwordFile, 'LANCHAT_PASSWORD');
    const networkPassword = secret(opts.networkPasswordFile, 'LANCHAT_NETWORK_PASSWORD');
    const nodePassword = secret(opts.nodePasswordFile, 'LANCHAT_NODE_PASSWORD');
    // Ink goes quiet when it believes it runs in CI (a CI or CONTINUOUS_INTEGRATION variable: it would draw
    // nothing until exit). Here stdout is a terminal someone types into, so the screen must be drawn. Ink reads
    // the variables when it loads, hence before the import below.
    delete process.env['CI'];
    delete process.env['CONTINUOUS_INTEGRATION'];
    // React's development build (the default without NODE_ENV) records a performance measure per render and
    // never clears them: 30,000 entries and ~200 MB RSS after 2,000 messages. A person's UI runs the
    // production build, unless someone asks for development.
    process.env['NODE_ENV'] ??= 'production';
    // The CLI lets V8's heap grow to 4× what survives a GC, for a relay's throughput (node/heap-tuning.ts); a
    // person's UI (and the node beside it) is better served small: the old generation grows to 1.5× what
    // survives, and the young one keeps its first size (1 MiB semi-spaces, not 16: a render's garbage is
    // small). Set before Ink loads, which allocates the most. Measured in `npm run bench` (UI memory).
    tuneHeap('--heap-growing-percent=50');
    tuneHeap('--semi-space-growth-factor=1');
    const { runUi } = await import('./ui/run.js'); // Ink and React load only for the UI
    const code = await runUi({
      ...(opts.connect ? { connect: opts.connect } : {}),
      locked: opts.locked === true,
      ...(opts.user ? { user: opts.user } : {}),
      network: opts.network,
      dataDir: opts.dataDir,
      port: opts.port,
      ...(password ? { password } : {}),
      ...(networkPassword ? { networkPassword } : {}),
      ...(nodePassword ? { nodePassword } : {}),
      logLevel: opts.logLevel,
      logFile: opts.logFile,
      reconnectTimeoutMs: opts.reconnectTimeout * 1000,
      bcryptCost: opts.bcryptCost,
      downloadDir: opts.downloadDir,
      maxFileBytes: opts.maxFileSize,
      registrationRate: opts.registrationRate,
    });
    process.exit(code);
  });

const serve = program
  .command('serve')
  .allowExcessArguments(false) // the root's leniency (for its unknown-command message) is not inherited
  .description('run a node: it finds the coordinator of its network and stands by, or becomes it')
  .addOption(new Option('--config <file>', 'options from this JSON file (default: $XDG_CONFIG_HOME/lanchat/config.json when there is one)').env('LANCHAT_CONFIG'))
  .addOption(fromEnv(new Option('--port <n>', 'TCP port to listen on (0 = pick a free one)').argParser(intOption(0, 65535)).default(7777)))
  .addOption(fromEnv(new Option('--host <addr>', 'address to bind (:: is every address, IPv6 and IPv4; 0.0.0.0 every IPv4 one)').default('::')))
  .addOption(fromEnv(new Option('--data-dir <dir>', 'where accounts and messages are kept').default(defaultDataDir())))
  .addOption(fromEnv(new Option('--network <name>', 'network name, to run several chats on one LAN').default('default')))
  .addOption(fromEnv(new Option('--network-password-file <file>', 'file holding the network password (else LANCHAT_NETWORK_PASSWORD)')))
  .addOption(fromEnv(new Option('--node-password-file <file>', 'file holding the node password: only nodes that know it hold a replica (else LANCHAT_NODE_PASSWORD)')))
  .addOption(fromEnv(new Option('--join <host:port>', 'a node to contact besides those found by mDNS (repeatable)').argParser(collect).default([])))
  .addOption(fromEnv(new Option('--locked', 'locked-down mode: no mDNS at all; use --join to reach other nodes')))
  .addOption(fromEnv(new Option('--priority <n>', 'preference to coordinate (higher first)').argParser(intOption(0, 1000)).default(0)))
  .addOption(fromEnv(new Option('--no-coordinator', 'never coordinate and hold no replica')))
  .addOption(fromEnv(new Option('--bcrypt-cost <n>', 'bcrypt cost for new password hashes').argParser(intOption(4, 31)).default(DEFAULT_BCRYPT_COST)))
  .addOption(fromEnv(new Option('--max-message-rate <n>', 'messages per second one session may send').argParser(intOption(1, 1_000_000)).default(20)))
  .addOption(fromEnv(new Option('--registration-rate <n>', 'new accounts one address may register a minute (the network: ten times this)').argParser(intOption(1, 1_000_000)).default(5)))
  .addOption(fromEnv(new Option('--max-file-size <size>', 'largest file relayed (e.g. 100MiB, 2G); larger ones are refused before any data flows').argParser(sizeOption).default(DEFAULT_LIMITS.maxFileBytes, '100MiB')))
  .addOption(fromEnv(new Option('--log-level <level>', 'log level (logs go to stderr)').choices(LOG_LEVELS).default('warn')))
  .addHelpText('after', '\nEvery option may also come from its environment variable (--max-file-size: LANCHAT_MAX_FILE_SIZE) or the\nconfig file ({"maxFileSize": "2GiB"}); the command line wins over the environment, the environment over the file.')
  .action(async (opts: { port: number; host: string; dataDir: string; network: string; networkPasswordFile?: string; nodePasswordFile?: string; join: string[]; locked?: boolean; priority: number; coordinator: boolean; bcryptCost: number; maxMessageRate: number; registrationRate: number; maxFileSize: number; logLevel: string }) => {
    const [{ createLogger }, { Node }, { MdnsDiscovery }] = await Promise.all([import('./node/logger.js'), import('./node/node.js'), import('./discovery/mdns.js')]);
    if (!/^[A-Za-z0-9_.-]{1,32}$/.test(opts.network)) throw new UsageError('--network: 1–32 letters, digits, "_", "." or "-"');
    const log = createLogger(opts.logLevel);
    const networkPassword = secret(opts.networkPasswordFile, 'LANCHAT_NETWORK_PASSWORD');
    const nodePassword = secret(opts.nodePasswordFile, 'LANCHAT_NODE_PASSWORD');
    const discovery = opts.locked ? undefined : new MdnsDiscovery(log.child({ component: 'mdns' }));
    discovery?.once('error', (err) => console.error(`lanchat: ${err.message}; this node is not advertised: other nodes need --join HOST:PORT and clients --connect HOST:PORT`));
    // Signals are taken from the start: a SIGTERM while the node starts (a service manager stopping it at once),
    // or just after it said it serves, is the same graceful stop, never the default of dying on the spot.
    let running: LanchatNode | undefined;
    let signalled = false;
    const starting = new AbortController(); // a node that finds no role (e.g. --no-coordinator, alone) still stops
    const stopNode = (n: LanchatNode): void => {
      n.stop().then(
        () => process.exit(0),
        (err: unknown) => {
          log.error({ err }, 'unclean shutdown');
          process.exit(1);
        },
      );
    };
    const shutdown = (signal: string): void => {
      if (signalled) process.exit(130); // a second Ctrl+C: stop waiting
      signalled = true;
      console.log(`${signal}: shutting down`);
      if (running !== undefined) stopNode(running);
      else starting.abort(); // it stops once started (below)
    };
    process.on('SIGINT', () => shutdown('SIGINT'));
    process.on('SIGTERM', () => shutdown('SIGTERM'));
    // A closed terminal (or `systemctl kill -s HUP`): the same graceful stop, handing off to the successor. Not a
    // reload: a node's options come from its start, and a restart by its service manager is the way to change them.
    process.on('SIGHUP', () => shutdown('SIGHUP'));
    const node = await Node.start(
      {
        dataDir: opts.dataDir,
        host: opts.host,
        port: opts.port,
        network: opts.network,
        bcryptCost: opts.bcryptCost,
        maxMessageRate: opts.maxMessageRate,
        registrationRate: opts.registrationRate,
        limits: { maxFileBytes: opts.maxFileSize },
        priority: opts.priority,
        eligible: opts.coordinator,
        join: opts.join,
        ...(discovery ? { discovery } : {}),
        ...(networkPassword === undefined ? {} : { networkPassword }),
        ...(nodePassword === undefined ? {} : { nodePassword }),
      },
      log,
      starting.signal,
    );
    running = node;
    if (signalled) return stopNode(node);
    const { relay } = node;
    const { port } = relay.address;
    const addrs = servedAddresses(opts.host);
    node.setAdvertisedHost(addrs[0]!);
    const describeRole = (): void => {
      const r = node.role;
      if (r.role === 'coordinator') {
        for (const addr of addrs) console.log(`lanchat coordinator for network "${opts.network}" at ${formatHostPort(addr, port)} (term ${r.term}); identity ${node.identity.code}`);
      } else if (r.role === 'standby' || r.role === 'observer') {
        console.log(`lanchat ${r.role} for network "${opts.network}" at ${formatHostPort(addrs[0]!, port)}; coordinator at ${r.coordinator} (term ${r.term}); identity ${node.identity.code}`);
      } else console.log(`looking for the coordinator of network "${opts.network}"…`);
    };
    // A standby is announced once its coordinator has welcomed it (the 'role' event below).
    if (node.role.role === 'coordinator') describeRole();
    let last = node.role.role === 'coordinator' ? `${node.role.role} ${node.role.coordinator} ${node.role.term}` : '';
    node.on('role', (r) => {
      if (r.joining) return; // a standby is announced once its coordinator has welcomed it
      const now = `${r.role} ${r.coordinator} ${r.term}`;
      if (now !== last) describeRole();
      last = now;
    });
    if (networkPassword !== undefined) console.log('network password required from every client');
    if (nodePassword !== undefined) console.log('node password required from every node');
    relay.on('user:registered', (name, address) => console.log(`registered ${name} (from ${address})`));
    relay.on('user:joined', (name, address) => console.log(`${name} joined (from ${address})`));
    relay.on('user:left', (name) => console.log(`${name} left`));
    relay.on('error', (err) => log.error({ err }, 'relay error'));
  });

// serve: every option also as LANCHAT_* (fromEnv above), and from the config file (for a service: contrib/lanchat.service).
serve.hook('preAction', (cmd) => {
  const named = cmd.getOptionValue('config') as string | undefined;
  applyConfig(cmd, named ?? defaultConfigFile(), named !== undefined);
});

program
  .command('client')
  .allowExcessArguments(false)
  .description('a chat session speaking JSON lines: commands on stdin, events on stdout')
  .option('--connect <host:port>', 'coordinator address (default: find it with mDNS)', hostPort)
  .option('--network <name>', 'network to find by mDNS', 'default')
  .option('--locked', 'locked-down mode: no mDNS at all (needs --connect)')
  .option('--data-dir <dir>', 'where remembered coordinator addresses are kept', defaultDataDir())
  .option('--reconnect-timeout <s>', 'seconds to look for a new coordinator after losing one', intOption(1, 86_400), 60)
  .requiredOption('--user <name>', 'username')
  .option('--register', 'create the account first')
  .option('--download-dir <dir>', 'where files sent to this user are saved', defaultDownloadDir())
  .option('--password-file <file>', 'file holding the password (else LANCHAT_PASSWORD)')
  .option('--network-password-file <file>', 'file holding the network password (else LANCHAT_NETWORK_PASSWORD)')
  .addOption(new Option('--log-level <level>', 'log level (logs go to stderr)').choices(LOG_LEVELS).default('warn'))
  .addHelpText(
    'after',
    `
stdin, one JSON object a line:
  {"type":"send","text":"hi"}                       to everyone
  {"type":"send","text":"hi","to":["bob"],"id":1}   to bob only; "id" is echoed in the ack
  {"type":"file","path":"photo.jpg","to":["bob"]}  a file ("to" absent or empty = everyone online)
  {"type":"who"}   {"type":"quit"}                  end of input = quit once sends and files are done
stdout: ready, message, ack, presence, file-progress, file-sent, file, file-failed and error lines (see README).`,
  )
  .action(async (opts: { connect?: string; network: string; locked?: boolean; dataDir: string; reconnectTimeout: number; user: string; register?: boolean; downloadDir: string; passwordFile?: string; networkPasswordFile?: string; logLevel: string }) => {
    const [{ createLogger }, { runJsonClient }, { trustIn }, { MdnsDiscovery }, { findCoordinator }] = await Promise.all([
      import('./node/logger.js'),
      import('./client/json-client.js'),
      import('./client/trust.js'),
      import('./discovery/mdns.js'),
      import('./client/find-coordinator.js'),
    ]);
    if (opts.locked && !opts.connect) throw new UsageError('--locked needs --connect HOST:PORT: nothing is discovered in locked-down mode');
    if (!USERNAME_RE.test(opts.user)) throw new UsageError('--user: 1–32 letters, digits, "_", "." or "-"');
    const password = secret(opts.passwordFile, 'LANCHAT_PASSWORD');
    if (password === undefined || password === '') throw new UsageError('no password: set LANCHAT_PASSWORD or use --password-file');
    const networkPassword = secret(opts.networkPasswordFile, 'LANCHAT_NETWORK_PASSWORD');
    const log = createLogger(opts.logLevel);
    const discovery = opts.locked ? undefined : new MdnsDiscovery(log.child({ component: 'mdns' }));
    let mdnsProblem: string | undefined;
    discovery?.on('error', (err) => (mdnsProblem = err.message));
    const discover = async (): Promise<string[]> => {
      const { addresses, report } = await findCoordinator(opts.network, { ...(discovery ? { discovery } : {}), dataDir: opts.dataDir });
      if (addresses.length === 0 && !opts.connect) {
        log.warn(report, 'no coordinator found');
        throw new ProtocolError(
          'connection_failed',
          `no coordinator of network "${opts.network}" found: ${mdnsProblem ? `${mdnsProblem}; ` : ''}browsed mDNS for ${report.seconds.toFixed(1)} s on ${report.interfaces.join(', ') || 'loopback only'}` +
            `${report.remembered.length ? `, tried remembered ${report.remembered.join(', ')}` : ', nothing remembered'}; ` +
            'if multicast is blocked here, connect by address: lanchat client --connect HOST:PORT',
        );
      }
      return addresses;
    };
    const code = await runJsonClient(
      {
        ...(opts.connect ? { address: opts.connect } : {}),
        ...(opts.locked ? {} : { discover }),
        network: opts.network,
        reconnectTimeoutMs: opts.reconnectTimeout * 1000,
        user: opts.user,
        password,
        register: opts.register === true,
        downloadDir: opts.downloadDir,
        log,
        ...(networkPassword === undefined ? {} : { networkPassword }),
        trust: await trustIn(opts.dataDir),
      },
      { stdin: process.stdin, stdout: process.stdout },
      log,
      { dataDir: opts.dataDir, network: opts.network },
    );
    await discovery?.stop();
    process.exit(code);
  });

program.parseAsync().catch((err: unknown) => {
  if (err instanceof CommanderError) {
    // commander has printed the message (or the help, or the version) already.
    process.exit(err.exitCode === 0 ? 0 : 2);
  }
  const e = err as Error & { code?: string; syscall?: string };
  // Environment failures (a taken port, a bad data directory, a file we cannot read) are one line, no stack.
  const usage = e instanceof UsageError || e instanceof ConfigError;
  const known = usage || ['ListenError', 'CorruptDataError', 'DataDirLockedError', 'DataDirError'].includes(e.name) || e.syscall !== undefined;
  process.stderr.write(`lanchat: ${known ? e.message : String(e.stack ?? e)}\n`);
  process.exit(usage ? 2 : 1);
});
