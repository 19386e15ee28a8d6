import { RateLimiter, type BucketOptions, type Clock } from './rate-limiter.js';

/** Failed logins for one user from one address: 5, then one every 12 s. */
export const PER_USER_ADDRESS: BucketOptions = { capacity: 5, refillPerSecond: 1 / 12 };
/** Failed logins from one address, whatever the user: 20, then one every 3 s. */
export const PER_ADDRESS: BucketOptions = { capacity: 20, refillPerSecond: 1 / 3 };
/** Failed logins for one user from every address, together: 20, then one every 6 s (binding only addresses that are guessing). */
export const PER_USER: BucketOptions = { capacity: 20, refillPerSecond: 1 / 6 };
/** An address has been guessing at a user once it failed twice within about 5 minutes (one failure forgotten each 150 s). */
const GUESSING: BucketOptions = { capacity: 2, refillPerSecond: 1 / 150 };
/** Password checks from one address, right or wrong: 10 at once, then one every 3 s, before its checks count as a suspect's. */
const CHECKS: BucketOptions = { capacity: 10, refillPerSecond: 1 / 3 };
/**
 * An address with a failure in the last 30 s is a suspect: its checks wait behind those of addresses with
 * none. A guesser that waits for each answer stays within every rate above and could still keep the
 * hashing threads busy (20 hosts did: good logins took 5.8 s); this puts it behind everyone else.
 */
const SUSPECT: BucketOptions = { capacity: 1, refillPerSecond: 1 / 30 };

export type LoginVerdict = { ok: true; ticket: LoginTicket } | { ok: false };

/** The buckets one attempt took a token from (given back as the outcome says). */
export interface LoginTicket {
  readonly pair: string;
  /** Where the attempt came from. */
  readonly address: string;
  /** The user, when the attempt drew on the user's shared budget (given back on success). */
  readonly user: string | undefined;
  /** The user tried. */
  readonly name: string;
  /**
   * The address had no failure in the last 30 s: its check goes before those of addresses that have been
   * failing, so guessers on many hosts cannot make a good login wait in line.
   */
  readonly clean: boolean;
}

/**
 * Who may try a password now (issue #14): failures are counted per user *and address*, so someone else's
 * guesses never lock a user out of an address they are not guessing from; per address, so one host cannot
 * guess across many names; and per user over all addresses, a budget that binds those guessing at it (two
 * failures within about 5 minutes), so many hosts together cannot guess much faster than one: each gets a
 * failure or two in 5 minutes beyond the shared budget. A refused attempt is charged to the guesser as
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
  readonly #guessing: RateLimiter;
  readonly #checks: RateLimiter;

  constructor(addresses: RateLimiter, now: Clock = Date.now) {
    this.#addresses = addresses;
    this.#suspects = new RateLimiter(SUSPECT, now);
    this.#guessing = new RateLimiter(GUESSING, now);
    this.#checks = new RateLimiter(CHECKS, now);
    this.#pairs = new RateLimiter(PER_USER_ADDRESS, now);
    this.#users = new RateLimiter(PER_USER, now);
  }

  /** Before checking `user`'s password from `address`: go ahead (with the ticket to report the outcome with), or refused. */
  begin(user: string, address: string): LoginVerdict {
    const pair = `${user}\u0000${address}`;
    const a = `a:${address}`;
    const guessing = this.#guessing.tokens(pair) < 1;
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
    // Checks from an address that failed lately, or that makes very many (right ones too), wait behind the others.
    const clean = this.#checks.take(address) && this.#suspects.tokens(address) >= 1;
    return { ok: true, ticket: { pair, address, user: guessing ? user : undefined, name: user, clean } };
  }

  /** The password was right: the address's token back, the pair's failures forgotten, the user's token back. */
  succeeded(ticket: LoginTicket): void {
    this.#pairs.reset(ticket.pair);
    this.#guessing.reset(ticket.pair);
    this.#addresses.refund(`a:${ticket.address}`);
    if (ticket.user !== undefined) this.#users.refund(ticket.user);
  }

  /** The password was wrong: the tokens taken stay spent, and the address is a step nearer being a suspect. */
  failed(ticket: LoginTicket): void {
    this.#suspects.charge(ticket.address);
    this.#guessing.charge(ticket.pair);
    // Every failure counts on the user's shared budget, also one that did not need it: many hosts pacing
    // themselves (never two failures in 5 minutes each) still drain it for those that are guessing.
    if (ticket.user === undefined) this.#users.take(ticket.name);
  }

  /** The check could not be made (busy, an internal error): as if it had not been tried. */
  abandoned(ticket: LoginTicket): void {
    this.#pairs.refund(ticket.pair);
    this.#addresses.refund(`a:${ticket.address}`);
    if (ticket.user !== undefined) this.#users.refund(ticket.user);
  }
}
