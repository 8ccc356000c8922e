/*
 * validate.h: checks of request bodies and query strings shared by the API's
 * modules. Each check either stores the value or fills an fs_error_t naming
 * the parameter at fault; nothing here touches the database.
 */
#ifndef FS_VALIDATE_H
#define FS_VALIDATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/core.h"
#include "../money/money.h"

/* Parses a request body as one JSON object. Invalid JSON or UTF-8, duplicate
 * keys, a top-level non-object and integers beyond int64 are rejected with the
 * parameter named where it can be told. An empty body yields an empty object. */
bool fs_validate_body(const char *data, size_t len, json_t **out, fs_error_t *err);

/* Rejects any key of body not in allowed (a NULL-terminated list). */
bool fs_validate_known_fields(const json_t *body, const char *const *allowed, fs_error_t *err);

/* A positive integer amount (>= 1) of minor units. */
bool fs_validate_amount(const json_t *body, const char *name, int64_t *out, fs_error_t *err);

/* A supported ISO 4217 code, upper case. */
bool fs_validate_currency(const json_t *body, const char *name, const fs_currency_t **out,
                          fs_error_t *err);

/* A string of at most max_len bytes. When optional and absent or null,
 * *out is NULL. */
bool fs_validate_string(const json_t *body, const char *name, bool required, size_t max_len,
                        const char **out, fs_error_t *err);

/* An object id: prefix "_" and [A-Za-z0-9] characters, at most FS_ID_LEN_MAX. */
bool fs_validate_id_string(const char *id, const char *prefix);
bool fs_validate_id(const json_t *body, const char *name, const char *prefix, const char **out,
                    fs_error_t *err);

/* metadata: an object of at most FS_METADATA_KEYS_MAX string values, keys of
 * at most FS_METADATA_KEY_LEN_MAX, values of at most FS_METADATA_VALUE_LEN_MAX
 * bytes, FS_METADATA_BYTES_MAX bytes in all. Absent or null gives {}.
 * *out is a new reference. */
bool fs_validate_metadata(const json_t *body, json_t **out, fs_error_t *err);

/* A list query (limit, starting_after, and the extra names in allowed, a
 * NULL-terminated list): checked and copied into item as "limit", "after"
 * and each extra name. */
bool fs_validate_list_query(const char *query, const char *after_prefix,
                            const char *const *allowed, json_t *item, fs_error_t *err);

#endif
