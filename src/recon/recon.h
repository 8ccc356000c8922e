/*
 * recon.h: the daily reconciliation against the provider (issue 12).
 *
 * A run for a UTC date takes the Redis lock job:reconcile (lease
 * FS_RECON_LEASE_MS, extended while it works), fetches the provider's
 * settlement report for the date page by page (GET
 * FINSYS_PROVIDER_URL/reports/settlements?date=, FS_RECON_REPORT_PAGE_MAX
 * lines a page), and sends the lines to PostgreSQL as the fenced job op
 * job_run (job "reconcile"): db/functions/reconcile.sql matches them against
 * the payments and refunds that reached the provider, writes the breaks and
 * replaces the date's result in that one transaction. A holder that lost its
 * lock is refused there and changes nothing.
 *
 * Everything here blocks (hiredis, libpq, and an HTTP client on a private
 * event_base): `finsys reconcile` runs it on the main thread, the worker on
 * a thread of its own (fs_recon_scheduler_start), never on an event loop.
 */
#ifndef FS_RECON_H
#define FS_RECON_H

#include <jansson.h>

#include "../config/config.h"

/* Exit codes, as finsys job's. */
enum {
    FS_RECON_OK = 0,
    FS_RECON_FAILED = 1, /* Redis, PostgreSQL or the provider unavailable */
    FS_RECON_USAGE = 2,
    FS_RECON_LOCK_LOST = 3,
    FS_RECON_LOCK_HELD = 4,
};

/* Reconciles date (YYYY-MM-DD, UTC) once, as holder. On FS_RECON_OK,
 * *result (owned by the caller) is the summary {date, status, provider_lines,
 * finsys_lines, matched, breaks, truncated}; on failure err says why. */
int fs_recon_run(const fs_config_t *config, const char *date, const char *holder, long wait_ms,
                 json_t **result, char *err, size_t err_len);

/* `finsys reconcile --date D|today|yesterday [--wait-ms N]`. Prints one JSON
 * line; returns the exit code. */
extern const char fs_recon_usage[];
int fs_recon_main(const fs_config_t *config, int argc, char **argv);

/* The worker's schedule: a thread that reconciles the previous UTC day every
 * FS_RECON_INTERVAL_S (FINSYS_RECON_INTERVAL_S overrides; the first run is
 * one interval after the start). NULL when the worker has no Redis (the
 * lock needs it; logged). fs_recon_scheduler_stop wakes it, joins and frees. */
typedef struct fs_recon_scheduler fs_recon_scheduler_t;
fs_recon_scheduler_t *fs_recon_scheduler_start(const fs_config_t *config);
void fs_recon_scheduler_stop(fs_recon_scheduler_t *s);

/* FINSYS_RECON_INTERVAL_S, or FS_RECON_INTERVAL_S when unset; -1 when it is
 * not an integer in FS_RECON_INTERVAL_S_MIN..FS_RECON_INTERVAL_S_MAX. */
long fs_recon_interval_s(void);

#endif
