/*
 * core.c: logging, assertions, ids and the clock (see core.h).
 */
#define _GNU_SOURCE
#include "core.h"

#include <jansson.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static fs_log_level_t log_level = FS_LOG_INFO;
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

void fs_log_set_level(fs_log_level_t level) { log_level = level; }

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

void fs_log(fs_log_level_t level, const char *module, const char *fmt, ...)
{
    if (level < log_level) return;
    char msg[1024], stamp[40];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(stamp + n, sizeof(stamp) - n, ".%06ldZ", ts.tv_nsec / 1000);

    json_t *line = json_pack("{s:s, s:s, s:s, s:s}", "time", stamp, "level",
                             level_names[level], "module", module, "message", msg);
    if (line == NULL) return;
    char *text = json_dumps(line, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (text != NULL) {
        fprintf(stderr, "%s\n", text);
        free(text);
    }
    json_decref(line);
}

void fs_assert_fail(const char *cond, const char *file, int line)
{
    fprintf(stderr, "assertion failed: %s (%s:%d)\n", cond, file, line);
    abort();
}

void fs_random_base62(char *out, size_t len)
{
    static const char alphabet[] =
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
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
