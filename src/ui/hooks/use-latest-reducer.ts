import { useCallback, useReducer, useRef, type Dispatch } from 'react';

/**
 * `useReducer`, and the state as of the last dispatch (`latest()`), ahead of the render. A key handler that
 * reads it sees what every key before it did, in the same read or in a read before React renders again (a
 * fast typist on a loaded machine): the pane that Esc gave the keys to, the recipients Space just picked.
 * The reducer is pure, so running it here on every action, in dispatch order, gives the state React renders.
 */
export function useLatestReducer<S, A, I>(reducer: (state: S, action: A) => S, arg: I, init: (arg: I) => S): [S, Dispatch<A>, () => S] {
  const [state, render] = useReducer(reducer, arg, init);
  const latest = useRef(state);
  const dispatch = useCallback((action: A) => {
    latest.current = reducer(latest.current, action);
    render(action);
  }, [reducer]);
  const read = useCallback(() => latest.current, []);
  return [state, dispatch, read];
}
