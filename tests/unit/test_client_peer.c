/* test_client_peer.c — the scripted controller of the libipp tests (see
 * test_client_peer.h).
 */
#include "test_client_peer.h"

#include "ipp/ipp.h"
#include "proto/clock.h"
#include "proto/codec.h"
#include "proto/conn.h"
#include "proto/wire.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

ipp_logger_t peer_log = {IPP_LOG_ERROR, NULL, "peer"};

// peer_fail: record the first failure.
void peer_fail(peer_t *p, const char *fmt, ...)
{
    if (p->fail[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->fail, sizeof p->fail, fmt, ap);
    va_end(ap);
}

// peer_start_opts: sockets, connection file, session (fails the test on
// error). With manual, the XPUB applies a
// subscription only when the script reads it (peer_read_subs), so a script
// decides when the client's subscriptions become live.
void peer_start_opts(peer_t *p, bool manual)
{
    memset(p, 0, sizeof *p);
    p->manual = manual;
    snprintf(p->dir, sizeof p->dir, "/tmp/ipp-client-test-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(p->dir));
    snprintf(p->conn, sizeof p->conn, "%s/ipp-client.json", p->dir);
    p->ctx = zmq_ctx_new();
    ck_assert_ptr_nonnull(p->ctx);
    p->router = zmq_socket(p->ctx, ZMQ_ROUTER);
    p->xpub = zmq_socket(p->ctx, ZMQ_XPUB);
    int one = 1, zero = 0;
    zmq_setsockopt(p->router, ZMQ_ROUTER_HANDOVER, &one, sizeof one);
    zmq_setsockopt(p->router, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(p->xpub, ZMQ_XPUB_VERBOSE, &one, sizeof one);
    zmq_setsockopt(p->xpub, ZMQ_LINGER, &zero, sizeof zero);
    // A controller must not drop what it sends a slow client: queue deep,
    // and block rather than drop at the limit.
    zmq_setsockopt(p->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    int hwm = 200000;
    zmq_setsockopt(p->router, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(p->router, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(p->xpub, ZMQ_SNDHWM, &hwm, sizeof hwm);
    if (manual)
        zmq_setsockopt(p->xpub, ZMQ_XPUB_MANUAL, &one, sizeof one);
    ck_assert_int_eq(zmq_bind(p->router, "tcp://127.0.0.1:*"), 0);
    ck_assert_int_eq(zmq_bind(p->xpub, "tcp://127.0.0.1:*"), 0);
    char ep[128], np[128];
    size_t len = sizeof ep;
    zmq_getsockopt(p->router, ZMQ_LAST_ENDPOINT, ep, &len);
    len = sizeof np;
    zmq_getsockopt(p->xpub, ZMQ_LAST_ENDPOINT, np, &len);
    snprintf(p->endpoint, sizeof p->endpoint, "%s", ep);
    conn_info_t info;
    conn_info_init(&info, CONN_CLIENT);
    conn_info_new_key(&info);
    info.client_port = atoi(strrchr(ep, ':') + 1);
    info.notify_port = atoi(strrchr(np, ':') + 1);
    info.controller_pid = (int)getpid();
    ipp_error_t err;
    ck_assert_int_eq(conn_write(p->conn, &info, &err), IPP_OK);
    wire_opts_t wo;
    memset(&wo, 0, sizeof wo);
    wo.key = info.key;
    wo.key_len = info.key_len;
    wo.log = &peer_log;
    p->ws = wire_session_new(&wo, &err);
    ck_assert_ptr_nonnull(p->ws);
}

// peer_start: peer_start_opts without manual: subscriptions are live as
// soon as they arrive.
void peer_start(peer_t *p)
{
    peer_start_opts(p, false);
}

static void *s_peer_main(void *arg)
{
    peer_t *p = arg;
    p->script(p);
    return NULL;
}

// peer_run: run script on the peer's thread.
void peer_run(peer_t *p, peer_script_fn script, void *arg)
{
    p->script = script;
    p->arg = arg;
    ck_assert_int_eq(pthread_create(&p->th, NULL, s_peer_main, p), 0);
    p->running = true;
}

// peer_join: wait for the script; fail the test with its failure.
void peer_join(peer_t *p)
{
    if (p->running)
        pthread_join(p->th, NULL);
    p->running = false;
    ck_assert_msg(p->fail[0] == '\0', "peer: %s", p->fail);
}

// peer_stop: close everything, remove the folder.
void peer_stop(peer_t *p)
{
    if (p->running)
        pthread_join(p->th, NULL);
    p->running = false;
    wire_session_destroy(&p->ws);
    zmq_close(p->router);
    zmq_close(p->xpub);
    zmq_ctx_term(p->ctx);
    unlink(p->conn);
    rmdir(p->dir);
}

// peer_read_subs: record every subscription message waiting on the XPUB.
void peer_read_subs(peer_t *p, int timeout_ms)
{
    zmq_pollitem_t it = {p->xpub, 0, ZMQ_POLLIN, 0};
    while (zmq_poll(&it, 1, timeout_ms) > 0) {
        char buf[128];
        int n = zmq_recv(p->xpub, buf, sizeof buf - 1, ZMQ_DONTWAIT);
        if (n <= 0)
            break;
        buf[n] = '\0';
        if (p->manual)
            zmq_setsockopt(p->xpub, buf[0] ? ZMQ_SUBSCRIBE : ZMQ_UNSUBSCRIBE, buf + 1,
                           (size_t)n - 1);
        if (p->n_subs < 64)
            snprintf(p->subs[p->n_subs++], sizeof p->subs[0], "%c%s", buf[0] ? '+' : '-', buf + 1);
        if (buf[0] && strncmp(buf + 1, "sync.", 5) == 0) {
            // As the controller does: the subscriptions before it are live.
            Ipp__Subscribed ok = IPP__SUBSCRIBED__INIT;
            ok.topic = buf + 1;
            wire_frame_t t = {buf + 1, (size_t)n - 1};
            if (wire_send(p->ws, p->xpub, &t, 1, IPP__MSG_TYPE__SUBSCRIBED, NULL, &ok.base, NULL, 0,
                          0, NULL, NULL) != IPP_OK)
                peer_fail(p, "peer could not confirm %s", buf + 1);
        }
        timeout_ms = 0;
    }
}

// peer_saw_sub: the client sent this subscription ("+topic" or "-topic"),
// waiting up to timeout_ms for it.
bool peer_saw_sub(peer_t *p, const char *what, int timeout_ms)
{
    int64_t end = ipp_clock_mono_us() + (int64_t)timeout_ms * 1000;
    for (;;) {
        for (size_t i = 0; i < p->n_subs; i++)
            if (strcmp(p->subs[i], what) == 0)
                return true;
        int64_t left = end - ipp_clock_mono_us();
        if (left <= 0)
            return false;
        peer_read_subs(p, (int)(left / 1000) + 1);
    }
}

// peer_recv: the next message from the client (any type) into m, waiting
// up to timeout_ms. Returns its type, 0 on timeout.
int peer_recv(peer_t *p, wire_msg_t *m, int timeout_ms)
{
    // Subscriptions are read (and confirmed) while waiting, as the
    // controller does, except by a manual peer: its script reads them.
    zmq_pollitem_t it[2] = {{p->router, 0, ZMQ_POLLIN, 0}, {p->xpub, 0, ZMQ_POLLIN, 0}};
    int64_t end = ipp_clock_mono_us() + (int64_t)timeout_ms * 1000;
    for (;;) {
        int64_t left = end - ipp_clock_mono_us();
        if (left < 0)
            left = 0;
        if (zmq_poll(it, p->manual ? 1 : 2, (long)(left / 1000)) <= 0)
            return 0;
        if (it[1].revents & ZMQ_POLLIN)
            peer_read_subs(p, 0);
        if (!(it[0].revents & ZMQ_POLLIN))
            continue;
        ipp_error_t err;
        ipp_err_t rc = wire_recv(p->ws, p->router, ZMQ_DONTWAIT, m, &err);
        if (rc == IPP_ERR_ZMQ && errno == EAGAIN)
            continue;
        if (rc != IPP_OK) {
            peer_fail(p, "peer could not read a client message: %s", err.msg);
            return 0;
        }
        wire_frame_t id;
        if (wire_msg_idents(m, &id, 1) >= 1 && id.size <= sizeof p->ident) {
            memcpy(p->ident, id.data, id.size);
            p->ident_len = id.size;
        }
        return wire_msg_type(m);
    }
}

// peer_expect: the next message must be of type (returns false and records
// the failure otherwise).
bool peer_expect(peer_t *p, wire_msg_t *m, int type, int timeout_ms)
{
    int got = peer_recv(p, m, timeout_ms);
    if (got != type) {
        peer_fail(p, "expected %s, got %s", wire_type_name(type),
                  got ? wire_type_name(got) : "nothing (timeout)");
        return false;
    }
    return true;
}

// peer_send: send to the last client heard from; takes bufs.
void peer_send(peer_t *p, int type, const char *parent, const ProtobufCMessage *content,
               zmq_msg_t *bufs, size_t n)
{
    wire_frame_t id = {p->ident, p->ident_len};
    ipp_err_t rc = wire_send(p->ws, p->router, &id, 1, (Ipp__MsgType)type, parent, content, bufs, n,
                             0, NULL, NULL);
    if (rc != IPP_OK)
        peer_fail(p, "peer could not send %s", wire_type_name(type));
}

// peer_reply: answer request m.
void peer_reply(peer_t *p, const wire_msg_t *m, int type, const ProtobufCMessage *content,
                zmq_msg_t *bufs, size_t n)
{
    peer_send(p, type, m->header->msg_id, content, bufs, n);
}

// peer_error: answer request m with an ERROR_REPLY.
void peer_error(peer_t *p, const wire_msg_t *m, int code, const char *ename, const char *evalue,
                const char *field)
{
    Ipp__ErrorReply er = IPP__ERROR_REPLY__INIT;
    er.has_code = 1;
    er.code = code;
    er.ename = (char *)ename;
    er.evalue = (char *)evalue;
    er.field = (char *)field;
    peer_reply(p, m, IPP__MSG_TYPE__ERROR_REPLY, &er.base, NULL, 0);
}

// peer_publish: a notification under topic.
void peer_publish(peer_t *p, const char *topic, int type, const ProtobufCMessage *content)
{
    wire_frame_t t = {topic, strlen(topic)};
    if (wire_send(p->ws, p->xpub, &t, 1, (Ipp__MsgType)type, NULL, content, NULL, 0, 0, NULL,
                  NULL) != IPP_OK)
        peer_fail(p, "peer could not publish %s", topic);
}

// peer_bufs: frames holding the given strings (for replies).
void peer_bufs(zmq_msg_t *out, size_t n, ...)
{
    va_list ap;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++) {
        const char *s = va_arg(ap, const char *);
        zmq_msg_init_size(&out[i], strlen(s));
        memcpy(zmq_msg_data(&out[i]), s, strlen(s));
    }
    va_end(ap);
}

// peer_buf_is: buffer i of m holds exactly s.
bool peer_buf_is(const wire_msg_t *m, size_t i, const char *s)
{
    if (i >= wire_msg_n_buffers(m))
        return false;
    size_t len;
    const void *d = wire_msg_buffer(m, i, &len);
    return len == strlen(s) && memcmp(d, s, len) == 0;
}

// peer_handshake: answer CONNECT_REQUEST with engines ids[0..n).
bool peer_handshake(peer_t *p, const int *ids, size_t n)
{
    wire_msg_t m;
    wire_msg_init(&m);
    bool ok = peer_expect(p, &m, IPP__MSG_TYPE__CONNECT_REQUEST, 5000);
    if (ok) {
        Ipp__ConnectReply r = IPP__CONNECT_REPLY__INIT;
        Ipp__EngineInfo infos[16];
        Ipp__EngineInfo *ptrs[16];
        char uuids[16][40], hosts[16][32];
        for (size_t i = 0; i < n && i < 16; i++) {
            infos[i] = (Ipp__EngineInfo)IPP__ENGINE_INFO__INIT;
            infos[i].has_engine_id = 1;
            infos[i].engine_id = ids[i];
            snprintf(uuids[i], sizeof uuids[i], "00000000-0000-4000-8000-%012d", ids[i]);
            snprintf(hosts[i], sizeof hosts[i], "host%d", ids[i]);
            infos[i].uuid = uuids[i];
            infos[i].hostname = hosts[i];
            infos[i].has_pid = 1;
            infos[i].pid = 1000 + ids[i];
            infos[i].has_alive = 1;
            infos[i].alive = 1;
            ptrs[i] = &infos[i];
        }
        r.n_engines = n;
        r.engines = ptrs;
        r.controller_session = (char *)"controller-session";
        peer_reply(p, &m, IPP__MSG_TYPE__CONNECT_REPLY, &r.base, NULL, 0);
    }
    wire_msg_fini(&m);
    return ok;
}

// peer_task_id: the msg_id of a TASK_REQUEST (its header's).
const char *peer_task_id(const wire_msg_t *m)
{
    return m->header->msg_id;
}

// peer_accept: SUBMIT_REPLY accepted for task request m.
void peer_accept(peer_t *p, const wire_msg_t *m)
{
    Ipp__SubmitReply r = IPP__SUBMIT_REPLY__INIT;
    r.msg_id = m->header->msg_id;
    r.has_accepted = 1;
    r.accepted = 1;
    peer_reply(p, m, IPP__MSG_TYPE__SUBMIT_REPLY, &r.base, NULL, 0);
}

// peer_result: a TASK_RESULT for task id (status, engine, one optional
// buffer, stamps).
void peer_result(peer_t *p, const char *id, int status, int engine, const char *buf,
                 int64_t started, int64_t completed)
{
    Ipp__TaskResult r = IPP__TASK_RESULT__INIT;
    r.has_status = 1;
    r.status = (Ipp__Status)status;
    r.has_engine_id = 1;
    r.engine_id = engine;
    r.msg_id = (char *)id;
    if (started) {
        r.has_started = 1;
        r.started = started;
    }
    if (completed) {
        r.has_completed = 1;
        r.completed = completed;
    }
    zmq_msg_t b[1];
    size_t nb = 0;
    if (buf) {
        peer_bufs(b, 1, buf);
        nb = 1;
    }
    peer_send(p, IPP__MSG_TYPE__TASK_RESULT, id, &r.base, b, nb);
}

// peer_client: connect to the peer (which must be running a handshake).
ipp_client_t *peer_client(peer_t *p, double timeout)
{
    ipp_error_t err;
    ipp_client_opts_t o;
    memset(&o, 0, sizeof o);
    o.connection_file = p->conn;
    o.timeout = timeout;
    o.log_level = IPP_LOG_LEVEL_ERROR;
    ipp_client_t *c = ipp_client_new(&o, &err);
    ck_assert_msg(c != NULL, "connect: %s", err.msg);
    return c;
}
