/* test_client_hub.c — libipp's hub side against a scripted controller:
 * AsyncHubResults (completed records with buffers, unknown ids, a pending
 * task completed through its done.<id> notification — subscribed before
 * asking, asked again only when notified, never polled), and every hub
 * query: the fields each request carries and how each reply is read,
 * ERROR_REPLY turned into error values.
 */
#include "test_client_peer.h"

#include "proto/clock.h"
#include "proto/codec.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

static const int s_three[] = {0, 1, 2};

#define ID_A "018f0000-0000-7000-8000-00000000000a"
#define ID_B "018f0000-0000-7000-8000-00000000000b"
#define ID_C "018f0000-0000-7000-8000-00000000000c"
#define ID_P "018f0000-0000-7000-8000-0000000000ff"
#define ID_N "018f0000-0000-7000-8000-000000000111"

// s_strs_are: list[0..n) equals the given strings.
static bool s_strs_are(char **list, size_t n, size_t want, ...)
{
    if (n != want)
        return false;
    va_list ap;
    va_start(ap, want);
    bool ok = true;
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], va_arg(ap, const char *)) != 0)
            ok = false;
    va_end(ap);
    return ok;
}

// ------------------------------------------------- completed and unknown

static void s_script_completed(peer_t *p)
{
    if (!peer_handshake(p, s_three, 3))
        return;
    wire_msg_t m;
    wire_msg_init(&m);
    if (!peer_expect(p, &m, IPP__MSG_TYPE__RESULT_REQUEST, 5000))
        goto out;
    const Ipp__ResultRequest *q = (const Ipp__ResultRequest *)m.content;
    PEER_REQUIRE(p, q->has_records && q->records, "get_result asks for records");
    PEER_REQUIRE(p, s_strs_are(q->msg_ids, q->n_msg_ids, 3, ID_A, ID_B, ID_C), "ids");
    // It subscribed to each id's notification.
    PEER_REQUIRE(p, peer_saw_sub(p, "+done." ID_A, 2000), "subscribed to A");
    PEER_REQUIRE(p, peer_saw_sub(p, "+done." ID_B, 2000), "subscribed to B");
    PEER_REQUIRE(p, peer_saw_sub(p, "+done." ID_C, 2000), "subscribed to C");

    Ipp__TaskRequest req = IPP__TASK_REQUEST__INIT;
    Ipp__Dependency after = IPP__DEPENDENCY__INIT;
    char *after_ids[] = {(char *)ID_C};
    after.n_ids = 1;
    after.ids = after_ids;
    req.after = &after;
    Ipp__TaskRecord ra = IPP__TASK_RECORD__INIT;
    ra.msg_id = (char *)ID_A;
    ra.has_status = 1;
    ra.status = IPP__STATUS__OK;
    ra.has_engine_id = 1;
    ra.engine_id = 1;
    ra.engine_uuid = (char *)"eeeeeeee-0000-4000-8000-000000000001";
    ra.client_uuid = (char *)"another-client";
    ra.has_submitted = 1;
    ra.submitted = 1700000000000000;
    ra.has_started = 1;
    ra.started = 1700000001000000;
    ra.has_completed = 1;
    ra.completed = 1700000003000000;
    ra.has_received = 1;
    ra.received = 1700000003500000;
    ra.label = (char *)"nightly/a";
    ra.has_stdout_data = 1;
    ra.stdout_data.data = (uint8_t *)"out-a";
    ra.stdout_data.len = 5;
    ra.has_attempts = 1;
    ra.attempts = 2;
    ra.request = &req;
    ra.has_result_buffers = 1;
    ra.result_buffers = 2;
    Ipp__RemoteError re = IPP__REMOTE_ERROR__INIT;
    re.ename = (char *)"CommandFailed";
    re.evalue = (char *)"exit status 2";
    re.has_engine_id = 1;
    re.engine_id = 0;
    Ipp__TaskRecord rb = IPP__TASK_RECORD__INIT;
    rb.msg_id = (char *)ID_B;
    rb.has_status = 1;
    rb.status = IPP__STATUS__ERROR;
    rb.error = &re;
    rb.has_engine_id = 1;
    rb.engine_id = 0;
    rb.has_result_buffers = 1;
    rb.result_buffers = 0;
    Ipp__TaskRecord *recs[] = {&rb, &ra};  // any order
    Ipp__ResultReply r = IPP__RESULT_REPLY__INIT;
    char *completed[] = {(char *)ID_A, (char *)ID_B};
    char *unknown[] = {(char *)ID_C};
    r.n_completed = 2;
    r.completed = completed;
    r.n_unknown = 1;
    r.unknown = unknown;
    r.n_records = 2;
    r.records = recs;
    zmq_msg_t b[2];
    peer_bufs(b, 2, "a-one", "a-two");
    peer_reply(p, &m, IPP__MSG_TYPE__RESULT_REPLY, &r.base, b, 2);
    // Done with: unsubscribed.
    PEER_REQUIRE(p, peer_saw_sub(p, "-done." ID_A, 3000), "unsubscribed from A");
    PEER_REQUIRE(p, peer_saw_sub(p, "-done." ID_C, 3000), "unsubscribed from C");
out:
    wire_msg_fini(&m);
}

START_TEST(test_hub_completed)
{
    peer_t p;
    peer_start(&p);
    peer_run(&p, s_script_completed, NULL);
    ipp_client_t *c = peer_client(&p, 5);
    ipp_error_t err;
    // Upper case is accepted and normalised.
    const char *ids[] = {ID_A, ID_B, "018F0000-0000-7000-8000-00000000000C"};
    ipp_ar_t *ar = ipp_client_get_result(c, ids, 3, &err);
    ck_assert_msg(ar != NULL, "%s", err.msg);
    ck_assert(ipp_ar_is_hub(ar));
    ck_assert_str_eq(ipp_ar_msg_id(ar, 2), ID_C);
    ck_assert_int_eq(ipp_ar_get(ar, 5, &err), IPP_ERR_REMOTE);
    ck_assert_msg(strncmp(err.msg, "CompositeError: 2 of 3", 22) == 0, "%s", err.msg);
    // A: the record and its two buffers.
    ck_assert_int_eq(ipp_ar_status(ar, 0), IPP_STATUS_OK);
    size_t n;
    const ipp_buf_t *b = ipp_ar_result(ar, 0, &n);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(memcmp(b[0].data, "a-one", 5), 0);
    ck_assert_int_eq(memcmp(b[1].data, "a-two", 5), 0);
    ipp_metadata_t md;
    ipp_ar_metadata(ar, 0, &md);
    ck_assert_int_eq(md.submitted, 1700000000000000);
    ck_assert_int_eq(md.started, 1700000001000000);
    ck_assert_int_eq(md.completed, 1700000003000000);
    ck_assert_int_eq(md.received, 1700000003500000);
    ck_assert_int_eq(md.engine_id, 1);
    ck_assert_str_eq(md.engine_uuid, "eeeeeeee-0000-4000-8000-000000000001");
    ck_assert_str_eq(md.label, "nightly/a");
    ck_assert_uint_eq(md.stdout_len, 5);
    ck_assert_int_eq(md.attempts, 2);
    ck_assert_uint_eq(md.n_after, 1);
    ck_assert_str_eq(md.after[0], ID_C);
    ck_assert(md.accepted);
    // B: failed, no buffers.
    const ipp_remote_error_t *e = ipp_ar_error(ar, 1);
    ck_assert_str_eq(e->ename, "CommandFailed");
    ck_assert_int_eq(e->engine_id, 0);
    ck_assert_ptr_null(ipp_ar_result(ar, 1, &n));
    // C: unknown.
    e = ipp_ar_error(ar, 2);
    ck_assert_int_eq(ipp_ar_status(ar, 2), IPP_STATUS_UNKNOWN);
    ck_assert_int_eq(e->code, IPP_ERR_NOT_FOUND);
    ck_assert_str_eq(e->ename, "KeyError");
    // serial time from the record stamps.
    ck_assert_double_eq_tol(ipp_ar_serial_time(ar), 2.0, 1e-9);
    // The peer checks the unsubscriptions (they leave without a spin).
    peer_join(&p);
    ipp_ar_destroy(&ar);
    ipp_client_destroy(&c);
    peer_stop(&p);
}
END_TEST

// ------------------------------------------- pending, then notification

static void s_script_pending(peer_t *p)
{
    if (!peer_handshake(p, s_three, 3))
        return;
    wire_msg_t m;
    wire_msg_init(&m);
    if (!peer_expect(p, &m, IPP__MSG_TYPE__RESULT_REQUEST, 5000))
        goto out;
    const Ipp__ResultRequest *q = (const Ipp__ResultRequest *)m.content;
    PEER_REQUIRE(p, s_strs_are(q->msg_ids, q->n_msg_ids, 1, ID_P), "asks for P");
    // Subscribed (it did so before asking; it travels on another socket).
    PEER_REQUIRE(p, peer_saw_sub(p, "+done." ID_P, 2000), "subscribed to done.P");
    Ipp__ResultReply r = IPP__RESULT_REPLY__INIT;
    char *pending[] = {(char *)ID_P};
    r.n_pending = 1;
    r.pending = pending;
    peer_reply(p, &m, IPP__MSG_TYPE__RESULT_REPLY, &r.base, NULL, 0);
    // No polling: nothing comes while the task stays pending.
    int got = peer_recv(p, &m, 500);
    PEER_REQUIRE(p, got == 0, "the client asked again without a notification (%s)",
                 wire_type_name(got));
    Ipp__TaskDone d = IPP__TASK_DONE__INIT;
    d.msg_id = (char *)ID_P;
    d.has_status = 1;
    d.status = IPP__STATUS__OK;
    d.has_engine_id = 1;
    d.engine_id = 2;
    peer_publish(p, "done." ID_P, IPP__MSG_TYPE__TASK_DONE, &d.base);
    // The notification makes it ask once more.
    if (!peer_expect(p, &m, IPP__MSG_TYPE__RESULT_REQUEST, 3000))
        goto out;
    q = (const Ipp__ResultRequest *)m.content;
    PEER_REQUIRE(p, s_strs_are(q->msg_ids, q->n_msg_ids, 1, ID_P) && q->records,
                 "asks again for P with records");
    Ipp__TaskRecord rec = IPP__TASK_RECORD__INIT;
    rec.msg_id = (char *)ID_P;
    rec.has_status = 1;
    rec.status = IPP__STATUS__OK;
    rec.has_engine_id = 1;
    rec.engine_id = 2;
    rec.has_result_buffers = 1;
    rec.result_buffers = 1;
    Ipp__TaskRecord *recs[] = {&rec};
    Ipp__ResultReply r2 = IPP__RESULT_REPLY__INIT;
    r2.n_completed = 1;
    r2.completed = pending;
    r2.n_records = 1;
    r2.records = recs;
    zmq_msg_t b[1];
    peer_bufs(b, 1, "late-result");
    peer_reply(p, &m, IPP__MSG_TYPE__RESULT_REPLY, &r2.base, b, 1);
    // And nothing after that.
    got = peer_recv(p, &m, 300);
    PEER_REQUIRE(p, got == 0, "unexpected %s", wire_type_name(got));
out:
    wire_msg_fini(&m);
}

START_TEST(test_hub_pending_then_done)
{
    peer_t p;
    peer_start(&p);
    peer_run(&p, s_script_pending, NULL);
    ipp_client_t *c = peer_client(&p, 5);
    ipp_error_t err;
    const char *ids[] = {ID_P};
    ipp_ar_t *ar = ipp_client_get_result(c, ids, 1, &err);
    ck_assert_ptr_nonnull(ar);
    ck_assert_int_eq(ipp_ar_wait(ar, 0.2, &err), IPP_ERR_TIMEOUT);
    ck_assert_uint_eq(ipp_client_outstanding(c), 1);
    ck_assert_int_eq(ipp_ar_get(ar, 10, &err), IPP_OK);
    size_t n;
    const ipp_buf_t *b = ipp_ar_result(ar, 0, &n);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(b[0].size, 11);
    ck_assert_int_eq(memcmp(b[0].data, "late-result", 11), 0);
    ipp_metadata_t md;
    ipp_ar_metadata(ar, 0, &md);
    ck_assert_int_eq(md.engine_id, 2);
    ck_assert_int_gt(md.received, 0);  // not in the record: the arrival
    ipp_client_spin(c, 0.4, &err);
    peer_join(&p);
    ipp_ar_destroy(&ar);
    ipp_client_destroy(&c);
    peer_stop(&p);
}
END_TEST

// A task this client submitted, also watched through get_result: the
// TASK_RESULT finishes both; the later notification asks nothing.
static void s_script_own_and_hub(peer_t *p)
{
    if (!peer_handshake(p, s_three, 3))
        return;
    wire_msg_t m;
    wire_msg_init(&m);
    if (!peer_expect(p, &m, IPP__MSG_TYPE__TASK_REQUEST, 5000))
        goto out;
    char id[40];
    snprintf(id, sizeof id, "%s", m.header->msg_id);
    peer_accept(p, &m);
    if (!peer_expect(p, &m, IPP__MSG_TYPE__RESULT_REQUEST, 5000))
        goto out;
    Ipp__ResultReply r = IPP__RESULT_REPLY__INIT;
    char *pending[] = {id};
    r.n_pending = 1;
    r.pending = pending;
    peer_reply(p, &m, IPP__MSG_TYPE__RESULT_REPLY, &r.base, NULL, 0);
    peer_result(p, id, IPP__STATUS__OK, 1, "both", 0, 0);
    char topic[64];
    snprintf(topic, sizeof topic, "done.%s", id);
    char sub[80];
    snprintf(sub, sizeof sub, "+%s", topic);
    PEER_REQUIRE(p, peer_saw_sub(p, sub, 2000), "subscribed to %s", topic);
    Ipp__TaskDone d = IPP__TASK_DONE__INIT;
    d.msg_id = id;
    peer_publish(p, topic, IPP__MSG_TYPE__TASK_DONE, &d.base);
    int got = peer_recv(p, &m, 400);
    PEER_REQUIRE(p, got == 0, "unexpected %s", wire_type_name(got));
out:
    wire_msg_fini(&m);
}

START_TEST(test_hub_same_id_as_own)
{
    peer_t p;
    peer_start(&p);
    peer_run(&p, s_script_own_and_hub, NULL);
    ipp_client_t *c = peer_client(&p, 5);
    ipp_error_t err;
    ipp_view_t *lb = ipp_client_lb_view(c, &err);
    ipp_ar_t *own = ipp_view_apply(lb, "f", NULL, 0, NULL, &err);
    const char *id = ipp_ar_msg_id(own, 0);
    ipp_ar_t *hub = ipp_client_get_result(c, &id, 1, &err);
    ck_assert_ptr_nonnull(hub);
    ck_assert_int_eq(ipp_ar_get(own, 5, &err), IPP_OK);
    ck_assert_int_eq(ipp_ar_get(hub, 5, &err), IPP_OK);
    size_t n1, n2;
    const ipp_buf_t *b1 = ipp_ar_result(own, 0, &n1);
    const ipp_buf_t *b2 = ipp_ar_result(hub, 0, &n2);
    ck_assert_uint_eq(n1, 1);
    ck_assert_uint_eq(n2, 1);
    ck_assert_int_eq(memcmp(b1[0].data, "both", 4), 0);
    ck_assert_int_eq(memcmp(b2[0].data, "both", 4), 0);
    ck_assert_uint_eq(ipp_client_outstanding(c), 0);
    ipp_client_spin(c, 0.5, &err);
    peer_join(&p);
    ipp_ar_destroy(&hub);
    ipp_ar_destroy(&own);
    ipp_view_destroy(&lb);
    ipp_client_destroy(&c);
    peer_stop(&p);
}
END_TEST

static void s_script_hub_error(peer_t *p)
{
    if (!peer_handshake(p, s_three, 3))
        return;
    wire_msg_t m;
    wire_msg_init(&m);
    if (peer_expect(p, &m, IPP__MSG_TYPE__RESULT_REQUEST, 5000))
        peer_error(p, &m, IPP_ERR_DB, "DatabaseError", "disk I/O error", NULL);
    wire_msg_fini(&m);
}

START_TEST(test_hub_error_reply)
{
    peer_t p;
    peer_start(&p);
    peer_run(&p, s_script_hub_error, NULL);
    ipp_client_t *c = peer_client(&p, 5);
    ipp_error_t err;
    const char *ids[] = {ID_A};
    ipp_ar_t *ar = ipp_client_get_result(c, ids, 1, &err);
    ck_assert_int_eq(ipp_ar_get(ar, 5, &err), IPP_ERR_DB);
    ck_assert_ptr_nonnull(strstr(err.msg, "disk I/O error"));
    ck_assert_str_eq(ipp_ar_error(ar, 0)->ename, "DatabaseError");
    peer_join(&p);
    ipp_ar_destroy(&ar);
    // Bad ids are refused before anything is sent; none is an empty result.
    const char *bad[] = {"not-a-msg-id"};
    ck_assert_ptr_null(ipp_client_get_result(c, bad, 1, &err));
    ck_assert_int_eq(err.code, IPP_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "not-a-msg-id"));
    ipp_ar_t *empty = ipp_client_get_result(c, NULL, 0, &err);
    ck_assert_ptr_nonnull(empty);
    ck_assert(ipp_ar_ready(empty));
    ck_assert_int_eq(ipp_ar_get(empty, 0, &err), IPP_OK);
    ipp_ar_destroy(&empty);
    ipp_client_destroy(&c);
    peer_stop(&p);
}
END_TEST

// --------------------------------------------------------------- queries

static void s_script_queries(peer_t *p)
{
    if (!peer_handshake(p, s_three, 3))
        return;
    wire_msg_t m;
    wire_msg_init(&m);
#define EXPECT(type)                                                                               \
    do {                                                                                           \
        if (!peer_expect(p, &m, type, 5000))                                                       \
            goto out;                                                                              \
    } while (0)

    // result_status: records = false; the reply's three lists.
    EXPECT(IPP__MSG_TYPE__RESULT_REQUEST);
    {
        const Ipp__ResultRequest *q = (const Ipp__ResultRequest *)m.content;
        PEER_REQUIRE(p, q->has_records && !q->records, "records=false");
        PEER_REQUIRE(p, s_strs_are(q->msg_ids, q->n_msg_ids, 3, ID_A, ID_B, ID_C), "ids");
        Ipp__ResultReply r = IPP__RESULT_REPLY__INIT;
        char *a[] = {(char *)ID_A}, *b[] = {(char *)ID_B}, *cc[] = {(char *)ID_C};
        r.n_pending = 1;
        r.pending = a;
        r.n_completed = 1;
        r.completed = b;
        r.n_unknown = 1;
        r.unknown = cc;
        peer_reply(p, &m, IPP__MSG_TYPE__RESULT_REPLY, &r.base, NULL, 0);
    }
    // queue_status
    EXPECT(IPP__MSG_TYPE__QUEUE_STATUS_REQUEST);
    {
        const Ipp__QueueStatusRequest *q = (const Ipp__QueueStatusRequest *)m.content;
        PEER_REQUIRE(p, q->n_targets == 2 && q->targets[0] == 0 && q->targets[1] == 2, "targets");
        PEER_REQUIRE(p, q->has_verbose && q->verbose, "verbose");
        Ipp__EngineQueue e0 = IPP__ENGINE_QUEUE__INIT, e2 = IPP__ENGINE_QUEUE__INIT;
        char *qa[] = {(char *)ID_A, (char *)ID_B}, *rc[] = {(char *)ID_C};
        e0.has_engine_id = 1;
        e0.engine_id = 0;
        e0.has_queued = 1;
        e0.queued = 2;
        e0.n_queued_ids = 2;
        e0.queued_ids = qa;
        e0.has_completed = 1;
        e0.completed = 7;
        e2.has_engine_id = 1;
        e2.engine_id = 2;
        e2.has_running = 1;
        e2.running = 1;
        e2.n_running_ids = 1;
        e2.running_ids = rc;
        Ipp__EngineQueue *es[] = {&e0, &e2};
        Ipp__QueueStatusReply r = IPP__QUEUE_STATUS_REPLY__INIT;
        r.n_engines = 2;
        r.engines = es;
        r.has_unassigned = 1;
        r.unassigned = 5;
        peer_reply(p, &m, IPP__MSG_TYPE__QUEUE_STATUS_REPLY, &r.base, NULL, 0);
    }
    // purge: by id, all, by engine, then refused for a pending id.
    for (int k = 0; k < 4; k++) {
        EXPECT(IPP__MSG_TYPE__PURGE_REQUEST);
        const Ipp__PurgeRequest *q = (const Ipp__PurgeRequest *)m.content;
        if (k == 3) {
            peer_error(p, &m, IPP_ERR_PENDING, "TaskPending", ID_A " is pending", "msg_ids");
            continue;
        }
        bool ok = k == 0   ? s_strs_are(q->msg_ids, q->n_msg_ids, 1, ID_B) && !q->all
                  : k == 1 ? q->all && !q->n_msg_ids && !q->n_engine_ids
                           : q->n_engine_ids == 1 && q->engine_ids[0] == 1 && !q->all;
        PEER_REQUIRE(p, ok, "purge request %d", k);
        Ipp__PurgeReply r = IPP__PURGE_REPLY__INIT;
        r.has_purged = 1;
        r.purged = 10 + k;
        peer_reply(p, &m, IPP__MSG_TYPE__PURGE_REPLY, &r.base, NULL, 0);
    }
    // resubmit: old → new, then the AsyncHubResult of the new id.
    EXPECT(IPP__MSG_TYPE__RESUBMIT_REQUEST);
    {
        const Ipp__ResubmitRequest *q = (const Ipp__ResubmitRequest *)m.content;
        PEER_REQUIRE(p, s_strs_are(q->msg_ids, q->n_msg_ids, 1, ID_B), "resubmit ids");
        Ipp__ResubmitReply r = IPP__RESUBMIT_REPLY__INIT;
        char *o[] = {(char *)ID_B}, *nw[] = {(char *)ID_N};
        r.n_old_ids = 1;
        r.old_ids = o;
        r.n_new_ids = 1;
        r.new_ids = nw;
        peer_reply(p, &m, IPP__MSG_TYPE__RESUBMIT_REPLY, &r.base, NULL, 0);
    }
    EXPECT(IPP__MSG_TYPE__RESULT_REQUEST);
    {
        const Ipp__ResultRequest *q = (const Ipp__ResultRequest *)m.content;
        PEER_REQUIRE(p, s_strs_are(q->msg_ids, q->n_msg_ids, 1, ID_N) && q->records,
                     "asks for the new id");
        Ipp__TaskRecord rec = IPP__TASK_RECORD__INIT;
        rec.msg_id = (char *)ID_N;
        rec.has_status = 1;
        rec.status = IPP__STATUS__OK;
        rec.resubmitted = (char *)ID_B;
        Ipp__TaskRecord *recs[] = {&rec};
        char *done[] = {(char *)ID_N};
        Ipp__ResultReply r = IPP__RESULT_REPLY__INIT;
        r.n_completed = 1;
        r.completed = done;
        r.n_records = 1;
        r.records = recs;
        peer_reply(p, &m, IPP__MSG_TYPE__RESULT_REPLY, &r.base, NULL, 0);
    }
    // db_query as text, as JSON, and a bad query.
    for (int k = 0; k < 3; k++) {
        EXPECT(IPP__MSG_TYPE__DB_QUERY_REQUEST);
        const Ipp__DbQueryRequest *q = (const Ipp__DbQueryRequest *)m.content;
        if (k == 2) {
            peer_error(p, &m, IPP_ERR_QUERY, "QueryError", "unknown operator $near", "query_json");
            continue;
        }
        PEER_REQUIRE(p, q->query_json && strcmp(q->query_json, "{\"status\": \"ok\"}") == 0,
                     "query text");
        PEER_REQUIRE(p, s_strs_are(q->keys, q->n_keys, 2, "msg_id", "label"), "keys");
        PEER_REQUIRE(p, q->has_limit && q->limit == 2, "limit");
        Ipp__DbQueryReply r = IPP__DB_QUERY_REPLY__INIT;
        r.records_json = (char *)"{\"msg_id\": \"" ID_A "\", \"label\": \"x\"}\n"
                                 "{\"msg_id\": \"" ID_B "\", \"label\": null}\n";
        peer_reply(p, &m, IPP__MSG_TYPE__DB_QUERY_REPLY, &r.base, NULL, 0);
    }
    // find_label: a $glob query on label, projected on msg_id.
    EXPECT(IPP__MSG_TYPE__DB_QUERY_REQUEST);
    {
        const Ipp__DbQueryRequest *q = (const Ipp__DbQueryRequest *)m.content;
        PEER_REQUIRE(p, strcmp(q->query_json, "{\"label\":{\"$glob\":\"night\\\"*\"}}") == 0,
                     "glob query %s", q->query_json);
        PEER_REQUIRE(p, s_strs_are(q->keys, q->n_keys, 1, "msg_id") && !q->has_limit, "keys");
        Ipp__DbQueryReply r = IPP__DB_QUERY_REPLY__INIT;
        r.records_json = (char *)"{\"msg_id\": \"" ID_B "\"}\n{\"msg_id\": \"" ID_A "\"}\n";
        peer_reply(p, &m, IPP__MSG_TYPE__DB_QUERY_REPLY, &r.base, NULL, 0);
    }
    // history
    EXPECT(IPP__MSG_TYPE__HISTORY_REQUEST);
    {
        Ipp__HistoryReply r = IPP__HISTORY_REPLY__INIT;
        char *h[] = {(char *)ID_A, (char *)ID_B};
        r.n_msg_ids = 2;
        r.msg_ids = h;
        peer_reply(p, &m, IPP__MSG_TYPE__HISTORY_REPLY, &r.base, NULL, 0);
    }
    // abort
    EXPECT(IPP__MSG_TYPE__ABORT_REQUEST);
    {
        const Ipp__AbortRequest *q = (const Ipp__AbortRequest *)m.content;
        PEER_REQUIRE(p, s_strs_are(q->msg_ids, q->n_msg_ids, 2, ID_A, ID_C), "abort ids");
        PEER_REQUIRE(p, q->n_targets == 1 && q->targets[0] == 2, "abort targets");
        Ipp__AbortReply r = IPP__ABORT_REPLY__INIT;
        char *a[] = {(char *)ID_A}, *np[] = {(char *)ID_C};
        r.n_aborted = 1;
        r.aborted = a;
        r.n_not_pending = 1;
        r.not_pending = np;
        peer_reply(p, &m, IPP__MSG_TYPE__ABORT_REPLY, &r.base, NULL, 0);
    }
    // clear (all engines)
    EXPECT(IPP__MSG_TYPE__CLEAR_REQUEST);
    {
        const Ipp__ClearRequest *q = (const Ipp__ClearRequest *)m.content;
        PEER_REQUIRE(p, q->n_targets == 0, "clear all");
        Ipp__ClearReply r = IPP__CLEAR_REPLY__INIT;
        int32_t cl[] = {0, 1, 2};
        r.n_cleared = 3;
        r.cleared = cl;
        peer_reply(p, &m, IPP__MSG_TYPE__CLEAR_REPLY, &r.base, NULL, 0);
    }
    // shutdown engine 1, not the hub
    EXPECT(IPP__MSG_TYPE__SHUTDOWN_REQUEST);
    {
        const Ipp__ShutdownRequest *q = (const Ipp__ShutdownRequest *)m.content;
        PEER_REQUIRE(p, q->n_targets == 1 && q->targets[0] == 1 && q->has_hub && !q->hub,
                     "shutdown fields");
        Ipp__ShutdownReply r = IPP__SHUTDOWN_REPLY__INIT;
        int32_t st[] = {1};
        r.n_stopping = 1;
        r.stopping = st;
        r.has_hub = 1;
        r.hub = 0;
        peer_reply(p, &m, IPP__MSG_TYPE__SHUTDOWN_REPLY, &r.base, NULL, 0);
    }
    // load
    EXPECT(IPP__MSG_TYPE__LOAD_REQUEST);
    {
        const Ipp__LoadRequest *q = (const Ipp__LoadRequest *)m.content;
        PEER_REQUIRE(p, q->n_targets == 2 && q->targets[1] == 1, "load targets");
        Ipp__LoadReply r = IPP__LOAD_REPLY__INIT;
        int32_t ids[] = {0, 1}, out[] = {3, 4};
        r.n_engine_ids = 2;
        r.engine_ids = ids;
        r.n_outstanding = 2;
        r.outstanding = out;
        peer_reply(p, &m, IPP__MSG_TYPE__LOAD_REPLY, &r.base, NULL, 0);
    }
    // engine list
    EXPECT(IPP__MSG_TYPE__ENGINE_LIST_REQUEST);
    {
        Ipp__EngineInfo e = IPP__ENGINE_INFO__INIT;
        e.has_engine_id = 1;
        e.engine_id = 5;
        e.hostname = (char *)"h5";
        Ipp__EngineInfo *ep[] = {&e};
        Ipp__EngineListReply r = IPP__ENGINE_LIST_REPLY__INIT;
        r.n_engines = 1;
        r.engines = ep;
        peer_reply(p, &m, IPP__MSG_TYPE__ENGINE_LIST_REPLY, &r.base, NULL, 0);
    }
    // A reply of the wrong type to a request.
    EXPECT(IPP__MSG_TYPE__HISTORY_REQUEST);
    {
        Ipp__ClearReply r = IPP__CLEAR_REPLY__INIT;
        peer_reply(p, &m, IPP__MSG_TYPE__CLEAR_REPLY, &r.base, NULL, 0);
    }
#undef EXPECT
out:
    wire_msg_fini(&m);
}

START_TEST(test_queries)
{
    peer_t p;
    peer_start(&p);
    peer_run(&p, s_script_queries, NULL);
    ipp_client_t *c = peer_client(&p, 5);
    ipp_error_t err;

    const char *abc[] = {ID_A, ID_B, ID_C};
    ipp_result_status_t rs;
    ck_assert_int_eq(ipp_client_result_status(c, abc, 3, &rs, &err), IPP_OK);
    ck_assert(s_strs_are(rs.pending.v, rs.pending.n, 1, ID_A));
    ck_assert(s_strs_are(rs.completed.v, rs.completed.n, 1, ID_B));
    ck_assert(s_strs_are(rs.unknown.v, rs.unknown.n, 1, ID_C));
    ipp_result_status_fini(&rs);

    int t02[] = {0, 2};
    ipp_queue_status_t qs;
    ck_assert_int_eq(ipp_client_queue_status(c, t02, 2, true, &qs, &err), IPP_OK);
    ck_assert_uint_eq(qs.n_engines, 2);
    ck_assert_int_eq(qs.engines[0].engine_id, 0);
    ck_assert_int_eq(qs.engines[0].queued, 2);
    ck_assert_int_eq(qs.engines[0].completed, 7);
    ck_assert(s_strs_are(qs.engines[0].queued_ids.v, qs.engines[0].queued_ids.n, 2, ID_A, ID_B));
    ck_assert_int_eq(qs.engines[1].running, 1);
    ck_assert(s_strs_are(qs.engines[1].running_ids.v, qs.engines[1].running_ids.n, 1, ID_C));
    ck_assert_int_eq(qs.unassigned, 5);
    ck_assert_uint_eq(qs.unassigned_ids.n, 0);
    ipp_queue_status_fini(&qs);

    int64_t purged = 0;
    const char *b[] = {ID_B};
    ck_assert_int_eq(ipp_client_purge_results(c, b, 1, false, NULL, 0, &purged, &err), IPP_OK);
    ck_assert_int_eq(purged, 10);
    ck_assert_int_eq(ipp_client_purge_results(c, NULL, 0, true, NULL, 0, &purged, &err), IPP_OK);
    ck_assert_int_eq(purged, 11);
    int one = 1;
    ck_assert_int_eq(ipp_client_purge_results(c, NULL, 0, false, &one, 1, &purged, &err), IPP_OK);
    ck_assert_int_eq(purged, 12);
    const char *a[] = {ID_A};
    ck_assert_int_eq(ipp_client_purge_results(c, a, 1, false, NULL, 0, &purged, &err),
                     IPP_ERR_PENDING);
    ck_assert_str_eq(err.msg, "purge_request: TaskPending: " ID_A " is pending (field msg_ids)");
    // Nothing named: refused here, nothing sent.
    ck_assert_int_eq(ipp_client_purge_results(c, NULL, 0, false, NULL, 0, &purged, &err),
                     IPP_ERR_INVALID);

    ipp_ar_t *re = ipp_client_resubmit(c, b, 1, &err);
    ck_assert_msg(re != NULL, "%s", err.msg);
    ck_assert_str_eq(ipp_ar_msg_id(re, 0), ID_N);
    ck_assert_int_eq(ipp_ar_get(re, 5, &err), IPP_OK);
    ipp_ar_destroy(&re);

    const char *keys[] = {"msg_id", "label"};
    char *text = NULL;
    ck_assert_int_eq(ipp_client_db_query(c, "{\"status\": \"ok\"}", keys, 2, 2, &text, &err),
                     IPP_OK);
    ck_assert_ptr_nonnull(strstr(text, ID_B));
    ck_assert_ptr_nonnull(strchr(text, '\n'));
    free(text);
    json_t *rows = NULL;
    ck_assert_int_eq(ipp_client_db_query_json(c, "{\"status\": \"ok\"}", keys, 2, 2, &rows, &err),
                     IPP_OK);
    ck_assert(json_is_array(rows));
    ck_assert_uint_eq(json_array_size(rows), 2);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(rows, 0), "msg_id")), ID_A);
    ck_assert(json_is_null(json_object_get(json_array_get(rows, 1), "label")));
    json_decref(rows);
    ck_assert_int_eq(ipp_client_db_query(c, "{\"x\": {\"$near\": 1}}", NULL, 0, 0, &text, &err),
                     IPP_ERR_QUERY);
    ck_assert_ptr_null(text);
    ck_assert_ptr_nonnull(strstr(err.msg, "unknown operator $near"));

    ipp_strv_t found;
    ck_assert_int_eq(ipp_client_find_label(c, "night\"*", &found, &err), IPP_OK);
    ck_assert(s_strs_are(found.v, found.n, 2, ID_B, ID_A));
    ipp_strv_fini(&found);
    ck_assert_int_eq(ipp_client_find_label(c, "", &found, &err), IPP_ERR_INVALID);

    ipp_strv_t h;
    ck_assert_int_eq(ipp_client_history(c, &h, &err), IPP_OK);
    ck_assert(s_strs_are(h.v, h.n, 2, ID_A, ID_B));
    ipp_strv_fini(&h);
    ck_assert_ptr_null(h.v);

    const char *ac[] = {ID_A, ID_C};
    int two = 2;
    ipp_strv_t ab, np;
    ck_assert_int_eq(ipp_client_abort(c, ac, 2, &two, 1, &ab, &np, &err), IPP_OK);
    ck_assert(s_strs_are(ab.v, ab.n, 1, ID_A));
    ck_assert(s_strs_are(np.v, np.n, 1, ID_C));
    ipp_strv_fini(&ab);
    ipp_strv_fini(&np);

    ipp_intv_t cleared;
    ck_assert_int_eq(ipp_client_clear(c, NULL, 0, &cleared, &err), IPP_OK);
    ck_assert_uint_eq(cleared.n, 3);
    ck_assert_int_eq(cleared.v[2], 2);
    ipp_intv_fini(&cleared);

    ipp_intv_t stopping;
    bool hub = true;
    ck_assert_int_eq(ipp_client_shutdown(c, &one, 1, false, &stopping, &hub, &err), IPP_OK);
    ck_assert_uint_eq(stopping.n, 1);
    ck_assert_int_eq(stopping.v[0], 1);
    ck_assert(!hub);
    ipp_intv_fini(&stopping);

    int t21[] = {2, 1};
    ipp_intv_t eids, outst;
    ck_assert_int_eq(ipp_client_load(c, t21, 2, &eids, &outst, &err), IPP_OK);
    ck_assert_uint_eq(eids.n, 2);
    ck_assert_int_eq(outst.v[1], 4);
    ipp_intv_fini(&eids);
    ipp_intv_fini(&outst);

    ck_assert_int_eq(ipp_client_refresh_engines(c, &err), IPP_OK);
    int ids[4];
    ck_assert_uint_eq(ipp_client_ids(c, ids, 4), 1);
    ck_assert_int_eq(ids[0], 5);

    ck_assert_int_eq(ipp_client_history(c, &h, &err), IPP_ERR_BAD_CONTENT);
    ck_assert_ptr_nonnull(strstr(err.msg, "clear_reply"));
    peer_join(&p);
    ipp_client_destroy(&c);
    peer_stop(&p);
}
END_TEST

static Suite *s_suite(void)
{
    Suite *s = suite_create("client_hub");
    TCase *tc = tcase_create("hub");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_hub_completed);
    tcase_add_test(tc, test_hub_pending_then_done);
    tcase_add_test(tc, test_hub_same_id_as_own);
    tcase_add_test(tc, test_hub_error_reply);
    tcase_add_test(tc, test_queries);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(s_suite());
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
