/*
 * ratelimit.h: rate limits per API key and per client address.
 *
 * Each API key has a bucket with its tenant's rate (requests a second) and
 * burst (requests at once from idle), and each client address one with the
 * address limits; a request passes only when both buckets have room, and
 * then takes from both. The buckets are GCRA (the generic cell rate
 * algorithm: one "theoretical arrival time" per bucket) in Redis, checked
 * and updated by one Lua script, run by its SHA (fs_redis_eval), so every
 * process and thread of FinSys shares them and concurrent requests are
 * counted exactly. The same script also reads, when asked, the request's
 * replay entry (src/cache), so that a request makes one round trip to Redis
 * before the store.
 *
 * A key's tenant and limits come from PostgreSQL (the `auth` op) and are
 * cached in Redis for FS_APIKEY_AUTH_CACHE_S (less when the key expires
 * sooner) under fs:auth:<key hash>; `finsys tenant limits` changes them and
 * clears that cache, as a key's revocation or rotation does (issue 13).
 * The store checks the key again in fs_batch(); only the answers Redis
 * gives for a key (src/cache's account and replay entries, plain_key below)
 * trust the cache, so a revoked key is refused everywhere within
 * FS_APIKEY_AUTH_CACHE_S at most.
 *
 * When Redis does not answer (down, stopped, too slow, or not configured),
 * the same limits are enforced by an in-process limiter shared by the
 * process's threads; the first fallback of an incident logs a warning, the
 * first answer from Redis after it says it is back. Requests never wait for
 * Redis longer than FINSYS_REDIS_TIMEOUT_MS, and they keep flowing.
 *
 * One fs_ratelimit_t per event loop (not thread-safe), on the loop's Redis
 * connection and store.
 */
#ifndef FS_RATELIMIT_H
#define FS_RATELIMIT_H

#include <event2/keyvalq_struct.h>
#include <stdbool.h>
#include <stdint.h>

#include "../redis/redis.h"
#include "../store/store.h"

typedef struct {
    int per_s; /* 1..FS_RATE_LIMIT_MAX */
    int burst; /* 1..FS_RATE_LIMIT_MAX */
} fs_rate_t;

/* The answer for one request, for the RateLimit-* headers of the IETF draft
 * (draft-ietf-httpapi-ratelimit-headers): of the bucket with the least room
 * (when refused: the one that refused). */
typedef struct {
    bool allowed;
    int limit;         /* RateLimit-Limit: the bucket's burst */
    int remaining;     /* RateLimit-Remaining: requests that would pass now */
    int reset_s;       /* RateLimit-Reset: seconds until the bucket is full again */
    int retry_after_s; /* Retry-After when refused (at least 1) */
    /* The key's tenant when the check learnt it (from Redis's cache or the
     * store), for the access log; "" when not (the in-process limiter's
     * cached keys). Never used to decide anything. */
    char tenant[72];
    /* The key is known and live now (its tenant read from the store or
     * Redis's cache of it) and is not an admin key: what may be answered
     * from src/cache's account entries. False when not known (an unknown or
     * revoked key, the in-process limiter's cached keys): the store decides
     * (401, 403 admin_key_scope). */
    bool plain_key;
    /* The key is not a live one (the database said so just now, or the
     * process remembers it did: FS_AUTH_NEGATIVE_TTL_S): answer 401 at once,
     * without the store (issue 13). allowed is true then, and the RateLimit
     * numbers are the address's. */
    bool unknown_key;
    /* Refused (allowed false) by the address's budget of key lookups
     * (FS_AUTH_LOOKUP_ADDR_*): the address presents keys nobody issued
     * faster than a client does. The caller may hold the answer
     * (FS_AUTH_GUESS_HOLD_MS, src/http). */
    bool guessing;
    /* When the check was given a replay key (fs_ratelimit_check) and Redis
     * answered the request with room: replay_looked, and the value stored
     * under that key (replay NULL when there is none), valid only during the
     * callback. Not looked up when refused, or by the in-process limiter. */
    bool replay_looked;
    const char *replay;
    size_t replay_len;
} fs_rate_verdict_t;

/* A bucket's state: its theoretical arrival time (GCRA's "TAT", in
 * microseconds; 0 for a new bucket) and the rate it was counted at (0 for
 * none). When a tenant's limits change, the requests a bucket holds stay
 * the same count at the new rate, and never more than its new burst. */
typedef struct {
    int64_t tat;
    int per_s;
} fs_rate_bucket_t;

/* GCRA on one bucket, pure (the in-process limiter and the unit tests; the
 * Lua script in ratelimit.c does the same). Fills v and *out, the state to
 * store: after the request when it is taken, else the state as of now_us
 * (changed only when the rate changed). */
void fs_gcra(const fs_rate_bucket_t *in, int64_t now_us, fs_rate_t rate, fs_rate_verdict_t *v,
             fs_rate_bucket_t *out);

typedef struct fs_ratelimit fs_ratelimit_t;

typedef struct {
    fs_rate_t key;  /* a key's, when its tenant has none of its own */
    fs_rate_t addr; /* every client address's */
} fs_ratelimit_config_t;

/* redis may be NULL (none configured: the in-process limiter only). */
fs_ratelimit_t *fs_ratelimit_new(fs_redis_t *redis, fs_store_t *store,
                                 const fs_ratelimit_config_t *config);

/* Call before freeing the store and the Redis connection: checks still
 * waiting on them are answered (v NULL, or by the in-process limiter) as they
 * give their answers back, and the last frees it. NULL is a no-op. */
void fs_ratelimit_free(fs_ratelimit_t *rl);

/* v is NULL when the key's tenant could not be read (the database is
 * away): the request goes on, and the store answers it (503) as it would
 * have. A key not cached takes its address's bucket before anything else,
 * then is answered from the process's memory of unknown keys, or spends
 * one of its address's lookups (FS_AUTH_LOOKUP_ADDR_*: refused past them)
 * on the store's `auth` op (issue 13). Called exactly once, on the loop's thread, maybe
 * before fs_ratelimit_check returns. */
typedef void (*fs_ratelimit_cb)(void *arg, const fs_rate_verdict_t *v);

/* Checks and takes one request of the key (its hash, hex) from the address
 * (text, as evhttp gives it). replay_key, when not NULL, is a Redis key read
 * in the same round trip when the request passes (src/cache's replay entry
 * of an Idempotency-Key): see fs_rate_verdict_t. */
void fs_ratelimit_check(fs_ratelimit_t *rl, const char *key_hash, const char *addr,
                        const char *replay_key, fs_ratelimit_cb cb, void *arg);

/* True when no check is waiting for Redis or the store. */
bool fs_ratelimit_idle(const fs_ratelimit_t *rl);

/* Adds RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, and when v
 * refused, Retry-After. */
void fs_ratelimit_headers(const fs_rate_verdict_t *v, struct evkeyvalq *out);

/* `finsys tenant limits`: sets the tenant's limits (rate NULL: back to the
 * defaults) in PostgreSQL, then clears its keys' cached limits in Redis
 * (redis_url "" for none). Blocking, for the command line; prints what it
 * did. Returns 0, or 1 with the reason on stderr. */
int fs_ratelimit_set_tenant(const char *conninfo, const char *redis_url, const char *tenant,
                            const fs_rate_t *rate);

/* `finsys apikey revoke` and `rotate`: drops Redis's cached tenant of the
 * key of key_hash (fs:auth, the copy a revocation must not leave behind;
 * redis_url "" for none: nothing to drop). Blocking. Returns 0, or 1 with a
 * warning on stderr (the copy then expires within FS_APIKEY_AUTH_CACHE_S). */
int fs_ratelimit_forget_key(const char *redis_url, const char *key_hash);

#endif
