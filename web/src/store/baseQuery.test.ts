import { afterEach, describe, expect, it, vi } from 'vitest';
import { api } from './api';
import { storeAs } from '../test/utils';

function respond(status: number, body?: unknown) {
  return vi.fn(async () =>
    new Response(body === undefined ? null : JSON.stringify(body), {
      status,
      headers: { 'Content-Type': 'application/json' },
    }),
  );
}

afterEach(() => vi.unstubAllGlobals());

describe('base query', () => {
  it('sends X-CSRF-Token and the Idempotency-Key on actions', async () => {
    const fetchMock = respond(200, { id: 'pay_1', object: 'payment' });
    vi.stubGlobal('fetch', fetchMock);
    const store = storeAs('support', 'tok-42');
    await store.dispatch(api.endpoints.cancelPayment.initiate({ id: 'pay_1', reason: 'customer asked', idempotencyKey: 'k-1' }));
    const [url, init] = fetchMock.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('/admin/api/payments/pay_1/cancel');
    expect(init.method).toBe('POST');
    const h = init.headers as Record<string, string>;
    expect(h['X-CSRF-Token']).toBe('tok-42');
    expect(h['Idempotency-Key']).toBe('k-1');
    expect(JSON.parse(init.body as string)).toEqual({ reason: 'customer asked' });
    expect(init.credentials).toBe('same-origin');
  });

  it('sends no CSRF token on GET', async () => {
    const fetchMock = respond(200, { object: 'list', data: [], has_more: false });
    vi.stubGlobal('fetch', fetchMock);
    const store = storeAs('viewer');
    await store.dispatch(api.endpoints.listPayments.initiate({ status: 'failed', q: '' }));
    const [url, init] = fetchMock.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('/admin/api/payments?status=failed');
    expect((init.headers as Record<string, string>)['X-CSRF-Token']).toBeUndefined();
  });

  it('ends the session on 401, which sends the page to login', async () => {
    vi.stubGlobal('fetch', respond(401, { error: { type: 'authentication_error', code: 'unauthorized', message: 'Log in again.', param: null } }));
    const store = storeAs('admin');
    const r = await store.dispatch(api.endpoints.getOverview.initiate());
    expect(store.getState().session.status).toBe('anonymous');
    expect(store.getState().session.csrfToken).toBeNull();
    expect(r.error).toMatchObject({ status: 401, error: { code: 'unauthorized', message: 'Log in again.' } });
  });

  it('passes the error object through, with Retry-After', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(async () =>
        new Response(JSON.stringify({ error: { type: 'rate_limit_error', code: 'login_locked', message: 'Locked for 15 minutes.', param: null } }), {
          status: 429,
          headers: { 'Retry-After': '900' },
        }),
      ),
    );
    const store = storeAs(null);
    const r = await store.dispatch(api.endpoints.login.initiate({ email: 'a@b.c', password: 'x' }));
    expect('error' in r && r.error).toMatchObject({ status: 429, retryAfter: '900', error: { code: 'login_locked' } });
  });

  it('makes up an error object for a network failure or a non-JSON answer', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => { throw new TypeError('Failed to fetch'); }));
    const store = storeAs('admin');
    const r = await store.dispatch(api.endpoints.getOverview.initiate());
    expect(r.error).toMatchObject({ status: 0, error: { code: 'network_error' } });
    vi.stubGlobal('fetch', vi.fn(async () => new Response('<html>bad gateway</html>', { status: 502, statusText: 'Bad Gateway' })));
    const r2 = await storeAs('admin').dispatch(api.endpoints.getOverview.initiate());
    expect(r2.error).toMatchObject({ status: 502, error: { code: 'http_502' } });
  });
});
