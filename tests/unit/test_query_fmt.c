/* test_query_fmt.c — tools/fmt (the tools' output formats) in-process:
 * RFC 4180 quoting read back by a parser, JSON lines in column order with
 * bytes that are not UTF-8 replaced, table alignment by characters (not
 * bytes) with escapes, cut cells and no trailing spaces, the vertical
 * layout, ISO 8601 cells, and a failed write reported, not ignored.
 */
#include "test_query_util.h"
#include "tools/fmt.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// s_render: rows (a JSON array, stolen) through a formatter with cols and
// opts; what it wrote (caller frees).
static char *s_render(const fmt_opts_t *o, const char *const *cols, size_t n, json_t *rows)
{
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(mem);
    ipp_error_t err;
    fmt_t *f = fmt_new(mem, o, cols, n, &err);
    ck_assert_ptr_nonnull(f);
    for (size_t i = 0; i < json_array_size(rows); i++)
        ck_assert_int_eq(fmt_row(f, json_array_get(rows, i), &err), IPP_OK);
    ck_assert_int_eq(fmt_end(f, &err), IPP_OK);
    ck_assert_uint_eq(fmt_rows(f), json_array_size(rows));
    fmt_destroy(&f);
    ck_assert_ptr_null(f);
    fclose(mem);
    json_decref(rows);
    return text;
}

static const char *const COLS[] = {"id", "text", "n", "when", "d"};

static json_t *s_rows(void)
{
    json_t *rows = json_array();
    json_t *r = json_object();
    json_object_set_new(r, "id", json_string("a"));
    json_object_set_new(r, "text", json_string("x, \"quoted\"\r\nnext line"));
    json_object_set_new(r, "n", json_integer(-42));
    json_object_set_new(r, "when", fmt_time(1000002));
    json_object_set_new(r, "d", fmt_seconds(1.5));
    json_object_set_new(r, "ignored", json_string("not a column"));
    json_array_append_new(rows, r);
    r = json_object();
    json_object_set_new(r, "id", json_string("b"));
    json_object_set_new(r, "text", json_pack("[s,i]", "v,1", 2));
    json_object_set_new(r, "when", fmt_time(0));
    json_array_append_new(rows, r);
    return rows;
}

START_TEST(test_csv_round_trip)
{
    fmt_opts_t o = {.kind = FMT_CSV};
    char *text = s_render(&o, COLS, 5, s_rows());
    ck_assert_ptr_nonnull(strstr(text, "id,text,n,when,d\r\n"));
    json_t *csv = qt_csv(text);
    ck_assert_uint_eq(json_array_size(csv), 3);
    json_t *a = json_array_get(csv, 1), *b = json_array_get(csv, 2);
    ck_assert_uint_eq(json_array_size(a), 5);
    ck_assert_str_eq(json_string_value(json_array_get(a, 1)), "x, \"quoted\"\r\nnext line");
    ck_assert_str_eq(json_string_value(json_array_get(a, 2)), "-42");
    ck_assert_str_eq(json_string_value(json_array_get(a, 3)), "1970-01-01T00:00:01.000002Z");
    ck_assert_str_eq(json_string_value(json_array_get(a, 4)), "1.500000");
    ck_assert_str_eq(json_string_value(json_array_get(b, 1)), "[\"v,1\",2]");
    ck_assert_str_eq(json_string_value(json_array_get(b, 2)), "");  // missing: empty
    ck_assert_str_eq(json_string_value(json_array_get(b, 3)), "");  // time 0: unknown
    json_decref(csv);
    free(text);
    // No rows: still the header.
    text = s_render(&o, COLS, 5, json_array());
    ck_assert_str_eq(text, "id,text,n,when,d\r\n");
    free(text);
}
END_TEST

START_TEST(test_json_lines)
{
    fmt_opts_t o = {.kind = FMT_JSON};
    json_t *rows = s_rows();
    // Bytes that are not UTF-8, and a NUL, become U+FFFD.
    json_object_set_new(json_array_get(rows, 1), "id", fmt_text("b\xff\xfe\0z", 5));
    char *text = s_render(&o, COLS, 5, rows);
    json_t *lines = qt_json_lines(text);
    ck_assert_uint_eq(json_array_size(lines), 2);
    json_t *a = json_array_get(lines, 0), *b = json_array_get(lines, 1);
    ck_assert_uint_eq(json_object_size(a), 5);  // columns only
    ck_assert_ptr_null(json_object_get(a, "ignored"));
    ck_assert_str_eq(qt_str(a, "when"), "1970-01-01T00:00:01.000002Z");
    ck_assert(json_real_value(json_object_get(a, "d")) == 1.5);
    ck_assert(json_is_null(json_object_get(b, "n")));
    ck_assert(json_is_null(json_object_get(b, "when")));
    ck_assert_str_eq(qt_str(b, "id"), "b\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBDz");
    // Keys in column order.
    ck_assert_ptr_nonnull(strstr(text, "{\"id\":\"a\",\"text\":"));
    json_decref(lines);
    free(text);
}
END_TEST

START_TEST(test_table_alignment)
{
    static const char *const cols[] = {"name", "v", "last"};
    json_t *rows = json_array();
    json_array_append_new(
        rows, json_pack("{s:s,s:i,s:s}", "name", "caf\xC3\xA9", "v", 1, "last", "tab\there\nnl"));
    json_array_append_new(rows, json_pack("{s:s,s:n}", "name", "a-much-longer-name", "v"));
    fmt_opts_t o = {.kind = FMT_TABLE};
    char *text = s_render(&o, cols, 3, rows);
    // Widths count characters: "café" pads like a 4-letter word.
    ck_assert_str_eq(text, "name                v  last\n"
                           "caf\xC3\xA9                1  tab\\there\\nnl\n"
                           "a-much-longer-name  -  -\n");
    free(text);

    // Cut to a width, without the header.
    rows = json_array();
    json_array_append_new(rows, json_pack("{s:s,s:i,s:s}", "name", "abcdefghij", "v", 2, "last",
                                          "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"));
    o.max_width = 5;
    o.no_header = true;
    text = s_render(&o, cols, 3, rows);
    ck_assert_str_eq(text, "abcd\xE2\x80\xA6  2  \xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xE2\x80\xA6\n");
    free(text);

    // An empty last column leaves no trailing spaces; an empty table has
    // its header.
    rows = json_array();
    json_array_append_new(rows, json_pack("{s:s,s:i,s:s}", "name", "x", "v", 10, "last", ""));
    o = (fmt_opts_t){.kind = FMT_TABLE};
    text = s_render(&o, cols, 3, rows);
    ck_assert_str_eq(text, "name  v   last\nx     10\n");
    free(text);
    text = s_render(&o, cols, 3, json_array());
    ck_assert_str_eq(text, "name  v  last\n");
    free(text);
}
END_TEST

START_TEST(test_table_vertical)
{
    static const char *const cols[] = {"id", "stdout", "none", "empty"};
    json_t *rows = json_array();
    json_array_append_new(
        rows, json_pack("{s:s,s:s,s:s}", "id", "one", "stdout", "line 1\nline 2\n", "empty", ""));
    json_array_append_new(rows, json_pack("{s:s}", "id", "two"));
    fmt_opts_t o = {.kind = FMT_TABLE, .vertical = true};
    char *text = s_render(&o, cols, 4, rows);
    ck_assert_str_eq(text, "id      one\n"
                           "stdout  line 1\n"
                           "        line 2\n"
                           "none    -\n"
                           "empty\n"
                           "\n"
                           "id      two\n"
                           "stdout  -\n"
                           "none    -\n"
                           "empty   -\n");
    free(text);
}
END_TEST

START_TEST(test_cells_and_errors)
{
    json_t *t = fmt_time(1767225600000000LL);  // 2026-01-01T00:00:00Z
    ck_assert_str_eq(json_string_value(t), "2026-01-01T00:00:00.000000Z");
    int64_t us;
    ck_assert(fmt_iso_to_us(t, &us));
    ck_assert_int_eq(us, 1767225600000000LL);
    json_decref(t);
    ck_assert(!fmt_iso_to_us(json_null(), &us));
    ck_assert_int_eq(us, 0);
    t = fmt_seconds(-1);
    ck_assert(json_is_null(t));
    json_decref(t);
    ck_assert(fmt_utf8_valid("caf\xC3\xA9", 5));
    ck_assert(!fmt_utf8_valid("\xC3", 1));
    ck_assert(!fmt_utf8_valid("a\0b", 3));
    ck_assert(!fmt_utf8_valid("\xED\xA0\x80", 3));  // a UTF-16 surrogate
    ck_assert_str_eq(fmt_kind_name(FMT_CSV), "csv");

    ipp_error_t err;
    ck_assert_ptr_null(fmt_new(stdout, NULL, COLS, 0, &err));
    ck_assert_int_eq(err.code, IPP_ERR_INVALID);
    fmt_t *f = fmt_new(stdout, NULL, COLS, 5, &err);
    ck_assert_int_eq(fmt_row(f, json_null(), &err), IPP_ERR_INVALID);
    fmt_destroy(&f);
    fmt_destroy(&f);  // NULL-safe

    // A write that fails is an error, not silence.
    FILE *full = fopen("/dev/full", "w");
    if (full) {
        setvbuf(full, NULL, _IONBF, 0);
        fmt_opts_t o = {.kind = FMT_JSON};
        f = fmt_new(full, &o, COLS, 5, &err);
        json_t *row = json_pack("{s:s}", "id", "x");
        ck_assert_int_eq(fmt_row(f, row, &err), IPP_ERR_IO);
        json_decref(row);
        fmt_destroy(&f);
        fclose(full);
    }
}
END_TEST

static Suite *s_suite(void)
{
    Suite *s = suite_create("query_fmt");
    TCase *tc = tcase_create("fmt");
    tcase_add_test(tc, test_csv_round_trip);
    tcase_add_test(tc, test_json_lines);
    tcase_add_test(tc, test_table_alignment);
    tcase_add_test(tc, test_table_vertical);
    tcase_add_test(tc, test_cells_and_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(s_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
