/*
 * admin.h: the admin console's server side (issue 11, docs/console.md).
 */
#ifndef FS_ADMIN_H
#define FS_ADMIN_H

#include <event2/event.h>
#include <event2/http.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/core.h"

/* --- static files and the stream (static.c, stream.c) --- */

/*
 * Static files (static.c): the built console (web/dist) under /admin/,
 * read into memory once at start-up so that the event loops never touch the
 * disk. Read-only after fs_admin_static_open, so every loop thread may
 * serve from one set at once.
 */
typedef struct fs_admin_static fs_admin_static_t;

/* The console's directory: FINSYS_WEB_DIR when set, else web/dist of the
 * checkout the executable was built in (/proc/self/exe is <repo>/<build>/finsys).
 * Writes it to out (out_len bytes). */
void fs_admin_static_dir(char *out, size_t out_len);

/* Loads every regular file under dir (at most FS_ADMIN_STATIC_FILES_MAX
 * files, FS_ADMIN_STATIC_BYTES_MAX bytes in all). Never NULL: a set whose
 * directory is missing, has no index.html or is over a limit answers /admin/
 * with a 503 page saying why (logged once here). Free with
 * fs_admin_static_close once no loop serves from it. */
fs_admin_static_t *fs_admin_static_open(const char *dir);
void fs_admin_static_close(fs_admin_static_t *s);

/* Answers req when path (raw, without the query) is the console's: /admin,
 * or under /admin/ but not under /admin/api/. Returns false, having done
 * nothing, for any other path. Loop thread. */
bool fs_admin_static_handle(const fs_admin_static_t *s, struct evhttp_request *req,
                            const char *path);

/* The pure parts, for tests. */

/* The Content-Type for a file name by its extension;
 * "application/octet-stream" for one not known. */
const char *fs_admin_static_content_type(const char *name);

/* What a path under the console is. */
typedef enum {
    FS_ADMIN_PATH_NOT_CONSOLE, /* not /admin, nor under /admin/ (or under /admin/api/) */
    FS_ADMIN_PATH_REDIRECT,    /* /admin: to /admin/ */
    FS_ADMIN_PATH_FILE,        /* a file name in *name (relative to the directory) */
    FS_ADMIN_PATH_REFUSED,     /* bad encoding, "..", ".", "//", a backslash or a control byte */
} fs_admin_path_t;

/* Decodes and checks path (raw, as on the request line): a console path's
 * file name goes to name (name_len bytes; "" for /admin/ itself). */
fs_admin_path_t fs_admin_static_path(const char *path, char *name, size_t name_len);

/* True when a name that is not a file gets index.html (the page's own
 * router shows it: /admin/payments/pay_x); false for names under assets/,
 * where a missing file is a 404 (a stale hashed asset must not come back as
 * HTML). */
bool fs_admin_static_spa_fallback(const char *name);

/*
 * The live stream (stream.c): GET /admin/api/stream, Server-Sent Events.
 *
 * The worker publishes a summary of each event-log batch its search indexer
 * takes on core NATS (FS_ADMIN_LIVE_SUBJECT_EVENTS), and its breaker state
 * (FS_ADMIN_LIVE_SUBJECT_STATUS); the server's hub subscribes and fans each
 * message out to the stream's clients on every loop thread.
 */
#define FS_ADMIN_LIVE_SUBJECT_EVENTS "fs.live.events"
#define FS_ADMIN_LIVE_SUBJECT_STATUS "fs.live.status"
/* A server with a client watching says so (FS_ADMIN_LIVE_WATCH_INTERVAL_MS):
 * the worker builds the summary only then. */
#define FS_ADMIN_LIVE_SUBJECT_WATCHING "fs.live.watching"

struct fs_queue;
typedef struct fs_admin_hub fs_admin_hub_t;
typedef struct fs_admin_stream fs_admin_stream_t;

/* The answer of an access check: FS_OK lets the request in; another
 * outcome (FS_UNAUTHORIZED, FS_FORBIDDEN, FS_UNAVAILABLE) refuses it with
 * that outcome's status and message. */
typedef void (*fs_admin_auth_done_fn)(void *ctx, fs_outcome_t outcome, const char *message);
/* Checks whether req may open the stream (role viewer), then calls done once,
 * on the loop thread, now or later. */
typedef void (*fs_admin_auth_fn)(void *auth_arg, struct evhttp_request *req,
                                 fs_admin_auth_done_fn done, void *ctx);

/* The admin API key check (Authorization: Bearer, FS_OP_ADMIN_AUTH through
 * the store given as auth_arg, an fs_store_t *): the check of this branch,
 * until session auth (h-core) replaces it. */
void fs_admin_stream_auth_key(void *store, struct evhttp_request *req,
                              fs_admin_auth_done_fn done, void *ctx);

/* The process's hub: subscribes on queue (may be NULL: the stream then only
 * sends keep-alives). Call before the loops run; free after they stopped. */
fs_admin_hub_t *fs_admin_hub_new(struct fs_queue *queue);
void fs_admin_hub_free(fs_admin_hub_t *hub);

/* One loop thread's stream clients. Made on the main thread before the loop
 * runs; freed after it stopped. */
fs_admin_stream_t *fs_admin_stream_new(fs_admin_hub_t *hub, struct event_base *base,
                                       fs_admin_auth_fn auth, void *auth_arg);
void fs_admin_stream_free(fs_admin_stream_t *st);

/* Answers GET /admin/api/stream (true); false for any other path. */
bool fs_admin_stream_handle(fs_admin_stream_t *st, struct evhttp_request *req,
                            const char *path);

/* Drain: each client gets a last "event: end" and its response ends. */
void fs_admin_stream_close_all(fs_admin_stream_t *st);

/* Clients open on this loop. */
int fs_admin_stream_clients(const fs_admin_stream_t *st);

/* The worker's side: a live publisher on queue (core NATS, fire and forget).
 * fs_admin_live_publish_events sends the JSON array text of the events one
 * indexer run took; fs_admin_live_publish_status the breaker's state. Both
 * return at once and drop the message when the broker is away. */
void fs_admin_live_publish_events(struct fs_queue *queue, const char *json, size_t len);
void fs_admin_live_publish_status(struct fs_queue *queue, const char *json, size_t len);

/* The worker's ear for FS_ADMIN_LIVE_SUBJECT_WATCHING: fs_admin_live_watched
 * is true while a server announced a watcher within
 * FS_ADMIN_LIVE_WATCH_TTL_MS (any thread). NULL queue: never watched. */
typedef struct fs_admin_live_watch fs_admin_live_watch_t;
fs_admin_live_watch_t *fs_admin_live_watch_new(struct fs_queue *queue);
bool fs_admin_live_watched(fs_admin_live_watch_t *watch);
void fs_admin_live_watch_free(fs_admin_live_watch_t *watch);

#endif
