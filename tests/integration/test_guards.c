/* test_guards.c — what the controller refuses, bounds or ends for good,
 * with the real binaries:
 *
 *   abort of a running task with retries left → aborted, never run again
 *   abort while a failing task retries        → aborted, not retried on
 *   retries over IPP_RETRIES_MAX              → refused, field "retries"
 *   a flood of registrations that never beat  → never sent work, unregistered
 *   registrations past --max-engines          → refused, naming the cap
 *   a label with a NUL byte, or not UTF-8,
 *   or longer than 127 bytes                  → refused, field "label"
 *   --targets naming an engine never seen     → ImpossibleDependency at once
 *   --targets whose engines are all down      → ImpossibleDependency after the grace
 *   --ip other than loopback                  → a warning at every start
 */
#include "harness.h"

#include "ipp/limits.h"
#include "proto/clock.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef char id_t_[IPP_MSGID_LEN + 1];

static h_cluster_t C;
static h_client_t K;

// s_attempts: the attempts recorded for id (-1 if no record yet).
static int64_t s_attempts(const char *id)
{
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT attempts FROM tasks WHERE msg_id='%s'", id);
    return h_db_int(&C, sql);
}

// s_abort: ask the controller to abort id; true if it says "aborted".
static bool s_abort(const char *id)
{
    Ipp__AbortRequest req = IPP__ABORT_REQUEST__INIT;
    char *ids[1] = {(char *)id};
    req.n_msg_ids = 1;
    req.msg_ids = ids;
    ck_assert_int_eq(h_request(&K, IPP__MSG_TYPE__ABORT_REQUEST, &req.base, 5000),
                     IPP__MSG_TYPE__ABORT_REPLY);
    return ((Ipp__AbortReply *)K.msg.content)->n_aborted == 1;
}

// A running task with many retries left, aborted: the engine stops it and
// that is the end of it, recorded as aborted after one attempt.
START_TEST(test_abort_running_task_with_retries_is_final)
{
    h_up(&C, &K, 2, NULL);
    id_t_ ids[1];
    h_task_t t = {.shell = "sleep 30", .target = -1, .retries = IPP_RETRIES_MAX};
    h_submit(&K, &t, ids[0]);
    // Running: its assignment is recorded.
    int64_t until = ipp_clock_mono_us() + 10 * 1000000;
    while (s_attempts(ids[0]) < 1 && ipp_clock_mono_us() < until)
        usleep(50000);
    ck_assert_int_eq(s_attempts(ids[0]), 1);
    ck_assert(s_abort(ids[0]));
    h_result_t res[1];
    ck_assert_uint_eq(h_collect(&K, ids, 1, res, 20000), 1);
    ck_assert_int_eq(res[0].status, IPP__STATUS__ABORTED);
    ck_assert_str_eq(res[0].ename, "TaskAborted");
    ck_assert_int_eq(s_attempts(ids[0]), 1);
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM tasks WHERE msg_id='%s' AND status='aborted'",
             ids[0]);
    ck_assert_int_eq(h_db_int(&C, sql), 1);
    h_down(&C, &K);
}
END_TEST

// A task that fails at once, again and again: the abort lands while it
// runs, or while it waits between attempts; either way it is aborted, and
// the failure that crosses the abort is not retried.
START_TEST(test_abort_races_with_retries)
{
    h_up(&C, &K, 2, NULL);
    id_t_ ids[1];
    h_task_t t = {.shell = "sleep 0.02; exit 3", .target = -1, .retries = IPP_RETRIES_MAX};
    h_submit(&K, &t, ids[0]);
    int64_t until = ipp_clock_mono_us() + 10 * 1000000;
    while (s_attempts(ids[0]) < 3 && ipp_clock_mono_us() < until)
        usleep(20000);
    ck_assert_int_ge(s_attempts(ids[0]), 3);
    ck_assert(s_abort(ids[0]));
    h_result_t res[1];
    ck_assert_uint_eq(h_collect(&K, ids, 1, res, 30000), 1);
    ck_assert_msg(res[0].status == IPP__STATUS__ABORTED, "status %d (%s: %s)", res[0].status,
                  res[0].ename, res[0].evalue);
    ck_assert_str_eq(res[0].ename, "TaskAborted");
    int64_t at_end = s_attempts(ids[0]);
    ck_assert_int_lt(at_end, IPP_RETRIES_MAX + 1);
    // Nothing runs it again afterwards.
    usleep(500000);
    ck_assert_int_eq(s_attempts(ids[0]), at_end);
    h_down(&C, &K);
}
END_TEST

START_TEST(test_retries_over_the_cap_refused)
{
    h_up(&C, &K, 1, NULL);
    id_t_ ids[2];
    h_task_t over = {.call = "noop", .target = -1, .retries = IPP_RETRIES_MAX + 1};
    h_submit(&K, &over, ids[0]);
    h_task_t at = {.call = "noop", .target = -1, .retries = IPP_RETRIES_MAX};
    h_submit(&K, &at, ids[1]);
    h_result_t res[2];
    ck_assert_uint_eq(h_collect(&K, ids, 2, res, 10000), 2);
    ck_assert(res[0].refused);
    ck_assert_msg(strstr(res[0].evalue, "retries: at most 100") != NULL, "%s", res[0].evalue);
    ck_assert_int_eq(s_attempts(ids[0]), -1);  // nothing recorded
    ck_assert(!res[1].refused);
    ck_assert_int_eq(res[1].status, IPP__STATUS__OK);
    h_down(&C, &K);
}
END_TEST

// s_register: peer p sends a registration as engine uuid.
static void s_register(h_client_t *p, const char *uuid)
{
    Ipp__RegistrationRequest req = IPP__REGISTRATION_REQUEST__INIT;
    req.uuid = (char *)uuid;
    req.hostname = "nowhere";
    req.has_pid = 1;
    req.pid = 1;
    h_send(p, IPP__MSG_TYPE__REGISTRATION_REQUEST, &req.base, NULL, 0, NULL);
}

// s_alive_engines: how many engines the controller lists as alive.
static size_t s_alive_engines(void)
{
    Ipp__EngineListRequest req = IPP__ENGINE_LIST_REQUEST__INIT;
    ck_assert_int_eq(h_request(&K, IPP__MSG_TYPE__ENGINE_LIST_REQUEST, &req.base, 5000),
                     IPP__MSG_TYPE__ENGINE_LIST_REPLY);
    Ipp__EngineListReply *rep = (Ipp__EngineListReply *)K.msg.content;
    size_t n = 0;
    for (size_t i = 0; i < rep->n_engines; i++)
        n += rep->engines[i]->alive;
    return n;
}

// Peers holding the key register as engines, many times each, and never
// send a heartbeat: none of them is sent a task, the real engines run
// everything, and the fakes are unregistered once the heartbeat timeout
// (3 s here: long enough that on a loaded machine the first fakes are
// still registered when the last one is) has passed.
START_TEST(test_registration_flood_gets_no_work)
{
    const char *args[] = {"--heartbeat-misses", "15", NULL};
    h_up(&C, &K, 2, args);
    enum { PEERS = 40, EACH = 5, N = 20 };
    static h_client_t peers[PEERS];
    for (int i = 0; i < PEERS; i++) {
        h_engine_peer_open(&peers[i], &C, NULL);
        for (int k = 0; k < EACH; k++) {
            char uuid[64];
            snprintf(uuid, sizeof uuid, "fake-%d-%d", i, k);
            s_register(&peers[i], uuid);
        }
    }
    // Every peer's last registration stands, for now.
    ck_assert(h_wait_engines(&K, 2 + PEERS, 15000));
    id_t_ ids[N];
    for (int i = 0; i < N; i++) {
        h_task_t t = {.call = "noop", .target = -1};
        h_submit(&K, &t, ids[i]);
    }
    h_result_t res[N];
    ck_assert_uint_eq(h_collect(&K, ids, N, res, 30000), N);
    for (int i = 0; i < N; i++) {
        ck_assert_msg(res[i].status == IPP__STATUS__OK, "task %d: status %d (%s: %s)", i,
                      res[i].status, res[i].ename, res[i].evalue);
        ck_assert_msg(res[i].engine_id == 0 || res[i].engine_id == 1, "task %d ran on %d", i,
                      res[i].engine_id);
    }
    const char *left = "SELECT count(*) FROM engines WHERE uuid LIKE 'fake-%' AND "
                       "unregistered IS NULL";
    int64_t until = ipp_clock_mono_us() + 20 * 1000000;
    while ((s_alive_engines() > 2 || h_db_int(&C, left) != 0) && ipp_clock_mono_us() < until)
        usleep(100000);
    ck_assert_uint_eq(s_alive_engines(), 2);
    ck_assert_int_eq(h_db_int(&C, left), 0);
    for (int i = 0; i < PEERS; i++)
        h_client_close(&peers[i]);
    h_down(&C, &K);
}
END_TEST

// s_beat: one heartbeat from peer p as engine id.
static void s_beat(h_client_t *p, int id)
{
    Ipp__Heartbeat hb = IPP__HEARTBEAT__INIT;
    hb.has_engine_id = 1;
    hb.engine_id = id;
    h_send(p, IPP__MSG_TYPE__HEARTBEAT, &hb.base, NULL, 0, NULL);
}

// An engine killed and started again reconnects with the same routing id
// before the controller has noticed the death: a task the controller then
// sends to the old process reaches the new one, which runs it before it
// registers and reports its result as held. That task is the new
// process's: it completes with its result, instead of failing because the
// old process is gone.
START_TEST(test_restarted_engine_keeps_tasks_it_was_sent_before_registering)
{
    h_up(&C, &K, 0, (const char *[]){"--heartbeat-misses", "50", NULL});
    h_client_t old, neu;
    h_engine_peer_open(&old, &C, "restarting-engine");
    Ipp__RegistrationRequest req = IPP__REGISTRATION_REQUEST__INIT;
    req.uuid = "restarting-uuid";
    req.hostname = "here";
    req.has_pid = 1;
    req.pid = 100;
    h_send(&old, IPP__MSG_TYPE__REGISTRATION_REQUEST, &req.base, NULL, 0, NULL);
    ck_assert_int_eq(h_recv(&old, 5000), IPP__MSG_TYPE__REGISTRATION_REPLY);
    int id = ((Ipp__RegistrationReply *)old.msg.content)->engine_id;
    s_beat(&old, id);
    ck_assert_int_eq(h_recv(&old, 5000), IPP__MSG_TYPE__HEARTBEAT);
    ck_assert(h_wait_engines(&K, 1, 5000));
    // Killed: gone without a word. Its successor takes the routing id.
    h_client_close(&old);
    h_engine_peer_open(&neu, &C, "restarting-engine");
    int got = 0;
    for (int i = 0; i < 50 && got != IPP__MSG_TYPE__HEARTBEAT; i++) {
        s_beat(&neu, id);  // answered once the connection is the new one's
        got = h_recv(&neu, 200);
    }
    ck_assert_int_eq(got, IPP__MSG_TYPE__HEARTBEAT);

    id_t_ ids[1];
    h_task_t t = {.call = "noop", .target = -1};
    h_submit(&K, &t, ids[0]);
    got = 0;
    for (int i = 0; i < 50 && got != IPP__MSG_TYPE__TASK_REQUEST; i++)
        got = h_recv(&neu, 200);
    ck_assert_int_eq(got, IPP__MSG_TYPE__TASK_REQUEST);
    ck_assert_str_eq(neu.msg.header->msg_id, ids[0]);

    char *held[1] = {ids[0]};
    req.pid = 101;
    req.n_finished = 1;
    req.finished = held;
    h_send(&neu, IPP__MSG_TYPE__REGISTRATION_REQUEST, &req.base, NULL, 0, NULL);
    got = 0;
    for (int i = 0; i < 25 && got != IPP__MSG_TYPE__REGISTRATION_REPLY; i++)
        got = h_recv(&neu, 200);
    ck_assert_int_eq(got, IPP__MSG_TYPE__REGISTRATION_REPLY);
    ck_assert_int_eq(((Ipp__RegistrationReply *)neu.msg.content)->engine_id, id);
    s_beat(&neu, id);
    Ipp__TaskResult r = IPP__TASK_RESULT__INIT;
    r.has_status = 1;
    r.status = IPP__STATUS__OK;
    r.msg_id = ids[0];
    ck_assert_int_eq(wire_send(neu.wire, neu.dealer, NULL, 0, IPP__MSG_TYPE__TASK_RESULT, ids[0],
                               &r.base, NULL, 0, 0, NULL, NULL),
                     IPP_OK);
    h_result_t res[1];
    ck_assert_uint_eq(h_collect(&K, ids, 1, res, 10000), 1);
    ck_assert_msg(res[0].status == IPP__STATUS__OK, "status %d (%s: %s)", res[0].status,
                  res[0].ename, res[0].evalue);
    ck_assert_int_eq(res[0].engine_id, id);
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT status || ' ' || attempts FROM tasks WHERE msg_id='%s'",
             ids[0]);
    char text[64];
    ck_assert(h_db_text(&C, sql, text, sizeof text));
    ck_assert_str_eq(text, "ok 1");
    h_client_close(&neu);
    h_down(&C, &K);
}
END_TEST

// A result for a task the engine was never sent — a copy an engine kept
// from before a controller restart, whose assignment was never recorded,
// or a forged one — while that task waits in a queue: acknowledged and
// ignored. The task still runs, and completes with its real result
// (before the fix the scheduler took it as finished, and its record stayed
// pending for good).
START_TEST(test_result_for_a_queued_task_does_not_finish_it)
{
    h_up(&C, &K, 0, (const char *[]){"--hwm", "1", "--heartbeat-misses", "50", NULL});
    h_client_t p;
    h_engine_peer_open(&p, &C, "only-engine");
    s_register(&p, "only-uuid");
    ck_assert_int_eq(h_recv(&p, 5000), IPP__MSG_TYPE__REGISTRATION_REPLY);
    int id = ((Ipp__RegistrationReply *)p.msg.content)->engine_id;
    s_beat(&p, id);
    ck_assert_int_eq(h_recv(&p, 5000), IPP__MSG_TYPE__HEARTBEAT);
    ck_assert(h_wait_engines(&K, 1, 5000));
    id_t_ ids[2];
    for (int i = 0; i < 2; i++) {
        h_task_t t = {.call = "noop", .target = -1};
        h_submit(&K, &t, ids[i]);
    }
    int got = 0;
    for (int i = 0; i < 50 && got != IPP__MSG_TYPE__TASK_REQUEST; i++)
        got = h_recv(&p, 200);
    ck_assert_int_eq(got, IPP__MSG_TYPE__TASK_REQUEST);
    ck_assert_str_eq(p.msg.header->msg_id, ids[0]);  // hwm 1: the second waits
    Ipp__TaskResult r = IPP__TASK_RESULT__INIT;
    r.has_status = 1;
    r.status = IPP__STATUS__OK;
    for (int k = 1; k >= 0; k--) {  // first the one it never got, then its own
        r.msg_id = ids[k];
        ck_assert_int_eq(wire_send(p.wire, p.dealer, NULL, 0, IPP__MSG_TYPE__TASK_RESULT, ids[k],
                                   &r.base, NULL, 0, 0, NULL, NULL),
                         IPP_OK);
    }
    got = 0;
    for (int i = 0; i < 50 && got != IPP__MSG_TYPE__TASK_REQUEST; i++)
        got = h_recv(&p, 200);
    ck_assert_msg(got == IPP__MSG_TYPE__TASK_REQUEST, "the queued task was never sent");
    ck_assert_str_eq(p.msg.header->msg_id, ids[1]);
    r.msg_id = ids[1];
    ck_assert_int_eq(wire_send(p.wire, p.dealer, NULL, 0, IPP__MSG_TYPE__TASK_RESULT, ids[1],
                               &r.base, NULL, 0, 0, NULL, NULL),
                     IPP_OK);
    h_result_t res[2];
    ck_assert_uint_eq(h_collect(&K, ids, 2, res, 10000), 2);
    ck_assert_int_eq(res[0].status, IPP__STATUS__OK);
    ck_assert_int_eq(res[1].status, IPP__STATUS__OK);
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT attempts FROM tasks WHERE msg_id='%s'", ids[1]);
    ck_assert_int_eq(h_db_int(&C, sql), 1);
    ck_assert_int_eq(h_db_int(&C, "SELECT count(*) FROM tasks WHERE status='pending'"), 0);
    h_client_close(&p);
    h_down(&C, &K);
}
END_TEST

// With --max-engines 3 and two engines up, one more registers; the next
// is refused with an error naming the cap, and taken once there is room.
START_TEST(test_registrations_past_the_cap_refused)
{
    h_up(&C, &K, 2, (const char *[]){"--max-engines", "3", NULL});
    h_client_t a, b;
    h_engine_peer_open(&a, &C, NULL);
    h_engine_peer_open(&b, &C, NULL);
    s_register(&a, "fake-a");
    ck_assert_int_eq(h_recv(&a, 5000), IPP__MSG_TYPE__REGISTRATION_REPLY);
    s_register(&b, "fake-b");
    ck_assert_int_eq(h_recv(&b, 5000), IPP__MSG_TYPE__ERROR_REPLY);
    Ipp__ErrorReply *e = (Ipp__ErrorReply *)b.msg.content;
    ck_assert_int_eq(e->code, IPP_ERR_INVALID);
    ck_assert_msg(strstr(e->evalue, "at most 3 engines (--max-engines)") != NULL, "%s", e->evalue);
    // a never beats: it is unregistered, and b gets its place.
    int64_t until = ipp_clock_mono_us() + 10 * 1000000;
    int got = 0;
    while (got != IPP__MSG_TYPE__REGISTRATION_REPLY && ipp_clock_mono_us() < until) {
        usleep(300000);
        s_register(&b, "fake-b");
        got = h_recv(&b, 2000);
    }
    ck_assert_int_eq(got, IPP__MSG_TYPE__REGISTRATION_REPLY);
    h_client_close(&a);
    h_client_close(&b);
    h_down(&C, &K);
}
END_TEST

// A label is text: a NUL byte inside it (which decoding would silently
// cut at) and bytes that are not UTF-8 are refused, and nothing recorded.
START_TEST(test_labels_must_be_text)
{
    h_up(&C, &K, 1, NULL);
    id_t_ ids[5];
    // The NUL goes in after packing: protobuf-c packs strings up to a NUL.
    Ipp__TaskRequest req = IPP__TASK_REQUEST__INIT;
    Ipp__Call call = IPP__CALL__INIT;
    call.function = "noop";
    req.kind_case = IPP__TASK_REQUEST__KIND_CALL;
    req.call = &call;
    req.label = "nightly/Xhidden";
    uint8_t buf[256];
    size_t n = ipp__task_request__pack(&req, buf);
    uint8_t *x = memchr(buf, 'X', n);
    ck_assert_ptr_nonnull(x);
    *x = 0;
    h_send_bytes(&K, IPP__MSG_TYPE__TASK_REQUEST, buf, n, ids[0]);
    h_task_t bad = {.call = "noop", .target = -1, .label = "caf\xc3"};
    h_submit(&K, &bad, ids[1]);
    h_task_t good = {.call = "noop", .target = -1, .label = "caf\xc3\xa9/\xe2\x9c\x93"};
    h_submit(&K, &good, ids[2]);
    // 127 bytes are the most a label may hold; 128 are refused.
    char longest[129];
    memset(longest, 'a', sizeof longest - 1);
    longest[128] = '\0';
    h_task_t too_long = {.call = "noop", .target = -1, .label = longest};
    h_submit(&K, &too_long, ids[3]);
    longest[127] = '\0';
    h_task_t just = {.call = "noop", .target = -1, .label = longest};
    h_submit(&K, &just, ids[4]);
    h_result_t res[5];
    ck_assert_uint_eq(h_collect(&K, ids, 5, res, 10000), 5);
    ck_assert(res[0].refused);
    ck_assert_msg(strstr(res[0].evalue, "label contains a NUL byte") != NULL, "%s", res[0].evalue);
    ck_assert(res[1].refused);
    ck_assert_msg(strstr(res[1].evalue, "label is not valid UTF-8") != NULL, "%s", res[1].evalue);
    ck_assert_int_eq(res[2].status, IPP__STATUS__OK);
    ck_assert(res[3].refused);
    ck_assert_msg(strstr(res[3].evalue, "label longer than 127 characters") != NULL, "%s",
                  res[3].evalue);
    ck_assert_int_eq(res[4].status, IPP__STATUS__OK);
    ck_assert_int_eq(h_db_int(&C, "SELECT count(*) FROM tasks"), 2);
    ck_assert_int_eq(h_db_int(&C, "SELECT length(label) FROM tasks WHERE label LIKE 'aaa%'"), 127);
    h_down(&C, &K);
}
END_TEST

START_TEST(test_targets_never_registered_fail_at_once)
{
    h_up(&C, &K, 1, NULL);
    id_t_ ids[1];
    const int nowhere[] = {7, 9};
    h_task_t t = {.call = "noop", .target = -1, .targets = nowhere, .n_targets = 2};
    h_submit(&K, &t, ids[0]);
    h_result_t res[1];
    ck_assert_uint_eq(h_collect(&K, ids, 1, res, 10000), 1);
    ck_assert_int_eq(res[0].status, IPP__STATUS__UNREACHABLE);
    ck_assert_str_eq(res[0].ename, "ImpossibleDependency");
    ck_assert_msg(strstr(res[0].evalue, "ever registered") != NULL, "%s", res[0].evalue);
    h_down(&C, &K);
}
END_TEST

// An engine that was registered and died: a task that may only run there
// waits the grace (1 s here: heartbeat 0.2 s x 5), then fails.
START_TEST(test_targets_down_fail_after_the_grace)
{
    h_up(&C, &K, 2, NULL);
    h_engine_kill(&C, 1);
    int64_t until = ipp_clock_mono_us() + 10 * 1000000;
    while (s_alive_engines() != 1 && ipp_clock_mono_us() < until)
        usleep(100000);
    ck_assert_uint_eq(s_alive_engines(), 1);
    Ipp__EngineListRequest lr = IPP__ENGINE_LIST_REQUEST__INIT;
    ck_assert_int_eq(h_request(&K, IPP__MSG_TYPE__ENGINE_LIST_REQUEST, &lr.base, 5000),
                     IPP__MSG_TYPE__ENGINE_LIST_REPLY);
    Ipp__EngineListReply *rep = (Ipp__EngineListReply *)K.msg.content;
    int dead = -1;
    for (size_t i = 0; i < rep->n_engines; i++)
        if (!rep->engines[i]->alive)
            dead = rep->engines[i]->engine_id;
    ck_assert_int_ge(dead, 0);
    id_t_ ids[1];
    h_task_t t = {.call = "noop", .target = -1, .targets = &dead, .n_targets = 1};
    h_submit(&K, &t, ids[0]);
    h_result_t res[1];
    ck_assert_uint_eq(h_collect(&K, ids, 1, res, 15000), 1);
    ck_assert_int_eq(res[0].status, IPP__STATUS__UNREACHABLE);
    ck_assert_str_eq(res[0].ename, "ImpossibleDependency");
    ck_assert_msg(strstr(res[0].evalue, "target engines") != NULL, "%s", res[0].evalue);
    h_down(&C, &K);
}
END_TEST

// s_log_has: does the controller's log hold text?
static bool s_log_has(const char *text)
{
    char cmd[900];
    snprintf(cmd, sizeof cmd, "grep -qF '%s' %s/controller.log", text, C.dir);
    return system(cmd) == 0;
}

START_TEST(test_non_loopback_ip_warns_at_every_start)
{
    const char *warning = "the ports are reachable from the network and the traffic is not "
                          "encrypted";
    h_cluster_init(&C);
    h_controller_start(&C, NULL);
    ck_assert_int_eq(h_controller_stop(&C), 0);
    ck_assert(!s_log_has(warning));  // loopback: nothing to say
    for (int start = 0; start < 2; start++) {
        // The arguments stay for the restart (h_controller_start keeps them).
        h_controller_start(&C, start == 0 ? (const char *[]){"--ip", "0.0.0.0", "--insecure", NULL}
                                          : NULL);
        ck_assert_int_eq(h_controller_stop(&C), 0);
    }
    char cmd[900];
    snprintf(cmd, sizeof cmd, "test $(grep -cF '%s' %s/controller.log) -eq 2", warning, C.dir);
    ck_assert_msg(system(cmd) == 0, "the warning is not in the log once per start");
    ck_assert(s_log_has("holds the key in"));
    h_cluster_fini(&C);
    // Without --insecure, a non-loopback address gets Curve, and no warning.
    h_cluster_init(&C);
    h_controller_start(&C, (const char *[]){"--ip", "0.0.0.0", NULL});
    ck_assert_int_eq(h_controller_stop(&C), 0);
    ck_assert(!s_log_has(warning));
    ck_assert(s_log_has("Curve is on"));
    h_cluster_fini(&C);
}
END_TEST

static Suite *s_suite(void)
{
    Suite *s = suite_create("guards");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, test_abort_running_task_with_retries_is_final);
    tcase_add_test(tc, test_abort_races_with_retries);
    tcase_add_test(tc, test_retries_over_the_cap_refused);
    tcase_add_test(tc, test_registration_flood_gets_no_work);
    tcase_add_test(tc, test_registrations_past_the_cap_refused);
    tcase_add_test(tc, test_restarted_engine_keeps_tasks_it_was_sent_before_registering);
    tcase_add_test(tc, test_result_for_a_queued_task_does_not_finish_it);
    tcase_add_test(tc, test_labels_must_be_text);
    tcase_add_test(tc, test_targets_never_registered_fail_at_once);
    tcase_add_test(tc, test_targets_down_fail_after_the_grace);
    tcase_add_test(tc, test_non_loopback_ip_warns_at_every_start);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return h_main(s_suite());
}
