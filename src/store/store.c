/*
 * store.c: group commit over non-blocking libpq connections (see store.h).
 *
 * A store owns one queue and config->connections connections. A group is
 * taken from the queue when batch_items items wait, or batch_wait_us after
 * the first of them arrived, and goes to any idle connection; while groups
 * are in flight the queue refills, so groups grow with the load and several
 * commits share PostgreSQL's WAL flushes.
 */
#include "store.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "../core/core.h"
#include "../export/export.h" /* fs_export_peer_is, fs_export_renice: the read backends' nice */
#include "../metrics/metrics.h"
#include "../op/op.h"

static const char batch_sql[] =
    "SELECT o_idx, o_outcome, o_replayed, o_payload FROM fs_batch($1::jsonb)";
/* A replica store's (issue 14): the read only once the server has replayed
 * $2 (db/functions/replica.sql). */
static const char read_at_sql[] =
    "SELECT o_idx, o_outcome, o_replayed, o_payload FROM fs_read_at($1::jsonb, $2::pg_lsn)";
/* An item of a replica store without a "read_lsn": no replica has replayed
 * this far, so it is read elsewhere. */
#define LSN_NEVER "FFFFFFFF/FFFFFFFF"

typedef struct pending {
    struct pending *next;
    json_t *item;
    fs_store_cb cb;
    void *arg;
    bool solo; /* send alone: its op is FS_OPF_SOLO, or its group failed and is split */
} pending_t;

/* DOWN -> CONNECTING -> SETUP (session settings sent) -> IDLE <-> BUSY */
typedef enum { STATE_DOWN, STATE_CONNECTING, STATE_SETUP, STATE_IDLE, STATE_BUSY } state_t;

/* Session settings of every connection: fs_batch() is written for READ
 * COMMITTED (each statement sees what committed before it), and no statement
 * may hold its locks without bound. fs_batch() adds a row naming the
 * accounts a group changed (for the hook of fs_store_on_changed) when
 * finsys.report_changes is on. A read store's transactions are read only,
 * with its own, shorter timeout (issue 13). */
static void setup_sql(const fs_store_config_t *config, char *buf, size_t len)
{
    int timeout_ms = config->statement_timeout_ms > 0 ? config->statement_timeout_ms
                                                      : FS_STORE_STATEMENT_TIMEOUT_MS;
    int n = snprintf(buf, len,
                     "SET default_transaction_isolation = 'read committed'; "
                     "SET default_transaction_read_only = %s; "
                     "SET statement_timeout = %d; "
                     "SET idle_in_transaction_session_timeout = %d; "
                     "SET finsys.report_changes = '%s'",
                     config->read_only ? "on" : "off", timeout_ms, timeout_ms,
                     config->read_only ? "off" : "on");
    FS_ASSERT(n > 0 && (size_t)n < len);
}

typedef struct {
    fs_store_t *store;
    PGconn *conn;
    state_t state;
    struct event *connect_ev; /* one-shot, while connecting */
    struct event *read_ev;    /* persistent, while connected */
    struct event *write_ev;   /* persistent, while output is unsent */
    struct event *retry_ev;   /* reconnection back-off */
    struct event *deadline_ev; /* connecting, or a group in flight, for too long */
    int reconnect_ms;
    pending_t *inflight[FS_BATCH_ITEMS_MAX];
    int inflight_count;
    int retries;
    char *sent;       /* the in-flight group's parameter, kept to resend it */
    uint64_t sent_us; /* when it was sent */
    PGresult *result; /* the in-flight group's result, once it arrives */
    bool in_use;      /* counted in finsys_store_connections_in_use */
    bool up;          /* counted in `connected` */
    bool read_only;   /* a read store's (issue 13): never counted in `connected` */
    bool running;     /* holds one of the process's FS_READ_RUNNING_MAX reads */
    char min_lsn[32]; /* a replica store's: the in-flight read's "read_lsn" */
} conn_t;

/* Connections of every store of the process that take groups: the
 * database's readiness in /metrics (fs_store_connected). */
static _Atomic int connected;

/* A group in flight or not, for finsys_store_connections_in_use. */
static void count_in_use(conn_t *c, bool in_use)
{
    if (c->in_use == in_use) return;
    c->in_use = in_use;
    fs_metrics_gauge_add(FS_M_STORE_CONNECTIONS_IN_USE, NULL, in_use ? 1 : -1);
}

static void count_up(conn_t *c, bool up)
{
    /* A read store's connections do not make the database ready for
     * payments. */
    if (c->read_only) return;
    if (c->up == up) return;
    c->up = up;
    atomic_fetch_add_explicit(&connected, up ? 1 : -1, memory_order_relaxed);
}

struct fs_store {
    struct event_base *base;
    fs_store_config_t config;
    char *conninfo;
    struct event *wait_ev; /* closes a group batch_wait_us after its first item */
    pending_t *head, *tail;
    int queued;
    int connections;
    conn_t conns[FS_STORE_CONNECTIONS_MAX];
    fs_store_changed_cb on_changed; /* see fs_store_on_changed */
    void *on_changed_arg;
    int queue_max;     /* config's, or FS_STORE_QUEUE_MAX */
    struct event *wake_ev; /* a read store's: a running read of the process ended */
    char setup[512];   /* the session settings (setup_sql) */
};

static void connect_start(conn_t *c);
static void maybe_send(fs_store_t *s);

/* --- reads (issue 13) ---
 * The read stores of the process (one per HTTP thread) run at most
 * FS_READ_RUNNING_MAX reads at once between them: a read store sends an
 * item only with one of these places, and the end of a read (answered, or
 * its connection lost) gives it back and wakes every read store, on its own
 * loop, to try again. */
static pthread_mutex_t reads_lock = PTHREAD_MUTEX_INITIALIZER;
/* Two a thread: the primary's and, with FINSYS_DATABASE_READ_URL, the
 * replica's (issue 14). */
#define READ_STORES_MAX (2 * FS_HTTP_THREADS_MAX)
static fs_store_t *read_stores[READ_STORES_MAX];
static int reads_running;

static bool read_place_take(void)
{
    pthread_mutex_lock(&reads_lock);
    bool ok = reads_running < FS_READ_RUNNING_MAX;
    if (ok) reads_running++;
    pthread_mutex_unlock(&reads_lock);
    return ok;
}

static void read_place_give(void)
{
    pthread_mutex_lock(&reads_lock);
    FS_ASSERT(reads_running > 0);
    reads_running--;
    for (int i = 0; i < READ_STORES_MAX; i++) {
        if (read_stores[i] != NULL) event_active(read_stores[i]->wake_ev, EV_TIMEOUT, 0);
    }
    pthread_mutex_unlock(&reads_lock);
}

static void read_store_register(fs_store_t *s, bool on)
{
    pthread_mutex_lock(&reads_lock);
    bool done = false;
    for (int i = 0; i < READ_STORES_MAX && !done; i++) {
        if (on && read_stores[i] == NULL) {
            read_stores[i] = s;
            done = true;
        } else if (!on && read_stores[i] == s) {
            read_stores[i] = NULL;
            done = true;
        }
    }
    pthread_mutex_unlock(&reads_lock);
    FS_ASSERT(done);
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    maybe_send(arg);
}

static void reply_at(pending_t *p, const char *outcome, bool replayed, const char *payload,
                     const char *read_at, const char *read_lsn)
{
    fs_store_result_t r = {.outcome = outcome,
                           .replayed = replayed,
                           .payload = payload,
                           .read_at = read_at,
                           .read_lsn = read_lsn};
    p->cb(p->arg, &r);
    json_decref(p->item);
    free(p);
}

static void reply(pending_t *p, const char *outcome, bool replayed, const char *payload)
{
    reply_at(p, outcome, replayed, payload, NULL, NULL);
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

static bool any_connected(const fs_store_t *s)
{
    for (int i = 0; i < s->connections; i++) {
        if (s->conns[i].state == STATE_IDLE || s->conns[i].state == STATE_BUSY) return true;
    }
    return false;
}

/* Fails what waits when no connection could take it. */
static void fail_queued_if_down(fs_store_t *s)
{
    if (any_connected(s)) return;
    pending_t *p;
    while ((p = queue_pop(s)) != NULL) reply_unavailable(p);
}

static void group_clear(conn_t *c)
{
    if (c->running) {
        c->running = false;
        read_place_give();
    }
    free(c->sent);
    c->sent = NULL;
    if (c->result != NULL) PQclear(c->result);
    c->result = NULL;
    c->inflight_count = 0;
    c->retries = 0;
}

static void conn_close(conn_t *c)
{
    evtimer_del(c->deadline_ev);
    if (c->read_ev != NULL) event_free(c->read_ev);
    if (c->write_ev != NULL) event_free(c->write_ev);
    if (c->connect_ev != NULL) event_free(c->connect_ev);
    c->read_ev = c->write_ev = c->connect_ev = NULL;
    if (c->conn != NULL) PQfinish(c->conn);
    c->conn = NULL;
    c->state = STATE_DOWN;
    count_in_use(c, false);
    count_up(c, false);
}

static void schedule_reconnect(conn_t *c)
{
    struct timeval tv = {c->reconnect_ms / 1000, (c->reconnect_ms % 1000) * 1000};
    evtimer_add(c->retry_ev, &tv);
    c->reconnect_ms *= 2;
    if (c->reconnect_ms > FS_STORE_RECONNECT_MS_MAX) c->reconnect_ms = FS_STORE_RECONNECT_MS_MAX;
}

/* The connection broke: the in-flight group's outcome is unknown. */
static void conn_lost(conn_t *c, const char *why)
{
    fs_log(FS_LOG_ERROR, "store", "database connection lost: %s", why);
    int n = c->inflight_count;
    pending_t *items[FS_BATCH_ITEMS_MAX];
    memcpy(items, c->inflight, sizeof(items[0]) * (size_t)n);
    group_clear(c);
    conn_close(c);
    for (int i = 0; i < n; i++) reply_unavailable(items[i]);
    schedule_reconnect(c);
    fail_queued_if_down(c->store);
    maybe_send(c->store);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    connect_start(arg);
}

static void flush_output(conn_t *c)
{
    int r = PQflush(c->conn);
    if (r < 0) {
        conn_lost(c, PQerrorMessage(c->conn));
        return;
    }
    if (r == 1) {
        if (!event_pending(c->write_ev, EV_WRITE, NULL)) event_add(c->write_ev, NULL);
    } else {
        event_del(c->write_ev);
    }
}

static void transmit(conn_t *c)
{
    const char *params[2] = {c->sent, c->min_lsn};
    bool replica = c->store->config.replica;
    if (!PQsendQueryParams(c->conn, replica ? read_at_sql : batch_sql, replica ? 2 : 1, NULL,
                           params, NULL, NULL, 0)) {
        conn_lost(c, PQerrorMessage(c->conn));
        return;
    }
    c->state = STATE_BUSY;
    c->sent_us = fs_now_us();
    count_in_use(c, true);
    struct timeval tv = {FS_STORE_GROUP_DEADLINE_MS / 1000, 0};
    evtimer_add(c->deadline_ev, &tv);
    flush_output(c);
}

static void send_group(fs_store_t *s, conn_t *c)
{
    FS_ASSERT(c->state == STATE_IDLE && c->inflight_count == 0);
    c->running = c->read_only; /* its place taken by the caller */
    json_t *array = json_array();
    while (s->head != NULL && c->inflight_count < s->config.batch_items) {
        if (s->head->solo && c->inflight_count > 0) break;
        pending_t *p = queue_pop(s);
        c->inflight[c->inflight_count++] = p;
        if (s->config.replica) {
            /* One item a read (batch_items 1): its position goes as $2. */
            const char *lsn = json_string_value(json_object_get(p->item, "read_lsn"));
            snprintf(c->min_lsn, sizeof(c->min_lsn), "%s", lsn != NULL ? lsn : LSN_NEVER);
            json_object_del(p->item, "read_lsn");
        }
        json_array_append(array, p->item);
        if (p->solo) break;
    }
    c->sent = json_dumps(array, JSON_COMPACT);
    json_decref(array);
    FS_ASSERT(c->sent != NULL);
    transmit(c);
}

static conn_t *idle_conn(fs_store_t *s)
{
    for (int i = 0; i < s->connections; i++) {
        if (s->conns[i].state == STATE_IDLE) return &s->conns[i];
    }
    return NULL;
}

/* Sends full groups to idle connections; a partial group waits for
 * batch_wait_us after its first item (on_wait then sends it). */
static void maybe_send(fs_store_t *s)
{
    conn_t *c;
    while (s->queued > 0 && (c = idle_conn(s)) != NULL) {
        bool full = s->queued >= s->config.batch_items || s->head->solo;
        /* A read store sends with one of the process's running places
         * (read_place_give wakes it when one is given back). */
        if (s->config.read_only && full && !read_place_take()) break;
        if (!full && s->config.batch_wait_us > 0) {
            if (!evtimer_pending(s->wait_ev, NULL)) {
                struct timeval tv = {0, s->config.batch_wait_us};
                evtimer_add(s->wait_ev, &tv);
            }
            return;
        }
        send_group(s, c);
    }
    if (s->queued == 0) evtimer_del(s->wait_ev);
}

static void on_wait(evutil_socket_t fd, short what, void *arg)
{
    fs_store_t *s = arg;
    conn_t *c;
    (void)fd;
    (void)what;
    if (s->queued > 0 && (c = idle_conn(s)) != NULL && !s->config.read_only) send_group(s, c);
    maybe_send(s);
}

/* The group's result has arrived in full. */
static void group_done(conn_t *c)
{
    fs_store_t *s = c->store;
    PGresult *res = c->result;
    int n = c->inflight_count;
    pending_t *items[FS_BATCH_ITEMS_MAX];
    memcpy(items, c->inflight, sizeof(items[0]) * (size_t)n);
    bool answered[FS_BATCH_ITEMS_MAX] = {false};
    evtimer_del(c->deadline_ev);
    uint64_t took_us = fs_now_us() - c->sent_us;
    fs_log(FS_LOG_DEBUG, "store", "group of %d done in %llu us, %d queued", n,
           (unsigned long long)took_us, s->queued);
    count_in_use(c, false);
    fs_metrics_observe(FS_M_STORE_BATCH_ITEMS, NULL, n);
    fs_metrics_observe(FS_M_STORE_COMMIT_DURATION, NULL, (double)took_us / 1e6);

    if (res != NULL && PQresultStatus(res) == PGRES_FATAL_ERROR) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        if (state == NULL) {
            /* An error libpq made itself (out of memory, lost sync): the
             * server may still commit, so the outcome is unknown. */
            conn_lost(c, PQresultErrorMessage(res));
            return;
        }
        bool transient = state != NULL
                         && (strcmp(state, "40P01") == 0 || strcmp(state, "40001") == 0);
        if (transient && c->retries < FS_STORE_RETRIES_MAX) {
            c->retries++;
            fs_log(FS_LOG_WARN, "store", "group of %d retried (%s), attempt %d", n, state,
                   c->retries);
            PQclear(c->result);
            c->result = NULL;
            c->state = STATE_IDLE;
            transmit(c);
            return;
        }
        if (s->config.read_only && strcmp(state, "57014") == 0 && n == 1) {
            /* A read cancelled by its statement timeout (issue 13): a filter
             * no index serves; the client narrows it. */
            fs_log(FS_LOG_WARN, "store", "a read ran out of time%s: %s",
                   s->config.replica ? " on the replica" : "",
                   json_string_value(json_object_get(items[0]->item, "op")));
            group_clear(c);
            c->state = STATE_IDLE;
            reply(items[0], "read_timeout", false,
                  "{\"message\":\"This list or search took longer than "
                  FS_STR(FS_READ_STATEMENT_TIMEOUT_MS) " ms and was stopped; narrow its "
                  "filter (an account, a status, a type, a date range) or ask for a smaller "
                  "limit, and page with starting_after.\",\"param\":null}");
            maybe_send(s);
            return;
        }
        fs_log(FS_LOG_ERROR, "store", "group of %d failed: %s", n, PQresultErrorMessage(res));
        group_clear(c);
        c->state = STATE_IDLE;
        if (n > 1) {
            /* Split: each item goes again alone, in its original order. */
            for (int i = n - 1; i >= 0; i--) {
                items[i]->solo = true;
                queue_push_front(s, items[i]);
            }
        } else {
            reply(items[0], "internal", false,
                  "{\"message\":\"The request failed inside FinSys; it changed nothing.\","
                  "\"param\":null}");
        }
        maybe_send(s);
        return;
    }

    c->result = NULL;
    group_clear(c);
    c->state = STATE_IDLE;
    /* A replica store's row -2 (db/functions/replica.sql): where the read
     * ran; a stale replica's is the only row. */
    const char *read_at = NULL, *read_lsn = NULL;
    for (int r = 0; s->config.replica && res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK
                    && r < PQntuples(res); r++) {
        if (atoi(PQgetvalue(res, r, 0)) != -2) continue;
        const char *at = PQgetvalue(res, r, 1);
        read_lsn = PQgetvalue(res, r, 3);
        read_at = strcmp(at, "primary_at") == 0 ? "primary" : "replica";
        if (strcmp(at, "replica_stale") == 0 && n == 1) {
            reply_at(items[0], "replica_stale", false, read_lsn, read_at, read_lsn);
            PQclear(res);
            maybe_send(s);
            return;
        }
    }
    if (res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK && s->on_changed != NULL) {
        /* Committed: the caches hear of the changed accounts before any
         * item's answer goes out. */
        for (int r = 0; r < PQntuples(res); r++) {
            if (atoi(PQgetvalue(res, r, 0)) == -1
                && strcmp(PQgetvalue(res, r, 1), "accounts_changed") == 0)
                s->on_changed(s->on_changed_arg, PQgetvalue(res, r, 3));
        }
    }
    if (res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK) {
        for (int r = 0; r < PQntuples(res); r++) {
            int i = atoi(PQgetvalue(res, r, 0));
            if (i < 0 || i >= n || answered[i]) continue;
            answered[i] = true;
            reply_at(items[i], PQgetvalue(res, r, 1), PQgetvalue(res, r, 2)[0] == 't',
                     PQgetvalue(res, r, 3), read_at, read_lsn);
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

/* A read store's backend (issue 13) goes to FS_READ_NICE, as an export's
 * does (src/export/runner.c): a read at full speed takes a core, and at nice
 * 0 it took its full share from the payments' backends. Only a process of
 * this machine proven to hold the other end of this connection, when this
 * server may renice it (as root, or as PostgreSQL's user); otherwise it is
 * said once, and reads keep their priority. Reads /proc (kernel memory),
 * once a connection. */
static void nice_read_backend(conn_t *c)
{
    static atomic_bool said;
    pid_t pid = (pid_t)PQbackendPID(c->conn);
    char why[256] = "";
    bool ok = fs_export_peer_is(PQsocket(c->conn), pid, why, sizeof(why));
    ok = ok && fs_export_renice(pid, FS_READ_NICE, why, sizeof(why));
    if (atomic_exchange(&said, true)) return;
    if (ok)
        fs_log(FS_LOG_INFO, "store", "the read connections' PostgreSQL backends run at nice %d",
               FS_READ_NICE);
    else
        fs_log(FS_LOG_WARN, "store",
               "the read connections' PostgreSQL backends keep their priority (%s)", why);
}

/* The session settings are applied: the connection takes groups. */
static void setup_done(conn_t *c)
{
    PGresult *res = c->result;
    c->result = NULL;
    bool ok = res != NULL && PQresultStatus(res) == PGRES_COMMAND_OK;
    if (res != NULL) PQclear(res);
    evtimer_del(c->deadline_ev);
    if (!ok) {
        conn_lost(c, "the session settings failed");
        return;
    }
    if (c->read_only) nice_read_backend(c);
    c->state = STATE_IDLE;
    c->reconnect_ms = FS_STORE_RECONNECT_MS_MIN;
    count_up(c, true);
    fs_log(FS_LOG_DEBUG, "store", "connected to the database");
    maybe_send(c->store);
}

/* Connecting, or a group in flight, took too long: give up on the connection.
 * A group's outcome is then unknown (conn_lost answers 503). */
static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    conn_t *c = arg;
    (void)fd;
    (void)what;
    if (c->state == STATE_CONNECTING) {
        fs_log(FS_LOG_ERROR, "store", "connecting to the database timed out");
        conn_close(c);
        fail_queued_if_down(c->store);
        schedule_reconnect(c);
        return;
    }
    conn_lost(c, "no answer from the database in time");
}

static void on_socket(evutil_socket_t fd, short what, void *arg)
{
    conn_t *c = arg;
    (void)fd;
    if (what & EV_WRITE) {
        flush_output(c);
        if (c->conn == NULL) return;
    }
    if (!(what & EV_READ)) return;
    if (!PQconsumeInput(c->conn)) {
        conn_lost(c, PQerrorMessage(c->conn));
        return;
    }
    while ((c->state == STATE_BUSY || c->state == STATE_SETUP) && !PQisBusy(c->conn)) {
        PGresult *res = PQgetResult(c->conn);
        if (res == NULL) {
            c->state == STATE_SETUP ? setup_done(c) : group_done(c);
            return;
        }
        /* The rows come before the commit: an error at commit (a deferred
         * constraint, a serialization failure) is a later result, and it is
         * the one that counts. */
        if (c->result == NULL || PQresultStatus(res) == PGRES_FATAL_ERROR) {
            if (c->result != NULL) PQclear(c->result);
            c->result = res;
        } else {
            PQclear(res);
        }
    }
    if (c->state != STATE_BUSY && c->state != STATE_SETUP) {
        PGnotify *n;
        while ((n = PQnotifies(c->conn)) != NULL) PQfreemem(n);
        if (PQstatus(c->conn) == CONNECTION_BAD) conn_lost(c, "server closed the connection");
    }
}

static void on_notice(void *arg, const char *message)
{
    (void)arg;
    fs_log(FS_LOG_DEBUG, "store", "notice: %s", message);
}

static void on_connect(evutil_socket_t fd, short what, void *arg)
{
    conn_t *c = arg;
    (void)fd;
    (void)what;
    event_free(c->connect_ev);
    c->connect_ev = NULL;
    PostgresPollingStatusType st = PQconnectPoll(c->conn);
    if (st == PGRES_POLLING_FAILED) {
        fs_log(FS_LOG_ERROR, "store", "cannot connect to the database: %s",
               PQerrorMessage(c->conn));
        conn_close(c);
        fail_queued_if_down(c->store);
        schedule_reconnect(c);
        return;
    }
    int sock = PQsocket(c->conn); /* may change while connecting */
    struct event_base *base = c->store->base;
    if (st == PGRES_POLLING_OK) {
        char why[512];
        if (fs_store_role_refused(c->conn, why, sizeof(why)) != NULL) {
            fs_log(FS_LOG_ERROR, "store", "%s", why);
            conn_close(c);
            fail_queued_if_down(c->store);
            schedule_reconnect(c);
            return;
        }
        PQsetnonblocking(c->conn, 1);
        PQsetNoticeProcessor(c->conn, on_notice, NULL);
        c->read_ev = event_new(base, sock, EV_READ | EV_PERSIST, on_socket, c);
        c->write_ev = event_new(base, sock, EV_WRITE | EV_PERSIST, on_socket, c);
        event_add(c->read_ev, NULL);
        if (!PQsendQuery(c->conn, c->store->setup)) {
            conn_lost(c, PQerrorMessage(c->conn));
            return;
        }
        c->state = STATE_SETUP;
        flush_output(c);
        return;
    }
    short ev = st == PGRES_POLLING_READING ? EV_READ : EV_WRITE;
    c->connect_ev = event_new(base, sock, ev, on_connect, c);
    event_add(c->connect_ev, NULL);
}

static void connect_start(conn_t *c)
{
    FS_ASSERT(c->state == STATE_DOWN);
    /* Our defaults first: the configured connection string, expanded in
     * place of dbname, overrides them. Keepalives and tcp_user_timeout notice
     * a database that vanished from the network in seconds, not minutes. */
    static const char *const keys[] = {"keepalives",       "keepalives_idle",
                                       "keepalives_interval", "keepalives_count",
                                       "tcp_user_timeout", "dbname",
                                       NULL};
    const char *values[] = {"1", "10", "5", "3", FS_STR(FS_STORE_TCP_USER_TIMEOUT_MS),
                            c->store->conninfo, NULL};
    c->conn = PQconnectStartParams(keys, values, 1);
    if (c->conn == NULL || PQstatus(c->conn) == CONNECTION_BAD) {
        fs_log(FS_LOG_ERROR, "store", "cannot start a database connection: %s",
               c->conn != NULL ? PQerrorMessage(c->conn) : "out of memory");
        conn_close(c);
        fail_queued_if_down(c->store);
        schedule_reconnect(c);
        return;
    }
    c->state = STATE_CONNECTING;
    c->connect_ev = event_new(c->store->base, PQsocket(c->conn), EV_WRITE, on_connect, c);
    event_add(c->connect_ev, NULL);
    struct timeval tv = {FS_STORE_CONNECT_TIMEOUT_MS / 1000, 0};
    evtimer_add(c->deadline_ev, &tv);
}

fs_store_t *fs_store_new(struct event_base *base, const fs_store_config_t *config)
{
    fs_store_t *s = calloc(1, sizeof(*s));
    FS_ASSERT(s != NULL);
    FS_ASSERT(config->batch_items >= 1 && config->batch_items <= FS_BATCH_ITEMS_MAX);
    FS_ASSERT(config->batch_wait_us >= 0 && config->batch_wait_us <= FS_BATCH_WAIT_US_MAX);
    FS_ASSERT(config->connections >= 1 && config->connections <= FS_STORE_CONNECTIONS_MAX);
    s->base = base;
    s->config = *config;
    FS_ASSERT(!config->replica || (config->read_only && config->batch_items == 1));
    s->conninfo = strdup(config->conninfo);
    s->config.conninfo = s->conninfo;
    s->wait_ev = evtimer_new(base, on_wait, s);
    s->connections = config->connections;
    FS_ASSERT(config->queue_max >= 0 && config->statement_timeout_ms >= 0);
    s->queue_max = config->queue_max > 0 ? config->queue_max : FS_STORE_QUEUE_MAX;
    setup_sql(config, s->setup, sizeof(s->setup));
    if (config->read_only) {
        s->wake_ev = event_new(base, -1, 0, on_wake, s);
        read_store_register(s, true);
    }
    for (int i = 0; i < s->connections; i++) {
        conn_t *c = &s->conns[i];
        c->store = s;
        c->read_only = config->read_only;
        c->state = STATE_DOWN;
        c->reconnect_ms = FS_STORE_RECONNECT_MS_MIN;
        c->retry_ev = evtimer_new(base, on_retry, c);
        c->deadline_ev = evtimer_new(base, on_deadline, c);
        connect_start(c);
    }
    return s;
}

void fs_store_free(fs_store_t *s)
{
    if (s == NULL) return;
    for (int i = 0; i < s->connections; i++) {
        conn_t *c = &s->conns[i];
        for (int k = 0; k < c->inflight_count; k++) reply_unavailable(c->inflight[k]);
        c->inflight_count = 0;
        group_clear(c);
        conn_close(c);
        event_free(c->retry_ev);
        event_free(c->deadline_ev);
    }
    pending_t *p;
    while ((p = queue_pop(s)) != NULL) reply_unavailable(p);
    if (s->wake_ev != NULL) {
        read_store_register(s, false);
        event_free(s->wake_ev);
    }
    event_free(s->wait_ev);
    free(s->conninfo);
    free(s);
}

static void on_overloaded(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    reply(arg, "overloaded", false,
          "{\"message\":\"FinSys is overloaded; retry with the same Idempotency-Key.\","
          "\"param\":null}");
}

static void on_reads_overloaded(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    reply(arg, "reads_overloaded", false,
          "{\"message\":\"Too many lists and searches are waiting; retry shortly.\","
          "\"param\":null}");
}

static void submit(fs_store_t *s, json_t *item, fs_store_cb cb, void *arg, bool alone)
{
    pending_t *p = calloc(1, sizeof(*p));
    FS_ASSERT(p != NULL);
    p->item = item;
    p->cb = cb;
    p->arg = arg;
    p->solo = alone;
    if (s->queued >= s->queue_max) {
        /* Answer on the next loop turn, never inside this call. */
        struct timeval now = {0, 0};
        event_base_once(s->base, -1, EV_TIMEOUT,
                        s->config.read_only ? on_reads_overloaded : on_overloaded, p, &now);
        return;
    }
    if (s->tail != NULL) {
        s->tail->next = p;
    } else {
        s->head = p;
    }
    s->tail = p;
    s->queued++;
    maybe_send(s);
}

void fs_store_submit(fs_store_t *s, json_t *item, fs_store_cb cb, void *arg)
{
    /* The table says what must not share a group (src/op). */
    submit(s, item, cb, arg, fs_op_has(fs_op_of(item), FS_OPF_SOLO));
}

bool fs_store_connected(void)
{
    return atomic_load_explicit(&connected, memory_order_relaxed) > 0;
}

bool fs_store_up(const fs_store_t *s)
{
    return any_connected(s);
}

bool fs_store_idle(const fs_store_t *s)
{
    if (s->queued > 0) return false;
    for (int i = 0; i < s->connections; i++) {
        if (s->conns[i].state == STATE_BUSY) return false;
    }
    return true;
}

void fs_store_on_changed(fs_store_t *store, fs_store_changed_cb cb, void *arg)
{
    store->on_changed = cb;
    store->on_changed_arg = arg;
}
