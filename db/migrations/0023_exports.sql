-- 0023_exports: CSV exports made in the background (issue 12).
--
-- POST /v1/exports makes a pending row (op export_create); a worker's export
-- thread claims it (fs_export_claim: running, with a lease), streams the CSV
-- to the object store and finishes it (fs_export_finish: succeeded with the
-- object's key, SHA-256, rows and bytes, or failed with an error). A worker
-- that dies mid-export leaves the row running: once its lease has expired
-- any worker claims it again (attempts counts the claims; the finish of a
-- claim that was taken over is refused by its attempt number).
CREATE TABLE exports (
    seq         bigserial NOT NULL,
    id          text PRIMARY KEY,
    tenant_id   text NOT NULL,
    type        text NOT NULL CHECK (type IN ('payments', 'statement', 'daily')),
    filters     jsonb NOT NULL DEFAULT '{}',
    status      text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'running', 'succeeded', 'failed')),
    rows        bigint,
    bytes       bigint,
    object_key  text,
    sha256      text,
    error       text,
    attempts    integer NOT NULL DEFAULT 0,
    lease_until timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    started_at  timestamptz,
    finished_at timestamptz
);
CREATE INDEX exports_tenant_seq ON exports (tenant_id, seq);
-- The claim's search: few rows (unfinished exports) whatever the history.
CREATE INDEX exports_unfinished ON exports (seq) WHERE status IN ('pending', 'running');
