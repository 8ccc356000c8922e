/*
 * config.h: settings, read from FINSYS_* environment variables. Every value
 * has a default that works for `make run`, and a bad value stops the process
 * at start with a message naming the variable.
 */
#ifndef FS_CONFIG_H
#define FS_CONFIG_H

#include <stddef.h>

#include "../core/core.h"

/* A network: family AF_INET (4 bytes of addr) or AF_INET6 (16), its
 * prefix length in bits, the bits past it zero. */
typedef struct {
    int family;
    unsigned char addr[16];
    int bits;
} fs_config_net_t;

/* A list of networks, as FINSYS_WEBHOOK_ALLOWED_NETWORKS gives it: the
 * webhook destinations allowed although in a refused network (src/notify,
 * docs/operations.md "Webhook destinations"). */
typedef struct {
    int count;
    fs_config_net_t net[FS_WEBHOOK_ALLOWED_NETWORKS_MAX];
} fs_config_nets_t;

typedef struct {
    char http_host[64];          /* FINSYS_HTTP_HOST, 127.0.0.1 */
    int http_port;               /* FINSYS_HTTP_PORT, 8080 */
    int http_threads;            /* FINSYS_HTTP_THREADS, the number of cores */
    char database_url[1024];     /* FINSYS_DATABASE_URL, a libpq connection string */
    char database_read_url[1024]; /* FINSYS_DATABASE_READ_URL, "": the server's lists and
                                     searches read FINSYS_DATABASE_URL; else a replica's (issue
                                     14, src/replica) */
    int batch_items;             /* FINSYS_BATCH_ITEMS, FS_BATCH_ITEMS_DEFAULT */
    int batch_wait_us;           /* FINSYS_BATCH_WAIT_US, FS_BATCH_WAIT_US_DEFAULT */
    int db_connections;          /* FINSYS_DB_CONNECTIONS per HTTP thread, 4 */
    int idempotency_ttl_hours;   /* FINSYS_IDEMPOTENCY_TTL_HOURS, 24 */
    int purge_interval_s;        /* FINSYS_IDEMPOTENCY_PURGE_INTERVAL_S, 60 */
    fs_log_level_t log_level;    /* FINSYS_LOG_LEVEL, info */
    char log_level_file[256];    /* FINSYS_LOG_LEVEL_FILE, "": SIGHUP reads the level there */

    /* The settlement pipeline (finsys worker; the server publishes). */
    char nats_url[512];          /* FINSYS_NATS_URL, nats://127.0.0.1:4222; "" = none; several
                                    servers of one cluster separated by commas */
    int nats_replicas;           /* FINSYS_NATS_REPLICAS, 1: copies of each stream (3 in a
                                    3-node NATS cluster) */
    char redis_url[256];         /* FINSYS_REDIS_URL, redis://127.0.0.1:6379; "" = none */
    int redis_timeout_ms;        /* FINSYS_REDIS_TIMEOUT_MS, 100: every Redis command */

    /* Rate limits (src/ratelimit): requests a second and burst, per API key
     * (a tenant's own limits win) and per client address. */
    int rate_per_s;              /* FINSYS_RATE_LIMIT_PER_S, 100 */
    int rate_burst;              /* FINSYS_RATE_LIMIT_BURST, 200 */
    int rate_addr_per_s;         /* FINSYS_RATE_LIMIT_ADDR_PER_S, 1000 */
    int rate_addr_burst;         /* FINSYS_RATE_LIMIT_ADDR_BURST, 2000 */
    char provider_url[512];      /* FINSYS_PROVIDER_URL, http://127.0.0.1:8090 */
    int provider_timeout_ms;     /* FINSYS_PROVIDER_TIMEOUT_MS, 2000 */
    int worker_inflight;         /* FINSYS_WORKER_INFLIGHT, 512 payments at once */
    int worker_max_attempts;     /* FINSYS_WORKER_MAX_ATTEMPTS, 8, then dead letters */
    int retry_base_ms;           /* FINSYS_RETRY_BASE_MS, 200 */
    int retry_cap_ms;            /* FINSYS_RETRY_CAP_MS, 30000 */
    int breaker_window;          /* FINSYS_BREAKER_WINDOW, 20 calls */
    int breaker_min_calls;       /* FINSYS_BREAKER_MIN_CALLS, 10 */
    int breaker_failure_pct;     /* FINSYS_BREAKER_FAILURE_PCT, 50 */
    int breaker_open_ms;         /* FINSYS_BREAKER_OPEN_MS, 5000 */
    int breaker_probes;          /* FINSYS_BREAKER_PROBES, 3 */
    int sweep_after_s;           /* FINSYS_SWEEP_AFTER_S, 30 */
    int sweep_interval_s;        /* FINSYS_SWEEP_INTERVAL_S, 10 */
    int worker_port;             /* FINSYS_WORKER_PORT, 8081: /healthz and /state; 0 = none */
    int index_interval_ms;       /* FINSYS_INDEX_INTERVAL_MS, 100: the search indexer; 0 = off */

    /* Webhooks (src/notify; the worker delivers them). */
    int webhook_timeout_ms;      /* FINSYS_WEBHOOK_TIMEOUT_MS, 5000 */
    int webhook_backoff_base_ms; /* FINSYS_WEBHOOK_BACKOFF_BASE_MS, 10000, doubling */
    int webhook_retry_period_s;  /* FINSYS_WEBHOOK_RETRY_PERIOD_S, 86400, then dead */
    fs_config_nets_t webhook_allowed; /* FINSYS_WEBHOOK_ALLOWED_NETWORKS, none */
    /* FINSYS_WEBHOOK_CA_FILE: a PEM file of CAs trusted for https webhooks
     * besides the system's store (tests, private CAs); empty: none. */
    char webhook_ca_file[1024];
    /* FINSYS_SECRETS_KEY: 32 bytes (64 hex digits, or base64) sealing the
     * webhook signing secrets at rest (docs/operations.md, "Secrets at
     * rest"). No default: `finsys server` and `finsys worker` refuse to start
     * without it (fs_config_require_secrets_key); make run, make test and
     * make bench set a development key (scripts/stack.sh). */
    unsigned char secrets_key[32];
    bool secrets_key_set;
    /* FINSYS_SECRETS_KEY_PREVIOUS: the key being rotated away from (same
     * form). While it is set, secrets open with either key, and a server
     * starting re-seals every secret sealed with it under FINSYS_SECRETS_KEY
     * (docs/operations.md, "Rotating the secrets key"). */
    unsigned char secrets_key_previous[32];
    bool secrets_key_previous_set;
    char migrations_dir[1024];   /* FINSYS_MIGRATIONS_DIR, the source tree's db/migrations */

    /* Receipts (the worker makes them, the server serves them). */
    char objects_dir[1024];      /* FINSYS_OBJECTS_DIR, var/objects: the object store */
    char objects_url[1024];      /* FINSYS_OBJECTS_URL, "": S3 instead (s3://BUCKET/PREFIX?...) */
    int receipt_interval_ms;     /* FINSYS_RECEIPT_INTERVAL_MS, 200 */

    /* Metrics (src/metrics): GET /metrics on the server and the worker. */
    int metrics;                 /* FINSYS_METRICS, 1; 0 = not collected (to measure their cost) */
    int dev;                     /* FINSYS_DEV, 0; 1 = a development stack: the server and the
                                  * worker accept a superuser or a connection without a
                                  * password (make run, make test, make bench) */

    /* The admin console (src/admin, docs/console.md). */
    int admin_cookie_secure;     /* FINSYS_ADMIN_COOKIE_SECURE, 0; 1 = the cookie says Secure */
    int admin_session_idle_s;    /* FINSYS_ADMIN_SESSION_IDLE_S, FS_ADMIN_SESSION_IDLE_S */
    int admin_session_max_s;     /* FINSYS_ADMIN_SESSION_MAX_S, FS_ADMIN_SESSION_MAX_S */
    /* --- floods and slow clients (issue 13; src/http/guard.c) --- */
    int http_conns_max;          /* FINSYS_HTTP_CONNECTIONS_MAX, 10000 */
    int http_conns_per_addr_max; /* FINSYS_HTTP_CONNECTIONS_PER_ADDR_MAX, 256 */
    int http_header_timeout_ms;  /* FINSYS_HTTP_HEADER_TIMEOUT_MS, 10000 */
    int http_body_timeout_ms;    /* FINSYS_HTTP_BODY_TIMEOUT_MS, 30000 */
} fs_config_t;

/* Fills config from the environment. Returns 0, or -1 with err filled. */
int fs_config_load(fs_config_t *config, char *err, size_t err_len);

/* FINSYS_SECRETS_KEY's text: 64 hex digits or the base64 of 32 bytes, into
 * key. Returns 0, or -1 with err filled. */
int fs_config_parse_secrets_key(const char *text, unsigned char *key, char *err, size_t err_len);

/* For the commands that handle webhook secrets (server, worker): 0 when
 * FINSYS_SECRETS_KEY is set, or -1 with err saying how to make one. */
int fs_config_require_secrets_key(const fs_config_t *config, char *err, size_t err_len);

/* Parses text, networks separated by commas ("127.0.0.0/8, ::1/128"; an
 * address alone is a /32 or /128; "" is none), into out. Returns 0, or -1
 * with err filled naming the item at fault. */
int fs_config_parse_nets(const char *text, fs_config_nets_t *out, char *err, size_t err_len);

#endif
