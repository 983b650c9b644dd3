/* db/sets.c — the engine sets table (see sets.h). Owns nothing between
 * calls: every statement is prepared and finalized within its function.
 */
#include "db/sets.h"
#include "proto/grow.h"

#include <stdlib.h>
#include <string.h>

void db_set_fini(db_engine_set_t *s)
{
    if (!s)
        return;
    free(s->launcher);
    free(s->state);
    free(s->job_id);
    free(s->hosts);
    free(s->pids);
    free(s->key_name);
    free(s->log);
    free(s->options);
    memset(s, 0, sizeof *s);
}

// s_text: bind v (NULL = SQL NULL) as parameter i.
static int s_text(sqlite3_stmt *st, int i, const char *v)
{
    return v ? sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i);
}

// s_bind: the fields of s as parameters 1..11 (launcher .. stopped, options).
static int s_bind(sqlite3_stmt *st, const db_engine_set_t *s)
{
    int rc = s_text(st, 1, s->launcher);
    rc = rc ? rc : sqlite3_bind_int(st, 2, s->asked);
    rc = rc ? rc : s_text(st, 3, s->state);
    rc = rc ? rc : s_text(st, 4, s->job_id);
    rc = rc ? rc : s_text(st, 5, s->hosts);
    rc = rc ? rc : s_text(st, 6, s->pids);
    rc = rc ? rc : s_text(st, 7, s->key_name);
    rc = rc ? rc : s_text(st, 8, s->log);
    rc = rc ? rc : sqlite3_bind_int64(st, 9, s->created);
    rc =
        rc ? rc : (s->stopped ? sqlite3_bind_int64(st, 10, s->stopped) : sqlite3_bind_null(st, 10));
    rc = rc ? rc : s_text(st, 11, s->options);
    return rc;
}

ipp_err_t db_sets_add(sqlite3 *db, db_engine_set_t *s, ipp_error_t *err)
{
    static const char sql[] = "INSERT INTO engine_sets (launcher, asked, state, job_id, hosts,"
                              " pids, key_name, log, created, stopped, options)"
                              " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)";
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    rc = rc ? rc : s_bind(st, s);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
    sqlite3_finalize(st);
    if (rc != SQLITE_OK)
        return ipp_error_set(err, IPP_ERR_DB, "cannot record the engine set: %s",
                             sqlite3_errmsg(db));
    s->id = sqlite3_last_insert_rowid(db);
    return IPP_OK;
}

ipp_err_t db_sets_update(sqlite3 *db, const db_engine_set_t *s, ipp_error_t *err)
{
    static const char sql[] = "UPDATE engine_sets SET launcher=?1, asked=?2, state=?3, job_id=?4,"
                              " hosts=?5, pids=?6, key_name=?7, log=?8, created=?9, stopped=?10,"
                              " options=?11 WHERE id=?12";
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    rc = rc ? rc : s_bind(st, s);
    rc = rc ? rc : sqlite3_bind_int64(st, 12, s->id);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
    sqlite3_finalize(st);
    if (rc != SQLITE_OK)
        return ipp_error_set(err, IPP_ERR_DB, "cannot update engine set %lld: %s", (long long)s->id,
                             sqlite3_errmsg(db));
    if (sqlite3_changes(db) == 0)
        return ipp_error_set(err, IPP_ERR_NOT_FOUND, "no engine set %lld", (long long)s->id);
    return IPP_OK;
}

// s_dup: column i as a malloc'd string, NULL for SQL NULL; *oom set when
// it could not be copied.
static char *s_dup(sqlite3_stmt *st, int i, bool *oom)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    if (!t)
        return NULL;
    char *c = strdup((const char *)t);
    if (!c)
        *oom = true;
    return c;
}

ipp_err_t db_sets_list(sqlite3 *db, const char *state, db_engine_set_t **out, size_t *n,
                       ipp_error_t *err)
{
    *out = NULL;
    *n = 0;
    static const char sql[] = "SELECT id, launcher, asked, state, job_id, hosts, pids, key_name,"
                              " log, created, stopped, options FROM engine_sets"
                              " WHERE ?1 IS NULL OR state = ?1 ORDER BY id";
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    rc = rc ? rc : s_text(st, 1, state);
    db_engine_set_t *v = NULL;
    size_t k = 0, cap = 0;
    bool oom = false;
    while (rc == SQLITE_OK && !oom) {
        int r = sqlite3_step(st);
        if (r == SQLITE_DONE)
            break;
        if (r != SQLITE_ROW) {
            rc = r;
            break;
        }
        if (IPP_GROW(v, cap, k + 1, 8) != 0) {
            oom = true;
            break;
        }
        db_engine_set_t *s = &v[k++];
        memset(s, 0, sizeof *s);
        s->id = sqlite3_column_int64(st, 0);
        s->launcher = s_dup(st, 1, &oom);
        s->asked = sqlite3_column_int(st, 2);
        s->state = s_dup(st, 3, &oom);
        s->job_id = s_dup(st, 4, &oom);
        s->hosts = s_dup(st, 5, &oom);
        s->pids = s_dup(st, 6, &oom);
        s->key_name = s_dup(st, 7, &oom);
        s->log = s_dup(st, 8, &oom);
        s->created = sqlite3_column_int64(st, 9);
        s->stopped = sqlite3_column_int64(st, 10);
        s->options = s_dup(st, 11, &oom);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_OK || oom) {
        for (size_t i = 0; i < k; i++)
            db_set_fini(&v[i]);
        free(v);
        if (oom)
            return ipp_error_set(err, IPP_ERR_NOMEM, "no memory for the engine sets");
        return ipp_error_set(err, IPP_ERR_DB, "cannot read the engine sets: %s",
                             sqlite3_errmsg(db));
    }
    *out = v;
    *n = k;
    return IPP_OK;
}
