/*
 * auth.h: API keys.
 *
 * A key is "fsk_" followed by 40 random base62 characters (about 238 bits).
 * Only its SHA-256 hash is stored: with that much entropy a fast hash is as
 * safe as a slow one (nothing can be guessed), and it keeps the check per
 * request to a microsecond. The key is shown once, at creation.
 */
#ifndef FS_AUTH_H
#define FS_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#define FS_AUTH_KEY_PREFIX "fsk_"
#define FS_AUTH_KEY_RANDOM_LEN 40
#define FS_AUTH_KEY_BUF_LEN 64
#define FS_AUTH_HASH_HEX_LEN 64
/* How many leading characters of a key are stored to recognise it. */
#define FS_AUTH_KEY_DISPLAY_LEN 12

/* Writes a new random key into out (FS_AUTH_KEY_BUF_LEN bytes). */
void fs_auth_key_new(char *out, size_t out_len);

/* Writes the lower-case hex SHA-256 of key into hex (65 bytes). */
void fs_auth_key_hash(const char *key, char hex[FS_AUTH_HASH_HEX_LEN + 1]);

/* Extracts the key from an "Authorization: Bearer <key>" header value.
 * Returns NULL when the header is missing or not a well-formed bearer key. */
const char *fs_auth_bearer(const char *header);

#endif
