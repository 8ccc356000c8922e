/* Unit tests of src/worker: the circuit breaker's states, the back-off's
 * bounds, and the check of the provider's answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "../../src/worker/breaker.h"
#include "../../src/worker/worker.h"

static const fs_breaker_config_t config = {
    .window = 10, .min_calls = 4, .failure_pct = 50, .open_ms = 1000, .probes = 2};

static void stays_closed_below_min_calls(void **state)
{
    (void)state;
    fs_breaker_t b;
    fs_breaker_init(&b, &config);
    for (int i = 0; i < 3; i++) {
        assert_true(fs_breaker_allow(&b, 0));
        fs_breaker_record(&b, false, 0);
    }
    assert_int_equal(b.state, FS_BREAKER_CLOSED);
    assert_true(fs_breaker_allow(&b, 0));
    fs_breaker_record(&b, false, 0);
    assert_int_equal(b.state, FS_BREAKER_OPEN);
}

static void opens_at_the_failure_ratio_of_the_window(void **state)
{
    (void)state;
    fs_breaker_t b;
    fs_breaker_init(&b, &config);
    /* 6 successes then failures: opens when failures >= 50% of the window. */
    for (int i = 0; i < 6; i++) fs_breaker_record(&b, true, 0);
    for (int i = 0; i < 4; i++) fs_breaker_record(&b, false, 0);
    assert_int_equal(b.state, FS_BREAKER_CLOSED); /* 4 of 10 */
    fs_breaker_record(&b, false, 0);              /* slides out a success: 5 of 10 */
    assert_int_equal(b.state, FS_BREAKER_OPEN);
}

static void window_forgets_old_failures(void **state)
{
    (void)state;
    fs_breaker_t b;
    fs_breaker_init(&b, &config);
    fs_breaker_record(&b, true, 0);
    fs_breaker_record(&b, true, 0);
    fs_breaker_record(&b, false, 0);
    for (int i = 0; i < 20; i++) fs_breaker_record(&b, true, 0);
    assert_int_equal(b.state, FS_BREAKER_CLOSED);
    assert_int_equal(b.failures, 0);
    for (int i = 0; i < 4; i++) fs_breaker_record(&b, false, 0);
    assert_int_equal(b.state, FS_BREAKER_CLOSED); /* 4 of 10 */
}

static void open_refuses_then_half_open_probes(void **state)
{
    (void)state;
    fs_breaker_t b;
    fs_breaker_init(&b, &config);
    for (int i = 0; i < 4; i++) fs_breaker_record(&b, false, 0);
    assert_int_equal(b.state, FS_BREAKER_OPEN);
    assert_false(fs_breaker_would_allow(&b, 999 * 1000));
    assert_false(fs_breaker_allow(&b, 999 * 1000));
    assert_true(fs_breaker_would_allow(&b, 1000 * 1000));
    assert_int_equal(b.state, FS_BREAKER_OPEN); /* would_allow changes nothing */
    assert_true(fs_breaker_allow(&b, 1000 * 1000));
    assert_int_equal(b.state, FS_BREAKER_HALF_OPEN);
    assert_true(fs_breaker_allow(&b, 1000 * 1000));
    assert_false(fs_breaker_would_allow(&b, 1000 * 1000));
    assert_false(fs_breaker_allow(&b, 1000 * 1000)); /* only 2 probes */
    fs_breaker_record(&b, true, 1000 * 1000);
    assert_int_equal(b.state, FS_BREAKER_HALF_OPEN);
    fs_breaker_record(&b, true, 1000 * 1000);
    assert_int_equal(b.state, FS_BREAKER_CLOSED);
    assert_int_equal(b.transitions, 3);
}

static void a_failed_probe_opens_again(void **state)
{
    (void)state;
    fs_breaker_t b;
    fs_breaker_init(&b, &config);
    for (int i = 0; i < 4; i++) fs_breaker_record(&b, false, 0);
    assert_true(fs_breaker_allow(&b, 2000 * 1000));
    fs_breaker_record(&b, false, 2000 * 1000);
    assert_int_equal(b.state, FS_BREAKER_OPEN);
    assert_false(fs_breaker_allow(&b, 2500 * 1000));
    assert_true(fs_breaker_allow(&b, 3000 * 1000));
}

static void backoff_is_full_jitter_and_capped(void **state)
{
    (void)state;
    assert_int_equal(fs_backoff_ms(0, 100, 10000, 0), 0);
    assert_int_equal(fs_backoff_ms(0, 100, 10000, 99), 99);
    assert_int_equal(fs_backoff_ms(0, 100, 10000, 100), 0);   /* below 100 */
    assert_int_equal(fs_backoff_ms(3, 100, 10000, 799), 799); /* below 800 */
    assert_int_equal(fs_backoff_ms(3, 100, 10000, 800), 0);
    for (uint32_t r = 0; r < 100000; r += 7919) {
        assert_true(fs_backoff_ms(40, 100, 10000, r) < 10000); /* capped, no overflow */
        assert_true(fs_backoff_ms(2, 100, 10000, r) < 400);
    }
    assert_int_equal(fs_backoff_ms(5, 0, 10000, 12345), 0);
}

/* An answer is taken only for this key, amount and currency. */
static void answers_must_match_the_request(void **state)
{
    (void)state;
    char why[128];
    json_t *ok = json_pack("{s:s, s:I, s:s, s:s}", "idempotency_key", "pay_1", "amount",
                           (json_int_t)1050, "currency", "USD", "status", "approved");
    assert_true(fs_worker_answer_matches(ok, "pay_1", 1050, "USD", why, sizeof(why)));
    assert_false(fs_worker_answer_matches(ok, "pay_2", 1050, "USD", why, sizeof(why)));
    assert_non_null(strstr(why, "key pay_1, not pay_2"));
    assert_false(fs_worker_answer_matches(ok, "pay_1", 1051, "USD", why, sizeof(why)));
    assert_non_null(strstr(why, "amount 1050, not 1051"));
    assert_false(fs_worker_answer_matches(ok, "pay_1", 1050, "EUR", why, sizeof(why)));
    assert_non_null(strstr(why, "currency USD, not EUR"));
    json_t *bad = json_pack("{s:s, s:s, s:s}", "idempotency_key", "pay_1", "amount", "1050",
                            "currency", "USD");
    assert_false(fs_worker_answer_matches(bad, "pay_1", 1050, "USD", why, sizeof(why)));
    json_t *none = json_object();
    assert_false(fs_worker_answer_matches(none, "pay_1", 1050, "USD", why, sizeof(why)));
    assert_non_null(strstr(why, "(none)"));
    json_decref(ok);
    json_decref(bad);
    json_decref(none);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stays_closed_below_min_calls),
        cmocka_unit_test(opens_at_the_failure_ratio_of_the_window),
        cmocka_unit_test(window_forgets_old_failures),
        cmocka_unit_test(open_refuses_then_half_open_probes),
        cmocka_unit_test(a_failed_probe_opens_again),
        cmocka_unit_test(backoff_is_full_jitter_and_capped),
        cmocka_unit_test(answers_must_match_the_request),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
