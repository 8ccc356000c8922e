/*
 * archive.c: the archive job, its checks, `finsys archive` and the worker's
 * schedule (see archive.h). Blocking throughout: the CLI's main thread or
 * the worker's archive thread, never an event loop.
 *
 * A run, under job:archive:
 *   1. the candidates: per tenant, its oldest closed day not archived
 *      (fs_archive_candidates, archive.sql);
 *   2. each day: its events read in seq order through a cursor in one
 *      REPEATABLE READ snapshot, gzip'd into the store's streaming writer
 *      (the object becomes visible at commit only), then its manifest put;
 *   3. the record, as the fenced job op job_run (job "archive"): a holder
 *      that lost its lock is refused there. A crash between 2 and 3 leaves an
 *      object no record names; the next run writes the same bytes again;
 *   4. with FINSYS_EVENTS_RETENTION_DAYS, per tenant its oldest archived day
 *      past the retention: read back and checked as `finsys archive verify`
 *      does, then its events dropped by the fenced job op (job
 *      "archive_drop"), which holds the day back when something downstream
 *      still needs its events.
 */
#define _GNU_SOURCE
#include "archive.h"

#include <errno.h>
#include <stdarg.h>
#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../core/core.h"
#include "../lock/lock.h"
#include "../op/op.h"
#include "../redis/redis.h"
#include "../store/store.h"

#define RESOURCE "job:archive"
#define PROBLEMS_MAX 10 /* differences reported per archive: the first tell the story */
#define READ_CHUNK (64 * 1024)

const char fs_archive_usage[] =
    "usage: finsys archive run [--tenant T] [--wait-ms N] [--hold-ms N]\n"
    "       finsys archive verify --date YYYY-MM-DD [--tenant T]\n"
    "\n"
    "The event log's archive in the object store (docs/operations.md, \"Event\n"
    "archive\").\n"
    "  run      archive now, as the worker does on its schedule: one closed UTC day\n"
    "           per tenant (or of T only: an id or a name), under the Redis lock\n"
    "           job:archive; then, with FINSYS_EVENTS_RETENTION_DAYS, drop the\n"
    "           events of the oldest archived day past it, once read back and checked.\n"
    "           --wait-ms N waits for the lock that long; --hold-ms N holds it N ms\n"
    "           before the work (drills, tests).\n"
    "           Exit status: 0 done, 1 failure, 2 usage, 3 lock lost, 4 lock held.\n"
    "  verify   re-read every archive of the date (of T only) and check it against\n"
    "           its manifest, PostgreSQL's record and the events still held.\n"
    "           Exit status: 0 all match, 1 failure, 2 usage, 5 an archive differs\n"
    "           (stderr names it and what differs), 6 no archive of that date.\n"
    "Prints one JSON line.\n"
    "  FINSYS_OBJECTS_DIR or FINSYS_OBJECTS_URL  FINSYS_DATABASE_URL  FINSYS_REDIS_URL\n"
    "  FINSYS_EVENTS_RETENTION_DAYS\n";

/* The day's events, in seq order, as the archive's lines. */
static const char *const day_sql =
    "DECLARE fs_archive NO SCROLL CURSOR FOR "
    "SELECT e.seq, fs_event_json(e)::text FROM events e "
    "WHERE e.tenant_id = $1 AND e.created_at >= $2::date::timestamp AT TIME ZONE 'UTC' "
    "AND e.created_at < ($2::date + 1)::timestamp AT TIME ZONE 'UTC' ORDER BY e.seq";

/* --- settings ------------------------------------------------------------- */

static long env_long(const char *name, long dflt, long min, long max, bool zero_ok)
{
    const char *v = getenv(name);
    if (v == NULL || *v == '\0') return dflt;
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno != 0 || *end != '\0') return -1;
    if (zero_ok && n == 0) return 0;
    return n < min || n > max ? -1 : n;
}

long fs_archive_retention_days(void)
{
    return env_long("FINSYS_EVENTS_RETENTION_DAYS", 0, FS_EVENTS_RETENTION_DAYS_MIN,
                    FS_EVENTS_RETENTION_DAYS_MAX, true);
}

long fs_archive_interval_s(void)
{
    return env_long("FINSYS_ARCHIVE_INTERVAL_S", FS_ARCHIVE_INTERVAL_S, FS_ARCHIVE_INTERVAL_S_MIN,
                    FS_ARCHIVE_INTERVAL_S_MAX, false);
}

/* --- small PostgreSQL helpers ---------------------------------------------- */

static bool exec_ok(PGconn *db, const char *sql, char *err, size_t err_len)
{
    PGresult *r = PQexec(db, sql);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok) snprintf(err, err_len, "PostgreSQL: %s", PQerrorMessage(db));
    PQclear(r);
    return ok;
}

static void rollback(PGconn *db)
{
    PQclear(PQexec(db, "ROLLBACK"));
}

/* Opens the day's cursor in a new read-only snapshot. */
static bool open_day(PGconn *db, const char *tenant, const char *date, char *err, size_t err_len)
{
    if (!exec_ok(db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err, err_len)) return false;
    const char *params[2] = {tenant, date};
    PGresult *r = PQexecParams(db, day_sql, 2, NULL, params, NULL, NULL, 0);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok) snprintf(err, err_len, "PostgreSQL: %s", PQerrorMessage(db));
    PQclear(r);
    if (!ok) rollback(db);
    return ok;
}

static PGresult *fetch_day(PGconn *db, char *err, size_t err_len)
{
    PGresult *r = PQexec(db, "FETCH " FS_STR(FS_ARCHIVE_FETCH_ROWS) " FROM fs_archive");
    if (PQresultStatus(r) == PGRES_TUPLES_OK) return r;
    snprintf(err, err_len, "PostgreSQL: %s", PQerrorMessage(db));
    PQclear(r);
    return NULL;
}

/* A run (NULL for verify, which takes no lock): its lease is extended every
 * lease / FS_LOCK_EXTEND_DIVISOR, between days and between fetches of a
 * long one. */
typedef struct run {
    PGconn *db;
    redisContext *rc;
    fs_lock_t lk;
    const char *holder;
    long extended_ms;
    json_t *result; /* {archived, dropped, held, failed} */
    const atomic_bool *stop;
    int code;
    char *err;
    size_t err_len;
} run_t;

static long now_ms(void)
{
    return (long)(fs_now_us() / 1000);
}

static bool stopping(const run_t *r)
{
    return r != NULL && r->stop != NULL && atomic_load(r->stop);
}

static void keep_lease(run_t *r)
{
    if (r == NULL) return;
    if (now_ms() - r->extended_ms < FS_ARCHIVE_LEASE_MS / FS_LOCK_EXTEND_DIVISOR) return;
    if (fs_lock_extend_blocking(r->rc, &r->lk, FS_ARCHIVE_LEASE_MS) != 1)
        fs_log(FS_LOG_WARN, "archive",
               "the lock's lease was lost; committing only if the fence still lets it");
    r->extended_ms = now_ms();
}

/* --- writing one day -------------------------------------------------------- */

typedef struct {
    fs_objects_writer_t *w;
    fs_objects_status_t status;
    bool too_large;
} sink_t;

static bool to_writer(void *arg, const void *data, size_t len)
{
    sink_t *s = arg;
    if (s->status != FS_OBJECTS_OK) return false;
    s->status = fs_objects_writer_write(s->w, data, len);
    return s->status == FS_OBJECTS_OK;
}

/* Reads the day into the gzip writer; fills info's count and seqs. */
static bool write_lines(PGconn *db, run_t *run, fs_archive_gz_t *gz, sink_t *sink,
                        int64_t *bytes_seen, fs_archive_info_t *info, char *err, size_t err_len)
{
    for (;;) {
        keep_lease(run);
        if (stopping(run)) {
            snprintf(err, err_len, "the worker is stopping; the day is written again next run");
            return false;
        }
        PGresult *r = fetch_day(db, err, err_len);
        if (r == NULL) return false;
        int n = PQntuples(r);
        for (int i = 0; i < n; i++) {
            int64_t seq = strtoll(PQgetvalue(r, i, 0), NULL, 10);
            if (info->count == 0) info->first_seq = seq;
            info->last_seq = seq;
            if (++info->count > FS_ARCHIVE_ROWS_MAX) {
                snprintf(err, err_len,
                         "the day has more than %d events (FS_ARCHIVE_ROWS_MAX); not archived",
                         FS_ARCHIVE_ROWS_MAX);
                PQclear(r);
                return false;
            }
            if (!fs_archive_gz_line(gz, PQgetvalue(r, i, 1), (size_t)PQgetlength(r, i, 1)) ||
                gz->bytes > FS_ARCHIVE_BYTES_MAX) {
                if (gz->bytes > FS_ARCHIVE_BYTES_MAX) sink->too_large = true;
                snprintf(err, err_len, "%s",
                         sink->too_large
                             ? "the archive would pass FS_ARCHIVE_BYTES_MAX; not archived"
                             : "the object store refused the archive's bytes");
                PQclear(r);
                return false;
            }
        }
        PQclear(r);
        *bytes_seen = gz->bytes;
        if (n < FS_ARCHIVE_FETCH_ROWS) return true;
    }
}

/* Writes the archive of tenant's date and its manifest; info describes them. */
static bool archive_day(PGconn *db, run_t *run, fs_objects_t *objects, const char *tenant,
                        const char *date, fs_archive_info_t *info, char *err, size_t err_len)
{
    memset(info, 0, sizeof(*info));
    snprintf(info->tenant, sizeof(info->tenant), "%s", tenant);
    snprintf(info->date, sizeof(info->date), "%s", date);
    info->format = FS_ARCHIVE_FORMAT_VERSION;
    char mkey[FS_ARCHIVE_KEY_LEN_MAX + 1];
    if (!fs_archive_key(tenant, date, info->key, sizeof(info->key)) ||
        !fs_archive_manifest_key(tenant, date, mkey, sizeof(mkey))) {
        snprintf(err, err_len, "no valid object key for tenant %s", tenant);
        return false;
    }
    if (!open_day(db, tenant, date, err, err_len)) return false;
    sink_t sink = {.status = FS_OBJECTS_OK};
    sink.w = fs_objects_writer_open(objects, info->key, &sink.status);
    if (sink.w == NULL) {
        snprintf(err, err_len, "the object store: %s (%s)", fs_objects_status_name(sink.status),
                 info->key);
        rollback(db);
        return false;
    }
    fs_archive_gz_t gz;
    fs_archive_gz_init(&gz, to_writer, &sink);
    int64_t seen = 0;
    bool ok = write_lines(db, run, &gz, &sink, &seen, info, err, err_len);
    rollback(db); /* a read-only snapshot: nothing to commit */
    if (ok && info->count == 0) {
        snprintf(err, err_len, "no events on that day");
        ok = false;
    }
    if (ok && !fs_archive_gz_finish(&gz, info->content_sha256, info->sha256)) {
        snprintf(err, err_len, "the object store refused the archive's bytes: %s",
                 fs_objects_status_name(sink.status));
        ok = false;
    }
    info->bytes = gz.bytes;
    fs_archive_gz_free(&gz);
    if (!ok) {
        fs_objects_writer_abort(sink.w);
        return false;
    }
    fs_objects_status_t st = fs_objects_writer_commit(sink.w);
    if (st != FS_OBJECTS_OK) {
        snprintf(err, err_len, "the object store: %s (%s)", fs_objects_status_name(st), info->key);
        return false;
    }
    json_t *m = fs_archive_manifest(info);
    char *text = json_dumps(m, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(m);
    st = fs_objects_put(objects, mkey, text, strlen(text));
    free(text);
    if (st != FS_OBJECTS_OK) {
        snprintf(err, err_len, "the object store: %s (%s)", fs_objects_status_name(st), mkey);
        return false;
    }
    return true;
}

/* --- checking one archive ----------------------------------------------------- */

typedef struct {
    PGconn *db;
    run_t *run; /* its lease kept between fetches; NULL for verify */
    bool held;  /* the events are still in PostgreSQL: compare each */
    PGresult *rows;
    int row, nrows;
    bool db_done, diverged, db_error;
    int64_t count, first_seq, last_seq, prev_seq;
    json_t *problems;
    char err[256];
} check_t;

static void problem(json_t *problems, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(json_t *problems, const char *fmt, ...)
{
    if (json_array_size(problems) >= PROBLEMS_MAX) return;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    json_array_append_new(problems, json_string(buf));
}

/* The next event held for the day, or false at its end (or on an error). */
static bool next_row(check_t *c, int64_t *seq, const char **text, size_t *len)
{
    if (c->db_done) return false;
    if (c->rows == NULL || c->row == c->nrows) {
        if (c->rows != NULL && c->nrows < FS_ARCHIVE_FETCH_ROWS) {
            c->db_done = true;
            return false;
        }
        PQclear(c->rows);
        keep_lease(c->run);
        c->rows = fetch_day(c->db, c->err, sizeof(c->err));
        c->row = 0;
        c->nrows = c->rows != NULL ? PQntuples(c->rows) : 0;
        if (c->rows == NULL) c->db_error = true;
        if (c->nrows == 0) {
            c->db_done = true;
            return false;
        }
    }
    *seq = strtoll(PQgetvalue(c->rows, c->row, 0), NULL, 10);
    *text = PQgetvalue(c->rows, c->row, 1);
    *len = (size_t)PQgetlength(c->rows, c->row, 1);
    c->row++;
    return true;
}

static bool on_line(void *arg, const char *line, size_t len)
{
    check_t *c = arg;
    c->count++;
    int64_t seq = -1, db_seq;
    const char *db_text;
    size_t db_len;
    if (c->held && !c->diverged) {
        if (!next_row(c, &db_seq, &db_text, &db_len)) {
            if (c->db_error) return false;
            problem(c->problems,
                    "line %lld has no event in PostgreSQL: the database holds "
                    "fewer events of the day than the archive",
                    (long long)c->count);
            c->diverged = true;
        } else if (db_len != len || memcmp(db_text, line, len) != 0) {
            problem(c->problems,
                    "line %lld differs from the database's event evt_%lld: "
                    "archive %.120s / database %.120s",
                    (long long)c->count, (long long)db_seq, line, db_text);
            c->diverged = true;
        } else {
            seq = db_seq;
        }
    }
    if (seq < 0) seq = fs_archive_line_seq(line, len);
    if (seq < 0) {
        problem(c->problems, "line %lld is not an event's JSON", (long long)c->count);
    } else {
        if (seq <= c->prev_seq)
            problem(c->problems, "line %lld (evt_%lld) is out of seq order", (long long)c->count,
                    (long long)seq);
        if (c->count == 1) c->first_seq = seq;
        c->last_seq = seq;
        c->prev_seq = seq;
    }
    return true;
}

#define DIFF_INT(what, a, an, b, bn)                                                               \
    do {                                                                                           \
        if ((a) != (b))                                                                            \
            problem(problems, "%s: %s %lld, %s %lld", what, an, (long long)(a), bn,                \
                    (long long)(b));                                                               \
    } while (0)
#define DIFF_STR(what, a, an, b, bn)                                                               \
    do {                                                                                           \
        if (strcmp(a, b) != 0) problem(problems, "%s: %s %s, %s %s", what, an, a, bn, b);          \
    } while (0)

/* The manifest against the record. */
static void check_manifest(fs_objects_t *objects, const fs_archive_info_t *rec, json_t *problems)
{
    char mkey[FS_ARCHIVE_KEY_LEN_MAX + 1];
    if (!fs_archive_manifest_key(rec->tenant, rec->date, mkey, sizeof(mkey))) {
        problem(problems, "no valid manifest key");
        return;
    }
    char *text = NULL;
    size_t len = 0;
    fs_objects_status_t st = fs_objects_get(objects, mkey, &text, &len);
    if (st != FS_OBJECTS_OK) {
        problem(problems, "the manifest %s: %s", mkey, fs_objects_status_name(st));
        free(text);
        return;
    }
    fs_archive_info_t m;
    char err[256];
    if (!fs_archive_manifest_parse(text, len, &m, err, sizeof(err))) {
        problem(problems, "%s: %s", mkey, err);
    } else {
        const char *mn = "the manifest", *pn = "PostgreSQL";
        DIFF_STR("tenant", m.tenant, mn, rec->tenant, pn);
        DIFF_STR("date", m.date, mn, rec->date, pn);
        DIFF_STR("key", m.key, mn, rec->key, pn);
        DIFF_INT("count", m.count, mn, rec->count, pn);
        DIFF_INT("first_seq", m.first_seq, mn, rec->first_seq, pn);
        DIFF_INT("last_seq", m.last_seq, mn, rec->last_seq, pn);
        DIFF_INT("bytes", m.bytes, mn, rec->bytes, pn);
        DIFF_STR("sha256", m.sha256, mn, rec->sha256, pn);
        DIFF_STR("content_sha256", m.content_sha256, mn, rec->content_sha256, pn);
    }
    free(text);
}

/* Reads the object through the check c; problems of its bytes and lines.
 * The whole object is read and hashed (object_hex) even when its lines stop
 * making sense: the hash says whether the bytes are those recorded. True
 * when its lines were read whole (content_hex). */
static bool read_object(fs_objects_t *objects, const fs_archive_info_t *rec, check_t *c,
                        char *content_hex, char *object_hex, int64_t *bytes)
{
    int fd = -1;
    size_t size = 0;
    fs_objects_status_t st = fs_objects_open_read(objects, rec->key, &fd, &size);
    if (st != FS_OBJECTS_OK) {
        problem(c->problems, "the object %s: %s", rec->key, fs_objects_status_name(st));
        return false;
    }
    *bytes = (int64_t)size;
    fs_archive_gunzip_t gz;
    fs_archive_gunzip_init(&gz);
    crypto_hash_sha256_state h;
    crypto_hash_sha256_init(&h);
    char *buf = malloc(READ_CHUNK);
    FS_ASSERT(buf != NULL);
    bool lines_ok = true, read_ok = true;
    for (;;) {
        ssize_t n = read(fd, buf, READ_CHUNK);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            problem(c->problems, "the object %s cannot be read: %s", rec->key, strerror(errno));
            read_ok = lines_ok = false;
            break;
        }
        if (n == 0) break;
        crypto_hash_sha256_update(&h, (const unsigned char *)buf, (size_t)n);
        if (lines_ok && !fs_archive_gunzip_feed(&gz, buf, (size_t)n, on_line, c)) {
            if (!c->db_error) problem(c->problems, "the object %s: %s", rec->key, gz.error);
            lines_ok = false;
            if (c->db_error) break;
        }
    }
    free(buf);
    close(fd);
    char ignored[FS_ARCHIVE_SHA_HEX_LEN + 1];
    if (lines_ok && !fs_archive_gunzip_finish(&gz, content_hex, ignored)) {
        problem(c->problems, "the object %s: %s", rec->key, gz.error);
        lines_ok = false;
    }
    fs_archive_gunzip_free(&gz);
    unsigned char d[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&h, d);
    if (read_ok) sodium_bin2hex(object_hex, FS_ARCHIVE_SHA_HEX_LEN + 1, d, sizeof(d));
    return lines_ok;
}

/* Checks one archive (rec: PostgreSQL's record); its problems go to
 * problems. False only when PostgreSQL failed (err). */
static bool check_archive(PGconn *db, run_t *run, fs_objects_t *objects,
                          const fs_archive_info_t *rec, bool held, json_t *problems, char *err,
                          size_t err_len)
{
    check_manifest(objects, rec, problems);
    check_t c = {.db = db, .run = run, .held = held, .problems = problems};
    if (held && !open_day(db, rec->tenant, rec->date, err, err_len)) return false;
    char content_hex[FS_ARCHIVE_SHA_HEX_LEN + 1] = "", object_hex[FS_ARCHIVE_SHA_HEX_LEN + 1] = "";
    int64_t bytes = 0;
    bool whole = read_object(objects, rec, &c, content_hex, object_hex, &bytes);
    if (held && whole && !c.db_error && !c.diverged) {
        int64_t seq;
        const char *text;
        size_t len;
        if (next_row(&c, &seq, &text, &len))
            problem(problems,
                    "PostgreSQL holds events of the day the archive lacks, from "
                    "evt_%lld",
                    (long long)seq);
    }
    PQclear(c.rows);
    if (held) rollback(db);
    if (c.db_error) {
        snprintf(err, err_len, "%s", c.err);
        return false;
    }
    if (object_hex[0] != '\0') {
        const char *on = "the object's", *pn = "PostgreSQL's record";
        DIFF_STR("sha256", object_hex, on, rec->sha256, pn);
        DIFF_INT("bytes", bytes, on, rec->bytes, pn);
    }
    if (whole) {
        const char *an = "the archive", *pn = "PostgreSQL's record";
        DIFF_STR("content_sha256", content_hex, an, rec->content_sha256, pn);
        DIFF_INT("count", c.count, an, rec->count, pn);
        DIFF_INT("first_seq", c.first_seq, an, rec->first_seq, pn);
        DIFF_INT("last_seq", c.last_seq, an, rec->last_seq, pn);
    }
    return true;
}

/* The records of event_archives matching where (params: $1.. as given). */
/* limit: at most FS_ARCHIVE_TENANTS_PER_RUN_MAX rows (a run's pass), or all. */
static PGresult *records(PGconn *db, const char *where, bool limit, int n,
                         const char *const *params, char *err, size_t err_len)
{
    char sql[1024];
    snprintf(sql, sizeof(sql),
             "SELECT a.tenant_id, to_char(a.day, 'YYYY-MM-DD'), a.key, a.count, a.first_seq, "
             "a.last_seq, a.sha256, a.content_sha256, a.bytes, a.format, "
             "a.dropped_at IS NOT NULL FROM event_archives a WHERE %s "
             "ORDER BY a.tenant_id, a.day%s",
             where, limit > 0 ? " LIMIT " FS_STR(FS_ARCHIVE_TENANTS_PER_RUN_MAX) : "");
    PGresult *r = PQexecParams(db, sql, n, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) == PGRES_TUPLES_OK) return r;
    snprintf(err, err_len, "PostgreSQL: %s", PQerrorMessage(db));
    PQclear(r);
    return NULL;
}

static void record_at(PGresult *r, int i, fs_archive_info_t *rec, bool *dropped)
{
    memset(rec, 0, sizeof(*rec));
    snprintf(rec->tenant, sizeof(rec->tenant), "%s", PQgetvalue(r, i, 0));
    snprintf(rec->date, sizeof(rec->date), "%s", PQgetvalue(r, i, 1));
    snprintf(rec->key, sizeof(rec->key), "%s", PQgetvalue(r, i, 2));
    rec->count = strtoll(PQgetvalue(r, i, 3), NULL, 10);
    rec->first_seq = strtoll(PQgetvalue(r, i, 4), NULL, 10);
    rec->last_seq = strtoll(PQgetvalue(r, i, 5), NULL, 10);
    snprintf(rec->sha256, sizeof(rec->sha256), "%s", PQgetvalue(r, i, 6));
    snprintf(rec->content_sha256, sizeof(rec->content_sha256), "%s", PQgetvalue(r, i, 7));
    rec->bytes = strtoll(PQgetvalue(r, i, 8), NULL, 10);
    rec->format = atoi(PQgetvalue(r, i, 9));
    *dropped = strcmp(PQgetvalue(r, i, 10), "t") == 0;
}

/* A tenant given by id or name: its id, or "" when none has it. */
static bool tenant_id(PGconn *db, const char *tenant, char *out, size_t out_len, char *err,
                      size_t err_len)
{
    PGresult *r = PQexecParams(db,
                               "SELECT id FROM tenants WHERE id = $1 OR name = $1 "
                               "ORDER BY id = $1 DESC LIMIT 1",
                               1, NULL, &tenant, NULL, NULL, 0);
    bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok) snprintf(err, err_len, "PostgreSQL: %s", PQerrorMessage(db));
    snprintf(out, out_len, "%s", ok && PQntuples(r) == 1 ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    return ok;
}

static PGconn *connect_db(const fs_config_t *config, char *err, size_t err_len)
{
    PGconn *db = PQconnectdb(config->database_url);
    if (PQstatus(db) == CONNECTION_OK) return db;
    snprintf(err, err_len, "PostgreSQL: %s", PQerrorMessage(db));
    PQfinish(db);
    return NULL;
}

int fs_archive_verify(const fs_config_t *config, fs_objects_t *objects, const char *date,
                      const char *tenant, json_t **report, char *err, size_t err_len)
{
    *report = json_array();
    PGconn *db = connect_db(config, err, err_len);
    if (db == NULL) return FS_ARCHIVE_FAILED;
    char tid[128] = "";
    int code = FS_ARCHIVE_OK;
    if (tenant != NULL && !tenant_id(db, tenant, tid, sizeof(tid), err, err_len)) {
        code = FS_ARCHIVE_FAILED;
        goto out;
    }
    if (tenant != NULL && tid[0] == '\0') {
        snprintf(err, err_len, "no tenant has the id or name %s", tenant);
        code = FS_ARCHIVE_NONE;
        goto out;
    }
    const char *params[2] = {date, tid};
    PGresult *r = records(db, "a.day = $1::date AND ($2 = '' OR a.tenant_id = $2)", false, 2,
                          params, err, err_len);
    if (r == NULL) {
        code = FS_ARCHIVE_FAILED;
        goto out;
    }
    if (PQntuples(r) == 0) {
        snprintf(err, err_len, "no archive of %s%s%s", date, tenant != NULL ? " for " : "",
                 tenant != NULL ? tenant : "");
        code = FS_ARCHIVE_NONE;
    }
    for (int i = 0; i < PQntuples(r) && code != FS_ARCHIVE_FAILED; i++) {
        fs_archive_info_t rec;
        bool dropped;
        record_at(r, i, &rec, &dropped);
        json_t *problems = json_array();
        if (!check_archive(db, NULL, objects, &rec, !dropped, problems, err, err_len)) {
            json_decref(problems);
            code = FS_ARCHIVE_FAILED;
            break;
        }
        bool ok = json_array_size(problems) == 0;
        if (!ok) code = FS_ARCHIVE_MISMATCH;
        json_array_append_new(*report, json_pack("{s:s, s:s, s:s, s:I, s:b, s:b, s:o}", "tenant",
                                                 rec.tenant, "date", rec.date, "key", rec.key,
                                                 "count", (json_int_t)rec.count, "events_dropped",
                                                 dropped, "ok", ok, "problems", problems));
    }
    PQclear(r);
out:
    PQfinish(db);
    return code;
}

/* --- the run ----------------------------------------------------------------- */

/* The fenced job op job_run with job and args (taken); the work's result
 * (the caller's), or NULL with r->code set. */
static json_t *fenced(run_t *r, const char *job, json_t *args)
{
    char outcome[64];
    json_t *payload = NULL;
    json_t *item = json_pack("{s:s, s:s, s:s, s:I, s:s, s:o}", "op", fs_op_name(FS_OP_JOB_RUN),
                             "job", job, "resource", RESOURCE, "fence", (json_int_t)r->lk.fence,
                             "holder", r->holder, "args", args);
    if (!fs_store_run_blocking(r->db, item, outcome, sizeof(outcome), &payload, r->err,
                               r->err_len)) {
        r->code = FS_ARCHIVE_FAILED;
        return NULL;
    }
    json_t *result = NULL;
    if (strcmp(outcome, "ok") == 0) {
        result = json_incref(json_object_get(payload, "result"));
    } else {
        const char *msg = json_string_value(json_object_get(payload, "message"));
        snprintf(r->err, r->err_len, "%s: %s", outcome, msg != NULL ? msg : "");
        r->code = strcmp(outcome, "lock_lost") == 0 ? FS_ARCHIVE_LOCK_LOST : FS_ARCHIVE_FAILED;
        json_t *fence = json_object_get(payload, "fence");
        if (r->code == FS_ARCHIVE_LOCK_LOST && json_is_integer(fence))
            fs_lock_raise_blocking(r->rc, RESOURCE, json_integer_value(fence));
    }
    json_decref(payload);
    return result;
}

static void failed(run_t *r, const char *tenant, const char *date, const char *why)
{
    fs_log(FS_LOG_ERROR, "archive", "tenant %s, %s: %s", tenant, date, why);
    json_array_append_new(
        json_object_get(r->result, "failed"),
        json_pack("{s:s, s:s, s:s}", "tenant", tenant, "date", date, "error", why));
}

/* Step 1-3: one closed day per tenant. */
static bool archive_days(run_t *r, fs_objects_t *objects, const char *tid)
{
    /* Events before `before` are of closed days. */
    int64_t before = (int64_t)time(NULL) - FS_ARCHIVE_CLOSE_GRACE_S;
    before -= before % 86400;
    char before_s[32];
    snprintf(before_s, sizeof(before_s), "%lld", (long long)before);
    const char *params[2] = {before_s, tid};
    PGresult *c =
        PQexecParams(r->db,
                     "SELECT tenant_id, to_char(day, 'YYYY-MM-DD') FROM "
                     "fs_archive_candidates(to_timestamp($1::bigint), nullif($2, ''), " FS_STR(
                         FS_ARCHIVE_TENANTS_PER_RUN_MAX) ")",
                     2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(c) != PGRES_TUPLES_OK) {
        snprintf(r->err, r->err_len, "PostgreSQL: %s", PQerrorMessage(r->db));
        PQclear(c);
        r->code = FS_ARCHIVE_FAILED;
        return false;
    }
    for (int i = 0; i < PQntuples(c) && r->code == FS_ARCHIVE_OK && !stopping(r); i++) {
        const char *tenant = PQgetvalue(c, i, 0), *date = PQgetvalue(c, i, 1);
        fs_archive_info_t info;
        char why[512];
        keep_lease(r);
        if (!archive_day(r->db, r, objects, tenant, date, &info, why, sizeof(why))) {
            if (!stopping(r)) failed(r, tenant, date, why);
            continue;
        }
        json_t *args =
            json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:I, s:i}", "tenant", tenant, "day",
                      date, "key", info.key, "count", (json_int_t)info.count, "first_seq",
                      (json_int_t)info.first_seq, "last_seq", (json_int_t)info.last_seq, "sha256",
                      info.sha256, "content_sha256", info.content_sha256, "bytes",
                      (json_int_t)info.bytes, "format", info.format);
        json_t *res = fenced(r, "archive", args);
        if (res == NULL) break;
        if (!json_is_true(json_object_get(res, "same")))
            failed(r, tenant, date,
                   "archived before with other bytes: the day's events "
                   "changed after it was archived");
        fs_log(FS_LOG_INFO, "archive", "tenant %s, %s: %lld events in %s (%lld bytes)", tenant,
               date, (long long)info.count, info.key, (long long)info.bytes);
        json_array_append_new(json_object_get(r->result, "archived"),
                              json_pack("{s:s, s:s, s:s, s:I, s:b}", "tenant", tenant, "date", date,
                                        "key", info.key, "count", (json_int_t)info.count,
                                        "recorded",
                                        json_is_true(json_object_get(res, "recorded"))));
        json_decref(res);
    }
    PQclear(c);
    return r->code == FS_ARCHIVE_OK;
}

/* Step 4: per tenant, its oldest archived day past the retention, checked
 * and dropped. */
static void drop_days(run_t *r, fs_objects_t *objects, const char *tid, long days)
{
    char cutoff[16];
    fs_date_format((int64_t)time(NULL) - (int64_t)days * 86400, cutoff, sizeof(cutoff));
    const char *params[2] = {cutoff, tid};
    PGresult *q = records(r->db,
                          "a.dropped_at IS NULL AND a.day < $1::date AND ($2 = '' OR "
                          "a.tenant_id = $2) AND a.day = (SELECT min(b.day) FROM event_archives "
                          "b WHERE b.tenant_id = a.tenant_id AND b.dropped_at IS NULL)",
                          true, 2, params, r->err, r->err_len);
    if (q == NULL) {
        r->code = FS_ARCHIVE_FAILED;
        return;
    }
    for (int i = 0; i < PQntuples(q) && r->code == FS_ARCHIVE_OK && !stopping(r); i++) {
        fs_archive_info_t rec;
        bool dropped;
        record_at(q, i, &rec, &dropped);
        keep_lease(r);
        json_t *problems = json_array();
        if (!check_archive(r->db, r, objects, &rec, true, problems, r->err, r->err_len)) {
            json_decref(problems);
            r->code = FS_ARCHIVE_FAILED;
            break;
        }
        if (json_array_size(problems) > 0) {
            char *text = json_dumps(problems, JSON_COMPACT);
            char why[1024];
            snprintf(why, sizeof(why), "its archive %s does not check, its events stay: %s",
                     rec.key, text);
            free(text);
            json_decref(problems);
            failed(r, rec.tenant, rec.date, why);
            continue;
        }
        json_decref(problems);
        json_t *res = fenced(r, "archive_drop",
                             json_pack("{s:s, s:s, s:s}", "tenant", rec.tenant, "day", rec.date,
                                       "sha256", rec.sha256));
        if (res == NULL) break;
        json_t *n = json_object_get(res, "dropped");
        if (json_is_integer(n)) {
            fs_log(FS_LOG_INFO, "archive",
                   "tenant %s, %s: %lld events dropped (retention %ld "
                   "days; archived in %s)",
                   rec.tenant, rec.date, (long long)json_integer_value(n), days, rec.key);
            json_array_append_new(json_object_get(r->result, "dropped"),
                                  json_pack("{s:s, s:s, s:s, s:O}", "tenant", rec.tenant, "date",
                                            rec.date, "key", rec.key, "events", n));
        } else {
            const char *why = json_string_value(json_object_get(res, "held"));
            fs_log(FS_LOG_INFO, "archive", "tenant %s, %s: its events stay for now: %s", rec.tenant,
                   rec.date, why != NULL ? why : "");
            json_array_append_new(json_object_get(r->result, "held"),
                                  json_pack("{s:s, s:s, s:s}", "tenant", rec.tenant, "date",
                                            rec.date, "reason", why != NULL ? why : ""));
        }
        json_decref(res);
    }
    PQclear(q);
}

int fs_archive_run(const fs_config_t *config, fs_objects_t *objects, const char *tenant,
                   const char *holder, long wait_ms, long hold_ms, const atomic_bool *stop,
                   json_t **result, char *err, size_t err_len)
{
    *result = NULL;
    long days = fs_archive_retention_days();
    if (days < 0) {
        snprintf(err, err_len, "FINSYS_EVENTS_RETENTION_DAYS must be 0 (off) or %d to %d",
                 FS_EVENTS_RETENTION_DAYS_MIN, FS_EVENTS_RETENTION_DAYS_MAX);
        return FS_ARCHIVE_USAGE;
    }
    if (config->redis_url[0] == '\0') {
        snprintf(err, err_len, "archive needs Redis (FINSYS_REDIS_URL) for its lock");
        return FS_ARCHIVE_FAILED;
    }
    run_t r = {
        .holder = holder, .stop = stop, .err = err, .err_len = err_len, .code = FS_ARCHIVE_OK};
    r.rc = fs_redis_connect_blocking(config->redis_url, config->redis_timeout_ms, err, err_len);
    if (r.rc == NULL) return FS_ARCHIVE_FAILED;
    r.db = connect_db(config, err, err_len);
    if (r.db == NULL) {
        redisFree(r.rc);
        return FS_ARCHIVE_FAILED;
    }
    char tid[128] = "";
    if (tenant != NULL) {
        if (!tenant_id(r.db, tenant, tid, sizeof(tid), err, err_len)) {
            r.code = FS_ARCHIVE_FAILED;
            goto out;
        }
        if (tid[0] == '\0') {
            snprintf(err, err_len, "no tenant has the id or name %s", tenant);
            r.code = FS_ARCHIVE_USAGE;
            goto out;
        }
    }
    long deadline = now_ms() + wait_ms;
    fs_lock_status_t st;
    while ((st = fs_lock_acquire_blocking(r.rc, RESOURCE, FS_ARCHIVE_LEASE_MS, &r.lk)) ==
               FS_LOCK_HELD &&
           now_ms() < deadline)
        fs_sleep_ms(FS_LOCK_RETRY_MS);
    if (st != FS_LOCK_ACQUIRED) {
        snprintf(err, err_len, "%s",
                 st == FS_LOCK_HELD ? "another archive run holds the lock job:archive"
                                    : "Redis unavailable; the archive did not run");
        r.code = st == FS_LOCK_HELD ? FS_ARCHIVE_LOCK_HELD : FS_ARCHIVE_FAILED;
        goto out;
    }
    r.extended_ms = now_ms();
    for (long end = now_ms() + hold_ms; now_ms() < end;) {
        long left = end - now_ms(), step = FS_ARCHIVE_LEASE_MS / FS_LOCK_EXTEND_DIVISOR;
        fs_sleep_ms(left < step ? left : step);
        keep_lease(&r);
    }
    r.result = json_pack("{s:[], s:[], s:[], s:[]}", "archived", "dropped", "held", "failed");
    if (archive_days(&r, objects, tid) && days > 0) drop_days(&r, objects, tid, days);
    fs_lock_release_blocking(r.rc, &r.lk);
    if (r.code == FS_ARCHIVE_OK) {
        *result =
            json_pack("{s:s, s:I, s:i, s:O}", "outcome", "ok", "token", (json_int_t)r.lk.fence,
                      "retention_days", (int)days, "result", r.result);
    }
    json_decref(r.result);
out:
    PQfinish(r.db);
    redisFree(r.rc);
    return r.code;
}

/* --- finsys archive ------------------------------------------------------------ */

static bool parse_ms(const char *s, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || end == s || v < 0 || v > max) return false;
    *out = v;
    return true;
}

static void print_json(json_t *o)
{
    char *text = json_dumps(o, JSON_COMPACT);
    printf("%s\n", text);
    fflush(stdout);
    free(text);
}

static int main_run(const fs_config_t *config, fs_objects_t *objects, const char *tenant, long wait,
                    long hold)
{
    char holder[64], err[1024] = "";
    snprintf(holder, sizeof(holder), "finsys archive pid %d", (int)getpid());
    json_t *result = NULL;
    int code = fs_archive_run(config, objects, tenant, holder, wait, hold, NULL, &result, err,
                              sizeof(err));
    json_t *line = result != NULL ? result
                                  : json_pack("{s:s, s:s}", "outcome",
                                              code == FS_ARCHIVE_LOCK_HELD   ? "lock_held"
                                              : code == FS_ARCHIVE_LOCK_LOST ? "lock_lost"
                                                                             : "failed",
                                              "error", err);
    json_object_set_new(line, "job", json_string("archive"));
    print_json(line);
    json_decref(line);
    if (code != FS_ARCHIVE_OK) fprintf(stderr, "finsys: archive: %s\n", err);
    return code;
}

static int main_verify(const fs_config_t *config, fs_objects_t *objects, const char *date,
                       const char *tenant)
{
    char err[512] = "";
    json_t *report = NULL;
    int code = fs_archive_verify(config, objects, date, tenant, &report, err, sizeof(err));
    json_t *line =
        json_pack("{s:s, s:s, s:s, s:O}", "job", "archive_verify", "date", date, "outcome",
                  code == FS_ARCHIVE_OK         ? "ok"
                  : code == FS_ARCHIVE_MISMATCH ? "mismatch"
                  : code == FS_ARCHIVE_NONE     ? "none"
                                                : "failed",
                  "archives", report);
    print_json(line);
    json_decref(line);
    size_t i;
    json_t *a;
    json_array_foreach(report, i, a)
    {
        size_t j;
        json_t *p;
        json_array_foreach(json_object_get(a, "problems"), j, p)
        {
            fprintf(stderr, "finsys: archive %s differs: %s\n",
                    json_string_value(json_object_get(a, "key")), json_string_value(p));
        }
    }
    json_decref(report);
    if (code == FS_ARCHIVE_OK)
        fprintf(stderr, "finsys: every archive of %s matches\n", date);
    else if (code != FS_ARCHIVE_MISMATCH)
        fprintf(stderr, "finsys: archive verify: %s\n", err);
    return code;
}

int fs_archive_main(const fs_config_t *config, int argc, char **argv)
{
    if (argc < 1 || (strcmp(argv[0], "run") != 0 && strcmp(argv[0], "verify") != 0)) {
        fputs(fs_archive_usage, stderr);
        return FS_ARCHIVE_USAGE;
    }
    bool run = strcmp(argv[0], "run") == 0;
    const char *tenant = NULL, *date = NULL;
    long wait = 0, hold = 0;
    for (int i = 1; i < argc; i++) {
        bool has = i + 1 < argc;
        if (strcmp(argv[i], "--tenant") == 0 && has) {
            tenant = argv[++i];
            if (*tenant == '\0' || strlen(tenant) > FS_NAME_LEN_MAX) {
                fprintf(stderr, "finsys: --tenant is 1 to %d bytes\n", FS_NAME_LEN_MAX);
                return FS_ARCHIVE_USAGE;
            }
        } else if (!run && strcmp(argv[i], "--date") == 0 && has) {
            int64_t day;
            date = argv[++i];
            if (!fs_date_parse(date, &day)) {
                fprintf(stderr, "finsys: --date is YYYY-MM-DD (UTC)\n");
                return FS_ARCHIVE_USAGE;
            }
        } else if (run && strcmp(argv[i], "--wait-ms") == 0 && has) {
            if (!parse_ms(argv[++i], FS_JOB_WAIT_MS_MAX, &wait)) {
                fprintf(stderr, "finsys: --wait-ms is 0 to %d\n", FS_JOB_WAIT_MS_MAX);
                return FS_ARCHIVE_USAGE;
            }
        } else if (run && strcmp(argv[i], "--hold-ms") == 0 && has) {
            if (!parse_ms(argv[++i], FS_JOB_HOLD_MS_MAX, &hold)) {
                fprintf(stderr, "finsys: --hold-ms is 0 to %d\n", FS_JOB_HOLD_MS_MAX);
                return FS_ARCHIVE_USAGE;
            }
        } else {
            fprintf(stderr, "finsys: unknown option '%s'\n%s", argv[i], fs_archive_usage);
            return FS_ARCHIVE_USAGE;
        }
    }
    if (!run && date == NULL) {
        fprintf(stderr, "finsys: archive verify needs --date YYYY-MM-DD\n%s", fs_archive_usage);
        return FS_ARCHIVE_USAGE;
    }
    char err[512];
    fs_objects_t *objects =
        fs_objects_open(config->objects_dir, config->objects_url, err, sizeof(err));
    if (objects == NULL) {
        fprintf(stderr, "finsys: %s\n", err);
        return FS_ARCHIVE_FAILED;
    }
    int code = run ? main_run(config, objects, tenant, wait, hold)
                   : main_verify(config, objects, date, tenant);
    fs_objects_close(objects);
    return code;
}

/* --- the worker's schedule ---------------------------------------------------- */

struct fs_archive_scheduler {
    const fs_config_t *config;
    fs_objects_t *objects;
    fs_periodic_t *thread;
};

static void run_once(void *arg, const char *holder, const atomic_bool *stop)
{
    fs_archive_scheduler_t *s = arg;
    char err[1024] = "";
    json_t *result = NULL;
    int code = fs_archive_run(s->config, s->objects, NULL, holder, 0, 0, stop, &result, err,
                              sizeof(err));
    if (code == FS_ARCHIVE_OK) {
        json_t *res = json_object_get(result, "result");
        size_t archived = json_array_size(json_object_get(res, "archived"));
        size_t dropped = json_array_size(json_object_get(res, "dropped"));
        size_t bad = json_array_size(json_object_get(res, "failed"));
        if (archived + dropped + bad > 0)
            fs_log(bad > 0 ? FS_LOG_WARN : FS_LOG_INFO, "archive",
                   "run done: %zu day%s archived, %zu dropped, %zu failed", archived,
                   archived == 1 ? "" : "s", dropped, bad);
    } else if (code == FS_ARCHIVE_LOCK_HELD) {
        fs_log(FS_LOG_INFO, "archive", "another run holds the lock job:archive");
    } else {
        fs_log(FS_LOG_WARN, "archive", "the archive run failed: %s", err);
    }
    json_decref(result);
}

fs_archive_scheduler_t *fs_archive_scheduler_start(const fs_config_t *config, fs_objects_t *objects)
{
    long interval = fs_archive_interval_s();
    if (interval < 0) {
        fs_log(FS_LOG_ERROR, "archive",
               "FINSYS_ARCHIVE_INTERVAL_S must be %d to %d; the event archive is off",
               FS_ARCHIVE_INTERVAL_S_MIN, FS_ARCHIVE_INTERVAL_S_MAX);
        return NULL;
    }
    if (fs_archive_retention_days() < 0) {
        fs_log(FS_LOG_ERROR, "archive",
               "FINSYS_EVENTS_RETENTION_DAYS must be 0 (off) or %d to %d; the event archive "
               "is off",
               FS_EVENTS_RETENTION_DAYS_MIN, FS_EVENTS_RETENTION_DAYS_MAX);
        return NULL;
    }
    if (config->redis_url[0] == '\0') {
        fs_log(FS_LOG_INFO, "archive",
               "no FINSYS_REDIS_URL: the event archive (under a Redis lock) is off");
        return NULL;
    }
    fs_archive_scheduler_t *s = calloc(1, sizeof(*s));
    FS_ASSERT(s != NULL);
    s->config = config;
    s->objects = objects;
    s->thread = fs_periodic_start(interval, run_once, s, "archive", "the event archive's thread");
    return s;
}

void fs_archive_scheduler_stop(fs_archive_scheduler_t *s)
{
    if (s == NULL) return;
    fs_periodic_stop(s->thread);
    free(s);
}
