/* api.c — the dashboard's JSON API over the task database.
 *
 * Owns one read-only reader (db/reader.h) and the mutex that serialises
 * it. Filters are built as db_query objects and compiled by db/query.c, so
 * no user text is ever pasted into SQL; only the keyset, the order and the
 * limit are added here, as bound parameters. Must never write the file.
 */
#include "tools/dashboard/api.h"

#include "db/reader.h"
#include "db/sql.h"
#include "proto/clock.h"
#include "tools/dashboard/graph.h"

#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct dash_api_t {
    db_reader_t *r;      // the read-only connection (owned)
    sqlite3 *db;         // r's SQLite handle (borrowed from r)
    dash_live_t *live;   // the present (borrowed)
    pthread_mutex_t mu;  // one request at a time on r
    json_t *ec;          // per-engine counts last read (owned; NULL: none)
    int64_t ec_at;       // when (monotonic µs)
};

// How long per-engine counts are reused: counting a million tasks by
// engine costs about 0.1 s, too much for every live refresh.
#define S_EC_TTL_US 10000000

static const char *const s_statuses[] = {"pending", "ok",          "error",
                                         "aborted", "unreachable", "lost"};

dash_api_t *dash_api_new(const char *path, dash_live_t *live, ipp_error_t *err)
{
    static const ipp_logger_t quiet = {IPP_LOG_ERROR, NULL, "ipp-dashboard"};
    dash_api_t *a = calloc(1, sizeof *a);
    if (!a) {
        ipp_error_set(err, IPP_ERR_NOMEM, "dashboard: out of memory");
        return NULL;
    }
    a->r = db_reader_new(path, DB_OPEN_READONLY, &quiet, err);
    if (!a->r) {
        free(a);
        return NULL;
    }
    a->db = db_reader_sqlite(a->r);
    // The page cache is what the dashboard's own memory is mostly made
    // of; 8 MB keeps the indexes' hot pages at a million records (the
    // operating system's file cache holds the rest).
    sqlite3_exec(a->db, "PRAGMA cache_size=-8192", NULL, NULL, NULL);
    a->live = live;
    pthread_mutex_init(&a->mu, NULL);
    return a;
}

void dash_api_destroy(dash_api_t **a_p)
{
    if (!a_p || !*a_p)
        return;
    dash_api_t *a = *a_p;
    db_reader_destroy(&a->r);
    json_decref(a->ec);
    pthread_mutex_destroy(&a->mu);
    free(a);
    *a_p = NULL;
}

int dash_api_http_status(ipp_err_t code)
{
    switch (code) {
    case IPP_OK:
        return 200;
    case IPP_ERR_INVALID:
    case IPP_ERR_QUERY:
        return 400;
    case IPP_ERR_NOT_FOUND:
        return 404;
    case IPP_ERR_DENIED:
    case IPP_ERR_PERMISSION:
        return 403;
    case IPP_ERR_TIMEOUT:
    case IPP_ERR_CLOSED:
    case IPP_ERR_UNSUPPORTED:
        return 503;
    default:
        return 500;
    }
}

bool dash_api_parse_time(const char *text, int64_t *us)
{
    if (!text || !*text)
        return false;
    bool digits = true;
    for (const char *c = text; *c; c++)
        digits = digits && isdigit((unsigned char)*c);
    if (digits) {
        if (strlen(text) > 18)
            return false;
        *us = strtoll(text, NULL, 10);
        return true;
    }
    return ipp_clock_parse_iso(text, us) == 0;
}

bool dash_api_valid_id(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)id[i]) && id[i] != '-')
            return false;
    return true;
}

// s_param: p's value for name, or NULL.
static const char *s_param(const dash_params_t *p, const char *name)
{
    return p && p->get ? p->get(p->arg, name) : NULL;
}

// s_sqlfail: err from SQLite's message on db; returns IPP_ERR_DB.
static ipp_err_t s_sqlfail(sqlite3 *db, const char *what, ipp_error_t *err)
{
    return ipp_error_set(err, IPP_ERR_DB, "dashboard: %s: %s", what, sqlite3_errmsg(db));
}

// s_col: column i of st's row as JSON: integers stay integers, text
// strings (not UTF-8 is replaced by JSON null), NULL null. New reference.
static json_t *s_col(sqlite3_stmt *st, int i)
{
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_INTEGER:
        return json_integer(sqlite3_column_int64(st, i));
    case SQLITE_FLOAT:
        return json_real(sqlite3_column_double(st, i));
    case SQLITE_TEXT: {
        const char *t = (const char *)sqlite3_column_text(st, i);
        json_t *s = json_stringn(t, (size_t)sqlite3_column_bytes(st, i));
        return s ? s : json_null();
    }
    default:
        return json_null();
    }
}

// s_row: the current row of st as an object keyed by its column names.
static json_t *s_row(sqlite3_stmt *st)
{
    json_t *o = json_object();
    int n = sqlite3_column_count(st);
    for (int i = 0; o && i < n; i++)
        json_object_set_new(o, sqlite3_column_name(st, i), s_col(st, i));
    return o;
}

// s_rows: every row of st (already bound) as an array; NULL with err set.
static json_t *s_rows(sqlite3 *db, sqlite3_stmt *st, const char *what, ipp_error_t *err)
{
    json_t *arr = json_array();
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(arr, s_row(st));
    if (rc != SQLITE_DONE) {
        json_decref(arr);
        s_sqlfail(db, what, err);
        return NULL;
    }
    return arr;
}

// s_query: prepare sql, bind the integers ints[0..n) to ?1.., and collect
// every row; NULL with err set.
static json_t *s_query(sqlite3 *db, const char *sql, const int64_t *ints, int n, const char *what,
                       ipp_error_t *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        s_sqlfail(db, what, err);
        return NULL;
    }
    for (int i = 0; i < n; i++)
        sqlite3_bind_int64(st, i + 1, ints[i]);
    json_t *rows = s_rows(db, st, what, err);
    sqlite3_finalize(st);
    return rows;
}

// s_engine_counts: per engine id, how many tasks it took and how many of
// them failed, as {"<id>": [done, failures]}. Both from indexes.
static json_t *s_engine_counts(sqlite3 *db, ipp_error_t *err)
{
    json_t *done = s_query(db,
                           "SELECT engine_id AS id, count(*) AS n FROM tasks"
                           " WHERE engine_id IS NOT NULL GROUP BY engine_id",
                           NULL, 0, "counting tasks per engine", err);
    json_t *fail = done ? s_query(db,
                                  "SELECT engine_id AS id, count(*) AS n FROM tasks"
                                  " INDEXED BY tasks_status"
                                  " WHERE status <> 'ok' AND status <> 'pending'"
                                  " AND engine_id IS NOT NULL GROUP BY engine_id",
                                  NULL, 0, "counting failures per engine", err)
                        : NULL;
    json_t *out = NULL;
    if (done && fail) {
        out = json_object();
        size_t i;
        json_t *r;
        char k[32];
        json_array_foreach(done, i, r)
        {
            snprintf(k, sizeof k, "%" JSON_INTEGER_FORMAT,
                     json_integer_value(json_object_get(r, "id")));
            json_object_set_new(out, k,
                                json_pack("[I,i]", json_integer_value(json_object_get(r, "n")), 0));
        }
        json_array_foreach(fail, i, r)
        {
            snprintf(k, sizeof k, "%" JSON_INTEGER_FORMAT,
                     json_integer_value(json_object_get(r, "id")));
            json_t *have = json_object_get(out, k);
            if (have)
                json_array_set_new(have, 1,
                                   json_integer(json_integer_value(json_object_get(r, "n"))));
        }
    }
    json_decref(done);
    json_decref(fail);
    return out;
}

// s_offline_engines: the engines as the database records them.
static json_t *s_offline_engines(dash_api_t *a, ipp_error_t *err)
{
    db_engines_t *e = NULL;
    if (db_reader_engines(a->r, &e, err) != IPP_OK)
        return NULL;
    json_t *arr = json_array();
    for (size_t i = 0; i < e->n; i++) {
        const db_engine_info_t *x = &e->v[i];
        json_array_append_new(arr, json_pack("{s:i,s:s,s:s?,s:i,s:I,s:b,s:b}", "id", x->id, "uuid",
                                             x->uuid, "hostname", x->hostname, "pid", x->pid,
                                             "registered", (json_int_t)x->registered, "up",
                                             x->unregistered == 0, "recorded", 1));
    }
    db_engines_destroy(&e);
    return arr;
}

// s_seq_at: the audit chain position of the first completion at or after
// t (one seek in the completed index), or next when there is none.
static int64_t s_seq_at(sqlite3_stmt *st, int64_t t, int64_t next)
{
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, t);
    int64_t v = next;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_INTEGER)
        v = sqlite3_column_int64(st, 0);
    return v;
}

// s_rate: completions per bucket of n buckets from since, as [{t, n}]
// (empty buckets left out). Counted as differences of audit chain
// positions at the bucket edges — the chain numbers completions in the
// order they were recorded — so the cost is two index seeks per bucket,
// however many tasks finished (a million in five minutes is 3,300/s).
static json_t *s_rate(sqlite3 *db, int64_t since, int64_t bucket, int n, ipp_error_t *err)
{
    sqlite3_stmt *first = NULL, *last = NULL;
    json_t *pts = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT chain_seq FROM tasks WHERE completed >= ?1"
                           " ORDER BY completed LIMIT 1",
                           -1, &first, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "SELECT chain_seq FROM tasks WHERE completed IS NOT NULL"
                           " ORDER BY completed DESC LIMIT 1",
                           -1, &last, NULL) != SQLITE_OK) {
        s_sqlfail(db, "counting completions", err);
        goto out;
    }
    int64_t end = 0;
    if (sqlite3_step(last) == SQLITE_ROW)
        end = sqlite3_column_int64(last, 0) + 1;
    pts = json_array();
    int64_t lo = s_seq_at(first, since, end);
    for (int i = 0; i < n; i++) {
        int64_t t = since + i * bucket;
        int64_t hi = s_seq_at(first, t + bucket, end);
        if (hi > lo)
            json_array_append_new(
                pts, json_pack("{s:I,s:I}", "t", (json_int_t)t, "n", (json_int_t)(hi - lo)));
        if (hi > lo)
            lo = hi;
    }
out:
    sqlite3_finalize(first);
    sqlite3_finalize(last);
    return pts;
}

json_t *dash_api_overview(dash_api_t *a, int64_t now, ipp_error_t *err)
{
    int unassigned = 0;
    bool online = false;
    json_t *engines = dash_live_snapshot(a->live, &unassigned, &online);
    json_t *out = NULL, *counts = NULL, *rate = NULL, *fails = NULL, *ec = NULL;
    pthread_mutex_lock(&a->mu);
    if (!online) {
        json_decref(engines);
        engines = s_offline_engines(a, err);
        if (!engines)
            goto out;
    }
    int64_t mono = ipp_clock_mono_us();
    if (!a->ec || mono - a->ec_at > S_EC_TTL_US) {
        json_t *fresh = s_engine_counts(a->db, err);
        if (!fresh)
            goto out;
        json_decref(a->ec);
        a->ec = fresh;
        a->ec_at = mono;
    }
    ec = json_incref(a->ec);
    size_t i;
    json_t *eng;
    json_array_foreach(engines, i, eng)
    {
        char k[32];
        snprintf(k, sizeof k, "%" JSON_INTEGER_FORMAT,
                 json_integer_value(json_object_get(eng, "id")));
        json_t *c = json_object_get(ec, k);
        json_object_set_new(eng, "done",
                            json_integer(c ? json_integer_value(json_array_get(c, 0)) : 0));
        json_object_set_new(eng, "failures",
                            json_integer(c ? json_integer_value(json_array_get(c, 1)) : 0));
    }
    json_t *by = s_query(
        a->db, "SELECT status, count(*) AS n FROM tasks WHERE status <> 'ok' GROUP BY status", NULL,
        0, "counting tasks by status", err);
    json_t *total =
        by ? s_query(a->db, "SELECT count(*) AS n FROM tasks", NULL, 0, "counting tasks", err)
           : NULL;
    if (!by || !total) {
        json_decref(by);
        goto out;
    }
    counts = json_object();
    json_int_t all = json_integer_value(json_object_get(json_array_get(total, 0), "n")), rest = 0;
    for (size_t s = 0; s < sizeof s_statuses / sizeof *s_statuses; s++)
        json_object_set_new(counts, s_statuses[s], json_integer(0));
    json_t *r;
    json_array_foreach(by, i, r)
    {
        json_int_t n = json_integer_value(json_object_get(r, "n"));
        const char *st = json_string_value(json_object_get(r, "status"));
        if (st)
            json_object_set_new(counts, st, json_integer(n));
        rest += n;
    }
    json_object_set_new(counts, "ok", json_integer(all - rest));
    json_object_set_new(counts, "total", json_integer(all));
    json_decref(by);
    json_decref(total);
    // Tasks per second: completions in 10 s buckets over five minutes.
    const int64_t bucket = 10 * 1000000LL, span = 300 * 1000000LL;
    int64_t since = (now - span) / bucket * bucket;
    json_t *pts = s_rate(a->db, since, bucket, (int)(span / bucket) + 1, err);
    if (!pts)
        goto out;
    rate = json_pack("{s:i,s:I,s:o}", "bucket_s", 10, "since", (json_int_t)since, "points", pts);
    fails = s_query(
        a->db,
        "SELECT msg_id, label, status, engine_id, completed,"
        " json_extract(error, '$.ename') AS ename, json_extract(error, '$.evalue') AS evalue"
        " FROM tasks WHERE status IN ('error','aborted','unreachable','lost')"
        " AND status <> 'ok' ORDER BY completed DESC LIMIT 10",
        NULL, 0, "reading recent failures", err);
    if (!fails)
        goto out;
    out = json_pack("{s:b,s:I,s:O,s:i,s:O,s:O,s:O}", "online", online, "now", (json_int_t)now,
                    "engines", engines, "unassigned", unassigned, "counts", counts, "rate", rate,
                    "recent_failures", fails);
out:
    pthread_mutex_unlock(&a->mu);
    json_decref(engines);
    json_decref(ec);
    json_decref(counts);
    json_decref(rate);
    json_decref(fails);
    return out;
}

// s_int_param: an integer parameter in [lo, hi] into *v (def if absent).
static ipp_err_t s_int_param(const dash_params_t *p, const char *name, int64_t lo, int64_t hi,
                             int64_t def, int64_t *v, ipp_error_t *err)
{
    const char *t = s_param(p, name);
    *v = def;
    if (!t)
        return IPP_OK;
    char *end = NULL;
    long long x = strtoll(t, &end, 10);
    if (!*t || *end || x < lo || x > hi)
        return ipp_error_set(err, IPP_ERR_INVALID,
                             "%s must be an integer from %lld to %lld, not '%.40s'", name,
                             (long long)lo, (long long)hi, t);
    *v = x;
    return IPP_OK;
}

// s_time_param: a time parameter (absent: *has false).
static ipp_err_t s_time_param(const dash_params_t *p, const char *name, bool *has, int64_t *v,
                              ipp_error_t *err)
{
    const char *t = s_param(p, name);
    *has = t != NULL;
    if (t && !dash_api_parse_time(t, v))
        return ipp_error_set(err, IPP_ERR_INVALID,
                             "%s must be µs since the epoch or an ISO 8601 UTC time"
                             " (2026-12-01T10:00:00Z), not '%.40s'",
                             name, t);
    return IPP_OK;
}

// s_history_filter: the db_query object of the history's filters.
static json_t *s_history_filter(const dash_params_t *p, ipp_error_t *err)
{
    json_t *q = json_object();
    const char *label = s_param(p, "label");
    if (label && *label)
        json_object_set_new(q, "label", json_pack("{s:s}", "$glob", label));
    const char *status = s_param(p, "status");
    if (status && *status) {
        bool known = false;
        for (size_t i = 0; i < sizeof s_statuses / sizeof *s_statuses; i++)
            known = known || strcmp(status, s_statuses[i]) == 0;
        if (!known) {
            ipp_error_set(err, IPP_ERR_INVALID,
                          "status must be one of pending, ok, error, aborted, unreachable, lost,"
                          " not '%.40s'",
                          status);
            goto fail;
        }
        json_object_set_new(q, "status", json_string(status));
    }
    int64_t engine;
    if (s_int_param(p, "engine", 0, INT32_MAX, -1, &engine, err))
        goto fail;
    if (engine >= 0)
        json_object_set_new(q, "engine_id", json_integer(engine));
    bool has_since, has_until;
    int64_t since, until;
    if (s_time_param(p, "since", &has_since, &since, err) ||
        s_time_param(p, "until", &has_until, &until, err))
        goto fail;
    if (has_since || has_until) {
        json_t *range = json_object();
        if (has_since)
            json_object_set_new(range, "$gte", json_integer(since));
        if (has_until)
            json_object_set_new(range, "$lt", json_integer(until));
        json_object_set_new(q, "submitted", range);
    }
    const char *who = s_param(p, "submitter");
    if (who && *who)
        json_object_set_new(q, "submitted_by", json_string(who));
    return q;
fail:
    json_decref(q);
    return NULL;
}

json_t *dash_api_history(dash_api_t *a, const dash_params_t *p, ipp_error_t *err)
{
    int64_t limit;
    if (s_int_param(p, "limit", 1, DASH_PAGE_MAX, 50, &limit, err))
        return NULL;
    const char *before = s_param(p, "before");
    long long b_sub = 0, b_row = 0;
    if (before) {
        char tail;
        if (sscanf(before, "%lld.%lld%c", &b_sub, &b_row, &tail) != 2) {
            ipp_error_set(err, IPP_ERR_INVALID,
                          "before must be the \"next\" cursor of a previous page"
                          " (SUBMITTED.ROWID), not '%.40s'",
                          before);
            return NULL;
        }
    }
    json_t *filter = s_history_filter(p, err);
    if (!filter)
        return NULL;
    db_query_t *q = db_query_compile(filter, NULL, err);
    json_decref(filter);
    if (!q) {
        if (err)
            err->code = IPP_ERR_INVALID;
        return NULL;
    }
    // Keyset pagination: rows strictly after the cursor in (submitted
    // DESC, rowid DESC) order; `submitted <= ?` makes it an index range.
    int k = db_query_nparams(q);
    char keyset[160] = "";
    if (before)
        snprintf(keyset, sizeof keyset,
                 " AND submitted <= ?%d AND (submitted < ?%d OR rowid < ?%d)", k + 1, k + 1, k + 2);
    char *sql = NULL;
    json_t *out = NULL;
    sqlite3_stmt *st = NULL;
    if (asprintf(&sql,
                 "SELECT rowid AS rowid_, msg_id, status, engine_id, submitted, started,"
                 " completed, label, submitted_by, client_uuid, attempts FROM tasks"
                 " WHERE (%s) AND submitted IS NOT NULL%s"
                 " ORDER BY submitted DESC, rowid DESC LIMIT ?%d",
                 db_query_where(q), keyset, k + (before ? 3 : 1)) < 0) {
        sql = NULL;
        ipp_error_set(err, IPP_ERR_NOMEM, "dashboard: out of memory");
        goto done;
    }
    pthread_mutex_lock(&a->mu);
    if (sqlite3_prepare_v2(a->db, sql, -1, &st, NULL) != SQLITE_OK ||
        db_query_bind(q, st, 1) != SQLITE_OK) {
        s_sqlfail(a->db, "reading the history", err);
        pthread_mutex_unlock(&a->mu);
        goto done;
    }
    if (before) {
        sqlite3_bind_int64(st, k + 1, b_sub);
        sqlite3_bind_int64(st, k + 2, b_row);
        sqlite3_bind_int64(st, k + 3, limit + 1);
    } else {
        sqlite3_bind_int64(st, k + 1, limit + 1);
    }
    json_t *rows = s_rows(a->db, st, "reading the history", err);
    pthread_mutex_unlock(&a->mu);
    if (!rows)
        goto done;
    json_t *next = json_null();
    if (json_array_size(rows) > (size_t)limit) {
        json_array_remove(rows, (size_t)limit);
        json_t *last = json_array_get(rows, (size_t)limit - 1);
        char cur[64];
        snprintf(cur, sizeof cur, "%" JSON_INTEGER_FORMAT ".%" JSON_INTEGER_FORMAT,
                 json_integer_value(json_object_get(last, "submitted")),
                 json_integer_value(json_object_get(last, "rowid_")));
        next = json_string(cur);
    }
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r) json_object_del(r, "rowid_");
    out = json_pack("{s:o,s:o}", "tasks", rows, "next", next);
done:
    sqlite3_finalize(st);
    free(sql);
    db_query_destroy(&q);
    return out;
}

// s_deps: the dependency edges of id one way (dependents false: what id
// depends on; true: what depends on id), with the other end's state.
static json_t *s_deps(sqlite3 *db, const char *id, bool dependents, ipp_error_t *err)
{
    const char *sql =
        dependents ? "SELECT d.task AS msg_id, d.kind, d.flags, t.status, t.label FROM deps d"
                     " LEFT JOIN tasks t ON t.msg_id = d.task WHERE d.depends_on = ?1"
                     " ORDER BY t.submitted LIMIT 1000"
                   : "SELECT d.depends_on AS msg_id, d.kind, d.flags, t.status, t.label"
                     " FROM deps d LEFT JOIN tasks t ON t.msg_id = d.depends_on"
                     " WHERE d.task = ?1 ORDER BY d.kind, t.submitted LIMIT 1000";
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        s_sqlfail(db, "reading dependencies", err);
        return NULL;
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    json_t *rows = s_rows(db, st, "reading dependencies", err);
    sqlite3_finalize(st);
    return rows;
}

json_t *dash_api_task(dash_api_t *a, const char *id, ipp_error_t *err)
{
    if (!dash_api_valid_id(id)) {
        ipp_error_set(err, IPP_ERR_INVALID, "'%.70s' is not a task id (hex digits and dashes)",
                      id ? id : "");
        return NULL;
    }
    uint64_t keys =
        DB_KEYS_DEFAULT & ~(DB_KEYBIT(DB_KEY_HEADER) | DB_KEYBIT(DB_KEY_CONTENT) |
                            DB_KEYBIT(DB_KEY_RESULT_HEADER) | DB_KEYBIT(DB_KEY_RESULT_CONTENT));
    db_record_t *rec = NULL;
    json_t *out = NULL, *up = NULL, *down = NULL;
    pthread_mutex_lock(&a->mu);
    if (db_reader_get(a->r, id, keys, &rec, err) != IPP_OK)
        goto out;
    up = s_deps(a->db, id, false, err);
    down = up ? s_deps(a->db, id, true, err) : NULL;
    if (!down)
        goto out;
    out = db_record_to_json(rec, DB_JSON_NO_BYTES);
    if (!out)
        goto out;
    if (rec->chain_hash.size) {
        char hex[2 * 64 + 1];
        size_t n = rec->chain_hash.size < 64 ? rec->chain_hash.size : 64;
        for (size_t i = 0; i < n; i++)
            snprintf(hex + 2 * i, 3, "%02x", (rec->chain_hash.data)[i]);
        json_object_set_new(out, "audit_hash", json_string(hex));
    } else {
        json_object_set_new(out, "audit_hash", json_null());
    }
    json_object_set_new(out, "depends_on", up);
    json_object_set_new(out, "dependents", down);
    up = down = NULL;
out:
    pthread_mutex_unlock(&a->mu);
    db_record_destroy(&rec);
    json_decref(up);
    json_decref(down);
    return out;
}

// s_text_rows: append every row of st (bound) to b as JSON objects
// separated by commas, *n counting them; false with err set on failure.
// Written as text directly: ten thousand rows through jansson's objects
// cost several times the query.
static bool s_text_rows(sqlite3 *db, sqlite3_stmt *st, db_sbuf_t *b, size_t *n, ipp_error_t *err)
{
    int rc;
    int cols = sqlite3_column_count(st);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        db_sbuf_adds(b, *n ? ",{" : "{");
        for (int i = 0; i < cols; i++) {
            const char *name = sqlite3_column_name(st, i);
            if (i)
                db_sbuf_adds(b, ",");
            db_sbuf_add_json_str(b, name, strlen(name));
            db_sbuf_adds(b, ":");
            switch (sqlite3_column_type(st, i)) {
            case SQLITE_INTEGER:
                db_sbuf_addf(b, "%lld", (long long)sqlite3_column_int64(st, i));
                break;
            case SQLITE_TEXT:
                db_sbuf_add_json_str(b, (const char *)sqlite3_column_text(st, i),
                                     (size_t)sqlite3_column_bytes(st, i));
                break;
            default:
                db_sbuf_adds(b, "null");
            }
        }
        db_sbuf_adds(b, "}");
        (*n)++;
    }
    if (rc != SQLITE_DONE) {
        s_sqlfail(db, "reading the task stream", err);
        return false;
    }
    return true;
}

char *dash_api_stream(dash_api_t *a, const dash_params_t *p, int64_t now, ipp_error_t *err)
{
    int64_t limit, since, until;
    bool has_since, has_until;
    if (s_int_param(p, "limit", 1, DASH_STREAM_MAX, 2000, &limit, err) ||
        s_time_param(p, "since", &has_since, &since, err) ||
        s_time_param(p, "until", &has_until, &until, err))
        return NULL;
    if (!has_until)
        until = INT64_MAX;
    if (!has_since)
        since = (has_until ? until : now) - 600 * 1000000LL;
    if (since >= until) {
        ipp_error_set(err, IPP_ERR_INVALID, "since must be before until");
        return NULL;
    }
    static const char *const sql[3] = {
        "SELECT id FROM engines ORDER BY id",
        "SELECT msg_id, engine_id, started, completed, status, label FROM tasks"
        " WHERE completed >= ?1 AND completed < ?2 ORDER BY completed DESC LIMIT ?3",
        "SELECT msg_id, engine_id, started, NULL AS completed, status, label"
        " FROM tasks WHERE status = 'pending' AND status <> 'ok'"
        " AND started IS NOT NULL AND engine_id IS NOT NULL LIMIT 1000",
    };
    db_sbuf_t b;
    db_sbuf_init(&b);
    db_sbuf_addf(&b, "{\"since\":%lld,\"until\":%lld,\"engines\":[", (long long)since,
                 (long long)(has_until ? until : now));
    bool ok = true;
    size_t rows = 0;  // tasks written, over both queries
    pthread_mutex_lock(&a->mu);
    for (int q = 0; ok && q < 3; q++) {
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(a->db, sql[q], -1, &st, NULL) != SQLITE_OK) {
            s_sqlfail(a->db, "reading the task stream", err);
            ok = false;
            break;
        }
        if (q == 0) {
            int rc, k = 0;
            while ((rc = sqlite3_step(st)) == SQLITE_ROW)
                db_sbuf_addf(&b, "%s%d", k++ ? "," : "", sqlite3_column_int(st, 0));
            if (rc != SQLITE_DONE) {
                s_sqlfail(a->db, "reading engines", err);
                ok = false;
            }
            db_sbuf_adds(&b, "],\"tasks\":[");
        } else {
            if (q == 1) {
                sqlite3_bind_int64(st, 1, since);
                sqlite3_bind_int64(st, 2, until);
                sqlite3_bind_int64(st, 3, limit);
            }
            ok = s_text_rows(a->db, st, &b, &rows, err);
        }
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&a->mu);
    db_sbuf_adds(&b, "]}");
    if (ok && b.failed) {
        ipp_error_set(err, IPP_ERR_NOMEM, "dashboard: out of memory");
        ok = false;
    }
    if (!ok) {
        db_sbuf_fini(&b);
        return NULL;
    }
    return b.data;  // the caller owns the buffer now
}

// s_workflow: nodes and edges of the prefix's tasks (mutex held).
static json_t *s_workflow(dash_api_t *a, const char *prefix, ipp_error_t *err)
{
    char *pat = dash_graph_prefix_glob(prefix);
    if (!pat) {
        ipp_error_set(err, IPP_ERR_NOMEM, "dashboard: out of memory");
        return NULL;
    }
    json_t *q = json_pack("{s:{s:s}}", "label", "$glob", pat);
    free(pat);
    db_query_t *cq = db_query_compile(q, NULL, err);
    json_decref(q);
    if (!cq)
        return NULL;
    char *sql = NULL;
    json_t *nodes = NULL, *edges = NULL, *out = NULL;
    sqlite3_stmt *st = NULL;
    if (asprintf(&sql,
                 "SELECT msg_id, label, status, engine_id, started, completed FROM tasks"
                 " WHERE %s ORDER BY submitted, rowid LIMIT %d",
                 db_query_where(cq), DASH_WORKFLOW_MAX + 1) < 0) {
        sql = NULL;
        ipp_error_set(err, IPP_ERR_NOMEM, "dashboard: out of memory");
        goto out;
    }
    if (sqlite3_prepare_v2(a->db, sql, -1, &st, NULL) != SQLITE_OK ||
        db_query_bind(cq, st, 1) != SQLITE_OK) {
        s_sqlfail(a->db, "reading the workflow", err);
        goto out;
    }
    nodes = s_rows(a->db, st, "reading the workflow", err);
    if (!nodes)
        goto out;
    if (json_array_size(nodes) > DASH_WORKFLOW_MAX) {
        ipp_error_set(err, IPP_ERR_INVALID,
                      "more than %d tasks are labelled %.60s*: give a longer prefix",
                      DASH_WORKFLOW_MAX, prefix);
        goto out;
    }
    json_t *ids = json_array();
    size_t i;
    json_t *r;
    json_array_foreach(nodes, i, r) json_array_append(ids, json_object_get(r, "msg_id"));
    char *idtext = json_dumps(ids, JSON_COMPACT);
    json_decref(ids);
    sqlite3_finalize(st);
    st = NULL;
    if (!idtext || sqlite3_prepare_v2(a->db,
                                      "SELECT depends_on AS \"from\", task AS \"to\", kind, flags"
                                      " FROM deps WHERE task IN (SELECT value FROM json_each(?1))"
                                      " AND depends_on IN (SELECT value FROM json_each(?1))",
                                      -1, &st, NULL) != SQLITE_OK) {
        free(idtext);
        s_sqlfail(a->db, "reading the workflow's edges", err);
        goto out;
    }
    sqlite3_bind_text(st, 1, idtext, -1, free);
    edges = s_rows(a->db, st, "reading the workflow's edges", err);
    if (!edges)
        goto out;
    out = json_pack("{s:s,s:O,s:O}", "prefix", prefix, "nodes", nodes, "edges", edges);
out:
    sqlite3_finalize(st);
    free(sql);
    db_query_destroy(&cq);
    json_decref(nodes);
    json_decref(edges);
    return out;
}

json_t *dash_api_workflow(dash_api_t *a, const dash_params_t *p, ipp_error_t *err)
{
    const char *prefix = s_param(p, "prefix");
    if (!prefix || !*prefix) {
        ipp_error_set(
            err, IPP_ERR_INVALID,
            "prefix is required: the label prefix of the workflow (as `ipp dag` labels it)");
        return NULL;
    }
    pthread_mutex_lock(&a->mu);
    json_t *w = s_workflow(a, prefix, err);
    pthread_mutex_unlock(&a->mu);
    return w;
}

char *dash_api_workflow_svg(dash_api_t *a, const dash_params_t *p, ipp_error_t *err)
{
    json_t *w = NULL;
    char *svg = NULL;
    // Graphviz is not thread-safe: it runs under the same mutex.
    pthread_mutex_lock(&a->mu);
    const char *prefix = s_param(p, "prefix");
    if (!prefix || !*prefix)
        ipp_error_set(
            err, IPP_ERR_INVALID,
            "prefix is required: the label prefix of the workflow (as `ipp dag` labels it)");
    else if ((w = s_workflow(a, prefix, err)) != NULL)
        svg = dash_graph_svg(w, err);
    pthread_mutex_unlock(&a->mu);
    json_decref(w);
    return svg;
}

json_t *dash_api_audit(dash_api_t *a, ipp_error_t *err)
{
    db_audit_report_t rep = {0};
    ipp_error_t verr = {0};
    pthread_mutex_lock(&a->mu);
    ipp_err_t rc = db_audit_verify(a->r, &rep, &verr);
    json_t *purges = s_query(a->db,
                             "SELECT id, at, purged_by, what, count FROM purges"
                             " ORDER BY id DESC LIMIT 200",
                             NULL, 0, "reading purges", err);
    pthread_mutex_unlock(&a->mu);
    if (!purges)
        return NULL;
    if (rc != IPP_OK && rc != IPP_ERR_AUDIT) {
        json_decref(purges);
        ipp_error_set(err, rc, "%s", verr.msg);
        return NULL;
    }
    return json_pack("{s:b,s:s,s:I,s:I,s:I,s:I,s:s?,s:o}", "intact", rc == IPP_OK, "message",
                     rc == IPP_OK ? "the audit chain is intact" : verr.msg, "checked",
                     (json_int_t)rep.checked, "purged", (json_int_t)rep.purged, "head_seq",
                     (json_int_t)rep.head_seq, "bad_seq", (json_int_t)rep.bad_seq, "bad_msg_id",
                     rep.bad_msg_id[0] ? rep.bad_msg_id : NULL, "purges", purges);
}
