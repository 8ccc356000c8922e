/* Unit tests of src/objects: the key rules, the filesystem store's put/get
 * in a temporary directory, and its I/O thread handing results to a loop. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <dirent.h>
#include <event2/thread.h>

#include "../../src/core/core.h"
#include "../../src/objects/objects.h"

static char root[256];

static int make_root(void **state)
{
    (void)state;
    snprintf(root, sizeof(root), "/tmp/finsys-objects-XXXXXX");
    return mkdtemp(root) != NULL ? 0 : -1;
}

static int remove_root(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    return system(cmd) == 0 ? 0 : -1;
}

static void keys_are_checked(void **state)
{
    (void)state;
    assert_true(fs_objects_key_is_valid("receipts/ten_1/pay_abc.json"));
    assert_true(fs_objects_key_is_valid("a"));
    assert_true(fs_objects_key_is_valid("a-b_c.D/9"));
    const char *bad[] = {"", "/abs", "a/", "a//b", "..", "a/../b", "./a", "a/.hidden",
                         "a b", "a\\b", "a/b?c", "caf\xc3\xa9", "a\nb", "a/..", "."};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_false(fs_objects_key_is_valid(bad[i]));
    }
    char longest[FS_OBJECT_KEY_LEN_MAX + 2];
    memset(longest, 'k', sizeof(longest));
    longest[FS_OBJECT_KEY_LEN_MAX] = '\0';
    assert_true(fs_objects_key_is_valid(longest));
    longest[FS_OBJECT_KEY_LEN_MAX] = 'k';
    longest[FS_OBJECT_KEY_LEN_MAX + 1] = '\0';
    assert_false(fs_objects_key_is_valid(longest));
    assert_false(fs_objects_key_is_valid(NULL));
}

/* Files in dir whose name starts with a dot: a temporary file left over. */
static int dot_files(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' && strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    }
    closedir(d);
    return n;
}

/* Puts made together: each lands as if put alone (two directories, one
 * object overwritten), the refused ones change nothing, no temporary file
 * is left. */
static void put_many_lands_each_as_put_would(void **state)
{
    (void)state;
    char err[256];
    fs_objects_t *s = fs_objects_open_dir(root, err, sizeof(err));
    assert_non_null(s);
    static char big[FS_OBJECT_BYTES_MAX + 1];
    fs_objects_put_t puts[] = {
        {"many/ten_a/pay_1.json", "one", 3},
        {"many/ten_b/pay_2.json", "two", 3},
        {"many/ten_a/../x", "bad", 3},
        {"many/ten_a/pay_3.json", big, sizeof(big)},
        {"many/ten_a/pay_4.json", "four", 4},
        {"many/ten_a/pay_1.json", "uno", 3},
    };
    fs_objects_status_t st[6];
    fs_objects_put_many(s, 6, puts, st);
    fs_objects_status_t want[] = {FS_OBJECTS_OK, FS_OBJECTS_OK, FS_OBJECTS_BAD_KEY,
                                  FS_OBJECTS_TOO_LARGE, FS_OBJECTS_OK, FS_OBJECTS_OK};
    for (int i = 0; i < 6; i++) assert_int_equal(st[i], want[i]);
    const char *keys[] = {"many/ten_a/pay_1.json", "many/ten_b/pay_2.json",
                          "many/ten_a/pay_4.json", "many/ten_a/pay_3.json"};
    const char *bodies[] = {"uno", "two", "four", NULL};
    for (int i = 0; i < 4; i++) {
        char *data = NULL;
        size_t len = 0;
        fs_objects_status_t got = fs_objects_get(s, keys[i], &data, &len);
        if (bodies[i] == NULL) {
            assert_int_equal(got, FS_OBJECTS_NOT_FOUND);
            continue;
        }
        assert_int_equal(got, FS_OBJECTS_OK);
        assert_int_equal(len, strlen(bodies[i]));
        assert_memory_equal(data, bodies[i], len);
        free(data);
    }
    char dir[300];
    snprintf(dir, sizeof(dir), "%s/many/ten_a", root);
    assert_int_equal(dot_files(dir), 0);
    snprintf(dir, sizeof(dir), "%s/many/ten_b", root);
    assert_int_equal(dot_files(dir), 0);
    fs_objects_close(s);
}

static void put_then_get_round_trips(void **state)
{
    (void)state;
    char err[256];
    fs_objects_t *s = fs_objects_open_dir(root, err, sizeof(err));
    assert_non_null(s);
    const char doc[] = "{\"object\":\"receipt\"}";
    assert_int_equal(fs_objects_put(s, "receipts/ten_a/pay_1.json", doc, strlen(doc)),
                     FS_OBJECTS_OK);
    char *data;
    size_t len;
    assert_int_equal(fs_objects_get(s, "receipts/ten_a/pay_1.json", &data, &len), FS_OBJECTS_OK);
    assert_int_equal(len, strlen(doc));
    assert_string_equal(data, doc);
    free(data);

    /* A second put replaces the object whole, and leaves no temporary file. */
    assert_int_equal(fs_objects_put(s, "receipts/ten_a/pay_1.json", "v2", 2), FS_OBJECTS_OK);
    assert_int_equal(fs_objects_get(s, "receipts/ten_a/pay_1.json", &data, &len), FS_OBJECTS_OK);
    assert_int_equal(len, 2);
    assert_memory_equal(data, "v2", 2);
    free(data);
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/receipts/ten_a", root);
    assert_int_equal(dot_files(dir), 0);

    /* The file is where the key says. */
    char path[512];
    struct stat st;
    snprintf(path, sizeof(path), "%s/receipts/ten_a/pay_1.json", root);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 2);
    fs_objects_close(s);
}

static void missing_bad_and_oversized_objects_are_refused(void **state)
{
    (void)state;
    char err[256];
    fs_objects_t *s = fs_objects_open_dir(root, err, sizeof(err));
    assert_non_null(s);
    char *data = (char *)"untouched";
    size_t len = 7;
    assert_int_equal(fs_objects_get(s, "receipts/none.json", &data, &len),
                     FS_OBJECTS_NOT_FOUND);
    assert_null(data);
    assert_int_equal(fs_objects_get(s, "../etc/passwd", &data, &len), FS_OBJECTS_BAD_KEY);
    assert_int_equal(fs_objects_put(s, "/etc/x", "x", 1), FS_OBJECTS_BAD_KEY);
    assert_int_equal(fs_objects_put(s, "a/../../x", "x", 1), FS_OBJECTS_BAD_KEY);
    /* A directory is no object. */
    assert_int_equal(fs_objects_put(s, "d/x", "x", 1), FS_OBJECTS_OK);
    assert_int_equal(fs_objects_get(s, "d", &data, &len), FS_OBJECTS_NOT_FOUND);

    /* An object grown past the limit behind the store's back is not read. */
    char path[512];
    snprintf(path, sizeof(path), "%s/big", root);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(ftruncate(fileno(f), FS_OBJECT_BYTES_MAX + 1), 0);
    fclose(f);
    assert_int_equal(fs_objects_get(s, "big", &data, &len), FS_OBJECTS_TOO_LARGE);
    char *huge = calloc(1, FS_OBJECT_BYTES_MAX + 1);
    assert_int_equal(fs_objects_put(s, "huge", huge, FS_OBJECT_BYTES_MAX + 1),
                     FS_OBJECTS_TOO_LARGE);
    free(huge);
    fs_objects_close(s);
}

static void an_unusable_root_is_refused(void **state)
{
    (void)state;
    char err[256] = "";
    char file[512];
    snprintf(file, sizeof(file), "%s/plain-file", root);
    FILE *f = fopen(file, "w");
    fclose(f);
    assert_null(fs_objects_open_dir(file, err, sizeof(err)));
    assert_non_null(strstr(err, "FINSYS_OBJECTS_DIR"));
    assert_null(fs_objects_open_dir("", err, sizeof(err)));
    /* A missing root is made. */
    char fresh[512];
    snprintf(fresh, sizeof(fresh), "%s/new/deeper/", root);
    fs_objects_t *s = fs_objects_open_dir(fresh, err, sizeof(err));
    assert_non_null(s);
    fs_objects_close(s);
}

/* The I/O thread: results come back on the loop. */
typedef struct {
    int calls;
    fs_objects_status_t last;
    char text[64];
    struct event_base *base;
} seen_t;

static void on_io(void *arg, fs_objects_status_t st, char *data, size_t len)
{
    seen_t *seen = arg;
    seen->calls++;
    seen->last = st;
    snprintf(seen->text, sizeof(seen->text), "%.*s", (int)len, data != NULL ? data : "");
    free(data);
    event_base_loopbreak(seen->base);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

static void io_thread_answers_on_the_loop(void **state)
{
    (void)state;
    char err[256];
    fs_objects_t *s = fs_objects_open_dir(root, err, sizeof(err));
    struct event_base *base = event_base_new();
    /* A loop with nothing else to wait for would return at once. */
    struct event *keep = event_new(base, -1, EV_PERSIST, on_tick, NULL);
    struct timeval tick = {0, 10000};
    event_add(keep, &tick);
    fs_objects_io_t *io = fs_objects_io_new(base, s);
    seen_t seen = {.base = base};
    assert_int_equal(fs_objects_io_put(io, "io/obj", "hello", 5, on_io, &seen), 0);
    assert_false(fs_objects_io_idle(io));
    event_base_dispatch(base);
    assert_int_equal(seen.calls, 1);
    assert_int_equal(seen.last, FS_OBJECTS_OK);
    assert_int_equal(fs_objects_io_get(io, "io/obj", on_io, &seen), 0);
    event_base_dispatch(base);
    assert_int_equal(seen.calls, 2);
    assert_string_equal(seen.text, "hello");
    assert_int_equal(fs_objects_io_get(io, "io/none", on_io, &seen), 0);
    event_base_dispatch(base);
    assert_int_equal(seen.last, FS_OBJECTS_NOT_FOUND);
    assert_true(fs_objects_io_idle(io));

    /* Freed with work queued: every callback is called, once. */
    for (int i = 0; i < 10; i++) fs_objects_io_get(io, "io/obj", on_io, &seen);
    fs_objects_io_free(io);
    assert_int_equal(seen.calls, 13);
    event_free(keep);
    event_base_free(base);
    fs_objects_close(s);
}

/* The streaming writer: nothing is visible before commit, an object larger
 * than FS_OBJECT_BYTES_MAX lands whole, abort leaves nothing, and
 * open_read gives the bytes back as an fd. */
static void a_streamed_object_appears_whole_at_commit(void **state)
{
    (void)state;
    char err[256];
    fs_objects_t *s = fs_objects_open_dir(root, err, sizeof(err));
    assert_non_null(s);
    fs_objects_status_t st;
    fs_objects_writer_t *w = fs_objects_writer_open(s, "exports/ten_a/exp_1.csv", &st);
    assert_non_null(w);
    char chunk[64 * 1024];
    memset(chunk, 'x', sizeof(chunk));
    size_t total = 0;
    for (int i = 0; i < 40; i++) { /* 2.5 MiB: past FS_OBJECT_BYTES_MAX */
        assert_int_equal(fs_objects_writer_write(w, chunk, sizeof(chunk)), FS_OBJECTS_OK);
        total += sizeof(chunk);
    }
    int fd;
    size_t len;
    assert_int_equal(fs_objects_open_read(s, "exports/ten_a/exp_1.csv", &fd, &len),
                     FS_OBJECTS_NOT_FOUND);
    assert_int_equal(fs_objects_writer_commit(w), FS_OBJECTS_OK);
    assert_int_equal(fs_objects_open_read(s, "exports/ten_a/exp_1.csv", &fd, &len), FS_OBJECTS_OK);
    assert_int_equal(len, total);
    char first[4];
    assert_int_equal(read(fd, first, 4), 4);
    assert_memory_equal(first, "xxxx", 4);
    close(fd);
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/exports/ten_a", root);
    assert_int_equal(dot_files(dir), 0);

    w = fs_objects_writer_open(s, "exports/ten_a/exp_2.csv", &st);
    assert_non_null(w);
    assert_int_equal(fs_objects_writer_write(w, "a,b\r\n", 5), FS_OBJECTS_OK);
    fs_objects_writer_abort(w);
    assert_int_equal(fs_objects_open_read(s, "exports/ten_a/exp_2.csv", &fd, &len),
                     FS_OBJECTS_NOT_FOUND);
    assert_int_equal(dot_files(dir), 0);
    assert_null(fs_objects_writer_open(s, "../escape.csv", &st));
    assert_int_equal(st, FS_OBJECTS_BAD_KEY);
    fs_objects_close(s);
}

/* The folder store's head, ranges, list (sorted, by prefix, dot-files
 * skipped) and delete: what the archive job uses, as on S3. */
typedef struct {
    char keys[16][80];
    size_t sizes[16];
    int n;
} listed_t;

static int on_listed(void *arg, const char *key, size_t len)
{
    listed_t *l = arg;
    if (l->n < 16) {
        snprintf(l->keys[l->n], sizeof(l->keys[0]), "%s", key);
        l->sizes[l->n] = len;
    }
    l->n++;
    return 0;
}

static void head_range_list_and_delete_on_the_folder(void **state)
{
    (void)state;
    char err[256];
    fs_objects_t *s = fs_objects_open_dir(root, err, sizeof(err));
    assert_non_null(s);
    const char *keys[] = {"arch/t2/b", "arch/t1/x.json", "arch/t1/a", "archive", "other/z"};
    for (int i = 0; i < 5; i++)
        assert_int_equal(fs_objects_put(s, keys[i], "0123456789", (size_t)i + 1), FS_OBJECTS_OK);
    char dot[512];
    snprintf(dot, sizeof(dot), "%s/arch/t1/.tmp-left", root);
    FILE *f = fopen(dot, "w");
    fclose(f);
    size_t len = 0;
    assert_int_equal(fs_objects_head(s, "arch/t2/b", &len), FS_OBJECTS_OK);
    assert_int_equal(len, 1);
    assert_int_equal(fs_objects_head(s, "arch/none", &len), FS_OBJECTS_NOT_FOUND);
    assert_int_equal(fs_objects_head(s, "arch", &len), FS_OBJECTS_NOT_FOUND); /* a folder */
    char *data;
    assert_int_equal(fs_objects_get_range(s, "other/z", 1, 3, &data, &len), FS_OBJECTS_OK);
    assert_int_equal(len, 3);
    assert_memory_equal(data, "123", 3);
    free(data);
    assert_int_equal(fs_objects_get_range(s, "other/z", 3, 10, &data, &len), FS_OBJECTS_OK);
    assert_int_equal(len, 2);
    free(data);
    assert_int_equal(fs_objects_get_range(s, "other/z", 50, 10, &data, &len), FS_OBJECTS_OK);
    assert_int_equal(len, 0);
    free(data);

    listed_t l = {0};
    assert_int_equal(fs_objects_list(s, "arch", on_listed, &l), FS_OBJECTS_OK);
    assert_int_equal(l.n, 4);
    assert_string_equal(l.keys[0], "arch/t1/a");
    assert_string_equal(l.keys[1], "arch/t1/x.json");
    assert_string_equal(l.keys[2], "arch/t2/b");
    assert_string_equal(l.keys[3], "archive");
    assert_int_equal(l.sizes[0], 3);
    memset(&l, 0, sizeof(l));
    assert_int_equal(fs_objects_list(s, "arch/t1/", on_listed, &l), FS_OBJECTS_OK);
    assert_int_equal(l.n, 2);
    memset(&l, 0, sizeof(l));
    assert_int_equal(fs_objects_list(s, "", on_listed, &l), FS_OBJECTS_OK);
    assert_true(l.n >= 5);
    assert_int_equal(fs_objects_list(s, "../", on_listed, &l), FS_OBJECTS_BAD_KEY);

    assert_int_equal(fs_objects_delete(s, "arch/t2/b"), FS_OBJECTS_OK);
    assert_int_equal(fs_objects_head(s, "arch/t2/b", &len), FS_OBJECTS_NOT_FOUND);
    assert_int_equal(fs_objects_delete(s, "arch/t2/b"), FS_OBJECTS_OK);
    assert_int_equal(fs_objects_delete(s, "../x"), FS_OBJECTS_BAD_KEY);
    unlink(dot);
    fs_objects_close(s);
}

/* FINSYS_OBJECTS_URL. */
static void s3_urls_are_parsed(void **state)
{
    (void)state;
    fs_s3_url_t u;
    char err[256];
    unsetenv("AWS_REGION");
    unsetenv("AWS_DEFAULT_REGION");
    assert_int_equal(fs_s3_url_parse("s3://my-bucket/finsys/prod?region=eu-west-1", &u, err,
                                     sizeof(err)),
                     0);
    assert_string_equal(u.bucket, "my-bucket");
    assert_string_equal(u.prefix, "finsys/prod/");
    assert_string_equal(u.region, "eu-west-1");
    assert_string_equal(u.base, "https://my-bucket.s3.eu-west-1.amazonaws.com");
    assert_false(u.path_style);
    /* No prefix, a trailing slash; the region from the environment. */
    setenv("AWS_DEFAULT_REGION", "us-west-2", 1);
    assert_int_equal(fs_s3_url_parse("s3://bkt/", &u, err, sizeof(err)), 0);
    assert_string_equal(u.prefix, "");
    assert_string_equal(u.region, "us-west-2");
    setenv("AWS_REGION", "ap-south-1", 1); /* before AWS_DEFAULT_REGION */
    assert_int_equal(fs_s3_url_parse("s3://bkt/p/", &u, err, sizeof(err)), 0);
    assert_string_equal(u.prefix, "p/");
    assert_string_equal(u.region, "ap-south-1");
    unsetenv("AWS_REGION");
    unsetenv("AWS_DEFAULT_REGION");
    /* A dotted bucket on AWS: path-style (the wildcard certificate). */
    assert_int_equal(fs_s3_url_parse("s3://my.bucket?region=eu-west-1", &u, err, sizeof(err)), 0);
    assert_string_equal(u.base, "https://s3.eu-west-1.amazonaws.com/my.bucket");
    assert_true(u.path_style);
    /* A custom endpoint: path-style, us-east-1 unless told. */
    assert_int_equal(fs_s3_url_parse("s3://finsys-test/objs?endpoint=http://127.0.0.1:9000", &u,
                                     err, sizeof(err)),
                     0);
    assert_string_equal(u.base, "http://127.0.0.1:9000/finsys-test");
    assert_string_equal(u.region, "us-east-1");
    assert_true(u.path_style);
    assert_int_equal(fs_s3_url_parse("s3://b12/x?region=r-1&endpoint=https%3A%2F%2Fminio.local%2F",
                                     &u, err, sizeof(err)),
                     0);
    assert_string_equal(u.base, "https://minio.local/b12");
    assert_string_equal(u.region, "r-1");

    /* Refused, each naming what is wrong. */
    struct {
        const char *url, *says;
    } bad[] = {
        {"http://bucket/p", "s3://"},
        {"s3://", "bucket"},
        {"s3://ab/p?region=x", "bucket"},
        {"s3://Upper/p?region=x", "bucket"},
        {"s3://-bkt/p?region=x", "bucket"},
        {"s3://bkt/p?region=x&foo=1", "unknown parameter 'foo'"},
        {"s3://bkt/a/../b?region=x", "prefix"},
        {"s3://bkt/a//b?region=x", "prefix"},
        {"s3://bkt/.hidden?region=x", "prefix"},
        {"s3://bkt/p", "no region"},
        {"s3://bkt/p?region=EU_WEST", "region"},
        {"s3://bkt/p?endpoint=ftp://x", "endpoint"},
        {"s3://bkt/p?endpoint=http://h/path", "endpoint"},
        {"s3://bkt/p?endpoint=http://", "endpoint"},
        {"s3://bkt/p?endpoint=%zz", "endpoint"},
        {"s3://bkt/p?endpoint", "endpoint"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        if (fs_s3_url_parse(bad[i].url, &u, err, sizeof(err)) != -1)
            fail_msg("%s was taken", bad[i].url);
        if (strstr(err, bad[i].says) == NULL)
            fail_msg("%s: '%s' does not say '%s'", bad[i].url, err, bad[i].says);
    }
    char longest[FS_S3_URL_LEN_MAX + 16];
    snprintf(longest, sizeof(longest), "s3://bkt/%0*d", FS_S3_URL_LEN_MAX, 0);
    assert_int_equal(fs_s3_url_parse(longest, &u, err, sizeof(err)), -1);
}

/* ListObjectsV2 pages. */
static void s3_list_pages_are_parsed(void **state)
{
    (void)state;
    const char page[] =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        "<Name>b</Name><Prefix>p/</Prefix><KeyCount>3</KeyCount><MaxKeys>3</MaxKeys>"
        "<IsTruncated>true</IsTruncated>"
        "<Contents><Key>p/a&amp;b</Key><LastModified>2026-01-01T00:00:00.000Z</LastModified>"
        "<ETag>&quot;x&quot;</ETag><Size>12</Size><StorageClass>STANDARD</StorageClass></Contents>"
        "<Contents><Key>p/caf&#233;&#x2F;x</Key><Size>0</Size></Contents>"
        "<Contents><Size>18446744073709551615</Size><Key>p/&lt;odd&gt;</Key></Contents>"
        "<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=&amp;</NextContinuationToken>"
        "</ListBucketResult>";
    listed_t l = {0};
    bool more;
    char token[128];
    assert_int_equal(fs_s3_list_parse(page, strlen(page), on_listed, &l, &more, token,
                                      sizeof(token)),
                     0);
    assert_true(more);
    assert_string_equal(token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=&");
    assert_int_equal(l.n, 3);
    assert_string_equal(l.keys[0], "p/a&b");
    assert_int_equal(l.sizes[0], 12);
    assert_string_equal(l.keys[1], "p/caf\xc3\xa9/x");
    assert_string_equal(l.keys[2], "p/<odd>");
    assert_int_equal(l.sizes[2], SIZE_MAX);

    const char last[] = "<ListBucketResult><IsTruncated>false</IsTruncated>"
                        "<KeyCount>0</KeyCount></ListBucketResult>";
    memset(&l, 0, sizeof(l));
    assert_int_equal(fs_s3_list_parse(last, strlen(last), on_listed, &l, &more, token,
                                      sizeof(token)),
                     0);
    assert_false(more);
    assert_int_equal(l.n, 0);
    assert_string_equal(token, "");

    /* Not a page, or not one to trust: the list fails rather than guesses. */
    const char *bad[] = {
        "",
        "<Error><Code>AccessDenied</Code></Error>",
        "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>", /* no token */
        "<ListBucketResult><IsTruncated>maybe</IsTruncated></ListBucketResult>",
        "<ListBucketResult><Contents><Key>a</Key></Contents></ListBucketResult>", /* no size */
        "<ListBucketResult><Contents><Key>a</Key><Size>-1</Size></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Key>a</Key><Size>99999999999999999999</Size></Contents>"
        "</ListBucketResult>",
        "<ListBucketResult><Contents><Key>a&bogus;</Key><Size>1</Size></Contents>"
        "</ListBucketResult>",
        "<ListBucketResult><Contents><Key>a&#0;</Key><Size>1</Size></Contents>"
        "</ListBucketResult>",
        "<ListBucketResult><Contents><Key>a&#xD800;</Key><Size>1</Size></Contents>"
        "</ListBucketResult>",
        "<ListBucketResult><Contents><Key><![CDATA[a]]></Key><Size>1</Size></Contents>"
        "</ListBucketResult>",
        "<ListBucketResult><Contents><Key></Key><Size>1</Size></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Key>a</Key><Size>1</Size></Contents>", /* cut short */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&l, 0, sizeof(l));
        if (fs_s3_list_parse(bad[i], strlen(bad[i]), on_listed, &l, &more, token, sizeof(token))
            != -1)
            fail_msg("page %zu was taken: %s", i, bad[i]);
    }
    /* A key longer than S3 allows (1,024 bytes). */
    char *huge = malloc(3000);
    int n = snprintf(huge, 3000, "<ListBucketResult><Contents><Key>");
    memset(huge + n, 'k', 1100);
    snprintf(huge + n + 1100, 3000 - (size_t)n - 1100,
             "</Key><Size>1</Size></Contents></ListBucketResult>");
    assert_int_equal(fs_s3_list_parse(huge, strlen(huge), on_listed, &l, &more, token,
                                      sizeof(token)),
                     -1);
    free(huge);
    /* A token longer than the room for it. */
    const char tok[] = "<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>"
                       "0123456789</NextContinuationToken></ListBucketResult>";
    assert_int_equal(fs_s3_list_parse(tok, strlen(tok), on_listed, &l, &more, token, 5), -1);
}

/* The S3 store needs credentials; it makes no request to open. */
static void s3_store_needs_credentials(void **state)
{
    (void)state;
    char err[256];
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    assert_null(fs_objects_open("", "s3://bkt/p?region=eu-west-1", err, sizeof(err)));
    assert_non_null(strstr(err, "AWS_ACCESS_KEY_ID"));
    setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", 1);
    fs_objects_t *s = fs_objects_open(root, "s3://bkt/p?region=eu-west-1", err, sizeof(err));
    assert_non_null(s);
    /* Bad keys never become requests. */
    char *data;
    size_t len;
    assert_int_equal(fs_objects_get(s, "../x", &data, &len), FS_OBJECTS_BAD_KEY);
    fs_objects_close(s);
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
}

int main(void)
{
    evthread_use_pthreads();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(keys_are_checked),
        cmocka_unit_test(put_then_get_round_trips),
        cmocka_unit_test(put_many_lands_each_as_put_would),
        cmocka_unit_test(missing_bad_and_oversized_objects_are_refused),
        cmocka_unit_test(an_unusable_root_is_refused),
        cmocka_unit_test(io_thread_answers_on_the_loop),
        cmocka_unit_test(a_streamed_object_appears_whole_at_commit),
        cmocka_unit_test(head_range_list_and_delete_on_the_folder),
        cmocka_unit_test(s3_urls_are_parsed),
        cmocka_unit_test(s3_list_pages_are_parsed),
        cmocka_unit_test(s3_store_needs_credentials),
    };
    return cmocka_run_group_tests(tests, make_root, remove_root);
}
