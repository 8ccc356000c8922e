// The payments page's filters, as they live in the URL query string (what a
// person typed: amounts in major units, dates as YYYY-MM-DD in UTC) and as
// the API wants them (minor units, RFC 3339).
import { parseMajor } from './money';

export interface PaymentFilters {
  q: string;
  status: string;
  tenant: string;
  account: string;
  currency: string;
  amount_min: string; // major units, as typed
  amount_max: string;
  from: string; // YYYY-MM-DD (UTC)
  to: string;
  sort: 'created' | 'amount';
  order: 'desc' | 'asc';
  after: string; // keyset cursor of the current page
}

export const EMPTY_FILTERS: PaymentFilters = {
  q: '',
  status: '',
  tenant: '',
  account: '',
  currency: '',
  amount_min: '',
  amount_max: '',
  from: '',
  to: '',
  sort: 'created',
  order: 'desc',
  after: '',
};

const KEYS = Object.keys(EMPTY_FILTERS) as (keyof PaymentFilters)[];

export function filtersFromSearch(search: string | URLSearchParams): PaymentFilters {
  const p = typeof search === 'string' ? new URLSearchParams(search) : search;
  const f: PaymentFilters = { ...EMPTY_FILTERS };
  for (const k of KEYS) {
    const v = p.get(k);
    if (v !== null) (f as unknown as Record<string, string>)[k] = v;
  }
  if (f.sort !== 'amount') f.sort = 'created';
  if (f.order !== 'asc') f.order = 'desc';
  return f;
}

/** Only what differs from the defaults, in a stable order: short shareable URLs. */
export function filtersToSearch(f: PaymentFilters): string {
  const p = new URLSearchParams();
  for (const k of KEYS) {
    const v = f[k];
    if (v !== '' && v !== EMPTY_FILTERS[k]) p.set(k, v);
  }
  return p.toString();
}

export type ApiParams = Record<string, string>;

/** The API's query for these filters, or the first error (e.g. an amount with too many decimals). */
export function filtersToApiParams(f: PaymentFilters, limit = 25): { params: ApiParams; error: string | null } {
  const params: ApiParams = { limit: String(limit), sort: f.sort, order: f.order };
  let error: string | null = null;
  for (const k of ['q', 'status', 'tenant', 'account', 'currency'] as const) {
    if (f[k].trim()) params[k] = f[k].trim();
  }
  // Minor units depend on the currency's exponent; without a currency the
  // default exponent (2) applies.
  const cur = f.currency || 'USD';
  for (const [k, api] of [
    ['amount_min', 'amount_gte'],
    ['amount_max', 'amount_lte'],
  ] as const) {
    if (!f[k].trim()) continue;
    const r = parseMajor(f[k], cur);
    if (r.ok) params[api] = r.minor.toString();
    else error ??= `${k === 'amount_min' ? 'Minimum' : 'Maximum'} amount: ${r.error}`;
  }
  if (/^\d{4}-\d{2}-\d{2}$/.test(f.from)) params.created_gte = `${f.from}T00:00:00Z`;
  if (/^\d{4}-\d{2}-\d{2}$/.test(f.to)) params.created_lte = `${f.to}T23:59:59Z`;
  if (f.after) params.starting_after = f.after;
  return { params, error };
}
