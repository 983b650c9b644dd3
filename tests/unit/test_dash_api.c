/* test_dash_api.c — the dashboard's JSON API handlers (tools/dashboard/
 * api.c) and its live event ring (live.c) on a real task database written
 * by the real writer: history pages join up newest first with no record
 * twice, every filter finds what an SQL count says, bad parameters get
 * IPP_ERR_INVALID (HTTP 400) with a message naming the parameter, a task's
 * page has its dependencies both ways and its traceback, the workflow's
 * SVG has one node per task, the audit chain reads intact.
 */
#include "db/reader.h"
#include "db/writer.h"
#include "testutil.h"
#include "tools/dashboard/api.h"
#include "tools/dashboard/graph.h"
#include "tools/dashboard/live.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char t_dir[256];
static char t_path[512];
enum { N = 60 };                             // tasks
static const int64_t T0 = 1767225600000000;  // 2026-01-01T00:00:00Z

static void t_id(int i, char out[64])
{
    snprintf(out, 64, "018f0000-0000-7000-8000-%012d", i);
}

// t_setup: N tasks: i % 3 labelled wf/n<i> (the workflow; each depends on
// the one before it), the rest batch/<i>; engines 0 and 1 by parity; task
// 7 failed with a traceback, task 11 aborted, the last two pending;
// submitters alice (even) and bob (odd).
static void t_setup(void)
{
    tu_tmpdir(t_dir, sizeof t_dir, "dash_api");
    snprintf(t_path, sizeof t_path, "%s/tasks.db", t_dir);
    ipp_error_t err;
    db_writer_t *w = db_writer_new(t_path, NULL, NULL, &err);
    ck_assert_msg(w != NULL, "writer: %s", err.msg);
    ck_assert_int_eq(db_writer_start(w, &err), IPP_OK);
    uint64_t seq = 0;
    db_engine_t e0 = {0, "0190a1b2-0000-7000-8000-0000000000e0", "hosta", 100, T0};
    db_engine_t e1 = {1, "0190a1b2-0000-7000-8000-0000000000e1", "hostb", 101, T0};
    ck_assert_int_eq(db_writer_engine_up(w, &e0, &seq), IPP_OK);
    ck_assert_int_eq(db_writer_engine_up(w, &e1, &seq), IPP_OK);
    char prev_wf[64] = "";
    for (int i = 0; i < N; i++) {
        char id[64], label[64];
        t_id(i, id);
        bool wf = i % 3 == 0;
        snprintf(label, sizeof label, wf ? "wf/n%d" : "batch/%d", i);
        const char *dep[1] = {prev_wf};
        db_request_t req = {
            .msg_id = id,
            .header = {"h", 1},
            .content = {"c", 1},
            .submitted = T0 + i * 1000000LL,
            .client_uuid = "0190a1b2-0000-7000-8000-00000000c11e",
            .queue = "task",
            .label = label,
            .execute_input = "echo hi",
            .submitted_by = i % 2 ? "bob" : "alice",
        };
        if (wf && prev_wf[0])
            req.after = (db_dep_spec_t){dep, 1, true, true, false};
        ck_assert_int_eq(db_writer_insert(w, &req, &seq), IPP_OK);
        if (wf)
            snprintf(prev_wf, sizeof prev_wf, "%s", id);
        if (i >= N - 3)
            continue;  // pending
        const char *eu = i % 2 ? e1.uuid : e0.uuid;
        ck_assert_int_eq(db_writer_assign(w, id, i % 2, eu, 1, &seq), IPP_OK);
        if (i == 11) {
            ck_assert_int_eq(db_writer_set_status(w, id, DB_STATUS_ABORTED,
                                                  T0 + i * 1000000LL + 500, "TaskAborted",
                                                  "aborted by test", &seq),
                             IPP_OK);
            continue;
        }
        static const char *const tb[] = {"Traceback (most recent call last):",
                                         "  File \"job.py\", line 3", "ValueError: bad input"};
        db_result_t res = {
            .msg_id = id,
            .status = i == 7 ? DB_STATUS_ERROR : DB_STATUS_OK,
            .started = T0 + i * 1000000LL + 100,
            .completed = T0 + i * 1000000LL + 900,
            .received = T0 + i * 1000000LL + 950,
            .stdout_data = {"out\n", 4},
            .ename = i == 7 ? "ValueError" : NULL,
            .evalue = i == 7 ? "bad input" : NULL,
            .traceback = i == 7 ? tb : NULL,
            .n_traceback = i == 7 ? 3 : 0,
            .error_engine_id = i % 2,
            .execute_result = i == 7 ? NULL : "'hi'",
        };
        ck_assert_int_eq(db_writer_result(w, &res, &seq), IPP_OK);
    }
    ck_assert_int_eq(db_writer_sync(w, seq, 10000), IPP_OK);
    db_writer_destroy(&w);
}

static void t_teardown(void)
{
    tu_rmtree(t_dir);
}

// Parameters from a NULL-terminated name, value, name, value… list.
static const char *t_get(void *arg, const char *name)
{
    const char *const *kv = arg;
    for (size_t i = 0; kv[i]; i += 2)
        if (strcmp(kv[i], name) == 0)
            return kv[i + 1];
    return NULL;
}

// t_count: the integer answer of sql on the test database.
static long t_count(const char *sql)
{
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open_v2(t_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    long n = (long)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

static dash_live_t *t_live;

static dash_api_t *t_api(void)
{
    t_live = dash_live_new();
    ck_assert_ptr_nonnull(t_live);
    ipp_error_t err;
    dash_api_t *a = dash_api_new(t_path, t_live, &err);
    ck_assert_msg(a != NULL, "%s", err.msg);
    return a;
}

static void t_done(dash_api_t **a)
{
    dash_api_destroy(a);
    dash_live_destroy(&t_live);
}

// t_history: the rows of every page of the history with params kv (a
// "before" is added per page), page size limit, as one array.
static json_t *t_history(dash_api_t *a, const char **kv, const char *limit, int *pages)
{
    json_t *all = json_array();
    const char *p[32];
    size_t n = 0;
    for (; kv[n]; n++)
        p[n] = kv[n];
    p[n++] = "limit";
    p[n++] = limit;
    char cursor[64] = "";
    *pages = 0;
    for (;;) {
        size_t k = n;
        if (cursor[0]) {
            p[k++] = "before";
            p[k++] = cursor;
        }
        p[k] = NULL;
        dash_params_t params = {t_get, p};
        ipp_error_t err;
        json_t *page = dash_api_history(a, &params, &err);
        ck_assert_msg(page != NULL, "%s", err.msg);
        (*pages)++;
        json_array_extend(all, json_object_get(page, "tasks"));
        const char *next = json_string_value(json_object_get(page, "next"));
        if (!next) {
            json_decref(page);
            break;
        }
        snprintf(cursor, sizeof cursor, "%s", next);
        json_decref(page);
        ck_assert_int_lt(*pages, 100);
    }
    return all;
}

START_TEST(test_history_pages_newest_first)
{
    dash_api_t *a = t_api();
    const char *none[] = {NULL};
    int pages = 0;
    json_t *all = t_history(a, none, "7", &pages);
    ck_assert_int_eq(json_array_size(all), N);
    ck_assert_int_eq(pages, (N + 6) / 7);
    // Newest first: task N-1 down to 0, each once.
    for (size_t i = 0; i < json_array_size(all); i++) {
        char id[64];
        t_id(N - 1 - (int)i, id);
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(all, i), "msg_id")), id);
    }
    json_decref(all);
    t_done(&a);
}
END_TEST

START_TEST(test_history_filters)
{
    dash_api_t *a = t_api();
    int pages;
    struct {
        const char *kv[7];
        const char *sql;
    } cases[] = {
        {{"label", "wf/*", NULL}, "SELECT count(*) FROM tasks WHERE label LIKE 'wf/%'"},
        {{"status", "error", NULL}, "SELECT count(*) FROM tasks WHERE status = 'error'"},
        {{"status", "ok", NULL}, "SELECT count(*) FROM tasks WHERE status = 'ok'"},
        {{"status", "pending", NULL}, "SELECT count(*) FROM tasks WHERE status = 'pending'"},
        {{"engine", "1", NULL}, "SELECT count(*) FROM tasks WHERE engine_id = 1"},
        {{"submitter", "bob", NULL}, "SELECT count(*) FROM tasks WHERE submitted_by = 'bob'"},
        {{"since", "2026-01-01T00:00:10Z", "until", "1767225620000000", NULL},
         "SELECT count(*) FROM tasks WHERE submitted >= 1767225610000000"
         " AND submitted < 1767225620000000"},
        {{"label", "batch/*", "engine", "0", "status", "ok", NULL},
         "SELECT count(*) FROM tasks WHERE label LIKE 'batch/%' AND engine_id = 0"
         " AND status = 'ok'"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        json_t *all = t_history(a, cases[c].kv, "4", &pages);
        long want = t_count(cases[c].sql);
        ck_assert_msg(want > 0, "case %zu finds nothing: a test that cannot fail", c);
        ck_assert_msg((long)json_array_size(all) == want, "case %zu: %zu rows, SQL says %ld", c,
                      json_array_size(all), want);
        json_decref(all);
    }
    t_done(&a);
}
END_TEST

START_TEST(test_bad_parameters)
{
    dash_api_t *a = t_api();
    struct {
        const char *kv[5];
        const char *names;  // what the message must mention
    } cases[] = {
        {{"status", "bogus", NULL}, "status"},    {{"limit", "0", NULL}, "limit"},
        {{"limit", "abc", NULL}, "limit"},        {{"limit", "501", NULL}, "limit"},
        {{"engine", "-1", NULL}, "engine"},       {{"engine", "x", NULL}, "engine"},
        {{"since", "yesterday", NULL}, "since"},  {{"until", "12:00", NULL}, "until"},
        {{"before", "nonsense", NULL}, "before"}, {{"before", "1.2.3", NULL}, "before"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        dash_params_t p = {t_get, (void *)cases[c].kv};
        ipp_error_t err = {0};
        json_t *j = dash_api_history(a, &p, &err);
        ck_assert_msg(j == NULL, "case %zu accepted", c);
        ck_assert_int_eq(err.code, IPP_ERR_INVALID);
        ck_assert_int_eq(dash_api_http_status(err.code), 400);
        ck_assert_msg(strstr(err.msg, cases[c].names), "case %zu: '%s'", c, err.msg);
    }
    const char *stream_bad[] = {"since", "20", "until", "10", NULL};
    dash_params_t p = {t_get, stream_bad};
    ipp_error_t err = {0};
    ck_assert_ptr_null(dash_api_stream(a, &p, T0, &err));
    ck_assert_int_eq(err.code, IPP_ERR_INVALID);
    const char *stream_lim[] = {"limit", "10001", NULL};
    p.arg = stream_lim;
    ck_assert_ptr_null(dash_api_stream(a, &p, T0, &err));
    ck_assert_int_eq(err.code, IPP_ERR_INVALID);
    const char *wf_none[] = {NULL};
    p.arg = wf_none;
    ck_assert_ptr_null(dash_api_workflow(a, &p, &err));
    ck_assert_int_eq(err.code, IPP_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "prefix"));
    // Not ids: refused before any SQL; unknown ones are 404.
    ck_assert_ptr_null(dash_api_task(a, "x' OR 1=1 --", &err));
    ck_assert_int_eq(err.code, IPP_ERR_INVALID);
    ck_assert_ptr_null(dash_api_task(a, "018f0000-0000-7000-8000-999999999999", &err));
    ck_assert_int_eq(err.code, IPP_ERR_NOT_FOUND);
    ck_assert_int_eq(dash_api_http_status(err.code), 404);
    t_done(&a);
}
END_TEST

START_TEST(test_task_page)
{
    dash_api_t *a = t_api();
    ipp_error_t err;
    char id[64], prev[64], next[64];
    t_id(3, id);
    t_id(0, prev);
    t_id(6, next);
    json_t *t = dash_api_task(a, id, &err);
    ck_assert_msg(t != NULL, "%s", err.msg);
    ck_assert_str_eq(json_string_value(json_object_get(t, "label")), "wf/n3");
    ck_assert_str_eq(json_string_value(json_object_get(t, "status")), "ok");
    ck_assert_str_eq(json_string_value(json_object_get(t, "stdout")), "out\n");
    ck_assert_str_eq(json_string_value(json_object_get(t, "execute_result")), "'hi'");
    ck_assert_str_eq(json_string_value(json_object_get(t, "execute_input")), "echo hi");
    ck_assert_int_eq(json_integer_value(json_object_get(t, "engine_id")), 1);
    ck_assert_int_eq(strlen(json_string_value(json_object_get(t, "audit_hash"))), 64);
    json_t *up = json_object_get(t, "depends_on"), *down = json_object_get(t, "dependents");
    ck_assert_int_eq(json_array_size(up), 1);
    ck_assert_int_eq(json_array_size(down), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(up, 0), "msg_id")), prev);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(up, 0), "kind")), "after");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(down, 0), "msg_id")), next);
    ck_assert_ptr_null(json_object_get(t, "header"));  // no byte columns
    json_decref(t);
    t_id(7, id);
    t = dash_api_task(a, id, &err);
    ck_assert_ptr_nonnull(t);
    json_t *e = json_object_get(t, "error");
    ck_assert_str_eq(json_string_value(json_object_get(e, "ename")), "ValueError");
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(e, "traceback"), 2)),
                     "ValueError: bad input");
    json_decref(t);
    t_done(&a);
}
END_TEST

START_TEST(test_stream)
{
    dash_api_t *a = t_api();
    // Tasks 10..19 completed in [T0+10 s, T0+20 s).
    const char *kv[] = {"since", "1767225610000000", "until", "2026-01-01T00:00:20Z", NULL};
    dash_params_t p = {t_get, kv};
    ipp_error_t err;
    char *text = dash_api_stream(a, &p, T0 + 3600000000LL, &err);
    ck_assert_msg(text != NULL, "%s", err.msg);
    json_t *s = json_loads(text, 0, NULL);
    free(text);
    ck_assert_ptr_nonnull(s);
    json_t *tasks = json_object_get(s, "tasks");
    // 10 completed in range, plus the tasks running now (none: the
    // pending ones never started).
    ck_assert_int_eq(json_array_size(tasks), 10);
    ck_assert_int_eq(json_array_size(json_object_get(s, "engines")), 2);
    size_t i;
    json_t *t;
    json_array_foreach(tasks, i, t)
    {
        int64_t c = json_integer_value(json_object_get(t, "completed"));
        ck_assert(c >= T0 + 10000000 && c < T0 + 20000000);
    }
    json_decref(s);
    const char *lim[] = {"since", "0", "limit", "5", NULL};
    p.arg = lim;
    text = dash_api_stream(a, &p, T0 + 3600000000LL, &err);
    ck_assert_ptr_nonnull(text);
    s = json_loads(text, 0, NULL);
    free(text);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(json_array_size(json_object_get(s, "tasks")), 5);
    json_decref(s);
    t_done(&a);
}
END_TEST

// t_occurrences: how many times needle is in hay.
static int t_occurrences(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

START_TEST(test_workflow_and_svg)
{
    dash_api_t *a = t_api();
    const char *kv[] = {"prefix", "wf/", NULL};
    dash_params_t p = {t_get, kv};
    ipp_error_t err;
    json_t *w = dash_api_workflow(a, &p, &err);
    ck_assert_msg(w != NULL, "%s", err.msg);
    long nodes = t_count("SELECT count(*) FROM tasks WHERE label LIKE 'wf/%'");
    ck_assert_int_eq((long)json_array_size(json_object_get(w, "nodes")), nodes);
    ck_assert_int_eq((long)json_array_size(json_object_get(w, "edges")), nodes - 1);
    json_decref(w);
    char *svg = dash_api_workflow_svg(a, &p, &err);
    ck_assert_msg(svg != NULL, "%s", err.msg);
    ck_assert_ptr_nonnull(strstr(svg, "<svg"));
    ck_assert_int_eq(t_occurrences(svg, "<g id=\"task&#45;"), (int)nodes);
    ck_assert_int_eq(t_occurrences(svg, "class=\"edge after\""), (int)nodes - 1);
    // Task 57 is pending, the workflow's other nodes ok.
    ck_assert_int_eq(t_occurrences(svg, "state&#45;pending"), 1);
    free(svg);
    // A prefix is literal: glob characters in it match only themselves.
    const char *lit[] = {"prefix", "wf*", NULL};
    p.arg = lit;
    w = dash_api_workflow(a, &p, &err);
    ck_assert_ptr_nonnull(w);
    ck_assert_int_eq(json_array_size(json_object_get(w, "nodes")), 0);
    json_decref(w);
    t_done(&a);
}
END_TEST

START_TEST(test_dot_escapes_labels)
{
    json_t *w = json_pack("{s:[{s:s,s:s,s:s}],s:[]}", "nodes", "msg_id",
                          "018f0000-0000-7000-8000-000000000001", "label", "a\"b\\c\"];x", "status",
                          "ok", "edges");
    char *dot = dash_graph_dot(w);
    ck_assert_ptr_nonnull(dot);
    ck_assert_ptr_nonnull(strstr(dot, "label=\"a\\\"b\\\\c\\\"];x\""));
    free(dot);
    ipp_error_t err;
    char *svg = dash_graph_svg(w, &err);
    ck_assert_msg(svg != NULL, "%s", err.msg);
    free(svg);
    json_decref(w);
}
END_TEST

START_TEST(test_overview_and_audit)
{
    dash_api_t *a = t_api();
    ipp_error_t err;
    json_t *o = dash_api_overview(a, T0 + 120000000LL, &err);
    ck_assert_msg(o != NULL, "%s", err.msg);
    ck_assert(!json_boolean_value(json_object_get(o, "online")));
    json_t *c = json_object_get(o, "counts");
    ck_assert_int_eq(json_integer_value(json_object_get(c, "total")), N);
    ck_assert_int_eq(json_integer_value(json_object_get(c, "error")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(c, "aborted")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(c, "pending")), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(c, "ok")), N - 5);
    json_t *engines = json_object_get(o, "engines");
    ck_assert_int_eq(json_array_size(engines), 2);
    json_t *e1 = json_array_get(engines, 1);
    ck_assert_str_eq(json_string_value(json_object_get(e1, "hostname")), "hostb");
    ck_assert_int_eq(json_integer_value(json_object_get(e1, "done")),
                     t_count("SELECT count(*) FROM tasks WHERE engine_id = 1"));
    ck_assert_int_eq(json_integer_value(json_object_get(e1, "failures")), 2);  // 7 and 11
    json_t *fails = json_object_get(o, "recent_failures");
    ck_assert_int_eq(json_array_size(fails), 2);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(fails, 0), "status")),
                     "aborted");  // newest first
    // Every completion is within five minutes of T0 + 120 s.
    json_int_t sum = 0;
    size_t i;
    json_t *pt;
    json_array_foreach(json_object_get(json_object_get(o, "rate"), "points"), i, pt) sum +=
        json_integer_value(json_object_get(pt, "n"));
    ck_assert_int_eq(sum, N - 3);
    json_decref(o);

    // Online: the engines come from the live snapshot.
    dash_live_set(t_live, json_pack("[{s:i,s:b,s:s}]", "id", 1, "up", 1, "hostname", "live"), 3,
                  true);
    o = dash_api_overview(a, T0, &err);
    ck_assert_ptr_nonnull(o);
    ck_assert(json_boolean_value(json_object_get(o, "online")));
    ck_assert_int_eq(json_integer_value(json_object_get(o, "unassigned")), 3);
    ck_assert_int_eq(json_array_size(json_object_get(o, "engines")), 1);
    json_decref(o);

    json_t *au = dash_api_audit(a, &err);
    ck_assert_msg(au != NULL, "%s", err.msg);
    ck_assert(json_boolean_value(json_object_get(au, "intact")));
    ck_assert_int_eq(json_integer_value(json_object_get(au, "checked")), N - 3);
    ck_assert_int_eq(json_array_size(json_object_get(au, "purges")), 0);
    json_decref(au);
    t_done(&a);
}
END_TEST

START_TEST(test_live_ring)
{
    dash_live_t *l = dash_live_new();
    ck_assert_ptr_nonnull(l);
    uint64_t seq = 0;
    char *text = NULL;
    ck_assert(dash_live_wait(l, &seq, 10, &text));
    ck_assert_ptr_null(text);  // nothing came
    dash_live_push(l, "task", json_pack("{s:s}", "msg_id", "a"));
    dash_live_push(l, "task", json_pack("{s:s}", "msg_id", "b"));
    ck_assert(dash_live_wait(l, &seq, 10, &text));
    ck_assert_str_eq(text, "event: task\ndata: {\"msg_id\":\"a\"}\n\n"
                           "event: task\ndata: {\"msg_id\":\"b\"}\n\n");
    free(text);
    ck_assert_int_eq(seq, 2);
    // The same engines twice make one event.
    dash_live_set(l, json_pack("[{s:i}]", "id", 0), 0, true);
    dash_live_set(l, json_pack("[{s:i}]", "id", 0), 0, true);
    ck_assert_int_eq(dash_live_seq(l), 3);
    // A reader that fell behind by more than the ring is told how many it lost.
    for (int i = 0; i < DASH_LIVE_RING + 5; i++)
        dash_live_push(l, "task", json_pack("{s:i}", "i", i));
    ck_assert(dash_live_wait(l, &seq, 10, &text));
    ck_assert_ptr_nonnull(strstr(text, "event: lost\ndata: {\"lost\":6}"));
    free(text);
    dash_live_stop(l);
    ck_assert(!dash_live_wait(l, &seq, 1000, &text));
    dash_live_destroy(&l);
    ck_assert_ptr_null(l);
}
END_TEST

START_TEST(test_parse_time)
{
    int64_t us;
    ck_assert(dash_api_parse_time("1767225600000000", &us));
    ck_assert_int_eq(us, T0);
    ck_assert(dash_api_parse_time("2026-01-01T00:00:00Z", &us));
    ck_assert_int_eq(us, T0);
    ck_assert(!dash_api_parse_time("", &us));
    ck_assert(!dash_api_parse_time("tomorrow", &us));
    ck_assert(!dash_api_parse_time("1234567890123456789012", &us));
    ck_assert(dash_api_valid_id("018f0000-0000-7000-8000-000000000001"));
    ck_assert(!dash_api_valid_id("../etc/passwd"));
    ck_assert(!dash_api_valid_id(""));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dash_api");
    TCase *tc = tcase_create("api");
    tcase_add_checked_fixture(tc, t_setup, t_teardown);
    tcase_add_test(tc, test_history_pages_newest_first);
    tcase_add_test(tc, test_history_filters);
    tcase_add_test(tc, test_bad_parameters);
    tcase_add_test(tc, test_task_page);
    tcase_add_test(tc, test_stream);
    tcase_add_test(tc, test_workflow_and_svg);
    tcase_add_test(tc, test_overview_and_audit);
    suite_add_tcase(s, tc);
    TCase *tp = tcase_create("pure");
    tcase_add_test(tp, test_dot_escapes_labels);
    tcase_add_test(tp, test_live_ring);
    tcase_add_test(tp, test_parse_time);
    suite_add_tcase(s, tp);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
