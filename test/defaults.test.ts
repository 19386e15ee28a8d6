import t from 'tap';
import { mkdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { defaultDataDir, defaultDownloadDir, defaultLogFile } from '../src/defaults.js';
import { tmpDir } from './helpers/tmp.js';

// Issue #15: lanchat keeps things where the XDG base directories say.

t.test('data under XDG_DATA_HOME, the UI log under XDG_STATE_HOME; an empty variable counts as unset', async (t) => {
  t.equal(defaultDataDir({ XDG_DATA_HOME: '/x/data' }), '/x/data/lanchat');
  t.equal(defaultDataDir({ XDG_DATA_HOME: '' }), join(homedir(), '.local/share/lanchat'));
  t.equal(defaultLogFile({ XDG_STATE_HOME: '/x/state' }), '/x/state/lanchat/lanchat.log');
  t.equal(defaultLogFile({}), join(homedir(), '.local/state/lanchat/lanchat.log'));
});

t.test('downloads go to the user download folder: XDG_DOWNLOAD_DIR, else user-dirs.dirs, else ~/Downloads', async (t) => {
  const config = tmpDir(t);
  t.equal(defaultDownloadDir({ XDG_CONFIG_HOME: config }), join(homedir(), 'Downloads/lanchat'), 'no user-dirs.dirs');
  t.equal(defaultDownloadDir({ XDG_DOWNLOAD_DIR: '/data/dl', XDG_CONFIG_HOME: config }), '/data/dl/lanchat', 'the environment first');
  mkdirSync(config, { recursive: true });
  writeFileSync(join(config, 'user-dirs.dirs'), '# written by xdg-user-dirs-update\nXDG_DESKTOP_DIR="$HOME/Bureau"\nXDG_DOWNLOAD_DIR="$HOME/Téléchargements"\n');
  t.equal(defaultDownloadDir({ XDG_CONFIG_HOME: config }), join(homedir(), 'Téléchargements/lanchat'), 'as the desktop keeps it, in the user\'s language');
  writeFileSync(join(config, 'user-dirs.dirs'), 'XDG_DOWNLOAD_DIR="/srv/incoming"\n');
  t.equal(defaultDownloadDir({ XDG_CONFIG_HOME: config }), '/srv/incoming/lanchat', 'an absolute path');
  // "$HOME/" alone means downloads are disabled (the folder is the home itself): not the home then.
  writeFileSync(join(config, 'user-dirs.dirs'), 'XDG_DOWNLOAD_DIR="$HOME/"\n');
  t.equal(defaultDownloadDir({ XDG_CONFIG_HOME: config }), join(homedir(), 'Downloads/lanchat'));
  writeFileSync(join(config, 'user-dirs.dirs'), 'XDG_DOWNLOAD_DIR="relative/path"\n');
  t.equal(defaultDownloadDir({ XDG_CONFIG_HOME: config }), join(homedir(), 'Downloads/lanchat'), 'a relative path is not taken');
});
