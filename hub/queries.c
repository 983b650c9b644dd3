/* queries.c — the controller's side of the client conversation.
 *
 * Every client request but a submission (that goes to tasks.c) is answered
 * here, one handler per type (see the table in controller.c): connect,
 * queue_status, result_status/get_result, purge, resubmit, db_query,
 * history, abort, clear, shutdown, load, engine list. Reads go to the task
 * store's read connection (so ids from earlier controller runs are found);
 * what is pending is answered from memory first. It never writes to the
 * store itself: purges go through store.c and are answered once settled,
 * resubmissions through tasks.c's submission path. Owns nothing past a
 * call except the reply contexts of purges in flight (in the commit waits).
 */
#include "hub/hub.h"
#include "hub/reads.h"

#include "db/reader.h"
#include "proto/clock.h"
#include "proto/codec.h"
#include "proto/grow.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Where a deferred reply goes.
typedef struct {
    uint8_t ident[256];              // client routing id
    size_t ident_len;                // its length
    char parent[IPP_MSGID_LEN + 1];  // the request's msg_id
} s_return_t;

static void s_return_init(s_return_t *r, const wire_msg_t *msg)
{
    wire_frame_t id[1];
    r->ident_len = 0;
    if (wire_msg_idents(msg, id, 1) == 1 && id->size <= sizeof r->ident) {
        memcpy(r->ident, id->data, id->size);
        r->ident_len = id->size;
    }
    snprintf(r->parent, sizeof r->parent, "%s", msg->header->msg_id);
}

// ------------------------------------------------------------ connect

void hub_query_connect(hub_t *hub, wire_msg_t *msg, const wire_frame_t *ident)
{
    const char *parent = msg->header->msg_id;
    size_t n = hub_registry_count(hub->engines);
    Ipp__EngineInfo *infos = n ? calloc(n, sizeof *infos) : NULL;
    Ipp__EngineInfo **ptrs = n ? calloc(n, sizeof *ptrs) : NULL;
    if (n && (!infos || !ptrs)) {
        free(infos);
        free(ptrs);
        hub_reply_error(hub, hub->client_sock, ident, parent, IPP_ERR_NOMEM, NULL, "no memory");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        hub_engine_info(hub_registry_at(hub->engines, i), &infos[i], true);
        ptrs[i] = &infos[i];
    }
    Ipp__ConnectReply rep = IPP__CONNECT_REPLY__INIT;
    rep.n_engines = n;
    rep.engines = ptrs;
    rep.controller_session = (char *)wire_session_id(hub->wire);
    rep.has_started = 1;
    rep.started = hub->started;
    rep.has_engines_seq = 1;
    rep.engines_seq = hub->engines_seq;
    hub_reply(hub, ident, parent, IPP__MSG_TYPE__CONNECT_REPLY, &rep.base, NULL, 0);
    free(infos);
    free(ptrs);
}

void hub_query_engine_list(hub_t *hub, wire_msg_t *msg, const wire_frame_t *ident)
{
    const char *parent = msg->header->msg_id;
    // Every engine ever registered: the live ones from the registry (a
    // registration's row may not be committed yet), then those in the
    // store that are not live.
    ipp_error_t err;
    db_engines_t *all = NULL;
    if (db_reader_engines(hub_store_reader(hub->store), &all, &err) != IPP_OK) {
        hub_reply_error(hub, hub->client_sock, ident, parent, err.code, NULL, "%s", err.msg);
        return;
    }
    size_t live = hub_registry_count(hub->engines);
    size_t cap = live + all->n;
    Ipp__EngineInfo *infos = cap ? calloc(cap, sizeof *infos) : NULL;
    Ipp__EngineInfo **ptrs = cap ? calloc(cap, sizeof *ptrs) : NULL;
    if (cap && (!infos || !ptrs)) {
        free(infos);
        free(ptrs);
        db_engines_destroy(&all);
        hub_reply_error(hub, hub->client_sock, ident, parent, IPP_ERR_NOMEM, NULL, "no memory");
        return;
    }
    size_t n = 0;
    for (size_t i = 0; i < live; i++) {
        hub_engine_info(hub_registry_at(hub->engines, i), &infos[n], true);
        ptrs[n] = &infos[n];
        n++;
    }
    for (size_t i = 0; i < all->n; i++) {
        const db_engine_info_t *d = &all->v[i];
        if (hub_registry_get(hub->engines, d->id))
            continue;
        ipp__engine_info__init(&infos[n]);
        infos[n].has_engine_id = 1;
        infos[n].engine_id = d->id;
        infos[n].uuid = d->uuid;
        infos[n].hostname = d->hostname;
        infos[n].has_pid = 1;
        infos[n].pid = d->pid;
        infos[n].has_registered = 1;
        infos[n].registered = d->registered;
        infos[n].has_alive = 1;
        infos[n].alive = 0;
        ptrs[n] = &infos[n];
        n++;
    }
    Ipp__EngineListReply rep = IPP__ENGINE_LIST_REPLY__INIT;
    rep.n_engines = n;
    rep.engines = ptrs;
    rep.has_seq = 1;
    rep.seq = hub->engines_seq;
    hub_reply(hub, ident, parent, IPP__MSG_TYPE__ENGINE_LIST_REPLY, &rep.base, NULL, 0);
    free(infos);
    free(ptrs);
    db_engines_destroy(&all);
}

// ------------------------------------------------------------ queue status

typedef struct {
    char **ids;    // collected msg_ids (borrowed from the scheduler for the call)
    size_t n;      // used
    size_t cap;    // allocated
    bool running;  // collect running (else queued) tasks
} s_ids_t;

static void s_collect(void *arg, const char *msg_id, void *user, bool running)
{
    s_ids_t *c = arg;
    hub_task_t *task = user;
    if (running != c->running)
        return;
    if (IPP_GROW(c->ids, c->cap, c->n + 1, 16) != 0)
        return;
    c->ids[c->n++] = task ? task->msg_id : (char *)msg_id;
}

void hub_query_queue_status(hub_t *hub, wire_msg_t *msg, const wire_frame_t *ident)
{
    const char *parent = msg->header->msg_id;
    const Ipp__QueueStatusRequest *req = (const Ipp__QueueStatusRequest *)msg->content;
    int ids[1024];
    size_t n;
    if (req->n_targets) {
        n = req->n_targets < 1024 ? req->n_targets : 1024;
        for (size_t i = 0; i < n; i++) {
            if (!hub_registry_get(hub->engines, req->targets[i])) {
                hub_reply_error(hub, hub->client_sock, ident, parent, IPP_ERR_NOT_FOUND, "targets",
                                "no engine %d is registered", req->targets[i]);
                return;
            }
            ids[i] = req->targets[i];
        }
    } else {
        n = hub_registry_count(hub->engines);
        if (n > 1024)
            n = 1024;
        for (size_t i = 0; i < n; i++)
            ids[i] = hub_registry_at(hub->engines, i)->id;
    }
    Ipp__EngineQueue *qs = n ? calloc(n, sizeof *qs) : NULL;
    Ipp__EngineQueue **ptrs = n ? calloc(n, sizeof *ptrs) : NULL;
    s_ids_t *lists = n ? calloc(2 * n, sizeof *lists) : NULL;
    if (n && (!qs || !ptrs || !lists)) {
        hub_reply_error(hub, hub->client_sock, ident, parent, IPP_ERR_NOMEM, NULL, "no memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        sched_engine_info_t info = {0};
        sched_engine_info(hub->sched, ids[i], &info);
        ipp__engine_queue__init(&qs[i]);
        qs[i].has_engine_id = 1;
        qs[i].engine_id = ids[i];
        qs[i].has_queued = 1;
        qs[i].queued = (int32_t)info.queued;
        qs[i].has_running = 1;
        qs[i].running = (int32_t)info.running;
        hub_engine_t *e = hub_registry_get(hub->engines, ids[i]);
        qs[i].has_completed = 1;
        qs[i].completed = e ? e->completed : (int64_t)info.completed;
        if (req->verbose) {
            lists[2 * i].running = false;
            lists[2 * i + 1].running = true;
            sched_foreach_task(hub->sched, ids[i], s_collect, &lists[2 * i]);
            sched_foreach_task(hub->sched, ids[i], s_collect, &lists[2 * i + 1]);
            qs[i].n_queued_ids = lists[2 * i].n;
            qs[i].queued_ids = lists[2 * i].ids;
            qs[i].n_running_ids = lists[2 * i + 1].n;
            qs[i].running_ids = lists[2 * i + 1].ids;
        }
        ptrs[i] = &qs[i];
    }
    sched_stats_t st;
    sched_stats(hub->sched, &st);
    Ipp__QueueStatusReply rep = IPP__QUEUE_STATUS_REPLY__INIT;
    rep.n_engines = n;
    rep.engines = ptrs;
    rep.has_unassigned = 1;
    rep.unassigned = (int32_t)st.unassigned;
    rep.has_curve = 1;
    rep.curve = hub->cfg.curve;
    wire_refusal_t refs[WIRE_REFUSAL_KINDS];
    size_t n_refs = wire_refusals(hub->wire, refs, WIRE_REFUSAL_KINDS);
    Ipp__Refusals rf[HUB_REFUSE__N + WIRE_REFUSAL_KINDS];
    Ipp__Refusals *rfp[HUB_REFUSE__N + WIRE_REFUSAL_KINDS];
    size_t nrf = 0;
    for (int i = 0; hub->cfg.curve && i < HUB_REFUSE__N; i++, nrf++) {
        ipp__refusals__init(&rf[nrf]);
        rf[nrf].reason = (char *)hub_refusal_name((hub_refusal_t)i);
        rf[nrf].has_count = 1;
        rf[nrf].count = hub->refusals[i];
        rfp[nrf] = &rf[nrf];
    }
    for (size_t i = 0; i < n_refs && i < WIRE_REFUSAL_KINDS; i++, nrf++) {
        ipp__refusals__init(&rf[nrf]);
        const char *name = ipp_errname(refs[i].code);
        rf[nrf].reason = (char *)(strncmp(name, "IPP_ERR_", 8) == 0 ? name + 8 : name);
        rf[nrf].has_count = 1;
        rf[nrf].count = (int64_t)refs[i].count;
        rfp[nrf] = &rf[nrf];
    }
    rep.n_refusals = nrf;
    rep.refusals = rfp;
    hub_reply(hub, ident, parent, IPP__MSG_TYPE__QUEUE_STATUS_REPLY, &rep.base, NULL, 0);
out:
    for (size_t i = 0; lists && i < 2 * n; i++)
        free(lists[i].ids);
    free(lists);
    free(qs);
    free(ptrs);
}

// ------------------------------------------------------------ results

static Ipp__Status s_wire_status(db_status_t st)
{
    switch (st) {
    case DB_STATUS_PENDING:
        return IPP__STATUS__PENDING;
    case DB_STATUS_OK:
        return IPP__STATUS__OK;
    case DB_STATUS_ERROR:
        return IPP__STATUS__ERROR;
    case DB_STATUS_ABORTED:
        return IPP__STATUS__ABORTED;
    case DB_STATUS_UNREACHABLE:
        return IPP__STATUS__UNREACHABLE;
    case DB_STATUS_LOST:
        return IPP__STATUS__LOST;
    default:
        return IPP__STATUS__UNKNOWN;
    }
}

// s_record: fill out (and its error er) from rec; strings borrowed from rec.
static void s_record(const db_record_t *rec, Ipp__TaskRecord *out, Ipp__RemoteError *er)
{
    ipp__task_record__init(out);
    out->msg_id = rec->msg_id;
    out->has_status = 1;
    out->status = s_wire_status(rec->status);
    out->client_uuid = rec->client_uuid;
    out->engine_uuid = rec->engine_uuid;
#define S_TIME(k, f)                                                                               \
    if (db_record_has(rec, k) && !(rec->nulls & DB_KEYBIT(k))) {                                   \
        out->has_##f = 1;                                                                          \
        out->f = rec->f;                                                                           \
    }
    S_TIME(DB_KEY_SUBMITTED, submitted)
    S_TIME(DB_KEY_STARTED, started)
    S_TIME(DB_KEY_COMPLETED, completed)
    S_TIME(DB_KEY_RECEIVED, received)
#undef S_TIME
    if (!(rec->nulls & DB_KEYBIT(DB_KEY_ENGINE_ID))) {
        out->has_engine_id = 1;
        out->engine_id = rec->engine_id;
    }
    out->resubmitted = rec->resubmitted;
    if (rec->queue) {
        out->has_queue = 1;
        out->queue =
            strcmp(rec->queue, "mux") == 0 ? IPP__QUEUE__QUEUE_MUX : IPP__QUEUE__QUEUE_TASK;
    }
    out->label = rec->label;
    if (rec->stdout_data.data) {
        out->has_stdout_data = 1;
        out->stdout_data.data = rec->stdout_data.data;
        out->stdout_data.len = rec->stdout_data.size;
    }
    if (rec->stderr_data.data) {
        out->has_stderr_data = 1;
        out->stderr_data.data = rec->stderr_data.data;
        out->stderr_data.len = rec->stderr_data.size;
    }
    if (rec->error.set) {
        ipp__remote_error__init(er);
        er->ename = rec->error.ename;
        er->evalue = rec->error.evalue;
        er->n_traceback = rec->error.n_traceback;
        er->traceback = rec->error.traceback;
        er->has_engine_id = 1;
        er->engine_id = rec->error.engine_id;
        out->error = er;
    }
    out->has_attempts = 1;
    out->attempts = rec->attempts;
    out->has_result_buffers = 1;
    out->result_buffers = (int32_t)rec->result_buffers.n;
    out->execute_input = rec->execute_input;
    out->summary = rec->execute_result;
    if (rec->header.data) {
        out->has_header = 1;
        out->header.data = rec->header.data;
        out->header.len = rec->header.size;
    }
}

// s_record_result: what only the recorded result frame holds (exit status,
// signal, truncation) into out. res (the decoded frame, or NULL) is the
// caller's to free.
static void s_record_result(const Ipp__TaskResult *res, Ipp__TaskRecord *out)
{
    if (!res)
        return;
    out->has_exit_status = res->has_exit_status;
    out->exit_status = res->exit_status;
    out->has_term_signal = res->has_term_signal;
    out->term_signal = res->term_signal;
    out->has_stdout_truncated = res->has_stdout_truncated;
    out->stdout_truncated = res->stdout_truncated;
    out->has_stderr_truncated = res->has_stderr_truncated;
    out->stderr_truncated = res->stderr_truncated;
}

void hub_query_results(hub_t *hub, wire_msg_t *msg, const wire_frame_t *ident)
{
    const char *parent = msg->header->msg_id;
    const Ipp__ResultRequest *req = (const Ipp__ResultRequest *)msg->content;
    size_t n = req->n_msg_ids;
    db_status_t *st = n ? calloc(n, sizeof *st) : NULL;
    char **pend = n ? calloc(n, sizeof *pend) : NULL;
    char **done = n ? calloc(n, sizeof *done) : NULL;
    char **unk = n ? calloc(n, sizeof *unk) : NULL;
    db_record_t **recs = NULL;
    Ipp__TaskRecord *trs = NULL;
    Ipp__TaskRecord **tptrs = NULL;
    Ipp__RemoteError *ers = NULL;
    Ipp__TaskRequest **reqs = NULL;
    Ipp__TaskResult **ress = NULL;
    zmq_msg_t *bufs = NULL;
    size_t np = 0, nd = 0, nu = 0, nbufs = 0;
    ipp_error_t err;
    if (n && (!st || !pend || !done || !unk)) {
        hub_reply_error(hub, hub->client_sock, ident, parent, IPP_ERR_NOMEM, NULL, "no memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (!req->msg_ids[i] || !req->msg_ids[i][0] || strlen(req->msg_ids[i]) > 127) {
            hub_reply_error(hub, hub->client_sock, ident, parent, IPP_ERR_INVALID, "msg_ids",
                            "msg_id %zu is empty or too long", i);
            goto out;
        }
    }
    if (n && db_reader_result_status(hub_store_reader(hub->store),
                                     (const char *const *)req->msg_ids, n, st, &err) != IPP_OK) {
        hub_reply_error(hub, hub->client_sock, ident, parent, err.code, NULL, "%s", err.msg);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        // What memory holds is the truth for pending work: a result that
        // is recorded but not yet delivered still counts as pending.
        hub_task_t *task = ipp_strmap_get(hub->tasks, req->msg_ids[i]);
        if (task) {
            st[i] = DB_STATUS_PENDING;
            hub_task_watch(task, ident);
        }
        if (st[i] == DB_STATUS_PENDING)
            pend[np++] = req->msg_ids[i];
        else if (st[i] == DB_STATUS_UNKNOWN)
            unk[nu++] = req->msg_ids[i];
        else
            done[nd++] = req->msg_ids[i];
    }
    Ipp__ResultReply rep = IPP__RESULT_REPLY__INIT;
    rep.n_pending = np;
    rep.pending = pend;
    rep.n_completed = nd;
    rep.completed = done;
    rep.n_unknown = nu;
    rep.unknown = unk;
    if (req->records && nd) {
        recs = calloc(nd, sizeof *recs);
        trs = calloc(nd, sizeof *trs);
        tptrs = calloc(nd, sizeof *tptrs);
        ers = calloc(nd, sizeof *ers);
        reqs = calloc(nd, sizeof *reqs);
        ress = calloc(nd, sizeof *ress);
        if (!recs || !trs || !tptrs || !ers || !reqs || !ress) {
            hub_reply_error(hub, hub->client_sock, ident, parent, IPP_ERR_NOMEM, NULL, "no memory");
            goto out;
        }
        size_t total = 0;
        for (size_t i = 0; i < nd; i++) {
            if (db_reader_get(hub_store_reader(hub->store), done[i], DB_KEYS_ALL, &recs[i], &err) !=
                IPP_OK) {
                hub_reply_error(hub, hub->client_sock, ident, parent, err.code, NULL, "%s",
                                err.msg);
                goto out;
            }
            s_record(recs[i], &trs[i], &ers[i]);
            if (recs[i]->content.data)
                reqs[i] =
                    ipp__task_request__unpack(NULL, recs[i]->content.size, recs[i]->content.data);
            trs[i].request = reqs[i];
            if (recs[i]->result_content.data)
                ress[i] = ipp__task_result__unpack(NULL, recs[i]->result_content.size,
                                                   recs[i]->result_content.data);
            s_record_result(ress[i], &trs[i]);
            tptrs[i] = &trs[i];
            total += recs[i]->result_buffers.n;
        }
        if (total) {
            bufs = calloc(total, sizeof *bufs);
            if (!bufs) {
                hub_reply_error(hub, hub->client_sock, ident, parent, IPP_ERR_NOMEM, NULL,
                                "no memory");
                goto out;
            }
            for (size_t i = 0; i < nd; i++) {
                for (size_t k = 0; k < recs[i]->result_buffers.n; k++) {
                    const db_bytes_t *b = &recs[i]->result_buffers.v[k];
                    zmq_msg_init_size(&bufs[nbufs], b->size);
                    if (b->size)
                        memcpy(zmq_msg_data(&bufs[nbufs]), b->data, b->size);
                    nbufs++;
                }
            }
        }
        rep.n_records = nd;
        rep.records = tptrs;
    }
    hub_reply(hub, ident, parent, IPP__MSG_TYPE__RESULT_REPLY, &rep.base, bufs, nbufs);
    nbufs = 0;  // sent (or closed) by hub_reply
out:
    for (size_t i = 0; i < nbufs; i++)
        zmq_msg_close(&bufs[i]);
    free(bufs);
    for (size_t i = 0; recs && i < nd; i++) {
        db_record_destroy(&recs[i]);
        if (reqs[i])
            ipp__task_request__free_unpacked(reqs[i], NULL);
        if (ress && ress[i])
            ipp__task_result__free_unpacked(ress[i], NULL);
    }
    free(ress);
    free(recs);
    free(trs);
    free(tptrs);
    free(ers);
    free(reqs);
    free(st);
    free(pend);
    free(done);
    free(unk);
}

// ------------------------------------------------------------ purge

static void s_purge_done(hub_t *hub, hub_wait_t *w, const ipp_error_t *err, int64_t count)
{
    s_return_t *r = w->reply;
    wire_frame_t ident = {r->ident, r->ident_len};
    if (err) {
        hub_reply_error(hub, hub->client_sock, r->ident_len ? &ident : NULL, r->parent, err->code,
                        NULL, "%s", err->msg);
        return;
    }
    Ipp__PurgeReply rep = IPP__PURGE_REPLY__INIT;
    rep.has_purged = 1;
    rep.purged = count;
    hub_reply(hub, r->ident_len ? &ident : NULL, r->parent, IPP__MSG_TYPE__PURGE_REPLY, &rep.base,
              NULL, 0);
}

// s_permit_recorded: may the sender act (what) on the recorded task id?
// Decided on who submitted it; a task not recorded is left to the request
// (it answers "not found" its own way). Answers and returns false if not.
static bool s_permit_recorded(hub_t *hub, const wire_frame_t *ident, const char *parent,
                              const char *what, const char *id)
{
    if (!hub->peer || hub->peer->role == DB_ROLE_ADMIN)
        return true;
    db_record_t *rec = NULL;
    ipp_error_t err;
    uint64_t keys = DB_KEYBIT(DB_KEY_SUBMITTED_BY) | DB_KEYBIT(DB_KEY_SUBMITTED_BY_KEY);
    if (db_reader_get(hub_store_reader(hub->store), id, keys, &rec, &err) != IPP_OK || !rec)
        return true;
    bool ok = hub_permit_task(hub, ident, parent, what, id, rec->submitted_by,
                              rec->submitted_by_key == 1);
    db_record_destroy(&rec);
    return ok;
}

void hub_query_purge(hub_t *hub, wire_msg_t *msg, const wire_frame_t *ident)
{
    const char *parent = msg->header->msg_id;
    const Ipp__PurgeRequest *req = (const Ipp__PurgeRequest *)msg->content;
    if (!req->n_msg_ids && !req->all && !req->n_engine_ids &&
        !(req->query_json && req->query_json[0])) {
        hub_reply_error(hub, hub->client_sock, ident, parent, IPP_ERR_INVALID, NULL,
                        "purge needs msg_ids, all, engine_ids or a query");
        return;
    }
    // A client key purges its own tasks, named one by one; the rest is
    // for admins.
    if ((req->all || req->n_engine_ids || (req->query_json && req->query_json[0])) &&
        !hub_permit_admin(hub, ident, parent,
                          req->all            ? "purging every task"
                          : req->n_engine_ids ? "purging by engine"
                                              : "purging by query"))
        return;
    for (size_t i = 0; i < req->n_msg_ids; i++) {
        if (ipp_strmap_get(hub->tasks, req->msg_ids[i])) {
            hub_reply_error(hub, hub->client_sock, ident, parent, IPP_ERR_PENDING, "msg_ids",
                            "task %s is pending and cannot be purged", req->msg_ids[i]);
            return;
        }
        if (!s_permit_recorded(hub, ident, parent, "purge", req->msg_ids[i]))
            return;
    }
    s_return_t *r = malloc(sizeof *r);
    if (!r) {
        hub_reply_error(hub, hub->client_sock, ident, parent, IPP_ERR_NOMEM, NULL, "no memory");
        return;
    }
    s_return_init(r, msg);
    ipp_error_t err;
    // The purge log names the key when there is one.
    uint64_t seq = hub_store_purge(hub->store, req,
                                   hub->peer               ? hub->peer->name
                                   : msg->header->username ? msg->header->username
                                                           : msg->header->session,
                                   &err);
    if (seq == 0) {
        free(r);
        hub_reply_error(hub, hub->client_sock, ident, parent, err.code, NULL, "%s", err.msg);
        return;
    }
    if (!hub_wait_push(
            hub,
            &(hub_wait_t){.seq = seq, .kind = HUB_WAIT_REPLY, .reply = r, .done = s_purge_done})) {
        free(r);
        hub_reply_error(hub, hub->client_sock, ident, parent, IPP_ERR_NOMEM, NULL,
                        "no memory to wait for the purge (it still runs)");
    }
}

// ------------------------------------------------------------ resubmit

// A resubmission's deferred reply: where it goes and the id pairs, in one
// block (the commit wait frees it with free()).
typedef struct {
    s_return_t ret;                    // where the reply goes
    size_t n;                          // how many pairs
    char ids[][2][IPP_MSGID_LEN + 1];  // [i][0] the old id, [i][1] the new
} s_resub_t;

// s_resubmit_done: the new tasks and their links are committed (or not):
// only now may the client learn the new ids, since a controller killed
// before the commit would have forgotten them.
static void s_resubmit_done(hub_t *hub, hub_wait_t *w, const ipp_error_t *err, int64_t count)
{
    (void)count;
    s_resub_t *r = w->reply;
    wire_frame_t ident = {r->ret.ident, r->ret.ident_len};
    const wire_frame_t *to = r->ret.ident_len ? &ident : NULL;
    if (err) {
        hub_reply_error(hub, hub->client_sock, to, r->ret.parent, err->code, NULL,
                        "resubmission not recorded: %s", err->msg);
        return;
    }
    char **olds = calloc(r->n, sizeof *olds);
    char **news = calloc(r->n, sizeof *news);
    if (!olds || !news) {
        free(olds);
        free(news);
        hub_reply_error(hub, hub->client_sock, to, r->ret.parent, IPP_ERR_NOMEM, NULL,
                        "no memory for the reply (the resubmissions are recorded)");
        return;
    }
    for (size_t i = 0; i < r->n; i++) {
        olds[i] = r->ids[i][0];
        news[i] = r->ids[i][1];
    }
    Ipp__ResubmitReply rep = IPP__RESUBMIT_REPLY__INIT;
    rep.n_old_ids = r->n;
    rep.old_ids = olds;
    rep.n_new_ids = r->n;
    rep.new_ids = news;
    hub_reply(hub, to, r->ret.parent, IPP__MSG_TYPE__RESUBMIT_REPLY, &rep.base, NULL, 0);
    free(olds);
    free(news);
}

void hub_query_resubmit(hub_t *hub, wire_msg_t *msg, const wire_frame_t *ident)
{
    const char *parent = msg->header->msg_id;
    const Ipp__ResubmitRequest *req = (const Ipp__ResubmitRequest *)msg->content;
    size_t n = req->n_msg_ids;
    db_record_t **recs = n ? calloc(n, sizeof *recs) : NULL;
    s_resub_t *res = n ? calloc(1, sizeof *res + n * sizeof res->ids[0]) : NULL;
    ipp_error_t err;
    if (n == 0) {
        hub_reply_error(hub, hub->client_sock, ident, parent, IPP_ERR_INVALID, "msg_ids",
                        "resubmit needs msg_ids");
        goto out;
    }
    if (!recs || !res) {
        hub_reply_error(hub, hub->client_sock, ident, parent, IPP_ERR_NOMEM, NULL, "no memory");
        goto out;
    }
    // Check them all before resubmitting any.
    for (size_t i = 0; i < n; i++) {
        if (ipp_strmap_get(hub->tasks, req->msg_ids[i])) {
            hub_reply_error(hub, hub->client_sock, ident, parent, IPP_ERR_PENDING, "msg_ids",
                            "task %s is still pending; only finished tasks can be resubmitted",
                            req->msg_ids[i]);
            goto out;
        }
        uint64_t keys = DB_KEYBIT(DB_KEY_CONTENT) | DB_KEYBIT(DB_KEY_BUFFERS) |
                        DB_KEYBIT(DB_KEY_STATUS) | DB_KEYBIT(DB_KEY_SUBMITTED_BY) |
                        DB_KEYBIT(DB_KEY_SUBMITTED_BY_KEY);
        if (db_reader_get(hub_store_reader(hub->store), req->msg_ids[i], keys, &recs[i], &err) !=
            IPP_OK) {
            hub_reply_error(hub, hub->client_sock, ident, parent, err.code, "msg_ids", "%s",
                            err.msg);
            goto out;
        }
        if (recs[i]->status == DB_STATUS_PENDING) {
            hub_reply_error(hub, hub->client_sock, ident, parent, IPP_ERR_PENDING, "msg_ids",
                            "task %s is still pending; only finished tasks can be resubmitted",
                            req->msg_ids[i]);
            goto out;
        }
        if (!hub_permit_task(hub, ident, parent, "resubmit", req->msg_ids[i], recs[i]->submitted_by,
                             recs[i]->submitted_by_key == 1))
            goto out;
        if (!recs[i]->content.data) {
            hub_reply_error(hub, hub->client_sock, ident, parent, IPP_ERR_NOT_FOUND, "msg_ids",
                            "task %s has no recorded request to resubmit", req->msg_ids[i]);
            goto out;
        }
    }
    uint64_t last = 0;  // the writer sequence of the last mutation made
    for (size_t i = 0; i < n; i++) {
        Ipp__TaskRequest *tr =
            ipp__task_request__unpack(NULL, recs[i]->content.size, recs[i]->content.data);
        if (!tr) {
            hub_reply_error(hub, hub->client_sock, ident, parent, IPP_ERR_BAD_CONTENT, "msg_ids",
                            "the recorded request of %s does not decode", req->msg_ids[i]);
            goto out;
        }
        // The new task keeps every flag of the old (after, follow,
        // targets, retries, timeout, label, requires) and its buffers; it
        // is the resubmitting client's now.
        tr->has_attempt = 0;
        tr->client_uuid = NULL;
        size_t nb = recs[i]->buffers.n;
        zmq_msg_t *bufs = nb ? calloc(nb, sizeof *bufs) : NULL;
        for (size_t k = 0; bufs && k < nb; k++) {
            zmq_msg_init_size(&bufs[k], recs[i]->buffers.v[k].size);
            if (recs[i]->buffers.v[k].size)
                memcpy(zmq_msg_data(&bufs[k]), recs[i]->buffers.v[k].data,
                       recs[i]->buffers.v[k].size);
        }
        // Build the submission as the client would have sent it, signed
        // by us, and let the normal path record and schedule it.
        char *new_id = res->ids[i][1];
        wire_msg_t sub;
        wire_msg_init(&sub);
        ipp_err_t rc = wire_pack(hub->wire, &sub, ident, 1, IPP__MSG_TYPE__TASK_REQUEST, NULL,
                                 &tr->base, bufs, bufs ? nb : 0, NULL, new_id);
        free(bufs);
        ipp__task_request__free_unpacked(tr, NULL);
        if (rc == IPP_OK)
            rc = wire_unpack(hub->wire, &sub, &err);
        if (rc == IPP_OK) {
            // Resubmissions are the requester's: record its session. The
            // link is written only when the new task is tracked (the
            // submission may have been refused), so it never names a
            // task that is not recorded.
            hub_client_submit(hub, &sub, ident);
            if (!ipp_strmap_get(hub->tasks, new_id))
                rc = IPP_ERR_INVALID;
            else if ((last = hub_store_resubmitted(hub->store, req->msg_ids[i], new_id)) == 0)
                rc = IPP_ERR_IO;
        }
        wire_msg_fini(&sub);
        if (rc != IPP_OK) {
            hub_reply_error(hub, hub->client_sock, ident, parent, rc, NULL, "cannot resubmit %s",
                            req->msg_ids[i]);
            goto out;
        }
        snprintf(res->ids[i][0], sizeof res->ids[i][0], "%s", req->msg_ids[i]);
        res->n = i + 1;
    }
    s_return_init(&res->ret, msg);
    if (!hub_wait_push(
            hub, &(hub_wait_t){
                     .seq = last, .kind = HUB_WAIT_REPLY, .reply = res, .done = s_resubmit_done})) {
        hub_reply_error(hub, hub->client_sock, ident, parent, IPP_ERR_NOMEM, NULL,
                        "no memory to wait for the resubmission (it is recorded)");
        goto out;
    }
    res = NULL;  // the wait owns it
out:
    for (size_t i = 0; recs && i < n; i++)
        db_record_destroy(&recs[i]);
    free(recs);
    free(res);
}

// ------------------------------------------------------------ db_query, history

// s_read_job: a read job for msg from ident, its reply address filled;
// NULL (and the client told) when out of memory.
static hub_read_t *s_read_job(hub_t *hub, wire_msg_t *msg, const wire_frame_t *ident,
                              hub_read_kind_t kind)
{
    hub_read_t *job = calloc(1, sizeof *job);
    if (!job || ident->size > sizeof job->ident) {
        free(job);
        hub_reply_error(hub, hub->client_sock, ident, msg->header->msg_id, IPP_ERR_NOMEM, NULL,
                        "no memory for the read");
        return NULL;
    }
    job->kind = kind;
    memcpy(job->ident, ident->data, ident->size);
    job->ident_len = ident->size;
    snprintf(job->parent, sizeof job->parent, "%s", msg->header->msg_id);
    return job;
}

void hub_query_db(hub_t *hub, wire_msg_t *msg, const wire_frame_t *ident)
{
    const Ipp__DbQueryRequest *req = (const Ipp__DbQueryRequest *)msg->content;
    if ((req->has_limit && req->limit < 0) || (req->has_offset && req->offset < 0)) {
        hub_reply_error(hub, hub->client_sock, ident, msg->header->msg_id, IPP_ERR_INVALID,
                        req->has_limit && req->limit < 0 ? "limit" : "offset",
                        "limit and offset cannot be negative");
        return;
    }
    hub_read_t *job = s_read_job(hub, msg, ident, HUB_READ_DB_QUERY);
    if (!job)
        return;
    bool ok = true;
    job->query_json = strdup(req->query_json ? req->query_json : "");
    ok = job->query_json != NULL;
    if (ok && req->n_keys) {
        job->keys = calloc(req->n_keys, sizeof *job->keys);
        ok = job->keys != NULL;
        for (size_t i = 0; ok && i < req->n_keys; i++) {
            ok = (job->keys[i] = strdup(req->keys[i] ? req->keys[i] : "")) != NULL;
            job->n_keys = i + 1;
        }
    }
    if (!ok) {
        hub_read_free(job);
        hub_reply_error(hub, hub->client_sock, ident, msg->header->msg_id, IPP_ERR_NOMEM, NULL,
                        "no memory for the query");
        return;
    }
    job->limit = req->has_limit ? req->limit : 0;
    job->offset = req->has_offset ? req->offset : 0;
    hub_reads_post(hub->reads, job);
}

void hub_query_history(hub_t *hub, wire_msg_t *msg, const wire_frame_t *ident)
{
    const Ipp__HistoryRequest *req = (const Ipp__HistoryRequest *)msg->content;
    if (req->has_offset && req->offset < 0) {
        hub_reply_error(hub, hub->client_sock, ident, msg->header->msg_id, IPP_ERR_INVALID,
                        "offset", "offset cannot be negative");
        return;
    }
    hub_read_t *job = s_read_job(hub, msg, ident, HUB_READ_HISTORY);
    if (!job)
        return;
    job->offset = req->has_offset ? req->offset : 0;
    hub_reads_post(hub->reads, job);
}

void hub_query_reads_done(hub_t *hub)
{
    hub_read_t *job;
    while ((job = hub_reads_take(hub->reads))) {
        wire_frame_t ident = {job->ident, job->ident_len};
        if (job->err.code != IPP_OK) {
            hub_reply_error(hub, hub->client_sock, &ident, job->parent, job->err.code,
                            job->kind == HUB_READ_DB_QUERY && job->err.code == IPP_ERR_QUERY
                                ? "query_json"
                                : NULL,
                            "%s", job->err.msg);
        } else if (job->kind == HUB_READ_DB_QUERY) {
            Ipp__DbQueryReply rep = IPP__DB_QUERY_REPLY__INIT;
            rep.records_json = job->text;
            rep.has_more = 1;
            rep.more = job->more;
            rep.has_next_offset = 1;
            rep.next_offset = job->offset + job->rows;
            hub_reply(hub, &ident, job->parent, IPP__MSG_TYPE__DB_QUERY_REPLY, &rep.base, NULL, 0);
        } else {
            Ipp__HistoryReply rep = IPP__HISTORY_REPLY__INIT;
            rep.n_msg_ids = job->n_ids;
            rep.msg_ids = job->ids;
            rep.has_more = 1;
            rep.more = job->more;
            rep.has_next_offset = 1;
            rep.next_offset = job->offset + job->rows;
            hub_reply(hub, &ident, job->parent, IPP__MSG_TYPE__HISTORY_REPLY, &rep.base, NULL, 0);
        }
        hub_read_free(job);
    }
}

// ------------------------------------------------------------ abort, clear, shutdown, load

static void s_engine_control(hub_t *hub, int engine, Ipp__EngineControl__Action action, char **ids,
                             size_t n)
{
    hub_engine_t *e = hub_registry_get(hub->engines, engine);
    if (!e)
        return;
    Ipp__EngineControl ctl = IPP__ENGINE_CONTROL__INIT;
    ctl.has_action = 1;
    ctl.action = action;
    ctl.n_msg_ids = n;
    ctl.msg_ids = ids;
    wire_send(hub->wire, hub->engine_sock, &(wire_frame_t){e->ident, e->ident_len}, 1,
              IPP__MSG_TYPE__ENGINE_CONTROL, NULL, &ctl.base, NULL, 0, ZMQ_DONTWAIT, NULL, NULL);
}

void hub_query_abort(hub_t *hub, wire_msg_t *msg, const wire_frame_t *ident)
{
    const char *parent = msg->header->msg_id;
    const Ipp__AbortRequest *req = (const Ipp__AbortRequest *)msg->content;
    size_t n = req->n_msg_ids;
    // Everything queued on an engine is anyone's: admins only. Named tasks
    // are checked all before any is aborted.
    if (req->n_targets && !hub_permit_admin(hub, ident, parent, "aborting an engine's queue"))
        return;
    for (size_t i = 0; i < n; i++) {
        const hub_task_t *t = req->msg_ids[i] ? ipp_strmap_get(hub->tasks, req->msg_ids[i]) : NULL;
        if (t && !hub_permit_task(hub, ident, parent, "abort", t->msg_id, t->by, t->by_key))
            return;
    }
    s_ids_t queued[64];
    size_t nt = req->n_targets < 64 ? req->n_targets : 64;
    memset(queued, 0, sizeof queued);
    for (size_t i = 0; i < nt; i++)
        sched_foreach_task(hub->sched, req->targets[i], s_collect, &queued[i]);
    size_t total = n;
    for (size_t i = 0; i < nt; i++)
        total += queued[i].n;
    char **aborted = total ? calloc(total, sizeof *aborted) : NULL;
    char **notp = total ? calloc(total, sizeof *notp) : NULL;
    char(*copies)[IPP_MSGID_LEN + 1] = total ? calloc(total, sizeof *copies) : NULL;
    size_t na = 0, nn = 0, nc = 0;
    if (total && (!aborted || !notp || !copies)) {
        hub_reply_error(hub, hub->client_sock, ident, parent, IPP_ERR_NOMEM, NULL, "no memory");
        goto out;
    }
    // Copy the ids first: aborting frees tasks whose ids the lists borrow.
    for (size_t i = 0; i < n; i++)
        snprintf(copies[nc++], sizeof copies[0], "%s", req->msg_ids[i] ? req->msg_ids[i] : "");
    for (size_t i = 0; i < nt; i++)
        for (size_t k = 0; k < queued[i].n; k++)
            snprintf(copies[nc++], sizeof copies[0], "%s", queued[i].ids[k]);
    for (size_t i = 0; i < nc; i++) {
        const char *id = copies[i];
        hub_task_t *task = ipp_strmap_get(hub->tasks, id);
        if (!task || task->result) {
            notp[nn++] = copies[i];
            continue;
        }
        if (!task->in_sched) {
            // Not yet committed: it will be scheduled; abort it right after.
            hub_task_fail_now(hub, task, IPP__STATUS__ABORTED, "TaskAborted",
                              "aborted before it was scheduled");
            aborted[na++] = copies[i];
            continue;
        }
        ipp_err_t rc = sched_abort(hub->sched, id);
        if (rc == IPP_OK) {
            aborted[na++] = copies[i];
        } else if (rc == IPP_ERR_PENDING && task->engine >= 0) {
            // Running: the engine kills it and reports TaskAborted. The
            // scheduler has taken its retries; the hub records what comes
            // back (a failure, or the loss of its engine) as aborted.
            task->aborted = true;
            char *one[1] = {copies[i]};
            s_engine_control(hub, task->engine, IPP__ENGINE_CONTROL__ACTION__ABORT, one, 1);
            aborted[na++] = copies[i];
        } else {
            notp[nn++] = copies[i];
        }
    }
    Ipp__AbortReply rep = IPP__ABORT_REPLY__INIT;
    rep.n_aborted = na;
    rep.aborted = aborted;
    rep.n_not_pending = nn;
    rep.not_pending = notp;
    hub_reply(hub, ident, parent, IPP__MSG_TYPE__ABORT_REPLY, &rep.base, NULL, 0);
out:
    for (size_t i = 0; i < nt; i++)
        free(queued[i].ids);
    free(aborted);
    free(notp);
    free(copies);
}

void hub_query_clear(hub_t *hub, wire_msg_t *msg, const wire_frame_t *ident)
{
    const char *parent = msg->header->msg_id;
    const Ipp__ClearRequest *req = (const Ipp__ClearRequest *)msg->content;
    if (!hub_permit_admin(hub, ident, parent, "clearing engines' namespaces"))
        return;
    size_t n = req->n_targets ? req->n_targets : hub_registry_count(hub->engines);
    int32_t *done = n ? calloc(n, sizeof *done) : NULL;
    size_t nd = 0;
    for (size_t i = 0; i < n && done; i++) {
        int id = req->n_targets ? req->targets[i] : hub_registry_at(hub->engines, i)->id;
        if (!hub_registry_get(hub->engines, id)) {
            free(done);
            hub_reply_error(hub, hub->client_sock, ident, parent, IPP_ERR_NOT_FOUND, "targets",
                            "no engine %d is registered", id);
            return;
        }
        done[nd++] = id;
    }
    for (size_t i = 0; i < nd; i++)
        s_engine_control(hub, done[i], IPP__ENGINE_CONTROL__ACTION__CLEAR_NAMESPACE, NULL, 0);
    Ipp__ClearReply rep = IPP__CLEAR_REPLY__INIT;
    rep.n_cleared = nd;
    rep.cleared = done;
    hub_reply(hub, ident, parent, IPP__MSG_TYPE__CLEAR_REPLY, &rep.base, NULL, 0);
    free(done);
}

void hub_query_shutdown(hub_t *hub, wire_msg_t *msg, const wire_frame_t *ident)
{
    const char *parent = msg->header->msg_id;
    const Ipp__ShutdownRequest *req = (const Ipp__ShutdownRequest *)msg->content;
    if (!hub_permit_admin(hub, ident, parent,
                          req->hub ? "shutting the controller down" : "stopping engines"))
        return;
    for (size_t i = 0; i < req->n_targets; i++) {
        if (!hub_registry_get(hub->engines, req->targets[i])) {
            hub_reply_error(hub, hub->client_sock, ident, parent, IPP_ERR_NOT_FOUND, "targets",
                            "no engine %d is registered", req->targets[i]);
            return;
        }
    }
    size_t n = req->n_targets ? req->n_targets : hub_registry_count(hub->engines);
    int32_t *ids = n ? calloc(n, sizeof *ids) : NULL;
    for (size_t i = 0; ids && i < n; i++)
        ids[i] = req->n_targets ? req->targets[i] : hub_registry_at(hub->engines, i)->id;
    // With no targets, only a hub shutdown stops the engines.
    bool engines = req->n_targets || req->hub;
    if (engines)
        hub_engines_stop(hub, req->targets, req->n_targets);
    Ipp__ShutdownReply rep = IPP__SHUTDOWN_REPLY__INIT;
    rep.n_stopping = engines ? n : 0;
    rep.stopping = ids;
    rep.has_hub = 1;
    rep.hub = req->hub;
    hub_reply(hub, ident, parent, IPP__MSG_TYPE__SHUTDOWN_REPLY, &rep.base, NULL, 0);
    free(ids);
    if (req->hub) {
        // The notice goes out as the controller stops (hub_destroy).
        IPP_LOGI(hub->log, "shutdown requested by %s", hub->peer ? hub->peer->name : "a client");
        hub->stopping = true;
        hub->engines_told_stop = engines && !req->n_targets;
    }
}

void hub_query_load(hub_t *hub, wire_msg_t *msg, const wire_frame_t *ident)
{
    const char *parent = msg->header->msg_id;
    const Ipp__LoadRequest *req = (const Ipp__LoadRequest *)msg->content;
    size_t n = req->n_targets ? req->n_targets : hub_registry_count(hub->engines);
    int32_t *ids = n ? calloc(n, sizeof *ids) : NULL;
    int32_t *load = n ? calloc(n, sizeof *load) : NULL;
    if (n && (!ids || !load)) {
        free(ids);
        free(load);
        hub_reply_error(hub, hub->client_sock, ident, parent, IPP_ERR_NOMEM, NULL, "no memory");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        ids[i] = req->n_targets ? req->targets[i] : hub_registry_at(hub->engines, i)->id;
        sched_engine_info_t info = {0};
        if (sched_engine_info(hub->sched, ids[i], &info) != IPP_OK) {
            hub_reply_error(hub, hub->client_sock, ident, parent, IPP_ERR_NOT_FOUND, "targets",
                            "no engine %d is registered", ids[i]);
            free(ids);
            free(load);
            return;
        }
        load[i] = (int32_t)(info.running + info.queued);
    }
    Ipp__LoadReply rep = IPP__LOAD_REPLY__INIT;
    rep.n_engine_ids = n;
    rep.engine_ids = ids;
    rep.n_outstanding = n;
    rep.outstanding = load;
    hub_reply(hub, ident, parent, IPP__MSG_TYPE__LOAD_REPLY, &rep.base, NULL, 0);
    free(ids);
    free(load);
}
