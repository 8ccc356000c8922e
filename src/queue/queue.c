/*
 * queue.c: the payment queue on NATS JetStream (see queue.h).
 *
 * One natsConnection and one jsCtx per fs_queue_t. Publishes are
 * js_PublishMsgAsync with a bounded number pending (FS_QUEUE_PUBLISH_PENDING_MAX)
 * and a 1 ms stall, refused at once while the connection is not up (the
 * library would otherwise buffer them until it reconnects); their failures
 * arrive on libnats threads in on_publish_error and are counted. The pull
 * subscription of the "settler" consumer is made by the first fetch, so a
 * process that only publishes never binds to it.
 */
#include "queue.h"

#include <jansson.h>
#include <nats/nats.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/core.h"
#include "../metrics/metrics.h"

#define NANOS_PER_MS INT64_C(1000000)
#define NANOS_PER_S INT64_C(1000000000)

/* A work queue of the broker: the payments to settle, or the webhook
 * deliveries to attempt. Each has its stream, subject, consumer, dead letters
 * and the body field that carries its id. */
typedef struct {
    const char *stream, *subject, *consumer, *dead_stream, *dead_subject, *id_field;
    const char *what; /* for logs */
} lane_t;

enum { LANE_PAYMENTS, LANE_NOTIFICATIONS, LANE_COUNT };

static const lane_t lanes[LANE_COUNT] = {
    [LANE_PAYMENTS] = {FS_QUEUE_STREAM_PAYMENTS, FS_QUEUE_SUBJECT_PAYMENTS,
                       FS_QUEUE_CONSUMER_SETTLER, FS_QUEUE_STREAM_PAYMENTS_DEAD,
                       FS_QUEUE_SUBJECT_PAYMENTS_DEAD, "payment_id", "payment"},
    [LANE_NOTIFICATIONS] = {FS_QUEUE_STREAM_NOTIFICATIONS, FS_QUEUE_SUBJECT_NOTIFICATIONS_DELIVER,
                            FS_QUEUE_CONSUMER_NOTIFIER, FS_QUEUE_STREAM_NOTIFICATIONS_DEAD,
                            FS_QUEUE_SUBJECT_NOTIFICATIONS_DEAD, "delivery_id", "delivery"},
};

struct fs_queue {
    natsOptions *opts;
    int replicas; /* each stream's copies (its num_replicas) */
    natsConnection *nc;
    jsCtx *js;
    /* The streams and consumers exist on this broker (ensure_assets ran):
     * until then the queue is not ready and refuses publishes and fetches. */
    atomic_bool ready;
    /* fs_queue_close has begun: a set-up in progress gives up. */
    atomic_bool closing;
    /* Guards the three below, which order fs_queue_open, the connected
     * callback and fs_queue_close (see on_connected and fs_queue_close). */
    pthread_mutex_t setup_lock;
    pthread_cond_t setup_cv;
    bool opened;      /* fs_queue_open made js: the callbacks may use it */
    bool closed_seen; /* on_closed ran: no callback of this connection follows */
    pthread_mutex_t sub_lock; /* guards the creation of subs */
    /* pull subscriptions to each lane's consumer; NULL until its first fetch */
    natsSubscription *subs[LANE_COUNT];
    atomic_uint_fast64_t published;
    atomic_uint_fast64_t refused;
    atomic_uint_fast64_t failed;
    atomic_uint_fast64_t dead_lettered;
};

struct fs_queue_msg {
    fs_queue_t *q;
    const lane_t *lane;
    natsMsg *msg; /* owned */
    uint64_t deliveries;
    uint64_t sequence; /* in FS_PAYMENTS */
    uint64_t clock_us; /* when its ack wait last started: the fetch, or an in-progress */
    char payment_id[FS_ID_LEN_MAX + 1];
    char request_id[FS_QUEUE_REQUEST_ID_LEN_MAX + 1];
};

/* Queues open in the process: the last to close tears libnats down. */
static pthread_mutex_t library_lock = PTHREAD_MUTEX_INITIALIZER;
static int library_users;

const char *fs_queue_status_name(fs_queue_status_t status)
{
    switch (status) {
    case FS_QUEUE_OK:
        return "ok";
    case FS_QUEUE_UNAVAILABLE:
        return "unavailable";
    case FS_QUEUE_FULL:
        return "full";
    case FS_QUEUE_INVALID:
        return "invalid";
    case FS_QUEUE_ERROR:
        return "error";
    }
    return "unknown";
}

/* 1..max printable ASCII characters without space: safe in a header, a
 * subject-free message id and (with " and \ escaped) JSON. */
static bool ref_valid(const char *s, size_t max)
{
    if (s == NULL) return false;
    size_t len = strnlen(s, max + 1);
    if (len == 0 || len > max) return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] <= ' ' || s[i] > '~') return false;
    }
    return true;
}

/* Appends s as a JSON string (s is printable ASCII, so only " and \ need
 * escaping). Returns the new length, or out_len when it does not fit. */
static size_t json_append_string(char *out, size_t out_len, size_t at, const char *s)
{
    if (at >= out_len) return out_len;
    out[at++] = '"';
    for (; *s != '\0' && at < out_len; s++) {
        if (*s == '"' || *s == '\\') {
            out[at++] = '\\';
            if (at >= out_len) return out_len;
        }
        out[at++] = *s;
    }
    if (at >= out_len) return out_len;
    out[at++] = '"';
    return at;
}

static fs_queue_status_t status_of(natsStatus s)
{
    switch (s) {
    case NATS_OK:
        return FS_QUEUE_OK;
    case NATS_NO_MEMORY:
        return FS_QUEUE_ERROR;
    case NATS_INVALID_ARG:
        return FS_QUEUE_INVALID;
    default:
        return FS_QUEUE_UNAVAILABLE;
    }
}

/* ---- connection events and publish failures (libnats threads) ---- */

static void on_disconnected(natsConnection *nc, void *closure)
{
    (void)closure;
    if (natsConnection_IsClosed(nc)) return; /* fs_queue_close, not a failure */
    fs_log(FS_LOG_WARN, "queue", "disconnected from the broker; reconnecting");
}

static bool ensure_assets(fs_queue_t *q, char *err, size_t err_len);

/* The broker answers (the first time, or again): make the streams and the
 * consumers if they are not made yet, then the queue is ready. On the
 * library's callback thread, which runs one callback at a time in order; the
 * JetStream requests' answers come on other threads, so blocking here is
 * safe, and fs_queue_close waits for it (on_closed comes after). */
static void set_up(fs_queue_t *q)
{
    pthread_mutex_lock(&q->setup_lock);
    /* A connection made while fs_queue_open was still making the JetStream
     * context: wait for it (or for a close). */
    while (!q->opened && !atomic_load(&q->closing)) pthread_cond_wait(&q->setup_cv, &q->setup_lock);
    pthread_mutex_unlock(&q->setup_lock);
    if (atomic_load(&q->closing) || atomic_load(&q->ready)) return;
    char err[256];
    if (ensure_assets(q, err, sizeof(err))) {
        atomic_store(&q->ready, true);
        fs_log(FS_LOG_INFO, "queue", "connected to the broker; streams and consumers ready");
    } else if (!atomic_load(&q->closing)) {
        fs_log(FS_LOG_ERROR, "queue", "%s; not ready until the next reconnection", err);
    }
}

/* The first connection, made by the library's retries after fs_queue_open
 * found no broker (natsOptions_SetRetryOnFailedConnect). */
static void on_connected(natsConnection *nc, void *closure)
{
    (void)nc;
    fs_queue_t *q = closure;
    fs_log(FS_LOG_INFO, "queue", "the broker answers at last");
    set_up(q);
}

static void on_reconnected(natsConnection *nc, void *closure)
{
    (void)nc;
    fs_queue_t *q = closure;
    fs_log(FS_LOG_INFO, "queue", "reconnected to the broker");
    /* A set-up that failed is tried again with each reconnection. */
    if (!atomic_load(&q->ready)) set_up(q);
}

/* The last callback of a connection closed by fs_queue_close: the callback
 * thread runs them in order, so none of this connection's runs any more. */
static void on_closed(natsConnection *nc, void *closure)
{
    (void)nc;
    fs_queue_t *q = closure;
    pthread_mutex_lock(&q->setup_lock);
    q->closed_seen = true;
    pthread_cond_broadcast(&q->setup_cv);
    pthread_mutex_unlock(&q->setup_lock);
}

static void on_async_error(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure)
{
    (void)nc;
    (void)sub;
    (void)closure;
    fs_log(FS_LOG_WARN, "queue", "broker connection error: %s", natsStatus_GetText(err));
}

/* A publish the broker refused or did not ack in FS_QUEUE_PUBLISH_ACK_WAIT_MS.
 * Logged at the 1st, 2nd, 4th, 8th... failure so an outage cannot flood the
 * log; the library frees the message after this returns. */
static void on_publish_error(jsCtx *js, jsPubAckErr *pae, void *closure)
{
    (void)js;
    fs_queue_t *q = closure;
    uint64_t n = atomic_fetch_add(&q->failed, 1) + 1;
    fs_metrics_add(FS_M_QUEUE_PUBLISH_FAILED, NULL, NULL, NULL, 1);
    if ((n & (n - 1)) != 0) return;
    const char *id = NULL;
    if (pae->Msg == NULL || natsMsgHeader_Get(pae->Msg, "Nats-Msg-Id", &id) != NATS_OK) id = "?";
    fs_log(FS_LOG_WARN, "queue",
           "publish of %s failed: %s (%d); %" PRIu64 " publishes failed so far; the sweeper "
           "will queue them again",
           id, pae->ErrText != NULL ? pae->ErrText : natsStatus_GetText(pae->Err),
           (int)pae->ErrCode, n);
}

/* ---- library reference count ---- */

static bool library_acquire(void)
{
    pthread_mutex_lock(&library_lock);
    bool ok = library_users > 0 || nats_Open(-1) == NATS_OK;
    if (ok) library_users++;
    pthread_mutex_unlock(&library_lock);
    return ok;
}

static void library_release(void)
{
    pthread_mutex_lock(&library_lock);
    FS_ASSERT(library_users > 0);
    if (--library_users == 0) {
        natsStatus s = nats_CloseAndWait(FS_QUEUE_CLOSE_WAIT_MS);
        if (s != NATS_OK)
            fs_log(FS_LOG_WARN, "queue", "libnats teardown: %s", natsStatus_GetText(s));
    }
    pthread_mutex_unlock(&library_lock);
}

/* ---- opening: connection, streams, consumer ---- */

static void set_error(char *err, size_t err_len, const char *what, natsStatus s, jsErrCode code)
{
    if (err == NULL || err_len == 0) return;
    const char *detail = nats_GetLastError(NULL); /* this thread's, with the reason */
    if (detail == NULL || detail[0] == '\0') detail = natsStatus_GetText(s);
    const char *place_end = detail[0] == '(' ? strstr(detail, "): ") : NULL;
    if (place_end != NULL) detail = place_end + 3; /* drop "(conn.c:2088): " */
    if (code != 0)
        snprintf(err, err_len, "%s: %s (JetStream error %d)", what, detail, (int)code);
    else
        snprintf(err, err_len, "%s: %s", what, detail);
}

/* One URL, or the servers of one cluster separated by commas: libnats's
 * SetURL takes one, so a list goes to SetServers (tried in turn, and
 * reconnected to when the connected one dies). */
static natsStatus set_servers(natsOptions *opts, const char *url)
{
    if (strchr(url, ',') == NULL) return natsOptions_SetURL(opts, url);
    char copy[1024];
    if (strlen(url) >= sizeof(copy)) return NATS_INVALID_ARG;
    strcpy(copy, url);
    const char *servers[FS_NATS_SERVERS_MAX];
    int n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ') tok++;
        size_t len = strlen(tok);
        while (len > 0 && tok[len - 1] == ' ') tok[--len] = '\0';
        if (len == 0) continue;
        if (n == FS_NATS_SERVERS_MAX) return NATS_INVALID_ARG;
        servers[n++] = tok;
    }
    if (n == 0) return NATS_INVALID_ARG;
    return natsOptions_SetServers(opts, servers, n);
}

static natsStatus connect_options(fs_queue_t *q, const char *url)
{
    natsStatus s = natsOptions_Create(&q->opts);
    if (s == NATS_OK) s = set_servers(q->opts, url);
    if (s == NATS_OK) s = natsOptions_SetName(q->opts, "finsys");
    if (s == NATS_OK) s = natsOptions_SetTimeout(q->opts, FS_QUEUE_CONNECT_TIMEOUT_MS);
    if (s == NATS_OK) s = natsOptions_SetAllowReconnect(q->opts, true);
    if (s == NATS_OK) s = natsOptions_SetMaxReconnect(q->opts, -1); /* forever */
    if (s == NATS_OK) s = natsOptions_SetReconnectWait(q->opts, FS_QUEUE_RECONNECT_WAIT_MS);
    if (s == NATS_OK) s = natsOptions_SetPingInterval(q->opts, FS_QUEUE_PING_INTERVAL_MS);
    if (s == NATS_OK) s = natsOptions_SetMaxPingsOut(q->opts, 2);
    if (s == NATS_OK) s = natsOptions_SetWriteDeadline(q->opts, FS_QUEUE_WRITE_DEADLINE_MS);
    if (s == NATS_OK) s = natsOptions_SetDisconnectedCB(q->opts, on_disconnected, q);
    if (s == NATS_OK) s = natsOptions_SetReconnectedCB(q->opts, on_reconnected, q);
    if (s == NATS_OK) s = natsOptions_SetClosedCB(q->opts, on_closed, q);
    /* No broker at start: Connect returns NATS_NOT_YET_CONNECTED and the
     * library keeps trying (every FS_QUEUE_RECONNECT_WAIT_MS, forever), then
     * calls on_connected. The process starts and serves meanwhile. */
    if (s == NATS_OK) s = natsOptions_SetRetryOnFailedConnect(q->opts, true, on_connected, q);
    if (s == NATS_OK) s = natsOptions_SetErrorHandler(q->opts, on_async_error, q);
    return s;
}

/* Creates the stream, or updates it when it exists with another
 * configuration; the same configuration is a no-op. */
static bool ensure_stream(fs_queue_t *q, const char *name, const char *subject,
                          jsRetentionPolicy retention, char *err, size_t err_len)
{
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    const char *subjects[] = {subject};
    cfg.Name = name;
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Retention = retention;
    cfg.Storage = js_FileStorage;
    cfg.Discard = js_DiscardNew; /* refuse new messages when full, never drop old ones */
    cfg.MaxMsgs = FS_QUEUE_STREAM_MSGS_MAX;
    cfg.MaxMsgSize = FS_QUEUE_MSG_BYTES_MAX;
    cfg.Duplicates = FS_QUEUE_DEDUP_WINDOW_S * NANOS_PER_S;
    cfg.Replicas = q->replicas;

    jsErrCode code = 0;
    natsStatus s = js_AddStream(NULL, q->js, &cfg, NULL, &code);
    /* Another process may be creating the same stream at this moment: the
     * broker then says its subjects overlap rather than that it exists. */
    if (s != NATS_OK && (code == JSStreamNameExistErr || code == JSStreamSubjectOverlapErr))
        s = js_UpdateStream(NULL, q->js, &cfg, NULL, &code);
    if (s == NATS_OK) return true;
    char what[128];
    snprintf(what, sizeof(what), "cannot create or update stream %s", name);
    set_error(err, err_len, what, s, code);
    return false;
}

static void consumer_config(jsConsumerConfig *cfg, const lane_t *lane)
{
    jsConsumerConfig_Init(cfg);
    cfg->Durable = lane->consumer;
    cfg->Description = lane == &lanes[LANE_PAYMENTS] ? "FinSys settlement worker"
                                                     : "FinSys webhook notifier";
    cfg->FilterSubject = lane == &lanes[LANE_PAYMENTS] ? NULL : lane->subject;
    cfg->DeliverPolicy = js_DeliverAll;
    cfg->AckPolicy = js_AckExplicit;
    cfg->AckWait = FS_QUEUE_ACK_WAIT_MS * NANOS_PER_MS;
    cfg->MaxDeliver = -1; /* the worker dead-letters after its own maximum */
    cfg->MaxAckPending = FS_QUEUE_ACK_PENDING_MAX;
    cfg->MaxRequestBatch = FS_QUEUE_FETCH_MAX;
    cfg->ReplayPolicy = js_ReplayInstant;
}

static bool ensure_consumer(fs_queue_t *q, const lane_t *lane, char *err, size_t err_len)
{
    jsConsumerConfig cfg;
    consumer_config(&cfg, lane);
    jsErrCode code = 0;
    natsStatus s = js_AddConsumer(NULL, q->js, lane->stream, &cfg, NULL, &code);
    if (s != NATS_OK && code != 0)
        s = js_UpdateConsumer(NULL, q->js, lane->stream, &cfg, NULL, &code);
    if (s == NATS_OK) return true;
    char what[128];
    snprintf(what, sizeof(what), "cannot create or update consumer %s", lane->consumer);
    set_error(err, err_len, what, s, code);
    return false;
}

static bool ensure_assets_once(fs_queue_t *q, char *err, size_t err_len)
{
    return ensure_stream(q, FS_QUEUE_STREAM_PAYMENTS, FS_QUEUE_SUBJECT_PAYMENTS, js_WorkQueuePolicy,
                         err, err_len) &&
           ensure_stream(q, FS_QUEUE_STREAM_PAYMENTS_DEAD, FS_QUEUE_SUBJECT_PAYMENTS_DEAD,
                         js_LimitsPolicy, err, err_len) &&
           ensure_stream(q, FS_QUEUE_STREAM_NOTIFICATIONS, FS_QUEUE_SUBJECT_NOTIFICATIONS,
                         js_WorkQueuePolicy, err, err_len) &&
           ensure_stream(q, FS_QUEUE_STREAM_NOTIFICATIONS_DEAD, FS_QUEUE_SUBJECT_NOTIFICATIONS_DEAD,
                         js_LimitsPolicy, err, err_len) &&
           ensure_consumer(q, &lanes[LANE_PAYMENTS], err, err_len) &&
           ensure_consumer(q, &lanes[LANE_NOTIFICATIONS], err, err_len);
}

/* Several processes start at once (make run, a deployment): one's creation
 * can make another's fail for a moment, so a failure is tried again. */
static bool ensure_assets(fs_queue_t *q, char *err, size_t err_len)
{
    for (int i = 0; i < FS_QUEUE_ENSURE_TRIES && !atomic_load(&q->closing); i++) {
        if (ensure_assets_once(q, err, err_len)) return true;
        struct timespec pause = {0, 100 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    return false;
}

fs_queue_t *fs_queue_open(const char *url, char *err, size_t err_len)
{
    return fs_queue_open_replicated(url, FS_NATS_REPLICAS_DEFAULT, err, err_len);
}

fs_queue_t *fs_queue_open_replicated(const char *url, int replicas, char *err, size_t err_len)
{
    FS_ASSERT(url != NULL);
    FS_ASSERT(replicas >= 1 && replicas <= FS_NATS_REPLICAS_MAX);
    if (err != NULL && err_len > 0) err[0] = '\0';
    if (!library_acquire()) {
        set_error(err, err_len, "cannot initialise libnats", NATS_ERR, 0);
        return NULL;
    }
    fs_queue_t *q = calloc(1, sizeof(*q));
    if (q == NULL) {
        library_release();
        set_error(err, err_len, "cannot open the queue", NATS_NO_MEMORY, 0);
        return NULL;
    }
    FS_ASSERT(pthread_mutex_init(&q->sub_lock, NULL) == 0);
    FS_ASSERT(pthread_mutex_init(&q->setup_lock, NULL) == 0);
    FS_ASSERT(pthread_cond_init(&q->setup_cv, NULL) == 0);
    atomic_init(&q->ready, false);
    atomic_init(&q->closing, false);
    q->replicas = replicas;

    natsStatus s = connect_options(q, url);
    if (s != NATS_OK) {
        set_error(err, err_len, "invalid broker options", s, 0);
        goto fail;
    }
    s = natsConnection_Connect(&q->nc, q->opts);
    bool later = s == NATS_NOT_YET_CONNECTED;
    if (s != NATS_OK && !later) {
        char what[256];
        snprintf(what, sizeof(what), "cannot connect to the broker at %s", url);
        set_error(err, err_len, what, s, 0);
        goto fail;
    }

    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = FS_QUEUE_REQUEST_TIMEOUT_MS;
    jo.PublishAsync.MaxPending = FS_QUEUE_PUBLISH_PENDING_MAX;
    jo.PublishAsync.StallWait = FS_QUEUE_PUBLISH_STALL_WAIT_MS;
    jo.PublishAsync.ErrHandler = on_publish_error;
    jo.PublishAsync.ErrHandlerClosure = q;
    s = natsConnection_JetStream(&q->js, q->nc, &jo);
    if (s != NATS_OK) {
        set_error(err, err_len, "cannot make the JetStream context", s, 0);
        goto fail;
    }
    if (later) {
        /* The library connects later and on_connected sets up the streams;
         * it may have connected already and be waiting for this. */
        pthread_mutex_lock(&q->setup_lock);
        q->opened = true;
        pthread_cond_broadcast(&q->setup_cv);
        pthread_mutex_unlock(&q->setup_lock);
        fs_log(FS_LOG_WARN, "queue",
               "no broker at %s yet: trying every %d ms; not ready until it answers", url,
               FS_QUEUE_RECONNECT_WAIT_MS);
        return q;
    }
    /* Connected at once: on_connected is not called (a broker that answers
     * but cannot hold the streams is a configuration error, said now). */
    if (!ensure_assets(q, err, err_len)) goto fail;
    atomic_store(&q->ready, true);
    pthread_mutex_lock(&q->setup_lock);
    q->opened = true;
    pthread_cond_broadcast(&q->setup_cv);
    pthread_mutex_unlock(&q->setup_lock);
    return q;

fail:
    fs_queue_close(q);
    return NULL;
}

void fs_queue_close(fs_queue_t *q)
{
    if (q == NULL) return;
    if (q->js != NULL && q->nc != NULL && fs_queue_connected(q)) {
        if (fs_queue_flush(q, FS_QUEUE_CLOSE_WAIT_MS) != FS_QUEUE_OK)
            fs_log(FS_LOG_WARN, "queue", "closing with publishes not yet acked by the broker");
    }
    /* A set-up waiting for fs_queue_open, or between its tries, gives up. */
    pthread_mutex_lock(&q->setup_lock);
    atomic_store(&q->closing, true);
    pthread_cond_broadcast(&q->setup_cv);
    pthread_mutex_unlock(&q->setup_lock);
    bool freeable = true;
    if (q->nc != NULL) {
        /* Close, then wait for on_closed: the callbacks run in order on one
         * thread, so once it ran no callback that uses q (a set-up) can still
         * be running or queued. Closing fails the set-up's requests at once. */
        natsConnection_Close(q->nc);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += FS_QUEUE_CLOSE_CALLBACKS_WAIT_S;
        pthread_mutex_lock(&q->setup_lock);
        while (!q->closed_seen) {
            if (pthread_cond_timedwait(&q->setup_cv, &q->setup_lock, &until) != 0) break;
        }
        freeable = q->closed_seen;
        pthread_mutex_unlock(&q->setup_lock);
    }
    for (int i = 0; i < LANE_COUNT; i++) natsSubscription_Destroy(q->subs[i]);
    jsCtx_Destroy(q->js);
    natsConnection_Destroy(q->nc);
    natsOptions_Destroy(q->opts);
    if (!freeable) {
        /* A callback may still use q: better a leak at exit than a use after
         * free. Not seen in practice; said so that it would be noticed. */
        fs_log(FS_LOG_WARN, "queue", "the broker's callbacks did not end in time; queue kept");
        library_release();
        return;
    }
    pthread_mutex_destroy(&q->sub_lock);
    pthread_mutex_destroy(&q->setup_lock);
    pthread_cond_destroy(&q->setup_cv);
    free(q);
    library_release();
}

bool fs_queue_connected(fs_queue_t *q)
{
    FS_ASSERT(q != NULL);
    return q->nc != NULL && atomic_load(&q->ready)
           && natsConnection_Status(q->nc) == NATS_CONN_STATUS_CONNECTED;
}

/* ---- publishing ---- */

static fs_queue_status_t refuse(fs_queue_t *q, fs_queue_status_t status)
{
    atomic_fetch_add(&q->refused, 1);
    fs_metrics_add(FS_M_QUEUE_PUBLISH_FAILED, NULL, NULL, NULL, 1);
    return status;
}

static fs_queue_status_t publish(fs_queue_t *q, const lane_t *lane, const char *payment_id,
                                 const char *request_id, const char *msg_id)
{
    FS_ASSERT(q != NULL);
    if (request_id == NULL) request_id = "";
    if (!ref_valid(payment_id, FS_ID_LEN_MAX) ||
        (request_id[0] != '\0' && !ref_valid(request_id, FS_QUEUE_REQUEST_ID_LEN_MAX)))
        return refuse(q, FS_QUEUE_INVALID);
    /* While reconnecting, the library would buffer the message and say OK;
     * refusing it now lets the caller rely on the sweeper instead. */
    if (!fs_queue_connected(q)) return refuse(q, FS_QUEUE_UNAVAILABLE);

    /* Both ids are printable ASCII: at most doubled by escaping. */
    char body[2 * (FS_ID_LEN_MAX + FS_QUEUE_REQUEST_ID_LEN_MAX) + 64];
    size_t n = (size_t)snprintf(body, sizeof(body), "{\"%s\":", lane->id_field);
    n = json_append_string(body, sizeof(body), n, payment_id);
    n += (size_t)snprintf(body + n, sizeof(body) - n, ",\"request_id\":");
    n = json_append_string(body, sizeof(body), n, request_id);
    FS_ASSERT(n + 1 < sizeof(body));
    body[n++] = '}';

    natsMsg *msg = NULL;
    natsStatus s = natsMsg_Create(&msg, lane->subject, NULL, body, (int)n);
    if (s == NATS_OK && request_id[0] != '\0')
        s = natsMsgHeader_Set(msg, FS_QUEUE_HEADER_REQUEST_ID, request_id);
    if (s == NATS_OK) {
        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.MsgId = msg_id;
        po.MaxWait = FS_QUEUE_PUBLISH_ACK_WAIT_MS;
        s = js_PublishMsgAsync(q->js, &msg, &po);
    }
    natsMsg_Destroy(msg); /* NULL (a no-op) when the library took it */
    if (s == NATS_OK) {
        atomic_fetch_add(&q->published, 1);
        fs_metrics_add(FS_M_QUEUE_PUBLISHED, NULL, NULL, NULL, 1);
        return FS_QUEUE_OK;
    }
    /* Too many pending: the stall wait ran out. */
    return refuse(q, s == NATS_TIMEOUT ? FS_QUEUE_FULL : status_of(s));
}

fs_queue_status_t fs_queue_publish_payment(fs_queue_t *q, const char *payment_id,
                                           const char *request_id)
{
    return publish(q, &lanes[LANE_PAYMENTS], payment_id, request_id, payment_id);
}

fs_queue_status_t fs_queue_publish_notification(fs_queue_t *q, const char *delivery_id)
{
    return publish(q, &lanes[LANE_NOTIFICATIONS], delivery_id, NULL, delivery_id);
}

fs_queue_status_t fs_queue_publish_approved(fs_queue_t *q, const char *payment_id,
                                            const char *request_id)
{
    char msg_id[FS_ID_LEN_MAX + 16];
    snprintf(msg_id, sizeof(msg_id), "%.*s.approved", FS_ID_LEN_MAX,
             payment_id != NULL ? payment_id : "");
    return publish(q, &lanes[LANE_PAYMENTS], payment_id, request_id, msg_id);
}

fs_queue_status_t fs_queue_replay_payment(fs_queue_t *q, const char *payment_id,
                                          const char *request_id)
{
    /* A message id of its own, so the dedup window cannot drop the replay of
     * a payment published less than FS_QUEUE_DEDUP_WINDOW_S ago. */
    char msg_id[FS_ID_LEN_MAX + 32];
    char nonce[FS_ID_RANDOM_LEN + 1];
    fs_random_base62(nonce, FS_ID_RANDOM_LEN);
    nonce[FS_ID_RANDOM_LEN] = '\0';
    snprintf(msg_id, sizeof(msg_id), "%.*s.replay.%s", FS_ID_LEN_MAX,
             payment_id != NULL ? payment_id : "", nonce);
    return publish(q, &lanes[LANE_PAYMENTS], payment_id, request_id, msg_id);
}

fs_queue_status_t fs_queue_flush(fs_queue_t *q, int timeout_ms)
{
    FS_ASSERT(q != NULL && timeout_ms > 0);
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = timeout_ms;
    return js_PublishAsyncComplete(q->js, &po) == NATS_OK ? FS_QUEUE_OK : FS_QUEUE_UNAVAILABLE;
}

void fs_queue_stats(fs_queue_t *q, fs_queue_stats_t *out)
{
    FS_ASSERT(q != NULL && out != NULL);
    out->published = atomic_load(&q->published);
    out->publish_refused = atomic_load(&q->refused);
    out->publish_failed = atomic_load(&q->failed);
    out->dead_lettered = atomic_load(&q->dead_lettered);
}

/* ---- consuming ---- */

static natsStatus bind_consumer(fs_queue_t *q, int lane)
{
    natsStatus s = NATS_OK;
    const lane_t *l = &lanes[lane];
    pthread_mutex_lock(&q->sub_lock);
    if (q->subs[lane] == NULL) {
        jsSubOptions so;
        jsSubOptions_Init(&so);
        so.Stream = l->stream;
        so.Consumer = l->consumer;
        jsErrCode code = 0;
        s = js_PullSubscribe(&q->subs[lane], q->js, l->subject, l->consumer, NULL, &so, &code);
        if (s != NATS_OK) {
            fs_log(FS_LOG_ERROR, "queue", "cannot bind to consumer %s: %s (%d)", l->consumer,
                   natsStatus_GetText(s), (int)code);
            q->subs[lane] = NULL;
        }
    }
    pthread_mutex_unlock(&q->sub_lock);
    return s;
}

/* Reads the payment id from the body, the request id from X-Request-Id (or
 * the body), and the delivery count and sequence from the metadata. */
static bool parse_msg(fs_queue_msg_t *m, char *why, size_t why_len)
{
    jsMsgMetaData *meta = NULL;
    if (natsMsg_GetMetaData(&meta, m->msg) != NATS_OK) {
        snprintf(why, why_len, "no JetStream metadata");
        return false;
    }
    m->deliveries = meta->NumDelivered;
    m->sequence = meta->Sequence.Stream;
    /* The consumer's lag as of this delivery: what is still waiting. */
    fs_metrics_add(FS_M_QUEUE_CONSUMED, NULL, NULL, NULL, 1);
    fs_metrics_set(FS_M_QUEUE_CONSUMER_PENDING, m->lane->consumer, (int64_t)meta->NumPending);
    jsMsgMetaData_Destroy(meta);

    json_error_t jerr;
    json_t *body = json_loadb(natsMsg_GetData(m->msg), (size_t)natsMsg_GetDataLength(m->msg),
                              JSON_REJECT_DUPLICATES, &jerr);
    const char *payment_id = json_string_value(json_object_get(body, m->lane->id_field));
    const char *request_id = json_string_value(json_object_get(body, "request_id"));
    const char *header = NULL;
    if (natsMsgHeader_Get(m->msg, FS_QUEUE_HEADER_REQUEST_ID, &header) == NATS_OK)
        request_id = header;
    bool ok = ref_valid(payment_id, FS_ID_LEN_MAX);
    if (ok) {
        snprintf(m->payment_id, sizeof(m->payment_id), "%s", payment_id);
        if (request_id != NULL && ref_valid(request_id, FS_QUEUE_REQUEST_ID_LEN_MAX))
            snprintf(m->request_id, sizeof(m->request_id), "%s", request_id);
    } else {
        snprintf(why, why_len, "malformed message: the body has no valid %s",
                 m->lane->id_field);
    }
    json_decref(body);
    return ok;
}

static fs_queue_status_t fetch(fs_queue_t *q, int lane, fs_queue_msg_t **out, int max,
                               int timeout_ms, int *count)
{
    FS_ASSERT(q != NULL && out != NULL && count != NULL);
    *count = 0;
    if (max < 1 || max > FS_QUEUE_FETCH_MAX || timeout_ms < 1) return FS_QUEUE_INVALID;
    /* No broker yet, or reconnecting: nothing to bind to or fetch from. */
    if (!fs_queue_connected(q)) return FS_QUEUE_UNAVAILABLE;
    natsStatus s = bind_consumer(q, lane);
    if (s != NATS_OK) return status_of(s);

    natsMsgList list = {0};
    jsErrCode code = 0;
    s = natsSubscription_Fetch(&list, q->subs[lane], max, timeout_ms, &code);
    if (s == NATS_TIMEOUT) return FS_QUEUE_OK; /* nothing came in time */
    if (s != NATS_OK) {
        fs_log(FS_LOG_WARN, "queue", "fetch failed: %s (%d)", natsStatus_GetText(s), (int)code);
        return status_of(s);
    }
    fs_queue_status_t status = FS_QUEUE_OK;
    for (int i = 0; i < list.Count; i++) {
        fs_queue_msg_t *m = calloc(1, sizeof(*m));
        if (m == NULL) {
            status = FS_QUEUE_ERROR; /* the rest are redelivered after the ack wait */
            break;
        }
        m->q = q;
        m->lane = &lanes[lane];
        m->msg = list.Msgs[i];
        m->clock_us = fs_now_us();
        list.Msgs[i] = NULL; /* now m's */
        char why[128];
        if (parse_msg(m, why, sizeof(why))) {
            out[(*count)++] = m;
            continue;
        }
        fs_log(FS_LOG_ERROR, "queue", "message %" PRIu64 " of %s: %s; dead-lettered", m->sequence,
               m->lane->stream, why);
        snprintf(m->payment_id, sizeof(m->payment_id), "unknown");
        fs_queue_msg_dead_letter(m, why);
        fs_queue_msg_free(m);
    }
    natsMsgList_Destroy(&list); /* frees those not taken */
    return status;
}

fs_queue_status_t fs_queue_fetch(fs_queue_t *q, fs_queue_msg_t **out, int max, int timeout_ms,
                                 int *count)
{
    return fetch(q, LANE_PAYMENTS, out, max, timeout_ms, count);
}

fs_queue_status_t fs_queue_fetch_notifications(fs_queue_t *q, fs_queue_msg_t **out, int max,
                                               int timeout_ms, int *count)
{
    return fetch(q, LANE_NOTIFICATIONS, out, max, timeout_ms, count);
}

const char *fs_queue_msg_id(const fs_queue_msg_t *m)
{
    FS_ASSERT(m != NULL);
    return m->payment_id;
}

const char *fs_queue_msg_payment_id(const fs_queue_msg_t *m)
{
    FS_ASSERT(m != NULL);
    return m->payment_id;
}

const char *fs_queue_msg_request_id(const fs_queue_msg_t *m)
{
    FS_ASSERT(m != NULL);
    return m->request_id;
}

uint64_t fs_queue_msg_deliveries(const fs_queue_msg_t *m)
{
    FS_ASSERT(m != NULL);
    return m->deliveries;
}

fs_queue_status_t fs_queue_msg_ack(fs_queue_msg_t *m)
{
    FS_ASSERT(m != NULL);
    return status_of(natsMsg_Ack(m->msg, NULL));
}

fs_queue_status_t fs_queue_msg_nak(fs_queue_msg_t *m, int64_t delay_ms)
{
    FS_ASSERT(m != NULL);
    if (delay_ms < 0) return FS_QUEUE_INVALID;
    return status_of(natsMsg_NakWithDelay(m->msg, delay_ms, NULL));
}

fs_queue_status_t fs_queue_msg_in_progress(fs_queue_msg_t *m)
{
    FS_ASSERT(m != NULL);
    /* Most work ends in milliseconds: telling the broker at every step was
     * one more message per step for it and for us, for nothing. */
    uint64_t now = fs_now_us();
    if (now - m->clock_us < (uint64_t)FS_QUEUE_IN_PROGRESS_AFTER_MS * 1000) return FS_QUEUE_OK;
    m->clock_us = now;
    return status_of(natsMsg_InProgress(m->msg, NULL));
}

fs_queue_status_t fs_queue_msg_dead_letter(fs_queue_msg_t *m, const char *reason)
{
    FS_ASSERT(m != NULL && reason != NULL);
    fs_queue_t *q = m->q;
    natsMsg *dead = NULL;
    natsStatus s = natsMsg_Create(&dead, m->lane->dead_subject, NULL,
                                  natsMsg_GetData(m->msg), natsMsg_GetDataLength(m->msg));
    char text[FS_QUEUE_REASON_LEN_MAX + 1], number[32], msg_id[FS_ID_LEN_MAX + 32];
    /* A header value is one line: anything but printable ASCII becomes a space. */
    snprintf(text, sizeof(text), "%s", reason);
    for (char *c = text; *c != '\0'; c++) {
        if (*c < ' ' || *c > '~') *c = ' ';
    }
    if (s == NATS_OK && m->request_id[0] != '\0')
        s = natsMsgHeader_Set(dead, FS_QUEUE_HEADER_REQUEST_ID, m->request_id);
    if (s == NATS_OK) s = natsMsgHeader_Set(dead, FS_QUEUE_HEADER_DEAD_REASON, text);
    snprintf(number, sizeof(number), "%" PRIu64, m->deliveries);
    if (s == NATS_OK) s = natsMsgHeader_Set(dead, FS_QUEUE_HEADER_DEAD_DELIVERIES, number);
    snprintf(number, sizeof(number), "%" PRIu64, m->sequence);
    if (s == NATS_OK) s = natsMsgHeader_Set(dead, FS_QUEUE_HEADER_DEAD_SEQUENCE, number);
    if (s == NATS_OK) {
        jsPubOptions po;
        jsPubOptions_Init(&po);
        snprintf(msg_id, sizeof(msg_id), "%s.%" PRIu64, m->payment_id, m->sequence);
        po.MsgId = msg_id;
        po.ExpectStream = m->lane->dead_stream;
        jsErrCode code = 0;
        s = js_PublishMsg(NULL, q->js, dead, &po, &code);
        if (s != NATS_OK)
            fs_log(FS_LOG_ERROR, "queue", "dead-lettering %s failed: %s (%d); it stays queued",
                   m->payment_id, natsStatus_GetText(s), (int)code);
    }
    natsMsg_Destroy(dead);
    if (s == NATS_OK) s = natsMsg_Ack(m->msg, NULL);
    if (s == NATS_OK) {
        atomic_fetch_add(&q->dead_lettered, 1);
        fs_metrics_add(FS_M_QUEUE_DEAD_LETTERS, m->lane->dead_stream, NULL, NULL, 1);
        fs_log(FS_LOG_WARN, "queue", "%s %s dead-lettered after %" PRIu64 " deliveries: %s",
               m->lane->what, m->payment_id, m->deliveries, text);
    }
    return status_of(s);
}

fs_queue_status_t fs_queue_dead_letter_notification(fs_queue_t *q, const char *delivery_id,
                                                    const char *reason)
{
    FS_ASSERT(q != NULL && reason != NULL);
    const lane_t *lane = &lanes[LANE_NOTIFICATIONS];
    if (!ref_valid(delivery_id, FS_ID_LEN_MAX)) return FS_QUEUE_INVALID;
    char body[2 * FS_ID_LEN_MAX + 64];
    size_t n = (size_t)snprintf(body, sizeof(body), "{\"%s\":", lane->id_field);
    n = json_append_string(body, sizeof(body), n, delivery_id);
    n += (size_t)snprintf(body + n, sizeof(body) - n, ",\"request_id\":\"\"}");
    FS_ASSERT(n < sizeof(body));
    natsMsg *dead = NULL;
    natsStatus s = natsMsg_Create(&dead, lane->dead_subject, NULL, body, (int)n);
    char text[FS_QUEUE_REASON_LEN_MAX + 1], msg_id[FS_ID_LEN_MAX + 32];
    snprintf(text, sizeof(text), "%s", reason);
    for (char *c = text; *c != '\0'; c++) {
        if (*c < ' ' || *c > '~') *c = ' ';
    }
    if (s == NATS_OK) s = natsMsgHeader_Set(dead, FS_QUEUE_HEADER_DEAD_REASON, text);
    if (s == NATS_OK) s = natsMsgHeader_Set(dead, FS_QUEUE_HEADER_DEAD_DELIVERIES, "0");
    if (s == NATS_OK) s = natsMsgHeader_Set(dead, FS_QUEUE_HEADER_DEAD_SEQUENCE, "0");
    if (s == NATS_OK) {
        jsPubOptions po;
        jsPubOptions_Init(&po);
        snprintf(msg_id, sizeof(msg_id), "%s.0", delivery_id);
        po.MsgId = msg_id;
        po.ExpectStream = lane->dead_stream;
        jsErrCode code = 0;
        s = js_PublishMsg(NULL, q->js, dead, &po, &code);
        if (s != NATS_OK)
            fs_log(FS_LOG_ERROR, "queue", "dead-lettering %s failed: %s (%d)", delivery_id,
                   natsStatus_GetText(s), (int)code);
    }
    natsMsg_Destroy(dead);
    if (s == NATS_OK) {
        atomic_fetch_add(&q->dead_lettered, 1);
        fs_metrics_add(FS_M_QUEUE_DEAD_LETTERS, lane->dead_stream, NULL, NULL, 1);
        fs_log(FS_LOG_WARN, "queue", "delivery %s dead-lettered: %s", delivery_id, text);
    }
    return status_of(s);
}

void fs_queue_msg_free(fs_queue_msg_t *m)
{
    if (m == NULL) return;
    natsMsg_Destroy(m->msg);
    free(m);
}

/* ---- core NATS (not JetStream): the admin console's live stream ---- */

fs_queue_status_t fs_queue_publish_core(fs_queue_t *q, const char *subject, const void *data,
                                        size_t len)
{
    FS_ASSERT(q != NULL && subject != NULL);
    if (len > INT_MAX) return FS_QUEUE_INVALID;
    /* While reconnecting, libnats would buffer it for later: a live view
     * has no use for old news. */
    if (!fs_queue_connected(q)) return FS_QUEUE_UNAVAILABLE;
    return status_of(natsConnection_Publish(q->nc, subject, data, (int)len));
}

struct fs_queue_sub {
    natsSubscription *sub;
    fs_queue_core_cb cb;
    void *arg;
};

static void on_core_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc;
    (void)sub;
    fs_queue_sub_t *s = closure;
    s->cb(s->arg, natsMsg_GetSubject(msg), natsMsg_GetData(msg),
          (size_t)natsMsg_GetDataLength(msg));
    natsMsg_Destroy(msg);
}

fs_queue_sub_t *fs_queue_subscribe_core(fs_queue_t *q, const char *subject, fs_queue_core_cb cb,
                                        void *arg)
{
    FS_ASSERT(q != NULL && subject != NULL && cb != NULL);
    fs_queue_sub_t *s = calloc(1, sizeof(*s));
    if (s == NULL) return NULL;
    s->cb = cb;
    s->arg = arg;
    if (natsConnection_Subscribe(&s->sub, q->nc, subject, on_core_msg, s) != NATS_OK) {
        free(s);
        return NULL;
    }
    return s;
}

void fs_queue_unsubscribe_core(fs_queue_sub_t *s)
{
    if (s == NULL) return;
    /* A drain delivers what is pending and lets the callback return before
     * the subscription is freed; if the connection is gone, unsubscribe. */
    if (natsSubscription_Drain(s->sub) == NATS_OK) {
        natsSubscription_WaitForDrainCompletion(s->sub, FS_QUEUE_CLOSE_WAIT_MS);
    } else {
        natsSubscription_Unsubscribe(s->sub);
    }
    natsSubscription_Destroy(s->sub);
    free(s);
}
