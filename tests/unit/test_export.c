/*
 * test_export.c: the checks of POST /v1/exports and the CSV rules
 * (src/export/export.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/export/export.h"

static void amounts_are_formatted_by_the_exponent(void **state)
{
    (void)state;
    static const struct {
        const char *minor;
        int exp;
        const char *want;
    } cases[] = {
        {"1234", 2, "12.34"},
        {"5", 2, "0.05"},
        {"-5", 2, "-0.05"},
        {"0", 2, "0.00"},
        {"-0", 2, "0.00"},
        {"500", 0, "500"},
        {"1234567", 3, "1234.567"},
        {"100", 2, "1.00"},
        {"007", 2, "0.07"},
        {"9223372036854775807", 2, "92233720368547758.07"},
        {"123456789012345678901234", 2, "1234567890123456789012.34"}, /* a sum */
    };
    char out[64];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_true(fs_export_format_amount(cases[i].minor, cases[i].exp, out, sizeof(out)));
        assert_string_equal(out, cases[i].want);
    }
    assert_false(fs_export_format_amount("12a", 2, out, sizeof(out)));
    assert_false(fs_export_format_amount("", 2, out, sizeof(out)));
    assert_false(fs_export_format_amount("-", 2, out, sizeof(out)));
    assert_false(fs_export_format_amount("123456", 2, out, 6)); /* "1234.56" needs 8 */
}

static void fields_are_quoted_per_rfc_4180(void **state)
{
    (void)state;
    fs_export_buf_t b = {0};
    fs_export_csv_field(&b, "plain", true);
    fs_export_csv_field(&b, "a,b", false);
    fs_export_csv_field(&b, "say \"hi\"", false);
    fs_export_csv_field(&b, "two\nlines", false);
    fs_export_csv_field(&b, NULL, false);
    fs_export_csv_field(&b, "cr\r", false);
    fs_export_csv_end(&b);
    assert_string_equal(b.data, "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",,\"cr\r\"\r\n");
    fs_export_buf_free(&b);
}

static bool parse(const char *body, json_t *item, fs_error_t *err)
{
    json_t *j = json_loads(body, 0, NULL);
    assert_non_null(j);
    bool ok = fs_export_parse_create(j, item, err);
    json_decref(j);
    return ok;
}

static void bodies_are_checked_naming_the_parameter(void **state)
{
    (void)state;
    static const struct {
        const char *body, *param;
    } bad[] = {
        {"{}", "type"},
        {"{\"type\":\"ledger\"}", "type"},
        {"{\"type\":1}", "type"},
        {"{\"type\":\"payments\",\"filters\":[]}", "filters"},
        {"{\"type\":\"payments\",\"filters\":{\"status\":\"lost\"}}", "filters.status"},
        {"{\"type\":\"payments\",\"filters\":{\"status\":7}}", "filters.status"},
        {"{\"type\":\"payments\",\"filters\":{\"currency\":\"XXX\"}}", "filters.currency"},
        {"{\"type\":\"payments\",\"filters\":{\"created_lte\":\"soon\"}}", "filters.created_lte"},
        {"{\"type\":\"payments\",\"filters\":{\"account\":\"acct_a\"}}", "filters.account"},
        {"{\"type\":\"statement\"}", "filters.account"},
        {"{\"type\":\"statement\",\"filters\":{\"account\":\"pay_x\"}}", "filters.account"},
        {"{\"type\":\"daily\",\"filters\":{\"created_gte\":\"2026-02-01T00:00:00Z\","
         "\"created_lte\":\"2026-01-01T00:00:00Z\"}}",
         "filters.created_gte"},
        {"{\"type\":\"daily\",\"x\":1}", "x"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *item = json_object();
        fs_error_t err = {0};
        assert_false(parse(bad[i].body, item, &err));
        assert_int_equal(err.outcome, FS_INVALID_REQUEST);
        assert_non_null(err.param);
        assert_string_equal(err.param, bad[i].param);
        json_decref(item);
    }
    json_t *item = json_object();
    fs_error_t err = {0};
    assert_true(parse("{\"type\":\"payments\",\"filters\":{\"status\":\"succeeded\","
                      "\"created_gte\":\"2026-01-01T01:00:00+01:00\"}}",
                      item, &err));
    assert_string_equal(json_string_value(json_object_get(item, "type")), "payments");
    assert_int_equal(strncmp(json_string_value(json_object_get(item, "id")), "exp_", 4), 0);
    json_t *f = json_object_get(item, "filters");
    /* Times are stored in UTC. */
    assert_string_equal(json_string_value(json_object_get(f, "created_gte")),
                        "2026-01-01T00:00:00.000000Z");
    assert_int_equal(json_integer_value(json_object_get(item, "max")),
                     FS_EXPORT_CONCURRENT_PER_TENANT);
    json_decref(item);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(amounts_are_formatted_by_the_exponent),
        cmocka_unit_test(fields_are_quoted_per_rfc_4180),
        cmocka_unit_test(bodies_are_checked_naming_the_parameter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
