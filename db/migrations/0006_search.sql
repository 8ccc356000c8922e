-- 0006_search: the search read model (issue 4). GET /v1/payments/search reads
-- payment_search, which the indexer (fs_index_run in db/functions/search.sql,
-- driven by src/search on the worker's loop) keeps from the event log's feed
-- 'indexer'. It is a read model: payments stays the source of truth, results
-- are rendered from the live payments row, and a row here may lag its payment
-- by the indexing lag (measured in tests/integration/test_search.py).
--
-- What is searched:
-- * tsv: full text over the description and every metadata value, with the
--   'simple' configuration (no stemming, no stop words: references, names and
--   codes in any language match as written, lower-cased).
-- * refs: the payment id and every metadata value, space-separated, for
--   trigram matching: a fragment of an order number or invoice reference
--   ("INV-2024-00", "2024-0017") finds it where full text (whole words) would
--   not.
-- * the filters: status, amount range, time range, account (payer or payee),
--   currency; always within one tenant.

-- Trusted in PostgreSQL 15: any user with CREATE on the database may add it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE payment_search (
    payment_id       text PRIMARY KEY,
    tenant_id        text NOT NULL,
    -- the payment's seq: newest first, and the cursor of pagination
    seq              bigint NOT NULL,
    from_account     text NOT NULL,
    to_account       text NOT NULL,
    amount           bigint NOT NULL,
    currency         text NOT NULL,
    -- as of the last event applied (it can lag the live row; see search.sql)
    status           text NOT NULL,
    created_at       timestamptz NOT NULL,
    description      text,
    refs             text NOT NULL,
    tsv              tsvector NOT NULL,
    -- the last event applied: when it happened and when the indexer applied
    -- it; the difference is the indexing lag
    event_created_at timestamptz NOT NULL,
    indexed_at       timestamptz NOT NULL
);
-- Newest first within a tenant: the walk of a search without text, and the
-- order every search returns.
CREATE INDEX payment_search_tenant_seq ON payment_search (tenant_id, seq);
-- A status filter on a large tenant walks only that status's rows.
CREATE INDEX payment_search_tenant_status_seq ON payment_search (tenant_id, status, seq);
-- The payer's and the payee's payments (account=).
CREATE INDEX payment_search_from_seq ON payment_search (from_account, seq);
CREATE INDEX payment_search_to_seq ON payment_search (to_account, seq);
-- Amount and time ranges: without them a selective range walks the whole
-- tenant (70 ms over a tenant of 20,000 rows under EXPLAIN ANALYZE; 0.3 ms
-- with). Currency alone needs none: a tenant's payments hold few currencies.
CREATE INDEX payment_search_tenant_amount ON payment_search (tenant_id, amount);
CREATE INDEX payment_search_tenant_created ON payment_search (tenant_id, created_at);
CREATE INDEX payment_search_tsv ON payment_search USING gin (tsv);
CREATE INDEX payment_search_refs ON payment_search USING gin (refs gin_trgm_ops);
