/*
 * event.c: event types and the checks of GET /v1/events (see event.h).
 */
#include "event.h"

#include <string.h>

#include "../account/account.h"
#include "../validate/validate.h"

const char *const fs_event_types[] = {
    "payment.created", "payment.succeeded", "payment.failed", "payment.canceled",
    "refund.created", "refund.succeeded", "refund.failed",
    /* risk rules and balance alerts (docs/risk.md) */
    "payment.flagged", "payment.blocked", "payment.review_approved",
    "payment.review_rejected", "account.balance_below", "account.balance_above", NULL,
};

bool fs_event_type_known(const char *type)
{
    for (const char *const *t = fs_event_types; *t != NULL; t++) {
        if (strcmp(type, *t) == 0) return true;
    }
    return false;
}

bool fs_event_parse_list(const char *query, json_t *item, fs_error_t *err)
{
    static const char *const extra[] = {"type", "account", NULL};
    if (!fs_validate_list_query(query, FS_EVENT_ID_PREFIX, extra, item, err)) return false;
    const char *account = json_string_value(json_object_get(item, "account"));
    if (account != NULL && !fs_validate_id_string(account, FS_ACCOUNT_ID_PREFIX)) {
        return fs_fail(err, FS_INVALID_REQUEST, "account",
                       "account must be an id starting with acct_.");
    }
    const char *type = json_string_value(json_object_get(item, "type"));
    if (type != NULL && !fs_event_type_known(type)) {
        return fs_fail(err, FS_INVALID_REQUEST, "type",
                       "type must be one of " FS_EVENT_TYPES_TEXT ".");
    }
    return true;
}
