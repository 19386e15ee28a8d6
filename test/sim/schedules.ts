import { Rng } from './rng.js';
import { run, type Fault, type Outcome, type Schedule } from './simulation.js';

/**
 * A random fault schedule, as an operator's fault trial would make one:
 * kill -9 (with or without a power cut), SIGSTOP, cable cuts, partitions,
 * SIGTERM, every node restarted at once, full and slow disks, a standby that
 * never acknowledges, slow status answers; each healed after a while, and
 * everything healed at the end.
 */
export function randomSchedule(seed: number): Schedule {
  const rng = new Rng(seed);
  const nodes = rng.int(2, 4);
  const clients = rng.int(2, 5);
  const duration = rng.int(12_000, 28_000);
  const hosts = [...Array.from({ length: nodes }, (_, i) => `n${i}`), ...Array.from({ length: clients }, (_, i) => `c${i}`)];
  const faults: Fault[] = [];
  const n = rng.int(1, 8);
  const when = () => rng.int(3_000, duration - 500);
  const after = (t: number, lo: number, hi: number) => Math.min(duration - 1, t + rng.int(lo, hi));
  for (let i = 0; i < n; i++) {
    const at = when();
    const node = rng.int(0, nodes - 1);
    const r = rng.next();
    if (r < 0.2) {
      faults.push({ at, kind: 'crash', node, ...(rng.chance(0.3) ? { power: true } : {}) });
      if (rng.chance(0.85)) faults.push({ at: after(at, 300, 8_000), kind: 'restart', node });
    } else if (r < 0.32) {
      faults.push({ at, kind: 'freeze', node });
      faults.push({ at: after(at, 300, 5_000), kind: 'thaw', node });
    } else if (r < 0.44) {
      const host = rng.pick(hosts);
      faults.push({ at, kind: 'cut', host });
      faults.push({ at: after(at, 300, 8_000), kind: 'uncut', host });
    } else if (r < 0.6) {
      const shuffled = rng.sample(hosts, hosts.length);
      const k = rng.int(1, hosts.length - 1);
      faults.push({ at, kind: 'split', groups: [shuffled.slice(0, k), shuffled.slice(k)] });
      faults.push({ at: after(at, 1_000, 15_000), kind: 'heal' });
    } else if (r < 0.7) {
      faults.push({ at, kind: 'stop', node });
      faults.push({ at: after(at, 500, 5_000), kind: 'restart', node });
    } else if (r < 0.74) {
      faults.push({ at, kind: 'restart-all' });
    } else if (r < 0.8) {
      faults.push({ at, kind: 'disk-full', node });
      faults.push({ at: after(at, 500, 5_000), kind: 'disk-ok', node });
    } else if (r < 0.86) {
      faults.push({ at, kind: 'slow-disk', node, ms: rng.int(30, 1_500) });
    } else if (r < 0.93) {
      faults.push({ at, kind: 'mute', node });
      faults.push({ at: after(at, 1_000, 6_000), kind: 'unmute', node });
    } else {
      faults.push({ at, kind: 'slow-status', node, ms: rng.int(300, 3_000) });
    }
  }
  faults.sort((a, b) => a.at - b.at);
  return {
    seed,
    nodes,
    clients,
    duration,
    ...(rng.chance(0.3) ? { locked: true } : {}),
    ...(rng.chance(0.3) ? { segmentRecords: rng.int(15, 80) } : {}),
    ...(rng.chance(0.15) ? { historySize: rng.int(3, 20) } : {}),
    ...(rng.chance(0.15) ? { resumeWindow: rng.int(30, 200) } : {}),
    ...(rng.chance(0.3) ? { sendEveryMs: [60, 250] as [number, number] } : {}),
    ...(rng.chance(0.4) ? { rooms: rng.int(1, 3) } : {}),
    faults,
  };
}

/**
 * The shortest schedule that still fails: drops faults one at a time while it
 * still fails (any violation), until none can go. Deterministic, like a run.
 */
export function shrink(failing: Schedule, budget = 200): { schedule: Schedule; outcome: Outcome } {
  let best = failing;
  let outcome = run(best);
  let tries = 0;
  for (let changed = true; changed && tries < budget; ) {
    changed = false;
    for (let i = 0; i < best.faults.length && tries < budget; i++) {
      const candidate = { ...best, faults: best.faults.filter((_, j) => j !== i) };
      tries++;
      const o = run(candidate);
      if (o.violations.length > 0) {
        best = candidate;
        outcome = o;
        changed = true;
        i--;
      }
    }
  }
  return { schedule: best, outcome };
}
