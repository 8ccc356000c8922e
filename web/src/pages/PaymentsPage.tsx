import { useEffect, useMemo, useState } from 'react';
import { Link as RouterLink, useLocation, useNavigate } from 'react-router';
import Alert from '@mui/material/Alert';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Link from '@mui/material/Link';
import MenuItem from '@mui/material/MenuItem';
import Paper from '@mui/material/Paper';
import Table from '@mui/material/Table';
import TableBody from '@mui/material/TableBody';
import TableCell from '@mui/material/TableCell';
import TableContainer from '@mui/material/TableContainer';
import TableHead from '@mui/material/TableHead';
import TableRow from '@mui/material/TableRow';
import TableSortLabel from '@mui/material/TableSortLabel';
import TextField from '@mui/material/TextField';
import { useListPaymentsQuery } from '../store/api';
import { EMPTY_FILTERS, filtersFromSearch, filtersToApiParams, filtersToSearch, type PaymentFilters } from '../lib/paymentFilters';
import { CURRENCIES } from '../lib/money';
import { formatTime } from '../lib/ids';
import { nextCursor } from '../lib/useCursor';
import { Empty, ErrorState, Loading, Money, PageTitle, Pager, StatusChip } from '../components/common';

const STATUSES = ['requires_review', 'pending', 'processing', 'succeeded', 'failed', 'canceled', 'refunded'];

export default function PaymentsPage() {
  const location = useLocation();
  const navigate = useNavigate();
  // The filters live in the URL (shareable, the back button works); the
  // cursors passed to reach this page live in the history entry's state.
  const filters = useMemo(() => filtersFromSearch(location.search), [location.search]);
  const cursors: string[] = (location.state as { cursors?: string[] } | null)?.cursors ?? [];
  const [draft, setDraft] = useState<PaymentFilters>(filters);
  useEffect(() => setDraft(filters), [filters]);

  const { params, error: filterError } = filtersToApiParams(filters);
  const q = useListPaymentsQuery(params, { skip: !!filterError });
  const draftError = filtersToApiParams(draft).error;

  const go = (f: PaymentFilters, state?: { cursors: string[] }) => {
    const s = filtersToSearch(f);
    navigate({ pathname: '/payments', search: s ? `?${s}` : '' }, { state });
  };
  const set = (k: keyof PaymentFilters) => (e: React.ChangeEvent<HTMLInputElement>) => setDraft({ ...draft, [k]: e.target.value });
  const sortBy = (col: 'created' | 'amount') => {
    const order = filters.sort === col && filters.order === 'desc' ? 'asc' : 'desc';
    go({ ...filters, sort: col, order, after: '' });
  };
  const next = nextCursor(q.data);

  return (
    <>
      <PageTitle>Payments</PageTitle>
      <Paper
        component="form"
        role="search"
        sx={{ p: 2, mb: 2, display: 'grid', gap: 1.5, gridTemplateColumns: { xs: 'minmax(0, 1fr) minmax(0, 1fr)', md: 'repeat(5, minmax(0, 1fr))' } }}
        onSubmit={(e) => {
          e.preventDefault();
          if (!draftError) go({ ...draft, after: '' });
        }}
        data-testid="payments-filters"
      >
        <TextField size="small" label="Search" value={draft.q} onChange={set('q')} sx={{ gridColumn: { xs: '1 / -1', md: 'span 2' } }} slotProps={{ htmlInput: { 'data-testid': 'filter-q' } }} />
        <TextField size="small" select label="Status" value={draft.status} onChange={set('status')} slotProps={{ htmlInput: { 'data-testid': 'filter-status' } }}>
          <MenuItem value="">Any</MenuItem>
          {STATUSES.map((s) => (
            <MenuItem key={s} value={s}>
              {s}
            </MenuItem>
          ))}
        </TextField>
        <TextField size="small" select label="Currency" value={draft.currency} onChange={set('currency')}>
          <MenuItem value="">Any</MenuItem>
          {CURRENCIES.map((c) => (
            <MenuItem key={c} value={c}>
              {c}
            </MenuItem>
          ))}
        </TextField>
        <TextField size="small" label="Tenant" value={draft.tenant} onChange={set('tenant')} />
        <TextField size="small" label="Account" value={draft.account} onChange={set('account')} />
        <TextField size="small" label="Amount from" inputMode="decimal" value={draft.amount_min} onChange={set('amount_min')} helperText={draft.currency ? draft.currency : 'major units'} />
        <TextField size="small" label="Amount to" inputMode="decimal" value={draft.amount_max} onChange={set('amount_max')} />
        <TextField size="small" type="date" label="Created from (UTC)" value={draft.from} onChange={set('from')} slotProps={{ inputLabel: { shrink: true } }} />
        <TextField size="small" type="date" label="Created to (UTC)" value={draft.to} onChange={set('to')} slotProps={{ inputLabel: { shrink: true } }} />
        <Box sx={{ display: 'flex', gap: 1, alignItems: 'flex-start', gridColumn: { xs: '1 / -1', md: 'auto' } }}>
          <Button type="submit" variant="contained" disabled={!!draftError} data-testid="filter-apply">
            Apply
          </Button>
          <Button type="button" onClick={() => go(EMPTY_FILTERS)}>
            Clear
          </Button>
        </Box>
        {draftError && (
          <Alert severity="warning" sx={{ gridColumn: '1 / -1' }}>
            {draftError}
          </Alert>
        )}
      </Paper>

      {filterError && <Alert severity="warning">{filterError}</Alert>}
      {q.isError && <ErrorState error={q.error} onRetry={() => void q.refetch()} />}
      {q.isLoading && <Loading />}
      {q.data && q.data.data.length === 0 && <Empty>No payments match these filters.</Empty>}
      {q.data && q.data.data.length > 0 && (
        <TableContainer component={Paper} sx={{ opacity: q.isFetching ? 0.6 : 1 }}>
          <Table size="small" data-testid="payments-table">
            <TableHead>
              <TableRow>
                <TableCell>Payment</TableCell>
                <TableCell sortDirection={filters.sort === 'amount' ? filters.order : false} align="right">
                  <TableSortLabel active={filters.sort === 'amount'} direction={filters.sort === 'amount' ? filters.order : 'desc'} onClick={() => sortBy('amount')} data-testid="sort-amount">
                    Amount
                  </TableSortLabel>
                </TableCell>
                <TableCell>Status</TableCell>
                <TableCell sx={{ display: { xs: 'none', md: 'table-cell' } }}>Tenant</TableCell>
                <TableCell sx={{ display: { xs: 'none', md: 'table-cell' } }}>From → to</TableCell>
                <TableCell sortDirection={filters.sort === 'created' ? filters.order : false}>
                  <TableSortLabel active={filters.sort === 'created'} direction={filters.sort === 'created' ? filters.order : 'desc'} onClick={() => sortBy('created')} data-testid="sort-created">
                    Created
                  </TableSortLabel>
                </TableCell>
              </TableRow>
            </TableHead>
            <TableBody>
              {q.data.data.map((p) => (
                <TableRow
                  key={p.id}
                  hover
                  data-testid="payment-row"
                  data-id={p.id}
                  sx={{ cursor: 'pointer' }}
                  onClick={(e) => {
                    // The whole row opens the payment; its link does by itself.
                    if (!(e.target as HTMLElement).closest('a')) navigate(`/payments/${encodeURIComponent(p.id)}`);
                  }}
                >
                  <TableCell sx={{ wordBreak: 'break-all' }}>
                    <Link component={RouterLink} to={`/payments/${encodeURIComponent(p.id)}`}>
                      {p.id}
                    </Link>
                  </TableCell>
                  <TableCell align="right">
                    <Money minor={p.amount} currency={p.currency} />
                  </TableCell>
                  <TableCell>
                    <StatusChip status={p.status} />
                  </TableCell>
                  <TableCell sx={{ display: { xs: 'none', md: 'table-cell' } }}>{p.tenant ?? '—'}</TableCell>
                  <TableCell sx={{ display: { xs: 'none', md: 'table-cell' }, fontSize: 12 }}>
                    {p.from_account} → {p.to_account}
                  </TableCell>
                  <TableCell sx={{ whiteSpace: 'nowrap' }}>{formatTime(p.created_at)}</TableCell>
                </TableRow>
              ))}
            </TableBody>
          </Table>
        </TableContainer>
      )}
      {q.data && (
        <Pager
          hasPrev={cursors.length > 0 || !!filters.after}
          hasNext={!!next}
          onPrev={() => {
            const rest = cursors.slice(0, -1);
            go({ ...filters, after: cursors[cursors.length - 1] ?? '' }, { cursors: rest });
          }}
          onNext={() => next && go({ ...filters, after: next }, { cursors: [...cursors, filters.after] })}
        />
      )}
    </>
  );
}
