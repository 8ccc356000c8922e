/* Unit tests of src/search: the checks of GET /v1/payments/search and the
 * RFC 3339 parsing they use. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "../../src/api/api.h"
#include "../../src/search/search.h"

#define PAY "pay_3xYabcdefghijklmnopqrstu"
#define ACCT "acct_3xYabcdefghijklmnopqrst"

/* Parses query; returns the item (caller frees) or NULL with *err filled. */
static json_t *parse(const char *query, fs_error_t *err)
{
    json_t *item = json_object();
    memset(err, 0, sizeof(*err));
    if (fs_search_parse_query(query, item, err)) return item;
    json_decref(item);
    return NULL;
}

static void assert_bad(const char *query, const char *param)
{
    fs_error_t err;
    json_t *item = parse(query, &err);
    if (item != NULL) fail_msg("accepted: %s", query);
    assert_int_equal(err.outcome, FS_INVALID_REQUEST);
    if (param == NULL) {
        assert_null(err.param);
    } else {
        if (err.param == NULL || strcmp(err.param, param) != 0)
            fail_msg("%s: param %s, not %s (%s)", query, err.param ? err.param : "NULL", param,
                     err.message);
    }
    assert_true(strlen(err.message) > 0);
}

static void every_parameter_is_copied(void **state)
{
    (void)state;
    fs_error_t err;
    json_t *item = parse("q=invoice+INV-17&status=succeeded&account=" ACCT
                         "&currency=EUR&amount_gte=0&amount_lte=9223372036854775807"
                         "&created_gte=2024-05-01T12:00:00Z"
                         "&created_lte=2024-05-01T14:30:00.5%2B02:00&limit=100"
                         "&starting_after=" PAY,
                         &err);
    assert_non_null(item);
    assert_string_equal(json_string_value(json_object_get(item, "q")), "invoice INV-17");
    assert_string_equal(json_string_value(json_object_get(item, "status")), "succeeded");
    assert_string_equal(json_string_value(json_object_get(item, "account")), ACCT);
    assert_string_equal(json_string_value(json_object_get(item, "currency")), "EUR");
    assert_int_equal(json_integer_value(json_object_get(item, "amount_gte")), 0);
    assert_true(json_integer_value(json_object_get(item, "amount_lte")) == INT64_MAX);
    assert_string_equal(json_string_value(json_object_get(item, "created_gte")),
                        "2024-05-01T12:00:00.000000Z");
    assert_string_equal(json_string_value(json_object_get(item, "created_lte")),
                        "2024-05-01T12:30:00.500000Z");
    assert_int_equal(json_integer_value(json_object_get(item, "limit")), 100);
    assert_string_equal(json_string_value(json_object_get(item, "after")), PAY);
    json_decref(item);

    item = parse(NULL, &err);
    assert_non_null(item);
    assert_int_equal(json_integer_value(json_object_get(item, "limit")), FS_PAGE_LIMIT_DEFAULT);
    assert_int_equal(json_object_size(item), 1);
    json_decref(item);
}

static void bad_parameters_are_named(void **state)
{
    (void)state;
    char longq[FS_SEARCH_Q_LEN_MAX + 8];
    memset(longq, 'a', sizeof(longq));
    memcpy(longq, "q=", 2);
    longq[FS_SEARCH_Q_LEN_MAX + 3] = '\0'; /* q of FS_SEARCH_Q_LEN_MAX + 1 bytes */
    assert_bad(longq, "q");
    longq[FS_SEARCH_Q_LEN_MAX + 2] = '\0';
    fs_error_t err;
    json_t *item = parse(longq, &err);
    assert_non_null(item);
    json_decref(item);

    assert_bad("q=", "q");
    assert_bad("q=+++", "q");
    assert_bad("q=%FF%FE", "q");
    assert_bad("q=a%00b", "q");
    assert_bad("status=settled", "status");
    assert_bad("status=SUCCEEDED", "status");
    assert_bad("account=pay_abc", "account");
    assert_bad("account=acct_a-b", "account");
    assert_bad("currency=usd", "currency");
    assert_bad("currency=XXX", "currency");
    assert_bad("amount_gte=-1", "amount_gte");
    assert_bad("amount_gte=1.5", "amount_gte");
    assert_bad("amount_lte=9223372036854775808", "amount_lte");
    assert_bad("amount_lte=99999999999999999999", "amount_lte");
    assert_bad("amount_gte=10&amount_lte=9", "amount_gte");
    assert_bad("created_gte=2024-05-01", "created_gte");
    assert_bad("created_gte=1714564800", "created_gte");
    assert_bad("created_lte=2024-02-30T00:00:00Z", "created_lte");
    assert_bad("created_lte=2023-02-29T00:00:00Z", "created_lte");
    assert_bad("created_lte=2024-05-01T24:00:00Z", "created_lte");
    assert_bad("created_lte=2024-05-01T12:00:00.1234567Z", "created_lte");
    assert_bad("created_lte=2024-05-01T12:00:00", "created_lte");
    assert_bad("created_lte=0001-01-01T00:00:00%2B01:00", "created_lte");
    assert_bad("created_gte=2024-05-02T00:00:00Z&created_lte=2024-05-01T23:59:59Z",
               "created_gte");
    assert_bad("limit=0", "limit");
    assert_bad("limit=101", "limit");
    assert_bad("limit=abc", "limit");
    assert_bad("starting_after=acct_abc", "starting_after");
    assert_bad("sort=amount", "sort");
    assert_bad("status=failed&status=canceled", "status");
}

static void equal_bounds_and_leap_days_pass(void **state)
{
    (void)state;
    fs_error_t err;
    json_t *item = parse("amount_gte=5&amount_lte=5&created_gte=2024-02-29T23:59:59.999999Z"
                         "&created_lte=2024-02-29T23:59:59.999999Z",
                         &err);
    assert_non_null(item);
    json_decref(item);
}

static void times_round_trip(void **state)
{
    (void)state;
    int64_t us;
    char text[32];
    assert_true(fs_search_parse_time("1970-01-01T00:00:00Z", &us));
    assert_true(us == 0);
    assert_true(fs_search_parse_time("1969-12-31T23:59:59.999999Z", &us));
    assert_true(us == -1);
    fs_search_format_time(us, text, sizeof(text));
    assert_string_equal(text, "1969-12-31T23:59:59.999999Z");
    assert_true(fs_search_parse_time("2000-03-01t00:00:00-00:30", &us));
    fs_search_format_time(us, text, sizeof(text));
    assert_string_equal(text, "2000-03-01T00:30:00.000000Z");
    assert_true(fs_search_parse_time("9999-12-31T23:59:59.999999Z", &us));
    fs_search_format_time(us, text, sizeof(text));
    assert_string_equal(text, "9999-12-31T23:59:59.999999Z");
    assert_true(fs_search_parse_time("0001-01-01T00:00:00Z", &us));
    fs_search_format_time(us, text, sizeof(text));
    assert_string_equal(text, "0001-01-01T00:00:00.000000Z");
    assert_false(fs_search_parse_time("9999-12-31T23:59:59-00:01", &us));
}

static void search_route_is_not_a_payment_id(void **state)
{
    (void)state;
    fs_api_request_t req = {.method = FS_METHOD_GET, .path = "/v1/payments/search",
                            .query = "q=x&currency=USD", .authorization = "Bearer fsk_test"};
    fs_api_result_t res;
    fs_api_route(&req, &res);
    assert_int_equal(res.action, FS_API_STORE);
    assert_string_equal(json_string_value(json_object_get(res.item, "op")),
                        "payment_search_list");
    assert_string_equal(json_string_value(json_object_get(res.item, "currency")), "USD");
    json_decref(res.item);

    req.query = "currency=usd";
    fs_api_route(&req, &res);
    assert_int_equal(res.action, FS_API_REJECT);
    assert_string_equal(res.err.param, "currency");

    req.method = FS_METHOD_POST;
    req.query = NULL;
    fs_api_route(&req, &res);
    assert_int_equal(res.action, FS_API_REJECT);
    assert_int_equal(res.err.outcome, FS_METHOD_NOT_ALLOWED);
}

static int setup(void **state)
{
    (void)state;
    return sodium_init() < 0 ? -1 : 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_parameter_is_copied),
        cmocka_unit_test(bad_parameters_are_named),
        cmocka_unit_test(equal_bounds_and_leap_days_pass),
        cmocka_unit_test(times_round_trip),
        cmocka_unit_test(search_route_is_not_a_payment_id),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
