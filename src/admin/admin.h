/*
 * admin.h: the admin console's API (docs/console.md): its routes in one
 * table, staff roles, the item each route's request becomes, the
 * per-thread limiter of /admin/api, and the hashing thread that keeps
 * argon2id off the event loops.
 *
 * Routing is two pure steps around the server's I/O: fs_admin_match() finds
 * the route of a method and path (404 or 405 otherwise); the server then
 * authenticates the request (session cookie or admin API key), checks the
 * route's minimum role (fs_admin_role_allows) and, for a cookie's write, the
 * CSRF token; fs_admin_build() checks the query and body and builds the
 * operation item that the store executes (db/functions/admin.sql,
 * db/functions/batch.sql), with the actor in it. Neither does I/O, so the
 * unit tests (tests/unit/test_admin.c) walk the table and a fuzz target can
 * drive them. A rejected request has touched nothing.
 *
 * Everything here but the hasher is reentrant and allocates only the item.
 *
 * Also the console's static files (static.c) and its live stream (stream.c),
 * in the section at the end.
 */
#ifndef FS_ADMIN_H
#define FS_ADMIN_H

#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../api/api.h"
#include "../core/core.h"

/* Roles, each with everything of the one before. FS_ROLE_NONE: a route
 * anyone may call (the login). */
typedef enum {
    FS_ROLE_NONE,
    FS_ROLE_VIEWER,
    FS_ROLE_SUPPORT,
    FS_ROLE_FINANCE,
    FS_ROLE_ADMIN,
} fs_role_t;

/* "viewer", ... ("none" for FS_ROLE_NONE). */
const char *fs_admin_role_name(fs_role_t role);
/* The role named name, or FS_ROLE_NONE when it names none. */
fs_role_t fs_admin_role_parse(const char *name);
/* True when scope is an API key's scope (db/migrations/0030_operator_
 * authority.sql): "tenant", or an operator key's "operator:<role>". */
bool fs_admin_scope_valid(const char *scope);
/* True when role may call a route whose minimum is min. */
bool fs_admin_role_allows(fs_role_t role, fs_role_t min);

/* What the server does with a route once its request is let in. */
typedef enum {
    FS_ADMIN_LOGIN,        /* POST /admin/api/session: no actor; checks the password */
    FS_ADMIN_SESSION_GET,  /* GET /admin/api/session: the session's object */
    FS_ADMIN_LOGOUT,       /* DELETE /admin/api/session: item, then clear the cookie */
    FS_ADMIN_STORE,        /* execute the item; the op decides the rest (src/op) */
    FS_ADMIN_RECEIPT,      /* the item names a receipt's object: read it, answer HTML */
    FS_ADMIN_KEY_CREATE,   /* a new key's hash in the item: answer with the secret (create,
                              rotate) */
    FS_ADMIN_STAFF_CREATE, /* hash the generated password off the loop, then execute */
    FS_ADMIN_STREAM,       /* GET /admin/api/stream: Server-Sent Events (h-stream's) */
} fs_admin_kind_t;

typedef struct fs_admin_call fs_admin_call_t;

/* One route of the table. */
typedef struct {
    fs_method_t method;
    const char *path; /* template: "/admin/api/payments/{id}/refunds" */
    fs_role_t min_role;
    bool writes; /* changes state: a cookie's request needs X-CSRF-Token */
    fs_admin_kind_t kind;
    /* Builds the item (FS_ADMIN_STORE and the others that have one). */
    bool (*build)(const fs_admin_call_t *call, json_t *item, fs_error_t *err);
    const char *fn; /* an admin_read's function (fs_admin_<fn>), or NULL */
    /* Query parameters the route takes (GET), NULL-terminated; NULL: none. */
    const char *const *params;
} fs_admin_route_t;

/* The table, in order (at most FS_ADMIN_ROUTES_MAX); *count gets its length. */
const fs_admin_route_t *fs_admin_routes(size_t *count);

/* The actor of a request, as the server authenticated it. */
typedef struct {
    char id[FS_ID_LEN_MAX + 1];             /* stf_... or key_... */
    char email[FS_ADMIN_EMAIL_LEN_MAX + 1]; /* "" for a key */
    fs_role_t role;
    bool key; /* an operator key (reason optional on the old routes); its role
                 is its scope's (db/migrations/0030_operator_authority.sql) */
} fs_admin_actor_t;

/* Finds the route of method and path. Returns its index in the table, or -1
 * with err set (404, or 405 with *allow set to the Allow header). id gets the
 * path's {id} ("" when the route has none). */
int fs_admin_match(fs_method_t method, const char *path, char id[FS_ID_LEN_MAX + 1],
                   const char **allow, fs_error_t *err);

/* The template of path's route, or "other": for logs and metrics. */
const char *fs_admin_route_template(const char *path);

/* True when path is the admin API's (starts with /admin/api/ or is
 * /admin/api). */
bool fs_admin_is_admin_path(const char *path);

struct fs_admin_call {
    const fs_admin_route_t *route;
    const char *id;     /* the path's {id} */
    const char *query;  /* raw query string, or NULL */
    const json_t *body; /* parsed JSON body (POST), or NULL */
    const fs_admin_actor_t *actor;
};

/* Checks the request of a matched route and builds its item (a new
 * reference the caller owns, in *item, with "actor") or fails with err.
 * query: the raw query; body/body_len: the raw body. */
bool fs_admin_build(int route, const char *id, const char *query, const char *body, size_t body_len,
                    const fs_admin_actor_t *actor, json_t **item, fs_error_t *err);

/* True when a route's write honours an Idempotency-Key (docs/console.md):
 * every write but the session's own (login, logout). */
bool fs_admin_route_idempotent(const fs_admin_route_t *route);

/* The fingerprint of an admin write's item (before the server adds what it
 * makes itself: a key's hash, a password's hash, a lock's fence), scoped to
 * the actor and the request's path: the same Idempotency-Key from another
 * actor, on another path or with another body never matches. Generated ids
 * ("id"), the request id and the actor's object (its role may change) are
 * left out. */
void fs_admin_fingerprint(const json_t *item, const char *actor_id, const char *path,
                          char hex[65]);

/* The login's body: email (lower-cased into email) and password (copied). */
bool fs_admin_parse_login(const char *body, size_t body_len, char email[FS_ADMIN_EMAIL_LEN_MAX + 1],
                          char password[FS_ADMIN_PASSWORD_LEN_MAX + 1], fs_error_t *err);

/* The value of cookie name in a Cookie header, copied into out (at most
 * out_len - 1 bytes); false when absent or too long. */
bool fs_admin_cookie(const char *header, const char *name, char *out, size_t out_len);

/* A new random token (FS_ADMIN_TOKEN_BYTES, base64url without padding) in
 * out (FS_ADMIN_TOKEN_LEN + 1 bytes), and the hex SHA-256 of a token. */
void fs_admin_token_new(char out[FS_ADMIN_TOKEN_LEN + 1]);
void fs_admin_token_hash(const char *token, char hex[65]);

/* A generated password of FS_ADMIN_PASSWORD_GEN_LEN base62 characters. */
void fs_admin_password_new(char out[FS_ADMIN_PASSWORD_GEN_LEN + 1]);

/* Constant-time comparison of two NUL-terminated strings. */
bool fs_admin_equal(const char *a, const char *b);

/* --- the limiter of /admin/api ----------------------------------------- */

/* A fixed window per key (an address, an actor's id): at most
 * FS_ADMIN_RATE_PER_MIN requests a minute. One per server thread. */
typedef struct {
    uint64_t hash[FS_ADMIN_RATE_SLOTS];
    uint64_t window[FS_ADMIN_RATE_SLOTS];
    uint32_t count[FS_ADMIN_RATE_SLOTS];
} fs_admin_limiter_t;

/* Counts a request of key at now_s; true when it is within the limit.
 * *retry_after_s gets the seconds to the next window when not. */
bool fs_admin_limit(fs_admin_limiter_t *l, const char *key, uint64_t now_s, int *retry_after_s);

/* --- the hashing thread ------------------------------------------------ */

typedef struct fs_admin_hasher fs_admin_hasher_t;

/* ok: verify's result, or whether hash succeeded; hash: the new hash
 * (hash jobs; valid during the call). */
typedef void (*fs_admin_hash_cb)(void *arg, bool ok, const char *hash);

/* A thread of its own that runs libsodium's crypto_pwhash_str(_verify) and
 * calls back on base's loop. */
fs_admin_hasher_t *fs_admin_hasher_new(struct event_base *base);
/* Stops the thread; jobs not done are called back with ok false. */
void fs_admin_hasher_free(fs_admin_hasher_t *h);
bool fs_admin_hasher_idle(const fs_admin_hasher_t *h);
/* Verifies password against hash (NULL hash: a dummy, so that an unknown
 * email takes as long as a known one). Returns -1 (cb never called) when
 * FS_ADMIN_HASH_QUEUE_MAX jobs wait. */
int fs_admin_hasher_verify(fs_admin_hasher_t *h, const char *hash, const char *password,
                           fs_admin_hash_cb cb, void *arg);
/* Hashes password (argon2id, libsodium's interactive limits). */
int fs_admin_hasher_hash(fs_admin_hasher_t *h, const char *password, fs_admin_hash_cb cb,
                         void *arg);

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

/* The process's hub: subscribes on queue (may be NULL: the stream then only
 * sends keep-alives). Call before the loops run; free after they stopped. */
fs_admin_hub_t *fs_admin_hub_new(struct fs_queue *queue);
void fs_admin_hub_free(fs_admin_hub_t *hub);

/* One loop thread's stream clients. Made on the main thread before the loop
 * runs; freed after it stopped. */
fs_admin_stream_t *fs_admin_stream_new(fs_admin_hub_t *hub, struct event_base *base);
void fs_admin_stream_free(fs_admin_stream_t *st);

/* What a stream was opened with: a session (the hash of its cookie's
 * token) or an operator key (the hash of the key). */
typedef struct {
    bool cookie;
    char hash[65];
} fs_admin_credential_t;

/* A stream's credential is asked about again every
 * FS_ADMIN_STREAM_RECHECK_MS (issue 13: a revoked key, a disabled member, an
 * ended session loses its stream within seconds, not at the next
 * reauthentication). The server asks (its store, on this loop) and answers
 * through fs_admin_stream_checked with the client's serial. Without a check
 * function, streams end only at FS_ADMIN_STREAM_REAUTH_S. */
typedef void (*fs_admin_stream_check_fn)(void *arg, fs_admin_stream_t *st, uint64_t serial,
                                         const fs_admin_credential_t *cred);
void fs_admin_stream_set_check(fs_admin_stream_t *st, fs_admin_stream_check_fn fn, void *arg);

/* Answers GET /admin/api/stream: req becomes a client of this loop (or is
 * refused over the stream's limits). The caller has authenticated it with
 * cred and checked its role (the route table's FS_ADMIN_STREAM route). */
void fs_admin_stream_start(fs_admin_stream_t *st, struct evhttp_request *req,
                           const fs_admin_credential_t *cred);

/* A check's answer (on the loop): still_valid false ends the client's
 * stream with "event: end", reason "unauthorized"; a client gone meanwhile
 * is not found and nothing happens. */
void fs_admin_stream_checked(fs_admin_stream_t *st, uint64_t serial, bool still_valid);

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
