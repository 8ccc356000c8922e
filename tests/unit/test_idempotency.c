/* Unit tests of src/idempotency: Idempotency-Key checks and fingerprints. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "../../src/idempotency/idempotency.h"

static int setup(void **state)
{
    (void)state;
    return sodium_init() < 0 ? -1 : 0;
}

static void assert_key_rejected(const char *key, fs_outcome_t outcome)
{
    fs_error_t err;
    memset(&err, 0, sizeof(err));
    assert_false(fs_idempotency_key_check(key, &err));
    assert_int_equal(err.outcome, outcome);
    assert_non_null(err.param);
    assert_string_equal(err.param, "Idempotency-Key");
    assert_true(strlen(err.message) > 0);
}

static void key_missing(void **state)
{
    (void)state;
    assert_key_rejected(NULL, FS_IDEMPOTENCY_KEY_MISSING);
}

static void key_length_bounds(void **state)
{
    (void)state;
    fs_error_t err;
    char key[FS_IDEMPOTENCY_KEY_LEN_MAX + 2];

    assert_key_rejected("", FS_INVALID_REQUEST);

    assert_true(fs_idempotency_key_check("k", &err));

    memset(key, 'k', FS_IDEMPOTENCY_KEY_LEN_MAX);
    key[FS_IDEMPOTENCY_KEY_LEN_MAX] = '\0';
    assert_int_equal(strlen(key), 255);
    assert_true(fs_idempotency_key_check(key, &err));

    memset(key, 'k', FS_IDEMPOTENCY_KEY_LEN_MAX + 1);
    key[FS_IDEMPOTENCY_KEY_LEN_MAX + 1] = '\0';
    assert_int_equal(strlen(key), 256);
    assert_key_rejected(key, FS_INVALID_REQUEST);
}

static void key_must_be_printable_ascii(void **state)
{
    (void)state;
    fs_error_t err;
    assert_true(fs_idempotency_key_check("order-42:retry_1", &err));
    assert_true(fs_idempotency_key_check("a b", &err)); /* space is printable */
    assert_true(fs_idempotency_key_check("~!@#$%^&*()_+{}|:\"<>?`-=[]\\;',./", &err));
    assert_true(fs_idempotency_key_check("550e8400-e29b-41d4-a716-446655440000", &err));

    assert_key_rejected("a\x01", FS_INVALID_REQUEST);
    assert_key_rejected("\x01", FS_INVALID_REQUEST);
    assert_key_rejected("a\x7f", FS_INVALID_REQUEST);
    assert_key_rejected("a\tb", FS_INVALID_REQUEST);
    assert_key_rejected("a\nb", FS_INVALID_REQUEST);
    assert_key_rejected("a\x1f", FS_INVALID_REQUEST);
    assert_key_rejected("a\x80", FS_INVALID_REQUEST);
    assert_key_rejected("a\xff", FS_INVALID_REQUEST);
    assert_key_rejected("caf\xc3\xa9", FS_INVALID_REQUEST);
}

/* The fingerprint of method, path and the JSON text body (NULL: no body). */
static void fp(const char *method, const char *path, const char *json,
               char out[FS_IDEMPOTENCY_FP_HEX_LEN + 1])
{
    json_t *body = NULL;
    if (json != NULL) {
        json_error_t jerr;
        body = json_loads(json, JSON_DECODE_ANY, &jerr);
        assert_non_null(body);
    }
    memset(out, 'x', FS_IDEMPOTENCY_FP_HEX_LEN + 1);
    fs_idempotency_fingerprint(method, path, body, out);
    json_decref(body);
    assert_int_equal(strlen(out), FS_IDEMPOTENCY_FP_HEX_LEN);
    for (size_t i = 0; i < FS_IDEMPOTENCY_FP_HEX_LEN; i++) {
        assert_non_null(strchr("0123456789abcdef", out[i]));
    }
}

static void fingerprint_is_sha256_of_canonical_request(void **state)
{
    (void)state;
    char a[FS_IDEMPOTENCY_FP_HEX_LEN + 1];
    /* printf 'POST\n/v1/payments\n{"a":1,"b":[1,2]}' | sha256sum */
    fp("POST", "/v1/payments", "{ \"b\" : [1, 2],\n \"a\": 1 }", a);
    assert_string_equal(a, "eb3fa9fb69f2b7b50f6d431ae308f5476fd898080a18a5c9be63d8a9c66c6994");
    /* printf 'POST\n/v1/payments/pay_x/cancel\n' | sha256sum */
    fp("POST", "/v1/payments/pay_x/cancel", NULL, a);
    assert_string_equal(a, "612301f768b2c01d12e73f322f8d1f835514aa4c797ba6cfbb481f4406cf2629");
}

static void fingerprint_ignores_key_order_and_whitespace(void **state)
{
    (void)state;
    char a[FS_IDEMPOTENCY_FP_HEX_LEN + 1], b[FS_IDEMPOTENCY_FP_HEX_LEN + 1];
    fp("POST", "/v1/payments",
       "{\"from_account\":\"acct_a\",\"to_account\":\"acct_b\",\"amount\":100,"
       "\"currency\":\"USD\",\"metadata\":{\"x\":\"1\",\"y\":\"2\"}}",
       a);
    fp("POST", "/v1/payments",
       "{\n  \"metadata\" : { \"y\": \"2\", \"x\": \"1\" },\n  \"currency\": \"USD\",\n"
       "  \"amount\":\t100, \"to_account\": \"acct_b\", \"from_account\": \"acct_a\"\n}\n",
       b);
    assert_string_equal(a, b);

    /* Escapes that decode to the same string are the same body. */
    fp("POST", "/v1/accounts", "{\"name\":\"A\"}", a);
    fp("POST", "/v1/accounts", "{\"name\":\"\\u0041\"}", b);
    assert_string_equal(a, b);
}

static void fingerprint_is_deterministic(void **state)
{
    (void)state;
    char a[FS_IDEMPOTENCY_FP_HEX_LEN + 1], b[FS_IDEMPOTENCY_FP_HEX_LEN + 1];
    fp("POST", "/v1/accounts", "{\"currency\":\"USD\"}", a);
    fp("POST", "/v1/accounts", "{\"currency\":\"USD\"}", b);
    assert_string_equal(a, b);
}

static void fingerprint_differs_for_method_path_and_values(void **state)
{
    (void)state;
    char base[FS_IDEMPOTENCY_FP_HEX_LEN + 1], other[FS_IDEMPOTENCY_FP_HEX_LEN + 1];
    const char *body = "{\"amount\":100,\"currency\":\"USD\"}";
    fp("POST", "/v1/accounts/acct_a/deposits", body, base);

    fp("GET", "/v1/accounts/acct_a/deposits", body, other);
    assert_string_not_equal(base, other);
    fp("POST", "/v1/accounts/acct_b/deposits", body, other);
    assert_string_not_equal(base, other);
    fp("POST", "/v1/accounts/acct_a/deposits", "{\"amount\":101,\"currency\":\"USD\"}", other);
    assert_string_not_equal(base, other);
    fp("POST", "/v1/accounts/acct_a/deposits", "{\"amount\":100,\"currency\":\"EUR\"}", other);
    assert_string_not_equal(base, other);
    fp("POST", "/v1/accounts/acct_a/deposits", "{\"amount\":\"100\",\"currency\":\"USD\"}",
       other);
    assert_string_not_equal(base, other);
    fp("POST", "/v1/accounts/acct_a/deposits", "{\"amount\":100.0,\"currency\":\"USD\"}",
       other);
    assert_string_not_equal(base, other);
    fp("POST", "/v1/accounts/acct_a/deposits",
       "{\"amount\":100,\"currency\":\"USD\",\"extra\":null}", other);
    assert_string_not_equal(base, other);
    fp("POST", "/v1/accounts/acct_a/deposits", "{\"amount\":100}", other);
    assert_string_not_equal(base, other);
}

static void fingerprint_tells_empty_bodies_apart(void **state)
{
    (void)state;
    char none[FS_IDEMPOTENCY_FP_HEX_LEN + 1], obj[FS_IDEMPOTENCY_FP_HEX_LEN + 1],
        arr[FS_IDEMPOTENCY_FP_HEX_LEN + 1];
    fp("POST", "/v1/payments/pay_x/cancel", NULL, none);
    fp("POST", "/v1/payments/pay_x/cancel", "{}", obj);
    fp("POST", "/v1/payments/pay_x/cancel", "[]", arr);
    assert_string_not_equal(none, obj);
    assert_string_not_equal(none, arr);
    assert_string_not_equal(obj, arr);
}

static void fingerprint_separates_method_from_path(void **state)
{
    (void)state;
    /* Method and path are delimited, so moving a byte between them changes
     * the fingerprint. */
    char a[FS_IDEMPOTENCY_FP_HEX_LEN + 1], b[FS_IDEMPOTENCY_FP_HEX_LEN + 1];
    fp("POST", "/x", "{}", a);
    fp("POST/", "x", "{}", b);
    assert_string_not_equal(a, b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(key_missing),
        cmocka_unit_test(key_length_bounds),
        cmocka_unit_test(key_must_be_printable_ascii),
        cmocka_unit_test(fingerprint_is_sha256_of_canonical_request),
        cmocka_unit_test(fingerprint_ignores_key_order_and_whitespace),
        cmocka_unit_test(fingerprint_is_deterministic),
        cmocka_unit_test(fingerprint_differs_for_method_path_and_values),
        cmocka_unit_test(fingerprint_tells_empty_bodies_apart),
        cmocka_unit_test(fingerprint_separates_method_from_path),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
