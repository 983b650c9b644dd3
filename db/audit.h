/* db/audit.h — the audit chain over completed task records.
 *
 * When a task completes, the writer gives its record a place in the chain
 * (chain_seq = previous + 1) and a hash: BLAKE2b (libsodium generic hash)
 * over the previous entry's hash, the request (msg_id, frames, buffers,
 * submission details), the result (status, engine, timestamps, result
 * frames, output, error). A purge records which chain entries it removed
 * and their hashes, so the chain still verifies across it. The head (last
 * seq and hash) is kept in the meta table, so cutting off the newest
 * records shows too.
 *
 * The hash is unkeyed: it proves that the file is consistent with itself.
 * Against someone who can rewrite the whole file, publish the head
 * (db_audit_head) somewhere they cannot reach.
 */
#ifndef IPP_DB_AUDIT_H
#define IPP_DB_AUDIT_H

#include "db/sql.h"
#include "ipp/error.h"

#include <sqlite3.h>
#include <stdint.h>

#define DB_AUDIT_HASH_BYTES 32

// The request columns hashed into req_hash, in this order. The last
// DB_AUDIT_NREQ_OPT (who submitted it, schema version 3) are hashed only
// when submitted_by is not NULL, so a record written before they existed
// keeps its hash, and one written since cannot lose them unseen.
#define DB_AUDIT_REQ_COLS                                                                          \
    "msg_id, header, content, buffers, submitted, client_uuid, queue, label, execute_input, "      \
    "\"after\", follow, timeout, retries, targets, requires, submitted_by, submitted_by_key"
enum { DB_AUDIT_NREQ = 17, DB_AUDIT_NREQ_OPT = 2 };

// The result columns hashed into the chain hash, in this order.
#define DB_AUDIT_RES_COLS                                                                          \
    "status, engine_id, engine_uuid, attempts, started, completed, received, "                     \
    "result_header, result_content, result_buffers, execute_result, error, stdout, stderr"
enum { DB_AUDIT_NRES = 14 };

// db_audit_req_hash: hash of the request values (DB_AUDIT_NREQ, in
// DB_AUDIT_REQ_COLS order) into out.
void db_audit_req_hash(const db_val_t *req, uint8_t out[DB_AUDIT_HASH_BYTES]);

// db_audit_chain_hash: the chain hash of entry seq, chained after prev
// (all zero for the first entry) whose msg_id is prev_msg_id (NULL for the
// first), with the record's req_hash and result values (DB_AUDIT_NRES, in
// DB_AUDIT_RES_COLS order).
void db_audit_chain_hash(int64_t seq, const uint8_t prev[DB_AUDIT_HASH_BYTES],
                         const char *prev_msg_id, const uint8_t req_hash[DB_AUDIT_HASH_BYTES],
                         const db_val_t *res, uint8_t out[DB_AUDIT_HASH_BYTES]);

// The chain head: the newest entry.
typedef struct db_audit_head_t {
    int64_t seq;                        // 0 when the chain is empty
    uint8_t hash[DB_AUDIT_HASH_BYTES];  // its hash (zero when empty)
    char msg_id[128];                   // its msg_id ("" when empty)
} db_audit_head_t;

// db_audit_head_load: read the head from the meta table of db.
ipp_err_t db_audit_head_load(sqlite3 *db, db_audit_head_t *head, ipp_error_t *err);
// The statement that stores the head: ?1 seq, ?2 hash, ?3 msg_id. The
// writer keeps it prepared.
#define DB_AUDIT_HEAD_SAVE_SQL                                                                     \
    "INSERT OR REPLACE INTO meta(key, value) VALUES"                                               \
    " ('chain_seq', ?1), ('chain_hash', ?2), ('chain_msg_id', ?3)"

// db_audit_head_save: write head into the meta table (inside the caller's
// transaction).
ipp_err_t db_audit_head_save(sqlite3 *db, const db_audit_head_t *head, ipp_error_t *err);

// db_audit_rehash: compute req_hash for every record lacking one and
// append every completed record not yet chained to the chain, in
// completion order. Used by the v1→v2 migration; runs inside the
// caller's transaction.
ipp_err_t db_audit_rehash(sqlite3 *db, ipp_error_t *err);

// What db_audit_verify found.
typedef struct db_audit_report_t {
    int64_t checked;       // chain entries whose hash was recomputed
    int64_t purged;        // chain entries removed by recorded purges
    int64_t head_seq;      // chain head from the meta table
    int64_t bad_seq;       // chain position of the first problem, 0 if none
    char bad_msg_id[128];  // msg_id of the first problem ("" if none/unknown)
} db_audit_report_t;

// db_audit_verify_db: walk the chain of db (a read transaction is taken
// here) and stop at the first record altered, inserted or removed outside
// a recorded purge: returns IPP_ERR_AUDIT with err naming the msg_id and
// what is wrong. IPP_OK when the chain is intact. rep (optional) is
// filled either way.
ipp_err_t db_audit_verify_db(sqlite3 *db, db_audit_report_t *rep, ipp_error_t *err);

#endif
