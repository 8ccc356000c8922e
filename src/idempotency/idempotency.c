/*
 * idempotency.c: key checks and request fingerprints (see idempotency.h).
 */
#include "idempotency.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

bool fs_idempotency_key_check(const char *key, fs_error_t *err)
{
    if (key == NULL) {
        return fs_fail(err, FS_IDEMPOTENCY_KEY_MISSING, "Idempotency-Key",
                       "This request changes state and needs an Idempotency-Key header "
                       "(1 to %d printable ASCII characters).",
                       FS_IDEMPOTENCY_KEY_LEN_MAX);
    }
    size_t len = strlen(key);
    if (len == 0 || len > FS_IDEMPOTENCY_KEY_LEN_MAX) {
        return fs_fail(err, FS_INVALID_REQUEST, "Idempotency-Key",
                       "Idempotency-Key must be 1 to %d characters long.",
                       FS_IDEMPOTENCY_KEY_LEN_MAX);
    }
    for (size_t i = 0; i < len; i++) {
        if (key[i] < 0x20 || key[i] > 0x7e) {
            return fs_fail(err, FS_INVALID_REQUEST, "Idempotency-Key",
                           "Idempotency-Key must be printable ASCII.");
        }
    }
    return true;
}

void fs_idempotency_fingerprint(const char *method, const char *path, const json_t *body,
                                char hex[FS_IDEMPOTENCY_FP_HEX_LEN + 1])
{
    crypto_hash_sha256_state st;
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const unsigned char *)method, strlen(method));
    crypto_hash_sha256_update(&st, (const unsigned char *)"\n", 1);
    crypto_hash_sha256_update(&st, (const unsigned char *)path, strlen(path));
    crypto_hash_sha256_update(&st, (const unsigned char *)"\n", 1);
    if (body != NULL) {
        char *canon = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        FS_ASSERT(canon != NULL);
        crypto_hash_sha256_update(&st, (const unsigned char *)canon, strlen(canon));
        free(canon);
    }
    crypto_hash_sha256_final(&st, digest);
    sodium_bin2hex(hex, FS_IDEMPOTENCY_FP_HEX_LEN + 1, digest, sizeof(digest));
}
