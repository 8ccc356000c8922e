/*
 * test_risk.c: the checks of the risk management API (src/risk/risk.c), its
 * /v1 routes (fs_api_route: PATCH, DELETE by route, the items and their
 * ops) and its admin routes (fs_admin_match, fs_admin_build): every error
 * names its parameter, every kind's params are exactly docs/risk.md's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "../../src/admin/admin.h"
#include "../../src/api/api.h"
#include "../../src/op/op.h"
#include "../../src/risk/risk.h"
#include "../../src/validate/validate.h"

static int setup(void **state)
{
    (void)state;
    return sodium_init() < 0 ? -1 : 0;
}

static json_t *parse(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, 0, &e);
    if (v == NULL) fail_msg("bad JSON in the test: %s: %s", text, e.text);
    return v;
}

typedef bool (*parse_fn)(const json_t *body, json_t *item, fs_error_t *err);

/* Runs fn on body; true with *item the item, or false with err. */
static bool run(parse_fn fn, const char *body, json_t **item, fs_error_t *err)
{
    json_t *b = parse(body);
    *item = json_object();
    memset(err, 0, sizeof(*err));
    bool ok = fn(b, *item, err);
    json_decref(b);
    return ok;
}

/* body is refused with 400 naming param (NULL: none). */
static void refused(parse_fn fn, const char *body, const char *param)
{
    json_t *item;
    fs_error_t err;
    if (run(fn, body, &item, &err)) fail_msg("accepted: %s", body);
    json_decref(item);
    assert_int_equal(err.outcome, FS_INVALID_REQUEST);
    if (param == NULL) {
        if (err.param != NULL) fail_msg("%s: named %s, want none", body, err.param);
    } else {
        if (err.param == NULL || strcmp(err.param, param) != 0)
            fail_msg("%s: named %s, want %s (%s)", body, err.param ? err.param : "none", param,
                     err.message);
    }
    assert_true(strlen(err.message) > 10);
}

/* body is accepted; returns the item (the caller frees it). */
static json_t *accepted(parse_fn fn, const char *body)
{
    json_t *item;
    fs_error_t err;
    if (!run(fn, body, &item, &err))
        fail_msg("refused: %s: %s (%s)", body, err.message, err.param ? err.param : "no param");
    return item;
}

/* item's rule (or entry) equals want (JSON text), generated id aside. */
static void assert_json(const json_t *got, const char *want)
{
    json_t *w = parse(want);
    if (!json_equal((json_t *)got, w)) {
        char *g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
        fail_msg("got %s, want %s", g, want);
    }
    json_decref(w);
}

static bool is_id(const char *s, const char *prefix)
{
    size_t p = strlen(prefix);
    return s != NULL && strncmp(s, prefix, p) == 0 && s[p] == '_' &&
           strlen(s) == p + 1 + FS_ID_RANDOM_LEN && fs_validate_id_string(s, prefix);
}

/* --- rules: create --------------------------------------------------------- */

static void every_kind_is_created_with_its_defaults(void **state)
{
    (void)state;
    static const struct {
        const char *body, *rule;
    } cases[] = {
        {"{\"kind\":\"amount_above\",\"params\":{\"amount\":100000,\"currency\":\"USD\"},"
         "\"action\":\"block\"}",
         "{\"kind\":\"amount_above\",\"params\":{\"amount\":100000,\"currency\":\"USD\"},"
         "\"action\":\"block\",\"mode\":\"active\",\"score\":90,\"name\":null}"},
        {"{\"kind\":\"velocity_count\",\"params\":{\"count\":10,\"window_minutes\":60},"
         "\"action\":\"review\",\"mode\":\"shadow\",\"name\":\"10 an hour\"}",
         "{\"kind\":\"velocity_count\",\"params\":{\"count\":10,\"window_minutes\":60},"
         "\"action\":\"review\",\"mode\":\"shadow\",\"score\":50,\"name\":\"10 an hour\"}"},
        {"{\"kind\":\"velocity_amount\",\"params\":{\"amount\":1,\"currency\":\"JPY\","
         "\"window_minutes\":10080},\"action\":\"allow\",\"score\":7}",
         "{\"kind\":\"velocity_amount\",\"params\":{\"amount\":1,\"currency\":\"JPY\","
         "\"window_minutes\":10080},\"action\":\"allow\",\"mode\":\"active\",\"score\":7,"
         "\"name\":null}"},
        {"{\"kind\":\"new_account_amount\",\"params\":{\"amount\":5000,\"currency\":\"EUR\"},"
         "\"action\":\"review\"}",
         "{\"kind\":\"new_account_amount\",\"params\":{\"amount\":5000,\"currency\":\"EUR\","
         "\"account_age_hours\":24},\"action\":\"review\",\"mode\":\"active\",\"score\":50,"
         "\"name\":null}"},
        {"{\"kind\":\"listed\",\"action\":\"block\"}",
         "{\"kind\":\"listed\",\"params\":{\"list\":\"blocklist\",\"party\":\"either\"},"
         "\"action\":\"block\",\"mode\":\"active\",\"score\":90,\"name\":null}"},
        {"{\"kind\":\"listed\",\"params\":{\"list\":\"vip_2\",\"party\":\"payee\"},"
         "\"action\":\"allow\",\"score\":null}",
         "{\"kind\":\"listed\",\"params\":{\"list\":\"vip_2\",\"party\":\"payee\"},"
         "\"action\":\"allow\",\"mode\":\"active\",\"score\":0,\"name\":null}"},
        {"{\"kind\":\"currency_not_allowed\",\"params\":{\"allowed\":[\"USD\",\"EUR\"]},"
         "\"action\":\"block\",\"score\":100}",
         "{\"kind\":\"currency_not_allowed\",\"params\":{\"allowed\":[\"USD\",\"EUR\"]},"
         "\"action\":\"block\",\"mode\":\"active\",\"score\":100,\"name\":null}"},
        {"{\"kind\":\"metadata_equals\",\"params\":{\"key\":\"channel\",\"value\":\"\"},"
         "\"action\":\"review\",\"score\":0}",
         "{\"kind\":\"metadata_equals\",\"params\":{\"key\":\"channel\",\"value\":\"\"},"
         "\"action\":\"review\",\"mode\":\"active\",\"score\":0,\"name\":null}"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *item = accepted(fs_risk_parse_rule_create, cases[i].body);
        assert_true(is_id(json_string_value(json_object_get(item, "id")), "rr"));
        assert_int_equal(json_integer_value(json_object_get(item, "max")), FS_RISK_RULES_MAX);
        assert_json(json_object_get(item, "rule"), cases[i].rule);
        json_decref(item);
    }
}

static void rule_create_errors_name_the_parameter(void **state)
{
    (void)state;
    static const struct {
        const char *body, *param;
    } cases[] = {
        {"{\"kind\":\"listed\",\"action\":\"block\",\"color\":1}", "color"},
        {"{\"action\":\"block\"}", "kind"},
        {"{\"kind\":\"loud\",\"action\":\"block\"}", "kind"},
        {"{\"kind\":7,\"action\":\"block\"}", "kind"},
        {"{\"kind\":\"listed\"}", "action"},
        {"{\"kind\":\"listed\",\"action\":\"deny\"}", "action"},
        {"{\"kind\":\"listed\",\"action\":\"block\",\"mode\":\"dry\"}", "mode"},
        {"{\"kind\":\"listed\",\"action\":\"block\",\"score\":101}", "score"},
        {"{\"kind\":\"listed\",\"action\":\"block\",\"score\":-1}", "score"},
        {"{\"kind\":\"listed\",\"action\":\"block\",\"score\":\"9\"}", "score"},
        {"{\"kind\":\"listed\",\"action\":\"block\",\"score\":9.5}", "score"},
        {"{\"kind\":\"listed\",\"action\":\"block\",\"name\":5}", "name"},
        {"{\"kind\":\"listed\",\"action\":\"block\",\"params\":[]}", "params"},
        {"{\"kind\":\"listed\",\"action\":\"block\",\"params\":\"x\"}", "params"},
        /* params: unknown, missing, wrong type or range, kind by kind */
        {"{\"kind\":\"velocity_count\",\"params\":{\"count\":1,\"window_minutes\":5,\"amount\":1},"
         "\"action\":\"block\"}",
         "params.amount"},
        {"{\"kind\":\"amount_above\",\"params\":{\"currency\":\"USD\"},\"action\":\"block\"}",
         "params.amount"},
        {"{\"kind\":\"amount_above\",\"params\":{\"amount\":0,\"currency\":\"USD\"},"
         "\"action\":\"block\"}",
         "params.amount"},
        {"{\"kind\":\"amount_above\",\"params\":{\"amount\":\"5\",\"currency\":\"USD\"},"
         "\"action\":\"block\"}",
         "params.amount"},
        {"{\"kind\":\"amount_above\",\"params\":{\"amount\":5},\"action\":\"block\"}",
         "params.currency"},
        {"{\"kind\":\"amount_above\",\"params\":{\"amount\":5,\"currency\":\"usd\"},"
         "\"action\":\"block\"}",
         "params.currency"},
        {"{\"kind\":\"amount_above\",\"params\":{\"amount\":5,\"currency\":\"XYZ\"},"
         "\"action\":\"block\"}",
         "params.currency"},
        {"{\"kind\":\"amount_above\",\"params\":{\"amount\":5,\"currency\":\"USDT\"},"
         "\"action\":\"block\"}",
         "params.currency"},
        {"{\"kind\":\"velocity_count\",\"params\":{\"window_minutes\":5},\"action\":\"block\"}",
         "params.count"},
        {"{\"kind\":\"velocity_count\",\"params\":{\"count\":0,\"window_minutes\":5},"
         "\"action\":\"block\"}",
         "params.count"},
        {"{\"kind\":\"velocity_count\",\"params\":{\"count\":1000001,\"window_minutes\":5},"
         "\"action\":\"block\"}",
         "params.count"},
        {"{\"kind\":\"velocity_count\",\"params\":{\"count\":5},\"action\":\"block\"}",
         "params.window_minutes"},
        {"{\"kind\":\"velocity_count\",\"params\":{\"count\":5,\"window_minutes\":0},"
         "\"action\":\"block\"}",
         "params.window_minutes"},
        {"{\"kind\":\"velocity_count\",\"params\":{\"count\":5,\"window_minutes\":10081},"
         "\"action\":\"block\"}",
         "params.window_minutes"},
        {"{\"kind\":\"velocity_count\",\"params\":{\"count\":5,\"window_minutes\":90},"
         "\"action\":\"block\"}",
         "params.window_minutes"},
        {"{\"kind\":\"velocity_amount\",\"params\":{\"amount\":5,\"currency\":\"USD\","
         "\"window_minutes\":61},\"action\":\"block\"}",
         "params.window_minutes"},
        {"{\"kind\":\"velocity_amount\",\"params\":{\"amount\":5,\"currency\":\"USD\"},"
         "\"action\":\"block\"}",
         "params.window_minutes"},
        {"{\"kind\":\"new_account_amount\",\"params\":{\"amount\":5,\"currency\":\"USD\","
         "\"account_age_hours\":0},\"action\":\"block\"}",
         "params.account_age_hours"},
        {"{\"kind\":\"new_account_amount\",\"params\":{\"amount\":5,\"currency\":\"USD\","
         "\"account_age_hours\":8761},\"action\":\"block\"}",
         "params.account_age_hours"},
        {"{\"kind\":\"listed\",\"params\":{\"list\":\"Block\"},\"action\":\"block\"}",
         "params.list"},
        {"{\"kind\":\"listed\",\"params\":{\"list\":\"\"},\"action\":\"block\"}", "params.list"},
        {"{\"kind\":\"listed\",\"params\":{\"list\":\"a-b\"},\"action\":\"block\"}", "params.list"},
        {"{\"kind\":\"listed\",\"params\":{\"party\":\"both\"},\"action\":\"block\"}",
         "params.party"},
        {"{\"kind\":\"listed\",\"params\":{\"window_minutes\":5},\"action\":\"block\"}",
         "params.window_minutes"},
        {"{\"kind\":\"currency_not_allowed\",\"action\":\"block\"}", "params.allowed"},
        {"{\"kind\":\"currency_not_allowed\",\"params\":{\"allowed\":[]},\"action\":\"block\"}",
         "params.allowed"},
        {"{\"kind\":\"currency_not_allowed\",\"params\":{\"allowed\":\"USD\"},"
         "\"action\":\"block\"}",
         "params.allowed"},
        {"{\"kind\":\"currency_not_allowed\",\"params\":{\"allowed\":[\"USD\",\"ZZZ\"]},"
         "\"action\":\"block\"}",
         "params.allowed"},
        {"{\"kind\":\"currency_not_allowed\",\"params\":{\"allowed\":[\"USD\",\"USD\"]},"
         "\"action\":\"block\"}",
         "params.allowed"},
        {"{\"kind\":\"currency_not_allowed\",\"params\":{\"allowed\":[1]},\"action\":\"block\"}",
         "params.allowed"},
        {"{\"kind\":\"metadata_equals\",\"params\":{\"value\":\"x\"},\"action\":\"block\"}",
         "params.key"},
        {"{\"kind\":\"metadata_equals\",\"params\":{\"key\":\"\",\"value\":\"x\"},"
         "\"action\":\"block\"}",
         "params.key"},
        {"{\"kind\":\"metadata_equals\",\"params\":{\"key\":\"k\"},\"action\":\"block\"}",
         "params.value"},
        {"{\"kind\":\"metadata_equals\",\"params\":{\"key\":\"k\",\"value\":3},"
         "\"action\":\"block\"}",
         "params.value"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        refused(fs_risk_parse_rule_create, cases[i].body, cases[i].param);
}

static void rule_limits_are_the_named_constants(void **state)
{
    (void)state;
    char body[2048];
    json_t *item;
    /* window_minutes: every minute up to an hour, whole hours up to 7 days */
    for (int w = 1; w <= FS_RISK_WINDOW_MINUTES_MAX; w++) {
        snprintf(body, sizeof(body),
                 "{\"kind\":\"velocity_count\",\"params\":{\"count\":%d,\"window_minutes\":%d},"
                 "\"action\":\"block\"}",
                 FS_RISK_COUNT_MAX, w);
        fs_error_t err;
        bool ok = run(fs_risk_parse_rule_create, body, &item, &err);
        json_decref(item);
        assert_int_equal(ok, w <= FS_RISK_WINDOW_MINUTE_BUCKETS || w % 60 == 0);
    }
    /* allowed: FS_RISK_ALLOWED_CURRENCIES_MAX codes, not one more (the
     * supported currencies repeat past their count, and repeating is
     * refused first: take only distinct ones) */
    size_t n;
    const fs_currency_t *all = fs_money_currencies(&n);
    size_t want = n < FS_RISK_ALLOWED_CURRENCIES_MAX ? n : FS_RISK_ALLOWED_CURRENCIES_MAX;
    size_t used = (size_t)snprintf(body, sizeof(body),
                                   "{\"kind\":\"currency_not_allowed\",\"action\":\"block\","
                                   "\"params\":{\"allowed\":[");
    for (size_t i = 0; i < want; i++)
        used += (size_t)snprintf(body + used, sizeof(body) - used, "%s\"%s\"", i ? "," : "",
                                 all[i].code);
    snprintf(body + used, sizeof(body) - used, "]}}");
    item = accepted(fs_risk_parse_rule_create, body);
    assert_int_equal(json_array_size(json_object_get(
                         json_object_get(json_object_get(item, "rule"), "params"), "allowed")),
                     want);
    json_decref(item);
    /* 51 entries: too many, whatever they are */
    used = (size_t)snprintf(body, sizeof(body),
                            "{\"kind\":\"currency_not_allowed\",\"action\":\"block\","
                            "\"params\":{\"allowed\":[");
    for (int i = 0; i <= FS_RISK_ALLOWED_CURRENCIES_MAX; i++)
        used += (size_t)snprintf(body + used, sizeof(body) - used, "%s\"USD\"", i ? "," : "");
    snprintf(body + used, sizeof(body) - used, "]}}");
    refused(fs_risk_parse_rule_create, body, "params.allowed");
    /* name: FS_RISK_RULE_NAME_LEN_MAX bytes */
    char name[FS_RISK_RULE_NAME_LEN_MAX + 2];
    memset(name, 'n', sizeof(name) - 1);
    name[FS_RISK_RULE_NAME_LEN_MAX] = '\0';
    snprintf(body, sizeof(body), "{\"kind\":\"listed\",\"action\":\"block\",\"name\":\"%s\"}",
             name);
    json_decref(accepted(fs_risk_parse_rule_create, body));
    name[FS_RISK_RULE_NAME_LEN_MAX] = 'n';
    name[FS_RISK_RULE_NAME_LEN_MAX + 1] = '\0';
    snprintf(body, sizeof(body), "{\"kind\":\"listed\",\"action\":\"block\",\"name\":\"%s\"}",
             name);
    refused(fs_risk_parse_rule_create, body, "name");
    /* metadata_equals: key 64 bytes, value 256 */
    char key[FS_RISK_METADATA_KEY_LEN_MAX + 2], value[FS_RISK_METADATA_VALUE_LEN_MAX + 2];
    memset(key, 'k', sizeof(key));
    memset(value, 'v', sizeof(value));
    key[FS_RISK_METADATA_KEY_LEN_MAX] = value[FS_RISK_METADATA_VALUE_LEN_MAX] = '\0';
    snprintf(body, sizeof(body),
             "{\"kind\":\"metadata_equals\",\"action\":\"review\",\"params\":{\"key\":\"%s\","
             "\"value\":\"%s\"}}",
             key, value);
    json_decref(accepted(fs_risk_parse_rule_create, body));
    key[FS_RISK_METADATA_KEY_LEN_MAX] = 'k';
    key[FS_RISK_METADATA_KEY_LEN_MAX + 1] = '\0';
    snprintf(body, sizeof(body),
             "{\"kind\":\"metadata_equals\",\"action\":\"review\",\"params\":{\"key\":\"%s\","
             "\"value\":\"v\"}}",
             key);
    refused(fs_risk_parse_rule_create, body, "params.key");
    value[FS_RISK_METADATA_VALUE_LEN_MAX] = 'v';
    value[FS_RISK_METADATA_VALUE_LEN_MAX + 1] = '\0';
    snprintf(body, sizeof(body),
             "{\"kind\":\"metadata_equals\",\"action\":\"review\",\"params\":{\"key\":\"k\","
             "\"value\":\"%s\"}}",
             value);
    refused(fs_risk_parse_rule_create, body, "params.value");
    /* list names: 64 of [a-z0-9_] */
    char list[FS_RISK_LIST_NAME_LEN_MAX + 2];
    memset(list, 'a', sizeof(list));
    list[FS_RISK_LIST_NAME_LEN_MAX] = '\0';
    assert_true(fs_risk_list_name_valid(list));
    list[FS_RISK_LIST_NAME_LEN_MAX] = 'a';
    list[FS_RISK_LIST_NAME_LEN_MAX + 1] = '\0';
    assert_false(fs_risk_list_name_valid(list));
    assert_true(fs_risk_list_name_valid("blocklist_2"));
    assert_false(fs_risk_list_name_valid(""));
    assert_false(fs_risk_list_name_valid("Blocklist"));
    assert_false(fs_risk_list_name_valid("block list"));
    assert_false(fs_risk_list_name_valid("block-list"));
}

static void params_alone(void **state)
{
    (void)state;
    json_t *out;
    fs_error_t err;
    /* absent params: only a kind whose every param has a default */
    assert_true(fs_risk_parse_params("listed", NULL, &out, &err));
    assert_json(out, "{\"list\":\"blocklist\",\"party\":\"either\"}");
    json_decref(out);
    assert_false(fs_risk_parse_params("amount_above", NULL, &out, &err));
    assert_null(out);
    assert_string_equal(err.param, "params.amount");
    assert_false(fs_risk_parse_params("nope", NULL, &out, &err));
    assert_string_equal(err.param, "kind");
    /* a NUL inside a string is refused, not cut short */
    json_t *p = json_pack("{s:s%, s:s}", "key", "a\0b", (size_t)3, "value", "v");
    assert_false(fs_risk_parse_params("metadata_equals", p, &out, &err));
    assert_string_equal(err.param, "params.key");
    json_decref(p);
    p = json_pack("{s:s%}", "party", "payer\0x", (size_t)7);
    assert_false(fs_risk_parse_params("listed", p, &out, &err));
    assert_string_equal(err.param, "params.party");
    json_decref(p);
}

/* --- rules: update --------------------------------------------------------- */

static void rule_update_keeps_what_is_left_out(void **state)
{
    (void)state;
    json_t *item = accepted(fs_risk_parse_rule_update, "{\"mode\":\"shadow\"}");
    assert_json(json_object_get(item, "rule"), "{\"mode\":\"shadow\"}");
    json_decref(item);
    item = accepted(fs_risk_parse_rule_update, "{\"name\":null,\"action\":\"allow\",\"score\":3}");
    assert_json(json_object_get(item, "rule"), "{\"name\":null,\"action\":\"allow\",\"score\":3}");
    json_decref(item);
    /* with the kind restated, params are checked against it alone */
    item =
        accepted(fs_risk_parse_rule_update,
                 "{\"kind\":\"velocity_count\",\"params\":{\"count\":3,\"window_minutes\":120}}");
    assert_json(json_object_get(item, "rule"),
                "{\"kind\":\"velocity_count\",\"params_by_kind\":{\"velocity_count\":{\"count\":3,"
                "\"window_minutes\":120}},\"params_errors\":{}}");
    json_decref(item);
    refused(fs_risk_parse_rule_update, "{\"kind\":\"velocity_count\",\"params\":{\"count\":3}}",
            "params.window_minutes");
}

static void rule_update_checks_params_against_every_kind(void **state)
{
    (void)state;
    json_t *item =
        accepted(fs_risk_parse_rule_update, "{\"params\":{\"count\":3,\"window_minutes\":120}}");
    const json_t *rule = json_object_get(item, "rule");
    const json_t *ok = json_object_get(rule, "params_by_kind");
    const json_t *bad = json_object_get(rule, "params_errors");
    assert_int_equal(json_object_size(ok), 1);
    assert_json(json_object_get(ok, "velocity_count"), "{\"count\":3,\"window_minutes\":120}");
    assert_int_equal(json_object_size(bad), 6);
    /* what the store answers for a rule of another kind: that kind's error */
    const json_t *e = json_object_get(bad, "amount_above");
    assert_string_equal(json_string_value(json_object_get(e, "param")), "params.count");
    e = json_object_get(bad, "listed");
    assert_string_equal(json_string_value(json_object_get(e, "param")), "params.count");
    assert_true(strstr(json_string_value(json_object_get(e, "message")), "listed") != NULL);
    json_decref(item);
    /* {} is valid for listed only (its defaults) */
    item = accepted(fs_risk_parse_rule_update, "{\"params\":{}}");
    assert_json(json_object_get(json_object_get(item, "rule"), "params_by_kind"),
                "{\"listed\":{\"list\":\"blocklist\",\"party\":\"either\"}}");
    json_decref(item);
}

static void rule_update_errors_name_the_parameter(void **state)
{
    (void)state;
    static const struct {
        const char *body, *param;
    } cases[] = {
        {"{}", NULL},
        {"{\"colour\":1}", "colour"},
        {"{\"kind\":null}", "kind"},
        {"{\"kind\":\"loud\"}", "kind"},
        {"{\"params\":null}", "params"},
        {"{\"params\":5}", "params"},
        {"{\"action\":null}", "action"},
        {"{\"action\":\"deny\"}", "action"},
        {"{\"mode\":null}", "mode"},
        {"{\"mode\":\"dry\"}", "mode"},
        {"{\"score\":null}", "score"},
        {"{\"score\":101}", "score"},
        {"{\"name\":[]}", "name"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        refused(fs_risk_parse_rule_update, cases[i].body, cases[i].param);
}

/* --- lists and balance alerts -------------------------------------------- */

static void list_entries(void **state)
{
    (void)state;
    json_t *item = accepted(fs_risk_parse_list_entry_create, "{\"value\":\"acct_x1\"}");
    assert_true(is_id(json_string_value(json_object_get(item, "id")), "rle"));
    assert_int_equal(json_integer_value(json_object_get(item, "max")), FS_RISK_LIST_ENTRIES_MAX);
    assert_json(json_object_get(item, "entry"),
                "{\"list\":\"blocklist\",\"value\":\"acct_x1\",\"reason\":null}");
    json_decref(item);
    item = accepted(fs_risk_parse_list_entry_create,
                    "{\"list\":\"trusted\",\"value\":\"acct_x1\",\"reason\":\"KYC\"}");
    assert_json(json_object_get(item, "entry"),
                "{\"list\":\"trusted\",\"value\":\"acct_x1\",\"reason\":\"KYC\"}");
    json_decref(item);
    refused(fs_risk_parse_list_entry_create, "{}", "value");
    refused(fs_risk_parse_list_entry_create, "{\"value\":\"pay_x1\"}", "value");
    refused(fs_risk_parse_list_entry_create, "{\"value\":5}", "value");
    refused(fs_risk_parse_list_entry_create, "{\"value\":\"acct_x1\",\"list\":\"A\"}", "list");
    refused(fs_risk_parse_list_entry_create, "{\"value\":\"acct_x1\",\"list\":\"\"}", "list");
    refused(fs_risk_parse_list_entry_create, "{\"value\":\"acct_x1\",\"reason\":1}", "reason");
    refused(fs_risk_parse_list_entry_create, "{\"value\":\"acct_x1\",\"why\":\"\"}", "why");
    /* the query of GET /v1/risk_lists */
    json_t *q = json_object();
    fs_error_t err;
    assert_true(fs_risk_parse_list_query("list=blocklist&limit=5&starting_after=rle_a", q, &err));
    assert_json(q, "{\"list\":\"blocklist\",\"limit\":5,\"after\":\"rle_a\"}");
    json_decref(q);
    q = json_object();
    assert_false(fs_risk_parse_list_query("list=Bad", q, &err));
    assert_string_equal(err.param, "list");
    assert_false(fs_risk_parse_list_query("starting_after=rr_a", q, &err));
    assert_string_equal(err.param, "starting_after");
    assert_false(fs_risk_parse_list_query("kind=x", q, &err));
    assert_string_equal(err.param, "kind");
    json_decref(q);
}

static void balance_alerts(void **state)
{
    (void)state;
    json_t *item = accepted(fs_risk_parse_balance_alerts, "{\"below\":1000,\"above\":500000}");
    assert_json(item, "{\"below\":1000,\"above\":500000}");
    json_decref(item);
    item = accepted(fs_risk_parse_balance_alerts, "{\"below\":0}");
    assert_json(item, "{\"below\":0,\"above\":null}");
    json_decref(item);
    item = accepted(fs_risk_parse_balance_alerts, "{\"below\":null,\"above\":null}");
    assert_json(item, "{\"below\":null,\"above\":null}");
    json_decref(item);
    item = accepted(fs_risk_parse_balance_alerts, "{\"above\":9223372036854775807}");
    json_decref(item);
    refused(fs_risk_parse_balance_alerts, "{}", NULL);
    refused(fs_risk_parse_balance_alerts, "{\"below\":1,\"limit\":2}", "limit");
    refused(fs_risk_parse_balance_alerts, "{\"below\":-1}", "below");
    refused(fs_risk_parse_balance_alerts, "{\"above\":\"5\"}", "above");
    refused(fs_risk_parse_balance_alerts, "{\"above\":1.5}", "above");
    refused(fs_risk_parse_balance_alerts, "{\"below\":5,\"above\":5}", "below");
    refused(fs_risk_parse_balance_alerts, "{\"below\":6,\"above\":5}", "below");
}

/* --- the /v1 routes -------------------------------------------------------- */

static void route(fs_method_t method, const char *path, const char *query, const char *body,
                  const char *idem, fs_api_result_t *res)
{
    fs_api_request_t req = {.method = method,
                            .path = path,
                            .query = query,
                            .body = body,
                            .body_len = body != NULL ? strlen(body) : 0,
                            .authorization = "Bearer fsk_test",
                            .idempotency_key = idem};
    fs_api_route(&req, res);
}

static void routed(fs_method_t method, const char *path, const char *query, const char *body,
                   fs_op_t op, const char *template)
{
    fs_api_result_t res;
    route(method, path, query, body, body != NULL ? "k-1" : NULL, &res);
    if (res.action != FS_API_STORE)
        fail_msg("%s: %s (%s)", path, res.err.message, res.err.param ? res.err.param : "");
    assert_int_equal(fs_op_of(res.item), op);
    assert_string_equal(res.route_name, template);
    assert_string_equal(fs_api_route_template(path), template);
    /* a write carries its Idempotency-Key and fingerprint; a DELETE and a
     * read none */
    bool idem = fs_op_has(op, FS_OPF_IDEMPOTENT);
    assert_int_equal(json_object_get(res.item, "idem") != NULL, idem);
    assert_int_equal(json_object_get(res.item, "fp") != NULL, idem);
    /* every risk op runs alone (src/op/op.c says why) */
    if (op != FS_OP_WEBHOOK_ENDPOINT_DELETE) assert_true(fs_op_has(op, FS_OPF_SOLO));
    json_decref(res.item);
}

static void api_routes_build_the_risk_ops(void **state)
{
    (void)state;
    routed(FS_METHOD_POST, "/v1/risk_rules", NULL, "{\"kind\":\"listed\",\"action\":\"block\"}",
           FS_OP_RISK_RULE_CREATE, "/v1/risk_rules");
    routed(FS_METHOD_GET, "/v1/risk_rules", "limit=3", NULL, FS_OP_RISK_RULE_LIST,
           "/v1/risk_rules");
    routed(FS_METHOD_GET, "/v1/risk_rules/rr_a1", NULL, NULL, FS_OP_RISK_RULE_GET,
           "/v1/risk_rules/{id}");
    routed(FS_METHOD_PATCH, "/v1/risk_rules/rr_a1", NULL, "{\"mode\":\"shadow\"}",
           FS_OP_RISK_RULE_UPDATE, "/v1/risk_rules/{id}");
    routed(FS_METHOD_DELETE, "/v1/risk_rules/rr_a1", NULL, NULL, FS_OP_RISK_RULE_DELETE,
           "/v1/risk_rules/{id}");
    routed(FS_METHOD_POST, "/v1/risk_lists", NULL, "{\"value\":\"acct_a1\"}",
           FS_OP_RISK_LIST_ENTRY_CREATE, "/v1/risk_lists");
    routed(FS_METHOD_GET, "/v1/risk_lists", "list=blocklist", NULL, FS_OP_RISK_LIST_ENTRY_LIST,
           "/v1/risk_lists");
    routed(FS_METHOD_DELETE, "/v1/risk_lists/rle_a1", NULL, NULL, FS_OP_RISK_LIST_ENTRY_DELETE,
           "/v1/risk_lists/{id}");
    routed(FS_METHOD_POST, "/v1/accounts/acct_a1/balance_alerts", NULL, "{\"below\":5}",
           FS_OP_BALANCE_ALERTS_SET, "/v1/accounts/{id}/balance_alerts");
    routed(FS_METHOD_GET, "/v1/accounts/acct_a1/balance_alerts", NULL, NULL,
           FS_OP_BALANCE_ALERTS_GET, "/v1/accounts/{id}/balance_alerts");
    /* DELETE is the route's: a webhook endpoint's stays its own */
    routed(FS_METHOD_DELETE, "/v1/webhook_endpoints/we_a1", NULL, NULL,
           FS_OP_WEBHOOK_ENDPOINT_DELETE, "/v1/webhook_endpoints/{id}");
}

static void api_items_name_their_objects(void **state)
{
    (void)state;
    fs_api_result_t res;
    route(FS_METHOD_PATCH, "/v1/risk_rules/rr_a1", NULL, "{\"score\":1}", "k", &res);
    assert_string_equal(json_string_value(json_object_get(res.item, "id")), "rr_a1");
    assert_json(json_object_get(res.item, "rule"), "{\"score\":1}");
    json_decref(res.item);
    route(FS_METHOD_POST, "/v1/accounts/acct_a1/balance_alerts", NULL, "{\"above\":5}", "k", &res);
    assert_string_equal(json_string_value(json_object_get(res.item, "account")), "acct_a1");
    json_decref(res.item);
    /* the same body PATCHed and POSTed under one key are two requests */
    fs_api_result_t a, b;
    route(FS_METHOD_PATCH, "/v1/risk_rules/rr_a1", NULL, "{\"score\":1}", "k", &a);
    route(FS_METHOD_PATCH, "/v1/risk_rules/rr_a2", NULL, "{\"score\":1}", "k", &b);
    assert_string_not_equal(json_string_value(json_object_get(a.item, "fp")),
                            json_string_value(json_object_get(b.item, "fp")));
    json_decref(a.item);
    json_decref(b.item);
}

static void api_rejections(void **state)
{
    (void)state;
    static const struct {
        fs_method_t method;
        const char *path, *query, *body, *idem;
        fs_outcome_t outcome;
        const char *param;
    } cases[] = {
        /* PATCH needs its key as a POST does, and a body in JSON */
        {FS_METHOD_PATCH, "/v1/risk_rules/rr_a1", NULL, "{\"score\":1}", NULL,
         FS_IDEMPOTENCY_KEY_MISSING, "Idempotency-Key"},
        {FS_METHOD_PATCH, "/v1/risk_rules/rr_a1", "score=1", "{\"score\":1}", "k",
         FS_INVALID_REQUEST, NULL},
        {FS_METHOD_PATCH, "/v1/risk_rules/rr_a1", NULL, "{", "k", FS_INVALID_REQUEST, NULL},
        /* a malformed id is as unknown as a missing one */
        {FS_METHOD_PATCH, "/v1/risk_rules/pay_a1", NULL, "{\"score\":1}", "k", FS_NOT_FOUND, "id"},
        {FS_METHOD_GET, "/v1/risk_rules/rle_a1", NULL, NULL, NULL, FS_NOT_FOUND, "id"},
        {FS_METHOD_DELETE, "/v1/risk_rules/x", NULL, NULL, NULL, FS_NOT_FOUND, "id"},
        {FS_METHOD_DELETE, "/v1/risk_lists/rr_a1", NULL, NULL, NULL, FS_NOT_FOUND, "id"},
        {FS_METHOD_POST, "/v1/accounts/pay_a1/balance_alerts", NULL, "{\"below\":1}", "k",
         FS_NOT_FOUND, "id"},
        /* DELETE takes no body and no query */
        {FS_METHOD_DELETE, "/v1/risk_rules/rr_a1", NULL, "{}", NULL, FS_INVALID_REQUEST, NULL},
        {FS_METHOD_DELETE, "/v1/risk_lists/rle_a1", "x=1", NULL, NULL, FS_INVALID_REQUEST, NULL},
        {FS_METHOD_GET, "/v1/risk_rules/rr_a1", "x=1", NULL, NULL, FS_INVALID_REQUEST, NULL},
        {FS_METHOD_GET, "/v1/accounts/acct_a1/balance_alerts", "x=1", NULL, NULL,
         FS_INVALID_REQUEST, NULL},
        {FS_METHOD_GET, "/v1/risk_rules", "starting_after=rle_a", NULL, NULL, FS_INVALID_REQUEST,
         "starting_after"},
        {FS_METHOD_GET, "/v1/risk_lists", "list=a-b", NULL, NULL, FS_INVALID_REQUEST, "list"},
        /* methods: 405 */
        {FS_METHOD_PATCH, "/v1/risk_rules", NULL, "{}", "k", FS_METHOD_NOT_ALLOWED, NULL},
        {FS_METHOD_POST, "/v1/risk_rules/rr_a1", NULL, "{}", "k", FS_METHOD_NOT_ALLOWED, NULL},
        {FS_METHOD_GET, "/v1/risk_lists/rle_a1", NULL, NULL, NULL, FS_METHOD_NOT_ALLOWED, NULL},
        {FS_METHOD_PATCH, "/v1/payments/pay_a1", NULL, "{}", "k", FS_METHOD_NOT_ALLOWED, NULL},
        {FS_METHOD_DELETE, "/v1/accounts/acct_a1/balance_alerts", NULL, NULL, NULL,
         FS_METHOD_NOT_ALLOWED, NULL},
        {FS_METHOD_OTHER, "/v1/risk_rules/rr_a1", NULL, NULL, NULL, FS_METHOD_NOT_ALLOWED, NULL},
        /* deeper paths are no route */
        {FS_METHOD_GET, "/v1/risk_rules/rr_a1/x", NULL, NULL, NULL, FS_NOT_FOUND, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fs_api_result_t res;
        route(cases[i].method, cases[i].path, cases[i].query, cases[i].body, cases[i].idem, &res);
        if (res.action != FS_API_REJECT) fail_msg("case %zu accepted: %s", i, cases[i].path);
        assert_null(res.item);
        if (res.err.outcome != cases[i].outcome)
            fail_msg("case %zu %s: outcome %d, want %d (%s)", i, cases[i].path, res.err.outcome,
                     cases[i].outcome, res.err.message);
        if (cases[i].param == NULL)
            assert_null(res.err.param);
        else
            assert_string_equal(res.err.param, cases[i].param);
    }
    /* The Allow headers list exactly the route's methods. */
    static const struct {
        const char *path, *allow;
    } allows[] = {
        {"/v1/risk_rules", "GET, POST"},
        {"/v1/risk_rules/rr_a1", "GET, PATCH, DELETE"},
        {"/v1/risk_lists", "GET, POST"},
        {"/v1/risk_lists/rle_a1", "DELETE"},
        {"/v1/accounts/acct_a1/balance_alerts", "GET, POST"},
        {"/v1/webhook_endpoints/we_a1", "GET, DELETE"},
    };
    for (size_t i = 0; i < sizeof(allows) / sizeof(allows[0]); i++) {
        fs_api_result_t res;
        route(FS_METHOD_OTHER, allows[i].path, NULL, NULL, NULL, &res);
        assert_int_equal(res.err.outcome, FS_METHOD_NOT_ALLOWED);
        assert_string_equal(res.allow, allows[i].allow);
    }
}

/* --- the admin routes ------------------------------------------------------ */

static json_t *admin_item(fs_method_t method, const char *path, const char *query, const char *body,
                          bool key, fs_error_t *err)
{
    char id[FS_ID_LEN_MAX + 1];
    const char *allow;
    int r = fs_admin_match(method, path, id, &allow, err);
    if (r < 0) return NULL;
    fs_admin_actor_t actor = {
        .id = "stf_a", .email = "a@example.com", .role = FS_ROLE_FINANCE, .key = key};
    json_t *item;
    if (!fs_admin_build(r, id, query, body, body != NULL ? strlen(body) : 0, &actor, &item, err))
        return NULL;
    return item;
}

static void admin_routes_and_roles(void **state)
{
    (void)state;
    static const struct {
        fs_method_t method;
        const char *path;
        fs_role_t min;
    } want[] = {
        {FS_METHOD_GET, "/admin/api/tenants/ten_a/risk_rules", FS_ROLE_VIEWER},
        {FS_METHOD_POST, "/admin/api/tenants/ten_a/risk_rules", FS_ROLE_FINANCE},
        {FS_METHOD_PATCH, "/admin/api/risk_rules/rr_a", FS_ROLE_FINANCE},
        {FS_METHOD_DELETE, "/admin/api/risk_rules/rr_a", FS_ROLE_FINANCE},
        {FS_METHOD_GET, "/admin/api/tenants/ten_a/risk_lists", FS_ROLE_VIEWER},
        {FS_METHOD_POST, "/admin/api/tenants/ten_a/risk_lists", FS_ROLE_FINANCE},
        {FS_METHOD_DELETE, "/admin/api/risk_lists/rle_a", FS_ROLE_FINANCE},
    };
    size_t count;
    const fs_admin_route_t *routes = fs_admin_routes(&count);
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        char id[FS_ID_LEN_MAX + 1];
        const char *allow;
        fs_error_t err;
        int r = fs_admin_match(want[i].method, want[i].path, id, &allow, &err);
        assert_true(r >= 0);
        assert_int_equal(routes[r].min_role, want[i].min);
        assert_int_equal(routes[r].writes, want[i].method != FS_METHOD_GET);
        assert_true(fs_admin_role_allows(FS_ROLE_ADMIN, routes[r].min_role));
        assert_false(want[i].method != FS_METHOD_GET &&
                     fs_admin_role_allows(FS_ROLE_SUPPORT, routes[r].min_role));
    }
    /* 405 names the path's methods */
    char id[FS_ID_LEN_MAX + 1];
    const char *allow;
    fs_error_t err;
    assert_int_equal(fs_admin_match(FS_METHOD_GET, "/admin/api/risk_rules/rr_a", id, &allow, &err),
                     -1);
    assert_int_equal(err.outcome, FS_METHOD_NOT_ALLOWED);
    assert_string_equal(allow, "PATCH, DELETE");
    assert_string_equal(fs_admin_route_template("/admin/api/risk_lists/rle_a"),
                        "/admin/api/risk_lists/{id}");
}

static void admin_items(void **state)
{
    (void)state;
    fs_error_t err;
    json_t *item = admin_item(
        FS_METHOD_POST, "/admin/api/tenants/ten_a/risk_rules", NULL,
        "{\"kind\":\"listed\",\"action\":\"block\",\"reason\":\"fraud ring\"}", false, &err);
    assert_non_null(item);
    assert_int_equal(fs_op_of(item), FS_OP_ADMIN_WRITE);
    assert_string_equal(json_string_value(json_object_get(item, "action")), "risk_rule.create");
    assert_string_equal(json_string_value(json_object_get(item, "tenant")), "ten_a");
    assert_string_equal(json_string_value(json_object_get(item, "reason")), "fraud ring");
    assert_string_equal(json_string_value(json_object_get(json_object_get(item, "rule"), "action")),
                        "block");
    assert_true(is_id(json_string_value(json_object_get(item, "id")), "rr"));
    json_decref(item);
    /* staff give a reason; a key may not */
    assert_null(admin_item(FS_METHOD_POST, "/admin/api/tenants/ten_a/risk_rules", NULL,
                           "{\"kind\":\"listed\",\"action\":\"block\"}", false, &err));
    assert_string_equal(err.param, "reason");
    item = admin_item(FS_METHOD_POST, "/admin/api/tenants/ten_a/risk_rules", NULL,
                      "{\"kind\":\"listed\",\"action\":\"block\"}", true, &err);
    assert_non_null(item);
    json_decref(item);
    /* the /v1 checks, naming the parameter */
    assert_null(admin_item(FS_METHOD_POST, "/admin/api/tenants/ten_a/risk_rules", NULL,
                           "{\"kind\":\"velocity_count\",\"params\":{\"count\":1,"
                           "\"window_minutes\":90},\"action\":\"block\",\"reason\":\"r\"}",
                           false, &err));
    assert_string_equal(err.param, "params.window_minutes");
    assert_null(admin_item(FS_METHOD_POST, "/admin/api/tenants/acct_a/risk_rules", NULL,
                           "{\"reason\":\"r\"}", false, &err));
    assert_int_equal(err.outcome, FS_NOT_FOUND);
    /* PATCH: the rule of the path */
    item = admin_item(FS_METHOD_PATCH, "/admin/api/risk_rules/rr_a", NULL,
                      "{\"mode\":\"shadow\",\"reason\":\"trial\"}", false, &err);
    assert_non_null(item);
    assert_string_equal(json_string_value(json_object_get(item, "action")), "risk_rule.update");
    assert_string_equal(json_string_value(json_object_get(item, "id")), "rr_a");
    assert_json(json_object_get(item, "rule"), "{\"mode\":\"shadow\"}");
    json_decref(item);
    assert_null(admin_item(FS_METHOD_PATCH, "/admin/api/risk_rules/rr_a", "x=1",
                           "{\"mode\":\"shadow\",\"reason\":\"r\"}", false, &err));
    assert_int_equal(err.outcome, FS_INVALID_REQUEST);
    /* DELETE: its body is its reason, and nothing else */
    item = admin_item(FS_METHOD_DELETE, "/admin/api/risk_rules/rr_a", NULL,
                      "{\"reason\":\"retired\"}", false, &err);
    assert_non_null(item);
    assert_string_equal(json_string_value(json_object_get(item, "action")), "risk_rule.delete");
    json_decref(item);
    assert_null(
        admin_item(FS_METHOD_DELETE, "/admin/api/risk_rules/rr_a", NULL, NULL, false, &err));
    assert_string_equal(err.param, "reason");
    assert_null(admin_item(FS_METHOD_DELETE, "/admin/api/risk_lists/rle_a", NULL,
                           "{\"reason\":\"r\",\"list\":\"x\"}", false, &err));
    assert_string_equal(err.param, "list");
    item = admin_item(FS_METHOD_DELETE, "/admin/api/risk_lists/rle_a", NULL, NULL, true, &err);
    assert_non_null(item);
    json_decref(item);
    /* a list entry's reason is the staff member's */
    item = admin_item(FS_METHOD_POST, "/admin/api/tenants/ten_a/risk_lists", NULL,
                      "{\"value\":\"acct_a\",\"reason\":\"mule\"}", false, &err);
    assert_non_null(item);
    assert_json(json_object_get(item, "entry"),
                "{\"list\":\"blocklist\",\"value\":\"acct_a\",\"reason\":\"mule\"}");
    json_decref(item);
    /* reads: their query checked */
    item = admin_item(FS_METHOD_GET, "/admin/api/tenants/ten_a/risk_lists", "list=vip&limit=5",
                      NULL, false, &err);
    assert_non_null(item);
    assert_string_equal(json_string_value(json_object_get(item, "fn")), "risk_lists");
    json_decref(item);
    assert_null(admin_item(FS_METHOD_GET, "/admin/api/tenants/ten_a/risk_lists", "list=V", NULL,
                           false, &err));
    assert_string_equal(err.param, "list");
    assert_null(admin_item(FS_METHOD_GET, "/admin/api/tenants/ten_a/risk_rules",
                           "starting_after=rle_a", NULL, false, &err));
    assert_string_equal(err.param, "starting_after");
    assert_null(admin_item(FS_METHOD_GET, "/admin/api/tenants/ten_a/risk_rules", "list=a", NULL,
                           false, &err));
    assert_string_equal(err.param, "list");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_kind_is_created_with_its_defaults),
        cmocka_unit_test(rule_create_errors_name_the_parameter),
        cmocka_unit_test(rule_limits_are_the_named_constants),
        cmocka_unit_test(params_alone),
        cmocka_unit_test(rule_update_keeps_what_is_left_out),
        cmocka_unit_test(rule_update_checks_params_against_every_kind),
        cmocka_unit_test(rule_update_errors_name_the_parameter),
        cmocka_unit_test(list_entries),
        cmocka_unit_test(balance_alerts),
        cmocka_unit_test(api_routes_build_the_risk_ops),
        cmocka_unit_test(api_items_name_their_objects),
        cmocka_unit_test(api_rejections),
        cmocka_unit_test(admin_routes_and_roles),
        cmocka_unit_test(admin_items),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
