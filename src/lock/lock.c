/*
 * lock.c: the lock's scripts, and taking, extending and releasing it on an
 * event loop or blocking (see lock.h).
 */
#define _GNU_SOURCE
#include "lock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* KEYS: lock:<r>, fence:<r>; ARGV: the holder's token, the lease in ms.
 * The lock and its fencing token in one step: a holder never has one
 * without the other. A counter Redis lost starts again at Redis' clock in
 * microseconds (TIME), above the tokens handed out before. */
static const fs_redis_script_t acquire_script = {
    "lock_acquire",
    "if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then\n"
    "  if redis.call('EXISTS', KEYS[2]) == 0 then\n"
    "    local t = redis.call('TIME')\n"
    "    redis.call('SET', KEYS[2], t[1] .. string.rep('0', 6 - #t[2]) .. t[2])\n"
    "  end\n"
    "  return redis.call('INCR', KEYS[2])\n"
    "end\n"
    "return 0\n",
};

/* KEYS: lock:<r>; ARGV: the holder's token, the lease in ms. */
static const fs_redis_script_t extend_script = {
    "lock_extend",
    "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
    "  return redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
    "end\n"
    "return 0\n",
};

/* KEYS: lock:<r>; ARGV: the holder's token. */
static const fs_redis_script_t release_script = {
    "lock_release",
    "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
    "  return redis.call('DEL', KEYS[1])\n"
    "end\n"
    "return 0\n",
};

/* KEYS: fence:<r>; ARGV: a token PostgreSQL has seen. Raises the counter
 * to it, never lowers it. */
static const fs_redis_script_t raise_script = {
    "lock_raise",
    "if tonumber(redis.call('GET', KEYS[1]) or '0') < tonumber(ARGV[1]) then\n"
    "  redis.call('SET', KEYS[1], ARGV[1])\n"
    "  return 1\n"
    "end\n"
    "return 0\n",
};

typedef struct {
    char lock_key[FS_LOCK_RESOURCE_LEN_MAX + 8];
    char fence_key[FS_LOCK_RESOURCE_LEN_MAX + 8];
    char lease[16];
} keys_t;

static void keys_of(const char *resource, int lease_ms, keys_t *k)
{
    FS_ASSERT(strlen(resource) <= FS_LOCK_RESOURCE_LEN_MAX);
    snprintf(k->lock_key, sizeof(k->lock_key), "lock:%s", resource);
    snprintf(k->fence_key, sizeof(k->fence_key), "fence:%s", resource);
    snprintf(k->lease, sizeof(k->lease), "%d", lease_ms);
}

static void new_lock(const char *resource, fs_lock_t *lk)
{
    memset(lk, 0, sizeof(*lk));
    snprintf(lk->resource, sizeof(lk->resource), "%s", resource);
    fs_random_base62(lk->token, FS_LOCK_TOKEN_LEN);
    lk->token[FS_LOCK_TOKEN_LEN] = '\0';
}

/* --- on an event loop ------------------------------------------------------ */

typedef struct {
    struct event_base *base;
    fs_redis_t *r;
    fs_lock_t lock;
    int lease_ms;
    int retries;
    fs_lock_cb cb;
    void *arg;
    struct event *retry_ev;
} acquiring_t;

static void try_acquire(acquiring_t *a);

static void finish_acquire(acquiring_t *a, fs_lock_status_t st)
{
    if (a->retry_ev != NULL) event_free(a->retry_ev);
    a->cb(a->arg, st, st == FS_LOCK_ACQUIRED ? &a->lock : NULL);
    free(a);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    try_acquire(arg);
}

static void on_acquire_reply(void *arg, fs_redis_status_t st, const redisReply *reply)
{
    acquiring_t *a = arg;
    if (st != FS_REDIS_OK || reply->type != REDIS_REPLY_INTEGER) {
        if (st == FS_REDIS_ERROR)
            fs_log(FS_LOG_WARN, "lock", "lock %s: Redis error %s", a->lock.resource, reply->str);
        finish_acquire(a, FS_LOCK_UNAVAILABLE);
        return;
    }
    if (reply->integer > 0) {
        a->lock.fence = reply->integer;
        finish_acquire(a, FS_LOCK_ACQUIRED);
        return;
    }
    if (a->retries-- <= 0 || a->base == NULL) {
        finish_acquire(a, FS_LOCK_HELD);
        return;
    }
    if (a->retry_ev == NULL) {
        a->retry_ev = evtimer_new(a->base, on_retry, a);
        FS_ASSERT(a->retry_ev != NULL);
    }
    struct timeval tv = {0, FS_LOCK_RETRY_MS * 1000};
    evtimer_add(a->retry_ev, &tv);
}

static void try_acquire(acquiring_t *a)
{
    keys_t k;
    keys_of(a->lock.resource, a->lease_ms, &k);
    const char *argv[] = {k.lock_key, k.fence_key, a->lock.token, k.lease};
    fs_redis_eval(a->r, &acquire_script, on_acquire_reply, a, 2, 4, argv, NULL);
}

void fs_lock_acquire(struct event_base *base, fs_redis_t *r, const char *resource, int lease_ms,
                     int retries, fs_lock_cb cb, void *arg)
{
    acquiring_t *a = calloc(1, sizeof(*a));
    FS_ASSERT(a != NULL);
    *a = (acquiring_t){.base = base, .r = r, .lease_ms = lease_ms, .retries = retries,
                       .cb = cb, .arg = arg};
    new_lock(resource, &a->lock);
    try_acquire(a);
}

static void on_release_reply(void *arg, fs_redis_status_t st, const redisReply *reply)
{
    (void)reply;
    char *resource = arg;
    if (st != FS_REDIS_OK) {
        fs_log(FS_LOG_WARN, "lock", "lock %s not released (Redis unavailable); its lease ends it",
               resource);
    }
    free(resource);
}

void fs_lock_release(fs_redis_t *r, const fs_lock_t *lock)
{
    keys_t k;
    keys_of(lock->resource, 0, &k);
    const char *argv[] = {k.lock_key, lock->token};
    char *resource = strdup(lock->resource);
    FS_ASSERT(resource != NULL);
    fs_redis_eval(r, &release_script, on_release_reply, resource, 1, 2, argv, NULL);
}

static void on_raise_reply(void *arg, fs_redis_status_t st, const redisReply *reply)
{
    (void)arg;
    (void)st;
    (void)reply;
}

void fs_lock_raise(fs_redis_t *r, const char *resource, int64_t fence)
{
    keys_t k;
    keys_of(resource, 0, &k);
    char n[24];
    snprintf(n, sizeof(n), "%lld", (long long)fence);
    const char *argv[] = {k.fence_key, n};
    fs_redis_eval(r, &raise_script, on_raise_reply, NULL, 1, 2, argv, NULL);
}

/* --- blocking -------------------------------------------------------------- */

/* Runs a script with EVAL (the command line runs each once or a few
 * times: no need for EVALSHA). NULL when Redis did not answer. */
static redisReply *eval_blocking(redisContext *c, const fs_redis_script_t *s, int nkeys,
                                 int argc, const char *const *args)
{
    const char *argv[8];
    char n[8];
    FS_ASSERT(argc + 3 <= 8);
    snprintf(n, sizeof(n), "%d", nkeys);
    argv[0] = "EVAL";
    argv[1] = s->source;
    argv[2] = n;
    for (int i = 0; i < argc; i++) argv[3 + i] = args[i];
    redisReply *rep = redisCommandArgv(c, argc + 3, argv, NULL);
    if (rep != NULL && rep->type == REDIS_REPLY_ERROR) {
        fprintf(stderr, "finsys: Redis: %s\n", rep->str);
        freeReplyObject(rep);
        return NULL;
    }
    return rep;
}

fs_lock_status_t fs_lock_acquire_blocking(redisContext *c, const char *resource, int lease_ms,
                                          fs_lock_t *out)
{
    keys_t k;
    keys_of(resource, lease_ms, &k);
    new_lock(resource, out);
    const char *argv[] = {k.lock_key, k.fence_key, out->token, k.lease};
    redisReply *rep = eval_blocking(c, &acquire_script, 2, 4, argv);
    if (rep == NULL || rep->type != REDIS_REPLY_INTEGER) {
        if (rep != NULL) freeReplyObject(rep);
        return FS_LOCK_UNAVAILABLE;
    }
    out->fence = rep->integer;
    freeReplyObject(rep);
    return out->fence > 0 ? FS_LOCK_ACQUIRED : FS_LOCK_HELD;
}

static int int_reply(redisReply *rep)
{
    if (rep == NULL) return -1;
    int v = rep->type == REDIS_REPLY_INTEGER ? (rep->integer > 0 ? 1 : 0) : -1;
    freeReplyObject(rep);
    return v;
}

int fs_lock_extend_blocking(redisContext *c, const fs_lock_t *lock, int lease_ms)
{
    keys_t k;
    keys_of(lock->resource, lease_ms, &k);
    const char *argv[] = {k.lock_key, lock->token, k.lease};
    return int_reply(eval_blocking(c, &extend_script, 1, 3, argv));
}

int fs_lock_release_blocking(redisContext *c, const fs_lock_t *lock)
{
    keys_t k;
    keys_of(lock->resource, 0, &k);
    const char *argv[] = {k.lock_key, lock->token};
    return int_reply(eval_blocking(c, &release_script, 1, 2, argv));
}

int fs_lock_raise_blocking(redisContext *c, const char *resource, int64_t fence)
{
    keys_t k;
    keys_of(resource, 0, &k);
    char n[24];
    snprintf(n, sizeof(n), "%lld", (long long)fence);
    const char *argv[] = {k.fence_key, n};
    return int_reply(eval_blocking(c, &raise_script, 1, 2, argv));
}
