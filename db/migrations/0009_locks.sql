-- 0009_locks: fencing tokens of the Redis locks, the log of singleton jobs,
-- and operators' balance adjustments (src/lock, db/functions/locks.sql).
--
-- A Redis lock (lock:<resource>) is held by whoever set it, for a lease; each
-- acquisition also takes the next number of the counter fence:<resource>, its
-- fencing token. Work done under the lock calls fs_fence(resource, token) in
-- its own transaction: the row here keeps the highest token that went
-- through, and a token below it is refused (the work yields 'lock_lost'). So
-- a holder that paused past its lease (GC, SIGSTOP, a slow disk) and woke up
-- after another took the lock cannot commit with its old token, whatever
-- Redis says or forgot.
CREATE TABLE fencing (
    resource   text PRIMARY KEY,
    token      bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- One row per run of a singleton job (finsys job, the server's purge).
-- started_at and finished_at are taken after the fence, inside the
-- transactions that passed it, so runs that both finished 'ok' never
-- overlap: the later one's start waited for the earlier one's fencing row.
CREATE TABLE job_runs (
    id          bigserial PRIMARY KEY,
    job         text NOT NULL,
    resource    text NOT NULL,
    token       bigint NOT NULL,
    holder      text NOT NULL,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz,
    outcome     text NOT NULL DEFAULT 'running'
                CHECK (outcome IN ('running', 'ok', 'lock_lost')),
    result      jsonb
);
CREATE INDEX job_runs_resource ON job_runs (resource, token);

-- An operator's adjustment of a balance (POST /admin/api/accounts/{id}/
-- adjustments): journaled against the tenant's external account, like a
-- deposit, with ref_id = id. amount is signed.
CREATE TABLE adjustments (
    id         text PRIMARY KEY,
    tenant_id  text NOT NULL REFERENCES tenants (id),
    account_id text NOT NULL REFERENCES accounts (id),
    amount     bigint NOT NULL CHECK (amount <> 0),
    currency   text NOT NULL REFERENCES currencies (code),
    reason     text NOT NULL,
    fence      bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX adjustments_account ON adjustments (account_id, created_at);
