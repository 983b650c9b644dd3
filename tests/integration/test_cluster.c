/* test_cluster.c — controller and engines as real processes: registration,
 * load balancing, direct tasks, DAG dependencies, timeouts, retries, and
 * what the database records.
 */
#include "harness.h"

#include "proto/clock.h"

#include <check.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef char id_t_[IPP_MSGID_LEN + 1];

static h_cluster_t C;
static h_client_t K;

START_TEST(test_engines_register_with_ids)
{
    h_up(&C, &K, 2, NULL);
    Ipp__EngineListRequest req = IPP__ENGINE_LIST_REQUEST__INIT;
    ck_assert_int_eq(h_request(&K, IPP__MSG_TYPE__ENGINE_LIST_REQUEST, &req.base, 5000),
                     IPP__MSG_TYPE__ENGINE_LIST_REPLY);
    Ipp__EngineListReply *rep = (Ipp__EngineListReply *)K.msg.content;
    ck_assert_uint_eq(rep->n_engines, 2);
    int seen = 0;
    for (size_t i = 0; i < 2; i++) {
        ck_assert(rep->engines[i]->alive);
        ck_assert_int_ge(rep->engines[i]->engine_id, 0);
        ck_assert_int_le(rep->engines[i]->engine_id, 1);
        seen |= 1 << rep->engines[i]->engine_id;
        ck_assert_int_gt(rep->engines[i]->pid, 0);
    }
    ck_assert_int_eq(seen, 3);  // ids 0 and 1
    // The registry is in the database too.
    ck_assert_int_eq(h_db_int(&C, "SELECT count(*) FROM engines"), 2);
    h_down(&C, &K);
}
END_TEST

START_TEST(test_load_balanced_batch_spreads)
{
    h_up(&C, &K, 2, (const char *[]){"--hwm", "1", NULL});
    enum { N = 40 };
    id_t_ ids[N];
    for (int i = 0; i < N; i++) {
        // Each takes a little while so both engines are needed.
        h_task_t t = {.call = "sleep", .args = (const char *[]){"0.02"}, .n_args = 1, .target = -1};
        h_submit(&K, &t, ids[i]);
    }
    h_result_t res[N];
    ck_assert_uint_eq(h_collect(&K, ids, N, res, 30000), N);
    int per[2] = {0, 0};
    for (int i = 0; i < N; i++) {
        ck_assert_msg(res[i].accepted, "task %d not acknowledged", i);
        ck_assert_int_eq(res[i].status, IPP__STATUS__OK);
        ck_assert(res[i].engine_id == 0 || res[i].engine_id == 1);
        per[res[i].engine_id]++;
    }
    ck_assert_int_gt(per[0], 5);
    ck_assert_int_gt(per[1], 5);
    // Every one is recorded as done, with the engine that ran it.
    ck_assert_int_eq(h_db_int(&C, "SELECT count(*) FROM tasks WHERE status='ok' AND "
                                  "engine_id IN (0,1) AND started IS NOT NULL AND "
                                  "completed >= started AND received IS NOT NULL"),
                     N);
    h_down(&C, &K);
}
END_TEST

// Results of a client with other tasks outstanding may travel together,
// but only for a moment: a quick task's result arrives while the client's
// slow task still runs, and every result arrives once.
START_TEST(test_results_not_held_behind_slow_tasks)
{
    h_up(&C, &K, 2, NULL);
    id_t_ slow, quick[3];
    h_task_t ts = {.call = "sleep", .args = (const char *[]){"3"}, .n_args = 1, .target = -1};
    h_submit(&K, &ts, slow);
    for (int i = 0; i < 3; i++) {
        h_task_t tq = {.call = "noop", .target = -1};
        h_submit(&K, &tq, quick[i]);
    }
    // Arrival order and time of the four results; when the slow one ended.
    int order[4], n = 0;
    int64_t arrived[4] = {0}, slow_completed = 0;
    int64_t until = ipp_clock_mono_us() + 20 * 1000000;
    while (n < 4 && ipp_clock_mono_us() < until) {
        int t = h_recv(&K, 1000);
        if (t != IPP__MSG_TYPE__TASK_RESULT || !K.msg.header->parent_id)
            continue;
        const char *pid = K.msg.header->parent_id;
        int which = strcmp(pid, slow) == 0 ? 0 : -1;
        for (int i = 0; i < 3 && which < 0; i++)
            if (strcmp(pid, quick[i]) == 0)
                which = 1 + i;
        ck_assert_msg(which >= 0, "a result for a task nobody submitted: %s", pid);
        for (int k = 0; k < n; k++)
            ck_assert_msg(order[k] != which, "result %d delivered twice", which);
        arrived[which] = ipp_clock_now_us();
        if (which == 0) {
            Ipp__TaskResult *r = (Ipp__TaskResult *)K.msg.content;
            ck_assert(r->has_completed);
            slow_completed = r->completed;
        }
        order[n++] = which;
    }
    ck_assert_int_eq(n, 4);
    ck_assert_msg(order[3] == 0, "the slow task's result came before a quick one's");
    // Not merely before it: while it was still running.
    for (int i = 1; i < 4; i++)
        ck_assert_msg(arrived[i] < slow_completed,
                      "quick result %d arrived %lld µs after the slow task ended", i,
                      (long long)(arrived[i] - slow_completed));
    h_down(&C, &K);
}
END_TEST

START_TEST(test_direct_task_runs_where_targeted)
{
    h_up(&C, &K, 2, NULL);
    id_t_ ids[4];
    for (int i = 0; i < 4; i++) {
        h_task_t t = {.call = "getpid", .target = i % 2};
        h_submit(&K, &t, ids[i]);
    }
    h_result_t res[4];
    ck_assert_uint_eq(h_collect(&K, ids, 4, res, 10000), 4);
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(res[i].status, IPP__STATUS__OK);
        ck_assert_int_eq(res[i].engine_id, i % 2);
    }
    // Same engine, same pid; different engines, different pids.
    ck_assert_str_eq(res[0].buf0, res[2].buf0);
    ck_assert_str_ne(res[0].buf0, res[1].buf0);
    // A direct task to an engine that does not exist is refused.
    h_task_t bad = {.call = "noop", .target = 7};
    h_submit(&K, &bad, ids[0]);
    ck_assert_uint_eq(h_collect(&K, ids, 1, res, 5000), 1);
    ck_assert(res[0].refused);
    ck_assert(strstr(res[0].evalue, "engine 7") != NULL);
    ck_assert_int_eq(h_db_int(&C, "SELECT count(*) FROM tasks"), 4);
    h_down(&C, &K);
}
END_TEST

START_TEST(test_command_output_and_failure)
{
    h_up(&C, &K, 1, NULL);
    id_t_ ids[3];
    h_task_t ok = {.shell = "echo hello; echo oops >&2", .target = -1};
    h_task_t bad = {.shell = "exit 3", .target = -1};
    h_task_t slow = {.shell = "sleep 10", .target = -1, .wall_limit_s = 0.3};
    h_submit(&K, &ok, ids[0]);
    h_submit(&K, &bad, ids[1]);
    h_submit(&K, &slow, ids[2]);
    h_result_t res[3];
    ck_assert_uint_eq(h_collect(&K, ids, 3, res, 20000), 3);
    ck_assert_int_eq(res[0].status, IPP__STATUS__OK);
    ck_assert_str_eq(res[0].out, "hello\n");
    ck_assert_int_eq(res[1].status, IPP__STATUS__ERROR);
    ck_assert_str_eq(res[1].ename, "CommandFailed");
    ck_assert(strstr(res[1].evalue, "3") != NULL);
    ck_assert_int_eq(res[2].status, IPP__STATUS__ERROR);
    ck_assert_str_eq(res[2].ename, "WallTimeExceeded");
    char sql[300];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM tasks WHERE msg_id='%s' AND stderr='oops\n'",
             ids[0]);
    ck_assert_int_eq(h_db_int(&C, sql), 1);
    h_down(&C, &K);
}
END_TEST

// The DAG of the seeds' dependency examples: a failing task and what
// depends on it with each combination of flags.
START_TEST(test_dag_flags)
{
    h_up(&C, &K, 2, NULL);
    id_t_ ids[8];
    h_task_t fail = {
        .call = "fail", .args = (const char *[]){"node 0 fails"}, .n_args = 1, .target = -1};
    h_task_t okt = {.call = "noop", .target = -1};
    h_submit(&K, &fail, ids[0]);
    h_submit(&K, &okt, ids[1]);
    const char *f[1] = {ids[0]};
    const char *both[2] = {ids[0], ids[1]};
    // 2: success-only after the failure → impossible
    h_task_t t2 = {.call = "noop", .target = -1, .after = f, .n_after = 1};
    // 3: failure-only after the failure → runs
    h_task_t t3 = {.call = "noop",
                   .target = -1,
                   .after = f,
                   .n_after = 1,
                   .after_failure = true,
                   .after_no_success = true};
    // 4: any of (failure, success) with success-only → runs (the ok one)
    h_task_t t4 = {.call = "noop", .target = -1, .after = both, .n_after = 2, .after_any = true};
    // 5: all of (failure, success) success-only → impossible
    h_task_t t5 = {.call = "noop", .target = -1, .after = both, .n_after = 2};
    // 6: success or failure → runs
    h_task_t t6 = {.call = "noop", .target = -1, .after = f, .n_after = 1, .after_failure = true};
    h_submit(&K, &t2, ids[2]);
    h_submit(&K, &t3, ids[3]);
    h_submit(&K, &t4, ids[4]);
    h_submit(&K, &t5, ids[5]);
    h_submit(&K, &t6, ids[6]);
    // 7: after 2 (which is impossible): the failure cascades.
    const char *d2[1] = {ids[2]};
    h_task_t t7 = {.call = "noop", .target = -1, .after = d2, .n_after = 1};
    h_submit(&K, &t7, ids[7]);
    h_result_t res[8];
    ck_assert_uint_eq(h_collect(&K, ids, 8, res, 20000), 8);
    ck_assert_int_eq(res[0].status, IPP__STATUS__ERROR);
    ck_assert_str_eq(res[0].evalue, "node 0 fails");
    ck_assert_int_eq(res[1].status, IPP__STATUS__OK);
    ck_assert_int_eq(res[2].status, IPP__STATUS__UNREACHABLE);
    ck_assert_str_eq(res[2].ename, "ImpossibleDependency");
    ck_assert_int_eq(res[3].status, IPP__STATUS__OK);
    ck_assert_int_eq(res[4].status, IPP__STATUS__OK);
    ck_assert_int_eq(res[5].status, IPP__STATUS__UNREACHABLE);
    ck_assert_int_eq(res[6].status, IPP__STATUS__OK);
    ck_assert_int_eq(res[7].status, IPP__STATUS__UNREACHABLE);
    // Dependency edges are recorded.
    ck_assert_int_eq(h_db_int(&C, "SELECT count(*) FROM deps WHERE kind='after'"), 8);
    ck_assert_int_eq(h_db_int(&C, "SELECT count(*) FROM tasks WHERE status='unreachable'"), 3);
    h_down(&C, &K);
}
END_TEST

START_TEST(test_follow_and_timeout)
{
    h_up(&C, &K, 2, NULL);
    id_t_ ids[4];
    h_task_t first = {.call = "getpid", .target = -1};
    h_submit(&K, &first, ids[0]);
    h_result_t res[4];
    ck_assert_uint_eq(h_collect(&K, ids, 1, res, 10000), 1);
    int where = res[0].engine_id;
    const char *f[1] = {ids[0]};
    h_task_t fol = {.call = "getpid", .target = -1, .follow = f, .n_follow = 1};
    h_submit(&K, &fol, ids[1]);
    h_task_t fol2 = {.call = "getpid", .target = -1, .follow = f, .n_follow = 1};
    h_submit(&K, &fol2, ids[2]);
    // A task waiting on a slow one with a short timeout gives up.
    h_task_t slow = {.call = "sleep", .args = (const char *[]){"3"}, .n_args = 1, .target = -1};
    id_t_ sid;
    h_submit(&K, &slow, sid);
    const char *s1[1] = {sid};
    h_task_t impatient = {
        .call = "noop", .target = -1, .after = s1, .n_after = 1, .timeout_s = 0.4};
    h_submit(&K, &impatient, ids[3]);
    int64_t t0 = ipp_clock_mono_us();
    ck_assert_uint_eq(h_collect(&K, ids + 1, 3, res + 1, 10000), 3);
    int64_t waited = ipp_clock_mono_us() - t0;
    ck_assert_int_eq(res[1].engine_id, where);
    ck_assert_int_eq(res[2].engine_id, where);
    ck_assert_int_eq(res[3].status, IPP__STATUS__UNREACHABLE);
    ck_assert_str_eq(res[3].ename, "DependencyTimeout");
    ck_assert_int_lt(waited, 2500000);  // well before the slow task ends
    h_down(&C, &K);
}
END_TEST

START_TEST(test_retries_after_failing_attempt)
{
    h_up(&C, &K, 2, NULL);
    char mark[700], shell[1600];
    snprintf(mark, sizeof mark, "%s/attempted", C.dir);
    // Fails the first time, succeeds the second.
    snprintf(shell, sizeof shell, "if [ -e '%s' ]; then echo second; else touch '%s'; exit 1; fi",
             mark, mark);
    id_t_ ids[2];
    h_task_t t = {.shell = shell, .target = -1, .retries = 1};
    h_submit(&K, &t, ids[0]);
    h_result_t res[2];
    ck_assert_uint_eq(h_collect(&K, ids, 1, res, 15000), 1);
    ck_assert_int_eq(res[0].status, IPP__STATUS__OK);
    ck_assert_str_eq(res[0].out, "second\n");
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT attempts FROM tasks WHERE msg_id='%s'", ids[0]);
    ck_assert_int_eq(h_db_int(&C, sql), 2);
    // Without retries the failure is final.
    unlink(mark);
    h_task_t once = {.shell = shell, .target = -1};
    h_submit(&K, &once, ids[1]);
    ck_assert_uint_eq(h_collect(&K, ids + 1, 1, res + 1, 15000), 1);
    ck_assert_int_eq(res[1].status, IPP__STATUS__ERROR);
    h_down(&C, &K);
}
END_TEST

// A second client waits for a peer's pending task: subscribe to its done
// topic, ask (pending), and learn of the completion from the notification.
START_TEST(test_peer_waits_by_notification)
{
    h_up(&C, &K, 1, NULL);
    id_t_ ids[1];
    h_task_t slow = {.call = "sleep",
                     .args = (const char *[]){"0.8"},
                     .n_args = 1,
                     .target = -1,
                     .label = "nightly/peer"};
    h_submit(&K, &slow, ids[0]);
    h_client_t peer;
    h_client_open(&peer, &C);
    char topic[64];
    snprintf(topic, sizeof topic, "done.%s", ids[0]);
    zmq_setsockopt(peer.sub, ZMQ_UNSUBSCRIBE, "", 0);
    zmq_setsockopt(peer.sub, ZMQ_SUBSCRIBE, topic, strlen(topic));
    usleep(100000);
    Ipp__ResultRequest rq = IPP__RESULT_REQUEST__INIT;
    char *one[1] = {ids[0]};
    rq.n_msg_ids = 1;
    rq.msg_ids = one;
    ck_assert_int_eq(h_request(&peer, IPP__MSG_TYPE__RESULT_REQUEST, &rq.base, 5000),
                     IPP__MSG_TYPE__RESULT_REPLY);
    ck_assert_uint_eq(((Ipp__ResultReply *)peer.msg.content)->n_pending, 1);
    // The notification arrives on the SUB socket.
    zmq_pollitem_t it = {peer.sub, 0, ZMQ_POLLIN, 0};
    ck_assert_int_eq(zmq_poll(&it, 1, 10000), 1);
    wire_msg_t m;
    wire_msg_init(&m);
    ck_assert_int_eq(wire_recv(peer.wire, peer.sub, 0, &m, NULL), IPP_OK);
    ck_assert_int_eq(wire_msg_type(&m), IPP__MSG_TYPE__TASK_DONE);
    Ipp__TaskDone *d = (Ipp__TaskDone *)m.content;
    ck_assert_str_eq(d->msg_id, ids[0]);
    ck_assert_int_eq(d->status, IPP__STATUS__OK);
    ck_assert_ptr_nonnull(d->label);  // read from the task's own request
    ck_assert_str_eq(d->label, "nightly/peer");
    wire_msg_fini(&m);
    // It also came straight to the peer's DEALER: no subscription needed.
    ck_assert_int_eq(h_recv(&peer, 5000), IPP__MSG_TYPE__TASK_DONE);
    ck_assert_str_eq(peer.msg.header->parent_id, ids[0]);
    // And now the result is there for the peer.
    rq.has_records = 1;
    rq.records = 1;
    ck_assert_int_eq(h_request(&peer, IPP__MSG_TYPE__RESULT_REQUEST, &rq.base, 5000),
                     IPP__MSG_TYPE__RESULT_REPLY);
    Ipp__ResultReply *rep = (Ipp__ResultReply *)peer.msg.content;
    ck_assert_uint_eq(rep->n_records, 1);
    ck_assert_int_eq(rep->records[0]->status, IPP__STATUS__OK);
    ck_assert(rep->records[0]->has_started && rep->records[0]->has_completed);
    ck_assert_int_ge(rep->records[0]->completed - rep->records[0]->started, 700000);
    h_client_close(&peer);
    h_down(&C, &K);
}
END_TEST

// Functional dependencies: an engine without what a task requires answers
// "unmet"; the task goes elsewhere, or fails when every engine refused.
START_TEST(test_requires)
{
    h_cluster_init(&C);
    h_controller_start(&C, NULL);
    h_engine_start(&C, (const char *[]){"--tag", "gpu", NULL});
    h_engine_start(&C, NULL);
    h_client_open(&K, &C);
    ck_assert(h_wait_engines(&K, 2, 15000));
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT id FROM engines WHERE pid=%d", (int)C.engines[0]);
    int64_t gpu = h_db_int(&C, sql);
    ck_assert_int_ge(gpu, 0);
    enum { N = 6 };
    id_t_ ids[N + 2];
    for (int i = 0; i < N; i++) {
        h_task_t t = {.call = "getpid",
                      .target = -1,
                      .requires = (const char *[]){"tag:gpu"},
                      .n_requires = 1};
        h_submit(&K, &t, ids[i]);
    }
    h_task_t nope = {.call = "noop",
                     .target = -1,
                     .requires = (const char *[]){"fn:no_such_function"},
                     .n_requires = 1};
    h_submit(&K, &nope, ids[N]);
    h_task_t sh = {.call = "noop",
                   .target = -1,
                   .requires = (const char *[]){"cmd:sh", "fn:echo"},
                   .n_requires = 2};
    h_submit(&K, &sh, ids[N + 1]);
    h_result_t res[N + 2];
    ck_assert_uint_eq(h_collect(&K, ids, N + 2, res, 20000), N + 2);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(res[i].status, IPP__STATUS__OK);
        ck_assert_int_eq(res[i].engine_id, gpu);
    }
    ck_assert_int_eq(res[N].status, IPP__STATUS__UNREACHABLE);
    ck_assert_str_eq(res[N].ename, "ImpossibleDependency");
    ck_assert_int_eq(res[N + 1].status, IPP__STATUS__OK);
    h_down(&C, &K);
}
END_TEST

// An engine with a plugin: its functions run as call tasks, print to the
// task's stdout, use the engine namespace, fail with their own errors; a
// task requiring one of them goes to that engine only.
START_TEST(test_plugin_functions)
{
    h_cluster_init(&C);
    h_controller_start(&C, NULL);
    h_engine_start(&C, (const char *[]){"--plugin", IPP_TEST_PLUGIN, NULL});
    h_engine_start(&C, NULL);
    h_client_open(&K, &C);
    ck_assert(h_wait_engines(&K, 2, 15000));
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT id FROM engines WHERE pid=%d", (int)C.engines[0]);
    int plug = (int)h_db_int(&C, sql);
    ck_assert_int_ge(plug, 0);
    id_t_ ids[6];
    h_result_t res[6];
    h_task_t greet = {.call = "t_greet",
                      .args = (const char *[]){"world"},
                      .n_args = 1,
                      .target = -1,
                      .requires = (const char *[]){"fn:t_greet"},
                      .n_requires = 1};
    h_task_t store = {
        .call = "t_store", .args = (const char *[]){"k", "v42"}, .n_args = 2, .target = plug};
    h_task_t fail = {.call = "t_fail", .target = plug};
    h_submit(&K, &greet, ids[0]);
    h_submit(&K, &store, ids[1]);
    h_submit(&K, &fail, ids[2]);
    ck_assert_uint_eq(h_collect(&K, ids, 3, res, 10000), 3);
    ck_assert_int_eq(res[0].status, IPP__STATUS__OK);
    ck_assert_int_eq(res[0].engine_id, plug);
    ck_assert_str_eq(res[0].out, "hello world\n");
    ck_assert_str_eq(res[0].buf0, "greeted");
    ck_assert_int_eq(res[1].status, IPP__STATUS__OK);
    ck_assert_int_eq(res[2].status, IPP__STATUS__ERROR);
    ck_assert_str_eq(res[2].ename, "PluginError");
    ck_assert_str_eq(res[2].evalue, "bad thing 42");
    ck_assert_str_eq(res[2].out, "about to fail\n");
    // The namespace persists between tasks on that engine.
    h_task_t load = {.call = "t_load", .args = (const char *[]){"k"}, .n_args = 1, .target = plug};
    h_submit(&K, &load, ids[3]);
    ck_assert_uint_eq(h_collect(&K, ids + 3, 1, res + 3, 10000), 1);
    ck_assert_int_eq(res[3].status, IPP__STATUS__OK);
    ck_assert_str_eq(res[3].buf0, "v42");
    // The other engine does not have it.
    h_task_t other = {
        .call = "t_greet", .args = (const char *[]){"x"}, .n_args = 1, .target = 1 - plug};
    h_submit(&K, &other, ids[4]);
    ck_assert_uint_eq(h_collect(&K, ids + 4, 1, res + 4, 10000), 1);
    ck_assert_int_eq(res[4].status, IPP__STATUS__ERROR);
    ck_assert_str_eq(res[4].ename, "NameError");
    h_down(&C, &K);
}
END_TEST

// A random DAG of 500 nodes, each after up to 3 earlier ones: from the
// database, no task started before every one of its parents completed.
START_TEST(test_random_dag_order)
{
    h_up(&C, &K, 2, (const char *[]){"--hwm", "2", NULL});
    enum { N = 500 };
    static id_t_ ids[N];
    uint32_t seed = 12345;
    for (int i = 0; i < N; i++) {
        const char *parents[3];
        size_t np = 0;
        for (int k = 0; k < 3 && i > 0; k++) {
            seed = seed * 1103515245u + 12345u;
            if ((seed >> 16) % 4 == 0)
                continue;  // some nodes have fewer parents
            int p = (int)((seed >> 8) % (uint32_t)i);
            bool dup = false;
            for (size_t q = 0; q < np; q++)
                dup |= parents[q] == ids[p];
            if (!dup)
                parents[np++] = ids[p];
        }
        h_task_t t = {.call = "noop", .target = -1, .after = parents, .n_after = np};
        h_submit(&K, &t, ids[i]);
    }
    static h_result_t res[N];
    ck_assert_uint_eq(h_collect(&K, ids, N, res, 60000), N);
    for (int i = 0; i < N; i++)
        ck_assert_msg(res[i].status == IPP__STATUS__OK, "node %d: %d %s", i, res[i].status,
                      res[i].evalue);
    ck_assert_int_gt(h_db_int(&C, "SELECT count(*) FROM deps WHERE kind='after'"), 500);
    ck_assert_int_eq(h_db_int(&C, "SELECT count(*) FROM deps d JOIN tasks c ON c.msg_id=d.task "
                                  "JOIN tasks p ON p.msg_id=d.depends_on WHERE d.kind='after' "
                                  "AND (c.started IS NULL OR p.completed IS NULL OR "
                                  "c.started < p.completed)"),
                     0);
    h_down(&C, &K);
}
END_TEST

static Suite *s_suite(void)
{
    Suite *s = suite_create("cluster");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, test_engines_register_with_ids);
    tcase_add_test(tc, test_load_balanced_batch_spreads);
    tcase_add_test(tc, test_results_not_held_behind_slow_tasks);
    tcase_add_test(tc, test_direct_task_runs_where_targeted);
    tcase_add_test(tc, test_command_output_and_failure);
    tcase_add_test(tc, test_dag_flags);
    tcase_add_test(tc, test_follow_and_timeout);
    tcase_add_test(tc, test_retries_after_failing_attempt);
    tcase_add_test(tc, test_peer_waits_by_notification);
    tcase_add_test(tc, test_requires);
    tcase_add_test(tc, test_plugin_functions);
    tcase_add_test(tc, test_random_dag_order);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return h_main(s_suite());
}
