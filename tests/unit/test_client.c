/* test_client.c — libipp's Client and AsyncResult against a scripted
 * controller: connecting (and every way it fails), submission and its
 * acknowledgement, results, RemoteError and CompositeError, get_dict,
 * metadata and timing arithmetic, done callbacks, iteration in completion
 * order, refused submissions, waits that time out or see the controller
 * go, the pollable descriptor, engine events, abort, zero-copy arguments,
 * and a client destroyed under live results and views.
 */
#include "test_client_peer.h"

#include "proto/clock.h"
#include "proto/codec.h"
#include "proto/conn.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <poll.h>
#include <pty.h>

static const int s_three[] = {0, 1, 2};

// ------------------------------------------------------------- connect

static void s_script_hello(peer_t *p)
{
    const int ids[] = {0, 1, 3};
    peer_handshake(p, ids, 3);
}

START_TEST(test_connect_ok)
{
    peer_t p;
    peer_start(&p);
    peer_run(&p, s_script_hello, NULL);
    ipp_client_t *c = peer_client(&p, 5);
    peer_join(&p);
    int ids[8];
    ck_assert_uint_eq(ipp_client_ids(c, ids, 8), 3);
    ck_assert_int_eq(ids[0], 0);
    ck_assert_int_eq(ids[1], 1);
    ck_assert_int_eq(ids[2], 3);
    ipp_engine_info_t info[8];
    ck_assert_uint_eq(ipp_client_engines(c, info, 8), 3);
    ck_assert_str_eq(info[2].hostname, "host3");
    ck_assert_int_eq(info[2].pid, 1003);
    ck_assert(info[2].alive);
    ck_assert_uint_eq(strlen(ipp_client_session(c)), 36);
    ck_assert_str_eq(ipp_client_connection_file(c), p.conn);
    ck_assert_int_ge(ipp_client_fd(c), 0);
    // Enough engines already: no request needed, no wait.
    ipp_error_t err;
    ck_assert_int_eq(ipp_client_wait_for_engines(c, 3, 0, &err), IPP_OK);
    ck_assert_uint_eq(ipp_client_outstanding(c), 0);
    ipp_client_destroy(&c);
    ck_assert_ptr_null(c);
    ipp_client_destroy(&c);  // NULL-safe
    peer_stop(&p);
}
END_TEST

START_TEST(test_connect_timeout)
{
    peer_t p;
    peer_start(&p);  // bound, but nobody answers
    ipp_error_t err;
    int64_t t0 = ipp_clock_mono_us();
    ipp_client_t *c = ipp_client_connect(p.conn, 0.3, &err);
    int64_t took = ipp_clock_mono_us() - t0;
    ck_assert_ptr_null(c);
    ck_assert_int_eq(err.code, IPP_ERR_TIMEOUT);
    ck_assert_msg(strstr(err.msg, p.conn) != NULL, "message names the file: %s", err.msg);
    ck_assert_msg(strstr(err.msg, p.endpoint) != NULL, "message names the endpoint: %s", err.msg);
    ck_assert_int_ge(took, 250000);
    ck_assert_int_lt(took, 3000000);  // no linger on the way out
    peer_stop(&p);
}
END_TEST

// Answers the hello signed with another key, as a controller started
// again with a new key would answer a client holding the old file.
static void s_script_wrong_key(peer_t *p)
{
    uint8_t other[32];
    memset(other, 7, sizeof other);
    wire_opts_t wo;
    memset(&wo, 0, sizeof wo);
    wo.key = other;
    wo.key_len = sizeof other;
    wo.log = &peer_log;
    ipp_error_t err;
    wire_session_t *bad = wire_session_new(&wo, &err);
    wire_msg_t m;
    wire_msg_init(&m);
    if (bad && peer_expect(p, &m, IPP__MSG_TYPE__CONNECT_REQUEST, 5000)) {
        Ipp__ConnectReply r = IPP__CONNECT_REPLY__INIT;
        wire_frame_t id = {p->ident, p->ident_len};
        wire_send(bad, p->router, &id, 1, IPP__MSG_TYPE__CONNECT_REPLY, m.header->msg_id, &r.base,
                  NULL, 0, 0, NULL, NULL);
    }
    wire_msg_fini(&m);
    wire_session_destroy(&bad);
}

START_TEST(test_connect_wrong_key)
{
    peer_t p;
    peer_start(&p);
    peer_run(&p, s_script_wrong_key, NULL);
    ipp_error_t err;
    ipp_client_opts_t o;
    memset(&o, 0, sizeof o);
    o.connection_file = p.conn;
    o.timeout = 0.5;
    o.log_level = IPP_LOG_LEVEL_ERROR;
    ck_assert_ptr_null(ipp_client_new(&o, &err));
    ck_assert_int_eq(err.code, IPP_ERR_TIMEOUT);
    ck_assert_msg(strstr(err.msg, "no valid answer") && strstr(err.msg, "signature"), "%s",
                  err.msg);
    peer_join(&p);
    peer_stop(&p);
}
END_TEST

START_TEST(test_connect_file_errors)
{
    char dir[] = "/tmp/ipp-client-conn-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[256];
    ipp_error_t err;
    // Missing file.
    snprintf(path, sizeof path, "%s/nothing.json", dir);
    ck_assert_ptr_null(ipp_client_connect(path, 1, &err));
    ck_assert_int_eq(err.code, IPP_ERR_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(err.msg, path));
    // A profile that does not exist: the message names where it looked.
    setenv("IPP_DIR", dir, 1);
    ck_assert_ptr_null(ipp_client_connect("nosuch", 1, &err));
    ck_assert_int_eq(err.code, IPP_ERR_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(err.msg, "profile_nosuch/security/ipp-client.json"));
    // Readable by others.
    conn_info_t info;
    conn_info_init(&info, CONN_CLIENT);
    conn_info_new_key(&info);
    info.client_port = 1;
    info.notify_port = 2;
    snprintf(path, sizeof path, "%s/open.json", dir);
    ck_assert_int_eq(conn_write(path, &info, &err), IPP_OK);
    chmod(path, 0644);
    ck_assert_ptr_null(ipp_client_connect(path, 1, &err));
    ck_assert_int_eq(err.code, IPP_ERR_PERMISSION);
    ck_assert_ptr_nonnull(strstr(err.msg, path));
    unlink(path);
    // Malformed.
    snprintf(path, sizeof path, "%s/bad.json", dir);
    FILE *f = fopen(path, "w");
    fputs("{\"kind\": \"client\"}\n", f);
    fclose(f);
    chmod(path, 0600);
    ck_assert_ptr_null(ipp_client_connect(path, 1, &err));
    ck_assert_int_eq(err.code, IPP_ERR_CONN_FILE);
    ck_assert_ptr_nonnull(strstr(err.msg, path));
    unlink(path);
    // A bad profile name.
    ck_assert_ptr_null(ipp_client_connect("bad name!", 1, &err));
    ck_assert_int_eq(err.code, IPP_ERR_INVALID);
    rmdir(dir);
}
END_TEST

START_TEST(test_connect_profile)
{
    peer_t p;
    peer_start(&p);
    char pdir[600], sec[700], path[800];
    snprintf(pdir, sizeof pdir, "%s/profile_work", p.dir);
    snprintf(sec, sizeof sec, "%s/security", pdir);
    mkdir(pdir, 0700);
    mkdir(sec, 0700);
    snprintf(path, sizeof path, "%s/ipp-client.json", sec);
    ck_assert_int_eq(rename(p.conn, path), 0);
    setenv("IPP_DIR", p.dir, 1);
    peer_run(&p, s_script_hello, NULL);
    ipp_error_t err;
    ipp_client_t *c = ipp_client_connect("work", 5, &err);
    ck_assert_msg(c != NULL, "%s", err.msg);
    peer_join(&p);
    ck_assert_str_eq(ipp_client_connection_file(c), path);
    ipp_client_destroy(&c);
    unlink(path);
    rmdir(sec);
    rmdir(pdir);
    peer_stop(&p);
}
END_TEST

// ------------------------------------------------------ apply and result

static void s_script_apply(peer_t *p)
{
    if (!peer_handshake(p, s_three, 3))
        return;
    wire_msg_t m;
    wire_msg_init(&m);
    if (!peer_expect(p, &m, IPP__MSG_TYPE__TASK_REQUEST, 5000))
        goto out;
    const Ipp__TaskRequest *q = (const Ipp__TaskRequest *)m.content;
    if (q->kind_case != IPP__TASK_REQUEST__KIND_CALL || strcmp(q->call->function, "echo") != 0 ||
        q->queue != IPP__QUEUE__QUEUE_TASK || q->n_targets != 0 || wire_msg_n_buffers(&m) != 2 ||
        !peer_buf_is(&m, 0, "hello") || !peer_buf_is(&m, 1, "") || q->label) {
        peer_fail(p, "task request fields wrong");
        goto out;
    }
    // The client uses its own id for the task: the header's.
    snprintf((char *)p->arg, 40, "%s", peer_task_id(&m));
    peer_accept(p, &m);
    Ipp__TaskResult r = IPP__TASK_RESULT__INIT;
    r.has_status = 1;
    r.status = IPP__STATUS__OK;
    r.has_engine_id = 1;
    r.engine_id = 1;
    r.msg_id = m.header->msg_id;
    r.has_stdout_data = 1;
    r.stdout_data.data = (uint8_t *)"printed\n";
    r.stdout_data.len = 8;
    r.has_stderr_data = 1;
    r.stderr_data.data = (uint8_t *)"warned";
    r.stderr_data.len = 6;
    r.has_stderr_truncated = 1;
    r.stderr_truncated = 1;
    r.has_started = 1;
    r.started = 1700000000000000;
    r.has_completed = 1;
    r.completed = 1700000000250000;
    r.summary = "'result-one'";
    zmq_msg_t b[2];
    peer_bufs(b, 2, "result-one", "x");
    peer_send(p, IPP__MSG_TYPE__TASK_RESULT, m.header->msg_id, &r.base, b, 2);
out:
    wire_msg_fini(&m);
}

START_TEST(test_apply_result)
{
    peer_t p;
    peer_start(&p);
    char seen_id[40] = "";
    peer_run(&p, s_script_apply, seen_id);
    ipp_client_t *c = peer_client(&p, 5);
    ipp_error_t err;
    ipp_view_t *lb = ipp_client_lb_view(c, &err);
    ck_assert_ptr_nonnull(lb);
    ck_assert(!ipp_view_is_direct(lb));
    ipp_buf_t args[2] = {{"hello", 5, NULL, NULL}, {NULL, 0, NULL, NULL}};
    ipp_ar_t *ar = ipp_view_apply(lb, "echo", args, 2, NULL, &err);
    ck_assert_msg(ar != NULL, "%s", err.msg);
    ck_assert_uint_eq(ipp_ar_len(ar), 1);
    ck_assert_int_eq(ipp_ar_get(ar, 5, &err), IPP_OK);
    peer_join(&p);
    ck_assert_str_eq(ipp_ar_msg_id(ar, 0), seen_id);
    ck_assert(ipp_ar_ready(ar));
    ck_assert(ipp_ar_successful(ar));
    ck_assert_uint_eq(ipp_ar_progress(ar), 1);
    ck_assert_uint_eq(ipp_client_outstanding(c), 0);
    size_t n;
    const ipp_buf_t *res = ipp_ar_result(ar, 0, &n);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(res[0].size, 10);
    ck_assert_int_eq(memcmp(res[0].data, "result-one", 10), 0);
    ck_assert_uint_eq(res[1].size, 1);
    ck_assert_ptr_null(ipp_ar_error(ar, 0));
    ck_assert_ptr_null(ipp_ar_result(ar, 5, &n));
    ck_assert_uint_eq(n, 0);
    ipp_metadata_t md;
    ck_assert_int_eq(ipp_ar_metadata(ar, 0, &md), IPP_OK);
    ck_assert_int_eq(md.status, IPP_STATUS_OK);
    ck_assert(md.accepted);
    ck_assert_int_eq(md.engine_id, 1);
    ck_assert_str_eq(md.engine_uuid, "00000000-0000-4000-8000-000000000001");
    ck_assert_uint_eq(md.stdout_len, 8);
    ck_assert_int_eq(memcmp(md.stdout_data, "printed\n", 8), 0);
    ck_assert(!md.stdout_truncated);
    ck_assert_uint_eq(md.stderr_len, 6);
    ck_assert(md.stderr_truncated);
    ck_assert_int_eq(md.started, 1700000000000000);
    ck_assert_int_eq(md.completed, 1700000000250000);
    ck_assert_int_gt(md.submitted, 1700000000000000);
    ck_assert_int_ge(md.received, md.submitted);
    ck_assert_ptr_null(md.error);
    ck_assert_ptr_null(md.label);
    ck_assert_str_eq(md.summary, "'result-one'");
    ck_assert_int_eq(ipp_ar_metadata(ar, 1, &md), IPP_ERR_INVALID);
    ipp_ar_destroy(&ar);
    ck_assert_ptr_null(ar);
    ipp_view_destroy(&lb);
    ipp_client_destroy(&c);
    peer_stop(&p);
}
END_TEST

// --------------------------------------------------------------- errors

static void s_script_failures(peer_t *p)
{
    if (!peer_handshake(p, s_three, 3))
        return;
    wire_msg_t m;
    wire_msg_init(&m);
    // Task 1: a RemoteError with every field.
    if (!peer_expect(p, &m, IPP__MSG_TYPE__TASK_REQUEST, 5000))
        goto out;
    peer_accept(p, &m);
    Ipp__RemoteError re = IPP__REMOTE_ERROR__INIT;
    re.ename = (char *)"ValueError";
    re.evalue = (char *)"bad input";
    char *tb[] = {(char *)"frame one", (char *)"frame two"};
    re.n_traceback = 2;
    re.traceback = tb;
    re.has_engine_id = 1;
    re.engine_id = 2;
    Ipp__TaskResult r = IPP__TASK_RESULT__INIT;
    r.has_status = 1;
    r.status = IPP__STATUS__ERROR;
    r.error = &re;
    r.has_engine_id = 1;
    r.engine_id = 2;
    r.msg_id = m.header->msg_id;
    peer_send(p, IPP__MSG_TYPE__TASK_RESULT, m.header->msg_id, &r.base, NULL, 0);
    // Task 2: aborted, no error struct.
    if (!peer_expect(p, &m, IPP__MSG_TYPE__TASK_REQUEST, 5000))
        goto out;
    peer_accept(p, &m);
    peer_result(p, m.header->msg_id, IPP__STATUS__ABORTED, -1, NULL, 0, 0);
    // Task 3: a command that exited 3, no error struct.
    if (!peer_expect(p, &m, IPP__MSG_TYPE__TASK_REQUEST, 5000))
        goto out;
    peer_accept(p, &m);
    Ipp__TaskResult r3 = IPP__TASK_RESULT__INIT;
    r3.has_status = 1;
    r3.status = IPP__STATUS__ERROR;
    r3.has_exit_status = 1;
    r3.exit_status = 3;
    r3.has_engine_id = 1;
    r3.engine_id = 0;
    r3.msg_id = m.header->msg_id;
    peer_send(p, IPP__MSG_TYPE__TASK_RESULT, m.header->msg_id, &r3.base, NULL, 0);
out:
    wire_msg_fini(&m);
}

START_TEST(test_remote_error)
{
    peer_t p;
    peer_start(&p);
    peer_run(&p, s_script_failures, NULL);
    ipp_client_t *c = peer_client(&p, 5);
    ipp_error_t err;
    ipp_view_t *lb = ipp_client_lb_view(c, &err);
    ipp_ar_t *a1 = ipp_view_apply(lb, "parse", NULL, 0, NULL, &err);
    ipp_ar_t *a2 = ipp_view_apply(lb, "slow", NULL, 0, NULL, &err);
    const char *argv[] = {"false", NULL};
    ipp_ar_t *a3 = ipp_view_run(lb, argv, NULL, &err);
    ck_assert(a1 && a2 && a3);

    ck_assert_int_eq(ipp_ar_get(a1, 5, &err), IPP_ERR_REMOTE);
    ck_assert_str_eq(err.msg, "RemoteError: ValueError: bad input (engine 2)");
    ck_assert(ipp_ar_ready(a1));
    ck_assert(!ipp_ar_successful(a1));
    const ipp_remote_error_t *e = ipp_ar_error(a1, 0);
    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq(e->ename, "ValueError");
    ck_assert_str_eq(e->evalue, "bad input");
    ck_assert_uint_eq(e->n_traceback, 2);
    ck_assert_str_eq(e->traceback[1], "frame two");
    ck_assert_int_eq(e->engine_id, 2);
    ck_assert_int_eq(e->status, IPP_STATUS_ERROR);
    ck_assert_int_eq(e->code, IPP_ERR_REMOTE);
    ck_assert_str_eq(e->msg_id, ipp_ar_msg_id(a1, 0));
    ipp_metadata_t md;
    ipp_ar_metadata(a1, 0, &md);
    ck_assert_ptr_eq(md.error, e);
    ck_assert_int_eq(md.status, IPP_STATUS_ERROR);

    ck_assert_int_eq(ipp_ar_get(a2, 5, &err), IPP_ERR_ABORTED);
    e = ipp_ar_error(a2, 0);
    ck_assert_str_eq(e->ename, "TaskAborted");
    ck_assert_int_eq(e->engine_id, -1);
    ck_assert_int_eq(ipp_ar_status(a2, 0), IPP_STATUS_ABORTED);

    ck_assert_int_eq(ipp_ar_get(a3, 5, &err), IPP_ERR_REMOTE);
    e = ipp_ar_error(a3, 0);
    ck_assert_str_eq(e->ename, "CommandFailed");
    ck_assert_str_eq(e->evalue, "exit status 3");
    ipp_ar_metadata(a3, 0, &md);
    ck_assert_int_eq(md.exit_status, 3);
    peer_join(&p);
    ipp_ar_destroy(&a1);
    ipp_ar_destroy(&a2);
    ipp_ar_destroy(&a3);
    ipp_view_destroy(&lb);
    ipp_client_destroy(&c);
    peer_stop(&p);
}
END_TEST

// Direct view on three engines: one TASK_REQUEST each, MUX, in target
// order; two of them fail.
static void s_script_composite(peer_t *p)
{
    if (!peer_handshake(p, s_three, 3))
        return;
    wire_msg_t m;
    wire_msg_init(&m);
    char ids[3][40];
    for (int i = 0; i < 3; i++) {
        if (!peer_expect(p, &m, IPP__MSG_TYPE__TASK_REQUEST, 5000))
            goto out;
        const Ipp__TaskRequest *q = (const Ipp__TaskRequest *)m.content;
        if (q->queue != IPP__QUEUE__QUEUE_MUX || q->n_targets != 1 || q->targets[0] != i ||
            !peer_buf_is(&m, 0, "arg")) {
            peer_fail(p, "task %d: wrong queue/targets/buffers", i);
            goto out;
        }
        snprintf(ids[i], sizeof ids[i], "%s", m.header->msg_id);
        peer_accept(p, &m);
    }
    peer_result(p, ids[0], IPP__STATUS__OK, 0, "fine", 0, 0);
    Ipp__RemoteError re = IPP__REMOTE_ERROR__INIT;
    re.ename = (char *)"ZeroDivisionError";
    re.evalue = (char *)"division by zero";
    for (int i = 1; i < 3; i++) {
        Ipp__TaskResult r = IPP__TASK_RESULT__INIT;
        r.has_status = 1;
        r.status = IPP__STATUS__ERROR;
        r.error = &re;
        r.has_engine_id = 1;
        r.engine_id = i;
        r.msg_id = ids[i];
        peer_send(p, IPP__MSG_TYPE__TASK_RESULT, ids[i], &r.base, NULL, 0);
    }
out:
    wire_msg_fini(&m);
}

START_TEST(test_composite_error)
{
    peer_t p;
    peer_start(&p);
    peer_run(&p, s_script_composite, NULL);
    ipp_client_t *c = peer_client(&p, 5);
    ipp_error_t err;
    ipp_view_t *dv = ipp_client_direct_view(c, NULL, 0, &err);  // all
    ck_assert(ipp_view_is_direct(dv));
    int t[4];
    ck_assert_uint_eq(ipp_view_targets(dv, t, 4), 3);
    ipp_buf_t arg = {"arg", 3, NULL, NULL};
    ipp_ar_t *ar = ipp_view_apply(dv, "divide", &arg, 1, NULL, &err);
    ck_assert_ptr_nonnull(ar);
    ck_assert_uint_eq(ipp_ar_len(ar), 3);
    ck_assert_int_eq(ipp_ar_get(ar, 5, &err), IPP_ERR_REMOTE);
    ck_assert_msg(strncmp(err.msg, "CompositeError: 2 of 3 tasks failed", 35) == 0, "%s", err.msg);
    const ipp_remote_error_t *errs[4];
    ck_assert_uint_eq(ipp_ar_errors(ar, errs, 4), 2);
    ck_assert_int_eq(errs[0]->engine_id, 1);
    ck_assert_int_eq(errs[1]->engine_id, 2);
    ck_assert_str_eq(errs[1]->ename, "ZeroDivisionError");
    ck_assert_str_eq(errs[0]->msg_id, ipp_ar_msg_id(ar, 1));
    ck_assert_uint_eq(ipp_ar_errors(ar, NULL, 0), 2);
    size_t n;
    ck_assert_ptr_nonnull(ipp_ar_result(ar, 0, &n));
    ck_assert_uint_eq(n, 1);
    // A failed get_dict reports the failure too.
    ipp_ar_item_t items[3];
    ck_assert_int_eq(ipp_ar_get_dict(ar, 1, items, 3, &n, &err), IPP_ERR_REMOTE);
    peer_join(&p);
    ipp_ar_destroy(&ar);
    ipp_view_destroy(&dv);
    ipp_client_destroy(&c);
    peer_stop(&p);
}
END_TEST

// ------------------------------------------------------------- get_dict

static void s_script_dict(peer_t *p)
{
    if (!peer_handshake(p, s_three, 3))
        return;
    wire_msg_t m;
    wire_msg_init(&m);
    // Direct apply on engines 2 and 0: results name their engine.
    for (int i = 0; i < 2; i++) {
        if (!peer_expect(p, &m, IPP__MSG_TYPE__TASK_REQUEST, 5000))
            goto out;
        const Ipp__TaskRequest *q = (const Ipp__TaskRequest *)m.content;
        int eng = q->targets[0];
        char buf[8];
        snprintf(buf, sizeof buf, "pid-%d", eng);
        peer_accept(p, &m);
        peer_result(p, m.header->msg_id, IPP__STATUS__OK, eng, buf, 0, 0);
    }
    // Two load-balanced tasks that both ran on engine 1.
    for (int i = 0; i < 2; i++) {
        if (!peer_expect(p, &m, IPP__MSG_TYPE__TASK_REQUEST, 5000))
            goto out;
        peer_accept(p, &m);
        peer_result(p, m.header->msg_id, IPP__STATUS__OK, 1, "same", 0, 0);
    }
out:
    wire_msg_fini(&m);
}

START_TEST(test_get_dict)
{
    peer_t p;
    peer_start(&p);
    peer_run(&p, s_script_dict, NULL);
    ipp_client_t *c = peer_client(&p, 5);
    ipp_error_t err;
    int targets[] = {2, 0};
    ipp_view_t *dv = ipp_client_direct_view(c, targets, 2, &err);
    ck_assert_ptr_nonnull(dv);
    ipp_ar_t *ar = ipp_view_apply(dv, "getpid", NULL, 0, NULL, &err);
    ipp_ar_item_t items[2];
    size_t n = 0;
    ck_assert_int_eq(ipp_ar_get_dict(ar, 5, items, 2, &n, &err), IPP_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(items[0].engine_id, 2);
    ck_assert_int_eq(items[1].engine_id, 0);
    ck_assert_uint_eq(items[1].n_buffers, 1);
    ck_assert_int_eq(memcmp(items[1].buffers[0].data, "pid-0", 5), 0);
    ck_assert_int_eq(memcmp(items[0].buffers[0].data, "pid-2", 5), 0);
    ck_assert_int_eq(ipp_ar_get_dict(ar, 5, items, 1, &n, &err), IPP_ERR_INVALID);

    ipp_view_t *lb = ipp_client_lb_view(c, &err);
    ipp_buf_t two[2] = {{"a", 1, NULL, NULL}, {"b", 1, NULL, NULL}};
    ipp_ar_t *m = ipp_view_map(lb, "f", two, 2, 1, NULL, &err);
    ck_assert_int_eq(ipp_ar_get_dict(m, 5, items, 2, &n, &err), IPP_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "engine 1"));
    peer_join(&p);
    ipp_ar_destroy(&m);
    ipp_ar_destroy(&ar);
    ipp_view_destroy(&lb);
    ipp_view_destroy(&dv);
    ipp_client_destroy(&c);
    peer_stop(&p);
}
END_TEST

// ------------------------------------------------------ metadata, timing

#define T0 1700000000000000LL

static void s_script_timing(peer_t *p)
{
    if (!peer_handshake(p, s_three, 3))
        return;
    wire_msg_t m;
    wire_msg_init(&m);
    char ids[2][40];
    for (int i = 0; i < 2; i++) {
        if (!peer_expect(p, &m, IPP__MSG_TYPE__TASK_REQUEST, 5000))
            goto out;
        snprintf(ids[i], sizeof ids[i], "%s", m.header->msg_id);
        peer_accept(p, &m);
    }
    usleep(100000);  // so elapsed grows while pending
    peer_result(p, ids[0], IPP__STATUS__OK, 0, NULL, T0, T0 + 1000000);
    // The second one only once the client had time to look at progress 1.
    if (peer_recv(p, &m, 300) != 0) {
        peer_fail(p, "unexpected message");
        goto out;
    }
    peer_result(p, ids[1], IPP__STATUS__OK, 1, NULL, T0 + 500000, T0 + 3000000);
out:
    wire_msg_fini(&m);
}

START_TEST(test_metadata_timing)
{
    peer_t p;
    peer_start(&p);
    peer_run(&p, s_script_timing, NULL);
    ipp_client_t *c = peer_client(&p, 5);
    ipp_error_t err;
    ipp_view_t *lb = ipp_client_lb_view(c, &err);
    ipp_buf_t two[2] = {{"1", 1, NULL, NULL}, {"2", 1, NULL, NULL}};
    ipp_ar_t *ar = ipp_view_map(lb, "work", two, 2, 1, NULL, &err);
    ck_assert_ptr_nonnull(ar);
    ck_assert_double_eq(ipp_ar_serial_time(ar), 0.0);
    ck_assert_double_eq(ipp_ar_wall_time(ar), 0.0);
    ck_assert_int_eq(ipp_ar_wait(ar, 0.05, &err), IPP_ERR_TIMEOUT);
    double e1 = ipp_ar_elapsed(ar);
    ck_assert_double_gt(e1, 0.04);
    size_t first;
    ck_assert_int_eq(ipp_ar_next(ar, 5, &first, &err), IPP_OK);
    ck_assert_uint_eq(first, 0);
    ck_assert_uint_eq(ipp_ar_progress(ar), 1);
    ck_assert(!ipp_ar_ready(ar));
    ck_assert_double_gt(ipp_ar_elapsed(ar), e1);
    ck_assert_int_eq(ipp_ar_wait(ar, 5, &err), IPP_OK);
    ck_assert_uint_eq(ipp_ar_progress(ar), 2);
    // serial: (1 s) + (2.5 s); first start to last completion: 3 s.
    ck_assert_double_eq_tol(ipp_ar_serial_time(ar), 3.5, 1e-9);
    ck_assert_double_eq_tol(ipp_ar_timedelta(ar, IPP_STAMP_STARTED, IPP_STAMP_COMPLETED), 3.0,
                            1e-9);
    // wall: earliest submitted to latest received, from the metadata.
    ipp_metadata_t m0, m1;
    ipp_ar_metadata(ar, 0, &m0);
    ipp_ar_metadata(ar, 1, &m1);
    ck_assert_int_le(m0.submitted, m1.submitted);
    ck_assert_int_le(m0.received, m1.received);
    double wall = (double)(m1.received - m0.submitted) / 1e6;
    ck_assert_double_eq_tol(ipp_ar_wall_time(ar), wall, 1e-9);
    ck_assert_double_gt(wall, 0.3);  // the peer paused 0.1 + 0.3 s
    ck_assert_double_lt(wall, 5.0);
    ck_assert_double_eq_tol(ipp_ar_elapsed(ar), wall, 1e-9);
    ck_assert_double_eq_tol(ipp_ar_timedelta(ar, IPP_STAMP_SUBMITTED, IPP_STAMP_RECEIVED), wall,
                            1e-9);
    peer_join(&p);
    ipp_ar_destroy(&ar);
    ipp_view_destroy(&lb);
    ipp_client_destroy(&c);
    peer_stop(&p);
}
END_TEST

// ------------------------------------------------------------ callbacks

typedef struct {
    int calls[4];     // per callback
    int order[8];     // which callback ran, in order
    int n_order;      // how many ran
    size_t progress;  // ar's progress seen by the first
} s_cb_state_t;

static s_cb_state_t s_cbs;

static void s_cb0(ipp_ar_t *ar, void *arg)
{
    (void)arg;
    s_cbs.calls[0]++;
    s_cbs.order[s_cbs.n_order++] = 0;
    s_cbs.progress = ipp_ar_progress(ar);
}

static void s_cb1(ipp_ar_t *ar, void *arg)
{
    (void)ar;
    s_cbs.calls[1]++;
    s_cbs.order[s_cbs.n_order++] = 1;
    *(int *)arg = 42;
}

static void s_cb_destroy(ipp_ar_t *ar, void *arg)
{
    s_cbs.calls[2]++;
    ipp_ar_t **slot = arg;
    ck_assert_ptr_eq(*slot, ar);
    ipp_ar_destroy(slot);
}

static void s_cb_never(ipp_ar_t *ar, void *arg)
{
    (void)ar;
    (void)arg;
    s_cbs.calls[3]++;
}

static void s_script_two_ok(peer_t *p)
{
    if (!peer_handshake(p, s_three, 3))
        return;
    wire_msg_t m;
    wire_msg_init(&m);
    int n = *(int *)p->arg;
    for (int i = 0; i < n; i++) {
        if (!peer_expect(p, &m, IPP__MSG_TYPE__TASK_REQUEST, 5000))
            break;
        peer_accept(p, &m);
        peer_result(p, m.header->msg_id, IPP__STATUS__OK, i % 3, "ok", 0, 0);
    }
    wire_msg_fini(&m);
}

START_TEST(test_done_callbacks)
{
    memset(&s_cbs, 0, sizeof s_cbs);
    peer_t p;
    peer_start(&p);
    int n = 3;
    peer_run(&p, s_script_two_ok, &n);
    ipp_client_t *c = peer_client(&p, 5);
    ipp_error_t err;
    ipp_view_t *lb = ipp_client_lb_view(c, &err);
    ipp_buf_t two[2] = {{"1", 1, NULL, NULL}, {"2", 1, NULL, NULL}};
    ipp_ar_t *ar = ipp_view_map(lb, "work", two, 2, 1, NULL, &err);
    int flag = 0;
    ck_assert_int_eq(ipp_ar_add_done_callback(ar, s_cb0, NULL, &err), IPP_OK);
    ck_assert_int_eq(ipp_ar_add_done_callback(ar, s_cb1, &flag, &err), IPP_OK);
    ck_assert_int_eq(s_cbs.calls[0], 0);
    ck_assert_int_eq(ipp_ar_wait(ar, 5, &err), IPP_OK);
    // Called from inside the wait, once each, in order, when all was done.
    ck_assert_int_eq(s_cbs.calls[0], 1);
    ck_assert_int_eq(s_cbs.calls[1], 1);
    ck_assert_int_eq(s_cbs.order[0], 0);
    ck_assert_int_eq(s_cbs.order[1], 1);
    ck_assert_uint_eq(s_cbs.progress, 2);
    ck_assert_int_eq(flag, 42);
    // Added when ready: runs at once.
    ck_assert_int_eq(ipp_ar_add_done_callback(ar, s_cb0, NULL, &err), IPP_OK);
    ck_assert_int_eq(s_cbs.calls[0], 2);
    ipp_client_spin(c, 0.05, &err);
    ck_assert_int_eq(s_cbs.calls[0], 2);
    ck_assert_int_eq(s_cbs.calls[1], 1);
    // A callback may destroy its own result; later ones are skipped.
    ipp_ar_t *self = ipp_view_apply(lb, "x", NULL, 0, NULL, &err);
    ipp_ar_add_done_callback(self, s_cb_destroy, &self, &err);
    ipp_ar_add_done_callback(self, s_cb_never, NULL, &err);
    ipp_client_wait(c, 5, &err);
    ck_assert_int_eq(s_cbs.calls[2], 1);
    ck_assert_int_eq(s_cbs.calls[3], 0);
    ck_assert_ptr_null(self);
    peer_join(&p);
    ipp_ar_destroy(&ar);
    ipp_view_destroy(&lb);
    ipp_client_destroy(&c);
    peer_stop(&p);
}
END_TEST

static void s_cb_destroy_other(ipp_ar_t *ar, void *arg)
{
    (void)ar;
    ipp_ar_destroy((ipp_ar_t **)arg);
}

START_TEST(test_callback_destroys_waited)
{
    peer_t p;
    peer_start(&p);
    int n = 1;  // answers the first task only
    peer_run(&p, s_script_two_ok, &n);
    ipp_client_t *c = peer_client(&p, 5);
    ipp_error_t err;
    ipp_view_t *lb = ipp_client_lb_view(c, &err);
    ipp_ar_t *first = ipp_view_apply(lb, "f", NULL, 0, NULL, &err);
    ipp_ar_t *waited = ipp_view_apply(lb, "g", NULL, 0, NULL, &err);
    // Nothing has been read yet (submitting does not read), so first is
    // not ready and the callback waits for the spin below.
    ck_assert(!ipp_ar_ready(first));
    ipp_ar_add_done_callback(first, s_cb_destroy_other, &waited, &err);
    // The wait spins; the first result's callback destroys what it waits on.
    ipp_ar_t *alias = waited;
    ck_assert_int_eq(ipp_ar_wait(alias, 5, &err), IPP_ERR_CLOSED);
    ck_assert_ptr_nonnull(strstr(err.msg, "destroyed"));
    ck_assert_ptr_null(waited);
    ck_assert_uint_eq(ipp_client_outstanding(c), 0);
    peer_join(&p);
    ipp_ar_destroy(&first);
    ipp_view_destroy(&lb);
    ipp_client_destroy(&c);
    peer_stop(&p);
}
END_TEST

// ------------------------------------------------------------ iteration

static void s_script_out_of_order(peer_t *p)
{
    if (!peer_handshake(p, s_three, 3))
        return;
    wire_msg_t m;
    wire_msg_init(&m);
    char ids[4][40];
    for (int i = 0; i < 4; i++) {
        if (!peer_expect(p, &m, IPP__MSG_TYPE__TASK_REQUEST, 5000))
            goto out;
        snprintf(ids[i], sizeof ids[i], "%s", m.header->msg_id);
        peer_accept(p, &m);
    }
    const int order[] = {2, 0, 3, 1};
    for (int k = 0; k < 4; k++) {
        char buf[4];
        snprintf(buf, sizeof buf, "r%d", order[k]);
        peer_result(p, ids[order[k]], IPP__STATUS__OK, k % 3, buf, 0, 0);
        if (k == 1)
            usleep(500000);  // the client iterates before the rest arrive
    }
out:
    wire_msg_fini(&m);
}

START_TEST(test_iteration)
{
    peer_t p;
    peer_start(&p);
    peer_run(&p, s_script_out_of_order, NULL);
    ipp_client_t *c = peer_client(&p, 5);
    ipp_error_t err;
    ipp_view_t *lb = ipp_client_lb_view(c, &err);
    ipp_buf_t items[4] = {
        {"a", 1, NULL, NULL}, {"b", 1, NULL, NULL}, {"c", 1, NULL, NULL}, {"d", 1, NULL, NULL}};
    ipp_ar_t *ar = ipp_view_map(lb, "f", items, 4, 1, NULL, &err);
    size_t got[4];
    for (int k = 0; k < 4; k++) {
        ck_assert_int_eq(ipp_ar_next(ar, 5, &got[k], &err), IPP_OK);
        size_t n;
        const ipp_buf_t *b = ipp_ar_result(ar, got[k], &n);
        char want[4];
        snprintf(want, sizeof want, "r%zu", got[k]);
        ck_assert_int_eq(memcmp(b[0].data, want, 2), 0);
        if (k == 1)
            ck_assert(!ipp_ar_ready(ar));
    }
    ck_assert_uint_eq(got[0], 2);
    ck_assert_uint_eq(got[1], 0);
    ck_assert_uint_eq(got[2], 3);
    ck_assert_uint_eq(got[3], 1);
    ck_assert_int_eq(ipp_ar_next(ar, 0, &got[0], &err), IPP_ERR_NOT_FOUND);
    // Ordered access.
    for (size_t i = 0; i < 4; i++)
        ck_assert_int_eq(ipp_ar_wait_task(ar, i, 0, &err), IPP_OK);
    ck_assert_int_eq(ipp_ar_wait_task(ar, 4, 0, &err), IPP_ERR_INVALID);
    peer_join(&p);
    ipp_ar_destroy(&ar);
    ipp_view_destroy(&lb);
    ipp_client_destroy(&c);
    peer_stop(&p);
}
END_TEST

// ------------------------------------------------------------- refusals

static void s_script_refuse(peer_t *p)
{
    if (!peer_handshake(p, s_three, 3))
        return;
    wire_msg_t m;
    wire_msg_init(&m);
    if (!peer_expect(p, &m, IPP__MSG_TYPE__TASK_REQUEST, 5000))
        goto out;
    Ipp__ErrorReply er = IPP__ERROR_REPLY__INIT;
    er.has_code = 1;
    er.code = IPP_ERR_NO_ENGINES;
    er.ename = (char *)"NoEngines";
    er.evalue = (char *)"no engine has function nosuch";
    Ipp__SubmitReply r = IPP__SUBMIT_REPLY__INIT;
    r.msg_id = m.header->msg_id;
    r.has_accepted = 1;
    r.accepted = 0;
    r.error = &er;
    peer_reply(p, &m, IPP__MSG_TYPE__SUBMIT_REPLY, &r.base, NULL, 0);
    // Second task: answered with an ERROR_REPLY instead.
    if (!peer_expect(p, &m, IPP__MSG_TYPE__TASK_REQUEST, 5000))
        goto out;
    peer_error(p, &m, IPP_ERR_BAD_CONTENT, "BadRequest", "no kind", "kind");
out:
    wire_msg_fini(&m);
}

START_TEST(test_refused_submission)
{
    peer_t p;
    peer_start(&p);
    peer_run(&p, s_script_refuse, NULL);
    ipp_client_t *c = peer_client(&p, 5);
    ipp_error_t err;
    ipp_view_t *lb = ipp_client_lb_view(c, &err);
    ipp_ar_t *a1 = ipp_view_apply(lb, "nosuch", NULL, 0, NULL, &err);
    ipp_ar_t *a2 = ipp_view_apply(lb, "other", NULL, 0, NULL, &err);
    ck_assert_int_eq(ipp_ar_get(a1, 5, &err), IPP_ERR_NO_ENGINES);
    ck_assert_str_eq(err.msg, "RemoteError: NoEngines: no engine has function nosuch");
    ck_assert_int_eq(ipp_ar_status(a1, 0), IPP_STATUS_REFUSED);
    const ipp_remote_error_t *e = ipp_ar_error(a1, 0);
    ck_assert_int_eq(e->status, IPP_STATUS_REFUSED);
    ck_assert_int_eq(e->code, IPP_ERR_NO_ENGINES);
    ipp_metadata_t md;
    ipp_ar_metadata(a1, 0, &md);
    ck_assert(!md.accepted);
    ck_assert_int_eq(ipp_ar_get(a2, 5, &err), IPP_ERR_BAD_CONTENT);
    e = ipp_ar_error(a2, 0);
    ck_assert_str_eq(e->ename, "BadRequest");
    ck_assert_str_eq(ipp_status_name(ipp_ar_status(a2, 0)), "refused");
    ck_assert_uint_eq(ipp_client_outstanding(c), 0);
    peer_join(&p);
    ipp_ar_destroy(&a1);
    ipp_ar_destroy(&a2);
    ipp_view_destroy(&lb);
    ipp_client_destroy(&c);
    peer_stop(&p);
}
END_TEST

// ------------------------------------------- timeouts, shutdown, lost peer

static void s_script_silent_then_shutdown(peer_t *p)
{
    if (!peer_handshake(p, s_three, 3))
        return;
    wire_msg_t m;
    wire_msg_init(&m);
    if (!peer_expect(p, &m, IPP__MSG_TYPE__TASK_REQUEST, 5000))
        goto out;
    peer_accept(p, &m);
    // Wait for the client to time out once (it sends nothing meanwhile),
    // then announce the shutdown.
    if (peer_recv(p, &m, 400) != 0) {
        peer_fail(p, "the client sent something while waiting");
        goto out;
    }
    if (!peer_saw_sub(p, "+shutdown", 2000)) {
        peer_fail(p, "client never subscribed to shutdown");
        goto out;
    }
    Ipp__ShutdownNotice sn = IPP__SHUTDOWN_NOTICE__INIT;
    sn.has_when = 1;
    sn.when = ipp_clock_now_us();
    peer_publish(p, "shutdown", IPP__MSG_TYPE__SHUTDOWN_NOTICE, &sn.base);
out:
    wire_msg_fini(&m);
}

START_TEST(test_wait_timeout_and_shutdown)
{
    peer_t p;
    peer_start(&p);
    peer_run(&p, s_script_silent_then_shutdown, NULL);
    ipp_client_t *c = peer_client(&p, 5);
    ipp_error_t err;
    ipp_view_t *lb = ipp_client_lb_view(c, &err);
    ipp_ar_t *ar = ipp_view_apply(lb, "slow", NULL, 0, NULL, &err);
    int64_t t0 = ipp_clock_mono_us();
    ck_assert_int_eq(ipp_ar_wait(ar, 0.2, &err), IPP_ERR_TIMEOUT);
    ck_assert_int_ge(ipp_clock_mono_us() - t0, 190000);
    ck_assert_int_eq(ipp_ar_get(ar, 0, &err), IPP_ERR_TIMEOUT);
    ck_assert_ptr_nonnull(strstr(err.msg, "0 of 1"));
    ck_assert_int_eq(ipp_client_wait(c, 0.05, &err), IPP_ERR_TIMEOUT);
    // Forever, but the controller announces its shutdown: CLOSED.
    t0 = ipp_clock_mono_us();
    ck_assert_int_eq(ipp_ar_wait(ar, IPP_FOREVER, &err), IPP_ERR_CLOSED);
    ck_assert_int_lt(ipp_clock_mono_us() - t0, 5000000);
    ck_assert(ipp_client_shutdown_seen(c));
    ck_assert_int_eq(ipp_client_wait(c, IPP_FOREVER, &err), IPP_ERR_CLOSED);
    ipp_metadata_t md;
    ipp_ar_metadata(ar, 0, &md);
    ck_assert(md.accepted);
    ck_assert_int_eq(md.status, IPP_STATUS_PENDING);
    ck_assert_ptr_null(md.summary);  // none until a result brings one
    peer_join(&p);
    ipp_ar_destroy(&ar);
    ipp_view_destroy(&lb);
    ipp_client_destroy(&c);
    peer_stop(&p);
}
END_TEST

START_TEST(test_request_timeout)
{
    peer_t p;
    peer_start(&p);
    peer_run(&p, s_script_hello, NULL);  // answers the hello, then nothing
    ipp_client_t *c = peer_client(&p, 5);
    peer_join(&p);
    ipp_client_set_timeout(c, 0.2);
    ipp_error_t err;
    ipp_strv_t h;
    int64_t t0 = ipp_clock_mono_us();
    ck_assert_int_eq(ipp_client_history(c, &h, &err), IPP_ERR_TIMEOUT);
    ck_assert_int_lt(ipp_clock_mono_us() - t0, 2000000);
    ck_assert_ptr_nonnull(strstr(err.msg, "history_request"));
    ck_assert_int_eq(ipp_client_wait_for_engines(c, 5, 1, &err), IPP_ERR_TIMEOUT);
    ipp_client_destroy(&c);
    peer_stop(&p);
}
END_TEST

// ------------------------------------------------------ interactive wait

START_TEST(test_wait_interactive_plain)
{
    peer_t p;
    peer_start(&p);
    int n = 2;
    peer_run(&p, s_script_two_ok, &n);
    ipp_client_t *c = peer_client(&p, 5);
    ipp_error_t err;
    ipp_view_t *lb = ipp_client_lb_view(c, &err);
    ipp_buf_t two[2] = {{"1", 1, NULL, NULL}, {"2", 1, NULL, NULL}};
    ipp_ar_t *ar = ipp_view_map(lb, "work", two, 2, 1, NULL, &err);
    FILE *out = tmpfile();
    ck_assert_int_eq(ipp_ar_wait_interactive(ar, out, 0.05, 5, &err), IPP_OK);
    rewind(out);
    char text[1024];
    size_t len = fread(text, 1, sizeof text - 1, out);
    text[len] = '\0';
    fclose(out);
    // Not a terminal: plain lines, no carriage returns.
    ck_assert_ptr_null(strchr(text, '\r'));
    // (the results may already be in when it starts)
    ck_assert_msg(strncmp(text + 1, "/2 tasks finished after ", 24) == 0, "%s", text);
    ck_assert_ptr_nonnull(strstr(text, "2/2 tasks finished"));
    ck_assert_msg(len > 5 && strcmp(text + len - 5, "done\n") == 0, "%s", text);
    peer_join(&p);
    ipp_ar_destroy(&ar);
    ipp_view_destroy(&lb);
    ipp_client_destroy(&c);
    peer_stop(&p);
}
END_TEST

START_TEST(test_wait_interactive_tty)
{
    peer_t p;
    peer_start(&p);
    int n = 2;
    peer_run(&p, s_script_two_ok, &n);
    ipp_client_t *c = peer_client(&p, 5);
    ipp_error_t err;
    int master, slave;
    ck_assert_int_eq(openpty(&master, &slave, NULL, NULL, NULL), 0);
    FILE *out = fdopen(slave, "w");
    ipp_view_t *lb = ipp_client_lb_view(c, &err);
    ipp_buf_t two[2] = {{"1", 1, NULL, NULL}, {"2", 1, NULL, NULL}};
    ipp_ar_t *ar = ipp_view_map(lb, "work", two, 2, 1, NULL, &err);
    ck_assert_int_eq(ipp_ar_wait_interactive(ar, out, 0.05, 5, &err), IPP_OK);
    fclose(out);
    char text[4096];
    size_t len = 0;
    struct pollfd pfd = {master, POLLIN, 0};
    while (len < sizeof text - 1 && poll(&pfd, 1, 200) > 0) {
        ssize_t r = read(master, text + len, sizeof text - 1 - len);
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    text[len] = '\0';
    close(master);
    // One line redrawn in place with carriage returns, then "done".
    ck_assert_msg(text[0] == '\r', "%s", text);
    ck_assert_ptr_nonnull(strstr(text, "\r2/2 tasks finished after"));
    ck_assert_ptr_nonnull(strstr(text, "done"));
    peer_join(&p);
    ipp_ar_destroy(&ar);
    ipp_view_destroy(&lb);
    ipp_client_destroy(&c);
    peer_stop(&p);
}
END_TEST

// ---------------------------------------------------------- pollable fd

static void s_script_late_result(peer_t *p)
{
    if (!peer_handshake(p, s_three, 3))
        return;
    wire_msg_t m;
    wire_msg_init(&m);
    if (peer_expect(p, &m, IPP__MSG_TYPE__TASK_REQUEST, 5000)) {
        peer_accept(p, &m);
        usleep(150000);
        peer_result(p, m.header->msg_id, IPP__STATUS__OK, 0, "late", 0, 0);
    }
    wire_msg_fini(&m);
}

START_TEST(test_pollable_fd)
{
    peer_t p;
    peer_start(&p);
    peer_run(&p, s_script_late_result, NULL);
    ipp_client_t *c = peer_client(&p, 5);
    ipp_error_t err;
    ipp_view_t *lb = ipp_client_lb_view(c, &err);
    ipp_ar_t *ar = ipp_view_apply(lb, "f", NULL, 0, NULL, &err);
    // A caller's own loop: poll the descriptor, spin(0) when readable.
    int64_t end = ipp_clock_mono_us() + 5000000;
    int wakeups = 0;
    while (!ipp_ar_ready(ar) && ipp_clock_mono_us() < end) {
        struct pollfd pfd = {ipp_client_fd(c), POLLIN, 0};
        int r = poll(&pfd, 1, 1000);
        ck_assert_int_ge(r, 0);
        if (r > 0)
            wakeups++;
        ck_assert_int_eq(ipp_client_spin(c, 0, &err), IPP_OK);
    }
    ck_assert(ipp_ar_ready(ar));
    ck_assert_int_ge(wakeups, 1);
    // Drained: nothing pending makes the descriptor readable for long.
    ck_assert_int_eq(ipp_client_spin(c, 0, &err), IPP_OK);
    struct pollfd pfd = {ipp_client_fd(c), POLLIN, 0};
    if (poll(&pfd, 1, 100) > 0)
        ipp_client_spin(c, 0, &err);  // a stale edge is allowed; spin clears it
    pfd.revents = 0;
    ck_assert_int_eq(poll(&pfd, 1, 100), 0);
    peer_join(&p);
    ipp_ar_destroy(&ar);
    ipp_view_destroy(&lb);
    ipp_client_destroy(&c);
    peer_stop(&p);
}
END_TEST

// --------------------------------------------------------- engine events

static void s_script_engines(peer_t *p)
{
    if (!peer_handshake(p, s_three, 3))
        return;
    wire_msg_t m;
    wire_msg_init(&m);
    // wait_for_engines asks for the list once.
    if (!peer_expect(p, &m, IPP__MSG_TYPE__ENGINE_LIST_REQUEST, 5000))
        goto out;
    Ipp__EngineListReply r = IPP__ENGINE_LIST_REPLY__INIT;
    Ipp__EngineInfo e[3];
    Ipp__EngineInfo *ep[3];
    for (int i = 0; i < 3; i++) {
        e[i] = (Ipp__EngineInfo)IPP__ENGINE_INFO__INIT;
        e[i].has_engine_id = 1;
        e[i].engine_id = i;
        e[i].has_alive = 1;
        e[i].alive = 1;
        ep[i] = &e[i];
    }
    r.n_engines = 3;
    r.engines = ep;
    peer_reply(p, &m, IPP__MSG_TYPE__ENGINE_LIST_REPLY, &r.base, NULL, 0);
    if (!peer_saw_sub(p, "+engine", 2000)) {
        peer_fail(p, "client never subscribed to engine events");
        goto out;
    }
    usleep(100000);
    Ipp__EngineInfo info = IPP__ENGINE_INFO__INIT;
    info.has_engine_id = 1;
    info.engine_id = 7;
    info.uuid = (char *)"77777777-0000-4000-8000-000000000007";
    info.hostname = (char *)"newhost";
    Ipp__EngineEvent ev = IPP__ENGINE_EVENT__INIT;
    ev.has_kind = 1;
    ev.kind = IPP__ENGINE_EVENT__KIND__REGISTERED;
    ev.engine = &info;
    peer_publish(p, "engine", IPP__MSG_TYPE__ENGINE_EVENT, &ev.base);
    // Engine 1 leaves only once the client saw 7 come (it then asks for
    // the history), so "4 engines" did hold at some point.
    if (!peer_expect(p, &m, IPP__MSG_TYPE__HISTORY_REQUEST, 5000))
        goto out;
    Ipp__HistoryReply hr = IPP__HISTORY_REPLY__INIT;
    peer_reply(p, &m, IPP__MSG_TYPE__HISTORY_REPLY, &hr.base, NULL, 0);
    Ipp__EngineInfo gone = IPP__ENGINE_INFO__INIT;
    gone.has_engine_id = 1;
    gone.engine_id = 1;
    ev.kind = IPP__ENGINE_EVENT__KIND__UNREGISTERED;
    ev.engine = &gone;
    peer_publish(p, "engine", IPP__MSG_TYPE__ENGINE_EVENT, &ev.base);
out:
    wire_msg_fini(&m);
}

// An engine whose event never reaches the client (a SUB past its
// high-water mark drops it) is found by the list asked for again.
static void s_script_lost_event(peer_t *p)
{
    if (!peer_handshake(p, s_three, 3))
        return;
    wire_msg_t m;
    wire_msg_init(&m);
    for (int round = 0; round < 2; round++) {
        if (!peer_expect(p, &m, IPP__MSG_TYPE__ENGINE_LIST_REQUEST, 5000))
            break;
        // The first list has the three; engine 3 registers after it, and
        // its event is lost: only the second list has it.
        Ipp__EngineListReply r = IPP__ENGINE_LIST_REPLY__INIT;
        Ipp__EngineInfo e[4];
        Ipp__EngineInfo *ep[4];
        size_t n = round == 0 ? 3 : 4;
        for (size_t i = 0; i < n; i++) {
            e[i] = (Ipp__EngineInfo)IPP__ENGINE_INFO__INIT;
            e[i].has_engine_id = 1;
            e[i].engine_id = (int)i;
            e[i].has_alive = 1;
            e[i].alive = 1;
            ep[i] = &e[i];
        }
        r.n_engines = n;
        r.engines = ep;
        peer_reply(p, &m, IPP__MSG_TYPE__ENGINE_LIST_REPLY, &r.base, NULL, 0);
    }
    wire_msg_fini(&m);
}

START_TEST(test_engine_list_asked_again_while_short)
{
    peer_t p;
    peer_start(&p);
    peer_run(&p, s_script_lost_event, NULL);
    ipp_client_t *c = peer_client(&p, 5);
    ipp_error_t err;
    int64_t t0 = ipp_clock_mono_us();
    ck_assert_msg(ipp_client_wait_for_engines(c, 4, 5, &err) == IPP_OK, "%s", err.msg);
    int64_t took = ipp_clock_mono_us() - t0;
    ck_assert_uint_eq(ipp_client_ids(c, NULL, 0), 4);
    // found by the second list, a second after the first, not at the end
    ck_assert_msg(took < 4000000, "took %lld µs", (long long)took);
    peer_join(&p);
    ipp_client_destroy(&c);
    peer_stop(&p);
}
END_TEST

START_TEST(test_engine_events)
{
    peer_t p;
    peer_start(&p);
    peer_run(&p, s_script_engines, NULL);
    ipp_client_t *c = peer_client(&p, 5);
    ipp_error_t err;
    ck_assert_int_eq(ipp_client_wait_for_engines(c, 4, 5, &err), IPP_OK);
    int ids[8];
    size_t n = ipp_client_ids(c, ids, 8);
    ck_assert_uint_eq(n, 4);
    ck_assert_int_eq(ids[3], 7);
    ipp_strv_t h;
    ck_assert_int_eq(ipp_client_history(c, &h, &err), IPP_OK);
    ck_assert_uint_eq(h.n, 0);
    ipp_strv_fini(&h);
    int64_t end = ipp_clock_mono_us() + 3000000;
    while (ipp_client_ids(c, NULL, 0) != 3 && ipp_clock_mono_us() < end)
        ipp_client_spin(c, 0.1, &err);
    n = ipp_client_ids(c, ids, 8);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(ids[0], 0);
    ck_assert_int_eq(ids[1], 2);
    ck_assert_int_eq(ids[2], 7);
    ipp_engine_info_t info[8];
    ck_assert_uint_eq(ipp_client_engines(c, info, 8), 4);  // 1 is kept, not alive
    ck_assert(!info[1].alive);
    ck_assert_str_eq(info[3].hostname, "newhost");
    // A direct view on an engine that left is refused.
    int one = 1;
    ck_assert_ptr_null(ipp_client_direct_view(c, &one, 1, &err));
    ck_assert_int_eq(err.code, IPP_ERR_INVALID);
    peer_join(&p);
    ipp_client_destroy(&c);
    peer_stop(&p);
}
END_TEST

// s_reply_engines: answer list request m with engines ids[0..n).
static void s_reply_engines(peer_t *p, const wire_msg_t *m, const int *ids, size_t n)
{
    Ipp__EngineListReply r = IPP__ENGINE_LIST_REPLY__INIT;
    Ipp__EngineInfo e[4];
    Ipp__EngineInfo *ep[4];
    for (size_t i = 0; i < n && i < 4; i++) {
        e[i] = (Ipp__EngineInfo)IPP__ENGINE_INFO__INIT;
        e[i].has_engine_id = 1;
        e[i].engine_id = ids[i];
        e[i].has_alive = 1;
        e[i].alive = 1;
        ep[i] = &e[i];
    }
    r.n_engines = n;
    r.engines = ep;
    peer_reply(p, m, IPP__MSG_TYPE__ENGINE_LIST_REPLY, &r.base, NULL, 0);
}

// An engine registers after the client's subscriptions left it but before
// they are live at the controller (a manual XPUB holds them until this
// script reads them): its ENGINE_EVENT is published to nobody. The client
// must still learn of it.
static void s_script_late_subscription(peer_t *p)
{
    if (!peer_handshake(p, NULL, 0))
        return;
    wire_msg_t m;
    wire_msg_init(&m);
    static const int nine[] = {9};
    bool registered = false;
    // A list asked for now (before any subscription is live) is empty;
    // engine 9 registers right after it, or after 300 ms without one.
    int got = peer_recv(p, &m, 300);
    if (got == IPP__MSG_TYPE__ENGINE_LIST_REQUEST)
        s_reply_engines(p, &m, NULL, 0);
    else if (got) {
        peer_fail(p, "unexpected %s", wire_type_name(got));
        goto out;
    }
    wire_msg_fini(&m);
    Ipp__EngineInfo info = IPP__ENGINE_INFO__INIT;
    info.has_engine_id = 1;
    info.engine_id = 9;
    Ipp__EngineEvent ev = IPP__ENGINE_EVENT__INIT;
    ev.has_kind = 1;
    ev.kind = IPP__ENGINE_EVENT__KIND__REGISTERED;
    ev.engine = &info;
    peer_publish(p, "engine", IPP__MSG_TYPE__ENGINE_EVENT, &ev.base);  // heard by nobody
    registered = true;
    // Now the subscriptions become live (and sync.<session> is confirmed).
    if (!peer_saw_sub(p, "+engine", 2000)) {
        peer_fail(p, "client never subscribed to engine events");
        goto out;
    }
    peer_read_subs(p, 100);
    // Every later list holds engine 9.
    while ((got = peer_recv(p, &m, 1000)) == IPP__MSG_TYPE__ENGINE_LIST_REQUEST) {
        s_reply_engines(p, &m, registered ? nine : NULL, registered ? 1 : 0);
        wire_msg_fini(&m);
    }
out:
    wire_msg_fini(&m);
}

START_TEST(test_engine_registered_while_subscribing)
{
    peer_t p;
    peer_start_opts(&p, true);
    peer_run(&p, s_script_late_subscription, NULL);
    ipp_client_t *c = peer_client(&p, 5);
    ipp_error_t err;
    ck_assert_msg(ipp_client_wait_for_engines(c, 1, 4, &err) == IPP_OK, "%s", err.msg);
    int ids[2];
    ck_assert_uint_eq(ipp_client_ids(c, ids, 2), 1);
    ck_assert_int_eq(ids[0], 9);
    ipp_client_destroy(&c);
    peer_join(&p);
    peer_stop(&p);
}
END_TEST

// The controller publishes an engine's registration (seq 7) and then
// answers a list request with a list it made before (seq 5, without that
// engine): the reply, on the other socket, arrives after the event. The
// event is newer and must not be undone by the older list.
static void s_script_list_overtaken(peer_t *p)
{
    if (!peer_handshake(p, NULL, 0))
        return;
    wire_msg_t m;
    wire_msg_init(&m);
    if (!peer_expect(p, &m, IPP__MSG_TYPE__ENGINE_LIST_REQUEST, 5000))
        goto out;
    Ipp__EngineInfo info = IPP__ENGINE_INFO__INIT;
    info.has_engine_id = 1;
    info.engine_id = 4;
    Ipp__EngineEvent ev = IPP__ENGINE_EVENT__INIT;
    ev.has_kind = 1;
    ev.kind = IPP__ENGINE_EVENT__KIND__REGISTERED;
    ev.engine = &info;
    ev.has_seq = 1;
    ev.seq = 7;
    peer_publish(p, "engine", IPP__MSG_TYPE__ENGINE_EVENT, &ev.base);
    usleep(200000);  // the client reads the event first
    Ipp__EngineListReply r = IPP__ENGINE_LIST_REPLY__INIT;
    r.has_seq = 1;
    r.seq = 5;
    peer_reply(p, &m, IPP__MSG_TYPE__ENGINE_LIST_REPLY, &r.base, NULL, 0);
    wire_msg_fini(&m);
    // A stale event (seq 6, engine 4 leaving) changes nothing either.
    ev.kind = IPP__ENGINE_EVENT__KIND__UNREGISTERED;
    ev.seq = 6;
    peer_publish(p, "engine", IPP__MSG_TYPE__ENGINE_EVENT, &ev.base);
    // A later list (seq 9) without engine 4 wins over the event.
    if (!peer_expect(p, &m, IPP__MSG_TYPE__ENGINE_LIST_REQUEST, 5000))
        goto out;
    r.seq = 9;
    peer_reply(p, &m, IPP__MSG_TYPE__ENGINE_LIST_REPLY, &r.base, NULL, 0);
out:
    wire_msg_fini(&m);
}

START_TEST(test_engine_list_overtaken_by_event)
{
    peer_t p;
    peer_start(&p);
    peer_run(&p, s_script_list_overtaken, NULL);
    ipp_client_t *c = peer_client(&p, 5);
    ipp_error_t err;
    ck_assert_msg(ipp_client_wait_for_engines(c, 1, 4, &err) == IPP_OK, "%s", err.msg);
    // Let the stale event arrive; engine 4 stays.
    ipp_client_spin(c, 0.3, &err);
    int ids[2];
    ck_assert_uint_eq(ipp_client_ids(c, ids, 2), 1);
    ck_assert_int_eq(ids[0], 4);
    ck_assert_int_eq(ipp_client_refresh_engines(c, &err), IPP_OK);
    ck_assert_uint_eq(ipp_client_ids(c, ids, 2), 0);
    ipp_client_destroy(&c);
    peer_join(&p);
    peer_stop(&p);
}
END_TEST

// ----------------------------------------------------------------- abort

static void s_script_abort(peer_t *p)
{
    if (!peer_handshake(p, s_three, 3))
        return;
    wire_msg_t m;
    wire_msg_init(&m);
    char ids[3][40];
    for (int i = 0; i < 3; i++) {
        if (!peer_expect(p, &m, IPP__MSG_TYPE__TASK_REQUEST, 5000))
            goto out;
        snprintf(ids[i], sizeof ids[i], "%s", m.header->msg_id);
        peer_accept(p, &m);
    }
    peer_result(p, ids[0], IPP__STATUS__OK, 0, "done", 0, 0);
    if (!peer_expect(p, &m, IPP__MSG_TYPE__ABORT_REQUEST, 5000))
        goto out;
    const Ipp__AbortRequest *q = (const Ipp__AbortRequest *)m.content;
    // Only the unfinished ones are asked for.
    if (q->n_msg_ids != 2 || strcmp(q->msg_ids[0], ids[1]) || strcmp(q->msg_ids[1], ids[2]) ||
        q->n_targets) {
        peer_fail(p, "abort request lists %zu ids", q->n_msg_ids);
        goto out;
    }
    Ipp__AbortReply r = IPP__ABORT_REPLY__INIT;
    char *ab[] = {ids[1]};
    char *np[] = {ids[2]};
    r.n_aborted = 1;
    r.aborted = ab;
    r.n_not_pending = 1;
    r.not_pending = np;
    peer_reply(p, &m, IPP__MSG_TYPE__ABORT_REPLY, &r.base, NULL, 0);
    peer_result(p, ids[1], IPP__STATUS__ABORTED, -1, NULL, 0, 0);
    peer_result(p, ids[2], IPP__STATUS__OK, 1, "ran", 0, 0);
out:
    wire_msg_fini(&m);
}

START_TEST(test_abort)
{
    peer_t p;
    peer_start(&p);
    peer_run(&p, s_script_abort, NULL);
    ipp_client_t *c = peer_client(&p, 5);
    ipp_error_t err;
    ipp_view_t *lb = ipp_client_lb_view(c, &err);
    ipp_buf_t items[3] = {{"a", 1, NULL, NULL}, {"b", 1, NULL, NULL}, {"c", 1, NULL, NULL}};
    ipp_ar_t *ar = ipp_view_map(lb, "f", items, 3, 1, NULL, &err);
    ck_assert_int_eq(ipp_ar_wait_task(ar, 0, 5, &err), IPP_OK);
    size_t aborted = 99;
    ck_assert_int_eq(ipp_ar_abort(ar, &aborted, &err), IPP_OK);
    ck_assert_uint_eq(aborted, 1);
    ck_assert_int_eq(ipp_ar_get(ar, 5, &err), IPP_ERR_REMOTE);
    ck_assert_int_eq(ipp_ar_status(ar, 1), IPP_STATUS_ABORTED);
    ck_assert_int_eq(ipp_ar_status(ar, 2), IPP_STATUS_OK);
    ck_assert_int_eq(ipp_ar_error(ar, 1)->code, IPP_ERR_ABORTED);
    // Nothing left to abort: no request.
    ck_assert_int_eq(ipp_ar_abort(ar, &aborted, &err), IPP_OK);
    ck_assert_uint_eq(aborted, 0);
    peer_join(&p);
    ipp_ar_destroy(&ar);
    ipp_view_destroy(&lb);
    ipp_client_destroy(&c);
    peer_stop(&p);
}
END_TEST

// --------------------------------------------------- zero-copy arguments

static int s_freed;
static void s_free_count(void *data, void *hint)
{
    (void)hint;
    __atomic_add_fetch(&s_freed, 1, __ATOMIC_SEQ_CST);
    free(data);
}

static void s_script_three_same(peer_t *p)
{
    if (!peer_handshake(p, s_three, 3))
        return;
    wire_msg_t m;
    wire_msg_init(&m);
    for (int i = 0; i < 3; i++) {
        if (!peer_expect(p, &m, IPP__MSG_TYPE__TASK_REQUEST, 5000))
            break;
        size_t len;
        const char *d = wire_msg_buffer(&m, 0, &len);
        if (len != 100000 || d[0] != 'z' || d[99999] != 'z') {
            peer_fail(p, "task %d: argument damaged (%zu bytes)", i, len);
            break;
        }
        peer_accept(p, &m);
        peer_result(p, m.header->msg_id, IPP__STATUS__OK, i, NULL, 0, 0);
    }
    wire_msg_fini(&m);
}

START_TEST(test_zero_copy_args)
{
    s_freed = 0;
    peer_t p;
    peer_start(&p);
    peer_run(&p, s_script_three_same, NULL);
    ipp_client_t *c = peer_client(&p, 5);
    ipp_error_t err;
    ipp_view_t *dv = ipp_client_direct_view(c, NULL, 0, &err);
    char *big = malloc(100000);
    memset(big, 'z', 100000);
    ipp_buf_t arg = {big, 100000, s_free_count, NULL};
    ipp_ar_t *ar = ipp_view_apply(dv, "sum", &arg, 1, NULL, &err);
    ck_assert_int_eq(ipp_ar_get(ar, 5, &err), IPP_OK);
    peer_join(&p);
    // Sent three times, released once (possibly from ZeroMQ's thread).
    int64_t end = ipp_clock_mono_us() + 2000000;
    while (__atomic_load_n(&s_freed, __ATOMIC_SEQ_CST) == 0 && ipp_clock_mono_us() < end)
        usleep(1000);
    ck_assert_int_eq(s_freed, 1);
    // Handed over but refused (bad function name): released at once.
    char *again = malloc(8);
    ipp_buf_t bad = {again, 8, s_free_count, NULL};
    ck_assert_ptr_null(ipp_view_apply(dv, "", &bad, 1, NULL, &err));
    ck_assert_int_eq(err.code, IPP_ERR_INVALID);
    ck_assert_int_eq(s_freed, 2);
    ipp_ar_destroy(&ar);
    ipp_view_destroy(&dv);
    ipp_client_destroy(&c);
    peer_stop(&p);
}
END_TEST

// ------------------------------------------- client gone, results remain

START_TEST(test_client_destroyed_first)
{
    peer_t p;
    peer_start(&p);
    int n = 1;
    peer_run(&p, s_script_two_ok, &n);
    ipp_client_t *c = peer_client(&p, 5);
    ipp_error_t err;
    ipp_view_t *lb = ipp_client_lb_view(c, &err);
    ipp_ar_t *done = ipp_view_apply(lb, "f", NULL, 0, NULL, &err);
    ck_assert_int_eq(ipp_ar_get(done, 5, &err), IPP_OK);
    peer_join(&p);
    ipp_ar_t *pending = ipp_view_apply(lb, "g", NULL, 0, NULL, &err);
    ck_assert_ptr_nonnull(pending);
    ipp_client_destroy(&c);
    // Still readable; waits say the client is gone.
    size_t nb;
    ck_assert_ptr_nonnull(ipp_ar_result(done, 0, &nb));
    ck_assert_uint_eq(nb, 1);
    ck_assert_int_eq(ipp_ar_get(done, 0, &err), IPP_OK);
    ck_assert_int_eq(ipp_ar_wait(pending, 1, &err), IPP_ERR_CLOSED);
    ck_assert_int_eq(ipp_ar_abort(pending, NULL, &err), IPP_ERR_CLOSED);
    ck_assert_ptr_null(ipp_view_apply(lb, "h", NULL, 0, NULL, &err));
    ck_assert_int_eq(err.code, IPP_ERR_CLOSED);
    ipp_ar_destroy(&pending);
    ipp_ar_destroy(&done);
    ipp_view_destroy(&lb);
    peer_stop(&p);
}
END_TEST

static Suite *s_suite(void)
{
    Suite *s = suite_create("client");
    TCase *tc = tcase_create("client");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_connect_ok);
    tcase_add_test(tc, test_connect_timeout);
    tcase_add_test(tc, test_connect_wrong_key);
    tcase_add_test(tc, test_connect_file_errors);
    tcase_add_test(tc, test_connect_profile);
    tcase_add_test(tc, test_apply_result);
    tcase_add_test(tc, test_remote_error);
    tcase_add_test(tc, test_composite_error);
    tcase_add_test(tc, test_get_dict);
    tcase_add_test(tc, test_metadata_timing);
    tcase_add_test(tc, test_done_callbacks);
    tcase_add_test(tc, test_callback_destroys_waited);
    tcase_add_test(tc, test_iteration);
    tcase_add_test(tc, test_refused_submission);
    tcase_add_test(tc, test_wait_timeout_and_shutdown);
    tcase_add_test(tc, test_request_timeout);
    tcase_add_test(tc, test_wait_interactive_plain);
    tcase_add_test(tc, test_wait_interactive_tty);
    tcase_add_test(tc, test_pollable_fd);
    tcase_add_test(tc, test_engine_events);
    tcase_add_test(tc, test_engine_list_asked_again_while_short);
    tcase_add_test(tc, test_engine_registered_while_subscribing);
    tcase_add_test(tc, test_engine_list_overtaken_by_event);
    tcase_add_test(tc, test_abort);
    tcase_add_test(tc, test_zero_copy_args);
    tcase_add_test(tc, test_client_destroyed_first);
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
