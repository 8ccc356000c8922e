-- 0022_reconciliation: the daily reconciliation against the provider's
-- settlement report (issue 12; db/functions/reconcile.sql, src/recon).
--
-- One row per reconciled UTC date: a run replaces the date's rows (its
-- summary, its per-tenant counts and its breaks) in the transaction that
-- fences it (the job_run op under the Redis lock job:reconcile), so a reader
-- sees the previous result or the new one, never a mix.
CREATE TABLE reconciliations (
    date           date PRIMARY KEY,
    status         text NOT NULL CHECK (status IN ('ok', 'breaks')),
    provider_lines bigint NOT NULL,
    finsys_lines   bigint NOT NULL,
    matched        bigint NOT NULL,
    breaks         bigint NOT NULL,
    -- More breaks than FS_RECON_BREAKS_MAX: only that many were written.
    truncated      boolean NOT NULL DEFAULT false,
    run_id         bigint NOT NULL,
    token          bigint NOT NULL,
    finished_at    timestamptz NOT NULL DEFAULT now()
);

-- A tenant's share of a date's result (GET /v1/reconciliations/{date}).
CREATE TABLE reconciliation_tenants (
    date      date NOT NULL REFERENCES reconciliations (date) ON DELETE CASCADE,
    tenant_id text NOT NULL,
    matched   bigint NOT NULL,
    breaks    bigint NOT NULL,
    PRIMARY KEY (date, tenant_id)
);

-- A break: one line that does not match, one row per kind of difference
-- (a line with another amount and another status is two breaks). The
-- FinSys side (tenant_id, finsys_*) is NULL for missing_in_finsys, the
-- provider's for missing_at_provider.
CREATE TABLE reconciliation_breaks (
    date              date NOT NULL REFERENCES reconciliations (date) ON DELETE CASCADE,
    seq               bigserial NOT NULL,
    tenant_id         text,
    kind              text NOT NULL CHECK (kind IN ('missing_at_provider', 'missing_in_finsys',
                                                    'amount_mismatch', 'status_mismatch',
                                                    'currency_mismatch')),
    object            text NOT NULL CHECK (object IN ('payment', 'refund')),
    object_id         text NOT NULL,
    provider_id       text,
    finsys_amount     bigint,
    finsys_currency   text,
    finsys_status     text,
    provider_amount   bigint,
    provider_currency text,
    provider_status   text,
    PRIMARY KEY (date, seq)
);
CREATE INDEX reconciliation_breaks_tenant ON reconciliation_breaks (tenant_id, date, seq);
