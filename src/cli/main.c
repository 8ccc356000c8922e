/*
 * main.c: the finsys command: server, worker, migrate, apikey create, list, revoke and
 * rotate, tenant limits and deposits,
 * provider-sim, webhook-sink.
 */
#include <event2/thread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../admin/admin.h"
#include "../archive/archive.h"
#include "../auth/auth.h"
#include "../config/config.h"
#include "../core/core.h"
#include "../http/http.h"
#include "../lock/lock.h"
#include "../recon/recon.h"
#include "../provider/provider.h"
#include "../ratelimit/ratelimit.h"
#include "../store/store.h"
#include "../worker/worker.h"

static const char usage_main[] =
    "usage: finsys <command> [options]\n"
    "\n"
    "commands:\n"
    "  server                       serve the HTTP API\n"
    "  migrate                      apply the database migrations (idempotent)\n"
    "  apikey create --tenant NAME  create a tenant if missing and print a new API key\n"
    "  apikey list|revoke|rotate    list a tenant's keys, revoke one, or rotate it\n"
    "  worker                       settle pending payments through the provider\n"
    "  tenant limits --tenant NAME  set a tenant's rate limits\n"
    "  tenant deposits --tenant NAME on|off  let the tenant's keys deposit, or not\n"
    "  provider-sim [options]       run the simulated payment provider\n"
    "  webhook-sink [options]       run a webhook receiver that answers 204 (bench, tests)\n"
    "  job purge [options]          run a singleton job under its Redis lock\n"
    "  reconcile --date D           reconcile a day against the provider's report\n"
    "  archive run|verify           archive the event log's closed days; check an archive\n"
    "  staff create --email E --role R  create an admin console user\n"
    "  staff disable|enable --email E   disable (or enable again) a console user\n"
    "  admin routes                 list the admin API's routes and their roles\n"
    "\n"
    "Settings come from FINSYS_* environment variables; see docs/operations.md.\n"
    "Run 'finsys <command> --help' for a command's options.\n";

static const char usage_server[] =
    "usage: finsys server [--dev]\n"
    "\n"
    "Serves the HTTP API until SIGINT or SIGTERM. Refuses a database role that is a\n"
    "superuser or connects without a password, unless --dev or FINSYS_DEV=1 (a\n"
    "development stack; docs/operations.md, \"Production settings\").\n"
    "  FINSYS_HTTP_HOST (127.0.0.1)  FINSYS_HTTP_PORT (8080)  FINSYS_HTTP_THREADS (cores)\n"
    "  FINSYS_DATABASE_URL (libpq connection string)\n"
    "  FINSYS_DATABASE_READ_URL (unset: lists read FINSYS_DATABASE_URL; else a replica's,\n"
    "    at most 1 s stale, a tenant's own writes read from the primary)\n"
    "  FINSYS_SECRETS_KEY (required: 32 bytes, hex or base64, sealing webhook secrets;\n"
    "    at start the server seals secrets still stored in clear)\n"
    "  FINSYS_BATCH_ITEMS (256)  FINSYS_BATCH_WAIT_US (200)  FINSYS_DB_CONNECTIONS (4)\n"
    "  FINSYS_IDEMPOTENCY_TTL_HOURS (24)  FINSYS_IDEMPOTENCY_PURGE_INTERVAL_S (60)\n"
    "  FINSYS_RATE_LIMIT_PER_S (100)  FINSYS_RATE_LIMIT_BURST (200): per API key\n"
    "  FINSYS_RATE_LIMIT_ADDR_PER_S (1000)  FINSYS_RATE_LIMIT_ADDR_BURST (2000): per address\n"
    "  FINSYS_LOG_LEVEL (info)\n";

static const char usage_worker[] =
    "usage: finsys worker [--dev]\n"
    "\n"
    "--dev (or FINSYS_DEV=1): accept a superuser or a connection without a password\n"
    "(a development stack), as finsys server.\n"
    "Settles pending payments until SIGINT or SIGTERM: takes them from the\n"
    "payments stream, charges them at the provider behind a circuit breaker,\n"
    "retries with back-off, dead-letters after the last attempt, and publishes\n"
    "again what the broker lost (the sweeper).\n"
    "  FINSYS_DATABASE_URL  FINSYS_NATS_URL (nats://127.0.0.1:4222)\n"
    "  FINSYS_SECRETS_KEY (required: the servers' key, to sign webhooks)\n"
    "  FINSYS_PROVIDER_URL (http://127.0.0.1:8090)  FINSYS_PROVIDER_TIMEOUT_MS (2000)\n"
    "  FINSYS_WORKER_INFLIGHT (512)  FINSYS_WORKER_MAX_ATTEMPTS (8)\n"
    "  FINSYS_RETRY_BASE_MS (200)  FINSYS_RETRY_CAP_MS (30000)\n"
    "  FINSYS_BREAKER_WINDOW (20)  FINSYS_BREAKER_MIN_CALLS (10)\n"
    "  FINSYS_BREAKER_FAILURE_PCT (50)  FINSYS_BREAKER_OPEN_MS (5000)  FINSYS_BREAKER_PROBES (3)\n"
    "  FINSYS_SWEEP_AFTER_S (30)  FINSYS_SWEEP_INTERVAL_S (10)\n"
    "  FINSYS_WORKER_PORT (8081; GET /healthz and /state, the breaker's state; 0 = none)\n"
    "Also delivers webhooks (docs/webhooks.md):\n"
    "  FINSYS_WEBHOOK_TIMEOUT_MS (5000)  FINSYS_WEBHOOK_BACKOFF_BASE_MS (10000)\n"
    "  FINSYS_WEBHOOK_RETRY_PERIOD_S (86400)\n"
    "  FINSYS_BATCH_ITEMS, FINSYS_BATCH_WAIT_US, FINSYS_DB_CONNECTIONS, FINSYS_LOG_LEVEL\n";

static const char usage_migrate[] =
    "usage: finsys migrate\n"
    "\n"
    "Applies the SQL files of FINSYS_MIGRATIONS_DIR in name order, each in one\n"
    "transaction, recording each in schema_migrations. Running it again applies\n"
    "only what is new.\n";

static const char usage_apikey[] =
    "usage: finsys apikey create --tenant NAME [--operator ROLE | --admin]\n"
    "                            [--expires-in DURATION]\n"
    "       finsys apikey list --tenant NAME [--json]\n"
    "       finsys apikey revoke --key ID|PREFIX [--reason TEXT]\n"
    "       finsys apikey rotate --key ID|PREFIX [--overlap DURATION] [--reason TEXT]\n"
    "\n"
    "create: creates the tenant NAME if it does not exist (with an external\n"
    "account per currency) and a new API key for it, which stops working after\n"
    "--expires-in when given. The key is printed once and stored only as a hash.\n"
    "A tenant key works on /v1 only. --operator ROLE (viewer, support, finance or\n"
    "admin) makes an operator key instead: /admin/api only, with the authority of\n"
    "a staff user of that role over every tenant, each action audited with the\n"
    "key's id; --admin is --operator admin (docs/operations.md \"Operator authority\n"
    "and deposits\").\n"
    "list: the tenant's keys, newest first: id, prefix, status (active, expired,\n"
    "revoked), admin, and when each was created, expires and was revoked; never\n"
    "a secret.\n"
    "revoke: the key (its id, key_..., or its prefix, fsk_...) stops working at\n"
    "once, everywhere (its copy cached in Redis, FINSYS_REDIS_URL, is dropped).\n"
    "rotate: prints a new key for the same tenant, working at once; the old one\n"
    "keeps working for --overlap (default 1d, at most 30d; 0 ends it now).\n"
    "A DURATION is seconds, or N followed by s, m, h or d (90d). Revocations and\n"
    "rotations are audited with actor 'cli' (docs/operations.md \"API keys\").\n";

static const char usage_tenant[] =
    "usage: finsys tenant limits --tenant NAME (--per-s N --burst N | --default)\n"
    "       finsys tenant deposits --tenant NAME on|off\n"
    "\n"
    "deposits: whether the tenant's own keys may deposit (POST\n"
    "/v1/accounts/{id}/deposits); off for a new tenant (403 deposits_disabled),\n"
    "when money comes from a funding flow or an operator's adjustment. Audited\n"
    "with actor 'cli'.\n"
    "\n"
    "limits: sets the rate limit of each of the tenant's API keys: N requests a second,\n"
    "with bursts of up to N at once (1 to " FS_STR(
        FS_RATE_LIMIT_MAX) "); --default goes back to\n"
                           "FINSYS_RATE_LIMIT_PER_S and FINSYS_RATE_LIMIT_BURST. Takes effect at "
                           "once\n"
                           "(the keys' limits cached in Redis, FINSYS_REDIS_URL, are cleared).\n";

static const char usage_staff[] =
    "usage: finsys staff create --email EMAIL --role viewer|support|finance|admin "
    "[--password-stdin]\n"
    "\n"
    "Creates a user of the admin console (docs/console.md). The password is\n"
    "generated and printed once, or read from stdin (--password-stdin, at least\n" FS_STR(
        FS_ADMIN_PASSWORD_LEN_MIN) " characters); only its argon2id hash is stored.\n"
                                   "\n"
                                   "usage: finsys staff disable|enable --email EMAIL "
                                   "[--reason TEXT]\n"
                                   "\n"
                                   "Disables a user (their sessions end at once and they "
                                   "cannot log in)\n"
                                   "or enables them again; audited with actor 'cli'.\n";

static const char usage_admin[] =
    "usage: finsys admin routes\n"
    "\n"
    "Prints the admin API's routes, one a line: method, path, minimum role,\n"
    "and whether it changes state (src/admin's table).\n";

static bool wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return true;
    }
    return false;
}

/* A duration for --expires-in or --overlap: a count of seconds, or of
 * minutes, hours or days with the suffix m, h or d ("90d"), from min to
 * max seconds. */
static bool duration_arg(const char *opt, const char *v, long long min, long long max,
                         long long *out)
{
    char *end;
    long long n = v[0] >= '0' && v[0] <= '9' ? strtoll(v, &end, 10) : -1;
    long long unit = 1;
    if (n >= 0 && *end != '\0') {
        unit = strcmp(end, "s") == 0   ? 1
               : strcmp(end, "m") == 0 ? 60
               : strcmp(end, "h") == 0 ? 3600
               : strcmp(end, "d") == 0 ? 86400
                                       : 0;
    }
    if (n < 0 || unit == 0 || n > max / unit || n * unit < min) {
        fprintf(stderr,
                "finsys: %s must be a duration from %lld to %lld seconds: N, or Ns, Nm, Nh, Nd "
                "(got '%s')\n",
                opt, min, max, v);
        return false;
    }
    *out = n * unit;
    return true;
}

static const char *or_dash(const json_t *v)
{
    const char *s = json_string_value(v);
    return s != NULL ? s : "-";
}

/* finsys apikey list --tenant NAME [--json] */
static int cmd_apikey_list(const fs_config_t *c, int argc, char **argv)
{
    const char *tenant = NULL;
    bool as_json = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--tenant") == 0 && i + 1 < argc) {
            tenant = argv[++i];
        } else if (strcmp(argv[i], "--json") == 0) {
            as_json = true;
        } else {
            fprintf(stderr, "finsys: unknown option '%s'\n%s", argv[i], usage_apikey);
            return 2;
        }
    }
    if (tenant == NULL || *tenant == '\0' || strlen(tenant) > FS_NAME_LEN_MAX) {
        fprintf(stderr, "finsys: --tenant NAME (1 to %d bytes) is required\n%s", FS_NAME_LEN_MAX,
                usage_apikey);
        return 2;
    }
    json_t *keys;
    long long total;
    int rc = fs_store_api_key_list(c->database_url, tenant, FS_APIKEY_LIST_MAX, &keys, &total);
    if (rc == 2) fprintf(stderr, "finsys: no tenant is named '%s'\n", tenant);
    if (rc != 0) return 1;
    if (as_json) {
        char *text = json_dumps(keys, JSON_COMPACT);
        printf("%s\n", text);
        free(text);
    } else {
        printf("%-28s %-12s %-7s %-5s %-27s %-27s %s\n", "ID", "PREFIX", "STATUS", "ADMIN",
               "CREATED", "EXPIRES", "REVOKED");
        size_t i;
        json_t *k;
        json_array_foreach(keys, i, k)
        {
            printf("%-28s %-12s %-7s %-5s %-27s %-27s %s\n", or_dash(json_object_get(k, "id")),
                   or_dash(json_object_get(k, "prefix")), or_dash(json_object_get(k, "status")),
                   json_is_true(json_object_get(k, "admin")) ? "yes" : "no",
                   or_dash(json_object_get(k, "created_at")),
                   or_dash(json_object_get(k, "expires_at")),
                   or_dash(json_object_get(k, "revoked_at")));
        }
        if ((long long)json_array_size(keys) < total)
            printf("(%zu of %lld keys shown, the newest)\n", json_array_size(keys), total);
    }
    json_decref(keys);
    return 0;
}

/* finsys apikey revoke|rotate --key ID|PREFIX [--overlap D] [--reason TEXT] */
static int cmd_apikey_change(const fs_config_t *c, bool rotate, int argc, char **argv)
{
    const char *key = NULL, *reason = NULL;
    long long overlap = FS_APIKEY_ROTATE_OVERLAP_DEFAULT_S;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--key") == 0 && i + 1 < argc) {
            key = argv[++i];
        } else if (strcmp(argv[i], "--reason") == 0 && i + 1 < argc) {
            reason = argv[++i];
        } else if (rotate && strcmp(argv[i], "--overlap") == 0 && i + 1 < argc) {
            if (!duration_arg("--overlap", argv[++i], 0, FS_APIKEY_ROTATE_OVERLAP_MAX_S, &overlap))
                return 2;
        } else {
            fprintf(stderr, "finsys: unknown option '%s'\n%s", argv[i], usage_apikey);
            return 2;
        }
    }
    if (key == NULL || *key == '\0' || strlen(key) > FS_ID_LEN_MAX) {
        fprintf(stderr,
                "finsys: --key (a key's id, key_..., or its prefix, fsk_...) is required\n%s",
                usage_apikey);
        return 2;
    }
    if (reason != NULL && (*reason == '\0' || strlen(reason) > FS_ADMIN_REASON_LEN_MAX)) {
        fprintf(stderr, "finsys: --reason must be 1 to %d characters\n", FS_ADMIN_REASON_LEN_MAX);
        return 2;
    }
    const char *action = rotate ? "api_key.rotate" : "api_key.revoke";
    json_t *item = json_pack("{s:s, s:s, s:s}", "action", action, "key", key, "reason",
                             reason != NULL ? reason
                             : rotate       ? "finsys apikey rotate"
                                            : "finsys apikey revoke");
    char secret[FS_AUTH_KEY_BUF_LEN] = "";
    if (rotate) {
        /* The new key is made here and only its hash and prefix leave. */
        char hash[FS_AUTH_HASH_HEX_LEN + 1], prefix[FS_AUTH_KEY_DISPLAY_LEN + 1];
        fs_auth_key_new(secret, sizeof(secret));
        fs_auth_key_hash(secret, hash);
        memcpy(prefix, secret, FS_AUTH_KEY_DISPLAY_LEN);
        prefix[FS_AUTH_KEY_DISPLAY_LEN] = '\0';
        json_object_set_new(item, "key_hash", json_string(hash));
        json_object_set_new(item, "prefix", json_string(prefix));
        json_object_set_new(item, "overlap_s", json_integer(overlap));
    }
    char outcome[64];
    json_t *p;
    int rc = fs_store_api_key_write(c->database_url, item, outcome, sizeof(outcome), &p);
    if (rc != 0) {
        sodium_memzero(secret, sizeof(secret));
        return 1;
    }
    if (strcmp(outcome, "ok") != 0 && strcmp(outcome, "created") != 0) {
        const char *msg = json_string_value(json_object_get(p, "message"));
        fprintf(stderr, "finsys: %s\n", msg != NULL ? msg : outcome);
        json_decref(p);
        sodium_memzero(secret, sizeof(secret));
        return 1;
    }
    /* The replaced or revoked key's cached tenant goes from Redis at once
     * (its expiry bounds it otherwise: FS_APIKEY_AUTH_CACHE_S). */
    const char *old_hash = json_string_value(json_object_get(p, "key_hash"));
    if (old_hash != NULL) fs_ratelimit_forget_key(c->redis_url, old_hash);
    if (rotate) {
        const json_t *old = json_object_get(p, "rotated_from");
        printf("%s\n", secret);
        fprintf(stderr,
                "finsys: new key %s (%s) of tenant %s works now; it replaces %s (%s), which "
                "works until %s\n",
                or_dash(json_object_get(p, "id")), or_dash(json_object_get(p, "prefix")),
                or_dash(json_object_get(p, "tenant")), or_dash(json_object_get(old, "id")),
                or_dash(json_object_get(old, "prefix")),
                or_dash(json_object_get(old, "expires_at")));
    } else {
        printf("%s %s %s revoked %s\n", or_dash(json_object_get(p, "id")),
               or_dash(json_object_get(p, "prefix")), or_dash(json_object_get(p, "tenant")),
               or_dash(json_object_get(p, "revoked_at")));
    }
    sodium_memzero(secret, sizeof(secret));
    json_decref(p);
    return 0;
}

static int cmd_apikey(const fs_config_t *c, int argc, char **argv)
{
    const char *tenant = NULL;
    char scope[FS_ADMIN_SCOPE_LEN_MAX + 1] = "tenant";
    long long expires_in = 0;
    if (argc >= 1 && strcmp(argv[0], "list") == 0) return cmd_apikey_list(c, argc, argv);
    if (argc >= 1 && (strcmp(argv[0], "revoke") == 0 || strcmp(argv[0], "rotate") == 0))
        return cmd_apikey_change(c, strcmp(argv[0], "rotate") == 0, argc, argv);
    if (argc < 1 || strcmp(argv[0], "create") != 0) {
        fputs(usage_apikey, stderr);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--tenant") == 0 && i + 1 < argc) {
            tenant = argv[++i];
        } else if (strcmp(argv[i], "--admin") == 0) {
            /* As before issue 13's operator scopes: full authority. */
            snprintf(scope, sizeof(scope), "operator:admin");
        } else if (strcmp(argv[i], "--operator") == 0 && i + 1 < argc) {
            fs_role_t role = fs_admin_role_parse(argv[++i]);
            if (role == FS_ROLE_NONE) {
                fprintf(stderr,
                        "finsys: --operator takes a role: viewer, support, finance or admin "
                        "(got '%s')\n",
                        argv[i]);
                return 2;
            }
            snprintf(scope, sizeof(scope), "operator:%s", fs_admin_role_name(role));
        } else if (strcmp(argv[i], "--expires-in") == 0 && i + 1 < argc) {
            if (!duration_arg("--expires-in", argv[++i], 1, FS_APIKEY_EXPIRES_IN_MAX_S,
                              &expires_in))
                return 2;
        } else {
            fprintf(stderr, "finsys: unknown option '%s'\n%s", argv[i], usage_apikey);
            return 2;
        }
    }
    if (tenant == NULL || *tenant == '\0' || strlen(tenant) > FS_NAME_LEN_MAX) {
        fprintf(stderr, "finsys: --tenant NAME (1 to %d bytes) is required\n%s", FS_NAME_LEN_MAX,
                usage_apikey);
        return 2;
    }
    char key[FS_AUTH_KEY_BUF_LEN];
    if (fs_store_create_api_key(c->database_url, tenant, scope, expires_in, key, sizeof(key)) != 0)
        return 1;
    printf("%s\n", key);
    sodium_memzero(key, sizeof(key));
    return 0;
}

/* finsys staff disable|enable --email E [--reason R]. */
static int cmd_staff_state(const fs_config_t *c, bool disable, int argc, char **argv)
{
    const char *email = NULL, *reason = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--email") == 0 && i + 1 < argc) {
            email = argv[++i];
        } else if (strcmp(argv[i], "--reason") == 0 && i + 1 < argc) {
            reason = argv[++i];
        } else {
            fprintf(stderr, "finsys: unknown option '%s'\n%s", argv[i], usage_staff);
            return 2;
        }
    }
    if (email == NULL || strchr(email, '@') == NULL || strlen(email) > FS_ADMIN_EMAIL_LEN_MAX) {
        fprintf(stderr, "finsys: --email (an address) is required\n%s", usage_staff);
        return 2;
    }
    if (reason != NULL && (*reason == '\0' || strlen(reason) > FS_ADMIN_REASON_LEN_MAX)) {
        fprintf(stderr, "finsys: --reason must be 1 to %d characters\n", FS_ADMIN_REASON_LEN_MAX);
        return 2;
    }
    char lower[FS_ADMIN_EMAIL_LEN_MAX + 1], id[FS_ID_BUF_LEN];
    size_t i = 0;
    for (; email[i] != '\0'; i++)
        lower[i] = email[i] >= 'A' && email[i] <= 'Z' ? (char)(email[i] + 32) : email[i];
    lower[i] = '\0';
    int rc = fs_store_set_staff_disabled(c->database_url, lower, disable,
                                         reason != NULL ? reason
                                         : disable      ? "finsys staff disable"
                                                        : "finsys staff enable",
                                         id, sizeof(id));
    if (rc == 2) fprintf(stderr, "finsys: no staff %s\n", lower);
    if (rc != 0) return rc;
    printf("%s %s %s\n", id, lower, disable ? "disabled" : "enabled");
    return 0;
}

static int cmd_staff(const fs_config_t *c, int argc, char **argv)
{
    const char *email = NULL, *role = NULL;
    bool from_stdin = false;
    if (argc >= 1 && (strcmp(argv[0], "disable") == 0 || strcmp(argv[0], "enable") == 0))
        return cmd_staff_state(c, strcmp(argv[0], "disable") == 0, argc, argv);
    if (argc < 1 || strcmp(argv[0], "create") != 0) {
        fputs(usage_staff, stderr);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--email") == 0 && i + 1 < argc) {
            email = argv[++i];
        } else if (strcmp(argv[i], "--role") == 0 && i + 1 < argc) {
            role = argv[++i];
        } else if (strcmp(argv[i], "--password-stdin") == 0) {
            from_stdin = true;
        } else {
            fprintf(stderr, "finsys: unknown option '%s'\n%s", argv[i], usage_staff);
            return 2;
        }
    }
    if (email == NULL || strchr(email, '@') == NULL || strlen(email) > FS_ADMIN_EMAIL_LEN_MAX ||
        role == NULL || fs_admin_role_parse(role) == FS_ROLE_NONE) {
        fprintf(stderr,
                "finsys: --email (an address) and --role (viewer, support, finance or "
                "admin) are required\n%s",
                usage_staff);
        return 2;
    }
    char lower[FS_ADMIN_EMAIL_LEN_MAX + 1], password[FS_ADMIN_PASSWORD_LEN_MAX + 2];
    size_t i = 0;
    for (; email[i] != '\0'; i++)
        lower[i] = email[i] >= 'A' && email[i] <= 'Z' ? (char)(email[i] + 32) : email[i];
    lower[i] = '\0';
    if (from_stdin) {
        if (fgets(password, sizeof(password), stdin) == NULL) password[0] = '\0';
        password[strcspn(password, "\r\n")] = '\0';
        size_t len = strlen(password);
        if (len < FS_ADMIN_PASSWORD_LEN_MIN || len > FS_ADMIN_PASSWORD_LEN_MAX) {
            fprintf(stderr, "finsys: the password must be %d to %d characters\n",
                    FS_ADMIN_PASSWORD_LEN_MIN, FS_ADMIN_PASSWORD_LEN_MAX);
            return 2;
        }
    } else {
        fs_admin_password_new(password);
    }
    char hash[crypto_pwhash_STRBYTES], id[FS_ID_BUF_LEN];
    if (crypto_pwhash_str(hash, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
        fprintf(stderr, "finsys: out of memory hashing the password\n");
        return 1;
    }
    int rc = fs_store_create_staff(c->database_url, lower, role, hash, id, sizeof(id));
    if (rc == 2) fprintf(stderr, "finsys: staff %s exists\n", lower);
    if (rc != 0) return rc;
    if (from_stdin) {
        printf("%s %s %s\n", id, lower, role);
    } else {
        printf("%s\n", password);
    }
    sodium_memzero(password, sizeof(password));
    return 0;
}

static int cmd_admin(int argc, char **argv)
{
    if (argc != 1 || strcmp(argv[0], "routes") != 0) {
        fputs(usage_admin, stderr);
        return 2;
    }
    size_t n;
    const fs_admin_route_t *r = fs_admin_routes(&n);
    for (size_t i = 0; i < n; i++) {
        const char *m = r[i].method == FS_METHOD_GET     ? "GET"
                        : r[i].method == FS_METHOD_POST  ? "POST"
                        : r[i].method == FS_METHOD_PATCH ? "PATCH"
                                                         : "DELETE";
        printf("%s %s %s %s\n", m, r[i].path, fs_admin_role_name(r[i].min_role),
               r[i].writes ? "write" : "read");
    }
    return 0;
}

/* A count for --per-s or --burst, 1..FS_RATE_LIMIT_MAX. */
static bool rate_arg(const char *opt, const char *v, int *out)
{
    char *end;
    long n = strtol(v, &end, 10);
    if (*v == '\0' || *end != '\0' || n < 1 || n > FS_RATE_LIMIT_MAX) {
        fprintf(stderr, "finsys: %s must be an integer from 1 to %d (got '%s')\n", opt,
                FS_RATE_LIMIT_MAX, v);
        return false;
    }
    *out = (int)n;
    return true;
}

/* finsys tenant deposits --tenant NAME on|off */
static int cmd_tenant_deposits(const fs_config_t *c, int argc, char **argv)
{
    const char *tenant = NULL, *state = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--tenant") == 0 && i + 1 < argc) {
            tenant = argv[++i];
        } else if (state == NULL && (strcmp(argv[i], "on") == 0 || strcmp(argv[i], "off") == 0)) {
            state = argv[i];
        } else {
            fprintf(stderr, "finsys: unknown option '%s'\n%s", argv[i], usage_tenant);
            return 2;
        }
    }
    if (tenant == NULL || *tenant == '\0' || strlen(tenant) > FS_NAME_LEN_MAX || state == NULL) {
        fputs(usage_tenant, stderr);
        return 2;
    }
    int rc = fs_store_tenant_deposits(c->database_url, tenant, strcmp(state, "on") == 0);
    if (rc == 2) fprintf(stderr, "finsys: no tenant is named '%s'\n", tenant);
    return rc == 0 ? 0 : 1;
}

static int cmd_tenant(const fs_config_t *c, int argc, char **argv)
{
    const char *tenant = NULL;
    fs_rate_t rate = {0, 0};
    bool defaults = false;
    if (argc >= 1 && strcmp(argv[0], "deposits") == 0) return cmd_tenant_deposits(c, argc, argv);
    if (argc < 1 || strcmp(argv[0], "limits") != 0) {
        fputs(usage_tenant, stderr);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--tenant") == 0 && i + 1 < argc) {
            tenant = argv[++i];
        } else if (strcmp(argv[i], "--per-s") == 0 && i + 1 < argc) {
            if (!rate_arg("--per-s", argv[++i], &rate.per_s)) return 2;
        } else if (strcmp(argv[i], "--burst") == 0 && i + 1 < argc) {
            if (!rate_arg("--burst", argv[++i], &rate.burst)) return 2;
        } else if (strcmp(argv[i], "--default") == 0) {
            defaults = true;
        } else {
            fprintf(stderr, "finsys: unknown option '%s'\n%s", argv[i], usage_tenant);
            return 2;
        }
    }
    bool given = rate.per_s > 0 && rate.burst > 0;
    if (tenant == NULL || *tenant == '\0' || given == defaults ||
        (!given && (rate.per_s > 0 || rate.burst > 0))) {
        fputs(usage_tenant, stderr);
        return 2;
    }
    return fs_ratelimit_set_tenant(c->database_url, c->redis_url, tenant, defaults ? NULL : &rate);
}

/* Outside development, a superuser or a connection without a password is
 * refused: at start (the message on stderr, exit 2), and for every
 * connection made later (src/store/role.c). */
static bool refuse_role(const fs_config_t *config, const char *cmd)
{
    fs_store_require_role(true);
    char err[512];
    if (fs_store_check_role(config->database_url, err, sizeof(err)) == 0) return false;
    fprintf(stderr, "finsys: %s refuses to start: %s\n", cmd, err);
    return true;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        fputs(usage_main, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    const char *usage = strcmp(cmd, "server") == 0         ? usage_server
                        : strcmp(cmd, "worker") == 0       ? usage_worker
                        : strcmp(cmd, "migrate") == 0      ? usage_migrate
                        : strcmp(cmd, "apikey") == 0       ? usage_apikey
                        : strcmp(cmd, "tenant") == 0       ? usage_tenant
                        : strcmp(cmd, "provider-sim") == 0 ? fs_provider_sim_usage
                        : strcmp(cmd, "webhook-sink") == 0 ? fs_webhook_sink_usage
                        : strcmp(cmd, "job") == 0          ? fs_lock_job_usage
                        : strcmp(cmd, "reconcile") == 0    ? fs_recon_usage
                        : strcmp(cmd, "archive") == 0      ? fs_archive_usage
                        : strcmp(cmd, "staff") == 0        ? usage_staff
                        : strcmp(cmd, "admin") == 0        ? usage_admin
                                                           : NULL;
    if (usage == NULL) {
        fprintf(stderr, "finsys: unknown command '%s'\n\n%s", cmd, usage_main);
        return 2;
    }
    if (wants_help(argc - 2, argv + 2)) {
        fputs(usage, stdout);
        return 0;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "finsys: libsodium failed to initialise\n");
        return 1;
    }
    /* The simulator reads no FINSYS_* setting of the server's. */
    if (strcmp(cmd, "provider-sim") == 0) return fs_provider_sim_main(argc - 2, argv + 2);
    if (strcmp(cmd, "webhook-sink") == 0) return fs_webhook_sink_main(argc - 2, argv + 2);
    if (strcmp(cmd, "admin") == 0) return cmd_admin(argc - 2, argv + 2);
    fs_config_t config;
    char err[256];
    if (fs_config_load(&config, err, sizeof(err)) != 0) {
        fprintf(stderr, "finsys: %s\n", err);
        return 2;
    }
    fs_log_set_level(config.log_level);
    if (strcmp(cmd, "server") == 0 || strcmp(cmd, "worker") == 0) {
        bool server = strcmp(cmd, "server") == 0;
        bool dev = config.dev != 0;
        for (int i = 2; i < argc; i++) {
            if (strcmp(argv[i], "--dev") != 0) {
                fprintf(stderr, "finsys: unknown option '%s'\n%s", argv[i],
                        server ? usage_server : usage_worker);
                return 2;
            }
            dev = true;
        }
        if (fs_config_require_secrets_key(&config, err, sizeof(err)) != 0) {
            fprintf(stderr, "finsys: %s\n", err);
            return 2;
        }
        if (!dev && refuse_role(&config, cmd)) return 2;
        if (server) {
            /* Secrets at rest: rows from before migration 0029 are sealed
             * now, and the key must open those sealed before. */
            int sealed = 0, resealed = 0;
            int st = fs_store_seal_webhook_secrets(
                config.database_url, config.secrets_key,
                config.secrets_key_previous_set ? config.secrets_key_previous : NULL, &sealed,
                &resealed);
            if (st < 0) return 1;
            if (st > 0)
                fs_log(FS_LOG_WARN, "server",
                       "the database is unavailable: webhook secrets not checked; the next "
                       "start seals any stored in clear");
            if (sealed > 0)
                fs_log(FS_LOG_INFO, "server", "sealed %d webhook secret%s stored in clear", sealed,
                       sealed == 1 ? "" : "s");
            if (config.secrets_key_previous_set && st == 0)
                fs_log(FS_LOG_INFO, "server",
                       "re-sealed %d webhook secret%s under FINSYS_SECRETS_KEY; every secret "
                       "now opens with it (FINSYS_SECRETS_KEY_PREVIOUS may go once every "
                       "worker runs with the new key)",
                       resealed, resealed == 1 ? "" : "s");
        }
        evthread_use_pthreads();
        return server ? fs_http_serve(&config) : fs_worker_run(&config);
    }
    if (strcmp(cmd, "migrate") == 0) {
        if (argc > 2) {
            fprintf(stderr, "finsys: migrate takes no arguments\n%s", usage_migrate);
            return 2;
        }
        return fs_store_migrate(config.database_url, config.migrations_dir);
    }
    if (strcmp(cmd, "job") == 0) return fs_lock_job_main(&config, argc - 2, argv + 2);
    if (strcmp(cmd, "reconcile") == 0) return fs_recon_main(&config, argc - 2, argv + 2);
    if (strcmp(cmd, "archive") == 0) return fs_archive_main(&config, argc - 2, argv + 2);
    if (strcmp(cmd, "tenant") == 0) return cmd_tenant(&config, argc - 2, argv + 2);
    if (strcmp(cmd, "staff") == 0) return cmd_staff(&config, argc - 2, argv + 2);
    return cmd_apikey(&config, argc - 2, argv + 2);
}
