/* Unit tests of src/admin: the route table, roles, the items the routes
 * build, cookies, tokens and the limiter (all pure). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include <sodium.h>

#include "../../src/admin/admin.h"
#include "../../src/op/op.h"

static int setup(void **state)
{
    (void)state;
    return sodium_init() < 0 ? -1 : 0;
}

static fs_admin_actor_t staff(fs_role_t role)
{
    fs_admin_actor_t a = {.role = role, .key = false};
    snprintf(a.id, sizeof(a.id), "stf_test");
    snprintf(a.email, sizeof(a.email), "ops@example.com");
    return a;
}

/* Every route's template, with "{id}" made concrete, matches its own row,
 * and the roles below its minimum are exactly the ones it refuses. */
static void every_route_matches_itself_and_checks_roles(void **state)
{
    (void)state;
    size_t n;
    const fs_admin_route_t *r = fs_admin_routes(&n);
    assert_true(n >= 28);
    for (size_t i = 0; i < n; i++) {
        char path[256], id[FS_ID_LEN_MAX + 1];
        const char *at = strstr(r[i].path, "{id}");
        if (at != NULL) {
            snprintf(path, sizeof(path), "%.*sxyz_1%s", (int)(at - r[i].path), r[i].path, at + 4);
        } else {
            snprintf(path, sizeof(path), "%s", r[i].path);
        }
        const char *allow;
        fs_error_t err;
        assert_int_equal(fs_admin_match(r[i].method, path, id, &allow, &err), (int)i);
        assert_string_equal(id, at != NULL ? "xyz_1" : "");
        assert_string_equal(fs_admin_route_template(path), r[i].path);
        for (int role = FS_ROLE_VIEWER; role <= FS_ROLE_ADMIN; role++)
            assert_int_equal(fs_admin_role_allows((fs_role_t)role, r[i].min_role),
                             role >= (int)r[i].min_role);
        /* A write is never a GET, and a GET never writes (CSRF follows). */
        assert_int_equal(r[i].writes, r[i].method != FS_METHOD_GET);
        if (r[i].kind == FS_ADMIN_STORE) assert_non_null(r[i].build);
    }
}

/* The contract's minimum roles (docs/console.md). */
static void roles_follow_the_contract(void **state)
{
    (void)state;
    static const struct {
        fs_method_t m;
        const char *path;
        fs_role_t role;
    } want[] = {
        {FS_METHOD_GET, "/admin/api/overview", FS_ROLE_VIEWER},
        {FS_METHOD_GET, "/admin/api/payments", FS_ROLE_VIEWER},
        {FS_METHOD_POST, "/admin/api/payments/pay_1/refunds", FS_ROLE_SUPPORT},
        {FS_METHOD_POST, "/admin/api/payments/pay_1/cancel", FS_ROLE_SUPPORT},
        {FS_METHOD_POST, "/admin/api/dead-letters/all/replay", FS_ROLE_SUPPORT},
        {FS_METHOD_POST, "/admin/api/accounts/acct_1/freeze", FS_ROLE_FINANCE},
        {FS_METHOD_POST, "/admin/api/accounts/acct_1/adjustments", FS_ROLE_FINANCE},
        {FS_METHOD_POST, "/admin/api/tenants", FS_ROLE_ADMIN},
        {FS_METHOD_POST, "/admin/api/keys/key_1/revoke", FS_ROLE_ADMIN},
        {FS_METHOD_GET, "/admin/api/staff", FS_ROLE_ADMIN},
        {FS_METHOD_POST, "/admin/api/staff", FS_ROLE_ADMIN},
        {FS_METHOD_POST, "/admin/api/staff/stf_1/disable", FS_ROLE_ADMIN},
        {FS_METHOD_POST, "/admin/api/staff/stf_1/enable", FS_ROLE_ADMIN},
        {FS_METHOD_GET, "/admin/api/audit", FS_ROLE_VIEWER},
        {FS_METHOD_POST, "/admin/api/payments/pay_1/review", FS_ROLE_SUPPORT},
        {FS_METHOD_GET, "/admin/api/reports/daily", FS_ROLE_FINANCE},
        {FS_METHOD_POST, "/admin/api/session", FS_ROLE_NONE},
    };
    size_t n;
    const fs_admin_route_t *r = fs_admin_routes(&n);
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        char id[FS_ID_LEN_MAX + 1];
        const char *allow;
        fs_error_t err;
        int k = fs_admin_match(want[i].m, want[i].path, id, &allow, &err);
        assert_true(k >= 0);
        assert_int_equal(r[k].min_role, want[i].role);
    }
}

static void unknown_paths_and_methods(void **state)
{
    (void)state;
    char id[FS_ID_LEN_MAX + 1];
    const char *allow;
    fs_error_t err;
    assert_int_equal(fs_admin_match(FS_METHOD_GET, "/admin/api/nope", id, &allow, &err), -1);
    assert_int_equal(err.outcome, FS_NOT_FOUND);
    assert_int_equal(fs_admin_match(FS_METHOD_GET, "/admin/api/payments/", id, &allow, &err), -1);
    assert_int_equal(fs_admin_match(FS_METHOD_DELETE, "/admin/api/tenants", id, &allow, &err), -1);
    assert_int_equal(err.outcome, FS_METHOD_NOT_ALLOWED);
    assert_string_equal(allow, "GET, POST");
    assert_int_equal(fs_admin_match(FS_METHOD_OTHER, "/admin/api/session", id, &allow, &err), -1);
    assert_string_equal(allow, "POST, GET, DELETE");
    assert_true(fs_admin_is_admin_path("/admin/api/x"));
    assert_false(fs_admin_is_admin_path("/admin/x"));
}

static int route_of(fs_method_t m, const char *path, char id[FS_ID_LEN_MAX + 1])
{
    const char *allow;
    fs_error_t err;
    return fs_admin_match(m, path, id, &allow, &err);
}

static void reads_become_admin_read(void **state)
{
    (void)state;
    char id[FS_ID_LEN_MAX + 1];
    fs_admin_actor_t a = staff(FS_ROLE_VIEWER);
    json_t *item;
    fs_error_t err;
    int r = route_of(FS_METHOD_GET, "/admin/api/payments", id);
    assert_true(fs_admin_build(r, id, "status=failed&limit=10", NULL, 0, &a, &item, &err));
    assert_int_equal(fs_op_of(item), FS_OP_ADMIN_READ);
    assert_string_equal(json_string_value(json_object_get(item, "fn")), "payments_list");
    assert_true(json_is_null(json_object_get(item, "id")));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(item, "params"), "status")), "failed");
    assert_string_equal(json_string_value(json_object_get(json_object_get(item, "actor"), "role")),
                        "viewer");
    json_decref(item);

    assert_false(fs_admin_build(r, id, "bogus=1", NULL, 0, &a, &item, &err));
    assert_string_equal(err.param, "bogus");
    assert_false(fs_admin_build(r, id, "limit=1000", NULL, 0, &a, &item, &err));
    assert_string_equal(err.param, "limit");

    r = route_of(FS_METHOD_GET, "/admin/api/accounts/acct_x/journal", id);
    assert_true(fs_admin_build(r, id, NULL, NULL, 0, &a, &item, &err));
    assert_string_equal(json_string_value(json_object_get(item, "id")), "acct_x");
    assert_string_equal(json_string_value(json_object_get(item, "fn")), "account_journal");
    json_decref(item);
}

static void writes_need_a_reason_from_staff(void **state)
{
    (void)state;
    char id[FS_ID_LEN_MAX + 1];
    fs_admin_actor_t a = staff(FS_ROLE_SUPPORT);
    json_t *item;
    fs_error_t err;
    int r = route_of(FS_METHOD_POST, "/admin/api/payments/pay_abc/cancel", id);
    assert_false(fs_admin_build(r, id, NULL, "{}", 2, &a, &item, &err));
    assert_string_equal(err.param, "reason");
    assert_false(fs_admin_build(r, id, NULL, "{\"reason\":\"\"}", 13, &a, &item, &err));
    assert_string_equal(err.param, "reason");
    const char *ok = "{\"reason\":\"customer asked\"}";
    assert_true(fs_admin_build(r, id, NULL, ok, strlen(ok), &a, &item, &err));
    assert_int_equal(fs_op_of(item), FS_OP_ADMIN_CANCEL);
    assert_string_equal(json_string_value(json_object_get(item, "payment")), "pay_abc");
    json_decref(item);

    /* An admin key may leave the reason out (recorded as null). */
    fs_admin_actor_t key = {.role = FS_ROLE_ADMIN, .key = true};
    snprintf(key.id, sizeof(key.id), "key_1");
    r = route_of(FS_METHOD_POST, "/admin/api/accounts/acct_abc/freeze", id);
    assert_true(fs_admin_build(r, id, NULL, "{}", 2, &key, &item, &err));
    assert_int_equal(fs_op_of(item), FS_OP_ACCOUNT_FREEZE);
    assert_true(json_is_null(json_object_get(item, "reason")));
    json_decref(item);

    r = route_of(FS_METHOD_POST, "/admin/api/payments/pay_abc/refunds", id);
    const char *refund = "{\"amount\":100,\"reason\":\"dup\"}";
    assert_true(fs_admin_build(r, id, NULL, refund, strlen(refund), &a, &item, &err));
    assert_int_equal(fs_op_of(item), FS_OP_ADMIN_REFUND);
    assert_true(fs_op_has(FS_OP_ADMIN_REFUND, FS_OPF_PUBLISHES));
    assert_int_equal(json_integer_value(json_object_get(item, "amount")), 100);
    assert_true(strncmp(json_string_value(json_object_get(item, "id")), "re_", 3) == 0);
    json_decref(item);
    const char *bad = "{\"amount\":-1,\"reason\":\"dup\"}";
    assert_false(fs_admin_build(r, id, NULL, bad, strlen(bad), &a, &item, &err));
    assert_string_equal(err.param, "amount");

    r = route_of(FS_METHOD_POST, "/admin/api/staff", id);
    const char *st = "{\"email\":\"A@B.example\",\"role\":\"boss\",\"reason\":\"new\"}";
    assert_false(fs_admin_build(r, id, NULL, st, strlen(st), &a, &item, &err));
    assert_string_equal(err.param, "role");
    st = "{\"email\":\"A@B.example\",\"role\":\"finance\",\"reason\":\"new\"}";
    assert_true(fs_admin_build(r, id, NULL, st, strlen(st), &a, &item, &err));
    assert_string_equal(json_string_value(json_object_get(item, "email")), "a@b.example");
    assert_string_equal(json_string_value(json_object_get(item, "action")), "staff.create");
    json_decref(item);

    r = route_of(FS_METHOD_POST, "/admin/api/staff/stf_abc/disable", id);
    assert_false(fs_admin_build(r, id, NULL, "{}", 2, &a, &item, &err));
    assert_string_equal(err.param, "reason");
    const char *why = "{\"reason\":\"left the company\"}";
    assert_true(fs_admin_build(r, id, NULL, why, strlen(why), &a, &item, &err));
    assert_string_equal(json_string_value(json_object_get(item, "action")), "staff.disable");
    assert_string_equal(json_string_value(json_object_get(item, "staff")), "stf_abc");
    json_decref(item);
    r = route_of(FS_METHOD_POST, "/admin/api/staff/key_abc/enable", id);
    assert_false(fs_admin_build(r, id, NULL, why, strlen(why), &a, &item, &err));
    assert_int_equal(err.outcome, FS_NOT_FOUND);

    r = route_of(FS_METHOD_POST, "/admin/api/tenants/ten_x/limits", id);
    const char *lim = "{\"per_s\":0,\"burst\":5,\"reason\":\"r\"}";
    assert_false(fs_admin_build(r, id, NULL, lim, strlen(lim), &a, &item, &err));
    assert_string_equal(err.param, "per_s");
}

/* The review queue's decision (docs/risk.md): admin_review, nesting
 * payment_review; a decision of approve or reject and, from staff, a
 * reason. */
static void review_builds_admin_review(void **state)
{
    (void)state;
    char id[FS_ID_LEN_MAX + 1];
    fs_admin_actor_t a = staff(FS_ROLE_SUPPORT);
    json_t *item;
    fs_error_t err;
    int r = route_of(FS_METHOD_POST, "/admin/api/payments/pay_abc/review", id);
    assert_true(r >= 0);
    const char *ok = "{\"decision\":\"approve\",\"reason\":\"known customer\"}";
    assert_true(fs_admin_build(r, id, NULL, ok, strlen(ok), &a, &item, &err));
    assert_int_equal(fs_op_of(item), FS_OP_ADMIN_REVIEW);
    assert_true(fs_op_has(FS_OP_ADMIN_REVIEW, FS_OPF_SOLO | FS_OPF_LOCKS_ACCOUNTS));
    assert_false(fs_op_has(FS_OP_ADMIN_REVIEW, FS_OPF_PUBLISHES));
    assert_string_equal(json_string_value(json_object_get(item, "payment")), "pay_abc");
    assert_string_equal(json_string_value(json_object_get(item, "decision")), "approve");
    assert_string_equal(json_string_value(json_object_get(item, "reason")), "known customer");
    assert_string_equal(json_string_value(json_object_get(json_object_get(item, "actor"), "id")),
                        "stf_test");
    json_decref(item);

    static const struct {
        const char *body;
        const char *param;
    } bad[] = {
        {"{\"reason\":\"r\"}", "decision"},
        {"{\"decision\":\"maybe\",\"reason\":\"r\"}", "decision"},
        {"{\"decision\":\"APPROVE\",\"reason\":\"r\"}", "decision"},
        {"{\"decision\":1,\"reason\":\"r\"}", "decision"},
        {"{\"decision\":\"reject\"}", "reason"},
        {"{\"decision\":\"reject\",\"reason\":\"\"}", "reason"},
        {"{\"decision\":\"reject\",\"reason\":\"r\",\"amount\":1}", "amount"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_false(
            fs_admin_build(r, id, NULL, bad[i].body, strlen(bad[i].body), &a, &item, &err));
        assert_int_equal(err.outcome, FS_INVALID_REQUEST);
        assert_string_equal(err.param, bad[i].param);
    }
    /* Not a payment's id: 404, as every payment route. */
    r = route_of(FS_METHOD_POST, "/admin/api/payments/re_abc/review", id);
    assert_false(fs_admin_build(r, id, NULL, ok, strlen(ok), &a, &item, &err));
    assert_int_equal(err.outcome, FS_NOT_FOUND);
    /* An admin key may leave the reason out (recorded as null). */
    fs_admin_actor_t key = {.role = FS_ROLE_ADMIN, .key = true};
    snprintf(key.id, sizeof(key.id), "key_1");
    const char *bare = "{\"decision\":\"reject\"}";
    r = route_of(FS_METHOD_POST, "/admin/api/payments/pay_abc/review", id);
    assert_true(fs_admin_build(r, id, NULL, bare, strlen(bare), &key, &item, &err));
    assert_true(json_is_null(json_object_get(item, "reason")));
    json_decref(item);
}

/* API keys (issue 13): a creation's expires_in_s and a rotation's
 * overlap_s are bounded counts of seconds; a rotation is answered as a
 * created key is (the server makes the key: FS_ADMIN_KEY_CREATE). */
static void key_routes_check_their_durations(void **state)
{
    (void)state;
    char id[FS_ID_LEN_MAX + 1];
    fs_admin_actor_t a = staff(FS_ROLE_ADMIN);
    json_t *item;
    fs_error_t err;
    size_t n;
    const fs_admin_route_t *routes = fs_admin_routes(&n);
    int r = route_of(FS_METHOD_POST, "/admin/api/keys/key_abc/rotate", id);
    assert_true(r >= 0);
    assert_int_equal(routes[r].kind, FS_ADMIN_KEY_CREATE);
    assert_int_equal(routes[r].min_role, FS_ROLE_ADMIN);
    const char *dflt = "{\"reason\":\"yearly\"}";
    assert_true(fs_admin_build(r, id, NULL, dflt, strlen(dflt), &a, &item, &err));
    assert_string_equal(json_string_value(json_object_get(item, "action")), "api_key.rotate");
    assert_string_equal(json_string_value(json_object_get(item, "key")), "key_abc");
    assert_int_equal(json_integer_value(json_object_get(item, "overlap_s")),
                     FS_APIKEY_ROTATE_OVERLAP_DEFAULT_S);
    json_decref(item);
    const char *now = "{\"overlap_s\":0,\"reason\":\"leaked\"}";
    assert_true(fs_admin_build(r, id, NULL, now, strlen(now), &a, &item, &err));
    assert_int_equal(json_integer_value(json_object_get(item, "overlap_s")), 0);
    json_decref(item);
    static const char *const bad_rotate[] = {
        "{\"overlap_s\":-1,\"reason\":\"r\"}", "{\"overlap_s\":2592001,\"reason\":\"r\"}",
        "{\"overlap_s\":\"1d\",\"reason\":\"r\"}", "{\"overlap_s\":1.5,\"reason\":\"r\"}"};
    for (size_t i = 0; i < sizeof(bad_rotate) / sizeof(bad_rotate[0]); i++) {
        assert_false(
            fs_admin_build(r, id, NULL, bad_rotate[i], strlen(bad_rotate[i]), &a, &item, &err));
        assert_int_equal(err.outcome, FS_INVALID_REQUEST);
        assert_string_equal(err.param, "overlap_s");
    }
    r = route_of(FS_METHOD_POST, "/admin/api/keys/ten_abc/rotate", id);
    assert_false(fs_admin_build(r, id, NULL, dflt, strlen(dflt), &a, &item, &err));
    assert_int_equal(err.outcome, FS_NOT_FOUND);

    r = route_of(FS_METHOD_POST, "/admin/api/tenants/ten_abc/keys", id);
    const char *exp = "{\"expires_in_s\":3600,\"reason\":\"contractor\"}";
    assert_true(fs_admin_build(r, id, NULL, exp, strlen(exp), &a, &item, &err));
    assert_int_equal(json_integer_value(json_object_get(item, "expires_in_s")), 3600);
    json_decref(item);
    assert_true(fs_admin_build(r, id, NULL, dflt, strlen(dflt), &a, &item, &err));
    assert_null(json_object_get(item, "expires_in_s"));
    json_decref(item);
    const char *zero = "{\"expires_in_s\":0,\"reason\":\"r\"}";
    assert_false(fs_admin_build(r, id, NULL, zero, strlen(zero), &a, &item, &err));
    assert_string_equal(err.param, "expires_in_s");
}

/* The daily report across tenants: its period checked and defaulted by
 * src/report, at most FS_ADMIN_REPORT_DAYS_MAX days; tenant a tenant's id. */
static void report_checks_its_period(void **state)
{
    (void)state;
    char id[FS_ID_LEN_MAX + 1];
    fs_admin_actor_t a = staff(FS_ROLE_FINANCE);
    json_t *item;
    fs_error_t err;
    int r = route_of(FS_METHOD_GET, "/admin/api/reports/daily", id);
    assert_true(r >= 0);
    assert_true(fs_admin_build(r, id, "from=2026-01-01&to=2026-01-31&currency=EUR&tenant=ten_abc",
                               NULL, 0, &a, &item, &err));
    assert_int_equal(fs_op_of(item), FS_OP_ADMIN_READ);
    assert_string_equal(json_string_value(json_object_get(item, "fn")), "report_daily");
    json_t *p = json_object_get(item, "params");
    assert_string_equal(json_string_value(json_object_get(p, "from")), "2026-01-01");
    assert_string_equal(json_string_value(json_object_get(p, "to")), "2026-01-31");
    assert_string_equal(json_string_value(json_object_get(p, "currency")), "EUR");
    assert_string_equal(json_string_value(json_object_get(p, "tenant")), "ten_abc");
    json_decref(item);
    /* Defaults: FS_ADMIN_REPORT_DAYS_DEFAULT days ending today. */
    assert_true(fs_admin_build(r, id, NULL, NULL, 0, &a, &item, &err));
    p = json_object_get(item, "params");
    char today[16], first[16];
    time_t t = time(NULL), f = t - (FS_ADMIN_REPORT_DAYS_DEFAULT - 1) * 86400;
    strftime(today, sizeof(today), "%Y-%m-%d", gmtime(&t));
    strftime(first, sizeof(first), "%Y-%m-%d", gmtime(&f));
    assert_string_equal(json_string_value(json_object_get(p, "to")), today);
    assert_string_equal(json_string_value(json_object_get(p, "from")), first);
    assert_null(json_object_get(p, "tenant"));
    json_decref(item);

    static const struct {
        const char *query;
        const char *param;
    } bad[] = {
        {"from=2026-02-01&to=2026-01-01", "from"},
        {"from=2024-01-01&to=2025-01-01", "from"}, /* 367 days */
        {"from=2026-13-01", "from"},
        {"to=yesterday", "to"},
        {"currency=usd", "currency"},
        {"tenant=acct_1", "tenant"},
        {"tenant=", "tenant"},
        {"days=3", "days"},
        {"currency=USD&currency=EUR", "currency"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_false(fs_admin_build(r, id, bad[i].query, NULL, 0, &a, &item, &err));
        assert_int_equal(err.outcome, FS_INVALID_REQUEST);
        assert_string_equal(err.param, bad[i].param);
    }
    /* A year, both ends included, is the most. */
    assert_true(fs_admin_build(r, id, "from=2024-01-01&to=2024-12-31", NULL, 0, &a, &item, &err));
    json_decref(item);
}

static void login_cookie_tokens(void **state)
{
    (void)state;
    char email[FS_ADMIN_EMAIL_LEN_MAX + 1], pw[FS_ADMIN_PASSWORD_LEN_MAX + 1];
    fs_error_t err;
    const char *b = "{\"email\":\"Ops@Example.com\",\"password\":\"pw\"}";
    assert_true(fs_admin_parse_login(b, strlen(b), email, pw, &err));
    assert_string_equal(email, "ops@example.com");
    assert_string_equal(pw, "pw");
    b = "{\"email\":\"x@y\"}";
    assert_false(fs_admin_parse_login(b, strlen(b), email, pw, &err));
    assert_string_equal(err.param, "password");

    char v[64];
    assert_true(fs_admin_cookie("a=1; fs_admin=tok123; b=2", "fs_admin", v, sizeof(v)));
    assert_string_equal(v, "tok123");
    assert_false(fs_admin_cookie("fs_adminx=1", "fs_admin", v, sizeof(v)));
    assert_false(fs_admin_cookie(NULL, "fs_admin", v, sizeof(v)));

    char t1[FS_ADMIN_TOKEN_LEN + 1], t2[FS_ADMIN_TOKEN_LEN + 1], h[65];
    fs_admin_token_new(t1);
    fs_admin_token_new(t2);
    assert_int_equal(strlen(t1), FS_ADMIN_TOKEN_LEN);
    assert_false(fs_admin_equal(t1, t2));
    assert_true(fs_admin_equal(t1, t1));
    fs_admin_token_hash("abc", h);
    assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void limiter_counts_per_key_per_minute(void **state)
{
    (void)state;
    static fs_admin_limiter_t l;
    int retry = 0;
    for (int i = 0; i < FS_ADMIN_RATE_PER_MIN; i++)
        assert_true(fs_admin_limit(&l, "a", 600, &retry));
    assert_false(fs_admin_limit(&l, "a", 610, &retry));
    assert_int_equal(retry, 50);
    assert_true(fs_admin_limit(&l, "b", 610, &retry));
    assert_true(fs_admin_limit(&l, "a", 660, &retry));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_route_matches_itself_and_checks_roles),
        cmocka_unit_test(roles_follow_the_contract),
        cmocka_unit_test(unknown_paths_and_methods),
        cmocka_unit_test(reads_become_admin_read),
        cmocka_unit_test(writes_need_a_reason_from_staff),
        cmocka_unit_test(review_builds_admin_review),
        cmocka_unit_test(key_routes_check_their_durations),
        cmocka_unit_test(report_checks_its_period),
        cmocka_unit_test(login_cookie_tokens),
        cmocka_unit_test(limiter_counts_per_key_per_minute),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
