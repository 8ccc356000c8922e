/*
 * recon.c: the daily reconciliation against the provider (see recon.h).
 */
#include "recon.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../core/core.h"
#include "../lock/lock.h"
#include "../op/op.h"

#define RESOURCE "job:reconcile"

const char fs_recon_usage[] =
    "usage: finsys reconcile --date YYYY-MM-DD|today|yesterday [--wait-ms N]\n"
    "\n"
    "Matches the provider's settlement report for the UTC date against the\n"
    "ledger and records the result and its breaks (GET /v1/reconciliations/{date};\n"
    "docs/operations.md, \"Reconciliation\"), under the Redis lock job:reconcile\n"
    "with a fencing token checked in PostgreSQL. Re-running a date replaces its\n"
    "result. Prints one JSON line. Exit status: 0 done (breaks or not), 1 failure\n"
    "(Redis, PostgreSQL or the provider unavailable), 2 usage, 3 lock lost, 4 the\n"
    "lock is held by another run.\n"
    "  FINSYS_PROVIDER_URL  FINSYS_REDIS_URL  FINSYS_DATABASE_URL\n";

/* --- one blocking GET on a private event_base ---------------------------- */

typedef struct {
    struct event_base *base;
    struct evbuffer *body;
    int status; /* 0: no answer */
} fetch_t;

static void on_fetched(struct evhttp_request *req, void *arg)
{
    fetch_t *f = arg;
    if (req != NULL) {
        f->status = evhttp_request_get_response_code(req);
        evbuffer_add_buffer(f->body, evhttp_request_get_input_buffer(req));
    }
    event_base_loopbreak(f->base);
}

/* GETs path at host:port; returns the parsed JSON of a 200, else NULL with
 * err. */
static json_t *http_get_json(const char *host, int port, const char *path, char *err,
                             size_t err_len)
{
    fetch_t f = {.base = event_base_new(), .body = evbuffer_new()};
    FS_ASSERT(f.base != NULL && f.body != NULL);
    struct evhttp_connection *conn = evhttp_connection_base_new(f.base, NULL, host, (uint16_t)port);
    FS_ASSERT(conn != NULL);
    evhttp_connection_set_timeout(conn, FS_RECON_HTTP_TIMEOUT_S);
    evhttp_connection_set_retries(conn, 0);
    evhttp_connection_set_max_body_size(conn, FS_RECON_PAGE_BODY_MAX_BYTES);
    struct evhttp_request *req = evhttp_request_new(on_fetched, &f);
    FS_ASSERT(req != NULL);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Host", host);
    json_t *j = NULL;
    if (evhttp_make_request(conn, req, EVHTTP_REQ_GET, path) != 0) {
        snprintf(err, err_len, "cannot send the request to the provider");
    } else {
        event_base_dispatch(f.base);
        size_t len = evbuffer_get_length(f.body);
        const char *text = len > 0 ? (const char *)evbuffer_pullup(f.body, -1) : "";
        if (f.status != 200) {
            snprintf(err, err_len, "the provider's report answered %d: %.200s", f.status,
                     f.status == 0 ? "no answer (down, too slow or too large)" : text);
        } else if ((j = json_loadb(text, len, 0, NULL)) == NULL) {
            snprintf(err, err_len, "the provider's report is not JSON");
        }
    }
    evhttp_connection_free(conn);
    evbuffer_free(f.body);
    event_base_free(f.base);
    return j;
}

/* The whole report for date: an array of lines, or NULL with err. Extends
 * the lock between pages. */
static json_t *fetch_report(const fs_config_t *config, const char *date, redisContext *rc,
                            const fs_lock_t *lk, char *err, size_t err_len)
{
    struct evhttp_uri *uri = evhttp_uri_parse(config->provider_url);
    const char *host = uri != NULL ? evhttp_uri_get_host(uri) : NULL;
    int port = uri != NULL ? evhttp_uri_get_port(uri) : -1;
    if (host == NULL || port <= 0) {
        snprintf(err, err_len, "FINSYS_PROVIDER_URL must be http://HOST:PORT (got %s)",
                 config->provider_url);
        if (uri != NULL) evhttp_uri_free(uri);
        return NULL;
    }
    json_t *lines = json_array();
    char *after = NULL;
    long extended = (long)(fs_now_us() / 1000);
    for (;;) {
        char path[1024];
        char *enc = after != NULL ? evhttp_uriencode(after, -1, 0) : NULL;
        snprintf(path, sizeof(path), "/reports/settlements?date=%s&limit=%d%s%s", date,
                 FS_RECON_REPORT_PAGE_MAX, enc != NULL ? "&after=" : "", enc != NULL ? enc : "");
        free(enc);
        json_t *page = http_get_json(host, port, path, err, err_len);
        free(after);
        after = NULL;
        if (page == NULL) goto fail;
        json_t *data = json_object_get(page, "data");
        if (!json_is_array(data)) {
            snprintf(err, err_len, "the provider's report has no data");
            json_decref(page);
            goto fail;
        }
        json_array_extend(lines, data);
        if (json_array_size(lines) > FS_RECON_LINES_MAX) {
            snprintf(err, err_len, "the report has more than %d lines (FS_RECON_LINES_MAX)",
                     FS_RECON_LINES_MAX);
            json_decref(page);
            goto fail;
        }
        const char *next = json_string_value(json_object_get(page, "next_after"));
        bool more = json_is_true(json_object_get(page, "has_more")) && next != NULL;
        if (more) after = strdup(next);
        json_decref(page);
        if (!more) break;
        if ((long)(fs_now_us() / 1000) - extended > FS_RECON_LEASE_MS / FS_LOCK_EXTEND_DIVISOR) {
            if (fs_lock_extend_blocking(rc, lk, FS_RECON_LEASE_MS) != 1)
                fs_log(FS_LOG_WARN, "recon",
                       "the lock's lease was lost while fetching; "
                       "committing only if the fence still lets it");
            extended = (long)(fs_now_us() / 1000);
        }
    }
    evhttp_uri_free(uri);
    return lines;
fail:
    free(after);
    evhttp_uri_free(uri);
    json_decref(lines);
    return NULL;
}

int fs_recon_run(const fs_config_t *config, const char *date, const char *holder, long wait_ms,
                 json_t **result, char *err, size_t err_len)
{
    int64_t day;
    *result = NULL;
    if (!fs_date_parse(date, &day)) {
        snprintf(err, err_len, "the date must be YYYY-MM-DD");
        return FS_RECON_USAGE;
    }
    if (config->redis_url[0] == '\0') {
        snprintf(err, err_len, "reconcile needs Redis (FINSYS_REDIS_URL) for its lock");
        return FS_RECON_FAILED;
    }
    redisContext *rc =
        fs_redis_connect_blocking(config->redis_url, config->redis_timeout_ms, err, err_len);
    if (rc == NULL) return FS_RECON_FAILED;
    PGconn *db = PQconnectdb(config->database_url);
    if (PQstatus(db) != CONNECTION_OK) {
        snprintf(err, err_len, "PostgreSQL: %s", PQerrorMessage(db));
        PQfinish(db);
        redisFree(rc);
        return FS_RECON_FAILED;
    }
    fs_lock_t lk;
    long deadline = (long)(fs_now_us() / 1000) + wait_ms;
    fs_lock_status_t st;
    while ((st = fs_lock_acquire_blocking(rc, RESOURCE, FS_RECON_LEASE_MS, &lk)) == FS_LOCK_HELD &&
           (long)(fs_now_us() / 1000) < deadline)
        fs_sleep_ms(FS_LOCK_RETRY_MS);
    int code = FS_RECON_OK;
    if (st != FS_LOCK_ACQUIRED) {
        snprintf(err, err_len, "%s",
                 st == FS_LOCK_HELD ? "another reconciliation holds the lock job:reconcile"
                                    : "Redis unavailable; the reconciliation did not run");
        code = st == FS_LOCK_HELD ? FS_RECON_LOCK_HELD : FS_RECON_FAILED;
        goto out;
    }
    json_t *lines = fetch_report(config, date, rc, &lk, err, err_len);
    if (lines == NULL) {
        code = FS_RECON_FAILED;
        goto release;
    }
    char outcome[64];
    json_t *payload = NULL;
    json_t *item =
        json_pack("{s:s, s:s, s:s, s:I, s:s, s:{s:s, s:o, s:i}}", "op", fs_op_name(FS_OP_JOB_RUN),
                  "job", "reconcile", "resource", RESOURCE, "fence", (json_int_t)lk.fence, "holder",
                  holder, "args", "date", date, "lines", lines, "max", FS_RECON_BREAKS_MAX);
    if (!fs_store_run_blocking(db, item, outcome, sizeof(outcome), &payload, err, err_len)) {
        code = FS_RECON_FAILED;
    } else if (strcmp(outcome, "ok") != 0) {
        const char *msg = json_string_value(json_object_get(payload, "message"));
        snprintf(err, err_len, "%s: %s", outcome, msg != NULL ? msg : "");
        code = strcmp(outcome, "lock_lost") == 0 ? FS_RECON_LOCK_LOST : FS_RECON_FAILED;
        json_t *fence = json_object_get(payload, "fence");
        if (code == FS_RECON_LOCK_LOST && json_is_integer(fence))
            fs_lock_raise_blocking(rc, RESOURCE, json_integer_value(fence));
    } else {
        *result = json_pack("{s:s, s:I, s:O}", "outcome", "ok", "token", (json_int_t)lk.fence,
                            "result", json_object_get(payload, "result"));
    }
    json_decref(payload);
release:
    fs_lock_release_blocking(rc, &lk);
out:
    PQfinish(db);
    redisFree(rc);
    return code;
}

int fs_recon_main(const fs_config_t *config, int argc, char **argv)
{
    const char *date_arg = NULL;
    long wait = 0;
    for (int i = 0; i < argc; i++) {
        bool has = i + 1 < argc;
        if (strcmp(argv[i], "--date") == 0 && has) {
            date_arg = argv[++i];
        } else if (strcmp(argv[i], "--wait-ms") == 0 && has) {
            char *end;
            wait = strtol(argv[++i], &end, 10);
            if (*end != '\0' || wait < 0 || wait > FS_JOB_WAIT_MS_MAX) {
                fprintf(stderr, "finsys: --wait-ms is 0 to %d\n", FS_JOB_WAIT_MS_MAX);
                return FS_RECON_USAGE;
            }
        } else {
            fprintf(stderr, "finsys: unknown option '%s'\n%s", argv[i], fs_recon_usage);
            return FS_RECON_USAGE;
        }
    }
    char date[16];
    int64_t day;
    if (date_arg == NULL) {
        fputs(fs_recon_usage, stderr);
        return FS_RECON_USAGE;
    } else if (strcmp(date_arg, "today") == 0 || strcmp(date_arg, "yesterday") == 0) {
        int64_t t = (int64_t)time(NULL) - (date_arg[0] == 'y' ? 86400 : 0);
        fs_date_format(t, date, sizeof(date));
    } else if (fs_date_parse(date_arg, &day)) {
        snprintf(date, sizeof(date), "%s", date_arg);
    } else {
        fprintf(stderr, "finsys: --date is YYYY-MM-DD, today or yesterday (UTC)\n");
        return FS_RECON_USAGE;
    }
    char holder[64], err[512] = "";
    snprintf(holder, sizeof(holder), "finsys reconcile pid %d", (int)getpid());
    json_t *result = NULL;
    int code = fs_recon_run(config, date, holder, wait, &result, err, sizeof(err));
    json_t *line = result != NULL ? result
                                  : json_pack("{s:s}", "outcome",
                                              code == FS_RECON_LOCK_HELD   ? "lock_held"
                                              : code == FS_RECON_LOCK_LOST ? "lock_lost"
                                                                           : "failed");
    json_object_set_new(line, "job", json_string("reconcile"));
    json_object_set_new(line, "date", json_string(date));
    char *text = json_dumps(line, JSON_COMPACT | JSON_SORT_KEYS);
    printf("%s\n", text);
    fflush(stdout);
    free(text);
    json_decref(line);
    if (code != FS_RECON_OK) fprintf(stderr, "finsys: reconcile: %s\n", err);
    return code;
}

/* --- the worker's schedule ------------------------------------------------ */

long fs_recon_interval_s(void)
{
    const char *v = getenv("FINSYS_RECON_INTERVAL_S");
    if (v == NULL || *v == '\0') return FS_RECON_INTERVAL_S;
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno != 0 || *end != '\0' || n < FS_RECON_INTERVAL_S_MIN || n > FS_RECON_INTERVAL_S_MAX)
        return -1;
    return n;
}

struct fs_recon_scheduler {
    const fs_config_t *config;
    fs_periodic_t *thread;
};

static void run_once(void *arg, const char *holder, const atomic_bool *stop)
{
    fs_recon_scheduler_t *s = arg;
    (void)stop; /* a day's reconciliation is short: it runs to its end */
    char date[16], err[512] = "";
    fs_date_format((int64_t)time(NULL) - 86400, date, sizeof(date));
    json_t *result = NULL;
    int code = fs_recon_run(s->config, date, holder, 0, &result, err, sizeof(err));
    if (code == FS_RECON_OK) {
        char *text = json_dumps(json_object_get(result, "result"), JSON_COMPACT);
        fs_log(FS_LOG_INFO, "recon", "reconciled %s: %s", date, text);
        free(text);
    } else if (code == FS_RECON_LOCK_HELD) {
        fs_log(FS_LOG_INFO, "recon", "reconciliation of %s: another run holds the lock", date);
    } else {
        fs_log(FS_LOG_WARN, "recon", "reconciliation of %s failed: %s", date, err);
    }
    json_decref(result);
}

fs_recon_scheduler_t *fs_recon_scheduler_start(const fs_config_t *config)
{
    long interval = fs_recon_interval_s();
    if (interval < 0) {
        fs_log(FS_LOG_ERROR, "recon",
               "FINSYS_RECON_INTERVAL_S must be %d to %d; the daily reconciliation is off",
               FS_RECON_INTERVAL_S_MIN, FS_RECON_INTERVAL_S_MAX);
        return NULL;
    }
    if (config->redis_url[0] == '\0') {
        fs_log(FS_LOG_INFO, "recon",
               "no FINSYS_REDIS_URL: the daily reconciliation (under a Redis lock) is off");
        return NULL;
    }
    fs_recon_scheduler_t *s = calloc(1, sizeof(*s));
    FS_ASSERT(s != NULL);
    s->config = config;
    s->thread = fs_periodic_start(interval, run_once, s, "recon", "the daily reconciliation's thread");
    return s;
}

void fs_recon_scheduler_stop(fs_recon_scheduler_t *s)
{
    if (s == NULL) return;
    fs_periodic_stop(s->thread);
    free(s);
}
