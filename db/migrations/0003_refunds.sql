-- 0003_refunds: refunds of succeeded payments (issue 4).
--
-- A refund gives back all or part of a succeeded payment: accepted, it holds
-- the amount on the payee (available -> pending) in the transaction that
-- creates it; the worker then asks the provider, and the hold goes to the
-- payer (succeeded) or back to the payee's available balance (failed). The
-- payment row counts what its refunds took: amount_refunded (succeeded) and
-- amount_refund_pending (accepted, not final yet). fs_batch() checks
-- amount_refunded + amount_refund_pending + a new refund <= amount under
-- the payment's row lock, so concurrent refunds never exceed the payment.

CREATE TABLE refunds (
    seq             bigserial NOT NULL,
    id              text PRIMARY KEY,
    payment_id      text NOT NULL,
    tenant_id       text NOT NULL,
    amount          bigint NOT NULL CHECK (amount > 0),
    currency        text NOT NULL,
    status          text NOT NULL CHECK (status IN
                        ('pending', 'processing', 'succeeded', 'failed')),
    failure_code    text,
    failure_message text,
    -- As on payments: calls to the provider so far (refund_claim counts
    -- them), and the mark of a refund whose message was dead-lettered.
    settle_attempts integer NOT NULL DEFAULT 0,
    dead_lettered_at timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refunds_payment_seq ON refunds (payment_id, seq);
-- The outbox of refunds, for the worker's sweeper (as payments_unsettled).
CREATE INDEX refunds_unsettled ON refunds (created_at)
    WHERE status IN ('pending', 'processing');

ALTER TABLE payments
    ADD COLUMN amount_refunded bigint NOT NULL DEFAULT 0,
    ADD COLUMN amount_refund_pending bigint NOT NULL DEFAULT 0,
    ADD CONSTRAINT payments_refunds_check CHECK (
        amount_refunded >= 0 AND amount_refund_pending >= 0
        AND amount_refunded + amount_refund_pending <= amount);

-- 'refunded': a succeeded payment whose refunds gave back all of it.
ALTER TABLE payments DROP CONSTRAINT payments_status_check;
ALTER TABLE payments ADD CONSTRAINT payments_status_check CHECK (status IN
    ('pending', 'processing', 'succeeded', 'failed', 'canceled', 'refunded'));
