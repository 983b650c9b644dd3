/* dispatch.c — tasks to engines, several to a message, and results from
 * them the same way.
 *
 * At hwm 1 an engine has one task at a time, so each goes at once as a
 * TASK_REQUEST. Otherwise (hwm 0 or above 1) and for an engine that
 * registered for batches, a task the scheduler sends is queued here and
 * the queue goes out before the loop sleeps (hub_dispatch_flush), as one
 * TASK_BATCH per engine: one header, one MAC and one wake-up of the engine
 * for many tasks. The write-ahead rule is untouched: only tasks whose
 * request is committed reach the scheduler, hence this queue.
 *
 * Owns the outbox (hub_t.dispatch): msg_ids and engine ids only, so a task
 * freed or taken from its engine before the flush is simply left out.
 * Never frees a task; calls store.c (the assignment) and send.c's wire.
 */
#include "hub/hub.h"

#include "proto/batch.h"
#include "proto/grow.h"

#include <stdlib.h>
#include <string.h>

// Buffer bytes one TASK_BATCH carries at most (a task with more goes alone).
#define S_BATCH_BYTES ((size_t)8 << 20)

// A task waiting to go to its engine.
typedef struct {
    int engine;                      // where the scheduler sent it
    char msg_id[IPP_MSGID_LEN + 1];  // the task
} s_out_t;

typedef struct hub_dispatch_t {
    s_out_t *v;       // the queue, in the scheduler's order
    size_t n;         // how many
    size_t cap;       // allocated
    bool *sent;       // per entry, during a flush: sent or left out
    size_t cap_sent;  // allocated
    zmq_msg_t *bufs;  // the buffers of the batch being built (shared data)
    size_t cap_bufs;  // allocated
} hub_dispatch_t;

// s_send_one: task to e as a TASK_REQUEST, now.
static void s_send_one(hub_t *hub, hub_task_t *task, hub_engine_t *e)
{
    zmq_msg_t small[8];
    zmq_msg_t *bufs = NULL;
    if (task->n_bufs)
        bufs = task->n_bufs <= 8 ? small : calloc(task->n_bufs, sizeof *bufs);
    if (task->n_bufs && !bufs) {
        // Never send a task without its arguments: its result would be
        // wrong. It stays assigned; a restart (or the engine's loss) runs it.
        IPP_LOGE(hub->log, "no memory to send task %s to engine %d", task->msg_id, e->id);
        return;
    }
    for (size_t i = 0; i < task->n_bufs; i++) {
        zmq_msg_init(&bufs[i]);
        zmq_msg_copy(&bufs[i], &task->bufs[i]);  // shares the data
    }
    wire_frame_t ident = {e->ident, e->ident_len};
    ipp_err_t rc =
        wire_send(hub->wire, hub->engine_sock, &ident, 1, IPP__MSG_TYPE__TASK_REQUEST, NULL,
                  &task->req->base, bufs, task->n_bufs, ZMQ_DONTWAIT, task->msg_id, NULL);
    if (bufs != small)
        free(bufs);
    if (rc != IPP_OK)
        IPP_LOGW(hub->log, "could not send task %s to engine %d: %s", task->msg_id, e->id,
                 zmq_strerror(zmq_errno()));
}

// s_queue: task for engine onto the outbox; false when out of memory.
static bool s_queue(hub_t *hub, const hub_task_t *task, int engine)
{
    hub_dispatch_t *d = hub->dispatch;
    if (!d) {
        d = hub->dispatch = calloc(1, sizeof *d);
        if (!d)
            return false;
    }
    if (IPP_GROW(d->v, d->cap, d->n + 1, 256) != 0)
        return false;
    d->v[d->n].engine = engine;
    memcpy(d->v[d->n].msg_id, task->msg_id, sizeof d->v[0].msg_id);
    d->n++;
    return true;
}

void hub_dispatch(hub_t *hub, hub_task_t *task, hub_engine_t *e)
{
    task->engine = e->id;
    task->attempts++;
    task->req->has_attempt = 1;
    task->req->attempt = task->attempts;
    if (hub->cfg.hwm == 1 || !e->batches || !s_queue(hub, task, e->id))
        s_send_one(hub, task, e);
    hub_store_assign(hub->store, task, e->id, e->uuid);
}

// s_pending: the task of entry o if it still waits to go to its engine.
static hub_task_t *s_pending(hub_t *hub, const s_out_t *o)
{
    hub_task_t *task = ipp_strmap_get(hub->tasks, o->msg_id);
    if (!task || task->engine != o->engine || task->result || !task->in_sched)
        return NULL;
    return task;
}

// s_send_batch: tasks[0..n) to e, n ≥ 2, as one TASK_BATCH.
static void s_send_batch(hub_t *hub, hub_engine_t *e, hub_task_t **tasks, size_t n)
{
    hub_dispatch_t *d = hub->dispatch;
    Ipp__TaskRequest *reqs[WIRE_BATCH_MAX];
    char *ids[WIRE_BATCH_MAX];
    uint32_t counts[WIRE_BATCH_MAX];
    size_t nb = 0;
    for (size_t i = 0; i < n; i++)
        nb += tasks[i]->n_bufs;
    if (nb > d->cap_bufs) {
        zmq_msg_t *v = realloc(d->bufs, nb * sizeof *v);
        if (!v) {
            // Each alone then: a batch is only a way to send them.
            for (size_t i = 0; i < n; i++)
                s_send_one(hub, tasks[i], e);
            return;
        }
        d->bufs = v;
        d->cap_bufs = nb;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        reqs[i] = tasks[i]->req;
        ids[i] = tasks[i]->msg_id;
        counts[i] = (uint32_t)tasks[i]->n_bufs;
        for (size_t j = 0; j < tasks[i]->n_bufs; j++, k++) {
            zmq_msg_init(&d->bufs[k]);
            zmq_msg_copy(&d->bufs[k], &tasks[i]->bufs[j]);  // shares the data
        }
    }
    Ipp__TaskBatch b = IPP__TASK_BATCH__INIT;
    b.n_tasks = n;
    b.tasks = reqs;
    b.n_msg_ids = n;
    b.msg_ids = ids;
    b.n_n_buffers = n;
    b.n_buffers = counts;
    wire_frame_t ident = {e->ident, e->ident_len};
    if (wire_send(hub->wire, hub->engine_sock, &ident, 1, IPP__MSG_TYPE__TASK_BATCH, NULL, &b.base,
                  d->bufs, nb, ZMQ_DONTWAIT, NULL, NULL) != IPP_OK)
        IPP_LOGW(hub->log, "could not send %zu tasks to engine %d: %s", n, e->id,
                 zmq_strerror(zmq_errno()));
}

void hub_dispatch_flush(hub_t *hub)
{
    hub_dispatch_t *d = hub->dispatch;
    if (!d || d->n == 0)
        return;
    if (d->n > d->cap_sent) {
        bool *v = realloc(d->sent, d->n * sizeof *v);
        if (!v) {
            // Send each alone.
            for (size_t i = 0; i < d->n; i++) {
                hub_task_t *t = s_pending(hub, &d->v[i]);
                hub_engine_t *e = t ? hub_registry_get(hub->engines, d->v[i].engine) : NULL;
                if (e)
                    s_send_one(hub, t, e);
            }
            d->n = 0;
            return;
        }
        d->sent = v;
        d->cap_sent = d->n;
    }
    memset(d->sent, 0, d->n * sizeof *d->sent);
    hub_task_t *batch[WIRE_BATCH_MAX];
    for (size_t i = 0; i < d->n; i++) {
        if (d->sent[i])
            continue;
        int engine = d->v[i].engine;
        hub_engine_t *e = hub_registry_get(hub->engines, engine);
        // Gather this engine's tasks, in order, from here on.
        size_t n = 0, bytes = 0;
        for (size_t j = i; j < d->n && n < WIRE_BATCH_MAX; j++) {
            if (d->sent[j] || d->v[j].engine != engine)
                continue;
            hub_task_t *t = e ? s_pending(hub, &d->v[j]) : NULL;
            size_t tb = 0;
            for (size_t k = 0; t && k < t->n_bufs; k++)
                tb += zmq_msg_size(&t->bufs[k]);
            if (t && n > 0 && bytes + tb > S_BATCH_BYTES)
                break;  // for the next batch
            d->sent[j] = true;
            if (!t)
                continue;  // aborted, finished or taken away meanwhile
            batch[n++] = t;
            bytes += tb;
        }
        // Entry i is taken (or left out) here; what did not fit waits for
        // a later i.
        if (n == 1)
            s_send_one(hub, batch[0], e);
        else if (n > 1)
            s_send_batch(hub, e, batch, n);
    }
    d->n = 0;
}

void hub_dispatch_free(hub_t *hub)
{
    hub_dispatch_t *d = hub->dispatch;
    if (!d)
        return;
    free(d->v);
    free(d->sent);
    free(d->bufs);
    free(d);
    hub->dispatch = NULL;
}

void hub_results_batch(hub_t *hub, wire_msg_t *msg, const wire_frame_t *ident, hub_engine_t *e)
{
    if (!e) {
        hub_reply_error(hub, hub->engine_sock, ident, msg->header->msg_id, IPP_ERR_NOT_FOUND,
                        "engine", "engine not registered with this controller");
        return;
    }
    Ipp__ResultBatch *b = (Ipp__ResultBatch *)msg->content;
    const char *field = NULL;
    ipp_error_t err;
    if (wire_batch_check_results(b, wire_msg_n_buffers(msg), &field, &err) != IPP_OK) {
        IPP_LOGW(hub->log, "result batch from engine %d refused: %s", e->id, err.msg);
        hub_reply_error(hub, hub->engine_sock, ident, msg->header->msg_id, IPP_ERR_INVALID, field,
                        "result batch refused: %s", err.msg);
        return;
    }
    // Take every result out of the batch: each is then owned alone (and
    // freed by hub_task_take_result when not kept); the batch frees only
    // its array.
    size_t n = b->n_results, first = 0;
    Ipp__TaskResult **rs = b->results;
    b->n_results = 0;
    for (size_t i = 0; i < n; i++) {
        hub_task_take_result(hub, e, rs[i]->msg_id, rs[i], msg, first, b->n_buffers[i]);
        first += b->n_buffers[i];
    }
}
