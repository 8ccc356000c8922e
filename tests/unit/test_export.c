/*
 * test_export.c: the checks of POST /v1/exports and the CSV rules
 * (src/export/export.c), and the proof that a process holds the other end
 * of a connection (src/export/peer.c).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/export/export.h"

static void amounts_are_formatted_by_the_exponent(void **state)
{
    (void)state;
    static const struct {
        const char *minor;
        int exp;
        const char *want;
    } cases[] = {
        {"1234", 2, "12.34"},
        {"5", 2, "0.05"},
        {"-5", 2, "-0.05"},
        {"0", 2, "0.00"},
        {"-0", 2, "0.00"},
        {"500", 0, "500"},
        {"1234567", 3, "1234.567"},
        {"100", 2, "1.00"},
        {"007", 2, "0.07"},
        {"9223372036854775807", 2, "92233720368547758.07"},
        {"123456789012345678901234", 2, "1234567890123456789012.34"}, /* a sum */
    };
    char out[64];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_true(fs_export_format_amount(cases[i].minor, cases[i].exp, out, sizeof(out)));
        assert_string_equal(out, cases[i].want);
    }
    assert_false(fs_export_format_amount("12a", 2, out, sizeof(out)));
    assert_false(fs_export_format_amount("", 2, out, sizeof(out)));
    assert_false(fs_export_format_amount("-", 2, out, sizeof(out)));
    assert_false(fs_export_format_amount("123456", 2, out, 6)); /* "1234.56" needs 8 */
}

static void fields_are_quoted_per_rfc_4180(void **state)
{
    (void)state;
    fs_export_buf_t b = {0};
    fs_export_csv_field(&b, "plain", true);
    fs_export_csv_field(&b, "a,b", false);
    fs_export_csv_field(&b, "say \"hi\"", false);
    fs_export_csv_field(&b, "two\nlines", false);
    fs_export_csv_field(&b, NULL, false);
    fs_export_csv_field(&b, "cr\r", false);
    fs_export_csv_end(&b);
    assert_string_equal(b.data, "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",,\"cr\r\"\r\n");
    fs_export_buf_free(&b);
}

static bool parse(const char *body, json_t *item, fs_error_t *err)
{
    json_t *j = json_loads(body, 0, NULL);
    assert_non_null(j);
    bool ok = fs_export_parse_create(j, item, err);
    json_decref(j);
    return ok;
}

static void bodies_are_checked_naming_the_parameter(void **state)
{
    (void)state;
    static const struct {
        const char *body, *param;
    } bad[] = {
        {"{}", "type"},
        {"{\"type\":\"ledger\"}", "type"},
        {"{\"type\":1}", "type"},
        {"{\"type\":\"payments\",\"filters\":[]}", "filters"},
        {"{\"type\":\"payments\",\"filters\":{\"status\":\"lost\"}}", "filters.status"},
        {"{\"type\":\"payments\",\"filters\":{\"status\":7}}", "filters.status"},
        {"{\"type\":\"payments\",\"filters\":{\"currency\":\"XXX\"}}", "filters.currency"},
        {"{\"type\":\"payments\",\"filters\":{\"created_lte\":\"soon\"}}", "filters.created_lte"},
        {"{\"type\":\"payments\",\"filters\":{\"account\":\"acct_a\"}}", "filters.account"},
        {"{\"type\":\"statement\"}", "filters.account"},
        {"{\"type\":\"statement\",\"filters\":{\"account\":\"pay_x\"}}", "filters.account"},
        {"{\"type\":\"daily\",\"filters\":{\"created_gte\":\"2026-02-01T00:00:00Z\","
         "\"created_lte\":\"2026-01-01T00:00:00Z\"}}",
         "filters.created_gte"},
        {"{\"type\":\"daily\",\"x\":1}", "x"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *item = json_object();
        fs_error_t err = {0};
        assert_false(parse(bad[i].body, item, &err));
        assert_int_equal(err.outcome, FS_INVALID_REQUEST);
        assert_non_null(err.param);
        assert_string_equal(err.param, bad[i].param);
        json_decref(item);
    }
    json_t *item = json_object();
    fs_error_t err = {0};
    assert_true(parse("{\"type\":\"payments\",\"filters\":{\"status\":\"succeeded\","
                      "\"created_gte\":\"2026-01-01T01:00:00+01:00\"}}",
                      item, &err));
    assert_string_equal(json_string_value(json_object_get(item, "type")), "payments");
    assert_int_equal(strncmp(json_string_value(json_object_get(item, "id")), "exp_", 4), 0);
    json_t *f = json_object_get(item, "filters");
    /* Times are stored in UTC. */
    assert_string_equal(json_string_value(json_object_get(f, "created_gte")),
                        "2026-01-01T00:00:00.000000Z");
    assert_int_equal(json_integer_value(json_object_get(item, "max")),
                     FS_EXPORT_CONCURRENT_PER_TENANT);
    json_decref(item);
}

static void addresses_are_written_as_proc_net_tcp_does(void **state)
{
    (void)state;
    char out[64];
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons(5432)};
    in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_true(fs_export_proc_net_addr((struct sockaddr *)&in, out, sizeof(out)));
    /* The 32 bits as stored, read as a host integer: 127.0.0.1 is
     * 0100007F on a little-endian machine, 7F000001 on a big-endian one. */
    char want[64];
    snprintf(want, sizeof(want), "%08X:1538", (unsigned)in.sin_addr.s_addr);
    assert_string_equal(out, want);
    assert_false(fs_export_proc_net_addr((struct sockaddr *)&in, out, 8));
    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6, .sin6_port = htons(80)};
    in6.sin6_addr = in6addr_loopback;
    assert_true(fs_export_proc_net_addr((struct sockaddr *)&in6, out, sizeof(out)));
    assert_int_equal(strlen(out), 32 + 5);
    assert_string_equal(out + 32, ":0050");
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    assert_false(fs_export_proc_net_addr((struct sockaddr *)&un, out, sizeof(out)));
}

static void the_socket_is_found_in_a_proc_net_table(void **state)
{
    (void)state;
    static const char table[] =
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
        "timeout inode\n"
        "   0: 0100007F:1538 00000000:0000 0A 00000000:00000000 00:00000000 00000000   102"
        "        0 41001 1 0000000000000000 100 0 0 10 0\n"
        "   1: 0100007F:1538 0100007F:A1B2 01 00000000:00000000 00:00000000 00000000   102"
        "        0 41077 1 0000000000000000 20 4 30 10 -1\n"
        "   2: 0100007F:A1B2 0100007F:1538 01 00000000:00000000 00:00000000 00000000     0"
        "        0 41076 1 0000000000000000 20 4 30 10 -1\n";
    FILE *f = fmemopen((void *)table, sizeof(table) - 1, "r");
    assert_non_null(f);
    assert_int_equal(fs_export_proc_net_inode(f, "0100007F:1538", "0100007F:A1B2"), 41077);
    rewind(f);
    assert_int_equal(fs_export_proc_net_inode(f, "0100007F:A1B2", "0100007F:1538"), 41076);
    rewind(f);
    assert_int_equal(fs_export_proc_net_inode(f, "0100007F:1538", "0100007F:0001"), 0);
    fclose(f);
}

/* A TCP connection on loopback: this process holds both ends, its parent
 * neither. */
static void a_tcp_peer_is_the_process_holding_the_other_end(void **state)
{
    (void)state;
    int l = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(l >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof(a);
    assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(l, 1), 0);
    assert_int_equal(getsockname(l, (struct sockaddr *)&a, &al), 0);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(c, (struct sockaddr *)&a, sizeof(a)), 0);
    int s = accept(l, NULL, NULL);
    assert_true(s >= 0);
    char why[256];
    assert_true(fs_export_peer_is(c, getpid(), why, sizeof(why)));
    assert_false(fs_export_peer_is(c, getppid(), why, sizeof(why)));
    assert_false(fs_export_peer_is(c, 0, why, sizeof(why)));
    close(s); /* the other end closed: held by no process */
    assert_false(fs_export_peer_is(c, getpid(), why, sizeof(why)));
    assert_false(fs_export_peer_is(l, getpid(), why, sizeof(why))); /* not connected */
    close(c);
    close(l);
}

/* A Unix socket: the peer is a child of the listener (as a backend is of
 * the postmaster). */
static void a_unix_peer_is_a_child_of_the_listener(void **state)
{
    (void)state;
    char dir[] = "/tmp/finsys-test-peer.XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof(a.sun_path), "%s/s", dir);
    int l = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(l, 1), 0);
    int c = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_int_equal(connect(c, (struct sockaddr *)&a, sizeof(a)), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        pause();
        _exit(0);
    }
    char why[256];
    assert_true(fs_export_peer_is(c, child, why, sizeof(why)));
    assert_false(fs_export_peer_is(c, getpid(), why, sizeof(why)));
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    close(c);
    close(l);
    unlink(a.sun_path);
    rmdir(dir);
}

/* The nice of /proc/<pid>/autogroup, -100 without one (no autogroups). */
static int autogroup_nice(pid_t pid)
{
    char path[64], text[128];
    snprintf(path, sizeof(path), "/proc/%ld/autogroup", (long)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) return -100;
    int nice = -100;
    if (fgets(text, sizeof(text), f) != NULL) {
        const char *at = strstr(text, " nice ");
        if (at == NULL || sscanf(at, " nice %d", &nice) != 1) nice = -100;
    }
    fclose(f);
    return nice;
}

static pid_t child(bool own_session)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (own_session) setsid();
        pause();
        _exit(0);
    }
    for (int i = 0; own_session && getsid(pid) != pid && i < 1000; i++) usleep(1000);
    return pid;
}

static void stop(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

/* A session leader (as each PostgreSQL backend is) gets the nice value and
 * its autogroup's; a process in another's session only the nice value:
 * its autogroup is shared (here, with this test). Never raised. */
static void renice_lowers_the_process_and_its_own_autogroup(void **state)
{
    (void)state;
    char why[256];
    pid_t leader = child(true);
    assert_int_equal(getsid(leader), leader);
    assert_true(fs_export_renice(leader, 10, why, sizeof(why)));
    assert_int_equal(getpriority(PRIO_PROCESS, (id_t)leader), 10);
    if (autogroup_nice(leader) != -100) assert_int_equal(autogroup_nice(leader), 10);
    assert_true(fs_export_renice(leader, 5, why, sizeof(why)));
    assert_int_equal(getpriority(PRIO_PROCESS, (id_t)leader), 10);
    stop(leader);

    int mine = autogroup_nice(getpid());
    pid_t member = child(false);
    assert_true(fs_export_renice(member, 10, why, sizeof(why)));
    assert_int_equal(getpriority(PRIO_PROCESS, (id_t)member), 10);
    assert_int_equal(autogroup_nice(getpid()), mine);
    stop(member);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(amounts_are_formatted_by_the_exponent),
        cmocka_unit_test(fields_are_quoted_per_rfc_4180),
        cmocka_unit_test(bodies_are_checked_naming_the_parameter),
        cmocka_unit_test(addresses_are_written_as_proc_net_tcp_does),
        cmocka_unit_test(the_socket_is_found_in_a_proc_net_table),
        cmocka_unit_test(a_tcp_peer_is_the_process_holding_the_other_end),
        cmocka_unit_test(a_unix_peer_is_a_child_of_the_listener),
        cmocka_unit_test(renice_lowers_the_process_and_its_own_autogroup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
