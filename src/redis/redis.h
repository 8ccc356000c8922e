/*
 * redis.h: the connection to Redis, through hiredis' asynchronous API on the
 * caller's libevent loop (one fs_redis_t per loop; it is not thread-safe).
 *
 * Redis is a cache and a coordinator here, never the source of truth: it may
 * lose what it holds (a restart after an fsync-every-second append-only file,
 * FLUSHALL, an outage), and every caller must stay correct when a command
 * fails. So a command never blocks and never waits long: each has a timeout
 * (FINSYS_REDIS_TIMEOUT_MS); when Redis is not connected, is reconnecting, or
 * answers late, the callback gets FS_REDIS_UNAVAILABLE. A Redis that keeps
 * answering late (stopped with SIGSTOP, say) has its connection dropped and
 * made again, with back-off, without a restart of FinSys.
 *
 * Scripts (Lua) are registered as static fs_redis_script_t values and run
 * with fs_redis_eval: the first run on a connection sends the source (EVAL)
 * and loads it (SCRIPT LOAD); later runs send only its SHA1 (EVALSHA). After
 * a restart of Redis forgot it (NOSCRIPT), the source is sent again.
 *
 * Only IP addresses are accepted in the URL: a host name would be resolved
 * with a blocking lookup on the loop. A password in the URL is sent with
 * AUTH as each connection's first command. TLS is not supported: hiredis
 * 0.14, Debian 12's, has none (docs/operations.md "Redis").
 */
#ifndef FS_REDIS_H
#define FS_REDIS_H

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>

#include "../core/limits.h"

typedef enum {
    FS_REDIS_OK = 0,
    /* Not connected, no answer within the timeout, the connection lost, or
     * FS_REDIS_PENDING_MAX commands already waiting: nothing is known of
     * whether the command ran. */
    FS_REDIS_UNAVAILABLE = -1,
    /* Redis answered with an error reply (reply holds it). */
    FS_REDIS_ERROR = -2,
} fs_redis_status_t;

typedef struct fs_redis fs_redis_t;

/* reply is valid only during the callback; NULL unless st is FS_REDIS_OK or
 * FS_REDIS_ERROR. Called exactly once per command, on the loop's thread,
 * never before the call that queued it has returned. */
typedef void (*fs_redis_cb)(void *arg, fs_redis_status_t st, const redisReply *reply);

/* A Lua script. name is for logs; source is the script. Define as static
 * const in the module that owns it: fs_redis_t keeps each script's SHA1. */
typedef struct {
    const char *name;
    const char *source;
} fs_redis_script_t;

/* A Redis URL, parsed: redis://[[USER]:PASSWORD@]IP[:PORT] (default port
 * 6379; USER and PASSWORD percent-encoded). With a password every
 * connection's first command is AUTH (with the user: Redis 6 ACLs).
 * rediss://...[?name=HOST] is the same over TLS (tls.c), the certificate
 * verified for the IP address, or for HOST (also sent as SNI). */
typedef struct {
    char ip[64];
    int port;
    char user[FS_REDIS_USER_LEN_MAX + 1];         /* "": the default user */
    char password[FS_REDIS_PASSWORD_LEN_MAX + 1]; /* "": no AUTH */
    bool tls;
    char tls_name[FS_REDIS_TLS_NAME_LEN_MAX + 1]; /* "": verified for ip */
} fs_redis_url_t;

/* rediss://: the path of the process's TLS bridge's Unix socket (started at
 * the first call, on a thread of its own; one Redis a process), which
 * hiredis connects to instead of u's address. The peer's certificate is
 * verified against the system's CAs and FINSYS_REDIS_CA_FILE's. False with
 * a sentence in err. */
bool fs_redis_tls_socket(const fs_redis_url_t *u, char *path, size_t path_len, char *err,
                         size_t err_len);

/* Parses url into *out; false with a sentence in err otherwise (the URL in
 * it with its credentials left out: errors are logged). */
bool fs_redis_url_parse(const char *url, fs_redis_url_t *out, char *err, size_t err_len);

/* fs_redis_url_parse, for callers that need only the address: fills ip (at
 * least 46 bytes) and *port. */
bool fs_redis_parse_url(const char *url, char *ip, size_t ip_len, int *port, char *err,
                        size_t err_len);

/* Connects (in the background: the first commands may find it not yet
 * connected) and keeps connecting. url must pass fs_redis_parse_url. */
fs_redis_t *fs_redis_new(struct event_base *base, const char *url, int timeout_ms);

/* Frees it; commands still waiting get FS_REDIS_UNAVAILABLE first. NULL is a
 * no-op. */
void fs_redis_free(fs_redis_t *r);

/* True while connected (commands may still time out). */
bool fs_redis_connected(const fs_redis_t *r);

/* Sends a command (argv[0] is its name; argvlen may be NULL for C strings).
 * A NULL r (no Redis configured) answers FS_REDIS_UNAVAILABLE like a Redis
 * that is down, but at once, inside this call. */
void fs_redis_command(fs_redis_t *r, fs_redis_cb cb, void *arg, int argc, const char *const *argv,
                      const size_t *argvlen);

/* Runs a script with nkeys KEYS followed by ARGV: argv holds the keys, then
 * the arguments (argc in all). */
void fs_redis_eval(fs_redis_t *r, const fs_redis_script_t *script, fs_redis_cb cb, void *arg,
                   int nkeys, int argc, const char *const *argv, const size_t *argvlen);

/* A script's SHA1 as Redis names it: 40 hex digits. */
#define FS_REDIS_SHA_HEX_LEN 40

/* What a reply means to a caller (the rule every command's answer follows;
 * pure, so that fuzz/fuzz_redis_reply.c can feed it whatever a reader makes
 * of hostile bytes): NULL (the connection went) is FS_REDIS_UNAVAILABLE, an
 * error reply FS_REDIS_ERROR, anything else FS_REDIS_OK. *noscript (when not
 * NULL) tells whether the error says Redis forgot a script (NOSCRIPT), so
 * that its source is sent again. */
fs_redis_status_t fs_redis_reply_status(const redisReply *reply, bool *noscript);

/* SCRIPT LOAD's answer: true, and its 40 hex digits and a NUL in sha
 * (FS_REDIS_SHA_HEX_LEN + 1 bytes), when reply is a string of exactly that;
 * false and sha untouched otherwise. */
bool fs_redis_reply_sha(const redisReply *reply, char *sha);

/* A blocking connection for the command line and tools (never on a loop):
 * connect and every command time out after timeout_ms. NULL and a sentence
 * in err on failure. Free with redisFree. */
redisContext *fs_redis_connect_blocking(const char *url, int timeout_ms, char *err,
                                        size_t err_len);

#endif
