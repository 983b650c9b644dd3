/* test_cli.c — the `ipp` command line against real clusters.
 *
 * Every test runs the ipp binary as a child process (stdout, stderr and
 * exit code captured, each run bounded in time) in a fresh $IPP_DIR, and
 * makes its cluster with `ipp cluster start` itself, so the launcher is
 * under test too. Cleanup cannot depend on the test passing: the runner
 * process is a child subreaper, so daemons a failed or timed-out test
 * leaves behind are re-parented to it, and its per-test teardown kills
 * (SIGKILL, by pid) and reaps every one of them, and whatever the
 * profile's pid files still name. Each test process is a subreaper too,
 * so after `ipp cluster stop` it reaps the daemons itself and checks they
 * exited cleanly (status 0: no crash, no sanitizer report).
 */
#include "proto/msgid.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef IPP_CLI_BIN
#error "IPP_CLI_BIN must be defined by the build"
#endif
#ifndef IPP_EXAMPLES_DIR
#error "IPP_EXAMPLES_DIR must be defined by the build"
#endif

// The $IPP_DIR of the current test (made by the runner's fixture).
static char s_dir[256];

// ------------------------------------------------------------ runner side

// s_kill_pidfile: SIGKILL every live pid listed in path whose command
// line names an ipp daemon.
static void s_kill_pidfile(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    long pid;
    while (fscanf(f, "%ld", &pid) == 1) {
        char cl[64], buf[512] = "";
        snprintf(cl, sizeof cl, "/proc/%ld/cmdline", pid);
        int fd = open(cl, O_RDONLY);
        if (fd < 0)
            continue;
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        buf[n > 0 ? n : 0] = '\0';
        if (pid > 1 && strstr(buf, "ipp-"))
            kill((pid_t)pid, SIGKILL);
    }
    fclose(f);
}

// s_kill_children: SIGKILL every child of this process (daemons that
// were re-parented here), then reap everything.
static void s_kill_children(void)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    pid_t self = getpid();
    while (d && (e = readdir(d))) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end || pid <= 1)
            continue;
        char path[64], buf[512];
        snprintf(path, sizeof path, "/proc/%ld/stat", pid);
        int fd = open(path, O_RDONLY);
        if (fd < 0)
            continue;
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n <= 0)
            continue;
        buf[n] = '\0';
        const char *rp = strrchr(buf, ')');
        int ppid = 0;
        char state;
        if (rp && sscanf(rp + 1, " %c %d", &state, &ppid) == 2 && ppid == self)
            kill((pid_t)pid, SIGKILL);
    }
    if (d)
        closedir(d);
    while (waitpid(-1, NULL, 0) > 0)
        ;
}

static void s_fixture_setup(void)
{
    snprintf(s_dir, sizeof s_dir, "/tmp/ipp-cli-XXXXXX");
    if (!mkdtemp(s_dir)) {
        perror("mkdtemp");
        abort();
    }
    setenv("IPP_DIR", s_dir, 1);
    // The examples keep their work files in $TMPDIR: one per test, so
    // suites running at the same time cannot meet there.
    setenv("TMPDIR", s_dir, 1);
    unsetenv("IPP_PROFILE");
}

static void s_fixture_teardown(void)
{
    char path[400];
    snprintf(path, sizeof path, "%s/profile_default/ipp-controller.pid", s_dir);
    s_kill_pidfile(path);
    snprintf(path, sizeof path, "%s/profile_default/engines.pid", s_dir);
    s_kill_pidfile(path);
    s_kill_children();
    if (getenv("IPP_TEST_KEEP")) {
        fprintf(stderr, "kept %s\n", s_dir);
        return;
    }
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", s_dir);
}

// Per test, in the test process: become the subreaper of what it starts.
static void s_checked_setup(void)
{
    prctl(PR_SET_CHILD_SUBREAPER, 1);
}

// ------------------------------------------------------------ running ipp

// What one run of ipp did.
typedef struct s_run_t {
    int code;   // exit code (-1: killed by a signal)
    char *out;  // stdout (owned, NUL-terminated)
    char *err;  // stderr
} s_run_t;

static s_run_t R;  // the last run

static void s_run_free(s_run_t *r)
{
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof *r);
}

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

// s_append: read what fd has into *buf (grown); false at EOF.
static bool s_append(int fd, char **buf, size_t *len, size_t *cap)
{
    if (*len + 4097 > *cap) {
        *cap = (*cap + 4097) * 2;
        *buf = realloc(*buf, *cap);
        ck_assert_ptr_nonnull(*buf);
    }
    ssize_t n = read(fd, *buf + *len, 4096);
    if (n < 0 && errno == EINTR)
        return true;
    if (n <= 0)
        return false;
    *len += (size_t)n;
    (*buf)[*len] = '\0';
    return true;
}

// When >= 0: s_ipp sends the command SIGINT (Ctrl-C) this many seconds
// after starting it.
static double s_interrupt_after = -1;

// s_ipp: run ipp with args (NULL-terminated), input on stdin (NULL: none),
// at most 90 s; fills R and returns the exit code.
static int s_ipp(const char *input, const char *const *args)
{
    s_run_free(&R);
    int in[2], out[2], err[2];
    ck_assert_int_eq(pipe(in), 0);
    ck_assert_int_eq(pipe(out), 0);
    ck_assert_int_eq(pipe(err), 0);
    const char *argv[64];
    int n = 0;
    argv[n++] = IPP_CLI_BIN;
    for (int i = 0; args[i] && n < 63; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        dup2(err[1], 2);
        for (int fd = 3; fd < 64; fd++)
            close(fd);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    close(err[1]);
    if (input) {
        size_t len = strlen(input);
        ck_assert_int_eq(write(in[1], input, len), (ssize_t)len);
    }
    close(in[1]);
    char *bo = calloc(1, 1), *be = calloc(1, 1);
    size_t lo = 0, co = 1, le = 0, ce = 1;
    bool oo = true, eo = true;
    double started = s_now(), deadline = started + 90;
    bool interrupted = false;
    while ((oo || eo) && s_now() < deadline) {
        if (s_interrupt_after >= 0 && !interrupted && s_now() >= started + s_interrupt_after) {
            kill(pid, SIGINT);
            interrupted = true;
        }
        struct pollfd p[2] = {{oo ? out[0] : -1, POLLIN, 0}, {eo ? err[0] : -1, POLLIN, 0}};
        if (poll(p, 2, 200) <= 0)
            continue;
        if (oo && (p[0].revents & (POLLIN | POLLHUP)))
            oo = s_append(out[0], &bo, &lo, &co);
        if (eo && (p[1].revents & (POLLIN | POLLHUP)))
            eo = s_append(err[0], &be, &le, &ce);
    }
    close(out[0]);
    close(err[0]);
    int st = 0;
    if (oo || eo)
        kill(pid, SIGKILL);
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    R.out = bo;
    R.err = be;
    R.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    ck_assert_msg(!oo && !eo, "ipp %s did not finish within 90 s", args[0]);
    return R.code;
}

// s_ipp_tty: run ipp with args on a pseudo-terminal (stdin, stdout and
// stderr); everything it wrote into R.out, at most 90 s.
static int s_ipp_tty(const char *const *args)
{
    s_run_free(&R);
    const char *argv[64];
    int n = 0;
    argv[n++] = IPP_CLI_BIN;
    for (int i = 0; args[i] && n < 63; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    int master = -1;
    pid_t pid = forkpty(&master, NULL, NULL, NULL);
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    char *buf = calloc(1, 1);
    size_t len = 0, cap = 1;
    double deadline = s_now() + 90;
    bool open_ = true;
    while (open_ && s_now() < deadline) {
        struct pollfd p = {master, POLLIN, 0};
        if (poll(&p, 1, 200) > 0)
            open_ = s_append(master, &buf, &len, &cap);  // EIO once the child is gone
    }
    close(master);
    int st = 0;
    if (open_)
        kill(pid, SIGKILL);
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    R.out = buf;
    R.err = calloc(1, 1);
    R.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    ck_assert_msg(!open_, "ipp %s did not finish within 90 s", args[0]);
    return R.code;
}

#define IPP(...) s_ipp(NULL, (const char *const[]){__VA_ARGS__, NULL})
#define IPP_TTY(...) s_ipp_tty((const char *const[]){__VA_ARGS__, NULL})
#define IPP_IN(input, ...) s_ipp(input, (const char *const[]){__VA_ARGS__, NULL})

// Assert the last run's exit code, showing its output when it differs.
#define EXPECT(want)                                                                               \
    ck_assert_msg(R.code == (want), "exit %d, wanted %d\n--- stdout\n%s--- stderr\n%s", R.code,    \
                  (want), R.out, R.err)
#define OUT_HAS(text) ck_assert_msg(strstr(R.out, text), "stdout lacks '%s':\n%s", text, R.out)
#define ERR_HAS(text) ck_assert_msg(strstr(R.err, text), "stderr lacks '%s':\n%s", text, R.err)

// s_first_line: the first line of the last stdout into buf.
static char *s_first_line(char *buf, size_t size)
{
    snprintf(buf, size, "%s", R.out);
    buf[strcspn(buf, "\n")] = '\0';
    return buf;
}

// s_count: occurrences of needle in hay.
static int s_count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

// ------------------------------------------------------------ clusters

static int s_engines;  // engines of the running cluster

// s_start: `ipp cluster start -n n` (plus extra arguments).
static void s_start(int n, const char *extra1, const char *extra2)
{
    char nb[16];
    snprintf(nb, sizeof nb, "%d", n);
    if (extra1 && extra2)
        IPP("cluster", "start", "-n", nb, extra1, extra2);
    else
        IPP("cluster", "start", "-n", nb);
    EXPECT(0);
    char want[32];
    snprintf(want, sizeof want, "%d engine", n);
    OUT_HAS(want);
    s_engines = n;
}

// s_reap_daemons: reap the daemons (re-parented to this subreaper) as
// they exit, for up to 20 s; fail unless `expect` exited, all with 0.
static void s_reap_daemons(int expect)
{
    int got = 0, bad = 0;
    double deadline = s_now() + 20;
    while (s_now() < deadline) {
        int st;
        pid_t p = waitpid(-1, &st, WNOHANG);
        if (p > 0) {
            got++;
            if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
                bad++;
                fprintf(stderr, "daemon %d ended with %s %d (logs in %s)\n", (int)p,
                        WIFEXITED(st) ? "status" : "signal",
                        WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), s_dir);
            }
            continue;
        }
        if (p < 0 && errno == ECHILD)
            break;
        usleep(20000);
    }
    ck_assert_msg(got == expect, "%d daemons exited, expected %d", got, expect);
    ck_assert_msg(bad == 0, "%d daemons did not exit cleanly", bad);
}

// s_stop: `ipp cluster stop`, then every daemon reaped with status 0 and
// the pid files gone.
static void s_stop(void)
{
    IPP("cluster", "stop");
    EXPECT(0);
    OUT_HAS("stopped");
    // The controller and the set's watcher (it reaps its own engines).
    s_reap_daemons(2);
    char path[400];
    struct stat st;
    snprintf(path, sizeof path, "%s/profile_default/engines.pid", s_dir);
    ck_assert_msg(stat(path, &st) != 0, "%s still there", path);
    snprintf(path, sizeof path, "%s/profile_default/ipp-controller.pid", s_dir);
    ck_assert_msg(stat(path, &st) != 0, "%s still there", path);
}

// s_db_int: one integer from SQL on the profile's task database.
static long long s_db_int(const char *sql)
{
    char path[400];
    snprintf(path, sizeof path, "%s/profile_default/db/tasks.db", s_dir);
    sqlite3 *db = NULL;
    long long v = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_busy_timeout(db, 5000);
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
            v = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return v;
}

// s_write: a file under the test's folder; its path into path.
static void s_write(char *path, size_t size, const char *name, const char *text)
{
    snprintf(path, size, "%s/%s", s_dir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

// s_id_of: the msg_id on the line of a `dag` table starting with node.
static void s_id_of(const char *node, char id[IPP_MSGID_LEN + 1])
{
    char pat[128];
    snprintf(pat, sizeof pat, "\n%s ", node);
    char *text = NULL;
    ck_assert(asprintf(&text, "\n%s", R.out) > 0);
    const char *p = strstr(text, pat);
    ck_assert_msg(p, "no line for %s in:\n%s", node, R.out);
    const char *eol = strchr(p + 1, '\n');
    // The msg_id is the one 36-character uuid on the line.
    id[0] = '\0';
    for (const char *q = p + 1; q + IPP_MSGID_LEN <= (eol ? eol : p + strlen(p)); q++) {
        char cand[IPP_MSGID_LEN + 1];
        memcpy(cand, q, IPP_MSGID_LEN);
        cand[IPP_MSGID_LEN] = '\0';
        if (ipp_msgid_valid(cand)) {
            memcpy(id, cand, sizeof cand);
            break;
        }
    }
    free(text);
    ck_assert_msg(id[0], "no msg_id for %s in:\n%s", node, R.out);
}

// ------------------------------------------------------------ tests

START_TEST(test_usage_errors)
{
    // No cluster here: usage problems are found before any connection.
    IPP("--help");
    EXPECT(0);
    OUT_HAS("usage: ipp");
    const char *subs[] = {"cluster", "run",    "px",    "map",   "dag",      "wait",
                          "result",  "status", "purge", "abort", "resubmit", "shutdown"};
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
        IPP(subs[i], "--help");
        EXPECT(0);
        char want[64];
        snprintf(want, sizeof want, "usage: ipp %s", subs[i]);
        OUT_HAS(want);
    }
    IPP("cluster", "start", "--help");
    EXPECT(0);
    OUT_HAS("usage: ipp cluster start");
    IPP("dag", "submit", "--help");
    EXPECT(0);
    OUT_HAS("usage: ipp dag submit");

    // Each of these must give exit 2 and a usage text.
    const char *const bad[][8] = {
        {"frob"},
        {"--bogus", "status"},
        {"--request-timeout", "soon", "status"},
        {"run"},
        {"run", "--retries", "x", "--", "true"},
        {"run", "--retries", "101", "--", "true"},
        {"run", "--timeout", "-1", "--", "true"},
        {"run", "--bogus", "--", "true"},
        {"run", "--shell", "true", "extra"},
        {"run", "--shell", "a", "--call", "b"},
        {"run", "--targets", "0,x", "--", "true"},
        {"run", "--env", "NOEQUALS", "--", "true"},
        {"run", "--after-any", "--", "true"},
        {"px"},
        {"px", "--shell"},
        {"map", "--", "echo", "{}", ":::"},
        {"map"},
        {"wait"},
        {"wait", "not-an-id"},
        {"wait", "--timeout", "x", "01a20196-069b-703a-900d-77abcab27408"},
        {"result", "--json"},
        {"result", "01a20196-069b-703a-900d"},
        {"purge"},
        {"purge", "--all", "01a20196-069b-703a-900d-77abcab27408"},
        {"purge", "--engine", "x"},
        {"abort"},
        {"resubmit"},
        {"shutdown", "--targets", ""},
        {"status", "extra"},
        {"cluster"},
        {"cluster", "frob"},
        {"cluster", "start", "-n", "0"},
        {"cluster", "start", "--durability", "sometimes"},
        {"cluster", "start", "--scheme", "fastest"},
        {"cluster", "stop", "--timeout", "x"},
        {"dag"},
        {"dag", "submit"},
        {"dag", "frob", "x.json"},
        {"dag", "submit", "a.json", "b.json"},
        {"dag", "status", "missing.json"},
        {"dag", "submit", "x.json", "--label", "bad*prefix"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *args[10];
        size_t k = 0;
        for (; k < 8 && bad[i][k]; k++)
            args[k] = bad[i][k];
        args[k] = NULL;
        s_ipp(NULL, args);
        ck_assert_msg(R.code == 2, "case %zu (%s %s): exit %d, wanted 2\n%s", i, args[0],
                      k > 1 ? args[1] : "", R.code, R.err);
        ck_assert_msg(strstr(R.err, "usage:") || strstr(R.err, "missing.json"),
                      "case %zu (%s): no usage text:\n%s", i, args[0], R.err);
        ck_assert_msg(!strstr(R.err, "AddressSanitizer") && !strstr(R.err, "runtime error"),
                      "case %zu: sanitizer report:\n%s", i, R.err);
    }
    // No controller: exit 3, at once, saying so.
    double t0 = s_now();
    IPP("status");
    EXPECT(3);
    ERR_HAS("no controller");
    IPP("run", "--", "true");
    EXPECT(3);
    IPP("wait", "01a20196-069b-703a-900d-77abcab27408");
    EXPECT(3);
    IPP("cluster", "status");
    EXPECT(3);
    OUT_HAS("not running");
    IPP("cluster", "stop");
    EXPECT(3);
    ERR_HAS("no cluster is running");
    ck_assert_msg(s_now() - t0 < 10, "answers about a missing controller took %.1f s",
                  s_now() - t0);
}
END_TEST

START_TEST(test_cluster_lifecycle)
{
    // A launch that fails stops what it started and shows the log.
    setenv("IPP_CONTROLLER", "/bin/false", 1);
    IPP("cluster", "start", "-n", "1");
    unsetenv("IPP_CONTROLLER");
    EXPECT(1);
    ERR_HAS("exited with status 1");
    ERR_HAS("cluster not started");
    ck_assert_msg(!strstr(R.err, "warning"), "a warning for 127.0.0.1:\n%s", R.err);
    // An address other than loopback gets a warning before anything is
    // bound (the controller here does not even start).
    setenv("IPP_CONTROLLER", "/bin/false", 1);
    IPP("cluster", "start", "-n", "1", "--ip", "0.0.0.0");
    EXPECT(1);
    ERR_HAS("warning: --ip 0.0.0.0: the controller's ports are open on every network interface");
    ERR_HAS("Curve is on");
    ERR_HAS("the server's and the owner's keys");
    IPP("cluster", "start", "-n", "1", "--ip", "127.0.0.1");
    unsetenv("IPP_CONTROLLER");
    EXPECT(1);
    ck_assert_msg(!strstr(R.err, "warning"), "a warning for 127.0.0.1:\n%s", R.err);
    setenv("IPP_ENGINE", "/nonexistent/ipp-engine", 1);
    IPP("cluster", "start", "-n", "1");
    unsetenv("IPP_ENGINE");
    EXPECT(1);
    ERR_HAS("not an executable");

    // Logs are the owner's alone (0600), also one left 0644 before.
    char path[400];
    snprintf(path, sizeof path, "%s/profile_default/log/engine-1.log", s_dir);
    int old = open(path, O_WRONLY | O_CREAT, 0644);
    ck_assert_int_ge(old, 0);
    ck_assert_int_eq(fchmod(old, 0644), 0);
    close(old);
    s_start(2, NULL, NULL);
    const char *logs[] = {"controller", "engine-0", "engine-1"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/profile_default/log/%s.log", s_dir, logs[i]);
        struct stat st;
        ck_assert_int_eq(stat(path, &st), 0);
        ck_assert_msg((st.st_mode & 0777) == 0600, "%s has mode %o", path, st.st_mode & 0777);
    }
    // The recorded pids are live engines.
    snprintf(path, sizeof path, "%s/profile_default/engines.pid", s_dir);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    int pids[4], n = 0;
    while (n < 4 && fscanf(f, "%d", &pids[n]) == 1)
        n++;
    fclose(f);
    ck_assert_int_eq(n, 2);
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(kill(pids[i], 0), 0);
    IPP("cluster", "status");
    EXPECT(0);
    OUT_HAS("controller: running");
    OUT_HAS("2 registered");
    // A second start for the same profile is refused and changes nothing.
    IPP("cluster", "start", "-n", "1");
    EXPECT(1);
    ERR_HAS("already running");
    IPP("status");
    EXPECT(0);
    OUT_HAS("2 engines");
    s_stop();
    for (int i = 0; i < n; i++)
        ck_assert_int_ne(kill(pids[i], 0), 0);
    IPP("cluster", "status");
    EXPECT(3);
    IPP("status");
    EXPECT(3);
    // And it starts again on the same profile and database.
    s_start(1, "--durability", "full");
    IPP("run", "--wait", "--", "echo", "again");
    EXPECT(0);
    ck_assert_str_eq(R.out, "again\n");
    s_stop();
}
END_TEST

START_TEST(test_run)
{
    s_start(2, NULL, NULL);
    IPP("run", "--wait", "--", "echo", "hello", "world");
    EXPECT(0);
    ck_assert_str_eq(R.out, "hello world\n");
    IPP("run", "--wait", "--shell", "echo $((6*7)); echo oops >&2");
    EXPECT(0);
    ck_assert_str_eq(R.out, "42\n");
    ERR_HAS("oops");
    IPP("run", "--wait", "--call", "echo", "hi");
    EXPECT(0);
    ck_assert_str_eq(R.out, "hi\n");
    IPP("run", "--wait", "--env", "GREETING=salut", "--cwd", "/tmp", "--shell",
        "echo $GREETING $(pwd)");
    EXPECT(0);
    ck_assert_str_eq(R.out, "salut /tmp\n");
    // Failures: exit 1 and the reason.
    IPP("run", "--wait", "--", "false");
    EXPECT(1);
    ERR_HAS("CommandFailed");
    IPP("run", "--wait", "--call", "fail", "boom");
    EXPECT(1);
    ERR_HAS("boom");
    IPP("run", "--wait", "--require", "cmd:no-such-program-here", "--", "true");
    EXPECT(1);
    ERR_HAS("ImpossibleDependency");
    IPP("run", "--wait", "--limit", "0.3", "--", "sleep", "5");
    EXPECT(1);
    // Without --wait: the msg_id, already recorded; --after by id and label.
    IPP("run", "--label", "first", "--shell", "sleep 0.3; echo one");
    EXPECT(0);
    char a[64];
    s_first_line(a, sizeof a);
    ck_assert_msg(ipp_msgid_valid(a), "not a msg_id: '%s'", a);
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM tasks WHERE msg_id = '%s'", a);
    ck_assert_int_eq(s_db_int(sql), 1);
    IPP("run", "--wait", "--after", a, "--label", "second", "--", "echo", "two");
    EXPECT(0);
    ck_assert_str_eq(R.out, "two\n");
    // second started after first completed.
    snprintf(sql, sizeof sql,
             "SELECT (SELECT started FROM tasks WHERE label = 'second') >= "
             "(SELECT completed FROM tasks WHERE msg_id = '%s')",
             a);
    ck_assert_int_eq(s_db_int(sql), 1);
    IPP("run", "--wait", "--after", "fir*", "--follow", a, "--retries", "1", "--timeout", "30",
        "--", "echo", "three");
    EXPECT(0);
    ck_assert_int_eq(s_db_int("SELECT count(*) FROM tasks WHERE status = 'ok' AND "
                              "engine_id = (SELECT engine_id FROM tasks WHERE label = 'first') "
                              "AND stdout = 'three\n'"),
                     1);
    IPP("run", "--after", "no-such-label", "--", "true");
    EXPECT(1);
    ERR_HAS("no task has a label matching");
    // Ctrl-C while waiting: exit 130 at once, the task's id on stdout, and
    // the task goes on to finish.
    s_interrupt_after = 1.0;
    IPP("run", "--wait", "--label", "interrupted", "--call", "sleep", "3");
    s_interrupt_after = -1;
    EXPECT(130);
    ERR_HAS("interrupted; 1 of 1 tasks not finished go on");
    char c[64];
    s_first_line(c, sizeof c);
    ck_assert_msg(ipp_msgid_valid(c), "not a msg_id: '%s'", c);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM tasks WHERE msg_id = '%s' AND status = 'pending'", c);
    ck_assert_int_eq(s_db_int(sql), 1);
    IPP("wait", c);
    EXPECT(0);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM tasks WHERE msg_id = '%s' AND status = 'ok'",
             c);
    ck_assert_int_eq(s_db_int(sql), 1);
    s_stop();
}
END_TEST

START_TEST(test_px)
{
    s_start(2, NULL, NULL);
    IPP("px", "--", "sh", "-c", "echo pid $$");
    EXPECT(0);
    OUT_HAS("[engine 0]\npid ");
    OUT_HAS("[engine 1]\npid ");
    ck_assert_int_eq(s_count(R.out, "pid "), 2);
    // Two different engine processes ran it.
    IPP("px", "--call", "getpid");
    EXPECT(0);
    int p0 = 0, p1 = 0;
    ck_assert_int_eq(sscanf(R.out, "[engine 0]\n%d\n[engine 1]\n%d", &p0, &p1), 2);
    ck_assert_int_ne(p0, p1);
    IPP("px", "--targets", "1", "--shell", "echo only");
    EXPECT(0);
    ck_assert_str_eq(R.out, "[engine 1]\nonly\n");
    IPP("px", "--shell", "echo out; echo bad >&2; exit 3");
    EXPECT(1);
    ck_assert_int_eq(s_count(R.out, "out\n"), 2);
    ERR_HAS("[engine 0 stderr]");
    ERR_HAS("bad");
    IPP("px", "--targets", "7", "--", "true");
    EXPECT(1);
    s_stop();
}
END_TEST

START_TEST(test_map)
{
    s_start(2, NULL, NULL);
    IPP("map", "--", "echo", "item-{}", ":::", "a", "b", "c");
    EXPECT(0);
    ck_assert_str_eq(R.out, "item-a\nitem-b\nitem-c\n");
    // Items from stdin; shell lines get them quoted.
    IPP_IN("x\ny y\n\nit's\n", "map", "--shell", "echo \"got [\"{}\"]\"");
    EXPECT(0);
    ck_assert_str_eq(R.out, "got [x]\ngot [y y]\ngot [it's]\n");
    // Without {} the item is the last argument; --label on every task.
    IPP("map", "--label", "mapped", "--", "echo", "n", ":::", "1", "2", "3", "4", "5");
    EXPECT(0);
    ck_assert_str_eq(R.out, "n 1\nn 2\nn 3\nn 4\nn 5\n");
    ck_assert_int_eq(s_db_int("SELECT count(*) FROM tasks WHERE label = 'mapped'"), 5);
    ck_assert_int_eq(s_db_int("SELECT count(DISTINCT engine_id) FROM tasks WHERE label = "
                              "'mapped'"),
                     2);
    IPP("map", "--call", "echo", ":::", "p", "q");
    EXPECT(0);
    ck_assert_str_eq(R.out, "p\nq\n");
    // One failing item: the others still print, exit 1 naming it.
    IPP("map", "--", "sh", "-c", "echo $0; test $0 != b", ":::", "a", "b", "c");
    EXPECT(1);
    ck_assert_str_eq(R.out, "a\nb\nc\n");
    ERR_HAS("item 'b'");
    IPP_IN("", "map", "--", "echo");
    EXPECT(0);
    ck_assert_str_eq(R.out, "");
    // Ctrl-C while waiting: the ids of the items not finished, one per line.
    s_interrupt_after = 1.0;
    IPP("map", "--call", "sleep", ":::", "0", "3", "3");
    s_interrupt_after = -1;
    EXPECT(130);
    ERR_HAS("2 of 3 tasks not finished go on");
    const char *line = R.out;
    for (int k = 0; k < 2; k++) {
        char id[64];
        const char *nl = strchr(line, '\n');
        ck_assert_ptr_nonnull(nl);
        snprintf(id, sizeof id, "%.*s", (int)(nl - line), line);
        ck_assert_msg(ipp_msgid_valid(id), "not a msg_id: '%s'", id);
        line = nl + 1;
    }
    ck_assert_str_eq(line, "");
    // On a terminal: a progress bar, redrawn in place, ending full.
    IPP_TTY("map", "--shell", "sleep 0.2; echo {}", ":::", "a", "b", "c", "d");
    EXPECT(0);
    ck_assert_msg(strstr(R.out, "\r[") && strstr(R.out, "4/4 tasks"), "%s", R.out);
    ck_assert_msg(strstr(R.out, "[##############################] 4/4"), "%s", R.out);
    ck_assert_msg(strstr(R.out, "a\r\nb\r\nc\r\nd\r\n"), "%s", R.out);
    s_stop();
}
END_TEST

START_TEST(test_dag_rescue)
{
    s_start(2, NULL, NULL);
    char wf[600], text[2400];
    // gen → side, check → final; check fails until the file `fixed` exists.
    // Every run appends its name to `runs`.
    snprintf(text, sizeof text,
             "{\"description\": \"rescue test\", \"tasks\": {\n"
             " \"gen\": {\"shell\": \"echo gen >> %1$s/runs; echo data\"},\n"
             " \"side\": {\"cmd\": [\"sh\", \"-c\", \"echo side >> %1$s/runs\"], \"after\": "
             "[\"gen\"]},\n"
             " \"check\": {\"shell\": \"echo check >> %1$s/runs; test -f %1$s/fixed\", "
             "\"after\": {\"ids\": [\"gen\"], \"all\": true}},\n"
             " \"final\": {\"shell\": \"echo final >> %1$s/runs; echo done\", \"after\": "
             "[\"check\", \"side\"]},\n"
             " \"hello\": {\"call\": \"echo\", \"args\": [\"hi\"], \"retries\": 1}\n"
             "}}\n",
             s_dir);
    s_write(wf, sizeof wf, "rescue.json", text);
    IPP("dag", "submit", wf);
    EXPECT(0);
    char gen[IPP_MSGID_LEN + 1], check[IPP_MSGID_LEN + 1], fin[IPP_MSGID_LEN + 1];
    s_id_of("gen", gen);
    s_id_of("check", check);
    s_id_of("final", fin);
    // Parents come before children in the table (submission order).
    ck_assert(strstr(R.out, "gen ") < strstr(R.out, "check "));
    ck_assert(strstr(R.out, "check ") < strstr(R.out, "final "));
    IPP("wait", "--label", "rescue/*");
    EXPECT(1);  // check failed, final unreachable
    IPP("dag", "status", wf);
    EXPECT(1);
    OUT_HAS("5 nodes: 3 ok, 0 pending, 2 failed");
    ck_assert_msg(strstr(R.out, "check ") && strstr(strstr(R.out, "check "), "error"), "%s", R.out);
    ck_assert_msg(strstr(strstr(R.out, "final "), "unreachable"), "%s", R.out);
    // The same by prefix, without the file.
    IPP("dag", "status", "rescue");
    EXPECT(1);
    OUT_HAS("5 nodes");
    OUT_HAS(gen);

    // Fix the cause and resume: only check and final run again.
    s_write(text, sizeof text, "fixed", "");
    IPP("dag", "resume", wf, "--wait");
    EXPECT(0);
    OUT_HAS("resubmitted 2 of 5 nodes");
    OUT_HAS("5 nodes: 5 ok, 0 pending, 0 failed");
    ck_assert_msg(strstr(strstr(R.out, "gen "), "keep"), "%s", R.out);
    ck_assert_msg(strstr(strstr(R.out, "check "), "rerun"), "%s", R.out);
    char runs[400];
    snprintf(runs, sizeof runs, "%s/runs", s_dir);
    FILE *f = fopen(runs, "r");
    ck_assert_ptr_nonnull(f);
    char all[400];
    size_t len = fread(all, 1, sizeof all - 1, f);
    all[len] = '\0';
    fclose(f);
    ck_assert_int_eq(s_count(all, "gen"), 1);
    ck_assert_int_eq(s_count(all, "side"), 1);
    ck_assert_int_eq(s_count(all, "check"), 2);
    ck_assert_int_eq(s_count(all, "final"), 1);
    // Finished nodes keep their task; the status shows the new ones.
    IPP("dag", "status", wf);
    EXPECT(0);
    OUT_HAS(gen);
    ck_assert_msg(!strstr(R.out, check) && !strstr(R.out, fin), "%s", R.out);
    // The re-run final depended on the new check and the old side.
    char sql[300];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM deps WHERE task = (SELECT msg_id FROM tasks WHERE label = "
             "'rescue/final' AND msg_id <> '%s') AND depends_on IN ((SELECT msg_id FROM tasks "
             "WHERE label = 'rescue/side'), (SELECT max(msg_id) FROM tasks WHERE label = "
             "'rescue/check'))",
             fin);
    ck_assert_int_eq(s_db_int(sql), 2);
    IPP("result", "--label", "rescue/gen");
    EXPECT(0);
    OUT_HAS("data");
    IPP("dag", "resume", wf);
    EXPECT(0);
    OUT_HAS("nothing to resume");
    ck_assert_int_eq(s_db_int("SELECT count(*) FROM tasks"), 7);
    // A label prefix of one's own.
    IPP("dag", "submit", "--label", "other/run1", "--wait", wf);
    EXPECT(0);
    ck_assert_int_eq(s_db_int("SELECT count(*) FROM tasks WHERE label GLOB 'other/run1/*'"), 5);
    s_stop();
}
END_TEST

START_TEST(test_dag_file_errors)
{
    s_start(1, NULL, NULL);
    static const struct {
        const char *name;    // file name
        const char *text;    // its content
        const char *expect;  // in the error
    } cases[] = {
        {"unknown.json", "{\"tasks\": {\"a\": {\"cmd\": [\"true\"], \"after\": [\"zz\"]}}}",
         "node 'a', field 'after': unknown node 'zz'"},
        {"cycle.json",
         "{\"tasks\": {\"a\": {\"cmd\": [\"true\"], \"after\": [\"c\"]}, \"b\": {\"cmd\": "
         "[\"true\"], \"after\": [\"a\"]}, \"c\": {\"cmd\": [\"true\"], \"follow\": [\"b\"]}, "
         "\"d\": {\"cmd\": [\"true\"], \"after\": [\"c\"]}}}",
         "cycle: a -> b -> c -> a"},
        {"self.json", "{\"tasks\": {\"x\": {\"shell\": \"true\", \"after\": [\"x\"]}}}",
         "cycle: x -> x"},
        {"type.json", "{\"tasks\": {\"a\": {\"cmd\": \"echo hi\"}}}",
         "node 'a', field 'cmd': must be a list of strings, not a string"},
        {"type2.json", "{\"tasks\": {\"a\": {\"shell\": \"x\", \"retries\": \"3\"}}}",
         "node 'a', field 'retries'"},
        {"type3.json",
         "{\"tasks\": {\"a\": {\"shell\": \"x\"}, \"b\": {\"shell\": \"x\", \"after\": {\"ids\": "
         "[\"a\"], \"all\": \"yes\"}}}}",
         "node 'b', field 'after.all': must be true or false"},
        {"key.json", "{\"tasks\": {\"a\": {\"shell\": \"x\", \"colour\": \"red\"}}}",
         "node 'a': unknown field 'colour'"},
        {"topkey.json", "{\"tasks\": {\"a\": {\"shell\": \"x\"}}, \"version\": 2}",
         "unknown top-level field 'version'"},
        {"missing.json", "{\"tasks\": {\"a\": {\"after\": []}}}", "node 'a': needs one of 'cmd'"},
        {"two.json", "{\"tasks\": {\"a\": {\"cmd\": [\"true\"], \"shell\": \"true\"}}}",
         "node 'a': has 'cmd' and 'shell'"},
        {"notjson.json", "{\"tasks\": {\"a\": {\"shell\": \"x\"},}}", "not valid JSON"},
        {"dup.json", "{\"tasks\": {\"a\": {\"shell\": \"x\"}, \"a\": {\"shell\": \"y\"}}}",
         "duplicate object key"},
        {"empty.json", "{\"tasks\": {}}", "no tasks"},
        {"array.json", "[1, 2]", "must be a JSON object"},
        {"name.json", "{\"tasks\": {\"a b\": {\"shell\": \"x\"}}}", "node 'a b': a name is"},
        {"args.json", "{\"tasks\": {\"a\": {\"cmd\": [\"echo\"], \"args\": [\"x\"]}}}",
         "only a 'call' takes args"},
    };
    char path[600];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        s_write(path, sizeof path, cases[i].name, cases[i].text);
        IPP("dag", "submit", path);
        ck_assert_msg(R.code == 2, "%s: exit %d, wanted 2\n%s%s", cases[i].name, R.code, R.out,
                      R.err);
        ck_assert_msg(strstr(R.err, cases[i].expect), "%s: stderr lacks '%s':\n%s", cases[i].name,
                      cases[i].expect, R.err);
        ck_assert_msg(strstr(R.err, "not submitted"), "%s: %s", cases[i].name, R.err);
    }
    // Every problem of a file at once.
    s_write(path, sizeof path, "many.json",
            "{\"tasks\": {\"a\": {\"cmd\": 1}, \"b\": {\"shell\": \"x\", \"after\": [\"q\"]}, "
            "\"c\": {\"call\": \"echo\", \"timeout\": -1}}}");
    IPP("dag", "submit", path);
    EXPECT(2);
    ERR_HAS("node 'a', field 'cmd'");
    ERR_HAS("unknown node 'q'");
    ERR_HAS("node 'c', field 'timeout'");
    IPP("dag", "status", path);
    EXPECT(2);
    // Nothing reached the controller.
    ck_assert_int_eq(s_db_int("SELECT count(*) FROM tasks"), 0);
    IPP("result", "--label", "*");
    EXPECT(1);
    ERR_HAS("no task has a label matching");

    // The example workflow does real work and checks its answer.
    IPP("dag", "submit", "--wait", IPP_EXAMPLES_DIR "/quickstart.json");
    EXPECT(0);
    OUT_HAS("8 nodes: 8 ok");
    IPP("result", "--label", "quickstart/verify");
    EXPECT(0);
    OUT_HAS("sum of squares 1..200000 = 2666686666700000 (expected 2666686666700000)");
    IPP("dag", "submit", "--wait", IPP_EXAMPLES_DIR "/features.json");
    EXPECT(0);
    OUT_HAS("6 nodes: 6 ok");
    IPP("result", "--label", "features/flaky");
    EXPECT(0);
    OUT_HAS("attempts   2");
    OUT_HAS("second try worked");
    s_stop();
}
END_TEST

START_TEST(test_results_from_another_client)
{
    s_start(2, NULL, NULL);
    // Each `ipp run` is a client that submits and exits.
    IPP("run", "--label", "later/one", "--shell", "sleep 0.5; echo first");
    EXPECT(0);
    char one[64], two[64];
    s_first_line(one, sizeof one);
    IPP("run", "--label", "later/two", "--call", "echo", "second");
    EXPECT(0);
    s_first_line(two, sizeof two);
    // A new client waits on them by label...
    IPP("wait", "--timeout", "30", "--label", "later/*");
    EXPECT(0);
    OUT_HAS("2 tasks: 2 ok, 0 failed");
    // ...and another fetches them by msg_id and by label.
    IPP("result", one);
    EXPECT(0);
    OUT_HAS(one);
    OUT_HAS("status     ok");
    OUT_HAS("--- stdout\nfirst\n");
    OUT_HAS("(label later/one)");
    IPP("result", "--json", "--label", "later/*");
    EXPECT(0);
    ck_assert_int_eq(s_count(R.out, "\n"), 2);
    char *line2 = strchr(R.out, '\n') + 1;
    json_error_t je;
    json_t *a = json_loadb(R.out, (size_t)(line2 - R.out), 0, &je);
    json_t *b = json_loads(line2, 0, &je);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_str_eq(json_string_value(json_object_get(a, "msg_id")), one);
    ck_assert_str_eq(json_string_value(json_object_get(a, "status")), "ok");
    ck_assert_str_eq(json_string_value(json_object_get(a, "stdout")), "first\n");
    ck_assert_str_eq(json_string_value(json_object_get(a, "label")), "later/one");
    ck_assert(json_is_integer(json_object_get(a, "engine_id")));
    ck_assert(json_is_string(json_object_get(a, "started")));
    ck_assert(json_is_string(json_object_get(a, "completed")));
    ck_assert(json_is_null(json_object_get(a, "error")));
    ck_assert_str_eq(json_string_value(json_object_get(b, "msg_id")), two);
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(b, "result"), 0)), "second");
    json_decref(a);
    json_decref(b);
    // A failed task: result says why, exit 1.
    IPP("run", "--label", "later/bad", "--shell", "echo partial; exit 4");
    EXPECT(0);
    char bad[64];
    s_first_line(bad, sizeof bad);
    IPP("result", "--wait", bad);
    EXPECT(1);
    OUT_HAS("status     error");
    OUT_HAS("partial");
    OUT_HAS("error      CommandFailed");
    // A pending task shows as pending without --wait.
    IPP("run", "--call", "sleep", "3");
    EXPECT(0);
    char slow[64];
    s_first_line(slow, sizeof slow);
    IPP("result", slow);
    EXPECT(1);
    OUT_HAS("status     pending");
    IPP("wait", "--timeout", "0.2", slow);
    EXPECT(1);
    ERR_HAS("timed out");
    IPP("wait", "--timeout", "30", slow);
    EXPECT(0);
    // An id nobody knows.
    IPP("result", "01a20196-069b-703a-900d-77abcab27408");
    EXPECT(1);
    OUT_HAS("unknown");
    s_stop();
}
END_TEST

START_TEST(test_purge_resubmit_abort)
{
    s_start(2, NULL, NULL);
    // A long task and one waiting on it.
    IPP("run", "--label", "long", "--shell", "sleep 2");
    EXPECT(0);
    char longid[64], pend[64];
    s_first_line(longid, sizeof longid);
    IPP("run", "--label", "pend", "--after", longid, "--", "echo", "never");
    EXPECT(0);
    s_first_line(pend, sizeof pend);
    // Purging a pending task is refused, and nothing is purged.
    IPP("purge", pend);
    EXPECT(1);
    ERR_HAS("pending");
    IPP("purge", "--label", "long");
    EXPECT(1);
    // Abort the waiting one: it ends aborted and never runs.
    IPP("abort", "--label", "pend");
    EXPECT(0);
    OUT_HAS(pend);
    IPP("wait", "--timeout", "30", pend);
    EXPECT(1);
    ERR_HAS("aborted");
    IPP("result", pend);
    EXPECT(1);
    OUT_HAS("status     aborted");
    IPP("abort", pend);  // not pending any more
    EXPECT(1);
    IPP("wait", "--timeout", "30", longid);
    EXPECT(0);
    ck_assert_int_eq(s_db_int("SELECT count(*) FROM tasks WHERE stdout = 'never\n'"), 0);
    // Resubmit: a new task, same command and label.
    IPP("run", "--label", "again", "--wait", "--shell", "echo again");
    EXPECT(0);
    ck_assert_int_eq(s_db_int("SELECT count(*) FROM tasks WHERE label = 'again'"), 1);
    IPP("resubmit", "--wait", "--label", "again");
    EXPECT(0);
    char oldid[64], newid[64];
    ck_assert_int_eq(sscanf(R.out, "%63s %63s", oldid, newid), 2);
    ck_assert(ipp_msgid_valid(oldid) && ipp_msgid_valid(newid));
    ck_assert_str_ne(oldid, newid);
    IPP("result", newid);
    EXPECT(0);
    OUT_HAS("--- stdout\nagain\n");
    OUT_HAS("(label again)");
    ck_assert_int_eq(s_db_int("SELECT count(*) FROM tasks WHERE label = 'again' AND status = "
                              "'ok'"),
                     2);
    // Purge by id, by label, then everything.
    long long before = s_db_int("SELECT count(*) FROM tasks");
    IPP("purge", longid);
    EXPECT(0);
    OUT_HAS("purged 1 record");
    ck_assert_int_eq(s_db_int("SELECT count(*) FROM tasks"), before - 1);
    IPP("result", longid);
    EXPECT(1);
    IPP("purge", "--label", "again");
    EXPECT(0);
    OUT_HAS("purged 2 records");
    IPP("purge", "--all");
    EXPECT(0);
    ck_assert_int_eq(s_db_int("SELECT count(*) FROM tasks"), 0);
    // Shutdown through the controller; cluster stop then finds nothing left.
    IPP("shutdown");
    EXPECT(0);
    OUT_HAS("stopping 2 engines and the controller");
    s_reap_daemons(2);
    IPP("cluster", "stop");
    ck_assert_msg(R.code == 3 || R.code == 0, "exit %d: %s", R.code, R.err);
    IPP("status");
    EXPECT(3);
}
END_TEST

// ------------------------------------------------------------ a stalled controller

// A relay between one client and the controller's client port, so a test
// can stop the controller (SIGSTOP) at a chosen point of the conversation:
// it reads ZMTP 3 frames (a 64-byte greeting, then frames of a flags byte
// and a 1- or 8-byte size; flag 1 more, 2 long size, 4 command) only to
// count whole messages in each direction.
typedef struct s_stream_t {
    unsigned char *buf;  // every byte read from this side so far
    size_t len;          // how many
    size_t cap;          // room
    size_t scan;         // where the next unparsed frame starts
    size_t msgs;         // whole messages (not commands) seen
    size_t sent;         // bytes forwarded to the other side
} s_stream_t;

// s_stream_read: append what fd has to s and count the messages now
// whole; the offset just past message number `mark` into *cut when it
// completes. false at EOF or on an error.
static bool s_stream_read(int fd, s_stream_t *s, size_t mark, size_t *cut)
{
    if (s->len + 65536 > s->cap) {
        s->cap = (s->cap + 65536) * 2;
        s->buf = realloc(s->buf, s->cap);
        if (!s->buf)
            return false;
    }
    ssize_t n = read(fd, s->buf + s->len, 65536);
    if (n <= 0)
        return n < 0 && errno == EINTR;
    s->len += (size_t)n;
    if (s->scan == 0 && s->len >= 64)
        s->scan = 64;
    while (s->scan >= 64 && s->scan + 2 <= s->len) {
        unsigned char flags = s->buf[s->scan];
        size_t head = flags & 2 ? 9 : 2, size = 0;
        if (s->scan + head > s->len)
            break;
        if (flags & 2)
            for (int i = 1; i <= 8; i++)
                size = size << 8 | s->buf[s->scan + (size_t)i];
        else
            size = s->buf[s->scan + 1];
        if (s->scan + head + size > s->len)
            break;
        s->scan += head + size;
        if (!(flags & 4) && !(flags & 1) && ++s->msgs == mark)
            *cut = s->scan;
    }
    return true;
}

// s_stream_forward: send s's bytes up to `upto` to fd. false on an error.
static bool s_stream_forward(int fd, s_stream_t *s, size_t upto)
{
    while (s->sent < upto) {
        ssize_t n = write(fd, s->buf + s->sent, upto - s->sent);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        s->sent += (size_t)n;
    }
    return true;
}

// s_tasks_like: how many tasks of the profile's database have a label
// matching the LIKE pattern.
static long long s_tasks_like(const char *pattern)
{
    char sql[300];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM tasks WHERE label LIKE '%s'", pattern);
    return s_db_int(sql);
}

// s_relay: (in a child) accept one client on lfd and relay it to the
// controller at port: the client's first `pass` messages go through,
// later ones are held until `recorded` tasks matching `like` are in the
// database and the controller has sent two messages and then nothing for
// half a second; then the controller is stopped (SIGSTOP) and everything
// goes through. Never returns.
static void s_relay(int lfd, int port, pid_t controller, size_t pass, const char *like,
                    long long recorded)
{
    int c = accept(lfd, NULL, NULL);
    int h = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (c < 0 || h < 0 || connect(h, (struct sockaddr *)&a, sizeof a) != 0)
        _exit(1);
    s_stream_t up = {0}, down = {0};  // client to controller, and back
    size_t cut = (size_t)-1, unused = 0;
    bool held = true;
    double quiet_since = s_now();
    for (;;) {
        if (held && cut != (size_t)-1 && down.msgs >= 2 && s_now() - quiet_since > 0.5 &&
            s_tasks_like(like) >= recorded) {
            kill(controller, SIGSTOP);
            held = false;
        }
        size_t upto = held ? (cut < up.len ? cut : up.len) : up.len;
        if (!s_stream_forward(h, &up, upto))
            _exit(0);
        struct pollfd p[2] = {{c, POLLIN, 0}, {h, POLLIN, 0}};
        if (poll(p, 2, 50) <= 0)
            continue;
        if (p[0].revents && !s_stream_read(c, &up, pass + 1, &cut))
            _exit(0);
        if (p[1].revents) {
            if (!s_stream_read(h, &down, 0, &unused) || !s_stream_forward(c, &down, down.len))
                _exit(0);
            quiet_since = s_now();
        }
    }
}

// s_proc_state: the state letter of pid in /proc ('T' stopped), '?' if gone.
static char s_proc_state(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return '?';
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    const char *rp = strrchr(buf, ')');
    return rp && rp[1] == ' ' ? rp[2] : '?';
}

START_TEST(test_dag_stalled_controller)
{
    // A controller that stops answering in the middle of a 50-node
    // submission: the client gives up after one --request-timeout for the
    // whole submission, not one per node, exits 3, and says which nodes
    // were acknowledged and which were not.
    enum { N = 50, PASS = 5 };
    s_start(1, NULL, NULL);
    char *text = strdup("{\"tasks\": {");
    for (int i = 0; i < N; i++) {
        char *t = NULL;
        ck_assert(asprintf(&t, "%s%s\"n%02d\": {\"cmd\": [\"true\"]}", text, i ? ", " : "", i) > 0);
        free(text);
        text = t;
    }
    char *t = NULL;
    ck_assert(asprintf(&t, "%s}}\n", text) > 0);
    free(text);
    char wf[400];
    s_write(wf, sizeof wf, "stall.json", t);
    free(t);

    // The client connects through the relay; notifications go direct.
    char path[400];
    snprintf(path, sizeof path, "%s/profile_default/security/ipp-client.json", s_dir);
    json_error_t jerr;
    json_t *conn = json_load_file(path, 0, &jerr);
    ck_assert_msg(conn, "%s: %s", path, jerr.text);
    int port = (int)json_integer_value(json_object_get(conn, "client_port"));
    pid_t controller = (pid_t)json_integer_value(json_object_get(conn, "controller_pid"));
    ck_assert_int_gt(port, 0);
    ck_assert_int_gt(controller, 0);
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(lfd, 4), 0);
    ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&a, &alen), 0);
    json_object_set_new(conn, "client_port", json_integer(ntohs(a.sin_port)));
    // Through the relay means over TCP: no ipc endpoints in this file.
    json_object_del(conn, "ipc_client");
    json_object_del(conn, "ipc_notify");
    char relayed[400];
    snprintf(relayed, sizeof relayed, "%s/relayed-client.json", s_dir);
    ck_assert_int_eq(json_dump_file(conn, relayed, JSON_INDENT(2)), 0);
    ck_assert_int_eq(chmod(relayed, 0600), 0);
    json_decref(conn);
    pid_t relay = fork();
    ck_assert_int_ge(relay, 0);
    if (relay == 0)
        s_relay(lfd, port, controller, PASS, "stall/%", PASS);
    close(lfd);

    double t0 = s_now();
    IPP("--request-timeout", "1", "--connection", relayed, "dag", "submit", wf);
    double took = s_now() - t0;
    char state = s_proc_state(controller);
    kill(controller, SIGCONT);
    kill(relay, SIGKILL);
    waitpid(relay, NULL, 0);
    ck_assert_msg(state == 'T', "the controller was not stopped (state %c):\n%s", state, R.err);
    // The old client waited a --request-timeout per unacknowledged node (45 s here).
    ck_assert_msg(took < 20, "gave up after %.1f s: one deadline per node?\n%.1500s", took, R.err);
    EXPECT(3);
    ERR_HAS("did not acknowledge 45 of 50 nodes");
    // Every node is named once, as acknowledged or not.
    const char *ack = strstr(R.err, "acknowledged (5):");
    const char *unack = strstr(R.err, "not acknowledged (45):");
    ck_assert_msg(ack && unack, "no lists of nodes:\n%s", R.err);
    for (int i = 0; i < N; i++) {
        char name[8];
        snprintf(name, sizeof name, "n%02d", i);
        ck_assert_msg(s_count(R.err, name) == 1, "%s named %d times:\n%s", name,
                      s_count(R.err, name), R.err);
        const char *at = strstr(R.err, name);
        bool acked = at > ack && (at < unack || unack < ack);
        ck_assert_msg(acked == (i < PASS), "%s listed as %s:\n%s", name,
                      acked ? "acknowledged" : "not acknowledged", R.err);
    }
    // The controller goes on once resumed; what it recorded is there.
    IPP("dag", "status", "--wait", wf);
    ck_assert_int_ge(s_tasks_like("stall/%"), PASS);
    s_stop();
}
END_TEST

int main(void)
{
    // Daemons orphaned by a failed test come here to be killed and reaped.
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    Suite *s = suite_create("cli");
    struct {
        const char *name;
        const TTest *fn;
    } tests[] = {
        {"usage", test_usage_errors},
        {"cluster", test_cluster_lifecycle},
        {"run", test_run},
        {"px", test_px},
        {"map", test_map},
        {"dag_rescue", test_dag_rescue},
        {"dag_errors", test_dag_file_errors},
        {"results", test_results_from_another_client},
        {"purge", test_purge_resubmit_abort},
        {"dag_stalled", test_dag_stalled_controller},
    };
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        // One test per case, so the runner's fixture wraps each test.
        TCase *tc = tcase_create(tests[i].name);
        tcase_set_timeout(tc, 120);
        tcase_add_unchecked_fixture(tc, s_fixture_setup, s_fixture_teardown);
        tcase_add_checked_fixture(tc, s_checked_setup, NULL);
        tcase_add_test(tc, tests[i].fn);
        suite_add_tcase(s, tc);
    }
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
