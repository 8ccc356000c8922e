-- archive.sql: the PostgreSQL side of the event log's archive (issue 15;
-- src/archive, 0032_event_archives.sql, docs/operations.md "Event archive").
--
-- PL/pgSQL throughout: this file is loaded before feed.sql and batch.sql,
-- whose functions (fs_event_json, fs_ts) these call.

-- The next day to archive of each tenant (at most p_max tenants, those whose
-- archives are furthest behind first; or only p_tenant): the UTC day of its
-- oldest event after its last archived day and before p_before (the end of
-- the last closed day). A tenant never archived starts from its first event
-- (by seq: one probe of events_tenant_seq), so that a tenant with nothing
-- closed costs two index probes, not a walk.
CREATE OR REPLACE FUNCTION fs_archive_candidates(p_before timestamptz, p_tenant text, p_max int)
RETURNS TABLE (tenant_id text, day date)
LANGUAGE plpgsql STABLE
-- (the events by index: a tenant's one probe, and the BRIN on created_at
-- for the days since its last archive; never a walk of the whole log)
SET enable_seqscan = off
AS $$
DECLARE
    t     record;
    low   timestamptz;
    first timestamptz;
BEGIN
    FOR t IN
        SELECT x.id, (SELECT max(a.day) FROM event_archives a WHERE a.tenant_id = x.id) AS last
        FROM tenants x
        WHERE p_tenant IS NULL OR x.id = p_tenant
        ORDER BY 2 NULLS FIRST, x.id
        LIMIT p_max
    LOOP
        IF t.last IS NOT NULL THEN
            low := (t.last + 1)::timestamp AT TIME ZONE 'UTC';
        ELSE
            SELECT e.created_at - interval '1 day' INTO low FROM events e
            WHERE e.tenant_id = t.id ORDER BY e.seq LIMIT 1;
            CONTINUE WHEN low IS NULL;
        END IF;
        CONTINUE WHEN low >= p_before;
        SELECT min(e.created_at) INTO first FROM events e
        WHERE e.tenant_id = t.id AND e.created_at >= low AND e.created_at < p_before;
        CONTINUE WHEN first IS NULL;
        tenant_id := t.id;
        day := (first AT TIME ZONE 'UTC')::date;
        RETURN NEXT;
    END LOOP;
END
$$;

-- The job's work 'archive' (fs_job_work, locks.sql): records a day whose
-- object and manifest are in the store, in the transaction its fence passed.
-- A day recorded already (another run's, before this one's crash) is left as
-- it is; "same" says whether its object's hash is this run's.
CREATE OR REPLACE FUNCTION fs_archive_record(args jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    a event_archives;
BEGIN
    INSERT INTO event_archives (tenant_id, day, key, count, first_seq, last_seq, sha256,
                                content_sha256, bytes, format, run_id)
    VALUES (args->>'tenant', (args->>'day')::date, args->>'key', (args->>'count')::bigint,
            (args->>'first_seq')::bigint, (args->>'last_seq')::bigint, args->>'sha256',
            args->>'content_sha256', (args->>'bytes')::bigint, (args->>'format')::int,
            (args->>'run')::bigint)
    ON CONFLICT ON CONSTRAINT event_archives_pkey DO NOTHING
    RETURNING * INTO a;
    IF FOUND THEN
        RETURN jsonb_build_object('tenant', a.tenant_id, 'day', a.day, 'recorded', true,
                                  'same', true);
    END IF;
    SELECT * INTO a FROM event_archives y
    WHERE y.tenant_id = args->>'tenant' AND y.day = (args->>'day')::date;
    RETURN jsonb_build_object('tenant', a.tenant_id, 'day', a.day, 'recorded', false,
                              'same', a.sha256 = args->>'sha256');
END
$$;

-- The job's work 'archive_drop' (retention): drops a day's events from
-- PostgreSQL, which the job has just read back from the store and checked
-- against them (sha256: the object it checked). All of the day or nothing,
-- and only when nothing downstream still needs them:
--   - the day is recorded with that object, and not dropped yet;
--   - its events are still those archived (count, first and last seq);
--   - every feed reader (webhooks, receipts, search, rollups) has taken them
--     (its cursor is at or past the day's last event in commit order);
--   - no webhook delivery of them is pending (a dead one stays dead: its
--     replay finds no event and is canceled, webhooks.sql).
-- payment.blocked events stay: a blocked attempt has no payment row, and the
-- daily export counts them from the events (src/export/runner.c).
-- Returns {"dropped": n} or {"held": reason}.
CREATE OR REPLACE FUNCTION fs_archive_drop(args jsonb) RETURNS jsonb
LANGUAGE plpgsql
SET enable_seqscan = off
AS $$
DECLARE
    a     event_archives;
    lo    timestamptz := (args->>'day')::date::timestamp AT TIME ZONE 'UTC';
    hi    timestamptz := ((args->>'day')::date + 1)::timestamp AT TIME ZONE 'UTC';
    n     bigint;
    fs    bigint;
    ls    bigint;
    mtx   xid8;
    mseq  bigint;
    feed  text;
BEGIN
    SELECT * INTO a FROM event_archives y
    WHERE y.tenant_id = args->>'tenant' AND y.day = (args->>'day')::date FOR UPDATE;
    IF NOT FOUND OR a.sha256 <> args->>'sha256' THEN
        RETURN jsonb_build_object('held', 'the day is not archived with the object checked');
    END IF;
    IF a.dropped_at IS NOT NULL THEN
        RETURN jsonb_build_object('held', 'dropped already');
    END IF;
    SELECT count(*), min(e.seq), max(e.seq) INTO n, fs, ls FROM events e
    WHERE e.tenant_id = a.tenant_id AND e.created_at >= lo AND e.created_at < hi;
    IF n <> a.count OR fs <> a.first_seq OR ls <> a.last_seq THEN
        RETURN jsonb_build_object('held', format(
            'the day now has %s events (seq %s to %s); the archive has %s (seq %s to %s)',
            n, fs, ls, a.count, a.first_seq, a.last_seq));
    END IF;
    SELECT e.txid, e.seq INTO mtx, mseq FROM events e
    WHERE e.tenant_id = a.tenant_id AND e.created_at >= lo AND e.created_at < hi
    ORDER BY e.txid DESC, e.seq DESC LIMIT 1;
    SELECT c.name INTO feed FROM feed_cursors c WHERE (c.txid, c.seq) < (mtx, mseq)
    ORDER BY c.name LIMIT 1;
    IF feed IS NOT NULL THEN
        RETURN jsonb_build_object('held', format('the feed %s has not taken them all yet', feed));
    END IF;
    IF EXISTS (SELECT 1 FROM webhook_deliveries d
               WHERE d.status = 'pending' AND d.tenant_id = a.tenant_id
                 AND d.event_seq BETWEEN a.first_seq AND a.last_seq) THEN
        RETURN jsonb_build_object('held', 'a webhook delivery of them is still pending');
    END IF;
    DELETE FROM events e
    WHERE e.tenant_id = a.tenant_id AND e.created_at >= lo AND e.created_at < hi
      AND e.type <> 'payment.blocked';
    GET DIAGNOSTICS n = ROW_COUNT;
    UPDATE event_archives y SET verified_at = now(), dropped_at = now(), dropped = n
    WHERE y.tenant_id = a.tenant_id AND y.day = a.day;
    RETURN jsonb_build_object('tenant', a.tenant_id, 'day', a.day, 'dropped', n);
END
$$;

-- Where a tenant's older events went, for GET /v1/events (the list's
-- "archive"): NULL while none of its days were dropped. The dropped days are
-- the oldest archived ones (retention takes them oldest first and stops at a
-- day it must hold), so "before" bounds them all.
CREATE OR REPLACE FUNCTION fs_event_archive_json(t text) RETURNS json
LANGUAGE plpgsql STABLE AS $$
DECLARE
    first_day date;
    last_day  date;
    n         bigint;
    last_seq  bigint;
    earliest  bigint;
BEGIN
    SELECT min(a.day), max(a.day), count(*), max(a.last_seq)
    INTO first_day, last_day, n, last_seq
    FROM event_archives a WHERE a.tenant_id = t AND a.dropped_at IS NOT NULL;
    IF n = 0 THEN
        RETURN NULL;
    END IF;
    SELECT e.seq INTO earliest FROM events e
    WHERE e.tenant_id = t AND e.seq > last_seq AND e.type <> 'payment.blocked'
    ORDER BY e.seq LIMIT 1;
    RETURN json_build_object(
        'object', 'event_archive',
        'before', to_char(last_day + 1, 'YYYY-MM-DD'),
        'first_day', to_char(first_day, 'YYYY-MM-DD'),
        'days', n,
        'earliest_event', CASE WHEN earliest IS NOT NULL THEN 'evt_' || earliest END,
        'key_format', 'archive/events/' || t || '/{YYYY}/{MM}/{DD}.jsonl.gz',
        'manifest_format', 'archive/events/' || t || '/{YYYY}/{MM}/{DD}.manifest.json',
        'kept', json_build_array('payment.blocked'));
END
$$;

-- The list of GET /v1/events, with "archive" when older events were dropped.
CREATE OR REPLACE FUNCTION fs_event_list_json(t text, data json, has_more boolean) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    arch json := fs_event_archive_json(t);
BEGIN
    IF arch IS NULL THEN
        RETURN fs_list_json(data, has_more);
    END IF;
    RETURN json_build_object('object', 'list', 'data', coalesce(data, '[]'::json),
                             'has_more', has_more, 'archive', arch)::text;
END
$$;
