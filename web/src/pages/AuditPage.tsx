import { useState } from 'react';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Paper from '@mui/material/Paper';
import Table from '@mui/material/Table';
import TableBody from '@mui/material/TableBody';
import TableCell from '@mui/material/TableCell';
import TableContainer from '@mui/material/TableContainer';
import TableHead from '@mui/material/TableHead';
import TableRow from '@mui/material/TableRow';
import TextField from '@mui/material/TextField';
import Tooltip from '@mui/material/Tooltip';
import { useListAuditQuery } from '../store/api';
import { formatTime } from '../lib/ids';
import { nextCursor, useCursorStack } from '../lib/useCursor';
import { auditChanges, type Json } from '../lib/auditDiff';
import { Empty, ErrorState, Loading, PageTitle, Pager } from '../components/common';

const EMPTY = { actor: '', action: '', target: '', q: '', from: '', to: '' };

export default function AuditPage() {
  const [draft, setDraft] = useState(EMPTY);
  const [f, setF] = useState(EMPTY);
  const cur = useCursorStack();
  const q = useListAuditQuery({
    actor: f.actor.trim() || undefined,
    action: f.action.trim() || undefined,
    target: f.target.trim() || undefined,
    q: f.q.trim() || undefined,
    from: f.from ? `${f.from}T00:00:00Z` : undefined,
    to: f.to ? `${f.to}T23:59:59Z` : undefined,
    limit: '50',
    starting_after: cur.after || undefined,
  });
  const next = nextCursor(q.data);
  const set = (k: keyof typeof EMPTY) => (e: React.ChangeEvent<HTMLInputElement>) => setDraft({ ...draft, [k]: e.target.value });

  return (
    <>
      <PageTitle>Audit log</PageTitle>
      <Paper
        component="form"
        role="search"
        sx={{ p: 2, mb: 2, display: 'grid', gap: 1.5, gridTemplateColumns: { xs: 'minmax(0, 1fr) minmax(0, 1fr)', md: 'repeat(7, minmax(0, 1fr))' } }}
        onSubmit={(e) => {
          e.preventDefault();
          cur.reset();
          setF(draft);
        }}
      >
        <TextField size="small" label="Text" value={draft.q} onChange={set('q')} slotProps={{ htmlInput: { 'data-testid': 'audit-q' } }} />
        <TextField size="small" label="Actor" value={draft.actor} onChange={set('actor')} />
        <TextField size="small" label="Action" placeholder="payment.refund" value={draft.action} onChange={set('action')} />
        <TextField size="small" label="Target" value={draft.target} onChange={set('target')} />
        <TextField size="small" type="date" label="From (UTC)" value={draft.from} onChange={set('from')} slotProps={{ inputLabel: { shrink: true } }} />
        <TextField size="small" type="date" label="To (UTC)" value={draft.to} onChange={set('to')} slotProps={{ inputLabel: { shrink: true } }} />
        <Box>
          <Button type="submit" variant="contained">
            Search
          </Button>
        </Box>
      </Paper>
      {q.isError && <ErrorState error={q.error} onRetry={() => void q.refetch()} />}
      {q.isLoading && <Loading />}
      {q.data && q.data.data.length === 0 && <Empty>No audit entries match.</Empty>}
      {q.data && q.data.data.length > 0 && (
        <TableContainer component={Paper} sx={{ opacity: q.isFetching ? 0.6 : 1 }}>
          <Table size="small" data-testid="audit-table">
            <TableHead>
              <TableRow>
                <TableCell>At</TableCell>
                <TableCell>Actor</TableCell>
                <TableCell>Action</TableCell>
                <TableCell>Target</TableCell>
                <TableCell>Reason</TableCell>
                <TableCell sx={{ display: { xs: 'none', lg: 'table-cell' } }}>Change</TableCell>
              </TableRow>
            </TableHead>
            <TableBody>
              {q.data.data.map((a) => (
                <TableRow key={a.id} data-testid="audit-row">
                  <TableCell sx={{ whiteSpace: 'nowrap' }}>{formatTime(a.at)}</TableCell>
                  <TableCell sx={{ wordBreak: 'break-all' }}>
                    <Tooltip title={`${a.actor} (${a.role ?? '—'})`}>
                      <span>{a.actor_email ?? a.actor}</span>
                    </Tooltip>
                  </TableCell>
                  <TableCell>{a.action}</TableCell>
                  <TableCell sx={{ wordBreak: 'break-all' }}>{a.target ?? '—'}</TableCell>
                  <TableCell sx={{ wordBreak: 'break-word' }}>{a.reason ?? '—'}</TableCell>
                  <TableCell sx={{ display: { xs: 'none', lg: 'table-cell' }, fontSize: 12, maxWidth: 360, wordBreak: 'break-all' }}>
                    {auditChanges(a.before as Json, a.after as Json).map((line) => (
                      <div key={line}>{line}</div>
                    ))}
                    <details>
                      <summary>Before and after</summary>
                      <Box component="pre" sx={{ fontSize: 11, whiteSpace: 'pre-wrap', m: 0 }}>
                        {JSON.stringify({ before: a.before ?? null, after: a.after ?? null }, null, 2)}
                      </Box>
                    </details>
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
