import { parseArgs } from 'node:util';
import { randomSchedule, shrink } from './schedules.js';
import { NAMED } from './named.js';
import { run, type Schedule } from './simulation.js';

/**
 * `npm run sim -- --schedules N --seed S`: runs N random fault schedules
 * (seeds S, S+1, …) and the named ones through the deterministic simulator;
 * a failing seed prints the shortest schedule that still fails, to replay with
 * `npm run sim -- --replay '<json>'`. Exit status 1 when any fails.
 */
const { values } = parseArgs({
  options: {
    schedules: { type: 'string', default: '200' },
    seed: { type: 'string', default: String(Date.now() % 1_000_000) },
    named: { type: 'boolean', default: false },
    replay: { type: 'string' },
    verbose: { type: 'boolean', short: 'v', default: false },
  },
});

function report(s: Schedule, violations: string[]): void {
  const { schedule } = shrink(s);
  console.log(`FAIL ${s.name ?? `seed ${s.seed}`}: ${violations.length} violation(s):`);
  for (const v of violations) console.log(`  ${v}`);
  const small = run(schedule);
  console.log(`shortest schedule that still fails (${schedule.faults.length} of ${s.faults.length} faults):`);
  console.log(`  ${JSON.stringify(schedule)}`);
  for (const v of small.violations) console.log(`  ${v}`);
}

const started = performance.now();
let failed = 0;
let acked = 0;
let schedules = 0;
if (values.replay !== undefined) {
  const s = JSON.parse(values.replay) as Schedule;
  const o = run(s);
  console.log(JSON.stringify(o.stats));
  for (const v of o.violations) console.log(`  ${v}`);
  process.exit(o.violations.length > 0 ? 1 : 0);
}
for (const s of NAMED) {
  const o = run(s);
  schedules++;
  acked += o.stats.acked;
  if (values.verbose) console.log(`${s.name}: ${JSON.stringify(o.stats)}`);
  if (o.violations.length > 0) {
    failed++;
    report(s, o.violations);
  }
}
if (!values.named) {
  const n = Number(values.schedules);
  const seed = Number(values.seed);
  for (let i = 0; i < n; i++) {
    const s = randomSchedule(seed + i);
    const o = run(s);
    schedules++;
    acked += o.stats.acked;
    if (values.verbose) console.log(`seed ${s.seed}: ${JSON.stringify(o.stats)}`);
    if (o.violations.length > 0) {
      failed++;
      report(s, o.violations);
      if (failed >= 3) break;
    }
  }
}
const seconds = (performance.now() - started) / 1000;
console.log(`${schedules} schedules (seeds from ${values.seed}), ${acked} acknowledged messages checked, ${failed} failed, ${seconds.toFixed(1)} s`);
process.exit(failed > 0 ? 1 : 0);
