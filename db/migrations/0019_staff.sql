-- 0019_staff: the admin console's staff users, their sessions, login
-- failures, the audit log, and API keys with ids and revocation
-- (docs/console.md, src/admin).

CREATE TABLE staff (
    id            text PRIMARY KEY,
    email         text NOT NULL UNIQUE CHECK (email = lower(email) AND length(email) <= 254),
    role          text NOT NULL CHECK (role IN ('viewer', 'support', 'finance', 'admin')),
    -- libsodium's crypto_pwhash_str (argon2id), never the password itself.
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    disabled_at   timestamptz
);

-- A session is known by the SHA-256 of its cookie's token; the token itself
-- is only ever in the browser.
CREATE TABLE staff_sessions (
    token_hash   bytea PRIMARY KEY,
    staff_id     text NOT NULL REFERENCES staff (id),
    csrf_token   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);
CREATE INDEX staff_sessions_staff ON staff_sessions (staff_id);

-- Failed logins per email (known or not), for the lockout: FS_ADMIN_LOGIN_
-- FAILURES_MAX within the window lock the email (db/functions/admin.sql).
CREATE TABLE staff_login_failures (
    email text NOT NULL,
    at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX staff_login_failures_email_at ON staff_login_failures (email, at);

CREATE TABLE audit_log (
    seq         bigserial PRIMARY KEY,
    id          text GENERATED ALWAYS AS ('aud_' || seq) STORED UNIQUE,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL,
    actor_email text,
    role        text NOT NULL,
    action      text NOT NULL,
    target      text,
    reason      text,
    before      jsonb,
    after       jsonb,
    request_id  text
);
CREATE INDEX audit_log_actor ON audit_log (actor, seq);
CREATE INDEX audit_log_action ON audit_log (action, seq);
CREATE INDEX audit_log_target ON audit_log (target, seq);

-- The audit log is append-only: no UPDATE, DELETE or TRUNCATE, whoever asks.
CREATE FUNCTION fs_audit_log_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP;
END
$$;
CREATE TRIGGER audit_log_immutable BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION fs_audit_log_immutable();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION fs_audit_log_immutable();

-- API keys get an id to name them by (audit actor, revocation) and a
-- revocation time: a revoked key is refused as an unknown one.
ALTER TABLE api_keys ADD COLUMN id text;
UPDATE api_keys SET id = 'key_' || substr(md5(random()::text || key_hash::text), 1, 24);
ALTER TABLE api_keys ALTER COLUMN id SET NOT NULL;
ALTER TABLE api_keys ALTER COLUMN id
    SET DEFAULT 'key_' || substr(md5(random()::text || clock_timestamp()::text), 1, 24);
ALTER TABLE api_keys ADD CONSTRAINT api_keys_id_unique UNIQUE (id);
ALTER TABLE api_keys ADD COLUMN revoked_at timestamptz;
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);
