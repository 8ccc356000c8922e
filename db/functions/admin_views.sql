-- admin_views.sql: the read side of the admin console (issue 11,
-- docs/console.md). fs_admin_read(), the dispatcher of the console's reads,
-- calls one function per view, each
--
--   fs_admin_<fn>(j jsonb, OUT o text, OUT p text)
--
-- with j = {"op":"admin_read","fn":"<fn>","id":<the path's id or null>,
-- "params":{<query parameters, all JSON strings>},"actor":{...}}; o is an
-- outcome as fs_batch's ('ok', 'not_found', 'invalid_request') and p the
-- answer's JSON, or fs_err(message, param) naming the offending parameter.
-- Staff read across tenants: every object is rendered as /v1 renders it
-- (fs_payment_json, fs_refund_json, fs_account_json) plus "tenant".
--
-- Lists are {"object":"list","data":[...],"has_more","next"}: next is the
-- cursor to pass back as starting_after (the last item's id), null on the
-- last page. Pagination is by keyset, never OFFSET.
--
-- Every function here is PL/pgSQL (none is LANGUAGE sql): `finsys migrate`
-- applies this file before batch.sql (name order), and a PL/pgSQL body is
-- not checked against the functions it calls until it runs.
--
-- Plans: static statements run with enable_seqscan = off (as fs_batch's:
-- PL/pgSQL keeps one plan per connection, and a plan made while a table was
-- small would scan it whole forever after); the lists whose filters vary
-- build their statement and EXECUTE it, planned with its values each time,
-- as fs_payment_search does. Index conditions take arrays (= ANY (ARRAY(
-- ...))) rather than joins that a generic plan could turn into full scans.

-- Named limits (src/core/limits.h) repeated here:
--   FS_ADMIN_LIST_LIMIT_MAX 100, FS_ADMIN_LIST_LIMIT_DEFAULT 25
--   FS_ADMIN_Q_LEN_MAX 200, FS_ADMIN_OVERVIEW_WINDOW_S 300
--   FS_ADMIN_DETAIL_ITEMS_MAX 200
--   FS_ADMIN_ATTEMPT_LOG_MAX 20 (in fs_webhook_finish, webhooks.sql)
--   FS_ADMIN_REPORT_DAYS_MAX 366 (checked by src/report)

-- An object as /v1 renders it, with "tenant" added last (the text keeps
-- the renderer's key order, which a jsonb round trip would not).
CREATE OR REPLACE FUNCTION fs_admin_tenanted(x json, tenant text) RETURNS json
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN (left(x::text, -1) || ',"tenant":' || to_json(tenant)::text || '}')::json;
END
$$;

-- A payment as the console shows it: as /v1 renders it (fs_payment_json),
-- "tenant" last, and its "risk" and "review" (0024_risk.sql, docs/risk.md;
-- null when it has none) added when the renderer does not carry them
-- itself: the review queue and the detail show them either way.
CREATE OR REPLACE FUNCTION fs_admin_payment_json(y payments) RETURNS json
LANGUAGE plpgsql STABLE AS $$
DECLARE
    x json := fs_payment_json(y);
BEGIN
    IF x->'risk' IS NULL THEN
        x := (left(x::text, -1) || ',"risk":' || coalesce(y.risk::text, 'null')
              || ',"review":' || coalesce(y.review::text, 'null') || '}')::json;
    END IF;
    RETURN fs_admin_tenanted(x, y.tenant_id);
END
$$;

CREATE OR REPLACE FUNCTION fs_admin_list(data json, has_more boolean, next text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN json_build_object('object', 'list', 'data', coalesce(data, '[]'::json),
                             'has_more', coalesce(has_more, false),
                             'next', CASE WHEN has_more THEN next END)::text;
END
$$;

-- The parameters' first problem: a name not in allowed, or a value that is
-- not a JSON string. NULL when there is none. Names are checked in order,
-- so the answer names the same one every time.
CREATE OR REPLACE FUNCTION fs_admin_check_params(params jsonb, allowed text[], OUT o text,
                                                 OUT p text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    k text;
BEGIN
    IF params IS NULL OR jsonb_typeof(params) = 'null' THEN
        RETURN;
    END IF;
    IF jsonb_typeof(params) <> 'object' THEN
        o := 'invalid_request'; p := fs_err('params must be an object', 'params');
        RETURN;
    END IF;
    FOR k IN SELECT x FROM jsonb_object_keys(params) x ORDER BY x LOOP
        IF NOT k = ANY (allowed) THEN
            o := 'invalid_request';
            p := fs_err(format('Unknown parameter %L; this list takes: %s.', k,
                               CASE WHEN cardinality(allowed) = 0 THEN 'none'
                                    ELSE array_to_string(allowed, ', ') END), k);
            RETURN;
        END IF;
        IF jsonb_typeof(params->k) <> 'string' THEN
            o := 'invalid_request'; p := fs_err(format('%s must be a string', k), k);
            RETURN;
        END IF;
    END LOOP;
END
$$;

-- limit: 1..FS_ADMIN_LIST_LIMIT_MAX (100), FS_ADMIN_LIST_LIMIT_DEFAULT (25)
-- when absent; NULL when it is not such a number.
CREATE OR REPLACE FUNCTION fs_admin_limit(params jsonb) RETURNS int
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v text := params->>'limit';
BEGIN
    IF v IS NULL THEN
        RETURN 25;
    ELSIF v ~ '^[0-9]{1,3}$' AND v::int BETWEEN 1 AND 100 THEN
        RETURN v::int;
    END IF;
    RETURN NULL;
END
$$;

-- A non-negative count of minor units, or NULL.
CREATE OR REPLACE FUNCTION fs_admin_amount(v text) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF v ~ '^[0-9]{1,18}$' THEN
        RETURN v::bigint;
    END IF;
    RETURN NULL;
END
$$;

-- An RFC 3339 date-time (with its offset, or Z), or NULL.
CREATE OR REPLACE FUNCTION fs_admin_time(v text) RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF v !~ '^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$' THEN
        RETURN NULL;
    END IF;
    RETURN v::timestamptz;
EXCEPTION WHEN OTHERS THEN
    RETURN NULL; -- a day or hour that does not exist (2024-02-30, 25:00)
END
$$;

CREATE OR REPLACE FUNCTION fs_admin_bad_limit() RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN fs_err('limit must be a whole number from 1 to 100', 'limit');
END
$$;

-- GET /admin/api/payments: across tenants, from the search model
-- (payment_search, 0006_search.sql; its rows lag their payments by the
-- indexing lag), rendered from the live payments rows. Filters: q (as
-- /v1/payments/search: full text, or a substring of the id and metadata
-- values), status (exact: the live status decides), tenant, account (payer
-- or payee), currency, amount_gte/amount_lte, created_gte/created_lte.
-- sort=created (by seq, the order of creation) or amount (keyset on (amount,
-- seq)); order desc (default) or asc. starting_after is a payment id; its
-- (amount, seq) is where the next page starts.
CREATE OR REPLACE FUNCTION fs_admin_payments_list(j jsonb, OUT o text, OUT p text)
LANGUAGE plpgsql
SET enable_seqscan = on
AS $$
DECLARE
    q      jsonb := coalesce(j->'params', '{}');
    lim    int;
    sort   text := coalesce(q->>'sort', 'created');
    ord    text := coalesce(q->>'order', 'desc');
    cmp    text;
    order_by text;
    c_seq  bigint;
    c_amt  bigint;
    w      text := 'y.id = rs.payment_id';
    data   json;
    more   boolean;
    nxt    text;
BEGIN
    SELECT c.o, c.p INTO o, p FROM fs_admin_check_params(q, ARRAY[
        'q', 'status', 'tenant', 'account', 'currency', 'amount_gte', 'amount_lte',
        'created_gte', 'created_lte', 'sort', 'order', 'limit', 'starting_after']) c;
    IF o IS NOT NULL THEN RETURN; END IF;
    o := 'invalid_request';
    lim := fs_admin_limit(q);
    IF lim IS NULL THEN p := fs_admin_bad_limit(); RETURN; END IF;
    IF sort NOT IN ('created', 'amount') THEN
        p := fs_err('sort must be created or amount', 'sort'); RETURN;
    END IF;
    IF ord NOT IN ('desc', 'asc') THEN
        p := fs_err('order must be desc or asc', 'order'); RETURN;
    END IF;
    IF q ? 'q' AND (length(q->>'q') NOT BETWEEN 1 AND 200) THEN
        p := fs_err('q must be 1 to 200 characters', 'q'); RETURN;
    END IF;
    IF q ? 'status' AND q->>'status' NOT IN ('requires_review', 'pending', 'processing',
                                             'succeeded', 'failed', 'canceled', 'refunded') THEN
        p := fs_err('status must be one of requires_review, pending, processing, succeeded, '
                    'failed, canceled, refunded', 'status');
        RETURN;
    END IF;
    IF q ? 'currency' AND NOT EXISTS (SELECT 1 FROM currencies c WHERE c.code = q->>'currency') THEN
        p := fs_err(format('Unknown currency %L (ISO 4217, upper case)', q->>'currency'),
                    'currency');
        RETURN;
    END IF;
    IF q ? 'amount_gte' AND fs_admin_amount(q->>'amount_gte') IS NULL THEN
        p := fs_err('amount_gte must be a whole number of minor units', 'amount_gte'); RETURN;
    END IF;
    IF q ? 'amount_lte' AND fs_admin_amount(q->>'amount_lte') IS NULL THEN
        p := fs_err('amount_lte must be a whole number of minor units', 'amount_lte'); RETURN;
    END IF;
    IF q ? 'created_gte' AND fs_admin_time(q->>'created_gte') IS NULL THEN
        p := fs_err('created_gte must be an RFC 3339 date-time', 'created_gte'); RETURN;
    END IF;
    IF q ? 'created_lte' AND fs_admin_time(q->>'created_lte') IS NULL THEN
        p := fs_err('created_lte must be an RFC 3339 date-time', 'created_lte'); RETURN;
    END IF;
    IF q ? 'starting_after' THEN
        SELECT rs.seq, rs.amount INTO c_seq, c_amt FROM payment_search rs
        WHERE rs.payment_id = q->>'starting_after';
        IF NOT FOUND THEN
            p := fs_err(format('No such payment: %L', q->>'starting_after'), 'starting_after');
            RETURN;
        END IF;
    END IF;

    IF q ? 'q' AND length(q->>'q') >= 3 THEN
        w := w || ' AND (rs.tsv @@ websearch_to_tsquery(''simple'', $1) OR rs.refs ILIKE $2)';
    ELSIF q ? 'q' THEN
        -- too short for the trigram index: whole words only (as /v1's search)
        w := w || ' AND rs.tsv @@ websearch_to_tsquery(''simple'', $1)';
    END IF;
    IF q ? 'status' THEN
        w := w || ' AND rs.status = ANY (fs_search_status_sources($3)) AND y.status = $3';
    END IF;
    IF q ? 'tenant' THEN w := w || ' AND rs.tenant_id = $4 AND y.tenant_id = $4'; END IF;
    IF q ? 'account' THEN w := w || ' AND (rs.from_account = $5 OR rs.to_account = $5)'; END IF;
    IF q ? 'currency' THEN w := w || ' AND rs.currency = $6'; END IF;
    IF q ? 'amount_gte' THEN w := w || ' AND rs.amount >= $7'; END IF;
    IF q ? 'amount_lte' THEN w := w || ' AND rs.amount <= $8'; END IF;
    IF q ? 'created_gte' THEN w := w || ' AND rs.created_at >= $9'; END IF;
    IF q ? 'created_lte' THEN w := w || ' AND rs.created_at <= $10'; END IF;
    cmp := CASE ord WHEN 'desc' THEN '<' ELSE '>' END;
    IF sort = 'created' THEN
        IF c_seq IS NOT NULL THEN w := w || format(' AND rs.seq %s $11', cmp); END IF;
        order_by := format('rs.seq %s', ord);
    ELSE
        IF c_seq IS NOT NULL THEN
            w := w || format(' AND (rs.amount, rs.seq) %s ($12, $11)', cmp);
        END IF;
        order_by := format('rs.amount %s, rs.seq %s', ord, ord);
    END IF;
    EXECUTE format(
        'SELECT json_agg(fs_admin_payment_json(s.y) ORDER BY s.rn)'
        '           FILTER (WHERE s.rn <= $13),'
        '       coalesce(max(s.rn) > $13, false),'
        '       max((s.y).id) FILTER (WHERE s.rn = $13)'
        ' FROM (SELECT y, row_number() OVER (ORDER BY %s) AS rn'
        '       FROM payment_search rs, payments y'
        '       WHERE %s'
        '       ORDER BY %s LIMIT $13 + 1) s', order_by, w, order_by)
    INTO data, more, nxt
    USING q->>'q',
          '%' || replace(replace(replace(q->>'q', '\', '\\'), '%', '\%'), '_', '\_') || '%',
          q->>'status', q->>'tenant', q->>'account', q->>'currency',
          fs_admin_amount(q->>'amount_gte'), fs_admin_amount(q->>'amount_lte'),
          fs_admin_time(q->>'created_gte'), fs_admin_time(q->>'created_lte'),
          c_seq, c_amt, lim;
    o := 'ok';
    p := fs_admin_list(data, more, nxt);
END
$$;

-- A webhook delivery for the console: its endpoint's URL, its event's
-- type, and its attempt log (0020_admin_views.sql).
CREATE OR REPLACE FUNCTION fs_admin_delivery_json(d webhook_deliveries) RETURNS json
LANGUAGE plpgsql STABLE
SET enable_seqscan = off
AS $$
DECLARE
    url   text;
    etype text;
    eid   text;
BEGIN
    SELECT w.url INTO url FROM webhook_endpoints w WHERE w.id = d.endpoint_id;
    SELECT e.type, e.id INTO etype, eid FROM events e
    WHERE e.tenant_id = d.tenant_id AND e.seq = d.event_seq;
    RETURN json_build_object(
        'id', d.id, 'object', 'webhook_delivery', 'endpoint', d.endpoint_id, 'url', url,
        'event', coalesce(eid, 'evt_' || d.event_seq), 'event_type', etype, 'status', d.status, 'attempts', d.attempts,
        'last_status', d.last_status, 'last_error', d.last_error,
        'created_at', fs_ts(d.created_at), 'delivered_at', fs_ts(d.delivered_at),
        'next_attempt_at', CASE WHEN d.status = 'pending' THEN fs_ts(d.next_attempt_at) END,
        'attempt_log', d.attempt_log, 'tenant', d.tenant_id);
END
$$;

-- GET /admin/api/payments/{id}: the payment and everything about it.
--
-- Its events and journal entries are found by the instants of the
-- transactions that wrote them: every row a transaction writes carries its
-- now(), and each of those transactions left its instant on the payment or
-- its refunds (created_at, a timeline step, updated_at). The BRIN indexes on
-- created_at (0020_admin_views.sql) read those few page ranges; no index
-- on events.payment_id or journal_entries.ref_id was added to the write path.
CREATE OR REPLACE FUNCTION fs_admin_payment_detail(j jsonb, OUT o text, OUT p text)
LANGUAGE plpgsql
SET enable_seqscan = off
AS $$
DECLARE
    y        payments;
    refs     text[];
    instants timestamptz[];
    refunds  json;
    journal  json;
    ev_seqs  bigint[];
    req_id   text;
    eps      text[];
    deliveries json;
    receipt  json;
    provider json;
    timeline json;
    settled  timestamptz;
BEGIN
    SELECT c.o, c.p INTO o, p FROM fs_admin_check_params(j->'params', ARRAY[]::text[]) c;
    IF o IS NOT NULL THEN RETURN; END IF;
    SELECT * INTO y FROM payments z WHERE z.id = j->>'id';
    IF NOT FOUND THEN
        o := 'not_found'; p := fs_err(format('No such payment: %L', j->>'id'), 'id');
        RETURN;
    END IF;

    SELECT json_agg(fs_admin_tenanted(fs_refund_json(x.r), (x.r).tenant_id) ORDER BY (x.r).seq),
           coalesce(array_agg((x.r).id), '{}'),
           coalesce(array_agg((x.r).created_at) || array_agg((x.r).updated_at), '{}')
    INTO refunds, refs, instants
    FROM (SELECT z AS r FROM refunds z WHERE z.payment_id = y.id ORDER BY z.seq LIMIT 200) x;
    refs := refs || y.id;
    instants := instants || y.created_at || y.updated_at
                || ARRAY(SELECT (s->>'created_at')::timestamptz
                         FROM jsonb_array_elements(y.timeline) s);

    SELECT json_agg(json_build_object('id', e.id, 'account', e.account_id,
                                      'bucket', e.bucket::text, 'amount', e.amount,
                                      'currency', e.currency, 'ref', e.ref_id,
                                      'at', fs_ts(e.created_at)) ORDER BY e.id)
    INTO journal
    FROM (SELECT * FROM journal_entries z
          WHERE z.created_at = ANY (instants) AND z.ref_id = ANY (refs)
          ORDER BY z.id LIMIT 200) e;

    SELECT coalesce(array_agg(e.seq), '{}'),
           max(e.request_id) FILTER (WHERE e.type = 'payment.created')
    INTO ev_seqs, req_id
    FROM events e
    -- (no tenant_id condition: the planner would walk the tenant's whole
    -- (tenant_id, seq) index instead of the few BRIN ranges)
    WHERE e.created_at = ANY (instants) AND e.payment_id = y.id;

    eps := ARRAY(SELECT w.id FROM webhook_endpoints w WHERE w.tenant_id = y.tenant_id);
    SELECT json_agg(fs_admin_delivery_json(d) ORDER BY d.seq) INTO deliveries
    FROM (SELECT * FROM webhook_deliveries z
          WHERE z.endpoint_id = ANY (eps) AND z.event_seq = ANY (ev_seqs)
          ORDER BY z.seq LIMIT 200) d;

    SELECT json_build_object('number', r.number, 'sha256', r.sha256,
                             'url', '/admin/api/payments/' || y.id || '/receipt',
                             'created_at', fs_ts(r.created_at), 'stored_at', fs_ts(r.stored_at))
    INTO receipt FROM receipts r WHERE r.payment_id = y.id;

    -- The payment's own timeline (fs_payment_json's: its first status, a
    -- review's, then each step), with "at" for "created_at".
    SELECT json_agg(json_build_object('status', s->>'status', 'at', s->>'created_at')
                    ORDER BY n)
    INTO timeline
    FROM json_array_elements(fs_payment_json(y)->'timeline') WITH ORDINALITY AS t(s, n);

    -- What FinSys keeps of the provider's answers: the calls made
    -- (settle_attempts), the final outcome and its failure, and when.
    SELECT max((s->>'created_at')::timestamptz) INTO settled
    FROM jsonb_array_elements(y.timeline) s WHERE s->>'status' IN ('succeeded', 'failed');
    IF y.settle_attempts > 0 OR settled IS NOT NULL THEN
        provider := json_build_object(
            'attempts', y.settle_attempts,
            'outcome', CASE WHEN y.status IN ('succeeded', 'refunded') THEN 'succeeded'
                            WHEN y.status = 'failed' THEN 'failed' END,
            'failure_code', y.failure_code, 'failure_message', y.failure_message,
            'processing_at', (SELECT min(s->>'created_at') FROM jsonb_array_elements(y.timeline) s
                              WHERE s->>'status' = 'processing'),
            'settled_at', fs_ts(settled),
            'dead_lettered_at', fs_ts(y.dead_lettered_at));
    END IF;

    o := 'ok';
    p := json_build_object(
        'object', 'payment_detail',
        'payment', fs_admin_payment_json(y),
        'timeline', coalesce(timeline, '[]'::json),
        'journal', coalesce(journal, '[]'::json),
        'refunds', coalesce(refunds, '[]'::json),
        'receipt', receipt,
        'webhook_deliveries', coalesce(deliveries, '[]'::json),
        'provider', provider,
        'request_id', req_id)::text;
END
$$;

-- GET /admin/api/accounts: across tenants, newest first. q: an id prefix or
-- a fragment of the name (case-insensitive); with tenant, currency, status.
CREATE OR REPLACE FUNCTION fs_admin_accounts_list(j jsonb, OUT o text, OUT p text)
LANGUAGE plpgsql
SET enable_seqscan = on
AS $$
DECLARE
    q     jsonb := coalesce(j->'params', '{}');
    lim   int;
    c_seq bigint;
    w     text := 'true';
    data  json;
    more  boolean;
    nxt   text;
BEGIN
    SELECT c.o, c.p INTO o, p FROM fs_admin_check_params(q, ARRAY[
        'q', 'tenant', 'currency', 'status', 'limit', 'starting_after']) c;
    IF o IS NOT NULL THEN RETURN; END IF;
    o := 'invalid_request';
    lim := fs_admin_limit(q);
    IF lim IS NULL THEN p := fs_admin_bad_limit(); RETURN; END IF;
    IF q ? 'q' AND (length(q->>'q') NOT BETWEEN 1 AND 200) THEN
        p := fs_err('q must be 1 to 200 characters', 'q'); RETURN;
    END IF;
    IF q ? 'status' AND q->>'status' NOT IN ('active', 'frozen', 'closed') THEN
        p := fs_err('status must be one of active, frozen, closed', 'status'); RETURN;
    END IF;
    IF q ? 'currency' AND NOT EXISTS (SELECT 1 FROM currencies c WHERE c.code = q->>'currency') THEN
        p := fs_err(format('Unknown currency %L (ISO 4217, upper case)', q->>'currency'),
                    'currency');
        RETURN;
    END IF;
    IF q ? 'starting_after' THEN
        SELECT a.seq INTO c_seq FROM accounts a WHERE a.id = q->>'starting_after';
        IF NOT FOUND THEN
            p := fs_err(format('No such account: %L', q->>'starting_after'), 'starting_after');
            RETURN;
        END IF;
        w := w || ' AND a.seq < $5';
    END IF;
    IF q ? 'q' THEN
        w := w || ' AND (starts_with(a.id, $1) OR a.name ILIKE $6)';
    END IF;
    IF q ? 'tenant' THEN w := w || ' AND a.tenant_id = $2'; END IF;
    IF q ? 'currency' THEN w := w || ' AND a.currency = $3'; END IF;
    IF q ? 'status' THEN w := w || ' AND a.status = $4'; END IF;
    EXECUTE format(
        'SELECT json_agg(fs_admin_tenanted(fs_account_json(s.a), (s.a).tenant_id) ORDER BY s.rn)'
        '           FILTER (WHERE s.rn <= $7),'
        '       coalesce(max(s.rn) > $7, false),'
        '       max((s.a).id) FILTER (WHERE s.rn = $7)'
        ' FROM (SELECT a, row_number() OVER (ORDER BY a.seq DESC) AS rn'
        '       FROM accounts a WHERE %s ORDER BY a.seq DESC LIMIT $7 + 1) s', w)
    INTO data, more, nxt
    USING q->>'q', q->>'tenant', q->>'currency', q->>'status', c_seq,
          '%' || replace(replace(replace(q->>'q', '\', '\\'), '%', '\%'), '_', '\_') || '%',
          lim;
    o := 'ok';
    p := fs_admin_list(data, more, nxt);
END
$$;

-- GET /admin/api/accounts/{id}: the account as /v1 shows it, with tenant.
CREATE OR REPLACE FUNCTION fs_admin_account_get(j jsonb, OUT o text, OUT p text)
LANGUAGE plpgsql
SET enable_seqscan = off
AS $$
DECLARE
    a accounts;
BEGIN
    SELECT c.o, c.p INTO o, p FROM fs_admin_check_params(j->'params', ARRAY[]::text[]) c;
    IF o IS NOT NULL THEN RETURN; END IF;
    SELECT * INTO a FROM accounts z WHERE z.id = j->>'id';
    IF NOT FOUND THEN
        o := 'not_found'; p := fs_err(format('No such account: %L', j->>'id'), 'id');
        RETURN;
    END IF;
    o := 'ok'; p := fs_admin_tenanted(fs_account_json(a), a.tenant_id)::text;
END
$$;

-- GET /admin/api/accounts/{id}/journal: the account's journal entries,
-- newest first (by id: an account's entries are written under its row lock,
-- so id order is the order they were applied in), keyset on the id.
--
-- running_balance is the account's AVAILABLE balance (bucket 'A') right
-- after the entry was applied; running_pending the same for the pending
-- (held) bucket 'P'. An entry of the other bucket leaves a running value
-- as the entry before it left it. They are computed from the current
-- balances, in the same statement (one snapshot) as the entries: the
-- balance after entry e is the balance now minus the entries newer than e,
-- which are the entries above this page (one sum over the index range
-- (account_id, id >= cursor): the cursor is the last entry shown) and those above e on this page (a window sum).
-- A page's cost grows with its depth, not with the account's history per
-- row; the first page sums nothing.
CREATE OR REPLACE FUNCTION fs_admin_account_journal(j jsonb, OUT o text, OUT p text)
LANGUAGE plpgsql
SET enable_seqscan = off
AS $$
DECLARE
    q      jsonb := coalesce(j->'params', '{}');
    lim    int;
    acct   text := j->>'id';
    cursor_id bigint := 9223372036854775807;
    data   json;
    more   boolean;
    nxt    text;
BEGIN
    SELECT c.o, c.p INTO o, p FROM fs_admin_check_params(q, ARRAY['limit', 'starting_after']) c;
    IF o IS NOT NULL THEN RETURN; END IF;
    lim := fs_admin_limit(q);
    IF lim IS NULL THEN
        o := 'invalid_request'; p := fs_admin_bad_limit(); RETURN;
    END IF;
    PERFORM FROM accounts a WHERE a.id = acct;
    IF NOT FOUND THEN
        o := 'not_found'; p := fs_err(format('No such account: %L', acct), 'id');
        RETURN;
    END IF;
    IF q ? 'starting_after' THEN
        IF (q->>'starting_after') !~ '^[0-9]{1,18}$' THEN
            cursor_id := NULL;
        ELSE
            SELECT e.id INTO cursor_id FROM journal_entries e
            WHERE e.account_id = acct AND e.id = (q->>'starting_after')::bigint;
        END IF;
        IF cursor_id IS NULL THEN
            o := 'invalid_request';
            p := fs_err(format('No journal entry %L of this account', q->>'starting_after'),
                        'starting_after');
            RETURN;
        END IF;
    END IF;
    WITH bal AS (
        SELECT a.available, a.pending FROM accounts a WHERE a.id = acct),
    above AS (
        SELECT coalesce(sum(e.amount) FILTER (WHERE e.bucket = 'A'), 0) AS a,
               coalesce(sum(e.amount) FILTER (WHERE e.bucket = 'P'), 0) AS p
        FROM journal_entries e WHERE e.account_id = acct AND e.id >= cursor_id),
    page AS (
        SELECT e.*, row_number() OVER w AS rn,
               coalesce(sum(CASE WHEN e.bucket = 'A' THEN e.amount ELSE 0 END)
                        OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS newer_a,
               coalesce(sum(CASE WHEN e.bucket = 'P' THEN e.amount ELSE 0 END)
                        OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS newer_p
        FROM (SELECT * FROM journal_entries z WHERE z.account_id = acct AND z.id < cursor_id
              ORDER BY z.id DESC LIMIT lim + 1) e
        WINDOW w AS (ORDER BY e.id DESC))
    SELECT json_agg(json_build_object(
               'id', pg.id, 'object', 'journal_entry', 'account', pg.account_id,
               'bucket', pg.bucket::text, 'amount', pg.amount, 'currency', pg.currency,
               'ref', pg.ref_id, 'at', fs_ts(pg.created_at),
               'running_balance', bal.available - above.a - pg.newer_a,
               'running_pending', bal.pending - above.p - pg.newer_p) ORDER BY pg.rn)
               FILTER (WHERE pg.rn <= lim),
           coalesce(max(pg.rn) > lim, false),
           max(pg.id::text) FILTER (WHERE pg.rn = lim)
    INTO data, more, nxt
    FROM page pg, bal, above;
    o := 'ok';
    p := fs_admin_list(data, more, nxt);
END
$$;

-- The dead letters of one kind (or all), newest death first, keyset on
-- (dead_lettered_at, id); at most lim + 1 rows after the cursor. Each source
-- is small and read by index: payments through the outbox (payment_outbox
-- holds only payments not final, as dead_list reads them), refunds through
-- refunds_unsettled (pending/processing), webhook deliveries through
-- webhook_dead (0020_admin_views.sql), each checked against the live row.
CREATE OR REPLACE FUNCTION fs_admin_dead_rows(kinds text[], c_at timestamptz, c_id text,
                                              lim int)
RETURNS TABLE (kind text, id text, tenant text, at timestamptz, item json)
LANGUAGE plpgsql STABLE
SET enable_seqscan = off
AS $$
BEGIN
    RETURN QUERY
    SELECT x.kind, x.id, x.tenant, x.at, x.item FROM (
        (SELECT 'payment'::text AS kind, y.id, y.tenant_id AS tenant, y.dead_lettered_at AS at,
                json_build_object('object', 'dead_letter', 'kind', 'payment', 'id', y.id,
                                  'tenant', y.tenant_id,
                                  'dead_lettered_at', fs_ts(y.dead_lettered_at),
                                  'attempts', y.settle_attempts, 'last_error', y.failure_message,
                                  'payment', fs_admin_payment_json(y))
                    AS item
         FROM payments y
         WHERE 'payment' = ANY (kinds)
           AND y.id = ANY (ARRAY(SELECT ob.payment_id FROM payment_outbox ob))
           AND y.status IN ('pending', 'processing') AND y.dead_lettered_at IS NOT NULL
           AND (c_at IS NULL OR (y.dead_lettered_at, y.id) < (c_at, c_id))
         ORDER BY y.dead_lettered_at DESC, y.id DESC LIMIT lim + 1)
        UNION ALL
        (SELECT 'refund', r.id, r.tenant_id, r.dead_lettered_at,
                json_build_object('object', 'dead_letter', 'kind', 'refund', 'id', r.id,
                                  'tenant', r.tenant_id,
                                  'dead_lettered_at', fs_ts(r.dead_lettered_at),
                                  'attempts', r.settle_attempts, 'last_error', r.failure_message,
                                  'refund', fs_admin_tenanted(fs_refund_json(r), r.tenant_id))
         FROM refunds r
         WHERE 'refund' = ANY (kinds)
           AND r.status IN ('pending', 'processing') AND r.dead_lettered_at IS NOT NULL
           AND (c_at IS NULL OR (r.dead_lettered_at, r.id) < (c_at, c_id))
         ORDER BY r.dead_lettered_at DESC, r.id DESC LIMIT lim + 1)
        UNION ALL
        (SELECT 'webhook', d.id, d.tenant_id, wd.dead_at,
                json_build_object('object', 'dead_letter', 'kind', 'webhook', 'id', d.id,
                                  'tenant', d.tenant_id, 'dead_lettered_at', fs_ts(wd.dead_at),
                                  'attempts', d.attempts, 'last_error', d.last_error,
                                  'delivery', fs_admin_delivery_json(d))
         FROM webhook_dead wd JOIN webhook_deliveries d ON d.seq = wd.delivery_seq
         WHERE 'webhook' = ANY (kinds) AND d.status = 'dead'
           AND (c_at IS NULL OR wd.dead_at <= c_at)
           AND (c_at IS NULL OR (wd.dead_at, d.id) < (c_at, c_id))
         ORDER BY wd.dead_at DESC, d.id DESC LIMIT lim + 1)) x
    ORDER BY x.at DESC, x.id DESC LIMIT lim + 1;
END
$$;

-- GET /admin/api/dead-letters: kind payment | refund | webhook (all when
-- absent), newest first; starting_after is a dead letter's id.
CREATE OR REPLACE FUNCTION fs_admin_dead_letters_list(j jsonb, OUT o text, OUT p text)
LANGUAGE plpgsql
SET enable_seqscan = off
AS $$
DECLARE
    q     jsonb := coalesce(j->'params', '{}');
    lim   int;
    kinds text[] := ARRAY['payment', 'refund', 'webhook'];
    c_at  timestamptz;
    data  json;
    more  boolean;
    nxt   text;
BEGIN
    SELECT c.o, c.p INTO o, p FROM fs_admin_check_params(q, ARRAY['kind', 'limit',
                                                                  'starting_after']) c;
    IF o IS NOT NULL THEN RETURN; END IF;
    o := 'invalid_request';
    lim := fs_admin_limit(q);
    IF lim IS NULL THEN p := fs_admin_bad_limit(); RETURN; END IF;
    IF q ? 'kind' THEN
        IF q->>'kind' NOT IN ('payment', 'refund', 'webhook') THEN
            p := fs_err('kind must be payment, refund or webhook', 'kind'); RETURN;
        END IF;
        kinds := ARRAY[q->>'kind'];
    END IF;
    IF q ? 'starting_after' THEN
        -- where that dead letter stands: one of its kind's rows, if it is one
        SELECT d.at INTO c_at
        FROM fs_admin_dead_rows(kinds, NULL, NULL, 2147483646) d
        WHERE d.id = q->>'starting_after';
        IF c_at IS NULL THEN
            p := fs_err(format('No dead letter %L', q->>'starting_after'), 'starting_after');
            RETURN;
        END IF;
    END IF;
    SELECT json_agg(d.item ORDER BY d.at DESC, d.id DESC) FILTER (WHERE d.rn <= lim),
           coalesce(max(d.rn) > lim, false),
           max(d.id) FILTER (WHERE d.rn = lim)
    INTO data, more, nxt
    FROM (SELECT r.*, row_number() OVER (ORDER BY r.at DESC, r.id DESC) AS rn
          FROM fs_admin_dead_rows(kinds, c_at, q->>'starting_after', lim) r) d;
    o := 'ok';
    p := fs_admin_list(data, more, nxt);
END
$$;

-- A tenant for the console: its rate limits (null: the configured default,
-- FINSYS_RATE_LIMIT_PER_S / _BURST) and its keys counted.
CREATE OR REPLACE FUNCTION fs_admin_tenant_json(t tenants) RETURNS json
LANGUAGE plpgsql STABLE
SET enable_seqscan = off
AS $$
DECLARE
    k json;
BEGIN
    SELECT json_build_object('active', count(*) FILTER (WHERE k2.revoked_at IS NULL
                                                          AND NOT coalesce(k2.expires_at <= now(),
                                                                           false)),
                             'revoked', count(*) FILTER (WHERE k2.revoked_at IS NOT NULL),
                             'expired', count(*) FILTER (WHERE k2.revoked_at IS NULL
                                                           AND k2.expires_at <= now()),
                             'admin', count(*) FILTER (WHERE k2.revoked_at IS NULL
                                                         AND NOT coalesce(k2.expires_at <= now(),
                                                                          false)
                                                         AND k2.scope <> 'tenant'))
    INTO k FROM api_keys k2 WHERE k2.tenant_id = t.id;
    RETURN json_build_object(
        'id', t.id, 'object', 'tenant', 'name', t.name, 'created_at', fs_ts(t.created_at),
        'deposits_enabled', t.deposits_enabled,
        'rate_limit', json_build_object('per_s', t.rate_per_s, 'burst', t.rate_burst,
                                        'default', t.rate_per_s IS NULL),
        'keys', k);
END
$$;

-- GET /admin/api/tenants: newest first (keyset on (created_at, id)).
CREATE OR REPLACE FUNCTION fs_admin_tenants_list(j jsonb, OUT o text, OUT p text)
LANGUAGE plpgsql
SET enable_seqscan = on -- tenants is small and has no index on created_at
AS $$
DECLARE
    q     jsonb := coalesce(j->'params', '{}');
    lim   int;
    c     tenants;
    data  json;
    more  boolean;
    nxt   text;
BEGIN
    SELECT x.o, x.p INTO o, p FROM fs_admin_check_params(q, ARRAY['limit', 'starting_after']) x;
    IF o IS NOT NULL THEN RETURN; END IF;
    lim := fs_admin_limit(q);
    IF lim IS NULL THEN
        o := 'invalid_request'; p := fs_admin_bad_limit(); RETURN;
    END IF;
    IF q ? 'starting_after' THEN
        SELECT * INTO c FROM tenants t WHERE t.id = q->>'starting_after';
        IF NOT FOUND THEN
            o := 'invalid_request';
            p := fs_err(format('No such tenant: %L', q->>'starting_after'), 'starting_after');
            RETURN;
        END IF;
    END IF;
    SELECT json_agg(fs_admin_tenant_json(s.t) ORDER BY s.rn) FILTER (WHERE s.rn <= lim),
           coalesce(max(s.rn) > lim, false),
           max((s.t).id) FILTER (WHERE s.rn = lim)
    INTO data, more, nxt
    FROM (SELECT t, row_number() OVER (ORDER BY t.created_at DESC, t.id DESC) AS rn
          FROM tenants t
          WHERE c.id IS NULL OR (t.created_at, t.id) < (c.created_at, c.id)
          ORDER BY t.created_at DESC, t.id DESC LIMIT lim + 1) s;
    o := 'ok';
    p := fs_admin_list(data, more, nxt);
END
$$;

-- GET /admin/api/tenants/{id}/keys: the tenant's API keys, newest first, as
-- fs_api_key_json shows them (status, expires_at, rotated_to: 0028);
-- never the secret nor its hash. id and revoked_at come with the admin
-- write side (0019; 0020 adds them too if missing): a key made before has
-- no id, and starting_after may then name it by its prefix.
CREATE OR REPLACE FUNCTION fs_admin_tenant_keys(j jsonb, OUT o text, OUT p text)
LANGUAGE plpgsql
SET enable_seqscan = off
AS $$
DECLARE
    q     jsonb := coalesce(j->'params', '{}');
    lim   int;
    c     api_keys;
    data  json;
    more  boolean;
    nxt   text;
BEGIN
    SELECT x.o, x.p INTO o, p FROM fs_admin_check_params(q, ARRAY['limit', 'starting_after']) x;
    IF o IS NOT NULL THEN RETURN; END IF;
    lim := fs_admin_limit(q);
    IF lim IS NULL THEN
        o := 'invalid_request'; p := fs_admin_bad_limit(); RETURN;
    END IF;
    PERFORM FROM tenants t WHERE t.id = j->>'id';
    IF NOT FOUND THEN
        o := 'not_found'; p := fs_err(format('No such tenant: %L', j->>'id'), 'id');
        RETURN;
    END IF;
    IF q ? 'starting_after' THEN
        SELECT * INTO c FROM api_keys k
        WHERE k.tenant_id = j->>'id'
          AND (k.id = q->>'starting_after' OR (k.id IS NULL AND k.prefix = q->>'starting_after'))
        LIMIT 1;
        IF NOT FOUND THEN
            o := 'invalid_request';
            p := fs_err(format('No such key: %L', q->>'starting_after'), 'starting_after');
            RETURN;
        END IF;
    END IF;
    SELECT json_agg(fs_api_key_json(s.k) ORDER BY s.rn) FILTER (WHERE s.rn <= lim),
           coalesce(max(s.rn) > lim, false),
           max(coalesce((s.k).id, (s.k).prefix)) FILTER (WHERE s.rn = lim)
    INTO data, more, nxt
    FROM (SELECT k, row_number() OVER (ORDER BY k.created_at DESC, k.key_hash DESC) AS rn
          FROM api_keys k
          WHERE k.tenant_id = j->>'id'
            AND (c.key_hash IS NULL OR (k.created_at, k.key_hash) < (c.created_at, c.key_hash))
          ORDER BY k.created_at DESC, k.key_hash DESC LIMIT lim + 1) s;
    o := 'ok';
    p := fs_admin_list(data, more, nxt);
END
$$;

-- GET /admin/api/overview: the last FS_ADMIN_OVERVIEW_WINDOW_S (300)
-- seconds of the event log, read through its BRIN index on created_at.
--   series: per second, payment.created / .succeeded / .failed events
--   volume_by_currency: of payments created in the window (count, amount)
--     and succeeded in it (amount)
--   success_rate, decline_rate: of the payments that reached a provider's
--     answer in the window (succeeded + failed), null when none did
--   settlement_lag_ms: p50/p99 of (succeeded or failed event's time - the
--     payment's created_at), over those
--   dead_letters: counts, as fs_admin_dead_letters_list sees them
--   breaker: the worker's circuit breaker, filled in by the caller
--     ({"state":"unknown"} here: the database does not know it)
-- An event's time is its transaction's start; a transaction still running
-- adds its events to the last seconds later.
CREATE OR REPLACE FUNCTION fs_admin_overview(j jsonb, OUT o text, OUT p text)
LANGUAGE plpgsql
SET enable_seqscan = off
AS $$
DECLARE
    win    int := 300;
    t_end  timestamptz := date_trunc('second', now());
    t0     timestamptz := date_trunc('second', now()) - make_interval(secs => 300 - 1);
    series json;
    volume json;
    n_ok   bigint;
    n_fail bigint;
    p50    double precision;
    p99    double precision;
    dead   json;
BEGIN
    SELECT c.o, c.p INTO o, p FROM fs_admin_check_params(j->'params', ARRAY[]::text[]) c;
    IF o IS NOT NULL THEN RETURN; END IF;
    -- one statement, one snapshot; the window's events read once
    WITH w AS MATERIALIZED (
        SELECT e.created_at AS at, e.type, e.data->>'currency' AS currency,
               (e.data->>'amount')::bigint AS amount,
               (e.data->>'created_at')::timestamptz AS created
        FROM events e
        WHERE e.created_at >= t0
          AND e.type IN ('payment.created', 'payment.succeeded', 'payment.failed'))
    SELECT
        (SELECT json_agg(json_build_object('t', fs_ts(g.t),
                                           'created', coalesce(c.created, 0),
                                           'succeeded', coalesce(c.succeeded, 0),
                                           'failed', coalesce(c.failed, 0)) ORDER BY g.t)
         FROM generate_series(t0, t_end, interval '1 second') AS g(t)
         LEFT JOIN (SELECT date_trunc('second', w.at) AS t,
                           count(*) FILTER (WHERE w.type = 'payment.created') AS created,
                           count(*) FILTER (WHERE w.type = 'payment.succeeded') AS succeeded,
                           count(*) FILTER (WHERE w.type = 'payment.failed') AS failed
                    FROM w GROUP BY 1) c ON c.t = g.t),
        (SELECT json_agg(json_build_object('currency', v.currency,
                                           'created_amount', v.created_amount,
                                           'succeeded_amount', v.succeeded_amount,
                                           'count', v.n) ORDER BY v.currency)
         FROM (SELECT w.currency,
                      coalesce(sum(w.amount) FILTER (WHERE w.type = 'payment.created'), 0)
                          AS created_amount,
                      coalesce(sum(w.amount) FILTER (WHERE w.type = 'payment.succeeded'), 0)
                          AS succeeded_amount,
                      count(*) FILTER (WHERE w.type = 'payment.created') AS n
               FROM w GROUP BY w.currency) v),
        (SELECT count(*) FROM w WHERE w.type = 'payment.succeeded'),
        (SELECT count(*) FROM w WHERE w.type = 'payment.failed'),
        (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM w.at - w.created))
         FROM w WHERE w.type IN ('payment.succeeded', 'payment.failed')),
        (SELECT percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM w.at - w.created))
         FROM w WHERE w.type IN ('payment.succeeded', 'payment.failed'))
    INTO series, volume, n_ok, n_fail, p50, p99;

    SELECT json_build_object('payments', count(*) FILTER (WHERE d.kind = 'payment'),
                             'refunds', count(*) FILTER (WHERE d.kind = 'refund'),
                             'webhooks', count(*) FILTER (WHERE d.kind = 'webhook'))
    INTO dead
    FROM fs_admin_dead_rows(ARRAY['payment', 'refund', 'webhook'], NULL, NULL, 2147483646) d;

    o := 'ok';
    p := json_build_object(
        'object', 'overview', 'at', fs_ts(now()), 'window_s', win,
        'series', coalesce(series, '[]'::json),
        'volume_by_currency', coalesce(volume, '[]'::json),
        'success_rate', CASE WHEN n_ok + n_fail > 0 THEN round(n_ok::numeric / (n_ok + n_fail), 4) END,
        'decline_rate', CASE WHEN n_ok + n_fail > 0 THEN round(n_fail::numeric / (n_ok + n_fail), 4) END,
        'settlement_lag_ms', json_build_object('p50', round((p50 * 1000)::numeric, 1),
                                               'p99', round((p99 * 1000)::numeric, 1)),
        'dead_letters', dead,
        'breaker', json_build_object('state', 'unknown', 'since', NULL))::text;
END
$$;

-- GET /admin/api/reports/daily (role finance): the daily rollups
-- (0021_rollups.sql) of every tenant, or of one (tenant), summed by day and
-- currency, oldest first, with each currency's totals over the period.
-- params: from and to (UTC days, both included; checked and defaulted by
-- src/report, at most FS_ADMIN_REPORT_DAYS_MAX days apart), currency,
-- tenant. Rows are rendered as /v1/reports/daily's (fs_rollup_json,
-- reports.sql), and every count and volume column of daily_rollups is
-- summed, found in the catalog: the pairs a migration adds are answered too.
-- Read through the primary key's (tenant_id, day) prefix, one range per
-- tenant; the statement is planned with its values (EXECUTE).
CREATE OR REPLACE FUNCTION fs_admin_report_daily(j jsonb, OUT o text, OUT p text)
LANGUAGE plpgsql
SET enable_seqscan = on
AS $$
DECLARE
    q      jsonb := coalesce(j->'params', '{}');
    tens   text[];
    sums   text;
    data   json;
    totals json;
BEGIN
    SELECT c.o, c.p INTO o, p
    FROM fs_admin_check_params(q, ARRAY['from', 'to', 'currency', 'tenant']) c;
    IF o IS NOT NULL THEN RETURN; END IF;
    IF q ? 'tenant' THEN
        IF NOT EXISTS (SELECT 1 FROM tenants y WHERE y.id = q->>'tenant') THEN
            o := 'invalid_request';
            p := fs_err(format('No such tenant: %L', q->>'tenant'), 'tenant');
            RETURN;
        END IF;
        tens := ARRAY[q->>'tenant'];
    ELSE
        tens := ARRAY(SELECT y.id FROM tenants y ORDER BY y.id);
    END IF;
    SELECT string_agg(format('%L, sum(r.%I)', a.attname, a.attname), ', ' ORDER BY a.attnum)
    INTO sums
    FROM pg_attribute a
    WHERE a.attrelid = 'daily_rollups'::regclass AND a.attnum > 0 AND NOT a.attisdropped
      AND (a.attname LIKE '%\_count' OR a.attname LIKE '%\_volume');
    EXECUTE format(
        'SELECT json_agg(fs_rollup_json(''daily_rollup'', s.day, s.currency, s.f)'
        '                ORDER BY s.day, s.currency) FILTER (WHERE s.day IS NOT NULL),'
        '       json_agg(fs_rollup_json(''rollup_total'', NULL, s.currency, s.f)'
        '                ORDER BY s.currency) FILTER (WHERE s.day IS NULL)'
        ' FROM (SELECT r.day, r.currency, json_build_object(%s) AS f'
        '       FROM daily_rollups r'
        '       WHERE r.tenant_id = ANY ($1) AND r.day BETWEEN $2 AND $3'
        '         AND ($4::text IS NULL OR r.currency = $4)'
        '       GROUP BY GROUPING SETS ((r.day, r.currency), (r.currency))) s', sums)
    INTO data, totals
    USING tens, (q->>'from')::date, (q->>'to')::date, q->>'currency';
    o := 'ok';
    p := json_build_object(
        'object', 'daily_report', 'from', q->>'from', 'to', q->>'to',
        'currency', q->>'currency', 'tenant', q->>'tenant',
        'as_of', (SELECT fs_ts(c.updated_at) FROM feed_cursors c WHERE c.name = 'rollups'),
        'data', coalesce(data, '[]'::json), 'totals', coalesce(totals, '[]'::json))::text;
END
$$;
