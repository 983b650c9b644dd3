/* tasks.c — pending tasks: submission, results, commits, the scheduler's
 * callbacks (delivery to clients and acks are in deliver.c).
 *
 * The write-ahead rule lives here. A submission is recorded, and only when
 * the record is committed is the client told "accepted" and the task handed
 * to the scheduler (which may send it to an engine at once: the scheduler's
 * callbacks and the sending of a task are here too). A result is recorded,
 * and only when committed is the engine told to forget it, the scheduler
 * told (dependents may run), the client sent the result and the completion
 * announced. A task leaves memory once its result is delivered.
 *
 * Owns the hub_task_t records (through hub->tasks) and their decoded
 * requests, argument buffers and pending results, and the ring of commit
 * waits (hub->waits) that hub_commits consumes. Calls no other handler
 * file and never controller.c.
 */
#include "hub/hub.h"

#include "db/utf8.h"
#include "ipp/limits.h"
#include "proto/clock.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ------------------------------------------------------------ submission

// s_refuse: SUBMIT_REPLY accepted = false with an error.
static void s_refuse(hub_t *hub, const wire_frame_t *ident, const char *msg_id, ipp_err_t code,
                     const char *field, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void s_refuse(hub_t *hub, const wire_frame_t *ident, const char *msg_id, ipp_err_t code,
                     const char *field, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    Ipp__ErrorReply er;
    hub_error_fill(&er, code, field, text);
    Ipp__SubmitReply rep = IPP__SUBMIT_REPLY__INIT;
    rep.msg_id = (char *)msg_id;
    rep.has_accepted = 1;
    rep.accepted = 0;
    rep.error = &er;
    IPP_LOGI(hub->log, "task %s refused: %s", msg_id, text);
    hub_reply(hub, ident, msg_id, IPP__MSG_TYPE__SUBMIT_REPLY, &rep.base, NULL, 0);
}

// s_check_dep: every id of d is a msg_id, none is self. Returns the field
// name at fault, or NULL.
static const char *s_check_dep(const Ipp__Dependency *d, const char *self, const char *field,
                               const char **bad)
{
    if (!d)
        return NULL;
    for (size_t i = 0; i < d->n_ids; i++) {
        if (!ipp_msgid_valid(d->ids[i]) || strcmp(d->ids[i], self) == 0) {
            *bad = d->ids[i] ? d->ids[i] : "(null)";
            return field;
        }
    }
    if (d->has_success && d->has_failure && !d->success && !d->failure) {
        *bad = "success and failure both false";
        return field;
    }
    return NULL;
}

// s_validate: IPP_OK, or a refusal sent and its code returned.
static ipp_err_t s_validate(hub_t *hub, const wire_frame_t *ident, const char *id,
                            const Ipp__TaskRequest *r)
{
    switch (r->kind_case) {
    case IPP__TASK_REQUEST__KIND_COMMAND:
        if (r->command->n_argv == 0 && !(r->command->shell && r->command->shell[0])) {
            s_refuse(hub, ident, id, IPP_ERR_INVALID, "command",
                     "a command task needs argv or a shell string");
            return IPP_ERR_INVALID;
        }
        break;
    case IPP__TASK_REQUEST__KIND_CALL:
        if (!r->call->function || !r->call->function[0]) {
            s_refuse(hub, ident, id, IPP_ERR_INVALID, "call.function",
                     "a call task needs a function name");
            return IPP_ERR_INVALID;
        }
        if (r->call->has_wall_limit_us && r->call->wall_limit_us < 0) {
            s_refuse(hub, ident, id, IPP_ERR_INVALID, "call.wall_limit_us",
                     "a wall-time limit cannot be negative");
            return IPP_ERR_INVALID;
        }
        break;
    case IPP__TASK_REQUEST__KIND_NS:
        if (r->queue != IPP__QUEUE__QUEUE_MUX) {
            s_refuse(hub, ident, id, IPP_ERR_INVALID, "ns",
                     "namespace operations need a direct (mux) target");
            return IPP_ERR_INVALID;
        }
        break;
    default:
        s_refuse(hub, ident, id, IPP_ERR_INVALID, "kind",
                 "a task needs one of command, call or ns");
        return IPP_ERR_INVALID;
    }
    if (r->queue == IPP__QUEUE__QUEUE_MUX) {
        if (r->n_targets != 1) {
            s_refuse(hub, ident, id, IPP_ERR_INVALID, "targets",
                     "a direct task names exactly one engine (got %zu)", r->n_targets);
            return IPP_ERR_INVALID;
        }
        if (!hub_registry_get(hub->engines, r->targets[0])) {
            s_refuse(hub, ident, id, IPP_ERR_NOT_FOUND, "targets", "no engine %d is registered",
                     r->targets[0]);
            return IPP_ERR_NOT_FOUND;
        }
        if (r->follow && r->follow->n_ids) {
            s_refuse(hub, ident, id, IPP_ERR_INVALID, "follow",
                     "follow applies to load-balanced tasks only");
            return IPP_ERR_INVALID;
        }
    } else if (r->queue != IPP__QUEUE__QUEUE_TASK && r->queue != IPP__QUEUE__QUEUE_UNSPECIFIED) {
        s_refuse(hub, ident, id, IPP_ERR_INVALID, "queue", "unknown queue %d", (int)r->queue);
        return IPP_ERR_INVALID;
    }
    for (size_t i = 0; i < r->n_targets; i++) {
        if (r->targets[i] < 0) {
            s_refuse(hub, ident, id, IPP_ERR_INVALID, "targets", "engine id %d is negative",
                     r->targets[i]);
            return IPP_ERR_INVALID;
        }
    }
    const char *bad = NULL;
    const char *field = s_check_dep(r->after, id, "after", &bad);
    if (!field)
        field = s_check_dep(r->follow, id, "follow", &bad);
    if (field) {
        s_refuse(hub, ident, id, IPP_ERR_INVALID, field, "bad dependency in %s: %s", field, bad);
        return IPP_ERR_INVALID;
    }
    if ((r->has_timeout_us && r->timeout_us < 0) || (r->has_retries && r->retries < 0)) {
        s_refuse(hub, ident, id, IPP_ERR_INVALID, r->timeout_us < 0 ? "timeout" : "retries",
                 "timeout and retries cannot be negative");
        return IPP_ERR_INVALID;
    }
    if (r->has_retries && r->retries > IPP_RETRIES_MAX) {
        s_refuse(hub, ident, id, IPP_ERR_INVALID, "retries", "retries: at most %d, not %d",
                 IPP_RETRIES_MAX, (int)r->retries);
        return IPP_ERR_INVALID;
    }
    if (r->label && strlen(r->label) > HUB_LABEL_MAX) {
        s_refuse(hub, ident, id, IPP_ERR_INVALID, "label", "label longer than %d characters",
                 HUB_LABEL_MAX);
        return IPP_ERR_INVALID;
    }
    return IPP_OK;
}

// s_check_label: the label as the wire carries it (decoding stops a string
// at its first NUL) is text: no NUL byte, well-formed UTF-8. IPP_OK, or a
// refusal sent and its code returned.
static ipp_err_t s_check_label(hub_t *hub, const wire_frame_t *ident, const char *id,
                               const wire_msg_t *msg)
{
    const ProtobufCFieldDescriptor *fd =
        protobuf_c_message_descriptor_get_field_by_name(&ipp__task_request__descriptor, "label");
    size_t n = 0;
    const char *bytes = fd ? wire_msg_field(msg, fd->id, &n) : NULL;
    if (!bytes)
        return IPP_OK;
    if (memchr(bytes, '\0', n)) {
        s_refuse(hub, ident, id, IPP_ERR_INVALID, "label", "label contains a NUL byte");
        return IPP_ERR_INVALID;
    }
    if (!db_utf8_valid(bytes, n)) {
        s_refuse(hub, ident, id, IPP_ERR_INVALID, "label", "label is not valid UTF-8");
        return IPP_ERR_INVALID;
    }
    return IPP_OK;
}

void hub_client_submit(hub_t *hub, wire_msg_t *msg, const wire_frame_t *ident)
{
    const char *id = msg->header->msg_id;
    Ipp__TaskRequest *r = (Ipp__TaskRequest *)msg->content;
    if (s_validate(hub, ident, id, r) != IPP_OK || s_check_label(hub, ident, id, msg) != IPP_OK)
        return;
    // A pending duplicate is caught here; one recorded earlier makes the
    // insert fail in the writer ("already recorded"), which refuses it then
    // — no read of the store on the submission path.
    if (ipp_strmap_get(hub->tasks, id)) {
        s_refuse(hub, ident, id, IPP_ERR_INVALID, "msg_id", "task %s is already recorded", id);
        return;
    }
    hub_task_t *task = hub_task_new(hub);
    size_t nb = wire_msg_n_buffers(msg);
    if (!task || !hub_task_bufs(task, nb)) {
        hub_task_free(hub, task);
        s_refuse(hub, ident, id, IPP_ERR_NOMEM, NULL, "no memory for the task");
        return;
    }
    memcpy(task->msg_id, id, sizeof task->msg_id);
    if (ident->size <= sizeof task->client) {
        memcpy(task->client, ident->data, ident->size);
        task->client_len = ident->size;
    }
    // Who submitted it: the key ZAP checked, else what the header claims.
    if (hub->peer) {
        snprintf(task->by, sizeof task->by, "%s", hub->peer->name);
        task->by_key = true;
    } else if (msg->header->username) {
        snprintf(task->by, sizeof task->by, "%s", msg->header->username);
    }
    // The request keeps who asked, for the engine and the record.
    ipp_error_t err;
    uint64_t seq = hub_store_insert(hub->store, task, msg, &err);
    if (seq == 0) {
        hub_task_free(hub, task);
        s_refuse(hub, ident, id, err.code, NULL, "cannot record the task: %s", err.msg);
        return;
    }
    // Take the decoded request and the buffers from the message: no copies.
    task->req = r;
    msg->content = NULL;
    for (size_t i = 0; i < nb; i++) {
        zmq_msg_init(&task->bufs[i]);
        zmq_msg_move(&task->bufs[i], wire_msg_buffer_msg(msg, i));
    }
    task->n_bufs = nb;
    bool mapped = ipp_strmap_put(hub->tasks, task->msg_id, task) == 0;
    if (mapped)
        hub_task_count(hub, task);
    if (!mapped ||
        !hub_wait_push(hub, &(hub_wait_t){.seq = seq, .kind = HUB_WAIT_SUBMIT, .task = task})) {
        // The record is queued; without memory to track it, it stays
        // pending in the store and the next start recovers it.
        IPP_LOGE(hub->log, "no memory to track task %s; it is recorded and will be recovered", id);
        ipp_strmap_del(hub->tasks, task->msg_id);
        hub_task_uncount(hub, task);
        hub_task_free(hub, task);
    }
}

// ------------------------------------------------------------ failing

void hub_task_fail_now(hub_t *hub, hub_task_t *task, Ipp__Status status, const char *ename,
                       const char *evalue)
{
    int64_t now = ipp_clock_now_us();
    Ipp__TaskResult *res = calloc(1, sizeof *res);
    Ipp__RemoteError *er = calloc(1, sizeof *er);
    if (!res || !er) {
        free(res);
        free(er);
        IPP_LOGE(hub->log, "no memory to fail task %s", task->msg_id);
        return;
    }
    // Built like an unpacked message so one free releases it.
    ipp__task_result__init(res);
    ipp__remote_error__init(er);
    er->ename = strdup(ename ? ename : "TaskFailed");
    er->evalue = strdup(evalue ? evalue : "");
    res->has_status = 1;
    res->status = status;
    res->error = er;
    res->has_completed = 1;
    res->completed = now;
    res->msg_id = strdup(task->msg_id);
    hub_task_result_drop(task);  // one held already (no caller has one) is replaced
    task->result = res;
    task->in_sched = false;
    uint64_t seq = hub_store_fail(hub->store, task, status, er->ename, er->evalue, now);
    if (seq == 0 ||
        !hub_wait_push(hub, &(hub_wait_t){.seq = seq, .kind = HUB_WAIT_FAILED, .task = task})) {
        IPP_LOGE(hub->log, "cannot record the failure of %s; it stays pending", task->msg_id);
        return;
    }
}

// ------------------------------------------------------------ results

// s_result_aborted: r, a failure of a task aborted while it ran, becomes
// the abort it is: status ABORTED, ename TaskAborted (what the engine said
// stays in evalue). Its strings stay r's (freed with it).
static void s_result_aborted(Ipp__TaskResult *r)
{
    r->has_status = 1;
    r->status = IPP__STATUS__ABORTED;
    if (!r->error) {
        r->error = calloc(1, sizeof *r->error);
        if (!r->error)
            return;  // the status says it; no room for the words
        ipp__remote_error__init(r->error);
    }
    if (r->error->ename && strcmp(r->error->ename, "TaskAborted") == 0)
        return;
    char text[512];
    snprintf(text, sizeof text, "aborted while running (the engine reported %s%s%s)",
             r->error->ename ? r->error->ename : "a failure", r->error->evalue ? ": " : "",
             r->error->evalue ? r->error->evalue : "");
    char *ename = strdup("TaskAborted");
    char *evalue = strdup(text);
    if (!ename || !evalue) {
        free(ename);
        free(evalue);
        return;
    }
    free(r->error->ename);
    free(r->error->evalue);
    r->error->ename = ename;
    r->error->evalue = evalue;
}

void hub_task_result(hub_t *hub, wire_msg_t *msg, const wire_frame_t *ident, hub_engine_t *e)
{
    if (!e) {
        hub_reply_error(hub, hub->engine_sock, ident, msg->header->msg_id, IPP_ERR_NOT_FOUND,
                        "engine", "engine not registered with this controller");
        return;
    }
    Ipp__TaskResult *r = (Ipp__TaskResult *)msg->content;
    const char *id = msg->header->parent_id ? msg->header->parent_id : r->msg_id;
    if (!id || !ipp_msgid_valid(id)) {
        hub_reply_error(hub, hub->engine_sock, ident, msg->header->msg_id, IPP_ERR_INVALID,
                        "parent_id", "a result must name its task");
        return;
    }
    msg->content = NULL;
    hub_task_take_result(hub, e, id, r, msg, 0, wire_msg_n_buffers(msg));
}

void hub_task_take_result(hub_t *hub, hub_engine_t *e, const char *id, Ipp__TaskResult *r,
                          wire_msg_t *msg, size_t first_buf, size_t nb)
{
    hub_task_t *task = ipp_strmap_get(hub->tasks, id);
    if (task && task->engine == e->id && task->result) {
        // Sent again while the first copy waits for its commit (or for a
        // retry of one that failed): the ack goes out with that commit,
        // never before, so the engine keeps its copy until then.
        IPP_LOGI(hub->log, "result of %s from engine %d sent again; its commit is pending", id,
                 e->id);
        goto drop;
    }
    if (!task || task->engine != e->id || task->result || !task->in_sched) {
        // Recorded already (a result re-sent after a reconnect), taken away
        // from this engine, or unknown: the engine may forget it.
        IPP_LOGI(hub->log, "result of %s from engine %d not needed: acknowledged", id, e->id);
        hub_ack(hub, e->id, id);
        // A task this controller no longer holds is recorded: if the
        // scheduler still counts it as running there, free the slot. One
        // still pending here (waiting, queued, or running elsewhere) must
        // not be given an outcome the store never got: it runs as planned.
        if (!task)
            sched_result(hub->sched, id, r->has_status && r->status == IPP__STATUS__OK, e->id,
                         NULL);
        goto drop;
    }
    bool ok = r->has_status && r->status == IPP__STATUS__OK;
    if (!ok && task->aborted)
        s_result_aborted(r);
    if (!ok && !task->aborted && sched_retries_left(hub->sched, id) > 0) {
        // A failed attempt with retries left: not a result. The request is
        // durable, so the scheduler may send it again at once.
        IPP_LOGI(hub->log, "task %s failed on engine %d (%s); retrying", id, e->id,
                 (r->error && r->error->ename) ? r->error->ename : "error");
        hub_ack(hub, e->id, id);
        task->engine = -1;
        sched_result(hub->sched, id, false, e->id, NULL);
        goto drop;
    }
    r->has_engine_id = 1;
    r->engine_id = e->id;
    if (!r->msg_id)
        r->msg_id = strdup(id);
    if (!r->has_status) {
        r->has_status = 1;
        r->status = IPP__STATUS__ERROR;
    }
    if (!hub_task_rbufs(task, nb)) {
        IPP_LOGE(hub->log, "no memory for the result of %s", id);
        goto drop;  // not acknowledged: the engine keeps it and sends it when it registers next
    }
    for (size_t i = 0; i < nb; i++) {
        zmq_msg_init(&task->rbufs[i]);
        zmq_msg_move(&task->rbufs[i], wire_msg_buffer_msg(msg, first_buf + i));
    }
    task->n_rbufs = nb;
    task->result = r;
    uint64_t seq = hub_store_result(hub->store, task, e->uuid, ipp_clock_now_us());
    if (seq != 0 &&
        hub_wait_push(
            hub,
            &(hub_wait_t){.seq = seq, .kind = HUB_WAIT_RESULT, .task = task, .engine = e->id})) {
        // The engine is done with it: its slot is free for the next task
        // now. Dependents and the client wait for the commit.
        sched_release(hub->sched, id, e->id);
    } else {
        IPP_LOGE(hub->log,
                 "cannot record the result of %s; the engine keeps it and sends it "
                 "again when it registers next",
                 id);
        hub_task_result_drop(task);
    }
    return;
drop:
    ipp__task_result__free_unpacked(r, NULL);
}

// ------------------------------------------------------------ commits

// s_targets_unknown: a load-balanced task whose targets name only engine
// ids that never registered can never run: it is failed now with
// ImpossibleDependency (true). Targets that registered once but are down
// are the scheduler's: it waits the grace for one (targets_grace_us).
static bool s_targets_unknown(hub_t *hub, hub_task_t *task)
{
    const Ipp__TaskRequest *r = task->req;
    if (r->queue == IPP__QUEUE__QUEUE_MUX || r->n_targets == 0)
        return false;
    for (size_t i = 0; i < r->n_targets; i++)
        if (hub_store_engine_known(hub->store, r->targets[i]))
            return false;
    char why[160];
    snprintf(why, sizeof why, "no engine with id %d%s (its targets) has ever registered",
             r->targets[0], r->n_targets > 1 ? " or the others" : "");
    hub_task_fail_now(hub, task, IPP__STATUS__UNREACHABLE, "ImpossibleDependency", why);
    return true;
}

// s_committed: the wait w's mutation is durable.
static void s_committed(hub_t *hub, hub_wait_t *w)
{
    hub_task_t *task = w->task;
    switch (w->kind) {
    case HUB_WAIT_SUBMIT: {
        hub_accept_later(hub, task);
        if (task->result)
            break;  // aborted before its record was committed
        if (s_targets_unknown(hub, task))
            break;
        sched_spec_t spec;
        hub_task_spec(task, &spec);
        task->in_sched = true;
        ipp_err_t rc = sched_submit(hub->sched, &spec);
        if (rc != IPP_OK) {
            task->in_sched = false;
            hub_task_fail_now(hub, task, IPP__STATUS__UNREACHABLE, "InvalidDependency",
                              rc == IPP_ERR_NOMEM ? "the scheduler ran out of memory"
                                                  : "the scheduler refused the task");
        }
        break;
    }
    case HUB_WAIT_RESULT: {
        hub_ack_later(hub, w->engine, task->msg_id);
        hub_engine_t *e = hub_registry_get(hub->engines, w->engine);
        if (e)
            e->completed++;
        bool ok = task->result->status == IPP__STATUS__OK;
        task->in_sched = false;
        sched_result(hub->sched, task->msg_id, ok, w->engine, NULL);
        hub_deliver(hub, task);
        break;
    }
    case HUB_WAIT_FAILED:
        hub_deliver(hub, task);
        break;
    case HUB_WAIT_REPLY:
        w->done(hub, w, NULL, 0);
        break;
    }
}

// s_unsaved_add: task's result (kind RESULT, from engine) or failure
// (kind FAILED) did not commit: keep it and its id for
// hub_tasks_retry_unsaved. Without memory for the id the result is
// dropped, as before there was a retry: the engine still holds it and
// sends it again when it registers next.
static void s_unsaved_add(hub_t *hub, hub_task_t *task, hub_wait_kind_t kind, int engine)
{
    if (!task->unsaved && hub->n_unsaved == hub->cap_unsaved) {
        size_t cap = hub->cap_unsaved ? hub->cap_unsaved * 2 : 16;
        void *v = realloc(hub->unsaved, cap * sizeof *hub->unsaved);
        if (!v) {
            IPP_LOGE(hub->log, "no memory to hold the result of %s", task->msg_id);
            if (kind == HUB_WAIT_RESULT)
                hub_task_result_drop(task);
            return;
        }
        hub->unsaved = v;
        hub->cap_unsaved = cap;
    }
    if (!task->unsaved)
        memcpy(hub->unsaved[hub->n_unsaved++], task->msg_id, sizeof hub->unsaved[0]);
    task->unsaved = (int)kind;
    task->unsaved_engine = engine;
}

void hub_tasks_retry_unsaved(hub_t *hub)
{
    size_t keep = 0;
    for (size_t i = 0; i < hub->n_unsaved; i++) {
        hub_task_t *task = ipp_strmap_get(hub->tasks, hub->unsaved[i]);
        if (!task || !task->unsaved || !task->result)
            continue;
        hub_wait_kind_t kind = (hub_wait_kind_t)task->unsaved;
        uint64_t seq = 0;
        if (kind == HUB_WAIT_RESULT) {
            hub_engine_t *e = hub_registry_get(hub->engines, task->unsaved_engine);
            const char *uuid = e ? e->uuid : "";
            seq = hub_store_result(hub->store, task, uuid, ipp_clock_now_us());
        } else {
            const Ipp__RemoteError *er = task->result->error;
            seq = hub_store_fail(hub->store, task, task->result->status,
                                 er && er->ename ? er->ename : "TaskFailed",
                                 er && er->evalue ? er->evalue : "", task->result->completed);
        }
        if (seq != 0 && hub_wait_push(hub, &(hub_wait_t){.seq = seq,
                                                         .kind = kind,
                                                         .task = task,
                                                         .engine = task->unsaved_engine})) {
            task->unsaved = 0;  // s_failed adds it again if this one fails too
            continue;
        }
        memmove(hub->unsaved[keep++], hub->unsaved[i], sizeof hub->unsaved[0]);
    }
    hub->n_unsaved = keep;
}

// s_failed: the wait w's mutation did not apply (its batch rolled back on
// disk full or an I/O error, or the mutation itself was refused).
static void s_failed(hub_t *hub, hub_wait_t *w, const ipp_error_t *err, int64_t count)
{
    hub_task_t *task = w->task;
    switch (w->kind) {
    case HUB_WAIT_SUBMIT:
        if (task->client_len)
            s_refuse(hub, &(wire_frame_t){task->client, task->client_len}, task->msg_id, err->code,
                     NULL, "cannot record the task: %s", err->msg);
        ipp_strmap_del(hub->tasks, task->msg_id);
        hub_task_uncount(hub, task);
        hub_task_free(hub, task);
        break;
    case HUB_WAIT_RESULT:
        // Not acknowledged (the engine keeps it too): held here and
        // written again every heartbeat interval until it commits.
        IPP_LOGE(hub->log, "result of %s not recorded (%s); it is held and written again",
                 task->msg_id, err->msg);
        s_unsaved_add(hub, task, HUB_WAIT_RESULT, w->engine);
        break;
    case HUB_WAIT_FAILED:
        IPP_LOGE(hub->log, "failure of %s not recorded (%s); it is held and written again",
                 task->msg_id, err->msg);
        s_unsaved_add(hub, task, HUB_WAIT_FAILED, -1);
        break;
    case HUB_WAIT_REPLY:
        w->done(hub, w, err, count);
        break;
    }
}

// The commit waits are a ring in hub->waits, pushed here and by queries.c
// (a purge's reply), consumed in seq order by hub_commits.
bool hub_wait_push(hub_t *hub, const hub_wait_t *w)
{
    if (hub->waits_n == hub->waits_cap) {
        size_t cap = hub->waits_cap ? hub->waits_cap * 2 : 1024;
        hub_wait_t *v = malloc(cap * sizeof *v);
        if (!v)
            return false;
        for (size_t i = 0; i < hub->waits_n; i++)
            v[i] = hub->waits[(hub->waits_head + i) % hub->waits_cap];
        free(hub->waits);
        hub->waits = v;
        hub->waits_head = 0;
        hub->waits_cap = cap;
    }
    hub->waits[(hub->waits_head + hub->waits_n) % hub->waits_cap] = *w;
    hub->waits_n++;
    if (w->kind == HUB_WAIT_RESULT)
        hub->waits_results++;
    return true;
}

// A report of the writer: seqs first..last did not apply (or a purge ran).
typedef struct {
    uint64_t first, last;  // seqs covered
    int64_t count;         // purge count
    ipp_error_t err;       // why (IPP_OK: a purge that ran)
} s_report_t;

void hub_commits(hub_t *hub)
{
    uint64_t upto = hub_store_committed(hub->store);
    // Reports are few (failures and purges); gather them for this pass.
    s_report_t small[16];
    s_report_t *reps = small;
    size_t n = 0, cap = 16;
    s_report_t r;
    while (hub_store_next_report(hub->store, &r.first, &r.last, &r.count, &r.err)) {
        if (n == cap) {
            s_report_t *v = malloc(cap * 2 * sizeof *v);
            if (!v)
                break;  // the rest count as committed: logged by the writer
            memcpy(v, reps, n * sizeof *v);
            if (reps != small)
                free(reps);
            reps = v;
            cap *= 2;
        }
        reps[n++] = r;
    }
    while (hub->waits_n > 0) {
        hub_wait_t w = hub->waits[hub->waits_head];
        if (w.seq > upto)
            break;
        hub->waits_head = (hub->waits_head + 1) % hub->waits_cap;
        hub->waits_n--;
        if (w.kind == HUB_WAIT_RESULT)
            hub->waits_results--;
        const s_report_t *hit = NULL;
        for (size_t i = 0; i < n && !hit; i++)
            if (w.seq >= reps[i].first && w.seq <= reps[i].last)
                hit = &reps[i];
        if (hit && hit->err.code != IPP_OK)
            s_failed(hub, &w, &hit->err, hit->count);
        else if (hit && w.kind == HUB_WAIT_REPLY)
            w.done(hub, &w, NULL, hit->count);
        else
            s_committed(hub, &w);
        free(w.reply);
    }
    if (reps != small)
        free(reps);
}

// ------------------------------------------------------------ scheduler

// s_send_task: send task to engine engine_id (a scheduler decision).
static void s_send_task(hub_t *hub, hub_task_t *task, int engine_id)
{
    hub_engine_t *e = hub_registry_get(hub->engines, engine_id);
    if (!e) {
        // The scheduler only picks registered engines; be safe anyway.
        IPP_LOGE(hub->log, "task %s sent to unknown engine %d", task->msg_id, engine_id);
        return;
    }
    hub_dispatch(hub, task, e);
}

static void s_sched_dispatch(void *ctx, void *user, const char *msg_id, int engine)
{
    hub_task_t *task = user;
    if (task->result) {
        // Its result arrived and is being recorded, but its engine went
        // away first and the scheduler retried it: no need to run it again.
        // Tell the scheduler it is done so the slot is not held forever.
        sched_result(((hub_t *)ctx)->sched, msg_id, task->result->status == IPP__STATUS__OK, engine,
                     NULL);
        return;
    }
    s_send_task(ctx, user, engine);
}

static Ipp__Status s_status_of(sched_outcome_t why)
{
    switch (why) {
    case SCHED_ABORTED:
        return IPP__STATUS__ABORTED;
    case SCHED_LOST:
        return IPP__STATUS__LOST;
    case SCHED_UNREACHABLE:
    case SCHED_TIMEOUT:
    case SCHED_INVALID:
        return IPP__STATUS__UNREACHABLE;
    default:
        return IPP__STATUS__ERROR;
    }
}

static void s_sched_finish(void *ctx, void *user, const char *msg_id, sched_outcome_t why,
                           const char *ename, const char *evalue)
{
    (void)msg_id;
    hub_task_t *task = user;
    task->engine = -1;
    if (task->result) {
        // A result is being recorded: it stands (the engine died after
        // sending it). The scheduler has forgotten the task already.
        task->in_sched = false;
        return;
    }
    if (task->aborted && why == SCHED_LOST) {
        // Its engine went away after being told to stop it.
        hub_task_fail_now(ctx, task, IPP__STATUS__ABORTED, "TaskAborted",
                          "aborted while running (then its engine went away)");
        return;
    }
    hub_task_fail_now(ctx, task, s_status_of(why), ename, evalue);
}

static sched_lookup_t s_sched_lookup(void *ctx, const char *msg_id, int *engine)
{
    hub_t *hub = ctx;
    hub_task_t *task = ipp_strmap_get(hub->tasks, msg_id);
    if (task) {
        *engine = task->engine;
        return SCHED_LOOKUP_PENDING;
    }
    return hub_store_dep(hub->store, msg_id, engine);
}

static int64_t s_sched_now(void *ctx)
{
    (void)ctx;
    return ipp_clock_mono_us();
}

const sched_ops_t hub_sched_ops = {
    .dispatch = s_sched_dispatch,
    .finish = s_sched_finish,
    .lookup = s_sched_lookup,
    .now = s_sched_now,
};
