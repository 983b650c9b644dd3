/* source.c — the two answerers of ipp-query: a libipp client (online)
 * and a read-only task-store reader (offline), behind one ops table.
 *
 * Owns the client or the reader it opened, nothing else past a call:
 * every answer is a fresh JSON value or list the caller owns. Never
 * writes to a database: the offline reader is opened DB_OPEN_READONLY.
 */
#include "tools/query/source.h"

#include "db/reader.h"
#include "proto/ipp.pb-c.h"
#include "tools/fmt.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

// One implementation: a function per question (NULL: cannot answer it).
typedef struct q_source_ops_t {
    const char *what;  // "the controller", "a database file"
    ipp_err_t (*find)(q_source_t *s, const char *query_json, const json_t *keys, int64_t limit,
                      bool with_user, json_t **rows, ipp_error_t *err);
    ipp_err_t (*state)(q_source_t *s, const char *const *ids, size_t n, q_state_t *out,
                       ipp_error_t *err);
    ipp_err_t (*history)(q_source_t *s, json_t **ids, ipp_error_t *err);
    ipp_err_t (*values)(q_source_t *s, const char *const *ids, size_t n, json_t *values,
                        ipp_error_t *err);
    ipp_err_t (*queue_status)(q_source_t *s, bool verbose, ipp_queue_status_t *out,
                              ipp_error_t *err);
} q_source_ops_t;

struct q_source_t {
    const q_source_ops_t *ops;  // which implementation
    ipp_client_t *client;       // online: the connection (owned)
    double timeout;             // online: seconds per request
    db_reader_t *reader;        // offline: the read-only reader (owned)
};

const char *q_state_name(q_state_t st)
{
    switch (st) {
    case Q_STATE_PENDING:
        return "pending";
    case Q_STATE_COMPLETED:
        return "completed";
    default:
        return "unknown";
    }
}

// s_value_json: one result value: text when it is UTF-8, else base64.
static json_t *s_value_json(const void *data, size_t size)
{
    if (fmt_utf8_valid(data, size))
        return json_stringn(size ? data : "", size);
    size_t len = sodium_base64_encoded_len(size, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = malloc(len);
    if (!b64)
        return NULL;
    sodium_bin2base64(b64, len, data, size, sodium_base64_VARIANT_ORIGINAL);
    json_t *o = json_pack("{s:s}", "base64", b64);
    free(b64);
    return o;
}

static ipp_err_t s_nomem(ipp_error_t *err)
{
    return ipp_error_set(err, IPP_ERR_NOMEM, "out of memory");
}

// ---------------------------------------------------------------- online

static ipp_err_t s_on_find(q_source_t *s, const char *query_json, const json_t *keys, int64_t limit,
                           bool with_user, json_t **rows, ipp_error_t *err)
{
    // The controller turns a record's request header into a "user" key;
    // ask for the header when the user is wanted (no projection: all keys).
    size_t nk = keys ? json_array_size(keys) : 0;
    const char **kv = nk ? calloc(nk + 1, sizeof *kv) : NULL;
    if (nk && !kv)
        return s_nomem(err);
    for (size_t i = 0; i < nk; i++)
        kv[i] = json_string_value(json_array_get(keys, i));
    if (nk && with_user)
        kv[nk++] = "header";
    ipp_err_t rc = ipp_client_db_query_json(s->client, query_json ? query_json : "{}", kv, nk,
                                            limit, rows, err);
    free(kv);
    return rc;
}

static ipp_err_t s_on_state(q_source_t *s, const char *const *ids, size_t n, q_state_t *out,
                            ipp_error_t *err)
{
    ipp_result_status_t rs;
    ipp_err_t rc = ipp_client_result_status(s->client, ids, n, &rs, err);
    if (rc != IPP_OK)
        return rc;
    // The reply lists ids by state; a hash keeps many ids linear.
    json_t *where = json_object();
    for (size_t k = 0; where && k < rs.pending.n; k++)
        if (json_object_set_new(where, rs.pending.v[k], json_integer(Q_STATE_PENDING)) != 0)
            rc = s_nomem(err);
    for (size_t k = 0; where && k < rs.completed.n; k++)
        if (json_object_set_new(where, rs.completed.v[k], json_integer(Q_STATE_COMPLETED)) != 0)
            rc = s_nomem(err);
    if (!where)
        rc = s_nomem(err);
    for (size_t i = 0; rc == IPP_OK && i < n; i++) {
        json_t *st = json_object_get(where, ids[i]);
        out[i] = st ? (q_state_t)json_integer_value(st) : Q_STATE_UNKNOWN;
    }
    json_decref(where);
    ipp_result_status_fini(&rs);
    return rc;
}

static ipp_err_t s_on_history(q_source_t *s, json_t **ids, ipp_error_t *err)
{
    ipp_strv_t v = {0};
    ipp_err_t rc = ipp_client_history(s->client, &v, err);
    if (rc != IPP_OK)
        return rc;
    json_t *a = json_array();
    for (size_t i = 0; a && i < v.n; i++) {
        if (json_array_append_new(a, json_string(v.v[i])) != 0) {
            json_decref(a);
            a = NULL;
        }
    }
    ipp_strv_fini(&v);
    if (!a)
        return s_nomem(err);
    *ids = a;
    return IPP_OK;
}

// s_values_json: bufs[0..n) as a JSON array of values (caller owns it).
static json_t *s_values_json(size_t n, const void *(*data)(const void *, size_t),
                             size_t (*size)(const void *, size_t), const void *bufs)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        if (json_array_append_new(a, s_value_json(data(bufs, i), size(bufs, i))) != 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

static const void *s_ipp_buf_data(const void *v, size_t i)
{
    return ((const ipp_buf_t *)v)[i].data;
}

static size_t s_ipp_buf_size(const void *v, size_t i)
{
    return ((const ipp_buf_t *)v)[i].size;
}

static ipp_err_t s_on_values(q_source_t *s, const char *const *ids, size_t n, json_t *values,
                             ipp_error_t *err)
{
    ipp_ar_t *ar = ipp_client_get_result(s->client, ids, n, err);
    if (!ar)
        return err ? err->code : IPP_ERR_INVALID;
    // Completed tasks come back with the first reply; one the controller
    // still counts as pending (recorded, not yet delivered) is left out if
    // it does not finish within the timeout.
    ipp_error_t werr;
    ipp_err_t rc = ipp_ar_wait(ar, s->timeout, &werr);
    if (rc == IPP_ERR_TIMEOUT)
        rc = IPP_OK;
    else if (rc != IPP_OK && err)
        *err = werr;
    for (size_t i = 0; rc == IPP_OK && i < n; i++) {
        ipp_status_t st = ipp_ar_status(ar, i);
        if (st == IPP_STATUS_PENDING || st == IPP_STATUS_UNKNOWN || st == IPP_STATUS_REFUSED)
            continue;
        size_t nb = 0;
        const ipp_buf_t *b = ipp_ar_result(ar, i, &nb);
        json_t *a = s_values_json(nb, s_ipp_buf_data, s_ipp_buf_size, b);
        if (!a || json_object_set_new(values, ids[i], a) != 0)
            rc = s_nomem(err);
    }
    ipp_ar_destroy(&ar);
    return rc;
}

static ipp_err_t s_on_queue_status(q_source_t *s, bool verbose, ipp_queue_status_t *out,
                                   ipp_error_t *err)
{
    return ipp_client_queue_status(s->client, NULL, 0, verbose, out, err);
}

static const q_source_ops_t s_online_ops = {
    .what = "the controller",
    .find = s_on_find,
    .state = s_on_state,
    .history = s_on_history,
    .values = s_on_values,
    .queue_status = s_on_queue_status,
};

// ---------------------------------------------------------------- offline

// s_username: the username in a request header frame, or NULL; caller
// frees.
static char *s_username(const db_bytes_t *header)
{
    if (!header->data)
        return NULL;
    Ipp__Header *h = ipp__header__unpack(NULL, header->size, header->data);
    if (!h)
        return NULL;
    char *u = (h->username && h->username[0]) ? strdup(h->username) : NULL;
    ipp__header__free_unpacked(h, NULL);
    return u;
}

static ipp_err_t s_off_find(q_source_t *s, const char *query_json, const json_t *keys,
                            int64_t limit, bool with_user, json_t **rows, ipp_error_t *err)
{
    json_t *k = NULL;  // the projection asked for, plus the header for the user
    json_t *out = json_array();
    db_cursor_t *cur = NULL;
    ipp_err_t rc = IPP_OK;
    if (!out)
        return s_nomem(err);
    if (keys && with_user) {
        if (!(k = json_copy((json_t *)keys)) || json_array_append_new(k, json_string("header"))) {
            rc = s_nomem(err);
            goto out;
        }
    }
    cur = db_reader_find_text(s->reader, query_json ? query_json : "{}", k ? k : keys, limit, err);
    if (!cur) {
        rc = err ? err->code : IPP_ERR_DB;
        goto out;
    }
    for (;;) {
        db_record_t *rec = NULL;
        if ((rc = db_cursor_next(cur, &rec, err)) != IPP_OK || !rec)
            break;
        json_t *o = db_record_to_json(rec, DB_JSON_ISO_TIME | DB_JSON_NO_BYTES);
        if (o && with_user) {
            char *u = s_username(&rec->header);
            json_object_set_new(o, "user", u ? json_string(u) : json_null());
            free(u);
        }
        db_record_destroy(&rec);
        if (!o || json_array_append_new(out, o) != 0) {
            rc = s_nomem(err);
            break;
        }
    }
    if (rc == IPP_OK) {
        *rows = out;
        out = NULL;
    }
out:
    db_cursor_destroy(&cur);
    json_decref(k);
    json_decref(out);
    return rc;
}

static ipp_err_t s_off_state(q_source_t *s, const char *const *ids, size_t n, q_state_t *out,
                             ipp_error_t *err)
{
    db_status_t *st = calloc(n ? n : 1, sizeof *st);
    if (!st)
        return s_nomem(err);
    ipp_err_t rc = n ? db_reader_result_status(s->reader, ids, n, st, err) : IPP_OK;
    for (size_t i = 0; rc == IPP_OK && i < n; i++) {
        if (st[i] == DB_STATUS_PENDING)
            out[i] = Q_STATE_PENDING;
        else if (db_status_completed(st[i]))
            out[i] = Q_STATE_COMPLETED;
        else
            out[i] = Q_STATE_UNKNOWN;
    }
    free(st);
    return rc;
}

static ipp_err_t s_off_history(q_source_t *s, json_t **ids, ipp_error_t *err)
{
    db_strv_t *v = NULL;
    ipp_err_t rc = db_reader_history(s->reader, &v, err);
    if (rc != IPP_OK)
        return rc;
    json_t *a = json_array();
    for (size_t i = 0; a && i < v->n; i++) {
        if (json_array_append_new(a, json_string(v->v[i])) != 0) {
            json_decref(a);
            a = NULL;
        }
    }
    db_strv_destroy(&v);
    if (!a)
        return s_nomem(err);
    *ids = a;
    return IPP_OK;
}

static const void *s_db_buf_data(const void *v, size_t i)
{
    return ((const db_bytes_t *)v)[i].data;
}

static size_t s_db_buf_size(const void *v, size_t i)
{
    return ((const db_bytes_t *)v)[i].size;
}

static ipp_err_t s_off_values(q_source_t *s, const char *const *ids, size_t n, json_t *values,
                              ipp_error_t *err)
{
    for (size_t i = 0; i < n; i++) {
        db_record_t *rec = NULL;
        ipp_err_t rc =
            db_reader_get(s->reader, ids[i], DB_KEYBIT(DB_KEY_RESULT_BUFFERS), &rec, err);
        if (rc == IPP_ERR_NOT_FOUND)
            continue;
        if (rc != IPP_OK)
            return rc;
        json_t *a = s_values_json(rec->result_buffers.n, s_db_buf_data, s_db_buf_size,
                                  rec->result_buffers.v);
        db_record_destroy(&rec);
        if (!a || json_object_set_new(values, ids[i], a) != 0)
            return s_nomem(err);
    }
    return IPP_OK;
}

static const q_source_ops_t s_offline_ops = {
    .what = "a database file",
    .find = s_off_find,
    .state = s_off_state,
    .history = s_off_history,
    .values = s_off_values,
    .queue_status = NULL,  // the queues live in the controller's memory only
};

// ---------------------------------------------------------------- API

q_source_t *q_source_online(const ipp_client_opts_t *opts, ipp_error_t *err)
{
    q_source_t *s = calloc(1, sizeof *s);
    if (!s) {
        s_nomem(err);
        return NULL;
    }
    s->ops = &s_online_ops;
    s->timeout = opts && opts->timeout > 0 ? opts->timeout : 10.0;
    if (!(s->client = ipp_client_new(opts, err)))
        q_source_destroy(&s);
    return s;
}

q_source_t *q_source_offline(const char *path, ipp_error_t *err)
{
    q_source_t *s = calloc(1, sizeof *s);
    if (!s) {
        s_nomem(err);
        return NULL;
    }
    s->ops = &s_offline_ops;
    // Quiet: what goes wrong comes back in err, and main prints it once.
    static const ipp_logger_t quiet = {IPP_LOG_ERROR, NULL, "ipp-query"};
    if (!(s->reader = db_reader_new(path, DB_OPEN_READONLY, &quiet, err)))
        q_source_destroy(&s);
    return s;
}

void q_source_destroy(q_source_t **s_p)
{
    if (!s_p || !*s_p)
        return;
    q_source_t *s = *s_p;
    ipp_client_destroy(&s->client);
    db_reader_destroy(&s->reader);
    free(s);
    *s_p = NULL;
}

bool q_source_online_p(const q_source_t *s)
{
    return s && s->ops == &s_online_ops;
}

ipp_err_t q_source_find(q_source_t *s, const char *query_json, const json_t *keys, int64_t limit,
                        bool with_user, json_t **rows, ipp_error_t *err)
{
    *rows = NULL;
    return s->ops->find(s, query_json, keys, limit, with_user, rows, err);
}

ipp_err_t q_source_state(q_source_t *s, const char *const *ids, size_t n, q_state_t *out,
                         ipp_error_t *err)
{
    for (size_t i = 0; i < n; i++)
        out[i] = Q_STATE_UNKNOWN;
    return n ? s->ops->state(s, ids, n, out, err) : IPP_OK;
}

ipp_err_t q_source_history(q_source_t *s, json_t **ids, ipp_error_t *err)
{
    *ids = NULL;
    return s->ops->history(s, ids, err);
}

ipp_err_t q_source_values(q_source_t *s, const char *const *ids, size_t n, json_t **values,
                          ipp_error_t *err)
{
    *values = json_object();
    if (!*values)
        return s_nomem(err);
    ipp_err_t rc = n ? s->ops->values(s, ids, n, *values, err) : IPP_OK;
    if (rc != IPP_OK) {
        json_decref(*values);
        *values = NULL;
    }
    return rc;
}

ipp_err_t q_source_queue_status(q_source_t *s, bool verbose, ipp_queue_status_t *out,
                                ipp_error_t *err)
{
    memset(out, 0, sizeof *out);
    if (!s->ops->queue_status)
        return ipp_error_set(err, IPP_ERR_INVALID,
                             "queue_status needs the controller: the queues are in its memory, "
                             "not in %s (leave out --db)",
                             s->ops->what);
    return s->ops->queue_status(s, verbose, out, err);
}
