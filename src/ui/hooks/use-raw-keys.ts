import { useStdin } from 'ink';
import { useLayoutEffect, useRef } from 'react';
import { keysOf, NO_CARRY, splitInput, type Key } from '../line-editor.js';

/** How long input held for the next read waits for it (readline waits 500 ms for an escape sequence). */
const HOLD_MS = 100;

/**
 * Calls `onKeys` with every key the terminal sends, as it sent them (Ink's own key flags cannot tell
 * Backspace from Delete, and give a chunk of several keys as one string). An escape sequence cut
 * between two reads (a paste's end marker, say) is held until the rest comes, so it is never taken
 * for text, nor the paste left open; if nothing comes within HOLD_MS, it is delivered as it is. The
 * handler is read afresh for each chunk: it may close over the latest render.
 */
export function useRawKeys(onKeys: (keys: Key[]) => void): void {
  const { internal_eventEmitter: input } = useStdin();
  const handler = useRef(onKeys);
  handler.current = onKeys;
  // Attached and detached with the screen's commit (a layout effect): a screen that is gone never gets a key.
  useLayoutEffect(() => {
    let carry = NO_CARRY;
    let timer: NodeJS.Timeout | undefined;
    const deliver = (raw: string): void => {
      if (raw !== '') handler.current(keysOf(raw));
    };
    const onInput = (raw: string): void => {
      clearTimeout(timer);
      const split = splitInput(carry, raw);
      carry = split.carry;
      deliver(split.complete);
      if (carry.held !== '') {
        timer = setTimeout(() => {
          const held = carry.held;
          carry = { held: '', pasting: carry.pasting };
          deliver(held);
        }, HOLD_MS);
      }
    };
    input.on('input', onInput);
    return () => {
      clearTimeout(timer);
      input.off('input', onInput);
    };
  }, [input]);
}
