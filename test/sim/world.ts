import { Rng } from './rng.js';

/**
 * The simulated world: one clock, one event queue, hosts on a LAN with
 * partitions and cable cuts, and ordered reliable connections between them
 * (TCP as lanchat sees it: bytes sent while the path is down arrive when it
 * comes back, unless the connection was closed first). Deterministic: the
 * queue breaks ties by insertion order and all randomness comes from one Rng.
 */

export interface Host {
  readonly name: string;
  /** Running (false: crashed or stopped: connections are refused, nothing is processed). */
  up: boolean;
  /** SIGSTOP: nothing is processed until thawed; what arrives waits. */
  frozen: boolean;
  /** Partition group (hosts in different groups cannot reach each other). */
  group: number;
  cut: boolean;
  /** Work that arrived while frozen, run at thaw in order. */
  readonly backlog: (() => void)[];
  /** Process incarnation: bumped at each crash, so stale events of a dead process are dropped. */
  life: number;
}

export interface ConnEnd {
  /** A frame arrived, with what the simulator's ghost bookkeeping attached to it. */
  onFrame(frame: unknown, meta?: unknown): void;
  /** The other side closed (with a close code, when it said one), or the connection was reset. */
  onClose(code?: number): void;
}

/** One direction-ordered reliable connection between two hosts. */
export class Conn {
  readonly id: number;
  readonly a: Host;
  readonly b: Host;
  #ends: [ConnEnd | undefined, ConnEnd | undefined] = [undefined, undefined];
  /** Per side: it closed its end (what it sent before still arrives, as with TCP). */
  readonly #closed: [boolean, boolean] = [false, false];
  /** Per direction: when the last frame is due (frames never overtake one another). */
  readonly #due: [number, number] = [0, 0];
  /** Per direction: frames sent while the path was down, delivered when it comes back. */
  readonly #held: [(() => void)[], (() => void)[]] = [[], []];
  /** Per side: when it last heard the other side alive (pings, modelled per tick). */
  readonly heard: [number, number];
  readonly #lifeA: number;
  readonly #lifeB: number;
  readonly #world: World;

  constructor(world: World, id: number, a: Host, b: Host) {
    this.#world = world;
    this.id = id;
    this.a = a;
    this.b = b;
    this.heard = [world.now, world.now];
    this.#lifeA = a.life;
    this.#lifeB = b.life;
  }

  attach(side: 0 | 1, end: ConnEnd): void {
    this.#ends[side] = end;
  }

  host(side: 0 | 1): Host {
    return side === 0 ? this.a : this.b;
  }

  /** Whether the process on `side` is the one that opened this connection (not a restarted one). */
  alive(side: 0 | 1): boolean {
    const h = this.host(side);
    return h.up && h.life === (side === 0 ? this.#lifeA : this.#lifeB);
  }

  /** Neither side has closed. */
  get open(): boolean {
    return !this.#closed[0] && !this.#closed[1];
  }

  send(from: 0 | 1, frame: unknown, meta?: unknown): void {
    if (this.#closed[from]) return;
    const to = (1 - from) as 0 | 1;
    const deliver = () => {
      if (this.#closed[to] || !this.alive(to)) return;
      this.#world.at(this.host(to), () => !this.#closed[to] && this.#ends[to]?.onFrame(frame, meta));
    };
    this.#schedule(from, deliver);
  }

  /** Closes from `side`: the other side hears of it (FIN or RST) once the path allows. */
  close(side: 0 | 1, code?: number): void {
    if (this.#closed[side]) return;
    const first = this.open;
    this.#closed[side] = true;
    if (!first) return; // the other side closed first: it knows
    const to = (1 - side) as 0 | 1;
    this.#schedule(side, () => {
      if (this.#closed[to] || !this.alive(to)) return;
      this.#world.at(this.host(to), () => {
        if (this.#closed[to]) return;
        this.#closed[to] = true;
        this.#ends[to]?.onClose(code);
      });
    });
  }

  #schedule(from: 0 | 1, fn: () => void): void {
    const w = this.#world;
    if (!w.connected(this.a, this.b)) {
      this.#held[from].push(fn);
      w.holding.add(this);
      return;
    }
    const due = Math.max(this.#due[from], w.now + w.latency());
    this.#due[from] = due;
    w.schedule(due, fn);
  }

  /** The path is back: what waited goes out, in order. */
  flush(): void {
    for (const from of [0, 1] as const) {
      const held = this.#held[from].splice(0);
      for (const fn of held) {
        const due = Math.max(this.#due[from], this.#world.now + this.#world.latency());
        this.#due[from] = due;
        this.#world.schedule(due, fn);
      }
    }
  }

  get holdsFrames(): boolean {
    return this.#held[0].length > 0 || this.#held[1].length > 0;
  }
}

interface Job {
  at: number;
  seq: number;
  fn: () => void;
}

/** A binary heap of jobs by (time, insertion). */
class Queue {
  readonly #h: Job[] = [];

  get size(): number {
    return this.#h.length;
  }

  push(j: Job): void {
    const h = this.#h;
    h.push(j);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (less(h[p]!, j)) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = j;
  }

  pop(): Job | undefined {
    const h = this.#h;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last !== undefined) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= h.length) break;
        const r = l + 1;
        const c = r < h.length && less(h[r]!, h[l]!) ? r : l;
        if (less(last, h[c]!)) break;
        h[i] = h[c]!;
        i = c;
      }
      h[i] = last;
    }
    return top;
  }

  peek(): Job | undefined {
    return this.#h[0];
  }
}

function less(a: Job, b: Job): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

export class World {
  now = 0;
  readonly rng: Rng;
  readonly hosts = new Map<string, Host>();
  readonly holding = new Set<Conn>();
  readonly #queue = new Queue();
  #seq = 0;
  #connId = 1;
  /** Events run: the simulator's cost measure. */
  steps = 0;

  constructor(seed: number) {
    this.rng = new Rng(seed);
  }

  host(name: string): Host {
    let h = this.hosts.get(name);
    if (h === undefined) this.hosts.set(name, (h = { name, up: true, frozen: false, group: 0, cut: false, backlog: [], life: 0 }));
    return h;
  }

  /** LAN latency: mostly sub-millisecond, sometimes a few ms, rarely a stall. */
  latency(): number {
    const r = this.rng.next();
    return r < 0.9 ? 0.2 + r : r < 0.99 ? 2 + r * 8 : 30 + r * 100;
  }

  connected(a: Host, b: Host): boolean {
    return a.group === b.group && !a.cut && !b.cut;
  }

  schedule(at: number, fn: () => void): void {
    this.#queue.push({ at: Math.max(at, this.now), seq: this.#seq++, fn });
  }

  /** Runs `fn` as `host` at the current time: dropped if the host is down, deferred while it is frozen. */
  at(host: Host, fn: () => void): void {
    if (!host.up) return;
    if (host.frozen) host.backlog.push(fn);
    else fn();
  }

  /** Runs `fn` on `host` after `ms`, in the life it was scheduled in. */
  later(host: Host, ms: number, fn: () => void): void {
    const life = host.life;
    this.schedule(this.now + ms, () => {
      if (host.life === life) this.at(host, fn);
    });
  }

  connect(a: Host, b: Host): Conn {
    return new Conn(this, this.#connId++, a, b);
  }

  /** The path between some hosts changed: connections that held frames may send them now. */
  pathsChanged(): void {
    for (const c of [...this.holding]) {
      if (this.connected(c.a, c.b)) {
        c.flush();
        if (!c.holdsFrames) this.holding.delete(c);
      }
    }
  }

  thaw(host: Host): void {
    host.frozen = false;
    for (const fn of host.backlog.splice(0)) if (host.up && !host.frozen) fn();
  }

  /** Runs events until `until` (or until nothing is left). */
  run(until: number, budget = 5_000_000): void {
    for (;;) {
      const j = this.#queue.peek();
      if (j === undefined || j.at > until) break;
      this.#queue.pop();
      this.now = j.at;
      this.steps++;
      if (this.steps > budget) throw new Error(`the simulation ran more than ${budget} events: a loop?`);
      j.fn();
    }
    this.now = Math.max(this.now, until);
  }
}
