/*
 * fuzz_notify_url.c: libFuzzer target for the webhook URL check (src/notify):
 * fs_notify_url_valid, fs_notify_url_allowed and fs_notify_addr_refused, the
 * guard between a tenant's URL and the operator's network. The input:
 *   line 1: FINSYS_WEBHOOK_ALLOWED_NETWORKS (fs_config_parse_nets)
 *   the rest: the URL
 * Besides crashes and sanitizer reports, it aborts when
 *   - a URL is allowed but not valid, or allowed with no exceptions but not
 *     with some (exceptions only ever add);
 *   - a URL allowed with no exceptions has a host that this file's own,
 *     independent reading finds in loopback, private or link-local space
 *     (IPv4, or IPv6 carrying IPv4: mapped, NAT64, 6to4);
 *   - a rejection has no message or names no parameter.
 * Run by make fuzz (scripts/fuzz.sh), seeds in fuzz/corpus/notify_url.
 */
#include <arpa/inet.h>
#include <event2/http.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "../src/config/config.h"
#include "../src/core/limits.h"
#include "../src/notify/notify.h"

/* This file's own list of what must never be reached (a subset of
 * notify.c's, written apart from it so that a mistake there shows). */
static int v4_inside(const unsigned char *a)
{
    return a[0] == 0 || a[0] == 10 || a[0] == 127 || (a[0] == 169 && a[1] == 254) ||
           (a[0] == 172 && (a[1] & 0xf0) == 16) || (a[0] == 192 && a[1] == 168) ||
           (a[0] == 100 && (a[1] & 0xc0) == 64);
}

static int v6_inside(const unsigned char *a)
{
    static const unsigned char loop[16] = {[15] = 1}, zero[16] = {0};
    static const unsigned char mapped[12] = {[10] = 0xff, [11] = 0xff};
    static const unsigned char nat64[12] = {0x00, 0x64, 0xff, 0x9b};
    if (memcmp(a, loop, 16) == 0 || memcmp(a, zero, 16) == 0) return 1;
    if ((a[0] & 0xfe) == 0xfc || (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)) return 1;
    if (memcmp(a, mapped, 12) == 0 || memcmp(a, nat64, 12) == 0) return v4_inside(a + 12);
    if (a[0] == 0x20 && a[1] == 0x02) return v4_inside(a + 2);
    return 0;
}

/* RFC 6761's localhost names, which the check judges as 127.0.0.1 at
 * creation (read here on its own terms: any case, any subdomain). */
static int localhost_name(const char *h)
{
    size_t len = strlen(h);
    return strcasecmp(h, "localhost") == 0
           || (len > 10 && strcasecmp(h + len - 10, ".localhost") == 0);
}

/* The URL's host as evhttp reads it, and whether it lies inside. A host
 * name other than localhost's is judged at delivery, by the addresses it
 * resolves to, not here: not inside. */
static int host_inside(const char *url)
{
    struct evhttp_uri *uri = evhttp_uri_parse_with_flags(url, 0);
    if (uri == NULL) abort(); /* the check allowed what evhttp cannot parse */
    const char *h = evhttp_uri_get_host(uri);
    if (h == NULL) abort();
    char bare[300];
    size_t hl = strlen(h);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        if (hl - 2 >= sizeof(bare)) abort();
        memcpy(bare, h + 1, hl - 2);
        bare[hl - 2] = '\0';
    } else if (hl < sizeof(bare)) {
        memcpy(bare, h, hl + 1);
    } else {
        abort(); /* allowed, yet longer than any host name */
    }
    evhttp_uri_free(uri);
    unsigned char a[16];
    if (inet_pton(AF_INET, bare, a) == 1) return v4_inside(a);
    if (inet_pton(AF_INET6, bare, a) == 1) return v6_inside(a);
    return localhost_name(bare);
}

static void check_rejection(const fs_error_t *err)
{
    if (err->message[0] == '\0' || err->param == NULL) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The longest URL the check is given, and some to spare. */
    if (size > FS_WEBHOOK_URL_LEN_MAX + 256) return 0;
    const char *p = (const char *)data, *end = p + size;
    const char *nl = memchr(p, '\n', size);
    size_t nets_len = nl != NULL ? (size_t)(nl - p) : 0;
    const char *u = nl != NULL ? nl + 1 : p;
    size_t url_len = (size_t)(end - u);
    /* Private copies, so reading past either is caught. */
    char *nets_text = malloc(nets_len + 1), *url = malloc(url_len + 1);
    memcpy(nets_text, p, nets_len);
    nets_text[nets_len] = '\0';
    memcpy(url, u, url_len);
    url[url_len] = '\0';

    fs_config_nets_t nets;
    char nerr[256];
    int have_nets = fs_config_parse_nets(nets_text, &nets, nerr, sizeof(nerr)) == 0;
    if (!have_nets && nerr[0] == '\0') abort();

    fs_error_t err = {0};
    bool valid = fs_notify_url_valid(url, &err);
    if (!valid) check_rejection(&err);
    err = (fs_error_t){0};
    bool allowed = fs_notify_url_allowed(url, NULL, &err);
    if (!allowed) check_rejection(&err);
    if (allowed && !valid) abort();
    if (allowed && host_inside(url)) abort();
    if (have_nets) {
        err = (fs_error_t){0};
        bool with = fs_notify_url_allowed(url, &nets, &err);
        if (!with) check_rejection(&err);
        if (allowed && !with) abort();
        if (with && !valid) abort();
    }

    /* The address check alone, on the input's first bytes. */
    if (size >= 17) {
        int family = data[0] & 1 ? AF_INET6 : AF_INET;
        const char *why = fs_notify_addr_refused(family, data + 1, NULL);
        int inside = family == AF_INET ? v4_inside(data + 1) : v6_inside(data + 1);
        if (inside && why == NULL) abort();
        if (have_nets && why == NULL && fs_notify_addr_refused(family, data + 1, &nets) != NULL)
            abort();
    }
    free(nets_text);
    free(url);
    return 0;
}
