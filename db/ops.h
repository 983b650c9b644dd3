/* db/ops.h — the writer's queued mutations and the arena they live in.
 *
 * Internal to db/. A mutation (db_op_t) is one block: the header below,
 * then copies of every string, blob and list it refers to, so nothing the
 * producer passed is used after the enqueue call. Blocks are carved from
 * 1 MiB chunks instead of one malloc each: the producer allocates nothing
 * per task, and the memory of settled batches is reused rather than given
 * back to the kernel and faulted in again.
 *
 * Threading: the arena is used under the writer's queue mutex, except
 * that db_op_settled runs on the writer thread alone (it touches only
 * counters no one else reads outside the mutex).
 */
#ifndef IPP_DB_OPS_H
#define IPP_DB_OPS_H

#include "db/purge.h"
#include "db/writer.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum db_op_kind_t {
    DB_OP_INSERT,
    DB_OP_ASSIGN,
    DB_OP_STARTED,
    DB_OP_RESULT,
    DB_OP_RESUBMITTED,
    DB_OP_PURGE,
    DB_OP_ENGINE_UP,
    DB_OP_ENGINE_DOWN,
    DB_OP_KEY_SEEN,  // a Curve key was seen (msg_id holds its name)
} db_op_kind_t;

// Dependency flags as stored in deps.flags.
enum { DB_DEP_ALL = 1, DB_DEP_SUCCESS = 2, DB_DEP_FAILURE = 4 };

// A dependency inside an op.
typedef struct db_op_dep_t {
    const char **ids;  // n copied msg_ids
    size_t n;
    int flags;  // DB_DEP_*
} db_op_dep_t;

typedef struct db_opchunk_t db_opchunk_t;

// One queued mutation. Every pointer points into the same block.
typedef struct db_op_t {
    struct db_op_t *next;  // queue link
    db_opchunk_t *chunk;   // the chunk holding this block, NULL if malloc'd alone
    uint64_t seq;          // its sequence number
    db_op_kind_t kind;     // which member of u is used
    const char *msg_id;    // the task (the engine uuid for engine ops)
    struct db_op_t *fold;  // writer only: RESULT — the ASSIGN folded into it;
                           // ASSIGN — the RESULT that carries it
    union {
        struct {
            db_blob_t header, content;
            db_blob_t buffers;  // framed; data NULL when there are none
            int64_t submitted;
            const char *client_uuid, *queue, *label, *execute_input;
            db_op_dep_t after, follow;
            int64_t timeout;
            int32_t retries;
            const int32_t *targets;
            size_t n_targets;
            const char **requires;
            size_t n_requires;
            const char *submitted_by;
            bool submitted_by_key;
        } ins;
        struct {
            int32_t engine_id;
            const char *engine_uuid;
            int32_t attempts;
        } asg;
        struct {
            int64_t started;
        } sta;
        struct {
            db_status_t status;
            int64_t started, completed, received;
            db_blob_t out, err;
            const char *ename, *evalue;
            const char **tb;
            size_t n_tb;
            int32_t eid;
            db_blob_t rheader, rcontent;
            db_blob_t rbuffers;  // framed; data NULL when there are none
            const char *execute_result;
        } res;
        struct {
            const char *new_id;
        } rsb;
        struct {
            db_purge_spec_t spec;
        } pur;
        struct {
            int32_t id;
            const char *hostname;
            int32_t pid;
            int64_t when;
        } eng;
    } u;
} db_op_t;

// Arguments of the small mutations, packed for db_op_measure/db_op_write.
typedef struct db_op_small_t {
    const char *msg_id;  // task id, or engine uuid
    const char *text;    // engine_uuid (assign) / new msg_id / hostname
    int32_t i1, i2;      // engine_id, attempts (assign) / id, pid (engine up)
    int64_t t;           // started / registered / unregistered
} db_op_small_t;

// db_op_measure: the bytes a block for kind with arg needs. arg is a
// db_request_t (INSERT), db_result_t (RESULT), db_purge_spec_t (PURGE) or
// db_op_small_t (the others).
size_t db_op_measure(db_op_kind_t kind, const void *arg);

// db_op_write: build the op in mem (db_op_measure bytes, max-aligned).
db_op_t *db_op_write(void *mem, db_op_kind_t kind, const void *arg);

// The chunk arena.
typedef struct db_oparena_t {
    db_opchunk_t *cur;          // chunk being carved, or NULL
    db_opchunk_t *sealed_head;  // full chunks waiting for their ops to settle, oldest first
    db_opchunk_t *sealed_tail;
    db_opchunk_t *spare;  // empty chunks kept for reuse
    size_t n_spare;
} db_oparena_t;

// db_oparena_alloc: n bytes for one op (mutex held). *chunk receives the
// chunk it came from (NULL if it was malloc'd alone). NULL on NOMEM.
void *db_oparena_alloc(db_oparena_t *a, size_t n, db_opchunk_t **chunk);

// db_op_settled: the writer is done with op (writer thread only, no
// mutex): frees it if malloc'd alone, else counts it against its chunk.
void db_op_settled(db_op_t *op);

// db_oparena_reclaim: recycle sealed chunks whose ops have all settled
// (mutex held, writer thread).
void db_oparena_reclaim(db_oparena_t *a);

// db_oparena_fini: free every chunk (and thereby every op in them).
void db_oparena_fini(db_oparena_t *a);

#endif
