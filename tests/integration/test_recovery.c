/* test_recovery.c — things die: an engine killed mid-task, the controller
 * killed mid-run and started again on the same database.
 */
#include "harness.h"

#include "proto/clock.h"

#include <check.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef char id_t_[IPP_MSGID_LEN + 1];

static h_cluster_t C;
static h_client_t K;

// s_running_on: the engine id the DB says msg_id was sent to, waiting up
// to 10 s for the assignment to be recorded.
static int s_running_on(const char *msg_id)
{
    char sql[200];
    snprintf(sql, sizeof sql,
             "SELECT coalesce(engine_id, -1) FROM tasks WHERE msg_id='%s' AND status='pending'",
             msg_id);
    int64_t until = ipp_clock_mono_us() + 10 * 1000000;
    while (ipp_clock_mono_us() < until) {
        int64_t e = h_db_int(&C, sql);
        if (e >= 0)
            return (int)e;
        usleep(20000);
    }
    return -1;
}

// s_engine_index: the harness index of the engine with id (ids follow
// registration order here: engine i registered as id i).
START_TEST(test_engine_killed_mid_task)
{
    h_up(&C, &K, 2, NULL);
    id_t_ ids[3];
    // With a retry: goes to the other engine.
    h_task_t t = {.shell = "sleep 1.5; echo done", .target = -1, .retries = 1};
    h_submit(&K, &t, ids[0]);
    int e = s_running_on(ids[0]);
    ck_assert_int_ge(e, 0);
    usleep(200000);  // let it start
    // Engine ids follow the engines table; map the id to our process by pid.
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT pid FROM engines WHERE id=%d", e);
    int64_t pid = h_db_int(&C, sql);
    int idx = C.engines[0] == (pid_t)pid ? 0 : 1;
    ck_assert_int_eq(C.engines[idx], (pid_t)pid);
    h_engine_kill(&C, idx);
    h_result_t res[3];
    ck_assert_uint_eq(h_collect(&K, ids, 1, res, 20000), 1);
    ck_assert_int_eq(res[0].status, IPP__STATUS__OK);
    ck_assert_int_ne(res[0].engine_id, e);
    ck_assert_str_eq(res[0].out, "done\n");

    // Without retries: EngineError once its engine is gone.
    h_engine_start(&C, NULL);
    ck_assert(h_wait_engines(&K, 2, 15000));
    h_task_t once = {.shell = "sleep 3", .target = -1};
    h_submit(&K, &once, ids[1]);
    e = s_running_on(ids[1]);
    snprintf(sql, sizeof sql, "SELECT pid FROM engines WHERE id=%d", e);
    pid = h_db_int(&C, sql);
    for (int i = 0; i < C.n_engines; i++)
        if (C.engines[i] == (pid_t)pid)
            h_engine_kill(&C, i);
    ck_assert_uint_eq(h_collect(&K, ids + 1, 1, res + 1, 20000), 1);
    ck_assert_int_eq(res[1].status, IPP__STATUS__LOST);
    ck_assert_str_eq(res[1].ename, "EngineError");
    // The controller keeps serving.
    h_task_t after = {.call = "noop", .target = -1};
    h_submit(&K, &after, ids[2]);
    ck_assert_uint_eq(h_collect(&K, ids + 2, 1, res + 2, 10000), 1);
    ck_assert_int_eq(res[2].status, IPP__STATUS__OK);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM tasks WHERE status='lost' AND msg_id='%s'",
             ids[1]);
    ck_assert_int_eq(h_db_int(&C, sql), 1);
    h_down(&C, &K);
}
END_TEST

// s_alive: whether pid runs (a zombie waiting for a careless init does not).
static bool s_alive(pid_t pid)
{
    char path[64], line[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    bool alive = false;
    if (fgets(line, sizeof line, f)) {
        const char *paren = strrchr(line, ')');
        alive = paren && paren[1] == ' ' && paren[2] != 'Z' && paren[2] != 'X';
    }
    fclose(f);
    return alive;
}

// s_read_pids: the pids listed in path, one a line, into pids (cap);
// returns how many lines.
static size_t s_read_pids(const char *path, pid_t *pids, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = 0;
    long v;
    while (n < cap && fscanf(f, "%ld", &v) == 1)
        pids[n++] = (pid_t)v;
    fclose(f);
    return n;
}

// A command, its background children and a nested shell's children die
// with the engine that ran them, even when the engine gets no chance to
// clean up: otherwise a retry elsewhere would run the work twice at once.
START_TEST(test_command_dies_with_engine)
{
    h_up(&C, &K, 1, NULL);
    char pidfile[400], shell[3000];
    snprintf(pidfile, sizeof pidfile, "%s/command.pids", C.dir);
    // Six lines: the shell, its two background sleeps, the nested shell
    // (twice: as $! and as its own $$) and the nested shell's sleep.
    snprintf(shell, sizeof shell,
             "echo $$ >> %s; sleep 300 & echo $! >> %s; "
             "sh -c 'sleep 300 & echo $! >> %s; echo $$ >> %s; wait' & echo $! >> %s; "
             "sleep 300 & echo $! >> %s; wait",
             pidfile, pidfile, pidfile, pidfile, pidfile, pidfile);
    id_t_ id;
    h_task_t t = {.shell = shell, .target = -1};
    h_submit(&K, &t, id);
    enum { N = 6 };
    pid_t pids[N + 1];
    size_t n = 0;
    int64_t until = ipp_clock_mono_us() + 20 * 1000000;
    while ((n = s_read_pids(pidfile, pids, N + 1)) < N && ipp_clock_mono_us() < until)
        usleep(20000);
    ck_assert_uint_eq(n, N);
    h_engine_kill(&C, 0);
    until = ipp_clock_mono_us() + 10 * 1000000;
    size_t left = N;
    while (left && ipp_clock_mono_us() < until) {
        left = 0;
        for (size_t i = 0; i < n; i++)
            left += s_alive(pids[i]);
        if (left)
            usleep(20000);
    }
    for (size_t i = 0; i < n; i++)
        if (s_alive(pids[i]))
            kill(pids[i], SIGKILL);  // leave nothing behind, even on failure
    ck_assert_msg(left == 0, "%zu of the command's processes outlived the engine", left);
    h_result_t res;
    ck_assert_uint_eq(h_collect(&K, &id, 1, &res, 20000), 1);
    ck_assert_int_eq(res.status, IPP__STATUS__LOST);
    h_down(&C, &K);
}
END_TEST

START_TEST(test_controller_killed_and_restarted)
{
    h_up(&C, &K, 2, (const char *[]){"--grace", "1", NULL});
    enum { N = 120 };
    id_t_ ids[N];
    for (int i = 0; i < N; i++) {
        h_task_t t = {.call = "sleep", .args = (const char *[]){"0.02"}, .n_args = 1, .target = -1};
        h_submit(&K, &t, ids[i]);
    }
    // Every submission acknowledged (so durable) before the crash.
    size_t acked = 0;
    int64_t until = ipp_clock_mono_us() + 20 * 1000000;
    bool seen[N] = {false};
    while (acked < N && ipp_clock_mono_us() < until) {
        int t = h_recv(&K, 1000);
        if (t == IPP__MSG_TYPE__SUBMIT_REPLY) {
            Ipp__SubmitReply *s = (Ipp__SubmitReply *)K.msg.content;
            for (size_t k = 0; k < s->n_accepted_ids; k++) {
                for (int i = 0; i < N; i++) {
                    if (!seen[i] && strcmp(s->accepted_ids[k], ids[i]) == 0) {
                        seen[i] = true;
                        acked++;
                    }
                }
            }
        }
    }
    ck_assert_int_eq(acked, N);
    usleep(500000);  // some done, some running, most queued
    int64_t done_before = h_db_int(&C, "SELECT count(*) FROM tasks WHERE status='ok'");
    h_controller_kill(&C);
    ck_assert_int_lt(done_before, N);
    h_client_close(&K);

    h_controller_start(&C, NULL);
    h_client_open(&K, &C);
    ck_assert_msg(h_wait_engines(&K, 2, 20000), "engines did not come back");
    // Same uuids, same ids: no new engine rows, and the live ids are 0, 1.
    ck_assert_int_eq(h_db_int(&C, "SELECT count(*) FROM engines"), 2);
    Ipp__ConnectReply *cr = (Ipp__ConnectReply *)K.msg.content;
    ck_assert_uint_eq(cr->n_engines, 2);
    ck_assert_int_eq(cr->engines[0]->engine_id + cr->engines[1]->engine_id, 1);
    // Wait until the database says nothing is pending.
    until = ipp_clock_mono_us() + 60 * 1000000;
    while (h_db_int(&C, "SELECT count(*) FROM tasks WHERE status='pending'") > 0 &&
           ipp_clock_mono_us() < until)
        usleep(100000);
    ck_assert_int_eq(h_db_int(&C, "SELECT count(*) FROM tasks"), N);
    ck_assert_int_eq(h_db_int(&C, "SELECT count(*) FROM tasks WHERE status='ok'"), N);
    // Recorded exactly once: one audit chain entry per task.
    ck_assert_int_eq(h_db_int(&C, "SELECT count(DISTINCT chain_seq) FROM tasks"), N);
    // Any client can see every result.
    Ipp__ResultRequest rq = IPP__RESULT_REQUEST__INIT;
    char *ptrs[N];
    for (int i = 0; i < N; i++)
        ptrs[i] = ids[i];
    rq.n_msg_ids = N;
    rq.msg_ids = ptrs;
    ck_assert_int_eq(h_request(&K, IPP__MSG_TYPE__RESULT_REQUEST, &rq.base, 10000),
                     IPP__MSG_TYPE__RESULT_REPLY);
    Ipp__ResultReply *rep = (Ipp__ResultReply *)K.msg.content;
    ck_assert_uint_eq(rep->n_completed, N);
    ck_assert_uint_eq(rep->n_pending, 0);
    h_down(&C, &K);
}
END_TEST

START_TEST(test_dependencies_across_restart)
{
    // A task finished in one controller run satisfies a dependency
    // submitted in the next.
    h_up(&C, &K, 1, NULL);
    id_t_ ids[2];
    h_task_t first = {.call = "noop", .target = -1};
    h_submit(&K, &first, ids[0]);
    h_result_t res[2];
    ck_assert_uint_eq(h_collect(&K, ids, 1, res, 10000), 1);
    ck_assert_int_eq(h_controller_stop(&C), 0);
    // A clean stop tells the engine, which waits for the next controller.
    char cmd[800];
    snprintf(cmd, sizeof cmd, "grep -q 'the controller is stopping' %s/engine-0.log", C.dir);
    ck_assert_int_eq(system(cmd), 0);
    h_client_close(&K);
    h_controller_start(&C, NULL);
    h_client_open(&K, &C);
    ck_assert(h_wait_engines(&K, 1, 5000));
    const char *a[1] = {ids[0]};
    h_task_t second = {.call = "noop", .target = -1, .after = a, .n_after = 1};
    h_submit(&K, &second, ids[1]);
    ck_assert_uint_eq(h_collect(&K, ids + 1, 1, res + 1, 10000), 1);
    ck_assert_int_eq(res[1].status, IPP__STATUS__OK);
    h_down(&C, &K);
}
END_TEST

// The pid file: a live controller's refuses a second one; a stale one
// naming some other process (a recycled pid) does not block a start.
START_TEST(test_pid_file)
{
    h_up(&C, &K, 0, NULL);
    char pidfile[700], log[700];
    snprintf(pidfile, sizeof pidfile, "%s/ipp-controller.pid", C.profile_dir);
    snprintf(log, sizeof log, "%s/second.log", C.dir);
    char cmd[2000];
    snprintf(cmd, sizeof cmd, "%s > %s 2>&1", IPP_CONTROLLER_BIN, log);
    int st = system(cmd);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1);
    snprintf(cmd, sizeof cmd, "grep -q 'already running' %s", log);
    ck_assert_int_eq(system(cmd), 0);
    h_controller_kill(&C);
    // A stale pid file naming a live process that is not a controller.
    pid_t other = fork();
    if (other == 0) {
        execlp("sleep", "sleep", "30", (char *)NULL);
        _exit(127);
    }
    FILE *f = fopen(pidfile, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "%d\n", (int)other);
    fclose(f);
    h_controller_start(&C, NULL);
    kill(other, SIGKILL);
    waitpid(other, NULL, 0);
    h_client_close(&K);
    h_client_open(&K, &C);
    ck_assert(h_wait_engines(&K, 0, 5000));
    h_down(&C, &K);
}
END_TEST

static Suite *s_suite(void)
{
    Suite *s = suite_create("recovery");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_engine_killed_mid_task);
    tcase_add_test(tc, test_command_dies_with_engine);
    tcase_add_test(tc, test_controller_killed_and_restarted);
    tcase_add_test(tc, test_dependencies_across_restart);
    tcase_add_test(tc, test_pid_file);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return h_main(s_suite());
}
