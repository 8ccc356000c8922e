-- 0002_events: the event log (issue 4). Every change a client may want to
-- hear about (a payment created, settled, failed, canceled; a refund's
-- outcome) is one row here, written by fs_batch() in the transaction that
-- makes the change, so an event exists exactly when its change committed.
--
-- The log feeds everything downstream of a payment: GET /v1/events, the
-- webhook deliveries, the receipts and the search index. Those read it as a
-- feed (fs_feed_take in db/functions/feed.sql) in commit order, using txid:
-- an event is handed out only once every transaction that could still write
-- an earlier one has ended, so a feed reader never skips a row that commits
-- late (a bigserial alone can: seq 7 may commit after seq 8 is read).

-- The last sequence number given to an account's events: events of one
-- account are numbered 1, 2, 3, ... with no gap, under the account's row lock.
ALTER TABLE accounts ADD COLUMN event_seq bigint NOT NULL DEFAULT 0;

CREATE TABLE events (
    seq         bigserial NOT NULL,
    -- 'evt_' || seq: the public id, derived so that it needs no index of its own
    id          text GENERATED ALWAYS AS ('evt_' || seq::text) STORED,
    txid        xid8 NOT NULL DEFAULT pg_current_xact_id(),
    tenant_id   text NOT NULL,
    -- the account whose sequence numbers the event: a payment's and its
    -- refunds' events belong to the payer (from_account)
    account_id  text NOT NULL,
    account_seq bigint NOT NULL,
    type        text NOT NULL,
    payment_id  text NOT NULL,
    -- the object as it was when the event happened (a payment, or a refund)
    data        jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_tenant_seq ON events (tenant_id, seq);
CREATE UNIQUE INDEX events_feed ON events (txid, seq);
CREATE UNIQUE INDEX events_account_seq ON events (account_id, account_seq);

-- Where each feed reader (the indexer, the receipts, the webhook fan-out)
-- has got to in the log: the last (txid, seq) it took.
CREATE TABLE feed_cursors (
    name       text PRIMARY KEY,
    txid       xid8 NOT NULL DEFAULT '0',
    seq        bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);
