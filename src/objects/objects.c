/*
 * objects.c: the object store's filesystem implementation and key rules
 * (see objects.h). Everything here blocks; none of it runs on a loop.
 */
#define _GNU_SOURCE
#include "objects.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/core.h"

typedef struct {
    fs_objects_t base; /* first: the ops */
    char root[PATH_MAX];
} dir_store_t;

bool fs_objects_key_is_valid(const char *key)
{
    size_t len = key != NULL ? strlen(key) : 0;
    if (len == 0 || len > FS_OBJECT_KEY_LEN_MAX) return false;
    const char *seg = key;
    for (const char *c = key;; c++) {
        if (*c == '/' || *c == '\0') {
            /* The segment [seg, c): not empty, not starting with a dot (so
             * neither "." nor ".." nor a temporary file's name). */
            if (c == seg || *seg == '.') return false;
            if (*c == '\0') return true;
            seg = c + 1;
            continue;
        }
        bool ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z')
                  || (*c >= '0' && *c <= '9') || *c == '_' || *c == '-' || *c == '.';
        if (!ok) return false;
    }
}

const char *fs_objects_status_name(fs_objects_status_t s)
{
    switch (s) {
    case FS_OBJECTS_OK:
        return "ok";
    case FS_OBJECTS_NOT_FOUND:
        return "not_found";
    case FS_OBJECTS_TOO_LARGE:
        return "too_large";
    case FS_OBJECTS_BAD_KEY:
        return "bad_key";
    case FS_OBJECTS_IO_ERROR:
        return "io_error";
    case FS_OBJECTS_UNAVAILABLE:
        return "unavailable";
    case FS_OBJECTS_UNREACHABLE:
        return "unreachable";
    }
    return "unknown";
}

/* mkdir -p of path's first len bytes. */
static int make_dirs(char *path, size_t len)
{
    for (size_t i = 1; i <= len; i++) {
        if (i < len && path[i] != '/') continue;
        char saved = path[i];
        path[i] = '\0';
        int rc = mkdir(path, 0755);
        path[i] = saved;
        if (rc != 0 && errno != EEXIST) return -1;
    }
    return 0;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static int write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

static fs_objects_status_t io_error(const char *what, const char *path)
{
    fs_log(FS_LOG_ERROR, "objects", "%s %s: %s", what, path, strerror(errno));
    return FS_OBJECTS_IO_ERROR;
}

static fs_objects_status_t dir_put(fs_objects_t *store, const char *key, const void *data,
                                   size_t len)
{
    dir_store_t *s = (dir_store_t *)store;
    char path[PATH_MAX], tmp[PATH_MAX];
    if (snprintf(path, sizeof(path), "%s/%s", s->root, key) >= (int)sizeof(path)) {
        return FS_OBJECTS_BAD_KEY; /* open_dir leaves room: never */
    }
    char *slash = strrchr(path, '/');
    FS_ASSERT(slash != NULL);
    *slash = '\0';
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", path);
    *slash = '/';
    if (make_dirs(dir, strlen(dir)) != 0) return io_error("mkdir", dir);
    /* A dot-name: no valid key can collide with it. */
    char rnd[17];
    fs_random_base62(rnd, 16);
    rnd[16] = '\0';
    if (snprintf(tmp, sizeof(tmp), "%s/.%s.%s.tmp", dir, slash + 1, rnd) >= (int)sizeof(tmp)) {
        return FS_OBJECTS_BAD_KEY;
    }

    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return io_error("create", tmp);
    if (write_all(fd, data, len) != 0 || fsync(fd) != 0) {
        fs_objects_status_t st = io_error("write", tmp);
        close(fd);
        unlink(tmp);
        return st;
    }
    if (close(fd) != 0) {
        fs_objects_status_t st = io_error("close", tmp);
        unlink(tmp);
        return st;
    }
    if (rename(tmp, path) != 0) {
        fs_objects_status_t st = io_error("rename to", path);
        unlink(tmp);
        return st;
    }
    /* The rename itself is durable once the directory is. */
    if (fsync_dir(dir) != 0) return io_error("fsync", dir);
    return FS_OBJECTS_OK;
}

static fs_objects_status_t dir_get(fs_objects_t *store, const char *key, char **data,
                                   size_t *len)
{
    dir_store_t *s = (dir_store_t *)store;
    char path[PATH_MAX];
    if (snprintf(path, sizeof(path), "%s/%s", s->root, key) >= (int)sizeof(path)) {
        return FS_OBJECTS_BAD_KEY;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? FS_OBJECTS_NOT_FOUND : io_error("open", path);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        fs_objects_status_t rc = io_error("stat", path);
        close(fd);
        return rc;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > FS_OBJECT_BYTES_MAX) {
        close(fd);
        if (!S_ISREG(st.st_mode)) return FS_OBJECTS_NOT_FOUND;
        fs_log(FS_LOG_ERROR, "objects", "%s: %lld bytes, more than FS_OBJECT_BYTES_MAX", path,
               (long long)st.st_size);
        return FS_OBJECTS_TOO_LARGE;
    }
    size_t size = (size_t)st.st_size, got = 0;
    char *buf = malloc(size + 1);
    FS_ASSERT(buf != NULL);
    while (got < size) {
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            fs_objects_status_t rc = io_error("read", path);
            free(buf);
            close(fd);
            return rc;
        }
        if (n == 0) break; /* shorter than it was: what there is */
        got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    *data = buf;
    *len = got;
    return FS_OBJECTS_OK;
}

/* Several puts made durable together. Each object is written to its
 * temporary file as dir_put does, but the fsyncs come after all the writes:
 * the first makes the filesystem commit its journal with every file's data
 * (ext4 and xfs commit what is pending together), so the others find little
 * left to do; then the renames, and one fsync per distinct directory. Two
 * fsyncs a receipt were about 7 ms of waiting each on this machine's disk;
 * this is two flushes a batch. Each object still is fsynced before its
 * rename, and its directory after it: the same guarantee as dir_put. */
typedef struct {
    char path[PATH_MAX], tmp[PATH_MAX];
    size_t dir_len; /* path[0 .. dir_len) is its directory */
    int fd;
} pending_put_t;

static void dir_put_many(fs_objects_t *store, size_t n, const fs_objects_put_t *puts,
                         fs_objects_status_t *out)
{
    dir_store_t *s = (dir_store_t *)store;
    pending_put_t *p = calloc(n, sizeof(*p));
    FS_ASSERT(p != NULL);
    for (size_t i = 0; i < n; i++) {
        p[i].fd = -1;
        out[i] = FS_OBJECTS_OK;
        if (snprintf(p[i].path, sizeof(p[i].path), "%s/%s", s->root, puts[i].key)
            >= (int)sizeof(p[i].path)) {
            out[i] = FS_OBJECTS_BAD_KEY;
            continue;
        }
        char *slash = strrchr(p[i].path, '/');
        FS_ASSERT(slash != NULL);
        p[i].dir_len = (size_t)(slash - p[i].path);
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%.*s", (int)p[i].dir_len, p[i].path);
        if (make_dirs(dir, strlen(dir)) != 0) {
            out[i] = io_error("mkdir", dir);
            continue;
        }
        char rnd[17];
        fs_random_base62(rnd, 16);
        rnd[16] = '\0';
        if (snprintf(p[i].tmp, sizeof(p[i].tmp), "%s/.%s.%s.tmp", dir, slash + 1, rnd)
            >= (int)sizeof(p[i].tmp)) {
            out[i] = FS_OBJECTS_BAD_KEY;
            continue;
        }
        p[i].fd = open(p[i].tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (p[i].fd < 0) {
            out[i] = io_error("create", p[i].tmp);
            continue;
        }
        if (write_all(p[i].fd, puts[i].data, puts[i].len) != 0) out[i] = io_error("write", p[i].tmp);
    }
    for (size_t i = 0; i < n; i++) {
        if (p[i].fd < 0) continue;
        if (out[i] == FS_OBJECTS_OK && fsync(p[i].fd) != 0) out[i] = io_error("fsync", p[i].tmp);
        if (close(p[i].fd) != 0 && out[i] == FS_OBJECTS_OK) out[i] = io_error("close", p[i].tmp);
        if (out[i] == FS_OBJECTS_OK && rename(p[i].tmp, p[i].path) != 0)
            out[i] = io_error("rename to", p[i].path);
        if (out[i] != FS_OBJECTS_OK) unlink(p[i].tmp);
    }
    /* The renames are durable once their directories are: each once. */
    for (size_t i = 0; i < n; i++) {
        if (p[i].fd < 0 || out[i] != FS_OBJECTS_OK) continue;
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++) {
            seen = p[j].fd >= 0 && out[j] == FS_OBJECTS_OK && p[j].dir_len == p[i].dir_len
                   && memcmp(p[j].path, p[i].path, p[i].dir_len) == 0;
        }
        if (seen) continue;
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%.*s", (int)p[i].dir_len, p[i].path);
        if (fsync_dir(dir) != 0) {
            fs_objects_status_t st = io_error("fsync", dir);
            for (size_t j = i; j < n; j++) {
                if (p[j].fd >= 0 && out[j] == FS_OBJECTS_OK && p[j].dir_len == p[i].dir_len
                    && memcmp(p[j].path, p[i].path, p[i].dir_len) == 0)
                    out[j] = st;
            }
        }
    }
    free(p);
}

static void dir_close(fs_objects_t *store) { free(store); }

/* The streaming writer: dir_put in three steps. */
struct fs_objects_writer {
    fs_objects_t *store;
    char path[PATH_MAX], tmp[PATH_MAX];
    size_t dir_len;
    int fd;
};

static fs_objects_writer_t *dir_writer_open(fs_objects_t *store, const char *key,
                                            fs_objects_status_t *status)
{
    dir_store_t *s = (dir_store_t *)store;
    fs_objects_writer_t *w = calloc(1, sizeof(*w));
    FS_ASSERT(w != NULL);
    w->store = store;
    w->fd = -1;
    if (snprintf(w->path, sizeof(w->path), "%s/%s", s->root, key) >= (int)sizeof(w->path)) {
        *status = FS_OBJECTS_BAD_KEY;
        free(w);
        return NULL;
    }
    char *slash = strrchr(w->path, '/');
    FS_ASSERT(slash != NULL);
    w->dir_len = (size_t)(slash - w->path);
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%.*s", (int)w->dir_len, w->path);
    char rnd[17];
    fs_random_base62(rnd, 16);
    rnd[16] = '\0';
    if (make_dirs(dir, strlen(dir)) != 0) {
        *status = io_error("mkdir", dir);
    } else if (snprintf(w->tmp, sizeof(w->tmp), "%s/.%s.%s.tmp", dir, slash + 1, rnd) >=
               (int)sizeof(w->tmp)) {
        *status = FS_OBJECTS_BAD_KEY;
    } else if ((w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) < 0) {
        *status = io_error("create", w->tmp);
    } else {
        *status = FS_OBJECTS_OK;
        return w;
    }
    free(w);
    return NULL;
}

static fs_objects_status_t dir_writer_write(fs_objects_writer_t *w, const void *data, size_t len)
{
    return write_all(w->fd, data, len) == 0 ? FS_OBJECTS_OK : io_error("write", w->tmp);
}

static void dir_writer_abort(fs_objects_writer_t *w)
{
    if (w->fd >= 0) close(w->fd);
    unlink(w->tmp);
    free(w);
}

static fs_objects_status_t dir_writer_commit(fs_objects_writer_t *w)
{
    fs_objects_status_t st = FS_OBJECTS_OK;
    if (fsync(w->fd) != 0) st = io_error("fsync", w->tmp);
    int rc = close(w->fd);
    w->fd = -1;
    if (st == FS_OBJECTS_OK && rc != 0) st = io_error("close", w->tmp);
    if (st == FS_OBJECTS_OK && rename(w->tmp, w->path) != 0) st = io_error("rename to", w->path);
    if (st != FS_OBJECTS_OK) {
        dir_writer_abort(w);
        return st;
    }
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%.*s", (int)w->dir_len, w->path);
    if (fsync_dir(dir) != 0) st = io_error("fsync", dir);
    free(w);
    return st;
}

static fs_objects_status_t dir_open_read(fs_objects_t *store, const char *key, int *fd, size_t *len)
{
    dir_store_t *s = (dir_store_t *)store;
    char path[PATH_MAX];
    if (snprintf(path, sizeof(path), "%s/%s", s->root, key) >= (int)sizeof(path)) {
        return FS_OBJECTS_BAD_KEY;
    }
    int f = open(path, O_RDONLY | O_CLOEXEC);
    if (f < 0) return errno == ENOENT ? FS_OBJECTS_NOT_FOUND : io_error("open", path);
    struct stat st;
    if (fstat(f, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(f);
        return FS_OBJECTS_NOT_FOUND;
    }
    *fd = f;
    *len = (size_t)st.st_size;
    return FS_OBJECTS_OK;
}

static fs_objects_status_t dir_head(fs_objects_t *store, const char *key, size_t *len)
{
    dir_store_t *s = (dir_store_t *)store;
    char path[PATH_MAX];
    if (snprintf(path, sizeof(path), "%s/%s", s->root, key) >= (int)sizeof(path)) {
        return FS_OBJECTS_BAD_KEY;
    }
    struct stat st;
    if (stat(path, &st) != 0) return errno == ENOENT ? FS_OBJECTS_NOT_FOUND : io_error("stat", path);
    if (!S_ISREG(st.st_mode)) return FS_OBJECTS_NOT_FOUND;
    *len = (size_t)st.st_size;
    return FS_OBJECTS_OK;
}

static fs_objects_status_t dir_get_range(fs_objects_t *store, const char *key, size_t offset,
                                         size_t want, char **data, size_t *len)
{
    int fd;
    size_t size;
    fs_objects_status_t st = dir_open_read(store, key, &fd, &size);
    if (st != FS_OBJECTS_OK) return st;
    size_t n = offset >= size ? 0 : (size - offset < want ? size - offset : want), got = 0;
    char *buf = malloc(n + 1);
    FS_ASSERT(buf != NULL);
    while (got < n) {
        ssize_t r = pread(fd, buf + got, n - got, (off_t)(offset + got));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            st = io_error("read", key);
            free(buf);
            close(fd);
            return st;
        }
        if (r == 0) break;
        got += (size_t)r;
    }
    close(fd);
    buf[got] = '\0';
    *data = buf;
    *len = got;
    return FS_OBJECTS_OK;
}

/* The folder store's list: every regular file under the root whose key
 * starts with the prefix (dot-files, i.e. temporary ones, are no objects),
 * gathered, then sorted into S3's order. */
typedef struct {
    char *key;
    size_t size;
} listed_t;

typedef struct {
    listed_t *items;
    size_t n, cap;
} key_list_t;

static int walk(const char *root, char *rel, size_t rel_len, const char *prefix, key_list_t *out)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s%s%s", root, rel_len > 0 ? "/" : "", rel);
    DIR *d = opendir(path);
    if (d == NULL) return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        size_t nlen = strlen(e->d_name);
        if (rel_len + 1 + nlen > FS_OBJECT_KEY_LEN_MAX) continue; /* no key */
        size_t at = rel_len;
        if (at > 0) rel[at++] = '/';
        memcpy(rel + at, e->d_name, nlen + 1);
        size_t klen = at + nlen;
        /* Descend only where keys under the prefix may be. */
        size_t cmp = klen < strlen(prefix) ? klen : strlen(prefix);
        if (strncmp(rel, prefix, cmp) == 0) {
            char full[PATH_MAX];
            snprintf(full, sizeof(full), "%s/%s", root, rel);
            struct stat st;
            if (stat(full, &st) != 0) {
                /* gone meanwhile */
            } else if (S_ISDIR(st.st_mode)) {
                rc = walk(root, rel, klen, prefix, out);
            } else if (S_ISREG(st.st_mode) && klen >= strlen(prefix)
                       && fs_objects_key_is_valid(rel)) {
                if (out->n == out->cap) {
                    out->cap = out->cap == 0 ? 64 : out->cap * 2;
                    out->items = realloc(out->items, out->cap * sizeof(*out->items));
                    FS_ASSERT(out->items != NULL);
                }
                out->items[out->n].key = strdup(rel);
                FS_ASSERT(out->items[out->n].key != NULL);
                out->items[out->n++].size = (size_t)st.st_size;
            }
        }
        rel[rel_len] = '\0';
    }
    closedir(d);
    return rc;
}

static int key_order(const void *a, const void *b)
{
    return strcmp(((const listed_t *)a)->key, ((const listed_t *)b)->key);
}

static fs_objects_status_t dir_list(fs_objects_t *store, const char *prefix,
                                    fs_objects_list_cb cb, void *arg)
{
    dir_store_t *s = (dir_store_t *)store;
    key_list_t l = {0};
    char rel[FS_OBJECT_KEY_LEN_MAX + 2] = "";
    fs_objects_status_t st = FS_OBJECTS_OK;
    if (walk(s->root, rel, 0, prefix, &l) != 0) st = io_error("list", s->root);
    if (l.n > 0) qsort(l.items, l.n, sizeof(*l.items), key_order);
    for (size_t i = 0; st == FS_OBJECTS_OK && i < l.n; i++) {
        if (cb(arg, l.items[i].key, l.items[i].size) != 0) break;
    }
    for (size_t i = 0; i < l.n; i++) free(l.items[i].key);
    free(l.items);
    return st;
}

static fs_objects_status_t dir_del(fs_objects_t *store, const char *key)
{
    dir_store_t *s = (dir_store_t *)store;
    char path[PATH_MAX];
    if (snprintf(path, sizeof(path), "%s/%s", s->root, key) >= (int)sizeof(path)) {
        return FS_OBJECTS_BAD_KEY;
    }
    if (unlink(path) != 0 && errno != ENOENT) return io_error("unlink", path);
    return FS_OBJECTS_OK;
}

static const fs_objects_ops_t dir_ops = {.put = dir_put,
                                         .get = dir_get,
                                         .close = dir_close,
                                         .put_many = dir_put_many,
                                         .writer_open = dir_writer_open,
                                         .writer_write = dir_writer_write,
                                         .writer_commit = dir_writer_commit,
                                         .writer_abort = dir_writer_abort,
                                         .open_read = dir_open_read,
                                         .head = dir_head,
                                         .get_range = dir_get_range,
                                         .list = dir_list,
                                         .del = dir_del};

fs_objects_t *fs_objects_open_dir(const char *dir, char *err, size_t err_len)
{
    size_t len = strlen(dir);
    /* Room for "/" and the longest key. */
    if (len == 0 || len + 2 + FS_OBJECT_KEY_LEN_MAX + 32 >= PATH_MAX) {
        snprintf(err, err_len, "FINSYS_OBJECTS_DIR must be a directory path of 1 to %d bytes",
                 PATH_MAX - FS_OBJECT_KEY_LEN_MAX - 35);
        return NULL;
    }
    dir_store_t *s = calloc(1, sizeof(*s));
    FS_ASSERT(s != NULL);
    s->base.ops = &dir_ops;
    snprintf(s->root, sizeof(s->root), "%s", dir);
    while (len > 1 && s->root[len - 1] == '/') s->root[--len] = '\0';
    struct stat st;
    errno = 0;
    if (make_dirs(s->root, len) != 0 || stat(s->root, &st) != 0 || !S_ISDIR(st.st_mode)
        || access(s->root, R_OK | W_OK | X_OK) != 0) {
        snprintf(err, err_len, "FINSYS_OBJECTS_DIR %s is not a usable directory: %s", s->root,
                 strerror(errno != 0 ? errno : ENOTDIR));
        free(s);
        return NULL;
    }
    return &s->base;
}

fs_objects_status_t fs_objects_put(fs_objects_t *store, const char *key, const void *data,
                                   size_t len)
{
    if (!fs_objects_key_is_valid(key)) return FS_OBJECTS_BAD_KEY;
    if (len > FS_OBJECT_BYTES_MAX) return FS_OBJECTS_TOO_LARGE;
    return store->ops->put(store, key, data, len);
}

void fs_objects_put_many(fs_objects_t *store, size_t n, const fs_objects_put_t *puts,
                         fs_objects_status_t *out)
{
    FS_ASSERT(n <= FS_OBJECTS_PUT_BATCH_MAX);
    /* The checks of fs_objects_put; only the objects that pass go down. */
    fs_objects_put_t ok[FS_OBJECTS_PUT_BATCH_MAX];
    size_t at[FS_OBJECTS_PUT_BATCH_MAX], m = 0;
    for (size_t i = 0; i < n; i++) {
        if (!fs_objects_key_is_valid(puts[i].key)) {
            out[i] = FS_OBJECTS_BAD_KEY;
        } else if (puts[i].len > FS_OBJECT_BYTES_MAX) {
            out[i] = FS_OBJECTS_TOO_LARGE;
        } else {
            ok[m] = puts[i];
            at[m++] = i;
        }
    }
    fs_objects_status_t got[FS_OBJECTS_PUT_BATCH_MAX];
    if (store->ops->put_many != NULL) {
        if (m > 0) store->ops->put_many(store, m, ok, got);
    } else {
        for (size_t i = 0; i < m; i++) got[i] = store->ops->put(store, ok[i].key, ok[i].data, ok[i].len);
    }
    for (size_t i = 0; i < m; i++) out[at[i]] = got[i];
}

fs_objects_status_t fs_objects_get(fs_objects_t *store, const char *key, char **data,
                                   size_t *len)
{
    *data = NULL;
    *len = 0;
    if (!fs_objects_key_is_valid(key)) return FS_OBJECTS_BAD_KEY;
    return store->ops->get(store, key, data, len);
}

void fs_objects_close(fs_objects_t *store)
{
    if (store != NULL) store->ops->close(store);
}

fs_objects_writer_t *fs_objects_writer_open(fs_objects_t *store, const char *key,
                                            fs_objects_status_t *status)
{
    if (!fs_objects_key_is_valid(key)) {
        *status = FS_OBJECTS_BAD_KEY;
        return NULL;
    }
    FS_ASSERT(store->ops->writer_open != NULL);
    fs_objects_writer_t *w = store->ops->writer_open(store, key, status);
    return w;
}

fs_objects_status_t fs_objects_writer_write(fs_objects_writer_t *w, const void *data, size_t len)
{
    return len == 0 ? FS_OBJECTS_OK : w->store->ops->writer_write(w, data, len);
}

fs_objects_status_t fs_objects_writer_commit(fs_objects_writer_t *w)
{
    return w->store->ops->writer_commit(w);
}

void fs_objects_writer_abort(fs_objects_writer_t *w)
{
    if (w != NULL) w->store->ops->writer_abort(w);
}

fs_objects_status_t fs_objects_open_read(fs_objects_t *store, const char *key, int *fd, size_t *len)
{
    *fd = -1;
    *len = 0;
    if (!fs_objects_key_is_valid(key)) return FS_OBJECTS_BAD_KEY;
    FS_ASSERT(store->ops->open_read != NULL);
    return store->ops->open_read(store, key, fd, len);
}

fs_objects_t *fs_objects_open(const char *dir, const char *url, char *err, size_t err_len)
{
    if (url != NULL && url[0] != '\0') return fs_objects_open_s3(url, err, err_len);
    return fs_objects_open_dir(dir, err, err_len);
}

fs_objects_status_t fs_objects_head(fs_objects_t *store, const char *key, size_t *len)
{
    *len = 0;
    if (!fs_objects_key_is_valid(key)) return FS_OBJECTS_BAD_KEY;
    return store->ops->head(store, key, len);
}

fs_objects_status_t fs_objects_get_range(fs_objects_t *store, const char *key, size_t offset,
                                         size_t want, char **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    if (!fs_objects_key_is_valid(key)) return FS_OBJECTS_BAD_KEY;
    if (want > FS_OBJECT_BYTES_MAX) return FS_OBJECTS_TOO_LARGE;
    return store->ops->get_range(store, key, offset, want, data, len);
}

fs_objects_status_t fs_objects_list(fs_objects_t *store, const char *prefix,
                                    fs_objects_list_cb cb, void *arg)
{
    if (prefix == NULL) prefix = "";
    /* A prefix is a key's start: the key characters only, no "..". */
    if (strlen(prefix) > FS_OBJECT_KEY_LEN_MAX || strstr(prefix, "..") != NULL
        || prefix[0] == '/') {
        return FS_OBJECTS_BAD_KEY;
    }
    for (const char *c = prefix; *c != '\0'; c++) {
        bool ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z')
                  || (*c >= '0' && *c <= '9') || *c == '_' || *c == '-' || *c == '.' || *c == '/';
        if (!ok) return FS_OBJECTS_BAD_KEY;
    }
    return store->ops->list(store, prefix, cb, arg);
}

fs_objects_status_t fs_objects_delete(fs_objects_t *store, const char *key)
{
    if (!fs_objects_key_is_valid(key)) return FS_OBJECTS_BAD_KEY;
    return store->ops->del(store, key);
}
