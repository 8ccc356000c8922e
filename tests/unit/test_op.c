/* Unit tests of src/op: the table of operations, and that it names the same
 * ops as db/functions/batch.sql's dispatch (read at test time). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../src/op/op.h"

#ifndef FS_BATCH_SQL
#error "meson.build defines FS_BATCH_SQL: the path of db/functions/batch.sql"
#endif

/* Names longer than this are not op names (the longest is 23 bytes). */
#define NAME_LEN_MAX 64
#define SQL_NAMES_MAX 128

static void every_op_has_a_unique_name(void **state)
{
    (void)state;
    for (int i = 0; i < FS_OP__COUNT; i++) {
        const char *a = fs_op_name((fs_op_t)i);
        assert_non_null(a);
        assert_true(strlen(a) > 0 && strlen(a) < NAME_LEN_MAX);
        for (int k = i + 1; k < FS_OP__COUNT; k++)
            assert_string_not_equal(a, fs_op_name((fs_op_t)k));
    }
}

static void names_round_trip(void **state)
{
    (void)state;
    for (int i = 0; i < FS_OP__COUNT; i++) {
        assert_int_equal(fs_op_lookup(fs_op_name((fs_op_t)i)), i);
        json_t *item = fs_op_item((fs_op_t)i);
        assert_int_equal(fs_op_of(item), i);
        assert_string_equal(json_string_value(json_object_get(item, "op")), fs_op_name((fs_op_t)i));
        json_decref(item);
    }
    assert_int_equal(fs_op_lookup(NULL), FS_OP__COUNT);
    assert_int_equal(fs_op_lookup(""), FS_OP__COUNT);
    assert_int_equal(fs_op_lookup("payment_creat"), FS_OP__COUNT);
    assert_int_equal(fs_op_lookup("payment_create "), FS_OP__COUNT);
    json_t *none = json_pack("{s:i}", "op", 1);
    assert_int_equal(fs_op_of(none), FS_OP__COUNT);
    assert_int_equal(fs_op_of(NULL), FS_OP__COUNT);
    json_decref(none);
    assert_int_equal(fs_op_flags(FS_OP__COUNT), 0);
    assert_false(fs_op_has(FS_OP__COUNT, FS_OPF_SOLO));
}

static void flags_say_what_the_code_does(void **state)
{
    (void)state;
    /* The server publishes a new payment or refund after the commit. */
    assert_true(fs_op_has(FS_OP_PAYMENT_CREATE, FS_OPF_PUBLISHES | FS_OPF_IDEMPOTENT |
                                                    FS_OPF_LOCKS_ACCOUNTS | FS_OPF_CACHEABLE));
    assert_true(fs_op_has(FS_OP_REFUND_CREATE, FS_OPF_PUBLISHES));
    assert_false(fs_op_has(FS_OP_DEPOSIT, FS_OPF_PUBLISHES));
    assert_false(fs_op_has(FS_OP_PAYMENT_CREATE, FS_OPF_SOLO));
    /* Every list, and nothing else of the API's reads, runs alone. */
    for (int i = 0; i < FS_OP__COUNT; i++) {
        const char *name = fs_op_name((fs_op_t)i);
        /* admin_read is the console's reads, lists and single objects alike
         * (db/functions/admin.sql): alone, as a list. */
        /* A statement and a daily report (issue 12) read a page of a
         * period: alone too. */
        /* Risk rules, lists and balance alerts (issue 12) run alone, reads
         * too: a group loads its rules once and writes its accounts'
         * alert sides back from arrays (src/op/op.c). */
        bool risk = strncmp(name, "risk_", 5) == 0 || strncmp(name, "balance_alerts_", 15) == 0;
        /* A list's name ends in _list (risk_list_entry_create is no list). */
        size_t len = strlen(name);
        bool list = (len > 5 && strcmp(name + len - 5, "_list") == 0) || i == FS_OP_ADMIN_READ ||
                    i == FS_OP_STATEMENT_GET || i == FS_OP_REPORT_DAILY;
        if (risk) assert_true(fs_op_has((fs_op_t)i, FS_OPF_SOLO));
        if (list) assert_true(fs_op_has((fs_op_t)i, FS_OPF_SOLO | FS_OPF_READ));
        if (fs_op_has((fs_op_t)i, FS_OPF_READ) && !fs_op_has((fs_op_t)i, FS_OPF_INTERNAL))
            assert_int_equal(fs_op_has((fs_op_t)i, FS_OPF_SOLO), list || risk);
        /* A read neither publishes nor locks; an internal op is never
         * replayed from the cache. */
        if (fs_op_has((fs_op_t)i, FS_OPF_READ))
            assert_false(fs_op_flags((fs_op_t)i) &
                         (FS_OPF_PUBLISHES | FS_OPF_LOCKS_ACCOUNTS | FS_OPF_IDEMPOTENT));
        if (fs_op_has((fs_op_t)i, FS_OPF_INTERNAL))
            assert_false(fs_op_flags((fs_op_t)i) & (FS_OPF_CACHEABLE | FS_OPF_IDEMPOTENT));
    }
    assert_true(fs_op_has(FS_OP_PAYMENT_LIST, FS_OPF_SOLO));
    assert_true(fs_op_has(FS_OP_SETTLE_FINISH, FS_OPF_INTERNAL | FS_OPF_LOCKS_ACCOUNTS));
    assert_false(fs_op_has(FS_OP_SETTLE_FINISH, FS_OPF_SOLO));
    assert_true(fs_op_has(FS_OP_ACCOUNT_GET, FS_OPF_CACHEABLE | FS_OPF_READ));
    /* The operators' balance operations: admin, fenced, alone; never from
     * the cache (they go through the lock guard). */
    const fs_op_t admin[] = {FS_OP_ACCOUNT_ADJUST, FS_OP_ACCOUNT_FREEZE, FS_OP_ACCOUNT_UNFREEZE,
                             FS_OP_ACCOUNT_CLOSE};
    for (size_t i = 0; i < sizeof(admin) / sizeof(admin[0]); i++) {
        assert_true(fs_op_has(admin[i], FS_OPF_ADMIN | FS_OPF_FENCED | FS_OPF_SOLO));
        assert_false(fs_op_has(admin[i], FS_OPF_CACHEABLE));
    }
    assert_true(fs_op_has(FS_OP_DEAD_LIST, FS_OPF_ADMIN));
    assert_true(fs_op_has(FS_OP_DEAD_REPLAY, FS_OPF_ADMIN | FS_OPF_SOLO));
    assert_false(fs_op_has(FS_OP_PAYMENT_GET, FS_OPF_ADMIN));
    /* The readers' runs and the purge run alone. */
    assert_true(fs_op_has(FS_OP_INDEX_RUN, FS_OPF_INTERNAL | FS_OPF_SOLO));
    assert_true(fs_op_has(FS_OP_ROLLUP_RUN, FS_OPF_INTERNAL | FS_OPF_SOLO));
    assert_true(fs_op_has(FS_OP_RECEIPTS_PREPARE, FS_OPF_INTERNAL | FS_OPF_SOLO));
    assert_true(fs_op_has(FS_OP_WEBHOOK_FANOUT, FS_OPF_INTERNAL | FS_OPF_SOLO));
    assert_true(fs_op_has(FS_OP_PURGE, FS_OPF_INTERNAL | FS_OPF_SOLO));
    assert_false(fs_op_has(FS_OP_WEBHOOK_CLAIM, FS_OPF_SOLO));
    /* Risk (issue 12): the writes carry an Idempotency-Key but a DELETE;
     * setting thresholds locks its account. */
    assert_true(fs_op_has(FS_OP_RISK_RULE_CREATE, FS_OPF_IDEMPOTENT | FS_OPF_SOLO));
    assert_true(fs_op_has(FS_OP_RISK_RULE_UPDATE, FS_OPF_IDEMPOTENT | FS_OPF_SOLO));
    assert_true(fs_op_has(FS_OP_RISK_LIST_ENTRY_CREATE, FS_OPF_IDEMPOTENT | FS_OPF_SOLO));
    assert_false(fs_op_has(FS_OP_RISK_RULE_DELETE, FS_OPF_IDEMPOTENT));
    assert_true(fs_op_has(FS_OP_BALANCE_ALERTS_SET,
                          FS_OPF_IDEMPOTENT | FS_OPF_SOLO | FS_OPF_LOCKS_ACCOUNTS));
    assert_true(fs_op_has(FS_OP_BALANCE_ALERTS_GET, FS_OPF_READ | FS_OPF_SOLO));
}

/* --- the table against batch.sql ---------------------------------------- */

typedef struct {
    char names[SQL_NAMES_MAX][NAME_LEN_MAX];
    int count;
} sql_names_t;

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)len + 1);
    assert_non_null(text);
    assert_int_equal(fread(text, 1, (size_t)len, f), (size_t)len);
    text[len] = '\0';
    fclose(f);
    return text;
}

static const char *skip_space(const char *p)
{
    while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') p++;
    return p;
}

/* Reads 'name' at p into the set; returns past it, or NULL when p is not at
 * a quoted string. */
static const char *read_quoted(const char *p, sql_names_t *out)
{
    if (*p != '\'') return NULL;
    const char *end = strchr(p + 1, '\'');
    assert_non_null(end);
    size_t len = (size_t)(end - p - 1);
    assert_true(len > 0 && len < NAME_LEN_MAX);
    char name[NAME_LEN_MAX];
    memcpy(name, p + 1, len);
    name[len] = '\0';
    bool seen = false;
    for (int i = 0; i < out->count; i++) seen = seen || strcmp(out->names[i], name) == 0;
    if (!seen) {
        assert_true(out->count < SQL_NAMES_MAX);
        memcpy(out->names[out->count++], name, len + 1);
    }
    return end + 1;
}

/* Every name compared with an item's op in the SQL: `->>'op' = 'x'` and
 * `->>'op' IN ('x', 'y', ...)`, across lines. */
static void sql_op_names(const char *sql, sql_names_t *out)
{
    static const char mark[] = "->>'op'";
    out->count = 0;
    for (const char *p = strstr(sql, mark); p != NULL; p = strstr(p, mark)) {
        p = skip_space(p + sizeof(mark) - 1);
        if (*p == '=') {
            const char *next = read_quoted(skip_space(p + 1), out);
            assert_non_null(next);
            p = next;
        } else if (strncmp(p, "IN", 2) == 0) {
            p = skip_space(p + 2);
            assert_int_equal(*p, '(');
            p = skip_space(p + 1);
            for (;;) {
                const char *next = read_quoted(p, out);
                assert_non_null(next);
                p = skip_space(next);
                if (*p == ')') break;
                assert_int_equal(*p, ',');
                p = skip_space(p + 1);
            }
        }
        /* Anything else (`RAISE ... %', j->>'op'`) names no op. */
    }
}

static void table_and_batch_sql_name_the_same_ops(void **state)
{
    (void)state;
    char *sql = read_file(FS_BATCH_SQL);
    if (sql == NULL) fail_msg("cannot read %s", FS_BATCH_SQL);
    sql_names_t *names = calloc(1, sizeof(*names));
    assert_non_null(names);
    sql_op_names(sql, names);
    assert_true(names->count > 10); /* the parse found the dispatch */
    for (int i = 0; i < names->count; i++) {
        if (fs_op_lookup(names->names[i]) == FS_OP__COUNT)
            fail_msg("batch.sql dispatches on '%s', which src/op/op.c does not name",
                     names->names[i]);
    }
    for (int i = 0; i < FS_OP__COUNT; i++) {
        bool found = false;
        for (int k = 0; k < names->count; k++)
            found = found || strcmp(names->names[k], fs_op_name((fs_op_t)i)) == 0;
        if (!found)
            fail_msg("src/op/op.c names '%s', which batch.sql does not dispatch on",
                     fs_op_name((fs_op_t)i));
    }
    assert_int_equal(names->count, FS_OP__COUNT);
    free(names);
    free(sql);
}

/* The parse itself: a name the table lacks is reported, across lines. */
static void sql_parse_finds_every_form(void **state)
{
    (void)state;
    sql_names_t *names = calloc(1, sizeof(*names));
    assert_non_null(names);
    sql_op_names("IF j->>'op' = 'a' THEN\n ELSIF e.j->>'op' IN ('b', 'c',\n   'a') THEN\n"
                 " RAISE EXCEPTION 'unknown op %', j->>'op';\n",
                 names);
    assert_int_equal(names->count, 3);
    assert_string_equal(names->names[0], "a");
    assert_string_equal(names->names[1], "b");
    assert_string_equal(names->names[2], "c");
    assert_int_equal(fs_op_lookup(names->names[1]), FS_OP__COUNT);
    free(names);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_op_has_a_unique_name),
        cmocka_unit_test(names_round_trip),
        cmocka_unit_test(flags_say_what_the_code_does),
        cmocka_unit_test(sql_parse_finds_every_form),
        cmocka_unit_test(table_and_batch_sql_name_the_same_ops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
