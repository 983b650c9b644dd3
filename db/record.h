/* db/record.h — a task record as read from the store, and the key list.
 *
 * db_record_t is the persistent TaskRecord of one task, as a copy the
 * caller owns: changing it changes nothing stored. The key table is the
 * only list of column names in ipp: queries, projections and the schema
 * all take names from here, never from user input. Buffers (request and
 * result) are stored framed in one BLOB each; this file owns that framing.
 * Never holds records beyond the caller's own copies.
 */
#ifndef IPP_DB_RECORD_H
#define IPP_DB_RECORD_H

#include "ipp/error.h"

#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// Task status. Values equal proto Status (ipp.proto) so the hub can cast.
typedef enum db_status_t {
    DB_STATUS_PENDING = 1,      // submitted, not finished
    DB_STATUS_OK = 2,           // ran and succeeded
    DB_STATUS_ERROR = 3,        // ran and failed
    DB_STATUS_ABORTED = 4,      // aborted before running
    DB_STATUS_UNREACHABLE = 5,  // dependencies impossible or timed out
    DB_STATUS_LOST = 6,         // its engine died, no retries left
    DB_STATUS_UNKNOWN = 7,      // no such msg_id
} db_status_t;

// db_status_name: "pending", "ok", "error", "aborted", "unreachable",
// "lost", "unknown"; static, never NULL.
const char *db_status_name(db_status_t st);
// db_status_parse: the inverse; DB_STATUS_UNKNOWN for anything else.
db_status_t db_status_parse(const char *name);
// db_status_completed: true for every status but pending and unknown.
bool db_status_completed(db_status_t st);

// TaskRecord keys, in column order. DB_KEYBIT(k) is its bit in key masks.
typedef enum db_key_t {
    DB_KEY_MSG_ID = 0,
    DB_KEY_HEADER,
    DB_KEY_CONTENT,
    DB_KEY_BUFFERS,
    DB_KEY_SUBMITTED,
    DB_KEY_CLIENT_UUID,
    DB_KEY_ENGINE_UUID,
    DB_KEY_STARTED,
    DB_KEY_COMPLETED,
    DB_KEY_RESUBMITTED,
    DB_KEY_RECEIVED,
    DB_KEY_RESULT_HEADER,
    DB_KEY_RESULT_CONTENT,
    DB_KEY_RESULT_BUFFERS,
    DB_KEY_QUEUE,
    DB_KEY_EXECUTE_INPUT,
    DB_KEY_EXECUTE_RESULT,
    DB_KEY_ERROR,
    DB_KEY_STDOUT,
    DB_KEY_STDERR,
    DB_KEY_LABEL,
    DB_KEY_ENGINE_ID,
    DB_KEY_STATUS,
    DB_KEY_AFTER,
    DB_KEY_FOLLOW,
    DB_KEY_TIMEOUT,
    DB_KEY_RETRIES,
    DB_KEY_TARGETS,
    DB_KEY_REQUIRES,
    DB_KEY_ATTEMPTS,
    DB_KEY_CHAIN_SEQ,
    DB_KEY_CHAIN_PREV,
    DB_KEY_CHAIN_HASH,
    DB_KEY_SUBMITTED_BY,
    DB_KEY_SUBMITTED_BY_KEY,
    DB_KEY__COUNT
} db_key_t;

#define DB_KEYBIT(k) ((uint64_t)1 << (k))
#define DB_KEYS_ALL (DB_KEYBIT(DB_KEY__COUNT) - 1)
// The keys IPython Parallel's db_query returns by default: everything but
// the request and result buffers.
#define DB_KEYS_DEFAULT                                                                            \
    (DB_KEYS_ALL & ~(DB_KEYBIT(DB_KEY_BUFFERS) | DB_KEYBIT(DB_KEY_RESULT_BUFFERS)))

// How a key's column is typed, which decides what a query may compare it to.
typedef enum db_key_kind_t {
    DB_KIND_TEXT,     // TEXT; compared with JSON strings
    DB_KIND_INT,      // INTEGER; compared with JSON integers
    DB_KIND_TIME,     // INTEGER µs UTC; JSON integers or ISO 8601 strings
    DB_KIND_BLOB,     // BLOB; only null tests
    DB_KIND_BUFFERS,  // framed BLOB of buffers; only null tests
    DB_KIND_JSON,     // TEXT holding JSON; null tests and text operators
    DB_KIND_STATUS,   // TEXT, one of the status names
} db_key_kind_t;

typedef struct db_key_info_t {
    const char *name;    // the TaskRecord key, also the column name
    db_key_kind_t kind;  // its type
} db_key_info_t;

// db_key_info: the entry for k (k < DB_KEY__COUNT), never NULL.
const db_key_info_t *db_key_info(db_key_t k);
// db_key_lookup: the key called name, or -1.
int db_key_lookup(const char *name);

// Bytes the record owns. data is NULL when the column is NULL; a non-NULL
// data is always followed by a NUL byte (not counted in size), so text
// columns can be used as C strings.
typedef struct db_bytes_t {
    uint8_t *data;
    size_t size;
} db_bytes_t;

// A list of buffers (owned).
typedef struct db_bufv_t {
    size_t n;       // how many
    db_bytes_t *v;  // n entries, each owning its bytes
} db_bufv_t;

// A graph dependency as stored (owned).
typedef struct db_dep_t {
    bool set;      // false when the column is NULL (no dependency)
    size_t n;      // ids
    char **ids;    // n msg_ids, each owned
    bool all;      // every id must be met (else any one)
    bool success;  // a successful dependency counts as met
    bool failure;  // a failed dependency counts as met
} db_dep_t;

// A RemoteError as stored (owned).
typedef struct db_remote_error_t {
    bool set;            // false when the column is NULL
    char *ename;         // exception name, or NULL
    char *evalue;        // message, or NULL
    size_t n_traceback;  // lines
    char **traceback;    // n_traceback lines, each owned
    int32_t engine_id;   // -1 when unknown
} db_remote_error_t;

// One task record: a copy the caller owns (free with db_record_destroy).
// Only the keys in `keys` were read; for those, `nulls` marks the ones
// whose column is NULL (integers are then 0 and pointers NULL).
typedef struct db_record_t {
    uint64_t keys;              // DB_KEYBIT of every key read
    uint64_t nulls;             // DB_KEYBIT of every key read that is NULL
    char *msg_id;               // always read
    db_bytes_t header;          // request header frame
    db_bytes_t content;         // request content frame
    db_bufv_t buffers;          // request buffers
    int64_t submitted;          // µs UTC
    char *client_uuid;          // submitting client's session
    char *engine_uuid;          // engine it ran on
    int64_t started;            // µs UTC
    int64_t completed;          // µs UTC
    char *resubmitted;          // msg_id of the task that replaced it
    int64_t received;           // µs UTC, when the controller got the result
    db_bytes_t result_header;   // result header frame
    db_bytes_t result_content;  // result content frame
    db_bufv_t result_buffers;   // result buffers
    char *queue;                // "task" or "mux"
    char *execute_input;        // command text, for audits
    char *execute_result;       // free-form result text
    db_remote_error_t error;    // the RemoteError
    db_bytes_t stdout_data;     // captured stdout (text, maybe not UTF-8)
    db_bytes_t stderr_data;     // captured stderr
    char *label;                // user label
    int32_t engine_id;          // engine it ran on
    db_status_t status;         // pending / ok / …
    db_dep_t after;             // time dependency
    db_dep_t follow;            // location dependency
    int64_t timeout;            // dependency wait limit, µs
    int32_t retries;            // further attempts allowed after a failure
    size_t n_targets;           // allowed engines
    int32_t *targets;           // n_targets engine ids (owned)
    size_t n_requires;          // functional dependencies
    char **requires;            // n_requires strings, each owned
    int32_t attempts;           // how many times it was dispatched
    int64_t chain_seq;          // audit chain position, 0 if not chained
    char *chain_prev;           // msg_id of the previous chain entry
    db_bytes_t chain_hash;      // 32-byte audit hash
    char *submitted_by;         // a Curve key's name, or a self-declared user
    int32_t submitted_by_key;   // 1: submitted_by is a checked key's name
} db_record_t;

// db_record_new: an empty record (no keys); caller owns it.
db_record_t *db_record_new(void);
// db_record_destroy: free rec and everything it owns; NULL-safe; sets *rec_p = NULL.
void db_record_destroy(db_record_t **rec_p);
// db_record_has: true if key k was read into rec and is not NULL.
bool db_record_has(const db_record_t *rec, db_key_t k);

// Buffer framing: each buffer is an 8-byte little-endian length followed
// by its bytes, so n buffers of sizes s_i take sum(8 + s_i) bytes.
// db_buffers_frame: write one framed buffer at out; returns the byte after it.
uint8_t *db_buffers_frame(uint8_t *out, const void *data, size_t size);
// db_buffers_unpack: decode framed bytes into out (which the caller then
// owns and frees with db_bufv_fini). Returns IPP_ERR_DB on bad framing.
ipp_err_t db_buffers_unpack(const void *framed, size_t size, db_bufv_t *out);
void db_bufv_fini(db_bufv_t *v);

// JSON options for db_record_to_json.
enum {
    DB_JSON_ISO_TIME = 1,  // timestamps as ISO 8601 UTC strings instead of µs
    DB_JSON_NO_BYTES = 2,  // leave out header/content/buffers/result frames and chain_hash
};
// db_record_to_json: the record's keys as a JSON object (caller owns the
// reference). Bytes are base64 strings; stdout/stderr are strings (bytes
// that are not UTF-8 become U+FFFD); after/follow/error/targets/requires
// are nested JSON. Returns NULL only when out of memory.
json_t *db_record_to_json(const db_record_t *rec, int flags);

// db_time_to_json: a timestamp as JSON: an integer, or with iso an ISO
// 8601 UTC string. Caller owns the reference.
json_t *db_time_to_json(int64_t us, bool iso);

// db_record_fill_column: set key k of rec from column col of st's current
// row, parsing JSON columns; used by the store and the query cursor.
ipp_err_t db_record_fill_column(db_record_t *rec, db_key_t k, sqlite3_stmt *stmt, int col,
                                ipp_error_t *err);

#endif
