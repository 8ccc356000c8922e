/* Unit tests of src/archive's format (format.c): the keys, the manifest,
 * and the gzip'd JSON lines written and read back in pieces: the same lines
 * give the same bytes, and a flipped byte or a cut is caught. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../src/archive/archive.h"
#include "../../src/core/core.h"

typedef struct {
    char *data;
    size_t len, cap;
    size_t fail_after; /* refuse once this many bytes were taken (0: never) */
} buf_t;

static bool to_buf(void *arg, const void *data, size_t len)
{
    buf_t *b = arg;
    if (b->fail_after > 0 && b->len + len > b->fail_after) return false;
    if (b->len + len > b->cap) {
        b->cap = (b->len + len) * 2;
        b->data = realloc(b->data, b->cap);
        assert_non_null(b->data);
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return true;
}

static const char *const lines[] = {
    "{\"id\" : \"evt_7\", \"object\" : \"event\", \"type\" : \"payment.created\"}",
    "{\"id\" : \"evt_9\", \"object\" : \"event\", \"type\" : \"payment.succeeded\"}",
    "{\"id\" : \"evt_12\", \"object\" : \"event\", \"type\" : \"refund.created\"}",
};

/* The three lines, gzip'd; the hashes in content and object. */
static buf_t write_all(char *content, char *object, size_t repeat)
{
    buf_t b = {0};
    fs_archive_gz_t gz;
    fs_archive_gz_init(&gz, to_buf, &b);
    for (size_t r = 0; r < repeat; r++)
        for (size_t i = 0; i < 3; i++)
            assert_true(fs_archive_gz_line(&gz, lines[i], strlen(lines[i])));
    assert_true(fs_archive_gz_finish(&gz, content, object));
    assert_int_equal(gz.bytes, (int64_t)b.len);
    fs_archive_gz_free(&gz);
    return b;
}

typedef struct {
    size_t n;
    char last[256];
} seen_t;

static bool count_line(void *arg, const char *line, size_t len)
{
    seen_t *s = arg;
    s->n++;
    snprintf(s->last, sizeof(s->last), "%.*s", (int)len, line);
    return true;
}

/* Reads b back in pieces of step bytes; true when whole. */
static bool read_all(const buf_t *b, size_t step, seen_t *seen, char *content, char *object,
                     char *error, size_t error_len)
{
    fs_archive_gunzip_t r;
    fs_archive_gunzip_init(&r);
    bool ok = true;
    for (size_t off = 0; off < b->len && ok; off += step) {
        size_t n = b->len - off < step ? b->len - off : step;
        ok = fs_archive_gunzip_feed(&r, b->data + off, n, count_line, seen);
    }
    if (ok) ok = fs_archive_gunzip_finish(&r, content, object);
    snprintf(error, error_len, "%s", r.error);
    fs_archive_gunzip_free(&r);
    return ok;
}

static void keys_follow_the_layout(void **state)
{
    (void)state;
    char key[FS_ARCHIVE_KEY_LEN_MAX + 1];
    assert_true(fs_archive_key("ten_abc", "2026-11-05", key, sizeof(key)));
    assert_string_equal(key, "archive/events/ten_abc/2026/11/05.jsonl.gz");
    assert_true(fs_archive_manifest_key("ten_abc", "2026-11-05", key, sizeof(key)));
    assert_string_equal(key, "archive/events/ten_abc/2026/11/05.manifest.json");
    assert_false(fs_archive_key("ten_abc", "2026-13-05", key, sizeof(key)));
    assert_false(fs_archive_key("../x", "2026-11-05", key, sizeof(key)));
    assert_false(fs_archive_key("", "2026-11-05", key, sizeof(key)));
    char small[20];
    assert_false(fs_archive_key("ten_abc", "2026-11-05", small, sizeof(small)));
}

static void the_same_lines_give_the_same_bytes_and_read_back(void **state)
{
    (void)state;
    char c1[65], o1[65], c2[65], o2[65], c3[65], o3[65], err[128];
    buf_t a = write_all(c1, o1, 1), b = write_all(c2, o2, 1);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len);
    assert_string_equal(c1, c2);
    assert_string_equal(o1, o2);
    /* gzip: magic, deflate, no flags, a zero time */
    assert_int_equal((unsigned char)a.data[0], 0x1f);
    assert_int_equal((unsigned char)a.data[1], 0x8b);
    assert_int_equal(a.data[3], 0);
    assert_memory_equal(a.data + 4, "\0\0\0\0", 4);

    for (size_t step = 1; step <= a.len; step = step * 3 + 1) {
        seen_t seen = {0};
        assert_true(read_all(&a, step, &seen, c3, o3, err, sizeof(err)));
        assert_int_equal(seen.n, 3);
        assert_string_equal(seen.last, lines[2]);
        assert_string_equal(c3, c1);
        assert_string_equal(o3, o1);
    }
    free(a.data);
    free(b.data);
}

static void a_large_archive_streams_in_pieces(void **state)
{
    (void)state;
    char c1[65], o1[65], c2[65], o2[65], err[128];
    buf_t a = write_all(c1, o1, 20000); /* 60,000 lines: several output chunks */
    seen_t seen = {0};
    assert_true(read_all(&a, 4096, &seen, c2, o2, err, sizeof(err)));
    assert_int_equal(seen.n, 60000);
    assert_string_equal(c1, c2);
    assert_string_equal(o1, o2);
    free(a.data);
}

static void a_flipped_byte_or_a_cut_is_caught(void **state)
{
    (void)state;
    char c1[65], o1[65], c2[65], o2[65], err[128];
    buf_t a = write_all(c1, o1, 50);
    /* a byte of the deflate data: the CRC or the inflate catches it, or at
     * least the object's hash differs */
    a.data[a.len / 2] ^= 0x01;
    seen_t seen = {0};
    bool whole = read_all(&a, 64, &seen, c2, o2, err, sizeof(err));
    assert_true(!whole || strcmp(o1, o2) != 0);
    assert_false(whole);
    a.data[a.len / 2] ^= 0x01;

    buf_t cut = {.data = a.data, .len = a.len - 5};
    seen = (seen_t){0};
    assert_false(read_all(&cut, 64, &seen, c2, o2, err, sizeof(err)));
    assert_non_null(strstr(err, "cut short"));

    buf_t junk = {.data = malloc(a.len + 3), .len = a.len + 3};
    memcpy(junk.data, a.data, a.len);
    memcpy(junk.data + a.len, "xyz", 3);
    seen = (seen_t){0};
    assert_false(read_all(&junk, a.len + 3, &seen, c2, o2, err, sizeof(err)));
    assert_non_null(strstr(err, "after the gzip stream"));
    free(junk.data);
    free(a.data);
}

static void a_sink_that_refuses_fails_the_writer(void **state)
{
    (void)state;
    buf_t b = {.fail_after = 10};
    fs_archive_gz_t gz;
    fs_archive_gz_init(&gz, to_buf, &b);
    char c[65], o[65];
    bool ok = true;
    for (int i = 0; i < 2000 && ok; i++) ok = fs_archive_gz_line(&gz, lines[0], strlen(lines[0]));
    if (ok) ok = fs_archive_gz_finish(&gz, c, o);
    assert_false(ok);
    fs_archive_gz_free(&gz);
    free(b.data);
}

static void the_manifest_round_trips_and_is_checked(void **state)
{
    (void)state;
    fs_archive_info_t in = {.tenant = "ten_abc",
                            .date = "2026-11-05",
                            .count = 3,
                            .first_seq = 7,
                            .last_seq = 12,
                            .bytes = 99,
                            .format = FS_ARCHIVE_FORMAT_VERSION};
    snprintf(in.key, sizeof(in.key), "archive/events/ten_abc/2026/11/05.jsonl.gz");
    memset(in.sha256, 'a', 64);
    memset(in.content_sha256, 'b', 64);
    json_t *m = fs_archive_manifest(&in);
    char *text = json_dumps(m, JSON_COMPACT);
    fs_archive_info_t out;
    char err[256];
    assert_true(fs_archive_manifest_parse(text, strlen(text), &out, err, sizeof(err)));
    assert_string_equal(out.tenant, in.tenant);
    assert_string_equal(out.key, in.key);
    assert_string_equal(out.sha256, in.sha256);
    assert_string_equal(out.content_sha256, in.content_sha256);
    assert_int_equal(out.count, 3);
    assert_int_equal(out.first_seq, 7);
    assert_int_equal(out.last_seq, 12);
    free(text);

    json_object_set_new(m, "format", json_integer(FS_ARCHIVE_FORMAT_VERSION + 1));
    text = json_dumps(m, JSON_COMPACT);
    assert_false(fs_archive_manifest_parse(text, strlen(text), &out, err, sizeof(err)));
    assert_non_null(strstr(err, "format"));
    free(text);
    json_object_del(m, "count");
    json_object_set_new(m, "format", json_integer(FS_ARCHIVE_FORMAT_VERSION));
    text = json_dumps(m, JSON_COMPACT);
    assert_false(fs_archive_manifest_parse(text, strlen(text), &out, err, sizeof(err)));
    assert_non_null(strstr(err, "count"));
    free(text);
    assert_false(fs_archive_manifest_parse("[1]", 3, &out, err, sizeof(err)));
    json_decref(m);
}

static void a_line_gives_its_seq(void **state)
{
    (void)state;
    assert_int_equal(fs_archive_line_seq(lines[2], strlen(lines[2])), 12);
    assert_int_equal(fs_archive_line_seq("{\"id\":\"pay_1\"}", 14), -1);
    assert_int_equal(fs_archive_line_seq("not json", 8), -1);
    assert_int_equal(fs_archive_line_seq("{\"id\":\"evt_x\"}", 14), -1);
}

static void the_settings_are_checked(void **state)
{
    (void)state;
    unsetenv("FINSYS_EVENTS_RETENTION_DAYS");
    assert_int_equal(fs_archive_retention_days(), 0);
    setenv("FINSYS_EVENTS_RETENTION_DAYS", "0", 1);
    assert_int_equal(fs_archive_retention_days(), 0);
    setenv("FINSYS_EVENTS_RETENTION_DAYS", "30", 1);
    assert_int_equal(fs_archive_retention_days(), 30);
    setenv("FINSYS_EVENTS_RETENTION_DAYS", "1", 1); /* yesterday is not final yet */
    assert_int_equal(fs_archive_retention_days(), -1);
    setenv("FINSYS_EVENTS_RETENTION_DAYS", "30d", 1);
    assert_int_equal(fs_archive_retention_days(), -1);
    unsetenv("FINSYS_EVENTS_RETENTION_DAYS");
    unsetenv("FINSYS_ARCHIVE_INTERVAL_S");
    assert_int_equal(fs_archive_interval_s(), FS_ARCHIVE_INTERVAL_S);
    setenv("FINSYS_ARCHIVE_INTERVAL_S", "0", 1);
    assert_int_equal(fs_archive_interval_s(), -1);
    setenv("FINSYS_ARCHIVE_INTERVAL_S", "5", 1);
    assert_int_equal(fs_archive_interval_s(), 5);
    unsetenv("FINSYS_ARCHIVE_INTERVAL_S");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(keys_follow_the_layout),
        cmocka_unit_test(the_same_lines_give_the_same_bytes_and_read_back),
        cmocka_unit_test(a_large_archive_streams_in_pieces),
        cmocka_unit_test(a_flipped_byte_or_a_cut_is_caught),
        cmocka_unit_test(a_sink_that_refuses_fails_the_writer),
        cmocka_unit_test(the_manifest_round_trips_and_is_checked),
        cmocka_unit_test(a_line_gives_its_seq),
        cmocka_unit_test(the_settings_are_checked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
