/*
 * static.c: the built admin console (web/dist, made by Vite) served under
 * /admin/ (see admin.h).
 *
 * Every file is read into memory by fs_admin_static_open, before the loops
 * run, and never changes afterwards: a request is a lookup in a sorted
 * table, and the event loop never waits on the disk. The table knows only
 * the names it read, so no request can name a file outside the directory;
 * paths with "..", "." or empty segments are refused all the same, before
 * the lookup, so that nothing relies on that alone.
 *
 * Caching: Vite names what it puts under assets/ by content hash, so those
 * are cached for a year as immutable; index.html (which names them) is
 * "no-cache" (always revalidated, by ETag). Deep links of the page's router
 * (/admin/payments/pay_x) get index.html: the page's router shows them.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin.h"

typedef struct {
    char *name; /* relative to the directory: "index.html", "assets/index-abc.js" */
    char *data;
    size_t len;
    const char *type;
    char etag[24]; /* "\"<16 hex digits>\"" */
} file_t;

struct fs_admin_static {
    char dir[PATH_MAX];
    file_t *files; /* sorted by name */
    size_t count;
    size_t bytes;
    const file_t *index;
    char why[PATH_MAX + FS_ADMIN_STATIC_NAME_LEN_MAX + 256]; /* why it is not served (no index) */
};

/* --- the pure parts ------------------------------------------------------- */

const char *fs_admin_static_content_type(const char *name)
{
    static const struct {
        const char *ext;
        const char *type;
    } types[] = {
        {"html", "text/html; charset=utf-8"},
        {"js", "text/javascript; charset=utf-8"},
        {"mjs", "text/javascript; charset=utf-8"},
        {"css", "text/css; charset=utf-8"},
        {"svg", "image/svg+xml"},
        {"png", "image/png"},
        {"ico", "image/x-icon"},
        {"json", "application/json"},
        {"woff2", "font/woff2"},
        {"map", "application/json"},
        {"txt", "text/plain; charset=utf-8"},
    };
    const char *slash = strrchr(name, '/');
    const char *dot = strrchr(slash != NULL ? slash + 1 : name, '.');
    if (dot != NULL) {
        for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
            if (strcasecmp(dot + 1, types[i].ext) == 0) return types[i].type;
    }
    return "application/octet-stream";
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decodes src into out; false on a bad escape, a NUL or control
 * byte, a backslash, or when out is too small. */
static bool decode(const char *src, char *out, size_t out_len)
{
    size_t n = 0;
    for (const char *p = src; *p != '\0'; p++) {
        int c = (unsigned char)*p;
        if (c == '%') {
            int hi = hex_value(p[1]), lo = hi >= 0 ? hex_value(p[2]) : -1;
            if (lo < 0) return false;
            c = hi * 16 + lo;
            p += 2;
        }
        if (c < 0x20 || c == 0x7f || c == '\\') return false;
        if (n + 1 >= out_len) return false;
        out[n++] = (char)c;
    }
    out[n] = '\0';
    return true;
}

fs_admin_path_t fs_admin_static_path(const char *path, char *name, size_t name_len)
{
    FS_ASSERT(name_len > 0);
    name[0] = '\0';
    if (path == NULL || strncmp(path, "/admin", 6) != 0) return FS_ADMIN_PATH_NOT_CONSOLE;
    if (path[6] == '\0') return FS_ADMIN_PATH_REDIRECT;
    if (path[6] != '/') return FS_ADMIN_PATH_NOT_CONSOLE; /* /administrator */
    if (strncmp(path, "/admin/api/", 11) == 0 || strcmp(path, "/admin/api") == 0)
        return FS_ADMIN_PATH_NOT_CONSOLE;
    char decoded[FS_ADMIN_STATIC_NAME_LEN_MAX + 1];
    if (!decode(path + 7, decoded, sizeof(decoded))) return FS_ADMIN_PATH_REFUSED;
    /* Decoding may have made /admin/api/ out of /admin/%61pi/: still the API's. */
    if (strncmp(decoded, "api/", 4) == 0 || strcmp(decoded, "api") == 0)
        return FS_ADMIN_PATH_REFUSED;
    /* Each segment: not empty (no "//", no leading "/"), not "." or "..". A
     * trailing "/" is allowed (a directory-like deep link). */
    size_t len = strlen(decoded);
    for (size_t at = 0; at < len;) {
        size_t seg = strcspn(decoded + at, "/");
        bool last = at + seg >= len;
        if (seg == 0 && !last) return FS_ADMIN_PATH_REFUSED;
        if ((seg == 1 && decoded[at] == '.')
            || (seg == 2 && decoded[at] == '.' && decoded[at + 1] == '.'))
            return FS_ADMIN_PATH_REFUSED;
        at += seg + 1;
    }
    if (len + 1 > name_len) return FS_ADMIN_PATH_REFUSED;
    memcpy(name, decoded, len + 1);
    return FS_ADMIN_PATH_FILE;
}

bool fs_admin_static_spa_fallback(const char *name)
{
    return strncmp(name, "assets/", 7) != 0;
}

/* --- loading -------------------------------------------------------------- */

static int file_cmp(const void *a, const void *b)
{
    return strcmp(((const file_t *)a)->name, ((const file_t *)b)->name);
}

/* FNV-1a, 64 bits: an ETag needs to change with the content, not to resist
 * an adversary (the files are the operator's own). */
static uint64_t fnv1a(const char *data, size_t len)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)data[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static bool read_whole(const char *path, size_t size, char **out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return false;
    char *buf = malloc(size > 0 ? size : 1);
    FS_ASSERT(buf != NULL);
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(fd);
    if (got != size) {
        free(buf);
        return false;
    }
    *out = buf;
    return true;
}

/* Adds the regular files under dir/rel, depth levels deep at most. Symbolic
 * links are not followed. False, with s->why set, when a limit is passed. */
static bool load_dir(fs_admin_static_t *s, const char *rel, int depth, size_t *cap)
{
    if (depth > FS_ADMIN_STATIC_DEPTH_MAX) {
        snprintf(s->why, sizeof(s->why), "%s is nested more than %d directories deep", s->dir,
                 FS_ADMIN_STATIC_DEPTH_MAX);
        return false;
    }
    char path[PATH_MAX + FS_ADMIN_STATIC_NAME_LEN_MAX + 2];
    snprintf(path, sizeof(path), "%s%s%s", s->dir, rel[0] != '\0' ? "/" : "", rel);
    DIR *d = opendir(path);
    if (d == NULL) {
        snprintf(s->why, sizeof(s->why), "cannot read %s: %s", path, strerror(errno));
        return false;
    }
    bool ok = true;
    struct dirent *e;
    while (ok && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue; /* ., .., and hidden files */
        char name[FS_ADMIN_STATIC_NAME_LEN_MAX + 2];
        int n = snprintf(name, sizeof(name), "%s%s%s", rel, rel[0] != '\0' ? "/" : "",
                         e->d_name);
        if (n < 0 || (size_t)n > FS_ADMIN_STATIC_NAME_LEN_MAX) continue; /* never asked for */
        char full[PATH_MAX + FS_ADMIN_STATIC_NAME_LEN_MAX + 2];
        snprintf(full, sizeof(full), "%s/%s", s->dir, name);
        struct stat st;
        if (lstat(full, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) {
            ok = load_dir(s, name, depth + 1, cap);
            continue;
        }
        if (!S_ISREG(st.st_mode)) continue;
        if (s->count >= FS_ADMIN_STATIC_FILES_MAX
            || (uint64_t)st.st_size > FS_ADMIN_STATIC_BYTES_MAX - s->bytes) {
            snprintf(s->why, sizeof(s->why),
                     "%s has more than %d files or %d bytes (FS_ADMIN_STATIC_*_MAX)", s->dir,
                     FS_ADMIN_STATIC_FILES_MAX, FS_ADMIN_STATIC_BYTES_MAX);
            ok = false;
            break;
        }
        file_t f = {.len = (size_t)st.st_size};
        if (!read_whole(full, f.len, &f.data)) continue;
        f.name = strdup(name);
        FS_ASSERT(f.name != NULL);
        f.type = fs_admin_static_content_type(name);
        snprintf(f.etag, sizeof(f.etag), "\"%016" PRIx64 "\"", fnv1a(f.data, f.len));
        if (s->count == *cap) {
            *cap = *cap == 0 ? 32 : *cap * 2;
            s->files = realloc(s->files, *cap * sizeof(file_t));
            FS_ASSERT(s->files != NULL);
        }
        s->files[s->count++] = f;
        s->bytes += f.len;
    }
    closedir(d);
    return ok;
}

void fs_admin_static_dir(char *out, size_t out_len)
{
    const char *env = getenv("FINSYS_WEB_DIR");
    if (env != NULL && env[0] != '\0') {
        snprintf(out, out_len, "%s", env);
        return;
    }
    /* <repo>/<build dir>/finsys -> <repo>/web/dist, wherever it was cloned. */
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0) {
        snprintf(out, out_len, "web/dist");
        return;
    }
    exe[n] = '\0';
    for (int up = 0; up < 2; up++) {
        char *slash = strrchr(exe, '/');
        if (slash != NULL) *slash = '\0';
    }
    snprintf(out, out_len, "%s/web/dist", exe[0] != '\0' ? exe : ".");
}

static void free_files(fs_admin_static_t *s)
{
    for (size_t i = 0; i < s->count; i++) {
        free(s->files[i].name);
        free(s->files[i].data);
    }
    free(s->files);
    s->files = NULL;
    s->count = 0;
    s->bytes = 0;
}

static const file_t *find(const fs_admin_static_t *s, const char *name)
{
    file_t key = {.name = (char *)name};
    return s->count > 0 ? bsearch(&key, s->files, s->count, sizeof(file_t), file_cmp) : NULL;
}

fs_admin_static_t *fs_admin_static_open(const char *dir)
{
    fs_admin_static_t *s = calloc(1, sizeof(*s));
    FS_ASSERT(s != NULL);
    snprintf(s->dir, sizeof(s->dir), "%s", dir);
    size_t cap = 0;
    if (!load_dir(s, "", 0, &cap)) {
        free_files(s);
    } else {
        qsort(s->files, s->count, sizeof(file_t), file_cmp);
        s->index = find(s, "index.html");
        if (s->index == NULL)
            snprintf(s->why, sizeof(s->why), "%s has no index.html", s->dir);
    }
    if (s->index == NULL) {
        fs_log(FS_LOG_WARN, "admin", "the console is not served: %s (build it: make run)",
               s->why);
    } else {
        fs_log(FS_LOG_INFO, "admin", "the console: %zu files, %zu bytes from %s", s->count,
               s->bytes, s->dir);
    }
    return s;
}

void fs_admin_static_close(fs_admin_static_t *s)
{
    if (s == NULL) return;
    free_files(s);
    free(s);
}

/* --- answering ------------------------------------------------------------ */

/* The console's own headers: what its HTML may load and run. MUI writes
 * inline styles; the receipt is shown in an iframe of the same origin. */
static void security_headers(struct evkeyvalq *out)
{
    evhttp_add_header(out, "Content-Security-Policy",
                      "default-src 'self'; img-src 'self' data:; "
                      "style-src 'self' 'unsafe-inline'; frame-src 'self'; "
                      "connect-src 'self'; object-src 'none'; base-uri 'self'; "
                      "frame-ancestors 'self'");
    evhttp_add_header(out, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(out, "Referrer-Policy", "no-referrer");
    evhttp_add_header(out, "X-Frame-Options", "SAMEORIGIN");
}

static void send_body(struct evhttp_request *req, int status, const char *reason,
                      const char *data, size_t len)
{
    struct evbuffer *buf = evbuffer_new();
    FS_ASSERT(buf != NULL);
    /* A HEAD gets the headers (Content-Length of the GET's body) and libevent
     * leaves the body out. */
    evbuffer_add_reference(buf, data, len, NULL, NULL);
    evhttp_send_reply(req, status, reason, buf);
    evbuffer_free(buf);
}

static void send_page(struct evhttp_request *req, int status, const char *reason,
                      const char *html)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    evhttp_add_header(out, "Content-Type", "text/html; charset=utf-8");
    evhttp_add_header(out, "Cache-Control", "no-store");
    security_headers(out);
    struct evbuffer *buf = evbuffer_new();
    FS_ASSERT(buf != NULL);
    evbuffer_add(buf, html, strlen(html));
    evhttp_send_reply(req, status, reason, buf);
    evbuffer_free(buf);
}

/* True when the If-None-Match header names etag (or is "*"). */
static bool etag_matches(const char *header, const char *etag)
{
    if (header == NULL) return false;
    size_t len = strlen(etag);
    for (const char *p = header; *p != '\0';) {
        p += strspn(p, " \t,");
        if (strncmp(p, "W/", 2) == 0) p += 2;
        if (*p == '*') return true;
        if (strncmp(p, etag, len) == 0 && (p[len] == '\0' || p[len] == ',' || p[len] == ' '))
            return true;
        p += strcspn(p, ",");
    }
    return false;
}

static void send_file(struct evhttp_request *req, const file_t *f)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    evhttp_add_header(out, "ETag", f->etag);
    evhttp_add_header(out, "Cache-Control", strncmp(f->name, "assets/", 7) == 0
                                                ? "public, max-age=31536000, immutable"
                                                : "no-cache");
    evhttp_add_header(out, "X-Content-Type-Options", "nosniff");
    if (strncmp(f->type, "text/html", 9) == 0) security_headers(out);
    const char *inm = evhttp_find_header(evhttp_request_get_input_headers(req), "If-None-Match");
    if (etag_matches(inm, f->etag)) {
        evhttp_send_reply(req, 304, "Not Modified", NULL);
        return;
    }
    evhttp_add_header(out, "Content-Type", f->type);
    if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD) {
        /* libevent sends no body for a HEAD, and then no Content-Length:
         * the GET's is given. */
        char n[24];
        snprintf(n, sizeof(n), "%zu", f->len);
        evhttp_add_header(out, "Content-Length", n);
    }
    send_body(req, 200, "OK", f->data, f->len);
}

bool fs_admin_static_handle(const fs_admin_static_t *s, struct evhttp_request *req,
                            const char *path)
{
    char name[FS_ADMIN_STATIC_NAME_LEN_MAX + 1];
    fs_admin_path_t kind = fs_admin_static_path(path, name, sizeof(name));
    if (kind == FS_ADMIN_PATH_NOT_CONSOLE) return false;
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
        evhttp_add_header(out, "Allow", "GET, HEAD");
        send_page(req, 405, "Method Not Allowed", "<!doctype html><title>405</title>"
                                                  "<p>The console's pages allow GET and HEAD.");
        return true;
    }
    if (kind == FS_ADMIN_PATH_REDIRECT) {
        evhttp_add_header(out, "Location", "/admin/");
        send_page(req, 301, "Moved Permanently",
                  "<!doctype html><title>Moved</title><p><a href=\"/admin/\">/admin/</a>");
        return true;
    }
    if (kind == FS_ADMIN_PATH_REFUSED) {
        send_page(req, 400, "Bad Request",
                  "<!doctype html><title>400</title><p>This path is not allowed.");
        return true;
    }
    if (s == NULL || s->index == NULL) {
        char html[1024];
        snprintf(html, sizeof(html),
                 "<!doctype html><meta charset=utf-8><title>FinSys console not built</title>"
                 "<h1>The admin console is not built</h1>"
                 "<p>This server found no console to serve (%s). Build it and start the "
                 "stack with <code>make run</code>, or set <code>FINSYS_WEB_DIR</code> to "
                 "a built <code>web/dist</code> and restart the server.",
                 s != NULL ? "see the server's log" : "not configured");
        evhttp_add_header(out, "Retry-After", "60");
        send_page(req, 503, "Service Unavailable", html);
        return true;
    }
    const file_t *f = name[0] != '\0' ? find(s, name) : s->index;
    if (f == NULL && fs_admin_static_spa_fallback(name)) f = s->index;
    if (f == NULL) {
        send_page(req, 404, "Not Found",
                  "<!doctype html><title>404</title><p>No such file of the console.");
        return true;
    }
    send_file(req, f);
    return true;
}
