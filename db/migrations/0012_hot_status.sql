-- 0012_hot_status: a payment's status changes without touching an index
-- (issue 10). PostgreSQL updates a row in place (a HOT update: no new index
-- entries) only when no indexed column changes, and a column in an index's
-- WHERE counts. payments_unsettled (WHERE status IN (...)) made both of a
-- settled payment's status changes write five index entries each, and the
-- search model's (tenant_id, status, seq) did the same for its rows.
--
-- The sweeper's outbox is now a table of its own: a row per payment not yet
-- final, written with the payment and deleted when it becomes final or is
-- canceled, in the same transaction. It stays small (the payments in
-- flight, and those dead-lettered until an operator replays them).
CREATE TABLE payment_outbox (
    payment_id text PRIMARY KEY,
    created_at timestamptz NOT NULL
);
-- The sweeper's order: oldest first.
CREATE INDEX payment_outbox_created ON payment_outbox (created_at);
INSERT INTO payment_outbox (payment_id, created_at)
SELECT id, created_at FROM payments WHERE status IN ('pending', 'processing');
DROP INDEX payments_unsettled;
-- Room on each page for the new version of a row whose status changes.
ALTER TABLE payments SET (fillfactor = 75);

-- The search model's status is a prefilter; the live status decides (see
-- db/functions/search.sql), so a status search walks the tenant's index
-- (tenant_id, seq) and tests the status on each row.
DROP INDEX payment_search_tenant_status_seq;
ALTER TABLE payment_search SET (fillfactor = 75);
