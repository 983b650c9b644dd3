/* db/writer.c — the group-commit writer: producer API, queue, batches.
 *
 * Owns the write connection and its settings, the queue of mutations
 * (db/ops.h), the batch loop on the writer thread, the reports and the
 * lifecycle. What each mutation does in SQL is db/apply.c's (embedded
 * here as `apply`); copying the WAL back into the database file is
 * db/checkpoint.c's (embedded as `ckpt`). Calls run one way: this file
 * calls those two, never the reverse. The producer side only ever holds
 * `mu` to carve and fill one op and append it; SQLite runs only on the
 * writer thread (or, when the writer was never started, in the thread
 * that stops it; or in db_writer_run_small's caller while no batch runs).
 *
 * Must never keep completed records: the ops of a batch are released as
 * soon as it settles. The only state carried between batches is the
 * audit chain head, in `apply`.
 */
#include "db/writer.h"

#include "db/apply.h"
#include "db/checkpoint.h"
#include "db/ops.h"
#include "db/purge.h"
#include "db/schema.h"
#include "db/sql.h"

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

struct db_writer_t {
    char *path;              // database file (owned copy)
    db_writer_opts_t opts;   // options with defaults filled in
    const ipp_logger_t *lg;  // borrowed; may be NULL
    sqlite3 *db;             // the write connection (writer thread)
    db_apply_t apply;        // op → SQL on db: statements, chain head (batch thread)
    db_ckpt_t ckpt;          // the WAL hook on db and the checkpointer thread

    pthread_mutex_t mu;                    // guards the fields below except `committed`
    pthread_cond_t wake;                   // the queue got work, or stop was asked
    pthread_cond_t settled;                // a batch settled (for db_writer_sync)
    db_oparena_t arena;                    // where ops live
    db_op_t *head, *tail;                  // queued ops, oldest first
    uint64_t last_seq;                     // seq of the newest accepted op
    bool closed;                           // stop was called: refuse new ops
    bool stopping;                         // the thread should exit once the queue is empty
    bool running;                          // the writer thread exists
    bool have_sync;                        // mu and the conds were initialised
    bool busy;                             // a thread is applying ops taken off the queue
    size_t queued;                         // ops in the queue
    int sync_waiters;                      // threads inside db_writer_sync
    struct s_report *rep_head, *rep_tail;  // reports, oldest first
    pthread_t thread;                      // the writer thread
    int efd;                               // eventfd signalled after each batch
    _Atomic uint64_t committed;            // highest settled seq
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
    db_op_small_t a = {
        .msg_id = e->uuid, .text = e->hostname, .i1 = e->id, .i2 = e->pid, .t = e->registered};
    return s_submit(w, DB_OP_ENGINE_UP, &a, seq);
}

ipp_err_t db_writer_engine_down(db_writer_t *w, const char *uuid, int64_t when, uint64_t *seq)
{
    if (!w || !uuid || !*uuid)
        return IPP_ERR_INVALID;
    db_op_small_t a = {.msg_id = uuid, .t = when};
    return s_submit(w, DB_OP_ENGINE_DOWN, &a, seq);
}

ipp_err_t db_writer_key_seen(db_writer_t *w, const char *name, int64_t when, uint64_t *seq)
{
    if (!w || !name || !*name)
        return IPP_ERR_INVALID;
    db_op_small_t a = {.msg_id = name, .t = when};
    return s_submit(w, DB_OP_KEY_SEEN, &a, seq);
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

// s_report_push: append a report on seq to the list ending at *tail;
// false, with *fail set, when there is no memory for it.
static bool s_report_push(s_report_t ***tail, uint64_t seq, const ipp_error_t *e, int64_t count,
                          ipp_error_t *fail)
{
    s_report_t *r = s_report_new(seq, seq, e, count);
    if (!r) {
        ipp_error_set(fail, IPP_ERR_NOMEM, "out of memory reporting on a batch");
        return false;
    }
    **tail = r;
    *tail = &r->next;
    return true;
}

// s_apply_all: begin, apply n ops from first (db/apply.c), save the chain
// head and commit. Returns true if the batch committed; otherwise *fail says why
// and the transaction is rolled back. Single-op refusals and purge
// results are appended to *reps.
static bool s_apply_all(db_writer_t *w, db_op_t *first, size_t n, uint64_t first_seq,
                        uint64_t last_seq, s_report_t ***reps_tail, ipp_error_t *fail)
{
    if (db_apply_begin(&w->apply, first, n, fail) != IPP_OK)
        return false;
    db_op_t *op = first;
    for (size_t i = 0; i < n; i++, op = op->next) {
        ipp_error_t operr;
        ipp_error_clear(&operr);
        int64_t count = 0;
        db_apply_outcome_t out = db_apply_op(&w->apply, op, &count, &operr);
        if (out == DB_APPLY_FATAL) {
            *fail = operr;
            goto rollback;
        }
        if (out == DB_APPLY_REFUSED && op->kind == DB_OP_RESULT && op->fold) {
            // The folded assignment would have been refused as well: the
            // task was not pending when it came either.
            ipp_error_t asgerr;
            ipp_error_set(&asgerr, IPP_ERR_NOT_FOUND, "assigning %s: no such pending task",
                          op->msg_id);
            if (!s_report_push(reps_tail, op->fold->seq, &asgerr, 0, fail))
                goto rollback;
        }
        if (out == DB_APPLY_REFUSED || op->kind == DB_OP_PURGE) {
            if (out == DB_APPLY_REFUSED)
                IPP_LOGI(w->lg, "db: mutation %llu refused: %s", (unsigned long long)op->seq,
                         operr.msg);
            if (!s_report_push(reps_tail, op->seq, &operr, count, fail))
                goto rollback;
        }
    }
    return db_apply_commit(&w->apply, w->opts.fault, w->opts.fault_ctx, first_seq, last_seq,
                           fail) == IPP_OK;
rollback:
    db_apply_rollback(&w->apply);
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
        IPP_LOGE(w->lg, "db: mutations %llu..%llu rolled back: %s", (unsigned long long)first_seq,
                 (unsigned long long)last_seq, fail.msg);
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

/* ------------------------------------------------------------ lifecycle */

// s_setup: the write connection's settings, then the objects embedded
// on it: the op → SQL statements and the WAL hook.
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
    if ((code = db_apply_init(&w->apply, w->db, w->path, w->opts.batch_max, err)))
        return code;
    return db_ckpt_init(&w->ckpt, w->db, w->path, w->opts.busy_timeout_ms, w->lg, err);
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
    pthread_condattr_t ca;
    bool ok = pthread_condattr_init(&ca) == 0;
    if (ok) {
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        ok = pthread_mutex_init(&w->mu, NULL) == 0;
        if (ok && pthread_cond_init(&w->wake, NULL) != 0) {
            pthread_mutex_destroy(&w->mu);
            ok = false;
        }
        if (ok && pthread_cond_init(&w->settled, &ca) != 0) {
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
    // The checkpointer is a comfort, not a requirement: without it
    // commits checkpoint on their own thread (db/checkpoint.c).
    db_ckpt_start(&w->ckpt);
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
    bool running = w->running;
    pthread_cond_broadcast(&w->wake);
    pthread_mutex_unlock(&w->mu);
    db_ckpt_stop(&w->ckpt);  // from here the writer checkpoints itself
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
    db_apply_fini(&w->apply);
    sqlite3_close_v2(w->db);
    db_ckpt_fini(&w->ckpt);  // after the close: the connection's WAL hook points at it
    if (w->efd >= 0)
        close(w->efd);
    if (w->have_sync) {
        pthread_cond_destroy(&w->settled);
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
