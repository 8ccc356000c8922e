/*
 * config.c: FINSYS_* environment variables (see config.h).
 */
#include "config.h"

#include "../redis/redis.h"
#include "../objects/objects.h"

#include <sodium.h>
#include <arpa/inet.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef FS_MIGRATIONS_DIR
#define FS_MIGRATIONS_DIR "db/migrations"
#endif

static int int_var(const char *name, int def, int min, int max, int *out, char *err, size_t err_len)
{
    const char *v = getenv(name);
    *out = def;
    if (v == NULL || *v == '\0') return 0;
    char *end;
    long n = strtol(v, &end, 10);
    if (*end != '\0' || n < min || n > max) {
        snprintf(err, err_len, "%s must be an integer from %d to %d (got '%s')", name, min, max, v);
        return -1;
    }
    *out = (int)n;
    return 0;
}

static int str_var(const char *name, const char *def, char *out, size_t out_len, char *err,
                   size_t err_len)
{
    const char *v = getenv(name);
    if (v == NULL || *v == '\0') v = def;
    if (strlen(v) >= out_len) {
        snprintf(err, err_len, "%s is too long (at most %zu bytes)", name, out_len - 1);
        return -1;
    }
    snprintf(out, out_len, "%s", v);
    return 0;
}

/* One network of a list: ADDR[/BITS], without spaces. */
static bool net_parse(const char *text, fs_config_net_t *net)
{
    char buf[64];
    size_t len = strlen(text);
    if (len == 0 || len >= sizeof(buf)) return false;
    memcpy(buf, text, len + 1);
    char *slash = strchr(buf, '/');
    if (slash != NULL) *slash = '\0';
    memset(net, 0, sizeof(*net));
    if (inet_pton(AF_INET, buf, net->addr) == 1) {
        net->family = AF_INET;
        net->bits = 32;
    } else if (inet_pton(AF_INET6, buf, net->addr) == 1) {
        net->family = AF_INET6;
        net->bits = 128;
    } else {
        return false;
    }
    if (slash != NULL) {
        const char *b = slash + 1;
        char *end;
        long bits = strtol(b, &end, 10);
        if (*b < '0' || *b > '9' || *end != '\0' || bits > net->bits) return false;
        net->bits = (int)bits;
    }
    /* The bits past the prefix are zero, so a match compares whole bytes. */
    for (int i = 0; i < 16; i++) {
        int keep = net->bits - 8 * i;
        if (keep <= 0) {
            net->addr[i] = 0;
        } else if (keep < 8) {
            net->addr[i] &= (unsigned char)(0xff << (8 - keep));
        }
    }
    return true;
}

int fs_config_parse_nets(const char *text, fs_config_nets_t *out, char *err, size_t err_len)
{
    memset(out, 0, sizeof(*out));
    const char *p = text;
    while (*p != '\0') {
        while (*p == ' ' || *p == ',') p++;
        if (*p == '\0') break;
        size_t len = strcspn(p, ", ");
        char item[64];
        if (len >= sizeof(item)) {
            snprintf(err, err_len, "'%.*s...' is not a network (ADDRESS or ADDRESS/BITS)", 16,
                     p);
            return -1;
        }
        memcpy(item, p, len);
        item[len] = '\0';
        p += len;
        if (out->count == FS_WEBHOOK_ALLOWED_NETWORKS_MAX) {
            snprintf(err, err_len, "at most %d networks", FS_WEBHOOK_ALLOWED_NETWORKS_MAX);
            return -1;
        }
        if (!net_parse(item, &out->net[out->count])) {
            snprintf(err, err_len, "'%s' is not a network (ADDRESS or ADDRESS/BITS)", item);
            return -1;
        }
        out->count++;
    }
    return 0;
}

static int nets_var(const char *name, fs_config_nets_t *out, char *err, size_t err_len)
{
    const char *v = getenv(name);
    char why[128];
    if (fs_config_parse_nets(v != NULL ? v : "", out, why, sizeof(why)) != 0) {
        snprintf(err, err_len, "%s: %s", name, why);
        return -1;
    }
    return 0;
}

int fs_config_parse_secrets_key(const char *text, unsigned char *key, char *err, size_t err_len)
{
    size_t len = strlen(text), got = 0;
    const char *end = NULL;
    bool ok = len == 64 && sodium_hex2bin(key, 32, text, len, NULL, &got, &end) == 0 && got == 32
              && *end == '\0';
    if (!ok)
        ok = sodium_base642bin(key, 32, text, len, NULL, &got, &end,
                               sodium_base64_VARIANT_ORIGINAL) == 0
             && got == 32 && *end == '\0';
    if (!ok) {
        sodium_memzero(key, 32);
        snprintf(err, err_len,
                 "FINSYS_SECRETS_KEY must be 32 bytes as 64 hex digits or base64 (make one with: "
                 "head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n')");
        return -1;
    }
    return 0;
}

int fs_config_require_secrets_key(const fs_config_t *c, char *err, size_t err_len)
{
    if (c->secrets_key_set) return 0;
    snprintf(err, err_len,
             "FINSYS_SECRETS_KEY is not set: it seals the webhook signing secrets at rest "
             "(docs/operations.md, \"Secrets at rest\"). Make one with: head -c 32 /dev/urandom "
             "| od -An -tx1 | tr -d ' \\n'");
    return -1;
}

int fs_config_load(fs_config_t *c, char *err, size_t err_len)
{
    memset(c, 0, sizeof(*c));
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (cores < 1) cores = 1;
    if (cores > FS_HTTP_THREADS_MAX) cores = FS_HTTP_THREADS_MAX;
    if (str_var("FINSYS_HTTP_HOST", "127.0.0.1", c->http_host, sizeof(c->http_host), err,
                err_len) != 0 ||
        int_var("FINSYS_HTTP_PORT", 8080, 1, 65535, &c->http_port, err, err_len) != 0 ||
        int_var("FINSYS_HTTP_THREADS", (int)cores, 1, FS_HTTP_THREADS_MAX, &c->http_threads, err,
                err_len) != 0 ||
        str_var("FINSYS_DATABASE_URL", "host=127.0.0.1 port=5432 dbname=finsys user=postgres",
                c->database_url, sizeof(c->database_url), err, err_len) != 0 ||
        str_var("FINSYS_DATABASE_READ_URL", "", c->database_read_url,
                sizeof(c->database_read_url), err, err_len) != 0 ||
        int_var("FINSYS_BATCH_ITEMS", FS_BATCH_ITEMS_DEFAULT, 1, FS_BATCH_ITEMS_MAX,
                &c->batch_items, err, err_len) != 0 ||
        int_var("FINSYS_BATCH_WAIT_US", FS_BATCH_WAIT_US_DEFAULT, 0, FS_BATCH_WAIT_US_MAX,
                &c->batch_wait_us, err, err_len) != 0 ||
        int_var("FINSYS_DB_CONNECTIONS", FS_STORE_CONNECTIONS_DEFAULT, 1, FS_STORE_CONNECTIONS_MAX,
                &c->db_connections, err, err_len) != 0 ||
        int_var("FINSYS_IDEMPOTENCY_TTL_HOURS", FS_IDEMPOTENCY_TTL_HOURS_DEFAULT, 1, 24 * 365,
                &c->idempotency_ttl_hours, err, err_len) != 0 ||
        int_var("FINSYS_IDEMPOTENCY_PURGE_INTERVAL_S", FS_IDEMPOTENCY_PURGE_INTERVAL_S, 1,
                24 * 3600, &c->purge_interval_s, err, err_len) != 0 ||
        str_var("FINSYS_MIGRATIONS_DIR", FS_MIGRATIONS_DIR, c->migrations_dir,
                sizeof(c->migrations_dir), err, err_len) != 0)
        return -1;
    if (str_var("FINSYS_REDIS_URL", "redis://127.0.0.1:6379", c->redis_url, sizeof(c->redis_url),
                err, err_len) != 0 ||
        int_var("FINSYS_REDIS_TIMEOUT_MS", FS_REDIS_TIMEOUT_MS_DEFAULT, 1, FS_REDIS_TIMEOUT_MS_MAX,
                &c->redis_timeout_ms, err, err_len) != 0)
        return -1;
    /* Set but empty: no Redis (docs/operations.md), not the default. */
    const char *redis_env = getenv("FINSYS_REDIS_URL");
    if (redis_env != NULL && *redis_env == '\0') c->redis_url[0] = '\0';
    if (c->redis_url[0] != '\0') {
        fs_redis_url_t u;
        bool ok = fs_redis_url_parse(c->redis_url, &u, err, err_len);
        sodium_memzero(u.password, sizeof(u.password));
        if (!ok) return -1;
    }
    if (int_var("FINSYS_RATE_LIMIT_PER_S", FS_RATE_LIMIT_PER_S_DEFAULT, 1, FS_RATE_LIMIT_MAX,
                &c->rate_per_s, err, err_len) != 0 ||
        int_var("FINSYS_RATE_LIMIT_BURST", FS_RATE_LIMIT_BURST_DEFAULT, 1, FS_RATE_LIMIT_MAX,
                &c->rate_burst, err, err_len) != 0 ||
        int_var("FINSYS_RATE_LIMIT_ADDR_PER_S", FS_RATE_LIMIT_ADDR_PER_S_DEFAULT, 1,
                FS_RATE_LIMIT_MAX, &c->rate_addr_per_s, err, err_len) != 0 ||
        int_var("FINSYS_RATE_LIMIT_ADDR_BURST", FS_RATE_LIMIT_ADDR_BURST_DEFAULT, 1,
                FS_RATE_LIMIT_MAX, &c->rate_addr_burst, err, err_len) != 0)
        return -1;
    if (int_var("FINSYS_ADMIN_COOKIE_SECURE", 0, 0, 1, &c->admin_cookie_secure, err, err_len) !=
            0 ||
        int_var("FINSYS_ADMIN_SESSION_IDLE_S", FS_ADMIN_SESSION_IDLE_S, 1, FS_ADMIN_SESSION_MAX_S,
                &c->admin_session_idle_s, err, err_len) != 0 ||
        int_var("FINSYS_ADMIN_SESSION_MAX_S", FS_ADMIN_SESSION_MAX_S, 1, FS_ADMIN_SESSION_MAX_S,
                &c->admin_session_max_s, err, err_len) != 0)
        return -1;
    if (str_var("FINSYS_NATS_URL", "nats://127.0.0.1:4222", c->nats_url, sizeof(c->nats_url), err,
                err_len) != 0 ||
        int_var("FINSYS_NATS_REPLICAS", FS_NATS_REPLICAS_DEFAULT, 1, FS_NATS_REPLICAS_MAX,
                &c->nats_replicas, err, err_len) != 0 ||
        str_var("FINSYS_PROVIDER_URL", "http://127.0.0.1:8090", c->provider_url,
                sizeof(c->provider_url), err, err_len) != 0 ||
        int_var("FINSYS_PROVIDER_TIMEOUT_MS", 2000, 10, 600000, &c->provider_timeout_ms, err,
                err_len) != 0 ||
        int_var("FINSYS_WORKER_INFLIGHT", FS_WORKER_INFLIGHT_DEFAULT, 1, FS_WORKER_INFLIGHT_MAX,
                &c->worker_inflight, err, err_len) != 0 ||
        int_var("FINSYS_WORKER_MAX_ATTEMPTS", 8, 1, 100, &c->worker_max_attempts, err, err_len) !=
            0 ||
        int_var("FINSYS_RETRY_BASE_MS", 200, 1, 60000, &c->retry_base_ms, err, err_len) != 0 ||
        int_var("FINSYS_RETRY_CAP_MS", 30000, 1, 3600000, &c->retry_cap_ms, err, err_len) != 0 ||
        int_var("FINSYS_BREAKER_WINDOW", 20, 1, 256, &c->breaker_window, err, err_len) != 0 ||
        int_var("FINSYS_BREAKER_MIN_CALLS", 10, 1, 256, &c->breaker_min_calls, err, err_len) != 0 ||
        int_var("FINSYS_BREAKER_FAILURE_PCT", 50, 1, 100, &c->breaker_failure_pct, err, err_len) !=
            0 ||
        int_var("FINSYS_BREAKER_OPEN_MS", 5000, 0, 3600000, &c->breaker_open_ms, err, err_len) !=
            0 ||
        int_var("FINSYS_BREAKER_PROBES", 3, 1, 100, &c->breaker_probes, err, err_len) != 0 ||
        int_var("FINSYS_SWEEP_AFTER_S", 30, 1, 86400, &c->sweep_after_s, err, err_len) != 0 ||
        int_var("FINSYS_SWEEP_INTERVAL_S", 10, 1, 3600, &c->sweep_interval_s, err, err_len) != 0 ||
        int_var("FINSYS_WORKER_PORT", 8081, 0, 65535, &c->worker_port, err, err_len) != 0 ||
        int_var("FINSYS_INDEX_INTERVAL_MS", FS_INDEX_INTERVAL_MS_DEFAULT, 0,
                FS_INDEX_INTERVAL_MS_MAX, &c->index_interval_ms, err, err_len) != 0)
        return -1;
    /* Set but empty: no broker (the server then publishes nothing, and its
     * readiness says "disabled"), not the default. */
    const char *nats_env = getenv("FINSYS_NATS_URL");
    if (nats_env != NULL && *nats_env == '\0') c->nats_url[0] = '\0';
    if (str_var("FINSYS_OBJECTS_DIR", "var/objects", c->objects_dir, sizeof(c->objects_dir), err,
                err_len) != 0 ||
        str_var("FINSYS_OBJECTS_URL", "", c->objects_url, sizeof(c->objects_url), err, err_len)
            != 0 ||
        int_var("FINSYS_RECEIPT_INTERVAL_MS", 200, 10, 3600000, &c->receipt_interval_ms, err,
                err_len) != 0)
        return -1;
    /* The object store is the folder or S3, never both: a deployment that
     * sets both would have machines disagree on where receipts are. */
    const char *objects_dir_env = getenv("FINSYS_OBJECTS_DIR");
    if (c->objects_url[0] != '\0' && objects_dir_env != NULL && *objects_dir_env != '\0') {
        snprintf(err, err_len,
                 "FINSYS_OBJECTS_DIR and FINSYS_OBJECTS_URL are both set: set one (the folder "
                 "store, or S3)");
        return -1;
    }
    if (c->objects_url[0] != '\0') {
        fs_s3_url_t u;
        if (fs_s3_url_parse(c->objects_url, &u, err, err_len) != 0) return -1;
    }
    if (int_var("FINSYS_WEBHOOK_TIMEOUT_MS", 5000, 10, FS_WEBHOOK_TIMEOUT_MS_MAX,
                &c->webhook_timeout_ms, err, err_len) != 0 ||
        int_var("FINSYS_WEBHOOK_BACKOFF_BASE_MS", 10000, 1, FS_NOTIFY_BACKOFF_MAX_MS,
                &c->webhook_backoff_base_ms, err, err_len) != 0 ||
        int_var("FINSYS_WEBHOOK_RETRY_PERIOD_S", 86400, 1, 30 * 86400, &c->webhook_retry_period_s,
                err, err_len) != 0 ||
        /* None unless set: a tenant's endpoint must not reach the operator's
         * network (docs/operations.md, "Webhook destinations"). */
        nets_var("FINSYS_WEBHOOK_ALLOWED_NETWORKS", &c->webhook_allowed, err, err_len) != 0 ||
        str_var("FINSYS_WEBHOOK_CA_FILE", "", c->webhook_ca_file, sizeof(c->webhook_ca_file), err,
                err_len) != 0)
        return -1;
    const char *secrets_key = getenv("FINSYS_SECRETS_KEY");
    c->secrets_key_set = false;
    if (secrets_key != NULL && *secrets_key != '\0') {
        if (fs_config_parse_secrets_key(secrets_key, c->secrets_key, err, err_len) != 0) return -1;
        c->secrets_key_set = true;
    }
    const char *previous = getenv("FINSYS_SECRETS_KEY_PREVIOUS");
    c->secrets_key_previous_set = false;
    if (previous != NULL && *previous != '\0') {
        if (fs_config_parse_secrets_key(previous, c->secrets_key_previous, err, err_len) != 0) {
            snprintf(err, err_len, "FINSYS_SECRETS_KEY_PREVIOUS must be 32 bytes as 64 hex "
                                   "digits or base64, as FINSYS_SECRETS_KEY");
            return -1;
        }
        if (!c->secrets_key_set) {
            snprintf(err, err_len, "FINSYS_SECRETS_KEY_PREVIOUS is set without FINSYS_SECRETS_KEY: "
                                   "set the new key in FINSYS_SECRETS_KEY");
            return -1;
        }
        c->secrets_key_previous_set = true;
    }
    if (c->breaker_min_calls > c->breaker_window) {
        snprintf(err, err_len, "FINSYS_BREAKER_MIN_CALLS must not exceed FINSYS_BREAKER_WINDOW");
        return -1;
    }
    if (int_var("FINSYS_METRICS", 1, 0, 1, &c->metrics, err, err_len) != 0) return -1;
    if (int_var("FINSYS_DEV", 0, 0, 1, &c->dev, err, err_len) != 0) return -1;
    if (int_var("FINSYS_HTTP_CONNECTIONS_MAX", FS_HTTP_CONNECTIONS_MAX_DEFAULT, 1,
                FS_HTTP_CONNECTIONS_MAX_MAX, &c->http_conns_max, err, err_len) != 0 ||
        int_var("FINSYS_HTTP_CONNECTIONS_PER_ADDR_MAX", FS_HTTP_CONNECTIONS_PER_ADDR_DEFAULT, 1,
                FS_HTTP_CONNECTIONS_MAX_MAX, &c->http_conns_per_addr_max, err, err_len) != 0 ||
        int_var("FINSYS_HTTP_HEADER_TIMEOUT_MS", FS_HTTP_HEADER_TIMEOUT_MS_DEFAULT,
                FS_HTTP_TIMEOUT_MS_MIN, FS_HTTP_TIMEOUT_MS_MAX, &c->http_header_timeout_ms, err,
                err_len) != 0 ||
        int_var("FINSYS_HTTP_BODY_TIMEOUT_MS", FS_HTTP_BODY_TIMEOUT_MS_DEFAULT,
                FS_HTTP_TIMEOUT_MS_MIN, FS_HTTP_TIMEOUT_MS_MAX, &c->http_body_timeout_ms, err,
                err_len) != 0)
        return -1;
    const char *level = getenv("FINSYS_LOG_LEVEL");
    c->log_level = FS_LOG_INFO;
    if (level != NULL && *level != '\0' && !fs_log_level_parse(level, &c->log_level)) {
        snprintf(err, err_len, "FINSYS_LOG_LEVEL must be debug, info, warn or error (got '%s')",
                 level);
        return -1;
    }
    if (str_var("FINSYS_LOG_LEVEL_FILE", "", c->log_level_file, sizeof(c->log_level_file), err,
                err_len) != 0)
        return -1;
    return 0;
}
