/*
 * cache.h: the Redis cache in front of the store, one per event loop.
 *
 * What it answers from Redis, with PostgreSQL behind it:
 * - account reads (the account_get op, GET /v1/accounts/{id}), and
 * - idempotent replays (an item with an Idempotency-Key whose op is flagged
 *   FS_OPF_CACHEABLE, src/op): a request whose
 *   key and fingerprint match an outcome stored in Redis is answered from
 *   Redis (replayed), without the database. An outcome is stored in Redis
 *   only once the database has replayed it (a client retried): the first
 *   answer to a request writes nothing to Redis, and a request makes at most
 *   one round trip to Redis before the store, since its replay entry is read
 *   by the rate limit's script (fs_cache_replay_key, src/ratelimit).
 *
 * Correctness never depends on it: every Redis failure (down, late, flushed,
 * restarted) falls through to the store, and a missing entry is a miss.
 *
 * Every write's answer (through fs_cache_submit, or fs_cache_after_bumps
 * for one that reached the store another way) goes out only once the
 * accounts its group changed are invalidated.
 *
 * Account entries are invalidated through a generation per account
 * (docs/architecture.md, "Caching"): every committed group reports the
 * accounts it changed (fs_store_on_changed), and the cache bumps their
 * generations in Redis before that group's items are answered; a fill
 * stores a value only under the generation it saw before it asked the
 * database, and a read serves one only under the current generation. A bump
 * Redis did not take is retried, and until it is taken no loop of the
 * process serves an account from Redis.
 *
 * Everything runs on the loop's thread; nothing here blocks.
 */
#ifndef FS_CACHE_H
#define FS_CACHE_H

#include <event2/event.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "../redis/redis.h"
#include "../store/store.h"

typedef struct fs_cache fs_cache_t;

/* Counters of one cache (loop thread only), logged when it is freed. */
typedef struct {
    uint64_t account_hits, account_misses, account_bypassed; /* bypassed: Redis away */
    uint64_t account_fills;   /* values stored (a fill that lost a race stores none) */
    uint64_t replay_hits, replay_misses, replays_stored;
    uint64_t bumps, bumps_failed; /* generation bumps sent, and those Redis did not take */
} fs_cache_stats_t;

/* A cache over store through redis (NULL: no Redis; every item goes
 * straight to the store). It sets the store's changed-accounts hook.
 * replay_ttl_s is how long a stored outcome is kept (the idempotency TTL). */
fs_cache_t *fs_cache_new(struct event_base *base, fs_redis_t *redis, fs_store_t *store,
                         int replay_ttl_s);

/* Stopping, in this order: fs_cache_close (what would go on to the store is
 * answered unavailable from now on), fs_store_free, fs_redis_free (both
 * answer what they hold, through the cache), then fs_cache_free, which
 * answers what still waits and logs the counters. NULL is a no-op. */
void fs_cache_close(fs_cache_t *cache);
void fs_cache_free(fs_cache_t *cache);

/* True when no item is waiting in the cache (for Redis, or for a bump). */
bool fs_cache_idle(const fs_cache_t *cache);

/* An item's replay entry as the caller already read it from Redis (with
 * the rate limits): entry NULL when there was none, or when Redis was not
 * asked or did not answer (the store answers then). */
typedef struct {
    const char *entry;
    size_t len;
} fs_cache_replay_t;

/* The Redis key of item's replay entry (malloc'd) when fs_cache_submit
 * would look one up for it; NULL otherwise (no Redis, no Idempotency-Key, an
 * op not flagged FS_OPF_CACHEABLE). */
char *fs_cache_replay_key(const fs_cache_t *cache, const json_t *item);

/* As fs_store_submit (alone or grouped as the op's flags say), through the
 * cache: cb gets the same result the store would give, exactly once, on the
 * loop's thread; possibly before this call returns. Takes the reference.
 * looked, when not NULL, is what the caller read under the item's replay
 * key (fs_cache_replay_key); used only during this call. When NULL, the
 * cache reads it itself (a round trip of its own). */
void fs_cache_submit(fs_cache_t *cache, json_t *item, fs_store_cb cb, void *arg,
                     const fs_cache_replay_t *looked);

/* Answers r through cb once every invalidation this cache has sent so far
 * is taken by Redis (or failed): for a write that reached the store another
 * way (an operator's balance operation under its lock, src/lock), so that a
 * read after its answer never finds the account as it was (issue 13). At
 * once when there is no Redis (c NULL or without one). r is copied. */
void fs_cache_after_bumps(fs_cache_t *c, fs_store_cb cb, void *arg, const fs_store_result_t *r);

/* Its counters. */
fs_cache_stats_t fs_cache_stats(const fs_cache_t *cache);

/* True when an outcome of fs_batch() is one the database stores under an
 * Idempotency-Key (and so may be replayed from Redis): never a 400 (the
 * client corrects it and retries with the key), a 401 or a 5xx. The cache
 * stores only the database's own replays (replayed), and checks this too. */
bool fs_cache_outcome_stored(const char *outcome, bool replayed);

#endif
