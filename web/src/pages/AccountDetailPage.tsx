import { useState } from 'react';
import { useParams } from 'react-router';
import Box from '@mui/material/Box';
import Paper from '@mui/material/Paper';
import Stack from '@mui/material/Stack';
import Table from '@mui/material/Table';
import TableBody from '@mui/material/TableBody';
import TableCell from '@mui/material/TableCell';
import TableContainer from '@mui/material/TableContainer';
import TableHead from '@mui/material/TableHead';
import TableRow from '@mui/material/TableRow';
import TextField from '@mui/material/TextField';
import Typography from '@mui/material/Typography';
import { useAccountActionMutation, useAdjustAccountMutation, useGetAccountQuery, useGetJournalQuery } from '../store/api';
import { formatMoney, minorToJsonNumber, parseMajor } from '../lib/money';
import { formatTime } from '../lib/ids';
import { nextCursor, useCursorStack } from '../lib/useCursor';
import { ActionButton } from '../components/ConfirmAction';
import { CopyButton, Empty, ErrorState, Loading, Money, PageTitle, Pager, StatusChip } from '../components/common';
import { tenantName } from './AccountsPage';

function Journal({ id, currency }: { id: string; currency: string }) {
  const cur = useCursorStack();
  const q = useGetJournalQuery({ id, limit: '25', starting_after: cur.after || undefined });
  const next = nextCursor(q.data);
  if (q.isLoading) return <Loading />;
  if (q.isError) return <ErrorState error={q.error} onRetry={() => void q.refetch()} />;
  if (!q.data || q.data.data.length === 0) return <Empty>No journal entries.</Empty>;
  return (
    <>
      <TableContainer sx={{ opacity: q.isFetching ? 0.6 : 1 }}>
        <Table size="small" data-testid="journal-table">
          <TableHead>
            <TableRow>
              <TableCell>At</TableCell>
              <TableCell>Bucket</TableCell>
              <TableCell>Reference</TableCell>
              <TableCell align="right">Amount</TableCell>
              <TableCell align="right">Running balance</TableCell>
            </TableRow>
          </TableHead>
          <TableBody>
            {q.data.data.map((j) => (
              <TableRow key={j.id} data-testid="journal-row">
                <TableCell sx={{ whiteSpace: 'nowrap' }}>{formatTime(j.at ?? j.created_at)}</TableCell>
                <TableCell>{j.bucket ?? '—'}</TableCell>
                <TableCell sx={{ wordBreak: 'break-all' }}>{j.ref ?? '—'}</TableCell>
                <TableCell align="right">
                  <Money minor={j.amount} currency={j.currency ?? currency} />
                </TableCell>
                <TableCell align="right">
                  <Money minor={j.running_balance ?? null} currency={j.currency ?? currency} />
                </TableCell>
              </TableRow>
            ))}
          </TableBody>
        </Table>
      </TableContainer>
      <Pager hasPrev={cur.hasPrev} hasNext={!!next} onPrev={cur.prev} onNext={() => next && cur.next(next)} />
    </>
  );
}

export default function AccountDetailPage() {
  const { id = '' } = useParams();
  const q = useGetAccountQuery(id);
  const [act] = useAccountActionMutation();
  const [adjust] = useAdjustAccountMutation();
  const [amount, setAmount] = useState('');

  if (q.isLoading) return <Loading />;
  if (q.isError || !q.data) return <ErrorState error={q.error} onRetry={() => void q.refetch()} />;
  const a = q.data;
  const parsed = parseMajor(amount, a.currency, { signed: true });
  const adjustError = !amount.trim()
    ? 'Enter an amount (negative to debit)'
    : !parsed.ok
      ? parsed.error
      : parsed.minor === 0n || minorToJsonNumber(parsed.minor) === null
        ? 'The amount is out of range'
        : null;

  const simple = (action: 'freeze' | 'unfreeze' | 'close', label: string, danger = false, disabled = false) => (
    <ActionButton
      need="finance"
      label={label}
      danger={danger}
      disabled={disabled}
      testId={`account-${action}-button`}
      title={`${label} ${a.id}`}
      confirmLabel={label}
      run={async (reason, idempotencyKey) => {
        const r = await act({ id: a.id, action, reason, idempotencyKey }).unwrap();
        return `Account ${a.id} is ${r?.status ?? 'updated'}.`;
      }}
    />
  );

  return (
    <>
      <PageTitle
        actions={
          <Stack direction="row" spacing={1} useFlexGap sx={{ flexWrap: 'wrap' }}>
            {simple('freeze', 'Freeze', false, a.status !== 'active')}
            {simple('unfreeze', 'Unfreeze', false, a.status !== 'frozen')}
            {simple('close', 'Close', true, a.status === 'closed')}
            <ActionButton
              need="finance"
              label="Adjust"
              testId="account-adjust-button"
              title={`Adjust the balance of ${a.id}`}
              confirmLabel="Adjust"
              disabled={a.status === 'closed'}
              onOpen={() => setAmount('')}
              fields={
                <TextField
                  label={`Amount (${a.currency}, negative to debit)`}
                  value={amount}
                  inputMode="decimal"
                  onChange={(e) => setAmount(e.target.value)}
                  helperText={parsed.ok && amount.trim() ? `${formatMoney(parsed.minor, a.currency)}` : ' '}
                  slotProps={{ htmlInput: { 'data-testid': 'adjust-amount' } }}
                />
              }
              validate={() => adjustError}
              run={async (reason, idempotencyKey) => {
                if (!parsed.ok) throw new Error(parsed.error);
                await adjust({ id: a.id, amount: minorToJsonNumber(parsed.minor)!, reason, idempotencyKey }).unwrap();
                return `Adjusted ${a.id} by ${formatMoney(parsed.minor, a.currency)}.`;
              }}
            />
          </Stack>
        }
      >
        Account {a.id} <CopyButton text={a.id} label="Copy the account id" />
      </PageTitle>
      <Box sx={{ display: 'grid', gap: 2, gridTemplateColumns: { xs: 'minmax(0, 1fr) minmax(0, 1fr)', md: 'repeat(4, minmax(0, 1fr))' }, mb: 2 }}>
        <Paper sx={{ p: 2 }}>
          <Typography variant="body2" color="text.secondary">
            Available
          </Typography>
          <Typography variant="h5" component="p" data-testid="balance-available">
            <Money minor={a.balance.available} currency={a.currency} />
          </Typography>
        </Paper>
        <Paper sx={{ p: 2 }}>
          <Typography variant="body2" color="text.secondary">
            Pending
          </Typography>
          <Typography variant="h5" component="p" data-testid="balance-pending">
            <Money minor={a.balance.pending} currency={a.currency} />
          </Typography>
        </Paper>
        <Paper sx={{ p: 2 }}>
          <Typography variant="body2" color="text.secondary">
            Status
          </Typography>
          <Box data-testid="account-status">
            <StatusChip status={a.status} />
          </Box>
        </Paper>
        <Paper sx={{ p: 2 }}>
          <Typography variant="body2" color="text.secondary">
            {a.name ?? 'No name'} · {a.type} · {tenantName(a.tenant)}
          </Typography>
          <Typography variant="body2">Opened {formatTime(a.created_at)}</Typography>
        </Paper>
      </Box>
      <Paper sx={{ p: 2 }}>
        <Typography variant="subtitle1" component="h2">
          Journal
        </Typography>
        <Journal id={a.id} currency={a.currency} />
      </Paper>
    </>
  );
}
