-- webhooks.sql: webhook endpoints and deliveries (0005_webhooks.sql), the
-- operations fs_batch() hands over to these functions:
--
--   fs_webhook_api(item, tenant)   the API's: webhook_endpoint_create, _get,
--                                  _list and _delete, for the key's tenant
--   fs_webhook_internal(item)      the notifier's (no API key): webhook_fanout,
--                                  webhook_claim, webhook_finish (many results
--                                  at once), webhook_sweep
--
-- Both return an outcome and a payload like fs_batch's items, and never raise
-- for a business reason. Delivery rows are locked one at a time by a claim and
-- set-wise by a finish, after everything fs_batch locked before them.

-- An endpoint as the API shows it, never with its secret: the database
-- holds it sealed (0029_webhook_secret_sealed.sql), and the server adds it
-- in clear to the creation's first answer only, so no stored answer (the
-- idempotency record, a cached replay) holds it. with_secret: unused, kept
-- for the function's callers.
CREATE OR REPLACE FUNCTION fs_webhook_endpoint_json(w webhook_endpoints, with_secret boolean)
RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', w.id, 'object', 'webhook_endpoint', 'url', w.url, 'events', to_jsonb(w.events),
        'created_at', fs_ts(w.created_at))::json
$$;

CREATE OR REPLACE FUNCTION fs_webhook_api(j jsonb, t text, OUT o text, OUT p text)
LANGUAGE plpgsql
SET enable_seqscan = off
AS $$
DECLARE
    w         webhook_endpoints;
    n         bigint;
    lim       int;
    after_seq bigint;
    data      json;
    more      boolean;
BEGIN
    IF j->>'op' = 'webhook_endpoint_create' THEN
        -- The count and the insert under one lock per tenant, so that two
        -- creations at once cannot both take the last place.
        PERFORM pg_advisory_xact_lock(727100105, hashtext(t));
        SELECT count(*) INTO n FROM webhook_endpoints y
        WHERE y.tenant_id = t AND y.deleted_at IS NULL;
        IF n >= (j->>'max')::int THEN
            o := 'invalid_request';
            p := fs_err(format('A tenant may have at most %s webhook endpoints; delete one '
                               'first.', j->>'max'), NULL);
            RETURN;
        END IF;
        -- The secret sealed by the server (FINSYS_SECRETS_KEY); never in clear.
        INSERT INTO webhook_endpoints (id, tenant_id, url, events, secret_sealed)
        VALUES (j->>'id', t, j->>'url',
                ARRAY(SELECT jsonb_array_elements_text(j->'events')), j->>'secret_sealed')
        RETURNING * INTO w;
        o := 'created'; p := fs_webhook_endpoint_json(w, true)::text;

    ELSIF j->>'op' IN ('webhook_endpoint_get', 'webhook_endpoint_delete') THEN
        SELECT * INTO w FROM webhook_endpoints y
        WHERE y.id = j->>'id' AND y.tenant_id = t AND y.deleted_at IS NULL FOR UPDATE;
        IF NOT FOUND THEN
            o := 'not_found'; p := fs_err(format('No such webhook endpoint: %L', j->>'id'), 'id');
        ELSIF j->>'op' = 'webhook_endpoint_get' THEN
            o := 'ok'; p := fs_webhook_endpoint_json(w, false)::text;
        ELSE
            UPDATE webhook_endpoints y SET deleted_at = now() WHERE y.id = w.id;
            o := 'ok';
            p := json_build_object('id', w.id, 'object', 'webhook_endpoint',
                                   'deleted', true)::text;
        END IF;

    ELSIF j->>'op' = 'webhook_endpoint_list' THEN
        lim := (j->>'limit')::int;
        after_seq := 9223372036854775807;
        IF j ? 'after' THEN
            SELECT y.seq INTO after_seq FROM webhook_endpoints y
            WHERE y.id = j->>'after' AND y.tenant_id = t AND y.deleted_at IS NULL;
            IF NOT FOUND THEN
                o := 'invalid_request';
                p := fs_err(format('No such webhook endpoint: %L', j->>'after'),
                            'starting_after');
                RETURN;
            END IF;
        END IF;
        SELECT json_agg(fs_webhook_endpoint_json(s.w, false) ORDER BY (s.w).seq DESC)
                   FILTER (WHERE s.rn <= lim),
               coalesce(max(s.rn) > lim, false)
        INTO data, more
        FROM (SELECT y AS w, row_number() OVER (ORDER BY y.seq DESC) AS rn
              FROM webhook_endpoints y
              WHERE y.tenant_id = t AND y.deleted_at IS NULL AND y.seq < after_seq
              ORDER BY y.seq DESC LIMIT lim + 1) s;
        o := 'ok'; p := fs_list_json(data, more);

    ELSE
        RAISE EXCEPTION 'fs_webhook_api: unknown op %', j->>'op';
    END IF;
END
$$;

-- The fan-out: the next events of the feed 'webhooks' (at most `max`), and a
-- pending delivery for each live endpoint of the event's tenant that
-- subscribed to its type (or to '*') and existed when the event happened,
-- with its row in the sweeper's list (webhook_due, 0017_webhook_due.sql).
-- The cursor moves in this transaction, so a crash loses or repeats nothing.
--
-- The first p_lease_max new deliveries (the notifier's free slots), taken
-- round-robin over the tenants and, within a tenant, over its endpoints (a
-- tenant's first delivery to each endpoint, then each tenant's next, ...;
-- one endpoint's in event order), so that a tenant with many events and
-- endpoints cannot take all of a pass's slots (docs/operations.md, "Webhook
-- fairness"), are leased to the caller at once, as webhook_claim would (attempt 1, due again
-- only after p_lease_ms), and come back with what their POST needs, so the
-- happy path makes no other round trip before the POST; the rest come back
-- as bare ids for the caller to publish (FS_NOTIFICATIONS). A lease that a
-- crash leaves behind runs out and the sweeper publishes the delivery again.
CREATE OR REPLACE FUNCTION fs_webhook_fanout(p_max int, p_lease_max int, p_lease_ms int)
RETURNS text
LANGUAGE plpgsql
SET enable_seqscan = off
AS $$
DECLARE
    e_seq    bigint[];
    e_tenant text[];
    e_type   text[];
    e_at     timestamptz[];
    ids      json;
    leased   json;
BEGIN
    SELECT coalesce(array_agg(e.seq ORDER BY e.txid, e.seq), '{}'),
           coalesce(array_agg(e.tenant_id ORDER BY e.txid, e.seq), '{}'),
           coalesce(array_agg(e.type ORDER BY e.txid, e.seq), '{}'),
           coalesce(array_agg(e.created_at ORDER BY e.txid, e.seq), '{}')
    INTO e_seq, e_tenant, e_type, e_at
    FROM fs_feed_take('webhooks', p_max) e;
    IF cardinality(e_seq) = 0 THEN
        RETURN '{"events":0,"deliveries":[],"leased":[]}';
    END IF;
    WITH ins AS (
        INSERT INTO webhook_deliveries (tenant_id, event_seq, endpoint_id, attempts,
                                        next_attempt_at)
        SELECT s.tenant_id, s.seq, s.endpoint_id,
               CASE WHEN s.rn <= p_lease_max THEN 1 ELSE 0 END,
               CASE WHEN s.rn <= p_lease_max
                    THEN now() + make_interval(secs => p_lease_ms / 1000.0) ELSE now() END
        FROM (SELECT f.tenant_id, f.seq, f.endpoint_id,
                     row_number() OVER (ORDER BY f.tenant_turn, f.n, f.endpoint_seq) AS rn
              FROM (SELECT e.*,
                           row_number() OVER (PARTITION BY e.tenant_id
                                              ORDER BY e.endpoint_turn, e.n, e.endpoint_seq)
                               AS tenant_turn
                    FROM (SELECT ev.tenant_id, ev.seq, ev.n, w.id AS endpoint_id,
                                 w.seq AS endpoint_seq,
                                 row_number() OVER (PARTITION BY w.id ORDER BY ev.n)
                                     AS endpoint_turn
                          FROM unnest(e_seq, e_tenant, e_type, e_at) WITH ORDINALITY
                               AS ev(seq, tenant_id, type, at, n)
                          JOIN webhook_endpoints w
                            ON w.tenant_id = ev.tenant_id AND w.deleted_at IS NULL
                           AND (ev.type = ANY (w.events) OR '*' = ANY (w.events))
                           AND w.created_at <= ev.at) e) f) s
        ORDER BY s.rn
        ON CONFLICT DO NOTHING
        RETURNING seq, id, tenant_id, event_seq, endpoint_id, attempts, next_attempt_at),
    due AS (
        INSERT INTO webhook_due (delivery_seq, due_at)
        SELECT ins.seq, ins.next_attempt_at FROM ins)
    SELECT json_agg(ins.id) FILTER (WHERE ins.attempts = 0),
           json_agg(json_build_object('id', ins.id, 'url', w.url, 'secret', w.secret,
                                      'secret_sealed', w.secret_sealed,
                                      'endpoint_id', w.id, 'tenant_id', w.tenant_id,
                                      'event_id', ev.id, 'request_id', ev.request_id,
                                      'event', fs_event_json(ev)::text))
               FILTER (WHERE ins.attempts = 1)
    INTO ids, leased
    FROM ins
    JOIN webhook_endpoints w ON w.id = ins.endpoint_id
    JOIN events ev ON ev.tenant_id = ins.tenant_id AND ev.seq = ins.event_seq;
    RETURN json_build_object('events', cardinality(e_seq),
                             'deliveries', coalesce(ids, '[]'::json),
                             'leased', coalesce(leased, '[]'::json))::text;
END
$$;

-- The attempts' results, many in one statement (op webhook_finish): arrays
-- of delivery ids, the attempt each result is of, delivered (a 2xx), the
-- HTTP status (0: none), the error and the back-off after the attempt. A
-- failure is retried after its delay, unless that would be past the retry
-- period since the delivery was made: then it is dead. A result whose
-- delivery is no longer pending at that attempt (done, canceled, or taken by
-- a later claim) changes nothing and reads 'stale'. A final delivery leaves
-- the sweeper's list; a retried one is due there at its new time. Returns
-- the statuses in the order given.
--
-- A deferred result (optional array "deferred", issue 13) is of an attempt
-- the notifier did not make (the endpoint's breaker open, or its share in
-- use): the delivery is due again after its delay like a failure, and dead
-- past the retry period like one, but its attempt is given back (attempts
-- counts POSTs started) and neither its log nor its last status and error
-- change (the error only for a delivery never attempted: why it waits).
CREATE OR REPLACE FUNCTION fs_webhook_finish(j jsonb) RETURNS text
LANGUAGE plpgsql
SET enable_seqscan = off
AS $$
DECLARE
    statuses json;
BEGIN
    WITH x AS (
        SELECT x.*
        FROM unnest(ARRAY(SELECT jsonb_array_elements_text(j->'ids')),
                    ARRAY(SELECT jsonb_array_elements_text(j->'attempts')::int),
                    ARRAY(SELECT jsonb_array_elements_text(j->'delivered')::boolean),
                    ARRAY(SELECT jsonb_array_elements_text(j->'http_status')::int),
                    ARRAY(SELECT jsonb_array_elements_text(j->'errors')),
                    ARRAY(SELECT jsonb_array_elements_text(j->'delay_ms')::bigint),
                    -- optional: how long each POST took (absent: null)
                    ARRAY(SELECT jsonb_array_elements_text(coalesce(j->'duration_ms', '[]'))::int),
                    -- optional: deferred, not attempted (absent: false)
                    ARRAY(SELECT jsonb_array_elements_text(coalesce(j->'deferred', '[]'))::boolean))
             WITH ORDINALITY AS x(id, attempt, ok, code, err, delay_ms, duration_ms, deferred, n)
        WHERE x.id IS NOT NULL),
    u AS (
        UPDATE webhook_deliveries y
        SET status = CASE WHEN x.ok THEN 'delivered'
                          WHEN y.created_at + make_interval(secs => (j->>'retry_period_s')::int)
                               <= now() + make_interval(secs => x.delay_ms / 1000.0)
                          THEN 'dead'
                          ELSE 'pending' END,
            delivered_at = CASE WHEN x.ok THEN now() END,
            next_attempt_at = CASE WHEN x.ok THEN y.next_attempt_at
                                   ELSE now() + make_interval(secs => x.delay_ms / 1000.0) END,
            updated_at = now(),
            attempts = CASE WHEN x.deferred THEN y.attempts - 1 ELSE y.attempts END,
            last_status = CASE WHEN x.deferred THEN y.last_status ELSE nullif(x.code, 0) END,
            last_error = CASE WHEN x.deferred
                              THEN CASE WHEN jsonb_array_length(y.attempt_log) = 0 THEN x.err
                                        ELSE y.last_error END
                              WHEN x.ok THEN NULL ELSE x.err END,
            -- the attempt's line in its log (0020_admin_views.sql), the
            -- latest 20 kept (FS_ADMIN_ATTEMPT_LOG_MAX)
            attempt_log = CASE WHEN x.deferred THEN y.attempt_log
                          ELSE CASE WHEN jsonb_array_length(y.attempt_log) >= 20
                                    THEN y.attempt_log - 0 ELSE y.attempt_log END
                               || jsonb_build_object('at', fs_ts(now()), 'attempt', x.attempt,
                                                     'status', nullif(x.code, 0),
                                                     'error', CASE WHEN x.ok THEN NULL
                                                                   ELSE x.err END,
                                                     'duration_ms', x.duration_ms)
                          END
        FROM x
        WHERE y.seq = substr(x.id, 5)::bigint AND y.status = 'pending'
          AND y.attempts = x.attempt
        RETURNING x.n, y.seq, y.tenant_id, y.status, y.next_attempt_at),
    -- the console's list of dead deliveries (0020_admin_views.sql); no row
    -- on the happy path
    dead AS (
        INSERT INTO webhook_dead (delivery_seq, tenant_id, dead_at)
        SELECT u.seq, u.tenant_id, now() FROM u WHERE u.status = 'dead'
        ON CONFLICT (delivery_seq) DO UPDATE SET dead_at = excluded.dead_at),
    gone AS (
        DELETE FROM webhook_due q USING u
        WHERE q.delivery_seq = u.seq AND u.status <> 'pending'),
    retried AS (
        UPDATE webhook_due q SET due_at = u.next_attempt_at
        FROM u
        WHERE q.delivery_seq = u.seq AND u.status = 'pending')
    SELECT json_agg(coalesce(u.status, 'stale') ORDER BY x.n) INTO statuses
    FROM x LEFT JOIN u ON u.n = x.n;
    RETURN json_build_object('statuses', coalesce(statuses, '[]'::json))::text;
END
$$;

CREATE OR REPLACE FUNCTION fs_webhook_internal(j jsonb, OUT o text, OUT p text)
LANGUAGE plpgsql
SET enable_seqscan = off
AS $$
DECLARE
    d     webhook_deliveries;
    w     webhook_endpoints;
    ev    events;
    data  json;
    candidates bigint[];
BEGIN
    IF j->>'op' = 'webhook_fanout' THEN
        o := 'ok';
        p := fs_webhook_fanout((j->>'max')::int, (j->>'lease_max')::int, (j->>'lease_ms')::int);
        RETURN;
    END IF;

    IF j->>'op' = 'webhook_finish' THEN
        o := 'ok'; p := fs_webhook_finish(j);
        RETURN;
    END IF;

    IF j->>'op' = 'webhook_sweep' THEN
        -- Pending deliveries due for older_s seconds and still not attempted:
        -- their message may be lost. Each is made due now, so the next sweep
        -- leaves it alone for older_s again. One sweeper at a time.
        --
        -- The candidates are the sweeper's list's rows due that long ago
        -- (webhook_due: its due_at is never later than the delivery's). A
        -- claim since then leased the delivery without moving its row: such
        -- a row gets its delivery's due time, and a row whose delivery is
        -- final (none should be) goes. The deliveries are locked first, in
        -- order, so that their rows and the list's are read as their last
        -- writer left them.
        data := NULL;
        IF pg_try_advisory_xact_lock(727100106) THEN
            candidates := ARRAY(SELECT q.delivery_seq FROM webhook_due q
                         WHERE q.due_at < now() - make_interval(secs => (j->>'older_s')::int)
                         ORDER BY q.due_at LIMIT (j->>'max')::int);
            PERFORM FROM webhook_deliveries y WHERE y.seq = ANY (candidates) ORDER BY y.seq FOR UPDATE;
            WITH u AS (
                UPDATE webhook_deliveries y SET next_attempt_at = now(), updated_at = now()
                WHERE y.seq = ANY (candidates) AND y.status = 'pending'
                  AND y.next_attempt_at < now() - make_interval(secs => (j->>'older_s')::int)
                RETURNING y.id)
            SELECT json_agg(u.id) INTO data FROM u;
            UPDATE webhook_due q SET due_at = y.next_attempt_at
            FROM webhook_deliveries y
            WHERE q.delivery_seq = ANY (candidates) AND y.seq = q.delivery_seq
              AND y.status = 'pending';
            -- (An array by index, not NOT EXISTS: an anti join's plan, made
            -- once per connection, can read the whole table's index for
            -- each row, as one in receipts.sql did.)
            DELETE FROM webhook_due q
            WHERE q.delivery_seq = ANY (candidates)
              AND q.delivery_seq <> ALL (ARRAY(
                      SELECT y.seq FROM webhook_deliveries y
                      WHERE y.seq = ANY (candidates) AND y.status = 'pending'));
        END IF;
        o := 'ok'; p := json_build_object('deliveries', coalesce(data, '[]'::json))::text;
        RETURN;
    END IF;

    SELECT * INTO d FROM webhook_deliveries y WHERE y.id = j->>'delivery' FOR UPDATE;
    IF NOT FOUND THEN
        o := 'not_found'; p := fs_err(format('No such delivery: %L', j->>'delivery'), 'delivery');
        RETURN;
    END IF;
    o := 'ok';
    IF d.status <> 'pending' THEN
        -- Done already (a duplicate message): the notifier only acknowledges.
        p := json_build_object('id', d.id, 'status', d.status)::text;
        RETURN;
    END IF;

    IF j->>'op' = 'webhook_claim' THEN
        SELECT * INTO w FROM webhook_endpoints y WHERE y.id = d.endpoint_id;
        IF w.deleted_at IS NOT NULL THEN
            UPDATE webhook_deliveries y SET status = 'canceled', updated_at = now(),
                                            last_error = 'endpoint deleted'
            WHERE y.seq = d.seq;
            DELETE FROM webhook_due q WHERE q.delivery_seq = d.seq;
            p := json_build_object('id', d.id, 'status', 'canceled')::text;
        ELSIF d.next_attempt_at > now() + make_interval(secs => (j->>'slack_ms')::int / 1000.0) THEN
            -- Not due: its attempt runs (a lease), or it waits for its
            -- back-off. The message comes back when it is due: a failure the
            -- fan-out's fast path met publishes its message at once.
            p := json_build_object('id', d.id, 'status', 'pending', 'due', false,
                                   'due_in_ms', ceil(extract(epoch FROM d.next_attempt_at - now())
                                                     * 1000)::bigint)::text;
        ELSE
            SELECT * INTO ev FROM events y WHERE y.tenant_id = d.tenant_id AND y.seq = d.event_seq;
            IF NOT FOUND AND EXISTS (
                    SELECT 1 FROM event_archives ea
                    WHERE ea.tenant_id = d.tenant_id AND ea.dropped_at IS NOT NULL
                      AND d.event_seq BETWEEN ea.first_seq AND ea.last_seq) THEN
                -- Its event was archived and dropped (archive.sql: only once
                -- no delivery of it was pending; a dead one replayed since):
                -- nothing left to send.
                UPDATE webhook_deliveries y SET status = 'canceled', updated_at = now(),
                                                last_error = 'event archived and dropped'
                WHERE y.seq = d.seq;
                DELETE FROM webhook_due q WHERE q.delivery_seq = d.seq;
                p := json_build_object('id', d.id, 'status', 'canceled')::text;
                RETURN;
            END IF;
            -- Later than it was: its row in webhook_due stays as it is.
            UPDATE webhook_deliveries y
            SET attempts = y.attempts + 1, updated_at = now(),
                next_attempt_at = now() + make_interval(secs => (j->>'lease_ms')::int / 1000.0)
            WHERE y.seq = d.seq RETURNING * INTO d;
            p := json_build_object('id', d.id, 'status', 'pending', 'due', true,
                                   'attempts', d.attempts, 'url', w.url, 'secret', w.secret,
                                   'secret_sealed', w.secret_sealed,
                                   'endpoint_id', w.id, 'tenant_id', w.tenant_id,
                                   'event_id', ev.id, 'request_id', ev.request_id,
                                   'event', fs_event_json(ev)::text)::text;
        END IF;

    ELSE
        RAISE EXCEPTION 'fs_webhook_internal: unknown op %', j->>'op';
    END IF;
END
$$;
