import { afterEach, describe, expect, it, vi } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import StaffPage, { StaffStateAction } from './StaffPage';
import { renderWith, storeAs } from '../test/utils';

// storeAs() logs in as stf_1.
const me = { object: 'staff', id: 'stf_1', email: 'a@example.com', role: 'admin', created_at: '2024-05-01T12:00:00Z', disabled_at: null };
const active = { object: 'staff', id: 'stf_2', email: 'b@example.com', role: 'support', created_at: '2024-05-01T12:00:00Z', disabled_at: null };
const disabled = { object: 'staff', id: 'stf_3', email: 'c@example.com', role: 'viewer', created_at: '2024-05-01T12:00:00Z', disabled_at: '2024-06-01T08:00:00Z' };

function serve(list: unknown[], answer: (url: string, init: RequestInit) => [number, unknown]) {
  return vi.fn(async (url: string, init: RequestInit) => {
    const [status, body] = url === '/admin/api/staff' && (init.method ?? 'GET') === 'GET' ? [200, { object: 'list', data: list, has_more: false, next: null }] : answer(url, init);
    return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
  });
}

afterEach(() => vi.unstubAllGlobals());

describe('the staff page', () => {
  it('shows each member’s state, with Disable or Enable for others, never for oneself', async () => {
    vi.stubGlobal('fetch', serve([me, active, disabled], () => [404, {}]));
    renderWith(<StaffPage />, storeAs('admin'));
    const rows = await screen.findAllByTestId('staff-row');
    expect(rows).toHaveLength(3);
    expect(within(rows[0]).getByTestId('staff-status')).toHaveTextContent('active');
    expect(within(rows[0]).queryByRole('button')).not.toBeInTheDocument();
    expect(within(rows[1]).getByTestId('disable-staff-button')).toBeVisible();
    expect(within(rows[2]).getByTestId('staff-status')).toHaveTextContent('disabled');
    expect(within(rows[2]).getByTestId('enable-staff-button')).toBeVisible();
  });

  it('disables a member after a confirmation with a reason', async () => {
    const user = userEvent.setup();
    const fetchMock = serve([me, active], (url, init) => (url === '/admin/api/staff/stf_2/disable' && init.method === 'POST' ? [200, { ...active, disabled_at: '2024-06-02T00:00:00Z' }] : [404, {}]));
    vi.stubGlobal('fetch', fetchMock);
    const { store } = renderWith(<StaffPage />, storeAs('admin', 'tok-9'));
    await user.click(await screen.findByTestId('disable-staff-button'));
    const confirm = await screen.findByTestId('confirm-button');
    expect(confirm).toBeDisabled();
    await user.type(screen.getByTestId('confirm-reason'), 'left the company');
    await user.click(confirm);
    await waitFor(() => expect(store.getState().notify.current?.message).toBe('b@example.com disabled.'));
    const call = fetchMock.mock.calls.find(([u]) => u === '/admin/api/staff/stf_2/disable');
    expect(call).toBeDefined();
    const init = call?.[1] as RequestInit;
    const h = init.headers as Record<string, string>;
    expect(h['X-CSRF-Token']).toBe('tok-9');
    expect(h['Idempotency-Key']).toMatch(/^[0-9a-f-]{36}$/);
    expect(JSON.parse(init.body as string)).toEqual({ reason: 'left the company' });
  });

  it('shows the server’s refusal in the dialog', async () => {
    const user = userEvent.setup();
    vi.stubGlobal(
      'fetch',
      serve([active], () => [409, { error: { type: 'invalid_request_error', code: 'staff_self_disable', message: 'You cannot disable yourself: another admin must do it.', param: 'id' } }]),
    );
    renderWith(<StaffPage />, storeAs('admin'));
    await user.click(await screen.findByTestId('disable-staff-button'));
    await user.type(await screen.findByTestId('confirm-reason'), 'why');
    await user.click(screen.getByTestId('confirm-button'));
    expect(await screen.findByTestId('confirm-error')).toHaveTextContent('You cannot disable yourself');
  });

  it('hides the action from roles below admin', () => {
    renderWith(<StaffStateAction staff={active as never} />, storeAs('finance'));
    expect(screen.queryByTestId('disable-staff-button')).not.toBeInTheDocument();
    renderWith(<StaffStateAction staff={disabled as never} />, storeAs('support'));
    expect(screen.queryByTestId('enable-staff-button')).not.toBeInTheDocument();
  });
});
