/**
 * What a line typed in the chat input means: a message, or a slash command.
 * Pure: the hook carries it out.
 */
export type Command =
  | { kind: 'send'; text: string; to: string[] }
  | { kind: 'who' }
  | { kind: 'help' }
  | { kind: 'quit' }
  | { kind: 'file'; path: string; to: string[] }
  | { kind: 'none' }
  | { kind: 'error'; text: string };

export const HELP = [
  'Enter sends to the recipients shown left of the input (none selected = everyone).',
  '/msg NAME[,NAME…] text   send to those users only',
  '/who                     list who is online',
  '/file PATH               send a file to the recipients shown (none selected = everyone online)',
  '/quit                    leave (Ctrl+C too)',
  '//text                   send a line that starts with "/"',
  'Tab completes a name; ↑/↓ recall earlier lines; PgUp/PgDn scroll; Esc switches to the user list,',
  'where ↑/↓ move, Space selects recipients, Esc or Enter goes back.',
];

const NAME_LIST = /^[A-Za-z0-9_.-]{1,32}(,[A-Za-z0-9_.-]{1,32})*$/;

/** Parses one input line; `selected` are the recipients chosen in the user list. */
export function parseCommand(line: string, selected: readonly string[]): Command {
  const text = line.trim();
  if (text === '') return { kind: 'none' };
  if (text.startsWith('//')) return { kind: 'send', text: line.trimEnd().replace(/^\s*\//, ''), to: [...selected] };
  if (!text.startsWith('/')) return { kind: 'send', text: line.trimEnd(), to: [...selected] };
  const [cmd = '', ...rest] = text.split(/\s+/);
  const args = text.slice(cmd.length).trim();
  switch (cmd.toLowerCase()) {
    case '/msg':
    case '/m': {
      const names = rest[0] ?? '';
      const body = args.slice(names.length).trim();
      if (!NAME_LIST.test(names) || body === '') return { kind: 'error', text: 'usage: /msg NAME[,NAME…] text' };
      return { kind: 'send', text: body, to: [...new Set(names.split(','))] };
    }
    case '/who':
      return { kind: 'who' };
    case '/help':
    case '/?':
      return { kind: 'help' };
    case '/quit':
    case '/exit':
      return { kind: 'quit' };
    case '/file': {
      const path = unquote(args);
      if (path === '') return { kind: 'error', text: 'usage: /file PATH' };
      return { kind: 'file', path, to: [...selected] };
    }
    default:
      return { kind: 'error', text: `unknown command ${cmd}: /help lists the commands` };
  }
}

/** A path as typed or dropped into a terminal: `'my file.jpg'`, `"my file.jpg"` or `my\ file.jpg`. */
function unquote(text: string): string {
  const m = /^(['"])(.*)\1$/.exec(text);
  if (m) return m[2]!;
  return text.replace(/\\(.)/g, '$1');
}
