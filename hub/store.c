/* store.c — the controller's adapter to the task store (db/).
 *
 * Owns the writer (and its thread) and a read connection. Every change
 * the controller makes to the store goes through here: it turns controller
 * events into writer mutations, keeps assignments back briefly so they
 * ride with the next mutation, hands out engine ids, and answers the one
 * read the loop itself needs (what became of a dependency). The files
 * that answer clients' questions (queries.c) and reload pending work
 * (recovery.c) read records through the reader it lends them
 * (hub_store_reader) with db/'s reader calls and record types; they never
 * write. reads.c (large reads, on a thread with a connection of its own)
 * and keys.c (the Curve key table) read through db/ too, and tasks.c uses
 * db/'s UTF-8 check on labels; no other file of hub/ includes db/.
 */
#include "hub/hub.h"

#include "db/reader.h"
#include "db/writer.h"
#include "proto/clock.h"
#include "proto/grow.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// How long an assignment may wait to be handed to the writer (µs).
#define S_ASSIGN_DELAY_US 2000

// Most queued mutations the loop commits itself rather than hand to the
// writer thread. Two thread hand-offs (wake the writer, wake the loop on
// the eventfd) cost more than a small commit on this kind of machine;
// a larger backlog goes to the writer thread, whose batches grow with load
// while the loop goes on reading messages.
#define S_INLINE_MAX 8

// An assignment not yet handed to the writer.
typedef struct {
    char msg_id[IPP_MSGID_LEN + 1];  // the task
    char uuid[64];                   // engine uuid
    int engine;                      // engine id
    int attempts;                    // attempt number
} s_assign_t;

// An engine the store has seen: uuid → stable id.
typedef struct {
    char uuid[64];  // engine uuid
    int id;         // its id
} s_known_t;

struct hub_store_t {
    db_writer_t *writer;      // the writer thread
    db_reader_t *reader;      // reads (and engine ids) on their own connection
    const ipp_logger_t *log;  // logger
    s_assign_t *assigns;      // assignments held back (see hub_store_assign)
    size_t n_assigns;         // how many
    size_t cap_assigns;       // allocated
    int64_t assign_due;       // monotonic µs by which they go to the writer
    s_known_t *known;         // every engine ever registered (few)
    size_t n_known;           // how many
    size_t cap_known;         // allocated
    int next_id;              // id for the next new engine
};

// s_remember: add uuid → id to the known engines.
static bool s_remember(hub_store_t *st, const char *uuid, int id)
{
    if (IPP_GROW(st->known, st->cap_known, st->n_known + 1, 16) != 0)
        return false;
    snprintf(st->known[st->n_known].uuid, sizeof st->known[0].uuid, "%s", uuid);
    st->known[st->n_known++].id = id;
    if (id >= st->next_id)
        st->next_id = id + 1;
    return true;
}

static void s_assigns_out(hub_store_t *st);

hub_store_t *hub_store_open(const hub_config_t *cfg, const ipp_logger_t *log, ipp_error_t *err)
{
    hub_store_t *st = calloc(1, sizeof *st);
    if (!st) {
        ipp_error_set(err, IPP_ERR_NOMEM, "no memory for the task store");
        return NULL;
    }
    st->log = log;
    db_writer_opts_t wo = {0};
    wo.durability = cfg->durability ? DB_DURABILITY_FULL : DB_DURABILITY_NORMAL;
    wo.manual_wake = true;  // hub_store_flush decides: this thread or the writer's
    st->writer = db_writer_new(cfg->db_path, &wo, log, err);
    if (!st->writer || db_writer_start(st->writer, err) != IPP_OK)
        goto fail;
    st->reader = db_reader_new(cfg->db_path, DB_OPEN_READWRITE, log, err);
    if (!st->reader)
        goto fail;
    // Engine ids are handed out from memory and recorded by the writer, so
    // a registration never waits for the database's write lock.
    db_engines_t *all = NULL;
    if (db_reader_engines(st->reader, &all, err) != IPP_OK)
        goto fail;
    for (size_t i = 0; i < all->n; i++) {
        if (!s_remember(st, all->v[i].uuid, all->v[i].id)) {
            db_engines_destroy(&all);
            ipp_error_set(err, IPP_ERR_NOMEM, "no memory for the engine table");
            goto fail;
        }
    }
    db_engines_destroy(&all);
    return st;
fail:
    hub_store_close(&st);
    return NULL;
}

void hub_store_close(hub_store_t **store_p)
{
    if (!store_p || !*store_p)
        return;
    hub_store_t *st = *store_p;
    if (st->writer)
        s_assigns_out(st);
    db_writer_destroy(&st->writer);
    db_reader_destroy(&st->reader);
    free(st->assigns);
    free(st->known);
    free(st);
    *store_p = NULL;
}

int hub_store_fd(hub_store_t *st)
{
    return db_writer_fd(st->writer);
}

// s_assigns_out: hand the held assignments to the writer, in order.
static void s_assigns_out(hub_store_t *st)
{
    for (size_t i = 0; i < st->n_assigns; i++) {
        const s_assign_t *a = &st->assigns[i];
        if (db_writer_assign(st->writer, a->msg_id, a->engine, a->uuid, a->attempts, NULL) !=
            IPP_OK)
            IPP_LOGW(st->log, "could not record the assignment of %s", a->msg_id);
    }
    st->n_assigns = 0;
}

bool hub_store_flush(hub_store_t *st, bool here_ok)
{
    if (st->n_assigns && ipp_clock_mono_us() >= st->assign_due)
        s_assigns_out(st);
    if (here_ok)
        return db_writer_run_small(st->writer, S_INLINE_MAX);
    db_writer_kick(st->writer);
    return false;
}

int64_t hub_store_deadline(const hub_store_t *st)
{
    return st->n_assigns ? st->assign_due : -1;
}

uint64_t hub_store_sync(hub_store_t *st)
{
    s_assigns_out(st);
    uint64_t last = db_writer_last_seq(st->writer);
    db_writer_sync(st->writer, last, -1);
    return last;
}

uint64_t hub_store_committed(hub_store_t *st)
{
    return db_writer_committed(st->writer);
}

bool hub_store_next_report(hub_store_t *st, uint64_t *first, uint64_t *last, int64_t *count,
                           ipp_error_t *err)
{
    db_report_t r;
    if (!db_writer_next_report(st->writer, &r))
        return false;
    *first = r.first_seq;
    *last = r.last_seq;
    *count = r.count;
    *err = r.err;
    return true;
}

static db_dep_spec_t s_dep(const Ipp__Dependency *d)
{
    hub_dep_t h = hub_dep_read(d);
    return (db_dep_spec_t){h.ids, h.n, h.all, h.success, h.failure};
}

// s_input: a readable summary of what the task runs, for audits.
static const char *s_input(const Ipp__TaskRequest *r, char *buf, size_t size)
{
    switch (r->kind_case) {
    case IPP__TASK_REQUEST__KIND_COMMAND: {
        const Ipp__Command *c = r->command;
        if (c->shell && c->shell[0])
            return c->shell;
        size_t used = 0;
        buf[0] = '\0';
        for (size_t i = 0; i < c->n_argv && used + 1 < size; i++) {
            int n = snprintf(buf + used, size - used, i ? " %s" : "%s", c->argv[i]);
            if (n < 0)
                break;
            used += (size_t)n;
        }
        return buf;
    }
    case IPP__TASK_REQUEST__KIND_CALL:
        snprintf(buf, size, "call %s", r->call->function);
        return buf;
    case IPP__TASK_REQUEST__KIND_NS:
        snprintf(buf, size, "namespace %s",
                 r->ns->op == IPP__NAMESPACE_OP__OP__PUSH   ? "push"
                 : r->ns->op == IPP__NAMESPACE_OP__OP__PULL ? "pull"
                                                            : "clear");
        return buf;
    default:
        return NULL;
    }
}

uint64_t hub_store_insert(hub_store_t *st, const hub_task_t *task, const wire_msg_t *msg,
                          ipp_error_t *err)
{
    const Ipp__TaskRequest *r = (const Ipp__TaskRequest *)msg->content;
    size_t hf = msg->n_idents + 2;
    size_t nb = wire_msg_n_buffers(msg);
    db_blob_t small[8];
    db_blob_t *bufs = nb <= 8 ? small : calloc(nb, sizeof *bufs);
    if (!bufs) {
        ipp_error_set(err, IPP_ERR_NOMEM, "no memory");
        return 0;
    }
    for (size_t i = 0; i < nb; i++)
        bufs[i].data = wire_msg_buffer(msg, i, &bufs[i].size);
    char input[512];
    db_request_t req = {0};
    req.msg_id = task->msg_id;
    req.header.data = zmq_msg_data(&msg->frames[hf]);
    req.header.size = zmq_msg_size(&msg->frames[hf]);
    req.content.data = zmq_msg_data(&msg->frames[hf + 1]);
    req.content.size = zmq_msg_size(&msg->frames[hf + 1]);
    req.buffers = bufs;
    req.n_buffers = nb;
    req.submitted = msg->header->date;
    req.client_uuid = msg->header->session;
    req.queue = r->queue == IPP__QUEUE__QUEUE_MUX ? "mux" : "task";
    req.label = r->label;
    req.execute_input = s_input(r, input, sizeof input);
    req.after = s_dep(r->after);
    req.follow = s_dep(r->follow);
    req.timeout_us = r->has_timeout_us ? r->timeout_us : 0;
    req.retries = r->has_retries ? r->retries : 0;
    req.targets = r->targets;
    req.n_targets = r->n_targets;
    req.requires = (const char *const *)r->requires;
    req.n_requires = r->n_requires;
    req.submitted_by = task->by[0] ? task->by : NULL;
    req.submitted_by_key = task->by_key;
    s_assigns_out(st);
    uint64_t seq = 0;
    ipp_err_t rc = db_writer_insert(st->writer, &req, &seq);
    if (bufs != small)
        free(bufs);
    if (rc != IPP_OK) {
        ipp_error_set(err, rc, "%s", ipp_strerror(rc));
        return 0;
    }
    return seq;
}

// The assignment matters only to a restarted controller (a task sent to an
// engine is held for its engine to claim rather than run again at once),
// never to the write-ahead rule, so it is held back for up to
// S_ASSIGN_DELAY_US and goes to the writer together with the next mutation.
// The result of a quick task then commits in the same transaction as its
// assignment instead of waiting behind a transaction of its own.
void hub_store_assign(hub_store_t *st, const hub_task_t *task, int engine, const char *engine_uuid)
{
    if (IPP_GROW(st->assigns, st->cap_assigns, st->n_assigns + 1, 256) != 0) {
        s_assigns_out(st);
        if (db_writer_assign(st->writer, task->msg_id, engine, engine_uuid, task->attempts, NULL) !=
            IPP_OK)
            IPP_LOGW(st->log, "could not record the assignment of %s", task->msg_id);
        return;
    }
    if (st->n_assigns == 0)
        st->assign_due = ipp_clock_mono_us() + S_ASSIGN_DELAY_US;
    s_assign_t *a = &st->assigns[st->n_assigns++];
    snprintf(a->msg_id, sizeof a->msg_id, "%s", task->msg_id);
    snprintf(a->uuid, sizeof a->uuid, "%s", engine_uuid);
    a->engine = engine;
    a->attempts = task->attempts;
}

static db_status_t s_status(Ipp__Status s)
{
    switch (s) {
    case IPP__STATUS__OK:
        return DB_STATUS_OK;
    case IPP__STATUS__ABORTED:
        return DB_STATUS_ABORTED;
    case IPP__STATUS__UNREACHABLE:
        return DB_STATUS_UNREACHABLE;
    case IPP__STATUS__LOST:
        return DB_STATUS_LOST;
    default:
        return DB_STATUS_ERROR;
    }
}

uint64_t hub_store_result(hub_store_t *st, const hub_task_t *task, const char *engine_uuid,
                          int64_t received)
{
    (void)engine_uuid;
    const Ipp__TaskResult *r = task->result;
    db_blob_t small[8];
    db_blob_t *bufs = task->n_rbufs <= 8 ? small : calloc(task->n_rbufs, sizeof *bufs);
    if (!bufs)
        return 0;
    for (size_t i = 0; i < task->n_rbufs; i++) {
        bufs[i].data = zmq_msg_data(&task->rbufs[i]);
        bufs[i].size = zmq_msg_size(&task->rbufs[i]);
    }
    db_result_t res = {0};
    res.msg_id = task->msg_id;
    res.status = s_status(r->status);
    res.started = r->has_started ? r->started : DB_TIME_NONE;
    res.completed = r->has_completed ? r->completed : DB_TIME_NONE;
    res.received = received;
    if (r->has_stdout_data) {
        res.stdout_data.data = r->stdout_data.data ? (void *)r->stdout_data.data : (void *)"";
        res.stdout_data.size = r->stdout_data.len;
    }
    if (r->has_stderr_data) {
        res.stderr_data.data = r->stderr_data.data ? (void *)r->stderr_data.data : (void *)"";
        res.stderr_data.size = r->stderr_data.len;
    }
    if (r->error && r->error->ename) {
        res.ename = r->error->ename;
        res.evalue = r->error->evalue ? r->error->evalue : "";
        res.traceback = (const char *const *)r->error->traceback;
        res.n_traceback = r->error->n_traceback;
        res.error_engine_id = r->has_engine_id ? r->engine_id : -1;
    } else {
        res.error_engine_id = -1;
    }
    res.execute_result = r->summary;
    // The result frame keeps only what has no column of its own (exit
    // status, signal, truncation, times): stdout, stderr, the error, the
    // summary and the msg_id are stored once, in their columns, and the
    // reads rebuild a record from those (hub/queries.c). A shallow copy
    // with those fields cleared is packed; r itself is not changed.
    Ipp__TaskResult lean = *r;
    lean.has_stdout_data = 0;
    lean.stdout_data = (ProtobufCBinaryData){0, NULL};
    lean.has_stderr_data = 0;
    lean.stderr_data = (ProtobufCBinaryData){0, NULL};
    lean.error = NULL;
    lean.summary = NULL;
    lean.msg_id = NULL;
    size_t len = protobuf_c_message_get_packed_size(&lean.base);
    uint8_t stackbuf[512];
    uint8_t *content = len <= sizeof stackbuf ? stackbuf : malloc(len);
    if (content) {
        protobuf_c_message_pack(&lean.base, content);
        res.result_content.data = content;
        res.result_content.size = len;
    }
    res.result_buffers = bufs;
    res.n_result_buffers = task->n_rbufs;
    s_assigns_out(st);
    uint64_t seq = 0;
    ipp_err_t rc = db_writer_result(st->writer, &res, &seq);
    if (content && content != stackbuf)
        free(content);
    if (bufs != small)
        free(bufs);
    return rc == IPP_OK ? seq : 0;
}

uint64_t hub_store_fail(hub_store_t *st, const hub_task_t *task, Ipp__Status status,
                        const char *ename, const char *evalue, int64_t when)
{
    s_assigns_out(st);
    uint64_t seq = 0;
    if (db_writer_set_status(st->writer, task->msg_id, s_status(status), when, ename, evalue,
                             &seq) != IPP_OK)
        return 0;
    return seq;
}

uint64_t hub_store_resubmitted(hub_store_t *st, const char *old_id, const char *new_id)
{
    s_assigns_out(st);
    uint64_t seq = 0;
    if (db_writer_resubmitted(st->writer, old_id, new_id, &seq) != IPP_OK)
        return 0;
    return seq;
}

uint64_t hub_store_purge(hub_store_t *st, const Ipp__PurgeRequest *req, const char *by,
                         ipp_error_t *err)
{
    db_purge_spec_t spec = {0};
    spec.msg_ids = (const char *const *)req->msg_ids;
    spec.n_msg_ids = req->n_msg_ids;
    spec.engine_ids = req->engine_ids;
    spec.n_engine_ids = req->n_engine_ids;
    spec.query_json = (req->query_json && req->query_json[0]) ? req->query_json : NULL;
    spec.all_completed = req->all;
    spec.by = by;
    // Behind every assignment made so far, like any mutation.
    s_assigns_out(st);
    uint64_t seq = 0;
    ipp_err_t rc = db_writer_purge(st->writer, &spec, &seq);
    if (rc != IPP_OK) {
        ipp_error_set(err, rc, "cannot purge: %s", ipp_strerror(rc));
        return 0;
    }
    return seq;
}

ipp_err_t hub_store_engine_id(hub_store_t *st, const char *uuid, const char *hostname, int pid,
                              int64_t when, int *id, ipp_error_t *err)
{
    int found = -1;
    for (size_t i = 0; i < st->n_known && found < 0; i++)
        if (strcmp(st->known[i].uuid, uuid) == 0)
            found = st->known[i].id;
    if (found < 0) {
        found = st->next_id;
        if (!s_remember(st, uuid, found))
            return ipp_error_set(err, IPP_ERR_NOMEM, "no memory for engine %s", uuid);
    }
    // Queued like any mutation: ahead of every assignment to this engine,
    // so a record that names the id is never committed before the engine.
    s_assigns_out(st);
    db_engine_t e = {found, uuid, hostname, pid, when};
    ipp_err_t rc = db_writer_engine_up(st->writer, &e, NULL);
    if (rc != IPP_OK)
        return ipp_error_set(err, rc, "cannot record engine %s: %s", uuid, ipp_strerror(rc));
    *id = found;
    return IPP_OK;
}

void hub_store_key_seen(hub_store_t *st, const char *name, int64_t when)
{
    // Only for `ipp keys list`: losing one (a full queue) loses nothing else.
    if (st && db_writer_key_seen(st->writer, name, when, NULL) == IPP_OK)
        db_writer_kick(st->writer);
}

void hub_store_engine_gone(hub_store_t *st, const char *uuid, int64_t when)
{
    s_assigns_out(st);
    if (db_writer_engine_down(st->writer, uuid, when, NULL) != IPP_OK)
        IPP_LOGW(st->log, "could not record that engine %s left", uuid);
}

sched_lookup_t hub_store_dep(hub_store_t *st, const char *msg_id, int *engine)
{
    db_status_t status = DB_STATUS_UNKNOWN;
    int32_t eng = -1;
    ipp_error_t err;
    if (db_reader_dep_state(st->reader, msg_id, &status, &eng, &err) != IPP_OK) {
        IPP_LOGW(st->log, "cannot look up dependency %s: %s", msg_id, err.msg);
        return SCHED_LOOKUP_UNKNOWN;
    }
    *engine = eng;
    if (status == DB_STATUS_UNKNOWN)
        return SCHED_LOOKUP_UNKNOWN;
    if (status == DB_STATUS_PENDING)
        return SCHED_LOOKUP_PENDING;
    return status == DB_STATUS_OK ? SCHED_LOOKUP_OK : SCHED_LOOKUP_ERROR;
}

db_reader_t *hub_store_reader(hub_store_t *st)
{
    return st->reader;
}

bool hub_store_engine_known(const hub_store_t *st, int id)
{
    for (size_t i = 0; i < st->n_known; i++)
        if (st->known[i].id == id)
            return true;
    return false;
}
