/*
 * redis.c: the connection to Redis (see redis.h).
 *
 * Every command is a `cmd_t` owned by this module from the call until both
 * hiredis has called back (with a reply, or NULL when the connection went)
 * and the caller has been answered; whichever comes last frees it. The
 * caller is answered once: by the reply, by the timeout timer, or (when no
 * connection is up) from the deferred list on the next loop turn.
 */
#define _GNU_SOURCE
#include "redis.h"

#include <arpa/inet.h>
#include <event2/http.h>
#include <ctype.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/core.h"
#include "../core/limits.h"

typedef struct cmd {
    struct cmd *next; /* in the deferred list */
    fs_redis_t *r;
    fs_redis_cb cb;
    void *arg;
    struct event *timer;
    bool answered;    /* the caller has its answer */
    bool in_hiredis;  /* hiredis holds it and will call back */
    /* For a script: what a NOSCRIPT answer needs to send it again. */
    int script;       /* index in r->scripts, or -1 */
    int argc;
    char **argv;
    size_t *argvlen;
} cmd_t;

struct fs_redis {
    struct event_base *base;
    char ip[INET6_ADDRSTRLEN];
    int port;
    char user[FS_REDIS_USER_LEN_MAX + 1];
    char password[FS_REDIS_PASSWORD_LEN_MAX + 1]; /* "": no AUTH */
    char tls_socket[108]; /* rediss://: the TLS bridge's socket (tls.c); "": TCP */
    int timeout_ms;
    redisAsyncContext *ac; /* NULL while waiting to reconnect */
    bool connected;
    bool freeing;
    bool down_logged;      /* the current incident was logged */
    int backoff_ms;
    int late;              /* commands in a row answered by their timeout */
    int waiting;           /* commands not yet answered */
    struct event *reconnect_ev;
    struct event *connect_timeout_ev;
    struct event *deferred_ev;
    struct event *drop_ev;  /* drops the connection after AUTH was refused */
    bool auth_refused;
    cmd_t *deferred, *deferred_tail;
    struct {
        const fs_redis_script_t *script;
        char sha[FS_REDIS_SHA_HEX_LEN + 1];
        bool loading;
    } scripts[FS_REDIS_SCRIPTS_MAX];
    int nscripts;
};

static void connect_now(fs_redis_t *r);

/* --- answering commands ------------------------------------------------ */

static void cmd_free(cmd_t *c)
{
    if (c->timer != NULL) event_free(c->timer);
    for (int i = 0; i < c->argc; i++) free(c->argv[i]);
    free(c->argv);
    free(c->argvlen);
    free(c);
}

static void answer(cmd_t *c, fs_redis_status_t st, const redisReply *reply)
{
    if (c->answered) return;
    c->answered = true;
    c->r->waiting--;
    if (c->timer != NULL) evtimer_del(c->timer);
    c->cb(c->arg, st, reply);
}

static void on_deferred(evutil_socket_t fd, short what, void *arg)
{
    fs_redis_t *r = arg;
    (void)fd;
    (void)what;
    cmd_t *list = r->deferred;
    r->deferred = r->deferred_tail = NULL;
    while (list != NULL) {
        cmd_t *next = list->next;
        answer(list, FS_REDIS_UNAVAILABLE, NULL);
        cmd_free(list);
        list = next;
    }
}

/* Answers FS_REDIS_UNAVAILABLE on the next loop turn (never from inside the
 * call that queued the command). */
static void defer_unavailable(cmd_t *c)
{
    fs_redis_t *r = c->r;
    c->next = NULL;
    if (r->deferred_tail != NULL) {
        r->deferred_tail->next = c;
    } else {
        r->deferred = c;
    }
    r->deferred_tail = c;
    event_active(r->deferred_ev, EV_TIMEOUT, 0);
}

static void log_down(fs_redis_t *r, const char *why)
{
    if (r->down_logged || r->freeing) return;
    r->down_logged = true;
    fs_log(FS_LOG_WARN, "redis", "Redis at %s:%d is unavailable (%s); retrying", r->ip, r->port,
           why);
}

/* --- the connection ------------------------------------------------------ */

static void schedule_reconnect(fs_redis_t *r)
{
    if (r->freeing) return;
    struct timeval tv = {r->backoff_ms / 1000, (r->backoff_ms % 1000) * 1000};
    event_add(r->reconnect_ev, &tv);
    r->backoff_ms = r->backoff_ms * 2 > FS_REDIS_RECONNECT_MS_MAX ? FS_REDIS_RECONNECT_MS_MAX
                                                                 : r->backoff_ms * 2;
}

static void on_connected(const redisAsyncContext *ac, int status)
{
    fs_redis_t *r = ac->data;
    evtimer_del(r->connect_timeout_ev);
    if (status != REDIS_OK) {
        /* hiredis frees the context after this callback. */
        log_down(r, ac->errstr);
        r->ac = NULL;
        schedule_reconnect(r);
        return;
    }
    r->connected = true;
    r->late = 0;
    /* Back (and the back-off reset) only at its first answer (on_reply): a
     * stopped Redis still accepts connections. */
}

static void on_disconnected(const redisAsyncContext *ac, int status)
{
    fs_redis_t *r = ac->data;
    (void)status;
    r->ac = NULL;
    r->connected = false;
    /* A restarted Redis has forgotten the scripts: load them again. */
    for (int i = 0; i < r->nscripts; i++) r->scripts[i].sha[0] = '\0';
    log_down(r, ac->errstr[0] != '\0' ? ac->errstr : "connection closed");
    schedule_reconnect(r);
}

/* Drops the connection at once (not from inside a hiredis callback):
 * hiredis answers every command it holds with NULL, then on_disconnected. */
static void drop(fs_redis_t *r, const char *why)
{
    if (r->ac == NULL) return;
    log_down(r, why);
    redisAsyncContext *ac = r->ac;
    bool was_connected = r->connected;
    r->connected = false;
    evtimer_del(r->connect_timeout_ev);
    redisAsyncFree(ac);
    if (!was_connected) {
        /* No disconnect callback for a connection never made. */
        r->ac = NULL;
        schedule_reconnect(r);
    }
}

static void on_connect_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    drop(arg, "no connection within the timeout");
}

static void on_reconnect(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    connect_now(arg);
}

/* AUTH's answer. A refusal (a wrong password, a user without the right)
 * makes every command fail: the connection is dropped and made again with
 * back-off, and the refusal logged once, without the password. */
static void on_auth(redisAsyncContext *ac, void *reply, void *privdata)
{
    fs_redis_t *r = privdata;
    redisReply *rep = reply;
    if (rep == NULL || r->freeing || r->ac != ac) return; /* dropped meanwhile */
    if (rep->type == REDIS_REPLY_ERROR) {
        char why[160];
        snprintf(why, sizeof(why), "AUTH refused: %.120s", rep->str);
        log_down(r, why);
        r->auth_refused = true;
        event_active(r->drop_ev, EV_TIMEOUT, 0); /* not from inside hiredis */
    }
}

static void on_drop(evutil_socket_t fd, short what, void *arg)
{
    fs_redis_t *r = arg;
    (void)fd;
    (void)what;
    if (r->auth_refused) {
        r->auth_refused = false;
        drop(r, "AUTH refused");
    }
}

static void connect_now(fs_redis_t *r)
{
    redisAsyncContext *ac = r->tls_socket[0] != '\0' ? redisAsyncConnectUnix(r->tls_socket)
                                                      : redisAsyncConnect(r->ip, r->port);
    if (ac == NULL || ac->err) {
        log_down(r, ac != NULL ? ac->errstr : "out of memory");
        if (ac != NULL) redisAsyncFree(ac);
        schedule_reconnect(r);
        return;
    }
    ac->data = r;
    redisLibeventAttach(ac, r->base);
    redisAsyncSetConnectCallback(ac, on_connected);
    redisAsyncSetDisconnectCallback(ac, on_disconnected);
    r->ac = ac;
    if (r->password[0] != '\0') {
        /* Queued before any other command can be: the first one written. */
        const char *argv[3] = {"AUTH", r->user, r->password};
        int argc = r->user[0] != '\0' ? 3 : 2;
        if (argc == 2) argv[1] = r->password;
        redisAsyncCommandArgv(ac, on_auth, r, argc, argv, NULL);
    }
    int ms = r->timeout_ms > FS_REDIS_CONNECT_MS_MIN ? r->timeout_ms : FS_REDIS_CONNECT_MS_MIN;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(r->connect_timeout_ev, &tv);
}

/* --- commands -------------------------------------------------------------- */

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata);

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    cmd_t *c = arg;
    fs_redis_t *r = c->r;
    (void)fd;
    (void)what;
    answer(c, FS_REDIS_UNAVAILABLE, NULL);
    /* hiredis still holds it and frees it when it calls back. A Redis that
     * keeps answering late is stuck: drop and make the connection again. */
    if (++r->late >= FS_REDIS_LATE_MAX) drop(r, "commands answered late");
}

static bool send_cmd(cmd_t *c, int argc, const char *const *argv, const size_t *argvlen)
{
    fs_redis_t *r = c->r;
    if (redisAsyncCommandArgv(r->ac, on_reply, c, argc, (const char **)argv, argvlen)
        != REDIS_OK)
        return false;
    c->in_hiredis = true;
    return true;
}

/* Sends a script's call: EVALSHA when its SHA1 is known, else EVAL with the
 * source (and a SCRIPT LOAD, so that the next call can use EVALSHA). */
static bool send_script(cmd_t *c);

/* --- replies (pure: fuzz/fuzz_redis_reply.c) ------------------------------ */

fs_redis_status_t fs_redis_reply_status(const redisReply *reply, bool *noscript)
{
    if (noscript != NULL) *noscript = false;
    if (reply == NULL) return FS_REDIS_UNAVAILABLE;
    if (reply->type != REDIS_REPLY_ERROR) return FS_REDIS_OK;
    /* An error reply's text is len bytes (hiredis adds a NUL, but a prefix
     * test must not rely on it). */
    static const char tag[] = "NOSCRIPT";
    if (noscript != NULL)
        *noscript = reply->str != NULL && reply->len >= sizeof(tag) - 1
                    && memcmp(reply->str, tag, sizeof(tag) - 1) == 0;
    return FS_REDIS_ERROR;
}

bool fs_redis_reply_sha(const redisReply *reply, char *sha)
{
    if (reply == NULL || reply->type != REDIS_REPLY_STRING || reply->str == NULL
        || reply->len != FS_REDIS_SHA_HEX_LEN)
        return false;
    for (size_t i = 0; i < FS_REDIS_SHA_HEX_LEN; i++)
        if (!isxdigit((unsigned char)reply->str[i])) return false;
    memcpy(sha, reply->str, FS_REDIS_SHA_HEX_LEN);
    sha[FS_REDIS_SHA_HEX_LEN] = '\0';
    return true;
}

typedef struct {
    fs_redis_t *r;
    int slot;
} load_t;

static void on_script_loaded(redisAsyncContext *ac, void *reply, void *privdata)
{
    load_t *l = privdata;
    redisReply *rep = reply;
    (void)ac;
    if (!l->r->freeing && l->slot < l->r->nscripts) {
        l->r->scripts[l->slot].loading = false;
        fs_redis_reply_sha(rep, l->r->scripts[l->slot].sha);
    }
    free(l);
}

static bool send_script(cmd_t *c)
{
    fs_redis_t *r = c->r;
    int slot = c->script;
    /* argv[0] and argv[1] are placeholders for EVAL/EVALSHA and the script. */
    const fs_redis_script_t *s = r->scripts[slot].script;
    if (r->scripts[slot].sha[0] != '\0') {
        c->argv[0] = strdup("EVALSHA");
        c->argv[1] = strdup(r->scripts[slot].sha);
    } else {
        c->argv[0] = strdup("EVAL");
        c->argv[1] = strdup(s->source);
        if (!r->scripts[slot].loading) {
            load_t *l = malloc(sizeof(*l));
            FS_ASSERT(l != NULL);
            *l = (load_t){.r = r, .slot = slot};
            const char *load[] = {"SCRIPT", "LOAD", s->source};
            if (redisAsyncCommandArgv(r->ac, on_script_loaded, l, 3, load, NULL) == REDIS_OK) {
                r->scripts[slot].loading = true;
            } else {
                free(l);
            }
        }
    }
    FS_ASSERT(c->argv[0] != NULL && c->argv[1] != NULL);
    c->argvlen[0] = strlen(c->argv[0]);
    c->argvlen[1] = strlen(c->argv[1]);
    bool ok = send_cmd(c, c->argc, (const char *const *)c->argv, c->argvlen);
    free(c->argv[0]);
    free(c->argv[1]);
    c->argv[0] = c->argv[1] = NULL;
    return ok;
}

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    cmd_t *c = privdata;
    redisReply *rep = reply;
    (void)ac;
    c->in_hiredis = false;
    if (rep != NULL) {
        fs_redis_t *r = c->r;
        r->late = 0;
        r->backoff_ms = FS_REDIS_RECONNECT_MS_MIN;
        if (r->down_logged && !r->freeing)
            fs_log(FS_LOG_INFO, "redis", "Redis at %s:%d is back", r->ip, r->port);
        r->down_logged = false;
    }
    bool noscript = false;
    fs_redis_status_t st = fs_redis_reply_status(rep, &noscript);
    if (!c->answered && noscript && c->script >= 0 && c->r->connected) {
        /* Redis restarted and forgot the script: send its source again. */
        c->r->scripts[c->script].sha[0] = '\0';
        c->r->scripts[c->script].loading = false;
        if (send_script(c)) return;
    }
    if (!c->answered) answer(c, st, st == FS_REDIS_UNAVAILABLE ? NULL : rep);
    cmd_free(c);
}

static cmd_t *cmd_new(fs_redis_t *r, fs_redis_cb cb, void *arg)
{
    cmd_t *c = calloc(1, sizeof(*c));
    FS_ASSERT(c != NULL);
    c->r = r;
    c->cb = cb;
    c->arg = arg;
    c->script = -1;
    r->waiting++;
    return c;
}

static void start_timer(cmd_t *c)
{
    fs_redis_t *r = c->r;
    c->timer = evtimer_new(r->base, on_timeout, c);
    FS_ASSERT(c->timer != NULL);
    struct timeval tv = {r->timeout_ms / 1000, (r->timeout_ms % 1000) * 1000};
    evtimer_add(c->timer, &tv);
}

/* A NULL r (no Redis configured) has no loop to defer on: the caller is
 * answered at once, inside the call (see redis.h). */
static bool refuse_null(fs_redis_t *r, fs_redis_cb cb, void *arg)
{
    if (r != NULL) return false;
    cb(arg, FS_REDIS_UNAVAILABLE, NULL);
    return true;
}

void fs_redis_command(fs_redis_t *r, fs_redis_cb cb, void *arg, int argc, const char *const *argv,
                      const size_t *argvlen)
{
    if (refuse_null(r, cb, arg)) return;
    cmd_t *c = cmd_new(r, cb, arg);
    if (!r->connected || r->waiting > FS_REDIS_PENDING_MAX) {
        defer_unavailable(c);
        return;
    }
    if (!send_cmd(c, argc, argv, argvlen)) {
        defer_unavailable(c);
        return;
    }
    start_timer(c);
}

static int script_slot(fs_redis_t *r, const fs_redis_script_t *s)
{
    for (int i = 0; i < r->nscripts; i++) {
        if (r->scripts[i].script == s) return i;
    }
    FS_ASSERT(r->nscripts < FS_REDIS_SCRIPTS_MAX);
    int i = r->nscripts++;
    r->scripts[i].script = s;
    r->scripts[i].sha[0] = '\0';
    r->scripts[i].loading = false;
    return i;
}

void fs_redis_eval(fs_redis_t *r, const fs_redis_script_t *script, fs_redis_cb cb, void *arg,
                   int nkeys, int argc, const char *const *argv, const size_t *argvlen)
{
    if (refuse_null(r, cb, arg)) return;
    cmd_t *c = cmd_new(r, cb, arg);
    if (!r->connected || r->waiting > FS_REDIS_PENDING_MAX) {
        defer_unavailable(c);
        return;
    }
    /* EVAL|EVALSHA, script|sha, numkeys, then argv. */
    c->script = script_slot(r, script);
    c->argc = argc + 3;
    c->argv = calloc((size_t)c->argc, sizeof(char *));
    c->argvlen = calloc((size_t)c->argc, sizeof(size_t));
    FS_ASSERT(c->argv != NULL && c->argvlen != NULL);
    char n[16];
    snprintf(n, sizeof(n), "%d", nkeys);
    c->argv[2] = strdup(n);
    c->argvlen[2] = strlen(n);
    for (int i = 0; i < argc; i++) {
        size_t len = argvlen != NULL ? argvlen[i] : strlen(argv[i]);
        c->argv[3 + i] = malloc(len + 1);
        FS_ASSERT(c->argv[3 + i] != NULL);
        memcpy(c->argv[3 + i], argv[i], len);
        c->argv[3 + i][len] = '\0';
        c->argvlen[3 + i] = len;
    }
    if (!send_script(c)) {
        defer_unavailable(c);
        return;
    }
    start_timer(c);
}

/* --- life ------------------------------------------------------------------ */

/* url with its credentials left out (for error messages, which are
 * logged). */
static void redact(const char *url, char *out, size_t out_len)
{
    const char *at = url != NULL ? strrchr(url, '@') : NULL;
    const char *sep = url != NULL ? strstr(url, "://") : NULL;
    if (at == NULL) {
        snprintf(out, out_len, "%s", url != NULL ? url : "");
    } else {
        /* Whatever the scheme (a mistyped one too): never the credentials. */
        int scheme_len = sep != NULL && sep < at ? (int)(sep - url) + 3 : 0;
        snprintf(out, out_len, "%.*s***%s", scheme_len, url, at);
    }
}

/* Percent-decodes [s, s + len) into out (out_len with its NUL); false when
 * it does not fit or holds a NUL. */
static bool decode_part(const char *s, size_t len, char *out, size_t out_len)
{
    char *part = strndup(s, len);
    FS_ASSERT(part != NULL);
    size_t n = 0;
    char *d = evhttp_uridecode(part, 0, &n);
    free(part);
    FS_ASSERT(d != NULL);
    bool ok = n < out_len && strlen(d) == n;
    if (ok) memcpy(out, d, n + 1);
    free(d);
    return ok;
}

bool fs_redis_url_parse(const char *url, fs_redis_url_t *out, char *err, size_t err_len)
{
    static const char scheme[] = "redis://", tls_scheme[] = "rediss://";
    char shown[256];
    redact(url, shown, sizeof(shown));
    memset(out, 0, sizeof(*out));
    const char *host;
    if (url != NULL && strncmp(url, scheme, sizeof(scheme) - 1) == 0) {
        host = url + sizeof(scheme) - 1;
    } else if (url != NULL && strncmp(url, tls_scheme, sizeof(tls_scheme) - 1) == 0) {
        host = url + sizeof(tls_scheme) - 1;
        out->tls = true;
    } else {
        snprintf(err, err_len,
                 "a Redis URL is redis://[[USER]:PASSWORD@]IP[:PORT], or rediss:// for TLS "
                 "(got '%s')", shown);
        return false;
    }
    const char *at = strrchr(host, '@');
    if (at != NULL) {
        const char *colon = memchr(host, ':', (size_t)(at - host));
        if (colon == NULL || at == colon + 1) {
            snprintf(err, err_len,
                     "a Redis URL's credentials are :PASSWORD@ or USER:PASSWORD@, "
                     "percent-encoded (got '%s')", shown);
            return false;
        }
        if (!decode_part(host, (size_t)(colon - host), out->user, sizeof(out->user))
            || !decode_part(colon + 1, (size_t)(at - colon - 1), out->password,
                            sizeof(out->password))) {
            snprintf(err, err_len,
                     "a Redis URL's user is at most %d bytes and its password at most %d "
                     "(got '%s')", FS_REDIS_USER_LEN_MAX, FS_REDIS_PASSWORD_LEN_MAX, shown);
            return false;
        }
        host = at + 1;
    }
    /* rediss://...?name=NAME: the name the certificate is verified for
     * (and sent as SNI) instead of the address. */
    char hostport[128];
    const char *query = strchr(host, '?');
    if (query != NULL) {
        static const char name_param[] = "?name=";
        size_t nl = strlen(query + sizeof(name_param) - 1);
        if (!out->tls || strncmp(query, name_param, sizeof(name_param) - 1) != 0 || nl == 0
            || nl > FS_REDIS_TLS_NAME_LEN_MAX
            || strspn(query + sizeof(name_param) - 1,
                      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-*")
                   != nl) {
            snprintf(err, err_len,
                     "a Redis URL's only parameter is ?name=HOST (rediss:// only: the name its "
                     "certificate is verified for, at most %d characters; got '%s')",
                     FS_REDIS_TLS_NAME_LEN_MAX, shown);
            return false;
        }
        memcpy(out->tls_name, query + sizeof(name_param) - 1, nl + 1);
        if ((size_t)(query - host) >= sizeof(hostport)) goto bad;
        memcpy(hostport, host, (size_t)(query - host));
        hostport[query - host] = '\0';
        host = hostport;
    }
    const char *colon = strrchr(host, ':');
    const char *end = host + strlen(host);
    if (*host == '[') { /* [IPv6]:port */
        const char *close = strchr(host, ']');
        if (close == NULL) goto bad;
        colon = close[1] == ':' ? close + 1 : NULL;
        end = close;
        host++;
    } else if (colon != NULL && strchr(host, ':') != colon) {
        colon = NULL; /* a bare IPv6 address: no port */
    }
    if (colon != NULL && *host != '\0' && end > colon) end = colon;
    size_t len = (size_t)(end - host);
    if (len == 0 || len >= sizeof(out->ip)) goto bad;
    memcpy(out->ip, host, len);
    out->ip[len] = '\0';
    unsigned char buf[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET, out->ip, buf) != 1 && inet_pton(AF_INET6, out->ip, buf) != 1) goto bad;
    out->port = 6379;
    if (colon != NULL) {
        char *e;
        long p = strtol(colon + 1, &e, 10);
        if (*e != '\0' || p < 1 || p > 65535) goto bad;
        out->port = (int)p;
    }
    return true;
bad:
    snprintf(err, err_len,
             "a Redis URL is redis://[[USER]:PASSWORD@]IP[:PORT] (or rediss://, TLS), with an IP "
             "address, not a host name (got '%s')", shown);
    return false;
}

bool fs_redis_parse_url(const char *url, char *ip, size_t ip_len, int *port, char *err,
                        size_t err_len)
{
    fs_redis_url_t u;
    if (!fs_redis_url_parse(url, &u, err, err_len)) return false;
    FS_ASSERT(strlen(u.ip) < ip_len);
    memcpy(ip, u.ip, strlen(u.ip) + 1);
    *port = u.port;
    sodium_memzero(u.password, sizeof(u.password));
    return true;
}

fs_redis_t *fs_redis_new(struct event_base *base, const char *url, int timeout_ms)
{
    fs_redis_t *r = calloc(1, sizeof(*r));
    FS_ASSERT(r != NULL);
    char err[256];
    fs_redis_url_t u;
    bool ok = fs_redis_url_parse(url, &u, err, sizeof(err));
    FS_ASSERT(ok); /* checked by the configuration */
    memcpy(r->ip, u.ip, sizeof(u.ip) < sizeof(r->ip) ? sizeof(u.ip) : sizeof(r->ip));
    r->ip[sizeof(r->ip) - 1] = '\0';
    r->port = u.port;
    memcpy(r->user, u.user, sizeof(r->user));
    memcpy(r->password, u.password, sizeof(r->password));
    sodium_memzero(u.password, sizeof(u.password));
    if (u.tls && !fs_redis_tls_socket(&u, r->tls_socket, sizeof(r->tls_socket), err,
                                      sizeof(err))) {
        /* Connections fail and are retried with back-off, as to a Redis
         * that is down: Redis is not needed to serve (docs/architecture.md). */
        fs_log(FS_LOG_ERROR, "redis", "%s", err);
        snprintf(r->tls_socket, sizeof(r->tls_socket), "/nonexistent/finsys-redis-tls");
    }
    r->base = base;
    r->timeout_ms = timeout_ms;
    r->backoff_ms = FS_REDIS_RECONNECT_MS_MIN;
    r->reconnect_ev = evtimer_new(base, on_reconnect, r);
    r->connect_timeout_ev = evtimer_new(base, on_connect_timeout, r);
    r->deferred_ev = event_new(base, -1, 0, on_deferred, r);
    r->drop_ev = event_new(base, -1, 0, on_drop, r);
    FS_ASSERT(r->reconnect_ev != NULL && r->connect_timeout_ev != NULL && r->deferred_ev != NULL
              && r->drop_ev != NULL);
    connect_now(r);
    return r;
}

void fs_redis_free(fs_redis_t *r)
{
    if (r == NULL) return;
    r->freeing = true;
    if (r->ac != NULL) {
        redisAsyncContext *ac = r->ac;
        r->ac = NULL;
        redisAsyncFree(ac); /* answers what hiredis holds */
    }
    on_deferred(-1, 0, r);
    event_free(r->reconnect_ev);
    event_free(r->connect_timeout_ev);
    event_free(r->deferred_ev);
    event_free(r->drop_ev);
    sodium_memzero(r->password, sizeof(r->password));
    free(r);
}

bool fs_redis_connected(const fs_redis_t *r)
{
    return r != NULL && r->connected;
}

redisContext *fs_redis_connect_blocking(const char *url, int timeout_ms, char *err,
                                        size_t err_len)
{
    fs_redis_url_t u;
    if (!fs_redis_url_parse(url, &u, err, err_len)) return NULL;
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    char tls_socket[108];
    if (u.tls && !fs_redis_tls_socket(&u, tls_socket, sizeof(tls_socket), err, err_len)) {
        sodium_memzero(u.password, sizeof(u.password));
        return NULL;
    }
    redisContext *c = u.tls ? redisConnectUnixWithTimeout(tls_socket, tv)
                            : redisConnectWithTimeout(u.ip, u.port, tv);
    if (c == NULL || c->err) {
        snprintf(err, err_len, "cannot connect to Redis at %s:%d: %s", u.ip, u.port,
                 c != NULL ? c->errstr : "out of memory");
        if (c != NULL) redisFree(c);
        sodium_memzero(u.password, sizeof(u.password));
        return NULL;
    }
    redisSetTimeout(c, tv);
    if (u.password[0] != '\0') {
        const char *argv[3] = {"AUTH", u.user, u.password};
        int argc = u.user[0] != '\0' ? 3 : 2;
        if (argc == 2) argv[1] = u.password;
        redisReply *rep = redisCommandArgv(c, argc, argv, NULL);
        sodium_memzero(u.password, sizeof(u.password));
        if (rep == NULL || rep->type == REDIS_REPLY_ERROR) {
            snprintf(err, err_len, "Redis at %s:%d refused AUTH: %s", u.ip, u.port,
                     rep != NULL ? rep->str : c->errstr);
            if (rep != NULL) freeReplyObject(rep);
            redisFree(c);
            return NULL;
        }
        freeReplyObject(rep);
    }
    return c;
}
