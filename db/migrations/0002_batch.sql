-- 0002_batch: the write path. fs_batch() executes a group of API operations in
-- one transaction (one round trip, one commit) and returns one outcome per item.
--
-- Rules that keep neighbours independent and batches deadlock-free:
-- * No business outcome raises an error: every check is an IF that yields an
--   outcome, so one item's insufficient funds never aborts the others.
-- * Idempotency keys are claimed first, in (tenant, key) order, by one INSERT
--   ... ON CONFLICT DO NOTHING. A key held by a concurrent batch makes that
--   INSERT wait for it, after which the committed record is replayed.
-- * Then every account the batch changes is locked, in id order. Nothing
--   after that waits for a key or an account another batch could hold first.
-- Outcome names are mapped to HTTP status codes in one place:
-- src/http/outcome.c.

CREATE FUNCTION fs_ts(t timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;

CREATE FUNCTION fs_err(message text, param text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT json_build_object('message', message, 'param', param)::text
$$;

CREATE FUNCTION fs_account_json(a accounts) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', a.id, 'object', 'account', 'currency', a.currency, 'name', a.name,
        'type', a.type, 'status', a.status,
        'balance', json_build_object('available', a.available, 'pending', a.pending,
                                     'currency', a.currency),
        'metadata', a.metadata, 'created_at', fs_ts(a.created_at))
$$;

CREATE FUNCTION fs_payment_json(p payments) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', p.id, 'object', 'payment', 'from_account', p.from_account,
        'to_account', p.to_account, 'amount', p.amount, 'currency', p.currency,
        'description', p.description, 'metadata', p.metadata, 'status', p.status,
        'failure_code', p.failure_code, 'failure_message', p.failure_message,
        'created_at', fs_ts(p.created_at), 'updated_at', fs_ts(p.updated_at),
        'timeline', (SELECT coalesce(json_agg(json_build_object(
                                'status', e.status, 'created_at', fs_ts(e.created_at))
                            ORDER BY e.seq), '[]'::json)
                     FROM payment_events e WHERE e.payment_id = p.id))
$$;

-- A page of a list: items newest first, has_more when another page follows.
CREATE FUNCTION fs_list_json(data json, has_more boolean) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT json_build_object('object', 'list', 'data', coalesce(data, '[]'::json),
                             'has_more', has_more)::text
$$;

CREATE FUNCTION fs_batch(p_items jsonb)
RETURNS TABLE (o_idx int, o_outcome text, o_replayed boolean, o_payload text)
LANGUAGE plpgsql AS $$
DECLARE
    it        record;
    rec       record;
    j         jsonb;
    t         text;
    owned     int[];
    k_tenant  text[] := '{}';
    k_key     text[] := '{}';
    k_outcome text[] := '{}';
    k_payload text[] := '{}';
    a         accounts;
    dst       accounts;
    ext       accounts;
    pay       payments;
    amt       bigint;
    lim       int;
    after_seq bigint;
    n         bigint;
    data      json;
    more      boolean;
    o         text;
    p         text;
BEGIN
    -- 1. Claim idempotency keys in (tenant, key) order.
    WITH item AS (
        SELECT e.n::int AS n, k.tenant_id, e.j->>'idem' AS key,
               decode(e.j->>'fp', 'hex') AS fp
        FROM jsonb_array_elements(p_items) WITH ORDINALITY AS e(j, n)
        JOIN api_keys k ON k.key_hash = decode(e.j->>'auth', 'hex')
        WHERE e.j ? 'idem'
    ), first AS (
        SELECT DISTINCT ON (item.tenant_id, item.key) * FROM item
        ORDER BY item.tenant_id, item.key, item.n
    ), ins AS (
        INSERT INTO idempotency_keys AS ik (tenant_id, key, fingerprint)
        SELECT f.tenant_id, f.key, f.fp FROM first f ORDER BY f.tenant_id, f.key
        ON CONFLICT DO NOTHING
        RETURNING ik.tenant_id, ik.key
    )
    SELECT coalesce(array_agg(f.n), '{}') INTO owned
    FROM ins JOIN first f ON f.tenant_id = ins.tenant_id AND f.key = ins.key;

    -- 2. Lock every account the batch changes, in id order.
    PERFORM 1 FROM accounts x WHERE x.id IN (
        SELECT e.j->>'from' FROM jsonb_array_elements(p_items) e(j)
        WHERE e.j->>'op' = 'payment_create'
        UNION ALL
        SELECT e.j->>'account' FROM jsonb_array_elements(p_items) e(j)
        WHERE e.j->>'op' = 'deposit'
        UNION ALL
        SELECT c.id FROM jsonb_array_elements(p_items) e(j)
        JOIN accounts d ON d.id = e.j->>'account'
        JOIN accounts c ON c.tenant_id = d.tenant_id AND c.currency = d.currency
                       AND c.type = 'external'
        WHERE e.j->>'op' = 'deposit'
        UNION ALL
        SELECT py.from_account FROM jsonb_array_elements(p_items) e(j)
        JOIN payments py ON py.id = e.j->>'payment'
        WHERE e.j->>'op' = 'payment_cancel')
    ORDER BY x.id FOR UPDATE;

    -- 3. Each item in arrival order.
    FOR it IN
        SELECT e.n::int AS n, e.j, k.tenant_id
        FROM jsonb_array_elements(p_items) WITH ORDINALITY AS e(j, n)
        LEFT JOIN api_keys k ON k.key_hash = decode(e.j->>'auth', 'hex')
        ORDER BY e.n
    LOOP
        o_idx := it.n - 1;
        o_replayed := false;
        j := it.j;
        t := it.tenant_id;
        o := NULL;

        IF j->>'op' = 'ping' THEN
            o := 'ok'; p := '{}';
        ELSIF j->>'op' = 'purge' THEN
            DELETE FROM idempotency_keys WHERE ctid IN (
                SELECT ctid FROM idempotency_keys
                WHERE created_at < now() - make_interval(hours => (j->>'hours')::int)
                LIMIT (j->>'max')::int);
            GET DIAGNOSTICS n = ROW_COUNT;
            o := 'ok'; p := json_build_object('purged', n)::text;
        ELSIF t IS NULL THEN
            o := 'unauthorized'; p := fs_err('Invalid API key provided.', NULL);
        ELSIF j ? 'idem' AND NOT (it.n = ANY (owned)) THEN
            SELECT * INTO rec FROM idempotency_keys x WHERE x.tenant_id = t AND x.key = j->>'idem';
            IF NOT FOUND OR rec.outcome IS NULL THEN
                o := 'idempotency_key_in_use';
                p := fs_err('A request with this Idempotency-Key is still in progress; '
                            'retry later.', NULL);
            ELSIF rec.fingerprint <> decode(j->>'fp', 'hex') THEN
                o := 'idempotency_key_reuse';
                p := fs_err('This Idempotency-Key was used with a different request.', NULL);
            ELSE
                o := rec.outcome; p := rec.payload; o_replayed := true;
            END IF;
            o_outcome := o; o_payload := p;
            RETURN NEXT;
            CONTINUE;
        END IF;

        IF o IS NOT NULL THEN
            NULL;
        ELSIF j->>'op' = 'account_create' THEN
            INSERT INTO accounts (id, tenant_id, currency, name, type, metadata)
            VALUES (j->>'id', t, j->>'currency', j->>'name', j->>'type', j->'metadata')
            RETURNING * INTO a;
            o := 'created'; p := fs_account_json(a)::text;

        ELSIF j->>'op' = 'account_get' THEN
            SELECT * INTO a FROM accounts x WHERE x.id = j->>'id' AND x.tenant_id = t;
            IF NOT FOUND THEN
                o := 'not_found'; p := fs_err(format('No such account: %L', j->>'id'), 'id');
            ELSE
                o := 'ok'; p := fs_account_json(a)::text;
            END IF;

        ELSIF j->>'op' = 'account_list' THEN
            lim := (j->>'limit')::int;
            after_seq := NULL;
            IF j ? 'after' THEN
                SELECT x.seq INTO after_seq FROM accounts x
                WHERE x.id = j->>'after' AND x.tenant_id = t;
                IF NOT FOUND THEN
                    o := 'invalid_request';
                    p := fs_err(format('No such account: %L', j->>'after'), 'starting_after');
                END IF;
            END IF;
            IF o IS NULL THEN
                SELECT json_agg(fs_account_json(s.a) ORDER BY (s.a).seq DESC)
                           FILTER (WHERE s.rn <= lim),
                       coalesce(max(s.rn) > lim, false)
                INTO data, more
                FROM (SELECT x AS a, row_number() OVER (ORDER BY x.seq DESC) AS rn
                      FROM accounts x
                      WHERE x.tenant_id = t AND (after_seq IS NULL OR x.seq < after_seq)
                      ORDER BY x.seq DESC LIMIT lim + 1) s;
                o := 'ok'; p := fs_list_json(data, more);
            END IF;

        ELSIF j->>'op' = 'deposit' THEN
            amt := (j->>'amount')::bigint;
            SELECT * INTO a FROM accounts x WHERE x.id = j->>'account' AND x.tenant_id = t;
            IF NOT FOUND THEN
                o := 'not_found'; p := fs_err(format('No such account: %L', j->>'account'), 'id');
            ELSIF a.type = 'external' THEN
                o := 'invalid_request';
                p := fs_err('The external account is the system counterpart of deposits; '
                            'it cannot receive one.', 'id');
            ELSIF a.status <> 'active' THEN
                o := 'account_inactive';
                p := fs_err(format('Account %s is %s.', a.id, a.status), 'id');
            ELSE
                SELECT * INTO ext FROM accounts x
                WHERE x.tenant_id = t AND x.currency = a.currency AND x.type = 'external';
                IF a.available > 9223372036854775807 - amt - a.pending
                   OR ext.available < -9223372036854775807 + amt THEN
                    o := 'amount_too_large';
                    p := fs_err('This deposit would overflow the balance.', 'amount');
                ELSE
                    UPDATE accounts x SET available = x.available + amt
                    WHERE x.id = a.id RETURNING * INTO a;
                    UPDATE accounts x SET available = x.available - amt WHERE x.id = ext.id;
                    INSERT INTO deposits (id, tenant_id, account_id, amount, currency)
                    VALUES (j->>'id', t, a.id, amt, a.currency);
                    INSERT INTO journal_entries (account_id, bucket, amount, currency, ref_id)
                    VALUES (a.id, 'A', amt, a.currency, j->>'id'),
                           (ext.id, 'A', -amt, a.currency, j->>'id');
                    o := 'created';
                    p := json_build_object(
                        'id', j->>'id', 'object', 'deposit', 'account', a.id,
                        'amount', amt, 'currency', a.currency, 'created_at', fs_ts(now()),
                        'balance', json_build_object('available', a.available,
                                                     'pending', a.pending,
                                                     'currency', a.currency))::text;
                END IF;
            END IF;

        ELSIF j->>'op' = 'payment_create' THEN
            amt := (j->>'amount')::bigint;
            SELECT * INTO a FROM accounts x WHERE x.id = j->>'from' AND x.tenant_id = t;
            IF FOUND THEN
                SELECT * INTO dst FROM accounts x WHERE x.id = j->>'to' AND x.tenant_id = t;
            END IF;
            IF a.id IS NULL THEN
                o := 'not_found';
                p := fs_err(format('No such account: %L', j->>'from'), 'from_account');
            ELSIF dst.id IS NULL THEN
                o := 'not_found';
                p := fs_err(format('No such account: %L', j->>'to'), 'to_account');
            ELSIF a.type = 'external' OR dst.type = 'external' THEN
                o := 'invalid_request';
                p := fs_err('External accounts cannot take part in payments.',
                            CASE WHEN a.type = 'external' THEN 'from_account'
                                 ELSE 'to_account' END);
            ELSIF a.currency <> j->>'currency' OR dst.currency <> j->>'currency' THEN
                o := 'currency_mismatch';
                p := fs_err(format('Both accounts must hold %s: from_account holds %s, '
                                   'to_account holds %s.',
                                   j->>'currency', a.currency, dst.currency), 'currency');
            ELSIF a.status <> 'active' OR dst.status <> 'active' THEN
                o := 'account_inactive';
                p := fs_err(format('Account %s is %s.',
                                   CASE WHEN a.status <> 'active' THEN a.id ELSE dst.id END,
                                   CASE WHEN a.status <> 'active' THEN a.status
                                        ELSE dst.status END),
                            CASE WHEN a.status <> 'active' THEN 'from_account'
                                 ELSE 'to_account' END);
            ELSIF a.available < amt THEN
                o := 'insufficient_funds';
                p := fs_err(format('Account %s has insufficient available funds.', a.id),
                            'amount');
            ELSE
                UPDATE accounts x SET available = x.available - amt, pending = x.pending + amt
                WHERE x.id = a.id;
                INSERT INTO payments (id, tenant_id, from_account, to_account, amount,
                                      currency, description, metadata, status)
                VALUES (j->>'id', t, a.id, dst.id, amt, a.currency, j->>'description',
                        j->'metadata', 'pending')
                RETURNING * INTO pay;
                INSERT INTO journal_entries (account_id, bucket, amount, currency, ref_id)
                VALUES (a.id, 'A', -amt, a.currency, pay.id),
                       (a.id, 'P', amt, a.currency, pay.id);
                INSERT INTO payment_events (payment_id, status) VALUES (pay.id, 'pending');
                o := 'created'; p := fs_payment_json(pay)::text;
            END IF;
            a := NULL; dst := NULL;

        ELSIF j->>'op' = 'payment_get' THEN
            SELECT * INTO pay FROM payments x WHERE x.id = j->>'id' AND x.tenant_id = t;
            IF NOT FOUND THEN
                o := 'not_found'; p := fs_err(format('No such payment: %L', j->>'id'), 'id');
            ELSE
                o := 'ok'; p := fs_payment_json(pay)::text;
            END IF;

        ELSIF j->>'op' = 'payment_list' THEN
            lim := (j->>'limit')::int;
            after_seq := NULL;
            IF j ? 'after' THEN
                SELECT x.seq INTO after_seq FROM payments x
                WHERE x.id = j->>'after' AND x.tenant_id = t;
                IF NOT FOUND THEN
                    o := 'invalid_request';
                    p := fs_err(format('No such payment: %L', j->>'after'), 'starting_after');
                END IF;
            END IF;
            IF o IS NULL THEN
                SELECT json_agg(fs_payment_json(s.pay) ORDER BY (s.pay).seq DESC)
                           FILTER (WHERE s.rn <= lim),
                       coalesce(max(s.rn) > lim, false)
                INTO data, more
                FROM (SELECT x AS pay, row_number() OVER (ORDER BY x.seq DESC) AS rn
                      FROM payments x
                      WHERE x.tenant_id = t
                        AND (after_seq IS NULL OR x.seq < after_seq)
                        AND (NOT j ? 'status' OR x.status = j->>'status')
                        AND (NOT j ? 'account' OR x.from_account = j->>'account'
                             OR x.to_account = j->>'account')
                      ORDER BY x.seq DESC LIMIT lim + 1) s;
                o := 'ok'; p := fs_list_json(data, more);
            END IF;

        ELSIF j->>'op' = 'payment_cancel' THEN
            SELECT * INTO pay FROM payments x
            WHERE x.id = j->>'payment' AND x.tenant_id = t FOR UPDATE;
            IF NOT FOUND THEN
                o := 'not_found'; p := fs_err(format('No such payment: %L', j->>'payment'), 'id');
            ELSIF pay.status <> 'pending' THEN
                o := 'payment_not_cancelable';
                p := fs_err(format('Payment %s is %s; only a pending payment can be canceled.',
                                   pay.id, pay.status), 'id');
            ELSE
                UPDATE accounts x SET available = x.available + pay.amount,
                                      pending = x.pending - pay.amount
                WHERE x.id = pay.from_account;
                INSERT INTO journal_entries (account_id, bucket, amount, currency, ref_id)
                VALUES (pay.from_account, 'P', -pay.amount, pay.currency, pay.id),
                       (pay.from_account, 'A', pay.amount, pay.currency, pay.id);
                UPDATE payments x SET status = 'canceled', updated_at = now()
                WHERE x.id = pay.id RETURNING * INTO pay;
                INSERT INTO payment_events (payment_id, status) VALUES (pay.id, 'canceled');
                o := 'ok'; p := fs_payment_json(pay)::text;
            END IF;

        ELSE
            RAISE EXCEPTION 'fs_batch: unknown op %', j->>'op';
        END IF;

        IF j ? 'idem' AND o <> 'unauthorized' THEN
            k_tenant := k_tenant || t;
            k_key := k_key || (j->>'idem');
            k_outcome := k_outcome || o;
            k_payload := k_payload || p;
        END IF;
        o_outcome := o; o_payload := p;
        RETURN NEXT;
    END LOOP;

    -- 4. Record every claimed key's outcome in the same transaction as its effect.
    UPDATE idempotency_keys x SET outcome = u.o, payload = u.p
    FROM unnest(k_tenant, k_key, k_outcome, k_payload) AS u(t, k, o, p)
    WHERE x.tenant_id = u.t AND x.key = u.k;
END
$$;
