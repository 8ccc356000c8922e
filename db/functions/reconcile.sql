-- reconcile.sql: the matching of a day's provider settlement report against
-- FinSys's ledger (issue 12; tables in 0022_reconciliation.sql). fs_job_work
-- (locks.sql) calls fs_reconcile for the job 'reconcile', inside the fenced
-- job_run transaction that `finsys reconcile` and the worker send.

-- Matches p_lines (the report: [{type: charge|refund, id, idempotency_key,
-- amount, currency, status: approved|declined}...]) against the payments
-- and refunds that reached the provider and became final on p_date (UTC),
-- and any FinSys object a line names whatever its day or status. Replaces
-- the date's result. Writes at most p_max breaks.
CREATE OR REPLACE FUNCTION fs_reconcile(p_date date, p_lines jsonb, p_max int, p_run bigint,
                                        p_token bigint) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    d0 timestamptz := p_date::timestamp AT TIME ZONE 'UTC';
    d1 timestamptz := (p_date + 1)::timestamp AT TIME ZONE 'UTC';
    n_prov bigint;
    n_fin bigint;
    n_match bigint;
    n_breaks bigint;
BEGIN
    DELETE FROM reconciliations y WHERE y.date = p_date; -- cascades to its rows
    DROP TABLE IF EXISTS pg_temp.recon_prov, pg_temp.recon_fin, pg_temp.recon_break;
    CREATE TEMP TABLE recon_prov ON COMMIT DROP AS
    SELECT CASE WHEN l->>'type' = 'refund' THEN 'refund' ELSE 'payment' END AS object,
           l->>'idempotency_key' AS id, l->>'id' AS provider_id,
           (l->>'amount')::bigint AS amount, l->>'currency' AS currency, l->>'status' AS status
    FROM jsonb_array_elements(p_lines) l;
    CREATE TEMP TABLE recon_fin ON COMMIT DROP AS
    SELECT 'payment'::text AS object, y.id, y.tenant_id, y.amount, y.currency, y.status
    FROM payments y
    -- The day a payment became final is its timeline's succeeded or failed
    -- step: updated_at moves again with each refund, and a fully refunded
    -- payment is 'refunded' (the provider approved its charge).
    WHERE (y.settle_attempts > 0 AND y.status IN ('succeeded', 'failed', 'refunded')
           AND y.updated_at >= d0
           AND EXISTS (SELECT 1 FROM jsonb_array_elements(y.timeline) s
                       WHERE s->>'status' IN ('succeeded', 'failed')
                         AND (s->>'created_at')::timestamptz >= d0
                         AND (s->>'created_at')::timestamptz < d1))
       OR y.id IN (SELECT v.id FROM recon_prov v WHERE v.object = 'payment')
    UNION ALL
    SELECT 'refund', r.id, r.tenant_id, r.amount, r.currency, r.status
    FROM refunds r
    WHERE (r.status IN ('succeeded', 'failed') AND r.settle_attempts > 0
           AND r.updated_at >= d0 AND r.updated_at < d1)
       OR r.id IN (SELECT v.id FROM recon_prov v WHERE v.object = 'refund');

    CREATE TEMP TABLE recon_break ON COMMIT DROP AS
    WITH m AS (
        SELECT coalesce(f.object, v.object) AS object, coalesce(f.id, v.id) AS id,
               f.tenant_id, v.provider_id,
               f.amount AS f_amount, f.currency AS f_currency, f.status AS f_status,
               v.amount AS p_amount, v.currency AS p_currency, v.status AS p_status
        FROM recon_fin f FULL JOIN recon_prov v ON v.object = f.object AND v.id = f.id
    )
    SELECT k.kind, m.* FROM m
    CROSS JOIN LATERAL (
        SELECT 'missing_at_provider'::text AS kind WHERE m.p_status IS NULL
        UNION ALL SELECT 'missing_in_finsys' WHERE m.f_status IS NULL
        UNION ALL SELECT 'amount_mismatch'
            WHERE m.f_status IS NOT NULL AND m.p_status IS NOT NULL AND m.f_amount <> m.p_amount
        UNION ALL SELECT 'currency_mismatch'
            WHERE m.f_status IS NOT NULL AND m.p_status IS NOT NULL
              AND m.f_currency <> m.p_currency
        UNION ALL SELECT 'status_mismatch'
            WHERE m.f_status IS NOT NULL AND m.p_status IS NOT NULL
              AND NOT ((m.f_status IN ('succeeded', 'refunded') AND m.p_status = 'approved')
                       OR (m.f_status = 'failed' AND m.p_status = 'declined'))
    ) k;

    SELECT count(*) INTO n_prov FROM recon_prov;
    SELECT count(*) INTO n_fin FROM recon_fin;
    SELECT count(*) INTO n_breaks FROM recon_break;
    SELECT count(*) INTO n_match FROM recon_fin f JOIN recon_prov v USING (object, id)
    WHERE NOT EXISTS (SELECT 1 FROM recon_break b WHERE b.object = f.object AND b.id = f.id);

    INSERT INTO reconciliations (date, status, provider_lines, finsys_lines, matched, breaks,
                                 truncated, run_id, token)
    VALUES (p_date, CASE WHEN n_breaks = 0 THEN 'ok' ELSE 'breaks' END, n_prov, n_fin, n_match,
            n_breaks, n_breaks > p_max, p_run, p_token);
    INSERT INTO reconciliation_breaks (date, tenant_id, kind, object, object_id, provider_id,
                                       finsys_amount, finsys_currency, finsys_status,
                                       provider_amount, provider_currency, provider_status)
    SELECT p_date, b.tenant_id, b.kind, b.object, b.id, b.provider_id, b.f_amount, b.f_currency,
           b.f_status, b.p_amount, b.p_currency, b.p_status
    FROM recon_break b ORDER BY b.object, b.id, b.kind LIMIT p_max;
    INSERT INTO reconciliation_tenants (date, tenant_id, matched, breaks)
    SELECT p_date, f.tenant_id,
           count(*) FILTER (WHERE v.id IS NOT NULL AND NOT EXISTS (
               SELECT 1 FROM recon_break b WHERE b.object = f.object AND b.id = f.id)),
           (SELECT count(*) FROM recon_break b WHERE b.tenant_id = f.tenant_id)
    FROM recon_fin f LEFT JOIN recon_prov v USING (object, id)
    GROUP BY f.tenant_id;
    DROP TABLE recon_prov, recon_fin, recon_break;
    RETURN jsonb_build_object('date', p_date, 'status',
                              CASE WHEN n_breaks = 0 THEN 'ok' ELSE 'breaks' END,
                              'provider_lines', n_prov, 'finsys_lines', n_fin,
                              'matched', n_match, 'breaks', n_breaks,
                              'truncated', n_breaks > p_max);
END
$$;

-- GET /v1/reconciliations/{date}: the tenant's share of the date's result.
CREATE OR REPLACE FUNCTION fs_reconciliation_json(p_tenant text, p_date date, p_limit int)
RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'object', 'reconciliation', 'date', to_char(p_date, 'YYYY-MM-DD'),
        'status', CASE WHEN r.date IS NULL THEN 'not_run'
                       WHEN coalesce(t.breaks, 0) = 0 THEN 'ok' ELSE 'breaks' END,
        'matched', coalesce(t.matched, 0), 'breaks_count', coalesce(t.breaks, 0),
        'reconciled_at', CASE WHEN r.date IS NOT NULL THEN fs_ts(r.finished_at) END,
        'breaks', coalesce((
            SELECT json_agg(json_build_object(
                       'kind', b.kind, 'object', b.object, 'id', b.object_id,
                       'provider_id', b.provider_id,
                       'finsys', json_build_object('amount', b.finsys_amount,
                                                   'currency', b.finsys_currency,
                                                   'status', b.finsys_status),
                       'provider', CASE WHEN b.provider_status IS NOT NULL THEN
                                       json_build_object('amount', b.provider_amount,
                                                         'currency', b.provider_currency,
                                                         'status', b.provider_status) END)
                   ORDER BY b.seq)
            FROM (SELECT * FROM reconciliation_breaks x
                  WHERE x.tenant_id = p_tenant AND x.date = p_date
                  ORDER BY x.seq LIMIT p_limit) b), '[]'::json),
        'has_more', coalesce(t.breaks, 0) > p_limit)::text
    FROM (SELECT 1) one
    LEFT JOIN reconciliations r ON r.date = p_date
    LEFT JOIN reconciliation_tenants t ON t.date = p_date AND t.tenant_id = p_tenant
$$;

-- GET /admin/api/reconciliations/{id} (role finance; id is the date): the
-- whole day, every tenant's breaks and those of no tenant (missing_in_finsys),
-- the first FS_RECON_BREAKS_SHOWN_MAX (1,000) of them.
CREATE OR REPLACE FUNCTION fs_admin_reconciliation(j jsonb, OUT o text, OUT p text)
LANGUAGE plpgsql AS $$
DECLARE
    d date;
BEGIN
    SELECT c.o, c.p INTO o, p FROM fs_admin_check_params(j->'params', ARRAY[]::text[]) c;
    IF o IS NOT NULL THEN RETURN; END IF;
    IF coalesce(j->>'id', '') !~ '^\d{4}-\d{2}-\d{2}$' THEN
        o := 'invalid_request';
        p := fs_err('The date must be a UTC date YYYY-MM-DD, such as 2026-12-05.', 'date');
        RETURN;
    END IF;
    BEGIN
        d := (j->>'id')::date;
    EXCEPTION WHEN others THEN
        o := 'invalid_request';
        p := fs_err('The date must be a UTC date YYYY-MM-DD, such as 2026-12-05.', 'date');
        RETURN;
    END;
    o := 'ok';
    SELECT json_build_object(
        'object', 'reconciliation', 'date', to_char(d, 'YYYY-MM-DD'),
        'status', coalesce(r.status, 'not_run'),
        'provider_lines', coalesce(r.provider_lines, 0),
        'finsys_lines', coalesce(r.finsys_lines, 0),
        'matched', coalesce(r.matched, 0), 'breaks_count', coalesce(r.breaks, 0),
        'truncated', coalesce(r.truncated, false), 'fencing_token', r.token,
        'reconciled_at', CASE WHEN r.date IS NOT NULL THEN fs_ts(r.finished_at) END,
        'breaks', coalesce((
            SELECT json_agg(json_build_object(
                       'kind', b.kind, 'object', b.object, 'id', b.object_id,
                       'tenant', b.tenant_id, 'provider_id', b.provider_id,
                       'finsys', CASE WHEN b.finsys_status IS NOT NULL THEN
                                     json_build_object('amount', b.finsys_amount,
                                                       'currency', b.finsys_currency,
                                                       'status', b.finsys_status) END,
                       'provider', CASE WHEN b.provider_status IS NOT NULL THEN
                                       json_build_object('amount', b.provider_amount,
                                                         'currency', b.provider_currency,
                                                         'status', b.provider_status) END)
                   ORDER BY b.seq)
            FROM (SELECT * FROM reconciliation_breaks x WHERE x.date = d
                  ORDER BY x.seq LIMIT 1000) b), '[]'::json),
        'has_more', coalesce(r.breaks, 0) > 1000)::text
    INTO p
    FROM (SELECT 1) one LEFT JOIN reconciliations r ON r.date = d;
END
$$;
