/* Unit tests of src/notify: the endpoint checks, the refused webhook
 * destinations, the signature, and the webhook routes of fs_api_route. */
#include <arpa/inet.h>
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

/* FINSYS_SECRETS_KEY of these tests. */
static const unsigned char secrets_key[FS_NOTIFY_KEY_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9};

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
    const char *good[] = {"http://127.0.0.1/",
                          "http://127.0.0.1",
                          "http://10.1.2.3:8080/a/b?c=d",
                          "http://localhost:9/x",
                          "http://[::1]:8080/hooks",
                          "https://127.0.0.1/",
                          "https://example.com/",
                          "http://example.com/",
                          "https://hooks.example-shop.co.uk:8443/in?x=1",
                          "https://a1.b2/"};
    const char *bad[] = {"",
                         "ftp://127.0.0.1/",
                         "https://-bad.example/",
                         "https://bad-.example/",
                         "https://a..b/",
                         "https://a_b.example/",
                         "https://1.2.3/",
                         "https://example.com./",
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

/* Each address and whether it is refused; the edges of every refused
 * network are on both sides. */
static void addresses(void **state)
{
    (void)state;
    static const struct {
        const char *addr;
        bool refused;
    } cases[] = {
        /* this network 0.0.0.0/8 */
        {"0.0.0.0", true}, {"0.255.255.255", true}, {"1.0.0.0", false},
        /* private 10.0.0.0/8 */
        {"9.255.255.255", false}, {"10.0.0.0", true}, {"10.0.0.1", true},
        {"10.255.255.255", true}, {"11.0.0.0", false},
        /* shared address space 100.64.0.0/10 */
        {"100.63.255.255", false}, {"100.64.0.0", true}, {"100.127.255.255", true},
        {"100.128.0.0", false},
        /* loopback 127.0.0.0/8 */
        {"126.255.255.255", false}, {"127.0.0.0", true}, {"127.0.0.1", true},
        {"127.255.255.255", true}, {"128.0.0.0", false},
        /* link-local 169.254.0.0/16, the cloud metadata service */
        {"169.253.255.255", false}, {"169.254.0.0", true}, {"169.254.169.254", true},
        {"169.254.255.255", true}, {"169.255.0.0", false},
        /* private 172.16.0.0/12 */
        {"172.15.255.255", false}, {"172.16.0.0", true}, {"172.31.255.255", true},
        {"172.32.0.0", false},
        /* private 192.168.0.0/16 */
        {"192.167.255.255", false}, {"192.168.0.0", true}, {"192.168.255.255", true},
        {"192.169.0.0", false},
        /* multicast 224.0.0.0/4 and reserved 240.0.0.0/4 (broadcast) */
        {"223.255.255.255", false}, {"224.0.0.1", true}, {"239.255.255.255", true},
        {"240.0.0.0", true}, {"255.255.255.255", true},
        /* public */
        {"1.1.1.1", false}, {"8.8.8.8", false}, {"93.184.216.34", false},
        /* IPv6: unspecified, loopback, IPv4-compatible */
        {"::", true}, {"::1", true}, {"::2", true}, {"::8.8.8.8", true},
        /* IPv4-mapped: judged by the IPv4 address */
        {"::ffff:127.0.0.1", true}, {"::ffff:7f00:1", true}, {"::ffff:169.254.169.254", true},
        {"::ffff:10.0.0.1", true}, {"::ffff:172.16.0.1", true}, {"::ffff:172.32.0.1", false},
        {"::ffff:192.168.1.1", true}, {"::ffff:0.0.0.0", true}, {"::ffff:100.64.0.1", true},
        {"::ffff:93.184.216.34", false}, {"::fffe:127.0.0.1", false},
        /* NAT64 and 6to4 carrying an IPv4 address */
        {"64:ff9b::127.0.0.1", true}, {"64:ff9b::10.0.0.1", true}, {"64:ff9b::8.8.8.8", false},
        {"2002:7f00:1::", true}, {"2002:a9fe:a9fe::1", true}, {"2002:5db8:d822::1", false},
        /* unique local fc00::/7 */
        {"fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false}, {"fc00::", true}, {"fd12:3456::1", true},
        {"fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true},
        /* link-local fe80::/10 */
        {"fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false}, {"fe80::", true}, {"fe80::1", true},
        {"febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true}, {"fec0::1", false},
        /* multicast ff00::/8 */
        {"ff02::1", true}, {"ff00::", true},
        /* public */
        {"2606:4700:4700::1111", false}, {"2001:4860:4860::8888", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        unsigned char a[16];
        int family = strchr(cases[i].addr, ':') != NULL ? AF_INET6 : AF_INET;
        assert_int_equal(inet_pton(family, cases[i].addr, a), 1);
        const char *why = fs_notify_addr_refused(family, a, NULL);
        if (cases[i].refused && why == NULL) fail_msg("%s not refused", cases[i].addr);
        if (!cases[i].refused && why != NULL)
            fail_msg("%s refused (%s)", cases[i].addr, why);
    }
}

static void urls_allowed(void **state)
{
    (void)state;
    const char *refused[] = {"http://127.0.0.1:8080/h",     "http://localhost/",
                             "http://169.254.169.254/",     "http://[::ffff:127.0.0.1]/",
                             "http://[::ffff:10.0.0.1]:9/", "http://10.0.0.1/",
                             "http://[::1]/",               "http://[fe80::1]/",
                             "http://[fd00::1]/",           "http://0.0.0.0/",
                             "http://172.16.0.1/",          "http://192.168.1.1/",
                             "http://100.64.0.1/",
                             "https://localhost:8443/",     "http://hooks.LOCALHOST/",
                             "https://127.0.0.1/"};
    /* A name other than localhost is judged by the worker, once resolved. */
    const char *allowed[] = {"http://93.184.216.34/", "http://8.8.8.8:8080/a?b=c",
                             "https://hooks.example.com/", "https://[2606:4700:4700::1111]/",
                             "http://172.32.0.1/", "http://[2606:4700:4700::1111]/"};
    fs_config_nets_t everything;
    char why[128];
    assert_int_equal(fs_config_parse_nets("0.0.0.0/0,::/0", &everything, why, sizeof(why)), 0);
    fs_error_t err;
    for (size_t i = 0; i < sizeof(refused) / sizeof(*refused); i++) {
        if (fs_notify_url_allowed(refused[i], NULL, &err)) fail_msg("%s allowed", refused[i]);
        assert_int_equal(err.outcome, FS_INVALID_REQUEST);
        assert_string_equal(err.param, "url");
        if (strstr(err.message, "refused network") == NULL) fail_msg("%s", err.message);
        if (!fs_notify_url_allowed(refused[i], &everything, &err))
            fail_msg("%s: %s", refused[i], err.message);
    }
    for (size_t i = 0; i < sizeof(allowed) / sizeof(*allowed); i++) {
        if (!fs_notify_url_allowed(allowed[i], NULL, &err))
            fail_msg("%s: %s", allowed[i], err.message);
    }
    /* A bad URL is bad either way. */
    assert_false(fs_notify_url_allowed("http://a_b.example.com/", &everything, &err));
    assert_string_equal(err.param, "url");
}

/* FINSYS_WEBHOOK_ALLOWED_NETWORKS: exactly its networks are let through. */
static void allowed_networks(void **state)
{
    (void)state;
    fs_config_nets_t nets;
    char why[128];
    assert_int_equal(fs_config_parse_nets("127.0.0.0/8, ::1/128,10.1.2.0/23,,fd00::5,"
                                          "192.168.7.9/24",
                                          &nets, why, sizeof(why)),
                     0);
    assert_int_equal(nets.count, 5);
    /* an address alone is /32 or /128; bits past the prefix are dropped */
    assert_int_equal(nets.net[3].bits, 128);
    assert_int_equal(nets.net[4].bits, 24);
    assert_int_equal(nets.net[4].addr[3], 0);
    static const struct {
        const char *url;
        bool ok;
    } cases[] = {
        {"http://127.0.0.1:9/", true},      {"http://localhost/", true},
        {"http://127.255.0.1/", true},      {"http://[::1]/", true},
        {"http://[::ffff:127.0.0.1]/", true}, /* judged as 127.0.0.1 */
        {"http://10.1.2.1/", true},         {"http://10.1.3.255/", true},
        {"http://10.1.1.255/", false},      {"http://10.1.4.0/", false},
        {"http://[fd00::5]/", true},        {"http://[fd00::6]/", false},
        {"http://192.168.7.200/", true},    {"http://192.168.8.1/", false},
        {"http://169.254.169.254/", false}, {"http://93.184.216.34/", true},
    };
    fs_error_t err;
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        bool ok = fs_notify_url_allowed(cases[i].url, &nets, &err);
        if (ok != cases[i].ok) fail_msg("%s: %s", cases[i].url, ok ? "allowed" : err.message);
    }
    assert_int_equal(fs_config_parse_nets("", &nets, why, sizeof(why)), 0);
    assert_int_equal(nets.count, 0);
    const char *bad[] = {"localhost", "10.0.0.0/33", "::1/129", "10.0.0.0/", "10.0.0.0/-1",
                         "10.0.0.0/8x", "10.0.0", "1.2.3.4/8/8",
                         "1.2.3.4/00000000000000000000000000000000000000000000000000000000008"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        if (fs_config_parse_nets(bad[i], &nets, why, sizeof(why)) == 0)
            fail_msg("%s accepted", bad[i]);
    }
    char many[1024] = "";
    for (int i = 0; i <= FS_WEBHOOK_ALLOWED_NETWORKS_MAX; i++)
        snprintf(many + strlen(many), sizeof(many) - strlen(many), "10.0.%d.0/24,", i);
    assert_int_equal(fs_config_parse_nets(many, &nets, why, sizeof(why)), -1);
}

static void route_as(const fs_config_nets_t *allowed, fs_method_t method, const char *path, const char *body,
                     const char *idem, fs_api_result_t *res)
{
    fs_api_request_t req = {.method = method,
                            .path = path,
                            .body = body,
                            .body_len = body != NULL ? strlen(body) : 0,
                            .authorization = KEY,
                            .idempotency_key = idem,
                            .webhook_allowed = allowed,
                            .secrets_key = secrets_key};
    fs_api_route(&req, res);
}

static void route(fs_method_t method, const char *path, const char *body, const char *idem,
                  fs_api_result_t *res)
{
    route_as(NULL, method, path, body, idem, res);
}

/* POST /v1/webhook_endpoints: a private URL is 400 by default, accepted
 * when FINSYS_WEBHOOK_ALLOWED_NETWORKS holds it. */
static void create_private(void **state)
{
    (void)state;
    const char *body = "{\"url\":\"http://169.254.169.254/latest\",\"events\":[\"*\"]}";
    fs_api_result_t res;
    route(FS_METHOD_POST, "/v1/webhook_endpoints", body, "k1", &res);
    assert_int_equal(res.action, FS_API_REJECT);
    assert_int_equal(res.err.outcome, FS_INVALID_REQUEST);
    assert_string_equal(res.err.param, "url");
    fs_config_nets_t nets;
    char why[128];
    assert_int_equal(fs_config_parse_nets("169.254.169.254", &nets, why, sizeof(why)), 0);
    route_as(&nets, FS_METHOD_POST, "/v1/webhook_endpoints", body, "k1", &res);
    assert_int_equal(res.action, FS_API_STORE);
    json_decref(res.item);
}

static void create_item(void **state)
{
    (void)state;
    fs_api_result_t res;
    route(FS_METHOD_POST, "/v1/webhook_endpoints",
          "{\"url\":\"http://93.184.216.34:9/h\",\"events\":[\"*\",\"payment.failed\",\"*\"]}", "k1",
          &res);
    assert_int_equal(res.action, FS_API_STORE);
    json_t *item = res.item;
    assert_string_equal(json_string_value(json_object_get(item, "op")),
                        "webhook_endpoint_create");
    const char *id = json_string_value(json_object_get(item, "id"));
    const char *secret = json_string_value(json_object_get(item, "secret"));
    assert_int_equal(strncmp(id, "we_", 3), 0);
    assert_int_equal(strlen(secret), strlen(FS_NOTIFY_SECRET_PREFIX) + 32);
    /* What the database stores: the secret sealed under the key. */
    const char *sealed = json_string_value(json_object_get(item, "secret_sealed"));
    assert_non_null(sealed);
    assert_null(strstr(sealed, secret + strlen(FS_NOTIFY_SECRET_PREFIX)));
    char opened[FS_NOTIFY_SECRET_LEN_MAX + 1];
    assert_true(fs_notify_secret_open(secrets_key, sealed, opened, sizeof(opened)));
    assert_string_equal(opened, secret);
    assert_int_equal(json_array_size(json_object_get(item, "events")), 2);
    assert_int_equal(json_integer_value(json_object_get(item, "max")), FS_WEBHOOK_ENDPOINTS_MAX);
    json_decref(item);

    route(FS_METHOD_POST, "/v1/webhook_endpoints",
          "{\"url\":\"http://93.184.216.34:9/h\",\"events\":[\"payment.refunded\"]}", "k1", &res);
    assert_int_equal(res.action, FS_API_REJECT);
    assert_string_equal(res.err.param, "events");

    /* Without FINSYS_SECRETS_KEY no endpoint is made: 503. */
    fs_api_request_t req = {.method = FS_METHOD_POST,
                            .path = "/v1/webhook_endpoints",
                            .body = "{\"url\":\"http://93.184.216.34:9/h\",\"events\":[\"*\"]}",
                            .authorization = KEY,
                            .idempotency_key = "k1"};
    req.body_len = strlen(req.body);
    fs_api_route(&req, &res);
    assert_int_equal(res.action, FS_API_REJECT);
    assert_int_equal(res.err.outcome, FS_UNAVAILABLE);
}

/* Sealed secrets: each seal differs (a random nonce), opens only with its
 * key and unaltered; what is not a sealed secret does not open. */
static void secrets_seal_and_open(void **state)
{
    (void)state;
    const char *secret = "whsec_abcdefghijklmnopqrstuvwxyz012345";
    char a[FS_NOTIFY_SEALED_BUF_LEN], b[FS_NOTIFY_SEALED_BUF_LEN];
    char out[FS_NOTIFY_SECRET_LEN_MAX + 1];
    assert_true(fs_notify_secret_seal(secrets_key, secret, a, sizeof(a)));
    assert_true(fs_notify_secret_seal(secrets_key, secret, b, sizeof(b)));
    assert_string_not_equal(a, b);
    assert_int_equal(strncmp(a, FS_NOTIFY_SEALED_PREFIX, strlen(FS_NOTIFY_SEALED_PREFIX)), 0);
    assert_null(strstr(a, "abcdefgh"));
    assert_true(fs_notify_secret_open(secrets_key, a, out, sizeof(out)));
    assert_string_equal(out, secret);
    assert_true(fs_notify_secret_open(secrets_key, b, out, sizeof(out)));
    assert_string_equal(out, secret);
    unsigned char other[FS_NOTIFY_KEY_LEN] = {9};
    assert_false(fs_notify_secret_open(other, a, out, sizeof(out)));
    assert_string_equal(out, "");
    /* One base64 character changed: the MAC fails. */
    size_t i = strlen(FS_NOTIFY_SEALED_PREFIX) + 40;
    a[i] = a[i] == 'A' ? 'B' : 'A';
    assert_false(fs_notify_secret_open(secrets_key, a, out, sizeof(out)));
    assert_false(fs_notify_secret_open(secrets_key, secret, out, sizeof(out)));
    assert_false(fs_notify_secret_open(secrets_key, "sb1:", out, sizeof(out)));
    assert_false(fs_notify_secret_open(secrets_key, "sb1:!!!", out, sizeof(out)));
    assert_false(fs_notify_secret_open(secrets_key, NULL, out, sizeof(out)));
    /* Too long to seal. */
    char long_secret[FS_NOTIFY_SECRET_LEN_MAX + 2];
    memset(long_secret, 'x', sizeof(long_secret) - 1);
    long_secret[sizeof(long_secret) - 1] = '\0';
    assert_false(fs_notify_secret_seal(secrets_key, long_secret, a, sizeof(a)));
    /* FINSYS_SECRETS_KEY: 64 hex digits or base64 of 32 bytes. */
    unsigned char key[32];
    char err[256];
    assert_int_equal(fs_config_parse_secrets_key(
                         "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", key,
                         err, sizeof(err)),
                     0);
    assert_int_equal(key[31], 0x1f);
    assert_int_equal(fs_config_parse_secrets_key("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
                                                 key, err, sizeof(err)),
                     0);
    assert_int_equal(key[31], 0x1f);
    assert_int_equal(fs_config_parse_secrets_key("00010203", key, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "FINSYS_SECRETS_KEY"));
    assert_int_equal(fs_config_parse_secrets_key("", key, err, sizeof(err)), -1);
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

/* The endpoint's breaker (issue 13): FS_NOTIFY_BREAKER_FAILURES consecutive
 * failures open it for the cool-off; then one trial goes at a time; a failed
 * trial doubles the cool-off (up to its maximum), a 2xx closes it. */
static void breaker_opens_after_consecutive_failures(void **state)
{
    (void)state;
    fs_notify_breaker_t b;
    memset(&b, 0, sizeof(b));
    long long wait = -1;
    /* A success in between starts the count again. */
    for (int i = 0; i < FS_NOTIFY_BREAKER_FAILURES - 1; i++) {
        assert_int_equal(fs_notify_breaker_allow(&b, 0, &wait), FS_NOTIFY_BREAKER_SEND);
        assert_false(fs_notify_breaker_record(&b, false, false, 0));
    }
    assert_false(fs_notify_breaker_record(&b, true, false, 0));
    assert_int_equal(b.failures, 0);
    for (int i = 0; i < FS_NOTIFY_BREAKER_FAILURES - 1; i++)
        assert_false(fs_notify_breaker_record(&b, false, false, 100));
    assert_int_equal(fs_notify_breaker_allow(&b, 100, &wait), FS_NOTIFY_BREAKER_SEND);
    assert_int_equal(wait, 0);
    assert_true(fs_notify_breaker_record(&b, false, false, 100));
    /* Open: skipped until the cool-off ends; late failures change nothing. */
    assert_int_equal(fs_notify_breaker_allow(&b, 101, &wait), FS_NOTIFY_BREAKER_SKIP);
    assert_int_equal(wait, FS_NOTIFY_BREAKER_COOLOFF_MS - 1);
    assert_false(fs_notify_breaker_record(&b, false, false, 200));
    assert_int_equal(fs_notify_breaker_allow(&b, 100 + FS_NOTIFY_BREAKER_COOLOFF_MS - 1, &wait),
                     FS_NOTIFY_BREAKER_SKIP);
    assert_int_equal(wait, 1);
}

static void breaker_half_open_lets_one_trial_through(void **state)
{
    (void)state;
    fs_notify_breaker_t b;
    memset(&b, 0, sizeof(b));
    long long wait, now = 1000;
    for (int i = 0; i < FS_NOTIFY_BREAKER_FAILURES; i++) fs_notify_breaker_record(&b, false, false, now);
    assert_int_equal(fs_notify_breaker_allow(&b, now, &wait), FS_NOTIFY_BREAKER_SKIP);
    long long cooloff = FS_NOTIFY_BREAKER_COOLOFF_MS;
    for (int round = 0; round < 12; round++) {
        now += cooloff;
        /* Half-open: one trial; the others wait while it runs. */
        assert_int_equal(fs_notify_breaker_allow(&b, now, &wait), FS_NOTIFY_BREAKER_TRIAL);
        assert_int_equal(fs_notify_breaker_allow(&b, now, &wait), FS_NOTIFY_BREAKER_SKIP);
        assert_int_equal(wait, 0);
        /* A trial given back (not sent) lets the next one go. */
        fs_notify_breaker_untrial(&b);
        assert_int_equal(fs_notify_breaker_allow(&b, now, &wait), FS_NOTIFY_BREAKER_TRIAL);
        /* The trial fails: open again, twice as long, within the maximum. */
        assert_true(fs_notify_breaker_record(&b, false, true, now));
        cooloff = 2 * cooloff < FS_NOTIFY_BREAKER_COOLOFF_MAX_MS ? 2 * cooloff
                                                                 : FS_NOTIFY_BREAKER_COOLOFF_MAX_MS;
        assert_int_equal(b.cooloff_ms, cooloff);
        assert_int_equal(fs_notify_breaker_allow(&b, now + cooloff - 1, &wait),
                         FS_NOTIFY_BREAKER_SKIP);
        assert_int_equal(wait, 1);
    }
    assert_int_equal(cooloff, FS_NOTIFY_BREAKER_COOLOFF_MAX_MS);
    /* A trial's 2xx closes it, and the next opening is the first cool-off. */
    now += cooloff;
    assert_int_equal(fs_notify_breaker_allow(&b, now, &wait), FS_NOTIFY_BREAKER_TRIAL);
    assert_false(fs_notify_breaker_record(&b, true, true, now));
    assert_int_equal(fs_notify_breaker_allow(&b, now, &wait), FS_NOTIFY_BREAKER_SEND);
    for (int i = 0; i < FS_NOTIFY_BREAKER_FAILURES - 1; i++)
        assert_false(fs_notify_breaker_record(&b, false, false, now));
    assert_true(fs_notify_breaker_record(&b, false, false, now));
    assert_int_equal(b.cooloff_ms, FS_NOTIFY_BREAKER_COOLOFF_MS);
    /* A late 2xx of an attempt from before the opening closes it too. */
    assert_false(fs_notify_breaker_record(&b, true, false, now + 1));
    assert_int_equal(fs_notify_breaker_allow(&b, now + 1, &wait), FS_NOTIFY_BREAKER_SEND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(signature_matches_python_hmac),
        cmocka_unit_test(urls),
        cmocka_unit_test(addresses),
        cmocka_unit_test(urls_allowed),
        cmocka_unit_test(allowed_networks),
        cmocka_unit_test(create_item),
        cmocka_unit_test(create_private),
        cmocka_unit_test(delete_and_get_items),
        cmocka_unit_test(secrets_seal_and_open),
        cmocka_unit_test(breaker_opens_after_consecutive_failures),
        cmocka_unit_test(breaker_half_open_lets_one_trial_through),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
