/*
 * guard.c: the listener's guard against floods and slow clients (issue 13;
 * see http.h, "The listener's guard").
 *
 * evhttp (libevent 2.1) reads a connection's request and hands it over
 * only once it is whole; it has no hook between the request's head and its
 * body, and no deadline other than an idle timeout that each byte resets.
 * So the guard sits under it, on the connection's bufferevent, which it
 * makes (evhttp_set_bevcb):
 *
 * - right after the accept (an event activated by the bufferevent's
 *   making, run before the loop reads anything), it finds the connection
 *   (the bufferevent's callback argument, which evhttp sets to its
 *   connection), counts it for the process and its address, and closes it
 *   when either is at its cap; it learns of the connection's end from
 *   evhttp's close callback;
 * - a callback on the bufferevent's input buffer sees each byte before
 *   evhttp parses it: it follows the request's head line by line, gives the
 *   head FINSYS_HTTP_HEADER_TIMEOUT_MS from its first byte and the body
 *   FINSYS_HTTP_BODY_TIMEOUT_MS from the head's end (a deadline, not an
 *   idle timeout: the connection is shut down when it passes, whatever
 *   trickles in), and refuses a Content-Length over the route's limit
 *   before the body is read: the value's digits are made zeros in the
 *   buffer, so evhttp hands the request over without its body, and the
 *   server answers 413 (fs_http_guard_request) and closes, reading what the
 *   client still sends for a moment (the "lingering close") so that the
 *   client reads the answer rather than a reset;
 * - the listener pauses when accept() fails (EMFILE: out of descriptors),
 *   for FS_HTTP_ACCEPT_PAUSE_MIN_MS doubling up to
 *   FS_HTTP_ACCEPT_PAUSE_MAX_MS, rather than spin on a connection it cannot
 *   take.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../api/api.h"
#include "../core/limits.h"
#include "http.h"

/* --- connections per process and per address ------------------------------- */

typedef struct addr_node {
    char addr[64];
    int count;
    struct addr_node *next;
} addr_node_t;

static pthread_mutex_t addr_mu = PTHREAD_MUTEX_INITIALIZER;
static addr_node_t *addr_buckets[FS_HTTP_ADDR_BUCKETS];
static atomic_int process_conns;

static uint32_t fnv1a(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s != '\0'; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* Counts a connection from addr unless the process or the address is at its
 * cap. True when counted. */
static bool conn_admit(const char *addr, int process_max, int addr_max)
{
    if (atomic_fetch_add(&process_conns, 1) >= process_max) {
        atomic_fetch_sub(&process_conns, 1);
        return false;
    }
    bool ok = true;
    pthread_mutex_lock(&addr_mu);
    addr_node_t **b = &addr_buckets[fnv1a(addr) % FS_HTTP_ADDR_BUCKETS];
    addr_node_t *n = *b;
    while (n != NULL && strcmp(n->addr, addr) != 0) n = n->next;
    if (n == NULL) {
        n = calloc(1, sizeof(*n));
        FS_ASSERT(n != NULL);
        snprintf(n->addr, sizeof(n->addr), "%s", addr);
        n->next = *b;
        *b = n;
    }
    if (n->count >= addr_max) {
        ok = false;
    } else {
        n->count++;
    }
    pthread_mutex_unlock(&addr_mu);
    if (!ok) atomic_fetch_sub(&process_conns, 1);
    return ok;
}

static void conn_release(const char *addr)
{
    atomic_fetch_sub(&process_conns, 1);
    pthread_mutex_lock(&addr_mu);
    addr_node_t **p = &addr_buckets[fnv1a(addr) % FS_HTTP_ADDR_BUCKETS];
    while (*p != NULL && strcmp((*p)->addr, addr) != 0) p = &(*p)->next;
    if (*p != NULL && --(*p)->count <= 0) {
        addr_node_t *n = *p;
        *p = n->next;
        free(n);
    }
    pthread_mutex_unlock(&addr_mu);
}

/* --- a connection ------------------------------------------------------------ */

typedef enum {
    PHASE_ATTACH,   /* accepted; the attach event has not run yet */
    PHASE_HEAD,     /* a request's head is arriving: the header deadline runs */
    PHASE_BODY,     /* its body is arriving: the body deadline runs */
    PHASE_HANDLING, /* whole, or being answered: no deadline */
    PHASE_IDLE,     /* between requests: evhttp's idle timeout */
} phase_t;

typedef struct conn {
    fs_http_guard_t *g;
    struct bufferevent *bev;
    struct evhttp_connection *evcon; /* once attached */
    struct evbuffer_cb_entry *watch; /* on the input buffer */
    struct event *timer;             /* the attach, then the deadlines */
    struct conn *next;               /* in the guard's table, by bev */
    char addr[64];
    bool counted;
    phase_t phase;
    /* The head's scanner: the current line's length, its first bytes, and
     * what the lines so far said. */
    size_t line_len;
    char line[FS_HTTP_HEAD_LINE_KEEP];
    bool first_line;
    bool body_method;   /* POST, PUT or PATCH: evhttp reads a body */
    bool body;          /* a Content-Length over 0 or a chunked body is coming */
    uint64_t too_large; /* a Content-Length refused (made zeros), else 0 */
} conn_t;

/* Lingering closes: a socket answered 413 before its body was read, read
 * and dropped until the client is done or FS_HTTP_LINGER_MS passed. */
typedef struct lingering_s {
    fs_http_guard_t *g;
    int fd;
    int64_t until_us; /* read until then at most */
    struct event *ev;
    struct lingering_s *next;
} linger_t;

struct fs_http_guard {
    struct event_base *base;
    fs_http_guard_config_t config;
    conn_t *table[FS_HTTP_GUARD_BUCKETS];
    struct evconnlistener *listener;
    struct event *resume_ev;
    int pause_ms; /* the last pause of the listener; 0 when accepting */
    linger_t *lingering;
    int lingering_count;
};

static size_t slot_of(const struct bufferevent *bev)
{
    return (size_t)(((uintptr_t)bev >> 4) % FS_HTTP_GUARD_BUCKETS);
}

static conn_t *conn_find(fs_http_guard_t *g, const struct bufferevent *bev)
{
    conn_t *c = g->table[slot_of(bev)];
    while (c != NULL && c->bev != bev) c = c->next;
    return c;
}

static void conn_unlink(conn_t *c)
{
    conn_t **p = &c->g->table[slot_of(c->bev)];
    while (*p != NULL && *p != c) p = &(*p)->next;
    if (*p != NULL) *p = c->next;
}

static void conn_free(conn_t *c)
{
    conn_unlink(c);
    if (c->watch != NULL) evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->watch);
    if (c->counted) conn_release(c->addr);
    event_free(c->timer);
    free(c);
}

static void deadline_set(conn_t *c, phase_t phase)
{
    c->phase = phase;
    int ms = phase == PHASE_HEAD   ? c->g->config.header_timeout_ms
             : phase == PHASE_BODY ? c->g->config.body_timeout_ms
                                   : 0;
    if (ms == 0) {
        evtimer_del(c->timer);
        return;
    }
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(c->timer, &tv);
}

static void scan_reset(conn_t *c)
{
    c->line_len = 0;
    c->first_line = true;
    c->body_method = false;
    c->body = false;
}

/* Writes len copies of ch over the buffer's bytes from off. */
static void overwrite(struct evbuffer *buf, size_t off, size_t len, char ch)
{
    struct evbuffer_ptr p;
    if (evbuffer_ptr_set(buf, &p, off, EVBUFFER_PTR_SET) != 0) return;
    struct evbuffer_iovec v[4];
    int n = evbuffer_peek(buf, (ev_ssize_t)len, &p, v, 4);
    for (int i = 0; i < n && i < 4 && len > 0; i++) {
        size_t k = v[i].iov_len < len ? v[i].iov_len : len;
        memset(v[i].iov_base, ch, k);
        len -= k;
    }
}

/* A whole line of the head, which ends (its '\n') at the buffer's offset
 * end: the request line, a header, or the empty line that ends the head. */
static void head_line(conn_t *c, struct evbuffer *buf, size_t end)
{
    size_t kept = c->line_len < sizeof(c->line) ? c->line_len : sizeof(c->line);
    size_t len = c->line_len; /* without the '\n' */
    if (len > 0 && kept == len && c->line[len - 1] == '\r') {
        len--;
        kept--;
    }
    if (c->first_line) {
        c->first_line = false;
        c->body_method = (kept >= 5 && memcmp(c->line, "POST ", 5) == 0) ||
                         (kept >= 4 && memcmp(c->line, "PUT ", 4) == 0) ||
                         (kept >= 6 && memcmp(c->line, "PATCH ", 6) == 0);
        if (len > 0) return;
    }
    if (len == 0) {
        /* The head is whole: its deadline stops; the body's starts. */
        deadline_set(c, c->body_method && c->body ? PHASE_BODY : PHASE_HANDLING);
        return;
    }
    static const char cl[] = "content-length:";
    static const char te[] = "transfer-encoding:";
    if (kept < len) {
        /* Longer than kept: no header the guard reads is (a length such a
         * line declares is refused by evhttp's own transport cap,
         * FS_BODY_TRANSPORT_MAX_BYTES). */
        if (kept >= sizeof(cl) - 1 && strncasecmp(c->line, cl, sizeof(cl) - 1) == 0) c->body = true;
        return;
    }
    if (len >= sizeof(te) - 1 && strncasecmp(c->line, te, sizeof(te) - 1) == 0) {
        c->body = true;
        return;
    }
    /* Only POST, PUT and PATCH have their bodies read by evhttp. */
    if (!c->body_method) return;
    if (len < sizeof(cl) - 1 || strncasecmp(c->line, cl, sizeof(cl) - 1) != 0) return;
    size_t i = sizeof(cl) - 1;
    while (i < len && (c->line[i] == ' ' || c->line[i] == '\t')) i++;
    size_t digits = i;
    uint64_t n = 0;
    bool huge = false;
    while (i < len && c->line[i] >= '0' && c->line[i] <= '9') {
        if (n > UINT64_MAX / 20) huge = true;
        n = n * 10 + (uint64_t)(c->line[i] - '0');
        i++;
    }
    size_t ndigits = i - digits;
    if (ndigits == 0) return; /* not a number: evhttp answers 400 */
    if (huge) n = UINT64_MAX;
    if (n <= (uint64_t)c->g->config.body_max) {
        if (n > 0) c->body = true;
        return;
    }
    /* Over the route's limit: evhttp must not read the body. The line is
     * in the buffer still (evhttp takes whole lines only). */
    size_t start = end - c->line_len;
    overwrite(buf, start + digits, ndigits, '0');
    c->too_large = n;
}

/* The bytes from off to the buffer's end are new: read as the request's
 * head while one is arriving. */
static void scan(conn_t *c, struct evbuffer *buf, size_t off)
{
    size_t total = evbuffer_get_length(buf);
    char chunk[4096];
    while (off < total) {
        if (c->phase == PHASE_IDLE) {
            scan_reset(c);
            deadline_set(c, PHASE_HEAD);
        }
        if (c->phase != PHASE_HEAD) return;
        struct evbuffer_ptr p;
        if (evbuffer_ptr_set(buf, &p, off, EVBUFFER_PTR_SET) != 0) return;
        size_t want = total - off < sizeof(chunk) ? total - off : sizeof(chunk);
        ev_ssize_t got = evbuffer_copyout_from(buf, &p, chunk, want);
        if (got <= 0) return;
        for (ev_ssize_t i = 0; i < got && c->phase == PHASE_HEAD; i++) {
            if (chunk[i] == '\n') {
                head_line(c, buf, off + (size_t)i);
                c->line_len = 0;
            } else {
                if (c->line_len < sizeof(c->line)) c->line[c->line_len] = chunk[i];
                c->line_len++;
            }
        }
        off += (size_t)got;
    }
}

static void on_input(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    conn_t *c = arg;
    if (info->n_added == 0 || info->n_deleted != 0) return;
    if (c->phase == PHASE_ATTACH) return; /* scanned once attached */
    scan(c, buf, info->orig_size);
}

static void on_closed(struct evhttp_connection *evcon, void *arg);

/* The accept's follow-up (PHASE_ATTACH), then a deadline that passed. */
static void on_timer(evutil_socket_t fd_unused, short what, void *arg)
{
    conn_t *c = arg;
    fs_http_guard_t *g = c->g;
    (void)fd_unused;
    (void)what;
    evutil_socket_t fd = bufferevent_getfd(c->bev);
    if (c->phase != PHASE_ATTACH) {
        /* Past the deadline: shut down; evhttp reads the end and frees the
         * connection (on_closed). */
        fs_log(FS_LOG_DEBUG, "http", "closed a connection from %s: its %s took over %d ms", c->addr,
               c->phase == PHASE_HEAD ? "headers" : "body",
               c->phase == PHASE_HEAD ? g->config.header_timeout_ms : g->config.body_timeout_ms);
        if (fd >= 0) shutdown(fd, SHUT_RDWR);
        c->phase = PHASE_HANDLING;
        return;
    }
    void *cbarg = NULL;
    bufferevent_getcb(c->bev, NULL, NULL, NULL, &cbarg);
    c->evcon = cbarg;
    FS_ASSERT(c->evcon != NULL && evhttp_connection_get_bufferevent(c->evcon) == c->bev);
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    snprintf(c->addr, sizeof(c->addr), "?");
    if (fd >= 0 && getpeername(fd, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, c->addr, sizeof(c->addr));
        else if (ss.ss_family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, c->addr, sizeof(c->addr));
    }
    if (!conn_admit(c->addr, g->config.conns_max, g->config.conns_per_addr_max)) {
        fs_log(FS_LOG_DEBUG, "http", "refused a connection from %s: at the connection cap",
               c->addr);
        struct evhttp_connection *evcon = c->evcon;
        conn_free(c);
        evhttp_connection_free(evcon);
        return;
    }
    c->counted = true;
    evhttp_connection_set_closecb(c->evcon, on_closed, c);
    scan_reset(c);
    deadline_set(c, PHASE_HEAD);
    /* Anything that came with the accept. */
    scan(c, bufferevent_get_input(c->bev), 0);
}

/* --- lingering close ---------------------------------------------------------- */

static void linger_free(linger_t *l)
{
    linger_t **p = &l->g->lingering;
    while (*p != NULL && *p != l) p = &(*p)->next;
    if (*p != NULL) *p = l->next;
    l->g->lingering_count--;
    event_free(l->ev);
    close(l->fd);
    free(l);
}

static void on_linger(evutil_socket_t fd, short what, void *arg)
{
    linger_t *l = arg;
    char drop[16384];
    bool over = (what & EV_TIMEOUT) || (int64_t)fs_now_us() >= l->until_us;
    for (int i = 0; !over && i < 16; i++) {
        ssize_t n = recv(fd, drop, sizeof(drop), MSG_DONTWAIT);
        if (n > 0 || (n < 0 && errno == EINTR)) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return; /* more may come */
        break; /* the client is done (0), or gone */
    }
    if (!over && (what & EV_READ)) {
        ssize_t n = recv(fd, drop, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n > 0) return; /* still sending: read on at the next event */
    }
    linger_free(l);
}

static void linger_start(fs_http_guard_t *g, int fd)
{
    int dup_fd = g->lingering_count < FS_HTTP_LINGER_MAX ? dup(fd) : -1;
    if (dup_fd < 0) return;
    linger_t *l = calloc(1, sizeof(*l));
    FS_ASSERT(l != NULL);
    l->g = g;
    l->fd = dup_fd;
    l->until_us = (int64_t)fs_now_us() + FS_HTTP_LINGER_MS * INT64_C(1000);
    l->ev = event_new(g->base, dup_fd, EV_READ | EV_PERSIST, on_linger, l);
    FS_ASSERT(l->ev != NULL);
    struct timeval tv = {FS_HTTP_LINGER_MS / 1000, (FS_HTTP_LINGER_MS % 1000) * 1000};
    event_add(l->ev, &tv);
    l->next = g->lingering;
    g->lingering = l;
    g->lingering_count++;
}

static void on_closed(struct evhttp_connection *evcon, void *arg)
{
    conn_t *c = arg;
    (void)evcon;
    if (c->too_large != 0) {
        /* Answered 413 before its body was read: evhttp shuts the socket
         * for writing and closes it; a copy of it reads what the client
         * still sends, so that it reads the answer, not a reset. */
        evutil_socket_t fd = bufferevent_getfd(c->bev);
        if (fd >= 0) {
            shutdown(fd, SHUT_WR);
            linger_start(c->g, fd);
        }
    }
    conn_free(c);
}

/* --- the listener -------------------------------------------------------------- */

static struct bufferevent *on_new_bev(struct event_base *base, void *arg)
{
    fs_http_guard_t *g = arg;
    if (g->pause_ms != 0) {
        fs_log(FS_LOG_INFO, "http", "accepting connections again");
        g->pause_ms = 0;
    }
    /* As evhttp makes its own: no fd yet, closed by evhttp. */
    struct bufferevent *bev = bufferevent_socket_new(base, -1, 0);
    FS_ASSERT(bev != NULL);
    conn_t *c = calloc(1, sizeof(*c));
    FS_ASSERT(c != NULL);
    c->g = g;
    c->bev = bev;
    c->phase = PHASE_ATTACH;
    c->timer = evtimer_new(base, on_timer, c);
    FS_ASSERT(c->timer != NULL);
    c->watch = evbuffer_add_cb(bufferevent_get_input(bev), on_input, c);
    FS_ASSERT(c->watch != NULL);
    size_t s = slot_of(bev);
    c->next = g->table[s];
    g->table[s] = c;
    /* Run once evhttp has made the connection, before the loop reads. */
    event_active(c->timer, EV_TIMEOUT, 1);
    return bev;
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
    fs_http_guard_t *g = arg;
    (void)fd;
    (void)what;
    if (g->listener != NULL) evconnlistener_enable(g->listener);
}

/* Each loop's listener and its guard: the listener's error callback gets
 * evhttp's argument, not the guard. Written before the loops start. */
static struct {
    struct evconnlistener *listener;
    fs_http_guard_t *g;
} listeners[FS_HTTP_THREADS_MAX];

static void on_accept_error(struct evconnlistener *lev, void *arg)
{
    int err = EVUTIL_SOCKET_ERROR();
    (void)arg;
    fs_http_guard_t *g = NULL;
    for (int i = 0; i < FS_HTTP_THREADS_MAX && g == NULL; i++)
        if (listeners[i].listener == lev) g = listeners[i].g;
    FS_ASSERT(g != NULL);
    /* Out of descriptors (or memory): the pending connection stays in the
     * backlog and the listener stays readable; pause rather than spin. */
    evconnlistener_disable(lev);
    bool first = g->pause_ms == 0;
    g->pause_ms = first ? FS_HTTP_ACCEPT_PAUSE_MIN_MS : g->pause_ms * 2;
    if (g->pause_ms > FS_HTTP_ACCEPT_PAUSE_MAX_MS) g->pause_ms = FS_HTTP_ACCEPT_PAUSE_MAX_MS;
    if (first) {
        fs_log(FS_LOG_WARN, "http", "accept failed (%s): pausing new connections for %d ms",
               strerror(err), g->pause_ms);
    }
    struct timeval tv = {g->pause_ms / 1000, (g->pause_ms % 1000) * 1000};
    evtimer_add(g->resume_ev, &tv);
}

/* --- the guard ----------------------------------------------------------------- */

fs_http_guard_t *fs_http_guard_new(struct event_base *base, struct evhttp *http,
                                   const fs_http_guard_config_t *config)
{
    fs_http_guard_t *g = calloc(1, sizeof(*g));
    FS_ASSERT(g != NULL);
    g->base = base;
    g->config = *config;
    g->resume_ev = evtimer_new(base, on_resume, g);
    FS_ASSERT(g->resume_ev != NULL);
    evhttp_set_bevcb(http, on_new_bev, g);
    return g;
}

void fs_http_guard_listen(fs_http_guard_t *g, struct evhttp_bound_socket *bound)
{
    g->listener = evhttp_bound_socket_get_listener(bound);
    int i = 0;
    while (i < FS_HTTP_THREADS_MAX && listeners[i].listener != NULL) i++;
    FS_ASSERT(i < FS_HTTP_THREADS_MAX);
    listeners[i].listener = g->listener;
    listeners[i].g = g;
    evconnlistener_set_error_cb(g->listener, on_accept_error);
}

void fs_http_guard_unlisten(fs_http_guard_t *g)
{
    for (int i = 0; i < FS_HTTP_THREADS_MAX; i++)
        if (listeners[i].g == g) listeners[i].g = NULL;
    g->listener = NULL;
    evtimer_del(g->resume_ev);
}

/* The connection of a request evhttp handed over. */
static conn_t *conn_of(fs_http_guard_t *g, struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    if (evcon == NULL) return NULL;
    return conn_find(g, evhttp_connection_get_bufferevent(evcon));
}

uint64_t fs_http_guard_request(fs_http_guard_t *g, struct evhttp_request *req)
{
    conn_t *c = conn_of(g, req);
    if (c == NULL || c->phase == PHASE_ATTACH) return 0;
    deadline_set(c, PHASE_HANDLING);
    return c->too_large;
}

void fs_http_guard_answered(fs_http_guard_t *g, struct evhttp_request *req)
{
    conn_t *c = conn_of(g, req);
    if (c == NULL || c->phase == PHASE_ATTACH || c->too_large != 0) return;
    /* The next request's bytes, if any came with this one's, are its head. */
    c->phase = PHASE_IDLE;
    scan(c, bufferevent_get_input(c->bev), 0);
}

void fs_http_guard_free(fs_http_guard_t *g)
{
    if (g == NULL) return;
    /* What is left was never attached (evhttp_free closed it before its
     * attach ran): its bufferevent is gone with it, and it was not counted. */
    for (size_t i = 0; i < FS_HTTP_GUARD_BUCKETS; i++) {
        while (g->table[i] != NULL) {
            conn_t *c = g->table[i];
            c->watch = NULL;
            c->counted = false;
            conn_free(c);
        }
    }
    while (g->lingering != NULL) linger_free(g->lingering);
    event_free(g->resume_ev);
    free(g);
}

void fs_http_raise_nofile(int conns_max)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t was = rl.rlim_cur;
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
            fs_log(FS_LOG_WARN, "http", "cannot raise the open files limit from %llu to %llu: %s",
                   (unsigned long long)was, (unsigned long long)rl.rlim_max, strerror(errno));
            rl.rlim_cur = was;
        }
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)conns_max + FS_HTTP_FD_RESERVE) {
        fs_log(FS_LOG_WARN, "http",
               "the open files limit (%llu) is below FINSYS_HTTP_CONNECTIONS_MAX (%d) and the "
               "process's own files: past it, new connections wait (raise the hard limit)",
               (unsigned long long)rl.rlim_cur, conns_max);
    }
}
