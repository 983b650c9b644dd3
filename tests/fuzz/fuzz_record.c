/* fuzz_record.c — libFuzzer target for reading stored task records: the
 * framed buffer BLOBs and the JSON columns (after, follow, error,
 * targets, requires) that db_record_fill_column decodes, and the JSON
 * form of the record made from them.
 *
 * Input layout: columns as [key u8][class u8][length u16 little-endian]
 * [bytes], at most one per key (later ones for the same key are skipped,
 * as a row holds each column once). key is taken modulo the key count;
 * class modulo 5 is NULL, INTEGER (the bytes as a little-endian int64),
 * REAL (a double), TEXT or BLOB. The columns come back from SQLite as the
 * result of one `SELECT ?1, ?2, …` — any storage class in any column, as
 * a damaged or foreign-written file could hold. Whatever comes in,
 * reading must succeed or fail with IPP_ERR_DB, with no crash, leak or
 * undefined behaviour; buffers read back must frame to exactly the bytes
 * stored; and a record read whole must turn into JSON.
 */
#include "db/record.h"
#include "db/schema.h"

#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static sqlite3 *s_db;

// One column of the input.
typedef struct {
    db_key_t key;      // which key
    int cls;           // 0 NULL, 1 INTEGER, 2 REAL, 3 TEXT, 4 BLOB
    const uint8_t *p;  // its bytes (borrowed from the input)
    size_t n;          // their length
} s_col_t;

static void s_fail(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_record: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    abort();
}

// s_check_buffers: v, framed again, must be the n bytes at p.
static void s_check_buffers(const db_bufv_t *v, const uint8_t *p, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < v->n; i++)
        total += 8 + v->v[i].size;
    if (total != n)
        s_fail("buffers read back frame to another length", NULL);
    uint8_t *again = malloc(total ? total : 1);
    if (!again)
        return;
    uint8_t *q = again;
    for (size_t i = 0; i < v->n; i++) {
        if (!v->v[i].data || v->v[i].data[v->v[i].size] != '\0')
            s_fail("a buffer without its NUL terminator", NULL);
        q = db_buffers_frame(q, v->v[i].data, v->v[i].size);
    }
    if (total && memcmp(again, p, total) != 0)
        s_fail("buffers read back frame to other bytes", NULL);
    free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!s_db) {
        // The ipp settings (and ipp_fnmatch) on a connection of our own.
        ipp_error_t err;
        if (!(s_db = db_schema_open(":memory:", DB_OPEN_READWRITE, NULL, &err)))
            s_fail("cannot open an in-memory store", err.msg);
    }
    s_col_t cols[DB_KEY__COUNT];
    int n = 0;
    uint64_t seen = 0;
    for (size_t pos = 0; pos + 4 <= size && n < DB_KEY__COUNT;) {
        db_key_t k = (db_key_t)(data[pos] % DB_KEY__COUNT);
        int cls = data[pos + 1] % 5;
        size_t len = (size_t)data[pos + 2] | ((size_t)data[pos + 3] << 8);
        pos += 4;
        if (len > size - pos)
            len = size - pos;
        if (!(seen & DB_KEYBIT(k))) {
            seen |= DB_KEYBIT(k);
            cols[n++] = (s_col_t){k, cls, data + pos, len};
        }
        pos += len;
    }
    if (n == 0)
        return 0;

    char sql[8 + DB_KEY__COUNT * 6];
    size_t off = (size_t)snprintf(sql, sizeof sql, "SELECT ");
    for (int i = 0; i < n; i++)
        off += (size_t)snprintf(sql + off, sizeof sql - off, "%s?%d", i ? "," : "", i + 1);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s_db, sql, -1, &st, NULL) != SQLITE_OK)
        s_fail("cannot prepare", sqlite3_errmsg(s_db));
    for (int i = 0; i < n; i++) {
        const s_col_t *c = &cols[i];
        uint8_t b[8] = {0};
        memcpy(b, c->p, c->n < 8 ? c->n : 8);
        uint64_t u = 0;
        for (int k = 0; k < 8; k++)
            u |= (uint64_t)b[k] << (8 * k);
        double d;
        memcpy(&d, b, sizeof d);
        switch (c->cls) {
        case 0:
            sqlite3_bind_null(st, i + 1);
            break;
        case 1:
            sqlite3_bind_int64(st, i + 1, (sqlite3_int64)u);
            break;
        case 2:
            sqlite3_bind_double(st, i + 1, d);
            break;
        case 3:
            sqlite3_bind_text64(st, i + 1, (const char *)c->p, c->n, SQLITE_STATIC, SQLITE_UTF8);
            break;
        default:
            sqlite3_bind_blob64(st, i + 1, c->p, c->n, SQLITE_STATIC);
            break;
        }
    }
    if (sqlite3_step(st) != SQLITE_ROW)
        s_fail("cannot step", sqlite3_errmsg(s_db));

    db_record_t *rec = db_record_new();
    if (!rec)
        s_fail("out of memory", NULL);
    bool whole = true;
    for (int i = 0; i < n; i++) {
        ipp_error_t err;
        ipp_error_clear(&err);
        ipp_err_t rc = db_record_fill_column(rec, cols[i].key, st, i, &err);
        if (rc != IPP_OK) {
            if (rc != IPP_ERR_DB || !err.msg[0])
                s_fail("refused with an unexpected code", err.msg);
            whole = false;
            continue;
        }
        if (!(rec->keys & DB_KEYBIT(cols[i].key)))
            s_fail("a column read but not marked as read", db_key_info(cols[i].key)->name);
        bool is_null = sqlite3_column_type(st, i) == SQLITE_NULL;
        if (db_record_has(rec, cols[i].key) == is_null)
            s_fail("NULL marked wrongly", db_key_info(cols[i].key)->name);
        if (!is_null && (cols[i].key == DB_KEY_BUFFERS || cols[i].key == DB_KEY_RESULT_BUFFERS)) {
            const void *p = sqlite3_column_blob(st, i);
            size_t bytes = (size_t)sqlite3_column_bytes(st, i);
            s_check_buffers(cols[i].key == DB_KEY_BUFFERS ? &rec->buffers : &rec->result_buffers, p,
                            bytes);
        }
    }
    if (whole) {
        json_t *j = db_record_to_json(rec, 0);
        json_t *k = db_record_to_json(rec, DB_JSON_ISO_TIME | DB_JSON_NO_BYTES);
        if (!j || !k)
            s_fail("a record read whole does not turn into JSON", NULL);
        char *text = json_dumps(j, JSON_COMPACT);
        if (!text)
            s_fail("its JSON does not print", NULL);
        free(text);
        json_decref(j);
        json_decref(k);
    }
    db_record_destroy(&rec);
    sqlite3_finalize(st);
    return 0;
}
