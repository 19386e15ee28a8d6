import { readFileSync } from 'node:fs';
import type { Command, Option } from 'commander';

/** A config file larger than this is refused (a node's options fit in a few hundred bytes). */
const MAX_CONFIG_BYTES = 64 * 1024;

/** The environment variable of an option: `LANCHAT_` and its long name, `--max-file-size` → `LANCHAT_MAX_FILE_SIZE`. */
export function envName(option: Option): string {
  return `LANCHAT_${option.long!.replace(/^--/, '').replace(/-/g, '_').toUpperCase()}`;
}

/**
 * The option, also read from its `LANCHAT_*` variable (`commander` checks it with the option's own parser;
 * a flag is set by the variable's presence). Before `addOption`: commander listens for it only then.
 */
export function fromEnv(option: Option): Option {
  return option.env(envName(option));
}

/** A config file that cannot be used: said as one line (a usage error). */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/**
 * Applies a JSON config file to `cmd`'s options (issue #15): an object whose keys are the options' names in
 * camelCase (`"maxFileSize": "2GiB"`, `"join": ["10.0.0.2:7777"]`, `"coordinator": false` for
 * `--no-coordinator`), each value checked by the same parser as on the command line. Only options still at
 * their default are set, so the command line and then the environment win over the file. A missing file is
 * fine unless it was named (`required`).
 */
export function applyConfig(cmd: Command, file: string, required: boolean): void {
  let text: string;
  try {
    const buf = readFileSync(file);
    if (buf.length > MAX_CONFIG_BYTES) throw new ConfigError(`${file}: ${buf.length} bytes; a config file may hold at most ${MAX_CONFIG_BYTES}`);
    text = buf.toString('utf8');
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !required) return;
    throw new ConfigError(`cannot read ${file}: ${code ?? (err as Error).message}`);
  }
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`${file}: not JSON (${(err as Error).message})`);
  }
  if (typeof config !== 'object' || config === null || Array.isArray(config)) throw new ConfigError(`${file}: expected an object of options, e.g. {"network": "lab", "priority": 10}`);
  const byKey = new Map<string, Option>();
  for (const o of cmd.options) if (o.long !== undefined && o.long !== '--help' && o.long !== '--config') byKey.set(o.attributeName(), o);
  for (const [key, value] of Object.entries(config)) {
    const option = byKey.get(key);
    if (option === undefined) throw new ConfigError(`${file}: unknown option "${key}"; the options are ${[...byKey.keys()].join(', ')}`);
    const source = cmd.getOptionValueSource(key);
    if (source !== undefined && source !== 'default') continue; // given on the command line or in the environment
    cmd.setOptionValueWithSource(key, parse(option, key, value, file), 'config');
  }
}

/** A config value through the option's own rules: its parser, its choices, a flag's true or false. */
function parse(option: Option, key: string, value: unknown, file: string): unknown {
  const bad = (why: string): ConfigError => new ConfigError(`${file}: "${key}": ${why}`);
  if (!option.required && !option.optional) {
    // A flag: `"locked": true`; a negated one by its attribute, `"coordinator": false` for --no-coordinator.
    if (typeof value !== 'boolean') throw bad('expected true or false');
    return value;
  }
  const one = (v: unknown, previous: unknown): unknown => {
    if (typeof v !== 'string' && typeof v !== 'number') throw bad(`expected ${option.parseArg ? 'a value' : 'a string'}, as on the command line (${option.flags})`);
    const text = String(v);
    if (option.argChoices && !option.argChoices.includes(text)) throw bad(`expected one of ${option.argChoices.join(', ')}`);
    if (option.parseArg === undefined) return text;
    try {
      return option.parseArg(text, previous);
    } catch (err) {
      throw bad((err as Error).message);
    }
  };
  // A repeatable option (--join) takes a list, each element as one use of the option.
  if (Array.isArray(option.defaultValue)) {
    if (!Array.isArray(value)) throw bad('expected a list');
    return value.reduce<unknown>((previous, v) => one(v, previous), []);
  }
  return one(value, option.defaultValue);
}
