/* deliver.c — what leaves the controller once a commit allows it: results
 * to their clients (held back briefly for a client with more outstanding,
 * so they travel together), result acks to engines and "accepted" replies
 * to clients, each gathered and sent in batches before the loop sleeps.
 *
 * Called by tasks.c when a commit lands and by controller.c before it
 * sleeps; owns the batches in hub_t (held, acks, sacks) and the per-client
 * tallies (hub->clients). Sends through send.c; calls no handler file.
 */
#include "hub/hub.h"

#include "proto/clock.h"
#include "proto/grow.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ------------------------------------------------------------ delivery

// s_send_result: the result of task to its client (if it has both).
static void s_send_result(hub_t *hub, hub_task_t *task)
{
    Ipp__TaskResult *res = task->result;
    if (task->client_len && res) {
        wire_frame_t ident = {task->client, task->client_len};
        hub_reply(hub, &ident, task->msg_id, IPP__MSG_TYPE__TASK_RESULT, &res->base, task->rbufs,
                  task->n_rbufs);
        hub_task_free_bufs(task, &task->rbufs);  // the frames went with the message
        task->n_rbufs = 0;
    }
}

void hub_deliveries_flush(hub_t *hub, bool force)
{
    if (hub->n_held == 0 ||
        (!force && hub->n_held < HUB_DELIVER_MAX && ipp_clock_mono_us() < hub->held_due))
        return;
    for (size_t i = 0; i < hub->n_held; i++) {
        s_send_result(hub, hub->held[i]);
        hub_task_free(hub, hub->held[i]);
    }
    hub->n_held = 0;
}

// s_hold: keep task's result back for hub_deliveries_flush; false if out
// of memory (then it goes at once).
static bool s_hold(hub_t *hub, hub_task_t *task)
{
    if (IPP_GROW(hub->held, hub->cap_held, hub->n_held + 1, 64) != 0)
        return false;
    if (hub->n_held == 0)
        hub->held_due = ipp_clock_mono_us() + HUB_DELIVER_DELAY_US;
    hub->held[hub->n_held++] = task;
    return true;
}

// hub_deliver: announce task's completion, forget it, and send its result to
// its client — now, or with others (see hub_deliveries_flush).
void hub_deliver(hub_t *hub, hub_task_t *task)
{
    Ipp__TaskResult *res = task->result;
    // Its "accepted" has not gone yet: the result says as much.
    if (task->sack && task->sack <= hub->n_sacks &&
        strcmp(hub->sacks[task->sack - 1].msg_id, task->msg_id) == 0 && task->client_len && res)
        hub->sacks[task->sack - 1].msg_id[0] = '\0';
    task->sack = 0;
    Ipp__TaskDone done = IPP__TASK_DONE__INIT;
    done.msg_id = task->msg_id;
    done.has_status = 1;
    done.status = res ? res->status : IPP__STATUS__ERROR;
    done.has_engine_id = 1;
    done.engine_id = (res && res->has_engine_id) ? res->engine_id : -1;
    done.label = task->req && task->req->label && task->req->label[0] ? task->req->label : NULL;
    char topic[8 + IPP_MSGID_LEN];
    snprintf(topic, sizeof topic, "done.%s", task->msg_id);
    hub_publish(hub, topic, IPP__MSG_TYPE__TASK_DONE, &done.base, false);
    for (size_t i = 0; i < task->n_watchers; i++)
        hub_reply(hub, &(wire_frame_t){task->watchers[i].ident, task->watchers[i].len},
                  task->msg_id, IPP__MSG_TYPE__TASK_DONE, &done.base, NULL, 0);
    ipp_strmap_del(hub->tasks, task->msg_id);
    long left = hub_task_uncount(hub, task);
    if (task->client_len && res && left > 0 && s_hold(hub, task))
        return;
    // The client waits for nothing else: what is held goes first, then this.
    hub_deliveries_flush(hub, true);
    s_send_result(hub, task);
    hub_task_free(hub, task);
}

// s_client_key: routing id ident of len bytes as hex into out.
static void s_client_key(const uint8_t *ident, size_t len, char out[2 * 64 + 1])
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = hex[ident[i] >> 4];
        out[2 * i + 1] = hex[ident[i] & 15];
    }
    out[2 * len] = '\0';
}

void hub_task_count(hub_t *hub, hub_task_t *task)
{
    if (!task->client_len || task->owner || !hub->clients)
        return;
    char key[2 * 64 + 1];
    s_client_key(task->client, task->client_len, key);
    hub_client_t *c = ipp_strmap_get(hub->clients, key);
    if (!c) {
        c = calloc(1, sizeof *c);
        if (!c)
            return;  // not counted: its result simply goes at once
        memcpy(c->key, key, sizeof c->key);
        if (ipp_strmap_put(hub->clients, c->key, c) != 0) {
            free(c);
            return;
        }
    }
    c->outstanding++;
    task->owner = c;
}

long hub_task_uncount(hub_t *hub, hub_task_t *task)
{
    hub_client_t *c = task->owner;
    if (!c)
        return 0;
    task->owner = NULL;
    if (--c->outstanding > 0)
        return c->outstanding;
    ipp_strmap_del(hub->clients, c->key);
    free(c);
    return 0;
}

// hub_ack: tell engine the result of msg_id is safe; it may forget it.
void hub_ack(hub_t *hub, int engine, const char *msg_id)
{
    hub_engine_t *e = hub_registry_get(hub->engines, engine);
    if (!e)
        return;  // it will re-send after registering; we ack it then
    Ipp__ResultAck ack = IPP__RESULT_ACK__INIT;
    char *ids[1] = {(char *)msg_id};
    ack.n_msg_ids = 1;
    ack.msg_ids = ids;
    wire_frame_t ident = {e->ident, e->ident_len};
    wire_send(hub->wire, hub->engine_sock, &ident, 1, IPP__MSG_TYPE__RESULT_ACK, NULL, &ack.base,
              NULL, 0, ZMQ_DONTWAIT, NULL, NULL);
}

// hub_ack_later: queue an acknowledgement for hub_acks_flush; sent at once
// if there is no memory.
void hub_ack_later(hub_t *hub, int engine, const char *msg_id)
{
    if (hub->n_acks == 0)
        hub->acks_due = ipp_clock_mono_us() + HUB_ACK_DELAY_US;
    if (IPP_GROW(hub->acks, hub->cap_acks, hub->n_acks + 1, 256) != 0) {
        hub_ack(hub, engine, msg_id);
        return;
    }
    hub->acks[hub->n_acks].engine = engine;
    memcpy(hub->acks[hub->n_acks].msg_id, msg_id, sizeof hub->acks[0].msg_id);
    hub->n_acks++;
}

void hub_acks_flush(hub_t *hub, bool force)
{
    if (hub->n_acks == 0 ||
        (!force && hub->n_acks < HUB_ACK_MAX && ipp_clock_mono_us() < hub->acks_due))
        return;
    char *ids[512];
    size_t start = 0;
    while (start < hub->n_acks) {
        int engine = hub->acks[start].engine;
        size_t n = 0;
        // Gather this engine's acks (commit passes are short; engines few).
        for (size_t i = start; i < hub->n_acks && n < 512; i++)
            if (hub->acks[i].engine == engine && hub->acks[i].msg_id[0])
                ids[n++] = hub->acks[i].msg_id;
        hub_engine_t *e = hub_registry_get(hub->engines, engine);
        if (e) {
            Ipp__ResultAck ack = IPP__RESULT_ACK__INIT;
            ack.n_msg_ids = n;
            ack.msg_ids = ids;
            wire_frame_t ident = {e->ident, e->ident_len};
            wire_send(hub->wire, hub->engine_sock, &ident, 1, IPP__MSG_TYPE__RESULT_ACK, NULL,
                      &ack.base, NULL, 0, ZMQ_DONTWAIT, NULL, NULL);
        }
        for (size_t i = 0; i < n; i++)
            ids[i][0] = '\0';  // sent
        while (start < hub->n_acks && !hub->acks[start].msg_id[0])
            start++;
    }
    hub->n_acks = 0;
}

// hub_accept_later: queue "accepted" for task's client, sent at the end of
// the commit pass with the other acceptances for that client; sent at once
// if there is no memory.
void hub_accept_later(hub_t *hub, hub_task_t *task)
{
    if (!task->client_len)
        return;
    if (IPP_GROW(hub->sacks, hub->cap_sacks, hub->n_sacks + 1, 256) != 0) {
        Ipp__SubmitReply rep = IPP__SUBMIT_REPLY__INIT;
        rep.msg_id = task->msg_id;
        rep.has_accepted = 1;
        rep.accepted = 1;
        hub_reply(hub, &(wire_frame_t){task->client, task->client_len}, task->msg_id,
                  IPP__MSG_TYPE__SUBMIT_REPLY, &rep.base, NULL, 0);
        return;
    }
    if (hub->n_sacks == 0)
        hub->sacks_due = ipp_clock_mono_us() + HUB_ACCEPT_DELAY_US;
    task->sack = hub->n_sacks + 1;
    hub_sack_t *a = &hub->sacks[hub->n_sacks++];
    memcpy(a->client, task->client, task->client_len);
    a->client_len = task->client_len;
    memcpy(a->msg_id, task->msg_id, sizeof a->msg_id);
}

void hub_accepts_flush(hub_t *hub, bool force)
{
    if (hub->n_sacks == 0 ||
        (!force && hub->n_sacks < HUB_ACCEPT_MAX && ipp_clock_mono_us() < hub->sacks_due))
        return;
    enum { MAX_IDS = 4096 };
    char *ids[MAX_IDS];
    size_t start = 0;
    for (;;) {
        // Skip what is sent, and what was dropped (the result went first).
        while (start < hub->n_sacks && !hub->sacks[start].msg_id[0])
            start++;
        if (start == hub->n_sacks)
            break;
        const hub_sack_t *first = &hub->sacks[start];
        size_t n = 0;
        for (size_t i = start; i < hub->n_sacks && n < MAX_IDS; i++) {
            hub_sack_t *a = &hub->sacks[i];
            if (a->msg_id[0] && a->client_len == first->client_len &&
                memcmp(a->client, first->client, a->client_len) == 0)
                ids[n++] = a->msg_id;
        }
        Ipp__SubmitReply rep = IPP__SUBMIT_REPLY__INIT;
        rep.has_accepted = 1;
        rep.accepted = 1;
        rep.n_accepted_ids = n;
        rep.accepted_ids = ids;
        hub_reply(hub, &(wire_frame_t){first->client, first->client_len}, NULL,
                  IPP__MSG_TYPE__SUBMIT_REPLY, &rep.base, NULL, 0);
        for (size_t i = 0; i < n; i++)
            ids[i][0] = '\0';  // sent
    }
    hub->n_sacks = 0;
}
