/* test_queries.c — every hub query against a real controller: result_status
 * for 100,000 ids in one call, get_result with records, queue_status, load,
 * purge (ids, engine, all), resubmit keeping the original's flags, abort,
 * clear, shutdown.
 */
#include "harness.h"

#include "proto/clock.h"
#include "proto/msgid.h"

#include <check.h>
#include <sqlite3.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef char id_t_[IPP_MSGID_LEN + 1];

static h_cluster_t C;
static h_client_t K;

// s_run: submit n noop tasks (label given) and wait for them.
static void s_run(id_t_ *ids, int n, const char *label)
{
    for (int i = 0; i < n; i++) {
        h_task_t t = {.call = "noop", .target = -1, .label = label};
        h_submit(&K, &t, ids[i]);
    }
    h_result_t *res = calloc((size_t)n, sizeof *res);
    ck_assert_uint_eq(h_collect(&K, ids, (size_t)n, res, 20000), (size_t)n);
    free(res);
}

START_TEST(test_result_status_100k_ids)
{
    h_up(&C, &K, 1, NULL);
    enum { REAL = 20, N = 100000 };
    id_t_ *ids = calloc(N, sizeof *ids);
    s_run(ids, REAL, "real");
    ipp_msgid_gen_t g;
    ipp_msgid_gen_init(&g);
    for (int i = REAL; i < N; i++)
        ipp_msgid_next(&g, ids[i]);
    char **ptrs = calloc(N, sizeof *ptrs);
    for (int i = 0; i < N; i++)
        ptrs[i] = ids[i];
    Ipp__ResultRequest rq = IPP__RESULT_REQUEST__INIT;
    rq.n_msg_ids = N;
    rq.msg_ids = ptrs;
    int64_t t0 = ipp_clock_mono_us();
    ck_assert_int_eq(h_request(&K, IPP__MSG_TYPE__RESULT_REQUEST, &rq.base, 30000),
                     IPP__MSG_TYPE__RESULT_REPLY);
    fprintf(stderr, "result_status of %d ids: %.1f ms (sanitizer build)\n", N,
            (double)(ipp_clock_mono_us() - t0) / 1000.0);
    Ipp__ResultReply *rep = (Ipp__ResultReply *)K.msg.content;
    ck_assert_uint_eq(rep->n_completed, REAL);
    ck_assert_uint_eq(rep->n_unknown, N - REAL);
    ck_assert_uint_eq(rep->n_pending, 0);
    // get_result with records: stdout, timestamps, engine, request.
    rq.n_msg_ids = REAL;
    rq.has_records = 1;
    rq.records = 1;
    ck_assert_int_eq(h_request(&K, IPP__MSG_TYPE__RESULT_REQUEST, &rq.base, 30000),
                     IPP__MSG_TYPE__RESULT_REPLY);
    rep = (Ipp__ResultReply *)K.msg.content;
    ck_assert_uint_eq(rep->n_records, REAL);
    for (size_t i = 0; i < REAL; i++) {
        Ipp__TaskRecord *r = rep->records[i];
        ck_assert_int_eq(r->status, IPP__STATUS__OK);
        ck_assert_int_eq(r->engine_id, 0);
        ck_assert(r->has_submitted && r->has_started && r->has_completed && r->has_received);
        ck_assert_int_le(r->submitted, r->received);
        ck_assert_str_eq(r->label, "real");
        ck_assert_ptr_nonnull(r->request);
        ck_assert_str_eq(r->request->call->function, "noop");
    }
    free(ptrs);
    free(ids);
    h_down(&C, &K);
}
END_TEST

START_TEST(test_queue_status_load_abort_clear)
{
    h_up(&C, &K, 1, NULL);
    id_t_ ids[4];
    h_task_t slow = {.call = "sleep", .args = (const char *[]){"1.5"}, .n_args = 1, .target = -1};
    h_submit(&K, &slow, ids[0]);
    for (int i = 1; i < 4; i++) {
        h_task_t t = {.call = "noop", .target = -1};
        h_submit(&K, &t, ids[i]);
    }
    Ipp__QueueStatusRequest qs = IPP__QUEUE_STATUS_REQUEST__INIT;
    qs.has_verbose = 1;
    qs.verbose = 1;
    // Ask until the slow task runs and the other three are recorded (on a
    // loaded machine that may take a while).
    Ipp__QueueStatusReply *q = NULL;
    for (int64_t until = ipp_clock_mono_us() + 10000000; ipp_clock_mono_us() < until;) {
        ck_assert_int_eq(h_request(&K, IPP__MSG_TYPE__QUEUE_STATUS_REQUEST, &qs.base, 5000),
                         IPP__MSG_TYPE__QUEUE_STATUS_REPLY);
        q = (Ipp__QueueStatusReply *)K.msg.content;
        if (q->n_engines == 1 && q->engines[0]->running == 1 && q->unassigned == 3)
            break;
        usleep(20000);
    }
    ck_assert_uint_eq(q->n_engines, 1);
    ck_assert_int_eq(q->engines[0]->running, 1);
    ck_assert_uint_eq(q->engines[0]->n_running_ids, 1);
    ck_assert_str_eq(q->engines[0]->running_ids[0], ids[0]);
    ck_assert_int_eq(q->unassigned, 3);  // hwm 1: the rest wait
    Ipp__LoadRequest lr = IPP__LOAD_REQUEST__INIT;
    ck_assert_int_eq(h_request(&K, IPP__MSG_TYPE__LOAD_REQUEST, &lr.base, 5000),
                     IPP__MSG_TYPE__LOAD_REPLY);
    ck_assert_int_eq(((Ipp__LoadReply *)K.msg.content)->outstanding[0], 1);
    // Abort a queued one and the running one; an unknown id is not pending.
    Ipp__AbortRequest ab = IPP__ABORT_REQUEST__INIT;
    char *which[3] = {ids[3], ids[0], "01900000-0000-7000-8000-000000000001"};
    ab.n_msg_ids = 3;
    ab.msg_ids = which;
    ck_assert_int_eq(h_request(&K, IPP__MSG_TYPE__ABORT_REQUEST, &ab.base, 5000),
                     IPP__MSG_TYPE__ABORT_REPLY);
    Ipp__AbortReply *ar = (Ipp__AbortReply *)K.msg.content;
    ck_assert_uint_eq(ar->n_aborted, 2);
    ck_assert_uint_eq(ar->n_not_pending, 1);
    h_result_t res[4];
    ck_assert_uint_eq(h_collect(&K, ids, 4, res, 10000), 4);
    ck_assert_int_eq(res[0].status, IPP__STATUS__ABORTED);  // killed on its engine
    ck_assert_str_eq(res[0].ename, "TaskAborted");
    ck_assert_int_eq(res[3].status, IPP__STATUS__ABORTED);
    ck_assert_int_eq(res[1].status, IPP__STATUS__OK);
    ck_assert_int_eq(res[2].status, IPP__STATUS__OK);
    ck_assert_int_eq(h_db_int(&C, "SELECT count(*) FROM tasks WHERE status='aborted'"), 2);
    // Clear: namespace emptied on the engine.
    Ipp__TaskRequest push = IPP__TASK_REQUEST__INIT;
    Ipp__NamespaceOp op = IPP__NAMESPACE_OP__INIT;
    op.has_op = 1;
    op.op = IPP__NAMESPACE_OP__OP__PUSH;
    char *keys[1] = {"x"};
    op.n_keys = 1;
    op.keys = keys;
    push.kind_case = IPP__TASK_REQUEST__KIND_NS;
    push.ns = &op;
    int32_t target = 0;
    push.has_queue = 1;
    push.queue = IPP__QUEUE__QUEUE_MUX;
    push.n_targets = 1;
    push.targets = &target;
    zmq_msg_t val;
    zmq_msg_init_size(&val, 2);
    memcpy(zmq_msg_data(&val), "42", 2);
    id_t_ pid[2];
    h_send(&K, IPP__MSG_TYPE__TASK_REQUEST, &push.base, &val, 1, pid[0]);
    ck_assert_uint_eq(h_collect(&K, pid, 1, res, 5000), 1);
    ck_assert_int_eq(res[0].status, IPP__STATUS__OK);
    Ipp__ClearRequest cr = IPP__CLEAR_REQUEST__INIT;
    ck_assert_int_eq(h_request(&K, IPP__MSG_TYPE__CLEAR_REQUEST, &cr.base, 5000),
                     IPP__MSG_TYPE__CLEAR_REPLY);
    ck_assert_uint_eq(((Ipp__ClearReply *)K.msg.content)->n_cleared, 1);
    op.op = IPP__NAMESPACE_OP__OP__PULL;
    h_send(&K, IPP__MSG_TYPE__TASK_REQUEST, &push.base, NULL, 0, pid[1]);
    ck_assert_uint_eq(h_collect(&K, pid + 1, 1, res, 5000), 1);
    ck_assert_int_eq(res[0].status, IPP__STATUS__ERROR);
    ck_assert_str_eq(res[0].ename, "NameError");
    h_down(&C, &K);
}
END_TEST

START_TEST(test_purge_and_resubmit)
{
    h_up(&C, &K, 2, NULL);
    id_t_ ids[10];
    s_run(ids, 6, "batch");
    // Resubmit keeps label, retries and dependencies of the original.
    id_t_ dep[1];
    const char *after[1] = {ids[0]};
    h_task_t t = {.shell = "echo again",
                  .target = -1,
                  .label = "keep-me",
                  .retries = 2,
                  .after = after,
                  .n_after = 1};
    h_submit(&K, &t, dep[0]);
    h_result_t res[1];
    ck_assert_uint_eq(h_collect(&K, dep, 1, res, 10000), 1);
    Ipp__ResubmitRequest rs = IPP__RESUBMIT_REQUEST__INIT;
    char *one[1] = {dep[0]};
    rs.n_msg_ids = 1;
    rs.msg_ids = one;
    ck_assert_int_eq(h_request(&K, IPP__MSG_TYPE__RESUBMIT_REQUEST, &rs.base, 5000),
                     IPP__MSG_TYPE__RESUBMIT_REPLY);
    Ipp__ResubmitReply *rr = (Ipp__ResubmitReply *)K.msg.content;
    ck_assert_uint_eq(rr->n_new_ids, 1);
    id_t_ fresh[1];
    snprintf(fresh[0], sizeof fresh[0], "%s", rr->new_ids[0]);
    ck_assert_str_ne(fresh[0], dep[0]);
    ck_assert_uint_eq(h_collect(&K, fresh, 1, res, 10000), 1);
    ck_assert_int_eq(res[0].status, IPP__STATUS__OK);
    ck_assert_str_eq(res[0].out, "again\n");
    char sql[400];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM tasks n JOIN tasks o ON o.resubmitted = n.msg_id WHERE "
             "o.msg_id='%s' AND n.label='keep-me' AND n.retries=2 AND n.after LIKE '%%%s%%'",
             dep[0], ids[0]);
    ck_assert_int_eq(h_db_int(&C, sql), 1);

    // Purge by id, then by engine, then everything completed.
    Ipp__PurgeRequest p = IPP__PURGE_REQUEST__INIT;
    char *first[1] = {ids[0]};
    p.n_msg_ids = 1;
    p.msg_ids = first;
    ck_assert_int_eq(h_request(&K, IPP__MSG_TYPE__PURGE_REQUEST, &p.base, 5000),
                     IPP__MSG_TYPE__PURGE_REPLY);
    ck_assert_int_eq(((Ipp__PurgeReply *)K.msg.content)->purged, 1);
    int64_t on0 = h_db_int(&C, "SELECT count(*) FROM tasks WHERE engine_id=0");
    Ipp__PurgeRequest pe = IPP__PURGE_REQUEST__INIT;
    int32_t eng0 = 0;
    pe.n_engine_ids = 1;
    pe.engine_ids = &eng0;
    ck_assert_int_eq(h_request(&K, IPP__MSG_TYPE__PURGE_REQUEST, &pe.base, 5000),
                     IPP__MSG_TYPE__PURGE_REPLY);
    ck_assert_int_eq(((Ipp__PurgeReply *)K.msg.content)->purged, on0);
    ck_assert_int_eq(h_db_int(&C, "SELECT count(*) FROM tasks WHERE engine_id=0"), 0);
    Ipp__PurgeRequest pa = IPP__PURGE_REQUEST__INIT;
    pa.has_all = 1;
    pa.all = 1;
    ck_assert_int_eq(h_request(&K, IPP__MSG_TYPE__PURGE_REQUEST, &pa.base, 5000),
                     IPP__MSG_TYPE__PURGE_REPLY);
    ck_assert_int_eq(h_db_int(&C, "SELECT count(*) FROM tasks"), 0);
    // Purges are recorded, so the audit chain still verifies.
    ck_assert_int_ge(h_db_int(&C, "SELECT count(*) FROM purges"), 3);
    ck_assert_int_eq(h_db_int(&C, "SELECT sum(count) FROM purges"), 8);
    // An empty purge request is refused.
    Ipp__PurgeRequest none = IPP__PURGE_REQUEST__INIT;
    ck_assert_int_eq(h_request(&K, IPP__MSG_TYPE__PURGE_REQUEST, &none.base, 5000),
                     IPP__MSG_TYPE__ERROR_REPLY);
    h_down(&C, &K);
}
END_TEST

// A RESUBMIT_REPLY names tasks a client may then wait for: it must not
// leave before they are committed, or a controller killed in between
// would have handed out ids it forgot. The test holds the database's
// write lock (as another writer would) while the resubmission is asked
// for: the reply must wait for the lock to go and the commit to happen.
START_TEST(test_resubmit_replies_after_commit)
{
    h_up(&C, &K, 1, NULL);
    id_t_ ids[1];
    s_run(ids, 1, "first");
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(C.db_path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    ck_assert_int_eq(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    Ipp__ResubmitRequest rs = IPP__RESUBMIT_REQUEST__INIT;
    char *one[1] = {ids[0]};
    rs.n_msg_ids = 1;
    rs.msg_ids = one;
    h_send(&K, IPP__MSG_TYPE__RESUBMIT_REQUEST, &rs.base, NULL, 0, NULL);
    // While the lock is held nothing can be committed, so no reply may come.
    int64_t until = ipp_clock_mono_us() + 1000000;
    while (ipp_clock_mono_us() < until) {
        int type = h_recv(&K, 50);
        ck_assert_msg(type != IPP__MSG_TYPE__RESUBMIT_REPLY && type != IPP__MSG_TYPE__ERROR_REPLY,
                      "resubmit answered (type %d) while its task could not be committed", type);
    }
    ck_assert_int_eq(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    int type = 0;
    until = ipp_clock_mono_us() + 10000000;
    while (type != IPP__MSG_TYPE__RESUBMIT_REPLY && ipp_clock_mono_us() < until)
        type = h_recv(&K, 100);
    ck_assert_int_eq(type, IPP__MSG_TYPE__RESUBMIT_REPLY);
    Ipp__ResubmitReply *rr = (Ipp__ResubmitReply *)K.msg.content;
    ck_assert_uint_eq(rr->n_new_ids, 1);
    char sql[300];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM tasks WHERE msg_id='%s'", rr->new_ids[0]);
    ck_assert_int_eq(h_db_int(&C, sql), 1);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM tasks WHERE msg_id='%s' AND resubmitted='%s'",
             ids[0], rr->new_ids[0]);
    ck_assert_int_eq(h_db_int(&C, sql), 1);
    // A resubmission of an unknown id gets an error and records nothing.
    int64_t before = h_db_int(&C, "SELECT count(*) FROM tasks");
    char *unknown[1] = {"00000000-0000-7000-8000-000000000000"};
    rs.msg_ids = unknown;
    ck_assert_int_eq(h_request(&K, IPP__MSG_TYPE__RESUBMIT_REQUEST, &rs.base, 5000),
                     IPP__MSG_TYPE__ERROR_REPLY);
    ck_assert_int_eq(h_db_int(&C, "SELECT count(*) FROM tasks"), before);
    h_down(&C, &K);
}
END_TEST

// A db_query over 20 MB of rows runs off the controller's loop: a task
// submitted right after it completes before the query's first page
// leaves (on the loop it would have waited behind it), and the answer
// comes in pages that join up to every row.
START_TEST(test_big_db_query_pages_off_the_loop)
{
    h_up(&C, &K, 2, NULL);
    enum { BIG = 200 };
    id_t_ *ids = calloc(BIG, sizeof *ids);
    for (int i = 0; i < BIG; i++) {
        h_task_t t = {
            .shell = "head -c 100000 /dev/zero | tr '\\0' y", .target = -1, .label = "fat"};
        h_submit(&K, &t, ids[i]);
    }
    h_result_t *res = calloc(BIG, sizeof *res);
    ck_assert_uint_eq(h_collect(&K, ids, BIG, res, 120000), BIG);
    free(res);
    free(ids);

    Ipp__DbQueryRequest q = IPP__DB_QUERY_REQUEST__INIT;
    q.query_json = "{\"label\": \"fat\"}";
    char *keys[2] = {"msg_id", "stdout"};
    q.n_keys = 2;
    q.keys = keys;
    char qid[IPP_MSGID_LEN + 1];
    h_send(&K, IPP__MSG_TYPE__DB_QUERY_REQUEST, &q.base, NULL, 0, qid);
    id_t_ quick[1];
    h_task_t n = {.call = "noop", .target = -1};
    h_submit(&K, &n, quick[0]);
    bool task_first = false, got_page = false;
    int64_t rows = 0, offset = 0;
    bool more = false;
    int64_t until = ipp_clock_mono_us() + 120 * 1000000;
    while (!got_page && ipp_clock_mono_us() < until) {
        int type = h_recv(&K, 200);
        if (type == IPP__MSG_TYPE__TASK_RESULT && K.msg.header->parent_id &&
            strcmp(K.msg.header->parent_id, quick[0]) == 0)
            task_first = !got_page;
        if (type == IPP__MSG_TYPE__DB_QUERY_REPLY && strcmp(K.msg.header->parent_id, qid) == 0) {
            const Ipp__DbQueryReply *r = (const Ipp__DbQueryReply *)K.msg.content;
            got_page = true;
            more = r->more;
            offset = r->next_offset;
            for (const char *p = r->records_json; p && *p; p++)
                rows += *p == '\n';
        }
    }
    ck_assert(got_page);
    ck_assert_msg(task_first, "a task waited behind a db_query");
    ck_assert_msg(more, "20 MB of rows came in one page");
    ck_assert_int_eq(offset, rows);
    while (more) {
        q.has_offset = 1;
        q.offset = offset;
        ck_assert_int_eq(h_request(&K, IPP__MSG_TYPE__DB_QUERY_REQUEST, &q.base, 60000),
                         IPP__MSG_TYPE__DB_QUERY_REPLY);
        const Ipp__DbQueryReply *r = (const Ipp__DbQueryReply *)K.msg.content;
        int64_t page = 0;
        for (const char *p = r->records_json; p && *p; p++)
            page += *p == '\n';
        ck_assert_int_eq(r->next_offset, offset + page);
        rows += page;
        offset = r->next_offset;
        more = r->more;
    }
    ck_assert_int_eq(rows, BIG);
    // A negative offset is refused.
    q.offset = -1;
    ck_assert_int_eq(h_request(&K, IPP__MSG_TYPE__DB_QUERY_REQUEST, &q.base, 5000),
                     IPP__MSG_TYPE__ERROR_REPLY);
    h_down(&C, &K);
}
END_TEST

START_TEST(test_shutdown_stops_everything)
{
    h_up(&C, &K, 2, NULL);
    Ipp__ShutdownRequest sd = IPP__SHUTDOWN_REQUEST__INIT;
    sd.has_hub = 1;
    sd.hub = 1;
    ck_assert_int_eq(h_request(&K, IPP__MSG_TYPE__SHUTDOWN_REQUEST, &sd.base, 5000),
                     IPP__MSG_TYPE__SHUTDOWN_REPLY);
    ck_assert_uint_eq(((Ipp__ShutdownReply *)K.msg.content)->n_stopping, 2);
    // Everyone exits by themselves, with status 0.
    int64_t until = ipp_clock_mono_us() + 15 * 1000000;
    pid_t pids[3] = {C.controller, C.engines[0], C.engines[1]};
    for (int i = 0; i < 3; i++) {
        int st = -1;
        while (waitpid(pids[i], &st, WNOHANG) == 0 && ipp_clock_mono_us() < until)
            usleep(20000);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "process %d did not exit cleanly", i);
    }
    C.controller = C.engines[0] = C.engines[1] = 0;
    char pidfile[700];
    snprintf(pidfile, sizeof pidfile, "%s/ipp-controller.pid", C.profile_dir);
    ck_assert_int_ne(access(pidfile, F_OK), 0);
    h_client_close(&K);
    h_cluster_fini(&C);
}
END_TEST

static Suite *s_suite(void)
{
    Suite *s = suite_create("queries");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_result_status_100k_ids);
    tcase_add_test(tc, test_queue_status_load_abort_clear);
    tcase_add_test(tc, test_purge_and_resubmit);
    tcase_add_test(tc, test_resubmit_replies_after_commit);
    tcase_add_test(tc, test_big_db_query_pages_off_the_loop);
    tcase_add_test(tc, test_shutdown_stops_everything);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return h_main(s_suite());
}
