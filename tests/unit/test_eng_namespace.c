/* test_eng_namespace.c — unit tests of the engine namespace.
 *
 * set/get/del/clear on the map itself, then the PUSH / PULL / CLEAR task
 * forms: all-or-nothing pushes, pulls in order, missing keys named in a
 * NameError, and enough keys to make the table grow.
 */
#include "engine/namespace.h"

#include "testutil.h"

#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char t_dir[PATH_MAX];
static eng_namespace_t *t_ns;

static void t_setup(void)
{
    tu_tmpdir(t_dir, sizeof t_dir, "eng_namespace");
    t_ns = eng_namespace_new();
    ck_assert_ptr_nonnull(t_ns);
}

static void t_teardown(void)
{
    eng_namespace_destroy(&t_ns);
    ck_assert_ptr_null(t_ns);
    eng_namespace_destroy(&t_ns);  // NULL-safe
    tu_rmtree(t_dir);
}

static eng_span_t t_text(const char *s)
{
    return (eng_span_t){.data = s, .len = strlen(s)};
}

static bool t_value_is(const char *key, const void *expect, size_t n)
{
    const void *data = NULL;
    size_t len = 0;
    if (eng_namespace_get(t_ns, key, &data, &len) != IPP_OK)
        return false;
    return len == n && (n == 0 || memcmp(data, expect, n) == 0);
}

START_TEST(test_set_get_del)
{
    ck_assert_uint_eq(eng_namespace_count(t_ns), 0);
    ck_assert_int_eq(eng_namespace_set(t_ns, "a", "one", 3), IPP_OK);
    ck_assert(t_value_is("a", "one", 3));
    ck_assert_int_eq(eng_namespace_set(t_ns, "a", "uno!", 4), IPP_OK);  // replaced
    ck_assert(t_value_is("a", "uno!", 4));
    ck_assert_uint_eq(eng_namespace_count(t_ns), 1);

    const char bin[] = {0, 1, 2, 0, (char)0xff};
    ck_assert_int_eq(eng_namespace_set(t_ns, "bin", bin, sizeof bin), IPP_OK);
    ck_assert(t_value_is("bin", bin, sizeof bin));
    ck_assert_int_eq(eng_namespace_set(t_ns, "empty", NULL, 0), IPP_OK);
    ck_assert(t_value_is("empty", "", 0));
    ck_assert_uint_eq(eng_namespace_count(t_ns), 3);

    // the map keeps its own copy
    char scratch[] = "mutable";
    ck_assert_int_eq(eng_namespace_set(t_ns, "copy", scratch, 7), IPP_OK);
    scratch[0] = 'X';
    ck_assert(t_value_is("copy", "mutable", 7));

    ck_assert_int_eq(eng_namespace_set(t_ns, "", "x", 1), IPP_ERR_INVALID);
    ck_assert_int_eq(eng_namespace_set(t_ns, NULL, "x", 1), IPP_ERR_INVALID);
    ck_assert_int_eq(eng_namespace_get(t_ns, "nope", NULL, NULL), IPP_ERR_NOT_FOUND);
    ck_assert_int_eq(eng_namespace_get(t_ns, "", NULL, NULL), IPP_ERR_NOT_FOUND);

    ck_assert(eng_namespace_del(t_ns, "a"));
    ck_assert(!eng_namespace_del(t_ns, "a"));
    ck_assert_int_eq(eng_namespace_get(t_ns, "a", NULL, NULL), IPP_ERR_NOT_FOUND);
    ck_assert_uint_eq(eng_namespace_count(t_ns), 3);

    eng_namespace_clear(t_ns);
    ck_assert_uint_eq(eng_namespace_count(t_ns), 0);
    ck_assert_int_eq(eng_namespace_get(t_ns, "bin", NULL, NULL), IPP_ERR_NOT_FOUND);
    ck_assert_int_eq(eng_namespace_set(t_ns, "after", "x", 1), IPP_OK);  // still usable
}
END_TEST

START_TEST(test_many_keys)
{
    char key[32], val[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(key, sizeof key, "key%d", i);
        snprintf(val, sizeof val, "value%d", i * 7);
        ck_assert_int_eq(eng_namespace_set(t_ns, key, val, strlen(val)), IPP_OK);
    }
    ck_assert_uint_eq(eng_namespace_count(t_ns), 20000);
    for (int i = 0; i < 20000; i += 97) {
        snprintf(key, sizeof key, "key%d", i);
        snprintf(val, sizeof val, "value%d", i * 7);
        ck_assert(t_value_is(key, val, strlen(val)));
    }
    for (int i = 0; i < 20000; i += 2) {
        snprintf(key, sizeof key, "key%d", i);
        ck_assert(eng_namespace_del(t_ns, key));
    }
    ck_assert_uint_eq(eng_namespace_count(t_ns), 10000);
    ck_assert_int_eq(eng_namespace_get(t_ns, "key4", NULL, NULL), IPP_ERR_NOT_FOUND);
    ck_assert(t_value_is("key5", "value35", 7));
}
END_TEST

START_TEST(test_push_pull)
{
    const char *keys[] = {"x", "y", "z"};
    eng_span_t values[] = {t_text("1"), t_text("two"), {.data = NULL, .len = 0}};
    eng_result_t res;
    eng_result_init(&res);
    ck_assert_int_eq(eng_namespace_push(t_ns, keys, 3, values, 3, &res), IPP_OK);
    ck_assert_int_eq(res.status, ENG_STATUS_OK);
    ck_assert_int_gt(res.started, 0);
    ck_assert_int_ge(res.completed, res.started);
    eng_result_fini(&res);
    ck_assert_uint_eq(eng_namespace_count(t_ns), 3);

    const char *want[] = {"z", "x", "y", "x"};
    eng_result_init(&res);
    ck_assert_int_eq(eng_namespace_pull(t_ns, want, 4, &res), IPP_OK);
    ck_assert_int_eq(res.status, ENG_STATUS_OK);
    ck_assert_uint_eq(res.nbuffers, 4);
    ck_assert_uint_eq(res.buffers[0].len, 0);
    ck_assert_uint_eq(res.buffers[1].len, 1);
    ck_assert_int_eq(memcmp(res.buffers[1].data, "1", 1), 0);
    ck_assert_uint_eq(res.buffers[2].len, 3);
    ck_assert_int_eq(memcmp(res.buffers[2].data, "two", 3), 0);
    ck_assert_uint_eq(res.buffers[3].len, 1);
    eng_result_fini(&res);

    // a later duplicate in one push wins
    const char *dup[] = {"d", "d"};
    eng_span_t dupv[] = {t_text("first"), t_text("second")};
    eng_result_init(&res);
    ck_assert_int_eq(eng_namespace_push(t_ns, dup, 2, dupv, 2, &res), IPP_OK);
    eng_result_fini(&res);
    ck_assert(t_value_is("d", "second", 6));
}
END_TEST

START_TEST(test_push_all_or_nothing)
{
    ck_assert_int_eq(eng_namespace_set(t_ns, "keep", "old", 3), IPP_OK);
    const char *keys[] = {"keep", "new"};
    eng_span_t values[] = {t_text("changed"), t_text("v")};
    eng_result_t res;
    eng_result_init(&res);
    ck_assert_int_eq(eng_namespace_push(t_ns, keys, 2, values, 1, &res), IPP_ERR_INVALID);
    ck_assert_int_eq(res.status, ENG_STATUS_ERROR);
    ck_assert_str_eq(res.ename, "ValueError");
    ck_assert_str_eq(res.evalue, "push: 2 keys but 1 values");
    eng_result_fini(&res);

    const char *with_empty[] = {"keep", ""};
    eng_result_init(&res);
    ck_assert_int_eq(eng_namespace_push(t_ns, with_empty, 2, values, 2, &res), IPP_ERR_INVALID);
    ck_assert_str_eq(res.ename, "ValueError");
    ck_assert_ptr_nonnull(strstr(res.evalue, "key 1 is empty"));
    eng_result_fini(&res);

    // neither push touched anything
    ck_assert(t_value_is("keep", "old", 3));
    ck_assert_uint_eq(eng_namespace_count(t_ns), 1);
}
END_TEST

START_TEST(test_pull_missing)
{
    ck_assert_int_eq(eng_namespace_set(t_ns, "here", "v", 1), IPP_OK);
    const char *one[] = {"here", "gone"};
    eng_result_t res;
    eng_result_init(&res);
    ck_assert_int_eq(eng_namespace_pull(t_ns, one, 2, &res), IPP_ERR_NOT_FOUND);
    ck_assert_int_eq(res.status, ENG_STATUS_ERROR);
    ck_assert_str_eq(res.ename, "NameError");
    ck_assert_str_eq(res.evalue, "name 'gone' is not defined");
    ck_assert_uint_eq(res.nbuffers, 0);  // nothing half-pulled
    eng_result_fini(&res);

    const char *two[] = {"a", "here", "b"};
    eng_result_init(&res);
    ck_assert_int_eq(eng_namespace_pull(t_ns, two, 3, &res), IPP_ERR_NOT_FOUND);
    ck_assert_str_eq(res.evalue, "names 'a', 'b' are not defined");
    eng_result_fini(&res);

    // very many missing keys: the message stays bounded
    const char *many[200];
    for (int i = 0; i < 200; i++)
        many[i] = "a-rather-long-missing-key-name";
    eng_result_init(&res);
    ck_assert_int_eq(eng_namespace_pull(t_ns, many, 200, &res), IPP_ERR_NOT_FOUND);
    ck_assert_uint_lt(strlen(res.evalue), 512);
    eng_result_fini(&res);
}
END_TEST

START_TEST(test_clear_task)
{
    ck_assert_int_eq(eng_namespace_set(t_ns, "a", "1", 1), IPP_OK);
    ck_assert_int_eq(eng_namespace_set(t_ns, "b", "2", 1), IPP_OK);
    eng_result_t res;
    eng_result_init(&res);
    eng_namespace_clear_task(t_ns, &res);
    ck_assert_int_eq(res.status, ENG_STATUS_OK);
    ck_assert_int_gt(res.started, 0);
    ck_assert_int_ge(res.completed, res.started);
    ck_assert_uint_eq(eng_namespace_count(t_ns), 0);
    eng_result_fini(&res);
}
END_TEST

static Suite *t_suite(void)
{
    Suite *s = suite_create("eng_namespace");
    TCase *tc = tcase_create("namespace");
    tcase_add_checked_fixture(tc, t_setup, t_teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_set_get_del);
    tcase_add_test(tc, test_many_keys);
    tcase_add_test(tc, test_push_pull);
    tcase_add_test(tc, test_push_all_or_nothing);
    tcase_add_test(tc, test_pull_missing);
    tcase_add_test(tc, test_clear_task);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(t_suite());
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
