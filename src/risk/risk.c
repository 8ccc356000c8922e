/*
 * risk.c: the checks of the risk management API (see risk.h). Pure: no I/O.
 *
 * The kinds and their params are one table (kind_params below), the same as
 * docs/risk.md's: a kind's params are exactly its fields, each checked by
 * one function, so a rule stored is one the write path can read.
 */
#include "risk.h"

#include <stdio.h>
#include <string.h>

#include "../account/account.h"
#include "../money/money.h"
#include "../validate/validate.h"

static const char *const kinds[] = {
    "amount_above", "velocity_count",       "velocity_amount", "new_account_amount",
    "listed",       "currency_not_allowed", "metadata_equals", NULL};
static const char *const actions[] = {"allow", "review", "block", NULL};
static const char *const modes[] = {"active", "shadow", NULL};
static const char *const parties[] = {"payer", "payee", "either", NULL};

/* What a match adds to a payment's score when the rule does not say
 * (docs/risk.md): a block is nearly certain fraud, a review a doubt, an
 * allow an exception that says nothing against the payment. */
enum { SCORE_BLOCK = 90, SCORE_REVIEW = 50, SCORE_ALLOW = 0 };

static int default_score(const char *action)
{
    return strcmp(action, "block") == 0    ? SCORE_BLOCK
           : strcmp(action, "review") == 0 ? SCORE_REVIEW
                                           : SCORE_ALLOW;
}

static bool one_of(const char *s, const char *const *list)
{
    for (; *list != NULL; list++) {
        if (strcmp(s, *list) == 0) return true;
    }
    return false;
}

/* "a, b, c" of a NULL-terminated list, for messages. */
static const char *joined(const char *const *list)
{
    static _Thread_local char text[200];
    size_t used = 0;
    text[0] = '\0';
    for (const char *const *l = list; *l != NULL && used < sizeof(text); l++) {
        used +=
            (size_t)snprintf(text + used, sizeof(text) - used, "%s%s", l == list ? "" : ", ", *l);
    }
    return text;
}

/* "params.<name>" in this thread's buffer: an error keeps the pointer until
 * the thread's next check. */
static const char *param_of(const char *name)
{
    static _Thread_local char param[80];
    snprintf(param, sizeof(param), "params.%.64s", name);
    return param;
}

/* A string that is one of list, under name in obj (param: how errors name
 * it). Absent or null: def, or an error when def is NULL. */
static bool enum_field(const json_t *obj, const char *name, const char *param,
                       const char *const *list, const char *def, const char **out, fs_error_t *err)
{
    const json_t *v = json_object_get(obj, name);
    if (v == NULL || json_is_null(v)) {
        if (def == NULL)
            return fs_fail(err, FS_INVALID_REQUEST, param, "Missing required parameter: %s.",
                           param);
        *out = def;
        return true;
    }
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v) ||
        !one_of(json_string_value(v), list))
        return fs_fail(err, FS_INVALID_REQUEST, param, "%s must be one of %s.", param,
                       joined(list));
    *out = json_string_value(v);
    return true;
}

/* --- params, field by field ------------------------------------------------ */

/* An integer params.<name> from min to max; absent or null: def, or an
 * error when required. */
static bool int_param(const json_t *p, const char *name, bool required, json_int_t def,
                      json_int_t min, json_int_t max, json_t *out, fs_error_t *err)
{
    const json_t *v = json_object_get(p, name);
    if (v == NULL || json_is_null(v)) {
        if (required)
            return fs_fail(err, FS_INVALID_REQUEST, param_of(name),
                           "Missing required parameter: params.%s.", name);
        json_object_set_new(out, name, json_integer(def));
        return true;
    }
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return fs_fail(err, FS_INVALID_REQUEST, param_of(name),
                       "params.%s must be an integer from %lld to %lld.", name, (long long)min,
                       (long long)max);
    json_object_set_new(out, name, json_integer(json_integer_value(v)));
    return true;
}

static bool amount(const json_t *p, json_t *out, fs_error_t *err)
{
    const json_t *v = json_object_get(p, "amount");
    if (v == NULL || json_is_null(v))
        return fs_fail(err, FS_INVALID_REQUEST, param_of("amount"),
                       "Missing required parameter: params.amount.");
    if (!json_is_integer(v) || json_integer_value(v) < 1)
        return fs_fail(err, FS_INVALID_REQUEST, param_of("amount"),
                       "params.amount must be an integer count of the currency's minor units, "
                       "at least 1 (e.g. 100000 for 1,000.00 USD).");
    json_object_set_new(out, "amount", json_integer(json_integer_value(v)));
    return true;
}

/* A currency code FinSys supports (as a payment's currency is checked:
 * fs_money_currency), written as given: upper case. */
static bool currency_code(const json_t *v, const char *param, const char **out, fs_error_t *err)
{
    const char *code = json_is_string(v) ? json_string_value(v) : NULL;
    if (code == NULL || json_string_length(v) != 3 || strlen(code) != 3 ||
        fs_money_currency(code) == NULL)
        return fs_fail(err, FS_INVALID_REQUEST, param,
                       "%s must be an upper-case ISO 4217 code FinSys supports (e.g. USD, EUR, "
                       "JPY).",
                       param);
    *out = code;
    return true;
}

static bool currency(const json_t *p, json_t *out, fs_error_t *err)
{
    const json_t *v = json_object_get(p, "currency");
    const char *code = NULL;
    if (v == NULL || json_is_null(v))
        return fs_fail(err, FS_INVALID_REQUEST, param_of("currency"),
                       "Missing required parameter: params.currency.");
    if (!currency_code(v, param_of("currency"), &code, err)) return false;
    json_object_set_new(out, "currency", json_string(code));
    return true;
}

/* Whole minutes up to an hour, whole hours beyond (the counters' buckets,
 * docs/risk.md "Windows"). */
static bool window(const json_t *p, json_t *out, fs_error_t *err)
{
    if (!int_param(p, "window_minutes", true, 0, 1, FS_RISK_WINDOW_MINUTES_MAX, out, err))
        return false;
    json_int_t w = json_integer_value(json_object_get(out, "window_minutes"));
    if (w > FS_RISK_WINDOW_MINUTE_BUCKETS && w % 60 != 0)
        return fs_fail(err, FS_INVALID_REQUEST, param_of("window_minutes"),
                       "params.window_minutes above %d must be a whole number of hours (a "
                       "multiple of 60, such as %lld): longer windows are counted in hours.",
                       FS_RISK_WINDOW_MINUTE_BUCKETS, (long long)(w / 60 + 1) * 60);
    return true;
}

static bool count(const json_t *p, json_t *out, fs_error_t *err)
{
    return int_param(p, "count", true, 0, 1, FS_RISK_COUNT_MAX, out, err);
}

static bool account_age(const json_t *p, json_t *out, fs_error_t *err)
{
    return int_param(p, "account_age_hours", false, FS_RISK_ACCOUNT_AGE_HOURS_DEFAULT, 1,
                     FS_RISK_ACCOUNT_AGE_HOURS_MAX, out, err);
}

static bool list_name(const json_t *p, json_t *out, fs_error_t *err)
{
    const json_t *v = json_object_get(p, "list");
    if (v == NULL || json_is_null(v)) {
        json_object_set_new(out, "list", json_string(FS_RISK_LIST_DEFAULT));
        return true;
    }
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v) ||
        !fs_risk_list_name_valid(json_string_value(v)))
        return fs_fail(err, FS_INVALID_REQUEST, param_of("list"),
                       "params.list must be a list's name: 1 to %d of a-z, 0-9 and _ (such as "
                       "blocklist).",
                       FS_RISK_LIST_NAME_LEN_MAX);
    json_object_set_new(out, "list", json_string(json_string_value(v)));
    return true;
}

static bool party(const json_t *p, json_t *out, fs_error_t *err)
{
    const char *v;
    if (!enum_field(p, "party", param_of("party"), parties, "either", &v, err)) return false;
    json_object_set_new(out, "party", json_string(v));
    return true;
}

static bool allowed(const json_t *p, json_t *out, fs_error_t *err)
{
    const char *param = param_of("allowed");
    const json_t *v = json_object_get(p, "allowed");
    if (v == NULL || json_is_null(v))
        return fs_fail(err, FS_INVALID_REQUEST, param, "Missing required parameter: %s.", param);
    if (!json_is_array(v) || json_array_size(v) == 0 ||
        json_array_size(v) > FS_RISK_ALLOWED_CURRENCIES_MAX)
        return fs_fail(err, FS_INVALID_REQUEST, param,
                       "%s must be an array of 1 to %d currency codes (e.g. [\"USD\", \"EUR\"]).",
                       param, FS_RISK_ALLOWED_CURRENCIES_MAX);
    json_t *codes = json_array();
    size_t i;
    const json_t *c;
    json_array_foreach(v, i, c)
    {
        const char *code = NULL;
        bool ok = currency_code(c, param, &code, err);
        for (size_t k = 0; ok && k < i; k++) {
            if (strcmp(json_string_value(json_array_get(codes, k)), code) == 0)
                ok = fs_fail(err, FS_INVALID_REQUEST, param, "%s names %s twice.", param, code);
        }
        if (!ok) {
            json_decref(codes);
            return false;
        }
        json_array_append_new(codes, json_string(code));
    }
    json_object_set_new(out, "allowed", codes);
    return true;
}

/* A string params.<name> of min_len..max_len bytes, required. */
static bool string_param(const json_t *p, const char *name, size_t min_len, size_t max_len,
                         json_t *out, fs_error_t *err)
{
    const json_t *v = json_object_get(p, name);
    if (v == NULL || json_is_null(v))
        return fs_fail(err, FS_INVALID_REQUEST, param_of(name),
                       "Missing required parameter: params.%s.", name);
    if (!json_is_string(v) || json_string_length(v) < min_len || json_string_length(v) > max_len ||
        strlen(json_string_value(v)) != json_string_length(v))
        return fs_fail(err, FS_INVALID_REQUEST, param_of(name),
                       "params.%s must be a string of %zu to %zu bytes (no NUL).", name, min_len,
                       max_len);
    json_object_set_new(out, name, json_string(json_string_value(v)));
    return true;
}

static bool metadata_key(const json_t *p, json_t *out, fs_error_t *err)
{
    return string_param(p, "key", 1, FS_RISK_METADATA_KEY_LEN_MAX, out, err);
}

static bool metadata_value(const json_t *p, json_t *out, fs_error_t *err)
{
    return string_param(p, "value", 0, FS_RISK_METADATA_VALUE_LEN_MAX, out, err);
}

/* --- the kinds ------------------------------------------------------------- */

typedef bool (*param_check_t)(const json_t *p, json_t *out, fs_error_t *err);

#define KIND_FIELDS_MAX 3

/* docs/risk.md's table: each kind's params, checked in this order. */
static const struct {
    const char *kind;
    const char *names[KIND_FIELDS_MAX + 1];
    param_check_t checks[KIND_FIELDS_MAX];
} kind_params[] = {
    {"amount_above", {"amount", "currency", NULL}, {amount, currency}},
    {"velocity_count", {"count", "window_minutes", NULL}, {count, window}},
    {"velocity_amount", {"amount", "currency", "window_minutes", NULL}, {amount, currency, window}},
    {"new_account_amount",
     {"amount", "currency", "account_age_hours", NULL},
     {amount, currency, account_age}},
    {"listed", {"list", "party", NULL}, {list_name, party}},
    {"currency_not_allowed", {"allowed", NULL}, {allowed}},
    {"metadata_equals", {"key", "value", NULL}, {metadata_key, metadata_value}},
};
#define KINDS (sizeof(kind_params) / sizeof(kind_params[0]))
_Static_assert(KINDS == sizeof(kinds) / sizeof(kinds[0]) - 1, "a kind without its params");

bool fs_risk_parse_params(const char *kind, const json_t *params, json_t **out, fs_error_t *err)
{
    size_t k = 0;
    *out = NULL;
    while (k < KINDS && strcmp(kind_params[k].kind, kind) != 0) k++;
    if (k == KINDS)
        return fs_fail(err, FS_INVALID_REQUEST, "kind", "kind must be one of %s.", joined(kinds));
    if (params != NULL && !json_is_null(params) && !json_is_object(params))
        return fs_fail(err, FS_INVALID_REQUEST, "params",
                       "params must be an object (docs/risk.md lists each kind's).");
    const char *name;
    const json_t *value;
    json_object_foreach((json_t *)params, name, value)
    {
        (void)value;
        if (!one_of(name, kind_params[k].names))
            return fs_fail(err, FS_INVALID_REQUEST, param_of(name),
                           "Unknown parameter: params.%.64s (a %s rule takes %s).", name, kind,
                           joined(kind_params[k].names));
    }
    json_t *p = json_object();
    for (size_t i = 0; i < KIND_FIELDS_MAX && kind_params[k].checks[i] != NULL; i++) {
        if (!kind_params[k].checks[i](params, p, err)) {
            json_decref(p);
            return false;
        }
    }
    *out = p;
    return true;
}

bool fs_risk_list_name_valid(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > FS_RISK_LIST_NAME_LEN_MAX) return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
    }
    return true;
}

/* --- rules ----------------------------------------------------------------- */

static bool score_field(const json_t *body, json_int_t def, json_t *rule, fs_error_t *err)
{
    const json_t *v = json_object_get(body, "score");
    if (v == NULL || json_is_null(v)) {
        json_object_set_new(rule, "score", json_integer(def));
        return true;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        json_integer_value(v) > FS_RISK_SCORE_MAX)
        return fs_fail(err, FS_INVALID_REQUEST, "score", "score must be an integer from 0 to %d.",
                       FS_RISK_SCORE_MAX);
    json_object_set_new(rule, "score", json_integer(json_integer_value(v)));
    return true;
}

static bool name_field(const json_t *body, json_t *rule, fs_error_t *err)
{
    const char *name;
    if (!fs_validate_string(body, "name", false, FS_RISK_RULE_NAME_LEN_MAX, &name, err))
        return false;
    json_object_set_new(rule, "name", name != NULL ? json_string(name) : json_null());
    return true;
}

static const char *const rule_fields[] = {"name", "kind",  "params", "action",
                                          "mode", "score", NULL};

bool fs_risk_parse_rule_create(const json_t *body, json_t *item, fs_error_t *err)
{
    const char *kind, *action, *mode;
    json_t *params;
    if (!fs_validate_known_fields(body, rule_fields, err)) return false;
    if (!enum_field(body, "kind", "kind", kinds, NULL, &kind, err)) return false;
    if (!fs_risk_parse_params(kind, json_object_get(body, "params"), &params, err)) return false;
    json_t *rule = json_pack("{s:s, s:o}", "kind", kind, "params", params);
    bool ok = enum_field(body, "action", "action", actions, NULL, &action, err) &&
              enum_field(body, "mode", "mode", modes, "active", &mode, err) &&
              score_field(body, default_score(action), rule, err) && name_field(body, rule, err);
    if (!ok) {
        json_decref(rule);
        return false;
    }
    json_object_set_new(rule, "action", json_string(action));
    json_object_set_new(rule, "mode", json_string(mode));
    char id[FS_ID_BUF_LEN];
    fs_id_new(FS_RISK_RULE_ID_PREFIX, id, sizeof(id));
    json_object_set_new(item, "id", json_string(id));
    json_object_set_new(item, "max", json_integer(FS_RISK_RULES_MAX));
    json_object_set_new(item, "rule", rule);
    return true;
}

/* PATCH's params without the rule's kind: checked against every kind. */
static void params_for_every_kind(const json_t *params, json_t *rule)
{
    json_t *by_kind = json_object(), *errors = json_object();
    for (size_t k = 0; k < KINDS; k++) {
        json_t *p;
        fs_error_t e;
        if (fs_risk_parse_params(kind_params[k].kind, params, &p, &e)) {
            json_object_set_new(by_kind, kind_params[k].kind, p);
        } else {
            json_object_set_new(errors, kind_params[k].kind,
                                json_pack("{s:s, s:s?}", "message", e.message, "param", e.param));
        }
    }
    json_object_set_new(rule, "params_by_kind", by_kind);
    json_object_set_new(rule, "params_errors", errors);
}

/* A field PATCH may change but not remove. */
static bool not_null(const json_t *body, const char *name, fs_error_t *err)
{
    const json_t *v = json_object_get(body, name);
    if (v != NULL && json_is_null(v))
        return fs_fail(err, FS_INVALID_REQUEST, name,
                       "%s cannot be null: leave it out to keep its value.", name);
    return true;
}

bool fs_risk_parse_rule_update(const json_t *body, json_t *item, fs_error_t *err)
{
    const char *kind = NULL, *action, *mode;
    if (!fs_validate_known_fields(body, rule_fields, err)) return false;
    if (json_object_size(body) == 0)
        return fs_fail(err, FS_INVALID_REQUEST, NULL,
                       "Give at least one of name, params, action, mode, score to change.");
    for (const char *const *f = rule_fields + 1; *f != NULL; f++) {
        if (!not_null(body, *f, err)) return false;
    }
    const json_t *params = json_object_get(body, "params");
    if (params != NULL && !json_is_object(params))
        return fs_fail(err, FS_INVALID_REQUEST, "params",
                       "params must be an object (docs/risk.md lists each kind's).");
    if (json_object_get(body, "kind") != NULL &&
        !enum_field(body, "kind", "kind", kinds, NULL, &kind, err))
        return false;
    json_t *rule = json_object();
    if (kind != NULL) json_object_set_new(rule, "kind", json_string(kind));
    if (params != NULL && kind != NULL) {
        json_t *p;
        if (!fs_risk_parse_params(kind, params, &p, err)) {
            json_decref(rule);
            return false;
        }
        json_object_set_new(rule, "params_by_kind", json_pack("{s:o}", kind, p));
        json_object_set_new(rule, "params_errors", json_object());
    } else if (params != NULL) {
        params_for_every_kind(params, rule);
    }
    bool ok = true;
    if (ok && json_object_get(body, "action") != NULL) {
        ok = enum_field(body, "action", "action", actions, NULL, &action, err);
        if (ok) json_object_set_new(rule, "action", json_string(action));
    }
    if (ok && json_object_get(body, "mode") != NULL) {
        ok = enum_field(body, "mode", "mode", modes, NULL, &mode, err);
        if (ok) json_object_set_new(rule, "mode", json_string(mode));
    }
    if (ok && json_object_get(body, "score") != NULL) ok = score_field(body, 0, rule, err);
    if (ok && json_object_get(body, "name") != NULL) ok = name_field(body, rule, err);
    if (!ok) {
        json_decref(rule);
        return false;
    }
    json_object_set_new(item, "rule", rule);
    return true;
}

/* --- lists ----------------------------------------------------------------- */

bool fs_risk_parse_list_entry_create(const json_t *body, json_t *item, fs_error_t *err)
{
    static const char *const fields[] = {"list", "value", "reason", NULL};
    const char *list, *value, *reason;
    if (!fs_validate_known_fields(body, fields, err)) return false;
    if (!fs_validate_string(body, "list", false, FS_RISK_LIST_NAME_LEN_MAX, &list, err))
        return false;
    if (list == NULL) list = FS_RISK_LIST_DEFAULT;
    if (!fs_risk_list_name_valid(list))
        return fs_fail(err, FS_INVALID_REQUEST, "list",
                       "list must be 1 to %d of a-z, 0-9 and _ (such as blocklist).",
                       FS_RISK_LIST_NAME_LEN_MAX);
    if (!fs_validate_id(body, "value", FS_ACCOUNT_ID_PREFIX, &value, err)) return false;
    if (!fs_validate_string(body, "reason", false, FS_RISK_LIST_REASON_LEN_MAX, &reason, err))
        return false;
    char id[FS_ID_BUF_LEN];
    fs_id_new(FS_RISK_LIST_ENTRY_ID_PREFIX, id, sizeof(id));
    json_object_set_new(item, "id", json_string(id));
    json_object_set_new(item, "max", json_integer(FS_RISK_LIST_ENTRIES_MAX));
    json_object_set_new(
        item, "entry",
        json_pack("{s:s, s:s, s:s?}", "list", list, "value", value, "reason", reason));
    return true;
}

bool fs_risk_parse_list_query(const char *query, json_t *item, fs_error_t *err)
{
    static const char *const extra[] = {"list", NULL};
    if (!fs_validate_list_query(query, FS_RISK_LIST_ENTRY_ID_PREFIX, extra, item, err))
        return false;
    const char *list = json_string_value(json_object_get(item, "list"));
    if (list != NULL && !fs_risk_list_name_valid(list))
        return fs_fail(err, FS_INVALID_REQUEST, "list",
                       "list must be 1 to %d of a-z, 0-9 and _ (such as blocklist).",
                       FS_RISK_LIST_NAME_LEN_MAX);
    return true;
}

/* --- balance alerts -------------------------------------------------------- */

static bool threshold(const json_t *body, const char *name, json_t *item, fs_error_t *err)
{
    const json_t *v = json_object_get(body, name);
    if (v == NULL || json_is_null(v)) {
        json_object_set_new(item, name, json_null());
        return true;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return fs_fail(err, FS_INVALID_REQUEST, name,
                       "%s must be an integer >= 0 (minor units of the account's currency), or "
                       "null for no threshold.",
                       name);
    json_object_set_new(item, name, json_integer(json_integer_value(v)));
    return true;
}

bool fs_risk_parse_balance_alerts(const json_t *body, json_t *item, fs_error_t *err)
{
    static const char *const fields[] = {"below", "above", NULL};
    if (!fs_validate_known_fields(body, fields, err)) return false;
    if (json_object_size(body) == 0)
        return fs_fail(err, FS_INVALID_REQUEST, NULL,
                       "Give below, above or both: each an integer >= 0, or null for no "
                       "threshold.");
    if (!threshold(body, "below", item, err) || !threshold(body, "above", item, err)) return false;
    const json_t *below = json_object_get(item, "below"), *above = json_object_get(item, "above");
    if (json_is_integer(below) && json_is_integer(above) &&
        json_integer_value(below) >= json_integer_value(above))
        return fs_fail(err, FS_INVALID_REQUEST, "below",
                       "below (%lld) must be less than above (%lld): a balance is below, "
                       "between or above them.",
                       (long long)json_integer_value(below), (long long)json_integer_value(above));
    return true;
}
