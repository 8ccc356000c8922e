/*
 * flood.c: make bench's flood of made-up API keys (issue 13).
 *
 * Sends POST /v1/payments, each with a new random key ("fsk_" and 40 base62
 * characters, as src/auth makes them, so that no key is ever one the server
 * issued or has seen), over keep-alive connections bound to a source address
 * of its own (--source, e.g. 127.0.0.2: the server's address limits are
 * keyed on the peer address, and wrk cannot bind one), one request in
 * flight per connection, each sent as soon as the last is answered (or at
 * --rate requests a second in all), and counts the answers' statuses. It
 * stops by itself after --seconds or --requests, whichever comes first,
 * then prints one line:
 *
 *   FLOOD_RESULT {"requests":N,"duration_s":S,"per_s":R,"status_401":N,
 *                 "status_429":N,"status_2xx":N,"status_other":N,
 *                 "connects":N,"errors":N}
 *
 * One thread, plain sockets and epoll, no libraries: on the bench's two
 * shared cores it should cost as little CPU as a load generator can (a
 * remote flooder would cost the server's machine none; scripts/bench.sh
 * counts its CPU apart).
 *
 *   flood --port PORT [--host 127.0.0.1] [--source 127.0.0.2]
 *         [--connections 8] [--seconds 10] [--requests 10000000] [--rate 0]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Bounds: a flood is a bench's, short and to loopback. */
#define CONNECTIONS_MAX 256
#define SECONDS_MAX 600
#define RESPONSE_MAX 16384 /* the server's error answers are under 1 KB */
#define REQUEST_MAX 1024

typedef struct {
    int fd;
    bool busy;             /* a request sent, its answer not whole yet */
    char in[RESPONSE_MAX]; /* the answer so far */
    size_t in_len;
} conn_t;

typedef struct {
    const char *host, *source;
    int port, connections;
    double seconds, rate;
    long long requests_max;
} options_t;

static struct {
    long long sent, answered, s401, s429, s2xx, other, connects, errors;
} count;

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next_random(void)
{
    /* xorshift64*: the keys need only be new, not secret. */
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 0x2545f4914f6cdd1dull;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void random_chars(char *out, int n)
{
    static const char base62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    for (int i = 0; i < n; i++) out[i] = base62[next_random() % 62];
    out[n] = '\0';
}

static int open_conn(const options_t *o, int ep, conn_t *c)
{
    /* A blocking connect (to loopback: at once), then non-blocking reads:
     * epoll then waits for answers only, never for writability. */
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0) return -1;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct sockaddr_in src = {.sin_family = AF_INET};
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o->port)};
    if (inet_pton(AF_INET, o->source, &src.sin_addr) != 1 ||
        inet_pton(AF_INET, o->host, &dst.sin_addr) != 1 ||
        bind(c->fd, (struct sockaddr *)&src, sizeof(src)) != 0 ||
        connect(c->fd, (struct sockaddr *)&dst, sizeof(dst)) != 0 ||
        fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK) != 0) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    c->busy = false;
    c->in_len = 0;
    count.connects++;
    return 0;
}

static void close_conn(conn_t *c)
{
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    c->busy = false;
    c->in_len = 0;
}

/* Sends one request with a key never used. The request is small: the
 * socket's buffer takes it whole, or the connection is counted failed. */
static int send_request(const options_t *o, conn_t *c)
{
    char key[41], idem[25], req[REQUEST_MAX];
    random_chars(key, 40);
    random_chars(idem, 24);
    static const char body[] = "{\"from_account\":\"acc_flood_a\",\"to_account\":\"acc_flood_b\","
                               "\"amount\":100,\"currency\":\"USD\"}";
    int n = snprintf(req, sizeof(req),
                     "POST /v1/payments HTTP/1.1\r\nHost: %s:%d\r\n"
                     "Authorization: Bearer fsk_%s\r\nIdempotency-Key: flood-%s\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                     o->host, o->port, key, idem, sizeof(body) - 1, body);
    if (n <= 0 || n >= (int)sizeof(req)) return -1;
    ssize_t w = send(c->fd, req, (size_t)n, MSG_NOSIGNAL);
    if (w != n) return -1;
    c->busy = true;
    c->in_len = 0;
    count.sent++;
    return 0;
}

/* 1: c->in holds a whole answer (its status in *status, whether the server
 * closes after it in *closing); 0: not yet; -1: not one this reads. */
static int parse_answer(const conn_t *c, int *status, bool *closing)
{
    const char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
    if (end == NULL) return c->in_len >= sizeof(c->in) ? -1 : 0;
    if (c->in_len < 12 || strncmp(c->in, "HTTP/1.", 7) != 0) return -1;
    *status = atoi(c->in + 9);
    long long length = -1;
    *closing = false;
    for (const char *line = strstr(c->in, "\r\n") + 2; line < end;
         line = strstr(line, "\r\n") + 2) {
        if (strncasecmp(line, "Content-Length:", 15) == 0) length = atoll(line + 15);
        if (strncasecmp(line, "Connection: close", 17) == 0) *closing = true;
    }
    if (length < 0) return -1; /* chunked or to the close: the server sends neither */
    size_t whole = (size_t)(end + 4 - c->in) + (size_t)length;
    if (whole > sizeof(c->in)) return -1;
    return c->in_len >= whole ? 1 : 0;
}

static void count_status(int status)
{
    count.answered++;
    if (status == 401)
        count.s401++;
    else if (status == 429)
        count.s429++;
    else if (status >= 200 && status < 300)
        count.s2xx++;
    else
        count.other++;
}

/* Reads what c has; true when its answer is whole (and counted). */
static bool read_answer(conn_t *c, bool *closing)
{
    for (;;) {
        ssize_t r = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len - 1, 0);
        if (r > 0) {
            c->in_len += (size_t)r;
            c->in[c->in_len] = '\0';
            int status = 0;
            int p = parse_answer(c, &status, closing);
            if (p == 1) {
                count_status(status);
                c->busy = false;
                return true;
            }
            if (p < 0) break;
            continue;
        }
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return false;
        break; /* closed, reset, or an answer this cannot read */
    }
    count.errors++;
    *closing = true;
    return false;
}

static int parse_options(int argc, char **argv, options_t *o)
{
    *o = (options_t){.host = "127.0.0.1",
                     .source = "127.0.0.2",
                     .connections = 8,
                     .seconds = 10,
                     .requests_max = 10000000,
                     .rate = 0};
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (strcmp(k, "--host") == 0)
            o->host = v;
        else if (strcmp(k, "--source") == 0)
            o->source = v;
        else if (strcmp(k, "--port") == 0)
            o->port = atoi(v);
        else if (strcmp(k, "--connections") == 0)
            o->connections = atoi(v);
        else if (strcmp(k, "--seconds") == 0)
            o->seconds = atof(v);
        else if (strcmp(k, "--requests") == 0)
            o->requests_max = atoll(v);
        else if (strcmp(k, "--rate") == 0)
            o->rate = atof(v);
        else
            return -1;
    }
    if (argc % 2 != 1 || o->port <= 0 || o->port > 65535 || o->connections < 1 ||
        o->connections > CONNECTIONS_MAX || o->seconds <= 0 || o->seconds > SECONDS_MAX ||
        o->requests_max < 1 || o->rate < 0)
        return -1;
    return 0;
}

/* Whether one more request may go now: the bounds, and --rate's pace. */
static bool may_send(const options_t *o, double start)
{
    if (count.sent >= o->requests_max) return false;
    if (o->rate <= 0) return true;
    return (double)count.sent < (now_s() - start) * o->rate + 1;
}

static void kick(const options_t *o, int ep, conn_t *conns, double start)
{
    for (int i = 0; i < o->connections; i++) {
        conn_t *c = &conns[i];
        if (c->fd < 0 && open_conn(o, ep, c) != 0) {
            count.errors++;
            continue;
        }
        if (!c->busy && may_send(o, start) && send_request(o, c) != 0) {
            count.errors++;
            close_conn(c);
        }
    }
}

int main(int argc, char **argv)
{
    options_t o;
    if (parse_options(argc, argv, &o) != 0) {
        fprintf(stderr,
                "usage: flood --port PORT [--host 127.0.0.1] [--source 127.0.0.2]\n"
                "             [--connections 1..%d] [--seconds 0..%d] [--requests N]"
                " [--rate PER_S]\n",
                CONNECTIONS_MAX, SECONDS_MAX);
        return 2;
    }
    rng ^= (uint64_t)time(NULL) * 0x100000001b3ull ^ (uint64_t)getpid();
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) {
        perror("flood: epoll_create1");
        return 1;
    }
    static conn_t conns[CONNECTIONS_MAX];
    for (int i = 0; i < o.connections; i++) conns[i].fd = -1;
    double start = now_s(), end = start + o.seconds;
    kick(&o, ep, conns, start);
    struct epoll_event evs[CONNECTIONS_MAX];
    while (now_s() < end && (count.sent < o.requests_max || count.answered < count.sent)) {
        int wait_ms = o.rate > 0 ? 1 : 100;
        int n = epoll_wait(ep, evs, CONNECTIONS_MAX, wait_ms);
        for (int i = 0; i < n; i++) {
            conn_t *c = evs[i].data.ptr;
            if (c->fd < 0) continue;
            /* Idle and readable: the server closed it (or sent what it was
             * not asked for). */
            bool closing = !c->busy;
            bool done = c->busy && read_answer(c, &closing);
            if (!done && !closing && (evs[i].events & (EPOLLERR | EPOLLHUP)) != 0) {
                count.errors++;
                closing = true;
            }
            if (closing) close_conn(c);
        }
        kick(&o, ep, conns, start);
    }
    double took = now_s() - start;
    for (int i = 0; i < o.connections; i++) close_conn(&conns[i]);
    close(ep);
    printf("FLOOD_RESULT {\"requests\":%lld,\"duration_s\":%.3f,\"per_s\":%.1f,"
           "\"status_401\":%lld,\"status_429\":%lld,\"status_2xx\":%lld,\"status_other\":%lld,"
           "\"connects\":%lld,\"errors\":%lld}\n",
           count.answered, took, (double)count.answered / took, count.s401, count.s429, count.s2xx,
           count.other, count.connects, count.errors);
    return 0;
}
