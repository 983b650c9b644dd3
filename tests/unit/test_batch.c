/* test_batch.c — the batch messages of the engine legs (TASK_BATCH,
 * RESULT_BATCH): a batch packed, signed, sent through a real wire session
 * and decoded whole, and every malformed batch refused by its check with
 * the field at fault and a text saying what is wrong.
 */
#include "proto/batch.h"
#include "proto/msgid.h"
#include "proto/wire.h"

#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t s_key[32] = "0123456789abcdef0123456789abcdef";
static ipp_logger_t s_quiet = {IPP_LOG_ERROR, NULL, "test"};

static wire_session_t *s_session(void)
{
    wire_opts_t o = {0};
    o.key = s_key;
    o.key_len = sizeof s_key;
    o.log = &s_quiet;
    ipp_error_t err;
    wire_session_t *s = wire_session_new(&o, &err);
    ck_assert_msg(s != NULL, "%s", err.msg);
    return s;
}

// s_roundtrip: content of type packed by tx with bufs (taken), decoded by
// rx into out (initialised by the caller).
static void s_roundtrip(wire_session_t *tx, wire_session_t *rx, Ipp__MsgType type,
                        const ProtobufCMessage *content, zmq_msg_t *bufs, size_t nb,
                        wire_msg_t *out)
{
    wire_msg_t m;
    wire_msg_init(&m);
    ck_assert_int_eq(wire_pack(tx, &m, NULL, 0, type, NULL, content, bufs, nb, NULL, NULL), IPP_OK);
    for (size_t k = 0; k < m.n_frames; k++)
        wire_msg_add_frame(out, zmq_msg_data(&m.frames[k]), zmq_msg_size(&m.frames[k]));
    wire_msg_fini(&m);
    ipp_error_t err;
    ck_assert_int_eq(wire_unpack(rx, out, &err), IPP_OK);
}

static void s_buf(zmq_msg_t *m, const char *text)
{
    zmq_msg_init_size(m, strlen(text));
    memcpy(zmq_msg_data(m), text, strlen(text));
}

START_TEST(test_task_batch_round_trip_and_check)
{
    wire_session_t *tx = s_session(), *rx = s_session();
    // Three tasks with 2, 0 and 1 buffers.
    enum { N = 3 };
    Ipp__TaskRequest req[N];
    Ipp__Call call[N];
    Ipp__TaskRequest *reqs[N];
    char ids[N][IPP_MSGID_LEN + 1];
    char *idp[N];
    uint32_t counts[N] = {2, 0, 1};
    for (int i = 0; i < N; i++) {
        ipp__task_request__init(&req[i]);
        ipp__call__init(&call[i]);
        call[i].function = "echo";
        req[i].kind_case = IPP__TASK_REQUEST__KIND_CALL;
        req[i].call = &call[i];
        req[i].has_attempt = 1;
        req[i].attempt = i + 1;
        reqs[i] = &req[i];
        wire_session_new_id(tx, ids[i]);
        idp[i] = ids[i];
    }
    Ipp__TaskBatch b = IPP__TASK_BATCH__INIT;
    b.n_tasks = N;
    b.tasks = reqs;
    b.n_msg_ids = N;
    b.msg_ids = idp;
    b.n_n_buffers = N;
    b.n_buffers = counts;
    zmq_msg_t bufs[3];
    s_buf(&bufs[0], "a0");
    s_buf(&bufs[1], "a1");
    s_buf(&bufs[2], "c0");
    wire_msg_t r;
    wire_msg_init(&r);
    s_roundtrip(tx, rx, IPP__MSG_TYPE__TASK_BATCH, &b.base, bufs, 3, &r);
    const Ipp__TaskBatch *got = (const Ipp__TaskBatch *)r.content;
    ck_assert_uint_eq(got->n_tasks, N);
    ipp_error_t err;
    const char *field = "unset";
    ck_assert_int_eq(wire_batch_check_tasks(got, wire_msg_n_buffers(&r), &field, &err), IPP_OK);
    ck_assert_ptr_null(field);
    for (int i = 0; i < N; i++) {
        ck_assert_str_eq(got->msg_ids[i], ids[i]);
        ck_assert_str_eq(got->tasks[i]->call->function, "echo");
        ck_assert_int_eq(got->tasks[i]->attempt, i + 1);
        ck_assert_uint_eq(got->n_buffers[i], counts[i]);
    }
    size_t len;
    const char *third = wire_msg_buffer(&r, 2, &len);
    ck_assert_uint_eq(len, 2);
    ck_assert(memcmp(third, "c0", 2) == 0);  // task 2's buffer follows task 0's two

    // The same batch, decoded, seen with a buffer more or less than its
    // counts say: refused, naming n_buffers.
    ck_assert_int_eq(wire_batch_check_tasks(got, 2, &field, &err), IPP_ERR_INVALID);
    ck_assert_str_eq(field, "n_buffers");
    ck_assert_ptr_nonnull(strstr(err.msg, "add up to 3 but the message has 2"));
    ck_assert_int_eq(wire_batch_check_tasks(got, 4, &field, &err), IPP_ERR_INVALID);
    wire_msg_fini(&r);

    // Malformed batches, each refused with its field and words.
    Ipp__TaskBatch bad = b;
    bad.n_n_buffers = 2;
    ck_assert_int_eq(wire_batch_check_tasks(&bad, 3, &field, &err), IPP_ERR_INVALID);
    ck_assert_str_eq(field, "n_buffers");
    ck_assert_ptr_nonnull(strstr(err.msg, "3 tasks but 2 n_buffers entries"));
    bad = b;
    bad.n_msg_ids = 2;
    ck_assert_int_eq(wire_batch_check_tasks(&bad, 3, &field, &err), IPP_ERR_INVALID);
    ck_assert_str_eq(field, "msg_ids");
    ck_assert_ptr_nonnull(strstr(err.msg, "3 tasks but 2 msg_ids"));
    bad = b;
    char *badids[N] = {ids[0], "not-an-id", ids[2]};
    bad.msg_ids = badids;
    ck_assert_int_eq(wire_batch_check_tasks(&bad, 3, &field, &err), IPP_ERR_INVALID);
    ck_assert_str_eq(field, "msg_ids");
    ck_assert_ptr_nonnull(strstr(err.msg, "msg_ids[1] is not a msg_id"));
    char *nullids[N] = {ids[0], ids[1], NULL};
    bad.msg_ids = nullids;
    ck_assert_int_eq(wire_batch_check_tasks(&bad, 3, &field, &err), IPP_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "msg_ids[2]"));
    Ipp__TaskBatch empty = IPP__TASK_BATCH__INIT;
    ck_assert_int_eq(wire_batch_check_tasks(&empty, 0, &field, &err), IPP_ERR_INVALID);
    ck_assert_str_eq(field, "tasks");
    ck_assert_ptr_nonnull(strstr(err.msg, "no tasks"));
    bad = b;
    bad.n_tasks = bad.n_msg_ids = bad.n_n_buffers = WIRE_BATCH_MAX + 1;
    ck_assert_int_eq(wire_batch_check_tasks(&bad, 3, &field, &err), IPP_ERR_INVALID);
    ck_assert_str_eq(field, "tasks");
    ck_assert_ptr_nonnull(strstr(err.msg, "at most 256"));
    // A count that would overflow 32 bits when added is still caught.
    uint32_t huge[N] = {0xffffffffu, 0xffffffffu, 5};
    bad = b;
    bad.n_buffers = huge;
    ck_assert_int_eq(wire_batch_check_tasks(&bad, 3, &field, &err), IPP_ERR_INVALID);
    ck_assert_str_eq(field, "n_buffers");
    wire_session_destroy(&tx);
    wire_session_destroy(&rx);
}
END_TEST

START_TEST(test_result_batch_round_trip_and_check)
{
    wire_session_t *tx = s_session(), *rx = s_session();
    enum { N = 2 };
    Ipp__TaskResult res[N];
    Ipp__TaskResult *rs[N];
    char ids[N][IPP_MSGID_LEN + 1];
    uint32_t counts[N] = {1, 1};
    for (int i = 0; i < N; i++) {
        ipp__task_result__init(&res[i]);
        wire_session_new_id(tx, ids[i]);
        res[i].msg_id = ids[i];
        res[i].has_status = 1;
        res[i].status = IPP__STATUS__OK;
        res[i].has_started = 1;
        res[i].started = 1000 + i;  // each start reported on its own
        rs[i] = &res[i];
    }
    Ipp__ResultBatch b = IPP__RESULT_BATCH__INIT;
    b.n_results = N;
    b.results = rs;
    b.n_n_buffers = N;
    b.n_buffers = counts;
    zmq_msg_t bufs[2];
    s_buf(&bufs[0], "r0");
    s_buf(&bufs[1], "r1");
    wire_msg_t r;
    wire_msg_init(&r);
    s_roundtrip(tx, rx, IPP__MSG_TYPE__RESULT_BATCH, &b.base, bufs, 2, &r);
    const Ipp__ResultBatch *got = (const Ipp__ResultBatch *)r.content;
    ipp_error_t err;
    const char *field = NULL;
    ck_assert_int_eq(wire_batch_check_results(got, wire_msg_n_buffers(&r), &field, &err), IPP_OK);
    for (int i = 0; i < N; i++) {
        ck_assert_str_eq(got->results[i]->msg_id, ids[i]);
        ck_assert_int_eq(got->results[i]->started, 1000 + i);
    }
    ck_assert_int_eq(wire_batch_check_results(got, 1, &field, &err), IPP_ERR_INVALID);
    ck_assert_str_eq(field, "n_buffers");
    wire_msg_fini(&r);

    Ipp__ResultBatch bad = b;
    res[1].msg_id = NULL;  // a result in a batch must name its task
    ck_assert_int_eq(wire_batch_check_results(&bad, 2, &field, &err), IPP_ERR_INVALID);
    ck_assert_str_eq(field, "results.msg_id");
    ck_assert_ptr_nonnull(strstr(err.msg, "results[1] does not name its task"));
    res[1].msg_id = ids[1];
    bad.n_n_buffers = 0;
    bad.n_buffers = NULL;
    ck_assert_int_eq(wire_batch_check_results(&bad, 0, &field, &err), IPP_ERR_INVALID);
    ck_assert_str_eq(field, "n_buffers");
    Ipp__ResultBatch empty = IPP__RESULT_BATCH__INIT;
    ck_assert_int_eq(wire_batch_check_results(&empty, 0, &field, &err), IPP_ERR_INVALID);
    ck_assert_str_eq(field, "results");
    wire_session_destroy(&tx);
    wire_session_destroy(&rx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("batch");
    TCase *tc = tcase_create("batch");
    tcase_add_test(tc, test_task_batch_round_trip_and_check);
    tcase_add_test(tc, test_result_batch_round_trip_and_check);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
