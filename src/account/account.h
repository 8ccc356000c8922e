/*
 * account.h: accounts and deposits: checks of their API requests.
 *
 * An account holds one currency and two balances in minor units: available
 * (spendable) and pending (held by payments not yet settled). Balances change
 * only through journal entries, in db/functions/batch.sql, under a row
 * lock taken in id order. This module validates requests and turns each into
 * an operation item for the store; it never touches the database itself.
 */
#ifndef FS_ACCOUNT_H
#define FS_ACCOUNT_H

#include <jansson.h>
#include <stdbool.h>

#include "../core/core.h"

#define FS_ACCOUNT_ID_PREFIX "acct"
#define FS_DEPOSIT_ID_PREFIX "dep"

/* POST /v1/accounts {currency, name?, type?, metadata?}: fills item. */
bool fs_account_parse_create(const json_t *body, json_t *item, fs_error_t *err);

/* POST /v1/accounts/{id}/deposits {amount}: fills item. */
bool fs_account_parse_deposit(const json_t *body, json_t *item, fs_error_t *err);

#endif
