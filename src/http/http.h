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

#endif
