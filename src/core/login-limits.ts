import { RateLimiter, type BucketOptions, type Clock } from './rate-limiter.js';

/** Failed logins for one user from one address: 5, then one every 12 s. */
export const PER_USER_ADDRESS: BucketOptions = { capacity: 5, refillPerSecond: 1 / 12 };
/** Failed logins from one address, whatever the user: 20, then one every 3 s. */
export const PER_ADDRESS: BucketOptions = { capacity: 20, refillPerSecond: 1 / 3 };
/** Failed logins for one user from addresses that are guessing at it, together: 20, then one every 6 s. */
export const PER_USER: BucketOptions = { capacity: 20, refillPerSecond: 1 / 6 };
/**
 * An address with a failure in the last 30 s is a suspect: its checks wait behind those of addresses with
 * none. A guesser that waits for each answer stays within every rate above and could still keep the
 * hashing threads busy (20 hosts did: good logins took 5.8 s); this puts it behind everyone else.
 */
const SUSPECT: BucketOptions = { capacity: 1, refillPerSecond: 1 / 30 };
/** An address with fewer failures than this for a user (of its 5) is not guessing: the user's shared budget does not apply to it. */
const GUESSING_AFTER = 3;

export type LoginVerdict = { ok: true; ticket: LoginTicket } | { ok: false };

/** The buckets one attempt took a token from (given back as the outcome says). */
export interface LoginTicket {
  readonly pair: string;
  readonly address: string;
  readonly user: string | undefined;
  /**
   * The address had no failure in the last 30 s: its check goes before those of addresses that have been
   * failing, so guessers on many hosts cannot make a good login wait in line.
   */
  readonly clean: boolean;
  readonly from: string;
}

/**
 * Who may try a password now (issue #14): failures are counted per user *and address*, so someone else's
 * guesses never lock a user out of an address they are not guessing from; per address, so one host cannot
 * guess across many names; and per user over the addresses that are guessing at it (three failures or more
 * each), so many hosts together cannot guess faster than one. A refused attempt is charged to the guesser as
 * well (its buckets go into debt), so polling while refused only prolongs the refusal.
 *
 * Tokens are taken before the check and given back on success, so concurrent guesses cannot slip past.
 * Pure apart from the injected clock. `addresses` may be shared with other proofs from an address (the
 * network password), which then count against the same budget.
 */
export class LoginLimits {
  readonly #pairs: RateLimiter;
  readonly #users: RateLimiter;
  readonly #addresses: RateLimiter;
  readonly #suspects: RateLimiter;

  constructor(addresses: RateLimiter, now: Clock = Date.now) {
    this.#addresses = addresses;
    this.#suspects = new RateLimiter(SUSPECT, now);
    this.#pairs = new RateLimiter(PER_USER_ADDRESS, now);
    this.#users = new RateLimiter(PER_USER, now);
  }

  /** Before checking `user`'s password from `address`: go ahead (with the ticket to report the outcome with), or refused. */
  begin(user: string, address: string): LoginVerdict {
    const pair = `${user}\u0000${address}`;
    const a = `a:${address}`;
    const guessing = this.#pairs.tokens(pair) <= PER_USER_ADDRESS.capacity - GUESSING_AFTER;
    const clean = this.#suspects.tokens(address) >= 1;
    const ok = this.#pairs.allows(pair) && this.#addresses.allows(a) && (!guessing || this.#users.allows(user));
    if (!ok) {
      // Charged all the same: the guesser's own buckets, never the user's shared one (that would be anyone's lock-out).
      this.#pairs.charge(pair);
      this.#addresses.charge(a);
      this.#suspects.charge(address);
      return { ok: false };
    }
    this.#pairs.take(pair);
    this.#addresses.take(a);
    if (guessing) this.#users.take(user);
    return { ok: true, ticket: { pair, address: a, user: guessing ? user : undefined, clean, from: address } };
  }

  /** The password was right: the address's token back, the pair's failures forgotten, the user's token back. */
  succeeded(ticket: LoginTicket): void {
    this.#pairs.reset(ticket.pair);
    this.#addresses.refund(ticket.address);
    if (ticket.user !== undefined) this.#users.refund(ticket.user);
  }

  /** The password was wrong: the tokens taken stay spent, and the address is a step nearer being a suspect. */
  failed(ticket: LoginTicket): void {
    this.#suspects.charge(ticket.from);
  }

  /** The check could not be made (busy, an internal error): as if it had not been tried. */
  abandoned(ticket: LoginTicket): void {
    this.#pairs.refund(ticket.pair);
    this.#addresses.refund(ticket.address);
    if (ticket.user !== undefined) this.#users.refund(ticket.user);
  }
}
