/* db/sql.h — small SQLite helpers shared inside the db folder.
 *
 * Typed values that are both bound into statements and fed to the audit
 * hash (so the two can never disagree about what a column holds), a
 * growable byte buffer with a JSON string escaper, and the one place where
 * SQLite result codes become ipp_err_t. Owns no connection; never logs.
 * Nothing here is part of the controller's API.
 */
#ifndef IPP_DB_SQL_H
#define IPP_DB_SQL_H

#include "ipp/error.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// A column value: NULL, a 64-bit integer, or bytes (TEXT or BLOB). Borrowed:
// p points into memory the caller keeps alive while the value is used.
typedef enum { DB_VAL_NULL = 0, DB_VAL_INT = 1, DB_VAL_TEXT = 2, DB_VAL_BLOB = 3 } db_val_type_t;

typedef struct db_val_t {
    db_val_type_t type;  // which of the members below is meaningful
    int64_t i;           // DB_VAL_INT
    const void *p;       // DB_VAL_TEXT / DB_VAL_BLOB: the bytes (may be NULL if n == 0)
    size_t n;            // DB_VAL_TEXT / DB_VAL_BLOB: their length
} db_val_t;

// db_val_int / db_val_text / db_val_blob / db_val_null: value constructors.
// db_val_text(NULL) and db_val_blob(NULL, n) give DB_VAL_NULL.
db_val_t db_val_null(void);
db_val_t db_val_int(int64_t i);
db_val_t db_val_text(const char *s);
db_val_t db_val_textn(const char *s, size_t n);
db_val_t db_val_blob(const void *p, size_t n);

// db_val_column: the value of column col of the current row of st; the
// bytes are owned by SQLite and valid until the next step/reset.
db_val_t db_val_column(sqlite3_stmt *st, int col);

// db_val_value: the value of an SQL function argument (bytes owned by
// SQLite, valid during the call).
db_val_t db_val_value(sqlite3_value *v);

// db_val_bind: bind v to parameter idx (1-based) of st; SQLite copies
// nothing (SQLITE_STATIC), so v's bytes must outlive the statement's step.
// Returns an SQLite code.
int db_val_bind(sqlite3_stmt *st, int idx, const db_val_t *v);

// A growable byte buffer. Owns data; reuse it with db_sbuf_reset.
typedef struct db_sbuf_t {
    char *data;   // the bytes, NUL-terminated when len > 0 or after any append
    size_t len;   // bytes used (not counting the NUL)
    size_t cap;   // bytes allocated
    bool failed;  // an allocation failed; contents are incomplete
} db_sbuf_t;

void db_sbuf_init(db_sbuf_t *b);
void db_sbuf_fini(db_sbuf_t *b);
void db_sbuf_reset(db_sbuf_t *b);
void db_sbuf_add(db_sbuf_t *b, const void *p, size_t n);
void db_sbuf_adds(db_sbuf_t *b, const char *s);
void db_sbuf_addf(db_sbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
// db_sbuf_add_json_str: append s[0..n) as a quoted JSON string; bytes that
// are not well-formed UTF-8 (db/utf8.h) become U+FFFD so the output always
// parses.
void db_sbuf_add_json_str(db_sbuf_t *b, const char *s, size_t n);

// db_sbuf_add_utf8: append s[0..n) with every byte that is not part of
// well-formed UTF-8 (db/utf8.h) replaced by U+FFFD.
void db_sbuf_add_utf8(db_sbuf_t *b, const char *s, size_t n);

// db_err_from_sqlite: map an SQLite result code to ipp_err_t (FULL →
// IPP_ERR_DB_FULL, BUSY/LOCKED → IPP_ERR_BUSY, NOTADB → IPP_ERR_DB_SCHEMA,
// NOMEM → IPP_ERR_NOMEM, CANTOPEN → IPP_ERR_IO, else IPP_ERR_DB).
ipp_err_t db_err_from_sqlite(int rc);

// db_sql_fail: fill err from db's last error, prefixed by what (a
// printf-style description of the operation); returns the ipp code.
ipp_err_t db_sql_fail(ipp_error_t *err, sqlite3 *db, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

// db_sql_exec: run one or more statements without results; on failure
// fills err naming what. Returns an ipp code.
ipp_err_t db_sql_exec(sqlite3 *db, const char *sql, ipp_error_t *err);

// db_sql_quote_ident: append "name" (double-quoted identifier) to b. Only
// ever called with names from the db folder's own tables.
void db_sql_quote_ident(db_sbuf_t *b, const char *name);

#endif
