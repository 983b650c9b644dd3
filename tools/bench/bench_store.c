/* bench_store.c — the benchmark's direct access to a task database file:
 * filling it with completed records before a controller opens it, and
 * checking afterwards, from what the controller recorded, that a DAG ran
 * in dependency order. Owns only its own writer or read-only reader; it
 * never touches a database a controller writes to except to read it.
 *
 *   bench_store fill --db PATH --records N [--sample K --ids FILE] [--group G]
 *                    [--prefix P]
 *       N completed records through db_writer (the controller's own writer,
 *       so the rows, indexes and audit chain are the real ones), labelled
 *       "bench-GGGGGG-i" in groups of G (default 1000); K of their msg_ids,
 *       picked at random, are written to FILE for result_status.
 *   bench_store order-check --db PATH --label L --nodes N --edges E [--prefix P]
 *       every task labelled L: exactly N of them, all ok, exactly E `after`
 *       edges, and each task started no earlier than every parent
 *       completed (timestamps as the engines reported them). Exit 1 if not.
 *
 * Prints name=value lines.
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
#include <sys/stat.h>

#define S_BACKLOG_MAX 150000  // queued mutations beyond which fill waits for commits

// Command-line settings of both commands.
typedef struct {
    const char *db;      // database path
    long records;        // fill: how many records
    long sample;         // fill: how many ids to write to ids
    const char *ids;     // fill: where the sampled ids go
    long group;          // fill: records per label group
    const char *label;   // order-check: the label of the tasks to check
    long nodes;          // order-check: expected task count
    long edges;          // order-check: expected `after` edge count
    const char *prefix;  // name prefix of the printed figures (fill, dag by default)
} s_args_t;

static int s_usage(void)
{
    fprintf(stderr,
            "usage: bench_store fill --db PATH --records N [--sample K --ids FILE] [--group G]\n"
            "                        [--prefix P]\n"
            "       bench_store order-check --db PATH --label L --nodes N --edges E "
            "[--prefix P]\n");
    return 2;
}

// s_drain: learn the committed seq and count failed mutations; with wait,
// first sleep on the writer's eventfd (at most 100 ms).
static long s_drain(db_writer_t *w, bool wait)
{
    if (wait) {
        struct pollfd p = {.fd = db_writer_fd(w), .events = POLLIN};
        poll(&p, 1, 100);
    }
    (void)db_writer_committed(w);
    long failed = 0;
    db_report_t r;
    while (db_writer_next_report(w, &r)) {
        if (r.err.code != IPP_OK) {
            failed += (long)(r.last_seq - r.first_seq + 1);
            fprintf(stderr, "bench_store: %s\n", r.err.msg);
        }
    }
    return failed;
}

// s_fill: the fill command. Each record goes through the controller's
// three mutations for a call task: insert, assign, result.
static int s_fill(const s_args_t *a)
{
    int rc = 1;
    ipp_error_t err;
    ipp_error_clear(&err);
    long n = a->records;
    char(*ids)[IPP_MSGID_LEN + 1] = malloc((size_t)n * sizeof *ids);
    db_writer_t *w = NULL;
    FILE *f = NULL;
    if (!ids) {
        fprintf(stderr, "bench_store: no memory for %ld ids\n", n);
        goto out;
    }
    ipp_msgid_gen_t gen;
    ipp_msgid_gen_init(&gen);
    db_writer_opts_t opts = {.durability = DB_DURABILITY_NORMAL};
    if (!(w = db_writer_new(a->db, &opts, NULL, &err)) || db_writer_start(w, &err) != IPP_OK)
        goto out;
    // Frames of the sizes a no-op call task has on the wire.
    uint8_t header[110], content[70], rheader[110], rcontent[50];
    for (size_t i = 0; i < sizeof header; i++)
        header[i] = rheader[i] = (uint8_t)(i * 7 + 1);
    memset(content, 'c', sizeof content);
    memset(rcontent, 'r', sizeof rcontent);
    static const char *const engine_uuid[2] = {"0190a1b2-0000-7000-8000-0000000000e0",
                                               "0190a1b2-0000-7000-8000-0000000000e1"};
    const char *client = "0190a1b2-0000-7000-8000-00000000c11e";
    const int64_t t0 = ipp_clock_now_us() - (int64_t)n * 20;
    char label[64];
    long failed = 0;
    uint64_t last = 0;
    int64_t start = ipp_clock_mono_us();
    for (long i = 0; i < n; i++) {
        ipp_msgid_next(&gen, ids[i]);
        snprintf(label, sizeof label, "bench-%06ld-%ld", i / a->group, i % a->group);
        int64_t ts = t0 + i * 20;
        db_request_t req = {
            .msg_id = ids[i],
            .header = {header, sizeof header},
            .content = {content, sizeof content},
            .submitted = ts,
            .client_uuid = client,
            .queue = "task",
            .label = label,
        };
        db_result_t res = {
            .msg_id = ids[i],
            .status = DB_STATUS_OK,
            .started = ts + 5,
            .completed = ts + 8,
            .received = ts + 10,
            .error_engine_id = -1,
            .result_header = {rheader, sizeof rheader},
            .result_content = {rcontent, sizeof rcontent},
        };
        if (db_writer_insert(w, &req, NULL) != IPP_OK ||
            db_writer_assign(w, ids[i], (int32_t)(i & 1), engine_uuid[i & 1], 1, NULL) != IPP_OK ||
            db_writer_result(w, &res, &last) != IPP_OK) {
            fprintf(stderr, "bench_store: the writer refused record %ld\n", i);
            goto out;
        }
        if ((i & 1023) == 0)
            failed += s_drain(w, false);
        while (db_writer_backlog(w) > S_BACKLOG_MAX)
            failed += s_drain(w, true);
    }
    if (db_writer_sync(w, last, 600000) != IPP_OK) {
        fprintf(stderr, "bench_store: the writer did not finish\n");
        goto out;
    }
    failed += s_drain(w, false);
    double secs = (double)(ipp_clock_mono_us() - start) / 1e6;
    db_writer_destroy(&w);
    struct stat sb;
    long long bytes = stat(a->db, &sb) == 0 ? (long long)sb.st_size : -1;
    const char *p = a->prefix ? a->prefix : "fill";
    printf("%s_records=%ld\n", p, n);
    printf("%s_s=%.2f\n", p, secs);
    printf("%s_records_per_s=%.0f\n", p, (double)n / secs);
    printf("%s_failed=%ld\n", p, failed);
    printf("%s_db_bytes=%lld\n", p, bytes);
    if (failed)
        goto out;
    if (a->ids && a->sample > 0) {
        if (!(f = fopen(a->ids, "w"))) {
            fprintf(stderr, "bench_store: %s: %s\n", a->ids, strerror(errno));
            goto out;
        }
        unsigned long long x = 0x9e3779b97f4a7c15ULL;
        for (long i = 0; i < a->sample; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            fprintf(f, "%s\n", ids[x % (unsigned long long)n]);
        }
        if (fclose(f) != 0) {
            f = NULL;
            fprintf(stderr, "bench_store: writing %s failed\n", a->ids);
            goto out;
        }
        f = NULL;
    }
    rc = 0;
out:
    if (err.code)
        fprintf(stderr, "bench_store: %s\n", err.msg);
    if (f)
        fclose(f);
    db_writer_destroy(&w);
    free(ids);
    return rc;
}

// s_count: the single integer a query with one text parameter returns, or
// -1 on an SQLite failure (reported).
static int64_t s_count(sqlite3 *db, const char *sql, const char *param)
{
    sqlite3_stmt *st = NULL;
    int64_t v = -1;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(st, 1, param, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
        v = sqlite3_column_type(st, 0) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, 0);
    else
        fprintf(stderr, "bench_store: %s: %s\n", sql, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return v;
}

// s_order_check: the order-check command.
static int s_order_check(const s_args_t *a)
{
    ipp_error_t err;
    ipp_error_clear(&err);
    db_reader_t *rd = db_reader_new(a->db, DB_OPEN_READONLY, NULL, &err);
    if (!rd) {
        fprintf(stderr, "bench_store: %s\n", err.msg);
        return 1;
    }
    sqlite3 *db = db_reader_sqlite(rd);
    // One read transaction, so the figures describe one state of the file.
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    int64_t nodes = s_count(db, "SELECT count(*) FROM tasks WHERE label = ?1", a->label);
    int64_t not_ok =
        s_count(db, "SELECT count(*) FROM tasks WHERE label = ?1 AND status <> 'ok'", a->label);
    int64_t edges = s_count(db,
                            "SELECT count(*) FROM deps d JOIN tasks t ON t.msg_id = d.task"
                            " WHERE t.label = ?1 AND d.kind = 'after'",
                            a->label);
    // A parent that is missing, never completed, or completed after its
    // child started is a violation; so is a child that never started.
    int64_t bad = s_count(db,
                          "SELECT count(*) FROM deps d JOIN tasks t ON t.msg_id = d.task"
                          " LEFT JOIN tasks p ON p.msg_id = d.depends_on"
                          " WHERE t.label = ?1 AND d.kind = 'after' AND (p.msg_id IS NULL"
                          " OR p.completed IS NULL OR t.started IS NULL"
                          " OR t.started < p.completed)",
                          a->label);
    int64_t gap = s_count(db,
                          "SELECT min(t.started - p.completed) FROM deps d"
                          " JOIN tasks t ON t.msg_id = d.task JOIN tasks p ON p.msg_id ="
                          " d.depends_on WHERE t.label = ?1 AND d.kind = 'after'",
                          a->label);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    db_reader_destroy(&rd);
    const char *p = a->prefix ? a->prefix : "dag";
    printf("%s_db_nodes=%lld\n", p, (long long)nodes);
    printf("%s_db_edges=%lld\n", p, (long long)edges);
    printf("%s_db_not_ok=%lld\n", p, (long long)not_ok);
    printf("%s_db_order_violations=%lld\n", p, (long long)bad);
    printf("%s_db_min_start_after_parent_us=%lld\n", p, (long long)gap);
    bool ok = nodes == a->nodes && edges == a->edges && not_ok == 0 && bad == 0;
    printf("%s_db_order_ok=%d\n", p, ok ? 1 : 0);
    if (!ok)
        fprintf(stderr,
                "bench_store: %s: FAILED: %lld of %ld tasks, %lld of %ld edges, %lld not ok, "
                "%lld started before a parent completed\n",
                p, (long long)nodes, a->nodes, (long long)edges, a->edges, (long long)not_ok,
                (long long)bad);
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return s_usage();
    const char *cmd = argv[1];
    s_args_t a = {.group = 1000, .nodes = -1, .edges = -1};
    for (int i = 2; i < argc; i++) {
        const char *o = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            return s_usage();
        i++;
        if (strcmp(o, "--db") == 0)
            a.db = v;
        else if (strcmp(o, "--records") == 0)
            a.records = strtol(v, NULL, 10);
        else if (strcmp(o, "--sample") == 0)
            a.sample = strtol(v, NULL, 10);
        else if (strcmp(o, "--ids") == 0)
            a.ids = v;
        else if (strcmp(o, "--group") == 0)
            a.group = strtol(v, NULL, 10);
        else if (strcmp(o, "--label") == 0)
            a.label = v;
        else if (strcmp(o, "--nodes") == 0)
            a.nodes = strtol(v, NULL, 10);
        else if (strcmp(o, "--edges") == 0)
            a.edges = strtol(v, NULL, 10);
        else if (strcmp(o, "--prefix") == 0)
            a.prefix = v;
        else
            return s_usage();
    }
    if (!a.db)
        return s_usage();
    if (strcmp(cmd, "fill") == 0) {
        if (a.records < 1 || a.group < 1 || a.sample < 0 || (a.sample > 0 && !a.ids))
            return s_usage();
        return s_fill(&a);
    }
    if (strcmp(cmd, "order-check") == 0) {
        if (!a.label || a.nodes < 0 || a.edges < 0)
            return s_usage();
        return s_order_check(&a);
    }
    return s_usage();
}
