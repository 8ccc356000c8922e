/* Unit tests of src/validate: request bodies, fields and list queries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../src/validate/validate.h"

/* A JSON object from text, for the field validators. */
static json_t *obj(const char *text)
{
    json_error_t jerr;
    json_t *o = json_loads(text, JSON_ALLOW_NUL, &jerr);
    assert_non_null(o);
    assert_true(json_is_object(o));
    return o;
}

static void assert_err(const fs_error_t *err, fs_outcome_t outcome, const char *param)
{
    assert_int_equal(err->outcome, outcome);
    if (param == NULL) {
        assert_null(err->param);
    } else {
        assert_non_null(err->param);
        assert_string_equal(err->param, param);
    }
    assert_true(strlen(err->message) > 0);
}

/* ---- fs_validate_body ---- */

static bool body(const char *text, json_t **out, fs_error_t *err)
{
    memset(err, 0, sizeof(*err));
    return fs_validate_body(text, strlen(text), out, err);
}

static void body_empty_is_an_empty_object(void **state)
{
    (void)state;
    json_t *b = NULL;
    fs_error_t err;
    assert_true(fs_validate_body(NULL, 0, &b, &err));
    assert_true(json_is_object(b));
    assert_int_equal(json_object_size(b), 0);
    json_decref(b);
    assert_true(fs_validate_body("", 0, &b, &err));
    assert_true(json_is_object(b));
    json_decref(b);
}

static void body_object_is_parsed(void **state)
{
    (void)state;
    json_t *b = NULL;
    fs_error_t err;
    assert_true(body(" {\"amount\": 5, \"currency\": \"USD\"}\n", &b, &err));
    assert_int_equal(json_integer_value(json_object_get(b, "amount")), 5);
    assert_string_equal(json_string_value(json_object_get(b, "currency")), "USD");
    json_decref(b);
}

static void body_uses_only_len_bytes(void **state)
{
    (void)state;
    json_t *b = NULL;
    fs_error_t err;
    const char *text = "{\"a\":1}garbage";
    assert_true(fs_validate_body(text, 7, &b, &err));
    assert_int_equal(json_integer_value(json_object_get(b, "a")), 1);
    json_decref(b);
}

static void body_rejects_malformed_json(void **state)
{
    (void)state;
    const char *bad[] = {
        "{",          "}",          "{\"a\":}",   "{\"a\" 1}",  "{'a':1}",
        "{\"a\":1,}", "{a:1}",      "nul",        "{\"a\":1}}", "{\"a\":1} {}",
        "\"",         "{\"a\":01}", "{\"a\":NaN}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *b = (json_t *)1;
        fs_error_t err;
        assert_false(body(bad[i], &b, &err));
        assert_null(b);
        assert_err(&err, FS_INVALID_REQUEST, NULL);
    }
}

static void body_rejects_invalid_utf8(void **state)
{
    (void)state;
    const char *bad[] = {
        "{\"name\":\"\xff\"}",
        "{\"name\":\"caf\xc3\"}",
        "{\"name\":\"\xc0\xaf\"}",         /* overlong */
        "{\"name\":\"\xed\xa0\x80\"}",     /* surrogate */
        "{\"n\xe9\":\"x\"}",               /* Latin-1 in a key */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *b = NULL;
        fs_error_t err;
        assert_false(body(bad[i], &b, &err));
        assert_null(b);
        assert_int_equal(err.outcome, FS_INVALID_REQUEST);
    }
    json_t *b = NULL;
    fs_error_t err;
    assert_true(body("{\"name\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x92\xb0\"}", &b, &err));
    json_decref(b);
}

static void body_rejects_non_objects(void **state)
{
    (void)state;
    const char *bad[] = {"[]", "[{\"a\":1}]", "1", "\"x\"", "null", "true"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *b = (json_t *)1;
        fs_error_t err;
        assert_false(body(bad[i], &b, &err));
        assert_null(b);
        assert_err(&err, FS_INVALID_REQUEST, NULL);
    }
}

static void body_rejects_duplicate_keys(void **state)
{
    (void)state;
    json_t *b = NULL;
    fs_error_t err;
    assert_false(body("{\"amount\":1,\"amount\":2}", &b, &err));
    assert_null(b);
    assert_int_equal(err.outcome, FS_INVALID_REQUEST);
    assert_non_null(strstr(err.message, "repeats"));
    assert_false(body("{\"metadata\":{\"k\":\"a\",\"k\":\"b\"}}", &b, &err));
    assert_null(b);
    assert_int_equal(err.outcome, FS_INVALID_REQUEST);
}

static void body_names_the_key_of_a_too_large_integer(void **state)
{
    (void)state;
    json_t *b = NULL;
    fs_error_t err;
    assert_false(body("{\"amount\": 9223372036854775808}", &b, &err));
    assert_null(b);
    assert_err(&err, FS_INVALID_REQUEST, "amount");

    assert_false(body("{\"currency\":\"USD\",\"amount\":9223372036854775808}", &b, &err));
    assert_err(&err, FS_INVALID_REQUEST, "amount");

    assert_false(body("{\"amount\"\n :\n 99999999999999999999999, \"currency\":\"USD\"}", &b,
                      &err));
    assert_err(&err, FS_INVALID_REQUEST, "amount");

    assert_false(body("{\"amount\": -9223372036854775809}", &b, &err));
    assert_err(&err, FS_INVALID_REQUEST, "amount");
}

static void body_accepts_int64_extremes(void **state)
{
    (void)state;
    json_t *b = NULL;
    fs_error_t err;
    assert_true(body("{\"amount\": 9223372036854775807}", &b, &err));
    assert_true(json_integer_value(json_object_get(b, "amount")) == INT64_MAX);
    json_decref(b);
    assert_true(body("{\"amount\": -9223372036854775808}", &b, &err));
    assert_true(json_integer_value(json_object_get(b, "amount")) == INT64_MIN);
    json_decref(b);
}

/* ---- fs_validate_known_fields ---- */

static void known_fields_names_the_unknown_one(void **state)
{
    (void)state;
    static const char *const allowed[] = {"amount", "currency", NULL};
    fs_error_t err;
    json_t *b = obj("{\"amount\":1,\"currency\":\"USD\"}");
    assert_true(fs_validate_known_fields(b, allowed, &err));
    json_decref(b);
    b = obj("{}");
    assert_true(fs_validate_known_fields(b, allowed, &err));
    json_decref(b);
    b = obj("{\"amount\":1,\"amout\":2}");
    assert_false(fs_validate_known_fields(b, allowed, &err));
    assert_err(&err, FS_INVALID_REQUEST, "amout");
    json_decref(b);
}

/* ---- fs_validate_amount ---- */

static void amount_rejects(const char *text, const char *param)
{
    json_t *b = obj(text);
    fs_error_t err;
    int64_t n = 42;
    memset(&err, 0, sizeof(err));
    assert_false(fs_validate_amount(b, "amount", &n, &err));
    assert_err(&err, FS_INVALID_REQUEST, param);
    assert_int_equal(n, 42);
    json_decref(b);
}

static void amount_must_be_a_positive_integer(void **state)
{
    (void)state;
    amount_rejects("{\"amount\":0}", "amount");
    amount_rejects("{\"amount\":-1}", "amount");
    amount_rejects("{\"amount\":-9223372036854775808}", "amount");
    amount_rejects("{\"amount\":1.5}", "amount");
    amount_rejects("{\"amount\":1.0}", "amount");
    amount_rejects("{\"amount\":1e3}", "amount");
    amount_rejects("{\"amount\":\"100\"}", "amount");
    amount_rejects("{\"amount\":null}", "amount");
    amount_rejects("{\"amount\":true}", "amount");
    amount_rejects("{\"amount\":[1]}", "amount");
    amount_rejects("{\"amount\":{}}", "amount");
    amount_rejects("{}", "amount");
    amount_rejects("{\"Amount\":5}", "amount");
}

static void amount_accepts_1_to_int64_max(void **state)
{
    (void)state;
    fs_error_t err;
    int64_t n = 0;
    json_t *b = obj("{\"amount\":1}");
    assert_true(fs_validate_amount(b, "amount", &n, &err));
    assert_int_equal(n, 1);
    json_decref(b);
    b = obj("{\"amount\":9223372036854775807}");
    assert_true(fs_validate_amount(b, "amount", &n, &err));
    assert_true(n == INT64_MAX);
    json_decref(b);
}

static void amount_names_the_given_field(void **state)
{
    (void)state;
    fs_error_t err;
    int64_t n;
    json_t *b = obj("{\"fee\":0}");
    assert_false(fs_validate_amount(b, "fee", &n, &err));
    assert_err(&err, FS_INVALID_REQUEST, "fee");
    json_decref(b);
}

/* ---- fs_validate_currency ---- */

static void currency_must_be_supported_upper_case(void **state)
{
    (void)state;
    const char *ok[] = {"USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        char text[64];
        snprintf(text, sizeof(text), "{\"currency\":\"%s\"}", ok[i]);
        json_t *b = obj(text);
        const fs_currency_t *c = NULL;
        fs_error_t err;
        assert_true(fs_validate_currency(b, "currency", &c, &err));
        assert_non_null(c);
        assert_string_equal(c->code, ok[i]);
        json_decref(b);
    }
    const char *bad[] = {
        "{\"currency\":\"usd\"}", "{\"currency\":\"XXX\"}", "{\"currency\":\"\"}",
        "{\"currency\":\"USDX\"}", "{\"currency\":\"US\"}",  "{\"currency\":840}",
        "{\"currency\":null}",    "{}",                     "{\"currency\":\"U\\u0000D\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *b = obj(bad[i]);
        const fs_currency_t *c = NULL;
        fs_error_t err;
        memset(&err, 0, sizeof(err));
        assert_false(fs_validate_currency(b, "currency", &c, &err));
        assert_err(&err, FS_INVALID_REQUEST, "currency");
        json_decref(b);
    }
}

/* ---- fs_validate_string ---- */

static json_t *obj_with_string(const char *name, size_t len)
{
    char *s = malloc(len + 1);
    assert_non_null(s);
    memset(s, 'a', len);
    s[len] = '\0';
    json_t *o = json_object();
    json_object_set_new(o, name, json_string(s));
    free(s);
    return o;
}

static void string_length_limits(void **state)
{
    (void)state;
    const char *out = NULL;
    fs_error_t err;
    json_t *b = obj_with_string("name", FS_NAME_LEN_MAX);
    assert_true(fs_validate_string(b, "name", true, FS_NAME_LEN_MAX, &out, &err));
    assert_non_null(out);
    assert_int_equal(strlen(out), FS_NAME_LEN_MAX);
    json_decref(b);

    b = obj_with_string("name", FS_NAME_LEN_MAX + 1);
    assert_false(fs_validate_string(b, "name", true, FS_NAME_LEN_MAX, &out, &err));
    assert_err(&err, FS_INVALID_REQUEST, "name");
    json_decref(b);

    b = obj_with_string("description", 0);
    assert_true(fs_validate_string(b, "description", true, 10, &out, &err));
    assert_string_equal(out, "");
    json_decref(b);

    /* The limit is in bytes of UTF-8, not characters: 3 x 2 bytes. */
    b = obj("{\"s\":\"\xc3\xa9\xc3\xa9\xc3\xa9\"}");
    assert_true(fs_validate_string(b, "s", true, 6, &out, &err));
    assert_false(fs_validate_string(b, "s", true, 5, &out, &err));
    assert_err(&err, FS_INVALID_REQUEST, "s");
    json_decref(b);
}

static void string_required_and_optional(void **state)
{
    (void)state;
    const char *out = (const char *)1;
    fs_error_t err;
    json_t *b = obj("{\"other\":\"x\",\"nul\":null}");
    assert_true(fs_validate_string(b, "name", false, 10, &out, &err));
    assert_null(out);
    out = (const char *)1;
    assert_true(fs_validate_string(b, "nul", false, 10, &out, &err));
    assert_null(out);
    assert_false(fs_validate_string(b, "name", true, 10, &out, &err));
    assert_err(&err, FS_INVALID_REQUEST, "name");
    assert_false(fs_validate_string(b, "nul", true, 10, &out, &err));
    assert_err(&err, FS_INVALID_REQUEST, "nul");
    json_decref(b);
}

static void string_rejects_non_strings_and_nul(void **state)
{
    (void)state;
    const char *out;
    fs_error_t err;
    const char *bad[] = {"{\"s\":1}", "{\"s\":true}", "{\"s\":[]}", "{\"s\":{}}",
                         "{\"s\":\"a\\u0000b\"}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *b = obj(bad[i]);
        assert_false(fs_validate_string(b, "s", false, 100, &out, &err));
        assert_err(&err, FS_INVALID_REQUEST, "s");
        json_decref(b);
    }
}

/* ---- fs_validate_id_string and fs_validate_id ---- */

static void id_string_form(void **state)
{
    (void)state;
    assert_true(fs_validate_id_string("acct_abc123XYZ", "acct"));
    assert_true(fs_validate_id_string("acct_a", "acct"));
    assert_true(fs_validate_id_string("pay_0", "pay"));

    assert_false(fs_validate_id_string("acct_", "acct"));
    assert_false(fs_validate_id_string("acct", "acct"));
    assert_false(fs_validate_id_string("", "acct"));
    assert_false(fs_validate_id_string("acctx_abc", "acct"));
    assert_false(fs_validate_id_string("acct-abc", "acct"));
    assert_false(fs_validate_id_string("pay_abc", "acct"));
    assert_false(fs_validate_id_string("ACCT_abc", "acct"));
    assert_false(fs_validate_id_string("acct_ab-c", "acct"));
    assert_false(fs_validate_id_string("acct_ab_c", "acct"));
    assert_false(fs_validate_id_string("acct_ab c", "acct"));
    assert_false(fs_validate_id_string("acct_ab\xc3\xa9", "acct"));
    assert_false(fs_validate_id_string("acct_ab/", "acct"));
    assert_false(fs_validate_id_string("xyz", "acct"));

    char id[FS_ID_LEN_MAX + 2];
    memcpy(id, "acct_", 5);
    memset(id + 5, 'a', FS_ID_LEN_MAX - 5);
    id[FS_ID_LEN_MAX] = '\0';
    assert_true(fs_validate_id_string(id, "acct"));
    id[FS_ID_LEN_MAX] = 'a';
    id[FS_ID_LEN_MAX + 1] = '\0';
    assert_false(fs_validate_id_string(id, "acct"));
}

static void id_in_a_body(void **state)
{
    (void)state;
    const char *out = NULL;
    fs_error_t err;
    json_t *b = obj("{\"from_account\":\"acct_abc\",\"to_account\":\"pay_abc\",\"n\":3}");
    assert_true(fs_validate_id(b, "from_account", "acct", &out, &err));
    assert_string_equal(out, "acct_abc");
    assert_false(fs_validate_id(b, "to_account", "acct", &out, &err));
    assert_err(&err, FS_INVALID_REQUEST, "to_account");
    assert_false(fs_validate_id(b, "n", "acct", &out, &err));
    assert_err(&err, FS_INVALID_REQUEST, "n");
    assert_false(fs_validate_id(b, "missing", "acct", &out, &err));
    assert_err(&err, FS_INVALID_REQUEST, "missing");
    json_decref(b);
}

/* ---- fs_validate_metadata ---- */

static bool metadata(json_t *b, json_t **out, fs_error_t *err)
{
    memset(err, 0, sizeof(*err));
    bool ok = fs_validate_metadata(b, out, err);
    json_decref(b);
    return ok;
}

static json_t *body_with_metadata(size_t keys, size_t key_len, size_t value_len)
{
    json_t *m = json_object();
    char *value = malloc(value_len + 1);
    assert_non_null(value);
    memset(value, 'v', value_len);
    value[value_len] = '\0';
    for (size_t i = 0; i < keys; i++) {
        char key[128];
        assert_true(key_len < sizeof(key) && key_len >= 4);
        memset(key, 'k', key_len);
        key[key_len] = '\0';
        snprintf(key, sizeof(key), "%04zu", i);
        key[4] = key_len > 4 ? 'k' : '\0';
        assert_int_equal(json_object_set_new(m, key, json_string(value)), 0);
    }
    free(value);
    assert_int_equal(json_object_size(m), keys);
    json_t *b = json_object();
    json_object_set_new(b, "metadata", m);
    return b;
}

static void metadata_ok_is_copied(void **state)
{
    (void)state;
    json_t *out = NULL;
    fs_error_t err;
    json_t *b = obj("{\"metadata\":{\"order\":\"42\",\"note\":\"\"}}");
    assert_true(fs_validate_metadata(b, &out, &err));
    assert_non_null(out);
    assert_ptr_not_equal(out, json_object_get(b, "metadata"));
    assert_true(json_equal(out, json_object_get(b, "metadata")));
    json_decref(b);
    /* out is a reference of its own: still valid after the body is gone. */
    assert_string_equal(json_string_value(json_object_get(out, "order")), "42");
    json_decref(out);
}

static void metadata_absent_or_null_is_empty(void **state)
{
    (void)state;
    json_t *out = NULL;
    fs_error_t err;
    assert_true(metadata(obj("{}"), &out, &err));
    assert_true(json_is_object(out));
    assert_int_equal(json_object_size(out), 0);
    json_decref(out);
    out = NULL;
    assert_true(metadata(obj("{\"metadata\":null}"), &out, &err));
    assert_true(json_is_object(out));
    assert_int_equal(json_object_size(out), 0);
    json_decref(out);
    out = NULL;
    assert_true(metadata(obj("{\"metadata\":{}}"), &out, &err));
    assert_true(json_is_object(out));
    json_decref(out);
}

static void metadata_key_count_limit(void **state)
{
    (void)state;
    json_t *out = NULL;
    fs_error_t err;
    assert_true(metadata(body_with_metadata(FS_METADATA_KEYS_MAX, 8, 10), &out, &err));
    assert_int_equal(json_object_size(out), 50);
    json_decref(out);
    out = NULL;
    assert_false(metadata(body_with_metadata(FS_METADATA_KEYS_MAX + 1, 8, 10), &out, &err));
    assert_null(out);
    assert_err(&err, FS_INVALID_REQUEST, "metadata");
}

static void metadata_key_and_value_length_limits(void **state)
{
    (void)state;
    json_t *out = NULL;
    fs_error_t err;
    assert_true(metadata(body_with_metadata(1, FS_METADATA_KEY_LEN_MAX,
                                            FS_METADATA_VALUE_LEN_MAX),
                         &out, &err));
    json_decref(out);
    out = NULL;
    assert_false(metadata(body_with_metadata(1, FS_METADATA_KEY_LEN_MAX + 1, 1), &out, &err));
    assert_null(out);
    assert_err(&err, FS_INVALID_REQUEST, "metadata");
    assert_false(metadata(body_with_metadata(1, 8, FS_METADATA_VALUE_LEN_MAX + 1), &out, &err));
    assert_null(out);
    assert_err(&err, FS_INVALID_REQUEST, "metadata");
    assert_false(metadata(obj("{\"metadata\":{\"\":\"x\"}}"), &out, &err));
    assert_err(&err, FS_INVALID_REQUEST, "metadata");
}

static void metadata_total_size_limit(void **state)
{
    (void)state;
    json_t *out = NULL;
    fs_error_t err;
    /* 16 x (12 + 500) = 8192 bytes exactly: allowed. */
    assert_true(metadata(body_with_metadata(16, 12, 500), &out, &err));
    json_decref(out);
    out = NULL;
    /* 16 x (13 + 500) = 8208 bytes: over. */
    assert_false(metadata(body_with_metadata(16, 13, 500), &out, &err));
    assert_null(out);
    assert_err(&err, FS_INVALID_REQUEST, "metadata");
    /* 20 x (10 + 500) = 10200 bytes. */
    assert_false(metadata(body_with_metadata(20, 10, 500), &out, &err));
    assert_err(&err, FS_INVALID_REQUEST, "metadata");
}

static void metadata_values_must_be_strings(void **state)
{
    (void)state;
    const char *bad[] = {
        "{\"metadata\":{\"a\":1}}",     "{\"metadata\":{\"a\":null}}",
        "{\"metadata\":{\"a\":true}}",  "{\"metadata\":{\"a\":{\"b\":\"c\"}}}",
        "{\"metadata\":{\"a\":[\"b\"]}}", "{\"metadata\":{\"a\":\"x\\u0000y\"}}",
        "{\"metadata\":[]}",            "{\"metadata\":\"x\"}",
        "{\"metadata\":1}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *out = NULL;
        fs_error_t err;
        assert_false(metadata(obj(bad[i]), &out, &err));
        assert_null(out);
        assert_err(&err, FS_INVALID_REQUEST, "metadata");
    }
}

/* ---- fs_validate_list_query ---- */

static bool list(const char *query, json_t **item, fs_error_t *err)
{
    static const char *const extra[] = {"account", "status", NULL};
    *item = json_object();
    memset(err, 0, sizeof(*err));
    return fs_validate_list_query(query, "pay", extra, *item, err);
}

static void list_query_defaults(void **state)
{
    (void)state;
    json_t *item;
    fs_error_t err;
    assert_true(list(NULL, &item, &err));
    assert_int_equal(json_integer_value(json_object_get(item, "limit")), FS_PAGE_LIMIT_DEFAULT);
    assert_int_equal(json_integer_value(json_object_get(item, "limit")), 10);
    assert_null(json_object_get(item, "after"));
    assert_int_equal(json_object_size(item), 1);
    json_decref(item);
    assert_true(list("", &item, &err));
    assert_int_equal(json_integer_value(json_object_get(item, "limit")), 10);
    json_decref(item);
}

static void list_query_limit_bounds(void **state)
{
    (void)state;
    json_t *item;
    fs_error_t err;
    assert_true(list("limit=1", &item, &err));
    assert_int_equal(json_integer_value(json_object_get(item, "limit")), 1);
    json_decref(item);
    assert_true(list("limit=100", &item, &err));
    assert_int_equal(json_integer_value(json_object_get(item, "limit")), 100);
    json_decref(item);
    assert_true(list("limit=37", &item, &err));
    assert_int_equal(json_integer_value(json_object_get(item, "limit")), 37);
    json_decref(item);

    const char *bad[] = {"limit=0",   "limit=101", "limit=abc", "limit=",
                         "limit=-1",  "limit=1.5", "limit=10x", "limit=99999999999999999999",
                         "limit=1e2", "limit=0x10"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_false(list(bad[i], &item, &err));
        assert_err(&err, FS_INVALID_REQUEST, "limit");
        json_decref(item);
    }
}

static void list_query_names_unknown_params(void **state)
{
    (void)state;
    json_t *item;
    fs_error_t err;
    assert_false(list("limt=5", &item, &err));
    assert_err(&err, FS_INVALID_REQUEST, "limt");
    assert_non_null(strstr(err.message, "limt"));
    json_decref(item);
    assert_false(list("limit=5&foo=bar", &item, &err));
    assert_err(&err, FS_INVALID_REQUEST, "foo");
    json_decref(item);
    /* "after" is the item's name, not a query parameter. */
    assert_false(list("after=pay_abc", &item, &err));
    assert_err(&err, FS_INVALID_REQUEST, "after");
    json_decref(item);
}

static void list_query_starting_after(void **state)
{
    (void)state;
    json_t *item;
    fs_error_t err;
    assert_true(list("starting_after=pay_abc123&limit=5", &item, &err));
    assert_string_equal(json_string_value(json_object_get(item, "after")), "pay_abc123");
    assert_int_equal(json_integer_value(json_object_get(item, "limit")), 5);
    json_decref(item);

    const char *bad[] = {"starting_after=acct_abc", "starting_after=pay_", "starting_after=",
                         "starting_after=pay_a-b", "starting_after=xyz"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_false(list(bad[i], &item, &err));
        assert_err(&err, FS_INVALID_REQUEST, "starting_after");
        assert_null(json_object_get(item, "after"));
        json_decref(item);
    }
}

static void list_query_extra_params(void **state)
{
    (void)state;
    json_t *item;
    fs_error_t err;
    assert_true(list("account=acct_abc&status=pending", &item, &err));
    assert_string_equal(json_string_value(json_object_get(item, "account")), "acct_abc");
    assert_string_equal(json_string_value(json_object_get(item, "status")), "pending");
    json_decref(item);

    assert_false(list("status=", &item, &err));
    assert_err(&err, FS_INVALID_REQUEST, "status");
    json_decref(item);

    char q[200];
    snprintf(q, sizeof(q), "account=%0*d", FS_ID_LEN_MAX + 1, 0);
    assert_false(list(q, &item, &err));
    assert_err(&err, FS_INVALID_REQUEST, "account");
    json_decref(item);

    assert_false(list("status=pending&status=failed", &item, &err));
    assert_err(&err, FS_INVALID_REQUEST, "status");
    json_decref(item);

    /* Invalid UTF-8 once decoded. */
    assert_false(list("status=%FF", &item, &err));
    assert_err(&err, FS_INVALID_REQUEST, "status");
    json_decref(item);
}

/* Checks that query is rejected naming param; the item is freed before any
 * assertion so that a failure does not also show up as a leak. */
static void list_rejects(const char *query, const char *param)
{
    json_t *item;
    fs_error_t err;
    bool ok = list(query, &item, &err);
    json_decref(item);
    if (ok) fail_msg("query \"%s\" was accepted; expected an error naming %s", query,
                     param != NULL ? param : "no parameter");
    assert_err(&err, FS_INVALID_REQUEST, param);
}

static void list_query_rejects_malformed_strings(void **state)
{
    (void)state;
    const char *bad[] = {"a", "limit", "=x", "&&"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) list_rejects(bad[i], NULL);
}

static void list_query_rejects_repeated_starting_after(void **state)
{
    (void)state;
    /* A parameter given twice is ambiguous; the extras are rejected so, and
     * starting_after should be too. */
    list_rejects("starting_after=pay_a&starting_after=pay_b", "starting_after");
}

static void list_query_rejects_repeated_limit(void **state)
{
    (void)state;
    list_rejects("limit=5&limit=50", "limit");
}

static void list_query_rejects_encoded_nul(void **state)
{
    (void)state;
    /* %00 decodes to a NUL byte: the value must not be silently cut there
     * ("acct_a%00b" is not "acct_a"). */
    list_rejects("account=acct_a%00b", "account");
    list_rejects("status=pending%00x", "status");
    list_rejects("starting_after=pay_a%00b", "starting_after");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(body_empty_is_an_empty_object),
        cmocka_unit_test(body_object_is_parsed),
        cmocka_unit_test(body_uses_only_len_bytes),
        cmocka_unit_test(body_rejects_malformed_json),
        cmocka_unit_test(body_rejects_invalid_utf8),
        cmocka_unit_test(body_rejects_non_objects),
        cmocka_unit_test(body_rejects_duplicate_keys),
        cmocka_unit_test(body_names_the_key_of_a_too_large_integer),
        cmocka_unit_test(body_accepts_int64_extremes),
        cmocka_unit_test(known_fields_names_the_unknown_one),
        cmocka_unit_test(amount_must_be_a_positive_integer),
        cmocka_unit_test(amount_accepts_1_to_int64_max),
        cmocka_unit_test(amount_names_the_given_field),
        cmocka_unit_test(currency_must_be_supported_upper_case),
        cmocka_unit_test(string_length_limits),
        cmocka_unit_test(string_required_and_optional),
        cmocka_unit_test(string_rejects_non_strings_and_nul),
        cmocka_unit_test(id_string_form),
        cmocka_unit_test(id_in_a_body),
        cmocka_unit_test(metadata_ok_is_copied),
        cmocka_unit_test(metadata_absent_or_null_is_empty),
        cmocka_unit_test(metadata_key_count_limit),
        cmocka_unit_test(metadata_key_and_value_length_limits),
        cmocka_unit_test(metadata_total_size_limit),
        cmocka_unit_test(metadata_values_must_be_strings),
        cmocka_unit_test(list_query_defaults),
        cmocka_unit_test(list_query_limit_bounds),
        cmocka_unit_test(list_query_names_unknown_params),
        cmocka_unit_test(list_query_starting_after),
        cmocka_unit_test(list_query_extra_params),
        cmocka_unit_test(list_query_rejects_malformed_strings),
        cmocka_unit_test(list_query_rejects_repeated_starting_after),
        cmocka_unit_test(list_query_rejects_repeated_limit),
        cmocka_unit_test(list_query_rejects_encoded_nul),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
