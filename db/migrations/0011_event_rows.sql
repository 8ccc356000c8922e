-- 0011_event_rows: an event as fs_batch() gathers it before the one INSERT at
-- the end of a group (db/functions/batch.sql): one value per event, appended
-- in one statement, instead of one array per column.
CREATE TYPE fs_event_row AS (
    tenant_id   text,
    account_id  text,
    account_seq bigint,
    type        text,
    payment_id  text,
    data        jsonb,
    request_id  text
);
