/* Unit tests of src/auth: API key generation, hashing and bearer parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "../../src/auth/auth.h"

static int setup(void **state)
{
    (void)state;
    return sodium_init() < 0 ? -1 : 0;
}

static bool is_base62(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static void assert_key_form(const char *key)
{
    size_t p = strlen(FS_AUTH_KEY_PREFIX);
    assert_int_equal(strlen(key), p + FS_AUTH_KEY_RANDOM_LEN);
    assert_memory_equal(key, "fsk_", 4);
    for (size_t i = p; key[i] != '\0'; i++) assert_true(is_base62(key[i]));
}

static void key_has_prefix_and_40_base62_chars(void **state)
{
    (void)state;
    char key[FS_AUTH_KEY_BUF_LEN];
    memset(key, 'x', sizeof(key));
    fs_auth_key_new(key, sizeof(key));
    assert_key_form(key);
    assert_int_equal(strlen(key), 44);
}

static int cmp_keys(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

static void keys_are_distinct(void **state)
{
    (void)state;
    enum { N = 2000 };
    char(*keys)[FS_AUTH_KEY_BUF_LEN] = calloc(N, FS_AUTH_KEY_BUF_LEN);
    assert_non_null(keys);
    for (size_t i = 0; i < N; i++) {
        fs_auth_key_new(keys[i], FS_AUTH_KEY_BUF_LEN);
        assert_key_form(keys[i]);
    }
    qsort(keys, N, FS_AUTH_KEY_BUF_LEN, cmp_keys);
    for (size_t i = 1; i < N; i++) assert_string_not_equal(keys[i - 1], keys[i]);
    free(keys);
}

static void key_is_a_valid_bearer(void **state)
{
    (void)state;
    char key[FS_AUTH_KEY_BUF_LEN], header[FS_AUTH_KEY_BUF_LEN + 16];
    fs_auth_key_new(key, sizeof(key));
    snprintf(header, sizeof(header), "Bearer %s", key);
    const char *k = fs_auth_bearer(header);
    assert_non_null(k);
    assert_string_equal(k, key);
}

static void hash_is_lower_case_sha256_hex(void **state)
{
    (void)state;
    char hex[FS_AUTH_HASH_HEX_LEN + 1];
    /* printf %s abc | sha256sum */
    fs_auth_key_hash("abc", hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    /* printf %s fsk_test | sha256sum */
    fs_auth_key_hash("fsk_test", hex);
    assert_string_equal(hex, "67148fb46828a0fa6ce3ad65299d65162b647b04c9f6cc4cc2d16323bca942d4");
    /* printf '' | sha256sum */
    fs_auth_key_hash("", hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_int_equal(strlen(hex), FS_AUTH_HASH_HEX_LEN);
}

static void bearer_accepts_well_formed_headers(void **state)
{
    (void)state;
    const char *h = "Bearer k";
    assert_ptr_equal(fs_auth_bearer(h), h + 7);
    assert_string_equal(fs_auth_bearer("Bearer k"), "k");
    assert_string_equal(fs_auth_bearer("bearer fsk_abc"), "fsk_abc");
    assert_string_equal(fs_auth_bearer("BEARER fsk_abc"), "fsk_abc");
    assert_string_equal(fs_auth_bearer("Bearer    fsk_abc"), "fsk_abc");
    assert_string_equal(fs_auth_bearer("Bearer a~!#$%&'*+-./:;<=>?@[]^_`{|}"),
                        "a~!#$%&'*+-./:;<=>?@[]^_`{|}");
}

static void bearer_rejects_malformed_headers(void **state)
{
    (void)state;
    assert_null(fs_auth_bearer(NULL));
    assert_null(fs_auth_bearer(""));
    assert_null(fs_auth_bearer("Basic x"));
    assert_null(fs_auth_bearer("Basic dXNlcjpwYXNz"));
    assert_null(fs_auth_bearer("Bearer"));
    assert_null(fs_auth_bearer("Bearer "));
    assert_null(fs_auth_bearer("Bearer    "));
    assert_null(fs_auth_bearer("Bearerk"));
    assert_null(fs_auth_bearer("Bearer\tk"));
    assert_null(fs_auth_bearer("fsk_abc"));
    assert_null(fs_auth_bearer("Token fsk_abc"));
}

static void bearer_rejects_spaces_and_control_chars(void **state)
{
    (void)state;
    assert_null(fs_auth_bearer("Bearer a b"));
    assert_null(fs_auth_bearer("Bearer ab "));
    assert_null(fs_auth_bearer("Bearer a\tb"));
    assert_null(fs_auth_bearer("Bearer a\nb"));
    assert_null(fs_auth_bearer("Bearer a\rb"));
    assert_null(fs_auth_bearer("Bearer a\x01"));
    assert_null(fs_auth_bearer("Bearer a\x1f"));
    assert_null(fs_auth_bearer("Bearer a\x7f"));
    assert_null(fs_auth_bearer("Bearer a\x80"));
    assert_null(fs_auth_bearer("Bearer \xc3\xa9t\xc3\xa9"));
    assert_null(fs_auth_bearer("Bearer \xff"));
}

static void bearer_rejects_too_long_keys(void **state)
{
    (void)state;
    char header[7 + FS_AUTH_KEY_BUF_LEN + 2];
    memcpy(header, "Bearer ", 7);
    /* FS_AUTH_KEY_BUF_LEN - 1 characters: the longest accepted. */
    memset(header + 7, 'k', FS_AUTH_KEY_BUF_LEN - 1);
    header[7 + FS_AUTH_KEY_BUF_LEN - 1] = '\0';
    assert_non_null(fs_auth_bearer(header));
    assert_int_equal(strlen(fs_auth_bearer(header)), FS_AUTH_KEY_BUF_LEN - 1);
    /* One more is too long. */
    memset(header + 7, 'k', FS_AUTH_KEY_BUF_LEN);
    header[7 + FS_AUTH_KEY_BUF_LEN] = '\0';
    assert_null(fs_auth_bearer(header));

    char big[4096];
    memcpy(big, "Bearer ", 7);
    memset(big + 7, 'k', sizeof(big) - 8);
    big[sizeof(big) - 1] = '\0';
    assert_null(fs_auth_bearer(big));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(key_has_prefix_and_40_base62_chars),
        cmocka_unit_test(keys_are_distinct),
        cmocka_unit_test(key_is_a_valid_bearer),
        cmocka_unit_test(hash_is_lower_case_sha256_hex),
        cmocka_unit_test(bearer_accepts_well_formed_headers),
        cmocka_unit_test(bearer_rejects_malformed_headers),
        cmocka_unit_test(bearer_rejects_spaces_and_control_chars),
        cmocka_unit_test(bearer_rejects_too_long_keys),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
