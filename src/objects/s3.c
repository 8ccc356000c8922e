/*
 * s3.c: the object store on S3 or an S3-compatible store (see objects.h,
 * "S3", and docs/architecture.md, "The object store").
 *
 * Every request is made with libcurl, which signs it (CURLOPT_AWS_SIGV4,
 * AWS Signature Version 4). libcurl 7.88 signs the query string as given,
 * without sorting it, so every query here is built already in SigV4's
 * canonical form (names sorted, values percent-encoded); it takes the
 * payload's hash from the x-amz-content-sha256 header, which is always sent
 * (S3 requires it with SigV4 and checks the body against it).
 *
 * Each thread that calls the store has a CURL easy handle of its own (a
 * pthread key, cleaned up when the thread ends), kept between requests so
 * that its connection to S3 is reused; the ops may be called from several
 * threads at once. Everything here blocks: only the object I/O threads
 * (io.c) and the workers' threads call it, never an event loop.
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../core/core.h"
#include "objects.h"

/* --- the URL ------------------------------------------------------------ */

static bool bucket_is_valid(const char *b, size_t len)
{
    if (len < 3 || len > 63) return false;
    for (size_t i = 0; i < len; i++) {
        char c = b[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
        if (!ok) return false;
    }
    bool alnum_ends = b[0] != '.' && b[0] != '-' && b[len - 1] != '.' && b[len - 1] != '-';
    return alnum_ends;
}

/* %XX decoding of a query value into out; -1 on a bad escape or no room. */
static int url_decode(const char *in, size_t len, char *out, size_t out_len)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (c == '%') {
            unsigned v;
            char hex[3] = {0};
            if (i + 2 >= len) return -1;
            hex[0] = in[i + 1];
            hex[1] = in[i + 2];
            if (sscanf(hex, "%2x", &v) != 1 || v == 0) return -1;
            c = (char)v;
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (o + 1 >= out_len) return -1;
        out[o++] = c;
    }
    out[o] = '\0';
    return 0;
}

/* endpoint=: http:// or https://, a host and maybe a port, nothing after
 * but one slash. */
static bool endpoint_is_valid(const char *e)
{
    const char *host;
    if (strncmp(e, "http://", 7) == 0) {
        host = e + 7;
    } else if (strncmp(e, "https://", 8) == 0) {
        host = e + 8;
    } else {
        return false;
    }
    if (*host == '\0' || *host == '/' || *host == ':') return false;
    for (const char *c = host; *c != '\0'; c++) {
        if (*c == '/') return c[1] == '\0';
        bool ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9')
                  || *c == '.' || *c == '-' || *c == ':' || *c == '[' || *c == ']';
        if (!ok) return false;
    }
    return true;
}

static bool region_is_valid(const char *r)
{
    if (*r == '\0' || strlen(r) >= 64) return false;
    for (const char *c = r; *c != '\0'; c++) {
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-')) return false;
    }
    return true;
}

int fs_s3_url_parse(const char *url, fs_s3_url_t *out, char *err, size_t err_len)
{
    memset(out, 0, sizeof(*out));
    if (url == NULL || strncmp(url, "s3://", 5) != 0) {
        snprintf(err, err_len, "FINSYS_OBJECTS_URL must start with s3:// (s3://BUCKET/PREFIX)");
        return -1;
    }
    if (strlen(url) > FS_S3_URL_LEN_MAX) {
        snprintf(err, err_len, "FINSYS_OBJECTS_URL is longer than %d bytes", FS_S3_URL_LEN_MAX);
        return -1;
    }
    const char *b = url + 5;
    const char *q = strchr(b, '?');
    const char *path_end = q != NULL ? q : b + strlen(b);
    const char *slash = memchr(b, '/', (size_t)(path_end - b));
    const char *b_end = slash != NULL ? slash : path_end;
    if (!bucket_is_valid(b, (size_t)(b_end - b))) {
        snprintf(err, err_len,
                 "FINSYS_OBJECTS_URL: the bucket must be 3 to 63 of a-z, 0-9, '.' and '-', "
                 "starting and ending with a letter or digit");
        return -1;
    }
    memcpy(out->bucket, b, (size_t)(b_end - b));
    if (slash != NULL && slash + 1 < path_end) {
        /* The prefix: key segments, stored with one slash at its end. */
        size_t plen = (size_t)(path_end - slash - 1);
        if (slash[plen] == '/') plen--; /* s3://b/prefix/ as s3://b/prefix */
        char p[FS_OBJECT_KEY_LEN_MAX + 1];
        if (plen == 0 || plen > FS_OBJECT_KEY_LEN_MAX / 2) {
            snprintf(err, err_len, "FINSYS_OBJECTS_URL: the prefix must be 1 to %d bytes",
                     FS_OBJECT_KEY_LEN_MAX / 2);
            return -1;
        }
        memcpy(p, slash + 1, plen);
        p[plen] = '\0';
        if (!fs_objects_key_is_valid(p)) {
            snprintf(err, err_len,
                     "FINSYS_OBJECTS_URL: the prefix must be segments of A-Z, a-z, 0-9, '_', '-' "
                     "and '.' separated by single slashes, none starting with a dot");
            return -1;
        }
        snprintf(out->prefix, sizeof(out->prefix), "%s/", p);
    }

    char endpoint[256] = "";
    if (q != NULL) {
        for (const char *p = q + 1; *p != '\0';) {
            const char *amp = strchr(p, '&');
            size_t plen = amp != NULL ? (size_t)(amp - p) : strlen(p);
            const char *eq = memchr(p, '=', plen);
            size_t nlen = eq != NULL ? (size_t)(eq - p) : plen;
            const char *v = eq != NULL ? eq + 1 : p + plen;
            size_t vlen = (size_t)(p + plen - v);
            char *dst = NULL;
            size_t dst_len = 0;
            if (nlen == 8 && strncmp(p, "endpoint", 8) == 0) {
                dst = endpoint;
                dst_len = sizeof(endpoint);
            } else if (nlen == 6 && strncmp(p, "region", 6) == 0) {
                dst = out->region;
                dst_len = sizeof(out->region);
            } else if (plen > 0) {
                snprintf(err, err_len,
                         "FINSYS_OBJECTS_URL: unknown parameter '%.*s' (endpoint and region are "
                         "known)",
                         (int)(nlen > 40 ? 40 : nlen), p);
                return -1;
            }
            if (dst != NULL && (eq == NULL || url_decode(v, vlen, dst, dst_len) != 0)) {
                snprintf(err, err_len, "FINSYS_OBJECTS_URL: the %.*s parameter's value is bad",
                         (int)nlen, p);
                return -1;
            }
            p += plen + (amp != NULL ? 1 : 0);
        }
    }
    if (endpoint[0] != '\0' && !endpoint_is_valid(endpoint)) {
        snprintf(err, err_len,
                 "FINSYS_OBJECTS_URL: endpoint must be http://HOST[:PORT] or "
                 "https://HOST[:PORT], with no path");
        return -1;
    }
    if (out->region[0] == '\0') {
        const char *r = getenv("AWS_REGION");
        if (r == NULL || *r == '\0') r = getenv("AWS_DEFAULT_REGION");
        if ((r == NULL || *r == '\0') && endpoint[0] != '\0') r = "us-east-1";
        if (r == NULL || *r == '\0') {
            snprintf(err, err_len,
                     "FINSYS_OBJECTS_URL: no region (add region=... to the URL, or set "
                     "AWS_REGION)");
            return -1;
        }
        if (strlen(r) >= sizeof(out->region)) r = "";
        snprintf(out->region, sizeof(out->region), "%s", r);
    }
    if (!region_is_valid(out->region)) {
        snprintf(err, err_len, "FINSYS_OBJECTS_URL: the region must be of a-z, 0-9 and '-'");
        return -1;
    }
    if (endpoint[0] != '\0') {
        size_t elen = strlen(endpoint);
        if (endpoint[elen - 1] == '/') endpoint[--elen] = '\0';
        snprintf(out->base, sizeof(out->base), "%s/%s", endpoint, out->bucket);
        out->path_style = true;
    } else if (strchr(out->bucket, '.') != NULL) {
        snprintf(out->base, sizeof(out->base), "https://s3.%s.amazonaws.com/%s", out->region,
                 out->bucket);
        out->path_style = true;
    } else {
        snprintf(out->base, sizeof(out->base), "https://%s.s3.%s.amazonaws.com", out->bucket,
                 out->region);
    }
    return 0;
}

/* --- the list's XML ------------------------------------------------------ */

/* S3's keys are at most 1,024 bytes of UTF-8. */
#define S3_KEY_BYTES_MAX 1024

/* The text of the first <name>...</name> in [p, end): its start and end.
 * The element has no attributes in S3's answers; "<Key>" does not match
 * "<KeyCount>". */
static bool find_element(const char *p, const char *end, const char *name, const char **vs,
                         const char **ve)
{
    char open[40], close[40];
    snprintf(open, sizeof(open), "<%s>", name);
    snprintf(close, sizeof(close), "</%s>", name);
    size_t ol = strlen(open), cl = strlen(close);
    for (const char *s = p; s + ol <= end; s++) {
        if (memcmp(s, open, ol) != 0) continue;
        for (const char *e = s + ol; e + cl <= end; e++) {
            if (memcmp(e, close, cl) == 0) {
                *vs = s + ol;
                *ve = e;
                return true;
            }
        }
        return false;
    }
    return false;
}

static size_t put_utf8(char *o, unsigned long cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* XML text [s, e) with its entities decoded into out (NUL-terminated);
 * -1 for markup inside it (a CDATA section, a child element), an unknown or
 * bad entity, a NUL, or more than out_len - 1 bytes. */
static int xml_text(const char *s, const char *e, char *out, size_t out_len)
{
    size_t o = 0;
    while (s < e) {
        char tmp[4];
        size_t n = 1;
        if (*s == '<' || *s == '\0') return -1;
        if (*s != '&') {
            tmp[0] = *s++;
        } else {
            const char *semi = memchr(s, ';', (size_t)(e - s));
            if (semi == NULL || semi - s > 12) return -1;
            size_t len = (size_t)(semi - s - 1);
            const char *name = s + 1;
            if (len == 3 && memcmp(name, "amp", 3) == 0) {
                tmp[0] = '&';
            } else if (len == 2 && memcmp(name, "lt", 2) == 0) {
                tmp[0] = '<';
            } else if (len == 2 && memcmp(name, "gt", 2) == 0) {
                tmp[0] = '>';
            } else if (len == 4 && memcmp(name, "quot", 4) == 0) {
                tmp[0] = '"';
            } else if (len == 4 && memcmp(name, "apos", 4) == 0) {
                tmp[0] = '\'';
            } else if (len >= 2 && name[0] == '#') {
                bool hex = name[1] == 'x';
                unsigned long cp = 0;
                size_t digits = 0;
                for (size_t i = hex ? 2 : 1; i < len; i++, digits++) {
                    char c = name[i];
                    int d = c >= '0' && c <= '9'                 ? c - '0'
                            : hex && c >= 'a' && c <= 'f'         ? c - 'a' + 10
                            : hex && c >= 'A' && c <= 'F'         ? c - 'A' + 10
                                                                  : -1;
                    if (d < 0 || cp > 0x10FFFF) return -1;
                    cp = cp * (hex ? 16 : 10) + (unsigned long)d;
                }
                if (digits == 0 || cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
                    return -1;
                n = put_utf8(tmp, cp);
            } else {
                return -1;
            }
            s = semi + 1;
        }
        if (o + n >= out_len) return -1;
        memcpy(out + o, tmp, n);
        o += n;
    }
    out[o] = '\0';
    return 0;
}

int fs_s3_list_parse(const char *xml, size_t len, fs_objects_list_cb cb, void *arg,
                     bool *truncated, char *token, size_t token_len)
{
    const char *end = xml + len, *vs, *ve;
    *truncated = false;
    if (token_len > 0) token[0] = '\0';
    if (!find_element(xml, end, "ListBucketResult", &vs, &ve)) {
        /* the root element has an xmlns attribute: look for its end tag */
        const char *root = NULL;
        for (const char *s = xml; s + 17 <= end; s++) {
            if (memcmp(s, "<ListBucketResult", 17) == 0 && (s[17] == ' ' || s[17] == '>')) {
                root = s;
                break;
            }
        }
        if (root == NULL) return -1;
        const char *gt = memchr(root, '>', (size_t)(end - root));
        const char *close = NULL;
        for (const char *s = end - 19; gt != NULL && s > gt; s--) {
            if (memcmp(s, "</ListBucketResult>", 19) == 0) {
                close = s;
                break;
            }
        }
        if (gt == NULL || close == NULL) return -1;
        vs = gt + 1;
        ve = close;
    }
    const char *body = vs, *body_end = ve;
    if (find_element(body, body_end, "IsTruncated", &vs, &ve)) {
        if (ve - vs == 4 && memcmp(vs, "true", 4) == 0) {
            *truncated = true;
        } else if (!(ve - vs == 5 && memcmp(vs, "false", 5) == 0)) {
            return -1;
        }
    }
    if (find_element(body, body_end, "NextContinuationToken", &vs, &ve)) {
        if (xml_text(vs, ve, token, token_len) != 0) return -1;
    }
    if (*truncated && (token_len == 0 || token[0] == '\0')) return -1; /* no way on */
    const char *p = body;
    const char *cs, *ce;
    while (find_element(p, body_end, "Contents", &cs, &ce)) {
        char key[S3_KEY_BYTES_MAX + 1];
        if (!find_element(cs, ce, "Key", &vs, &ve) || xml_text(vs, ve, key, sizeof(key)) != 0
            || key[0] == '\0')
            return -1;
        if (!find_element(cs, ce, "Size", &vs, &ve) || vs == ve || ve - vs > 20) return -1;
        size_t size = 0;
        for (const char *c = vs; c < ve; c++) {
            size_t d = (size_t)(*c - '0');
            if (*c < '0' || *c > '9' || size > (SIZE_MAX - d) / 10) return -1;
            size = size * 10 + d;
        }
        if (cb(arg, key, size) != 0) return 1;
        p = ce + 11; /* past </Contents> */
    }
    return 0;
}

/* --- requests ------------------------------------------------------------ */

typedef struct {
    fs_objects_t base; /* first: the ops */
    fs_s3_url_t url;
    char userpwd[512]; /* ACCESS_KEY:SECRET for libcurl's signer */
    char token_header[2200]; /* "x-amz-security-token: ..." or "" */
    char sigv4[96];    /* aws:amz:REGION:s3 */
    pthread_key_t handle; /* each thread's CURL easy handle */
    int page_keys;        /* max-keys of a list page: S3's 1,000 but in tests */
} s3_store_t;

static const char EMPTY_SHA256[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

typedef struct {
    /* the request */
    const char *method; /* GET, PUT, HEAD, DELETE */
    const char *key;    /* the object's key, NULL for the bucket (a list) */
    const char *query;  /* canonical (sorted, encoded), or NULL */
    const char *range;  /* "bytes=A-B" or NULL */
    const char *sha256; /* the body's, hex; NULL: no body */
    const char *checksum; /* its base64, for x-amz-checksum-sha256 (PUT) */
    const char *body;   /* PUT from memory... */
    int body_fd;        /* ...or from this file (-1: memory) */
    size_t body_len, body_at;
    bool large;         /* no total timeout: a low-speed limit */
    /* the answer: to memory (out_max bytes at most) or to out_fd */
    char *out;
    size_t out_len, out_cap, out_max;
    int out_fd;
    bool too_large, write_failed;
    long status;
    char err_body[FS_S3_ERROR_BODY_MAX + 1];
    size_t err_len;
    curl_off_t content_length; /* HEAD */
    /* made by req_prepare, freed by req_finish */
    char *url;
    struct curl_slist *headers;
    char sha_header[96], range_header[96], checksum_header[96];
    CURLcode cc; /* the last attempt's */
} s3_req_t;

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    s3_req_t *r = arg;
    size_t n = size * nmemb;
    /* r->status is the answer's, from on_header: an error's body is kept
     * for the log, not taken as the object. */
    if (r->status < 200 || r->status > 299) {
        size_t room = FS_S3_ERROR_BODY_MAX - r->err_len;
        size_t take = n < room ? n : room;
        memcpy(r->err_body + r->err_len, data, take);
        r->err_len += take;
        r->err_body[r->err_len] = '\0';
        return n;
    }
    if (r->out_fd >= 0) {
        if ((long long)(r->out_len + n) > (long long)r->out_max) {
            r->too_large = true;
            return 0;
        }
        for (size_t done = 0; done < n;) {
            ssize_t w = write(r->out_fd, data + done, n - done);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) {
                r->write_failed = true;
                return 0;
            }
            done += (size_t)w;
        }
        r->out_len += n;
        return n;
    }
    if (r->out_len + n > r->out_max) {
        r->too_large = true;
        return 0;
    }
    if (r->out_len + n + 1 > r->out_cap) {
        size_t cap = r->out_cap == 0 ? 4096 : r->out_cap;
        while (cap < r->out_len + n + 1) cap *= 2;
        char *grown = realloc(r->out, cap);
        FS_ASSERT(grown != NULL);
        r->out = grown;
        r->out_cap = cap;
    }
    memcpy(r->out + r->out_len, data, n);
    r->out_len += n;
    r->out[r->out_len] = '\0';
    return n;
}

/* The status line of each answer (a 100 Continue, then the real one). */
static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
    s3_req_t *r = arg;
    size_t n = size * nmemb;
    if (n > 9 && memcmp(data, "HTTP/", 5) == 0) {
        const char *sp = memchr(data, ' ', n);
        if (sp != NULL && sp + 4 <= data + n) r->status = strtol(sp + 1, NULL, 10);
    }
    return n;
}

static size_t on_read(char *buf, size_t size, size_t nmemb, void *arg)
{
    s3_req_t *r = arg;
    size_t room = size * nmemb, left = r->body_len - r->body_at;
    size_t n = left < room ? left : room;
    if (n == 0) return 0;
    if (r->body_fd >= 0) {
        ssize_t got;
        do {
            got = pread(r->body_fd, buf, n, (off_t)r->body_at);
        } while (got < 0 && errno == EINTR);
        if (got <= 0) return CURL_READFUNC_ABORT;
        n = (size_t)got;
    } else {
        memcpy(buf, r->body + r->body_at, n);
    }
    r->body_at += n;
    return n;
}

/* A thread's handles: one for a request at a time, and a multi handle with
 * FS_S3_PUT_PARALLEL easy handles for put_many's PUTs in parallel (the
 * multi handle keeps their connections). Made when first needed. */
typedef struct {
    CURL *one;
    CURLM *multi;
    CURL *pool[FS_S3_PUT_PARALLEL];
} thread_ctx_t;

static thread_ctx_t *thread_ctx(s3_store_t *s)
{
    thread_ctx_t *t = pthread_getspecific(s->handle);
    if (t == NULL) {
        t = calloc(1, sizeof(*t));
        FS_ASSERT(t != NULL);
        t->one = curl_easy_init();
        FS_ASSERT(t->one != NULL);
        FS_ASSERT(pthread_setspecific(s->handle, t) == 0);
    }
    return t;
}

static void thread_ctx_free(void *arg)
{
    thread_ctx_t *t = arg;
    if (t == NULL) return;
    curl_easy_cleanup(t->one);
    for (int i = 0; i < FS_S3_PUT_PARALLEL; i++) {
        if (t->pool[i] != NULL) curl_easy_cleanup(t->pool[i]);
    }
    if (t->multi != NULL) curl_multi_cleanup(t->multi);
    free(t);
}

static void backoff(int retry)
{
    long cap = (long)FS_S3_BACKOFF_BASE_MS << (retry - 1);
    if (cap > FS_S3_BACKOFF_MAX_MS) cap = FS_S3_BACKOFF_MAX_MS;
    long ms = cap / 4 + (long)randombytes_uniform((uint32_t)(cap - cap / 4 + 1));
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static bool curl_retryable(CURLcode c)
{
    switch (c) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
        return true;
    default:
        return false;
    }
}

static bool status_retryable(long status)
{
    return status == 500 || status == 502 || status == 503 || status == 504 || status == 429;
}

/* The <Code> of an S3 error answer, for the log. */
static void error_code(const s3_req_t *r, char *out, size_t out_len)
{
    const char *vs, *ve;
    snprintf(out, out_len, "no error code");
    if (find_element(r->err_body, r->err_body + r->err_len, "Code", &vs, &ve) && ve - vs < 64) {
        snprintf(out, out_len, "%.*s", (int)(ve - vs), vs);
    }
}

/* The URL and headers of r, the same for each attempt. */
static void req_prepare(s3_store_t *s, s3_req_t *r)
{
    /* A list's query (a continuation token, an encoded prefix) may be long. */
    size_t url_len = strlen(s->url.base) + strlen(s->url.prefix) + FS_OBJECT_KEY_LEN_MAX
                     + (r->query != NULL ? strlen(r->query) : 0) + 4;
    r->url = malloc(url_len);
    FS_ASSERT(r->url != NULL);
    snprintf(r->url, url_len, "%s/%s%s%s%s", s->url.base, r->key != NULL ? s->url.prefix : "",
             r->key != NULL ? r->key : "", r->query != NULL ? "?" : "",
             r->query != NULL ? r->query : "");
    snprintf(r->sha_header, sizeof(r->sha_header), "x-amz-content-sha256: %s",
             r->sha256 != NULL ? r->sha256 : EMPTY_SHA256);
    r->headers = curl_slist_append(NULL, r->sha_header);
    if (r->range != NULL) {
        snprintf(r->range_header, sizeof(r->range_header), "Range: %s", r->range);
        r->headers = curl_slist_append(r->headers, r->range_header);
    }
    if (r->checksum != NULL) {
        snprintf(r->checksum_header, sizeof(r->checksum_header), "x-amz-checksum-sha256: %s",
                 r->checksum);
        r->headers = curl_slist_append(r->headers, r->checksum_header);
    }
    if (s->token_header[0] != '\0') r->headers = curl_slist_append(r->headers, s->token_header);
    FS_ASSERT(r->headers != NULL);
}

static void req_finish(s3_req_t *r)
{
    curl_slist_free_all(r->headers);
    r->headers = NULL;
    free(r->url);
    r->url = NULL;
}

/* An attempt of r on h: everything an earlier attempt left is reset, h's
 * options set afresh. -1 when the answer's file cannot be emptied. */
static int req_setup(s3_store_t *s, CURL *h, s3_req_t *r)
{
    r->status = 0;
    r->err_len = 0;
    r->err_body[0] = '\0';
    r->too_large = r->write_failed = false;
    r->out_len = 0;
    r->body_at = 0;
    r->cc = CURLE_OK;
    if (r->out_fd >= 0 && (ftruncate(r->out_fd, 0) != 0 || lseek(r->out_fd, 0, SEEK_SET) != 0))
        return -1;
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, r->url);
    curl_easy_setopt(h, CURLOPT_AWS_SIGV4, s->sigv4);
    curl_easy_setopt(h, CURLOPT_USERPWD, s->userpwd);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, r->headers);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)FS_S3_CONNECT_TIMEOUT_MS);
    if (r->large) {
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, (long)FS_S3_LOW_SPEED_BYTES_S);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)FS_S3_LOW_SPEED_S);
    } else {
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)FS_S3_REQUEST_TIMEOUT_MS);
    }
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(h, CURLOPT_PRIVATE, r);
    if (strcmp(r->method, "PUT") == 0) {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, r);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_len);
    } else if (strcmp(r->method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (strcmp(r->method, "DELETE") == 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
    }
    return 0;
}

/* What an attempt that ended with cc came to: *st, and whether to retry. */
static bool req_outcome(CURL *h, s3_req_t *r, CURLcode cc, fs_objects_status_t *st)
{
    r->cc = cc;
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    if (code != 0) r->status = code;
    if (r->too_large) {
        *st = FS_OBJECTS_TOO_LARGE;
        return false;
    }
    if (r->write_failed) {
        *st = FS_OBJECTS_IO_ERROR;
        return false;
    }
    if (cc != CURLE_OK) {
        *st = curl_retryable(cc) ? FS_OBJECTS_UNREACHABLE : FS_OBJECTS_IO_ERROR;
        return *st == FS_OBJECTS_UNREACHABLE;
    }
    if (r->status >= 200 && r->status <= 299) {
        curl_easy_getinfo(h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &r->content_length);
        *st = FS_OBJECTS_OK;
        return false;
    }
    if (r->status == 404) {
        *st = FS_OBJECTS_NOT_FOUND;
        return false;
    }
    if (r->status == 416 && r->range != NULL) {
        *st = FS_OBJECTS_OK; /* a range past the object's end: no bytes */
        r->out_len = 0;
        return false;
    }
    *st = status_retryable(r->status) ? FS_OBJECTS_UNREACHABLE : FS_OBJECTS_IO_ERROR;
    return *st == FS_OBJECTS_UNREACHABLE;
}

static void req_log(const s3_req_t *r, fs_objects_status_t st)
{
    const char *what = r->key != NULL ? r->key : "(list)";
    char code[64];
    if (st == FS_OBJECTS_UNREACHABLE) {
        if (r->cc != CURLE_OK) {
            fs_log(FS_LOG_WARN, "objects", "S3 %s %s: %s, %d attempts", r->method, what,
                   curl_easy_strerror(r->cc), FS_S3_ATTEMPTS);
        } else {
            error_code(r, code, sizeof(code));
            fs_log(FS_LOG_WARN, "objects", "S3 %s %s: HTTP %ld (%s), %d attempts", r->method,
                   what, r->status, code, FS_S3_ATTEMPTS);
        }
    } else if (st == FS_OBJECTS_IO_ERROR) {
        if (r->cc != CURLE_OK) {
            fs_log(FS_LOG_ERROR, "objects", "S3 %s %s: %s", r->method, what,
                   curl_easy_strerror(r->cc));
        } else if (r->status != 0) {
            error_code(r, code, sizeof(code));
            fs_log(FS_LOG_ERROR, "objects", "S3 %s %s: HTTP %ld (%s)", r->method, what,
                   r->status, code);
        } else {
            fs_log(FS_LOG_ERROR, "objects", "S3 %s %s: writing the answer failed", r->method,
                   what);
        }
    } else if (st == FS_OBJECTS_TOO_LARGE) {
        fs_log(FS_LOG_ERROR, "objects", "S3 %s %s: larger than %zu bytes", r->method, what,
               r->out_max);
    }
}

/* Makes r against the store, retrying as limits.h says. OK for a 2xx (206
 * too), NOT_FOUND for 404, UNREACHABLE once the retries are spent, TOO_LARGE
 * past out_max, IO_ERROR for anything else (logged with S3's error code). */
static fs_objects_status_t perform(s3_store_t *s, s3_req_t *r)
{
    CURL *h = thread_ctx(s)->one;
    req_prepare(s, r);
    fs_objects_status_t st = FS_OBJECTS_UNREACHABLE;
    for (int attempt = 1; attempt <= FS_S3_ATTEMPTS; attempt++) {
        if (attempt > 1) backoff(attempt - 1);
        if (req_setup(s, h, r) != 0) {
            st = FS_OBJECTS_IO_ERROR;
            break;
        }
        if (!req_outcome(h, r, curl_easy_perform(h), &st)) break;
    }
    req_finish(r);
    req_log(r, st);
    return st;
}

static s3_req_t req_new(const char *method, const char *key)
{
    return (s3_req_t){.method = method, .key = key, .body_fd = -1, .out_fd = -1};
}

/* --- the ops ------------------------------------------------------------- */

static void sha256_of(const void *data, size_t len, char hex[65], char b64[48])
{
    unsigned char d[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(d, data, (unsigned long long)len);
    sodium_bin2hex(hex, 65, d, sizeof(d));
    sodium_bin2base64(b64, 48, d, sizeof(d), sodium_base64_VARIANT_ORIGINAL);
}

static fs_objects_status_t s3_put(fs_objects_t *store, const char *key, const void *data,
                                  size_t len)
{
    char hex[65], b64[48];
    sha256_of(data, len, hex, b64);
    s3_req_t r = req_new("PUT", key);
    r.body = data;
    r.body_len = len;
    r.sha256 = hex;
    r.checksum = b64;
    r.out_max = 0;
    fs_objects_status_t st = perform((s3_store_t *)store, &r);
    free(r.out);
    return st;
}

static fs_objects_status_t get_into(fs_objects_t *store, const char *key, const char *range,
                                    size_t max, char **data, size_t *len)
{
    s3_req_t r = req_new("GET", key);
    r.range = range;
    r.out_max = max;
    fs_objects_status_t st = perform((s3_store_t *)store, &r);
    if (st == FS_OBJECTS_OK) {
        if (r.out == NULL) {
            r.out = malloc(1);
            FS_ASSERT(r.out != NULL);
            r.out[0] = '\0';
        }
        *data = r.out;
        *len = r.out_len;
        return st;
    }
    free(r.out);
    return st;
}

static fs_objects_status_t s3_get(fs_objects_t *store, const char *key, char **data, size_t *len)
{
    return get_into(store, key, NULL, FS_OBJECT_BYTES_MAX, data, len);
}

static fs_objects_status_t s3_get_range(fs_objects_t *store, const char *key, size_t offset,
                                        size_t want, char **data, size_t *len)
{
    if (want == 0) {
        size_t size;
        fs_objects_status_t st = store->ops->head(store, key, &size);
        if (st != FS_OBJECTS_OK) return st;
        *data = calloc(1, 1);
        FS_ASSERT(*data != NULL);
        *len = 0;
        return FS_OBJECTS_OK;
    }
    char range[96];
    snprintf(range, sizeof(range), "bytes=%zu-%zu", offset, offset + want - 1);
    s3_req_t r = req_new("GET", key);
    r.range = range;
    r.out_max = want;
    fs_objects_status_t st = perform((s3_store_t *)store, &r);
    if (st == FS_OBJECTS_OK && r.status == 200 && offset > 0) {
        /* a store that ignored the Range header: refused, not guessed at */
        fs_log(FS_LOG_ERROR, "objects", "S3 GET %s: the store ignored the Range header", key);
        st = FS_OBJECTS_IO_ERROR;
    }
    if (st != FS_OBJECTS_OK) {
        free(r.out);
        return st;
    }
    if (r.out == NULL || r.status == 416) {
        free(r.out);
        r.out = calloc(1, 1);
        FS_ASSERT(r.out != NULL);
        r.out_len = 0;
    }
    *data = r.out;
    *len = r.out_len;
    return st;
}

static fs_objects_status_t s3_head(fs_objects_t *store, const char *key, size_t *len)
{
    s3_req_t r = req_new("HEAD", key);
    fs_objects_status_t st = perform((s3_store_t *)store, &r);
    if (st == FS_OBJECTS_OK) *len = r.content_length > 0 ? (size_t)r.content_length : 0;
    free(r.out);
    return st;
}

static fs_objects_status_t s3_del(fs_objects_t *store, const char *key)
{
    s3_req_t r = req_new("DELETE", key);
    fs_objects_status_t st = perform((s3_store_t *)store, &r);
    if (st == FS_OBJECTS_NOT_FOUND) st = FS_OBJECTS_OK;
    free(r.out);
    return st;
}

/* The list's callback: keys under the store's prefix, without it, that
 * are keys of this store (a foreign object in the bucket is skipped). */
typedef struct {
    const char *prefix;
    size_t prefix_len;
    fs_objects_list_cb cb;
    void *arg;
} list_ctx_t;

static int on_listed(void *arg, const char *key, size_t len)
{
    list_ctx_t *c = arg;
    if (strncmp(key, c->prefix, c->prefix_len) != 0) return 0;
    const char *k = key + c->prefix_len;
    if (!fs_objects_key_is_valid(k)) return 0;
    return c->cb(c->arg, k, len);
}

static fs_objects_status_t s3_list(fs_objects_t *store, const char *prefix, fs_objects_list_cb cb,
                                   void *arg)
{
    s3_store_t *s = (s3_store_t *)store;
    CURL *h = thread_ctx(s)->one;
    char full[FS_OBJECT_KEY_LEN_MAX * 2 + 4];
    snprintf(full, sizeof(full), "%s%s", s->url.prefix, prefix);
    char *prefix_enc = curl_easy_escape(h, full, 0);
    FS_ASSERT(prefix_enc != NULL);
    list_ctx_t ctx = {s->url.prefix, strlen(s->url.prefix), cb, arg};
    char token[S3_KEY_BYTES_MAX * 2] = "";
    fs_objects_status_t st = FS_OBJECTS_OK;
    for (int page = 0;; page++) {
        if (page >= FS_S3_LIST_PAGES_MAX) {
            fs_log(FS_LOG_ERROR, "objects", "S3 list %s: more than %d pages", full,
                   FS_S3_LIST_PAGES_MAX);
            st = FS_OBJECTS_TOO_LARGE;
            break;
        }
        /* SigV4's canonical query: names in byte order, values encoded. */
        char *token_enc = curl_easy_escape(h, token, 0);
        FS_ASSERT(token_enc != NULL);
        size_t qlen = strlen(token_enc) + strlen(prefix_enc) + 64;
        char *query = malloc(qlen);
        FS_ASSERT(query != NULL);
        char max_keys[32] = "";
        if (s->page_keys > 0) snprintf(max_keys, sizeof(max_keys), "&max-keys=%d", s->page_keys);
        if (token[0] != '\0') {
            snprintf(query, qlen, "continuation-token=%s&list-type=2%s&prefix=%s", token_enc,
                     max_keys, prefix_enc);
        } else {
            snprintf(query, qlen, "list-type=2%s&prefix=%s", max_keys, prefix_enc);
        }
        curl_free(token_enc);
        s3_req_t r = req_new("GET", NULL);
        r.query = query;
        r.out_max = FS_S3_LIST_PAGE_BYTES_MAX;
        st = perform(s, &r);
        free(query);
        bool truncated = false;
        int rc = 0;
        if (st == FS_OBJECTS_OK) {
            rc = fs_s3_list_parse(r.out != NULL ? r.out : "", r.out_len, on_listed, &ctx,
                                  &truncated, token, sizeof(token));
            if (rc < 0) {
                fs_log(FS_LOG_ERROR, "objects", "S3 list %s: not a ListObjectsV2 answer", full);
                st = FS_OBJECTS_IO_ERROR;
            }
        }
        free(r.out);
        if (st != FS_OBJECTS_OK || rc != 0 || !truncated) break;
    }
    curl_free(prefix_enc);
    return st;
}

/* open_read: the object downloaded into an unlinked temporary file, whose
 * fd is handed over at its start (the export's download then sends it with
 * sendfile, as from the folder store). */
static int temp_fd(void)
{
    const char *dir = getenv("TMPDIR");
    if (dir == NULL || *dir == '\0') dir = "/tmp";
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0) return fd;
    char path[4096];
    snprintf(path, sizeof(path), "%s/finsys-s3-XXXXXX", dir);
    fd = mkostemp(path, O_CLOEXEC);
    if (fd >= 0) unlink(path);
    return fd;
}

static fs_objects_status_t s3_open_read(fs_objects_t *store, const char *key, int *fd, size_t *len)
{
    int f = temp_fd();
    if (f < 0) {
        fs_log(FS_LOG_ERROR, "objects", "a temporary file for %s: %s", key, strerror(errno));
        return FS_OBJECTS_IO_ERROR;
    }
    s3_req_t r = req_new("GET", key);
    r.out_fd = f;
    r.out_max = (size_t)FS_S3_PUT_BYTES_MAX;
    r.large = true;
    fs_objects_status_t st = perform((s3_store_t *)store, &r);
    if (st == FS_OBJECTS_OK && lseek(f, 0, SEEK_SET) != 0) st = FS_OBJECTS_IO_ERROR;
    if (st != FS_OBJECTS_OK) {
        close(f);
        return st;
    }
    *fd = f;
    *len = r.out_len;
    return st;
}

/* The streaming writer: the pieces go to an unlinked temporary file, hashed
 * as they come, and commit PUTs the file whole (one request, signed with
 * its SHA-256): until then S3 has none of it, and an abort or a crash leaves
 * nothing there. A multipart upload would not need the local copy, but it
 * leaves parts behind on a crash (billed until a lifecycle rule aborts
 * them), needs 5 MiB parts, and an export is far below S3's 5 GiB limit of
 * one PUT. */
struct fs_objects_writer {
    fs_objects_t *store;
    char key[FS_OBJECT_KEY_LEN_MAX + 1];
    int fd;
    size_t len;
    crypto_hash_sha256_state hash;
};

static fs_objects_writer_t *s3_writer_open(fs_objects_t *store, const char *key,
                                           fs_objects_status_t *status)
{
    fs_objects_writer_t *w = calloc(1, sizeof(*w));
    FS_ASSERT(w != NULL);
    w->store = store;
    snprintf(w->key, sizeof(w->key), "%s", key);
    w->fd = temp_fd();
    if (w->fd < 0) {
        fs_log(FS_LOG_ERROR, "objects", "a temporary file for %s: %s", key, strerror(errno));
        free(w);
        *status = FS_OBJECTS_IO_ERROR;
        return NULL;
    }
    crypto_hash_sha256_init(&w->hash);
    *status = FS_OBJECTS_OK;
    return w;
}

static fs_objects_status_t s3_writer_write(fs_objects_writer_t *w, const void *data, size_t len)
{
    if ((long long)(w->len + len) > FS_S3_PUT_BYTES_MAX) return FS_OBJECTS_TOO_LARGE;
    const char *p = data;
    for (size_t done = 0; done < len;) {
        ssize_t n = write(w->fd, p + done, len - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            fs_log(FS_LOG_ERROR, "objects", "writing %s's temporary file: %s", w->key,
                   strerror(errno));
            return FS_OBJECTS_IO_ERROR;
        }
        done += (size_t)n;
    }
    crypto_hash_sha256_update(&w->hash, data, (unsigned long long)len);
    w->len += len;
    return FS_OBJECTS_OK;
}

static void s3_writer_abort(fs_objects_writer_t *w)
{
    close(w->fd);
    free(w);
}

static fs_objects_status_t s3_writer_commit(fs_objects_writer_t *w)
{
    unsigned char d[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&w->hash, d);
    char hex[65], b64[48];
    sodium_bin2hex(hex, sizeof(hex), d, sizeof(d));
    sodium_bin2base64(b64, sizeof(b64), d, sizeof(d), sodium_base64_VARIANT_ORIGINAL);
    s3_req_t r = req_new("PUT", w->key);
    r.body_fd = w->fd;
    r.body_len = w->len;
    r.sha256 = hex;
    r.checksum = b64;
    r.large = true;
    fs_objects_status_t st = perform((s3_store_t *)w->store, &r);
    free(r.out);
    s3_writer_abort(w);
    return st;
}

/* Several PUTs at once (S3 has no batch put; each is durable when it
 * answers): up to FS_S3_PUT_PARALLEL in flight on this thread's multi
 * handle, so that a round of receipts costs about its size divided by that
 * many round trips rather than one round trip each. The retries go by
 * waves: the PUTs that found S3 away or busy are tried again together
 * after one back-off. */
static void s3_put_many(fs_objects_t *store, size_t n, const fs_objects_put_t *puts,
                        fs_objects_status_t *out)
{
    s3_store_t *s = (s3_store_t *)store;
    if (n == 1) {
        out[0] = s3_put(store, puts[0].key, puts[0].data, puts[0].len);
        return;
    }
    thread_ctx_t *t = thread_ctx(s);
    if (t->multi == NULL) {
        t->multi = curl_multi_init();
        FS_ASSERT(t->multi != NULL);
        for (int i = 0; i < FS_S3_PUT_PARALLEL; i++) {
            t->pool[i] = curl_easy_init();
            FS_ASSERT(t->pool[i] != NULL);
        }
    }
    s3_req_t *r = calloc(n, sizeof(*r));
    char (*hex)[65] = calloc(n, 65), (*b64)[48] = calloc(n, 48);
    bool *again = calloc(n, sizeof(*again));
    FS_ASSERT(r != NULL && hex != NULL && b64 != NULL && again != NULL);
    for (size_t i = 0; i < n; i++) {
        sha256_of(puts[i].data, puts[i].len, hex[i], b64[i]);
        r[i] = req_new("PUT", puts[i].key);
        r[i].body = puts[i].data;
        r[i].body_len = puts[i].len;
        r[i].sha256 = hex[i];
        r[i].checksum = b64[i];
        req_prepare(s, &r[i]);
        out[i] = FS_OBJECTS_UNREACHABLE;
        again[i] = true;
    }
    for (int attempt = 1; attempt <= FS_S3_ATTEMPTS; attempt++) {
        size_t next = 0, left = 0;
        for (size_t i = 0; i < n; i++) left += again[i];
        if (left == 0) break;
        if (attempt > 1) backoff(attempt - 1);
        bool busy[FS_S3_PUT_PARALLEL] = {false};
        int running = 0;
        for (;;) {
            /* Free handles take the next PUTs of this wave. */
            for (int k = 0; k < FS_S3_PUT_PARALLEL; k++) {
                while (!busy[k] && next < n && !again[next]) next++;
                if (busy[k] || next >= n) continue;
                again[next] = false;
                req_setup(s, t->pool[k], &r[next]);
                curl_multi_add_handle(t->multi, t->pool[k]);
                busy[k] = true;
                next++;
            }
            int still = 0;
            curl_multi_perform(t->multi, &still);
            CURLMsg *m;
            int queued;
            while ((m = curl_multi_info_read(t->multi, &queued)) != NULL) {
                if (m->msg != CURLMSG_DONE) continue;
                CURL *h = m->easy_handle;
                CURLcode cc = m->data.result;
                s3_req_t *done = NULL;
                curl_easy_getinfo(h, CURLINFO_PRIVATE, (char **)&done);
                curl_multi_remove_handle(t->multi, h);
                for (int k = 0; k < FS_S3_PUT_PARALLEL; k++) {
                    if (t->pool[k] == h) busy[k] = false;
                }
                size_t i = (size_t)(done - r);
                /* Retried in the next wave, unless this was the last. */
                again[i] = req_outcome(h, done, cc, &out[i]) && attempt < FS_S3_ATTEMPTS;
            }
            running = 0;
            for (int k = 0; k < FS_S3_PUT_PARALLEL; k++) running += busy[k];
            while (next < n && !again[next]) next++;
            if (running == 0 && next >= n) break;
            if (running > 0) curl_multi_poll(t->multi, NULL, 0, 100, NULL);
        }
    }
    /* Logged as perform does, but S3 away once for the batch. */
    size_t unreachable = 0;
    for (size_t i = 0; i < n; i++) {
        req_finish(&r[i]);
        if (out[i] == FS_OBJECTS_UNREACHABLE) {
            if (unreachable++ == 0) req_log(&r[i], out[i]);
        } else {
            req_log(&r[i], out[i]);
        }
        free(r[i].out);
    }
    if (unreachable > 1)
        fs_log(FS_LOG_WARN, "objects", "S3: %zu of %zu PUTs unreachable", unreachable, n);
    free(r);
    free(hex);
    free(b64);
    free(again);
}

static void s3_close(fs_objects_t *store)
{
    s3_store_t *s = (s3_store_t *)store;
    /* This thread's handles; the I/O threads' went when they ended. */
    thread_ctx_free(pthread_getspecific(s->handle));
    pthread_key_delete(s->handle);
    sodium_memzero(s->userpwd, sizeof(s->userpwd));
    sodium_memzero(s->token_header, sizeof(s->token_header));
    free(s);
}

static const fs_objects_ops_t s3_ops = {.put = s3_put,
                                        .get = s3_get,
                                        .close = s3_close,
                                        .put_many = s3_put_many,
                                        .writer_open = s3_writer_open,
                                        .writer_write = s3_writer_write,
                                        .writer_commit = s3_writer_commit,
                                        .writer_abort = s3_writer_abort,
                                        .open_read = s3_open_read,
                                        .head = s3_head,
                                        .get_range = s3_get_range,
                                        .list = s3_list,
                                        .del = s3_del};

fs_objects_t *fs_objects_open_s3(const char *url, char *err, size_t err_len)
{
    fs_s3_url_t u;
    if (fs_s3_url_parse(url, &u, err, err_len) != 0) return NULL;
    const char *id = getenv("AWS_ACCESS_KEY_ID");
    const char *secret = getenv("AWS_SECRET_ACCESS_KEY");
    const char *token = getenv("AWS_SESSION_TOKEN");
    if (id == NULL || *id == '\0' || secret == NULL || *secret == '\0') {
        snprintf(err, err_len,
                 "FINSYS_OBJECTS_URL is S3: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                 "(and AWS_SESSION_TOKEN with temporary credentials)");
        return NULL;
    }
    if (strchr(id, ':') != NULL || strlen(id) + strlen(secret) + 2 > 512
        || (token != NULL && strlen(token) > 2048)) {
        snprintf(err, err_len, "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY or AWS_SESSION_TOKEN "
                               "is malformed or too long");
        return NULL;
    }
    /* Before any thread uses libcurl (it initialises OpenSSL). */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, err_len, "libcurl cannot be initialised");
        return NULL;
    }
    s3_store_t *s = calloc(1, sizeof(*s));
    FS_ASSERT(s != NULL);
    s->base.ops = &s3_ops;
    s->url = u;
    snprintf(s->userpwd, sizeof(s->userpwd), "%s:%s", id, secret);
    if (token != NULL && *token != '\0')
        snprintf(s->token_header, sizeof(s->token_header), "x-amz-security-token: %s", token);
    snprintf(s->sigv4, sizeof(s->sigv4), "aws:amz:%s:s3", u.region);
    FS_ASSERT(pthread_key_create(&s->handle, thread_ctx_free) == 0);
    fs_log(FS_LOG_INFO, "objects", "objects in S3: %s (%s), prefix '%s', region %s", u.base,
           u.path_style ? "path-style" : "virtual-hosted", u.prefix, u.region);
    return &s->base;
}

void fs_objects_s3_set_page_keys(fs_objects_t *store, int keys)
{
    FS_ASSERT(store->ops == &s3_ops);
    ((s3_store_t *)store)->page_keys = keys;
}
