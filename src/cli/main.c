/*
 * main.c: the finsys command: server, worker, migrate, apikey create, tenant limits,
 * provider-sim, webhook-sink.
 */
#include <event2/thread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../admin/admin.h"
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
    "  worker                       settle pending payments through the provider\n"
    "  tenant limits --tenant NAME  set a tenant's rate limits\n"
    "  provider-sim [options]       run the simulated payment provider\n"
    "  webhook-sink [options]       run a webhook receiver that answers 204 (bench, tests)\n"
    "  job purge [options]          run a singleton job under its Redis lock\n"
    "  reconcile --date D           reconcile a day against the provider's report\n"
    "  staff create --email E --role R  create an admin console user\n"
    "  staff disable|enable --email E   disable (or enable again) a console user\n"
    "  admin routes                 list the admin API's routes and their roles\n"
    "\n"
    "Settings come from FINSYS_* environment variables; see docs/operations.md.\n"
    "Run 'finsys <command> --help' for a command's options.\n";

static const char usage_server[] =
    "usage: finsys server\n"
    "\n"
    "Serves the HTTP API until SIGINT or SIGTERM.\n"
    "  FINSYS_HTTP_HOST (127.0.0.1)  FINSYS_HTTP_PORT (8080)  FINSYS_HTTP_THREADS (cores)\n"
    "  FINSYS_DATABASE_URL (libpq connection string)\n"
    "  FINSYS_SECRETS_KEY (required: 32 bytes, hex or base64, sealing webhook secrets;\n"
    "    at start the server seals secrets still stored in clear)\n"
    "  FINSYS_BATCH_ITEMS (256)  FINSYS_BATCH_WAIT_US (200)  FINSYS_DB_CONNECTIONS (4)\n"
    "  FINSYS_IDEMPOTENCY_TTL_HOURS (24)  FINSYS_IDEMPOTENCY_PURGE_INTERVAL_S (60)\n"
    "  FINSYS_RATE_LIMIT_PER_S (100)  FINSYS_RATE_LIMIT_BURST (200): per API key\n"
    "  FINSYS_RATE_LIMIT_ADDR_PER_S (1000)  FINSYS_RATE_LIMIT_ADDR_BURST (2000): per address\n"
    "  FINSYS_LOG_LEVEL (info)\n";

static const char usage_worker[] =
    "usage: finsys worker\n"
    "\n"
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
    "usage: finsys apikey create --tenant NAME [--admin]\n"
    "\n"
    "Creates the tenant NAME if it does not exist (with an external account per\n"
    "currency) and a new API key for it. The key is printed once and stored only\n"
    "as a hash.\n";

static const char usage_tenant[] =
    "usage: finsys tenant limits --tenant NAME (--per-s N --burst N | --default)\n"
    "\n"
    "Sets the rate limit of each of the tenant's API keys: N requests a second,\n"
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

static int cmd_apikey(const fs_config_t *c, int argc, char **argv)
{
    const char *tenant = NULL;
    bool admin = false;
    if (argc < 1 || strcmp(argv[0], "create") != 0) {
        fputs(usage_apikey, stderr);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--tenant") == 0 && i + 1 < argc) {
            tenant = argv[++i];
        } else if (strcmp(argv[i], "--admin") == 0) {
            admin = true;
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
    if (fs_store_create_api_key(c->database_url, tenant, admin, key, sizeof(key)) != 0) return 1;
    printf("%s\n", key);
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

static int cmd_tenant(const fs_config_t *c, int argc, char **argv)
{
    const char *tenant = NULL;
    fs_rate_t rate = {0, 0};
    bool defaults = false;
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
    if ((strcmp(cmd, "server") == 0 || strcmp(cmd, "worker") == 0) && argc <= 2
        && fs_config_require_secrets_key(&config, err, sizeof(err)) != 0) {
        fprintf(stderr, "finsys: %s\n", err);
        return 2;
    }
    if (strcmp(cmd, "server") == 0) {
        if (argc > 2) {
            fprintf(stderr, "finsys: server takes no arguments\n%s", usage_server);
            return 2;
        }
        /* Secrets at rest: rows from before migration 0029 are sealed now,
         * and the key must open those sealed before. */
        int sealed = 0;
        if (fs_store_seal_webhook_secrets(config.database_url, config.secrets_key, &sealed) != 0)
            return 1;
        if (sealed > 0)
            fs_log(FS_LOG_INFO, "server", "sealed %d webhook secret%s stored in clear", sealed,
                   sealed == 1 ? "" : "s");
        evthread_use_pthreads();
        return fs_http_serve(&config);
    }
    if (strcmp(cmd, "worker") == 0) {
        if (argc > 2) {
            fprintf(stderr, "finsys: worker takes no arguments\n%s", usage_worker);
            return 2;
        }
        evthread_use_pthreads();
        return fs_worker_run(&config);
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
    if (strcmp(cmd, "tenant") == 0) return cmd_tenant(&config, argc - 2, argv + 2);
    if (strcmp(cmd, "staff") == 0) return cmd_staff(&config, argc - 2, argv + 2);
    return cmd_apikey(&config, argc - 2, argv + 2);
}
