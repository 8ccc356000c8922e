/*
 * archive.h: the event log's archive in the object store (issue 15;
 * docs/operations.md "Event archive", docs/architecture.md).
 *
 * Each closed UTC day of a tenant's events becomes one object,
 * archive/events/TENANT/YYYY/MM/DD.jsonl.gz: the events in seq order, one
 * JSON line each (the event as GET /v1/events shows it), gzip-compressed
 * deterministically (zlib, level 6, no time or name in the header), so that
 * archiving the same day twice writes the same bytes. Next to it,
 * DD.manifest.json says what it holds (fs_archive_info_t: tenant, date,
 * count, first and last seq, the SHA-256 of the object and of its lines,
 * the format version), and PostgreSQL's event_archives records it, in the
 * fenced transaction of the run that wrote it (0032_event_archives.sql).
 *
 * The job (fs_archive_run) runs under the Redis lock job:archive, on the
 * worker's thread of its own (fs_archive_scheduler_start) or `finsys archive
 * run`: one day per tenant per run, then, with FINSYS_EVENTS_RETENTION_DAYS,
 * the oldest archived day per tenant past it is read back, checked against
 * PostgreSQL and its events dropped (db/functions/archive.sql says when they
 * are held back). `finsys archive verify` checks a date's archives.
 *
 * Everything here blocks (hiredis, libpq, the object store's blocking
 * calls): never call it on an event loop.
 */
#ifndef FS_ARCHIVE_H
#define FS_ARCHIVE_H

#include <jansson.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

#include "../config/config.h"
#include "../objects/objects.h"

/* Exit codes of `finsys archive`, as finsys job's, and two of verify's. */
enum {
    FS_ARCHIVE_OK = 0,
    FS_ARCHIVE_FAILED = 1, /* Redis, PostgreSQL or the store unavailable */
    FS_ARCHIVE_USAGE = 2,
    FS_ARCHIVE_LOCK_LOST = 3,
    FS_ARCHIVE_LOCK_HELD = 4,
    FS_ARCHIVE_MISMATCH = 5, /* verify: an archive differs (the message says how) */
    FS_ARCHIVE_NONE = 6,     /* verify: no archive of that date (and tenant) */
};

#define FS_ARCHIVE_SHA_HEX_LEN 64
#define FS_ARCHIVE_KEY_LEN_MAX 200

/* What a manifest says (and event_archives records). */
typedef struct {
    char tenant[128];
    char date[11]; /* YYYY-MM-DD */
    char key[FS_ARCHIVE_KEY_LEN_MAX + 1];
    int64_t count, first_seq, last_seq, bytes;
    char sha256[FS_ARCHIVE_SHA_HEX_LEN + 1];         /* of the object (compressed) */
    char content_sha256[FS_ARCHIVE_SHA_HEX_LEN + 1]; /* of its JSON lines */
    int format;
} fs_archive_info_t;

/* --- the format (pure: format.c) ----------------------------------------- */

/* The keys of tenant's date (YYYY-MM-DD): the object, and its manifest. False
 * when they would not fit or not be valid keys (objects.h's rules). */
bool fs_archive_key(const char *tenant, const char *date, char *key, size_t key_len);
bool fs_archive_manifest_key(const char *tenant, const char *date, char *key, size_t key_len);

/* The manifest of info as JSON (the caller decrefs), and its reading back:
 * false with err naming the field that is missing or wrong. */
json_t *fs_archive_manifest(const fs_archive_info_t *info);
bool fs_archive_manifest_parse(const char *text, size_t len, fs_archive_info_t *out, char *err,
                               size_t err_len);

/* The seq of an archived line ({"id":"evt_N",...}): -1 when it is not an
 * event's JSON. */
int64_t fs_archive_line_seq(const char *line, size_t len);

/* Writing: lines in, gzip out through sink (which returns false to stop:
 * the writer then fails). Hashes both sides and counts the bytes out. */
typedef bool (*fs_archive_sink_fn)(void *arg, const void *data, size_t len);
typedef struct {
    z_stream z;
    crypto_hash_sha256_state content, object;
    int64_t bytes;
    fs_archive_sink_fn sink;
    void *arg;
    bool failed;
} fs_archive_gz_t;

void fs_archive_gz_init(fs_archive_gz_t *w, fs_archive_sink_fn sink, void *arg);
/* One line (without its newline, which is added). */
bool fs_archive_gz_line(fs_archive_gz_t *w, const char *line, size_t len);
/* Ends the stream; the hex hashes of the lines and of the object. */
bool fs_archive_gz_finish(fs_archive_gz_t *w, char *content_hex, char *object_hex);
void fs_archive_gz_free(fs_archive_gz_t *w);

/* Reading: gzip in (in pieces, as read), each whole line to on_line (which
 * returns false to stop); hashes both sides. */
typedef bool (*fs_archive_line_fn)(void *arg, const char *line, size_t len);
typedef struct {
    z_stream z;
    crypto_hash_sha256_state content, object;
    char *line; /* the line being assembled, at most FS_ARCHIVE_LINE_BYTES_MAX */
    size_t line_len;
    bool ended;   /* the gzip stream's end was read */
    bool stopped; /* on_line said stop */
    char error[128];
} fs_archive_gunzip_t;

void fs_archive_gunzip_init(fs_archive_gunzip_t *r);
/* False on corrupt or oversize input (r->error), or when on_line stopped. */
bool fs_archive_gunzip_feed(fs_archive_gunzip_t *r, const void *data, size_t len,
                            fs_archive_line_fn on_line, void *arg);
/* After the last piece: false unless the stream ended whole with no partial
 * line left; the hex hashes. */
bool fs_archive_gunzip_finish(fs_archive_gunzip_t *r, char *content_hex, char *object_hex);
void fs_archive_gunzip_free(fs_archive_gunzip_t *r);

/* --- the job and its checks (archive.c) ----------------------------------- */

/* One run: takes job:archive (waiting up to wait_ms when held; holding it
 * hold_ms first, for drills), archives one closed day per tenant (only
 * tenant, when not NULL: an id or a name), then applies the retention.
 * *result (the caller's) lists what was archived, dropped, held back and
 * failed; err says why a run failed. Returns an exit code above. stop (NULL
 * from the CLI): once true, the run ends before its next day or fetch (the
 * worker's shutdown); a day cut short is not recorded, and the next run
 * writes it again. */
int fs_archive_run(const fs_config_t *config, fs_objects_t *objects, const char *tenant,
                   const char *holder, long wait_ms, long hold_ms, const atomic_bool *stop,
                   json_t **result, char *err, size_t err_len);

/* Checks every archive of date (of tenant only, when not NULL): the manifest
 * against PostgreSQL's record, the object's SHA-256 against both, and its
 * lines against the events still held (or, once dropped, their count, seqs
 * and digest against the manifest). *report (the caller's) has one entry per
 * archive, with what differs. FS_ARCHIVE_OK when all match. */
int fs_archive_verify(const fs_config_t *config, fs_objects_t *objects, const char *date,
                      const char *tenant, json_t **report, char *err, size_t err_len);

/* `finsys archive run|verify ...`: prints one JSON line; returns the exit
 * code. */
extern const char fs_archive_usage[];
int fs_archive_main(const fs_config_t *config, int argc, char **argv);

/* FINSYS_EVENTS_RETENTION_DAYS: 0 when unset or 0 (off); -1 when not an
 * integer in FS_EVENTS_RETENTION_DAYS_MIN..FS_EVENTS_RETENTION_DAYS_MAX. */
long fs_archive_retention_days(void);

/* FINSYS_ARCHIVE_INTERVAL_S, or FS_ARCHIVE_INTERVAL_S; -1 when out of range. */
long fs_archive_interval_s(void);

/* The worker's schedule: a thread that runs the job every interval (the
 * first one interval after the start), with the worker's store. NULL when
 * the worker has no Redis (the lock needs it) or a setting is wrong
 * (logged). fs_archive_scheduler_stop wakes it, joins and frees. */
typedef struct fs_archive_scheduler fs_archive_scheduler_t;
fs_archive_scheduler_t *fs_archive_scheduler_start(const fs_config_t *config,
                                                   fs_objects_t *objects);
void fs_archive_scheduler_stop(fs_archive_scheduler_t *s);

#endif
