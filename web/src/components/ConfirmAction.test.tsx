import { describe, expect, it, vi } from 'vitest';
import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { ActionButton } from './ConfirmAction';
import { renderWith, storeAs } from '../test/utils';

describe('ActionButton', () => {
  it('is hidden from roles below the one it needs', () => {
    renderWith(<ActionButton need="support" label="Refund" testId="refund-button" title="Refund" run={async () => 'ok'} />, storeAs('viewer'));
    expect(screen.queryByTestId('refund-button')).not.toBeInTheDocument();
  });

  it('is shown to the role it needs and above', () => {
    renderWith(<ActionButton need="support" label="Refund" testId="refund-button" title="Refund" run={async () => 'ok'} />, storeAs('finance'));
    expect(screen.getByTestId('refund-button')).toBeVisible();
  });
});

describe('the confirm dialog', () => {
  it('requires a reason, then sends it with an idempotency key', async () => {
    const user = userEvent.setup();
    const run = vi.fn(async () => 'Done');
    const { store } = renderWith(<ActionButton need="support" label="Cancel payment" testId="cancel-button" title="Cancel" run={run} />, storeAs('support'));
    await user.click(screen.getByTestId('cancel-button'));
    const confirm = await screen.findByTestId('confirm-button');
    expect(confirm).toBeDisabled();
    await user.type(screen.getByTestId('confirm-reason'), '   ');
    expect(confirm).toBeDisabled();
    await user.type(screen.getByTestId('confirm-reason'), 'customer asked');
    expect(confirm).toBeEnabled();
    await user.click(confirm);
    await waitFor(() => expect(run).toHaveBeenCalledTimes(1));
    const [reason, key] = run.mock.calls[0] as unknown as [string, string];
    expect(reason).toBe('customer asked');
    expect(key).toMatch(/^[0-9a-f-]{36}$/);
    await waitFor(() => expect(store.getState().notify.current?.message).toBe('Done'));
  });

  it('shows the error object message and stays open', async () => {
    const user = userEvent.setup();
    const run = vi.fn(async () => {
      throw { status: 409, error: { type: 'invalid_request_error', code: 'payment_not_cancelable', message: 'The payment has settled.', param: null } };
    });
    renderWith(<ActionButton need="support" label="Cancel payment" testId="cancel-button" title="Cancel" run={run} />, storeAs('admin'));
    await user.click(screen.getByTestId('cancel-button'));
    await user.type(await screen.findByTestId('confirm-reason'), 'why');
    await user.click(screen.getByTestId('confirm-button'));
    expect(await screen.findByTestId('confirm-error')).toHaveTextContent('The payment has settled.');
    expect(screen.getByTestId('confirm-button')).toBeInTheDocument();
  });
});
