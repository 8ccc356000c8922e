import type { Role } from '../lib/roles';

export type Minor = number | string;

export interface ApiErrorBody {
  type: string;
  code: string;
  message: string;
  param: string | null;
}

/** What every failed call gives the components: the server's error object (or one made up). */
export interface ApiError {
  status: number;
  error: ApiErrorBody;
  retryAfter?: string | null;
}

export interface Staff {
  id: string;
  email: string;
  role: Role;
  disabled_at?: string | null;
  created_at?: string;
}

export interface Session {
  object: 'session';
  staff: Staff;
  csrf_token: string;
  expires_at: string;
}

export interface List<T> {
  object: 'list';
  data: T[];
  has_more: boolean;
  next?: string | null;
}

export interface TimelineEvent {
  status: string;
  at?: string;
  created_at?: string;
  [k: string]: unknown;
}

export interface Payment {
  id: string;
  object: 'payment';
  tenant?: string;
  from_account: string;
  to_account: string;
  amount: Minor;
  currency: string;
  amount_refunded: Minor;
  description: string | null;
  metadata: Record<string, string>;
  status: string;
  failure_code: string | null;
  failure_message: string | null;
  created_at: string;
  updated_at: string;
  timeline?: TimelineEvent[];
  /** The risk rules' decision when it was made (docs/risk.md); null when its tenant had no rule. */
  risk?: PaymentRisk | null;
  /** A review's outcome, once a payment in requires_review was approved or rejected. */
  review?: PaymentReview | null;
}

/** A rule that matched a payment: its id, action and mode (a shadow rule changes nothing). */
export interface RuleMatch {
  id: string;
  action: 'allow' | 'review' | 'block' | string;
  mode: 'active' | 'shadow' | string;
}

export interface PaymentRisk {
  score: number;
  decision: 'allow' | 'review' | 'block' | string;
  rules_matched: RuleMatch[];
}

/** Who reviewed: the staff member's (or admin key's) id, with email and role when known. */
export type ReviewActor = string | { id: string; email?: string | null; role?: string | null };

export interface PaymentReview {
  decision: 'approve' | 'reject' | string;
  reason: string | null;
  reviewed_at: string;
  actor: ReviewActor | null;
}

export interface Refund {
  id: string;
  object: 'refund';
  payment: string;
  amount: Minor;
  currency: string;
  status: string;
  failure_code: string | null;
  failure_message: string | null;
  created_at: string;
  updated_at: string;
}

export interface JournalEntry {
  id: string;
  account?: string;
  bucket?: string;
  amount: Minor;
  currency?: string;
  at?: string;
  created_at?: string;
  ref?: string | null;
  running_balance?: Minor;
}

export interface WebhookAttempt {
  at: string;
  status: number | string | null;
  error: string | null;
  duration_ms: number | null;
}

export interface WebhookDelivery {
  id: string;
  endpoint: string;
  url: string;
  event_type: string;
  status: string;
  attempts: number;
  last_status: number | string | null;
  last_error: string | null;
  created_at: string;
  delivered_at: string | null;
  attempt_log: WebhookAttempt[];
}

export interface PaymentDetail {
  object: 'payment_detail';
  payment: Payment;
  timeline: TimelineEvent[];
  journal: JournalEntry[];
  refunds: Refund[];
  receipt: { number: string; sha256: string; url: string } | null;
  webhook_deliveries: WebhookDelivery[];
  provider: ({ attempts?: number; outcome?: string; failure_code?: string | null; failure_message?: string | null } & Record<string, unknown>) | null;
  request_id: string | null;
}

export interface Account {
  id: string;
  object: 'account';
  tenant?: string | { id: string; name?: string };
  currency: string;
  name: string | null;
  type: string;
  status: 'active' | 'frozen' | 'closed' | string;
  balance: { available: Minor; pending: Minor; currency: string };
  metadata?: Record<string, string>;
  created_at: string;
}

export interface DeadLetter {
  object: 'dead_letter';
  kind: 'payment' | 'refund' | 'webhook';
  id: string;
  tenant: string | null;
  dead_lettered_at: string;
  attempts: number;
  last_error: string | null;
  payment?: Payment;
  refund?: Refund;
  delivery?: Partial<WebhookDelivery>;
}

export interface Tenant {
  id: string;
  name: string;
  created_at?: string;
  rate_limit?: { per_s: number; burst: number; default?: boolean } | null;
  per_s?: number;
  burst?: number;
  /* API keys: active (neither revoked nor expired), revoked, expired, and
   * admin among the active. */
  keys?: { active: number; revoked: number; expired?: number; admin: number };
  [k: string]: unknown;
}

export interface ApiKey {
  id: string;
  prefix: string;
  admin: boolean;
  created_at: string;
  revoked_at: string | null;
  /* Issue 13: when it stops working (null: never), its state, and the key
   * that replaced it (POST /admin/api/keys/{id}/rotate). */
  expires_at?: string | null;
  status?: 'active' | 'expired' | 'revoked';
  rotated_to?: string | null;
  secret?: string;
}

export interface AuditEntry {
  id: string;
  at: string;
  actor: string;
  actor_email: string | null;
  role: string | null;
  action: string;
  target: string | null;
  reason: string | null;
  before: unknown;
  after: unknown;
  request_id: string | null;
}

export interface SeriesPoint {
  t: string | number;
  created: number;
  succeeded: number;
  failed: number;
}

export interface VolumeRow {
  currency: string;
  created_amount: Minor;
  succeeded_amount: Minor;
  count: number;
}

export interface DeadLetterCounts {
  payments: number;
  refunds: number;
  webhooks: number;
}

export interface Breaker {
  state: 'closed' | 'open' | 'half_open' | string;
  since: string | null;
}

export interface Overview {
  object: 'overview';
  at: string;
  window_s: number;
  series: SeriesPoint[];
  volume_by_currency: VolumeRow[];
  success_rate: number | null;
  decline_rate: number | null;
  settlement_lag_ms: { p50: number | null; p99: number | null };
  dead_letters: DeadLetterCounts;
  breaker: Breaker;
}

export interface PaymentEvent {
  id: string;
  type: string;
  tenant: string;
  payment: string;
  amount: Minor;
  currency: string;
  status: string;
  created_at: string;
  at: string;
}

export interface StatusEvent {
  dead_letters?: DeadLetterCounts;
  breaker?: Breaker;
}

/** A day's reconciliation against the provider (GET /admin/api/reconciliations/{date}). */
export interface ReconciliationSide {
  amount: Minor;
  currency: string;
  status: string;
}
export interface ReconciliationBreak {
  kind: string; // missing_at_provider, missing_in_finsys, amount_mismatch, status_mismatch, currency_mismatch
  object: string; // payment | refund
  id: string | null;
  tenant: string | null;
  provider_id: string | null;
  finsys: ReconciliationSide | null;
  provider: ReconciliationSide | null;
}
export interface Reconciliation {
  object: 'reconciliation';
  date: string;
  status: 'not_run' | 'ok' | 'breaks' | string;
  provider_lines: number;
  finsys_lines: number;
  matched: number;
  breaks_count: number;
  truncated: boolean;
  reconciled_at: string | null;
  breaks: ReconciliationBreak[];
  has_more: boolean;
}

/** A count and a volume (minor units) of a daily rollup. */
export interface RollupFigure {
  count: number;
  volume: Minor;
}

/**
 * A day's (or, in totals, a period's) figures of one currency: payments
 * (created), succeeded, declined, canceled, refunds, and whatever other
 * figures the server's daily_rollups has (flagged, blocked, ...).
 */
export interface DailyRollup {
  object: 'daily_rollup' | 'rollup_total';
  date?: string;
  currency: string;
  [figure: string]: RollupFigure | string | undefined;
}

/** GET /admin/api/reports/daily: the rollups of every tenant (or one), summed. */
export interface DailyReport {
  object: 'daily_report';
  from: string;
  to: string;
  currency: string | null;
  tenant?: string | null;
  as_of: string | null;
  data: DailyRollup[];
  totals?: DailyRollup[];
}

/** A tenant's risk rule (docs/risk.md); the console's routes are /admin/api/tenants/{id}/risk_rules. */
export interface RiskRule {
  id: string;
  object: 'risk_rule';
  name: string | null;
  kind: string;
  params: Record<string, unknown>;
  action: 'allow' | 'review' | 'block';
  mode: 'active' | 'shadow';
  score: number;
  created_at: string;
  updated_at: string;
}

/** An entry of a tenant's list (a block list): an account id, and why. */
export interface RiskListEntry {
  id: string;
  object: 'risk_list_entry';
  list: string;
  value: string;
  reason: string | null;
  created_at: string;
}
