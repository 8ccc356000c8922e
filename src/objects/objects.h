/*
 * objects.h: the object store, where documents (receipts) live.
 *
 * The design puts documents in S3; an fs_objects_t is any store behind an
 * ops struct. Two are implemented: a folder (objects.c, FINSYS_OBJECTS_DIR,
 * the default), which keeps each object as a file under a root directory,
 * and S3 or any S3-compatible store (s3.c, FINSYS_OBJECTS_URL=s3://...; see
 * "S3" below). The folder store's put is durable and atomic: the
 * bytes go to a temporary file in the object's directory, which is fsynced,
 * renamed over the key's file, and the directory fsynced, so a reader sees
 * the old object or the new one, whole, and a crash after put returned
 * loses nothing.
 *
 * Keys are relative paths of segments of [A-Za-z0-9_.-], separated by
 * single slashes; no segment is empty, "." or "..", or starts with a dot
 * (temporary files do), and at most FS_OBJECT_KEY_LEN_MAX bytes: a key can
 * never name anything outside the root.
 *
 * fs_objects_put and fs_objects_get BLOCK on the disk: never call them on an
 * event loop thread. A loop uses an fs_objects_io_t, whose thread does the
 * blocking part and hands the result back to the loop.
 */
#ifndef FS_OBJECTS_H
#define FS_OBJECTS_H

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>

#include "../core/limits.h"

typedef enum {
    FS_OBJECTS_OK = 0,
    FS_OBJECTS_NOT_FOUND,   /* no object under the key */
    FS_OBJECTS_TOO_LARGE,   /* larger than FS_OBJECT_BYTES_MAX */
    FS_OBJECTS_BAD_KEY,     /* the key breaks the rules above */
    FS_OBJECTS_IO_ERROR,    /* the disk refused (logged with errno) */
    FS_OBJECTS_UNAVAILABLE, /* fs_objects_io_t freed before the work was done */
    FS_OBJECTS_UNREACHABLE, /* the store did not answer, or answered 5xx/throttled, through
                             * every retry (S3): transient, a 503 to an API client */
} fs_objects_status_t;

/* One object of a list: its key (relative to the store's root or prefix)
 * and size. Return 0 to go on, anything else to stop the list there. */
typedef int (*fs_objects_list_cb)(void *arg, const char *key, size_t len);

typedef struct fs_objects fs_objects_t;

/* One object of fs_objects_put_many. */
typedef struct fs_objects_put {
    const char *key;
    const void *data;
    size_t len;
} fs_objects_put_t;

/* A store's implementation. Each function may be called from any thread at
 * once: an implementation keeps no state that calls share. */
typedef struct {
    fs_objects_status_t (*put)(fs_objects_t *store, const char *key, const void *data,
                               size_t len);
    /* On FS_OBJECTS_OK, *data is a new malloc'd buffer of *len bytes plus a
     * terminating NUL (not counted), which the caller frees. */
    fs_objects_status_t (*get)(fs_objects_t *store, const char *key, char **data, size_t *len);
    void (*close)(fs_objects_t *store);
    /* Optional: n puts at once (checked keys and sizes), each with its own
     * status in out[i], as if put one by one; a store that can make them
     * durable together (one flush for all) does it here. NULL: put each. */
    void (*put_many)(fs_objects_t *store, size_t n, const struct fs_objects_put *puts,
                     fs_objects_status_t *out);
    /* Streaming (exports): a writer whose bytes become the object only at
     * commit, and a read of an object of any size as an open fd. */
    struct fs_objects_writer *(*writer_open)(fs_objects_t *store, const char *key,
                                             fs_objects_status_t *status);
    fs_objects_status_t (*writer_write)(struct fs_objects_writer *w, const void *data, size_t len);
    fs_objects_status_t (*writer_commit)(struct fs_objects_writer *w);
    void (*writer_abort)(struct fs_objects_writer *w);
    fs_objects_status_t (*open_read)(fs_objects_t *store, const char *key, int *fd, size_t *len);
    /* The archive job's and operators' needs (issue 15): an object's size
     * without its bytes; bytes [offset, offset + want) of it (fewer at its
     * end; the same NUL-terminated malloc'd buffer as get); the keys under a
     * prefix in byte order (the folder store lists files, S3 ListObjectsV2
     * page by page); and a delete (of a missing key too: OK). */
    fs_objects_status_t (*head)(fs_objects_t *store, const char *key, size_t *len);
    fs_objects_status_t (*get_range)(fs_objects_t *store, const char *key, size_t offset,
                                     size_t want, char **data, size_t *len);
    fs_objects_status_t (*list)(fs_objects_t *store, const char *prefix, fs_objects_list_cb cb,
                                void *arg);
    fs_objects_status_t (*del)(fs_objects_t *store, const char *key);
} fs_objects_ops_t;

struct fs_objects {
    const fs_objects_ops_t *ops;
};

/* The filesystem store under dir, which is created (with its parents) if
 * missing. Returns NULL with err filled when dir cannot be made or used. */
fs_objects_t *fs_objects_open_dir(const char *dir, char *err, size_t err_len);

/* The store the configuration names: S3 when url (FINSYS_OBJECTS_URL) is
 * not empty, else the folder dir (FINSYS_OBJECTS_DIR). NULL with err filled
 * when it cannot be used (a bad URL, no credentials, a folder not made). */
fs_objects_t *fs_objects_open(const char *dir, const char *url, char *err, size_t err_len);

/* Blocking: see above. */
fs_objects_status_t fs_objects_put(fs_objects_t *store, const char *key, const void *data,
                                   size_t len);
fs_objects_status_t fs_objects_get(fs_objects_t *store, const char *key, char **data,
                                   size_t *len);
/* n puts (at most FS_OBJECTS_PUT_BATCH_MAX), out[i] the status of puts[i]:
 * each is as durable on return as fs_objects_put makes it, but the store may
 * pay for durability once for all of them. */
void fs_objects_put_many(fs_objects_t *store, size_t n, const fs_objects_put_t *puts,
                         fs_objects_status_t *out);
void fs_objects_close(fs_objects_t *store);

/* --- streaming (blocking too) ----------------------------------------- */

/* An object written in pieces, of any size (an export's CSV): the pieces go
 * to a temporary dot-file in the key's directory, and commit makes it the
 * object as fs_objects_put does (fsync, rename, fsync of the directory):
 * atomic and durable. Until commit no reader sees any of it; abort (or a
 * crash: the dot-file is left, never named by a key) throws it away. Only
 * the caller's chunk is in memory at any time. */
typedef struct fs_objects_writer fs_objects_writer_t;

/* NULL with *status set when the key is bad or the file cannot be made. */
fs_objects_writer_t *fs_objects_writer_open(fs_objects_t *store, const char *key,
                                            fs_objects_status_t *status);
fs_objects_status_t fs_objects_writer_write(fs_objects_writer_t *w, const void *data, size_t len);
/* Commit and abort free w, whatever they return. */
fs_objects_status_t fs_objects_writer_commit(fs_objects_writer_t *w);
void fs_objects_writer_abort(fs_objects_writer_t *w);

/* Opens the object under key for reading, of any size: *fd (the caller
 * closes it) and its size. */
fs_objects_status_t fs_objects_open_read(fs_objects_t *store, const char *key, int *fd,
                                         size_t *len);

/* The size of the object under key (FS_OBJECTS_NOT_FOUND: none). */
fs_objects_status_t fs_objects_head(fs_objects_t *store, const char *key, size_t *len);
/* Bytes [offset, offset + want) of the object, want at most
 * FS_OBJECT_BYTES_MAX; *len fewer at its end (0 past it). */
fs_objects_status_t fs_objects_get_range(fs_objects_t *store, const char *key, size_t offset,
                                         size_t want, char **data, size_t *len);
/* Calls cb with every object whose key starts with prefix ("" for all; a
 * prefix need not end at a slash), in byte order of the keys. */
fs_objects_status_t fs_objects_list(fs_objects_t *store, const char *prefix,
                                    fs_objects_list_cb cb, void *arg);
/* Removes the object under key; removing a missing one is FS_OBJECTS_OK. */
fs_objects_status_t fs_objects_delete(fs_objects_t *store, const char *key);

/* Whether key follows the rules above. */
bool fs_objects_key_is_valid(const char *key);

const char *fs_objects_status_name(fs_objects_status_t status);

/* --- S3 (s3.c) --------------------------------------------------------- */

/* FINSYS_OBJECTS_URL=s3://BUCKET[/PREFIX][?endpoint=URL&region=R], parsed.
 * Objects are at PREFIX/KEY in BUCKET. Without endpoint, AWS: virtual-hosted
 * https://BUCKET.s3.REGION.amazonaws.com/KEY (path-style
 * https://s3.REGION.amazonaws.com/BUCKET/KEY for a bucket with a dot, which
 * a wildcard certificate does not cover). With endpoint (an S3-compatible
 * store: MinIO, Ceph, s3rver, ...), path-style ENDPOINT/BUCKET/KEY, which
 * every such store serves. The region is region=, else AWS_REGION, else
 * AWS_DEFAULT_REGION; with an endpoint and none of them, us-east-1. */
typedef struct {
    char bucket[64];          /* S3's rules: 3 to 63 of [a-z0-9.-] */
    char prefix[FS_OBJECT_KEY_LEN_MAX + 2]; /* "" or segments ending in "/" */
    char base[320];           /* the URL an object's path follows, no slash at its end */
    char region[64];
    bool path_style;          /* base ends with /BUCKET */
} fs_s3_url_t;

/* 0, or -1 with err naming what is wrong. Reads AWS_REGION and
 * AWS_DEFAULT_REGION when the URL names no region. */
int fs_s3_url_parse(const char *url, fs_s3_url_t *out, char *err, size_t err_len);

/* One page of a ListObjectsV2 answer: cb gets each <Contents>'s Key (the
 * XML entities decoded) and Size; *truncated is <IsTruncated>, and token
 * (token_len bytes) the <NextContinuationToken> (empty without one). -1 for
 * an answer that is not such a page (or has a key longer than
 * FS_OBJECT_KEY_LEN_MAX plus the prefix, or a bad entity): the list fails
 * rather than guesses. cb's non-zero return stops it (returns 1). */
int fs_s3_list_parse(const char *xml, size_t len, fs_objects_list_cb cb, void *arg,
                     bool *truncated, char *token, size_t token_len);

/* The S3 store. Credentials from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
 * and AWS_SESSION_TOKEN (optional), read here once. NULL with err filled
 * when the URL or the credentials are not usable. No request is made. */
fs_objects_t *fs_objects_open_s3(const char *url, char *err, size_t err_len);

/* Tests only: list pages of this many keys (max-keys) instead of S3's
 * 1,000, so that a few objects take several pages. */
void fs_objects_s3_set_page_keys(fs_objects_t *store, int keys);

/* --- off the loop ----------------------------------------------------- */

typedef struct fs_objects_io fs_objects_io_t;

/* The result of a put (data NULL) or a get (on FS_OBJECTS_OK, data is a
 * malloc'd buffer that the callback owns and frees). Called on the loop's
 * thread. */
typedef void (*fs_objects_cb)(void *arg, fs_objects_status_t status, char *data, size_t len);

/* One thread doing store's blocking calls for the loop of base. The store
 * must outlive it. */
fs_objects_io_t *fs_objects_io_new(struct event_base *base, fs_objects_t *store);

/* Queues a put of len bytes of data (copied) or a get. Returns 0, or -1 when
 * FS_OBJECTS_IO_QUEUE_MAX are queued already: then cb is never called. */
int fs_objects_io_put(fs_objects_io_t *io, const char *key, const void *data, size_t len,
                      fs_objects_cb cb, void *arg);
int fs_objects_io_get(fs_objects_io_t *io, const char *key, fs_objects_cb cb, void *arg);

/* Opens a large object for the loop to send without reading it into memory
 * (an export's download): the thread opens it and computes its SHA-256 (the
 * whole file read in chunks, off the loop), and cb gets the open fd (the
 * callback owns it; -1 unless FS_OBJECTS_OK), its size and the hex hash. */
typedef void (*fs_objects_open_cb)(void *arg, fs_objects_status_t status, int fd, size_t len,
                                   const char *sha256_hex);
int fs_objects_io_open(fs_objects_io_t *io, const char *key, fs_objects_open_cb cb, void *arg);

/* Between cork and uncork, queued jobs wait: the thread then finds them all
 * at once, and makes the puts among them durable together (a put queued
 * alone while the rest are still being queued would cost a flush of its
 * own). The loop's thread only. */
void fs_objects_io_cork(fs_objects_io_t *io);
void fs_objects_io_uncork(fs_objects_io_t *io);

/* True when nothing is queued, running or waiting for its callback. */
bool fs_objects_io_idle(const fs_objects_io_t *io);

/* Stops the thread after the call it is making. Results not yet delivered
 * are delivered now, and what was still queued gets FS_OBJECTS_UNAVAILABLE,
 * from this call (on the caller's thread, which must be the loop's or the
 * loop must have stopped). */
void fs_objects_io_free(fs_objects_io_t *io);

#endif
