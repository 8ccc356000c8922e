/*
 * receipt.c: a receipt's document, its HTML page and the Accept check (see
 * receipt.h). Pure functions: no I/O, any thread.
 */
#include "receipt.h"

#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../core/core.h"
#include "../money/money.h"

/* The document's fields, in the order the JSON shows them. */
static const char *const fields[] = {
    "object",       "number",          "payment",    "status",
    "amount",       "currency",        "amount_formatted",
    "description",  "from_account",    "from_account_name",
    "to_account",   "to_account_name", "tenant",     "tenant_name",
    "paid_at",      "issued_at",
};

char *fs_receipt_document(const json_t *facts, size_t *len)
{
    json_t *amount = json_object_get(facts, "amount");
    const fs_currency_t *cur =
        fs_money_currency(json_string_value(json_object_get(facts, "currency")) != NULL
                              ? json_string_value(json_object_get(facts, "currency"))
                              : "");
    if (!json_is_integer(amount) || cur == NULL) return NULL;
    char formatted[64];
    fs_money_format(json_integer_value(amount), cur, formatted, sizeof(formatted));

    json_t *doc = json_object();
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        json_t *v = strcmp(fields[i], "amount_formatted") == 0
                        ? json_string(formatted)
                        : json_incref(json_object_get(facts, fields[i]));
        json_object_set_new(doc, fields[i], v != NULL ? v : json_null());
    }
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(doc);
    FS_ASSERT(text != NULL);
    *len = strlen(text);
    return text;
}

void fs_receipt_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, data, len);
    sodium_bin2hex(out, 65, h, sizeof(h));
}

/* --- HTML --------------------------------------------------------------- */

/* Writes text HTML-escaped: no byte of it can open a tag or an entity, or
 * leave an attribute. */
static void put_escaped(FILE *f, const char *text)
{
    for (const char *c = text != NULL ? text : ""; *c != '\0'; c++) {
        switch (*c) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        case '\'':
            fputs("&#39;", f);
            break;
        default:
            fputc(*c, f);
        }
    }
}

static const char *str(const json_t *doc, const char *key)
{
    return json_string_value(json_object_get(doc, key));
}

/* One row of the table; a missing value shows as a dash. */
static void row(FILE *f, const char *label, const char *value)
{
    fprintf(f, "<tr><th>%s</th><td>", label);
    put_escaped(f, value != NULL && *value != '\0' ? value : "\xe2\x80\x94");
    fputs("</td></tr>\n", f);
}

/* A party: its name over its account id. */
static void party(FILE *f, const char *label, const char *name, const char *account)
{
    fprintf(f, "<tr><th>%s</th><td>", label);
    if (name != NULL && *name != '\0') {
        put_escaped(f, name);
        fputs("<br><span class=\"id\">", f);
        put_escaped(f, account);
        fputs("</span>", f);
    } else {
        fputs("<span class=\"id\">", f);
        put_escaped(f, account);
        fputs("</span>", f);
    }
    fputs("</td></tr>\n", f);
}

static const char style[] =
    "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;color:#111;"
    "max-width:38em;margin:2em auto;padding:0 1em}"
    "h1{font-size:1.5em;margin:0}.number{color:#555;margin:.2em 0 1.5em}"
    ".amount{font-size:2.2em;font-weight:600;margin:0 0 1em}"
    "table{border-collapse:collapse;width:100%}"
    "th,td{text-align:left;vertical-align:top;padding:.5em .3em;border-bottom:1px solid #ddd}"
    "th{width:35%;color:#555;font-weight:normal}"
    ".id{font-family:ui-monospace,monospace;font-size:.9em;color:#444}"
    "footer{margin-top:2em;font-size:.85em;color:#666}"
    "@media print{body{margin:0;max-width:none}a{color:inherit}}";

char *fs_receipt_html(const char *document, size_t len, size_t *out_len)
{
    json_t *doc = json_loadb(document, len, 0, NULL);
    const char *object = str(doc, "object");
    json_t *amount = json_object_get(doc, "amount");
    const fs_currency_t *cur = fs_money_currency(str(doc, "currency") != NULL
                                                     ? str(doc, "currency") : "");
    if (object == NULL || strcmp(object, "receipt") != 0 || !json_is_integer(amount)
        || cur == NULL) {
        json_decref(doc);
        return NULL;
    }
    char formatted[64];
    fs_money_format(json_integer_value(amount), cur, formatted, sizeof(formatted));

    char *page = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&page, &size);
    FS_ASSERT(f != NULL);
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
          "<title>Receipt ", f);
    put_escaped(f, str(doc, "number"));
    fprintf(f, "</title>\n<style>%s</style>\n</head>\n<body>\n<h1>Receipt</h1>\n"
               "<p class=\"number\">No. ", style);
    put_escaped(f, str(doc, "number"));
    fputs("</p>\n<p class=\"amount\">", f);
    put_escaped(f, formatted);
    fputs("</p>\n<table>\n", f);
    row(f, "Status", str(doc, "status"));
    row(f, "Paid at", str(doc, "paid_at"));
    party(f, "From", str(doc, "from_account_name"), str(doc, "from_account"));
    party(f, "To", str(doc, "to_account_name"), str(doc, "to_account"));
    row(f, "Description", str(doc, "description"));
    row(f, "Payment", str(doc, "payment"));
    party(f, "Issued by", str(doc, "tenant_name"), str(doc, "tenant"));
    row(f, "Issued at", str(doc, "issued_at"));
    fputs("</table>\n<footer>Times are UTC. Amounts are in the currency shown.</footer>\n"
          "</body>\n</html>\n", f);
    fclose(f);
    json_decref(doc);
    if (size > FS_RECEIPT_HTML_BYTES_MAX) {
        free(page);
        return NULL;
    }
    *out_len = size;
    return page;
}

/* --- Accept --------------------------------------------------------------- */

/* A q-value in thousandths ("1", "0.8", "0.125"); -1 if malformed. No
 * floating point: the grammar is at most three decimals. */
static int parse_q(const char *s, size_t n)
{
    if (n == 0 || (s[0] != '0' && s[0] != '1')) return -1;
    int q = (s[0] - '0') * 1000;
    if (n == 1) return q;
    if (s[1] != '.' || n > 5) return -1;
    int scale = 100;
    for (size_t i = 2; i < n; i++, scale /= 10) {
        if (!isdigit((unsigned char)s[i])) return -1;
        q += (s[i] - '0') * scale;
    }
    return q > 1000 ? -1 : q;
}

/* How specifically the range [r, r + n) names type/sub: 3 exact, 2
 * "type/wildcard", 1 the full wildcard, 0 not at all. */
static int specificity(const char *r, size_t n, const char *type, const char *sub)
{
    size_t tl = strlen(type), sl = strlen(sub);
    if (n == 3 && memcmp(r, "*/*", 3) == 0) return 1;
    if (n < tl + 2 || strncasecmp(r, type, tl) != 0 || r[tl] != '/') return 0;
    if (n == tl + 2 && r[tl + 1] == '*') return 2;
    if (n == tl + 1 + sl && strncasecmp(r + tl + 1, sub, sl) == 0) return 3;
    return 0;
}

/* The first c in [p, end), or NULL. */
static const char *find(const char *p, const char *end, char c)
{
    for (; p < end; p++) {
        if (*p == c) return p;
    }
    return NULL;
}

/* The q-value the header gives type/sub (its most specific range), 0 when
 * no range names it. */
static int quality(const char *accept, const char *type, const char *sub)
{
    int best_spec = 0, best_q = 0;
    const char *p = accept;
    while (*p != '\0') {
        const char *end = strchr(p, ',');
        if (end == NULL) end = p + strlen(p);
        while (p < end && (*p == ' ' || *p == '\t')) p++;
        const char *semi = find(p, end, ';');
        const char *rend = semi != NULL ? semi : end;
        while (rend > p && (rend[-1] == ' ' || rend[-1] == '\t')) rend--;
        int q = 1000;
        for (const char *a = semi; a != NULL && a < end;) {
            a++;
            while (a < end && (*a == ' ' || *a == '\t')) a++;
            const char *next = find(a, end, ';');
            const char *aend = next != NULL ? next : end;
            while (aend > a && (aend[-1] == ' ' || aend[-1] == '\t')) aend--;
            if (aend - a >= 2 && (a[0] == 'q' || a[0] == 'Q') && a[1] == '=') {
                q = parse_q(a + 2, (size_t)(aend - a - 2));
                if (q < 0) q = 0; /* a malformed range counts for nothing */
            }
            a = next;
        }
        int spec = specificity(p, (size_t)(rend - p), type, sub);
        if (spec > best_spec) {
            best_spec = spec;
            best_q = q;
        }
        p = *end == ',' ? end + 1 : end;
    }
    return best_q;
}

bool fs_receipt_wants_html(const char *accept)
{
    if (accept == NULL || *accept == '\0') return false;
    return quality(accept, "text", "html") > quality(accept, "application", "json");
}
