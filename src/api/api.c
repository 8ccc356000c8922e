/*
 * api.c: routing and request checks of API v1 (see api.h).
 */
#include "api.h"

#include <string.h>
#include <time.h>

#include "../account/account.h"
#include "../auth/auth.h"
#include "../event/event.h"
#include "../export/export.h"
#include "../idempotency/idempotency.h"
#include "../search/search.h"
#include "../report/report.h"
#include "../risk/risk.h"
#include "../notify/notify.h"
#include "../op/op.h"
#include "../transaction/transaction.h"
#include "../validate/validate.h"

typedef enum {
    ROUTE_NONE,
    ROUTE_HEALTHZ,
    ROUTE_READYZ,
    ROUTE_ACCOUNTS,
    ROUTE_ACCOUNT,
    ROUTE_DEPOSITS,
    ROUTE_PAYMENTS,
    ROUTE_PAYMENT,
    ROUTE_CANCEL,
    ROUTE_REVIEW,
    ROUTE_EVENTS,
    ROUTE_REFUNDS,
    ROUTE_REFUND,
    ROUTE_SEARCH,
    ROUTE_RECEIPT,
    ROUTE_WEBHOOK_ENDPOINTS,
    ROUTE_WEBHOOK_ENDPOINT,
    /* --- exports (issue 12) --- */
    ROUTE_EXPORTS,
    ROUTE_EXPORT,
    ROUTE_EXPORT_DOWNLOAD,
    ROUTE_METRICS, /* GET /metrics: Prometheus's scrape (src/metrics) */
    /* Finance (issue 12, src/report). */
    ROUTE_STATEMENT,
    ROUTE_REPORTS_DAILY,
    /* Finance: reconciliation against the provider (issue 12). */
    ROUTE_RECONCILIATION,
    /* --- risk rules (issue 12, src/risk) --- */
    ROUTE_RISK_RULES,
    ROUTE_RISK_RULE,
    ROUTE_RISK_LISTS,
    ROUTE_RISK_LIST_ENTRY,
    ROUTE_BALANCE_ALERTS,
    ROUTE_COUNT,
} route_t;

/* Each route's template: the label of its metrics (src/metrics) and the
 * route of its access log lines, never the raw path, so that ids do not make
 * new series or scatter the logs. The admin API's routes are src/admin's
 * (fs_admin_route_template): the server sends every /admin/api path there,
 * never here. */
static const char *const route_names[ROUTE_COUNT] = {
    [ROUTE_NONE] = "other",
    [ROUTE_HEALTHZ] = "/healthz",
    [ROUTE_READYZ] = "/readyz",
    [ROUTE_ACCOUNTS] = "/v1/accounts",
    [ROUTE_ACCOUNT] = "/v1/accounts/{id}",
    [ROUTE_DEPOSITS] = "/v1/accounts/{id}/deposits",
    [ROUTE_PAYMENTS] = "/v1/payments",
    [ROUTE_PAYMENT] = "/v1/payments/{id}",
    [ROUTE_CANCEL] = "/v1/payments/{id}/cancel",
    [ROUTE_REVIEW] = "/v1/payments/{id}/review",
    [ROUTE_EVENTS] = "/v1/events",
    [ROUTE_REFUNDS] = "/v1/payments/{id}/refunds",
    [ROUTE_REFUND] = "/v1/refunds/{id}",
    [ROUTE_SEARCH] = "/v1/payments/search",
    [ROUTE_RECEIPT] = "/v1/payments/{id}/receipt",
    [ROUTE_WEBHOOK_ENDPOINTS] = "/v1/webhook_endpoints",
    [ROUTE_WEBHOOK_ENDPOINT] = "/v1/webhook_endpoints/{id}",
    /* --- exports (issue 12) --- */
    [ROUTE_EXPORTS] = "/v1/exports",
    [ROUTE_EXPORT] = "/v1/exports/{id}",
    [ROUTE_EXPORT_DOWNLOAD] = "/v1/exports/{id}/download",
    [ROUTE_METRICS] = "/metrics",
    [ROUTE_STATEMENT] = "/v1/accounts/{id}/statement",
    [ROUTE_REPORTS_DAILY] = "/v1/reports/daily",
    [ROUTE_RECONCILIATION] = "/v1/reconciliations/{date}",
    /* --- risk rules (issue 12) --- */
    [ROUTE_RISK_RULES] = "/v1/risk_rules",
    [ROUTE_RISK_RULE] = "/v1/risk_rules/{id}",
    [ROUTE_RISK_LISTS] = "/v1/risk_lists",
    [ROUTE_RISK_LIST_ENTRY] = "/v1/risk_lists/{id}",
    [ROUTE_BALANCE_ALERTS] = "/v1/accounts/{id}/balance_alerts",
};
_Static_assert(ROUTE_COUNT <= FS_API_ROUTES_MAX, "FS_API_ROUTES_MAX is too small");

const char *fs_api_route_name(int route_id)
{
    return route_id >= 0 && route_id < ROUTE_COUNT ? route_names[route_id] : "other";
}

#define SEGMENTS_MAX 5

/* Splits "/v1/accounts/acct_x" into at most SEGMENTS_MAX segments; an empty
 * segment (double or trailing slash) or too many segments match no route. */
static int split(const char *path, char seg[SEGMENTS_MAX][FS_ID_LEN_MAX + 1])
{
    int n = 0;
    if (path[0] != '/') return -1;
    const char *p = path + 1;
    while (*p != '\0') {
        const char *slash = strchr(p, '/');
        size_t len = slash != NULL ? (size_t)(slash - p) : strlen(p);
        if (len == 0 || len > FS_ID_LEN_MAX || n == SEGMENTS_MAX) return -1;
        memcpy(seg[n], p, len);
        seg[n][len] = '\0';
        n++;
        if (slash == NULL) break;
        p = slash + 1;
        if (*p == '\0') return -1;
    }
    return n;
}

static route_t match(const char *path, const char **id)
{
    static _Thread_local char seg[SEGMENTS_MAX][FS_ID_LEN_MAX + 1];
    int n = split(path, seg);
    *id = NULL;
    if (n == 1 && strcmp(seg[0], "healthz") == 0) return ROUTE_HEALTHZ;
    if (n == 1 && strcmp(seg[0], "readyz") == 0) return ROUTE_READYZ;
    if (n == 1 && strcmp(seg[0], "metrics") == 0) return ROUTE_METRICS;
    if (n > 4) return ROUTE_NONE;
    if (n < 2 || strcmp(seg[0], "v1") != 0) return ROUTE_NONE;
    bool accounts = strcmp(seg[1], "accounts") == 0;
    bool payments = strcmp(seg[1], "payments") == 0;
    if (n == 2 && strcmp(seg[1], "events") == 0) return ROUTE_EVENTS;
    if (strcmp(seg[1], "webhook_endpoints") == 0) {
        if (n == 3) *id = seg[2];
        return n == 2 ? ROUTE_WEBHOOK_ENDPOINTS : n == 3 ? ROUTE_WEBHOOK_ENDPOINT : ROUTE_NONE;
    }
    /* --- exports (issue 12) --- */
    if (strcmp(seg[1], "exports") == 0) {
        if (n >= 3) *id = seg[2];
        if (n == 4 && strcmp(seg[3], "download") == 0) return ROUTE_EXPORT_DOWNLOAD;
        return n == 2 ? ROUTE_EXPORTS : n == 3 ? ROUTE_EXPORT : ROUTE_NONE;
    }
    /* --- risk rules (issue 12) --- */
    bool rules = strcmp(seg[1], "risk_rules") == 0, lists = strcmp(seg[1], "risk_lists") == 0;
    if (rules || lists) {
        if (n == 3) *id = seg[2];
        if (n == 2) return rules ? ROUTE_RISK_RULES : ROUTE_RISK_LISTS;
        return n == 3 ? (rules ? ROUTE_RISK_RULE : ROUTE_RISK_LIST_ENTRY) : ROUTE_NONE;
    }
    if (n == 4 && accounts && strcmp(seg[3], "balance_alerts") == 0) {
        *id = seg[2];
        return ROUTE_BALANCE_ALERTS;
    }
    if (n == 2) return accounts ? ROUTE_ACCOUNTS : payments ? ROUTE_PAYMENTS : ROUTE_NONE;
    /* Finance (issue 12): statements and daily reports. */
    if (n == 3 && strcmp(seg[1], "reports") == 0 && strcmp(seg[2], "daily") == 0)
        return ROUTE_REPORTS_DAILY;
    if (n == 4 && accounts && strcmp(seg[3], "statement") == 0) {
        *id = seg[2];
        return ROUTE_STATEMENT;
    }
    *id = seg[2];
    if (n == 3 && strcmp(seg[1], "refunds") == 0) return ROUTE_REFUND;
    if (n == 3 && strcmp(seg[1], "reconciliations") == 0) return ROUTE_RECONCILIATION;
    /* Before /v1/payments/{id}, which would take "search" for an id. */
    if (n == 3 && payments && strcmp(seg[2], "search") == 0) return ROUTE_SEARCH;
    if (n == 3) return accounts ? ROUTE_ACCOUNT : payments ? ROUTE_PAYMENT : ROUTE_NONE;
    if (payments && strcmp(seg[3], "refunds") == 0) return ROUTE_REFUNDS;
    if (accounts && strcmp(seg[3], "deposits") == 0) return ROUTE_DEPOSITS;
    if (payments && strcmp(seg[3], "cancel") == 0) return ROUTE_CANCEL;
    if (payments && strcmp(seg[3], "review") == 0) return ROUTE_REVIEW;
    if (payments && strcmp(seg[3], "receipt") == 0) return ROUTE_RECEIPT;
    return ROUTE_NONE;
}

static void reject(fs_api_result_t *res)
{
    res->action = FS_API_REJECT;
    if (res->item != NULL) json_decref(res->item);
    res->item = NULL;
}

/* The methods a route allows, as an Allow header. */
static const char *allowed(route_t r)
{
    switch (r) {
    case ROUTE_ACCOUNTS:
    case ROUTE_PAYMENTS:
    case ROUTE_REFUNDS:
    case ROUTE_WEBHOOK_ENDPOINTS:
    case ROUTE_RISK_RULES:
    case ROUTE_RISK_LISTS:
    case ROUTE_BALANCE_ALERTS:
        return "GET, POST";
    case ROUTE_RISK_RULE:
        return "GET, PATCH, DELETE";
    case ROUTE_RISK_LIST_ENTRY:
        return "DELETE";
    case ROUTE_EXPORTS:
        return "POST";
    case ROUTE_WEBHOOK_ENDPOINT:
        return "GET, DELETE";
    case ROUTE_DEPOSITS:
    case ROUTE_CANCEL:
    case ROUTE_REVIEW:
        return "POST";
    default:
        return "GET";
    }
}

static bool method_ok(route_t r, fs_method_t m)
{
    const char *a = allowed(r);
    if (m == FS_METHOD_GET) return strstr(a, "GET") != NULL;
    if (m == FS_METHOD_POST) return strstr(a, "POST") != NULL;
    if (m == FS_METHOD_DELETE) return strstr(a, "DELETE") != NULL;
    if (m == FS_METHOD_PATCH) return strstr(a, "PATCH") != NULL;
    return false;
}

/* The object id in the path: a malformed one is as unknown as a missing one. */
static bool path_id(const char *id, const char *prefix, const char *what, fs_error_t *err)
{
    if (fs_validate_id_string(id, prefix)) return true;
    return fs_fail(err, FS_NOT_FOUND, "id", "No such %s: '%s'", what, id);
}

static bool build_post(const fs_api_request_t *req, route_t r, const char *id,
                       const json_t *body, json_t *item, fs_error_t *err)
{
    static const char *const none[] = {NULL};
    switch (r) {
    case ROUTE_ACCOUNTS:
        fs_op_set(item, FS_OP_ACCOUNT_CREATE);
        return fs_account_parse_create(body, item, err);
    case ROUTE_DEPOSITS:
        if (!path_id(id, FS_ACCOUNT_ID_PREFIX, "account", err)) return false;
        fs_op_set(item, FS_OP_DEPOSIT);
        json_object_set_new(item, "account", json_string(id));
        return fs_account_parse_deposit(body, item, err);
    case ROUTE_PAYMENTS:
        fs_op_set(item, FS_OP_PAYMENT_CREATE);
        return fs_transaction_parse_create(body, item, err);
    case ROUTE_WEBHOOK_ENDPOINTS:
        fs_op_set(item, FS_OP_WEBHOOK_ENDPOINT_CREATE);
        return fs_notify_parse_endpoint_create(body, req->webhook_allowed, req->secrets_key,
                                               item, err);
    case ROUTE_EXPORTS:
        fs_op_set(item, FS_OP_EXPORT_CREATE);
        return fs_export_parse_create(body, item, err);
    case ROUTE_CANCEL:
        if (!path_id(id, FS_PAYMENT_ID_PREFIX, "payment", err)) return false;
        if (!fs_validate_known_fields(body, none, err)) return false;
        fs_op_set(item, FS_OP_PAYMENT_CANCEL);
        json_object_set_new(item, "payment", json_string(id));
        return true;
    case ROUTE_REVIEW:
        if (!path_id(id, FS_PAYMENT_ID_PREFIX, "payment", err)) return false;
        fs_op_set(item, FS_OP_PAYMENT_REVIEW);
        json_object_set_new(item, "payment", json_string(id));
        return fs_transaction_parse_review(body, item, err);
    case ROUTE_REFUNDS:
        fs_op_set(item, FS_OP_REFUND_CREATE);
        return fs_transaction_parse_refund(id, body, item, err);
    /* --- risk rules (issue 12) --- */
    case ROUTE_RISK_RULES:
        fs_op_set(item, FS_OP_RISK_RULE_CREATE);
        return fs_risk_parse_rule_create(body, item, err);
    case ROUTE_RISK_LISTS:
        fs_op_set(item, FS_OP_RISK_LIST_ENTRY_CREATE);
        return fs_risk_parse_list_entry_create(body, item, err);
    case ROUTE_BALANCE_ALERTS:
        if (!path_id(id, FS_ACCOUNT_ID_PREFIX, "account", err)) return false;
        fs_op_set(item, FS_OP_BALANCE_ALERTS_SET);
        json_object_set_new(item, "account", json_string(id));
        return fs_risk_parse_balance_alerts(body, item, err);
    default:
        FS_ASSERT(!"not a POST route");
    }
}

/* PATCH: a partial update, its body checked as a POST's. */
static bool build_patch(route_t r, const char *id, const json_t *body, json_t *item,
                        fs_error_t *err)
{
    FS_ASSERT(r == ROUTE_RISK_RULE);
    if (!path_id(id, FS_RISK_RULE_ID_PREFIX, "risk rule", err)) return false;
    fs_op_set(item, FS_OP_RISK_RULE_UPDATE);
    json_object_set_new(item, "id", json_string(id));
    return fs_risk_parse_rule_update(body, item, err);
}

/* DELETE: the object of the path; no query, no body (checked by the caller). */
static bool build_delete(route_t r, const char *id, const char *query, json_t *item,
                         fs_error_t *err)
{
    if (query != NULL && *query != '\0')
        return fs_fail(err, FS_INVALID_REQUEST, NULL, "This route takes no parameters.");
    if (r == ROUTE_WEBHOOK_ENDPOINT) {
        if (!path_id(id, FS_WEBHOOK_ENDPOINT_ID_PREFIX, "webhook endpoint", err)) return false;
        fs_op_set(item, FS_OP_WEBHOOK_ENDPOINT_DELETE);
    } else if (r == ROUTE_RISK_RULE) {
        if (!path_id(id, FS_RISK_RULE_ID_PREFIX, "risk rule", err)) return false;
        fs_op_set(item, FS_OP_RISK_RULE_DELETE);
    } else {
        FS_ASSERT(r == ROUTE_RISK_LIST_ENTRY);
        if (!path_id(id, FS_RISK_LIST_ENTRY_ID_PREFIX, "risk list entry", err)) return false;
        fs_op_set(item, FS_OP_RISK_LIST_ENTRY_DELETE);
    }
    json_object_set_new(item, "id", json_string(id));
    return true;
}

/* GET of the risk routes (issue 12): each runs alone (FS_OPF_SOLO). */
static bool build_get_risk(route_t r, const char *id, const char *query, json_t *item,
                           fs_error_t *err)
{
    static const char *const none[] = {NULL};
    if (r == ROUTE_RISK_RULES) {
        fs_op_set(item, FS_OP_RISK_RULE_LIST);
        return fs_validate_list_query(query, FS_RISK_RULE_ID_PREFIX, none, item, err);
    }
    if (r == ROUTE_RISK_LISTS) {
        fs_op_set(item, FS_OP_RISK_LIST_ENTRY_LIST);
        return fs_risk_parse_list_query(query, item, err);
    }
    if (query != NULL && *query != '\0')
        return fs_fail(err, FS_INVALID_REQUEST, NULL, "This route takes no parameters.");
    if (r == ROUTE_RISK_RULE) {
        if (!path_id(id, FS_RISK_RULE_ID_PREFIX, "risk rule", err)) return false;
        fs_op_set(item, FS_OP_RISK_RULE_GET);
        json_object_set_new(item, "id", json_string(id));
        return true;
    }
    FS_ASSERT(r == ROUTE_BALANCE_ALERTS);
    if (!path_id(id, FS_ACCOUNT_ID_PREFIX, "account", err)) return false;
    fs_op_set(item, FS_OP_BALANCE_ALERTS_GET);
    json_object_set_new(item, "account", json_string(id));
    return true;
}

static bool build_get(route_t r, const char *id, const char *query, json_t *item,
                      fs_error_t *err)
{
    static const char *const none[] = {NULL};
    if (r == ROUTE_RISK_RULES || r == ROUTE_RISK_RULE || r == ROUTE_RISK_LISTS ||
        r == ROUTE_BALANCE_ALERTS)
        return build_get_risk(r, id, query, item, err);
    if (r == ROUTE_ACCOUNT || r == ROUTE_PAYMENT) {
        bool acct = r == ROUTE_ACCOUNT;
        if (query != NULL && *query != '\0') {
            return fs_fail(err, FS_INVALID_REQUEST, NULL, "This route takes no parameters.");
        }
        if (!path_id(id, acct ? FS_ACCOUNT_ID_PREFIX : FS_PAYMENT_ID_PREFIX,
                     acct ? "account" : "payment", err))
            return false;
        fs_op_set(item, acct ? FS_OP_ACCOUNT_GET : FS_OP_PAYMENT_GET);
        json_object_set_new(item, "id", json_string(id));
        return true;
    }
    if (r == ROUTE_REFUNDS) {
        fs_op_set(item, FS_OP_REFUND_LIST);
        return fs_transaction_parse_refund_list(id, query, item, err);
    }
    if (r == ROUTE_REFUND) {
        if (query != NULL && *query != '\0') {
            return fs_fail(err, FS_INVALID_REQUEST, NULL, "This route takes no parameters.");
        }
        if (!path_id(id, FS_REFUND_ID_PREFIX, "refund", err)) return false;
        fs_op_set(item, FS_OP_REFUND_GET);
        json_object_set_new(item, "id", json_string(id));
        return true;
    }
    if (r == ROUTE_RECONCILIATION) {
        int64_t day_start;
        if (query != NULL && *query != '\0') {
            return fs_fail(err, FS_INVALID_REQUEST, NULL, "This route takes no parameters.");
        }
        if (!fs_date_parse(id, &day_start)) {
            return fs_fail(err, FS_INVALID_REQUEST, "date",
                           "The date must be a UTC date YYYY-MM-DD, such as 2026-12-05.");
        }
        fs_op_set(item, FS_OP_RECONCILIATION_GET);
        json_object_set_new(item, "date", json_string(id));
        json_object_set_new(item, "limit", json_integer(FS_RECON_BREAKS_SHOWN_MAX));
        return true;
    }
    if (r == ROUTE_RECEIPT) {
        if (query != NULL && *query != '\0') {
            return fs_fail(err, FS_INVALID_REQUEST, NULL, "This route takes no parameters.");
        }
        if (!path_id(id, FS_PAYMENT_ID_PREFIX, "payment", err)) return false;
        fs_op_set(item, FS_OP_RECEIPT_GET);
        json_object_set_new(item, "id", json_string(id));
        return true;
    }
    if (r == ROUTE_EXPORT || r == ROUTE_EXPORT_DOWNLOAD) {
        if (query != NULL && *query != '\0')
            return fs_fail(err, FS_INVALID_REQUEST, NULL, "This route takes no parameters.");
        if (!path_id(id, "exp", "export", err)) return false;
        fs_op_set(item, r == ROUTE_EXPORT ? FS_OP_EXPORT_GET : FS_OP_EXPORT_DOWNLOAD);
        json_object_set_new(item, "id", json_string(id));
        return true;
    }
    if (r == ROUTE_SEARCH) {
        /* A list (FS_OPF_SOLO): the store runs it alone, as every list. */
        fs_op_set(item, FS_OP_PAYMENT_SEARCH_LIST);
        return fs_search_parse_query(query, item, err);
    }
    if (r == ROUTE_EVENTS) {
        fs_op_set(item, FS_OP_EVENT_LIST);
        return fs_event_parse_list(query, item, err);
    }
    if (r == ROUTE_WEBHOOK_ENDPOINTS) {
        fs_op_set(item, FS_OP_WEBHOOK_ENDPOINT_LIST);
        return fs_validate_list_query(query, FS_WEBHOOK_ENDPOINT_ID_PREFIX, none, item, err);
    }
    if (r == ROUTE_WEBHOOK_ENDPOINT) {
        if (query != NULL && *query != '\0')
            return fs_fail(err, FS_INVALID_REQUEST, NULL, "This route takes no parameters.");
        if (!path_id(id, FS_WEBHOOK_ENDPOINT_ID_PREFIX, "webhook endpoint", err)) return false;
        fs_op_set(item, FS_OP_WEBHOOK_ENDPOINT_GET);
        json_object_set_new(item, "id", json_string(id));
        return true;
    }
    if (r == ROUTE_STATEMENT || r == ROUTE_REPORTS_DAILY) {
        /* Finance (issue 12): alone, as lists (FS_OPF_SOLO). */
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        int64_t now_us = (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
        if (r == ROUTE_REPORTS_DAILY) {
            fs_op_set(item, FS_OP_REPORT_DAILY);
            return fs_report_parse_daily(query, now_us, item, err);
        }
        if (!path_id(id, FS_ACCOUNT_ID_PREFIX, "account", err)) return false;
        fs_op_set(item, FS_OP_STATEMENT_GET);
        json_object_set_new(item, "id", json_string(id));
        return fs_report_parse_statement(query, now_us, item, err);
    }
    if (r == ROUTE_ACCOUNTS) {
        fs_op_set(item, FS_OP_ACCOUNT_LIST);
        return fs_validate_list_query(query, FS_ACCOUNT_ID_PREFIX, none, item, err);
    }
    FS_ASSERT(r == ROUTE_PAYMENTS);
    fs_op_set(item, FS_OP_PAYMENT_LIST);
    return fs_transaction_parse_list(query, item, err);
}

void fs_api_route(const fs_api_request_t *req, fs_api_result_t *res)
{
    const char *id;
    route_t r = match(req->path, &id);
    memset(res, 0, sizeof(*res));
    res->route_name = route_names[r];
    res->route_id = (int)r;

    if (r == ROUTE_NONE) {
        fs_fail(&res->err, FS_NOT_FOUND, NULL, "Unrecognized request URL: %.128s.", req->path);
        reject(res);
        return;
    }
    if (!method_ok(r, req->method)) {
        res->allow = allowed(r);
        fs_fail(&res->err, FS_METHOD_NOT_ALLOWED, NULL, "This route allows only %s.",
                res->allow);
        reject(res);
        return;
    }
    if (r == ROUTE_HEALTHZ || r == ROUTE_READYZ) {
        res->action = r == ROUTE_HEALTHZ ? FS_API_HEALTH : FS_API_READY;
        return;
    }
    if (r == ROUTE_METRICS) {
        /* Like the probes: no API key (bind the port to where Prometheus is). */
        res->action = FS_API_METRICS;
        return;
    }

    const char *key = fs_auth_bearer(req->authorization);
    if (key == NULL) {
        fs_fail(&res->err, FS_UNAUTHORIZED, NULL,
                "Send your API key as 'Authorization: Bearer <key>'.");
        reject(res);
        return;
    }
    fs_auth_key_hash(key, res->auth);
    res->item = json_object();
    json_object_set_new(res->item, "auth", json_string(res->auth));

    if (req->method == FS_METHOD_GET) {
        if (!build_get(r, id, req->query, res->item, &res->err)) {
            reject(res);
            return;
        }
        res->action = FS_API_STORE;
        return;
    }
    if (req->method == FS_METHOD_DELETE) {
        /* Deleting twice deletes once (the second gets 404): no
         * Idempotency-Key, no body. The route says what is deleted. */
        if (!build_delete(r, id, req->query, res->item, &res->err)) {
            reject(res);
            return;
        }
        if (req->body_len > 0) {
            fs_fail(&res->err, FS_INVALID_REQUEST, NULL, "DELETE takes no body.");
            reject(res);
            return;
        }
        res->action = FS_API_STORE;
        return;
    }

    if (req->body_len > FS_BODY_MAX_BYTES) {
        fs_fail(&res->err, FS_REQUEST_TOO_LARGE, "body", "The body may be at most %d bytes.",
                FS_BODY_MAX_BYTES);
        reject(res);
        return;
    }
    if (!fs_idempotency_key_check(req->idempotency_key, &res->err)) {
        reject(res);
        return;
    }
    if (req->query != NULL && *req->query != '\0') {
        fs_fail(&res->err, FS_INVALID_REQUEST, NULL,
                "%s parameters go in the JSON body, not the query string.",
                req->method == FS_METHOD_PATCH ? "PATCH" : "POST");
        reject(res);
        return;
    }
    json_t *body;
    if (!fs_validate_body(req->body, req->body_len, &body, &res->err)) {
        reject(res);
        return;
    }
    bool patch = req->method == FS_METHOD_PATCH;
    bool ok = patch ? build_patch(r, id, body, res->item, &res->err)
                    : build_post(req, r, id, body, res->item, &res->err);
    if (ok) {
        /* The key's hash is part of what is fingerprinted: another key of
         * the same tenant (an admin's, say) reusing an Idempotency-Key gets
         * 422, not the first key's stored answer. */
        char fp[FS_IDEMPOTENCY_FP_HEX_LEN + 1];
        char scoped[FS_AUTH_HASH_HEX_LEN + 1 + 2048];
        snprintf(scoped, sizeof(scoped), "%s %s", res->auth, req->path);
        fs_idempotency_fingerprint(patch ? "PATCH" : "POST", scoped, body, fp);
        json_object_set_new(res->item, "idem", json_string(req->idempotency_key));
        json_object_set_new(res->item, "fp", json_string(fp));
        res->action = FS_API_STORE;
    }
    json_decref(body);
    if (!ok) reject(res);
}

/* A route's template, for logs: ids are not in it, so lines group by route
 * (the same names as the metrics' labels). */
const char *fs_api_route_template(const char *path)
{
    const char *id;
    route_t r = match(path != NULL && *path != '\0' ? path : "/", &id);
    return fs_api_route_name((int)r);
}
