/* test_eng_guard.c — unit tests of the command guard with the runner.
 *
 * A stand-in engine (a forked process that owns a guard and a runner) is
 * killed with SIGKILL, and the command's whole process group, background
 * children and a nested shell's children included, must die with it.
 * Also: the guard's slots are given back, its limit is a clear refusal,
 * it ignores the signals meant for the engine, and a dead guard refuses
 * commands rather than letting them run unguarded.
 */
#include "engine/guard.h"
#include "engine/runner.h"
#include "proto/clock.h"

#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char t_dir[PATH_MAX];

static void t_setup(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(t_dir, sizeof t_dir, "%s/test_eng_guard.XXXXXX", base ? base : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(t_dir));
    signal(SIGPIPE, SIG_IGN);
}

static int t_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void t_teardown(void)
{
    nftw(t_dir, t_rm, 16, FTW_DEPTH | FTW_PHYS);
}

// t_gone: no such process, or a zombie nobody reaped yet.
static bool t_gone(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return true;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *paren = strrchr(buf, ')');
    return paren && (paren[2] == 'Z' || paren[2] == 'X');
}

// t_read_pids: wait (20 s at most) for path to exist, then read its pids.
static size_t t_read_pids(const char *path, pid_t *pids, size_t cap)
{
    FILE *f = NULL;
    for (int i = 0; i < 2000 && !f; i++) {
        f = fopen(path, "r");
        if (!f)
            usleep(10000);
    }
    ck_assert_msg(f != NULL, "no %s", path);
    size_t n = 0;
    long v;
    while (n < cap && fscanf(f, "%ld", &v) == 1)
        pids[n++] = (pid_t)v;
    fclose(f);
    return n;
}

START_TEST(test_group_dies_with_its_engine)
{
    char list[PATH_MAX + 16], script[8 * PATH_MAX];
    snprintf(list, sizeof list, "%s/pids", t_dir);
    // The shell, a background sleep, a nested shell and its background
    // sleep; the list appears whole (rename) once all are running.
    snprintf(script, sizeof script,
             "echo $$ > '%s.tmp'; sleep 300 & echo $! >> '%s.tmp'; "
             "sh -c 'echo $$; sleep 300 & echo $!; wait' >> '%s.tmp' & "
             "while [ $(wc -l < '%s.tmp') -lt 4 ]; do sleep 0.01; done; "
             "mv '%s.tmp' '%s'; wait",
             list, list, list, list, list, list);
    pid_t engine = fork();
    ck_assert_int_ge(engine, 0);
    if (engine == 0) {
        eng_guard_t *g = eng_guard_new(NULL, NULL);
        if (!g)
            _exit(3);
        eng_command_t cmd = {.shell = script, .guard = g};
        eng_runner_t *r = eng_runner_new(&cmd, NULL);
        if (!r)
            _exit(4);
        eng_runner_wait(r, -1);
        _exit(5);
    }
    pid_t pids[5];
    size_t n = t_read_pids(list, pids, 5);
    ck_assert_uint_eq(n, 4);
    for (size_t i = 0; i < n; i++)
        ck_assert(!t_gone(pids[i]));
    kill(engine, SIGKILL);
    int st = 0;
    ck_assert_int_eq(waitpid(engine, &st, 0), engine);
    ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    int64_t until = ipp_clock_mono_us() + 10 * 1000000;
    size_t left = n;
    while (left && ipp_clock_mono_us() < until) {
        left = 0;
        for (size_t i = 0; i < n; i++)
            left += !t_gone(pids[i]);
        if (left)
            usleep(10000);
    }
    for (size_t i = 0; i < n; i++)
        if (!t_gone(pids[i]))
            kill(pids[i], SIGKILL);
    ck_assert_msg(left == 0, "%zu processes outlived their engine", left);
}
END_TEST

START_TEST(test_slots_given_back)
{
    eng_guard_t *g = eng_guard_new(NULL, NULL);
    ck_assert_ptr_nonnull(g);
    // More commands one after another than the guard holds at once.
    for (int i = 0; i < ENG_GUARD_MAX + 3; i++) {
        eng_command_t cmd = {.shell = "exit 0", .guard = g};
        eng_runner_t *r = eng_runner_new(&cmd, NULL);
        ck_assert_ptr_nonnull(r);
        ck_assert_int_eq(eng_runner_wait(r, 30 * 1000000), IPP_OK);
        ck_assert_int_eq(eng_runner_result(r)->status, ENG_STATUS_OK);
        eng_runner_destroy(&r);
    }
    // At once: the one past the limit is refused, naming the limit.
    eng_runner_t *rs[ENG_GUARD_MAX + 1];
    for (int i = 0; i <= ENG_GUARD_MAX; i++) {
        eng_command_t cmd = {.shell = "sleep 30", .guard = g};
        rs[i] = eng_runner_new(&cmd, NULL);
        ck_assert_ptr_nonnull(rs[i]);
    }
    ck_assert(!eng_runner_done(rs[ENG_GUARD_MAX - 1]));
    const eng_result_t *res = eng_runner_result(rs[ENG_GUARD_MAX]);
    ck_assert_ptr_nonnull(res);
    ck_assert_str_eq(res->ename, "ExecError");
    char limit[32];
    snprintf(limit, sizeof limit, "%d", ENG_GUARD_MAX);
    ck_assert_ptr_nonnull(strstr(res->evalue, limit));
    for (int i = 0; i <= ENG_GUARD_MAX; i++)
        eng_runner_destroy(&rs[i]);
    eng_guard_destroy(&g);
    ck_assert_ptr_null(g);
}
END_TEST

START_TEST(test_dead_guard_refuses)
{
    eng_guard_t *g = eng_guard_new(NULL, NULL);
    ck_assert_ptr_nonnull(g);
    pid_t pid = eng_guard_pid(g);
    ck_assert_int_gt(pid, 0);
    // A SIGTERM or ^C meant for the engine does not end the guard.
    kill(pid, SIGTERM);
    kill(pid, SIGINT);
    usleep(100000);
    ck_assert(eng_guard_alive(g));
    kill(pid, SIGKILL);
    int64_t until = ipp_clock_mono_us() + 10 * 1000000;
    while (eng_guard_alive(g) && ipp_clock_mono_us() < until)
        usleep(10000);
    ck_assert(!eng_guard_alive(g));
    eng_command_t cmd = {.shell = "echo ran", .guard = g};
    eng_runner_t *r = eng_runner_new(&cmd, NULL);
    ck_assert_ptr_nonnull(r);
    ck_assert(eng_runner_done(r));
    const eng_result_t *res = eng_runner_result(r);
    ck_assert_str_eq(res->ename, "ExecError");
    ck_assert_ptr_nonnull(strstr(res->evalue, "guard"));
    ck_assert_uint_eq(res->stdout_data.len, 0);
    eng_runner_destroy(&r);
    eng_guard_destroy(&g);
}
END_TEST

static Suite *s_suite(void)
{
    Suite *s = suite_create("eng_guard");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, t_setup, t_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_group_dies_with_its_engine);
    tcase_add_test(tc, test_slots_given_back);
    tcase_add_test(tc, test_dead_guard_refuses);
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
