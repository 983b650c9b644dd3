/* db/writer.c — the group-commit writer thread and its checkpointer.
 *
 * Owns the write connection, its prepared statements, the queue of
 * mutations (db/ops.h), the reports, and a second connection used only to
 * checkpoint the WAL on a thread of its own, so copying pages back into
 * the database file does not stall commits. The producer side only ever
 * holds `mu` to carve and fill one op and append it; SQLite runs only on
 * the writer thread (or, when the writer was never started, in the thread
 * that stops it).
 *
 * Must never keep completed records: the ops of a batch are released as
 * soon as it settles. The only state carried between batches is the
 * audit chain head.
 */
#include "db/writer.h"

#include "db/audit.h"
#include "db/ops.h"
#include "db/purge.h"
#include "db/schema.h"
#include "db/sql.h"
#include "proto/clock.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

// The writer's page cache: hot pages are the right edges of the table and
// indexes; a small cache stays in the CPU caches and never faults in
// fresh memory, but it must hold one batch's dirty pages (S_BATCH_MAX
// mutations dirty about 3 MB) or SQLite spills them mid-transaction.
#define S_CACHE_KIB 16384
#define S_BATCH_MAX 4096
// WAL size (pages) at which the checkpointer is woken, and again each time
// the WAL has grown by S_CKPT_STEP pages since: one checkpoint per commit
// of a few pages would cost a wake-up and two syncs per commit. While
// commits keep coming, its checkpoints copy pages back but the WAL cannot
// always start over; past S_CKPT_FORCE_PAGES the writer checkpoints itself
// between commits (cheap then: the checkpointer has copied nearly
// everything) so it can.
#define S_CKPT_PAGES 2000
#define S_CKPT_STEP 1000
#define S_CKPT_FORCE_PAGES 32000
// Slots of the per-batch msg_id table used to fold an assignment into the
// result that follows it (a power of two, over twice S_BATCH_MAX).
#define S_FOLD_SLOTS 16384

// One slot of that table.
typedef struct s_fold_slot {
    uint32_t gen;      // valid when equal to the writer's fold_gen
    db_op_t *last;     // the latest op of the batch for this msg_id
} s_fold_slot_t;

struct db_writer_t {
    char *path;                  // database file (owned copy)
    db_writer_opts_t opts;       // options with defaults filled in
    const ipp_logger_t *lg;      // borrowed; may be NULL
    sqlite3 *db;                 // the write connection (writer thread)
    sqlite3_stmt *st_begin, *st_commit, *st_rollback;
    sqlite3_stmt *st_insert;     // INSERT a task
    sqlite3_stmt *st_dep;        // INSERT a dependency edge
    sqlite3_stmt *st_assign;     // UPDATE engine/attempts
    sqlite3_stmt *st_started;    // UPDATE started
    sqlite3_stmt *st_result;     // UPDATE the result and its chain entry
    sqlite3_stmt *st_why;        // SELECT status (why a result was refused)
    sqlite3_stmt *st_resub;      // UPDATE resubmitted
    sqlite3_stmt *st_eng_up;     // upsert an engine
    sqlite3_stmt *st_eng_down;   // mark an engine gone
    sqlite3_stmt *st_head;       // save the chain head
    db_audit_head_t chain;       // chain head as committed
    db_audit_head_t work;        // chain head inside the current batch
    sqlite3_stmt *st_result_asg; // the same, also recording the task's assignment
    uint8_t udf_hash[DB_AUDIT_HASH_BYTES];  // set by ipp_chain_hash() during a result UPDATE
    db_sbuf_t js[4];             // scratch JSON texts (writer thread only)
    struct s_fold_slot *fold;    // msg_id → last op in this batch (S_FOLD_SLOTS entries)
    uint32_t fold_gen;           // batch generation stamping valid fold slots

    pthread_mutex_t mu;          // guards the fields below except `committed`
    pthread_cond_t wake;         // the queue got work, or stop was asked
    pthread_cond_t settled;      // a batch settled (for db_writer_sync)
    db_oparena_t arena;          // where ops live
    db_op_t *head, *tail;        // queued ops, oldest first
    uint64_t last_seq;           // seq of the newest accepted op
    bool closed;                 // stop was called: refuse new ops
    bool stopping;               // the thread should exit once the queue is empty
    bool running;                // the writer thread exists
    bool have_sync;              // mu and the conds were initialised
    bool busy;                   // a thread is applying ops taken off the queue
    size_t queued;               // ops in the queue
    int sync_waiters;            // threads inside db_writer_sync
    struct s_report *rep_head, *rep_tail;  // reports, oldest first
    pthread_t thread;            // the writer thread
    int efd;                     // eventfd signalled after each batch
    _Atomic uint64_t committed;  // highest settled seq

    sqlite3 *ckpt_db;            // the checkpointer's connection
    pthread_t ckpt_thread;       // the checkpointer
    bool ckpt_running;           // it exists (guarded by mu)
    bool ckpt_wanted;            // the WAL passed S_CKPT_PAGES (guarded by mu)
    int ckpt_next;               // WAL pages at which to wake the checkpointer next
                                 // (committing thread only)
    pthread_cond_t ckpt_wake;    // ckpt_wanted or stopping changed
};

// A report waiting for the producer.
typedef struct s_report {
    struct s_report *next;
    db_report_t r;
} s_report_t;

/* ------------------------------------------------------------ enqueueing */

// s_submit: copy arg into a new op of kind and queue it.
static ipp_err_t s_submit(db_writer_t *w, db_op_kind_t kind, const void *arg, uint64_t *seq)
{
    size_t n = db_op_measure(kind, arg);
    pthread_mutex_lock(&w->mu);
    if (w->closed) {
        pthread_mutex_unlock(&w->mu);
        return IPP_ERR_CLOSED;
    }
    db_opchunk_t *chunk = NULL;
    void *mem = db_oparena_alloc(&w->arena, n, &chunk);
    if (!mem) {
        pthread_mutex_unlock(&w->mu);
        return IPP_ERR_NOMEM;
    }
    db_op_t *op = db_op_write(mem, kind, arg);
    op->chunk = chunk;
    // Read the seq while holding the lock: once it is released the writer
    // thread may commit the op and recycle its memory at any moment.
    uint64_t my_seq = op->seq = ++w->last_seq;
    bool was_empty = w->head == NULL;
    if (w->tail)
        w->tail->next = op;
    else
        w->head = op;
    w->tail = op;
    w->queued++;
    if (was_empty && !w->opts.manual_wake)
        pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->mu);
    if (seq)
        *seq = my_seq;
    return IPP_OK;
}

static bool s_id_ok(const char *id)
{
    return id && *id && strlen(id) <= DB_MSG_ID_MAX;
}

ipp_err_t db_writer_insert(db_writer_t *w, const db_request_t *req, uint64_t *seq)
{
    if (!w || !req || !s_id_ok(req->msg_id))
        return IPP_ERR_INVALID;
    return s_submit(w, DB_OP_INSERT, req, seq);
}

ipp_err_t db_writer_assign(db_writer_t *w, const char *msg_id, int32_t engine_id,
                           const char *engine_uuid, int32_t attempts, uint64_t *seq)
{
    if (!w || !s_id_ok(msg_id))
        return IPP_ERR_INVALID;
    db_op_small_t a = {.msg_id = msg_id, .text = engine_uuid, .i1 = engine_id, .i2 = attempts};
    return s_submit(w, DB_OP_ASSIGN, &a, seq);
}

ipp_err_t db_writer_started(db_writer_t *w, const char *msg_id, int64_t started, uint64_t *seq)
{
    if (!w || !s_id_ok(msg_id))
        return IPP_ERR_INVALID;
    db_op_small_t a = {.msg_id = msg_id, .t = started};
    return s_submit(w, DB_OP_STARTED, &a, seq);
}

ipp_err_t db_writer_result(db_writer_t *w, const db_result_t *res, uint64_t *seq)
{
    if (!w || !res || !s_id_ok(res->msg_id) || !db_status_completed(res->status))
        return IPP_ERR_INVALID;
    return s_submit(w, DB_OP_RESULT, res, seq);
}

ipp_err_t db_writer_set_status(db_writer_t *w, const char *msg_id, db_status_t status,
                               int64_t completed, const char *ename, const char *evalue,
                               uint64_t *seq)
{
    db_result_t r = {.msg_id = msg_id,
                     .status = status,
                     .started = DB_TIME_NONE,
                     .completed = completed,
                     .received = DB_TIME_NONE,
                     .ename = ename,
                     .evalue = evalue,
                     .error_engine_id = -1};
    return db_writer_result(w, &r, seq);
}

ipp_err_t db_writer_resubmitted(db_writer_t *w, const char *msg_id, const char *new_msg_id,
                                uint64_t *seq)
{
    if (!w || !s_id_ok(msg_id) || !s_id_ok(new_msg_id))
        return IPP_ERR_INVALID;
    db_op_small_t a = {.msg_id = msg_id, .text = new_msg_id};
    return s_submit(w, DB_OP_RESUBMITTED, &a, seq);
}

ipp_err_t db_writer_drop(db_writer_t *w, const char *msg_id, const char *by, uint64_t *seq)
{
    if (!w || !s_id_ok(msg_id))
        return IPP_ERR_INVALID;
    const char *ids[1] = {msg_id};
    db_purge_spec_t spec = {.msg_ids = ids, .n_msg_ids = 1, .allow_pending = true, .by = by};
    return s_submit(w, DB_OP_PURGE, &spec, seq);
}

ipp_err_t db_writer_purge(db_writer_t *w, const db_purge_spec_t *spec, uint64_t *seq)
{
    if (!w || !spec)
        return IPP_ERR_INVALID;
    return s_submit(w, DB_OP_PURGE, spec, seq);
}

ipp_err_t db_writer_engine_up(db_writer_t *w, const db_engine_t *e, uint64_t *seq)
{
    if (!w || !e || !e->uuid || !*e->uuid)
        return IPP_ERR_INVALID;
    db_op_small_t a = {.msg_id = e->uuid, .text = e->hostname, .i1 = e->id, .i2 = e->pid,
                       .t = e->registered};
    return s_submit(w, DB_OP_ENGINE_UP, &a, seq);
}

ipp_err_t db_writer_engine_down(db_writer_t *w, const char *uuid, int64_t when, uint64_t *seq)
{
    if (!w || !uuid || !*uuid)
        return IPP_ERR_INVALID;
    db_op_small_t a = {.msg_id = uuid, .t = when};
    return s_submit(w, DB_OP_ENGINE_DOWN, &a, seq);
}

/* ------------------------------------------------------------ applying */

// Outcome of applying one op.
typedef enum {
    S_APPLIED,  // done
    S_REFUSED,  // this op alone failed; *operr says why; the batch goes on
    S_FATAL,    // SQLite failed; the batch must be rolled back
} s_outcome_t;

static db_val_t s_time_val(int64_t t)
{
    return t == DB_TIME_NONE ? db_val_null() : db_val_int(t);
}

static db_val_t s_blob_val(db_blob_t b)
{
    return b.data ? db_val_blob(b.data, b.size) : db_val_null();
}

// s_dep_json: {"ids":[…],"all":…,"success":…,"failure":…} into b; a NULL
// value when there is no dependency.
static db_val_t s_dep_json(db_sbuf_t *b, const db_op_dep_t *d)
{
    if (!d->n)
        return db_val_null();
    db_sbuf_adds(b, "{\"ids\":[");
    for (size_t i = 0; i < d->n; i++) {
        if (i)
            db_sbuf_add(b, ",", 1);
        db_sbuf_add_json_str(b, d->ids[i], strlen(d->ids[i]));
    }
    db_sbuf_addf(b, "],\"all\":%s,\"success\":%s,\"failure\":%s}",
                 (d->flags & DB_DEP_ALL) ? "true" : "false",
                 (d->flags & DB_DEP_SUCCESS) ? "true" : "false",
                 (d->flags & DB_DEP_FAILURE) ? "true" : "false");
    return db_val_textn(b->data, b->len);
}

static db_val_t s_strv_json(db_sbuf_t *b, const char **v, size_t n)
{
    if (!n)
        return db_val_null();
    db_sbuf_add(b, "[", 1);
    for (size_t i = 0; i < n; i++) {
        if (i)
            db_sbuf_add(b, ",", 1);
        db_sbuf_add_json_str(b, v[i], strlen(v[i]));
    }
    db_sbuf_add(b, "]", 1);
    return db_val_textn(b->data, b->len);
}

static db_val_t s_ints_json(db_sbuf_t *b, const int32_t *v, size_t n)
{
    if (!n)
        return db_val_null();
    db_sbuf_add(b, "[", 1);
    for (size_t i = 0; i < n; i++)
        db_sbuf_addf(b, "%s%d", i ? "," : "", (int)v[i]);
    db_sbuf_add(b, "]", 1);
    return db_val_textn(b->data, b->len);
}

static db_val_t s_error_json(db_sbuf_t *b, const db_op_t *op)
{
    if (!op->u.res.ename && !op->u.res.evalue)
        return db_val_null();
    db_sbuf_adds(b, "{\"ename\":");
    if (op->u.res.ename)
        db_sbuf_add_json_str(b, op->u.res.ename, strlen(op->u.res.ename));
    else
        db_sbuf_adds(b, "null");
    db_sbuf_adds(b, ",\"evalue\":");
    if (op->u.res.evalue)
        db_sbuf_add_json_str(b, op->u.res.evalue, strlen(op->u.res.evalue));
    else
        db_sbuf_adds(b, "null");
    db_sbuf_adds(b, ",\"traceback\":[");
    for (size_t i = 0; i < op->u.res.n_tb; i++) {
        if (i)
            db_sbuf_add(b, ",", 1);
        db_sbuf_add_json_str(b, op->u.res.tb[i], strlen(op->u.res.tb[i]));
    }
    db_sbuf_addf(b, "],\"engine_id\":%d}", (int)op->u.res.eid);
    return db_val_textn(b->data, b->len);
}

// s_scratch_reset: empty the JSON scratch buffers before building texts.
static void s_scratch_reset(db_writer_t *w)
{
    for (int i = 0; i < 4; i++)
        db_sbuf_reset(&w->js[i]);
}

// s_scratch_ok: false if one of the texts just built ran out of memory.
static bool s_scratch_ok(const db_writer_t *w)
{
    for (int i = 0; i < 4; i++)
        if (w->js[i].failed)
            return false;
    return true;
}

// s_step: run a bound statement that returns no rows, then reset it.
static int s_step(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

// s_fatal: describe an SQLite failure of op into operr.
static s_outcome_t s_fatal(db_writer_t *w, const db_op_t *op, int rc, ipp_error_t *operr,
                           const char *what)
{
    db_sql_fail(operr, w->db, rc, "%s: %s %s", w->path, what, op->msg_id ? op->msg_id : "");
    return S_FATAL;
}

static s_outcome_t s_nomem(const db_op_t *op, ipp_error_t *operr)
{
    ipp_error_set(operr, IPP_ERR_NOMEM, "out of memory storing %s", op->msg_id);
    return S_FATAL;
}

static s_outcome_t s_apply_insert(db_writer_t *w, const db_op_t *op, ipp_error_t *operr)
{
    s_scratch_reset(w);
    db_val_t v[DB_AUDIT_NREQ] = {
        db_val_text(op->msg_id),
        s_blob_val(op->u.ins.header),
        s_blob_val(op->u.ins.content),
        s_blob_val(op->u.ins.buffers),
        db_val_int(op->u.ins.submitted),
        db_val_text(op->u.ins.client_uuid),
        db_val_text(op->u.ins.queue),
        db_val_text(op->u.ins.label),
        db_val_text(op->u.ins.execute_input),
        s_dep_json(&w->js[0], &op->u.ins.after),
        s_dep_json(&w->js[1], &op->u.ins.follow),
        db_val_int(op->u.ins.timeout),
        db_val_int(op->u.ins.retries),
        s_ints_json(&w->js[2], op->u.ins.targets, op->u.ins.n_targets),
        s_strv_json(&w->js[3], op->u.ins.requires, op->u.ins.n_requires),
    };
    if (!s_scratch_ok(w))
        return s_nomem(op, operr);
    uint8_t rh[DB_AUDIT_HASH_BYTES];
    db_audit_req_hash(v, rh);
    sqlite3_stmt *st = w->st_insert;
    for (int i = 0; i < DB_AUDIT_NREQ; i++)
        db_val_bind(st, i + 1, &v[i]);
    sqlite3_bind_blob(st, DB_AUDIT_NREQ + 1, rh, sizeof rh, SQLITE_STATIC);
    int rc = s_step(st);
    if (rc == SQLITE_CONSTRAINT) {
        ipp_error_set(operr, IPP_ERR_INVALID, "task %s is already recorded", op->msg_id);
        return S_REFUSED;
    }
    if (rc != SQLITE_DONE)
        return s_fatal(w, op, rc, operr, "inserting");
    const db_op_dep_t *deps[2] = {&op->u.ins.after, &op->u.ins.follow};
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < deps[k]->n; i++) {
            sqlite3_bind_text(w->st_dep, 1, op->msg_id, -1, SQLITE_STATIC);
            sqlite3_bind_text(w->st_dep, 2, deps[k]->ids[i], -1, SQLITE_STATIC);
            sqlite3_bind_text(w->st_dep, 3, k == 0 ? "after" : "follow", -1, SQLITE_STATIC);
            sqlite3_bind_int(w->st_dep, 4, deps[k]->flags);
            if ((rc = s_step(w->st_dep)) != SQLITE_DONE)
                return s_fatal(w, op, rc, operr, "recording dependencies of");
        }
    }
    return S_APPLIED;
}

// s_apply_update: run a bound UPDATE of one row; refused (naming what it
// did and which thing was missing) when it changed nothing.
static s_outcome_t s_apply_update(db_writer_t *w, const db_op_t *op, sqlite3_stmt *st,
                                  ipp_error_t *operr, const char *what, const char *missing)
{
    int rc = s_step(st);
    if (rc != SQLITE_DONE)
        return s_fatal(w, op, rc, operr, what);
    if (sqlite3_changes(w->db) == 0) {
        ipp_error_set(operr, IPP_ERR_NOT_FOUND, "%s %s: no such %s", what, op->msg_id, missing);
        return S_REFUSED;
    }
    return S_APPLIED;
}

// s_udf_chain_hash: ipp_chain_hash(seq, prev_hash, prev_msg_id, req_hash,
// result columns…) — the SQL side of a result UPDATE, so the engine
// columns and the request hash are read from the row being updated
// without a separate SELECT. Leaves the hash in w->udf_hash too.
static void s_udf_chain_hash(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    db_writer_t *w = sqlite3_user_data(ctx);
    if (argc != 4 + DB_AUDIT_NRES) {
        sqlite3_result_error(ctx, "ipp_chain_hash: wrong number of arguments", -1);
        return;
    }
    uint8_t prev[DB_AUDIT_HASH_BYTES] = {0}, rh[DB_AUDIT_HASH_BYTES] = {0};
    if (sqlite3_value_bytes(argv[1]) == DB_AUDIT_HASH_BYTES)
        memcpy(prev, sqlite3_value_blob(argv[1]), sizeof prev);
    if (sqlite3_value_bytes(argv[3]) == DB_AUDIT_HASH_BYTES)
        memcpy(rh, sqlite3_value_blob(argv[3]), sizeof rh);
    const char *prev_id = (const char *)sqlite3_value_text(argv[2]);
    db_val_t res[DB_AUDIT_NRES];
    for (int i = 0; i < DB_AUDIT_NRES; i++)
        res[i] = db_val_value(argv[4 + i]);
    db_audit_chain_hash(sqlite3_value_int64(argv[0]), prev, prev_id, rh, res, w->udf_hash);
    sqlite3_result_blob(ctx, w->udf_hash, DB_AUDIT_HASH_BYTES, SQLITE_TRANSIENT);
}

static s_outcome_t s_apply_result(db_writer_t *w, const db_op_t *op, ipp_error_t *operr)
{
    s_scratch_reset(w);
    db_val_t v[12] = {
        db_val_text(db_status_name(op->u.res.status)),            // ?2
        s_time_val(op->u.res.started),                            // ?3
        s_time_val(op->u.res.completed),                          // ?4
        s_time_val(op->u.res.received),                           // ?5
        s_blob_val(op->u.res.rheader),                            // ?6
        s_blob_val(op->u.res.rcontent),                           // ?7
        s_blob_val(op->u.res.rbuffers),                           // ?8
        db_val_text(op->u.res.execute_result),                    // ?9
        s_error_json(&w->js[0], op),                              // ?10
        op->u.res.out.data ? db_val_textn(op->u.res.out.data, op->u.res.out.size)
                           : db_val_null(),                       // ?11
        op->u.res.err.data ? db_val_textn(op->u.res.err.data, op->u.res.err.size)
                           : db_val_null(),                       // ?12
    };
    if (!s_scratch_ok(w))
        return s_nomem(op, operr);
    int64_t seq = w->work.seq + 1;
    const char *prev_id = w->work.seq ? w->work.msg_id : NULL;
    const db_op_t *asg = op->fold;
    sqlite3_stmt *st = asg ? w->st_result_asg : w->st_result;
    sqlite3_bind_text(st, 1, op->msg_id, -1, SQLITE_STATIC);
    for (int i = 0; i < 11; i++)
        db_val_bind(st, i + 2, &v[i]);
    sqlite3_bind_int64(st, 13, seq);
    if (prev_id)
        sqlite3_bind_text(st, 14, prev_id, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 15, w->work.hash, DB_AUDIT_HASH_BYTES, SQLITE_STATIC);
    if (asg) {
        sqlite3_bind_int(st, 16, asg->u.asg.engine_id);
        if (asg->u.asg.engine_uuid)
            sqlite3_bind_text(st, 17, asg->u.asg.engine_uuid, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 18, asg->u.asg.attempts);
    }
    int rc = s_step(st);
    if (rc != SQLITE_DONE)
        return s_fatal(w, op, rc, operr, "storing the result of");
    if (sqlite3_changes(w->db) == 0) {
        // Say why: unknown, or finished already.
        sqlite3_bind_text(w->st_why, 1, op->msg_id, -1, SQLITE_STATIC);
        rc = sqlite3_step(w->st_why);
        if (rc == SQLITE_ROW)
            ipp_error_set(operr, IPP_ERR_INVALID,
                          "result for %s: the task is already completed (%s)", op->msg_id,
                          (const char *)sqlite3_column_text(w->st_why, 0));
        else if (rc == SQLITE_DONE)
            ipp_error_set(operr, IPP_ERR_NOT_FOUND, "result for %s: no such task", op->msg_id);
        s_step(w->st_why);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            return s_fatal(w, op, rc, operr, "reading");
        return S_REFUSED;
    }
    w->work.seq = seq;
    memcpy(w->work.hash, w->udf_hash, DB_AUDIT_HASH_BYTES);
    snprintf(w->work.msg_id, sizeof w->work.msg_id, "%s", op->msg_id);
    return S_APPLIED;
}

// s_apply: apply one op inside the open transaction. *count receives the
// records removed by purge ops.
static s_outcome_t s_apply(db_writer_t *w, const db_op_t *op, int64_t *count, ipp_error_t *operr)
{
    sqlite3_stmt *st;
    switch (op->kind) {
    case DB_OP_INSERT:
        return s_apply_insert(w, op, operr);
    case DB_OP_ASSIGN:
        st = w->st_assign;
        sqlite3_bind_text(st, 1, op->msg_id, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, op->u.asg.engine_id);
        if (op->u.asg.engine_uuid)
            sqlite3_bind_text(st, 3, op->u.asg.engine_uuid, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 4, op->u.asg.attempts);
        return s_apply_update(w, op, st, operr, "assigning", "pending task");
    case DB_OP_STARTED:
        st = w->st_started;
        sqlite3_bind_text(st, 1, op->msg_id, -1, SQLITE_STATIC);
        if (op->u.sta.started != DB_TIME_NONE)
            sqlite3_bind_int64(st, 2, op->u.sta.started);
        return s_apply_update(w, op, st, operr, "starting", "pending task");
    case DB_OP_RESULT:
        return s_apply_result(w, op, operr);
    case DB_OP_RESUBMITTED:
        st = w->st_resub;
        sqlite3_bind_text(st, 1, op->msg_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, op->u.rsb.new_id, -1, SQLITE_STATIC);
        return s_apply_update(w, op, st, operr, "marking resubmitted", "task");
    case DB_OP_PURGE: {
        ipp_err_t rc = db_purge_run(w->db, &op->u.pur.spec, ipp_clock_now_us(), count, operr);
        if (rc == IPP_OK)
            return S_APPLIED;
        if (rc == IPP_ERR_PENDING || rc == IPP_ERR_NOT_FOUND || rc == IPP_ERR_QUERY ||
            rc == IPP_ERR_INVALID)
            return S_REFUSED;
        return S_FATAL;
    }
    case DB_OP_ENGINE_UP: {
        st = w->st_eng_up;
        sqlite3_bind_int(st, 1, op->u.eng.id);
        sqlite3_bind_text(st, 2, op->msg_id, -1, SQLITE_STATIC);
        if (op->u.eng.hostname)
            sqlite3_bind_text(st, 3, op->u.eng.hostname, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 4, op->u.eng.pid);
        if (op->u.eng.when != DB_TIME_NONE)
            sqlite3_bind_int64(st, 5, op->u.eng.when);
        int rc = s_step(st);
        if (rc == SQLITE_CONSTRAINT) {
            ipp_error_set(operr, IPP_ERR_INVALID,
                          "engine id %d already belongs to another uuid than %s",
                          (int)op->u.eng.id, op->msg_id);
            return S_REFUSED;
        }
        return rc == SQLITE_DONE ? S_APPLIED : s_fatal(w, op, rc, operr, "registering engine");
    }
    case DB_OP_ENGINE_DOWN:
        st = w->st_eng_down;
        sqlite3_bind_text(st, 1, op->msg_id, -1, SQLITE_STATIC);
        if (op->u.eng.when != DB_TIME_NONE)
            sqlite3_bind_int64(st, 2, op->u.eng.when);
        return s_apply_update(w, op, st, operr, "unregistering engine", "engine");
    }
    return S_APPLIED;
}

/* ------------------------------------------------------------ batches */

static s_report_t *s_report_new(uint64_t first, uint64_t last, const ipp_error_t *e, int64_t count)
{
    s_report_t *r = calloc(1, sizeof *r);
    if (r) {
        r->r.first_seq = first;
        r->r.last_seq = last;
        if (e)
            r->r.err = *e;
        r->r.count = count;
    }
    return r;
}

static void s_reports_free(s_report_t *r)
{
    while (r) {
        s_report_t *next = r->next;
        free(r);
        r = next;
    }
}

// s_fold_find: the slot of msg_id in this batch's table (a free one if
// it has none yet), or NULL when the table is full.
static s_fold_slot_t *s_fold_find(db_writer_t *w, const char *msg_id)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)msg_id; *p; p++)
        h = (h ^ *p) * 16777619u;
    for (uint32_t k = 0; k < S_FOLD_SLOTS; k++) {
        s_fold_slot_t *sl = &w->fold[(h + k) & (S_FOLD_SLOTS - 1)];
        if (sl->gen != w->fold_gen || strcmp(sl->last->msg_id, msg_id) == 0)
            return sl;
    }
    return NULL;
}

// s_fold_plan: within the batch, pair each result with an assignment of
// the same task that immediately precedes it (no other mutation of that
// task in between, no purge anywhere between). Applying the pair as one
// UPDATE leaves exactly the state applying them one by one would; the
// intermediate state was never visible outside the transaction anyway.
static void s_fold_plan(db_writer_t *w, db_op_t *first, size_t n)
{
    if (!w->fold)
        return;
    w->fold_gen++;
    db_op_t *op = first;
    for (size_t i = 0; i < n; i++, op = op->next) {
        op->fold = NULL;
        if (op->kind == DB_OP_PURGE) {
            w->fold_gen++;  // forget everything before a purge
            continue;
        }
        if (op->kind == DB_OP_ENGINE_UP || op->kind == DB_OP_ENGINE_DOWN)
            continue;
        s_fold_slot_t *sl = s_fold_find(w, op->msg_id);
        if (!sl)
            continue;
        if (sl->gen == w->fold_gen && op->kind == DB_OP_RESULT &&
            sl->last->kind == DB_OP_ASSIGN && !sl->last->fold) {
            op->fold = sl->last;
            sl->last->fold = op;
        }
        sl->gen = w->fold_gen;
        sl->last = op;
    }
}

// s_apply_all: begin, apply n ops from first, save the chain head and
// commit. Returns true if the batch committed; otherwise *fail says why
// and the transaction is rolled back. Single-op refusals and purge
// results are appended to *reps.
static bool s_apply_all(db_writer_t *w, db_op_t *first, size_t n, uint64_t first_seq,
                        uint64_t last_seq, s_report_t ***reps_tail, ipp_error_t *fail)
{
    int rc = s_step(w->st_begin);
    if (rc != SQLITE_DONE) {
        db_sql_fail(fail, w->db, rc, "%s: cannot begin a transaction", w->path);
        return false;
    }
    w->work = w->chain;
    s_fold_plan(w, first, n);
    db_op_t *op = first;
    for (size_t i = 0; i < n; i++, op = op->next) {
        if (op->kind == DB_OP_ASSIGN && op->fold)
            continue;  // applied with its result
        ipp_error_t operr;
        ipp_error_clear(&operr);
        int64_t count = 0;
        s_outcome_t out = s_apply(w, op, &count, &operr);
        if (out == S_FATAL) {
            *fail = operr;
            goto rollback;
        }
        if (out == S_REFUSED && op->fold) {
            // The folded assignment would have been refused as well: the
            // task was not pending when it came either.
            ipp_error_t asgerr;
            ipp_error_set(&asgerr, IPP_ERR_NOT_FOUND, "assigning %s: no such pending task",
                          op->msg_id);
            s_report_t *r = s_report_new(op->fold->seq, op->fold->seq, &asgerr, 0);
            if (!r) {
                ipp_error_set(fail, IPP_ERR_NOMEM, "out of memory reporting on a batch");
                goto rollback;
            }
            **reps_tail = r;
            *reps_tail = &r->next;
        }
        if (out == S_REFUSED || op->kind == DB_OP_PURGE) {
            if (out == S_REFUSED)
                IPP_LOGI(w->lg, "db: mutation %llu refused: %s", (unsigned long long)op->seq,
                         operr.msg);
            s_report_t *r = s_report_new(op->seq, op->seq, &operr, count);
            if (!r) {
                ipp_error_set(fail, IPP_ERR_NOMEM, "out of memory reporting on a batch");
                goto rollback;
            }
            **reps_tail = r;
            *reps_tail = &r->next;
        }
    }
    if (w->work.seq != w->chain.seq) {
        sqlite3_bind_int64(w->st_head, 1, w->work.seq);
        sqlite3_bind_blob(w->st_head, 2, w->work.hash, DB_AUDIT_HASH_BYTES, SQLITE_STATIC);
        sqlite3_bind_text(w->st_head, 3, w->work.msg_id, -1, SQLITE_STATIC);
        if ((rc = s_step(w->st_head)) != SQLITE_DONE) {
            db_sql_fail(fail, w->db, rc, "%s: saving the audit chain head", w->path);
            goto rollback;
        }
    }
    rc = w->opts.fault ? w->opts.fault(w->opts.fault_ctx, first_seq, last_seq) : SQLITE_OK;
    if (rc == SQLITE_OK)
        rc = s_step(w->st_commit);
    if (rc != SQLITE_OK && rc != SQLITE_DONE) {
        db_sql_fail(fail, NULL, rc, "%s: commit failed", w->path);
        goto rollback;
    }
    w->chain = w->work;
    return true;
rollback:
    if (!sqlite3_get_autocommit(w->db))
        s_step(w->st_rollback);
    return false;
}

// s_run_batch: apply n ops from first in one transaction, settle their
// seqs, publish reports, release the ops. Returns the op after the batch.
static db_op_t *s_run_batch(db_writer_t *w, db_op_t *first, size_t n, bool notify)
{
    uint64_t first_seq = first->seq, last_seq = first_seq;
    db_op_t *after = first;
    for (size_t i = 0; i < n; i++, after = after->next)
        last_seq = after->seq;
    // The report of a failed batch is allocated before the batch runs:
    // seqs must never settle as committed for want of memory to say they
    // did not. Without it, wait for memory rather than run.
    s_report_t *fail_rep;
    while (!(fail_rep = s_report_new(first_seq, last_seq, NULL, 0))) {
        IPP_LOGE(w->lg, "db: out of memory; mutations %llu..%llu wait",
                 (unsigned long long)first_seq, (unsigned long long)last_seq);
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    s_report_t *reps = NULL, **reps_tail = &reps;
    ipp_error_t fail;
    ipp_error_clear(&fail);
    if (s_apply_all(w, first, n, first_seq, last_seq, &reps_tail, &fail)) {
        free(fail_rep);
    } else {
        s_reports_free(reps);
        fail_rep->r.err = fail;
        reps = fail_rep;
        IPP_LOGE(w->lg, "db: mutations %llu..%llu rolled back: %s",
                 (unsigned long long)first_seq, (unsigned long long)last_seq, fail.msg);
    }
    for (db_op_t *op = first; op != after;) {
        db_op_t *next = op->next;
        db_op_settled(op);
        op = next;
    }

    pthread_mutex_lock(&w->mu);
    while (reps) {
        s_report_t *r = reps;
        reps = r->next;
        r->next = NULL;
        if (w->rep_tail)
            w->rep_tail->next = r;
        else
            w->rep_head = r;
        w->rep_tail = r;
    }
    db_oparena_reclaim(&w->arena);
    atomic_store_explicit(&w->committed, last_seq, memory_order_release);
    if (w->sync_waiters)
        pthread_cond_broadcast(&w->settled);
    pthread_mutex_unlock(&w->mu);
    if (notify) {
        uint64_t one = 1;
        ssize_t wr = write(w->efd, &one, sizeof one);
        (void)wr;  // EAGAIN only if the counter is saturated: the fd is readable anyway
    }
    return after;
}

// s_drain: run batches until the queue is empty and (when blocking) stop
// was asked. Called on the writer thread, or by stop when never started.
static void s_drain(db_writer_t *w, bool blocking)
{
    pthread_mutex_lock(&w->mu);
    for (;;) {
        // A batch run by db_writer_run_small must end first: batches apply
        // in seq order, one at a time, on the one connection.
        while (w->busy || (!w->head && blocking && !w->stopping))
            pthread_cond_wait(&w->wake, &w->mu);
        if (!w->head)
            break;
        db_op_t *list = w->head;
        w->head = w->tail = NULL;
        w->queued = 0;
        w->busy = true;
        pthread_mutex_unlock(&w->mu);
        while (list) {
            size_t n = 0;
            for (db_op_t *o = list; o && n < w->opts.batch_max; o = o->next)
                n++;
            list = s_run_batch(w, list, n, true);
        }
        pthread_mutex_lock(&w->mu);
        w->busy = false;
    }
    pthread_mutex_unlock(&w->mu);
}

void db_writer_kick(db_writer_t *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    if (w->head)
        pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->mu);
}

bool db_writer_run_small(db_writer_t *w, size_t max_ops)
{
    if (!w)
        return false;
    pthread_mutex_lock(&w->mu);
    if (!w->head || w->busy || w->queued > max_ops || w->queued > w->opts.batch_max ||
        !w->running || w->stopping) {
        if (w->head)
            pthread_cond_signal(&w->wake);
        pthread_mutex_unlock(&w->mu);
        return false;
    }
    db_op_t *list = w->head;
    size_t n = w->queued;
    w->head = w->tail = NULL;
    w->queued = 0;
    w->busy = true;
    pthread_mutex_unlock(&w->mu);
    s_run_batch(w, list, n, false);
    pthread_mutex_lock(&w->mu);
    w->busy = false;
    // Ops queued by other threads meanwhile are the writer thread's to
    // take (it may be waiting for this batch to end). With none, it stays
    // asleep: waking it for nothing would cost what this path saves.
    if (w->head)
        pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->mu);
    return true;
}

static void *s_thread(void *arg)
{
    pthread_setname_np(pthread_self(), "ipp-db-writer");
    s_drain(arg, true);
    return NULL;
}

/* ------------------------------------------------------------ checkpoints */

// s_wal_hook: after each commit, with the WAL's size in pages. Wakes the
// checkpointer; if it has fallen far behind, checkpoints here, where no
// commit runs concurrently, so the WAL can start over.
static int s_wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
    db_writer_t *w = arg;
    if (pages < S_CKPT_PAGES || pages < w->ckpt_next) {
        if (pages < w->ckpt_next - S_CKPT_STEP)
            w->ckpt_next = S_CKPT_PAGES;  // the WAL started over
        return SQLITE_OK;
    }
    w->ckpt_next = pages + S_CKPT_STEP;
    bool self = pages >= S_CKPT_FORCE_PAGES;
    if (!self) {
        pthread_mutex_lock(&w->mu);
        if (w->ckpt_running && !w->stopping) {
            w->ckpt_wanted = true;
            pthread_cond_signal(&w->ckpt_wake);
        } else {
            self = true;
        }
        pthread_mutex_unlock(&w->mu);
    }
    if (self) {
        int rc = sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        if (rc != SQLITE_OK && rc != SQLITE_BUSY)
            IPP_LOGW(w->lg, "db: %s: checkpoint: %s", w->path, sqlite3_errstr(rc));
    }
    return SQLITE_OK;
}

static void *s_ckpt_thread(void *arg)
{
    db_writer_t *w = arg;
    pthread_setname_np(pthread_self(), "ipp-db-ckpt");
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->ckpt_wanted && !w->stopping)
            pthread_cond_wait(&w->ckpt_wake, &w->mu);
        if (w->stopping)
            break;
        w->ckpt_wanted = false;
        pthread_mutex_unlock(&w->mu);
        int rc = sqlite3_wal_checkpoint_v2(w->ckpt_db, "main", SQLITE_CHECKPOINT_PASSIVE, NULL,
                                           NULL);
        if (rc != SQLITE_OK && rc != SQLITE_BUSY)
            IPP_LOGW(w->lg, "db: %s: background checkpoint: %s", w->path, sqlite3_errstr(rc));
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* ------------------------------------------------------------ lifecycle */

static const struct {
    size_t offset;
    const char *sql;
} s_stmts[] = {
    {offsetof(db_writer_t, st_begin), "BEGIN IMMEDIATE"},
    {offsetof(db_writer_t, st_commit), "COMMIT"},
    {offsetof(db_writer_t, st_rollback), "ROLLBACK"},
    {offsetof(db_writer_t, st_insert),
     "INSERT INTO tasks (" DB_AUDIT_REQ_COLS ", req_hash) VALUES"
     " (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"},
    {offsetof(db_writer_t, st_dep),
     "INSERT OR IGNORE INTO deps (task, depends_on, kind, flags) VALUES (?1, ?2, ?3, ?4)"},
    {offsetof(db_writer_t, st_assign),
     "UPDATE tasks SET engine_id = ?2, engine_uuid = ?3, attempts = ?4"
     " WHERE msg_id = ?1 AND status = 'pending'"},
    {offsetof(db_writer_t, st_started),
     "UPDATE tasks SET started = ?2 WHERE msg_id = ?1 AND status = 'pending'"},
    // The chain hash is computed from the row's old engine columns and
    // request hash and the new result values, in this one statement; the
    // argument order is DB_AUDIT_RES_COLS.
    {offsetof(db_writer_t, st_result),
     "UPDATE tasks SET status = ?2, started = coalesce(?3, started), completed = ?4,"
     " received = ?5, result_header = ?6, result_content = ?7, result_buffers = ?8,"
     " execute_result = ?9, error = ?10, stdout = ?11, stderr = ?12, chain_seq = ?13,"
     " chain_prev = ?14, chain_hash = ipp_chain_hash(?13, ?15, ?14, req_hash,"
     " ?2, engine_id, engine_uuid, attempts, coalesce(?3, started), ?4, ?5, ?6, ?7, ?8,"
     " ?9, ?10, ?11, ?12)"
     " WHERE msg_id = ?1 AND status = 'pending'"},
    // A result with the assignment that preceded it in the same batch:
    // one row write instead of two.
    {offsetof(db_writer_t, st_result_asg),
     "UPDATE tasks SET status = ?2, started = coalesce(?3, started), completed = ?4,"
     " received = ?5, result_header = ?6, result_content = ?7, result_buffers = ?8,"
     " execute_result = ?9, error = ?10, stdout = ?11, stderr = ?12, chain_seq = ?13,"
     " chain_prev = ?14, engine_id = ?16, engine_uuid = ?17, attempts = ?18,"
     " chain_hash = ipp_chain_hash(?13, ?15, ?14, req_hash,"
     " ?2, ?16, ?17, ?18, coalesce(?3, started), ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
     " WHERE msg_id = ?1 AND status = 'pending'"},
    {offsetof(db_writer_t, st_why), "SELECT status FROM tasks WHERE msg_id = ?1"},
    {offsetof(db_writer_t, st_resub), "UPDATE tasks SET resubmitted = ?2 WHERE msg_id = ?1"},
    {offsetof(db_writer_t, st_eng_up),
     "INSERT INTO engines (id, uuid, hostname, pid, registered, unregistered)"
     " VALUES (?1, ?2, ?3, ?4, ?5, NULL) ON CONFLICT (uuid) DO UPDATE SET"
     " hostname = excluded.hostname, pid = excluded.pid, registered = excluded.registered,"
     " unregistered = NULL"},
    {offsetof(db_writer_t, st_eng_down), "UPDATE engines SET unregistered = ?2 WHERE uuid = ?1"},
    {offsetof(db_writer_t, st_head), DB_AUDIT_HEAD_SAVE_SQL},
};

// s_setup: the write connection's settings, function and statements.
static ipp_err_t s_setup(db_writer_t *w, ipp_error_t *err)
{
    sqlite3_busy_timeout(w->db, w->opts.busy_timeout_ms);
    char sql[160];
    snprintf(sql, sizeof sql, "PRAGMA synchronous=%s; PRAGMA cache_size=-%d;",
             w->opts.durability == DB_DURABILITY_FULL ? "FULL" : "NORMAL", S_CACHE_KIB);
    ipp_err_t code = db_sql_exec(w->db, sql, err);
    if (code)
        return code;
    if (w->opts.max_bytes > 0) {
        int64_t page = 4096;
        sqlite3_stmt *ps = NULL;
        if (sqlite3_prepare_v2(w->db, "PRAGMA page_size", -1, &ps, NULL) == SQLITE_OK &&
            sqlite3_step(ps) == SQLITE_ROW)
            page = sqlite3_column_int64(ps, 0);
        sqlite3_finalize(ps);
        int64_t pages = w->opts.max_bytes / (page > 0 ? page : 4096);
        snprintf(sql, sizeof sql, "PRAGMA max_page_count=%lld", (long long)(pages > 1 ? pages : 1));
        if ((code = db_sql_exec(w->db, sql, err)))
            return code;
    }
    int rc = sqlite3_create_function_v2(w->db, "ipp_chain_hash", 4 + DB_AUDIT_NRES,
                                        SQLITE_UTF8 | SQLITE_DIRECTONLY, w, s_udf_chain_hash, NULL,
                                        NULL, NULL);
    if (rc != SQLITE_OK)
        return db_sql_fail(err, w->db, rc, "%s: registering ipp_chain_hash", w->path);
    for (size_t i = 0; i < sizeof s_stmts / sizeof s_stmts[0]; i++) {
        sqlite3_stmt **slot = (sqlite3_stmt **)((char *)w + s_stmts[i].offset);
        rc = sqlite3_prepare_v3(w->db, s_stmts[i].sql, -1, SQLITE_PREPARE_PERSISTENT, slot, NULL);
        if (rc != SQLITE_OK)
            return db_sql_fail(err, w->db, rc, "%s: preparing the writer's statements", w->path);
    }
    // Checkpoints: ours, not SQLite's automatic ones inside COMMIT.
    sqlite3_wal_hook(w->db, s_wal_hook, w);
    return db_audit_head_load(w->db, &w->chain, err);
}

db_writer_t *db_writer_new(const char *path, const db_writer_opts_t *opts, const ipp_logger_t *lg,
                           ipp_error_t *err)
{
    db_writer_t *w = calloc(1, sizeof *w);
    if (!w) {
        ipp_error_set(err, IPP_ERR_NOMEM, "out of memory creating the DB writer");
        return NULL;
    }
    w->efd = -1;
    w->lg = lg;
    if (opts)
        w->opts = *opts;
    if (!w->opts.batch_max)
        w->opts.batch_max = S_BATCH_MAX;
    if (w->opts.busy_timeout_ms <= 0)
        w->opts.busy_timeout_ms = 5000;
    for (int i = 0; i < 4; i++)
        db_sbuf_init(&w->js[i]);
    // Without the table the writer works the same, one write per mutation.
    if (w->opts.batch_max <= S_FOLD_SLOTS / 2)
        w->fold = calloc(S_FOLD_SLOTS, sizeof *w->fold);
    pthread_condattr_t ca;
    bool ok = pthread_condattr_init(&ca) == 0;
    if (ok) {
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        ok = pthread_mutex_init(&w->mu, NULL) == 0;
        if (ok && pthread_cond_init(&w->wake, NULL) != 0) {
            pthread_mutex_destroy(&w->mu);
            ok = false;
        }
        if (ok && pthread_cond_init(&w->ckpt_wake, NULL) != 0) {
            pthread_cond_destroy(&w->wake);
            pthread_mutex_destroy(&w->mu);
            ok = false;
        }
        if (ok && pthread_cond_init(&w->settled, &ca) != 0) {
            pthread_cond_destroy(&w->ckpt_wake);
            pthread_cond_destroy(&w->wake);
            pthread_mutex_destroy(&w->mu);
            ok = false;
        }
        pthread_condattr_destroy(&ca);
    }
    w->have_sync = ok;
    if (!ok) {
        ipp_error_set(err, IPP_ERR_NOMEM, "cannot create the DB writer's locks");
        goto fail;
    }
    if (!(w->path = strdup(path ? path : ""))) {
        ipp_error_set(err, IPP_ERR_NOMEM, "out of memory creating the DB writer");
        goto fail;
    }
    w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->efd < 0) {
        ipp_error_set(err, IPP_ERR_IO, "eventfd: %s", strerror(errno));
        goto fail;
    }
    if (!(w->db = db_schema_open(path, DB_OPEN_READWRITE, lg, err)) || s_setup(w, err))
        goto fail;
    return w;
fail:
    db_writer_destroy(&w);
    return NULL;
}

ipp_err_t db_writer_start(db_writer_t *w, ipp_error_t *err)
{
    if (!w)
        return ipp_error_set(err, IPP_ERR_INVALID, "no writer");
    pthread_mutex_lock(&w->mu);
    ipp_err_t code = IPP_OK;
    if (w->running || w->closed) {
        code = ipp_error_set(err, IPP_ERR_INVALID, "the DB writer was already started or stopped");
        goto out;
    }
    // The checkpointer is a comfort, not a requirement: without it the
    // writer checkpoints itself (s_wal_hook).
    sqlite3 *ck = NULL;
    if (sqlite3_open_v2(w->path, &ck, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) ==
        SQLITE_OK) {
        sqlite3_busy_timeout(ck, w->opts.busy_timeout_ms);
        // A connection learns the file is in WAL mode on its first read;
        // until then a checkpoint on it does nothing.
        sqlite3_exec(ck, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL);
        w->ckpt_db = ck;
        if (pthread_create(&w->ckpt_thread, NULL, s_ckpt_thread, w) == 0) {
            w->ckpt_running = true;
        } else {
            w->ckpt_db = NULL;
            sqlite3_close_v2(ck);
        }
    } else {
        sqlite3_close_v2(ck);
    }
    int rc = pthread_create(&w->thread, NULL, s_thread, w);
    if (rc != 0)
        code = ipp_error_set(err, IPP_ERR_NOMEM, "cannot start the DB writer thread: %s",
                             strerror(rc));
    else
        w->running = true;
out:
    pthread_mutex_unlock(&w->mu);
    return code;
}

void db_writer_stop(db_writer_t *w)
{
    if (!w || !w->have_sync)
        return;
    pthread_mutex_lock(&w->mu);
    w->closed = true;
    w->stopping = true;
    bool running = w->running, ckpt = w->ckpt_running;
    w->ckpt_running = false;
    pthread_cond_broadcast(&w->wake);
    pthread_cond_broadcast(&w->ckpt_wake);
    pthread_mutex_unlock(&w->mu);
    if (ckpt)
        pthread_join(w->ckpt_thread, NULL);
    sqlite3_close_v2(w->ckpt_db);
    w->ckpt_db = NULL;  // from here the writer checkpoints itself
    if (running)
        pthread_join(w->thread, NULL);
    else if (w->db)
        s_drain(w, false);
    // Wake anyone in db_writer_sync so they see the writer is gone.
    pthread_mutex_lock(&w->mu);
    w->running = false;
    pthread_cond_broadcast(&w->settled);
    pthread_mutex_unlock(&w->mu);
}

void db_writer_destroy(db_writer_t **w_p)
{
    if (!w_p || !*w_p)
        return;
    db_writer_t *w = *w_p;
    db_writer_stop(w);
    for (db_op_t *op = w->head; op;) {
        db_op_t *next = op->next;
        if (!op->chunk)
            free(op);
        op = next;
    }
    db_oparena_fini(&w->arena);
    s_reports_free(w->rep_head);
    for (size_t i = 0; i < sizeof s_stmts / sizeof s_stmts[0]; i++)
        sqlite3_finalize(*(sqlite3_stmt **)((char *)w + s_stmts[i].offset));
    sqlite3_close_v2(w->db);
    if (w->efd >= 0)
        close(w->efd);
    for (int i = 0; i < 4; i++)
        db_sbuf_fini(&w->js[i]);
    free(w->fold);
    if (w->have_sync) {
        pthread_cond_destroy(&w->settled);
        pthread_cond_destroy(&w->ckpt_wake);
        pthread_cond_destroy(&w->wake);
        pthread_mutex_destroy(&w->mu);
    }
    free(w->path);
    free(w);
    *w_p = NULL;
}

int db_writer_fd(const db_writer_t *w)
{
    return w ? w->efd : -1;
}

uint64_t db_writer_committed(db_writer_t *w)
{
    uint64_t v;
    ssize_t n = read(w->efd, &v, sizeof v);
    (void)n;  // EAGAIN when nothing new: fine
    return atomic_load_explicit(&w->committed, memory_order_acquire);
}

bool db_writer_next_report(db_writer_t *w, db_report_t *out)
{
    pthread_mutex_lock(&w->mu);
    s_report_t *r = w->rep_head;
    if (r) {
        w->rep_head = r->next;
        if (!w->rep_head)
            w->rep_tail = NULL;
    }
    pthread_mutex_unlock(&w->mu);
    if (!r)
        return false;
    *out = r->r;
    free(r);
    return true;
}

size_t db_writer_backlog(db_writer_t *w)
{
    pthread_mutex_lock(&w->mu);
    uint64_t last = w->last_seq;
    pthread_mutex_unlock(&w->mu);
    return (size_t)(last - atomic_load_explicit(&w->committed, memory_order_acquire));
}

uint64_t db_writer_last_seq(db_writer_t *w)
{
    pthread_mutex_lock(&w->mu);
    uint64_t last = w->last_seq;
    pthread_mutex_unlock(&w->mu);
    return last;
}

ipp_err_t db_writer_sync(db_writer_t *w, uint64_t seq, int timeout_ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    if (timeout_ms >= 0) {
        deadline.tv_sec += timeout_ms / 1000;
        deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
    }
    ipp_err_t code = IPP_OK;
    pthread_mutex_lock(&w->mu);
    if (w->head)
        pthread_cond_signal(&w->wake);  // queued without a wake (manual_wake)
    w->sync_waiters++;
    while (atomic_load_explicit(&w->committed, memory_order_acquire) < seq) {
        if (!w->running) {
            code = IPP_ERR_CLOSED;
            break;
        }
        int rc = timeout_ms >= 0 ? pthread_cond_timedwait(&w->settled, &w->mu, &deadline)
                                 : pthread_cond_wait(&w->settled, &w->mu);
        if (rc == ETIMEDOUT && atomic_load_explicit(&w->committed, memory_order_acquire) < seq) {
            code = IPP_ERR_TIMEOUT;
            break;
        }
    }
    w->sync_waiters--;
    pthread_mutex_unlock(&w->mu);
    return code;
}
