/* Unit tests of src/cache: which outcomes may be replayed from Redis. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "../../src/cache/cache.h"
#include "../../src/http/http.h"

/* Only what the database stores under an Idempotency-Key: never a 400 (the
 * client corrects it and retries with the key), a 401, a 422 about the key
 * itself, or a 5xx (503s are not known to have happened). */
static void only_stored_outcomes_are_cached(void **state)
{
    (void)state;
    for (int i = 0; i < FS_OUTCOME_COUNT; i++) {
        const char *name = fs_http_outcome_code((fs_outcome_t)i);
        int status = fs_http_status((fs_outcome_t)i);
        bool stored = fs_cache_outcome_stored(name, false);
        if (status == 400 || status == 401 || status >= 500 || i == FS_IDEMPOTENCY_KEY_REUSE
            || i == FS_IDEMPOTENCY_KEY_IN_USE) {
            if (stored) fail_msg("outcome %s (%d) must not be cached", name, status);
        }
    }
    assert_true(fs_cache_outcome_stored("created", false));
    assert_true(fs_cache_outcome_stored("ok", false));
    assert_true(fs_cache_outcome_stored("insufficient_funds", false));
    assert_false(fs_cache_outcome_stored("unavailable", false));
    assert_false(fs_cache_outcome_stored("invalid_request", false));
    assert_false(fs_cache_outcome_stored("a new outcome nobody listed", false));
    /* The database's own replay is what it stored. */
    assert_true(fs_cache_outcome_stored("payment_not_cancelable", true));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(only_stored_outcomes_are_cached),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
