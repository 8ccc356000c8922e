/*
 * sink.c: `finsys webhook-sink`, a webhook receiver that stands for a
 * tenant's endpoint (see provider.h): it answers 204 No Content to every
 * POST, at once, and counts what it got. `make bench` registers one as the
 * bench tenant's endpoint so that webhook deliveries are in the life cycle
 * it measures; it must cost next to nothing, since the notifier opens a
 * connection per delivery, thousands a second.
 *
 * One libevent loop, one evhttp, no thread. It never reads the body beyond
 * what evhttp buffers (bounded), never checks signatures, never persists.
 *
 * Ownership: fs_webhook_sink_main() owns the loop, the evhttp and the signal
 * events, and frees them before returning.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provider.h"

#define DEFAULT_PORT 8091

const char fs_webhook_sink_usage[] =
    "usage: finsys webhook-sink [options]\n"
    "\n"
    "A webhook receiver on its own port, until SIGINT or SIGTERM: answers\n"
    "204 No Content to every POST (any path), without checking signatures.\n"
    "GET /stats shows what it received, GET /healthz answers 200. For make\n"
    "bench and tests; see docs/operations.md.\n"
    "\n"
    "  --host ADDR               address to listen on (127.0.0.1)\n"
    "  --port N                  port (8091)\n";

typedef struct {
    struct event_base *base;
    struct evhttp *http;
    struct event *on_sigint, *on_sigterm;
    uint64_t received;       /* POSTs answered 204 */
    uint64_t received_bytes; /* their bodies */
} sink_t;

static void send_text(struct evhttp_request *req, int status, const char *reason, const char *json)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    struct evbuffer *buf = evbuffer_new();
    FS_ASSERT(buf != NULL);
    evbuffer_add(buf, json, strlen(json));
    evhttp_send_reply(req, status, reason, buf);
    evbuffer_free(buf);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    sink_t *s = arg;
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    if (m == EVHTTP_REQ_POST) {
        s->received++;
        s->received_bytes += evbuffer_get_length(evhttp_request_get_input_buffer(req));
        evhttp_send_reply(req, 204, "No Content", NULL);
        return;
    }
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
    bool get = m == EVHTTP_REQ_GET || m == EVHTTP_REQ_HEAD;
    if (get && path != NULL && strcmp(path, "/healthz") == 0) {
        send_text(req, 200, "OK", "{\"status\":\"ok\"}");
    } else if (get && path != NULL && strcmp(path, "/stats") == 0) {
        char body[128];
        snprintf(body, sizeof(body), "{\"received\":%llu,\"received_bytes\":%llu}",
                 (unsigned long long)s->received, (unsigned long long)s->received_bytes);
        send_text(req, 200, "OK", body);
    } else if (get) {
        send_text(req, 404, "Not Found",
                  "{\"error\":{\"type\":\"invalid_request_error\",\"code\":\"not_found\","
                  "\"message\":\"No such route.\"}}");
    } else {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, POST");
        send_text(req, 405, "Method Not Allowed",
                  "{\"error\":{\"type\":\"invalid_request_error\",\"code\":"
                  "\"method_not_allowed\",\"message\":\"POST delivers; GET /stats and "
                  "/healthz inform.\"}}");
    }
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    sink_t *s = arg;
    (void)what;
    fs_log(FS_LOG_INFO, "webhook-sink", "signal %d: stopping", (int)sig);
    event_base_loopbreak(s->base);
}

/* "--name value" or "--name=value" for --host and --port; false with a
 * message naming the option otherwise. */
static bool parse_options(int argc, char **argv, char *host, size_t host_len, int *port, char *err,
                          size_t err_len)
{
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i], *value = NULL;
        const char *eq = strchr(arg, '=');
        size_t name_len = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
        bool is_host = name_len == 6 && strncmp(arg, "--host", 6) == 0;
        bool is_port = name_len == 6 && strncmp(arg, "--port", 6) == 0;
        if (!is_host && !is_port) {
            snprintf(err, err_len, "unknown option '%s'", arg);
            return false;
        }
        if (eq != NULL) {
            value = eq + 1;
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            snprintf(err, err_len, "option '%.*s' needs a value", (int)name_len, arg);
            return false;
        }
        if (is_host) {
            if (*value == '\0' || strlen(value) >= host_len) {
                snprintf(err, err_len, "--host must be an IP address of at most %zu bytes",
                         host_len - 1);
                return false;
            }
            snprintf(host, host_len, "%s", value);
        } else {
            char *end;
            errno = 0;
            long n = strtol(value, &end, 10);
            if (*value == '\0' || *end != '\0' || errno != 0 || n < 1 || n > 65535) {
                snprintf(err, err_len, "--port must be an integer from 1 to 65535 (got '%s')",
                         value);
                return false;
            }
            *port = (int)n;
        }
    }
    return true;
}

int fs_webhook_sink_main(int argc, char **argv)
{
    char host[64] = "127.0.0.1", err[256];
    int port = DEFAULT_PORT;
    if (!parse_options(argc, argv, host, sizeof(host), &port, err, sizeof(err))) {
        fprintf(stderr, "finsys webhook-sink: %s\n\n%s", err, fs_webhook_sink_usage);
        return 2;
    }
    const char *level = getenv("FINSYS_LOG_LEVEL");
    fs_log_level_t log_level = FS_LOG_INFO;
    if (level != NULL && *level != '\0' && !fs_log_level_parse(level, &log_level)) {
        fprintf(stderr, "finsys webhook-sink: FINSYS_LOG_LEVEL must be debug, info, warn or "
                        "error\n");
        return 2;
    }
    fs_log_set_level(log_level);

    sink_t s = {0};
    signal(SIGPIPE, SIG_IGN);
    s.base = event_base_new();
    FS_ASSERT(s.base != NULL);
    s.on_sigint = evsignal_new(s.base, SIGINT, on_signal, &s);
    s.on_sigterm = evsignal_new(s.base, SIGTERM, on_signal, &s);
    FS_ASSERT(s.on_sigint != NULL && s.on_sigterm != NULL);
    evsignal_add(s.on_sigint, NULL);
    evsignal_add(s.on_sigterm, NULL);
    s.http = evhttp_new(s.base);
    FS_ASSERT(s.http != NULL);
    evhttp_set_max_body_size(s.http, FS_WEBHOOK_SINK_BODY_MAX_BYTES);
    evhttp_set_max_headers_size(s.http, FS_HEADERS_MAX_BYTES);
    evhttp_set_timeout(s.http, FS_HTTP_TIMEOUT_S);
    evhttp_set_allowed_methods(s.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                           EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH |
                                           EVHTTP_REQ_OPTIONS);
    evhttp_set_gencb(s.http, on_request, &s);
    int rc = 0;
    if (evhttp_bind_socket(s.http, host, (ev_uint16_t)port) != 0) {
        fs_log(FS_LOG_ERROR, "webhook-sink", "cannot listen on %s:%d", host, port);
        rc = 1;
    } else {
        fs_log(FS_LOG_INFO, "webhook-sink", "webhook sink listening on %s:%d", host, port);
        event_base_dispatch(s.base);
        fs_log(FS_LOG_INFO, "webhook-sink", "stopped: %llu deliveries received",
               (unsigned long long)s.received);
    }
    evhttp_free(s.http);
    event_free(s.on_sigint);
    event_free(s.on_sigterm);
    event_base_free(s.base);
    return rc;
}
