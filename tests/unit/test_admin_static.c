/* Unit tests of src/admin/static.c: the console's content types, the
 * decoding and checking of its paths (no traversal), and which names fall
 * back to index.html. Pure functions: no server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "../../src/admin/admin.h"

static void content_types_by_extension(void **state)
{
    (void)state;
    assert_string_equal(fs_admin_static_content_type("index.html"), "text/html; charset=utf-8");
    assert_string_equal(fs_admin_static_content_type("assets/index-AbC12.js"),
                        "text/javascript; charset=utf-8");
    assert_string_equal(fs_admin_static_content_type("assets/x.mjs"),
                        "text/javascript; charset=utf-8");
    assert_string_equal(fs_admin_static_content_type("assets/x.css"), "text/css; charset=utf-8");
    assert_string_equal(fs_admin_static_content_type("logo.svg"), "image/svg+xml");
    assert_string_equal(fs_admin_static_content_type("a.png"), "image/png");
    assert_string_equal(fs_admin_static_content_type("favicon.ico"), "image/x-icon");
    assert_string_equal(fs_admin_static_content_type("manifest.json"), "application/json");
    assert_string_equal(fs_admin_static_content_type("assets/f.woff2"), "font/woff2");
    assert_string_equal(fs_admin_static_content_type("assets/x.js.map"), "application/json");
    assert_string_equal(fs_admin_static_content_type("robots.txt"), "text/plain; charset=utf-8");
    assert_string_equal(fs_admin_static_content_type("INDEX.HTML"), "text/html; charset=utf-8");
    /* Unknown, none, or a dot only in a directory's name. */
    assert_string_equal(fs_admin_static_content_type("a.exe"), "application/octet-stream");
    assert_string_equal(fs_admin_static_content_type("LICENSE"), "application/octet-stream");
    assert_string_equal(fs_admin_static_content_type("v1.2/README"), "application/octet-stream");
}

static fs_admin_path_t kind(const char *path, char *name)
{
    return fs_admin_static_path(path, name, FS_ADMIN_STATIC_NAME_LEN_MAX + 1);
}

static void paths_of_the_console(void **state)
{
    (void)state;
    char name[FS_ADMIN_STATIC_NAME_LEN_MAX + 1];
    assert_int_equal(kind("/admin", name), FS_ADMIN_PATH_REDIRECT);
    assert_int_equal(kind("/admin/", name), FS_ADMIN_PATH_FILE);
    assert_string_equal(name, "");
    assert_int_equal(kind("/admin/index.html", name), FS_ADMIN_PATH_FILE);
    assert_string_equal(name, "index.html");
    assert_int_equal(kind("/admin/assets/index-x1.js", name), FS_ADMIN_PATH_FILE);
    assert_string_equal(name, "assets/index-x1.js");
    assert_int_equal(kind("/admin/payments/pay_1%20x", name), FS_ADMIN_PATH_FILE);
    assert_string_equal(name, "payments/pay_1 x");
    assert_int_equal(kind("/admin/payments/", name), FS_ADMIN_PATH_FILE);
    assert_int_equal(kind("/admin/.well-known", name), FS_ADMIN_PATH_FILE);
}

static void paths_not_of_the_console(void **state)
{
    (void)state;
    char name[FS_ADMIN_STATIC_NAME_LEN_MAX + 1];
    assert_int_equal(kind("/v1/payments", name), FS_ADMIN_PATH_NOT_CONSOLE);
    assert_int_equal(kind("/administrator", name), FS_ADMIN_PATH_NOT_CONSOLE);
    assert_int_equal(kind("/admin/api/stream", name), FS_ADMIN_PATH_NOT_CONSOLE);
    assert_int_equal(kind("/admin/api/dead-letters", name), FS_ADMIN_PATH_NOT_CONSOLE);
    assert_int_equal(kind("/admin/api", name), FS_ADMIN_PATH_NOT_CONSOLE);
    assert_int_equal(kind("/", name), FS_ADMIN_PATH_NOT_CONSOLE);
    assert_int_equal(kind(NULL, name), FS_ADMIN_PATH_NOT_CONSOLE);
}

static void traversal_is_refused(void **state)
{
    (void)state;
    char name[FS_ADMIN_STATIC_NAME_LEN_MAX + 1];
    const char *bad[] = {
        "/admin/../etc/passwd",     "/admin/assets/../../x",   "/admin/%2e%2e/x",
        "/admin/%2E%2E%2Fetc",      "/admin/assets/%2e%2e",    "/admin/./index.html",
        "/admin//etc/passwd",       "/admin/a//b",             "/admin/..",
        "/admin/a\\..\\b",          "/admin/a%5c..",           "/admin/a%00.html",
        "/admin/a%0a",              "/admin/%zz",              "/admin/%4",
        "/admin/%61pi/stream",      "/admin/%2F%2Fx",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (kind(bad[i], name) != FS_ADMIN_PATH_REFUSED) fail_msg("not refused: %s", bad[i]);
        assert_string_equal(name, "");
    }
    /* A name longer than the limit. */
    char longp[FS_ADMIN_STATIC_NAME_LEN_MAX + 32] = "/admin/";
    memset(longp + 7, 'a', FS_ADMIN_STATIC_NAME_LEN_MAX + 1);
    longp[7 + FS_ADMIN_STATIC_NAME_LEN_MAX + 1] = '\0';
    assert_int_equal(kind(longp, name), FS_ADMIN_PATH_REFUSED);
    /* Dots inside a name are fine. */
    assert_int_equal(kind("/admin/staff/a.b@c.d", name), FS_ADMIN_PATH_FILE);
    assert_int_equal(kind("/admin/...", name), FS_ADMIN_PATH_FILE);
}

static void spa_fallback_outside_assets(void **state)
{
    (void)state;
    assert_true(fs_admin_static_spa_fallback(""));
    assert_true(fs_admin_static_spa_fallback("payments/pay_x"));
    assert_true(fs_admin_static_spa_fallback("staff/a.b@c.d"));
    assert_true(fs_admin_static_spa_fallback("assetsx/y"));
    assert_false(fs_admin_static_spa_fallback("assets/index-old.js"));
    assert_false(fs_admin_static_spa_fallback("assets/"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(content_types_by_extension),
        cmocka_unit_test(paths_of_the_console),
        cmocka_unit_test(paths_not_of_the_console),
        cmocka_unit_test(traversal_is_refused),
        cmocka_unit_test(spa_fallback_outside_assets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
