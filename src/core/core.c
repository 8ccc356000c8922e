/*
 * core.c: logging, assertions, ids and the clock (see core.h).
 */
#define _GNU_SOURCE
#include "core.h"

#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* Changed at run time (SIGHUP) while other threads log. */
static _Atomic int log_level = FS_LOG_INFO;
/* The request the calling thread works for (fs_log_set_request_id). */
static _Thread_local char log_request_id[FS_LOG_REQUEST_ID_MAX + 1];
static const char *const level_names[] = {"debug", "info", "warn", "error"};

bool fs_fail(fs_error_t *err, fs_outcome_t outcome, const char *param, const char *fmt, ...)
{
    va_list ap;
    err->outcome = outcome;
    err->param = param;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return false;
}

void fs_log_set_level(fs_log_level_t level)
{
    atomic_store(&log_level, (int)level);
}

fs_log_level_t fs_log_get_level(void)
{
    return (fs_log_level_t)atomic_load(&log_level);
}

const char *fs_log_level_name(fs_log_level_t level)
{
    return level_names[level];
}

bool fs_log_enabled(fs_log_level_t level)
{
    return (int)level >= atomic_load(&log_level);
}

void fs_log_set_request_id(const char *request_id)
{
    snprintf(log_request_id, sizeof(log_request_id), "%s", request_id != NULL ? request_id : "");
}

/* Copies in to out (out_len bytes), with what looks like a secret replaced by
 * [REDACTED]: API keys (fsk_...), webhook signing secrets (whsec_...), a
 * URL's password (scheme://user:PASSWORD@host) and a libpq keyword
 * password=... (docs/operations.md, "Logs"). */
void fs_log_redact(const char *in, char *out, size_t out_len)
{
    static const char *const prefixes[] = {"fsk_", "whsec_", "password="};
    static const char mark[] = "[REDACTED]";
    size_t o = 0;
    FS_ASSERT(out_len > 0);
#define PUT(c)                                                                                     \
    do {                                                                                           \
        if (o + 1 < out_len) out[o++] = (c);                                                       \
    } while (0)
    for (size_t i = 0; in[i] != '\0';) {
        size_t skip = 0, keep = 0;
        for (size_t k = 0; k < sizeof(prefixes) / sizeof(prefixes[0]) && skip == 0; k++) {
            size_t pl = strlen(prefixes[k]);
            if (strncasecmp(in + i, prefixes[k], pl) != 0) continue;
            size_t j = i + pl;
            if (k < 2) {
                while (isalnum((unsigned char)in[j])) j++;
            } else {
                while (in[j] != '\0' && in[j] != ' ' && in[j] != '"' && in[j] != '\'') j++;
            }
            if (j > i + pl) {
                keep = pl;
                skip = j - i;
            }
        }
        if (skip == 0 && strncmp(in + i, "://", 3) == 0) {
            /* scheme://user:password@host: the password up to the last '@'
             * before the authority ends. */
            size_t j = i + 3, colon = 0, at = 0;
            for (; in[j] != '\0' && in[j] != '/' && in[j] != ' ' && in[j] != '"'; j++) {
                if (in[j] == ':' && colon == 0) colon = j;
                if (in[j] == '@') at = j;
            }
            if (colon != 0 && at > colon) {
                keep = colon + 1 - i;
                skip = at - i;
            }
        }
        if (skip == 0) {
            PUT(in[i]);
            i++;
            continue;
        }
        for (size_t k = 0; k < keep; k++) PUT(in[i + k]);
        for (size_t k = 0; k < sizeof(mark) - 1; k++) PUT(mark[k]);
        i += skip;
    }
#undef PUT
    out[o] = '\0';
}

bool fs_log_level_parse(const char *name, fs_log_level_t *out)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (fs_log_level_t)i;
            return true;
        }
    }
    return false;
}

static void log_line(fs_log_level_t level, const char *module, json_t *fields, const char *fmt,
                     va_list ap)
{
    char raw[1024], msg[1024], stamp[40];
    vsnprintf(raw, sizeof(raw), fmt, ap);
    fs_log_redact(raw, msg, sizeof(msg));

    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(stamp + n, sizeof(stamp) - n, ".%06ldZ", ts.tv_nsec / 1000);

    json_t *line = json_pack("{s:s, s:s, s:s, s:s}", "time", stamp, "level", level_names[level],
                             "module", module, "message", msg);
    if (line == NULL) {
        json_decref(fields);
        return;
    }
    if (log_request_id[0] != '\0')
        json_object_set_new(line, "request_id", json_string(log_request_id));
    if (fields != NULL) json_object_update(line, fields);
    json_decref(fields);
    char *text = json_dumps(line, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (text != NULL) {
        fprintf(stderr, "%s\n", text);
        free(text);
    }
    json_decref(line);
}

void fs_log(fs_log_level_t level, const char *module, const char *fmt, ...)
{
    if (!fs_log_enabled(level)) return;
    va_list ap;
    va_start(ap, fmt);
    log_line(level, module, NULL, fmt, ap);
    va_end(ap);
}

void fs_log_fields(fs_log_level_t level, const char *module, json_t *fields, const char *fmt, ...)
{
    if (!fs_log_enabled(level)) {
        json_decref(fields);
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    log_line(level, module, fields, fmt, ap);
    va_end(ap);
}

void fs_log_reload(const char *file)
{
    char word[32] = "";
    if (file == NULL || *file == '\0') {
        const char *env = getenv("FINSYS_LOG_LEVEL");
        snprintf(word, sizeof(word), "%s", env != NULL && *env != '\0' ? env : "info");
    } else {
        FILE *f = fopen(file, "r");
        if (f == NULL || fscanf(f, "%31s", word) != 1) {
            if (f != NULL) fclose(f);
            fs_log(FS_LOG_WARN, "log", "SIGHUP: cannot read a level from %s; still %s", file,
                   fs_log_level_name(fs_log_get_level()));
            return;
        }
        fclose(f);
    }
    fs_log_level_t level;
    if (!fs_log_level_parse(word, &level)) {
        fs_log(FS_LOG_WARN, "log", "SIGHUP: '%.31s' is not debug, info, warn or error; still %s",
               word, fs_log_level_name(fs_log_get_level()));
        return;
    }
    fs_log_set_level(level);
    /* Said at the level that is always shown, so the change can be seen. */
    fs_log(level > FS_LOG_WARN ? level : FS_LOG_WARN, "log", "SIGHUP: log level now %s",
           fs_log_level_name(level));
}

void fs_assert_fail(const char *cond, const char *file, int line)
{
    fprintf(stderr, "assertion failed: %s (%s:%d)\n", cond, file, line);
    abort();
}

bool fs_thread_start(pthread_t *thread, void *(*fn)(void *), void *arg, const char *module,
                     const char *what)
{
    int rc = pthread_create(thread, NULL, fn, arg);
    if (rc == 0) return true;
    fs_log(FS_LOG_ERROR, module, "cannot start %s: %s", what, strerror(rc));
    return false;
}

void fs_thread_start_or_exit(pthread_t *thread, void *(*fn)(void *), void *arg, const char *module,
                             const char *what)
{
    if (!fs_thread_start(thread, fn, arg, module, what)) {
        fs_log(FS_LOG_ERROR, module, "exiting: it cannot run without %s", what);
        exit(EXIT_FAILURE);
    }
}

struct fs_periodic {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stopping;    /* under mu: the thread's wait ends */
    atomic_bool stop; /* the same, read by fn without the mutex */
    long interval_s;
    fs_periodic_fn fn;
    void *arg;
};

static void *periodic_main(void *arg)
{
    fs_periodic_t *p = arg;
    char holder[64];
    snprintf(holder, sizeof(holder), "finsys worker pid %d", (int)getpid());
    pthread_mutex_lock(&p->mu);
    for (;;) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += p->interval_s;
        while (!p->stopping && pthread_cond_timedwait(&p->cv, &p->mu, &until) != ETIMEDOUT) {
        }
        if (p->stopping) break;
        pthread_mutex_unlock(&p->mu);
        p->fn(p->arg, holder, &p->stop);
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

fs_periodic_t *fs_periodic_start(long interval_s, fs_periodic_fn fn, void *arg, const char *module,
                                 const char *what)
{
    fs_periodic_t *p = calloc(1, sizeof(*p));
    FS_ASSERT(p != NULL);
    p->interval_s = interval_s;
    p->fn = fn;
    p->arg = arg;
    atomic_init(&p->stop, false);
    FS_ASSERT(pthread_mutex_init(&p->mu, NULL) == 0);
    FS_ASSERT(pthread_cond_init(&p->cv, NULL) == 0);
    fs_thread_start_or_exit(&p->thread, periodic_main, p, module, what);
    return p;
}

void fs_periodic_stop(fs_periodic_t *p)
{
    if (p == NULL) return;
    atomic_store(&p->stop, true);
    pthread_mutex_lock(&p->mu);
    p->stopping = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}

void fs_random_base62(char *out, size_t len)
{
    static const char alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    /* One getrandom() per 64 bytes (randombytes_uniform makes one per
     * character: 48 system calls a request under perf). Bytes of 248 and
     * above are dropped, so that byte % 62 has no modulo bias (248 = 4 * 62). */
    unsigned char bytes[64];
    size_t used = sizeof(bytes);
    for (size_t i = 0; i < len; i++) {
        unsigned char b;
        do {
            if (used == sizeof(bytes)) {
                randombytes_buf(bytes, sizeof(bytes));
                used = 0;
            }
            b = bytes[used++];
        } while (b >= 248);
        out[i] = alphabet[b % (sizeof(alphabet) - 1)];
    }
}

void fs_id_new(const char *prefix, char *out, size_t out_len)
{
    size_t prefix_len = strlen(prefix);
    FS_ASSERT(prefix_len + 1 + FS_ID_RANDOM_LEN + 1 <= out_len);
    memcpy(out, prefix, prefix_len);
    out[prefix_len] = '_';
    fs_random_base62(out + prefix_len + 1, FS_ID_RANDOM_LEN);
    out[prefix_len + 1 + FS_ID_RANDOM_LEN] = '\0';
}

uint64_t fs_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void fs_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Days since 1970-01-01 of a civil date (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

bool fs_date_parse(const char *s, int64_t *day_start)
{
    if (s == NULL || strlen(s) != 10 || s[4] != '-' || s[7] != '-') return false;
    for (int i = 0; i < 10; i++) {
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9')) return false;
    }
    int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    int m = (s[5] - '0') * 10 + (s[6] - '0'), d = (s[8] - '0') * 10 + (s[9] - '0');
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1970 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1]) return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (m == 2 && d == 29 && !leap) return false;
    *day_start = days_from_civil(y, m, d) * 86400;
    return true;
}

void fs_date_format(int64_t t, char *out, size_t out_len)
{
    int64_t z = (t >= 0 ? t : t - 86399) / 86400 + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp + (mp < 10 ? 3 : -9);
    y += m <= 2;
    snprintf(out, out_len, "%04lld-%02lld-%02lld", (long long)y, (long long)m, (long long)d);
}
