/* fuzz_seed_record.c — writes a seed corpus for fuzz_record: tasks are
 * recorded by the real writer (pending ones, finished ones with output,
 * errors, dependencies and buffers) into a temporary database, and every
 * row read back raw is written, in the fuzzer's input layout, into the
 * folder given.
 */
#include "db/record.h"
#include "db/writer.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int s_fail(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_seed_record: %s: %s\n", what, detail ? detail : "");
    return 1;
}

// s_put: one column in the input layout.
static void s_put(FILE *f, int key, sqlite3_stmt *st, int col)
{
    int type = sqlite3_column_type(st, col);
    uint8_t num[8];
    const void *p = num;
    size_t n = 0;
    int cls = 0;
    if (type == SQLITE_INTEGER) {
        uint64_t v = (uint64_t)sqlite3_column_int64(st, col);
        for (int i = 0; i < 8; i++)
            num[i] = (uint8_t)(v >> (8 * i));
        cls = 1;
        n = 8;
    } else if (type == SQLITE_FLOAT) {
        double d = sqlite3_column_double(st, col);
        memcpy(num, &d, 8);
        cls = 2;
        n = 8;
    } else if (type == SQLITE_TEXT) {
        p = sqlite3_column_text(st, col);
        n = (size_t)sqlite3_column_bytes(st, col);
        cls = 3;
    } else if (type == SQLITE_BLOB) {
        p = sqlite3_column_blob(st, col);
        n = (size_t)sqlite3_column_bytes(st, col);
        cls = 4;
    }
    if (n > 0xffff)
        n = 0xffff;
    fputc(key, f);
    fputc(cls, f);
    fputc((int)(n & 0xff), f);
    fputc((int)(n >> 8), f);
    if (n)
        fwrite(p, 1, n, f);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fuzz_seed_record DIR\n");
        return 2;
    }
    char tmp[] = "/tmp/ipp-fuzz-seed-XXXXXX";
    if (!mkdtemp(tmp))
        return s_fail("mkdtemp", tmp);
    char path[256];
    snprintf(path, sizeof path, "%s/tasks.db", tmp);
    ipp_error_t err;
    db_writer_t *w = db_writer_new(path, NULL, NULL, &err);
    if (!w || db_writer_start(w, &err) != IPP_OK)
        return s_fail("writer", err.msg);

    static const char *const ids[] = {"0190a1b2-0000-7000-8000-00000000000a",
                                      "0190a1b2-0000-7000-8000-00000000000b",
                                      "0190a1b2-0000-7000-8000-00000000000c"};
    static const char *const requires[] = {"fn:square", "cmd:sh", "tag:gpu"};
    static const int32_t targets[] = {0, 3};
    db_blob_t bufs[3] = {{"abc", 3}, {"", 0}, {"\x00\xff\x01", 3}};
    for (int i = 0; i < 3; i++) {
        db_request_t r = {0};
        r.msg_id = ids[i];
        r.header = (db_blob_t){"{\"msg_type\":\"task\"}", 19};
        r.content = (db_blob_t){"\x0a\x02hi", 4};
        r.buffers = bufs;
        r.n_buffers = (size_t)i;  // none, one, two
        r.submitted = 1700000000000000 + i;
        r.client_uuid = "client-1";
        r.queue = i == 2 ? "mux" : "task";
        r.label = i ? "wf/node" : NULL;
        r.execute_input = "echo hi";
        if (i) {
            r.after = (db_dep_spec_t){ids, (size_t)i, true, true, false};
            r.follow = (db_dep_spec_t){ids, 1, false, true, true};
        }
        r.timeout_us = i * 1000000;
        r.retries = i;
        r.targets = i == 2 ? targets : NULL;
        r.n_targets = i == 2 ? 2 : 0;
        r.requires = requires;
        r.n_requires = (size_t)i + 1;
        if (db_writer_insert(w, &r, NULL) != IPP_OK)
            return s_fail("insert", ids[i]);
    }
    db_writer_assign(w, ids[1], 0, "engine-0", 1, NULL);
    db_writer_assign(w, ids[2], 3, "engine-3", 2, NULL);
    static const char *const tb[] = {"Traceback:", "  line 1", "ValueError: no"};
    db_result_t ok = {0};
    ok.msg_id = ids[1];
    ok.status = DB_STATUS_OK;
    ok.started = 1700000000000100;
    ok.completed = 1700000000000200;
    ok.received = 1700000000000300;
    ok.stdout_data = (db_blob_t){"hello\n", 6};
    ok.stderr_data = (db_blob_t){"\xff\xfe bad utf-8", 12};
    ok.error_engine_id = -1;
    ok.result_header = (db_blob_t){"{}", 2};
    ok.result_content = (db_blob_t){"\x08\x01", 2};
    ok.result_buffers = bufs;
    ok.n_result_buffers = 3;
    ok.execute_result = "0";
    db_result_t bad = ok;
    bad.msg_id = ids[2];
    bad.status = DB_STATUS_ERROR;
    bad.ename = "ValueError";
    bad.evalue = "no";
    bad.traceback = tb;
    bad.n_traceback = 3;
    bad.error_engine_id = 3;
    bad.result_buffers = NULL;
    bad.n_result_buffers = 0;
    uint64_t seq = 0;
    if (db_writer_result(w, &ok, NULL) != IPP_OK || db_writer_result(w, &bad, &seq) != IPP_OK ||
        db_writer_sync(w, seq, 20000) != IPP_OK)
        return s_fail("result", "");
    db_report_t rep;
    while (db_writer_next_report(w, &rep))
        if (rep.err.code != IPP_OK)
            return s_fail("writer report", rep.err.msg);
    db_writer_destroy(&w);

    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        return s_fail("open", path);
    char sql[2048];
    size_t off = (size_t)snprintf(sql, sizeof sql, "SELECT ");
    for (int k = 0; k < DB_KEY__COUNT; k++)
        off += (size_t)snprintf(sql + off, sizeof sql - off, "%s\"%s\"", k ? ", " : "",
                                db_key_info((db_key_t)k)->name);
    snprintf(sql + off, sizeof sql - off, " FROM tasks ORDER BY submitted");
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return s_fail("prepare", sqlite3_errmsg(db));
    int row = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        char out[4096];
        snprintf(out, sizeof out, "%s/row-%d", argv[1], row++);
        FILE *f = fopen(out, "wb");
        if (!f)
            return s_fail("create", out);
        for (int k = 0; k < DB_KEY__COUNT; k++)
            s_put(f, k, st, k);
        fclose(f);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0)
        return s_fail("cleanup", tmp);
    return row == 3 ? 0 : s_fail("rows", "expected 3");
}
