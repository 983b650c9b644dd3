/* test_eng_daemon.c — the engine daemon's lifecycle, in process.
 *
 * new does no more than prepare (no thread, no process, no file read);
 * start brings up the guard process, the worker and the socket; stop
 * takes them all down again and is safe twice; run refuses a daemon that
 * is not started. No controller is needed: nothing here registers.
 */
#include "engine/daemon.h"
#include "proto/conn.h"

#include <check.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <unistd.h>

static char t_dir[PATH_MAX];
static char t_conn[PATH_MAX + 32];

static void t_setup(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(t_dir, sizeof t_dir, "%s/test_eng_daemon.XXXXXX", base ? base : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(t_dir));
    snprintf(t_conn, sizeof t_conn, "%s/ipp-engine.json", t_dir);
    signal(SIGPIPE, SIG_IGN);
}

static void t_teardown(void)
{
    unlink(t_conn);
    rmdir(t_dir);
}

// ThreadSanitizer's runtime starts a thread of its own along the way: one
// more than ours may be counted under it (the ASan build counts exactly).
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define T_RUNTIME_THREADS 1
#endif
#endif
#ifndef T_RUNTIME_THREADS
#define T_RUNTIME_THREADS 0
#endif

// t_threads: this process's thread count.
static int t_threads(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    ck_assert_ptr_nonnull(f);
    char line[256];
    int n = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Threads: %d", &n) == 1)
            break;
    fclose(f);
    return n;
}

// t_has_children: whether a child process of ours exists (not reaped).
static bool t_has_children(void)
{
    errno = 0;
    pid_t got = waitpid(-1, NULL, WNOHANG);
    return !(got < 0 && errno == ECHILD);
}

static eng_daemon_opts_t t_opts(void)
{
    static const ipp_logger_t quiet = {IPP_LOG_ERROR, NULL, "test"};
    eng_daemon_opts_t o = {0};
    o.conn_path = t_conn;
    o.log = &quiet;
    return o;
}

START_TEST(test_new_only_prepares)
{
    int threads = t_threads();
    eng_daemon_opts_t o = t_opts();  // the connection file does not exist yet
    ipp_error_t err;
    eng_daemon_t *d = eng_daemon_new(&o, &err);
    ck_assert_msg(d != NULL, "%s", err.msg);
    ck_assert_int_ge(t_threads(), threads);
    ck_assert_int_le(t_threads(), threads + T_RUNTIME_THREADS);
    ck_assert(!t_has_children());
    ck_assert_int_eq(eng_daemon_run(d), IPP_ERR_INVALID);
    // A file not there yet is waited for: start succeeds (run would retry).
    ck_assert_int_eq(eng_daemon_start(d, &err), IPP_OK);
    eng_daemon_stop(d);
    ck_assert(!t_has_children());
    eng_daemon_destroy(&d);
    ck_assert_ptr_null(d);
    // A file that is there but broken fails start, naming it.
    FILE *f = fopen(t_conn, "w");
    ck_assert_ptr_nonnull(f);
    fputs("not json\n", f);
    fclose(f);
    ck_assert_int_eq(chmod(t_conn, 0600), 0);
    d = eng_daemon_new(&o, &err);
    ck_assert_msg(d != NULL, "%s", err.msg);
    ck_assert_int_ne(eng_daemon_start(d, &err), IPP_OK);
    ck_assert_ptr_nonnull(strstr(err.msg, t_conn));
    eng_daemon_stop(d);
    ck_assert(!t_has_children());
    eng_daemon_destroy(&d);
    unlink(t_conn);
    eng_daemon_destroy(&d);  // NULL-safe
    eng_daemon_stop(NULL);
}
END_TEST

START_TEST(test_start_stop)
{
    conn_info_t info;
    conn_info_init(&info, CONN_ENGINE);
    conn_info_new_key(&info);
    info.engine_port = 9;  // nobody answers: the engine only tries to register
    ipp_error_t err;
    ck_assert_int_eq(conn_write(t_conn, &info, &err), IPP_OK);
    int threads = t_threads();
    volatile sig_atomic_t stop = 1;
    eng_daemon_opts_t o = t_opts();
    o.stop = &stop;
    eng_daemon_t *d = eng_daemon_new(&o, &err);
    ck_assert_ptr_nonnull(d);
    ck_assert_msg(eng_daemon_start(d, &err) == IPP_OK, "%s", err.msg);
    ck_assert(t_has_children());             // the command guard
    ck_assert_int_gt(t_threads(), threads);  // the worker, ZeroMQ's
    ck_assert_int_eq(eng_daemon_start(d, &err), IPP_ERR_INVALID);
    ck_assert_int_eq(eng_daemon_run(d), IPP_OK);  // stop is already set
    eng_daemon_stop(d);
    ck_assert(!t_has_children());
    ck_assert_int_ge(t_threads(), threads);
    ck_assert_int_le(t_threads(), threads + T_RUNTIME_THREADS);
    ck_assert_int_eq(eng_daemon_run(d), IPP_ERR_INVALID);
    eng_daemon_stop(d);  // twice
    eng_daemon_destroy(&d);
}
END_TEST

START_TEST(test_bad_uuid_refused_by_new)
{
    eng_daemon_opts_t o = t_opts();
    o.uuid = "";
    ipp_error_t err;
    ck_assert_ptr_null(eng_daemon_new(&o, &err));
    ck_assert_int_eq(err.code, IPP_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "--uuid"));
}
END_TEST

static Suite *s_suite(void)
{
    Suite *s = suite_create("eng_daemon");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, t_setup, t_teardown);
    tcase_add_test(tc, test_new_only_prepares);
    tcase_add_test(tc, test_start_stop);
    tcase_add_test(tc, test_bad_uuid_refused_by_new);
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
