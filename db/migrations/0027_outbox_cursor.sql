-- 0027_outbox_cursor: the settlement sweeper walks its outboxes page after
-- page from a cursor, the last (created_at, id) it took (issue 13), rather
-- than taking the oldest 1,000 rows each time: after a broker outage the
-- rows waiting behind the first page were left for the next tick, 10 s on,
-- and rows that could not settle held the first page for good. Each index
-- now ends with the id, so a page is one index range from the cursor in the
-- sweeper's order (created_at, id); many payments of one batch share their
-- created_at. The names stay: the index does what it did, and more.
DROP INDEX payment_outbox_created;
CREATE INDEX payment_outbox_created ON payment_outbox (created_at, payment_id);
DROP INDEX refunds_unsettled;
CREATE INDEX refunds_unsettled ON refunds (created_at, id)
    WHERE status IN ('pending', 'processing');
