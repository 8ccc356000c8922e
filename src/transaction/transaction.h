/*
 * transaction.h: payments: checks of their API requests.
 *
 * A payment moves amount from from_account to to_account. Creating one holds
 * the amount on the payer (available -> pending) in the same transaction as
 * the payment, its journal entries and its idempotency record; the worker
 * settles it later. Status only moves forward:
 * pending -> processing -> succeeded | failed, or pending -> canceled.
 */
#ifndef FS_TRANSACTION_H
#define FS_TRANSACTION_H

#include <jansson.h>
#include <stdbool.h>

#include "../core/core.h"

#define FS_PAYMENT_ID_PREFIX "pay"

/* POST /v1/payments: fills item with from, to, amount, currency, description,
 * metadata and a new id. */
bool fs_transaction_parse_create(const json_t *body, json_t *item, fs_error_t *err);

/* GET /v1/payments?account=&status=&limit=&starting_after=: fills item. */
bool fs_transaction_parse_list(const char *query, json_t *item, fs_error_t *err);

#endif
