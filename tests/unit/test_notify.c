/* Unit tests of src/notify: the endpoint checks, the signature, and the
 * webhook routes of fs_api_route. */
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
#include "../../src/notify/notify.h"

#define KEY "Bearer fsk_test"

static int setup(void **state)
{
    (void)state;
    return sodium_init() < 0 ? -1 : 0;
}

static void signature_matches_python_hmac(void **state)
{
    (void)state;
    char sig[FS_NOTIFY_SIGNATURE_BUF_LEN];
    const char body[] = "{\"id\":\"evt_1\"}";
    fs_notify_sign("whsec_test", 1700000000LL, body, strlen(body), sig);
    /* python3: hmac.new(b'whsec_test', b'1700000000.' + body, sha256).hexdigest() */
    assert_string_equal(
        sig, "t=1700000000,v1=c89214b5b5da833daed6f0b8c5bb6bd58cea9022bd80ccc78230f3942d632925");
    char other[FS_NOTIFY_SIGNATURE_BUF_LEN];
    fs_notify_sign("whsec_test", 1700000000LL, "{\"id\":\"evt_2\"}", strlen(body), other);
    assert_string_not_equal(sig, other);
    fs_notify_sign("whsec_tesu", 1700000000LL, body, strlen(body), other);
    assert_string_not_equal(sig, other);
}

static void urls(void **state)
{
    (void)state;
    const char *good[] = {"http://127.0.0.1/", "http://127.0.0.1", "http://10.1.2.3:8080/a/b?c=d",
                          "http://localhost:9/x", "http://[::1]:8080/hooks"};
    const char *bad[] = {"",
                         "https://127.0.0.1/",
                         "ftp://127.0.0.1/",
                         "http://example.com/",
                         "http://127.0.0.1:0/",
                         "http://127.0.0.1:70000/",
                         "http://u:p@127.0.0.1/",
                         "http://127.0.0.1/#frag",
                         "http://127.0.0.1/a b",
                         "http:///x",
                         "127.0.0.1"};
    fs_error_t err;
    for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++) {
        if (!fs_notify_url_valid(good[i], &err)) fail_msg("%s: %s", good[i], err.message);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        if (fs_notify_url_valid(bad[i], &err)) fail_msg("%s accepted", bad[i]);
        assert_int_equal(err.outcome, FS_INVALID_REQUEST);
        assert_string_equal(err.param, "url");
    }
    char *longest = malloc(FS_WEBHOOK_URL_LEN_MAX + 2);
    memset(longest, 'a', FS_WEBHOOK_URL_LEN_MAX + 1);
    memcpy(longest, "http://127.0.0.1/", 17);
    longest[FS_WEBHOOK_URL_LEN_MAX] = '\0';
    assert_true(fs_notify_url_valid(longest, &err));
    longest[FS_WEBHOOK_URL_LEN_MAX] = 'a';
    longest[FS_WEBHOOK_URL_LEN_MAX + 1] = '\0';
    assert_false(fs_notify_url_valid(longest, &err));
    free(longest);
}

static void route(fs_method_t method, const char *path, const char *body, const char *idem,
                  fs_api_result_t *res)
{
    fs_api_request_t req = {.method = method,
                            .path = path,
                            .body = body,
                            .body_len = body != NULL ? strlen(body) : 0,
                            .authorization = KEY,
                            .idempotency_key = idem};
    fs_api_route(&req, res);
}

static void create_item(void **state)
{
    (void)state;
    fs_api_result_t res;
    route(FS_METHOD_POST, "/v1/webhook_endpoints",
          "{\"url\":\"http://127.0.0.1:9/h\",\"events\":[\"*\",\"payment.failed\",\"*\"]}", "k1",
          &res);
    assert_int_equal(res.action, FS_API_STORE);
    json_t *item = res.item;
    assert_string_equal(json_string_value(json_object_get(item, "op")),
                        "webhook_endpoint_create");
    const char *id = json_string_value(json_object_get(item, "id"));
    const char *secret = json_string_value(json_object_get(item, "secret"));
    assert_int_equal(strncmp(id, "we_", 3), 0);
    assert_int_equal(strlen(secret), strlen(FS_NOTIFY_SECRET_PREFIX) + 32);
    assert_int_equal(json_array_size(json_object_get(item, "events")), 2);
    assert_int_equal(json_integer_value(json_object_get(item, "max")), FS_WEBHOOK_ENDPOINTS_MAX);
    json_decref(item);

    route(FS_METHOD_POST, "/v1/webhook_endpoints",
          "{\"url\":\"http://127.0.0.1:9/h\",\"events\":[\"payment.refunded\"]}", "k1", &res);
    assert_int_equal(res.action, FS_API_REJECT);
    assert_string_equal(res.err.param, "events");
}

static void delete_and_get_items(void **state)
{
    (void)state;
    fs_api_result_t res;
    route(FS_METHOD_DELETE, "/v1/webhook_endpoints/we_abc", NULL, NULL, &res);
    assert_int_equal(res.action, FS_API_STORE);
    assert_string_equal(json_string_value(json_object_get(res.item, "op")),
                        "webhook_endpoint_delete");
    assert_string_equal(json_string_value(json_object_get(res.item, "id")), "we_abc");
    json_decref(res.item);
    route(FS_METHOD_GET, "/v1/webhook_endpoints/we_abc", NULL, NULL, &res);
    assert_string_equal(json_string_value(json_object_get(res.item, "op")),
                        "webhook_endpoint_get");
    json_decref(res.item);
    route(FS_METHOD_DELETE, "/v1/webhook_endpoints/we_abc", "{}", NULL, &res);
    assert_int_equal(res.action, FS_API_REJECT);
    route(FS_METHOD_DELETE, "/v1/webhook_endpoints/pay_abc", NULL, NULL, &res);
    assert_int_equal(res.err.outcome, FS_NOT_FOUND);
    route(FS_METHOD_DELETE, "/v1/accounts/acct_abc", NULL, NULL, &res);
    assert_int_equal(res.err.outcome, FS_METHOD_NOT_ALLOWED);
    route(FS_METHOD_POST, "/v1/webhook_endpoints/we_abc", "{}", "k", &res);
    assert_int_equal(res.err.outcome, FS_METHOD_NOT_ALLOWED);
    assert_string_equal(res.allow, "GET, DELETE");
    route(FS_METHOD_GET, "/v1/webhook_endpoints/we_abc/x", NULL, NULL, &res);
    assert_int_equal(res.err.outcome, FS_NOT_FOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(signature_matches_python_hmac),
        cmocka_unit_test(urls),
        cmocka_unit_test(create_item),
        cmocka_unit_test(delete_and_get_items),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
