/*
 * lock.h: distributed locks in Redis, with fencing tokens checked in
 * PostgreSQL (db/functions/locks.sql, docs/architecture.md "Locks").
 *
 * A lock on a resource ("job:purge", "acct:<id>") is the Redis key
 * lock:<resource>, set with SET NX PX to a random token of its holder, for
 * a lease. The same Lua script takes the next number of the counter
 * fence:<resource>: the fencing token. Only the holder (its random token)
 * can extend or release the lock, through scripts that compare it first.
 *
 * The lock keeps honest holders apart; it does not make anything correct by
 * itself: Redis may lose the key (a restart, a failover, FLUSHALL) or a
 * holder may pause past its lease and wake up believing it still holds it.
 * So the protected work calls fs_fence(resource, token) in its own
 * transaction, which refuses a token older than one already used: such work
 * yields FS_LOCK_LOST and changes nothing. The counter starts (when Redis
 * lost it) at Redis' clock in microseconds, above any token handed out
 * before unless a million were taken a second.
 *
 * Two APIs: asynchronous on an event loop (the server: the operators'
 * balance operations and the timer's purge, through an fs_lock_guard_t), and
 * blocking for the command line (finsys job).
 */
#ifndef FS_LOCK_H
#define FS_LOCK_H

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdint.h>

#include "../config/config.h"
#include "../core/core.h"
#include "../op/op.h"
#include "../redis/redis.h"
#include "../store/store.h"

#define FS_LOCK_TOKEN_LEN 24
#define FS_ADJUSTMENT_ID_PREFIX "adj"

typedef enum {
    FS_LOCK_ACQUIRED = 0,
    FS_LOCK_HELD,        /* another holder has it */
    FS_LOCK_UNAVAILABLE, /* Redis is not configured, down or late */
} fs_lock_status_t;

typedef struct {
    char resource[FS_LOCK_RESOURCE_LEN_MAX + 1];
    char token[FS_LOCK_TOKEN_LEN + 1]; /* the value of lock:<resource> */
    int64_t fence;                     /* the fencing token */
} fs_lock_t;

/* --- on an event loop ------------------------------------------------------ */

/* lock is valid only during the callback (FS_LOCK_ACQUIRED). */
typedef void (*fs_lock_cb)(void *arg, fs_lock_status_t st, const fs_lock_t *lock);

/* Tries to take the lock; when held, tries retries more times,
 * FS_LOCK_RETRY_MS apart. cb is called once, possibly inside this call (no
 * Redis configured: r is NULL). */
void fs_lock_acquire(struct event_base *base, fs_redis_t *r, const char *resource, int lease_ms,
                     int retries, fs_lock_cb cb, void *arg);

/* Releases the lock if still its holder's; nothing waits for the answer (a
 * release lost leaves the lock to its lease). */
void fs_lock_release(fs_redis_t *r, const fs_lock_t *lock);

/* After FS_LOCK_LOST: raises the counter fence:<resource> to fence (the
 * newest token PostgreSQL saw, in the outcome's payload) if it is below, so
 * that the next holder's token passes. A counter goes back when Redis fails
 * over to a replica that missed increments. Nothing waits for the answer. */
void fs_lock_raise(fs_redis_t *r, const char *resource, int64_t fence);

/* The server's flows under locks, one guard per loop. */
typedef struct fs_lock_guard fs_lock_guard_t;

fs_lock_guard_t *fs_lock_guard_new(struct event_base *base, fs_redis_t *redis, fs_store_t *store);

/* Runs an operator's balance operation (an op flagged FS_OPF_ADMIN and
 * FS_OPF_FENCED: account_adjust, account_freeze, account_unfreeze,
 * account_close; item from src/admin, taken): an item with an "actor" was
 * authenticated by the server (a staff session or an admin key); one
 * without must carry an admin's key ("auth"; else 403, before Redis is
 * asked). Then the lock
 * acct:<item.account> is taken (FS_LOCK_ADMIN_LEASE_MS; 503 unavailable
 * when Redis cannot be reached, 409 lock_busy when held past the retries),
 * then the item runs alone in the store with "fence" set, and the lock is
 * released. cb gets the outcome as from the store. */
void fs_lock_admin_submit(fs_lock_guard_t *g, json_t *item, fs_store_cb cb, void *arg);

/* One run of the purge of expired idempotency keys: under the lock
 * job:purge, fenced, as the op job_run; when Redis is unavailable, the op
 * purge instead (under PostgreSQL's advisory lock); when another holds the
 * lock, nothing (it is purging). */
void fs_lock_purge(fs_lock_guard_t *g, int ttl_hours, int max_rows);

/* True when no flow is waiting on Redis or the store. */
bool fs_lock_guard_idle(const fs_lock_guard_t *g);

/* Stop: flows still running answer FS_UNAVAILABLE and touch neither Redis
 * nor the store again. Call before freeing the store and Redis; free the
 * guard after them (their last callbacks may still reach it). */
void fs_lock_guard_close(fs_lock_guard_t *g);
void fs_lock_guard_free(fs_lock_guard_t *g);

/* The body of an operator's balance operation (op: FS_OP_ACCOUNT_ADJUST,
 * _FREEZE, _UNFREEZE or _CLOSE), checked into item with its op: an
 * adjustment's amount (signed minor units, not zero) and reason, and its id;
 * the others take no field. Pure: for fs_api_route. */
bool fs_lock_parse_admin(fs_op_t op, const json_t *body, json_t *item, fs_error_t *err);

/* --- blocking (the command line) ----------------------------------------- */

fs_lock_status_t fs_lock_acquire_blocking(redisContext *c, const char *resource, int lease_ms,
                                          fs_lock_t *out);

/* 1: extended; 0: no longer ours (expired, taken); -1: Redis unavailable. */
int fs_lock_extend_blocking(redisContext *c, const fs_lock_t *lock, int lease_ms);

/* 1: released; 0: no longer ours; -1: Redis unavailable. */
int fs_lock_release_blocking(redisContext *c, const fs_lock_t *lock);

int fs_lock_raise_blocking(redisContext *c, const char *resource, int64_t fence);

/* finsys job <name> [options]: see fs_lock_job_usage. Returns the exit code. */
extern const char fs_lock_job_usage[];
int fs_lock_job_main(const fs_config_t *config, int argc, char **argv);

#endif
