/* cluster.c — `ipp cluster start|stop|status`: a local controller and
 * engines as background processes of one profile.
 *
 * start launches ipp-controller and N ipp-engine processes detached (own
 * session, stdin from /dev/null, output to PROFILE/log/NAME.log, no inherited
 * descriptors), records the engines' pids in PROFILE/engines.pid (the
 * controller keeps its own PROFILE/ipp-controller.pid) and returns once
 * the engines are registered; on any failure it stops what it started and
 * shows the logs. stop asks the controller to shut everything down, then
 * makes sure by pid: SIGTERM, then SIGKILL, each after a wait. A pid is
 * only ever signalled after checking that it still is an ipp process, so
 * a recycled pid is left alone. Owns no state between invocations but
 * those files.
 */
#include "tools/ipp/cli.h"

#include "proto/clock.h"
#include "proto/conn.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define S_ENGINES_PID "engines.pid"
#define S_CONTROLLER_PID "ipp-controller.pid"
// Most engines one start may launch.
#define S_MAX_ENGINES 1024

static const cli_cmd_t s_cmd = {
    "cluster",
    "usage: ipp cluster start [-n N] [options]\n"
    "       ipp cluster stop [--timeout S]\n"
    "       ipp cluster status\n"
    "\n"
    "Run a controller and engines on this machine, in the background, for one\n"
    "profile ($IPP_DIR/profile_NAME, $IPP_DIR defaulting to ~/.ipp). Logs go to\n"
    "PROFILE/log/controller.log and engine-K.log (mode 0600); engine pids to\n"
    "PROFILE/engines.pid.\n"
    "Engines run commands in the folder `ipp cluster start` was run from.\n"
    "\n"
    "start: launch the controller and N engines; return once all N are registered.\n"
    "  Refused while a controller or engines of the profile are running.\n"
    "  -n, --engines N        engines to start (default: the number of CPUs)\n"
    "  --db PATH              task database (default PROFILE/db/tasks.db)\n"
    "  --durability MODE      normal (default) or full (fsync per batch)\n"
    "  --scheme NAME          leastload (default), lru, plainrandom, twobin, weighted\n"
    "  --hwm N                outstanding tasks per engine (0 = unlimited; default 1)\n"
    "  --ip ADDR              address the controller binds (default 127.0.0.1); any\n"
    "                         other is reachable from the network, unencrypted\n"
    "  --tag TAG              give every engine this tag (for --require tag:TAG)\n"
    "  --timeout S            how long to wait for the engines (default 60)\n"
    "stop: shut the controller and engines down (SIGTERM, then SIGKILL, for those\n"
    "  that do not leave within --timeout S, default 15) and remove the pid files.\n"
    "status: the controller's pid, the engines registered and their queues.\n"
    "\n"
    "Binaries: $IPP_CONTROLLER and $IPP_ENGINE if set, else next to ipp, else in the\n"
    "build tree (hub/, engine/), else on $PATH.\n"
    "\n"
    "options of every subcommand:\n" CLI_COMMON_HELP "\n"
    "exit: 0 ok, 1 failed (logs shown), 2 usage, 3 no cluster running (stop, status).\n",
};

// ------------------------------------------------------------ processes

// s_loopback: ip is an address of the loopback interface only.
static bool s_loopback(const char *ip)
{
    return strncmp(ip, "127.", 4) == 0 || strcmp(ip, "::1") == 0 || strcmp(ip, "localhost") == 0;
}

// s_warn_exposed: say on stderr what binding the controller to ip (not
// loopback) exposes: the wire is authenticated (a keyed MAC) but not
// encrypted, so it is for networks whose users may all see the traffic.
static void s_warn_exposed(const char *ip, const char *profile_dir)
{
    bool every = strcmp(ip, "0.0.0.0") == 0 || strcmp(ip, "*") == 0 || strcmp(ip, "::") == 0;
    cli_error("warning: --ip %s: the controller's ports are open %s; its traffic is "
              "not encrypted (anyone on the path can read tasks and results), and anyone "
              "who can reach the ports and holds the key in %s/security/ can run commands "
              "on the engines. Use it only on a network you trust.",
              ip, every ? "on every network interface of this machine" : "to that network",
              profile_dir);
}

// s_is_zombie: pid has exited but is not reaped yet.
static bool s_is_zombie(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    const char *rp = strrchr(buf, ')');  // the name may hold spaces and parens
    return rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X');
}

// s_alive: pid runs (exists and is not a zombie).
static bool s_alive(pid_t pid)
{
    if (pid <= 0)
        return false;
    if (kill(pid, 0) != 0 && errno != EPERM)
        return false;
    return !s_is_zombie(pid);
}

// s_is_ipp: pid runs a program whose command line names `what`
// ("ipp-engine", "ipp-controller") — so a recycled pid is not ours.
static bool s_is_ipp(pid_t pid, const char *what)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    // Any of the first words (a wrapper such as sh or env may come first).
    for (ssize_t off = 0; off < n && off < 2048;) {
        const char *word = buf + off;
        const char *base = strrchr(word, '/');
        base = base ? base + 1 : word;
        if (strstr(base, what))
            return true;
        off += (ssize_t)strlen(word) + 1;
    }
    return false;
}

// s_ours: pid is alive and an ipp `what`.
static bool s_ours(pid_t pid, const char *what)
{
    return s_alive(pid) && s_is_ipp(pid, what);
}

// s_read_pids: the pids in path, one per line, into pids (up to max);
// returns how many (0 when there is no file).
static size_t s_read_pids(const char *path, pid_t *pids, size_t max)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = 0;
    long v;
    while (n < max && fscanf(f, "%ld", &v) == 1)
        if (v > 0 && v < INT_MAX)
            pids[n++] = (pid_t)v;
    fclose(f);
    return n;
}

// s_write_pids: write pids, one per line, to path (temporary file, then
// rename). false (message printed) on failure.
static bool s_write_pids(const char *path, const pid_t *pids, size_t n)
{
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s.%d", path, (int)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) {
        cli_error("cannot write %s: %s", tmp, strerror(errno));
        return false;
    }
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%d\n", (int)pids[i]);
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        cli_error("cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        return false;
    }
    return true;
}

// s_controller_pid: the pid in the profile's controller pid file, 0 if none.
static pid_t s_controller_pid(const char *dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, S_CONTROLLER_PID);
    pid_t pid = 0;
    s_read_pids(path, &pid, 1);
    return pid;
}

// s_executable: path names an executable regular file.
static bool s_executable(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

// s_find_binary: where program `name` is (see the usage text) into out.
// false (message printed) when it is nowhere.
static bool s_find_binary(const char *name, const char *env, const char *build_sub, char *out,
                          size_t size)
{
    const char *e = getenv(env);
    if (e && *e) {
        if (!s_executable(e)) {
            cli_error("$%s is %s, which is not an executable file", env, e);
            return false;
        }
        snprintf(out, size, "%s", e);
        return true;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = '\0';
            // Installed: bin/ipp beside bin/ipp-controller.
            if (snprintf(out, size, "%s/%s", self, name) < (int)size && s_executable(out))
                return true;
            // Build tree: BUILD/tools/ipp/ipp, BUILD/hub/ipp-controller.
            if (snprintf(out, size, "%s/../../%s/%s", self, build_sub, name) < (int)size &&
                s_executable(out)) {
                char real[PATH_MAX];
                if (realpath(out, real))
                    snprintf(out, size, "%s", real);
                return true;
            }
        }
    }
    const char *path = getenv("PATH");
    if (path) {
        char *copy = strdup(path);
        char *save = NULL;
        for (char *dir = copy ? strtok_r(copy, ":", &save) : NULL; dir;
             dir = strtok_r(NULL, ":", &save)) {
            if (snprintf(out, size, "%s/%s", *dir ? dir : ".", name) < (int)size &&
                s_executable(out)) {
                free(copy);
                return true;
            }
        }
        free(copy);
    }
    cli_error("cannot find %s: not next to ipp, not in the build tree, not on $PATH "
              "(set $%s to its path)",
              name, env);
    return false;
}

// s_close_from: close every descriptor >= lowfd (in a child before exec).
static void s_close_from(int lowfd)
{
#ifdef SYS_close_range
    if (syscall(SYS_close_range, (unsigned)lowfd, ~0U, 0) == 0)
        return;
#endif
    long max = sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 65536)
        max = 65536;
    for (int fd = lowfd; fd < max; fd++)
        close(fd);
}

// s_spawn: start argv detached — new session, stdin /dev/null, stdout
// and stderr appended to log, no other descriptors. Returns the pid, or
// -1 (message printed) if it could not be started; an exec failure is
// reported here, not discovered later.
static pid_t s_spawn(char *const *argv, const char *log)
{
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0) {
        cli_error("pipe: %s", strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        cli_error("fork: %s", strerror(errno));
        close(pfd[0]);
        close(pfd[1]);
        return -1;
    }
    if (pid == 0) {
        // The child: only async-signal-safe calls from here to exec.
        int e = 0, rep = pfd[1];
        close(pfd[0]);
        setsid();
        int in = open("/dev/null", O_RDONLY);
        // Logs name tasks, commands and paths: the owner's alone, like the
        // database and the connection files; one made by an older version
        // is narrowed too.
        int out = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (in < 0 || out < 0 || fchmod(out, 0600) != 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 ||
            dup2(out, 2) < 0) {
            e = errno;
        } else {
            if (in > 2)
                close(in);
            if (out > 2 && out != rep)
                close(out);
            // Keep the report pipe as descriptor 3 (close-on-exec), close the rest.
            if (rep != 3 && dup2(rep, 3) == 3) {
                rep = 3;
                fcntl(3, F_SETFD, FD_CLOEXEC);
            }
            if (rep == 3)
                s_close_from(4);
            execv(argv[0], argv);
            e = errno;
        }
        ssize_t w = write(rep, &e, sizeof e);
        (void)w;
        _exit(127);
    }
    close(pfd[1]);
    int e = 0;
    ssize_t got;
    do {
        got = read(pfd[0], &e, sizeof e);
    } while (got < 0 && errno == EINTR);
    close(pfd[0]);
    if (got == (ssize_t)sizeof e) {
        waitpid(pid, NULL, 0);
        cli_error("cannot run %s: %s", argv[0], strerror(e));
        return -1;
    }
    return pid;
}

// s_reaped: our child pid has exited (reaps it); false while it runs.
static bool s_reaped(pid_t pid, int *status)
{
    int st = 0;
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid) {
        if (status)
            *status = st;
        return true;
    }
    return r < 0 && errno == ECHILD;
}

// s_describe_exit: "exited with status N" / "was killed by signal N".
static void s_describe_exit(int st, char *buf, size_t size)
{
    if (WIFEXITED(st))
        snprintf(buf, size, "exited with status %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(buf, size, "was killed by signal %d", WTERMSIG(st));
    else
        snprintf(buf, size, "stopped");
}

// s_tail: print the last `lines` lines of path to stderr under a header.
static void s_tail(const char *path, int lines)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char buf[16384];
    if (fseek(f, 0, SEEK_END) == 0) {
        long size = ftell(f);
        long from = size > (long)sizeof buf - 1 ? size - (long)sizeof buf + 1 : 0;
        fseek(f, from, SEEK_SET);
    }
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = buf + n;
    int seen = 0;
    while (p > buf) {
        if (p[-1] == '\n' && p != buf + n && ++seen > lines)
            break;
        p--;
    }
    fprintf(stderr, "---- last lines of %s ----\n%s%s", path, p,
            n && buf[n - 1] != '\n' ? "\n" : "");
}

// s_terminate: stop pids (children of ours when `children`, else anyone's
// that are still `what`): SIGTERM, wait up to grace seconds, SIGKILL, wait.
// Returns how many needed SIGKILL.
static int s_terminate(pid_t *pids, size_t n, bool children, const char *what, double grace)
{
    for (size_t i = 0; i < n; i++)
        if (pids[i] > 0 && (children || s_ours(pids[i], what)))
            kill(pids[i], SIGTERM);
    int killed = 0;
    for (int round = 0; round < 2; round++) {
        int64_t until = ipp_clock_mono_us() + (int64_t)((round ? 2.0 : grace) * 1e6);
        for (;;) {
            size_t left = 0;
            for (size_t i = 0; i < n; i++) {
                if (pids[i] <= 0)
                    continue;
                if (children ? s_reaped(pids[i], NULL) : !s_alive(pids[i]))
                    pids[i] = 0;
                else
                    left++;
            }
            if (!left || ipp_clock_mono_us() >= until)
                break;
            usleep(20000);
        }
        if (round == 0) {
            for (size_t i = 0; i < n; i++) {
                if (pids[i] > 0 && (children || s_is_ipp(pids[i], what))) {
                    kill(pids[i], SIGKILL);
                    killed++;
                }
            }
        }
    }
    return killed;
}

// ------------------------------------------------------------ start

// Options of start.
typedef struct s_start_t {
    long n;                  // engines
    const char *db;          // --db
    const char *durability;  // --durability
    const char *scheme;      // --scheme
    const char *hwm;         // --hwm
    const char *ip;          // --ip
    cli_strv_t tags;         // --tag
    double timeout;          // --timeout
} s_start_t;

// s_conn_pid: the controller_pid in the profile's connection file of kind.
static int s_conn_pid(const char *dir, conn_kind_t kind)
{
    char path[4200];
    conn_info_t info;
    if (conn_file_path(dir, kind, path, sizeof path, NULL) != IPP_OK ||
        conn_read(path, kind, &info, NULL) != IPP_OK)
        return 0;
    memset(info.key, 0, sizeof info.key);
    return info.controller_pid;
}

// s_fail_start: undo a start: stop the processes, drop the pid file,
// show the logs. Returns CLI_FAILED.
static int s_fail_start(const char *dir, pid_t ctl, pid_t *eng, size_t n_eng, bool all_logs)
{
    char log[4200];
    snprintf(log, sizeof log, "%s/log/controller.log", dir);
    s_terminate(eng, n_eng, true, "ipp-engine", 5);
    if (ctl > 0)
        s_terminate(&ctl, 1, true, "ipp-controller", 5);
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, S_ENGINES_PID);
    unlink(path);
    s_tail(log, 20);
    for (size_t i = 0; all_logs && i < n_eng && i < 2; i++) {
        snprintf(log, sizeof log, "%s/log/engine-%zu.log", dir, i);
        s_tail(log, 10);
    }
    cli_error("cluster not started; everything it launched was stopped");
    return CLI_FAILED;
}

// s_rotate: keep the previous run's log as NAME.1.
static void s_rotate(const char *path)
{
    char old[4300];
    snprintf(old, sizeof old, "%s.1", path);
    rename(path, old);
}

static int s_start(cli_t *cli, int argc, char **argv)
{
    enum { O_DB = CLI_O_FIRST, O_DUR, O_SCHEME, O_HWM, O_IP, O_TAG, O_TIMEOUT };
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS,
        {"engines", required_argument, NULL, 'n'},
        {"db", required_argument, NULL, O_DB},
        {"durability", required_argument, NULL, O_DUR},
        {"scheme", required_argument, NULL, O_SCHEME},
        {"hwm", required_argument, NULL, O_HWM},
        {"ip", required_argument, NULL, O_IP},
        {"tag", required_argument, NULL, O_TAG},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {NULL, 0, NULL, 0},
    };
    s_start_t o = {.n = sysconf(_SC_NPROCESSORS_ONLN), .timeout = 60};
    if (o.n < 1)
        o.n = 1;
    int rc = CLI_USAGE;
    pid_t ctl = -1;
    pid_t *eng = NULL;
    size_t n_eng = 0;
    ipp_client_t *client = NULL;
    int c;
    long v;
    double d;
    while ((c = cli_getopt(cli, &s_cmd, argc, argv, ":hn:", opts)) != -1) {
        switch (c) {
        case 'h':
            rc = cli_help(&s_cmd);
            goto out;
        case 'n':
            if (!cli_parse_int(optarg, 1, S_MAX_ENGINES, &v)) {
                cli_usage_error(&s_cmd, "-n needs a number of engines from 1 to %d, not '%s'",
                                S_MAX_ENGINES, optarg);
                goto out;
            }
            o.n = v;
            break;
        case O_DB:
            o.db = optarg;
            break;
        case O_DUR:
            if (strcmp(optarg, "normal") != 0 && strcmp(optarg, "full") != 0) {
                cli_usage_error(&s_cmd, "--durability is normal or full, not '%s'", optarg);
                goto out;
            }
            o.durability = optarg;
            break;
        case O_SCHEME: {
            static const char *const schemes[] = {"leastload", "lru",      "plainrandom",
                                                  "twobin",    "weighted", NULL};
            bool ok = false;
            for (size_t i = 0; schemes[i] && !ok; i++)
                ok = strcmp(optarg, schemes[i]) == 0;
            if (!ok) {
                cli_usage_error(&s_cmd,
                                "--scheme is leastload, lru, plainrandom, twobin or weighted, "
                                "not '%s'",
                                optarg);
                goto out;
            }
            o.scheme = optarg;
            break;
        }
        case O_HWM:
            if (!cli_parse_int(optarg, 0, INT_MAX, &v)) {
                cli_usage_error(&s_cmd, "--hwm needs a whole number >= 0, not '%s'", optarg);
                goto out;
            }
            o.hwm = optarg;
            break;
        case O_IP:
            o.ip = optarg;
            break;
        case O_TAG:
            if (!cli_strv_push(&o.tags, optarg)) {
                rc = CLI_FAILED;
                goto out;
            }
            break;
        case O_TIMEOUT:
            if (!cli_parse_double(optarg, 0.1, &d)) {
                cli_usage_error(&s_cmd, "--timeout needs a number of seconds, not '%s'", optarg);
                goto out;
            }
            o.timeout = d;
            break;
        default:
            goto out;
        }
    }
    if (optind < argc) {
        cli_usage_error(&s_cmd, "unexpected argument '%s'", argv[optind]);
        goto out;
    }
    rc = CLI_FAILED;
    char dir[4096];
    ipp_error_t err;
    if (!cli_profile_dir(cli, dir, sizeof dir)) {
        rc = CLI_USAGE;
        goto out;
    }
    if (conn_profile_prepare(dir, &err) != IPP_OK) {
        cli_error("%s", err.msg);
        goto out;
    }
    // Refuse while anything of this profile runs.
    pid_t running = s_controller_pid(dir);
    if (s_alive(running)) {
        cli_error("a controller is already running for profile '%s' (pid %d); stop it with "
                  "`ipp cluster stop` first",
                  cli->profile, (int)running);
        goto out;
    }
    char pidpath[4200];
    snprintf(pidpath, sizeof pidpath, "%s/%s", dir, S_ENGINES_PID);
    pid_t old[S_MAX_ENGINES];
    size_t n_old = s_read_pids(pidpath, old, S_MAX_ENGINES);
    for (size_t i = 0; i < n_old; i++) {
        if (s_ours(old[i], "ipp-engine")) {
            cli_error("engines of profile '%s' are still running (pid %d, see %s); stop them "
                      "with `ipp cluster stop` first",
                      cli->profile, (int)old[i], pidpath);
            goto out;
        }
    }
    if (o.ip && !s_loopback(o.ip))
        s_warn_exposed(o.ip, dir);
    char ctl_bin[PATH_MAX], eng_bin[PATH_MAX];
    if (!s_find_binary("ipp-controller", "IPP_CONTROLLER", "hub", ctl_bin, sizeof ctl_bin) ||
        !s_find_binary("ipp-engine", "IPP_ENGINE", "engine", eng_bin, sizeof eng_bin))
        goto out;

    // The controller.
    char log[4200];
    snprintf(log, sizeof log, "%s/log/controller.log", dir);
    s_rotate(log);
    {
        char *av[20];
        int k = 0;
        av[k++] = ctl_bin;
        av[k++] = "--profile";
        av[k++] = (char *)cli->profile;
        const char *pairs[][2] = {{"--db", o.db},
                                  {"--durability", o.durability},
                                  {"--scheme", o.scheme},
                                  {"--hwm", o.hwm},
                                  {"--ip", o.ip}};
        for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
            if (pairs[i][1]) {
                av[k++] = (char *)pairs[i][0];
                av[k++] = (char *)pairs[i][1];
            }
        }
        av[k] = NULL;
        ctl = s_spawn(av, log);
    }
    if (ctl < 0)
        goto out;
    int64_t until = ipp_clock_mono_us() + (int64_t)(o.timeout * 1e6);
    for (;;) {
        int st = 0;
        if (s_reaped(ctl, &st)) {
            char how[64];
            s_describe_exit(st, how, sizeof how);
            cli_error("the controller %s at start", how);
            ctl = -1;
            rc = s_fail_start(dir, ctl, eng, n_eng, false);
            goto out;
        }
        if (s_conn_pid(dir, CONN_CLIENT) == ctl && s_conn_pid(dir, CONN_ENGINE) == ctl)
            break;
        if (ipp_clock_mono_us() >= until) {
            cli_error("the controller wrote no connection files within %.0f s", o.timeout);
            rc = s_fail_start(dir, ctl, eng, n_eng, false);
            goto out;
        }
        usleep(20000);
    }

    // The engines.
    eng = calloc((size_t)o.n, sizeof *eng);
    char **eav = calloc(4 + 2 * o.tags.n + 1, sizeof *eav);
    if (!eng || !eav) {
        free(eav);
        cli_error("out of memory");
        rc = s_fail_start(dir, ctl, eng, n_eng, false);
        goto out;
    }
    {
        size_t k = 0;
        eav[k++] = eng_bin;
        eav[k++] = "--profile";
        eav[k++] = (char *)cli->profile;
        for (size_t i = 0; i < o.tags.n; i++) {
            eav[k++] = "--tag";
            eav[k++] = o.tags.v[i];
        }
        eav[k] = NULL;
    }
    for (long i = 0; i < o.n; i++) {
        snprintf(log, sizeof log, "%s/log/engine-%ld.log", dir, i);
        s_rotate(log);
        pid_t p = s_spawn(eav, log);
        if (p < 0) {
            free(eav);
            rc = s_fail_start(dir, ctl, eng, n_eng, false);
            goto out;
        }
        eng[n_eng++] = p;
    }
    free(eav);
    if (!s_write_pids(pidpath, eng, n_eng)) {
        rc = s_fail_start(dir, ctl, eng, n_eng, false);
        goto out;
    }

    // Wait for the registrations, watching for a process that dies.
    cli_t here = *cli;
    here.connection = NULL;
    double left = (double)(until - ipp_clock_mono_us()) / 1e6;
    here.timeout = left > 1 ? left : 1;
    if (cli_connect(&here, &client) != CLI_OK) {
        rc = s_fail_start(dir, ctl, eng, n_eng, false);
        goto out;
    }
    for (;;) {
        if (ipp_client_wait_for_engines(client, (size_t)o.n, 0.2, &err) == IPP_OK)
            break;
        int st = 0;
        if (s_reaped(ctl, &st)) {
            char how[64];
            s_describe_exit(st, how, sizeof how);
            cli_error("the controller %s", how);
            ctl = -1;
            rc = s_fail_start(dir, ctl, eng, n_eng, true);
            goto out;
        }
        for (size_t i = 0; i < n_eng; i++) {
            if (s_reaped(eng[i], &st)) {
                char how[64];
                s_describe_exit(st, how, sizeof how);
                cli_error("engine %zu (pid %d) %s; its log: %s/log/engine-%zu.log", i, (int)eng[i],
                          how, dir, i);
                eng[i] = 0;
                rc = s_fail_start(dir, ctl, eng, n_eng, true);
                goto out;
            }
        }
        if (ipp_clock_mono_us() >= until) {
            cli_error("%s", err.msg);
            rc = s_fail_start(dir, ctl, eng, n_eng, true);
            goto out;
        }
    }
    int ids[S_MAX_ENGINES];
    size_t n_ids = ipp_client_ids(client, ids, S_MAX_ENGINES);
    printf("cluster '%s' started: controller pid %d, %zu engine%s (ids", cli->profile, (int)ctl,
           n_ids, n_ids == 1 ? "" : "s");
    for (size_t i = 0; i < n_ids && i < S_MAX_ENGINES; i++)
        printf("%s%d", i ? ", " : " ", ids[i]);
    printf("); logs in %s/log\n", dir);
    rc = CLI_OK;
out:
    ipp_client_destroy(&client);
    free(eng);
    cli_strv_fini(&o.tags);
    return rc;
}

// ------------------------------------------------------------ stop

static int s_stop(cli_t *cli, int argc, char **argv)
{
    enum { O_TIMEOUT = CLI_O_FIRST };
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS,
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {NULL, 0, NULL, 0},
    };
    double timeout = 15;
    int c;
    while ((c = cli_getopt(cli, &s_cmd, argc, argv, ":h", opts)) != -1) {
        switch (c) {
        case 'h':
            return cli_help(&s_cmd);
        case O_TIMEOUT:
            if (!cli_parse_double(optarg, 0, &timeout))
                return cli_usage_error(&s_cmd, "--timeout needs a number of seconds, not '%s'",
                                       optarg);
            break;
        default:
            return CLI_USAGE;
        }
    }
    if (optind < argc)
        return cli_usage_error(&s_cmd, "unexpected argument '%s'", argv[optind]);
    char dir[4096];
    if (!cli_profile_dir(cli, dir, sizeof dir))
        return CLI_USAGE;
    char pidpath[4200], ctlpath[4200];
    snprintf(pidpath, sizeof pidpath, "%s/%s", dir, S_ENGINES_PID);
    snprintf(ctlpath, sizeof ctlpath, "%s/%s", dir, S_CONTROLLER_PID);
    pid_t ctl = s_controller_pid(dir);
    if (!s_ours(ctl, "ipp-controller"))
        ctl = 0;
    pid_t eng[S_MAX_ENGINES];
    size_t n_eng = s_read_pids(pidpath, eng, S_MAX_ENGINES), n_alive = 0;
    for (size_t i = 0; i < n_eng; i++) {
        if (s_ours(eng[i], "ipp-engine"))
            n_alive++;
        else
            eng[i] = 0;
    }
    if (!ctl && !n_alive) {
        unlink(pidpath);
        cli_error("no cluster is running for profile '%s'", cli->profile);
        return CLI_UNREACHABLE;
    }
    // Ask nicely: the controller stops its engines and itself.
    bool asked = false;
    if (ctl) {
        cli_t here = *cli;
        here.connection = NULL;
        here.timeout = 5;
        ipp_client_t *client = NULL;
        ipp_error_t err;
        if (cli_connect(&here, &client) == CLI_OK) {
            asked = ipp_client_shutdown(client, NULL, 0, true, NULL, NULL, &err) == IPP_OK;
            if (!asked)
                cli_error("shutdown request: %s; stopping by signal", err.msg);
        }
        ipp_client_destroy(&client);
    }
    pid_t all[S_MAX_ENGINES + 1];
    size_t n_all = 0;
    for (size_t i = 0; i < n_eng; i++)
        if (eng[i] > 0)
            all[n_all++] = eng[i];
    if (ctl)
        all[n_all++] = ctl;
    int64_t until = ipp_clock_mono_us() + (int64_t)((asked ? timeout : 0) * 1e6);
    for (;;) {
        size_t left = 0;
        for (size_t i = 0; i < n_all; i++)
            left += s_alive(all[i]);
        if (!left || ipp_clock_mono_us() >= until)
            break;
        usleep(20000);
    }
    // Whatever is left: engines first, so the controller hears them go.
    int killed = s_terminate(eng, n_eng, false, "ipp-engine", 5);
    if (ctl) {
        pid_t one = ctl;
        killed += s_terminate(&one, 1, false, "ipp-controller", 5);
    }
    unlink(pidpath);
    pid_t left_ctl = s_controller_pid(dir);
    if (left_ctl && !s_alive(left_ctl))
        unlink(ctlpath);
    printf("cluster '%s' stopped:", cli->profile);
    if (ctl)
        printf(" controller pid %d,", (int)ctl);
    printf(" %zu engine%s", n_alive, n_alive == 1 ? "" : "s");
    if (killed)
        printf(" (%d killed with SIGKILL)", killed);
    printf("\n");
    return CLI_OK;
}

// ------------------------------------------------------------ status

static int s_status(cli_t *cli, int argc, char **argv)
{
    static const struct option opts[] = {CLI_COMMON_OPTIONS, {NULL, 0, NULL, 0}};
    int c;
    while ((c = cli_getopt(cli, &s_cmd, argc, argv, ":h", opts)) != -1) {
        if (c == 'h')
            return cli_help(&s_cmd);
        return CLI_USAGE;
    }
    if (optind < argc)
        return cli_usage_error(&s_cmd, "unexpected argument '%s'", argv[optind]);
    char dir[4096];
    if (!cli_profile_dir(cli, dir, sizeof dir))
        return CLI_USAGE;
    char pidpath[4200];
    snprintf(pidpath, sizeof pidpath, "%s/%s", dir, S_ENGINES_PID);
    pid_t eng[S_MAX_ENGINES];
    size_t n_eng = s_read_pids(pidpath, eng, S_MAX_ENGINES), n_alive = 0;
    for (size_t i = 0; i < n_eng; i++)
        n_alive += s_ours(eng[i], "ipp-engine");
    pid_t ctl = s_controller_pid(dir);
    printf("profile:    %s (%s)\n", cli->profile, dir);
    if (!s_alive(ctl)) {
        printf("controller: not running\n");
        if (n_eng)
            printf("engines:    %zu of %zu started by `ipp cluster start` still running\n", n_alive,
                   n_eng);
        return CLI_UNREACHABLE;
    }
    ipp_client_t *client = NULL;
    int rc = cli_connect(cli, &client);
    if (rc != CLI_OK) {
        printf("controller: pid %d, not answering\n", (int)ctl);
        return rc;
    }
    ipp_error_t err;
    ipp_queue_status_t qs;
    memset(&qs, 0, sizeof qs);
    if (ipp_client_refresh_engines(client, &err) != IPP_OK ||
        ipp_client_queue_status(client, NULL, 0, false, &qs, &err) != IPP_OK) {
        cli_error("%s", err.msg);
        ipp_client_destroy(&client);
        return CLI_UNREACHABLE;
    }
    printf("controller: running, pid %d\n", (int)ctl);
    ipp_engine_info_t info[S_MAX_ENGINES];
    size_t n = ipp_client_engines(client, info, S_MAX_ENGINES), reg = 0;
    for (size_t i = 0; i < n && i < S_MAX_ENGINES; i++)
        reg += info[i].alive;
    printf("engines:    %zu registered", reg);
    if (n_eng)
        printf(" (%zu of %zu started by `ipp cluster start` running)", n_alive, n_eng);
    printf("\n");
    if (n) {
        printf("  %-6s  %-8s  %-7s  %-20s  %6s  %7s  %9s\n", "ENGINE", "PID", "STATE", "HOST",
               "QUEUED", "RUNNING", "COMPLETED");
        for (size_t i = 0; i < n && i < S_MAX_ENGINES; i++) {
            const ipp_engine_queue_t *q = NULL;
            for (size_t k = 0; k < qs.n_engines && !q; k++)
                if (qs.engines[k].engine_id == info[i].id)
                    q = &qs.engines[k];
            printf("  %-6d  %-8d  %-7s  %-20.20s  %6d  %7d  %9lld\n", info[i].id, info[i].pid,
                   info[i].alive ? "up" : "gone", info[i].hostname ? info[i].hostname : "",
                   q ? q->queued : 0, q ? q->running : 0, q ? (long long)q->completed : 0LL);
        }
    }
    printf("unassigned: %d task%s waiting for an engine\n", qs.unassigned,
           qs.unassigned == 1 ? "" : "s");
    ipp_queue_status_fini(&qs);
    ipp_client_destroy(&client);
    return CLI_OK;
}

int cli_cmd_cluster(cli_t *cli, int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error(&s_cmd, "which: start, stop or status?");
    const char *what = argv[1];
    if (strcmp(what, "-h") == 0 || strcmp(what, "--help") == 0)
        return cli_help(&s_cmd);
    cli_getopt_reset();
    if (strcmp(what, "start") == 0)
        return s_start(cli, argc - 1, argv + 1);
    if (strcmp(what, "stop") == 0)
        return s_stop(cli, argc - 1, argv + 1);
    if (strcmp(what, "status") == 0)
        return s_status(cli, argc - 1, argv + 1);
    return cli_usage_error(&s_cmd, "unknown subcommand '%s' (start, stop, status)", what);
}
