/*
 * replica.c: the primary's WAL positions, sampled, and the tenants' recent
 * writes (see replica.h).
 *
 * The samples are a ring of FS_READ_REPLICA_SAMPLES_MAX (time sent, LSN),
 * oldest first from `first`; the writers a fixed table of
 * FS_READ_WRITERS_MAX (tenant, time answered), an entry free once its
 * write is older than the bound. One mutex guards both: the sampler takes
 * it to append, a read's routing to scan (about a microsecond for 32
 * samples and a table of 1,024 short strings, against a list's
 * milliseconds).
 */
#include "replica.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/core.h"
#include "../metrics/metrics.h"

typedef struct {
    uint64_t sent_us; /* when the question left: commits acknowledged before lie at or before lsn */
    uint64_t lsn;
} sample_t;

typedef struct {
    char tenant[FS_READ_TENANT_LEN_MAX + 1];
    uint64_t at_us; /* 0: free */
} writer_t;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static sample_t samples[FS_READ_REPLICA_SAMPLES_MAX];
static int first, count;
static writer_t writers[FS_READ_WRITERS_MAX];
/* A write whose tenant is not known, or that found the table full: it
 * counts for every tenant. */
static uint64_t anyone_at_us;

static pthread_t sampler;
static bool started;
static atomic_bool stopping;
static char *conninfo;

static const uint64_t bound_us = (uint64_t)FS_READ_REPLICA_LAG_MAX_MS * 1000u;

bool fs_replica_lsn_parse(const char *text, uint64_t *lsn)
{
    if (text == NULL) return false;
    unsigned int hi, lo;
    int used = 0;
    if (sscanf(text, "%X/%X%n", &hi, &lo, &used) != 2 || text[used] != '\0') return false;
    *lsn = ((uint64_t)hi << 32) | lo;
    return true;
}

static void sample_push(uint64_t sent_us, uint64_t lsn)
{
    pthread_mutex_lock(&lock);
    if (count == FS_READ_REPLICA_SAMPLES_MAX) {
        first = (first + 1) % FS_READ_REPLICA_SAMPLES_MAX;
        count--;
    }
    samples[(first + count) % FS_READ_REPLICA_SAMPLES_MAX] = (sample_t){sent_us, lsn};
    count++;
    pthread_mutex_unlock(&lock);
}

/* The tenant's last write (or anyone's not told apart), under the lock;
 * 0 when none is within the bound. */
static uint64_t wrote_at(const char *tenant, uint64_t now_us)
{
    uint64_t at = anyone_at_us;
    for (int i = 0; tenant != NULL && i < FS_READ_WRITERS_MAX; i++) {
        const writer_t *w = &writers[i];
        if (w->at_us != 0 && w->at_us > at && strcmp(w->tenant, tenant) == 0) at = w->at_us;
    }
    return at + bound_us > now_us ? at : 0;
}

fs_replica_route_t fs_replica_min_lsn(const char *tenant, char *lsn, size_t lsn_len)
{
    FS_ASSERT(lsn_len >= 32);
    uint64_t now = fs_now_us();
    uint64_t not_before = now > bound_us ? now - bound_us : 0;
    pthread_mutex_lock(&lock);
    uint64_t wrote = wrote_at(tenant, now);
    bool own = wrote >= not_before && wrote != 0;
    if (own) not_before = wrote;
    const sample_t *found = NULL;
    for (int i = 0; i < count && found == NULL; i++) {
        const sample_t *s = &samples[(first + i) % FS_READ_REPLICA_SAMPLES_MAX];
        /* Strictly after a write: a sample sent in the same microsecond as
         * the answer may not have seen it. */
        if (s->sent_us > not_before || (!own && s->sent_us == not_before)) found = s;
    }
    uint64_t need = found != NULL ? found->lsn : 0;
    pthread_mutex_unlock(&lock);
    if (found == NULL) return own ? FS_REPLICA_OWN_WRITE : FS_REPLICA_NO_SAMPLE;
    snprintf(lsn, lsn_len, "%X/%X", (unsigned int)(need >> 32), (unsigned int)need);
    return FS_REPLICA_FRESH;
}

void fs_replica_wrote(const char *tenant)
{
    uint64_t now = fs_now_us();
    bool kept = false;
    pthread_mutex_lock(&lock);
    if (tenant != NULL && tenant[0] != '\0' && strlen(tenant) <= FS_READ_TENANT_LEN_MAX) {
        writer_t *slot = NULL;
        for (int i = 0; i < FS_READ_WRITERS_MAX; i++) {
            writer_t *w = &writers[i];
            bool expired = w->at_us == 0 || w->at_us + bound_us <= now;
            if (w->at_us != 0 && strcmp(w->tenant, tenant) == 0) {
                slot = w;
                break;
            }
            if (expired && slot == NULL) slot = w;
        }
        if (slot != NULL) {
            memcpy(slot->tenant, tenant, strlen(tenant) + 1);
            slot->at_us = now;
            kept = true;
        }
    }
    if (!kept) anyone_at_us = now;
    pthread_mutex_unlock(&lock);
}

void fs_replica_replayed(const char *text)
{
    uint64_t lsn;
    if (!fs_replica_lsn_parse(text, &lsn)) return;
    uint64_t now = fs_now_us();
    uint64_t behind_since = now;
    pthread_mutex_lock(&lock);
    for (int i = 0; i < count; i++) {
        const sample_t *s = &samples[(first + i) % FS_READ_REPLICA_SAMPLES_MAX];
        if (s->lsn > lsn) {
            behind_since = s->sent_us;
            break;
        }
    }
    pthread_mutex_unlock(&lock);
    fs_metrics_set(FS_M_READ_REPLICA_LAG, NULL, (int64_t)((now - behind_since) / 1000u));
}

/* --- the sampler --- */

static PGconn *sampler_connect(void)
{
    /* Our defaults first; the configured string, expanded in place of
     * dbname, overrides them (as src/store's connections). */
    static const char *const keys[] = {"connect_timeout",  "options", "tcp_user_timeout",
                                       "application_name", "dbname",  NULL};
    const char *values[] = {FS_STR(FS_READ_REPLICA_CONNECT_TIMEOUT_S),
                            "-c statement_timeout=" FS_STR(FS_READ_REPLICA_LAG_MAX_MS),
                            FS_STR(FS_STORE_TCP_USER_TIMEOUT_MS),
                            "finsys-wal-sampler",
                            conninfo,
                            NULL};
    PGconn *db = PQconnectdbParams(keys, values, 1);
    if (db != NULL && PQstatus(db) == CONNECTION_OK) return db;
    PQfinish(db);
    return NULL;
}

/* Sleeps until until_us, in short steps that notice a stop. */
static void nap_until(uint64_t until_us)
{
    uint64_t now;
    while (!atomic_load(&stopping) && (now = fs_now_us()) < until_us) {
        uint64_t left_ms = (until_us - now + 999) / 1000;
        fs_sleep_ms(left_ms < 20 ? (long)left_ms : 20);
    }
}

static void *sampler_main(void *arg)
{
    (void)arg;
    PGconn *db = NULL;
    bool said_down = false;
    while (!atomic_load(&stopping)) {
        uint64_t start = fs_now_us();
        if (db == NULL) db = sampler_connect();
        PGresult *r = db != NULL ? PQexec(db, "SELECT pg_current_wal_insert_lsn()") : NULL;
        uint64_t lsn;
        bool ok = r != NULL && PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
                  fs_replica_lsn_parse(PQgetvalue(r, 0, 0), &lsn);
        if (ok) {
            sample_push(start, lsn);
            if (said_down)
                fs_log(FS_LOG_INFO, "replica", "the primary's WAL position is sampled again");
            said_down = false;
        } else if (!said_down) {
            fs_log(FS_LOG_WARN, "replica",
                   "cannot sample the primary's WAL position (%s): lists and searches read "
                   "the primary until it answers",
                   r != NULL ? PQresultErrorMessage(r) : "no connection");
            said_down = true;
        }
        PQclear(r);
        if (!ok && db != NULL) {
            PQfinish(db);
            db = NULL;
        }
        nap_until(start + (ok ? FS_READ_REPLICA_SAMPLE_MS : 1000) * 1000u);
    }
    PQfinish(db);
    return NULL;
}

bool fs_replica_start(const char *primary_conninfo)
{
    FS_ASSERT(!started);
    conninfo = strdup(primary_conninfo);
    FS_ASSERT(conninfo != NULL);
    atomic_store(&stopping, false);
    started = fs_thread_start(&sampler, sampler_main, NULL, "replica",
                              "the sampler of the primary's WAL position");
    if (!started) {
        free(conninfo);
        conninfo = NULL;
    }
    return started;
}

void fs_replica_stop(void)
{
    if (!started) return;
    atomic_store(&stopping, true);
    pthread_join(sampler, NULL);
    started = false;
    free(conninfo);
    conninfo = NULL;
}
