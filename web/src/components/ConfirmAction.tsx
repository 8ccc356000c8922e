import { useEffect, useState, type ReactNode } from 'react';
import Alert from '@mui/material/Alert';
import Button, { type ButtonProps } from '@mui/material/Button';
import Dialog from '@mui/material/Dialog';
import DialogActions from '@mui/material/DialogActions';
import DialogContent from '@mui/material/DialogContent';
import DialogContentText from '@mui/material/DialogContentText';
import DialogTitle from '@mui/material/DialogTitle';
import Stack from '@mui/material/Stack';
import TextField from '@mui/material/TextField';
import { newIdempotencyKey } from '../lib/ids';
import type { Role } from '../lib/roles';
import { errorMessage } from '../store/baseQuery';
import { notify } from '../store/notifySlice';
import { useAppDispatch } from '../store/store';
import { useCan } from './RoleGate';

export const REASON_MAX = 500;

export interface ConfirmDialogProps {
  open: boolean;
  title: string;
  description?: ReactNode;
  confirmLabel?: string;
  danger?: boolean;
  /** Extra fields (e.g. an amount) shown above the reason. */
  fields?: ReactNode;
  /** An error of the extra fields, or null when they are fine. */
  validate?: () => string | null;
  onClose: () => void;
  /**
   * Does the action with the reason and the Idempotency-Key of this
   * confirmation (the same key if the person retries after an error);
   * resolves to the message to show, or to nothing when the caller shows
   * the result itself.
   */
  run: (reason: string, idempotencyKey: string) => Promise<string | void>;
}

/** The confirmation every action goes through: a required reason, then the call. */
export function ConfirmDialog({ open, title, description, confirmLabel = 'Confirm', danger, fields, validate, onClose, run }: ConfirmDialogProps) {
  const dispatch = useAppDispatch();
  const [reason, setReason] = useState('');
  const [touched, setTouched] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [key, setKey] = useState('');

  useEffect(() => {
    if (open) {
      setReason('');
      setTouched(false);
      setError(null);
      setBusy(false);
      setKey(newIdempotencyKey());
    }
  }, [open]);

  const trimmed = reason.trim();
  const reasonError = trimmed.length === 0 ? 'A reason is required' : trimmed.length > REASON_MAX ? `At most ${REASON_MAX} characters` : null;
  const fieldError = validate ? validate() : null;

  const submit = async () => {
    setTouched(true);
    if (reasonError || fieldError || busy) return;
    setBusy(true);
    setError(null);
    try {
      const msg = await run(trimmed, key);
      if (msg) dispatch(notify('success', msg));
      onClose();
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Dialog open={open} onClose={busy ? undefined : onClose} fullWidth maxWidth="sm" aria-labelledby="confirm-title" data-testid="confirm-dialog">
      <form
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        <DialogTitle id="confirm-title">{title}</DialogTitle>
        <DialogContent>
          <Stack spacing={2} sx={{ pt: 0.5 }}>
            {description && <DialogContentText component="div">{description}</DialogContentText>}
            {fields}
            <TextField
              label="Reason"
              required
              multiline
              minRows={2}
              value={reason}
              onChange={(e) => setReason(e.target.value)}
              onBlur={() => setTouched(true)}
              error={touched && !!reasonError}
              helperText={touched && reasonError ? reasonError : 'Recorded in the audit log'}
              slotProps={{ htmlInput: { maxLength: REASON_MAX, 'data-testid': 'confirm-reason' } }}
              autoFocus
            />
            {touched && fieldError && <Alert severity="warning">{fieldError}</Alert>}
            {error && (
              <Alert severity="error" data-testid="confirm-error">
                {error}
              </Alert>
            )}
          </Stack>
        </DialogContent>
        <DialogActions>
          <Button onClick={onClose} disabled={busy} data-testid="confirm-cancel">
            Cancel
          </Button>
          <Button type="submit" variant="contained" color={danger ? 'error' : 'primary'} disabled={busy || !!reasonError || !!fieldError} data-testid="confirm-button">
            {busy ? 'Working…' : confirmLabel}
          </Button>
        </DialogActions>
      </form>
    </Dialog>
  );
}

export interface ActionButtonProps extends Omit<ConfirmDialogProps, 'open' | 'onClose'> {
  need: Role;
  label: string;
  testId?: string;
  buttonProps?: ButtonProps;
  onOpen?: () => void;
  /** Hide the button (rather than nothing) when the action does not apply. */
  disabled?: boolean;
}

/** A button, shown only to roles that may act, opening the confirmation. */
export function ActionButton({ need, label, testId, buttonProps, onOpen, disabled, ...dialog }: ActionButtonProps) {
  const can = useCan(need);
  const [open, setOpen] = useState(false);
  if (!can) return null;
  return (
    <>
      <Button
        variant="outlined"
        size="small"
        color={dialog.danger ? 'error' : 'primary'}
        disabled={disabled}
        data-testid={testId}
        onClick={() => {
          onOpen?.();
          setOpen(true);
        }}
        {...buttonProps}
      >
        {label}
      </Button>
      <ConfirmDialog {...dialog} open={open} onClose={() => setOpen(false)} />
    </>
  );
}
