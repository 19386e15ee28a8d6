const UNITS = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];

/** 1536 → "1.5 KiB": sizes in words, for people. */
export function formatBytes(n: number): string {
  let i = 0;
  let v = n;
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  if (i === 0) return n === 1 ? '1 byte' : `${n} bytes`;
  return `${v >= 100 ? Math.round(v) : Number(v.toFixed(1))} ${UNITS[i]}`;
}

const MULTIPLIERS: Record<string, number> = {
  '': 1, b: 1,
  k: 1024, kib: 1024, kb: 1000,
  m: 1024 ** 2, mib: 1024 ** 2, mb: 1000 ** 2,
  g: 1024 ** 3, gib: 1024 ** 3, gb: 1000 ** 3,
};

/** "100MiB", "1.5 G", "500000" → bytes (K, M, G and KiB… are powers of 1024; KB, MB, GB of 1000). Undefined when unreadable. */
export function parseBytes(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const mult = m ? MULTIPLIERS[m[2]!.toLowerCase()] : undefined;
  if (!m || mult === undefined) return undefined;
  const n = Math.floor(Number(m[1]) * mult);
  return Number.isSafeInteger(n) ? n : undefined;
}
