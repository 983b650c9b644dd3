/* bench_e2e.c — end-to-end figures through libipp against a running
 * cluster: no-op call tasks on a load-balanced view, submitted as fast as
 * the client can and all awaited (tasks/s and submit rate), and sequential
 * apply-and-wait round trips (p50, p99). Prints name=value lines.
 *
 * Usage: bench_e2e [--profile P] [--tasks N] [--rounds M] [--prefix NAME]
 */
#include "ipp/ipp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int s_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    const char *profile = "default";
    const char *prefix = "e2e";
    long tasks = 20000, rounds = 2000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--profile") == 0 && i + 1 < argc)
            profile = argv[++i];
        else if (strcmp(argv[i], "--tasks") == 0 && i + 1 < argc)
            tasks = strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
            rounds = strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--prefix") == 0 && i + 1 < argc)
            prefix = argv[++i];
        else {
            fprintf(stderr, "usage: bench_e2e [--profile P] [--tasks N] [--rounds M] [--prefix NAME]\n");
            return 2;
        }
    }
    ipp_error_t err;
    ipp_client_t *c = ipp_client_connect(profile, 10, &err);
    if (!c) {
        fprintf(stderr, "bench_e2e: %s\n", err.msg);
        return 3;
    }
    if (ipp_client_wait_for_engines(c, 1, 30, &err) != IPP_OK) {
        fprintf(stderr, "bench_e2e: %s\n", err.msg);
        return 3;
    }
    ipp_view_t *lb = ipp_client_lb_view(c, &err);
    if (!lb) {
        fprintf(stderr, "bench_e2e: %s\n", err.msg);
        return 1;
    }
    int rc = 0;
    // Throughput.
    ipp_ar_t **ars = calloc((size_t)tasks, sizeof *ars);
    double t0 = s_now();
    for (long i = 0; i < tasks; i++) {
        ars[i] = ipp_view_apply(lb, "noop", NULL, 0, NULL, &err);
        if (!ars[i]) {
            fprintf(stderr, "bench_e2e: submit %ld: %s\n", i, err.msg);
            return 1;
        }
        if ((i & 255) == 0)
            ipp_client_spin(c, 0, NULL);
    }
    double t1 = s_now();
    long failed = 0;
    for (long i = 0; i < tasks; i++) {
        if (ipp_ar_wait(ars[i], 120, &err) != IPP_OK || !ipp_ar_successful(ars[i]))
            failed++;
    }
    double t2 = s_now();
    for (long i = 0; i < tasks; i++)
        ipp_ar_destroy(&ars[i]);
    free(ars);
    printf("%s_throughput_tasks=%ld\n", prefix, tasks);
    printf("%s_throughput_tasks_per_s=%.0f\n", prefix, (double)tasks / (t2 - t0));
    printf("%s_submit_per_s=%.0f\n", prefix, (double)tasks / (t1 - t0));
    printf("%s_throughput_failed=%ld\n", prefix, failed);
    if (failed)
        rc = 1;
    // Latency.
    double *lat = calloc((size_t)rounds, sizeof *lat);
    for (long i = 0; i < rounds; i++) {
        double a = s_now();
        ipp_ar_t *ar = ipp_view_apply(lb, "noop", NULL, 0, NULL, &err);
        if (!ar || ipp_ar_wait(ar, 30, &err) != IPP_OK || !ipp_ar_successful(ar)) {
            fprintf(stderr, "bench_e2e: round %ld: %s\n", i, err.msg);
            rc = 1;
        }
        ipp_ar_destroy(&ar);
        lat[i] = (s_now() - a) * 1e6;
    }
    qsort(lat, (size_t)rounds, sizeof *lat, s_cmp);
    printf("%s_latency_p50_us=%.0f\n", prefix, lat[rounds / 2]);
    printf("%s_latency_p99_us=%.0f\n", prefix, lat[(rounds * 99) / 100]);
    free(lat);
    ipp_view_destroy(&lb);
    ipp_client_destroy(&c);
    return rc;
}
