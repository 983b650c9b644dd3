/* bench_db.c — throughput and latency of the task store (db/).
 *
 * Streams N records through the writer the way the controller does
 * (insert a request; once that is committed, record its result),
 * learning of commits through the writer's eventfd, then times the reads the tools
 * make: result_status of 100,000 ids, a label-glob query and a
 * submission-time range query (warm figures: the best of five), and
 * reports the file size and the bytes written per record.
 * Prints name=value lines. Targets (DESIGN.md): ≥ 200,000 records/s
 * inserted and completed, result_status(100k) ≤ 200 ms, indexed queries
 * ≤ 50 ms.
 *
 * --drop-index NAME (repeatable) drops one of the schema's indexes before
 * the run, to see what it costs each insert and what the reads lose
 * without it (the file is then no longer one the controller would make).
 *
 * Usage: bench_db [--records N] [--dir DIR] [--full] [--keep] [--batch N]
 *                 [--drop-index NAME]...
 */
#include "db/reader.h"
#include "db/writer.h"
#include "proto/clock.h"
#include "proto/msgid.h"

#include <errno.h>
#include <poll.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_BACKLOG_MAX 200000  // the producer waits for commits beyond this backlog
#define S_GROUP 1000          // tasks per label group ("bench-000042-…")
#define S_REPEAT 5            // warm reads timed this often; the best is reported

// Settings from the command line.
typedef struct {
    long records;          // how many tasks
    const char *dir;       // where the database goes (a new temp dir if NULL)
    bool full;             // FULL durability
    bool keep;             // leave the files behind
    long batch;            // writer batch limit (0: its default)
    const char *drop[16];  // indexes to drop before the run
    int n_drop;            // how many
} s_args_t;

static int s_usage(const char *prog)
{
    fprintf(stderr,
            "usage: %s [--records N] [--dir DIR] [--full] [--keep] [--batch N] "
            "[--drop-index NAME]...\n",
            prog);
    return 2;
}

// s_count_batch: the writer's commit hook, used here only to count batches.
static int s_count_batch(void *ctx, uint64_t first, uint64_t last)
{
    (void)first;
    (void)last;
    (*(long *)ctx)++;
    return 0;
}

// s_cpu_us: CPU time (user + system) of the whole process so far, µs.
static double s_cpu_us(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

// s_wchar: bytes this process has passed to write calls so far (the
// wchar line of /proc/self/io), or -1 where that is not available. Over
// the write phase that is the WAL frames and the checkpoints' copies into
// the file: what each record costs the disk, whatever the load around.
static long long s_wchar(void)
{
    FILE *f = fopen("/proc/self/io", "r");
    if (!f)
        return -1;
    char line[128];
    long long v = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "wchar: %lld", &v) == 1)
            break;
    fclose(f);
    return v;
}

static double s_ms(int64_t from_us)
{
    return (double)(ipp_clock_mono_us() - from_us) / 1000.0;
}

// s_settle: optionally wait on the writer's fd, then learn the committed
// seq and drain reports; returns how many seqs failed.
static long s_settle(db_writer_t *w, bool block, uint64_t *committed)
{
    if (block) {
        struct pollfd p = {.fd = db_writer_fd(w), .events = POLLIN};
        poll(&p, 1, 100);
    }
    *committed = db_writer_committed(w);
    long failed = 0;
    db_report_t r;
    while (db_writer_next_report(w, &r)) {
        if (r.err.code != IPP_OK) {
            failed += (long)(r.last_seq - r.first_seq + 1);
            fprintf(stderr, "bench_db: %s\n", r.err.msg);
        }
    }
    return failed;
}

static int s_run(const s_args_t *a, const char *path)
{
    int rc = 1;
    ipp_error_t err;
    ipp_error_clear(&err);
    long n = a->records;
    char(*ids)[IPP_MSGID_LEN + 1] = malloc((size_t)n * sizeof *ids);
    uint64_t *insert_seq = calloc((size_t)n, sizeof *insert_seq);
    db_status_t *st = NULL;
    const char **sample = NULL;
    db_writer_t *w = NULL;
    db_reader_t *rd = NULL;
    if (!ids || !insert_seq)
        goto out;
    ipp_msgid_gen_t gen;
    ipp_msgid_gen_init(&gen);
    for (long i = 0; i < n; i++)
        ipp_msgid_next(&gen, ids[i]);

    long batches = 0;
    db_writer_opts_t opts = {.durability = a->full ? DB_DURABILITY_FULL : DB_DURABILITY_NORMAL,
                             .batch_max = (size_t)a->batch,
                             .fault = s_count_batch,
                             .fault_ctx = &batches};
    if (!(w = db_writer_new(path, &opts, NULL, &err)) || db_writer_start(w, &err))
        goto out;

    uint8_t header[120], content[60], rcontent[40];
    for (size_t i = 0; i < sizeof header; i++)
        header[i] = (uint8_t)(i * 7 + 1);
    memset(content, 'c', sizeof content);
    memset(rcontent, 'r', sizeof rcontent);
    const int64_t t0 = 1750000000000000;  // a fixed epoch: µs
    char label[64], out_text[64];
    long failed = 0;
    uint64_t last = 0, committed = 0;
    long next_insert = 0;  // the next task to submit
    long next_done = 0;    // the next task whose result is recorded
    int64_t start = ipp_clock_mono_us();
    double cpu0 = s_cpu_us();
    long long wchar0 = s_wchar();
    // The controller's pipeline: a request is inserted; the task may run
    // only once that insert is committed (write-ahead rule), so a result
    // is recorded only for tasks whose insert seq has settled.
    while (next_done < n) {
        for (int k = 0; k < 64 && next_insert < n; k++, next_insert++) {
            long i = next_insert;
            snprintf(label, sizeof label, "bench-%06ld-%ld", i / S_GROUP, i % S_GROUP);
            db_request_t req = {
                .msg_id = ids[i],
                .header = {header, sizeof header},
                .content = {content, sizeof content},
                .submitted = t0 + i * 10,
                .client_uuid = "5f0c1c2e-0000-4000-8000-000000000001",
                .queue = "task",
                .label = label,
            };
            if (db_writer_insert(w, &req, &insert_seq[i])) {
                fprintf(stderr, "bench_db: insert refused\n");
                goto out;
            }
            last = insert_seq[i];
        }
        failed += s_settle(w, false, &committed);
        long done_before = next_done;
        for (; next_done < next_insert && insert_seq[next_done] <= committed; next_done++) {
            long j = next_done;
            int len = snprintf(out_text, sizeof out_text, "out %ld\n", j);
            bool fail = j % 100 == 99;
            db_result_t res = {
                .msg_id = ids[j],
                .status = fail ? DB_STATUS_ERROR : DB_STATUS_OK,
                .started = t0 + j * 10 + 5,
                .completed = t0 + j * 10 + 8,
                .received = t0 + j * 10 + 9,
                .stdout_data = {out_text, (size_t)len},
                .ename = fail ? "CommandFailed" : NULL,
                .evalue = fail ? "exit status 1" : NULL,
                .error_engine_id = fail ? 1 : -1,
                .result_content = {rcontent, sizeof rcontent},
            };
            if (db_writer_result(w, &res, &last)) {
                fprintf(stderr, "bench_db: result refused\n");
                goto out;
            }
        }
        // Nothing to do but wait for the writer: sleep on its fd, as the
        // controller's zmq_poll would.
        if ((next_insert == n && next_done == done_before) || db_writer_backlog(w) > S_BACKLOG_MAX)
            failed += s_settle(w, true, &committed);
    }
    if (db_writer_sync(w, last, -1)) {
        fprintf(stderr, "bench_db: the writer stopped early\n");
        goto out;
    }
    double write_ms = s_ms(start);
    failed += s_settle(w, false, &committed);
    db_writer_destroy(&w);
    // CPU for the whole pipeline (producer, writer, checkpointer): what
    // the write path costs whatever else runs on the machine.
    double cpu_us = s_cpu_us() - cpu0;
    long long wchar1 = s_wchar();
    printf("records=%ld\n", n);
    printf("durability=%s\n", a->full ? "full" : "normal");
    printf("insert_complete_ms=%.1f\n", write_ms);
    printf("insert_complete_records_per_s=%.0f\n", (double)n / (write_ms / 1000.0));
    printf("write_failures=%ld\n", failed);
    printf("write_batches=%ld\n", batches);
    printf("write_cpu_us_per_record=%.2f\n", cpu_us / (double)n);
    if (wchar0 >= 0 && wchar1 >= 0)
        printf("write_bytes_per_record=%.0f\n", (double)(wchar1 - wchar0) / (double)n);

    struct stat sb;
    long long bytes = stat(path, &sb) == 0 ? (long long)sb.st_size : -1;
    char wal[4200];  // room for path (at most 4096) and the suffix
    snprintf(wal, sizeof wal, "%s-wal", path);
    if (bytes >= 0 && stat(wal, &sb) == 0)
        bytes += (long long)sb.st_size;
    printf("file_bytes=%lld\n", bytes);
    printf("bytes_per_record=%.1f\n", (double)bytes / (double)n);

    if (!(rd = db_reader_new(path, DB_OPEN_READONLY, NULL, &err)))
        goto out;
    // result_status of 100,000 ids spread over the whole history, one in
    // ten of them unknown.
    long k = n < 100000 ? n : 100000;
    sample = calloc((size_t)k, sizeof *sample);
    st = calloc((size_t)k, sizeof *st);
    if (!sample || !st)
        goto out;
    char(*unknown)[IPP_MSGID_LEN + 1] = malloc((size_t)(k / 10 + 1) * sizeof *unknown);
    if (!unknown)
        goto out;
    unsigned long long x = 88172645463325252ULL;
    for (long i = 0; i < k; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        if (i % 10 == 9) {
            ipp_msgid_next(&gen, unknown[i / 10]);
            sample[i] = unknown[i / 10];
        } else {
            sample[i] = ids[x % (unsigned long long)n];
        }
    }
    start = ipp_clock_mono_us();
    ipp_err_t e = db_reader_result_status(rd, sample, (size_t)k, st, &err);
    double rs_ms = s_ms(start);
    long known = 0;
    for (long i = 0; i < k; i++)
        known += st[i] != DB_STATUS_UNKNOWN;
    free(unknown);
    if (e)
        goto out;
    // Again, with the reader's mapping of the file warm, as in a
    // long-running controller: the best of S_REPEAT, so that other work on
    // the machine does not pass for a cost of the schema.
    double rs_warm_ms = 0;
    for (int r = 0; r < S_REPEAT; r++) {
        start = ipp_clock_mono_us();
        e = db_reader_result_status(rd, sample, (size_t)k, st, &err);
        double ms = s_ms(start);
        if (e)
            goto out;
        if (r == 0 || ms < rs_warm_ms)
            rs_warm_ms = ms;
    }
    printf("result_status_ids=%ld\n", k);
    printf("result_status_known=%ld\n", known);
    printf("result_status_cold_ms=%.1f\n", rs_ms);
    printf("result_status_ms=%.1f\n", rs_warm_ms);

    // A label glob over one group in the middle, and a time range of
    // 1,000 submissions, each read to the end with a typical projection.
    json_t *keys = json_pack("[s,s,s,s,s,s]", "msg_id", "status", "label", "submitted", "completed",
                             "engine_id");
    char pattern[64];
    snprintf(pattern, sizeof pattern, "bench-%06ld-*", (n / 2) / S_GROUP);
    json_t *q1 = json_pack("{s:{s:s}}", "label", "$glob", pattern);
    int64_t lo = t0 + (n / 3) * 10, hi = lo + 1000 * 10;
    json_t *q2 =
        json_pack("{s:{s:I,s:I}}", "submitted", "$gte", (json_int_t)lo, "$lt", (json_int_t)hi);
    json_t *qs[2] = {q1, q2};
    const char *names[2] = {"label_glob", "time_range"};
    for (int qi = 0; qi < 2; qi++) {
        long rows = 0;
        double best = 0;
        for (int r = 0; r < S_REPEAT; r++) {
            start = ipp_clock_mono_us();
            db_cursor_t *c = db_reader_find(rd, qs[qi], keys, 0, &err);
            rows = 0;
            db_record_t *rec = NULL;
            while (c && db_cursor_next(c, &rec, &err) == IPP_OK && rec) {
                rows++;
                db_record_destroy(&rec);
            }
            double ms = s_ms(start);
            db_cursor_destroy(&c);
            if (r == 0 || ms < best)
                best = ms;
        }
        printf("%s_rows=%ld\n", names[qi], rows);
        printf("%s_ms=%.2f\n", names[qi], best);
    }
    json_decref(q1);
    json_decref(q2);
    json_decref(keys);
    rc = 0;
out:
    if (rc && err.code)
        fprintf(stderr, "bench_db: %s\n", err.msg);
    db_reader_destroy(&rd);
    db_writer_destroy(&w);
    free(ids);
    free(insert_seq);
    free(sample);
    free(st);
    return rc;
}

// s_drop: create the database and drop the indexes a names; 0, or 1 with
// a message (an index the schema does not have is an error).
static int s_drop(const s_args_t *a, const char *path)
{
    if (a->n_drop == 0)
        return 0;
    ipp_error_t err;
    db_reader_t *r = db_reader_new(path, DB_OPEN_READWRITE, NULL, &err);
    if (!r) {
        fprintf(stderr, "bench_db: %s\n", err.msg);
        return 1;
    }
    int rc = 0;
    for (int i = 0; i < a->n_drop && rc == 0; i++) {
        char sql[200];
        snprintf(sql, sizeof sql, "DROP INDEX \"%s\"", a->drop[i]);
        char *msg = NULL;
        if (sqlite3_exec(db_reader_sqlite(r), sql, NULL, NULL, &msg) != SQLITE_OK) {
            fprintf(stderr, "bench_db: --drop-index %s: %s\n", a->drop[i], msg ? msg : "failed");
            rc = 1;
        }
        sqlite3_free(msg);
        printf("dropped_index=%s\n", a->drop[i]);
    }
    db_reader_destroy(&r);
    return rc;
}

int main(int argc, char **argv)
{
    s_args_t a = {.records = 1000000};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--records") == 0 && i + 1 < argc) {
            a.records = strtol(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            a.dir = argv[++i];
        } else if (strcmp(argv[i], "--full") == 0) {
            a.full = true;
        } else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc) {
            a.batch = strtol(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--drop-index") == 0 && i + 1 < argc && a.n_drop < 16) {
            a.drop[a.n_drop++] = argv[++i];
        } else if (strcmp(argv[i], "--keep") == 0) {
            a.keep = true;
        } else {
            return s_usage(argv[0]);
        }
    }
    if (a.records < 1)
        return s_usage(argv[0]);
    char tmpl[] = "/tmp/bench_db.XXXXXX";
    const char *dir = a.dir;
    if (!dir && !(dir = mkdtemp(tmpl))) {
        fprintf(stderr, "bench_db: mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/bench.db", dir);
    int rc = s_drop(&a, path) ? 1 : s_run(&a, path);
    if (!a.keep) {
        char f[4200];
        unlink(path);
        snprintf(f, sizeof f, "%s-wal", path);
        unlink(f);
        snprintf(f, sizeof f, "%s-shm", path);
        unlink(f);
        if (!a.dir)
            rmdir(dir);
    } else {
        printf("path=%s\n", path);
    }
    return rc;
}
