/*
 * notify.c: endpoint checks, signatures and the notifier (see notify.h).
 *
 * Ownership: a delivery job (one message) is made by the fetch thread, owned
 * by the loop from the moment it is handed over, and freed by job_done() once
 * its message is acknowledged or put back, or by the fetch thread after it
 * moved the message to the dead letters. While it POSTs, the job names its
 * connection (one per attempt). A connection cannot be freed inside its own
 * request's callback, and libevent's free-on-completion misses failed
 * connects, so the callback moves it to `spent`, which the reaper event
 * frees right after (and fs_notifier_free, what is left). `inflight` counts
 * jobs that exist.
 */
#define _GNU_SOURCE
#include "notify.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../event/event.h"
#include "../metrics/metrics.h"
#include "../validate/validate.h"

/* --- the API's checks ---------------------------------------------------- */

/* Splits an accepted URL into what the client connects to: an IP literal
 * (localhost becomes 127.0.0.1, so nothing is resolved), a port and the
 * request target. Returns false (err filled) for anything else. */
static bool url_parse(const char *url, char *host, size_t host_len, int *port, char *target,
                      size_t target_len, fs_error_t *err)
{
    size_t len = strnlen(url, FS_WEBHOOK_URL_LEN_MAX + 1);
    if (len == 0 || len > FS_WEBHOOK_URL_LEN_MAX)
        return fs_fail(err, FS_INVALID_REQUEST, "url", "url must be 1 to %d bytes.",
                       FS_WEBHOOK_URL_LEN_MAX);
    for (size_t i = 0; i < len; i++) {
        if (url[i] <= ' ' || url[i] > '~')
            return fs_fail(err, FS_INVALID_REQUEST, "url",
                           "url must be printable ASCII without spaces (percent-encode).");
    }
    if (strncmp(url, "https://", 8) == 0)
        return fs_fail(err, FS_INVALID_REQUEST, "url",
                       "https URLs are not supported yet: FinSys's webhook client has no TLS. "
                       "Use http:// to a TLS-terminating proxy you run (docs/webhooks.md).");
    if (strncmp(url, "http://", 7) != 0)
        return fs_fail(err, FS_INVALID_REQUEST, "url", "url must start with http://.");
    struct evhttp_uri *uri = evhttp_uri_parse_with_flags(url, 0);
    bool ok = uri != NULL && evhttp_uri_get_host(uri) != NULL
              && evhttp_uri_get_userinfo(uri) == NULL && evhttp_uri_get_fragment(uri) == NULL;
    if (!ok) {
        if (uri != NULL) evhttp_uri_free(uri);
        return fs_fail(err, FS_INVALID_REQUEST, "url",
                       "url must be http://HOST[:PORT][/path] without user or fragment.");
    }
    const char *h = evhttp_uri_get_host(uri);
    unsigned char addr[16];
    if (strcmp(h, "localhost") == 0) h = "127.0.0.1";
    /* evhttp keeps an IPv6 literal's brackets. */
    char bare[64] = "";
    size_t hl = strlen(h);
    if (hl > 2 && hl < sizeof(bare) + 2 && h[0] == '[' && h[hl - 1] == ']') {
        memcpy(bare, h + 1, hl - 2);
        bare[hl - 2] = '\0';
        h = bare;
    }
    if (inet_pton(AF_INET, h, addr) != 1 && inet_pton(AF_INET6, h, addr) != 1) {
        evhttp_uri_free(uri);
        return fs_fail(err, FS_INVALID_REQUEST, "url",
                       "url's host must be an IP address or localhost: the notifier never "
                       "resolves names (docs/webhooks.md).");
    }
    int p = evhttp_uri_get_port(uri);
    if (p == 0 || p > 65535) {
        evhttp_uri_free(uri);
        return fs_fail(err, FS_INVALID_REQUEST, "url", "url's port must be 1 to 65535.");
    }
    if (host != NULL) {
        snprintf(host, host_len, "%s", h);
        *port = p < 0 ? 80 : p;
        const char *path = evhttp_uri_get_path(uri);
        const char *query = evhttp_uri_get_query(uri);
        snprintf(target, target_len, "%s%s%s", path != NULL && *path != '\0' ? path : "/",
                 query != NULL ? "?" : "", query != NULL ? query : "");
    }
    evhttp_uri_free(uri);
    return true;
}

bool fs_notify_url_valid(const char *url, fs_error_t *err)
{
    return url_parse(url, NULL, 0, NULL, NULL, 0, err);
}

static bool events_parse(const json_t *body, json_t *item, fs_error_t *err)
{
    const json_t *events = json_object_get(body, "events");
    if (!json_is_array(events) || json_array_size(events) == 0
        || json_array_size(events) > FS_WEBHOOK_EVENTS_MAX)
        return fs_fail(err, FS_INVALID_REQUEST, "events",
                       "events must be an array of 1 to %d event types (or \"*\" for all).",
                       FS_WEBHOOK_EVENTS_MAX);
    json_t *out = json_array();
    size_t i;
    const json_t *e;
    json_array_foreach(events, i, e) {
        const char *type = json_string_value(e);
        if (type == NULL || (strcmp(type, "*") != 0 && !fs_event_type_known(type))) {
            json_decref(out);
            return fs_fail(err, FS_INVALID_REQUEST, "events",
                           "events[%zu] must be \"*\" or one of payment.created, "
                           "payment.succeeded, payment.failed, payment.canceled, "
                           "refund.created, refund.succeeded, refund.failed.", i);
        }
        bool seen = false;
        size_t k;
        json_t *o;
        json_array_foreach(out, k, o) seen = seen || strcmp(json_string_value(o), type) == 0;
        if (!seen) json_array_append_new(out, json_string(type));
    }
    json_object_set_new(item, "events", out);
    return true;
}

bool fs_notify_parse_endpoint_create(const json_t *body, json_t *item, fs_error_t *err)
{
    static const char *const fields[] = {"url", "events", NULL};
    if (!fs_validate_known_fields(body, fields, err)) return false;
    const char *url;
    if (!fs_validate_string(body, "url", true, FS_WEBHOOK_URL_LEN_MAX, &url, err)) return false;
    if (!fs_notify_url_valid(url, err) || !events_parse(body, item, err)) return false;
    char id[FS_ID_BUF_LEN];
    fs_id_new(FS_WEBHOOK_ENDPOINT_ID_PREFIX, id, sizeof(id));
    char secret[sizeof(FS_NOTIFY_SECRET_PREFIX) + FS_NOTIFY_SECRET_RANDOM_LEN];
    size_t pl = strlen(FS_NOTIFY_SECRET_PREFIX);
    memcpy(secret, FS_NOTIFY_SECRET_PREFIX, pl);
    fs_random_base62(secret + pl, FS_NOTIFY_SECRET_RANDOM_LEN);
    secret[pl + FS_NOTIFY_SECRET_RANDOM_LEN] = '\0';
    json_object_set_new(item, "id", json_string(id));
    json_object_set_new(item, "url", json_string(url));
    json_object_set_new(item, "secret", json_string(secret));
    json_object_set_new(item, "max", json_integer(FS_WEBHOOK_ENDPOINTS_MAX));
    return true;
}

void fs_notify_sign(const char *secret, long long timestamp, const char *body, size_t body_len,
                    char *out)
{
    FS_ASSERT(secret != NULL && out != NULL && (body != NULL || body_len == 0));
    char t[24];
    int tl = snprintf(t, sizeof(t), "%lld", timestamp);
    crypto_auth_hmacsha256_state st;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)t, (unsigned long long)tl);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)".", 1);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, body_len);
    crypto_auth_hmacsha256_final(&st, mac);
    char hex[2 * crypto_auth_hmacsha256_BYTES + 1];
    sodium_bin2hex(hex, sizeof(hex), mac, sizeof(mac));
    snprintf(out, FS_NOTIFY_SIGNATURE_BUF_LEN, "t=%s,v1=%s", t, hex);
}

/* --- the notifier -------------------------------------------------------- */

typedef struct job {
    struct job *next;                /* in a hand-off list */
    struct job *all_prev, *all_next; /* in the loop's list of live jobs */
    fs_notifier_t *n;
    fs_queue_msg_t *msg;
    struct evhttp_connection *conn; /* while the POST runs */
    char id[FS_ID_LEN_MAX + 1];
    int attempts;
    int64_t delay_ms; /* the back-off after this attempt, if it fails */
    char dead_reason[128];
} job_t;

struct fs_notifier {
    const fs_config_t *config;
    struct event_base *base;
    fs_store_t *store;
    fs_queue_t *queue;

    pthread_mutex_t mu; /* guards what the fetch thread shares: */
    pthread_cond_t cv;
    job_t *incoming, *incoming_tail; /* fetched, not yet taken by the loop */
    job_t *dead, *dead_tail;         /* to move to the dead letters */
    int inflight;
    bool stopping;

    job_t *all; /* loop thread only */
    struct evhttp_connection **spent; /* loop thread only: connections to free */
    size_t spent_count, spent_cap;
    struct event *incoming_ev, *fanout_ev, *sweep_ev, *reap_ev;
    pthread_t fetcher;
};

static void job_forget(job_t *job)
{
    fs_notifier_t *n = job->n;
    if (job->all_prev != NULL) job->all_prev->all_next = job->all_next;
    if (job->all_next != NULL) job->all_next->all_prev = job->all_prev;
    if (n->all == job) n->all = job->all_next;
    job->all_prev = job->all_next = NULL;
}

static void job_done(job_t *job)
{
    fs_notifier_t *n = job->n;
    job_forget(job);
    fs_queue_msg_free(job->msg);
    free(job);
    pthread_mutex_lock(&n->mu);
    n->inflight--;
    pthread_cond_signal(&n->cv);
    pthread_mutex_unlock(&n->mu);
}

static void ack(job_t *job)
{
    if (fs_queue_msg_ack(job->msg) != FS_QUEUE_OK)
        fs_log(FS_LOG_WARN, "notify", "ack of %s failed; it will be redelivered", job->id);
    job_done(job);
}

static void put_back(job_t *job, int64_t delay_ms, const char *why)
{
    fs_log(FS_LOG_INFO, "notify", "delivery %s retried in %lld ms (attempt %d: %s)", job->id,
           (long long)delay_ms, job->attempts, why);
    if (fs_queue_msg_nak(job->msg, delay_ms) != FS_QUEUE_OK)
        fs_log(FS_LOG_WARN, "notify", "nak of %s failed; it will be redelivered", job->id);
    job_done(job);
}

/* Hands the job to the fetch thread, which moves its message to
 * FS_NOTIFICATIONS_DEAD (a blocking publish). */
static void dead_letter(job_t *job)
{
    fs_notifier_t *n = job->n;
    fs_log(FS_LOG_WARN, "notify", "delivery %s to the dead letters (%s)", job->id,
           job->dead_reason);
    job_forget(job);
    pthread_mutex_lock(&n->mu);
    job->next = NULL;
    if (n->dead_tail != NULL) {
        n->dead_tail->next = job;
    } else {
        n->dead = job;
    }
    n->dead_tail = job;
    pthread_cond_signal(&n->cv);
    pthread_mutex_unlock(&n->mu);
}

/* base * 2^(attempt - 1), at most FS_NOTIFY_BACKOFF_MAX_MS. */
static int64_t backoff_ms(int base_ms, int attempt)
{
    int64_t d = base_ms;
    for (int i = 1; i < attempt && d < FS_NOTIFY_BACKOFF_MAX_MS; i++) d *= 2;
    return d < FS_NOTIFY_BACKOFF_MAX_MS ? d : FS_NOTIFY_BACKOFF_MAX_MS;
}

/* --- step 3: record the result ----------------------------------------- */

static void on_finished(void *arg, const fs_store_result_t *r)
{
    job_t *job = arg;
    if (strcmp(r->outcome, "ok") != 0) return put_back(job, job->delay_ms, r->outcome);
    json_t *p = json_loads(r->payload, 0, NULL);
    const char *status = json_string_value(json_object_get(p, "status"));
    if (status != NULL && strcmp(status, "pending") == 0) {
        fs_metrics_add(FS_M_WEBHOOK_DELIVERIES, "failed", NULL, NULL, 1);
        put_back(job, job->delay_ms, job->dead_reason);
    } else if (status != NULL && strcmp(status, "dead") == 0) {
        fs_metrics_add(FS_M_WEBHOOK_DELIVERIES, "dead", NULL, NULL, 1);
        dead_letter(job);
    } else {
        if (status != NULL && strcmp(status, "delivered") == 0)
            fs_metrics_add(FS_M_WEBHOOK_DELIVERIES, "delivered", NULL, NULL, 1);
        if (status != NULL && strcmp(status, "delivered") == 0)
            fs_log(FS_LOG_DEBUG, "notify", "delivery %s delivered", job->id);
        ack(job);
    }
    json_decref(p);
}

static void finish(job_t *job, int http_status, const char *error)
{
    fs_notifier_t *n = job->n;
    bool delivered = http_status >= 200 && http_status < 300;
    json_t *item = json_pack("{s:s, s:s, s:b, s:i, s:I}", "op", "webhook_finish", "delivery",
                             job->id, "delivered", delivered, "retry_period_s",
                             n->config->webhook_retry_period_s, "delay_ms",
                             (json_int_t)job->delay_ms);
    json_object_set_new(item, "http_status",
                        http_status > 0 ? json_integer(http_status) : json_null());
    if (!delivered) {
        snprintf(job->dead_reason, sizeof(job->dead_reason), "%d attempts; last: %s",
                 job->attempts, error);
        json_object_set_new(item, "error", json_string(error));
    }
    fs_queue_msg_in_progress(job->msg); /* the ack wait starts again */
    fs_store_submit(n->store, item, on_finished, job);
}

/* --- step 2: the POST ---------------------------------------------------- */

static void reap(fs_notifier_t *n)
{
    for (size_t i = 0; i < n->spent_count; i++) evhttp_connection_free(n->spent[i]);
    n->spent_count = 0;
}

static void on_reap(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    reap(arg);
}

static void on_response(struct evhttp_request *req, void *arg)
{
    job_t *job = arg;
    fs_notifier_t *n = job->n;
    if (n->spent_count == n->spent_cap) {
        n->spent_cap = n->spent_cap == 0 ? 64 : 2 * n->spent_cap;
        n->spent = realloc(n->spent, n->spent_cap * sizeof(*n->spent));
        FS_ASSERT(n->spent != NULL);
    }
    n->spent[n->spent_count++] = job->conn;
    job->conn = NULL;
    event_active(n->reap_ev, EV_TIMEOUT, 0);
    int code = req != NULL ? evhttp_request_get_response_code(req) : 0;
    char why[64];
    if (code == 0) {
        snprintf(why, sizeof(why), "timeout or network error");
    } else {
        snprintf(why, sizeof(why), "the endpoint answered %d", code);
    }
    finish(job, code, why);
}

static void post(job_t *job, const char *url, const char *secret, const char *event_id,
                 const char *request_id, const char *body)
{
    fs_notifier_t *n = job->n;
    char host[64], target[FS_WEBHOOK_URL_LEN_MAX + 1];
    int port = 0;
    fs_error_t err;
    if (!url_parse(url, host, sizeof(host), &port, target, sizeof(target), &err))
        return finish(job, 0, "invalid url"); /* checked at creation: cannot happen */

    char signature[FS_NOTIFY_SIGNATURE_BUF_LEN], attempt[16], host_header[80];
    size_t len = strlen(body);
    fs_notify_sign(secret, (long long)time(NULL), body, len, signature);
    snprintf(attempt, sizeof(attempt), "%d", job->attempts);
    snprintf(host_header, sizeof(host_header), strchr(host, ':') != NULL ? "[%s]:%d" : "%s:%d",
             host, port);

    job->conn = evhttp_connection_base_new(n->base, NULL, host, (uint16_t)port);
    FS_ASSERT(job->conn != NULL);
    struct timeval tv = {n->config->webhook_timeout_ms / 1000,
                         (n->config->webhook_timeout_ms % 1000) * 1000};
    evhttp_connection_set_timeout_tv(job->conn, &tv);
    evhttp_connection_set_retries(job->conn, 0);
    evhttp_connection_set_max_body_size(job->conn, FS_NOTIFY_RESPONSE_BODY_MAX_BYTES);
    struct evhttp_request *req = evhttp_request_new(on_response, job);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Host", host_header);
    evhttp_add_header(h, "Content-Type", "application/json");
    evhttp_add_header(h, "User-Agent", "FinSys-Webhooks/1");
    evhttp_add_header(h, "Connection", "close");
    evhttp_add_header(h, FS_NOTIFY_HEADER_SIGNATURE, signature);
    evhttp_add_header(h, FS_NOTIFY_HEADER_EVENT_ID, event_id);
    /* The API request behind the event, so that a receiver's logs and ours
     * can be joined (evhttp refuses a value with a line break). */
    if (request_id != NULL && request_id[0] != '\0')
        evhttp_add_header(h, "X-Request-Id", request_id);
    evhttp_add_header(h, FS_NOTIFY_HEADER_DELIVERY_ID, job->id);
    evhttp_add_header(h, FS_NOTIFY_HEADER_ATTEMPT, attempt);
    evbuffer_add(evhttp_request_get_output_buffer(req), body, len);
    if (evhttp_make_request(job->conn, req, EVHTTP_REQ_POST, target) != 0) {
        /* Its callback is not called, and the request is freed. */
        evhttp_connection_free(job->conn);
        job->conn = NULL;
        return finish(job, 0, "cannot send the request");
    }
}

/* --- step 1: claim -------------------------------------------------------- */

static void on_claimed(void *arg, const fs_store_result_t *r)
{
    job_t *job = arg;
    fs_notifier_t *n = job->n;
    if (strcmp(r->outcome, "not_found") == 0) {
        fs_log(FS_LOG_WARN, "notify", "delivery %s does not exist; message dropped", job->id);
        return ack(job);
    }
    if (strcmp(r->outcome, "ok") != 0)
        return put_back(job, n->config->webhook_backoff_base_ms, r->outcome);
    json_t *p = json_loads(r->payload, 0, NULL);
    const char *status = json_string_value(json_object_get(p, "status"));
    const char *url = json_string_value(json_object_get(p, "url"));
    const char *secret = json_string_value(json_object_get(p, "secret"));
    const char *event_id = json_string_value(json_object_get(p, "event_id"));
    const char *request_id = json_string_value(json_object_get(p, "request_id"));
    const char *event = json_string_value(json_object_get(p, "event"));
    if (status == NULL || strcmp(status, "pending") != 0
        || !json_is_true(json_object_get(p, "due"))) {
        /* Done, canceled, or a second message for a delivery held or waiting
         * for its back-off: only acknowledged. */
        ack(job);
    } else if (url == NULL || secret == NULL || event_id == NULL || event == NULL) {
        job->attempts = (int)json_integer_value(json_object_get(p, "attempts"));
        job->delay_ms = backoff_ms(n->config->webhook_backoff_base_ms, job->attempts);
        finish(job, 0, "the delivery's event is missing");
    } else {
        job->attempts = (int)json_integer_value(json_object_get(p, "attempts"));
        job->delay_ms = backoff_ms(n->config->webhook_backoff_base_ms, job->attempts);
        post(job, url, secret, event_id, request_id, event);
    }
    json_decref(p);
}

static void start(job_t *job)
{
    fs_notifier_t *n = job->n;
    job->all_prev = NULL;
    job->all_next = n->all;
    if (n->all != NULL) n->all->all_prev = job;
    n->all = job;
    fs_store_submit(n->store,
                    json_pack("{s:s, s:s, s:i, s:i}", "op", "webhook_claim", "delivery", job->id,
                              "lease_ms",
                              n->config->webhook_timeout_ms + FS_NOTIFY_LEASE_MARGIN_MS,
                              "slack_ms", FS_NOTIFY_DUE_SLACK_MS),
                    on_claimed, job);
}

static void on_incoming(evutil_socket_t fd, short what, void *arg)
{
    fs_notifier_t *n = arg;
    (void)fd;
    (void)what;
    pthread_mutex_lock(&n->mu);
    job_t *list = n->incoming;
    n->incoming = n->incoming_tail = NULL;
    pthread_mutex_unlock(&n->mu);
    while (list != NULL) {
        job_t *next = list->next;
        start(list);
        list = next;
    }
}

/* --- the fetch thread ----------------------------------------------------- */

static void dead_letter_all(fs_notifier_t *n)
{
    /* Called with mu held; releases it around the blocking publish. */
    while (n->dead != NULL) {
        job_t *job = n->dead;
        n->dead = job->next;
        if (n->dead == NULL) n->dead_tail = NULL;
        pthread_mutex_unlock(&n->mu);
        if (fs_queue_msg_dead_letter(job->msg, job->dead_reason) != FS_QUEUE_OK)
            fs_log(FS_LOG_ERROR, "notify", "dead-lettering %s failed; it will be redelivered",
                   job->id);
        fs_queue_msg_free(job->msg);
        free(job);
        pthread_mutex_lock(&n->mu);
        n->inflight--;
    }
}

static job_t *jobs_of(fs_notifier_t *n, fs_queue_msg_t **msgs, int count, job_t **tail)
{
    job_t *head = NULL;
    *tail = NULL;
    for (int i = 0; i < count; i++) {
        job_t *job = calloc(1, sizeof(*job));
        FS_ASSERT(job != NULL);
        job->n = n;
        job->msg = msgs[i];
        snprintf(job->id, sizeof(job->id), "%s", fs_queue_msg_id(msgs[i]));
        if (*tail != NULL) {
            (*tail)->next = job;
        } else {
            head = job;
        }
        *tail = job;
    }
    return head;
}

static void *fetch_main(void *arg)
{
    fs_notifier_t *n = arg;
    fs_queue_msg_t *msgs[FS_QUEUE_FETCH_MAX];
    pthread_mutex_lock(&n->mu);
    for (;;) {
        dead_letter_all(n);
        while (!n->stopping && n->dead == NULL && n->inflight >= FS_NOTIFY_INFLIGHT_MAX)
            pthread_cond_wait(&n->cv, &n->mu);
        if (n->stopping) break;
        if (n->dead != NULL) continue;
        int room = FS_NOTIFY_INFLIGHT_MAX - n->inflight;
        if (room > FS_QUEUE_FETCH_MAX) room = FS_QUEUE_FETCH_MAX;
        pthread_mutex_unlock(&n->mu);

        int count = 0;
        fs_queue_status_t st = fs_queue_fetch_notifications(n->queue, msgs, room,
                                                            FS_WORKER_FETCH_WAIT_MS, &count);
        if (st != FS_QUEUE_OK) {
            fs_log(FS_LOG_WARN, "notify", "fetch: %s", fs_queue_status_name(st));
            struct timespec pause = {0, FS_WORKER_FETCH_WAIT_MS * 1000000L};
            nanosleep(&pause, NULL);
            count = 0;
        }
        job_t *tail;
        job_t *head = jobs_of(n, msgs, count, &tail);

        pthread_mutex_lock(&n->mu);
        if (count > 0) {
            n->inflight += count;
            if (n->incoming_tail != NULL) {
                n->incoming_tail->next = head;
            } else {
                n->incoming = head;
            }
            n->incoming_tail = tail;
            event_active(n->incoming_ev, EV_READ, 0);
        }
    }
    pthread_mutex_unlock(&n->mu);
    return NULL;
}

/* --- the fan-out and the sweeper ------------------------------------------ */

static int publish_all(fs_notifier_t *n, const json_t *ids)
{
    size_t i;
    const json_t *id;
    int published = 0;
    json_array_foreach(ids, i, id) {
        if (fs_queue_publish_notification(n->queue, json_string_value(id)) == FS_QUEUE_OK)
            published++;
    }
    return published;
}

static void fanout_again(fs_notifier_t *n, int after_ms)
{
    struct timeval tv = {after_ms / 1000, (after_ms % 1000) * 1000};
    event_add(n->fanout_ev, &tv);
}

static void on_fanned_out(void *arg, const fs_store_result_t *r)
{
    fs_notifier_t *n = arg;
    if (strcmp(r->outcome, "ok") != 0) {
        fs_log(FS_LOG_WARN, "notify", "fan-out failed: %s", r->outcome);
        return fanout_again(n, FS_NOTIFY_FANOUT_INTERVAL_MS);
    }
    json_t *p = json_loads(r->payload, 0, NULL);
    json_t *ids = json_object_get(p, "deliveries");
    int published = publish_all(n, ids);
    if (json_array_size(ids) > 0)
        fs_log(FS_LOG_DEBUG, "notify", "fan-out: %zu deliveries (%d published)",
               json_array_size(ids), published);
    /* Deliveries whose publish failed wait for the sweeper. */
    bool more = json_integer_value(json_object_get(p, "events")) >= FS_NOTIFY_FANOUT_MAX;
    json_decref(p);
    fanout_again(n, more ? 0 : FS_NOTIFY_FANOUT_INTERVAL_MS);
}

static void on_fanout_timer(evutil_socket_t fd, short what, void *arg)
{
    fs_notifier_t *n = arg;
    (void)fd;
    (void)what;
    fs_store_submit_alone(n->store,
                          json_pack("{s:s, s:i}", "op", "webhook_fanout", "max",
                                    FS_NOTIFY_FANOUT_MAX),
                          on_fanned_out, n);
}

static void on_swept(void *arg, const fs_store_result_t *r)
{
    fs_notifier_t *n = arg;
    if (strcmp(r->outcome, "ok") != 0) return;
    json_t *p = json_loads(r->payload, 0, NULL);
    json_t *ids = json_object_get(p, "deliveries");
    int published = publish_all(n, ids);
    if (json_array_size(ids) > 0)
        fs_log(FS_LOG_INFO, "notify", "sweeper: %zu due deliveries published again (%d ok)",
               json_array_size(ids), published);
    json_decref(p);
}

static void on_sweep_timer(evutil_socket_t fd, short what, void *arg)
{
    fs_notifier_t *n = arg;
    (void)fd;
    (void)what;
    fs_store_submit_alone(n->store,
                          json_pack("{s:s, s:i, s:i}", "op", "webhook_sweep", "older_s",
                                    n->config->sweep_after_s, "max", FS_NOTIFY_SWEEP_MAX),
                          on_swept, n);
}

/* --- set-up and tear-down ------------------------------------------------- */

fs_notifier_t *fs_notifier_new(const fs_config_t *config, struct event_base *base,
                               fs_store_t *store, fs_queue_t *queue)
{
    FS_ASSERT(config != NULL && base != NULL && store != NULL && queue != NULL);
    fs_notifier_t *n = calloc(1, sizeof(*n));
    FS_ASSERT(n != NULL);
    n->config = config;
    n->base = base;
    n->store = store;
    n->queue = queue;
    pthread_mutex_init(&n->mu, NULL);
    pthread_cond_init(&n->cv, NULL);
    n->incoming_ev = event_new(base, -1, 0, on_incoming, n);
    n->fanout_ev = event_new(base, -1, 0, on_fanout_timer, n);
    n->sweep_ev = event_new(base, -1, EV_PERSIST, on_sweep_timer, n);
    n->reap_ev = event_new(base, -1, 0, on_reap, n);
    FS_ASSERT(n->incoming_ev != NULL && n->fanout_ev != NULL && n->sweep_ev != NULL
              && n->reap_ev != NULL);
    fanout_again(n, 0);
    struct timeval every = {config->sweep_interval_s, 0};
    event_add(n->sweep_ev, &every);
    pthread_create(&n->fetcher, NULL, fetch_main, n);
    fs_log(FS_LOG_INFO, "notify", "delivering webhooks, %d at once, timeout %d ms",
           FS_NOTIFY_INFLIGHT_MAX, config->webhook_timeout_ms);
    return n;
}

static void put_back_now(job_t *job)
{
    if (job->conn != NULL) evhttp_connection_free(job->conn); /* no callback */
    fs_queue_msg_nak(job->msg, 0);
    fs_queue_msg_free(job->msg);
    free(job);
}

void fs_notifier_free(fs_notifier_t *n)
{
    if (n == NULL) return;
    pthread_mutex_lock(&n->mu);
    n->stopping = true;
    pthread_cond_broadcast(&n->cv);
    pthread_mutex_unlock(&n->mu);
    pthread_join(n->fetcher, NULL);

    /* What is left is put back at once for another worker. */
    pthread_mutex_lock(&n->mu);
    job_t *list = n->incoming;
    n->incoming = n->incoming_tail = NULL;
    dead_letter_all(n);
    pthread_mutex_unlock(&n->mu);
    while (list != NULL) {
        job_t *next = list->next;
        put_back_now(list);
        list = next;
    }
    while (n->all != NULL) {
        job_t *job = n->all;
        n->all = job->all_next;
        put_back_now(job);
    }
    event_free(n->incoming_ev);
    event_free(n->fanout_ev);
    event_free(n->sweep_ev);
    reap(n);
    free(n->spent);
    event_free(n->reap_ev);
    pthread_mutex_destroy(&n->mu);
    pthread_cond_destroy(&n->cv);
    free(n);
}
