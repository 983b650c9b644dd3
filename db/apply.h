/* db/apply.h — turning the writer's queued mutations into SQL.
 *
 * Internal to db/. A db_apply_t is embedded in the DB writer and used only
 * by the thread that runs a batch. It owns the write connection's prepared
 * statements, the ipp_chain_hash() SQL function, the audit chain head, the
 * scratch texts the binds point into, and the per-batch table that folds
 * an assignment into the result that follows it. It borrows the connection
 * and never opens, closes or configures it; it never queues, reports or
 * logs: it says what happened and the writer decides what to tell whom.
 *
 * A batch is db_apply_begin, db_apply_op for each op in seq order, then
 * db_apply_commit (or db_apply_rollback). The chain head moves only when a
 * commit succeeds.
 */
#ifndef IPP_DB_APPLY_H
#define IPP_DB_APPLY_H

#include "db/audit.h"
#include "db/ops.h"
#include "db/sql.h"
#include "db/writer.h"
#include "ipp/error.h"

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

// What applying one op came to.
typedef enum db_apply_outcome_t {
    DB_APPLY_DONE,     // applied (or nothing to do: an assignment carried by its result)
    DB_APPLY_REFUSED,  // this op alone failed; the error says why; the batch goes on
    DB_APPLY_FATAL,    // SQLite failed; the batch must be rolled back
} db_apply_outcome_t;

struct db_apply_fold_slot;

typedef struct db_apply_t {
    sqlite3 *db;       // the write connection (borrowed)
    const char *path;  // the database file, for messages (borrowed)
    sqlite3_stmt *st_begin, *st_commit, *st_rollback;
    sqlite3_stmt *st_insert;                // INSERT a task
    sqlite3_stmt *st_dep;                   // INSERT a dependency edge
    sqlite3_stmt *st_assign;                // UPDATE engine/attempts
    sqlite3_stmt *st_started;               // UPDATE started
    sqlite3_stmt *st_result;                // UPDATE the result and its chain entry
    sqlite3_stmt *st_result_asg;            // the same, also recording the task's assignment
    sqlite3_stmt *st_why;                   // SELECT status (why a result was refused)
    sqlite3_stmt *st_resub;                 // UPDATE resubmitted
    sqlite3_stmt *st_eng_up;                // upsert an engine
    sqlite3_stmt *st_eng_down;              // mark an engine gone
    sqlite3_stmt *st_key_seen;              // a key's last_seen
    sqlite3_stmt *st_head;                  // save the chain head
    db_audit_head_t chain;                  // chain head as committed
    db_audit_head_t work;                   // chain head inside the current batch
    uint8_t udf_hash[DB_AUDIT_HASH_BYTES];  // set by ipp_chain_hash() during a result UPDATE
    db_sbuf_t js[4];                        // scratch JSON texts
    struct db_apply_fold_slot *fold;        // msg_id → last op in this batch; NULL: no folding
    uint32_t fold_gen;                      // batch generation stamping valid fold slots
} db_apply_t;

// db_apply_init: register ipp_chain_hash() on db, prepare the statements
// and load the chain head. db and path are borrowed and must outlive a.
// batch_max is the most ops a batch holds (folding is off past what the
// table can hold). On failure err is set; call db_apply_fini either way.
ipp_err_t db_apply_init(db_apply_t *a, sqlite3 *db, const char *path, size_t batch_max,
                        ipp_error_t *err);

// db_apply_fini: finalize the statements and free the tables; safe on a
// zeroed or half-initialised a, and twice. Call before closing db.
void db_apply_fini(db_apply_t *a);

// db_apply_begin: open the batch's transaction over the n ops from first
// and plan which assignments ride with their results (sets op->fold).
// Returns IPP_OK, or fills err naming the failure.
ipp_err_t db_apply_begin(db_apply_t *a, db_op_t *first, size_t n, ipp_error_t *err);

// db_apply_op: apply op inside the open transaction. *count receives the
// records a purge removed. On REFUSED or FATAL, *operr says why.
db_apply_outcome_t db_apply_op(db_apply_t *a, const db_op_t *op, int64_t *count,
                               ipp_error_t *operr);

// db_apply_commit: save the chain head if it moved, ask fault (may be
// NULL) about the seq range, then COMMIT. On failure fills err and rolls
// back; the committed chain head is then unchanged.
ipp_err_t db_apply_commit(db_apply_t *a, db_writer_fault_fn fault, void *fault_ctx,
                          uint64_t first_seq, uint64_t last_seq, ipp_error_t *err);

// db_apply_rollback: abandon the open transaction, if any.
void db_apply_rollback(db_apply_t *a);

#endif
