import t from 'tap';
import { NAMED } from './named.js';
import { randomSchedule, shrink } from './schedules.js';
import { run } from './simulation.js';

/**
 * The cluster's guarantees (README "Failover", issue #11), checked by the
 * deterministic simulator: the named schedules of the anomalies a fault
 * trial found, and random fault schedules. Seeds are fixed, so a failure
 * here replays exactly (`npm run sim -- --replay '<schedule>'`); `npm run sim`
 * explores other seeds.
 */
const FIRST_SEED = Number(process.env.LANCHAT_SIM_SEED ?? 1);
const SCHEDULES = Number(process.env.LANCHAT_SIM_SCHEDULES ?? 500);
const PART = Number(process.env.LANCHAT_SIM_PART ?? 0); // this file runs half; sim-more.test.ts the other

for (const s of NAMED) {
  if (PART !== 0) break;
  t.test(`named schedule: ${s.name}`, async (t) => {
    const o = run(s);
    t.same(o.violations, [], `${o.stats.acked} acknowledged messages, ${o.stats.delivered} deliveries checked`);
    t.ok(o.stats.acked > 0, 'messages were acknowledged');
  });
}

t.test(`${SCHEDULES} random fault schedules`, async (t) => {
  const started = performance.now();
  let acked = 0;
  const failures: string[] = [];
  for (let i = 0; i < SCHEDULES; i++) {
    const s = randomSchedule(FIRST_SEED + PART * SCHEDULES + i);
    const o = run(s);
    acked += o.stats.acked;
    if (o.violations.length > 0) {
      const small = shrink(s, 60);
      failures.push(`seed ${s.seed}: ${o.violations[0]}\n  shortest: ${JSON.stringify(small.schedule)}`);
      if (failures.length >= 3) break;
    }
  }
  t.same(failures, [], `${SCHEDULES} schedules, ${acked} acknowledged messages, in ${((performance.now() - started) / 1000).toFixed(1)} s`);
});
