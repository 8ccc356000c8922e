import { describe, expect, it } from 'vitest';
import { EMPTY_FILTERS, filtersFromSearch, filtersToApiParams, filtersToSearch } from './paymentFilters';
import { hasRole } from './roles';

describe('payment filters and the URL', () => {
  it('round-trips through the query string', () => {
    const f = { ...EMPTY_FILTERS, q: 'coffee', status: 'failed', currency: 'JPY', amount_min: '100', sort: 'amount' as const, order: 'asc' as const, from: '2024-01-01' };
    const qs = filtersToSearch(f);
    expect(filtersFromSearch(qs)).toEqual(f);
  });
  it('leaves defaults out of the URL', () => {
    expect(filtersToSearch(EMPTY_FILTERS)).toBe('');
    expect(filtersToSearch({ ...EMPTY_FILTERS, status: 'pending' })).toBe('status=pending');
  });
  it('ignores unknown sort values', () => {
    const f = filtersFromSearch('?sort=evil&order=sideways&tenant=t1');
    expect(f.sort).toBe('created');
    expect(f.order).toBe('desc');
    expect(f.tenant).toBe('t1');
  });
  it('converts major units to minor units by the currency exponent', () => {
    const usd = filtersToApiParams({ ...EMPTY_FILTERS, currency: 'USD', amount_min: '10.5', amount_max: '20' });
    expect(usd.params.amount_gte).toBe('1050');
    expect(usd.params.amount_lte).toBe('2000');
    const jpy = filtersToApiParams({ ...EMPTY_FILTERS, currency: 'JPY', amount_min: '500' });
    expect(jpy.params.amount_gte).toBe('500');
    const bhd = filtersToApiParams({ ...EMPTY_FILTERS, currency: 'BHD', amount_max: '1.5' });
    expect(bhd.params.amount_lte).toBe('1500');
  });
  it('reports a bad amount instead of sending it', () => {
    const r = filtersToApiParams({ ...EMPTY_FILTERS, currency: 'JPY', amount_min: '1.5' });
    expect(r.error).toMatch(/Minimum amount/);
    expect(r.params.amount_gte).toBeUndefined();
  });
  it('maps dates, sort, cursor and limit', () => {
    const r = filtersToApiParams({ ...EMPTY_FILTERS, from: '2024-02-01', to: '2024-02-29', after: 'pay_x' }, 50);
    expect(r.params).toMatchObject({
      created_gte: '2024-02-01T00:00:00Z',
      created_lte: '2024-02-29T23:59:59Z',
      starting_after: 'pay_x',
      limit: '50',
      sort: 'created',
      order: 'desc',
    });
  });
});

describe('roles', () => {
  it('orders viewer < support < finance < admin', () => {
    expect(hasRole('viewer', 'support')).toBe(false);
    expect(hasRole('support', 'support')).toBe(true);
    expect(hasRole('finance', 'support')).toBe(true);
    expect(hasRole('finance', 'admin')).toBe(false);
    expect(hasRole('admin', 'finance')).toBe(true);
    expect(hasRole(null, 'viewer')).toBe(false);
  });
});
