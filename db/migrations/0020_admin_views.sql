-- 0020_admin_views: what the admin console's read side (issue 11,
-- db/functions/admin_views.sql, docs/console.md) needs that the tables did
-- not have. Each addition says what it costs the write path.

-- A webhook delivery's attempts, one small object each ({"at","attempt",
-- "status","error","duration_ms"}), the latest FS_ADMIN_ATTEMPT_LOG_MAX
-- (src/core/limits.h) kept. Appended by fs_webhook_finish's one UPDATE that
-- already records the result: no index names the column, so that update
-- stays in place (HOT, 0017_webhook_due.sql). About 90 bytes a delivery on
-- the happy path (one attempt).
ALTER TABLE webhook_deliveries ADD COLUMN IF NOT EXISTS attempt_log jsonb NOT NULL DEFAULT '[]';

-- The dead webhook deliveries, for the console's dead-letter list: an index
-- on webhook_deliveries.status (even a partial one WHERE status = 'dead')
-- would make every result's update write new entries in all the table's
-- indexes (a column in an index or its WHERE defeats HOT). fs_webhook_finish
-- adds the row in the statement that makes the delivery dead (rare: a
-- receiver down for the whole retry period); the list shows a row only while
-- its delivery's status is still 'dead', so a replay need not delete it.
CREATE TABLE IF NOT EXISTS webhook_dead (
    delivery_seq bigint PRIMARY KEY,                 -- webhook_deliveries.seq
    tenant_id    text NOT NULL,
    dead_at      timestamptz NOT NULL
);
-- The list's order: the latest deaths first.
CREATE INDEX IF NOT EXISTS webhook_dead_at ON webhook_dead (dead_at, delivery_seq);
INSERT INTO webhook_dead (delivery_seq, tenant_id, dead_at)
SELECT seq, tenant_id, updated_at FROM webhook_deliveries WHERE status = 'dead'
ON CONFLICT DO NOTHING;

-- Time ranges of the event log and the journal (the overview's last 300 s;
-- a payment's events and journal entries, found by the instants its
-- transactions ran at: every row a transaction writes has its now()). Both
-- tables are insert-only in time order, so a BRIN index (a min/max per 16
-- pages) finds a range by reading a few blocks. Its cost on the write path
-- is next to nothing: an insert into a page range already summarized widens
-- its summary only when the value falls outside it, and new ranges are
-- summarized by vacuum (autosummarize), off the write path. A btree would be
-- one more entry for every event and every journal entry (3 to 5 per payment).
CREATE INDEX IF NOT EXISTS events_created_brin ON events
    USING brin (created_at) WITH (pages_per_range = 16, autosummarize = on);
CREATE INDEX IF NOT EXISTS journal_entries_created_brin ON journal_entries
    USING brin (created_at) WITH (pages_per_range = 16, autosummarize = on);

-- An account's journal newest first, by id (the order its entries were
-- applied in, under the account's row lock), with a keyset cursor: the old
-- index on account_id alone returns an account's entries in no useful order,
-- so a page of a busy account sorted all of them. It is replaced, not
-- joined: still one index entry per journal entry, 8 bytes wider (and no
-- longer deduplicated, so the index is larger on disk).
CREATE INDEX IF NOT EXISTS journal_entries_account_id ON journal_entries (account_id, id);
DROP INDEX IF EXISTS journal_entries_account;

-- Cross-tenant payment lists read the search model (payment_search), never
-- payments: its rows are written by the indexer, off the API's write path,
-- and its later updates (status) change no indexed column (still HOT). Two
-- more entries per indexed payment, paid by the indexer:
-- newest first across tenants (sort=created)
CREATE INDEX IF NOT EXISTS payment_search_seq ON payment_search (seq);
-- by amount across tenants (sort=amount, keyset on (amount, seq))
CREATE INDEX IF NOT EXISTS payment_search_amount_seq ON payment_search (amount, seq);

-- Accounts across tenants, newest first. seq never changes, so balance
-- updates stay HOT; one entry per account created (not on a payment's path).
CREATE INDEX IF NOT EXISTS accounts_seq ON accounts (seq);

-- API keys: an id to name a key by (key_...) and its revocation. The admin
-- write side (migration 0019) adds the same columns; IF NOT EXISTS makes
-- either order work.
ALTER TABLE api_keys ADD COLUMN IF NOT EXISTS id text;
ALTER TABLE api_keys ADD COLUMN IF NOT EXISTS revoked_at timestamptz;
CREATE INDEX IF NOT EXISTS api_keys_tenant ON api_keys (tenant_id);
