/*
 * health.h: readiness, GET /readyz of the server and of the worker.
 *
 * A probe asks PostgreSQL (the store's `ping` op), Redis (PING through the
 * loop's fs_redis_t, with its timeout) and NATS (whether libnats holds a
 * connection) at once, and answers within FS_READY_TIMEOUT_MS whatever
 * happens: 200 when each answered, else 503 naming the ones that did not.
 * Redis not configured (FINSYS_REDIS_URL "") is "disabled" and does not fail
 * readiness (FinSys runs without it); NATS not configured likewise for the
 * server (payments then wait for the worker's sweeper). The body:
 *   {"status":"ready"|"unavailable",
 *    "checks":{"database":{"status":"ok","latency_ms":0.4}, ...},
 *    "reason":"redis does not answer"}   (503 only)
 * Liveness (GET /healthz) asks nothing: the process answers, so it lives.
 */
#ifndef FS_HEALTH_H
#define FS_HEALTH_H

#include <event2/event.h>
#include <stdbool.h>

#include "../queue/queue.h"
#include "../redis/redis.h"
#include "../store/store.h"

/* status is 200 or 503; body is JSON text, valid only during the call.
 * Called exactly once, on the loop's thread, never before fs_health_ready
 * returns. */
typedef void (*fs_health_cb)(void *arg, int status, const char *body);

/* redis NULL: Redis is not configured ("disabled"). queue NULL with
 * queue_required: NATS is configured but was never reached ("unavailable");
 * queue NULL without it: "disabled". */
void fs_health_ready(struct event_base *base, fs_store_t *store, fs_redis_t *redis,
                     fs_queue_t *queue, bool queue_required, fs_health_cb cb, void *arg);

#endif
