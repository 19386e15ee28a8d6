import t from 'tap';
import { StallWatch } from '../../src/core/stall.js';

t.test('a late heartbeat holds judgment for one period; a stall before the first beat counts', async (t) => {
  // [beat at (ms), stalledMs, judging], period 500 ms, started at 0.
  const table: [number, number, boolean][] = [
    [4_500, 4_500, false], // stopped before the first beat (SIGSTOP right after start)
    [5_000, 0, true], // the next beat: what peers sent has been read meanwhile
    [5_500, 0, true],
    [6_500, 0, true], // two periods late is not yet a stall
    [7_501, 1_001, false],
    [7_900, 0, false], // early (a timer can fire early after a stall): still within the period
    [8_001, 0, true],
  ];
  const w = new StallWatch(500, 0);
  for (const [at, stalledMs, judging] of table) t.same(w.beat(at), { stalledMs, judging }, `beat at ${at}`);
});

t.test('rejects a period that is not positive', async (t) => {
  t.throws(() => new StallWatch(0, 0), TypeError);
  t.throws(() => new StallWatch(Number.NaN, 0), TypeError);
});
