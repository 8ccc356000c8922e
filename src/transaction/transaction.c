/*
 * transaction.c: payment request checks (see transaction.h).
 */
#include "transaction.h"

#include <string.h>

#include "../account/account.h"
#include "../money/money.h"
#include "../validate/validate.h"

const char *const fs_payment_statuses[] = {"requires_review", "pending",  "processing", "succeeded",
                                          "failed",          "canceled", "refunded",   NULL};

bool fs_transaction_parse_create(const json_t *body, json_t *item, fs_error_t *err)
{
    static const char *const fields[] = {"from_account", "to_account", "amount",   "currency",
                                         "description",  "metadata",   NULL};
    const char *from, *to, *description;
    const fs_currency_t *currency;
    int64_t amount;
    json_t *metadata;
    char id[FS_ID_BUF_LEN];

    if (!fs_validate_known_fields(body, fields, err)) return false;
    if (!fs_validate_id(body, "from_account", FS_ACCOUNT_ID_PREFIX, &from, err)) return false;
    if (!fs_validate_id(body, "to_account", FS_ACCOUNT_ID_PREFIX, &to, err)) return false;
    if (strcmp(from, to) == 0) {
        return fs_fail(err, FS_INVALID_REQUEST, "to_account",
                       "to_account must differ from from_account.");
    }
    if (!fs_validate_amount(body, "amount", &amount, err)) return false;
    if (!fs_validate_currency(body, "currency", &currency, err)) return false;
    if (!fs_validate_string(body, "description", false, FS_DESCRIPTION_LEN_MAX, &description,
                            err))
        return false;
    if (!fs_validate_metadata(body, &metadata, err)) return false;

    fs_id_new(FS_PAYMENT_ID_PREFIX, id, sizeof(id));
    json_object_set_new(item, "id", json_string(id));
    json_object_set_new(item, "from", json_string(from));
    json_object_set_new(item, "to", json_string(to));
    json_object_set_new(item, "amount", json_integer(amount));
    json_object_set_new(item, "currency", json_string(currency->code));
    json_object_set_new(item, "description",
                        description != NULL ? json_string(description) : json_null());
    json_object_set_new(item, "metadata", metadata);
    return true;
}

bool fs_transaction_parse_list(const char *query, json_t *item, fs_error_t *err)
{
    static const char *const extra[] = {"account", "status", NULL};
    if (!fs_validate_list_query(query, FS_PAYMENT_ID_PREFIX, extra, item, err)) return false;
    const char *account = json_string_value(json_object_get(item, "account"));
    if (account != NULL && !fs_validate_id_string(account, FS_ACCOUNT_ID_PREFIX)) {
        return fs_fail(err, FS_INVALID_REQUEST, "account",
                       "account must be an id starting with acct_.");
    }
    const char *status = json_string_value(json_object_get(item, "status"));
    if (status != NULL) {
        bool known = false;
        for (const char *const *s = fs_payment_statuses; *s != NULL; s++) {
            if (strcmp(status, *s) == 0) known = true;
        }
        if (!known) {
            return fs_fail(err, FS_INVALID_REQUEST, "status",
                           "status must be one of " FS_PAYMENT_STATUSES_TEXT ".");
        }
    }
    return true;
}

/* The payment in the path: a malformed id is as unknown as a missing one. */
static bool refund_payment(const char *payment, json_t *item, fs_error_t *err)
{
    if (!fs_validate_id_string(payment, FS_PAYMENT_ID_PREFIX)) {
        return fs_fail(err, FS_NOT_FOUND, "id", "No such payment: '%s'", payment);
    }
    json_object_set_new(item, "payment", json_string(payment));
    return true;
}

bool fs_transaction_parse_refund(const char *payment, const json_t *body, json_t *item,
                                 fs_error_t *err)
{
    static const char *const fields[] = {"amount", NULL};
    int64_t amount;
    char id[FS_ID_BUF_LEN];

    if (!refund_payment(payment, item, err)) return false;
    if (!fs_validate_known_fields(body, fields, err)) return false;
    const json_t *given = json_object_get(body, "amount");
    if (given != NULL && !json_is_null(given)) {
        if (!fs_validate_amount(body, "amount", &amount, err)) return false;
        json_object_set_new(item, "amount", json_integer(amount));
    }
    fs_id_new(FS_REFUND_ID_PREFIX, id, sizeof(id));
    json_object_set_new(item, "id", json_string(id));
    json_object_set_new(item, "max", json_integer(FS_REFUNDS_PER_PAYMENT_MAX));
    return true;
}

bool fs_transaction_parse_review(const json_t *body, json_t *item, fs_error_t *err)
{
    static const char *const fields[] = {"decision", "reason", NULL};
    const char *decision, *reason;
    if (!fs_validate_known_fields(body, fields, err)) return false;
    if (!fs_validate_string(body, "decision", true, FS_ID_LEN_MAX, &decision, err)) return false;
    if (strcmp(decision, "approve") != 0 && strcmp(decision, "reject") != 0)
        return fs_fail(err, FS_INVALID_REQUEST, "decision",
                       "decision must be approve or reject.");
    if (!fs_validate_string(body, "reason", false, FS_REVIEW_REASON_LEN_MAX, &reason, err))
        return false;
    json_object_set_new(item, "decision", json_string(decision));
    if (reason != NULL) json_object_set_new(item, "reason", json_string(reason));
    return true;
}

bool fs_transaction_parse_refund_list(const char *payment, const char *query, json_t *item,
                                      fs_error_t *err)
{
    static const char *const none[] = {NULL};
    if (!refund_payment(payment, item, err)) return false;
    return fs_validate_list_query(query, FS_REFUND_ID_PREFIX, none, item, err);
}
