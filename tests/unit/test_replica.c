/* Unit tests of src/replica: which sample of the primary a read needs (the
 * staleness bound, read-your-writes), and the LSN's text. The .c is
 * included to reach the ring of samples. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../src/replica/replica.c"

static void reset(void)
{
    first = count = 0;
    memset(writers, 0, sizeof(writers));
    anyone_at_us = 0;
}

static void parses_lsns(void **state)
{
    (void)state;
    uint64_t lsn;
    assert_true(fs_replica_lsn_parse("0/3000148", &lsn));
    assert_true(lsn == 0x3000148u);
    assert_true(fs_replica_lsn_parse("1A/FF", &lsn));
    assert_true(lsn == ((uint64_t)0x1A << 32 | 0xFF));
    assert_false(fs_replica_lsn_parse("0/3000148x", &lsn));
    assert_false(fs_replica_lsn_parse("", &lsn));
    assert_false(fs_replica_lsn_parse(NULL, &lsn));
}

/* Without a sample of the last bound, a read goes to the primary; with
 * several, it needs the OLDEST of them (the most a replica may lag). */
static void needs_the_oldest_sample_within_the_bound(void **state)
{
    (void)state;
    reset();
    char lsn[32];
    uint64_t now = fs_now_us();
    assert_int_equal(fs_replica_min_lsn("t", lsn, sizeof(lsn)), FS_REPLICA_NO_SAMPLE);
    sample_push(now - bound_us - 50000, 0x100); /* older than the bound */
    assert_int_equal(fs_replica_min_lsn("t", lsn, sizeof(lsn)), FS_REPLICA_NO_SAMPLE);
    sample_push(now - bound_us + 200000, 0x200);
    sample_push(now - 100000, 0x300);
    assert_int_equal(fs_replica_min_lsn("t", lsn, sizeof(lsn)), FS_REPLICA_FRESH);
    assert_string_equal(lsn, "0/200");
}

/* After a tenant's write, its reads need a sample sent after the write;
 * other tenants' do not. */
static void a_write_needs_a_later_sample(void **state)
{
    (void)state;
    reset();
    char lsn[32];
    uint64_t now = fs_now_us();
    sample_push(now - 300000, 0x200);
    fs_replica_wrote("t");
    assert_int_equal(fs_replica_min_lsn("t", lsn, sizeof(lsn)), FS_REPLICA_OWN_WRITE);
    assert_int_equal(fs_replica_min_lsn("u", lsn, sizeof(lsn)), FS_REPLICA_FRESH);
    assert_string_equal(lsn, "0/200");
    sample_push(fs_now_us() + 1, 0x300);
    assert_int_equal(fs_replica_min_lsn("t", lsn, sizeof(lsn)), FS_REPLICA_FRESH);
    assert_string_equal(lsn, "0/300");
    /* A write of a tenant not known counts for every tenant. */
    fs_replica_wrote(NULL);
    assert_int_equal(fs_replica_min_lsn("u", lsn, sizeof(lsn)), FS_REPLICA_OWN_WRITE);
}

/* The table full: the write is remembered for everyone, never lost. */
static void a_full_table_remembers_the_write_for_everyone(void **state)
{
    (void)state;
    reset();
    char lsn[32], name[16];
    sample_push(fs_now_us() - 300000, 0x200);
    for (int i = 0; i < FS_READ_WRITERS_MAX; i++) {
        snprintf(name, sizeof(name), "w%d", i);
        fs_replica_wrote(name);
    }
    assert_int_equal(fs_replica_min_lsn("z", lsn, sizeof(lsn)), FS_REPLICA_FRESH);
    fs_replica_wrote("one-more");
    assert_int_equal(fs_replica_min_lsn("z", lsn, sizeof(lsn)), FS_REPLICA_OWN_WRITE);
}

/* The ring keeps the newest FS_READ_REPLICA_SAMPLES_MAX samples. */
static void the_ring_keeps_the_newest(void **state)
{
    (void)state;
    reset();
    char lsn[32];
    uint64_t now = fs_now_us();
    for (int i = 0; i < FS_READ_REPLICA_SAMPLES_MAX + 5; i++)
        sample_push(now - 900000 + (uint64_t)i * 1000, 0x1000 + (uint64_t)i);
    assert_int_equal(count, FS_READ_REPLICA_SAMPLES_MAX);
    assert_int_equal(fs_replica_min_lsn("t", lsn, sizeof(lsn)), FS_REPLICA_FRESH);
    assert_string_equal(lsn, "0/1005");
}

int main(void)
{
    fs_metrics_init(true);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_lsns),
        cmocka_unit_test(needs_the_oldest_sample_within_the_bound),
        cmocka_unit_test(a_write_needs_a_later_sample),
        cmocka_unit_test(a_full_table_remembers_the_write_for_everyone),
        cmocka_unit_test(the_ring_keeps_the_newest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
