import { randomBytes } from 'node:crypto';
import bcrypt from 'bcryptjs';
import type { Logger } from 'pino';
import { MAX_PASSWORD_BYTES } from '../protocol/limits.js';
import { ProtocolError } from '../protocol/errors.js';
import { nameSkeleton } from '../protocol/messages.js';
import type { Entry, NewEntry, UserEntry } from '../protocol/entries.js';
import type { ChatState } from '../core/chat-state.js';
import { BcryptPool } from './bcrypt-pool.js';

/** bcrypt cost: 12 ≈ 0.23 s per hash in bcryptjs on our 2-core VM (measured 2026-11-25); tests use 4. */
export const DEFAULT_BCRYPT_COST = 12;
/** Hashes at once: one worker thread each (the machines have 2 cores). */
const MAX_CONCURRENT_HASHES = 2;
/** Hash requests waiting beyond this are refused with `rate_limited` (a registration flood). */
const MAX_QUEUED_HASHES = 64;

export interface CredentialDeps {
  /** Writes entries to the replicated log; resolves once they are durable and held by the successor. */
  append: (entries: NewEntry[]) => Promise<Entry[]>;
  state: ChatState;
  log: Logger;
  now?: () => number;
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
  #dummyHash: Promise<string> | undefined;
  #running = 0;
  readonly #pool = new BcryptPool(MAX_CONCURRENT_HASHES);
  readonly #waiting: (() => void)[] = [];

  constructor(deps: CredentialDeps, options: { cost?: number } = {}) {
    const cost = options.cost ?? DEFAULT_BCRYPT_COST;
    if (!Number.isInteger(cost) || cost < 4 || cost > 31) throw new TypeError('bcrypt cost must be an integer from 4 to 31');
    this.#deps = deps;
    this.#cost = cost;
    void this.#dummy(); // ready before the first unknown-user login, so that one is not slower either
  }

  /** Creates an account. Throws `username_taken`, `password_too_long` or `rate_limited`. */
  async register(name: string, password: string): Promise<UserEntry> {
    checkPasswordLength(password);
    // Held by its skeleton meanwhile: `alice` and `aIice` registered at once cannot both get through.
    const key = nameSkeleton(name);
    if (this.#deps.state.user(name) !== undefined) throw new ProtocolError('username_taken');
    const like = this.#deps.state.lookalike(name);
    if (like !== undefined || this.#registering.has(key)) {
      throw new ProtocolError('username_taken', `"${name}" looks too much like ${like === undefined ? 'a name being registered' : `"${like}"`} (names differing only in case, i/l/1, o/0, rn/m or . _ - are one): choose another`);
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

  /** Checks a password. Throws `auth_failed` for an unknown user or a wrong password alike. */
  async verify(name: string, password: string): Promise<UserEntry> {
    checkPasswordLength(password);
    const user = this.#deps.state.user(name);
    // Compare against a dummy hash for unknown users so both failures take the same time (DESIGN §7).
    const hash = user?.hash ?? (await this.#dummy());
    const ok = await this.#limited(() => this.#pool.compare(password, hash));
    if (!ok || user === undefined) {
      for (const lost of this.#deps.state.displaced(name)) {
        if (await this.#limited(() => this.#pool.compare(password, lost.hash))) {
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
    return this.#limited(() => this.#pool.hash(password, this.#cost));
  }

  #dummy(): Promise<string> {
    this.#dummyHash ??= this.#pool.hash('lanchat-dummy-password', this.#cost);
    this.#dummyHash.catch(() => undefined); // a closed pool: the next verify reports it
    return this.#dummyHash;
  }

  /** Stops the hashing threads. Idempotent. */
  close(): Promise<void> {
    return this.#pool.close();
  }

  /** Runs bcrypt work with bounded concurrency and a bounded queue. */
  async #limited<T>(work: () => Promise<T>): Promise<T> {
    if (this.#running >= MAX_CONCURRENT_HASHES) {
      if (this.#waiting.length >= MAX_QUEUED_HASHES) throw new ProtocolError('rate_limited', 'the server is busy checking passwords; try again shortly');
      await new Promise<void>((resolve) => this.#waiting.push(resolve)); // the finishing job hands us its slot
    } else {
      this.#running++;
    }
    try {
      return await work();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#running--;
    }
  }
}

function checkPasswordLength(password: string): void {
  if (Buffer.byteLength(password, 'utf8') > MAX_PASSWORD_BYTES) throw new ProtocolError('password_too_long');
}
