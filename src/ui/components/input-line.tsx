import { Text } from 'ink';

const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

interface Props {
  readonly text: string;
  readonly caret: number;
  readonly focus: boolean;
  readonly placeholder?: string;
  /** Shown instead of each character (passwords). */
  readonly mask?: string;
}

/** A line being typed, with the cursor drawn as an inverse cell (the terminal's own cursor stays hidden). */
export function InputLine({ text, caret, focus, placeholder = '', mask }: Props) {
  if (text === '') {
    return (
      <Text>
        {focus ? <Text inverse>{placeholder.slice(0, 1) || ' '}</Text> : placeholder.slice(0, 1)}
        <Text dimColor>{placeholder.slice(1)}</Text>
      </Text>
    );
  }
  const at = Math.max(0, Math.min(text.length, caret));
  const next = at >= text.length ? at : at + ([...segmenter.segment(text.slice(at))][0]?.segment.length ?? 1);
  const show = (s: string) => (mask === undefined ? s : mask.repeat([...segmenter.segment(s)].length));
  return (
    <Text>
      {show(text.slice(0, at))}
      {focus ? <Text inverse>{at < text.length ? show(text.slice(at, next)) : ' '}</Text> : show(text.slice(at, next))}
      {show(text.slice(next))}
    </Text>
  );
}
