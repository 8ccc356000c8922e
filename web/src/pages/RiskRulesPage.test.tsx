// The risk rules page against mocked answers of the admin routes it is built
// to (GET/POST /admin/api/tenants/{id}/risk_rules, PATCH/DELETE
// /admin/api/risk_rules/{id}, GET/POST /admin/api/tenants/{id}/risk_lists,
// DELETE /admin/api/risk_lists/{id}): what it asks and sends.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import RiskRulesPage from './RiskRulesPage';
import { renderWith, storeAs } from '../test/utils';
import { EMPTY_DRAFT, describeParams, draftToRule, windowError } from '../lib/riskRules';

const big = {
  id: 'rr_big',
  object: 'risk_rule',
  name: 'Big payments',
  kind: 'amount_above',
  params: { amount: 100000, currency: 'USD' },
  action: 'review',
  mode: 'active',
  score: 50,
  created_at: '2026-12-01T00:00:00Z',
  updated_at: '2026-12-01T00:00:00Z',
};
const burst = { ...big, id: 'rr_burst', name: null, kind: 'velocity_count', params: { count: 10, window_minutes: 60 }, action: 'block', mode: 'shadow', score: 90 };
const entry = { id: 'rle_1', object: 'risk_list_entry', list: 'blocklist', value: 'acct_thief', reason: 'chargebacks', created_at: '2026-12-02T00:00:00Z' };

type Answer = [number, unknown];
const list = (data: unknown[]) => ({ object: 'list', data, has_more: false, next: null });

function serve(route: (url: string, init: RequestInit) => Answer | undefined = () => undefined) {
  return vi.fn(async (url: string, init: RequestInit) => {
    const method = init.method ?? 'GET';
    let r = route(url, init);
    if (!r && method === 'GET' && url.startsWith('/admin/api/tenants?')) r = [200, list([{ id: 'ten_a', name: 'Acme' }])];
    if (!r && method === 'GET' && url.startsWith('/admin/api/tenants/ten_a/risk_rules')) r = [200, list([big, burst])];
    if (!r && method === 'GET' && url.startsWith('/admin/api/tenants/ten_a/risk_lists')) r = [200, list([entry])];
    r ??= [404, { error: { type: 'invalid_request_error', code: 'not_found', message: 'No such route', param: null } }];
    return new Response(JSON.stringify(r[1]), { status: r[0], headers: { 'Content-Type': 'application/json' } });
  });
}

function sent(fetchMock: ReturnType<typeof serve>, url: string, method: string) {
  const call = fetchMock.mock.calls.find(([u, i]) => u === url && i.method === method);
  expect(call, `${method} ${url}`).toBeDefined();
  const init = call?.[1] as RequestInit;
  return { body: JSON.parse(init.body as string), headers: init.headers as Record<string, string> };
}

async function confirmWith(user: ReturnType<typeof userEvent.setup>, reason: string) {
  await user.type(await screen.findByTestId('confirm-reason'), reason);
  await user.click(screen.getByTestId('confirm-button'));
}

async function choose(user: ReturnType<typeof userEvent.setup>, label: string, option: RegExp) {
  await user.click(screen.getByRole('combobox', { name: label }));
  await user.click(await screen.findByRole('option', { name: option }));
}

afterEach(() => vi.unstubAllGlobals());

describe('the risk rules page', () => {
  it('lists the URL’s tenant’s rules, their params in words, and its block list', async () => {
    const fetchMock = serve();
    vi.stubGlobal('fetch', fetchMock);
    renderWith(<RiskRulesPage />, storeAs('viewer'), '/risk?tenant=ten_a');
    const rows = await screen.findAllByTestId('rule-row');
    expect(rows).toHaveLength(2);
    expect(rows[0]).toHaveTextContent('Big payments');
    expect(within(rows[0]).getByTestId('rule-params')).toHaveTextContent('USD payments above $1,000.00');
    expect(rows[1]).toHaveTextContent('rr_burst');
    expect(within(rows[1]).getByTestId('rule-params')).toHaveTextContent('more than 10 payments by a payer in 1 hour');
    expect(within(rows[1]).getByTestId('rule-mode-chip')).toHaveTextContent('shadow');
    const entries = await screen.findAllByTestId('entry-row');
    expect(entries[0]).toHaveTextContent('acct_thief');
    expect(entries[0]).toHaveTextContent('chargebacks');
    const listCall = String(fetchMock.mock.calls.find(([u]) => String(u).startsWith('/admin/api/tenants/ten_a/risk_lists'))?.[0]);
    expect(listCall).toContain('list=blocklist');
    // A viewer reads; only finance and admin change anything.
    expect(screen.queryByTestId('new-rule-button')).not.toBeInTheDocument();
    expect(screen.queryByTestId('edit-rule-button')).not.toBeInTheDocument();
    expect(screen.queryByTestId('delete-rule-button')).not.toBeInTheDocument();
    expect(screen.queryByTestId('add-entry-button')).not.toBeInTheDocument();
    expect(screen.queryByTestId('remove-entry-button')).not.toBeInTheDocument();
  });

  it('asks for a tenant first', async () => {
    vi.stubGlobal('fetch', serve());
    renderWith(<RiskRulesPage />, storeAs('finance'), '/risk');
    expect(await screen.findByTestId('empty')).toHaveTextContent('Pick a tenant');
  });

  it('creates a rule from the form of its kind, amounts typed in major units', async () => {
    const user = userEvent.setup();
    const fetchMock = serve((url, init) => (url === '/admin/api/tenants/ten_a/risk_rules' && init.method === 'POST' ? [201, { ...burst, id: 'rr_new', kind: 'velocity_amount' }] : undefined));
    vi.stubGlobal('fetch', fetchMock);
    const { store } = renderWith(<RiskRulesPage />, storeAs('finance', 'tok-r'), '/risk?tenant=ten_a');
    await user.click(await screen.findByTestId('new-rule-button'));
    await choose(user, 'Kind', /Too much in a window/);
    await user.type(screen.getByTestId('rule-name'), 'Drain');
    await user.type(screen.getByTestId('rule-amount'), '2500.5');
    await user.clear(screen.getByTestId('rule-window_minutes'));
    await user.type(screen.getByTestId('rule-window_minutes'), '90');
    // 90 minutes is not a whole number of hours: refused before sending.
    expect(screen.getByText(/whole number of hours/)).toBeInTheDocument();
    await user.clear(screen.getByTestId('rule-window_minutes'));
    await user.type(screen.getByTestId('rule-window_minutes'), '120');
    await choose(user, 'Action', /^block$/);
    await confirmWith(user, 'account takeovers drain in two hours');
    await waitFor(() => expect(store.getState().notify.current?.message).toBe('Rule rr_new created (velocity_amount, block, shadow).'));
    const { body, headers } = sent(fetchMock, '/admin/api/tenants/ten_a/risk_rules', 'POST');
    expect(body).toEqual({
      name: 'Drain',
      kind: 'velocity_amount',
      params: { amount: 250050, currency: 'USD', window_minutes: 120 },
      action: 'block',
      mode: 'active',
      score: 90,
      reason: 'account takeovers drain in two hours',
    });
    expect(headers['X-CSRF-Token']).toBe('tok-r');
    expect(headers['Idempotency-Key']).toMatch(/^[0-9a-f-]{36}$/);
  }, 60000);

  it('changes a rule’s mode, action and score, and deletes one, each with a reason', async () => {
    const user = userEvent.setup();
    const fetchMock = serve((url, init) => {
      if (url === '/admin/api/risk_rules/rr_big' && init.method === 'PATCH') return [200, { ...big, mode: 'shadow', score: 70 }];
      if (url === '/admin/api/risk_rules/rr_burst' && init.method === 'DELETE') return [200, { id: 'rr_burst', object: 'risk_rule', deleted: true }];
      return undefined;
    });
    vi.stubGlobal('fetch', fetchMock);
    const { store } = renderWith(<RiskRulesPage />, storeAs('admin'), '/risk?tenant=ten_a');
    const rows = await screen.findAllByTestId('rule-row');
    await user.click(within(rows[0]).getByTestId('edit-rule-button'));
    // Unchanged: nothing to save.
    expect(await screen.findByTestId('confirm-button')).toBeDisabled();
    await choose(user, 'Mode', /^shadow$/);
    await user.clear(screen.getByTestId('rule-score'));
    await user.type(screen.getByTestId('rule-score'), '70');
    await confirmWith(user, 'try it on live traffic first');
    await waitFor(() => expect(store.getState().notify.current?.message).toBe('Rule rr_big: review, shadow, score 70.'));
    expect(sent(fetchMock, '/admin/api/risk_rules/rr_big', 'PATCH').body).toEqual({ action: 'review', mode: 'shadow', score: 70, reason: 'try it on live traffic first' });

    await user.click(within(rows[1]).getByTestId('delete-rule-button'));
    await confirmWith(user, 'replaced by a velocity_amount rule');
    await waitFor(() => expect(store.getState().notify.current?.message).toBe('Rule rr_burst deleted.'));
    expect(sent(fetchMock, '/admin/api/risk_rules/rr_burst', 'DELETE').body).toEqual({ reason: 'replaced by a velocity_amount rule' });
  }, 60000);

  it('adds an account to the block list and removes one, and shows a refusal', async () => {
    const user = userEvent.setup();
    const fetchMock = serve((url, init) => {
      if (url === '/admin/api/tenants/ten_a/risk_lists' && init.method === 'POST') {
        const b = JSON.parse(init.body as string);
        if (b.value === 'acct_thief')
          return [409, { error: { type: 'invalid_request_error', code: 'risk_list_entry_exists', message: 'acct_thief is on blocklist already (rle_1).', param: 'value' } }];
        return [201, { ...entry, id: 'rle_2', value: b.value, reason: b.reason }];
      }
      if (url === '/admin/api/risk_lists/rle_1' && init.method === 'DELETE') return [200, { id: 'rle_1', object: 'risk_list_entry', deleted: true }];
      return undefined;
    });
    vi.stubGlobal('fetch', fetchMock);
    const { store } = renderWith(<RiskRulesPage />, storeAs('finance'), '/risk?tenant=ten_a');
    await user.click(await screen.findByTestId('add-entry-button'));
    await user.type(await screen.findByTestId('entry-value'), 'acct_thief');
    await confirmWith(user, 'chargebacks again');
    expect(await screen.findByTestId('confirm-error')).toHaveTextContent('on blocklist already');
    await user.clear(screen.getByTestId('entry-value'));
    await user.type(screen.getByTestId('entry-value'), 'acct_mule');
    await user.click(screen.getByTestId('confirm-button'));
    await waitFor(() => expect(store.getState().notify.current?.message).toBe('acct_mule added to blocklist (rle_2).'));
    const posts = fetchMock.mock.calls.filter(([u, i]) => u === '/admin/api/tenants/ten_a/risk_lists' && i.method === 'POST');
    expect(JSON.parse(posts[1][1].body as string)).toEqual({ list: 'blocklist', value: 'acct_mule', reason: 'chargebacks again' });

    await user.click(within((await screen.findAllByTestId('entry-row'))[0]).getByTestId('remove-entry-button'));
    await confirmWith(user, 'refunded, cleared');
    await waitFor(() => expect(store.getState().notify.current?.message).toBe('acct_thief removed from blocklist.'));
    expect(sent(fetchMock, '/admin/api/risk_lists/rle_1', 'DELETE').body).toEqual({ reason: 'refunded, cleared' });
  }, 60000);
});

describe('a rule’s form', () => {
  it('turns each kind’s draft into its params, as docs/risk.md names them', () => {
    const ok = (d: Partial<typeof EMPTY_DRAFT>) => {
      const r = draftToRule({ ...EMPTY_DRAFT, ...d });
      if (!r.ok) throw new Error(`${r.field}: ${r.error}`);
      return r.rule;
    };
    expect(ok({ kind: 'amount_above', amount: '1000', currency: 'JPY' }).params).toEqual({ amount: 1000, currency: 'JPY' });
    expect(ok({ kind: 'amount_above', amount: '1.005', currency: 'BHD' }).params).toEqual({ amount: 1005, currency: 'BHD' });
    expect(ok({ kind: 'velocity_count', count: '10', window_minutes: '60' }).params).toEqual({ count: 10, window_minutes: 60 });
    expect(ok({ kind: 'new_account_amount', amount: '50', account_age_hours: '48' }).params).toEqual({ amount: 5000, currency: 'USD', account_age_hours: 48 });
    expect(ok({ kind: 'listed', party: 'payee' }).params).toEqual({ list: 'blocklist', party: 'payee' });
    expect(ok({ kind: 'currency_not_allowed', allowed: ['USD', 'EUR'] }).params).toEqual({ allowed: ['EUR', 'USD'] });
    expect(ok({ kind: 'metadata_equals', key: 'channel', value: 'crypto' }).params).toEqual({ key: 'channel', value: 'crypto' });
    // Scores default by action; a name is optional.
    expect(ok({ kind: 'listed', action: 'block' })).toMatchObject({ score: 90, name: null, mode: 'active' });
    expect(ok({ kind: 'listed', action: 'allow' }).score).toBe(0);
    expect(ok({ kind: 'listed', action: 'review', score: '75' }).score).toBe(75);
  });

  it('names the field at fault', () => {
    const bad = (d: Partial<typeof EMPTY_DRAFT>) => {
      const r = draftToRule({ ...EMPTY_DRAFT, ...d });
      return r.ok ? null : r.field;
    };
    expect(bad({ kind: 'amount_above', amount: '' })).toBe('amount');
    expect(bad({ kind: 'amount_above', amount: '10.5', currency: 'JPY' })).toBe('amount');
    expect(bad({ kind: 'velocity_count', count: '0' })).toBe('count');
    expect(bad({ kind: 'velocity_count', count: '3', window_minutes: '10081' })).toBe('window_minutes');
    expect(bad({ kind: 'listed', list: 'Block List' })).toBe('list');
    expect(bad({ kind: 'currency_not_allowed', allowed: [] })).toBe('allowed');
    expect(bad({ kind: 'metadata_equals', key: '' })).toBe('key');
    expect(bad({ kind: 'listed', score: '101' })).toBe('score');
    expect(windowError('60')).toBeNull();
    expect(windowError('61')).toMatch(/whole number of hours/);
    expect(windowError('10080')).toBeNull();
  });

  it('says a rule’s params in words', () => {
    expect(describeParams('listed', { list: 'blocklist', party: 'either' })).toBe('either on list blocklist');
    expect(describeParams('currency_not_allowed', { allowed: ['EUR', 'USD'] })).toBe('currency not in EUR, USD');
    expect(describeParams('velocity_amount', { amount: 500000, currency: 'EUR', window_minutes: 1440 })).toBe("a payer's EUR payments above €5,000.00 in 24 hours");
  });
});
