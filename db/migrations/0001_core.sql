-- 0001_core: tenants, API keys, accounts, the double-entry journal, deposits,
-- payments with their timeline, and idempotency records.
--
-- Money is bigint minor units with an ISO 4217 code; never numeric or float.
-- Every movement of money is a set of journal_entries that sums to zero, and an
-- account's available/pending balances always equal the sum of its entries in
-- the matching bucket (the integration tests check this after concurrent load).
--
-- Rows of the write path (payments, payment_events, journal_entries) carry no
-- foreign keys to tenants, currencies and accounts: fs_batch() is their only
-- writer, and it has locked and checked every account it names in the same
-- transaction. Foreign-key triggers cost a quarter of a payment's database
-- time (measured with perf; docs/architecture.md). payments keeps its two
-- account references, the ones a bug could get wrong.

CREATE TABLE currencies (
    code     text PRIMARY KEY CHECK (code ~ '^[A-Z]{3}$'),
    exponent smallint NOT NULL CHECK (exponent BETWEEN 0 AND 4)
);

-- Keep in step with src/money/money.c (a unit test compares both lists).
INSERT INTO currencies (code, exponent) VALUES
    ('AUD', 2), ('BHD', 3), ('CAD', 2), ('CHF', 2), ('EUR', 2),
    ('GBP', 2), ('JPY', 0), ('KRW', 0), ('SEK', 2), ('USD', 2);

CREATE TABLE tenants (
    id         text PRIMARY KEY,
    name       text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Keys are stored only as a SHA-256 hash; the key itself is shown once.
CREATE TABLE api_keys (
    key_hash   bytea PRIMARY KEY,
    tenant_id  text NOT NULL REFERENCES tenants (id),
    prefix     text NOT NULL,
    is_admin   boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE accounts (
    seq        bigserial NOT NULL,
    id         text PRIMARY KEY,
    tenant_id  text NOT NULL REFERENCES tenants (id),
    currency   text NOT NULL REFERENCES currencies (code),
    name       text,
    type       text NOT NULL CHECK (type IN ('user', 'business', 'external')),
    status     text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'frozen', 'closed')),
    available  bigint NOT NULL DEFAULT 0,
    pending    bigint NOT NULL DEFAULT 0 CHECK (pending >= 0),
    metadata   jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    -- Only the external (counterpart) account may go below zero.
    CHECK (type = 'external' OR available >= 0)
) WITH (fillfactor = 50); -- room for HOT updates: balances change, no index does
CREATE INDEX accounts_tenant_seq ON accounts (tenant_id, seq);
CREATE UNIQUE INDEX accounts_external ON accounts (tenant_id, currency) WHERE type = 'external';

CREATE TABLE payments (
    seq             bigserial NOT NULL,
    id              text PRIMARY KEY,
    tenant_id       text NOT NULL,
    from_account    text NOT NULL REFERENCES accounts (id),
    to_account      text NOT NULL REFERENCES accounts (id),
    amount          bigint NOT NULL CHECK (amount > 0),
    currency        text NOT NULL,
    description     text,
    metadata        jsonb NOT NULL DEFAULT '{}',
    status          text NOT NULL CHECK (status IN
                        ('pending', 'processing', 'succeeded', 'failed', 'canceled')),
    failure_code    text,
    failure_message text,
    -- Set when the worker gave up and dead-lettered its message: the sweeper
    -- leaves such a payment to an operator's replay.
    dead_lettered_at timestamptz,
    -- Calls to the provider so far (settle_claim counts them): the worker
    -- dead-letters after FINSYS_WORKER_MAX_ATTEMPTS of them, whatever else
    -- (the breaker open, the database away) made it put the message back.
    settle_attempts integer NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (from_account <> to_account)
);
CREATE INDEX payments_tenant_seq ON payments (tenant_id, seq);
CREATE INDEX payments_from_seq ON payments (from_account, seq);
CREATE INDEX payments_to_seq ON payments (to_account, seq);
-- The outbox: payments not yet final, oldest first, for the sweeper that
-- re-publishes those the broker lost (issue 3).
CREATE INDEX payments_unsettled ON payments (created_at)
    WHERE status IN ('pending', 'processing');

-- A payment's timeline: its creation (status pending, at created_at, read
-- from the payment row) and then one row per later status change.
CREATE TABLE payment_events (
    payment_id text NOT NULL,
    seq        bigserial NOT NULL,
    status     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (payment_id, seq)
);

CREATE TABLE deposits (
    id         text PRIMARY KEY,
    tenant_id  text NOT NULL REFERENCES tenants (id),
    account_id text NOT NULL REFERENCES accounts (id),
    amount     bigint NOT NULL CHECK (amount > 0),
    currency   text NOT NULL REFERENCES currencies (code),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- bucket 'A' is the available balance, 'P' the pending (held) balance.
-- ref_id names the deposit or payment that caused the movement.
CREATE TABLE journal_entries (
    id         bigserial PRIMARY KEY,
    account_id text NOT NULL,
    bucket     "char" NOT NULL CHECK (bucket IN ('A', 'P')),
    amount     bigint NOT NULL CHECK (amount <> 0),
    currency   text NOT NULL,
    ref_id     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX journal_entries_account ON journal_entries (account_id);

-- An idempotency record commits with the effect it records. outcome is NULL
-- only inside the transaction that claimed the key.
CREATE TABLE idempotency_keys (
    tenant_id   text NOT NULL,
    key         text NOT NULL,
    fingerprint bytea NOT NULL,
    outcome     text,
    payload     text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, key)
) WITH (fillfactor = 70); -- room for the HOT update that records the outcome
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
