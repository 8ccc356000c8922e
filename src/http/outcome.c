/*
 * outcome.c: outcomes to HTTP, in one table (see http.h).
 */
#include <jansson.h>
#include <string.h>

#include "http.h"

typedef struct {
    const char *code; /* the error code clients see, and the store's name */
    int status;
    const char *type;
} outcome_info_t;

static const outcome_info_t table[FS_OUTCOME_COUNT] = {
    [FS_OK] = {"ok", 200, NULL},
    [FS_CREATED] = {"created", 201, NULL},
    [FS_INVALID_REQUEST] = {"invalid_request", 400, "invalid_request_error"},
    [FS_UNAUTHORIZED] = {"unauthorized", 401, "authentication_error"},
    [FS_FORBIDDEN] = {"forbidden", 403, "permission_error"},
    [FS_NOT_FOUND] = {"not_found", 404, "invalid_request_error"},
    [FS_METHOD_NOT_ALLOWED] = {"method_not_allowed", 405, "invalid_request_error"},
    [FS_REQUEST_TOO_LARGE] = {"request_too_large", 413, "invalid_request_error"},
    [FS_INSUFFICIENT_FUNDS] = {"insufficient_funds", 402, "payment_error"},
    [FS_CURRENCY_MISMATCH] = {"currency_mismatch", 400, "invalid_request_error"},
    [FS_ACCOUNT_INACTIVE] = {"account_inactive", 409, "invalid_request_error"},
    [FS_AMOUNT_TOO_LARGE] = {"amount_too_large", 400, "invalid_request_error"},
    [FS_PAYMENT_NOT_CANCELABLE] = {"payment_not_cancelable", 409, "invalid_request_error"},
    [FS_PAYMENT_NOT_REFUNDABLE] = {"payment_not_refundable", 409, "invalid_request_error"},
    [FS_REFUND_EXCEEDS_AMOUNT] = {"refund_exceeds_amount", 409, "invalid_request_error"},
    [FS_IDEMPOTENCY_KEY_MISSING] = {"idempotency_key_missing", 400, "idempotency_error"},
    [FS_IDEMPOTENCY_KEY_REUSE] = {"idempotency_key_reuse", 422, "idempotency_error"},
    [FS_IDEMPOTENCY_KEY_IN_USE] = {"idempotency_key_in_use", 409, "idempotency_error"},
    [FS_OVERLOADED] = {"overloaded", 503, "api_error"},
    [FS_RATE_LIMITED] = {"rate_limited", 429, "rate_limit_error"},
    [FS_UNAVAILABLE] = {"unavailable", 503, "api_error"},
    [FS_INTERNAL] = {"internal", 500, "api_error"},
    [FS_LOCK_LOST] = {"lock_lost", 409, "api_error"},
    [FS_LOCK_BUSY] = {"lock_busy", 409, "api_error"},
    [FS_ACCOUNT_NOT_EMPTY] = {"account_not_empty", 409, "invalid_request_error"},
    /* The admin console's (docs/console.md). */
    [FS_CSRF_FAILED] = {"csrf_failed", 403, "permission_error"},
    [FS_LOGIN_LOCKED] = {"login_locked", 429, "rate_limit_error"},
    [FS_INVALID_CREDENTIALS] = {"invalid_credentials", 401, "authentication_error"},
    [FS_ADMIN_KEY_SCOPE] = {"admin_key_scope", 403, "permission_error"},
    /* An admin disabling their own staff member (they would lock themselves out). */
    [FS_STAFF_SELF_DISABLE] = {"staff_self_disable", 409, "invalid_request_error"},
    /* Taken, made in the background (POST /v1/exports). */
    [FS_ACCEPTED] = {"accepted", 202, NULL},
    /* Risk rules (docs/risk.md). A blocked payment's error also names the
     * rule and carries the decision (its payload's "rule" and "risk"). */
    [FS_PAYMENT_BLOCKED] = {"payment_blocked", 402, "payment_error"},
    [FS_PAYMENT_NOT_REVIEWABLE] = {"payment_not_reviewable", 409, "invalid_request_error"},
    /* --- risk rules (issue 12) --- */
    /* The value is on that list already (the answer names its entry). */
    [FS_RISK_LIST_ENTRY_EXISTS] = {"risk_list_entry_exists", 409, "invalid_request_error"},
    /* --- API keys (issue 13) --- */
    /* A rotation of a key that is revoked, expired or rotated already. */
    [FS_API_KEY_INACTIVE] = {"api_key_inactive", 409, "invalid_request_error"},
    /* --- operator authority (issue 13) --- */
    /* Deposits are off for the tenant (its setting deposits_enabled). */
    [FS_DEPOSITS_DISABLED] = {"deposits_disabled", 403, "permission_error"},
    /* --- reads (issue 13) --- */
    /* Cancelled after FS_READ_STATEMENT_TIMEOUT_MS; a narrower filter or a
     * smaller limit reads less (the message says so). */
    [FS_READ_TIMEOUT] = {"read_timeout", 503, "api_error"},
    [FS_TOO_MANY_CONCURRENT_READS] = {"too_many_concurrent_reads", 429, "rate_limit_error"},
    [FS_READS_OVERLOADED] = {"reads_overloaded", 503, "api_error"},
};

const char *fs_http_reason(int status)
{
    /* libevent names only the common codes; it calls the others "Client
     * Error". */
    switch (status) {
    case 402:
        return "Payment Required";
    case 409:
        return "Conflict";
    case 413:
        return "Content Too Large";
    case 422:
        return "Unprocessable Content";
    case 429:
        return "Too Many Requests";
    case 503:
        return "Service Unavailable";
    default:
        return NULL;
    }
}

int fs_http_status(fs_outcome_t o)
{
    FS_ASSERT(o < FS_OUTCOME_COUNT);
    return table[o].status;
}

const char *fs_http_error_type(fs_outcome_t o)
{
    FS_ASSERT(o < FS_OUTCOME_COUNT);
    return table[o].type;
}

const char *fs_http_outcome_code(fs_outcome_t o)
{
    FS_ASSERT(o < FS_OUTCOME_COUNT);
    return table[o].code;
}

fs_outcome_t fs_http_outcome_parse(const char *name)
{
    for (int i = 0; i < FS_OUTCOME_COUNT; i++) {
        if (strcmp(table[i].code, name) == 0) return (fs_outcome_t)i;
    }
    return FS_INTERNAL;
}

/* A JSON string of text; bytes of invalid UTF-8 (from a raw path, say)
 * become '?' rather than failing. */
static json_t *safe_string(const char *text)
{
    json_t *s = json_string(text);
    if (s != NULL) return s;
    char buf[512];
    size_t i = 0;
    for (; text[i] != '\0' && i < sizeof(buf) - 1; i++) {
        unsigned char c = (unsigned char)text[i];
        buf[i] = c < 0x20 || c > 0x7e ? '?' : (char)c;
    }
    buf[i] = '\0';
    return json_string(buf);
}

char *fs_http_error_body(fs_outcome_t o, const char *message, const char *param)
{
    return fs_http_error_body_with(o, message, param, NULL);
}

char *fs_http_error_body_with(fs_outcome_t o, const char *message, const char *param,
                              const json_t *fields)
{
    json_t *e = json_pack("{s:s, s:s, s:o, s:o}", "type", fs_http_error_type(o), "code",
                          fs_http_outcome_code(o), "message", safe_string(message), "param",
                          param != NULL ? safe_string(param) : json_null());
    FS_ASSERT(e != NULL);
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)fields, key, value)
    {
        /* The four every error has are the outcome's and the arguments'. */
        if (json_object_get(e, key) == NULL) json_object_set(e, key, value);
    }
    json_t *body = json_pack("{s:o}", "error", e);
    FS_ASSERT(body != NULL);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    return text;
}
