// A day's reconciliation against the provider (role finance): what matched
// and each break, FinSys's side beside the provider's. The day is in the URL
// (?date=YYYY-MM-DD), yesterday (UTC) by default, the day the worker
// reconciles on its own (docs/operations.md, "Reconciliation").
import Box from '@mui/material/Box';
import Paper from '@mui/material/Paper';
import Table from '@mui/material/Table';
import TableBody from '@mui/material/TableBody';
import TableCell from '@mui/material/TableCell';
import TableContainer from '@mui/material/TableContainer';
import TableHead from '@mui/material/TableHead';
import TableRow from '@mui/material/TableRow';
import TextField from '@mui/material/TextField';
import Typography from '@mui/material/Typography';
import { Link as RouterLink, useSearchParams } from 'react-router';
import Link from '@mui/material/Link';
import { useGetReconciliationQuery } from '../store/api';
import type { ReconciliationSide } from '../store/types';
import { formatTime } from '../lib/ids';
import { Empty, ErrorState, Loading, Money, PageTitle, StatusChip } from '../components/common';

/** Yesterday's UTC date, YYYY-MM-DD. */
export function yesterdayUtc(now: Date = new Date()): string {
  return new Date(now.getTime() - 24 * 3600 * 1000).toISOString().slice(0, 10);
}

/** Break kinds as a person reads them. */
export const BREAK_KINDS: Record<string, string> = {
  missing_at_provider: 'Missing at the provider',
  missing_in_finsys: 'Missing in FinSys',
  amount_mismatch: 'Amount differs',
  status_mismatch: 'Status differs',
  currency_mismatch: 'Currency differs',
};

function Side({ side }: { side: ReconciliationSide | null }) {
  if (!side) return <>—</>;
  return (
    <>
      <Money minor={side.amount} currency={side.currency} /> · {side.status}
    </>
  );
}

export default function ReconciliationPage() {
  const [params, setParams] = useSearchParams();
  const date = params.get('date') || yesterdayUtc();
  const q = useGetReconciliationQuery(date);
  const r = q.data;
  return (
    <>
      <PageTitle>Reconciliation</PageTitle>
      <Paper sx={{ p: 2, mb: 2, display: 'flex', gap: 2, flexWrap: 'wrap', alignItems: 'center' }}>
        <TextField
          size="small"
          type="date"
          label="Day (UTC)"
          value={date}
          onChange={(e) => e.target.value && setParams({ date: e.target.value })}
          slotProps={{ inputLabel: { shrink: true }, htmlInput: { 'data-testid': 'recon-date' } }}
        />
        {r && (
          <Box data-testid="recon-summary" sx={{ display: 'flex', gap: 2, flexWrap: 'wrap', alignItems: 'center' }}>
            <StatusChip status={r.status === 'not_run' ? 'not run' : r.status} />
            <Typography variant="body2">
              {r.matched} matched · {r.breaks_count} breaks · {r.provider_lines} provider lines · {r.finsys_lines} FinSys lines
            </Typography>
            <Typography variant="body2" color="text.secondary">
              {r.reconciled_at ? `reconciled ${formatTime(r.reconciled_at)}` : 'not reconciled yet (finsys reconcile --date, or the worker daily)'}
            </Typography>
          </Box>
        )}
      </Paper>
      {q.isError && <ErrorState error={q.error} onRetry={() => void q.refetch()} />}
      {q.isLoading && <Loading />}
      {r && r.breaks.length === 0 && <Empty>{r.status === 'not_run' ? 'This day has not been reconciled.' : 'No breaks: every line matched.'}</Empty>}
      {r && r.breaks.length > 0 && (
        <TableContainer component={Paper}>
          <Table size="small" data-testid="recon-breaks">
            <TableHead>
              <TableRow>
                <TableCell>Break</TableCell>
                <TableCell>Object</TableCell>
                <TableCell>Tenant</TableCell>
                <TableCell>FinSys</TableCell>
                <TableCell>Provider</TableCell>
              </TableRow>
            </TableHead>
            <TableBody>
              {r.breaks.map((b, i) => (
                <TableRow key={`${b.kind}-${b.id ?? b.provider_id}-${i}`} data-testid="recon-break">
                  <TableCell>{BREAK_KINDS[b.kind] ?? b.kind}</TableCell>
                  <TableCell sx={{ wordBreak: 'break-all' }}>
                    {b.object}{' '}
                    {b.id && b.object === 'payment' ? (
                      <Link component={RouterLink} to={`/payments/${encodeURIComponent(b.id)}`}>
                        {b.id}
                      </Link>
                    ) : (
                      (b.id ?? b.provider_id ?? '—')
                    )}
                  </TableCell>
                  <TableCell sx={{ wordBreak: 'break-all' }}>{b.tenant ?? '—'}</TableCell>
                  <TableCell>
                    <Side side={b.finsys} />
                  </TableCell>
                  <TableCell>
                    <Side side={b.provider} />
                  </TableCell>
                </TableRow>
              ))}
            </TableBody>
          </Table>
          {r.has_more && (
            <Typography variant="body2" color="text.secondary" sx={{ p: 2 }}>
              The first 1,000 breaks of {r.breaks_count}: the rest are in the reconciliation_breaks table.
            </Typography>
          )}
        </TableContainer>
      )}
    </>
  );
}
