import { pino, type Logger } from 'pino';

/** Log levels accepted by `--log-level`. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** A pino logger writing JSON lines to stderr (fd 2): stdout belongs to the command's own output. */
export function createLogger(level: string, name = 'lanchat'): Logger {
  return pino({ name, level }, pino.destination({ fd: 2, sync: true }));
}
