/*
 * worker.c: the settlement worker (see worker.h).
 *
 * Ownership: a job (one message, one payment) is made by the fetch thread,
 * owned by the loop from the moment it is handed over, and freed by
 * job_done() once its message is acknowledged or put back, or by the fetch
 * thread after it moved the message to the dead letters. `inflight` counts
 * jobs that exist; the fetch thread fetches only while it is below
 * FINSYS_WORKER_INFLIGHT.
 */
#define _GNU_SOURCE
#include "worker.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../admin/admin.h"
#include "../archive/archive.h"
#include "../cache/cache.h"
#include "../metrics/metrics.h"
#include "../objects/objects.h"
#include "../notify/notify.h"
#include "../op/op.h"
#include "../queue/queue.h"
#include "../health/health.h"
#include "../redis/redis.h"
#include "../search/search.h"
#include "../report/report.h"
#include "../receipt/receipt.h"
#include "../recon/recon.h"
#include "../export/export.h"
#include "../store/store.h"
#include "../transaction/transaction.h"
#include "breaker.h"

typedef struct worker worker_t;

/* A job's log line carries its payment's request id (from the message), so
 * a payment can be followed from the API call through the worker. */
#define job_log(job, ...)                                                                          \
    do {                                                                                           \
        fs_log_set_request_id((job)->request_id);                                                  \
        fs_log(__VA_ARGS__);                                                                       \
        fs_log_set_request_id(NULL);                                                               \
    } while (0)

typedef struct job {
    struct job *next;            /* in a hand-off list */
    struct job *all_prev, *all_next; /* in the loop's list of live jobs */
    worker_t *w;
    fs_queue_msg_t *msg;
    char payment_id[FS_ID_LEN_MAX + 1]; /* or a refund's id */
    bool refund; /* a refund ("re_..."): the refund_* ops and POST /refunds */
    char request_id[FS_ID_LEN_MAX * 2 + 1];
    int deliveries; /* the broker's count, for the back-off */
    int attempts;   /* calls to the provider so far (from settle_claim) */
    /* What the claim says the provider is asked for; every answer is
     * checked against it (fs_worker_answer_matches). */
    int64_t amount;
    char currency[4];
    char refunded[FS_ID_LEN_MAX + 1]; /* a refund's payment; "" for a payment */
    char dead_reason[128];
    uint64_t sent_us; /* the provider call's, for its metrics */
} job_t;

struct worker {
    const fs_config_t *config;
    struct event_base *base;
    fs_store_t *store;
    fs_store_t *readers; /* the event log's readers' own (FS_WORKER_READER_CONNECTIONS) */
    fs_redis_t *redis;   /* the loop's connection to Redis; NULL when none is configured */
    fs_cache_t *cache;   /* invalidates the accounts settlement changes (src/cache) */
    fs_indexer_t *indexer; /* the search indexer, on the loop */
    fs_rollups_t *rollups; /* the daily rollups' reader (src/report), on the loop */
    fs_queue_t *queue;
    fs_breaker_t breaker;
    /* --- the admin console's live stream (src/admin): the breaker's state
     * as last published on fs.live.status --- */
    struct event *live_ev;
    fs_admin_live_watch_t *live_watch; /* whether a server has a console watching */
    uint64_t live_transitions, live_since_us, live_published_us;
    struct evhttp_connection *provider[FS_WORKER_PROVIDER_CONNECTIONS];
    int next_provider;
    char provider_host[256];

    pthread_mutex_t mu; /* guards what the fetch thread shares: */
    pthread_cond_t cv;
    job_t *incoming, *incoming_tail; /* fetched, not yet taken by the loop */
    job_t *dead, *dead_tail;         /* to move to the dead letters */
    int inflight;
    bool stopping;

    job_t *all; /* loop thread only */
    struct evhttp *http; /* /healthz and /state on FINSYS_WORKER_PORT */
    uint64_t succeeded, failed, retried, dead_lettered; /* loop thread only */
    struct event *incoming_ev;
    struct event *sweep_ev;
    /* The sweep in progress (loop thread only): page after page from the
     * cursors, the last (created_at, id) taken of each kind (NULL: from the
     * oldest), kept across ticks until a sweep drains the outbox. */
    struct {
        bool running;
        bool p_done, r_done; /* the kind is drained in this pass */
        json_t *p_after, *r_after;
        int pages;
        uint64_t start_us;
        size_t payments, refunds, published;
    } sweep;
    pthread_t fetcher;
    fs_objects_t *objects;          /* FINSYS_OBJECTS_DIR */
    fs_receipt_driver_t *receipts; /* makes receipts on the loop */
    fs_export_runner_t *exports;   /* makes exports' CSVs, on a thread of its own */
};

/* --- jobs ------------------------------------------------------------- */

static void job_forget(job_t *job)
{
    worker_t *w = job->w;
    if (job->all_prev != NULL) job->all_prev->all_next = job->all_next;
    if (job->all_next != NULL) job->all_next->all_prev = job->all_prev;
    if (w->all == job) w->all = job->all_next;
}

/* The message was acknowledged or put back: the job is over. */
static void job_done(job_t *job)
{
    worker_t *w = job->w;
    job_forget(job);
    fs_queue_msg_free(job->msg);
    free(job);
    pthread_mutex_lock(&w->mu);
    w->inflight--;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void ack(job_t *job)
{
    if (fs_queue_msg_ack(job->msg) != 0) {
        job_log(job, FS_LOG_WARN, "worker", "ack of %s failed; it will be redelivered",
               job->payment_id);
    }
    job_done(job);
}

/* The payment is marked dead-lettered (or the mark failed: the message is
 * moved all the same, and the sweeper may publish it again later). */
static void on_marked_dead(void *arg, const fs_store_result_t *r)
{
    job_t *job = arg;
    worker_t *w = job->w;
    if (strcmp(r->outcome, "ok") != 0) {
        job_log(job, FS_LOG_WARN, "worker", "payment %s not marked dead-lettered: %s",
               job->payment_id, r->outcome);
    }
    job_forget(job);
    pthread_mutex_lock(&w->mu);
    if (w->dead_tail != NULL) {
        w->dead_tail->next = job;
    } else {
        w->dead = job;
    }
    w->dead_tail = job;
    job->next = NULL;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* A transient failure: put the message back with back-off, or, after the
 * last attempt at the provider, send it to the dead letters (its payment
 * stays processing). Only failed provider calls count (`counted`): the
 * breaker open or the database away never use up a payment's attempts. */
static void retry_as(job_t *job, const char *why, bool counted)
{
    worker_t *w = job->w;
    const fs_config_t *c = w->config;
    if (counted && job->attempts >= c->worker_max_attempts) {
        snprintf(job->dead_reason, sizeof(job->dead_reason), "%d attempts; last: %s",
                 job->deliveries, why);
        job_log(job, FS_LOG_ERROR, "worker", "payment %s to the dead letters (%s), request %s",
               job->payment_id, job->dead_reason, job->request_id);
        w->dead_lettered++;
        /* Marked in the database first, so the sweeper leaves it alone; then
         * the fetch thread moves the message. */
        fs_store_submit(w->store,
                        json_pack("{s:s, s:s}", "op",
                                  fs_op_name(job->refund ? FS_OP_REFUND_DEAD : FS_OP_SETTLE_DEAD),
                                  job->refund ? "refund" : "payment", job->payment_id),
                        on_marked_dead, job);
        return;
    }
    int attempt = counted ? job->attempts : job->deliveries;
    uint64_t delay = fs_backoff_ms(attempt > 0 ? attempt - 1 : 0, (uint64_t)c->retry_base_ms,
                                   (uint64_t)c->retry_cap_ms, randombytes_random());
    w->retried++;
    job_log(job, FS_LOG_INFO, "worker", "payment %s retried in %llu ms (attempt %d: %s)",
           job->payment_id, (unsigned long long)delay, job->deliveries, why);
    if (fs_queue_msg_nak(job->msg, (int64_t)delay) != 0) {
        job_log(job, FS_LOG_WARN, "worker", "nak of %s failed; it will be redelivered",
               job->payment_id);
    }
    job_done(job);
}

/* A failed call to the provider: it counts. */
static void retry(job_t *job, const char *why) { retry_as(job, why, true); }

/* Anything else that puts the message back: it does not count. */
static void put_back(job_t *job, const char *why) { retry_as(job, why, false); }

/* --- step 3: finalize -------------------------------------------------- */

/* A payment final now: finsys_payments_{succeeded,failed,canceled}_total. */
static void count_settled(json_t *payment, const char *status)
{
    const char *currency = json_string_value(json_object_get(payment, "currency"));
    if (currency == NULL) return;
    if (strcmp(status, "succeeded") == 0) {
        fs_metrics_add(FS_M_PAYMENTS_SUCCEEDED, currency, NULL, NULL, 1);
        json_int_t amount = json_integer_value(json_object_get(payment, "amount"));
        if (amount > 0)
            fs_metrics_add(FS_M_PAYMENTS_AMOUNT, currency, "succeeded", NULL, (uint64_t)amount);
    } else if (strcmp(status, "failed") == 0) {
        fs_metrics_add(FS_M_PAYMENTS_FAILED, currency, NULL, NULL, 1);
    }
}

static void on_finished(void *arg, const fs_store_result_t *r)
{
    job_t *job = arg;
    if (strcmp(r->outcome, "ok") != 0) {
        put_back(job, r->outcome);
        return;
    }
    json_t *p = json_loads(r->payload, 0, NULL);
    const char *status = json_string_value(json_object_get(p, "status"));
    bool final = status != NULL && (strcmp(status, "succeeded") == 0
                                    || strcmp(status, "failed") == 0
                                    || strcmp(status, "canceled") == 0);
    if (final) {
        job_log(job, FS_LOG_DEBUG, "worker", "payment %s %s", job->payment_id, status);
        if (strcmp(status, "succeeded") == 0) job->w->succeeded++;
        if (strcmp(status, "failed") == 0) job->w->failed++;
        if (!job->refund) count_settled(p, status);
        json_decref(p);
        ack(job);
        return;
    }
    json_decref(p);
    put_back(job, "not finalized");
}

static void finish(job_t *job, bool approved, const char *decline_code,
                   const char *decline_message)
{
    fs_queue_msg_in_progress(job->msg); /* the ack wait starts again */
    json_t *item = json_pack("{s:s, s:s, s:s}", "op",
                             fs_op_name(job->refund ? FS_OP_REFUND_FINISH : FS_OP_SETTLE_FINISH),
                             job->refund ? "refund" : "payment", job->payment_id, "result",
                             approved ? "approved" : "declined");
    /* The API request behind the payment: its events carry it to webhooks. */
    if (job->request_id[0] != '\0') json_object_set_new(item, "rid", json_string(job->request_id));
    if (decline_code != NULL) json_object_set_new(item, "decline_code", json_string(decline_code));
    if (decline_message != NULL) {
        json_object_set_new(item, "decline_message", json_string(decline_message));
    }
    fs_store_submit(job->w->store, item, on_finished, job);
}

/* --- step 2: the provider --------------------------------------------- */

/* finsys_provider_requests_total{outcome} and the call's duration. The
 * outcome of a 200 is read from its body; no answer within the timeout is
 * "timeout", one that broke sooner "error"; a 4xx that retrying cannot help
 * "refused". */
static void count_provider_call(job_t *job, struct evhttp_request *req, int code, uint64_t now)
{
    if (!fs_metrics_enabled()) return;
    double took_s = (double)(now - job->sent_us) / 1e6;
    fs_metrics_observe(FS_M_PROVIDER_DURATION, NULL, took_s);
    const char *outcome = "error";
    if (code == 200) {
        struct evbuffer *in = evhttp_request_get_input_buffer(req);
        const char *body = (const char *)evbuffer_pullup(in, -1);
        size_t len = evbuffer_get_length(in);
        if (body != NULL && memmem(body, len, "\"approved\"", 10) != NULL) outcome = "approved";
        if (body != NULL && memmem(body, len, "\"declined\"", 10) != NULL) outcome = "declined";
    } else if (code >= 400 && code < 500 && code != 408 && code != 429) {
        outcome = "refused";
    } else if (code == 0 && took_s * 1000 >= job->w->config->provider_timeout_ms * 0.9) {
        outcome = "timeout";
    }
    fs_metrics_add(FS_M_PROVIDER_REQUESTS, outcome, NULL, NULL, 1);
}

bool fs_worker_answer_matches(const json_t *answer, const char *key, int64_t amount,
                              const char *currency, char *why, size_t why_len)
{
    const char *k = json_string_value(json_object_get(answer, "idempotency_key"));
    const json_t *a = json_object_get(answer, "amount");
    const char *c = json_string_value(json_object_get(answer, "currency"));
    if (k == NULL || strcmp(k, key) != 0) {
        snprintf(why, why_len, "the provider's answer does not match: key %.40s, not %.40s",
                 k != NULL ? k : "(none)", key);
        return false;
    }
    if (!json_is_integer(a) || json_integer_value(a) != amount) {
        snprintf(why, why_len, "the provider's answer does not match: amount %lld, not %lld",
                 json_is_integer(a) ? (long long)json_integer_value(a) : -1LL, (long long)amount);
        return false;
    }
    if (c == NULL || strcmp(c, currency) != 0) {
        snprintf(why, why_len, "the provider's answer does not match: currency %.8s, not %s",
                 c != NULL ? c : "(none)", currency);
        return false;
    }
    return true;
}

/* A charge or refund as the provider holds it (a POST's answer, or a
 * lookup's record): final when it is this job's and has a status. One that
 * is another's (key, amount or currency) is not taken: its payment goes to
 * the dead letters, where a human looks (retrying cannot make it match). */
static void take_answer(job_t *job, const json_t *body, uint64_t now)
{
    worker_t *w = job->w;
    char why[sizeof(job->dead_reason)];
    const char *status = json_string_value(json_object_get(body, "status"));
    if (status == NULL || (strcmp(status, "approved") != 0 && strcmp(status, "declined") != 0)) {
        fs_breaker_record(&w->breaker, false, now);
        retry(job, "provider answered without a status");
        return;
    }
    /* It answered: it is up. */
    fs_breaker_record(&w->breaker, true, now);
    if (!fs_worker_answer_matches(body, job->payment_id, job->amount, job->currency, why,
                                  sizeof(why))) {
        job_log(job, FS_LOG_ERROR, "worker", "payment %s: %s", job->payment_id, why);
        job->attempts = w->config->worker_max_attempts;
        retry(job, why);
        return;
    }
    if (strcmp(status, "approved") == 0) {
        finish(job, true, NULL, NULL);
    } else {
        finish(job, false, json_string_value(json_object_get(body, "decline_code")),
               json_string_value(json_object_get(body, "decline_message")));
    }
}

/* No useful answer (code 0: none within the timeout, or the connection
 * broke): it counts against the breaker, and the job is retried. */
static void provider_failed(job_t *job, int code, uint64_t now, const char *what)
{
    fs_breaker_record(&job->w->breaker, false, now);
    char why[64];
    if (code == 0) {
        snprintf(why, sizeof(why), "%s: timeout or network error", what);
    } else {
        snprintf(why, sizeof(why), "%s answered %d", what, code);
    }
    retry(job, why);
}

/* One call to the provider, behind the breaker: a POST of body, or a GET
 * when body is NULL; cb gets the answer (or NULL). */
static void send_to_provider(job_t *job, const char *path, const char *body,
                             void (*cb)(struct evhttp_request *, void *))
{
    worker_t *w = job->w;
    if (!fs_breaker_allow(&w->breaker, fs_now_us())) {
        put_back(job, "circuit breaker open");
        return;
    }
    fs_queue_msg_in_progress(job->msg); /* the ack wait starts again */
    job->sent_us = fs_now_us();
    struct evhttp_request *req = evhttp_request_new(cb, job);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Host", w->provider_host);
    evhttp_add_header(h, "X-Request-Id", job->request_id);
    if (body != NULL) {
        evhttp_add_header(h, "Content-Type", "application/json");
        evbuffer_add(evhttp_request_get_output_buffer(req), body, strlen(body));
    }
    struct evhttp_connection *conn = w->provider[w->next_provider];
    w->next_provider = (w->next_provider + 1) % FS_WORKER_PROVIDER_CONNECTIONS;
    if (evhttp_make_request(conn, req, body != NULL ? EVHTTP_REQ_POST : EVHTTP_REQ_GET, path)
        != 0) {
        /* Its callback is not called. */
        if (body != NULL) fs_metrics_add(FS_M_PROVIDER_REQUESTS, "error", NULL, NULL, 1);
        fs_breaker_record(&w->breaker, false, fs_now_us());
        retry(job, "cannot send to the provider");
    }
}

static void on_provider(struct evhttp_request *req, void *arg)
{
    job_t *job = arg;
    worker_t *w = job->w;
    int code = req != NULL ? evhttp_request_get_response_code(req) : 0;
    uint64_t now = fs_now_us();
    count_provider_call(job, req, code, now);
    if (code == 200) {
        struct evbuffer *in = evhttp_request_get_input_buffer(req);
        size_t len = evbuffer_get_length(in);
        json_t *body = json_loadb((const char *)evbuffer_pullup(in, -1), len, 0, NULL);
        take_answer(job, body, now);
        json_decref(body);
        return;
    }
    if (code >= 400 && code < 500 && code != 408 && code != 429) {
        /* The provider refuses the request itself: retrying cannot help. It
         * answered, so it is up (and a half-open probe is spent). */
        fs_breaker_record(&w->breaker, true, now);
        job->attempts = w->config->worker_max_attempts;
        char why[64];
        snprintf(why, sizeof(why), "provider answered %d", code);
        retry(job, why);
        return;
    }
    provider_failed(job, code, now, "provider");
}

static void call_provider(job_t *job)
{
    /* A refund's key is its own id; its payment_id, the payment it refunds. */
    json_t *body = json_pack("{s:s, s:I, s:s, s:s, s:s}", "idempotency_key", job->payment_id,
                             "amount", (json_int_t)job->amount, "currency", job->currency,
                             "payment_id", job->refund ? job->refunded : job->payment_id,
                             "request_id", job->request_id);
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    FS_ASSERT(text != NULL);
    send_to_provider(job, job->refund ? "/refunds" : "/charges", text, on_provider);
    free(text);
}

/* A payment claimed before: what became of its earlier call is unknown (it
 * timed out, the worker died, the answer was lost), so the provider is asked
 * for the key's record first. A record is the answer (no second charge); 404
 * means it never charged, so it is charged now; anything else is retried. */
static void on_looked_up(struct evhttp_request *req, void *arg)
{
    job_t *job = arg;
    worker_t *w = job->w;
    int code = req != NULL ? evhttp_request_get_response_code(req) : 0;
    uint64_t now = fs_now_us();
    if (code == 200) {
        struct evbuffer *in = evhttp_request_get_input_buffer(req);
        size_t len = evbuffer_get_length(in);
        json_t *body = json_loadb((const char *)evbuffer_pullup(in, -1), len, 0, NULL);
        job_log(job, FS_LOG_INFO, "worker", "payment %s: the provider has its record; not charged again",
                job->payment_id);
        take_answer(job, body, now);
        json_decref(body);
        return;
    }
    if (code == 404) {
        fs_breaker_record(&w->breaker, true, now);
        call_provider(job);
        return;
    }
    provider_failed(job, code, now, "provider lookup");
}

static void look_up(job_t *job)
{
    char *key = evhttp_uriencode(job->payment_id, -1, 0);
    FS_ASSERT(key != NULL);
    char path[sizeof("/refunds/") + 3 * FS_ID_LEN_MAX];
    snprintf(path, sizeof(path), "%s/%s", job->refund ? "/refunds" : "/charges", key);
    free(key);
    send_to_provider(job, path, NULL, on_looked_up);
}

/* --- step 1: claim ------------------------------------------------------ */

/* What the provider is to be asked for, from the claim's answer: false when
 * it lacks an amount or a currency (or a refund its payment). */
static bool job_take_claim(job_t *job, const json_t *p)
{
    const json_t *amount = json_object_get(p, "amount");
    const char *currency = json_string_value(json_object_get(p, "currency"));
    const char *refunded = json_string_value(json_object_get(p, "payment"));
    if (!json_is_integer(amount) || json_integer_value(amount) <= 0 || currency == NULL
        || strlen(currency) != 3 || (job->refund && (refunded == NULL
                                                     || strlen(refunded) > FS_ID_LEN_MAX))) {
        return false;
    }
    job->amount = (int64_t)json_integer_value(amount);
    memcpy(job->currency, currency, 4);
    snprintf(job->refunded, sizeof(job->refunded), "%s", job->refund ? refunded : "");
    return true;
}


static void on_claimed(void *arg, const fs_store_result_t *r)
{
    job_t *job = arg;
    if (strcmp(r->outcome, "not_found") == 0) {
        job_log(job, FS_LOG_WARN, "worker", "payment %s does not exist; message dropped",
               job->payment_id);
        ack(job);
        return;
    }
    if (strcmp(r->outcome, "ok") != 0) {
        put_back(job, r->outcome);
        return;
    }
    json_t *p = json_loads(r->payload, 0, NULL);
    const char *status = json_string_value(json_object_get(p, "status"));
    job->attempts = (int)json_integer_value(json_object_get(p, "settle_attempts"));
    if (status != NULL && strcmp(status, "processing") == 0) {
        if (!job_take_claim(job, p)) {
            retry(job, "payment without amount or currency");
        } else if (job->attempts > 1) {
            look_up(job);
        } else {
            call_provider(job);
        }
    } else if (status != NULL && strcmp(status, "pending") == 0) {
        put_back(job, "still pending");
    } else {
        ack(job); /* final already: a duplicate message */
    }
    json_decref(p);
}

static void start(job_t *job)
{
    worker_t *w = job->w;
    job->all_prev = NULL;
    job->all_next = w->all;
    if (w->all != NULL) w->all->all_prev = job;
    w->all = job;
    /* No claim for a call the breaker would refuse: back it goes, uncounted. */
    if (!fs_breaker_would_allow(&w->breaker, fs_now_us())) {
        put_back(job, "circuit breaker open");
        return;
    }
    fs_store_submit(w->store,
                    json_pack("{s:s, s:s}", "op",
                              fs_op_name(job->refund ? FS_OP_REFUND_CLAIM : FS_OP_SETTLE_CLAIM),
                              job->refund ? "refund" : "payment", job->payment_id),
                    on_claimed, job);
}

static void on_incoming(evutil_socket_t fd, short what, void *arg)
{
    worker_t *w = arg;
    (void)fd;
    (void)what;
    pthread_mutex_lock(&w->mu);
    job_t *list = w->incoming;
    w->incoming = w->incoming_tail = NULL;
    pthread_mutex_unlock(&w->mu);
    while (list != NULL) {
        job_t *next = list->next;
        start(list);
        list = next;
    }
}

/* --- the fetch thread ---------------------------------------------------- */

static void dead_letter_all(worker_t *w)
{
    /* Called with mu held; releases it around the blocking publish. */
    while (w->dead != NULL) {
        job_t *job = w->dead;
        w->dead = job->next;
        if (w->dead == NULL) w->dead_tail = NULL;
        pthread_mutex_unlock(&w->mu);
        if (fs_queue_msg_dead_letter(job->msg, job->dead_reason) != FS_QUEUE_OK) {
            job_log(job, FS_LOG_ERROR, "worker", "dead-lettering %s failed; it will be redelivered",
                   job->payment_id);
        }
        fs_queue_msg_free(job->msg);
        free(job);
        pthread_mutex_lock(&w->mu);
        w->inflight--;
    }
}

static void *fetch_main(void *arg)
{
    worker_t *w = arg;
    fs_queue_msg_t *msgs[FS_QUEUE_FETCH_MAX];
    fs_queue_status_t last = FS_QUEUE_OK;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        dead_letter_all(w);
        while (!w->stopping && w->dead == NULL && w->inflight >= w->config->worker_inflight) {
            pthread_cond_wait(&w->cv, &w->mu);
        }
        if (w->stopping) break;
        if (w->dead != NULL) continue;
        int room = w->config->worker_inflight - w->inflight;
        if (room > FS_QUEUE_FETCH_MAX) room = FS_QUEUE_FETCH_MAX;
        pthread_mutex_unlock(&w->mu);

        int n = 0;
        fs_queue_status_t st = fs_queue_fetch(w->queue, msgs, room, FS_WORKER_FETCH_WAIT_MS, &n);
        /* Said once per outage, not every FS_WORKER_FETCH_WAIT_MS. */
        if (st != FS_QUEUE_OK && st != last) {
            fs_log(FS_LOG_WARN, "worker", "fetch: %s", fs_queue_status_name(st));
        } else if (st == FS_QUEUE_OK && last != FS_QUEUE_OK) {
            fs_log(FS_LOG_INFO, "worker", "fetch: the broker answers again");
        }
        last = st;
        if (st != FS_QUEUE_OK) {
            struct timespec pause = {0, FS_WORKER_FETCH_WAIT_MS * 1000000L};
            nanosleep(&pause, NULL);
            n = 0;
        }
        job_t *head = NULL, *tail = NULL;
        for (int i = 0; i < n; i++) {
            job_t *job = calloc(1, sizeof(*job));
            FS_ASSERT(job != NULL);
            job->w = w;
            job->msg = msgs[i];
            snprintf(job->payment_id, sizeof(job->payment_id), "%s",
                     fs_queue_msg_payment_id(msgs[i]));
            job->refund = strncmp(job->payment_id, FS_REFUND_ID_PREFIX "_",
                                  strlen(FS_REFUND_ID_PREFIX "_")) == 0;
            snprintf(job->request_id, sizeof(job->request_id), "%s",
                     fs_queue_msg_request_id(msgs[i]));
            uint64_t deliveries = fs_queue_msg_deliveries(msgs[i]);
            job->deliveries = deliveries > INT32_MAX ? INT32_MAX : (int)deliveries;
            if (tail != NULL) {
                tail->next = job;
            } else {
                head = job;
            }
            tail = job;
        }

        pthread_mutex_lock(&w->mu);
        if (n > 0) {
            w->inflight += n;
            if (w->incoming_tail != NULL) {
                w->incoming_tail->next = head;
            } else {
                w->incoming = head;
            }
            w->incoming_tail = tail;
            event_active(w->incoming_ev, EV_READ, 0);
        }
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* --- the sweeper --------------------------------------------------------- */

/* The outbox sweeper (issue 13): every FINSYS_SWEEP_INTERVAL_S it publishes
 * again the payments and refunds due (unsettled FINSYS_SWEEP_AFTER_S after
 * their creation), page after page of FS_WORKER_SWEEP_MAX of each kind, each
 * page published before the next is asked for, until a page comes back short
 * (the outbox is drained). A tick takes at most FS_WORKER_SWEEP_PAGES_MAX
 * pages or FS_WORKER_SWEEP_BUDGET_MS; the next tick goes on from the cursor,
 * so rows that keep failing to settle never hold back the ones after them.
 * Every page is an asynchronous store call: the loop never waits. */

static void sweep_page(worker_t *w);

static void sweep_end(worker_t *w, const char *how)
{
    w->sweep.running = false;
    if (w->sweep.payments + w->sweep.refunds == 0) return;
    fs_log(FS_LOG_INFO, "worker",
           "sweeper: %zu unsettled payments and %zu refunds published again (%zu ok) "
           "in %d pages, %.0f ms; %s",
           w->sweep.payments, w->sweep.refunds, w->sweep.published, w->sweep.pages,
           (double)(fs_now_us() - w->sweep.start_us) / 1000.0, how);
}

/* Moves a kind's cursor past its page, or marks it drained. */
static void sweep_advance(json_t **after, bool *done, size_t taken, json_t *last)
{
    if (*done) return;
    if (taken < (size_t)FS_WORKER_SWEEP_MAX || !json_is_object(last)) {
        *done = true;
        return;
    }
    json_decref(*after);
    *after = json_incref(last);
}

/* Publishes each id; false when the broker took none of the rest (not
 * connected, or FS_QUEUE_PUBLISH_PENDING_MAX awaiting acks): the page is
 * then taken again later. A publish refused for its id alone is skipped. */
static bool sweep_publish(worker_t *w, json_t *ids)
{
    size_t i;
    json_t *id;
    json_array_foreach(ids, i, id) {
        fs_queue_status_t st = fs_queue_publish_payment(w->queue, json_string_value(id), "sweeper");
        if (st == FS_QUEUE_OK) {
            w->sweep.published++;
        } else if (st == FS_QUEUE_UNAVAILABLE || st == FS_QUEUE_FULL) {
            return false;
        }
    }
    return true;
}

static void on_swept(void *arg, const fs_store_result_t *r)
{
    worker_t *w = arg;
    if (strcmp(r->outcome, "ok") != 0) {
        /* The cursors stay: the next tick takes this page again. */
        sweep_end(w, "stopped: the database did not answer");
        return;
    }
    json_t *p = json_loads(r->payload, 0, NULL);
    if (json_is_true(json_object_get(p, "locked"))) {
        json_decref(p);
        sweep_end(w, "another worker is sweeping");
        return;
    }
    json_t *ids = json_object_get(p, "payments");
    json_t *refunds = json_object_get(p, "refunds");
    size_t np = json_array_size(ids), nr = json_array_size(refunds);
    w->sweep.payments += np;
    w->sweep.refunds += nr;
    /* Refunds go under their own ids, as the server published them. */
    if (!sweep_publish(w, ids) || !sweep_publish(w, refunds)) {
        json_decref(p);
        sweep_end(w, "stopped: the broker takes no more; the next tick goes on");
        return;
    }
    sweep_advance(&w->sweep.p_after, &w->sweep.p_done, np, json_object_get(p, "p_last"));
    sweep_advance(&w->sweep.r_after, &w->sweep.r_done, nr, json_object_get(p, "r_last"));
    json_decref(p);
    if (w->sweep.p_done && w->sweep.r_done) {
        /* Drained: the next tick starts again from the oldest. */
        json_decref(w->sweep.p_after);
        json_decref(w->sweep.r_after);
        w->sweep.p_after = w->sweep.r_after = NULL;
        w->sweep.p_done = w->sweep.r_done = false;
        sweep_end(w, "drained");
        return;
    }
    pthread_mutex_lock(&w->mu);
    bool stopping = w->stopping;
    pthread_mutex_unlock(&w->mu);
    if (stopping) {
        sweep_end(w, "stopped: the worker stops");
        return;
    }
    if (w->sweep.pages >= FS_WORKER_SWEEP_PAGES_MAX
        || fs_now_us() - w->sweep.start_us >= (uint64_t)FS_WORKER_SWEEP_BUDGET_MS * 1000) {
        sweep_end(w, "the next tick goes on from here");
        return;
    }
    sweep_page(w);
}

static void sweep_page(worker_t *w)
{
    json_t *item = json_pack("{s:s, s:i, s:i}", "op", fs_op_name(FS_OP_SETTLE_SWEEP), "older_s",
                             w->config->sweep_after_s, "max", FS_WORKER_SWEEP_MAX);
    if (w->sweep.p_after != NULL) json_object_set(item, "p_after", w->sweep.p_after);
    if (w->sweep.r_after != NULL) json_object_set(item, "r_after", w->sweep.r_after);
    if (w->sweep.p_done) json_object_set_new(item, "p_done", json_true());
    if (w->sweep.r_done) json_object_set_new(item, "r_done", json_true());
    w->sweep.pages++;
    fs_store_submit(w->store, item, on_swept, w); /* may answer at once: nothing after */
}

static void on_sweep_timer(evutil_socket_t fd, short what, void *arg)
{
    worker_t *w = arg;
    (void)fd;
    (void)what;
    /* One sweep at a time; and none while nothing could be published. */
    if (w->sweep.running || !fs_queue_connected(w->queue)) return;
    w->sweep.running = true;
    w->sweep.pages = 0;
    w->sweep.start_us = fs_now_us();
    w->sweep.payments = w->sweep.refunds = w->sweep.published = 0;
    sweep_page(w);
}

/* --- health and state ---------------------------------------------------- */

/* GET /readyz: the database, Redis and NATS, as the server's (src/health). */
static void on_ready(void *arg, int status, const char *body)
{
    struct evhttp_request *req = arg;
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", "application/json");
    if (status != 200) evhttp_add_header(h, "Retry-After", "1");
    struct evbuffer *out = evbuffer_new();
    evbuffer_add(out, body, strlen(body));
    evhttp_send_reply(req, status, NULL, out);
    evbuffer_free(out);
}

static void on_http(struct evhttp_request *req, void *arg)
{
    worker_t *w = arg;
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    if (evhttp_request_get_command(req) == EVHTTP_REQ_GET && path != NULL
        && strcmp(path, "/readyz") == 0) {
        fs_health_ready(w->base, w->store, w->redis, w->queue, true, on_ready, req);
        return;
    }
    struct evbuffer *out = evbuffer_new();
    int status = 200;
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "application/json");
    if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
        status = 405;
        evbuffer_add_printf(out, "{\"error\":{\"type\":\"invalid_request_error\","
                                 "\"code\":\"method_not_allowed\",\"message\":"
                                 "\"Only GET.\",\"param\":null}}");
    } else if (path != NULL && strcmp(path, "/healthz") == 0) {
        evbuffer_add_printf(out, "{\"status\":\"ok\"}");
    } else if (path != NULL && strcmp(path, "/metrics") == 0) {
        /* The readiness of what the worker depends on, then the exposition. */
        fs_metrics_set(FS_M_READINESS, "database", fs_store_connected() ? 1 : 0);
        fs_metrics_set(FS_M_READINESS, "nats", fs_queue_connected(w->queue) ? 1 : 0);
        if (w->redis != NULL)
            fs_metrics_set(FS_M_READINESS, "redis", fs_redis_connected(w->redis) ? 1 : 0);
        size_t len = 0;
        char *text = fs_metrics_render(&len);
        if (text != NULL) {
            evhttp_remove_header(evhttp_request_get_output_headers(req), "Content-Type");
            evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                              FS_METRICS_CONTENT_TYPE);
            evbuffer_add(out, text, len);
            free(text);
        } else {
            status = 500;
            evbuffer_add_printf(out, "{\"error\":{\"type\":\"api_error\",\"code\":"
                                     "\"internal_error\",\"message\":\"Out of memory.\","
                                     "\"param\":null}}");
        }
    } else if (path != NULL && strcmp(path, "/state") == 0) {
        pthread_mutex_lock(&w->mu);
        int inflight = w->inflight;
        pthread_mutex_unlock(&w->mu);
        evbuffer_add_printf(
            out,
            "{\"breaker\":{\"state\":\"%s\",\"transitions\":%llu},\"inflight\":%d,"
            "\"succeeded\":%llu,\"failed\":%llu,\"retried\":%llu,\"dead_lettered\":%llu}",
            fs_breaker_state_name(w->breaker.state),
            (unsigned long long)w->breaker.transitions, inflight,
            (unsigned long long)w->succeeded, (unsigned long long)w->failed,
            (unsigned long long)w->retried, (unsigned long long)w->dead_lettered);
    } else {
        status = 404;
        evbuffer_add_printf(out, "{\"error\":{\"type\":\"invalid_request_error\","
                                 "\"code\":\"not_found\",\"message\":"
                                 "\"GET /healthz, /readyz, /state or /metrics.\",\"param\":null}}");
    }
    evhttp_send_reply(req, status, NULL, out);
    evbuffer_free(out);
}

/* --- set-up and tear-down ------------------------------------------------ */

static int open_provider(worker_t *w)
{
    struct evhttp_uri *uri = evhttp_uri_parse(w->config->provider_url);
    const char *host = uri != NULL ? evhttp_uri_get_host(uri) : NULL;
    int port = uri != NULL ? evhttp_uri_get_port(uri) : -1;
    if (host == NULL || port <= 0) {
        fs_log(FS_LOG_ERROR, "worker", "FINSYS_PROVIDER_URL must be http://HOST:PORT (got %s)",
               w->config->provider_url);
        if (uri != NULL) evhttp_uri_free(uri);
        return -1;
    }
    snprintf(w->provider_host, sizeof(w->provider_host), "%s:%d", host, port);
    struct timeval tv = {w->config->provider_timeout_ms / 1000,
                         (w->config->provider_timeout_ms % 1000) * 1000};
    for (int i = 0; i < FS_WORKER_PROVIDER_CONNECTIONS; i++) {
        w->provider[i] = evhttp_connection_base_new(w->base, NULL, host, (uint16_t)port);
        FS_ASSERT(w->provider[i] != NULL);
        evhttp_connection_set_timeout_tv(w->provider[i], &tv);
        evhttp_connection_set_retries(w->provider[i], 0);
        evhttp_connection_set_max_body_size(w->provider[i], FS_WORKER_PROVIDER_BODY_MAX_BYTES);
    }
    evhttp_uri_free(uri);
    return 0;
}

/* --- the admin console's live stream (src/admin) -------------------------- */

/* The indexer's run committed: its events' summary goes out on core NATS,
 * fire and forget (nobody listening costs the broker a lookup). */
static void on_live_events(void *arg, const char *json, size_t len)
{
    worker_t *w = arg;
    fs_admin_live_publish_events(w->queue, json, len);
}

/* Whether a server announced a console watching (fs.live.watching) lately:
 * the indexer builds the summary only then. */
static bool on_live_watched(void *arg)
{
    worker_t *w = arg;
    return fs_admin_live_watched(w->live_watch);
}

/* The breaker's state on fs.live.status when it changed, and every
 * FS_ADMIN_LIVE_STATUS_INTERVAL_MS (a server that starts later learns it). */
static void on_live_status(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    worker_t *w = arg;
    uint64_t now = fs_now_us();
    bool changed = w->breaker.transitions != w->live_transitions;
    if (changed) {
        w->live_transitions = w->breaker.transitions;
        w->live_since_us = now;
    }
    if (!changed && now - w->live_published_us < FS_ADMIN_LIVE_STATUS_INTERVAL_MS * 1000ULL)
        return;
    w->live_published_us = now;
    /* The console's names: closed, open, half_open. */
    static const char *const states[] = {[FS_BREAKER_CLOSED] = "closed",
                                         [FS_BREAKER_OPEN] = "open",
                                         [FS_BREAKER_HALF_OPEN] = "half_open"};
    char since[32], body[160];
    fs_search_format_time((int64_t)w->live_since_us, since, sizeof(since));
    int n = snprintf(body, sizeof(body), "{\"breaker\":{\"state\":\"%s\",\"since\":\"%s\"}}",
                     states[w->breaker.state], since);
    fs_admin_live_publish_status(w->queue, body, (size_t)n);
}

static void *loop_main(void *arg)
{
    worker_t *w = arg;
    event_base_dispatch(w->base);
    return NULL;
}

int fs_worker_run(const fs_config_t *config)
{
    worker_t *w = calloc(1, sizeof(*w));
    FS_ASSERT(w != NULL);
    w->config = config;
    FS_ASSERT(pthread_mutex_init(&w->mu, NULL) == 0);
    FS_ASSERT(pthread_cond_init(&w->cv, NULL) == 0);
    fs_breaker_config_t bc = {.window = config->breaker_window,
                              .min_calls = config->breaker_min_calls,
                              .failure_pct = config->breaker_failure_pct,
                              .open_ms = config->breaker_open_ms,
                              .probes = config->breaker_probes};
    fs_breaker_init(&w->breaker, &bc);
    fs_metrics_init(config->metrics != 0);

    char err[256];
    w->queue = fs_queue_open_replicated(config->nats_url, config->nats_replicas, err, sizeof(err));
    if (w->queue == NULL) {
        fs_log(FS_LOG_ERROR, "worker", "cannot open the queue at %s: %s", config->nats_url, err);
        free(w);
        return 1;
    }
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGHUP); /* the log level again (docs/operations.md) */
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    w->base = event_base_new();
    FS_ASSERT(w->base != NULL);
    int rc = open_provider(w);
    if (rc == 0 && config->worker_port != 0) {
        w->http = evhttp_new(w->base);
        evhttp_set_gencb(w->http, on_http, w);
        if (evhttp_bind_socket(w->http, config->http_host, (uint16_t)config->worker_port) != 0) {
            fs_log(FS_LOG_ERROR, "worker", "cannot listen on %s:%d (FINSYS_WORKER_PORT)",
                   config->http_host, config->worker_port);
            rc = -1;
        }
    }
    if (rc == 0
        && (w->objects = fs_objects_open(config->objects_dir, config->objects_url, err,
                                       sizeof(err))) == NULL) {
        fs_log(FS_LOG_ERROR, "worker", "%s", err);
        rc = -1;
    }
    if (rc == 0) {
        fs_store_config_t sc = {.conninfo = config->database_url,
                                .batch_items = config->batch_items,
                                .batch_wait_us = config->batch_wait_us,
                                .connections = config->db_connections};
        w->store = fs_store_new(w->base, &sc);
        sc.connections = FS_WORKER_READER_CONNECTIONS;
        w->readers = fs_store_new(w->base, &sc);
        if (config->redis_url[0] != '\0')
            w->redis = fs_redis_new(w->base, config->redis_url, config->redis_timeout_ms);
        w->cache = fs_cache_new(w->base, w->redis, w->store, config->idempotency_ttl_hours * 3600);
        w->indexer = fs_indexer_new(w->base, w->readers, config);
        /* The daily rollups' feed reader runs when the indexer does. */
        w->rollups = fs_rollups_new(w->base, w->readers, config->index_interval_ms);
        /* --- the admin console's live stream (src/admin) --- */
        w->live_watch = fs_admin_live_watch_new(w->queue);
        fs_indexer_set_live(w->indexer, on_live_events, on_live_watched, w);
        w->live_since_us = fs_now_us();
        w->live_ev = event_new(w->base, -1, EV_PERSIST, on_live_status, w);
        struct timeval live_every = {0, 500 * 1000};
        event_add(w->live_ev, &live_every);
        fs_notifier_t *notifier = fs_notifier_new(config, w->base, w->readers, w->queue);
        w->incoming_ev = event_new(w->base, -1, 0, on_incoming, w);
        w->sweep_ev = event_new(w->base, -1, EV_PERSIST, on_sweep_timer, w);
        struct timeval every = {config->sweep_interval_s, 0};
        event_add(w->sweep_ev, &every);
        w->receipts = fs_receipt_driver_new(w->base, w->readers, w->objects,
                                            config->receipt_interval_ms);
        w->exports = fs_export_runner_new(config, w->objects);

        /* The daily reconciliation (src/recon): blocking, on its own thread. */
        fs_recon_scheduler_t *recon = fs_recon_scheduler_start(config);
        /* The event log's archive (src/archive): blocking, on its own thread,
         * through the worker's object store. */
        fs_archive_scheduler_t *archive = fs_archive_scheduler_start(config, w->objects);

        pthread_t loop;
        fs_thread_start_or_exit(&loop, loop_main, w, "worker", "the event loop's thread");
        fs_thread_start_or_exit(&w->fetcher, fetch_main, w, "worker", "the queue fetcher's thread");
        fs_log(FS_LOG_INFO, "worker", "settling from %s through %s, %d at once",
               config->nats_url, config->provider_url, config->worker_inflight);
        int sig;
        while (sigwait(&stop, &sig) == 0 && sig == SIGHUP) fs_log_reload(config->log_level_file);
        fs_log(FS_LOG_INFO, "worker", "signal %d: stopping", sig);

        pthread_mutex_lock(&w->mu);
        w->stopping = true;
        pthread_cond_broadcast(&w->cv);
        pthread_mutex_unlock(&w->mu);
        event_base_loopexit(w->base, NULL);
        pthread_join(loop, NULL);
        pthread_join(w->fetcher, NULL);
        fs_recon_scheduler_stop(recon);
        fs_archive_scheduler_stop(archive);
        fs_export_runner_free(w->exports); /* an export in progress goes back to pending */

        /* What is left is put back at once for another worker (or this one
         * after a restart); the store answers its callbacks first. */
        fs_receipt_driver_stop(w->receipts);
        fs_cache_close(w->cache);
        fs_store_free(w->store);
        fs_store_free(w->readers);
        fs_redis_free(w->redis);
        fs_cache_free(w->cache);
        fs_indexer_free(w->indexer);
        fs_rollups_free(w->rollups);
        fs_receipt_driver_free(w->receipts);
        fs_notifier_free(notifier);
        for (int i = 0; i < FS_WORKER_PROVIDER_CONNECTIONS; i++) {
            evhttp_connection_free(w->provider[i]);
            w->provider[i] = NULL;
        }
        pthread_mutex_lock(&w->mu);
        job_t *list = w->incoming;
        w->incoming = w->incoming_tail = NULL;
        dead_letter_all(w);
        pthread_mutex_unlock(&w->mu);
        while (list != NULL) {
            job_t *next = list->next;
            fs_queue_msg_nak(list->msg, 0);
            fs_queue_msg_free(list->msg);
            free(list);
            list = next;
        }
        while (w->all != NULL) {
            job_t *job = w->all;
            w->all = job->all_next;
            fs_queue_msg_nak(job->msg, 0);
            fs_queue_msg_free(job->msg);
            free(job);
        }
        event_free(w->incoming_ev);
        event_free(w->sweep_ev);
        json_decref(w->sweep.p_after);
        json_decref(w->sweep.r_after);
        event_free(w->live_ev);
        fs_admin_live_watch_free(w->live_watch);
    } else {
        for (int i = 0; i < FS_WORKER_PROVIDER_CONNECTIONS; i++) {
            if (w->provider[i] != NULL) evhttp_connection_free(w->provider[i]);
        }
    }
    if (w->http != NULL) evhttp_free(w->http);
    fs_queue_close(w->queue);
    fs_objects_close(w->objects);
    event_base_free(w->base);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
    return rc == 0 ? 0 : 1;
}
