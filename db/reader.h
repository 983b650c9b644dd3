/* db/reader.h — reading the task database (and the few synchronous writes
 * offline tools need), on a connection of its own.
 *
 * A reader is one SQLite connection, separate from the writer's: in WAL
 * mode it reads while the writer commits, and it never waits for it. The
 * controller opens it read-only after its writer (which creates or
 * migrates the file) and writes only through the writer; offline tools
 * open it read-only, or read-write when they purge or allocate engine ids
 * with no controller running. One thread at a time per reader; open one
 * per thread if several read at once.
 *
 * Everything returned is a copy the caller owns. The reader keeps no
 * records between calls, only prepared statements.
 */
#ifndef IPP_DB_READER_H
#define IPP_DB_READER_H

#include "db/audit.h"
#include "db/purge.h"
#include "db/query.h"
#include "db/record.h"
#include "db/schema.h"
#include "ipp/error.h"
#include "proto/log.h"

#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct db_reader_t db_reader_t;
typedef struct db_cursor_t db_cursor_t;

// A list of strings in one allocation (free with db_strv_destroy).
typedef struct db_strv_t {
    size_t n;  // how many
    char **v;  // n NUL-terminated strings
} db_strv_t;

// db_strv_destroy: NULL-safe; sets *v_p = NULL.
void db_strv_destroy(db_strv_t **v_p);

// An engine as recorded (owned strings; free with db_engines_destroy).
typedef struct db_engine_info_t {
    int32_t id;
    char *uuid;
    char *hostname;  // may be NULL
    int32_t pid;
    int64_t registered;    // µs UTC, 0 if unknown
    int64_t unregistered;  // µs UTC, 0 while registered
} db_engine_info_t;

typedef struct db_engines_t {
    size_t n;
    db_engine_info_t *v;
} db_engines_t;

void db_engines_destroy(db_engines_t **e_p);

// db_reader_new: open path in mode (DB_OPEN_READONLY for tools reading a
// live or offline file; DB_OPEN_READWRITE creates/migrates). Caller owns
// the reader. NULL on failure with err set (IPP_ERR_NOT_FOUND for a
// missing file in read-only mode, IPP_ERR_DB_SCHEMA for a newer or
// foreign file).
db_reader_t *db_reader_new(const char *path, db_open_mode_t mode, const ipp_logger_t *lg,
                           ipp_error_t *err);

// db_reader_destroy: close; NULL-safe; sets *s_p = NULL. Close cursors first.
void db_reader_destroy(db_reader_t **s_p);

// db_reader_sqlite: the connection, borrowed, for tools running their own
// SQL (read-only readers refuse writes).
sqlite3 *db_reader_sqlite(db_reader_t *s);

// db_reader_get: one record with the keys in mask (DB_KEYS_ALL, or any
// DB_KEYBIT combination; msg_id is always read). *out receives a copy the
// caller owns. IPP_ERR_NOT_FOUND naming msg_id if there is none.
ipp_err_t db_reader_get(db_reader_t *s, const char *msg_id, uint64_t keys, db_record_t **out,
                        ipp_error_t *err);

// db_reader_result_status: for each of the n ids, its status in out[i]
// (DB_STATUS_UNKNOWN if not recorded; pending; or a completed status).
// One read transaction, one prepared statement, ids looked up in sorted
// order; ids may repeat. ids and out are the caller's.
ipp_err_t db_reader_result_status(db_reader_t *s, const char *const *ids, size_t n,
                                  db_status_t *out, ipp_error_t *err);

// db_reader_dep_state: what the scheduler needs to resolve a dependency
// it does not know: the status (DB_STATUS_UNKNOWN if not recorded) and
// the engine it ran on (-1 if none).
ipp_err_t db_reader_dep_state(db_reader_t *s, const char *msg_id, db_status_t *status,
                              int32_t *engine_id, ipp_error_t *err);

// db_reader_history: every msg_id in submission order; *out is the
// caller's.
ipp_err_t db_reader_history(db_reader_t *s, db_strv_t **out, ipp_error_t *err);

// db_reader_dependents: the msg_ids of tasks that depend on msg_id (after
// or follow); *out is the caller's.
ipp_err_t db_reader_dependents(db_reader_t *s, const char *msg_id, db_strv_t **out,
                               ipp_error_t *err);

// db_reader_find: the records matching a db_query (see db/query.h) with
// the keys projection (NULL: all but the buffers), in submission order,
// at most limit of them (0: no limit). Returns a cursor the caller owns
// (it must be destroyed before the reader). NULL with err set on a bad
// query (IPP_ERR_QUERY) or an SQLite failure.
db_cursor_t *db_reader_find(db_reader_t *s, const json_t *query, const json_t *keys, int64_t limit,
                            ipp_error_t *err);
// db_reader_find_text: the same with the query as JSON text.
db_cursor_t *db_reader_find_text(db_reader_t *s, const char *query_json, const json_t *keys,
                                 int64_t limit, ipp_error_t *err);

// db_reader_pending: every pending record, all keys, in submission order
// — what a restarted controller reloads (request frames, buffers,
// after/follow, targets, retries…). Caller owns the cursor.
db_cursor_t *db_reader_pending(db_reader_t *s, ipp_error_t *err);

// db_cursor_next: the next record into *rec (a copy the caller owns), or
// *rec = NULL at the end.
ipp_err_t db_cursor_next(db_cursor_t *c, db_record_t **rec, ipp_error_t *err);

// db_cursor_destroy: NULL-safe; sets *c_p = NULL.
void db_cursor_destroy(db_cursor_t **c_p);

// db_reader_purge: run a purge synchronously (read-write readers; for
// offline tools — the controller purges through its writer). *purged
// receives the count. See db/purge.h for what is refused.
ipp_err_t db_reader_purge(db_reader_t *s, const db_purge_spec_t *spec, int64_t *purged,
                          ipp_error_t *err);

// db_reader_engine_id: the stable id of the engine with uuid, allocating
// the next free one (from 0) if it has none, and recording hostname, pid
// and registration time now. Durable when it returns (its own
// transaction). Read-write readers only.
ipp_err_t db_reader_engine_id(db_reader_t *s, const char *uuid, const char *hostname, int32_t pid,
                              int64_t now, int32_t *id, ipp_error_t *err);

// db_reader_engines: every engine ever registered, by id; *out is the caller's.
ipp_err_t db_reader_engines(db_reader_t *s, db_engines_t **out, ipp_error_t *err);

// db_audit_verify: walk the audit chain (see db/audit.h). IPP_OK when it
// is intact; IPP_ERR_AUDIT with err naming the first record altered,
// inserted or removed outside a recorded purge. rep may be NULL.
ipp_err_t db_audit_verify(db_reader_t *s, db_audit_report_t *rep, ipp_error_t *err);

// db_audit_head: the current chain head (to publish elsewhere).
ipp_err_t db_audit_head(db_reader_t *s, db_audit_head_t *head, ipp_error_t *err);

#endif
