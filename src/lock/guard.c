/*
 * guard.c: the server's flows under locks, on one loop (see lock.h): the
 * operators' balance operations and the purge of idempotency keys.
 *
 * A flow lives from its first step to its answer; the guard counts them so
 * that a draining server waits for them, and once closed they stop at their
 * next step without touching Redis or the store (which are being freed).
 */
#define _GNU_SOURCE
#include "lock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../validate/validate.h"

struct fs_lock_guard {
    struct event_base *base;
    fs_redis_t *redis;
    fs_store_t *store;
    int flows;
    bool closing;
    bool fallback_logged; /* the purge's fallback, logged once an outage */
};

fs_lock_guard_t *fs_lock_guard_new(struct event_base *base, fs_redis_t *redis, fs_store_t *store)
{
    fs_lock_guard_t *g = calloc(1, sizeof(*g));
    FS_ASSERT(g != NULL);
    *g = (fs_lock_guard_t){.base = base, .redis = redis, .store = store};
    return g;
}

bool fs_lock_guard_idle(const fs_lock_guard_t *g)
{
    return g->flows == 0;
}

void fs_lock_guard_close(fs_lock_guard_t *g)
{
    g->closing = true;
}

void fs_lock_guard_free(fs_lock_guard_t *g)
{
    /* A flow waiting on a retry timer when the loop stopped is lost with
     * the loop (its request is freed by evhttp); only the count is off. */
    free(g);
}

/* An outcome the store did not give (the lock's), as a result. */
static void answer(fs_store_cb cb, void *arg, fs_outcome_t o, const char *message)
{
    const char *name = o == FS_LOCK_BUSY ? "lock_busy" : "unavailable";
    json_t *p = json_pack("{s:s, s:n}", "message", message, "param");
    char *payload = json_dumps(p, JSON_COMPACT);
    json_decref(p);
    fs_store_result_t r = {.outcome = name, .replayed = false, .payload = payload};
    cb(arg, &r);
    free(payload);
}

/* --- operators' balance operations ----------------------------------------- */

typedef struct {
    fs_lock_guard_t *g;
    json_t *item;
    fs_store_cb cb;
    void *arg;
    fs_lock_t lock;
} admin_t;

static void admin_done(admin_t *a)
{
    a->g->flows--;
    json_decref(a->item);
    free(a);
}

static void on_admin_result(void *arg, const fs_store_result_t *r)
{
    admin_t *a = arg;
    if (!a->g->closing) fs_lock_release(a->g->redis, &a->lock);
    if (!a->g->closing && strcmp(r->outcome, "lock_lost") == 0) {
        json_t *e = json_loads(r->payload, 0, NULL);
        fs_lock_raise(a->g->redis, a->lock.resource,
                      json_integer_value(json_object_get(e, "fence")));
        json_decref(e);
    }
    a->cb(a->arg, r);
    admin_done(a);
}

static void on_admin_locked(void *arg, fs_lock_status_t st, const fs_lock_t *lock)
{
    admin_t *a = arg;
    if (a->g->closing || st == FS_LOCK_UNAVAILABLE) {
        answer(a->cb, a->arg, FS_UNAVAILABLE,
               "The account lock service (Redis) is unavailable; nothing was changed. "
               "Retry shortly.");
        admin_done(a);
        return;
    }
    if (st == FS_LOCK_HELD) {
        answer(a->cb, a->arg, FS_LOCK_BUSY,
               "Another operation on this account holds its lock; nothing was changed. "
               "Retry shortly.");
        admin_done(a);
        return;
    }
    a->lock = *lock;
    json_object_set_new(a->item, "fence", json_integer(lock->fence));
    fs_store_submit(a->g->store, json_incref(a->item), on_admin_result, a);
}

static void admin_lock(admin_t *a)
{
    char resource[FS_LOCK_RESOURCE_LEN_MAX + 1];
    snprintf(resource, sizeof(resource), "acct:%s",
             json_string_value(json_object_get(a->item, "account")));
    fs_lock_acquire(a->g->base, a->g->redis, resource, FS_LOCK_ADMIN_LEASE_MS,
                    FS_LOCK_ACQUIRE_RETRIES, on_admin_locked, a);
}

static void on_admin_auth(void *arg, const fs_store_result_t *r)
{
    admin_t *a = arg;
    if (strcmp(r->outcome, "ok") != 0 || a->g->closing) {
        a->cb(a->arg, r); /* forbidden, unauthorized, unavailable */
        admin_done(a);
        return;
    }
    admin_lock(a);
}

void fs_lock_admin_submit(fs_lock_guard_t *g, json_t *item, fs_store_cb cb, void *arg)
{
    admin_t *a = calloc(1, sizeof(*a));
    FS_ASSERT(a != NULL);
    *a = (admin_t){.g = g, .item = item, .cb = cb, .arg = arg};
    g->flows++;
    /* An item with an "actor" was authenticated by the server (a staff
     * session or an admin key, src/admin), and a session's has no key to
     * check: straight to the lock. */
    if (json_object_get(item, "actor") != NULL) {
        admin_lock(a);
        return;
    }
    /* Otherwise the key first: a tenant's key gets 403 without a lock taken. */
    fs_store_submit(g->store,
                    json_pack("{s:s, s:O}", "op", fs_op_name(FS_OP_ADMIN_AUTH), "auth",
                              json_object_get(item, "auth")),
                    on_admin_auth, a);
}

/* --- the purge --------------------------------------------------------------- */

typedef struct {
    fs_lock_guard_t *g;
    int hours, max;
    bool locked;
    fs_lock_t lock;
} purge_t;

static void on_purged(void *arg, const fs_store_result_t *r)
{
    purge_t *p = arg;
    if (p->locked && !p->g->closing) fs_lock_release(p->g->redis, &p->lock);
    if (strcmp(r->outcome, "lock_lost") == 0 && p->locked && !p->g->closing) {
        json_t *e = json_loads(r->payload, 0, NULL);
        fs_lock_raise(p->g->redis, p->lock.resource,
                      json_integer_value(json_object_get(e, "fence")));
        json_decref(e);
    }
    if (strcmp(r->outcome, "ok") != 0) {
        fs_log(FS_LOG_WARN, "lock", "idempotency purge: %s %s", r->outcome, r->payload);
    } else if (strstr(r->payload, "\"purged\" : 0}") == NULL
               && strstr(r->payload, "\"purged\": 0}") == NULL) {
        fs_log(FS_LOG_INFO, "lock", "idempotency purge: %s", r->payload);
    }
    p->g->flows--;
    free(p);
}

static void on_purge_locked(void *arg, fs_lock_status_t st, const fs_lock_t *lock)
{
    purge_t *p = arg;
    fs_lock_guard_t *g = p->g;
    if (g->closing || st == FS_LOCK_HELD) {
        /* Another process holds it: it is purging. */
        g->flows--;
        free(p);
        return;
    }
    if (st == FS_LOCK_UNAVAILABLE) {
        /* Redis is down: PostgreSQL's advisory lock keeps the purge single. */
        if (!g->fallback_logged)
            fs_log(FS_LOG_WARN, "lock",
                   "Redis unavailable: the idempotency purge runs under PostgreSQL's "
                   "advisory lock until it is back");
        g->fallback_logged = true;
        fs_store_submit(g->store,
                        json_pack("{s:s, s:i, s:i}", "op", fs_op_name(FS_OP_PURGE), "hours",
                                  p->hours, "max", p->max),
                        on_purged, p);
        return;
    }
    g->fallback_logged = false;
    p->locked = true;
    p->lock = *lock;
    char holder[64];
    snprintf(holder, sizeof(holder), "server pid %d", (int)getpid());
    fs_store_submit(g->store,
                    json_pack("{s:s, s:s, s:s, s:I, s:s, s:{s:i, s:i}}", "op",
                              fs_op_name(FS_OP_JOB_RUN), "job", "purge", "resource", lock->resource,
                              "fence", (json_int_t)lock->fence, "holder", holder, "args", "hours",
                              p->hours, "max", p->max),
                    on_purged, p);
}

void fs_lock_purge(fs_lock_guard_t *g, int ttl_hours, int max_rows)
{
    purge_t *p = calloc(1, sizeof(*p));
    FS_ASSERT(p != NULL);
    *p = (purge_t){.g = g, .hours = ttl_hours, .max = max_rows};
    g->flows++;
    fs_lock_acquire(g->base, g->redis, "job:purge", FS_LOCK_JOB_LEASE_MS, 0, on_purge_locked, p);
}

/* --- the requests' checks (pure) ---------------------------------------------- */

bool fs_lock_parse_admin(fs_op_t op, const json_t *body, json_t *item, fs_error_t *err)
{
    static const char *const none[] = {NULL};
    static const char *const fields[] = {"amount", "reason", NULL};
    FS_ASSERT(fs_op_has(op, FS_OPF_ADMIN | FS_OPF_FENCED));
    fs_op_set(item, op);
    if (op != FS_OP_ACCOUNT_ADJUST) return fs_validate_known_fields(body, none, err);
    if (!fs_validate_known_fields(body, fields, err)) return false;
    const json_t *v = json_object_get(body, "amount");
    if (v == NULL || json_is_null(v))
        return fs_fail(err, FS_INVALID_REQUEST, "amount", "Missing required parameter: amount.");
    if (!json_is_integer(v) || json_integer_value(v) == 0 || json_integer_value(v) == INT64_MIN)
        return fs_fail(err, FS_INVALID_REQUEST, "amount",
                       "amount must be a non-zero integer count of the currency's minor units: "
                       "positive credits the account, negative debits it.");
    const char *reason;
    if (!fs_validate_string(body, "reason", true, FS_ADJUSTMENT_REASON_LEN_MAX, &reason, err))
        return false;
    if (*reason == '\0')
        return fs_fail(err, FS_INVALID_REQUEST, "reason",
                       "reason must say why the balance is adjusted.");
    char id[FS_ID_BUF_LEN];
    fs_id_new(FS_ADJUSTMENT_ID_PREFIX, id, sizeof(id));
    json_object_set_new(item, "id", json_string(id));
    json_object_set_new(item, "amount", json_integer(json_integer_value(v)));
    json_object_set_new(item, "reason", json_string(reason));
    return true;
}
