import { useState } from 'react';
import { Link as RouterLink } from 'react-router';
import Link from '@mui/material/Link';
import Paper from '@mui/material/Paper';
import Tab from '@mui/material/Tab';
import Tabs from '@mui/material/Tabs';
import Table from '@mui/material/Table';
import TableBody from '@mui/material/TableBody';
import TableCell from '@mui/material/TableCell';
import TableContainer from '@mui/material/TableContainer';
import TableHead from '@mui/material/TableHead';
import TableRow from '@mui/material/TableRow';
import { useListDeadLettersQuery, useReplayDeadLetterMutation } from '../store/api';
import { formatTime } from '../lib/ids';
import { nextCursor, useCursorStack } from '../lib/useCursor';
import { ActionButton } from '../components/ConfirmAction';
import { Empty, ErrorState, Loading, PageTitle, Pager } from '../components/common';
import type { DeadLetter } from '../store/types';

const KINDS = [
  { value: '', label: 'All' },
  { value: 'payment', label: 'Payments' },
  { value: 'refund', label: 'Refunds' },
  { value: 'webhook', label: 'Webhook deliveries' },
];

function paymentOf(d: DeadLetter): string | null {
  return d.payment?.id ?? d.refund?.payment ?? (d.kind === 'payment' ? d.id : null);
}

function replayMessage(r: unknown, what: string): string {
  const o = r as { replayed?: number; count?: number } | null;
  const n = o?.replayed ?? o?.count;
  return n !== undefined ? `Replayed ${n} dead letter${n === 1 ? '' : 's'}.` : `Replayed ${what}.`;
}

export default function DeadLettersPage() {
  const [kind, setKind] = useState('');
  const cur = useCursorStack();
  const q = useListDeadLettersQuery({ kind: kind || undefined, limit: '25', starting_after: cur.after || undefined });
  const [replay] = useReplayDeadLetterMutation();
  const next = nextCursor(q.data);

  return (
    <>
      <PageTitle
        actions={
          <ActionButton
            need="support"
            label="Replay all"
            testId="replay-all-button"
            title="Replay every dead letter"
            description="Every dead-lettered payment, refund and webhook delivery goes back to its queue."
            confirmLabel="Replay all"
            disabled={!q.data || q.data.data.length === 0}
            run={async (reason, idempotencyKey) => replayMessage(await replay({ id: 'all', reason, idempotencyKey }).unwrap(), 'all')}
          />
        }
      >
        Dead letters
      </PageTitle>
      <Tabs
        value={kind}
        onChange={(_e, v: string) => {
          setKind(v);
          cur.reset();
        }}
        variant="scrollable"
        allowScrollButtonsMobile
        sx={{ mb: 2 }}
      >
        {KINDS.map((k) => (
          <Tab key={k.value} value={k.value} label={k.label} data-testid={`dl-tab-${k.value || 'all'}`} />
        ))}
      </Tabs>
      {q.isError && <ErrorState error={q.error} onRetry={() => void q.refetch()} />}
      {q.isLoading && <Loading />}
      {q.data && q.data.data.length === 0 && <Empty>No dead letters. All is well.</Empty>}
      {q.data && q.data.data.length > 0 && (
        <TableContainer component={Paper} sx={{ opacity: q.isFetching ? 0.6 : 1 }}>
          <Table size="small" data-testid="dead-letters-table">
            <TableHead>
              <TableRow>
                <TableCell>Kind</TableCell>
                <TableCell>Id</TableCell>
                <TableCell sx={{ display: { xs: 'none', md: 'table-cell' } }}>Tenant</TableCell>
                <TableCell>Dead since</TableCell>
                <TableCell align="right">Attempts</TableCell>
                <TableCell sx={{ display: { xs: 'none', md: 'table-cell' } }}>Last error</TableCell>
                <TableCell />
              </TableRow>
            </TableHead>
            <TableBody>
              {q.data.data.map((d) => {
                const pay = paymentOf(d);
                return (
                  <TableRow key={`${d.kind}-${d.id}`} data-testid="dead-letter-row" data-id={d.id}>
                    <TableCell>{d.kind}</TableCell>
                    <TableCell sx={{ wordBreak: 'break-all' }}>
                      {pay ? (
                        <Link component={RouterLink} to={`/payments/${encodeURIComponent(pay)}`}>
                          {d.id}
                        </Link>
                      ) : (
                        d.id
                      )}
                    </TableCell>
                    <TableCell sx={{ display: { xs: 'none', md: 'table-cell' } }}>{d.tenant ?? '—'}</TableCell>
                    <TableCell sx={{ whiteSpace: 'nowrap' }}>{formatTime(d.dead_lettered_at)}</TableCell>
                    <TableCell align="right">{d.attempts}</TableCell>
                    <TableCell sx={{ display: { xs: 'none', md: 'table-cell' }, maxWidth: 320, wordBreak: 'break-word' }}>{d.last_error ?? '—'}</TableCell>
                    <TableCell>
                      <ActionButton
                        need="support"
                        label="Replay"
                        testId="replay-button"
                        title={`Replay ${d.id}`}
                        confirmLabel="Replay"
                        run={async (reason, idempotencyKey) => replayMessage(await replay({ id: d.id, reason, idempotencyKey }).unwrap(), d.id)}
                      />
                    </TableCell>
                  </TableRow>
                );
              })}
            </TableBody>
          </Table>
        </TableContainer>
      )}
      {q.data && <Pager hasPrev={cur.hasPrev} hasNext={!!next} onPrev={cur.prev} onNext={() => next && cur.next(next)} />}
    </>
  );
}
