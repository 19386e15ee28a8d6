import { randomBytes } from 'node:crypto';
import bcrypt from 'bcryptjs';
import type { Logger } from 'pino';
import { MAX_PASSWORD_BYTES } from '../protocol/limits.js';
import { ProtocolError } from '../protocol/errors.js';
import { nameSkeleton } from '../protocol/messages.js';
import type { Entry, NewEntry, UserEntry } from '../protocol/entries.js';
import type { ChatState } from '../core/chat-state.js';
import { BcryptPool } from './bcrypt-pool.js';
import { DEFAULT_BCRYPT_COST } from './bcrypt-cost.js';

/** Hashes at once: one worker thread each (the machines have 2 cores). */
const MAX_CONCURRENT_HASHES = 2;
/**
 * Three lines to the hashing threads (issue #14): checks of passwords from addresses that have not been
 * failing, checks from addresses that have (guessers, and whoever shares their address), and new hashes
 * (registrations, rehashes). A free thread goes to the first line in that order with work waiting; the
 * last two never hold more than one thread each, so neither a registration flood nor guessers on many
 * hosts make a good login wait for more than one hash. Beyond its queue, a request is `rate_limited`.
 */
const LINES = {
  check: { running: MAX_CONCURRENT_HASHES, queued: 64, busy: 'the server is busy checking passwords; try again shortly' },
  suspect: { running: 1, queued: 64, busy: 'the server is busy checking passwords; try again shortly' },
  // As many as the network's registration budget lets through at once by default (50): a class registering in
  // the same minute waits (≈ 0.23 s each, within the client's 15 s) instead of being told to come back.
  create: { running: 1, queued: 48, busy: 'the server is busy creating accounts; try again shortly' },
} as const;
/** Which line takes a free thread first. */
const PRIORITY = ['check', 'suspect', 'create'] as const;
type Line = keyof typeof LINES;

export interface CredentialDeps {
  /** Writes entries to the replicated log; resolves once they are durable and held by the successor. */
  append: (entries: NewEntry[]) => Promise<Entry[]>;
  state: ChatState;
  log: Logger;
  now?: () => number;
}

/**
 * A hash of nobody's password at `cost`, for unknown users: checking a password against it takes as long as
 * against a real hash of that cost (bcrypt hashes the password with the salt it reads, then compares), and it
 * never matches anything that matters (an unknown user fails whatever the result). A constant, not a hash
 * made at start: that started a hashing thread in every node at start-up (~120 ms of CPU and ~13 MiB).
 */
export function dummyHash(cost: number): string {
  return `$2b$${String(cost).padStart(2, '0')}$lanchat.dummy.hash.of.nobody.s.password.lanchat.dummy`;
}

/**
 * The credential store (DESIGN §7): accounts are `user` entries in the log,
 * holding only bcrypt hashes. Unknown user and wrong password fail the same
 * way and take the same time; hashes are upgraded at login when the cost
 * policy changes.
 */
export class CredentialStore {
  readonly #deps: CredentialDeps;
  readonly #cost: number;
  readonly #registering = new Set<string>();
  readonly #running = { check: 0, suspect: 0, create: 0 };
  readonly #pool = new BcryptPool(MAX_CONCURRENT_HASHES);
  readonly #waiting: Record<Line, (() => void)[]> = { check: [], suspect: [], create: [] };

  constructor(deps: CredentialDeps, options: { cost?: number } = {}) {
    const cost = options.cost ?? DEFAULT_BCRYPT_COST;
    if (!Number.isInteger(cost) || cost < 4 || cost > 31) throw new TypeError('bcrypt cost must be an integer from 4 to 31');
    this.#deps = deps;
    this.#cost = cost;
  }

  /** Creates an account. Throws `username_taken`, `password_too_long` or `rate_limited`. */
  async register(name: string, password: string): Promise<UserEntry> {
    checkPasswordLength(password);
    // Held by its skeleton meanwhile: `alice` and `aIice` registered at once cannot both get through.
    const key = nameSkeleton(name);
    if (this.#deps.state.user(name) !== undefined) throw new ProtocolError('username_taken');
    const like = this.#deps.state.lookalike(name);
    if (like !== undefined || this.#registering.has(key)) {
      throw new ProtocolError('username_taken', `"${name}" looks too much like ${like === undefined ? 'a name being registered' : `"${like}"`} (names differing only in case, I/l/1, o/0, rn/m or . _ - are one): choose another`);
    }
    this.#registering.add(key);
    try {
      const hash = await this.#hash(password);
      const now = (this.#deps.now ?? Date.now)();
      const account = randomBytes(8).toString('hex');
      const [entry] = await this.#deps.append([{ kind: 'user', name, hash, created: now, updated: now, account }]);
      return entry as UserEntry; // the store has applied it to the state
    } finally {
      this.#registering.delete(key);
    }
  }

  /**
   * Checks a password. Throws `auth_failed` for an unknown user or a wrong password alike. `suspect`: it
   * comes from an address that has been failing, and waits behind the checks of those that have not.
   */
  async verify(name: string, password: string, suspect = false): Promise<UserEntry> {
    const line = suspect ? 'suspect' : 'check';
    checkPasswordLength(password);
    const user = this.#deps.state.user(name);
    // Compare against a dummy hash for unknown users so both failures take the same time (DESIGN §7).
    const hash = user?.hash ?? dummyHash(this.#cost);
    const ok = await this.#limited(line, () => this.#pool.compare(password, hash));
    if (!ok || user === undefined) {
      for (const lost of this.#deps.state.displaced(name)) {
        if (await this.#limited(line, () => this.#pool.compare(password, lost.hash))) {
          throw new ProtocolError('username_taken', `"${lost.name}" was registered elsewhere first while the network was split; your account lost the name: register another`);
        }
      }
      throw new ProtocolError('auth_failed');
    }
    if (bcrypt.getRounds(user.hash) !== this.#cost) void this.#rehash(user, password);
    return user;
  }

  async #rehash(user: UserEntry, password: string): Promise<void> {
    try {
      const hash = await this.#hash(password);
      const { origin: _origin, seq: _seq, ...account } = user;
      await this.#deps.append([{ ...account, hash, updated: (this.#deps.now ?? Date.now)() }]);
      this.#deps.log.info({ user: user.name, cost: this.#cost }, 'password rehashed with the current cost');
    } catch (err) {
      this.#deps.log.warn({ err, user: user.name }, 'rehash failed; keeping the old hash');
    }
  }

  #hash(password: string): Promise<string> {
    return this.#limited('create', () => this.#pool.hash(password, this.#cost));
  }

  /** Stops the hashing threads. Idempotent. */
  close(): Promise<void> {
    return this.#pool.close();
  }

  /** Runs bcrypt work in its line (see LINES): bounded concurrency, a bounded queue, checks first. */
  async #limited<T>(line: Line, work: () => Promise<T>): Promise<T> {
    if (this.#mayRun(line)) this.#running[line]++;
    else {
      if (this.#waiting[line].length >= LINES[line].queued) throw new ProtocolError('rate_limited', LINES[line].busy);
      await new Promise<void>((resolve) => this.#waiting[line].push(resolve)); // #release counted us in
    }
    try {
      return await work();
    } finally {
      this.#running[line]--;
      this.#release();
    }
  }

  #mayRun(line: Line): boolean {
    return this.#running.check + this.#running.suspect + this.#running.create < MAX_CONCURRENT_HASHES && this.#running[line] < LINES[line].running;
  }

  /** Hands free threads to waiting work: checks first. */
  #release(): void {
    for (const line of PRIORITY) {
      while (this.#waiting[line].length > 0 && this.#mayRun(line)) {
        this.#running[line]++;
        this.#waiting[line].shift()!();
      }
    }
  }
}

function checkPasswordLength(password: string): void {
  if (Buffer.byteLength(password, 'utf8') > MAX_PASSWORD_BYTES) throw new ProtocolError('password_too_long');
}
