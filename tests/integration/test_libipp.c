/* test_libipp.c — the public C API (libipp) against the real controller and
 * engines: AsyncResult features, errors, direct and load-balanced views,
 * dependencies on AsyncResults, results fetched by a client that did not
 * submit them (by msg_id and by label, after the submitter exited), and a
 * peer's pending task awaited through an AsyncHubResult.
 */
#include "harness.h"

#include "ipp/ipp.h"
#include "proto/clock.h"

#include <check.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static h_cluster_t C;
static h_client_t K;

// s_connect: a libipp client on the cluster's profile.
static ipp_client_t *s_connect(void)
{
    ipp_error_t err;
    char path[800];
    snprintf(path, sizeof path, "%s/security/%s", C.profile_dir, CONN_CLIENT_FILE);
    ipp_client_t *c = ipp_client_connect(path, 10, &err);
    ck_assert_msg(c != NULL, "%s", err.msg);
    ck_assert_int_eq(ipp_client_wait_for_engines(c, (size_t)C.n_engines, 15, &err), IPP_OK);
    return c;
}

static void s_done_cb(ipp_ar_t *ar, void *arg)
{
    (void)ar;
    (*(int *)arg)++;
}

START_TEST(test_async_result_features)
{
    h_up(&C, &K, 2, NULL);
    ipp_client_t *c = s_connect();
    ipp_error_t err;
    ipp_view_t *lb = ipp_client_lb_view(c, &err);
    ck_assert_ptr_nonnull(lb);
    // echo returns its arguments.
    ipp_buf_t arg = {"payload", 7, NULL, NULL};
    ipp_ar_t *ar = ipp_view_apply(lb, "echo", &arg, 1, NULL, &err);
    ck_assert_ptr_nonnull(ar);
    int called = 0;
    ck_assert_int_eq(ipp_ar_add_done_callback(ar, s_done_cb, &called, &err), IPP_OK);
    ck_assert_int_eq(ipp_ar_get(ar, 10, &err), IPP_OK);
    ck_assert(ipp_ar_ready(ar));
    ck_assert(ipp_ar_successful(ar));
    ck_assert_int_eq(called, 1);
    size_t n = 0;
    const ipp_buf_t *b = ipp_ar_result(ar, 0, &n);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(b[0].size, 7);
    ck_assert(memcmp(b[0].data, "payload", 7) == 0);
    ipp_metadata_t md;
    ck_assert_int_eq(ipp_ar_metadata(ar, 0, &md), IPP_OK);
    ck_assert_int_eq(md.status, IPP_STATUS_OK);
    ck_assert(md.accepted);
    ck_assert(md.engine_id == 0 || md.engine_id == 1);
    ck_assert(ipp_ar_timedelta(ar, IPP_STAMP_SUBMITTED, IPP_STAMP_RECEIVED) >= 0);
    ck_assert(ipp_ar_timedelta(ar, IPP_STAMP_STARTED, IPP_STAMP_COMPLETED) >= 0);
    ipp_ar_destroy(&ar);
    ck_assert_ptr_null(ar);

    // A map of sleeps: progress, iteration in completion order, times.
    ipp_buf_t items[6];
    const char *secs[6] = {"0.3", "0.05", "0.2", "0.05", "0.1", "0.05"};
    for (int i = 0; i < 6; i++)
        items[i] = (ipp_buf_t){secs[i], strlen(secs[i]), NULL, NULL};
    ar = ipp_view_map(lb, "sleep", items, 6, 1, NULL, &err);
    ck_assert_ptr_nonnull(ar);
    ck_assert_uint_eq(ipp_ar_len(ar), 6);
    bool seen[6] = {false};
    for (int k = 0; k < 6; k++) {
        size_t idx = 99;
        ck_assert_int_eq(ipp_ar_next(ar, 10, &idx, &err), IPP_OK);
        ck_assert_uint_lt(idx, 6);
        ck_assert(!seen[idx]);
        seen[idx] = true;
        // Progress counts every finished task; several may have arrived
        // together, so it can run ahead of the one next() handed out.
        ck_assert_uint_ge(ipp_ar_progress(ar), (size_t)k + 1);
    }
    ck_assert_uint_eq(ipp_ar_progress(ar), 6);
    ck_assert(ipp_ar_successful(ar));
    // Six sleeps adding up to 0.75 s ran on two engines.
    ck_assert(ipp_ar_serial_time(ar) >= 0.7);
    ck_assert(ipp_ar_wall_time(ar) >= 0.3);  // the longest sleep, at least
    ck_assert(ipp_ar_elapsed(ar) >= ipp_ar_wall_time(ar) - 0.05);
    ipp_ar_destroy(&ar);

    // A direct view over both engines: get_dict keyed by engine.
    ipp_view_t *dv = ipp_client_direct_view(c, NULL, 0, &err);
    ck_assert_ptr_nonnull(dv);
    ar = ipp_view_apply(dv, "getpid", NULL, 0, NULL, &err);
    ipp_ar_item_t it[4];
    ck_assert_int_eq(ipp_ar_get_dict(ar, 10, it, 4, &n, &err), IPP_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_ne(it[0].engine_id, it[1].engine_id);
    ipp_ar_destroy(&ar);
    ar = ipp_view_execute(dv, "echo from $$", NULL, &err);
    ck_assert_int_eq(ipp_ar_get(ar, 10, &err), IPP_OK);
    ck_assert_int_eq(ipp_ar_metadata(ar, 1, &md), IPP_OK);
    ck_assert(md.stdout_len > 5 && memcmp(md.stdout_data, "from ", 5) == 0);
    // wait_interactive on a file (not a terminal): plain lines, then done.
    FILE *f = tmpfile();
    ck_assert_int_eq(ipp_ar_wait_interactive(ar, f, 0.1, 5, &err), IPP_OK);
    rewind(f);
    char text[512] = {0};
    ck_assert(fread(text, 1, sizeof text - 1, f) > 0);
    ck_assert(strstr(text, "done") != NULL);
    fclose(f);
    ipp_ar_destroy(&ar);
    ipp_view_destroy(&dv);
    ipp_view_destroy(&lb);
    ipp_client_destroy(&c);
    h_down(&C, &K);
}
END_TEST

START_TEST(test_errors_dependencies_abort)
{
    h_up(&C, &K, 1, NULL);
    ipp_client_t *c = s_connect();
    ipp_error_t err;
    ipp_view_t *lb = ipp_client_lb_view(c, &err);
    // One failure: a RemoteError.
    ipp_buf_t why = {"it broke", 8, NULL, NULL};
    ipp_ar_t *bad = ipp_view_apply(lb, "fail", &why, 1, NULL, &err);
    ck_assert_int_eq(ipp_ar_get(bad, 10, &err), IPP_ERR_REMOTE);
    ck_assert(!ipp_ar_successful(bad));
    const ipp_remote_error_t *re = ipp_ar_error(bad, 0);
    ck_assert_ptr_nonnull(re);
    ck_assert_str_eq(re->ename, "TaskFailed");
    ck_assert_str_eq(re->evalue, "it broke");
    ck_assert_int_eq(re->engine_id, 0);
    // Many failures: a CompositeError lists each.
    ipp_buf_t items[3] = {{"a", 1, NULL, NULL}, {"b", 1, NULL, NULL}, {"c", 1, NULL, NULL}};
    ipp_ar_t *many = ipp_view_map(lb, "fail", items, 3, 1, NULL, &err);
    ck_assert_int_ne(ipp_ar_get(many, 10, &err), IPP_OK);
    const ipp_remote_error_t *errs[4];
    ck_assert_uint_eq(ipp_ar_errors(many, errs, 4), 3);
    ipp_ar_destroy(&many);
    // after = an AsyncResult; success-only after a failure is impossible,
    // failure-only runs.
    ipp_dependency_t on_fail = {.ars = (ipp_ar_t *const[]){bad},
                                .n_ars = 1,
                                .all = true,
                                .success = false,
                                .failure = true};
    ipp_dependency_t on_ok = {.ars = (ipp_ar_t *const[]){bad},
                              .n_ars = 1,
                              .all = true,
                              .success = true,
                              .failure = false};
    ipp_flags_t f1 = {.set = IPP_FLAG_AFTER, .after = &on_fail};
    ipp_flags_t f2 = {.set = IPP_FLAG_AFTER, .after = &on_ok};
    ipp_ar_t *runs = ipp_view_apply(lb, "noop", NULL, 0, &f1, &err);
    ipp_ar_t *never = ipp_view_apply(lb, "noop", NULL, 0, &f2, &err);
    ck_assert_int_eq(ipp_ar_get(runs, 10, &err), IPP_OK);
    ck_assert_int_ne(ipp_ar_get(never, 10, &err), IPP_OK);
    ck_assert_int_eq(ipp_ar_status(never, 0), IPP_STATUS_UNREACHABLE);
    ck_assert_str_eq(ipp_ar_error(never, 0)->ename, "ImpossibleDependency");
    ipp_ar_destroy(&runs);
    ipp_ar_destroy(&never);
    ipp_ar_destroy(&bad);
    // Abort a queued task (one engine, hwm 1: the second waits).
    ipp_buf_t one = {"1.5", 3, NULL, NULL};
    ipp_ar_t *slow = ipp_view_apply(lb, "sleep", &one, 1, NULL, &err);
    ipp_ar_t *queued = ipp_view_apply(lb, "noop", NULL, 0, NULL, &err);
    ck_assert_int_eq(ipp_client_spin(c, 0.3, &err), IPP_OK);
    size_t aborted = 0;
    ck_assert_int_eq(ipp_ar_abort(queued, &aborted, &err), IPP_OK);
    ck_assert_uint_eq(aborted, 1);
    ck_assert_int_ne(ipp_ar_get(queued, 10, &err), IPP_OK);
    ck_assert_int_eq(ipp_ar_status(queued, 0), IPP_STATUS_ABORTED);
    ck_assert_int_eq(ipp_ar_get(slow, 10, &err), IPP_OK);
    ipp_ar_destroy(&slow);
    ipp_ar_destroy(&queued);
    ipp_view_destroy(&lb);
    ipp_client_destroy(&c);
    h_down(&C, &K);
}
END_TEST

// A command's stdin far larger than a pipe holds: it reaches the command
// whole, the engine writing more each time the pipe takes it.
START_TEST(test_large_stdin)
{
    h_up(&C, &K, 1, NULL);
    ipp_client_t *c = s_connect();
    ipp_error_t err;
    ipp_view_t *lb = ipp_client_lb_view(c, &err);
    ck_assert_ptr_nonnull(lb);
    size_t len = 4u << 20;
    char *data = malloc(len);
    ck_assert_ptr_nonnull(data);
    for (size_t i = 0; i < len; i++)
        data[i] = (char)('a' + i % 26);
    static const char *const argv[] = {"wc", "-c", NULL};
    ipp_task_t t = {.kind = IPP_TASK_ARGV, .argv = argv, .stdin_data = data, .stdin_len = len};
    ipp_ar_t *ar = ipp_view_submit(lb, &t, NULL, &err);
    ck_assert_msg(ar != NULL, "%s", err.msg);
    free(data);
    ck_assert_msg(ipp_ar_get(ar, 8, &err) == IPP_OK, "%s", err.msg);
    ipp_metadata_t md;
    ck_assert_int_eq(ipp_ar_metadata(ar, 0, &md), IPP_OK);
    ck_assert_int_eq(md.status, IPP_STATUS_OK);
    const char *out = (const char *)md.stdout_data;
    ck_assert_msg(md.stdout_len > 0 && strtol(out, NULL, 10) == (long)len, "wc -c said '%.*s'",
                  (int)md.stdout_len, out);
    ipp_ar_destroy(&ar);
    ipp_view_destroy(&lb);
    ipp_client_destroy(&c);
    h_down(&C, &K);
}
END_TEST

// s_check_stored_once: the recorded result frame of the task id (a
// command that printed "partial" and exited 4) holds what has no column of
// its own, the exit status, and not the output, error or summary, which
// its columns hold.
static void s_check_stored_once(const char *id)
{
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open_v2(C.db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt *st = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(db,
                                        "SELECT result_content, stdout, error, execute_result"
                                        " FROM tasks WHERE msg_id = ?1",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    Ipp__TaskResult *r = ipp__task_result__unpack(NULL, (size_t)sqlite3_column_bytes(st, 0),
                                                  sqlite3_column_blob(st, 0));
    ck_assert_ptr_nonnull(r);
    ck_assert(r->has_exit_status);
    ck_assert_int_eq(r->exit_status, 4);
    ck_assert(!r->has_stdout_data);
    ck_assert(!r->has_stderr_data);
    ck_assert_ptr_null(r->error);
    ck_assert_ptr_null(r->summary);
    ck_assert_ptr_null(r->msg_id);
    ipp__task_result__free_unpacked(r, NULL);
    ck_assert_str_eq((const char *)sqlite3_column_text(st, 1), "partial\n");
    const char *error = (const char *)sqlite3_column_text(st, 2);
    ck_assert_ptr_nonnull(error);
    ck_assert_ptr_nonnull(strstr(error, "CommandFailed"));
    sqlite3_finalize(st);
    sqlite3_close(db);
}

START_TEST(test_results_outlive_their_client)
{
    h_up(&C, &K, 1, NULL);
    ipp_error_t err;
    char id[IPP_MSGID_LEN + 1];
    {
        // A client submits and goes away without waiting.
        ipp_client_t *a = s_connect();
        ipp_view_t *lb = ipp_client_lb_view(a, &err);
        ipp_flags_t fl = {.set = IPP_FLAG_LABEL, .label = "nightly/report"};
        ipp_ar_t *ar = ipp_view_execute(lb, "sleep 0.3; echo report ready", &fl, &err);
        ck_assert_ptr_nonnull(ar);
        ck_assert_int_eq(ipp_client_spin(a, 0.1, &err), IPP_OK);
        snprintf(id, sizeof id, "%s", ipp_ar_msg_id(ar, 0));
        ipp_ar_destroy(&ar);
        ipp_view_destroy(&lb);
        ipp_client_destroy(&a);
    }
    // Another client, later: by msg_id, while it may still be pending.
    ipp_client_t *b = s_connect();
    const char *ids[1] = {id};
    ipp_ar_t *hub = ipp_client_get_result(b, ids, 1, &err);
    ck_assert_ptr_nonnull(hub);
    ck_assert(ipp_ar_is_hub(hub));
    ck_assert_int_eq(ipp_ar_get(hub, 10, &err), IPP_OK);
    ipp_metadata_t md;
    ck_assert_int_eq(ipp_ar_metadata(hub, 0, &md), IPP_OK);
    ck_assert_uint_eq(md.stdout_len, 13);
    ck_assert(memcmp(md.stdout_data, "report ready\n", 13) == 0);
    ck_assert_str_eq(md.label, "nightly/report");
    ipp_ar_destroy(&hub);
    // By label.
    ipp_strv_t found;
    ck_assert_int_eq(ipp_client_find_label(b, "nightly/*", &found, &err), IPP_OK);
    ck_assert_uint_eq(found.n, 1);
    ck_assert_str_eq(found.v[0], id);
    ipp_strv_fini(&found);
    // A peer's task that is pending when asked: the hub result completes
    // when the controller says so.
    ipp_client_t *a2 = s_connect();
    ipp_view_t *lb2 = ipp_client_lb_view(a2, &err);
    ipp_ar_t *own = ipp_view_execute(lb2, "sleep 1; echo late", NULL, &err);
    ck_assert_int_eq(ipp_client_spin(a2, 0.2, &err), IPP_OK);
    const char *pid[1] = {ipp_ar_msg_id(own, 0)};
    hub = ipp_client_get_result(b, pid, 1, &err);
    ck_assert(!ipp_ar_ready(hub));
    int64_t t0 = ipp_clock_mono_us();
    ck_assert_int_eq(ipp_ar_get(hub, 10, &err), IPP_OK);
    ck_assert_int_lt(ipp_clock_mono_us() - t0, 5000000);
    ck_assert_int_eq(ipp_ar_status(hub, 0), IPP_STATUS_OK);
    ipp_ar_destroy(&hub);
    // A failed command fetched later from the store keeps its exit status
    // and its output.
    ipp_ar_t *four = ipp_view_execute(lb2, "echo partial; exit 4", NULL, &err);
    ck_assert_int_ne(ipp_ar_get(four, 10, &err), IPP_OK);
    const char *fid[1] = {ipp_ar_msg_id(four, 0)};
    hub = ipp_client_get_result(b, fid, 1, &err);
    ck_assert_int_ne(ipp_ar_get(hub, 10, &err), IPP_OK);
    ck_assert_int_eq(ipp_ar_metadata(hub, 0, &md), IPP_OK);
    ck_assert_int_eq(md.status, IPP_STATUS_ERROR);
    ck_assert_int_eq(md.exit_status, 4);
    ck_assert_int_eq(md.term_signal, 0);
    ck_assert_str_eq(md.error->ename, "CommandFailed");
    ck_assert_uint_eq(md.stdout_len, 8);
    ck_assert(memcmp(md.stdout_data, "partial\n", 8) == 0);
    ipp_ar_destroy(&hub);
    s_check_stored_once(fid[0]);
    ipp_ar_destroy(&four);
    ipp_ar_destroy(&own);
    ipp_view_destroy(&lb2);
    ipp_client_destroy(&a2);
    ipp_client_destroy(&b);
    h_down(&C, &K);
}
END_TEST

static Suite *s_suite(void)
{
    Suite *s = suite_create("libipp");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_async_result_features);
    tcase_add_test(tc, test_errors_dependencies_abort);
    tcase_add_test(tc, test_results_outlive_their_client);
    tcase_add_test(tc, test_large_stdin);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return h_main(s_suite());
}
