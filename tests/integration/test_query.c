/* test_query.c — ipp-query against a real controller and engine: every
 * subcommand in every output format, online through the controller, and
 * offline on the database file (--db) both while the controller runs and
 * after it stopped; --label selection; the audit chain verified intact and
 * then tampered with (a completed record's stdout changed, a record
 * deleted) on a copy of the database.
 *
 * Each test starts its own cluster (one engine) and submits the same
 * tasks through the harness's wire client, so what ipp-query prints can be
 * checked against known ids, labels, outputs and outcomes.
 */
#include "harness.h"
#include "test_query_util.h"

#include "proto/clock.h"

#include <check.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef char id_t_[IPP_MSGID_LEN + 1];

static h_cluster_t C;
static h_client_t K;

// The tasks every test submits.
enum { T_SHELL, T_ECHO, T_FAIL, T_EXIT3, T_SLOW, N_TASKS };
static id_t_ ids[N_TASKS];
static const char *const UNKNOWN_ID = "0190aaaa-bbbb-7ccc-8ddd-eeeeeeeeeeee";

// The three ways of asking: 0 online, 1 offline while the controller
// runs, 2 offline after it stopped.
static const char *mode_args[3][3];
static const char *const mode_name[3] = {"online", "offline (controller running)",
                                         "offline (controller stopped)"};

// s_up: a controller, one engine, a client; the finished tasks submitted
// and collected, and with slow the slow one submitted (it stays pending).
static void s_up(bool slow)
{
    setenv("USER", "qtester", 1);  // what the records name as the submitting user
    h_cluster_init(&C);
    h_controller_start(&C, NULL);
    h_engine_start(&C, NULL);
    h_client_open(&K, &C);
    ck_assert_msg(h_wait_engines(&K, 1, 15000), "the engine did not register");
    h_task_t t[N_TASKS] = {
        [T_SHELL] = {.shell = "echo hello; echo oops >&2", .target = -1, .label = "q/ok-shell"},
        [T_ECHO] = {.call = "echo",
                    .args = (const char *[]){"value-1"},
                    .n_args = 1,
                    .target = -1,
                    .label = "q/ok-echo"},
        [T_FAIL] = {.call = "fail",
                    .args = (const char *[]){"boom"},
                    .n_args = 1,
                    .target = -1,
                    .label = "q/bad"},
        [T_EXIT3] = {.shell = "exit 3", .target = -1, .label = "other/exit3"},
        [T_SLOW] = {.shell = "sleep 30", .target = -1, .label = "q/slow", .wall_limit_s = 25},
    };
    for (int i = 0; i < T_SLOW; i++)
        h_submit(&K, &t[i], ids[i]);
    h_result_t res[T_SLOW];
    ck_assert_uint_eq(h_collect(&K, ids, T_SLOW, res, 20000), T_SLOW);
    ck_assert_int_eq(res[T_SHELL].status, IPP__STATUS__OK);
    ck_assert_int_eq(res[T_FAIL].status, IPP__STATUS__ERROR);
    if (slow)
        h_submit(&K, &t[T_SLOW], ids[T_SLOW]);
    mode_args[0][0] = NULL;
    mode_args[1][0] = mode_args[2][0] = "--db";
    mode_args[1][1] = mode_args[2][1] = C.db_path;
    mode_args[1][2] = mode_args[2][2] = NULL;
}

static void s_down(void)
{
    h_client_close(&K);
    int bad = h_cluster_stop(&C);
    h_cluster_fini(&C);
    ck_assert_msg(bad == 0, "%d processes did not stop cleanly", bad);
}

// s_find_row: the row of rows whose key equals value, or NULL.
static json_t *s_find_row(json_t *rows, const char *key, const char *value)
{
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r)
    {
        const char *v = qt_str(r, key);
        if (v && strcmp(v, value) == 0)
            return r;
    }
    return NULL;
}

// s_csv_header_is: row 0 of csv equals cols[0..n).
static void s_csv_header_is(json_t *csv, const char *const *cols, size_t n)
{
    json_t *h = json_array_get(csv, 0);
    ck_assert_msg(h != NULL, "CSV has no header");
    ck_assert_uint_eq(json_array_size(h), n);
    for (size_t i = 0; i < n; i++)
        ck_assert_str_eq(json_string_value(json_array_get(h, i)), cols[i]);
}

// s_wait_running: poll queue_status --json until the slow task runs.
static void s_wait_running(void)
{
    int64_t until = ipp_clock_mono_us() + 10 * 1000000;
    for (;;) {
        qt_run_t r;
        qt_run(&r, 20, (const char *[]){"queue_status", "--json", NULL});
        ck_assert_int_eq(r.status, 0);
        json_t *rows = qt_json_lines(r.out);
        json_t *e0 = json_array_get(rows, 0);
        int running = (int)json_integer_value(json_object_get(e0, "running"));
        json_decref(rows);
        qt_run_fini(&r);
        if (running == 1)
            return;
        ck_assert_msg(ipp_clock_mono_us() < until, "the slow task never ran");
        usleep(100000);
    }
}

// ---------------------------------------------------------------- per mode

static void s_check_result_status(int m)
{
    const char *const *M = mode_args[m];
    qt_run_t r;
    // JSON: every id, the right state and outcome; a failure and an
    // unknown id make exit 1.
    qt_runv(&r, 20, M,
            (const char *[]){"result_status", "--json", ids[T_SHELL], ids[T_ECHO], ids[T_FAIL],
                             ids[T_SLOW], UNKNOWN_ID, NULL});
    ck_assert_msg(r.status == 1, "%s: exit %d: %s", mode_name[m], r.status, r.err);
    json_t *rows = qt_json_lines(r.out);
    ck_assert_uint_eq(json_array_size(rows), 5);
    json_t *ok = json_array_get(rows, 0);
    ck_assert_str_eq(qt_str(ok, "msg_id"), ids[T_SHELL]);
    ck_assert_str_eq(qt_str(ok, "state"), "completed");
    ck_assert_str_eq(qt_str(ok, "status"), "ok");
    ck_assert_str_eq(qt_str(ok, "label"), "q/ok-shell");
    ck_assert_int_eq(json_integer_value(json_object_get(ok, "engine_id")), 0);
    const char *done = qt_str(ok, "completed");
    ck_assert_msg(done && strlen(done) == 27 && done[10] == 'T' && done[26] == 'Z',
                  "completed is not ISO 8601 UTC: %s", done ? done : "null");
    ck_assert_str_eq(qt_str(json_array_get(rows, 2), "status"), "error");
    ck_assert_str_eq(qt_str(json_array_get(rows, 3), "state"), "pending");
    ck_assert_str_eq(qt_str(json_array_get(rows, 3), "status"), "pending");
    ck_assert_str_eq(qt_str(json_array_get(rows, 4), "msg_id"), UNKNOWN_ID);
    ck_assert_str_eq(qt_str(json_array_get(rows, 4), "state"), "unknown");
    json_decref(rows);
    qt_run_fini(&r);

    // CSV: the header and one row per id.
    static const char *const cols[] = {"msg_id", "state",     "status",
                                       "label",  "engine_id", "completed"};
    qt_runv(
        &r, 20, M,
        (const char *[]){"result_status", "--csv", ids[T_SHELL], ids[T_FAIL], ids[T_SLOW], NULL});
    ck_assert_int_eq(r.status, 1);
    json_t *csv = qt_csv(r.out);
    s_csv_header_is(csv, cols, 6);
    ck_assert_uint_eq(json_array_size(csv), 4);
    ck_assert_str_eq(json_string_value(json_array_get(json_array_get(csv, 2), 2)), "error");
    ck_assert_str_eq(json_string_value(json_array_get(json_array_get(csv, 3), 1)), "pending");
    ck_assert_str_eq(json_string_value(json_array_get(json_array_get(csv, 3), 5)), "");
    json_decref(csv);
    qt_run_fini(&r);

    // Table: a header and an aligned line per id; only successes: exit 0.
    qt_runv(&r, 20, M, (const char *[]){"result_status", ids[T_SHELL], ids[T_ECHO], NULL});
    ck_assert_msg(r.status == 0, "%s: exit %d: %s", mode_name[m], r.status, r.err);
    ck_assert_uint_eq(qt_lines(r.out), 3);
    ck_assert(qt_has_line(r.out, "msg_id  ", "state"));
    ck_assert(qt_has_line(r.out, ids[T_SHELL], "q/ok-shell"));
    ck_assert(qt_has_line(r.out, ids[T_ECHO], "completed"));
    ck_assert(strchr(r.out, '\t') == NULL);
    qt_run_fini(&r);

    // --label: the tasks whose label matches, nothing else.
    qt_runv(&r, 20, M, (const char *[]){"result_status", "--label", "q/ok-*", "--json", NULL});
    ck_assert_int_eq(r.status, 0);
    rows = qt_json_lines(r.out);
    ck_assert_uint_eq(json_array_size(rows), 2);
    ck_assert_ptr_nonnull(s_find_row(rows, "msg_id", ids[T_SHELL]));
    ck_assert_ptr_nonnull(s_find_row(rows, "msg_id", ids[T_ECHO]));
    json_decref(rows);
    qt_run_fini(&r);

    // A label nobody has, and text that is no msg_id: reported, exit 1.
    qt_runv(&r, 20, M, (const char *[]){"result_status", "--label", "nobody/*", NULL});
    ck_assert_int_eq(r.status, 1);
    ck_assert_ptr_nonnull(strstr(r.err, "nobody/*"));
    qt_run_fini(&r);
    qt_runv(&r, 20, M,
            (const char *[]){"result_status", "--json", "not-a-msg-id", "bad\xff\xfe", NULL});
    ck_assert_int_eq(r.status, 1);
    rows = qt_json_lines(r.out);
    ck_assert_uint_eq(json_array_size(rows), 2);
    ck_assert_str_eq(qt_str(json_array_get(rows, 0), "state"), "unknown");
    ck_assert_str_eq(qt_str(json_array_get(rows, 1), "msg_id"), "bad\xEF\xBF\xBD\xEF\xBF\xBD");
    ck_assert_str_eq(qt_str(json_array_get(rows, 1), "state"), "unknown");
    json_decref(rows);
    qt_run_fini(&r);
}

static void s_check_queue_status(int m)
{
    qt_run_t r;
    if (m != 0) {
        // The queues are in the controller's memory only.
        qt_runv(&r, 20, mode_args[m], (const char *[]){"queue_status", NULL});
        ck_assert_int_eq(r.status, 2);
        ck_assert_ptr_nonnull(strstr(r.err, "needs the controller"));
        qt_run_fini(&r);
        return;
    }
    qt_run(&r, 20, (const char *[]){"queue_status", "--json", "--verbose", NULL});
    ck_assert_int_eq(r.status, 0);
    json_t *rows = qt_json_lines(r.out);
    ck_assert_uint_eq(json_array_size(rows), 2);
    json_t *e0 = json_array_get(rows, 0);
    ck_assert_int_eq(json_integer_value(json_object_get(e0, "engine")), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(e0, "running")), 1);
    ck_assert_int_ge(json_integer_value(json_object_get(e0, "completed")), 4);
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(e0, "running_ids"), 0)),
                     ids[T_SLOW]);
    ck_assert_str_eq(qt_str(json_array_get(rows, 1), "engine"), "unassigned");
    json_decref(rows);
    qt_run_fini(&r);

    static const char *const cols[] = {"engine", "queued", "running", "completed"};
    qt_run(&r, 20, (const char *[]){"queue_status", "--csv", NULL});
    ck_assert_int_eq(r.status, 0);
    json_t *csv = qt_csv(r.out);
    s_csv_header_is(csv, cols, 4);
    ck_assert_uint_eq(json_array_size(csv), 3);
    ck_assert_str_eq(json_string_value(json_array_get(json_array_get(csv, 1), 2)), "1");
    json_decref(csv);
    qt_run_fini(&r);

    qt_run(&r, 20, (const char *[]){"queue_status", NULL});
    ck_assert_int_eq(r.status, 0);
    ck_assert_uint_eq(qt_lines(r.out), 3);
    ck_assert(qt_has_line(r.out, "engine  ", "running"));
    ck_assert(qt_has_line(r.out, "unassigned", NULL));
    qt_run_fini(&r);
}

static void s_check_history(int m)
{
    const char *const *M = mode_args[m];
    qt_run_t r;
    qt_runv(&r, 20, M, (const char *[]){"history", "--json", NULL});
    ck_assert_msg(r.status == 0, "%s: exit %d: %s", mode_name[m], r.status, r.err);
    json_t *rows = qt_json_lines(r.out);
    ck_assert_uint_eq(json_array_size(rows), N_TASKS);
    for (int i = 0; i < N_TASKS; i++)  // submission order
        ck_assert_str_eq(qt_str(json_array_get(rows, (size_t)i), "msg_id"), ids[i]);
    json_decref(rows);
    qt_run_fini(&r);

    qt_runv(&r, 20, M, (const char *[]){"history", "--csv", NULL});
    ck_assert_int_eq(r.status, 0);
    json_t *csv = qt_csv(r.out);
    s_csv_header_is(csv, (const char *[]){"msg_id"}, 1);
    ck_assert_uint_eq(json_array_size(csv), N_TASKS + 1);
    ck_assert_str_eq(json_string_value(json_array_get(json_array_get(csv, N_TASKS), 0)),
                     ids[T_SLOW]);
    json_decref(csv);
    qt_run_fini(&r);

    qt_runv(&r, 20, M, (const char *[]){"history", NULL});
    ck_assert_int_eq(r.status, 0);
    ck_assert_uint_eq(qt_lines(r.out), N_TASKS + 1);
    ck_assert(qt_has_line(r.out, "msg_id", NULL));
    ck_assert(qt_has_line(r.out, ids[T_EXIT3], NULL));
    qt_run_fini(&r);

    if (m == 0) {
        // The controller named by its connection file, or by its profile.
        char cf[1024];
        snprintf(cf, sizeof cf, "%s/security/ipp-client.json", C.profile_dir);
        qt_run(&r, 20, (const char *[]){"history", "--connection", cf, "--csv", NULL});
        ck_assert_int_eq(r.status, 0);
        ck_assert_uint_eq(qt_lines(r.out), N_TASKS + 1);
        qt_run_fini(&r);
        qt_run(&r, 20, (const char *[]){"--profile", "default", "history", "--json", NULL});
        ck_assert_int_eq(r.status, 0);
        ck_assert_uint_eq(qt_lines(r.out), N_TASKS);
        qt_run_fini(&r);
    }
    qt_runv(&r, 20, M, (const char *[]){"history", "--label", "q/*", "--json", NULL});
    ck_assert_int_eq(r.status, 0);
    rows = qt_json_lines(r.out);
    ck_assert_uint_eq(json_array_size(rows), 4);  // not other/exit3
    ck_assert_ptr_null(s_find_row(rows, "msg_id", ids[T_EXIT3]));
    json_decref(rows);
    qt_run_fini(&r);
}

static void s_check_get(int m)
{
    const char *const *M = mode_args[m];
    qt_run_t r;
    qt_runv(&r, 20, M, (const char *[]){"get", "--json", ids[T_SHELL], ids[T_ECHO], NULL});
    ck_assert_msg(r.status == 0, "%s: exit %d: %s", mode_name[m], r.status, r.err);
    json_t *rows = qt_json_lines(r.out);
    ck_assert_uint_eq(json_array_size(rows), 2);
    json_t *sh = json_array_get(rows, 0);
    ck_assert_str_eq(qt_str(sh, "msg_id"), ids[T_SHELL]);
    ck_assert_str_eq(qt_str(sh, "status"), "ok");
    ck_assert_str_eq(qt_str(sh, "stdout"), "hello\n");
    ck_assert_str_eq(qt_str(sh, "stderr"), "oops\n");
    ck_assert_str_eq(qt_str(sh, "label"), "q/ok-shell");
    ck_assert_int_eq(json_integer_value(json_object_get(sh, "engine_id")), 0);
    ck_assert_ptr_nonnull(qt_str(sh, "client_uuid"));
    ck_assert_ptr_nonnull(qt_str(sh, "engine_uuid"));
    ck_assert_msg(json_is_real(json_object_get(sh, "duration")) &&
                      json_real_value(json_object_get(sh, "duration")) >= 0,
                  "duration missing");
    const char *started = qt_str(sh, "started");
    ck_assert_msg(started && started[strlen(started) - 1] == 'Z', "started is not ISO UTC");
    ck_assert(json_is_null(json_object_get(sh, "error")));
    // Offline the request header is at hand: the submitting user.
    if (m != 0)
        ck_assert_str_eq(qt_str(sh, "user"), "qtester");
    json_t *echo = json_array_get(rows, 1);
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(echo, "result"), 0)),
                     "value-1");
    json_decref(rows);
    qt_run_fini(&r);

    // A failed task and an unknown one: both shown, exit 1.
    qt_runv(&r, 20, M, (const char *[]){"get", "--json", ids[T_FAIL], UNKNOWN_ID, NULL});
    ck_assert_int_eq(r.status, 1);
    rows = qt_json_lines(r.out);
    ck_assert_uint_eq(json_array_size(rows), 2);
    ck_assert_str_eq(qt_str(json_array_get(rows, 0), "status"), "error");
    ck_assert_ptr_nonnull(strstr(qt_str(json_array_get(rows, 0), "error"), "boom"));
    ck_assert_str_eq(qt_str(json_array_get(rows, 1), "status"), "unknown");
    json_decref(rows);
    qt_run_fini(&r);

    // CSV: stdout's line break survives inside a quoted field.
    qt_runv(&r, 20, M, (const char *[]){"get", "--csv", ids[T_SHELL], NULL});
    ck_assert_int_eq(r.status, 0);
    json_t *csv = qt_csv(r.out);
    ck_assert_uint_eq(json_array_size(csv), 2);
    json_t *head = json_array_get(csv, 0), *row = json_array_get(csv, 1);
    ck_assert_uint_eq(json_array_size(head), json_array_size(row));
    size_t out_col = 99;
    for (size_t i = 0; i < json_array_size(head); i++)
        if (strcmp(json_string_value(json_array_get(head, i)), "stdout") == 0)
            out_col = i;
    ck_assert_uint_lt(out_col, 99);
    ck_assert_str_eq(json_string_value(json_array_get(row, out_col)), "hello\n");
    json_decref(csv);
    qt_run_fini(&r);

    // Table: one "name  value" line per field.
    qt_runv(&r, 20, M, (const char *[]){"get", ids[T_SHELL], NULL});
    ck_assert_int_eq(r.status, 0);
    ck_assert(qt_has_line(r.out, "msg_id ", ids[T_SHELL]));
    ck_assert(qt_has_line(r.out, "status ", "ok"));
    ck_assert(qt_has_line(r.out, "stdout ", "hello"));
    qt_run_fini(&r);

    // --label selects by glob.
    qt_runv(&r, 20, M, (const char *[]){"get", "--label", "other/*", "--json", NULL});
    ck_assert_int_eq(r.status, 1);  // exit 3 failed
    rows = qt_json_lines(r.out);
    ck_assert_uint_eq(json_array_size(rows), 1);
    ck_assert_str_eq(qt_str(json_array_get(rows, 0), "msg_id"), ids[T_EXIT3]);
    json_decref(rows);
    qt_run_fini(&r);
}

static void s_check_db(int m)
{
    const char *const *M = mode_args[m];
    qt_run_t r;
    qt_runv(&r, 20, M,
            (const char *[]){"db", "{\"label\": {\"$glob\": \"q/*\"}}", "--keys", "status,label",
                             "--json", NULL});
    ck_assert_msg(r.status == 0, "%s: exit %d: %s", mode_name[m], r.status, r.err);
    json_t *rows = qt_json_lines(r.out);
    ck_assert_uint_eq(json_array_size(rows), 4);
    json_t *row0 = json_array_get(rows, 0);
    ck_assert_uint_eq(json_object_size(row0), 3);
    ck_assert_str_eq(qt_str(row0, "msg_id"), ids[T_SHELL]);
    ck_assert_str_eq(qt_str(row0, "status"), "ok");
    ck_assert_str_eq(qt_str(json_array_get(rows, 3), "status"), "pending");
    json_decref(rows);
    qt_run_fini(&r);

    // CSV with every key: a wide header, one row per failed task.
    qt_runv(&r, 20, M, (const char *[]){"db", "{\"status\": \"error\"}", "--csv", NULL});
    ck_assert_int_eq(r.status, 0);
    json_t *csv = qt_csv(r.out);
    ck_assert_uint_eq(json_array_size(csv), 3);
    json_t *head = json_array_get(csv, 0);
    ck_assert_str_eq(json_string_value(json_array_get(head, 0)), "msg_id");
    ck_assert_uint_gt(json_array_size(head), 20);
    ck_assert_uint_eq(json_array_size(json_array_get(csv, 1)), json_array_size(head));
    ck_assert_str_eq(json_string_value(json_array_get(json_array_get(csv, 1), 0)), ids[T_FAIL]);
    ck_assert_str_eq(json_string_value(json_array_get(json_array_get(csv, 2), 0)), ids[T_EXIT3]);
    json_decref(csv);
    qt_run_fini(&r);

    // Table; --limit.
    qt_runv(&r, 20, M, (const char *[]){"db", "{}", "--keys", "label", NULL});
    ck_assert_int_eq(r.status, 0);
    ck_assert_uint_eq(qt_lines(r.out), N_TASKS + 1);
    ck_assert(qt_has_line(r.out, "msg_id  ", "label"));
    ck_assert(qt_has_line(r.out, ids[T_EXIT3], "other/exit3"));
    qt_run_fini(&r);
    qt_runv(&r, 20, M, (const char *[]){"db", "{}", "--limit", "2", "--json", NULL});
    ck_assert_int_eq(r.status, 0);
    ck_assert_uint_eq(qt_lines(r.out), 2);
    qt_run_fini(&r);

    // Time operators take ISO 8601.
    qt_runv(&r, 20, M,
            (const char *[]){"db", "{\"completed\": {\"$gte\": \"2000-01-01T00:00:00Z\"}}",
                             "--keys", "completed", "--json", NULL});
    ck_assert_int_eq(r.status, 0);
    ck_assert_uint_eq(qt_lines(r.out), 4);
    qt_run_fini(&r);

    // A malformed query is a usage error naming what is wrong.
    qt_runv(&r, 20, M, (const char *[]){"db", "{\"status\": {\"$between\": 1}}", NULL});
    ck_assert_int_eq(r.status, 2);
    ck_assert_ptr_nonnull(strstr(r.err, "$between"));
    qt_run_fini(&r);
}

static void s_check_audit(int m)
{
    const char *const *M = mode_args[m];
    static const char *const cols[] = {"msg_id",    "client_uuid", "user",      "submitted_by",
                                       "engine_id", "started",     "completed", "duration",
                                       "status",    "label"};
    qt_run_t r;
    qt_runv(&r, 20, M, (const char *[]){"audit", "--json", NULL});
    ck_assert_msg(r.status == 0, "%s: exit %d: %s", mode_name[m], r.status, r.err);
    json_t *rows = qt_json_lines(r.out);
    ck_assert_uint_eq(json_array_size(rows), 4);  // not the pending one
    ck_assert_ptr_null(s_find_row(rows, "msg_id", ids[T_SLOW]));
    json_t *f = s_find_row(rows, "msg_id", ids[T_FAIL]);
    ck_assert_ptr_nonnull(f);
    ck_assert_str_eq(qt_str(f, "status"), "error");
    ck_assert_str_eq(qt_str(f, "label"), "q/bad");
    ck_assert_int_eq(json_integer_value(json_object_get(f, "engine_id")), 0);
    ck_assert_ptr_nonnull(qt_str(f, "client_uuid"));
    ck_assert_ptr_nonnull(qt_str(f, "started"));
    ck_assert(json_real_value(json_object_get(f, "duration")) >= 0);
    if (m != 0)
        ck_assert_str_eq(qt_str(f, "user"), "qtester");
    // Without Curve, who submitted it is what the header claims, marked so.
    ck_assert_str_eq(qt_str(f, "submitted_by"), "qtester (self-declared)");
    json_decref(rows);
    qt_run_fini(&r);

    qt_runv(&r, 20, M, (const char *[]){"audit", "--csv", NULL});
    ck_assert_int_eq(r.status, 0);
    json_t *csv = qt_csv(r.out);
    s_csv_header_is(csv, cols, 10);
    ck_assert_uint_eq(json_array_size(csv), 5);
    json_decref(csv);
    qt_run_fini(&r);

    qt_runv(&r, 20, M, (const char *[]){"audit", NULL});
    ck_assert_int_eq(r.status, 0);
    ck_assert_uint_eq(qt_lines(r.out), 5);
    ck_assert(qt_has_line(r.out, "msg_id  ", "client_uuid"));
    ck_assert(qt_has_line(r.out, ids[T_EXIT3], "error"));
    qt_run_fini(&r);

    // Time bounds: an hour back holds them all, the future nothing, and
    // --label narrows.
    qt_runv(&r, 20, M, (const char *[]){"audit", "--since", "1h", "--json", NULL});
    ck_assert_int_eq(r.status, 0);
    ck_assert_uint_eq(qt_lines(r.out), 4);
    qt_run_fini(&r);
    qt_runv(&r, 20, M,
            (const char *[]){"audit", "--since", "2999-01-01T00:00:00Z", "--json", NULL});
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.out, "");
    qt_run_fini(&r);
    qt_runv(&r, 20, M, (const char *[]){"audit", "--until", "2000-01-01", "--csv", NULL});
    ck_assert_int_eq(r.status, 0);
    ck_assert_uint_eq(qt_lines(r.out), 1);  // the header only
    qt_run_fini(&r);
    qt_runv(&r, 20, M, (const char *[]){"audit", "--label", "q/*", "--json", NULL});
    ck_assert_int_eq(r.status, 0);
    ck_assert_uint_eq(qt_lines(r.out), 3);
    qt_run_fini(&r);
}

static void s_check_verify(int m)
{
    const char *const *M = mode_args[m];
    qt_run_t r;
    // Online mode has no --db: verify finds the profile's database.
    qt_runv(&r, 20, M, (const char *[]){"verify", NULL});
    ck_assert_msg(r.status == 0, "%s: exit %d: %s%s", mode_name[m], r.status, r.out, r.err);
    ck_assert_str_eq(r.out, "audit chain intact: 4 records\n");
    qt_run_fini(&r);
    qt_runv(&r, 20, M, (const char *[]){"verify", "--json", NULL});
    ck_assert_int_eq(r.status, 0);
    json_t *rows = qt_json_lines(r.out);
    ck_assert_uint_eq(json_array_size(rows), 1);
    ck_assert(json_is_true(json_object_get(json_array_get(rows, 0), "intact")));
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(rows, 0), "records")), 4);
    json_decref(rows);
    qt_run_fini(&r);
    qt_runv(&r, 20, M, (const char *[]){"verify", "--csv", NULL});
    ck_assert_int_eq(r.status, 0);
    json_t *csv = qt_csv(r.out);
    ck_assert_uint_eq(json_array_size(csv), 2);
    ck_assert_str_eq(json_string_value(json_array_get(json_array_get(csv, 0), 0)), "intact");
    ck_assert_str_eq(json_string_value(json_array_get(json_array_get(csv, 1), 0)), "true");
    json_decref(csv);
    qt_run_fini(&r);
}

// Every subcommand, every format, in mode _i (0 online, 1 offline with
// the controller running, 2 offline after it stopped).
START_TEST(test_every_subcommand)
{
    s_up(true);
    s_wait_running();
    if (_i == 2)
        ck_assert_int_eq(h_controller_stop(&C), 0);
    s_check_result_status(_i);
    s_check_queue_status(_i);
    s_check_history(_i);
    s_check_get(_i);
    s_check_db(_i);
    s_check_audit(_i);
    s_check_verify(_i);
    // Offline reads never wrote: the controller still finds its file its own.
    if (_i == 1)
        ck_assert_int_eq(h_db_int(&C, "SELECT count(*) FROM tasks"), N_TASKS);
    s_down();
}
END_TEST

// ---------------------------------------------------------------- tampering

// s_copy_db: copy the stopped controller's database to dst (with its WAL,
// if a reader left one: its content belongs to the database).
static void s_copy_db(const char *dst)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s' && if [ -e '%s-wal' ]; then cp '%s-wal' '%s-wal'; fi",
             C.db_path, dst, C.db_path, C.db_path, dst);
    ck_assert_int_eq(system(cmd), 0);
}

// s_sql: run sql on the database at path (read-write); changes made.
static int s_sql(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, msg ? msg : "?");
    int n = sqlite3_changes(db);
    sqlite3_free(msg);
    sqlite3_close(db);
    return n;
}

START_TEST(test_verify_tampered)
{
    s_up(false);
    h_client_close(&K);
    ck_assert_int_eq(h_cluster_stop(&C), 0);
    qt_run_t r;
    // Intact, found through the profile, the connection file and --db.
    qt_run(&r, 20, (const char *[]){"verify", NULL});
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.out, "audit chain intact: 4 records\n");
    qt_run_fini(&r);
    char cf[1024];
    snprintf(cf, sizeof cf, "%s/security/ipp-client.json", C.profile_dir);
    qt_run(&r, 20, (const char *[]){"verify", "--connection", cf, NULL});
    ck_assert_int_eq(r.status, 0);
    qt_run_fini(&r);

    // A completed record's stdout altered in a copy.
    char forged[1024], cut[1024], sql[512];
    snprintf(forged, sizeof forged, "%s/forged.db", C.dir);
    snprintf(cut, sizeof cut, "%s/cut.db", C.dir);
    s_copy_db(forged);
    s_copy_db(cut);
    snprintf(sql, sizeof sql, "UPDATE tasks SET stdout = 'forged\n' WHERE msg_id = '%s'",
             ids[T_SHELL]);
    ck_assert_int_eq(s_sql(forged, sql), 1);
    qt_run(&r, 20, (const char *[]){"verify", "--db", forged, NULL});
    ck_assert_msg(r.status == 1, "exit %d: %s%s", r.status, r.out, r.err);
    ck_assert(qt_has_line(r.out, "audit chain BROKEN", ids[T_SHELL]));
    ck_assert(qt_has_line(r.out, "first bad record: ", ids[T_SHELL]));
    qt_run_fini(&r);
    qt_run(&r, 20, (const char *[]){"verify", "--db", forged, "--json", NULL});
    ck_assert_int_eq(r.status, 1);
    json_t *rows = qt_json_lines(r.out);
    json_t *v = json_array_get(rows, 0);
    ck_assert(json_is_false(json_object_get(v, "intact")));
    ck_assert_str_eq(qt_str(v, "bad_msg_id"), ids[T_SHELL]);
    ck_assert_ptr_nonnull(strstr(qt_str(v, "message"), "altered"));
    json_decref(rows);
    qt_run_fini(&r);
    // The forgery shows in what a reader gets — verify is what catches it.
    qt_run(&r, 20, (const char *[]){"get", "--db", forged, "--json", ids[T_SHELL], NULL});
    ck_assert_int_eq(r.status, 0);
    ck_assert_ptr_nonnull(strstr(r.out, "forged"));
    qt_run_fini(&r);

    // A completed record deleted outside a purge.
    snprintf(sql, sizeof sql, "DELETE FROM tasks WHERE msg_id = '%s'", ids[T_ECHO]);
    ck_assert_int_eq(s_sql(cut, sql), 1);
    qt_run(&r, 20, (const char *[]){"verify", "--db", cut, "--csv", NULL});
    ck_assert_int_eq(r.status, 1);
    json_t *csv = qt_csv(r.out);
    ck_assert_uint_eq(json_array_size(csv), 2);
    ck_assert_str_eq(json_string_value(json_array_get(json_array_get(csv, 1), 0)), "false");
    ck_assert_str_eq(json_string_value(json_array_get(json_array_get(csv, 1), 5)), ids[T_ECHO]);
    json_decref(csv);
    qt_run_fini(&r);

    // The original is untouched and still intact.
    qt_run(&r, 20, (const char *[]){"verify", "--db", C.db_path, NULL});
    ck_assert_int_eq(r.status, 0);
    qt_run_fini(&r);
    h_cluster_fini(&C);
}
END_TEST

static Suite *s_suite(void)
{
    Suite *s = suite_create("query");
    TCase *tc = tcase_create("subcommands");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_every_subcommand, 0, 3);
    suite_add_tcase(s, tc);
    tc = tcase_create("verify");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_verify_tampered);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(s_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
