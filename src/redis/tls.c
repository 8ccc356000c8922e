/*
 * tls.c: TLS to Redis for a rediss:// URL (see redis.h).
 *
 * hiredis 0.14 (Debian 12's) speaks no TLS, and its async side cannot take
 * a socket of ours: it connects to an address or a Unix socket. So a
 * process whose FINSYS_REDIS_URL is rediss:// runs one bridge, on a thread
 * of its own with its own libevent loop (no FinSys loop ever waits on a
 * handshake): a Unix socket in a directory only this process's user can
 * enter, where every connection hiredis makes is joined to a TLS connection
 * to Redis (libevent-openssl, as the webhooks' https), byte for byte both
 * ways. The peer's certificate is verified against the system's CAs and
 * FINSYS_REDIS_CA_FILE's, for the URL's IP address, or for its ?name= (also
 * sent as SNI: managed Redis services have certificates for their names).
 * A failed handshake closes hiredis's side: the connection's own back-off
 * and /readyz handle it as any refused connection, and the reason is
 * logged here.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "../core/core.h"
#include "../core/limits.h"
#include "redis.h"

typedef struct {
    char dir[96];
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    char ip[64];
    int port;
    char name[FS_REDIS_TLS_NAME_LEN_MAX + 1];
    struct sockaddr_storage addr;
    socklen_t addr_len;
    SSL_CTX *ctx;
    struct event_base *base;
    struct evconnlistener *listener;
    pthread_t thread;
} bridge_t;

static pthread_mutex_t bridge_mu = PTHREAD_MUTEX_INITIALIZER;
static bridge_t *bridge; /* the process's one, once started; never freed */

/* One hiredis connection joined to its TLS connection. */
typedef struct {
    struct bufferevent *local, *remote;
    bool connected; /* the handshake is done */
} pair_t;

static void pair_free(pair_t *p)
{
    if (p->local != NULL) bufferevent_free(p->local);
    if (p->remote != NULL) bufferevent_free(p->remote);
    free(p);
}

static struct bufferevent *other(pair_t *p, struct bufferevent *bev)
{
    return bev == p->local ? p->remote : p->local;
}

/* Bytes from one side to the other; past FS_REDIS_TLS_BUFFER_MAX_BYTES
 * unsent on the other side, this side stops reading until it drains. */
static void on_drained(struct bufferevent *dst, void *arg);

static void on_read(struct bufferevent *src, void *arg)
{
    pair_t *p = arg;
    struct bufferevent *dst = other(p, src);
    evbuffer_add_buffer(bufferevent_get_output(dst), bufferevent_get_input(src));
    if (evbuffer_get_length(bufferevent_get_output(dst)) >= FS_REDIS_TLS_BUFFER_MAX_BYTES) {
        bufferevent_disable(src, EV_READ);
        bufferevent_setwatermark(dst, EV_WRITE, FS_REDIS_TLS_BUFFER_MAX_BYTES / 2, 0);
        bufferevent_setcb(dst, on_read, on_drained, NULL, p);
    }
}

static void on_event(struct bufferevent *bev, short what, void *arg);

static void on_drained(struct bufferevent *dst, void *arg)
{
    pair_t *p = arg;
    bufferevent_setwatermark(dst, EV_WRITE, 0, 0);
    bufferevent_setcb(dst, on_read, NULL, on_event, p);
    bufferevent_enable(other(p, dst), EV_READ);
}

static void log_tls_failure(struct bufferevent *remote, short what)
{
    char why[200] = "";
    SSL *ssl = bufferevent_openssl_get_ssl(remote);
    long verified = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;
    unsigned long e;
    while ((e = bufferevent_get_openssl_error(remote)) != 0) {
        const char *reason = ERR_reason_error_string(e);
        if (reason != NULL && why[0] == '\0') snprintf(why, sizeof(why), "%s", reason);
    }
    if (verified != X509_V_OK)
        snprintf(why, sizeof(why), "certificate verify failed: %s",
                 X509_verify_cert_error_string(verified));
    if (why[0] == '\0') {
        int err = EVUTIL_SOCKET_ERROR();
        snprintf(why, sizeof(why), "%s",
                 (what & BEV_EVENT_EOF) ? "closed by Redis" : evutil_socket_error_to_string(err));
    }
    fs_log(FS_LOG_WARN, "redis", "TLS to Redis at %s:%d failed: %s", bridge->ip, bridge->port,
           why);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    pair_t *p = arg;
    if (what & BEV_EVENT_CONNECTED) {
        p->connected = true;
        return;
    }
    if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))) return;
    if (bev == p->remote && !p->connected) log_tls_failure(bev, what);
    /* Either side gone: what the other has yet to send is dropped with it
     * (a Redis connection's replies are of no use to a closed hiredis, and
     * hiredis's commands to a closed Redis are answered as failed). */
    pair_free(p);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                      int len, void *arg)
{
    (void)l;
    (void)sa;
    (void)len;
    bridge_t *b = arg;
    pair_t *p = calloc(1, sizeof(*p));
    FS_ASSERT(p != NULL);
    SSL *ssl = SSL_new(b->ctx);
    FS_ASSERT(ssl != NULL);
    X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
    if (b->name[0] != '\0') {
        SSL_set_tlsext_host_name(ssl, b->name);
        X509_VERIFY_PARAM_set1_host(param, b->name, 0);
    } else {
        X509_VERIFY_PARAM_set1_ip_asc(param, b->ip);
    }
    p->local = bufferevent_socket_new(b->base, fd, BEV_OPT_CLOSE_ON_FREE);
    p->remote = bufferevent_openssl_socket_new(b->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                               BEV_OPT_CLOSE_ON_FREE);
    FS_ASSERT(p->local != NULL && p->remote != NULL);
    bufferevent_setcb(p->local, on_read, NULL, on_event, p);
    bufferevent_setcb(p->remote, on_read, NULL, on_event, p);
    bufferevent_enable(p->local, EV_READ);
    bufferevent_enable(p->remote, EV_READ);
    if (bufferevent_socket_connect(p->remote, (struct sockaddr *)&b->addr, (int)b->addr_len)
        != 0) {
        fs_log(FS_LOG_WARN, "redis", "TLS to Redis at %s:%d: cannot connect: %s", b->ip, b->port,
               strerror(errno));
        pair_free(p);
    }
}

static void *bridge_main(void *arg)
{
    bridge_t *b = arg;
    event_base_dispatch(b->base);
    return NULL;
}

static void bridge_remove(void)
{
    if (bridge == NULL) return;
    unlink(bridge->path);
    rmdir(bridge->dir);
}

/* Makes and starts the bridge for u; NULL with a sentence in err. */
static bridge_t *bridge_start(const fs_redis_url_t *u, char *err, size_t err_len)
{
    bridge_t *b = calloc(1, sizeof(*b));
    FS_ASSERT(b != NULL);
    snprintf(b->ip, sizeof(b->ip), "%s", u->ip);
    b->port = u->port;
    snprintf(b->name, sizeof(b->name), "%s", u->tls_name);
    struct sockaddr_in *in4 = (struct sockaddr_in *)&b->addr;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&b->addr;
    if (inet_pton(AF_INET, u->ip, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)u->port);
        b->addr_len = sizeof(*in4);
    } else {
        FS_ASSERT(inet_pton(AF_INET6, u->ip, &in6->sin6_addr) == 1);
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)u->port);
        b->addr_len = sizeof(*in6);
    }

    b->ctx = SSL_CTX_new(TLS_client_method());
    FS_ASSERT(b->ctx != NULL);
    SSL_CTX_set_min_proto_version(b->ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(b->ctx, SSL_VERIFY_PEER, NULL);
    const char *system_cas = getenv(X509_get_default_cert_file_env());
    if (system_cas == NULL || *system_cas == '\0') system_cas = X509_get_default_cert_file();
    if (SSL_CTX_load_verify_locations(b->ctx, system_cas, NULL) != 1) ERR_clear_error();
    const char *ca = getenv("FINSYS_REDIS_CA_FILE");
    if (ca != NULL && *ca != '\0' && SSL_CTX_load_verify_locations(b->ctx, ca, NULL) != 1) {
        ERR_clear_error();
        snprintf(err, err_len, "FINSYS_REDIS_CA_FILE %s cannot be read as PEM certificates",
                 ca);
        SSL_CTX_free(b->ctx);
        free(b);
        return NULL;
    }

    const char *tmp = getenv("TMPDIR");
    snprintf(b->dir, sizeof(b->dir), "%s/finsys-redis-XXXXXX",
             tmp != NULL && *tmp != '\0' && strlen(tmp) < 48 ? tmp : "/tmp");
    if (mkdtemp(b->dir) == NULL) { /* 0700: only this user may connect */
        snprintf(err, err_len, "cannot make the Redis TLS bridge's directory %s: %s", b->dir,
                 strerror(errno));
        SSL_CTX_free(b->ctx);
        free(b);
        return NULL;
    }
    snprintf(b->path, sizeof(b->path), "%s/s", b->dir);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", b->path);
    b->base = event_base_new();
    FS_ASSERT(b->base != NULL);
    b->listener = evconnlistener_new_bind(b->base, on_accept, b,
                                          LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 64,
                                          (struct sockaddr *)&sun, sizeof(sun));
    if (b->listener == NULL) {
        snprintf(err, err_len, "cannot listen on the Redis TLS bridge's socket %s: %s", b->path,
                 strerror(errno));
        rmdir(b->dir);
        event_base_free(b->base);
        SSL_CTX_free(b->ctx);
        free(b);
        return NULL;
    }
    fs_thread_start_or_exit(&b->thread, bridge_main, b, "redis-tls", "the Redis TLS bridge");
    fs_log(FS_LOG_INFO, "redis", "TLS to Redis at %s:%d, the certificate verified for %s",
           b->ip, b->port, b->name[0] != '\0' ? b->name : b->ip);
    return b;
}

bool fs_redis_tls_socket(const fs_redis_url_t *u, char *path, size_t path_len, char *err,
                         size_t err_len)
{
    FS_ASSERT(u->tls);
    pthread_mutex_lock(&bridge_mu);
    if (bridge == NULL) {
        bridge = bridge_start(u, err, err_len);
        if (bridge != NULL) atexit(bridge_remove);
    } else if (strcmp(bridge->ip, u->ip) != 0 || bridge->port != u->port
               || strcmp(bridge->name, u->tls_name) != 0) {
        snprintf(err, err_len, "one Redis over TLS a process: %s:%d is bridged already",
                 bridge->ip, bridge->port);
        pthread_mutex_unlock(&bridge_mu);
        return false;
    }
    bool ok = bridge != NULL && strlen(bridge->path) < path_len;
    if (ok) memcpy(path, bridge->path, strlen(bridge->path) + 1);
    pthread_mutex_unlock(&bridge_mu);
    return ok;
}
