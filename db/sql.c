/* db/sql.c — SQLite helpers shared inside the db folder.
 *
 * Stateless apart from the caller's buffers. The JSON escaper is here
 * because the writer builds small JSON texts (dependencies, targets,
 * errors) on its hot path and must not go through a general JSON library
 * for each one. Never logs: callers decide what is worth a log line.
 */
#include "db/sql.h"

#include "db/utf8.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

db_val_t db_val_null(void)
{
    return (db_val_t){.type = DB_VAL_NULL};
}

db_val_t db_val_int(int64_t i)
{
    return (db_val_t){.type = DB_VAL_INT, .i = i};
}

db_val_t db_val_text(const char *s)
{
    if (!s)
        return db_val_null();
    return (db_val_t){.type = DB_VAL_TEXT, .p = s, .n = strlen(s)};
}

db_val_t db_val_textn(const char *s, size_t n)
{
    if (!s)
        return db_val_null();
    return (db_val_t){.type = DB_VAL_TEXT, .p = s, .n = n};
}

db_val_t db_val_blob(const void *p, size_t n)
{
    if (!p)
        return db_val_null();
    return (db_val_t){.type = DB_VAL_BLOB, .p = p, .n = n};
}

db_val_t db_val_column(sqlite3_stmt *st, int col)
{
    switch (sqlite3_column_type(st, col)) {
    case SQLITE_INTEGER:
        return db_val_int(sqlite3_column_int64(st, col));
    case SQLITE_FLOAT:
        // Never written by ipp; hashed as its integer part so a hand-edited
        // REAL still shows up as a change rather than crashing anything.
        return db_val_int((int64_t)sqlite3_column_double(st, col));
    case SQLITE_TEXT: {
        const unsigned char *t = sqlite3_column_text(st, col);
        return (db_val_t){.type = DB_VAL_TEXT, .p = t, .n = (size_t)sqlite3_column_bytes(st, col)};
    }
    case SQLITE_BLOB: {
        const void *p = sqlite3_column_blob(st, col);
        return (db_val_t){.type = DB_VAL_BLOB, .p = p, .n = (size_t)sqlite3_column_bytes(st, col)};
    }
    default:
        return db_val_null();
    }
}

db_val_t db_val_value(sqlite3_value *v)
{
    switch (sqlite3_value_type(v)) {
    case SQLITE_INTEGER:
        return db_val_int(sqlite3_value_int64(v));
    case SQLITE_FLOAT:
        return db_val_int((int64_t)sqlite3_value_double(v));
    case SQLITE_TEXT: {
        const unsigned char *t = sqlite3_value_text(v);
        return (db_val_t){.type = DB_VAL_TEXT, .p = t, .n = (size_t)sqlite3_value_bytes(v)};
    }
    case SQLITE_BLOB: {
        const void *p = sqlite3_value_blob(v);
        return (db_val_t){.type = DB_VAL_BLOB, .p = p, .n = (size_t)sqlite3_value_bytes(v)};
    }
    default:
        return db_val_null();
    }
}

int db_val_bind(sqlite3_stmt *st, int idx, const db_val_t *v)
{
    switch (v->type) {
    case DB_VAL_INT:
        return sqlite3_bind_int64(st, idx, v->i);
    case DB_VAL_TEXT:
        // An empty text still has to be a text, not NULL: give SQLite a
        // non-NULL pointer.
        return sqlite3_bind_text64(st, idx, v->p ? (const char *)v->p : "", v->n, SQLITE_STATIC,
                                   SQLITE_UTF8);
    case DB_VAL_BLOB:
        if (v->n == 0)
            return sqlite3_bind_zeroblob(st, idx, 0);
        return sqlite3_bind_blob64(st, idx, v->p, v->n, SQLITE_STATIC);
    default:
        return sqlite3_bind_null(st, idx);
    }
}

void db_sbuf_init(db_sbuf_t *b)
{
    memset(b, 0, sizeof *b);
}

void db_sbuf_fini(db_sbuf_t *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

void db_sbuf_reset(db_sbuf_t *b)
{
    b->len = 0;
    b->failed = false;
    if (b->data)
        b->data[0] = '\0';
}

// s_reserve: make room for n more bytes plus the NUL; false on failure.
static bool s_reserve(db_sbuf_t *b, size_t n)
{
    if (b->failed)
        return false;
    if (b->len + n + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1)
        cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d) {
        b->failed = true;
        return false;
    }
    b->data = d;
    b->cap = cap;
    return true;
}

void db_sbuf_add(db_sbuf_t *b, const void *p, size_t n)
{
    if (!s_reserve(b, n))
        return;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void db_sbuf_adds(db_sbuf_t *b, const char *s)
{
    db_sbuf_add(b, s, strlen(s));
}

void db_sbuf_addf(db_sbuf_t *b, const char *fmt, ...)
{
    char small[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
        return;
    }
    if ((size_t)n < sizeof small) {
        db_sbuf_add(b, small, (size_t)n);
        return;
    }
    if (!s_reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void db_sbuf_add_utf8(db_sbuf_t *b, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t run = 0;
    size_t i = 0;
    while (i < n) {
        size_t k = (p[i] < 0x80) ? 1 : db_utf8_decode(p + i, n - i, NULL);
        if (k) {
            i += k;
            continue;
        }
        db_sbuf_add(b, p + run, i - run);
        db_sbuf_add(b, "\xEF\xBF\xBD", 3);
        i++;
        run = i;
    }
    db_sbuf_add(b, p + run, n - run);
}

void db_sbuf_add_json_str(db_sbuf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    db_sbuf_add(b, "\"", 1);
    size_t run = 0;  // start of the pending run of bytes copied as they are
    size_t i = 0;
    while (i < n) {
        unsigned char c = p[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            i++;
            continue;
        }
        size_t k = (c >= 0x80) ? db_utf8_decode(p + i, n - i, NULL) : 0;
        if (k) {
            i += k;
            continue;
        }
        db_sbuf_add(b, p + run, i - run);
        if (c == '"') {
            db_sbuf_add(b, "\\\"", 2);
        } else if (c == '\\') {
            db_sbuf_add(b, "\\\\", 2);
        } else if (c == '\n') {
            db_sbuf_add(b, "\\n", 2);
        } else if (c == '\t') {
            db_sbuf_add(b, "\\t", 2);
        } else if (c < 0x20) {
            char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            db_sbuf_add(b, u, 6);
        } else {
            db_sbuf_add(b, "\xEF\xBF\xBD", 3);  // a byte that is not UTF-8
        }
        i++;
        run = i;
    }
    db_sbuf_add(b, p + run, n - run);
    db_sbuf_add(b, "\"", 1);
}

ipp_err_t db_err_from_sqlite(int rc)
{
    switch (rc & 0xFF) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW:
        return IPP_OK;
    case SQLITE_FULL:
        return IPP_ERR_DB_FULL;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return IPP_ERR_BUSY;
    case SQLITE_NOTADB:
        return IPP_ERR_DB_SCHEMA;
    case SQLITE_NOMEM:
        return IPP_ERR_NOMEM;
    case SQLITE_CANTOPEN:
        return IPP_ERR_IO;
    case SQLITE_PERM:
    case SQLITE_READONLY:
        return IPP_ERR_PERMISSION;
    default:
        return IPP_ERR_DB;
    }
}

ipp_err_t db_sql_fail(ipp_error_t *err, sqlite3 *db, int rc, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    ipp_err_t code = db_err_from_sqlite(rc);
    if (code == IPP_OK)
        code = IPP_ERR_DB;
    const char *detail = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    return ipp_error_set(err, code, "%s: %s (sqlite %d)", what, detail, rc);
}

ipp_err_t db_sql_exec(sqlite3 *db, const char *sql, ipp_error_t *err)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc == SQLITE_OK)
        return IPP_OK;
    ipp_err_t code = db_err_from_sqlite(rc);
    if (code == IPP_OK)
        code = IPP_ERR_DB;
    ipp_error_set(err, code, "%.80s…: %s (sqlite %d)", sql, msg ? msg : sqlite3_errstr(rc), rc);
    sqlite3_free(msg);
    return code;
}

void db_sql_quote_ident(db_sbuf_t *b, const char *name)
{
    db_sbuf_add(b, "\"", 1);
    db_sbuf_adds(b, name);
    db_sbuf_add(b, "\"", 1);
}
