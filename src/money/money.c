/*
 * money.c: the currency table and overflow-checked arithmetic (see money.h).
 */
#include "money.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const fs_currency_t currencies[] = {
    {"AUD", 2}, {"BHD", 3}, {"CAD", 2}, {"CHF", 2}, {"EUR", 2},
    {"GBP", 2}, {"JPY", 0}, {"KRW", 0}, {"SEK", 2}, {"USD", 2},
};

const fs_currency_t *fs_money_currency(const char *code)
{
    for (size_t i = 0; i < sizeof(currencies) / sizeof(currencies[0]); i++) {
        if (strcmp(code, currencies[i].code) == 0) return &currencies[i];
    }
    return NULL;
}

const fs_currency_t *fs_money_currencies(size_t *count)
{
    *count = sizeof(currencies) / sizeof(currencies[0]);
    return currencies;
}

bool fs_money_add(int64_t a, int64_t b, int64_t *out)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r)) return false;
    *out = r;
    return true;
}

bool fs_money_sub(int64_t a, int64_t b, int64_t *out)
{
    int64_t r;
    if (__builtin_sub_overflow(a, b, &r)) return false;
    *out = r;
    return true;
}

int fs_money_format(int64_t amount, const fs_currency_t *currency, char *out, size_t out_len)
{
    /* Work on the magnitude as uint64 so INT64_MIN does not overflow. */
    uint64_t mag = amount < 0 ? (uint64_t)0 - (uint64_t)amount : (uint64_t)amount;
    const char *sign = amount < 0 ? "-" : "";
    if (currency->exponent == 0) {
        return snprintf(out, out_len, "%s%" PRIu64 " %s", sign, mag, currency->code);
    }
    uint64_t scale = 1;
    for (int i = 0; i < currency->exponent; i++) scale *= 10;
    return snprintf(out, out_len, "%s%" PRIu64 ".%0*" PRIu64 " %s", sign, mag / scale,
                    currency->exponent, mag % scale, currency->code);
}
