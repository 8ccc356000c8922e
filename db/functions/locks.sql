-- locks.sql: the PostgreSQL side of the Redis locks (0009_locks.sql,
-- src/lock/lock.h): the fencing check, the singleton jobs' runs, and the
-- operators' balance operations that run under an account's lock.
--
-- fs_batch() calls these for its ops job_start, job_finish, job_run (internal,
-- no API key) and account_adjust, account_freeze, account_unfreeze,
-- account_close (admin keys). Like fs_batch, nothing here raises for a
-- business outcome: each returns an outcome o and a payload p.

-- Records that the holder of token went through for resource, unless a newer
-- token already did: false then, and the caller must not do its work. Called
-- inside the protected work's transaction, after its row locks; the fencing
-- row stays locked to the commit, so a newer holder's fence waits for this
-- transaction and then sees its token. The same token passes again (<=): one
-- holder fences each of its transactions (a job's start and its finish).
CREATE OR REPLACE FUNCTION fs_fence(p_resource text, p_token bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO fencing AS f (resource, token) VALUES (p_resource, p_token)
    ON CONFLICT (resource) DO UPDATE SET token = EXCLUDED.token, updated_at = now()
    WHERE f.token <= EXCLUDED.token;
    RETURN FOUND;
END
$$;

-- The payload of 'lock_lost': an error, and in "fence" the newest token, so
-- that the holder can raise a Redis counter that went back (a failover to a
-- replica that missed increments, two Redis for one database) above it.
CREATE OR REPLACE FUNCTION fs_lock_lost_err(p_resource text, p_token bigint) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT (fs_err(format('The lock on %s was lost: fencing token %s is older than %s, '
                          'which a newer holder used. Nothing was changed; retry.',
                          p_resource, p_token, f.token), NULL)::jsonb
            || jsonb_build_object('fence', f.token))::text
    FROM fencing f WHERE f.resource = p_resource
$$;

-- A singleton job's work, done once its fence passed. args holds the job's
-- parameters.
CREATE OR REPLACE FUNCTION fs_job_work(p_job text, args jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    n bigint := 0;
BEGIN
    IF p_job = 'purge' THEN
        -- Idempotency keys older than the TTL, oldest first, at most max.
        -- The advisory lock is the one of fs_batch's op 'purge' (the
        -- fallback of a server that cannot reach Redis): the two never
        -- delete at once. Its holder's transaction is short.
        PERFORM pg_advisory_xact_lock(727100102);
        DELETE FROM idempotency_keys WHERE ctid = ANY (ARRAY(
            SELECT ctid FROM idempotency_keys
            WHERE created_at < now() - make_interval(hours => (args->>'hours')::int)
            ORDER BY created_at LIMIT (args->>'max')::int));
        GET DIAGNOSTICS n = ROW_COUNT;
        RETURN jsonb_build_object('purged', n);
    ELSIF p_job = 'archive' THEN
        -- A day of the event log written to the object store (archive.sql).
        RETURN fs_archive_record(args);
    ELSIF p_job = 'archive_drop' THEN
        -- Retention: an archived, checked day's events dropped (archive.sql).
        RETURN fs_archive_drop(args);
    ELSIF p_job = 'reconcile' THEN
        -- The day's provider report against the ledger (reconcile.sql).
        RETURN fs_reconcile((args->>'date')::date, args->'lines', (args->>'max')::int,
                            (args->>'run')::bigint, (args->>'token')::bigint);
    END IF;
    RAISE EXCEPTION 'fs_job_work: unknown job %', p_job;
END
$$;

-- The internal job ops of fs_batch:
--   job_start  {job, resource, fence, holder}: a run begins (its row, started_at)
--   job_finish {run, fence, args}: the run's work and its end, fenced again
--   job_run    {job, resource, fence, holder, args}: both in one transaction
CREATE OR REPLACE FUNCTION fs_job_op(j jsonb, OUT o text, OUT p text)
LANGUAGE plpgsql AS $$
DECLARE
    run job_runs;
    tok bigint := (j->>'fence')::bigint;
BEGIN
    IF j->>'op' IN ('job_start', 'job_run') THEN
        IF NOT fs_fence(j->>'resource', tok) THEN
            o := 'lock_lost'; p := fs_lock_lost_err(j->>'resource', tok);
            RETURN;
        END IF;
        INSERT INTO job_runs (job, resource, token, holder, started_at)
        VALUES (j->>'job', j->>'resource', tok, j->>'holder', clock_timestamp())
        RETURNING * INTO run;
        IF j->>'op' = 'job_start' THEN
            o := 'ok'; p := json_build_object('run', run.id, 'token', tok)::text;
            RETURN;
        END IF;
    ELSE
        SELECT * INTO run FROM job_runs y WHERE y.id = (j->>'run')::bigint FOR UPDATE;
        IF NOT FOUND OR run.token <> tok OR run.outcome <> 'running' THEN
            o := 'not_found'; p := fs_err(format('No running job run %s with token %s.',
                                                 j->>'run', tok), 'run');
            RETURN;
        END IF;
        IF NOT fs_fence(run.resource, tok) THEN
            UPDATE job_runs y SET outcome = 'lock_lost', finished_at = clock_timestamp()
            WHERE y.id = run.id;
            o := 'lock_lost'; p := fs_lock_lost_err(run.resource, tok);
            RETURN;
        END IF;
    END IF;
    UPDATE job_runs y SET outcome = 'ok',
                          result = fs_job_work(run.job, coalesce(j->'args', '{}')
                                               || jsonb_build_object('run', run.id, 'token', tok)),
                          finished_at = clock_timestamp()
    WHERE y.id = run.id RETURNING * INTO run;
    o := 'ok';
    p := json_build_object('run', run.id, 'token', tok, 'result', run.result)::text;
END
$$;

CREATE OR REPLACE FUNCTION fs_adjustment_json(x adjustments, a accounts) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', x.id, 'object', 'adjustment', 'account', x.account_id, 'amount', x.amount,
        'currency', x.currency, 'reason', x.reason, 'fencing_token', x.fence,
        'balance', json_build_object('available', a.available, 'pending', a.pending,
                                     'currency', a.currency),
        'created_at', fs_ts(x.created_at))
$$;

-- The operators' balance operations (admin keys; the server holds the Redis
-- lock lock:acct:<id> and sends its fencing token as "fence"). fs_batch runs
-- such an item alone in its transaction: it locks the account (and, for an
-- adjustment, the tenant's external account) in id order, fences, then
-- decides, so the final checks (a close's zero balance, an adjustment's
-- floor) are made under the row locks every payment also takes. changed:
-- the accounts it wrote (a JSON array, null for none), which fs_batch
-- reports with the group's own so that the caches (src/cache) drop their
-- copies, as for every other writer of an account (issue 13).
--
-- Before 0028 it had no "changed": a function's OUT parameters cannot be
-- replaced in place, so that older one goes first (once).
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_proc pr
               WHERE pr.proname = 'fs_account_admin'
                 AND NOT ('changed' = ANY (coalesce(pr.proargnames, '{}')))) THEN
        DROP FUNCTION fs_account_admin(jsonb);
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION fs_account_admin(j jsonb, OUT o text, OUT p text, OUT changed text)
LANGUAGE plpgsql AS $$
DECLARE
    a   accounts;
    ext accounts;
    x   adjustments;
    amt bigint;
    tok bigint := (j->>'fence')::bigint;
    res text := 'acct:' || (j->>'account');
    before jsonb;
BEGIN
    PERFORM 1 FROM accounts y
    WHERE y.id = ANY (ARRAY(
        SELECT j->>'account'
        UNION ALL
        SELECT c.id FROM accounts dd
        JOIN accounts c ON c.tenant_id = dd.tenant_id AND c.currency = dd.currency
                       AND c.type = 'external'
        WHERE dd.id = j->>'account' AND j->>'op' = 'account_adjust'))
    ORDER BY y.id FOR UPDATE;
    SELECT * INTO a FROM accounts y WHERE y.id = j->>'account';
    IF NOT FOUND THEN
        o := 'not_found'; p := fs_err(format('No such account: %L', j->>'account'), 'id');
        RETURN;
    END IF;
    IF NOT fs_fence(res, tok) THEN
        o := 'lock_lost'; p := fs_lock_lost_err(res, tok);
        RETURN;
    END IF;
    before := fs_account_json(a)::jsonb;

    IF j->>'op' IN ('account_freeze', 'account_unfreeze') THEN
        IF a.status = 'closed' THEN
            o := 'account_inactive';
            p := fs_err(format('Account %s is closed; a closed account stays closed.', a.id),
                        'id');
        ELSIF a.type = 'external' THEN
            o := 'invalid_request';
            p := fs_err('The external account is the system counterpart of deposits; it '
                        'cannot be frozen.', 'id');
        ELSE
            UPDATE accounts y
            SET status = CASE WHEN j->>'op' = 'account_freeze' THEN 'frozen' ELSE 'active' END
            WHERE y.id = a.id RETURNING * INTO a;
            o := 'ok'; p := fs_account_json(a)::text;
            changed := json_build_array(a.id)::text;
        END IF;

    ELSIF j->>'op' = 'account_close' THEN
        IF a.type = 'external' THEN
            o := 'invalid_request';
            p := fs_err('The external account is the system counterpart of deposits; it '
                        'cannot be closed.', 'id');
        ELSIF a.status = 'closed' THEN
            o := 'ok'; p := fs_account_json(a)::text;
        ELSIF a.available <> 0 OR a.pending <> 0 THEN
            o := 'account_not_empty';
            p := fs_err(format('Account %s holds %s available and %s pending %s; only an '
                               'account with a zero balance can be closed.',
                               a.id, a.available, a.pending, a.currency), 'id');
        ELSIF EXISTS (SELECT 1 FROM payments y
                      WHERE y.to_account = a.id AND y.status IN ('pending', 'processing'))
              OR EXISTS (SELECT 1 FROM refunds r JOIN payments y ON y.id = r.payment_id
                         WHERE y.from_account = a.id
                           AND r.status IN ('pending', 'processing')) THEN
            -- Money on its way in: a payment to it, or a refund back to it,
            -- would be credited to a closed account when it settles.
            o := 'account_not_empty';
            p := fs_err(format('Account %s has a payment or a refund on its way to it; close '
                               'it once they have settled.', a.id), 'id');
        ELSE
            UPDATE accounts y SET status = 'closed' WHERE y.id = a.id RETURNING * INTO a;
            o := 'ok'; p := fs_account_json(a)::text;
            changed := json_build_array(a.id)::text;
        END IF;

    ELSIF j->>'op' = 'account_adjust' THEN
        amt := (j->>'amount')::bigint;
        SELECT * INTO ext FROM accounts y
        WHERE y.tenant_id = a.tenant_id AND y.currency = a.currency AND y.type = 'external';
        IF a.type = 'external' THEN
            o := 'invalid_request';
            p := fs_err('The external account is the counterpart of adjustments; adjust a '
                        'user or business account.', 'id');
        ELSIF a.status = 'closed' THEN
            o := 'account_inactive'; p := fs_err(format('Account %s is closed.', a.id), 'id');
        ELSIF a.available::numeric + amt < 0 THEN
            o := 'insufficient_funds';
            p := fs_err(format('Account %s has %s available; an adjustment of %s would take '
                               'it below zero.', a.id, a.available, amt), 'amount');
        ELSIF a.available::numeric + a.pending + amt > 9223372036854775807
              OR ext.available::numeric - amt < -9223372036854775807
              OR ext.available::numeric - amt > 9223372036854775807 THEN
            o := 'amount_too_large';
            p := fs_err('This adjustment would overflow a balance.', 'amount');
        ELSE
            UPDATE accounts y SET available = y.available + amt WHERE y.id = a.id
            RETURNING * INTO a;
            UPDATE accounts y SET available = y.available - amt WHERE y.id = ext.id;
            INSERT INTO adjustments (id, tenant_id, account_id, amount, currency, reason, fence)
            VALUES (j->>'id', a.tenant_id, a.id, amt, a.currency, j->>'reason', tok)
            RETURNING * INTO x;
            INSERT INTO journal_entries (account_id, bucket, amount, currency, ref_id)
            VALUES (a.id, 'A', amt, a.currency, x.id), (ext.id, 'A', -amt, a.currency, x.id);
            o := 'created'; p := fs_adjustment_json(x, a)::text;
            changed := json_build_array(a.id, ext.id)::text;
        END IF;
    ELSE
        RAISE EXCEPTION 'fs_account_admin: unknown op %', j->>'op';
    END IF;
    -- The audit row (db/functions/admin.sql), in this transaction: every
    -- admin request carries its actor (a staff member or an admin key).
    IF j ? 'actor' AND o IN ('ok', 'created') THEN
        PERFORM fs_audit(j, replace(j->>'op', '_', '.'), a.id, before,
                         CASE WHEN o = 'created' THEN p::jsonb
                              ELSE fs_account_json(a)::jsonb END);
    END IF;
END
$$;
