-- feed.sql: the event log read as a feed, in commit order, by the readers
-- downstream of a payment (docs/architecture.md, "The event log").
--
-- fs_feed_take(name, max) hands out the next events of the feed `name` and
-- moves its cursor past them, in the caller's transaction: a reader does its
-- work on them in that same transaction (an upsert into the search model, a
-- delivery row per webhook endpoint, a receipt row), so the work and the
-- cursor commit together and nothing is taken twice or skipped. A reader
-- whose work has effects outside PostgreSQL records them as rows here first
-- and acts on the rows afterwards.
--
-- Only events whose transaction id is below the horizon (the oldest
-- transaction still running, pg_snapshot_xmin) are handed out: every
-- transaction below it has ended, so no event can still appear behind the
-- cursor. The price is a lag as long as the longest transaction running,
-- which statement and idle timeouts bound.
--
-- One reader per feed at a time: the cursor row is locked with SKIP LOCKED,
-- and a second caller gets no rows rather than waiting.

CREATE OR REPLACE FUNCTION fs_feed_take(p_name text, p_max int)
RETURNS SETOF events
LANGUAGE plpgsql
SET enable_seqscan = off
AS $$
DECLARE
    cur     feed_cursors;
    horizon xid8;
    last    events;
BEGIN
    INSERT INTO feed_cursors (name) VALUES (p_name) ON CONFLICT DO NOTHING;
    SELECT * INTO cur FROM feed_cursors c WHERE c.name = p_name FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    horizon := pg_snapshot_xmin(pg_current_snapshot());
    FOR last IN
        SELECT * FROM events e
        WHERE (e.txid, e.seq) > (cur.txid, cur.seq) AND e.txid < horizon
        ORDER BY e.txid, e.seq
        LIMIT p_max
    LOOP
        RETURN NEXT last;
        cur.txid := last.txid;
        cur.seq := last.seq;
    END LOOP;
    UPDATE feed_cursors c SET txid = cur.txid, seq = cur.seq, updated_at = now()
    WHERE c.name = p_name;
END
$$;

-- An event as the API shows it (GET /v1/events, webhook bodies).
CREATE OR REPLACE FUNCTION fs_event_json(e events) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', e.id, 'object', 'event', 'type', e.type, 'account', e.account_id,
        'sequence', e.account_seq, 'created_at', fs_ts(e.created_at),
        'data', json_build_object('object', e.data))
$$;
