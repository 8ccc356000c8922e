/* Unit tests of src/core: ids, error filling and log level names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "../../src/core/core.h"

static int setup(void **state)
{
    (void)state;
    return sodium_init() < 0 ? -1 : 0;
}

static bool is_base62(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static void assert_id_form(const char *id, const char *prefix)
{
    size_t p = strlen(prefix);
    assert_int_equal(strlen(id), p + 1 + FS_ID_RANDOM_LEN);
    assert_memory_equal(id, prefix, p);
    assert_int_equal(id[p], '_');
    for (size_t i = p + 1; id[i] != '\0'; i++) assert_true(is_base62(id[i]));
}

static void id_has_prefix_and_24_base62_chars(void **state)
{
    (void)state;
    const char *prefixes[] = {"acct", "pay", "dep", "ten"};
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        char id[FS_ID_BUF_LEN];
        memset(id, 'x', sizeof(id));
        fs_id_new(prefixes[i], id, sizeof(id));
        assert_id_form(id, prefixes[i]);
    }
}

static void id_fits_an_exact_buffer(void **state)
{
    (void)state;
    /* "pay" + "_" + 24 + NUL = 29 bytes: the exact size is enough. */
    char id[3 + 1 + FS_ID_RANDOM_LEN + 1];
    fs_id_new("pay", id, sizeof(id));
    assert_id_form(id, "pay");
}

static int cmp_ids(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

static void ids_are_distinct(void **state)
{
    (void)state;
    enum { N = 10000 };
    char(*ids)[FS_ID_BUF_LEN] = calloc(N, FS_ID_BUF_LEN);
    assert_non_null(ids);
    for (size_t i = 0; i < N; i++) {
        fs_id_new("pay", ids[i], FS_ID_BUF_LEN);
        assert_id_form(ids[i], "pay");
    }
    qsort(ids, N, FS_ID_BUF_LEN, cmp_ids);
    for (size_t i = 1; i < N; i++) assert_string_not_equal(ids[i - 1], ids[i]);
    free(ids);
}

static void ids_use_the_whole_alphabet(void **state)
{
    (void)state;
    /* 24 * 2000 draws of 62 symbols: every symbol must show up. */
    bool seen[256] = {false};
    for (int i = 0; i < 2000; i++) {
        char id[FS_ID_BUF_LEN];
        fs_id_new("acct", id, sizeof(id));
        for (const char *c = id + 5; *c != '\0'; c++) seen[(unsigned char)*c] = true;
    }
    int count = 0;
    for (int c = 0; c < 256; c++) {
        if (seen[c]) {
            assert_true(is_base62((char)c));
            count++;
        }
    }
    assert_int_equal(count, 62);
}

static void fail_fills_the_error(void **state)
{
    (void)state;
    fs_error_t err;
    memset(&err, 0, sizeof(err));
    bool r = fs_fail(&err, FS_INVALID_REQUEST, "amount", "%s must be at least %d.", "amount", 1);
    assert_false(r);
    assert_int_equal(err.outcome, FS_INVALID_REQUEST);
    assert_string_equal(err.param, "amount");
    assert_string_equal(err.message, "amount must be at least 1.");

    r = fs_fail(&err, FS_NOT_FOUND, NULL, "No such thing.");
    assert_false(r);
    assert_int_equal(err.outcome, FS_NOT_FOUND);
    assert_null(err.param);
    assert_string_equal(err.message, "No such thing.");
}

static void fail_truncates_long_messages(void **state)
{
    (void)state;
    fs_error_t err;
    char long_text[1000];
    memset(long_text, 'a', sizeof(long_text) - 1);
    long_text[sizeof(long_text) - 1] = '\0';
    fs_fail(&err, FS_INTERNAL, NULL, "%s", long_text);
    assert_int_equal(strlen(err.message), sizeof(err.message) - 1);
    assert_int_equal(err.message[0], 'a');
}

static void log_level_names_parse(void **state)
{
    (void)state;
    fs_log_level_t l = FS_LOG_ERROR;
    assert_true(fs_log_level_parse("debug", &l));
    assert_int_equal(l, FS_LOG_DEBUG);
    assert_true(fs_log_level_parse("info", &l));
    assert_int_equal(l, FS_LOG_INFO);
    assert_true(fs_log_level_parse("warn", &l));
    assert_int_equal(l, FS_LOG_WARN);
    assert_true(fs_log_level_parse("error", &l));
    assert_int_equal(l, FS_LOG_ERROR);

    l = FS_LOG_WARN;
    assert_false(fs_log_level_parse("", &l));
    assert_false(fs_log_level_parse("trace", &l));
    assert_false(fs_log_level_parse("INFO", &l));
    assert_false(fs_log_level_parse("warning", &l));
    assert_false(fs_log_level_parse("info ", &l));
    assert_int_equal(l, FS_LOG_WARN); /* unchanged on failure */
}

static void log_respects_the_level(void **state)
{
    (void)state;
    /* Nothing to observe but that it neither crashes nor leaks. */
    fs_log_set_level(FS_LOG_ERROR);
    fs_log(FS_LOG_DEBUG, "test", "suppressed %d", 1);
    fs_log_set_level(FS_LOG_INFO);
}

static void clock_is_monotonic(void **state)
{
    (void)state;
    uint64_t a = fs_now_us();
    uint64_t b = fs_now_us();
    assert_true(a > 0);
    assert_true(b >= a);
}

/* Reconciliation dates (issue 12): exactly YYYY-MM-DD, real days only. */
static void dates_parse_and_format(void **state)
{
    (void)state;
    int64_t t;
    char out[16];
    assert_true(fs_date_parse("1970-01-01", &t));
    assert_int_equal(t, 0);
    assert_true(fs_date_parse("2026-12-05", &t));
    assert_int_equal(t, 1796428800);
    fs_date_format(t + 86399, out, sizeof(out));
    assert_string_equal(out, "2026-12-05");
    fs_date_format(t + 86400, out, sizeof(out));
    assert_string_equal(out, "2026-12-06");
    assert_true(fs_date_parse("2024-02-29", &t));
    fs_date_format(t, out, sizeof(out));
    assert_string_equal(out, "2024-02-29");
    assert_true(fs_date_parse("2000-02-29", &t));
    const char *bad[] = {"2023-02-29",  "1900-02-29", "2026-13-01", "2026-00-10", "2026-04-31",
                         "2026-1-05",   "2026-12-5",  "20261205",   "yesterday",  "1969-12-31",
                         "2026-12-05x", "",           NULL};
    for (int i = 0; bad[i] != NULL; i++) assert_false(fs_date_parse(bad[i], &t));
    assert_false(fs_date_parse(NULL, &t));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(id_has_prefix_and_24_base62_chars),
        cmocka_unit_test(id_fits_an_exact_buffer),
        cmocka_unit_test(ids_are_distinct),
        cmocka_unit_test(ids_use_the_whole_alphabet),
        cmocka_unit_test(fail_fills_the_error),
        cmocka_unit_test(fail_truncates_long_messages),
        cmocka_unit_test(log_level_names_parse),
        cmocka_unit_test(log_respects_the_level),
        cmocka_unit_test(clock_is_monotonic),
        cmocka_unit_test(dates_parse_and_format),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
