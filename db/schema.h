/* db/schema.h — opening the task database: create, check, migrate.
 *
 * The file carries PRAGMA application_id 'IPPD' and PRAGMA user_version
 * (the schema version). Opening read-write creates a missing or empty
 * file at the current version and migrates an older one in a single
 * transaction; a newer version, a file of another application, or
 * something that is not SQLite at all is IPP_ERR_DB_SCHEMA with a message
 * naming the file. Read-only opening never changes the file and refuses an
 * older version (a read-write open migrates it).
 *
 * File modes: the file, its -wal and its -shm are 0600 (owner only),
 * whatever the umask. A read-write open creates a missing file so, and
 * narrows an existing one of ours (and the -wal and -shm beside it) to
 * 0600, with one warning naming the modes it found.
 *
 * Version history:
 *   1  tasks, deps, engines; indexes on label, status, submitted, completed.
 *   2  audit chain (req_hash, chain_seq, chain_prev, chain_hash), purges,
 *      purge_items, meta; indexes on engine_id, client_uuid and (msg_id,
 *      status); the status index leaves out 'ok' rows.
 *   3  submitted_by, submitted_by_key; the keys table.
 *   4  engine_sets (db/sets.h): the engine sets `ipp cluster` started.
 *   5  no (msg_id, status) index: it duplicated the primary key's.
 */
#ifndef IPP_DB_SCHEMA_H
#define IPP_DB_SCHEMA_H

#include "ipp/error.h"
#include "proto/log.h"

#include <sqlite3.h>

#define DB_SCHEMA_VERSION 5
#define DB_APPLICATION_ID 0x49505044  // 'IPPD'

typedef enum db_open_mode_t {
    DB_OPEN_READONLY = 0,   // never writes; the file must exist at the current version
    DB_OPEN_READWRITE = 1,  // creates or migrates as needed
} db_open_mode_t;

// db_schema_open: open path, check its schema (creating or migrating it in
// read-write mode) and set the connection up: WAL in read-write mode, a
// busy timeout, the ipp_fnmatch() SQL function. Caller owns the returned
// connection (close with sqlite3_close_v2). NULL on failure, with err set.
sqlite3 *db_schema_open(const char *path, db_open_mode_t mode, const ipp_logger_t *lg,
                        ipp_error_t *err);

#endif
