/* Unit tests of src/provider: the simulator's configuration, flags, draws,
 * charge checks and charge table (the pure parts; the HTTP service is tested
 * in tests/integration/test_provider_sim.py). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>

#include "../../src/provider/provider.h"

static int setup(void **state)
{
    (void)state;
    return sodium_init() < 0 ? -1 : 0;
}

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Field by field: memcmp would compare padding too. */
static bool config_equal(const fs_provider_config_t *a, const fs_provider_config_t *b)
{
    return a->latency == b->latency && a->latency_ms == b->latency_ms &&
           a->latency_min_ms == b->latency_min_ms && a->latency_max_ms == b->latency_max_ms &&
           a->latency_median_ms == b->latency_median_ms && a->latency_p99_ms == b->latency_p99_ms &&
           a->decline_rate == b->decline_rate && a->error_rate == b->error_rate &&
           a->timeout_rate == b->timeout_rate && a->timeout_after_ms == b->timeout_after_ms &&
           a->outage_until_us == b->outage_until_us && a->seed == b->seed;
}

/* Applies the JSON text to a copy of the default and returns whether it was
 * accepted; *param gets the parameter named on failure. */
static bool apply(fs_provider_config_t *c, const char *text, const char **param)
{
    json_t *j = json_loads(text, 0, NULL);
    assert_non_null(j);
    fs_error_t err = {0};
    bool ok = fs_provider_config_apply(c, j, 1000000, &err);
    if (!ok) {
        assert_int_equal(err.outcome, FS_INVALID_REQUEST);
        assert_true(strlen(err.message) > 0);
    }
    *param = ok ? NULL : err.param;
    json_decref(j);
    return ok;
}

static void default_is_realistic(void **state)
{
    (void)state;
    fs_provider_config_t c;
    fs_provider_config_default(&c, 7);
    assert_int_equal(c.latency, FS_PROVIDER_LATENCY_LOGNORMAL);
    assert_true(c.latency_median_ms == 5 && c.latency_p99_ms == 25);
    assert_true(c.decline_rate == 0.01 && c.error_rate == 0.005 && c.timeout_rate == 0);
    assert_int_equal(c.timeout_after_ms, 30000);
    assert_int_equal(c.outage_until_us, 0);
    assert_int_equal(c.seed, 7);
}

static void config_apply_checks_each_field(void **state)
{
    (void)state;
    fs_provider_config_t c;
    const char *param;
    fs_provider_config_default(&c, 1);
    assert_true(apply(&c,
                      "{\"latency\":\"uniform\",\"latency_min_ms\":2,\"latency_max_ms\":"
                      "4.5,\"decline_rate\":0.25,\"error_rate\":0.1,\"timeout_rate\":1,"
                      "\"timeout_after_ms\":1500,\"seed\":99}",
                      &param));
    assert_int_equal(c.latency, FS_PROVIDER_LATENCY_UNIFORM);
    assert_true(c.latency_min_ms == 2 && c.latency_max_ms == 4.5);
    assert_true(c.decline_rate == 0.25 && c.error_rate == 0.1 && c.timeout_rate == 1);
    assert_int_equal(c.timeout_after_ms, 1500);
    assert_int_equal(c.seed, 99);

    static const struct {
        const char *body, *param;
    } bad[] = {
        {"{\"decline_rate\":1.5}", "decline_rate"},
        {"{\"error_rate\":-0.1}", "error_rate"},
        {"{\"timeout_rate\":\"half\"}", "timeout_rate"},
        {"{\"latency\":\"gaussian\"}", "latency"},
        {"{\"latency\":3}", "latency"},
        {"{\"latency_ms\":60001}", "latency_ms"},
        {"{\"timeout_after_ms\":0}", "timeout_after_ms"},
        {"{\"timeout_after_ms\":2.5}", "timeout_after_ms"},
        {"{\"outage_ms\":-1}", "outage_ms"},
        {"{\"seed\":-3}", "seed"},
        {"{\"colour\":\"blue\"}", "colour"},
        {"{\"latency_min_ms\":9,\"latency_max_ms\":8}", "latency_min_ms"},
        {"{\"latency_median_ms\":0}", "latency_median_ms"},
        {"{\"latency_median_ms\":30,\"latency_p99_ms\":20}", "latency_p99_ms"},
        {"{\"decline_rate\":0.6,\"error_rate\":0.5}", "decline_rate"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        fs_provider_config_t before = c;
        assert_false(apply(&c, bad[i].body, &param));
        assert_non_null(param);
        assert_string_equal(param, bad[i].param);
        /* All or nothing: a rejected change leaves everything as it was. */
        assert_true(config_equal(&before, &c));
    }
    json_t *array = json_array();
    fs_error_t err;
    assert_false(fs_provider_config_apply(&c, array, 0, &err));
    assert_null(err.param);
    json_decref(array);
}

static void outage_counts_from_now(void **state)
{
    (void)state;
    fs_provider_config_t c;
    const char *param;
    fs_provider_config_default(&c, 1);
    assert_true(apply(&c, "{\"outage_ms\":2500}", &param)); /* now is 1 s */
    assert_int_equal(c.outage_until_us, 1000000 + 2500000);
    json_t *j = fs_provider_config_json(&c, 2000000);
    assert_int_equal(json_integer_value(json_object_get(j, "outage_ms")), 1500);
    assert_string_equal(json_string_value(json_object_get(j, "latency")), "lognormal");
    json_decref(j);
    j = fs_provider_config_json(&c, 9000000);
    assert_int_equal(json_integer_value(json_object_get(j, "outage_ms")), 0);
    json_decref(j);
    assert_true(apply(&c, "{\"outage_ms\":0}", &param));
    assert_int_equal(c.outage_until_us, 0);
}

static void config_json_round_trips(void **state)
{
    (void)state;
    fs_provider_config_t a, b;
    fs_provider_config_default(&a, 5);
    const char *param;
    assert_true(apply(&a, "{\"latency\":\"fixed\",\"latency_ms\":3,\"decline_rate\":0.3}", &param));
    json_t *j = fs_provider_config_json(&a, 0);
    fs_provider_config_default(&b, 6);
    fs_error_t err;
    bool ok = fs_provider_config_apply(&b, j, 0, &err);
    json_decref(j);
    assert_true(ok);
    assert_true(config_equal(&a, &b));
}

static void options_parse_flags(void **state)
{
    (void)state;
    fs_provider_options_t o = {.host = "127.0.0.1", .port = 8090};
    fs_provider_config_default(&o.config, 1);
    char *argv[] = {"--port",
                    "9123",
                    "--host=::1",
                    "--latency",
                    "fixed",
                    "--latency-ms=0",
                    "--decline-rate",
                    "0.2",
                    "--seed",
                    "42",
                    "--timeout-after-ms",
                    "2000",
                    "--outage-ms",
                    "0"};
    char err[256] = "";
    assert_true(fs_provider_options_parse(&o, 14, argv, 0, err, sizeof(err)));
    assert_int_equal(o.port, 9123);
    assert_string_equal(o.host, "::1");
    assert_int_equal(o.config.latency, FS_PROVIDER_LATENCY_FIXED);
    assert_true(o.config.latency_ms == 0 && o.config.decline_rate == 0.2);
    assert_int_equal(o.config.seed, 42);
    assert_int_equal(o.config.timeout_after_ms, 2000);

    static const struct {
        const char *args[2];
        int argc;
        const char *names;
    } bad[] = {
        {{"--port", "0"}, 2, "--port"},
        {{"--port", "http"}, 2, "--port"},
        {{"--decline-rate", "2"}, 2, "--decline-rate"},
        {{"--error-rate", "lots"}, 2, "--error-rate"},
        {{"--latency", "normal"}, 2, "--latency"},
        {{"--colour", "blue"}, 2, "--colour"},
        {{"--seed"}, 1, "--seed"},
        {{"serve"}, 1, "serve"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        fs_provider_options_t before = o;
        assert_false(
            fs_provider_options_parse(&o, bad[i].argc, (char **)bad[i].args, 0, err, sizeof(err)));
        if (strstr(err, bad[i].names) == NULL) fail_msg("'%s' does not name %s", err, bad[i].names);
        assert_true(config_equal(&before.config, &o.config));
    }
}

static void rng_is_reproducible(void **state)
{
    (void)state;
    fs_provider_rng_t a, b, c;
    fs_provider_rng_seed(&a, 123);
    fs_provider_rng_seed(&b, 123);
    fs_provider_rng_seed(&c, 124);
    int same_as_other_seed = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = fs_provider_rng_next(&a);
        assert_true(x == fs_provider_rng_next(&b));
        same_as_other_seed += x == fs_provider_rng_next(&c);
        double u = fs_provider_rng_unit(&a);
        fs_provider_rng_unit(&b);
        fs_provider_rng_unit(&c);
        assert_true(u >= 0.0 && u < 1.0);
    }
    assert_int_equal(same_as_other_seed, 0);
}

static void latency_fixed_and_uniform_stay_in_bounds(void **state)
{
    (void)state;
    fs_provider_config_t c;
    fs_provider_rng_t rng;
    const char *param;
    fs_provider_config_default(&c, 1);
    fs_provider_rng_seed(&rng, 1);
    assert_true(apply(&c, "{\"latency\":\"fixed\",\"latency_ms\":7.5}", &param));
    for (int i = 0; i < 100; i++) assert_int_equal(fs_provider_latency_sample_us(&c, &rng), 7500);
    assert_true(
        apply(&c, "{\"latency\":\"uniform\",\"latency_min_ms\":2,\"latency_max_ms\":4}", &param));
    uint64_t lo = UINT64_MAX, hi = 0;
    for (int i = 0; i < 10000; i++) {
        uint64_t us = fs_provider_latency_sample_us(&c, &rng);
        assert_in_range(us, 2000, 4000);
        lo = us < lo ? us : lo;
        hi = us > hi ? us : hi;
    }
    assert_true(lo < 2100 && hi > 3900); /* it spans the range */
    assert_true(apply(&c, "{\"latency\":\"fixed\",\"latency_ms\":0}", &param));
    assert_int_equal(fs_provider_latency_sample_us(&c, &rng), 0);
}

static void latency_lognormal_has_its_median_and_p99(void **state)
{
    (void)state;
    fs_provider_config_t c;
    fs_provider_rng_t rng;
    fs_provider_config_default(&c, 1); /* median 5 ms, p99 25 ms */
    fs_provider_rng_seed(&rng, 2024);
    enum { N = 40000 };
    uint64_t *us = malloc(N * sizeof(*us));
    assert_non_null(us);
    for (int i = 0; i < N; i++) {
        us[i] = fs_provider_latency_sample_us(&c, &rng);
        assert_in_range(us[i], 0, (uint64_t)(FS_PROVIDER_LATENCY_MS_MAX * 1000));
    }
    qsort(us, N, sizeof(*us), compare_u64);
    uint64_t p50 = us[N / 2], p99 = us[N * 99 / 100];
    free(us);
    assert_in_range(p50, 4700, 5300);
    assert_in_range(p99, 22500, 27500);

    /* A p99 far above the cap is clipped to it, never beyond. */
    const char *param;
    assert_true(apply(&c, "{\"latency_median_ms\":50000,\"latency_p99_ms\":60000}", &param));
    for (int i = 0; i < 1000; i++) {
        assert_true(fs_provider_latency_sample_us(&c, &rng) <=
                    (uint64_t)(FS_PROVIDER_LATENCY_MS_MAX * 1000));
    }
}

static void draws_match_the_rates(void **state)
{
    (void)state;
    fs_provider_config_t c;
    fs_provider_rng_t rng;
    const char *param;
    fs_provider_config_default(&c, 1);
    fs_provider_rng_seed(&rng, 77);
    assert_true(
        apply(&c, "{\"decline_rate\":0.2,\"error_rate\":0.1,\"timeout_rate\":0.05}", &param));
    enum { N = 100000 };
    int kinds[3] = {0}, timeouts = 0, codes[8] = {0};
    for (int i = 0; i < N; i++) {
        fs_provider_draw_t d;
        fs_provider_draw(&c, &rng, &d);
        kinds[d.kind]++;
        timeouts += d.timeout;
        if (d.kind == FS_PROVIDER_DRAW_DECLINE) {
            assert_non_null(d.decline_code);
            int k = 0;
            while (strcmp(fs_provider_decline_codes[k], d.decline_code) != 0) k++;
            codes[k]++;
        } else {
            assert_null(d.decline_code);
        }
        if (d.kind == FS_PROVIDER_DRAW_ERROR) assert_false(d.timeout);
    }
    assert_in_range(kinds[FS_PROVIDER_DRAW_ERROR], 9400, 10600);
    assert_in_range(kinds[FS_PROVIDER_DRAW_DECLINE], 19200, 20800);
    assert_in_range(kinds[FS_PROVIDER_DRAW_APPROVE], 69000, 71000);
    assert_in_range(timeouts, 4200, 4800); /* 5% of the 90% that are not errors */
    assert_true(codes[0] > codes[1] && codes[1] > codes[2] && codes[3] > 0);

    /* The extremes are exact. */
    assert_true(apply(&c, "{\"decline_rate\":0,\"error_rate\":0,\"timeout_rate\":0}", &param));
    for (int i = 0; i < 1000; i++) {
        fs_provider_draw_t d;
        fs_provider_draw(&c, &rng, &d);
        assert_int_equal(d.kind, FS_PROVIDER_DRAW_APPROVE);
        assert_false(d.timeout);
    }
    assert_true(apply(&c, "{\"decline_rate\":1,\"timeout_rate\":1}", &param));
    for (int i = 0; i < 1000; i++) {
        fs_provider_draw_t d;
        fs_provider_draw(&c, &rng, &d);
        assert_int_equal(d.kind, FS_PROVIDER_DRAW_DECLINE);
        assert_true(d.timeout);
    }
}

static void draws_replay_with_the_seed(void **state)
{
    (void)state;
    fs_provider_config_t c;
    fs_provider_rng_t a, b;
    fs_provider_config_default(&c, 1);
    c.decline_rate = 0.3;
    c.error_rate = 0.2;
    fs_provider_rng_seed(&a, 5);
    fs_provider_rng_seed(&b, 5);
    for (int i = 0; i < 1000; i++) {
        fs_provider_draw_t x, y;
        fs_provider_draw(&c, &a, &x);
        fs_provider_draw(&c, &b, &y);
        assert_int_equal(x.kind, y.kind);
        assert_ptr_equal(x.decline_code, y.decline_code);
        assert_int_equal(x.latency_us, y.latency_us);
    }
}

/* Parses body and returns the param named on failure, or "" on success. */
static const char *charge_param(const char *body, fs_provider_charge_request_t *r)
{
    static char param[64];
    fs_error_t err = {0};
    if (fs_provider_charge_parse(body, strlen(body), r, &err)) return "";
    assert_int_equal(err.outcome, FS_INVALID_REQUEST);
    snprintf(param, sizeof(param), "%s", err.param != NULL ? err.param : "(none)");
    return param;
}

static void charge_requests_are_checked(void **state)
{
    (void)state;
    fs_provider_charge_request_t r;
    assert_string_equal(charge_param("{\"idempotency_key\":\"pay_1\",\"amount\":1050,"
                                     "\"currency\":\"USD\",\"payment_id\":\"pay_1\","
                                     "\"request_id\":\"req_9\"}",
                                     &r),
                        "");
    assert_string_equal(r.idempotency_key, "pay_1");
    assert_int_equal(r.amount, 1050);
    assert_string_equal(r.currency, "USD");
    assert_string_equal(r.payment_id, "pay_1");
    assert_string_equal(r.request_id, "req_9");
    assert_string_equal(charge_param("{\"idempotency_key\":\"k\",\"amount\":1,\"currency\":"
                                     "\"XYZ\",\"payment_id\":null}",
                                     &r),
                        "");
    assert_string_equal(r.payment_id, "");
    assert_string_equal(r.request_id, "");

    char long_key[400];
    memset(long_key, 'k', sizeof(long_key));
    char body[600];
    snprintf(body, sizeof(body),
             "{\"idempotency_key\":\"%.255s\",\"amount\":1,\"currency\":\"USD\"}", long_key);
    assert_string_equal(charge_param(body, &r), "");
    snprintf(body, sizeof(body),
             "{\"idempotency_key\":\"%.256s\",\"amount\":1,\"currency\":\"USD\"}", long_key);
    assert_string_equal(charge_param(body, &r), "idempotency_key");

    static const struct {
        const char *body, *param;
    } bad[] = {
        {"{\"amount\":1,\"currency\":\"USD\"}", "idempotency_key"},
        {"{\"idempotency_key\":\"\",\"amount\":1,\"currency\":\"USD\"}", "idempotency_key"},
        {"{\"idempotency_key\":\"a\\tb\",\"amount\":1,\"currency\":\"USD\"}", "idempotency_key"},
        {"{\"idempotency_key\":\"\\u00e9\",\"amount\":1,\"currency\":\"USD\"}", "idempotency_key"},
        {"{\"idempotency_key\":7,\"amount\":1,\"currency\":\"USD\"}", "idempotency_key"},
        {"{\"idempotency_key\":\"k\",\"currency\":\"USD\"}", "amount"},
        {"{\"idempotency_key\":\"k\",\"amount\":0,\"currency\":\"USD\"}", "amount"},
        {"{\"idempotency_key\":\"k\",\"amount\":-5,\"currency\":\"USD\"}", "amount"},
        {"{\"idempotency_key\":\"k\",\"amount\":1.5,\"currency\":\"USD\"}", "amount"},
        {"{\"idempotency_key\":\"k\",\"amount\":\"100\",\"currency\":\"USD\"}", "amount"},
        {"{\"idempotency_key\":\"k\",\"amount\":99999999999999999999,\"currency\":\"USD\"}",
         "amount"},
        {"{\"idempotency_key\":\"k\",\"amount\":1}", "currency"},
        {"{\"idempotency_key\":\"k\",\"amount\":1,\"currency\":\"usd\"}", "currency"},
        {"{\"idempotency_key\":\"k\",\"amount\":1,\"currency\":\"US\"}", "currency"},
        {"{\"idempotency_key\":\"k\",\"amount\":1,\"currency\":\"USDX\"}", "currency"},
        {"{\"idempotency_key\":\"k\",\"amount\":1,\"currency\":\"USD\",\"payment_id\":5}",
         "payment_id"},
        {"{\"idempotency_key\":\"k\",\"amount\":1,\"currency\":\"USD\",\"request_id\":\"\"}",
         "request_id"},
        {"{\"idempotency_key\":\"k\",\"amount\":1,\"currency\":\"USD\",\"tip\":1}", "tip"},
        {"[1]", "(none)"},
        {"{\"idempotency_key\":", "(none)"},
        {"{\"idempotency_key\":\"k\",\"idempotency_key\":\"j\",\"amount\":1,\"currency\":\"USD\"}",
         "(none)"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *p = charge_param(bad[i].body, &r);
        if (strcmp(p, bad[i].param) != 0)
            fail_msg("%s: named '%s', not '%s'", bad[i].body, p, bad[i].param);
    }
}

static fs_provider_charge_request_t request(const char *key, int64_t amount)
{
    fs_provider_charge_request_t r = {.amount = amount, .currency = "EUR"};
    snprintf(r.idempotency_key, sizeof(r.idempotency_key), "%s", key);
    return r;
}

static void table_records_each_key_once(void **state)
{
    (void)state;
    fs_provider_table_t *t = fs_provider_table_new(5000);
    assert_int_equal(fs_provider_table_count(t), 0);
    assert_null(fs_provider_table_find(t, "nothing"));
    char key[32];
    /* Past several doublings of the table. */
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "key-%d", i);
        fs_provider_charge_request_t r = request(key, i + 1);
        if (i == 3) snprintf(r.payment_id, sizeof(r.payment_id), "pay_3");
        fs_provider_charge_t *c = fs_provider_table_add(
            t, &r, i % 10 != 0, i % 10 != 0 ? NULL : "card_declined", 1700000000);
        assert_non_null(c);
        assert_true(strncmp(c->id, "ch_", 3) == 0);
    }
    assert_int_equal(fs_provider_table_count(t), 5000);
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "key-%d", i);
        fs_provider_charge_t *c = fs_provider_table_find(t, key);
        assert_non_null(c);
        assert_string_equal(c->idempotency_key, key);
        assert_int_equal(c->amount, i + 1);
        assert_string_equal(c->currency, "EUR");
        assert_int_equal(c->approved, i % 10 != 0);
    }
    /* Full: a new key is refused, the recorded ones stay. */
    fs_provider_charge_request_t extra = request("one-more", 1);
    assert_null(fs_provider_table_add(t, &extra, true, NULL, 0));
    assert_int_equal(fs_provider_table_count(t), 5000);

    fs_provider_charge_t *c = fs_provider_table_find(t, "key-3");
    c->repeats = 2;
    json_t *j = fs_provider_charge_json(c, true);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "approved");
    assert_true(json_is_null(json_object_get(j, "decline_code")));
    assert_string_equal(json_string_value(json_object_get(j, "payment_id")), "pay_3");
    assert_true(json_is_null(json_object_get(j, "request_id")));
    assert_int_equal(json_integer_value(json_object_get(j, "amount")), 4);
    assert_int_equal(json_integer_value(json_object_get(j, "repeats")), 2);
    assert_string_equal(json_string_value(json_object_get(j, "id")), c->id);
    json_decref(j);
    j = fs_provider_charge_json(fs_provider_table_find(t, "key-10"), false);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "declined");
    assert_string_equal(json_string_value(json_object_get(j, "decline_code")), "card_declined");
    assert_null(json_object_get(j, "repeats"));
    json_decref(j);
    fs_provider_table_free(t);
}

static void key_form(void **state)
{
    (void)state;
    assert_true(fs_provider_key_valid("a", 1));
    assert_true(fs_provider_key_valid("pay_1 /?~", 9));
    assert_false(fs_provider_key_valid("", 0));
    assert_false(fs_provider_key_valid("a\nb", 3));
    assert_false(fs_provider_key_valid("a\0b", 3));
    char k[FS_PROVIDER_KEY_LEN_MAX + 1];
    memset(k, 'x', sizeof(k));
    assert_true(fs_provider_key_valid(k, FS_PROVIDER_KEY_LEN_MAX));
    assert_false(fs_provider_key_valid(k, FS_PROVIDER_KEY_LEN_MAX + 1));
}

/* The settlement report and injected breaks (issue 12). */
static fs_provider_charge_t *brk(fs_provider_table_t *c, fs_provider_table_t *r, const char *json,
                                 int64_t now, fs_error_t *err)
{
    json_t *j = json_loads(json, 0, NULL);
    assert_non_null(j);
    fs_provider_charge_t *ch = fs_provider_break(c, r, j, now, err);
    json_decref(j);
    return ch;
}

static void report_lists_the_day_in_pages_and_breaks_change_it(void **state)
{
    (void)state;
    fs_provider_table_t *c = fs_provider_table_new(100), *r = fs_provider_table_new(100);
    const int64_t day = 1796428800; /* 2026-12-05 */
    fs_error_t err;
    assert_non_null(brk(c, r,
                        "{\"action\":\"add\",\"idempotency_key\":\"pay_b\","
                        "\"amount\":200,\"currency\":\"USD\"}",
                        day + 10, &err));
    assert_non_null(brk(c, r,
                        "{\"action\":\"add\",\"idempotency_key\":\"pay_a\","
                        "\"amount\":100,\"currency\":\"USD\"}",
                        day + 20, &err));
    assert_non_null(brk(c, r,
                        "{\"action\":\"add\",\"type\":\"refund\",\"idempotency_key\":"
                        "\"re_c\",\"amount\":50,\"currency\":\"USD\"}",
                        day + 30, &err));
    /* The day before: not in the report. */
    assert_non_null(brk(c, r,
                        "{\"action\":\"add\",\"idempotency_key\":\"pay_0\","
                        "\"amount\":1,\"currency\":\"USD\"}",
                        day - 1, &err));
    json_t *p1 = fs_provider_report(c, r, "2026-12-05", day, "", 2);
    json_t *data = json_object_get(p1, "data");
    assert_int_equal(json_array_size(data), 2);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(data, 0), "idempotency_key")), "pay_a");
    assert_true(json_is_true(json_object_get(p1, "has_more")));
    assert_string_equal(json_string_value(json_object_get(p1, "next_after")), "pay_b");
    json_t *p2 = fs_provider_report(c, r, "2026-12-05", day, "pay_b", 2);
    data = json_object_get(p2, "data");
    assert_int_equal(json_array_size(data), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(data, 0), "type")),
                        "refund");
    assert_false(json_is_true(json_object_get(p2, "has_more")));
    json_decref(p1);
    json_decref(p2);

    /* alter, drop; errors name the field. */
    fs_provider_charge_t *a = brk(c, r,
                                  "{\"action\":\"alter\",\"idempotency_key\":\"pay_a\","
                                  "\"amount\":101,\"status\":\"declined\"}",
                                  day, &err);
    assert_non_null(a);
    assert_int_equal(a->amount, 101);
    assert_false(a->approved);
    assert_non_null(brk(c, r, "{\"action\":\"drop\",\"idempotency_key\":\"pay_b\"}", day, &err));
    json_t *p3 = fs_provider_report(c, r, "2026-12-05", day, "", 10);
    assert_int_equal(json_array_size(json_object_get(p3, "data")), 2);
    json_decref(p3);
    assert_null(brk(c, r, "{\"action\":\"alter\",\"idempotency_key\":\"nope\"}", day, &err));
    assert_int_equal(err.outcome, FS_NOT_FOUND);
    assert_null(brk(c, r,
                    "{\"action\":\"add\",\"idempotency_key\":\"pay_a\",\"amount\":1,"
                    "\"currency\":\"USD\"}",
                    day, &err));
    assert_int_equal(err.outcome, FS_IDEMPOTENCY_KEY_REUSE);
    assert_null(brk(c, r, "{\"action\":\"zap\",\"idempotency_key\":\"pay_a\"}", day, &err));
    assert_string_equal(err.param, "action");
    assert_null(brk(c, r,
                    "{\"action\":\"alter\",\"idempotency_key\":\"pay_a\","
                    "\"currency\":\"usd\"}",
                    day, &err));
    assert_string_equal(err.param, "currency");
    assert_null(brk(c, r,
                    "{\"action\":\"add\",\"idempotency_key\":\"pay_z\","
                    "\"currency\":\"USD\"}",
                    day, &err));
    assert_string_equal(err.param, "amount");
    fs_provider_table_free(c);
    fs_provider_table_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(default_is_realistic),
        cmocka_unit_test(config_apply_checks_each_field),
        cmocka_unit_test(outage_counts_from_now),
        cmocka_unit_test(config_json_round_trips),
        cmocka_unit_test(options_parse_flags),
        cmocka_unit_test(rng_is_reproducible),
        cmocka_unit_test(latency_fixed_and_uniform_stay_in_bounds),
        cmocka_unit_test(latency_lognormal_has_its_median_and_p99),
        cmocka_unit_test(draws_match_the_rates),
        cmocka_unit_test(draws_replay_with_the_seed),
        cmocka_unit_test(charge_requests_are_checked),
        cmocka_unit_test(table_records_each_key_once),
        cmocka_unit_test(key_form),
        cmocka_unit_test(report_lists_the_day_in_pages_and_breaks_change_it),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
