import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { Provider } from 'react-redux';
import { MemoryRouter } from 'react-router';
import App from './App';
import { makeStore } from './store/store';

const session = {
  object: 'session',
  staff: { id: 'stf_1', email: 'ops@example.com', role: 'viewer' },
  csrf_token: 'csrf-xyz',
  expires_at: '2030-01-01T00:00:00Z',
};

const payment = {
  id: 'pay_abc',
  object: 'payment',
  tenant: 'acme',
  from_account: 'acc_1',
  to_account: 'acc_2',
  amount: 1050,
  currency: 'USD',
  amount_refunded: 0,
  description: null,
  metadata: {},
  status: 'succeeded',
  failure_code: null,
  failure_message: null,
  created_at: '2024-05-01T12:00:00Z',
  updated_at: '2024-05-01T12:00:01Z',
};

type Route = (url: string, init: RequestInit) => [number, unknown] | undefined;

function serve(route: Route) {
  return vi.fn(async (url: string, init: RequestInit) => {
    const r = route(url, init) ?? [404, { error: { type: 'invalid_request_error', code: 'not_found', message: 'No such route', param: null } }];
    return new Response(r[1] === undefined ? null : JSON.stringify(r[1]), { status: r[0], headers: { 'Content-Type': 'application/json' } });
  });
}

let errors: ReturnType<typeof vi.spyOn>;
beforeEach(() => {
  errors = vi.spyOn(console, 'error');
});
afterEach(() => {
  vi.unstubAllGlobals();
  errors.mockRestore();
});

function renderApp(path: string) {
  const store = makeStore();
  render(
    <Provider store={store}>
      <MemoryRouter initialEntries={[path]}>
        <App />
      </MemoryRouter>
    </Provider>,
  );
  return store;
}

describe('the app', () => {
  it('sends a visitor without a session to login, then back where they were', async () => {
    let loggedIn = false;
    const fetchMock = serve((url, init) => {
      if (url === '/admin/api/session' && init.method === 'GET') return loggedIn ? [200, session] : [401, { error: { type: 'authentication_error', code: 'unauthorized', message: 'Log in.', param: null } }];
      if (url === '/admin/api/session' && init.method === 'POST') {
        const b = JSON.parse(init.body as string);
        if (b.password !== 'right') return [401, { error: { type: 'authentication_error', code: 'invalid_credentials', message: 'Wrong email or password.', param: null } }];
        loggedIn = true;
        return [201, session];
      }
      if (url.startsWith('/admin/api/payments?')) return [200, { object: 'list', data: [payment], has_more: false, next: null }];
      return undefined;
    });
    vi.stubGlobal('fetch', fetchMock);
    const user = userEvent.setup();
    const store = renderApp('/payments?status=succeeded');

    await user.type(await screen.findByTestId('login-email'), 'ops@example.com');
    await user.type(screen.getByTestId('login-password'), 'wrong');
    await user.click(screen.getByTestId('login-submit'));
    expect(await screen.findByTestId('login-error')).toHaveTextContent('Wrong email or password.');

    await user.clear(screen.getByTestId('login-password'));
    await user.type(screen.getByTestId('login-password'), 'right');
    await user.click(screen.getByTestId('login-submit'));

    const rows = await screen.findAllByTestId('payment-row');
    expect(rows).toHaveLength(1);
    expect(within(rows[0]).getByText('$10.50')).toBeInTheDocument();
    expect(store.getState().session.csrfToken).toBe('csrf-xyz');
    const listCall = fetchMock.mock.calls.find(([u]) => String(u).startsWith('/admin/api/payments?'));
    expect(String(listCall?.[0])).toContain('status=succeeded');
    // A viewer sees no Staff link.
    expect(screen.queryByTestId('nav-staff')).not.toBeInTheDocument();
    expect(errors).not.toHaveBeenCalled();
  }, 30000);

  it('shows the payment detail with its timeline and no refund button for a viewer', async () => {
    vi.stubGlobal(
      'fetch',
      serve((url) => {
        if (url === '/admin/api/session') return [200, session];
        if (url === '/admin/api/payments/pay_abc')
          return [
            200,
            {
              object: 'payment_detail',
              payment,
              timeline: [
                { status: 'pending', at: '2024-05-01T12:00:00Z' },
                { status: 'succeeded', at: '2024-05-01T12:00:01Z' },
              ],
              journal: [],
              refunds: [],
              receipt: null,
              webhook_deliveries: [],
              provider: null,
              request_id: 'req_123',
            },
          ];
        return undefined;
      }),
    );
    renderApp('/payments/pay_abc');
    const timeline = await screen.findByTestId('payment-timeline');
    expect(within(timeline).getAllByTestId('timeline-item')).toHaveLength(2);
    expect(screen.getByTestId('request-id')).toHaveTextContent('req_123');
    expect(screen.queryByTestId('refund-button')).not.toBeInTheDocument();
    await waitFor(() => expect(errors).not.toHaveBeenCalled());
  }, 30000);
});
