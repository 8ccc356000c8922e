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
#define FS_REFUND_ID_PREFIX "re"

/* POST /v1/payments: fills item with from, to, amount, currency, description,
 * metadata and a new id. */
bool fs_transaction_parse_create(const json_t *body, json_t *item, fs_error_t *err);

/* A payment's statuses (NULL-terminated), the one list every status filter
 * checks against (GET /v1/payments, search, exports), and the same as text
 * for their errors. requires_review: held by a risk rule (docs/risk.md). */
extern const char *const fs_payment_statuses[];
#define FS_PAYMENT_STATUSES_TEXT \
    "requires_review, pending, processing, succeeded, failed, canceled, refunded"

/* A review of a payment in requires_review (docs/risk.md): POST
 * /v1/payments/{id}/review {decision: approve|reject, reason}: fills item. */
bool fs_transaction_parse_review(const json_t *body, json_t *item, fs_error_t *err);

/* GET /v1/payments?account=&status=&limit=&starting_after=: fills item. */
bool fs_transaction_parse_list(const char *query, json_t *item, fs_error_t *err);

/* Refunds give back all or part of a succeeded payment; their amounts never
 * add up past it. A refund holds the amount on the payee when it is
 * accepted, and goes pending -> processing -> succeeded | failed through the
 * provider as a payment does; the payment counts amount_refunded and is
 * "refunded" once all of it is (docs/architecture.md, "Refunds"). */

/* POST /v1/payments/{payment}/refunds {amount?}: fills item with payment,
 * amount (absent: all that remains), max (FS_REFUNDS_PER_PAYMENT_MAX) and a
 * new id. payment is the path's id, checked here. */
bool fs_transaction_parse_refund(const char *payment, const json_t *body, json_t *item,
                                 fs_error_t *err);

/* GET /v1/payments/{payment}/refunds?limit=&starting_after=: fills item. */
bool fs_transaction_parse_refund_list(const char *payment, const char *query, json_t *item,
                                      fs_error_t *err);

#endif
