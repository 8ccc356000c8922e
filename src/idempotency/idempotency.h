/*
 * idempotency.h: Idempotency-Key validation and request fingerprints.
 *
 * A key is scoped to the tenant. The first request with a key is executed and
 * its outcome stored in the same transaction as its effect
 * (db/functions/batch.sql); a retry with the same key and the same
 * fingerprint gets the stored response, and one with another fingerprint
 * gets 422.
 */
#ifndef FS_IDEMPOTENCY_H
#define FS_IDEMPOTENCY_H

#include <jansson.h>
#include <stdbool.h>

#include "../core/core.h"

#define FS_IDEMPOTENCY_FP_HEX_LEN 64

/* Checks an Idempotency-Key header value: present, 1..255 printable ASCII. */
bool fs_idempotency_key_check(const char *key, fs_error_t *err);

/* The fingerprint of a request: SHA-256 over the method, the path and the
 * body in canonical form (keys sorted, no whitespace), so that a retry whose
 * JSON differs only in formatting or key order still matches. body may be
 * NULL for an empty body. */
void fs_idempotency_fingerprint(const char *method, const char *path, const json_t *body,
                                char hex[FS_IDEMPOTENCY_FP_HEX_LEN + 1]);

#endif
