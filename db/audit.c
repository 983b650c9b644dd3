/* db/audit.c — hashing for the audit chain, its head, the migration
 * rehash, and verification.
 *
 * The hash input is a sequence of typed values (NULL / integer / bytes,
 * each with its length), so two different records can never encode to
 * the same bytes. The writer hashes the values it binds; the verifier
 * hashes the values it reads back; both go through db_val_t so they agree.
 * Verification holds one read transaction and streams rows: memory does
 * not grow with the number of records.
 */
#include "db/audit.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void s_feed_u64(crypto_generichash_state *h, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    crypto_generichash_update(h, b, 8);
}

static void s_feed_val(crypto_generichash_state *h, const db_val_t *v)
{
    uint8_t tag;
    switch (v->type) {
    case DB_VAL_INT:
        tag = 1;
        crypto_generichash_update(h, &tag, 1);
        s_feed_u64(h, (uint64_t)v->i);
        return;
    case DB_VAL_TEXT:
    case DB_VAL_BLOB:
        // Text and blob hash alike: a column's storage class is not content.
        tag = 2;
        crypto_generichash_update(h, &tag, 1);
        s_feed_u64(h, v->n);
        if (v->n)
            crypto_generichash_update(h, v->p, v->n);
        return;
    default:
        tag = 0;
        crypto_generichash_update(h, &tag, 1);
        return;
    }
}

void db_audit_req_hash(const db_val_t *req, uint8_t out[DB_AUDIT_HASH_BYTES])
{
    crypto_generichash_state h;
    crypto_generichash_init(&h, NULL, 0, DB_AUDIT_HASH_BYTES);
    static const char domain[] = "ipp audit request v1";
    crypto_generichash_update(&h, (const uint8_t *)domain, sizeof domain);
    int n = DB_AUDIT_NREQ;
    if (req[DB_AUDIT_NREQ - DB_AUDIT_NREQ_OPT].type == DB_VAL_NULL)
        n -= DB_AUDIT_NREQ_OPT;  // a record from before schema version 3
    for (int i = 0; i < n; i++)
        s_feed_val(&h, &req[i]);
    crypto_generichash_final(&h, out, DB_AUDIT_HASH_BYTES);
}

void db_audit_chain_hash(int64_t seq, const uint8_t prev[DB_AUDIT_HASH_BYTES],
                         const char *prev_msg_id, const uint8_t req_hash[DB_AUDIT_HASH_BYTES],
                         const db_val_t *res, uint8_t out[DB_AUDIT_HASH_BYTES])
{
    crypto_generichash_state h;
    crypto_generichash_init(&h, NULL, 0, DB_AUDIT_HASH_BYTES);
    static const char domain[] = "ipp audit chain v1";
    crypto_generichash_update(&h, (const uint8_t *)domain, sizeof domain);
    s_feed_u64(&h, (uint64_t)seq);
    crypto_generichash_update(&h, prev, DB_AUDIT_HASH_BYTES);
    db_val_t pv = db_val_text(prev_msg_id);
    s_feed_val(&h, &pv);
    crypto_generichash_update(&h, req_hash, DB_AUDIT_HASH_BYTES);
    for (int i = 0; i < DB_AUDIT_NRES; i++)
        s_feed_val(&h, &res[i]);
    crypto_generichash_final(&h, out, DB_AUDIT_HASH_BYTES);
}

ipp_err_t db_audit_head_load(sqlite3 *db, db_audit_head_t *head, ipp_error_t *err)
{
    memset(head, 0, sizeof *head);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT key, value FROM meta WHERE key LIKE 'chain_%'", -1, &st,
                                NULL);
    if (rc != SQLITE_OK)
        return db_sql_fail(err, db, rc, "reading the audit chain head");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(st, 0);
        if (!k)
            continue;
        if (strcmp(k, "chain_seq") == 0) {
            head->seq = sqlite3_column_int64(st, 1);
        } else if (strcmp(k, "chain_hash") == 0 &&
                   sqlite3_column_bytes(st, 1) == DB_AUDIT_HASH_BYTES) {
            memcpy(head->hash, sqlite3_column_blob(st, 1), DB_AUDIT_HASH_BYTES);
        } else if (strcmp(k, "chain_msg_id") == 0 && sqlite3_column_text(st, 1)) {
            snprintf(head->msg_id, sizeof head->msg_id, "%s", sqlite3_column_text(st, 1));
        }
    }
    ipp_err_t out = IPP_OK;
    if (rc != SQLITE_DONE)
        out = db_sql_fail(err, db, rc, "reading the audit chain head");
    sqlite3_finalize(st);
    return out;
}

ipp_err_t db_audit_head_save(sqlite3 *db, const db_audit_head_t *head, ipp_error_t *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, DB_AUDIT_HEAD_SAVE_SQL, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, head->seq);
        sqlite3_bind_blob(st, 2, head->hash, DB_AUDIT_HASH_BYTES, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, head->msg_id, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return db_sql_fail(err, db, rc, "saving the audit chain head");
    return IPP_OK;
}

// s_rowids: every rowid the query sql returns, into a malloc'd array.
static ipp_err_t s_rowids(sqlite3 *db, const char *sql, int64_t **out, size_t *n, ipp_error_t *err)
{
    *out = NULL;
    *n = 0;
    size_t cap = 0;
    sqlite3_stmt *st = NULL;
    ipp_err_t code = IPP_OK;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 1024;
            int64_t *v = realloc(*out, cap * sizeof *v);
            if (!v) {
                code = ipp_error_set(err, IPP_ERR_NOMEM, "out of memory listing records");
                goto out;
            }
            *out = v;
        }
        (*out)[(*n)++] = sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_DONE)
        code = db_sql_fail(err, db, rc, "listing records to hash");
out:
    sqlite3_finalize(st);
    if (code) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return code;
}

ipp_err_t db_audit_rehash(sqlite3 *db, ipp_error_t *err)
{
    int64_t *ids = NULL;
    size_t n = 0;
    sqlite3_stmt *sel = NULL, *upd = NULL;
    ipp_err_t code;
    db_audit_head_t head;
    int rc;
    if ((code = db_audit_head_load(db, &head, err)))
        return code;

    // Request hashes for every record.
    if ((code = s_rowids(db, "SELECT rowid FROM tasks WHERE req_hash IS NULL", &ids, &n, err)))
        goto out;
    if ((rc = sqlite3_prepare_v2(db, "SELECT " DB_AUDIT_REQ_COLS " FROM tasks WHERE rowid=?", -1,
                                 &sel, NULL)) != SQLITE_OK ||
        (rc = sqlite3_prepare_v2(db, "UPDATE tasks SET req_hash=?1 WHERE rowid=?2", -1, &upd,
                                 NULL)) != SQLITE_OK) {
        code = db_sql_fail(err, db, rc, "preparing the request rehash");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        sqlite3_bind_int64(sel, 1, ids[i]);
        if ((rc = sqlite3_step(sel)) != SQLITE_ROW) {
            code = db_sql_fail(err, db, rc, "reading record rowid %lld", (long long)ids[i]);
            goto out;
        }
        db_val_t req[DB_AUDIT_NREQ];
        for (int c = 0; c < DB_AUDIT_NREQ; c++)
            req[c] = db_val_column(sel, c);
        uint8_t h[DB_AUDIT_HASH_BYTES];
        db_audit_req_hash(req, h);
        sqlite3_reset(sel);
        sqlite3_bind_blob(upd, 1, h, sizeof h, SQLITE_TRANSIENT);
        sqlite3_bind_int64(upd, 2, ids[i]);
        if ((rc = sqlite3_step(upd)) != SQLITE_DONE) {
            code = db_sql_fail(err, db, rc, "storing a request hash");
            goto out;
        }
        sqlite3_reset(upd);
    }
    sqlite3_finalize(sel);
    sqlite3_finalize(upd);
    sel = upd = NULL;
    free(ids);
    ids = NULL;

    // Chain every completed record not chained yet, oldest completion first.
    if ((code = s_rowids(db,
                         "SELECT rowid FROM tasks WHERE status <> 'pending' AND chain_seq IS NULL"
                         " ORDER BY coalesce(completed, 0), rowid",
                         &ids, &n, err)))
        goto out;
    if ((rc = sqlite3_prepare_v2(
             db, "SELECT msg_id, req_hash, " DB_AUDIT_RES_COLS " FROM tasks WHERE rowid=?", -1,
             &sel, NULL)) != SQLITE_OK ||
        (rc = sqlite3_prepare_v2(
             db, "UPDATE tasks SET chain_seq=?1, chain_prev=?2, chain_hash=?3 WHERE rowid=?4", -1,
             &upd, NULL)) != SQLITE_OK) {
        code = db_sql_fail(err, db, rc, "preparing the chain rehash");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        sqlite3_bind_int64(sel, 1, ids[i]);
        if ((rc = sqlite3_step(sel)) != SQLITE_ROW) {
            code = db_sql_fail(err, db, rc, "reading record rowid %lld", (long long)ids[i]);
            goto out;
        }
        db_val_t res[DB_AUDIT_NRES];
        for (int c = 0; c < DB_AUDIT_NRES; c++)
            res[c] = db_val_column(sel, 2 + c);
        uint8_t rh[DB_AUDIT_HASH_BYTES], h[DB_AUDIT_HASH_BYTES];
        if (sqlite3_column_bytes(sel, 1) == DB_AUDIT_HASH_BYTES)
            memcpy(rh, sqlite3_column_blob(sel, 1), sizeof rh);
        else
            memset(rh, 0, sizeof rh);
        int64_t seq = head.seq + 1;
        db_audit_chain_hash(seq, head.hash, head.seq ? head.msg_id : NULL, rh, res, h);
        sqlite3_bind_int64(upd, 1, seq);
        if (head.seq)
            sqlite3_bind_text(upd, 2, head.msg_id, -1, SQLITE_TRANSIENT);
        else
            sqlite3_bind_null(upd, 2);
        sqlite3_bind_blob(upd, 3, h, sizeof h, SQLITE_TRANSIENT);
        sqlite3_bind_int64(upd, 4, ids[i]);
        head.seq = seq;
        memcpy(head.hash, h, sizeof h);
        snprintf(head.msg_id, sizeof head.msg_id, "%s", (const char *)sqlite3_column_text(sel, 0));
        sqlite3_reset(sel);
        if ((rc = sqlite3_step(upd)) != SQLITE_DONE) {
            code = db_sql_fail(err, db, rc, "storing a chain hash");
            goto out;
        }
        sqlite3_reset(upd);
    }
    code = db_audit_head_save(db, &head, err);
out:
    sqlite3_finalize(sel);
    sqlite3_finalize(upd);
    free(ids);
    return code;
}

// State of one verification walk.
typedef struct {
    sqlite3 *db;
    bool prev_purged;        // the previous entry is known only from a purge record
    db_audit_report_t *rep;  // filled as we go
    ipp_error_t *err;
    int64_t expected;                   // the chain position the next entry must have
    uint8_t prev[DB_AUDIT_HASH_BYTES];  // hash of the previous entry
    char prev_id[128];                  // its msg_id ("" before the first)
} s_walk_t;

// s_fail: record the first problem and return IPP_ERR_AUDIT.
static ipp_err_t s_fail(s_walk_t *w, int64_t seq, const char *msg_id, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static ipp_err_t s_fail(s_walk_t *w, int64_t seq, const char *msg_id, const char *fmt, ...)
{
    char text[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    w->rep->bad_seq = seq;
    snprintf(w->rep->bad_msg_id, sizeof w->rep->bad_msg_id, "%s", msg_id ? msg_id : "");
    return ipp_error_set(w->err, IPP_ERR_AUDIT, "audit: %s", text);
}

// s_check_task: verify the chain entry in the current row of st (columns:
// msg_id, request columns, result columns, chain_seq, chain_prev, chain_hash).
static ipp_err_t s_check_task(s_walk_t *w, sqlite3_stmt *st)
{
    const char *id = (const char *)sqlite3_column_text(st, 0);
    int base = 1 + DB_AUDIT_NREQ + DB_AUDIT_NRES;
    int64_t seq = sqlite3_column_int64(st, base);
    const char *prev = (const char *)sqlite3_column_text(st, base + 1);
    const char *want_prev = w->prev_id[0] ? w->prev_id : NULL;
    if ((prev == NULL) != (want_prev == NULL) || (prev && strcmp(prev, want_prev) != 0))
        return s_fail(w, seq, id,
                      "record %s (chain entry %lld) names %s as its predecessor, but the chain "
                      "has %s there: a record was inserted or reordered",
                      id, (long long)seq, prev ? prev : "none", want_prev ? want_prev : "none");
    db_val_t req[DB_AUDIT_NREQ], res[DB_AUDIT_NRES];
    for (int c = 0; c < DB_AUDIT_NREQ; c++)
        req[c] = db_val_column(st, 1 + c);
    for (int c = 0; c < DB_AUDIT_NRES; c++)
        res[c] = db_val_column(st, 1 + DB_AUDIT_NREQ + c);
    uint8_t rh[DB_AUDIT_HASH_BYTES], h[DB_AUDIT_HASH_BYTES];
    db_audit_req_hash(req, rh);
    db_audit_chain_hash(seq, w->prev, want_prev, rh, res, h);
    const void *stored = sqlite3_column_blob(st, base + 2);
    if (sqlite3_column_bytes(st, base + 2) != DB_AUDIT_HASH_BYTES ||
        sodium_memcmp(stored, h, sizeof h) != 0)
        return s_fail(w, seq, id,
                      w->prev_purged
                          ? "record %s (chain entry %lld) or the purge record before it was "
                            "altered: they no longer chain"
                          : "record %s (chain entry %lld) was altered: its request or result no "
                            "longer matches its audit hash",
                      id, (long long)seq);
    w->prev_purged = false;
    memcpy(w->prev, stored, sizeof w->prev);
    snprintf(w->prev_id, sizeof w->prev_id, "%s", id);
    w->rep->checked++;
    return IPP_OK;
}

ipp_err_t db_audit_verify_db(sqlite3 *db, db_audit_report_t *rep_out, ipp_error_t *err)
{
    db_audit_report_t rep_local;
    db_audit_report_t *rep = rep_out ? rep_out : &rep_local;
    memset(rep, 0, sizeof *rep);
    s_walk_t w = {.db = db, .rep = rep, .err = err, .expected = 1};
    sqlite3_stmt *ta = NULL, *row = NULL, *pu = NULL, *loose = NULL;
    ipp_err_t code = db_sql_exec(db, "BEGIN", err);
    if (code)
        return code;
    db_audit_head_t head;
    if ((code = db_audit_head_load(db, &head, err)))
        goto out;
    rep->head_seq = head.seq;
    int rc;
    // Chain positions sorted (small tuples), then each record by rowid:
    // no index on chain_seq is kept for the writer to maintain.
    if ((rc = sqlite3_prepare_v2(db,
                                 "SELECT chain_seq, rowid FROM tasks"
                                 " WHERE chain_seq IS NOT NULL ORDER BY chain_seq",
                                 -1, &ta, NULL)) != SQLITE_OK ||
        (rc = sqlite3_prepare_v2(db,
                                 "SELECT msg_id, " DB_AUDIT_REQ_COLS ", " DB_AUDIT_RES_COLS
                                 ", chain_seq, chain_prev, chain_hash FROM tasks WHERE rowid = ?1",
                                 -1, &row, NULL)) != SQLITE_OK ||
        (rc = sqlite3_prepare_v2(db,
                                 "SELECT chain_seq, msg_id, chain_hash, chain_prev FROM purge_items"
                                 " ORDER BY chain_seq",
                                 -1, &pu, NULL)) != SQLITE_OK ||
        (rc = sqlite3_prepare_v2(db,
                                 "SELECT msg_id FROM tasks WHERE status <> 'pending'"
                                 " AND chain_seq IS NULL LIMIT 1",
                                 -1, &loose, NULL)) != SQLITE_OK) {
        code = db_sql_fail(err, db, rc, "preparing the audit walk");
        goto out;
    }
    int ra = sqlite3_step(ta), rp = sqlite3_step(pu);
    int seq_col = 1 + DB_AUDIT_NREQ + DB_AUDIT_NRES;
    while (ra == SQLITE_ROW || rp == SQLITE_ROW) {
        int64_t sa = ra == SQLITE_ROW ? sqlite3_column_int64(ta, 0) : INT64_MAX;
        int64_t sp = rp == SQLITE_ROW ? sqlite3_column_int64(pu, 0) : INT64_MAX;
        bool from_task = sa <= sp;
        if (from_task) {
            sqlite3_bind_int64(row, 1, sqlite3_column_int64(ta, 1));
            if ((rc = sqlite3_step(row)) != SQLITE_ROW) {
                code = db_sql_fail(err, db, rc, "walking the audit chain");
                goto out;
            }
        }
        const char *id = from_task ? (const char *)sqlite3_column_text(row, 0)
                                   : (const char *)sqlite3_column_text(pu, 1);
        if (sa == sp) {
            code = s_fail(&w, sa, id,
                          "record %s holds chain entry %lld, which a recorded purge removed "
                          "(as %s): it was inserted afterwards",
                          id, (long long)sa, (const char *)sqlite3_column_text(pu, 1));
            goto out;
        }
        int64_t seq = from_task ? sa : sp;
        if (seq != w.expected) {
            if (seq < w.expected) {
                code =
                    s_fail(&w, seq, id, "record %s repeats chain entry %lld", id, (long long)seq);
            } else if (from_task ? sqlite3_column_text(row, seq_col + 1) != NULL
                                 : sqlite3_column_text(pu, 3) != NULL) {
                // The entry after the gap names the one before it.
                const char *gone = from_task ? (const char *)sqlite3_column_text(row, seq_col + 1)
                                             : (const char *)sqlite3_column_text(pu, 3);
                code = s_fail(&w, w.expected, gone,
                              "record %s (chain entry %lld) was removed outside a recorded purge "
                              "(the chain resumes at %s, entry %lld)",
                              gone, (long long)w.expected, id, (long long)seq);
            } else {
                code = s_fail(&w, w.expected, NULL,
                              "chain entries %lld..%lld were removed outside a recorded purge "
                              "(the chain resumes at %s)",
                              (long long)w.expected, (long long)seq - 1, id);
            }
            goto out;
        }
        if (from_task) {
            code = s_check_task(&w, row);
            sqlite3_reset(row);
            if (code)
                goto out;
            ra = sqlite3_step(ta);
        } else {
            if (sqlite3_column_bytes(pu, 2) != DB_AUDIT_HASH_BYTES) {
                const char *pid = (const char *)sqlite3_column_text(pu, 1);
                code = s_fail(&w, seq, pid, "purge record of %s (chain entry %lld) is damaged", pid,
                              (long long)seq);
                goto out;
            }
            memcpy(w.prev, sqlite3_column_blob(pu, 2), sizeof w.prev);
            w.prev_purged = true;
            snprintf(w.prev_id, sizeof w.prev_id, "%s", (const char *)sqlite3_column_text(pu, 1));
            rep->purged++;
            rp = sqlite3_step(pu);
        }
        w.expected++;
    }
    if (ra != SQLITE_DONE || rp != SQLITE_DONE) {
        code = db_sql_fail(err, db, ra != SQLITE_DONE ? ra : rp, "walking the audit chain");
        goto out;
    }
    int64_t last = w.expected - 1;
    if (head.seq > last) {
        code = s_fail(&w, last + 1, head.msg_id,
                      "the newest chain entries %lld..%lld were removed outside a recorded purge "
                      "(the last was record %s)",
                      (long long)last + 1, (long long)head.seq, head.msg_id);
        goto out;
    }
    if (head.seq < last) {
        code = s_fail(&w, head.seq + 1, w.prev_id,
                      "chain entries %lld..%lld (up to record %s) were added behind the writer's "
                      "back: the recorded head is entry %lld",
                      (long long)head.seq + 1, (long long)last, w.prev_id, (long long)head.seq);
        goto out;
    }
    if (last > 0 && sodium_memcmp(head.hash, w.prev, sizeof w.prev) != 0) {
        code = s_fail(&w, last, w.prev_id,
                      "record %s (chain entry %lld) does not match the recorded chain head",
                      w.prev_id, (long long)last);
        goto out;
    }
    rc = sqlite3_step(loose);
    if (rc == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(loose, 0);
        code = s_fail(&w, 0, id,
                      "record %s is completed but has no place in the audit chain: it was "
                      "inserted or changed outside the writer",
                      id);
        goto out;
    }
    if (rc != SQLITE_DONE)
        code = db_sql_fail(err, db, rc, "looking for unchained records");
out:
    sqlite3_finalize(ta);
    sqlite3_finalize(row);
    sqlite3_finalize(pu);
    sqlite3_finalize(loose);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    return code;
}
