/*
 * api.h: the routes of the HTTP API, as a pure function from a request to
 * what must be done with it.
 *
 * fs_api_route() checks the route, the method, the API key's form, the
 * Idempotency-Key and the body, and builds the operation item that
 * the store executes (db/functions/batch.sql reads its fields). It does
 * no I/O, so the fuzz target (fuzz/fuzz_api.c) drives it directly. A request
 * it rejects has touched nothing.
 */
#ifndef FS_API_H
#define FS_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "../config/config.h"
#include "../core/core.h"

/* PATCH: a partial update (PATCH /v1/risk_rules/{id}), a JSON body under an
 * Idempotency-Key as a POST's. */
typedef enum {
    FS_METHOD_GET,
    FS_METHOD_POST,
    FS_METHOD_DELETE,
    FS_METHOD_PATCH,
    FS_METHOD_OTHER
} fs_method_t;

typedef struct {
    fs_method_t method;
    const char *path;            /* raw path, without the query */
    const char *query;           /* raw query string, or NULL */
    const char *body;            /* may be NULL when body_len is 0 */
    size_t body_len;
    const char *authorization;   /* header value, or NULL */
    const char *idempotency_key; /* header value, or NULL */
    /* FINSYS_WEBHOOK_ALLOWED_NETWORKS: the webhook destinations allowed
     * although in a refused network (fs_notify_url_allowed); NULL: none. */
    const fs_config_nets_t *webhook_allowed;
    /* FINSYS_SECRETS_KEY (FS_NOTIFY_KEY_LEN bytes): webhook secrets are
     * sealed under it (fs_notify_parse_endpoint_create); NULL: none. */
    const unsigned char *secrets_key;
} fs_api_request_t;

typedef enum {
    FS_API_REJECT, /* answer err at once */
    FS_API_HEALTH, /* GET /healthz: the process is up */
    FS_API_READY,  /* GET /readyz: ask the database */
    FS_API_STORE,  /* execute *item in the store; its outcome is the answer */
    FS_API_METRICS, /* GET /metrics: the process's metrics (src/metrics) */
} fs_api_action_t;

typedef struct {
    fs_api_action_t action;
    json_t *item;      /* FS_API_STORE: a new reference the caller owns */
    const char *allow; /* FS_METHOD_NOT_ALLOWED: the Allow header */
    fs_error_t err;    /* FS_API_REJECT */
    /* FS_API_REJECT after an API key was presented: its hash. The key is
     * checked before err is given, so that a bad key always gets 401 (as a
     * client expects) and never learns about its request's other faults. */
    char auth[65];
    /* The route's template ("/v1/payments/{id}", "other" when none
     * matched): what metrics label a request with, never its raw path. */
    const char *route_name;
    int route_id; /* 0..FS_API_ROUTES_MAX-1: the route's index, for tables of routes */
} fs_api_result_t;

/* Routes fs_api_route() tells apart (route_id), "other" included. */
#define FS_API_ROUTES_MAX 32

/* The template of a route_id (see route_name). */
const char *fs_api_route_name(int route_id);

void fs_api_route(const fs_api_request_t *req, fs_api_result_t *res);

/* The route template of path ("/v1/payments/{id}"), or "other": for the
 * access log. Pure, as fs_api_route. */
const char *fs_api_route_template(const char *path);

#endif
