import { useStdin } from 'ink';
import { useLayoutEffect, useRef } from 'react';
import { keysOf, splitIncomplete, type Key } from '../line-editor.js';

/**
 * Calls `onKeys` with every key the terminal sends, as it sent them (Ink's own key flags cannot tell
 * Backspace from Delete, and give a chunk of several keys as one string). An escape sequence cut
 * between two reads (a paste's end marker, say) is held until the rest comes, so it is never taken
 * for text. The handler is read afresh for each chunk: it may close over the latest render.
 */
export function useRawKeys(onKeys: (keys: Key[]) => void): void {
  const { internal_eventEmitter: input } = useStdin();
  const handler = useRef(onKeys);
  handler.current = onKeys;
  // Attached and detached with the screen's commit (a layout effect): a screen that is gone never gets a key.
  useLayoutEffect(() => {
    let carry = '';
    const onInput = (raw: string): void => {
      const [complete, rest] = splitIncomplete(carry + raw);
      carry = rest;
      if (complete !== '') handler.current(keysOf(complete));
    };
    input.on('input', onInput);
    return () => void input.off('input', onInput);
  }, [input]);
}
