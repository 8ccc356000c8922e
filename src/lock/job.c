/*
 * job.c: finsys job, singleton jobs on demand under a Redis lock (see
 * lock.h). Blocking: it runs on no event loop.
 *
 * A run: take the lock (SET NX PX + the fencing token), record its start in
 * PostgreSQL (fenced: job_start), hold it while the work "takes" --hold-ms
 * (extending the lease every lease / FS_LOCK_EXTEND_DIVISOR), then do the
 * work and record the end in one transaction, fenced again (job_finish),
 * and release. The fence, not the lease, decides whether the work commits:
 * a run that paused past its lease and lost the lock to another run is
 * refused there (exit 3) and changes nothing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lock.h"

const char fs_lock_job_usage[] =
    "usage: finsys job purge [--hold-ms N] [--lease-ms N] [--wait-ms N] [--resource NAME]\n"
    "\n"
    "Runs a singleton job once, under the Redis lock lock:<resource> with a\n"
    "fencing token checked in PostgreSQL (docs/operations.md, \"Locks\").\n"
    "  purge          delete idempotency keys older than FINSYS_IDEMPOTENCY_TTL_HOURS\n"
    "  --hold-ms N    hold the lock N ms before the work (a long job; drills, tests)\n"
    "  --lease-ms N   the lock's lease (default " FS_STR(
        FS_LOCK_JOB_LEASE_MS) ")\n"
                              "  --wait-ms N    when another holds the lock, keep trying this long "
                              "(default 0)\n"
                              "  --resource R   the lock's resource (default job:purge)\n"
                              "Prints one JSON line. Exit status: 0 done, 1 failure (Redis or "
                              "PostgreSQL\n"
                              "unavailable), 2 usage, 3 lock lost (a newer holder's token went "
                              "through;\n"
                              "nothing was done), 4 the lock is held by another.\n"
                              "  FINSYS_REDIS_URL  FINSYS_REDIS_TIMEOUT_MS  FINSYS_DATABASE_URL\n";

/* One item through fs_batch, blocking; the failure on stderr. */
static bool run_item(PGconn *db, json_t *item, char *outcome, size_t outcome_len, json_t **payload)
{
    char err[512];
    bool ok = fs_store_run_blocking(db, item, outcome, outcome_len, payload, err, sizeof(err));
    if (!ok) fprintf(stderr, "finsys: %s", err);
    return ok;
}

static bool parse_ms(const char *s, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || end == s || v < 0 || v > max) return false;
    *out = v;
    return true;
}

static void print_line(const char *outcome, const fs_lock_t *lk, json_t *payload)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:I}", "job", "purge", "resource", lk->resource,
                          "outcome", outcome, "token", (json_int_t)lk->fence);
    if (payload != NULL) json_object_update(o, payload);
    char *text = json_dumps(o, JSON_COMPACT);
    printf("%s\n", text);
    fflush(stdout);
    free(text);
    json_decref(o);
}

int fs_lock_job_main(const fs_config_t *config, int argc, char **argv)
{
    long hold = 0, lease = FS_LOCK_JOB_LEASE_MS, wait = 0;
    const char *resource = "job:purge";
    if (argc < 1 || strcmp(argv[0], "purge") != 0) {
        fputs(fs_lock_job_usage, stderr);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        bool has = i + 1 < argc;
        if (strcmp(argv[i], "--hold-ms") == 0 && has) {
            if (!parse_ms(argv[++i], FS_JOB_HOLD_MS_MAX, &hold)) {
                fprintf(stderr, "finsys: --hold-ms is 0 to %d\n", FS_JOB_HOLD_MS_MAX);
                return 2;
            }
        } else if (strcmp(argv[i], "--lease-ms") == 0 && has) {
            if (!parse_ms(argv[++i], FS_LOCK_LEASE_MS_MAX, &lease) ||
                lease < FS_LOCK_LEASE_MS_MIN) {
                fprintf(stderr, "finsys: --lease-ms is %d to %d\n", FS_LOCK_LEASE_MS_MIN,
                        FS_LOCK_LEASE_MS_MAX);
                return 2;
            }
        } else if (strcmp(argv[i], "--wait-ms") == 0 && has) {
            if (!parse_ms(argv[++i], FS_JOB_WAIT_MS_MAX, &wait)) {
                fprintf(stderr, "finsys: --wait-ms is 0 to %d\n", FS_JOB_WAIT_MS_MAX);
                return 2;
            }
        } else if (strcmp(argv[i], "--resource") == 0 && has) {
            resource = argv[++i];
            size_t len = strlen(resource);
            if (len == 0 || len > FS_LOCK_RESOURCE_LEN_MAX) {
                fprintf(stderr, "finsys: --resource is 1 to %d bytes\n", FS_LOCK_RESOURCE_LEN_MAX);
                return 2;
            }
        } else {
            fprintf(stderr, "finsys: unknown option '%s'\n%s", argv[i], fs_lock_job_usage);
            return 2;
        }
    }
    if (config->redis_url[0] == '\0') {
        fprintf(stderr, "finsys: job needs Redis (FINSYS_REDIS_URL) for its lock\n");
        return 1;
    }
    char err[256];
    redisContext *rc =
        fs_redis_connect_blocking(config->redis_url, config->redis_timeout_ms, err, sizeof(err));
    if (rc == NULL) {
        fprintf(stderr, "finsys: %s\n", err);
        return 1;
    }
    PGconn *db = PQconnectdb(config->database_url);
    if (PQstatus(db) != CONNECTION_OK) {
        fprintf(stderr, "finsys: PostgreSQL: %s", PQerrorMessage(db));
        PQfinish(db);
        redisFree(rc);
        return 1;
    }

    /* Take the lock, trying again every FS_LOCK_RETRY_MS up to --wait-ms. */
    fs_lock_t lk;
    long deadline = (long)(fs_now_us() / 1000) + wait;
    fs_lock_status_t st;
    while ((st = fs_lock_acquire_blocking(rc, resource, (int)lease, &lk)) == FS_LOCK_HELD &&
           (long)(fs_now_us() / 1000) < deadline)
        fs_sleep_ms(FS_LOCK_RETRY_MS);
    int rcode = 0;
    char outcome[64] = "";
    json_t *payload = NULL;
    char holder[64];
    snprintf(holder, sizeof(holder), "finsys job pid %d", (int)getpid());
    if (st == FS_LOCK_UNAVAILABLE) {
        fprintf(stderr, "finsys: Redis unavailable; the job did not run\n");
        rcode = 1;
        goto out;
    }
    if (st == FS_LOCK_HELD) {
        lk.fence = 0;
        print_line("lock_held", &lk, NULL);
        rcode = 4;
        goto out;
    }

    if (!run_item(db,
                  json_pack("{s:s, s:s, s:s, s:I, s:s}", "op", fs_op_name(FS_OP_JOB_START), "job",
                            "purge", "resource", resource, "fence", (json_int_t)lk.fence, "holder",
                            holder),
                  outcome, sizeof(outcome), &payload)) {
        rcode = 1;
        goto release;
    }
    if (strcmp(outcome, "ok") != 0) goto refused;
    json_int_t run = json_integer_value(json_object_get(payload, "run"));
    json_decref(payload);
    payload = NULL;
    fprintf(stderr, "finsys: job purge run %lld started with fencing token %lld\n", (long long)run,
            (long long)lk.fence);

    /* The long work: keep the lease while it lasts. A lease found lost ends
     * the wait; the fence below decides whether the work may commit. */
    long end = (long)(fs_now_us() / 1000) + hold, step = lease / FS_LOCK_EXTEND_DIVISOR;
    while ((long)(fs_now_us() / 1000) < end) {
        long left = end - (long)(fs_now_us() / 1000);
        fs_sleep_ms(left < step ? left : step);
        int ext = fs_lock_extend_blocking(rc, &lk, (int)lease);
        if (ext == 0) {
            fprintf(stderr, "finsys: the lock's lease was lost; committing only if the "
                            "fence still lets it\n");
            break;
        }
        if (ext < 0) {
            fprintf(stderr, "finsys: Redis unavailable while holding the lock\n");
            break;
        }
    }

    if (!run_item(db,
                  json_pack("{s:s, s:I, s:I, s:{s:i, s:i}}", "op", fs_op_name(FS_OP_JOB_FINISH),
                            "run", run, "fence", (json_int_t)lk.fence, "args", "hours",
                            config->idempotency_ttl_hours, "max", FS_IDEMPOTENCY_PURGE_ROWS_MAX),
                  outcome, sizeof(outcome), &payload)) {
        rcode = 1;
        goto release;
    }
refused:
    print_line(outcome, &lk, strcmp(outcome, "ok") == 0 ? payload : NULL);
    if (strcmp(outcome, "ok") != 0) {
        const char *msg = json_string_value(json_object_get(payload, "message"));
        fprintf(stderr, "finsys: %s: %s\n", outcome, msg != NULL ? msg : "");
        rcode = strcmp(outcome, "lock_lost") == 0 ? 3 : 1;
        json_t *fence = json_object_get(payload, "fence");
        if (rcode == 3 && json_is_integer(fence))
            fs_lock_raise_blocking(rc, lk.resource, json_integer_value(fence));
    }
release:
    if (fs_lock_release_blocking(rc, &lk) == 0 && rcode == 0)
        fprintf(stderr, "finsys: the lock had already expired at release\n");
out:
    json_decref(payload);
    PQfinish(db);
    redisFree(rc);
    return rcode;
}
