/* db/checkpoint.h — the WAL checkpointer of the DB writer.
 *
 * Internal to db/. A db_ckpt_t is embedded in the DB writer. It installs
 * a WAL hook on the write connection, replacing SQLite's automatic
 * checkpoints inside COMMIT, and runs a thread with a second connection
 * of its own that copies the WAL back into the database file, so commits
 * never wait for that copy. When the WAL grows far past what the thread
 * keeps up with, or the thread is not running, the hook checkpoints on the
 * committing thread itself, between commits, so the WAL can start over.
 *
 * Owns its thread, its connection, its mutex and condition. Must never
 * touch the writer's queue or the write connection other than through the
 * hook SQLite calls after a commit. The thread is optional: without it
 * (never started, or it could not be) everything still works.
 */
#ifndef IPP_DB_CHECKPOINT_H
#define IPP_DB_CHECKPOINT_H

#include "ipp/error.h"
#include "proto/log.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>

typedef struct db_ckpt_t {
    const char *path;        // the database file (borrowed)
    const ipp_logger_t *lg;  // borrowed; may be NULL
    int busy_timeout_ms;     // for the checkpointer's connection
    int next;                // WAL pages at which to wake the thread next
                             // (committing thread only)
    bool have_sync;          // mu and wake were initialised
    pthread_mutex_t mu;      // guards the fields below
    pthread_cond_t wake;     // wanted or stopping changed
    sqlite3 *db;             // the thread's connection
    pthread_t thread;        // the checkpointer thread
    bool running;            // the thread exists
    bool wanted;             // the WAL grew enough for another checkpoint
    bool stopping;           // the thread should exit
} db_ckpt_t;

// db_ckpt_init: set c up and install its WAL hook on the write connection
// wdb. path and lg are borrowed and must outlive c. Commits on wdb then
// checkpoint on their own thread until db_ckpt_start. On failure err is
// set; call db_ckpt_fini either way.
ipp_err_t db_ckpt_init(db_ckpt_t *c, sqlite3 *wdb, const char *path, int busy_timeout_ms,
                       const ipp_logger_t *lg, ipp_error_t *err);

// db_ckpt_start: open the checkpointer's connection and start its thread.
// Returns false (and changes nothing) when either fails: a comfort, not a
// requirement. Call once.
bool db_ckpt_start(db_ckpt_t *c);

// db_ckpt_stop: stop and join the thread, close its connection; from here
// commits checkpoint on their own thread. Safe without start and twice.
void db_ckpt_stop(db_ckpt_t *c);

// db_ckpt_fini: stop, then free c's locks. Call after the write connection
// is closed (its hook points at c). Safe on a zeroed c.
void db_ckpt_fini(db_ckpt_t *c);

#endif
