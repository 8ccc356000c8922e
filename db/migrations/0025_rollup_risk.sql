-- 0025_rollup_risk: the daily rollups count what risk rules decide (issue 12,
-- docs/risk.md; db/functions/reports.sql fs_rollup_run, the reader of the
-- feed `rollups`, which adds them from the events as it adds the others).
--
-- A payment sent to review is still a payment created (payments_count, its
-- amount held); flagged counts it again among those sent to review. A
-- blocked attempt is no payment: it counts only in blocked, on the UTC day
-- it was attempted (its event's, since it has no created_at of its own). A
-- payment a review rejected is canceled, but by the reviewer, not the
-- tenant: it counts in review_rejected and not in canceled, each figure
-- being one event type.
ALTER TABLE daily_rollups
    -- payment.flagged: payments sent to review (status requires_review)
    ADD COLUMN IF NOT EXISTS flagged_count          bigint NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS flagged_volume         bigint NOT NULL DEFAULT 0,
    -- payment.blocked: payments a rule blocked (attempts: no payment exists)
    ADD COLUMN IF NOT EXISTS blocked_count          bigint NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS blocked_volume         bigint NOT NULL DEFAULT 0,
    -- payment.review_rejected: payments in review a reviewer rejected (canceled)
    ADD COLUMN IF NOT EXISTS review_rejected_count  bigint NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS review_rejected_volume bigint NOT NULL DEFAULT 0;

-- The daily export's blocked attempts (src/export/runner.c): a tenant's
-- payment.blocked events by time, without a walk over all its events. Only
-- blocked attempts are in it: a few rows where payments are many.
CREATE INDEX IF NOT EXISTS events_blocked ON events (tenant_id, created_at)
    WHERE type = 'payment.blocked';
