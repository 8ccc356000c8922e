/*
 * store.h: the write path. One store per event loop owns a few non-blocking
 * PostgreSQL connections and executes operation items in groups: a group
 * closes at batch_items items or batch_wait_us microseconds after its first
 * item, whichever comes first, and while groups are in flight the next
 * gathers, so groups grow with load. A group is one call of fs_batch() (one
 * round trip, one commit, db/functions/batch.sql) and each item gets
 * its own outcome.
 *
 * A group that meets a deadlock or serialization failure is sent again (up
 * to FS_STORE_RETRIES_MAX times). A group that fails otherwise is split and
 * its items sent alone, so one bad item cannot fail its neighbours. When the
 * connection drops with a group in flight, its outcome is unknown: its items
 * get FS_UNAVAILABLE, and a client retry with the same Idempotency-Key finds
 * out what happened.
 *
 * Everything runs on the loop's thread; nothing here blocks.
 */
#ifndef FS_STORE_H
#define FS_STORE_H

#include <event2/event.h>
#include <jansson.h>
#include <stdbool.h>

typedef struct fs_store fs_store_t;

typedef struct {
    const char *conninfo; /* libpq connection string */
    int batch_items;      /* 1..FS_BATCH_ITEMS_MAX */
    int batch_wait_us;    /* 0..FS_BATCH_WAIT_US_MAX */
    int connections;      /* 1..FS_STORE_CONNECTIONS_MAX */
    /* --- reads (issue 13) --- */
    /* A read store (the server's lists and searches): its sessions'
     * transactions are read only (fs_batch() then claims no key and locks
     * no row), it reports no changed accounts, a statement cancelled by its
     * timeout answers "read_timeout" and a full queue "reads_overloaded".
     * Its connections do not count in fs_store_connected(). */
    bool read_only;
    int statement_timeout_ms; /* 0: FS_STORE_STATEMENT_TIMEOUT_MS */
    int queue_max;            /* 0: FS_STORE_QUEUE_MAX */
    /* --- reads on the replica (issue 14) ---
     * A read store on FINSYS_DATABASE_READ_URL: each item goes through
     * db/functions/replica.sql's fs_read_at() with the item's "read_lsn"
     * (taken out of the item; none: the read is stale wherever it runs), so
     * a replica that has not replayed it reads nothing and the item is
     * answered "replica_stale". Implies read_only. */
    bool replica;
} fs_store_config_t;

/* An item's result. outcome is the name fs_batch() gives ("created",
 * "insufficient_funds", ...) or "unavailable" / "overloaded" / "internal"
 * (a read store's: "read_timeout", "reads_overloaded");
 * payload is JSON text. Both are valid only during the callback. */
typedef struct {
    const char *outcome;
    bool replayed;
    const char *payload;
    /* A replica store's (issue 14): where the read ran, "replica" or
     * "primary" (the read URL reached a primary), and the position that
     * server had replayed (or written); NULL otherwise. outcome
     * "replica_stale": the replica had not replayed the item's read_lsn and
     * read nothing (payload: its position); read it elsewhere. */
    const char *read_at;
    const char *read_lsn;
} fs_store_result_t;

typedef void (*fs_store_cb)(void *arg, const fs_store_result_t *res);

fs_store_t *fs_store_new(struct event_base *base, const fs_store_config_t *config);

/* Frees the store. Items still queued or in flight get "unavailable". */
void fs_store_free(fs_store_t *store);

/* Queues item (the store takes the reference). An item whose op is flagged
 * FS_OPF_SOLO (src/op: lists, the key purge, the readers' runs, ...) runs
 * alone in its own transaction, so that it cannot lengthen a group's locks;
 * the others are grouped. cb is called exactly once, on the loop's thread;
 * when the connection fails as the item is sent, that can happen before this
 * call returns, so the caller must not touch arg after it. */
void fs_store_submit(fs_store_t *store, json_t *item, fs_store_cb cb, void *arg);

/* Called once per committed group that changed accounts, with their ids as
 * a JSON array (text valid only during the call), before the group's items
 * are answered: the caches (src/cache) invalidate them there. */
typedef void (*fs_store_changed_cb)(void *arg, const char *account_ids);

/* Sets the store's hook for changed accounts (one per store; NULL: none). */
void fs_store_on_changed(fs_store_t *store, fs_store_changed_cb cb, void *arg);

/* True while one of the store's connections is connected (it may still
 * fail the next item). */
bool fs_store_up(const fs_store_t *store);

/* True when nothing is queued or in flight. */
bool fs_store_idle(const fs_store_t *store);

/* True while a connection of any store of the process takes groups: the
 * database's readiness in /metrics. Any thread. */
bool fs_store_connected(void);

/* Runs the migrations in dir against conninfo, blocking (for `finsys
 * migrate`). Returns 0 on success. */
int fs_store_migrate(const char *conninfo, const char *dir);

/* Secrets at rest (docs/operations.md): seals, under key (FINSYS_SECRETS_KEY),
 * every webhook signing secret still stored in clear (rows from before
 * migration 0029), and checks that key opens the secrets already sealed.
 * Run by `finsys server` at start, blocking, in one transaction (servers
 * starting together seal each row once). Returns 0; 1 when the database
 * cannot be reached (nothing checked or sealed: the server starts, as it
 * does without a database, and /readyz says so; the next start seals); or
 * -1 with a message on stderr (the server then does not start). *sealed:
 * the rows sealed. */
int fs_store_seal_webhook_secrets(const char *conninfo, const unsigned char *key,
                                  const unsigned char *previous, int *sealed, int *resealed);

/* Creates the tenant if missing (with an external account per currency) and
 * a new API key for it, expiring expires_in_s from now (0: never); writes
 * the key into key_out. scope: "tenant", or an operator key's
 * "operator:<role>" (db/migrations/0030_operator_authority.sql). Blocking
 * (CLI). */
int fs_store_create_api_key(const char *conninfo, const char *tenant, const char *scope,
                            long long expires_in_s, char *key_out, size_t key_len);

/* `finsys tenant deposits`: turns the deposits of the tenant named tenant
 * by its own keys on or off (tenant.deposits, db/functions/admin.sql),
 * audited as the actor "cli". Blocking. Returns 0, 1 on a database error,
 * 2 when no tenant has that name. */
int fs_store_tenant_deposits(const char *conninfo, const char *tenant, bool on);

/* `finsys apikey revoke` and `rotate`: runs item (api_key.revoke or
 * api_key.rotate, db/functions/admin.sql) through fs_admin_write as the
 * actor "cli", its "key" an id (key_...) or a prefix (fsk_...). Takes the
 * item. outcome and *payload (a new reference) get the answer. Blocking.
 * Returns 0 (whatever the outcome), 1 on a database error, 2 when no key
 * has that id or prefix, 3 when several have the prefix (said on stderr). */
int fs_store_api_key_write(const char *conninfo, json_t *item, char *outcome, size_t outcome_len,
                           json_t **payload);

/* `finsys apikey list`: the tenant named tenant's keys, newest first, at
 * most max, as the admin API shows them (never a secret nor a hash), in
 * *keys (a new reference); *total gets how many it has. Blocking. Returns
 * 0, 1 on a database error, 2 when no tenant has that name. */
int fs_store_api_key_list(const char *conninfo, const char *tenant, int max, json_t **keys,
                          long long *total);

/* Creates a staff user (db/migrations/0019_staff.sql) with the argon2id
 * hash of password, and its audit row (actor "cli"). Blocking (CLI).
 * Returns 0, 1 on a database error, 2 when the email exists. */
/* One item through fs_batch() on a blocking connection (the CLI's jobs:
 * finsys job, finsys reconcile): its outcome and payload (a new reference,
 * NULL when not JSON) copied out. False, with why in err, when PostgreSQL
 * failed. */
struct pg_conn;
bool fs_store_run_blocking(struct pg_conn *db, json_t *item, char *outcome, size_t outcome_len,
                           json_t **payload, char *err, size_t err_len);

int fs_store_create_staff(const char *conninfo, const char *email, const char *role,
                          const char *password_hash, char *id_out, size_t id_len);

/* Disables (or enables again) the staff user of email through
 * db/functions/admin.sql's fs_admin_write (staff.disable, staff.enable: a
 * disabled user's sessions go), audited with actor "cli" and reason.
 * Blocking (CLI). Returns 0, 1 on a database error, 2 when no staff has the
 * email; id_out gets the user's id. */
int fs_store_set_staff_disabled(const char *conninfo, const char *email, bool disable,
                                const char *reason, char *id_out, size_t id_len);

/* The database role of a server or worker (issue 13; docs/operations.md,
 * "Production settings"). Once fs_store_require_role(true) is called (by
 * `finsys server` and `finsys worker` without FINSYS_DEV=1 or --dev), a
 * connection is refused when its role is a superuser (it could drop any
 * table, and bypasses row checks and every grant) or when it needed no
 * password (trust, or peer, in pg_hba.conf: anyone on the database's host
 * could connect as FinSys): the store's connections are closed, logged and
 * tried again, so /readyz reports the database unavailable. Off by default
 * (the CLI's tools, the tests of the modules). */
void fs_store_require_role(bool on);

/* NULL when conn (connected) may be used; otherwise why not, a sentence
 * naming the setting to change, written into buf. Always NULL while
 * fs_store_require_role is off. */
const char *fs_store_role_refused(struct pg_conn *conn, char *buf, size_t len);

/* At start (blocking): connects once with conninfo (connect_timeout at most
 * FS_STORE_ROLE_CHECK_CONNECT_S) and checks its role as above. 0 when it may
 * be used, or when the database cannot be reached (warned: the store then
 * checks each connection as it makes it); -1 with the sentence in err when
 * it is refused. */
int fs_store_check_role(const char *conninfo, char *err, size_t err_len);

#endif
