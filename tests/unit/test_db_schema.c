/* test_db_schema.c — opening task database files: creation, migration from
 * schema versions 1 and 4, and refusal of newer, foreign and non-SQLite files.
 *
 * The version-1 file is built by hand here with the DDL version 1 had,
 * so the migration is tested against what old files really contain.
 */
#include "db/reader.h"
#include "db/schema.h"
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
    tu_tmpdir(t_dir, sizeof t_dir, "db_schema");
    snprintf(t_path, sizeof t_path, "%s/tasks.db", t_dir);
}

static void t_teardown(void)
{
    tu_rmtree(t_dir);
}

// t_raw: run sql on path with a plain SQLite connection.
static void t_raw(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, msg ? msg : "");
    sqlite3_free(msg);
    sqlite3_close(db);
}

static int64_t t_raw_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

// The schema as version 1 created it.
static const char t_v1[] =
    "PRAGMA application_id = 1230000196;"  // 'IPPD'
    "PRAGMA user_version = 1;"
    "CREATE TABLE tasks ("
    " msg_id TEXT PRIMARY KEY NOT NULL, header BLOB, content BLOB, buffers BLOB,"
    " submitted INTEGER, client_uuid TEXT, engine_uuid TEXT, started INTEGER,"
    " completed INTEGER, resubmitted TEXT, received INTEGER, result_header BLOB,"
    " result_content BLOB, result_buffers BLOB, queue TEXT, execute_input TEXT,"
    " execute_result TEXT, error TEXT, stdout TEXT, stderr TEXT, label TEXT,"
    " engine_id INTEGER, status TEXT NOT NULL DEFAULT 'pending', \"after\" TEXT, follow TEXT,"
    " timeout INTEGER, retries INTEGER, targets TEXT, requires TEXT,"
    " attempts INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX tasks_label ON tasks(label);"
    "CREATE INDEX tasks_status ON tasks(status);"
    "CREATE INDEX tasks_submitted ON tasks(submitted);"
    "CREATE INDEX tasks_completed ON tasks(completed);"
    "CREATE TABLE deps (task TEXT NOT NULL, depends_on TEXT NOT NULL,"
    " kind TEXT NOT NULL CHECK (kind IN ('after','follow')), flags INTEGER NOT NULL,"
    " PRIMARY KEY (task, kind, depends_on)) WITHOUT ROWID;"
    "CREATE INDEX deps_depends_on ON deps(depends_on);"
    "CREATE TABLE engines (id INTEGER PRIMARY KEY, uuid TEXT NOT NULL UNIQUE, hostname TEXT,"
    " pid INTEGER, registered INTEGER, unregistered INTEGER);"
    // Two completed tasks (b finished first) and one pending that waits on a.
    "INSERT INTO tasks (msg_id, header, content, buffers, submitted, client_uuid, engine_uuid,"
    " started, completed, received, queue, stdout, label, engine_id, status, attempts)"
    " VALUES ('v1-a', X'6861', X'6361', X'02000000000000007879', 100, 'c1', 'e0', 150, 300,"
    " 301, 'task', 'out a', 'old', 0, 'ok', 1),"
    " ('v1-b', X'6862', X'6362', NULL, 110, 'c1', 'e0', 160, 200, 201, 'task', NULL, 'old', 0,"
    " 'error', 1);"
    "UPDATE tasks SET error = '{\"ename\":\"E\",\"evalue\":\"v\",\"traceback\":[],\"engine_id\":0}'"
    " WHERE msg_id = 'v1-b';"
    "INSERT INTO tasks (msg_id, header, submitted, client_uuid, queue, status, \"after\")"
    " VALUES ('v1-c', X'6863', 120, 'c1', 'task', 'pending',"
    " '{\"ids\":[\"v1-a\"],\"all\":true,\"success\":true,\"failure\":false}');"
    "INSERT INTO deps VALUES ('v1-c', 'v1-a', 'after', 3);"
    "INSERT INTO engines VALUES (0, 'e0', 'host', 42, 90, NULL);";

START_TEST(test_migrates_v1_to_current)
{
    ck_assert_int_eq(DB_APPLICATION_ID, 1230000196);
    t_raw(t_path, t_v1);
    ipp_error_t err;
    // Read-only opening refuses to migrate and says how.
    db_reader_t *r = db_reader_new(t_path, DB_OPEN_READONLY, NULL, &err);
    ck_assert_ptr_null(r);
    ck_assert_int_eq(err.code, IPP_ERR_DB_SCHEMA);
    ck_assert_ptr_nonnull(strstr(err.msg, t_path));
    ck_assert_ptr_nonnull(strstr(err.msg, "read-write"));
    ck_assert_int_eq(t_raw_int(t_path, "PRAGMA user_version"), 1);

    // The writer migrates.
    db_writer_t *w = db_writer_new(t_path, NULL, NULL, &err);
    ck_assert_msg(w != NULL, "%s", err.msg);
    ck_assert_int_eq(t_raw_int(t_path, "PRAGMA user_version"), DB_SCHEMA_VERSION);
    ck_assert_int_eq(t_raw_int(t_path, "SELECT count(*) FROM sqlite_master WHERE name = 'purges'"),
                     1);
    // Version 4's engine sets table, empty.
    ck_assert_int_eq(t_raw_int(t_path, "SELECT count(*) FROM engine_sets"), 0);

    r = db_reader_new(t_path, DB_OPEN_READONLY, NULL, &err);
    ck_assert_msg(r != NULL, "%s", err.msg);
    // Old records read back whole.
    db_record_t *rec = NULL;
    ck_assert_int_eq(db_reader_get(r, "v1-a", DB_KEYS_ALL, &rec, &err), IPP_OK);
    ck_assert_int_eq(rec->status, DB_STATUS_OK);
    ck_assert_int_eq(rec->completed, 300);
    ck_assert_uint_eq(rec->buffers.n, 1);
    ck_assert_str_eq((char *)rec->buffers.v[0].data, "xy");
    ck_assert_str_eq((char *)rec->stdout_data.data, "out a");
    // Completed records joined the audit chain in completion order.
    ck_assert_int_eq(rec->chain_seq, 2);
    ck_assert_str_eq(rec->chain_prev, "v1-b");
    db_record_destroy(&rec);
    ck_assert_int_eq(db_reader_get(r, "v1-b", DB_KEYS_ALL, &rec, &err), IPP_OK);
    ck_assert_int_eq(rec->chain_seq, 1);
    ck_assert_str_eq(rec->error.ename, "E");
    db_record_destroy(&rec);
    db_audit_report_t rep;
    ck_assert_int_eq(db_audit_verify(r, &rep, &err), IPP_OK);
    ck_assert_int_eq(rep.checked, 2);
    ck_assert_int_eq(rep.head_seq, 2);
    // The pending task is still there to be recovered, with its dependency.
    db_cursor_t *c = db_reader_pending(r, &err);
    ck_assert_int_eq(db_cursor_next(c, &rec, &err), IPP_OK);
    ck_assert_str_eq(rec->msg_id, "v1-c");
    ck_assert_uint_eq(rec->after.n, 1);
    ck_assert_str_eq(rec->after.ids[0], "v1-a");
    db_record_destroy(&rec);
    db_cursor_destroy(&c);
    db_engines_t *eng = NULL;
    ck_assert_int_eq(db_reader_engines(r, &eng, &err), IPP_OK);
    ck_assert_uint_eq(eng->n, 1);
    ck_assert_str_eq(eng->v[0].uuid, "e0");
    db_engines_destroy(&eng);

    // New results chain on after the migrated ones.
    ck_assert_int_eq(db_writer_start(w, &err), IPP_OK);
    uint64_t seq;
    ck_assert_int_eq(db_writer_set_status(w, "v1-c", DB_STATUS_ABORTED, 400, "TaskAborted",
                                          "aborted by test", &seq),
                     IPP_OK);
    ck_assert_int_eq(db_writer_sync(w, seq, 10000), IPP_OK);
    db_report_t fail;
    ck_assert(!db_writer_next_report(w, &fail));
    db_writer_destroy(&w);
    ck_assert_int_eq(db_audit_verify(r, &rep, &err), IPP_OK);
    ck_assert_int_eq(rep.checked, 3);
    db_reader_destroy(&r);

    // Opening again does not migrate again.
    w = db_writer_new(t_path, NULL, NULL, &err);
    ck_assert_ptr_nonnull(w);
    db_writer_destroy(&w);
    ck_assert_int_eq(t_raw_int(t_path, "SELECT max(chain_seq) FROM tasks"), 3);
}
END_TEST

// t_count_query: how many records query_json matches on r.
static int t_count_query(db_reader_t *r, const char *query_json)
{
    ipp_error_t err;
    db_cursor_t *c = db_reader_find_text(r, query_json, NULL, 0, &err);
    ck_assert_msg(c != NULL, "%s: %s", query_json, err.msg);
    int n = 0;
    db_record_t *rec = NULL;
    while (db_cursor_next(c, &rec, &err) == IPP_OK && rec) {
        n++;
        db_record_destroy(&rec);
    }
    db_cursor_destroy(&c);
    return n;
}

// Version 4 differs from 5 only by the (msg_id, status) index: a file made
// now, given that index and version 4 back, is what a version-4 controller
// left. The new one drops the index and answers every read as before.
START_TEST(test_migrates_v4_drops_msg_status_index)
{
    ipp_error_t err;
    db_writer_t *w = db_writer_new(t_path, NULL, NULL, &err);
    ck_assert_msg(w != NULL, "%s", err.msg);
    ck_assert_int_eq(db_writer_start(w, &err), IPP_OK);
    const char *ids[] = {"0190a0b0-0000-7000-8000-000000000001",
                         "0190a0b0-0000-7000-8000-000000000002",
                         "0190a0b0-0000-7000-8000-000000000003"};
    const char *labels[] = {"build-a", "build-b", "test-a"};
    uint64_t seq = 0;
    for (int i = 0; i < 3; i++) {
        db_request_t req = {.msg_id = ids[i],
                            .header = {"h", 1},
                            .content = {"c", 1},
                            .submitted = 1000 + i,
                            .client_uuid = "client-1",
                            .queue = "task",
                            .label = labels[i]};
        ck_assert_int_eq(db_writer_insert(w, &req, &seq), IPP_OK);
    }
    ck_assert_int_eq(db_writer_sync(w, seq, 10000), IPP_OK);
    for (int i = 0; i < 2; i++) {
        db_result_t res = {.msg_id = ids[i],
                           .status = i == 0 ? DB_STATUS_OK : DB_STATUS_ERROR,
                           .started = 2000 + i,
                           .completed = 3000 + i,
                           .received = 3100 + i,
                           .stdout_data = {"out\n", 4},
                           .ename = i == 1 ? "CommandFailed" : NULL,
                           .evalue = i == 1 ? "exit status 1" : NULL,
                           .error_engine_id = i == 1 ? 0 : -1};
        ck_assert_int_eq(db_writer_result(w, &res, &seq), IPP_OK);
    }
    ck_assert_int_eq(db_writer_sync(w, seq, 10000), IPP_OK);
    db_writer_destroy(&w);
    ck_assert_int_eq(
        t_raw_int(t_path, "SELECT count(*) FROM sqlite_master WHERE name = 'tasks_msg_status'"), 0);
    t_raw(t_path, "CREATE INDEX tasks_msg_status ON tasks(msg_id, status);"
                  "PRAGMA user_version = 4;");

    // A read-only opening leaves it at version 4; a read-write one migrates.
    ck_assert_ptr_null(db_reader_new(t_path, DB_OPEN_READONLY, NULL, &err));
    ck_assert_int_eq(err.code, IPP_ERR_DB_SCHEMA);
    ck_assert_int_eq(
        t_raw_int(t_path, "SELECT count(*) FROM sqlite_master WHERE name = 'tasks_msg_status'"), 1);
    w = db_writer_new(t_path, NULL, NULL, &err);
    ck_assert_msg(w != NULL, "%s", err.msg);
    ck_assert_int_eq(t_raw_int(t_path, "PRAGMA user_version"), DB_SCHEMA_VERSION);
    ck_assert_int_eq(
        t_raw_int(t_path, "SELECT count(*) FROM sqlite_master WHERE name = 'tasks_msg_status'"), 0);
    // The other indexes stay.
    ck_assert_int_eq(t_raw_int(t_path, "SELECT count(*) FROM sqlite_master WHERE type = 'index'"
                                       " AND tbl_name = 'tasks' AND sql IS NOT NULL"),
                     6);

    db_reader_t *r = db_reader_new(t_path, DB_OPEN_READONLY, NULL, &err);
    ck_assert_msg(r != NULL, "%s", err.msg);
    const char *ask[] = {ids[2], ids[0], "0190a0b0-0000-7000-8000-00000000ffff", ids[1]};
    db_status_t st[4];
    ck_assert_int_eq(db_reader_result_status(r, ask, 4, st, &err), IPP_OK);
    ck_assert_int_eq(st[0], DB_STATUS_PENDING);
    ck_assert_int_eq(st[1], DB_STATUS_OK);
    ck_assert_int_eq(st[2], DB_STATUS_UNKNOWN);
    ck_assert_int_eq(st[3], DB_STATUS_ERROR);
    ck_assert_int_eq(t_count_query(r, "{\"label\": {\"$glob\": \"build-*\"}}"), 2);
    ck_assert_int_eq(t_count_query(r, "{\"status\": \"error\"}"), 1);
    ck_assert_int_eq(t_count_query(r, "{\"status\": {\"$ne\": \"ok\"}}"), 2);
    ck_assert_int_eq(t_count_query(r, "{\"msg_id\": {\"$in\": [\"0190a0b0-0000-7000-8000-"
                                      "000000000002\"]}}"),
                     1);
    ck_assert_int_eq(t_count_query(r, "{\"completed\": {\"$gte\": 3001}}"), 1);
    db_record_t *rec = NULL;
    ck_assert_int_eq(db_reader_get(r, ids[1], DB_KEYS_ALL, &rec, &err), IPP_OK);
    ck_assert_str_eq(rec->error.ename, "CommandFailed");
    ck_assert_str_eq((char *)rec->stdout_data.data, "out\n");
    db_record_destroy(&rec);
    db_audit_report_t rep;
    ck_assert_int_eq(db_audit_verify(r, &rep, &err), IPP_OK);
    ck_assert_int_eq(rep.checked, 2);

    // The new controller records on: the last task completes.
    ck_assert_int_eq(db_writer_start(w, &err), IPP_OK);
    db_result_t res = {
        .msg_id = ids[2], .status = DB_STATUS_OK, .completed = 3002, .error_engine_id = -1};
    ck_assert_int_eq(db_writer_result(w, &res, &seq), IPP_OK);
    ck_assert_int_eq(db_writer_sync(w, seq, 10000), IPP_OK);
    db_writer_destroy(&w);
    ck_assert_int_eq(db_reader_result_status(r, ask, 1, st, &err), IPP_OK);
    ck_assert_int_eq(st[0], DB_STATUS_OK);
    ck_assert_int_eq(db_audit_verify(r, &rep, &err), IPP_OK);
    ck_assert_int_eq(rep.checked, 3);
    db_reader_destroy(&r);
}
END_TEST

START_TEST(test_newer_version_is_refused)
{
    t_raw(t_path, "PRAGMA application_id = 1230000196; PRAGMA user_version = 99;"
                  "CREATE TABLE tasks (msg_id TEXT PRIMARY KEY, future TEXT);");
    ipp_error_t err;
    db_writer_t *w = db_writer_new(t_path, NULL, NULL, &err);
    ck_assert_ptr_null(w);
    ck_assert_int_eq(err.code, IPP_ERR_DB_SCHEMA);
    ck_assert_ptr_nonnull(strstr(err.msg, t_path));
    ck_assert_ptr_nonnull(strstr(err.msg, "version 99"));
    db_reader_t *r = db_reader_new(t_path, DB_OPEN_READONLY, NULL, &err);
    ck_assert_ptr_null(r);
    ck_assert_int_eq(err.code, IPP_ERR_DB_SCHEMA);
    // Left as it was.
    ck_assert_int_eq(t_raw_int(t_path, "PRAGMA user_version"), 99);
}
END_TEST

START_TEST(test_foreign_sqlite_file_is_refused_untouched)
{
    t_raw(t_path, "CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('mine');");
    ipp_error_t err;
    db_writer_t *w = db_writer_new(t_path, NULL, NULL, &err);
    ck_assert_ptr_null(w);
    ck_assert_int_eq(err.code, IPP_ERR_DB_SCHEMA);
    ck_assert_ptr_nonnull(strstr(err.msg, t_path));
    ck_assert_ptr_nonnull(strstr(err.msg, "not an ipp task database"));
    // Another application's file with a user_version of its own.
    t_raw(t_path, "PRAGMA user_version = 1;");
    ck_assert_ptr_null(db_reader_new(t_path, DB_OPEN_READONLY, NULL, &err));
    ck_assert_int_eq(err.code, IPP_ERR_DB_SCHEMA);
    ck_assert_ptr_null(db_writer_new(t_path, NULL, NULL, &err));
    ck_assert_int_eq(err.code, IPP_ERR_DB_SCHEMA);
    // Untouched: not switched to WAL, no tables added.
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open(t_path, &db), SQLITE_OK);
    sqlite3_stmt *st;
    ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), "delete");
    sqlite3_finalize(st);
    sqlite3_close(db);
    ck_assert_int_eq(t_raw_int(t_path, "SELECT count(*) FROM sqlite_master"), 1);
}
END_TEST

START_TEST(test_not_sqlite_is_refused)
{
    FILE *f = fopen(t_path, "w");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < 300; i++)
        fputs("this is a text file, not a database\n", f);
    fclose(f);
    ipp_error_t err;
    ck_assert_ptr_null(db_writer_new(t_path, NULL, NULL, &err));
    ck_assert_int_eq(err.code, IPP_ERR_DB_SCHEMA);
    ck_assert_ptr_nonnull(strstr(err.msg, t_path));
    ck_assert_ptr_null(db_reader_new(t_path, DB_OPEN_READONLY, NULL, &err));
    ck_assert_int_eq(err.code, IPP_ERR_DB_SCHEMA);
    ck_assert_ptr_nonnull(strstr(err.msg, t_path));
}
END_TEST

START_TEST(test_create_and_open_modes)
{
    ipp_error_t err;
    // Nothing there: read-only says so; read-write creates.
    ck_assert_ptr_null(db_reader_new(t_path, DB_OPEN_READONLY, NULL, &err));
    ck_assert_int_eq(err.code, IPP_ERR_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(err.msg, t_path));
    db_writer_t *w = db_writer_new(t_path, NULL, NULL, &err);
    ck_assert_ptr_nonnull(w);
    ck_assert_int_eq(t_raw_int(t_path, "PRAGMA user_version"), DB_SCHEMA_VERSION);
    ck_assert_int_eq(t_raw_int(t_path, "PRAGMA application_id"), DB_APPLICATION_ID);
    db_reader_t *r = db_reader_new(t_path, DB_OPEN_READONLY, NULL, &err);
    ck_assert_ptr_nonnull(r);
    // A read-only reader cannot write even through its raw connection.
    ck_assert_int_ne(sqlite3_exec(db_reader_sqlite(r), "DELETE FROM tasks", NULL, NULL, NULL),
                     SQLITE_OK);
    db_reader_destroy(&r);
    db_writer_destroy(&w);
    // An empty file (zero bytes) is a new database, not a foreign one.
    char empty[400];
    snprintf(empty, sizeof empty, "%s/empty.db", t_dir);
    FILE *f = fopen(empty, "w");
    fclose(f);
    w = db_writer_new(empty, NULL, NULL, &err);
    ck_assert_msg(w != NULL, "%s", err.msg);
    db_writer_destroy(&w);
}
END_TEST

static Suite *t_suite(void)
{
    Suite *s = suite_create("db_schema");
    TCase *tc = tcase_create("schema");
    tcase_add_checked_fixture(tc, t_setup, t_teardown);
    tcase_add_test(tc, test_migrates_v1_to_current);
    tcase_add_test(tc, test_migrates_v4_drops_msg_status_index);
    tcase_add_test(tc, test_newer_version_is_refused);
    tcase_add_test(tc, test_foreign_sqlite_file_is_refused_untouched);
    tcase_add_test(tc, test_not_sqlite_is_refused);
    tcase_add_test(tc, test_create_and_open_modes);
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
