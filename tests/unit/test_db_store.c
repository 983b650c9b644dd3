/* test_db_store.c — the task store as IPython Parallel's own DB tests
 * expect it to behave, through the writer and a reader on a real file.
 *
 * History grows by n with its old prefix unchanged; a dropped record is
 * gone; updates read back exactly; $lt/$gte on submitted partition the
 * history; $in/$nin split even and odd; $glob matches like fnmatch;
 * projections contain msg_id; null queries; records are copies. Plus
 * result_status, $in over 100,000 ids, purges, dependencies, engines and
 * the JSON form. A temp directory per test.
 */
#include "db/reader.h"
#include "db/writer.h"
#include "proto/clock.h"

#include "testutil.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char t_dir[256];
static char t_path[320];

static const int64_t T0 = 1767225600000000;  // 2026-01-01T00:00:00Z

static void t_setup(void)
{
    tu_tmpdir(t_dir, sizeof t_dir, "db_store");
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

static db_writer_t *t_writer(void)
{
    ipp_error_t err;
    db_writer_t *w = db_writer_new(t_path, NULL, NULL, &err);
    ck_assert_msg(w != NULL, "writer: %s", err.msg);
    ck_assert_int_eq(db_writer_start(w, &err), IPP_OK);
    return w;
}

static db_reader_t *t_reader(void)
{
    ipp_error_t err;
    db_reader_t *r = db_reader_new(t_path, DB_OPEN_READONLY, NULL, &err);
    ck_assert_msg(r != NULL, "reader: %s", err.msg);
    return r;
}

// t_insert: task i, submitted at T0 + submitted_us, with a label (may be NULL).
static uint64_t t_insert(db_writer_t *w, int i, int64_t submitted_us, const char *label)
{
    char id[64], hdr[64], content[64];
    t_id(i, id);
    snprintf(hdr, sizeof hdr, "header-%d", i);
    snprintf(content, sizeof content, "content-%d", i);
    db_blob_t bufs[2] = {{"buf-a", 5}, {"", 0}};
    db_request_t req = {
        .msg_id = id,
        .header = {hdr, strlen(hdr)},
        .content = {content, strlen(content)},
        .buffers = bufs,
        .n_buffers = 2,
        .submitted = T0 + submitted_us,
        .client_uuid = (i % 3 == 0) ? NULL : "client-1",
        .queue = "task",
        .label = label,
    };
    uint64_t seq = 0;
    ck_assert_int_eq(db_writer_insert(w, &req, &seq), IPP_OK);
    ck_assert_uint_gt(seq, 0);
    return seq;
}

static uint64_t t_complete(db_writer_t *w, int i, db_status_t st, const char *out, int64_t done_us)
{
    char id[64];
    t_id(i, id);
    db_result_t res = {
        .msg_id = id,
        .status = st,
        .started = T0 + done_us - 1,
        .completed = T0 + done_us,
        .received = T0 + done_us + 1,
        .stdout_data = {out, out ? strlen(out) : 0},
        .error_engine_id = -1,
    };
    uint64_t seq = 0;
    ck_assert_int_eq(db_writer_result(w, &res, &seq), IPP_OK);
    return seq;
}

// t_sync: wait for everything queued and insist nothing failed.
static void t_sync(db_writer_t *w)
{
    ck_assert_int_eq(db_writer_sync(w, db_writer_last_seq(w), 20000), IPP_OK);
    db_report_t r;
    while (db_writer_next_report(w, &r))
        ck_assert_msg(r.err.code == IPP_OK, "unexpected failure report: %s", r.err.msg);
}

// t_find: the msg_ids a query (JSON text) returns, in order; caller frees
// with t_free_ids.
static size_t t_find(db_reader_t *r, const char *query, char ***out)
{
    ipp_error_t err;
    db_cursor_t *c = db_reader_find_text(r, query, NULL, 0, &err);
    ck_assert_msg(c != NULL, "query %s: %s", query, err.msg);
    size_t n = 0, cap = 16;
    char **ids = malloc(cap * sizeof *ids);
    db_record_t *rec = NULL;
    for (;;) {
        ck_assert_int_eq(db_cursor_next(c, &rec, &err), IPP_OK);
        if (!rec)
            break;
        if (n == cap)
            ids = realloc(ids, (cap *= 2) * sizeof *ids);
        ids[n++] = strdup(rec->msg_id);
        db_record_destroy(&rec);
    }
    db_cursor_destroy(&c);
    *out = ids;
    return n;
}

static void t_free_ids(char **ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
}

static db_strv_t *t_history(db_reader_t *r)
{
    ipp_error_t err;
    db_strv_t *h = NULL;
    ck_assert_int_eq(db_reader_history(r, &h, &err), IPP_OK);
    ck_assert_ptr_nonnull(h);
    return h;
}

/* ------------------------------------------------------------ tests */

START_TEST(test_add_grows_history_keeping_prefix)
{
    db_writer_t *w = t_writer();
    for (int i = 0; i < 16; i++)
        t_insert(w, i, i * 10, NULL);
    t_sync(w);
    db_reader_t *r = t_reader();
    db_strv_t *before = t_history(r);
    ck_assert_uint_eq(before->n, 16);
    for (int i = 16; i < 21; i++)
        t_insert(w, i, i * 10, NULL);
    t_sync(w);
    db_strv_t *after = t_history(r);
    ck_assert_uint_eq(after->n, before->n + 5);
    for (size_t i = 0; i < before->n; i++)
        ck_assert_str_eq(after->v[i], before->v[i]);
    db_strv_destroy(&before);
    db_strv_destroy(&after);
    ck_assert_ptr_null(after);
    db_reader_destroy(&r);
    db_writer_destroy(&w);
    ck_assert_ptr_null(w);
}
END_TEST

START_TEST(test_history_in_submission_order)
{
    db_writer_t *w = t_writer();
    // Inserted in one order, submitted in another.
    const int order[] = {5, 1, 4, 0, 3, 2};
    for (int k = 0; k < 6; k++)
        t_insert(w, k, order[k] * 100, NULL);
    t_sync(w);
    db_reader_t *r = t_reader();
    db_strv_t *h = t_history(r);
    ck_assert_uint_eq(h->n, 6);
    for (int pos = 0; pos < 6; pos++) {
        int k = 0;
        while (order[k] != pos)
            k++;
        char id[64];
        t_id(k, id);
        ck_assert_str_eq(h->v[pos], id);
    }
    db_strv_destroy(&h);
    db_reader_destroy(&r);
    db_writer_destroy(&w);
}
END_TEST

START_TEST(test_dropped_record_is_gone)
{
    db_writer_t *w = t_writer();
    for (int i = 0; i < 4; i++)
        t_insert(w, i, i, NULL);
    t_complete(w, 2, DB_STATUS_OK, "x", 50);
    t_sync(w);
    char id[64];
    t_id(2, id);
    uint64_t seq;
    ck_assert_int_eq(db_writer_drop(w, id, "tester", &seq), IPP_OK);
    ck_assert_int_eq(db_writer_sync(w, seq, 10000), IPP_OK);
    db_report_t rep;
    ck_assert(db_writer_next_report(w, &rep));
    ck_assert_uint_eq(rep.first_seq, seq);
    ck_assert_int_eq(rep.err.code, IPP_OK);
    ck_assert_int_eq(rep.count, 1);

    db_reader_t *r = t_reader();
    ipp_error_t err;
    db_record_t *rec = NULL;
    ck_assert_int_eq(db_reader_get(r, id, DB_KEYS_ALL, &rec, &err), IPP_ERR_NOT_FOUND);
    ck_assert_ptr_null(rec);
    ck_assert_ptr_nonnull(strstr(err.msg, id));
    db_strv_t *h = t_history(r);
    ck_assert_uint_eq(h->n, 3);
    for (size_t i = 0; i < h->n; i++)
        ck_assert_str_ne(h->v[i], id);
    db_strv_destroy(&h);
    // Dropping an unknown id is reported, not ignored.
    ck_assert_int_eq(db_writer_drop(w, id, "tester", &seq), IPP_OK);
    ck_assert_int_eq(db_writer_sync(w, seq, 10000), IPP_OK);
    ck_assert(db_writer_next_report(w, &rep));
    ck_assert_int_eq(rep.err.code, IPP_ERR_NOT_FOUND);
    db_reader_destroy(&r);
    db_writer_destroy(&w);
}
END_TEST

START_TEST(test_updates_read_back_exactly)
{
    db_writer_t *w = t_writer();
    t_insert(w, 1, 0, "lbl");
    char id[64];
    t_id(1, id);
    ck_assert_int_eq(db_writer_assign(w, id, 3, "engine-uuid-3", 1, NULL), IPP_OK);
    ck_assert_int_eq(db_writer_started(w, id, T0 + 40, NULL), IPP_OK);
    // Output with a NUL, a newline and a byte that is not UTF-8.
    const char out[] = "line one\nzero\0byte \xff end";
    const char *tb[] = {"Traceback:", "  frame 1"};
    db_blob_t rbufs[1] = {{"result-buffer", 13}};
    db_result_t res = {
        .msg_id = id,
        .status = DB_STATUS_ERROR,
        .started = DB_TIME_NONE,  // keep the one recorded above
        .completed = T0 + 90,
        .received = T0 + 95,
        .stdout_data = {out, sizeof out - 1},
        .stderr_data = {"warn\n", 5},
        .ename = "CommandFailed",
        .evalue = "exit status 3",
        .traceback = tb,
        .n_traceback = 2,
        .error_engine_id = 3,
        .result_header = {"rh", 2},
        .result_content = {"rc", 2},
        .result_buffers = rbufs,
        .n_result_buffers = 1,
    };
    ck_assert_int_eq(db_writer_result(w, &res, NULL), IPP_OK);
    t_sync(w);

    db_reader_t *r = t_reader();
    ipp_error_t err;
    db_record_t *rec = NULL;
    ipp_err_t rc = db_reader_get(r, id, DB_KEYS_ALL, &rec, &err);
    ck_assert_msg(rc == IPP_OK, "get: %s", err.msg);
    ck_assert_str_eq(rec->msg_id, id);
    ck_assert_int_eq(rec->status, DB_STATUS_ERROR);
    ck_assert_int_eq(rec->started, T0 + 40);
    ck_assert_int_eq(rec->completed, T0 + 90);
    ck_assert_int_eq(rec->received, T0 + 95);
    ck_assert_int_eq(rec->submitted, T0);
    ck_assert_uint_eq(rec->stdout_data.size, sizeof out - 1);
    ck_assert_mem_eq(rec->stdout_data.data, out, sizeof out - 1);
    ck_assert_str_eq((char *)rec->stderr_data.data, "warn\n");
    ck_assert_int_eq(rec->engine_id, 3);
    ck_assert_str_eq(rec->engine_uuid, "engine-uuid-3");
    ck_assert_int_eq(rec->attempts, 1);
    ck_assert(rec->error.set);
    ck_assert_str_eq(rec->error.ename, "CommandFailed");
    ck_assert_str_eq(rec->error.evalue, "exit status 3");
    ck_assert_uint_eq(rec->error.n_traceback, 2);
    ck_assert_str_eq(rec->error.traceback[1], "  frame 1");
    ck_assert_int_eq(rec->error.engine_id, 3);
    ck_assert_str_eq((char *)rec->header.data, "header-1");
    ck_assert_str_eq((char *)rec->content.data, "content-1");
    ck_assert_uint_eq(rec->buffers.n, 2);
    ck_assert_str_eq((char *)rec->buffers.v[0].data, "buf-a");
    ck_assert_uint_eq(rec->buffers.v[1].size, 0);
    ck_assert_uint_eq(rec->result_buffers.n, 1);
    ck_assert_mem_eq(rec->result_buffers.v[0].data, "result-buffer", 13);
    ck_assert_str_eq((char *)rec->result_header.data, "rh");
    ck_assert_str_eq(rec->label, "lbl");
    ck_assert_str_eq(rec->queue, "task");
    ck_assert_int_eq(rec->chain_seq, 1);
    ck_assert_uint_eq(rec->chain_hash.size, 32);
    db_record_destroy(&rec);

    // Updating stdout and completed of another task reads back as well.
    t_insert(w, 2, 5, NULL);
    t_complete(w, 2, DB_STATUS_OK, "second\n", 123);
    t_sync(w);
    t_id(2, id);
    ck_assert_int_eq(
        db_reader_get(r, id, DB_KEYBIT(DB_KEY_STDOUT) | DB_KEYBIT(DB_KEY_COMPLETED), &rec, &err),
        IPP_OK);
    ck_assert_str_eq((char *)rec->stdout_data.data, "second\n");
    ck_assert_int_eq(rec->completed, T0 + 123);
    db_record_destroy(&rec);
    db_reader_destroy(&r);
    db_writer_destroy(&w);
}
END_TEST

START_TEST(test_submitted_lt_gte_partition_history)
{
    db_writer_t *w = t_writer();
    for (int i = 0; i < 20; i++)
        t_insert(w, i, i * 1000, NULL);
    t_sync(w);
    db_reader_t *r = t_reader();
    db_strv_t *h = t_history(r);
    ipp_error_t err;
    db_record_t *mid = NULL;
    ck_assert_int_eq(db_reader_get(r, h->v[10], DB_KEYBIT(DB_KEY_SUBMITTED), &mid, &err), IPP_OK);
    char iso[64], q1[200], q2[200];
    ipp_clock_format_iso(mid->submitted, iso, sizeof iso);
    // Once with µs integers, once with ISO 8601 strings.
    for (int form = 0; form < 2; form++) {
        if (form == 0) {
            snprintf(q1, sizeof q1, "{\"submitted\": {\"$lt\": %lld}}", (long long)mid->submitted);
            snprintf(q2, sizeof q2, "{\"submitted\": {\"$gte\": %lld}}", (long long)mid->submitted);
        } else {
            snprintf(q1, sizeof q1, "{\"submitted\": {\"$lt\": \"%s\"}}", iso);
            snprintf(q2, sizeof q2, "{\"submitted\": {\"$gte\": \"%s\"}}", iso);
        }
        char **before, **after;
        size_t nb = t_find(r, q1, &before), na = t_find(r, q2, &after);
        ck_assert_uint_eq(nb, 10);
        ck_assert_uint_eq(na, 10);
        for (size_t i = 0; i < nb; i++)
            ck_assert_str_eq(before[i], h->v[i]);
        for (size_t i = 0; i < na; i++)
            ck_assert_str_eq(after[i], h->v[10 + i]);
        t_free_ids(before, nb);
        t_free_ids(after, na);
    }
    db_record_destroy(&mid);
    db_strv_destroy(&h);
    db_reader_destroy(&r);
    db_writer_destroy(&w);
}
END_TEST

START_TEST(test_in_nin_split_even_odd)
{
    db_writer_t *w = t_writer();
    for (int i = 0; i < 12; i++)
        t_insert(w, i, i, NULL);
    t_sync(w);
    db_reader_t *r = t_reader();
    db_strv_t *h = t_history(r);
    json_t *even = json_array();
    for (size_t i = 0; i < h->n; i += 2)
        json_array_append_new(even, json_string(h->v[i]));
    for (int negate = 0; negate < 2; negate++) {
        json_t *q = json_pack("{s:{s:O}}", "msg_id", negate ? "$nin" : "$in", even);
        char *text = json_dumps(q, 0);
        char **ids;
        size_t n = t_find(r, text, &ids);
        ck_assert_uint_eq(n, 6);
        for (size_t i = 0; i < n; i++)
            ck_assert_str_eq(ids[i], h->v[2 * i + (size_t)negate]);
        t_free_ids(ids, n);
        free(text);
        json_decref(q);
    }
    json_decref(even);
    db_strv_destroy(&h);
    db_reader_destroy(&r);
    db_writer_destroy(&w);
}
END_TEST

START_TEST(test_glob_matches_like_fnmatch)
{
    const char *labels[] = {"abc", "abd", "a*c", "a?c", "xyz", "ab", "Abc", "b-1"};
    const int n = 8;
    db_writer_t *w = t_writer();
    for (int i = 0; i < n; i++)
        t_insert(w, i, i, labels[i]);
    t_insert(w, n, n, NULL);  // no label: never matches a glob
    t_sync(w);
    db_reader_t *r = t_reader();
    struct {
        const char *pattern;
        const char *expect;  // the matching labels, space-separated, in order
    } cases[] = {
        {"ab?", "abc abd"},       {"a*", "abc abd a*c a?c ab"},
        {"a[*]c", "a*c"},         {"a[?]c", "a?c"},
        {"a?c", "abc a*c a?c"},   {"[ab]*", "abc abd a*c a?c ab b-1"},
        {"[!a]*", "xyz Abc b-1"}, {"*", "abc abd a*c a?c xyz ab Abc b-1"},
        {"abc", "abc"},           {"[x-z]??", "xyz"},
        {"nothing*", ""},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        json_t *q = json_pack("{s:{s:s}}", "label", "$glob", cases[c].pattern);
        char *text = json_dumps(q, 0);
        char **ids;
        size_t got = t_find(r, text, &ids);
        char joined[256] = "";
        for (size_t i = 0; i < got; i++) {
            int k = atoi(ids[i] + 24);
            if (i)
                strcat(joined, " ");
            strcat(joined, labels[k]);
        }
        ck_assert_msg(strcmp(joined, cases[c].expect) == 0, "$glob %s matched '%s', want '%s'",
                      cases[c].pattern, joined, cases[c].expect);
        t_free_ids(ids, got);
        free(text);
        json_decref(q);
    }
    db_reader_destroy(&r);
    db_writer_destroy(&w);
}
END_TEST

START_TEST(test_projections_contain_msg_id)
{
    db_writer_t *w = t_writer();
    for (int i = 0; i < 3; i++)
        t_insert(w, i, i, "p");
    t_complete(w, 1, DB_STATUS_OK, "out", 10);
    t_sync(w);
    db_reader_t *r = t_reader();
    ipp_error_t err;
    json_t *keys = json_pack("[s,s]", "submitted", "completed");
    db_cursor_t *c = db_reader_find_text(r, "{}", keys, 0, &err);
    ck_assert_ptr_nonnull(c);
    db_record_t *rec;
    int rows = 0;
    while (db_cursor_next(c, &rec, &err) == IPP_OK && rec) {
        ck_assert_uint_eq(rec->keys, DB_KEYBIT(DB_KEY_MSG_ID) | DB_KEYBIT(DB_KEY_SUBMITTED) |
                                         DB_KEYBIT(DB_KEY_COMPLETED));
        ck_assert_ptr_nonnull(rec->msg_id);
        ck_assert_ptr_null(rec->label);
        json_t *j = db_record_to_json(rec, 0);
        ck_assert_uint_eq(json_object_size(j), 3);
        ck_assert_ptr_nonnull(json_object_get(j, "msg_id"));
        json_decref(j);
        db_record_destroy(&rec);
        rows++;
    }
    ck_assert_int_eq(rows, 3);
    db_cursor_destroy(&c);
    json_decref(keys);
    // An empty projection still yields msg_id; so does get without it.
    keys = json_array();
    c = db_reader_find_text(r, NULL, keys, 1, &err);
    ck_assert_int_eq(db_cursor_next(c, &rec, &err), IPP_OK);
    ck_assert_uint_eq(rec->keys, DB_KEYBIT(DB_KEY_MSG_ID));
    db_record_destroy(&rec);
    db_cursor_destroy(&c);
    json_decref(keys);
    char id[64];
    t_id(1, id);
    ck_assert_int_eq(db_reader_get(r, id, DB_KEYBIT(DB_KEY_STDOUT), &rec, &err), IPP_OK);
    ck_assert_str_eq(rec->msg_id, id);
    ck_assert_str_eq((char *)rec->stdout_data.data, "out");
    db_record_destroy(&rec);
    db_reader_destroy(&r);
    db_writer_destroy(&w);
}
END_TEST

START_TEST(test_null_queries)
{
    db_writer_t *w = t_writer();
    for (int i = 0; i < 10; i++)
        t_insert(w, i, i, (i % 2) ? "odd" : NULL);
    for (int i = 0; i < 4; i++)
        t_complete(w, i, DB_STATUS_OK, NULL, 100 + i);
    t_sync(w);
    db_reader_t *r = t_reader();
    char **ids;
    size_t n = t_find(r, "{\"label\": null}", &ids);
    ck_assert_uint_eq(n, 5);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(atoi(ids[i] + 24) % 2, 0);
    t_free_ids(ids, n);
    n = t_find(r, "{\"label\": {\"$ne\": null}}", &ids);
    ck_assert_uint_eq(n, 5);
    t_free_ids(ids, n);
    n = t_find(r, "{\"completed\": null}", &ids);
    ck_assert_uint_eq(n, 6);
    t_free_ids(ids, n);
    n = t_find(r, "{\"completed\": {\"$eq\": null}, \"label\": {\"$ne\": null}}", &ids);
    ck_assert_uint_eq(n, 3);  // 5, 7, 9
    t_free_ids(ids, n);
    n = t_find(r, "{\"stdout\": null, \"completed\": {\"$ne\": null}}", &ids);
    ck_assert_uint_eq(n, 4);  // completed without output
    t_free_ids(ids, n);
    // $ne with a value also matches nulls, as in Python.
    n = t_find(r, "{\"label\": {\"$ne\": \"odd\"}}", &ids);
    ck_assert_uint_eq(n, 5);
    t_free_ids(ids, n);
    db_reader_destroy(&r);
    db_writer_destroy(&w);
}
END_TEST

START_TEST(test_records_are_copies)
{
    db_writer_t *w = t_writer();
    t_insert(w, 7, 0, "original");
    t_complete(w, 7, DB_STATUS_OK, "kept", 9);
    t_sync(w);
    db_reader_t *r = t_reader();
    char id[64];
    t_id(7, id);
    ipp_error_t err;
    db_record_t *a = NULL, *b = NULL;
    ck_assert_int_eq(db_reader_get(r, id, DB_KEYS_ALL, &a, &err), IPP_OK);
    a->label[0] = 'X';
    a->stdout_data.data[0] = 'Z';
    a->completed = 1;
    free(a->client_uuid);
    a->client_uuid = NULL;
    ck_assert_int_eq(db_reader_get(r, id, DB_KEYS_ALL, &b, &err), IPP_OK);
    ck_assert_ptr_ne(a, b);
    ck_assert_str_eq(b->label, "original");
    ck_assert_str_eq((char *)b->stdout_data.data, "kept");
    ck_assert_int_eq(b->completed, T0 + 9);
    ck_assert_str_eq(b->client_uuid, "client-1");
    db_record_destroy(&a);
    db_record_destroy(&b);
    // Records from a query are copies too.
    db_cursor_t *c = db_reader_find_text(r, "{\"label\": \"original\"}", NULL, 0, &err);
    ck_assert_int_eq(db_cursor_next(c, &a, &err), IPP_OK);
    ck_assert_ptr_nonnull(a);
    a->label[0] = 'Y';
    db_record_destroy(&a);
    db_cursor_destroy(&c);
    char **ids;
    size_t n = t_find(r, "{\"label\": \"original\"}", &ids);
    ck_assert_uint_eq(n, 1);
    t_free_ids(ids, n);
    db_reader_destroy(&r);
    db_writer_destroy(&w);
}
END_TEST

// Every way result_status answers (rows one by one for a few ids or a
// large unfinished set, the two indexes alone for many ids) gives the same
// statuses, unknown ids and repeated ids included.
START_TEST(test_result_status_paths_agree)
{
    db_writer_t *w = t_writer();
    const int n = 2000;
    for (int i = 0; i < n; i++)
        t_insert(w, i, i, NULL);
    // 1,500 of the 2,000 are not 'ok': 1,000 pending, 250 error, 250 lost.
    for (int i = 0; i < n; i += 2)
        t_complete(w, i,
                   i % 4 == 0   ? DB_STATUS_OK
                   : i % 8 == 2 ? DB_STATUS_ERROR
                                : DB_STATUS_LOST,
                   NULL, 5000 + i);
    t_sync(w);
    db_reader_t *r = t_reader();
    // 10 ids: read row by row. 300: the unfinished set (1,500) is over 4
    // per id, so row by row. 600 and 3,000: through the indexes.
    const size_t sizes[] = {10, 300, 600, 3000};
    for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++) {
        size_t k = sizes[z];
        char(*buf)[64] = malloc(k * sizeof *buf);
        const char **ids = malloc(k * sizeof *ids);
        db_status_t *st = malloc(k * sizeof *st);
        int *which = malloc(k * sizeof *which);
        for (size_t i = 0; i < k; i++) {
            // Spread over all records, every seventh unknown, some repeated.
            which[i] = i % 7 == 6 ? n + (int)i : (int)((i * 7919) % (size_t)n);
            if (i % 5 == 4)
                which[i] = which[i - 1];
            t_id(which[i], buf[i]);
            ids[i] = buf[i];
        }
        ipp_error_t err;
        ck_assert_int_eq(db_reader_result_status(r, ids, k, st, &err), IPP_OK);
        for (size_t i = 0; i < k; i++) {
            int j = which[i];
            db_status_t want = j >= n       ? DB_STATUS_UNKNOWN
                               : j % 2      ? DB_STATUS_PENDING
                               : j % 4 == 0 ? DB_STATUS_OK
                               : j % 8 == 2 ? DB_STATUS_ERROR
                                            : DB_STATUS_LOST;
            ck_assert_msg(st[i] == want, "%zu ids: status of %s: %d, want %d", k, ids[i], st[i],
                          want);
        }
        free(buf);
        free(ids);
        free(st);
        free(which);
    }
    db_reader_destroy(&r);
    db_writer_destroy(&w);
}
END_TEST

// Many ids when every recorded task is 'ok': the unfinished set is empty.
START_TEST(test_result_status_none_unfinished)
{
    db_writer_t *w = t_writer();
    for (int i = 0; i < 20; i++)
        t_insert(w, i, i, NULL);
    for (int i = 0; i < 20; i++)
        t_complete(w, i, DB_STATUS_OK, NULL, 5000 + i);
    t_sync(w);
    db_reader_t *r = t_reader();
    enum { K = 1000 };
    char(*buf)[64] = malloc(K * sizeof *buf);
    const char **ids = malloc(K * sizeof *ids);
    db_status_t st[K];
    for (int i = 0; i < K; i++) {
        t_id(i, buf[i]);
        ids[i] = buf[i];
    }
    ipp_error_t err;
    ck_assert_int_eq(db_reader_result_status(r, ids, K, st, &err), IPP_OK);
    for (int i = 0; i < K; i++)
        ck_assert_int_eq(st[i], i < 20 ? DB_STATUS_OK : DB_STATUS_UNKNOWN);
    free(buf);
    free(ids);
    db_reader_destroy(&r);
    db_writer_destroy(&w);
}
END_TEST

START_TEST(test_result_status_and_in_over_100k_ids)
{
    db_writer_t *w = t_writer();
    const int n = 2000;
    for (int i = 0; i < n; i++)
        t_insert(w, i, i, NULL);
    for (int i = 0; i < n; i += 2)
        t_complete(w, i, i % 4 ? DB_STATUS_ERROR : DB_STATUS_OK, NULL, 5000 + i);
    t_sync(w);
    db_reader_t *r = t_reader();
    // 100,000 ids: every known one and many unknown ones.
    const size_t k = 100000;
    char(*buf)[64] = malloc(k * sizeof *buf);
    const char **ids = malloc(k * sizeof *ids);
    db_status_t *st = malloc(k * sizeof *st);
    json_t *arr = json_array();
    for (size_t i = 0; i < k; i++) {
        t_id((int)i, buf[i]);
        ids[i] = buf[i];
        json_array_append_new(arr, json_string(buf[i]));
    }
    ipp_error_t err;
    ck_assert_int_eq(db_reader_result_status(r, ids, k, st, &err), IPP_OK);
    for (size_t i = 0; i < k; i++) {
        db_status_t want = i >= (size_t)n ? DB_STATUS_UNKNOWN
                           : i % 2        ? DB_STATUS_PENDING
                           : i % 4        ? DB_STATUS_ERROR
                                          : DB_STATUS_OK;
        ck_assert_msg(st[i] == want, "status of %s: %d, want %d", ids[i], st[i], want);
    }
    json_t *q = json_pack("{s:{s:O}}", "msg_id", "$in", arr);
    db_cursor_t *c = db_reader_find(r, q, NULL, 0, &err);
    ck_assert_msg(c != NULL, "%s", err.msg);
    db_record_t *rec;
    int rows = 0;
    while (db_cursor_next(c, &rec, &err) == IPP_OK && rec) {
        rows++;
        db_record_destroy(&rec);
    }
    ck_assert_int_eq(rows, n);
    db_cursor_destroy(&c);
    json_decref(q);
    // Status queries use the same language.
    char **found;
    size_t nf = t_find(r, "{\"status\": \"pending\"}", &found);
    ck_assert_uint_eq(nf, (size_t)n / 2);
    t_free_ids(found, nf);
    nf = t_find(r, "{\"status\": {\"$in\": [\"ok\", \"error\"]}}", &found);
    ck_assert_uint_eq(nf, (size_t)n / 2);
    t_free_ids(found, nf);
    nf = t_find(r, "{\"status\": {\"$ne\": \"ok\"}}", &found);
    ck_assert_uint_eq(nf, (size_t)n / 2 + (size_t)n / 4);
    t_free_ids(found, nf);
    json_decref(arr);
    free(buf);
    free(ids);
    free(st);
    db_reader_destroy(&r);
    db_writer_destroy(&w);
}
END_TEST

// t_count: records matching a query.
static size_t t_count(db_reader_t *r, const char *q)
{
    char **ids;
    size_t n = t_find(r, q, &ids);
    t_free_ids(ids, n);
    return n;
}

START_TEST(test_purge_refuses_pending_and_records_purges)
{
    db_writer_t *w = t_writer();
    for (int i = 0; i < 10; i++)
        t_insert(w, i, i, i < 5 ? "first" : "second");
    char id[64];
    for (int i = 0; i < 8; i++) {  // 8 and 9 stay pending
        t_id(i, id);
        ck_assert_int_eq(db_writer_assign(w, id, i % 2, i % 2 ? "eng-b" : "eng-a", 1, NULL),
                         IPP_OK);
        t_complete(w, i, DB_STATUS_OK, "o", 100 + i);
    }
    t_sync(w);
    db_writer_destroy(&w);

    ipp_error_t err;
    db_reader_t *rw = db_reader_new(t_path, DB_OPEN_READWRITE, NULL, &err);
    ck_assert_ptr_nonnull(rw);
    char a[64], b[64], p[64];
    t_id(1, a);
    t_id(2, b);
    t_id(9, p);
    int64_t purged = -1;
    // A pending task in the list: refused, naming it; nothing purged.
    const char *mixed[] = {a, p, b};
    db_purge_spec_t spec = {.msg_ids = mixed, .n_msg_ids = 3, .by = "alice"};
    ck_assert_int_eq(db_reader_purge(rw, &spec, &purged, &err), IPP_ERR_PENDING);
    ck_assert_ptr_nonnull(strstr(err.msg, p));
    ck_assert_int_eq(purged, 0);
    ck_assert_uint_eq(t_count(rw, "{}"), 10);
    // An unknown id: refused too.
    const char *unknown[] = {a, "no-such-task"};
    spec = (db_purge_spec_t){.msg_ids = unknown, .n_msg_ids = 2};
    ck_assert_int_eq(db_reader_purge(rw, &spec, &purged, &err), IPP_ERR_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(err.msg, "no-such-task"));
    ck_assert_uint_eq(t_count(rw, "{}"), 10);
    // A query matching a pending task: refused.
    spec = (db_purge_spec_t){.query_json = "{\"label\": \"second\"}"};
    ck_assert_int_eq(db_reader_purge(rw, &spec, &purged, &err), IPP_ERR_PENDING);
    ck_assert_uint_eq(t_count(rw, "{}"), 10);
    // A bad query: IPP_ERR_QUERY.
    spec = (db_purge_spec_t){.query_json = "{\"nokey\": 1}"};
    ck_assert_int_eq(db_reader_purge(rw, &spec, &purged, &err), IPP_ERR_QUERY);
    // Completed ids: purged.
    const char *two[] = {a, b};
    spec = (db_purge_spec_t){.msg_ids = two, .n_msg_ids = 2, .by = "alice"};
    ck_assert_int_eq(db_reader_purge(rw, &spec, &purged, &err), IPP_OK);
    ck_assert_int_eq(purged, 2);
    ck_assert_uint_eq(t_count(rw, "{}"), 8);
    // By query (all completed): purged.
    spec = (db_purge_spec_t){.query_json = "{\"label\": \"first\"}", .by = "bob"};
    ck_assert_int_eq(db_reader_purge(rw, &spec, &purged, &err), IPP_OK);
    ck_assert_int_eq(purged, 3);  // 0, 3, 4
    // By engine: only its completed records (5 and 7 ran on engine 1).
    int32_t eng = 1;
    spec = (db_purge_spec_t){.engine_ids = &eng, .n_engine_ids = 1};
    ck_assert_int_eq(db_reader_purge(rw, &spec, &purged, &err), IPP_OK);
    ck_assert_int_eq(purged, 2);
    // All completed: what is left of them; the pending ones stay.
    spec = (db_purge_spec_t){.all_completed = true, .by = "carol"};
    ck_assert_int_eq(db_reader_purge(rw, &spec, &purged, &err), IPP_OK);
    ck_assert_int_eq(purged, 1);  // 6
    ck_assert_uint_eq(t_count(rw, "{}"), 2);
    ck_assert_uint_eq(t_count(rw, "{\"status\": \"pending\"}"), 2);

    // Every purge is on record: when, by whom, what, how many.
    sqlite3_stmt *st;
    ck_assert_int_eq(sqlite3_prepare_v2(db_reader_sqlite(rw),
                                        "SELECT at, purged_by, what, count FROM purges ORDER BY id",
                                        -1, &st, NULL),
                     SQLITE_OK);
    int rows = 0;
    int64_t counts[4];
    while (sqlite3_step(st) == SQLITE_ROW) {
        ck_assert_int_gt(sqlite3_column_int64(st, 0), T0 - 86400000000LL * 365);
        ck_assert_ptr_nonnull(sqlite3_column_text(st, 2));
        if (rows == 0) {
            ck_assert_str_eq((const char *)sqlite3_column_text(st, 1), "alice");
            ck_assert_ptr_nonnull(strstr((const char *)sqlite3_column_text(st, 2), a));
        }
        counts[rows++ % 4] = sqlite3_column_int64(st, 3);
    }
    sqlite3_finalize(st);
    ck_assert_int_eq(rows, 4);
    ck_assert_int_eq(counts[0] + counts[1] + counts[2] + counts[3], 8);
    // Read-only readers refuse to purge.
    db_reader_t *ro = t_reader();
    spec = (db_purge_spec_t){.all_completed = true};
    ck_assert_int_eq(db_reader_purge(ro, &spec, &purged, &err), IPP_ERR_PERMISSION);
    db_reader_destroy(&ro);
    db_reader_destroy(&rw);
}
END_TEST

START_TEST(test_purge_through_writer_reports)
{
    db_writer_t *w = t_writer();
    for (int i = 0; i < 4; i++)
        t_insert(w, i, i, NULL);
    t_complete(w, 0, DB_STATUS_OK, NULL, 10);
    t_complete(w, 1, DB_STATUS_OK, NULL, 11);
    t_sync(w);
    char a[64], p[64];
    t_id(0, a);
    t_id(3, p);
    const char *bad[] = {a, p};
    db_purge_spec_t spec = {.msg_ids = bad, .n_msg_ids = 2, .by = "tool"};
    uint64_t s1, s2, s3;
    ck_assert_int_eq(db_writer_purge(w, &spec, &s1), IPP_OK);
    // In the same batch, an insert that must still commit.
    t_insert(w, 10, 10, NULL);
    s2 = db_writer_last_seq(w);
    spec = (db_purge_spec_t){.all_completed = true};
    ck_assert_int_eq(db_writer_purge(w, &spec, &s3), IPP_OK);
    ck_assert_int_eq(db_writer_sync(w, s3, 10000), IPP_OK);
    db_report_t rep;
    ck_assert(db_writer_next_report(w, &rep));
    ck_assert_uint_eq(rep.first_seq, s1);
    ck_assert_int_eq(rep.err.code, IPP_ERR_PENDING);
    ck_assert_ptr_nonnull(strstr(rep.err.msg, p));
    ck_assert(db_writer_next_report(w, &rep));
    ck_assert_uint_eq(rep.first_seq, s3);
    ck_assert_int_eq(rep.err.code, IPP_OK);
    ck_assert_int_eq(rep.count, 2);
    ck_assert(!db_writer_next_report(w, &rep));
    ck_assert_uint_ge(db_writer_committed(w), s2);
    db_reader_t *r = t_reader();
    ck_assert_uint_eq(t_count(r, "{}"), 3);  // 2, 3 pending and 10
    db_reader_destroy(&r);
    db_writer_destroy(&w);
}
END_TEST

START_TEST(test_dependencies_and_pending_reload)
{
    db_writer_t *w = t_writer();
    char a[64], b[64], c[64];
    t_id(1, a);
    t_id(2, b);
    t_id(3, c);
    t_insert(w, 1, 1, NULL);
    t_insert(w, 2, 2, NULL);
    ck_assert_int_eq(db_writer_assign(w, a, 4, "eng-4", 1, NULL), IPP_OK);
    t_complete(w, 1, DB_STATUS_OK, NULL, 5);
    const char *after_ids[] = {a, b};
    const char *follow_ids[] = {a};
    const int32_t targets[] = {4, 5};
    const char *req[] = {"fn:square", "tag:gpu"};
    db_request_t rq = {
        .msg_id = c,
        .submitted = T0 + 3,
        .client_uuid = "client-9",
        .queue = "task",
        .label = "dag",
        .after = {after_ids, 2, true, true, false},
        .follow = {follow_ids, 1, false, true, true},
        .timeout_us = 5000000,
        .retries = 2,
        .targets = targets,
        .n_targets = 2,
        .requires = req,
        .n_requires = 2,
        .header = {"h", 1},
    };
    ck_assert_int_eq(db_writer_insert(w, &rq, NULL), IPP_OK);
    t_sync(w);
    db_reader_t *r = t_reader();
    ipp_error_t err;
    // What depends on a: c (after and follow), listed once.
    db_strv_t *dep = NULL;
    ck_assert_int_eq(db_reader_dependents(r, a, &dep, &err), IPP_OK);
    ck_assert_uint_eq(dep->n, 1);
    ck_assert_str_eq(dep->v[0], c);
    db_strv_destroy(&dep);
    // Dependency state the scheduler resolves unknown ids with.
    db_status_t st;
    int32_t eng;
    ck_assert_int_eq(db_reader_dep_state(r, a, &st, &eng, &err), IPP_OK);
    ck_assert_int_eq(st, DB_STATUS_OK);
    ck_assert_int_eq(eng, 4);
    ck_assert_int_eq(db_reader_dep_state(r, b, &st, &eng, &err), IPP_OK);
    ck_assert_int_eq(st, DB_STATUS_PENDING);
    ck_assert_int_eq(db_reader_dep_state(r, "nobody", &st, &eng, &err), IPP_OK);
    ck_assert_int_eq(st, DB_STATUS_UNKNOWN);
    // Recovery: the pending tasks come back with everything to reschedule them.
    db_cursor_t *cur = db_reader_pending(r, &err);
    ck_assert_ptr_nonnull(cur);
    db_record_t *rec;
    ck_assert_int_eq(db_cursor_next(cur, &rec, &err), IPP_OK);
    ck_assert_str_eq(rec->msg_id, b);
    db_record_destroy(&rec);
    ck_assert_int_eq(db_cursor_next(cur, &rec, &err), IPP_OK);
    ck_assert_str_eq(rec->msg_id, c);
    ck_assert(rec->after.set);
    ck_assert_uint_eq(rec->after.n, 2);
    ck_assert_str_eq(rec->after.ids[1], b);
    ck_assert(rec->after.all && rec->after.success && !rec->after.failure);
    ck_assert(rec->follow.set && !rec->follow.all && rec->follow.failure);
    ck_assert_int_eq(rec->timeout, 5000000);
    ck_assert_int_eq(rec->retries, 2);
    ck_assert_uint_eq(rec->n_targets, 2);
    ck_assert_int_eq(rec->targets[1], 5);
    ck_assert_uint_eq(rec->n_requires, 2);
    ck_assert_str_eq(rec->requires[0], "fn:square");
    ck_assert_str_eq((char *)rec->header.data, "h");
    ck_assert_str_eq(rec->client_uuid, "client-9");
    db_record_destroy(&rec);
    ck_assert_int_eq(db_cursor_next(cur, &rec, &err), IPP_OK);
    ck_assert_ptr_null(rec);
    db_cursor_destroy(&cur);
    // The deps table answers DAG questions by SQL.
    sqlite3_stmt *s;
    ck_assert_int_eq(sqlite3_prepare_v2(db_reader_sqlite(r),
                                        "SELECT count(*) FROM deps WHERE task = ?1", -1, &s, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(s, 1, c, -1, SQLITE_STATIC);
    ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
    ck_assert_int_eq(sqlite3_column_int(s, 0), 3);
    sqlite3_finalize(s);
    db_reader_destroy(&r);
    db_writer_destroy(&w);
}
END_TEST

START_TEST(test_engines_and_resubmitted)
{
    ipp_error_t err;
    db_writer_t *w = t_writer();
    db_engine_t e = {.id = 0, .uuid = "uuid-a", .hostname = "h1", .pid = 100, .registered = T0};
    ck_assert_int_eq(db_writer_engine_up(w, &e, NULL), IPP_OK);
    e = (db_engine_t){.id = 1, .uuid = "uuid-b", .hostname = "h2", .pid = 200, .registered = T0};
    ck_assert_int_eq(db_writer_engine_up(w, &e, NULL), IPP_OK);
    ck_assert_int_eq(db_writer_engine_down(w, "uuid-b", T0 + 10, NULL), IPP_OK);
    t_insert(w, 1, 1, NULL);
    t_complete(w, 1, DB_STATUS_OK, NULL, 2);
    char a[64];
    t_id(1, a);
    ck_assert_int_eq(db_writer_resubmitted(w, a, "018f0000-0000-7000-8000-999999999999", NULL),
                     IPP_OK);
    t_sync(w);
    // Same uuid, new id: refused (ids are stable), reported.
    e = (db_engine_t){.id = 0, .uuid = "uuid-c"};
    uint64_t seq;
    ck_assert_int_eq(db_writer_engine_up(w, &e, &seq), IPP_OK);
    ck_assert_int_eq(db_writer_sync(w, seq, 10000), IPP_OK);
    db_report_t rep;
    ck_assert(db_writer_next_report(w, &rep));
    ck_assert_int_eq(rep.err.code, IPP_ERR_INVALID);
    db_writer_destroy(&w);

    db_reader_t *rw = db_reader_new(t_path, DB_OPEN_READWRITE, NULL, &err);
    db_engines_t *list = NULL;
    ck_assert_int_eq(db_reader_engines(rw, &list, &err), IPP_OK);
    ck_assert_uint_eq(list->n, 2);
    ck_assert_str_eq(list->v[1].uuid, "uuid-b");
    ck_assert_int_eq(list->v[1].unregistered, T0 + 10);
    ck_assert_int_eq(list->v[0].unregistered, 0);
    db_engines_destroy(&list);
    // Look up or allocate: known uuids keep their id, new ones get the next.
    int32_t id = -1;
    ck_assert_int_eq(db_reader_engine_id(rw, "uuid-b", "h2", 201, T0 + 20, &id, &err), IPP_OK);
    ck_assert_int_eq(id, 1);
    ck_assert_int_eq(db_reader_engine_id(rw, "uuid-new", "h3", 300, T0 + 20, &id, &err), IPP_OK);
    ck_assert_int_eq(id, 2);
    db_reader_destroy(&rw);
    rw = db_reader_new(t_path, DB_OPEN_READWRITE, NULL, &err);
    ck_assert_int_eq(db_reader_engine_id(rw, "uuid-new", "h3", 301, T0 + 30, &id, &err), IPP_OK);
    ck_assert_int_eq(id, 2);
    db_record_t *rec;
    ck_assert_int_eq(db_reader_get(rw, a, DB_KEYBIT(DB_KEY_RESUBMITTED), &rec, &err), IPP_OK);
    ck_assert_str_eq(rec->resubmitted, "018f0000-0000-7000-8000-999999999999");
    db_record_destroy(&rec);
    db_reader_destroy(&rw);
}
END_TEST

START_TEST(test_json_rows_for_tools)
{
    db_writer_t *w = t_writer();
    t_insert(w, 1, 0, "j");
    t_complete(w, 1, DB_STATUS_OK, "bytes \xff here", 1500000);
    t_sync(w);
    db_reader_t *r = t_reader();
    char id[64];
    t_id(1, id);
    ipp_error_t err;
    db_record_t *rec;
    ck_assert_int_eq(db_reader_get(r, id, DB_KEYS_ALL, &rec, &err), IPP_OK);
    json_t *j = db_record_to_json(rec, DB_JSON_ISO_TIME);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(json_string_value(json_object_get(j, "submitted")),
                     "2026-01-01T00:00:00.000000Z");
    ck_assert_str_eq(json_string_value(json_object_get(j, "completed")),
                     "2026-01-01T00:00:01.500000Z");
    ck_assert_str_eq(json_string_value(json_object_get(j, "status")), "ok");
    ck_assert_str_eq(json_string_value(json_object_get(j, "stdout")), "bytes \xef\xbf\xbd here");
    ck_assert(json_is_array(json_object_get(j, "buffers")));
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(j, "buffers"), 0)),
                     "YnVmLWE=");  // "buf-a"
    ck_assert(json_is_null(json_object_get(j, "error")));
    json_decref(j);
    j = db_record_to_json(rec, DB_JSON_NO_BYTES);
    ck_assert(json_is_integer(json_object_get(j, "submitted")));
    ck_assert_ptr_null(json_object_get(j, "header"));
    json_decref(j);
    db_record_destroy(&rec);
    db_reader_destroy(&r);
    db_writer_destroy(&w);
}
END_TEST

static Suite *t_suite(void)
{
    Suite *s = suite_create("db_store");
    TCase *tc = tcase_create("store");
    tcase_add_checked_fixture(tc, t_setup, t_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_add_grows_history_keeping_prefix);
    tcase_add_test(tc, test_history_in_submission_order);
    tcase_add_test(tc, test_dropped_record_is_gone);
    tcase_add_test(tc, test_updates_read_back_exactly);
    tcase_add_test(tc, test_submitted_lt_gte_partition_history);
    tcase_add_test(tc, test_in_nin_split_even_odd);
    tcase_add_test(tc, test_glob_matches_like_fnmatch);
    tcase_add_test(tc, test_projections_contain_msg_id);
    tcase_add_test(tc, test_null_queries);
    tcase_add_test(tc, test_records_are_copies);
    tcase_add_test(tc, test_result_status_and_in_over_100k_ids);
    tcase_add_test(tc, test_result_status_paths_agree);
    tcase_add_test(tc, test_result_status_none_unfinished);
    tcase_add_test(tc, test_purge_refuses_pending_and_records_purges);
    tcase_add_test(tc, test_purge_through_writer_reports);
    tcase_add_test(tc, test_dependencies_and_pending_reload);
    tcase_add_test(tc, test_engines_and_resubmitted);
    tcase_add_test(tc, test_json_rows_for_tools);
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
