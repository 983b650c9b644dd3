/* db/query.h — IPython Parallel's db_query language compiled to SQL.
 *
 * A query is a JSON object mapping TaskRecord keys to an exact value or
 * to an operator object with any of $lt $lte $gt $gte $eq $ne $in $nin
 * $glob (several operators on one key, and several keys, are ANDed).
 * `null` means IS NULL ({"$ne": null}: IS NOT NULL). Timestamp keys take
 * µs integers or ISO 8601 strings. $ne and $nin, as in Python, also match
 * records where the key is null. $glob matches like fnmatch (db/fnmatch.h).
 *
 * The output is a WHERE clause with `?` parameters and the values to bind:
 * column names come only from the key table in db/record.h and every user
 * value is a bound parameter, never SQL text. $in/$nin lists of any length
 * go in as one JSON array parameter read through json_each(), so SQLite's
 * parameter limit does not apply. A compiled query owns copies of
 * everything it binds; it does not keep the JSON it was compiled from.
 */
#ifndef IPP_DB_QUERY_H
#define IPP_DB_QUERY_H

#include "db/record.h"
#include "ipp/error.h"

#include <jansson.h>
#include <sqlite3.h>
#include <stdint.h>

typedef struct db_query_t db_query_t;

// db_query_compile: compile query (a JSON object; NULL or {} matches every
// record) and keys (a JSON array of key names, or NULL for the default
// keys: all but the buffers). Caller owns the result (db_query_destroy).
// NULL on error: IPP_ERR_QUERY naming the key, operator or value that is
// wrong, or IPP_ERR_NOMEM.
db_query_t *db_query_compile(const json_t *query, const json_t *keys, ipp_error_t *err);

// db_query_compile_text: the same from JSON text (query_json as carried
// on the wire); bad JSON is IPP_ERR_QUERY.
db_query_t *db_query_compile_text(const char *query_json, const json_t *keys, ipp_error_t *err);

// db_query_destroy: NULL-safe; sets *q_p = NULL.
void db_query_destroy(db_query_t **q_p);

// db_query_keys: the projection as a DB_KEYBIT mask (msg_id always in it).
uint64_t db_query_keys(const db_query_t *q);

// db_query_where: the WHERE clause, without the word WHERE ("1" when the
// query is empty). Borrowed; valid while q lives.
const char *db_query_where(const db_query_t *q);

// db_query_bind: bind the query's values to st, its first parameter being
// number first (1-based). Returns an SQLite code. The values stay owned by
// q, which must outlive the statement's use.
int db_query_bind(const db_query_t *q, sqlite3_stmt *st, int first);

// db_query_nparams: how many parameters the WHERE clause uses.
int db_query_nparams(const db_query_t *q);

#endif
