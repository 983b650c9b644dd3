/* guard.c — eng_guard_t: the process that outlives the engine just long
 * enough to kill its commands (the why is in guard.h).
 *
 * Owns the guard process (until reaped) and the engine's end of a
 * SOCK_SEQPACKET pair to it: one int32 per record, a group id to guard
 * (> 0) or to forget (< 0), so records never split and a write to a dead
 * guard is EPIPE, never SIGPIPE. The guard's side runs between fork and
 * _exit with async-signal-safe calls only; it must never exec, never
 * fork, and never kill a group it was not told about.
 */
#include "engine/guard.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

struct eng_guard_t {
    const ipp_logger_t *lg;  // borrowed, may be NULL
    pid_t pid;               // the guard process; 0 once reaped
    int fd;                  // engine's end of the pair; -1 once closed
    size_t held;             // slots reserved by eng_guard_hold, not released
};

// s_guard_main: the guard process. Lists the groups it is told about and
// SIGKILLs those still listed when the engine's end closes.
__attribute__((noreturn)) static void s_guard_main(int fd, int engine_fd)
{
    close(engine_fd);
    // Only the engine's death ends the guard: not a ^C to the terminal's
    // group, not a SIGTERM meant for the engine.
    struct sigaction ign;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    static const int quiet[] = {SIGINT,  SIGTERM, SIGHUP,  SIGQUIT, SIGPIPE,
                                SIGTSTP, SIGTTIN, SIGTTOU, SIGUSR1, SIGUSR2};
    for (size_t i = 0; i < sizeof quiet / sizeof quiet[0]; i++)
        sigaction(quiet[i], &ign, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    setpgid(0, 0);
    // Nothing of the engine's but the pair stays open here.
    if (fd > 3)
        syscall(SYS_close_range, 3U, (unsigned)fd - 1, 0U);
    syscall(SYS_close_range, (unsigned)fd + 1, ~0U, 0U);

    pid_t groups[ENG_GUARD_MAX];
    size_t n = 0;
    for (;;) {
        int32_t v = 0;
        ssize_t got = recv(fd, &v, sizeof v, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;  // end of file: the engine is gone (or the read failed)
        if (got != (ssize_t)sizeof v || v == 0 || v == INT32_MIN)
            continue;
        if (v > 0) {
            if (n < ENG_GUARD_MAX)
                groups[n++] = (pid_t)v;
            else
                kill(-(pid_t)v, SIGKILL);  // never run unguarded (the engine counts)
            continue;
        }
        for (size_t i = 0; i < n; i++) {
            if (groups[i] == (pid_t)-v) {
                groups[i] = groups[--n];
                break;
            }
        }
    }
    for (size_t i = 0; i < n; i++)
        kill(-groups[i], SIGKILL);
    _exit(0);
}

// s_high: fd moved to 3 or above (the stdio slots stay what they are),
// close-on-exec; -1 on failure (fd closed).
static int s_high(int fd)
{
    if (fd < 0 || fd > 2)
        return fd;
    int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    close(fd);
    return moved;
}

eng_guard_t *eng_guard_new(const ipp_logger_t *lg, ipp_error_t *err)
{
    eng_guard_t *self = calloc(1, sizeof *self);
    if (!self) {
        ipp_error_set(err, IPP_ERR_NOMEM, "no memory for the command guard");
        return NULL;
    }
    self->lg = lg;
    self->fd = -1;
    int pair[2] = {-1, -1};
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
        ipp_error_set(err, IPP_ERR_IO, "command guard: socketpair: %s", strerror(errno));
        goto fail;
    }
    pair[0] = s_high(pair[0]);
    pair[1] = s_high(pair[1]);
    if (pair[0] < 0 || pair[1] < 0) {
        ipp_error_set(err, IPP_ERR_IO, "command guard: fcntl: %s", strerror(errno));
        goto fail;
    }
    // No handler of the engine may run in the guard before it sets its own.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t pid = fork();
    if (pid == 0)
        s_guard_main(pair[1], pair[0]);
    int fork_errno = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (pid < 0) {
        ipp_error_set(err, IPP_ERR_IO, "command guard: fork: %s", strerror(fork_errno));
        goto fail;
    }
    close(pair[1]);
    self->pid = pid;
    self->fd = pair[0];
    IPP_LOGD(lg, "command guard started as pid %ld", (long)pid);
    return self;
fail:
    if (pair[0] >= 0)
        close(pair[0]);
    if (pair[1] >= 0)
        close(pair[1]);
    free(self);
    return NULL;
}

void eng_guard_destroy(eng_guard_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    eng_guard_t *self = *self_p;
    if (self->fd >= 0)
        close(self->fd);
    if (self->pid > 0)
        while (waitpid(self->pid, NULL, 0) < 0 && errno == EINTR)
            ;
    free(self);
    *self_p = NULL;
}

ipp_err_t eng_guard_hold(eng_guard_t *self, ipp_error_t *err)
{
    if (!eng_guard_alive(self))
        return ipp_error_set(err, IPP_ERR_CLOSED, "the command guard process has died");
    if (self->held >= ENG_GUARD_MAX)
        return ipp_error_set(err, IPP_ERR_INVALID,
                             "more than %d commands at once cannot be guarded", ENG_GUARD_MAX);
    self->held++;
    return IPP_OK;
}

int eng_guard_fd(const eng_guard_t *self)
{
    return self->fd;
}

void eng_guard_release(eng_guard_t *self, pid_t pgid)
{
    if (self->held)
        self->held--;
    if (pgid <= 0 || self->fd < 0)
        return;
    int32_t v = -(int32_t)pgid;
    ssize_t sent;
    while ((sent = send(self->fd, &v, sizeof v, MSG_NOSIGNAL)) < 0 && errno == EINTR)
        ;
    if (sent != (ssize_t)sizeof v)
        IPP_LOGW(self->lg, "command guard: cannot release group %ld: %s", (long)pgid,
                 sent < 0 ? strerror(errno) : "short write");
}

bool eng_guard_alive(eng_guard_t *self)
{
    if (self->pid <= 0)
        return false;
    int st = 0;
    pid_t got = waitpid(self->pid, &st, WNOHANG);
    if (got == 0)
        return true;
    if (got == self->pid)
        IPP_LOGE(self->lg, "command guard (pid %ld) ended (status %d)", (long)self->pid, st);
    else
        IPP_LOGE(self->lg, "command guard (pid %ld) lost: %s", (long)self->pid, strerror(errno));
    self->pid = 0;
    return false;
}

pid_t eng_guard_pid(const eng_guard_t *self)
{
    return self->pid;
}
