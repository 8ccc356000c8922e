import { afterEach, describe, expect, it, vi } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import ReportsPage from './ReportsPage';
import { renderWith, storeAs } from '../test/utils';
import { dailySeries, defaultPeriod, figuresOf, periodError, totalsOf } from '../lib/reports';
import type { DailyReport } from '../store/types';

const fig = (count: number, volume: number) => ({ count, volume });
const base = { payments: fig(3, 1500), succeeded: fig(2, 1000), declined: fig(1, 500), canceled: fig(0, 0), refunds: fig(1, 100) };

const report: DailyReport = {
  object: 'daily_report',
  from: '2026-12-01',
  to: '2026-12-03',
  currency: 'JPY',
  tenant: null,
  as_of: '2026-12-03T12:00:00Z',
  data: [
    { object: 'daily_rollup', date: '2026-12-01', currency: 'JPY', ...base },
    { object: 'daily_rollup', date: '2026-12-03', currency: 'JPY', ...base, payments: fig(5, 250000) },
  ],
  totals: [{ object: 'rollup_total', currency: 'JPY', ...base, payments: fig(8, 251500), succeeded: fig(4, 2000), declined: fig(2, 1000), refunds: fig(2, 200) }],
};

function serve(answer: unknown) {
  return vi.fn(async (url: string) => {
    const body = url.startsWith('/admin/api/reports/daily') ? answer : { object: 'list', data: [{ id: 'ten_a', name: 'Acme' }], has_more: false, next: null };
    return new Response(JSON.stringify(body), { status: 200, headers: { 'Content-Type': 'application/json' } });
  });
}

afterEach(() => vi.unstubAllGlobals());

describe('the reports page', () => {
  it('asks for the period and currency of the URL and shows the totals in the currency’s minor units', async () => {
    const fetchMock = serve(report);
    vi.stubGlobal('fetch', fetchMock);
    renderWith(<ReportsPage />, storeAs('finance'), '/reports?from=2026-12-01&to=2026-12-03&currency=JPY');
    const rows = await screen.findAllByTestId('report-total');
    const call = String(fetchMock.mock.calls.find(([u]) => String(u).startsWith('/admin/api/reports/daily'))?.[0]);
    const q = new URLSearchParams(call.split('?')[1]);
    expect([q.get('from'), q.get('to'), q.get('currency'), q.get('tenant')]).toEqual(['2026-12-01', '2026-12-03', 'JPY', null]);
    expect(rows.map((r) => r.getAttribute('data-figure'))).toEqual(['payments', 'succeeded', 'declined', 'canceled', 'refunds']);
    expect(within(rows[0]).getByText('Created')).toBeInTheDocument();
    expect(rows[0]).toHaveTextContent('8');
    expect(rows[0]).toHaveTextContent('¥251,500');
    expect(rows[4]).toHaveTextContent('¥200');
    // The charts: a series per figure, every day of the period on the axis
    // (the 2nd has no row: zeros), volumes in yen.
    for (const id of ['report-count-chart', 'report-volume-chart']) {
      const chart = screen.getByTestId(id);
      for (const t of ['Created', 'Succeeded', 'Declined', 'Canceled', 'Refunds', '2026-12-01', '2026-12-02', '2026-12-03']) expect(chart).toHaveTextContent(t);
    }
    expect(screen.getByTestId('report-volume-chart')).toHaveTextContent('260K');
    expect(screen.getByTestId('report-as-of')).toHaveTextContent('Rolled up to 2026-12-03 12:00:00Z');
    // No flagged or blocked figures in this answer: none shown.
    expect(screen.queryByText('Flagged for review')).not.toBeInTheDocument();
  });

  it('shows flagged, blocked and rejected-in-review figures when the answer has them', async () => {
    const extra = { flagged: fig(4, 40000), blocked: fig(2, 9900), review_rejected: fig(1, 1234) };
    const withRisk: DailyReport = {
      ...report,
      currency: 'USD',
      data: [{ object: 'daily_rollup', date: '2026-12-02', currency: 'USD', ...base, ...extra }],
      totals: [{ object: 'rollup_total', currency: 'USD', ...base, ...extra }],
    };
    vi.stubGlobal('fetch', serve(withRisk));
    renderWith(<ReportsPage />, storeAs('admin'), '/reports?from=2026-12-01&to=2026-12-03&currency=USD');
    const rows = await screen.findAllByTestId('report-total');
    expect(rows.map((r) => r.getAttribute('data-figure'))).toEqual(['payments', 'succeeded', 'declined', 'canceled', 'refunds', 'flagged', 'blocked', 'review_rejected']);
    expect(rows[5]).toHaveTextContent('Flagged for review');
    expect(rows[5]).toHaveTextContent('$400.00');
    expect(rows[6]).toHaveTextContent('$99.00');
    expect(rows[7]).toHaveTextContent('$12.34');
  });

  it('says so when the currency has nothing in the period, and refuses a period the server would', async () => {
    const fetchMock = serve({ ...report, data: [], totals: [] });
    vi.stubGlobal('fetch', fetchMock);
    renderWith(<ReportsPage />, storeAs('finance'), '/reports?from=2026-12-01&to=2026-12-03&currency=EUR');
    expect(await screen.findByTestId('empty')).toHaveTextContent('No EUR payments from 2026-12-01 to 2026-12-03.');
    renderWith(<ReportsPage />, storeAs('finance'), '/reports?from=2026-12-05&to=2026-12-01');
    expect(await screen.findByText('The first day is after the last.')).toBeInTheDocument();
    await waitFor(() => expect(fetchMock.mock.calls.filter(([u]) => String(u).includes('from=2026-12-05'))).toHaveLength(0));
  });
});

describe('the reports arithmetic', () => {
  it('fills the days without a row with zeros, in major units to draw and minor units to show', () => {
    const s = dailySeries(report, 'JPY', figuresOf(report.data));
    expect(s.map((p) => p.date)).toEqual(['2026-12-01', '2026-12-02', '2026-12-03']);
    expect(s[1].payments_count).toBe(0);
    expect(s[2].payments_count).toBe(5);
    expect(s[2].payments_volume).toBe(250000);
    const usd: DailyReport = { ...report, data: [{ object: 'daily_rollup', date: '2026-12-01', currency: 'USD', ...base }] };
    const u = dailySeries(usd, 'USD', figuresOf(usd.data));
    expect(u[0].payments_volume).toBe(15);
    expect(u[0].payments_minor).toBe('1500');
  });

  it('orders the figures it knows and keeps the ones it does not', () => {
    expect(figuresOf([{ object: 'daily_rollup', currency: 'USD', zeta: fig(1, 1), blocked: fig(1, 1), payments: fig(1, 1) }])).toEqual(['payments', 'blocked', 'zeta']);
  });

  it('sums the days with BigInt when the answer has no totals', () => {
    const t = totalsOf({ ...report, totals: undefined }, 'JPY', ['payments']);
    expect(t.payments).toEqual({ count: 8n, volume: 251500n });
  });

  it('checks the period as the server does: both days, in order, at most 366', () => {
    expect(periodError('2026-01-01', '2026-12-31')).toBeNull();
    expect(periodError('2024-01-01', '2024-12-31')).toBeNull(); // 366 days
    expect(periodError('2024-01-01', '2025-01-01')).toMatch(/366/);
    expect(periodError('2026-02-30', '2026-03-01')).toBe('Pick both days.');
    expect(defaultPeriod(new Date('2026-12-05T10:00:00Z'))).toEqual({ from: '2026-11-05', to: '2026-12-05' });
  });
});
