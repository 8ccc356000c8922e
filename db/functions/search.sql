-- search.sql: the search read model (db/migrations/0006_search.sql): the
-- indexer that keeps it, and the query of GET /v1/payments/search.
--
-- The indexer reads the event log's feed 'indexer' and treats each event as
-- the news that its payment changed: it upserts the payment's row from the
-- live payments row, not from the event's copy. Every event handed out has
-- committed, so the live row is at least as new as the event, and one
-- set-based upsert per run serves every event type alike: payment.created
-- inserts, payment.succeeded/failed/canceled and refund.* (whose data is a
-- refund, whose payment_id is the refunded payment) update the status, and a
-- payment seen several times in one run is written once. An event naming no
-- payment row is skipped.

-- Takes up to p_max events of the feed and applies them, in the caller's
-- transaction (the cursor moves with the rows). {"taken": n, "more": bool}:
-- more when the run came back full, so the driver runs again at once.
-- With p_live, the answer also has "live": a summary of
-- each event taken, in feed order, {id, type, tenant, payment, amount,
-- currency, status, created_at (the payment's or refund's), at (the
-- event's)}, which the worker publishes on core NATS for the admin
-- console's live stream once this transaction has committed (src/admin).
CREATE OR REPLACE FUNCTION fs_index_run_live(p_max int, p_live boolean) RETURNS text
LANGUAGE plpgsql
SET enable_seqscan = off
AS $$
DECLARE
    taken int;
    ids   text[];
    ats   timestamptz[];
    types text[];
    live  text;
BEGIN
    SELECT count(*), coalesce(array_agg(e.payment_id), '{}'), coalesce(array_agg(e.created_at), '{}'),
           coalesce(array_agg(e.type), '{}'),
           -- Text made by concatenation, not json_build_object (~4x
           -- slower): every value is FinSys's own (ids, type, tenant,
           -- currency, status names, timestamps, an integer), none with a
           -- quote or a backslash to escape.
           string_agg('{"id":"' || e.id || '","type":"' || e.type || '","tenant":"'
               || e.tenant_id || '","payment":"' || e.payment_id || '","amount":'
               || (e.data->>'amount') || ',"currency":"' || (e.data->>'currency')
               || '","status":"' || (e.data->>'status') || '","created_at":"'
               || (e.data->>'created_at') || '","at":"' || fs_ts(e.created_at) || '"}', ',')
               FILTER (WHERE p_live)
    INTO taken, ids, ats, types, live
    FROM fs_feed_take('indexer', p_max) e;
    IF taken = 0 THEN
        RETURN json_build_object('taken', 0, 'more', false)::text;
    END IF;
    -- A payment's first event inserts its row, with everything a search
    -- matches on; later ones only move its status (and the lag's times), an
    -- update of no indexed column, which PostgreSQL makes in place (HOT, no
    -- new index entries: 0012_hot_status.sql). The text is computed only
    -- for new rows.
    INSERT INTO payment_search AS rs
        (payment_id, tenant_id, seq, from_account, to_account, amount, currency, status,
         created_at, description, refs, tsv, event_created_at, indexed_at)
    SELECT y.id, y.tenant_id, y.seq, y.from_account, y.to_account, y.amount, y.currency,
           y.status, y.created_at, y.description,
           y.id || coalesce(' ' || m.vals, ''),
           to_tsvector('simple', coalesce(y.description, '') || coalesce(' ' || m.vals, '')),
           ev.at, clock_timestamp()
    FROM (SELECT u.id, max(u.at) AS at FROM unnest(ids, ats) AS u(id, at) GROUP BY u.id) ev
    JOIN payments y ON y.id = ev.id
    CROSS JOIN LATERAL (SELECT string_agg(kv.value, ' ' ORDER BY kv.key) AS vals
                        FROM jsonb_each_text(y.metadata) kv) m
    WHERE y.id = ANY (ARRAY(SELECT u.id FROM unnest(ids, types) AS u(id, type)
                            WHERE u.type = 'payment.created'))
    ON CONFLICT (payment_id) DO NOTHING;
    UPDATE payment_search rs
    SET status = y.status, event_created_at = greatest(rs.event_created_at, ev.at),
        indexed_at = clock_timestamp()
    FROM (SELECT u.id, max(u.at) AS at FROM unnest(ids, ats, types) AS u(id, at, type)
          WHERE u.type <> 'payment.created' GROUP BY u.id) ev
    JOIN payments y ON y.id = ev.id
    WHERE rs.payment_id = ev.id
      AND y.id = ANY (ARRAY(SELECT u.id FROM unnest(ids, types) AS u(id, type)
                            WHERE u.type <> 'payment.created'))
      AND rs.payment_id = ANY (ARRAY(SELECT u.id FROM unnest(ids, types) AS u(id, type)
                                     WHERE u.type <> 'payment.created'));
    -- {"taken" : n, "more" : b, "live" : [...]}: src/search hands the
    -- text after ', "live" : ' on as it is.
    IF live IS NOT NULL THEN
        RETURN rtrim(json_build_object('taken', taken, 'more', taken >= p_max)::text, '}')
               || ', "live" : [' || live || ']}';
    END IF;
    RETURN json_build_object('taken', taken, 'more', taken >= p_max)::text;
END
$$;

-- The run without the live summary.
CREATE OR REPLACE FUNCTION fs_index_run(p_max int) RETURNS json
LANGUAGE sql AS $$
    SELECT fs_index_run_live(p_max, false)::json
$$;

-- The statuses a payment_search row may still show for a payment whose live
-- status is s: s itself, and those it can leave without an event the indexer
-- would see first (pending -> processing has none; the others have theirs, but
-- may not be indexed yet). Filtering the read model on these and the live row
-- on s makes a status filter exact for every payment indexed at all. A
-- payment created in review (requires_review, docs/risk.md) leaves it for
-- pending or canceled, and may be indexed before the review's event is.
CREATE OR REPLACE FUNCTION fs_search_status_sources(s text) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE s
        WHEN 'requires_review' THEN ARRAY['requires_review']
        WHEN 'pending' THEN ARRAY['requires_review', 'pending']
        WHEN 'processing' THEN ARRAY['requires_review', 'pending', 'processing']
        WHEN 'canceled' THEN ARRAY['requires_review', 'pending', 'canceled']
        WHEN 'refunded' THEN ARRAY['requires_review', 'pending', 'processing', 'succeeded',
                                   'refunded']
        ELSE ARRAY['requires_review', 'pending', 'processing', s] END
$$;

-- GET /v1/payments/search for tenant t: j holds the checked parameters (see
-- src/search/search.h): q, status, account, currency, amount_gte, amount_lte,
-- created_gte, created_lte (RFC 3339, normalized to UTC), limit, after.
-- Only the filters given become conditions: the statement is built here and
-- planned with its values (EXECUTE), so each combination gets its own plan
-- rather than one generic plan for all.
--
-- q matches full text (websearch syntax over description and metadata
-- values, 'simple' configuration) or, as a substring, the references (the id
-- and metadata values, trigram index). Results are newest first, rendered
-- from the live payments row; amount, currency, accounts and created_at never
-- change, so filters on them are exact, and status is handled as above.
CREATE OR REPLACE FUNCTION fs_payment_search(t text, j jsonb, OUT o text, OUT p text)
LANGUAGE plpgsql
-- Planned afresh each time (EXECUTE), so the planner may choose freely.
SET enable_seqscan = on
AS $$
DECLARE
    lim       int := (j->>'limit')::int;
    after_seq bigint := 9223372036854775807;
    w         text := 'rs.tenant_id = $1 AND y.tenant_id = $1';
    data      json;
    more      boolean;
BEGIN
    IF j ? 'after' THEN
        SELECT y.seq INTO after_seq FROM payments y WHERE y.id = j->>'after' AND y.tenant_id = t;
        IF NOT FOUND THEN
            o := 'invalid_request';
            p := fs_err(format('No such payment: %L', j->>'after'), 'starting_after');
            RETURN;
        END IF;
    END IF;
    IF j ? 'q' AND length(j->>'q') >= 3 THEN
        w := w || ' AND (rs.tsv @@ websearch_to_tsquery(''simple'', $2) OR rs.refs ILIKE $3)';
    ELSIF j ? 'q' THEN
        -- Under three characters a trigram index has nothing to search by:
        -- the substring match would read every row of the tenant. Such a q
        -- matches whole words only.
        w := w || ' AND rs.tsv @@ websearch_to_tsquery(''simple'', $2)';
    END IF;
    IF j ? 'status' THEN
        w := w || ' AND rs.status = ANY (fs_search_status_sources($4)) AND y.status = $4';
    END IF;
    IF j ? 'account' THEN
        w := w || ' AND (rs.from_account = $5 OR rs.to_account = $5)';
    END IF;
    IF j ? 'currency' THEN
        w := w || ' AND rs.currency = $6';
    END IF;
    IF j ? 'amount_gte' THEN
        w := w || ' AND rs.amount >= $7';
    END IF;
    IF j ? 'amount_lte' THEN
        w := w || ' AND rs.amount <= $8';
    END IF;
    IF j ? 'created_gte' THEN
        w := w || ' AND rs.created_at >= $9';
    END IF;
    IF j ? 'created_lte' THEN
        w := w || ' AND rs.created_at <= $10';
    END IF;
    EXECUTE format(
        'SELECT json_agg(fs_payment_json(s.y) ORDER BY s.seq DESC) FILTER (WHERE s.rn <= $12),'
        '       coalesce(max(s.rn) > $12, false)'
        ' FROM (SELECT y, rs.seq, row_number() OVER (ORDER BY rs.seq DESC) AS rn'
        '       FROM payment_search rs JOIN payments y ON y.id = rs.payment_id'
        '       WHERE %s AND rs.seq < $11'
        '       ORDER BY rs.seq DESC LIMIT $12 + 1) s', w)
    INTO data, more
    USING t, j->>'q',
          '%' || replace(replace(replace(j->>'q', '\', '\\'), '%', '\%'), '_', '\_') || '%',
          j->>'status', j->>'account', j->>'currency',
          (j->>'amount_gte')::bigint, (j->>'amount_lte')::bigint,
          (j->>'created_gte')::timestamptz, (j->>'created_lte')::timestamptz,
          after_seq, lim;
    o := 'ok';
    p := fs_list_json(data, more);
END
$$;
