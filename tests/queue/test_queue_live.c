/* Live tests of src/queue against a real nats-server with JetStream: the one
 * at $FINSYS_NATS_URL (scripts/test.sh starts it), and, for the failure
 * cases, private ones this program starts, freezes and kills by PID.
 *
 * It runs before the FinSys server and worker start, and removes what it
 * leaves in the shared streams (its messages are acked, its dead letters
 * deleted), so later tests see them empty. Its own libnats connection looks
 * at the streams from outside the module. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <jansson.h>
#include <nats/nats.h>
#include <netinet/in.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../src/core/core.h"
#include "../../src/queue/queue.h"

/* A publish on a dead or frozen broker must come back at once (typically in
 * microseconds; the printed figure tells). This bound only tells "returns"
 * from "blocks": a blocking publish waits FS_QUEUE_REQUEST_TIMEOUT_MS (5 s)
 * or for ever, while a loaded 2-core machine running the sanitizer build can
 * deschedule a call for tens of milliseconds (10 ms failed CI-like runs). */
#define PUBLISH_CALL_MS_MAX 1000.0

static const char *url;
static fs_queue_t *queue;  /* on $FINSYS_NATS_URL, for the whole run */
static natsConnection *nc; /* the outside view */
static jsCtx *js;

static double now_ms(void)
{
    return (double)fs_now_us() / 1000.0;
}

static void new_id(const char *prefix, char *out, size_t out_len)
{
    char random[17] = {0};
    fs_random_base62(random, 16);
    snprintf(out, out_len, "%s_test%s", prefix, random);
}

static uint64_t stream_msgs(const char *stream)
{
    jsStreamInfo *si = NULL;
    assert_int_equal(js_GetStreamInfo(&si, js, stream, NULL, NULL), NATS_OK);
    uint64_t n = si->State.Msgs;
    jsStreamInfo_Destroy(si);
    return n;
}

/* Acks are sent without waiting: the stream shrinks a moment later. */
static void wait_stream_msgs(const char *stream, uint64_t want)
{
    for (int i = 0; i < 200 && stream_msgs(stream) != want; i++) usleep(10 * 1000);
    assert_int_equal(stream_msgs(stream), want);
}

static fs_queue_msg_t *fetch_one(const char *payment_id, int timeout_ms)
{
    fs_queue_msg_t *msgs[FS_QUEUE_FETCH_MAX];
    int count = -1;
    assert_int_equal(fs_queue_fetch(queue, msgs, 10, timeout_ms, &count), FS_QUEUE_OK);
    assert_int_equal(count, 1);
    assert_string_equal(fs_queue_msg_payment_id(msgs[0]), payment_id);
    return msgs[0];
}

static void publish_and_flush(const char *payment_id, const char *request_id)
{
    assert_int_equal(fs_queue_publish_payment(queue, payment_id, request_id), FS_QUEUE_OK);
    assert_int_equal(fs_queue_flush(queue, 5000), FS_QUEUE_OK);
}

static void assert_header(natsMsg *msg, const char *key, const char *want)
{
    const char *value = NULL;
    assert_int_equal(natsMsgHeader_Get(msg, key, &value), NATS_OK);
    assert_string_equal(value, want);
}

/* ---- a private nats-server to freeze and kill ---- */

typedef struct {
    pid_t pid;
    int port;
    char dir[64];
    char url[64];
} private_server_t;

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static bool file_contains(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) return false;
    char line[1024];
    bool found = false;
    while (!found && fgets(line, sizeof(line), f) != NULL) found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

/* Starts a nats-server on port (a free one when 0). */
static void server_start_on(private_server_t *s, int at)
{
    snprintf(s->dir, sizeof(s->dir), "/tmp/finsys-queue-test.XXXXXX");
    assert_non_null(mkdtemp(s->dir));
    s->port = at != 0 ? at : free_port();
    snprintf(s->url, sizeof(s->url), "nats://127.0.0.1:%d", s->port);
    char port[16], store[96], log[96];
    snprintf(port, sizeof(port), "%d", s->port);
    snprintf(store, sizeof(store), "%s/nats", s->dir);
    snprintf(log, sizeof(log), "%s/nats.log", s->dir);
    char *argv[] = {"nats-server", "-js", "-sd", store, "-a", "127.0.0.1",
                    "-p",          port,  "-l",  log,   NULL};
    s->pid = fork();
    assert_true(s->pid >= 0);
    if (s->pid == 0) {
        /* Dies with this program, even a frozen one, if a test crashes. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execvp("nats-server", argv);
        _exit(127);
    }
    for (int i = 0; i < 100 && !file_contains(log, "Server is ready"); i++) usleep(50 * 1000);
    assert_true(file_contains(log, "Server is ready"));
}

static void server_start(private_server_t *s) { server_start_on(s, 0); }

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void server_stop(private_server_t *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGKILL);
        kill(s->pid, SIGCONT);
        waitpid(s->pid, NULL, 0);
        s->pid = 0;
    }
    nftw(s->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- setup ---- */

static int group_setup(void **state)
{
    (void)state;
    if (sodium_init() < 0) return -1;
    char err[256];
    queue = fs_queue_open(url, err, sizeof(err));
    if (queue == NULL) {
        fprintf(stderr, "fs_queue_open(%s): %s\n", url, err);
        return -1;
    }
    if (natsConnection_ConnectTo(&nc, url) != NATS_OK) return -1;
    return natsConnection_JetStream(&js, nc, NULL) == NATS_OK ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    /* The outside view goes first: closing the last queue tears libnats down. */
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    fs_queue_close(queue);
    return 0;
}

/* ---- the tests ---- */

static void test_open_makes_streams_and_consumer(void **state)
{
    (void)state;
    static const struct {
        const char *name, *subject;
        jsRetentionPolicy retention;
    } streams[] = {
        {FS_QUEUE_STREAM_PAYMENTS, "fs.payments.process", js_WorkQueuePolicy},
        {FS_QUEUE_STREAM_PAYMENTS_DEAD, "fs.payments.dead", js_LimitsPolicy},
        {FS_QUEUE_STREAM_NOTIFICATIONS, "fs.notifications.>", js_WorkQueuePolicy},
        {FS_QUEUE_STREAM_NOTIFICATIONS_DEAD, "fs.dead.notifications", js_LimitsPolicy},
    };
    for (size_t i = 0; i < sizeof(streams) / sizeof(streams[0]); i++) {
        jsStreamInfo *si = NULL;
        assert_int_equal(js_GetStreamInfo(&si, js, streams[i].name, NULL, NULL), NATS_OK);
        assert_int_equal(si->Config->SubjectsLen, 1);
        assert_string_equal(si->Config->Subjects[0], streams[i].subject);
        assert_int_equal(si->Config->Retention, streams[i].retention);
        assert_int_equal(si->Config->Storage, js_FileStorage);
        assert_int_equal(si->Config->Discard, js_DiscardNew);
        assert_true(si->Config->Duplicates >= INT64_C(120) * 1000000000);
        jsStreamInfo_Destroy(si);
    }
    jsConsumerInfo *ci = NULL;
    assert_int_equal(js_GetConsumerInfo(&ci, js, FS_QUEUE_STREAM_PAYMENTS,
                                        FS_QUEUE_CONSUMER_SETTLER, NULL, NULL),
                     NATS_OK);
    assert_int_equal(ci->Config->AckPolicy, js_AckExplicit);
    assert_int_equal(ci->Config->AckWait, (int64_t)FS_QUEUE_ACK_WAIT_MS * 1000000);
    assert_int_equal(ci->Config->MaxDeliver, -1);
    assert_int_equal(ci->Config->MaxAckPending, FS_QUEUE_ACK_PENDING_MAX);
    assert_null(ci->Config->DeliverSubject); /* a pull consumer */
    jsConsumerInfo_Destroy(ci);

    /* Every process opens at start-up: a second open finds them as they are. */
    char err[256];
    fs_queue_t *again = fs_queue_open(url, err, sizeof(err));
    assert_non_null(again);
    assert_true(fs_queue_connected(again));
    fs_queue_close(again);
}

static void test_same_payment_id_is_stored_once(void **state)
{
    (void)state;
    char id[64];
    new_id("pay", id, sizeof(id));
    uint64_t before = stream_msgs(FS_QUEUE_STREAM_PAYMENTS);
    fs_queue_stats_t s0, s1;
    fs_queue_stats(queue, &s0);

    assert_int_equal(fs_queue_publish_payment(queue, id, "req_dedup1"), FS_QUEUE_OK);
    assert_int_equal(fs_queue_publish_payment(queue, id, "req_dedup2"), FS_QUEUE_OK);
    assert_int_equal(fs_queue_flush(queue, 5000), FS_QUEUE_OK);
    assert_int_equal(stream_msgs(FS_QUEUE_STREAM_PAYMENTS), before + 1);
    fs_queue_stats(queue, &s1);
    assert_int_equal(s1.published, s0.published + 2);
    assert_int_equal(s1.publish_failed, s0.publish_failed);

    fs_queue_msg_t *m = fetch_one(id, 2000);
    assert_string_equal(fs_queue_msg_request_id(m), "req_dedup1"); /* the first one */
    assert_int_equal(fs_queue_msg_ack(m), FS_QUEUE_OK);
    fs_queue_msg_free(m);
    wait_stream_msgs(FS_QUEUE_STREAM_PAYMENTS, before);
}

/* A payment approved in review (docs/risk.md) was published on its creation
 * (the settler left it, in review): its approval is published under an id
 * of its own, so the dedup window of the first message cannot drop it,
 * while a second publish of the approval is stored once. */
static void test_an_approval_is_not_dropped_by_the_creations_dedup(void **state)
{
    (void)state;
    char id[64], want[96];
    new_id("pay", id, sizeof(id));
    uint64_t before = stream_msgs(FS_QUEUE_STREAM_PAYMENTS);
    publish_and_flush(id, "req_created");
    fs_queue_msg_t *m = fetch_one(id, 2000);
    assert_int_equal(fs_queue_msg_ack(m), FS_QUEUE_OK);
    fs_queue_msg_free(m);
    wait_stream_msgs(FS_QUEUE_STREAM_PAYMENTS, before);

    assert_int_equal(fs_queue_publish_approved(queue, id, "req_approved1"), FS_QUEUE_OK);
    assert_int_equal(fs_queue_publish_approved(queue, id, "req_approved2"), FS_QUEUE_OK);
    assert_int_equal(fs_queue_publish_payment(queue, id, "req_created_again"), FS_QUEUE_OK);
    assert_int_equal(fs_queue_flush(queue, 5000), FS_QUEUE_OK);
    assert_int_equal(stream_msgs(FS_QUEUE_STREAM_PAYMENTS), before + 1);
    natsMsg *raw = NULL;
    assert_int_equal(
        js_GetLastMsg(&raw, js, FS_QUEUE_STREAM_PAYMENTS, FS_QUEUE_SUBJECT_PAYMENTS, NULL, NULL),
        NATS_OK);
    snprintf(want, sizeof(want), "%s.approved", id);
    assert_header(raw, "Nats-Msg-Id", want);
    natsMsg_Destroy(raw);
    m = fetch_one(id, 2000);
    assert_string_equal(fs_queue_msg_request_id(m), "req_approved1");
    assert_int_equal(fs_queue_msg_ack(m), FS_QUEUE_OK);
    fs_queue_msg_free(m);
    wait_stream_msgs(FS_QUEUE_STREAM_PAYMENTS, before);
}

static void test_message_carries_ids_and_delivery_count(void **state)
{
    (void)state;
    char id[64], request_id[64], want_body[160];
    new_id("pay", id, sizeof(id));
    new_id("req", request_id, sizeof(request_id));
    uint64_t before = stream_msgs(FS_QUEUE_STREAM_PAYMENTS);
    publish_and_flush(id, request_id);

    /* As stored: the payment id as Nats-Msg-Id, the request id as a header
     * and both in the JSON body. */
    natsMsg *raw = NULL;
    assert_int_equal(
        js_GetLastMsg(&raw, js, FS_QUEUE_STREAM_PAYMENTS, FS_QUEUE_SUBJECT_PAYMENTS, NULL, NULL),
        NATS_OK);
    assert_header(raw, "Nats-Msg-Id", id);
    assert_header(raw, FS_QUEUE_HEADER_REQUEST_ID, request_id);
    snprintf(want_body, sizeof(want_body), "{\"payment_id\":\"%s\",\"request_id\":\"%s\"}", id,
             request_id);
    assert_int_equal(natsMsg_GetDataLength(raw), (int)strlen(want_body));
    assert_memory_equal(natsMsg_GetData(raw), want_body, strlen(want_body));
    natsMsg_Destroy(raw);

    fs_queue_msg_t *m = fetch_one(id, 2000);
    assert_string_equal(fs_queue_msg_request_id(m), request_id);
    assert_int_equal(fs_queue_msg_deliveries(m), 1);
    assert_int_equal(fs_queue_msg_in_progress(m), FS_QUEUE_OK);
    assert_int_equal(fs_queue_msg_ack(m), FS_QUEUE_OK);
    fs_queue_msg_free(m);

    /* Acked: gone, and not delivered again. */
    fs_queue_msg_t *msgs[4];
    int count = -1;
    assert_int_equal(fs_queue_fetch(queue, msgs, 4, 300, &count), FS_QUEUE_OK);
    assert_int_equal(count, 0);
    wait_stream_msgs(FS_QUEUE_STREAM_PAYMENTS, before);
}

static void test_nak_with_delay_redelivers_after_the_delay(void **state)
{
    (void)state;
    char id[64];
    new_id("pay", id, sizeof(id));
    uint64_t before = stream_msgs(FS_QUEUE_STREAM_PAYMENTS);
    publish_and_flush(id, "req_nak");
    fs_queue_msg_t *m = fetch_one(id, 2000);
    assert_int_equal(fs_queue_msg_deliveries(m), 1);
    double t0 = now_ms();
    assert_int_equal(fs_queue_msg_nak(m, 800), FS_QUEUE_OK);
    fs_queue_msg_free(m);

    fs_queue_msg_t *msgs[4];
    int count = -1;
    assert_int_equal(fs_queue_fetch(queue, msgs, 4, 300, &count), FS_QUEUE_OK);
    assert_int_equal(count, 0); /* not before the delay */
    assert_true(now_ms() - t0 < 800);

    m = fetch_one(id, 5000);
    double waited = now_ms() - t0;
    print_message("redelivered after %.0f ms (delay 800 ms)\n", waited);
    assert_true(waited >= 750);
    assert_int_equal(fs_queue_msg_deliveries(m), 2);
    assert_string_equal(fs_queue_msg_request_id(m), "req_nak");
    assert_int_equal(fs_queue_msg_nak(m, -1), FS_QUEUE_INVALID);
    assert_int_equal(fs_queue_msg_ack(m), FS_QUEUE_OK);
    fs_queue_msg_free(m);
    wait_stream_msgs(FS_QUEUE_STREAM_PAYMENTS, before);
}

/* Checks FS_PAYMENTS_DEAD's last message, then deletes it. */
static void check_and_delete_dead_letter(const char *payment_id, const char *request_id,
                                         const char *reason_part)
{
    natsMsg *dead = NULL;
    assert_int_equal(js_GetLastMsg(&dead, js, FS_QUEUE_STREAM_PAYMENTS_DEAD,
                                   FS_QUEUE_SUBJECT_PAYMENTS_DEAD, NULL, NULL),
                     NATS_OK);
    const char *value = NULL;
    assert_int_equal(natsMsgHeader_Get(dead, FS_QUEUE_HEADER_DEAD_REASON, &value), NATS_OK);
    assert_non_null(strstr(value, reason_part));
    assert_int_equal(natsMsgHeader_Get(dead, "Nats-Msg-Id", &value), NATS_OK);
    assert_int_equal(strncmp(value, payment_id, strlen(payment_id)), 0);
    if (request_id != NULL) {
        assert_header(dead, FS_QUEUE_HEADER_REQUEST_ID, request_id);
        assert_header(dead, FS_QUEUE_HEADER_DEAD_DELIVERIES, "2");
        json_t *body =
            json_loadb(natsMsg_GetData(dead), (size_t)natsMsg_GetDataLength(dead), 0, NULL);
        assert_string_equal(json_string_value(json_object_get(body, "payment_id")), payment_id);
        json_decref(body);
    }
    assert_int_equal(
        js_DeleteMsg(js, FS_QUEUE_STREAM_PAYMENTS_DEAD, natsMsg_GetSequence(dead), NULL, NULL),
        NATS_OK);
    natsMsg_Destroy(dead);
}

static void test_dead_letter_moves_the_message_with_a_reason(void **state)
{
    (void)state;
    char id[64], request_id[64];
    new_id("pay", id, sizeof(id));
    new_id("req", request_id, sizeof(request_id));
    uint64_t before = stream_msgs(FS_QUEUE_STREAM_PAYMENTS);
    uint64_t dead_before = stream_msgs(FS_QUEUE_STREAM_PAYMENTS_DEAD);
    fs_queue_stats_t s0, s1;
    fs_queue_stats(queue, &s0);
    publish_and_flush(id, request_id);

    fs_queue_msg_t *m = fetch_one(id, 2000);
    assert_int_equal(fs_queue_msg_nak(m, 0), FS_QUEUE_OK);
    fs_queue_msg_free(m);
    m = fetch_one(id, 2000);
    assert_int_equal(fs_queue_msg_deliveries(m), 2);
    assert_int_equal(fs_queue_msg_dead_letter(m, "provider failed 2 times:\n503"), FS_QUEUE_OK);
    fs_queue_msg_free(m);

    wait_stream_msgs(FS_QUEUE_STREAM_PAYMENTS, before);
    assert_int_equal(stream_msgs(FS_QUEUE_STREAM_PAYMENTS_DEAD), dead_before + 1);
    fs_queue_stats(queue, &s1);
    assert_int_equal(s1.dead_lettered, s0.dead_lettered + 1);
    check_and_delete_dead_letter(id, request_id, "provider failed 2 times: 503");
    assert_int_equal(stream_msgs(FS_QUEUE_STREAM_PAYMENTS_DEAD), dead_before);
}

static void test_malformed_message_is_dead_lettered_by_fetch(void **state)
{
    (void)state;
    uint64_t before = stream_msgs(FS_QUEUE_STREAM_PAYMENTS);
    uint64_t dead_before = stream_msgs(FS_QUEUE_STREAM_PAYMENTS_DEAD);
    const char junk[] = "{\"payment_id\": 42}";
    assert_int_equal(
        js_Publish(NULL, js, FS_QUEUE_SUBJECT_PAYMENTS, junk, (int)strlen(junk), NULL, NULL),
        NATS_OK);
    fs_queue_msg_t *msgs[4];
    int count = -1;
    assert_int_equal(fs_queue_fetch(queue, msgs, 4, 2000, &count), FS_QUEUE_OK);
    assert_int_equal(count, 0);
    wait_stream_msgs(FS_QUEUE_STREAM_PAYMENTS, before);
    assert_int_equal(stream_msgs(FS_QUEUE_STREAM_PAYMENTS_DEAD), dead_before + 1);
    check_and_delete_dead_letter("unknown", NULL, "malformed");
}

static void test_invalid_arguments_change_nothing(void **state)
{
    (void)state;
    char long_id[FS_ID_LEN_MAX + 2], long_request_id[FS_QUEUE_REQUEST_ID_LEN_MAX + 2];
    memset(long_id, 'a', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    memset(long_request_id, 'r', sizeof(long_request_id) - 1);
    long_request_id[sizeof(long_request_id) - 1] = '\0';
    uint64_t before = stream_msgs(FS_QUEUE_STREAM_PAYMENTS);

    assert_int_equal(fs_queue_publish_payment(queue, "", "req"), FS_QUEUE_INVALID);
    assert_int_equal(fs_queue_publish_payment(queue, "pay 1", "req"), FS_QUEUE_INVALID);
    assert_int_equal(fs_queue_publish_payment(queue, long_id, "req"), FS_QUEUE_INVALID);
    assert_int_equal(fs_queue_publish_payment(queue, "pay_1", "req\r\nX-Evil: 1"),
                     FS_QUEUE_INVALID);
    assert_int_equal(fs_queue_publish_payment(queue, "pay_1", long_request_id), FS_QUEUE_INVALID);
    assert_int_equal(fs_queue_flush(queue, 5000), FS_QUEUE_OK);
    assert_int_equal(stream_msgs(FS_QUEUE_STREAM_PAYMENTS), before);

    fs_queue_msg_t *msgs[1];
    int count = -1;
    assert_int_equal(fs_queue_fetch(queue, msgs, 0, 100, &count), FS_QUEUE_INVALID);
    assert_int_equal(fs_queue_fetch(queue, msgs, FS_QUEUE_FETCH_MAX + 1, 100, &count),
                     FS_QUEUE_INVALID);
    assert_int_equal(count, 0);
}

static void test_unreachable_broker_is_tried_until_it_answers(void **state)
{
    (void)state;
    /* Nothing listens: open returns at once all the same, with a queue that
     * is not ready and refuses publishes and fetches at once. */
    char err[256], dead_url[64];
    int port = free_port();
    snprintf(dead_url, sizeof(dead_url), "nats://127.0.0.1:%d", port);
    double t0 = now_ms();
    fs_queue_t *q = fs_queue_open(dead_url, err, sizeof(err));
    assert_non_null(q);
    assert_true(now_ms() - t0 < FS_QUEUE_CONNECT_TIMEOUT_MS + 1000);
    assert_false(fs_queue_connected(q));
    assert_int_equal(fs_queue_publish_payment(q, "pay_early", "req"), FS_QUEUE_UNAVAILABLE);
    fs_queue_msg_t *msgs[1];
    int count = -1;
    assert_int_equal(fs_queue_fetch(q, msgs, 1, 100, &count), FS_QUEUE_UNAVAILABLE);
    assert_int_equal(count, 0);

    /* A queue closed before any broker answered closes at once. */
    char other_url[64];
    snprintf(other_url, sizeof(other_url), "nats://127.0.0.1:%d", free_port());
    fs_queue_t *never = fs_queue_open(other_url, err, sizeof(err));
    assert_non_null(never);
    t0 = now_ms();
    fs_queue_close(never);
    assert_true(now_ms() - t0 < 1000);

    /* The broker starts on that port: the library connects by itself, the
     * queue makes its streams and consumers, and publishes go through. */
    private_server_t late = {0};
    server_start_on(&late, port);
    t0 = now_ms();
    while (!fs_queue_connected(q) && now_ms() - t0 < 10000) usleep(10 * 1000);
    assert_true(fs_queue_connected(q));
    print_message("ready %.0f ms after the broker\n", now_ms() - t0);
    assert_int_equal(fs_queue_publish_payment(q, "pay_late", "req"), FS_QUEUE_OK);
    assert_int_equal(fs_queue_flush(q, 5000), FS_QUEUE_OK);
    fs_queue_stats_t st;
    fs_queue_stats(q, &st);
    assert_int_equal(st.published, 1);
    assert_int_equal(st.publish_failed, 0);
    fs_queue_close(q);
    server_stop(&late);
}

static void test_a_broker_that_dies_refuses_publishes_at_once(void **state)
{
    (void)state;
    char err[256];
    /* A broker that dies: publishes are refused at once while reconnecting. */
    private_server_t server = {0};
    server_start(&server);
    fs_queue_t *q = fs_queue_open(server.url, err, sizeof(err));
    assert_non_null(q);
    assert_int_equal(fs_queue_publish_payment(q, "pay_before", "req"), FS_QUEUE_OK);
    assert_int_equal(fs_queue_flush(q, 5000), FS_QUEUE_OK);
    kill(server.pid, SIGKILL);
    waitpid(server.pid, NULL, 0);
    server.pid = 0;
    for (int i = 0; i < 300 && fs_queue_connected(q); i++) usleep(10 * 1000);
    assert_false(fs_queue_connected(q));

    double slowest = 0;
    for (int i = 0; i < 100; i++) {
        double t = now_ms();
        assert_int_equal(fs_queue_publish_payment(q, "pay_after", "req"), FS_QUEUE_UNAVAILABLE);
        double took = now_ms() - t;
        if (took > slowest) slowest = took;
    }
    print_message("slowest refused publish on a dead broker: %.3f ms\n", slowest);
    assert_true(slowest < PUBLISH_CALL_MS_MAX);
    fs_queue_stats_t s;
    fs_queue_stats(q, &s);
    assert_int_equal(s.published, 1);
    assert_int_equal(s.publish_refused, 100);
    fs_queue_close(q);
    server_stop(&server);
}

/* SIGSTOP takes effect asynchronously: until the broker is really stopped
 * it may still ack the first publishes, and fewer would be refused. */
static void wait_stopped(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    for (int i = 0; i < 1000; i++) {
        FILE *f = fopen(path, "r");
        if (f == NULL) return;
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        const char *close_paren = strrchr(buf, ')');
        if (close_paren != NULL && (close_paren[2] == 'T' || close_paren[2] == 't')) return;
        usleep(1000);
    }
}

static void test_frozen_broker_never_blocks_a_publish(void **state)
{
    (void)state;
    private_server_t server = {0};
    server_start(&server);
    char err[256];
    fs_queue_t *q = fs_queue_open(server.url, err, sizeof(err));
    assert_non_null(q);
    kill(server.pid, SIGSTOP); /* alive, connected, and answering nothing */
    wait_stopped(server.pid);

    double slowest = 0;
    int refused = 0;
    for (int i = 0; i < FS_QUEUE_PUBLISH_PENDING_MAX + 200; i++) {
        char id[32];
        snprintf(id, sizeof(id), "pay_frozen%d", i);
        double t = now_ms();
        fs_queue_status_t status = fs_queue_publish_payment(q, id, "req");
        double took = now_ms() - t;
        if (took > slowest) slowest = took;
        if (status != FS_QUEUE_OK) {
            assert_true(status == FS_QUEUE_FULL || status == FS_QUEUE_UNAVAILABLE);
            refused++;
        }
    }
    fs_queue_stats_t s;
    fs_queue_stats(q, &s);
    print_message("frozen broker: %d refused, %" PRIu64 " handed over, slowest call %.3f ms\n",
                  refused, s.published, slowest);
    assert_true(refused >= 200);
    assert_true(s.published <= FS_QUEUE_PUBLISH_PENDING_MAX);
    assert_true(slowest < PUBLISH_CALL_MS_MAX);

    /* No ack comes: each handed-over publish is reported failed by the
     * async error handler after FS_QUEUE_PUBLISH_ACK_WAIT_MS. */
    for (int i = 0; i < FS_QUEUE_PUBLISH_ACK_WAIT_MS / 100 + 50; i++) {
        fs_queue_stats(q, &s);
        if (s.publish_failed == s.published) break;
        usleep(100 * 1000);
    }
    assert_int_equal(s.publish_failed, s.published);
    server_stop(&server);
    fs_queue_close(q);
}

int main(void)
{
    url = getenv("FINSYS_NATS_URL");
    if (url == NULL || url[0] == '\0') {
        fprintf(stderr, "test_queue_live: set FINSYS_NATS_URL to a nats-server with JetStream "
                        "(scripts/test.sh does)\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_makes_streams_and_consumer),
        cmocka_unit_test(test_same_payment_id_is_stored_once),
        cmocka_unit_test(test_an_approval_is_not_dropped_by_the_creations_dedup),
        cmocka_unit_test(test_message_carries_ids_and_delivery_count),
        cmocka_unit_test(test_nak_with_delay_redelivers_after_the_delay),
        cmocka_unit_test(test_dead_letter_moves_the_message_with_a_reason),
        cmocka_unit_test(test_malformed_message_is_dead_lettered_by_fetch),
        cmocka_unit_test(test_invalid_arguments_change_nothing),
        cmocka_unit_test(test_unreachable_broker_is_tried_until_it_answers),
        cmocka_unit_test(test_a_broker_that_dies_refuses_publishes_at_once),
        cmocka_unit_test(test_frozen_broker_never_blocks_a_publish),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
