/*
 * replica.h: how stale a read on the replica may be (issue 14;
 * docs/operations.md "Reads on the replica").
 *
 * With FINSYS_DATABASE_READ_URL, the server's lists and searches may run on
 * a streaming replica. The guarantee: a read shows every write committed
 * more than FS_READ_REPLICA_LAG_MAX_MS before the server took the request,
 * and every write the tenant made through this process before it (and,
 * through Redis, through any process: src/http/server.c). It holds because
 * this module gives each read the WAL position the replica must have
 * replayed first, and the replica checks it in the read's own statement
 * (db/functions/replica.sql's fs_read_at): a replica behind it answers
 * "stale" and the primary reads instead.
 *
 * The positions come from a sampler, a thread of its own with one blocking
 * connection to the primary (FINSYS_DATABASE_URL), that asks for
 * pg_current_wal_insert_lsn() every FS_READ_REPLICA_SAMPLE_MS and keeps the
 * last FS_READ_REPLICA_SAMPLES_MAX answers with the time each question was
 * SENT: every commit acknowledged before that time lies at or before the
 * answer. A read at time t needs the oldest sample sent at or after
 * t - FS_READ_REPLICA_LAG_MAX_MS (and after the tenant's last write); when
 * there is none (the primary is slow or away, the sampler just started), the
 * read goes to the primary: when unsure, the primary.
 *
 * Never blocks an event loop: the calls below take a mutex for a scan of
 * fixed arrays. Any thread.
 */
#ifndef FS_REPLICA_H
#define FS_REPLICA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Where a read goes, and why (the label "why" of finsys_reads_total). */
typedef enum {
    FS_REPLICA_FRESH,     /* the replica, if it has replayed *lsn */
    FS_REPLICA_OWN_WRITE, /* the primary: the tenant wrote after the newest sample */
    FS_REPLICA_NO_SAMPLE, /* the primary: no sample of the primary recent enough */
} fs_replica_route_t;

/* Starts the sampler on primary_conninfo (a copy is kept). Once, before
 * fs_replica_min_lsn is asked. False when its thread cannot start (logged):
 * reads then all go to the primary. */
bool fs_replica_start(const char *primary_conninfo);

/* Stops and joins the sampler (within about a sample's time, or the
 * query's timeout). No-op when it was not started. */
void fs_replica_stop(void);

/* The position (text, "X/Y", in lsn, at least 32 bytes) a replica must have
 * replayed before it serves a read of tenant taken now. tenant may be NULL
 * (unknown). */
fs_replica_route_t fs_replica_min_lsn(const char *tenant, char *lsn, size_t lsn_len);

/* A write of tenant (NULL: of a tenant not known) was answered now: its
 * reads through this process need a sample sent after this moment. */
void fs_replica_wrote(const char *tenant);

/* A replica said it had replayed lsn ("X/Y"): sets the gauge
 * finsys_read_replica_lag_seconds to how long ago the primary was at
 * the first position not yet replayed (0 when it has replayed every sample). */
void fs_replica_replayed(const char *lsn);

/* "X/Y" (pg_lsn's text) as a number; false when text is not one. */
bool fs_replica_lsn_parse(const char *text, uint64_t *lsn);

#endif
