-- Exports (0023_exports.sql, docs/architecture.md "Exports").
--
--   fs_export_api(item, tenant)  the API's: export_create, export_get,
--                                export_download, for the key's tenant
--   fs_export_claim(lease_s, max_attempts)   the worker's export thread: the
--                                next pending export, or a running one whose
--                                lease expired
--   fs_export_finish(...)        its end: succeeded or failed
--
-- The rows themselves are read by the export thread through a cursor (the
-- queries are in src/export/runner.c): never through fs_batch.

CREATE OR REPLACE FUNCTION fs_export_json(e exports)
RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', e.id, 'object', 'export', 'type', e.type, 'filters', e.filters,
        'status', e.status, 'rows', e.rows, 'bytes', e.bytes, 'error', e.error,
        'created_at', fs_ts(e.created_at), 'finished_at', fs_ts(e.finished_at),
        'download_url', CASE WHEN e.status = 'succeeded'
                             THEN '/v1/exports/' || e.id || '/download' END)
$$;

CREATE OR REPLACE FUNCTION fs_export_api(j jsonb, t text, OUT o text, OUT p text)
LANGUAGE plpgsql AS $$
DECLARE
    e exports;
    n bigint;
BEGIN
    IF j->>'op' = 'export_create' THEN
        IF j->>'type' = 'statement' THEN
            PERFORM 1 FROM accounts a WHERE a.id = j->'filters'->>'account' AND a.tenant_id = t;
            IF NOT FOUND THEN
                o := 'not_found';
                p := fs_err(format('No such account: %L', j->'filters'->>'account'),
                            'filters.account');
                RETURN;
            END IF;
        END IF;
        -- The count and the insert under one lock per tenant, so that two
        -- creations at once cannot both take the last place.
        PERFORM pg_advisory_xact_lock(727100123, hashtext(t));
        SELECT count(*) INTO n FROM exports y
        WHERE y.tenant_id = t AND y.status IN ('pending', 'running');
        IF n >= (j->>'max')::int THEN
            o := 'rate_limited';
            p := fs_err(format('A tenant may have at most %s exports pending or running; '
                               'retry when one has finished.', j->>'max'), NULL);
            RETURN;
        END IF;
        INSERT INTO exports (id, tenant_id, type, filters)
        VALUES (j->>'id', t, j->>'type', j->'filters')
        RETURNING * INTO e;
        o := 'accepted'; p := fs_export_json(e)::text;

    ELSIF j->>'op' IN ('export_get', 'export_download') THEN
        SELECT * INTO e FROM exports y WHERE y.id = j->>'id' AND y.tenant_id = t;
        IF NOT FOUND THEN
            o := 'not_found'; p := fs_err(format('No such export: %L', j->>'id'), 'id');
        ELSIF j->>'op' = 'export_get' THEN
            o := 'ok'; p := fs_export_json(e)::text;
        ELSIF e.status <> 'succeeded' THEN
            o := 'not_found';
            p := fs_err(format('Export %s is %s: its file exists once it has succeeded.',
                               e.id, e.status), 'id');
        ELSE
            o := 'ok';
            p := json_build_object('key', e.object_key, 'sha256', e.sha256, 'id', e.id,
                                   'type', e.type, 'bytes', e.bytes)::text;
        END IF;
    ELSE
        RAISE EXCEPTION 'fs_export_api: unknown op %', j->>'op';
    END IF;
END
$$;

-- The next export to make: the oldest pending one, or a running one whose
-- lease expired (its worker died). One that has been claimed max_attempts
-- times already is failed instead: it crashed a worker each time.
CREATE OR REPLACE FUNCTION fs_export_claim(lease_s int, max_attempts int)
RETURNS SETOF exports
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE exports y SET status = 'failed', finished_at = now(), lease_until = NULL,
                         error = format('Gave up after %s attempts.', y.attempts)
    WHERE y.status = 'running' AND y.lease_until < now() AND y.attempts >= max_attempts;
    RETURN QUERY
    UPDATE exports y SET status = 'running', attempts = y.attempts + 1,
                         lease_until = now() + make_interval(secs => lease_s),
                         started_at = now()
    WHERE y.id = (SELECT x.id FROM exports x
                  WHERE x.status = 'pending'
                     OR (x.status = 'running' AND x.lease_until < now())
                  ORDER BY x.seq LIMIT 1 FOR UPDATE SKIP LOCKED)
    RETURNING y.*;
END
$$;

-- The end of claim number `attempt` of export `id`: false when the export
-- was taken over since (its lease expired), and then nothing changes.
CREATE OR REPLACE FUNCTION fs_export_finish(eid text, attempt int, ok boolean, n_rows bigint,
                                            n_bytes bigint, okey text, sha text, err text)
RETURNS boolean
LANGUAGE sql AS $$
    WITH u AS (
        UPDATE exports y
        SET status = CASE WHEN ok THEN 'succeeded' ELSE 'failed' END,
            rows = n_rows, bytes = n_bytes, object_key = okey, sha256 = sha,
            error = err, finished_at = now(), lease_until = NULL
        WHERE y.id = eid AND y.attempts = attempt AND y.status = 'running'
        RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM u)
$$;
