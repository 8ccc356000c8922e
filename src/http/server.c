/*
 * server.c: HTTP transport on libevent's evhttp (see http.h).
 *
 * Path of a request: evhttp parses it on a loop thread -> on_request() hands
 * method, path, headers and body to fs_api_route() (src/api), which checks
 * everything that needs no database and builds an operation item -> the
 * thread's store (src/store) groups items into one fs_batch() call -> the
 * item's outcome comes back to on_result(), which maps it to HTTP here and
 * nowhere else.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../admin/admin.h"
#include "../api/api.h"
#include "../auth/auth.h"
#include "../idempotency/idempotency.h"
#include "../lock/lock.h"
#include "../metrics/metrics.h"
#include "../cache/cache.h"
#include "../health/health.h"
#include "../objects/objects.h"
#include "../op/op.h"
#include "../queue/queue.h"
#include "../ratelimit/ratelimit.h"
#include "../redis/redis.h"
#include "../receipt/receipt.h"
#include "../replica/replica.h"
#include "../store/store.h"
#include "http.h"

#define REQUEST_ID_LEN_MAX 128

typedef struct worker {
    int index;
    const fs_config_t *config;
    struct event_base *base;
    struct evhttp *http;
    struct evconnlistener *listener;
    fs_store_t *store;
    fs_store_t *reads; /* the lists' and searches' own connections (issue 13) */
    fs_store_t *replica; /* the same on FINSYS_DATABASE_READ_URL (issue 14); NULL: none */
    bool replica_down;   /* said in the log, once a change */
    bool closing;        /* its stores are being freed: a read is answered where it is */
    fs_redis_t *redis;         /* this loop's connection to Redis; NULL when none is configured */
    fs_lock_guard_t *locks;    /* flows under Redis locks (admin balance ops, the purge) */
    fs_ratelimit_t *ratelimit; /* on redis (or in-process) and store */
    fs_cache_t *cache;         /* account reads and replays from Redis first (src/cache) */
    struct event *purge_ev;
    struct event *drain_ev; /* activated by the main thread to stop */
    struct evhttp_bound_socket *bound;
    bool draining;
    uint64_t drain_deadline_us;
    pthread_t thread;
    fs_objects_io_t *objects_io;      /* reads receipts' objects off the loop */
    fs_admin_hasher_t *hasher;        /* argon2id off the loop (src/admin) */
    fs_admin_limiter_t admin_limiter; /* /admin/api per address and per actor */
    fs_http_guard_t *guard;           /* connection caps and read deadlines (issue 13) */
    /* --- the admin console: its live stream's clients on this loop (src/admin) --- */
    fs_admin_stream_t *admin_stream;
    /* --- guesses' 429s held before they are sent (issue 13; see hold_refusal) --- */
    struct held *held[FS_AUTH_GUESS_HOLD_MAX];
    int held_count;
} worker_t;

/* When on_request() took the request, in microseconds (fs_now_us), kept in
 * an input header of the server's own (a client's is removed first): every
 * answer goes through send_text() or send_typed(), which log it. */
#define START_HEADER "X-FinSys-Start-Us"
/* The key's tenant, once the rate limit's check learnt it: for the access
 * log (a client's copy of the header is removed first). */
#define TENANT_HEADER "X-FinSys-Tenant"
/* An admin request's actor, once authenticated: its writes mark
 * "actor:<id>" for read-your-writes on the replica (issue 14; a client's
 * copy of the header is removed first). */
#define ACTOR_HEADER "X-FinSys-Actor"

static const char *method_name(struct evhttp_request *req)
{
    switch (evhttp_request_get_command(req)) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_HEAD:
        return "HEAD";
    case EVHTTP_REQ_POST:
        return "POST";
    case EVHTTP_REQ_DELETE:
        return "DELETE";
    case EVHTTP_REQ_PUT:
        return "PUT";
    case EVHTTP_REQ_PATCH:
        return "PATCH";
    case EVHTTP_REQ_OPTIONS:
        return "OPTIONS";
    default:
        return "OTHER";
    }
}

/* The access log: one line per answer, with its route's template (not the
 * raw path: no ids), status, duration, request id, and the tenant when the
 * rate limit's check learnt it (null before a key was checked, and for keys
 * the in-process limiter knows while Redis is away). */
static void access_log(struct evhttp_request *req, int status)
{
    if (!fs_log_enabled(FS_LOG_INFO)) return;
    const char *start = evhttp_find_header(evhttp_request_get_input_headers(req), START_HEADER);
    double ms = start != NULL ? (double)(fs_now_us() - strtoull(start, NULL, 10)) / 1000.0 : 0;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
    const char *route =
        fs_admin_is_admin_path(path) ? fs_admin_route_template(path) : fs_api_route_template(path);
    const char *m = method_name(req);
    fs_log_set_request_id(
        evhttp_find_header(evhttp_request_get_output_headers(req), "X-Request-Id"));
    const char *tenant = evhttp_find_header(evhttp_request_get_input_headers(req), TENANT_HEADER);
    fs_log_fields(FS_LOG_INFO, "access",
                  json_pack("{s:s, s:s, s:i, s:f, s:s?}", "route", route, "method", m, "status",
                            status, "duration_ms", ms, "tenant", tenant),
                  "%s %s %d", m, route, status);
    fs_log_set_request_id(NULL);
}

static void note_write(struct evhttp_request *req, int status);

static void send_text(struct evhttp_request *req, int status, const char *body, size_t len,
                      bool replayed)
{
    access_log(req, status);
    note_write(req, status);
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    evhttp_add_header(out, "Content-Type", "application/json");
    if (replayed) evhttp_add_header(out, "Idempotent-Replayed", "true");
    struct evbuffer *buf = evbuffer_new();
    evbuffer_add(buf, body, len);
    evhttp_send_reply(req, status, fs_http_reason(status), buf);
    evbuffer_free(buf);
}

/* An answer of another type than JSON (a receipt's HTML page). */
static void send_typed(struct evhttp_request *req, int status, const char *content_type,
                       const char *body, size_t len)
{
    access_log(req, status);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", content_type);
    struct evbuffer *buf = evbuffer_new();
    evbuffer_add(buf, body, len);
    evhttp_send_reply(req, status, fs_http_reason(status), buf);
    evbuffer_free(buf);
}

/* fields: more members of the error object, or NULL (fs_http_error_body_with). */
static void send_error_with(struct evhttp_request *req, fs_outcome_t o, const char *message,
                            const char *param, const json_t *fields, bool replayed)
{
    char *body = fs_http_error_body_with(o, message, param, fields);
    if (fs_http_status(o) == 503 && o != FS_READ_TIMEOUT) {
        /* The database is back within seconds or the queue has drained.
         * (Not a read that ran out of time: the same read again would.) */
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "1");
    }
    send_text(req, fs_http_status(o), body, strlen(body), replayed);
    free(body);
}

static void send_error(struct evhttp_request *req, fs_outcome_t o, const char *message,
                       const char *param, bool replayed)
{
    send_error_with(req, o, message, param, NULL, replayed);
}

static void on_result(void *arg, const fs_store_result_t *r)
{
    struct evhttp_request *req = arg;
    fs_outcome_t o = fs_http_outcome_parse(r->outcome);
    if (o == FS_OK || o == FS_CREATED || o == FS_ACCEPTED) {
        send_text(req, fs_http_status(o), r->payload, strlen(r->payload), r->replayed);
        return;
    }
    /* An error's payload is {"message", "param"} from the store, and
     * whatever else the outcome says, which goes into the error object as
     * it is (payment_blocked's "rule" and "risk"). */
    json_t *p = json_loads(r->payload, 0, NULL);
    const char *message = json_string_value(json_object_get(p, "message"));
    const char *param = json_string_value(json_object_get(p, "param"));
    send_error_with(req, o, message != NULL ? message : "The request failed.", param, p,
                    r->replayed);
    json_decref(p);
}

/* --- reads (issue 13) ---------------------------------------------------
 * Lists and searches (the ops both FS_OPF_READ and FS_OPF_SOLO) run on the
 * loop's read store: FS_READ_CONNECTIONS connections of their own, read-only
 * transactions, FS_READ_STATEMENT_TIMEOUT_MS, a queue of FS_READ_QUEUE_MAX;
 * and a tenant has at most FS_READ_CONCURRENT_PER_TENANT_MAX of them at once
 * in the process (src/http/reads.c). Payments never wait behind them. */
typedef struct {
    struct evhttp_request *req;
    char tenant[FS_READ_TENANT_LEN_MAX + 1];
    /* --- reads on the replica (issue 14) --- */
    struct worker *w;
    json_t *item;       /* kept while the replica has it: the primary may read it after */
    bool on_replica;    /* sent to w->replica */
    const char *why;    /* why it went to the primary (finsys_reads_total's "why") */
    char lsn[32];       /* the position the replica must have replayed */
    fs_store_cb done;   /* answers it: on_result, or the admin console's */
    void *done_arg;
    bool admin;         /* the console's: not counted per tenant; its primary is w->store */
} read_t;

static void on_read(void *arg, const fs_store_result_t *r);

/* --- reads on the replica (issue 14; src/replica) ----------------------
 * With FINSYS_DATABASE_READ_URL each loop has a second read store, on the
 * replica. A read goes there when src/replica gives it a position (a sample
 * of the primary recent enough, and none of the tenant's writes through
 * this process since), when the replica store is connected, and, with
 * Redis, when no process has marked the tenant as having written in the
 * last FS_READ_REPLICA_LAG_MAX_MS (rw:<tenant>, set as each write is
 * answered). Otherwise, or when the replica answers that it has not
 * replayed that far, fails, or is lost with the read, the primary's read
 * store reads it (an admin console's read: the write path's store, where it
 * ran before). */
static void read_count(const char *to, const char *why)
{
    fs_metrics_add(FS_M_READS, to, why, NULL, 1);
}

static void read_to_primary(read_t *rd, const char *why)
{
    rd->on_replica = false;
    rd->why = why;
    json_t *item = rd->item;
    rd->item = NULL;
    fs_store_submit(rd->admin ? rd->w->store : rd->w->reads, item, on_read, rd);
}

static void read_to_replica(read_t *rd)
{
    rd->on_replica = true;
    json_object_set_new(rd->item, "read_lsn", json_string(rd->lsn));
    json_incref(rd->item);
    fs_store_submit(rd->w->replica, rd->item, on_read, rd);
}

static void on_write_marker(void *arg, fs_redis_status_t st, const redisReply *reply)
{
    read_t *rd = arg;
    if (rd->w->closing) {
        /* Stopping: the stores are gone or going. */
        static const fs_store_result_t stopping = {
            .outcome = "unavailable",
            .payload = "{\"message\":\"FinSys is stopping; retry shortly.\",\"param\":null}"};
        json_decref(rd->item);
        if (!rd->admin) fs_http_read_done(rd->tenant);
        rd->done(rd->done_arg, &stopping);
        free(rd);
    } else if (st != FS_REDIS_OK) {
        /* Redis cannot say whether another process wrote for the tenant. */
        read_to_primary(rd, "unsure");
    } else if (reply->type == REDIS_REPLY_INTEGER && reply->integer == 0) {
        read_to_replica(rd);
    } else {
        read_to_primary(rd, "own_write_redis");
    }
}

static void read_route(worker_t *w, read_t *rd)
{
    if (w->replica == NULL) {
        read_to_primary(rd, "no_replica");
        return;
    }
    bool down = !fs_store_up(w->replica);
    if (down != w->replica_down) {
        w->replica_down = down;
        if (down)
            fs_log(FS_LOG_WARN, "replica",
                   "the replica (FINSYS_DATABASE_READ_URL) is not connected: lists and "
                   "searches read the primary");
        else
            fs_log(FS_LOG_INFO, "replica", "the replica is connected: lists and searches "
                                           "read it again");
    }
    if (down) {
        read_to_primary(rd, "replica_down");
        return;
    }
    switch (fs_replica_min_lsn(rd->tenant, rd->lsn, sizeof(rd->lsn))) {
    case FS_REPLICA_OWN_WRITE:
        read_to_primary(rd, "own_write");
        return;
    case FS_REPLICA_NO_SAMPLE:
        read_to_primary(rd, "no_sample");
        return;
    case FS_REPLICA_FRESH:
        break;
    }
    if (w->redis == NULL) {
        read_to_replica(rd);
        return;
    }
    char key[8 + FS_READ_TENANT_LEN_MAX];
    snprintf(key, sizeof(key), "rw:%s", rd->tenant);
    const char *argv[] = {"EXISTS", key};
    fs_redis_command(w->redis, on_write_marker, rd, 2, argv, NULL);
}

/* Every answer to a request other than a GET or HEAD counts as a write of
 * its tenant (or, on /admin/api, of its actor: "actor:<id>"), whatever its
 * status (a 503's outcome is unknown), but a 401 or a 429 (refused before
 * the store: a flood of them must not send every read to the primary): the
 * tenant's reads through this process need a sample taken after it, and,
 * with Redis, its reads through any process go to the primary for
 * FS_READ_REPLICA_LAG_MAX_MS (rw:<tenant>, sent before the answer; not
 * waited for). Only with a replica. */
static _Thread_local struct worker *loop_worker;

static void on_marker_set(void *arg, fs_redis_status_t st, const redisReply *reply)
{
    /* Best effort: a mark Redis did not take leaves only this process's. */
    (void)arg;
    (void)st;
    (void)reply;
}

static void note_write(struct evhttp_request *req, int status)
{
    worker_t *w = loop_worker;
    if (w == NULL || w->replica == NULL || status == 401 || status == 429) return;
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    if (m == EVHTTP_REQ_GET || m == EVHTTP_REQ_HEAD) return;
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    const char *tenant = evhttp_find_header(in, TENANT_HEADER);
    const char *actor = evhttp_find_header(in, ACTOR_HEADER);
    char name[FS_READ_TENANT_LEN_MAX + 1];
    if (tenant == NULL && actor != NULL) {
        snprintf(name, sizeof(name), "actor:%s", actor);
        tenant = name;
    }
    if (tenant != NULL && strlen(tenant) >= FS_READ_TENANT_LEN_MAX) tenant = NULL;
    fs_replica_wrote(tenant);
    if (w->redis == NULL || tenant == NULL) return;
    char key[8 + FS_READ_TENANT_LEN_MAX];
    snprintf(key, sizeof(key), "rw:%s", tenant);
    const char *argv[] = {"SET", key, "1", "PX", FS_STR(FS_READ_REPLICA_LAG_MAX_MS)};
    fs_redis_command(w->redis, on_marker_set, NULL, 5, argv, NULL);
}

static void on_read(void *arg, const fs_store_result_t *r)
{
    read_t *rd = arg;
    if (rd->on_replica) {
        if (r->read_lsn != NULL && strcmp(r->read_at, "replica") == 0)
            fs_replica_replayed(r->read_lsn);
        const char *why = NULL;
        if (strcmp(r->outcome, "replica_stale") == 0) {
            why = "stale";
        } else if (strcmp(r->outcome, "unavailable") == 0 || strcmp(r->outcome, "internal") == 0
                   || strcmp(r->outcome, "reads_overloaded") == 0
                   || (rd->admin && strcmp(r->outcome, "read_timeout") == 0)) {
            /* (A console's read has the primary's longer timeout there.) */
            why = "replica_failed";
        }
        if (why != NULL && !rd->w->closing) {
            read_to_primary(rd, why);
            return;
        }
        json_decref(rd->item);
        rd->item = NULL;
        if (r->read_at != NULL && strcmp(r->read_at, "primary") == 0)
            read_count("primary", "read_url_primary");
        else
            read_count("replica", "fresh");
    } else {
        read_count("primary", rd->why);
    }
    if (!rd->admin) fs_http_read_done(rd->tenant);
    rd->done(rd->done_arg, r);
    free(rd);
}

static bool hold_refusal(worker_t *w, struct evhttp_request *req, int route_id, fs_outcome_t o,
                         const char *message);

/* A tenant past its reads at once is told to retry in a second, and its
 * answer is held that second (FS_READ_BUSY_HOLD_MS): a client that does
 * not wait gets no more 429s than it has connections a second. */
static void send_too_many_reads(worker_t *w, struct evhttp_request *req, int route_id)
{
    static const char message[] =
        "Too many lists and searches at once for this tenant (at most "
        FS_STR(FS_READ_CONCURRENT_PER_TENANT_MAX) "); wait for one to finish, then retry.";
    evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "1");
    if (!hold_refusal(w, req, route_id, FS_TOO_MANY_CONCURRENT_READS, message))
        send_error(req, FS_TOO_MANY_CONCURRENT_READS, message, NULL, false);
}

/* A list or search whose key's tenant is at its cap already, as far as
 * this process knows (fs_http_read_busy): answered 429 before the rate
 * limits' Redis round trip, so that a client hammering past the cap costs
 * a lookup in memory. Takes res's item when true. */
static bool reads_busy(worker_t *w, struct evhttp_request *req, fs_api_result_t *res)
{
    if (res->action != FS_API_STORE
        || !fs_op_has(fs_op_of(res->item), FS_OPF_READ | FS_OPF_SOLO)
        || !fs_http_read_busy(res->auth))
        return false;
    json_decref(res->item);
    res->item = NULL;
    send_too_many_reads(w, req, res->route_id);
    return true;
}

/* Takes item. auth: the key's hash, the tenant's stand-in when the rate
 * limits' check did not learn the tenant. */
static void read_submit(worker_t *w, struct evhttp_request *req, int route_id, json_t *item,
                        const char *tenant, const char *auth)
{
    if (tenant == NULL || tenant[0] == '\0' || strlen(tenant) > FS_READ_TENANT_LEN_MAX)
        tenant = auth;
    switch (fs_http_read_admit(tenant)) {
    case FS_HTTP_READ_TOO_MANY:
        json_decref(item);
        send_too_many_reads(w, req, route_id);
        return;
    case FS_HTTP_READ_TABLE_FULL:
        json_decref(item);
        send_error(req, FS_READS_OVERLOADED,
                   "Too many lists and searches are waiting; retry shortly.", NULL, false);
        return;
    case FS_HTTP_READ_ADMITTED:
        break;
    }
    fs_http_read_key(tenant, auth);
    read_t *rd = calloc(1, sizeof(*rd));
    FS_ASSERT(rd != NULL);
    rd->req = req;
    memcpy(rd->tenant, tenant, strlen(tenant) + 1);
    rd->w = w;
    rd->item = item;
    rd->done = on_result;
    rd->done_arg = req;
    read_route(w, rd);
}

/* POST /v1/webhook_endpoints: the new endpoint's signing secret, taken out
 * of the item before the store sees it (the database stores it sealed,
 * docs/operations.md "Secrets at rest"; its stored answer, the idempotency
 * record and any cached replay hold no secret). */
typedef struct {
    struct evhttp_request *req;
    char secret[FS_NOTIFY_SECRET_LEN_MAX + 1];
} endpoint_creation_t;

/* The secret goes into the first answer only: a replay of the creation
 * answers "secret": null (docs/webhooks.md); the secret made for the
 * replayed request was never stored nor used. */
static void on_endpoint_created(void *arg, const fs_store_result_t *r)
{
    endpoint_creation_t *ec = arg;
    json_t *p = strcmp(r->outcome, "created") == 0 ? json_loads(r->payload, 0, NULL) : NULL;
    if (p == NULL) {
        on_result(ec->req, r);
    } else {
        json_object_set_new(p, "secret", r->replayed ? json_null() : json_string(ec->secret));
        char *text = json_dumps(p, JSON_COMPACT);
        FS_ASSERT(text != NULL);
        send_text(ec->req, fs_http_status(FS_CREATED), text, strlen(text), r->replayed);
        sodium_memzero(text, strlen(text));
        free(text);
        json_decref(p);
    }
    sodium_memzero(ec->secret, sizeof(ec->secret));
    free(ec);
}

/* GET /readyz: the database, Redis and NATS, each with its latency
 * (src/health). */
static void on_ready(void *arg, int status, const char *body)
{
    struct evhttp_request *req = arg;
    if (status != 200)
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "1");
    send_text(req, status, body, strlen(body), false);
}

/* The broker the settlement worker listens to, shared by the threads
 * (libnats is thread-safe); NULL when none is configured or reachable. */
static fs_queue_t *queue;

/* The object store receipts are read from (FINSYS_OBJECTS_DIR), shared by
 * the threads; each reads through an fs_objects_io_t of its own. */
static fs_objects_t *objects;

/* --- the admin console (src/admin): its files, read at start-up, and the
 * hub that fans the worker's live messages out to the loops --- */
static fs_admin_static_t *admin_static;
static fs_admin_hub_t *admin_hub;

/* A payment (or a refund) being created: published for settlement once
 * committed. */
typedef struct {
    struct evhttp_request *req;
    char payment_id[FS_ID_LEN_MAX + 1];
    bool payment;     /* not a refund: counted in finsys_payments_created_total and
                         finsys_risk_decisions_total */
    char currency[8]; /* its currency and amount, for the metrics */
    int64_t amount;
} creation_t;

/* Copies the request id set_request_id() put on the answer: read before the
 * answer is sent, since sending may free the request. */
static void request_id_of(struct evhttp_request *req, char out[REQUEST_ID_LEN_MAX + 1])
{
    const char *rid = evhttp_find_header(evhttp_request_get_output_headers(req), "X-Request-Id");
    snprintf(out, REQUEST_ID_LEN_MAX + 1, "%s", rid != NULL ? rid : "");
}

static void on_created(void *arg, const fs_store_result_t *r)
{
    creation_t *cr = arg;
    char request_id[REQUEST_ID_LEN_MAX + 1];
    request_id_of(cr->req, request_id);
    /* A replay is published too: its first answer may have been lost with
     * its publish (a 503 after the commit); the broker's dedup drops a copy. */
    bool publish = queue != NULL && strcmp(r->outcome, "created") == 0;
    if (publish && cr->payment && strstr(r->payload, "requires_review") != NULL) {
        /* Held for review by a risk rule (docs/risk.md): settled only once
         * approved (on_reviewed). Parsed only when the word appears at all. */
        json_t *p = json_loads(r->payload, 0, NULL);
        const char *status = json_string_value(json_object_get(p, "status"));
        if (status != NULL && strcmp(status, "requires_review") == 0) publish = false;
        json_decref(p);
    }
    if (publish && r->replayed) {
        /* A replay's object is the first request's, not this item's. */
        json_t *p = json_loads(r->payload, 0, NULL);
        const char *id = json_string_value(json_object_get(p, "id"));
        if (id != NULL) snprintf(cr->payment_id, sizeof(cr->payment_id), "%s", id);
        json_decref(p);
    }
    if (cr->payment && !r->replayed && strcmp(r->outcome, "created") == 0) {
        fs_metrics_add(FS_M_PAYMENTS_CREATED, cr->currency, NULL, NULL, 1);
        fs_metrics_add(FS_M_PAYMENTS_AMOUNT, cr->currency, "created", NULL, (uint64_t)cr->amount);
        fs_metrics_count_risk(r->payload);
    } else if (cr->payment && !r->replayed && strcmp(r->outcome, "payment_blocked") == 0) {
        /* Its error payload carries the decision as the payment would. */
        fs_metrics_count_risk(r->payload);
    }
    on_result(cr->req, r); /* the answer first: it is committed */
    /* A publish that fails, or a crash before it, loses nothing: the pending
     * payment row is the outbox, and the worker's sweeper publishes it again. */
    if (publish && fs_queue_publish_payment(queue, cr->payment_id, request_id) != 0) {
        fs_log(FS_LOG_WARN, "http", "payment %s not published; the sweeper will", cr->payment_id);
    }
    free(cr);
}

/* A cancel that is not a replay counts in finsys_payments_canceled_total:
 * /v1's (on_canceled) and an admin's (on_admin_canceled) alike. */
static void count_canceled(const fs_store_result_t *r)
{
    if (!r->replayed && strcmp(r->outcome, "ok") == 0 && fs_metrics_enabled()) {
        json_t *p = json_loads(r->payload, 0, NULL);
        const char *status = json_string_value(json_object_get(p, "status"));
        const char *currency = json_string_value(json_object_get(p, "currency"));
        if (status != NULL && currency != NULL && strcmp(status, "canceled") == 0)
            fs_metrics_add(FS_M_PAYMENTS_CANCELED, currency, NULL, NULL, 1);
        json_decref(p);
    }
}

static void on_canceled(void *arg, const fs_store_result_t *r)
{
    count_canceled(r);
    on_result(arg, r);
}

/* A review's decision (docs/risk.md), from /v1 (on_reviewed) or the console
 * (on_admin_reviewed): an approved payment is pending and is published for
 * settlement once committed, as a new one is (on_created, which left it
 * unpublished while in review). fs_queue_publish_approved's message id is
 * its own, so no dedup window of an earlier message can drop it. A replay
 * publishes again (its first answer may have been lost with its publish);
 * the dedup drops the copy. A publish that fails waits for the sweeper: the
 * approval put the payment in the outbox. Copies the approved payment's id
 * to id (empty when there is none to publish). */
static void approved_payment(const fs_store_result_t *r, char id[FS_ID_LEN_MAX + 1])
{
    id[0] = '\0';
    if (queue == NULL || strcmp(r->outcome, "ok") != 0) return;
    json_t *p = json_loads(r->payload, 0, NULL);
    const char *status = json_string_value(json_object_get(p, "status"));
    const char *pid = json_string_value(json_object_get(p, "id"));
    if (status != NULL && pid != NULL && strcmp(status, "pending") == 0)
        snprintf(id, FS_ID_LEN_MAX + 1, "%s", pid);
    json_decref(p);
}

static void publish_approved(const char *id, const char *request_id)
{
    if (id[0] != '\0' && fs_queue_publish_approved(queue, id, request_id) != 0)
        fs_log(FS_LOG_WARN, "http", "payment %s not published; the sweeper will", id);
}

static void on_reviewed(void *arg, const fs_store_result_t *r)
{
    struct evhttp_request *req = arg;
    char request_id[REQUEST_ID_LEN_MAX + 1];
    request_id_of(req, request_id);
    char id[FS_ID_LEN_MAX + 1];
    approved_payment(r, id);
    on_result(req, r); /* the answer first: it is committed */
    publish_approved(id, request_id);
}

/* An operator's replay of dead letters: each payment whose mark the database
 * cleared is published again, under a message id of its own. */
static void on_replayed(void *arg, const fs_store_result_t *r)
{
    struct evhttp_request *req = arg;
    json_t *ids = NULL;
    if (queue != NULL && !r->replayed && strcmp(r->outcome, "ok") == 0) {
        json_t *p = json_loads(r->payload, 0, NULL);
        ids = json_incref(json_object_get(p, "payments"));
        /* Refunds are published under their own ids too. */
        json_array_extend(ids, json_object_get(p, "refunds"));
        json_decref(p);
    }
    char request_id[REQUEST_ID_LEN_MAX + 1];
    request_id_of(req, request_id);
    on_result(req, r);
    size_t i;
    json_t *id;
    json_array_foreach(ids, i, id)
    {
        /* One that fails waits for the sweeper: its mark is cleared. */
        fs_queue_replay_payment(queue, json_string_value(id), request_id);
    }
    json_decref(ids);
}

/* GET /v1/payments/{id}/receipt: the store names the receipt's object,
 * the loop's object I/O thread reads it, and the answer is the document as
 * it was stored (its SHA-256 checked) or its HTML page, by the Accept
 * header. A missing or damaged object is a 500 and an error in the log: the
 * row says it was stored, so something outside FinSys lost it
 * (docs/operations.md says how to make it again). */
typedef struct {
    struct evhttp_request *req;
    fs_objects_io_t *io;
    char sha256[65];
    char key[FS_OBJECT_KEY_LEN_MAX + 1];
} receipt_read_t;

static void on_receipt_read(void *arg, fs_objects_status_t st, char *data, size_t len)
{
    receipt_read_t *rd = arg;
    struct evhttp_request *req = rd->req;
    char sha[65] = "";
    if (st == FS_OBJECTS_OK) fs_receipt_sha256_hex(data, len, sha);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Vary", "Accept");
    const char *accept = evhttp_find_header(evhttp_request_get_input_headers(req), "Accept");
    char *html = NULL;
    size_t html_len = 0;
    if (st == FS_OBJECTS_UNAVAILABLE) {
        send_error(req, FS_UNAVAILABLE, "FinSys is stopping; retry shortly.", NULL, false);
    } else if (st == FS_OBJECTS_UNREACHABLE) {
        /* S3 away or throttling (the store logged it): transient. */
        send_error(req, FS_UNAVAILABLE, "The object store does not answer; retry shortly.", NULL,
                   false);
    } else if (st != FS_OBJECTS_OK || strcmp(sha, rd->sha256) != 0) {
        fs_log(FS_LOG_ERROR, "http", "receipt object %s is %s", rd->key,
               st != FS_OBJECTS_OK ? fs_objects_status_name(st) : "damaged (SHA-256 differs)");
        send_error(req, FS_INTERNAL,
                   "The receipt's document is missing or damaged; the operators are told.", NULL,
                   false);
    } else if (!fs_receipt_wants_html(accept)) {
        send_typed(req, 200, "application/json", data, len);
    } else if ((html = fs_receipt_html(data, len, &html_len)) != NULL) {
        send_typed(req, 200, "text/html; charset=utf-8", html, html_len);
    } else {
        fs_log(FS_LOG_ERROR, "http", "receipt object %s is not a receipt", rd->key);
        send_error(req, FS_INTERNAL, "The receipt's document cannot be shown.", NULL, false);
    }
    free(html);
    free(data);
    free(rd);
}

/* The store's answer naming an object (a receipt's, an export's): its key
 * and SHA-256 copied out, and the answer (a new reference) for its other
 * fields. NULL when it names none: the request is answered then (not_found
 * saying why, or the store's failure). */
static json_t *object_row(struct evhttp_request *req, const fs_store_result_t *r,
                          char key_out[FS_OBJECT_KEY_LEN_MAX + 1], char sha_out[65])
{
    json_t *p = strcmp(r->outcome, "ok") == 0 ? json_loads(r->payload, 0, NULL) : NULL;
    const char *key = json_string_value(json_object_get(p, "key"));
    const char *sha = json_string_value(json_object_get(p, "sha256"));
    if (p == NULL || key == NULL || sha == NULL) {
        json_decref(p);
        on_result(req, r);
        return NULL;
    }
    snprintf(key_out, FS_OBJECT_KEY_LEN_MAX + 1, "%s", key);
    snprintf(sha_out, 65, "%s", sha);
    return p;
}

static void on_receipt_row(void *arg, const fs_store_result_t *r)
{
    receipt_read_t *rd = arg;
    json_t *p = object_row(rd->req, r, rd->key, rd->sha256);
    if (p == NULL) {
        free(rd);
        return;
    }
    json_decref(p);
    if (fs_objects_io_get(rd->io, rd->key, on_receipt_read, rd) != 0) {
        send_error(rd->req, FS_OVERLOADED, "Too many receipts are being read; retry shortly.", NULL,
                   false);
        free(rd);
    }
}

/* GET /v1/exports/{id}/download: the store names the export's object; the
 * loop's object I/O thread opens it and hashes it (the whole file, off the
 * loop), and the loop sends the open file (evbuffer_add_file: sendfile, no
 * copy in memory, whatever its size) once its SHA-256 matches the row's. */
typedef struct {
    struct evhttp_request *req;
    fs_objects_io_t *io;
    char sha256[65];
    char key[FS_OBJECT_KEY_LEN_MAX + 1];
    char filename[96];
} export_read_t;

static void on_export_opened(void *arg, fs_objects_status_t st, int fd, size_t len, const char *sha)
{
    export_read_t *rd = arg;
    struct evhttp_request *req = rd->req;
    if (st == FS_OBJECTS_UNAVAILABLE) {
        send_error(req, FS_UNAVAILABLE, "FinSys is stopping; retry shortly.", NULL, false);
    } else if (st == FS_OBJECTS_UNREACHABLE) {
        send_error(req, FS_UNAVAILABLE, "The object store does not answer; retry shortly.", NULL,
                   false);
    } else if (st != FS_OBJECTS_OK || strcmp(sha, rd->sha256) != 0) {
        fs_log(FS_LOG_ERROR, "http", "export object %s is %s", rd->key,
               st != FS_OBJECTS_OK ? fs_objects_status_name(st) : "damaged (SHA-256 differs)");
        send_error(req, FS_INTERNAL,
                   "The export's file is missing or damaged; make the export again.", NULL, false);
        if (fd >= 0) close(fd);
    } else {
        access_log(req, 200);
        struct evkeyvalq *out = evhttp_request_get_output_headers(req);
        evhttp_add_header(out, "Content-Type", "text/csv; charset=utf-8");
        char disp[160];
        snprintf(disp, sizeof(disp), "attachment; filename=\"%s\"", rd->filename);
        evhttp_add_header(out, "Content-Disposition", disp);
        struct evbuffer *buf = evbuffer_new();
        if (len == 0) {
            close(fd);
        } else if (evbuffer_add_file(buf, fd, 0, (ev_off_t)len) != 0) {
            close(fd);
        }
        evhttp_send_reply(req, 200, fs_http_reason(200), buf);
        evbuffer_free(buf);
    }
    free(rd);
}

static void on_export_row(void *arg, const fs_store_result_t *r)
{
    export_read_t *rd = arg;
    json_t *p = object_row(rd->req, r, rd->key, rd->sha256);
    if (p == NULL) {
        free(rd);
        return;
    }
    snprintf(rd->filename, sizeof(rd->filename), "%.40s-%.40s.csv",
             json_string_value(json_object_get(p, "type")),
             json_string_value(json_object_get(p, "id")));
    json_decref(p);
    if (fs_objects_io_open(rd->io, rd->key, on_export_opened, rd) != 0) {
        send_error(rd->req, FS_OVERLOADED, "Too many files are being read; retry shortly.", NULL,
                   false);
        free(rd);
    }
}

/* A request rejected before the store, waiting for its API key's check. */
typedef struct {
    struct evhttp_request *req;
    fs_error_t err;
    const char *allow;
    char param[64]; /* err.param may point at a buffer the next request reuses */
} rejection_t;

static void send_rejection(struct evhttp_request *req, const fs_error_t *err, const char *allow)
{
    if (allow != NULL) evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", allow);
    send_error(req, err->outcome, err->message, err->param, false);
}

static void on_key_checked(void *arg, const fs_store_result_t *r)
{
    rejection_t *rej = arg;
    json_t *p = strcmp(r->outcome, "ok") == 0 ? json_loads(r->payload, 0, NULL) : NULL;
    bool admin_key = json_is_true(json_object_get(p, "admin"));
    json_decref(p);
    if (admin_key && rej->err.outcome != FS_NOT_FOUND) {
        /* An admin key on /v1 (docs/console.md): scoped out, whatever else. */
        send_error(rej->req, FS_ADMIN_KEY_SCOPE, "An admin API key may be used only on /admin/api.",
                   NULL, false);
    } else if (strcmp(r->outcome, "ok") == 0) {
        send_rejection(rej->req, &rej->err, rej->allow);
    } else {
        on_result(rej->req, r);
    }
    free(rej);
}

/* Echo a sane X-Request-Id, or make one, so a request can be followed. */
static void set_request_id(struct evhttp_request *req)
{
    const char *given = evhttp_find_header(evhttp_request_get_input_headers(req), "X-Request-Id");
    char id[FS_ID_BUF_LEN];
    bool ok = given != NULL && strlen(given) > 0 && strlen(given) <= REQUEST_ID_LEN_MAX;
    for (const char *c = given; ok && *c != '\0'; c++) ok = *c > ' ' && *c <= '~';
    if (!ok) {
        fs_id_new("req", id, sizeof(id));
        given = id;
    }
    evhttp_add_header(evhttp_request_get_output_headers(req), "X-Request-Id", given);
}

static fs_method_t method_of(struct evhttp_request *req)
{
    switch (evhttp_request_get_command(req)) {
    case EVHTTP_REQ_GET:
    case EVHTTP_REQ_HEAD:
        return FS_METHOD_GET;
    case EVHTTP_REQ_POST:
        return FS_METHOD_POST;
    case EVHTTP_REQ_DELETE:
        return FS_METHOD_DELETE;
    case EVHTTP_REQ_PATCH:
        return FS_METHOD_PATCH;
    default:
        return FS_METHOD_OTHER;
    }
}

static void dispatch(worker_t *w, struct evhttp_request *req, fs_api_result_t res,
                     const fs_cache_replay_t *looked, bool plain_key);
static void count_request(struct evhttp_request *req, int route_id);

/* A request waiting for its rate limits' check (src/ratelimit). */
typedef struct {
    worker_t *w;
    struct evhttp_request *req;
    fs_api_result_t res;
    char param[64]; /* res.err.param may point at a buffer the next request reuses */
    bool replay;    /* the check also reads the item's replay entry (src/cache) */
} gate_t;

/* --- guesses held (issue 13) -----------------------------------------------
 *
 * A request refused by its address's budget of key lookups (the address
 * presents keys nobody issued: fs_rate_verdict_t's guessing) gets its 429
 * FS_AUTH_GUESS_HOLD_MS late, its body and item dropped first, so that a
 * flood of made-up keys gets one answer a second per connection, not as
 * many as the loop can make (src/core/limits.h, "flood bench"). At most
 * FS_AUTH_GUESS_HOLD_MAX per loop (past it: sent at once); when the loop
 * drains, every held one is sent at once. The request is the connection's
 * (evhttp keeps it alive, detached, if the client goes: sending it then
 * frees it). */
typedef struct held {
    worker_t *w;
    struct evhttp_request *req;
    struct event *ev;
    int slot; /* in w->held */
    int route_id;
    fs_outcome_t outcome;
    char message[200];
} held_t;

static void count_request(struct evhttp_request *req, int route_id);

static void send_held(held_t *h)
{
    worker_t *w = h->w;
    FS_ASSERT(h->slot >= 0 && h->slot < w->held_count && w->held[h->slot] == h);
    w->held_count--;
    w->held[h->slot] = w->held[w->held_count];
    w->held[h->slot]->slot = h->slot;
    event_free(h->ev);
    /* The route's latency is the server's, not the hold's: its clock starts
     * again (the access log keeps the whole wait). */
    count_request(h->req, h->route_id);
    send_error(h->req, h->outcome, h->message, NULL, false);
    free(h);
}

static void on_held(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    send_held(arg);
}

/* True when the request is now held (its answer, outcome o, sent later):
 * a guess's 429 (FS_AUTH_GUESS_HOLD_MS) or a tenant's past its reads at
 * once (FS_READ_BUSY_HOLD_MS, the same second). */
static bool hold_refusal(worker_t *w, struct evhttp_request *req, int route_id, fs_outcome_t o,
                         const char *message)
{
    if (w->draining || w->held_count >= FS_AUTH_GUESS_HOLD_MAX) return false;
    held_t *h = calloc(1, sizeof(*h));
    FS_ASSERT(h != NULL);
    h->ev = evtimer_new(w->base, on_held, h);
    FS_ASSERT(h->ev != NULL);
    h->w = w;
    h->req = req;
    h->route_id = route_id;
    h->outcome = o;
    snprintf(h->message, sizeof(h->message), "%s", message);
    struct evbuffer *body = evhttp_request_get_input_buffer(req);
    evbuffer_drain(body, evbuffer_get_length(body));
    h->slot = w->held_count;
    w->held[w->held_count++] = h;
    int ms = o == FS_TOO_MANY_CONCURRENT_READS ? FS_READ_BUSY_HOLD_MS : FS_AUTH_GUESS_HOLD_MS;
    struct timeval hold = {ms / 1000, (ms % 1000) * 1000};
    event_add(h->ev, &hold);
    return true;
}

static void on_gate(void *arg, const fs_rate_verdict_t *v)
{
    gate_t *g = arg;
    struct evhttp_request *req = g->req;
    if (v != NULL) fs_ratelimit_headers(v, evhttp_request_get_output_headers(req));
    if (v != NULL && v->tenant[0] != '\0')
        evhttp_add_header(evhttp_request_get_input_headers(req), TENANT_HEADER, v->tenant);
    if (g->w->draining || (v != NULL && (!v->allowed || v->unknown_key))) {
        /* Stopping (the store may be gone), over the limit, or a key that
         * is not a live one (issue 13: answered without the store). */
        json_decref(g->res.item);
        if (g->w->draining) {
            send_error(req, FS_UNAVAILABLE, "FinSys is stopping; retry shortly.", NULL, false);
        } else if (v->unknown_key) {
            send_error(req, FS_UNAUTHORIZED, "Invalid API key provided.", NULL, false);
        } else {
            char msg[200];
            snprintf(msg, sizeof(msg),
                     "Too many requests: this API key or address may send %d at once and "
                     "then at a steady rate; retry in %d s.",
                     v->limit, v->retry_after_s);
            fs_metrics_add(FS_M_RATELIMIT_LIMITED, NULL, NULL, NULL, 1);
            if (!v->guessing || !hold_refusal(g->w, req, g->res.route_id, FS_RATE_LIMITED, msg))
                send_error(req, FS_RATE_LIMITED, msg, NULL, false);
        }
    } else if (g->replay) {
        /* What the check's script read under the item's replay key. When it
         * did not (Redis did not answer, the in-process limiter did, or the
         * key is unknown and the store answers 401), the store answers:
         * Redis is not asked again. */
        fs_cache_replay_t looked = {0};
        /* Only a key the check knows as live and plain may be answered from
         * Redis's replay entry (issue 13): a revoked or expired key's goes
         * to the store, which answers 401. */
        if (v != NULL && v->replay_looked && v->plain_key)
            looked = (fs_cache_replay_t){v->replay, v->replay_len};
        dispatch(g->w, req, g->res, &looked, v != NULL && v->plain_key);
    } else {
        dispatch(g->w, req, g->res, NULL, v != NULL && v->plain_key);
    }
    free(g);
}

/* Every /v1 request that carries a well-formed API key is counted against
 * its key's and its address's limits before anything else is done (health
 * probes and the operator's /admin routes are not). True when the request
 * now waits for the check; on_gate continues it. */
static bool rate_limited(worker_t *w, struct evhttp_request *req, const char *path,
                         const fs_api_result_t *res)
{
    if (res->auth[0] == '\0' || strncmp(path, "/v1/", 4) != 0) return false;
    gate_t *g = malloc(sizeof(*g));
    FS_ASSERT(g != NULL);
    *g = (gate_t){.w = w, .req = req, .res = *res};
    if (res->err.param != NULL) {
        snprintf(g->param, sizeof(g->param), "%s", res->err.param);
        g->res.err.param = g->param;
    }
    char *addr = NULL;
    ev_uint16_t port = 0;
    evhttp_connection_get_peer(evhttp_request_get_connection(req), &addr, &port);
    /* An item the cache would look up a replay for has it read by the same
     * script: one round trip to Redis before the store. */
    char *replay_key = NULL;
    if (res->action == FS_API_STORE) replay_key = fs_cache_replay_key(w->cache, res->item);
    g->replay = replay_key != NULL;
    fs_ratelimit_check(w->ratelimit, res->auth, addr, replay_key, on_gate, g);
    free(replay_key);
    return true;
}

/* --- the admin API (src/admin, docs/console.md) ----------------------------
 *
 * A request under /admin/api/ is found in src/admin's route table, counted
 * by this thread's limiter per address, authenticated (the session cookie
 * fs_admin, or an admin API key), counted per actor, checked against its
 * route's minimum role and, for a cookie's write, its CSRF token; then its
 * item is executed with the actor in it. The login's password check runs on
 * the thread's hasher, never on the loop. */

#define ADMIN_COOKIE "fs_admin"

typedef struct {
    worker_t *w;
    struct evhttp_request *req;
    int route;
    char id[FS_ID_LEN_MAX + 1];
    fs_admin_actor_t actor;
    bool cookie;
    char session_hash[65]; /* the session's token's hash, or the operator key's */
    char *session_json; /* the session's object (GET /admin/api/session) */
    char email[FS_ADMIN_EMAIL_LEN_MAX + 1];
    char password[FS_ADMIN_PASSWORD_LEN_MAX + 1];
    char staff_id[FS_ID_LEN_MAX + 1];
    char token[FS_ADMIN_TOKEN_LEN + 1];
    char secret[FS_AUTH_KEY_BUF_LEN]; /* a new API key or staff password: answered once */
    json_t *item;                     /* a staff create waiting for its hash */
} admin_ctx_t;

static void admin_free(admin_ctx_t *c)
{
    sodium_memzero(c->password, sizeof(c->password));
    sodium_memzero(c->secret, sizeof(c->secret));
    free(c->session_json);
    json_decref(c->item);
    free(c);
}

static void admin_error(admin_ctx_t *c, fs_outcome_t o, const char *message, const char *param)
{
    send_error(c->req, o, message, param, false);
    admin_free(c);
}

/* An error answer of the store (its {"message", "param"}), or its success. */
static void admin_send(admin_ctx_t *c, const fs_store_result_t *r)
{
    on_result(c->req, r);
    admin_free(c);
}

static void set_cookie(admin_ctx_t *c, const char *token, int max_age_s)
{
    char v[256];
    snprintf(v, sizeof(v), "%s=%s; Path=/admin; Max-Age=%d; HttpOnly; SameSite=Strict%s",
             ADMIN_COOKIE, token, max_age_s, c->w->config->admin_cookie_secure ? "; Secure" : "");
    evhttp_add_header(evhttp_request_get_output_headers(c->req), "Set-Cookie", v);
}

static void admin_run(admin_ctx_t *c);

static void on_admin_finished(void *arg, const fs_store_result_t *r)
{
    admin_ctx_t *c = arg;
    if (strcmp(r->outcome, "created") == 0)
        set_cookie(c, c->token, c->w->config->admin_session_max_s);
    admin_send(c, r);
}

static void on_admin_verified(void *arg, bool ok, const char *hash)
{
    admin_ctx_t *c = arg;
    (void)hash;
    if (c->w->draining) {
        admin_error(c, FS_UNAVAILABLE, "FinSys is stopping; retry shortly.", NULL);
        return;
    }
    char rid[REQUEST_ID_LEN_MAX + 1], token_hash[65], csrf[FS_ADMIN_TOKEN_LEN + 1];
    request_id_of(c->req, rid);
    fs_admin_token_new(c->token);
    fs_admin_token_hash(c->token, token_hash);
    fs_admin_token_new(csrf);
    json_t *item = json_pack("{s:s, s:s, s:b, s:s, s:s, s:s, s:i, s:s}", "op",
                             fs_op_name(FS_OP_ADMIN_LOGIN_FINISH), "email", c->email, "ok", ok,
                             "staff", c->staff_id, "session", token_hash, "csrf", csrf, "max_s",
                             c->w->config->admin_session_max_s, "rid", rid);
    fs_store_submit(c->w->store, item, on_admin_finished, c);
}

static void on_admin_login_row(void *arg, const fs_store_result_t *r)
{
    admin_ctx_t *c = arg;
    json_t *p = json_loads(r->payload, 0, NULL);
    if (strcmp(r->outcome, "login_locked") == 0) {
        char retry[16];
        snprintf(retry, sizeof(retry), "%d",
                 (int)json_integer_value(json_object_get(p, "retry_after_s")));
        evhttp_add_header(evhttp_request_get_output_headers(c->req), "Retry-After", retry);
    }
    if (strcmp(r->outcome, "ok") != 0) {
        json_decref(p);
        admin_send(c, r);
        return;
    }
    const char *hash = json_string_value(json_object_get(p, "hash"));
    const char *id = json_string_value(json_object_get(p, "id"));
    snprintf(c->staff_id, sizeof(c->staff_id), "%s", id != NULL ? id : "");
    int rc = fs_admin_hasher_verify(c->w->hasher, hash, c->password, on_admin_verified, c);
    json_decref(p);
    if (rc != 0) admin_error(c, FS_OVERLOADED, "Too many logins at once; retry shortly.", NULL);
}

static void admin_login(admin_ctx_t *c, const fs_api_request_t *ar)
{
    fs_error_t err;
    if (!fs_admin_parse_login(ar->body, ar->body_len, c->email, c->password, &err)) {
        admin_error(c, err.outcome, err.message, err.param);
        return;
    }
    json_t *item =
        json_pack("{s:s, s:s, s:i, s:i}", "op", fs_op_name(FS_OP_ADMIN_LOGIN), "email", c->email,
                  "failures_max", FS_ADMIN_LOGIN_FAILURES_MAX, "window_s", FS_ADMIN_LOGIN_WINDOW_S);
    fs_store_submit(c->w->store, item, on_admin_login_row, c);
}

/* api_key.revoke, api_key.rotate and tenant.limits name the keys whose cached tenant and
 * limits (fs:auth:<hash>, src/ratelimit) must go; the hashes are not
 * answered. */
static void on_key_forgotten(void *arg, fs_redis_status_t st, const redisReply *reply)
{
    /* Not deleted: the cached entry expires on its own (src/ratelimit). */
    (void)arg;
    (void)st;
    (void)reply;
}

static void forget_keys(admin_ctx_t *c, json_t *p)
{
    json_t *hashes = json_object_get(p, "key_hashes");
    json_t *one = json_object_get(p, "key_hash");
    size_t i;
    json_t *h;
    if (c->w->redis != NULL) {
        json_t *all = json_array();
        if (one != NULL) json_array_append(all, one);
        if (json_is_array(hashes)) json_array_extend(all, hashes);
        json_array_foreach(all, i, h)
        {
            char key[96];
            snprintf(key, sizeof(key), "fs:auth:%s", json_string_value(h));
            const char *argv[2] = {"DEL", key};
            fs_redis_command(c->w->redis, on_key_forgotten, NULL, 2, argv, NULL);
        }
        json_decref(all);
    }
    json_object_del(p, "key_hashes");
    json_object_del(p, "key_hash");
}

static void on_admin_written(void *arg, const fs_store_result_t *r)
{
    admin_ctx_t *c = arg;
    fs_outcome_t o = fs_http_outcome_parse(r->outcome);
    json_t *p = o == FS_OK || o == FS_CREATED ? json_loads(r->payload, 0, NULL) : NULL;
    if (p == NULL) {
        admin_send(c, r);
        return;
    }
    forget_keys(c, p);
    if (c->secret[0] != '\0') {
        /* A secret is answered once, by the first answer, and never stored
         * (an idempotency record holds the object without it): a replay
         * answers null; the secret made for this request was never used. */
        const fs_admin_route_t *routes = fs_admin_routes(&(size_t){0});
        bool key = routes[c->route].kind == FS_ADMIN_KEY_CREATE;
        json_object_set_new(p, key ? "secret" : "password",
                            r->replayed ? json_null() : json_string(c->secret));
    }
    if (fs_admin_routes(&(size_t){0})[c->route].kind == FS_ADMIN_LOGOUT) {
        set_cookie(c, "", 0);
        access_log(c->req, 204);
        evhttp_send_reply(c->req, 204, "No Content", NULL);
        json_decref(p);
        admin_free(c);
        return;
    }
    char *text = json_dumps(p, JSON_COMPACT);
    send_text(c->req, fs_http_status(o), text, strlen(text), r->replayed);
    free(text);
    json_decref(p);
    admin_free(c);
}

static void on_admin_plain(void *arg, const fs_store_result_t *r)
{
    admin_send(arg, r);
}

/* An operator's balance operation (src/lock) has its result: answered once
 * the cache has invalidated the accounts it changed. */
static void on_admin_fenced(void *arg, const fs_store_result_t *r)
{
    admin_ctx_t *c = arg;
    fs_cache_after_bumps(c->w->cache, on_admin_plain, c, r);
}

static void on_admin_canceled(void *arg, const fs_store_result_t *r)
{
    count_canceled(r);
    admin_send(arg, r);
}

/* The console's review (approved_payment above). */
static void on_admin_reviewed(void *arg, const fs_store_result_t *r)
{
    admin_ctx_t *c = arg;
    char id[FS_ID_LEN_MAX + 1];
    approved_payment(r, id);
    char request_id[REQUEST_ID_LEN_MAX + 1];
    request_id_of(c->req, request_id);
    admin_send(c, r); /* the answer first: it is committed */
    publish_approved(id, request_id);
}

static void on_staff_hashed(void *arg, bool ok, const char *hash)
{
    admin_ctx_t *c = arg;
    if (!ok || c->w->draining) {
        admin_error(c, FS_UNAVAILABLE, "The password could not be hashed; retry.", NULL);
        return;
    }
    json_t *item = c->item;
    c->item = NULL;
    json_object_set_new(item, "password_hash", json_string(hash));
    fs_store_submit(c->w->store, item, on_admin_written, c);
}

/* The actor's item, executed as its op says. */
static void admin_execute(admin_ctx_t *c, json_t *item)
{
    worker_t *w = c->w;
    const fs_admin_route_t *route = &fs_admin_routes(&(size_t){0})[c->route];
    char rid[REQUEST_ID_LEN_MAX + 1];
    request_id_of(c->req, rid);
    json_object_set_new(item, "rid", json_string(rid));
    fs_op_t op = fs_op_of(item);
    struct evkeyvalq *in = evhttp_request_get_input_headers(c->req);
    const char *idem = evhttp_find_header(in, "Idempotency-Key");
    if (c->actor.key) {
        /* An admin key's item keeps its key: the pre-console ops resolve
         * their tenant through it. */
        char hash[FS_AUTH_HASH_HEX_LEN + 1];
        fs_auth_key_hash(fs_auth_bearer(evhttp_find_header(in, "Authorization")), hash);
        json_object_set_new(item, "auth", json_string(hash));
        fs_error_t err;
        /* As before the console: an admin key's write on a pre-console
         * route names its retry (400 idempotency_key_missing). */
        if (fs_op_has(op, FS_OPF_IDEMPOTENT) && !fs_idempotency_key_check(idem, &err)) {
            json_decref(item);
            admin_error(c, err.outcome, err.message, err.param);
            return;
        }
    }
    if (idem != NULL && fs_admin_route_idempotent(route)) {
        /* Any actor's write honours an Idempotency-Key (docs/console.md):
         * kept under the actor's id (db/functions/batch.sql), its
         * fingerprint scoped to the actor and the path; optional for a
         * session (the console sends one per confirmed action). */
        fs_error_t err;
        if (!fs_idempotency_key_check(idem, &err)) {
            json_decref(item);
            admin_error(c, err.outcome, err.message, err.param);
            return;
        }
        const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(c->req);
        const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
        char fp[FS_IDEMPOTENCY_FP_HEX_LEN + 1];
        fs_admin_fingerprint(item, c->actor.id, path != NULL ? path : route->path, fp);
        json_object_set_new(item, "idem", json_string(idem));
        json_object_set_new(item, "fp", json_string(fp));
    }
    if (c->cookie && route->kind == FS_ADMIN_LOGOUT)
        json_object_set_new(item, "session", json_string(c->session_hash));
    switch (route->kind) {
    case FS_ADMIN_RECEIPT: {
        receipt_read_t *rd = calloc(1, sizeof(*rd));
        FS_ASSERT(rd != NULL);
        rd->req = c->req;
        rd->io = w->objects_io;
        c->req = NULL;
        admin_free(c);
        fs_store_submit(w->store, item, on_receipt_row, rd);
        return;
    }
    case FS_ADMIN_KEY_CREATE: {
        char hash[FS_AUTH_HASH_HEX_LEN + 1], prefix[FS_AUTH_KEY_DISPLAY_LEN + 1];
        fs_auth_key_new(c->secret, sizeof(c->secret));
        fs_auth_key_hash(c->secret, hash);
        memcpy(prefix, c->secret, FS_AUTH_KEY_DISPLAY_LEN);
        prefix[FS_AUTH_KEY_DISPLAY_LEN] = '\0';
        json_object_set_new(item, "key_hash", json_string(hash));
        json_object_set_new(item, "prefix", json_string(prefix));
        fs_store_submit(w->store, item, on_admin_written, c);
        return;
    }
    case FS_ADMIN_STAFF_CREATE:
        fs_admin_password_new(c->secret);
        c->item = item;
        if (fs_admin_hasher_hash(w->hasher, c->secret, on_staff_hashed, c) != 0)
            admin_error(c, FS_OVERLOADED, "Too many passwords are being hashed; retry shortly.",
                        NULL);
        return;
    default:
        break;
    }
    if (fs_op_has(op, FS_OPF_PUBLISHES)) {
        creation_t *cr = calloc(1, sizeof(*cr));
        FS_ASSERT(cr != NULL);
        cr->req = c->req;
        snprintf(cr->payment_id, sizeof(cr->payment_id), "%s",
                 json_string_value(json_object_get(item, "id")));
        admin_free(c);
        fs_cache_submit(w->cache, item, on_created, cr, NULL);
        return;
    }
    if (fs_op_has(op, FS_OPF_FENCED)) {
        /* Answered once the account's cached copy is invalidated, as every
         * other write is (issue 13): a freeze is seen by the next read. */
        fs_lock_admin_submit(w->locks, item, on_admin_fenced, c);
        return;
    }
    if (op == FS_OP_DEAD_REPLAY) {
        struct evhttp_request *req = c->req;
        admin_free(c);
        fs_cache_submit(w->cache, item, on_replayed, req, NULL);
        return;
    }
    if (op == FS_OP_ADMIN_READ && w->replica != NULL) {
        /* The console's reads on the replica as the API's lists (issue
         * 14), with the actor's own writes read back from the primary. */
        read_t *rd = calloc(1, sizeof(*rd));
        FS_ASSERT(rd != NULL);
        rd->req = c->req;
        snprintf(rd->tenant, sizeof(rd->tenant), "actor:%s", c->actor.id);
        rd->w = w;
        rd->item = item;
        rd->done = on_admin_plain;
        rd->done_arg = c;
        rd->admin = true;
        read_route(w, rd);
        return;
    }
    /* Through the cache: a write is answered after its invalidations. */
    fs_cache_submit(w->cache, item,
                    op == FS_OP_ADMIN_WRITE    ? on_admin_written
                    : op == FS_OP_ADMIN_CANCEL ? on_admin_canceled
                    : op == FS_OP_ADMIN_REVIEW ? on_admin_reviewed
                                               : on_admin_plain,
                    c, NULL);
}

/* The actor is known: its limit, its role, the CSRF token, then the route. */
static void admin_run(admin_ctx_t *c)
{
    const fs_admin_route_t *route = &fs_admin_routes(&(size_t){0})[c->route];
    int retry = 0;
    evhttp_add_header(evhttp_request_get_input_headers(c->req), ACTOR_HEADER, c->actor.id);
    if (!fs_admin_limit(&c->w->admin_limiter, c->actor.id, fs_now_us() / 1000000u, &retry)) {
        char text[16];
        snprintf(text, sizeof(text), "%d", retry);
        evhttp_add_header(evhttp_request_get_output_headers(c->req), "Retry-After", text);
        admin_error(c, FS_RATE_LIMITED, "Too many admin requests from this user; slow down.", NULL);
        return;
    }
    if (!fs_admin_role_allows(c->actor.role, route->min_role)) {
        char msg[160];
        snprintf(msg, sizeof(msg), "This needs the role %s or above; you are %s.",
                 fs_admin_role_name(route->min_role), fs_admin_role_name(c->actor.role));
        admin_error(c, FS_FORBIDDEN, msg, NULL);
        return;
    }
    if (c->cookie && route->writes) {
        json_t *s = json_loads(c->session_json, 0, NULL);
        const char *want = json_string_value(json_object_get(s, "csrf_token"));
        const char *given =
            evhttp_find_header(evhttp_request_get_input_headers(c->req), "X-CSRF-Token");
        bool ok = want != NULL && given != NULL && fs_admin_equal(want, given);
        json_decref(s);
        if (!ok) {
            admin_error(c, FS_CSRF_FAILED,
                        "Send the session's csrf_token in the X-CSRF-Token header.", NULL);
            return;
        }
    }
    /* An admin key has no session to read or end (a logout would clear no
     * cookie and delete nothing). */
    if ((route->kind == FS_ADMIN_SESSION_GET || route->kind == FS_ADMIN_LOGOUT) && !c->cookie) {
        admin_error(c, FS_UNAUTHORIZED, "No session: an API key has none.", NULL);
        return;
    }
    if (route->kind == FS_ADMIN_SESSION_GET) {
        send_text(c->req, 200, c->session_json, strlen(c->session_json), false);
        admin_free(c);
        return;
    }
    if (route->kind == FS_ADMIN_STREAM) {
        fs_admin_credential_t cred = {.cookie = c->cookie};
        snprintf(cred.hash, sizeof(cred.hash), "%s", c->session_hash);
        fs_admin_stream_start(c->w->admin_stream, c->req, &cred);
        admin_free(c);
        return;
    }
    struct evbuffer *body = evhttp_request_get_input_buffer(c->req);
    size_t len = evbuffer_get_length(body);
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(c->req);
    json_t *item;
    fs_error_t err;
    if (!fs_admin_build(c->route, c->id, uri != NULL ? evhttp_uri_get_query(uri) : NULL,
                        len > 0 ? (const char *)evbuffer_pullup(body, -1) : NULL, len, &c->actor,
                        &item, &err)) {
        admin_error(c, err.outcome, err.message, err.param);
        return;
    }
    admin_execute(c, item);
}

static void on_admin_session(void *arg, const fs_store_result_t *r)
{
    admin_ctx_t *c = arg;
    json_t *p = strcmp(r->outcome, "ok") == 0 ? json_loads(r->payload, 0, NULL) : NULL;
    if (p == NULL) {
        admin_send(c, r);
        return;
    }
    if (c->cookie) {
        json_t *s = json_object_get(p, "staff");
        snprintf(c->actor.id, sizeof(c->actor.id), "%s",
                 json_string_value(json_object_get(s, "id")));
        snprintf(c->actor.email, sizeof(c->actor.email), "%s",
                 json_string_value(json_object_get(s, "email")));
        c->actor.role = fs_admin_role_parse(json_string_value(json_object_get(s, "role")));
        c->session_json = strdup(r->payload);
    } else {
        /* An operator key: the role its scope gives it (issue 13), not
         * every power because it is a key. */
        snprintf(c->actor.id, sizeof(c->actor.id), "%s",
                 json_string_value(json_object_get(p, "id")));
        c->actor.role = fs_admin_role_parse(json_string_value(json_object_get(p, "role")));
        c->actor.key = true;
    }
    json_decref(p);
    admin_run(c);
}

/* The item that authenticates an admin actor: a session by its token's
 * hash (it also extends the session's idle time), or an operator key by
 * its hash. */
static json_t *admin_auth_item(bool session, const char *hash, const fs_config_t *config)
{
    if (session)
        return json_pack("{s:s, s:s, s:i}", "op", fs_op_name(FS_OP_ADMIN_SESSION), "session", hash,
                         "idle_s", config->admin_session_idle_s);
    return json_pack("{s:s, s:s}", "op", fs_op_name(FS_OP_ADMIN_AUTH), "auth", hash);
}

static void admin_request(worker_t *w, struct evhttp_request *req, const fs_api_request_t *ar)
{
    admin_ctx_t *c = calloc(1, sizeof(*c));
    FS_ASSERT(c != NULL);
    c->w = w;
    c->req = req;
    const char *allow;
    fs_error_t err;
    c->route = fs_admin_match(ar->method, ar->path, c->id, &allow, &err);
    /* Counted under the admin table's template (after /v1's routes), or
     * "other" for a path or method it does not have. */
    count_request(req, c->route >= 0 ? FS_API_ROUTES_MAX + c->route : 0);
    if (c->route < 0) {
        send_rejection(req, &err, allow);
        admin_free(c);
        return;
    }
    char *addr = NULL;
    ev_uint16_t port = 0;
    evhttp_connection_get_peer(evhttp_request_get_connection(req), &addr, &port);
    int retry = 0;
    if (!fs_admin_limit(&w->admin_limiter, addr != NULL ? addr : "", fs_now_us() / 1000000u,
                        &retry)) {
        char text[16];
        snprintf(text, sizeof(text), "%d", retry);
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", text);
        admin_error(c, FS_RATE_LIMITED, "Too many admin requests from this address; slow down.",
                    NULL);
        return;
    }
    const fs_admin_route_t *route = &fs_admin_routes(&(size_t){0})[c->route];
    if (route->kind == FS_ADMIN_LOGIN) {
        admin_login(c, ar);
        return;
    }
    char token[FS_ADMIN_TOKEN_LEN + 8];
    const char *key = fs_auth_bearer(ar->authorization);
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    if (key == NULL &&
        fs_admin_cookie(evhttp_find_header(in, "Cookie"), ADMIN_COOKIE, token, sizeof(token))) {
        c->cookie = true;
        fs_admin_token_hash(token, c->session_hash);
        fs_store_submit(w->store, admin_auth_item(true, c->session_hash, w->config),
                        on_admin_session, c);
        return;
    }
    if (key == NULL) {
        admin_error(c, FS_UNAUTHORIZED,
                    "Log in (POST /admin/api/session) or send an admin API key as "
                    "'Authorization: Bearer <key>'.",
                    NULL);
        return;
    }
    _Static_assert(sizeof(c->session_hash) >= FS_AUTH_HASH_HEX_LEN + 1, "a key's hash fits");
    fs_auth_key_hash(key, c->session_hash);
    fs_store_submit(w->store, admin_auth_item(false, c->session_hash, w->config), on_admin_session,
                    c);
}

/* A live stream's credential, asked about again (fs_admin_stream_set_check):
 * the same item as its opening request's; only a refusal ends it (a store
 * that cannot answer does not). */
typedef struct {
    fs_admin_stream_t *st;
    uint64_t serial;
} stream_check_t;

static void on_stream_checked(void *arg, const fs_store_result_t *r)
{
    stream_check_t *k = arg;
    bool refused = strcmp(r->outcome, "unauthorized") == 0 || strcmp(r->outcome, "forbidden") == 0;
    fs_admin_stream_checked(k->st, k->serial, !refused);
    free(k);
}

static void stream_check(void *arg, fs_admin_stream_t *st, uint64_t serial,
                         const fs_admin_credential_t *cred)
{
    worker_t *w = arg;
    stream_check_t *k = malloc(sizeof(*k));
    FS_ASSERT(k != NULL);
    *k = (stream_check_t){.st = st, .serial = serial};
    fs_store_submit(w->store, admin_auth_item(cred->cookie, cred->hash, w->config),
                    on_stream_checked, k);
}

/* This loop's guard (src/http/guard.c), for the answers' callback. */
static _Thread_local fs_http_guard_t *loop_guard;

/* --- metrics ------------------------------------------------------------ */

/* Each route's series, found once (src/metrics): [route][method][class].
 * A route id below FS_API_ROUTES_MAX is /v1's (fs_api_route's route_id, 0
 * "other"); FS_API_ROUTES_MAX + i is the admin table's route i. */
enum { METHODS = 6, CLASSES = 5, ROUTE_IDS = FS_API_ROUTES_MAX + FS_ADMIN_ROUTES_MAX };
static const char *const method_names[METHODS] = {"GET",    "HEAD",  "POST",
                                                  "DELETE", "PATCH", "other"};
static _Atomic(fs_metric_series_t *) request_series[ROUTE_IDS][METHODS][CLASSES];
static _Atomic(fs_metric_series_t *) duration_series[ROUTE_IDS];

/* A route id's template: the label of its series. */
static const char *route_label(int route)
{
    if (route < FS_API_ROUTES_MAX) return fs_api_route_name(route);
    size_t count;
    const fs_admin_route_t *routes = fs_admin_routes(&count);
    size_t i = (size_t)(route - FS_API_ROUTES_MAX);
    return i < count ? routes[i].path : "other";
}

static int method_index(struct evhttp_request *req)
{
    switch (evhttp_request_get_command(req)) {
    case EVHTTP_REQ_GET:
        return 0;
    case EVHTTP_REQ_HEAD:
        return 1;
    case EVHTTP_REQ_POST:
        return 2;
    case EVHTTP_REQ_DELETE:
        return 3;
    case EVHTTP_REQ_PATCH:
        return 4;
    default:
        return 5;
    }
}

/* The answer is sent: counted under its route's template. The route and the
 * time of arrival travel in the callback's argument, so nothing is
 * allocated (a request whose connection drops before its answer is not
 * counted). */
static void on_answered(struct evhttp_request *req, void *arg)
{
    /* The connection waits for its next request (src/http/guard.c). */
    if (loop_guard != NULL) fs_http_guard_answered(loop_guard, req);
    if (!fs_metrics_enabled()) return;
    uintptr_t packed = (uintptr_t)arg;
    int route = (int)(packed % ROUTE_IDS);
    uint64_t start_us = (uint64_t)(packed / ROUTE_IDS);
    int status = evhttp_request_get_response_code(req);
    int cls = status < 200 ? 0 : status >= 500 ? 4 : status / 100 - 1;
    int m = method_index(req);
    fs_metric_series_t *s =
        atomic_load_explicit(&request_series[route][m][cls], memory_order_relaxed);
    if (s == NULL) {
        s = fs_metrics_series(FS_M_HTTP_REQUESTS, route_label(route), method_names[m],
                              fs_metrics_status_class(status));
        atomic_store_explicit(&request_series[route][m][cls], s, memory_order_relaxed);
    }
    fs_metrics_series_add(s, 1);
    fs_metric_series_t *d = atomic_load_explicit(&duration_series[route], memory_order_relaxed);
    if (d == NULL) {
        d = fs_metrics_series(FS_M_HTTP_DURATION, route_label(route), NULL, NULL);
        atomic_store_explicit(&duration_series[route], d, memory_order_relaxed);
    }
    fs_metrics_series_observe(d, (double)(fs_now_us() - start_us) / 1e6);
}

static void count_request(struct evhttp_request *req, int route_id)
{
    FS_ASSERT(route_id >= 0 && route_id < ROUTE_IDS);
    uintptr_t packed = (uintptr_t)fs_now_us() * ROUTE_IDS + (uintptr_t)route_id;
    evhttp_request_set_on_complete_cb(req, on_answered, (void *)packed);
}

/* GET /metrics: the readiness of what this process depends on, then the
 * whole exposition. */
static void send_metrics(worker_t *w, struct evhttp_request *req)
{
    fs_metrics_set(FS_M_READINESS, "database", fs_store_connected() ? 1 : 0);
    if (w->redis != NULL) fs_metrics_set(FS_M_READINESS, "redis", fs_redis_connected(w->redis));
    if (w->config->nats_url[0] != '\0')
        fs_metrics_set(FS_M_READINESS, "nats", queue != NULL && fs_queue_connected(queue));
    size_t len = 0;
    char *text = fs_metrics_render(&len);
    if (text == NULL) {
        send_error(req, FS_INTERNAL, "Out of memory.", NULL, false);
        return;
    }
    send_typed(req, 200, FS_METRICS_CONTENT_TYPE, text, len);
    free(text);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    worker_t *w = arg;
    /* Whole: its read deadlines stop. A body refused from its
     * Content-Length before it was read is answered below. */
    uint64_t refused = fs_http_guard_request(w->guard, req);
    count_request(req, 0);
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    struct evbuffer *body = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(body);
    const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;

    char start[24];
    snprintf(start, sizeof(start), "%llu", (unsigned long long)fs_now_us());
    evhttp_remove_header(in, START_HEADER);
    evhttp_add_header(in, START_HEADER, start);
    while (evhttp_remove_header(in, TENANT_HEADER) == 0) {
    }
    while (evhttp_remove_header(in, ACTOR_HEADER) == 0) {
    }
    set_request_id(req);
    if (refused != 0) {
        /* Its body was never read (the connection closes after the answer,
         * reading what the client still sends for a moment). */
        evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
        char msg[160];
        snprintf(msg, sizeof(msg),
                 "The body may be at most %d bytes; this request's Content-Length is %llu.",
                 FS_BODY_MAX_BYTES, (unsigned long long)refused);
        send_error(req, FS_REQUEST_TOO_LARGE, msg, "body", false);
        return;
    }
    if (w->draining) {
        /* Stopping: what arrives now on an open connection is refused, so the
         * store empties; the client retries elsewhere or after the restart. */
        evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
        fs_error_t err;
        fs_fail(&err, FS_UNAVAILABLE, NULL, "FinSys is stopping; retry shortly.");
        send_error(req, err.outcome, err.message, err.param, false);
        return;
    }
    /* The admin console's static files (src/admin): /admin/ but not /admin/api/. */
    if (fs_admin_static_handle(admin_static, req, path)) return;
    fs_api_request_t ar = {
        .method = method_of(req),
        .path = path != NULL && *path != '\0' ? path : "/",
        .query = uri != NULL ? evhttp_uri_get_query(uri) : NULL,
        .body = len > 0 ? (const char *)evbuffer_pullup(body, -1) : NULL,
        .body_len = len,
        .authorization = evhttp_find_header(in, "Authorization"),
        .idempotency_key = evhttp_find_header(in, "Idempotency-Key"),
        .webhook_allowed = &w->config->webhook_allowed,
        .secrets_key = w->config->secrets_key_set ? w->config->secrets_key : NULL,
    };
    if (fs_admin_is_admin_path(ar.path)) {
        admin_request(w, req, &ar);
        return;
    }
    fs_api_result_t res;
    fs_api_route(&ar, &res);
    count_request(req, res.route_id);
    if (reads_busy(w, req, &res)) return;
    if (rate_limited(w, req, ar.path, &res)) return;
    dispatch(w, req, res, NULL, false);
}

/* What fs_api_route() decided, once the rate limits let the request in.
 * looked: the item's replay entry as the rate limit's script read it (see
 * fs_cache_submit), or NULL when it was not asked to. plain_key: the rate
 * limit's check knows the key as live and not an admin's, so src/cache may
 * answer an account read from Redis; otherwise the store answers it (401
 * for an unknown or revoked key, 403 admin_key_scope for an admin key),
 * whatever Redis still holds for that key. */
static void dispatch(worker_t *w, struct evhttp_request *req, fs_api_result_t res,
                     const fs_cache_replay_t *looked, bool plain_key)
{
    switch (res.action) {
    case FS_API_REJECT:
        if (res.auth[0] != '\0') {
            rejection_t *rej = malloc(sizeof(*rej));
            FS_ASSERT(rej != NULL);
            *rej = (rejection_t){.req = req, .err = res.err, .allow = res.allow};
            if (res.err.param != NULL) {
                snprintf(rej->param, sizeof(rej->param), "%s", res.err.param);
                rej->err.param = rej->param;
            }
            fs_store_submit(w->store,
                            json_pack("{s:s, s:s}", "op", fs_op_name(FS_OP_AUTH), "auth", res.auth),
                            on_key_checked, rej);
            return;
        }
        send_rejection(req, &res.err, res.allow);
        return;
    case FS_API_HEALTH: {
        static const char ok[] = "{\"status\":\"ok\"}";
        send_text(req, 200, ok, sizeof(ok) - 1, false);
        return;
    }
    case FS_API_READY:
        fs_health_ready(w->base, w->store, w->redis, queue, w->config->nats_url[0] != '\0',
                        on_ready, req);
        return;
    case FS_API_METRICS:
        send_metrics(w, req);
        return;
    case FS_API_STORE: {
        /* The request's id goes with the item: the events it writes keep it,
         * and webhook deliveries carry it (it is not fingerprinted). */
        char rid[REQUEST_ID_LEN_MAX + 1];
        request_id_of(req, rid);
        json_object_set_new(res.item, "rid", json_string(rid));
        /* What is done with it is the op's (src/op); whether it runs
         * alone or in a group, the store reads from the same table. */
        fs_op_t op = fs_op_of(res.item);
        FS_ASSERT(op != FS_OP__COUNT && !fs_op_has(op, FS_OPF_INTERNAL));
        if (fs_op_has(op, FS_OPF_READ | FS_OPF_SOLO)) {
            read_submit(w, req, res.route_id, res.item,
                        evhttp_find_header(evhttp_request_get_input_headers(req),
                                           TENANT_HEADER),
                        res.auth);
            return;
        }
        /* A refund is published as a payment is, under its own id: the
         * worker tells them apart by the id's prefix. */
        if (fs_op_has(op, FS_OPF_PUBLISHES)) {
            creation_t *cr = malloc(sizeof(*cr));
            FS_ASSERT(cr != NULL);
            cr->req = req;
            snprintf(cr->payment_id, sizeof(cr->payment_id), "%s",
                     json_string_value(json_object_get(res.item, "id")));
            cr->payment = op == FS_OP_PAYMENT_CREATE;
            const char *currency = json_string_value(json_object_get(res.item, "currency"));
            snprintf(cr->currency, sizeof(cr->currency), "%s", currency != NULL ? currency : "");
            cr->amount = json_integer_value(json_object_get(res.item, "amount"));
            fs_cache_submit(w->cache, res.item, on_created, cr, looked);
            return;
        }
        /* fs_api_route makes no admin op (FS_OPF_ADMIN, FS_OPF_FENCED): the
         * admin API is src/admin's (admin_execute below). */
        FS_ASSERT(!fs_op_has(op, FS_OPF_FENCED));
        switch (op) {
        case FS_OP_RECEIPT_GET: {
            receipt_read_t *rd = calloc(1, sizeof(*rd));
            FS_ASSERT(rd != NULL);
            rd->req = req;
            rd->io = w->objects_io;
            fs_store_submit(w->store, res.item, on_receipt_row, rd);
            return;
        }
        case FS_OP_EXPORT_DOWNLOAD: {
            export_read_t *rd = calloc(1, sizeof(*rd));
            FS_ASSERT(rd != NULL);
            rd->req = req;
            rd->io = w->objects_io;
            fs_store_submit(w->store, res.item, on_export_row, rd);
            return;
        }
        case FS_OP_PAYMENT_CANCEL:
            fs_cache_submit(w->cache, res.item, on_canceled, req, looked);
            return;
        case FS_OP_WEBHOOK_ENDPOINT_CREATE: {
            endpoint_creation_t *ec = calloc(1, sizeof(*ec));
            FS_ASSERT(ec != NULL);
            ec->req = req;
            const char *secret = json_string_value(json_object_get(res.item, "secret"));
            snprintf(ec->secret, sizeof(ec->secret), "%s", secret != NULL ? secret : "");
            json_object_del(res.item, "secret");
            fs_cache_submit(w->cache, res.item, on_endpoint_created, ec, looked);
            return;
        }
        case FS_OP_PAYMENT_REVIEW:
            fs_cache_submit(w->cache, res.item, on_reviewed, req, looked);
            return;
        case FS_OP_ACCOUNT_GET:
            if (!plain_key) {
                fs_store_submit(w->store, res.item, on_result, req);
                return;
            }
            fs_cache_submit(w->cache, res.item, on_result, req, looked);
            return;
        default:
            fs_cache_submit(w->cache, res.item, on_result, req, looked);
            return;
        }
    }
    }
}

static void on_purge_timer(evutil_socket_t fd, short what, void *arg)
{
    worker_t *w = arg;
    (void)fd;
    (void)what;
    /* Under the Redis lock job:purge, fenced; PostgreSQL's advisory lock
     * when Redis is unavailable (src/lock). */
    fs_lock_purge(w->locks, w->config->idempotency_ttl_hours, FS_IDEMPOTENCY_PURGE_ROWS_MAX);
}

static int bind_worker(worker_t *w)
{
    const fs_config_t *c = w->config;
    char addr_text[128];
    struct sockaddr_storage ss;
    int ss_len = sizeof(ss);
    snprintf(addr_text, sizeof(addr_text), strchr(c->http_host, ':') ? "[%s]:%d" : "%s:%d",
             c->http_host, c->http_port);
    if (evutil_parse_sockaddr_port(addr_text, (struct sockaddr *)&ss, &ss_len) != 0) {
        fs_log(FS_LOG_ERROR, "http", "FINSYS_HTTP_HOST is not an IP address: %s", c->http_host);
        return -1;
    }
    w->listener = evconnlistener_new_bind(
        w->base, NULL, NULL, LEV_OPT_REUSEABLE | LEV_OPT_REUSEABLE_PORT | LEV_OPT_CLOSE_ON_FREE,
        1024, (struct sockaddr *)&ss, ss_len);
    if (w->listener == NULL) {
        fs_log(FS_LOG_ERROR, "http", "cannot listen on %s: %s", addr_text, strerror(errno));
        return -1;
    }
    w->http = evhttp_new(w->base);
    fs_http_guard_config_t gc = {.conns_max = c->http_conns_max,
                                 .conns_per_addr_max = c->http_conns_per_addr_max,
                                 .header_timeout_ms = c->http_header_timeout_ms,
                                 .body_timeout_ms = c->http_body_timeout_ms,
                                 .body_max = FS_BODY_MAX_BYTES};
    w->guard = fs_http_guard_new(w->base, w->http, &gc);
    evhttp_set_max_body_size(w->http, FS_BODY_TRANSPORT_MAX_BYTES);
    evhttp_set_max_headers_size(w->http, FS_HEADERS_MAX_BYTES);
    evhttp_set_timeout(w->http, FS_HTTP_TIMEOUT_S);
    evhttp_set_allowed_methods(w->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH |
                                            EVHTTP_REQ_OPTIONS);
    evhttp_set_gencb(w->http, on_request, w);
    w->bound = evhttp_bind_listener(w->http, w->listener);
    if (w->bound == NULL) return -1;
    fs_http_guard_listen(w->guard, w->bound);
    w->listener = NULL; /* evhttp owns it now */
    return 0;
}

/* A graceful stop: accept nothing new, let what the store holds be answered,
 * then leave the loop (after FS_HTTP_DRAIN_MS at the latest). */
static void on_drain(evutil_socket_t fd, short what, void *arg)
{
    worker_t *w = arg;
    (void)fd;
    (void)what;
    if (!w->draining) {
        w->draining = true;
        fs_http_guard_unlisten(w->guard);
        evhttp_del_accept_socket(w->http, w->bound);
        w->bound = NULL;
        if (w->purge_ev != NULL) event_del(w->purge_ev);
        fs_admin_stream_close_all(w->admin_stream); /* each client gets its end */
        while (w->held_count > 0) send_held(w->held[0]);
        w->drain_deadline_us = fs_now_us() + FS_HTTP_DRAIN_MS * 1000u;
    }
    if ((fs_store_idle(w->store) && fs_store_idle(w->reads) &&
         (w->replica == NULL || fs_store_idle(w->replica)) && fs_objects_io_idle(w->objects_io) &&
         fs_lock_guard_idle(w->locks) && fs_ratelimit_idle(w->ratelimit) &&
         fs_cache_idle(w->cache) && fs_admin_hasher_idle(w->hasher)) ||
        fs_now_us() >= w->drain_deadline_us) {
        /* A moment for the last replies to leave their buffers. */
        struct timeval flush = {0, 100 * 1000};
        event_base_loopexit(w->base, &flush);
        return;
    }
    struct timeval again = {0, 10 * 1000};
    event_add(w->drain_ev, &again);
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    loop_guard = w->guard;
    loop_worker = w;
    event_base_dispatch(w->base);
    return NULL;
}

int fs_http_serve(const fs_config_t *config)
{
    int n = config->http_threads;
    worker_t *workers = calloc((size_t)n, sizeof(worker_t));
    FS_ASSERT(workers != NULL);
    fs_store_config_t sc = {.conninfo = config->database_url,
                            .batch_items = config->batch_items,
                            .batch_wait_us = config->batch_wait_us,
                            .connections = config->db_connections};
    /* The lists' and searches' (issue 13): alone each, read only, a short
     * timeout and queue, few connections. */
    fs_store_config_t rsc = {.conninfo = config->database_url,
                             .batch_items = 1,
                             .batch_wait_us = 0,
                             .connections = FS_READ_CONNECTIONS,
                             .read_only = true,
                             .statement_timeout_ms = FS_READ_STATEMENT_TIMEOUT_MS,
                             .queue_max = FS_READ_QUEUE_MAX};
    /* The same on the replica (issue 14), through fs_read_at(). */
    fs_store_config_t rrc = rsc;
    rrc.conninfo = config->database_read_url;
    rrc.replica = true;
    bool replica = config->database_read_url[0] != '\0';

    char objects_err[256];
    objects = fs_objects_open(config->objects_dir, config->objects_url, objects_err,
                              sizeof(objects_err));
    if (objects == NULL) {
        fs_log(FS_LOG_ERROR, "http", "%s", objects_err);
        free(workers);
        return 1;
    }

    /* Only the main thread takes SIGINT and SIGTERM, through sigwait. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGHUP); /* the log level again (docs/operations.md) */
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    fs_metrics_init(config->metrics != 0);
    fs_http_raise_nofile(config->http_conns_max);
    int rc = 0, started = 0;
    if (config->nats_url[0] != '\0') {
        char err[256];
        /* A broker that does not answer yet is tried again and again (the
         * queue connects later, /readyz says not ready until then); NULL
         * only for a broker that answers but cannot hold the streams, or a
         * URL libnats refuses. */
        queue = fs_queue_open_replicated(config->nats_url, config->nats_replicas, err, sizeof(err));
        if (queue == NULL) {
            fs_log(FS_LOG_ERROR, "http",
                   "no queue at %s (%s): payments wait for the worker's sweeper", config->nats_url,
                   err);
        }
    }
    /* --- the admin console (src/admin): files from FINSYS_WEB_DIR, the stream's hub --- */
    char web_dir[4096];
    fs_admin_static_dir(web_dir, sizeof(web_dir));
    admin_static = fs_admin_static_open(web_dir);
    admin_hub = fs_admin_hub_new(queue);
    /* --- */
    for (int i = 0; i < n; i++) {
        worker_t *w = &workers[i];
        w->index = i;
        w->config = config;
        w->base = event_base_new();
        FS_ASSERT(w->base != NULL);
        if (bind_worker(w) != 0) {
            rc = 1;
            break;
        }
        w->store = fs_store_new(w->base, &sc);
        w->reads = fs_store_new(w->base, &rsc);
        if (replica) w->replica = fs_store_new(w->base, &rrc);
        if (config->redis_url[0] != '\0')
            w->redis = fs_redis_new(w->base, config->redis_url, config->redis_timeout_ms);
        w->locks = fs_lock_guard_new(w->base, w->redis, w->store);
        fs_ratelimit_config_t rc = {.key = {config->rate_per_s, config->rate_burst},
                                    .addr = {config->rate_addr_per_s, config->rate_addr_burst}};
        w->ratelimit = fs_ratelimit_new(w->redis, w->store, &rc);
        w->cache = fs_cache_new(w->base, w->redis, w->store, config->idempotency_ttl_hours * 3600);
        w->objects_io = fs_objects_io_new(w->base, objects);
        w->hasher = fs_admin_hasher_new(w->base);
        w->drain_ev = evtimer_new(w->base, on_drain, w);
        w->admin_stream = fs_admin_stream_new(admin_hub, w->base);
        fs_admin_stream_set_check(w->admin_stream, stream_check, w);
        if (i == 0) {
            w->purge_ev = event_new(w->base, -1, EV_PERSIST, on_purge_timer, w);
            struct timeval tv = {config->purge_interval_s, 0};
            event_add(w->purge_ev, &tv);
        }
    }
    if (rc == 0 && replica) {
        /* Without its samples every read goes to the primary: never wrong. */
        if (fs_replica_start(config->database_url))
            fs_log(FS_LOG_INFO, "replica",
                   "lists and searches read FINSYS_DATABASE_READ_URL when it has replayed "
                   "every write older than %d ms and the tenant's own",
                   FS_READ_REPLICA_LAG_MAX_MS);
    }
    if (rc == 0) {
        for (int i = 0; i < n; i++) {
            if (!fs_thread_start(&workers[i].thread, worker_main, &workers[i], "http",
                                 "an HTTP worker's thread")) {
                rc = 1;
                break;
            }
            started++;
        }
    }
    if (rc == 0) {
        fs_log(FS_LOG_INFO, "http", "listening on %s:%d with %d threads", config->http_host,
               config->http_port, n);
        int sig;
        while (sigwait(&stop, &sig) == 0 && sig == SIGHUP) fs_log_reload(config->log_level_file);
        fs_log(FS_LOG_INFO, "http", "signal %d: stopping", sig);
    }
    for (int i = 0; i < started; i++) event_active(workers[i].drain_ev, EV_TIMEOUT, 0);
    for (int i = 0; i < started; i++) pthread_join(workers[i].thread, NULL);
    for (int i = 0; i < n; i++) {
        worker_t *w = &workers[i];
        if (w->base == NULL) continue;
        if (w->purge_ev != NULL) event_free(w->purge_ev);
        if (w->drain_ev != NULL) event_free(w->drain_ev);
        /* The store first: it answers what it still holds while the
         * requests are alive; evhttp_free then frees them. */
        if (w->locks != NULL) fs_lock_guard_close(w->locks);
        fs_cache_close(w->cache);
        fs_ratelimit_free(w->ratelimit); /* its checks end as these answer them */
        fs_store_free(w->store);
        w->closing = true; /* the replica's reads answered where they are */
        if (w->replica != NULL) fs_store_free(w->replica);
        fs_store_free(w->reads);
        fs_redis_free(w->redis);
        if (w->locks != NULL) fs_lock_guard_free(w->locks);
        fs_cache_free(w->cache); /* answers what waited for Redis */
        fs_objects_io_free(w->objects_io);
        fs_admin_hasher_free(w->hasher);
        fs_admin_stream_free(w->admin_stream);
        if (w->http != NULL) evhttp_free(w->http);
        fs_http_guard_free(w->guard); /* after evhttp_free: its connections are closed */
        if (w->listener != NULL) evconnlistener_free(w->listener);
        event_base_free(w->base);
    }
    free(workers);
    fs_replica_stop();
    fs_admin_hub_free(admin_hub); /* before the queue: it unsubscribes */
    admin_hub = NULL;
    fs_admin_static_close(admin_static);
    admin_static = NULL;
    if (queue != NULL) fs_queue_close(queue);
    queue = NULL;
    fs_objects_close(objects);
    objects = NULL;
    return rc;
}
