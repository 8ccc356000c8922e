/*
 * stream.c: GET /admin/api/stream, the console's live view (Server-Sent
 * Events), and the worker's side that feeds it (see admin.h).
 *
 * Where the news comes from: the worker's search indexer reads every event
 * of the event log after it commits (db/functions/search.sql). After its
 * run's transaction commits, the worker publishes a summary of the events it
 * took as one core NATS message on fs.live.events (fire and forget: nothing
 * is stored, no ack is awaited, and a message with no subscriber is dropped
 * by the broker). The write path (fs_batch) does nothing for it.
 *
 * The server's hub subscribes. libnats calls it on a thread of its own: the
 * hub formats each message once into SSE frames (a reference-counted
 * buffer), queues it to every loop thread that has clients (a mutex-guarded
 * array, bounded) and wakes that loop with event_active. Each loop writes
 * the frames to its own clients; nothing of a loop is touched from another
 * thread.
 *
 * Bounds: FS_ADMIN_STREAM_CLIENTS_MAX clients per process (503 beyond),
 * FS_ADMIN_STREAM_CLIENTS_PER_ADDR_MAX per address (429 beyond), a client
 * whose unsent output passes FS_ADMIN_STREAM_CLIENT_BUFFER_MAX_BYTES is
 * dropped, and a loop's queue holds FS_ADMIN_STREAM_LOOP_QUEUE_MAX messages.
 * What is dropped is not retried: the page starts again from the overview.
 */
#define _GNU_SOURCE
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../auth/auth.h"
#include "../http/http.h"
#include "../op/op.h"
#include "../queue/queue.h"
#include "../store/store.h"
#include "admin.h"

/* A formatted message, shared by the loops it was queued to. */
typedef struct {
    atomic_int refs;
    size_t len;
    char text[];
} msg_t;

static msg_t *msg_new(const char *text, size_t len)
{
    msg_t *m = malloc(sizeof(*m) + len + 1);
    FS_ASSERT(m != NULL);
    atomic_init(&m->refs, 1);
    m->len = len;
    memcpy(m->text, text, len);
    m->text[len] = '\0';
    return m;
}

static void msg_unref(msg_t *m)
{
    if (m != NULL && atomic_fetch_sub(&m->refs, 1) == 1) free(m);
}

typedef struct client {
    struct client *prev, *next;
    fs_admin_stream_t *st;
    struct evhttp_request *req;
    struct evhttp_connection *conn;
    char addr[64];
    uint64_t ends_us; /* then it must authenticate again (FS_ADMIN_STREAM_REAUTH_S) */
    uint64_t serial;  /* names it to a check's answer (it may be gone by then) */
    fs_admin_credential_t cred;
    uint64_t checked_us; /* its credential was last asked about */
    bool checking;       /* an answer is awaited */
} client_t;

struct fs_admin_stream {
    fs_admin_hub_t *hub;
    struct event_base *base;
    struct event *wake;      /* activated by the hub: pending has messages */
    struct event *keepalive; /* every keepalive interval */
    struct event *announce;  /* every FS_ADMIN_LIVE_WATCH_INTERVAL_MS */
    client_t *clients;
    uint64_t next_serial;
    fs_admin_stream_check_fn check;
    void *check_arg;
    int recheck_ms;
    atomic_int count; /* read by the hub's thread */
    bool closing;
    struct fs_admin_stream *hub_next;

    pthread_mutex_t mu; /* guards pending: the hub's thread adds, the loop takes */
    msg_t *pending[FS_ADMIN_STREAM_LOOP_QUEUE_MAX];
    int pending_count;
    uint64_t dropped;
};

/* One payment event kept for a client that comes back with Last-Event-ID. */
typedef struct {
    char id[40];
    msg_t *frame;
} replay_t;

struct fs_admin_hub {
    fs_queue_t *queue;
    fs_queue_sub_t *sub;
    int keepalive_ms;
    int reauth_s;

    pthread_mutex_t mu; /* guards everything below */
    fs_admin_stream_t *streams;
    int clients;
    struct {
        char addr[64];
        int n;
    } addrs[FS_ADMIN_STREAM_CLIENTS_MAX];
    uint64_t idle_since_us; /* when the last client left (0: never had one) */
    replay_t ring[FS_ADMIN_STREAM_REPLAY_EVENTS_MAX];
    size_t ring_next; /* the slot the next event takes */
    msg_t *status;    /* the last status frame, sent to a client as it connects */
    uint64_t announced_us; /* the last fs.live.watching this process sent */
};

/* A reconnecting page may have missed a few seconds: events are kept for
 * Last-Event-ID this long after the last client left. */
#define HUB_KEEP_AFTER_LAST_CLIENT_US (30 * 1000000ULL)

/* --- the hub (libnats threads) ------------------------------------------- */

static void fan_out(fs_admin_hub_t *hub, msg_t *m)
{
    /* Under hub->mu: the list of streams does not change meanwhile. */
    for (fs_admin_stream_t *st = hub->streams; st != NULL; st = st->hub_next) {
        if (atomic_load(&st->count) == 0) continue;
        pthread_mutex_lock(&st->mu);
        bool queued = st->pending_count < FS_ADMIN_STREAM_LOOP_QUEUE_MAX;
        if (queued) {
            atomic_fetch_add(&m->refs, 1);
            st->pending[st->pending_count++] = m;
        } else {
            st->dropped++;
        }
        pthread_mutex_unlock(&st->mu);
        if (queued) event_active(st->wake, EV_READ, 0);
    }
}

static void hub_events(fs_admin_hub_t *hub, const char *data, size_t len)
{
    json_t *events = json_loadb(data, len, 0, NULL);
    if (!json_is_array(events)) {
        json_decref(events);
        return;
    }
    struct evbuffer *batch = evbuffer_new();
    FS_ASSERT(batch != NULL);
    size_t i;
    json_t *e;
    pthread_mutex_lock(&hub->mu);
    json_array_foreach(events, i, e) {
        const char *id = json_string_value(json_object_get(e, "id"));
        char *body = json_dumps(e, JSON_COMPACT);
        if (id == NULL || body == NULL || strlen(id) >= sizeof(hub->ring[0].id)) {
            free(body);
            continue;
        }
        char *frame = NULL;
        int n = asprintf(&frame, "id: %s\nevent: payment\ndata: %s\n\n", id, body);
        free(body);
        FS_ASSERT(n > 0);
        evbuffer_add(batch, frame, (size_t)n);
        replay_t *slot = &hub->ring[hub->ring_next];
        hub->ring_next = (hub->ring_next + 1) % FS_ADMIN_STREAM_REPLAY_EVENTS_MAX;
        msg_unref(slot->frame);
        snprintf(slot->id, sizeof(slot->id), "%s", id);
        slot->frame = msg_new(frame, (size_t)n);
        free(frame);
    }
    size_t blen = evbuffer_get_length(batch);
    if (blen > 0) {
        msg_t *m = msg_new((const char *)evbuffer_pullup(batch, -1), blen);
        fan_out(hub, m);
        msg_unref(m);
    }
    pthread_mutex_unlock(&hub->mu);
    evbuffer_free(batch);
    json_decref(events);
}

static void hub_status(fs_admin_hub_t *hub, const char *data, size_t len)
{
    json_t *status = json_loadb(data, len, 0, NULL);
    char *body = json_is_object(status) ? json_dumps(status, JSON_COMPACT) : NULL;
    json_decref(status);
    if (body == NULL) return;
    char *frame = NULL;
    int n = asprintf(&frame, "event: status\ndata: %s\n\n", body);
    free(body);
    FS_ASSERT(n > 0);
    pthread_mutex_lock(&hub->mu);
    /* Only a change is news; the last is kept for clients that connect. */
    if (hub->status == NULL || hub->status->len != (size_t)n
        || memcmp(hub->status->text, frame, (size_t)n) != 0) {
        msg_unref(hub->status);
        hub->status = msg_new(frame, (size_t)n);
        fan_out(hub, hub->status);
    }
    pthread_mutex_unlock(&hub->mu);
    free(frame);
}

static void on_live(void *arg, const char *subject, const char *data, size_t len)
{
    fs_admin_hub_t *hub = arg;
    pthread_mutex_lock(&hub->mu);
    bool idle = hub->clients == 0
                && (hub->idle_since_us == 0
                    || fs_now_us() - hub->idle_since_us > HUB_KEEP_AFTER_LAST_CLIENT_US);
    pthread_mutex_unlock(&hub->mu);
    if (strcmp(subject, FS_ADMIN_LIVE_SUBJECT_STATUS) == 0) {
        hub_status(hub, data, len); /* kept even when idle: a new client gets it */
    } else if (!idle && strcmp(subject, FS_ADMIN_LIVE_SUBJECT_EVENTS) == 0) {
        hub_events(hub, data, len);
    }
}

fs_admin_hub_t *fs_admin_hub_new(fs_queue_t *queue)
{
    fs_admin_hub_t *hub = calloc(1, sizeof(*hub));
    FS_ASSERT(hub != NULL);
    FS_ASSERT(pthread_mutex_init(&hub->mu, NULL) == 0);
    hub->queue = queue;
    hub->keepalive_ms = FS_ADMIN_STREAM_KEEPALIVE_MS;
    hub->reauth_s = FS_ADMIN_STREAM_REAUTH_S;
    const char *ra = getenv("FINSYS_ADMIN_STREAM_REAUTH_S");
    if (ra != NULL && atoi(ra) >= 1 && atoi(ra) <= 86400) hub->reauth_s = atoi(ra);
    const char *ka = getenv("FINSYS_ADMIN_STREAM_KEEPALIVE_MS");
    if (ka != NULL && atoi(ka) >= 10 && atoi(ka) <= 600000) hub->keepalive_ms = atoi(ka);
    if (queue != NULL) {
        hub->sub = fs_queue_subscribe_core(queue, "fs.live.>", on_live, hub);
        if (hub->sub == NULL)
            fs_log(FS_LOG_WARN, "admin", "cannot subscribe to fs.live.>: the stream is quiet");
    }
    return hub;
}

void fs_admin_hub_free(fs_admin_hub_t *hub)
{
    if (hub == NULL) return;
    fs_queue_unsubscribe_core(hub->sub); /* on_live has returned for good */
    FS_ASSERT(hub->streams == NULL);
    for (size_t i = 0; i < FS_ADMIN_STREAM_REPLAY_EVENTS_MAX; i++) msg_unref(hub->ring[i].frame);
    msg_unref(hub->status);
    pthread_mutex_destroy(&hub->mu);
    free(hub);
}

/* --- admission ------------------------------------------------------------ */

/* Counts a client in: FS_OK, or the outcome refusing it. Loop thread. */
static fs_outcome_t admit(fs_admin_hub_t *hub, const char *addr)
{
    fs_outcome_t o = FS_OK;
    pthread_mutex_lock(&hub->mu);
    int free_slot = -1, found = -1;
    for (int i = 0; i < FS_ADMIN_STREAM_CLIENTS_MAX; i++) {
        if (hub->addrs[i].n == 0 && free_slot < 0) free_slot = i;
        if (hub->addrs[i].n > 0 && strcmp(hub->addrs[i].addr, addr) == 0) found = i;
    }
    if (hub->clients >= FS_ADMIN_STREAM_CLIENTS_MAX || (found < 0 && free_slot < 0)) {
        o = FS_UNAVAILABLE;
    } else if (found >= 0 && hub->addrs[found].n >= FS_ADMIN_STREAM_CLIENTS_PER_ADDR_MAX) {
        o = FS_RATE_LIMITED;
    } else {
        int at = found >= 0 ? found : free_slot;
        snprintf(hub->addrs[at].addr, sizeof(hub->addrs[at].addr), "%s", addr);
        hub->addrs[at].n++;
        hub->clients++;
    }
    pthread_mutex_unlock(&hub->mu);
    return o;
}

static void leave(fs_admin_hub_t *hub, const char *addr)
{
    pthread_mutex_lock(&hub->mu);
    for (int i = 0; i < FS_ADMIN_STREAM_CLIENTS_MAX; i++) {
        if (hub->addrs[i].n > 0 && strcmp(hub->addrs[i].addr, addr) == 0) {
            hub->addrs[i].n--;
            break;
        }
    }
    FS_ASSERT(hub->clients > 0);
    if (--hub->clients == 0) hub->idle_since_us = fs_now_us();
    pthread_mutex_unlock(&hub->mu);
}

/* Tells the worker that this process has someone watching (or had, for the
 * Last-Event-ID window), every FS_ADMIN_LIVE_WATCH_INTERVAL_MS at most;
 * force: now (a first client must not wait a second for its events). */
static void announce(fs_admin_hub_t *hub, bool force)
{
    uint64_t now = fs_now_us();
    pthread_mutex_lock(&hub->mu);
    bool watched = hub->clients > 0
                   || (hub->idle_since_us != 0
                       && now - hub->idle_since_us <= HUB_KEEP_AFTER_LAST_CLIENT_US);
    bool due = force || now - hub->announced_us >= FS_ADMIN_LIVE_WATCH_INTERVAL_MS * 1000ULL;
    if (watched && due) hub->announced_us = now;
    pthread_mutex_unlock(&hub->mu);
    if (watched && due && hub->queue != NULL)
        fs_queue_publish_core(hub->queue, FS_ADMIN_LIVE_SUBJECT_WATCHING, "1", 1);
}

/* Every FS_ADMIN_LIVE_WATCH_INTERVAL_MS: the announcement, and the end of
 * the streams whose authentication is too old (they reconnect through the
 * session check). */
static void client_end(client_t *c, const char *last);

static void on_announce(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    fs_admin_stream_t *st = arg;
    announce(st->hub, false);
    uint64_t now = fs_now_us();
    for (client_t *c = st->clients, *next; c != NULL; c = next) {
        next = c->next;
        if (now >= c->ends_us) {
            client_end(c, "event: end\ndata: {\"reason\":\"reauthenticate\"}\n\n");
        } else if (st->check != NULL && !c->checking
                   && now - c->checked_us >= (uint64_t)st->recheck_ms * 1000u) {
            /* The answer may come at once (the store down): mark first. */
            c->checking = true;
            c->checked_us = now;
            st->check(st->check_arg, st, c->serial, &c->cred);
        }
    }
}

void fs_admin_stream_set_check(fs_admin_stream_t *st, fs_admin_stream_check_fn fn, void *arg)
{
    st->check = fn;
    st->check_arg = arg;
}

void fs_admin_stream_checked(fs_admin_stream_t *st, uint64_t serial, bool still_valid)
{
    for (client_t *c = st->clients; c != NULL; c = c->next) {
        if (c->serial != serial) continue;
        c->checking = false;
        if (!still_valid)
            client_end(c, "event: end\ndata: {\"reason\":\"unauthorized\"}\n\n");
        return;
    }
}

/* --- clients (loop thread) ----------------------------------------------- */

static void client_remove(client_t *c)
{
    fs_admin_stream_t *st = c->st;
    if (c->prev != NULL) c->prev->next = c->next;
    else st->clients = c->next;
    if (c->next != NULL) c->next->prev = c->prev;
    atomic_fetch_sub(&st->count, 1);
    leave(st->hub, c->addr);
    free(c);
}

/* The client went away: libevent has detached the request from its
 * connection and frees the connection; ending the reply frees the request. */
static void on_client_closed(struct evhttp_connection *conn, void *arg)
{
    (void)conn;
    client_t *c = arg;
    evhttp_send_reply_end(c->req);
    client_remove(c);
}

/* Ends a client's response: a last frame, the end of the chunked body. */
static void client_end(client_t *c, const char *last)
{
    evhttp_connection_set_closecb(c->conn, NULL, NULL);
    if (last != NULL) {
        struct evbuffer *b = evbuffer_new();
        FS_ASSERT(b != NULL);
        evbuffer_add(b, last, strlen(last));
        evhttp_send_reply_chunk(c->req, b);
        evbuffer_free(b);
    }
    evhttp_send_reply_end(c->req);
    client_remove(c);
}

/* A reader that does not keep up: its connection is closed at once (no
 * flush of what it has not read). */
static void client_drop(client_t *c)
{
    fs_log(FS_LOG_INFO, "admin", "stream client %s dropped: it reads too slowly", c->addr);
    struct evhttp_connection *conn = c->conn;
    evhttp_connection_set_closecb(conn, NULL, NULL);
    client_remove(c);
    evhttp_connection_free(conn); /* frees the request too */
}

static size_t client_unsent(const client_t *c)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent(c->conn);
    return bev != NULL ? evbuffer_get_length(bufferevent_get_output(bev)) : 0;
}

/* Sends text to c; false when c was dropped instead. */
static bool client_send(client_t *c, const char *text, size_t len)
{
    if (client_unsent(c) + len > FS_ADMIN_STREAM_CLIENT_BUFFER_MAX_BYTES) {
        client_drop(c);
        return false;
    }
    struct evbuffer *b = evbuffer_new();
    FS_ASSERT(b != NULL);
    evbuffer_add(b, text, len);
    evhttp_send_reply_chunk(c->req, b);
    evbuffer_free(b);
    return true;
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    fs_admin_stream_t *st = arg;
    msg_t *taken[FS_ADMIN_STREAM_LOOP_QUEUE_MAX];
    pthread_mutex_lock(&st->mu);
    int n = st->pending_count;
    memcpy(taken, st->pending, (size_t)n * sizeof(msg_t *));
    st->pending_count = 0;
    pthread_mutex_unlock(&st->mu);
    for (int i = 0; i < n; i++) {
        for (client_t *c = st->clients, *next; c != NULL; c = next) {
            next = c->next;
            client_send(c, taken[i]->text, taken[i]->len);
        }
        msg_unref(taken[i]);
    }
}

static void on_keepalive(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    fs_admin_stream_t *st = arg;
    static const char ka[] = ": keep-alive\n\n";
    for (client_t *c = st->clients, *next; c != NULL; c = next) {
        next = c->next;
        client_send(c, ka, sizeof(ka) - 1);
    }
}

/* The frames after Last-Event-ID last, if the hub still has it. */
static void replay_after(fs_admin_hub_t *hub, const char *last, struct evbuffer *out)
{
    pthread_mutex_lock(&hub->mu);
    size_t at = FS_ADMIN_STREAM_REPLAY_EVENTS_MAX;
    for (size_t i = 0; i < FS_ADMIN_STREAM_REPLAY_EVENTS_MAX; i++) {
        const replay_t *r = &hub->ring[i];
        if (r->frame != NULL && strcmp(r->id, last) == 0) at = i;
    }
    if (at < FS_ADMIN_STREAM_REPLAY_EVENTS_MAX) {
        for (size_t i = (at + 1) % FS_ADMIN_STREAM_REPLAY_EVENTS_MAX; i != hub->ring_next;
             i = (i + 1) % FS_ADMIN_STREAM_REPLAY_EVENTS_MAX) {
            const replay_t *r = &hub->ring[i];
            if (r->frame != NULL) evbuffer_add(out, r->frame->text, r->frame->len);
        }
    }
    pthread_mutex_unlock(&hub->mu);
}

static void send_refusal(struct evhttp_request *req, fs_outcome_t o, const char *message)
{
    char *body = fs_http_error_body(o, message, NULL);
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    evhttp_add_header(out, "Content-Type", "application/json");
    if (o == FS_RATE_LIMITED || o == FS_UNAVAILABLE) evhttp_add_header(out, "Retry-After", "5");
    struct evbuffer *b = evbuffer_new();
    FS_ASSERT(b != NULL);
    evbuffer_add(b, body, strlen(body));
    int status = fs_http_status(o);
    evhttp_send_reply(req, status, fs_http_reason(status), b);
    evbuffer_free(b);
    free(body);
}

static void start(fs_admin_stream_t *st, struct evhttp_request *req,
                  const fs_admin_credential_t *cred)
{
    struct evhttp_connection *conn = evhttp_request_get_connection(req);
    char *peer = NULL;
    ev_uint16_t port = 0;
    evhttp_connection_get_peer(conn, &peer, &port);
    char addr[64];
    snprintf(addr, sizeof(addr), "%s", peer != NULL ? peer : "");
    fs_outcome_t o = st->closing ? FS_UNAVAILABLE : admit(st->hub, addr);
    if (o != FS_OK) {
        send_refusal(req, o,
                     st->closing ? "FinSys is stopping; retry shortly."
                     : o == FS_RATE_LIMITED
                         ? "Too many live streams from this address; close one and retry."
                         : "Too many live streams are open on this server; retry shortly.");
        return;
    }
    client_t *c = calloc(1, sizeof(*c));
    FS_ASSERT(c != NULL);
    uint64_t now = fs_now_us();
    *c = (client_t){.st = st, .req = req, .conn = conn, .next = st->clients,
                    .ends_us = now + (uint64_t)st->hub->reauth_s * 1000000u,
                    .serial = ++st->next_serial, .checked_us = now};
    if (cred != NULL) c->cred = *cred;
    snprintf(c->addr, sizeof(c->addr), "%s", addr);
    if (st->clients != NULL) st->clients->prev = c;
    st->clients = c;
    atomic_fetch_add(&st->count, 1);
    announce(st->hub, true);

    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    evhttp_add_header(out, "Content-Type", "text/event-stream; charset=utf-8");
    evhttp_add_header(out, "Cache-Control", "no-store");
    evhttp_add_header(out, "X-Accel-Buffering", "no"); /* a proxy must not hold it back */
    /* The stream is idle for the keep-alive's interval at most, never
     * longer: a day's timeout; the close callback learns of a gone client. */
    evhttp_connection_set_timeout(conn, 24 * 3600);
    evhttp_connection_set_closecb(conn, on_client_closed, c);
    evhttp_send_reply_start(req, 200, "OK");

    struct evbuffer *b = evbuffer_new();
    FS_ASSERT(b != NULL);
    evbuffer_add_printf(b, "retry: %d\n: connected\n\n", FS_ADMIN_STREAM_RETRY_MS);
    pthread_mutex_lock(&st->hub->mu);
    if (st->hub->status != NULL) evbuffer_add(b, st->hub->status->text, st->hub->status->len);
    pthread_mutex_unlock(&st->hub->mu);
    const char *last = evhttp_find_header(evhttp_request_get_input_headers(req), "Last-Event-ID");
    if (last != NULL && last[0] != '\0') replay_after(st->hub, last, b);
    evhttp_send_reply_chunk(req, b);
    evbuffer_free(b);
}

void fs_admin_stream_start(fs_admin_stream_t *st, struct evhttp_request *req,
                           const fs_admin_credential_t *cred)
{
    start(st, req, cred);
}

/* --- a loop's stream ------------------------------------------------------ */

fs_admin_stream_t *fs_admin_stream_new(fs_admin_hub_t *hub, struct event_base *base)
{
    FS_ASSERT(hub != NULL && base != NULL);
    fs_admin_stream_t *st = calloc(1, sizeof(*st));
    FS_ASSERT(st != NULL);
    *st = (fs_admin_stream_t){.hub = hub, .base = base, .recheck_ms = FS_ADMIN_STREAM_RECHECK_MS};
    const char *rc = getenv("FINSYS_ADMIN_STREAM_RECHECK_MS");
    if (rc != NULL && atoi(rc) >= 100 && atoi(rc) <= 3600 * 1000) st->recheck_ms = atoi(rc);
    atomic_init(&st->count, 0);
    FS_ASSERT(pthread_mutex_init(&st->mu, NULL) == 0);
    st->wake = event_new(base, -1, 0, on_wake, st);
    st->keepalive = event_new(base, -1, EV_PERSIST, on_keepalive, st);
    st->announce = event_new(base, -1, EV_PERSIST, on_announce, st);
    FS_ASSERT(st->wake != NULL && st->keepalive != NULL && st->announce != NULL);
    struct timeval every = {hub->keepalive_ms / 1000, (hub->keepalive_ms % 1000) * 1000};
    event_add(st->keepalive, &every);
    struct timeval announce_every = {FS_ADMIN_LIVE_WATCH_INTERVAL_MS / 1000,
                                     (FS_ADMIN_LIVE_WATCH_INTERVAL_MS % 1000) * 1000};
    event_add(st->announce, &announce_every);
    pthread_mutex_lock(&hub->mu);
    st->hub_next = hub->streams;
    hub->streams = st;
    pthread_mutex_unlock(&hub->mu);
    return st;
}

void fs_admin_stream_close_all(fs_admin_stream_t *st)
{
    if (st == NULL) return;
    st->closing = true;
    event_del(st->keepalive);
    while (st->clients != NULL)
        client_end(st->clients, "event: end\ndata: {\"reason\":\"server stopping\"}\n\n");
}

int fs_admin_stream_clients(const fs_admin_stream_t *st)
{
    return st != NULL ? atomic_load(&st->count) : 0;
}

void fs_admin_stream_free(fs_admin_stream_t *st)
{
    if (st == NULL) return;
    fs_admin_hub_t *hub = st->hub;
    pthread_mutex_lock(&hub->mu);
    for (fs_admin_stream_t **p = &hub->streams; *p != NULL; p = &(*p)->hub_next) {
        if (*p == st) {
            *p = st->hub_next;
            break;
        }
    }
    pthread_mutex_unlock(&hub->mu);
    fs_admin_stream_close_all(st);
    for (int i = 0; i < st->pending_count; i++) msg_unref(st->pending[i]);
    event_free(st->wake);
    event_free(st->keepalive);
    event_free(st->announce);
    pthread_mutex_destroy(&st->mu);
    free(st);
}

/* --- the worker's side ---------------------------------------------------- */

void fs_admin_live_publish_events(fs_queue_t *queue, const char *json, size_t len)
{
    if (queue == NULL || len > FS_ADMIN_LIVE_MESSAGE_MAX_BYTES) return;
    fs_queue_publish_core(queue, FS_ADMIN_LIVE_SUBJECT_EVENTS, json, len);
}

void fs_admin_live_publish_status(fs_queue_t *queue, const char *json, size_t len)
{
    if (queue == NULL || len > FS_ADMIN_LIVE_MESSAGE_MAX_BYTES) return;
    fs_queue_publish_core(queue, FS_ADMIN_LIVE_SUBJECT_STATUS, json, len);
}

struct fs_admin_live_watch {
    fs_queue_sub_t *sub;
    _Atomic uint64_t heard_us; /* the last announcement (0: none yet) */
};

static void on_watching(void *arg, const char *subject, const char *data, size_t len)
{
    (void)subject;
    (void)data;
    (void)len;
    fs_admin_live_watch_t *w = arg;
    atomic_store_explicit(&w->heard_us, fs_now_us(), memory_order_relaxed);
}

fs_admin_live_watch_t *fs_admin_live_watch_new(fs_queue_t *queue)
{
    fs_admin_live_watch_t *w = calloc(1, sizeof(*w));
    FS_ASSERT(w != NULL);
    atomic_init(&w->heard_us, 0);
    if (queue != NULL) {
        w->sub = fs_queue_subscribe_core(queue, FS_ADMIN_LIVE_SUBJECT_WATCHING, on_watching, w);
        if (w->sub == NULL)
            fs_log(FS_LOG_WARN, "admin", "cannot subscribe to %s: the console's stream is quiet",
                   FS_ADMIN_LIVE_SUBJECT_WATCHING);
    }
    return w;
}

bool fs_admin_live_watched(fs_admin_live_watch_t *w)
{
    if (w == NULL) return false;
    uint64_t heard = atomic_load_explicit(&w->heard_us, memory_order_relaxed);
    return heard != 0 && fs_now_us() - heard <= FS_ADMIN_LIVE_WATCH_TTL_MS * 1000ULL;
}

void fs_admin_live_watch_free(fs_admin_live_watch_t *w)
{
    if (w == NULL) return;
    fs_queue_unsubscribe_core(w->sub); /* on_watching has returned for good */
    free(w);
}
