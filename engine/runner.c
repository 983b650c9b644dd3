/* runner.c — eng_runner_t: one command in a child process, non-blocking.
 *
 * Owns the child (until reaped), its process group's fate, the parent ends
 * of its pipes, a pidfd that turns readable when it exits, and the captured
 * output. Everything the child needs is prepared before fork(); between
 * fork and exec the child calls only async-signal-safe functions, so the
 * engine may have threads. A failure to exec is reported through a
 * close-on-exec pipe as (stage, errno), so it is never confused with a
 * program that exits 127. Must never block the engine's loop (except in
 * eng_runner_wait and when destroying a running child), never leave a
 * zombie, and never leak an fd into the child or past destroy.
 */
#include "engine/runner.h"

#include "engine/capture.h"
#include "proto/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

extern char **environ;

// Where the child failed before its program ran.
enum {
    S_STAGE_NONE = 0,
    S_STAGE_SETUP = 1,  // setpgid, the guard, or dup2 of the stdio fds
    S_STAGE_CHDIR = 2,  // chdir to the requested cwd
    S_STAGE_EXEC = 3,   // execve of every candidate
};

// What a child that could not exec writes to the report pipe.
typedef struct s_report_t {
    int stage;  // S_STAGE_*
    int err;    // errno at that stage
} s_report_t;

// Largest stdin write at once, and most reads per stream per poll (so a
// chatty child cannot hold the loop).
#define S_WRITE_CHUNK ((size_t)64 * 1024)
#define S_READS_PER_POLL 16
// Without a pidfd, how often to look for the child's exit.
#define S_REAP_TICK_US ((int64_t)10000)

struct eng_runner_t {
    const ipp_logger_t *lg;  // borrowed, may be NULL
    pid_t pid;               // child and its process group; 0 once reaped
    int pidfd;               // readable when the child exits; -1 if none
    int in_fd;               // our end of its stdin; -1 when closed
    int out_fd;              // our end of its stdout; -1 at EOF
    int err_fd;              // our end of its stderr; -1 at EOF
    int report_fd;           // exec-failure report pipe; -1 when read
    char *in_data;           // stdin bytes, owned
    size_t in_len;           // their length
    size_t in_off;           // bytes written so far
    eng_capture_t out;       // captured stdout
    eng_capture_t err;       // captured stderr
    char *what;              // program (or "/bin/sh") for messages, owned
    char *cwd;               // requested cwd for messages, owned, may be NULL
    bool searched;           // the program was looked up on PATH
    bool keep_strays;        // leave the group's leftovers alone at exit
    eng_guard_t *guard;      // borrowed; NULL = unguarded
    bool guarded;            // a guard slot is held for this child's group
    int64_t wall_limit_us;   // 0 = none
    int64_t kill_grace_us;   // SIGTERM → SIGKILL
    int64_t drain_grace_us;  // output drain after exit
    int64_t wall_deadline;   // monotonic µs; 0 = none
    int64_t kill_deadline;   // monotonic µs; 0 = none
    int64_t drain_deadline;  // monotonic µs, set at exit
    bool exited;             // child reaped
    bool status_lost;        // reaped by someone else (SIGCHLD ignored)
    int wstatus;             // waitpid status once exited
    bool timed_out;          // the wall limit fired
    bool aborted;            // eng_runner_abort before it exited
    bool kill_sent;          // SIGKILL already sent to the group
    s_report_t report;       // exec failure, stage 0 when none
    bool done;               // result final
    eng_result_t result;     // the outcome
};

// Everything the child needs, built before fork.
typedef struct s_plan_t {
    char **argv;       // NULL-terminated; strings borrowed from the command
    char **envp;       // NULL-terminated; strings from environ or env_owned
    char **env_owned;  // "NAME=VALUE" strings we allocated
    size_t nowned;     // how many
    char **cands;      // NULL-terminated paths to try, owned
    char **shargv;     // ENOEXEC fallback: /bin/sh CAND argv[1..], NULL
    const char *cwd;   // borrowed
    pid_t parent;      // the engine's pid, to check the death signal against
    int guard_fd;      // where the child registers its group; -1 = none
} s_plan_t;

// ----------------------------------------------------------- small helpers

static void s_close(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

// s_high: move fd to 3 or above (stdio slots are the child's), close-on-exec.
static int s_high(int fd)
{
    if (fd < 0 || fd > 2)
        return fd;
    int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    int saved = errno;
    close(fd);
    errno = saved;
    return moved;
}

static int s_pipe(int p[2])
{
    p[0] = p[1] = -1;
    if (pipe2(p, O_CLOEXEC) != 0)
        return -1;
    p[0] = s_high(p[0]);
    p[1] = s_high(p[1]);
    if (p[0] < 0 || p[1] < 0) {
        int saved = errno;
        s_close(&p[0]);
        s_close(&p[1]);
        errno = saved;
        return -1;
    }
    return 0;
}

static void s_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static const char *s_signame(int sig)
{
    static const char *const names[] = {
        [SIGHUP] = "SIGHUP",       [SIGINT] = "SIGINT",   [SIGQUIT] = "SIGQUIT",
        [SIGILL] = "SIGILL",       [SIGTRAP] = "SIGTRAP", [SIGABRT] = "SIGABRT",
        [SIGBUS] = "SIGBUS",       [SIGFPE] = "SIGFPE",   [SIGKILL] = "SIGKILL",
        [SIGUSR1] = "SIGUSR1",     [SIGSEGV] = "SIGSEGV", [SIGUSR2] = "SIGUSR2",
        [SIGPIPE] = "SIGPIPE",     [SIGALRM] = "SIGALRM", [SIGTERM] = "SIGTERM",
        [SIGCHLD] = "SIGCHLD",     [SIGCONT] = "SIGCONT", [SIGSTOP] = "SIGSTOP",
        [SIGTSTP] = "SIGTSTP",     [SIGTTIN] = "SIGTTIN", [SIGTTOU] = "SIGTTOU",
        [SIGURG] = "SIGURG",       [SIGXCPU] = "SIGXCPU", [SIGXFSZ] = "SIGXFSZ",
        [SIGVTALRM] = "SIGVTALRM", [SIGPROF] = "SIGPROF", [SIGWINCH] = "SIGWINCH",
        [SIGIO] = "SIGIO",         [SIGPWR] = "SIGPWR",   [SIGSYS] = "SIGSYS",
    };
    if (sig > 0 && (size_t)sig < sizeof names / sizeof names[0] && names[sig])
        return names[sig];
    if (sig >= SIGRTMIN && sig <= SIGRTMAX)
        return "SIGRT";
    return "unknown signal";
}

// s_kill_group: signal the child's process group, and the child itself in
// case it left the group.
static void s_kill_group(const eng_runner_t *self, int sig)
{
    if (self->pid <= 0)
        return;
    kill(-self->pid, sig);
    kill(self->pid, sig);
}

// s_unguard: the group needs no guard any more (it was killed, or is
// about to be reaped with nothing left in it); before the reap, so its id
// cannot have been reused by then.
static void s_unguard(eng_runner_t *self, pid_t group)
{
    if (!self->guarded)
        return;
    eng_guard_release(self->guard, group);
    self->guarded = false;
}

// s_write_nosigpipe: write() that never raises SIGPIPE in this process:
// SIGPIPE is blocked for this thread around the call and one it caused is
// consumed before unblocking.
static ssize_t s_write_nosigpipe(int fd, const void *buf, size_t n)
{
    sigset_t pipe_set, old, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigemptyset(&pending);
    sigpending(&pending);
    bool was_pending = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    ssize_t got = write(fd, buf, n);
    int saved = errno;
    if (got < 0 && saved == EPIPE && !was_pending) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = saved;
    return got;
}

// ----------------------------------------------------------------- plan

static void s_plan_free(s_plan_t *plan)
{
    free(plan->argv);
    free(plan->envp);
    for (size_t i = 0; i < plan->nowned; i++)
        free(plan->env_owned[i]);
    free(plan->env_owned);
    if (plan->cands)
        for (char **c = plan->cands; *c; c++)
            free(*c);
    free(plan->cands);
    free(plan->shargv);
    memset(plan, 0, sizeof *plan);
}

// s_env_overridden: whether entry ("NAME=VALUE") is replaced by an addition.
static bool s_env_overridden(const char *entry, const eng_command_t *cmd)
{
    const char *eq = strchr(entry, '=');
    size_t nlen = eq ? (size_t)(eq - entry) : strlen(entry);
    for (size_t i = 0; i < cmd->nenv; i++)
        if (strlen(cmd->env[i].name) == nlen && strncmp(cmd->env[i].name, entry, nlen) == 0)
            return true;
    return false;
}

// s_build_env: envp = environ minus overridden names, plus the additions
// (the last addition of a name wins). Returns -1 when out of memory.
static int s_build_env(s_plan_t *plan, const eng_command_t *cmd)
{
    size_t nenviron = 0;
    while (environ && environ[nenviron])
        nenviron++;
    plan->envp = calloc(nenviron + cmd->nenv + 1, sizeof *plan->envp);
    plan->env_owned = calloc(cmd->nenv + 1, sizeof *plan->env_owned);
    if (!plan->envp || !plan->env_owned)
        return -1;
    size_t n = 0;
    for (size_t i = 0; i < nenviron; i++)
        if (!s_env_overridden(environ[i], cmd))
            plan->envp[n++] = environ[i];
    for (size_t i = 0; i < cmd->nenv; i++) {
        bool later = false;
        for (size_t j = i + 1; j < cmd->nenv; j++)
            later = later || strcmp(cmd->env[i].name, cmd->env[j].name) == 0;
        if (later || !cmd->env[i].value)
            continue;
        char *entry = NULL;
        if (asprintf(&entry, "%s=%s", cmd->env[i].name, cmd->env[i].value) < 0)
            return -1;
        plan->env_owned[plan->nowned++] = entry;
        plan->envp[n++] = entry;
    }
    plan->envp[n] = NULL;
    return 0;
}

// s_search_path: the PATH the child will see.
static const char *s_search_path(const eng_command_t *cmd)
{
    for (size_t i = cmd->nenv; i-- > 0;)
        if (strcmp(cmd->env[i].name, "PATH") == 0)
            return cmd->env[i].value ? cmd->env[i].value : "/usr/local/bin:/usr/bin:/bin";
    const char *path = getenv("PATH");
    return path ? path : "/usr/local/bin:/usr/bin:/bin";
}

// s_build_cands: the paths execve will try, as execvp would.
static int s_build_cands(s_plan_t *plan, const char *program, const char *path, bool *searched)
{
    *searched = strchr(program, '/') == NULL;
    size_t n = 1;
    if (*searched)
        for (const char *p = path; *p; p++)
            n += *p == ':';
    plan->cands = calloc(n + 1, sizeof *plan->cands);
    if (!plan->cands)
        return -1;
    if (!*searched) {
        plan->cands[0] = strdup(program);
        return plan->cands[0] ? 0 : -1;
    }
    size_t k = 0;
    const char *p = path;
    for (;;) {
        const char *colon = strchr(p, ':');
        int dlen = (int)(colon ? (size_t)(colon - p) : strlen(p));
        // an empty entry means the current directory, as in execvp
        if (asprintf(&plan->cands[k], "%.*s/%s", dlen ? dlen : 1, dlen ? p : ".", program) < 0) {
            plan->cands[k] = NULL;
            return -1;
        }
        k++;
        if (!colon)
            break;
        p = colon + 1;
    }
    return 0;
}

// s_build_plan: argv, envp and candidates for cmd. Returns -1 when out of
// memory.
static int s_build_plan(s_plan_t *plan, const eng_command_t *cmd, bool *searched)
{
    memset(plan, 0, sizeof *plan);
    plan->cwd = cmd->cwd;
    size_t argc = cmd->argc;
    if (cmd->shell) {
        plan->argv = calloc(argc + 4, sizeof *plan->argv);
        if (!plan->argv)
            return -1;
        plan->argv[0] = (char *)"sh";
        plan->argv[1] = (char *)"-c";
        plan->argv[2] = (char *)cmd->shell;
        for (size_t i = 0; i < argc; i++)
            plan->argv[3 + i] = (char *)cmd->argv[i];
        if (s_build_cands(plan, "/bin/sh", "", searched) != 0)
            return -1;
    } else {
        plan->argv = calloc(argc + 1, sizeof *plan->argv);
        plan->shargv = calloc(argc + 2, sizeof *plan->shargv);
        if (!plan->argv || !plan->shargv)
            return -1;
        for (size_t i = 0; i < argc; i++)
            plan->argv[i] = (char *)cmd->argv[i];
        plan->shargv[0] = (char *)"/bin/sh";
        for (size_t i = 1; i < argc; i++)
            plan->shargv[1 + i] = (char *)cmd->argv[i];
        if (s_build_cands(plan, cmd->argv[0], s_search_path(cmd), searched) != 0)
            return -1;
    }
    return s_build_env(plan, cmd);
}

// ---------------------------------------------------------------- child

__attribute__((noreturn)) static void s_child_fail(int report_fd, int stage, int err)
{
    s_report_t rep = {.stage = stage, .err = err};
    ssize_t rc = write(report_fd, &rep, sizeof rep);
    (void)rc;
    _exit(127);
}

// s_child: runs in the forked child; async-signal-safe calls only.
__attribute__((noreturn)) static void s_child(s_plan_t *plan, int in_fd, int out_fd, int err_fd,
                                              int report_fd, const sigset_t *unblocked)
{
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            sigaction(sig, &dfl, NULL);
    // Until the guard knows our group, the death signal covers the engine
    // dying; the engine may have died before the prctl, hence the check.
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
        s_child_fail(report_fd, S_STAGE_SETUP, errno);
    if (getppid() != plan->parent)
        _exit(127);
    if (setpgid(0, 0) != 0)
        s_child_fail(report_fd, S_STAGE_SETUP, errno);
    if (plan->guard_fd >= 0) {
        int32_t group = (int32_t)getpid();
        if (send(plan->guard_fd, &group, sizeof group, MSG_NOSIGNAL) != (ssize_t)sizeof group)
            s_child_fail(report_fd, S_STAGE_SETUP, errno);
    }
    if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
        s_child_fail(report_fd, S_STAGE_SETUP, errno);
    if (plan->cwd && chdir(plan->cwd) != 0)
        s_child_fail(report_fd, S_STAGE_CHDIR, errno);
    // whatever the engine left inheritable does not reach the program
    syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
    sigprocmask(SIG_SETMASK, unblocked, NULL);

    int err = ENOENT;
    bool eacces = false;
    for (char **c = plan->cands; *c; c++) {
        execve(*c, plan->argv, plan->envp);
        err = errno;
        if (err == ENOEXEC && plan->shargv) {
            plan->shargv[1] = *c;
            execve("/bin/sh", plan->shargv, plan->envp);
            err = errno;
        }
        if (err == EACCES)
            eacces = true;
        else if (err != ENOENT && err != ENOTDIR && err != ESTALE && err != ENAMETOOLONG &&
                 err != ELOOP && err != ENODEV && err != ETIMEDOUT)
            break;
    }
    if (eacces && (err == ENOENT || err == ENOTDIR))
        err = EACCES;
    s_child_fail(report_fd, S_STAGE_EXEC, err);
}

// ---------------------------------------------------------------- result

// s_finish_now: end a runner that never ran with an error result.
__attribute__((format(printf, 3, 4))) static void
s_finish_now(eng_runner_t *self, const char *ename, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (!self->result.started)
        self->result.started = ipp_clock_now_us();
    eng_result_set_error(&self->result, ENG_STATUS_ERROR, ename, "%s", text);
    self->result.completed = ipp_clock_now_us();
    self->done = true;
}

static void s_set_exec_error(eng_runner_t *self)
{
    eng_result_t *res = &self->result;
    int e = self->report.err;
    switch (self->report.stage) {
    case S_STAGE_CHDIR:
        eng_result_set_error(res, ENG_STATUS_ERROR, "ExecError",
                             "cannot change to working directory '%s': %s",
                             self->cwd ? self->cwd : "", strerror(e));
        break;
    case S_STAGE_EXEC:
        if ((e == ENOENT || e == ENOTDIR) && self->searched)
            eng_result_set_error(res, ENG_STATUS_ERROR, "CommandNotFound",
                                 "program '%s' not found on PATH: %s", self->what, strerror(e));
        else if (e == ENOENT || e == ENOTDIR)
            eng_result_set_error(res, ENG_STATUS_ERROR, "CommandNotFound",
                                 "program '%s' not found: %s", self->what, strerror(e));
        else
            eng_result_set_error(res, ENG_STATUS_ERROR, "ExecError", "cannot execute '%s': %s",
                                 self->what, strerror(e));
        break;
    default:
        eng_result_set_error(res, ENG_STATUS_ERROR, "ExecError",
                             "cannot set up the process for '%s': %s", self->what, strerror(e));
        break;
    }
}

// s_describe_end: "exited with status N" / "killed by signal N (SIGX)".
static void s_describe_end(const eng_runner_t *self, char *buf, size_t size)
{
    if (WIFSIGNALED(self->wstatus)) {
        int sig = WTERMSIG(self->wstatus);
        snprintf(buf, size, "killed by signal %d (%s)", sig, s_signame(sig));
    } else {
        snprintf(buf, size, "exited with status %d", WEXITSTATUS(self->wstatus));
    }
}

static void s_finish(eng_runner_t *self)
{
    s_close(&self->in_fd);
    s_close(&self->out_fd);
    s_close(&self->err_fd);
    s_close(&self->report_fd);
    s_close(&self->pidfd);
    eng_result_t *res = &self->result;
    if (eng_capture_finish(&self->out, &res->stdout_data, &res->stdout_truncated) != IPP_OK ||
        eng_capture_finish(&self->err, &res->stderr_data, &res->stderr_truncated) != IPP_OK)
        IPP_LOGW(self->lg, "command %s: no memory for the truncation marker", self->what);
    res->completed = ipp_clock_now_us();
    self->done = true;

    if (self->report.stage != S_STAGE_NONE) {
        s_set_exec_error(self);
        return;
    }
    if (self->status_lost) {
        eng_result_set_error(res, ENG_STATUS_ERROR, "CommandFailed",
                             "command '%s' ended but its exit status was lost "
                             "(is SIGCHLD ignored?)",
                             self->what);
        return;
    }
    if (WIFSIGNALED(self->wstatus))
        res->term_signal = WTERMSIG(self->wstatus);
    else
        res->exit_status = WEXITSTATUS(self->wstatus);
    char how[64];
    s_describe_end(self, how, sizeof how);
    if (self->aborted) {
        eng_result_set_error(res, ENG_STATUS_ABORTED, "TaskAborted", "command aborted (%s)", how);
    } else if (self->timed_out) {
        eng_result_set_error(res, ENG_STATUS_ERROR, "WallTimeExceeded",
                             "command exceeded its wall-time limit of %g s and was "
                             "stopped (%s)",
                             (double)self->wall_limit_us / 1e6, how);
    } else if (WIFSIGNALED(self->wstatus)) {
        eng_result_set_error(res, ENG_STATUS_ERROR, "CommandKilled", "command %s", how);
    } else if (res->exit_status != 0) {
        eng_result_set_error(res, ENG_STATUS_ERROR, "CommandFailed", "command %s", how);
    }
}

// ------------------------------------------------------------- lifecycle

static bool s_command_ok(eng_runner_t *self, const eng_command_t *cmd)
{
    if (!cmd) {
        s_finish_now(self, "InvalidCommand", "no command given");
        return false;
    }
    if (cmd->argc && !cmd->argv) {
        s_finish_now(self, "InvalidCommand", "argv missing");
        return false;
    }
    for (size_t i = 0; i < cmd->argc; i++) {
        if (!cmd->argv[i]) {
            s_finish_now(self, "InvalidCommand", "argv[%zu] is missing", i);
            return false;
        }
    }
    if (!cmd->shell && (!cmd->argc || !*cmd->argv[0])) {
        s_finish_now(self, "InvalidCommand", "command has neither argv nor a shell string");
        return false;
    }
    if (cmd->nenv && !cmd->env) {
        s_finish_now(self, "InvalidCommand", "environment additions missing");
        return false;
    }
    for (size_t i = 0; i < cmd->nenv; i++) {
        const char *name = cmd->env[i].name;
        if (!name || !*name || strchr(name, '=')) {
            s_finish_now(self, "InvalidCommand", "bad environment variable name '%s'",
                         name ? name : "(null)");
            return false;
        }
    }
    if (cmd->wall_limit_us < 0 || cmd->kill_grace_us < 0 || cmd->drain_grace_us < 0) {
        s_finish_now(self, "InvalidCommand", "negative time limit");
        return false;
    }
    return true;
}

// s_spawn: pipes, fork, exec. Returns -1 only when out of memory; other
// failures finish the runner with an ExecError.
static int s_spawn(eng_runner_t *self, const eng_command_t *cmd)
{
    int rc = -1;
    s_plan_t plan;
    int in_pipe[2] = {-1, -1}, out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1};
    int rep_pipe[2] = {-1, -1};
    int devnull = -1;
    const char *step = "pipe";

    if (s_build_plan(&plan, cmd, &self->searched) != 0)
        goto out;
    rc = 0;
    if (s_pipe(out_pipe) != 0 || s_pipe(err_pipe) != 0 || s_pipe(rep_pipe) != 0)
        goto fail;
    if (cmd->stdin_data) {
        if (s_pipe(in_pipe) != 0)
            goto fail;
    } else {
        step = "open /dev/null";
        devnull = s_high(open("/dev/null", O_RDONLY | O_CLOEXEC));
        if (devnull < 0)
            goto fail;
    }
    s_nonblock(out_pipe[0]);
    s_nonblock(err_pipe[0]);
    s_nonblock(rep_pipe[0]);
    if (in_pipe[1] >= 0)
        s_nonblock(in_pipe[1]);
    plan.parent = getpid();
    plan.guard_fd = -1;
    if (self->guard) {
        ipp_error_t gerr;
        if (eng_guard_hold(self->guard, &gerr) != IPP_OK) {
            s_finish_now(self, "ExecError", "cannot start '%s': %s", self->what, gerr.msg);
            goto out;
        }
        self->guarded = true;
        plan.guard_fd = eng_guard_fd(self->guard);
    }

    // no signal handler of the engine may run in the child before exec
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    self->result.started = ipp_clock_now_us();
    int64_t start_mono = ipp_clock_mono_us();
    pid_t pid = fork();
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        s_child(&plan, devnull >= 0 ? devnull : in_pipe[0], out_pipe[1], err_pipe[1], rep_pipe[1],
                &none);
    }
    int fork_errno = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (pid < 0) {
        s_unguard(self, 0);
        errno = fork_errno;
        step = "fork";
        goto fail;
    }
    // both sides set the group, so it exists whichever runs first
    setpgid(pid, pid);
    self->pid = pid;
    if (!cmd->poll_for_exit) {
        self->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
        if (self->pidfd >= 0)
            self->pidfd = s_high(self->pidfd);
        else
            IPP_LOGD(self->lg, "pidfd_open: %s; polling for the child's exit", strerror(errno));
    }
    self->out_fd = out_pipe[0];
    self->err_fd = err_pipe[0];
    self->report_fd = rep_pipe[0];
    self->in_fd = in_pipe[1];
    out_pipe[0] = err_pipe[0] = rep_pipe[0] = in_pipe[1] = -1;
    if (self->in_fd >= 0 && self->in_len == 0)
        s_close(&self->in_fd);
    if (self->wall_limit_us > 0)
        self->wall_deadline = start_mono + self->wall_limit_us;
    IPP_LOGD(self->lg, "command %s started as pid %ld", self->what, (long)pid);
    goto out;
fail:
    s_finish_now(self, "ExecError", "cannot start '%s': %s: %s", self->what, step, strerror(errno));
out:
    s_close(&in_pipe[0]);
    s_close(&in_pipe[1]);
    s_close(&out_pipe[0]);
    s_close(&out_pipe[1]);
    s_close(&err_pipe[0]);
    s_close(&err_pipe[1]);
    s_close(&rep_pipe[0]);
    s_close(&rep_pipe[1]);
    s_close(&devnull);
    s_plan_free(&plan);
    return rc;
}

eng_runner_t *eng_runner_new(const eng_command_t *cmd, const ipp_logger_t *lg)
{
    eng_runner_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->lg = lg;
    self->pidfd = self->in_fd = self->out_fd = self->err_fd = self->report_fd = -1;
    eng_result_init(&self->result);
    eng_capture_init(&self->out, cmd ? cmd->stdout_limit : 0);
    eng_capture_init(&self->err, cmd ? cmd->stderr_limit : 0);
    if (!s_command_ok(self, cmd))
        return self;

    self->what = strdup(cmd->shell ? "/bin/sh" : cmd->argv[0]);
    self->cwd = cmd->cwd ? strdup(cmd->cwd) : NULL;
    if (!self->what || (cmd->cwd && !self->cwd))
        goto nomem;
    if (cmd->stdin_data && cmd->stdin_len) {
        self->in_data = malloc(cmd->stdin_len);
        if (!self->in_data)
            goto nomem;
        memcpy(self->in_data, cmd->stdin_data, cmd->stdin_len);
        self->in_len = cmd->stdin_len;
    }
    self->keep_strays = cmd->keep_strays;
    self->guard = cmd->guard;
    self->wall_limit_us = cmd->wall_limit_us;
    self->kill_grace_us = cmd->kill_grace_us ? cmd->kill_grace_us : ENG_RUNNER_KILL_GRACE_US;
    self->drain_grace_us = cmd->drain_grace_us ? cmd->drain_grace_us : ENG_RUNNER_DRAIN_GRACE_US;
    if (s_spawn(self, cmd) != 0)
        goto nomem;
    return self;
nomem:
    eng_runner_destroy(&self);
    return NULL;
}

void eng_runner_destroy(eng_runner_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    eng_runner_t *self = *self_p;
    if (self->pid > 0) {
        s_kill_group(self, SIGKILL);
        s_unguard(self, self->pid);
        while (waitpid(self->pid, NULL, 0) < 0 && errno == EINTR)
            ;
        self->pid = 0;
    }
    s_close(&self->in_fd);
    s_close(&self->out_fd);
    s_close(&self->err_fd);
    s_close(&self->report_fd);
    s_close(&self->pidfd);
    eng_capture_fini(&self->out);
    eng_capture_fini(&self->err);
    eng_result_fini(&self->result);
    free(self->in_data);
    free(self->what);
    free(self->cwd);
    free(self);
    *self_p = NULL;
}

// ---------------------------------------------------------------- stepping

static void s_feed_stdin(eng_runner_t *self)
{
    while (self->in_fd >= 0 && self->in_off < self->in_len) {
        size_t left = self->in_len - self->in_off;
        ssize_t n = s_write_nosigpipe(self->in_fd, self->in_data + self->in_off,
                                      left < S_WRITE_CHUNK ? left : S_WRITE_CHUNK);
        if (n > 0) {
            self->in_off += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && errno == EAGAIN) {
            return;
        } else {
            // EPIPE: the command stopped reading; not an error of ours
            IPP_LOGD(self->lg, "command %s: stdin closed after %zu of %zu bytes: %s", self->what,
                     self->in_off, self->in_len, strerror(errno));
            s_close(&self->in_fd);
            return;
        }
    }
    if (self->in_fd >= 0 && self->in_off >= self->in_len)
        s_close(&self->in_fd);
}

static void s_drain(eng_runner_t *self, int *fd, eng_capture_t *cap)
{
    for (int i = 0; *fd >= 0 && i < S_READS_PER_POLL; i++) {
        ssize_t n = eng_capture_read_fd(cap, *fd);
        if (n > 0)
            continue;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n < 0)
            IPP_LOGW(self->lg, "command %s: reading output: %s", self->what, strerror(errno));
        s_close(fd);
    }
}

static void s_read_report(eng_runner_t *self)
{
    s_report_t rep;
    ssize_t n;
    do
        n = read(self->report_fd, &rep, sizeof rep);
    while (n < 0 && errno == EINTR);
    if (n == (ssize_t)sizeof rep && rep.stage != S_STAGE_NONE)
        self->report = rep;
    s_close(&self->report_fd);
}

// s_check_exit: reap the child if it has ended; first, while its pid still
// reserves the group id, kill what it left behind.
static void s_check_exit(eng_runner_t *self)
{
    siginfo_t si;
    memset(&si, 0, sizeof si);
    if (waitid(P_PID, (id_t)self->pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0) {
        if (errno == EINTR)
            return;
        IPP_LOGW(self->lg, "command %s: waitid: %s", self->what, strerror(errno));
        self->status_lost = true;
        s_unguard(self, self->pid);
    } else if (si.si_pid == 0) {
        return;
    } else {
        if (!self->keep_strays || self->timed_out || self->aborted)
            kill(-self->pid, SIGKILL);
        s_unguard(self, self->pid);
        int st = 0;
        pid_t got;
        while ((got = waitpid(self->pid, &st, 0)) < 0 && errno == EINTR)
            ;
        if (got == self->pid)
            self->wstatus = st;
        else
            self->status_lost = true;
    }
    self->pid = 0;
    self->exited = true;
    s_close(&self->pidfd);
    s_close(&self->in_fd);
    s_read_report(self);
    self->drain_deadline = ipp_clock_mono_us() + self->drain_grace_us;
}

bool eng_runner_poll(eng_runner_t *self)
{
    if (self->done)
        return true;
    s_feed_stdin(self);
    if (!self->exited)
        s_check_exit(self);
    s_drain(self, &self->out_fd, &self->out);
    s_drain(self, &self->err_fd, &self->err);
    int64_t now = ipp_clock_mono_us();
    if (!self->exited) {
        if (self->wall_deadline && !self->timed_out && now >= self->wall_deadline) {
            IPP_LOGI(self->lg, "command %s: wall-time limit reached; SIGTERM", self->what);
            self->timed_out = true;
            s_kill_group(self, SIGTERM);
            self->kill_deadline = now + self->kill_grace_us;
        }
        if (self->kill_deadline && !self->kill_sent && now >= self->kill_deadline) {
            IPP_LOGI(self->lg, "command %s: still running after SIGTERM; SIGKILL", self->what);
            s_kill_group(self, SIGKILL);
            self->kill_sent = true;
        }
    } else if ((self->out_fd < 0 && self->err_fd < 0) || now >= self->drain_deadline) {
        s_finish(self);
    }
    return self->done;
}

bool eng_runner_done(const eng_runner_t *self)
{
    return self->done;
}

size_t eng_runner_pollfds(const eng_runner_t *self, struct pollfd *fds, size_t cap)
{
    size_t n = 0;
    if (self->done)
        return 0;
    if (n < cap && !self->exited && self->pidfd >= 0)
        fds[n++] = (struct pollfd){.fd = self->pidfd, .events = POLLIN};
    if (n < cap && self->in_fd >= 0)
        fds[n++] = (struct pollfd){.fd = self->in_fd, .events = POLLOUT};
    if (n < cap && self->out_fd >= 0)
        fds[n++] = (struct pollfd){.fd = self->out_fd, .events = POLLIN};
    if (n < cap && self->err_fd >= 0)
        fds[n++] = (struct pollfd){.fd = self->err_fd, .events = POLLIN};
    return n;
}

int eng_runner_timeout_ms(const eng_runner_t *self)
{
    if (self->done)
        return 0;
    int64_t now = ipp_clock_mono_us();
    int64_t next = INT64_MAX;
    if (!self->exited) {
        if (self->wall_deadline && !self->timed_out)
            next = self->wall_deadline;
        if (self->kill_deadline && !self->kill_sent && self->kill_deadline < next)
            next = self->kill_deadline;
        if (self->pidfd < 0 && now + S_REAP_TICK_US < next)
            next = now + S_REAP_TICK_US;
    } else {
        next = self->drain_deadline;
    }
    if (next == INT64_MAX)
        return -1;
    int64_t left = next - now;
    if (left <= 0)
        return 0;
    int64_t ms = (left + 999) / 1000;
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

ipp_err_t eng_runner_wait(eng_runner_t *self, int64_t timeout_us)
{
    int64_t deadline = timeout_us < 0 ? 0 : ipp_clock_mono_us() + timeout_us;
    while (!eng_runner_poll(self)) {
        struct pollfd fds[ENG_RUNNER_MAX_FDS];
        size_t n = eng_runner_pollfds(self, fds, ENG_RUNNER_MAX_FDS);
        int wait_ms = eng_runner_timeout_ms(self);
        if (deadline) {
            int64_t left = deadline - ipp_clock_mono_us();
            if (left <= 0)
                return IPP_ERR_TIMEOUT;
            int64_t left_ms = (left + 999) / 1000;
            if (wait_ms < 0 || left_ms < wait_ms)
                wait_ms = left_ms > INT_MAX ? INT_MAX : (int)left_ms;
        }
        if (poll(fds, (nfds_t)n, wait_ms) < 0 && errno != EINTR)
            return IPP_ERR_IO;
    }
    return IPP_OK;
}

void eng_runner_abort(eng_runner_t *self)
{
    if (self->done || self->exited || self->pid <= 0)
        return;
    IPP_LOGI(self->lg, "command %s: aborted; SIGKILL to its process group", self->what);
    self->aborted = true;
    s_kill_group(self, SIGKILL);
    self->kill_sent = true;
}

pid_t eng_runner_pid(const eng_runner_t *self)
{
    return self->pid;
}

const eng_result_t *eng_runner_result(const eng_runner_t *self)
{
    return self->done ? &self->result : NULL;
}

ipp_err_t eng_runner_take_result(eng_runner_t *self, eng_result_t *out)
{
    if (!self->done)
        return IPP_ERR_PENDING;
    eng_result_move(out, &self->result);
    return IPP_OK;
}
