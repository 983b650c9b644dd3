/* db/purge.h — removing task records, recorded so audits can tell a purge
 * from tampering.
 *
 * A purge picks records by explicit ids, by engine, by db_query, or all
 * completed ones (the union of whatever is given), refuses the whole call
 * if an explicitly named or query-matched record is pending (naming it),
 * and otherwise deletes the records and their dependency edges and logs
 * one row in `purges` (when, by whom, what was asked, how many) plus, for
 * every removed audit chain entry, its position and hash in `purge_items`.
 * All or nothing: it runs inside a savepoint of the caller's transaction.
 * Used by the writer (the controller's purges) and by the store (offline
 * tools).
 */
#ifndef IPP_DB_PURGE_H
#define IPP_DB_PURGE_H

#include "ipp/error.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// What to purge. Everything is borrowed.
typedef struct db_purge_spec_t {
    const char *const *msg_ids;  // these records; each must exist (else IPP_ERR_NOT_FOUND)
    size_t n_msg_ids;            // and be completed (else IPP_ERR_PENDING)
    const int32_t *engine_ids;   // the completed records that ran on these engines
    size_t n_engine_ids;
    const char *query_json;  // the records matching this db_query; all must be completed
    bool all_completed;      // every completed record
    bool allow_pending;      // drop: records named in msg_ids may be pending
    const char *by;          // who asked (user or client uuid), recorded; may be NULL
} db_purge_spec_t;

// db_purge_run: purge on db inside the caller's transaction (or as its own
// if none is open), recording the purge with time now. *purged receives
// the number of records removed. On error nothing is removed: IPP_ERR_PENDING
// or IPP_ERR_NOT_FOUND naming the msg_id, IPP_ERR_QUERY for a bad query,
// or an SQLite failure.
ipp_err_t db_purge_run(sqlite3 *db, const db_purge_spec_t *spec, int64_t now, int64_t *purged,
                       ipp_error_t *err);

#endif
