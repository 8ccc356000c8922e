/*
 * health.c: readiness probes (see health.h).
 */
#include "health.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "../core/core.h"
#include "../core/limits.h"
#include "../op/op.h"

enum { DEP_DATABASE, DEP_REDIS, DEP_NATS, DEPS };
static const char *const dep_names[DEPS] = {"database", "redis", "nats"};

typedef enum { CHECK_PENDING, CHECK_OK, CHECK_FAILED, CHECK_DISABLED } check_t;

/* One probe: freed when it has answered and each check it started has come
 * back (a late answer after the timeout only drops the reference). */
typedef struct {
    fs_health_cb cb;
    void *arg;
    struct event *timer;
    int refs;
    bool answered;
    bool starting; /* inside fs_health_ready: answers wait for it to return */
    uint64_t start_us;
    check_t check[DEPS];
    double latency_ms[DEPS];
} probe_t;

static void release(probe_t *p)
{
    if (--p->refs > 0) return;
    event_free(p->timer);
    free(p);
}

static void answer(probe_t *p)
{
    if (p->answered) return;
    p->answered = true;
    event_del(p->timer);
    json_t *checks = json_object();
    char reason[128] = "";
    for (int i = 0; i < DEPS; i++) {
        const char *st = p->check[i] == CHECK_OK         ? "ok"
                         : p->check[i] == CHECK_DISABLED ? "disabled"
                                                         : "unavailable";
        json_t *c = json_pack("{s:s}", "status", st);
        if (p->check[i] == CHECK_OK || p->check[i] == CHECK_FAILED)
            json_object_set_new(c, "latency_ms", json_real(p->latency_ms[i]));
        else if (p->check[i] == CHECK_PENDING)
            json_object_set_new(c, "latency_ms", json_real(FS_READY_TIMEOUT_MS));
        json_object_set_new(checks, dep_names[i], c);
        if (p->check[i] == CHECK_FAILED || p->check[i] == CHECK_PENDING) {
            size_t n = strlen(reason);
            snprintf(reason + n, sizeof(reason) - n, "%s%s", n > 0 ? ", " : "", dep_names[i]);
        }
    }
    bool ready = reason[0] == '\0';
    json_t *body = json_pack("{s:s, s:o}", "status", ready ? "ready" : "unavailable", "checks",
                             checks);
    if (!ready) {
        char text[160];
        snprintf(text, sizeof(text), "%s does not answer", reason);
        json_object_set_new(body, "reason", json_string(text));
    }
    char *s = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    p->cb(p->arg, ready ? 200 : 503, s != NULL ? s : "{\"status\":\"unavailable\"}");
    free(s);
}

static void done(probe_t *p, int dep, bool ok)
{
    if (!p->answered) {
        p->check[dep] = ok ? CHECK_OK : CHECK_FAILED;
        p->latency_ms[dep] = (double)(fs_now_us() - p->start_us) / 1000.0;
        bool all = true;
        for (int i = 0; i < DEPS; i++) all = all && p->check[i] != CHECK_PENDING;
        if (all && !p->starting) answer(p);
    }
    release(p);
}

static void on_ping(void *arg, const fs_store_result_t *r)
{
    done(arg, DEP_DATABASE, strcmp(r->outcome, "ok") == 0);
}

static void on_redis_ping(void *arg, fs_redis_status_t st, const redisReply *reply)
{
    (void)reply;
    done(arg, DEP_REDIS, st == FS_REDIS_OK);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    probe_t *p = arg;
    p->refs++;
    answer(p);
    release(p);
}

void fs_health_ready(struct event_base *base, fs_store_t *store, fs_redis_t *redis,
                     fs_queue_t *queue, bool queue_required, fs_health_cb cb, void *arg)
{
    probe_t *p = calloc(1, sizeof(*p));
    FS_ASSERT(p != NULL);
    p->cb = cb;
    p->arg = arg;
    p->start_us = fs_now_us();
    p->timer = evtimer_new(base, on_timeout, p);
    FS_ASSERT(p->timer != NULL);
    struct timeval tv = {FS_READY_TIMEOUT_MS / 1000, (FS_READY_TIMEOUT_MS % 1000) * 1000};
    evtimer_add(p->timer, &tv);
    p->refs = 1; /* this call's own, so nothing is freed before it returns */
    p->starting = true;

    /* NATS: libnats reconnects by itself and says whether it is connected;
     * asking costs a mutex, not a round trip. */
    if (queue == NULL) {
        p->check[DEP_NATS] = queue_required ? CHECK_FAILED : CHECK_DISABLED;
    } else {
        p->check[DEP_NATS] = fs_queue_connected(queue) ? CHECK_OK : CHECK_FAILED;
        p->latency_ms[DEP_NATS] = (double)(fs_now_us() - p->start_us) / 1000.0;
    }
    if (redis == NULL) {
        p->check[DEP_REDIS] = CHECK_DISABLED;
    } else {
        static const char *const argv[] = {"PING"};
        p->refs++;
        fs_redis_command(redis, on_redis_ping, p, 1, argv, NULL);
    }
    p->refs++;
    fs_store_submit(store, json_pack("{s:s}", "op", fs_op_name(FS_OP_PING)), on_ping, p);
    /* Each check may have come back already (a store that is away answers at
     * once): answer now if so, from a zero-delay event (never before this
     * call returns). */
    p->starting = false;
    bool all = true;
    for (int i = 0; i < DEPS; i++) all = all && p->check[i] != CHECK_PENDING;
    if (all && !p->answered) {
        struct timeval now = {0, 0};
        evtimer_add(p->timer, &now);
    }
    release(p);
}
