/* bench_e2e.c — end-to-end figures through libipp against a running
 * cluster. One workload per run, chosen by MODE; prints name=value lines
 * and exits non-zero when a task failed or a result was wrong, so the
 * figures are only ever those of correct runs. Owns the client it makes
 * and nothing else: starting and stopping the cluster is the caller's
 * (tools/bench/run, tools/bench/e2e).
 *
 * Usage: bench_e2e [MODE] [options]
 *   e2e (default)  throughput, then latency (the two figures of a quick look)
 *   throughput     --tasks N no-op call tasks on a load-balanced view, all
 *                  submitted as fast as the client can, then all awaited:
 *                  tasks/s end to end and the submit rate
 *   latency        --rounds M sequential apply-and-wait: p50, p99 (µs)
 *   dag            a random DAG of --nodes N no-op tasks, each `after` up to
 *                  --parents K (default 3) distinct earlier nodes, submitted
 *                  in order and awaited: tasks/s; --label L labels every node
 *                  (for bench_store order-check); --seed S
 *   chain          --tasks N no-op tasks, each `after` the previous: tasks/s
 *   burst          --tasks N no-op tasks submitted in one burst, as
 *                  throughput does, sampling the VmRSS of process --rss-pid
 *                  PID (the controller) before and until all are done: its
 *                  growth to the peak over the most tasks pending at once
 *                  (submitted, result not yet received), and the completion
 *                  rate in --slices K (default 10) successive equal slices
 *                  of the tasks, last against first
 *   map            a direct-view map of `echo` over --items N 8-byte items on
 *                  every engine; every result is compared with its item
 *   commands       --tasks N `/bin/true` command tasks, load-balanced
 *   query          result_status of the ids in --ids FILE, and a db_query
 *                  of --glob PATTERN on labels expecting --expect-rows R
 *                  rows; --repeat K times each (first and median, ms)
 *   restart        from --since-ns T (CLOCK_REALTIME ns: when a controller
 *                  was started), seconds until it answers a query, then
 *                  until --engines N engines are registered with it (learnt
 *                  from notifications, and from the engine list asked for
 *                  every --refresh S, default 0.25; 0: once)
 * Common: --profile P, --prefix NAME (of every printed name; default the
 * mode), --engines N (wait for this many first; default 2), --timeout S
 * (every wait; default 600).
 */
#include "ipp/ipp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

// Everything the command line says.
typedef struct {
    const char *mode;     // which workload
    const char *profile;  // profile to connect to
    const char *prefix;   // prefix of every printed name
    long tasks;           // throughput, chain, commands
    long rounds;          // latency
    long nodes;           // dag
    long parents;         // dag: parents per node (at most)
    unsigned long seed;   // dag: random seed
    const char *label;    // dag, chain: label of every task
    long items;           // map
    const char *ids;      // query: file of msg_ids
    const char *glob;     // query: label pattern
    long expect_rows;     // query: rows the pattern must match (-1: any)
    long repeat;          // query: times each query runs
    long long since_ns;   // restart: when the controller was started
    long engines;         // engines to wait for
    double refresh;       // restart: ask for the engine list this often (s; 0: once)
    double timeout;       // every wait, s
    long rss_pid;         // burst: the process whose VmRSS is sampled
    long slices;          // burst: completion-rate slices
} s_args_t;

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

// s_cpu_us: CPU time of this process (every thread, user + system), µs.
static double s_cpu_us(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static int s_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

// s_name: "<prefix>_<what>" in a static buffer (one use per printf).
static const char *s_name(const s_args_t *a, const char *what)
{
    static char buf[256];
    snprintf(buf, sizeof buf, "%s_%s", a->prefix, what);
    return buf;
}

// s_run_many: submit n tasks through submit(ctx, i), spinning now and
// then so replies do not pile up, then wait for all of them. Prints the
// count, the rate end to end, the submit rate and failures; returns the
// failure count, or -1 when submitting or waiting failed.
typedef ipp_ar_t *(s_submit_fn)(void *ctx, long i, ipp_error_t *err);

static long s_run_many(ipp_client_t *c, const s_args_t *a, long n, s_submit_fn *submit, void *ctx,
                       const char *unit)
{
    ipp_error_t err;
    ipp_ar_t **ars = calloc((size_t)n, sizeof *ars);
    if (!ars)
        return -1;
    long failed = 0;
    double t0 = s_now(), cpu0 = s_cpu_us();
    for (long i = 0; i < n; i++) {
        if (!(ars[i] = submit(ctx, i, &err))) {
            fprintf(stderr, "bench_e2e: %s: submit %ld: %s\n", a->prefix, i, err.msg);
            failed = -1;
            n = i;
            break;
        }
        if ((i & 255) == 0)
            ipp_client_spin(c, 0, NULL);
    }
    double t1 = s_now();
    if (failed == 0 && ipp_client_wait(c, a->timeout, &err) != IPP_OK) {
        fprintf(stderr, "bench_e2e: %s: waiting: %s (%zu outstanding)\n", a->prefix, err.msg,
                ipp_client_outstanding(c));
        failed = -1;
    }
    double t2 = s_now();
    for (long i = 0; i < n; i++) {
        if (failed >= 0 && !ipp_ar_successful(ars[i])) {
            if (failed < 3) {
                const ipp_remote_error_t *re = ipp_ar_error(ars[i], 0);
                fprintf(stderr, "bench_e2e: %s: task %ld: %s%s%s%s\n", a->prefix, i,
                        ipp_status_name(ipp_ar_status(ars[i], 0)), re ? ": " : "",
                        re ? re->ename : "", re && re->evalue[0] ? re->evalue : "");
            }
            failed++;
        }
        ipp_ar_destroy(&ars[i]);
    }
    free(ars);
    if (failed < 0)
        return -1;
    char what[64];
    printf("%s=%ld\n", s_name(a, unit), n);
    snprintf(what, sizeof what, "%s_per_s", unit);
    printf("%s=%.0f\n", s_name(a, what), (double)n / (t2 - t0));
    printf("%s=%.0f\n", s_name(a, "submit_per_s"), (double)n / (t1 - t0));
    // What the client spent per task (its I/O thread included).
    printf("%s=%.1f\n", s_name(a, "cpu_us_per_task_client"),
           n ? (s_cpu_us() - cpu0) / (double)n : 0.0);
    printf("%s=%ld\n", s_name(a, "failed"), failed);
    return failed;
}

// ---------------------------------------------------------------- workloads

// Context of the simple load-balanced submitters.
typedef struct {
    ipp_view_t *view;         // where tasks go
    const char *const *argv;  // commands: the program
} s_lb_ctx_t;

static ipp_ar_t *s_submit_noop(void *ctx, long i, ipp_error_t *err)
{
    (void)i;
    s_lb_ctx_t *x = ctx;
    return ipp_view_apply(x->view, "noop", NULL, 0, NULL, err);
}

static ipp_ar_t *s_submit_command(void *ctx, long i, ipp_error_t *err)
{
    (void)i;
    s_lb_ctx_t *x = ctx;
    return ipp_view_run(x->view, x->argv, NULL, err);
}

static int s_throughput(ipp_client_t *c, ipp_view_t *lb, const s_args_t *a)
{
    s_lb_ctx_t x = {.view = lb};
    return s_run_many(c, a, a->tasks, s_submit_noop, &x, "tasks") == 0 ? 0 : 1;
}

static int s_commands(ipp_client_t *c, ipp_view_t *lb, const s_args_t *a)
{
    static const char *const argv[] = {"/bin/true", NULL};
    s_lb_ctx_t x = {.view = lb, .argv = argv};
    return s_run_many(c, a, a->tasks, s_submit_command, &x, "tasks") == 0 ? 0 : 1;
}

static int s_latency(ipp_client_t *c, ipp_view_t *lb, const s_args_t *a)
{
    (void)c;
    ipp_error_t err;
    int rc = 0;
    long n = a->rounds;
    double *lat = calloc((size_t)n, sizeof *lat);
    if (!lat)
        return 1;
    double sum = 0;
    for (long i = 0; i < n; i++) {
        double t = s_now();
        ipp_ar_t *ar = ipp_view_apply(lb, "noop", NULL, 0, NULL, &err);
        if (!ar || ipp_ar_wait(ar, a->timeout, &err) != IPP_OK || !ipp_ar_successful(ar)) {
            fprintf(stderr, "bench_e2e: latency: round %ld: %s\n", i,
                    ar ? ipp_status_name(ipp_ar_status(ar, 0)) : err.msg);
            rc = 1;
        }
        ipp_ar_destroy(&ar);
        lat[i] = (s_now() - t) * 1e6;
        sum += lat[i];
    }
    qsort(lat, (size_t)n, sizeof *lat, s_cmp);
    printf("%s=%ld\n", s_name(a, "rounds"), n);
    printf("%s=%.0f\n", s_name(a, "p50_us"), lat[n / 2]);
    printf("%s=%.0f\n", s_name(a, "p99_us"), lat[(n * 99) / 100]);
    printf("%s=%.0f\n", s_name(a, "mean_us"), sum / (double)n);
    printf("%s=%d\n", s_name(a, "failed"), rc);
    free(lat);
    return rc;
}

static int s_dependent(ipp_client_t *c, ipp_view_t *lb, const s_args_t *a, bool chain)
{
    ipp_error_t err;
    int rc = 1;
    long n = chain ? a->tasks : a->nodes;
    long k = chain ? 1 : a->parents;
    ipp_ar_t **ars = calloc((size_t)n, sizeof *ars);
    const char **ids = calloc((size_t)k + 1, sizeof *ids);
    if (!ars || !ids)
        goto out;
    if (a->label) {
        ipp_flags_t vf = {.set = IPP_FLAG_LABEL, .label = a->label};
        if (ipp_view_set_flags(lb, &vf, &err) != IPP_OK) {
            fprintf(stderr, "bench_e2e: label: %s\n", err.msg);
            goto out;
        }
    }
    // Node i depends on up to k distinct earlier nodes, uniformly drawn
    // (xorshift, so a seed gives the same graph every time).
    unsigned long long x = a->seed * 2654435761ULL + 88172645463325252ULL;
    long edges = 0, failed = 0;
    double t0 = s_now();
    for (long i = 0; i < n; i++) {
        long m = 0;
        if (chain) {
            if (i > 0)
                ids[m++] = ipp_ar_msg_id(ars[i - 1], 0);
        } else {
            long want = i < k ? i : k;
            while (m < want) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                long p = (long)(x % (unsigned long long)i);
                const char *pid = ipp_ar_msg_id(ars[p], 0);
                bool dup = false;
                for (long j = 0; j < m; j++)
                    dup = dup || ids[j] == pid;
                if (!dup)
                    ids[m++] = pid;
            }
        }
        ipp_dependency_t dep = IPP_DEPENDENCY_INIT;
        dep.ids = ids;
        dep.n_ids = (size_t)m;
        ipp_flags_t f = {.set = IPP_FLAG_AFTER, .after = m ? &dep : NULL};
        if (!(ars[i] = ipp_view_apply(lb, "noop", NULL, 0, &f, &err))) {
            fprintf(stderr, "bench_e2e: %s: submit %ld: %s\n", a->prefix, i, err.msg);
            n = i;
            goto out;
        }
        edges += m;
        if ((i & 255) == 0)
            ipp_client_spin(c, 0, NULL);
    }
    double t1 = s_now();
    if (ipp_client_wait(c, a->timeout, &err) != IPP_OK) {
        fprintf(stderr, "bench_e2e: %s: waiting: %s (%zu outstanding)\n", a->prefix, err.msg,
                ipp_client_outstanding(c));
        goto out;
    }
    double t2 = s_now();
    for (long i = 0; i < n; i++) {
        if (!ipp_ar_successful(ars[i])) {
            if (failed++ < 3)
                fprintf(stderr, "bench_e2e: %s: task %ld: %s\n", a->prefix, i,
                        ipp_status_name(ipp_ar_status(ars[i], 0)));
        }
    }
    printf("%s=%ld\n", s_name(a, chain ? "tasks" : "nodes"), n);
    printf("%s=%ld\n", s_name(a, "edges"), edges);
    printf("%s=%.0f\n", s_name(a, "tasks_per_s"), (double)n / (t2 - t0));
    printf("%s=%.0f\n", s_name(a, "submit_per_s"), (double)n / (t1 - t0));
    printf("%s=%ld\n", s_name(a, "failed"), failed);
    rc = failed ? 1 : 0;
out:
    if (ars)
        for (long i = 0; i < n; i++)
            ipp_ar_destroy(&ars[i]);
    free(ars);
    free(ids);
    return rc;
}

static int s_map(ipp_client_t *c, const s_args_t *a)
{
    ipp_error_t err;
    int rc = 1;
    long n = a->items;
    uint64_t *vals = calloc((size_t)n, sizeof *vals);
    ipp_buf_t *items = calloc((size_t)n, sizeof *items);
    ipp_view_t *dv = NULL;
    ipp_ar_t *ar = NULL;
    if (!vals || !items)
        goto out;
    for (long i = 0; i < n; i++) {
        vals[i] = (uint64_t)i * 0x9e3779b97f4a7c15ULL;
        items[i] = (ipp_buf_t){.data = &vals[i], .size = sizeof vals[i]};
    }
    if (!(dv = ipp_client_direct_view(c, NULL, 0, &err)))
        goto fail;
    int targets[16];
    size_t nt = ipp_view_targets(dv, targets, 16);
    double t0 = s_now();
    if (!(ar = ipp_view_map(dv, "echo", items, (size_t)n, 1, NULL, &err)))
        goto fail;
    double t1 = s_now();
    if (ipp_ar_wait(ar, a->timeout, &err) != IPP_OK)
        goto fail;
    double t2 = s_now();
    long wrong = 0;
    for (long i = 0; i < n; i++) {
        size_t nb = 0;
        const ipp_buf_t *r = ipp_ar_result(ar, (size_t)i, &nb);
        if (ipp_ar_status(ar, (size_t)i) != IPP_STATUS_OK || nb != 1 ||
            r[0].size != sizeof vals[i] || memcmp(r[0].data, &vals[i], sizeof vals[i]) != 0)
            wrong++;
    }
    printf("%s=%ld\n", s_name(a, "items"), n);
    printf("%s=%zu\n", s_name(a, "engines"), nt);
    printf("%s=%.0f\n", s_name(a, "items_per_s"), (double)n / (t2 - t0));
    printf("%s=%.0f\n", s_name(a, "submit_per_s"), (double)n / (t1 - t0));
    printf("%s=%ld\n", s_name(a, "failed"), wrong);
    if (wrong)
        fprintf(stderr, "bench_e2e: map: %ld of %ld results wrong or failed\n", wrong, n);
    rc = wrong ? 1 : 0;
    goto out;
fail:
    fprintf(stderr, "bench_e2e: map: %s\n", err.msg);
out:
    ipp_ar_destroy(&ar);
    ipp_view_destroy(&dv);
    free(items);
    free(vals);
    return rc;
}

// s_rss_kb: VmRSS of pid in kB, -1 if it cannot be read.
static long s_rss_kb(long pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = strtol(line + 6, NULL, 10);
            break;
        }
    fclose(f);
    return kb;
}

// What s_burst learns from its samples.
typedef struct {
    long pid;              // whose VmRSS
    long n;                // tasks in the burst
    long slices;           // how many completion slices
    long peak_kb;          // highest VmRSS seen
    long pending_at_peak;  // tasks pending when it was first seen
                           // (few: the peak stays once reached)
    long pending_max;      // most tasks pending at any sample
    long next_slice;       // index of the next slice boundary to pass
    double last_sample;    // when the last sample was taken (s_now)
    double *slice_t;       // slice_t[k]: when completed first reached boundary k
    long *slice_done;      // slice_done[k]: completed at that moment
} s_burst_t;

// s_burst_sample: one sample, given how many were submitted so far.
// RSS is read at most every 5 ms (a read of /proc costs ~10 µs).
static void s_burst_sample(ipp_client_t *c, s_burst_t *b, long submitted, bool force)
{
    double now = s_now();
    long pending = (long)ipp_client_outstanding(c);
    long done = submitted - pending;
    while (b->next_slice <= b->slices && done >= b->next_slice * b->n / b->slices) {
        b->slice_t[b->next_slice] = now;
        b->slice_done[b->next_slice] = done;
        b->next_slice++;
    }
    if (pending > b->pending_max)
        b->pending_max = pending;
    if (!force && now - b->last_sample < 0.005)
        return;
    b->last_sample = now;
    long kb = s_rss_kb(b->pid);
    if (kb > b->peak_kb) {
        b->peak_kb = kb;
        b->pending_at_peak = pending;
    }
}

static int s_burst(ipp_client_t *c, ipp_view_t *lb, const s_args_t *a)
{
    ipp_error_t err;
    int rc = 1;
    long n = a->tasks, failed = 0;
    long k = a->slices < 1 ? 1 : a->slices > 100 ? 100 : a->slices;
    if (k > n)
        k = n;
    ipp_ar_t **ars = calloc((size_t)n, sizeof *ars);
    s_burst_t b = {.pid = a->rss_pid, .n = n, .slices = k, .next_slice = 1};
    b.slice_t = calloc((size_t)k + 1, sizeof *b.slice_t);
    b.slice_done = calloc((size_t)k + 1, sizeof *b.slice_done);
    long before_kb = s_rss_kb(a->rss_pid);
    if (!ars || !b.slice_t || !b.slice_done)
        goto out;
    if (before_kb < 0) {
        fprintf(stderr, "bench_e2e: %s: cannot read /proc/%ld/status\n", a->prefix, a->rss_pid);
        goto out;
    }
    b.peak_kb = before_kb;
    double t0 = s_now();
    b.slice_t[0] = t0;
    for (long i = 0; i < n; i++) {
        if (!(ars[i] = ipp_view_apply(lb, "noop", NULL, 0, NULL, &err))) {
            fprintf(stderr, "bench_e2e: %s: submit %ld: %s\n", a->prefix, i, err.msg);
            n = i;
            goto out;
        }
        if ((i & 255) == 0)
            ipp_client_spin(c, 0, NULL);
        if ((i & 4095) == 0)
            s_burst_sample(c, &b, i + 1, false);
    }
    double t1 = s_now();
    s_burst_sample(c, &b, n, true);
    double deadline = t1 + a->timeout;
    while (ipp_client_outstanding(c) > 0) {
        if (s_now() > deadline) {
            fprintf(stderr, "bench_e2e: %s: %zu tasks outstanding after %.0f s\n", a->prefix,
                    ipp_client_outstanding(c), a->timeout);
            goto out;
        }
        if (ipp_client_spin(c, 0.02, &err) != IPP_OK) {
            fprintf(stderr, "bench_e2e: %s: %s\n", a->prefix, err.msg);
            goto out;
        }
        s_burst_sample(c, &b, n, false);
    }
    double t2 = s_now();
    s_burst_sample(c, &b, n, true);
    for (long i = 0; i < n; i++) {
        if (!ipp_ar_successful(ars[i])) {
            if (failed++ < 3)
                fprintf(stderr, "bench_e2e: %s: task %ld: %s\n", a->prefix, i,
                        ipp_status_name(ipp_ar_status(ars[i], 0)));
        }
    }
    printf("%s=%ld\n", s_name(a, "tasks"), n);
    printf("%s=%.0f\n", s_name(a, "tasks_per_s"), (double)n / (t2 - t0));
    printf("%s=%.0f\n", s_name(a, "submit_per_s"), (double)n / (t1 - t0));
    printf("%s=%ld\n", s_name(a, "rss_before_kb"), before_kb);
    printf("%s=%ld\n", s_name(a, "rss_peak_kb"), b.peak_kb);
    printf("%s=%ld\n", s_name(a, "pending_max"), b.pending_max);
    printf("%s=%ld\n", s_name(a, "pending_at_peak"), b.pending_at_peak);
    // What each pending task costs the controller (its queues, records and
    // buffers): the growth to the peak over the most tasks pending at once.
    // The peak comes late — freed memory stays with the process, and
    // SQLite's page cache fills as results are written — while the backlog
    // is largest as the burst ends, so this errs on the high side.
    printf("%s=%.0f\n", s_name(a, "bytes_per_pending"),
           b.pending_max > 0 ? (double)(b.peak_kb - before_kb) * 1024.0 / (double)b.pending_max
                             : -1.0);
    // Completion rate per slice: slice j holds the tasks completed between
    // boundaries j-1 and j (sampled, so a slice's count is not exactly n/k).
    double first = -1, last = -1;
    for (long j = 1; j <= k; j++) {
        double dt = b.slice_t[j] - b.slice_t[j - 1];
        double rate = dt > 0 ? (double)(b.slice_done[j] - b.slice_done[j - 1]) / dt : -1;
        char what[64];
        snprintf(what, sizeof what, "slice%02ld_tasks_per_s", j);
        printf("%s=%.0f\n", s_name(a, what), rate);
        if (j == 1)
            first = rate;
        last = rate;
    }
    printf("%s=%ld\n", s_name(a, "slices"), k);
    printf("%s=%.0f\n", s_name(a, "slice_first_tasks_per_s"), first);
    printf("%s=%.0f\n", s_name(a, "slice_last_tasks_per_s"), last);
    printf("%s=%.2f\n", s_name(a, "slice_ratio"), first > 0 && last > 0 ? last / first : -1.0);
    printf("%s=%ld\n", s_name(a, "failed"), failed);
    rc = failed ? 1 : 0;
out:
    if (ars)
        for (long i = 0; i < n; i++)
            ipp_ar_destroy(&ars[i]);
    free(ars);
    free(b.slice_t);
    free(b.slice_done);
    return rc;
}

// s_read_ids: the lines of path into *ids (one allocation for the text);
// returns how many, -1 on failure.
static long s_read_ids(const char *path, char **text, const char ***ids)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "bench_e2e: %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t cap = 0, len = 0;
    char *buf = NULL;
    for (;;) {
        if (len + 4096 > cap) {
            cap = cap ? cap * 2 : 1 << 20;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return -1;
            }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        if (got == 0)
            break;
        len += got;
    }
    fclose(f);
    buf[len] = '\0';
    long n = 0;
    for (size_t i = 0; i < len; i++)
        n += buf[i] == '\n';
    const char **v = calloc((size_t)n + 1, sizeof *v);
    if (!v) {
        free(buf);
        return -1;
    }
    long m = 0;
    for (char *p = buf, *nl; *p && (nl = strchr(p, '\n')); p = nl + 1) {
        *nl = '\0';
        if (*p)
            v[m++] = p;
    }
    *text = buf;
    *ids = v;
    return m;
}

static double s_median(double *v, long n)
{
    qsort(v, (size_t)n, sizeof *v, s_cmp);
    return v[n / 2];
}

static int s_query(ipp_client_t *c, const s_args_t *a)
{
    ipp_error_t err;
    int rc = 1;
    char *text = NULL;
    const char **ids = NULL;
    long n = s_read_ids(a->ids, &text, &ids);
    double rs_ms[16], q_ms[16];
    long reps = a->repeat < 1 ? 1 : a->repeat > 16 ? 16 : a->repeat;
    size_t completed = 0;
    long rows = 0;
    if (n < 0)
        goto out;
    ipp_client_set_timeout(c, a->timeout);
    for (long r = 0; r < reps; r++) {
        ipp_result_status_t st = {0};
        double t = s_now();
        if (ipp_client_result_status(c, ids, (size_t)n, &st, &err) != IPP_OK) {
            fprintf(stderr, "bench_e2e: result_status: %s\n", err.msg);
            goto out;
        }
        rs_ms[r] = (s_now() - t) * 1e3;
        completed = st.completed.n;
        ipp_result_status_fini(&st);
    }
    char query[512];
    snprintf(query, sizeof query, "{\"label\": {\"$glob\": \"%s\"}}", a->glob);
    static const char *const keys[] = {"msg_id",    "status",    "label",
                                       "submitted", "completed", "engine_id"};
    for (long r = 0; r < reps; r++) {
        char *out = NULL;
        double t = s_now();
        if (ipp_client_db_query(c, query, keys, 6, 0, &out, &err) != IPP_OK) {
            fprintf(stderr, "bench_e2e: db_query: %s\n", err.msg);
            goto out;
        }
        q_ms[r] = (s_now() - t) * 1e3;
        rows = 0;
        for (const char *p = out; p && *p; p++)
            rows += *p == '\n';
        if (out && *out && out[strlen(out) - 1] != '\n')
            rows++;
        free(out);
    }
    printf("%s=%ld\n", s_name(a, "result_status_ids"), n);
    printf("%s=%zu\n", s_name(a, "result_status_completed"), completed);
    printf("%s=%.1f\n", s_name(a, "result_status_first_ms"), rs_ms[0]);
    printf("%s=%.1f\n", s_name(a, "result_status_ms"), s_median(rs_ms, reps));
    printf("%s=%ld\n", s_name(a, "glob_rows"), rows);
    printf("%s=%.1f\n", s_name(a, "glob_first_ms"), q_ms[0]);
    printf("%s=%.1f\n", s_name(a, "glob_ms"), s_median(q_ms, reps));
    rc = 0;
    if ((long)completed != n) {
        fprintf(stderr, "bench_e2e: result_status: %zu of %ld ids completed\n", completed, n);
        rc = 1;
    }
    if (a->expect_rows >= 0 && rows != a->expect_rows) {
        fprintf(stderr, "bench_e2e: db_query %s: %ld rows, expected %ld\n", query, rows,
                a->expect_rows);
        rc = 1;
    }
out:
    free(ids);
    free(text);
    return rc;
}

// s_since: seconds from a CLOCK_REALTIME instant in ns to now.
static double s_since(long long ns)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ((double)ts.tv_sec * 1e9 + (double)ts.tv_nsec - (double)ns) / 1e9;
}

static int s_restart(const s_args_t *a)
{
    ipp_error_t err;
    double deadline = s_now() + a->timeout;
    ipp_client_t *c = NULL;
    double serving = -1, engines = -1;
    const char *probe = "00000000-0000-7000-8000-000000000000";
    // A fresh client per attempt: the connection file may still be the
    // killed controller's until the new one rewrites it.
    while (s_now() < deadline) {
        c = ipp_client_connect(a->profile, 0.2, &err);
        if (c) {
            ipp_result_status_t st = {0};
            ipp_client_set_timeout(c, 0.5);
            ipp_err_t e = ipp_client_result_status(c, &probe, 1, &st, &err);
            ipp_result_status_fini(&st);
            if (e == IPP_OK) {
                serving = s_since(a->since_ns);
                break;
            }
            ipp_client_destroy(&c);
        }
        usleep(10000);
    }
    if (!c) {
        fprintf(stderr, "bench_e2e: restart: no answer within %.0f s: %s\n", a->timeout, err.msg);
        return 1;
    }
    // Follow engine notifications, and ask for the list now and then as
    // well: an engine that registered while this client's subscription
    // was still being set up announced itself to nobody listening.
    int asked = 0, missed = 0;
    while (s_now() < deadline) {
        double slice = a->refresh > 0 ? a->refresh : deadline - s_now();
        if (ipp_client_wait_for_engines(c, (size_t)a->engines, slice, &err) == IPP_OK) {
            engines = s_since(a->since_ns);
            break;
        }
        asked++;
        if (ipp_client_refresh_engines(c, &err) == IPP_OK &&
            ipp_client_ids(c, NULL, 0) >= (size_t)a->engines) {
            engines = s_since(a->since_ns);
            missed = 1;
            break;
        }
    }
    if (engines < 0)
        fprintf(stderr, "bench_e2e: restart: %zu of %ld engines after %.0f s (%s)\n",
                ipp_client_ids(c, NULL, 0), a->engines, a->timeout, err.msg);
    ipp_client_destroy(&c);
    printf("%s=%d\n", s_name(a, "engine_list_requests"), asked);
    printf("%s=%d\n", s_name(a, "engine_event_missed"), missed);
    printf("%s=%.3f\n", s_name(a, "serving_s"), serving);
    printf("%s=%.3f\n", s_name(a, "engines_s"), engines);
    return engines < 0 ? 1 : 0;
}

// ---------------------------------------------------------------- main

static int s_usage(void)
{
    fprintf(stderr, "usage: bench_e2e [e2e|throughput|latency|dag|chain|burst|map|commands|query|"
                    "restart]\n"
                    "  [--profile P] [--prefix NAME] [--engines N] [--timeout S]\n"
                    "  [--tasks N] [--rounds M] [--nodes N] [--parents K] [--seed S] [--label L]\n"
                    "  [--items N] [--ids FILE] [--glob PATTERN] [--expect-rows R] [--repeat K]\n"
                    "  [--since-ns T] [--refresh S] [--rss-pid PID] [--slices K]\n");
    return 2;
}

int main(int argc, char **argv)
{
    s_args_t a = {.mode = "e2e",
                  .profile = "default",
                  .tasks = 20000,
                  .rounds = 2000,
                  .nodes = 10000,
                  .parents = 3,
                  .seed = 1,
                  .items = 100000,
                  .glob = "bench-000000-*",
                  .expect_rows = -1,
                  .repeat = 3,
                  .engines = 2,
                  .refresh = 0.25,
                  .timeout = 600,
                  .slices = 10};
    int i = 1;
    if (argc > 1 && argv[1][0] != '-')
        a.mode = argv[i++];
    for (; i < argc; i++) {
        const char *o = argv[i];
        if (i + 1 >= argc)
            return s_usage();
        const char *v = argv[++i];
        if (strcmp(o, "--profile") == 0)
            a.profile = v;
        else if (strcmp(o, "--prefix") == 0)
            a.prefix = v;
        else if (strcmp(o, "--tasks") == 0)
            a.tasks = strtol(v, NULL, 10);
        else if (strcmp(o, "--rounds") == 0)
            a.rounds = strtol(v, NULL, 10);
        else if (strcmp(o, "--nodes") == 0)
            a.nodes = strtol(v, NULL, 10);
        else if (strcmp(o, "--parents") == 0)
            a.parents = strtol(v, NULL, 10);
        else if (strcmp(o, "--seed") == 0)
            a.seed = strtoul(v, NULL, 10);
        else if (strcmp(o, "--label") == 0)
            a.label = v;
        else if (strcmp(o, "--items") == 0)
            a.items = strtol(v, NULL, 10);
        else if (strcmp(o, "--ids") == 0)
            a.ids = v;
        else if (strcmp(o, "--glob") == 0)
            a.glob = v;
        else if (strcmp(o, "--expect-rows") == 0)
            a.expect_rows = strtol(v, NULL, 10);
        else if (strcmp(o, "--repeat") == 0)
            a.repeat = strtol(v, NULL, 10);
        else if (strcmp(o, "--since-ns") == 0)
            a.since_ns = strtoll(v, NULL, 10);
        else if (strcmp(o, "--engines") == 0)
            a.engines = strtol(v, NULL, 10);
        else if (strcmp(o, "--refresh") == 0)
            a.refresh = strtod(v, NULL);
        else if (strcmp(o, "--rss-pid") == 0)
            a.rss_pid = strtol(v, NULL, 10);
        else if (strcmp(o, "--slices") == 0)
            a.slices = strtol(v, NULL, 10);
        else if (strcmp(o, "--timeout") == 0)
            a.timeout = strtod(v, NULL);
        else
            return s_usage();
    }
    if (a.tasks < 1 || a.rounds < 1 || a.nodes < 1 || a.parents < 1 || a.parents > 64 ||
        a.items < 1 || a.engines < 1 || a.timeout <= 0)
        return s_usage();
    if (!a.prefix)
        a.prefix = a.mode;
    if (strcmp(a.mode, "restart") == 0) {
        if (a.since_ns <= 0)
            return s_usage();
        return s_restart(&a);
    }
    if ((strcmp(a.mode, "query") == 0 && !a.ids) ||
        (strcmp(a.mode, "burst") == 0 && a.rss_pid <= 0))
        return s_usage();

    ipp_error_t err;
    ipp_client_t *c = ipp_client_connect(a.profile, 30, &err);
    if (!c) {
        fprintf(stderr, "bench_e2e: %s\n", err.msg);
        return 3;
    }
    if (ipp_client_wait_for_engines(c, (size_t)a.engines, 60, &err) != IPP_OK) {
        fprintf(stderr, "bench_e2e: %s\n", err.msg);
        ipp_client_destroy(&c);
        return 3;
    }
    ipp_view_t *lb = ipp_client_lb_view(c, &err);
    if (!lb) {
        fprintf(stderr, "bench_e2e: %s\n", err.msg);
        ipp_client_destroy(&c);
        return 1;
    }
    int rc;
    const char *prefix = a.prefix;
    if (strcmp(a.mode, "e2e") == 0) {
        char p1[200], p2[200];
        snprintf(p1, sizeof p1, "%s_throughput", prefix);
        snprintf(p2, sizeof p2, "%s_latency", prefix);
        a.prefix = p1;
        rc = s_throughput(c, lb, &a);
        a.prefix = p2;
        rc |= s_latency(c, lb, &a);
    } else if (strcmp(a.mode, "throughput") == 0) {
        rc = s_throughput(c, lb, &a);
    } else if (strcmp(a.mode, "latency") == 0) {
        rc = s_latency(c, lb, &a);
    } else if (strcmp(a.mode, "dag") == 0) {
        rc = s_dependent(c, lb, &a, false);
    } else if (strcmp(a.mode, "chain") == 0) {
        rc = s_dependent(c, lb, &a, true);
    } else if (strcmp(a.mode, "burst") == 0) {
        rc = s_burst(c, lb, &a);
    } else if (strcmp(a.mode, "map") == 0) {
        rc = s_map(c, &a);
    } else if (strcmp(a.mode, "commands") == 0) {
        rc = s_commands(c, lb, &a);
    } else if (strcmp(a.mode, "query") == 0) {
        rc = s_query(c, &a);
    } else {
        rc = s_usage();
    }
    ipp_view_destroy(&lb);
    ipp_client_destroy(&c);
    return rc;
}
