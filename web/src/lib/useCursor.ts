import { useCallback, useState } from 'react';
import type { List } from '../store/types';

/** The cursor to pass as starting_after for the page after `list`. */
export function nextCursor<T extends { id: string }>(list: List<T> | undefined): string | null {
  if (!list?.has_more) return null;
  return list.next ?? list.data[list.data.length - 1]?.id ?? null;
}

/** Keyset pagination kept in component state: a stack of the cursors passed. */
export function useCursorStack() {
  const [stack, setStack] = useState<string[]>([]);
  const [after, setAfter] = useState('');
  return {
    after,
    hasPrev: stack.length > 0 || after !== '',
    next: useCallback(
      (cursor: string) => {
        setStack((s) => [...s, after]);
        setAfter(cursor);
      },
      [after],
    ),
    prev: useCallback(() => {
      setStack((s) => {
        const copy = [...s];
        setAfter(copy.pop() ?? '');
        return copy;
      });
    }, []),
    reset: useCallback(() => {
      setStack([]);
      setAfter('');
    }, []),
  };
}
