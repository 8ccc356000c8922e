-- 0024_risk: risk rules decided inside the funds-check commit, block lists,
-- window counters, review and balance alerts (issue 12, docs/risk.md).
--
-- fs_batch() (db/functions/batch.sql) loads the rules of the tenants a group
-- names once per group, and decides each payment against them under its
-- payer's row lock, in the same transaction as the funds check: two racing
-- payments cannot both slip under a limit.

-- A tenant's rules. Deleted rules are kept (deleted_at): payments name the
-- rules that matched them, and a rule's id must still explain them.
CREATE TABLE risk_rules (
    seq        bigserial NOT NULL,
    id         text PRIMARY KEY,
    tenant_id  text NOT NULL REFERENCES tenants (id),
    name       text,
    kind       text NOT NULL CHECK (kind IN ('amount_above', 'velocity_count', 'velocity_amount',
                                             'new_account_amount', 'listed',
                                             'currency_not_allowed', 'metadata_equals')),
    -- The kind's parameters (docs/risk.md), checked by the API (src/risk).
    params     jsonb NOT NULL,
    action     text NOT NULL CHECK (action IN ('allow', 'review', 'block')),
    mode       text NOT NULL CHECK (mode IN ('active', 'shadow')),
    -- What a match adds to the payment's score (0..100; the score is capped at 100).
    score      integer NOT NULL CHECK (score BETWEEN 0 AND 100),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz
);
-- The group's load (live rules of its tenants, in order) and the list.
CREATE INDEX risk_rules_live ON risk_rules (tenant_id, seq) WHERE deleted_at IS NULL;
CREATE INDEX risk_rules_tenant_seq ON risk_rules (tenant_id, seq);

-- A tenant's lists (a block list is the usual one): values a `listed` rule
-- looks the payer or payee up in. A value is an account id.
CREATE TABLE risk_list_entries (
    seq        bigserial NOT NULL,
    id         text PRIMARY KEY,
    tenant_id  text NOT NULL REFERENCES tenants (id),
    list       text NOT NULL,
    value      text NOT NULL,
    reason     text,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, list, value)
);
-- The group's load: the entries naming the accounts it locked.
CREATE INDEX risk_list_entries_value ON risk_list_entries (value, tenant_id);
CREATE INDEX risk_list_entries_tenant_seq ON risk_list_entries (tenant_id, seq);

-- Window counters of an account's accepted payments (as payer), kept in
-- its row (updated by every payment anyway: no row, index probe or WAL
-- record of their own) and only while its tenant has a velocity rule
-- (NULL otherwise): minute buckets for the last hour and hour buckets for
-- the longest window (FS_RISK_WINDOW_MINUTES_MAX). Each tier is its
-- buckets' starts (sorted, ascending) and the running totals of count and
-- amount at the end of each bucket, with the totals before the first kept
-- bucket (*_bn, *_bs): a window's count is one subtraction after a binary
-- search (width_bucket), never a walk of the buckets. Changed only under the
-- row's lock (fs_batch step 2), so a count read under it is exact. Numeric
-- totals: no overflow, whatever the volume.
ALTER TABLE accounts
    ADD COLUMN win_m_at integer[], -- epoch minutes
    ADD COLUMN win_m_cn numeric[], -- running count
    ADD COLUMN win_m_cs numeric[], -- running sum of amounts
    ADD COLUMN win_m_bn numeric,
    ADD COLUMN win_m_bs numeric,
    ADD COLUMN win_h_at integer[], -- epoch hours
    ADD COLUMN win_h_cn numeric[],
    ADD COLUMN win_h_cs numeric[],
    ADD COLUMN win_h_bn numeric,
    ADD COLUMN win_h_bs numeric;

-- Payments: the decision that made them, and a review's outcome.
-- risk: {score, decision, rules_matched: [{id, action, mode}]}, null when the
-- tenant had no rules. review: {decision, reason, reviewed_at, actor}.
ALTER TABLE payments ADD COLUMN risk jsonb;
ALTER TABLE payments ADD COLUMN review jsonb;
ALTER TABLE payments DROP CONSTRAINT payments_status_check;
ALTER TABLE payments ADD CONSTRAINT payments_status_check CHECK (status IN
    ('requires_review', 'pending', 'processing', 'succeeded', 'failed', 'canceled',
     'refunded'));
-- The review queue: few rows whatever the history.
CREATE INDEX payments_review ON payments (tenant_id, seq) WHERE status = 'requires_review';

-- Balance alerts, edge-triggered (docs/risk.md): thresholds on available,
-- and the side the balance was on at the last commit that changed it
-- ('n' between or none set, 'b' below, 'a' above). A commit that moves it to
-- another side emits account.balance_below / account.balance_above, once.
ALTER TABLE accounts ADD COLUMN alert_below bigint;
ALTER TABLE accounts ADD COLUMN alert_above bigint;
ALTER TABLE accounts ADD COLUMN alert_side "char" NOT NULL DEFAULT 'n';

-- The created answer now carries the payment's risk and first status.
DROP FUNCTION IF EXISTS fs_payment_created_json(text, text, text, bigint, text, text, jsonb,
                                                timestamptz);
