/* Unit tests of src/api: routing and request checks (fs_api_route is pure). */
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
#include "../../src/auth/auth.h"
#include "../../src/idempotency/idempotency.h"
#include "../../src/op/op.h"

#define KEY "Bearer fsk_test"
/* printf %s fsk_test | sha256sum */
#define KEY_HASH "67148fb46828a0fa6ce3ad65299d65162b647b04c9f6cc4cc2d16323bca942d4"
#define IDEM "idem-1"

static int setup(void **state)
{
    (void)state;
    return sodium_init() < 0 ? -1 : 0;
}

static void route(fs_method_t method, const char *path, const char *query, const char *body,
                  const char *authorization, const char *idem, fs_api_result_t *res)
{
    fs_api_request_t req = {
        .method = method,
        .path = path,
        .query = query,
        .body = body,
        .body_len = body != NULL ? strlen(body) : 0,
        .authorization = authorization,
        .idempotency_key = idem,
    };
    memset(res, 0xAB, sizeof(*res));
    fs_api_route(&req, res);
}

static void assert_rejected(const fs_api_result_t *res, fs_outcome_t outcome, const char *param)
{
    assert_int_equal(res->action, FS_API_REJECT);
    assert_null(res->item);
    assert_int_equal(res->err.outcome, outcome);
    if (param == NULL) {
        assert_null(res->err.param);
    } else {
        assert_non_null(res->err.param);
        assert_string_equal(res->err.param, param);
    }
    assert_true(strlen(res->err.message) > 0);
}

static const char *str(const json_t *item, const char *name)
{
    const char *s = json_string_value(json_object_get(item, name));
    assert_non_null(s);
    return s;
}

static bool is_id(const char *s, const char *prefix)
{
    size_t p = strlen(prefix);
    if (strncmp(s, prefix, p) != 0 || s[p] != '_') return false;
    if (strlen(s) != p + 1 + FS_ID_RANDOM_LEN) return false;
    for (const char *c = s + p + 1; *c != '\0'; c++) {
        bool ok = (*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z');
        if (!ok) return false;
    }
    return true;
}

static bool is_hex64(const char *s)
{
    if (strlen(s) != 64) return false;
    for (; *s != '\0'; s++) {
        if (strchr("0123456789abcdef", *s) == NULL) return false;
    }
    return true;
}

/* ---- routing ---- */

static void unknown_routes_are_not_found(void **state)
{
    (void)state;
    const char *paths[] = {
        "",
        "/",
        "v1/accounts",
        "/v1",
        "/v2/accounts",
        "/V1/accounts",
        "/v1/Accounts",
        "/v1/foo",
        "/v1/foo/bar",
        "/v1/accounts/acct_a/foo",
        "/v1/accounts/acct_a/cancel",
        "/v1/payments/pay_a/deposits",
        "/v1/accounts/acct_a/deposits/dep_a",
        "/v1/accounts/acct_a/deposits/dep_a/x",
        "/healthz/x",
        "/healthzz",
        "/readyz/x",
        "/accounts",
        "/v1/accounts/acct_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        /* The admin API is src/admin's (the server sends /admin/api there). */
        "/admin/api/dead-letters",
        "/admin/api/dead-letters/all/replay",
        "/admin/api/dead-letters/pay_a/replay",
        "/admin/api/accounts/acct_a/adjustments",
        "/admin/api/accounts/acct_a/freeze",
        "/admin/api/accounts/acct_a/unfreeze",
        "/admin/api/accounts/acct_a/close",
    };
    fs_api_result_t res;
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        /* Not found wins over missing credentials. */
        route(FS_METHOD_GET, paths[i], NULL, NULL, NULL, NULL, &res);
        assert_rejected(&res, FS_NOT_FOUND, NULL);
        route(FS_METHOD_POST, paths[i], NULL, "{}", KEY, IDEM, &res);
        assert_rejected(&res, FS_NOT_FOUND, NULL);
    }
}

static void empty_segments_are_not_found(void **state)
{
    (void)state;
    const char *paths[] = {
        "/v1/",
        "/v1/accounts/",
        "/v1/payments/",
        "/v1/accounts/acct_a/",
        "/v1/accounts/acct_a/deposits/",
        "/v1/payments/pay_a/cancel/",
        "/healthz/",
        "//v1/accounts",
        "/v1//accounts",
        "/v1/accounts//acct_a",
        "/v1/accounts/acct_a//deposits",
        "//",
        "///",
    };
    fs_api_result_t res;
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        route(FS_METHOD_GET, paths[i], NULL, NULL, KEY, NULL, &res);
        assert_rejected(&res, FS_NOT_FOUND, NULL);
        route(FS_METHOD_POST, paths[i], NULL, "{}", KEY, IDEM, &res);
        assert_rejected(&res, FS_NOT_FOUND, NULL);
    }
}

static void not_found_survives_odd_paths(void **state)
{
    (void)state;
    fs_api_result_t res;
    route(FS_METHOD_GET, "/\xff\xfe/\x01", NULL, NULL, KEY, NULL, &res);
    assert_rejected(&res, FS_NOT_FOUND, NULL);

    char long_path[4096];
    memset(long_path, 'a', sizeof(long_path) - 1);
    long_path[0] = '/';
    long_path[sizeof(long_path) - 1] = '\0';
    route(FS_METHOD_GET, long_path, NULL, NULL, KEY, NULL, &res);
    assert_rejected(&res, FS_NOT_FOUND, NULL);
    assert_true(strlen(res.err.message) < sizeof(res.err.message));
}

static void wrong_method_is_not_allowed(void **state)
{
    (void)state;
    struct {
        fs_method_t method;
        const char *path;
        const char *allow;
    } cases[] = {
        {FS_METHOD_OTHER, "/v1/accounts", "GET, POST"},
        {FS_METHOD_OTHER, "/v1/payments", "GET, POST"},
        {FS_METHOD_POST, "/v1/accounts/acct_a", "GET"},
        {FS_METHOD_OTHER, "/v1/accounts/acct_a", "GET"},
        {FS_METHOD_POST, "/v1/payments/pay_a", "GET"},
        {FS_METHOD_GET, "/v1/accounts/acct_a/deposits", "POST"},
        {FS_METHOD_OTHER, "/v1/accounts/acct_a/deposits", "POST"},
        {FS_METHOD_GET, "/v1/payments/pay_a/cancel", "POST"},
        {FS_METHOD_POST, "/healthz", "GET"},
        {FS_METHOD_POST, "/readyz", "GET"},
        {FS_METHOD_OTHER, "/healthz", "GET"},
    };
    fs_api_result_t res;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        /* Checked before credentials. */
        route(cases[i].method, cases[i].path, NULL, NULL, NULL, NULL, &res);
        assert_rejected(&res, FS_METHOD_NOT_ALLOWED, NULL);
        assert_non_null(res.allow);
        assert_string_equal(res.allow, cases[i].allow);
        route(cases[i].method, cases[i].path, NULL, "{}", KEY, IDEM, &res);
        assert_rejected(&res, FS_METHOD_NOT_ALLOWED, NULL);
        assert_string_equal(res.allow, cases[i].allow);
    }
}

static void health_needs_no_credentials(void **state)
{
    (void)state;
    fs_api_result_t res;
    route(FS_METHOD_GET, "/healthz", NULL, NULL, NULL, NULL, &res);
    assert_int_equal(res.action, FS_API_HEALTH);
    assert_null(res.item);
    route(FS_METHOD_GET, "/healthz", NULL, NULL, "Basic x", NULL, &res);
    assert_int_equal(res.action, FS_API_HEALTH);
    assert_null(res.item);
    route(FS_METHOD_GET, "/readyz", NULL, NULL, NULL, NULL, &res);
    assert_int_equal(res.action, FS_API_READY);
    assert_null(res.item);
}

/* ---- credentials ---- */

static void missing_or_malformed_key_is_unauthorized(void **state)
{
    (void)state;
    const char *bad[] = {NULL, "", "Basic x", "Bearer ", "Bearer a b", "fsk_test", "Bearer \x01"};
    fs_api_result_t res;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        route(FS_METHOD_GET, "/v1/accounts", NULL, NULL, bad[i], NULL, &res);
        assert_rejected(&res, FS_UNAUTHORIZED, NULL);
        route(FS_METHOD_GET, "/v1/accounts/acct_a", NULL, NULL, bad[i], NULL, &res);
        assert_rejected(&res, FS_UNAUTHORIZED, NULL);
        /* Before the Idempotency-Key and the body. */
        route(FS_METHOD_POST, "/v1/payments", NULL, "not json", bad[i], NULL, &res);
        assert_rejected(&res, FS_UNAUTHORIZED, NULL);
    }
}

static void item_carries_the_key_hash(void **state)
{
    (void)state;
    fs_api_result_t res;
    route(FS_METHOD_GET, "/v1/accounts", NULL, NULL, KEY, NULL, &res);
    assert_int_equal(res.action, FS_API_STORE);
    assert_string_equal(str(res.item, "auth"), KEY_HASH);
    /* The key itself is never in the item. */
    char *text = json_dumps(res.item, JSON_COMPACT);
    assert_non_null(text);
    assert_null(strstr(text, "fsk_test"));
    free(text);
    json_decref(res.item);
}

/* ---- POST checks ---- */

static void post_needs_an_idempotency_key(void **state)
{
    (void)state;
    fs_api_result_t res;
    const char *body = "{\"currency\":\"USD\"}";
    route(FS_METHOD_POST, "/v1/accounts", NULL, body, KEY, NULL, &res);
    assert_rejected(&res, FS_IDEMPOTENCY_KEY_MISSING, "Idempotency-Key");
    route(FS_METHOD_POST, "/v1/accounts", NULL, body, KEY, "", &res);
    assert_rejected(&res, FS_INVALID_REQUEST, "Idempotency-Key");
    route(FS_METHOD_POST, "/v1/accounts", NULL, body, KEY, "a\x7f", &res);
    assert_rejected(&res, FS_INVALID_REQUEST, "Idempotency-Key");
    route(FS_METHOD_POST, "/v1/payments/pay_a/cancel", NULL, NULL, KEY, NULL, &res);
    assert_rejected(&res, FS_IDEMPOTENCY_KEY_MISSING, "Idempotency-Key");
}

static void get_needs_no_idempotency_key(void **state)
{
    (void)state;
    fs_api_result_t res;
    route(FS_METHOD_GET, "/v1/accounts/acct_abc", NULL, NULL, KEY, NULL, &res);
    assert_int_equal(res.action, FS_API_STORE);
    assert_null(json_object_get(res.item, "idem"));
    assert_null(json_object_get(res.item, "fp"));
    json_decref(res.item);
}

static void body_too_large(void **state)
{
    (void)state;
    fs_api_result_t res;
    size_t n = FS_BODY_MAX_BYTES + 1;
    char *big = malloc(n + 1);
    assert_non_null(big);
    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    big[n] = '\0';
    fs_api_request_t req = {
        .method = FS_METHOD_POST,
        .path = "/v1/payments/pay_abc/cancel",
        .body = big,
        .body_len = n,
        .authorization = KEY,
        .idempotency_key = IDEM,
    };
    fs_api_route(&req, &res);
    assert_rejected(&res, FS_REQUEST_TOO_LARGE, "body");

    /* Exactly the limit is fine. */
    big[n - 2] = '}';
    req.body_len = n - 1;
    fs_api_route(&req, &res);
    assert_int_equal(res.action, FS_API_STORE);
    assert_string_equal(str(res.item, "op"), "payment_cancel");
    json_decref(res.item);
    free(big);
}

static void post_query_is_rejected(void **state)
{
    (void)state;
    fs_api_result_t res;
    route(FS_METHOD_POST, "/v1/accounts", "currency=USD", "{\"currency\":\"USD\"}", KEY, IDEM,
          &res);
    assert_rejected(&res, FS_INVALID_REQUEST, NULL);
    route(FS_METHOD_POST, "/v1/accounts", "", "{\"currency\":\"USD\"}", KEY, IDEM, &res);
    assert_int_equal(res.action, FS_API_STORE);
    json_decref(res.item);
}

static void post_body_must_be_valid(void **state)
{
    (void)state;
    fs_api_result_t res;
    route(FS_METHOD_POST, "/v1/accounts", NULL, "{\"currency\":", KEY, IDEM, &res);
    assert_rejected(&res, FS_INVALID_REQUEST, NULL);
    route(FS_METHOD_POST, "/v1/accounts", NULL, "[]", KEY, IDEM, &res);
    assert_rejected(&res, FS_INVALID_REQUEST, NULL);
    route(FS_METHOD_POST, "/v1/accounts", NULL, "{\"currency\":\"USD\",\"currency\":\"EUR\"}",
          KEY, IDEM, &res);
    assert_rejected(&res, FS_INVALID_REQUEST, NULL);
    route(FS_METHOD_POST, "/v1/accounts/acct_abc/deposits", NULL,
          "{\"amount\":9223372036854775808}", KEY, IDEM, &res);
    assert_rejected(&res, FS_INVALID_REQUEST, "amount");
    route(FS_METHOD_POST, "/v1/accounts", NULL, "{\"currency\":\"USD\",\"colour\":\"red\"}", KEY,
          IDEM, &res);
    assert_rejected(&res, FS_INVALID_REQUEST, "colour");
    route(FS_METHOD_POST, "/v1/accounts", NULL, NULL, KEY, IDEM, &res);
    assert_rejected(&res, FS_INVALID_REQUEST, "currency");
}

/* ---- payments ---- */

#define PAYMENT                                                                     \
    "{\"from_account\":\"acct_from1\",\"to_account\":\"acct_to2\",\"amount\":1050," \
    "\"currency\":\"USD\"}"

static void payment_create_item(void **state)
{
    (void)state;
    fs_api_result_t res;
    route(FS_METHOD_POST, "/v1/payments", NULL, PAYMENT, KEY, IDEM, &res);
    assert_int_equal(res.action, FS_API_STORE);
    json_t *item = res.item;
    assert_non_null(item);
    assert_string_equal(str(item, "op"), "payment_create");
    assert_string_equal(str(item, "auth"), KEY_HASH);
    assert_true(is_hex64(str(item, "auth")));
    assert_string_equal(str(item, "idem"), IDEM);
    assert_true(is_hex64(str(item, "fp")));
    assert_true(is_id(str(item, "id"), "pay"));
    assert_memory_equal(str(item, "id"), "pay_", 4);
    assert_string_equal(str(item, "from"), "acct_from1");
    assert_string_equal(str(item, "to"), "acct_to2");
    assert_true(json_is_integer(json_object_get(item, "amount")));
    assert_int_equal(json_integer_value(json_object_get(item, "amount")), 1050);
    assert_string_equal(str(item, "currency"), "USD");
    assert_true(json_is_null(json_object_get(item, "description")));
    assert_true(json_is_object(json_object_get(item, "metadata")));
    assert_int_equal(json_object_size(json_object_get(item, "metadata")), 0);

    /* The fingerprint is that of the canonical request. */
    json_error_t jerr;
    json_t *body = json_loads(PAYMENT, 0, &jerr);
    assert_non_null(body);
    /* The fingerprint covers the API key's hash with the path. */
    char fp[FS_IDEMPOTENCY_FP_HEX_LEN + 1], scoped[256];
    snprintf(scoped, sizeof(scoped), "%s /v1/payments", str(item, "auth"));
    fs_idempotency_fingerprint("POST", scoped, body, fp);
    assert_string_equal(str(item, "fp"), fp);
    json_decref(body);
    json_decref(item);
}

static void payment_create_with_description_and_metadata(void **state)
{
    (void)state;
    fs_api_result_t res;
    route(FS_METHOD_POST, "/v1/payments", NULL,
          "{\"from_account\":\"acct_a\",\"to_account\":\"acct_b\",\"amount\":9223372036854775807,"
          "\"currency\":\"JPY\",\"description\":\"Rent\",\"metadata\":{\"order\":\"42\"}}",
          KEY, IDEM, &res);
    assert_int_equal(res.action, FS_API_STORE);
    assert_true(json_integer_value(json_object_get(res.item, "amount")) == INT64_MAX);
    assert_string_equal(str(res.item, "currency"), "JPY");
    assert_string_equal(str(res.item, "description"), "Rent");
    assert_string_equal(str(json_object_get(res.item, "metadata"), "order"), "42");
    json_decref(res.item);
}

static void payment_ids_differ_but_fingerprints_match(void **state)
{
    (void)state;
    fs_api_result_t a, b;
    route(FS_METHOD_POST, "/v1/payments", NULL, PAYMENT, KEY, IDEM, &a);
    route(FS_METHOD_POST, "/v1/payments", NULL,
          "{ \"currency\": \"USD\", \"amount\": 1050,\n \"to_account\": \"acct_to2\", "
          "\"from_account\": \"acct_from1\" }",
          KEY, IDEM, &b);
    assert_int_equal(a.action, FS_API_STORE);
    assert_int_equal(b.action, FS_API_STORE);
    assert_string_equal(str(a.item, "fp"), str(b.item, "fp"));
    assert_string_not_equal(str(a.item, "id"), str(b.item, "id"));
    json_decref(b.item);

    route(FS_METHOD_POST, "/v1/payments", NULL,
          "{\"from_account\":\"acct_from1\",\"to_account\":\"acct_to2\",\"amount\":1051,"
          "\"currency\":\"USD\"}",
          KEY, IDEM, &b);
    assert_int_equal(b.action, FS_API_STORE);
    assert_string_not_equal(str(a.item, "fp"), str(b.item, "fp"));
    json_decref(b.item);
    json_decref(a.item);
}

static void payment_checks_name_the_parameter(void **state)
{
    (void)state;
    struct {
        const char *body;
        const char *param;
    } cases[] = {
        {"{\"from_account\":\"acct_a\",\"to_account\":\"acct_a\",\"amount\":1,"
         "\"currency\":\"USD\"}",
         "to_account"},
        {"{\"to_account\":\"acct_a\",\"amount\":1,\"currency\":\"USD\"}", "from_account"},
        {"{\"from_account\":\"pay_a\",\"to_account\":\"acct_b\",\"amount\":1,"
         "\"currency\":\"USD\"}",
         "from_account"},
        {"{\"from_account\":\"acct_a\",\"to_account\":\"acct b\",\"amount\":1,"
         "\"currency\":\"USD\"}",
         "to_account"},
        {"{\"from_account\":\"acct_a\",\"to_account\":\"acct_b\",\"amount\":0,"
         "\"currency\":\"USD\"}",
         "amount"},
        {"{\"from_account\":\"acct_a\",\"to_account\":\"acct_b\",\"amount\":\"5\","
         "\"currency\":\"USD\"}",
         "amount"},
        {"{\"from_account\":\"acct_a\",\"to_account\":\"acct_b\",\"amount\":5}", "currency"},
        {"{\"from_account\":\"acct_a\",\"to_account\":\"acct_b\",\"amount\":5,"
         "\"currency\":\"usd\"}",
         "currency"},
        {"{\"from_account\":\"acct_a\",\"to_account\":\"acct_b\",\"amount\":5,"
         "\"currency\":\"USD\",\"metadata\":{\"a\":1}}",
         "metadata"},
        {"{\"from_account\":\"acct_a\",\"to_account\":\"acct_b\",\"amount\":5,"
         "\"currency\":\"USD\",\"description\":7}",
         "description"},
        {"{\"from_account\":\"acct_a\",\"to_account\":\"acct_b\",\"amount\":5,"
         "\"currency\":\"USD\",\"status\":\"succeeded\"}",
         "status"},
    };
    fs_api_result_t res;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        route(FS_METHOD_POST, "/v1/payments", NULL, cases[i].body, KEY, IDEM, &res);
        assert_rejected(&res, FS_INVALID_REQUEST, cases[i].param);
    }
}

static void payment_cancel_item(void **state)
{
    (void)state;
    fs_api_result_t res;
    route(FS_METHOD_POST, "/v1/payments/pay_abc/cancel", NULL, NULL, KEY, IDEM, &res);
    assert_int_equal(res.action, FS_API_STORE);
    assert_string_equal(str(res.item, "op"), "payment_cancel");
    assert_string_equal(str(res.item, "payment"), "pay_abc");
    assert_string_equal(str(res.item, "idem"), IDEM);
    assert_true(is_hex64(str(res.item, "fp")));
    json_decref(res.item);

    route(FS_METHOD_POST, "/v1/payments/pay_abc/cancel", NULL, "{\"reason\":\"x\"}", KEY, IDEM,
          &res);
    assert_rejected(&res, FS_INVALID_REQUEST, "reason");
}

static void payment_get_and_list_items(void **state)
{
    (void)state;
    fs_api_result_t res;
    route(FS_METHOD_GET, "/v1/payments/pay_abc", NULL, NULL, KEY, NULL, &res);
    assert_int_equal(res.action, FS_API_STORE);
    assert_string_equal(str(res.item, "op"), "payment_get");
    assert_string_equal(str(res.item, "id"), "pay_abc");
    json_decref(res.item);

    route(FS_METHOD_GET, "/v1/payments", "limit=5&status=pending&account=acct_x&"
                                         "starting_after=pay_y",
          NULL, KEY, NULL, &res);
    assert_int_equal(res.action, FS_API_STORE);
    assert_string_equal(str(res.item, "op"), "payment_list");
    assert_int_equal(json_integer_value(json_object_get(res.item, "limit")), 5);
    assert_string_equal(str(res.item, "status"), "pending");
    assert_string_equal(str(res.item, "account"), "acct_x");
    assert_string_equal(str(res.item, "after"), "pay_y");
    json_decref(res.item);
}

/* Every GET and DELETE route builds an op of the table that the API may
 * make (src/op: not FS_OPF_INTERNAL), and lists are the SOLO ones. */
static void routes_build_api_ops(void **state)
{
    (void)state;
    static const struct {
        fs_method_t method;
        const char *path;
        fs_op_t op;
    } cases[] = {
        {FS_METHOD_GET, "/v1/accounts", FS_OP_ACCOUNT_LIST},
        {FS_METHOD_GET, "/v1/accounts/acct_a", FS_OP_ACCOUNT_GET},
        {FS_METHOD_GET, "/v1/payments", FS_OP_PAYMENT_LIST},
        {FS_METHOD_GET, "/v1/payments/pay_a", FS_OP_PAYMENT_GET},
        {FS_METHOD_GET, "/v1/payments/pay_a/receipt", FS_OP_RECEIPT_GET},
        {FS_METHOD_GET, "/v1/payments/pay_a/refunds", FS_OP_REFUND_LIST},
        {FS_METHOD_GET, "/v1/events", FS_OP_EVENT_LIST},
        {FS_METHOD_GET, "/v1/webhook_endpoints", FS_OP_WEBHOOK_ENDPOINT_LIST},
        {FS_METHOD_DELETE, "/v1/webhook_endpoints/we_a", FS_OP_WEBHOOK_ENDPOINT_DELETE},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fs_api_result_t res;
        route(cases[i].method, cases[i].path, NULL, NULL, KEY, NULL, &res);
        assert_int_equal(res.action, FS_API_STORE);
        fs_op_t op = fs_op_of(res.item);
        assert_int_equal(op, cases[i].op);
        assert_false(fs_op_has(op, FS_OPF_INTERNAL));
        assert_int_equal(fs_op_has(op, FS_OPF_SOLO), strstr(fs_op_name(op), "_list") != NULL);
        json_decref(res.item);
    }
}

/* ---- accounts and deposits ---- */

static void account_create_item(void **state)
{
    (void)state;
    fs_api_result_t res;
    route(FS_METHOD_POST, "/v1/accounts", NULL, "{\"currency\":\"EUR\"}", KEY, IDEM, &res);
    assert_int_equal(res.action, FS_API_STORE);
    assert_string_equal(str(res.item, "op"), "account_create");
    assert_true(is_id(str(res.item, "id"), "acct"));
    assert_string_equal(str(res.item, "currency"), "EUR");
    assert_string_equal(str(res.item, "type"), "user");
    assert_true(json_is_null(json_object_get(res.item, "name")));
    assert_true(json_is_object(json_object_get(res.item, "metadata")));
    assert_string_equal(str(res.item, "auth"), KEY_HASH);
    assert_string_equal(str(res.item, "idem"), IDEM);
    json_decref(res.item);

    route(FS_METHOD_POST, "/v1/accounts", NULL,
          "{\"currency\":\"USD\",\"name\":\"Shop\",\"type\":\"business\"}", KEY, IDEM, &res);
    assert_int_equal(res.action, FS_API_STORE);
    assert_string_equal(str(res.item, "name"), "Shop");
    assert_string_equal(str(res.item, "type"), "business");
    json_decref(res.item);

    route(FS_METHOD_POST, "/v1/accounts", NULL, "{\"currency\":\"USD\",\"type\":\"admin\"}", KEY,
          IDEM, &res);
    assert_rejected(&res, FS_INVALID_REQUEST, "type");
}

static void deposit_item(void **state)
{
    (void)state;
    fs_api_result_t res;
    route(FS_METHOD_POST, "/v1/accounts/acct_abc/deposits", NULL, "{\"amount\":500}", KEY, IDEM,
          &res);
    assert_int_equal(res.action, FS_API_STORE);
    assert_string_equal(str(res.item, "op"), "deposit");
    assert_string_equal(str(res.item, "account"), "acct_abc");
    assert_true(is_id(str(res.item, "id"), "dep"));
    assert_int_equal(json_integer_value(json_object_get(res.item, "amount")), 500);
    json_decref(res.item);

    route(FS_METHOD_POST, "/v1/accounts/acct_abc/deposits", NULL, "{\"amount\":-5}", KEY, IDEM,
          &res);
    assert_rejected(&res, FS_INVALID_REQUEST, "amount");
}

static void account_get_and_list_items(void **state)
{
    (void)state;
    fs_api_result_t res;
    route(FS_METHOD_GET, "/v1/accounts/acct_abc", NULL, NULL, KEY, NULL, &res);
    assert_int_equal(res.action, FS_API_STORE);
    assert_string_equal(str(res.item, "op"), "account_get");
    assert_string_equal(str(res.item, "id"), "acct_abc");
    json_decref(res.item);

    route(FS_METHOD_GET, "/v1/accounts", NULL, NULL, KEY, NULL, &res);
    assert_int_equal(res.action, FS_API_STORE);
    assert_string_equal(str(res.item, "op"), "account_list");
    assert_int_equal(json_integer_value(json_object_get(res.item, "limit")), 10);
    json_decref(res.item);
}

/* ---- ids in paths ---- */

static void malformed_path_ids_are_not_found(void **state)
{
    (void)state;
    fs_api_result_t res;
    const char *gets[] = {"/v1/accounts/xyz", "/v1/accounts/acct_", "/v1/accounts/pay_abc",
                          "/v1/accounts/acct_a-b", "/v1/payments/acct_abc", "/v1/payments/pay",
                          "/v1/accounts/acct_%41"};
    for (size_t i = 0; i < sizeof(gets) / sizeof(gets[0]); i++) {
        route(FS_METHOD_GET, gets[i], NULL, NULL, KEY, NULL, &res);
        assert_rejected(&res, FS_NOT_FOUND, "id");
    }
    route(FS_METHOD_POST, "/v1/accounts/xyz/deposits", NULL, "{\"amount\":5}", KEY, IDEM, &res);
    assert_rejected(&res, FS_NOT_FOUND, "id");
    route(FS_METHOD_POST, "/v1/accounts/pay_abc/deposits", NULL, "{\"amount\":5}", KEY, IDEM,
          &res);
    assert_rejected(&res, FS_NOT_FOUND, "id");
    route(FS_METHOD_POST, "/v1/payments/xyz/cancel", NULL, NULL, KEY, IDEM, &res);
    assert_rejected(&res, FS_NOT_FOUND, "id");
    route(FS_METHOD_POST, "/v1/payments/acct_abc/cancel", NULL, NULL, KEY, IDEM, &res);
    assert_rejected(&res, FS_NOT_FOUND, "id");
}

/* ---- GET queries ---- */

static void get_with_bad_query_is_invalid(void **state)
{
    (void)state;
    struct {
        const char *path;
        const char *query;
        const char *param;
    } cases[] = {
        {"/v1/accounts", "limit=0", "limit"},
        {"/v1/accounts", "limit=101", "limit"},
        {"/v1/accounts", "limit=abc", "limit"},
        {"/v1/accounts", "foo=1", "foo"},
        {"/v1/accounts", "status=pending", "status"},
        {"/v1/accounts", "starting_after=pay_abc", "starting_after"},
        {"/v1/payments", "starting_after=acct_abc", "starting_after"},
        {"/v1/payments", "status=bogus", "status"},
        {"/v1/payments", "account=pay_abc", "account"},
        {"/v1/accounts/acct_abc", "x=1", NULL},
        {"/v1/payments/pay_abc", "limit=5", NULL},
    };
    fs_api_result_t res;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        route(FS_METHOD_GET, cases[i].path, cases[i].query, NULL, KEY, NULL, &res);
        assert_rejected(&res, FS_INVALID_REQUEST, cases[i].param);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(unknown_routes_are_not_found),
        cmocka_unit_test(empty_segments_are_not_found),
        cmocka_unit_test(not_found_survives_odd_paths),
        cmocka_unit_test(wrong_method_is_not_allowed),
        cmocka_unit_test(health_needs_no_credentials),
        cmocka_unit_test(missing_or_malformed_key_is_unauthorized),
        cmocka_unit_test(item_carries_the_key_hash),
        cmocka_unit_test(post_needs_an_idempotency_key),
        cmocka_unit_test(get_needs_no_idempotency_key),
        cmocka_unit_test(body_too_large),
        cmocka_unit_test(post_query_is_rejected),
        cmocka_unit_test(post_body_must_be_valid),
        cmocka_unit_test(payment_create_item),
        cmocka_unit_test(payment_create_with_description_and_metadata),
        cmocka_unit_test(payment_ids_differ_but_fingerprints_match),
        cmocka_unit_test(payment_checks_name_the_parameter),
        cmocka_unit_test(payment_cancel_item),
        cmocka_unit_test(payment_get_and_list_items),
        cmocka_unit_test(routes_build_api_ops),
        cmocka_unit_test(account_create_item),
        cmocka_unit_test(deposit_item),
        cmocka_unit_test(account_get_and_list_items),
        cmocka_unit_test(malformed_path_ids_are_not_found),
        cmocka_unit_test(get_with_bad_query_is_invalid),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
