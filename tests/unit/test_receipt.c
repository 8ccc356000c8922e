/* Unit tests of src/receipt: the document, its HTML page (escaped), the
 * Accept check and the hash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../src/receipt/receipt.h"

static json_t *facts(json_int_t amount, const char *currency, const char *description)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:n, s:s, s:s, s:I, s:s, s:s?, s:s, s:s}",
                     "object", "receipt", "number", "RCPT-00000042", "payment", "pay_x",
                     "tenant", "ten_t", "tenant_name", "Shop & Co", "from_account", "acct_f",
                     "from_account_name", "to_account", "acct_t", "to_account_name", "Bob",
                     "amount", amount, "currency", currency, "description", description,
                     "paid_at", "2024-05-01T10:00:00.000000Z", "issued_at",
                     "2024-05-01T10:00:01.000000Z");
}

static void document_formats_the_amount_from_minor_units(void **state)
{
    (void)state;
    struct { json_int_t amount; const char *cur; const char *want; } cases[] = {
        {1234, "USD", "12.34 USD"}, {5, "USD", "0.05 USD"}, {100, "JPY", "100 JPY"},
        {1234567, "BHD", "1234.567 BHD"}, {INT64_MAX, "USD", "92233720368547758.07 USD"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *f = facts(cases[i].amount, cases[i].cur, "x");
        size_t len;
        char *doc = fs_receipt_document(f, &len);
        assert_non_null(doc);
        assert_int_equal(len, strlen(doc));
        json_t *d = json_loads(doc, 0, NULL);
        assert_string_equal(json_string_value(json_object_get(d, "amount_formatted")),
                            cases[i].want);
        assert_int_equal(json_integer_value(json_object_get(d, "amount")), cases[i].amount);
        assert_string_equal(json_string_value(json_object_get(d, "object")), "receipt");
        assert_string_equal(json_string_value(json_object_get(d, "number")), "RCPT-00000042");
        assert_true(json_is_null(json_object_get(d, "from_account_name")));
        json_decref(d);
        free(doc);
        json_decref(f);
    }
    /* The same facts give the same bytes: a rewrite after a crash is the
     * same object. */
    json_t *f = facts(1, "EUR", NULL);
    size_t l1, l2;
    char *a = fs_receipt_document(f, &l1), *b = fs_receipt_document(f, &l2);
    assert_int_equal(l1, l2);
    assert_memory_equal(a, b, l1);
    free(a);
    free(b);
    json_decref(f);
    /* Facts without a known currency or an integer amount make none. */
    f = facts(1, "XXX", NULL);
    assert_null(fs_receipt_document(f, &l1));
    json_decref(f);
    f = json_pack("{s:s, s:f}", "currency", "USD", "amount", 1.5);
    assert_null(fs_receipt_document(f, &l1));
    json_decref(f);
}

static void html_escapes_every_string(void **state)
{
    (void)state;
    json_t *f = facts(1234, "USD", "<script>alert('x')</script> & \"more\"");
    size_t len, hlen;
    char *doc = fs_receipt_document(f, &len);
    char *html = fs_receipt_html(doc, len, &hlen);
    assert_non_null(html);
    assert_int_equal(hlen, strlen(html));
    assert_null(strstr(html, "<script>"));
    assert_non_null(strstr(html, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; "
                                 "&quot;more&quot;"));
    assert_non_null(strstr(html, "Shop &amp; Co"));
    assert_non_null(strstr(html, "12.34 USD"));
    assert_non_null(strstr(html, "RCPT-00000042"));
    assert_non_null(strstr(html, "<!DOCTYPE html>"));
    assert_non_null(strstr(html, "@media print"));
    free(html);
    free(doc);
    json_decref(f);
}

static void html_refuses_what_is_not_a_receipt(void **state)
{
    (void)state;
    size_t hlen;
    const char *bad[] = {"", "not json", "{\"object\":\"payment\",\"amount\":1,"
                                         "\"currency\":\"USD\"}",
                         "{\"object\":\"receipt\",\"amount\":\"1\",\"currency\":\"USD\"}",
                         "{\"object\":\"receipt\",\"amount\":1,\"currency\":\"ZZZ\"}",
                         "{\"object\":\"receipt\",\"amount\":1,\"curr"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_null(fs_receipt_html(bad[i], strlen(bad[i]), &hlen));
    }
}

static void accept_chooses_html_only_when_preferred(void **state)
{
    (void)state;
    assert_false(fs_receipt_wants_html(NULL));
    assert_false(fs_receipt_wants_html(""));
    assert_false(fs_receipt_wants_html("*/*"));
    assert_false(fs_receipt_wants_html("application/json"));
    assert_false(fs_receipt_wants_html("text/html, application/json")); /* a tie */
    assert_false(fs_receipt_wants_html("text/html;q=0.5, application/json"));
    assert_false(fs_receipt_wants_html("text/html;q=0"));
    assert_false(fs_receipt_wants_html("text/htmlx"));
    assert_false(fs_receipt_wants_html("text/html;q=bogus, */*;q=0.1"));
    assert_true(fs_receipt_wants_html("text/html"));
    assert_true(fs_receipt_wants_html("TEXT/HTML"));
    assert_true(fs_receipt_wants_html("text/*"));
    assert_true(fs_receipt_wants_html("application/json;q=0.9, text/html"));
    assert_true(fs_receipt_wants_html(
        "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")); /* a browser */
    assert_true(fs_receipt_wants_html("text/html ; q=1.0 , application/json ; q=0.999"));
}

static void sha256_is_the_standard_one(void **state)
{
    (void)state;
    char hex[65];
    fs_receipt_sha256_hex("abc", 3, hex);
    assert_string_equal(hex,
                        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(document_formats_the_amount_from_minor_units),
        cmocka_unit_test(html_escapes_every_string),
        cmocka_unit_test(html_refuses_what_is_not_a_receipt),
        cmocka_unit_test(accept_chooses_html_only_when_preferred),
        cmocka_unit_test(sha256_is_the_standard_one),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
