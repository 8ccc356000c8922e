import { afterEach, describe, expect, it, vi } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { Route, Routes } from 'react-router';
import PaymentDetailPage from './PaymentDetailPage';
import { renderWith, storeAs } from '../test/utils';

const payment = {
  id: 'pay_rv',
  object: 'payment',
  tenant: 'ten_a',
  from_account: 'acct_1',
  to_account: 'acct_2',
  amount: 990000,
  currency: 'USD',
  amount_refunded: 0,
  description: null,
  metadata: {},
  status: 'requires_review',
  failure_code: null,
  failure_message: null,
  created_at: '2026-12-05T10:00:00Z',
  updated_at: '2026-12-05T10:00:00Z',
  risk: { score: 60, decision: 'review', rules_matched: [{ id: 'rr_big', action: 'review', mode: 'active' }, { id: 'rr_night', action: 'block', mode: 'shadow' }] },
  review: null,
};

const detail = (p: object) => ({
  object: 'payment_detail',
  payment: p,
  timeline: [{ status: 'requires_review', at: '2026-12-05T10:00:00Z' }],
  journal: [],
  refunds: [],
  receipt: null,
  webhook_deliveries: [],
  provider: null,
  request_id: 'req_1',
});

function serve(p: object, route: (url: string, init: RequestInit) => [number, unknown] | undefined = () => undefined) {
  return vi.fn(async (url: string, init: RequestInit) => {
    const r = route(url, init) ?? (url === `/admin/api/payments/pay_rv` ? [200, detail(p)] : [404, { error: { type: 'invalid_request_error', code: 'not_found', message: 'No such route', param: null } }]);
    return new Response(JSON.stringify(r[1]), { status: r[0], headers: { 'Content-Type': 'application/json' } });
  });
}

function renderDetail(role: Parameters<typeof storeAs>[0]) {
  return renderWith(
    <Routes>
      <Route path="/payments/:id" element={<PaymentDetailPage />} />
    </Routes>,
    storeAs(role),
    '/payments/pay_rv',
  );
}

afterEach(() => vi.unstubAllGlobals());

describe('a payment’s risk and review on its detail', () => {
  it('shows the score, decision and rules matched, with Approve, Reject and Cancel while in review', async () => {
    vi.stubGlobal('fetch', serve(payment));
    renderDetail('support');
    const risk = await screen.findByTestId('payment-risk');
    expect(within(risk).getByTestId('risk-score')).toHaveTextContent('60/100');
    expect(within(risk).getByTestId('risk-decision')).toHaveTextContent('review');
    const rules = within(risk).getAllByTestId('rule-match');
    expect(rules.map((r) => r.textContent)).toEqual(['rr_bigreviewactive', 'rr_nightblockshadow']);
    expect(screen.getByTestId('payment-risk-section')).toHaveTextContent('waiting for review');
    expect(screen.getByTestId('approve-button')).toBeEnabled();
    expect(screen.getByTestId('reject-button')).toBeEnabled();
    expect(screen.getByTestId('cancel-button')).toBeEnabled(); // a payment in review can be canceled too
    expect(screen.queryByTestId('payment-review')).not.toBeInTheDocument();
  });

  it('rejects it from the page with a reason', async () => {
    const user = userEvent.setup();
    const fetchMock = serve(payment, (url, init) =>
      url === '/admin/api/payments/pay_rv/review' && init.method === 'POST' ? [200, { ...payment, status: 'canceled', failure_code: 'review_rejected' }] : undefined,
    );
    vi.stubGlobal('fetch', fetchMock);
    const { store } = renderDetail('finance');
    await user.click(await screen.findByTestId('reject-button'));
    await user.type(await screen.findByTestId('confirm-reason'), 'stolen card');
    await user.click(screen.getByTestId('confirm-button'));
    await waitFor(() => expect(store.getState().notify.current?.message).toBe('Payment pay_rv rejected: canceled.'));
    const call = fetchMock.mock.calls.find(([u]) => u === '/admin/api/payments/pay_rv/review');
    expect(JSON.parse(call?.[1].body as string)).toEqual({ decision: 'reject', reason: 'stolen card' });
  }, 30000);

  it('shows a review once decided, and no Approve or Reject', async () => {
    const reviewed = {
      ...payment,
      status: 'pending',
      review: { decision: 'approve', reason: 'known customer', reviewed_at: '2026-12-05T11:00:00Z', actor: { id: 'stf_9', email: 'risk@example.com', role: 'support' } },
    };
    vi.stubGlobal('fetch', serve(reviewed));
    renderDetail('admin');
    const review = await screen.findByTestId('payment-review');
    expect(within(review).getByTestId('review-decision')).toHaveTextContent('approve');
    expect(review).toHaveTextContent('known customer');
    expect(review).toHaveTextContent('2026-12-05 11:00:00Z');
    expect(review).toHaveTextContent('risk@example.com (stf_9, support)');
    expect(screen.queryByTestId('approve-button')).not.toBeInTheDocument();
  });

  it('has no risk section for a payment its tenant’s rules never saw, and none of the buttons for a viewer', async () => {
    vi.stubGlobal('fetch', serve({ ...payment, status: 'pending', risk: null }));
    renderDetail('viewer');
    await screen.findByTestId('payment-summary');
    expect(screen.queryByTestId('payment-risk-section')).not.toBeInTheDocument();
    expect(screen.queryByTestId('approve-button')).not.toBeInTheDocument();
    expect(screen.queryByTestId('cancel-button')).not.toBeInTheDocument();
  });
});
