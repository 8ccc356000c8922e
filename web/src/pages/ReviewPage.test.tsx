import { afterEach, describe, expect, it, vi } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import ReviewPage from './ReviewPage';
import { ReviewActions } from '../components/risk';
import { renderWith, storeAs } from '../test/utils';

const inReview = {
  id: 'pay_r1',
  object: 'payment',
  tenant: 'ten_a',
  from_account: 'acct_payer',
  to_account: 'acct_payee',
  amount: 125000,
  currency: 'USD',
  amount_refunded: 0,
  description: null,
  metadata: {},
  status: 'requires_review',
  failure_code: null,
  failure_message: null,
  created_at: '2026-12-05T10:00:00Z',
  updated_at: '2026-12-05T10:00:00Z',
  risk: {
    score: 90,
    decision: 'review',
    rules_matched: [
      { id: 'rr_big', action: 'review', mode: 'active' },
      { id: 'rr_try', action: 'block', mode: 'shadow' },
    ],
  },
  review: null,
};
const yen = { ...inReview, id: 'pay_r2', tenant: 'ten_b', amount: 50000, currency: 'JPY', risk: { score: 40, decision: 'review', rules_matched: [{ id: 'rr_new', action: 'review', mode: 'active' }] } };

type Answer = [number, unknown];
function serve(route: (url: string, init: RequestInit) => Answer | undefined) {
  return vi.fn(async (url: string, init: RequestInit) => {
    let r = route(url, init);
    if (!r && url.startsWith('/admin/api/tenants')) r = [200, { object: 'list', data: [{ id: 'ten_a', name: 'Acme' }], has_more: false, next: null }];
    if (!r && url.startsWith('/admin/api/payments?')) r = [200, { object: 'list', data: [inReview, yen], has_more: false, next: null }];
    r ??= [404, { error: { type: 'invalid_request_error', code: 'not_found', message: 'No such route', param: null } }];
    return new Response(JSON.stringify(r[1]), { status: r[0], headers: { 'Content-Type': 'application/json' } });
  });
}

afterEach(() => vi.unstubAllGlobals());

describe('the review queue', () => {
  it('lists the payments in review, oldest first, with score and the rules matched', async () => {
    const fetchMock = serve(() => undefined);
    vi.stubGlobal('fetch', fetchMock);
    renderWith(<ReviewPage />, storeAs('support'), '/review?tenant=ten_a');
    const rows = await screen.findAllByTestId('review-row');
    expect(rows).toHaveLength(2);
    const list = fetchMock.mock.calls.map(([u]) => String(u)).find((u) => u.startsWith('/admin/api/payments?'));
    const q = new URLSearchParams(list?.split('?')[1]);
    expect(q.get('status')).toBe('requires_review');
    expect(q.get('order')).toBe('asc');
    expect(q.get('tenant')).toBe('ten_a');
    expect(rows[0]).toHaveTextContent('$1,250.00');
    expect(rows[0]).toHaveTextContent('ten_a');
    expect(rows[0]).toHaveTextContent('acct_payer');
    expect(within(rows[0]).getByTestId('risk-score')).toHaveTextContent('90/100');
    const matched = within(rows[0]).getAllByTestId('rule-match');
    expect(matched).toHaveLength(2);
    expect(matched[0]).toHaveTextContent('rr_big');
    expect(matched[0]).toHaveTextContent('review');
    expect(matched[0]).toHaveTextContent('active');
    expect(matched[1]).toHaveTextContent('rr_try');
    expect(matched[1]).toHaveTextContent('shadow');
    expect(rows[1]).toHaveTextContent('¥50,000');
    expect(within(rows[1]).getByTestId('approve-button')).toBeVisible();
    expect(within(rows[1]).getByTestId('reject-button')).toBeVisible();
  });

  it('approves a payment after a confirmation with a reason, with an Idempotency-Key', async () => {
    const user = userEvent.setup();
    const fetchMock = serve((url, init) => (url === '/admin/api/payments/pay_r1/review' && init.method === 'POST' ? [200, { ...inReview, status: 'pending' }] : undefined));
    vi.stubGlobal('fetch', fetchMock);
    const { store } = renderWith(<ReviewPage />, storeAs('support', 'tok-7'), '/review');
    const rows = await screen.findAllByTestId('review-row');
    await user.click(within(rows[0]).getByTestId('approve-button'));
    const confirm = await screen.findByTestId('confirm-button');
    expect(confirm).toBeDisabled();
    await user.type(screen.getByTestId('confirm-reason'), 'known customer, called back');
    await user.click(confirm);
    await waitFor(() => expect(store.getState().notify.current?.message).toBe('Payment pay_r1 approved: pending.'));
    const call = fetchMock.mock.calls.find(([u]) => u === '/admin/api/payments/pay_r1/review');
    const init = call?.[1] as RequestInit;
    const h = init.headers as Record<string, string>;
    expect(h['X-CSRF-Token']).toBe('tok-7');
    expect(h['Idempotency-Key']).toMatch(/^[0-9a-f-]{36}$/);
    expect(JSON.parse(init.body as string)).toEqual({ decision: 'approve', reason: 'known customer, called back' });
    // The queue is asked again: the payment has left it.
    await waitFor(() => expect(fetchMock.mock.calls.filter(([u]) => String(u).startsWith('/admin/api/payments?')).length).toBeGreaterThan(1));
  }, 30000);

  it('shows the server’s refusal of a reject in the dialog, and a retry keeps the key', async () => {
    const user = userEvent.setup();
    const fetchMock = serve((url) =>
      url === '/admin/api/payments/pay_r2/review'
        ? [409, { error: { type: 'invalid_request_error', code: 'payment_not_reviewable', message: 'Payment pay_r2 is canceled; only a payment in review can be reviewed.', param: 'id' } }]
        : undefined,
    );
    vi.stubGlobal('fetch', fetchMock);
    renderWith(<ReviewPage />, storeAs('admin'), '/review');
    const rows = await screen.findAllByTestId('review-row');
    await user.click(within(rows[1]).getByTestId('reject-button'));
    await user.type(await screen.findByTestId('confirm-reason'), 'card reported stolen');
    await user.click(screen.getByTestId('confirm-button'));
    expect(await screen.findByTestId('confirm-error')).toHaveTextContent('only a payment in review');
    await user.click(screen.getByTestId('confirm-button'));
    await waitFor(() => expect(fetchMock.mock.calls.filter(([u]) => u === '/admin/api/payments/pay_r2/review')).toHaveLength(2));
    const [a, b] = fetchMock.mock.calls.filter(([u]) => u === '/admin/api/payments/pay_r2/review').map(([, i]) => (i.headers as Record<string, string>)['Idempotency-Key']);
    expect(a).toBe(b);
    expect(JSON.parse(fetchMock.mock.calls.find(([u]) => u === '/admin/api/payments/pay_r2/review')?.[1].body as string)).toEqual({ decision: 'reject', reason: 'card reported stolen' });
  }, 30000);

  it('says so when nothing waits', async () => {
    vi.stubGlobal('fetch', serve((url) => (url.startsWith('/admin/api/payments?') ? [200, { object: 'list', data: [], has_more: false, next: null }] : undefined)));
    renderWith(<ReviewPage />, storeAs('support'), '/review');
    expect(await screen.findByTestId('empty')).toHaveTextContent('No payments wait for review.');
  });

  it('shows Approve and Reject to support and above only, and only for a payment in review', () => {
    renderWith(<ReviewActions payment={inReview as never} />, storeAs('viewer'));
    expect(screen.queryByTestId('approve-button')).not.toBeInTheDocument();
    renderWith(<ReviewActions payment={{ ...inReview, status: 'pending' } as never} />, storeAs('admin'));
    expect(screen.queryByTestId('approve-button')).not.toBeInTheDocument();
    renderWith(<ReviewActions payment={inReview as never} />, storeAs('support'));
    expect(screen.getByTestId('approve-button')).toBeVisible();
    expect(screen.getByTestId('reject-button')).toBeVisible();
  });
});
