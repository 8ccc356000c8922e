/* Live tests of src/redis against a real redis-server: the one at
 * $FINSYS_REDIS_URL (scripts/test.sh starts it, and runs this before the
 * FinSys server starts), and, for the failure case, a port where nothing
 * listens. A blocking hiredis connection looks at Redis from outside the
 * module (INFO commandstats tells EVAL from EVALSHA). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../src/core/core.h"
#include "../../src/redis/redis.h"

/* How long a test waits for an answer before failing (typical: well under
 * a millisecond). */
#define WAIT_MS 5000

static const char *url;
static redisContext *outside;

typedef struct {
    bool done;
    bool returned; /* the call that queued the command has returned */
    bool early;    /* answered before it returned */
    fs_redis_status_t st;
    int type;
    char str[256];
    long long integer;
} answer_t;

static void on_answer(void *arg, fs_redis_status_t st, const redisReply *reply)
{
    answer_t *a = arg;
    assert_false(a->done);
    a->done = true;
    a->early = !a->returned;
    a->st = st;
    a->type = reply != NULL ? reply->type : -1;
    if (reply != NULL && reply->str != NULL) snprintf(a->str, sizeof(a->str), "%s", reply->str);
    if (reply != NULL) a->integer = reply->integer;
}

/* Runs the loop until *done or WAIT_MS. */
static void run_until(struct event_base *base, const bool *done)
{
    uint64_t deadline = fs_now_us() + WAIT_MS * 1000u;
    while (!*done && fs_now_us() < deadline) {
        struct timeval tick = {0, 1000};
        event_base_loopexit(base, &tick);
        event_base_dispatch(base);
    }
    assert_true(*done);
}

static fs_redis_t *connected(struct event_base *base, const char *u, int timeout_ms)
{
    fs_redis_t *r = fs_redis_new(base, u, timeout_ms);
    uint64_t deadline = fs_now_us() + WAIT_MS * 1000u;
    while (!fs_redis_connected(r) && fs_now_us() < deadline) {
        struct timeval tick = {0, 1000};
        event_base_loopexit(base, &tick);
        event_base_dispatch(base);
    }
    assert_true(fs_redis_connected(r));
    return r;
}

static void command(fs_redis_t *r, struct event_base *base, answer_t *a, int argc,
                    const char *const *argv)
{
    memset(a, 0, sizeof(*a));
    fs_redis_command(r, on_answer, a, argc, argv, NULL);
    a->returned = true;
    run_until(base, &a->done);
}

static void eval(fs_redis_t *r, struct event_base *base, const fs_redis_script_t *s, answer_t *a,
                 const char *key, const char *arg)
{
    memset(a, 0, sizeof(*a));
    const char *argv[] = {key, arg};
    fs_redis_eval(r, s, on_answer, a, 1, 2, argv, NULL);
    a->returned = true;
    run_until(base, &a->done);
}

/* calls=N of a command in INFO commandstats, from outside. */
static long calls(const char *cmd)
{
    redisReply *rep = redisCommand(outside, "INFO commandstats");
    assert_non_null(rep);
    assert_int_equal(rep->type, REDIS_REPLY_STRING);
    char needle[64];
    snprintf(needle, sizeof(needle), "cmdstat_%s:calls=", cmd);
    const char *p = strstr(rep->str, needle);
    long n = p != NULL ? strtol(p + strlen(needle), NULL, 10) : 0;
    freeReplyObject(rep);
    return n;
}

static void url_parsing(void **state)
{
    (void)state;
    char ip[64], err[256];
    int port;
    assert_true(fs_redis_parse_url("redis://127.0.0.1:6380", ip, sizeof(ip), &port, err,
                                   sizeof(err)));
    assert_string_equal(ip, "127.0.0.1");
    assert_int_equal(port, 6380);
    assert_true(fs_redis_parse_url("redis://10.1.2.3", ip, sizeof(ip), &port, err, sizeof(err)));
    assert_string_equal(ip, "10.1.2.3");
    assert_int_equal(port, 6379);
    assert_true(fs_redis_parse_url("redis://[::1]:7000", ip, sizeof(ip), &port, err,
                                   sizeof(err)));
    assert_string_equal(ip, "::1");
    assert_int_equal(port, 7000);
    assert_true(fs_redis_parse_url("redis://::1", ip, sizeof(ip), &port, err, sizeof(err)));
    assert_string_equal(ip, "::1");
    assert_int_equal(port, 6379);
    static const char *const bad[] = {
        "", "http://127.0.0.1:6379", "redis://", "redis://localhost:6379",
        "redis://127.0.0.1:0", "redis://127.0.0.1:65536", "redis://127.0.0.1:63a9",
        "redis://127.0.0.1:", "redis://[::1", "redis://999.1.1.1", "redis://:6379",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_false(fs_redis_parse_url(bad[i], ip, sizeof(ip), &port, err, sizeof(err)));
        assert_non_null(strstr(err, "redis://[[USER]:PASSWORD@]IP[:PORT]"));
    }
    assert_false(fs_redis_parse_url(NULL, ip, sizeof(ip), &port, err, sizeof(err)));

    /* Credentials: percent-decoded, and never in an error message. */
    fs_redis_url_t u;
    assert_true(fs_redis_url_parse("redis://:p%40ss%3Aw@127.0.0.1:6380", &u, err, sizeof(err)));
    assert_string_equal(u.ip, "127.0.0.1");
    assert_int_equal(u.port, 6380);
    assert_string_equal(u.user, "");
    assert_string_equal(u.password, "p@ss:w");
    assert_true(fs_redis_url_parse("redis://app:pw@[::1]", &u, err, sizeof(err)));
    assert_string_equal(u.user, "app");
    assert_string_equal(u.password, "pw");
    assert_string_equal(u.ip, "::1");
    assert_int_equal(u.port, 6379);
    static const char *const bad_auth[] = {
        "redis://secret1@127.0.0.1", "redis://:@127.0.0.1", "redis://:secret1@localhost",
        "redis://:secret1%00x@127.0.0.1",
    };
    for (size_t i = 0; i < sizeof(bad_auth) / sizeof(bad_auth[0]); i++) {
        err[0] = '\0';
        assert_false(fs_redis_url_parse(bad_auth[i], &u, err, sizeof(err)));
        assert_non_null(strstr(err, "redis://***@"));
        assert_null(strstr(err, "secret1"));
    }
    /* TLS: rediss://, and the name its certificate is verified for. */
    assert_true(fs_redis_url_parse("rediss://:pw@10.0.0.5:6380?name=redis.example.com", &u, err,
                                   sizeof(err)));
    assert_true(u.tls);
    assert_string_equal(u.ip, "10.0.0.5");
    assert_int_equal(u.port, 6380);
    assert_string_equal(u.password, "pw");
    assert_string_equal(u.tls_name, "redis.example.com");
    assert_true(fs_redis_url_parse("rediss://[::1]", &u, err, sizeof(err)));
    assert_true(u.tls);
    assert_string_equal(u.ip, "::1");
    assert_string_equal(u.tls_name, "");
    assert_true(fs_redis_url_parse("redis://127.0.0.1", &u, err, sizeof(err)));
    assert_false(u.tls);
    static const char *const bad_tls[] = {
        "redis://:secret1@127.0.0.1?name=a.b", "rediss://:secret1@127.0.0.1?host=a.b",
        "rediss://:secret1@127.0.0.1?name=", "rediss://:secret1@127.0.0.1?name=a/b",
        "redisx://:secret1@127.0.0.1",
    };
    for (size_t i = 0; i < sizeof(bad_tls) / sizeof(bad_tls[0]); i++) {
        err[0] = '\0';
        assert_false(fs_redis_url_parse(bad_tls[i], &u, err, sizeof(err)));
        assert_non_null(strstr(err, "***@"));
        assert_null(strstr(err, "secret1"));
    }
}

static void command_round_trip(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    fs_redis_t *r = connected(base, url, 1000);
    answer_t a;
    char key[64], value[32] = {0};
    fs_random_base62(value, 16);
    snprintf(key, sizeof(key), "fs:test:%s", value);
    const char *set[] = {"SET", key, value, "EX", "60"};
    command(r, base, &a, 5, set);
    assert_false(a.early);
    assert_int_equal(a.st, FS_REDIS_OK);
    assert_string_equal(a.str, "OK");
    const char *get[] = {"GET", key};
    command(r, base, &a, 2, get);
    assert_int_equal(a.st, FS_REDIS_OK);
    assert_int_equal(a.type, REDIS_REPLY_STRING);
    assert_string_equal(a.str, value);
    /* An error reply is FS_REDIS_ERROR with Redis's sentence. */
    const char *bad[] = {"NOSUCHCOMMAND", key};
    command(r, base, &a, 2, bad);
    assert_int_equal(a.st, FS_REDIS_ERROR);
    assert_non_null(strstr(a.str, "unknown command"));
    fs_redis_free(r);
    event_base_free(base);
}

/* A script of its own per run, so that its SHA1 is new to Redis. */
static char source[128];
static const fs_redis_script_t script = {.name = "test", .source = source};

static void script_eval_then_evalsha(void **state)
{
    (void)state;
    char salt[17] = {0};
    fs_random_base62(salt, 16);
    snprintf(source, sizeof(source), "return KEYS[1] .. ':' .. ARGV[1] .. ':%s'", salt);
    char want[128];
    snprintf(want, sizeof(want), "k:a:%s", salt);
    struct event_base *base = event_base_new();
    fs_redis_t *r = connected(base, url, 1000);
    answer_t a;
    long e0 = calls("eval"), s0 = calls("evalsha");
    eval(r, base, &script, &a, "k", "a");
    assert_int_equal(a.st, FS_REDIS_OK);
    assert_string_equal(a.str, want);
    assert_int_equal(calls("eval"), e0 + 1); /* the source, the first time */
    assert_int_equal(calls("evalsha"), s0);
    eval(r, base, &script, &a, "k", "a");
    assert_int_equal(a.st, FS_REDIS_OK);
    assert_string_equal(a.str, want);
    assert_int_equal(calls("eval"), e0 + 1);
    assert_int_equal(calls("evalsha"), s0 + 1); /* then only its SHA1 */

    /* Redis forgets it (as after a restart): NOSCRIPT, then the source
     * again, and the caller sees only the answer. */
    redisReply *rep = redisCommand(outside, "SCRIPT FLUSH");
    assert_non_null(rep);
    freeReplyObject(rep);
    eval(r, base, &script, &a, "k", "a");
    assert_int_equal(a.st, FS_REDIS_OK);
    assert_string_equal(a.str, want);
    assert_int_equal(calls("eval"), e0 + 2);
    eval(r, base, &script, &a, "k", "a");
    assert_int_equal(a.st, FS_REDIS_OK);
    assert_int_equal(calls("eval"), e0 + 2);
    /* A script that fails is FS_REDIS_ERROR. */
    static const fs_redis_script_t failing = {.name = "failing",
                                              .source = "return redis.call('NOSUCHCOMMAND')"};
    eval(r, base, &failing, &a, "k", "a");
    assert_int_equal(a.st, FS_REDIS_ERROR);
    fs_redis_free(r);
    event_base_free(base);
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static void unreachable_is_unavailable(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    char u[64];
    snprintf(u, sizeof(u), "redis://127.0.0.1:%d", free_port());
    fs_redis_t *r = fs_redis_new(base, u, 50);
    answer_t a;
    const char *ping[] = {"PING"};
    uint64_t t0 = fs_now_us();
    command(r, base, &a, 1, ping);
    assert_int_equal(a.st, FS_REDIS_UNAVAILABLE);
    assert_false(a.early); /* on a later turn of the loop, not inside the call */
    assert_false(fs_redis_connected(r));
    memset(&a, 0, sizeof(a));
    fs_redis_eval(r, &script, on_answer, &a, 0, 0, NULL, NULL);
    a.returned = true;
    run_until(base, &a.done);
    assert_int_equal(a.st, FS_REDIS_UNAVAILABLE);
    printf("    unreachable Redis answered in %.2f ms\n", (double)(fs_now_us() - t0) / 1000.0);
    fs_redis_free(r);
    /* No Redis configured: unavailable at once, inside the call. */
    memset(&a, 0, sizeof(a));
    fs_redis_command(NULL, on_answer, &a, 1, ping, NULL);
    assert_true(a.done && a.early);
    assert_int_equal(a.st, FS_REDIS_UNAVAILABLE);
    /* Freeing answers what still waits. */
    r = fs_redis_new(base, u, 1000);
    memset(&a, 0, sizeof(a));
    fs_redis_command(r, on_answer, &a, 1, ping, NULL);
    a.returned = true;
    fs_redis_free(r);
    assert_true(a.done);
    assert_int_equal(a.st, FS_REDIS_UNAVAILABLE);
    event_base_free(base);
}

/* A redis-server of this test's own on port, without persistence. */
static pid_t start_redis(int port)
{
    char p[16];
    snprintf(p, sizeof(p), "%d", port);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execlp("redis-server", "redis-server", "--bind", "127.0.0.1", "--port", p, "--save", "",
               "--appendonly", "no", "--logfile", "/dev/null", (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* A stopped Redis (SIGSTOP: it holds the connection open and accepts new
 * ones) makes commands time out, not hang; after FS_REDIS_LATE_MAX of them
 * the connection is made again, and once it runs again commands succeed
 * without a new fs_redis_t. */
static void stopped_redis_times_out_then_recovers(void **state)
{
    (void)state;
    int port = free_port();
    pid_t pid = start_redis(port);
    char u[64];
    snprintf(u, sizeof(u), "redis://127.0.0.1:%d", port);
    struct event_base *base = event_base_new();
    fs_redis_t *r = connected(base, u, 50);
    answer_t a;
    const char *ping[] = {"PING"};
    command(r, base, &a, 1, ping);
    assert_int_equal(a.st, FS_REDIS_OK);
    kill(pid, SIGSTOP);
    for (int i = 0; i < FS_REDIS_LATE_MAX + 2; i++) {
        uint64_t t0 = fs_now_us();
        command(r, base, &a, 1, ping);
        assert_int_equal(a.st, FS_REDIS_UNAVAILABLE);
        printf("    stopped Redis: command %d answered unavailable in %.1f ms\n", i + 1,
               (double)(fs_now_us() - t0) / 1000.0);
    }
    kill(pid, SIGCONT);
    uint64_t t0 = fs_now_us();
    int tries = 0;
    do {
        struct timeval tick = {0, 20 * 1000};
        event_base_loopexit(base, &tick);
        event_base_dispatch(base);
        command(r, base, &a, 1, ping);
        tries++;
    } while (a.st != FS_REDIS_OK && fs_now_us() - t0 < WAIT_MS * 1000u);
    assert_int_equal(a.st, FS_REDIS_OK);
    printf("    running again: answered after %.0f ms (%d tries)\n",
           (double)(fs_now_us() - t0) / 1000.0, tries);
    fs_redis_free(r);
    event_base_free(base);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

int main(void)
{
    url = getenv("FINSYS_REDIS_URL");
    if (url == NULL || *url == '\0') {
        fprintf(stderr, "test_redis_live: FINSYS_REDIS_URL is not set\n");
        return 1;
    }
    char err[256];
    outside = fs_redis_connect_blocking(url, 2000, err, sizeof(err));
    if (outside == NULL) {
        fprintf(stderr, "test_redis_live: %s\n", err);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(url_parsing),
        cmocka_unit_test(command_round_trip),
        cmocka_unit_test(script_eval_then_evalsha),
        cmocka_unit_test(unreachable_is_unavailable),
        cmocka_unit_test(stopped_redis_times_out_then_recovers),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    redisFree(outside);
    return rc;
}
