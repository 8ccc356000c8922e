import { afterEach, describe, expect, it, vi } from 'vitest';
import { screen, within } from '@testing-library/react';
import ReconciliationPage, { yesterdayUtc } from './ReconciliationPage';
import { renderWith, storeAs } from '../test/utils';

const day = {
  object: 'reconciliation', date: '2026-12-04', status: 'breaks', provider_lines: 4, finsys_lines: 4,
  matched: 3, breaks_count: 2, truncated: false, reconciled_at: '2026-12-05T00:10:00Z', has_more: false,
  breaks: [
    { kind: 'amount_mismatch', object: 'payment', id: 'pay_1', tenant: 'ten_a', provider_id: 'pay_1',
      finsys: { amount: 1234, currency: 'USD', status: 'succeeded' }, provider: { amount: 1200, currency: 'USD', status: 'approved' } },
    { kind: 'missing_in_finsys', object: 'payment', id: null, tenant: null, provider_id: 'pay_x',
      finsys: null, provider: { amount: 500, currency: 'JPY', status: 'approved' } },
  ],
};

afterEach(() => vi.unstubAllGlobals());

describe('the reconciliation page', () => {
  it('shows the day from the URL with each break, both sides side by side', async () => {
    const fetchMock = vi.fn(async (_url: string) => new Response(JSON.stringify(day), { status: 200, headers: { 'Content-Type': 'application/json' } }));
    vi.stubGlobal('fetch', fetchMock);
    renderWith(<ReconciliationPage />, storeAs('finance'), '/reconciliation?date=2026-12-04');
    const rows = await screen.findAllByTestId('recon-break');
    expect(String(fetchMock.mock.calls[0][0])).toBe('/admin/api/reconciliations/2026-12-04');
    expect(rows).toHaveLength(2);
    expect(within(rows[0]).getByText('Amount differs')).toBeVisible();
    expect(rows[0]).toHaveTextContent('$12.34');
    expect(rows[0]).toHaveTextContent('$12.00');
    expect(within(rows[1]).getByText('Missing in FinSys')).toBeVisible();
    expect(rows[1]).toHaveTextContent('pay_x');
    expect(screen.getByTestId('recon-summary')).toHaveTextContent('3 matched · 2 breaks');
  });

  it('defaults to yesterday (UTC), the day the worker reconciles', () => {
    expect(yesterdayUtc(new Date('2026-12-05T00:30:00Z'))).toBe('2026-12-04');
  });
});
