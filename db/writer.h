/* db/writer.h — the DB writer: one thread owning the write connection,
 * committing record mutations in batches (group commit).
 *
 * The producer (the controller's event loop) hands over mutations with
 * db_writer_insert, _assign, _started, _result, … Each call copies what
 * it needs (nothing passed in is kept), takes a short mutex to append to
 * a queue, never touches SQLite, and returns a sequence number: seqs
 * start at 1 and rise by one per accepted mutation. The writer thread
 * takes everything queued, applies it in transactions of up to batch_max
 * mutations and commits; what arrives meanwhile goes into the next batch.
 * It never waits to fill a batch: a batch commits every loop iteration,
 * as soon as the previous one is done. A second thread copies the WAL
 * back into the database file (checkpoints) so commits do not stall.
 *
 * Learning about commits: db_writer_fd() is an eventfd that becomes
 * readable after every batch; put it in zmq_poll. Then call
 * db_writer_committed(): every seq up to the value it returns is settled
 * — committed, unless a report from db_writer_next_report covers it. A
 * failed batch (disk full, I/O error, database locked…) is rolled back
 * entirely and reported as one range; a single mutation that cannot apply
 * (duplicate msg_id, unknown or already completed task, a refused purge)
 * is reported alone while the rest of its batch commits. Reports are
 * queued before the committed value moves past them, so read the value
 * first, then drain the reports. The writer carries on after failures.
 *
 * Write-ahead rule for the hub: dispatch a task only once its insert's
 * seq is settled without a report; deliver a result only once its
 * _result seq is.
 *
 * An assignment immediately followed, in the same batch, by the task's
 * result is written together with it (one row write, not two): handing
 * assignments over a little late, with the next mutations, pays off.
 *
 * Durability: WAL with synchronous=NORMAL (survives a killed process) or
 * FULL (fsync per batch; survives power loss). The writer keeps no
 * records in memory beyond the queue; only the audit chain head.
 */
#ifndef IPP_DB_WRITER_H
#define IPP_DB_WRITER_H

#include "db/record.h"
#include "db/purge.h"
#include "ipp/error.h"
#include "proto/log.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// "No time given": as a timestamp argument, stored as NULL (or, for
// started in db_result_t, the value already recorded is kept).
#define DB_TIME_NONE INT64_MIN

// The longest msg_id the store accepts, in bytes.
#define DB_MSG_ID_MAX 127

typedef enum db_durability_t {
    DB_DURABILITY_NORMAL = 0,  // WAL + synchronous=NORMAL
    DB_DURABILITY_FULL = 1,    // WAL + synchronous=FULL: fsync per batch
} db_durability_t;

// A test seam: called by the writer thread just before each COMMIT with
// the batch's seq range. Returning an SQLite result code other than
// SQLITE_OK (0) makes that commit fail as if SQLite had returned it: the
// batch is rolled back and reported. Must not call back into the writer.
typedef int (*db_writer_fault_fn)(void *ctx, uint64_t first_seq, uint64_t last_seq);

typedef struct db_writer_opts_t {
    db_durability_t durability;  // NORMAL (default) or FULL
    size_t batch_max;            // most mutations per transaction; 0 = 4096
    int64_t max_bytes;           // size limit of the database file; 0 = none (SQLITE_FULL past it)
    int busy_timeout_ms;         // how long to wait for another writer's lock; 0 = 5000
    db_writer_fault_fn fault;    // see db_writer_fault_fn; NULL in production
    void *fault_ctx;             // passed to fault
    bool manual_wake;            // queuing does not wake the writer thread: the
                                 // producer calls db_writer_kick or db_writer_run_small
} db_writer_opts_t;

// Borrowed bytes; data NULL means SQL NULL (size is then ignored).
typedef struct db_blob_t {
    const void *data;
    size_t size;
} db_blob_t;

// A graph dependency to record (borrowed).
typedef struct db_dep_spec_t {
    const char *const *ids;  // msg_ids; n == 0 means no dependency
    size_t n;
    bool all;      // every id must be met (else any one)
    bool success;  // success counts as met
    bool failure;  // failure counts as met
} db_dep_spec_t;

// A submitted task (borrowed; the writer copies what it keeps).
typedef struct db_request_t {
    const char *msg_id;        // required, 1..DB_MSG_ID_MAX bytes, UUIDv7 text
    db_blob_t header;          // request header frame
    db_blob_t content;         // request content frame
    const db_blob_t *buffers;  // request buffers (stored framed in one BLOB)
    size_t n_buffers;
    int64_t submitted;          // µs UTC
    const char *client_uuid;    // submitting client's session
    const char *queue;          // "task" or "mux"
    const char *label;          // may be NULL
    const char *execute_input;  // command text for audits; may be NULL
    db_dep_spec_t after;        // time dependency
    db_dep_spec_t follow;       // location dependency
    int64_t timeout_us;         // dependency wait limit; 0 = none
    int32_t retries;            // further attempts after a failure
    const int32_t *targets;     // allowed / chosen engines
    size_t n_targets;
    const char *const *requires;  // functional dependencies ("fn:x", "cmd:y", "tag:z")
    size_t n_requires;
    const char *submitted_by;  // who submitted it: a Curve key's name, or the
                               // header's self-declared user; NULL = not known
    bool submitted_by_key;     // submitted_by names a key the controller checked
} db_request_t;

// A finished task (borrowed). Also used for aborted / unreachable / lost.
typedef struct db_result_t {
    const char *msg_id;     // required
    db_status_t status;     // any completed status (not pending/unknown)
    int64_t started;        // µs UTC; DB_TIME_NONE keeps what db_writer_started recorded
    int64_t completed;      // µs UTC (DB_TIME_NONE: NULL)
    int64_t received;       // µs UTC, when the controller got it (DB_TIME_NONE: NULL)
    db_blob_t stdout_data;  // captured output (stored as TEXT)
    db_blob_t stderr_data;
    const char *ename;             // RemoteError name; NULL = no error recorded
    const char *evalue;            // its message
    const char *const *traceback;  // its lines
    size_t n_traceback;
    int32_t error_engine_id;  // RemoteError.engine_id (-1 unknown)
    db_blob_t result_header;  // result frames
    db_blob_t result_content;
    const db_blob_t *result_buffers;
    size_t n_result_buffers;
    const char *execute_result;  // free-form result text; may be NULL
} db_result_t;

// An engine registration (borrowed).
typedef struct db_engine_t {
    int32_t id;        // the engine id (the caller allocates; see db_store_engines)
    const char *uuid;  // stable across reconnects
    const char *hostname;
    int32_t pid;
    int64_t registered;  // µs UTC
} db_engine_t;

// What the writer has to say about one seq or a range of them.
typedef struct db_report_t {
    uint64_t first_seq;  // first seq covered
    uint64_t last_seq;   // last seq covered (== first_seq for one mutation)
    ipp_error_t err;     // IPP_OK for a purge/drop that succeeded; else why it failed
    int64_t count;       // purge/drop: records removed
} db_report_t;

typedef struct db_writer_t db_writer_t;

// db_writer_new: open (creating or migrating) the database at path and
// prepare the writer; the thread starts with db_writer_start. opts may be
// NULL for the defaults; lg may be NULL. Caller owns the result. NULL on
// failure with err set (IPP_ERR_DB_SCHEMA for a newer or foreign file).
db_writer_t *db_writer_new(const char *path, const db_writer_opts_t *opts, const ipp_logger_t *lg,
                           ipp_error_t *err);

// db_writer_start: start the writer thread. Mutations queued before are
// applied first.
ipp_err_t db_writer_start(db_writer_t *w, ipp_error_t *err);

// db_writer_stop: refuse further mutations, commit everything queued,
// join the thread. Safe to call twice or without start (then the queue
// is committed in the calling thread).
void db_writer_stop(db_writer_t *w);

// db_writer_destroy: stop if needed, then free everything; NULL-safe; sets *w_p = NULL.
void db_writer_destroy(db_writer_t **w_p);

// Mutations. Each copies its arguments, queues them and stores the new
// seq in *seq (may be NULL). Returns IPP_ERR_INVALID for a missing or
// too long msg_id or a bad status, IPP_ERR_CLOSED after stop,
// IPP_ERR_NOMEM; nothing is queued then. Callable from any thread.

// db_writer_insert: record a submitted task as pending, with its
// dependency edges.
ipp_err_t db_writer_insert(db_writer_t *w, const db_request_t *req, uint64_t *seq);
// db_writer_assign: the task went to engine_id/engine_uuid, try number attempts.
ipp_err_t db_writer_assign(db_writer_t *w, const char *msg_id, int32_t engine_id,
                           const char *engine_uuid, int32_t attempts, uint64_t *seq);
// db_writer_started: the engine started it at time started.
ipp_err_t db_writer_started(db_writer_t *w, const char *msg_id, int64_t started, uint64_t *seq);
// db_writer_result: the task finished; gives it its audit chain entry.
ipp_err_t db_writer_result(db_writer_t *w, const db_result_t *res, uint64_t *seq);
// db_writer_set_status: finish a task without running it (aborted,
// unreachable, lost), with an error name and message; a shorthand for
// db_writer_result.
ipp_err_t db_writer_set_status(db_writer_t *w, const char *msg_id, db_status_t status,
                               int64_t completed, const char *ename, const char *evalue,
                               uint64_t *seq);
// db_writer_resubmitted: the task was resubmitted as new_msg_id.
ipp_err_t db_writer_resubmitted(db_writer_t *w, const char *msg_id, const char *new_msg_id,
                                uint64_t *seq);
// db_writer_drop: remove one record, pending or not (recorded as a purge
// by `by`, so audits still verify); reported with count 1.
ipp_err_t db_writer_drop(db_writer_t *w, const char *msg_id, const char *by, uint64_t *seq);
// db_writer_purge: run a purge (db/purge.h); always reported: the count,
// or the refusal (IPP_ERR_PENDING naming the task, …).
ipp_err_t db_writer_purge(db_writer_t *w, const db_purge_spec_t *spec, uint64_t *seq);
// db_writer_engine_up: record an engine registration (insert, or update
// the row with the same uuid, keeping its id).
ipp_err_t db_writer_engine_up(db_writer_t *w, const db_engine_t *e, uint64_t *seq);
// db_writer_key_seen: record that the Curve key called name was seen at
// when (µs UTC); a later date than the one recorded wins.
ipp_err_t db_writer_key_seen(db_writer_t *w, const char *name, int64_t when, uint64_t *seq);
// db_writer_engine_down: record that the engine with uuid left at when.
ipp_err_t db_writer_engine_down(db_writer_t *w, const char *uuid, int64_t when, uint64_t *seq);

// db_writer_fd: the eventfd that becomes readable after each batch. Owned
// by the writer; do not close it.
int db_writer_fd(const db_writer_t *w);

// db_writer_kick: wake the writer thread if mutations are queued (for a
// writer opened with manual_wake; harmless otherwise).
void db_writer_kick(db_writer_t *w);

// db_writer_run_small: when no batch is in progress and at most max_ops
// mutations are queued, apply them on the calling thread as one batch
// and return true: they are settled (committed or reported) on return,
// with no thread hand-off either way and the eventfd left alone. Otherwise
// wake the writer thread for them and return false. Latency-bound callers
// use this for the single mutation they wait on; a backlog stays with the
// writer thread, where batches grow with load.
bool db_writer_run_small(db_writer_t *w, size_t max_ops);

// db_writer_committed: clear the eventfd, then return the highest settled
// seq (see the top of this file). Never blocks.
uint64_t db_writer_committed(db_writer_t *w);

// db_writer_next_report: pop the oldest report into *out; false when none.
// Reports of one batch are not necessarily in seq order.
bool db_writer_next_report(db_writer_t *w, db_report_t *out);

// db_writer_backlog: how many mutations are queued and not yet settled;
// the producer can slow down its sources when this grows.
size_t db_writer_backlog(db_writer_t *w);

// db_writer_last_seq: the seq given to the latest accepted mutation.
uint64_t db_writer_last_seq(db_writer_t *w);

// db_writer_sync: block until seq is settled or timeout_ms passes
// (negative: no limit). For tools, tests and shutdown — never call it
// from the event loop. Returns IPP_OK, IPP_ERR_TIMEOUT, or IPP_ERR_CLOSED
// when seq is not settled and the writer thread is not running (never
// started, or stopped). Settled is not committed: check the reports.
ipp_err_t db_writer_sync(db_writer_t *w, uint64_t seq, int timeout_ms);

#endif
