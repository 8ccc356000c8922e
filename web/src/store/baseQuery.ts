import type { BaseQueryFn } from '@reduxjs/toolkit/query';
import type { ApiError } from './types';
import { sessionEnded, type SessionState } from './sessionSlice';

export const API_BASE = '/admin/api';

export interface Req {
  url: string;
  method?: 'GET' | 'POST' | 'DELETE' | 'PUT' | 'PATCH';
  params?: Record<string, string | number | boolean | undefined | null>;
  body?: unknown;
  idempotencyKey?: string;
}

function madeUpError(status: number, code: string, message: string): ApiError {
  return { status, error: { type: 'api_error', code, message, param: null } };
}

/**
 * Every call to /admin/api: the session cookie rides along (same origin),
 * non-GET calls carry X-CSRF-Token from the store and, for confirmed
 * actions, an Idempotency-Key. A 401 ends the session in the store, which
 * sends the page to the login form.
 */
export const baseQuery: BaseQueryFn<Req | string, unknown, ApiError> = async (arg, api) => {
  const req: Req = typeof arg === 'string' ? { url: arg } : arg;
  const method = req.method ?? 'GET';
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (method !== 'GET') {
    const csrf = (api.getState() as { session?: SessionState }).session?.csrfToken;
    if (csrf) headers['X-CSRF-Token'] = csrf;
  }
  if (req.idempotencyKey) headers['Idempotency-Key'] = req.idempotencyKey;
  let body: string | undefined;
  if (req.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(req.body);
  }
  let url = API_BASE + req.url;
  if (req.params) {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(req.params)) {
      if (v !== undefined && v !== null && v !== '') qs.set(k, String(v));
    }
    const s = qs.toString();
    if (s) url += (url.includes('?') ? '&' : '?') + s;
  }

  let res: Response;
  try {
    res = await fetch(url, { method, headers, body, credentials: 'same-origin', signal: api.signal });
  } catch (e) {
    if (e instanceof DOMException && e.name === 'AbortError') return { error: madeUpError(0, 'aborted', 'Canceled.') };
    return { error: madeUpError(0, 'network_error', 'The server could not be reached. Check the connection and try again.') };
  }

  let data: unknown = null;
  if (res.status !== 204) {
    const text = await res.text();
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = text;
      }
    }
  }
  if (res.ok) return { data };

  if (res.status === 401) api.dispatch(sessionEnded());
  const obj = data as { error?: ApiError['error'] } | null;
  const error: ApiError =
    obj && typeof obj === 'object' && obj.error && typeof obj.error.message === 'string'
      ? { status: res.status, error: obj.error }
      : madeUpError(res.status, `http_${res.status}`, `The server answered ${res.status} ${res.statusText}.`.trim());
  error.retryAfter = res.headers.get('Retry-After');
  return { error };
};

/** The message to show for whatever a hook or unwrap() threw. */
export function errorMessage(err: unknown): string {
  if (err && typeof err === 'object' && 'error' in err) {
    const e = (err as ApiError).error;
    if (e && typeof e.message === 'string') return e.message;
  }
  if (err instanceof Error) return err.message;
  return 'Something went wrong.';
}
