import { useState, type ReactNode } from 'react';
import Alert from '@mui/material/Alert';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import CircularProgress from '@mui/material/CircularProgress';
import IconButton from '@mui/material/IconButton';
import Tooltip from '@mui/material/Tooltip';
import Typography from '@mui/material/Typography';
import Chip from '@mui/material/Chip';
import { formatMoney } from '../lib/money';
import { errorMessage } from '../store/baseQuery';
import { CopyIcon } from './icons';

export function Money({ minor, currency }: { minor: number | string | null | undefined; currency: string }) {
  return <span style={{ fontVariantNumeric: 'tabular-nums', whiteSpace: 'nowrap' }}>{formatMoney(minor, currency)}</span>;
}

export function Loading({ label = 'Loading…' }: { label?: string }) {
  return (
    <Box role="status" sx={{ display: 'flex', alignItems: 'center', gap: 2, p: 3 }} data-testid="loading">
      <CircularProgress size={24} />
      <Typography color="text.secondary">{label}</Typography>
    </Box>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return (
    <Box sx={{ p: 3, textAlign: 'center' }} data-testid="empty">
      <Typography color="text.secondary">{children}</Typography>
    </Box>
  );
}

export function ErrorState({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  return (
    <Alert
      severity="error"
      sx={{ my: 2 }}
      data-testid="error-state"
      action={
        onRetry && (
          <Button color="inherit" size="small" onClick={onRetry}>
            Retry
          </Button>
        )
      }
    >
      {errorMessage(error)}
    </Alert>
  );
}

export function CopyButton({ text, label = 'Copy', testId }: { text: string; label?: string; testId?: string }) {
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      // Without the clipboard API (http on a non-loopback address): select by hand.
      const ta = document.createElement('textarea');
      ta.value = text;
      document.body.appendChild(ta);
      ta.select();
      document.execCommand('copy');
      ta.remove();
    }
    setCopied(true);
    setTimeout(() => setCopied(false), 1500);
  };
  return (
    <Tooltip title={copied ? 'Copied' : label}>
      <IconButton size="small" aria-label={label} onClick={() => void copy()} data-testid={testId}>
        <CopyIcon fontSize="inherit" />
      </IconButton>
    </Tooltip>
  );
}

const STATUS_COLORS: Record<string, 'default' | 'success' | 'error' | 'warning' | 'info'> = {
  succeeded: 'success',
  active: 'success',
  delivered: 'success',
  closed: 'default',
  failed: 'error',
  dead: 'error',
  dead_lettered: 'error',
  canceled: 'default',
  refunded: 'info',
  pending: 'warning',
  requires_review: 'warning',
  processing: 'info',
  frozen: 'warning',
  open: 'error',
  half_open: 'warning',
};

export function StatusChip({ status }: { status: string | null | undefined }) {
  const s = status ?? 'unknown';
  return <Chip size="small" label={s} color={STATUS_COLORS[s] ?? 'default'} variant="outlined" />;
}

export function PageTitle({ children, actions }: { children: ReactNode; actions?: ReactNode }) {
  return (
    <Box sx={{ display: 'flex', alignItems: 'center', flexWrap: 'wrap', gap: 1, mb: 2 }}>
      <Typography variant="h5" component="h1" sx={{ flexGrow: 1, wordBreak: 'break-all' }}>
        {children}
      </Typography>
      {actions}
    </Box>
  );
}

/** Next/previous over a keyset-paginated list, with a stack of the cursors passed. */
export function Pager({ hasPrev, hasNext, onPrev, onNext }: { hasPrev: boolean; hasNext: boolean; onPrev: () => void; onNext: () => void }) {
  return (
    <Box sx={{ display: 'flex', justifyContent: 'flex-end', gap: 1, mt: 1 }}>
      <Button size="small" disabled={!hasPrev} onClick={onPrev} data-testid="page-prev">
        Previous
      </Button>
      <Button size="small" disabled={!hasNext} onClick={onNext} data-testid="page-next">
        Next
      </Button>
    </Box>
  );
}
