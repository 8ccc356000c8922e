/*
 * auth.c: API key generation, hashing and bearer parsing (see auth.h).
 */
#include "auth.h"

#include <sodium.h>
#include <string.h>
#include <strings.h>

#include "../core/core.h"

void fs_auth_key_new(char *out, size_t out_len)
{
    size_t p = strlen(FS_AUTH_KEY_PREFIX);
    FS_ASSERT(p + FS_AUTH_KEY_RANDOM_LEN + 1 <= out_len);
    memcpy(out, FS_AUTH_KEY_PREFIX, p);
    fs_random_base62(out + p, FS_AUTH_KEY_RANDOM_LEN);
    out[p + FS_AUTH_KEY_RANDOM_LEN] = '\0';
}

void fs_auth_key_hash(const char *key, char hex[FS_AUTH_HASH_HEX_LEN + 1])
{
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(digest, (const unsigned char *)key, strlen(key));
    sodium_bin2hex(hex, FS_AUTH_HASH_HEX_LEN + 1, digest, sizeof(digest));
}

const char *fs_auth_bearer(const char *header)
{
    if (header == NULL || strncasecmp(header, "Bearer ", 7) != 0) return NULL;
    const char *key = header + 7;
    while (*key == ' ') key++;
    size_t len = strlen(key);
    if (len == 0 || len >= FS_AUTH_KEY_BUF_LEN) return NULL;
    for (size_t i = 0; i < len; i++) {
        if (key[i] <= ' ' || key[i] > '~') return NULL;
    }
    return key;
}
