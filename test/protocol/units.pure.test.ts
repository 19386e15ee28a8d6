import t from 'tap';
import { formatBytes, parseBytes } from '../../src/protocol/units.js';

t.test('sizes as people write them', async (t) => {
  const cases: [string, number | undefined][] = [
    ['500000', 500_000],
    ['0', 0],
    ['100MiB', 100 * 1024 * 1024],
    ['100 MiB', 100 * 1024 * 1024],
    ['100m', 100 * 1024 * 1024],
    ['1.5G', 1.5 * 1024 ** 3],
    ['500KB', 500_000],
    ['2gb', 2_000_000_000],
    ['1KiB', 1024],
    ['12 B', 12],
    ['', undefined],
    ['ten', undefined],
    ['-5', undefined],
    ['5 parsecs', undefined],
    ['1e3', undefined],
    ['99999999999999G', undefined],
  ];
  for (const [text, want] of cases) t.equal(parseBytes(text), want, JSON.stringify(text));
});

t.test('sizes as people read them', async (t) => {
  t.equal(formatBytes(0), '0 bytes');
  t.equal(formatBytes(1), '1 byte');
  t.equal(formatBytes(1023), '1023 bytes');
  t.equal(formatBytes(1536), '1.5 KiB');
  t.equal(formatBytes(100 * 1024 * 1024), '100 MiB');
  t.equal(formatBytes(30_000_000), '28.6 MiB');
  t.equal(formatBytes(5 * 1024 ** 4), '5 TiB');
});
