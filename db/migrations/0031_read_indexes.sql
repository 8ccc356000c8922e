-- 0031_read_indexes: the status and type filters of the lists read an index
-- of their own (issue 13). GET /v1/payments?status=... and
-- GET /v1/events?type=... walked the tenant's (tenant_id, seq) testing each
-- row, so a rare status or type on a large tenant read the tenant's whole
-- history (bounded only by the statement timeout); now each reads at most
-- a page (plus one) of index entries.
--
-- Payments: (tenant_id, status, seq) replaces payments_review ((tenant_id,
-- seq) WHERE status = 'requires_review'), which it serves too (the review
-- queue is GET /v1/payments?status=requires_review). The write cost: one
-- more index entry per payment row version. A status change was not a HOT
-- update already: PostgreSQL 15 counts a column in a partial index's WHERE
-- as indexed, so payments_review (0024_risk.sql) made every status change a
-- new row version with entries in every index of payments; this index
-- changes that in no way, and keeps the number of indexes at five.
CREATE INDEX payments_tenant_status_seq ON payments (tenant_id, status, seq);
DROP INDEX payments_review;

-- Events are only inserted: one more entry per event.
CREATE INDEX events_tenant_type_seq ON events (tenant_id, type, seq);
