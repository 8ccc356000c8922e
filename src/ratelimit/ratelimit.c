/*
 * ratelimit.c: rate limits per API key and per client address (see
 * ratelimit.h).
 *
 * A check is a `check_t`, owned here from fs_ratelimit_check until its
 * callback: the script in Redis (one round trip when the key's limits are
 * cached there), else the key's tenant from the store and the script again
 * with them (which caches them); when Redis does not answer, the in-process
 * limiter, with the key's limits from its own short cache or the store. The
 * script also reads the request's replay entry when given its key.
 */
#define _GNU_SOURCE
#include "ratelimit.h"

#include <event2/http.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/core.h"
#include "../auth/auth.h"
#include "../core/limits.h"
#include "../metrics/metrics.h"
#include "../op/op.h"

struct fs_ratelimit {
    fs_redis_t *redis;
    fs_store_t *store;
    fs_ratelimit_config_t config;
    int pending;   /* checks not yet answered */
    bool stopping; /* fs_ratelimit_free was called: the store is going */
};

/* --- GCRA -------------------------------------------------------------------- */

/* A bucket of rate r and burst b lets a request through when its tat, moved
 * one emission interval (1/r) on, is at most b intervals ahead of now. The
 * small epsilon keeps a whole number of intervals whole despite rounding. */
void fs_gcra(const fs_rate_bucket_t *in, int64_t now_us, fs_rate_t rate, fs_rate_verdict_t *v,
             fs_rate_bucket_t *out)
{
    double step = 1e6 / rate.per_s;
    double now = (double)now_us;
    double tat = in->tat > now_us ? (double)in->tat : now;
    if (in->per_s > 0 && in->per_s != rate.per_s) tat = now + (tat - now) * in->per_s / rate.per_s;
    if (tat > now + rate.burst * step) tat = now + rate.burst * step;
    double next = tat + step;
    double allow_at = next - rate.burst * step;
    v->limit = rate.burst;
    out->per_s = rate.per_s;
    if (allow_at > now) {
        v->allowed = false;
        v->remaining = 0;
        v->reset_s = (int)ceil((tat - now) / 1e6);
        v->retry_after_s = (int)ceil((allow_at - now) / 1e6);
        if (v->retry_after_s < 1) v->retry_after_s = 1;
        out->tat = llround(tat);
        return;
    }
    v->allowed = true;
    v->remaining = (int)floor((now - allow_at) / step + 1e-6);
    v->reset_s = (int)ceil((next - now) / 1e6);
    v->retry_after_s = 0;
    out->tat = llround(next);
}

/* The same as fs_gcra, on two buckets at once, in Redis (a bucket is the
 * string "TAT RATE"). KEYS[1]: the key's cached tenant and limits (a hash);
 * KEYS[2]: the key's bucket; KEYS[3]: the address's. ARGV[1], ARGV[2]: the
 * address's rate and burst; ARGV[3..6]: the key's rate, burst, tenant and
 * admin flag as read from PostgreSQL, or "" to read them from KEYS[1];
 * ARGV[7]: the cache's TTL in milliseconds (check_t's cache_ms); ARGV[8]: "1" when the address's
 * bucket was taken already (by this script's first run for the request,
 * before the key was looked up), else "0". When KEYS[1] is missing (a key
 * not cached: maybe unknown), only the address's bucket is taken, before
 * any lookup (issue 13), and the answer is {-1, allowed, limit, remaining,
 * reset_ms, retry_ms} of it; else {allowed, limit, remaining, reset_ms,
 * retry_ms, tenant, admin ("1", "0", or "" when unknown)} of the bucket
 * with the least room, or of the one that refused. Redis's own
 * clock (TIME) is every process's clock. KEYS[4], when given, is the
 * request's replay entry (src/cache): read when the request passes, and
 * answered as an eighth element (nil when missing), so that the lookup
 * costs no round trip of its own. */
static const fs_redis_script_t gcra_script = {
    .name = "ratelimit",
    .source =
        "local t = redis.call('TIME')\n"
        "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
        "local function gcra(key, per_s, cap)\n"
        "  local step = 1000000 / per_s\n"
        "  local tat, old = now, per_s\n"
        "  local s = redis.call('GET', key)\n"
        "  if s then\n"
        "    local a, b = string.match(s, '^(%d+) (%d+)$')\n"
        "    tat, old = tonumber(a) or now, tonumber(b) or per_s\n"
        "  end\n"
        "  if tat < now then tat = now end\n"
        "  if old ~= per_s then tat = now + (tat - now) * old / per_s end\n"
        "  if tat > now + cap * step then tat = now + cap * step end\n"
        "  local nxt = tat + step\n"
        "  local allow_at = nxt - cap * step\n"
        "  if allow_at > now then\n"
        "    return {ok = false, key = key, per_s = per_s, tat = tat, limit = cap,\n"
        "            remaining = 0, reset = tat - now, retry = allow_at - now}\n"
        "  end\n"
        "  return {ok = true, key = key, per_s = per_s, tat = nxt, limit = cap,\n"
        "          remaining = math.floor((now - allow_at) / step + 1e-6),\n"
        "          reset = nxt - now, retry = 0}\n"
        "end\n"
        "local function store(b)\n"
        "  redis.call('SET', b.key, string.format('%.0f %d', b.tat, b.per_s),\n"
        "             'PX', math.ceil(b.reset / 1000) + 1)\n"
        "end\n"
        "local function answer(b)\n"
        "  return {b.ok and 1 or 0, b.limit, b.remaining, math.ceil(b.reset / 1000),\n"
        "          math.ceil(b.retry / 1000)}\n"
        "end\n"
        "local rate, burst, tenant, admin\n"
        "if ARGV[3] == '' then\n"
        "  local c = redis.call('HMGET', KEYS[1], 'per_s', 'burst', 'tenant', 'admin')\n"
        "  if not c[1] or not c[2] then\n"
        "    local a = gcra(KEYS[3], tonumber(ARGV[1]), tonumber(ARGV[2]))\n"
        "    store(a)\n"
        "    local r = answer(a)\n"
        "    table.insert(r, 1, -1)\n"
        "    return r\n"
        "  end\n"
        "  rate, burst, tenant, admin = tonumber(c[1]), tonumber(c[2]), c[3], c[4]\n"
        "else\n"
        "  rate, burst, tenant, admin = tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5], ARGV[6]\n"
        "  redis.call('HSET', KEYS[1], 'per_s', ARGV[3], 'burst', ARGV[4],\n"
        "             'tenant', ARGV[5], 'admin', ARGV[6])\n"
        "  redis.call('PEXPIRE', KEYS[1], ARGV[7])\n"
        "end\n"
        "local k = gcra(KEYS[2], rate, burst)\n"
        "local a = k\n"
        "if ARGV[8] ~= '1' then a = gcra(KEYS[3], tonumber(ARGV[1]), tonumber(ARGV[2])) end\n"
        "local v\n"
        "if k.ok and a.ok then\n"
        "  store(k)\n"
        "  store(a)\n"
        "  if k.remaining <= a.remaining then v = k else v = a end\n"
        "else\n"
        "  if not k.ok then store(k) end\n"
        "  if not a.ok then store(a) end\n"
        "  if not k.ok and (a.ok or k.retry >= a.retry) then v = k else v = a end\n"
        "end\n"
        "local r = {v.ok and 1 or 0, v.limit, v.remaining, math.ceil(v.reset / 1000),\n"
        "           math.ceil(v.retry / 1000), tenant or '', admin or ''}\n"
        "if KEYS[4] and v.ok then r[8] = redis.call('GET', KEYS[4]) end\n"
        "return r\n",
};

/* --- the in-process limiter ------------------------------------------------ */

/* One table for the process, so that its threads together keep the limits
 * as Redis would; the lock is held for a lookup and a few additions. */
typedef struct {
    char name[72];      /* "k:<key hash>" or "a:<address>"; "" when free */
    fs_rate_bucket_t bucket;
    fs_rate_t rate;     /* a key's limits, from the store ... */
    int64_t rate_until; /* ... until then (fs_now_us); 0 when none */
} bucket_t;

static pthread_mutex_t local_mu = PTHREAD_MUTEX_INITIALIZER;
static bucket_t *local; /* FS_RATELIMIT_LOCAL_BUCKETS_MAX, made at first use */

/* True while Redis is not answering: the incident has been logged. */
static atomic_bool degraded;

static uint32_t fnv1a(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s != '\0'; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* The bucket named name, made if missing, never keep's (with local_mu). */
static bucket_t *local_find(const char *name, const bucket_t *keep)
{
    if (local == NULL) {
        local = calloc(FS_RATELIMIT_LOCAL_BUCKETS_MAX, sizeof(*local));
        FS_ASSERT(local != NULL);
    }
    uint32_t h = fnv1a(name);
    bucket_t *take = NULL;
    for (int i = 0; i < FS_RATELIMIT_LOCAL_PROBES; i++) {
        bucket_t *b = &local[(h + (uint32_t)i) % FS_RATELIMIT_LOCAL_BUCKETS_MAX];
        if (strcmp(b->name, name) == 0) return b;
        if (b == keep) continue;
        if (b->name[0] == '\0') {
            if (take == NULL || take->name[0] != '\0') take = b;
        } else if (take == NULL
                   || (take->name[0] != '\0' && b->bucket.tat < take->bucket.tat)) {
            take = b; /* the idlest so far */
        }
    }
    FS_ASSERT(take != NULL);
    memset(take, 0, sizeof(*take));
    snprintf(take->name, sizeof(take->name), "%s", name);
    return take;
}

static bool local_rate(const char *key_hash, fs_rate_t *rate)
{
    char name[72];
    snprintf(name, sizeof(name), "k:%s", key_hash);
    pthread_mutex_lock(&local_mu);
    bucket_t *b = local_find(name, NULL);
    bool ok = b->rate_until > (int64_t)fs_now_us();
    if (ok) *rate = b->rate;
    pthread_mutex_unlock(&local_mu);
    return ok;
}

static void local_set_rate(const char *key_hash, fs_rate_t rate)
{
    char name[72];
    snprintf(name, sizeof(name), "k:%s", key_hash);
    pthread_mutex_lock(&local_mu);
    bucket_t *b = local_find(name, NULL);
    b->rate = rate;
    b->rate_until = (int64_t)fs_now_us() + FS_RATELIMIT_AUTH_TTL_S * INT64_C(1000000);
    pthread_mutex_unlock(&local_mu);
}

/* One bucket alone: taken when it has room (else its refusal's state). */
static void local_take(const char *name, fs_rate_t rate, fs_rate_verdict_t *v)
{
    fs_rate_bucket_t out;
    pthread_mutex_lock(&local_mu);
    bucket_t *b = local_find(name, NULL);
    fs_gcra(&b->bucket, (int64_t)fs_now_us(), rate, v, &out);
    b->bucket = out;
    pthread_mutex_unlock(&local_mu);
}

/* Gives back one request taken from the bucket named name at rate. */
static void local_refund(const char *name, fs_rate_t rate)
{
    int64_t step = INT64_C(1000000) / rate.per_s;
    int64_t now = (int64_t)fs_now_us();
    pthread_mutex_lock(&local_mu);
    bucket_t *b = local_find(name, NULL);
    if (b->bucket.tat > now) b->bucket.tat = b->bucket.tat - step > now ? b->bucket.tat - step : now;
    pthread_mutex_unlock(&local_mu);
}

/* addr NULL: the address's bucket was taken already (before the key's
 * lookup): the key's alone. */
static void local_check(const char *key_hash, fs_rate_t key_rate, const char *addr,
                        fs_rate_t addr_rate, fs_rate_verdict_t *v)
{
    char kname[72], aname[72];
    snprintf(kname, sizeof(kname), "k:%s", key_hash);
    if (addr == NULL) {
        local_take(kname, key_rate, v);
        return;
    }
    snprintf(aname, sizeof(aname), "a:%s", addr);
    int64_t now = (int64_t)fs_now_us();
    fs_rate_verdict_t kv = {0}, av = {0};
    fs_rate_bucket_t kb, ab;
    pthread_mutex_lock(&local_mu);
    bucket_t *a = local_find(aname, NULL);
    bucket_t *k = local_find(kname, a);
    fs_gcra(&k->bucket, now, key_rate, &kv, &kb);
    fs_gcra(&a->bucket, now, addr_rate, &av, &ab);
    /* Both taken, or each refusal's state (see fs_gcra). */
    if (kv.allowed == av.allowed || !kv.allowed) k->bucket = kb;
    if (kv.allowed == av.allowed || !av.allowed) a->bucket = ab;
    if (kv.allowed && av.allowed) {
        *v = kv.remaining <= av.remaining ? kv : av;
    } else if (!kv.allowed && (av.allowed || kv.retry_after_s >= av.retry_after_s)) {
        *v = kv;
    } else {
        *v = av;
    }
    pthread_mutex_unlock(&local_mu);
}

/* --- unknown keys, and live ones (issue 13) ----------------------------------- */

/* Keys the database answered for, each until its time (fs_now_us), for the
 * process: a table of FS_AUTH_NEGATIVE_CACHE_MAX slots, found as the local
 * buckets are. In unknown_keys, the keys it called unknown: such a key is
 * answered 401 at once. In live_keys, those it found live: their lookups
 * (when Redis's copy expired, FS_RATELIMIT_AUTH_TTL_S) do not spend their
 * address's lookups, which are for keys nobody issued (a client on 64
 * connections whose key's copy expired made 64 lookups at once, and 44 of
 * them got the guesser's 429, every 5 s). */
typedef struct {
    char hash[FS_AUTH_HASH_HEX_LEN + 1]; /* "" when free */
    int64_t until;
} key_slot_t;

typedef struct {
    pthread_mutex_t mu;
    key_slot_t *slots; /* made at first use */
} keyset_t;

static keyset_t unknown_keys = {PTHREAD_MUTEX_INITIALIZER, NULL};
static keyset_t live_keys = {PTHREAD_MUTEX_INITIALIZER, NULL};

static bool keyset_has(keyset_t *ks, const char *hash)
{
    bool hit = false;
    int64_t now = (int64_t)fs_now_us();
    pthread_mutex_lock(&ks->mu);
    if (ks->slots != NULL) {
        uint32_t h = fnv1a(hash);
        for (int i = 0; i < FS_AUTH_NEGATIVE_PROBES && !hit; i++) {
            key_slot_t *u = &ks->slots[(h + (uint32_t)i) % FS_AUTH_NEGATIVE_CACHE_MAX];
            hit = u->until > now && strcmp(u->hash, hash) == 0;
        }
    }
    pthread_mutex_unlock(&ks->mu);
    return hit;
}

/* Adds hash for ttl_s; with ttl_s 0, takes it out. */
static void keyset_set(keyset_t *ks, const char *hash, int ttl_s)
{
    int64_t now = (int64_t)fs_now_us();
    pthread_mutex_lock(&ks->mu);
    if (ks->slots == NULL) {
        ks->slots = calloc(FS_AUTH_NEGATIVE_CACHE_MAX, sizeof(*ks->slots));
        FS_ASSERT(ks->slots != NULL);
    }
    uint32_t h = fnv1a(hash);
    key_slot_t *take = NULL;
    for (int i = 0; i < FS_AUTH_NEGATIVE_PROBES; i++) {
        key_slot_t *u = &ks->slots[(h + (uint32_t)i) % FS_AUTH_NEGATIVE_CACHE_MAX];
        if (strcmp(u->hash, hash) == 0 || (ttl_s > 0 && u->until <= now)) {
            take = u;
            break;
        }
        if (ttl_s > 0 && (take == NULL || u->until < take->until)) take = u; /* soonest to go */
    }
    if (take != NULL) {
        snprintf(take->hash, sizeof(take->hash), "%s", ttl_s > 0 ? hash : "");
        take->until = ttl_s > 0 ? now + ttl_s * INT64_C(1000000) : 0;
    }
    pthread_mutex_unlock(&ks->mu);
}

static bool unknown_has(const char *hash)
{
    return keyset_has(&unknown_keys, hash);
}

static void unknown_add(const char *hash)
{
    keyset_set(&unknown_keys, hash, FS_AUTH_NEGATIVE_TTL_S);
    keyset_set(&live_keys, hash, 0);
}

static const fs_rate_t lookup_rate = {FS_AUTH_LOOKUP_ADDR_PER_S, FS_AUTH_LOOKUP_ADDR_BURST};

/* --- a check ----------------------------------------------------------------- */

typedef struct {
    fs_ratelimit_t *rl;
    fs_ratelimit_cb cb;
    void *arg;
    char hash[FS_AUTH_HASH_HEX_LEN + 1];
    char addr[64];
    char *replay_key; /* read with the limits; NULL for none */
    bool have_rate; /* rate (and tenant, admin) read from the store */
    fs_rate_t rate;
    char tenant[FS_ID_LEN_MAX + 1];
    bool admin;
    bool via_redis; /* the store's answer goes to Redis, not the local limiter */
    /* How long Redis may keep the key's tenant (ms): FS_APIKEY_AUTH_CACHE_S,
     * or less when the key expires sooner (issue 13). */
    long long cache_ms;
    /* The address's bucket was taken before the key's lookup (its verdict
     * in addr_v): the check after the lookup takes the key's alone. */
    bool addr_done;
    fs_rate_verdict_t addr_v;
    bool looked_up; /* took one of the address's lookups (refunded if the key is live) */
} check_t;

static void finish(check_t *c, const fs_rate_verdict_t *v)
{
    fs_ratelimit_t *rl = c->rl;
    rl->pending--;
    c->cb(c->arg, v);
    free(c->replay_key);
    free(c);
    if (rl->stopping && rl->pending == 0) free(rl);
}

static void redis_down(const char *why)
{
    if (!atomic_exchange(&degraded, true)) {
        fs_log(FS_LOG_WARN, "ratelimit",
               "Redis does not answer (%s): rate limits are kept per process until it does",
               why);
    }
}

static void redis_up(void)
{
    if (atomic_exchange(&degraded, false)) {
        fs_log(FS_LOG_INFO, "ratelimit", "Redis is back: rate limits are shared again");
    }
}

static void run_local(check_t *c);
static void run_script(check_t *c);

/* The key is not a live one: answered 401 by the caller, without the
 * store; the RateLimit headers are the address's. */
static void finish_unknown(check_t *c)
{
    fs_rate_verdict_t v = c->addr_v;
    v.allowed = true;
    v.unknown_key = true;
    v.plain_key = false;
    v.tenant[0] = '\0';
    finish(c, &v);
}

static void on_tenant(void *arg, const fs_store_result_t *r)
{
    check_t *c = arg;
    json_t *p = strcmp(r->outcome, "ok") == 0 ? json_loads(r->payload, 0, NULL) : NULL;
    const char *tenant = json_string_value(json_object_get(p, "tenant"));
    bool unknown_key = strcmp(r->outcome, "unauthorized") == 0;
    fs_metrics_add(FS_M_AUTH_LOOKUPS, tenant != NULL ? "known" : unknown_key ? "unknown" : "failed",
                   NULL, NULL, 1);
    if (tenant != NULL) keyset_set(&live_keys, c->hash, FS_AUTH_LIVE_TTL_S);
    if (tenant != NULL || !unknown_key) {
        /* Only an unknown key spends the address's lookups. */
        if (c->looked_up) {
            char name[72];
            snprintf(name, sizeof(name), "l:%s", c->addr);
            local_refund(name, lookup_rate);
        }
    }
    if (unknown_key) {
        /* Remembered: the next request with it costs no lookup. */
        json_decref(p);
        unknown_add(c->hash);
        finish_unknown(c);
        return;
    }
    if (tenant == NULL) {
        /* No database: the store answers the request (503). */
        json_decref(p);
        finish(c, NULL);
        return;
    }
    json_int_t per_s = json_integer_value(json_object_get(p, "per_s"));
    json_int_t burst = json_integer_value(json_object_get(p, "burst"));
    c->rate.per_s = per_s > 0 ? (int)per_s : c->rl->config.key.per_s;
    c->rate.burst = burst > 0 ? (int)burst : c->rl->config.key.burst;
    snprintf(c->tenant, sizeof(c->tenant), "%s", tenant);
    c->admin = json_is_true(json_object_get(p, "admin"));
    c->have_rate = true;
    /* Redis's copy of the key's tenant (fs:auth) decides whether Redis's
     * entries may answer for the key (plain_key): it never outlives the
     * key, nor FS_APIKEY_AUTH_CACHE_S, the bound on a revocation Redis did
     * not hear of. */
    c->cache_ms = (long long)FS_APIKEY_AUTH_CACHE_S * 1000;
    if (FS_RATELIMIT_AUTH_TTL_S < FS_APIKEY_AUTH_CACHE_S)
        c->cache_ms = (long long)FS_RATELIMIT_AUTH_TTL_S * 1000;
    const json_t *left = json_object_get(p, "expires_in_ms");
    if (json_is_integer(left) && json_integer_value(left) < c->cache_ms)
        c->cache_ms = json_integer_value(left) > 1 ? (long long)json_integer_value(left) : 1;
    json_decref(p);
    if (c->via_redis) {
        run_script(c);
    } else {
        local_set_rate(c->hash, c->rate);
        run_local(c);
    }
}

/* The key's tenant and limits from the store (the `auth` op). */
static void read_tenant(check_t *c, bool via_redis)
{
    c->via_redis = via_redis;
    if (c->rl->stopping) {
        finish(c, NULL);
        return;
    }
    fs_store_submit(c->rl->store,
                    json_pack("{s:s, s:s}", "op", fs_op_name(FS_OP_AUTH), "auth", c->hash),
                    on_tenant, c);
}

/* A key not cached, its address's bucket taken (addr_v allowed): known
 * unknown, over its address's lookups, or looked up. */
static void lookup_key(check_t *c, bool via_redis)
{
    if (unknown_has(c->hash)) {
        finish_unknown(c);
        return;
    }
    if (keyset_has(&live_keys, c->hash)) { /* no guess: spends no lookup */
        read_tenant(c, via_redis);
        return;
    }
    char name[72];
    snprintf(name, sizeof(name), "l:%s", c->addr);
    fs_rate_verdict_t lv = {0};
    local_take(name, lookup_rate, &lv);
    if (!lv.allowed) {
        lv.guessing = true;
        finish(c, &lv);
        return;
    }
    c->looked_up = true;
    read_tenant(c, via_redis);
}

/* The verdict of the key's bucket and, when it was taken before the lookup,
 * the address's: the one with the least room, or the one that refused. */
static void merge_addr(const check_t *c, fs_rate_verdict_t *v)
{
    if (!c->addr_done) return;
    const fs_rate_verdict_t *a = &c->addr_v;
    if (v->allowed && a->remaining < v->remaining) {
        v->limit = a->limit;
        v->remaining = a->remaining;
        v->reset_s = a->reset_s;
    }
}

static void run_local(check_t *c)
{
    if (!c->have_rate && local_rate(c->hash, &c->rate)) c->have_rate = true;
    if (!c->have_rate) {
        if (!c->addr_done) {
            /* The address first, before any lookup (issue 13). */
            char aname[72];
            snprintf(aname, sizeof(aname), "a:%s", c->addr);
            local_take(aname, c->rl->config.addr, &c->addr_v);
            if (!c->addr_v.allowed) {
                fs_rate_verdict_t v = c->addr_v;
                finish(c, &v);
                return;
            }
            c->addr_done = true;
        }
        lookup_key(c, false);
        return;
    }
    fs_rate_verdict_t v = {0};
    local_check(c->hash, c->rate, c->addr_done ? NULL : c->addr, c->rl->config.addr, &v);
    merge_addr(c, &v);
    snprintf(v.tenant, sizeof(v.tenant), "%s", c->tenant);
    v.plain_key = c->tenant[0] != '\0' && !c->admin; /* read from the store just now */
    finish(c, &v);
}

static void on_script(void *arg, fs_redis_status_t st, const redisReply *reply)
{
    check_t *c = arg;
    if (st == FS_REDIS_OK && reply->type == REDIS_REPLY_ARRAY && reply->elements == 6
        && reply->element[0]->type == REDIS_REPLY_INTEGER && reply->element[0]->integer == -1
        && !c->have_rate) {
        /* Not cached: the address's bucket was taken (or refused) first. */
        bool ints = true;
        for (size_t i = 1; i < 6; i++) ints = ints && reply->element[i]->type == REDIS_REPLY_INTEGER;
        if (ints) {
            redis_up();
            fs_rate_verdict_t *a = &c->addr_v;
            *a = (fs_rate_verdict_t){
                .allowed = reply->element[1]->integer == 1,
                .limit = (int)reply->element[2]->integer,
                .remaining = (int)reply->element[3]->integer,
                .reset_s = (int)((reply->element[4]->integer + 999) / 1000),
                .retry_after_s = (int)((reply->element[5]->integer + 999) / 1000),
            };
            if (!a->allowed) {
                if (a->retry_after_s < 1) a->retry_after_s = 1;
                fs_rate_verdict_t v = *a;
                finish(c, &v);
                return;
            }
            c->addr_done = true;
            lookup_key(c, true);
            return;
        }
    }
    /* An eighth element, the replay entry, only when one was asked for and
     * the request passed. */
    size_t n = c->replay_key != NULL ? 8 : 7;
    bool ok = st == FS_REDIS_OK && reply->type == REDIS_REPLY_ARRAY
              && (reply->elements == 7 || reply->elements == n)
              && reply->element[5]->type == REDIS_REPLY_STRING
              && reply->element[6]->type == REDIS_REPLY_STRING;
    for (size_t i = 0; ok && i < 5; i++) ok = reply->element[i]->type == REDIS_REPLY_INTEGER;
    if (!ok) {
        if (st == FS_REDIS_ERROR) {
            fs_log(FS_LOG_ERROR, "ratelimit", "the rate limit script failed: %s", reply->str);
        }
        redis_down(st == FS_REDIS_UNAVAILABLE ? "no answer in time"
                                              : "an unexpected answer to the script");
        run_local(c);
        return;
    }
    redis_up();
    long long *e[5];
    for (int i = 0; i < 5; i++) e[i] = &reply->element[i]->integer;
    fs_rate_verdict_t v = {
        .allowed = *e[0] == 1,
        .limit = (int)*e[1],
        .remaining = (int)*e[2],
        .reset_s = (int)((*e[3] + 999) / 1000),
        .retry_after_s = (int)((*e[4] + 999) / 1000),
    };
    if (!v.allowed && v.retry_after_s < 1) v.retry_after_s = 1;
    snprintf(v.tenant, sizeof(v.tenant), "%.*s", (int)reply->element[5]->len,
             reply->element[5]->str);
    v.plain_key = v.tenant[0] != '\0' && reply->element[6]->len == 1 &&
                  reply->element[6]->str[0] == '0';
    merge_addr(c, &v);
    if (reply->elements == 8) {
        const redisReply *e = reply->element[7];
        v.replay_looked = true;
        if (e->type == REDIS_REPLY_STRING) {
            v.replay = e->str;
            v.replay_len = e->len;
        }
    }
    finish(c, &v);
}

static void run_script(check_t *c)
{
    const fs_ratelimit_t *rl = c->rl;
    char kcache[96], kbucket[96], abucket[96];
    snprintf(kcache, sizeof(kcache), "fs:auth:%s", c->hash);
    snprintf(kbucket, sizeof(kbucket), "fs:rl:k:%s", c->hash);
    snprintf(abucket, sizeof(abucket), "fs:rl:a:%s", c->addr);
    char aper[16], aburst[16], kper[16] = "", kburst[16] = "", ttl[24];
    snprintf(aper, sizeof(aper), "%d", rl->config.addr.per_s);
    snprintf(aburst, sizeof(aburst), "%d", rl->config.addr.burst);
    if (c->have_rate) {
        snprintf(kper, sizeof(kper), "%d", c->rate.per_s);
        snprintf(kburst, sizeof(kburst), "%d", c->rate.burst);
    }
    snprintf(ttl, sizeof(ttl), "%lld", c->cache_ms > 0 ? c->cache_ms : 1);
    const char *done = c->addr_done ? "1" : "0";
    if (c->replay_key != NULL) {
        const char *argv[] = {kcache, kbucket, abucket, c->replay_key, aper, aburst, kper,
                              kburst, c->tenant, c->admin ? "1" : "0", ttl, done};
        fs_redis_eval(rl->redis, &gcra_script, on_script, c, 4, 12, argv, NULL);
        return;
    }
    const char *argv[] = {kcache, kbucket, abucket, aper, aburst, kper, kburst,
                          c->tenant, c->admin ? "1" : "0", ttl, done};
    fs_redis_eval(rl->redis, &gcra_script, on_script, c, 3, 11, argv, NULL);
}

void fs_ratelimit_check(fs_ratelimit_t *rl, const char *key_hash, const char *addr,
                        const char *replay_key, fs_ratelimit_cb cb, void *arg)
{
    check_t *c = calloc(1, sizeof(*c));
    FS_ASSERT(c != NULL);
    c->rl = rl;
    c->cb = cb;
    c->arg = arg;
    snprintf(c->hash, sizeof(c->hash), "%s", key_hash);
    snprintf(c->addr, sizeof(c->addr), "%s", addr != NULL ? addr : "");
    if (replay_key != NULL && rl->redis != NULL) {
        c->replay_key = strdup(replay_key);
        FS_ASSERT(c->replay_key != NULL);
    }
    rl->pending++;
    if (rl->redis == NULL) {
        run_local(c);
        return;
    }
    run_script(c);
}

/* --- life -------------------------------------------------------------------- */

fs_ratelimit_t *fs_ratelimit_new(fs_redis_t *redis, fs_store_t *store,
                                 const fs_ratelimit_config_t *config)
{
    static atomic_bool told;
    fs_ratelimit_t *rl = calloc(1, sizeof(*rl));
    FS_ASSERT(rl != NULL);
    rl->redis = redis;
    rl->store = store;
    rl->config = *config;
    if (redis == NULL && !atomic_exchange(&told, true)) {
        fs_log(FS_LOG_INFO, "ratelimit", "no Redis configured: rate limits are kept per process");
    }
    return rl;
}

void fs_ratelimit_free(fs_ratelimit_t *rl)
{
    if (rl == NULL) return;
    rl->stopping = true;
    if (rl->pending == 0) free(rl);
}

bool fs_ratelimit_idle(const fs_ratelimit_t *rl)
{
    return rl == NULL || rl->pending == 0;
}

void fs_ratelimit_headers(const fs_rate_verdict_t *v, struct evkeyvalq *out)
{
    char n[24];
    snprintf(n, sizeof(n), "%d", v->limit);
    evhttp_add_header(out, "RateLimit-Limit", n);
    snprintf(n, sizeof(n), "%d", v->remaining);
    evhttp_add_header(out, "RateLimit-Remaining", n);
    snprintf(n, sizeof(n), "%d", v->reset_s);
    evhttp_add_header(out, "RateLimit-Reset", n);
    if (!v->allowed) {
        snprintf(n, sizeof(n), "%d", v->retry_after_s);
        evhttp_add_header(out, "Retry-After", n);
    }
}
