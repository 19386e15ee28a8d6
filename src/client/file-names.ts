import { constants } from 'node:fs';
import { copyFile, link, mkdir, open, readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';

/** Longest saved name, in UTF-8 bytes (file systems allow 255; room is left for " (12)"). */
export const MAX_NAME_BYTES = 200;
const MAX_COPIES = 10_000;
/** Names Windows reserves, whatever the extension (the folder may be shared with it). */
const RESERVED = /^(con|prn|aux|nul|com\d|lpt\d)(\..*)?$/i;

/**
 * Makes a name offered by another user safe to create in the download folder
 * (issue #6): no path (each `/` or `\` part that is empty, `.` or `..` is
 * dropped, the rest joined with `_`), no control or bidirectional-override
 * characters, no characters Windows refuses, no run of dots, no leading dot or
 * space, at most MAX_NAME_BYTES bytes with the extension kept. Never empty.
 */
export function sanitizeFileName(offered: string): string {
  const parts = offered.split(/[/\\]+/).filter((p) => p !== '' && p !== '.' && p !== '..');
  let name = parts
    .join('_')
    .normalize('NFC')
    // Control characters (newlines included), DEL, C1 controls, bidi overrides and isolates, zero-width marks.
    .replace(/[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g, '_')
    .replace(/[<>:"|?*]/g, '_')
    .replace(/\.{2,}/g, '.')
    .replace(/^[\s.]+/, '')
    .replace(/[\s.]+$/, '');
  if (RESERVED.test(name)) name = `_${name}`;
  name = truncateKeepingExtension(name, MAX_NAME_BYTES);
  return name === '' ? 'file' : name;
}

/** `photo.jpg`, `photo (1).jpg`, `photo (2).jpg`, … */
export function numberedName(name: string, n: number): string {
  if (n === 0) return name;
  const dot = name.lastIndexOf('.');
  return dot > 0 ? `${name.slice(0, dot)} (${n})${name.slice(dot)}` : `${name} (${n})`;
}

/**
 * Gives the finished temporary file `tmp` its final name in `dir`: `name`, or
 * the first free `name (n)`. Never replaces an existing file: a hard link
 * fails when the name is taken (and is atomic); where the file system has no
 * hard links, an exclusive copy does the same. Returns the path.
 */
export async function saveUnder(tmp: string, dir: string, name: string): Promise<string> {
  for (let n = 0; n < MAX_COPIES; n++) {
    const target = join(dir, numberedName(name, n));
    try {
      await link(tmp, target);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') continue;
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EXDEV' && code !== 'ENOSYS') throw err;
      try {
        await copyFile(tmp, target, constants.COPYFILE_EXCL);
      } catch (copyErr) {
        if ((copyErr as NodeJS.ErrnoException).code === 'EEXIST') continue;
        throw copyErr;
      }
    }
    await unlink(tmp).catch(() => undefined);
    await syncDir(dir);
    return target;
  }
  throw new Error(`${MAX_COPIES} files called ${name} already`);
}

/** A temporary file untouched this long belongs to no live transfer (those write or stop within a minute). */
const STALE_PART_MS = 60 * 60 * 1000;

/**
 * Removes `.lanchat-*.part` files that a client killed mid-transfer left in `dir`. Only old ones: another
 * client may be receiving into the same folder right now. Failures are logged, never fatal.
 */
export async function removeStaleParts(dir: string, log: { warn(obj: object, msg: string): void }, now = Date.now()): Promise<void> {
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    if (!/^\.lanchat-[0-9a-f]{32}\.part$/.test(name)) continue;
    const path = join(dir, name);
    try {
      if (now - (await stat(path)).mtimeMs > STALE_PART_MS) await unlink(path);
    } catch (err) {
      log.warn({ err, path }, 'could not remove a stale temporary file');
    }
  }
}

/** Creates the download folder (and its parents) when missing. */
export async function ensureDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r').catch(() => undefined);
  if (fh === undefined) return;
  await fh.sync().catch(() => undefined); // not every file system syncs directories
  await fh.close();
}

function truncateKeepingExtension(name: string, maxBytes: number): string {
  if (Buffer.byteLength(name) <= maxBytes) return name;
  const dot = name.lastIndexOf('.');
  const ext = dot > 0 && name.length - dot <= 16 ? name.slice(dot) : '';
  const stem = [...name.slice(0, name.length - ext.length)];
  let budget = maxBytes - Buffer.byteLength(ext);
  let out = '';
  for (const ch of stem) {
    const size = Buffer.byteLength(ch);
    if (size > budget) break;
    out += ch;
    budget -= size;
  }
  return out.replace(/[\s.]+$/, '') + ext;
}
