/* Unit tests of src/money: overflow-checked arithmetic and currencies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "../../src/money/money.h"

static void add_and_sub_detect_overflow(void **state)
{
    (void)state;
    int64_t r = 7;
    assert_true(fs_money_add(1, 2, &r));
    assert_int_equal(r, 3);
    assert_false(fs_money_add(INT64_MAX, 1, &r));
    assert_int_equal(r, 3); /* unchanged on overflow */
    assert_true(fs_money_add(INT64_MAX, 0, &r));
    assert_false(fs_money_sub(INT64_MIN, 1, &r));
    assert_true(fs_money_sub(0, INT64_MAX, &r));
    assert_int_equal(r, -INT64_MAX);
    assert_false(fs_money_add(INT64_MIN, -1, &r));
}

static void currencies_have_their_exponents(void **state)
{
    (void)state;
    assert_int_equal(fs_money_currency("USD")->exponent, 2);
    assert_int_equal(fs_money_currency("JPY")->exponent, 0);
    assert_int_equal(fs_money_currency("BHD")->exponent, 3);
    const char *required[] = {"USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD"};
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
        assert_non_null(fs_money_currency(required[i]));
    }
    assert_null(fs_money_currency("usd"));
    assert_null(fs_money_currency("XXX"));
    assert_null(fs_money_currency(""));
    assert_null(fs_money_currency("USDX"));
}

static void currency_list_is_sorted_and_unique(void **state)
{
    (void)state;
    size_t n;
    const fs_currency_t *c = fs_money_currencies(&n);
    assert_true(n >= 7);
    for (size_t i = 1; i < n; i++) assert_true(strcmp(c[i - 1].code, c[i].code) < 0);
}

static void format_uses_the_exponent(void **state)
{
    (void)state;
    char buf[64];
    fs_money_format(1234, fs_money_currency("USD"), buf, sizeof(buf));
    assert_string_equal(buf, "12.34 USD");
    fs_money_format(-5, fs_money_currency("EUR"), buf, sizeof(buf));
    assert_string_equal(buf, "-0.05 EUR");
    fs_money_format(100, fs_money_currency("JPY"), buf, sizeof(buf));
    assert_string_equal(buf, "100 JPY");
    fs_money_format(1, fs_money_currency("BHD"), buf, sizeof(buf));
    assert_string_equal(buf, "0.001 BHD");
    fs_money_format(INT64_MIN, fs_money_currency("USD"), buf, sizeof(buf));
    assert_string_equal(buf, "-92233720368547758.08 USD");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(add_and_sub_detect_overflow),
        cmocka_unit_test(currencies_have_their_exponents),
        cmocka_unit_test(currency_list_is_sorted_and_unique),
        cmocka_unit_test(format_uses_the_exponent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
