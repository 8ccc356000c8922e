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
 */
#ifndef FS_ADMIN_H
#define FS_ADMIN_H

#include <event2/event.h>
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
/* True when role may call a route whose minimum is min. */
bool fs_admin_role_allows(fs_role_t role, fs_role_t min);

/* What the server does with a route once its request is let in. */
typedef enum {
    FS_ADMIN_LOGIN,        /* POST /admin/api/session: no actor; checks the password */
    FS_ADMIN_SESSION_GET,  /* GET /admin/api/session: the session's object */
    FS_ADMIN_LOGOUT,       /* DELETE /admin/api/session: item, then clear the cookie */
    FS_ADMIN_STORE,        /* execute the item; the op decides the rest (src/op) */
    FS_ADMIN_RECEIPT,      /* the item names a receipt's object: read it, answer HTML */
    FS_ADMIN_KEY_CREATE,   /* the item holds a new key's hash: answer with the secret */
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

/* The table, in order; *count gets its length. */
const fs_admin_route_t *fs_admin_routes(size_t *count);

/* The actor of a request, as the server authenticated it. */
typedef struct {
    char id[FS_ID_LEN_MAX + 1];             /* stf_... or key_... */
    char email[FS_ADMIN_EMAIL_LEN_MAX + 1]; /* "" for a key */
    fs_role_t role;
    bool key; /* an admin API key (reason optional on the old routes) */
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

#endif
