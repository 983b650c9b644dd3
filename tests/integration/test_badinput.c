/* test_badinput.c — what the controller does with bad input, and that it
 * changes nothing and keeps serving:
 *
 *   garbage frames, no delimiter          → dropped, logged
 *   a flood of garbage                    → counted by reason in queue_status,
 *                                           logged a few lines only
 *   signed with another key               → dropped, nothing recorded
 *   a valid submission replayed           → the copy is dropped
 *   valid MAC, content that does not decode → ERROR_REPLY IPP_ERR_BAD_CONTENT
 *   unknown msg_type                      → ERROR_REPLY IPP_ERR_UNKNOWN_TYPE
 *   task with no command/call/ns          → SUBMIT_REPLY refused, field "kind"
 *   dependency on a malformed id          → SUBMIT_REPLY refused, field "after"
 *   a msg_id submitted twice              → the second refused, field "msg_id"
 *   db_query that is not JSON / unknown key / unknown operator → ERROR_REPLY IPP_ERR_QUERY
 *   purge of a pending task               → ERROR_REPLY IPP_ERR_PENDING
 *   result_status of unknown ids          → listed as unknown
 *   an engine's message on the client port → ERROR_REPLY IPP_ERR_UNKNOWN_TYPE
 *   a RESULT_BATCH whose buffer counts do not add up, with a result that
 *   names no task, or empty          → ERROR_REPLY IPP_ERR_INVALID naming
 *                                           the field; every task stays pending
 *   (and an engine that did not register for batches gets lone TASK_REQUESTs
 *   even at hwm 0, its lone TASK_RESULTs taken as before)
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

// s_alive: the controller still answers and the task count is n.
static void s_alive(int64_t n)
{
    Ipp__ConnectRequest req = IPP__CONNECT_REQUEST__INIT;
    ck_assert_int_eq(h_request(&K, IPP__MSG_TYPE__CONNECT_REQUEST, &req.base, 5000),
                     IPP__MSG_TYPE__CONNECT_REPLY);
    Ipp__HistoryRequest h = IPP__HISTORY_REQUEST__INIT;
    ck_assert_int_eq(h_request(&K, IPP__MSG_TYPE__HISTORY_REQUEST, &h.base, 5000),
                     IPP__MSG_TYPE__HISTORY_REPLY);
    ck_assert_int_eq((int64_t)((Ipp__HistoryReply *)K.msg.content)->n_msg_ids, n);
}

// s_expect_error: the next reply to our last request is ERROR_REPLY code.
static void s_expect_error(int got, ipp_err_t code)
{
    ck_assert_int_eq(got, IPP__MSG_TYPE__ERROR_REPLY);
    Ipp__ErrorReply *e = (Ipp__ErrorReply *)K.msg.content;
    ck_assert_msg(e->code == (int)code, "got %s (%s), want %s", ipp_errname(e->code),
                  e->evalue ? e->evalue : "", ipp_errname(code));
    ck_assert_ptr_nonnull(e->evalue);
    ck_assert(strlen(e->evalue) > 0);
}

START_TEST(test_unauthentic_messages_change_nothing)
{
    h_up(&C, &K, 1, NULL);
    // Garbage.
    zmq_send(K.dealer, "garbage", 7, 0);
    zmq_send(K.dealer, "<IPP|>", 6, ZMQ_SNDMORE);
    zmq_send(K.dealer, "short mac", 9, 0);
    // A task signed with another key.
    uint8_t other[32];
    randombytes_buf(other, sizeof other);
    wire_opts_t wo = {0};
    wo.key = other;
    wo.key_len = 32;
    static ipp_logger_t quiet = {IPP_LOG_ERROR, NULL, "mallory"};
    wo.log = &quiet;
    wire_session_t *mallory = wire_session_new(&wo, NULL);
    Ipp__TaskRequest req = IPP__TASK_REQUEST__INIT;
    Ipp__Call call = IPP__CALL__INIT;
    call.function = "noop";
    req.kind_case = IPP__TASK_REQUEST__KIND_CALL;
    req.call = &call;
    ck_assert_int_eq(wire_send(mallory, K.dealer, NULL, 0, IPP__MSG_TYPE__TASK_REQUEST, NULL,
                               &req.base, NULL, 0, 0, NULL, NULL),
                     IPP_OK);
    wire_session_destroy(&mallory);
    // Nothing answers those: the next thing we hear is our own request's reply.
    s_alive(0);

    // A valid submission, then the very same frames again.
    wire_msg_t m;
    wire_msg_init(&m);
    char id[IPP_MSGID_LEN + 1];
    ck_assert_int_eq(wire_pack(K.wire, &m, NULL, 0, IPP__MSG_TYPE__TASK_REQUEST, NULL, &req.base,
                               NULL, 0, NULL, id),
                     IPP_OK);
    for (int copy = 0; copy < 2; copy++)
        for (size_t i = 0; i < m.n_frames; i++)
            zmq_send(K.dealer, zmq_msg_data(&m.frames[i]), zmq_msg_size(&m.frames[i]),
                     i + 1 < m.n_frames ? ZMQ_SNDMORE : 0);
    wire_msg_fini(&m);
    id_t_ ids[1];
    memcpy(ids[0], id, sizeof ids[0]);
    h_result_t res[1];
    ck_assert_uint_eq(h_collect(&K, ids, 1, res, 10000), 1);
    ck_assert_int_eq(res[0].status, IPP__STATUS__OK);
    usleep(200000);
    s_alive(1);  // the replay recorded nothing
    char log[400];
    snprintf(log, sizeof log, "grep -q IPP_ERR_REPLAY %s/controller.log", C.dir);
    ck_assert_int_eq(system(log), 0);
    snprintf(log, sizeof log, "grep -q IPP_ERR_BAD_MAC %s/controller.log", C.dir);
    ck_assert_int_eq(system(log), 0);
    snprintf(log, sizeof log, "grep -q IPP_ERR_NO_DELIMITER %s/controller.log", C.dir);
    ck_assert_int_eq(system(log), 0);
    h_down(&C, &K);
}
END_TEST

// s_refused: how many messages the controller says it refused as reason.
static uint64_t s_refused(const char *reason)
{
    Ipp__QueueStatusRequest q = IPP__QUEUE_STATUS_REQUEST__INIT;
    ck_assert_int_eq(h_request(&K, IPP__MSG_TYPE__QUEUE_STATUS_REQUEST, &q.base, 5000),
                     IPP__MSG_TYPE__QUEUE_STATUS_REPLY);
    const Ipp__QueueStatusReply *r = (const Ipp__QueueStatusReply *)K.msg.content;
    for (size_t i = 0; i < r->n_refusals; i++)
        if (r->refusals[i]->reason && strcmp(r->refusals[i]->reason, reason) == 0)
            return (uint64_t)r->refusals[i]->count;
    return 0;
}

// 20,000 garbage messages from a peer without the key: every one counted
// (queue_status, so `ipp status`, shows them by reason), a few log lines.
START_TEST(test_garbage_flood_counted_not_logged)
{
    h_up(&C, &K, 1, NULL);
    enum { FLOOD = 20000 };
    for (int i = 0; i < FLOOD; i++)
        ck_assert_int_eq(zmq_send(K.dealer, "garbage", 7, 0), 7);
    int64_t until = ipp_clock_mono_us() + 30 * 1000000;
    uint64_t n = 0;
    while ((n = s_refused("NO_DELIMITER")) < FLOOD && ipp_clock_mono_us() < until)
        usleep(100000);
    ck_assert_uint_eq(n, FLOOD);
    s_alive(0);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "test $(grep -c 'refused message' %s/controller.log) -le 4", C.dir);
    ck_assert_msg(system(cmd) == 0, "the flood was logged line by line (%s)", cmd);
    h_down(&C, &K);
}
END_TEST

START_TEST(test_signed_but_malformed)
{
    h_up(&C, &K, 1, NULL);
    // Content that does not decode as a TaskRequest, correctly signed: we
    // build the frames and MAC by hand.
    Ipp__Header h = IPP__HEADER__INIT;
    char id[IPP_MSGID_LEN + 1];
    wire_session_new_id(K.wire, id);
    h.msg_id = id;
    h.has_msg_type = 1;
    h.msg_type = IPP__MSG_TYPE__TASK_REQUEST;
    h.session = (char *)wire_session_id(K.wire);
    h.has_date = 1;
    h.date = ipp_clock_now_us();
    h.has_version = 1;
    h.version = 1;
    uint8_t hb[256];
    size_t hl = ipp__header__pack(&h, hb);
    const uint8_t junk[] = {0x0a, 0xff, 0xff, 0x01};
    uint8_t mac[WIRE_MAC_LEN];
    crypto_generichash_state st;
    crypto_generichash_init(&st, K.info.key, K.info.key_len, WIRE_MAC_LEN);
    const uint8_t *parts[2] = {hb, junk};
    size_t lens[2] = {hl, sizeof junk};
    for (int i = 0; i < 2; i++) {
        uint8_t l[8] = {0};
        for (int k = 0; k < 8; k++)
            l[k] = (uint8_t)((uint64_t)lens[i] >> (8 * k));
        crypto_generichash_update(&st, l, 8);
        crypto_generichash_update(&st, parts[i], lens[i]);
    }
    crypto_generichash_final(&st, mac, WIRE_MAC_LEN);
    zmq_send(K.dealer, WIRE_DELIM, WIRE_DELIM_LEN, ZMQ_SNDMORE);
    zmq_send(K.dealer, mac, WIRE_MAC_LEN, ZMQ_SNDMORE);
    zmq_send(K.dealer, hb, hl, ZMQ_SNDMORE);
    zmq_send(K.dealer, junk, sizeof junk, 0);
    int64_t until = ipp_clock_mono_us() + 5000000;
    int t = 0;
    while (ipp_clock_mono_us() < until) {
        t = h_recv(&K, 1000);
        if (t && K.msg.header->parent_id && strcmp(K.msg.header->parent_id, id) == 0)
            break;
    }
    s_expect_error(t, IPP_ERR_BAD_CONTENT);

    // A message type a client may not send.
    Ipp__Heartbeat hbm = IPP__HEARTBEAT__INIT;
    s_expect_error(h_request(&K, IPP__MSG_TYPE__HEARTBEAT, &hbm.base, 5000), IPP_ERR_UNKNOWN_TYPE);
    s_alive(0);
    h_down(&C, &K);
}
END_TEST

START_TEST(test_bad_requests_get_clear_errors)
{
    h_up(&C, &K, 1, NULL);
    id_t_ ids[4];
    h_result_t res[4];
    // No kind.
    Ipp__TaskRequest empty = IPP__TASK_REQUEST__INIT;
    h_send(&K, IPP__MSG_TYPE__TASK_REQUEST, &empty.base, NULL, 0, ids[0]);
    // A dependency on something that is not a msg_id.
    const char *bad_dep[1] = {"not-a-uuid"};
    h_task_t t1 = {.call = "noop", .target = -1, .after = bad_dep, .n_after = 1};
    h_submit(&K, &t1, ids[1]);
    ck_assert_uint_eq(h_collect(&K, ids, 2, res, 5000), 2);
    ck_assert(res[0].refused);
    ck_assert(strstr(res[0].evalue, "command, call or ns") != NULL);
    ck_assert(res[1].refused);
    ck_assert(strstr(res[1].evalue, "not-a-uuid") != NULL);

    // The same msg_id twice: the first runs, the second is refused.
    Ipp__TaskRequest req = IPP__TASK_REQUEST__INIT;
    Ipp__Call call = IPP__CALL__INIT;
    call.function = "noop";
    req.kind_case = IPP__TASK_REQUEST__KIND_CALL;
    req.call = &call;
    h_send(&K, IPP__MSG_TYPE__TASK_REQUEST, &req.base, NULL, 0, ids[2]);
    ck_assert_uint_eq(h_collect(&K, ids + 2, 1, res + 2, 5000), 1);
    ck_assert_int_eq(res[2].status, IPP__STATUS__OK);
    ck_assert_int_eq(wire_send(K.wire, K.dealer, NULL, 0, IPP__MSG_TYPE__TASK_REQUEST, NULL,
                               &req.base, NULL, 0, 0, ids[2], NULL),
                     IPP_OK);
    ck_assert_uint_eq(h_collect(&K, ids + 2, 1, res + 2, 5000), 1);
    ck_assert(res[2].refused);
    ck_assert(strstr(res[2].evalue, "already recorded") != NULL);

    // Queries.
    Ipp__DbQueryRequest q = IPP__DB_QUERY_REQUEST__INIT;
    q.query_json = "{not json";
    s_expect_error(h_request(&K, IPP__MSG_TYPE__DB_QUERY_REQUEST, &q.base, 5000), IPP_ERR_QUERY);
    q.query_json = "{\"no_such_key\": 1}";
    s_expect_error(h_request(&K, IPP__MSG_TYPE__DB_QUERY_REQUEST, &q.base, 5000), IPP_ERR_QUERY);
    ck_assert(strstr(((Ipp__ErrorReply *)K.msg.content)->evalue, "no_such_key") != NULL);
    q.query_json = "{\"completed\": {\"$near\": 1}}";
    s_expect_error(h_request(&K, IPP__MSG_TYPE__DB_QUERY_REQUEST, &q.base, 5000), IPP_ERR_QUERY);
    ck_assert(strstr(((Ipp__ErrorReply *)K.msg.content)->evalue, "$near") != NULL);
    q.query_json = "{\"status\": \"ok\"}";
    ck_assert_int_eq(h_request(&K, IPP__MSG_TYPE__DB_QUERY_REQUEST, &q.base, 5000),
                     IPP__MSG_TYPE__DB_QUERY_REPLY);
    ck_assert(strstr(((Ipp__DbQueryReply *)K.msg.content)->records_json, ids[2]) != NULL);

    // Purging a pending task is refused and purges nothing.
    h_task_t slow = {.call = "sleep", .args = (const char *[]){"2"}, .n_args = 1, .target = -1};
    h_submit(&K, &slow, ids[3]);
    usleep(300000);
    Ipp__PurgeRequest p = IPP__PURGE_REQUEST__INIT;
    char *pid[2] = {ids[3], ids[2]};
    p.n_msg_ids = 2;
    p.msg_ids = pid;
    s_expect_error(h_request(&K, IPP__MSG_TYPE__PURGE_REQUEST, &p.base, 5000), IPP_ERR_PENDING);
    ck_assert(strstr(((Ipp__ErrorReply *)K.msg.content)->evalue, ids[3]) != NULL);
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM tasks WHERE msg_id='%s'", ids[2]);
    ck_assert_int_eq(h_db_int(&C, sql), 1);

    // Unknown ids are reported as unknown.
    Ipp__ResultRequest rr = IPP__RESULT_REQUEST__INIT;
    char *unk[2] = {"01900000-0000-7000-8000-000000000000", ids[2]};
    rr.n_msg_ids = 2;
    rr.msg_ids = unk;
    ck_assert_int_eq(h_request(&K, IPP__MSG_TYPE__RESULT_REQUEST, &rr.base, 5000),
                     IPP__MSG_TYPE__RESULT_REPLY);
    Ipp__ResultReply *rep = (Ipp__ResultReply *)K.msg.content;
    ck_assert_uint_eq(rep->n_unknown, 1);
    ck_assert_str_eq(rep->unknown[0], unk[0]);
    ck_assert_uint_eq(rep->n_completed, 1);
    s_alive(2);
    h_down(&C, &K);
}
END_TEST

// s_peer_register: register p as engine uuid (batches or not), beat once;
// returns its engine id.
static int s_peer_register(h_client_t *p, const char *uuid, bool batches)
{
    Ipp__RegistrationRequest req = IPP__REGISTRATION_REQUEST__INIT;
    req.uuid = (char *)uuid;
    req.hostname = "nowhere";
    req.has_pid = 1;
    req.pid = 1;
    req.has_batches = batches;
    req.batches = batches;
    h_send(p, IPP__MSG_TYPE__REGISTRATION_REQUEST, &req.base, NULL, 0, NULL);
    ck_assert_int_eq(h_recv(p, 5000), IPP__MSG_TYPE__REGISTRATION_REPLY);
    const Ipp__RegistrationReply *rep = (const Ipp__RegistrationReply *)p->msg.content;
    ck_assert(rep->has_batches && rep->batches);  // this controller takes RESULT_BATCH
    int id = rep->engine_id;
    Ipp__Heartbeat hb = IPP__HEARTBEAT__INIT;
    hb.has_engine_id = 1;
    hb.engine_id = id;
    h_send(p, IPP__MSG_TYPE__HEARTBEAT, &hb.base, NULL, 0, NULL);
    ck_assert_int_eq(h_recv(p, 5000), IPP__MSG_TYPE__HEARTBEAT);
    return id;
}

// s_peer_tasks: receive on p until n distinct tasks arrived (lone or in
// batches), their ids into ids; *batches counts TASK_BATCH messages.
static void s_peer_tasks(h_client_t *p, id_t_ *ids, size_t n, int *batches)
{
    size_t got = 0;
    *batches = 0;
    int64_t until = ipp_clock_mono_us() + 10 * 1000000;
    while (got < n && ipp_clock_mono_us() < until) {
        int t = h_recv(p, 500);
        if (t == IPP__MSG_TYPE__TASK_REQUEST) {
            memcpy(ids[got++], p->msg.header->msg_id, sizeof ids[0]);
        } else if (t == IPP__MSG_TYPE__TASK_BATCH) {
            const Ipp__TaskBatch *b = (const Ipp__TaskBatch *)p->msg.content;
            (*batches)++;
            ck_assert_uint_eq(b->n_msg_ids, b->n_tasks);
            for (size_t i = 0; i < b->n_msg_ids && got < n; i++)
                memcpy(ids[got++], b->msg_ids[i], sizeof ids[0]);
        }
    }
    ck_assert_uint_eq(got, n);
}

// s_pending: how many of ids (n) result_status lists as pending.
static size_t s_pending(id_t_ *ids, size_t n)
{
    Ipp__ResultRequest rq = IPP__RESULT_REQUEST__INIT;
    char *v[8];
    for (size_t i = 0; i < n; i++)
        v[i] = ids[i];
    rq.n_msg_ids = n;
    rq.msg_ids = v;
    ck_assert_int_eq(h_request(&K, IPP__MSG_TYPE__RESULT_REQUEST, &rq.base, 5000),
                     IPP__MSG_TYPE__RESULT_REPLY);
    return ((const Ipp__ResultReply *)K.msg.content)->n_pending;
}

// s_peer_error: the next ERROR_REPLY p gets (other messages skipped):
// its code must be code and its field field.
static void s_peer_error(h_client_t *p, ipp_err_t code, const char *field, const char *words)
{
    int t = 0;
    for (int i = 0; i < 20 && t != IPP__MSG_TYPE__ERROR_REPLY; i++)
        t = h_recv(p, 500);
    ck_assert_int_eq(t, IPP__MSG_TYPE__ERROR_REPLY);
    const Ipp__ErrorReply *e = (const Ipp__ErrorReply *)p->msg.content;
    ck_assert_int_eq(e->code, (int)code);
    ck_assert_str_eq(e->field, field);
    ck_assert_msg(strstr(e->evalue, words) != NULL, "%s", e->evalue);
}

// Batches on the engine leg, seen from a peer that speaks the protocol by
// hand: an engine registered without batches gets lone tasks and may
// answer with lone results; one registered with batches may get tasks in
// TASK_BATCHes; a bad RESULT_BATCH is refused whole with the field at
// fault and changes nothing; a good one completes every task in it.
START_TEST(test_result_batches_checked_whole)
{
    h_up(&C, &K, 0, (const char *[]){"--hwm", "0", "--heartbeat-misses", "50", NULL});
    enum { N = 3 };
    id_t_ sub[N], got[N];
    h_result_t res[N];
    int batches = 0;

    // An engine of before batches: lone TASK_REQUESTs, even at hwm 0.
    h_client_t old;
    h_engine_peer_open(&old, &C, NULL);
    int oid = s_peer_register(&old, "engine-without-batches", false);
    for (int i = 0; i < N; i++) {
        h_task_t t = {.call = "noop", .target = -1};
        h_submit(&K, &t, sub[i]);
    }
    s_peer_tasks(&old, got, N, &batches);
    ck_assert_int_eq(batches, 0);
    for (int i = 0; i < N; i++) {
        Ipp__TaskResult r = IPP__TASK_RESULT__INIT;
        r.has_status = 1;
        r.status = IPP__STATUS__OK;
        r.msg_id = got[i];
        wire_send(old.wire, old.dealer, NULL, 0, IPP__MSG_TYPE__TASK_RESULT, got[i], &r.base, NULL,
                  0, 0, NULL, NULL);
    }
    ck_assert_uint_eq(h_collect(&K, sub, N, res, 10000), N);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(res[i].status, IPP__STATUS__OK);
    (void)oid;
    Ipp__Unregistration u = IPP__UNREGISTRATION__INIT;
    u.has_engine_id = 1;
    u.engine_id = oid;
    u.uuid = "engine-without-batches";
    h_send(&old, IPP__MSG_TYPE__UNREGISTRATION, &u.base, NULL, 0, NULL);
    h_client_close(&old);

    // An engine with batches.
    h_client_t p;
    h_engine_peer_open(&p, &C, NULL);
    s_peer_register(&p, "engine-with-batches", true);
    for (int i = 0; i < N; i++) {
        h_task_t t = {.call = "noop", .target = -1};
        h_submit(&K, &t, sub[i]);
    }
    s_peer_tasks(&p, got, N, &batches);
    ck_assert_uint_eq(s_pending(sub, N), N);

    Ipp__TaskResult r[N];
    Ipp__TaskResult *rs[N];
    uint32_t counts[N];
    for (int i = 0; i < N; i++) {
        ipp__task_result__init(&r[i]);
        r[i].has_status = 1;
        r[i].status = IPP__STATUS__OK;
        r[i].msg_id = got[i];
        rs[i] = &r[i];
        counts[i] = 1;
    }
    Ipp__ResultBatch b = IPP__RESULT_BATCH__INIT;
    b.n_results = N;
    b.results = rs;
    b.n_n_buffers = N;
    b.n_buffers = counts;
    // Counts that add up to 3 buffers, and none sent.
    h_send(&p, IPP__MSG_TYPE__RESULT_BATCH, &b.base, NULL, 0, NULL);
    s_peer_error(&p, IPP_ERR_INVALID, "n_buffers", "add up to 3 but the message has 0 buffers");
    ck_assert_uint_eq(s_pending(sub, N), N);
    // A result that names no task (the others are fine): none is taken.
    counts[0] = counts[1] = counts[2] = 0;
    r[1].msg_id = NULL;
    h_send(&p, IPP__MSG_TYPE__RESULT_BATCH, &b.base, NULL, 0, NULL);
    s_peer_error(&p, IPP_ERR_INVALID, "results.msg_id", "results[1] does not name its task");
    ck_assert_uint_eq(s_pending(sub, N), N);
    r[1].msg_id = got[1];
    // An empty batch.
    Ipp__ResultBatch empty = IPP__RESULT_BATCH__INIT;
    h_send(&p, IPP__MSG_TYPE__RESULT_BATCH, &empty.base, NULL, 0, NULL);
    s_peer_error(&p, IPP_ERR_INVALID, "results", "no results");
    ck_assert_uint_eq(s_pending(sub, N), N);

    // A good batch, a buffer per result: every task completes with its own.
    zmq_msg_t bufs[N];
    for (int i = 0; i < N; i++) {
        counts[i] = 1;
        char text[8];
        snprintf(text, sizeof text, "r%d", i);
        zmq_msg_init_size(&bufs[i], strlen(text));
        memcpy(zmq_msg_data(&bufs[i]), text, strlen(text));
    }
    h_send(&p, IPP__MSG_TYPE__RESULT_BATCH, &b.base, bufs, N, NULL);
    ck_assert_uint_eq(h_collect(&K, sub, N, res, 10000), N);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(res[i].status, IPP__STATUS__OK);
        int k = -1;  // which result of the batch was this task's
        for (int j = 0; j < N; j++)
            if (strcmp(got[j], res[i].msg_id) == 0)
                k = j;
        ck_assert_int_ge(k, 0);
        char want[8];
        snprintf(want, sizeof want, "r%d", k);
        ck_assert_str_eq(res[i].buf0, want);
    }
    // The acknowledgements name every task of the batch.
    size_t acked = 0;
    for (int i = 0; i < 20 && acked < N; i++)
        if (h_recv(&p, 500) == IPP__MSG_TYPE__RESULT_ACK)
            acked += ((const Ipp__ResultAck *)p.msg.content)->n_msg_ids;
    ck_assert_uint_eq(acked, N);
    h_client_close(&p);
    h_down(&C, &K);
}
END_TEST

static Suite *s_suite(void)
{
    Suite *s = suite_create("badinput");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, test_unauthentic_messages_change_nothing);
    tcase_add_test(tc, test_garbage_flood_counted_not_logged);
    tcase_add_test(tc, test_signed_but_malformed);
    tcase_add_test(tc, test_bad_requests_get_clear_errors);
    tcase_add_test(tc, test_result_batches_checked_whole);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return h_main(s_suite());
}
