/* commands.c — the subcommands of ipp-query (see commands.h).
 *
 * Each asks its source, builds rows as JSON objects with ISO 8601 UTC
 * timestamps and hands them to a formatter. Queries built here from user
 * input (ids, label patterns, time bounds) are JSON made with jansson and
 * compiled to bound SQL parameters by the task store, never pasted text.
 * Owns only what it allocates during a call.
 */
#include "tools/query/commands.h"

#include "db/reader.h"
#include "proto/msgid.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

int q_exit_for(ipp_err_t code)
{
    switch (code) {
    case IPP_OK:
        return Q_EXIT_OK;
    case IPP_ERR_QUERY:
    case IPP_ERR_INVALID:
        return Q_EXIT_USAGE;
    case IPP_ERR_AUDIT:
        return Q_EXIT_FAILED;
    default:
        return Q_EXIT_UNREACHABLE;
    }
}

// s_fail: print err on errf; the exit status it means.
static int s_fail(FILE *errf, const char *cmd, const ipp_error_t *err)
{
    fprintf(errf, "ipp-query %s: %s\n", cmd, err->msg[0] ? err->msg : ipp_strerror(err->code));
    return q_exit_for(err->code);
}

static int s_nomem(FILE *errf, const char *cmd)
{
    fprintf(errf, "ipp-query %s: out of memory\n", cmd);
    return Q_EXIT_UNREACHABLE;
}

// s_emit: rows (a JSON array of objects) through a formatter with
// columns cols[0..n). Returns an exit status.
static int s_emit(FILE *out, FILE *errf, const char *cmd, const fmt_opts_t *o,
                  const char *const *cols, size_t n, const json_t *rows)
{
    ipp_error_t err;
    fmt_t *f = fmt_new(out, o, cols, n, &err);
    if (!f)
        return s_fail(errf, cmd, &err);
    ipp_err_t rc = IPP_OK;
    for (size_t i = 0; rc == IPP_OK && i < json_array_size(rows); i++)
        rc = fmt_row(f, json_array_get(rows, i), &err);
    if (rc == IPP_OK)
        rc = fmt_end(f, &err);
    fmt_destroy(&f);
    return rc == IPP_OK ? Q_EXIT_OK : s_fail(errf, cmd, &err);
}

// s_failed_status: the outcome name is a failure.
static bool s_failed_status(const char *status)
{
    if (!status)
        return false;
    db_status_t st = db_status_parse(status);
    return st == DB_STATUS_ERROR || st == DB_STATUS_ABORTED || st == DB_STATUS_UNREACHABLE ||
           st == DB_STATUS_LOST;
}

// s_find: q_source_find with the query as a JSON object (borrowed).
static ipp_err_t s_find(q_source_t *src, const json_t *query, const json_t *keys, int64_t limit,
                        bool with_user, json_t **rows, ipp_error_t *err)
{
    char *text = json_dumps(query, JSON_COMPACT);
    if (!text)
        return ipp_error_set(err, IPP_ERR_NOMEM, "out of memory");
    ipp_err_t rc = q_source_find(src, text, keys, limit, with_user, rows, err);
    free(text);
    return rc;
}

// s_keys: a JSON array of the key names names[0..n) (caller owns it).
static json_t *s_keys(const char *const *names, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        if (json_array_append_new(a, json_string(names[i])) != 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

// s_label_query: {"label": {"$glob": pattern}} (caller owns it).
static json_t *s_label_query(const char *pattern)
{
    return json_pack("{s:{s:s}}", "label", "$glob", pattern);
}

// s_index: rows (an array of records) as an object keyed by msg_id
// (caller owns it); rows without a msg_id are left out.
static json_t *s_index(const json_t *rows)
{
    json_t *by = json_object();
    for (size_t i = 0; by && i < json_array_size(rows); i++) {
        json_t *r = json_array_get(rows, i);
        const char *id = json_string_value(json_object_get(r, "msg_id"));
        if (id && json_object_set(by, id, r) != 0) {
            json_decref(by);
            return NULL;
        }
    }
    return by;
}

// s_collect_ids: the ids a command is about: the positional ids (as
// given, lower-cased when they are uuids), then the msg_ids of tasks whose
// label matches a->label, without repeats, in that order. *ids gets a JSON
// array of strings. Returns an exit status (0: go on).
static int s_collect_ids(q_source_t *src, const q_args_t *a, const char *cmd, FILE *errf,
                         json_t **ids)
{
    json_t *out = json_array();
    json_t *seen = json_object();
    json_t *rows = NULL, *q = NULL, *keys = NULL;
    int ex = Q_EXIT_OK;
    if (!out || !seen) {
        ex = s_nomem(errf, cmd);
        goto out;
    }
    for (size_t i = 0; i < a->n_pos; i++) {
        // Ids are stored lower-case; anything else is kept as typed (made
        // valid UTF-8) and reported unknown.
        char lower[IPP_MSGID_LEN + 1];
        json_t *idj;
        if (ipp_msgid_valid(a->pos[i])) {
            for (size_t k = 0; k <= IPP_MSGID_LEN; k++)
                lower[k] = (char)tolower((unsigned char)a->pos[i][k]);
            idj = json_string(lower);
        } else {
            idj = fmt_str(a->pos[i]);
        }
        const char *id = json_string_value(idj);
        if (!id || json_object_get(seen, id)) {
            json_decref(idj);
            if (!id) {
                ex = s_nomem(errf, cmd);
                goto out;
            }
            continue;
        }
        if (json_array_append_new(out, idj) || json_object_set_new(seen, id, json_true())) {
            ex = s_nomem(errf, cmd);
            goto out;
        }
    }
    if (a->label) {
        ipp_error_t err;
        if (!(q = s_label_query(a->label)) || !(keys = s_keys((const char *[]){"msg_id"}, 1))) {
            ex = s_nomem(errf, cmd);
            goto out;
        }
        if (s_find(src, q, keys, 0, false, &rows, &err) != IPP_OK) {
            ex = s_fail(errf, cmd, &err);
            goto out;
        }
        if (json_array_size(rows) == 0)
            fprintf(errf, "ipp-query %s: no task has a label matching '%s'\n", cmd, a->label);
        for (size_t i = 0; i < json_array_size(rows); i++) {
            const char *id = json_string_value(json_object_get(json_array_get(rows, i), "msg_id"));
            if (!id || json_object_get(seen, id))
                continue;
            if (json_object_set_new(seen, id, json_true()) ||
                json_array_append_new(out, json_string(id))) {
                ex = s_nomem(errf, cmd);
                goto out;
            }
        }
    }
    *ids = out;
    out = NULL;
out:
    json_decref(out);
    json_decref(seen);
    json_decref(rows);
    json_decref(q);
    json_decref(keys);
    return ex;
}

// s_valid_ids: the ids of arr that are uuids, as a C array borrowed from
// arr (caller frees the array only), and their count in *n.
static const char **s_valid_ids(const json_t *arr, size_t *n)
{
    *n = 0;
    const char **v = calloc(json_array_size(arr) + 1, sizeof *v);
    for (size_t i = 0; v && i < json_array_size(arr); i++) {
        const char *id = json_string_value(json_array_get(arr, i));
        if (id && ipp_msgid_valid(id))
            v[(*n)++] = id;
    }
    return v;
}

// s_records_of: the records of ids[0..n) with keys (NULL: all), indexed by
// msg_id into *by (caller owns it).
static ipp_err_t s_records_of(q_source_t *src, const char *const *ids, size_t n, const json_t *keys,
                              bool with_user, json_t **by, ipp_error_t *err)
{
    *by = NULL;
    json_t *in = s_keys(ids, n);
    json_t *q = in ? json_pack("{s:{s:o}}", "msg_id", "$in", in) : NULL;
    if (!q)
        return ipp_error_set(err, IPP_ERR_NOMEM, "out of memory");
    json_t *rows = NULL;
    ipp_err_t rc = n ? s_find(src, q, keys, 0, with_user, &rows, err) : IPP_OK;
    json_decref(q);
    if (rc != IPP_OK)
        return rc;
    *by = s_index(rows);
    json_decref(rows);
    return *by ? IPP_OK : ipp_error_set(err, IPP_ERR_NOMEM, "out of memory");
}

// s_duration: completed − started of a record, in seconds; null when
// either is unknown.
static json_t *s_duration(const json_t *rec)
{
    int64_t s, c;
    if (!fmt_iso_to_us(json_object_get(rec, "started"), &s) ||
        !fmt_iso_to_us(json_object_get(rec, "completed"), &c) || c < s)
        return json_null();
    return fmt_seconds((double)(c - s) / 1e6);
}

// s_copy: row[key] = rec[key] (null when rec lacks it).
static void s_copy(json_t *row, const json_t *rec, const char *key)
{
    json_t *v = rec ? json_object_get(rec, key) : NULL;
    json_object_set_new(row, key, v ? json_incref(v) : json_null());
}

// ------------------------------------------------------------ result_status

int q_cmd_result_status(q_source_t *src, const q_args_t *a, FILE *out, FILE *errf)
{
    static const char *const cmd = "result_status";
    static const char *const cols[] = {"msg_id", "state",     "status",
                                       "label",  "engine_id", "completed"};
    static const char *const want[] = {"msg_id", "status", "label", "engine_id", "completed"};
    json_t *ids = NULL, *by = NULL, *keys = NULL, *rows = NULL;
    const char **valid = NULL;
    q_state_t *st = NULL;
    ipp_error_t err;
    size_t nv = 0;
    int ex = s_collect_ids(src, a, cmd, errf, &ids);
    if (ex != Q_EXIT_OK)
        goto out;
    valid = s_valid_ids(ids, &nv);
    st = calloc(nv + 1, sizeof *st);
    keys = s_keys(want, sizeof want / sizeof *want);
    rows = json_array();
    if (!valid || !st || !keys || !rows) {
        ex = s_nomem(errf, cmd);
        goto out;
    }
    if (q_source_state(src, valid, nv, st, &err) != IPP_OK ||
        s_records_of(src, valid, nv, keys, false, &by, &err) != IPP_OK) {
        ex = s_fail(errf, cmd, &err);
        goto out;
    }
    bool bad = json_array_size(ids) == 0;  // a label that matched nothing
    for (size_t i = 0, k = 0; i < json_array_size(ids); i++) {
        const char *id = json_string_value(json_array_get(ids, i));
        q_state_t s = Q_STATE_UNKNOWN;
        if (k < nv && valid[k] == id)
            s = st[k++];
        const json_t *rec = json_object_get(by, id);
        json_t *row = json_pack("{s:s,s:s}", "msg_id", id, "state", q_state_name(s));
        if (!row || json_array_append_new(rows, row) != 0) {
            ex = s_nomem(errf, cmd);
            goto out;
        }
        // Memory decides what is pending: a recorded result the
        // controller has not yet delivered still shows as pending.
        const char *status = json_string_value(json_object_get(rec, "status"));
        if (s == Q_STATE_PENDING)
            status = "pending";
        else if (s == Q_STATE_UNKNOWN)
            status = "unknown";
        json_object_set_new(row, "status", status ? json_string(status) : json_null());
        s_copy(row, s == Q_STATE_UNKNOWN ? NULL : rec, "label");
        s_copy(row, s == Q_STATE_UNKNOWN ? NULL : rec, "engine_id");
        s_copy(row, s == Q_STATE_COMPLETED ? rec : NULL, "completed");
        if (s == Q_STATE_UNKNOWN || s_failed_status(status))
            bad = true;
    }
    fmt_opts_t o = fmt_opts_default(out, a->format);
    ex = s_emit(out, errf, cmd, &o, cols, sizeof cols / sizeof *cols, rows);
    if (ex == Q_EXIT_OK && bad)
        ex = Q_EXIT_FAILED;
out:
    free(valid);
    free(st);
    json_decref(ids);
    json_decref(by);
    json_decref(keys);
    json_decref(rows);
    return ex;
}

// ------------------------------------------------------------ queue_status

// s_idlist: a list of msg_ids as a JSON array (caller owns it).
static json_t *s_idlist(const ipp_strv_t *v)
{
    return s_keys((const char *const *)v->v, v->n);
}

int q_cmd_queue_status(q_source_t *src, const q_args_t *a, FILE *out, FILE *errf)
{
    static const char *const cmd = "queue_status";
    static const char *const cols[] = {"engine",    "queued",     "running",
                                       "completed", "queued_ids", "running_ids"};
    ipp_queue_status_t qs;
    ipp_error_t err;
    if (q_source_queue_status(src, a->verbose, &qs, &err) != IPP_OK)
        return s_fail(errf, cmd, &err);
    int ex = Q_EXIT_OK;
    json_t *rows = json_array();
    for (size_t i = 0; rows && i < qs.n_engines; i++) {
        const ipp_engine_queue_t *e = &qs.engines[i];
        json_t *row = json_pack("{s:i,s:i,s:i,s:I}", "engine", e->engine_id, "queued", e->queued,
                                "running", e->running, "completed", (json_int_t)e->completed);
        if (row && a->verbose) {
            json_object_set_new(row, "queued_ids", s_idlist(&e->queued_ids));
            json_object_set_new(row, "running_ids", s_idlist(&e->running_ids));
        }
        if (!row || json_array_append_new(rows, row) != 0) {
            json_decref(rows);
            rows = NULL;
        }
    }
    // The scheduler's own queue: tasks not yet given to any engine.
    json_t *un =
        rows ? json_pack("{s:s,s:i}", "engine", "unassigned", "queued", qs.unassigned) : NULL;
    if (un && a->verbose)
        json_object_set_new(un, "queued_ids", s_idlist(&qs.unassigned_ids));
    if (!un || json_array_append_new(rows, un) != 0)
        ex = s_nomem(errf, cmd);
    if (ex == Q_EXIT_OK) {
        fmt_opts_t o = fmt_opts_default(out, a->format);
        ex = s_emit(out, errf, cmd, &o, cols, a->verbose ? 6 : 4, rows);
    }
    json_decref(rows);
    ipp_queue_status_fini(&qs);
    return ex;
}

// ------------------------------------------------------------ history

int q_cmd_history(q_source_t *src, const q_args_t *a, FILE *out, FILE *errf)
{
    static const char *const cmd = "history";
    static const char *const cols[] = {"msg_id"};
    ipp_error_t err;
    json_t *ids = NULL, *rows = NULL;
    int ex = Q_EXIT_OK;
    if (a->label) {
        json_t *q = s_label_query(a->label);
        json_t *keys = s_keys(cols, 1);
        ipp_err_t rc = q && keys ? s_find(src, q, keys, 0, false, &rows, &err)
                                 : ipp_error_set(&err, IPP_ERR_NOMEM, "out of memory");
        json_decref(q);
        json_decref(keys);
        if (rc != IPP_OK)
            return s_fail(errf, cmd, &err);
    } else {
        if (q_source_history(src, &ids, &err) != IPP_OK)
            return s_fail(errf, cmd, &err);
        rows = json_array();
        for (size_t i = 0; rows && i < json_array_size(ids); i++) {
            json_t *row = json_pack("{s:O}", "msg_id", json_array_get(ids, i));
            if (!row || json_array_append_new(rows, row) != 0) {
                json_decref(rows);
                rows = NULL;
            }
        }
        if (!rows)
            ex = s_nomem(errf, cmd);
    }
    if (ex == Q_EXIT_OK) {
        fmt_opts_t o = fmt_opts_default(out, a->format);
        ex = s_emit(out, errf, cmd, &o, cols, 1, rows);
    }
    json_decref(ids);
    json_decref(rows);
    return ex;
}

// ------------------------------------------------------------ get

// s_get_row: the row of get for id from its record rec (NULL: unknown),
// with its result values from values (an object by msg_id) when there.
// Caller owns it.
static json_t *s_get_row(const char *id, const json_t *rec, const json_t *values)
{
    static const char *const copied[] = {
        "status",        "label",     "queue",   "engine_id", "engine_uuid", "client_uuid",
        "user",          "submitted", "started", "completed", "received",    "attempts",
        "execute_input", "after",     "follow",  "stdout",    "stderr"};
    json_t *row = json_pack("{s:s}", "msg_id", id);
    if (!row)
        return NULL;
    if (!rec) {
        json_object_set_new(row, "status", json_string("unknown"));
        return row;
    }
    for (size_t i = 0; i < sizeof copied / sizeof *copied; i++)
        s_copy(row, rec, copied[i]);
    json_object_set_new(row, "duration", s_duration(rec));
    // The error as one line "ename: evalue"; its traceback on its own.
    const json_t *e = json_object_get(rec, "error");
    if (json_is_object(e)) {
        const char *en = json_string_value(json_object_get(e, "ename"));
        const char *ev = json_string_value(json_object_get(e, "evalue"));
        json_object_set_new(
            row, "error",
            json_sprintf("%s%s%s", en ? en : "Error", ev && ev[0] ? ": " : "", ev ? ev : ""));
        s_copy(row, e, "traceback");
    }
    json_t *v = values ? json_object_get(values, id) : NULL;
    json_object_set_new(row, "result", v ? json_incref(v) : json_null());
    const json_t *sum = json_object_get(rec, "execute_result");
    json_object_set_new(row, "summary",
                        json_is_string(sum) ? json_incref((json_t *)sum) : json_null());
    return row;
}

// s_completed_ids: the msg_ids of the records in by (an object by msg_id)
// that completed, borrowed from by (caller frees the array), count in *n.
static const char **s_completed_ids(const json_t *by, size_t *n)
{
    *n = 0;
    const char **v = calloc(json_object_size(by) + 1, sizeof *v);
    const char *id;
    json_t *rec;
    json_object_foreach((json_t *)by, id, rec)
    {
        const char *status = json_string_value(json_object_get(rec, "status"));
        if (v && status && db_status_completed(db_status_parse(status)))
            v[(*n)++] = json_string_value(json_object_get(rec, "msg_id"));
    }
    return v;
}

int q_cmd_get(q_source_t *src, const q_args_t *a, FILE *out, FILE *errf)
{
    static const char *const cmd = "get";
    static const char *const cols[] = {
        "msg_id",      "status",   "label",         "queue",   "engine_id", "engine_uuid",
        "client_uuid", "user",     "submitted",     "started", "completed", "received",
        "duration",    "attempts", "execute_input", "after",   "follow",    "error",
        "traceback",   "stdout",   "stderr",        "result",  "summary"};
    json_t *ids = NULL, *by = NULL, *rows = NULL, *values = NULL;
    const char **valid = NULL, **done = NULL;
    ipp_error_t err;
    size_t nv = 0, nd = 0;
    int ex = s_collect_ids(src, a, cmd, errf, &ids);
    if (ex != Q_EXIT_OK)
        goto out;
    valid = s_valid_ids(ids, &nv);
    rows = json_array();
    if (!valid || !rows) {
        ex = s_nomem(errf, cmd);
        goto out;
    }
    if (s_records_of(src, valid, nv, NULL, true, &by, &err) != IPP_OK) {
        ex = s_fail(errf, cmd, &err);
        goto out;
    }
    // The values finished tasks returned: one more request for them all.
    if (!(done = s_completed_ids(by, &nd))) {
        ex = s_nomem(errf, cmd);
        goto out;
    }
    if (q_source_values(src, done, nd, &values, &err) != IPP_OK) {
        if (err.code == IPP_ERR_NOMEM) {
            ex = s_fail(errf, cmd, &err);
            goto out;
        }
        fprintf(errf, "ipp-query get: no result values: %s\n", err.msg);
    }
    bool bad = json_array_size(ids) == 0;
    for (size_t i = 0; i < json_array_size(ids); i++) {
        const char *id = json_string_value(json_array_get(ids, i));
        json_t *row = s_get_row(id, json_object_get(by, id), values);
        if (!row || json_array_append_new(rows, row) != 0) {
            ex = s_nomem(errf, cmd);
            goto out;
        }
        const char *status = json_string_value(json_object_get(row, "status"));
        if (!status || strcmp(status, "unknown") == 0 || s_failed_status(status))
            bad = true;
    }
    // A whole record reads best as "name  value" lines on a terminal.
    fmt_opts_t o = fmt_opts_default(out, a->format);
    o.vertical = a->format == FMT_TABLE;
    ex = s_emit(out, errf, cmd, &o, cols, sizeof cols / sizeof *cols, rows);
    if (ex == Q_EXIT_OK && bad)
        ex = Q_EXIT_FAILED;
out:
    free(valid);
    free(done);
    json_decref(ids);
    json_decref(by);
    json_decref(rows);
    json_decref(values);
    return ex;
}

// ------------------------------------------------------------ db

int q_cmd_db(q_source_t *src, const q_args_t *a, FILE *out, FILE *errf)
{
    static const char *const cmd = "db";
    const char *cols[DB_KEY__COUNT + 1];
    size_t n = 0;
    if (a->keys) {
        // msg_id always comes back, first.
        cols[n++] = "msg_id";
        for (size_t i = 0; i < json_array_size(a->keys) && n < DB_KEY__COUNT; i++) {
            const char *k = json_string_value(json_array_get(a->keys, i));
            bool dup = false;
            for (size_t j = 0; k && j < n; j++)
                dup = dup || strcmp(cols[j], k) == 0;
            if (k && !dup)
                cols[n++] = k;
        }
    } else {
        // Every key the records carry: all but the byte columns.
        for (int k = 0; k < DB_KEY__COUNT; k++) {
            const db_key_info_t *ki = db_key_info((db_key_t)k);
            if (ki->kind != DB_KIND_BLOB && ki->kind != DB_KIND_BUFFERS)
                cols[n++] = ki->name;
        }
    }
    json_t *rows = NULL;
    ipp_error_t err;
    if (q_source_find(src, a->pos[0], a->keys, a->limit, false, &rows, &err) != IPP_OK)
        return s_fail(errf, cmd, &err);
    fmt_opts_t o = fmt_opts_default(out, a->format);
    int ex = s_emit(out, errf, cmd, &o, cols, n, rows);
    json_decref(rows);
    return ex;
}

// ------------------------------------------------------------ audit

int q_cmd_audit(q_source_t *src, const q_args_t *a, FILE *out, FILE *errf)
{
    static const char *const cmd = "audit";
    static const char *const cols[] = {"msg_id",    "client_uuid", "user",      "submitted_by",
                                       "engine_id", "started",     "completed", "duration",
                                       "status",    "label"};
    static const char *const want[] = {"msg_id",  "client_uuid",  "engine_id",
                                       "started", "completed",    "status",
                                       "label",   "submitted_by", "submitted_by_key"};
    json_t *q = json_pack("{s:{s:s}}", "status", "$ne", "pending");
    json_t *keys = s_keys(want, sizeof want / sizeof *want);
    json_t *found = NULL, *rows = json_array();
    ipp_error_t err;
    int ex = Q_EXIT_OK;
    if (!q || !keys || !rows) {
        ex = s_nomem(errf, cmd);
        goto out;
    }
    if (a->since_us || a->until_us) {
        json_t *range = json_object();
        if (a->since_us)
            json_object_set_new(range, "$gte", json_integer(a->since_us));
        if (a->until_us)
            json_object_set_new(range, "$lt", json_integer(a->until_us));
        json_object_set_new(q, "completed", range);
    }
    if (a->label)
        json_object_set_new(q, "label", json_pack("{s:s}", "$glob", a->label));
    if (s_find(src, q, keys, a->limit, true, &found, &err) != IPP_OK) {
        ex = s_fail(errf, cmd, &err);
        goto out;
    }
    for (size_t i = 0; i < json_array_size(found); i++) {
        json_t *rec = json_array_get(found, i);
        json_t *row = json_object();
        if (!row || json_array_append_new(rows, row) != 0) {
            ex = s_nomem(errf, cmd);
            goto out;
        }
        for (size_t c = 0; c < sizeof cols / sizeof *cols; c++)
            if (strcmp(cols[c], "duration") != 0 && strcmp(cols[c], "submitted_by") != 0)
                s_copy(row, rec, cols[c]);
        json_object_set_new(row, "duration", s_duration(rec));
        // The key that submitted it, as the controller checked it; a name
        // only the header claims is marked so.
        const char *by = json_string_value(json_object_get(rec, "submitted_by"));
        json_t *bk = json_object_get(rec, "submitted_by_key");
        if (!by) {
            json_object_set_new(row, "submitted_by", json_null());
        } else if (json_is_integer(bk) && json_integer_value(bk) == 1) {
            json_object_set_new(row, "submitted_by", json_string(by));
        } else {
            char text[200];
            snprintf(text, sizeof text, "%s (self-declared)", by);
            json_object_set_new(row, "submitted_by", json_string(text));
        }
    }
    fmt_opts_t o = fmt_opts_default(out, a->format);
    ex = s_emit(out, errf, cmd, &o, cols, sizeof cols / sizeof *cols, rows);
out:
    json_decref(q);
    json_decref(keys);
    json_decref(found);
    json_decref(rows);
    return ex;
}

// ------------------------------------------------------------ verify

int q_cmd_verify(const char *path, const q_args_t *a, FILE *out, FILE *errf)
{
    static const char *const cmd = "verify";
    static const char *const cols[] = {"intact",  "records",    "purged", "head_seq",
                                       "bad_seq", "bad_msg_id", "message"};
    static const ipp_logger_t quiet = {IPP_LOG_ERROR, NULL, "ipp-query"};
    ipp_error_t err;
    db_reader_t *r = db_reader_new(path, DB_OPEN_READONLY, &quiet, &err);
    if (!r)
        return s_fail(errf, cmd, &err);
    db_audit_report_t rep;
    ipp_err_t rc = db_audit_verify(r, &rep, &err);
    db_reader_destroy(&r);
    if (rc != IPP_OK && rc != IPP_ERR_AUDIT)
        return s_fail(errf, cmd, &err);
    bool intact = rc == IPP_OK;
    int ex = intact ? Q_EXIT_OK : Q_EXIT_FAILED;
    if (a->format == FMT_TABLE) {
        // One sentence reads better than a one-row table.
        if (intact) {
            fprintf(out, "audit chain intact: %lld records", (long long)rep.checked);
            if (rep.purged)
                fprintf(out, " (and %lld removed by recorded purges)", (long long)rep.purged);
            fprintf(out, "\n");
        } else {
            const char *why = strncmp(err.msg, "audit: ", 7) == 0 ? err.msg + 7 : err.msg;
            fprintf(out, "audit chain BROKEN: %s\nfirst bad record: %s (chain entry %lld)\n", why,
                    rep.bad_msg_id[0] ? rep.bad_msg_id : "unknown", (long long)rep.bad_seq);
        }
        if (fflush(out) != 0 || ferror(out)) {
            fprintf(errf, "ipp-query %s: cannot write the output\n", cmd);
            return Q_EXIT_UNREACHABLE;
        }
        return ex;
    }
    json_t *row =
        json_pack("{s:b,s:I,s:I,s:I}", "intact", intact, "records", (json_int_t)rep.checked,
                  "purged", (json_int_t)rep.purged, "head_seq", (json_int_t)rep.head_seq);
    json_t *rows = json_array();
    if (!row || !rows || json_array_append_new(rows, row) != 0) {
        json_decref(rows);
        return s_nomem(errf, cmd);
    }
    if (!intact) {
        json_object_set_new(row, "bad_seq", json_integer(rep.bad_seq));
        json_object_set_new(row, "bad_msg_id",
                            rep.bad_msg_id[0] ? json_string(rep.bad_msg_id) : json_null());
        json_object_set_new(row, "message", fmt_str(err.msg));
    }
    fmt_opts_t o = fmt_opts_default(out, a->format);
    int wex = s_emit(out, errf, cmd, &o, cols, sizeof cols / sizeof *cols, rows);
    json_decref(rows);
    return wex != Q_EXIT_OK ? wex : ex;
}
