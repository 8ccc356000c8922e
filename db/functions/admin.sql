-- admin.sql: the admin console's server side (docs/console.md, src/admin):
-- staff sessions and logins, the audit log's writer, the admin writes that
-- are not fs_batch's own ops, and fs_admin_read, the one dispatcher of the
-- console's GET data routes. fs_batch() calls these for its ops
-- admin_session, admin_login, admin_login_finish, admin_write, admin_refund,
-- admin_cancel, admin_review and admin_read. The server has authenticated
-- the item's "actor" and checked its role before any of these runs; none
-- raises for a business outcome: each returns an outcome o and a payload p.

-- One audit row, in the caller's transaction. j carries "actor"
-- {id, email, role}, "reason" and "rid" (the request id). Secrets never go
-- into before/after.
-- A session as GET and POST /admin/api/session answer it (docs/console.md).
-- PL/pgSQL: this file is loaded before batch.sql, which defines fs_ts.
CREATE OR REPLACE FUNCTION fs_admin_session_json(s staff, ss staff_sessions) RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN json_build_object('object', 'session',
                             'staff', json_build_object('id', s.id, 'email', s.email,
                                                        'role', s.role),
                             'csrf_token', ss.csrf_token,
                             'expires_at', fs_ts(ss.expires_at))::text;
END
$$;

CREATE OR REPLACE FUNCTION fs_audit(j jsonb, p_action text, p_target text, p_before jsonb,
                                    p_after jsonb) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO audit_log (actor, actor_email, role, action, target, reason, before, after,
                           request_id)
    VALUES (j->'actor'->>'id', j->'actor'->>'email', j->'actor'->>'role', p_action, p_target,
            j->>'reason', p_before, p_after, j->>'rid')
$$;

-- plpgsql (not sql) here and below: this file is applied before batch.sql,
-- which defines fs_ts, and a sql function's body is checked at creation.
CREATE OR REPLACE FUNCTION fs_staff_json(s staff) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN jsonb_build_object('object', 'staff', 'id', s.id, 'email', s.email, 'role', s.role,
                              'created_at', fs_ts(s.created_at),
                              'disabled_at', fs_ts(s.disabled_at));
END
$$;

-- admin_session {session: hex SHA-256 of the cookie's token, idle_s}: the
-- session's staff and CSRF token, its idle time refreshed; unauthorized when
-- unknown, expired (idle or absolute) or its staff disabled.
CREATE OR REPLACE FUNCTION fs_admin_session(j jsonb, OUT o text, OUT p text)
LANGUAGE plpgsql AS $$
DECLARE
    ss staff_sessions;
    s  staff;
BEGIN
    SELECT * INTO ss FROM staff_sessions y WHERE y.token_hash = decode(j->>'session', 'hex');
    IF FOUND THEN
        SELECT * INTO s FROM staff y WHERE y.id = ss.staff_id;
    END IF;
    IF ss.token_hash IS NULL OR s.disabled_at IS NOT NULL OR ss.expires_at <= now()
       OR ss.last_seen_at + make_interval(secs => (j->>'idle_s')::int) <= now() THEN
        IF ss.token_hash IS NOT NULL THEN
            DELETE FROM staff_sessions y WHERE y.token_hash = ss.token_hash;
        END IF;
        o := 'unauthorized';
        p := fs_err('No session, or it expired: log in again (POST /admin/api/session).', NULL);
        RETURN;
    END IF;
    -- At most one write a second per session: a page polls often.
    IF ss.last_seen_at < now() - interval '1 second' THEN
        UPDATE staff_sessions y SET last_seen_at = now() WHERE y.token_hash = ss.token_hash
        RETURNING * INTO ss;
    END IF;
    o := 'ok';
    p := fs_admin_session_json(s, ss);
END
$$;

-- admin_login {email, failures_max, window_s}: the staff row's id, role and
-- password hash for the server to verify off its loop; login_locked (with
-- retry_after_s) while the email has failures_max failures in window_s;
-- unknown emails answer "hash": null and the server verifies a dummy.
CREATE OR REPLACE FUNCTION fs_admin_login(j jsonb, OUT o text, OUT p text)
LANGUAGE plpgsql AS $$
DECLARE
    s      staff;
    n      int;
    oldest timestamptz;
BEGIN
    SELECT count(*), min(f.at) INTO n, oldest FROM (
        SELECT y.at FROM staff_login_failures y
        WHERE y.email = j->>'email'
          AND y.at > now() - make_interval(secs => (j->>'window_s')::int)
        ORDER BY y.at DESC LIMIT (j->>'failures_max')::int) f;
    IF n >= (j->>'failures_max')::int THEN
        o := 'login_locked';
        p := (fs_err('Too many failed logins for this email; try again later.', 'email')::jsonb
              || jsonb_build_object('retry_after_s', greatest(1, ceil(extract(epoch FROM
                     oldest + make_interval(secs => (j->>'window_s')::int) - now()))::int)))::text;
        RETURN;
    END IF;
    SELECT * INTO s FROM staff y WHERE y.email = j->>'email' AND y.disabled_at IS NULL;
    o := 'ok';
    p := json_build_object('id', s.id, 'email', s.email, 'role', s.role,
                           'hash', s.password_hash)::text;
END
$$;

-- admin_login_finish {email, ok, staff, session, csrf, max_s, rid}: a failure
-- is counted (invalid_credentials); a success makes the session and its
-- audit row (session.create) and clears the email's failures.
CREATE OR REPLACE FUNCTION fs_admin_login_finish(j jsonb, OUT o text, OUT p text)
LANGUAGE plpgsql AS $$
DECLARE
    s  staff;
    ss staff_sessions;
BEGIN
    IF NOT (j->>'ok')::boolean THEN
        INSERT INTO staff_login_failures (email) VALUES (j->>'email');
        o := 'invalid_credentials';
        p := fs_err('Wrong email or password.', NULL);
        RETURN;
    END IF;
    SELECT * INTO s FROM staff y WHERE y.id = j->>'staff' AND y.disabled_at IS NULL;
    IF NOT FOUND THEN
        o := 'invalid_credentials'; p := fs_err('Wrong email or password.', NULL);
        RETURN;
    END IF;
    DELETE FROM staff_login_failures y WHERE y.email = s.email;
    INSERT INTO staff_sessions (token_hash, staff_id, csrf_token, expires_at)
    VALUES (decode(j->>'session', 'hex'), s.id, j->>'csrf',
            now() + make_interval(secs => (j->>'max_s')::int))
    RETURNING * INTO ss;
    PERFORM fs_audit(j || jsonb_build_object('actor', jsonb_build_object(
                         'id', s.id, 'email', s.email, 'role', s.role)),
                     'session.create', s.id, NULL,
                     jsonb_build_object('expires_at', fs_ts(ss.expires_at)));
    o := 'created';
    p := fs_admin_session_json(s, ss);
END
$$;

-- One admin action on a payment of any tenant, by fs_batch's own logic:
-- the item runs through a nested fs_batch() as its tenant
-- (finsys.as_tenant, honoured for items that carry "as_tenant"), then the
-- audit row. changed: the accounts the nested call changed (for the caches).
-- admin_refund nests refund_create, admin_cancel payment_cancel, and
-- admin_review (docs/risk.md) payment_review {payment, decision, reason,
-- actor}: the review keeps its reason and its actor, which the payment
-- records in its "review".
CREATE OR REPLACE FUNCTION fs_admin_payment(j jsonb, OUT o text, OUT p text, OUT changed text)
LANGUAGE plpgsql AS $$
DECLARE
    pay    payments;
    before jsonb;
    r      record;
    inner_item jsonb;
BEGIN
    SELECT * INTO pay FROM payments y WHERE y.id = j->>'payment';
    IF NOT FOUND THEN
        o := 'not_found'; p := fs_err(format('No such payment: %L', j->>'payment'), 'id');
        RETURN;
    END IF;
    before := fs_payment_json(pay)::jsonb;
    IF j->>'op' = 'admin_review' THEN
        inner_item := jsonb_build_object('op', 'payment_review', 'payment', pay.id,
                                         'decision', j->>'decision', 'reason', j->'reason',
                                         'actor', j->'actor', 'rid', j->'rid',
                                         'as_tenant', pay.tenant_id);
    ELSE
        inner_item := (j - 'actor' - 'auth' - 'idem' - 'fp' - 'reason' - 'action')
                      || jsonb_build_object('op', CASE WHEN j->>'op' = 'admin_refund'
                                                       THEN 'refund_create'
                                                       ELSE 'payment_cancel' END,
                                            'as_tenant', pay.tenant_id);
    END IF;
    PERFORM set_config('finsys.as_tenant', 'on', true);
    FOR r IN SELECT * FROM fs_batch(jsonb_build_array(inner_item)) LOOP
        IF r.o_idx = 0 THEN
            o := r.o_outcome; p := r.o_payload;
        ELSIF r.o_outcome = 'accounts_changed' THEN
            changed := r.o_payload;
        END IF;
    END LOOP;
    PERFORM set_config('finsys.as_tenant', 'off', true);
    IF o IN ('ok', 'created') THEN
        SELECT * INTO pay FROM payments y WHERE y.id = pay.id;
        PERFORM fs_audit(j, CASE j->>'op' WHEN 'admin_refund' THEN 'payment.refund'
                                          WHEN 'admin_review' THEN 'payment.review'
                                          ELSE 'payment.cancel' END,
                         pay.id, before,
                         CASE j->>'op'
                              WHEN 'admin_refund'
                              THEN jsonb_build_object('payment', fs_payment_json(pay),
                                                      'refund', p::jsonb)
                              WHEN 'admin_review'
                              THEN jsonb_build_object('decision', j->>'decision',
                                                      'payment', fs_payment_json(pay))
                              ELSE fs_payment_json(pay)::jsonb END);
    END IF;
END
$$;

-- An API key as every answer shows it (docs/console.md, finsys apikey list):
-- never its secret nor its hash. status: revoked, expired (expires_at has
-- passed: the end of a rotation's overlap, or the expiry it was made with)
-- or active; rotated_to: the key that replaced it (finsys apikey rotate).
CREATE OR REPLACE FUNCTION fs_api_key_json(k api_keys) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN jsonb_build_object(
        'id', k.id, 'object', 'api_key', 'tenant', k.tenant_id, 'prefix', k.prefix,
        'admin', k.scope <> 'tenant', 'scope', k.scope, 'created_at', fs_ts(k.created_at),
        'expires_at', fs_ts(k.expires_at), 'revoked_at', fs_ts(k.revoked_at),
        'rotated_to', k.rotated_to,
        'status', CASE WHEN k.revoked_at IS NOT NULL THEN 'revoked'
                       WHEN k.expires_at IS NOT NULL AND k.expires_at <= now() THEN 'expired'
                       ELSE 'active' END);
END
$$;

-- admin_write {action, ...}: the admin's writes on tenants, keys and staff
-- (create, disable, enable), a tenant's risk rules and lists (risk.sql), and
-- session.delete; each with its audit row.
CREATE OR REPLACE FUNCTION fs_admin_write(j jsonb, OUT o text, OUT p text)
LANGUAGE plpgsql AS $$
DECLARE
    ten  tenants;
    k    api_keys;
    nk   api_keys;
    s    staff;
    before jsonb;
    act  text := j->>'action';
BEGIN
    IF act = 'tenant.create' THEN
        IF EXISTS (SELECT 1 FROM tenants y WHERE y.name = j->>'name') THEN
            o := 'invalid_request';
            p := fs_err(format('A tenant named %L exists.', j->>'name'), 'name');
            RETURN;
        END IF;
        INSERT INTO tenants (id, name) VALUES (j->>'id', j->>'name') RETURNING * INTO ten;
        INSERT INTO accounts (id, tenant_id, currency, name, type)
        SELECT 'acct_' || substr(md5(random()::text || c.code || clock_timestamp()::text), 1, 24),
               ten.id, c.code, 'external', 'external'
        FROM currencies c ORDER BY c.code;
        o := 'created';
        p := json_build_object('object', 'tenant', 'id', ten.id, 'name', ten.name,
                               'deposits_enabled', ten.deposits_enabled,
                               'created_at', fs_ts(ten.created_at))::text;
        PERFORM fs_audit(j, act, ten.id, NULL, p::jsonb);

    ELSIF act = 'tenant.limits' THEN
        SELECT * INTO ten FROM tenants y WHERE y.id = j->>'tenant' FOR UPDATE;
        IF NOT FOUND THEN
            o := 'not_found'; p := fs_err(format('No such tenant: %L', j->>'tenant'), 'id');
            RETURN;
        END IF;
        before := jsonb_build_object('per_s', ten.rate_per_s, 'burst', ten.rate_burst);
        UPDATE tenants y SET rate_per_s = (j->>'per_s')::int, rate_burst = (j->>'burst')::int
        WHERE y.id = ten.id RETURNING * INTO ten;
        o := 'ok';
        p := json_build_object('object', 'tenant', 'id', ten.id, 'name', ten.name,
                               'rate_limit', json_build_object('per_s', ten.rate_per_s,
                                                               'burst', ten.rate_burst),
                               'key_hashes', (SELECT coalesce(json_agg(encode(y.key_hash, 'hex')),
                                                              '[]') FROM api_keys y
                                              WHERE y.tenant_id = ten.id))::text;
        PERFORM fs_audit(j, act, ten.id, before,
                         jsonb_build_object('per_s', ten.rate_per_s, 'burst', ten.rate_burst));

    ELSIF act = 'tenant.deposits' THEN
        -- {tenant (its id) or name, enabled}: whether the tenant's own keys
        -- may deposit (0030_operator_authority.sql). Audited with the
        -- setting before and after.
        SELECT * INTO ten FROM tenants y
        WHERE y.id = j->>'tenant' OR (NOT j ? 'tenant' AND y.name = j->>'name') FOR UPDATE;
        IF NOT FOUND THEN
            o := 'not_found';
            p := fs_err(format('No such tenant: %L', coalesce(j->>'tenant', j->>'name')), 'id');
            RETURN;
        END IF;
        before := jsonb_build_object('deposits_enabled', ten.deposits_enabled);
        UPDATE tenants y SET deposits_enabled = (j->>'enabled')::boolean
        WHERE y.id = ten.id RETURNING * INTO ten;
        o := 'ok';
        p := json_build_object('object', 'tenant', 'id', ten.id, 'name', ten.name,
                               'deposits_enabled', ten.deposits_enabled)::text;
        PERFORM fs_audit(j, act, ten.id, before,
                         jsonb_build_object('deposits_enabled', ten.deposits_enabled));

    ELSIF act = 'api_key.create' THEN
        -- expires_in_s (optional): the key stops working that long from now.
        SELECT * INTO ten FROM tenants y WHERE y.id = j->>'tenant';
        IF NOT FOUND THEN
            o := 'not_found'; p := fs_err(format('No such tenant: %L', j->>'tenant'), 'id');
            RETURN;
        END IF;
        -- scope: 'tenant' or 'operator:<role>' (0030_operator_authority.sql).
        INSERT INTO api_keys (key_hash, tenant_id, prefix, is_admin, scope, expires_at)
        VALUES (decode(j->>'key_hash', 'hex'), ten.id, j->>'prefix', j->>'scope' <> 'tenant',
                j->>'scope', now() + (j->>'expires_in_s')::bigint * interval '1 second')
        RETURNING * INTO k;
        o := 'created';
        p := fs_api_key_json(k)::text;
        PERFORM fs_audit(j, act, k.id, NULL, p::jsonb);

    ELSIF act = 'api_key.revoke' THEN
        -- At once. The answer's key_hash is the server's, never the
        -- client's: it drops the key's cached tenant in Redis (fs:auth,
        -- src/ratelimit), then takes the hash out of the answer.
        SELECT * INTO k FROM api_keys y WHERE y.id = j->>'key' FOR UPDATE;
        IF NOT FOUND THEN
            o := 'not_found'; p := fs_err(format('No such API key: %L', j->>'key'), 'id');
            RETURN;
        END IF;
        before := fs_api_key_json(k);
        IF k.revoked_at IS NULL THEN
            UPDATE api_keys y SET revoked_at = now() WHERE y.key_hash = k.key_hash
            RETURNING * INTO k;
        END IF;
        o := 'ok';
        p := (fs_api_key_json(k) || jsonb_build_object('key_hash', encode(k.key_hash, 'hex')))::text;
        PERFORM fs_audit(j, act, k.id, before, fs_api_key_json(k));

    ELSIF act = 'api_key.rotate' THEN
        -- A new key for the old one's tenant, with its admin flag, working
        -- at once; the old one keeps working for overlap_s more seconds
        -- (never longer than an expiry it already had), then is expired.
        -- The server made the new key (key_hash, prefix) and answers its
        -- secret once; the old key's hash goes as revoke's does.
        SELECT * INTO k FROM api_keys y WHERE y.id = j->>'key' FOR UPDATE;
        IF NOT FOUND THEN
            o := 'not_found'; p := fs_err(format('No such API key: %L', j->>'key'), 'id');
            RETURN;
        END IF;
        IF k.revoked_at IS NOT NULL OR k.expires_at <= now() OR k.rotated_to IS NOT NULL THEN
            o := 'api_key_inactive';
            p := fs_err(format('API key %s is %s; only a live key that was not rotated '
                               'before can be rotated (create a new key instead).', k.id,
                               CASE WHEN k.revoked_at IS NOT NULL THEN 'revoked'
                                    WHEN k.rotated_to IS NOT NULL
                                    THEN 'already rotated to ' || k.rotated_to
                                    ELSE 'expired' END), 'id');
            RETURN;
        END IF;
        before := fs_api_key_json(k);
        INSERT INTO api_keys (key_hash, tenant_id, prefix, is_admin, scope)
        VALUES (decode(j->>'key_hash', 'hex'), k.tenant_id, j->>'prefix', k.is_admin, k.scope)
        RETURNING * INTO nk;
        UPDATE api_keys y
        SET expires_at = least(y.expires_at,
                               now() + (j->>'overlap_s')::bigint * interval '1 second'),
            rotated_to = nk.id
        WHERE y.key_hash = k.key_hash RETURNING * INTO k;
        o := 'created';
        p := (fs_api_key_json(nk)
              || jsonb_build_object('rotated_from', fs_api_key_json(k),
                                    'key_hash', encode(k.key_hash, 'hex')))::text;
        PERFORM fs_audit(j, 'api_key.create', nk.id, NULL, fs_api_key_json(nk));
        PERFORM fs_audit(j, act, k.id, before, fs_api_key_json(k));

    ELSIF act = 'staff.create' THEN
        IF EXISTS (SELECT 1 FROM staff y WHERE y.email = j->>'email') THEN
            o := 'invalid_request';
            p := fs_err(format('Staff %s exists.', j->>'email'), 'email');
            RETURN;
        END IF;
        INSERT INTO staff (id, email, role, password_hash)
        VALUES (j->>'id', j->>'email', j->>'role', j->>'password_hash') RETURNING * INTO s;
        o := 'created'; p := fs_staff_json(s)::text;
        PERFORM fs_audit(j, act, s.id, NULL, fs_staff_json(s));

    ELSIF act IN ('staff.disable', 'staff.enable') THEN
        -- By id (the API) or email (finsys staff disable, actor 'cli').
        -- Idempotent: a disabled member disabled again keeps its
        -- disabled_at (and gets its audit row, as a revoke does).
        SELECT * INTO s FROM staff y
        WHERE (j ? 'staff' AND y.id = j->>'staff') OR (j ? 'email' AND y.email = j->>'email')
        FOR UPDATE;
        IF NOT FOUND THEN
            o := 'not_found';
            p := fs_err(format('No such staff member: %L', coalesce(j->>'staff', j->>'email')),
                        CASE WHEN j ? 'staff' THEN 'id' ELSE 'email' END);
            RETURN;
        END IF;
        IF act = 'staff.disable' AND s.id = j->'actor'->>'id' THEN
            o := 'staff_self_disable';
            p := fs_err('You cannot disable yourself: another admin must do it.', 'id');
            RETURN;
        END IF;
        before := jsonb_build_object('disabled_at', fs_ts(s.disabled_at));
        IF act = 'staff.disable' AND s.disabled_at IS NULL THEN
            UPDATE staff y SET disabled_at = now() WHERE y.id = s.id RETURNING * INTO s;
        ELSIF act = 'staff.enable' AND s.disabled_at IS NOT NULL THEN
            UPDATE staff y SET disabled_at = NULL WHERE y.id = s.id RETURNING * INTO s;
        END IF;
        -- Its sessions end now (fs_admin_session refuses them anyway).
        IF s.disabled_at IS NOT NULL THEN
            DELETE FROM staff_sessions y WHERE y.staff_id = s.id;
        END IF;
        o := 'ok'; p := fs_staff_json(s)::text;
        PERFORM fs_audit(j, act, s.id, before,
                         jsonb_build_object('disabled_at', fs_ts(s.disabled_at)));

    ELSIF act IN ('risk_rule.create', 'risk_rule.update', 'risk_rule.delete',
                  'risk_list_entry.create', 'risk_list_entry.delete') THEN
        -- A tenant's risk rules and lists (db/functions/risk.sql), audited there.
        SELECT r.o, r.p INTO o, p FROM fs_risk_admin_write(j) r;
    ELSIF act = 'session.delete' THEN
        DELETE FROM staff_sessions y WHERE y.token_hash = decode(j->>'session', 'hex');
        o := 'ok'; p := '{}';
        PERFORM fs_audit(j, act, j->'actor'->>'id', NULL, NULL);
    ELSE
        RAISE EXCEPTION 'fs_admin_write: unknown action %', act;
    END IF;
END
$$;

-- GET /admin/api/staff: staff by email order... newest first, keyset on seq-less
-- id order: `starting_after` is a staff id.
CREATE OR REPLACE FUNCTION fs_admin_staff_list(j jsonb, OUT o text, OUT p text)
LANGUAGE plpgsql AS $$
DECLARE
    lim   int := coalesce((j->'params'->>'limit')::int, 25);
    after staff;
    data  json;
    more  boolean;
BEGIN
    IF j->'params' ? 'starting_after' THEN
        SELECT * INTO after FROM staff y WHERE y.id = j->'params'->>'starting_after';
        IF NOT FOUND THEN
            o := 'invalid_request';
            p := fs_err('No such staff.', 'starting_after');
            RETURN;
        END IF;
    END IF;
    SELECT json_agg(fs_staff_json(s.st) ORDER BY (s.st).created_at DESC, (s.st).id DESC)
               FILTER (WHERE s.rn <= lim),
           coalesce(max(s.rn) > lim, false)
    INTO data, more
    FROM (SELECT y AS st, row_number() OVER (ORDER BY y.created_at DESC, y.id DESC) AS rn
          FROM staff y
          WHERE after.id IS NULL OR (y.created_at, y.id) < (after.created_at, after.id)
          ORDER BY y.created_at DESC, y.id DESC LIMIT lim + 1) s;
    o := 'ok';
    p := json_build_object('object', 'list', 'data', coalesce(data, '[]'::json),
                           'has_more', more,
                           'next', CASE WHEN more THEN data->(lim - 1)->>'id' END)::text;
END
$$;

CREATE OR REPLACE FUNCTION fs_audit_json(a audit_log) RETURNS json
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN json_build_object('object', 'audit', 'id', a.id, 'at', fs_ts(a.at), 'actor', a.actor,
                             'actor_email', a.actor_email, 'role', a.role, 'action', a.action,
                             'target', a.target, 'reason', a.reason, 'before', a.before,
                             'after', a.after, 'request_id', a.request_id);
END
$$;

-- GET /admin/api/audit: newest first; filters actor, action, target, q (in
-- the reason, target or actor's email), from, to (RFC 3339); keyset on seq
-- (starting_after is an aud_ id).
CREATE OR REPLACE FUNCTION fs_admin_audit_list(j jsonb, OUT o text, OUT p text)
LANGUAGE plpgsql AS $$
DECLARE
    q     jsonb := j->'params';
    lim   int := coalesce((q->>'limit')::int, 25);
    after_seq bigint;
    t_from timestamptz;
    t_to  timestamptz;
    data  json;
    more  boolean;
BEGIN
    IF q ? 'starting_after' THEN
        SELECT y.seq INTO after_seq FROM audit_log y WHERE y.id = q->>'starting_after';
        IF NOT FOUND THEN
            o := 'invalid_request'; p := fs_err('No such audit entry.', 'starting_after');
            RETURN;
        END IF;
    END IF;
    BEGIN
        t_from := (q->>'from')::timestamptz;
    EXCEPTION WHEN others THEN
        o := 'invalid_request'; p := fs_err('from must be an RFC 3339 time.', 'from');
        RETURN;
    END;
    BEGIN
        t_to := (q->>'to')::timestamptz;
    EXCEPTION WHEN others THEN
        o := 'invalid_request'; p := fs_err('to must be an RFC 3339 time.', 'to');
        RETURN;
    END;
    SELECT json_agg(fs_audit_json(s.a) ORDER BY (s.a).seq DESC) FILTER (WHERE s.rn <= lim),
           coalesce(max(s.rn) > lim, false)
    INTO data, more
    FROM (SELECT y AS a, row_number() OVER (ORDER BY y.seq DESC) AS rn
          FROM audit_log y
          WHERE y.seq < coalesce(after_seq, 9223372036854775807)
            AND (NOT q ? 'actor' OR y.actor = q->>'actor')
            AND (NOT q ? 'action' OR y.action = q->>'action')
            AND (NOT q ? 'target' OR y.target = q->>'target')
            AND (t_from IS NULL OR y.at >= t_from)
            AND (t_to IS NULL OR y.at <= t_to)
            AND (NOT q ? 'q' OR strpos(lower(concat_ws(' ', y.reason, y.target, y.actor_email,
                                                        y.actor)), lower(q->>'q')) > 0)
          ORDER BY y.seq DESC LIMIT lim + 1) s;
    o := 'ok';
    p := json_build_object('object', 'list', 'data', coalesce(data, '[]'::json),
                           'has_more', more,
                           'next', CASE WHEN more THEN data->(lim - 1)->>'id' END)::text;
END
$$;

-- The receipt of a payment of any tenant: its object's key and SHA-256, as
-- the /v1 receipt_get gives them (the server then reads the object).
CREATE OR REPLACE FUNCTION fs_admin_payment_receipt(j jsonb, OUT o text, OUT p text)
LANGUAGE plpgsql AS $$
DECLARE
    t text;
BEGIN
    SELECT y.tenant_id INTO t FROM payments y WHERE y.id = j->>'id';
    IF NOT FOUND THEN
        o := 'not_found'; p := fs_err(format('No such payment: %L', j->>'id'), 'id');
        RETURN;
    END IF;
    SELECT r.o, r.p INTO o, p FROM fs_receipt_get(t, j->>'id') r;
END
$$;

-- admin_read {fn, id, params}: the console's GET data routes, by a fixed
-- list. The fs_admin_<fn> of the views (db/functions/admin_views.sql) are
-- resolved when called, so this file does not need them to exist.
CREATE OR REPLACE FUNCTION fs_admin_read(j jsonb, OUT o text, OUT p text)
LANGUAGE plpgsql AS $$
BEGIN
    CASE j->>'fn'
    WHEN 'overview' THEN SELECT r.o, r.p INTO o, p FROM fs_admin_overview(j) r;
    WHEN 'payments_list' THEN SELECT r.o, r.p INTO o, p FROM fs_admin_payments_list(j) r;
    WHEN 'payment_detail' THEN SELECT r.o, r.p INTO o, p FROM fs_admin_payment_detail(j) r;
    WHEN 'accounts_list' THEN SELECT r.o, r.p INTO o, p FROM fs_admin_accounts_list(j) r;
    WHEN 'account_get' THEN SELECT r.o, r.p INTO o, p FROM fs_admin_account_get(j) r;
    WHEN 'account_journal' THEN SELECT r.o, r.p INTO o, p FROM fs_admin_account_journal(j) r;
    WHEN 'dead_letters_list' THEN
        SELECT r.o, r.p INTO o, p FROM fs_admin_dead_letters_list(j) r;
    WHEN 'tenants_list' THEN SELECT r.o, r.p INTO o, p FROM fs_admin_tenants_list(j) r;
    WHEN 'tenant_keys' THEN SELECT r.o, r.p INTO o, p FROM fs_admin_tenant_keys(j) r;
    WHEN 'staff_list' THEN SELECT r.o, r.p INTO o, p FROM fs_admin_staff_list(j) r;
    WHEN 'audit_list' THEN SELECT r.o, r.p INTO o, p FROM fs_admin_audit_list(j) r;
    WHEN 'payment_receipt' THEN SELECT r.o, r.p INTO o, p FROM fs_admin_payment_receipt(j) r;
    -- Finance: a day's reconciliation against the provider (reconcile.sql).
    WHEN 'reconciliation' THEN SELECT r.o, r.p INTO o, p FROM fs_admin_reconciliation(j) r;
    -- A tenant's risk rules and list entries (db/functions/risk.sql).
    WHEN 'risk_rules' THEN SELECT r.o, r.p INTO o, p FROM fs_admin_risk_rules(j) r;
    WHEN 'risk_lists' THEN SELECT r.o, r.p INTO o, p FROM fs_admin_risk_lists(j) r;
    -- Finance: the daily rollups summed across tenants (admin_views.sql).
    WHEN 'report_daily' THEN SELECT r.o, r.p INTO o, p FROM fs_admin_report_daily(j) r;
    ELSE
        RAISE EXCEPTION 'fs_admin_read: unknown fn %', j->>'fn';
    END CASE;
END
$$;
