/* test_db_writer.c — the group-commit writer: many small batches, commit
 * notification, failures (injected through the commit hook and a real
 * disk-full), single refused mutations, stop, a writer process killed
 * with SIGKILL mid-stream, and the modes of the files it writes.
 *
 * After every failure the tests check three things: the producer was
 * told (a report with the error), what was committed before is intact,
 * and the writer carries on with later batches.
 */
#include "db/reader.h"
#include "db/writer.h"

#include "testutil.h"

#include <check.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char t_dir[256];
static char t_path[320];

static void t_setup(void)
{
    tu_tmpdir(t_dir, sizeof t_dir, "db_writer");
    snprintf(t_path, sizeof t_path, "%s/tasks.db", t_dir);
}

static void t_teardown(void)
{
    tu_rmtree(t_dir);
}

static void t_id(long i, char out[64])
{
    snprintf(out, 64, "018f0000-0000-7000-8000-%012ld", i);
}

// t_insert_big: task i with a content frame of size bytes.
static ipp_err_t t_insert_n(db_writer_t *w, long i, size_t size, uint64_t *seq)
{
    char id[64], hdr[64];
    t_id(i, id);
    snprintf(hdr, sizeof hdr, "hdr-%ld", i);
    static char content[8192];
    memset(content, 'c', sizeof content);
    db_request_t req = {.msg_id = id,
                        .header = {hdr, strlen(hdr)},
                        .content = {content, size < sizeof content ? size : sizeof content},
                        .submitted = 1000 + i,
                        .client_uuid = "client",
                        .queue = "task",
                        .label = "w"};
    return db_writer_insert(w, &req, seq);
}

static uint64_t t_insert(db_writer_t *w, long i)
{
    uint64_t seq = 0;
    ck_assert_int_eq(t_insert_n(w, i, 16, &seq), IPP_OK);
    return seq;
}

static uint64_t t_complete(db_writer_t *w, long i)
{
    char id[64], out[64];
    t_id(i, id);
    snprintf(out, sizeof out, "out %ld", i);
    db_result_t res = {.msg_id = id,
                       .status = DB_STATUS_OK,
                       .started = 2000 + i,
                       .completed = 3000 + i,
                       .received = 3001 + i,
                       .stdout_data = {out, strlen(out)},
                       .error_engine_id = -1};
    uint64_t seq = 0;
    ck_assert_int_eq(db_writer_result(w, &res, &seq), IPP_OK);
    return seq;
}

static db_writer_t *t_writer(const db_writer_opts_t *opts)
{
    ipp_error_t err;
    db_writer_t *w = db_writer_new(t_path, opts, NULL, &err);
    ck_assert_msg(w != NULL, "writer: %s", err.msg);
    ck_assert_int_eq(db_writer_start(w, &err), IPP_OK);
    return w;
}

static void t_sync_clean(db_writer_t *w)
{
    ck_assert_int_eq(db_writer_sync(w, db_writer_last_seq(w), 30000), IPP_OK);
    db_report_t r;
    while (db_writer_next_report(w, &r))
        ck_assert_msg(r.err.code == IPP_OK, "unexpected failure report: %s", r.err.msg);
}

// t_check_db: integrity_check is ok and the audit chain verifies.
static void t_check_db(void)
{
    ipp_error_t err;
    db_reader_t *r = db_reader_new(t_path, DB_OPEN_READONLY, NULL, &err);
    ck_assert_msg(r != NULL, "%s", err.msg);
    sqlite3_stmt *st;
    ck_assert_int_eq(
        sqlite3_prepare_v2(db_reader_sqlite(r), "PRAGMA integrity_check", -1, &st, NULL),
        SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
    db_audit_report_t rep;
    ck_assert_msg(db_audit_verify(r, &rep, &err) == IPP_OK, "%s", err.msg);
    db_reader_destroy(&r);
}

// t_status: the status of task i (DB_STATUS_UNKNOWN if absent).
static db_status_t t_status(db_reader_t *r, long i)
{
    char id[64];
    t_id(i, id);
    const char *ids[1] = {id};
    db_status_t st;
    ipp_error_t err;
    ck_assert_int_eq(db_reader_result_status(r, ids, 1, &st, &err), IPP_OK);
    return st;
}

// A commit hook counting batches and failing those that overlap [lo, hi].
typedef struct {
    long batches;     // commits attempted
    uint64_t lo, hi;  // seqs whose batches must fail (lo == 0: none)
    int code;         // the SQLite code to fail them with
    long failed;      // batches failed
} t_hook_t;

static int t_hook(void *ctx, uint64_t first, uint64_t last)
{
    t_hook_t *h = ctx;
    h->batches++;
    if (h->lo && first <= h->hi && last >= h->lo) {
        h->failed++;
        return h->code;
    }
    return SQLITE_OK;
}

/* ------------------------------------------------------------ tests */

START_TEST(test_many_small_batches)
{
    t_hook_t hook = {0};
    db_writer_opts_t opts = {.fault = t_hook, .fault_ctx = &hook};
    db_writer_t *w = t_writer(&opts);
    // One mutation per batch.
    for (long i = 0; i < 500; i++) {
        uint64_t seq = t_insert(w, i);
        ck_assert_int_eq(db_writer_sync(w, seq, 10000), IPP_OK);
        ck_assert_uint_ge(db_writer_committed(w), seq);
    }
    ck_assert_int_ge(hook.batches, 500);
    // Then batches of 1..37 mutations, inserts and results mixed.
    long next = 500, done = 0;
    unsigned x = 12345;
    while (next < 3000) {
        x = x * 1103515245u + 12345u;
        long k = 1 + (long)((x >> 16) % 37);
        for (long j = 0; j < k && next < 3000; j++) {
            t_insert(w, next++);
            if (done < next - 5)
                t_complete(w, done++);
        }
        t_sync_clean(w);
    }
    while (done < 3000)
        t_complete(w, done++);
    t_sync_clean(w);
    ck_assert_uint_eq(db_writer_backlog(w), 0);
    db_writer_destroy(&w);

    ipp_error_t err;
    db_reader_t *r = db_reader_new(t_path, DB_OPEN_READONLY, NULL, &err);
    db_strv_t *h = NULL;
    ck_assert_int_eq(db_reader_history(r, &h, &err), IPP_OK);
    ck_assert_uint_eq(h->n, 3000);
    for (size_t i = 0; i < h->n; i++) {
        char id[64];
        t_id((long)i, id);
        ck_assert_str_eq(h->v[i], id);
    }
    db_strv_destroy(&h);
    for (long i = 0; i < 3000; i += 97)
        ck_assert_int_eq(t_status(r, i), DB_STATUS_OK);
    db_reader_destroy(&r);
    t_check_db();
}
END_TEST

START_TEST(test_commit_fd_and_sequence)
{
    db_writer_t *w = t_writer(NULL);
    int fd = db_writer_fd(w);
    ck_assert_int_ge(fd, 0);
    uint64_t a = t_insert(w, 1), b = t_insert(w, 2);
    ck_assert_uint_eq(b, a + 1);
    ck_assert_uint_eq(db_writer_last_seq(w), b);
    // The fd becomes readable once the batch is in.
    uint64_t committed = 0;
    for (int tries = 0; tries < 100 && committed < b; tries++) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        ck_assert_int_ge(poll(&p, 1, 100), 0);
        committed = db_writer_committed(w);
    }
    ck_assert_uint_ge(committed, b);
    // Reading the committed value cleared it: nothing new, not readable.
    struct pollfd p = {.fd = fd, .events = POLLIN};
    ck_assert_int_eq(poll(&p, 1, 0), 0);
    // And committed means readable by another connection.
    ipp_error_t err;
    db_reader_t *r = db_reader_new(t_path, DB_OPEN_READONLY, NULL, &err);
    ck_assert_int_eq(t_status(r, 2), DB_STATUS_PENDING);
    db_reader_destroy(&r);
    db_writer_destroy(&w);
}
END_TEST

START_TEST(test_injected_commit_failure)
{
    const struct {
        int sqlite;
        ipp_err_t ipp;
    } kinds[] = {
        {SQLITE_IOERR, IPP_ERR_DB}, {SQLITE_FULL, IPP_ERR_DB_FULL}, {SQLITE_BUSY, IPP_ERR_BUSY}};
    t_hook_t hook = {0};
    db_writer_opts_t opts = {.fault = t_hook, .fault_ctx = &hook};
    db_writer_t *w = t_writer(&opts);
    long next = 0, done = 0;
    // A: committed.
    for (; next < 10; next++)
        t_insert(w, next);
    for (; done < 5; done++)
        t_complete(w, done);
    t_sync_clean(w);
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        // B: fails at commit.
        uint64_t lo = db_writer_last_seq(w) + 1;
        hook.lo = lo;
        hook.hi = lo + 14;
        hook.code = kinds[k].sqlite;
        long b_first = next;
        for (int j = 0; j < 10; j++)
            t_insert(w, next++);
        for (int j = 0; j < 5; j++)
            t_complete(w, done + j);  // these completions are lost with the batch
        ck_assert_uint_eq(db_writer_last_seq(w), hook.hi);
        ck_assert_int_eq(db_writer_sync(w, hook.hi, 10000), IPP_OK);
        // The producer is told, for exactly B's seqs, with the mapped error.
        uint64_t covered = 0;
        db_report_t rep;
        while (db_writer_next_report(w, &rep)) {
            ck_assert_int_eq(rep.err.code, kinds[k].ipp);
            ck_assert_ptr_nonnull(strstr(rep.err.msg, t_path));
            ck_assert_uint_ge(rep.first_seq, hook.lo);
            ck_assert_uint_le(rep.last_seq, hook.hi);
            covered += rep.last_seq - rep.first_seq + 1;
        }
        ck_assert_uint_eq(covered, 15);
        ck_assert_int_ge(hook.failed, 1);
        hook.lo = hook.hi = 0;
        ipp_error_t err;
        db_reader_t *r = db_reader_new(t_path, DB_OPEN_READONLY, NULL, &err);
        // Nothing of B is there; everything before is intact.
        for (long i = b_first; i < next; i++)
            ck_assert_int_eq(t_status(r, i), DB_STATUS_UNKNOWN);
        for (long i = 0; i < b_first; i++)
            ck_assert_int_eq(t_status(r, i), i < done ? DB_STATUS_OK : DB_STATUS_PENDING);
        db_reader_destroy(&r);
        // C: the writer carries on — the same work again commits.
        next = b_first;
        for (int j = 0; j < 10; j++)
            t_insert(w, next++);
        for (int j = 0; j < 5; j++)
            t_complete(w, done++);
        t_sync_clean(w);
        r = db_reader_new(t_path, DB_OPEN_READONLY, NULL, &err);
        for (long i = 0; i < next; i++)
            ck_assert_int_eq(t_status(r, i), i < done ? DB_STATUS_OK : DB_STATUS_PENDING);
        db_reader_destroy(&r);
    }
    db_writer_destroy(&w);
    // The audit chain skipped the rolled-back results: still one chain.
    t_check_db();
}
END_TEST

START_TEST(test_real_disk_full)
{
    db_writer_opts_t opts = {.max_bytes = 256 * 1024};
    db_writer_t *w = t_writer(&opts);
    for (long i = 0; i < 10; i++)
        t_insert(w, i);
    t_sync_clean(w);
    // Big requests until the file cannot grow.
    ipp_err_t seen = IPP_OK;
    long i = 10;
    for (; i < 400 && seen == IPP_OK; i++) {
        uint64_t seq;
        ck_assert_int_eq(t_insert_n(w, i, 8000, &seq), IPP_OK);
        ck_assert_int_eq(db_writer_sync(w, seq, 10000), IPP_OK);
        db_report_t rep;
        while (db_writer_next_report(w, &rep)) {
            seen = rep.err.code;
            ck_assert_uint_eq(rep.first_seq, seq);
        }
    }
    ck_assert_int_eq(seen, IPP_ERR_DB_FULL);
    // The writer carries on: a mutation that needs no new page commits.
    char id[64];
    t_id(3, id);
    uint64_t seq;
    ck_assert_int_eq(db_writer_started(w, id, 77, &seq), IPP_OK);
    ck_assert_int_eq(db_writer_sync(w, seq, 10000), IPP_OK);
    db_report_t rep;
    ck_assert(!db_writer_next_report(w, &rep));
    db_writer_destroy(&w);
    ipp_error_t err;
    db_reader_t *r = db_reader_new(t_path, DB_OPEN_READONLY, NULL, &err);
    for (long k = 0; k < i - 1; k++)
        ck_assert_int_eq(t_status(r, k), DB_STATUS_PENDING);
    ck_assert_int_eq(t_status(r, i - 1), DB_STATUS_UNKNOWN);
    db_record_t *rec;
    ck_assert_int_eq(db_reader_get(r, id, DB_KEYBIT(DB_KEY_STARTED), &rec, &err), IPP_OK);
    ck_assert_int_eq(rec->started, 77);
    db_record_destroy(&rec);
    db_reader_destroy(&r);
    t_check_db();
}
END_TEST

START_TEST(test_single_refusals_spare_the_batch)
{
    db_writer_t *w = t_writer(NULL);
    t_insert(w, 1);
    t_sync_clean(w);
    char one[64], unknown[64];
    t_id(1, one);
    t_id(99, unknown);
    // One batch: a duplicate insert, a result for an unknown task, a good
    // insert, a result, the same result again, and late updates.
    uint64_t s_dup = t_insert(w, 1);
    db_result_t res = {.msg_id = unknown,
                       .status = DB_STATUS_OK,
                       .started = DB_TIME_NONE,
                       .completed = 5,
                       .received = DB_TIME_NONE};
    uint64_t s_unknown, s_again, s_late, s_resub;
    ck_assert_int_eq(db_writer_result(w, &res, &s_unknown), IPP_OK);
    uint64_t s_good = t_insert(w, 2);
    t_complete(w, 1);
    s_again = t_complete(w, 1);
    ck_assert_int_eq(db_writer_assign(w, one, 1, "e", 2, &s_late), IPP_OK);
    ck_assert_int_eq(db_writer_resubmitted(w, unknown, one, &s_resub), IPP_OK);
    ck_assert_int_eq(db_writer_sync(w, s_resub, 10000), IPP_OK);
    struct {
        uint64_t seq;
        ipp_err_t code;
        const char *needle;
    } want[] = {{s_dup, IPP_ERR_INVALID, "already recorded"},
                {s_unknown, IPP_ERR_NOT_FOUND, unknown},
                {s_again, IPP_ERR_INVALID, "already completed"},
                {s_late, IPP_ERR_NOT_FOUND, one},
                {s_resub, IPP_ERR_NOT_FOUND, unknown}};
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        db_report_t rep;
        ck_assert(db_writer_next_report(w, &rep));
        ck_assert_uint_eq(rep.first_seq, want[k].seq);
        ck_assert_uint_eq(rep.last_seq, want[k].seq);
        ck_assert_int_eq(rep.err.code, want[k].code);
        ck_assert_msg(strstr(rep.err.msg, want[k].needle), "report '%s' lacks '%s'", rep.err.msg,
                      want[k].needle);
    }
    db_report_t rep;
    ck_assert(!db_writer_next_report(w, &rep));
    ck_assert_uint_ge(db_writer_committed(w), s_good);
    // Bad arguments are refused at once, with no seq.
    uint64_t seq = 0;
    db_request_t bad = {.msg_id = NULL};
    ck_assert_int_eq(db_writer_insert(w, &bad, &seq), IPP_ERR_INVALID);
    char longid[200];
    memset(longid, 'x', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    bad.msg_id = longid;
    ck_assert_int_eq(db_writer_insert(w, &bad, &seq), IPP_ERR_INVALID);
    res.msg_id = one;
    res.status = DB_STATUS_PENDING;
    ck_assert_int_eq(db_writer_result(w, &res, &seq), IPP_ERR_INVALID);
    ck_assert_uint_eq(seq, 0);
    db_writer_destroy(&w);
    ipp_error_t err;
    db_reader_t *r = db_reader_new(t_path, DB_OPEN_READONLY, NULL, &err);
    ck_assert_int_eq(t_status(r, 1), DB_STATUS_OK);
    ck_assert_int_eq(t_status(r, 2), DB_STATUS_PENDING);
    db_record_t *rec;
    ck_assert_int_eq(db_reader_get(r, one, DB_KEYS_ALL, &rec, &err), IPP_OK);
    ck_assert_int_eq(rec->attempts, 0);  // the late assignment did not land
    ck_assert_str_eq((char *)rec->stdout_data.data, "out 1");
    db_record_destroy(&rec);
    db_reader_destroy(&r);
    t_check_db();
}
END_TEST

START_TEST(test_stop_commits_everything_queued)
{
    ipp_error_t err;
    // Never started: stop commits the queue in the caller's thread.
    db_writer_t *w = db_writer_new(t_path, NULL, NULL, &err);
    ck_assert_ptr_nonnull(w);
    for (long i = 0; i < 100; i++)
        t_insert(w, i);
    db_writer_stop(w);
    ck_assert_uint_eq(db_writer_committed(w), 100);
    uint64_t seq;
    ck_assert_int_eq(t_insert_n(w, 1000, 1, &seq), IPP_ERR_CLOSED);
    ck_assert_int_eq(db_writer_sync(w, 101, 100), IPP_ERR_CLOSED);
    ck_assert_int_eq(db_writer_start(w, &err), IPP_ERR_INVALID);
    db_writer_destroy(&w);
    // Started: destroy right after a burst still commits all of it.
    w = t_writer(NULL);
    for (long i = 100; i < 5000; i++) {
        t_insert(w, i);
        if (i % 3 == 0)
            t_complete(w, i);
    }
    db_writer_destroy(&w);
    ck_assert_ptr_null(w);
    db_reader_t *r = db_reader_new(t_path, DB_OPEN_READONLY, NULL, &err);
    db_strv_t *h = NULL;
    ck_assert_int_eq(db_reader_history(r, &h, &err), IPP_OK);
    ck_assert_uint_eq(h->n, 5000);
    db_strv_destroy(&h);
    ck_assert_int_eq(t_status(r, 4998), DB_STATUS_OK);
    ck_assert_int_eq(t_status(r, 4999), DB_STATUS_PENDING);
    db_reader_destroy(&r);
    t_check_db();
}
END_TEST

START_TEST(test_full_durability)
{
    db_writer_opts_t opts = {.durability = DB_DURABILITY_FULL};
    db_writer_t *w = t_writer(&opts);
    for (long i = 0; i < 50; i++) {
        t_insert(w, i);
        t_complete(w, i);
    }
    t_sync_clean(w);
    db_writer_destroy(&w);
    ipp_error_t err;
    db_reader_t *r = db_reader_new(t_path, DB_OPEN_READONLY, NULL, &err);
    ck_assert_int_eq(t_status(r, 49), DB_STATUS_OK);
    db_reader_destroy(&r);
}
END_TEST

// t_assign_then_finish: on the database at path, task 1 inserted,
// assigned and finished, task 2 inserted and assigned, and an assignment
// and a result for unknown task 3; in one batch when batched, else with a
// commit after every mutation. Returns the reports' (seq, code) pairs.
static int t_assign_then_finish(const char *path, bool batched, uint64_t seqs[8], int codes[8])
{
    ipp_error_t err;
    db_writer_t *w = db_writer_new(path, NULL, NULL, &err);
    ck_assert_ptr_nonnull(w);
    if (!batched)
        ck_assert_int_eq(db_writer_start(w, &err), IPP_OK);
    char one[64], two[64], three[64];
    t_id(1, one);
    t_id(2, two);
    t_id(3, three);
    uint64_t s;
    ck_assert_int_eq(t_insert_n(w, 1, 16, &s), IPP_OK);
    ck_assert_int_eq(db_writer_assign(w, one, 7, "engine-7", 2, &s), IPP_OK);
    ck_assert_int_eq(t_insert_n(w, 2, 16, &s), IPP_OK);
    db_result_t res = {.msg_id = one,
                       .status = DB_STATUS_OK,
                       .started = 20,
                       .completed = 30,
                       .received = 31,
                       .stdout_data = {"done", 4},
                       .error_engine_id = -1};
    ck_assert_int_eq(db_writer_result(w, &res, &s), IPP_OK);
    ck_assert_int_eq(db_writer_assign(w, two, 8, "engine-8", 1, &s), IPP_OK);
    ck_assert_int_eq(db_writer_assign(w, three, 8, "engine-8", 1, &s), IPP_OK);
    res.msg_id = three;
    ck_assert_int_eq(db_writer_result(w, &res, &s), IPP_OK);
    if (batched)
        db_writer_stop(w);  // never started: the whole queue is one batch
    else
        ck_assert_int_eq(db_writer_sync(w, s, 10000), IPP_OK);
    int n = 0;
    db_report_t rep;
    while (n < 8 && db_writer_next_report(w, &rep)) {
        seqs[n] = rep.first_seq;
        codes[n++] = rep.err.code;
    }
    db_writer_destroy(&w);
    return n;
}

START_TEST(test_assignment_folds_into_result)
{
    uint64_t seqs[2][8];
    int codes[2][8];
    char other[400];
    snprintf(other, sizeof other, "%s/one-by-one.db", t_dir);
    int n0 = t_assign_then_finish(t_path, true, seqs[0], codes[0]);
    int n1 = t_assign_then_finish(other, false, seqs[1], codes[1]);
    // The same refusals either way: both mutations of the unknown task.
    ck_assert_int_eq(n0, 2);
    ck_assert_int_eq(n1, 2);
    for (int k = 0; k < 2; k++) {
        uint64_t lo = seqs[k][0] < seqs[k][1] ? seqs[k][0] : seqs[k][1];
        uint64_t hi = seqs[k][0] < seqs[k][1] ? seqs[k][1] : seqs[k][0];
        ck_assert_uint_eq(lo, 6);
        ck_assert_uint_eq(hi, 7);
        ck_assert_int_eq(codes[k][0], IPP_ERR_NOT_FOUND);
        ck_assert_int_eq(codes[k][1], IPP_ERR_NOT_FOUND);
    }
    // The same records, down to the audit hash.
    ipp_error_t err;
    db_reader_t *a = db_reader_new(t_path, DB_OPEN_READONLY, NULL, &err);
    db_reader_t *b = db_reader_new(other, DB_OPEN_READONLY, NULL, &err);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    for (long i = 1; i <= 2; i++) {
        char id[64];
        t_id(i, id);
        db_record_t *ra, *rb;
        ck_assert_int_eq(db_reader_get(a, id, DB_KEYS_ALL, &ra, &err), IPP_OK);
        ck_assert_int_eq(db_reader_get(b, id, DB_KEYS_ALL, &rb, &err), IPP_OK);
        ck_assert_int_eq(ra->engine_id, i == 1 ? 7 : 8);
        ck_assert_int_eq(ra->attempts, i == 1 ? 2 : 1);
        ck_assert_str_eq(ra->engine_uuid, rb->engine_uuid);
        ck_assert_int_eq(ra->status, rb->status);
        ck_assert_int_eq(ra->chain_seq, rb->chain_seq);
        ck_assert_uint_eq(ra->chain_hash.size, rb->chain_hash.size);
        if (ra->chain_hash.size)
            ck_assert_mem_eq(ra->chain_hash.data, rb->chain_hash.data, ra->chain_hash.size);
        db_record_destroy(&ra);
        db_record_destroy(&rb);
    }
    db_audit_report_t rep;
    ck_assert_msg(db_audit_verify(a, &rep, &err) == IPP_OK, "%s", err.msg);
    ck_assert_int_eq(rep.checked, 1);
    db_reader_destroy(&a);
    db_reader_destroy(&b);
    unlink(other);
}
END_TEST

// t_crash_child: a writer process streaming inserts and results, writing
// every committed seq it learns of to fd. Never returns.
static void t_crash_child(int fd)
{
    ipp_error_t err;
    db_writer_t *w = db_writer_new(t_path, NULL, NULL, &err);
    if (!w || db_writer_start(w, &err))
        _exit(2);
    uint64_t sent = 0;
    for (long i = 0;; i++) {
        uint64_t s1, s2;
        // Task i is seq 2i+1, its result seq 2i+2.
        if (t_insert_n(w, i, 64, &s1) || s1 != (uint64_t)(2 * i + 1))
            _exit(3);
        char id[64], out[64];
        t_id(i, id);
        snprintf(out, sizeof out, "out %ld", i);
        db_result_t res = {.msg_id = id,
                           .status = DB_STATUS_OK,
                           .started = DB_TIME_NONE,
                           .completed = 3000 + i,
                           .received = DB_TIME_NONE,
                           .stdout_data = {out, strlen(out)}};
        if (db_writer_result(w, &res, &s2) || s2 != (uint64_t)(2 * i + 2))
            _exit(4);
        if (i % 8 == 0) {
            if (db_writer_backlog(w) > 20000) {
                struct pollfd p = {.fd = db_writer_fd(w), .events = POLLIN};
                poll(&p, 1, 50);
            }
            uint64_t c = db_writer_committed(w);
            db_report_t rep;
            if (db_writer_next_report(w, &rep))
                _exit(5);
            if (c > sent) {
                if (write(fd, &c, sizeof c) != (ssize_t)sizeof c)
                    _exit(6);
                sent = c;
            }
        }
    }
}

START_TEST(test_manual_wake_and_run_small)
{
    db_writer_opts_t o = {.manual_wake = true};
    db_writer_t *w = t_writer(&o);
    int fd = db_writer_fd(w);
    (void)db_writer_committed(w);  // clears the eventfd
    // Once the thread sleeps (it has had nothing to do since it started),
    // an op queued without a wake stays queued until asked for.
    usleep(200 * 1000);
    uint64_t a = t_insert(w, 1);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    ck_assert_int_eq(poll(&p, 1, 100), 0);
    ck_assert_uint_lt(db_writer_committed(w), a);
    // A few ops with the writer idle: applied on this thread, settled on
    // return, the eventfd left alone.
    uint64_t b = t_insert(w, 2);
    ck_assert(db_writer_run_small(w, 4));
    ck_assert_uint_ge(db_writer_committed(w), b);
    ck_assert_int_eq(poll(&p, 1, 0), 0);
    ipp_error_t err;
    db_reader_t *r = db_reader_new(t_path, DB_OPEN_READONLY, NULL, &err);
    ck_assert_msg(r != NULL, "%s", err.msg);
    ck_assert_int_eq(t_status(r, 1), DB_STATUS_PENDING);
    ck_assert_int_eq(t_status(r, 2), DB_STATUS_PENDING);
    // Nothing queued: nothing to do.
    ck_assert(!db_writer_run_small(w, 4));
    // A refusal applied here is reported like one from the writer thread.
    uint64_t dup = t_insert(w, 1);
    uint64_t c = t_complete(w, 2);
    ck_assert(db_writer_run_small(w, 4));
    ck_assert_uint_ge(db_writer_committed(w), c);
    db_report_t rep;
    ck_assert(db_writer_next_report(w, &rep));
    ck_assert_uint_eq(rep.first_seq, dup);
    ck_assert_int_eq(rep.err.code, IPP_ERR_INVALID);
    ck_assert(!db_writer_next_report(w, &rep));
    ck_assert_int_eq(t_status(r, 2), DB_STATUS_OK);
    // More than max_ops: handed to the writer thread, which is woken and
    // signals the eventfd.
    uint64_t last = 0;
    for (long i = 10; i < 20; i++)
        last = t_insert(w, i);
    ck_assert(!db_writer_run_small(w, 4));
    uint64_t committed = 0;
    for (int tries = 0; tries < 100 && committed < last; tries++) {
        ck_assert_int_ge(poll(&p, 1, 100), 0);
        committed = db_writer_committed(w);
    }
    ck_assert_uint_ge(committed, last);
    ck_assert_int_eq(t_status(r, 19), DB_STATUS_PENDING);
    // db_writer_sync wakes the thread for what was queued without a wake.
    uint64_t d = t_complete(w, 19);
    ck_assert_int_eq(db_writer_sync(w, d, 10000), IPP_OK);
    ck_assert_int_eq(t_status(r, 19), DB_STATUS_OK);
    db_reader_destroy(&r);
    // Stopping commits what is still queued.
    t_complete(w, 10);
    db_writer_destroy(&w);
    r = db_reader_new(t_path, DB_OPEN_READONLY, NULL, &err);
    ck_assert_int_eq(t_status(r, 10), DB_STATUS_OK);
    db_reader_destroy(&r);
    t_check_db();
}
END_TEST

// Thousands of one-task commits, as at low load: the checkpointer keeps
// the WAL from growing without bound, and everything is readable after.
START_TEST(test_small_commits_keep_the_wal_bounded)
{
    db_writer_opts_t o = {.manual_wake = true};
    db_writer_t *w = t_writer(&o);
    long n = 6000;
    for (long i = 0; i < n; i++) {
        // On this thread, unless the writer thread took them first (it may
        // be awake: just started, or woken spuriously): then it commits them.
        uint64_t seq = t_insert(w, i);
        if (!db_writer_run_small(w, 8))
            ck_assert_int_eq(db_writer_sync(w, seq, 10000), IPP_OK);
        seq = t_complete(w, i);
        if (!db_writer_run_small(w, 8))
            ck_assert_int_eq(db_writer_sync(w, seq, 10000), IPP_OK);
    }
    db_report_t rep;
    ck_assert(!db_writer_next_report(w, &rep));
    char wal[512];
    snprintf(wal, sizeof wal, "%s-wal", t_path);
    struct stat sb;
    ck_assert_int_eq(stat(wal, &sb), 0);
    // The writer checkpoints itself past 32,000 pages of 4 KiB at worst.
    ck_assert_int_lt(sb.st_size, 40000LL * 4096);
    db_writer_destroy(&w);
    ipp_error_t err;
    db_reader_t *r = db_reader_new(t_path, DB_OPEN_READONLY, NULL, &err);
    ck_assert_int_eq(t_status(r, 0), DB_STATUS_OK);
    ck_assert_int_eq(t_status(r, n - 1), DB_STATUS_OK);
    db_reader_destroy(&r);
    t_check_db();
}
END_TEST

START_TEST(test_sigkill_mid_stream)
{
    int pfd[2];
    ck_assert_int_eq(pipe(pfd), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(pfd[0]);
        t_crash_child(pfd[1]);
    }
    close(pfd[1]);
    uint64_t committed = 0, v;
    while (committed < 6000) {
        ssize_t n = read(pfd[0], &v, sizeof v);
        ck_assert_msg(n == (ssize_t)sizeof v, "the writer process died early");
        committed = v;
    }
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    // Whatever it reported before dying counts too.
    while (read(pfd[0], &v, sizeof v) == (ssize_t)sizeof v)
        if (v > committed)
            committed = v;
    close(pfd[0]);

    // Reopen as a restarted controller would (this recovers the WAL).
    ipp_error_t err;
    db_writer_t *w = db_writer_new(t_path, NULL, NULL, &err);
    ck_assert_msg(w != NULL, "%s", err.msg);
    db_writer_destroy(&w);
    db_reader_t *r = db_reader_new(t_path, DB_OPEN_READONLY, NULL, &err);
    ck_assert_ptr_nonnull(r);
    long tasks = (long)(committed + 1) / 2;
    for (long i = 0; i < tasks; i++) {
        char id[64];
        t_id(i, id);
        db_record_t *rec = NULL;
        ck_assert_msg(db_reader_get(r, id, DB_KEYS_ALL, &rec, &err) == IPP_OK,
                      "task %ld (seq %ld) was reported committed but is missing", i, 2 * i + 1);
        char hdr[64];
        snprintf(hdr, sizeof hdr, "hdr-%ld", i);
        ck_assert_str_eq((char *)rec->header.data, hdr);
        if ((uint64_t)(2 * i + 2) <= committed) {
            char out[64];
            snprintf(out, sizeof out, "out %ld", i);
            ck_assert_int_eq(rec->status, DB_STATUS_OK);
            ck_assert_str_eq((char *)rec->stdout_data.data, out);
        }
        db_record_destroy(&rec);
    }
    // Anything committed but not yet reported is whole as well.
    db_cursor_t *c = db_reader_find_text(r, "{}", NULL, 0, &err);
    db_record_t *rec;
    long seen = 0;
    while (db_cursor_next(c, &rec, &err) == IPP_OK && rec) {
        long i = atol(rec->msg_id + 24);
        char hdr[64];
        snprintf(hdr, sizeof hdr, "hdr-%ld", i);
        ck_assert_str_eq((char *)rec->header.data, hdr);
        ck_assert_uint_eq(rec->content.size, 64);
        db_record_destroy(&rec);
        seen++;
    }
    db_cursor_destroy(&c);
    ck_assert_int_ge(seen, tasks);
    db_reader_destroy(&r);
    t_check_db();
}
END_TEST

// t_mode: the permission bits of path plus suffix; -1 if it is missing.
static int t_mode(const char *suffix)
{
    char p[512];
    snprintf(p, sizeof p, "%s%s", t_path, suffix);
    struct stat sb;
    if (stat(p, &sb) != 0)
        return -1;
    return (int)(sb.st_mode & 07777);
}

// t_count_lines: lines of f (read from the start) that contain needle.
static int t_count_lines(FILE *f, const char *needle)
{
    char line[1024];
    int n = 0;
    fflush(f);
    rewind(f);
    while (fgets(line, sizeof line, f))
        if (strstr(line, needle))
            n++;
    return n;
}

START_TEST(test_new_files_are_owner_only)
{
    // The umask most systems start with would leave 0644.
    mode_t old = umask(022);
    db_writer_t *w = t_writer(NULL);
    t_insert(w, 1);
    t_sync_clean(w);
    // While the writer is open all three exist.
    const char *files[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++)
        ck_assert_msg(t_mode(files[i]) == 0600, "tasks.db%s has mode %04o, want 0600", files[i],
                      (unsigned)t_mode(files[i]));
    db_writer_destroy(&w);
    umask(old);
}
END_TEST

START_TEST(test_wider_modes_are_narrowed_once)
{
    db_writer_t *w = t_writer(NULL);
    t_insert(w, 1);
    t_sync_clean(w);
    // A reader still open keeps the -wal and -shm after the writer goes,
    // as a killed controller would leave them.
    ipp_error_t err;
    db_reader_t *r = db_reader_new(t_path, DB_OPEN_READONLY, NULL, &err);
    ck_assert_msg(r != NULL, "reader: %s", err.msg);
    db_writer_destroy(&w);
    const char *files[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s%s", t_path, files[i]);
        ck_assert_int_eq(chmod(p, 0644), 0);
    }

    FILE *logf = tmpfile();
    ck_assert_ptr_nonnull(logf);
    ipp_logger_t lg = {IPP_LOG_DEBUG, logf, "test"};
    w = db_writer_new(t_path, NULL, &lg, &err);
    ck_assert_msg(w != NULL, "writer: %s", err.msg);
    for (int i = 0; i < 3; i++)
        ck_assert_msg(t_mode(files[i]) == 0600, "tasks.db%s has mode %04o, want 0600", files[i],
                      (unsigned)t_mode(files[i]));
    ck_assert_int_eq(t_count_lines(logf, "mode 0600"), 1);
    ck_assert_int_eq(t_count_lines(logf, "its -wal 0644"), 1);
    // Opening it again (as the controller's own reader does) says nothing more.
    db_reader_t *rw = db_reader_new(t_path, DB_OPEN_READWRITE, &lg, &err);
    ck_assert_msg(rw != NULL, "reader: %s", err.msg);
    ck_assert_int_eq(t_count_lines(logf, "mode 0600"), 1);
    // The data is all still there.
    ck_assert_int_eq(t_status(rw, 1), DB_STATUS_PENDING);
    db_reader_destroy(&rw);
    db_writer_destroy(&w);
    db_reader_destroy(&r);
    fclose(logf);
}
END_TEST

static Suite *t_suite(void)
{
    Suite *s = suite_create("db_writer");
    TCase *tc = tcase_create("writer");
    tcase_add_checked_fixture(tc, t_setup, t_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_many_small_batches);
    tcase_add_test(tc, test_commit_fd_and_sequence);
    tcase_add_test(tc, test_injected_commit_failure);
    tcase_add_test(tc, test_real_disk_full);
    tcase_add_test(tc, test_single_refusals_spare_the_batch);
    tcase_add_test(tc, test_stop_commits_everything_queued);
    tcase_add_test(tc, test_full_durability);
    tcase_add_test(tc, test_assignment_folds_into_result);
    tcase_add_test(tc, test_manual_wake_and_run_small);
    tcase_add_test(tc, test_small_commits_keep_the_wal_bounded);
    tcase_add_test(tc, test_sigkill_mid_stream);
    tcase_add_test(tc, test_new_files_are_owner_only);
    tcase_add_test(tc, test_wider_modes_are_narrowed_once);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(t_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
