import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { ConfigError, applyConfig, envName, fromEnv } from '../src/config-file.js';
import { defaultConfigFile } from '../src/defaults.js';
import { Proc } from './helpers/processes.js';
import { tmpDir } from './helpers/tmp.js';

// Issue #15: `serve` reads a config file, and every option may come from a LANCHAT_* variable.

function command(): Command {
  const int = (v: string): number => {
    if (!/^\d+$/.test(v) || Number(v) > 1000) throw new InvalidArgumentError('expected an integer from 0 to 1000');
    return Number(v);
  };
  const cmd = new Command('serve')
    .exitOverride()
    .option('--config <file>')
    .addOption(fromEnv(new Option('--priority <n>', 'p').argParser(int).default(0)))
    .addOption(fromEnv(new Option('--network <name>', 'n').default('default')))
    .addOption(fromEnv(new Option('--join <host:port>', 'j').argParser((v: string, prev: string[]) => [...prev, v]).default([])))
    .addOption(fromEnv(new Option('--locked', 'l')))
    .addOption(fromEnv(new Option('--no-coordinator', 'c')))
    .addOption(fromEnv(new Option('--log-level <level>').choices(['warn', 'info']).default('warn')))
    .action(() => undefined);
  return cmd;
}

function run(config: unknown, argv: string[] = [], env: Record<string, string> = {}): Record<string, unknown> {
  const dir = tmpDir(t);
  const file = join(dir, 'config.json');
  writeFileSync(file, typeof config === 'string' ? config : JSON.stringify(config));
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    const cmd = command();
    cmd.hook('preAction', (c) => applyConfig(c, file, true));
    cmd.parse(argv, { from: 'user' });
    return cmd.opts();
  } finally {
    for (const k of Object.keys(env)) if (saved[k] === undefined) delete process.env[k];
  }
}

t.test('values go through the options\' own parsers; the command line and the environment win over the file', async (t) => {
  t.match(run({ priority: 7, network: 'lab', join: ['10.0.0.2:7777', '10.0.0.3:7777'], locked: true, coordinator: false, logLevel: 'info' }), { priority: 7, network: 'lab', join: ['10.0.0.2:7777', '10.0.0.3:7777'], locked: true, coordinator: false, logLevel: 'info' });
  t.match(run({ priority: 7 }, ['--priority', '9']), { priority: 9 }, 'the command line first');
  t.match(run({ network: 'lab' }, [], { LANCHAT_NETWORK: 'office' }), { network: 'office' }, 'then the environment');
  t.match(run({ priority: '8' }), { priority: 8 }, 'a number may be written as text, as on the command line');
  t.match(run({}), { priority: 0, network: 'default', coordinator: true }, 'an empty file changes nothing');
});

t.test('a bad file is one clear error naming the file, the option and the rule', async (t) => {
  const cases: [unknown, RegExp][] = [
    [{ priority: 5000 }, /"priority": expected an integer from 0 to 1000/],
    [{ prority: 5 }, /unknown option "prority"; the options are priority, network, join, locked, coordinator, logLevel/],
    [{ locked: 'yes' }, /"locked": expected true or false/],
    [{ logLevel: 'loud' }, /"logLevel": expected one of warn, info/],
    [{ join: '10.0.0.2:7777' }, /"join": expected a list/],
    [{ network: { name: 'lab' } }, /"network": expected a string/],
    ['{"priority": 5,', /not JSON/],
    ['[1, 2]', /expected an object of options/],
    ['x'.repeat(70_000), /a config file may hold at most 65536/],
  ];
  for (const [config, message] of cases) t.throws(() => run(config), { name: 'ConfigError', message }, String(message));
  t.throws(() => applyConfig(command(), '/nonexistent/config.json', true), ConfigError, 'a named file must exist');
  t.doesNotThrow(() => applyConfig(command(), '/nonexistent/config.json', false), 'the default one need not');
});

t.test('names: LANCHAT_ and the long option; the file under XDG_CONFIG_HOME', async (t) => {
  const cmd = command();
  t.same(cmd.options.filter((o) => o.envVar !== undefined).map((o) => o.envVar), ['LANCHAT_PRIORITY', 'LANCHAT_NETWORK', 'LANCHAT_JOIN', 'LANCHAT_LOCKED', 'LANCHAT_NO_COORDINATOR', 'LANCHAT_LOG_LEVEL']);
  t.equal(envName(new Option('--max-file-size <size>')), 'LANCHAT_MAX_FILE_SIZE');
  t.equal(defaultConfigFile({ XDG_CONFIG_HOME: '/etc/x' }), '/etc/x/lanchat/config.json');
});

t.test('serve with a config file and the environment, as a service would run it', async (t) => {
  const dir = tmpDir(t);
  const config = join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({ network: 'lab', host: '127.0.0.1', port: 0, locked: true, bcryptCost: 4, dataDir: join(dir, 'data') }));
  const p = new Proc(['serve', '--config', config]);
  t.teardown(() => p.kill('SIGKILL'));
  await p.line(/coordinator for network "lab" at 127\.0\.0\.1:\d+/);
  p.kill('SIGTERM');
  t.equal(await p.exited(), 0);
  // The environment over the file (a fresh data directory: a node's network is its own once founded).
  const q = new Proc(['serve', '--config', config, '--data-dir', join(dir, 'data2')], { LANCHAT_NETWORK: 'office' });
  t.teardown(() => q.kill('SIGKILL'));
  await q.line(/coordinator for network "office" at 127\.0\.0\.1:\d+/);
  q.kill('SIGTERM');
  t.equal(await q.exited(), 0);
  writeFileSync(config, JSON.stringify({ port: 'seventy' }));
  const bad = new Proc(['serve', '--config', config]);
  t.equal(await bad.exited(), 2, 'a bad config is a usage error');
  t.match(bad.stderr.join('\n'), /config\.json: "port": expected an integer from 0 to 65535/);
});
