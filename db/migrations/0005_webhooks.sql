-- 0005_webhooks: signed webhooks (issue 4). A tenant registers endpoints (a
-- URL and the event types it wants); the webhook fan-out (fs_webhook_fanout in
-- db/functions/webhooks.sql) reads the event log as the feed 'webhooks' and
-- writes one delivery row per event and subscribed endpoint, in the same
-- transaction as the feed's cursor; the notifier (src/notify) then POSTs
-- each delivery, signed with the endpoint's secret, retrying with back-off.
--
-- PostgreSQL is the truth about deliveries: the message on FS_NOTIFICATIONS
-- only says "try this delivery now", and a sweeper publishes again those due
-- whose message the broker may have lost.

CREATE TABLE webhook_endpoints (
    seq        bigserial NOT NULL,
    id         text PRIMARY KEY,                 -- 'we_' + 24 base62 (fs_id_new)
    tenant_id  text NOT NULL REFERENCES tenants (id),
    url        text NOT NULL,
    events     text[] NOT NULL,                  -- event types, or {'*'}
    -- The signing secret, stored as is: FinSys must sign with it, so a hash
    -- would not do (docs/webhooks.md says so). Shown once, at creation.
    secret     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- A deleted endpoint gets no new deliveries and its pending ones are
    -- canceled when next claimed; the row stays for its deliveries' sake.
    deleted_at timestamptz
);
CREATE INDEX webhook_endpoints_live ON webhook_endpoints (tenant_id, seq)
    WHERE deleted_at IS NULL;

CREATE TABLE webhook_deliveries (
    seq             bigserial PRIMARY KEY,
    -- 'whd_' || seq: the public id, also the message's Nats-Msg-Id
    id              text GENERATED ALWAYS AS ('whd_' || seq::text) STORED,
    tenant_id       text NOT NULL,
    event_seq       bigint NOT NULL,              -- events.seq (with tenant_id)
    endpoint_id     text NOT NULL REFERENCES webhook_endpoints (id),
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'delivered', 'dead', 'canceled')),
    attempts        int NOT NULL DEFAULT 0,       -- POSTs started
    -- When the next attempt is due; while an attempt runs, the end of its
    -- lease (a second message for the delivery is dropped until then).
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_status     int,                          -- the receiver's last HTTP status
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX webhook_deliveries_id ON webhook_deliveries (id);
-- One delivery per event and endpoint, however often the fan-out runs.
CREATE UNIQUE INDEX webhook_deliveries_event ON webhook_deliveries (endpoint_id, event_seq);
-- The sweeper's walk: pending deliveries by due time.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
