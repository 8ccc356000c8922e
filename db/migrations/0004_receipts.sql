-- 0004_receipts: a receipt for every succeeded payment (issue 4).
--
-- The receipts feed reader (fs_receipts_prepare in db/functions/receipts.sql,
-- op receipts_prepare, run by the worker) makes a row here for each
-- payment.succeeded event, in the transaction that moves its feed cursor.
-- The worker then writes the document to the object store, off its event
-- loop, and marks the row stored (op receipts_stored). A row still unstored
-- is written again later, so a crash between the two steps loses nothing.
--
-- No foreign key to payments: the row is made from the payment's event, and
-- the check's KEY SHARE lock would make the feed reader wait behind API
-- groups that hold the payment's row.
CREATE TABLE receipts (
    payment_id text PRIMARY KEY,
    tenant_id  text NOT NULL,
    -- the human receipt number, gap-free per tenant: RCPT-00000001, ...
    number     text NOT NULL,
    -- where the document lives in the object store (FINSYS_OBJECTS_DIR)
    object_key text NOT NULL,
    -- the receipt's facts, as the worker turns them into the document; kept
    -- so that a lost object can be written again (stored_at = NULL)
    document   jsonb NOT NULL,
    -- of the stored object's bytes, checked by every read: a corrupted
    -- object is refused, never served
    sha256     text,
    size       bigint,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- when the document was last handed to a worker to write
    handed_at  timestamptz NOT NULL DEFAULT now(),
    stored_at  timestamptz,
    UNIQUE (tenant_id, number)
);
CREATE INDEX receipts_unstored ON receipts (handed_at) WHERE stored_at IS NULL;

-- The last receipt number of each tenant. Only the feed reader (one at a
-- time: its cursor is locked) numbers receipts, so this row is never
-- contended.
CREATE TABLE receipt_counters (
    tenant_id text PRIMARY KEY,
    last      bigint NOT NULL DEFAULT 0
);
