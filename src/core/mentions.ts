const NAME_CHAR = 'A-Za-z0-9_\\-';

/**
 * Whether `text` mentions `name`: `@name` or the bare name as a word, in any case (`thanks Alice.`, not
 * `malice` or `alice2`). A mention rings the bell and is highlighted, like a direct message; the JSON client
 * flags it (`"mention":true`).
 */
export function mentions(text: string, name: string): boolean {
  if (name === '') return false;
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(^|[^${NAME_CHAR}.@])@?${escaped}(?=$|[^${NAME_CHAR}.@]|\\.(?:$|[^${NAME_CHAR}]))`, 'i').test(text);
}
