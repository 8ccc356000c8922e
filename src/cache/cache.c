/*
 * cache.c: the Redis cache in front of the store (see cache.h).
 *
 * Keys (docs/architecture.md, "Caching"):
 *   fs:acct:{id}:gen           the account's generation: a number made from
 *                              Redis's clock in microseconds (x1000) when
 *                              the key is created, INCR'd by every change
 *   fs:acct:{id}:k:{keyhash}   the account's JSON as the API key with that
 *                              hash was shown it, prefixed "{epoch}:{gen}\n"
 *   fs:idem:{keyhash}:{key}    {"fp", "o", "p"}: the outcome the database
 *                              stored for that Idempotency-Key, written
 *                              once the database has replayed it
 *
 * The epoch is Redis's LASTSAVE: FinSys's Redis saves no snapshots (`--save
 * ""`), so it is the time the server started and changes with every restart.
 * An entry written before a restart that lost later writes (the last second
 * of the append-only file) is never served after it, nor a fill begun
 * before it stored after it.
 */
#define _GNU_SOURCE
#include "cache.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/core.h"
#include "../core/limits.h"
#include "../op/op.h"

/* Account ids whose bump Redis has not taken, in every cache of the
 * process: while any wait, no loop serves an account from Redis. */
static atomic_long pending_total;

typedef struct waiter {
    struct waiter *next;
    uint64_t seq; /* answered once the bumps up to this one are */
    fs_store_cb cb;
    void *arg;
    char *outcome, *payload;
    bool replayed;
} waiter_t;

struct fs_cache {
    struct event_base *base;
    fs_redis_t *redis;
    fs_store_t *store;
    int replay_ttl_s;
    fs_cache_stats_t stats;
    uint64_t bumps_sent, bumps_done; /* sequence numbers of first-time bumps */
    waiter_t *waiters, *waiters_tail;
    char **pending; /* ids to bump again */
    size_t npending, cap_pending;
    struct event *retry_ev;
    int busy;    /* items between fs_cache_submit and their answer */
    bool closed; /* fs_cache_close: the store is going away */
};

static const char stopping[] = "{\"message\":\"FinSys is stopping; retry shortly.\","
                               "\"param\":null}";

/* Hands item to the store, or answers unavailable once it is closing. */
static void submit(fs_cache_t *c, json_t *item, fs_store_cb cb, void *arg)
{
    if (c->closed) {
        json_decref(item);
        fs_store_result_t r = {.outcome = "unavailable", .replayed = false, .payload = stopping};
        cb(arg, &r);
        return;
    }
    fs_store_submit(c->store, item, cb, arg);
}

/* --- scripts --------------------------------------------------------------- */

/* KEYS: generation, entry. ARGV: the generation's TTL. Returns {gen, epoch}
 * and the value when the entry was stored under both. A missing generation
 * is made here, so that a fill always compares against a value no later
 * generation of the account (after a FLUSHALL, say) can take again. */
static const fs_redis_script_t read_script = {
    "cache_account_read",
    "local g = redis.call('GET', KEYS[1])\n"
    "if not g then\n"
    "  local t = redis.call('TIME')\n"
    "  g = t[1] .. string.format('%06d', tonumber(t[2])) .. '000'\n"
    "  redis.call('SET', KEYS[1], g, 'EX', ARGV[1])\n"
    "end\n"
    "local e = tostring(redis.call('LASTSAVE'))\n"
    "local v = redis.call('GET', KEYS[2])\n"
    "if v then\n"
    "  local nl = string.find(v, '\\n', 1, true)\n"
    "  if nl and string.sub(v, 1, nl - 1) == e .. ':' .. g then\n"
    "    return {g, e, string.sub(v, nl + 1)}\n"
    "  end\n"
    "end\n"
    "return {g, e}\n",
};

/* KEYS: generation, entry. ARGV: the generation and epoch the read saw
 * before it asked the database, the value, the entry's TTL, the
 * generation's TTL. Stores the value only if neither changed since. */
static const fs_redis_script_t fill_script = {
    "cache_account_fill",
    "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end\n"
    "if tostring(redis.call('LASTSAVE')) ~= ARGV[2] then return 0 end\n"
    "redis.call('SET', KEYS[2], ARGV[2] .. ':' .. ARGV[1] .. '\\n' .. ARGV[3], 'EX', ARGV[4])\n"
    "redis.call('EXPIRE', KEYS[1], ARGV[5])\n"
    "return 1\n",
};

/* KEYS: generations of changed accounts. ARGV: their TTL. */
static const fs_redis_script_t bump_script = {
    "cache_account_bump",
    "for _, k in ipairs(KEYS) do\n"
    "  if redis.call('EXISTS', k) == 1 then\n"
    "    redis.call('INCR', k)\n"
    "  else\n"
    "    local t = redis.call('TIME')\n"
    "    redis.call('SET', k, t[1] .. string.format('%06d', tonumber(t[2])) .. '000')\n"
    "  end\n"
    "  redis.call('EXPIRE', k, ARGV[1])\n"
    "end\n"
    "return #KEYS\n",
};

static char *key_of(const char *fmt, const char *a, const char *b)
{
    char *k = NULL;
    FS_ASSERT(asprintf(&k, fmt, a, b) >= 0);
    return k;
}

/* --- answers wait for the bumps before them ------------------------------- */

/* A write's answer goes out once the bumps its group caused are taken (or
 * failed): a client that reads after it never finds its own change missing. */
static void deliver(fs_cache_t *c, fs_store_cb cb, void *arg, const fs_store_result_t *r)
{
    c->busy--;
    if (c->bumps_done >= c->bumps_sent) {
        cb(arg, r);
        return;
    }
    c->busy++;
    waiter_t *wt = calloc(1, sizeof(*wt));
    FS_ASSERT(wt != NULL);
    *wt = (waiter_t){.seq = c->bumps_sent, .cb = cb, .arg = arg, .outcome = strdup(r->outcome),
                     .payload = strdup(r->payload), .replayed = r->replayed};
    FS_ASSERT(wt->outcome != NULL && wt->payload != NULL);
    if (c->waiters_tail != NULL) {
        c->waiters_tail->next = wt;
    } else {
        c->waiters = wt;
    }
    c->waiters_tail = wt;
}

static void release_waiters(fs_cache_t *c, bool all)
{
    while (c->waiters != NULL && (all || c->waiters->seq <= c->bumps_done)) {
        waiter_t *wt = c->waiters;
        c->waiters = wt->next;
        if (c->waiters == NULL) c->waiters_tail = NULL;
        c->busy--;
        fs_store_result_t r = {.outcome = wt->outcome, .replayed = wt->replayed,
                               .payload = wt->payload};
        wt->cb(wt->arg, &r);
        free(wt->outcome);
        free(wt->payload);
        free(wt);
    }
}

/* --- bumps ----------------------------------------------------------------- */

typedef struct {
    fs_cache_t *c;
    uint64_t seq; /* 0 for a retry */
    size_t n;
    char **ids;
} bump_t;

static void send_bump(fs_cache_t *c, char **ids, size_t n, uint64_t seq);

static void add_pending(fs_cache_t *c, char **ids, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (c->npending == FS_CACHE_BUMPS_PENDING_MAX) {
            /* Redis has been away long: the entries' TTL bounds the rest. */
            fs_log(FS_LOG_WARN, "cache", "%zu account invalidations waiting for Redis; "
                   "dropping one (its entry expires within %d s)", c->npending,
                   FS_CACHE_ACCOUNT_TTL_S);
            free(ids[i]);
            atomic_fetch_sub(&pending_total, 1);
            continue;
        }
        if (c->npending == c->cap_pending) {
            c->cap_pending = c->cap_pending ? c->cap_pending * 2 : 64;
            c->pending = realloc(c->pending, c->cap_pending * sizeof(char *));
            FS_ASSERT(c->pending != NULL);
        }
        c->pending[c->npending++] = ids[i];
    }
    if (!evtimer_pending(c->retry_ev, NULL)) {
        struct timeval tv = {0, FS_CACHE_BUMP_RETRY_MS * 1000};
        evtimer_add(c->retry_ev, &tv);
    }
}

static void on_bumped(void *arg, fs_redis_status_t st, const redisReply *reply)
{
    bump_t *b = arg;
    fs_cache_t *c = b->c;
    (void)reply;
    if (st == FS_REDIS_OK) {
        if (b->seq == 0) atomic_fetch_sub(&pending_total, (long)b->n);
        for (size_t i = 0; i < b->n; i++) free(b->ids[i]);
    } else {
        /* Not taken, or not known to be: bumped again until Redis takes it
         * (an extra bump only costs a miss). */
        c->stats.bumps_failed++;
        if (b->seq != 0) atomic_fetch_add(&pending_total, (long)b->n);
        add_pending(c, b->ids, b->n);
    }
    if (b->seq > c->bumps_done) c->bumps_done = b->seq;
    free(b->ids);
    free(b);
    release_waiters(c, false);
}

/* Takes ids (and the strings). */
static void send_bump(fs_cache_t *c, char **ids, size_t n, uint64_t seq)
{
    bump_t *b = calloc(1, sizeof(*b));
    FS_ASSERT(b != NULL);
    *b = (bump_t){.c = c, .seq = seq, .n = n, .ids = ids};
    const char **argv = calloc(n + 1, sizeof(char *));
    FS_ASSERT(argv != NULL);
    for (size_t i = 0; i < n; i++) argv[i] = key_of("fs:acct:%s:%s", ids[i], "gen");
    char ttl[16];
    snprintf(ttl, sizeof(ttl), "%d", FS_CACHE_GEN_TTL_S);
    argv[n] = ttl;
    c->stats.bumps++;
    fs_redis_eval(c->redis, &bump_script, on_bumped, b, (int)n, (int)n + 1, argv, NULL);
    for (size_t i = 0; i < n; i++) free((char *)argv[i]);
    free(argv);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    fs_cache_t *c = arg;
    (void)fd;
    (void)what;
    while (c->npending > 0) {
        size_t n = c->npending < FS_CACHE_BUMP_KEYS_MAX ? c->npending : FS_CACHE_BUMP_KEYS_MAX;
        char **ids = malloc(n * sizeof(char *));
        FS_ASSERT(ids != NULL);
        c->npending -= n;
        memcpy(ids, c->pending + c->npending, n * sizeof(char *));
        send_bump(c, ids, n, 0);
    }
}

/* The store's hook: a group committed changes to these accounts. */
static void on_changed(void *arg, const char *account_ids)
{
    fs_cache_t *c = arg;
    json_t *a = json_loads(account_ids, 0, NULL);
    size_t total = json_array_size(a);
    for (size_t from = 0; from < total; from += FS_CACHE_BUMP_KEYS_MAX) {
        size_t n = total - from < FS_CACHE_BUMP_KEYS_MAX ? total - from : FS_CACHE_BUMP_KEYS_MAX;
        char **ids = malloc(n * sizeof(char *));
        FS_ASSERT(ids != NULL);
        for (size_t i = 0; i < n; i++) {
            const char *id = json_string_value(json_array_get(a, from + i));
            ids[i] = strdup(id != NULL ? id : "");
            FS_ASSERT(ids[i] != NULL);
        }
        send_bump(c, ids, n, ++c->bumps_sent);
    }
    json_decref(a);
}

/* --- account reads ---------------------------------------------------------- */

typedef struct {
    fs_cache_t *c;
    json_t *item;
    fs_store_cb cb;
    void *arg;
    char *gen_key, *entry_key;
    char gen[32], epoch[32]; /* what the read saw; "" when it saw nothing */
} acct_t;

static void acct_free(acct_t *a)
{
    free(a->gen_key);
    free(a->entry_key);
    free(a);
}

static void on_filled(void *arg, fs_redis_status_t st, const redisReply *reply)
{
    fs_cache_t *c = arg;
    if (st == FS_REDIS_OK && reply->type == REDIS_REPLY_INTEGER && reply->integer == 1)
        c->stats.account_fills++;
}

static void on_account_result(void *arg, const fs_store_result_t *r)
{
    acct_t *a = arg;
    fs_cache_t *c = a->c;
    if (a->gen[0] != '\0' && strcmp(r->outcome, "ok") == 0) {
        char ttl[16], gen_ttl[16];
        snprintf(ttl, sizeof(ttl), "%d", FS_CACHE_ACCOUNT_TTL_S);
        snprintf(gen_ttl, sizeof(gen_ttl), "%d", FS_CACHE_GEN_TTL_S);
        const char *argv[] = {a->gen_key, a->entry_key, a->gen, a->epoch, r->payload, ttl,
                              gen_ttl};
        fs_redis_eval(c->redis, &fill_script, on_filled, c, 2, 7, argv, NULL);
    }
    fs_store_cb cb = a->cb;
    void *cb_arg = a->arg;
    acct_free(a);
    deliver(c, cb, cb_arg, r);
}

static void on_account_read(void *arg, fs_redis_status_t st, const redisReply *reply)
{
    acct_t *a = arg;
    fs_cache_t *c = a->c;
    bool ok = st == FS_REDIS_OK && reply->type == REDIS_REPLY_ARRAY && reply->elements >= 2
              && reply->element[0]->type == REDIS_REPLY_STRING
              && reply->element[1]->type == REDIS_REPLY_STRING
              && reply->element[0]->len < sizeof(a->gen)
              && reply->element[1]->len < sizeof(a->epoch);
    if (ok && reply->elements == 3 && reply->element[2]->type == REDIS_REPLY_STRING
        && atomic_load(&pending_total) == 0) {
        c->stats.account_hits++;
        fs_store_result_t r = {.outcome = "ok", .replayed = false,
                               .payload = reply->element[2]->str};
        json_decref(a->item);
        fs_store_cb cb = a->cb;
        void *cb_arg = a->arg;
        acct_free(a);
        c->busy--;
        cb(cb_arg, &r);
        return;
    }
    if (ok) {
        c->stats.account_misses++;
        memcpy(a->gen, reply->element[0]->str, reply->element[0]->len);
        a->gen[reply->element[0]->len] = '\0';
        memcpy(a->epoch, reply->element[1]->str, reply->element[1]->len);
        a->epoch[reply->element[1]->len] = '\0';
    } else {
        c->stats.account_bypassed++;
    }
    json_t *item = a->item;
    a->item = NULL;
    submit(c, item, on_account_result, a);
}

static void account_read(fs_cache_t *c, json_t *item, fs_store_cb cb, void *arg)
{
    const char *id = json_string_value(json_object_get(item, "id"));
    const char *auth = json_string_value(json_object_get(item, "auth"));
    acct_t *a = calloc(1, sizeof(*a));
    FS_ASSERT(a != NULL && id != NULL && auth != NULL);
    *a = (acct_t){.c = c, .item = item, .cb = cb, .arg = arg};
    a->gen_key = key_of("fs:acct:%s:%s", id, "gen");
    a->entry_key = key_of("fs:acct:%s:k:%s", id, auth);
    c->busy++;
    if (!fs_redis_connected(c->redis) || atomic_load(&pending_total) > 0) {
        /* An invalidation is owed: the database answers, nothing is filled. */
        c->stats.account_bypassed++;
        a->item = NULL;
        submit(c, item, on_account_result, a);
        return;
    }
    char gen_ttl[16];
    snprintf(gen_ttl, sizeof(gen_ttl), "%d", FS_CACHE_GEN_TTL_S);
    const char *argv[] = {a->gen_key, a->entry_key, gen_ttl};
    fs_redis_eval(c->redis, &read_script, on_account_read, a, 2, 3, argv, NULL);
}

/* --- idempotent replays ----------------------------------------------------- */

typedef struct {
    fs_cache_t *c;
    json_t *item;
    fs_store_cb cb;
    void *arg;
    char *key;
    char fp[128];
} replay_t;

bool fs_cache_outcome_stored(const char *outcome, bool replayed)
{
    /* What fs_batch() stores under a key (db/functions/batch.sql, the end of
     * its loop); an outcome not named here is simply not cached. */
    static const char *const stored[] = {
        "ok", "created", "accepted", "not_found", "forbidden", "insufficient_funds", "account_inactive",
        "payment_not_cancelable", "payment_not_refundable", "refund_exceeds_amount",
        "risk_list_entry_exists", NULL};
    if (replayed) return true; /* the database's own stored answer */
    for (int i = 0; stored[i] != NULL; i++) {
        if (strcmp(outcome, stored[i]) == 0) return true;
    }
    return false;
}

static void on_noop(void *arg, fs_redis_status_t st, const redisReply *reply)
{
    (void)arg;
    (void)st;
    (void)reply;
}

static void on_replay_result(void *arg, const fs_store_result_t *r)
{
    replay_t *rp = arg;
    fs_cache_t *c = rp->c;
    /* Only an answer the database replayed is written: a client retried
     * this key, and may again. The first answer to a request, which nearly
     * always is the only one, costs Redis nothing. */
    if (r->replayed && fs_cache_outcome_stored(r->outcome, r->replayed)) {
        json_t *v = json_pack("{s:s, s:s, s:s}", "fp", rp->fp, "o", r->outcome, "p", r->payload);
        char *text = v != NULL ? json_dumps(v, JSON_COMPACT) : NULL;
        if (text != NULL) {
            char ttl[16];
            snprintf(ttl, sizeof(ttl), "%d",
                     c->replay_ttl_s < FS_CACHE_REPLAY_TTL_S ? c->replay_ttl_s
                                                             : FS_CACHE_REPLAY_TTL_S);
            const char *argv[] = {"SET", rp->key, text, "EX", ttl};
            c->stats.replays_stored++;
            fs_redis_command(c->redis, on_noop, NULL, 5, argv, NULL);
        }
        free(text);
        json_decref(v);
    }
    fs_store_cb cb = rp->cb;
    void *cb_arg = rp->arg;
    free(rp->key);
    free(rp);
    deliver(c, cb, cb_arg, r);
}

/* The replay entry read (entry NULL: none, or Redis did not answer): the
 * same request is answered from it; anything else goes to the store. */
static void replay_found(replay_t *rp, const char *entry, size_t len)
{
    fs_cache_t *c = rp->c;
    json_t *v = entry != NULL ? json_loadb(entry, len, 0, NULL) : NULL;
    const char *fp = json_string_value(json_object_get(v, "fp"));
    const char *o = json_string_value(json_object_get(v, "o"));
    const char *p = json_string_value(json_object_get(v, "p"));
    /* Only the same request is answered here; another one under the key
     * goes to the database, which answers 422. */
    if (fp != NULL && o != NULL && p != NULL && strcmp(fp, rp->fp) == 0) {
        c->stats.replay_hits++;
        fs_store_result_t r = {.outcome = o, .replayed = true, .payload = p};
        fs_store_cb cb = rp->cb;
        void *cb_arg = rp->arg;
        json_decref(rp->item);
        free(rp->key);
        free(rp);
        c->busy--;
        cb(cb_arg, &r);
        json_decref(v);
        return;
    }
    json_decref(v);
    c->stats.replay_misses++;
    json_t *item = rp->item;
    rp->item = NULL;
    submit(c, item, on_replay_result, rp);
}

static void on_replay_read(void *arg, fs_redis_status_t st, const redisReply *reply)
{
    replay_t *rp = arg;
    if (st == FS_REDIS_OK && reply->type == REDIS_REPLY_STRING) {
        replay_found(rp, reply->str, reply->len);
    } else {
        replay_found(rp, NULL, 0);
    }
}

/* True when item's replay is looked up in Redis. An admin console item
 * (its "actor") keeps its key under the actor (db/functions/batch.sql):
 * only the database replays it. */
static bool replay_wanted(const fs_cache_t *c, const json_t *item)
{
    return c->redis != NULL && json_string_value(json_object_get(item, "idem")) != NULL &&
           json_string_value(json_object_get(item, "auth")) != NULL &&
           json_object_get(item, "actor") == NULL &&
           fs_op_has(fs_op_of(item), FS_OPF_CACHEABLE);
}

char *fs_cache_replay_key(const fs_cache_t *c, const json_t *item)
{
    const char *idem = json_string_value(json_object_get(item, "idem"));
    const char *auth = json_string_value(json_object_get(item, "auth"));
    if (!replay_wanted(c, item)) return NULL;
    return key_of("fs:idem:%s:%s", auth, idem);
}

static void replay_read(fs_cache_t *c, json_t *item, fs_store_cb cb, void *arg,
                        const fs_cache_replay_t *looked)
{
    const char *fp = json_string_value(json_object_get(item, "fp"));
    replay_t *rp = calloc(1, sizeof(*rp));
    FS_ASSERT(rp != NULL && fp != NULL);
    *rp = (replay_t){.c = c, .item = item, .cb = cb, .arg = arg};
    rp->key = fs_cache_replay_key(c, item);
    FS_ASSERT(rp->key != NULL);
    snprintf(rp->fp, sizeof(rp->fp), "%s", fp);
    c->busy++;
    if (looked != NULL) {
        replay_found(rp, looked->entry, looked->len);
        return;
    }
    const char *argv[] = {"GET", rp->key};
    fs_redis_command(c->redis, on_replay_read, rp, 2, argv, NULL);
}

/* --- life ------------------------------------------------------------------------ */

fs_cache_t *fs_cache_new(struct event_base *base, fs_redis_t *redis, fs_store_t *store,
                         int replay_ttl_s)
{
    fs_cache_t *c = calloc(1, sizeof(*c));
    FS_ASSERT(c != NULL);
    c->base = base;
    c->redis = redis;
    c->store = store;
    c->replay_ttl_s = replay_ttl_s;
    c->retry_ev = evtimer_new(base, on_retry, c);
    FS_ASSERT(c->retry_ev != NULL);
    if (redis != NULL) fs_store_on_changed(store, on_changed, c);
    return c;
}

void fs_cache_free(fs_cache_t *c)
{
    if (c == NULL) return;
    if (c->redis != NULL) {
        const fs_cache_stats_t *s = &c->stats;
        fs_log(FS_LOG_INFO, "cache",
               "account reads: %llu hits, %llu misses, %llu bypassed, %llu fills; "
               "replays: %llu hits, %llu misses, %llu stored; bumps: %llu, %llu failed",
               (unsigned long long)s->account_hits, (unsigned long long)s->account_misses,
               (unsigned long long)s->account_bypassed, (unsigned long long)s->account_fills,
               (unsigned long long)s->replay_hits, (unsigned long long)s->replay_misses,
               (unsigned long long)s->replays_stored, (unsigned long long)s->bumps,
               (unsigned long long)s->bumps_failed);
    }
    release_waiters(c, true);
    atomic_fetch_sub(&pending_total, (long)c->npending);
    for (size_t i = 0; i < c->npending; i++) free(c->pending[i]);
    free(c->pending);
    event_free(c->retry_ev);
    free(c);
}

void fs_cache_close(fs_cache_t *c)
{
    if (c == NULL) return;
    c->closed = true;
    fs_store_on_changed(c->store, NULL, NULL);
}

bool fs_cache_idle(const fs_cache_t *c)
{
    return c == NULL || c->busy == 0;
}

/* --- every other write: its answer after its invalidations ----------------- */

typedef struct {
    fs_cache_t *c;
    fs_store_cb cb;
    void *arg;
} write_t;

static void on_write_result(void *arg, const fs_store_result_t *r)
{
    write_t *wr = arg;
    fs_cache_t *c = wr->c;
    fs_store_cb cb = wr->cb;
    void *cb_arg = wr->arg;
    free(wr);
    deliver(c, cb, cb_arg, r);
}

void fs_cache_after_bumps(fs_cache_t *c, fs_store_cb cb, void *arg, const fs_store_result_t *r)
{
    if (c == NULL || c->redis == NULL) {
        cb(arg, r);
        return;
    }
    c->busy++;
    deliver(c, cb, arg, r);
}

void fs_cache_submit(fs_cache_t *c, json_t *item, fs_store_cb cb, void *arg,
                     const fs_cache_replay_t *looked)
{
    fs_op_t op = fs_op_of(item);
    if (c->redis != NULL && op == FS_OP_ACCOUNT_GET) {
        account_read(c, item, cb, arg);
        return;
    }
    if (replay_wanted(c, item)) {
        replay_read(c, item, cb, arg, looked);
        return;
    }
    if (c->redis != NULL && !fs_op_has(op, FS_OPF_READ)) {
        /* A write without a replay entry (no Idempotency-Key, an admin
         * console's item): answered, as the others are, once the accounts
         * its group changed are invalidated (issue 13: the same way for
         * every writer). */
        write_t *wr = malloc(sizeof(*wr));
        FS_ASSERT(wr != NULL);
        *wr = (write_t){.c = c, .cb = cb, .arg = arg};
        c->busy++;
        submit(c, item, on_write_result, wr);
        return;
    }
    submit(c, item, cb, arg);
}

fs_cache_stats_t fs_cache_stats(const fs_cache_t *c)
{
    return c->stats;
}
