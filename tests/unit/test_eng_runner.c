/* test_eng_runner.c — unit tests of the command runner and output capture.
 *
 * Real child processes (sh, echo, cat, sleep) in a temp dir per test:
 * output capture, exit statuses and signals, exec failures, cwd and env,
 * stdin, truncation, wall-time limits, abort of a whole process group,
 * strays, and no fd or zombie left behind.
 */
#include "engine/capture.h"
#include "engine/runner.h"
#include "proto/clock.h"

#include "testutil.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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
    tu_tmpdir(t_dir, sizeof t_dir, "eng_runner");
    // the engine's own settings must not leak into children
    signal(SIGPIPE, SIG_IGN);
}

static void t_teardown(void)
{
    tu_rmtree(t_dir);
}

// t_path: t_dir/name in a static buffer (one at a time).
static const char *t_path(const char *name)
{
    static char buf[PATH_MAX + 64];
    snprintf(buf, sizeof buf, "%s/%s", t_dir, name);
    return buf;
}

static void t_write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    chmod(path, mode);
}

// t_run: run cmd to the end (30 s at most) and move its result into res.
static void t_run(const eng_command_t *cmd, eng_result_t *res)
{
    eng_runner_t *r = eng_runner_new(cmd, NULL);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(eng_runner_wait(r, 30 * 1000000), IPP_OK);
    ck_assert(eng_runner_done(r));
    ck_assert_ptr_nonnull(eng_runner_result(r));
    eng_result_init(res);
    ck_assert_int_eq(eng_runner_take_result(r, res), IPP_OK);
    eng_runner_destroy(&r);
    ck_assert_ptr_null(r);
}

static void t_shell(const char *script, eng_result_t *res)
{
    eng_command_t cmd = {.shell = script};
    t_run(&cmd, res);
}

static bool t_buf_is(const eng_buf_t *b, const char *text)
{
    size_t n = strlen(text);
    return b->len == n && (n == 0 || memcmp(b->data, text, n) == 0);
}

static int t_count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    ck_assert_ptr_nonnull(d);
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

// t_gone: the process is dead: no such pid, or a zombie nobody reaped yet
// (orphans go to a reaper we do not control).
static bool t_gone(pid_t pid)
{
    if (kill(pid, 0) != 0 && errno == ESRCH)
        return true;
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return true;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *close_paren = strrchr(buf, ')');
    return close_paren && (close_paren[2] == 'Z' || close_paren[2] == 'X');
}

static bool t_wait_gone(pid_t pid, int64_t timeout_us)
{
    int64_t end = ipp_clock_mono_us() + timeout_us;
    while (ipp_clock_mono_us() < end) {
        if (t_gone(pid))
            return true;
        usleep(10000);
    }
    return t_gone(pid);
}

static void t_assert_no_children(void)
{
    errno = 0;
    ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
    ck_assert_int_eq(errno, ECHILD);
}

// ------------------------------------------------------------------ tests

START_TEST(test_echo_captured)
{
    const char *argv[] = {"echo", "hello", "world"};
    eng_command_t cmd = {.argv = argv, .argc = 3};
    int64_t before = ipp_clock_now_us();
    eng_result_t res;
    t_run(&cmd, &res);
    ck_assert_int_eq(res.status, ENG_STATUS_OK);
    ck_assert_str_eq(res.ename, "");
    ck_assert_ptr_null(res.evalue);
    ck_assert(t_buf_is(&res.stdout_data, "hello world\n"));
    ck_assert_uint_eq(res.stderr_data.len, 0);
    ck_assert(!res.stdout_truncated && !res.stderr_truncated);
    ck_assert_int_eq(res.exit_status, 0);
    ck_assert_int_eq(res.term_signal, 0);
    ck_assert_int_ge(res.started, before);
    ck_assert_int_ge(res.completed, res.started);
    ck_assert_int_le(res.completed, ipp_clock_now_us());
    eng_result_fini(&res);
}
END_TEST

START_TEST(test_stderr_separate)
{
    eng_result_t res;
    t_shell("echo out; echo err >&2; echo out2", &res);
    ck_assert_int_eq(res.status, ENG_STATUS_OK);
    ck_assert(t_buf_is(&res.stdout_data, "out\nout2\n"));
    ck_assert(t_buf_is(&res.stderr_data, "err\n"));
    eng_result_fini(&res);
}
END_TEST

START_TEST(test_exit_status)
{
    eng_result_t res;
    t_shell("echo partial; exit 3", &res);
    ck_assert_int_eq(res.status, ENG_STATUS_ERROR);
    ck_assert_str_eq(res.ename, "CommandFailed");
    ck_assert_str_eq(res.evalue, "command exited with status 3");
    ck_assert_int_eq(res.exit_status, 3);
    ck_assert_int_eq(res.term_signal, 0);
    ck_assert(t_buf_is(&res.stdout_data, "partial\n"));
    eng_result_fini(&res);
}
END_TEST

START_TEST(test_killed_by_signal)
{
    eng_result_t res;
    t_shell("kill -9 $$", &res);
    ck_assert_int_eq(res.status, ENG_STATUS_ERROR);
    ck_assert_str_eq(res.ename, "CommandKilled");
    ck_assert_str_eq(res.evalue, "command killed by signal 9 (SIGKILL)");
    ck_assert_int_eq(res.term_signal, SIGKILL);
    ck_assert_int_eq(res.exit_status, -1);
    eng_result_fini(&res);
}
END_TEST

START_TEST(test_program_not_found)
{
    const char *argv[] = {"ipp-no-such-program-4711", "x"};
    eng_command_t cmd = {.argv = argv, .argc = 2};
    eng_result_t res;
    t_run(&cmd, &res);
    ck_assert_int_eq(res.status, ENG_STATUS_ERROR);
    ck_assert_str_eq(res.ename, "CommandNotFound");
    ck_assert_ptr_nonnull(strstr(res.evalue, "ipp-no-such-program-4711"));
    ck_assert_ptr_nonnull(strstr(res.evalue, "not found on PATH"));
    ck_assert_int_eq(res.exit_status, -1);
    eng_result_fini(&res);

    const char *abs[] = {"/nonexistent-dir/prog"};
    cmd = (eng_command_t){.argv = abs, .argc = 1};
    t_run(&cmd, &res);
    ck_assert_str_eq(res.ename, "CommandNotFound");
    ck_assert_ptr_nonnull(strstr(res.evalue, "No such file or directory"));
    eng_result_fini(&res);
}
END_TEST

START_TEST(test_exit_127_is_not_exec_error)
{
    t_write_file(t_path("exit127"), "#!/bin/sh\necho ran\nexit 127\n", 0755);
    const char *argv[] = {t_path("exit127")};
    eng_command_t cmd = {.argv = argv, .argc = 1};
    eng_result_t res;
    t_run(&cmd, &res);
    ck_assert_str_eq(res.ename, "CommandFailed");
    ck_assert_int_eq(res.exit_status, 127);
    ck_assert(t_buf_is(&res.stdout_data, "ran\n"));
    eng_result_fini(&res);

    // a shell whose command is missing also exits 127: that is the
    // program's own status, not an exec failure of ours
    t_shell("ipp-no-such-program-4711", &res);
    ck_assert_str_eq(res.ename, "CommandFailed");
    ck_assert_int_eq(res.exit_status, 127);
    eng_result_fini(&res);
}
END_TEST

START_TEST(test_script_without_shebang)
{
    t_write_file(t_path("plain"), "echo plain \"$1\"\n", 0755);
    const char *argv[] = {t_path("plain"), "arg"};
    eng_command_t cmd = {.argv = argv, .argc = 2};
    eng_result_t res;
    t_run(&cmd, &res);
    ck_assert_int_eq(res.status, ENG_STATUS_OK);
    ck_assert(t_buf_is(&res.stdout_data, "plain arg\n"));
    eng_result_fini(&res);
}
END_TEST

START_TEST(test_not_executable)
{
    t_write_file(t_path("noexec"), "#!/bin/sh\necho hi\n", 0644);
    const char *argv[] = {t_path("noexec")};
    eng_command_t cmd = {.argv = argv, .argc = 1};
    eng_result_t res;
    t_run(&cmd, &res);
    ck_assert_int_eq(res.status, ENG_STATUS_ERROR);
    ck_assert_str_eq(res.ename, "ExecError");
    ck_assert_ptr_nonnull(strstr(res.evalue, "Permission denied"));
    ck_assert_ptr_nonnull(strstr(res.evalue, "noexec"));
    eng_result_fini(&res);
}
END_TEST

START_TEST(test_cwd_missing)
{
    const char *argv[] = {"true"};
    eng_command_t cmd = {.argv = argv, .argc = 1, .cwd = "/nonexistent-ipp-dir"};
    eng_result_t res;
    t_run(&cmd, &res);
    ck_assert_int_eq(res.status, ENG_STATUS_ERROR);
    ck_assert_str_eq(res.ename, "ExecError");
    ck_assert_ptr_nonnull(strstr(res.evalue, "/nonexistent-ipp-dir"));
    ck_assert_ptr_nonnull(strstr(res.evalue, "No such file or directory"));
    eng_result_fini(&res);
}
END_TEST

START_TEST(test_cwd_and_env)
{
    setenv("IPP_TEST_DROP", "present", 1);
    setenv("IPP_TEST_KEEP", "kept", 1);
    eng_envvar_t env[] = {
        {"IPP_TEST_FOO", "first"},
        {"IPP_TEST_FOO", "bar baz"},  // the last addition of a name wins
        {"IPP_TEST_DROP", NULL},      // unset
    };
    eng_command_t cmd = {
        .shell = "pwd; echo \"$IPP_TEST_FOO\"; echo \"${IPP_TEST_DROP-unset}\"; "
                 "echo \"$IPP_TEST_KEEP\"",
        .env = env,
        .nenv = 3,
        .cwd = t_dir,
    };
    eng_result_t res;
    t_run(&cmd, &res);
    ck_assert_int_eq(res.status, ENG_STATUS_OK);
    char real[PATH_MAX], expect[PATH_MAX + 64];
    ck_assert_ptr_nonnull(realpath(t_dir, real));
    snprintf(expect, sizeof expect, "%s\nbar baz\nunset\nkept\n", real);
    ck_assert_uint_eq(res.stdout_data.len, strlen(expect));
    ck_assert_int_eq(memcmp(res.stdout_data.data, expect, strlen(expect)), 0);
    eng_result_fini(&res);
}
END_TEST

START_TEST(test_path_from_env_addition)
{
    t_write_file(t_path("ipp-private-tool"), "#!/bin/sh\necho private\n", 0755);
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "/nonexistent-ipp-bin:%s", t_dir);
    eng_envvar_t env[] = {{"PATH", path}};
    const char *argv[] = {"ipp-private-tool"};
    eng_command_t cmd = {.argv = argv, .argc = 1, .env = env, .nenv = 1};
    eng_result_t res;
    t_run(&cmd, &res);
    ck_assert_int_eq(res.status, ENG_STATUS_OK);
    ck_assert(t_buf_is(&res.stdout_data, "private\n"));
    eng_result_fini(&res);
}
END_TEST

START_TEST(test_shell_positional_args)
{
    const char *argv[] = {"zero", "one two"};
    eng_command_t cmd = {.shell = "echo \"$1|$0|$#\"", .argv = argv, .argc = 2};
    eng_result_t res;
    t_run(&cmd, &res);
    ck_assert(t_buf_is(&res.stdout_data, "one two|zero|1\n"));
    eng_result_fini(&res);
}
END_TEST

START_TEST(test_stdin_roundtrip)
{
    size_t n = (size_t)1 << 20;  // exactly the default bound: kept whole
    unsigned char *data = malloc(n);
    ck_assert_ptr_nonnull(data);
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        data[i] = (unsigned char)x;
    }
    const char *argv[] = {"cat"};
    eng_command_t cmd = {.argv = argv, .argc = 1, .stdin_data = data, .stdin_len = n};
    eng_result_t res;
    t_run(&cmd, &res);
    ck_assert_int_eq(res.status, ENG_STATUS_OK);
    ck_assert(!res.stdout_truncated);
    ck_assert_uint_eq(res.stdout_data.len, n);
    ck_assert_int_eq(memcmp(res.stdout_data.data, data, n), 0);
    eng_result_fini(&res);

    // empty stdin: EOF at once
    cmd.stdin_len = 0;
    t_run(&cmd, &res);
    ck_assert_int_eq(res.status, ENG_STATUS_OK);
    ck_assert_uint_eq(res.stdout_data.len, 0);
    eng_result_fini(&res);

    // no stdin at all: /dev/null
    cmd.stdin_data = NULL;
    t_run(&cmd, &res);
    ck_assert_int_eq(res.status, ENG_STATUS_OK);
    ck_assert_uint_eq(res.stdout_data.len, 0);
    eng_result_fini(&res);
    free(data);
}
END_TEST

START_TEST(test_stdin_epipe_survives)
{
    // the child never reads: our writes hit EPIPE, and SIGPIPE must not
    // reach this process (its default action would kill the test)
    signal(SIGPIPE, SIG_DFL);
    size_t n = 8u << 20;
    char *data = calloc(1, n);
    ck_assert_ptr_nonnull(data);
    eng_command_t cmd = {.shell = "exec 0<&-; echo closed", .stdin_data = data, .stdin_len = n};
    eng_result_t res;
    t_run(&cmd, &res);
    ck_assert_int_eq(res.status, ENG_STATUS_OK);
    ck_assert(t_buf_is(&res.stdout_data, "closed\n"));
    sigset_t pending;
    sigpending(&pending);
    ck_assert(!sigismember(&pending, SIGPIPE));
    eng_result_fini(&res);
    free(data);
}
END_TEST

START_TEST(test_output_truncated)
{
    eng_command_t cmd = {
        .shell = "head -c 5000000 /dev/zero; echo done >&2",
        .stdout_limit = 1000,
    };
    eng_result_t res;
    t_run(&cmd, &res);
    ck_assert_int_eq(res.status, ENG_STATUS_OK);  // the child was never blocked
    ck_assert(res.stdout_truncated);
    ck_assert(!res.stderr_truncated);
    const char *marker = "\n[ipp: output truncated after 1000 bytes]\n";
    ck_assert_uint_eq(res.stdout_data.len, 1000 + strlen(marker));
    ck_assert_int_eq(memcmp((char *)res.stdout_data.data + 1000, marker, strlen(marker)), 0);
    ck_assert(t_buf_is(&res.stderr_data, "done\n"));
    eng_result_fini(&res);

    // stderr bounded on its own
    cmd = (eng_command_t){.shell = "echo 0123456789 >&2", .stderr_limit = 4};
    t_run(&cmd, &res);
    ck_assert(res.stderr_truncated);
    ck_assert(t_buf_is(&res.stderr_data, "0123\n[ipp: output truncated after 4 bytes]\n"));
    eng_result_fini(&res);
}
END_TEST

START_TEST(test_wall_limit_term)
{
    const char *argv[] = {"sleep", "30"};
    eng_command_t cmd = {.argv = argv, .argc = 2, .wall_limit_us = 500000};
    int64_t t0 = ipp_clock_mono_us();
    eng_result_t res;
    t_run(&cmd, &res);
    int64_t took = ipp_clock_mono_us() - t0;
    ck_assert_int_ge(took, 500000);
    ck_assert_int_lt(took, 500000 + ENG_RUNNER_KILL_GRACE_US + 1000000);
    ck_assert_int_eq(res.status, ENG_STATUS_ERROR);
    ck_assert_str_eq(res.ename, "WallTimeExceeded");
    ck_assert_ptr_nonnull(strstr(res.evalue, "0.5 s"));
    ck_assert_ptr_nonnull(strstr(res.evalue, "SIGTERM"));
    ck_assert_int_eq(res.term_signal, SIGTERM);
    eng_result_fini(&res);
}
END_TEST

START_TEST(test_wall_limit_kill_after_grace)
{
    // SIGTERM ignored by the shell and (inherited) by sleep: SIGKILL ends it
    eng_command_t cmd = {
        .shell = "trap '' TERM; sleep 30; echo survived",
        .wall_limit_us = 300000,
        .kill_grace_us = 300000,
    };
    int64_t t0 = ipp_clock_mono_us();
    eng_result_t res;
    t_run(&cmd, &res);
    int64_t took = ipp_clock_mono_us() - t0;
    ck_assert_int_ge(took, 600000);
    ck_assert_int_lt(took, 2500000);
    ck_assert_str_eq(res.ename, "WallTimeExceeded");
    ck_assert_ptr_nonnull(strstr(res.evalue, "0.3 s"));
    ck_assert_ptr_nonnull(strstr(res.evalue, "SIGKILL"));
    ck_assert_int_eq(res.term_signal, SIGKILL);
    ck_assert_uint_eq(res.stdout_data.len, 0);
    eng_result_fini(&res);
    t_assert_no_children();
}
END_TEST

// t_read_pid: wait for file to hold a pid and return it.
static pid_t t_read_pid(const char *file)
{
    for (int i = 0; i < 500; i++) {
        FILE *f = fopen(file, "r");
        long pid = 0;
        if (f) {
            int got = fscanf(f, "%ld", &pid);
            fclose(f);
            if (got == 1 && pid > 0)
                return (pid_t)pid;
        }
        usleep(10000);
    }
    ck_abort_msg("no pid in %s", file);
    return 0;
}

START_TEST(test_abort_kills_group)
{
    char script[PATH_MAX + 64];
    snprintf(script, sizeof script, "sleep 30 & echo $! > '%s/pid'; wait", t_dir);
    eng_command_t cmd = {.shell = script};
    eng_runner_t *r = eng_runner_new(&cmd, NULL);
    ck_assert_ptr_nonnull(r);
    pid_t leader = eng_runner_pid(r);
    ck_assert_int_gt(leader, 0);
    ck_assert_int_eq(getpgid(leader), leader);  // its own process group
    char file[PATH_MAX + 8];
    snprintf(file, sizeof file, "%s/pid", t_dir);
    pid_t grandchild = t_read_pid(file);
    ck_assert(!t_gone(grandchild));
    ck_assert_int_eq(eng_runner_wait(r, 100000), IPP_ERR_TIMEOUT);  // still running

    int64_t t0 = ipp_clock_mono_us();
    eng_runner_abort(r);
    ck_assert_int_eq(eng_runner_wait(r, 10 * 1000000), IPP_OK);
    ck_assert_int_lt(ipp_clock_mono_us() - t0, 2000000);
    const eng_result_t *res = eng_runner_result(r);
    ck_assert_int_eq(res->status, ENG_STATUS_ABORTED);
    ck_assert_str_eq(res->ename, "TaskAborted");
    ck_assert_ptr_nonnull(strstr(res->evalue, "SIGKILL"));
    ck_assert_int_eq(eng_runner_pid(r), 0);
    eng_runner_destroy(&r);
    ck_assert(t_wait_gone(grandchild, 2000000));
    t_assert_no_children();
}
END_TEST

START_TEST(test_strays_killed_at_exit)
{
    // the shell exits at once; its background sleep still holds stdout
    int64_t t0 = ipp_clock_mono_us();
    eng_result_t res;
    t_shell("sleep 30 & echo $!", &res);
    ck_assert_int_lt(ipp_clock_mono_us() - t0, 2000000);
    ck_assert_int_eq(res.status, ENG_STATUS_OK);
    char *text = strndup(res.stdout_data.data ? res.stdout_data.data : "", res.stdout_data.len);
    pid_t stray = (pid_t)atol(text);
    free(text);
    eng_result_fini(&res);
    ck_assert_int_gt(stray, 0);
    ck_assert(t_wait_gone(stray, 2000000));
}
END_TEST

START_TEST(test_keep_strays)
{
    char script[PATH_MAX + 64];
    snprintf(script, sizeof script, "sleep 30 >/dev/null & echo $! > '%s/pid'; echo hi", t_dir);
    eng_command_t cmd = {.shell = script, .keep_strays = true, .drain_grace_us = 200000};
    eng_result_t res;
    t_run(&cmd, &res);
    ck_assert_int_eq(res.status, ENG_STATUS_OK);
    ck_assert(t_buf_is(&res.stdout_data, "hi\n"));
    eng_result_fini(&res);
    char file[PATH_MAX + 8];
    snprintf(file, sizeof file, "%s/pid", t_dir);
    pid_t stray = t_read_pid(file);
    ck_assert(!t_gone(stray));  // left alone, as asked
    kill(stray, SIGKILL);
    ck_assert(t_wait_gone(stray, 2000000));
}
END_TEST

START_TEST(test_drain_grace_bounds_wait)
{
    // a stray that escaped the group (setsid) keeps stdout open: the result
    // still comes, after the drain grace
    if (access("/usr/bin/setsid", X_OK) != 0 && access("/bin/setsid", X_OK) != 0)
        return;
    char script[2 * PATH_MAX + 128];
    snprintf(script, sizeof script,
             "setsid sh -c 'echo $$ > \"%s/pid\"; exec sleep 30' & "
             "while [ ! -s '%s/pid' ]; do sleep 0.01; done; echo out",
             t_dir, t_dir);
    eng_command_t cmd = {.shell = script, .drain_grace_us = 300000};
    int64_t t0 = ipp_clock_mono_us();
    eng_result_t res;
    t_run(&cmd, &res);
    ck_assert_int_lt(ipp_clock_mono_us() - t0, 3000000);
    ck_assert_int_eq(res.status, ENG_STATUS_OK);
    ck_assert(t_buf_is(&res.stdout_data, "out\n"));
    eng_result_fini(&res);
    char file[PATH_MAX + 8];
    snprintf(file, sizeof file, "%s/pid", t_dir);
    pid_t escaped = t_read_pid(file);
    kill(escaped, SIGKILL);
}
END_TEST

START_TEST(test_no_fd_leak_no_zombie)
{
    int before = t_count_fds();
    const char *echo[] = {"echo", "x"};
    const char *missing[] = {"ipp-no-such-program-4711"};
    for (int i = 0; i < 40; i++) {
        eng_result_t res;
        eng_command_t cmd;
        switch (i % 5) {
        case 0:
            cmd = (eng_command_t){.argv = echo, .argc = 2};
            break;
        case 1:
            cmd = (eng_command_t){.shell = "exit 2"};
            break;
        case 2:
            cmd = (eng_command_t){.argv = missing, .argc = 1};
            break;
        case 3:
            cmd = (eng_command_t){.shell = "cat", .stdin_data = "abc", .stdin_len = 3};
            break;
        default:
            cmd = (eng_command_t){.shell = "true", .cwd = "/nonexistent-ipp-dir"};
            break;
        }
        t_run(&cmd, &res);
        ck_assert_int_eq(res.status, i % 5 == 0 || i % 5 == 3 ? ENG_STATUS_OK : ENG_STATUS_ERROR);
        eng_result_fini(&res);
    }
    // destroyed while running: killed and reaped, fds closed
    eng_command_t slow = {.shell = "sleep 30"};
    eng_runner_t *r = eng_runner_new(&slow, NULL);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_gt(eng_runner_pid(r), 0);
    eng_runner_destroy(&r);
    ck_assert_int_eq(t_count_fds(), before);
    t_assert_no_children();
}
END_TEST

START_TEST(test_child_fds_and_signals_clean)
{
    // an inheritable fd of the engine must not reach the child; nor may
    // the engine's ignored or blocked signals
    int leaked = open("/dev/null", O_RDONLY);  // no O_CLOEXEC on purpose
    ck_assert_int_ge(leaked, 3);
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigprocmask(SIG_BLOCK, &usr1, NULL);
    char script[128];
    snprintf(script, sizeof script,
             "ls /proc/self/fd | sort -n | tr '\\n' ' '; echo; "
             "grep -E '^Sig(Ign|Blk)' /proc/self/status");
    eng_result_t res;
    t_shell(script, &res);
    ck_assert_int_eq(res.status, ENG_STATUS_OK);
    char *out = strndup(res.stdout_data.data, res.stdout_data.len);
    // stdio, plus the directory ls itself opens: nothing of ours
    ck_assert_msg(strncmp(out, "0 1 2 3 \n", 9) == 0, "child fds: %s", out);
    ck_assert_ptr_nonnull(strstr(out, "SigIgn:\t0000000000000000"));
    ck_assert_ptr_nonnull(strstr(out, "SigBlk:\t0000000000000000"));
    free(out);
    eng_result_fini(&res);
    close(leaked);
}
END_TEST

START_TEST(test_invalid_command)
{
    eng_command_t cmd = {0};
    eng_runner_t *r = eng_runner_new(&cmd, NULL);
    ck_assert_ptr_nonnull(r);
    ck_assert(eng_runner_done(r));
    ck_assert(eng_runner_poll(r));
    ck_assert_uint_eq(eng_runner_pollfds(r, NULL, 0), 0);
    ck_assert_int_eq(eng_runner_timeout_ms(r), 0);
    ck_assert_str_eq(eng_runner_result(r)->ename, "InvalidCommand");
    ck_assert_int_eq(eng_runner_pid(r), 0);
    eng_runner_abort(r);  // harmless
    eng_runner_destroy(&r);

    eng_envvar_t env[] = {{"BAD=NAME", "x"}};
    const char *argv[] = {"true"};
    cmd = (eng_command_t){.argv = argv, .argc = 1, .env = env, .nenv = 1};
    r = eng_runner_new(&cmd, NULL);
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(eng_runner_result(r)->ename, "InvalidCommand");
    ck_assert_ptr_nonnull(strstr(eng_runner_result(r)->evalue, "BAD=NAME"));
    eng_runner_destroy(&r);
}
END_TEST

START_TEST(test_driven_by_poll_loop)
{
    // the way the engine's loop drives it: pollfds + timeout + poll
    eng_command_t cmd = {.shell = "cat; echo tail >&2", .stdin_data = "in\n", .stdin_len = 3};
    eng_runner_t *r = eng_runner_new(&cmd, NULL);
    ck_assert_ptr_nonnull(r);
    ck_assert_ptr_null(eng_runner_result(r));
    eng_result_t early;
    eng_result_init(&early);
    ck_assert_int_eq(eng_runner_take_result(r, &early), IPP_ERR_PENDING);
    int rounds = 0;
    while (!eng_runner_poll(r)) {
        struct pollfd fds[ENG_RUNNER_MAX_FDS];
        size_t n = eng_runner_pollfds(r, fds, ENG_RUNNER_MAX_FDS);
        ck_assert_uint_le(n, ENG_RUNNER_MAX_FDS);
        int t = eng_runner_timeout_ms(r);
        ck_assert(n > 0 || t >= 0);  // never an endless wait
        ck_assert_int_ge(poll(fds, (nfds_t)n, t), 0);
        ck_assert_int_lt(++rounds, 10000);
    }
    ck_assert_uint_eq(eng_runner_pollfds(r, (struct pollfd[4]){0}, 4), 0);
    eng_result_t res;
    eng_result_init(&res);
    ck_assert_int_eq(eng_runner_take_result(r, &res), IPP_OK);
    ck_assert(t_buf_is(&res.stdout_data, "in\n"));
    ck_assert(t_buf_is(&res.stderr_data, "tail\n"));
    eng_runner_destroy(&r);
    eng_result_fini(&res);
}
END_TEST

START_TEST(test_without_pidfd)
{
    // the fallback: the exit is found by polling waitid on a timer
    eng_result_t res;
    eng_command_t cmd = {.shell = "echo fallback; exit 4", .poll_for_exit = true};
    eng_runner_t *r = eng_runner_new(&cmd, NULL);
    ck_assert_ptr_nonnull(r);
    struct pollfd fds[ENG_RUNNER_MAX_FDS];
    ck_assert_uint_eq(eng_runner_pollfds(r, fds, ENG_RUNNER_MAX_FDS), 2);  // stdout, stderr
    int t = eng_runner_timeout_ms(r);
    ck_assert(t >= 0 && t <= 10);  // a tick, not an endless wait
    ck_assert_int_eq(eng_runner_wait(r, 10 * 1000000), IPP_OK);
    eng_result_init(&res);
    ck_assert_int_eq(eng_runner_take_result(r, &res), IPP_OK);
    eng_runner_destroy(&r);
    ck_assert_str_eq(res.ename, "CommandFailed");
    ck_assert_int_eq(res.exit_status, 4);
    ck_assert(t_buf_is(&res.stdout_data, "fallback\n"));
    eng_result_fini(&res);

    // the output pipe closed long before the exit: the timer still finds it
    cmd = (eng_command_t){.shell = "exec >&- 2>&-; sleep 0.2", .poll_for_exit = true};
    t_run(&cmd, &res);
    ck_assert_int_eq(res.status, ENG_STATUS_OK);
    eng_result_fini(&res);

    const char *argv[] = {"sleep", "30"};
    cmd = (eng_command_t){.argv = argv, .argc = 2, .wall_limit_us = 200000, .poll_for_exit = true};
    int64_t t0 = ipp_clock_mono_us();
    t_run(&cmd, &res);
    ck_assert_int_lt(ipp_clock_mono_us() - t0, 2000000);
    ck_assert_str_eq(res.ename, "WallTimeExceeded");
    eng_result_fini(&res);
    t_assert_no_children();
}
END_TEST

START_TEST(test_capture_bounds)
{
    eng_capture_t c;
    eng_capture_init(&c, 10);
    ck_assert_int_eq(eng_capture_append(&c, "hello", 5), IPP_OK);
    ck_assert(!eng_capture_truncated(&c));
    ck_assert_int_eq(eng_capture_append(&c, " world!", 7), IPP_OK);
    ck_assert(eng_capture_truncated(&c));
    ck_assert_uint_eq(c.len, 10);
    ck_assert_uint_eq(c.total, 12);
    eng_buf_t out;
    bool cut = false;
    ck_assert_int_eq(eng_capture_finish(&c, &out, &cut), IPP_OK);
    ck_assert(cut);
    ck_assert(t_buf_is(&out, "hello worl\n[ipp: output truncated after 10 bytes]\n"));
    free(out.data);
    ck_assert_uint_eq(c.len, 0);  // empty again
    ck_assert_uint_eq(c.limit, 10);

    // nothing captured: no buffer at all
    ck_assert_int_eq(eng_capture_finish(&c, &out, &cut), IPP_OK);
    ck_assert(!cut);
    ck_assert_ptr_null(out.data);
    ck_assert_uint_eq(out.len, 0);
    eng_capture_fini(&c);

    // default bound
    eng_capture_init(&c, 0);
    ck_assert_uint_eq(c.limit, ENG_CAPTURE_DEFAULT_LIMIT);
    eng_capture_fini(&c);
}
END_TEST

static Suite *t_suite(void)
{
    Suite *s = suite_create("eng_runner");
    TCase *tc = tcase_create("runner");
    tcase_add_checked_fixture(tc, t_setup, t_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_echo_captured);
    tcase_add_test(tc, test_stderr_separate);
    tcase_add_test(tc, test_exit_status);
    tcase_add_test(tc, test_killed_by_signal);
    tcase_add_test(tc, test_program_not_found);
    tcase_add_test(tc, test_exit_127_is_not_exec_error);
    tcase_add_test(tc, test_script_without_shebang);
    tcase_add_test(tc, test_not_executable);
    tcase_add_test(tc, test_cwd_missing);
    tcase_add_test(tc, test_cwd_and_env);
    tcase_add_test(tc, test_path_from_env_addition);
    tcase_add_test(tc, test_shell_positional_args);
    tcase_add_test(tc, test_stdin_roundtrip);
    tcase_add_test(tc, test_stdin_epipe_survives);
    tcase_add_test(tc, test_output_truncated);
    tcase_add_test(tc, test_wall_limit_term);
    tcase_add_test(tc, test_wall_limit_kill_after_grace);
    tcase_add_test(tc, test_abort_kills_group);
    tcase_add_test(tc, test_strays_killed_at_exit);
    tcase_add_test(tc, test_keep_strays);
    tcase_add_test(tc, test_drain_grace_bounds_wait);
    tcase_add_test(tc, test_no_fd_leak_no_zombie);
    tcase_add_test(tc, test_child_fds_and_signals_clean);
    tcase_add_test(tc, test_invalid_command);
    tcase_add_test(tc, test_driven_by_poll_loop);
    tcase_add_test(tc, test_without_pidfd);
    tcase_add_test(tc, test_capture_bounds);
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
