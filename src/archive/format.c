/*
 * format.c: the archive's format (see archive.h): keys, the manifest, and
 * gzip'd JSON lines written and read in pieces. Pure: no I/O but through
 * the caller's sink and pieces.
 *
 * The gzip stream is zlib's deflate with windowBits 15 + 16: a gzip header
 * with no name and a zero time, and the OS byte of the build (3, Unix, on
 * Debian), so the same lines always give the same bytes with one zlib.
 */
#include "archive.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/core.h"

#define CHUNK (64 * 1024)

static bool date_ok(const char *date)
{
    int64_t day;
    return date != NULL && fs_date_parse(date, &day);
}

static bool make_key(const char *tenant, const char *date, const char *suffix, char *key,
                     size_t key_len)
{
    if (!date_ok(date) || tenant == NULL || *tenant == '\0') return false;
    int n = snprintf(key, key_len, "archive/events/%s/%.4s/%.2s/%.2s%s", tenant, date, date + 5,
                     date + 8, suffix);
    return n > 0 && (size_t)n < key_len && (size_t)n <= FS_ARCHIVE_KEY_LEN_MAX &&
           fs_objects_key_is_valid(key);
}

bool fs_archive_key(const char *tenant, const char *date, char *key, size_t key_len)
{
    return make_key(tenant, date, ".jsonl.gz", key, key_len);
}

bool fs_archive_manifest_key(const char *tenant, const char *date, char *key, size_t key_len)
{
    return make_key(tenant, date, ".manifest.json", key, key_len);
}

json_t *fs_archive_manifest(const fs_archive_info_t *info)
{
    return json_pack("{s:s, s:i, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:s, s:s, s:s}", "object",
                     "event_archive_manifest", "format", info->format, "tenant", info->tenant,
                     "date", info->date, "key", info->key, "compression", "gzip", "count",
                     (json_int_t)info->count, "first_seq", (json_int_t)info->first_seq, "last_seq",
                     (json_int_t)info->last_seq, "bytes", (json_int_t)info->bytes, "sha256",
                     info->sha256, "content_sha256", info->content_sha256, "lines",
                     "one event a line, as GET /v1/events shows it, in seq order");
}

static bool str_field(json_t *o, const char *name, char *out, size_t out_len, char *err,
                      size_t err_len)
{
    const char *v = json_string_value(json_object_get(o, name));
    if (v == NULL || strlen(v) >= out_len) {
        snprintf(err, err_len, "the manifest's %s is missing or not a string", name);
        return false;
    }
    snprintf(out, out_len, "%s", v);
    return true;
}

static bool int_field(json_t *o, const char *name, int64_t *out, char *err, size_t err_len)
{
    json_t *v = json_object_get(o, name);
    if (!json_is_integer(v)) {
        snprintf(err, err_len, "the manifest's %s is missing or not an integer", name);
        return false;
    }
    *out = json_integer_value(v);
    return true;
}

bool fs_archive_manifest_parse(const char *text, size_t len, fs_archive_info_t *out, char *err,
                               size_t err_len)
{
    memset(out, 0, sizeof(*out));
    json_t *o = json_loadb(text, len, 0, NULL);
    if (!json_is_object(o)) {
        snprintf(err, err_len, "the manifest is not a JSON object");
        json_decref(o);
        return false;
    }
    int64_t format = 0;
    bool ok = int_field(o, "format", &format, err, err_len) &&
              str_field(o, "tenant", out->tenant, sizeof(out->tenant), err, err_len) &&
              str_field(o, "date", out->date, sizeof(out->date), err, err_len) &&
              str_field(o, "key", out->key, sizeof(out->key), err, err_len) &&
              int_field(o, "count", &out->count, err, err_len) &&
              int_field(o, "first_seq", &out->first_seq, err, err_len) &&
              int_field(o, "last_seq", &out->last_seq, err, err_len) &&
              int_field(o, "bytes", &out->bytes, err, err_len) &&
              str_field(o, "sha256", out->sha256, sizeof(out->sha256), err, err_len) &&
              str_field(o, "content_sha256", out->content_sha256, sizeof(out->content_sha256), err,
                        err_len);
    if (ok && format != FS_ARCHIVE_FORMAT_VERSION) {
        snprintf(err, err_len, "the manifest's format is %lld; this finsys reads %d",
                 (long long)format, FS_ARCHIVE_FORMAT_VERSION);
        ok = false;
    }
    out->format = (int)format;
    json_decref(o);
    return ok;
}

int64_t fs_archive_line_seq(const char *line, size_t len)
{
    json_t *o = json_loadb(line, len, 0, NULL);
    const char *id = json_string_value(json_object_get(o, "id"));
    int64_t seq = -1;
    if (id != NULL && strncmp(id, "evt_", 4) == 0 && id[4] != '\0' && strlen(id) <= 4 + 18) {
        char *end;
        long long v = strtoll(id + 4, &end, 10);
        if (*end == '\0' && v > 0) seq = v;
    }
    json_decref(o);
    return seq;
}

/* --- writing -------------------------------------------------------------- */

void fs_archive_gz_init(fs_archive_gz_t *w, fs_archive_sink_fn sink, void *arg)
{
    memset(w, 0, sizeof(*w));
    FS_ASSERT(deflateInit2(&w->z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    crypto_hash_sha256_init(&w->content);
    crypto_hash_sha256_init(&w->object);
    w->sink = sink;
    w->arg = arg;
}

/* Deflates in (flush: Z_NO_FLUSH or Z_FINISH) and hands every full or final
 * output buffer to the sink. */
static bool deflate_some(fs_archive_gz_t *w, const void *in, size_t len, int flush)
{
    unsigned char out[CHUNK];
    w->z.next_in = (Bytef *)(uintptr_t)in;
    w->z.avail_in = (uInt)len;
    for (;;) {
        w->z.next_out = out;
        w->z.avail_out = sizeof(out);
        int rc = deflate(&w->z, flush);
        FS_ASSERT(rc != Z_STREAM_ERROR);
        size_t n = sizeof(out) - w->z.avail_out;
        if (n > 0) {
            crypto_hash_sha256_update(&w->object, out, n);
            w->bytes += (int64_t)n;
            if (!w->sink(w->arg, out, n)) return false;
        }
        if (flush == Z_FINISH ? rc == Z_STREAM_END : w->z.avail_out != 0) return true;
    }
}

bool fs_archive_gz_line(fs_archive_gz_t *w, const char *line, size_t len)
{
    if (w->failed) return false;
    FS_ASSERT(len < UINT32_MAX);
    crypto_hash_sha256_update(&w->content, (const unsigned char *)line, len);
    crypto_hash_sha256_update(&w->content, (const unsigned char *)"\n", 1);
    if (!deflate_some(w, line, len, Z_NO_FLUSH) || !deflate_some(w, "\n", 1, Z_NO_FLUSH))
        w->failed = true;
    return !w->failed;
}

static void hex(crypto_hash_sha256_state *h, char *out)
{
    unsigned char d[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(h, d);
    sodium_bin2hex(out, FS_ARCHIVE_SHA_HEX_LEN + 1, d, sizeof(d));
}

bool fs_archive_gz_finish(fs_archive_gz_t *w, char *content_hex, char *object_hex)
{
    if (w->failed || !deflate_some(w, NULL, 0, Z_FINISH)) {
        w->failed = true;
        return false;
    }
    hex(&w->content, content_hex);
    hex(&w->object, object_hex);
    return true;
}

void fs_archive_gz_free(fs_archive_gz_t *w)
{
    deflateEnd(&w->z);
}

/* --- reading -------------------------------------------------------------- */

void fs_archive_gunzip_init(fs_archive_gunzip_t *r)
{
    memset(r, 0, sizeof(*r));
    FS_ASSERT(inflateInit2(&r->z, 15 + 16) == Z_OK);
    crypto_hash_sha256_init(&r->content);
    crypto_hash_sha256_init(&r->object);
    r->line = malloc(FS_ARCHIVE_LINE_BYTES_MAX);
    FS_ASSERT(r->line != NULL);
}

/* Splits out (n bytes of inflated text) into lines. */
static bool take_lines(fs_archive_gunzip_t *r, const unsigned char *out, size_t n,
                       fs_archive_line_fn on_line, void *arg)
{
    crypto_hash_sha256_update(&r->content, out, n);
    for (size_t i = 0; i < n; i++) {
        if (out[i] != '\n') {
            if (r->line_len == FS_ARCHIVE_LINE_BYTES_MAX) {
                snprintf(r->error, sizeof(r->error), "a line longer than %d bytes",
                         FS_ARCHIVE_LINE_BYTES_MAX);
                return false;
            }
            r->line[r->line_len++] = (char)out[i];
            continue;
        }
        size_t len = r->line_len;
        r->line_len = 0;
        if (!on_line(arg, r->line, len)) {
            r->stopped = true;
            return false;
        }
    }
    return true;
}

bool fs_archive_gunzip_feed(fs_archive_gunzip_t *r, const void *data, size_t len,
                            fs_archive_line_fn on_line, void *arg)
{
    FS_ASSERT(len < UINT32_MAX);
    crypto_hash_sha256_update(&r->object, data, len);
    if (r->ended) {
        if (len > 0) snprintf(r->error, sizeof(r->error), "bytes after the gzip stream's end");
        return len == 0;
    }
    unsigned char out[CHUNK];
    r->z.next_in = (Bytef *)(uintptr_t)data;
    r->z.avail_in = (uInt)len;
    while (r->z.avail_in > 0 && !r->ended) {
        r->z.next_out = out;
        r->z.avail_out = sizeof(out);
        int rc = inflate(&r->z, Z_NO_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END) {
            snprintf(r->error, sizeof(r->error), "not a whole gzip stream (zlib: %s)",
                     r->z.msg != NULL ? r->z.msg : "corrupt");
            return false;
        }
        if (!take_lines(r, out, sizeof(out) - r->z.avail_out, on_line, arg)) return false;
        if (rc == Z_STREAM_END) r->ended = true;
    }
    /* What inflate may still hold back once the input is all in. */
    while (!r->ended) {
        r->z.next_out = out;
        r->z.avail_out = sizeof(out);
        int rc = inflate(&r->z, Z_NO_FLUSH);
        if (rc == Z_BUF_ERROR) break; /* needs more input */
        if (rc != Z_OK && rc != Z_STREAM_END) {
            snprintf(r->error, sizeof(r->error), "not a whole gzip stream (zlib: %s)",
                     r->z.msg != NULL ? r->z.msg : "corrupt");
            return false;
        }
        size_t n = sizeof(out) - r->z.avail_out;
        if (!take_lines(r, out, n, on_line, arg)) return false;
        if (rc == Z_STREAM_END) r->ended = true;
        if (n == 0) break;
    }
    if (r->ended && r->z.avail_in > 0) {
        snprintf(r->error, sizeof(r->error), "bytes after the gzip stream's end");
        return false;
    }
    return true;
}

bool fs_archive_gunzip_finish(fs_archive_gunzip_t *r, char *content_hex, char *object_hex)
{
    hex(&r->content, content_hex);
    hex(&r->object, object_hex);
    if (!r->ended) {
        snprintf(r->error, sizeof(r->error), "the gzip stream is cut short");
        return false;
    }
    if (r->line_len > 0) {
        snprintf(r->error, sizeof(r->error), "the last line has no newline");
        return false;
    }
    return true;
}

void fs_archive_gunzip_free(fs_archive_gunzip_t *r)
{
    inflateEnd(&r->z);
    free(r->line);
    r->line = NULL;
}
