/* client.c — the Client: connection and lifecycle, sending, blocking
 * requests.
 *
 * Owns the ZeroMQ context and sockets (a DEALER whose routing id is the
 * session uuid, a SUB for notifications), the wire session, the msg_id
 * index and the lists of live views and AsyncResults (which it detaches on
 * destroy so they stay safe to read and free). The receive loop is in
 * recv.c, the engine list in engines.c.
 *
 * One thread, no timers: everything arrives through cl_pump, called by
 * whichever public call is waiting. Sending never waits on a reply and
 * never blocks unboundedly: a full queue is met by reading input while
 * waiting for room, with the request timeout as the bound. Nothing here
 * may abort the process on what the network sends.
 */
#include "client/internal.h"

#include "proto/clock.h"
#include "proto/conn.h"
#include "proto/zpoll.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define S_DEFAULT_TIMEOUT_US (10LL * 1000000)
#define S_DRAIN_EVERY 256  // submissions between two looks at the input

// ------------------------------------------------------------- small helpers

int64_t cl_mono_us(void)
{
    return ipp_clock_mono_us();
}

int64_t cl_timeout_us(double seconds)
{
    if (seconds < 0)
        return -1;
    if (seconds > 1e12)
        return INT64_MAX / 4;
    return (int64_t)(seconds * 1e6);
}

char *cl_strdup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

void cl_strv_free(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

char **cl_strv_dup(char *const *v, size_t n)
{
    if (!n)
        return NULL;
    char **out = calloc(n, sizeof *out);
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        out[i] = strdup(v[i] ? v[i] : "");
        if (!out[i]) {
            cl_strv_free(out, i);
            return NULL;
        }
    }
    return out;
}

void ipp_strv_fini(ipp_strv_t *sv)
{
    if (!sv)
        return;
    cl_strv_free(sv->v, sv->n);
    sv->v = NULL;
    sv->n = 0;
}

void ipp_intv_fini(ipp_intv_t *iv)
{
    if (!iv)
        return;
    free(iv->v);
    iv->v = NULL;
    iv->n = 0;
}

ipp_err_t cl_error_from_reply(const Ipp__ErrorReply *er, const char *what, ipp_error_t *err)
{
    ipp_err_t code = IPP_ERR_INVALID;
    if (er && er->has_code && er->code > 0 && er->code < IPP_ERR__END)
        code = (ipp_err_t)er->code;
    const char *ename = (er && er->ename) ? er->ename : ipp_errname(code);
    const char *evalue = (er && er->evalue) ? er->evalue : ipp_strerror(code);
    if (er && er->field && er->field[0])
        return ipp_error_set(err, code, "%s: %s: %s (field %s)", what, ename, evalue, er->field);
    return ipp_error_set(err, code, "%s: %s: %s", what, ename, evalue);
}

// ------------------------------------------------------------- sending

// s_tx_reset: empty the send buffer, keeping its frame array.
static void s_tx_reset(ipp_client_t *c)
{
    wire_msg_t *m = &c->tx;
    for (size_t i = 0; i < m->n_frames; i++)
        zmq_msg_close(&m->frames[i]);
    m->n_frames = 0;
    m->n_idents = 0;
    m->first_buffer = 0;
    c->tx_busy = false;
}

ipp_err_t cl_send(ipp_client_t *c, Ipp__MsgType type, const ProtobufCMessage *content,
                  zmq_msg_t *buffers, size_t n_buffers, const char *msg_id, char *id_out,
                  ipp_error_t *err)
{
    if (c->tx_busy) {
        // A send from inside a send (a callback would have to run in the
        // middle of one): refuse rather than corrupt the frame being sent.
        for (size_t i = 0; i < n_buffers; i++)
            zmq_msg_close(&buffers[i]);
        return ipp_error_set(err, IPP_ERR_INVALID, "client: send while sending");
    }
    c->tx_busy = true;
    ipp_err_t rc =
        wire_pack(c->ws, &c->tx, NULL, 0, type, NULL, content, buffers, n_buffers, msg_id, id_out);
    if (rc != IPP_OK) {
        s_tx_reset(c);
        return ipp_error_set(err, rc, "client: cannot pack %s: %s", wire_type_name(type),
                             ipp_strerror(rc));
    }
    wire_msg_t *m = &c->tx;
    int64_t deadline = -1;
    size_t i = 0;
    while (i < m->n_frames) {
        int more = (i + 1 < m->n_frames) ? ZMQ_SNDMORE : 0;
        if (zmq_msg_send(&m->frames[i], c->dealer, ZMQ_DONTWAIT | more) >= 0) {
            i++;
            continue;
        }
        int e = errno;
        if (e == EINTR)
            continue;
        if (e != EAGAIN || i > 0) {
            s_tx_reset(c);
            return ipp_error_set(err, IPP_ERR_ZMQ, "client: cannot send %s: %s",
                                 wire_type_name(type), zmq_strerror(e));
        }
        // The queue to the controller is full. Read what it sent us (it may
        // be waiting for us to read before it reads more), then wait for room.
        int64_t now = cl_mono_us();
        if (deadline < 0)
            deadline = now + c->timeout_us;
        if (now >= deadline) {
            s_tx_reset(c);
            return ipp_error_set(err, IPP_ERR_TIMEOUT,
                                 "client: the controller at %s took no message for %.1f s",
                                 c->endpoint, (double)c->timeout_us / 1e6);
        }
        cl_drain(c);
        zmq_pollitem_t items[2] = {{c->dealer, 0, ZMQ_POLLIN | ZMQ_POLLOUT, 0},
                                   {c->sub, 0, ZMQ_POLLIN, 0}};
        long ms = (long)((deadline - now + 999) / 1000);
        if (ms > 100)
            ms = 100;
        ipp_zpoll(items, 2, ms);
    }
    s_tx_reset(c);
    return IPP_OK;
}

void cl_maybe_drain(ipp_client_t *c)
{
    if (++c->sends_since_drain < S_DRAIN_EVERY)
        return;
    c->sends_since_drain = 0;
    cl_drain(c);
}

void cl_subscribe_done(ipp_client_t *c, const char *id, bool on)
{
    char topic[8 + IPP_MSGID_LEN];
    int len = snprintf(topic, sizeof topic, "done.%s", id);
    if (zmq_setsockopt(c->sub, on ? ZMQ_SUBSCRIBE : ZMQ_UNSUBSCRIBE, topic, (size_t)len) != 0)
        IPP_LOGW(&c->log, "client: cannot %ssubscribe %s: %s", on ? "" : "un", topic,
                 zmq_strerror(errno));
}

ipp_err_t ipp_client_follow_tasks(ipp_client_t *c, ipp_task_done_fn *fn, void *arg,
                                  ipp_error_t *err)
{
    if (!c)
        return ipp_error_set(err, IPP_ERR_INVALID, "follow_tasks: no client");
    bool was = c->follow_fn != NULL;
    if ((fn != NULL) != was &&
        zmq_setsockopt(c->sub, fn ? ZMQ_SUBSCRIBE : ZMQ_UNSUBSCRIBE, "done.", 5) != 0)
        return ipp_error_set(err, IPP_ERR_ZMQ, "follow_tasks: cannot %ssubscribe: %s",
                             fn ? "" : "un", zmq_strerror(errno));
    c->follow_fn = fn;
    c->follow_arg = arg;
    return IPP_OK;
}

ipp_err_t cl_hubreq_add(ipp_client_t *c, const char *req_id, const cl_id_t *ids, size_t n)
{
    cl_hubreq_t *r = calloc(1, sizeof *r);
    if (!r)
        return IPP_ERR_NOMEM;
    if (n) {
        r->ids = malloc(n * sizeof *r->ids);
        if (!r->ids) {
            free(r);
            return IPP_ERR_NOMEM;
        }
        memcpy(r->ids, ids, n * sizeof *ids);
    }
    r->n = n;
    memcpy(r->id, req_id, sizeof r->id);
    r->next = c->hubreqs;
    c->hubreqs = r;
    return IPP_OK;
}

void cl_hubreq_free(cl_hubreq_t *r)
{
    if (!r)
        return;
    free(r->ids);
    free(r);
}

// ------------------------------------------------------------- requests

ipp_err_t cl_request(ipp_client_t *c, Ipp__MsgType type, const ProtobufCMessage *content,
                     Ipp__MsgType expect, wire_msg_t *reply, ipp_error_t *err)
{
    cl_wait_t w;
    memset(&w, 0, sizeof w);
    wire_msg_init(&w.msg);
    ipp_err_t rc = cl_send(c, type, content, NULL, 0, NULL, w.id, err);
    if (rc != IPP_OK)
        return rc;
    w.next = c->waits;
    c->waits = &w;
    int64_t deadline = cl_mono_us() + c->timeout_us;
    while (!w.got) {
        int64_t left = deadline - cl_mono_us();
        if (left <= 0)
            break;
        if ((rc = cl_pump(c, left, err)) != IPP_OK)
            break;
    }
    // Unlink (nested requests may have come and gone above us).
    for (cl_wait_t **p = &c->waits; *p; p = &(*p)->next) {
        if (*p == &w) {
            *p = w.next;
            break;
        }
    }
    if (rc != IPP_OK) {
        wire_msg_fini(&w.msg);
        return rc;
    }
    if (!w.got) {
        return ipp_error_set(err, IPP_ERR_TIMEOUT,
                             "%s: no reply from the controller at %s within %.1f s",
                             wire_type_name(type), c->endpoint, (double)c->timeout_us / 1e6);
    }
    int got = wire_msg_type(&w.msg);
    if (got == IPP__MSG_TYPE__ERROR_REPLY) {
        rc = cl_error_from_reply((const Ipp__ErrorReply *)w.msg.content, wire_type_name(type), err);
        wire_msg_fini(&w.msg);
        return rc;
    }
    if (got != (int)expect) {
        wire_msg_fini(&w.msg);
        return ipp_error_set(err, IPP_ERR_BAD_CONTENT, "%s: the controller answered %s, not %s",
                             wire_type_name(type), wire_type_name(got), wire_type_name(expect));
    }
    *reply = w.msg;
    return IPP_OK;
}

size_t ipp_client_outstanding(const ipp_client_t *c)
{
    return c ? c->n_outstanding : 0;
}

bool ipp_client_shutdown_seen(const ipp_client_t *c)
{
    return c && c->shutdown_seen;
}

ipp_err_t ipp_client_wait(ipp_client_t *c, double timeout, ipp_error_t *err)
{
    int64_t t = cl_timeout_us(timeout);
    int64_t deadline = t < 0 ? -1 : cl_mono_us() + t;
    for (;;) {
        ipp_err_t rc = cl_pump(c, 0, err);
        if (rc != IPP_OK)
            return rc;
        if (!c->n_outstanding)
            return IPP_OK;
        if (c->shutdown_seen)
            return ipp_error_set(err, IPP_ERR_CLOSED,
                                 "wait: the controller shut down with %zu tasks outstanding",
                                 c->n_outstanding);
        int64_t left = deadline < 0 ? -1 : deadline - cl_mono_us();
        if (deadline >= 0 && left <= 0)
            return ipp_error_set(err, IPP_ERR_TIMEOUT, "wait: %zu tasks outstanding after %.1f s",
                                 c->n_outstanding, timeout);
        if ((rc = cl_pump(c, left, err)) != IPP_OK)
            return rc;
    }
}

// ------------------------------------------------------- connect, destroy

int ipp_client_fd(const ipp_client_t *c)
{
    return c ? c->epfd : -1;
}

const char *ipp_client_session(const ipp_client_t *c)
{
    return wire_session_id(c->ws);
}

const char *ipp_client_connection_file(const ipp_client_t *c)
{
    return c->path;
}

void ipp_client_set_timeout(ipp_client_t *c, double timeout)
{
    if (c && timeout > 0)
        c->timeout_us = cl_timeout_us(timeout);
}

// s_resolve_path: the connection file opts names.
static ipp_err_t s_resolve_path(const ipp_client_opts_t *opts, char *buf, size_t size,
                                ipp_error_t *err)
{
    if (opts->connection_file) {
        if (snprintf(buf, size, "%s", opts->connection_file) >= (int)size)
            return ipp_error_set(err, IPP_ERR_INVALID, "connection file path too long");
        return IPP_OK;
    }
    char dir[4096];
    ipp_err_t rc = conn_profile_dir(opts->ipp_dir, opts->profile, dir, sizeof dir, err);
    if (rc != IPP_OK)
        return rc;
    return conn_file_path(dir, CONN_CLIENT, buf, size, err);
}

// s_curve: set Curve keys on sock when the controller uses Curve.
static ipp_err_t s_curve(void *sock, const conn_info_t *info, const char *pub, const char *sec,
                         ipp_error_t *err)
{
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, info->curve_server_key, 40) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, pub, 40) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, sec, 40) != 0)
        return ipp_error_set(err, IPP_ERR_ZMQ, "client: cannot set Curve keys: %s",
                             zmq_strerror(errno));
    return IPP_OK;
}

// s_subscribe_sync: subscribe to sync.<session>, after every other topic
// (the controller confirms it with SUBSCRIBED). Returns zmq_setsockopt's.
static int s_subscribe_sync(ipp_client_t *c, const char *sid)
{
    char topic[80];
    int len = snprintf(topic, sizeof topic, "sync.%s", sid);
    if (len < 0 || (size_t)len >= sizeof topic) {
        errno = EINVAL;
        return -1;
    }
    return zmq_setsockopt(c->sub, ZMQ_SUBSCRIBE, topic, (size_t)len);
}

// s_sockets: create, configure and connect both sockets and the epoll set.
static ipp_err_t s_sockets(ipp_client_t *c, const conn_info_t *info, const ipp_client_opts_t *opts,
                           ipp_error_t *err)
{
    c->ctx = zmq_ctx_new();
    if (!c->ctx)
        return ipp_error_set(err, IPP_ERR_ZMQ, "client: no ZeroMQ context: %s",
                             zmq_strerror(errno));
    c->dealer = zmq_socket(c->ctx, ZMQ_DEALER);
    c->sub = zmq_socket(c->ctx, ZMQ_SUB);
    if (!c->dealer || !c->sub)
        return ipp_error_set(err, IPP_ERR_ZMQ, "client: no sockets: %s", zmq_strerror(errno));
    const char *sid = wire_session_id(c->ws);
    if (wire_socket_setup(c->ws, c->dealer) != IPP_OK ||
        wire_socket_setup(c->ws, c->sub) != IPP_OK ||
        zmq_setsockopt(c->dealer, ZMQ_ROUTING_ID, sid, strlen(sid)) != 0 ||
        zmq_setsockopt(c->sub, ZMQ_SUBSCRIBE, "engine", 6) != 0 ||
        zmq_setsockopt(c->sub, ZMQ_SUBSCRIBE, "shutdown", 8) != 0 || s_subscribe_sync(c, sid) != 0)
        return ipp_error_set(err, IPP_ERR_ZMQ, "client: cannot configure sockets: %s",
                             zmq_strerror(errno));
    // The SUB sends nothing worth waiting for on close (subscriptions).
    int zero = 0;
    zmq_setsockopt(c->sub, ZMQ_LINGER, &zero, sizeof zero);
    if (info->curve_server_key[0]) {
        char pub[41], sec[41];
        ipp_err_t crc = conn_curve_check("client", err);
        if (crc != IPP_OK)
            return crc;
        // The options' pair, else the file's: the controller lets in only
        // keys it knows, so a made-up pair would only wait and time out.
        if (opts->curve_public_key && opts->curve_secret_key) {
            snprintf(pub, sizeof pub, "%s", opts->curve_public_key);
            snprintf(sec, sizeof sec, "%s", opts->curve_secret_key);
        } else if (info->curve_public_key[0]) {
            memcpy(pub, info->curve_public_key, sizeof pub);
            memcpy(sec, info->curve_secret_key, sizeof sec);
        } else {
            return ipp_error_set(err, IPP_ERR_CONN_FILE,
                                 "client: %s holds the controller's Curve key but no key pair "
                                 "of yours; ask its admin for one (ipp keys new --role client "
                                 "NAME --out FILE) and connect with that file",
                                 c->path);
        }
        ipp_err_t rc = s_curve(c->dealer, info, pub, sec, err);
        if (rc == IPP_OK)
            rc = s_curve(c->sub, info, pub, sec, err);
        memset(sec, 0, sizeof sec);
        if (rc != IPP_OK)
            return rc;
        // Watch the dealer's first handshake: a key the controller's ZAP
        // handler refuses gets an ERROR command, not a message, and the
        // client would only time out (s_hello).
        char mon[96];
        snprintf(mon, sizeof mon, "inproc://ipp-client-monitor.%s", sid);
        if (zmq_socket_monitor(c->dealer, mon,
                               ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) !=
                0 ||
            !(c->monitor = zmq_socket(c->ctx, ZMQ_PAIR)) ||
            zmq_setsockopt(c->monitor, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
            zmq_connect(c->monitor, mon) != 0)
            return ipp_error_set(err, IPP_ERR_ZMQ, "client: cannot watch the handshake: %s",
                                 zmq_strerror(errno));
    }
    conn_peer_endpoint(info, CONN_SOCK_CLIENT, c->endpoint, sizeof c->endpoint);
    conn_peer_endpoint(info, CONN_SOCK_NOTIFY, c->notify_endpoint, sizeof c->notify_endpoint);
    // SUB first, so its subscriptions travel while the hello does.
    if (zmq_connect(c->sub, c->notify_endpoint) != 0 || zmq_connect(c->dealer, c->endpoint) != 0)
        return ipp_error_set(err, IPP_ERR_ZMQ, "client: cannot connect to %s: %s", c->endpoint,
                             zmq_strerror(errno));
    c->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (c->epfd < 0)
        return ipp_error_set(err, IPP_ERR_IO, "client: epoll_create1: %s", strerror(errno));
    void *socks[2] = {c->dealer, c->sub};
    for (int i = 0; i < 2; i++) {
        int fd;
        size_t len = sizeof fd;
        if (zmq_getsockopt(socks[i], ZMQ_FD, &fd, &len) != 0)
            return ipp_error_set(err, IPP_ERR_ZMQ, "client: ZMQ_FD: %s", zmq_strerror(errno));
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
            return ipp_error_set(err, IPP_ERR_IO, "client: epoll_ctl: %s", strerror(errno));
    }
    return IPP_OK;
}

// s_monitor_stop: no more handshake watching.
static void s_monitor_stop(ipp_client_t *c)
{
    if (!c->monitor)
        return;
    zmq_socket_monitor(c->dealer, NULL, 0);
    zmq_close(c->monitor);
    c->monitor = NULL;
}

// s_handshake: with Curve, wait (up to the timeout) for the dealer's
// first handshake to end. IPP_OK when it succeeded; IPP_ERR_DENIED when
// the controller refused the key (its ZAP handler's status code);
// IPP_ERR_TIMEOUT when neither happened in time (no controller, or one
// that cannot read our HELLO: another server key).
static ipp_err_t s_handshake(ipp_client_t *c, const conn_info_t *info, ipp_error_t *err)
{
    int64_t deadline = cl_mono_us() + c->timeout_us;
    ipp_err_t rc = IPP_ERR_TIMEOUT;
    while (rc == IPP_ERR_TIMEOUT) {
        int64_t left = deadline - cl_mono_us();
        if (left <= 0)
            break;
        zmq_pollitem_t it = {c->monitor, 0, ZMQ_POLLIN, 0};
        int n = ipp_zpoll(&it, 1, (long)((left + 999) / 1000));
        if (n < 0 && errno != EINTR)
            return ipp_error_set(err, IPP_ERR_ZMQ, "client: poll failed: %s", zmq_strerror(errno));
        if (n <= 0)
            continue;
        // An event: [uint16 event, uint32 value][endpoint].
        zmq_msg_t f;
        zmq_msg_init(&f);
        uint16_t event = 0;
        uint32_t value = 0;
        if (zmq_msg_recv(&f, c->monitor, ZMQ_DONTWAIT) >= 0 && zmq_msg_size(&f) >= 6) {
            memcpy(&event, zmq_msg_data(&f), 2);
            memcpy(&value, (const uint8_t *)zmq_msg_data(&f) + 2, 4);
        }
        while (zmq_msg_more(&f) && zmq_msg_recv(&f, c->monitor, ZMQ_DONTWAIT) >= 0)
            ;
        zmq_msg_close(&f);
        if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
            rc = IPP_OK;
        else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
            rc = ipp_error_set(err, IPP_ERR_DENIED,
                               "the controller at %s refused the Curve key%s%s of %s (ZAP status "
                               "%u): it is not listed with this controller, revoked, or an engine "
                               "key (ipp keys list)",
                               c->endpoint, info->key_name[0] ? " " : "", info->key_name, c->path,
                               (unsigned)value);
    }
    return rc;
}

// s_hello: CONNECT_REQUEST → CONNECT_REPLY.
static ipp_err_t s_hello(ipp_client_t *c, const conn_info_t *info, ipp_error_t *err)
{
    Ipp__ConnectRequest req = IPP__CONNECT_REQUEST__INIT;
    wire_msg_t reply;
    ipp_error_t e;
    ipp_err_t rc = IPP_OK;
    if (c->monitor) {
        rc = s_handshake(c, info, err);
        s_monitor_stop(c);
        if (rc == IPP_ERR_DENIED || rc == IPP_ERR_ZMQ)
            return rc;
    }
    if (rc == IPP_OK)
        rc = cl_request(c, IPP__MSG_TYPE__CONNECT_REQUEST, &req.base, IPP__MSG_TYPE__CONNECT_REPLY,
                        &reply, &e);
    if (rc == IPP_ERR_TIMEOUT && c->last_refusal.code != IPP_OK) {
        // Something answered, but not with the key of this file (a
        // connection file left by another run of the controller, say).
        return ipp_error_set(err, IPP_ERR_TIMEOUT,
                             "no valid answer from the controller at %s within %.1f s "
                             "(connection file %s): %s",
                             c->endpoint, (double)c->timeout_us / 1e6, c->path,
                             c->last_refusal.msg);
    }
    if (rc == IPP_ERR_TIMEOUT) {
        char hint[256] = "";
        if (info->curve_server_key[0])
            snprintf(hint, sizeof hint,
                     "; with Curve, no handshake completed: the controller's key in the "
                     "file may be another controller's");
        else if (info->controller_pid > 0)
            snprintf(hint, sizeof hint, "; it was written by controller pid %d",
                     info->controller_pid);
        return ipp_error_set(err, IPP_ERR_TIMEOUT,
                             "no answer from the controller at %s within %.1f s (connection "
                             "file %s%s); is it running?",
                             c->endpoint, (double)c->timeout_us / 1e6, c->path, hint);
    }
    if (rc != IPP_OK)
        return ipp_error_set(err, rc, "connect to %s: %s", c->endpoint, e.msg);
    const Ipp__ConnectReply *r = (const Ipp__ConnectReply *)reply.content;
    cl_engines_replace(c, r->engines, r->n_engines, r->has_engines_seq ? r->engines_seq : 0);
    snprintf(c->controller_session, sizeof c->controller_session, "%s",
             r->controller_session ? r->controller_session : "");
    wire_msg_fini(&reply);
    return IPP_OK;
}

ipp_client_t *ipp_client_new(const ipp_client_opts_t *opts, ipp_error_t *err)
{
    ipp_client_opts_t none;
    memset(&none, 0, sizeof none);
    if (!opts)
        opts = &none;
    conn_info_t info;
    char path[4096];
    if (s_resolve_path(opts, path, sizeof path, err) != IPP_OK ||
        conn_read(path, CONN_CLIENT, &info, err) != IPP_OK)
        return NULL;
    ipp_client_t *c = calloc(1, sizeof *c);
    if (!c) {
        memset(info.key, 0, sizeof info.key);
        ipp_error_set(err, IPP_ERR_NOMEM, "client: out of memory");
        return NULL;
    }
    c->epfd = -1;
    snprintf(c->path, sizeof c->path, "%s", path);
    int level = opts->log_level > 0 ? opts->log_level - 1 : (int)IPP_LOG_WARN;
    c->log.level = (ipp_log_level_t)(level > (int)IPP_LOG_DEBUG ? (int)IPP_LOG_DEBUG : level);
    c->log.out = opts->log;
    c->log.who = "libipp";
    c->timeout_us = opts->timeout > 0 ? cl_timeout_us(opts->timeout) : S_DEFAULT_TIMEOUT_US;
    wire_msg_init(&c->rx);
    wire_msg_init(&c->tx);
    cl_index_init(&c->index);
    wire_opts_t wo;
    memset(&wo, 0, sizeof wo);
    wo.key = info.key;
    wo.key_len = info.key_len;
    wo.username = opts->username;
    wo.log = &c->log;
    c->ws = wire_session_new(&wo, err);
    memset(info.key, 0, sizeof info.key);
    if (!c->ws)
        goto fail;
    ipp_err_t rc = s_sockets(c, &info, opts, err);
    memset(info.curve_secret_key, 0, sizeof info.curve_secret_key);
    if (rc != IPP_OK || s_hello(c, &info, err) != IPP_OK)
        goto fail;
    return c;
fail:
    // Nothing worth delivering is queued: do not linger on close.
    if (c->dealer) {
        int zero = 0;
        zmq_setsockopt(c->dealer, ZMQ_LINGER, &zero, sizeof zero);
    }
    ipp_client_destroy(&c);
    return NULL;
}

ipp_client_t *ipp_client_connect(const char *where, double timeout, ipp_error_t *err)
{
    ipp_client_opts_t o;
    memset(&o, 0, sizeof o);
    o.timeout = timeout;
    size_t len = where ? strlen(where) : 0;
    if (where && (strchr(where, '/') || (len > 5 && strcmp(where + len - 5, ".json") == 0)))
        o.connection_file = where;
    else
        o.profile = where;
    return ipp_client_new(&o, err);
}

void ipp_client_destroy(ipp_client_t **client_p)
{
    if (!client_p || !*client_p)
        return;
    ipp_client_t *c = *client_p;
    while (c->ars) {
        ipp_ar_t *ar = c->ars;
        cl_ar_detach(ar);  // unlinks it
    }
    for (ipp_view_t *v = c->views; v;) {
        ipp_view_t *next = v->next;
        v->client = NULL;
        v->prev = v->next = NULL;
        v = next;
    }
    c->views = NULL;
    while (c->hubreqs) {
        cl_hubreq_t *r = c->hubreqs;
        c->hubreqs = r->next;
        cl_hubreq_free(r);
    }
    free(c->reask);
    cl_engines_clear(c);
    free(c->engines);
    cl_index_fini(&c->index);
    wire_msg_fini(&c->rx);
    wire_msg_fini(&c->tx);
    if (c->epfd >= 0)
        close(c->epfd);
    if (c->monitor)
        zmq_close(c->monitor);
    if (c->dealer)
        zmq_close(c->dealer);
    if (c->sub)
        zmq_close(c->sub);
    if (c->ctx)
        zmq_ctx_term(c->ctx);
    wire_session_destroy(&c->ws);
    free(c);
    *client_p = NULL;
}
