/* plugin.c — ipp_python.so: the engine's Python tasks (docs/PYTHON.md).
 *
 * Registers py.apply, py.execute, py.push, py.pull and py.clear. None of
 * them runs Python in the engine: the plugin starts ipp-python-host (found
 * next to this file, or at $IPP_PYTHON_HOST) on the first Python task,
 * with one end of a socketpair, and hands every task to it as a frame
 * (frame.h) — the argument buffers sent straight from the engine's
 * message, the output and answer read back into the call's context. So a
 * long Python call blocks only the engine's worker thread (heartbeats go
 * on), Python's allocator stays out of the engine, and a host that hangs
 * or dies costs its namespace, never the engine.
 *
 * Send-ahead (ipp_plugin_set_ahead): while a Python task runs, the engine
 * hands the plugin the Python tasks queued behind it; each is written to
 * the host at once (s_ahead) and noted in a FIFO of tasks in flight, so
 * the host runs them back to back and answers each as it ends. When such
 * a task's own call comes, the plugin only reads its answer. A task is
 * sent ahead only while every task before it has been sent (a declined
 * one holds the later ones back until its call) and while the requests in
 * flight fit well within the socket's send buffer, so no write can block
 * on a host that is itself blocked writing answers. When the host is lost (killed after a stop, died) the
 * tasks in flight behind the one that ended it have not started — the
 * host runs one at a time, in order — and each is sent again, to a fresh
 * host, when its call comes.
 *
 * Stopping: when the call is cancelled (abort, or the engine's wall-time
 * limit) the plugin queues SIGUSR1 / SIGUSR2 with the task's sequence
 * number to the host, which raises TaskAborted / WallTimeExceeded in the
 * running code; if no answer comes within S_GRACE_US the host's process
 * group is killed and the next task starts a fresh host.
 *
 * Owns the host process (child of the thread that ran the first Python
 * task; PR_SET_PDEATHSIG ends it with that thread) and the socket. The
 * engine runs one call at a time, so there is no locking. Must never
 * block the calling thread past the grace without returning, never leave
 * a zombie, and never raise SIGPIPE.
 */
#include <ipp/plugin.h>

#include "engine/python/frame.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

// From an interrupt to killing the host, and the longest wait for a new
// host to say READY (importing cloudpickle on a cold cache).
#define S_GRACE_US ((int64_t)2000000)

// How often a stop request is sent again until the host answers: one that
// came while the host was still reading the task, or just before the code
// entered a blocking call, is not lost (each one also wakes such a call).
#define S_RESEND_US ((int64_t)100000)
#define S_START_US ((int64_t)60000000)
// How often a waiting call looks at its cancel flag.
#define S_TICK_MS 50
// The fd the host finds its socket on.
#define S_HOST_FD 3
// Most tasks in flight (sent ahead, not answered yet), and the largest
// request sent ahead: bigger ones wait for their turn.
#define S_INFLIGHT_MAX 64
#define S_AHEAD_FRAME_MAX ((size_t)32768)
// Most bytes of requests in flight: the host has not read them all yet,
// and they must fit the socket's send buffer (a quarter of it, for the
// kernel's own overhead per write) so that no write blocks.
#define S_AHEAD_BYTES ((size_t)65536)

typedef struct s_state_t s_state_t;

// One registered function: which operation, on which state.
typedef struct s_fn_t {
    s_state_t *st;  // the plugin's state, borrowed
    uint32_t op;    // PY_OP_*
} s_fn_t;

// A task sent ahead whose call has not come yet.
typedef struct s_flight_t {
    uint64_t call_seq;  // the engine's number for it (ipp_call_seq)
    uint64_t seq;       // its request's number
    uint64_t gen;       // the host it went to
    size_t bytes;       // its request's argument bytes
} s_flight_t;

struct s_state_t {
    char host[PATH_MAX];                // the host program
    pid_t pid;                          // the running host (and its process group); 0 = none
    int fd;                             // our end of its socket; -1 = none
    py_reader_t in;                     // what it sent, buffered (reset with each host)
    int sndbuf;                         // that socket's send buffer, bytes
    uint64_t gen;                       // which host this is (one more per start)
    uint64_t seq;                       // the last request's number
    s_fn_t fns[5];                      // the registered functions' userdata
    s_flight_t flight[S_INFLIGHT_MAX];  // tasks sent ahead, a ring, oldest first
    size_t flight_head, n_flight;       // its start and length
    size_t flight_bytes;                // their requests' argument bytes
    uint64_t declined_upto;             // the last task declined ahead; 0 = none
                                        // pending (none is sent ahead until its call)
};

// A frame read whole: header and parts.
typedef struct s_frame_t {
    py_head_t h;     // its header
    char **parts;    // h.nparts buffers, each owned
    uint64_t *lens;  // their lengths, owned
} s_frame_t;

static int64_t s_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void s_frame_free(s_frame_t *f)
{
    for (uint32_t i = 0; f->parts && i < f->h.nparts; i++)
        free(f->parts[i]);
    free(f->parts);
    free(f->lens);
    memset(f, 0, sizeof *f);
}

// s_frame_read: a whole frame from r into *f (caller frees with
// s_frame_free, also on failure). 0, 1 at end of file, -1 with errno.
static int s_frame_read(py_reader_t *r, s_frame_t *f)
{
    memset(f, 0, sizeof *f);
    int rc = py_frame_read_head(r, &f->h, &f->lens);
    if (rc != 0) {
        f->h.nparts = 0;
        return rc;
    }
    if (!f->h.nparts)
        return 0;
    f->parts = calloc(f->h.nparts, sizeof *f->parts);
    if (!f->parts) {
        f->h.nparts = 0;
        errno = ENOMEM;
        return -1;
    }
    for (uint32_t i = 0; i < f->h.nparts; i++) {
        // one spare byte keeps text parts NUL-terminated
        f->parts[i] = malloc((size_t)f->lens[i] + 1);
        if (!f->parts[i]) {
            errno = ENOMEM;
            return -1;
        }
        f->parts[i][f->lens[i]] = '\0';
        rc = py_read_full(r, f->parts[i], (size_t)f->lens[i]);
        if (rc != 0)
            return rc;
    }
    return 0;
}

// ----------------------------------------------------------- the host

// s_describe: how a waitpid status reads, into buf.
static void s_describe(int wstatus, char *buf, size_t size)
{
    if (WIFSIGNALED(wstatus))
        snprintf(buf, size, "was killed by signal %d (%s)", WTERMSIG(wstatus),
                 strsignal(WTERMSIG(wstatus)));
    else if (WIFEXITED(wstatus))
        snprintf(buf, size, "exited with status %d", WEXITSTATUS(wstatus));
    else
        snprintf(buf, size, "ended");
}

// s_stop_host: close the socket, give the host up to wait_us to leave by
// itself, then kill its process group; reap it. How it ended goes into
// buf (may be NULL).
static void s_stop_host(s_state_t *st, int64_t wait_us, char *buf, size_t size)
{
    if (st->fd >= 0) {
        close(st->fd);
        st->fd = -1;
    }
    py_reader_init(&st->in, -1);
    if (st->pid <= 0) {
        if (buf)
            snprintf(buf, size, "is not running");
        return;
    }
    int wstatus = 0;
    pid_t got = 0;
    int64_t until = s_mono_us() + wait_us;
    while ((got = waitpid(st->pid, &wstatus, WNOHANG)) == 0 && s_mono_us() < until) {
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    // whatever the host started goes with it
    kill(-st->pid, SIGKILL);
    if (got == 0) {
        kill(st->pid, SIGKILL);
        while ((got = waitpid(st->pid, &wstatus, 0)) < 0 && errno == EINTR)
            ;
    }
    if (buf) {
        if (got == st->pid)
            s_describe(wstatus, buf, size);
        else
            snprintf(buf, size, "ended (its status was lost)");
    }
    st->pid = 0;
}

// s_child: between fork and exec: async-signal-safe calls only.
static void s_child(int sock, int devnull, pid_t parent, char *const argv[])
{
    if (dup2(devnull, 0) < 0)
        _exit(126);
    if (sock == S_HOST_FD) {
        if (fcntl(sock, F_SETFD, 0) < 0)
            _exit(126);
    } else if (dup2(sock, S_HOST_FD) < 0) {
        _exit(126);
    }
    if (syscall(SYS_close_range, S_HOST_FD + 1, ~0U, 0) != 0)
        for (int fd = S_HOST_FD + 1; fd < 4096; fd++)
            close(fd);
    setsid();
    // the host must not outlive the engine, even a kill -9 of it
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
        _exit(126);
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; s++)
        sigaction(s, &dfl, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execv(argv[0], argv);
    _exit(127);
}

// s_start_host: a fresh host that said READY; 0, or -1 with why filled.
static int s_start_host(s_state_t *st, ipp_call_ctx_t *ctx, char *why, size_t size)
{
    int sv[2] = {-1, -1};
    int devnull = -1;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0 ||
        (devnull = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
        snprintf(why, size, "cannot start %.512s: %s", st->host, strerror(errno));
        goto fail;
    }
    char fdarg[] = "3";
    char *argv[] = {st->host, fdarg, NULL};
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0)
        s_child(sv[1], devnull, parent, argv);
    int fork_errno = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    close(sv[1]);
    sv[1] = -1;
    close(devnull);
    devnull = -1;
    if (pid < 0) {
        snprintf(why, size, "cannot start %.512s: fork: %s", st->host, strerror(fork_errno));
        goto fail;
    }
    st->pid = pid;
    st->fd = sv[0];
    sv[0] = -1;
    py_reader_init(&st->in, st->fd);
    st->gen++;
    socklen_t sl = sizeof st->sndbuf;
    if (getsockopt(st->fd, SOL_SOCKET, SO_SNDBUF, &st->sndbuf, &sl) != 0)
        st->sndbuf = 0;

    // READY, or why not
    int64_t until = s_mono_us() + S_START_US;
    for (;;) {
        struct pollfd pf = {.fd = st->fd, .events = POLLIN};
        int n = poll(&pf, 1, S_TICK_MS);
        if (n < 0 && errno != EINTR) {
            snprintf(why, size, "waiting for %.512s: poll: %s", st->host, strerror(errno));
            break;
        }
        if (n > 0) {
            s_frame_t f;
            int rc = s_frame_read(&st->in, &f);
            if (rc == 0 && f.h.kind == PY_READY) {
                s_frame_free(&f);
                return 0;
            }
            if (rc == 0 && f.h.kind == PY_FATAL && f.h.nparts == 1)
                snprintf(why, size, "%s", f.parts[0]);
            else if (rc == 0)
                snprintf(why, size, "%.512s answered frame kind %u before READY", st->host,
                         f.h.kind);
            else
                why[0] = '\0';
            s_frame_free(&f);
            break;
        }
        if (ipp_call_cancelled(ctx)) {
            snprintf(why, size, "the task was stopped while the Python host started");
            break;
        }
        if (s_mono_us() >= until) {
            snprintf(why, size, "%.512s did not start within %d s", st->host,
                     (int)(S_START_US / 1000000));
            break;
        }
    }
    char how[128];
    s_stop_host(st, 200000, how, sizeof how);
    if (!why[0])
        snprintf(why, size,
                 "the Python host %.512s %s before it was ready (is it installed, "
                 "with python3-cloudpickle?)",
                 st->host, how);
    return -1;
fail:
    if (sv[0] >= 0)
        close(sv[0]);
    if (sv[1] >= 0)
        close(sv[1]);
    if (devnull >= 0)
        close(devnull);
    return -1;
}

// ----------------------------------------------------------- a task

// s_lost: the host died or broke the framing during a task: fail the
// call and forget the host (the next task starts another).
static void s_lost(s_state_t *st, ipp_call_ctx_t *ctx, const char *what)
{
    pid_t pid = st->pid;
    char how[128];
    s_stop_host(st, 200000, how, sizeof how);
    ipp_call_error(ctx, "InterpreterDied",
                   "the Python interpreter (pid %ld) %s%s%s during the task; the next task "
                   "starts a fresh one, with an empty namespace",
                   (long)pid, how, what ? ", " : "", what ? what : "");
}

// s_answer: act on frame f of the running task; true once it was the
// final one.
static bool s_answer(ipp_call_ctx_t *ctx, const s_frame_t *f)
{
    if (f->h.kind >= PY_DONE_OK && f->h.at_us > 0)
        ipp_call_started(ctx, f->h.at_us);
    switch (f->h.kind) {
    case PY_OUT_STDOUT:
    case PY_OUT_STDERR:
        for (uint32_t i = 0; i < f->h.nparts; i++) {
            if (f->h.kind == PY_OUT_STDOUT)
                ipp_call_write(ctx, f->parts[i], (size_t)f->lens[i]);
            else
                ipp_call_write_stderr(ctx, f->parts[i], (size_t)f->lens[i]);
        }
        return false;
    case PY_DONE_OK:
        if (f->h.nparts && f->lens[0])
            ipp_call_summary(ctx, f->parts[0], (size_t)f->lens[0]);
        for (uint32_t i = 1; i < f->h.nparts; i++)
            ipp_call_return(ctx, f->parts[i], (size_t)f->lens[i]);
        return true;
    default: {  // PY_DONE_ERROR
        const char *ename = f->h.nparts > 0 && f->lens[0] ? f->parts[0] : "Error";
        const char *evalue = f->h.nparts > 1 ? f->parts[1] : "";
        ipp_call_error(ctx, ename, "%s", evalue);
        if (f->h.nparts > 2 && f->lens[2])
            ipp_call_traceback(ctx, f->parts[2], (size_t)f->lens[2]);
        return true;
    }
    }
}

// s_wait: read the host's frames for request seq until its answer,
// interrupting and at last killing it when the call is cancelled.
static void s_wait(s_state_t *st, ipp_call_ctx_t *ctx, uint64_t seq)
{
    int sent = 0;
    int64_t kill_at = 0, resend_at = 0;
    for (;;) {
        int why = ipp_call_cancelled(ctx);
        if (why && !sent) {
            sent = why == IPP_CALL_CANCEL_WALL_TIME ? why : IPP_CALL_CANCEL_ABORT;
            kill_at = s_mono_us() + S_GRACE_US;
        }
        if (sent && s_mono_us() >= resend_at) {
            union sigval v = {.sival_int = (int)seq};
            sigqueue(st->pid, sent == IPP_CALL_CANCEL_WALL_TIME ? SIGUSR2 : SIGUSR1, v);
            resend_at = s_mono_us() + S_RESEND_US;
        }
        if (sent && s_mono_us() >= kill_at) {
            char how[128];
            s_stop_host(st, 0, how, sizeof how);
            ipp_call_error(ctx,
                           sent == IPP_CALL_CANCEL_WALL_TIME ? "WallTimeExceeded" : "TaskAborted",
                           "the Python code did not stop within %g s of being interrupted; "
                           "its interpreter was killed and the next task starts a fresh one "
                           "(the namespace is lost)",
                           (double)S_GRACE_US / 1e6);
            return;
        }
        // answers already taken in need no poll
        struct pollfd pf = {.fd = st->fd, .events = POLLIN};
        int n = py_reader_pending(&st->in) ? 1 : poll(&pf, 1, S_TICK_MS);
        if (n < 0 && errno != EINTR) {
            s_lost(st, ctx, "poll failed");
            return;
        }
        if (n <= 0)
            continue;
        s_frame_t f;
        int rc = s_frame_read(&st->in, &f);
        bool final = false;
        if (rc != 0) {
            s_frame_free(&f);
            s_lost(st, ctx, rc < 0 && errno != ECONNRESET ? strerror(errno) : NULL);
            return;
        }
        if (f.h.seq != seq || f.h.kind < PY_OUT_STDOUT || f.h.kind > PY_DONE_ERROR) {
            s_frame_free(&f);
            s_lost(st, ctx, "after a frame out of order");
            return;
        }
        final = s_answer(ctx, &f);
        s_frame_free(&f);
        if (final)
            return;
    }
}

// s_iov: the call's argument buffers as iovecs (caller frees), their
// total length in *total; NULL with n > 0 when out of memory.
static struct iovec *s_iov(ipp_call_ctx_t *ctx, size_t *n, size_t *total)
{
    *n = ipp_call_nargs(ctx);
    *total = 0;
    struct iovec *iov = *n ? calloc(*n, sizeof *iov) : NULL;
    if (*n && !iov)
        return NULL;
    for (size_t i = 0; i < *n; i++) {
        size_t len = 0;
        const void *p = ipp_call_arg(ctx, i, &len);
        iov[i] = (struct iovec){.iov_base = (void *)p, .iov_len = len};
        *total += len;
    }
    return iov;
}

// s_decline: task call_seq is not sent ahead, nor any after it until its
// call.
static void s_decline(s_state_t *st, uint64_t call_seq)
{
    if (call_seq > st->declined_upto)
        st->declined_upto = call_seq;
}

// s_ahead: the engine's send-ahead hook: write the task to the host now
// when it can go without blocking and in order (see the top of the file).
static void s_ahead(ipp_call_ctx_t *ctx, void *userdata)
{
    const s_fn_t *fn = userdata;
    s_state_t *st = fn->st;
    uint64_t cseq = ipp_call_seq(ctx);
    if (!cseq)
        return;  // an engine that cannot number tasks: nothing goes ahead
    const s_flight_t *last =
        st->n_flight ? &st->flight[(st->flight_head + st->n_flight - 1) % S_INFLIGHT_MAX] : NULL;
    // Not while a host is missing or tasks for a lost one wait to be sent
    // again: they must go first.
    if (st->declined_upto || !st->pid || st->fd < 0 || ipp_call_cancelled(ctx) ||
        st->n_flight >= S_INFLIGHT_MAX || (last && last->gen != st->gen)) {
        s_decline(st, cseq);
        return;
    }
    size_t n = 0, total = 0;
    struct iovec *iov = s_iov(ctx, &n, &total);
    size_t room = st->sndbuf > 0 && (size_t)st->sndbuf / 4 < S_AHEAD_BYTES ? (size_t)st->sndbuf / 4
                                                                           : S_AHEAD_BYTES;
    if ((n && !iov) || total > S_AHEAD_FRAME_MAX || st->flight_bytes + total > room) {
        free(iov);
        s_decline(st, cseq);
        return;
    }
    uint64_t seq = st->seq + 1;
    int rc = py_frame_send(st->fd, fn->op, seq, iov, n);
    free(iov);
    if (rc != 0) {
        // The host is gone: whatever was in flight is sent again later.
        s_stop_host(st, 0, NULL, 0);
        s_decline(st, cseq);
        return;
    }
    st->seq = seq;
    st->flight[(st->flight_head + st->n_flight) % S_INFLIGHT_MAX] =
        (s_flight_t){.call_seq = cseq, .seq = seq, .gen = st->gen, .bytes = total};
    st->n_flight++;
    st->flight_bytes += total;
}

// s_take_flight: the request number of task cseq if it was sent ahead to
// the host running now; 0 when it must be sent (never sent, or sent to a
// host that is gone before it started).
static uint64_t s_take_flight(s_state_t *st, uint64_t cseq)
{
    if (!st->n_flight)
        return 0;
    s_flight_t f = st->flight[st->flight_head];
    if (!cseq || f.call_seq != cseq) {
        // Not the oldest one in flight: a task handed ahead was never
        // called. The host would run it; start afresh instead.
        s_stop_host(st, 0, NULL, 0);
        st->n_flight = 0;
        st->flight_head = 0;
        st->flight_bytes = 0;
        return 0;
    }
    st->flight_head = (st->flight_head + 1) % S_INFLIGHT_MAX;
    st->n_flight--;
    st->flight_bytes -= f.bytes;
    return f.gen == st->gen && st->pid ? f.seq : 0;
}

static void s_call(ipp_call_ctx_t *ctx, void *userdata)
{
    const s_fn_t *fn = userdata;
    s_state_t *st = fn->st;
    uint64_t cseq = ipp_call_seq(ctx);
    if (st->declined_upto && cseq >= st->declined_upto)
        st->declined_upto = 0;  // every task before the next one has been sent
    uint64_t ahead_seq = s_take_flight(st, cseq);
    if (ahead_seq) {
        // The host has it, may be running it or be done: read its answer
        // (a cancelled one is stopped, or skipped if it has not started).
        s_wait(st, ctx, ahead_seq);
        return;
    }
    if (ipp_call_cancelled(ctx))
        return;
    size_t n = 0, total = 0;
    struct iovec *iov = s_iov(ctx, &n, &total);
    if (n && !iov) {
        ipp_call_error(ctx, "MemoryError", "no memory for the task's buffers");
        return;
    }
    // A host that died while idle is replaced once, before the task starts.
    bool sent = false;
    char why[1024];
    for (int attempt = 0; attempt < 2 && !sent; attempt++) {
        if (st->pid && !st->n_flight) {
            // an idle host has nothing to say: readable means it is gone
            struct pollfd pf = {.fd = st->fd, .events = POLLIN};
            if (py_reader_pending(&st->in) || poll(&pf, 1, 0) != 0)
                s_stop_host(st, 0, NULL, 0);
        }
        if (!st->pid && s_start_host(st, ctx, why, sizeof why) != 0) {
            ipp_call_error(ctx, "PythonUnavailable", "%s", why);
            free(iov);
            return;
        }
        uint64_t seq = ++st->seq;
        if (py_frame_send(st->fd, fn->op, seq, iov, n) == 0)
            sent = true;
        else
            s_stop_host(st, 0, NULL, 0);
    }
    free(iov);
    if (!sent) {
        ipp_call_error(ctx, "PythonUnavailable", "the Python host took no task: %s",
                       strerror(errno));
        return;
    }
    s_wait(st, ctx, st->seq);
}

// ----------------------------------------------------------- the plugin

static void s_fini(void *state)
{
    s_state_t *st = state;
    if (!st)
        return;
    // end of file lets it finish by itself; a hung one is killed, and so
    // at once is one with tasks sent ahead, which must not run now
    s_stop_host(st, st->n_flight ? 0 : 1000000, NULL, 0);
    free(st);
}

// s_find_host: $IPP_PYTHON_HOST, else ipp-python-host beside this file.
static int s_find_host(s_state_t *st)
{
    const char *env = getenv("IPP_PYTHON_HOST");
    if (env && *env) {
        snprintf(st->host, sizeof st->host, "%s", env);
        return 0;
    }
    Dl_info info;
    void *self_sym = (void *)(uintptr_t)&ipp_plugin_init;
    if (!dladdr(self_sym, &info) || !info.dli_fname)
        return -1;
    const char *slash = strrchr(info.dli_fname, '/');
    int dir = slash ? (int)(slash - info.dli_fname) : 1;
    const char *base = slash ? info.dli_fname : ".";
    int w = snprintf(st->host, sizeof st->host, "%.*s/ipp-python-host", dir, base);
    return w > 0 && (size_t)w < sizeof st->host ? 0 : -1;
}

int ipp_plugin_init(ipp_plugin_registry_t *reg)
{
    static const struct {
        const char *name;
        uint32_t op;
    } fns[] = {
        {"py.apply", PY_OP_APPLY}, {"py.execute", PY_OP_EXECUTE}, {"py.push", PY_OP_PUSH},
        {"py.pull", PY_OP_PULL},   {"py.clear", PY_OP_CLEAR},
    };
    s_state_t *st = calloc(1, sizeof *st);
    if (!st)
        return -1;
    st->fd = -1;
    ipp_plugin_set_fini(reg, s_fini, st);
    if (s_find_host(st) != 0)
        return -1;
    for (size_t i = 0; i < sizeof fns / sizeof *fns; i++) {
        st->fns[i] = (s_fn_t){.st = st, .op = fns[i].op};
        if (ipp_plugin_register(reg, fns[i].name, s_call, &st->fns[i]) != 0)
            return -1;
        // an older engine does not send ahead: every task then goes at its turn
        ipp_plugin_set_ahead(reg, fns[i].name, s_ahead);
    }
    return 0;
}
