/*
 * store.c: group commit over one non-blocking libpq connection (see store.h).
 */
#include "store.h"

#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

#include "../core/core.h"

static const char batch_sql[] =
    "SELECT o_idx, o_outcome, o_replayed, o_payload FROM fs_batch($1::jsonb)";

typedef struct pending {
    struct pending *next;
    json_t *item;
    fs_store_cb cb;
    void *arg;
    bool solo; /* send alone: its group failed and is being split */
} pending_t;

typedef enum { STATE_DOWN, STATE_CONNECTING, STATE_IDLE, STATE_BUSY } state_t;

struct fs_store {
    struct event_base *base;
    fs_store_config_t config;
    char *conninfo;
    PGconn *conn;
    state_t state;
    struct event *connect_ev; /* one-shot, while connecting */
    struct event *read_ev;    /* persistent, while connected */
    struct event *write_ev;   /* persistent, while output is unsent */
    struct event *wait_ev;    /* closes a group after batch_wait_us */
    struct event *retry_ev;   /* reconnection back-off */
    int reconnect_ms;
    pending_t *head, *tail;
    int queued;
    pending_t *inflight[FS_BATCH_ITEMS_MAX];
    int inflight_count;
    int retries;
    char *sent;         /* the in-flight group's parameter, kept to resend it */
    PGresult *result;   /* the in-flight group's result, once it arrives */
};

static void connect_start(fs_store_t *s);
static void send_group(fs_store_t *s);

static void reply(pending_t *p, const char *outcome, bool replayed, const char *payload)
{
    fs_store_result_t r = {.outcome = outcome, .replayed = replayed, .payload = payload};
    p->cb(p->arg, &r);
    json_decref(p->item);
    free(p);
}

static void reply_unavailable(pending_t *p)
{
    reply(p, "unavailable", false,
          "{\"message\":\"The database is unavailable; retry with the same "
          "Idempotency-Key.\",\"param\":null}");
}

static void queue_push_front(fs_store_t *s, pending_t *p)
{
    p->next = s->head;
    s->head = p;
    if (s->tail == NULL) s->tail = p;
    s->queued++;
}

static pending_t *queue_pop(fs_store_t *s)
{
    pending_t *p = s->head;
    if (p == NULL) return NULL;
    s->head = p->next;
    if (s->head == NULL) s->tail = NULL;
    s->queued--;
    p->next = NULL;
    return p;
}

static void fail_queued(fs_store_t *s)
{
    pending_t *p;
    while ((p = queue_pop(s)) != NULL) reply_unavailable(p);
}

static void group_clear(fs_store_t *s)
{
    free(s->sent);
    s->sent = NULL;
    if (s->result != NULL) PQclear(s->result);
    s->result = NULL;
    s->inflight_count = 0;
    s->retries = 0;
}

static void conn_close(fs_store_t *s)
{
    if (s->read_ev != NULL) event_free(s->read_ev);
    if (s->write_ev != NULL) event_free(s->write_ev);
    if (s->connect_ev != NULL) event_free(s->connect_ev);
    s->read_ev = s->write_ev = s->connect_ev = NULL;
    if (s->conn != NULL) PQfinish(s->conn);
    s->conn = NULL;
    s->state = STATE_DOWN;
}

/* The connection broke: the in-flight group's outcome is unknown. */
static void conn_lost(fs_store_t *s, const char *why)
{
    fs_log(FS_LOG_ERROR, "store", "database connection lost: %s", why);
    int n = s->inflight_count;
    pending_t *items[FS_BATCH_ITEMS_MAX];
    memcpy(items, s->inflight, sizeof(items[0]) * (size_t)n);
    group_clear(s);
    conn_close(s);
    for (int i = 0; i < n; i++) reply_unavailable(items[i]);
    struct timeval tv = {0, 0};
    evtimer_add(s->retry_ev, &tv);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    connect_start(arg);
}

static void schedule_reconnect(fs_store_t *s)
{
    struct timeval tv = {s->reconnect_ms / 1000, (s->reconnect_ms % 1000) * 1000};
    evtimer_add(s->retry_ev, &tv);
    s->reconnect_ms *= 2;
    if (s->reconnect_ms > FS_STORE_RECONNECT_MS_MAX) s->reconnect_ms = FS_STORE_RECONNECT_MS_MAX;
}

static void maybe_send(fs_store_t *s)
{
    if (s->state != STATE_IDLE || s->queued == 0) return;
    if (s->queued >= s->config.batch_items || s->config.batch_wait_us == 0 || s->head->solo) {
        evtimer_del(s->wait_ev);
        send_group(s);
        return;
    }
    if (!evtimer_pending(s->wait_ev, NULL)) {
        struct timeval tv = {0, s->config.batch_wait_us};
        evtimer_add(s->wait_ev, &tv);
    }
}

static void on_wait(evutil_socket_t fd, short what, void *arg)
{
    fs_store_t *s = arg;
    (void)fd;
    (void)what;
    if (s->state == STATE_IDLE && s->queued > 0) send_group(s);
}

static void flush_output(fs_store_t *s)
{
    int r = PQflush(s->conn);
    if (r < 0) return conn_lost(s, PQerrorMessage(s->conn));
    if (r == 1) {
        if (!event_pending(s->write_ev, EV_WRITE, NULL)) event_add(s->write_ev, NULL);
    } else {
        event_del(s->write_ev);
    }
}

static void transmit(fs_store_t *s)
{
    const char *params[1] = {s->sent};
    if (!PQsendQueryParams(s->conn, batch_sql, 1, NULL, params, NULL, NULL, 0)) {
        return conn_lost(s, PQerrorMessage(s->conn));
    }
    s->state = STATE_BUSY;
    flush_output(s);
}

static void send_group(fs_store_t *s)
{
    FS_ASSERT(s->state == STATE_IDLE && s->inflight_count == 0);
    json_t *array = json_array();
    while (s->head != NULL && s->inflight_count < s->config.batch_items) {
        if (s->head->solo && s->inflight_count > 0) break;
        pending_t *p = queue_pop(s);
        s->inflight[s->inflight_count++] = p;
        json_array_append(array, p->item);
        if (p->solo) break;
    }
    s->sent = json_dumps(array, JSON_COMPACT);
    json_decref(array);
    FS_ASSERT(s->sent != NULL);
    transmit(s);
}

/* The group's result has arrived in full. */
static void group_done(fs_store_t *s)
{
    PGresult *res = s->result;
    int n = s->inflight_count;
    pending_t *items[FS_BATCH_ITEMS_MAX];
    memcpy(items, s->inflight, sizeof(items[0]) * (size_t)n);
    bool answered[FS_BATCH_ITEMS_MAX] = {false};

    if (res != NULL && PQresultStatus(res) == PGRES_FATAL_ERROR) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        bool transient = state != NULL
                         && (strcmp(state, "40P01") == 0 || strcmp(state, "40001") == 0);
        if (transient && s->retries < FS_STORE_RETRIES_MAX) {
            s->retries++;
            fs_log(FS_LOG_WARN, "store", "group of %d retried (%s), attempt %d", n, state,
                   s->retries);
            PQclear(s->result);
            s->result = NULL;
            s->state = STATE_IDLE;
            return transmit(s);
        }
        fs_log(FS_LOG_ERROR, "store", "group of %d failed: %s", n, PQresultErrorMessage(res));
        group_clear(s);
        s->state = STATE_IDLE;
        if (n > 1) {
            /* Split: each item goes again alone, in its original order. */
            for (int i = n - 1; i >= 0; i--) {
                items[i]->solo = true;
                queue_push_front(s, items[i]);
            }
            return maybe_send(s);
        }
        reply(items[0], "internal", false,
              "{\"message\":\"The request failed inside FinSys; it changed nothing.\","
              "\"param\":null}");
        return maybe_send(s);
    }

    s->result = NULL;
    group_clear(s);
    s->state = STATE_IDLE;
    if (res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK) {
        for (int r = 0; r < PQntuples(res); r++) {
            int i = atoi(PQgetvalue(res, r, 0));
            if (i < 0 || i >= n || answered[i]) continue;
            answered[i] = true;
            reply(items[i], PQgetvalue(res, r, 1), PQgetvalue(res, r, 2)[0] == 't',
                  PQgetvalue(res, r, 3));
        }
    }
    for (int i = 0; i < n; i++) {
        if (!answered[i]) {
            reply(items[i], "internal", false,
                  "{\"message\":\"The database gave no answer for this request.\","
                  "\"param\":null}");
        }
    }
    if (res != NULL) PQclear(res);
    maybe_send(s);
}

static void on_socket(evutil_socket_t fd, short what, void *arg)
{
    fs_store_t *s = arg;
    (void)fd;
    if (what & EV_WRITE) {
        flush_output(s);
        if (s->conn == NULL) return;
    }
    if (!(what & EV_READ)) return;
    if (!PQconsumeInput(s->conn)) return conn_lost(s, PQerrorMessage(s->conn));
    while (s->state == STATE_BUSY && !PQisBusy(s->conn)) {
        PGresult *res = PQgetResult(s->conn);
        if (res == NULL) return group_done(s);
        if (s->result == NULL) {
            s->result = res;
        } else {
            PQclear(res);
        }
    }
    if (s->state != STATE_BUSY) {
        /* Nothing in flight: drain notifications so the socket stops firing. */
        PGnotify *n;
        while ((n = PQnotifies(s->conn)) != NULL) PQfreemem(n);
        if (PQstatus(s->conn) == CONNECTION_BAD) conn_lost(s, "server closed the connection");
    }
}

static void on_notice(void *arg, const char *message)
{
    (void)arg;
    fs_log(FS_LOG_DEBUG, "store", "notice: %s", message);
}

static void on_connect(evutil_socket_t fd, short what, void *arg)
{
    fs_store_t *s = arg;
    (void)fd;
    (void)what;
    event_free(s->connect_ev);
    s->connect_ev = NULL;
    PostgresPollingStatusType st = PQconnectPoll(s->conn);
    if (st == PGRES_POLLING_FAILED) {
        fs_log(FS_LOG_ERROR, "store", "cannot connect to the database: %s",
               PQerrorMessage(s->conn));
        conn_close(s);
        fail_queued(s);
        return schedule_reconnect(s);
    }
    int sock = PQsocket(s->conn); /* may change while connecting */
    if (st == PGRES_POLLING_OK) {
        PQsetnonblocking(s->conn, 1);
        PQsetNoticeProcessor(s->conn, on_notice, NULL);
        s->read_ev = event_new(s->base, sock, EV_READ | EV_PERSIST, on_socket, s);
        s->write_ev = event_new(s->base, sock, EV_WRITE | EV_PERSIST, on_socket, s);
        event_add(s->read_ev, NULL);
        s->state = STATE_IDLE;
        s->reconnect_ms = FS_STORE_RECONNECT_MS_MIN;
        fs_log(FS_LOG_INFO, "store", "connected to the database");
        return maybe_send(s);
    }
    short ev = st == PGRES_POLLING_READING ? EV_READ : EV_WRITE;
    s->connect_ev = event_new(s->base, sock, ev, on_connect, s);
    event_add(s->connect_ev, NULL);
}

static void connect_start(fs_store_t *s)
{
    FS_ASSERT(s->state == STATE_DOWN);
    s->conn = PQconnectStart(s->conninfo);
    if (s->conn == NULL || PQstatus(s->conn) == CONNECTION_BAD) {
        fs_log(FS_LOG_ERROR, "store", "cannot start a database connection: %s",
               s->conn != NULL ? PQerrorMessage(s->conn) : "out of memory");
        conn_close(s);
        fail_queued(s);
        return schedule_reconnect(s);
    }
    s->state = STATE_CONNECTING;
    s->connect_ev = event_new(s->base, PQsocket(s->conn), EV_WRITE, on_connect, s);
    event_add(s->connect_ev, NULL);
}

fs_store_t *fs_store_new(struct event_base *base, const fs_store_config_t *config)
{
    fs_store_t *s = calloc(1, sizeof(*s));
    FS_ASSERT(s != NULL);
    FS_ASSERT(config->batch_items >= 1 && config->batch_items <= FS_BATCH_ITEMS_MAX);
    FS_ASSERT(config->batch_wait_us >= 0 && config->batch_wait_us <= FS_BATCH_WAIT_US_MAX);
    s->base = base;
    s->config = *config;
    s->conninfo = strdup(config->conninfo);
    s->config.conninfo = s->conninfo;
    s->wait_ev = evtimer_new(base, on_wait, s);
    s->retry_ev = evtimer_new(base, on_retry, s);
    s->reconnect_ms = FS_STORE_RECONNECT_MS_MIN;
    s->state = STATE_DOWN;
    connect_start(s);
    return s;
}

void fs_store_free(fs_store_t *s)
{
    if (s == NULL) return;
    for (int i = 0; i < s->inflight_count; i++) reply_unavailable(s->inflight[i]);
    s->inflight_count = 0;
    group_clear(s);
    fail_queued(s);
    conn_close(s);
    event_free(s->wait_ev);
    event_free(s->retry_ev);
    free(s->conninfo);
    free(s);
}

static void on_overloaded(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    pending_t *p = arg;
    reply(p, "overloaded", false,
          "{\"message\":\"FinSys is overloaded; retry with the same Idempotency-Key.\","
          "\"param\":null}");
}

void fs_store_submit(fs_store_t *s, json_t *item, fs_store_cb cb, void *arg)
{
    pending_t *p = calloc(1, sizeof(*p));
    FS_ASSERT(p != NULL);
    p->item = item;
    p->cb = cb;
    p->arg = arg;
    if (s->queued >= FS_STORE_QUEUE_MAX) {
        struct timeval now = {0, 0};
        event_base_once(s->base, -1, EV_TIMEOUT, on_overloaded, p, &now);
        return;
    }
    if (s->tail != NULL) {
        s->tail->next = p;
    } else {
        s->head = p;
    }
    s->tail = p;
    s->queued++;
    if (s->state == STATE_DOWN && !evtimer_pending(s->retry_ev, NULL)) connect_start(s);
    maybe_send(s);
}
