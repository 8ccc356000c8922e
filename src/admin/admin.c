/*
 * admin.c: the admin API's routes in one table, their requests' checks and
 * items, roles, tokens and the limiter (see admin.h). No I/O.
 */
#include "admin.h"

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdlib.h>
#include <sys/queue.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../account/account.h"
#include "../idempotency/idempotency.h"
#include "../lock/lock.h"
#include "../op/op.h"
#include "../risk/risk.h"
#include "../report/report.h"
#include "../transaction/transaction.h"
#include "../validate/validate.h"

static const char *const role_names[] = {
    [FS_ROLE_NONE] = "none",       [FS_ROLE_VIEWER] = "viewer", [FS_ROLE_SUPPORT] = "support",
    [FS_ROLE_FINANCE] = "finance", [FS_ROLE_ADMIN] = "admin",
};

const char *fs_admin_role_name(fs_role_t role)
{
    FS_ASSERT(role <= FS_ROLE_ADMIN);
    return role_names[role];
}

fs_role_t fs_admin_role_parse(const char *name)
{
    for (int r = FS_ROLE_VIEWER; name != NULL && r <= FS_ROLE_ADMIN; r++)
        if (strcmp(role_names[r], name) == 0) return (fs_role_t)r;
    return FS_ROLE_NONE;
}

bool fs_admin_scope_valid(const char *scope)
{
    static const char op[] = "operator:";
    if (scope == NULL) return false;
    if (strcmp(scope, "tenant") == 0) return true;
    return strncmp(scope, op, sizeof(op) - 1) == 0 &&
           fs_admin_role_parse(scope + sizeof(op) - 1) != FS_ROLE_NONE;
}

bool fs_admin_role_allows(fs_role_t role, fs_role_t min)
{
    return role >= min;
}

/* --- the items of the routes ---------------------------------------------- */

/* "reason": required (1..FS_ADMIN_REASON_LEN_MAX) for staff, optional for an
 * admin key (recorded as null). */
static bool reason(const fs_admin_call_t *c, json_t *item, fs_error_t *err)
{
    const char *r = NULL;
    if (!fs_validate_string(c->body, "reason", !c->actor->key, FS_ADMIN_REASON_LEN_MAX, &r, err))
        return false;
    if (r != NULL && *r == '\0')
        return fs_fail(err, FS_INVALID_REQUEST, "reason",
                       "reason must say why (1 to %d characters).", FS_ADMIN_REASON_LEN_MAX);
    json_object_set_new(item, "reason", r != NULL ? json_string(r) : json_null());
    return true;
}

/* The body without "reason": what the /v1 parsers check. */
static json_t *without_reason(const json_t *body)
{
    json_t *copy = json_copy((json_t *)body);
    json_object_del(copy, "reason");
    return copy;
}

static bool only_reason(const fs_admin_call_t *c, json_t *item, fs_error_t *err)
{
    static const char *const fields[] = {"reason", NULL};
    return fs_validate_known_fields(c->body, fields, err) && reason(c, item, err);
}

static bool path_id(const char *id, const char *prefix, const char *what, fs_error_t *err)
{
    if (fs_validate_id_string(id, prefix)) return true;
    return fs_fail(err, FS_NOT_FOUND, "id", "No such %s: '%s'", what, id);
}

/* Valid UTF-8 (what a JSON string must be). */
static bool json_string_valid(const char *text)
{
    json_t *s = json_string(text);
    json_decref(s);
    return s != NULL;
}

static bool build_read(const fs_admin_call_t *c, json_t *item, fs_error_t *err)
{
    static _Thread_local char param[64];
    fs_op_set(item, FS_OP_ADMIN_READ);
    json_object_set_new(item, "fn", json_string(c->route->fn));
    json_object_set_new(item, "id", c->id[0] != '\0' ? json_string(c->id) : json_null());
    json_t *params = json_object();
    json_object_set_new(item, "params", params);
    if (c->query == NULL || *c->query == '\0') return true;
    if (strlen(c->query) > FS_QUERY_LEN_MAX)
        return fs_fail(err, FS_INVALID_REQUEST, NULL, "The query string may be at most %d bytes.",
                       FS_QUERY_LEN_MAX);
    struct evkeyvalq q;
    TAILQ_INIT(&q);
    if (evhttp_parse_query_str(c->query, &q) != 0)
        return fs_fail(err, FS_INVALID_REQUEST, NULL, "The query string is malformed.");
    bool ok = true;
    struct evkeyval *kv;
    TAILQ_FOREACH(kv, &q, next)
    {
        snprintf(param, sizeof(param), "%s", kv->key);
        bool known = false;
        for (const char *const *p = c->route->params; p != NULL && *p != NULL; p++)
            known = known || strcmp(*p, kv->key) == 0;
        if (!known) {
            ok = fs_fail(err, FS_INVALID_REQUEST, param, "Unknown parameter: %s.", param);
        } else if (json_object_get(params, kv->key) != NULL) {
            ok = fs_fail(err, FS_INVALID_REQUEST, param, "%s is given more than once.", param);
        } else if (json_object_size(params) >= FS_ADMIN_QUERY_PARAMS_MAX) {
            ok = fs_fail(err, FS_INVALID_REQUEST, param, "Too many parameters.");
        } else if (!json_string_valid(kv->value) || strlen(kv->value) > FS_ID_LEN_MAX * 4) {
            ok = fs_fail(err, FS_INVALID_REQUEST, param, "%s is not valid text.", param);
        } else if (strcmp(kv->key, "limit") == 0) {
            char *end;
            long n = strtol(kv->value, &end, 10);
            /* Digits only: strtol alone would take " 5" and "+5". */
            if (kv->value[0] < '0' || kv->value[0] > '9' || *end != '\0' || n < 1
                || n > FS_ADMIN_LIST_LIMIT_MAX)
                ok = fs_fail(err, FS_INVALID_REQUEST, param,
                             "limit must be an integer from 1 to %d.", FS_ADMIN_LIST_LIMIT_MAX);
        }
        if (!ok) break;
        json_object_set_new(params, kv->key, json_string(kv->value));
    }
    evhttp_clear_headers(&q);
    return ok;
}

static bool build_receipt(const fs_admin_call_t *c, json_t *item, fs_error_t *err)
{
    if (!path_id(c->id, FS_PAYMENT_ID_PREFIX, "payment", err)) return false;
    return build_read(c, item, err);
}

static bool build_refund(const fs_admin_call_t *c, json_t *item, fs_error_t *err)
{
    if (!path_id(c->id, FS_PAYMENT_ID_PREFIX, "payment", err)) return false;
    if (!reason(c, item, err)) return false;
    json_t *rest = without_reason(c->body);
    bool ok = fs_transaction_parse_refund(c->id, rest, item, err);
    json_decref(rest);
    fs_op_set(item, FS_OP_ADMIN_REFUND);
    return ok;
}

static bool build_cancel(const fs_admin_call_t *c, json_t *item, fs_error_t *err)
{
    if (!path_id(c->id, FS_PAYMENT_ID_PREFIX, "payment", err)) return false;
    if (!only_reason(c, item, err)) return false;
    fs_op_set(item, FS_OP_ADMIN_CANCEL);
    json_object_set_new(item, "payment", json_string(c->id));
    return true;
}

/* POST /admin/api/payments/{id}/review {decision, reason}: fs_batch's
 * payment_review, nested as its tenant (docs/risk.md). */
static bool build_review(const fs_admin_call_t *c, json_t *item, fs_error_t *err)
{
    static const char *const fields[] = {"decision", "reason", NULL};
    const char *d;
    if (!path_id(c->id, FS_PAYMENT_ID_PREFIX, "payment", err)) return false;
    if (!fs_validate_known_fields(c->body, fields, err)) return false;
    if (!fs_validate_string(c->body, "decision", true, FS_ADMIN_REVIEW_DECISION_LEN_MAX, &d, err))
        return false;
    if (strcmp(d, "approve") != 0 && strcmp(d, "reject") != 0)
        return fs_fail(err, FS_INVALID_REQUEST, "decision", "decision must be approve or reject.");
    if (!reason(c, item, err)) return false;
    fs_op_set(item, FS_OP_ADMIN_REVIEW);
    json_object_set_new(item, "payment", json_string(c->id));
    json_object_set_new(item, "decision", json_string(d));
    return true;
}

/* GET /admin/api/reports/daily: the daily rollups across tenants, its
 * period checked and defaulted as /v1's (src/report). */
static bool build_report_daily(const fs_admin_call_t *c, json_t *item, fs_error_t *err)
{
    fs_op_set(item, FS_OP_ADMIN_READ);
    json_object_set_new(item, "fn", json_string(c->route->fn));
    json_object_set_new(item, "id", json_null());
    json_t *params = json_object();
    json_object_set_new(item, "params", params);
    struct timespec now; /* the wall clock: the days are UTC dates */
    clock_gettime(CLOCK_REALTIME, &now);
    return fs_report_parse_daily_all(c->query, (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000,
                                     params, err);
}

static bool build_account(const fs_admin_call_t *c, fs_op_t op, json_t *item, fs_error_t *err)
{
    if (!path_id(c->id, FS_ACCOUNT_ID_PREFIX, "account", err)) return false;
    json_object_set_new(item, "account", json_string(c->id));
    if (op == FS_OP_ACCOUNT_ADJUST) {
        /* Its reason is the adjustment's own (required for keys too). */
        if (!fs_lock_parse_admin(op, c->body, item, err)) return false;
        return reason(c, item, err);
    }
    if (!reason(c, item, err)) return false;
    json_t *rest = without_reason(c->body);
    bool ok = fs_lock_parse_admin(op, rest, item, err);
    json_decref(rest);
    return ok;
}

static bool build_freeze(const fs_admin_call_t *c, json_t *item, fs_error_t *err)
{
    return build_account(c, FS_OP_ACCOUNT_FREEZE, item, err);
}

static bool build_unfreeze(const fs_admin_call_t *c, json_t *item, fs_error_t *err)
{
    return build_account(c, FS_OP_ACCOUNT_UNFREEZE, item, err);
}

static bool build_close(const fs_admin_call_t *c, json_t *item, fs_error_t *err)
{
    return build_account(c, FS_OP_ACCOUNT_CLOSE, item, err);
}

static bool build_adjust(const fs_admin_call_t *c, json_t *item, fs_error_t *err)
{
    return build_account(c, FS_OP_ACCOUNT_ADJUST, item, err);
}

/* GET /admin/api/dead-letters: an admin key keeps the pre-console answer
 * (dead_list); staff get the console's (fs_admin_dead_letters_list). */
static bool build_dead_list(const fs_admin_call_t *c, json_t *item, fs_error_t *err)
{
    static const char *const none[] = {NULL};
    if (!c->actor->key) return build_read(c, item, err);
    fs_op_set(item, FS_OP_DEAD_LIST);
    return fs_validate_list_query(c->query, FS_PAYMENT_ID_PREFIX, none, item, err);
}

static bool build_replay(const fs_admin_call_t *c, json_t *item, fs_error_t *err)
{
    /* {id}: a dead-lettered payment, refund or webhook delivery, or "all". */
    if (strcmp(c->id, "all") != 0 && !fs_validate_id_string(c->id, FS_REFUND_ID_PREFIX) &&
        !fs_validate_id_string(c->id, "whd") &&
        !path_id(c->id, FS_PAYMENT_ID_PREFIX, "dead letter", err))
        return false;
    if (!only_reason(c, item, err)) return false;
    fs_op_set(item, FS_OP_DEAD_REPLAY);
    json_object_set_new(item, "payment", json_string(c->id));
    return true;
}

static void write_action(json_t *item, const char *action)
{
    fs_op_set(item, FS_OP_ADMIN_WRITE);
    json_object_set_new(item, "action", json_string(action));
}

static bool build_tenant_create(const fs_admin_call_t *c, json_t *item, fs_error_t *err)
{
    static const char *const fields[] = {"name", "reason", NULL};
    const char *name;
    if (!fs_validate_known_fields(c->body, fields, err) || !reason(c, item, err)) return false;
    if (!fs_validate_string(c->body, "name", true, FS_NAME_LEN_MAX, &name, err)) return false;
    if (*name == '\0') return fs_fail(err, FS_INVALID_REQUEST, "name", "name must not be empty.");
    char id[FS_ID_BUF_LEN];
    fs_id_new("ten", id, sizeof(id));
    write_action(item, "tenant.create");
    json_object_set_new(item, "id", json_string(id));
    json_object_set_new(item, "name", json_string(name));
    return true;
}

static bool rate_field(const json_t *body, const char *name, json_t *item, fs_error_t *err)
{
    const json_t *v = json_object_get(body, name);
    if (v == NULL || json_is_null(v))
        return fs_fail(err, FS_INVALID_REQUEST, name, "Missing required parameter: %s.", name);
    if (!json_is_integer(v) || json_integer_value(v) < 1 ||
        json_integer_value(v) > FS_RATE_LIMIT_MAX)
        return fs_fail(err, FS_INVALID_REQUEST, name, "%s must be an integer from 1 to %d.", name,
                       FS_RATE_LIMIT_MAX);
    json_object_set_new(item, name, json_integer(json_integer_value(v)));
    return true;
}

static bool build_tenant_limits(const fs_admin_call_t *c, json_t *item, fs_error_t *err)
{
    static const char *const fields[] = {"per_s", "burst", "default", "reason", NULL};
    if (!path_id(c->id, "ten", "tenant", err)) return false;
    if (!fs_validate_known_fields(c->body, fields, err) || !reason(c, item, err)) return false;
    write_action(item, "tenant.limits");
    json_object_set_new(item, "tenant", json_string(c->id));
    const json_t *d = json_object_get(c->body, "default");
    if (d != NULL && !json_is_boolean(d))
        return fs_fail(err, FS_INVALID_REQUEST, "default", "default must be true or false.");
    if (json_is_true(d)) {
        if (json_object_get(c->body, "per_s") != NULL || json_object_get(c->body, "burst") != NULL)
            return fs_fail(err, FS_INVALID_REQUEST, "default",
                           "Give either per_s and burst, or default: true.");
        json_object_set_new(item, "per_s", json_null());
        json_object_set_new(item, "burst", json_null());
        return true;
    }
    return rate_field(c->body, "per_s", item, err) && rate_field(c->body, "burst", item, err);
}

/* POST /admin/api/tenants/{id}/deposits {enabled, reason}: whether the
 * tenant's own keys may deposit (db/migrations/0030_operator_authority.sql). */
static bool build_tenant_deposits(const fs_admin_call_t *c, json_t *item, fs_error_t *err)
{
    static const char *const fields[] = {"enabled", "reason", NULL};
    if (!path_id(c->id, "ten", "tenant", err)) return false;
    if (!fs_validate_known_fields(c->body, fields, err) || !reason(c, item, err)) return false;
    const json_t *e = json_object_get(c->body, "enabled");
    if (e == NULL || json_is_null(e))
        return fs_fail(err, FS_INVALID_REQUEST, "enabled", "Missing required parameter: enabled.");
    if (!json_is_boolean(e))
        return fs_fail(err, FS_INVALID_REQUEST, "enabled", "enabled must be true or false.");
    write_action(item, "tenant.deposits");
    json_object_set_new(item, "tenant", json_string(c->id));
    json_object_set_new(item, "enabled", json_boolean(json_is_true(e)));
    return true;
}

/* An optional count of seconds in the body: 1..max (min 0 when zero_ok). */
static bool seconds_field(const json_t *body, const char *name, json_int_t min, json_int_t max,
                          json_t *item, fs_error_t *err)
{
    const json_t *v = json_object_get(body, name);
    if (v == NULL || json_is_null(v)) return true;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return fs_fail(err, FS_INVALID_REQUEST, name,
                       "%s must be an integer from %lld to %lld (seconds).", name, (long long)min,
                       (long long)max);
    json_object_set_new(item, name, json_integer(json_integer_value(v)));
    return true;
}

/* POST /admin/api/tenants/{id}/keys {scope?, admin?, expires_in_s?, reason}:
 * scope "tenant" (the default) or an operator key's "operator:<role>"
 * (db/migrations/0030_operator_authority.sql); admin: true is "operator:admin",
 * as before the scopes. */
static bool build_key_create(const fs_admin_call_t *c, json_t *item, fs_error_t *err)
{
    static const char *const fields[] = {"admin", "scope", "expires_in_s", "reason", NULL};
    if (!path_id(c->id, "ten", "tenant", err)) return false;
    if (!fs_validate_known_fields(c->body, fields, err) || !reason(c, item, err)) return false;
    const json_t *a = json_object_get(c->body, "admin");
    if (a != NULL && !json_is_boolean(a) && !json_is_null(a))
        return fs_fail(err, FS_INVALID_REQUEST, "admin", "admin must be true or false.");
    const json_t *sc = json_object_get(c->body, "scope");
    const char *scope = json_is_true(a) ? "operator:admin" : "tenant";
    if (sc != NULL && !json_is_null(sc)) {
        const char *given = json_string_value(sc);
        if (given == NULL || !fs_admin_scope_valid(given))
            return fs_fail(err, FS_INVALID_REQUEST, "scope",
                           "scope must be tenant, operator:viewer, operator:support, "
                           "operator:finance or operator:admin.");
        if (json_is_true(a) && strcmp(given, scope) != 0)
            return fs_fail(err, FS_INVALID_REQUEST, "scope",
                           "admin: true is scope operator:admin; give one of them.");
        scope = given;
    }
    write_action(item, "api_key.create");
    json_object_set_new(item, "tenant", json_string(c->id));
    json_object_set_new(item, "scope", json_string(scope));
    /* The key itself is made by the server (fs_auth_key_new) and never put
     * in the item: only its hash and prefix are. */
    return seconds_field(c->body, "expires_in_s", 1, FS_APIKEY_EXPIRES_IN_MAX_S, item, err);
}

static bool build_key_revoke(const fs_admin_call_t *c, json_t *item, fs_error_t *err)
{
    if (!path_id(c->id, "key", "API key", err)) return false;
    if (!only_reason(c, item, err)) return false;
    write_action(item, "api_key.revoke");
    json_object_set_new(item, "key", json_string(c->id));
    return true;
}

/* POST /admin/api/keys/{id}/rotate {overlap_s?, reason}: a new key for the
 * key's tenant (made by the server, as a created key is: FS_ADMIN_KEY_CREATE),
 * the old one working overlap_s more seconds (FS_APIKEY_ROTATE_OVERLAP_*). */
static bool build_key_rotate(const fs_admin_call_t *c, json_t *item, fs_error_t *err)
{
    static const char *const fields[] = {"overlap_s", "reason", NULL};
    if (!path_id(c->id, "key", "API key", err)) return false;
    if (!fs_validate_known_fields(c->body, fields, err) || !reason(c, item, err)) return false;
    write_action(item, "api_key.rotate");
    json_object_set_new(item, "key", json_string(c->id));
    json_object_set_new(item, "overlap_s", json_integer(FS_APIKEY_ROTATE_OVERLAP_DEFAULT_S));
    return seconds_field(c->body, "overlap_s", 0, FS_APIKEY_ROTATE_OVERLAP_MAX_S, item, err);
}

static bool build_staff_create(const fs_admin_call_t *c, json_t *item, fs_error_t *err)
{
    static const char *const fields[] = {"email", "role", "reason", NULL};
    const char *email, *role;
    if (!fs_validate_known_fields(c->body, fields, err) || !reason(c, item, err)) return false;
    if (!fs_validate_string(c->body, "email", true, FS_ADMIN_EMAIL_LEN_MAX, &email, err))
        return false;
    const char *at = strchr(email, '@');
    if (at == NULL || at == email || at[1] == '\0' || strchr(email, ' ') != NULL)
        return fs_fail(err, FS_INVALID_REQUEST, "email", "email must be an email address.");
    if (!fs_validate_string(c->body, "role", true, 16, &role, err)) return false;
    if (fs_admin_role_parse(role) == FS_ROLE_NONE)
        return fs_fail(err, FS_INVALID_REQUEST, "role",
                       "role must be one of viewer, support, finance, admin.");
    char lower[FS_ADMIN_EMAIL_LEN_MAX + 1], id[FS_ID_BUF_LEN];
    size_t i = 0;
    for (; email[i] != '\0'; i++)
        lower[i] = email[i] >= 'A' && email[i] <= 'Z' ? (char)(email[i] + 32) : email[i];
    lower[i] = '\0';
    fs_id_new("stf", id, sizeof(id));
    write_action(item, "staff.create");
    json_object_set_new(item, "id", json_string(id));
    json_object_set_new(item, "email", json_string(lower));
    json_object_set_new(item, "role", json_string(role));
    return true;
}

/* staff.disable / staff.enable: the staff member of the path. An admin may
 * not disable themselves (409 staff_self_disable, db/functions/admin.sql). */
static bool build_staff_state(const fs_admin_call_t *c, const char *action, json_t *item,
                              fs_error_t *err)
{
    if (!path_id(c->id, "stf", "staff member", err)) return false;
    if (!only_reason(c, item, err)) return false;
    write_action(item, action);
    json_object_set_new(item, "staff", json_string(c->id));
    return true;
}

static bool build_staff_disable(const fs_admin_call_t *c, json_t *item, fs_error_t *err)
{
    return build_staff_state(c, "staff.disable", item, err);
}

static bool build_staff_enable(const fs_admin_call_t *c, json_t *item, fs_error_t *err)
{
    return build_staff_state(c, "staff.enable", item, err);
}

/* --- risk rules and lists of a tenant (issue 12, docs/risk.md) --------------
 * The /v1 checks (src/risk) on the body without "reason"; the rule's or
 * entry's fields go in the item's "rule" or "entry", apart from the admin
 * write's own "action" and "reason". db/functions/risk.sql runs them as the
 * tenant's own request would, then writes the audit row. */

/* A list read's starting_after: an id of prefix (the SQL then says whether
 * it names one of the tenant's). */
static bool starting_after(const json_t *item, const char *prefix, fs_error_t *err)
{
    const char *after =
        json_string_value(json_object_get(json_object_get(item, "params"), "starting_after"));
    if (after == NULL || fs_validate_id_string(after, prefix)) return true;
    return fs_fail(err, FS_INVALID_REQUEST, "starting_after",
                   "starting_after must be an id starting with %s_.", prefix);
}

static bool build_risk_rules_read(const fs_admin_call_t *c, json_t *item, fs_error_t *err)
{
    if (!path_id(c->id, "ten", "tenant", err) || !build_read(c, item, err)) return false;
    return starting_after(item, FS_RISK_RULE_ID_PREFIX, err);
}

static bool build_risk_lists_read(const fs_admin_call_t *c, json_t *item, fs_error_t *err)
{
    if (!path_id(c->id, "ten", "tenant", err) || !build_read(c, item, err)) return false;
    const char *list = json_string_value(json_object_get(json_object_get(item, "params"), "list"));
    if (list != NULL && !fs_risk_list_name_valid(list))
        return fs_fail(err, FS_INVALID_REQUEST, "list",
                       "list must be 1 to %d of a-z, 0-9 and _ (such as blocklist).",
                       FS_RISK_LIST_NAME_LEN_MAX);
    return starting_after(item, FS_RISK_LIST_ENTRY_ID_PREFIX, err);
}

/* A create or update of a tenant's risk object: path checked by the caller;
 * reason, then the /v1 parser on the rest of the body. */
static bool risk_write(const fs_admin_call_t *c, const char *action,
                       bool (*parse)(const json_t *, json_t *, fs_error_t *), json_t *item,
                       fs_error_t *err)
{
    if (!reason(c, item, err)) return false;
    json_t *rest = without_reason(c->body);
    bool ok = parse(rest, item, err);
    json_decref(rest);
    write_action(item, action);
    return ok;
}

static bool build_risk_rule_create(const fs_admin_call_t *c, json_t *item, fs_error_t *err)
{
    if (!path_id(c->id, "ten", "tenant", err)) return false;
    json_object_set_new(item, "tenant", json_string(c->id));
    return risk_write(c, "risk_rule.create", fs_risk_parse_rule_create, item, err);
}

static bool build_risk_rule_update(const fs_admin_call_t *c, json_t *item, fs_error_t *err)
{
    if (!path_id(c->id, FS_RISK_RULE_ID_PREFIX, "risk rule", err)) return false;
    json_object_set_new(item, "id", json_string(c->id));
    return risk_write(c, "risk_rule.update", fs_risk_parse_rule_update, item, err);
}

/* The body's one "reason" is both the audit row's and the entry's: why the
 * staff member put the account on the list. */
static bool build_risk_list_entry_create(const fs_admin_call_t *c, json_t *item, fs_error_t *err)
{
    if (!path_id(c->id, "ten", "tenant", err)) return false;
    json_object_set_new(item, "tenant", json_string(c->id));
    if (!risk_write(c, "risk_list_entry.create", fs_risk_parse_list_entry_create, item, err))
        return false;
    json_object_set(json_object_get(item, "entry"), "reason", json_object_get(item, "reason"));
    return true;
}

/* A DELETE's body holds only its reason. */
static bool risk_delete(const fs_admin_call_t *c, const char *prefix, const char *what,
                        const char *action, json_t *item, fs_error_t *err)
{
    if (!path_id(c->id, prefix, what, err) || !only_reason(c, item, err)) return false;
    write_action(item, action);
    json_object_set_new(item, "id", json_string(c->id));
    return true;
}

static bool build_risk_rule_delete(const fs_admin_call_t *c, json_t *item, fs_error_t *err)
{
    return risk_delete(c, FS_RISK_RULE_ID_PREFIX, "risk rule", "risk_rule.delete", item, err);
}

static bool build_risk_list_entry_delete(const fs_admin_call_t *c, json_t *item, fs_error_t *err)
{
    return risk_delete(c, FS_RISK_LIST_ENTRY_ID_PREFIX, "risk list entry", "risk_list_entry.delete",
                       item, err);
}

static bool build_logout(const fs_admin_call_t *c, json_t *item, fs_error_t *err)
{
    (void)c;
    (void)err;
    write_action(item, "session.delete");
    return true;
}

/* --- the table ------------------------------------------------------------ */

static const char *const p_payments[] = {
    "q",           "status",      "tenant", "account", "currency", "amount_gte",     "amount_lte",
    "created_gte", "created_lte", "sort",   "order",   "limit",    "starting_after", NULL};
static const char *const p_accounts[] = {"q",     "tenant",         "currency", "status",
                                         "limit", "starting_after", NULL};
static const char *const p_page[] = {"limit", "starting_after", NULL};
static const char *const p_dead[] = {"kind", "limit", "starting_after", NULL};
static const char *const p_audit[] = {"actor", "action", "target",         "q", "from",
                                      "to",    "limit",  "starting_after", NULL};
static const char *const p_none[] = {NULL};
static const char *const p_risk_lists[] = {"list", "limit", "starting_after", NULL};
static const char *const p_report[] = {"from", "to", "currency", "tenant", NULL};

#define GET FS_METHOD_GET
#define POST FS_METHOD_POST
#define PATCH FS_METHOD_PATCH
#define DEL FS_METHOD_DELETE
#define NONE FS_ROLE_NONE
#define VIEWER FS_ROLE_VIEWER
#define SUPPORT FS_ROLE_SUPPORT
#define FINANCE FS_ROLE_FINANCE
#define ADMIN FS_ROLE_ADMIN
#define STORE FS_ADMIN_STORE

static const fs_admin_route_t routes[] = {
    {POST, "/admin/api/session", NONE, true, FS_ADMIN_LOGIN, NULL, NULL, NULL},
    {GET, "/admin/api/session", VIEWER, false, FS_ADMIN_SESSION_GET, NULL, NULL, NULL},
    {DEL, "/admin/api/session", VIEWER, true, FS_ADMIN_LOGOUT, build_logout, NULL, NULL},
    {GET, "/admin/api/overview", VIEWER, false, STORE, build_read, "overview", p_none},
    {GET, "/admin/api/stream", VIEWER, false, FS_ADMIN_STREAM, NULL, NULL, NULL},
    {GET, "/admin/api/payments", VIEWER, false, STORE, build_read, "payments_list", p_payments},
    {GET, "/admin/api/payments/{id}", VIEWER, false, STORE, build_read, "payment_detail", p_none},
    {GET, "/admin/api/payments/{id}/receipt", VIEWER, false, FS_ADMIN_RECEIPT, build_receipt,
     "payment_receipt", p_none},
    {POST, "/admin/api/payments/{id}/refunds", SUPPORT, true, STORE, build_refund, NULL, NULL},
    {POST, "/admin/api/payments/{id}/cancel", SUPPORT, true, STORE, build_cancel, NULL, NULL},
    /* The review queue's decision (docs/risk.md): who may cancel may. */
    {POST, "/admin/api/payments/{id}/review", SUPPORT, true, STORE, build_review, NULL, NULL},
    {GET, "/admin/api/accounts", VIEWER, false, STORE, build_read, "accounts_list", p_accounts},
    {GET, "/admin/api/accounts/{id}", VIEWER, false, STORE, build_read, "account_get", p_none},
    {GET, "/admin/api/accounts/{id}/journal", VIEWER, false, STORE, build_read, "account_journal",
     p_page},
    {POST, "/admin/api/accounts/{id}/freeze", FINANCE, true, STORE, build_freeze, NULL, NULL},
    {POST, "/admin/api/accounts/{id}/unfreeze", FINANCE, true, STORE, build_unfreeze, NULL, NULL},
    {POST, "/admin/api/accounts/{id}/close", FINANCE, true, STORE, build_close, NULL, NULL},
    {POST, "/admin/api/accounts/{id}/adjustments", FINANCE, true, STORE, build_adjust, NULL, NULL},
    {GET, "/admin/api/dead-letters", VIEWER, false, STORE, build_dead_list, "dead_letters_list",
     p_dead},
    {POST, "/admin/api/dead-letters/{id}/replay", SUPPORT, true, STORE, build_replay, NULL, NULL},
    {GET, "/admin/api/tenants", VIEWER, false, STORE, build_read, "tenants_list", p_page},
    {POST, "/admin/api/tenants", ADMIN, true, STORE, build_tenant_create, NULL, NULL},
    {POST, "/admin/api/tenants/{id}/limits", ADMIN, true, STORE, build_tenant_limits, NULL, NULL},
    /* Whether the tenant's own keys may deposit (issue 13). */
    {POST, "/admin/api/tenants/{id}/deposits", ADMIN, true, STORE, build_tenant_deposits, NULL,
     NULL},
    {GET, "/admin/api/tenants/{id}/keys", VIEWER, false, STORE, build_read, "tenant_keys", p_page},
    {POST, "/admin/api/tenants/{id}/keys", ADMIN, true, FS_ADMIN_KEY_CREATE, build_key_create, NULL,
     NULL},
    {POST, "/admin/api/keys/{id}/revoke", ADMIN, true, STORE, build_key_revoke, NULL, NULL},
    /* A new key for the key's tenant, the old one working for the overlap
     * (issue 13): answered as a created key is, with its secret once. */
    {POST, "/admin/api/keys/{id}/rotate", ADMIN, true, FS_ADMIN_KEY_CREATE, build_key_rotate, NULL,
     NULL},
    {GET, "/admin/api/staff", ADMIN, false, STORE, build_read, "staff_list", p_page},
    {POST, "/admin/api/staff", ADMIN, true, FS_ADMIN_STAFF_CREATE, build_staff_create, NULL, NULL},
    {POST, "/admin/api/staff/{id}/disable", ADMIN, true, STORE, build_staff_disable, NULL, NULL},
    {POST, "/admin/api/staff/{id}/enable", ADMIN, true, STORE, build_staff_enable, NULL, NULL},
    {GET, "/admin/api/audit", VIEWER, false, STORE, build_read, "audit_list", p_audit},
    /* Finance: a day's reconciliation against the provider (issue 12); the
     * {id} is the date, YYYY-MM-DD. */
    {GET, "/admin/api/reconciliations/{id}", FINANCE, false, STORE, build_read, "reconciliation",
     p_none},
    /* Risk rules and lists of a tenant (issue 12, docs/risk.md): read by
     * every role; written by finance and above (there is no risk role:
     * finance is the role that already freezes and adjusts accounts). A
     * DELETE's body carries its reason. */
    {GET, "/admin/api/tenants/{id}/risk_rules", VIEWER, false, STORE, build_risk_rules_read,
     "risk_rules", p_page},
    {POST, "/admin/api/tenants/{id}/risk_rules", FINANCE, true, STORE, build_risk_rule_create, NULL,
     NULL},
    {PATCH, "/admin/api/risk_rules/{id}", FINANCE, true, STORE, build_risk_rule_update, NULL, NULL},
    {DEL, "/admin/api/risk_rules/{id}", FINANCE, true, STORE, build_risk_rule_delete, NULL, NULL},
    {GET, "/admin/api/tenants/{id}/risk_lists", VIEWER, false, STORE, build_risk_lists_read,
     "risk_lists", p_risk_lists},
    {POST, "/admin/api/tenants/{id}/risk_lists", FINANCE, true, STORE, build_risk_list_entry_create,
     NULL, NULL},
    {DEL, "/admin/api/risk_lists/{id}", FINANCE, true, STORE, build_risk_list_entry_delete, NULL,
     NULL},
    /* Finance: the daily rollups across tenants (issue 12); its parameters
     * are checked by src/report (build_report_daily). */
    {GET, "/admin/api/reports/daily", FINANCE, false, STORE, build_report_daily, "report_daily",
     p_report},
};
#define ROUTES (sizeof(routes) / sizeof(routes[0]))
_Static_assert(ROUTES <= FS_ADMIN_ROUTES_MAX, "FS_ADMIN_ROUTES_MAX is too small");

const fs_admin_route_t *fs_admin_routes(size_t *count)
{
    *count = ROUTES;
    return routes;
}

bool fs_admin_is_admin_path(const char *path)
{
    return path != NULL &&
           (strcmp(path, "/admin/api") == 0 || strncmp(path, "/admin/api/", 11) == 0);
}

/* True when path fits template; id gets the segment matched by {id}. */
static bool fits(const char *tpl, const char *path, char id[FS_ID_LEN_MAX + 1])
{
    id[0] = '\0';
    while (*tpl != '\0' && *path != '\0') {
        if (strncmp(tpl, "{id}", 4) == 0) {
            size_t len = strcspn(path, "/");
            if (len == 0 || len > FS_ID_LEN_MAX) return false;
            memcpy(id, path, len);
            id[len] = '\0';
            tpl += 4;
            path += len;
            continue;
        }
        if (*tpl != *path) return false;
        tpl++;
        path++;
    }
    return *tpl == '\0' && *path == '\0';
}

static const char *method_word(fs_method_t m)
{
    return m == FS_METHOD_GET     ? "GET"
           : m == FS_METHOD_POST  ? "POST"
           : m == FS_METHOD_PATCH ? "PATCH"
                                  : "DELETE";
}

int fs_admin_match(fs_method_t method, const char *path, char id[FS_ID_LEN_MAX + 1],
                   const char **allow, fs_error_t *err)
{
    static _Thread_local char allowed[32];
    char other[FS_ID_LEN_MAX + 1];
    allowed[0] = '\0';
    *allow = NULL;
    for (size_t i = 0; i < ROUTES; i++) {
        if (!fits(routes[i].path, path, other)) continue;
        if (routes[i].method == method) {
            memcpy(id, other, sizeof(other));
            return (int)i;
        }
        size_t used = strlen(allowed);
        snprintf(allowed + used, sizeof(allowed) - used, "%s%s", used > 0 ? ", " : "",
                 method_word(routes[i].method));
    }
    id[0] = '\0';
    if (allowed[0] != '\0') {
        *allow = allowed;
        fs_fail(err, FS_METHOD_NOT_ALLOWED, NULL, "This route allows only %s.", allowed);
    } else {
        fs_fail(err, FS_NOT_FOUND, NULL, "Unrecognized request URL: %.128s.", path);
    }
    return -1;
}

const char *fs_admin_route_template(const char *path)
{
    char id[FS_ID_LEN_MAX + 1];
    for (size_t i = 0; path != NULL && i < ROUTES; i++)
        if (fits(routes[i].path, path, id)) return routes[i].path;
    return "other";
}

bool fs_admin_build(int route, const char *id, const char *query, const char *body, size_t body_len,
                    const fs_admin_actor_t *actor, json_t **item, fs_error_t *err)
{
    FS_ASSERT(route >= 0 && (size_t)route < ROUTES);
    const fs_admin_route_t *r = &routes[route];
    FS_ASSERT(r->build != NULL);
    *item = NULL;
    json_t *parsed = NULL;
    /* A write's JSON body: a POST's, a PATCH's, and a DELETE's of the store
     * (its reason; not the logout's, which takes none). */
    bool has_body = r->method == FS_METHOD_POST || r->method == FS_METHOD_PATCH ||
                    (r->method == FS_METHOD_DELETE && r->kind == FS_ADMIN_STORE);
    if (has_body) {
        if (body_len > FS_BODY_MAX_BYTES)
            return fs_fail(err, FS_REQUEST_TOO_LARGE, "body", "The body may be at most %d bytes.",
                           FS_BODY_MAX_BYTES);
        if (query != NULL && *query != '\0')
            return fs_fail(err, FS_INVALID_REQUEST, NULL,
                           "%s parameters go in the JSON body, not the query string.",
                           method_word(r->method));
        if (!fs_validate_body(body, body_len, &parsed, err)) return false;
    } else if (body_len > 0) {
        return fs_fail(err, FS_INVALID_REQUEST, NULL, "%s takes no body.", method_word(r->method));
    }
    if (r->params == NULL && !has_body && query != NULL && *query != '\0') {
        json_decref(parsed);
        return fs_fail(err, FS_INVALID_REQUEST, NULL, "This route takes no parameters.");
    }
    json_t *it = json_object();
    json_object_set_new(it, "actor",
                        json_pack("{s:s, s:s?, s:s}", "id", actor->id, "email",
                                  actor->email[0] != '\0' ? actor->email : NULL, "role",
                                  fs_admin_role_name(actor->role)));
    fs_admin_call_t call = {r, id, query, parsed, actor};
    bool ok = r->build(&call, it, err);
    json_decref(parsed);
    if (!ok) {
        json_decref(it);
        return false;
    }
    *item = it;
    return true;
}

bool fs_admin_route_idempotent(const fs_admin_route_t *route)
{
    return route->writes && route->kind != FS_ADMIN_LOGIN && route->kind != FS_ADMIN_LOGOUT;
}

void fs_admin_fingerprint(const json_t *item, const char *actor_id, const char *path,
                          char hex[65])
{
    static const char *const generated[] = {"id",       "rid",    "actor",         "auth",
                                            "key_hash", "prefix", "password_hash", "fence",
                                            "idem",     "fp",     NULL};
    json_t *body = json_deep_copy(item);
    FS_ASSERT(body != NULL);
    for (const char *const *g = generated; *g != NULL; g++) json_object_del(body, *g);
    char scoped[FS_ID_LEN_MAX + 2 + 2048];
    snprintf(scoped, sizeof(scoped), "%s %.2048s", actor_id, path);
    fs_idempotency_fingerprint("POST", scoped, body, hex);
    json_decref(body);
}

bool fs_admin_parse_login(const char *body, size_t body_len, char email[FS_ADMIN_EMAIL_LEN_MAX + 1],
                          char password[FS_ADMIN_PASSWORD_LEN_MAX + 1], fs_error_t *err)
{
    static const char *const fields[] = {"email", "password", NULL};
    json_t *b;
    const char *e, *p;
    if (body_len > FS_BODY_MAX_BYTES)
        return fs_fail(err, FS_REQUEST_TOO_LARGE, "body", "The body may be at most %d bytes.",
                       FS_BODY_MAX_BYTES);
    if (!fs_validate_body(body, body_len, &b, err)) return false;
    bool ok = fs_validate_known_fields(b, fields, err) &&
              fs_validate_string(b, "email", true, FS_ADMIN_EMAIL_LEN_MAX, &e, err) &&
              fs_validate_string(b, "password", true, FS_ADMIN_PASSWORD_LEN_MAX, &p, err);
    if (ok && (*e == '\0' || *p == '\0'))
        ok = fs_fail(err, FS_INVALID_REQUEST, *e == '\0' ? "email" : "password",
                     "email and password must not be empty.");
    if (ok) {
        size_t i = 0;
        for (; e[i] != '\0'; i++) email[i] = e[i] >= 'A' && e[i] <= 'Z' ? (char)(e[i] + 32) : e[i];
        email[i] = '\0';
        snprintf(password, FS_ADMIN_PASSWORD_LEN_MAX + 1, "%s", p);
    }
    json_decref(b);
    return ok;
}

bool fs_admin_cookie(const char *header, const char *name, char *out, size_t out_len)
{
    size_t n = strlen(name);
    const char *p = header;
    while (p != NULL && *p != '\0') {
        while (*p == ' ' || *p == ';') p++;
        size_t len = strcspn(p, ";");
        if (len > n && strncmp(p, name, n) == 0 && p[n] == '=') {
            size_t vlen = len - n - 1;
            if (vlen == 0 || vlen >= out_len) return false;
            memcpy(out, p + n + 1, vlen);
            out[vlen] = '\0';
            return true;
        }
        p += len;
    }
    return false;
}

void fs_admin_token_new(char out[FS_ADMIN_TOKEN_LEN + 1])
{
    unsigned char raw[FS_ADMIN_TOKEN_BYTES];
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2base64(out, FS_ADMIN_TOKEN_LEN + 1, raw, sizeof(raw),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

void fs_admin_token_hash(const char *token, char hex[65])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)token, strlen(token));
    sodium_bin2hex(hex, 65, h, sizeof(h));
}

void fs_admin_password_new(char out[FS_ADMIN_PASSWORD_GEN_LEN + 1])
{
    fs_random_base62(out, FS_ADMIN_PASSWORD_GEN_LEN);
    out[FS_ADMIN_PASSWORD_GEN_LEN] = '\0';
}

bool fs_admin_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la != lb) return false;
    return sodium_memcmp(a, b, la) == 0;
}

bool fs_admin_limit(fs_admin_limiter_t *l, const char *key, uint64_t now_s, int *retry_after_s)
{
    /* FNV-1a: a table slot per key; 0 stands for an empty slot. */
    uint64_t h = 1469598103934665603ull;
    for (const char *c = key; *c != '\0'; c++) h = (h ^ (unsigned char)*c) * 1099511628211ull;
    h |= 1;
    size_t slot = (size_t)(h % FS_ADMIN_RATE_SLOTS);
    uint64_t window = now_s / 60;
    if (l->hash[slot] != h || l->window[slot] != window) {
        l->hash[slot] = h;
        l->window[slot] = window;
        l->count[slot] = 0;
    }
    if (l->count[slot] >= FS_ADMIN_RATE_PER_MIN) {
        *retry_after_s = (int)(60 - now_s % 60);
        return false;
    }
    l->count[slot]++;
    return true;
}
