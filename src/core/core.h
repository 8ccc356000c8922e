/*
 * core.h: what every module shares: outcomes, logging, ids and assertions.
 *
 * Outcomes are values: every operation that can fail for a business reason
 * yields one fs_outcome_t, and src/http/outcome.c maps each to its HTTP status
 * and error type in exactly one table. Programmer errors are asserted with
 * FS_ASSERT, which stays on in release builds.
 */
#ifndef FS_CORE_H
#define FS_CORE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "limits.h"

typedef enum {
    FS_OK = 0,
    FS_CREATED,
    FS_INVALID_REQUEST,
    FS_UNAUTHORIZED,
    FS_FORBIDDEN,
    FS_NOT_FOUND,
    FS_METHOD_NOT_ALLOWED,
    FS_REQUEST_TOO_LARGE,
    FS_INSUFFICIENT_FUNDS,
    FS_CURRENCY_MISMATCH,
    FS_ACCOUNT_INACTIVE,
    FS_AMOUNT_TOO_LARGE,
    FS_PAYMENT_NOT_CANCELABLE,
    FS_PAYMENT_NOT_REFUNDABLE,
    FS_REFUND_EXCEEDS_AMOUNT,
    FS_IDEMPOTENCY_KEY_MISSING,
    FS_IDEMPOTENCY_KEY_REUSE,
    FS_IDEMPOTENCY_KEY_IN_USE,
    FS_OVERLOADED,
    FS_RATE_LIMITED,
    FS_UNAVAILABLE,
    FS_INTERNAL,
    /* Distributed locks (src/lock). */
    FS_LOCK_LOST,
    FS_LOCK_BUSY,
    FS_ACCOUNT_NOT_EMPTY,
    FS_CSRF_FAILED,
    FS_LOGIN_LOCKED,
    FS_INVALID_CREDENTIALS,
    FS_ADMIN_KEY_SCOPE,
    FS_STAFF_SELF_DISABLE,
    /* Taken, done in the background (an export: 202). */
    FS_ACCEPTED,
    /* Risk rules (docs/risk.md): blocked (402), and a review of a payment
     * not in review (409). */
    FS_PAYMENT_BLOCKED,
    FS_PAYMENT_NOT_REVIEWABLE,
    /* --- risk rules (issue 12) --- */
    /* POST /v1/risk_lists of a value already on that list: 409. */
    FS_RISK_LIST_ENTRY_EXISTS,
    /* --- API keys (issue 13) --- */
    /* Rotating a key that is revoked, expired or rotated already: 409. */
    FS_API_KEY_INACTIVE,
    /* --- operator authority (issue 13) --- */
    /* A deposit by a tenant's key while its deposits_enabled is off: 403. */
    FS_DEPOSITS_DISABLED,
    /* --- reads (issue 13) --- */
    /* A list or search cancelled by the read store's statement timeout: 503. */
    FS_READ_TIMEOUT,
    /* A tenant's lists at once past FS_READ_CONCURRENT_PER_TENANT_MAX: 429. */
    FS_TOO_MANY_CONCURRENT_READS,
    /* The read store's queue (or the table of reading tenants) is full: 503. */
    FS_READS_OVERLOADED,
    FS_OUTCOME_COUNT
} fs_outcome_t;

/* An error for the client: its outcome, the parameter at fault (or NULL) and
 * a sentence saying what is wrong and how to fix it. */
typedef struct {
    fs_outcome_t outcome;
    const char *param;
    char message[256];
} fs_error_t;

/* Fills err and returns false, so validators can `return fs_fail(...)`. */
bool fs_fail(fs_error_t *err, fs_outcome_t outcome, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

typedef enum { FS_LOG_DEBUG, FS_LOG_INFO, FS_LOG_WARN, FS_LOG_ERROR } fs_log_level_t;

/* One JSON object per line on stderr: time, level, module, message, and
 * request_id when the thread has one set (fs_log_set_request_id). What looks
 * like a secret in the message (API key, webhook secret, password) is
 * redacted (fs_log_redact). The level may change at any time from any thread
 * (SIGHUP, docs/operations.md). */
void fs_log(fs_log_level_t level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* As fs_log, with the members of fields (a JSON object; the reference is
 * taken, may be NULL) added to the line: the access log's route, status... */
typedef struct json_t json_t;
void fs_log_fields(fs_log_level_t level, const char *module, json_t *fields, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void fs_log_set_level(fs_log_level_t level);
fs_log_level_t fs_log_get_level(void);
const char *fs_log_level_name(fs_log_level_t level);
bool fs_log_enabled(fs_log_level_t level);
bool fs_log_level_parse(const char *name, fs_log_level_t *out);
/* The request the calling thread's next log lines are for ("" or NULL: none);
 * at most FS_LOG_REQUEST_ID_MAX characters are kept. */
#define FS_LOG_REQUEST_ID_MAX 128
void fs_log_set_request_id(const char *request_id);
void fs_log_redact(const char *in, char *out, size_t out_len);
/* SIGHUP: the level from file's first word (FINSYS_LOG_LEVEL_FILE), or from
 * FINSYS_LOG_LEVEL when file is "". Reads a file: not on an event loop. */
void fs_log_reload(const char *file);

/* A macro's value as a string literal: FS_STR(FS_X) gives "123". */
#define FS_STR_(x) #x
#define FS_STR(x) FS_STR_(x)

#define FS_ASSERT(cond)                                                                            \
    do {                                                                                           \
        if (!(cond)) fs_assert_fail(#cond, __FILE__, __LINE__);                                    \
    } while (0)
_Noreturn void fs_assert_fail(const char *cond, const char *file, int line);

/* Threads (issue 13: no pthread_create result goes unchecked). fs_thread_start
 * starts fn(arg) on *thread; when it cannot (EAGAIN: out of threads or
 * memory), it logs "cannot start <what>: <reason>" at error under module and
 * returns false, for a caller that can give up cleanly. fs_thread_start_or_exit
 * is for the threads a process cannot run without, started at start-up:
 * after that line the process exits with status 1 rather than run without
 * them. */
bool fs_thread_start(pthread_t *thread, void *(*fn)(void *), void *arg, const char *module,
                     const char *what);
void fs_thread_start_or_exit(pthread_t *thread, void *(*fn)(void *), void *arg, const char *module,
                             const char *what);

/* A thread of its own that calls fn every interval_s seconds (the first call
 * one interval after the start) until fs_periodic_stop: the worker's daily
 * reconciliation and its event archive, jobs that block (libpq, hiredis) and
 * run under a Redis lock. fn gets holder, this process's name for the lock
 * ("finsys worker pid N"), and stop, true once fs_periodic_stop has begun:
 * a long run checks it to end early. fs_periodic_stop wakes the thread,
 * waits for the call it is making, joins and frees. Started at start-up:
 * a process that cannot start it exits (fs_thread_start_or_exit). */
typedef struct fs_periodic fs_periodic_t;
typedef void (*fs_periodic_fn)(void *arg, const char *holder, const atomic_bool *stop);
fs_periodic_t *fs_periodic_start(long interval_s, fs_periodic_fn fn, void *arg, const char *module,
                                 const char *what);
void fs_periodic_stop(fs_periodic_t *p);

/* Object ids: a prefix ("acct", "pay", "dep", "ten") and 24 random base62
 * characters (about 143 bits), e.g. "pay_3xY...". out must hold
 * FS_ID_BUF_LEN bytes. */
#define FS_ID_RANDOM_LEN 24
#define FS_ID_BUF_LEN 48
void fs_id_new(const char *prefix, char *out, size_t out_len);

/* Writes len uniformly random base62 characters (no terminator). */
void fs_random_base62(char *out, size_t len);

/* Monotonic clock in microseconds. */
uint64_t fs_now_us(void);

/* Sleeps ms milliseconds, through signals (the CLI's blocking jobs). */
void fs_sleep_ms(long ms);

/* A calendar date "YYYY-MM-DD" (UTC, proleptic Gregorian, years 1970..9999):
 * true with *day_start its first second in Unix time; false when s is not
 * exactly such a date (issue 12's reconciliation dates). */
bool fs_date_parse(const char *s, int64_t *day_start);

/* The UTC date of Unix time t as "YYYY-MM-DD" in out (at least 11 bytes). */
void fs_date_format(int64_t t, char *out, size_t out_len);

#endif
