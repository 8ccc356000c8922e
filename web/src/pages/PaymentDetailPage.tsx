import { useState } from 'react';
import { Link as RouterLink, useParams } from 'react-router';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Dialog from '@mui/material/Dialog';
import DialogActions from '@mui/material/DialogActions';
import DialogContent from '@mui/material/DialogContent';
import DialogTitle from '@mui/material/DialogTitle';
import Link from '@mui/material/Link';
import Paper from '@mui/material/Paper';
import Stack from '@mui/material/Stack';
import Table from '@mui/material/Table';
import TableBody from '@mui/material/TableBody';
import TableCell from '@mui/material/TableCell';
import TableHead from '@mui/material/TableHead';
import TableRow from '@mui/material/TableRow';
import TableContainer from '@mui/material/TableContainer';
import TextField from '@mui/material/TextField';
import Typography from '@mui/material/Typography';
import Accordion from '@mui/material/Accordion';
import AccordionSummary from '@mui/material/AccordionSummary';
import AccordionDetails from '@mui/material/AccordionDetails';
import { useCancelPaymentMutation, useGetPaymentQuery, useRefundPaymentMutation } from '../store/api';
import { formatMoney, minorToJsonNumber, parseMajor } from '../lib/money';
import { formatTime } from '../lib/ids';
import { ActionButton } from '../components/ConfirmAction';
import { CopyButton, Empty, ErrorState, Loading, Money, PageTitle, StatusChip } from '../components/common';
import { ReviewActions, ReviewSummary, RiskSummary } from '../components/risk';

function Section({ title, children, testId }: { title: string; children: React.ReactNode; testId?: string }) {
  return (
    <Paper sx={{ p: 2 }} data-testid={testId}>
      <Typography variant="subtitle1" component="h2" gutterBottom>
        {title}
      </Typography>
      {children}
    </Paper>
  );
}

function KV({ rows }: { rows: [string, React.ReactNode][] }) {
  return (
    <Box component="dl" sx={{ display: 'grid', gridTemplateColumns: 'max-content minmax(0, 1fr)', columnGap: 2, rowGap: 0.5, m: 0 }}>
      {rows.map(([k, v]) => (
        <Box key={k} sx={{ display: 'contents' }}>
          <Typography component="dt" variant="body2" color="text.secondary">
            {k}
          </Typography>
          <Typography component="dd" variant="body2" sx={{ m: 0, wordBreak: 'break-all' }}>
            {v ?? '—'}
          </Typography>
        </Box>
      ))}
    </Box>
  );
}

// A payment in review can be canceled too (docs/risk.md).
const CANCELABLE = new Set(['requires_review', 'pending', 'processing']);

export default function PaymentDetailPage() {
  const { id = '' } = useParams();
  const q = useGetPaymentQuery(id);
  const [refund] = useRefundPaymentMutation();
  const [cancel] = useCancelPaymentMutation();
  const [amount, setAmount] = useState('');
  const [receiptOpen, setReceiptOpen] = useState(false);

  if (q.isLoading) return <Loading />;
  if (q.isError || !q.data) return <ErrorState error={q.error} onRetry={() => void q.refetch()} />;
  const d = q.data;
  const p = d.payment;
  const timeline = d.timeline?.length ? d.timeline : (p.timeline ?? []);
  const parsed = amount.trim() ? parseMajor(amount, p.currency) : null;
  const amountError = parsed && !parsed.ok ? parsed.error : parsed && parsed.ok && (parsed.minor < 1n || minorToJsonNumber(parsed.minor) === null) ? 'The amount is out of range' : null;

  return (
    <>
      <PageTitle
        actions={
          <Stack direction="row" spacing={1} useFlexGap sx={{ flexWrap: 'wrap' }}>
            <ReviewActions payment={p} />
            <ActionButton
              need="support"
              label="Refund"
              testId="refund-button"
              title={`Refund ${p.id}`}
              confirmLabel="Refund"
              disabled={p.status !== 'succeeded'}
              onOpen={() => setAmount('')}
              description={`Refundable: ${formatMoney(BigInt(p.amount) - BigInt(p.amount_refunded ?? 0), p.currency)}. Leave the amount empty to refund all that remains.`}
              fields={
                <TextField
                  label={`Amount (${p.currency}, optional)`}
                  value={amount}
                  inputMode="decimal"
                  onChange={(e) => setAmount(e.target.value)}
                  error={!!amountError}
                  helperText={amountError ?? ' '}
                  slotProps={{ htmlInput: { 'data-testid': 'refund-amount' } }}
                />
              }
              validate={() => amountError}
              run={async (reason, idempotencyKey) => {
                const minor = parsed && parsed.ok ? minorToJsonNumber(parsed.minor) ?? undefined : undefined;
                const r = await refund({ id: p.id, amount: minor, reason, idempotencyKey }).unwrap();
                return `Refund ${r.id} created (${formatMoney(r.amount, r.currency)}, ${r.status}).`;
              }}
            />
            <ActionButton
              need="support"
              label="Cancel"
              danger
              testId="cancel-button"
              title={`Cancel ${p.id}`}
              confirmLabel="Cancel payment"
              disabled={!CANCELABLE.has(p.status)}
              run={async (reason, idempotencyKey) => {
                const r = await cancel({ id: p.id, reason, idempotencyKey }).unwrap();
                return `Payment ${r.id} is ${r.status}.`;
              }}
            />
          </Stack>
        }
      >
        Payment {p.id}
      </PageTitle>

      <Box sx={{ display: 'grid', gap: 2, gridTemplateColumns: { xs: 'minmax(0, 1fr)', md: 'minmax(0, 1fr) minmax(0, 1fr)' } }}>
        <Section title="Payment" testId="payment-summary">
          <KV
            rows={[
              ['Amount', <Money key="a" minor={p.amount} currency={p.currency} />],
              ['Refunded', <Money key="r" minor={p.amount_refunded} currency={p.currency} />],
              ['Status', <StatusChip key="s" status={p.status} />],
              ['Tenant', p.tenant],
              [
                'From',
                <Link key="f" component={RouterLink} to={`/accounts/${encodeURIComponent(p.from_account)}`}>
                  {p.from_account}
                </Link>,
              ],
              [
                'To',
                <Link key="t" component={RouterLink} to={`/accounts/${encodeURIComponent(p.to_account)}`}>
                  {p.to_account}
                </Link>,
              ],
              ['Description', p.description],
              ['Failure', p.failure_code ? `${p.failure_code}: ${p.failure_message ?? ''}` : null],
              ['Created', formatTime(p.created_at)],
              [
                'Request id',
                d.request_id ? (
                  <span key="q" data-testid="request-id">
                    {d.request_id} <CopyButton text={d.request_id} label="Copy the request id" testId="copy-request-id" />
                  </span>
                ) : null,
              ],
            ]}
          />
        </Section>

        <Section title="Timeline" testId="payment-timeline">
          {timeline.length === 0 ? (
            <Empty>No events.</Empty>
          ) : (
            <Box component="ol" sx={{ listStyle: 'none', p: 0, m: 0 }}>
              {timeline.map((t, i) => (
                <Box component="li" key={i} data-testid="timeline-item" sx={{ display: 'flex', gap: 2, alignItems: 'center', py: 0.5, borderLeft: 2, borderColor: 'divider', pl: 2 }}>
                  <StatusChip status={t.status} />
                  <Typography variant="body2">{formatTime(t.at ?? t.created_at)}</Typography>
                </Box>
              ))}
            </Box>
          )}
        </Section>

        {(p.risk || p.review || p.status === 'requires_review') && (
          <Section title={p.status === 'requires_review' ? 'Risk: waiting for review' : 'Risk'} testId="payment-risk-section">
            <Stack spacing={2}>
              {p.risk ? <RiskSummary risk={p.risk} tenant={p.tenant} /> : <Empty>No risk decision recorded.</Empty>}
              {p.review && (
                <Box>
                  <Typography variant="subtitle2" component="h3" gutterBottom>
                    Review
                  </Typography>
                  <ReviewSummary review={p.review} />
                </Box>
              )}
            </Stack>
          </Section>
        )}

        <Section title="Provider">
          {d.provider ? (
            <KV
              rows={[
                ['Attempts', d.provider.attempts],
                ['Outcome', d.provider.outcome],
                ['Failure', d.provider.failure_code ? `${d.provider.failure_code}: ${d.provider.failure_message ?? ''}` : null],
              ]}
            />
          ) : (
            <Empty>No provider record.</Empty>
          )}
        </Section>

        <Section title="Receipt">
          {d.receipt ? (
            <Stack spacing={1}>
              <KV rows={[['Number', d.receipt.number], ['SHA-256', <code key="h">{d.receipt.sha256}</code>]]} />
              <Box>
                <Button variant="outlined" size="small" onClick={() => setReceiptOpen(true)} data-testid="receipt-button">
                  Open the receipt
                </Button>
              </Box>
            </Stack>
          ) : (
            <Empty>No receipt yet.</Empty>
          )}
        </Section>

        <Section title="Journal entries">
          {d.journal.length === 0 ? (
            <Empty>No journal entries.</Empty>
          ) : (
            <TableContainer>
              <Table size="small">
                <TableHead>
                  <TableRow>
                    <TableCell>Account</TableCell>
                    <TableCell>Bucket</TableCell>
                    <TableCell align="right">Amount</TableCell>
                    <TableCell>At</TableCell>
                  </TableRow>
                </TableHead>
                <TableBody>
                  {d.journal.map((j) => (
                    <TableRow key={j.id}>
                      <TableCell sx={{ wordBreak: 'break-all' }}>{j.account}</TableCell>
                      <TableCell>{j.bucket}</TableCell>
                      <TableCell align="right">
                        <Money minor={j.amount} currency={j.currency ?? p.currency} />
                      </TableCell>
                      <TableCell>{formatTime(j.at ?? j.created_at)}</TableCell>
                    </TableRow>
                  ))}
                </TableBody>
              </Table>
            </TableContainer>
          )}
        </Section>

        <Section title="Refunds" testId="payment-refunds">
          {d.refunds.length === 0 ? (
            <Empty>No refunds.</Empty>
          ) : (
            <Table size="small">
              <TableBody>
                {d.refunds.map((r) => (
                  <TableRow key={r.id} data-testid="refund-row">
                    <TableCell sx={{ wordBreak: 'break-all' }}>{r.id}</TableCell>
                    <TableCell align="right">
                      <Money minor={r.amount} currency={r.currency} />
                    </TableCell>
                    <TableCell>
                      <StatusChip status={r.status} />
                    </TableCell>
                    <TableCell>{formatTime(r.created_at)}</TableCell>
                  </TableRow>
                ))}
              </TableBody>
            </Table>
          )}
        </Section>

        <Box sx={{ gridColumn: '1 / -1' }}>
          <Section title="Webhook deliveries" testId="payment-webhooks">
            {d.webhook_deliveries.length === 0 ? (
              <Empty>No webhook deliveries.</Empty>
            ) : (
              d.webhook_deliveries.map((w) => (
                <Accordion key={w.id} disableGutters>
                  <AccordionSummary aria-controls={`wh-${w.id}`}>
                    <Stack direction="row" spacing={1} useFlexGap sx={{ alignItems: 'center', flexWrap: 'wrap' }}>
                      <StatusChip status={w.status} />
                      <Typography variant="body2">{w.event_type}</Typography>
                      <Typography variant="body2" color="text.secondary" sx={{ wordBreak: 'break-all' }}>
                        {w.url}
                      </Typography>
                      <Typography variant="body2" color="text.secondary">
                        {w.attempts} attempt{w.attempts === 1 ? '' : 's'}, last {w.last_status ?? '—'}
                      </Typography>
                    </Stack>
                  </AccordionSummary>
                  <AccordionDetails id={`wh-${w.id}`}>
                    {w.last_error && <Typography color="error" variant="body2">{w.last_error}</Typography>}
                    <Table size="small">
                      <TableHead>
                        <TableRow>
                          <TableCell>At</TableCell>
                          <TableCell>Answer</TableCell>
                          <TableCell>Error</TableCell>
                          <TableCell align="right">Duration</TableCell>
                        </TableRow>
                      </TableHead>
                      <TableBody>
                        {(w.attempt_log ?? []).map((a, i) => (
                          <TableRow key={i}>
                            <TableCell>{formatTime(a.at)}</TableCell>
                            <TableCell>{a.status ?? '—'}</TableCell>
                            <TableCell>{a.error ?? ''}</TableCell>
                            <TableCell align="right">{a.duration_ms === null ? '—' : `${a.duration_ms} ms`}</TableCell>
                          </TableRow>
                        ))}
                      </TableBody>
                    </Table>
                  </AccordionDetails>
                </Accordion>
              ))
            )}
          </Section>
        </Box>
      </Box>

      <Dialog open={receiptOpen} onClose={() => setReceiptOpen(false)} fullWidth maxWidth="md" aria-labelledby="receipt-title">
        <DialogTitle id="receipt-title">Receipt {d.receipt?.number}</DialogTitle>
        <DialogContent>
          {d.receipt && (
            <Box
              component="iframe"
              title={`Receipt of ${p.id}`}
              src={d.receipt.url || `/admin/api/payments/${encodeURIComponent(p.id)}/receipt`}
              sandbox=""
              sx={{ width: '100%', height: '70vh', border: 1, borderColor: 'divider' }}
              data-testid="receipt-frame"
            />
          )}
        </DialogContent>
        <DialogActions>
          <Button onClick={() => setReceiptOpen(false)}>Close</Button>
        </DialogActions>
      </Dialog>
    </>
  );
}
