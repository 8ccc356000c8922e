/*
 * http.h: the HTTP server: threads, transport, and the one table that maps
 * outcomes to HTTP status codes and error objects.
 *
 * Each of config->threads threads runs its own libevent loop with an evhttp
 * bound to a shared SO_REUSEPORT listener, and its own store (one database
 * connection), so the kernel spreads connections over the cores and no lock
 * is shared on the request path.
 */
#ifndef FS_HTTP_H
#define FS_HTTP_H

#include <jansson.h>
#include <stdint.h>

#include "../config/config.h"
#include "../core/core.h"

/* Runs the server until SIGINT or SIGTERM. Returns the exit status. */
int fs_http_serve(const fs_config_t *config);

/* The outcome table. */
int fs_http_status(fs_outcome_t outcome);
const char *fs_http_error_type(fs_outcome_t outcome);
const char *fs_http_outcome_code(fs_outcome_t outcome);
/* The outcome named by the store ("created", "insufficient_funds", ...);
 * FS_INTERNAL for a name it does not know. */
fs_outcome_t fs_http_outcome_parse(const char *name);

/* The reason phrase for status, or NULL for libevent's own. */
const char *fs_http_reason(int status);

/* Renders {"error": {"type", "code", "message", "param"}}; caller frees. */
char *fs_http_error_body(fs_outcome_t outcome, const char *message, const char *param);

/* The same, with the members of the object fields (NULL: none) added to the
 * error object after those four, which fields cannot replace: what an
 * outcome says beyond its message (a blocked payment's "rule" and "risk",
 * docs/risk.md). */
char *fs_http_error_body_with(fs_outcome_t outcome, const char *message, const char *param,
                              const json_t *fields);

/* --- The listener's guard (src/http/guard.c; issue 13) ----------------------
 * Used by server.c: connections capped per process and per client address,
 * a deadline for a request's head and one for its body, a Content-Length
 * over the route's limit refused before the body is read, and a listener
 * that pauses when accept() fails (EMFILE) instead of spinning. One guard
 * per event loop; its state per address is the process's. */
struct evhttp;
struct evhttp_bound_socket;
struct evhttp_request;
struct event_base;

typedef struct {
    int conns_max;          /* FINSYS_HTTP_CONNECTIONS_MAX: open connections, the process */
    int conns_per_addr_max; /* FINSYS_HTTP_CONNECTIONS_PER_ADDR_MAX: per client address */
    int header_timeout_ms;  /* FINSYS_HTTP_HEADER_TIMEOUT_MS: a request's head, from its first byte */
    int body_timeout_ms;    /* FINSYS_HTTP_BODY_TIMEOUT_MS: its body, from the head's end */
    long body_max;          /* the routes' body limit (FS_BODY_MAX_BYTES) */
} fs_http_guard_config_t;

typedef struct fs_http_guard fs_http_guard_t;

/* Makes the connections of http (evhttp_set_bevcb): call before it accepts. */
fs_http_guard_t *fs_http_guard_new(struct event_base *base, struct evhttp *http,
                                   const fs_http_guard_config_t *config);
/* The listener accepting for http: paused when accept() fails. */
void fs_http_guard_listen(fs_http_guard_t *g, struct evhttp_bound_socket *bound);
/* Before the listener is freed (the drain). */
void fs_http_guard_unlisten(fs_http_guard_t *g);
/* evhttp handed req over (whole): its deadlines stop. Answers the
 * Content-Length refused before its body was read (the request's body is
 * empty then: answer 413 and close), else 0. */
uint64_t fs_http_guard_request(fs_http_guard_t *g, struct evhttp_request *req);
/* req's answer is sent: the connection waits for its next request. */
void fs_http_guard_answered(fs_http_guard_t *g, struct evhttp_request *req);
/* After evhttp_free. NULL is a no-op. */
void fs_http_guard_free(fs_http_guard_t *g);

/* At start: RLIMIT_NOFILE's soft limit raised to its hard limit; a warning
 * when it is below conns_max and the process's own files. */
void fs_http_raise_nofile(int conns_max);

/* --- reads (issue 13) ---
 * The lists and searches a tenant has at once in this process (queued or
 * running on the read stores), at most FS_READ_CONCURRENT_PER_TENANT_MAX;
 * the table is the process's (every loop thread's), under a mutex, of at
 * most FS_READ_TENANTS_MAX tenants. tenant: the key's tenant, or the key's
 * hash when the tenant is not known. */
typedef enum {
    FS_HTTP_READ_ADMITTED,    /* counted: call fs_http_read_done() once it is answered */
    FS_HTTP_READ_TOO_MANY,    /* the tenant has the most at once already (429) */
    FS_HTTP_READ_TABLE_FULL,  /* no room for another tenant (503) */
} fs_http_read_admission_t;

fs_http_read_admission_t fs_http_read_admit(const char *tenant);
/* A read fs_http_read_admit() admitted for tenant is answered. */
void fs_http_read_done(const char *tenant);

/* Before the rate limits' check (a Redis round trip): true when the key of
 * key_hash was the last to be admitted for a tenant that has the most reads
 * at once now, so that a tenant hammering the lists past its cap is
 * answered 429 at the cost of a lookup in memory. Only a shortcut: false
 * tells nothing, and fs_http_read_admit() still decides. */
bool fs_http_read_busy(const char *key_hash);

/* Records that key_hash's reads count for tenant (after an admission). */
void fs_http_read_key(const char *tenant, const char *key_hash);

#endif
