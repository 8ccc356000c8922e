-- 0017_webhook_due: a delivery's lease and result change no index (issue 10),
-- as 0012_hot_status did for payments. PostgreSQL updates a row in place (a
-- HOT update: no new index entries) only when no indexed column changes, and
-- a column in an index's WHERE counts: webhook_deliveries_due
-- (next_attempt_at) WHERE status = 'pending' made every claim and every
-- result write a new entry in all four of the table's indexes. Its other
-- indexes (seq, id derived from seq, (endpoint_id, event_seq)) name columns
-- that never change.
--
-- The sweeper's list is now a table of its own: a row per pending delivery,
-- written with the delivery (the fan-out) and deleted when it becomes final
-- (delivered, dead, canceled), in the same statement. Its due_at is never
-- later than the delivery's next_attempt_at, so the sweeper finds every
-- delivery due: a failure's back-off and the sweeper's republishing set it
-- (they may move the due time earlier); a lease only moves the due time
-- later, so a claim leaves the row alone and the sweeper, when it meets a
-- row whose delivery is not due yet, sets its due_at then. The happy path
-- (leased by the fan-out or claimed, then delivered) writes the row once and
-- deletes it once. The table holds the deliveries in flight or waiting for a
-- retry.
CREATE TABLE webhook_due (
    delivery_seq bigint PRIMARY KEY,                 -- webhook_deliveries.seq
    due_at       timestamptz NOT NULL
);
-- The sweeper's walk: by due time.
CREATE INDEX webhook_due_at ON webhook_due (due_at);
INSERT INTO webhook_due (delivery_seq, due_at)
SELECT seq, next_attempt_at FROM webhook_deliveries WHERE status = 'pending';
DROP INDEX webhook_deliveries_due;
-- Room on each page for the new versions of its rows: a delivery is updated
-- once or twice (a claim, the result) soon after it is inserted, and one
-- webhook_finish records the results of neighbouring deliveries, most of a
-- page's rows in one transaction, whose old versions cannot be pruned until
-- it ends: each needs room for its new version then. Measured with
-- bench/webhook_hot.sh (20,000 deliveries, 256 results a finish): 31% of the
-- finish's updates were HOT at fillfactor 75, 60% at 60, 91% at 50; at 50 the
-- table ends no bigger than before with its updates not HOT (their new
-- versions went to new pages) and its indexes a third smaller.
ALTER TABLE webhook_deliveries SET (fillfactor = 50);

-- The foreign key to webhook_endpoints goes, as the payments' did
-- (0015_payment_fks): the fan-out inserts a delivery only for an endpoint it
-- has just read from webhook_endpoints in the same statement, and endpoints
-- are never deleted (deleting one sets deleted_at; the row stays for its
-- deliveries' sake), so the check could never fail; it was a trigger, an
-- index lookup and a KEY SHARE lock of the endpoint's row per delivery.
ALTER TABLE webhook_deliveries DROP CONSTRAINT webhook_deliveries_endpoint_id_fkey;
