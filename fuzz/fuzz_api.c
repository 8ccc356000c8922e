/*
 * fuzz_api.c: libFuzzer target for request routing, parsing and validation
 * (fs_api_route and everything it calls). The input is split into lines:
 *   line 1: method (GET, POST, DELETE, PATCH or anything else)
 *   line 2: path      line 3: query      line 4: Authorization
 *   line 5: Idempotency-Key              the rest: the body
 * An empty line stands for "absent". Run by `make fuzz` (scripts/fuzz.sh).
 */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/api/api.h"
#include "../src/op/op.h"

static const char *next_line(const char **p, const char *end, char *buf, size_t buf_len)
{
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    size_t len = nl != NULL ? (size_t)(nl - *p) : (size_t)(end - *p);
    if (len >= buf_len) len = buf_len - 1;
    memcpy(buf, *p, len);
    buf[len] = '\0';
    *p = nl != NULL ? nl + 1 : end;
    if (memchr(buf, '\0', len) != NULL || len == 0) return NULL;
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready = 0;
    if (!ready) {
        if (sodium_init() < 0) abort();
        ready = 1;
    }
    char method[16], path[512], query[512], authorization[128], key[300];
    const char *p = (const char *)data, *end = p + size;
    const char *m = next_line(&p, end, method, sizeof(method));
    const char *pa = next_line(&p, end, path, sizeof(path));
    fs_api_request_t req = {
        .method = m == NULL               ? FS_METHOD_OTHER
                  : strcmp(m, "GET") == 0  ? FS_METHOD_GET
                  : strcmp(m, "POST") == 0 ? FS_METHOD_POST
                  : strcmp(m, "DELETE") == 0 ? FS_METHOD_DELETE
                  : strcmp(m, "PATCH") == 0  ? FS_METHOD_PATCH
                                             : FS_METHOD_OTHER,
        .path = pa != NULL ? pa : "/",
        .query = next_line(&p, end, query, sizeof(query)),
        .authorization = next_line(&p, end, authorization, sizeof(authorization)),
        .idempotency_key = next_line(&p, end, key, sizeof(key)),
    };
    /* The body: a private copy, so reading past it is caught. */
    size_t body_len = (size_t)(end - p);
    char *body = malloc(body_len + 1);
    memcpy(body, p, body_len);
    req.body = body;
    req.body_len = body_len;

    fs_api_result_t res;
    fs_api_route(&req, &res);
    if (res.action == FS_API_STORE) {
        if (res.item == NULL) abort();
        /* An op of the table, and one the API may make. */
        fs_op_t op = fs_op_of(res.item);
        if (op == FS_OP__COUNT || fs_op_has(op, FS_OPF_INTERNAL)) abort();
        /* The admin API is src/admin's: fs_api_route never makes its ops. */
        if (fs_op_has(op, FS_OPF_ADMIN) || fs_op_has(op, FS_OPF_FENCED)) abort();
        char *text = json_dumps(res.item, JSON_COMPACT);
        if (text == NULL) abort();
        free(text);
        json_decref(res.item);
    } else if (res.action == FS_API_REJECT) {
        if (res.item != NULL || res.err.message[0] == '\0') abort();
    }
    free(body);
    return 0;
}
