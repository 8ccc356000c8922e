import { useCallback } from 'react';
import { useStore } from 'react-redux';
import { baseQuery, type Req } from './baseQuery';
import { api } from './api';
import type { ApiError } from './types';

type Tag = Parameters<typeof api.util.invalidateTags>[0][number];

/**
 * A call whose answer must not enter the Redux store (a new API key's
 * secret, a new staff member's password): the same base query (CSRF,
 * Idempotency-Key, 401 handling), its answer returned to the caller only.
 * Throws the ApiError on failure, then invalidates `tags` on success.
 */
export function useRawCall() {
  const store = useStore();
  return useCallback(
    async <T,>(req: Req, tags: Tag[] = []): Promise<T> => {
      const ctrl = new AbortController();
      const r = await baseQuery(
        req,
        {
          getState: store.getState,
          dispatch: store.dispatch,
          signal: ctrl.signal,
          abort: () => ctrl.abort(),
          extra: undefined,
          endpoint: 'raw',
          type: 'mutation',
        },
        {},
      );
      if (r.error) throw r.error as ApiError;
      if (tags.length) store.dispatch(api.util.invalidateTags(tags));
      return r.data as T;
    },
    [store],
  );
}
