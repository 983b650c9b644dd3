/* db/reader.c — the read side of the task database.
 *
 * Owns one connection and a few prepared statements; every record handed
 * out is a fresh copy. Bulk reads (result_status over many ids, history)
 * run in one read transaction so they see one snapshot and do not take
 * the WAL read lock per row. Never writes except for the explicit purge
 * and engine-id calls, and never on a read-only reader.
 */
#include "db/reader.h"

#include "db/sql.h"
#include "proto/clock.h"
#include "proto/grow.h"

#include <stdlib.h>
#include <string.h>

struct db_reader_t {
    char *path;                // database file (owned copy)
    db_open_mode_t mode;       // read-only or read-write
    const ipp_logger_t *lg;    // borrowed; may be NULL
    sqlite3 *db;               // the connection
    sqlite3_stmt *st_status;   // status by msg_id
    sqlite3_stmt *st_rowid;    // rowid by msg_id (the msg_id index alone)
    sqlite3_stmt *st_nonok;    // rowid, status of the rows not 'ok' (NULL: no such index)
    sqlite3_stmt *st_dep;      // status, engine_id by msg_id
    sqlite3_stmt *st_get_all;  // every key by msg_id
};

struct db_cursor_t {
    db_reader_t *reader;           // borrowed
    sqlite3_stmt *st;              // the running query
    db_query_t *q;                 // owned compiled query (its values stay bound)
    int n_cols;                    // columns in each row
    db_key_t cols[DB_KEY__COUNT];  // the key of each column
    bool done;                     // the statement has finished
};

/* ------------------------------------------------------------ strings */

// Builder for a db_strv_t: strings appended to one buffer, offsets kept.
typedef struct {
    db_sbuf_t bytes;  // all strings, NUL-separated
    size_t *offs;     // where each starts
    size_t n, cap;
    bool failed;
} s_strv_builder_t;

static void s_sb_add(s_strv_builder_t *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (IPP_GROW(b->offs, b->cap, b->n + 1, 1024) != 0) {
        b->failed = true;
        return;
    }
    b->offs[b->n++] = b->bytes.len;
    db_sbuf_add(&b->bytes, s, n);
    db_sbuf_add(&b->bytes, "", 1);
    if (b->bytes.failed)
        b->failed = true;
}

// s_sb_finish: one allocation holding the pointer array then the bytes.
static db_strv_t *s_sb_finish(s_strv_builder_t *b)
{
    db_strv_t *v = NULL;
    if (!b->failed) {
        size_t head = sizeof *v + b->n * sizeof(char *);
        v = malloc(head + b->bytes.len + 1);
        if (v) {
            v->n = b->n;
            v->v = (char **)(v + 1);
            char *base = (char *)v + head;
            if (b->bytes.len)
                memcpy(base, b->bytes.data, b->bytes.len);
            base[b->bytes.len] = '\0';
            for (size_t i = 0; i < b->n; i++)
                v->v[i] = base + b->offs[i];
        }
    }
    db_sbuf_fini(&b->bytes);
    free(b->offs);
    memset(b, 0, sizeof *b);
    return v;
}

void db_strv_destroy(db_strv_t **v_p)
{
    if (!v_p || !*v_p)
        return;
    free(*v_p);
    *v_p = NULL;
}

void db_engines_destroy(db_engines_t **e_p)
{
    if (!e_p || !*e_p)
        return;
    db_engines_t *e = *e_p;
    for (size_t i = 0; i < e->n; i++) {
        free(e->v[i].uuid);
        free(e->v[i].hostname);
    }
    free(e->v);
    free(e);
    *e_p = NULL;
}

/* ------------------------------------------------------------ open/close */

// s_select_list: the quoted columns of the keys in mask (msg_id always
// first), appended to b, and their keys into cols. Returns the count.
static int s_select_list(db_sbuf_t *b, uint64_t mask, db_key_t *cols)
{
    int n = 0;
    mask |= DB_KEYBIT(DB_KEY_MSG_ID);
    for (int k = 0; k < DB_KEY__COUNT; k++) {
        if (!(mask & DB_KEYBIT(k)))
            continue;
        if (n)
            db_sbuf_add(b, ", ", 2);
        db_sql_quote_ident(b, db_key_info((db_key_t)k)->name);
        cols[n++] = (db_key_t)k;
    }
    return n;
}

static int s_prepare(db_reader_t *s, const char *sql, sqlite3_stmt **st)
{
    return sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
}

db_reader_t *db_reader_new(const char *path, db_open_mode_t mode, const ipp_logger_t *lg,
                           ipp_error_t *err)
{
    db_reader_t *s = calloc(1, sizeof *s);
    db_sbuf_t sql;
    db_sbuf_init(&sql);
    if (!s || !(s->path = strdup(path ? path : ""))) {
        ipp_error_set(err, IPP_ERR_NOMEM, "out of memory opening %s", path ? path : "");
        goto fail;
    }
    s->mode = mode;
    s->lg = lg;
    if (!(s->db = db_schema_open(path, mode, lg, err)))
        goto fail;
    // Reads map the first 16 MiB of the file (the hot index pages) instead
    // of copying them through the cache. Mapping the whole file made every
    // page a big query touched count in the controller's RSS (846 MB with
    // 1,000,000 records); past the map, pages come through SQLite's bounded
    // cache and the kernel's page cache, which the process does not hold.
    sqlite3_exec(s->db, "PRAGMA mmap_size=16777216", NULL, NULL, NULL);
    db_key_t cols[DB_KEY__COUNT];
    db_sbuf_adds(&sql, "SELECT ");
    s_select_list(&sql, DB_KEYS_ALL, cols);
    db_sbuf_adds(&sql, " FROM tasks WHERE msg_id = ?1");
    int rc;
    if (sql.failed) {
        ipp_error_set(err, IPP_ERR_NOMEM, "out of memory opening %s", path);
        goto fail;
    }
    // status through the primary key's index: the row's first page holds
    // it (small columns first), so no overflow page is read.
    if ((rc = s_prepare(s, "SELECT status FROM tasks WHERE msg_id = ?1", &s->st_status)) ||
        (rc = s_prepare(s, "SELECT rowid FROM tasks WHERE msg_id = ?1", &s->st_rowid)) ||
        (rc = s_prepare(s, "SELECT status, engine_id FROM tasks WHERE msg_id = ?1", &s->st_dep)) ||
        (rc = s_prepare(s, sql.data, &s->st_get_all))) {
        db_sql_fail(err, s->db, rc, "%s: preparing reads", path);
        goto fail;
    }
    // The rows that are not 'ok' are exactly the entries of the partial
    // status index; a file without it (bench_db --drop-index) reads rows.
    if (s_prepare(s,
                  "SELECT rowid, status FROM tasks INDEXED BY tasks_status"
                  " WHERE status <> 'ok' LIMIT ?1",
                  &s->st_nonok) != SQLITE_OK)
        s->st_nonok = NULL;
    db_sbuf_fini(&sql);
    return s;
fail:
    db_sbuf_fini(&sql);
    db_reader_destroy(&s);
    return NULL;
}

void db_reader_destroy(db_reader_t **s_p)
{
    if (!s_p || !*s_p)
        return;
    db_reader_t *s = *s_p;
    sqlite3_finalize(s->st_status);
    sqlite3_finalize(s->st_rowid);
    sqlite3_finalize(s->st_nonok);
    sqlite3_finalize(s->st_dep);
    sqlite3_finalize(s->st_get_all);
    sqlite3_close_v2(s->db);
    free(s->path);
    free(s);
    *s_p = NULL;
}

sqlite3 *db_reader_sqlite(db_reader_t *s)
{
    return s ? s->db : NULL;
}

/* ------------------------------------------------------------ records */

// s_row_record: a new record from the current row of st, whose columns
// hold the keys cols[0..n).
static ipp_err_t s_row_record(sqlite3_stmt *st, const db_key_t *cols, int n, db_record_t **out,
                              ipp_error_t *err)
{
    db_record_t *rec = db_record_new();
    if (!rec)
        return ipp_error_set(err, IPP_ERR_NOMEM, "out of memory reading a record");
    for (int i = 0; i < n; i++) {
        ipp_err_t rc = db_record_fill_column(rec, cols[i], st, i, err);
        if (rc) {
            db_record_destroy(&rec);
            return rc;
        }
    }
    *out = rec;
    return IPP_OK;
}

ipp_err_t db_reader_get(db_reader_t *s, const char *msg_id, uint64_t keys, db_record_t **out,
                        ipp_error_t *err)
{
    *out = NULL;
    if (!msg_id)
        return ipp_error_set(err, IPP_ERR_INVALID, "no msg_id given");
    db_key_t cols[DB_KEY__COUNT];
    sqlite3_stmt *st = NULL;
    bool owned = false;
    int n;
    keys = (keys & DB_KEYS_ALL) | DB_KEYBIT(DB_KEY_MSG_ID);
    db_sbuf_t sql;
    db_sbuf_init(&sql);
    if (keys == DB_KEYS_ALL) {
        st = s->st_get_all;
        n = s_select_list(&sql, keys, cols);
    } else {
        db_sbuf_adds(&sql, "SELECT ");
        n = s_select_list(&sql, keys, cols);
        db_sbuf_adds(&sql, " FROM tasks WHERE msg_id = ?1");
        int rc = sql.failed ? SQLITE_NOMEM : sqlite3_prepare_v2(s->db, sql.data, -1, &st, NULL);
        if (rc != SQLITE_OK) {
            db_sbuf_fini(&sql);
            return db_sql_fail(err, s->db, rc, "%s: reading %s", s->path, msg_id);
        }
        owned = true;
    }
    db_sbuf_fini(&sql);
    ipp_err_t code = IPP_OK;
    sqlite3_bind_text(st, 1, msg_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        code = s_row_record(st, cols, n, out, err);
    else if (rc == SQLITE_DONE)
        code = ipp_error_set(err, IPP_ERR_NOT_FOUND, "no task %s", msg_id);
    else
        code = db_sql_fail(err, s->db, rc, "%s: reading %s", s->path, msg_id);
    if (owned)
        sqlite3_finalize(st);
    else
        sqlite3_reset(st);
    return code;
}

// One id to look up: its first 16 bytes as two big-endian integers (time
// and counter of a UUIDv7, so most comparisons end there), the id, and
// where its answer goes.
typedef struct {
    uint64_t k1, k2;  // bytes 0..7 and 8..15, zero-padded
    const char *id;   // the id (NULL sorts first and is unknown)
    size_t pos;       // index into the caller's arrays
} s_idkey_t;

static int s_cmp_idkeys(const void *a, const void *b)
{
    const s_idkey_t *x = a, *y = b;
    if (x->k1 != y->k1)
        return x->k1 < y->k1 ? -1 : 1;
    if (x->k2 != y->k2)
        return x->k2 < y->k2 ? -1 : 1;
    if (!x->id || !y->id)
        return (x->id != NULL) - (y->id != NULL);
    size_t lx = strnlen(x->id, 16), ly = strnlen(y->id, 16);
    if (lx < 16 || ly < 16)  // equal keys and one ends inside them: compare lengths
        return (lx > ly) - (lx < ly);
    return strcmp(x->id + 16, y->id + 16);
}

static void s_idkey(s_idkey_t *k, const char *id, size_t pos)
{
    k->k1 = k->k2 = 0;
    k->id = id;
    k->pos = pos;
    if (!id)
        return;
    size_t i = 0;
    for (; i < 8 && id[i]; i++)
        k->k1 |= (uint64_t)(unsigned char)id[i] << (8 * (7 - i));
    if (i < 8)
        return;
    for (; i < 16 && id[i]; i++)
        k->k2 |= (uint64_t)(unsigned char)id[i] << (8 * (15 - i));
}

// Many ids at once are answered from two indexes alone, never the table
// rows: the msg_id index gives each id's rowid, and the rows that are not
// 'ok' (the partial status index's entries, read once) give the status of
// the few that are not. Reading a status from the row instead touches one
// table page per id: three to four times as long at a million records,
// where the rows fill far more pages than the index does. Below
// S_SPLIT_MIN ids, or when more than S_SPLIT_PER_ID rows per id asked are
// not 'ok' (a large backlog), the rows are read one by one: cheaper then,
// and the set held stays bounded.
#define S_SPLIT_MIN 256
#define S_SPLIT_PER_ID 4

// One row that is not 'ok'.
typedef struct {
    int64_t rowid;       // its rowid
    db_status_t status;  // its status
} s_nonok_t;

static int s_cmp_nonok(const void *a, const void *b)
{
    const s_nonok_t *x = a, *y = b;
    return (x->rowid > y->rowid) - (x->rowid < y->rowid);
}

// s_nonok_load: the rows not 'ok', sorted by rowid, into *v (caller frees)
// and *nv, if there are at most max: then *loaded is true. More than max
// leaves *loaded false and nothing kept. IPP_OK, or the error.
static ipp_err_t s_nonok_load(db_reader_t *s, size_t max, s_nonok_t **v, size_t *nv, bool *loaded,
                              ipp_error_t *err)
{
    sqlite3_stmt *st = s->st_nonok;
    size_t cap = 0, n = 0;
    s_nonok_t *out = NULL;
    ipp_err_t code = IPP_OK;
    *loaded = false;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)max + 1);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < max) {
        if (IPP_GROW(out, cap, n + 1, 1024) != 0) {
            code = ipp_error_set(err, IPP_ERR_NOMEM, "out of memory reading the unfinished tasks");
            break;
        }
        out[n].rowid = sqlite3_column_int64(st, 0);
        out[n].status = db_status_parse((const char *)sqlite3_column_text(st, 1));
        n++;
    }
    if (!code && rc != SQLITE_DONE && rc != SQLITE_ROW)
        code = db_sql_fail(err, s->db, rc, "%s: reading the unfinished tasks", s->path);
    sqlite3_reset(st);
    if (code || rc == SQLITE_ROW) {  // failed, or a row beyond max
        free(out);
        return code;
    }
    if (n)
        qsort(out, n, sizeof *out, s_cmp_nonok);
    *v = out;
    *nv = n;
    *loaded = true;
    return IPP_OK;
}

ipp_err_t db_reader_result_status(db_reader_t *s, const char *const *ids, size_t n,
                                  db_status_t *out, ipp_error_t *err)
{
    // Looked up in sorted order, neighbouring ids share B-tree pages (and
    // time-ordered ids share table pages too): much faster than the order
    // they came in. Duplicates are looked up once.
    s_idkey_t *keys = n ? malloc(n * sizeof *keys) : NULL;
    if (n && !keys)
        return ipp_error_set(err, IPP_ERR_NOMEM, "out of memory sorting %zu ids", n);
    for (size_t i = 0; i < n; i++)
        s_idkey(&keys[i], ids[i], i);
    qsort(keys, n, sizeof *keys, s_cmp_idkeys);
    ipp_err_t code = db_sql_exec(s->db, "BEGIN", err);
    if (code) {
        free(keys);
        return code;
    }
    s_nonok_t *nonok = NULL;
    size_t n_nonok = 0;
    bool split = false;
    if (n >= S_SPLIT_MIN && s->st_nonok &&
        (code = s_nonok_load(s, n * S_SPLIT_PER_ID, &nonok, &n_nonok, &split, err))) {
        sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
        free(keys);
        return code;
    }
    sqlite3_stmt *st = split ? s->st_rowid : s->st_status;
    const char *prev = NULL;
    db_status_t prev_st = DB_STATUS_UNKNOWN;
    for (size_t k = 0; k < n; k++) {
        const char *id = keys[k].id;
        size_t i = keys[k].pos;
        out[i] = DB_STATUS_UNKNOWN;
        if (!id)
            continue;
        if (prev && strcmp(prev, id) == 0) {
            out[i] = prev_st;
            continue;
        }
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW && split) {
            s_nonok_t key = {.rowid = sqlite3_column_int64(st, 0)};
            const s_nonok_t *hit =
                n_nonok ? bsearch(&key, nonok, n_nonok, sizeof *nonok, s_cmp_nonok) : NULL;
            out[i] = hit ? hit->status : DB_STATUS_OK;
        } else if (rc == SQLITE_ROW) {
            out[i] = db_status_parse((const char *)sqlite3_column_text(st, 0));
        } else if (rc != SQLITE_DONE) {
            code = db_sql_fail(err, s->db, rc, "%s: result status of %s", s->path, id);
            sqlite3_reset(st);
            break;
        }
        sqlite3_reset(st);
        prev = id;
        prev_st = out[i];
    }
    sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    free(nonok);
    free(keys);
    return code;
}

ipp_err_t db_reader_dep_state(db_reader_t *s, const char *msg_id, db_status_t *status,
                              int32_t *engine_id, ipp_error_t *err)
{
    *status = DB_STATUS_UNKNOWN;
    *engine_id = -1;
    if (!msg_id)
        return ipp_error_set(err, IPP_ERR_INVALID, "no msg_id given");
    sqlite3_stmt *st = s->st_dep;
    sqlite3_bind_text(st, 1, msg_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    ipp_err_t code = IPP_OK;
    if (rc == SQLITE_ROW) {
        *status = db_status_parse((const char *)sqlite3_column_text(st, 0));
        if (sqlite3_column_type(st, 1) != SQLITE_NULL)
            *engine_id = sqlite3_column_int(st, 1);
    } else if (rc != SQLITE_DONE) {
        code = db_sql_fail(err, s->db, rc, "%s: dependency state of %s", s->path, msg_id);
    }
    sqlite3_reset(st);
    return code;
}

// s_collect: run sql (with ?1 = p1 if given) and gather column 0 of every row.
static ipp_err_t s_collect(db_reader_t *s, const char *sql, const char *p1, db_strv_t **out,
                           ipp_error_t *err)
{
    *out = NULL;
    s_strv_builder_t b;
    memset(&b, 0, sizeof b);
    db_sbuf_init(&b.bytes);
    sqlite3_stmt *st = NULL;
    ipp_err_t code = IPP_OK;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK && p1)
        rc = sqlite3_bind_text(st, 1, p1, -1, SQLITE_STATIC);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        s_sb_add(&b, (const char *)sqlite3_column_text(st, 0), (size_t)sqlite3_column_bytes(st, 0));
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_DONE)
        code = db_sql_fail(err, s->db, rc, "%s: listing", s->path);
    sqlite3_finalize(st);
    db_strv_t *v = s_sb_finish(&b);
    if (!code && !v)
        code = ipp_error_set(err, IPP_ERR_NOMEM, "out of memory listing");
    if (code)
        db_strv_destroy(&v);
    *out = v;
    return code;
}

ipp_err_t db_reader_history(db_reader_t *s, db_strv_t **out, ipp_error_t *err)
{
    return s_collect(s, "SELECT msg_id FROM tasks ORDER BY submitted, rowid", NULL, out, err);
}

ipp_err_t db_reader_dependents(db_reader_t *s, const char *msg_id, db_strv_t **out,
                               ipp_error_t *err)
{
    if (!msg_id)
        return ipp_error_set(err, IPP_ERR_INVALID, "no msg_id given");
    return s_collect(s, "SELECT DISTINCT task FROM deps WHERE depends_on = ?1 ORDER BY task",
                     msg_id, out, err);
}

/* ------------------------------------------------------------ cursors */

// s_cursor: a cursor over "SELECT <keys> FROM tasks WHERE <q> ORDER BY
// submitted, rowid LIMIT n"; takes ownership of q.
static db_cursor_t *s_cursor(db_reader_t *s, db_query_t *q, uint64_t keys, int64_t limit,
                             ipp_error_t *err)
{
    db_cursor_t *c = calloc(1, sizeof *c);
    db_sbuf_t sql;
    db_sbuf_init(&sql);
    if (!c) {
        ipp_error_set(err, IPP_ERR_NOMEM, "out of memory starting a query");
        db_query_destroy(&q);
        return NULL;
    }
    c->reader = s;
    c->q = q;
    db_sbuf_adds(&sql, "SELECT ");
    c->n_cols = s_select_list(&sql, keys, c->cols);
    db_sbuf_adds(&sql, " FROM tasks WHERE ");
    db_sbuf_adds(&sql, db_query_where(q));
    db_sbuf_adds(&sql, " ORDER BY submitted, rowid LIMIT ?");
    int rc = sql.failed ? SQLITE_NOMEM : sqlite3_prepare_v2(s->db, sql.data, -1, &c->st, NULL);
    if (rc == SQLITE_OK)
        rc = db_query_bind(q, c->st, 1);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(c->st, db_query_nparams(q) + 1, limit > 0 ? limit : -1);
    db_sbuf_fini(&sql);
    if (rc != SQLITE_OK) {
        db_sql_fail(err, s->db, rc, "%s: starting a query", s->path);
        db_cursor_destroy(&c);
        return NULL;
    }
    return c;
}

db_cursor_t *db_reader_find(db_reader_t *s, const json_t *query, const json_t *keys, int64_t limit,
                            ipp_error_t *err)
{
    db_query_t *q = db_query_compile(query, keys, err);
    if (!q)
        return NULL;
    return s_cursor(s, q, db_query_keys(q), limit, err);
}

db_cursor_t *db_reader_find_text(db_reader_t *s, const char *query_json, const json_t *keys,
                                 int64_t limit, ipp_error_t *err)
{
    db_query_t *q = db_query_compile_text(query_json, keys, err);
    if (!q)
        return NULL;
    return s_cursor(s, q, db_query_keys(q), limit, err);
}

db_cursor_t *db_reader_pending(db_reader_t *s, ipp_error_t *err)
{
    json_t *query = json_pack("{s:s}", "status", "pending");
    db_query_t *q = query ? db_query_compile(query, NULL, err) : NULL;
    json_decref(query);
    if (!q) {
        if (!query)
            ipp_error_set(err, IPP_ERR_NOMEM, "out of memory listing pending tasks");
        return NULL;
    }
    return s_cursor(s, q, DB_KEYS_ALL, 0, err);
}

ipp_err_t db_cursor_next(db_cursor_t *c, db_record_t **rec, ipp_error_t *err)
{
    *rec = NULL;
    if (c->done)
        return IPP_OK;
    int rc = sqlite3_step(c->st);
    if (rc == SQLITE_ROW)
        return s_row_record(c->st, c->cols, c->n_cols, rec, err);
    c->done = true;
    if (rc != SQLITE_DONE)
        return db_sql_fail(err, c->reader->db, rc, "%s: reading query results", c->reader->path);
    return IPP_OK;
}

void db_cursor_destroy(db_cursor_t **c_p)
{
    if (!c_p || !*c_p)
        return;
    db_cursor_t *c = *c_p;
    sqlite3_finalize(c->st);
    db_query_destroy(&c->q);
    free(c);
    *c_p = NULL;
}

/* ------------------------------------------------------------ writes for tools */

static ipp_err_t s_need_rw(db_reader_t *s, const char *what, ipp_error_t *err)
{
    if (s->mode != DB_OPEN_READWRITE)
        return ipp_error_set(err, IPP_ERR_PERMISSION, "%s: %s needs the database opened read-write",
                             s->path, what);
    return IPP_OK;
}

ipp_err_t db_reader_purge(db_reader_t *s, const db_purge_spec_t *spec, int64_t *purged,
                          ipp_error_t *err)
{
    *purged = 0;
    ipp_err_t code = s_need_rw(s, "purge", err);
    if (code || (code = db_sql_exec(s->db, "BEGIN IMMEDIATE", err)))
        return code;
    code = db_purge_run(s->db, spec, ipp_clock_now_us(), purged, err);
    if (!code)
        code = db_sql_exec(s->db, "COMMIT", err);
    if (code) {
        *purged = 0;
        if (!sqlite3_get_autocommit(s->db))
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    }
    return code;
}

ipp_err_t db_reader_engine_id(db_reader_t *s, const char *uuid, const char *hostname, int32_t pid,
                              int64_t now, int32_t *id, ipp_error_t *err)
{
    if (!uuid || !*uuid)
        return ipp_error_set(err, IPP_ERR_INVALID, "no engine uuid given");
    ipp_err_t code = s_need_rw(s, "allocating an engine id", err);
    if (code || (code = db_sql_exec(s->db, "BEGIN IMMEDIATE", err)))
        return code;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(
        s->db,
        "INSERT INTO engines (id, uuid, hostname, pid, registered, unregistered)"
        " VALUES ((SELECT coalesce(max(id) + 1, 0) FROM engines), ?1, ?2, ?3, ?4, NULL)"
        " ON CONFLICT (uuid) DO UPDATE SET hostname = excluded.hostname, pid = excluded.pid,"
        " registered = excluded.registered, unregistered = NULL RETURNING id",
        -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, uuid, -1, SQLITE_STATIC);
        if (hostname)
            sqlite3_bind_text(st, 2, hostname, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, pid);
        sqlite3_bind_int64(st, 4, now);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *id = sqlite3_column_int(st, 0);
            rc = sqlite3_step(st);
        }
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        code = db_sql_fail(err, s->db, rc, "%s: registering engine %s", s->path, uuid);
    else
        code = db_sql_exec(s->db, "COMMIT", err);
    if (code && !sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return code;
}

static char *s_col_strdup(sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    return t ? strdup((const char *)t) : NULL;
}

ipp_err_t db_reader_engines(db_reader_t *s, db_engines_t **out, ipp_error_t *err)
{
    *out = NULL;
    db_engines_t *e = calloc(1, sizeof *e);
    if (!e)
        return ipp_error_set(err, IPP_ERR_NOMEM, "out of memory listing engines");
    sqlite3_stmt *st = NULL;
    ipp_err_t code = IPP_OK;
    size_t cap = 0;
    int rc = sqlite3_prepare_v2(s->db,
                                "SELECT id, uuid, hostname, pid, registered, unregistered"
                                " FROM engines ORDER BY id",
                                -1, &st, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (e->n == cap) {
            cap = cap ? cap * 2 : 16;
            db_engine_info_t *v = realloc(e->v, cap * sizeof *v);
            if (!v) {
                code = ipp_error_set(err, IPP_ERR_NOMEM, "out of memory listing engines");
                break;
            }
            e->v = v;
        }
        db_engine_info_t *x = &e->v[e->n++];
        memset(x, 0, sizeof *x);
        x->id = sqlite3_column_int(st, 0);
        x->uuid = s_col_strdup(st, 1);
        x->hostname = s_col_strdup(st, 2);
        x->pid = sqlite3_column_int(st, 3);
        x->registered = sqlite3_column_int64(st, 4);
        x->unregistered = sqlite3_column_int64(st, 5);
        if (!x->uuid) {
            code = ipp_error_set(err, IPP_ERR_NOMEM, "out of memory listing engines");
            break;
        }
        rc = SQLITE_OK;
    }
    if (!code && rc != SQLITE_DONE)
        code = db_sql_fail(err, s->db, rc, "%s: listing engines", s->path);
    sqlite3_finalize(st);
    if (code)
        db_engines_destroy(&e);
    *out = e;
    return code;
}

ipp_err_t db_audit_verify(db_reader_t *s, db_audit_report_t *rep, ipp_error_t *err)
{
    return db_audit_verify_db(s->db, rep, err);
}

ipp_err_t db_audit_head(db_reader_t *s, db_audit_head_t *head, ipp_error_t *err)
{
    return db_audit_head_load(s->db, head, err);
}
