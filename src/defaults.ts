import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, normalize } from 'node:path';

// Where lanchat keeps things by default (the XDG base directories), and what else the command line needs to
// describe its options without loading the program.

/** Log levels accepted by `--log-level`. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** A node's data and the client's remembered networks: `$XDG_DATA_HOME/lanchat`, else `~/.local/share/lanchat`. */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_DATA_HOME || join(homedir(), '.local', 'share'), 'lanchat');
}

/** The terminal UI's log (state, not data): `$XDG_STATE_HOME/lanchat/lanchat.log`, else `~/.local/state/lanchat/lanchat.log`. */
export function defaultLogFile(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_STATE_HOME || join(homedir(), '.local', 'state'), 'lanchat', 'lanchat.log');
}

/** `serve`'s config file unless `--config` says: `$XDG_CONFIG_HOME/lanchat/config.json`, else `~/.config/lanchat/config.json`. */
export function defaultConfigFile(env: NodeJS.ProcessEnv = process.env): string {
  return join(configHome(env), 'lanchat', 'config.json');
}

/**
 * Where received files go: `lanchat` in the user's download folder — `XDG_DOWNLOAD_DIR` from the environment,
 * else from `$XDG_CONFIG_HOME/user-dirs.dirs` (where desktops keep it, often in the user's language), else
 * `~/Downloads`.
 */
export function defaultDownloadDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_DOWNLOAD_DIR || userDirsDownload(env) || join(homedir(), 'Downloads'), 'lanchat');
}

/** XDG_DOWNLOAD_DIR as user-dirs.dirs says (`XDG_DOWNLOAD_DIR="$HOME/Téléchargements"`), or undefined. */
function userDirsDownload(env: NodeJS.ProcessEnv): string | undefined {
  let text: string;
  try {
    text = readFileSync(join(configHome(env), 'user-dirs.dirs'), 'utf8');
  } catch {
    return undefined;
  }
  const m = /^XDG_DOWNLOAD_DIR="([^"\n]*)"/m.exec(text);
  if (!m) return undefined;
  // The file's format: an absolute path, or one relative to $HOME written "$HOME/…" (the only variable allowed).
  const raw = m[1]!.replace(/^\$HOME(?=\/|$)/, homedir());
  if (!raw.startsWith('/')) return undefined;
  const path = normalize(raw).replace(/(?<=.)\/+$/, '');
  return path === homedir() ? undefined : path; // the home itself: downloads switched off by the desktop, so our own default
}

/** `$XDG_CONFIG_HOME`, else `~/.config`. */
function configHome(env: NodeJS.ProcessEnv): string {
  return env.XDG_CONFIG_HOME || join(homedir(), '.config');
}
