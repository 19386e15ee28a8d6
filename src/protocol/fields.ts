import { z } from 'zod';
import { USERNAME_RE } from './limits.js';
import { ERROR_CODES } from './errors.js';

/** A username as typed; uniqueness is case-insensitive (see `userKey`). */
export const Username = z.string().regex(USERNAME_RE, ERROR_CODES.invalid_username);

/** A client-chosen idempotency key for a send (a UUID in our clients). */
export const ClientMessageId = z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/);

/** A node id: 16 hex digits. */
export const NodeId = z.string().regex(/^[0-9a-f]{16}$/);

/** `host:port` (IPv4, name, or [IPv6]). */
export const HostPort = z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]{1,253}):\d{1,5}$/);

/** A version vector on the wire: [origin, highest seq] pairs. */
export const VersionVector = z.array(z.tuple([z.string().min(1).max(64), z.number().int().nonnegative()])).max(10_000);

/** A network's name as nodes announce it (`--network`, mDNS TXT `net`, `peer:hello`, `/status`). */
export const NetworkName = z.string().regex(/^[A-Za-z0-9_.-]{1,32}$/);

export { formatHostPort } from './host-port.js';
