/*
 * runner.c: the worker's export thread (see export.h).
 *
 * One thread, one blocking connection of its own: it may wait on the
 * database and the disk for seconds without holding up any event loop or
 * any connection of the payment path. Memory is bounded by one page of rows
 * (FS_EXPORT_PAGE_ROWS) and one CSV chunk (FS_EXPORT_CHUNK_BYTES), whatever
 * the export's size.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../money/money.h"
#include "export.h"

struct fs_export_runner {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stopping; /* under mu */
    char conninfo[1024];
    fs_objects_t *objects;
    PGconn *c;
    bool backend_said; /* nice_backend's outcome logged (once) */
};

/* One export being made. */
typedef struct {
    fs_export_runner_t *r;
    const char *id, *tenant, *type;
    json_t *filters;
    int attempt;
    fs_objects_writer_t *w;
    crypto_hash_sha256_state sha;
    fs_export_buf_t buf;
    int64_t rows, bytes;
    char error[512];
} job_t;

static bool stopping(fs_export_runner_t *r)
{
    pthread_mutex_lock(&r->mu);
    bool s = r->stopping;
    pthread_mutex_unlock(&r->mu);
    return s;
}

static void quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static bool command_ok(PGconn *c, PGresult *res, const char *what, char *error, size_t error_len)
{
    ExecStatusType st = PQresultStatus(res);
    bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok && error != NULL) {
        snprintf(error, error_len, "%s: %s", what, PQerrorMessage(c));
        char *nl = strchr(error, '\n');
        if (nl != NULL) *nl = '\0';
    }
    return ok;
}

static bool exec_simple(PGconn *c, const char *sql, char *error, size_t error_len)
{
    PGresult *res = PQexec(c, sql);
    bool ok = command_ok(c, res, sql, error, error_len);
    PQclear(res);
    return ok;
}

/* Writes out what the chunk holds (always when force). */
static bool flush(job_t *j, bool force)
{
    if (j->buf.len == 0 || (!force && j->buf.len < FS_EXPORT_CHUNK_BYTES)) return true;
    crypto_hash_sha256_update(&j->sha, (const unsigned char *)j->buf.data, j->buf.len);
    fs_objects_status_t st = fs_objects_writer_write(j->w, j->buf.data, j->buf.len);
    j->bytes += (int64_t)j->buf.len;
    j->buf.len = 0;
    if (st != FS_OBJECTS_OK) {
        snprintf(j->error, sizeof(j->error), "The object store refused the file (%s).",
                 fs_objects_status_name(st));
        return false;
    }
    return true;
}

static void header(job_t *j, const char *const *names)
{
    for (int i = 0; names[i] != NULL; i++) fs_export_csv_field(&j->buf, names[i], i == 0);
    fs_export_csv_end(&j->buf);
}

/* An amount's two columns: minor units and formatted by the exponent. */
static void amount_fields(job_t *j, const char *minor, const fs_currency_t *cur)
{
    char text[64];
    fs_export_csv_field(&j->buf, minor, false);
    if (cur != NULL && minor != NULL &&
        fs_export_format_amount(minor, cur->exponent, text, sizeof(text)))
        fs_export_csv_field(&j->buf, text, false);
    else
        fs_export_csv_field(&j->buf, NULL, false);
}

static const char *filter(const job_t *j, const char *name)
{
    return json_string_value(json_object_get(j->filters, name));
}

static const char *cell(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

/* Per type: the cursor's query and parameters, the header, and a row. */
typedef struct {
    int64_t balance; /* statement: the running balance */
    const fs_currency_t *cur;
} state_t;

static void payment_row(job_t *j, state_t *s, const PGresult *res, int i)
{
    (void)s;
    const fs_currency_t *cur = fs_money_currency(cell(res, i, 6));
    for (int k = 0; k < 6; k++) fs_export_csv_field(&j->buf, cell(res, i, k), k == 0);
    fs_export_csv_field(&j->buf, cell(res, i, 6), false);
    amount_fields(j, cell(res, i, 7), cur);
    amount_fields(j, cell(res, i, 8), cur);
    fs_export_csv_field(&j->buf, cell(res, i, 9), false);
    fs_export_csv_end(&j->buf);
}

static void daily_row(job_t *j, state_t *s, const PGresult *res, int i)
{
    (void)s;
    const fs_currency_t *cur = fs_money_currency(cell(res, i, 1));
    fs_export_csv_field(&j->buf, cell(res, i, 0), true);
    fs_export_csv_field(&j->buf, cell(res, i, 1), false);
    fs_export_csv_field(&j->buf, cell(res, i, 2), false);
    amount_fields(j, cell(res, i, 3), cur);
    fs_export_csv_field(&j->buf, cell(res, i, 4), false);
    amount_fields(j, cell(res, i, 5), cur);
    fs_export_csv_field(&j->buf, cell(res, i, 6), false);
    amount_fields(j, cell(res, i, 7), cur);
    fs_export_csv_field(&j->buf, cell(res, i, 8), false);
    /* The risk rules' (docs/risk.md): flagged, blocked, review_rejected. */
    for (int k = 9; k < 15; k += 2) {
        fs_export_csv_field(&j->buf, cell(res, i, k), false);
        amount_fields(j, cell(res, i, k + 1), cur);
    }
    fs_export_csv_end(&j->buf);
}

static void balance_row(job_t *j, state_t *s, const char *kind, const char *entry, const char *at,
                        const char *ref, const char *amount)
{
    char bal[32];
    snprintf(bal, sizeof(bal), "%" PRId64, s->balance);
    fs_export_csv_field(&j->buf, kind, true);
    fs_export_csv_field(&j->buf, entry, false);
    fs_export_csv_field(&j->buf, at, false);
    fs_export_csv_field(&j->buf, ref, false);
    fs_export_csv_field(&j->buf, s->cur != NULL ? s->cur->code : NULL, false);
    amount_fields(j, amount, amount != NULL ? s->cur : NULL);
    amount_fields(j, bal, s->cur);
    fs_export_csv_end(&j->buf);
}

static void statement_row(job_t *j, state_t *s, const PGresult *res, int i)
{
    int64_t amt = strtoll(cell(res, i, 3), NULL, 10);
    /* The balance is an account's: int64 by the ledger's own checks. */
    if (!fs_money_add(s->balance, amt, &s->balance)) s->balance = INT64_MAX;
    balance_row(j, s, "entry", cell(res, i, 0), cell(res, i, 1), cell(res, i, 2), cell(res, i, 3));
}

static const char *const payments_sql =
    "DECLARE fs_export NO SCROLL CURSOR FOR "
    "SELECT y.id, fs_ts(y.created_at), fs_ts(y.updated_at), y.status, y.from_account, "
    "y.to_account, y.currency, y.amount, y.amount_refunded, y.description "
    "FROM payments y WHERE y.tenant_id = $1 "
    "AND ($2::text IS NULL OR y.status = $2) AND ($3::text IS NULL OR y.currency = $3) "
    "AND ($4::timestamptz IS NULL OR y.created_at >= $4::timestamptz) "
    "AND ($5::timestamptz IS NULL OR y.created_at <= $5::timestamptz) ORDER BY y.seq";
static const char *const payments_head[] = {"id",
                                            "created_at",
                                            "updated_at",
                                            "status",
                                            "from_account",
                                            "to_account",
                                            "currency",
                                            "amount_minor",
                                            "amount",
                                            "amount_refunded_minor",
                                            "amount_refunded",
                                            "description",
                                            NULL};

/* Per UTC day and currency, straight from payments (the rollups may take
 * this over), and the risk rules' figures (docs/risk.md): payments sent to
 * review (their risk's decision, which never changes), those a review
 * rejected (canceled with failure_code review_rejected), and blocked
 * attempts, which are no payments: their payment.blocked events, on the day
 * of the event (found by the partial index events_blocked, 0025). A day with
 * only blocked attempts has a row with no payments. */
static const char *const daily_sql =
    "DECLARE fs_export NO SCROLL CURSOR FOR "
    "WITH p AS (SELECT to_char((y.created_at AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD') AS day, "
    "y.currency, count(*) AS n, sum(y.amount) AS v, "
    "count(*) FILTER (WHERE y.status = 'succeeded') AS sn, "
    "coalesce(sum(y.amount) FILTER (WHERE y.status = 'succeeded'), 0) AS sv, "
    "count(*) FILTER (WHERE y.amount_refunded > 0) AS rn, "
    "coalesce(sum(y.amount_refunded), 0) AS rv, "
    "count(*) FILTER (WHERE y.status = 'failed') AS dn, "
    "count(*) FILTER (WHERE y.risk->>'decision' = 'review') AS qn, "
    "coalesce(sum(y.amount) FILTER (WHERE y.risk->>'decision' = 'review'), 0) AS qv, "
    "count(*) FILTER (WHERE y.failure_code = 'review_rejected') AS jn, "
    "coalesce(sum(y.amount) FILTER (WHERE y.failure_code = 'review_rejected'), 0) AS jv "
    "FROM payments y WHERE y.tenant_id = $1 AND ($3::text IS NULL OR y.currency = $3) "
    "AND ($4::timestamptz IS NULL OR y.created_at >= $4::timestamptz) "
    "AND ($5::timestamptz IS NULL OR y.created_at <= $5::timestamptz) GROUP BY 1, 2), "
    "b AS (SELECT to_char((e.created_at AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD') AS day, "
    "e.data->>'currency' AS currency, count(*) AS bn, "
    "coalesce(sum((e.data->>'amount')::bigint), 0) AS bv "
    "FROM events e WHERE e.tenant_id = $1 AND e.type = 'payment.blocked' "
    "AND ($3::text IS NULL OR e.data->>'currency' = $3) "
    "AND ($4::timestamptz IS NULL OR e.created_at >= $4::timestamptz) "
    "AND ($5::timestamptz IS NULL OR e.created_at <= $5::timestamptz) GROUP BY 1, 2) "
    "SELECT coalesce(p.day, b.day), coalesce(p.currency, b.currency), coalesce(p.n, 0), "
    "coalesce(p.v, 0), coalesce(p.sn, 0), coalesce(p.sv, 0), coalesce(p.rn, 0), "
    "coalesce(p.rv, 0), coalesce(p.dn, 0), coalesce(p.qn, 0), coalesce(p.qv, 0), "
    "coalesce(b.bn, 0), coalesce(b.bv, 0), coalesce(p.jn, 0), coalesce(p.jv, 0) "
    "FROM p FULL JOIN b ON b.day = p.day AND b.currency = p.currency ORDER BY 1, 2";
static const char *const daily_head[] = {"date",
                                         "currency",
                                         "payments",
                                         "volume_minor",
                                         "volume",
                                         "succeeded",
                                         "succeeded_volume_minor",
                                         "succeeded_volume",
                                         "refunded",
                                         "refunded_volume_minor",
                                         "refunded_volume",
                                         "failed",
                                         "flagged",
                                         "flagged_volume_minor",
                                         "flagged_volume",
                                         "blocked",
                                         "blocked_volume_minor",
                                         "blocked_volume",
                                         "review_rejected",
                                         "review_rejected_volume_minor",
                                         "review_rejected_volume",
                                         NULL};

/* The account's available balance's entries (bucket A), in the order they
 * were written. */
static const char *const statement_sql =
    "DECLARE fs_export NO SCROLL CURSOR FOR "
    "SELECT j.id, fs_ts(j.created_at), j.ref_id, j.amount FROM journal_entries j "
    "WHERE j.account_id = $2 AND j.bucket = 'A' "
    "AND ($4::timestamptz IS NULL OR j.created_at >= $4::timestamptz) "
    "AND ($5::timestamptz IS NULL OR j.created_at <= $5::timestamptz) ORDER BY j.id";
static const char *const statement_head[] = {
    "kind",         "entry_id", "created_at",    "reference", "currency",
    "amount_minor", "amount",   "balance_minor", "balance",   NULL};

/* The opening balance of a statement, in the cursor's snapshot: the
 * account's available balance now minus every entry at or after the
 * period's start (with no start: minus all of them). */
static bool statement_opening(job_t *j, state_t *s)
{
    const char *params[3] = {filter(j, "account"), j->tenant, filter(j, "created_gte")};
    PGresult *res = PQexecParams(
        j->r->c,
        "SELECT a.currency, (a.available - coalesce((SELECT sum(x.amount) FROM journal_entries x "
        "WHERE x.account_id = a.id AND x.bucket = 'A' "
        "AND ($3::timestamptz IS NULL OR x.created_at >= $3)), 0))::text "
        "FROM accounts a WHERE a.id = $1 AND a.tenant_id = $2",
        3, NULL, params, NULL, NULL, 0);
    bool ok = command_ok(j->r->c, res, "opening balance", j->error, sizeof(j->error));
    if (ok && PQntuples(res) != 1) {
        snprintf(j->error, sizeof(j->error), "No such account: %s.", params[0]);
        ok = false;
    }
    if (ok) {
        s->cur = fs_money_currency(PQgetvalue(res, 0, 0));
        s->balance = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    }
    PQclear(res);
    return ok;
}

/* Makes the CSV: the cursor read in pages, each page's rows added to the
 * chunk, the chunk written out when full. */
static bool make(job_t *j)
{
    PGconn *c = j->r->c;
    bool statement = strcmp(j->type, "statement") == 0;
    bool daily = strcmp(j->type, "daily") == 0;
    const char *sql = statement ? statement_sql : daily ? daily_sql : payments_sql;
    void (*row)(job_t *, state_t *, const PGresult *, int) = statement ? statement_row
                                                             : daily   ? daily_row
                                                                       : payment_row;
    header(j, statement ? statement_head : daily ? daily_head : payments_head);
    state_t s = {0};
    if (statement && !statement_opening(j, &s)) return false;
    if (statement) balance_row(j, &s, "opening", NULL, filter(j, "created_gte"), NULL, NULL);

    const char *params[5] = {j->tenant, statement ? filter(j, "account") : filter(j, "status"),
                             filter(j, "currency"), filter(j, "created_gte"),
                             filter(j, "created_lte")};
    /* All text: a type given need not be used by the query (the daily
     * totals ignore $2, the statement $1 and $3: its account was checked to
     * be the tenant's when the export was made and again by the opening
     * balance). */
    static const Oid types[5] = {25, 25, 25, 25, 25}; /* text */
    PGresult *res = PQexecParams(c, sql, 5, types, params, NULL, NULL, 0);
    bool ok = command_ok(c, res, "DECLARE", j->error, sizeof(j->error));
    PQclear(res);
    char fetch[64];
    snprintf(fetch, sizeof(fetch), "FETCH %d FROM fs_export", FS_EXPORT_PAGE_ROWS);
    while (ok) {
        if (stopping(j->r)) {
            snprintf(j->error, sizeof(j->error), "stopping");
            return false;
        }
        res = PQexec(c, fetch);
        ok = command_ok(c, res, "FETCH", j->error, sizeof(j->error));
        int n = ok ? PQntuples(res) : 0;
        if (ok && j->rows + n > FS_EXPORT_ROWS_MAX) {
            snprintf(j->error, sizeof(j->error),
                     "More than %d rows (FS_EXPORT_ROWS_MAX): narrow the filters "
                     "(created_gte, created_lte) and make several exports.",
                     FS_EXPORT_ROWS_MAX);
            ok = false;
        }
        for (int i = 0; ok && i < n; i++) {
            row(j, &s, res, i);
            j->rows++;
            ok = flush(j, false);
        }
        PQclear(res);
        if (n == 0) break;
    }
    if (ok && statement) balance_row(j, &s, "closing", NULL, filter(j, "created_lte"), NULL, NULL);
    return ok && flush(j, true);
}

static void finish(job_t *j, bool ok, const char *key, const char *sha)
{
    char rows[32], bytes[32], attempt[16];
    snprintf(rows, sizeof(rows), "%" PRId64, j->rows);
    snprintf(bytes, sizeof(bytes), "%" PRId64, j->bytes);
    snprintf(attempt, sizeof(attempt), "%d", j->attempt);
    const char *params[8] = {j->id,
                             attempt,
                             ok ? "true" : "false",
                             ok ? rows : NULL,
                             ok ? bytes : NULL,
                             ok ? key : NULL,
                             ok ? sha : NULL,
                             ok ? NULL : j->error};
    PGresult *res = PQexecParams(j->r->c,
                                 "SELECT fs_export_finish($1, $2::int, $3::boolean, $4::bigint, "
                                 "$5::bigint, $6, $7, $8)",
                                 8, NULL, params, NULL, NULL, 0);
    char err[256];
    if (!command_ok(j->r->c, res, "finish", err, sizeof(err))) {
        fs_log(FS_LOG_ERROR, "export", "export %s: %s (it is made again after its lease)", j->id,
               err);
    } else if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
        fs_log(FS_LOG_WARN, "export", "export %s was taken over by another worker", j->id);
    } else {
        fs_log(FS_LOG_INFO, "export", "export %s %s: %" PRId64 " rows, %" PRId64 " bytes%s%s",
               j->id, ok ? "succeeded" : "failed", j->rows, j->bytes, ok ? "" : ": ",
               ok ? "" : j->error);
    }
    PQclear(res);
}

/* Back to pending, not counted as an attempt: this worker is stopping. */
static void release(job_t *j)
{
    char attempt[16];
    snprintf(attempt, sizeof(attempt), "%d", j->attempt);
    const char *params[2] = {j->id, attempt};
    PQclear(PQexecParams(j->r->c,
                         "UPDATE exports SET status = 'pending', lease_until = NULL, "
                         "attempts = attempts - 1 "
                         "WHERE id = $1 AND attempts = $2::int AND status = 'running'",
                         2, NULL, params, NULL, NULL, 0));
}

static void run(fs_export_runner_t *r, PGresult *claim)
{
    job_t j = {.r = r};
    j.id = PQgetvalue(claim, 0, 0);
    j.tenant = PQgetvalue(claim, 0, 1);
    j.type = PQgetvalue(claim, 0, 2);
    j.filters = json_loads(PQgetvalue(claim, 0, 3), 0, NULL);
    j.attempt = atoi(PQgetvalue(claim, 0, 4));
    char key[FS_OBJECT_KEY_LEN_MAX + 1];
    snprintf(key, sizeof(key), "exports/%s/%s.csv", j.tenant, j.id);
    crypto_hash_sha256_init(&j.sha);
    fs_objects_status_t st;
    j.w = fs_objects_writer_open(r->objects, key, &st);
    bool ok = j.w != NULL;
    if (!ok)
        snprintf(j.error, sizeof(j.error), "The object store refused the file (%s).",
                 fs_objects_status_name(st));
    /* One snapshot for the whole file. */
    ok = ok && exec_simple(r->c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", j.error,
                           sizeof(j.error));
    bool in_tx = ok;
    ok = ok && make(&j);
    if (in_tx) exec_simple(r->c, "ROLLBACK", NULL, 0); /* read only: nothing to keep */
    bool stop = strcmp(j.error, "stopping") == 0;
    char sha[65] = "";
    if (ok) {
        unsigned char out[crypto_hash_sha256_BYTES];
        crypto_hash_sha256_final(&j.sha, out);
        sodium_bin2hex(sha, sizeof(sha), out, sizeof(out));
        st = fs_objects_writer_commit(j.w);
        j.w = NULL;
        if (st != FS_OBJECTS_OK) {
            ok = false;
            snprintf(j.error, sizeof(j.error), "The object store refused the file (%s).",
                     fs_objects_status_name(st));
        }
    }
    fs_objects_writer_abort(j.w);
    if (stop) {
        release(&j);
    } else if (PQstatus(r->c) == CONNECTION_OK) {
        /* A lost connection is not the export's fault: the lease brings it back. */
        finish(&j, ok, key, sha);
    }
    fs_export_buf_free(&j.buf);
    json_decref(j.filters);
}

static void wait_ms(fs_export_runner_t *r, int ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&r->mu);
    while (!r->stopping && pthread_cond_timedwait(&r->cv, &r->mu, &until) != ETIMEDOUT) {
    }
    pthread_mutex_unlock(&r->mu);
}

/* The backend serving this connection does about as much of an export's
 * work as this thread (it walks the index and the table, formats the
 * timestamps, sends the rows), and at nice 0 it took its full share of the
 * cores from the payment path's backends (bench/export_cost.sh,
 * docs/architecture.md "Exports"). So it goes to FS_EXPORT_NICE too, when it
 * is a process of this machine proven to hold the other end of this very
 * connection (fs_export_peer_is: PQbackendPID is a PID in the database's
 * namespace) and this worker may renice it (as root, or as PostgreSQL's
 * user): its nice value and its autogroup's (fs_export_renice). Otherwise
 * it is said once, and exports run as before. */
static void nice_backend(fs_export_runner_t *r)
{
    pid_t pid = (pid_t)PQbackendPID(r->c);
    char why[256] = "";
    bool ok = fs_export_peer_is(PQsocket(r->c), pid, why, sizeof(why));
    ok = ok && fs_export_renice(pid, FS_EXPORT_NICE, why, sizeof(why));
    if (r->backend_said) return;
    r->backend_said = true;
    if (ok)
        fs_log(FS_LOG_INFO, "export",
               "the export's PostgreSQL backend (PID %ld) runs at nice %d (its autogroup too, "
               "where it has one of its own)",
               (long)pid, FS_EXPORT_NICE);
    else
        fs_log(FS_LOG_WARN, "export",
               "the export's PostgreSQL backend keeps its priority (%s): an export takes "
               "CPU from the payment path's backends as a query at nice 0 would",
               why);
}

static void *runner_main(void *arg)
{
    fs_export_runner_t *r = arg;
    /* Below the worker's other threads for the CPU (Linux's nice is per
     * thread): an export is not in a hurry, settlement is. */
    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), FS_EXPORT_NICE) != 0)
        fs_log(FS_LOG_WARN, "export", "cannot lower the export thread's priority");
    while (!stopping(r)) {
        if (r->c == NULL || PQstatus(r->c) != CONNECTION_OK) {
            PQfinish(r->c);
            r->c = PQconnectdb(r->conninfo);
            if (PQstatus(r->c) != CONNECTION_OK ||
                !exec_simple(r->c, "SET statement_timeout = '60s'", NULL, 0)) {
                wait_ms(r, 1000);
                continue;
            }
            PQsetNoticeProcessor(r->c, quiet, NULL);
            nice_backend(r);
        }
        char lease[16], attempts[16];
        snprintf(lease, sizeof(lease), "%d", FS_EXPORT_LEASE_S);
        snprintf(attempts, sizeof(attempts), "%d", FS_EXPORT_ATTEMPTS_MAX);
        const char *params[2] = {lease, attempts};
        PGresult *res = PQexecParams(r->c,
                                     "SELECT id, tenant_id, type, filters::text, attempts "
                                     "FROM fs_export_claim($1::int, $2::int)",
                                     2, NULL, params, NULL, NULL, 0);
        bool got = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
        if (got) run(r, res);
        PQclear(res);
        if (!got) wait_ms(r, FS_EXPORT_POLL_MS);
    }
    PQfinish(r->c);
    r->c = NULL;
    return NULL;
}

fs_export_runner_t *fs_export_runner_new(const fs_config_t *config, fs_objects_t *objects)
{
    fs_export_runner_t *r = calloc(1, sizeof(*r));
    FS_ASSERT(r != NULL);
    snprintf(r->conninfo, sizeof(r->conninfo), "%s", config->database_url);
    r->objects = objects;
    FS_ASSERT(pthread_mutex_init(&r->mu, NULL) == 0);
    FS_ASSERT(pthread_cond_init(&r->cv, NULL) == 0);
    fs_thread_start_or_exit(&r->thread, runner_main, r, "export", "the export runner's thread");
    return r;
}

void fs_export_runner_free(fs_export_runner_t *r)
{
    if (r == NULL) return;
    pthread_mutex_lock(&r->mu);
    r->stopping = true;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thread, NULL);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
}
