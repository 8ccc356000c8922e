/* Unit tests of src/ratelimit's GCRA (fs_gcra, which the in-process limiter
 * uses and the Lua script mirrors) and of its headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <string.h>

#include "../../src/ratelimit/ratelimit.h"

#define S INT64_C(1000000)
#define T0 (INT64_C(1700000000) * S)

/* Takes one request at now; true when it passed. */
static bool take(fs_rate_bucket_t *b, int64_t now, fs_rate_t rate, fs_rate_verdict_t *v)
{
    fs_rate_bucket_t out;
    fs_gcra(b, now, rate, v, &out);
    *b = out;
    return v->allowed;
}

static void burst_then_refused(void **state)
{
    (void)state;
    fs_rate_bucket_t b = {0, 0};
    fs_rate_verdict_t v;
    fs_rate_t rate = {1, 3};
    for (int i = 0; i < 3; i++) {
        assert_true(take(&b, T0, rate, &v));
        assert_int_equal(v.limit, 3);
        assert_int_equal(v.remaining, 2 - i);
        assert_int_equal(v.reset_s, i + 1);
    }
    assert_false(take(&b, T0, rate, &v));
    assert_int_equal(v.remaining, 0);
    assert_int_equal(v.retry_after_s, 1);
    assert_int_equal(v.reset_s, 3);
    /* A refusal takes nothing: one emission interval later, one passes. */
    assert_false(take(&b, T0 + S - 1, rate, &v));
    assert_true(take(&b, T0 + S, rate, &v));
    assert_int_equal(v.remaining, 0);
    assert_false(take(&b, T0 + S, rate, &v));
}

static void steady_rate_is_exact(void **state)
{
    (void)state;
    /* 7 a second, burst 2, offered 1000 a second for 10 s: 2 + 70 pass. */
    fs_rate_bucket_t b = {0, 0};
    fs_rate_verdict_t v;
    fs_rate_t rate = {7, 2};
    int passed = 0;
    for (int64_t t = 0; t < 10 * S; t += 1000) passed += take(&b, T0 + t, rate, &v);
    assert_in_range(passed, 71, 72);
}

static void idle_bucket_refills_to_the_burst(void **state)
{
    (void)state;
    fs_rate_bucket_t b = {0, 0};
    fs_rate_verdict_t v;
    fs_rate_t rate = {10, 5};
    for (int i = 0; i < 5; i++) assert_true(take(&b, T0, rate, &v));
    assert_false(take(&b, T0, rate, &v));
    assert_true(take(&b, T0 + 60 * S, rate, &v));
    assert_int_equal(v.remaining, 4); /* never more than the burst */
}

static void a_new_rate_keeps_the_count(void **state)
{
    (void)state;
    fs_rate_bucket_t b = {0, 0};
    fs_rate_verdict_t v;
    /* 3 taken at 1 a second (3 s ahead), then 1000 a second, burst 1000:
     * still 3 taken, so 997 more pass at once. */
    for (int i = 0; i < 3; i++) assert_true(take(&b, T0, (fs_rate_t){1, 50}, &v));
    assert_true(take(&b, T0, (fs_rate_t){1000, 1000}, &v));
    assert_int_equal(v.remaining, 996);
    /* Down to a burst of 2 with 4 taken: full, not over-full. */
    assert_false(take(&b, T0, (fs_rate_t){1, 2}, &v));
    assert_int_equal(v.retry_after_s, 1);
    assert_true(take(&b, T0 + S, (fs_rate_t){1, 2}, &v));
}

static void headers_follow_the_verdict(void **state)
{
    (void)state;
    struct evkeyvalq h;
    h.tqh_first = NULL;
    h.tqh_last = &h.tqh_first;
    fs_rate_verdict_t ok = {.allowed = true, .limit = 5, .remaining = 4, .reset_s = 1};
    fs_ratelimit_headers(&ok, &h);
    assert_string_equal(evhttp_find_header(&h, "RateLimit-Limit"), "5");
    assert_string_equal(evhttp_find_header(&h, "RateLimit-Remaining"), "4");
    assert_string_equal(evhttp_find_header(&h, "RateLimit-Reset"), "1");
    assert_null(evhttp_find_header(&h, "Retry-After"));
    evhttp_clear_headers(&h);
    fs_rate_verdict_t no = {.limit = 5, .reset_s = 2, .retry_after_s = 1};
    fs_ratelimit_headers(&no, &h);
    assert_string_equal(evhttp_find_header(&h, "Retry-After"), "1");
    assert_string_equal(evhttp_find_header(&h, "RateLimit-Remaining"), "0");
    evhttp_clear_headers(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(burst_then_refused),
        cmocka_unit_test(steady_rate_is_exact),
        cmocka_unit_test(idle_bucket_refills_to_the_burst),
        cmocka_unit_test(a_new_rate_keeps_the_count),
        cmocka_unit_test(headers_follow_the_verdict),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
