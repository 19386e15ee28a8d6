/**
 * Tells a stalled process from silent peers (pure: the caller gives the time). A heartbeat more than two
 * periods after the last one means this process itself was stopped (a long GC, a starved CPU, SIGSTOP):
 * what peers sent meanwhile still waits unread in the sockets, so nobody may be judged silent until a beat
 * after, when it has been read. The clock starts with the heartbeat: a stall before its first beat counts.
 */
export class StallWatch {
  readonly #periodMs: number;
  #last: number;
  #stalledAt = -Infinity;

  constructor(periodMs: number, start: number) {
    if (!(periodMs > 0)) throw new TypeError('StallWatch needs a positive period');
    this.#periodMs = periodMs;
    this.#last = start;
  }

  /** A heartbeat at `now`: how long the process was stalled (0 if it was not), and whether silence may be judged now. */
  beat(now: number): { stalledMs: number; judging: boolean } {
    const gap = now - this.#last;
    this.#last = now;
    const stalledMs = gap > 2 * this.#periodMs ? gap : 0;
    if (stalledMs > 0) this.#stalledAt = now;
    return { stalledMs, judging: now - this.#stalledAt >= this.#periodMs };
  }
}
