/* bench_floor.c — what a task round trip cannot go below on this machine.
 *
 * A task's round trip under the write-ahead rule is four ZeroMQ hops
 * (client → controller → engine → controller → client) and two commits
 * (the request before dispatch, the result before delivery). This program
 * measures both parts bare, with nothing of ipp's around them, so the
 * end-to-end figures of tools/bench/run can be read against them:
 *
 *   zmq   a DEALER in this process and a ROUTER echoing in a child process,
 *         over tcp://127.0.0.1, 200-byte messages: the round trip (two
 *         hops), p50 and p99 over --rounds
 *   db    the task store's writer (db/) in a temporary directory: the
 *         commit of one request and of one result, each alone in its
 *         transaction, on the calling thread (db_writer_run_small, as the
 *         controller does at low load) and through the writer thread
 *         (queue, wake it, wait on its eventfd)
 *
 * Prints name=value lines: the round trip's time and the CPU it costs both
 * processes; floor_hwm1_tasks_per_s, how many such round trips per second
 * every core together could carry (at hwm 1 each task needs one between
 * controller and engine that nothing can batch); and floor_latency_us
 * last: two round trips plus two commits on the calling thread, the least
 * a write-ahead task round trip can take here.
 *
 * Usage: bench_floor [--rounds N]
 */
#include "db/writer.h"
#include "proto/clock.h"

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

static int s_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

// s_pct: the p-th percentile of v[0..n) (sorted in place).
static int64_t s_pct(int64_t *v, long n, double p)
{
    qsort(v, (size_t)n, sizeof *v, s_cmp);
    long i = (long)((double)n * p);
    return v[i < n ? i : n - 1];
}

// s_cpu_us: CPU time (user + system) of this process so far, µs.
static double s_cpu_us(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

// The rounds before timing starts (the connection is made on the first).
#define S_WARMUP 50

// s_echo: the child: a ROUTER on an ephemeral port, its endpoint written
// to fd, echoing every message until it gets an empty one, which it
// answers with the CPU time it spent since the warm-up rounds (µs, text).
static int s_echo(int fd, const char *bind)
{
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_ROUTER);
    char ep[256];
    size_t len = sizeof ep;
    if (zmq_bind(s, bind) != 0 || zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, ep, &len) != 0)
        return 1;
    if (write(fd, ep, strlen(ep) + 1) < 0)
        return 1;
    close(fd);
    double cpu0 = 0;
    for (long count = 0;; count++) {
        if (count == S_WARMUP)
            cpu0 = s_cpu_us();
        zmq_msg_t id, m;
        zmq_msg_init(&id);
        zmq_msg_init(&m);
        if (zmq_msg_recv(&id, s, 0) < 0 || zmq_msg_recv(&m, s, 0) < 0)
            return 1;
        if (zmq_msg_size(&m) == 0) {
            char used[64];
            snprintf(used, sizeof used, "%.0f", s_cpu_us() - cpu0);
            zmq_msg_send(&id, s, ZMQ_SNDMORE);
            zmq_send(s, used, strlen(used), 0);
            zmq_msg_close(&m);
            break;
        }
        zmq_msg_send(&id, s, ZMQ_SNDMORE);
        zmq_msg_send(&m, s, 0);
    }
    int linger = 1000;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(s);
    zmq_ctx_term(ctx);
    return 0;
}

// s_zmq: round trips to a child echoing on bind (an endpoint it binds);
// fills v[0..n) and *cpu_us with the CPU both processes spent on them
// (every thread). 0 on success.
static int s_zmq(const char *bind, int64_t *v, long n, double *cpu_us)
{
    int p[2];
    if (pipe(p) != 0)
        return 1;
    pid_t pid = fork();
    if (pid < 0)
        return 1;
    if (pid == 0) {
        close(p[0]);
        _exit(s_echo(p[1], bind));
    }
    close(p[1]);
    char ep[256] = {0};
    ssize_t got = read(p[0], ep, sizeof ep - 1);
    close(p[0]);
    int rc = 1;
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    int tmo = 5000;
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
    if (got > 0 && zmq_connect(s, ep) == 0) {
        char buf[200];
        memset(buf, 'x', sizeof buf);
        rc = 0;
        for (long i = -S_WARMUP; i < n && rc == 0; i++) {
            if (i == 0)
                *cpu_us = -s_cpu_us();
            int64_t t0 = ipp_clock_mono_us();
            if (zmq_send(s, buf, sizeof buf, 0) != (int)sizeof buf ||
                zmq_recv(s, buf, sizeof buf, 0) != (int)sizeof buf)
                rc = 1;
            else if (i >= 0)
                v[i] = ipp_clock_mono_us() - t0;
        }
        *cpu_us += s_cpu_us();
        zmq_send(s, "", 0, 0);  // the child's cue to stop, and its CPU time
        int got_n = rc == 0 ? zmq_recv(s, buf, sizeof buf - 1, 0) : -1;
        if (got_n > 0) {
            buf[got_n] = '\0';
            *cpu_us += strtod(buf, NULL);
        } else {
            rc = 1;
        }
    }
    zmq_close(s);
    zmq_ctx_term(ctx);
    int st = 0;
    if (rc != 0)
        kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return rc != 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0;
}

// s_pair: round trips of one byte to a child echoing on a socketpair —
// the engine's hop to its Python host (engine/python/plugin.c), bare: one
// wake-up of each process per round trip. Fills v[0..n); 0 on success.
static int s_pair(int64_t *v, long n)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        return 1;
    pid_t pid = fork();
    if (pid < 0)
        return 1;
    if (pid == 0) {
        close(sv[0]);
        char c;
        while (read(sv[1], &c, 1) == 1 && c != 'q')
            if (write(sv[1], &c, 1) != 1)
                _exit(1);
        _exit(0);
    }
    close(sv[1]);
    int rc = 0;
    for (long i = -S_WARMUP; i < n && rc == 0; i++) {
        char c = 'x';
        int64_t t0 = ipp_clock_mono_us();
        if (write(sv[0], &c, 1) != 1 || read(sv[0], &c, 1) != 1)
            rc = 1;
        else if (i >= 0)
            v[i] = ipp_clock_mono_us() - t0;
    }
    if (write(sv[0], "q", 1) != 1)
        rc = 1;
    close(sv[0]);
    int st = 0;
    if (rc != 0)
        kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return rc != 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0;
}

// s_request / s_result: one task's request and result, much as the
// controller records them (a noop call: small frames, no output).
static ipp_err_t s_request(db_writer_t *w, long i, uint64_t *seq)
{
    char id[64];
    snprintf(id, sizeof id, "019a0000-0000-7000-8000-%012ld", i);
    static const char hdr[120] = "header", content[40] = "content", arg[48] = "argument";
    db_blob_t buf = {arg, sizeof arg};
    db_request_t req = {.msg_id = id,
                        .header = {hdr, sizeof hdr},
                        .content = {content, sizeof content},
                        .buffers = &buf,
                        .n_buffers = 1,
                        .submitted = ipp_clock_now_us(),
                        .client_uuid = "bench-floor-client",
                        .queue = "task"};
    return db_writer_insert(w, &req, seq);
}

static ipp_err_t s_result(db_writer_t *w, long i, uint64_t *seq)
{
    char id[64];
    snprintf(id, sizeof id, "019a0000-0000-7000-8000-%012ld", i);
    static const char hdr[120] = "result header", content[60] = "result content";
    int64_t now = ipp_clock_now_us();
    db_result_t res = {.msg_id = id,
                       .status = DB_STATUS_OK,
                       .started = now,
                       .completed = now,
                       .received = now,
                       .error_engine_id = -1,
                       .result_header = {hdr, sizeof hdr},
                       .result_content = {content, sizeof content}};
    return db_writer_result(w, &res, seq);
}

// s_db: n requests and n results committed one at a time, on this thread
// (here) or through the writer thread. 0 on success.
static int s_db(const char *dir, bool here, int64_t *req_us, int64_t *res_us, long n, long base)
{
    char path[512];
    snprintf(path, sizeof path, "%s/floor-%s.db", dir, here ? "here" : "thread");
    db_writer_opts_t o = {0};
    o.manual_wake = here;
    ipp_error_t err;
    db_writer_t *w = db_writer_new(path, &o, NULL, &err);
    if (!w || db_writer_start(w, &err) != IPP_OK) {
        fprintf(stderr, "bench_floor: %s\n", err.msg);
        db_writer_destroy(&w);
        return 1;
    }
    int rc = 0;
    for (long i = -20; i < n && rc == 0; i++) {
        for (int k = 0; k < 2 && rc == 0; k++) {
            uint64_t seq = 0;
            int64_t t0 = ipp_clock_mono_us();
            ipp_err_t e = k == 0 ? s_request(w, base + i, &seq) : s_result(w, base + i, &seq);
            if (e != IPP_OK) {
                rc = 1;
                break;
            }
            // Here: on this thread, unless the writer thread took the
            // batch first (it may wake for one just queued); then wait
            // for it like the thread path does.
            if (!here || !db_writer_run_small(w, 8)) {
                db_writer_kick(w);
                while (db_writer_committed(w) < seq) {
                    struct pollfd p = {.fd = db_writer_fd(w), .events = POLLIN};
                    poll(&p, 1, 1000);
                }
            }
            db_report_t r;
            while (db_writer_next_report(w, &r)) {
                fprintf(stderr, "bench_floor: %s\n", r.err.msg);
                rc = 1;
            }
            if (i >= 0)
                (k == 0 ? req_us : res_us)[i] = ipp_clock_mono_us() - t0;
        }
    }
    db_writer_destroy(&w);
    return rc;
}

int main(int argc, char **argv)
{
    long n = 2000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
            n = strtol(argv[++i], NULL, 10);
        } else {
            fprintf(stderr, "usage: bench_floor [--rounds N]\n");
            return 2;
        }
    }
    if (n <= 0) {
        fprintf(stderr, "bench_floor: --rounds must be positive\n");
        return 2;
    }
    int64_t *v = calloc((size_t)n * 4, sizeof *v);
    if (!v)
        return 1;
    double cpu = 0;
    if (s_zmq("tcp://127.0.0.1:*", v, n, &cpu) != 0) {
        fprintf(stderr, "bench_floor: the ZeroMQ round trips failed\n");
        return 1;
    }
    int64_t rtt50 = s_pct(v, n, 0.5), rtt99 = s_pct(v, n, 0.99);
    printf("floor_zmq_rtt_p50_us=%lld\n", (long long)rtt50);
    printf("floor_zmq_rtt_p99_us=%lld\n", (long long)rtt99);
    // An engine at hwm 1 gets each task and returns its result in a round
    // trip of its own: no batching can share its cost. All cores doing
    // nothing else could carry this many such round trips per second.
    double per_rtt = cpu / (double)n;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    printf("floor_zmq_cpu_us_per_rtt=%.1f\n", per_rtt);
    printf("floor_hwm1_tasks_per_s=%.0f\n", per_rtt > 0 ? (double)cores * 1e6 / per_rtt : 0.0);

    // The same over ipc://, which peers on the controller's host use.
    char ipc_dir[] = "/tmp/ipp-bench-ipc-XXXXXX";
    if (!mkdtemp(ipc_dir))
        return 1;
    char ipc_ep[300];
    snprintf(ipc_ep, sizeof ipc_ep, "ipc://%s/echo.sock", ipc_dir);
    double ipc_cpu = 0;
    int ipc_rc = s_zmq(ipc_ep, v, n, &ipc_cpu);
    char sock_path[300];
    snprintf(sock_path, sizeof sock_path, "%s/echo.sock", ipc_dir);
    unlink(sock_path);
    rmdir(ipc_dir);
    if (ipc_rc != 0) {
        fprintf(stderr, "bench_floor: the ZeroMQ round trips over ipc failed\n");
        return 1;
    }
    int64_t ipc50 = s_pct(v, n, 0.5);
    printf("floor_zmq_ipc_rtt_p50_us=%lld\n", (long long)ipc50);
    printf("floor_zmq_ipc_rtt_p99_us=%lld\n", (long long)s_pct(v, n, 0.99));
    printf("floor_zmq_ipc_cpu_us_per_rtt=%.1f\n", ipc_cpu / (double)n);
    if (s_pair(v, n) != 0) {
        fprintf(stderr, "bench_floor: the socketpair round trips failed\n");
        return 1;
    }
    int64_t pair50 = s_pct(v, n, 0.5);
    printf("floor_pair_rtt_p50_us=%lld\n", (long long)pair50);
    printf("floor_pair_rtt_p99_us=%lld\n", (long long)s_pct(v, n, 0.99));

    char dir[] = "/tmp/ipp-bench-floor-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    int64_t *req = v, *res = v + n, *treq = v + 2 * n, *tres = v + 3 * n;
    int rc = s_db(dir, true, req, res, n, 0) || s_db(dir, false, treq, tres, n, n);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_floor: could not remove %s\n", dir);
    if (rc) {
        fprintf(stderr, "bench_floor: the commits failed\n");
        free(v);
        return 1;
    }
    int64_t c_req = s_pct(req, n, 0.5), c_res = s_pct(res, n, 0.5);
    printf("floor_commit_request_here_p50_us=%lld\n", (long long)c_req);
    printf("floor_commit_result_here_p50_us=%lld\n", (long long)c_res);
    printf("floor_commit_request_thread_p50_us=%lld\n", (long long)s_pct(treq, n, 0.5));
    printf("floor_commit_result_thread_p50_us=%lld\n", (long long)s_pct(tres, n, 0.5));
    printf("floor_latency_us=%lld\n", (long long)(2 * rtt50 + c_req + c_res));
    // Local peers talk over ipc; a Python task adds the hop to the host.
    printf("floor_latency_ipc_us=%lld\n", (long long)(2 * ipc50 + c_req + c_res));
    printf("floor_py_latency_us=%lld\n", (long long)(2 * ipc50 + pair50 + c_req + c_res));
    free(v);
    return 0;
}
