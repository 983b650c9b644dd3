/* recv.c — the client's receive loop: reading both sockets and handing
 * each message to whoever waits for it.
 *
 * Owns nothing of its own: it moves received messages to blocking
 * requests (cl_wait_t), AsyncResults (through result.c) and the engine
 * list (engines.c). Reads are bounded per call so neither socket starves
 * the other, and callbacks run only once the input is handled
 * (cl_fire_callbacks). Bad messages were refused by the wire session and
 * are dropped here; nothing the network sends can abort the process.
 */
#include "client/internal.h"

#include "proto/zpoll.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

// s_hubreq_take: unlink and return the hub request with id, or NULL.
static cl_hubreq_t *s_hubreq_take(ipp_client_t *c, const char *id)
{
    for (cl_hubreq_t **p = &c->hubreqs; *p; p = &(*p)->next) {
        if (strcmp((*p)->id, id) == 0) {
            cl_hubreq_t *r = *p;
            *p = r->next;
            return r;
        }
    }
    return NULL;
}

// ------------------------------------------------------------- receiving

// s_on_submit_reply: the controller committed (or refused) a submission.
static void s_on_submit_reply(ipp_client_t *c, wire_msg_t *m)
{
    const Ipp__SubmitReply *r = (const Ipp__SubmitReply *)m->content;
    // Acceptances come batched: every listed task is committed.
    for (size_t i = 0; i < r->n_accepted_ids; i++) {
        for (cl_task_t *t = cl_index_find(&c->index, r->accepted_ids[i]); t; t = t->next_same)
            if (!t->hub && !t->done)
                t->accepted = 1;
    }
    if (r->n_accepted_ids)
        return;
    const char *id = m->header->parent_id ? m->header->parent_id : r->msg_id;
    cl_task_t *t = cl_index_find(&c->index, id);
    if (!t) {
        IPP_LOGD(&c->log, "client: submit reply for unknown task %s", id ? id : "-");
        return;
    }
    bool accepted = r->has_accepted ? r->accepted : (r->error == NULL);
    while (t) {
        cl_task_t *next = t->next_same;
        if (!t->hub && !t->done) {
            if (accepted) {
                t->accepted = 1;
            } else {
                const Ipp__ErrorReply *er = r->error;
                ipp_err_t code = IPP_ERR_INVALID;
                if (er && er->has_code && er->code > 0 && er->code < IPP_ERR__END)
                    code = (ipp_err_t)er->code;
                cl_task_fail(c, t, IPP_STATUS_REFUSED, code,
                             (er && er->ename) ? er->ename : "SubmitRefused",
                             (er && er->evalue) ? er->evalue : "the controller refused the task");
            }
        }
        t = next;
    }
}

// s_on_task_result: a task's outcome, for the submitter (and any hub
// result watching the same id).
static void s_on_task_result(ipp_client_t *c, wire_msg_t *m)
{
    const Ipp__TaskResult *r = (const Ipp__TaskResult *)m->content;
    const char *id = r->msg_id ? r->msg_id : m->header->parent_id;
    cl_task_t *t = cl_index_find(&c->index, id);
    if (!t) {
        // A duplicate (at-least-once delivery) or a task whose
        // AsyncResult is gone.
        IPP_LOGD(&c->log, "client: result for unknown task %s", id ? id : "-");
        return;
    }
    bool first = true;
    while (t) {
        cl_task_t *next = t->next_same;  // finishing unlinks t
        if (!t->done) {
            cl_task_take_result(c, t, r, m, first && !next);
            first = false;
        }
        t = next;
    }
}

// s_on_error_reply: an ERROR_REPLY that no blocking request waits for.
static void s_on_error_reply(ipp_client_t *c, wire_msg_t *m)
{
    const Ipp__ErrorReply *er = (const Ipp__ErrorReply *)m->content;
    const char *parent = m->header->parent_id;
    if (!parent)
        return;
    cl_hubreq_t *req = s_hubreq_take(c, parent);
    if (req) {
        cl_on_hub_error(c, req, er);
        cl_hubreq_free(req);
        return;
    }
    cl_task_t *t = cl_index_find(&c->index, parent);
    if (!t) {
        IPP_LOGD(&c->log, "client: error reply to unknown request %s", parent);
        return;
    }
    ipp_error_t e;
    ipp_err_t code = cl_error_from_reply(er, "submit", &e);
    while (t) {
        cl_task_t *next = t->next_same;
        if (!t->hub && !t->done)
            cl_task_fail(c, t, IPP_STATUS_REFUSED, code, er->ename ? er->ename : "SubmitRefused",
                         er->evalue ? er->evalue : e.msg);
        t = next;
    }
}

// s_deliver_wait: if a blocking request waits for this reply, move it there.
static bool s_deliver_wait(ipp_client_t *c, wire_msg_t *m)
{
    const char *parent = m->header->parent_id;
    if (!parent)
        return false;
    for (cl_wait_t *w = c->waits; w; w = w->next) {
        if (!w->got && strcmp(w->id, parent) == 0) {
            // Hand the whole message over; the receive buffer starts afresh.
            w->msg = *m;
            wire_msg_init(m);
            w->got = true;
            return true;
        }
    }
    return false;
}

// s_dispatch_dealer: one message from the controller.
static void s_dispatch_dealer(ipp_client_t *c, wire_msg_t *m)
{
    c->shutdown_seen = false;
    int type = wire_msg_type(m);
    switch (type) {
    case IPP__MSG_TYPE__SUBMIT_REPLY:
        s_on_submit_reply(c, m);
        return;
    case IPP__MSG_TYPE__TASK_RESULT:
        s_on_task_result(c, m);
        return;
    case IPP__MSG_TYPE__TASK_DONE:
        // Sent straight to a client that was told "pending": no
        // subscription can be late for it.
        cl_on_task_done(c, (const Ipp__TaskDone *)m->content);
        return;
    default:
        break;
    }
    if (s_deliver_wait(c, m))
        return;
    if (type == IPP__MSG_TYPE__ERROR_REPLY) {
        s_on_error_reply(c, m);
        return;
    }
    if (type == IPP__MSG_TYPE__RESULT_REPLY && m->header->parent_id) {
        cl_hubreq_t *req = s_hubreq_take(c, m->header->parent_id);
        if (req) {
            cl_on_result_reply(c, m);
            cl_hubreq_free(req);
            return;
        }
    }
    IPP_LOGD(&c->log, "client: dropped %s (parent %s): nobody waits for it", wire_type_name(type),
             m->header->parent_id ? m->header->parent_id : "-");
}

// s_dispatch_sub: one notification.
static void s_dispatch_sub(ipp_client_t *c, wire_msg_t *m)
{
    switch (wire_msg_type(m)) {
    case IPP__MSG_TYPE__ENGINE_EVENT:
        cl_on_engine_event(c, m);
        break;
    case IPP__MSG_TYPE__TASK_DONE: {
        const Ipp__TaskDone *d = (const Ipp__TaskDone *)m->content;
        cl_on_task_done(c, d);
        if (c->follow_fn && d->msg_id)
            c->follow_fn(c->follow_arg, d->msg_id, d->label,
                         d->has_status ? (ipp_status_t)d->status : IPP_STATUS_ERROR,
                         d->has_engine_id ? d->engine_id : -1);
        break;
    }
    case IPP__MSG_TYPE__SHUTDOWN_NOTICE:
        c->shutdown_seen = true;
        IPP_LOGI(&c->log, "client: the controller announced its shutdown");
        break;
    case IPP__MSG_TYPE__SUBSCRIBED:
        // Heard again after every reconnect (the SUB re-sends its
        // subscriptions): events may have been missed meanwhile, so the
        // engine list is stale until asked for again.
        c->sub_epoch++;
        break;
    default:
        IPP_LOGD(&c->log, "client: ignored notification %s", wire_type_name(wire_msg_type(m)));
        break;
    }
}

// s_read: receive and handle up to max messages from sock. Returns how
// many were read (refused ones included); *dry is set when it ran out.
static size_t s_read(ipp_client_t *c, void *sock, bool sub, size_t max, bool *dry)
{
    size_t n = 0;
    *dry = false;
    while (n < max) {
        ipp_error_t e;
        ipp_err_t rc = wire_recv(c->ws, sock, ZMQ_DONTWAIT, &c->rx, &e);
        if (rc == IPP_ERR_ZMQ) {
            if (errno != EAGAIN && errno != EINTR)
                IPP_LOGW(&c->log, "client: %s", e.msg);
            *dry = true;
            break;
        }
        n++;
        if (rc != IPP_OK) {
            // Refused (logged by the session); nothing in it is used. A
            // server answers authentic-but-unknown messages; a client has
            // nobody to answer. Kept to explain a timeout later.
            c->last_refusal = e;
            continue;
        }
        if (sub)
            s_dispatch_sub(c, &c->rx);
        else
            s_dispatch_dealer(c, &c->rx);
    }
    return n;
}

// s_pollin: the socket has input waiting (this also clears the edge of
// its ZMQ_FD).
static bool s_pollin(void *sock)
{
    int events = 0;
    size_t len = sizeof events;
    if (zmq_getsockopt(sock, ZMQ_EVENTS, &events, &len) != 0)
        return false;
    return (events & ZMQ_POLLIN) != 0;
}

// s_drain_from: read the sockets flagged (d: dealer, s: sub) until each
// says EAGAIN, taking turns so a flood on one does not starve the other.
// A non-blocking receive that finds nothing has just processed the
// socket's commands, exactly as asking ZMQ_EVENTS would: the socket's
// edge-triggered ZMQ_FD is armed again. Returns the count.
static size_t s_drain_from(ipp_client_t *c, bool d, bool s)
{
    size_t total = 0;
    bool dry;
    while (d || s) {
        if (d) {
            total += s_read(c, c->dealer, false, 1024, &dry);
            d = !dry;
        }
        if (s) {
            total += s_read(c, c->sub, true, 1024, &dry);
            s = !dry;
        }
    }
    return total;
}

// s_drain: read everything waiting on both sockets, starting from what
// ZMQ_EVENTS says (one system call per idle socket). Returns the count.
size_t cl_drain(ipp_client_t *c)
{
    return s_drain_from(c, s_pollin(c->dealer), s_pollin(c->sub));
}

ipp_err_t cl_pump(ipp_client_t *c, int64_t timeout_us, ipp_error_t *err)
{
    if (timeout_us == 0) {
        cl_drain(c);
    } else {
        // ipp_zpoll looks at ZMQ_EVENTS before it sleeps, so input already
        // queued returns at once; after it, both sockets were asked.
        zmq_pollitem_t items[2] = {{c->dealer, 0, ZMQ_POLLIN, 0}, {c->sub, 0, ZMQ_POLLIN, 0}};
        long ms = timeout_us < 0 ? -1 : (long)((timeout_us + 999) / 1000);
        int n = ipp_zpoll(items, 2, ms);
        if (n < 0 && errno != EINTR)
            return ipp_error_set(err, IPP_ERR_ZMQ, "client: poll failed: %s", zmq_strerror(errno));
        if (n > 0)
            s_drain_from(c, items[0].revents & ZMQ_POLLIN, items[1].revents & ZMQ_POLLIN);
    }
    // Re-asks and callbacks may send, and a send can swallow the wake-up
    // of the descriptor (ZMQ_FD is edge-triggered): read again after them,
    // so every pump ends with nothing unread and the descriptor armed.
    while (!c->tx_busy && (c->n_reask || c->cb_head)) {
        cl_flush_reasks(c);
        cl_fire_callbacks(c);
        cl_drain(c);
    }
    return IPP_OK;
}

ipp_err_t ipp_client_spin(ipp_client_t *c, double timeout, ipp_error_t *err)
{
    if (!c)
        return ipp_error_set(err, IPP_ERR_INVALID, "spin: no client");
    return cl_pump(c, cl_timeout_us(timeout), err);
}
