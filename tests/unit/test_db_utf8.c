/* test_db_utf8.c — the db folder's UTF-8 decoder at its edges, and the
 * three users of it agreeing on what a character is.
 *
 * Every case states the bytes, how many of them the decoder may look at,
 * and the length and code point it must give (length 0: not a character).
 */
#include "db/fnmatch.h"
#include "db/sql.h"
#include "db/utf8.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *bytes;  // input
    size_t n;           // bytes the decoder may read
    size_t len;         // expected length; 0 = refused
    uint32_t cp;        // expected code point when len > 0
    const char *what;   // for failure messages
} t_case_t;

static const t_case_t t_cases[] = {
    // Boundaries of each length, all accepted.
    {"\x00", 1, 1, 0x0, "NUL"},
    {"A", 1, 1, 0x41, "ASCII"},
    {"\x7F", 1, 1, 0x7F, "U+007F"},
    {"\xC2\x80", 2, 2, 0x80, "U+0080"},
    {"\xDF\xBF", 2, 2, 0x7FF, "U+07FF"},
    {"\xE0\xA0\x80", 3, 3, 0x800, "U+0800"},
    {"\xED\x9F\xBF", 3, 3, 0xD7FF, "U+D7FF, just below the surrogates"},
    {"\xEE\x80\x80", 3, 3, 0xE000, "U+E000, just above the surrogates"},
    {"\xEF\xBF\xBF", 3, 3, 0xFFFF, "U+FFFF"},
    {"\xF0\x90\x80\x80", 4, 4, 0x10000, "U+10000"},
    {"\xF4\x8F\xBF\xBF", 4, 4, 0x10FFFF, "U+10FFFF"},
    {"\xC3\xA9xyz", 5, 2, 0xE9, "only the first character is decoded"},
    // Overlong forms.
    {"\xC0\x80", 2, 0, 0, "overlong NUL"},
    {"\xC1\xBF", 2, 0, 0, "overlong U+007F"},
    {"\xE0\x80\x80", 3, 0, 0, "overlong NUL in three bytes"},
    {"\xE0\x9F\xBF", 3, 0, 0, "overlong U+07FF"},
    {"\xF0\x80\x80\x80", 4, 0, 0, "overlong NUL in four bytes"},
    {"\xF0\x8F\xBF\xBF", 4, 0, 0, "overlong U+FFFF"},
    // UTF-16 surrogates.
    {"\xED\xA0\x80", 3, 0, 0, "U+D800"},
    {"\xED\xB2\x80", 3, 0, 0, "U+DC80"},
    {"\xED\xBF\xBF", 3, 0, 0, "U+DFFF"},
    // Past U+10FFFF.
    {"\xF4\x90\x80\x80", 4, 0, 0, "U+110000"},
    {"\xF5\x80\x80\x80", 4, 0, 0, "lead byte F5"},
    {"\xF7\xBF\xBF\xBF", 4, 0, 0, "U+1FFFFF"},
    {"\xF8\x88\x80\x80\x80", 5, 0, 0, "five-byte form"},
    {"\xFC\x84\x80\x80\x80\x80", 6, 0, 0, "six-byte form"},
    {"\xFE", 1, 0, 0, "byte FE"},
    {"\xFF", 1, 0, 0, "byte FF"},
    // Cut short, by the data or by n.
    {"\xC3", 1, 0, 0, "two-byte lead alone"},
    {"\xE2\x82", 2, 0, 0, "three-byte sequence missing one"},
    {"\xF0\x9F\x98", 3, 0, 0, "four-byte sequence missing one"},
    {"\xC3\xA9", 1, 0, 0, "n stops inside the sequence"},
    {"\xF0\x9F\x98\x80", 3, 0, 0, "n stops before the last byte"},
    {"A", 0, 0, 0, "nothing to read"},
    // Broken continuations.
    {"\x80", 1, 0, 0, "a lone continuation byte"},
    {"\xBF\xBF", 2, 0, 0, "continuation bytes only"},
    {"\xC3\x28", 2, 0, 0, "second byte is ASCII"},
    {"\xE2\x28\xA1", 3, 0, 0, "second of three is ASCII"},
    {"\xE2\x82\x28", 3, 0, 0, "third of three is ASCII"},
    {"\xF0\x9F\x98\x28", 4, 0, 0, "fourth of four is ASCII"},
    {"\xC3\xC3\xA9", 3, 0, 0, "a lead byte where a continuation belongs"},
};

START_TEST(test_decode_edges)
{
    const t_case_t *c = &t_cases[_i];
    uint32_t cp = 0xDEADBEEF;
    size_t len = db_utf8_decode((const unsigned char *)c->bytes, c->n, &cp);
    ck_assert_msg(len == c->len, "%s: length %zu, want %zu", c->what, len, c->len);
    if (c->len)
        ck_assert_msg(cp == c->cp, "%s: U+%04X, want U+%04X", c->what, (unsigned)cp,
                      (unsigned)c->cp);
    else
        ck_assert_msg(cp == 0xDEADBEEF, "%s: code point written though refused", c->what);
    // A NULL cp is allowed and gives the same length.
    ck_assert_uint_eq(db_utf8_decode((const unsigned char *)c->bytes, c->n, NULL), c->len);
}
END_TEST

START_TEST(test_valid_whole_texts)
{
    ck_assert(db_utf8_valid("", 0));
    ck_assert(db_utf8_valid("plain", 5));
    ck_assert(db_utf8_valid("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80", 14));
    ck_assert(db_utf8_valid("a\0b", 3));  // NUL is a character here; callers refuse it
    ck_assert(!db_utf8_valid("caf\xC3", 4));
    ck_assert(!db_utf8_valid("\xED\xA0\x80\xED\xB0\x80", 6));  // a surrogate pair in UTF-8
    ck_assert(!db_utf8_valid("ok\xC0\xAFok", 6));
    ck_assert(!db_utf8_valid("\xF4\x90\x80\x80", 4));
}
END_TEST

START_TEST(test_users_agree)
{
    // The JSON escaper keeps a character whole and replaces each byte of
    // what is not one.
    db_sbuf_t b;
    db_sbuf_init(&b);
    db_sbuf_add_json_str(&b, "\xF4\x8F\xBF\xBF", 4);
    ck_assert_str_eq(b.data, "\"\xF4\x8F\xBF\xBF\"");
    db_sbuf_reset(&b);
    db_sbuf_add_json_str(&b, "\xED\xA0\x80", 3);
    ck_assert_str_eq(b.data, "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"");
    db_sbuf_reset(&b);
    db_sbuf_add_utf8(&b, "a\xE0\x80\x80z", 5);
    ck_assert_str_eq(b.data, "a\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBDz");
    db_sbuf_fini(&b);

    // The matcher counts one character for a sequence, one per byte otherwise.
    ck_assert(db_fnmatch("?", 1, "\xF4\x8F\xBF\xBF", 4));
    ck_assert(!db_fnmatch("?", 1, "\xF4\x90\x80\x80", 4));
    ck_assert(db_fnmatch("????", 4, "\xF4\x90\x80\x80", 4));
    ck_assert(!db_fnmatch("?", 1, "\xC0\x80", 2));
    ck_assert(db_fnmatch("??", 2, "\xC0\x80", 2));
    ck_assert(db_fnmatch("a?", 2, "a\xC3", 2));  // truncated at the end: one raw byte
    ck_assert(db_fnmatch("[\xC3\xA9]", 4, "\xC3\xA9", 2));
}
END_TEST

static Suite *t_suite(void)
{
    Suite *s = suite_create("db_utf8");
    TCase *tc = tcase_create("utf8");
    tcase_add_loop_test(tc, test_decode_edges, 0, (int)(sizeof t_cases / sizeof t_cases[0]));
    tcase_add_test(tc, test_valid_whole_texts);
    tcase_add_test(tc, test_users_agree);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(t_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
