/*
 * fuzz_search_query.c: libFuzzer target for the search query parser
 * (src/search): fs_search_parse_query, the query string of
 * GET /v1/payments/search, and fs_search_parse_time, its RFC 3339 times. The
 * input is the query string (a NUL ends it, as in a C string). Besides
 * crashes and sanitizer reports, it aborts when
 *   - a rejection has no message;
 *   - an accepted query's item has no limit in 1..FS_PAGE_LIMIT_MAX, a q
 *     longer than FS_SEARCH_Q_LEN_MAX, or an amount or created range whose
 *     low end is above its high end;
 *   - a created_gte/created_lte the parser normalized does not read back to
 *     the same instant and text;
 *   - a time fs_search_parse_time accepts does not survive
 *     fs_search_format_time and a second parse unchanged.
 * Run by make fuzz (scripts/fuzz.sh), seeds in fuzz/corpus/search_query.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/core/limits.h"
#include "../src/search/search.h"

static void time_round_trip(const char *text)
{
    int64_t us, again;
    if (!fs_search_parse_time(text, &us)) return;
    char out[64];
    fs_search_format_time(us, out, sizeof(out));
    if (!fs_search_parse_time(out, &again) || again != us) abort();
}

static void range(const json_t *item, const char *lo, const char *hi)
{
    const json_t *a = json_object_get(item, lo), *b = json_object_get(item, hi);
    if (json_is_integer(a) && json_is_integer(b) && json_integer_value(a) > json_integer_value(b))
        abort();
    if (json_is_string(a) && json_is_string(b)) {
        int64_t x, y;
        if (!fs_search_parse_time(json_string_value(a), &x) ||
            !fs_search_parse_time(json_string_value(b), &y) || x > y)
            abort();
    }
}

static void normalized(const json_t *item, const char *name)
{
    const json_t *v = json_object_get(item, name);
    if (v == NULL) return;
    int64_t us;
    char out[64];
    if (!json_is_string(v) || !fs_search_parse_time(json_string_value(v), &us)) abort();
    fs_search_format_time(us, out, sizeof(out));
    if (strcmp(out, json_string_value(v)) != 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FS_QUERY_LEN_MAX + 256) return 0;
    /* A private copy, so reading past it is caught. */
    char *query = malloc(size + 1);
    memcpy(query, data, size);
    query[size] = '\0';

    json_t *item = json_object();
    fs_error_t err = {0};
    if (fs_search_parse_query(query, item, &err)) {
        json_int_t limit = json_integer_value(json_object_get(item, "limit"));
        if (limit < 1 || limit > FS_PAGE_LIMIT_MAX) abort();
        const json_t *q = json_object_get(item, "q");
        if (q != NULL && (!json_is_string(q) || json_string_length(q) == 0 ||
                          json_string_length(q) > FS_SEARCH_Q_LEN_MAX))
            abort();
        range(item, "amount_gte", "amount_lte");
        range(item, "created_gte", "created_lte");
        normalized(item, "created_gte");
        normalized(item, "created_lte");
        char *text = json_dumps(item, JSON_COMPACT);
        if (text == NULL) abort();
        free(text);
    } else if (err.message[0] == '\0') {
        abort();
    }
    json_decref(item);

    time_round_trip(query);
    free(query);
    return 0;
}
