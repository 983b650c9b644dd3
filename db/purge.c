/* db/purge.c — purges: select, check, log, delete, under one savepoint.
 *
 * The chosen rowids go into a connection-private temp table so the checks,
 * the log of removed chain entries and the deletes all see exactly the
 * same set. Id lists of any length travel as one JSON array parameter.
 * Keeps nothing between calls.
 */
#include "db/purge.h"

#include "db/query.h"
#include "db/sql.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// s_run: prepare sql, bind text p1 (if given) to ?1 and p2 (if >= 0) to
// ?2, and run it to the end. Returns an SQLite code.
static int s_run(sqlite3 *db, const char *sql, const char *p1, int64_t p2)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        if (p1)
            sqlite3_bind_text(st, 1, p1, -1, SQLITE_STATIC);
        if (p2 >= 0)
            sqlite3_bind_int64(st, 2, p2);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            ;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

// s_first_text: the first column of the first row of sql (bound like
// s_run) copied into out (size n); *found tells whether there was a row.
static int s_first_text(sqlite3 *db, const char *sql, const char *p1, const db_query_t *q,
                        char *out, size_t n, bool *found)
{
    sqlite3_stmt *st = NULL;
    *found = false;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK && p1)
        rc = sqlite3_bind_text(st, 1, p1, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK && q)
        rc = db_query_bind(q, st, 1);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            const unsigned char *t = sqlite3_column_text(st, 0);
            snprintf(out, n, "%s", t ? (const char *)t : "");
            *found = true;
            rc = SQLITE_OK;
        } else if (rc == SQLITE_DONE) {
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

// s_ids_json: the ids as a JSON array text (caller frees); NULL on NOMEM.
static char *s_ids_json(const char *const *ids, size_t n)
{
    db_sbuf_t b;
    db_sbuf_init(&b);
    db_sbuf_add(&b, "[", 1);
    for (size_t i = 0; i < n; i++) {
        if (i)
            db_sbuf_add(&b, ",", 1);
        const char *s = ids[i] ? ids[i] : "";
        db_sbuf_add_json_str(&b, s, strlen(s));
    }
    db_sbuf_add(&b, "]", 1);
    if (b.failed) {
        db_sbuf_fini(&b);
        return NULL;
    }
    return b.data;
}

static char *s_ints_json(const int32_t *v, size_t n)
{
    db_sbuf_t b;
    db_sbuf_init(&b);
    db_sbuf_add(&b, "[", 1);
    for (size_t i = 0; i < n; i++)
        db_sbuf_addf(&b, "%s%d", i ? "," : "", (int)v[i]);
    db_sbuf_add(&b, "]", 1);
    if (b.failed) {
        db_sbuf_fini(&b);
        return NULL;
    }
    return b.data;
}

// s_what: the purge request as recorded in purges.what (caller frees).
static char *s_what(const db_purge_spec_t *spec, const char *ids_json, const char *engines_json)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    if (ids_json)
        json_object_set_new(o, spec->allow_pending ? "drop" : "msg_ids",
                            json_loads(ids_json, 0, NULL));
    if (engines_json)
        json_object_set_new(o, "engine_ids", json_loads(engines_json, 0, NULL));
    if (spec->query_json)
        json_object_set_new(o, "query", json_string(spec->query_json));
    if (spec->all_completed)
        json_object_set_new(o, "all_completed", json_true());
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

ipp_err_t db_purge_run(sqlite3 *db, const db_purge_spec_t *spec, int64_t now, int64_t *purged,
                       ipp_error_t *err)
{
    char *ids_json = NULL, *engines_json = NULL, *what = NULL;
    db_query_t *q = NULL;
    db_sbuf_t sql;
    db_sbuf_init(&sql);
    sqlite3_stmt *st = NULL;
    ipp_err_t code = IPP_OK;
    bool in_savepoint = false;
    char found_id[256];
    bool found;
    int rc;
    int64_t count = 0;
    *purged = 0;

    if (spec->n_msg_ids && !(ids_json = s_ids_json(spec->msg_ids, spec->n_msg_ids))) {
        code = ipp_error_set(err, IPP_ERR_NOMEM, "out of memory preparing a purge");
        goto out;
    }
    if (spec->n_engine_ids && !(engines_json = s_ints_json(spec->engine_ids, spec->n_engine_ids))) {
        code = ipp_error_set(err, IPP_ERR_NOMEM, "out of memory preparing a purge");
        goto out;
    }
    if (spec->query_json && !(q = db_query_compile_text(spec->query_json, NULL, err))) {
        code = err ? err->code : IPP_ERR_QUERY;
        goto out;
    }
    if ((rc = s_run(db, "SAVEPOINT db_purge", NULL, -1)) != SQLITE_OK) {
        code = db_sql_fail(err, db, rc, "starting a purge");
        goto out;
    }
    in_savepoint = true;
    if ((rc = s_run(db, "CREATE TEMP TABLE IF NOT EXISTS purge_set(id INTEGER PRIMARY KEY)", NULL,
                    -1)) != SQLITE_OK ||
        (rc = s_run(db, "DELETE FROM temp.purge_set", NULL, -1)) != SQLITE_OK)
        goto sqlfail;

    if (ids_json) {
        rc = s_first_text(db,
                          "SELECT j.value FROM json_each(?1) j WHERE NOT EXISTS"
                          " (SELECT 1 FROM tasks t WHERE t.msg_id = j.value) LIMIT 1",
                          ids_json, NULL, found_id, sizeof found_id, &found);
        if (rc != SQLITE_OK)
            goto sqlfail;
        if (found) {
            code = ipp_error_set(err, IPP_ERR_NOT_FOUND,
                                 "cannot purge %s: no such task; nothing purged", found_id);
            goto out;
        }
        if (!spec->allow_pending) {
            rc = s_first_text(db,
                              "SELECT msg_id FROM tasks WHERE msg_id IN"
                              " (SELECT value FROM json_each(?1)) AND status = 'pending' LIMIT 1",
                              ids_json, NULL, found_id, sizeof found_id, &found);
            if (rc != SQLITE_OK)
                goto sqlfail;
            if (found) {
                code = ipp_error_set(err, IPP_ERR_PENDING,
                                     "cannot purge %s: it is pending; nothing purged", found_id);
                goto out;
            }
        }
        if ((rc = s_run(db,
                        "INSERT OR IGNORE INTO temp.purge_set SELECT rowid FROM tasks"
                        " WHERE msg_id IN (SELECT value FROM json_each(?1))",
                        ids_json, -1)) != SQLITE_OK)
            goto sqlfail;
    }
    if (q) {
        db_sbuf_adds(&sql, "SELECT msg_id FROM tasks WHERE (");
        db_sbuf_adds(&sql, db_query_where(q));
        db_sbuf_adds(&sql, ") AND status = 'pending' LIMIT 1");
        if (sql.failed) {
            code = ipp_error_set(err, IPP_ERR_NOMEM, "out of memory preparing a purge");
            goto out;
        }
        if ((rc = s_first_text(db, sql.data, NULL, q, found_id, sizeof found_id, &found)) !=
            SQLITE_OK)
            goto sqlfail;
        if (found) {
            code = ipp_error_set(err, IPP_ERR_PENDING,
                                 "cannot purge by query: it matches %s, which is pending; "
                                 "nothing purged",
                                 found_id);
            goto out;
        }
        db_sbuf_reset(&sql);
        db_sbuf_adds(&sql, "INSERT OR IGNORE INTO temp.purge_set SELECT rowid FROM tasks WHERE ");
        db_sbuf_adds(&sql, db_query_where(q));
        if (sql.failed) {
            code = ipp_error_set(err, IPP_ERR_NOMEM, "out of memory preparing a purge");
            goto out;
        }
        if ((rc = sqlite3_prepare_v2(db, sql.data, -1, &st, NULL)) != SQLITE_OK ||
            (rc = db_query_bind(q, st, 1)) != SQLITE_OK || (rc = sqlite3_step(st)) != SQLITE_DONE)
            goto sqlfail;
        sqlite3_finalize(st);
        st = NULL;
    }
    if (engines_json &&
        (rc = s_run(db,
                    "INSERT OR IGNORE INTO temp.purge_set SELECT rowid FROM tasks"
                    " WHERE engine_id IN (SELECT value FROM json_each(?1)) AND status <> 'pending'",
                    engines_json, -1)) != SQLITE_OK)
        goto sqlfail;
    if (spec->all_completed &&
        (rc = s_run(db,
                    "INSERT OR IGNORE INTO temp.purge_set SELECT rowid FROM tasks"
                    " WHERE status <> 'pending'",
                    NULL, -1)) != SQLITE_OK)
        goto sqlfail;

    if ((rc = sqlite3_prepare_v2(db, "SELECT count(*) FROM temp.purge_set", -1, &st, NULL)) !=
            SQLITE_OK ||
        (rc = sqlite3_step(st)) != SQLITE_ROW)
        goto sqlfail;
    count = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    st = NULL;
    if (count > 0) {
        if (!(what = s_what(spec, ids_json, engines_json))) {
            code = ipp_error_set(err, IPP_ERR_NOMEM, "out of memory recording a purge");
            goto out;
        }
        if ((rc = sqlite3_prepare_v2(db,
                                     "INSERT INTO purges(at, purged_by, what, count)"
                                     " VALUES (?1, ?2, ?3, ?4)",
                                     -1, &st, NULL)) != SQLITE_OK)
            goto sqlfail;
        sqlite3_bind_int64(st, 1, now);
        if (spec->by)
            sqlite3_bind_text(st, 2, spec->by, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, what, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, count);
        if ((rc = sqlite3_step(st)) != SQLITE_DONE)
            goto sqlfail;
        sqlite3_finalize(st);
        st = NULL;
        int64_t purge_id = sqlite3_last_insert_rowid(db);
        if ((rc = s_run(
                 db,
                 "INSERT INTO purge_items(chain_seq, purge_id, msg_id, chain_prev, chain_hash)"
                 " SELECT chain_seq, ?2, msg_id, chain_prev, chain_hash FROM tasks"
                 " WHERE rowid IN (SELECT id FROM temp.purge_set) AND chain_seq IS NOT NULL",
                 NULL, purge_id)) != SQLITE_OK ||
            (rc = s_run(db,
                        "DELETE FROM deps WHERE task IN (SELECT msg_id FROM tasks"
                        " WHERE rowid IN (SELECT id FROM temp.purge_set))",
                        NULL, -1)) != SQLITE_OK ||
            (rc = s_run(db, "DELETE FROM tasks WHERE rowid IN (SELECT id FROM temp.purge_set)",
                        NULL, -1)) != SQLITE_OK)
            goto sqlfail;
    }
    if ((rc = s_run(db, "DELETE FROM temp.purge_set", NULL, -1)) != SQLITE_OK ||
        (rc = s_run(db, "RELEASE db_purge", NULL, -1)) != SQLITE_OK)
        goto sqlfail;
    in_savepoint = false;
    *purged = count;
    goto out;
sqlfail:
    code = db_sql_fail(err, db, rc, "purging");
out:
    sqlite3_finalize(st);
    if (in_savepoint && !sqlite3_get_autocommit(db)) {
        sqlite3_exec(db, "ROLLBACK TO db_purge", NULL, NULL, NULL);
        sqlite3_exec(db, "RELEASE db_purge", NULL, NULL, NULL);
    }
    free(ids_json);
    free(engines_json);
    free(what);
    db_query_destroy(&q);
    db_sbuf_fini(&sql);
    return code;
}
