-- 0032_event_archives: which days of the event log are archived in the
-- object store (issue 15; src/archive, db/functions/archive.sql,
-- docs/operations.md "Event archive").
--
-- The archive job writes each closed UTC day of a tenant's events as one
-- compressed object (key), and records it here in the transaction that its
-- fencing token passes: a crash between the object's put and this commit
-- only makes the next run write the same bytes under the same key again.
-- sha256 is the object's (compressed bytes), content_sha256 the JSON lines'
-- (uncompressed): with first_seq, last_seq and count they let
-- `finsys archive verify` check an archive whose events are gone.
--
-- Retention (FINSYS_EVENTS_RETENTION_DAYS) drops a day's events from
-- PostgreSQL only once the job has read the archive back and checked it
-- against them (verified_at), and marks the day dropped_at in that same
-- transaction. GET /v1/events reads the dropped days (the partial index) to
-- say where the older events are.
CREATE TABLE event_archives (
    tenant_id      text NOT NULL REFERENCES tenants (id),
    day            date NOT NULL,
    key            text NOT NULL,
    count          bigint NOT NULL CHECK (count > 0),
    first_seq      bigint NOT NULL,
    last_seq       bigint NOT NULL,
    sha256         text NOT NULL,
    content_sha256 text NOT NULL,
    bytes          bigint NOT NULL,
    format         int NOT NULL,
    run_id         bigint,                        -- job_runs.id of the run that wrote it
    archived_at    timestamptz NOT NULL DEFAULT now(),
    verified_at    timestamptz,                   -- read back and checked before a drop
    dropped_at     timestamptz,                   -- its events dropped from PostgreSQL
    dropped        bigint,                        -- how many (payment.blocked stay)
    PRIMARY KEY (tenant_id, day)
);
CREATE INDEX event_archives_dropped ON event_archives (tenant_id, day)
    WHERE dropped_at IS NOT NULL;
