/* test_db_audit.c — the audit chain over completed records: it verifies
 * after normal work and across recorded purges and drops, and it names
 * the record when one was altered, removed, or inserted behind the
 * writer's back (simulated here with plain SQL on the file).
 */
#include "db/reader.h"
#include "db/writer.h"

#include "testutil.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char t_dir[256];
static char t_path[320];

static void t_setup(void)
{
    tu_tmpdir(t_dir, sizeof t_dir, "db_audit");
    snprintf(t_path, sizeof t_path, "%s/tasks.db", t_dir);
}

static void t_teardown(void)
{
    tu_rmtree(t_dir);
}

static void t_id(int i, char out[64])
{
    snprintf(out, 64, "018f0000-0000-7000-8000-%012d", i);
}

// t_fill: n tasks, all completed except the last two, then closed.
static void t_fill(int n)
{
    ipp_error_t err;
    db_writer_t *w = db_writer_new(t_path, NULL, NULL, &err);
    ck_assert_ptr_nonnull(w);
    ck_assert_int_eq(db_writer_start(w, &err), IPP_OK);
    for (int i = 0; i < n; i++) {
        char id[64], out[64];
        t_id(i, id);
        snprintf(out, sizeof out, "out %d", i);
        db_blob_t buf = {"payload", 7};
        db_request_t req = {.msg_id = id,
                            .header = {"h", 1},
                            .content = {out, strlen(out)},
                            .buffers = &buf,
                            .n_buffers = 1,
                            .submitted = 100 + i,
                            .client_uuid = "c",
                            .queue = "task"};
        // Even tasks name their submitter (a key or a self-declared user),
        // odd ones do not, as records written before schema version 3.
        if (i % 2 == 0) {
            req.submitted_by = i % 4 ? "bob" : "alice";
            req.submitted_by_key = i % 4 == 0;
        }
        ck_assert_int_eq(db_writer_insert(w, &req, NULL), IPP_OK);
        if (i >= n - 2)
            continue;
        ck_assert_int_eq(db_writer_assign(w, id, i % 2, "e", 1, NULL), IPP_OK);
        db_result_t res = {.msg_id = id,
                           .status = i % 5 ? DB_STATUS_OK : DB_STATUS_ERROR,
                           .started = 200 + i,
                           .completed = 300 + i,
                           .received = 301 + i,
                           .stdout_data = {out, strlen(out)},
                           .ename = i % 5 ? NULL : "Boom",
                           .evalue = i % 5 ? NULL : "it broke",
                           .error_engine_id = i % 2,
                           .result_content = {"r", 1}};
        ck_assert_int_eq(db_writer_result(w, &res, NULL), IPP_OK);
    }
    ck_assert_int_eq(db_writer_sync(w, db_writer_last_seq(w), 20000), IPP_OK);
    db_report_t rep;
    ck_assert(!db_writer_next_report(w, &rep));
    db_writer_destroy(&w);
}

static void t_raw(const char *sql)
{
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(t_path, &db), SQLITE_OK);
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, msg ? msg : "");
    sqlite3_free(msg);
    sqlite3_close(db);
}

// t_raw_int: the integer the query sql gives.
static long long t_raw_int(const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    ck_assert_int_eq(sqlite3_open(t_path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    long long v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

// t_fill_again: a fresh file of 12 tasks, as test_submitter_is_covered
// starts from.
static void t_fill_again(void)
{
    unlink(t_path);
    char side[400];
    snprintf(side, sizeof side, "%s-wal", t_path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", t_path);
    unlink(side);
    t_fill(12);
}

// t_verify: run the verification on a fresh read-only reader.
static ipp_err_t t_verify(db_audit_report_t *rep, ipp_error_t *err)
{
    db_reader_t *r = db_reader_new(t_path, DB_OPEN_READONLY, NULL, err);
    ck_assert_msg(r != NULL, "%s", err->msg);
    ipp_err_t rc = db_audit_verify(r, rep, err);
    db_reader_destroy(&r);
    return rc;
}

// t_expect_broken: verification fails naming id (and the message has needle).
static void t_expect_broken(const char *id, const char *needle)
{
    db_audit_report_t rep;
    ipp_error_t err;
    ck_assert_int_eq(t_verify(&rep, &err), IPP_ERR_AUDIT);
    ck_assert_msg(strstr(err.msg, id) != NULL, "'%s' does not name %s", err.msg, id);
    ck_assert_msg(strstr(err.msg, needle) != NULL, "'%s' does not say '%s'", err.msg, needle);
    ck_assert_str_eq(rep.bad_msg_id, id);
}

// The submitter is covered: renaming it, removing it, adding one to a
// record that had none, or calling a self-declared name a key's all break
// the chain at that record.
START_TEST(test_submitter_is_covered)
{
    t_fill(12);
    db_audit_report_t rep;
    ipp_error_t err;
    ck_assert_msg(t_verify(&rep, &err) == IPP_OK, "%s", err.msg);
    ck_assert_int_eq(t_raw_int("SELECT count(*) FROM tasks WHERE submitted_by = 'alice'"
                               " AND submitted_by_key = 1"),
                     3);
    static const char *const edits[] = {
        "UPDATE tasks SET submitted_by = 'mallory' WHERE chain_seq = 5",
        "UPDATE tasks SET submitted_by = NULL, submitted_by_key = NULL WHERE chain_seq = 5",
        "UPDATE tasks SET submitted_by = 'alice', submitted_by_key = 1 WHERE chain_seq = 4",
        "UPDATE tasks SET submitted_by_key = 1 WHERE chain_seq = 3",
    };
    for (size_t i = 0; i < sizeof edits / sizeof *edits; i++) {
        t_fill_again();
        t_raw(edits[i]);
        char id[64];
        t_id(i == 0 || i == 1 ? 4 : i == 2 ? 3 : 2, id);
        t_expect_broken(id, "altered");
    }
}
END_TEST

START_TEST(test_intact_chain_verifies)
{
    t_fill(40);
    db_audit_report_t rep;
    ipp_error_t err;
    ck_assert_msg(t_verify(&rep, &err) == IPP_OK, "%s", err.msg);
    ck_assert_int_eq(rep.checked, 38);
    ck_assert_int_eq(rep.purged, 0);
    ck_assert_int_eq(rep.head_seq, 38);
    ck_assert_int_eq(rep.bad_seq, 0);
    // The head can be read to be published elsewhere.
    db_reader_t *r = db_reader_new(t_path, DB_OPEN_READONLY, NULL, &err);
    db_audit_head_t head;
    ck_assert_int_eq(db_audit_head(r, &head, &err), IPP_OK);
    ck_assert_int_eq(head.seq, 38);
    char last[64];
    t_id(37, last);
    ck_assert_str_eq(head.msg_id, last);
    db_reader_destroy(&r);
    // Changing what is outside the hash (resubmitted) is allowed.
    t_raw("UPDATE tasks SET resubmitted = 'x' WHERE chain_seq = 5");
    ck_assert_int_eq(t_verify(&rep, &err), IPP_OK);
}
END_TEST

START_TEST(test_altered_result_is_named)
{
    t_fill(30);
    char id[64];
    t_id(12, id);
    char sql[200];
    snprintf(sql, sizeof sql, "UPDATE tasks SET stdout = 'all fine' WHERE msg_id = '%s'", id);
    t_raw(sql);
    t_expect_broken(id, "altered");
}
END_TEST

START_TEST(test_altered_request_and_status_are_named)
{
    t_fill(30);
    char id[64], sql[200];
    t_id(7, id);
    snprintf(sql, sizeof sql, "UPDATE tasks SET buffers = X'00' WHERE msg_id = '%s'", id);
    t_raw(sql);
    t_expect_broken(id, "altered");
    // Another file: an error turned into a success.
    t_teardown();
    t_setup();
    t_fill(30);
    t_id(10, id);  // 10 % 5 == 0: it failed
    snprintf(sql, sizeof sql, "UPDATE tasks SET status = 'ok', error = NULL WHERE msg_id = '%s'",
             id);
    t_raw(sql);
    t_expect_broken(id, "altered");
    // And a timestamp moved.
    t_teardown();
    t_setup();
    t_fill(30);
    t_id(3, id);
    snprintf(sql, sizeof sql, "UPDATE tasks SET completed = completed + 1 WHERE msg_id = '%s'", id);
    t_raw(sql);
    t_expect_broken(id, "altered");
}
END_TEST

START_TEST(test_deleted_record_is_named)
{
    t_fill(30);
    char id[64], sql[200];
    t_id(15, id);
    snprintf(sql, sizeof sql, "DELETE FROM tasks WHERE msg_id = '%s'", id);
    t_raw(sql);
    t_expect_broken(id, "removed");
    // The newest one removed: caught by the recorded head.
    t_teardown();
    t_setup();
    t_fill(30);
    t_id(27, id);
    snprintf(sql, sizeof sql, "DELETE FROM tasks WHERE msg_id = '%s'", id);
    t_raw(sql);
    t_expect_broken(id, "removed");
}
END_TEST

START_TEST(test_inserted_record_is_named)
{
    t_fill(10);
    // A completed record that never went through the writer.
    t_raw("INSERT INTO tasks (msg_id, status, submitted, completed)"
          " VALUES ('forged-1', 'ok', 1, 2)");
    t_expect_broken("forged-1", "no place in the audit chain");
    // One squeezed into the chain with a made-up hash.
    t_teardown();
    t_setup();
    t_fill(10);
    t_raw("UPDATE tasks SET chain_seq = chain_seq + 1 WHERE chain_seq >= 4");
    t_raw("INSERT INTO tasks (msg_id, status, chain_seq, chain_prev, chain_hash)"
          " SELECT 'forged-2', 'ok', 4, msg_id, zeroblob(32) FROM tasks WHERE chain_seq = 3");
    t_expect_broken("forged-2", "altered");
}
END_TEST

START_TEST(test_recorded_purges_keep_the_chain_valid)
{
    t_fill(40);
    ipp_error_t err;
    db_reader_t *rw = db_reader_new(t_path, DB_OPEN_READWRITE, NULL, &err);
    ck_assert_ptr_nonnull(rw);
    char a[64], b[64], last[64];
    t_id(3, a);
    t_id(20, b);
    t_id(37, last);  // the chain head itself
    const char *ids[] = {a, b, last};
    db_purge_spec_t spec = {.msg_ids = ids, .n_msg_ids = 3, .by = "auditor"};
    int64_t purged;
    ck_assert_int_eq(db_reader_purge(rw, &spec, &purged, &err), IPP_OK);
    ck_assert_int_eq(purged, 3);
    int32_t eng = 1;
    spec = (db_purge_spec_t){.engine_ids = &eng, .n_engine_ids = 1, .by = "auditor"};
    ck_assert_int_eq(db_reader_purge(rw, &spec, &purged, &err), IPP_OK);
    ck_assert_int_gt(purged, 10);
    db_reader_destroy(&rw);
    db_audit_report_t rep;
    ck_assert_msg(t_verify(&rep, &err) == IPP_OK, "%s", err.msg);
    ck_assert_int_eq(rep.purged + rep.checked, 38);
    ck_assert_int_eq(rep.purged, 3 + purged);

    // The writer goes on chaining after the purged head, and a drop of a
    // completed record is a recorded purge too.
    db_writer_t *w = db_writer_new(t_path, NULL, NULL, &err);
    ck_assert_int_eq(db_writer_start(w, &err), IPP_OK);
    char p[64];
    t_id(38, p);  // left pending by t_fill
    ck_assert_int_eq(db_writer_set_status(w, p, DB_STATUS_LOST, 999, "EngineError", "gone", NULL),
                     IPP_OK);
    char d[64];
    t_id(4, d);
    ck_assert_int_eq(db_writer_drop(w, d, "controller", NULL), IPP_OK);
    ck_assert_int_eq(db_writer_sync(w, db_writer_last_seq(w), 10000), IPP_OK);
    db_writer_destroy(&w);
    ck_assert_msg(t_verify(&rep, &err) == IPP_OK, "%s", err.msg);
    ck_assert_int_eq(rep.purged + rep.checked, 39);

    // A removal that no purge recorded is still caught among purged ones.
    char gone[64], sql[200];
    t_id(6, gone);
    snprintf(sql, sizeof sql, "DELETE FROM tasks WHERE msg_id = '%s'", gone);
    t_raw(sql);
    t_expect_broken(gone, "removed");
}
END_TEST

START_TEST(test_forged_purge_record_is_caught)
{
    t_fill(20);
    // Delete a record and log a purge for it with a made-up hash.
    char id[64], sql[400];
    t_id(9, id);
    snprintf(
        sql, sizeof sql,
        "INSERT INTO purges (at, purged_by, what, count) VALUES (1, 'mallory', '{}', 1);"
        "INSERT INTO purge_items SELECT chain_seq, 1, msg_id, chain_prev, zeroblob(32) FROM tasks"
        " WHERE msg_id = '%s';"
        "DELETE FROM tasks WHERE msg_id = '%s';",
        id, id);
    t_raw(sql);
    char next[64];
    t_id(10, next);
    t_expect_broken(next, "altered");
}
END_TEST

static Suite *t_suite(void)
{
    Suite *s = suite_create("db_audit");
    TCase *tc = tcase_create("audit");
    tcase_add_checked_fixture(tc, t_setup, t_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_intact_chain_verifies);
    tcase_add_test(tc, test_submitter_is_covered);
    tcase_add_test(tc, test_altered_result_is_named);
    tcase_add_test(tc, test_altered_request_and_status_are_named);
    tcase_add_test(tc, test_deleted_record_is_named);
    tcase_add_test(tc, test_inserted_record_is_named);
    tcase_add_test(tc, test_recorded_purges_keep_the_chain_valid);
    tcase_add_test(tc, test_forged_purge_record_is_caught);
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
