/*
 * account.c: account and deposit request checks (see account.h).
 */
#include "account.h"

#include <string.h>

#include "../validate/validate.h"

bool fs_account_parse_create(const json_t *body, json_t *item, fs_error_t *err)
{
    static const char *const fields[] = {"currency", "name", "type", "metadata", NULL};
    const fs_currency_t *currency;
    const char *name, *type;
    json_t *metadata;
    char id[FS_ID_BUF_LEN];

    if (!fs_validate_known_fields(body, fields, err)) return false;
    if (!fs_validate_currency(body, "currency", &currency, err)) return false;
    if (!fs_validate_string(body, "name", false, FS_NAME_LEN_MAX, &name, err)) return false;
    if (!fs_validate_string(body, "type", false, 16, &type, err)) return false;
    if (type == NULL) type = "user";
    if (strcmp(type, "user") != 0 && strcmp(type, "business") != 0) {
        return fs_fail(err, FS_INVALID_REQUEST, "type", "type must be \"user\" or \"business\".");
    }
    if (!fs_validate_metadata(body, &metadata, err)) return false;

    fs_id_new(FS_ACCOUNT_ID_PREFIX, id, sizeof(id));
    json_object_set_new(item, "id", json_string(id));
    json_object_set_new(item, "currency", json_string(currency->code));
    json_object_set_new(item, "name", name != NULL ? json_string(name) : json_null());
    json_object_set_new(item, "type", json_string(type));
    json_object_set_new(item, "metadata", metadata);
    return true;
}

bool fs_account_parse_deposit(const json_t *body, json_t *item, fs_error_t *err)
{
    static const char *const fields[] = {"amount", NULL};
    int64_t amount;
    char id[FS_ID_BUF_LEN];

    if (!fs_validate_known_fields(body, fields, err)) return false;
    if (!fs_validate_amount(body, "amount", &amount, err)) return false;
    fs_id_new(FS_DEPOSIT_ID_PREFIX, id, sizeof(id));
    json_object_set_new(item, "id", json_string(id));
    json_object_set_new(item, "amount", json_integer(amount));
    return true;
}
