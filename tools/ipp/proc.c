/* proc.c — processes of `ipp cluster`: finding binaries, starting them
 * detached, running a helper program and reading its output, checking and
 * stopping pids (see proc.h). Owns nothing between calls.
 */
#include "tools/ipp/proc.h"

#include "proto/clock.h"
#include "tools/ipp/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

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

// proc_alive: pid runs (exists and is not a zombie).
bool proc_alive(pid_t pid)
{
    if (pid <= 0)
        return false;
    if (kill(pid, 0) != 0 && errno != EPERM)
        return false;
    return !s_is_zombie(pid);
}

// proc_is_ipp: pid runs a program whose command line names `what`
// ("ipp-engine", "ipp-controller") — so a recycled pid is not ours.
bool proc_is_ipp(pid_t pid, const char *what)
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

// proc_ours: pid is alive and an ipp `what`.
bool proc_ours(pid_t pid, const char *what)
{
    return proc_alive(pid) && proc_is_ipp(pid, what);
}

// proc_read_pids: the pids in path, one per line, into pids (up to max);
// returns how many (0 when there is no file).
size_t proc_read_pids(const char *path, pid_t *pids, size_t max)
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

// proc_write_pids: write pids, one per line, to path (temporary file, then
// rename). false (message printed) on failure.
bool proc_write_pids(const char *path, const pid_t *pids, size_t n)
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

// proc_executable: path names an executable regular file.
bool proc_executable(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

// proc_find_binary: where program `name` is (see the usage text) into out.
// false (message printed) when it is nowhere.
bool proc_find_binary(const char *name, const char *env, const char *build_sub, char *out,
                      size_t size)
{
    const char *e = getenv(env);
    if (e && *e) {
        if (!proc_executable(e)) {
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
            if (snprintf(out, size, "%s/%s", self, name) < (int)size && proc_executable(out))
                return true;
            // Build tree: BUILD/tools/ipp/ipp, BUILD/hub/ipp-controller.
            if (snprintf(out, size, "%s/../../%s/%s", self, build_sub, name) < (int)size &&
                proc_executable(out)) {
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
                proc_executable(out)) {
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

// proc_close_from: close every descriptor >= lowfd (in a child before exec).
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

// proc_spawn: start argv detached — new session, stdin /dev/null, stdout
// and stderr appended to log, no other descriptors. Returns the pid, or
// -1 (message printed) if it could not be started; an exec failure is
// reported here, not discovered later.
pid_t proc_spawn(char *const *argv, char *const *envp, const char *log)
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
            if (envp)
                execve(argv[0], argv, envp);
            else
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

// proc_reaped: our child pid has exited (reaps it); false while it runs.
bool proc_reaped(pid_t pid, int *status)
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

// proc_describe_exit: "exited with status N" / "was killed by signal N".
void proc_describe_exit(int st, char *buf, size_t size)
{
    if (WIFEXITED(st))
        snprintf(buf, size, "exited with status %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(buf, size, "was killed by signal %d", WTERMSIG(st));
    else
        snprintf(buf, size, "stopped");
}

// proc_tail: print the last `lines` lines of path to stderr under a header.
void proc_tail(const char *path, int lines)
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

// proc_terminate: stop pids (children of ours when `children`, else anyone's
// that are still `what`): SIGTERM, wait up to grace seconds, SIGKILL, wait.
// Returns how many needed SIGKILL.
int proc_terminate(pid_t *pids, size_t n, bool children, const char *what, double grace)
{
    for (size_t i = 0; i < n; i++)
        if (pids[i] > 0 && (children || proc_ours(pids[i], what)))
            kill(pids[i], SIGTERM);
    int killed = 0;
    for (int round = 0; round < 2; round++) {
        int64_t until = ipp_clock_mono_us() + (int64_t)((round ? 2.0 : grace) * 1e6);
        for (;;) {
            size_t left = 0;
            for (size_t i = 0; i < n; i++) {
                if (pids[i] <= 0)
                    continue;
                if (children ? proc_reaped(pids[i], NULL) : !proc_alive(pids[i]))
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
                if (pids[i] > 0 && (children || proc_is_ipp(pids[i], what))) {
                    kill(pids[i], SIGKILL);
                    killed++;
                }
            }
        }
    }
    return killed;
}

int proc_run(char *const *argv, const char *input, double timeout, char *out, size_t out_size,
             int *status)
{
    if (out_size)
        out[0] = '\0';
    int in[2] = {-1, -1}, op[2] = {-1, -1};
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(op, O_CLOEXEC) != 0) {
        snprintf(out, out_size, "pipe: %s", strerror(errno));
        if (in[0] >= 0) {
            close(in[0]);
            close(in[1]);
        }
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(out, out_size, "fork: %s", strerror(errno));
        close(in[0]);
        close(in[1]);
        close(op[0]);
        close(op[1]);
        return -1;
    }
    if (pid == 0) {
        setpgid(0, 0);
        if (dup2(in[0], 0) < 0 || dup2(op[1], 1) < 0 || dup2(op[1], 2) < 0)
            _exit(127);
        s_close_from(3);
        execvp(argv[0], argv);
        static const char msg[] = "cannot run the program\n";
        ssize_t w = write(2, msg, sizeof msg - 1);
        (void)w;
        _exit(127);
    }
    close(in[0]);
    close(op[1]);
    if (input) {
        size_t len = strlen(input), off = 0;
        while (off < len) {
            ssize_t w = write(in[1], input + off, len - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                break;
            off += (size_t)w;
        }
    }
    close(in[1]);
    size_t got = 0;
    int64_t until = ipp_clock_mono_us() + (int64_t)(timeout * 1e6);
    bool timed_out = false;
    for (;;) {
        int64_t left = until - ipp_clock_mono_us();
        if (left <= 0) {
            timed_out = true;
            break;
        }
        struct pollfd pf = {op[0], POLLIN, 0};
        int r = poll(&pf, 1, (int)(left / 1000) + 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            continue;
        char buf[4096];
        ssize_t n = read(op[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n && got + 1 < out_size; i++)
            out[got++] = buf[i];
        if (out_size)
            out[got] = '\0';
    }
    close(op[0]);
    if (timed_out) {
        kill(-pid, SIGKILL);
        kill(pid, SIGKILL);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    if (status)
        *status = st;
    if (timed_out) {
        snprintf(out + got, out_size > got ? out_size - got : 0, "%s(no answer within %.0f s)",
                 got && out[got - 1] != '\n' ? "\n" : "", timeout);
        return -1;
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

bool proc_on_path(const char *name, char *out, size_t size)
{
    if (strchr(name, '/')) {
        snprintf(out, size, "%s", name);
        return proc_executable(out);
    }
    const char *path = getenv("PATH");
    char *copy = path ? strdup(path) : NULL;
    char *save = NULL;
    for (char *dir = copy ? strtok_r(copy, ":", &save) : NULL; dir;
         dir = strtok_r(NULL, ":", &save)) {
        if (snprintf(out, size, "%s/%s", *dir ? dir : ".", name) < (int)size &&
            proc_executable(out)) {
            free(copy);
            return true;
        }
    }
    free(copy);
    return false;
}

void proc_kill_group(pid_t pgid, double grace)
{
    if (pgid <= 1)
        return;
    kill(-pgid, SIGTERM);
    int64_t until = ipp_clock_mono_us() + (int64_t)(grace * 1e6);
    while (ipp_clock_mono_us() < until) {
        if (kill(-pgid, 0) != 0 && errno == ESRCH)
            return;
        proc_reaped(pgid, NULL);
        usleep(20000);
    }
    kill(-pgid, SIGKILL);
    for (int i = 0; i < 100; i++) {
        proc_reaped(pgid, NULL);
        if (kill(-pgid, 0) != 0 && errno == ESRCH)
            return;
        usleep(20000);
    }
}
