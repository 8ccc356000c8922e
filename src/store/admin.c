/*
 * admin.c: the blocking operations of the command line: migrations and API
 * key creation (see store.h). They run outside any event loop.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../auth/auth.h"
#include "../core/core.h"
#include "../money/money.h"
#include "../notify/notify.h"
#include "store.h"

/* Serialises concurrent `finsys migrate` runs. */
#define MIGRATE_LOCK_ID 727100101

static bool exec_ok(PGconn *c, PGresult *r, const char *what)
{
    ExecStatusType st = PQresultStatus(r);
    bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok) fprintf(stderr, "finsys: %s failed: %s", what, PQerrorMessage(c));
    PQclear(r);
    return ok;
}

static void quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static PGconn *connect_blocking(const char *conninfo)
{
    /* Within the role check's timeout (a database that does not answer must
     * not hold a start or a command for minutes); the configured string,
     * expanded in place of dbname, overrides it when it sets one. */
    static const char *const keys[] = {"connect_timeout", "dbname", NULL};
    const char *values[] = {FS_STR(FS_STORE_ROLE_CHECK_CONNECT_S), conninfo, NULL};
    PGconn *c = PQconnectdbParams(keys, values, 1);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "finsys: cannot connect to the database: %s", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    PQsetNoticeProcessor(c, quiet, NULL);
    return c;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) fwrite(chunk, 1, n, mem);
    fclose(f);
    fclose(mem);
    return buf;
}

static int sql_filter(const struct dirent *d)
{
    size_t len = strlen(d->d_name);
    return len > 4 && strcmp(d->d_name + len - 4, ".sql") == 0;
}

static bool apply_one(PGconn *c, const char *dir, const char *file)
{
    char path[4096], version[256];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    snprintf(version, sizeof(version), "%.*s", (int)(strlen(file) - 4), file);
    const char *params[1] = {version};
    PGresult *r = PQexecParams(c, "SELECT 1 FROM schema_migrations WHERE version = $1", 1, NULL,
                               params, NULL, NULL, 0);
    bool applied = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    if (!exec_ok(c, r, "reading schema_migrations")) return false;
    if (applied) return true;

    char *sql = read_file(path);
    if (sql == NULL) {
        fprintf(stderr, "finsys: cannot read %s\n", path);
        return false;
    }
    bool ok = exec_ok(c, PQexec(c, "BEGIN"), "BEGIN") && exec_ok(c, PQexec(c, sql), path) &&
              exec_ok(c,
                      PQexecParams(c, "INSERT INTO schema_migrations (version) VALUES ($1)", 1,
                                   NULL, params, NULL, NULL, 0),
                      "recording the migration") &&
              exec_ok(c, PQexec(c, "COMMIT"), "COMMIT");
    free(sql);
    if (!ok) {
        PQclear(PQexec(c, "ROLLBACK"));
        return false;
    }
    printf("applied %s\n", version);
    return true;
}

/* Applies every file of the functions directory (CREATE OR REPLACE only), in
 * name order, in one transaction. */
static bool apply_functions(PGconn *c, const char *dir)
{
    struct dirent **files;
    int n = scandir(dir, &files, sql_filter, alphasort);
    if (n < 0) {
        fprintf(stderr, "finsys: cannot list functions in %s\n", dir);
        return false;
    }
    bool ok = exec_ok(c, PQexec(c, "BEGIN"), "BEGIN");
    for (int i = 0; i < n; i++) {
        char path[4096];
        int len = snprintf(path, sizeof(path), "%s/%s", dir, files[i]->d_name);
        if (len < 0 || (size_t)len >= sizeof(path)) ok = false;
        char *sql = ok ? read_file(path) : NULL;
        if (ok && sql == NULL) {
            fprintf(stderr, "finsys: cannot read %s\n", path);
            ok = false;
        }
        if (ok) ok = exec_ok(c, PQexec(c, sql), path);
        free(sql);
        free(files[i]);
    }
    free(files);
    ok = ok && exec_ok(c, PQexec(c, "COMMIT"), "COMMIT");
    if (!ok) PQclear(PQexec(c, "ROLLBACK"));
    return ok;
}

int fs_store_migrate(const char *conninfo, const char *dir)
{
    PGconn *c = connect_blocking(conninfo);
    if (c == NULL) return 1;
    struct dirent **files;
    int n = scandir(dir, &files, sql_filter, alphasort);
    if (n < 0) {
        fprintf(stderr, "finsys: cannot list migrations in %s\n", dir);
        PQfinish(c);
        return 1;
    }
    bool ok = exec_ok(c,
                      PQexec(c, "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                "version text PRIMARY KEY, "
                                "applied_at timestamptz NOT NULL DEFAULT now())"),
                      "creating schema_migrations");
    char lock[96];
    snprintf(lock, sizeof(lock), "SELECT pg_advisory_lock(%d)", MIGRATE_LOCK_ID);
    ok = ok && exec_ok(c, PQexec(c, lock), "taking the migration lock");
    for (int i = 0; i < n; i++) {
        if (ok) ok = apply_one(c, dir, files[i]->d_name);
        free(files[i]);
    }
    free(files);
    /* The functions live beside the migrations: db/functions. */
    char functions[4096];
    snprintf(functions, sizeof(functions), "%s/../functions", dir);
    ok = ok && apply_functions(c, functions);
    PQfinish(c);
    return ok ? 0 : 1;
}

/* With the previous key (a rotation): every sealed secret opens with key,
 * or is re-sealed under it from previous; one that opens with neither
 * stops the start. */
static bool reseal_webhook_secrets(PGconn *c, const unsigned char *key,
                                   const unsigned char *previous, int *resealed)
{
    PGresult *r = PQexec(c, "SELECT id, secret_sealed FROM webhook_endpoints "
                            "WHERE secret_sealed IS NOT NULL ORDER BY id FOR UPDATE");
    bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok) fprintf(stderr, "finsys: reading webhook secrets failed: %s", PQerrorMessage(c));
    for (int i = 0; ok && i < PQntuples(r); i++) {
        char secret[FS_NOTIFY_SECRET_LEN_MAX + 1];
        const char *id = PQgetvalue(r, i, 0), *sealed = PQgetvalue(r, i, 1);
        if (fs_notify_secret_open(key, sealed, secret, sizeof(secret))) {
            sodium_memzero(secret, sizeof(secret));
            continue;
        }
        if (!fs_notify_secret_open(previous, sealed, secret, sizeof(secret))) {
            fprintf(stderr,
                    "finsys: webhook endpoint %s's secret opens with neither FINSYS_SECRETS_KEY "
                    "nor FINSYS_SECRETS_KEY_PREVIOUS (docs/operations.md, \"Rotating the secrets "
                    "key\")\n",
                    id);
            ok = false;
            break;
        }
        char box[FS_NOTIFY_SEALED_BUF_LEN];
        ok = fs_notify_secret_seal(key, secret, box, sizeof(box));
        sodium_memzero(secret, sizeof(secret));
        const char *params[2] = {id, box};
        ok = ok && exec_ok(c,
                           PQexecParams(c,
                                        "UPDATE webhook_endpoints SET secret_sealed = $2 "
                                        "WHERE id = $1",
                                        2, NULL, params, NULL, NULL, 0),
                           "re-sealing a webhook secret");
        if (ok) (*resealed)++;
    }
    PQclear(r);
    return ok;
}

int fs_store_seal_webhook_secrets(const char *conninfo, const unsigned char *key,
                                  const unsigned char *previous, int *sealed, int *resealed)
{
    *sealed = 0;
    *resealed = 0;
    PGconn *c = connect_blocking(conninfo);
    if (c == NULL) return 1; /* nothing checked: the caller starts without it */
    bool ok = exec_ok(c, PQexec(c, "BEGIN"), "sealing webhook secrets");
    PGresult *r = ok ? PQexec(c, "SELECT id, secret FROM webhook_endpoints "
                                 "WHERE secret IS NOT NULL ORDER BY id FOR UPDATE")
                     : NULL;
    if (ok && PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "finsys: reading webhook secrets failed (has `finsys migrate` run?): %s",
                PQerrorMessage(c));
        ok = false;
    }
    for (int i = 0; ok && i < PQntuples(r); i++) {
        char box[FS_NOTIFY_SEALED_BUF_LEN];
        if (!fs_notify_secret_seal(key, PQgetvalue(r, i, 1), box, sizeof(box))) {
            fprintf(stderr, "finsys: webhook endpoint %s's secret is longer than %d bytes: "
                    "cannot seal it\n", PQgetvalue(r, i, 0), FS_NOTIFY_SECRET_LEN_MAX);
            ok = false;
            break;
        }
        const char *params[2] = {PQgetvalue(r, i, 0), box};
        ok = exec_ok(c,
                     PQexecParams(c,
                                  "UPDATE webhook_endpoints SET secret_sealed = $2, secret = NULL "
                                  "WHERE id = $1",
                                  2, NULL, params, NULL, NULL, 0),
                     "sealing a webhook secret");
        if (ok) (*sealed)++;
    }
    if (r != NULL) PQclear(r);
    r = NULL;
    if (ok && previous != NULL) ok = reseal_webhook_secrets(c, key, previous, resealed);
    /* The key must open what is sealed: a changed key would make every
     * delivery fail, so the server does not start with it. */
    r = ok ? PQexec(c, "SELECT id, secret_sealed FROM webhook_endpoints "
                       "WHERE secret_sealed IS NOT NULL ORDER BY seq DESC LIMIT 1")
           : NULL;
    if (ok && PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "finsys: reading webhook secrets failed: %s", PQerrorMessage(c));
        ok = false;
    } else if (ok && PQntuples(r) == 1) {
        char secret[FS_NOTIFY_SECRET_LEN_MAX + 1];
        if (!fs_notify_secret_open(key, PQgetvalue(r, 0, 1), secret, sizeof(secret))) {
            fprintf(stderr,
                    "finsys: FINSYS_SECRETS_KEY does not open the sealed secret of webhook "
                    "endpoint %s: it is not the key the secrets were sealed with (to change "
                    "it, set the old one in FINSYS_SECRETS_KEY_PREVIOUS: docs/operations.md, "
                    "\"Rotating the secrets key\")\n",
                    PQgetvalue(r, 0, 0));
            ok = false;
        }
        sodium_memzero(secret, sizeof(secret));
    }
    if (r != NULL) PQclear(r);
    ok = ok && exec_ok(c, PQexec(c, "COMMIT"), "sealing webhook secrets");
    if (!ok) *sealed = *resealed = 0;
    PQfinish(c);
    return ok ? 0 : -1;
}

static bool exec_params(PGconn *c, const char *sql, int n, const char *const *params,
                        const char *what)
{
    return exec_ok(c, PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0), what);
}

bool fs_store_run_blocking(PGconn *db, json_t *item, char *outcome, size_t outcome_len,
                           json_t **payload, char *err, size_t err_len)
{
    json_t *items = json_pack("[o]", item);
    char *text = json_dumps(items, JSON_COMPACT);
    json_decref(items);
    const char *params[] = {text};
    PGresult *res = PQexecParams(db, "SELECT o_outcome, o_payload FROM fs_batch($1::jsonb)", 1,
                                 NULL, params, NULL, NULL, 0);
    free(text);
    bool ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
    if (!ok) {
        snprintf(err, err_len, "PostgreSQL: %s", PQerrorMessage(db));
    } else {
        snprintf(outcome, outcome_len, "%s", PQgetvalue(res, 0, 0));
        *payload = json_loads(PQgetvalue(res, 0, 1), 0, NULL);
    }
    PQclear(res);
    return ok;
}

int fs_store_create_api_key(const char *conninfo, const char *tenant, const char *scope,
                            long long expires_in_s, char *key_out, size_t key_len)
{
    PGconn *c = connect_blocking(conninfo);
    if (c == NULL) return 1;
    char tenant_id[FS_ID_BUF_LEN], key[FS_AUTH_KEY_BUF_LEN], hash[FS_AUTH_HASH_HEX_LEN + 1];
    char prefix[FS_AUTH_KEY_DISPLAY_LEN + 1];
    fs_id_new("ten", tenant_id, sizeof(tenant_id));
    fs_auth_key_new(key, sizeof(key));
    fs_auth_key_hash(key, hash);
    memcpy(prefix, key, FS_AUTH_KEY_DISPLAY_LEN);
    prefix[FS_AUTH_KEY_DISPLAY_LEN] = '\0';

    const char *p1[2] = {tenant_id, tenant};
    bool ok = exec_ok(c, PQexec(c, "BEGIN"), "BEGIN") &&
              exec_params(c,
                          "INSERT INTO tenants (id, name) VALUES ($1, $2) "
                          "ON CONFLICT (name) DO NOTHING",
                          2, p1, "creating the tenant");
    PGresult *r =
        PQexecParams(c, "SELECT id FROM tenants WHERE name = $1", 1, NULL, &tenant, NULL, NULL, 0);
    if (ok && PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
        snprintf(tenant_id, sizeof(tenant_id), "%s", PQgetvalue(r, 0, 0));
    } else {
        ok = false;
    }
    PQclear(r);

    size_t count;
    const fs_currency_t *cur = fs_money_currencies(&count);
    for (size_t i = 0; ok && i < count; i++) {
        char id[FS_ID_BUF_LEN];
        fs_id_new("acct", id, sizeof(id));
        const char *p2[3] = {id, tenant_id, cur[i].code};
        ok = exec_params(c,
                         "INSERT INTO accounts (id, tenant_id, currency, name, type) "
                         "VALUES ($1, $2, $3, 'external', 'external') "
                         "ON CONFLICT (tenant_id, currency) WHERE type = 'external' DO NOTHING",
                         3, p2, "creating the external accounts");
    }
    char expires[24];
    snprintf(expires, sizeof(expires), "%lld", expires_in_s);
    const char *p3[5] = {hash, tenant_id, prefix, scope, expires_in_s > 0 ? expires : NULL};
    ok = ok &&
         exec_params(c,
                     "INSERT INTO api_keys (key_hash, tenant_id, prefix, is_admin, scope, "
                     "expires_at) VALUES (decode($1, 'hex'), $2, $3, $4 <> 'tenant', $4, "
                     "now() + $5::bigint * interval '1 second')",
                     5, p3, "creating the API key") &&
         exec_ok(c, PQexec(c, "COMMIT"), "COMMIT");
    PQfinish(c);
    if (!ok) return 1;
    snprintf(key_out, key_len, "%s", key);
    return 0;
}

int fs_store_tenant_deposits(const char *conninfo, const char *tenant, bool on)
{
    PGconn *c = connect_blocking(conninfo);
    if (c == NULL) return 1;
    json_t *j = json_pack("{s:s, s:s, s:b, s:s, s:{s:s, s:s}}", "action", "tenant.deposits", "name",
                          tenant, "enabled", on, "reason", "finsys tenant deposits", "actor", "id",
                          "cli", "role", "admin");
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    const char *p[1] = {text};
    PGresult *r =
        PQexecParams(c, "SELECT o, p FROM fs_admin_write($1::jsonb)", 1, NULL, p, NULL, NULL, 0);
    free(text);
    int rc = 1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
        const char *o = PQgetvalue(r, 0, 0);
        rc = strcmp(o, "ok") == 0 ? 0 : strcmp(o, "not_found") == 0 ? 2 : 1;
        if (rc == 1) fprintf(stderr, "finsys: %s\n", PQgetvalue(r, 0, 1));
    } else {
        fprintf(stderr, "finsys: setting the tenant's deposits failed: %s", PQerrorMessage(c));
    }
    PQclear(r);
    PQfinish(c);
    return rc;
}

int fs_store_create_staff(const char *conninfo, const char *email, const char *role,
                          const char *password_hash, char *id_out, size_t id_len)
{
    PGconn *c = connect_blocking(conninfo);
    if (c == NULL) return 1;
    char id[FS_ID_BUF_LEN];
    fs_id_new("stf", id, sizeof(id));
    const char *p[4] = {id, email, role, password_hash};
    PGresult *r = PQexecParams(c,
                               "WITH s AS (INSERT INTO staff (id, email, role, password_hash) "
                               "VALUES ($1, $2, $3, $4) ON CONFLICT (email) DO NOTHING "
                               "RETURNING *), a AS (INSERT INTO audit_log (actor, role, action, "
                               "target, reason, after) SELECT 'cli', 'admin', 'staff.create', "
                               "s.id, 'finsys staff create', fs_staff_json(s) FROM s) "
                               "SELECT count(*) FROM s",
                               4, NULL, p, NULL, NULL, 0);
    int rc = 1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK) {
        rc = strcmp(PQgetvalue(r, 0, 0), "1") == 0 ? 0 : 2;
    } else {
        fprintf(stderr, "finsys: creating the staff user failed: %s", PQerrorMessage(c));
    }
    PQclear(r);
    PQfinish(c);
    if (rc == 0) snprintf(id_out, id_len, "%s", id);
    return rc;
}

int fs_store_set_staff_disabled(const char *conninfo, const char *email, bool disable,
                                const char *reason, char *id_out, size_t id_len)
{
    PGconn *c = connect_blocking(conninfo);
    if (c == NULL) return 1;
    json_t *j = json_pack("{s:s, s:s, s:s, s:{s:s, s:s}}", "action",
                          disable ? "staff.disable" : "staff.enable", "email", email, "reason",
                          reason, "actor", "id", "cli", "role", "admin");
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    const char *p[1] = {text};
    PGresult *r =
        PQexecParams(c, "SELECT o, p FROM fs_admin_write($1::jsonb)", 1, NULL, p, NULL, NULL, 0);
    free(text);
    int rc = 1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
        const char *o = PQgetvalue(r, 0, 0);
        if (strcmp(o, "ok") == 0) {
            json_t *s = json_loads(PQgetvalue(r, 0, 1), 0, NULL);
            const char *id = json_string_value(json_object_get(s, "id"));
            snprintf(id_out, id_len, "%s", id != NULL ? id : "");
            json_decref(s);
            rc = 0;
        } else if (strcmp(o, "not_found") == 0) {
            rc = 2;
        } else {
            fprintf(stderr, "finsys: %s: %s\n", o, PQgetvalue(r, 0, 1));
        }
    } else {
        fprintf(stderr, "finsys: changing the staff user failed: %s", PQerrorMessage(c));
    }
    PQclear(r);
    PQfinish(c);
    return rc;
}

/* The id of the key named by id_or_prefix (its id, key_..., or the prefix
 * lists show, fsk_...): 0, 2 when none, 3 when a prefix names several. */
static int resolve_key(PGconn *c, const char *id_or_prefix, char *id, size_t id_len)
{
    const char *p[1] = {id_or_prefix};
    PGresult *r = PQexecParams(c,
                               "SELECT y.id FROM api_keys y WHERE y.id = $1 OR y.prefix = $1 "
                               "LIMIT 2",
                               1, NULL, p, NULL, NULL, 0);
    int rc = 1;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "finsys: reading the API key failed: %s", PQerrorMessage(c));
    } else if (PQntuples(r) == 0) {
        rc = 2;
    } else if (PQntuples(r) > 1) {
        rc = 3;
    } else {
        snprintf(id, id_len, "%s", PQgetvalue(r, 0, 0));
        rc = 0;
    }
    PQclear(r);
    return rc;
}

int fs_store_api_key_write(const char *conninfo, json_t *item, char *outcome, size_t outcome_len,
                           json_t **payload)
{
    *payload = NULL;
    snprintf(outcome, outcome_len, "%s", "");
    PGconn *c = connect_blocking(conninfo);
    if (c == NULL) {
        json_decref(item);
        return 1;
    }
    char id[FS_ID_BUF_LEN];
    const char *named = json_string_value(json_object_get(item, "key"));
    int rc = resolve_key(c, named != NULL ? named : "", id, sizeof(id));
    if (rc == 2) fprintf(stderr, "finsys: no API key has the id or prefix '%s'\n", named);
    if (rc == 3)
        fprintf(stderr,
                "finsys: several API keys have the prefix '%s'; name one by its id "
                "(finsys apikey list)\n",
                named);
    if (rc != 0) {
        json_decref(item);
        PQfinish(c);
        return rc;
    }
    json_object_set_new(item, "key", json_string(id));
    json_object_set_new(item, "actor", json_pack("{s:s, s:s}", "id", "cli", "role", "admin"));
    char *text = json_dumps(item, JSON_COMPACT);
    json_decref(item);
    const char *p[1] = {text};
    PGresult *r =
        PQexecParams(c, "SELECT o, p FROM fs_admin_write($1::jsonb)", 1, NULL, p, NULL, NULL, 0);
    free(text);
    rc = 1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
        snprintf(outcome, outcome_len, "%s", PQgetvalue(r, 0, 0));
        *payload = json_loads(PQgetvalue(r, 0, 1), 0, NULL);
        rc = *payload != NULL ? 0 : 1;
    } else {
        fprintf(stderr, "finsys: changing the API key failed: %s", PQerrorMessage(c));
    }
    PQclear(r);
    PQfinish(c);
    return rc;
}

int fs_store_api_key_list(const char *conninfo, const char *tenant, int max, json_t **keys,
                          long long *total)
{
    *keys = NULL;
    *total = 0;
    PGconn *c = connect_blocking(conninfo);
    if (c == NULL) return 1;
    char limit[16];
    snprintf(limit, sizeof(limit), "%d", max);
    const char *p[2] = {tenant, limit};
    PGresult *r = PQexecParams(
        c,
        "SELECT t.id, (SELECT count(*) FROM api_keys y WHERE y.tenant_id = t.id), "
        "       (SELECT coalesce(json_agg(fs_api_key_json(s.y) ORDER BY s.created_at DESC, "
        "                                 s.id DESC), '[]') "
        "        FROM (SELECT y, y.created_at, y.id FROM api_keys y WHERE y.tenant_id = t.id "
        "              ORDER BY y.created_at DESC, y.id DESC LIMIT $2::int) s) "
        "FROM tenants t WHERE t.name = $1",
        2, NULL, p, NULL, NULL, 0);
    int rc = 1;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "finsys: listing the API keys failed: %s", PQerrorMessage(c));
    } else if (PQntuples(r) == 0) {
        rc = 2;
    } else {
        *total = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
        *keys = json_loads(PQgetvalue(r, 0, 2), 0, NULL);
        rc = *keys != NULL ? 0 : 1;
    }
    PQclear(r);
    PQfinish(c);
    return rc;
}
