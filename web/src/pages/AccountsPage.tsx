import { useState } from 'react';
import { Link as RouterLink } from 'react-router';
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
import TextField from '@mui/material/TextField';
import { useListAccountsQuery } from '../store/api';
import { CURRENCIES } from '../lib/money';
import { nextCursor, useCursorStack } from '../lib/useCursor';
import { Empty, ErrorState, Loading, Money, PageTitle, Pager, StatusChip } from '../components/common';

export function tenantName(t: unknown): string {
  if (!t) return '—';
  if (typeof t === 'string') return t;
  const o = t as { name?: string; id?: string };
  return o.name ?? o.id ?? '—';
}

export default function AccountsPage() {
  const [draft, setDraft] = useState({ q: '', tenant: '', currency: '', status: '' });
  const [filters, setFilters] = useState(draft);
  const cur = useCursorStack();
  const q = useListAccountsQuery({ ...filters, limit: '25', starting_after: cur.after || undefined });
  const next = nextCursor(q.data);
  const set = (k: keyof typeof draft) => (e: React.ChangeEvent<HTMLInputElement>) => setDraft({ ...draft, [k]: e.target.value });

  return (
    <>
      <PageTitle>Accounts</PageTitle>
      <Paper
        component="form"
        role="search"
        sx={{ p: 2, mb: 2, display: 'grid', gap: 1.5, gridTemplateColumns: { xs: 'minmax(0, 1fr) minmax(0, 1fr)', md: 'minmax(0, 2fr) minmax(0, 1fr) minmax(0, 1fr) minmax(0, 1fr) auto' } }}
        onSubmit={(e) => {
          e.preventDefault();
          cur.reset();
          setFilters(draft);
        }}
      >
        <TextField size="small" label="Id or name" value={draft.q} onChange={set('q')} sx={{ gridColumn: { xs: '1 / -1', md: 'auto' } }} slotProps={{ htmlInput: { 'data-testid': 'accounts-q' } }} />
        <TextField size="small" label="Tenant" value={draft.tenant} onChange={set('tenant')} />
        <TextField size="small" select label="Currency" value={draft.currency} onChange={set('currency')}>
          <MenuItem value="">Any</MenuItem>
          {CURRENCIES.map((c) => (
            <MenuItem key={c} value={c}>
              {c}
            </MenuItem>
          ))}
        </TextField>
        <TextField size="small" select label="Status" value={draft.status} onChange={set('status')}>
          <MenuItem value="">Any</MenuItem>
          {['active', 'frozen', 'closed'].map((c) => (
            <MenuItem key={c} value={c}>
              {c}
            </MenuItem>
          ))}
        </TextField>
        <Box>
          <Button type="submit" variant="contained">
            Search
          </Button>
        </Box>
      </Paper>
      {q.isError && <ErrorState error={q.error} onRetry={() => void q.refetch()} />}
      {q.isLoading && <Loading />}
      {q.data && q.data.data.length === 0 && <Empty>No accounts match.</Empty>}
      {q.data && q.data.data.length > 0 && (
        <TableContainer component={Paper} sx={{ opacity: q.isFetching ? 0.6 : 1 }}>
          <Table size="small" data-testid="accounts-table">
            <TableHead>
              <TableRow>
                <TableCell>Account</TableCell>
                <TableCell>Name</TableCell>
                <TableCell sx={{ display: { xs: 'none', md: 'table-cell' } }}>Tenant</TableCell>
                <TableCell>Status</TableCell>
                <TableCell align="right">Available</TableCell>
                <TableCell align="right" sx={{ display: { xs: 'none', md: 'table-cell' } }}>
                  Pending
                </TableCell>
              </TableRow>
            </TableHead>
            <TableBody>
              {q.data.data.map((a) => (
                <TableRow key={a.id} hover data-testid="account-row" data-id={a.id}>
                  <TableCell sx={{ wordBreak: 'break-all' }}>
                    <Link component={RouterLink} to={`/accounts/${encodeURIComponent(a.id)}`}>
                      {a.id}
                    </Link>
                  </TableCell>
                  <TableCell>{a.name ?? '—'}</TableCell>
                  <TableCell sx={{ display: { xs: 'none', md: 'table-cell' } }}>{tenantName(a.tenant)}</TableCell>
                  <TableCell>
                    <StatusChip status={a.status} />
                  </TableCell>
                  <TableCell align="right">
                    <Money minor={a.balance.available} currency={a.currency} />
                  </TableCell>
                  <TableCell align="right" sx={{ display: { xs: 'none', md: 'table-cell' } }}>
                    <Money minor={a.balance.pending} currency={a.currency} />
                  </TableCell>
                </TableRow>
              ))}
            </TableBody>
          </Table>
        </TableContainer>
      )}
      {q.data && <Pager hasPrev={cur.hasPrev} hasNext={!!next} onPrev={cur.prev} onNext={() => next && cur.next(next)} />}
    </>
  );
}
