// A payment's risk decision and review (docs/risk.md), and the review's two
// actions, shared by the review queue and the payment's detail.
import Box from '@mui/material/Box';
import Chip from '@mui/material/Chip';
import Stack from '@mui/material/Stack';
import Typography from '@mui/material/Typography';
import { Link as RouterLink } from 'react-router';
import Link from '@mui/material/Link';
import { useReviewPaymentMutation } from '../store/api';
import type { Payment, PaymentReview, PaymentRisk, ReviewActor, RuleMatch } from '../store/types';
import { formatMoney } from '../lib/money';
import { formatTime } from '../lib/ids';
import { ActionButton } from './ConfirmAction';

/** Who may approve or reject: whoever may cancel a payment (docs/console.md). */
export const REVIEW_ROLE = 'support' as const;

const DECISION_COLORS: Record<string, 'success' | 'warning' | 'error' | 'default'> = {
  allow: 'success',
  review: 'warning',
  block: 'error',
};

/** The score out of 100, colored by how far it is. */
export function ScoreChip({ score, testId = 'risk-score' }: { score: number | null | undefined; testId?: string }) {
  if (score === null || score === undefined) return <>—</>;
  const color = score >= 80 ? 'error' : score >= 40 ? 'warning' : 'default';
  return <Chip size="small" label={`${score}/100`} color={color} variant="outlined" data-testid={testId} />;
}

/** One matched rule: its id (a link to the tenant's rules), its action and mode. */
export function RuleMatchChip({ m, tenant }: { m: RuleMatch; tenant?: string }) {
  const shadow = m.mode === 'shadow';
  return (
    <Box component="span" data-testid="rule-match" sx={{ display: 'inline-flex', gap: 0.5, alignItems: 'center', flexWrap: 'wrap' }}>
      {tenant ? (
        <Link component={RouterLink} to={`/risk?tenant=${encodeURIComponent(tenant)}`} sx={{ fontSize: 12, wordBreak: 'break-all' }}>
          {m.id}
        </Link>
      ) : (
        <Typography component="span" sx={{ fontSize: 12, wordBreak: 'break-all' }}>
          {m.id}
        </Typography>
      )}
      <Chip size="small" label={m.action} color={shadow ? 'default' : (DECISION_COLORS[m.action] ?? 'default')} variant={shadow ? 'outlined' : 'filled'} />
      <Chip size="small" label={m.mode} variant="outlined" />
    </Box>
  );
}

export function RulesMatched({ risk, tenant }: { risk: PaymentRisk | null | undefined; tenant?: string }) {
  const rules = risk?.rules_matched ?? [];
  if (rules.length === 0) return <>—</>;
  return (
    <Stack spacing={0.5}>
      {rules.map((m, i) => (
        <RuleMatchChip key={`${m.id}-${i}`} m={m} tenant={tenant} />
      ))}
    </Stack>
  );
}

/** The risk decision of a payment: score, decision, rules matched. */
export function RiskSummary({ risk, tenant }: { risk: PaymentRisk; tenant?: string }) {
  return (
    <Box data-testid="payment-risk" sx={{ display: 'grid', gridTemplateColumns: 'max-content minmax(0, 1fr)', columnGap: 2, rowGap: 0.5 }}>
      <Typography variant="body2" color="text.secondary">
        Score
      </Typography>
      <Box>
        <ScoreChip score={risk.score} />
      </Box>
      <Typography variant="body2" color="text.secondary">
        Decision
      </Typography>
      <Box>
        <Chip size="small" label={risk.decision} color={DECISION_COLORS[risk.decision] ?? 'default'} data-testid="risk-decision" />
      </Box>
      <Typography variant="body2" color="text.secondary">
        Rules matched
      </Typography>
      <RulesMatched risk={risk} tenant={tenant} />
    </Box>
  );
}

export function actorName(a: ReviewActor | null | undefined): string {
  if (!a) return '—';
  if (typeof a === 'string') return a;
  return a.email ? `${a.email} (${a.id}${a.role ? `, ${a.role}` : ''})` : a.id;
}

export function ReviewSummary({ review }: { review: PaymentReview }) {
  return (
    <Box data-testid="payment-review" sx={{ display: 'grid', gridTemplateColumns: 'max-content minmax(0, 1fr)', columnGap: 2, rowGap: 0.5 }}>
      {(
        [
          ['Decision', <Chip key="d" size="small" label={review.decision} color={review.decision === 'approve' ? 'success' : 'error'} data-testid="review-decision" />],
          ['Reason', review.reason ?? '—'],
          ['Reviewed', formatTime(review.reviewed_at)],
          ['By', actorName(review.actor)],
        ] as [string, React.ReactNode][]
      ).map(([k, v]) => (
        <Box key={k} sx={{ display: 'contents' }}>
          <Typography variant="body2" color="text.secondary">
            {k}
          </Typography>
          <Typography component="div" variant="body2" sx={{ wordBreak: 'break-word' }}>
            {v}
          </Typography>
        </Box>
      ))}
    </Box>
  );
}

/** Approve and Reject, each confirmed with a reason and its own Idempotency-Key; shown to support and above. */
export function ReviewActions({ payment, size = 'small' }: { payment: Payment; size?: 'small' | 'medium' }) {
  const [review] = useReviewPaymentMutation();
  if (payment.status !== 'requires_review') return null;
  const what = `${payment.id} (${formatMoney(payment.amount, payment.currency)})`;
  return (
    <Stack direction={{ xs: 'column', sm: 'row' }} spacing={1} useFlexGap sx={{ flexWrap: 'wrap', alignItems: 'flex-start' }}>
      <ActionButton
        need={REVIEW_ROLE}
        label="Approve"
        testId="approve-button"
        buttonProps={{ size, variant: 'contained', color: 'success' }}
        title={`Approve ${what}`}
        confirmLabel="Approve"
        description="The payment goes to settlement as any other (pending, then succeeded or failed)."
        run={async (reason, idempotencyKey) => {
          const r = await review({ id: payment.id, decision: 'approve', reason, idempotencyKey }).unwrap();
          return `Payment ${r.id} approved: ${r.status}.`;
        }}
      />
      <ActionButton
        need={REVIEW_ROLE}
        label="Reject"
        danger
        testId="reject-button"
        buttonProps={{ size }}
        title={`Reject ${what}`}
        confirmLabel="Reject"
        description="The payment is canceled (failure code review_rejected, your reason as its message) and the payer's hold released."
        run={async (reason, idempotencyKey) => {
          const r = await review({ id: payment.id, decision: 'reject', reason, idempotencyKey }).unwrap();
          return `Payment ${r.id} rejected: ${r.status}.`;
        }}
      />
    </Stack>
  );
}
