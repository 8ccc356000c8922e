-- replica.sql: a read on a streaming replica, no staler than the server asks
-- (issue 14; docs/operations.md "Reads on the replica").
--
-- The server's replica read store (src/store, FINSYS_DATABASE_READ_URL)
-- sends its lists and searches here rather than to fs_batch() directly, with
-- p_min_lsn: a position of the primary's WAL that the replica must have
-- replayed for the read to be fresh enough (src/replica picks it: every
-- write committed more than FS_READ_REPLICA_LAG_MAX_MS before the request,
-- and the tenant's own writes, lie at or before it).
--
-- The check and the read are two statements of this function: in READ
-- COMMITTED each takes its own snapshot, and a hot standby's snapshot holds
-- every commit replayed before it is taken. So the read's snapshot, taken
-- after the check, holds everything up to p_min_lsn; a read whose snapshot
-- came first could miss a commit replayed between the two.
--
-- The answer is fs_batch()'s rows, after one row of index -2 that says
-- where the read ran: 'replica_at' with the replay position, or
-- 'primary_at' when the connection reached a primary (libpq's
-- target_session_attrs=prefer-standby falls back to one; it is always
-- fresh). A replica behind p_min_lsn answers only 'replica_stale' with its
-- position, and reads nothing: the server sends the read to the primary.
CREATE OR REPLACE FUNCTION fs_read_at(p_items jsonb, p_min_lsn pg_lsn)
RETURNS TABLE (o_idx int, o_outcome text, o_replayed boolean, o_payload text)
LANGUAGE plpgsql
AS $$
DECLARE
    replayed pg_lsn;
BEGIN
    IF NOT pg_is_in_recovery() THEN
        RETURN QUERY SELECT -2, 'primary_at'::text, false, pg_current_wal_insert_lsn()::text;
    ELSE
        replayed := pg_last_wal_replay_lsn();
        IF replayed IS NULL OR replayed < p_min_lsn THEN
            RETURN QUERY SELECT -2, 'replica_stale'::text, false,
                                coalesce(replayed, '0/0'::pg_lsn)::text;
            RETURN;
        END IF;
        RETURN QUERY SELECT -2, 'replica_at'::text, false, replayed::text;
    END IF;
    RETURN QUERY SELECT b.o_idx, b.o_outcome, b.o_replayed, b.o_payload FROM fs_batch(p_items) b;
END
$$;
