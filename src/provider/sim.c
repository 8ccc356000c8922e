/*
 * sim.c: the provider simulator's HTTP service (see provider.h).
 *
 * One libevent loop, one evhttp. A call to POST /charges is decided at once
 * (outage, checks, the record, the draws) and its answer is rendered then;
 * the answer waits on an evtimer for the drawn latency (or past
 * timeout_after_ms for a simulated timeout) and is sent when it fires. So the
 * charge is recorded at the moment the call arrives, as at a real provider,
 * whether or not the caller is still there to hear the answer.
 *
 * Ownership: sim_t owns the evhttp, the signal events, the table and the
 * list of answers in flight; each in-flight answer owns its timer and its
 * body, and borrows its request until it sends the answer (libevent frees the
 * request after sending it). At shutdown the answers in flight are dropped
 * and evhttp_free() frees their requests and connections.
 */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "provider.h"

#define DEFAULT_PORT 8090

const char fs_provider_sim_usage[] =
    "usage: finsys provider-sim [options]\n"
    "\n"
    "A simulated payment provider (card network or bank) on its own port, until\n"
    "SIGINT or SIGTERM. POST /charges, GET /charges/{key}, POST /refunds,\n"
    "GET /refunds/{key}, GET /reports/settlements?date=, POST /breaks,\n"
    "GET|POST /control, GET /stats, GET /healthz; see\n"
    "docs/operations.md.\n"
    "\n"
    "  --host ADDR               address to listen on (127.0.0.1)\n"
    "  --port N                  port (FINSYS_PROVIDER_PORT, else 8090)\n"
    "  --latency KIND            fixed | uniform | lognormal (lognormal)\n"
    "  --latency-ms MS           fixed latency (5)\n"
    "  --latency-min-ms MS       uniform latency bounds (1)\n"
    "  --latency-max-ms MS         ... (10)\n"
    "  --latency-median-ms MS    lognormal median (5)\n"
    "  --latency-p99-ms MS       lognormal 99th percentile (25)\n"
    "  --decline-rate P          share of new charges declined, 0..1 (0.01)\n"
    "  --error-rate P            share of calls failing with 500, 0..1 (0.005)\n"
    "  --timeout-rate P          share of calls answered after --timeout-after-ms (0)\n"
    "  --timeout-after-ms MS     how late such an answer comes (30000)\n"
    "  --outage-ms MS            start with an outage this long: every call 503 (0)\n"
    "  --seed N                  seed of the random draws (random; logged at start)\n"
    "\n"
    "POST /control takes the same settings as JSON (e.g. {\"decline_rate\": 0.2,\n"
    "\"outage_ms\": 5000}) and GET /control shows them.\n";

/* The simulator's outcomes and their HTTP statuses, in one table. */
typedef enum {
    OUT_OK,
    OUT_INVALID,
    OUT_NOT_FOUND,
    OUT_METHOD,
    OUT_KEY_REUSE,
    OUT_TOO_LARGE,
    OUT_SIMULATED_ERROR,
    OUT_OUTAGE,
    OUT_OVERLOADED,
    OUT_CHARGE_LIMIT,
    OUT_COUNT
} outcome_t;

static const struct {
    int status;
    const char *reason;
    const char *type;
    const char *code;
} outcomes[OUT_COUNT] = {
    [OUT_OK] = {200, "OK", NULL, NULL},
    [OUT_INVALID] = {400, "Bad Request", "invalid_request_error", "invalid_request"},
    [OUT_NOT_FOUND] = {404, "Not Found", "invalid_request_error", "not_found"},
    [OUT_METHOD] = {405, "Method Not Allowed", "invalid_request_error", "method_not_allowed"},
    [OUT_KEY_REUSE] = {409, "Conflict", "idempotency_error", "idempotency_key_reuse"},
    [OUT_TOO_LARGE] = {413, "Content Too Large", "invalid_request_error", "request_too_large"},
    [OUT_SIMULATED_ERROR] = {500, "Internal Server Error", "api_error", "simulated_error"},
    [OUT_OUTAGE] = {503, "Service Unavailable", "api_error", "provider_outage"},
    [OUT_OVERLOADED] = {503, "Service Unavailable", "api_error", "overloaded"},
    [OUT_CHARGE_LIMIT] = {507, "Insufficient Storage", "api_error", "charge_limit_reached"},
};

typedef struct {
    uint64_t requests; /* calls to POST /charges; the sum of the rest but timeouts */
    uint64_t approved; /* new charges approved */
    uint64_t declined; /* new charges declined */
    uint64_t duplicates;
    uint64_t errors;
    uint64_t outage_rejections;
    uint64_t conflicts;        /* 409: a recorded key with another amount or currency */
    uint64_t rejected;         /* 400 and 413 */
    uint64_t limit_rejections; /* 503 overloaded and 507 */
    uint64_t timeouts;         /* answers sent after timeout_after_ms (also counted above) */
    uint64_t lookups;          /* GET /charges/{key} and /refunds/{key} answered */
} stats_t;

typedef struct pending pending_t;

typedef struct {
    struct event_base *base;
    struct evhttp *http;
    struct event *on_sigint, *on_sigterm;
    fs_provider_config_t config;
    fs_provider_rng_t rng;
    fs_provider_table_t *charges;
    fs_provider_table_t *refunds; /* POST /refunds: the same records, apart */
    pending_t *in_flight; /* a doubly linked list */
    size_t in_flight_len;
    stats_t stats;
} sim_t;

struct pending {
    sim_t *sim;
    struct evhttp_request *req;
    struct event *timer;
    outcome_t outcome;
    bool replayed;
    char *body;
    pending_t *prev, *next;
};

/* ---- answers ---- */

static void send_body(struct evhttp_request *req, outcome_t o, const char *body, bool replayed)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", "application/json");
    if (replayed) evhttp_add_header(h, "Idempotent-Replayed", "true");
    struct evbuffer *buf = evbuffer_new();
    FS_ASSERT(buf != NULL);
    evbuffer_add(buf, body, strlen(body));
    evhttp_send_reply(req, outcomes[o].status, outcomes[o].reason, buf);
    evbuffer_free(buf);
}

/* Renders j (stolen) to a string the caller frees. */
static char *render(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(12));
    FS_ASSERT(s != NULL);
    json_decref(j);
    return s;
}

static char *error_body(outcome_t o, const char *message, const char *param)
{
    return render(json_pack("{s:{s:s, s:s, s:s, s:s?}}", "error", "type", outcomes[o].type, "code",
                            outcomes[o].code, "message", message, "param", param));
}

static void send_json(struct evhttp_request *req, json_t *j)
{
    char *s = render(j);
    send_body(req, OUT_OK, s, false);
    free(s);
}

static void send_error(struct evhttp_request *req, outcome_t o, const char *message,
                       const char *param)
{
    char *s = error_body(o, message, param);
    send_body(req, o, s, false);
    free(s);
}

static void send_method_not_allowed(struct evhttp_request *req, const char *allow)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", allow);
    char message[128];
    snprintf(message, sizeof(message), "This path allows %s only.", allow);
    send_error(req, OUT_METHOD, message, NULL);
}

static void pending_unlink(pending_t *p)
{
    sim_t *s = p->sim;
    if (p->prev != NULL) p->prev->next = p->next;
    if (p->next != NULL) p->next->prev = p->prev;
    if (s->in_flight == p) s->in_flight = p->next;
    s->in_flight_len--;
}

static void pending_free(pending_t *p)
{
    event_free(p->timer);
    free(p->body);
    free(p);
}

static void on_answer_due(evutil_socket_t fd, short what, void *arg)
{
    pending_t *p = arg;
    (void)fd;
    (void)what;
    pending_unlink(p);
    /* If the caller hung up, libevent notices on writing and frees the
     * request and its connection; nothing here depends on it. */
    send_body(p->req, p->outcome, p->body, p->replayed);
    pending_free(p);
}

/* Sends body (taken) after delay_us, without holding the loop. */
static void answer_later(sim_t *s, struct evhttp_request *req, outcome_t o, char *body,
                         bool replayed, uint64_t delay_us)
{
    pending_t *p = calloc(1, sizeof(*p));
    FS_ASSERT(p != NULL);
    *p = (pending_t){.sim = s, .req = req, .outcome = o, .replayed = replayed, .body = body};
    p->timer = evtimer_new(s->base, on_answer_due, p);
    FS_ASSERT(p->timer != NULL);
    p->next = s->in_flight;
    if (p->next != NULL) p->next->prev = p;
    s->in_flight = p;
    s->in_flight_len++;
    struct timeval tv = {(time_t)(delay_us / 1000000u), (suseconds_t)(delay_us % 1000000u)};
    evtimer_add(p->timer, &tv);
}

/* ---- POST /charges ---- */

static bool in_outage(const sim_t *s, uint64_t now_us)
{
    return s->config.outage_until_us > now_us;
}

static void send_outage(sim_t *s, struct evhttp_request *req, uint64_t now_us)
{
    char retry[32];
    snprintf(retry, sizeof(retry), "%llu",
             (unsigned long long)((s->config.outage_until_us - now_us + 999999u) / 1000000u));
    evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", retry);
    send_error(req, OUT_OUTAGE, "The provider is in a simulated outage; retry later.", NULL);
}

/* A call that reached the provider: the record, the draws, the answer. */
static void charge(sim_t *s, struct evhttp_request *req, const fs_provider_charge_request_t *r,
                   bool refund)
{
    fs_provider_table_t *table = refund ? s->refunds : s->charges;
    fs_provider_draw_t d;
    fs_provider_draw(&s->config, &s->rng, &d);
    fs_provider_charge_t *c = fs_provider_table_find(table, r->idempotency_key);
    if (c != NULL && (c->amount != r->amount || strcmp(c->currency, r->currency) != 0)) {
        s->stats.conflicts++;
        answer_later(s, req, OUT_KEY_REUSE,
                     error_body(OUT_KEY_REUSE,
                                "This idempotency_key was used for a charge of another amount "
                                "or currency; use a new key for a new charge.",
                                "idempotency_key"),
                     false, d.latency_us);
        return;
    }
    if (d.kind == FS_PROVIDER_DRAW_ERROR) {
        /* It failed before charging: nothing is recorded. */
        s->stats.errors++;
        answer_later(s, req, OUT_SIMULATED_ERROR,
                     error_body(OUT_SIMULATED_ERROR,
                                "Simulated provider error; nothing was "
                                "charged. Retry with the same key.",
                                NULL),
                     false, d.latency_us);
        return;
    }
    bool replayed = c != NULL;
    if (c != NULL) {
        c->repeats++;
        s->stats.duplicates++;
    } else {
        bool approved = d.kind == FS_PROVIDER_DRAW_APPROVE;
        c = fs_provider_table_add(table, r, approved, d.decline_code, (int64_t)time(NULL));
        if (c != NULL && refund) fs_id_new("rf", c->id, sizeof(c->id));
        if (c == NULL) {
            s->stats.limit_rejections++;
            send_error(req, OUT_CHARGE_LIMIT,
                       "The simulator holds its maximum of recorded charges; restart it.", NULL);
            return;
        }
        if (approved) {
            s->stats.approved++;
        } else {
            s->stats.declined++;
        }
    }
    uint64_t delay_us = d.latency_us;
    if (d.timeout) {
        /* Recorded above: the charge happened, only its answer is late. */
        s->stats.timeouts++;
        delay_us += (uint64_t)s->config.timeout_after_ms * 1000u;
    }
    answer_later(s, req, OUT_OK, render(fs_provider_charge_json(c, false)), replayed, delay_us);
}

/* POST /charges, or POST /refunds (refund): a refund is decided, recorded
 * and answered as a charge is, by the same controls, in a table of its own. */
static void post_charge(sim_t *s, struct evhttp_request *req, bool refund)
{
    uint64_t now_us = fs_now_us();
    s->stats.requests++;
    if (in_outage(s, now_us)) {
        s->stats.outage_rejections++;
        send_outage(s, req, now_us);
        return;
    }
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    if (len > FS_PROVIDER_BODY_MAX_BYTES) {
        s->stats.rejected++;
        char message[128];
        snprintf(message, sizeof(message), "The body must be at most %d bytes.",
                 FS_PROVIDER_BODY_MAX_BYTES);
        send_error(req, OUT_TOO_LARGE, message, NULL);
        return;
    }
    fs_provider_charge_request_t r;
    fs_error_t err;
    const char *body = len > 0 ? (const char *)evbuffer_pullup(in, -1) : "";
    if (!fs_provider_charge_parse(body, len, &r, &err)) {
        s->stats.rejected++;
        send_error(req, OUT_INVALID, err.message, err.param);
        return;
    }
    if (s->in_flight_len >= FS_PROVIDER_IN_FLIGHT_MAX) {
        s->stats.limit_rejections++;
        send_error(req, OUT_OVERLOADED, "Too many answers in flight; nothing was charged.", NULL);
        return;
    }
    charge(s, req, &r, refund);
}

/* ---- the other routes ---- */

static void get_charge(sim_t *s, struct evhttp_request *req, const char *encoded_key,
                       bool refund)
{
    uint64_t now_us = fs_now_us();
    if (in_outage(s, now_us)) {
        send_outage(s, req, now_us);
        return;
    }
    s->stats.lookups++;
    size_t len = 0;
    char *key = evhttp_uridecode(encoded_key, 0, &len);
    FS_ASSERT(key != NULL);
    if (!fs_provider_key_valid(key, len) || strlen(key) != len) {
        send_error(req, OUT_INVALID,
                   "The path must end in an idempotency key: 1 to 255 "
                   "printable ASCII characters, percent-encoded.",
                   "idempotency_key");
    } else {
        const fs_provider_charge_t *c =
            fs_provider_table_find(refund ? s->refunds : s->charges, key);
        if (c == NULL) {
            send_error(req, OUT_NOT_FOUND, "No charge was recorded with this idempotency key.",
                       "idempotency_key");
        } else {
            send_json(req, fs_provider_charge_json(c, true));
        }
    }
    free(key);
}

static void get_stats(sim_t *s, struct evhttp_request *req)
{
    const stats_t *t = &s->stats;
    json_t *j = json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "requests",
        (json_int_t)t->requests, "approved", (json_int_t)t->approved, "declined",
        (json_int_t)t->declined, "duplicates", (json_int_t)t->duplicates, "errors",
        (json_int_t)t->errors, "outage_rejections", (json_int_t)t->outage_rejections, "conflicts",
        (json_int_t)t->conflicts, "rejected", (json_int_t)t->rejected, "limit_rejections",
        (json_int_t)t->limit_rejections, "timeouts", (json_int_t)t->timeouts, "charges_recorded",
        (json_int_t)fs_provider_table_count(s->charges), "in_flight", (json_int_t)s->in_flight_len);
    json_object_set_new(j, "refunds_recorded",
                        json_integer((json_int_t)fs_provider_table_count(s->refunds)));
    json_object_set_new(j, "lookups", json_integer((json_int_t)t->lookups));
    send_json(req, j);
}

static void log_config(const sim_t *s, const char *what)
{
    char *text = render(fs_provider_config_json(&s->config, fs_now_us()));
    fs_log(FS_LOG_INFO, "provider", "%s: %s", what, text);
    free(text);
}

static void post_control(sim_t *s, struct evhttp_request *req)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    if (len > FS_PROVIDER_BODY_MAX_BYTES) {
        send_error(req, OUT_TOO_LARGE, "The body is too large.", NULL);
        return;
    }
    fs_error_t err;
    json_error_t jerr;
    const char *body = len > 0 ? (const char *)evbuffer_pullup(in, -1) : "{}";
    json_t *fields = json_loadb(body, len > 0 ? len : 2, JSON_REJECT_DUPLICATES, &jerr);
    if (fields == NULL) {
        char message[256];
        snprintf(message, sizeof(message), "The body is not valid JSON: %s.", jerr.text);
        send_error(req, OUT_INVALID, message, NULL);
        return;
    }
    uint64_t now_us = fs_now_us();
    if (!fs_provider_config_apply(&s->config, fields, now_us, &err)) {
        send_error(req, OUT_INVALID, err.message, err.param);
    } else {
        /* A seed given again restarts its sequence, so a test can replay. */
        if (json_object_get(fields, "seed") != NULL) {
            fs_provider_rng_seed(&s->rng, (uint64_t)s->config.seed);
        }
        log_config(s, "control");
        send_json(req, fs_provider_config_json(&s->config, now_us));
    }
    json_decref(fields);
}

/* GET /reports/settlements?date=YYYY-MM-DD[&after=KEY][&limit=N] (issue 12). */
static void get_report(sim_t *s, struct evhttp_request *req, const char *query)
{
    struct evkeyvalq q;
    q.tqh_first = NULL;
    q.tqh_last = &q.tqh_first;
    if (query != NULL && evhttp_parse_query_str(query, &q) != 0) {
        send_error(req, OUT_INVALID, "The query string is malformed.", NULL);
        return;
    }
    const char *date = evhttp_find_header(&q, "date");
    const char *after = evhttp_find_header(&q, "after");
    const char *lim = evhttp_find_header(&q, "limit");
    int64_t day_start;
    int limit = FS_RECON_REPORT_PAGE_MAX;
    char message[128];
    if (!fs_date_parse(date, &day_start)) {
        send_error(req, OUT_INVALID, "date must be a date YYYY-MM-DD (UTC).", "date");
    } else if (after != NULL && !fs_provider_key_valid(after, strlen(after))) {
        send_error(req, OUT_INVALID, "after must be an idempotency key from next_after.",
                   "after");
    } else if (lim != NULL && ((limit = atoi(lim)) < 1 || limit > FS_RECON_REPORT_PAGE_MAX)) {
        snprintf(message, sizeof(message), "limit must be 1 to %d.", FS_RECON_REPORT_PAGE_MAX);
        send_error(req, OUT_INVALID, message, "limit");
    } else {
        send_json(req, fs_provider_report(s->charges, s->refunds, date, day_start,
                                          after != NULL ? after : "", limit));
    }
    evhttp_clear_headers(&q);
}

/* POST /breaks: alter, drop or add a recorded charge or refund (tests). */
static void post_break(sim_t *s, struct evhttp_request *req)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    if (len > FS_PROVIDER_BODY_MAX_BYTES) {
        send_error(req, OUT_TOO_LARGE, "The body is too large.", NULL);
        return;
    }
    json_error_t jerr;
    const char *body = len > 0 ? (const char *)evbuffer_pullup(in, -1) : "{}";
    json_t *j = json_loadb(body, len > 0 ? len : 2, JSON_REJECT_DUPLICATES, &jerr);
    if (j == NULL) {
        send_error(req, OUT_INVALID, "The body is not valid JSON.", NULL);
        return;
    }
    fs_error_t err;
    fs_provider_charge_t *c = fs_provider_break(s->charges, s->refunds, j, (int64_t)time(NULL),
                                                &err);
    if (c == NULL) {
        outcome_t o = err.outcome == FS_NOT_FOUND              ? OUT_NOT_FOUND
                      : err.outcome == FS_IDEMPOTENCY_KEY_REUSE ? OUT_KEY_REUSE
                      : err.outcome == FS_OVERLOADED            ? OUT_CHARGE_LIMIT
                                                                : OUT_INVALID;
        send_error(req, o, err.message, err.param);
    } else {
        fs_log(FS_LOG_INFO, "provider", "break injected: %.*s",
               (int)(len < 512 ? len : 512), body);
        json_t *r = fs_provider_charge_json(c, true);
        json_object_set_new(r, "dropped", json_boolean(c->dropped));
        send_json(req, r);
    }
    json_decref(j);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    sim_t *s = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    bool get = m == EVHTTP_REQ_GET || m == EVHTTP_REQ_HEAD, post = m == EVHTTP_REQ_POST;
    if (path == NULL) path = "/";

    if (strcmp(path, "/charges") == 0 || strcmp(path, "/refunds") == 0) {
        if (post) {
            post_charge(s, req, path[1] == 'r');
        } else {
            send_method_not_allowed(req, "POST");
        }
    } else if ((strncmp(path, "/charges/", 9) == 0 || strncmp(path, "/refunds/", 9) == 0)
               && path[9] != '\0') {
        if (get) {
            get_charge(s, req, path + 9, path[1] == 'r');
        } else {
            send_method_not_allowed(req, "GET");
        }
    } else if (strcmp(path, "/reports/settlements") == 0) {
        if (get) {
            get_report(s, req, evhttp_uri_get_query(uri));
        } else {
            send_method_not_allowed(req, "GET");
        }
    } else if (strcmp(path, "/breaks") == 0) {
        if (post) {
            post_break(s, req);
        } else {
            send_method_not_allowed(req, "POST");
        }
    } else if (strcmp(path, "/control") == 0) {
        if (get) {
            send_json(req, fs_provider_config_json(&s->config, fs_now_us()));
        } else if (post) {
            post_control(s, req);
        } else {
            send_method_not_allowed(req, "GET, POST");
        }
    } else if (strcmp(path, "/stats") == 0 || strcmp(path, "/healthz") == 0) {
        if (!get) {
            send_method_not_allowed(req, "GET");
        } else if (path[1] == 's') {
            get_stats(s, req);
        } else {
            send_json(req, json_pack("{s:s}", "status", "ok"));
        }
    } else {
        send_error(req, OUT_NOT_FOUND, "No such route.", NULL);
    }
}

/* ---- start and stop ---- */

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    sim_t *s = arg;
    (void)what;
    fs_log(FS_LOG_INFO, "provider", "signal %d: stopping", (int)sig);
    event_base_loopbreak(s->base);
}

static int listen_on(sim_t *s, const fs_provider_options_t *o)
{
    s->http = evhttp_new(s->base);
    FS_ASSERT(s->http != NULL);
    evhttp_set_max_body_size(s->http, FS_PROVIDER_BODY_TRANSPORT_MAX_BYTES);
    evhttp_set_max_headers_size(s->http, FS_HEADERS_MAX_BYTES);
    evhttp_set_timeout(s->http, FS_HTTP_TIMEOUT_S);
    evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH |
                                            EVHTTP_REQ_OPTIONS);
    evhttp_set_gencb(s->http, on_request, s);
    if (evhttp_bind_socket(s->http, o->host, (ev_uint16_t)o->port) != 0) {
        fs_log(FS_LOG_ERROR, "provider", "cannot listen on %s:%d", o->host, o->port);
        return -1;
    }
    return 0;
}

static void free_sim(sim_t *s)
{
    /* Answers in flight are dropped: their requests belong to their
     * connections, which evhttp_free() frees. */
    while (s->in_flight != NULL) {
        pending_t *p = s->in_flight;
        pending_unlink(p);
        if (evhttp_request_get_connection(p->req) == NULL) evhttp_request_free(p->req);
        pending_free(p);
    }
    if (s->http != NULL) evhttp_free(s->http);
    if (s->on_sigint != NULL) event_free(s->on_sigint);
    if (s->on_sigterm != NULL) event_free(s->on_sigterm);
    fs_provider_table_free(s->charges);
    fs_provider_table_free(s->refunds);
    if (s->base != NULL) event_base_free(s->base);
}

static void defaults(fs_provider_options_t *o, uint64_t seed)
{
    memset(o, 0, sizeof(*o));
    snprintf(o->host, sizeof(o->host), "127.0.0.1");
    o->port = DEFAULT_PORT;
    fs_provider_config_default(&o->config, (int64_t)(seed >> 1));
}

int fs_provider_sim_main(int argc, char **argv)
{
    fs_provider_options_t o;
    uint64_t random_seed;
    randombytes_buf(&random_seed, sizeof(random_seed));
    defaults(&o, random_seed);

    const char *level = getenv("FINSYS_LOG_LEVEL");
    fs_log_level_t log_level = FS_LOG_INFO;
    if (level != NULL && *level != '\0' && !fs_log_level_parse(level, &log_level)) {
        fprintf(stderr, "finsys provider-sim: FINSYS_LOG_LEVEL must be debug, info, warn or "
                        "error\n");
        return 2;
    }
    fs_log_set_level(log_level);
    const char *env_port = getenv("FINSYS_PROVIDER_PORT");
    if (env_port != NULL && *env_port != '\0') {
        char *port_args[] = {"--port", (char *)env_port};
        char err[256];
        if (!fs_provider_options_parse(&o, 2, port_args, fs_now_us(), err, sizeof(err))) {
            fprintf(stderr, "finsys provider-sim: FINSYS_PROVIDER_PORT: %s\n", err);
            return 2;
        }
    }
    char err[256];
    if (!fs_provider_options_parse(&o, argc, argv, fs_now_us(), err, sizeof(err))) {
        fprintf(stderr, "finsys provider-sim: %s\n\n%s", err, fs_provider_sim_usage);
        return 2;
    }

    sim_t s = {.config = o.config};
    fs_provider_rng_seed(&s.rng, (uint64_t)s.config.seed);
    signal(SIGPIPE, SIG_IGN);
    s.base = event_base_new();
    FS_ASSERT(s.base != NULL);
    s.charges = fs_provider_table_new(FS_PROVIDER_CHARGES_MAX);
    s.refunds = fs_provider_table_new(FS_PROVIDER_CHARGES_MAX);
    s.on_sigint = evsignal_new(s.base, SIGINT, on_signal, &s);
    s.on_sigterm = evsignal_new(s.base, SIGTERM, on_signal, &s);
    FS_ASSERT(s.on_sigint != NULL && s.on_sigterm != NULL);
    evsignal_add(s.on_sigint, NULL);
    evsignal_add(s.on_sigterm, NULL);
    int rc = 0;
    if (listen_on(&s, &o) != 0) {
        rc = 1;
    } else {
        fs_log(FS_LOG_INFO, "provider", "provider simulator listening on %s:%d", o.host, o.port);
        log_config(&s, "config");
        event_base_dispatch(s.base);
        fs_log(FS_LOG_INFO, "provider",
               "stopped: %llu calls, %zu charges recorded, %zu answers in flight dropped",
               (unsigned long long)s.stats.requests, fs_provider_table_count(s.charges),
               s.in_flight_len);
    }
    free_sim(&s);
    return rc;
}
