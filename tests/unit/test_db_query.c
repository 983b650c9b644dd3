/* test_db_query.c — the db_query compiler and the fnmatch matcher, as
 * pure units (no database file).
 *
 * fnmatch cases are the answers Python's fnmatch.fnmatchcase gives; the
 * compiler is checked for what it emits (parameters, never user text) and
 * for every error naming the key, operator or value that is wrong.
 */
#include "db/fnmatch.h"
#include "db/query.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *text;
    const char *pattern;
    bool match;
} t_case_t;

// What Python 3's fnmatch.fnmatchcase(text, pattern) returns.
static const t_case_t t_cases[] = {
    {"abc", "abc", true},
    {"abc", "a?c", true},
    {"ac", "a?c", false},
    {"abc", "*", true},
    {"", "*", true},
    {"", "?", false},
    {"", "", true},
    {"x", "", false},
    {"abc", "a*", true},
    {"abc", "*c", true},
    {"abc", "*b*", true},
    {"abc", "*d*", false},
    {"aaa", "a*a*a", true},
    {"aa", "a*a*a", false},
    {"a*c", "a[*]c", true},
    {"abc", "a[*]c", false},
    {"a?c", "a[?]c", true},
    {"abc", "a[?]c", false},
    {"a", "[ab]", true},
    {"c", "[ab]", false},
    {"c", "[!ab]", true},
    {"a", "[!ab]", false},
    {"b", "[a-c]", true},
    {"d", "[a-c]", false},
    {"b", "[c-a]", false},  // an empty range matches nothing
    {"b", "[!c-a]", true},
    {"-", "[a-]", true},
    {"a", "[a-]", true},
    {"-", "[-a]", true},
    {"]", "[]]", true},
    {"a", "[!]]", true},
    {"]", "[!]]", false},
    {"^", "[^a]", true},  // '^' is not negation in fnmatch
    {"b", "[^a]", false},
    {"\\", "[\\]", true},
    {"[", "[", true},  // an unclosed '[' is a literal
    {"a[b", "a[b", true},
    {"[ab", "[ab", true},
    {"ab\ncd", "ab*cd", true},
    {"ABC", "abc", false},    // case-sensitive
    {"\xc3\xa9", "?", true},  // one character, two bytes
    {"\xc3\xa9t\xc3\xa9", "?t?", true},
    {"\xe2\x82\xac", "[\xe2\x82\xac$]", true},
    {"\xff", "?", true},  // a byte that is not UTF-8 is one character
    {"bench-0042-17", "bench-0042-*", true},
    {"bench-0043-17", "bench-0042-*", false},
};

START_TEST(test_fnmatch_python_cases)
{
    for (size_t i = 0; i < sizeof t_cases / sizeof t_cases[0]; i++) {
        const t_case_t *c = &t_cases[i];
        bool got = db_fnmatch(c->pattern, strlen(c->pattern), c->text, strlen(c->text));
        ck_assert_msg(got == c->match, "fnmatch(%s, %s) gave %d, Python gives %d", c->text,
                      c->pattern, got, c->match);
    }
}
END_TEST

START_TEST(test_fnmatch_prefix)
{
    ck_assert_uint_eq(db_fnmatch_prefix("bench-42-*", 10), 9);
    ck_assert_uint_eq(db_fnmatch_prefix("*x", 2), 0);
    ck_assert_uint_eq(db_fnmatch_prefix("ab?", 3), 2);
    ck_assert_uint_eq(db_fnmatch_prefix("a[*]c", 5), 1);
    ck_assert_uint_eq(db_fnmatch_prefix("abc", 3), 3);
    // An unclosed '[' is literal, so it belongs to the prefix.
    ck_assert_uint_eq(db_fnmatch_prefix("a[b", 3), 3);
}
END_TEST

// t_compile_err: compile a query (JSON text) and keys (JSON text or NULL)
// and expect IPP_ERR_QUERY with a message containing needle.
static void t_compile_err(const char *query, const char *keys, const char *needle)
{
    json_t *k = keys ? json_loads(keys, JSON_DECODE_ANY, NULL) : NULL;
    ipp_error_t err;
    ipp_error_clear(&err);
    db_query_t *q = db_query_compile_text(query, k, &err);
    json_decref(k);
    ck_assert_msg(q == NULL, "query %s compiled", query);
    ck_assert_int_eq(err.code, IPP_ERR_QUERY);
    ck_assert_msg(strstr(err.msg, needle) != NULL, "error for %s is '%s', expected '%s' in it",
                  query, err.msg, needle);
}

START_TEST(test_query_errors_name_the_culprit)
{
    t_compile_err("{\"bogus\": 1}", NULL, "bogus");
    t_compile_err("{\"label\": {\"$regex\": \"x\"}}", NULL, "$regex");
    t_compile_err("{\"label\": {\"lt\": \"x\"}}", NULL, "'lt'");
    t_compile_err("{\"engine_id\": \"three\"}", NULL, "engine_id");
    t_compile_err("{\"engine_id\": 1.5}", NULL, "engine_id");
    t_compile_err("{\"retries\": true}", NULL, "retries");
    t_compile_err("{\"label\": 5}", NULL, "label");
    t_compile_err("{\"submitted\": \"yesterday\"}", NULL, "yesterday");
    t_compile_err("{\"submitted\": {\"$lt\": [1]}}", NULL, "submitted");
    t_compile_err("{\"completed\": {\"$gt\": null}}", NULL, "completed");
    t_compile_err("{\"msg_id\": {\"$in\": \"abc\"}}", NULL, "$in");
    t_compile_err("{\"msg_id\": {\"$nin\": [\"a\", 3]}}", NULL, "msg_id");
    t_compile_err("{\"msg_id\": {\"$in\": [null]}}", NULL, "null");
    t_compile_err("{\"label\": {\"$glob\": 7}}", NULL, "$glob");
    t_compile_err("{\"engine_id\": {\"$glob\": \"1*\"}}", NULL, "engine_id");
    t_compile_err("{\"header\": \"abc\"}", NULL, "header");
    t_compile_err("{\"buffers\": {\"$in\": []}}", NULL, "buffers");
    t_compile_err("{\"status\": \"finished\"}", NULL, "finished");
    t_compile_err("{\"label\": {}}", NULL, "label");
    t_compile_err("[1, 2]", NULL, "object");
    t_compile_err("{\"label\": ", NULL, "JSON");
    t_compile_err("{}", "[\"msg_id\", \"nope\"]", "nope");
    t_compile_err("{}", "\"label\"", "keys");
}
END_TEST

START_TEST(test_query_is_parameterised)
{
    // A value that looks like SQL stays a value: it is bound, not pasted.
    const char *evil = "{\"label\": \"x' OR 1=1; DROP TABLE tasks; --\","
                       " \"client_uuid\": {\"$glob\": \"*'--\"}}";
    ipp_error_t err;
    db_query_t *q = db_query_compile_text(evil, NULL, &err);
    ck_assert_ptr_nonnull(q);
    const char *where = db_query_where(q);
    ck_assert_ptr_null(strstr(where, "DROP"));
    ck_assert_ptr_null(strstr(where, "OR 1=1"));
    ck_assert_ptr_null(strstr(where, "'--"));
    ck_assert_int_ge(db_query_nparams(q), 2);
    db_query_destroy(&q);
    ck_assert_ptr_null(q);
}
END_TEST

START_TEST(test_query_shapes)
{
    ipp_error_t err;
    // Empty query: everything.
    db_query_t *q = db_query_compile(NULL, NULL, &err);
    ck_assert_ptr_nonnull(q);
    ck_assert_str_eq(db_query_where(q), "1");
    ck_assert_int_eq(db_query_nparams(q), 0);
    // Default projection: all but the buffers, msg_id included.
    ck_assert(db_query_keys(q) & DB_KEYBIT(DB_KEY_MSG_ID));
    ck_assert(!(db_query_keys(q) & DB_KEYBIT(DB_KEY_BUFFERS)));
    ck_assert(!(db_query_keys(q) & DB_KEYBIT(DB_KEY_RESULT_BUFFERS)));
    db_query_destroy(&q);

    // A projection always has msg_id.
    json_t *keys = json_pack("[s]", "completed");
    q = db_query_compile(NULL, keys, &err);
    ck_assert_ptr_nonnull(q);
    ck_assert_uint_eq(db_query_keys(q), DB_KEYBIT(DB_KEY_MSG_ID) | DB_KEYBIT(DB_KEY_COMPLETED));
    db_query_destroy(&q);
    json_decref(keys);

    // null and {"$ne": null}.
    q = db_query_compile_text("{\"completed\": null, \"started\": {\"$ne\": null}}", NULL, &err);
    ck_assert_ptr_nonnull(q);
    ck_assert_ptr_nonnull(strstr(db_query_where(q), "\"completed\" IS NULL"));
    ck_assert_ptr_nonnull(strstr(db_query_where(q), "\"started\" IS NOT NULL"));
    db_query_destroy(&q);

    // A $in over 100,000 ids is one parameter, whatever SQLite's limit.
    json_t *ids = json_array();
    for (int i = 0; i < 100000; i++) {
        char id[64];
        snprintf(id, sizeof id, "id-%06d", i);
        json_array_append_new(ids, json_string(id));
    }
    json_t *query = json_pack("{s:{s:o}}", "msg_id", "$in", ids);
    q = db_query_compile(query, NULL, &err);
    ck_assert_ptr_nonnull(q);
    ck_assert_int_eq(db_query_nparams(q), 1);
    db_query_destroy(&q);
    json_decref(query);

    // Status conditions that exclude 'ok' say so, for the partial index.
    q = db_query_compile_text("{\"status\": \"pending\"}", NULL, &err);
    ck_assert_ptr_nonnull(strstr(db_query_where(q), "<> 'ok'"));
    db_query_destroy(&q);
    q = db_query_compile_text("{\"status\": {\"$in\": [\"ok\", \"error\"]}}", NULL, &err);
    ck_assert_ptr_null(strstr(db_query_where(q), "<> 'ok'"));
    db_query_destroy(&q);

    // Timestamps as ISO 8601 or integers compile to the same parameter count.
    q = db_query_compile_text("{\"submitted\": {\"$gte\": \"2026-01-02T03:04:05.5Z\", \"$lt\": 9}}",
                              NULL, &err);
    ck_assert_ptr_nonnull(q);
    ck_assert_int_eq(db_query_nparams(q), 2);
    db_query_destroy(&q);
}
END_TEST

static Suite *t_suite(void)
{
    Suite *s = suite_create("db_query");
    TCase *tc = tcase_create("compiler");
    tcase_add_test(tc, test_fnmatch_python_cases);
    tcase_add_test(tc, test_fnmatch_prefix);
    tcase_add_test(tc, test_query_errors_name_the_culprit);
    tcase_add_test(tc, test_query_is_parameterised);
    tcase_add_test(tc, test_query_shapes);
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
