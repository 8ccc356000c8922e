-- 0021_rollups: daily rollups of payments and refunds (issue 12,
-- db/functions/reports.sql, docs/architecture.md "Statements and daily
-- rollups"). One row per tenant, UTC day and currency, kept by the worker's
-- feed reader `rollups` in the transaction that moves its cursor: nothing on
-- a payment's write path writes here.
--
-- The day of a payment's figures is the UTC day the payment was created on,
-- and of a refund's the day the refund was created on, whatever day it
-- settled: a day's row keeps changing while its payments settle (at most a
-- retry period after the day ended), and a day's totals always equal a
-- direct query over payments and refunds grouped by created_at.
CREATE TABLE IF NOT EXISTS daily_rollups (
    tenant_id        text NOT NULL,
    day              date NOT NULL,
    currency         text NOT NULL,
    -- payment.created: payments accepted (funds held)
    payments_count   bigint NOT NULL DEFAULT 0,
    payments_volume  bigint NOT NULL DEFAULT 0,
    -- payment.succeeded: the provider approved (refunded payments included)
    succeeded_count  bigint NOT NULL DEFAULT 0,
    succeeded_volume bigint NOT NULL DEFAULT 0,
    -- payment.failed: the provider declined (status failed)
    declined_count   bigint NOT NULL DEFAULT 0,
    declined_volume  bigint NOT NULL DEFAULT 0,
    -- payment.canceled: canceled by the tenant before settlement
    canceled_count   bigint NOT NULL DEFAULT 0,
    canceled_volume  bigint NOT NULL DEFAULT 0,
    -- refund.succeeded: money given back (by the refund's creation day)
    refunds_count    bigint NOT NULL DEFAULT 0,
    refunds_volume   bigint NOT NULL DEFAULT 0,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, day, currency)
);
