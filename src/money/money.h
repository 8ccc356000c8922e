/*
 * money.h: amounts and currencies.
 *
 * An amount is an int64 count of the currency's minor units (cents for USD,
 * yen for JPY); never a float. Arithmetic is overflow-checked: a function
 * that would overflow returns false and leaves *out unchanged.
 */
#ifndef FS_MONEY_H
#define FS_MONEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *code; /* ISO 4217, upper case */
    int exponent;     /* minor-unit digits: 2 for USD, 0 for JPY, 3 for BHD */
} fs_currency_t;

/* The currency for an ISO 4217 code (case-sensitive, upper case), or NULL. */
const fs_currency_t *fs_money_currency(const char *code);

/* All supported currencies, in code order; *count receives their number.
 * db/migrations/0001_core.sql seeds the same list. */
const fs_currency_t *fs_money_currencies(size_t *count);

bool fs_money_add(int64_t a, int64_t b, int64_t *out);
bool fs_money_sub(int64_t a, int64_t b, int64_t *out);

/* Formats an amount in major units for people ("12.34 USD", "-0.05 EUR",
 * "100 JPY"). Returns the length written, as snprintf does. */
int fs_money_format(int64_t amount, const fs_currency_t *currency, char *out, size_t out_len);

#endif
