/* db/record.c — task records read from the store, the key table, buffer
 * framing and the JSON form of a record.
 *
 * Owns the copies it makes for the caller and nothing else; keeps no
 * records. The key table is constant and is the only source of column
 * names for generated SQL.
 */
#include "db/record.h"

#include "db/sql.h"
#include "db/utf8.h"
#include "proto/clock.h"

#include <sodium.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

static const db_key_info_t s_keys[DB_KEY__COUNT] = {
    [DB_KEY_MSG_ID] = {"msg_id", DB_KIND_TEXT},
    [DB_KEY_HEADER] = {"header", DB_KIND_BLOB},
    [DB_KEY_CONTENT] = {"content", DB_KIND_BLOB},
    [DB_KEY_BUFFERS] = {"buffers", DB_KIND_BUFFERS},
    [DB_KEY_SUBMITTED] = {"submitted", DB_KIND_TIME},
    [DB_KEY_CLIENT_UUID] = {"client_uuid", DB_KIND_TEXT},
    [DB_KEY_ENGINE_UUID] = {"engine_uuid", DB_KIND_TEXT},
    [DB_KEY_STARTED] = {"started", DB_KIND_TIME},
    [DB_KEY_COMPLETED] = {"completed", DB_KIND_TIME},
    [DB_KEY_RESUBMITTED] = {"resubmitted", DB_KIND_TEXT},
    [DB_KEY_RECEIVED] = {"received", DB_KIND_TIME},
    [DB_KEY_RESULT_HEADER] = {"result_header", DB_KIND_BLOB},
    [DB_KEY_RESULT_CONTENT] = {"result_content", DB_KIND_BLOB},
    [DB_KEY_RESULT_BUFFERS] = {"result_buffers", DB_KIND_BUFFERS},
    [DB_KEY_QUEUE] = {"queue", DB_KIND_TEXT},
    [DB_KEY_EXECUTE_INPUT] = {"execute_input", DB_KIND_TEXT},
    [DB_KEY_EXECUTE_RESULT] = {"execute_result", DB_KIND_TEXT},
    [DB_KEY_ERROR] = {"error", DB_KIND_JSON},
    [DB_KEY_STDOUT] = {"stdout", DB_KIND_TEXT},
    [DB_KEY_STDERR] = {"stderr", DB_KIND_TEXT},
    [DB_KEY_LABEL] = {"label", DB_KIND_TEXT},
    [DB_KEY_ENGINE_ID] = {"engine_id", DB_KIND_INT},
    [DB_KEY_STATUS] = {"status", DB_KIND_STATUS},
    [DB_KEY_AFTER] = {"after", DB_KIND_JSON},
    [DB_KEY_FOLLOW] = {"follow", DB_KIND_JSON},
    [DB_KEY_TIMEOUT] = {"timeout", DB_KIND_INT},
    [DB_KEY_RETRIES] = {"retries", DB_KIND_INT},
    [DB_KEY_TARGETS] = {"targets", DB_KIND_JSON},
    [DB_KEY_REQUIRES] = {"requires", DB_KIND_JSON},
    [DB_KEY_ATTEMPTS] = {"attempts", DB_KIND_INT},
    [DB_KEY_CHAIN_SEQ] = {"chain_seq", DB_KIND_INT},
    [DB_KEY_CHAIN_PREV] = {"chain_prev", DB_KIND_TEXT},
    [DB_KEY_CHAIN_HASH] = {"chain_hash", DB_KIND_BLOB},
    [DB_KEY_SUBMITTED_BY] = {"submitted_by", DB_KIND_TEXT},
    [DB_KEY_SUBMITTED_BY_KEY] = {"submitted_by_key", DB_KIND_INT},
};

static const char *s_status_names[] = {
    [0] = "unknown",
    [DB_STATUS_PENDING] = "pending",
    [DB_STATUS_OK] = "ok",
    [DB_STATUS_ERROR] = "error",
    [DB_STATUS_ABORTED] = "aborted",
    [DB_STATUS_UNREACHABLE] = "unreachable",
    [DB_STATUS_LOST] = "lost",
    [DB_STATUS_UNKNOWN] = "unknown",
};

const char *db_status_name(db_status_t st)
{
    if ((int)st < 0 || (size_t)st >= sizeof s_status_names / sizeof s_status_names[0])
        return "unknown";
    return s_status_names[st];
}

db_status_t db_status_parse(const char *name)
{
    if (name)
        for (int s = DB_STATUS_PENDING; s < DB_STATUS_UNKNOWN; s++)
            if (strcmp(name, s_status_names[s]) == 0)
                return (db_status_t)s;
    return DB_STATUS_UNKNOWN;
}

bool db_status_completed(db_status_t st)
{
    return st >= DB_STATUS_OK && st <= DB_STATUS_LOST;
}

const db_key_info_t *db_key_info(db_key_t k)
{
    return &s_keys[k];
}

int db_key_lookup(const char *name)
{
    if (!name)
        return -1;
    for (int k = 0; k < DB_KEY__COUNT; k++)
        if (strcmp(s_keys[k].name, name) == 0)
            return k;
    return -1;
}

db_record_t *db_record_new(void)
{
    db_record_t *rec = calloc(1, sizeof *rec);
    if (rec) {
        rec->engine_id = -1;
        rec->error.engine_id = -1;
    }
    return rec;
}

static void s_bytes_fini(db_bytes_t *b)
{
    free(b->data);
    b->data = NULL;
    b->size = 0;
}

void db_bufv_fini(db_bufv_t *v)
{
    for (size_t i = 0; i < v->n; i++)
        s_bytes_fini(&v->v[i]);
    free(v->v);
    v->v = NULL;
    v->n = 0;
}

static void s_strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void s_dep_fini(db_dep_t *d)
{
    s_strv_free(d->ids, d->n);
    memset(d, 0, sizeof *d);
}

static void s_error_fini(db_remote_error_t *e)
{
    free(e->ename);
    free(e->evalue);
    s_strv_free(e->traceback, e->n_traceback);
    memset(e, 0, sizeof *e);
    e->engine_id = -1;
}

void db_record_destroy(db_record_t **rec_p)
{
    if (!rec_p || !*rec_p)
        return;
    db_record_t *r = *rec_p;
    free(r->msg_id);
    s_bytes_fini(&r->header);
    s_bytes_fini(&r->content);
    db_bufv_fini(&r->buffers);
    free(r->client_uuid);
    free(r->engine_uuid);
    free(r->resubmitted);
    s_bytes_fini(&r->result_header);
    s_bytes_fini(&r->result_content);
    db_bufv_fini(&r->result_buffers);
    free(r->queue);
    free(r->execute_input);
    free(r->execute_result);
    s_error_fini(&r->error);
    s_bytes_fini(&r->stdout_data);
    s_bytes_fini(&r->stderr_data);
    free(r->label);
    s_dep_fini(&r->after);
    s_dep_fini(&r->follow);
    free(r->targets);
    s_strv_free(r->requires, r->n_requires);
    free(r->chain_prev);
    free(r->submitted_by);
    s_bytes_fini(&r->chain_hash);
    free(r);
    *rec_p = NULL;
}

bool db_record_has(const db_record_t *rec, db_key_t k)
{
    return (rec->keys & DB_KEYBIT(k)) && !(rec->nulls & DB_KEYBIT(k));
}

uint8_t *db_buffers_frame(uint8_t *out, const void *data, size_t size)
{
    uint64_t n = size;
    for (int i = 0; i < 8; i++)
        out[i] = (uint8_t)(n >> (8 * i));
    if (size)
        memcpy(out + 8, data, size);
    return out + 8 + size;
}

// s_bytes_dup: a NUL-terminated copy of p[0..n) into *out; false on NOMEM.
static bool s_bytes_dup(db_bytes_t *out, const void *p, size_t n)
{
    out->data = malloc(n + 1);
    if (!out->data)
        return false;
    if (n)
        memcpy(out->data, p, n);
    out->data[n] = '\0';
    out->size = n;
    return true;
}

ipp_err_t db_buffers_unpack(const void *framed, size_t size, db_bufv_t *out)
{
    const uint8_t *p = framed;
    size_t count = 0;
    for (size_t off = 0; off < size;) {
        if (size - off < 8)
            return IPP_ERR_DB;
        uint64_t n = 0;
        for (int i = 0; i < 8; i++)
            n |= (uint64_t)p[off + i] << (8 * i);
        if (n > size - off - 8)
            return IPP_ERR_DB;
        off += 8 + (size_t)n;
        count++;
    }
    out->n = 0;
    out->v = count ? calloc(count, sizeof *out->v) : NULL;
    if (count && !out->v)
        return IPP_ERR_NOMEM;
    for (size_t off = 0; off < size;) {
        uint64_t n = 0;
        for (int i = 0; i < 8; i++)
            n |= (uint64_t)p[off + i] << (8 * i);
        if (!s_bytes_dup(&out->v[out->n], p + off + 8, (size_t)n)) {
            db_bufv_fini(out);
            return IPP_ERR_NOMEM;
        }
        out->n++;
        off += 8 + (size_t)n;
    }
    return IPP_OK;
}

static char *s_strndup(const void *p, size_t n)
{
    char *s = malloc(n + 1);
    if (s) {
        if (n)
            memcpy(s, p, n);
        s[n] = '\0';
    }
    return s;
}

// s_json_strv: copy a JSON array of strings into *v/*n; false if the
// value is not such an array or memory ran out.
static bool s_json_strv(const json_t *a, char ***v, size_t *n)
{
    *v = NULL;
    *n = 0;
    if (!json_is_array(a))
        return false;
    size_t cnt = json_array_size(a);
    if (!cnt)
        return true;
    char **out = calloc(cnt, sizeof *out);
    if (!out)
        return false;
    for (size_t i = 0; i < cnt; i++) {
        const json_t *s = json_array_get(a, i);
        if (!json_is_string(s) ||
            !(out[i] = s_strndup(json_string_value(s), json_string_length(s)))) {
            s_strv_free(out, cnt);
            return false;
        }
    }
    *v = out;
    *n = cnt;
    return true;
}

static bool s_parse_dep(const json_t *j, db_dep_t *d)
{
    if (!json_is_object(j) || !s_json_strv(json_object_get(j, "ids"), &d->ids, &d->n))
        return false;
    d->set = true;
    d->all = json_is_true(json_object_get(j, "all"));
    d->success = json_is_true(json_object_get(j, "success"));
    d->failure = json_is_true(json_object_get(j, "failure"));
    return true;
}

static bool s_parse_error(const json_t *j, db_remote_error_t *e)
{
    if (!json_is_object(j))
        return false;
    const json_t *en = json_object_get(j, "ename"), *ev = json_object_get(j, "evalue");
    const json_t *tb = json_object_get(j, "traceback"), *eid = json_object_get(j, "engine_id");
    e->set = true;
    if (json_is_string(en) &&
        !(e->ename = s_strndup(json_string_value(en), json_string_length(en))))
        return false;
    if (json_is_string(ev) &&
        !(e->evalue = s_strndup(json_string_value(ev), json_string_length(ev))))
        return false;
    if (tb && !s_json_strv(tb, &e->traceback, &e->n_traceback))
        return false;
    e->engine_id = json_is_integer(eid) ? (int32_t)json_integer_value(eid) : -1;
    return true;
}

static bool s_parse_targets(const json_t *j, db_record_t *r)
{
    if (!json_is_array(j))
        return false;
    size_t n = json_array_size(j);
    r->targets = n ? calloc(n, sizeof *r->targets) : NULL;
    if (n && !r->targets)
        return false;
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_array_get(j, i);
        if (!json_is_integer(v))
            return false;
        r->targets[i] = (int32_t)json_integer_value(v);
    }
    r->n_targets = n;
    return true;
}

// s_fill_json: parse a JSON column into its structured field.
static ipp_err_t s_fill_json(db_record_t *r, db_key_t k, const char *text, size_t n,
                             ipp_error_t *err)
{
    json_error_t jerr;
    json_t *j = json_loadb(text, n, JSON_DECODE_ANY, &jerr);
    bool ok = false;
    if (j) {
        switch (k) {
        case DB_KEY_AFTER:
            ok = s_parse_dep(j, &r->after);
            break;
        case DB_KEY_FOLLOW:
            ok = s_parse_dep(j, &r->follow);
            break;
        case DB_KEY_ERROR:
            ok = s_parse_error(j, &r->error);
            break;
        case DB_KEY_TARGETS:
            ok = s_parse_targets(j, r);
            break;
        case DB_KEY_REQUIRES:
            ok = s_json_strv(j, &r->requires, &r->n_requires);
            break;
        default:
            break;
        }
        json_decref(j);
    }
    if (!ok)
        return ipp_error_set(err, IPP_ERR_DB, "record %s: column %s does not hold valid JSON",
                             r->msg_id ? r->msg_id : "?", s_keys[k].name);
    return IPP_OK;
}

// s_text_field: where key k's text lands, for plain TEXT keys.
static char **s_text_field(db_record_t *r, db_key_t k)
{
    switch (k) {
    case DB_KEY_MSG_ID:
        return &r->msg_id;
    case DB_KEY_CLIENT_UUID:
        return &r->client_uuid;
    case DB_KEY_ENGINE_UUID:
        return &r->engine_uuid;
    case DB_KEY_RESUBMITTED:
        return &r->resubmitted;
    case DB_KEY_QUEUE:
        return &r->queue;
    case DB_KEY_EXECUTE_INPUT:
        return &r->execute_input;
    case DB_KEY_EXECUTE_RESULT:
        return &r->execute_result;
    case DB_KEY_LABEL:
        return &r->label;
    case DB_KEY_CHAIN_PREV:
        return &r->chain_prev;
    case DB_KEY_SUBMITTED_BY:
        return &r->submitted_by;
    default:
        return NULL;
    }
}

static db_bytes_t *s_bytes_field(db_record_t *r, db_key_t k)
{
    switch (k) {
    case DB_KEY_HEADER:
        return &r->header;
    case DB_KEY_CONTENT:
        return &r->content;
    case DB_KEY_RESULT_HEADER:
        return &r->result_header;
    case DB_KEY_RESULT_CONTENT:
        return &r->result_content;
    case DB_KEY_STDOUT:
        return &r->stdout_data;
    case DB_KEY_STDERR:
        return &r->stderr_data;
    case DB_KEY_CHAIN_HASH:
        return &r->chain_hash;
    default:
        return NULL;
    }
}

static int64_t *s_i64_field(db_record_t *r, db_key_t k)
{
    switch (k) {
    case DB_KEY_SUBMITTED:
        return &r->submitted;
    case DB_KEY_STARTED:
        return &r->started;
    case DB_KEY_COMPLETED:
        return &r->completed;
    case DB_KEY_RECEIVED:
        return &r->received;
    case DB_KEY_TIMEOUT:
        return &r->timeout;
    case DB_KEY_CHAIN_SEQ:
        return &r->chain_seq;
    default:
        return NULL;
    }
}

static int32_t *s_i32_field(db_record_t *r, db_key_t k)
{
    switch (k) {
    case DB_KEY_ENGINE_ID:
        return &r->engine_id;
    case DB_KEY_RETRIES:
        return &r->retries;
    case DB_KEY_ATTEMPTS:
        return &r->attempts;
    case DB_KEY_SUBMITTED_BY_KEY:
        return &r->submitted_by_key;
    default:
        return NULL;
    }
}

ipp_err_t db_record_fill_column(db_record_t *r, db_key_t k, sqlite3_stmt *st, int col,
                                ipp_error_t *err)
{
    r->keys |= DB_KEYBIT(k);
    int type = sqlite3_column_type(st, col);
    if (type == SQLITE_NULL) {
        r->nulls |= DB_KEYBIT(k);
        if (k == DB_KEY_STATUS)
            r->status = DB_STATUS_UNKNOWN;
        return IPP_OK;
    }
    char **tf;
    db_bytes_t *bf;
    int64_t *i64;
    int32_t *i32;
    if ((tf = s_text_field(r, k))) {
        const unsigned char *t = sqlite3_column_text(st, col);
        free(*tf);
        if (!(*tf = s_strndup(t, (size_t)sqlite3_column_bytes(st, col))))
            return ipp_error_set(err, IPP_ERR_NOMEM, "out of memory reading %s", s_keys[k].name);
        return IPP_OK;
    }
    if ((bf = s_bytes_field(r, k))) {
        const void *p = sqlite3_column_blob(st, col);
        size_t n = (size_t)sqlite3_column_bytes(st, col);
        s_bytes_fini(bf);
        if (!s_bytes_dup(bf, p, n))
            return ipp_error_set(err, IPP_ERR_NOMEM, "out of memory reading %s", s_keys[k].name);
        return IPP_OK;
    }
    if ((i64 = s_i64_field(r, k))) {
        *i64 = sqlite3_column_int64(st, col);
        return IPP_OK;
    }
    if ((i32 = s_i32_field(r, k))) {
        *i32 = sqlite3_column_int(st, col);
        return IPP_OK;
    }
    if (k == DB_KEY_STATUS) {
        r->status = db_status_parse((const char *)sqlite3_column_text(st, col));
        return IPP_OK;
    }
    if (k == DB_KEY_BUFFERS || k == DB_KEY_RESULT_BUFFERS) {
        db_bufv_t *v = (k == DB_KEY_BUFFERS) ? &r->buffers : &r->result_buffers;
        db_bufv_fini(v);
        const void *p = sqlite3_column_blob(st, col);
        ipp_err_t rc = db_buffers_unpack(p, (size_t)sqlite3_column_bytes(st, col), v);
        if (rc)
            return ipp_error_set(err, rc, "record %s: column %s is not framed buffers",
                                 r->msg_id ? r->msg_id : "?", s_keys[k].name);
        return IPP_OK;
    }
    // JSON columns.
    const char *t = (const char *)sqlite3_column_text(st, col);
    return s_fill_json(r, k, t, (size_t)sqlite3_column_bytes(st, col), err);
}

json_t *db_time_to_json(int64_t us, bool iso)
{
    if (!iso)
        return json_integer(us);
    char buf[40];
    return json_string(ipp_clock_format_iso(us, buf, sizeof buf));
}

// s_b64: bytes as a base64 JSON string.
static json_t *s_b64(const void *p, size_t n)
{
    size_t len = sodium_base64_encoded_len(n, sodium_base64_VARIANT_ORIGINAL);
    char *s = malloc(len);
    if (!s)
        return NULL;
    sodium_bin2base64(s, len, p, n, sodium_base64_VARIANT_ORIGINAL);
    json_t *j = json_string(s);
    free(s);
    return j;
}

// s_text_json: bytes that should be text, as a JSON string (U+FFFD for
// bytes that are not UTF-8).
static json_t *s_text_json(const void *p, size_t n)
{
    if (db_utf8_valid(p, n))
        return json_stringn(p, n);
    db_sbuf_t b;
    db_sbuf_init(&b);
    db_sbuf_add_utf8(&b, p, n);
    json_t *j = b.failed ? NULL : json_stringn(b.data ? b.data : "", b.len);
    db_sbuf_fini(&b);
    return j;
}

static json_t *s_strv_json(char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        if (json_array_append_new(a, json_string(v[i])) != 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

static json_t *s_dep_json(const db_dep_t *d)
{
    return json_pack("{s:o,s:b,s:b,s:b}", "ids", s_strv_json(d->ids, d->n), "all", d->all,
                     "success", d->success, "failure", d->failure);
}

static json_t *s_bufv_json(const db_bufv_t *v)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < v->n; i++)
        if (json_array_append_new(a, s_b64(v->v[i].data, v->v[i].size)) != 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

// s_key_json: the JSON value of one non-NULL key.
static json_t *s_key_json(const db_record_t *r, db_key_t k, int flags)
{
    bool iso = flags & DB_JSON_ISO_TIME;
    db_record_t *rw = (db_record_t *)r;  // the field accessors do not write
    char **tf;
    db_bytes_t *bf;
    int64_t *i64;
    int32_t *i32;
    if ((tf = s_text_field(rw, k)))
        return s_text_json(*tf, strlen(*tf));
    if (k == DB_KEY_STDOUT || k == DB_KEY_STDERR) {
        bf = s_bytes_field(rw, k);
        return s_text_json(bf->data, bf->size);
    }
    if ((bf = s_bytes_field(rw, k)))
        return s_b64(bf->data, bf->size);
    if ((i64 = s_i64_field(rw, k)))
        return s_keys[k].kind == DB_KIND_TIME ? db_time_to_json(*i64, iso) : json_integer(*i64);
    if ((i32 = s_i32_field(rw, k)))
        return json_integer(*i32);
    switch (k) {
    case DB_KEY_STATUS:
        return json_string(db_status_name(r->status));
    case DB_KEY_BUFFERS:
        return s_bufv_json(&r->buffers);
    case DB_KEY_RESULT_BUFFERS:
        return s_bufv_json(&r->result_buffers);
    case DB_KEY_AFTER:
        return s_dep_json(&r->after);
    case DB_KEY_FOLLOW:
        return s_dep_json(&r->follow);
    case DB_KEY_ERROR: {
        json_t *e = json_object();
        if (!e)
            return NULL;
        json_object_set_new(e, "ename", r->error.ename ? json_string(r->error.ename) : json_null());
        json_object_set_new(e, "evalue",
                            r->error.evalue ? s_text_json(r->error.evalue, strlen(r->error.evalue))
                                            : json_null());
        json_object_set_new(e, "traceback", s_strv_json(r->error.traceback, r->error.n_traceback));
        json_object_set_new(e, "engine_id", json_integer(r->error.engine_id));
        return e;
    }
    case DB_KEY_TARGETS: {
        json_t *a = json_array();
        for (size_t i = 0; a && i < r->n_targets; i++)
            json_array_append_new(a, json_integer(r->targets[i]));
        return a;
    }
    case DB_KEY_REQUIRES:
        return s_strv_json(r->requires, r->n_requires);
    default:
        return json_null();
    }
}

json_t *db_record_to_json(const db_record_t *rec, int flags)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    for (int k = 0; k < DB_KEY__COUNT; k++) {
        if (!(rec->keys & DB_KEYBIT(k)))
            continue;
        db_key_kind_t kind = s_keys[k].kind;
        if ((flags & DB_JSON_NO_BYTES) && (kind == DB_KIND_BLOB || kind == DB_KIND_BUFFERS))
            continue;
        json_t *v = (rec->nulls & DB_KEYBIT(k)) ? json_null() : s_key_json(rec, (db_key_t)k, flags);
        if (!v || json_object_set_new(o, s_keys[k].name, v) != 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}
