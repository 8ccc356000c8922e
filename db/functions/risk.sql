-- risk.sql: the management API of risk rules, risk lists and balance alert
-- thresholds (0024_risk.sql, docs/risk.md). The rules themselves are decided
-- by the write path (batch.sql, step 3), never here.
--
--   fs_risk_api(item, tenant)   the API's ops, for the key's tenant:
--                               risk_rule_create, _get, _list, _update,
--                               _delete; risk_list_entry_create, _list,
--                               _delete; balance_alerts_set, _get
--   fs_risk_admin_write(item)   the console's writes (fs_admin_write's
--                               risk_rule.* and risk_list_entry.* actions):
--                               the same ops on the tenant of the path or of
--                               the object, each with its audit row
--   fs_admin_risk_rules(item), fs_admin_risk_lists(item)
--                               the console's reads (fs_admin_read's fns
--                               risk_rules and risk_lists)
--
-- src/risk checked every field (params exactly as the kind's, defaults
-- filled) and made the ids. Every op runs alone in its own transaction
-- (FS_OPF_SOLO, src/op/op.c): a group of fs_batch loads its tenants' rules
-- once and writes its accounts back from arrays, so a change made inside a
-- group would be missed or overwritten. No business outcome raises; each op
-- answers an outcome o and a payload p, as fs_batch's items do. Every row is
-- found through an index (the plans are made once per connection).

CREATE OR REPLACE FUNCTION fs_risk_rule_json(r risk_rules) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', r.id, 'object', 'risk_rule', 'name', r.name, 'kind', r.kind, 'params', r.params,
        'action', r.action, 'mode', r.mode, 'score', r.score,
        'created_at', fs_ts(r.created_at), 'updated_at', fs_ts(r.updated_at))
$$;

CREATE OR REPLACE FUNCTION fs_risk_list_entry_json(e risk_list_entries) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', e.id, 'object', 'risk_list_entry', 'list', e.list, 'value', e.value,
        'reason', e.reason, 'created_at', fs_ts(e.created_at))
$$;

-- An account's thresholds and the side its available balance was on at the
-- last commit that changed it (or when the thresholds were set).
CREATE OR REPLACE FUNCTION fs_balance_alerts_json(a accounts) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'object', 'balance_alerts', 'account', a.id, 'below', a.alert_below,
        'above', a.alert_above,
        'side', CASE a.alert_side WHEN 'b' THEN 'below' WHEN 'a' THEN 'above' ELSE 'between' END,
        'available', a.available, 'currency', a.currency)
$$;

-- --- rules ----------------------------------------------------------------

-- A page of the tenant's live rules, newest first (risk_rules_live). o is
-- 'invalid_request' (with p) when after_id names no live rule of the tenant.
CREATE OR REPLACE FUNCTION fs_risk_rule_page(t text, lim int, after_id text, OUT o text,
                                             OUT p text, OUT data json, OUT more boolean)
LANGUAGE plpgsql
SET enable_seqscan = off
AS $$
DECLARE
    after_seq bigint := 9223372036854775807;
BEGIN
    IF after_id IS NOT NULL THEN
        SELECT y.seq INTO after_seq FROM risk_rules y
        WHERE y.id = after_id AND y.tenant_id = t AND y.deleted_at IS NULL;
        IF NOT FOUND THEN
            o := 'invalid_request';
            p := fs_err(format('No such risk rule: %L', after_id), 'starting_after');
            RETURN;
        END IF;
    END IF;
    SELECT json_agg(fs_risk_rule_json(s.r) ORDER BY (s.r).seq DESC) FILTER (WHERE s.rn <= lim),
           coalesce(max(s.rn) > lim, false)
    INTO data, more
    FROM (SELECT y AS r, row_number() OVER (ORDER BY y.seq DESC) AS rn
          FROM risk_rules y
          WHERE y.tenant_id = t AND y.deleted_at IS NULL AND y.seq < after_seq
          ORDER BY y.seq DESC LIMIT lim + 1) s;
    o := 'ok';
END
$$;

CREATE OR REPLACE FUNCTION fs_risk_rule_create(j jsonb, t text, OUT o text, OUT p text)
LANGUAGE plpgsql
SET enable_seqscan = off
AS $$
DECLARE
    r    risk_rules;
    n    bigint;
    spec jsonb := j->'rule';
BEGIN
    -- The count and the insert under one lock per tenant, so that two
    -- creations at once cannot both take the last place.
    PERFORM pg_advisory_xact_lock(727100124, hashtext(t));
    SELECT count(*) INTO n FROM risk_rules y WHERE y.tenant_id = t AND y.deleted_at IS NULL;
    IF n >= (j->>'max')::int THEN
        o := 'invalid_request';
        p := fs_err(format('A tenant may have at most %s live risk rules (every payment is '
                           'decided against each); delete one first.', j->>'max'), NULL);
        RETURN;
    END IF;
    INSERT INTO risk_rules (id, tenant_id, name, kind, params, action, mode, score)
    VALUES (j->>'id', t, spec->>'name', spec->>'kind', spec->'params', spec->>'action',
            spec->>'mode', (spec->>'score')::int)
    RETURNING * INTO r;
    o := 'created'; p := fs_risk_rule_json(r)::text;
END
$$;

-- PATCH: the fields given; the kind is fixed. src/risk checked params
-- against every kind when the request did not name the rule's: the rule's
-- own kind picks the params, or the error, it made for that kind.
CREATE OR REPLACE FUNCTION fs_risk_rule_update(j jsonb, t text, OUT o text, OUT p text)
LANGUAGE plpgsql
SET enable_seqscan = off
AS $$
DECLARE
    r          risk_rules;
    spec       jsonb := j->'rule';
    new_params jsonb;
BEGIN
    SELECT * INTO r FROM risk_rules y
    WHERE y.id = j->>'id' AND y.tenant_id = t AND y.deleted_at IS NULL FOR UPDATE;
    IF NOT FOUND THEN
        o := 'not_found'; p := fs_err(format('No such risk rule: %L', j->>'id'), 'id');
        RETURN;
    END IF;
    IF spec ? 'kind' AND spec->>'kind' <> r.kind THEN
        o := 'invalid_request';
        p := fs_err(format('A rule''s kind cannot change: %s is a %s rule. Create a %s rule '
                           'and delete this one.', r.id, r.kind, spec->>'kind'), 'kind');
        RETURN;
    END IF;
    new_params := r.params;
    IF spec ? 'params_by_kind' THEN
        IF NOT ((spec->'params_by_kind') ? r.kind) THEN
            o := 'invalid_request';
            p := fs_err(spec->'params_errors'->r.kind->>'message',
                        spec->'params_errors'->r.kind->>'param');
            RETURN;
        END IF;
        new_params := spec->'params_by_kind'->r.kind;
    END IF;
    UPDATE risk_rules y
    SET name = CASE WHEN spec ? 'name' THEN spec->>'name' ELSE y.name END,
        params = new_params,
        action = coalesce(spec->>'action', y.action),
        mode = coalesce(spec->>'mode', y.mode),
        score = coalesce((spec->>'score')::int, y.score),
        updated_at = now()
    WHERE y.id = r.id
    RETURNING * INTO r;
    o := 'ok'; p := fs_risk_rule_json(r)::text;
END
$$;

-- A soft delete: payments name the rules that matched them, so the row
-- stays (deleted_at) to explain them; the rule no longer decides anything,
-- is no longer listed and is 404 by id. Deleting again is 404.
CREATE OR REPLACE FUNCTION fs_risk_rule_delete(j jsonb, t text, OUT o text, OUT p text)
LANGUAGE plpgsql
SET enable_seqscan = off
AS $$
DECLARE
    r risk_rules;
BEGIN
    UPDATE risk_rules y SET deleted_at = now()
    WHERE y.id = j->>'id' AND y.tenant_id = t AND y.deleted_at IS NULL
    RETURNING * INTO r;
    IF NOT FOUND THEN
        o := 'not_found'; p := fs_err(format('No such risk rule: %L', j->>'id'), 'id');
        RETURN;
    END IF;
    o := 'ok'; p := json_build_object('id', r.id, 'object', 'risk_rule', 'deleted', true)::text;
END
$$;

-- --- lists ----------------------------------------------------------------

-- A page of the tenant's list entries (of one list when list is not null),
-- newest first (risk_list_entries_tenant_seq).
CREATE OR REPLACE FUNCTION fs_risk_list_entry_page(t text, lim int, after_id text, list_name text,
                                                   OUT o text, OUT p text, OUT data json,
                                                   OUT more boolean)
LANGUAGE plpgsql
SET enable_seqscan = off
AS $$
DECLARE
    after_seq bigint := 9223372036854775807;
BEGIN
    IF after_id IS NOT NULL THEN
        SELECT y.seq INTO after_seq FROM risk_list_entries y
        WHERE y.id = after_id AND y.tenant_id = t;
        IF NOT FOUND THEN
            o := 'invalid_request';
            p := fs_err(format('No such risk list entry: %L', after_id), 'starting_after');
            RETURN;
        END IF;
    END IF;
    SELECT json_agg(fs_risk_list_entry_json(s.e) ORDER BY (s.e).seq DESC)
               FILTER (WHERE s.rn <= lim),
           coalesce(max(s.rn) > lim, false)
    INTO data, more
    FROM (SELECT y AS e, row_number() OVER (ORDER BY y.seq DESC) AS rn
          FROM risk_list_entries y
          WHERE y.tenant_id = t AND y.seq < after_seq
            AND (list_name IS NULL OR y.list = list_name)
          ORDER BY y.seq DESC LIMIT lim + 1) s;
    o := 'ok';
END
$$;

-- An account of the tenant on a list, once: the same value twice on one
-- list is 409 naming the entry it has.
CREATE OR REPLACE FUNCTION fs_risk_list_entry_create(j jsonb, t text, OUT o text, OUT p text)
LANGUAGE plpgsql
SET enable_seqscan = off
AS $$
DECLARE
    e     risk_list_entries;
    entry jsonb := j->'entry';
    n     bigint;
    other text;
BEGIN
    PERFORM 1 FROM accounts a WHERE a.id = entry->>'value' AND a.tenant_id = t;
    IF NOT FOUND THEN
        o := 'not_found'; p := fs_err(format('No such account: %L', entry->>'value'), 'value');
        RETURN;
    END IF;
    -- The checks and the insert under one lock per tenant, so that two
    -- creations at once cannot both take the last place or the same value.
    PERFORM pg_advisory_xact_lock(727100125, hashtext(t));
    SELECT y.id INTO other FROM risk_list_entries y
    WHERE y.tenant_id = t AND y.list = entry->>'list' AND y.value = entry->>'value';
    IF FOUND THEN
        o := 'risk_list_entry_exists';
        p := fs_err(format('Account %s is already on the list %s (entry %s).', entry->>'value',
                           entry->>'list', other), 'value');
        RETURN;
    END IF;
    SELECT count(*) INTO n FROM (SELECT 1 FROM risk_list_entries y WHERE y.tenant_id = t
                                 LIMIT (j->>'max')::int) c;
    IF n >= (j->>'max')::int THEN
        o := 'invalid_request';
        p := fs_err(format('A tenant may have at most %s risk list entries; delete some first.',
                           j->>'max'), NULL);
        RETURN;
    END IF;
    INSERT INTO risk_list_entries (id, tenant_id, list, value, reason)
    VALUES (j->>'id', t, entry->>'list', entry->>'value', entry->>'reason')
    RETURNING * INTO e;
    o := 'created'; p := fs_risk_list_entry_json(e)::text;
END
$$;

CREATE OR REPLACE FUNCTION fs_risk_list_entry_delete(j jsonb, t text, OUT o text, OUT p text)
LANGUAGE plpgsql
SET enable_seqscan = off
AS $$
DECLARE
    e risk_list_entries;
BEGIN
    DELETE FROM risk_list_entries y WHERE y.id = j->>'id' AND y.tenant_id = t RETURNING * INTO e;
    IF NOT FOUND THEN
        o := 'not_found'; p := fs_err(format('No such risk list entry: %L', j->>'id'), 'id');
        RETURN;
    END IF;
    o := 'ok';
    p := json_build_object('id', e.id, 'object', 'risk_list_entry', 'deleted', true)::text;
END
$$;

-- --- balance alerts -------------------------------------------------------

-- The thresholds, and the side the available balance is on now, recorded
-- under the account's row lock without an event: the write path emits one
-- only when a later commit moves the balance to another side.
CREATE OR REPLACE FUNCTION fs_balance_alerts_set(j jsonb, t text, OUT o text, OUT p text)
LANGUAGE plpgsql
SET enable_seqscan = off
AS $$
DECLARE
    a     accounts;
    below bigint := (j->>'below')::bigint;
    above bigint := (j->>'above')::bigint;
BEGIN
    SELECT * INTO a FROM accounts y WHERE y.id = j->>'account' AND y.tenant_id = t FOR UPDATE;
    IF NOT FOUND THEN
        o := 'not_found'; p := fs_err(format('No such account: %L', j->>'account'), 'id');
        RETURN;
    END IF;
    UPDATE accounts y
    SET alert_below = below, alert_above = above,
        alert_side = CASE WHEN y.available < below THEN 'b'
                          WHEN y.available > above THEN 'a'
                          ELSE 'n' END
    WHERE y.id = a.id
    RETURNING * INTO a;
    o := 'ok'; p := fs_balance_alerts_json(a)::text;
END
$$;

-- --- the API's dispatch ---------------------------------------------------

CREATE OR REPLACE FUNCTION fs_risk_api(j jsonb, t text)
RETURNS TABLE (o text, p text)
LANGUAGE plpgsql
SET enable_seqscan = off
AS $$
DECLARE
    a    accounts;
    pg   record;
BEGIN
    CASE j->>'op'
    WHEN 'risk_rule_create' THEN
        RETURN QUERY SELECT r.o, r.p FROM fs_risk_rule_create(j, t) r;
    WHEN 'risk_rule_update' THEN
        RETURN QUERY SELECT r.o, r.p FROM fs_risk_rule_update(j, t) r;
    WHEN 'risk_rule_delete' THEN
        RETURN QUERY SELECT r.o, r.p FROM fs_risk_rule_delete(j, t) r;
    WHEN 'risk_rule_get' THEN
        RETURN QUERY
        SELECT 'ok', fs_risk_rule_json(y)::text FROM risk_rules y
        WHERE y.id = j->>'id' AND y.tenant_id = t AND y.deleted_at IS NULL;
        IF NOT FOUND THEN
            RETURN QUERY SELECT 'not_found', fs_err(format('No such risk rule: %L', j->>'id'),
                                                    'id');
        END IF;
    WHEN 'risk_rule_list' THEN
        SELECT * INTO pg FROM fs_risk_rule_page(t, (j->>'limit')::int, j->>'after') r;
        RETURN QUERY SELECT pg.o, coalesce(pg.p, fs_list_json(pg.data, pg.more));
    WHEN 'risk_list_entry_create' THEN
        RETURN QUERY SELECT r.o, r.p FROM fs_risk_list_entry_create(j, t) r;
    WHEN 'risk_list_entry_delete' THEN
        RETURN QUERY SELECT r.o, r.p FROM fs_risk_list_entry_delete(j, t) r;
    WHEN 'risk_list_entry_list' THEN
        SELECT * INTO pg FROM fs_risk_list_entry_page(t, (j->>'limit')::int, j->>'after',
                                                      j->>'list') r;
        RETURN QUERY SELECT pg.o, coalesce(pg.p, fs_list_json(pg.data, pg.more));
    WHEN 'balance_alerts_set' THEN
        RETURN QUERY SELECT r.o, r.p FROM fs_balance_alerts_set(j, t) r;
    WHEN 'balance_alerts_get' THEN
        SELECT * INTO a FROM accounts y WHERE y.id = j->>'account' AND y.tenant_id = t;
        IF NOT FOUND THEN
            RETURN QUERY SELECT 'not_found', fs_err(format('No such account: %L', j->>'account'),
                                                    'id');
        ELSE
            RETURN QUERY SELECT 'ok', fs_balance_alerts_json(a)::text;
        END IF;
    ELSE
        RAISE EXCEPTION 'fs_risk_api: unknown op %', j->>'op';
    END CASE;
END
$$;

-- --- the console's (docs/console.md) --------------------------------------

-- The console's writes: the API's op on the tenant of the path (create) or
-- of the object (update, delete), answered as /v1 answers it, then its audit
-- row in the same transaction: target the rule or entry, before and after
-- its object with "tenant" (null before a create, and after an entry's
-- delete; a deleted rule's after has its deleted_at). j is admin_write's
-- item: "action", the actor, "reason", and what src/risk made of the body.
CREATE OR REPLACE FUNCTION fs_risk_admin_write(j jsonb, OUT o text, OUT p text)
LANGUAGE plpgsql
SET enable_seqscan = off
AS $$
DECLARE
    act    text := j->>'action';
    op     text;
    t      text;
    before jsonb;
    after  jsonb;
    r      risk_rules;
    e      risk_list_entries;
BEGIN
    op := CASE act WHEN 'risk_rule.create' THEN 'risk_rule_create'
                   WHEN 'risk_rule.update' THEN 'risk_rule_update'
                   WHEN 'risk_rule.delete' THEN 'risk_rule_delete'
                   WHEN 'risk_list_entry.create' THEN 'risk_list_entry_create'
                   WHEN 'risk_list_entry.delete' THEN 'risk_list_entry_delete' END;
    IF op IS NULL THEN
        RAISE EXCEPTION 'fs_risk_admin_write: unknown action %', act;
    END IF;
    IF op IN ('risk_rule_create', 'risk_list_entry_create') THEN
        SELECT y.id INTO t FROM tenants y WHERE y.id = j->>'tenant';
        IF NOT FOUND THEN
            o := 'not_found'; p := fs_err(format('No such tenant: %L', j->>'tenant'), 'id');
            RETURN;
        END IF;
    ELSIF op IN ('risk_rule_update', 'risk_rule_delete') THEN
        SELECT * INTO r FROM risk_rules y WHERE y.id = j->>'id' AND y.deleted_at IS NULL
        FOR UPDATE;
        t := r.tenant_id;
        before := fs_risk_rule_json(r)::jsonb;
    ELSE
        SELECT * INTO e FROM risk_list_entries y WHERE y.id = j->>'id' FOR UPDATE;
        t := e.tenant_id;
        before := fs_risk_list_entry_json(e)::jsonb;
    END IF;
    IF t IS NULL THEN
        o := 'not_found';
        p := fs_err(format('No such risk %s: %L',
                           CASE WHEN op LIKE 'risk_rule%' THEN 'rule' ELSE 'list entry' END,
                           j->>'id'), 'id');
        RETURN;
    END IF;
    SELECT x.o, x.p INTO o, p
    FROM fs_risk_api(j - 'actor' - 'action' - 'reason' - 'tenant'
                     || jsonb_build_object('op', op), t) x;
    IF o NOT IN ('ok', 'created') THEN
        RETURN;
    END IF;
    IF op IN ('risk_rule_update', 'risk_rule_delete') THEN
        SELECT * INTO r FROM risk_rules y WHERE y.id = j->>'id';
        after := fs_risk_rule_json(r)::jsonb;
    ELSIF op = 'risk_list_entry_delete' THEN
        after := NULL;
    ELSE
        after := p::jsonb;
    END IF;
    -- A deleted rule's after is the rule with its deleted_at.
    IF op = 'risk_rule_delete' THEN
        after := after || jsonb_build_object('deleted_at', fs_ts(r.deleted_at));
    END IF;
    -- The answer is /v1's; the audit row names the tenant too.
    PERFORM fs_audit(j, act, coalesce(j->>'id', after->>'id'),
                     before || jsonb_build_object('tenant', t),
                     after || jsonb_build_object('tenant', t));
END
$$;

-- GET /admin/api/tenants/{id}/risk_rules: the tenant's live rules, newest
-- first; params limit (default 25), starting_after.
CREATE OR REPLACE FUNCTION fs_admin_risk_rules(j jsonb, OUT o text, OUT p text)
LANGUAGE plpgsql
SET enable_seqscan = off
AS $$
DECLARE
    q   jsonb := j->'params';
    lim int := coalesce((q->>'limit')::int, 25);
    pg  record;
BEGIN
    PERFORM 1 FROM tenants y WHERE y.id = j->>'id';
    IF NOT FOUND THEN
        o := 'not_found'; p := fs_err(format('No such tenant: %L', j->>'id'), 'id');
        RETURN;
    END IF;
    SELECT * INTO pg FROM fs_risk_rule_page(j->>'id', lim, q->>'starting_after') r;
    o := pg.o;
    p := coalesce(pg.p, json_build_object(
        'object', 'list', 'data', coalesce(pg.data, '[]'::json), 'has_more', pg.more,
        'next', CASE WHEN pg.more THEN pg.data->(lim - 1)->>'id' END)::text);
END
$$;

-- GET /admin/api/tenants/{id}/risk_lists: the tenant's list entries, newest
-- first; params list, limit (default 25), starting_after.
CREATE OR REPLACE FUNCTION fs_admin_risk_lists(j jsonb, OUT o text, OUT p text)
LANGUAGE plpgsql
SET enable_seqscan = off
AS $$
DECLARE
    q   jsonb := j->'params';
    lim int := coalesce((q->>'limit')::int, 25);
    pg  record;
BEGIN
    PERFORM 1 FROM tenants y WHERE y.id = j->>'id';
    IF NOT FOUND THEN
        o := 'not_found'; p := fs_err(format('No such tenant: %L', j->>'id'), 'id');
        RETURN;
    END IF;
    SELECT * INTO pg FROM fs_risk_list_entry_page(j->>'id', lim, q->>'starting_after',
                                                  q->>'list') r;
    o := pg.o;
    p := coalesce(pg.p, json_build_object(
        'object', 'list', 'data', coalesce(pg.data, '[]'::json), 'has_more', pg.more,
        'next', CASE WHEN pg.more THEN pg.data->(lim - 1)->>'id' END)::text);
END
$$;

-- Remakes the bounds of these tenants' live rules (risk_rule_bounds,
-- 0026_risk_bounds.sql): called by the triggers on risk_rules. Each tenant's
-- rule changes are serialised (the API's lock, taken here too), so the rows
-- read after the lock are every committed rule plus this transaction's own.
CREATE OR REPLACE FUNCTION fs_risk_bounds_refresh(p_tenants text[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(727100124, hashtext(tn))
    FROM unnest(p_tenants) tn ORDER BY tn;
    DELETE FROM risk_rule_bounds b WHERE b.tenant_id = ANY (p_tenants);
    WITH u AS (
        SELECT k.tenant_id AS t, k.kind, k.params->>'currency' AS cur,
               (k.params->>'amount')::bigint AS amount, (k.params->>'count')::bigint AS count,
               (k.params->>'window_minutes')::int AS win,
               make_interval(hours => coalesce((k.params->>'account_age_hours')::int, 24)) AS age,
               k.params->'allowed' AS allowed
        FROM risk_rules k WHERE k.tenant_id = ANY (p_tenants) AND k.deleted_at IS NULL
    ), c AS (
        -- the amount bounds, by currency
        SELECT u.t, jsonb_object_agg(u.cur, u.amax) FILTER (WHERE u.amax IS NOT NULL) AS amax,
               jsonb_object_agg(u.cur, u.namax) FILTER (WHERE u.namax IS NOT NULL) AS namax,
               jsonb_object_agg(u.cur, u.sm) FILTER (WHERE u.sm IS NOT NULL) AS sm,
               jsonb_object_agg(u.cur, u.sh) FILTER (WHERE u.sh IS NOT NULL) AS sh
        FROM (SELECT u.t, u.cur,
                     min(u.amount) FILTER (WHERE u.kind = 'amount_above') AS amax,
                     min(u.amount) FILTER (WHERE u.kind = 'new_account_amount') AS namax,
                     min(u.amount) FILTER (WHERE u.kind = 'velocity_amount' AND u.win <= 60) AS sm,
                     min(u.amount) FILTER (WHERE u.kind = 'velocity_amount' AND u.win > 60) AS sh
              FROM u WHERE u.cur IS NOT NULL GROUP BY u.t, u.cur) u
        GROUP BY u.t
    ), ok AS (
        -- the currencies that every currency_not_allowed rule allows
        SELECT ca.t, jsonb_object_agg(ca.cur, true) AS curok
        FROM (SELECT u.t, xc.cur, count(*) AS cnt
              FROM u, jsonb_array_elements_text(u.allowed) AS xc(cur)
              WHERE u.kind = 'currency_not_allowed' GROUP BY u.t, xc.cur) ca
        JOIN (SELECT u.t, count(*) AS cnt FROM u WHERE u.kind = 'currency_not_allowed'
              GROUP BY u.t) cb ON cb.t = ca.t AND cb.cnt = ca.cnt
        GROUP BY ca.t
    )
    INSERT INTO risk_rule_bounds (tenant_id, rules, meta, list, curn, curok, amax, namax, nage,
                                  cm, ch, sm, sh)
    SELECT g.t, g.rules, g.meta, g.list, g.curn, ok.curok, c.amax, c.namax, g.nage, g.cm, g.ch,
           c.sm, c.sh
    FROM (SELECT u.t, count(*) AS rules, bool_or(u.kind = 'metadata_equals') AS meta,
                 bool_or(u.kind = 'listed') AS list,
                 count(*) FILTER (WHERE u.kind = 'currency_not_allowed') AS curn,
                 max(u.age) FILTER (WHERE u.kind = 'new_account_amount') AS nage,
                 min(u.count) FILTER (WHERE u.kind = 'velocity_count' AND u.win <= 60) AS cm,
                 min(u.count) FILTER (WHERE u.kind = 'velocity_count' AND u.win > 60) AS ch
          FROM u GROUP BY u.t) g
    LEFT JOIN c ON c.t = g.t
    LEFT JOIN ok ON ok.t = g.t;
END
$$;

-- Remakes accounts.risk_lists of the accounts these values name
-- (0026_risk_bounds.sql): called by the triggers on risk_list_entries. The
-- rows are locked in id order, as fs_batch locks them.
CREATE OR REPLACE FUNCTION fs_risk_lists_refresh(p_values text[]) RETURNS void
LANGUAGE sql AS $$
    UPDATE accounts a
    SET risk_lists = (SELECT ',' || string_agg(DISTINCT l.list, ',') || ','
                      FROM risk_list_entries l
                      WHERE l.value = a.id AND l.tenant_id = a.tenant_id)
    WHERE a.id = ANY (ARRAY(SELECT y.id FROM accounts y WHERE y.id = ANY (p_values)
                            ORDER BY y.id FOR UPDATE));
$$;

-- Tenants whose live rules have no bounds yet (rules made before
-- 0026_risk_bounds.sql, whose triggers make them since): made once, here,
-- as the migration's functions did not exist while it ran. Until then their
-- payments take the rule-by-rule path (fs_batch checks the count).
SELECT fs_risk_bounds_refresh(ARRAY(
    SELECT DISTINCT y.tenant_id FROM risk_rules y
    WHERE y.deleted_at IS NULL
      AND NOT EXISTS (SELECT 1 FROM risk_rule_bounds b WHERE b.tenant_id = y.tenant_id)));
