// The review queue (docs/risk.md): payments a risk rule sent to review
// (status requires_review, their amount held), oldest first, each with its
// risk score and the rules that matched it, approved or rejected here. The
// queue is GET /admin/api/payments?status=requires_review; the tenant filter
// and the page's cursor are in the URL.
import { useMemo } from 'react';
import { Link as RouterLink, useLocation, useNavigate } from 'react-router';
import Box from '@mui/material/Box';
import Link from '@mui/material/Link';
import Paper from '@mui/material/Paper';
import Table from '@mui/material/Table';
import TableBody from '@mui/material/TableBody';
import TableCell from '@mui/material/TableCell';
import TableContainer from '@mui/material/TableContainer';
import TableHead from '@mui/material/TableHead';
import TableRow from '@mui/material/TableRow';
import Typography from '@mui/material/Typography';
import { useListPaymentsQuery } from '../store/api';
import { TenantPicker } from '../components/TenantPicker';
import { formatTime } from '../lib/ids';
import { nextCursor } from '../lib/useCursor';
import { Empty, ErrorState, Loading, Money, PageTitle, Pager } from '../components/common';
import { ReviewActions, RulesMatched, ScoreChip } from '../components/risk';

/** Payments of the queue on one page. */
export const REVIEW_PAGE_SIZE = 50;

export default function ReviewPage() {
  const location = useLocation();
  const navigate = useNavigate();
  const search = useMemo(() => new URLSearchParams(location.search), [location.search]);
  const tenant = search.get('tenant') ?? '';
  const after = search.get('after') ?? '';
  const cursors: string[] = (location.state as { cursors?: string[] } | null)?.cursors ?? [];
  const q = useListPaymentsQuery({
    status: 'requires_review',
    order: 'asc',
    limit: String(REVIEW_PAGE_SIZE),
    tenant: tenant || undefined,
    starting_after: after || undefined,
  });
  const go = (t: string, a: string, state?: { cursors: string[] }) => {
    const p = new URLSearchParams();
    if (t) p.set('tenant', t);
    if (a) p.set('after', a);
    const s = p.toString();
    navigate({ pathname: '/review', search: s ? `?${s}` : '' }, { state });
  };
  const next = nextCursor(q.data);
  const rows = q.data?.data ?? [];

  return (
    <>
      <PageTitle>Review queue</PageTitle>
      <Paper sx={{ p: 2, mb: 2, display: 'flex', gap: 2, flexWrap: 'wrap', alignItems: 'center' }} data-testid="review-filters">
        <TenantPicker value={tenant} onChange={(t) => go(t, '')} all="Every tenant" testId="review-tenant" />
        <Typography variant="body2" color="text.secondary">
          Oldest first. Each payment's amount is held until it is approved (sent to settlement) or rejected (canceled, the hold released).
        </Typography>
      </Paper>
      {q.isError && <ErrorState error={q.error} onRetry={() => void q.refetch()} />}
      {q.isLoading && <Loading />}
      {q.data && rows.length === 0 && <Empty>No payments wait for review.</Empty>}
      {rows.length > 0 && (
        <TableContainer component={Paper} sx={{ opacity: q.isFetching ? 0.6 : 1 }}>
          <Table size="small" data-testid="review-table">
            <TableHead>
              <TableRow>
                <TableCell>Payment</TableCell>
                <TableCell align="right">Amount</TableCell>
                <TableCell sx={{ display: { xs: 'none', md: 'table-cell' } }}>Accounts</TableCell>
                <TableCell sx={{ display: { xs: 'none', sm: 'table-cell' } }}>Tenant</TableCell>
                <TableCell sx={{ display: { xs: 'none', sm: 'table-cell' } }}>Created</TableCell>
                <TableCell sx={{ display: { xs: 'none', sm: 'table-cell' } }}>Risk</TableCell>
                <TableCell sx={{ display: { xs: 'none', md: 'table-cell' } }}>Rules matched</TableCell>
                <TableCell>Decide</TableCell>
              </TableRow>
            </TableHead>
            <TableBody>
              {rows.map((p) => (
                <TableRow key={p.id} data-testid="review-row" data-id={p.id} sx={{ verticalAlign: 'top' }}>
                  <TableCell sx={{ wordBreak: 'break-all' }}>
                    <Link component={RouterLink} to={`/payments/${encodeURIComponent(p.id)}`}>
                      {p.id}
                    </Link>
                  </TableCell>
                  <TableCell align="right">
                    <Money minor={p.amount} currency={p.currency} />
                    {/* On a phone the risk column is hidden: its score shows here. */}
                    <Box sx={{ display: { xs: 'block', sm: 'none' }, mt: 0.5 }}>
                      <ScoreChip score={p.risk?.score} testId="risk-score-phone" />
                    </Box>
                  </TableCell>
                  <TableCell sx={{ display: { xs: 'none', md: 'table-cell' }, fontSize: 12, wordBreak: 'break-all' }}>
                    <Link component={RouterLink} to={`/accounts/${encodeURIComponent(p.from_account)}`}>
                      {p.from_account}
                    </Link>{' '}
                    →{' '}
                    <Link component={RouterLink} to={`/accounts/${encodeURIComponent(p.to_account)}`}>
                      {p.to_account}
                    </Link>
                  </TableCell>
                  <TableCell sx={{ display: { xs: 'none', sm: 'table-cell' }, wordBreak: 'break-all' }}>{p.tenant ?? '—'}</TableCell>
                  <TableCell sx={{ display: { xs: 'none', sm: 'table-cell' }, whiteSpace: 'nowrap' }}>{formatTime(p.created_at)}</TableCell>
                  <TableCell sx={{ display: { xs: 'none', sm: 'table-cell' } }}>
                    <ScoreChip score={p.risk?.score} />
                  </TableCell>
                  <TableCell sx={{ display: { xs: 'none', md: 'table-cell' } }}>
                    <RulesMatched risk={p.risk} tenant={p.tenant} />
                  </TableCell>
                  <TableCell>
                    <ReviewActions payment={p} />
                  </TableCell>
                </TableRow>
              ))}
            </TableBody>
          </Table>
        </TableContainer>
      )}
      {q.data && (
        <Pager
          hasPrev={cursors.length > 0 || !!after}
          hasNext={!!next}
          onPrev={() => go(tenant, cursors[cursors.length - 1] ?? '', { cursors: cursors.slice(0, -1) })}
          onNext={() => next && go(tenant, next, { cursors: [...cursors, after] })}
        />
      )}
    </>
  );
}
