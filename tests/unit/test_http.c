/* Unit tests of src/http/outcome.c: the outcome table and error bodies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "../../src/http/http.h"

static void every_outcome_has_a_status_and_a_code(void **state)
{
    (void)state;
    for (int i = 0; i < FS_OUTCOME_COUNT; i++) {
        fs_outcome_t o = (fs_outcome_t)i;
        int status = fs_http_status(o);
        assert_in_range(status, 100, 599);
        const char *code = fs_http_outcome_code(o);
        assert_non_null(code);
        assert_true(strlen(code) > 0);
        for (const char *c = code; *c != '\0'; c++) {
            assert_true((*c >= 'a' && *c <= 'z') || *c == '_');
        }
        /* Errors have a type; successes are 2xx. */
        if (status >= 400) {
            assert_non_null(fs_http_error_type(o));
        } else {
            assert_in_range(status, 200, 299);
        }
    }
}

static void codes_are_unique(void **state)
{
    (void)state;
    for (int i = 0; i < FS_OUTCOME_COUNT; i++) {
        for (int j = i + 1; j < FS_OUTCOME_COUNT; j++) {
            assert_string_not_equal(fs_http_outcome_code((fs_outcome_t)i),
                                    fs_http_outcome_code((fs_outcome_t)j));
        }
    }
}

static void parse_inverts_code(void **state)
{
    (void)state;
    for (int i = 0; i < FS_OUTCOME_COUNT; i++) {
        fs_outcome_t o = (fs_outcome_t)i;
        assert_int_equal(fs_http_outcome_parse(fs_http_outcome_code(o)), o);
    }
}

static void parse_of_unknown_name_is_internal(void **state)
{
    (void)state;
    assert_int_equal(fs_http_outcome_parse("no_such_outcome"), FS_INTERNAL);
    assert_int_equal(fs_http_outcome_parse(""), FS_INTERNAL);
    assert_int_equal(fs_http_outcome_parse("Created"), FS_INTERNAL);
    assert_int_equal(fs_http_outcome_parse("created "), FS_INTERNAL);
    assert_int_equal(fs_http_outcome_parse("insufficient"), FS_INTERNAL);
}

static void known_statuses(void **state)
{
    (void)state;
    assert_int_equal(fs_http_status(FS_OK), 200);
    assert_int_equal(fs_http_status(FS_CREATED), 201);
    assert_int_equal(fs_http_status(FS_INVALID_REQUEST), 400);
    assert_int_equal(fs_http_status(FS_UNAUTHORIZED), 401);
    assert_int_equal(fs_http_status(FS_INSUFFICIENT_FUNDS), 402);
    assert_int_equal(fs_http_status(FS_NOT_FOUND), 404);
    assert_int_equal(fs_http_status(FS_METHOD_NOT_ALLOWED), 405);
    assert_int_equal(fs_http_status(FS_REQUEST_TOO_LARGE), 413);
    assert_int_equal(fs_http_status(FS_IDEMPOTENCY_KEY_MISSING), 400);
    assert_int_equal(fs_http_status(FS_IDEMPOTENCY_KEY_REUSE), 422);
    assert_int_equal(fs_http_status(FS_IDEMPOTENCY_KEY_IN_USE), 409);
    assert_int_equal(fs_http_status(FS_OVERLOADED), 503);
    assert_int_equal(fs_http_status(FS_UNAVAILABLE), 503);
    assert_int_equal(fs_http_status(FS_INTERNAL), 500);
    assert_string_equal(fs_http_outcome_code(FS_INSUFFICIENT_FUNDS), "insufficient_funds");
    assert_string_equal(fs_http_error_type(FS_UNAUTHORIZED), "authentication_error");
    /* Risk rules (docs/risk.md). */
    assert_int_equal(fs_http_status(FS_PAYMENT_BLOCKED), 402);
    assert_string_equal(fs_http_error_type(FS_PAYMENT_BLOCKED), "payment_error");
    assert_int_equal(fs_http_outcome_parse("payment_blocked"), FS_PAYMENT_BLOCKED);
    assert_int_equal(fs_http_status(FS_PAYMENT_NOT_REVIEWABLE), 409);
    assert_string_equal(fs_http_error_type(FS_PAYMENT_NOT_REVIEWABLE), "invalid_request_error");
    assert_int_equal(fs_http_outcome_parse("payment_not_reviewable"), FS_PAYMENT_NOT_REVIEWABLE);
}

/* Parses an error body and checks its shape; returns the "error" object
 * inside *doc (the caller decrefs *doc). */
static json_t *parse_error_body(char *text, json_t **doc)
{
    assert_non_null(text);
    json_error_t jerr;
    *doc = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    free(text);
    assert_non_null(*doc);
    assert_int_equal(json_object_size(*doc), 1);
    json_t *e = json_object_get(*doc, "error");
    assert_true(json_is_object(e));
    assert_int_equal(json_object_size(e), 4);
    assert_true(json_is_string(json_object_get(e, "type")));
    assert_true(json_is_string(json_object_get(e, "code")));
    assert_true(json_is_string(json_object_get(e, "message")));
    assert_non_null(json_object_get(e, "param"));
    return e;
}

static void error_body_has_type_code_message_param(void **state)
{
    (void)state;
    json_t *doc;
    json_t *e = parse_error_body(
        fs_http_error_body(FS_INVALID_REQUEST, "amount must be at least 1.", "amount"), &doc);
    assert_string_equal(json_string_value(json_object_get(e, "type")), "invalid_request_error");
    assert_string_equal(json_string_value(json_object_get(e, "code")), "invalid_request");
    assert_string_equal(json_string_value(json_object_get(e, "message")),
                        "amount must be at least 1.");
    assert_string_equal(json_string_value(json_object_get(e, "param")), "amount");
    json_decref(doc);

    e = parse_error_body(fs_http_error_body(FS_NOT_FOUND, "No such account.", NULL), &doc);
    assert_string_equal(json_string_value(json_object_get(e, "code")), "not_found");
    assert_true(json_is_null(json_object_get(e, "param")));
    json_decref(doc);
}

static void error_body_for_every_error_outcome(void **state)
{
    (void)state;
    for (int i = 0; i < FS_OUTCOME_COUNT; i++) {
        fs_outcome_t o = (fs_outcome_t)i;
        if (fs_http_status(o) < 400) continue;
        json_t *doc;
        json_t *e = parse_error_body(fs_http_error_body(o, "m", NULL), &doc);
        assert_string_equal(json_string_value(json_object_get(e, "code")),
                            fs_http_outcome_code(o));
        assert_string_equal(json_string_value(json_object_get(e, "type")),
                            fs_http_error_type(o));
        json_decref(doc);
    }
}

static void error_body_escapes_json(void **state)
{
    (void)state;
    const char *msg = "quote \" backslash \\ newline \n tab \t caf\xc3\xa9";
    json_t *doc;
    json_t *e = parse_error_body(fs_http_error_body(FS_INVALID_REQUEST, msg, "a\"b"), &doc);
    assert_string_equal(json_string_value(json_object_get(e, "message")), msg);
    assert_string_equal(json_string_value(json_object_get(e, "param")), "a\"b");
    json_decref(doc);
}

static void error_body_survives_invalid_utf8(void **state)
{
    (void)state;
    json_t *doc;
    json_t *e = parse_error_body(
        fs_http_error_body(FS_NOT_FOUND, "Unrecognized request URL: /\xff\xfe\x80x.", NULL),
        &doc);
    const char *m = json_string_value(json_object_get(e, "message"));
    assert_non_null(strstr(m, "Unrecognized request URL: /"));
    assert_non_null(strstr(m, "x."));
    assert_null(strchr(m, '\xff'));
    json_decref(doc);

    /* A truncated multi-byte sequence, and invalid UTF-8 in param too. */
    e = parse_error_body(fs_http_error_body(FS_INVALID_REQUEST, "caf\xc3", "k\xe9y"), &doc);
    assert_non_null(json_string_value(json_object_get(e, "message")));
    assert_non_null(json_string_value(json_object_get(e, "param")));
    json_decref(doc);
}

static void error_body_survives_a_long_invalid_message(void **state)
{
    (void)state;
    char msg[2000];
    memset(msg, 'a', sizeof(msg) - 1);
    msg[sizeof(msg) - 1] = '\0';
    msg[10] = '\xff';
    json_t *doc;
    json_t *e = parse_error_body(fs_http_error_body(FS_INTERNAL, msg, NULL), &doc);
    assert_true(strlen(json_string_value(json_object_get(e, "message"))) > 0);
    json_decref(doc);
}

/* The store's error payload may say more than message and param: a blocked
 * payment's {"message", "param", "rule", "risk"} (docs/risk.md). The rest
 * goes into the error object as it is; the four every error has stay the
 * outcome's and the arguments'. */
static void error_body_carries_more_fields(void **state)
{
    (void)state;
    json_t *payload = json_loads(
        "{\"message\" : \"A risk rule blocked the payment.\", \"param\" : null, \"rule\" : "
        "\"rr_1\", \"risk\" : {\"score\" : 90, \"decision\" : \"block\", \"rules_matched\" : "
        "[{\"id\" : \"rr_1\", \"action\" : \"block\", \"mode\" : \"active\"}]}, \"code\" : \"x\", "
        "\"type\" : \"y\"}",
        0, NULL);
    assert_non_null(payload);
    char *text = fs_http_error_body_with(FS_PAYMENT_BLOCKED, "Blocked.", NULL, payload);
    assert_non_null(text);
    json_t *doc = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    free(text);
    assert_int_equal(json_object_size(doc), 1);
    json_t *e = json_object_get(doc, "error");
    assert_string_equal(json_string_value(json_object_get(e, "code")), "payment_blocked");
    assert_string_equal(json_string_value(json_object_get(e, "type")), "payment_error");
    assert_string_equal(json_string_value(json_object_get(e, "message")), "Blocked.");
    assert_true(json_is_null(json_object_get(e, "param")));
    assert_string_equal(json_string_value(json_object_get(e, "rule")), "rr_1");
    assert_true(json_equal(json_object_get(e, "risk"), json_object_get(payload, "risk")));
    assert_int_equal(json_object_size(e), 6);
    json_decref(doc);
    json_decref(payload);
    /* No fields: the four (parse_error_body checks). */
    e = parse_error_body(fs_http_error_body_with(FS_NOT_FOUND, "m", "id", NULL), &doc);
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_outcome_has_a_status_and_a_code),
        cmocka_unit_test(codes_are_unique),
        cmocka_unit_test(parse_inverts_code),
        cmocka_unit_test(parse_of_unknown_name_is_internal),
        cmocka_unit_test(known_statuses),
        cmocka_unit_test(error_body_has_type_code_message_param),
        cmocka_unit_test(error_body_for_every_error_outcome),
        cmocka_unit_test(error_body_escapes_json),
        cmocka_unit_test(error_body_survives_invalid_utf8),
        cmocka_unit_test(error_body_survives_a_long_invalid_message),
        cmocka_unit_test(error_body_carries_more_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
