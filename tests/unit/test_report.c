/* Unit tests of src/report: the checks of GET /v1/accounts/{id}/statement
 * and GET /v1/reports/daily, their defaults and their normalization. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../src/report/report.h"

/* 2026-12-05T16:50:00.5Z */
#define NOW_US 1796489400500000LL

static json_t *parse(bool daily, const char *query, fs_error_t *err)
{
    json_t *item = json_object();
    memset(err, 0, sizeof(*err));
    bool ok = daily ? fs_report_parse_daily(query, NOW_US, item, err)
                    : fs_report_parse_statement(query, NOW_US, item, err);
    if (ok) return item;
    json_decref(item);
    return NULL;
}

static void assert_bad(bool daily, const char *query, const char *param)
{
    fs_error_t err;
    json_t *item = parse(daily, query, &err);
    if (item != NULL) fail_msg("accepted: %s", query);
    assert_int_equal(err.outcome, FS_INVALID_REQUEST);
    if (param == NULL ? err.param != NULL : err.param == NULL || strcmp(err.param, param) != 0)
        fail_msg("%s: param %s, not %s (%s)", query, err.param ? err.param : "NULL",
                 param ? param : "NULL", err.message);
}

static const char *str(const json_t *item, const char *key)
{
    return json_string_value(json_object_get(item, key));
}

static void statement_defaults_and_normalization(void **state)
{
    (void)state;
    fs_error_t err;
    json_t *item = parse(false, NULL, &err);
    assert_non_null(item);
    assert_string_equal(str(item, "to"), "2026-12-05T16:50:00.500000Z");
    assert_string_equal(str(item, "from"), "2026-11-04T16:50:00.500000Z");
    assert_int_equal(json_integer_value(json_object_get(item, "limit")),
                     FS_STATEMENT_ENTRIES_DEFAULT);
    assert_int_equal(json_integer_value(json_object_get(item, "skew_s")), FS_STATEMENT_SKEW_S);
    assert_null(json_object_get(item, "from_us"));
    json_decref(item);
    item = parse(false,
                 "from=2026-01-01T02:00:00%2B02:00&to=2026-01-02T00:00:00Z&limit=1000"
                 "&starting_after=42",
                 &err);
    assert_non_null(item);
    assert_string_equal(str(item, "from"), "2026-01-01T00:00:00.000000Z");
    assert_string_equal(str(item, "to"), "2026-01-02T00:00:00.000000Z");
    assert_int_equal(json_integer_value(json_object_get(item, "limit")), 1000);
    assert_int_equal(json_integer_value(json_object_get(item, "after")), 42);
    json_decref(item);
    /* Exactly FS_STATEMENT_DAYS_MAX days is allowed. */
    item = parse(false, "from=2025-01-01T00:00:00Z&to=2026-01-02T00:00:00Z", &err);
    assert_non_null(item);
    json_decref(item);
}

static void statement_bad_parameters_are_named(void **state)
{
    (void)state;
    assert_bad(false, "from=2026-01-01", "from");
    assert_bad(false, "to=", "to");
    assert_bad(false, "from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", "from");
    assert_bad(false, "from=2026-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", "from");
    assert_bad(false, "from=2025-01-01T00:00:00Z&to=2026-01-03T00:00:00Z", "from");
    assert_bad(false, "to=1990-01-01T00:00:00Z&to=1990-01-02T00:00:00Z", "to");
    assert_bad(false, "limit=0", "limit");
    assert_bad(false, "limit=1001", "limit");
    assert_bad(false, "limit=+5", "limit");
    assert_bad(false, "starting_after=0", "starting_after");
    assert_bad(false, "starting_after=1234567890123456789", "starting_after");
    assert_bad(false, "starting_after=-1", "starting_after");
    assert_bad(false, "currency=USD", "currency");
    assert_bad(false, "from=2026-01-01T00:00:00Z%00", NULL);
}

static void daily_defaults_and_checks(void **state)
{
    (void)state;
    fs_error_t err;
    json_t *item = parse(true, NULL, &err);
    assert_non_null(item);
    assert_string_equal(str(item, "to"), "2026-12-05");
    assert_string_equal(str(item, "from"), "2026-11-05");
    assert_null(json_object_get(item, "currency"));
    json_decref(item);
    item = parse(true, "from=2024-02-29&to=2024-02-29&currency=JPY", &err);
    assert_non_null(item);
    assert_string_equal(str(item, "from"), "2024-02-29");
    assert_string_equal(str(item, "currency"), "JPY");
    json_decref(item);
    item = parse(true, "from=2025-01-01&to=2026-01-01", &err); /* 366 days */
    assert_non_null(item);
    json_decref(item);
    assert_bad(true, "from=2025-01-01&to=2026-01-02", "from");
    assert_bad(true, "from=2026-01-02&to=2026-01-01", "from");
    assert_bad(true, "from=2023-02-29", "from");
    assert_bad(true, "to=2026-1-01", "to");
    assert_bad(true, "to=2026-01-01T00:00:00Z", "to");
    assert_bad(true, "currency=usd", "currency");
    assert_bad(true, "currency=USD&currency=EUR", "currency");
    assert_bad(true, "limit=5", "limit");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(statement_defaults_and_normalization),
        cmocka_unit_test(statement_bad_parameters_are_named),
        cmocka_unit_test(daily_defaults_and_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
