/* db/query.c — the db_query compiler.
 *
 * Walks the JSON query once, checking every key against the key table and
 * every operator and value against the key's kind, and emits SQL text
 * built only from constant fragments and quoted column names from that
 * table, plus a list of owned values to bind. Owns the compiled query;
 * never runs SQL itself and never pastes user text into SQL.
 */
#include "db/query.h"

#include "db/fnmatch.h"
#include "db/sql.h"
#include "proto/clock.h"
#include "proto/grow.h"

#include <stdlib.h>
#include <string.h>

// One value to bind (owned).
typedef struct {
    db_val_type_t type;  // DB_VAL_INT or DB_VAL_TEXT
    int64_t i;           // integer value
    char *s;             // text (owned)
    size_t n;            // its length
} s_bind_t;

struct db_query_t {
    db_sbuf_t where;   // the WHERE clause
    s_bind_t *binds;   // values for its parameters, in order
    size_t n_binds;    // how many
    size_t cap_binds;  // allocated
    uint64_t keys;     // projection mask
};

static const char *const s_status_list = "pending, ok, error, aborted, unreachable, lost";

void db_query_destroy(db_query_t **q_p)
{
    if (!q_p || !*q_p)
        return;
    db_query_t *q = *q_p;
    for (size_t i = 0; i < q->n_binds; i++)
        free(q->binds[i].s);
    free(q->binds);
    db_sbuf_fini(&q->where);
    free(q);
    *q_p = NULL;
}

static s_bind_t *s_push(db_query_t *q)
{
    if (IPP_GROW(q->binds, q->cap_binds, q->n_binds + 1, 8) != 0)
        return NULL;
    s_bind_t *b = &q->binds[q->n_binds++];
    memset(b, 0, sizeof *b);
    return b;
}

static ipp_err_t s_bind_int(db_query_t *q, int64_t v, ipp_error_t *err)
{
    s_bind_t *b = s_push(q);
    if (!b)
        return ipp_error_set(err, IPP_ERR_NOMEM, "out of memory compiling a query");
    b->type = DB_VAL_INT;
    b->i = v;
    return IPP_OK;
}

static ipp_err_t s_bind_text(db_query_t *q, const char *s, size_t n, ipp_error_t *err)
{
    s_bind_t *b = s_push(q);
    char *copy = malloc(n + 1);
    if (!b || !copy) {
        free(copy);
        if (b)
            q->n_binds--;
        return ipp_error_set(err, IPP_ERR_NOMEM, "out of memory compiling a query");
    }
    memcpy(copy, s, n);
    copy[n] = '\0';
    b->type = DB_VAL_TEXT;
    b->s = copy;
    b->n = n;
    return IPP_OK;
}

// s_type_name: how a JSON value's type is called in error messages.
static const char *s_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number with a fraction";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

static const char *s_kind_wants(db_key_kind_t kind)
{
    switch (kind) {
    case DB_KIND_INT:
        return "an integer";
    case DB_KIND_TIME:
        return "a time (µs integer or ISO 8601 string)";
    case DB_KIND_STATUS:
        return "a status name";
    default:
        return "a string";
    }
}

// s_scalar: check that v (not null) suits key k and convert it to a value
// to bind: an integer in *iv (is_int) or a string in *sv/*sn (borrowed
// from v). op is named in errors.
static ipp_err_t s_scalar(const db_key_info_t *k, const char *op, const json_t *v, bool *is_int,
                          int64_t *iv, const char **sv, size_t *sn, ipp_error_t *err)
{
    const char *where = op ? op : "value";
    switch (k->kind) {
    case DB_KIND_INT:
        if (!json_is_integer(v))
            goto wrong;
        *is_int = true;
        *iv = json_integer_value(v);
        return IPP_OK;
    case DB_KIND_TIME:
        if (json_is_integer(v)) {
            *is_int = true;
            *iv = json_integer_value(v);
            return IPP_OK;
        }
        if (json_is_string(v)) {
            if (ipp_clock_parse_iso(json_string_value(v), iv) != 0)
                return ipp_error_set(err, IPP_ERR_QUERY,
                                     "key '%s': %s '%.60s' is not an ISO 8601 time", k->name, where,
                                     json_string_value(v));
            *is_int = true;
            return IPP_OK;
        }
        goto wrong;
    case DB_KIND_STATUS:
        if (!json_is_string(v))
            goto wrong;
        if (strcmp(where, "$glob") != 0 &&
            db_status_parse(json_string_value(v)) == DB_STATUS_UNKNOWN)
            return ipp_error_set(err, IPP_ERR_QUERY, "key 'status': '%.60s' is not a status (%s)",
                                 json_string_value(v), s_status_list);
        /* fall through */
    case DB_KIND_TEXT:
    case DB_KIND_JSON:
        if (!json_is_string(v))
            goto wrong;
        *is_int = false;
        *sv = json_string_value(v);
        *sn = json_string_length(v);
        return IPP_OK;
    default:
        return ipp_error_set(err, IPP_ERR_QUERY,
                             "key '%s' holds bytes: only null tests (null, {\"$ne\": null}) are "
                             "allowed, not %s",
                             k->name, where);
    }
wrong:
    return ipp_error_set(err, IPP_ERR_QUERY, "key '%s': %s must be %s, not %s", k->name, where,
                         s_kind_wants(k->kind), s_type_name(v));
}

// s_and: append " AND " between terms.
static void s_and(db_query_t *q)
{
    if (q->where.len)
        db_sbuf_adds(&q->where, " AND ");
}

// s_cmp: "col OP ?" with v bound.
static ipp_err_t s_cmp(db_query_t *q, const db_key_info_t *k, const char *op_name,
                       const char *sql_op, const json_t *v, ipp_error_t *err)
{
    bool is_int = false;
    int64_t iv = 0;
    const char *sv = NULL;
    size_t sn = 0;
    ipp_err_t rc = s_scalar(k, op_name, v, &is_int, &iv, &sv, &sn, err);
    if (rc)
        return rc;
    s_and(q);
    db_sql_quote_ident(&q->where, k->name);
    db_sbuf_addf(&q->where, " %s ?", sql_op);
    return is_int ? s_bind_int(q, iv, err) : s_bind_text(q, sv, sn, err);
}

// s_null_test: "col IS [NOT] NULL".
static void s_null_test(db_query_t *q, const db_key_info_t *k, bool is_null)
{
    s_and(q);
    db_sql_quote_ident(&q->where, k->name);
    db_sbuf_adds(&q->where, is_null ? " IS NULL" : " IS NOT NULL");
}

// s_in: $in / $nin through json_each of one bound JSON array.
static ipp_err_t s_in(db_query_t *q, const db_key_info_t *k, const char *op, const json_t *arr,
                      bool negate, ipp_error_t *err)
{
    if (k->kind == DB_KIND_BLOB || k->kind == DB_KIND_BUFFERS)
        return ipp_error_set(err, IPP_ERR_QUERY,
                             "key '%s' holds bytes: only null tests are allowed, not %s", k->name,
                             op);
    if (!json_is_array(arr))
        return ipp_error_set(err, IPP_ERR_QUERY, "key '%s': %s takes an array, not %s", k->name, op,
                             s_type_name(arr));
    db_sbuf_t list;
    db_sbuf_init(&list);
    db_sbuf_add(&list, "[", 1);
    size_t i;
    json_t *v;
    ipp_err_t rc = IPP_OK;
    json_array_foreach(arr, i, v)
    {
        if (json_is_null(v)) {
            rc = ipp_error_set(err, IPP_ERR_QUERY,
                               "key '%s': %s element %zu is null; test null separately "
                               "({\"%s\": null})",
                               k->name, op, i, k->name);
            goto out;
        }
        bool is_int = false;
        int64_t iv = 0;
        const char *sv = NULL;
        size_t sn = 0;
        if ((rc = s_scalar(k, op, v, &is_int, &iv, &sv, &sn, err)))
            goto out;
        if (i)
            db_sbuf_add(&list, ",", 1);
        if (is_int)
            db_sbuf_addf(&list, "%lld", (long long)iv);
        else
            db_sbuf_add_json_str(&list, sv, sn);
    }
    db_sbuf_add(&list, "]", 1);
    if (list.failed) {
        rc = ipp_error_set(err, IPP_ERR_NOMEM, "out of memory compiling a query");
        goto out;
    }
    s_and(q);
    if (json_array_size(arr) == 0) {
        // Nothing is in an empty set; everything is outside it.
        db_sbuf_adds(&q->where, negate ? "1" : "0");
        goto out;
    }
    if (negate) {
        db_sbuf_add(&q->where, "(", 1);
        db_sql_quote_ident(&q->where, k->name);
        db_sbuf_adds(&q->where, " IS NULL OR ");
        db_sql_quote_ident(&q->where, k->name);
        db_sbuf_adds(&q->where, " NOT IN (SELECT value FROM json_each(?)))");
    } else {
        db_sql_quote_ident(&q->where, k->name);
        db_sbuf_adds(&q->where, " IN (SELECT value FROM json_each(?))");
    }
    rc = s_bind_text(q, list.data, list.len, err);
out:
    db_sbuf_fini(&list);
    return rc;
}

// s_glob: an indexed range on the literal prefix, then ipp_fnmatch.
static ipp_err_t s_glob(db_query_t *q, const db_key_info_t *k, const json_t *v, ipp_error_t *err)
{
    if (k->kind != DB_KIND_TEXT && k->kind != DB_KIND_STATUS && k->kind != DB_KIND_JSON)
        return ipp_error_set(err, IPP_ERR_QUERY, "key '%s': $glob needs a text key, and %s is not",
                             k->name, k->name);
    if (!json_is_string(v))
        return ipp_error_set(err, IPP_ERR_QUERY, "key '%s': $glob takes a string pattern, not %s",
                             k->name, s_type_name(v));
    const char *pat = json_string_value(v);
    size_t pn = json_string_length(v);
    size_t plen = db_fnmatch_prefix(pat, pn);
    ipp_err_t rc;
    s_and(q);
    if (plen > 0) {
        // Every match starts with the prefix, so it sorts in
        // [prefix, prefix with its last byte below 0xFF raised by one).
        db_sql_quote_ident(&q->where, k->name);
        db_sbuf_adds(&q->where, " >= ?");
        if ((rc = s_bind_text(q, pat, plen, err)))
            return rc;
        size_t ulen = plen;
        while (ulen > 0 && (unsigned char)pat[ulen - 1] == 0xFF)
            ulen--;
        if (ulen > 0) {
            db_sbuf_adds(&q->where, " AND ");
            db_sql_quote_ident(&q->where, k->name);
            db_sbuf_adds(&q->where, " < ?");
            if ((rc = s_bind_text(q, pat, ulen, err)))
                return rc;
            unsigned char *last = (unsigned char *)q->binds[q->n_binds - 1].s + ulen - 1;
            (*last)++;
        }
        db_sbuf_adds(&q->where, " AND ");
    }
    db_sbuf_adds(&q->where, "ipp_fnmatch(?, ");
    db_sql_quote_ident(&q->where, k->name);
    db_sbuf_adds(&q->where, ")");
    return s_bind_text(q, pat, pn, err);
}

// s_excludes_ok: true if a status condition (op NULL for an exact value)
// with argument arg can never match 'ok'. The status index leaves 'ok'
// rows out, and SQLite only uses it when the WHERE clause says so.
static bool s_excludes_ok(const char *op, const json_t *arg)
{
    if (!op || strcmp(op, "$eq") == 0 || strcmp(op, "$ne") == 0) {
        bool is_ok = json_is_string(arg) && strcmp(json_string_value(arg), "ok") == 0;
        return op && strcmp(op, "$ne") == 0 ? is_ok : (json_is_string(arg) && !is_ok);
    }
    if (strcmp(op, "$in") == 0) {
        size_t i;
        json_t *v;
        json_array_foreach(arg, i, v)
        {
            if (json_is_string(v) && strcmp(json_string_value(v), "ok") == 0)
                return false;
        }
        return json_array_size(arg) > 0;
    }
    if (strcmp(op, "$glob") == 0)
        return json_is_string(arg) &&
               !db_fnmatch(json_string_value(arg), json_string_length(arg), "ok", 2);
    return false;
}

// s_key_term: the terms for one key of the query.
static ipp_err_t s_key_term(db_query_t *q, const char *name, const json_t *cond, ipp_error_t *err)
{
    int kid = db_key_lookup(name);
    if (kid < 0)
        return ipp_error_set(err, IPP_ERR_QUERY, "unknown key '%.80s' in query", name);
    const db_key_info_t *k = db_key_info((db_key_t)kid);
    if (json_is_null(cond)) {
        s_null_test(q, k, true);
        return IPP_OK;
    }
    bool status = kid == DB_KEY_STATUS;
    if (!json_is_object(cond)) {
        ipp_err_t rc = s_cmp(q, k, NULL, "=", cond, err);
        if (!rc && status && s_excludes_ok(NULL, cond))
            db_sbuf_adds(&q->where, " AND \"status\" <> 'ok'");
        return rc;
    }
    if (json_object_size(cond) == 0)
        return ipp_error_set(err, IPP_ERR_QUERY, "key '%s': empty operator object", name);
    const char *op;
    json_t *arg;
    bool excl_ok = false;
    json_object_foreach((json_t *)cond, op, arg)
    {
        if (status && s_excludes_ok(op, arg))
            excl_ok = true;
        ipp_err_t rc;
        if (strcmp(op, "$eq") == 0) {
            if (json_is_null(arg)) {
                s_null_test(q, k, true);
                continue;
            }
            rc = s_cmp(q, k, op, "=", arg, err);
        } else if (strcmp(op, "$ne") == 0) {
            if (json_is_null(arg)) {
                s_null_test(q, k, false);
                continue;
            }
            rc = s_cmp(q, k, op, "IS NOT", arg, err);
        } else if (strcmp(op, "$lt") == 0 || strcmp(op, "$lte") == 0 || strcmp(op, "$gt") == 0 ||
                   strcmp(op, "$gte") == 0) {
            if (json_is_null(arg))
                return ipp_error_set(err, IPP_ERR_QUERY, "key '%s': %s cannot compare with null",
                                     name, op);
            const char *sql =
                op[1] == 'l' ? (op[3] == 'e' ? "<=" : "<") : (op[3] == 'e' ? ">=" : ">");
            rc = s_cmp(q, k, op, sql, arg, err);
        } else if (strcmp(op, "$in") == 0) {
            rc = s_in(q, k, op, arg, false, err);
        } else if (strcmp(op, "$nin") == 0) {
            rc = s_in(q, k, op, arg, true, err);
        } else if (strcmp(op, "$glob") == 0) {
            rc = s_glob(q, k, arg, err);
        } else {
            rc = ipp_error_set(err, IPP_ERR_QUERY,
                               "key '%s': unknown operator '%.40s' (known: $lt $lte $gt $gte $eq "
                               "$ne $in $nin $glob)",
                               name, op);
        }
        if (rc)
            return rc;
    }
    if (excl_ok)
        db_sbuf_adds(&q->where, " AND \"status\" <> 'ok'");
    return IPP_OK;
}

// s_keys_mask: the projection mask of a keys array.
static ipp_err_t s_keys_mask(const json_t *keys, uint64_t *mask, ipp_error_t *err)
{
    if (!keys || json_is_null(keys)) {
        *mask = DB_KEYS_DEFAULT;
        return IPP_OK;
    }
    if (!json_is_array(keys))
        return ipp_error_set(err, IPP_ERR_QUERY, "keys must be an array of key names, not %s",
                             s_type_name(keys));
    *mask = DB_KEYBIT(DB_KEY_MSG_ID);
    size_t i;
    json_t *v;
    json_array_foreach(keys, i, v)
    {
        if (!json_is_string(v))
            return ipp_error_set(err, IPP_ERR_QUERY, "keys[%zu] must be a key name, not %s", i,
                                 s_type_name(v));
        int k = db_key_lookup(json_string_value(v));
        if (k < 0)
            return ipp_error_set(err, IPP_ERR_QUERY, "unknown key '%.80s' in keys",
                                 json_string_value(v));
        *mask |= DB_KEYBIT(k);
    }
    return IPP_OK;
}

db_query_t *db_query_compile(const json_t *query, const json_t *keys, ipp_error_t *err)
{
    db_query_t *q = calloc(1, sizeof *q);
    if (!q) {
        ipp_error_set(err, IPP_ERR_NOMEM, "out of memory compiling a query");
        return NULL;
    }
    db_sbuf_init(&q->where);
    if (s_keys_mask(keys, &q->keys, err))
        goto fail;
    if (query && !json_is_null(query)) {
        if (!json_is_object(query)) {
            ipp_error_set(err, IPP_ERR_QUERY, "a query must be a JSON object, not %s",
                          s_type_name(query));
            goto fail;
        }
        const char *name;
        json_t *cond;
        json_object_foreach((json_t *)query, name, cond)
        {
            if (s_key_term(q, name, cond, err))
                goto fail;
        }
    }
    if (!q->where.len)
        db_sbuf_adds(&q->where, "1");
    if (q->where.failed) {
        ipp_error_set(err, IPP_ERR_NOMEM, "out of memory compiling a query");
        goto fail;
    }
    return q;
fail:
    db_query_destroy(&q);
    return NULL;
}

db_query_t *db_query_compile_text(const char *query_json, const json_t *keys, ipp_error_t *err)
{
    if (!query_json || !*query_json)
        return db_query_compile(NULL, keys, err);
    json_error_t jerr;
    json_t *j = json_loads(query_json, JSON_REJECT_DUPLICATES, &jerr);
    if (!j) {
        ipp_error_set(err, IPP_ERR_QUERY, "query is not valid JSON: %s (column %d)", jerr.text,
                      jerr.column);
        return NULL;
    }
    db_query_t *q = db_query_compile(j, keys, err);
    json_decref(j);
    return q;
}

uint64_t db_query_keys(const db_query_t *q)
{
    return q->keys;
}

const char *db_query_where(const db_query_t *q)
{
    return q->where.data;
}

int db_query_nparams(const db_query_t *q)
{
    return (int)q->n_binds;
}

int db_query_bind(const db_query_t *q, sqlite3_stmt *st, int first)
{
    for (size_t i = 0; i < q->n_binds; i++) {
        const s_bind_t *b = &q->binds[i];
        int rc = b->type == DB_VAL_INT ? sqlite3_bind_int64(st, first + (int)i, b->i)
                                       : sqlite3_bind_text64(st, first + (int)i, b->s, b->n,
                                                             SQLITE_STATIC, SQLITE_UTF8);
        if (rc != SQLITE_OK)
            return rc;
    }
    return SQLITE_OK;
}
