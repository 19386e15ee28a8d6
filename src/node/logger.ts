import { mkdirSync, renameSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { pino, type Logger } from 'pino';

/** A pino logger writing JSON lines to stderr (fd 2): stdout belongs to the command's own output. */
export function createLogger(level: string, name = 'lanchat'): Logger {
  return pino({ name, level }, pino.destination({ fd: 2, sync: true }));
}

/** A log file grows to this, then is moved to `FILE.1` (the one before is dropped) and begun anew: ≤ 2 × this on disk. */
export const LOG_FILE_MAX_BYTES = 5 * 1024 * 1024;

/**
 * A pino logger writing JSON lines to `file` (its directory made owner-only), synchronously (a crash's last
 * words are on disk), bounded in size: past `maxBytes` the file becomes `FILE.1` and a new one begins.
 */
export function createFileLogger(level: string, file: string, maxBytes = LOG_FILE_MAX_BYTES): Logger {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  let size = sizeOf(file);
  if (size > maxBytes) (rotate(file), (size = 0));
  const dest = pino.destination({ dest: file, sync: true, mkdir: true });
  const stream = {
    write(line: string): void {
      dest.write(line);
      size += Buffer.byteLength(line);
      if (size <= maxBytes) return;
      rotate(file);
      dest.reopen();
      size = 0;
    },
  };
  return pino({ name: 'lanchat', level }, stream);
}

function sizeOf(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

function rotate(file: string): void {
  try {
    renameSync(file, `${file}.1`);
  } catch {
    // gone already (another process rotated it): the reopen makes a new one all the same
  }
}
