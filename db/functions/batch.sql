-- batch.sql: the write path. fs_batch() executes a group of API operations in
-- one transaction (one round trip, one commit) and returns one outcome per item.
--
-- Files in db/functions hold only CREATE OR REPLACE FUNCTION: `finsys migrate`
-- applies all of them on every run, after the migrations, so a changed
-- function reaches every database without a migration of its own. (A change
-- of a function's arguments or result type needs a DROP in a migration.)
--
-- Rules that keep neighbours independent and batches deadlock-free:
-- * No business outcome raises an error: every check is an IF that yields an
--   outcome, so one item's insufficient funds never aborts the others.
-- * Idempotency keys are claimed first, in (tenant, key) order, by one INSERT
--   ... ON CONFLICT DO NOTHING. A key held by a concurrent batch makes that
--   INSERT wait for it, after which the committed record is replayed.
-- * Then every account the batch names is locked, in id order, and loaded
--   into arrays. Nothing after that waits for a key or an account another
--   batch could hold first.
-- * Items are decided one by one, in arrival order, against those arrays
--   (so each sees the balances its predecessors left), and their writes are
--   gathered into arrays that a handful of set-based statements apply at the
--   end: the cost per item is a few expressions, not a few statements.
-- Outcome names are mapped to HTTP status codes in one place:
-- src/http/outcome.c.

-- STABLE, as to_char is: a SQL function declared IMMUTABLE around a STABLE
-- one is never inlined, and each call then ran as a query of its own (about
-- 300,000 of them in a make bench life cycle).
CREATE OR REPLACE FUNCTION fs_ts(t timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;

CREATE OR REPLACE FUNCTION fs_err(message text, param text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT json_build_object('message', message, 'param', param)::text
$$;

CREATE OR REPLACE FUNCTION fs_account_json(a accounts) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', a.id, 'object', 'account', 'currency', a.currency, 'name', a.name,
        'type', a.type, 'status', a.status,
        'balance', json_build_object('available', a.available, 'pending', a.pending,
                                     'currency', a.currency),
        'metadata', a.metadata, 'created_at', fs_ts(a.created_at))
$$;

-- The status a payment was created in: requires_review when its risk rules
-- sent it to review (docs/risk.md), else pending. Its risk never changes, so
-- neither does this.
CREATE OR REPLACE FUNCTION fs_first_status(risk jsonb) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN risk->>'decision' = 'review' THEN 'requires_review' ELSE 'pending' END
$$;

CREATE OR REPLACE FUNCTION fs_payment_json(p payments) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', p.id, 'object', 'payment', 'from_account', p.from_account,
        'to_account', p.to_account, 'amount', p.amount, 'currency', p.currency,
        'amount_refunded', p.amount_refunded,
        'description', p.description, 'metadata', p.metadata, 'status', p.status,
        'failure_code', p.failure_code, 'failure_message', p.failure_message,
        'risk', p.risk, 'review', p.review,
        'created_at', fs_ts(p.created_at), 'updated_at', fs_ts(p.updated_at),
        'timeline', (jsonb_build_array(jsonb_build_object('status', fs_first_status(p.risk),
                                                          'created_at', fs_ts(p.created_at)))
                     || p.timeline)::json)
$$;

-- A step of a payment's timeline (payments.timeline, 0014_timeline.sql), to
-- append in the update that changes its status: `timeline = y.timeline ||
-- fs_step('succeeded')`.
CREATE OR REPLACE FUNCTION fs_step(status text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_array(jsonb_build_object('status', status, 'created_at', fs_ts(now())))
$$;

-- A payment as POST /v1/payments answered it when it was created: pending
-- (or requires_review), with its one timeline step. fs_batch() renders the
-- 201 with this, and a replay of it from the payment's row
-- (0016_idempotency_ref.sql), so the two are the same bytes: every argument
-- is a field that never changes.
CREATE OR REPLACE FUNCTION fs_payment_created_json(p_id text, p_from text, p_to text,
                                                   p_amount bigint, p_currency text,
                                                   p_description text, p_metadata jsonb,
                                                   p_created timestamptz,
                                                   p_risk jsonb) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', p_id, 'object', 'payment', 'from_account', p_from,
        'to_account', p_to, 'amount', p_amount, 'currency', p_currency,
        'amount_refunded', 0,
        'description', p_description, 'metadata', p_metadata,
        'status', fs_first_status(p_risk), 'failure_code', NULL, 'failure_message', NULL,
        'risk', p_risk, 'review', NULL,
        'created_at', fs_ts(p_created), 'updated_at', fs_ts(p_created),
        'timeline', json_build_array(
            json_build_object('status', fs_first_status(p_risk),
                              'created_at', fs_ts(p_created))))::text
$$;

-- What the worker reads of a payment it finished (src/worker): its status and
-- failure, and the amount and currency for its metrics. The event of the
-- change carries the whole payment (fs_payment_json).
CREATE OR REPLACE FUNCTION fs_settled_json(p payments) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', p.id, 'object', 'payment', 'amount', p.amount, 'currency', p.currency,
        'status', p.status, 'failure_code', p.failure_code,
        'failure_message', p.failure_message)
$$;

-- A page of a list: items newest first, has_more when another page follows.
CREATE OR REPLACE FUNCTION fs_list_json(data json, has_more boolean) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT json_build_object('object', 'list', 'data', coalesce(data, '[]'::json),
                             'has_more', has_more)::text
$$;

-- Window counters (accounts.win_*, 0024_risk.sql; docs/risk.md "Windows").
-- A tier is sorted bucket starts `at` and running totals `cum` at each
-- bucket's end, with `base` the total before the first kept bucket.
--
-- The total of the buckets after `cutoff` (a window's, when cutoff is the
-- last start the window excludes): one binary search (width_bucket counts
-- the starts <= cutoff) and a subtraction. Inlined by the planner (a single
-- expression), as are the three below.
CREATE OR REPLACE FUNCTION fs_rc_window(at int[], cum numeric[], base numeric, cutoff int)
RETURNS numeric
LANGUAGE sql IMMUTABLE AS $$
    SELECT cum[cardinality(cum)] - coalesce(cum[width_bucket(cutoff, at)], base)
$$;

-- A tier after adding `add` in the bucket starting at `now` (the last one
-- when it starts there or later: a transaction whose now() is a little
-- behind another's adds to the later bucket, so starts stay sorted), the
-- buckets that start at or before now - span dropped from the front: each
-- is dropped once, in the group that passes it.
CREATE OR REPLACE FUNCTION fs_rc_at(at int[], now int, span int) RETURNS int[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT (CASE WHEN at[cardinality(at)] >= now THEN at ELSE at || now END)
           [width_bucket(now - span, at) + 1 :]
$$;

CREATE OR REPLACE FUNCTION fs_rc_cum(at int[], cum numeric[], now int, span int, add numeric)
RETURNS numeric[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT (CASE WHEN at[cardinality(at)] >= now
                 THEN cum[1 : cardinality(cum) - 1] || (cum[cardinality(cum)] + add)
                 ELSE cum || (cum[cardinality(cum)] + add) END)
           [width_bucket(now - span, at) + 1 :]
$$;

-- The total before the first bucket kept by fs_rc_at.
CREATE OR REPLACE FUNCTION fs_rc_base(at int[], cum numeric[], base numeric, now int, span int)
RETURNS numeric
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(cum[width_bucket(now - span, at)], base)
$$;

CREATE OR REPLACE FUNCTION fs_batch(p_items jsonb)
RETURNS TABLE (o_idx int, o_outcome text, o_replayed boolean, o_payload text)
LANGUAGE plpgsql
-- Plan each statement once per connection: custom plans re-planned every
-- statement of every group, 15% of a small group's time under perf.
SET plan_cache_mode = force_generic_plan
-- Every table access here goes through an index. A plan made while a table
-- was empty (a new database, just vacuumed) would otherwise keep scanning it
-- whole for the connection's life as it grows: make bench measured 3,600
-- payments/s that way against 6,200 with this.
SET enable_seqscan = off
AS $$
DECLARE
    it         record;
    rec        record;
    j          jsonb;
    t          text;
    ts         text := fs_ts(now());
    owned      int[] := '{}';
    ro         boolean;           -- a read-only session's group (issue 13)
    item_tenant text[];            -- each item's tenant, from its API key
    item_admin boolean[];          -- and whether that key is an admin key
    -- each item's idempotency scope (idempotency_keys.tenant_id): its tenant,
    -- or for an admin console item (one with an "actor", docs/console.md)
    -- the actor's id (stf_... or key_...): a staff member's keys never meet
    -- a tenant's nor another actor's
    item_scope text[];
    -- the accounts the batch names, sorted by id, and their state
    acc_id     text[];
    acc_tenant text[];
    acc_cur    text[];
    acc_type   text[];
    acc_status text[];
    acc_avail  bigint[];
    acc_pend   bigint[];
    acc_dirty  boolean[];
    acc_evseq  bigint[];           -- the last event sequence number of each
    ix_from    int[];
    ix_to      int[];
    f          int;
    d          int;
    x          int;
    -- writes gathered for the end
    r_tenant   text[] := '{}';
    r_key      text[] := '{}';
    paid       int[] := '{}';    -- items whose payment is accepted
    j_acct     text[] := '{}';
    j_bucket   "char"[] := '{}';
    j_amount   bigint[] := '{}';
    j_cur      text[] := '{}';
    j_ref      text[] := '{}';
    d_id       text[] := '{}';
    d_tenant   text[] := '{}';
    d_acct     text[] := '{}';
    d_amount   bigint[] := '{}';
    d_cur      text[] := '{}';
    -- events (0002_events.sql), numbered per account through acc_evseq, with
    -- the request behind each (the item's "rid"): append with `x := <account
    -- index>; acc_evseq[x] := acc_evseq[x] + 1; acc_dirty[x] := true; e_rows
    -- := e_rows || ROW(...)::fs_event_row`
    e_rows     fs_event_row[] := '{}';
    a          accounts;
    pay        payments;
    amt        bigint;
    lim        int;
    after_seq  bigint;
    n          bigint;
    data       json;
    -- refunds (0003_refunds.sql)
    rf         refunds;
    rdata      json;
    wdata      json;               -- webhook deliveries a replay made pending
    admin_changed text;            -- accounts an admin payment action changed
    rf_pay     text[];             -- the payments of the refunds the group finishes
    ob_del     text[] := '{}';     -- payments leaving the outbox (final or canceled)
    -- the worker's claims and finishes applied set-based before the loop
    -- (step 2b): the payments done, and what the loop hands back for each
    cl_ids     text[];             -- claimed or finished by only one item of the group
    fi_ids     text[];
    cl_done    text[] := '{}';
    cl_out     text[] := '{}';
    fi_done    text[] := '{}';
    fi_rows    payments[] := '{}';
    more       boolean;
    o          text;
    p          text;
    -- risk rules (0024_risk.sql, docs/risk.md): the live rules of the
    -- group's paying tenants, sorted by tenant, each tenant's as the range
    -- rt_lo[x] .. rt_hi[x] of rt_tenant[x]; their parameters in typed arrays
    rk_n       int := 0;
    rk_id      text[];
    rk_tenant  text[];
    rk_k       int[];              -- the kind as a code: 1 amount_above .. 7 metadata_equals
    rk_action  text[];
    rk_mode    text[];
    rk_score   int[];
    rk_amount  bigint[];
    rk_cur     text[];
    rk_count   bigint[];
    rk_win     int[];              -- a velocity rule's window, minutes
    rk_age     interval[];         -- new_account_amount's account age
    rk_list    text[];
    rk_party   text[];
    rk_key     text[];
    rk_value   text[];
    rk_allowed text[];             -- ',USD,EUR,'
    rt_tenant  text[];
    rt_lo      int[];
    rt_hi      int[];
    rt_vel     boolean[];          -- the tenant has a velocity rule: count its payments
    -- each (account x, rule r)'s window count and sum at (x - 1) * rk_n + r
    -- before the group, read under the account's lock when a payment of x
    -- falls outside its bounds (acc_vread)
    vel_n      numeric[];
    vel_sum    numeric[];
    acc_created timestamptz[];
    acc_paid   boolean[];          -- made a payment earlier in the group
    acc_vread  boolean[];          -- its vel_n / vel_sum are read
    acc_mtn    numeric[];          -- its window tiers' totals: minutes' count
    acc_mts    numeric[];          -- ... and sum
    acc_htn    numeric[];          -- hours' count
    acc_hts    numeric[];          -- ... and sum
    acc_lists  text[];             -- the lists naming it, ',list,..,' (accounts.risk_lists)
    acc_rn     int[];              -- the group's accepted payments per payer
    acc_rsum   numeric[];
    any_vel    boolean := false;   -- some paying tenant has a velocity rule
    -- each tenant's bounds inside which none of its rules matches (step 2c)
    rt_ok      boolean[];          -- its bounds are made from these rules
    -- the bounds are used (finsys.risk_bounds is not 'off': the test that
    -- holds them to the rules one by one, test_risk_bounds.py, turns them off)
    rb_on      boolean;
    rt_meta    boolean[];          -- it has a metadata_equals rule
    rt_list    boolean[];          -- a listed rule
    rt_curn    int[];              -- so many currency_not_allowed rules
    rt_curok   jsonb[];            -- {currency: true} that all of them allow
    rt_amax    jsonb[];            -- {currency: lowest amount_above}
    rt_namax   jsonb[];            -- {currency: lowest new_account_amount}
    rt_nage    interval[];         -- the longest new_account_amount age
    rt_cm      bigint[];           -- the lowest velocity_count of windows <= 60 min
    rt_ch      bigint[];           -- ... > 60 min
    rt_sm      jsonb[];            -- {currency: lowest velocity_amount}, <= 60 min
    rt_sh      jsonb[];            -- ... > 60 min
    it_risk    jsonb[];            -- each accepted payment's risk, by item
    rv_items   int[] := '{}';      -- items created in requires_review
    r          int;
    v          int;
    hit        boolean;
    r_allow    boolean;
    r_block    text;               -- the first active block rule matched
    r_review   boolean;
    r_score    int;
    r_match    jsonb;
    r_risk     jsonb;
    now_min    int := floor(extract(epoch FROM now()) / 60)::int;
    -- balance alerts (docs/risk.md): each account's thresholds and side
    acc_alo    bigint[];
    acc_ahi    bigint[];
    acc_aside  "char"[];
    side       "char";
    any_alert  boolean;            -- some account of the group has a threshold
BEGIN
    -- 0. Each item's tenant, resolved once: every later step uses this array,
    --    so a key deleted while the group runs cannot split an item's effects.
    --    A revoked key is as unknown as a missing one (0019_staff.sql): the
    --    condition is checked on the row the key's index found. An item of
    --    fs_admin_payment's nested call (db/functions/admin.sql) names its
    --    payment's tenant in "as_tenant", honoured only while that function
    --    has set finsys.as_tenant. An item with an "actor" (the admin
    --    console's, src/admin) keeps its Idempotency-Key under the actor's id.
    --    An expired key (expires_at passed: the end of a rotation's overlap,
    --    0028_api_key_lifecycle.sql) is as unknown as a revoked one.
    SELECT array_agg(coalesce(k.tenant_id,
                              CASE WHEN e.j ? 'as_tenant'
                                        AND current_setting('finsys.as_tenant', true) = 'on'
                                   THEN e.j->>'as_tenant' END) ORDER BY e.n),
           -- an operator key (0030_operator_authority.sql): its scope, not
           -- the old is_admin flag, gives it authority
           array_agg(coalesce(k.scope <> 'tenant', false) ORDER BY e.n),
           array_agg(CASE WHEN e.j ? 'actor' THEN e.j->'actor'->>'id'
                          ELSE coalesce(k.tenant_id,
                                        CASE WHEN e.j ? 'as_tenant'
                                                  AND current_setting('finsys.as_tenant', true)
                                                      = 'on'
                                             THEN e.j->>'as_tenant' END) END ORDER BY e.n)
    INTO item_tenant, item_admin, item_scope
    FROM jsonb_array_elements(p_items) WITH ORDINALITY AS e(j, n)
    LEFT JOIN api_keys k ON k.key_hash = decode(e.j->>'auth', 'hex') AND k.revoked_at IS NULL
                         AND (k.expires_at IS NULL OR k.expires_at > now());

    -- A read-only session (the server's read store, issue 13: lists and
    -- searches on connections of their own) claims no key and locks no
    -- row: steps 1, 2 and 4 are skipped, and anything that would write
    -- fails as PostgreSQL refuses it in a read-only transaction.
    ro := current_setting('transaction_read_only') = 'on';

    -- 1. Claim idempotency keys in (scope, key) order (the scope is the
    --    tenant, or an admin item's actor).
    IF NOT ro THEN
        WITH item AS (
            SELECT e.n::int AS n, item_scope[e.n] AS tenant_id, e.j->>'idem' AS key,
                   decode(e.j->>'fp', 'hex') AS fp
            FROM jsonb_array_elements(p_items) WITH ORDINALITY AS e(j, n)
            WHERE e.j ? 'idem' AND item_scope[e.n] IS NOT NULL
        ), first AS (
            SELECT DISTINCT ON (item.tenant_id, item.key) * FROM item
            ORDER BY item.tenant_id, item.key, item.n
        ), ins AS (
            INSERT INTO idempotency_keys AS ik (tenant_id, key, fingerprint)
            SELECT fi.tenant_id, fi.key, fi.fp FROM first fi ORDER BY fi.tenant_id, fi.key
            ON CONFLICT DO NOTHING
            RETURNING ik.tenant_id, ik.key
        )
        SELECT coalesce(array_agg(fi.n), '{}') INTO owned
        FROM ins JOIN first fi ON fi.tenant_id = ins.tenant_id AND fi.key = ins.key;
    END IF;

    -- 2. Lock and load every account the batch names, in id order: payers,
    --    payees, deposit targets with their external counterparts, and the
    --    payers of payments to cancel. The names are gathered first: a
    --    FOR UPDATE whose WHERE holds a subquery can drop a row that another
    --    transaction updated while we waited for its lock (PostgreSQL's
    --    EvalPlanQual recheck of joins), and `id = ANY(array)` cannot.
    IF NOT ro THEN
        SELECT coalesce(array_agg(r.payment_id), '{}') INTO rf_pay FROM refunds r
        WHERE r.id = ANY (ARRAY(SELECT e.j->>'refund' FROM jsonb_array_elements(p_items) e(j)
                                WHERE e.j->>'op' = 'refund_finish'));
        SELECT array_agg(DISTINCT r.id) INTO acc_id FROM (
            SELECT e.j->>'from' AS id FROM jsonb_array_elements(p_items) e(j)
            WHERE e.j->>'op' = 'payment_create'
            UNION ALL
            SELECT e.j->>'to' FROM jsonb_array_elements(p_items) e(j)
            WHERE e.j->>'op' = 'payment_create'
            UNION ALL
            SELECT e.j->>'account' FROM jsonb_array_elements(p_items) e(j)
            WHERE e.j->>'op' = 'deposit'
            UNION ALL
            SELECT c.id FROM accounts dd
            JOIN accounts c ON c.tenant_id = dd.tenant_id AND c.currency = dd.currency
                           AND c.type = 'external'
            WHERE dd.id = ANY (ARRAY(SELECT e.j->>'account' FROM jsonb_array_elements(p_items) e(j)
                                     WHERE e.j->>'op' = 'deposit'))
            UNION ALL
            SELECT py.from_account FROM payments py
            WHERE py.id = ANY (ARRAY(SELECT e.j->>'payment' FROM jsonb_array_elements(p_items) e(j)
                                     WHERE e.j->>'op' IN ('payment_cancel', 'settle_finish',
                                                          'payment_review')))
            UNION ALL
            SELECT py.to_account FROM payments py
            WHERE py.id = ANY (ARRAY(SELECT e.j->>'payment' FROM jsonb_array_elements(p_items) e(j)
                                     WHERE e.j->>'op' = 'settle_finish'))
            UNION ALL
            -- A refund's payee and payer: named by the payment of a new refund,
            -- or through the payment of a refund being finished.
            SELECT unnest(ARRAY[py.from_account, py.to_account]) FROM payments py
            WHERE py.id = ANY (ARRAY(SELECT e.j->>'payment' FROM jsonb_array_elements(p_items) e(j)
                                     WHERE e.j->>'op' = 'refund_create') || rf_pay)) r;

        -- (in id order: the subquery's, kept by the aggregates; an ORDER BY in
        -- each would sort thirteen times)
        SELECT array_agg(l.id), array_agg(l.tenant_id), array_agg(l.currency), array_agg(l.type),
               array_agg(l.status), array_agg(l.available), array_agg(l.pending), array_agg(false),
               array_agg(l.event_seq), array_agg(l.created_at), array_agg(l.alert_below),
               array_agg(l.alert_above), array_agg(l.alert_side),
               coalesce(bool_or(l.alert_below IS NOT NULL OR l.alert_above IS NOT NULL), false),
               -- what each window tier holds in all (no window of a tier holds
               -- more): step 2c's bounds for the velocity rules
               array_agg(coalesce(l.win_m_cn[cardinality(l.win_m_cn)] - l.win_m_bn, 0)),
               array_agg(coalesce(l.win_m_cs[cardinality(l.win_m_cs)] - l.win_m_bs, 0)),
               array_agg(coalesce(l.win_h_cn[cardinality(l.win_h_cn)] - l.win_h_bn, 0)),
               array_agg(coalesce(l.win_h_cs[cardinality(l.win_h_cs)] - l.win_h_bs, 0)),
               array_agg(l.risk_lists)
        INTO acc_id, acc_tenant, acc_cur, acc_type, acc_status, acc_avail, acc_pend, acc_dirty,
             acc_evseq, acc_created, acc_alo, acc_ahi, acc_aside, any_alert,
             acc_mtn, acc_mts, acc_htn, acc_hts, acc_lists
        FROM (SELECT * FROM accounts y WHERE y.id = ANY (acc_id) ORDER BY y.id FOR UPDATE) l;

        -- Then every payment row the group changes, in id order too, so that
        -- groups claiming, finishing or canceling the same payments cannot
        -- deadlock (keys, then accounts, then payments, each in order).
        PERFORM 1 FROM payments y
        WHERE y.id = ANY (ARRAY(SELECT e.j->>'payment' FROM jsonb_array_elements(p_items) e(j)
                                WHERE e.j->>'op' IN ('payment_cancel', 'settle_claim',
                                                     'settle_finish', 'settle_dead',
                                                     'refund_create', 'payment_review'))
                          || rf_pay)
        ORDER BY y.id FOR UPDATE;
        -- And last the refund rows the group changes, in id order.
        PERFORM 1 FROM refunds y
        WHERE y.id = ANY (ARRAY(SELECT e.j->>'refund' FROM jsonb_array_elements(p_items) e(j)
                                WHERE e.j->>'op' IN ('refund_claim', 'refund_finish', 'refund_dead')))
        ORDER BY y.id FOR UPDATE;
    END IF;

    -- 2b. The worker's claims and finishes, set-based: one UPDATE for all
    --     the group's claims and one for its finishes, instead of a lookup
    --     and an UPDATE per item in the loop (each a statement of its own,
    --     most of an item's cost). Only payments no other item of the group
    --     names: anything else (a cancel or a second message for the same
    --     payment in the same group, which arrival order must decide) goes
    --     through the loop's item-by-item path, as does an approval whose
    --     payee's balance is large enough that settling might overflow. One
    --     pass over the items finds them; a group with neither (the API's)
    --     runs nothing more here.
    SELECT coalesce(array_agg(g.id) FILTER (WHERE g.op = 'settle_claim'), '{}'),
           coalesce(array_agg(g.id) FILTER (WHERE g.op = 'settle_finish'), '{}')
    INTO cl_ids, fi_ids
    FROM (SELECT e.j->>'payment' AS id, min(e.j->>'op') AS op, count(*) AS n
          FROM jsonb_array_elements(p_items) e(j)
          WHERE e.j ? 'payment' GROUP BY e.j->>'payment') g
    WHERE g.n = 1;
    IF cardinality(cl_ids) > 0 THEN
        WITH u AS (
            UPDATE payments y
            SET status = 'processing',
                settle_attempts = CASE WHEN y.status = 'pending' THEN 1
                                       ELSE y.settle_attempts + 1 END,
                updated_at = CASE WHEN y.status = 'pending' THEN now() ELSE y.updated_at END,
                timeline = CASE WHEN y.status = 'pending'
                                THEN y.timeline || fs_step('processing')
                                ELSE y.timeline END
            WHERE y.id = ANY (cl_ids) AND y.status IN ('pending', 'processing')
            RETURNING y.id, y.status, y.amount, y.currency, y.settle_attempts)
        SELECT coalesce(array_agg(u.id), '{}'),
               coalesce(array_agg(json_build_object('id', u.id, 'status', u.status,
                                                    'amount', u.amount, 'currency', u.currency,
                                                    'settle_attempts', u.settle_attempts)::text),
                        '{}')
        INTO cl_done, cl_out FROM u;
    END IF;
    IF cardinality(fi_ids) > 0 THEN
        WITH r AS (
            SELECT e.j->>'payment' AS id, e.j->>'result' = 'approved' AS ok,
                   coalesce(e.j->>'decline_code', 'declined') AS code,
                   e.j->>'decline_message' AS msg
            FROM jsonb_array_elements(p_items) e(j)
            WHERE e.j->>'op' = 'settle_finish' AND e.j->>'payment' = ANY (fi_ids)
        ), u AS (
            UPDATE payments y
            SET status = CASE WHEN r.ok THEN 'succeeded' ELSE 'failed' END,
                updated_at = now(), dead_lettered_at = NULL,
                failure_code = CASE WHEN r.ok THEN y.failure_code ELSE r.code END,
                failure_message = CASE WHEN r.ok THEN y.failure_message ELSE r.msg END,
                timeline = y.timeline
                           || fs_step(CASE WHEN r.ok THEN 'succeeded' ELSE 'failed' END)
            FROM r
            WHERE y.id = r.id AND y.id = ANY (fi_ids) AND y.status = 'processing'
              -- No overflow possible, whatever the group's order: balances
              -- below 2^61 and amounts below 2^53 (256 of them stay below 2^62).
              AND (NOT r.ok OR (y.amount < 9007199254740992
                                AND acc_avail[array_position(acc_id, y.to_account)]
                                    < 2305843009213693952
                                AND acc_pend[array_position(acc_id, y.to_account)]
                                    < 2305843009213693952))
            RETURNING y.*)
        SELECT coalesce(array_agg(u.id), '{}'), coalesce(array_agg(u::payments), '{}')
        INTO fi_done, fi_rows FROM u;
    END IF;

    -- Each item's payer (or deposit target) and payee, as indexes into acc_*.
    SELECT array_agg(fa.ix::int ORDER BY e.n), array_agg(ta.ix::int ORDER BY e.n)
    INTO ix_from, ix_to
    FROM jsonb_array_elements(p_items) WITH ORDINALITY AS e(j, n)
    LEFT JOIN unnest(acc_id) WITH ORDINALITY AS fa(id, ix)
           ON fa.id = coalesce(e.j->>'from', e.j->>'account')
    LEFT JOIN unnest(acc_id) WITH ORDINALITY AS ta(id, ix) ON ta.id = e.j->>'to';

    -- 2c. Risk rules (docs/risk.md): the live rules of the tenants making
    --     payments in this group, loaded once, with each tenant's bounds
    --     (what the accounts' rows give them, window totals and lists, came
    --     with the rows locked above). A group without payments, or whose
    --     tenants have no rules, reads one index here.
    SELECT coalesce(array_agg(k.id), '{}'), array_agg(k.tenant_id),
           array_agg(CASE k.kind WHEN 'amount_above' THEN 1 WHEN 'velocity_count' THEN 2
                                 WHEN 'velocity_amount' THEN 3 WHEN 'new_account_amount' THEN 4
                                 WHEN 'listed' THEN 5 WHEN 'currency_not_allowed' THEN 6
                                 ELSE 7 END),
           array_agg(k.action), array_agg(k.mode), array_agg(k.score),
           array_agg((k.params->>'amount')::bigint), array_agg(k.params->>'currency'),
           array_agg((k.params->>'count')::bigint),
           array_agg((k.params->>'window_minutes')::int),
           array_agg(make_interval(hours => coalesce((k.params->>'account_age_hours')::int, 24))),
           array_agg(coalesce(k.params->>'list', 'blocklist')),
           array_agg(coalesce(k.params->>'party', 'either')),
           array_agg(k.params->>'key'), array_agg(k.params->>'value'),
           array_agg(CASE WHEN k.kind = 'currency_not_allowed'
                          THEN ',' || array_to_string(ARRAY(
                                   SELECT jsonb_array_elements_text(k.params->'allowed')), ',')
                               || ',' END)
    INTO rk_id, rk_tenant, rk_k, rk_action, rk_mode, rk_score, rk_amount, rk_cur, rk_count,
         rk_win, rk_age, rk_list, rk_party, rk_key, rk_value, rk_allowed
    -- sorted once here (an ORDER BY in each aggregate sorted sixteen times)
    FROM (SELECT k.* FROM risk_rules k
          WHERE k.tenant_id = ANY (ARRAY(SELECT DISTINCT item_tenant[e.n]
                                         FROM jsonb_array_elements(p_items)
                                              WITH ORDINALITY e(j, n)
                                         WHERE e.j->>'op' = 'payment_create'))
            AND k.deleted_at IS NULL
          ORDER BY k.tenant_id, k.seq) k;
    rk_n := cardinality(rk_id);
    IF rk_n > 0 THEN
        -- Each tenant's range of rules, and the bounds inside which none of
        -- them can match (shadow ones included; risk_rule_bounds, made when
        -- the rules change): step 3 decides a payment inside them with one
        -- expression instead of a statement per rule, and runs the rules one
        -- by one only outside them (the bench's rules: 1% of its payments).
        -- Bounds made from other rules than these (rt_ok false) are not used.
        SELECT array_agg(g.t), array_agg(g.lo), array_agg(g.hi), array_agg(g.vel),
               array_agg(coalesce(g.rules = g.hi - g.lo + 1, false)),
               array_agg(g.meta), array_agg(g.list), array_agg(g.curn), array_agg(g.curok),
               array_agg(g.amax), array_agg(g.namax), array_agg(g.nage), array_agg(g.cm),
               array_agg(g.ch), array_agg(g.sm), array_agg(g.sh)
        INTO rt_tenant, rt_lo, rt_hi, rt_vel, rt_ok, rt_meta, rt_list, rt_curn, rt_curok,
             rt_amax, rt_namax, rt_nage, rt_cm, rt_ch, rt_sm, rt_sh
        -- sorted once here, as the rules above (an ORDER BY in each of the
        -- sixteen aggregates made a sort, and its memory context, for each)
        FROM (SELECT u.t, u.lo, u.hi, u.vel, b.rules, b.meta, b.list, b.curn, b.curok,
                     b.amax, b.namax, b.nage, b.cm, b.ch, b.sm, b.sh
              FROM (SELECT ug.t, min(ug.n)::int AS lo, max(ug.n)::int AS hi,
                           bool_or(ug.w IS NOT NULL) AS vel
                    FROM unnest(rk_tenant, rk_win) WITH ORDINALITY AS ug(t, w, n)
                    GROUP BY ug.t) u
              LEFT JOIN risk_rule_bounds b ON b.tenant_id = u.t
              ORDER BY u.lo) g;
        rb_on := coalesce(current_setting('finsys.risk_bounds', true), '') <> 'off';
        acc_paid := array_fill(false, ARRAY[coalesce(cardinality(acc_id), 0)]);
        acc_vread := acc_paid;
        acc_rn := array_fill(0, ARRAY[coalesce(cardinality(acc_id), 0)]);
        acc_rsum := array_fill(0::numeric, ARRAY[coalesce(cardinality(acc_id), 0)]);
        any_vel := true = ANY (rt_vel);
    END IF;

    -- 3. Decide each item in arrival order.
    FOR it IN
        SELECT e.n::int AS n, e.j
        FROM jsonb_array_elements(p_items) WITH ORDINALITY AS e(j, n)
        ORDER BY e.n
    LOOP
        o_idx := it.n - 1;
        o_replayed := false;
        j := it.j;
        t := item_tenant[it.n];
        o := NULL;

        IF j->>'op' = 'ping' THEN
            o := 'ok'; p := '{}';
        ELSIF j->>'op' = 'purge' THEN
            -- The store sends a purge alone, in its own transaction; one
            -- process purges at a time, the others skip their turn.
            n := 0;
            IF pg_try_advisory_xact_lock(727100102) THEN
                DELETE FROM idempotency_keys WHERE ctid = ANY (ARRAY(
                    SELECT ctid FROM idempotency_keys
                    WHERE created_at < now() - make_interval(hours => (j->>'hours')::int)
                    ORDER BY created_at LIMIT (j->>'max')::int));
                GET DIAGNOSTICS n = ROW_COUNT;
            END IF;
            o := 'ok'; p := json_build_object('purged', n)::text;
        ELSIF j->>'op' = 'settle_sweep' THEN
            -- The outbox sweeper: payments still pending or processing
            -- older_s seconds after their creation, whose message the broker
            -- may have lost, to publish again (consumers are idempotent). One
            -- page of at most max of each kind, in (created_at, id) order
            -- after the cursor p_after / r_after ({"at","id"}: the last row
            -- of the page before, as p_last / r_last hand it back; none: from
            -- the oldest), so the worker walks the whole outbox page after
            -- page, past rows that do not settle. p_done / r_done true skip
            -- a kind already drained. One sweeper at a time across processes:
            -- the others get none, and "locked".
            data := NULL;
            rdata := NULL;
            IF pg_try_advisory_xact_lock(727100103) THEN
                -- Each outbox row's payment by an index probe (a correlated
                -- subquery): as a join, the plan made once per connection
                -- could read every payment, 270 ms a sweep in make bench.
                -- The cursor is a range of payment_outbox_created
                -- (0027_outbox_cursor.sql).
                IF coalesce(j->>'p_done', '') <> 'true' THEN
                    SELECT json_build_object(
                               'ids', coalesce(json_agg(u.id ORDER BY u.created_at, u.id),
                                               '[]'::json),
                               'last', (array_agg(json_build_object('at', u.created_at,
                                                                    'id', u.id)
                                                  ORDER BY u.created_at DESC, u.id DESC))[1])
                    INTO data FROM (
                        SELECT ob.payment_id AS id, ob.created_at FROM payment_outbox ob
                        WHERE ob.created_at < now() - make_interval(secs => (j->>'older_s')::int)
                          AND (ob.created_at, ob.payment_id)
                              > (coalesce((j->'p_after'->>'at')::timestamptz, '-infinity'),
                                 coalesce(j->'p_after'->>'id', ''))
                          AND (SELECT y.status IN ('pending', 'processing')
                                      AND y.dead_lettered_at IS NULL
                               FROM payments y WHERE y.id = ob.payment_id)
                        ORDER BY ob.created_at, ob.payment_id
                        LIMIT (j->>'max')::int) u;
                END IF;
                -- and refunds not final (their messages carry the refund id),
                -- a range of refunds_unsettled
                IF coalesce(j->>'r_done', '') <> 'true' THEN
                    SELECT json_build_object(
                               'ids', coalesce(json_agg(u.id ORDER BY u.created_at, u.id),
                                               '[]'::json),
                               'last', (array_agg(json_build_object('at', u.created_at,
                                                                    'id', u.id)
                                                  ORDER BY u.created_at DESC, u.id DESC))[1])
                    INTO rdata FROM (
                        SELECT y.id, y.created_at FROM refunds y
                        WHERE y.status IN ('pending', 'processing')
                          AND y.created_at < now() - make_interval(secs => (j->>'older_s')::int)
                          AND (y.created_at, y.id)
                              > (coalesce((j->'r_after'->>'at')::timestamptz, '-infinity'),
                                 coalesce(j->'r_after'->>'id', ''))
                          AND y.dead_lettered_at IS NULL
                        ORDER BY y.created_at, y.id
                        LIMIT (j->>'max')::int) u;
                END IF;
                o := 'ok';
                -- (an empty page's ids are [], its last null; a kind skipped
                -- is [] and null too)
                p := json_build_object('payments', coalesce(data->'ids', '[]'::json),
                                       'refunds', coalesce(rdata->'ids', '[]'::json),
                                       'p_last', data->'last', 'r_last', rdata->'last',
                                       'locked', false)::text;
            ELSE
                o := 'ok';
                p := json_build_object('payments', '[]'::json, 'refunds', '[]'::json,
                                       'p_last', NULL, 'r_last', NULL, 'locked', true)::text;
            END IF;
        ELSIF j->>'op' = 'settle_dead' THEN
            -- The worker gave up on the payment's message: it stays processing
            -- (its fate at the provider is unknown), out of the sweeper's way.
            UPDATE payments y SET dead_lettered_at = now()
            WHERE y.id = j->>'payment' AND y.status = 'processing';
            o := 'ok'; p := '{}';
        ELSIF j->>'op' = 'settle_claim' THEN
            -- The worker's first step (no API key: only FinSys's own code
            -- makes this op). pending -> processing; a payment already
            -- processing is handed back as it is (a redelivery after a crash:
            -- the provider call is repeated with the same idempotency key),
            -- and a final one too, so the worker only acknowledges it.
            x := array_position(cl_done, j->>'payment');
            IF x IS NOT NULL THEN
                o := 'ok'; p := cl_out[x];  -- claimed in step 2b
            ELSE
                SELECT * INTO pay FROM payments y WHERE y.id = j->>'payment' FOR UPDATE;
            END IF;
            IF o IS NOT NULL THEN
                NULL;
            ELSIF NOT FOUND THEN
                o := 'not_found';
                p := fs_err(format('No such payment: %L', j->>'payment'), 'payment');
            ELSE
                IF pay.status = 'pending' THEN
                    UPDATE payments y SET status = 'processing', updated_at = now(),
                                          settle_attempts = 1,
                                          timeline = y.timeline || fs_step('processing')
                    WHERE y.id = pay.id RETURNING * INTO pay;
                ELSIF pay.status = 'processing' THEN
                    UPDATE payments y SET settle_attempts = y.settle_attempts + 1
                    WHERE y.id = pay.id RETURNING * INTO pay;
                END IF;
                -- What the worker needs for the provider call, not the whole
                -- payment (its JSON, with the timeline, cost more than the rest
                -- of the claim).
                o := 'ok';
                p := json_build_object('id', pay.id, 'status', pay.status, 'amount', pay.amount,
                                       'currency', pay.currency,
                                       'settle_attempts', pay.settle_attempts)::text;
            END IF;
        ELSIF j->>'op' = 'settle_finish' THEN
            -- The provider's answer: approved -> succeeded (the hold becomes
            -- the payee's), declined -> failed (the hold goes back). Only a
            -- processing payment changes; any other is handed back unchanged,
            -- so a redelivered answer changes nothing twice.
            x := array_position(fi_done, j->>'payment');
            IF x IS NOT NULL THEN
                pay := fi_rows[x];  -- its row changed in step 2b: the money moves here
                f := array_position(acc_id, pay.from_account);
                d := array_position(acc_id, pay.to_account);
                acc_pend[f] := acc_pend[f] - pay.amount;
                acc_dirty[f] := true;
                IF pay.status = 'succeeded' THEN
                    acc_avail[d] := acc_avail[d] + pay.amount;
                    acc_dirty[d] := true;
                    j_acct := j_acct || pay.from_account || pay.to_account;
                ELSE
                    acc_avail[f] := acc_avail[f] + pay.amount;
                    j_acct := j_acct || pay.from_account || pay.from_account;
                END IF;
                j_bucket := j_bucket || 'P'::"char" || 'A'::"char";
            ELSE
                SELECT * INTO pay FROM payments y WHERE y.id = j->>'payment' FOR UPDATE;
            END IF;
            IF x IS NOT NULL THEN
                NULL;
            ELSIF NOT FOUND THEN
                o := 'not_found';
                p := fs_err(format('No such payment: %L', j->>'payment'), 'payment');
            ELSIF pay.status <> 'processing' THEN
                o := 'ok'; p := fs_settled_json(pay)::text;
            ELSE
                f := array_position(acc_id, pay.from_account);
                d := array_position(acc_id, pay.to_account);
                IF j->>'result' = 'approved' THEN
                    IF acc_avail[d] > 9223372036854775807 - pay.amount - acc_pend[d] THEN
                        o := 'amount_too_large';
                        p := fs_err('Settling would overflow the payee''s balance.', 'amount');
                    ELSE
                        acc_pend[f] := acc_pend[f] - pay.amount;
                        acc_avail[d] := acc_avail[d] + pay.amount;
                        acc_dirty[f] := true;
                        acc_dirty[d] := true;
                        j_acct := j_acct || pay.from_account || pay.to_account;
                        j_bucket := j_bucket || 'P'::"char" || 'A'::"char";
                        UPDATE payments y SET status = 'succeeded', updated_at = now(),
                                              dead_lettered_at = NULL,
                                              timeline = y.timeline || fs_step('succeeded')
                        WHERE y.id = pay.id RETURNING * INTO pay;
                    END IF;
                ELSE
                    acc_pend[f] := acc_pend[f] - pay.amount;
                    acc_avail[f] := acc_avail[f] + pay.amount;
                    acc_dirty[f] := true;
                    j_acct := j_acct || pay.from_account || pay.from_account;
                    j_bucket := j_bucket || 'P'::"char" || 'A'::"char";
                    UPDATE payments y
                    SET status = 'failed', updated_at = now(), dead_lettered_at = NULL,
                        failure_code = coalesce(j->>'decline_code', 'declined'),
                        failure_message = j->>'decline_message',
                        timeline = y.timeline || fs_step('failed')
                    WHERE y.id = pay.id RETURNING * INTO pay;
                END IF;
                IF o IS NULL THEN
                    x := 0;  -- settled here: the rest as for those of step 2b
                END IF;
            END IF;
            IF x IS NOT NULL AND o IS NULL THEN
                j_amount := j_amount || (-pay.amount) || pay.amount;
                j_cur := j_cur || pay.currency || pay.currency;
                j_ref := j_ref || pay.id || pay.id;
                ob_del := ob_del || pay.id;
                o := 'ok'; p := fs_settled_json(pay)::text;
                -- The event carries the whole payment, as the API shows it.
                acc_evseq[f] := acc_evseq[f] + 1;
                e_rows := e_rows || ROW(pay.tenant_id, pay.from_account, acc_evseq[f],
                                        'payment.' || pay.status, pay.id,
                                        fs_payment_json(pay)::jsonb,
                                        j->>'rid')::fs_event_row;
            END IF;
        ELSIF j->>'op' = 'refund_claim' THEN
            -- The worker's first step for a refund, as settle_claim for a
            -- payment: pending -> processing, or a processing one handed
            -- back with one more attempt counted, or a final one unchanged.
            SELECT * INTO rf FROM refunds y WHERE y.id = j->>'refund';
            IF NOT FOUND THEN
                o := 'not_found';
                p := fs_err(format('No such refund: %L', j->>'refund'), 'refund');
            ELSE
                IF rf.status = 'pending' THEN
                    UPDATE refunds y SET status = 'processing', updated_at = now(),
                                         settle_attempts = 1
                    WHERE y.id = rf.id RETURNING * INTO rf;
                ELSIF rf.status = 'processing' THEN
                    UPDATE refunds y SET settle_attempts = y.settle_attempts + 1
                    WHERE y.id = rf.id RETURNING * INTO rf;
                END IF;
                o := 'ok';
                p := (fs_refund_json(rf)::jsonb
                      || jsonb_build_object('settle_attempts', rf.settle_attempts))::text;
            END IF;
        ELSIF j->>'op' = 'refund_finish' THEN
            -- The provider's answer to a refund: approved -> succeeded (the
            -- payee's hold goes to the payer), declined -> failed (the hold
            -- goes back to the payee). Only a processing refund changes.
            SELECT * INTO rf FROM refunds y WHERE y.id = j->>'refund';
            IF NOT FOUND THEN
                o := 'not_found';
                p := fs_err(format('No such refund: %L', j->>'refund'), 'refund');
            ELSIF rf.status <> 'processing' THEN
                o := 'ok'; p := fs_refund_json(rf)::text;
            ELSE
                SELECT * INTO pay FROM payments y WHERE y.id = rf.payment_id;
                f := array_position(acc_id, pay.from_account);
                d := array_position(acc_id, pay.to_account);
                amt := rf.amount;
                IF j->>'result' = 'approved' THEN
                    IF acc_avail[f] > 9223372036854775807 - amt - acc_pend[f] THEN
                        o := 'amount_too_large';
                        p := fs_err('Refunding would overflow the payer''s balance.', 'amount');
                    ELSE
                        acc_pend[d] := acc_pend[d] - amt;
                        acc_avail[f] := acc_avail[f] + amt;
                        j_acct := j_acct || pay.to_account || pay.from_account;
                        UPDATE payments y
                        SET amount_refund_pending = y.amount_refund_pending - amt,
                            amount_refunded = y.amount_refunded + amt, updated_at = now(),
                            status = CASE WHEN y.amount_refunded + amt = y.amount
                                          THEN 'refunded' ELSE y.status END,
                            timeline = CASE WHEN y.amount_refunded + amt = y.amount
                                            THEN y.timeline || fs_step('refunded')
                                            ELSE y.timeline END
                        WHERE y.id = pay.id RETURNING * INTO pay;
                        UPDATE refunds y SET status = 'succeeded', updated_at = now(),
                                             dead_lettered_at = NULL
                        WHERE y.id = rf.id RETURNING * INTO rf;
                    END IF;
                ELSE
                    acc_pend[d] := acc_pend[d] - amt;
                    acc_avail[d] := acc_avail[d] + amt;
                    j_acct := j_acct || pay.to_account || pay.to_account;
                    UPDATE payments y SET amount_refund_pending = y.amount_refund_pending - amt
                    WHERE y.id = pay.id;
                    UPDATE refunds y
                    SET status = 'failed', updated_at = now(), dead_lettered_at = NULL,
                        failure_code = coalesce(j->>'decline_code', 'declined'),
                        failure_message = j->>'decline_message'
                    WHERE y.id = rf.id RETURNING * INTO rf;
                END IF;
                IF o IS NULL THEN
                    acc_dirty[f] := true;
                    acc_dirty[d] := true;
                    j_bucket := j_bucket || 'P'::"char" || 'A'::"char";
                    j_amount := j_amount || (-amt) || amt;
                    j_cur := j_cur || rf.currency || rf.currency;
                    j_ref := j_ref || rf.id || rf.id;
                    o := 'ok'; p := fs_refund_json(rf)::text;
                    acc_evseq[f] := acc_evseq[f] + 1;
                    e_rows := e_rows || ROW(rf.tenant_id, pay.from_account, acc_evseq[f],
                                            'refund.' || rf.status, pay.id,
                                            p::jsonb, j->>'rid')::fs_event_row;
                END IF;
            END IF;
        ELSIF j->>'op' = 'refund_dead' THEN
            -- As settle_dead: the refund stays processing, out of the
            -- sweeper's way, until an operator replays it.
            UPDATE refunds y SET dead_lettered_at = now()
            WHERE y.id = j->>'refund' AND y.status = 'processing';
            o := 'ok'; p := '{}';
        ELSIF j->>'op' = 'index_run' THEN
            -- The search indexer (db/functions/search.sql), sent alone by
            -- src/search on the worker's loop.
            -- "live": also a summary of the events for the admin console's
            -- stream (src/admin), published by the worker after the commit.
            o := 'ok';
            p := fs_index_run_live((j->>'max')::int, coalesce((j->>'live')::boolean, false));
        ELSIF j->>'op' = 'rollup_run' THEN
            o := 'ok'; p := fs_rollup_run((j->>'max')::int); -- db/functions/reports.sql
        ELSIF j->>'op' = 'receipts_prepare' THEN
            -- The worker's receipts feed reader (db/functions/receipts.sql),
            -- sent alone in its own transaction.
            o := 'ok';
            p := fs_receipts_prepare((j->>'max')::int, (j->>'retry_after_s')::int)::text;
        ELSIF j->>'op' = 'receipts_stored' THEN
            o := 'ok'; p := fs_receipts_stored(j->'receipts')::text;
        ELSIF j->>'op' IN ('webhook_fanout', 'webhook_sweep', 'webhook_claim',
                           'webhook_finish') THEN
            -- The notifier's (src/notify), in db/functions/webhooks.sql.
            SELECT wh.o, wh.p INTO o, p FROM fs_webhook_internal(j) wh;
        ELSIF j->>'op' IN ('job_start', 'job_finish', 'job_run') THEN
            -- Singleton jobs under a Redis lock, fenced (db/functions/locks.sql).
            SELECT jo.o, jo.p INTO o, p FROM fs_job_op(j) jo;
        ELSIF j ? 'actor' AND j ? 'idem' AND NOT (it.n = ANY (owned)) THEN
            -- An admin console write retried under its Idempotency-Key
            -- (docs/console.md): the server authenticated the actor, whose
            -- id scopes the key; the first answer again, or 422 for another
            -- request. Secrets are never in a stored answer (the server adds
            -- them to a first answer only).
            SELECT * INTO rec FROM idempotency_keys y
            WHERE y.tenant_id = item_scope[it.n] AND y.key = j->>'idem';
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
        ELSIF j->>'op' IN ('admin_session', 'admin_login', 'admin_login_finish', 'admin_read',
                           'admin_write', 'admin_refund', 'admin_cancel', 'admin_review') THEN
            -- The admin console's (db/functions/admin.sql): the server
            -- authenticated the item's actor and checked its role.
            IF j->>'op' = 'admin_session' THEN
                SELECT ad.o, ad.p INTO o, p FROM fs_admin_session(j) ad;
            ELSIF j->>'op' = 'admin_login' THEN
                SELECT ad.o, ad.p INTO o, p FROM fs_admin_login(j) ad;
            ELSIF j->>'op' = 'admin_login_finish' THEN
                SELECT ad.o, ad.p INTO o, p FROM fs_admin_login_finish(j) ad;
            ELSIF j->>'op' = 'admin_read' THEN
                SELECT ad.o, ad.p INTO o, p FROM fs_admin_read(j) ad;
            ELSIF j->>'op' = 'admin_write' THEN
                SELECT ad.o, ad.p INTO o, p FROM fs_admin_write(j) ad;
            ELSE
                SELECT ad.o, ad.p, ad.changed INTO o, p, admin_changed
                FROM fs_admin_payment(j) ad;
            END IF;
        ELSIF t IS NULL AND NOT (j ? 'actor' AND j->>'op' IN (
                  'dead_list', 'dead_replay', 'account_adjust', 'account_freeze',
                  'account_unfreeze', 'account_close')) THEN
            o := 'unauthorized'; p := fs_err('Invalid API key provided.', NULL);
        ELSIF item_admin[it.n] AND j->>'op' NOT IN (
                  'auth', 'admin_auth', 'dead_list', 'dead_replay', 'account_adjust',
                  'account_freeze', 'account_unfreeze', 'account_close') THEN
            -- Admin API keys are the console's (docs/console.md): not /v1's.
            o := 'admin_key_scope';
            p := fs_err('An admin API key may be used only on /admin/api.', NULL);
        ELSIF j ? 'idem' AND NOT (it.n = ANY (owned)) THEN
            SELECT * INTO rec FROM idempotency_keys y WHERE y.tenant_id = t AND y.key = j->>'idem';
            IF NOT FOUND OR rec.outcome IS NULL THEN
                o := 'idempotency_key_in_use';
                p := fs_err('A request with this Idempotency-Key is still in progress; '
                            'retry later.', NULL);
            ELSIF rec.fingerprint <> decode(j->>'fp', 'hex') THEN
                o := 'idempotency_key_reuse';
                p := fs_err('This Idempotency-Key was used with a different request.', NULL);
            ELSE
                o := rec.outcome; p := rec.payload; o_replayed := true;
                IF rec.ref IS NOT NULL THEN
                    SELECT fs_payment_created_json(y.id, y.from_account, y.to_account, y.amount,
                                                   y.currency, y.description, y.metadata,
                                                   y.created_at, y.risk)
                    INTO p FROM payments y WHERE y.id = rec.ref;
                    IF NOT FOUND THEN
                        -- Made by an earlier item of this group: its row is
                        -- inserted at the end (step 4), so render it from
                        -- that item, as the item's own answer was.
                        SELECT fs_payment_created_json(e.j->>'id', e.j->>'from', e.j->>'to',
                                                       (e.j->>'amount')::bigint,
                                                       e.j->>'currency', e.j->>'description',
                                                       e.j->'metadata', now(), it_risk[e.n])
                        INTO p FROM jsonb_array_elements(p_items) WITH ORDINALITY e(j, n)
                        WHERE e.j->>'id' = rec.ref AND e.j->>'op' = 'payment_create'
                        LIMIT 1;
                    END IF;
                END IF;
            END IF;
            o_outcome := o; o_payload := p;
            RETURN NEXT;
            CONTINUE;
        END IF;

        f := ix_from[it.n];
        d := ix_to[it.n];
        IF o IS NOT NULL THEN
            NULL;

        ELSIF j->>'op' = 'auth' THEN
            -- The key's tenant and the tenant's rate limits (null: the
            -- configured defaults), which src/ratelimit caches in Redis;
            -- expires_in_ms, the key's time left when it expires (null:
            -- never), bounds how long that copy may live.
            SELECT json_build_object('tenant', y.id, 'admin', item_admin[it.n],
                                     'per_s', y.rate_per_s, 'burst', y.rate_burst,
                                     'expires_in_ms',
                                     (SELECT ceil(extract(epoch FROM kk.expires_at - now())
                                                  * 1000)::bigint
                                      FROM api_keys kk
                                      WHERE kk.key_hash = decode(j->>'auth', 'hex')))::text
            INTO p FROM tenants y WHERE y.id = t;
            o := 'ok';

        ELSIF j->>'op' IN ('dead_list', 'dead_replay')
              AND NOT (item_admin[it.n] OR j ? 'actor') THEN
            o := 'forbidden';
            p := fs_err('Only an operator key (finsys apikey create --operator ROLE) may do this.', NULL);

        ELSIF j->>'op' IN ('admin_auth', 'account_adjust', 'account_freeze',
                           'account_unfreeze', 'account_close')
              AND NOT (item_admin[it.n] OR j ? 'actor') THEN
            o := 'forbidden';
            p := fs_err('Only an operator key (finsys apikey create --operator ROLE) may do this.', NULL);

        ELSIF j->>'op' = 'admin_auth' THEN
            -- The key's id, the actor of its audit rows, and the role its
            -- scope gives it (0030_operator_authority.sql).
            SELECT json_build_object('id', k.id,
                                     'role', substr(k.scope, length('operator:') + 1))::text
            INTO p FROM api_keys k
            WHERE k.key_hash = decode(j->>'auth', 'hex');
            o := 'ok';

        ELSIF j->>'op' IN ('account_adjust', 'account_freeze', 'account_unfreeze',
                           'account_close') THEN
            -- Under the Redis lock of the account, fenced; it locks its own
            -- rows, so it must run alone (the store splits a group that
            -- fails and sends its items alone).
            IF jsonb_array_length(p_items) <> 1 THEN
                RAISE EXCEPTION 'fs_batch: % must run alone', j->>'op';
            END IF;
            -- The accounts it changed go to the caches as every group's do
            -- (step 5): a frozen account never reads as active from Redis.
            SELECT aa.o, aa.p, aa.changed INTO o, p, admin_changed FROM fs_account_admin(j) aa;

        ELSIF j->>'op' = 'dead_list' THEN
            -- Payments whose message the worker dead-lettered, of every
            -- tenant (an admin key is the operator's), newest first.
            lim := (j->>'limit')::int;
            after_seq := NULL;
            IF j ? 'after' THEN
                SELECT y.seq INTO after_seq FROM payments y
                WHERE y.id = j->>'after' AND y.dead_lettered_at IS NOT NULL;
                IF NOT FOUND THEN
                    o := 'invalid_request';
                    p := fs_err(format('No dead letter for payment %L', j->>'after'),
                                'starting_after');
                END IF;
            END IF;
            IF o IS NULL THEN
                SELECT json_agg(json_build_object(
                           'object', 'dead_letter', 'payment', fs_payment_json(s.pay),
                           'dead_lettered_at', fs_ts((s.pay).dead_lettered_at))
                           ORDER BY (s.pay).seq DESC) FILTER (WHERE s.rn <= lim),
                       coalesce(max(s.rn) > lim, false)
                INTO data, more
                FROM (SELECT y AS pay, row_number() OVER (ORDER BY y.seq DESC) AS rn
                      FROM payment_outbox ob JOIN payments y ON y.id = ob.payment_id
                      WHERE y.status IN ('pending', 'processing')
                        AND y.dead_lettered_at IS NOT NULL
                        AND y.seq < coalesce(after_seq, 9223372036854775807)
                      ORDER BY y.seq DESC LIMIT lim + 1) s;
                o := 'ok'; p := fs_list_json(data, more);
            END IF;

        ELSIF j->>'op' = 'dead_replay' THEN
            -- Clears the mark of one dead-lettered payment, or of all (at most
            -- FS_DEAD_REPLAY_MAX at once); the server then publishes each again.
            WITH u AS (
                UPDATE payments y SET dead_lettered_at = NULL
                WHERE y.id = ANY (ARRAY(
                    SELECT z.id FROM payment_outbox ob JOIN payments z ON z.id = ob.payment_id
                    WHERE z.status = 'processing' AND z.dead_lettered_at IS NOT NULL
                      AND (j->>'payment' = 'all' OR z.id = j->>'payment')
                    ORDER BY z.id LIMIT 1000))
                RETURNING y.id)
            SELECT json_agg(u.id) INTO data FROM u;
            -- and of dead-lettered refunds (their messages carry the refund id)
            WITH u AS (
                UPDATE refunds y SET dead_lettered_at = NULL
                WHERE y.id = ANY (ARRAY(
                    SELECT z.id FROM refunds z
                    WHERE z.status = 'processing' AND z.dead_lettered_at IS NOT NULL
                      AND (j->>'payment' = 'all' OR z.id = j->>'payment')
                    ORDER BY z.id LIMIT 1000))
                RETURNING y.id)
            SELECT json_agg(u.id) INTO rdata FROM u;
            -- and dead webhook deliveries, pending again (the notifier's
            -- sweeper sends them)
            WITH u AS (
                UPDATE webhook_deliveries y
                SET status = 'pending', next_attempt_at = now(), updated_at = now()
                WHERE y.seq = ANY (ARRAY(
                    SELECT z.seq FROM webhook_deliveries z
                    WHERE z.status = 'dead' AND (j->>'payment' = 'all' OR z.id = j->>'payment')
                    ORDER BY z.seq LIMIT 1000))
                RETURNING y.seq, y.id),
            due AS (
                INSERT INTO webhook_due (delivery_seq, due_at) SELECT u.seq, now() FROM u
                ON CONFLICT (delivery_seq) DO UPDATE SET due_at = now())
            SELECT json_agg(u.id) INTO wdata FROM u;
            IF data IS NULL AND rdata IS NULL AND wdata IS NULL AND j->>'payment' <> 'all' THEN
                o := 'not_found';
                -- Worded by the id's kind: the route takes refunds' and
                -- webhook deliveries' ids too.
                p := fs_err(format('No dead letter for %s %L',
                                   CASE WHEN j->>'payment' LIKE 're\_%' THEN 'refund'
                                        WHEN j->>'payment' LIKE 'whd\_%' THEN 'webhook delivery'
                                        ELSE 'payment' END, j->>'payment'), 'id');
            ELSE
                o := 'ok';
                p := json_build_object('object', 'replay',
                                       'payments', coalesce(data, '[]'::json),
                                       'refunds', coalesce(rdata, '[]'::json),
                                       'webhook_deliveries', coalesce(wdata, '[]'::json))::text;
                IF j ? 'actor' THEN
                    PERFORM fs_audit(j, 'dead_letter.replay', j->>'payment', NULL, p::jsonb);
                END IF;
            END IF;

        ELSIF j->>'op' = 'payment_create' THEN
            amt := (j->>'amount')::bigint;
            IF f IS NULL OR acc_tenant[f] <> t THEN
                o := 'not_found';
                p := fs_err(format('No such account: %L', j->>'from'), 'from_account');
            ELSIF d IS NULL OR acc_tenant[d] <> t THEN
                o := 'not_found';
                p := fs_err(format('No such account: %L', j->>'to'), 'to_account');
            ELSIF acc_type[f] = 'external' OR acc_type[d] = 'external' THEN
                o := 'invalid_request';
                p := fs_err('External accounts cannot take part in payments.',
                            CASE WHEN acc_type[f] = 'external' THEN 'from_account'
                                 ELSE 'to_account' END);
            ELSIF acc_cur[f] <> j->>'currency' OR acc_cur[d] <> j->>'currency' THEN
                o := 'currency_mismatch';
                p := fs_err(format('Both accounts must hold %s: from_account holds %s, '
                                   'to_account holds %s.',
                                   j->>'currency', acc_cur[f], acc_cur[d]), 'currency');
            ELSIF acc_status[f] <> 'active' OR acc_status[d] <> 'active' THEN
                x := CASE WHEN acc_status[f] <> 'active' THEN f ELSE d END;
                o := 'account_inactive';
                p := fs_err(format('Account %s is %s.', acc_id[x], acc_status[x]),
                            CASE WHEN x = f THEN 'from_account' ELSE 'to_account' END);
            ELSIF acc_avail[f] < amt THEN
                o := 'insufficient_funds';
                p := fs_err(format('Account %s has insufficient available funds.', acc_id[f]),
                            'amount');
            ELSE
                -- The tenant's risk rules, on the state locked above
                -- (docs/risk.md): every rule is evaluated (shadow ones too,
                -- recorded, deciding nothing); an active allow wins, then a
                -- block, then a review.
                r_risk := NULL;
                r_block := NULL;
                x := array_position(rt_tenant, t);
                IF x IS NOT NULL AND rt_ok[x] AND rb_on
                   AND NOT (rt_list[x] AND (acc_lists[f] IS NOT NULL
                                            OR acc_lists[d] IS NOT NULL))
                   AND (rt_curn[x] = 0 OR coalesce(rt_curok[x] ? acc_cur[f], false))
                   AND amt <= coalesce((rt_amax[x]->>acc_cur[f])::bigint, 9223372036854775807)
                   AND (amt <= coalesce((rt_namax[x]->>acc_cur[f])::bigint, 9223372036854775807)
                        OR acc_created[f] <= now() - rt_nage[x])
                   -- (least() skips NULLs: no such rule)
                   AND acc_rn[f] < coalesce(least(rt_cm[x] - acc_mtn[f], rt_ch[x] - acc_htn[f]),
                                            9223372036854775807)
                   AND acc_rsum[f] + amt
                       <= coalesce(least((rt_sm[x]->>acc_cur[f])::numeric - acc_mts[f],
                                         (rt_sh[x]->>acc_cur[f])::numeric - acc_hts[f]),
                                   9223372036854775807)
                   AND NOT (rt_meta[x]
                            AND coalesce(j->'metadata' ?| rk_key[rt_lo[x] : rt_hi[x]], false))
                THEN
                    -- inside its payer's bounds: no rule matches
                    r_review := false;
                    r_risk := '{"score": 0, "decision": "allow", "rules_matched": []}';
                ELSIF x IS NOT NULL THEN
                    IF rt_vel[x] AND NOT acc_vread[f] THEN
                        -- The payer's count and sum in each velocity window
                        -- of its tenant, at (payer - 1) * rk_n + rule, as
                        -- they were before this group (its payments in the
                        -- group are acc_rn / acc_rsum): one probe of its row
                        -- (locked above) and a binary search per window.
                        -- Exact: only a holder of the payer's lock changes
                        -- the row, and we hold it.
                        acc_vread[f] := true;
                        IF vel_n IS NULL THEN
                            vel_n := array_fill(0::numeric, ARRAY[cardinality(acc_id) * rk_n]);
                            vel_sum := vel_n;
                        END IF;
                        FOR rec IN
                            SELECT (f - 1) * rk_n + uk.ix AS i,
                                   CASE WHEN uk.win <= 60
                                        THEN fs_rc_window(y.win_m_at, y.win_m_cn, y.win_m_bn,
                                                          now_min - uk.win)
                                        ELSE fs_rc_window(y.win_h_at, y.win_h_cn, y.win_h_bn,
                                                          now_min / 60 - uk.win / 60) END AS n,
                                   CASE WHEN uk.win <= 60
                                        THEN fs_rc_window(y.win_m_at, y.win_m_cs, y.win_m_bs,
                                                          now_min - uk.win)
                                        ELSE fs_rc_window(y.win_h_at, y.win_h_cs, y.win_h_bs,
                                                          now_min / 60 - uk.win / 60) END AS s
                            FROM accounts y
                            JOIN unnest(rk_tenant, rk_win) WITH ORDINALITY AS uk(tenant, win, ix)
                              ON uk.tenant = t AND uk.win IS NOT NULL
                            WHERE y.id = acc_id[f] AND y.win_m_at IS NOT NULL
                        LOOP
                            vel_n[rec.i] := rec.n;
                            vel_sum[rec.i] := rec.s;
                        END LOOP;
                    END IF;
                    r_allow := false;
                    r_review := false;
                    r_score := 0;
                    r_match := '[]';
                    FOR r IN rt_lo[x] .. rt_hi[x] LOOP
                        -- One expression a rule (a chain of IFs costs a
                        -- statement per kind tried). NULL from kind 4: its
                        -- cheap conditions hold, the first-payment probe
                        -- decides. Velocity counts are the payer's before
                        -- the group (vel_*) plus its payments in the group.
                        v := (f - 1) * rk_n + r;
                        hit := CASE rk_k[r]
                            WHEN 1 THEN amt > rk_amount[r] AND acc_cur[f] = rk_cur[r]
                            WHEN 2 THEN vel_n[v] + acc_rn[f] >= rk_count[r]
                            WHEN 3 THEN vel_sum[v] + acc_rsum[f] + amt > rk_amount[r]
                                        AND acc_cur[f] = rk_cur[r]
                            WHEN 4 THEN CASE WHEN amt > rk_amount[r] AND acc_cur[f] = rk_cur[r]
                                                  AND NOT acc_paid[f]
                                                  AND acc_created[f] > now() - rk_age[r]
                                             THEN NULL ELSE false END
                            WHEN 5 THEN (rk_party[r] <> 'payee'
                                         AND strpos(acc_lists[f], ',' || rk_list[r] || ',') > 0)
                                        OR (rk_party[r] <> 'payer'
                                            AND strpos(acc_lists[d], ',' || rk_list[r] || ',')
                                                > 0)
                            WHEN 6 THEN strpos(rk_allowed[r], ',' || acc_cur[f] || ',') = 0
                            ELSE j->'metadata'->>rk_key[r] = rk_value[r] END;
                        IF hit IS NULL AND rk_k[r] = 4 THEN
                            -- a new account's large payment: its first? (an
                            -- index probe; earlier ones of the group are in
                            -- acc_paid)
                            hit := NOT EXISTS (SELECT 1 FROM payments y
                                               WHERE y.from_account = acc_id[f]);
                        END IF;
                        IF hit THEN
                            r_match := r_match || jsonb_build_object(
                                'id', rk_id[r], 'action', rk_action[r], 'mode', rk_mode[r]);
                            IF rk_mode[r] = 'active' THEN
                                r_score := r_score + rk_score[r];
                                IF rk_action[r] = 'allow' THEN
                                    r_allow := true;
                                ELSIF rk_action[r] = 'block' THEN
                                    r_block := coalesce(r_block, rk_id[r]);
                                ELSIF rk_action[r] = 'review' THEN
                                    r_review := true;
                                END IF;
                            END IF;
                        END IF;
                    END LOOP;
                    IF r_allow THEN
                        r_block := NULL;
                        r_review := false;
                    END IF;
                    IF r_match = '[]' THEN
                        r_risk := '{"score": 0, "decision": "allow", "rules_matched": []}';
                    ELSE
                        r_risk := jsonb_build_object(
                            'score', least(r_score, 100),
                            'decision', CASE WHEN r_block IS NOT NULL THEN 'block'
                                             WHEN r_review THEN 'review' ELSE 'allow' END,
                            'rules_matched', r_match);
                    END IF;
                END IF;
                IF r_block IS NOT NULL THEN
                    -- Blocked: nothing held, no payment; the attempt is an
                    -- event of the payer's, and the 402 names the rule.
                    o := 'payment_blocked';
                    p := json_build_object(
                        'message', format('This payment was blocked by risk rule %s.', r_block),
                        'param', NULL, 'rule', r_block, 'risk', r_risk)::text;
                    acc_evseq[f] := acc_evseq[f] + 1;
                    acc_dirty[f] := true;
                    e_rows := e_rows || ROW(t, acc_id[f], acc_evseq[f], 'payment.blocked',
                                            j->>'id',
                                            jsonb_build_object(
                                                'id', j->>'id', 'object', 'payment',
                                                'from_account', acc_id[f],
                                                'to_account', acc_id[d], 'amount', amt,
                                                'currency', acc_cur[f],
                                                'description', j->>'description',
                                                'metadata', j->'metadata',
                                                'status', 'blocked', 'risk', r_risk,
                                                'created_at', ts),
                                            j->>'rid')::fs_event_row;
                ELSE
                    acc_avail[f] := acc_avail[f] - amt;
                    acc_pend[f] := acc_pend[f] + amt;
                    acc_dirty[f] := true;
                    acc_evseq[f] := acc_evseq[f] + 1;
                    paid := paid || it.n;
                    o := 'created';
                    p := fs_payment_created_json(j->>'id', acc_id[f], acc_id[d], amt, acc_cur[f],
                                                 j->>'description', j->'metadata', now(),
                                                 r_risk);
                    e_rows := e_rows || ROW(t, acc_id[f], acc_evseq[f],
                                            'payment.created', j->>'id',
                                            p::jsonb, j->>'rid')::fs_event_row;
                    IF x IS NOT NULL THEN
                        it_risk[it.n] := r_risk;
                        acc_paid[f] := true;
                        IF r_review THEN
                            -- Held, not sent to settlement (no outbox row):
                            -- POST /v1/payments/{id}/review decides.
                            rv_items := rv_items || it.n;
                            acc_evseq[f] := acc_evseq[f] + 1;
                            e_rows := e_rows || ROW(t, acc_id[f], acc_evseq[f],
                                                    'payment.flagged', j->>'id',
                                                    p::jsonb, j->>'rid')::fs_event_row;
                        END IF;
                        IF rt_vel[x] THEN
                            -- one more payment in every window of the payer
                            acc_rn[f] := acc_rn[f] + 1;
                            acc_rsum[f] := acc_rsum[f] + amt;
                        END IF;
                    END IF;
                END IF;
            END IF;

        ELSIF j->>'op' = 'deposit' THEN
            amt := (j->>'amount')::bigint;
            IF f IS NULL OR acc_tenant[f] <> t THEN
                o := 'not_found'; p := fs_err(format('No such account: %L', j->>'account'), 'id');
            ELSIF NOT (SELECT y.deposits_enabled FROM tenants y WHERE y.id = t) THEN
                -- Money from a funding flow or an operator, not from any key
                -- (0030_operator_authority.sql): a tenant setting.
                o := 'deposits_disabled';
                p := fs_err('Deposits are off for this tenant (its setting deposits_enabled): '
                            'fund the account through an operator''s adjustment, or have an '
                            'operator turn them on (finsys tenant deposits --tenant NAME on).',
                            NULL);
            ELSIF acc_type[f] = 'external' THEN
                o := 'invalid_request';
                p := fs_err('The external account is the system counterpart of deposits; '
                            'it cannot receive one.', 'id');
            ELSIF acc_status[f] <> 'active' THEN
                o := 'account_inactive';
                p := fs_err(format('Account %s is %s.', acc_id[f], acc_status[f]), 'id');
            ELSE
                SELECT array_position(acc_id, y.id) INTO x FROM accounts y
                WHERE y.tenant_id = t AND y.currency = acc_cur[f] AND y.type = 'external';
                IF acc_avail[f] > 9223372036854775807 - amt - acc_pend[f]
                   OR acc_avail[x] < -9223372036854775807 + amt THEN
                    o := 'amount_too_large';
                    p := fs_err('This deposit would overflow the balance.', 'amount');
                ELSE
                    acc_avail[f] := acc_avail[f] + amt;
                    acc_avail[x] := acc_avail[x] - amt;
                    acc_dirty[f] := true;
                    acc_dirty[x] := true;
                    d_id := d_id || (j->>'id');
                    d_tenant := d_tenant || t;
                    d_acct := d_acct || acc_id[f];
                    d_amount := d_amount || amt;
                    d_cur := d_cur || acc_cur[f];
                    j_acct := j_acct || acc_id[f] || acc_id[x];
                    j_bucket := j_bucket || 'A'::"char" || 'A'::"char";
                    j_amount := j_amount || amt || (-amt);
                    j_cur := j_cur || acc_cur[f] || acc_cur[f];
                    j_ref := j_ref || (j->>'id') || (j->>'id');
                    o := 'created';
                    p := json_build_object(
                        'id', j->>'id', 'object', 'deposit', 'account', acc_id[f],
                        'amount', amt, 'currency', acc_cur[f], 'created_at', ts,
                        'balance', json_build_object('available', acc_avail[f],
                                                     'pending', acc_pend[f],
                                                     'currency', acc_cur[f]))::text;
                END IF;
            END IF;

        ELSIF j->>'op' = 'payment_cancel' THEN
            SELECT * INTO pay FROM payments y
            WHERE y.id = j->>'payment' AND y.tenant_id = t FOR UPDATE;
            IF NOT FOUND THEN
                o := 'not_found'; p := fs_err(format('No such payment: %L', j->>'payment'), 'id');
            ELSIF pay.status NOT IN ('pending', 'requires_review') THEN
                o := 'payment_not_cancelable';
                p := fs_err(format('Payment %s is %s; only a pending payment (or one in '
                                   'review) can be canceled.', pay.id, pay.status), 'id');
            ELSE
                f := array_position(acc_id, pay.from_account);
                acc_avail[f] := acc_avail[f] + pay.amount;
                acc_pend[f] := acc_pend[f] - pay.amount;
                acc_dirty[f] := true;
                j_acct := j_acct || pay.from_account || pay.from_account;
                j_bucket := j_bucket || 'P'::"char" || 'A'::"char";
                j_amount := j_amount || (-pay.amount) || pay.amount;
                j_cur := j_cur || pay.currency || pay.currency;
                j_ref := j_ref || pay.id || pay.id;
                UPDATE payments y SET status = 'canceled', updated_at = now(),
                                      timeline = y.timeline || fs_step('canceled')
                WHERE y.id = pay.id RETURNING * INTO pay;
                ob_del := ob_del || pay.id;
                o := 'ok'; p := fs_payment_json(pay)::text;
                acc_evseq[f] := acc_evseq[f] + 1;
                e_rows := e_rows || ROW(pay.tenant_id, pay.from_account, acc_evseq[f],
                                        'payment.canceled', pay.id,
                                        p::jsonb, j->>'rid')::fs_event_row;
            END IF;

        ELSIF j->>'op' = 'payment_review' THEN
            -- A payment its risk rules sent to review (docs/risk.md):
            -- approve sends it to settlement (pending, in the outbox; the
            -- server publishes it), reject releases its hold (canceled,
            -- review_rejected). Its row and payer are locked (step 2).
            SELECT * INTO pay FROM payments y
            WHERE y.id = j->>'payment' AND y.tenant_id = t FOR UPDATE;
            IF NOT FOUND THEN
                o := 'not_found'; p := fs_err(format('No such payment: %L', j->>'payment'), 'id');
            ELSIF pay.status <> 'requires_review' THEN
                o := 'payment_not_reviewable';
                p := fs_err(format('Payment %s is %s; only a payment in requires_review can be '
                                   'reviewed.', pay.id, pay.status), 'id');
            ELSE
                f := array_position(acc_id, pay.from_account);
                r_risk := jsonb_build_object('decision', j->>'decision', 'reason', j->>'reason',
                                             'reviewed_at', ts, 'actor', j->'actor'->>'id');
                IF j->>'decision' = 'approve' THEN
                    UPDATE payments y SET status = 'pending', updated_at = now(), review = r_risk,
                                          timeline = y.timeline || fs_step('pending')
                    WHERE y.id = pay.id RETURNING * INTO pay;
                    INSERT INTO payment_outbox (payment_id, created_at) VALUES (pay.id, now());
                ELSE
                    acc_avail[f] := acc_avail[f] + pay.amount;
                    acc_pend[f] := acc_pend[f] - pay.amount;
                    j_acct := j_acct || pay.from_account || pay.from_account;
                    j_bucket := j_bucket || 'P'::"char" || 'A'::"char";
                    j_amount := j_amount || (-pay.amount) || pay.amount;
                    j_cur := j_cur || pay.currency || pay.currency;
                    j_ref := j_ref || pay.id || pay.id;
                    UPDATE payments y SET status = 'canceled', updated_at = now(), review = r_risk,
                                          failure_code = 'review_rejected',
                                          failure_message = j->>'reason',
                                          timeline = y.timeline || fs_step('canceled')
                    WHERE y.id = pay.id RETURNING * INTO pay;
                END IF;
                acc_dirty[f] := true;
                o := 'ok'; p := fs_payment_json(pay)::text;
                acc_evseq[f] := acc_evseq[f] + 1;
                e_rows := e_rows || ROW(pay.tenant_id, pay.from_account, acc_evseq[f],
                                        CASE WHEN j->>'decision' = 'approve'
                                             THEN 'payment.review_approved'
                                             ELSE 'payment.review_rejected' END,
                                        pay.id, p::jsonb, j->>'rid')::fs_event_row;
            END IF;

        ELSIF j->>'op' = 'account_create' THEN
            INSERT INTO accounts (id, tenant_id, currency, name, type, metadata)
            VALUES (j->>'id', t, j->>'currency', j->>'name', j->>'type', j->'metadata')
            RETURNING * INTO a;
            o := 'created'; p := fs_account_json(a)::text;

        ELSIF j->>'op' = 'account_get' THEN
            SELECT * INTO a FROM accounts y WHERE y.id = j->>'id' AND y.tenant_id = t;
            IF NOT FOUND THEN
                o := 'not_found'; p := fs_err(format('No such account: %L', j->>'id'), 'id');
            ELSE
                o := 'ok'; p := fs_account_json(a)::text;
            END IF;

        ELSIF j->>'op' = 'account_list' THEN
            lim := (j->>'limit')::int;
            after_seq := NULL;
            IF j ? 'after' THEN
                SELECT y.seq INTO after_seq FROM accounts y
                WHERE y.id = j->>'after' AND y.tenant_id = t;
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
                FROM (SELECT y AS a, row_number() OVER (ORDER BY y.seq DESC) AS rn
                      FROM accounts y
                      WHERE y.tenant_id = t
                        AND y.seq < coalesce(after_seq, 9223372036854775807)
                      ORDER BY y.seq DESC LIMIT lim + 1) s;
                o := 'ok'; p := fs_list_json(data, more);
            END IF;

        ELSIF j->>'op' = 'event_list' THEN
            -- The tenant's events, newest first; by account, that account's
            -- events by their sequence number (the gap-free one).
            lim := (j->>'limit')::int;
            after_seq := 9223372036854775807;
            IF j ? 'after' THEN
                SELECT y.seq INTO after_seq FROM events y
                WHERE j->>'after' ~ '^evt_[0-9]{1,18}$'
                  AND y.seq = substr(j->>'after', 5)::bigint AND y.tenant_id = t;
                IF NOT FOUND THEN
                    o := 'invalid_request';
                    p := fs_err(format('No such event: %L', j->>'after'), 'starting_after');
                    -- One whose day was archived and dropped (archive.sql):
                    -- say where it went.
                    IF j->>'after' ~ '^evt_[0-9]{1,18}$' AND EXISTS (
                        SELECT 1 FROM event_archives ea
                        WHERE ea.tenant_id = t AND ea.dropped_at IS NOT NULL
                          AND substr(j->>'after', 5)::bigint
                              BETWEEN ea.first_seq AND ea.last_seq) THEN
                        p := fs_err(format('Event %s is no longer held: its day was archived '
                                           'and dropped (see the list''s "archive"); read it '
                                           'from the archive.', j->>'after'), 'starting_after');
                    END IF;
                END IF;
            END IF;
            IF o IS NULL AND j ? 'account' THEN
                SELECT json_agg(fs_event_json(s.ev) ORDER BY (s.ev).seq DESC)
                           FILTER (WHERE s.rn <= lim),
                       coalesce(max(s.rn) > lim, false)
                INTO data, more
                FROM (SELECT y AS ev, row_number() OVER (ORDER BY y.account_seq DESC) AS rn
                      FROM events y
                      WHERE y.account_id = j->>'account' AND y.tenant_id = t
                        AND y.seq < after_seq AND (NOT j ? 'type' OR y.type = j->>'type')
                      ORDER BY y.account_seq DESC LIMIT lim + 1) s;
                o := 'ok'; p := fs_event_list_json(t, data, more); -- archive.sql
            ELSIF o IS NULL AND j ? 'type' THEN
                -- One type: a page of its own index (0031_read_indexes.sql)
                -- however rare the type: the type and the cursor as one row
                -- comparison, in the index's order (see payment_list's
                -- status).
                SELECT json_agg(fs_event_json(s.ev) ORDER BY (s.ev).seq DESC)
                           FILTER (WHERE s.rn <= lim),
                       coalesce(max(s.rn) > lim, false)
                INTO data, more
                FROM (SELECT u.y AS ev, row_number() OVER (ORDER BY (u.y).seq DESC) AS rn
                      FROM (SELECT y FROM events y
                            WHERE y.tenant_id = t
                              AND (y.type, y.seq) > (j->>'type', 0)
                              AND (y.type, y.seq) < (j->>'type', after_seq)
                            ORDER BY y.type DESC, y.seq DESC
                            LIMIT lim + 1) u) s;
                o := 'ok'; p := fs_event_list_json(t, data, more); -- archive.sql
            ELSIF o IS NULL THEN
                SELECT json_agg(fs_event_json(s.ev) ORDER BY (s.ev).seq DESC)
                           FILTER (WHERE s.rn <= lim),
                       coalesce(max(s.rn) > lim, false)
                INTO data, more
                FROM (SELECT y AS ev, row_number() OVER (ORDER BY y.seq DESC) AS rn
                      FROM events y
                      WHERE y.tenant_id = t AND y.seq < after_seq
                      ORDER BY y.seq DESC LIMIT lim + 1) s;
                o := 'ok'; p := fs_event_list_json(t, data, more); -- archive.sql
            END IF;

        ELSIF j->>'op' = 'payment_get' THEN
            SELECT * INTO pay FROM payments y WHERE y.id = j->>'id' AND y.tenant_id = t;
            IF NOT FOUND THEN
                o := 'not_found'; p := fs_err(format('No such payment: %L', j->>'id'), 'id');
            ELSE
                o := 'ok'; p := fs_payment_json(pay)::text;
            END IF;

        ELSIF j->>'op' IN ('statement_get', 'report_daily') THEN
            SELECT r.o, r.p INTO o, p FROM fs_report_op(t, j) r; -- db/functions/reports.sql
        ELSIF j->>'op' = 'payment_search_list' THEN
            -- GET /v1/payments/search (db/functions/search.sql); sent alone,
            -- as every *_list is.
            SELECT * INTO o, p FROM fs_payment_search(t, j);
        ELSIF j->>'op' = 'receipt_get' THEN
            SELECT r.o, r.p INTO o, p FROM fs_receipt_get(t, j->>'id') r;

        ELSIF j->>'op' = 'payment_list' THEN
            lim := (j->>'limit')::int;
            after_seq := NULL;
            IF j ? 'after' THEN
                SELECT y.seq INTO after_seq FROM payments y
                WHERE y.id = j->>'after' AND y.tenant_id = t;
                IF NOT FOUND THEN
                    o := 'invalid_request';
                    p := fs_err(format('No such payment: %L', j->>'after'), 'starting_after');
                END IF;
            END IF;
            IF o IS NULL THEN
                -- Each form walks one index backwards from the cursor: the
                -- tenant's (of one status, when filtered), or the account's
                -- as payer and as payee. (On an account's walk the status is
                -- tested on each row: a rare one makes it long, which the
                -- read store's statement_timeout bounds, issue 13.)
                after_seq := coalesce(after_seq, 9223372036854775807);
                IF j ? 'account' THEN
                    SELECT json_agg(fs_payment_json(s.pay) ORDER BY (s.pay).seq DESC)
                               FILTER (WHERE s.rn <= lim),
                           coalesce(max(s.rn) > lim, false)
                    INTO data, more
                    FROM (SELECT u.y AS pay, row_number() OVER (ORDER BY (u.y).seq DESC) AS rn
                          FROM ((SELECT y FROM payments y
                                 WHERE y.from_account = j->>'account' AND y.seq < after_seq
                                   AND y.tenant_id = t
                                   AND (NOT j ? 'status' OR y.status = j->>'status')
                                 ORDER BY y.seq DESC LIMIT lim + 1)
                                UNION ALL
                                (SELECT y FROM payments y
                                 WHERE y.to_account = j->>'account' AND y.seq < after_seq
                                   AND y.tenant_id = t
                                   AND (NOT j ? 'status' OR y.status = j->>'status')
                                 ORDER BY y.seq DESC LIMIT lim + 1)) u
                          ORDER BY (u.y).seq DESC LIMIT lim + 1) s;
                ELSIF j ? 'status' THEN
                    -- The tenant's payments of one status: a page of their
                    -- own index (0031_read_indexes.sql), however rare the
                    -- status. The status and the cursor as one row
                    -- comparison, in the order (status, seq): only that
                    -- index gives it. With `status = ...` the order would
                    -- be seq's alone, which (tenant_id, seq) gives too, and
                    -- a generic plan that guessed the status common walked
                    -- that instead, testing each of the tenant's rows.
                    SELECT json_agg(fs_payment_json(s.pay) ORDER BY (s.pay).seq DESC)
                               FILTER (WHERE s.rn <= lim),
                           coalesce(max(s.rn) > lim, false)
                    INTO data, more
                    FROM (SELECT u.y AS pay, row_number() OVER (ORDER BY (u.y).seq DESC) AS rn
                          FROM (SELECT y FROM payments y
                                WHERE y.tenant_id = t
                                  AND (y.status, y.seq) > (j->>'status', 0)
                                  AND (y.status, y.seq) < (j->>'status', after_seq)
                                ORDER BY y.status DESC, y.seq DESC
                                LIMIT lim + 1) u) s;
                ELSE
                    SELECT json_agg(fs_payment_json(s.pay) ORDER BY (s.pay).seq DESC)
                               FILTER (WHERE s.rn <= lim),
                           coalesce(max(s.rn) > lim, false)
                    INTO data, more
                    FROM (SELECT y AS pay, row_number() OVER (ORDER BY y.seq DESC) AS rn
                          FROM payments y
                          WHERE y.tenant_id = t AND y.seq < after_seq
                          ORDER BY y.seq DESC LIMIT lim + 1) s;
                END IF;
                o := 'ok'; p := fs_list_json(data, more);
            END IF;

        ELSIF j->>'op' = 'refund_create' THEN
            -- A refund of a succeeded payment, all that remains of it or
            -- `amount`: the payee's money is held at once (available ->
            -- pending); the worker settles it with the provider. The payment
            -- row is locked (step 2), so concurrent refunds of one payment
            -- are decided one after the other against its counts.
            SELECT * INTO pay FROM payments y WHERE y.id = j->>'payment' AND y.tenant_id = t;
            IF NOT FOUND THEN
                o := 'not_found'; p := fs_err(format('No such payment: %L', j->>'payment'), 'id');
            ELSIF pay.status NOT IN ('succeeded', 'refunded') THEN
                o := 'payment_not_refundable';
                p := fs_err(format('Payment %s is %s; only a succeeded payment can be refunded.',
                                   pay.id, pay.status), 'id');
            ELSE
                f := array_position(acc_id, pay.from_account);
                d := array_position(acc_id, pay.to_account);
                n := pay.amount - pay.amount_refunded - pay.amount_refund_pending;
                amt := coalesce((j->>'amount')::bigint, n);
                IF n = 0 THEN
                    o := 'refund_exceeds_amount';
                    p := fs_err(format('Payment %s has nothing left to refund: %s of its %s are '
                                       'refunded and %s are in refunds not final yet.', pay.id,
                                       pay.amount_refunded, pay.amount,
                                       pay.amount_refund_pending), 'amount');
                ELSIF amt > n THEN
                    o := 'refund_exceeds_amount';
                    p := fs_err(format('A refund of %s exceeds what remains of payment %s: %s '
                                       '(%s refunded, %s in refunds not final yet).', amt,
                                       pay.id, n, pay.amount_refunded,
                                       pay.amount_refund_pending), 'amount');
                ELSIF (SELECT count(*) FROM (SELECT 1 FROM refunds y WHERE y.payment_id = pay.id
                                             LIMIT (j->>'max')::int) c) >= (j->>'max')::int THEN
                    o := 'payment_not_refundable';
                    p := fs_err(format('Payment %s has %s refunds, the most one payment may '
                                       'have.', pay.id, j->>'max'), 'id');
                ELSIF acc_status[f] <> 'active' OR acc_status[d] <> 'active' THEN
                    x := CASE WHEN acc_status[d] <> 'active' THEN d ELSE f END;
                    o := 'account_inactive';
                    p := fs_err(format('Account %s is %s.', acc_id[x], acc_status[x]), 'id');
                ELSIF acc_avail[d] < amt THEN
                    o := 'insufficient_funds';
                    p := fs_err(format('Account %s (the payee) has insufficient available funds '
                                       'for this refund.', acc_id[d]), 'amount');
                ELSE
                    acc_avail[d] := acc_avail[d] - amt;
                    acc_pend[d] := acc_pend[d] + amt;
                    acc_dirty[d] := true;
                    j_acct := j_acct || acc_id[d] || acc_id[d];
                    j_bucket := j_bucket || 'A'::"char" || 'P'::"char";
                    j_amount := j_amount || (-amt) || amt;
                    j_cur := j_cur || pay.currency || pay.currency;
                    j_ref := j_ref || (j->>'id') || (j->>'id');
                    UPDATE payments y SET amount_refund_pending = y.amount_refund_pending + amt
                    WHERE y.id = pay.id;
                    INSERT INTO refunds (id, payment_id, tenant_id, amount, currency, status)
                    VALUES (j->>'id', pay.id, t, amt, pay.currency, 'pending')
                    RETURNING * INTO rf;
                    o := 'created'; p := fs_refund_json(rf)::text;
                    acc_evseq[f] := acc_evseq[f] + 1;
                    acc_dirty[f] := true;
                    e_rows := e_rows || ROW(t, pay.from_account, acc_evseq[f],
                                            'refund.created', pay.id,
                                            p::jsonb, j->>'rid')::fs_event_row;
                END IF;
            END IF;

        ELSIF j->>'op' = 'refund_get' THEN
            SELECT * INTO rf FROM refunds y WHERE y.id = j->>'id' AND y.tenant_id = t;
            IF NOT FOUND THEN
                o := 'not_found'; p := fs_err(format('No such refund: %L', j->>'id'), 'id');
            ELSE
                o := 'ok'; p := fs_refund_json(rf)::text;
            END IF;

        ELSIF j->>'op' = 'reconciliation_get' THEN
            -- The tenant's share of a day's reconciliation (reconcile.sql).
            o := 'ok';
            p := fs_reconciliation_json(t, (j->>'date')::date, (j->>'limit')::int);

        ELSIF j->>'op' = 'refund_list' THEN
            -- A payment's refunds, newest first.
            lim := (j->>'limit')::int;
            after_seq := 9223372036854775807;
            PERFORM 1 FROM payments y WHERE y.id = j->>'payment' AND y.tenant_id = t;
            IF NOT FOUND THEN
                o := 'not_found'; p := fs_err(format('No such payment: %L', j->>'payment'), 'id');
            ELSIF j ? 'after' THEN
                SELECT y.seq INTO after_seq FROM refunds y
                WHERE y.id = j->>'after' AND y.payment_id = j->>'payment';
                IF NOT FOUND THEN
                    o := 'invalid_request';
                    p := fs_err(format('No such refund of this payment: %L', j->>'after'),
                                'starting_after');
                END IF;
            END IF;
            IF o IS NULL THEN
                SELECT json_agg(fs_refund_json(s.r) ORDER BY (s.r).seq DESC)
                           FILTER (WHERE s.rn <= lim),
                       coalesce(max(s.rn) > lim, false)
                INTO data, more
                FROM (SELECT y AS r, row_number() OVER (ORDER BY y.seq DESC) AS rn
                      FROM refunds y
                      WHERE y.payment_id = j->>'payment' AND y.seq < after_seq
                      ORDER BY y.seq DESC LIMIT lim + 1) s;
                o := 'ok'; p := fs_list_json(data, more);
            END IF;
        ELSIF j->>'op' IN ('webhook_endpoint_create', 'webhook_endpoint_get',
                           'webhook_endpoint_list', 'webhook_endpoint_delete') THEN
            SELECT wh.o, wh.p INTO o, p FROM fs_webhook_api(j, t) wh;
        ELSIF j->>'op' IN ('export_create', 'export_get', 'export_download') THEN
            SELECT ex.o, ex.p INTO o, p FROM fs_export_api(j, t) ex;
        ELSIF j->>'op' IN ('risk_rule_create', 'risk_rule_get', 'risk_rule_list',
                           'risk_rule_update', 'risk_rule_delete', 'risk_list_entry_create',
                           'risk_list_entry_list', 'risk_list_entry_delete',
                           'balance_alerts_set', 'balance_alerts_get') THEN
            -- Risk rules, lists and balance alerts (db/functions/risk.sql);
            -- each sent alone (FS_OPF_SOLO).
            SELECT rk.o, rk.p INTO o, p FROM fs_risk_api(j, t) rk;

        ELSE
            RAISE EXCEPTION 'fs_batch: unknown op %', j->>'op';
        END IF;

        IF NOT j ? 'idem' OR o = 'unauthorized' THEN
            NULL;
        ELSIF o IN ('invalid_request', 'currency_mismatch', 'amount_too_large', 'lock_lost',
                    'deposits_disabled')
              OR (o = 'rate_limited' AND j->>'op' = 'export_create') THEN
            -- A 400 stores nothing, wherever it was decided: the client
            -- corrects the request and retries with the same key. (So is
            -- an export refused for too many running: retried later, and
            -- a deposit refused while the tenant's deposits are off.)
            r_tenant := r_tenant || item_scope[it.n];
            r_key := r_key || (j->>'idem');
        ELSE
            -- A created payment's answer is its row as created: the record
            -- names it rather than keeping a copy (0016_idempotency_ref.sql).
            UPDATE idempotency_keys y
            SET outcome = o,
                payload = CASE WHEN o = 'created' AND j->>'op' = 'payment_create' THEN NULL
                               ELSE p END,
                ref = CASE WHEN o = 'created' AND j->>'op' = 'payment_create' THEN j->>'id' END
            WHERE y.tenant_id = item_scope[it.n] AND y.key = j->>'idem';
        END IF;
        o_outcome := o; o_payload := p;
        RETURN NEXT;
    END LOOP;
    IF ro THEN
        RETURN; -- read only: nothing was gathered to write
    END IF;

    -- 4. Apply the gathered writes. (Each claimed key's outcome was recorded
    --    in the loop, by primary key: `tenant = ANY AND key = ANY` searched
    --    the index by tenant alone, 35 ms a group under pg_stat_statements.)
    --    Rows are found by `= ANY(array)`, an index condition whatever the
    --    statistics say; a join with unnest() could be planned as a scan of
    --    the table, and these plans are made once per connection.
    --    Balance alerts (docs/risk.md), edge-triggered: an account with a
    --    threshold that this commit leaves on another side than the last
    --    commit did gets its event, once, in this transaction.
    FOR x IN 1 .. CASE WHEN any_alert THEN cardinality(acc_id) ELSE 0 END LOOP
        IF acc_dirty[x] AND (acc_alo[x] IS NOT NULL OR acc_ahi[x] IS NOT NULL) THEN
            side := CASE WHEN acc_avail[x] < acc_alo[x] THEN 'b'
                         WHEN acc_avail[x] > acc_ahi[x] THEN 'a' ELSE 'n' END;
            IF side <> acc_aside[x] THEN
                acc_aside[x] := side;
                IF side <> 'n' THEN
                    acc_evseq[x] := acc_evseq[x] + 1;
                    e_rows := e_rows || ROW(acc_tenant[x], acc_id[x], acc_evseq[x],
                                            CASE WHEN side = 'b' THEN 'account.balance_below'
                                                 ELSE 'account.balance_above' END,
                                            '',
                                            jsonb_build_object(
                                                'object', 'balance_alert',
                                                'account', acc_id[x],
                                                'available', acc_avail[x],
                                                'threshold', CASE WHEN side = 'b'
                                                                  THEN acc_alo[x]
                                                                  ELSE acc_ahi[x] END,
                                                'currency', acc_cur[x], 'created_at', ts),
                                            NULL)::fs_event_row;
                END IF;
            END IF;
        END IF;
    END LOOP;
    --    Every account the group changed but the payers whose windows it
    --    counts, then those (a statement each: the payees' rows need none of
    --    the window arithmetic): the group's payments of each payer added to
    --    its current buckets (fs_rc_*), buckets no window reaches dropped
    --    (minute buckets after an hour, hour buckets after 168: the longest
    --    window, FS_RISK_WINDOW_MINUTES_MAX in src/core/limits.h).
    UPDATE accounts y SET available = acc_avail[array_position(acc_id, y.id)],
                          pending = acc_pend[array_position(acc_id, y.id)],
                          event_seq = acc_evseq[array_position(acc_id, y.id)],
                          alert_side = acc_aside[array_position(acc_id, y.id)]
    WHERE y.id = ANY (ARRAY(SELECT u.id FROM unnest(acc_id, acc_dirty, acc_rn) AS u(id, dirty, rn)
                            WHERE u.dirty AND (NOT any_vel OR u.rn = 0)));
    UPDATE accounts y SET available = acc_avail[array_position(acc_id, y.id)],
                          pending = acc_pend[array_position(acc_id, y.id)],
                          event_seq = acc_evseq[array_position(acc_id, y.id)],
                          alert_side = acc_aside[array_position(acc_id, y.id)],
                          (win_m_at, win_m_cn, win_m_cs, win_m_bn, win_m_bs,
                           win_h_at, win_h_cn, win_h_cs, win_h_bn, win_h_bs) =
        (SELECT CASE WHEN y.win_m_at IS NULL THEN ARRAY[now_min]
                     ELSE fs_rc_at(y.win_m_at, now_min, 60) END,
                CASE WHEN y.win_m_at IS NULL THEN ARRAY[w.n::numeric]
                     ELSE fs_rc_cum(y.win_m_at, y.win_m_cn, now_min, 60, w.n) END,
                CASE WHEN y.win_m_at IS NULL THEN ARRAY[w.s]
                     ELSE fs_rc_cum(y.win_m_at, y.win_m_cs, now_min, 60, w.s) END,
                CASE WHEN y.win_m_at IS NULL THEN 0
                     ELSE fs_rc_base(y.win_m_at, y.win_m_cn, y.win_m_bn, now_min, 60) END,
                CASE WHEN y.win_m_at IS NULL THEN 0
                     ELSE fs_rc_base(y.win_m_at, y.win_m_cs, y.win_m_bs, now_min, 60) END,
                CASE WHEN y.win_h_at IS NULL THEN ARRAY[now_min / 60]
                     ELSE fs_rc_at(y.win_h_at, now_min / 60, 168) END,
                CASE WHEN y.win_h_at IS NULL THEN ARRAY[w.n::numeric]
                     ELSE fs_rc_cum(y.win_h_at, y.win_h_cn, now_min / 60, 168, w.n) END,
                CASE WHEN y.win_h_at IS NULL THEN ARRAY[w.s]
                     ELSE fs_rc_cum(y.win_h_at, y.win_h_cs, now_min / 60, 168, w.s) END,
                CASE WHEN y.win_h_at IS NULL THEN 0
                     ELSE fs_rc_base(y.win_h_at, y.win_h_cn, y.win_h_bn, now_min / 60, 168) END,
                CASE WHEN y.win_h_at IS NULL THEN 0
                     ELSE fs_rc_base(y.win_h_at, y.win_h_cs, y.win_h_bs, now_min / 60, 168) END
         FROM (SELECT acc_rn[array_position(acc_id, y.id)] AS n,
                      acc_rsum[array_position(acc_id, y.id)] AS s) w)
    WHERE any_vel
      AND y.id = ANY (ARRAY(SELECT u.id FROM unnest(acc_id, acc_rn) AS u(id, rn) WHERE u.rn > 0));
    INSERT INTO deposits (id, tenant_id, account_id, amount, currency)
    SELECT * FROM unnest(d_id, d_tenant, d_acct, d_amount, d_cur);
    --    Accepted payments and their hold entries come straight from the
    --    items (their accounts, currency and tenant were checked above).
    INSERT INTO payments (id, tenant_id, from_account, to_account, amount, currency,
                          description, metadata, status, risk, created_at, updated_at)
    SELECT e.j->>'id', item_tenant[e.n], e.j->>'from', e.j->>'to', (e.j->>'amount')::bigint,
           e.j->>'currency', e.j->>'description', e.j->'metadata',
           CASE WHEN e.n = ANY (rv_items) THEN 'requires_review' ELSE 'pending' END,
           it_risk[e.n], now(), now()
    FROM jsonb_array_elements(p_items) WITH ORDINALITY AS e(j, n)
    WHERE e.n = ANY (paid);
    --    The outbox (0012_hot_status.sql): in with the payment, out when it
    --    is final or canceled. A payment in review goes in when approved.
    INSERT INTO payment_outbox (payment_id, created_at)
    SELECT e.j->>'id', now() FROM jsonb_array_elements(p_items) WITH ORDINALITY AS e(j, n)
    WHERE e.n = ANY (paid) AND NOT e.n = ANY (rv_items);
    DELETE FROM payment_outbox ob WHERE ob.payment_id = ANY (ob_del);
    INSERT INTO journal_entries (account_id, bucket, amount, currency, ref_id)
    SELECT e.j->>'from', l.bucket, l.sign * (e.j->>'amount')::bigint, e.j->>'currency',
           e.j->>'id'
    FROM jsonb_array_elements(p_items) WITH ORDINALITY AS e(j, n)
    CROSS JOIN (VALUES ('A'::"char", -1), ('P'::"char", 1)) AS l(bucket, sign)
    WHERE e.n = ANY (paid);
    INSERT INTO journal_entries (account_id, bucket, amount, currency, ref_id)
    SELECT * FROM unnest(j_acct, j_bucket, j_amount, j_cur, j_ref);
    INSERT INTO events (tenant_id, account_id, account_seq, type, payment_id, data, request_id)
    SELECT * FROM unnest(e_rows);
    FOR x IN 1 .. coalesce(array_length(r_key, 1), 0) LOOP
        DELETE FROM idempotency_keys y WHERE y.tenant_id = r_tenant[x] AND y.key = r_key[x];
    END LOOP;

    -- 5. The accounts the group changed, in a row of their own (o_idx -1,
    --    which no item has): once the group has committed, the store hands
    --    them to the caches (src/cache), which invalidate what they hold of
    --    them. Every write to an account above sets its acc_dirty. Only for
    --    a session that asks (the store sets finsys.report_changes): other
    --    callers (psql, the tests) see one row per item, as ever.
    SELECT json_agg(c.id)::text INTO o_payload FROM (
        SELECT u.id FROM unnest(acc_id, acc_dirty) AS u(id, dirty) WHERE u.dirty
        UNION
        SELECT x.id FROM json_array_elements_text(admin_changed::json) x(id)) c;
    IF o_payload IS NOT NULL
       AND coalesce(current_setting('finsys.report_changes', true), '') = 'on' THEN
        o_idx := -1; o_outcome := 'accounts_changed'; o_replayed := false;
        RETURN NEXT;
    END IF;
END
$$;
