/*
 * fuzz_redis_reply.c: libFuzzer target for the Redis reply handling
 * (src/redis): what a hostile or broken byte stream from Redis becomes. The
 * bytes go through a hiredis reader (the parser FinSys's connections use),
 * fed in the pieces the first input byte chooses, as a network delivers them;
 * every reply it makes goes to fs_redis_reply_status (each command's answer:
 * OK, error, or a forgotten script to send again) and fs_redis_reply_sha
 * (SCRIPT LOAD's answer), and is walked whole. Besides crashes and sanitizer
 * reports, it aborts when
 *   - a reply is not an error and is not OK, or NOSCRIPT is claimed of a
 *     reply that does not start with it;
 *   - a SHA is taken from anything but a string of 40 hex digits, or is not
 *     that string;
 *   - a string reply's len and its bytes disagree (no NUL at str[len]).
 * Run by make fuzz (scripts/fuzz.sh), seeds in fuzz/corpus/redis_reply.
 */
#include <ctype.h>
#include <hiredis/hiredis.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/core/limits.h"
#include "../src/redis/redis.h"

/* Walks a reply as a caller would: every string's bytes, every element. */
static void walk(const redisReply *r, int depth)
{
    if (r == NULL || depth > 64) abort();
    switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
        if (r->str == NULL || r->str[r->len] != '\0') abort();
        break;
    case REDIS_REPLY_ARRAY:
        for (size_t i = 0; i < r->elements; i++) walk(r->element[i], depth + 1);
        break;
    case REDIS_REPLY_INTEGER:
    case REDIS_REPLY_NIL:
        break;
    default:
        abort();
    }
}

static void handle(const redisReply *r)
{
    walk(r, 0);
    bool noscript = true;
    fs_redis_status_t st = fs_redis_reply_status(r, &noscript);
    if (st != (r->type == REDIS_REPLY_ERROR ? FS_REDIS_ERROR : FS_REDIS_OK)) abort();
    if (noscript && (r->type != REDIS_REPLY_ERROR || r->len < 8 || memcmp(r->str, "NOSCRIPT", 8)))
        abort();
    char sha[FS_REDIS_SHA_HEX_LEN + 2];
    memset(sha, 'x', sizeof(sha));
    if (fs_redis_reply_sha(r, sha)) {
        if (r->type != REDIS_REPLY_STRING || r->len != FS_REDIS_SHA_HEX_LEN) abort();
        for (size_t i = 0; i < FS_REDIS_SHA_HEX_LEN; i++)
            if (!isxdigit((unsigned char)sha[i])) abort();
        if (memcmp(sha, r->str, FS_REDIS_SHA_HEX_LEN) != 0 || sha[FS_REDIS_SHA_HEX_LEN] != '\0' ||
            sha[FS_REDIS_SHA_HEX_LEN + 1] != 'x')
            abort();
    } else if (sha[0] != 'x') {
        abort(); /* written, yet refused */
    }
}

/* True when the input announces an array of more than
 * FS_FUZZ_REDIS_ELEMENTS_MAX elements (see limits.h). */
static bool too_many(const uint8_t *d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (d[i] != '*') continue;
        unsigned long long v = 0;
        size_t k = i + 1;
        while (k < n && d[k] >= '0' && d[k] <= '9' && v <= FS_FUZZ_REDIS_ELEMENTS_MAX)
            v = v * 10 + (unsigned long long)(d[k++] - '0');
        if (v > FS_FUZZ_REDIS_ELEMENTS_MAX) return true;
    }
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || too_many(data, size)) return 0;
    /* The first byte: the size of the pieces the stream arrives in. */
    size_t piece = (size_t)data[0] % 16 + 1;
    data++;
    size--;
    redisReader *rd = redisReaderCreate();
    if (rd == NULL) abort();
    for (size_t off = 0; off < size;) {
        size_t n = size - off < piece ? size - off : piece;
        /* A private copy, so reading past it is caught. */
        char *chunk = malloc(n);
        memcpy(chunk, data + off, n);
        int fed = redisReaderFeed(rd, chunk, n);
        free(chunk);
        if (fed != REDIS_OK) break;
        off += n;
        void *reply = NULL;
        int rc;
        while ((rc = redisReaderGetReply(rd, &reply)) == REDIS_OK && reply != NULL) {
            handle(reply);
            freeReplyObject(reply);
            reply = NULL;
        }
        if (rc != REDIS_OK) break; /* a protocol error: the connection is dropped */
    }
    /* The connection went: what every waiting command is told. */
    bool noscript = true;
    if (fs_redis_reply_status(NULL, &noscript) != FS_REDIS_UNAVAILABLE || noscript) abort();
    redisReaderFree(rd);
    return 0;
}
