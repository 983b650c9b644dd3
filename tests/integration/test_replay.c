/* test_replay.c — captured messages replayed against the real controller:
 *
 *   a signed RESUBMIT_REQUEST sent again after a kill -9 and restart
 *       → ERROR_REPLY IPP_ERR_STALE naming the restart; nothing recorded
 *   the same after a clean stop and start
 *       → the same
 *   a request from a client whose clock runs 90 s fast
 *       → ERROR_REPLY IPP_ERR_STALE naming the offset; the controller serves on
 */
#include "harness.h"

#include "proto/clock.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef char id_t_[IPP_MSGID_LEN + 1];

static h_cluster_t C;
static h_client_t K;

// s_send_frames: put the frames of m on the client's socket as they are.
static void s_send_frames(const wire_msg_t *m)
{
    for (size_t i = 0; i < m->n_frames; i++)
        ck_assert_int_ge(zmq_send(K.dealer, zmq_msg_data(&m->frames[i]),
                                  zmq_msg_size(&m->frames[i]),
                                  i + 1 < m->n_frames ? ZMQ_SNDMORE : 0),
                         0);
}

// s_reply_to: the type of the reply whose parent is id (0 on timeout).
static int s_reply_to(const char *id, int timeout_ms)
{
    int64_t until = ipp_clock_mono_us() + (int64_t)timeout_ms * 1000;
    while (ipp_clock_mono_us() < until) {
        int type = h_recv(&K, 200);
        if (type && K.msg.header->parent_id && strcmp(K.msg.header->parent_id, id) == 0)
            return type;
    }
    return 0;
}

// s_expect_stale: the reply to id is ERROR_REPLY IPP_ERR_STALE whose text
// holds want.
static void s_expect_stale(const char *id, const char *want)
{
    ck_assert_int_eq(s_reply_to(id, 10000), IPP__MSG_TYPE__ERROR_REPLY);
    Ipp__ErrorReply *e = (Ipp__ErrorReply *)K.msg.content;
    ck_assert_msg(e->code == IPP_ERR_STALE, "got %s (%s)", ipp_errname(e->code),
                  e->evalue ? e->evalue : "");
    ck_assert_msg(e->evalue && strstr(e->evalue, want), "error text: %s",
                  e->evalue ? e->evalue : "(none)");
}

// s_replay_after_restart: run a task, resubmit it with a captured signed
// request, restart the controller (kill -9 when crash), send the captured
// request again: it must be refused and change nothing.
static void s_replay_after_restart(bool crash)
{
    h_up(&C, &K, 1, NULL);
    id_t_ ids[1];
    h_task_t t = {.shell = "echo once", .target = -1};
    h_submit(&K, &t, ids[0]);
    h_result_t res[1];
    ck_assert_uint_eq(h_collect(&K, ids, 1, res, 10000), 1);

    Ipp__ResubmitRequest rs = IPP__RESUBMIT_REQUEST__INIT;
    char *one[1] = {ids[0]};
    rs.n_msg_ids = 1;
    rs.msg_ids = one;
    wire_msg_t captured;
    wire_msg_init(&captured);
    char cid[IPP_MSGID_LEN + 1];
    ck_assert_int_eq(wire_pack(K.wire, &captured, NULL, 0, IPP__MSG_TYPE__RESUBMIT_REQUEST, NULL,
                               &rs.base, NULL, 0, NULL, cid),
                     IPP_OK);
    s_send_frames(&captured);
    ck_assert_int_eq(s_reply_to(cid, 10000), IPP__MSG_TYPE__RESUBMIT_REPLY);
    Ipp__ResubmitReply *rr = (Ipp__ResubmitReply *)K.msg.content;
    ck_assert_uint_eq(rr->n_new_ids, 1);
    id_t_ fresh[1];
    snprintf(fresh[0], sizeof fresh[0], "%s", rr->new_ids[0]);
    ck_assert_uint_eq(h_collect(&K, fresh, 1, res, 10000), 1);
    ck_assert_int_eq(res[0].status, IPP__STATUS__OK);
    ck_assert_int_eq(h_db_int(&C, "SELECT count(*) FROM tasks"), 2);

    if (crash)
        h_controller_kill(&C);
    else
        ck_assert_int_eq(h_controller_stop(&C), 0);
    h_client_close(&K);
    h_controller_start(&C, NULL);
    h_client_open(&K, &C);
    ck_assert_msg(h_wait_engines(&K, 1, 20000), "the engine did not come back");

    // The very same bytes again.
    s_send_frames(&captured);
    s_expect_stale(cid, "signed before the receiver restarted, or replayed");
    wire_msg_fini(&captured);
    // Nothing changed: two tasks, the original still points at the first
    // resubmission, and the controller serves a fresh request.
    usleep(300000);
    ck_assert_int_eq(h_db_int(&C, "SELECT count(*) FROM tasks"), 2);
    char sql[300];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM tasks WHERE msg_id='%s' AND resubmitted='%s'",
             ids[0], fresh[0]);
    ck_assert_int_eq(h_db_int(&C, sql), 1);
    ck_assert_int_eq(h_request(&K, IPP__MSG_TYPE__RESUBMIT_REQUEST, &rs.base, 5000),
                     IPP__MSG_TYPE__RESUBMIT_REPLY);
    ck_assert_uint_eq(((Ipp__ResubmitReply *)K.msg.content)->n_new_ids, 1);
    h_down(&C, &K);
}

START_TEST(test_replay_after_kill_and_restart_refused)
{
    s_replay_after_restart(true);
}
END_TEST

START_TEST(test_replay_after_clean_restart_refused)
{
    s_replay_after_restart(false);
}
END_TEST

static int64_t s_fast_clock(void *ctx)
{
    (void)ctx;
    return ipp_clock_now_us() + 90LL * 1000000;
}

START_TEST(test_fast_clock_told_its_skew)
{
    h_up(&C, &K, 1, NULL);
    wire_opts_t wo = {0};
    wo.key = K.info.key;
    wo.key_len = K.info.key_len;
    wo.clock = s_fast_clock;
    static ipp_logger_t quiet = {IPP_LOG_ERROR, NULL, "fast"};
    wo.log = &quiet;
    wire_session_t *fast = wire_session_new(&wo, NULL);
    ck_assert_ptr_nonnull(fast);
    Ipp__ConnectRequest req = IPP__CONNECT_REQUEST__INIT;
    char id[IPP_MSGID_LEN + 1];
    ck_assert_int_eq(wire_send(fast, K.dealer, NULL, 0, IPP__MSG_TYPE__CONNECT_REQUEST, NULL,
                               &req.base, NULL, 0, 0, NULL, id),
                     IPP_OK);
    wire_session_destroy(&fast);
    s_expect_stale(id, "s in the future; clocks differ by more than the 60 s allowed");
    ck_assert_msg(strstr(((Ipp__ErrorReply *)K.msg.content)->evalue, "dated 90.") ||
                      strstr(((Ipp__ErrorReply *)K.msg.content)->evalue, "dated 89."),
                  "%s", ((Ipp__ErrorReply *)K.msg.content)->evalue);
    // Correctly dated requests are served as before.
    ck_assert_int_eq(h_request(&K, IPP__MSG_TYPE__CONNECT_REQUEST, &req.base, 5000),
                     IPP__MSG_TYPE__CONNECT_REPLY);
    h_down(&C, &K);
}
END_TEST

static Suite *s_suite(void)
{
    Suite *s = suite_create("replay");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_replay_after_kill_and_restart_refused);
    tcase_add_test(tc, test_replay_after_clean_restart_refused);
    tcase_add_test(tc, test_fast_clock_told_its_skew);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return h_main(s_suite());
}
