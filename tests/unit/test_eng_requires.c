/* test_eng_requires.c — unit tests of functional-dependency checks.
 *
 * fn:, cmd: and tag: requirements met and unmet, unknown kinds and
 * malformed entries, and a search path pointing at a temp dir holding an
 * executable, a plain file and a directory.
 */
#include "engine/builtins.h"
#include "engine/requires.h"

#include "testutil.h"

#include <check.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char t_dir[PATH_MAX];
static eng_functions_t *t_fns;

static void t_touch(const char *name, mode_t mode)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", t_dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "#!/bin/sh\n", 10), 10);
    close(fd);
    chmod(path, mode);
}

static void t_setup(void)
{
    tu_tmpdir(t_dir, sizeof t_dir, "eng_requires");
    t_touch("ipp-tool", 0755);
    t_touch("ipp-data", 0644);
    char sub[PATH_MAX + 16];
    snprintf(sub, sizeof sub, "%s/ipp-dir", t_dir);
    ck_assert_int_eq(mkdir(sub, 0755), 0);
    t_fns = eng_functions_new();
    ck_assert_ptr_nonnull(t_fns);
    ipp_error_t err;
    ck_assert_int_eq(eng_builtins_register(t_fns, &err), IPP_OK);
}

static void t_teardown(void)
{
    eng_functions_destroy(&t_fns);
    tu_rmtree(t_dir);
}

static const char *t_tags[] = {"gpu", "big-mem"};

// t_check: run the check with the built-ins, the two tags and path.
static eng_missing_t t_check(const char *const *reqs, size_t n, const char *path)
{
    eng_requires_env_t env = {.functions = t_fns, .tags = t_tags, .ntags = 2, .path = path};
    eng_missing_t m;
    eng_missing_init(&m);
    ck_assert_int_eq(eng_requires_check(reqs, n, &env, &m), IPP_OK);
    return m;
}

START_TEST(test_all_met)
{
    const char *reqs[] = {"fn:echo", "fn:sleep", "cmd:sh", "cmd:/bin/sh", "tag:gpu", "tag:big-mem"};
    eng_missing_t m = t_check(reqs, 6, NULL);
    ck_assert_uint_eq(m.count, 0);
    eng_missing_fini(&m);
    m = t_check(NULL, 0, NULL);  // nothing required
    ck_assert_uint_eq(m.count, 0);
    eng_missing_fini(&m);
}
END_TEST

START_TEST(test_fn)
{
    const char *reqs[] = {"fn:echo", "fn:no_such_fn", "fn:"};
    eng_missing_t m = t_check(reqs, 3, NULL);
    ck_assert_uint_eq(m.count, 2);
    ck_assert_str_eq(m.items[0], "fn:no_such_fn");
    ck_assert_str_eq(m.reasons[0], "no function 'no_such_fn' is registered");
    ck_assert_str_eq(m.items[1], "fn:");
    ck_assert_ptr_nonnull(strstr(m.reasons[1], "names no function"));
    eng_missing_fini(&m);
    ck_assert_uint_eq(m.count, 0);

    // an engine with no registry has no functions
    eng_requires_env_t bare = {0};
    eng_missing_init(&m);
    ck_assert_int_eq(eng_requires_check(reqs, 1, &bare, &m), IPP_OK);
    ck_assert_uint_eq(m.count, 1);
    eng_missing_fini(&m);
}
END_TEST

START_TEST(test_cmd)
{
    char abs_tool[PATH_MAX + 32], abs_data[PATH_MAX + 32], abs_dir[PATH_MAX + 32];
    snprintf(abs_tool, sizeof abs_tool, "cmd:%s/ipp-tool", t_dir);
    snprintf(abs_data, sizeof abs_data, "cmd:%s/ipp-data", t_dir);
    snprintf(abs_dir, sizeof abs_dir, "cmd:%s/ipp-dir", t_dir);
    const char *reqs[] = {
        "cmd:ipp-tool", "cmd:ipp-data", "cmd:ipp-dir", "cmd:sh",
        abs_tool,       abs_data,       abs_dir,       "cmd:ipp-no-such-program-4711",
        "cmd:"};
    // search path: only our temp dir
    eng_missing_t m = t_check(reqs, 9, t_dir);
    ck_assert_uint_eq(m.count, 7);
    size_t i = 0;
    ck_assert_str_eq(m.items[i], "cmd:ipp-data");  // not executable
    ck_assert_str_eq(m.reasons[i++], "program 'ipp-data' not found on PATH");
    ck_assert_str_eq(m.items[i], "cmd:ipp-dir");  // a directory
    ck_assert_str_eq(m.reasons[i++], "program 'ipp-dir' not found on PATH");
    ck_assert_str_eq(m.items[i++], "cmd:sh");  // not on this path
    ck_assert_str_eq(m.items[i], abs_data);
    ck_assert_ptr_nonnull(strstr(m.reasons[i++], "is not an executable file"));
    ck_assert_str_eq(m.items[i], abs_dir);
    ck_assert_ptr_nonnull(strstr(m.reasons[i++], "is not an executable file"));
    ck_assert_str_eq(m.items[i++], "cmd:ipp-no-such-program-4711");
    ck_assert_str_eq(m.items[i], "cmd:");
    ck_assert_ptr_nonnull(strstr(m.reasons[i], "names no program"));
    eng_missing_fini(&m);

    // the engine's $PATH by default
    char path_env[PATH_MAX + 64];
    snprintf(path_env, sizeof path_env, "/nonexistent-ipp-bin:%s", t_dir);
    setenv("PATH", path_env, 1);
    const char *via_env[] = {"cmd:ipp-tool"};
    m = t_check(via_env, 1, NULL);
    ck_assert_uint_eq(m.count, 0);
    eng_missing_fini(&m);

    char found[PATH_MAX];
    ck_assert(eng_requires_find_program("ipp-tool", NULL, found, sizeof found));
    char expect[PATH_MAX + 16];
    snprintf(expect, sizeof expect, "%s/ipp-tool", t_dir);
    ck_assert_str_eq(found, expect);
    ck_assert(!eng_requires_find_program("", NULL, NULL, 0));
    ck_assert(!eng_requires_find_program(NULL, NULL, NULL, 0));
}
END_TEST

START_TEST(test_tag)
{
    const char *reqs[] = {"tag:gpu", "tag:tpu", "tag:", "tag:GPU"};
    eng_missing_t m = t_check(reqs, 4, NULL);
    ck_assert_uint_eq(m.count, 3);
    ck_assert_str_eq(m.items[0], "tag:tpu");
    ck_assert_str_eq(m.reasons[0], "engine has no tag 'tpu'");
    ck_assert_str_eq(m.items[1], "tag:");
    ck_assert_str_eq(m.items[2], "tag:GPU");  // tags are case-sensitive
    eng_missing_fini(&m);
}
END_TEST

START_TEST(test_unknown_kinds)
{
    const char *reqs[] = {"os:linux", "nocolon", NULL, "fn:echo", ":x"};
    eng_missing_t m = t_check(reqs, 5, NULL);
    ck_assert_uint_eq(m.count, 4);
    ck_assert_str_eq(m.items[0], "os:linux");
    ck_assert_str_eq(m.reasons[0], "unknown requirement kind 'os' (expected fn:, cmd: or tag:)");
    ck_assert_str_eq(m.items[1], "nocolon");
    ck_assert_ptr_nonnull(strstr(m.reasons[1], "has no kind"));
    ck_assert_str_eq(m.items[2], "");
    ck_assert_str_eq(m.reasons[2], "empty requirement");
    ck_assert_str_eq(m.items[3], ":x");
    ck_assert_ptr_nonnull(strstr(m.reasons[3], "unknown requirement kind ''"));
    eng_missing_fini(&m);
}
END_TEST

START_TEST(test_mixed_order)
{
    const char *reqs[] = {"tag:tpu", "fn:echo", "cmd:ipp-no-such-program-4711", "tag:gpu",
                          "fn:nope"};
    eng_missing_t m = t_check(reqs, 5, NULL);
    ck_assert_uint_eq(m.count, 3);
    ck_assert_str_eq(m.items[0], "tag:tpu");
    ck_assert_str_eq(m.items[1], "cmd:ipp-no-such-program-4711");
    ck_assert_str_eq(m.items[2], "fn:nope");
    eng_missing_fini(&m);
}
END_TEST

static Suite *t_suite(void)
{
    Suite *s = suite_create("eng_requires");
    TCase *tc = tcase_create("requires");
    tcase_add_checked_fixture(tc, t_setup, t_teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_all_met);
    tcase_add_test(tc, test_fn);
    tcase_add_test(tc, test_cmd);
    tcase_add_test(tc, test_tag);
    tcase_add_test(tc, test_unknown_kinds);
    tcase_add_test(tc, test_mixed_order);
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
