/* source.h — where ipp-query gets its answers: the controller (online,
 * through libipp) or a database file (offline, read-only, through the
 * task store's reader).
 *
 * Both answer the same questions with the same shapes — records as JSON
 * objects with ISO 8601 UTC timestamps and no byte columns, exactly what
 * the controller's db_query returns — so the subcommands (commands.c)
 * never know which one they talk to. The two implementations sit behind
 * an ops table in source.c; a question one of them cannot answer
 * (queue_status offline) is IPP_ERR_INVALID with a message saying why.
 *
 * An offline source never writes: the file is opened DB_OPEN_READONLY
 * (query_only), so it can be read while a controller runs on it.
 */
#ifndef IPP_TOOLS_QUERY_SOURCE_H
#define IPP_TOOLS_QUERY_SOURCE_H

#include "ipp/ipp.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct q_source_t q_source_t;

// Where one task stands, as result_status says.
typedef enum q_state_t {
    Q_STATE_UNKNOWN = 0,    // never heard of
    Q_STATE_PENDING = 1,    // submitted, not finished
    Q_STATE_COMPLETED = 2,  // finished, whatever the outcome
} q_state_t;

// q_state_name: "unknown", "pending", "completed"; static.
const char *q_state_name(q_state_t st);

// q_source_online: connect to a controller as opts says (a connection
// file or a profile; opts->timeout bounds the hello and every request).
// Caller owns the result. NULL with err set: the client's errors
// (IPP_ERR_NOT_FOUND no connection file, IPP_ERR_TIMEOUT no answer, …).
q_source_t *q_source_online(const ipp_client_opts_t *opts, ipp_error_t *err);

// q_source_offline: open the database file at path read-only. Caller owns
// the result. NULL with err set: IPP_ERR_NOT_FOUND (no such file),
// IPP_ERR_DB / IPP_ERR_DB_SCHEMA (not readable, not an ipp database).
q_source_t *q_source_offline(const char *path, ipp_error_t *err);

// q_source_destroy: disconnect or close; NULL-safe; sets *s_p = NULL.
void q_source_destroy(q_source_t **s_p);

// q_source_online_p: true for a controller, false for a file.
bool q_source_online_p(const q_source_t *s);

// q_source_find: the records matching query_json (a db_query; NULL or ""
// matches all) with the keys projection (a JSON array of key names,
// borrowed; NULL: every key but the byte columns), at most limit (0: no
// limit), in submission order. with_user: also set "user", the submitting
// user from the request header, when the source can tell (offline only;
// online it stays out). *rows gets a JSON array of objects (caller owns
// it). IPP_ERR_QUERY for a bad query, naming what is wrong.
ipp_err_t q_source_find(q_source_t *s, const char *query_json, const json_t *keys, int64_t limit,
                        bool with_user, json_t **rows, ipp_error_t *err);

// q_source_state: where each of ids[0..n) stands, into out[0..n). Online
// the controller's memory decides what is pending (a result recorded but
// not yet delivered still counts as pending).
ipp_err_t q_source_state(q_source_t *s, const char *const *ids, size_t n, q_state_t *out,
                         ipp_error_t *err);

// q_source_history: every msg_id in submission order; *ids gets a JSON
// array of strings (caller owns it).
ipp_err_t q_source_history(q_source_t *s, json_t **ids, ipp_error_t *err);

// q_source_values: the result values (buffers) of the completed tasks
// ids[0..n), in one request online. *values gets a JSON object (caller
// owns it) mapping each id whose result could be had to an array of its
// values: each a string when it is UTF-8 text, else {"base64": "…"}
// (empty for a task that returned nothing). Ids unknown or still pending
// are left out.
ipp_err_t q_source_values(q_source_t *s, const char *const *ids, size_t n, json_t **values,
                          ipp_error_t *err);

// q_source_queue_status: every engine's queue (controller only; offline:
// IPP_ERR_INVALID). out is filled (ipp_queue_status_fini).
ipp_err_t q_source_queue_status(q_source_t *s, bool verbose, ipp_queue_status_t *out,
                                ipp_error_t *err);

#endif
