/* db/apply.c — what each queued mutation does to the tables, in SQL.
 *
 * Owns the write connection's prepared statements and the SQL function
 * ipp_chain_hash() that computes a result's audit chain entry inside its
 * UPDATE; the chain head, committed and in the batch; the scratch texts
 * the binds point into; and the per-batch table that lets an assignment
 * ride in the UPDATE of the result that follows it. Runs only on the
 * thread applying a batch. Must never open or configure the connection,
 * take the writer's queue mutex, or log: outcomes go back to the writer.
 */
#include "db/apply.h"

#include "db/keys.h"
#include "db/purge.h"
#include "proto/clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Slots of the per-batch msg_id table used to fold an assignment into the
// result that follows it (a power of two, over twice the largest batch).
#define S_FOLD_SLOTS 16384

// One slot of that table.
typedef struct db_apply_fold_slot {
    uint32_t gen;   // valid when equal to the table's fold_gen
    db_op_t *last;  // the latest op of the batch for this msg_id
} s_fold_slot_t;

/* ------------------------------------------------------------ values */

static db_val_t s_time_val(int64_t t)
{
    return t == DB_TIME_NONE ? db_val_null() : db_val_int(t);
}

static db_val_t s_blob_val(db_blob_t b)
{
    return b.data ? db_val_blob(b.data, b.size) : db_val_null();
}

// s_dep_json: {"ids":[…],"all":…,"success":…,"failure":…} into b; a NULL
// value when there is no dependency.
static db_val_t s_dep_json(db_sbuf_t *b, const db_op_dep_t *d)
{
    if (!d->n)
        return db_val_null();
    db_sbuf_adds(b, "{\"ids\":[");
    for (size_t i = 0; i < d->n; i++) {
        if (i)
            db_sbuf_add(b, ",", 1);
        db_sbuf_add_json_str(b, d->ids[i], strlen(d->ids[i]));
    }
    db_sbuf_addf(b, "],\"all\":%s,\"success\":%s,\"failure\":%s}",
                 (d->flags & DB_DEP_ALL) ? "true" : "false",
                 (d->flags & DB_DEP_SUCCESS) ? "true" : "false",
                 (d->flags & DB_DEP_FAILURE) ? "true" : "false");
    return db_val_textn(b->data, b->len);
}

static db_val_t s_strv_json(db_sbuf_t *b, const char **v, size_t n)
{
    if (!n)
        return db_val_null();
    db_sbuf_add(b, "[", 1);
    for (size_t i = 0; i < n; i++) {
        if (i)
            db_sbuf_add(b, ",", 1);
        db_sbuf_add_json_str(b, v[i], strlen(v[i]));
    }
    db_sbuf_add(b, "]", 1);
    return db_val_textn(b->data, b->len);
}

static db_val_t s_ints_json(db_sbuf_t *b, const int32_t *v, size_t n)
{
    if (!n)
        return db_val_null();
    db_sbuf_add(b, "[", 1);
    for (size_t i = 0; i < n; i++)
        db_sbuf_addf(b, "%s%d", i ? "," : "", (int)v[i]);
    db_sbuf_add(b, "]", 1);
    return db_val_textn(b->data, b->len);
}

static db_val_t s_error_json(db_sbuf_t *b, const db_op_t *op)
{
    if (!op->u.res.ename && !op->u.res.evalue)
        return db_val_null();
    db_sbuf_adds(b, "{\"ename\":");
    if (op->u.res.ename)
        db_sbuf_add_json_str(b, op->u.res.ename, strlen(op->u.res.ename));
    else
        db_sbuf_adds(b, "null");
    db_sbuf_adds(b, ",\"evalue\":");
    if (op->u.res.evalue)
        db_sbuf_add_json_str(b, op->u.res.evalue, strlen(op->u.res.evalue));
    else
        db_sbuf_adds(b, "null");
    db_sbuf_adds(b, ",\"traceback\":[");
    for (size_t i = 0; i < op->u.res.n_tb; i++) {
        if (i)
            db_sbuf_add(b, ",", 1);
        db_sbuf_add_json_str(b, op->u.res.tb[i], strlen(op->u.res.tb[i]));
    }
    db_sbuf_addf(b, "],\"engine_id\":%d}", (int)op->u.res.eid);
    return db_val_textn(b->data, b->len);
}

// s_scratch_reset: empty the JSON scratch buffers before building texts.
static void s_scratch_reset(db_apply_t *a)
{
    for (int i = 0; i < 4; i++)
        db_sbuf_reset(&a->js[i]);
}

// s_scratch_ok: false if one of the texts just built ran out of memory.
static bool s_scratch_ok(const db_apply_t *a)
{
    for (int i = 0; i < 4; i++)
        if (a->js[i].failed)
            return false;
    return true;
}

// s_step: run a bound statement that returns no rows, then reset it.
static int s_step(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

/* ------------------------------------------------------------ ops */

// s_fatal: describe an SQLite failure of op into operr.
static db_apply_outcome_t s_fatal(db_apply_t *a, const db_op_t *op, int rc, ipp_error_t *operr,
                                  const char *what)
{
    db_sql_fail(operr, a->db, rc, "%s: %s %s", a->path, what, op->msg_id ? op->msg_id : "");
    return DB_APPLY_FATAL;
}

static db_apply_outcome_t s_nomem(const db_op_t *op, ipp_error_t *operr)
{
    ipp_error_set(operr, IPP_ERR_NOMEM, "out of memory storing %s", op->msg_id);
    return DB_APPLY_FATAL;
}

static db_apply_outcome_t s_apply_insert(db_apply_t *a, const db_op_t *op, ipp_error_t *operr)
{
    s_scratch_reset(a);
    db_val_t v[DB_AUDIT_NREQ] = {
        db_val_text(op->msg_id),
        s_blob_val(op->u.ins.header),
        s_blob_val(op->u.ins.content),
        s_blob_val(op->u.ins.buffers),
        db_val_int(op->u.ins.submitted),
        db_val_text(op->u.ins.client_uuid),
        db_val_text(op->u.ins.queue),
        db_val_text(op->u.ins.label),
        db_val_text(op->u.ins.execute_input),
        s_dep_json(&a->js[0], &op->u.ins.after),
        s_dep_json(&a->js[1], &op->u.ins.follow),
        db_val_int(op->u.ins.timeout),
        db_val_int(op->u.ins.retries),
        s_ints_json(&a->js[2], op->u.ins.targets, op->u.ins.n_targets),
        s_strv_json(&a->js[3], op->u.ins.requires, op->u.ins.n_requires),
        db_val_text(op->u.ins.submitted_by),
        op->u.ins.submitted_by ? db_val_int(op->u.ins.submitted_by_key ? 1 : 0) : db_val_text(NULL),
    };
    if (!s_scratch_ok(a))
        return s_nomem(op, operr);
    uint8_t rh[DB_AUDIT_HASH_BYTES];
    db_audit_req_hash(v, rh);
    sqlite3_stmt *st = a->st_insert;
    for (int i = 0; i < DB_AUDIT_NREQ; i++)
        db_val_bind(st, i + 1, &v[i]);
    sqlite3_bind_blob(st, DB_AUDIT_NREQ + 1, rh, sizeof rh, SQLITE_STATIC);
    int rc = s_step(st);
    if (rc == SQLITE_CONSTRAINT) {
        ipp_error_set(operr, IPP_ERR_INVALID, "task %s is already recorded", op->msg_id);
        return DB_APPLY_REFUSED;
    }
    if (rc != SQLITE_DONE)
        return s_fatal(a, op, rc, operr, "inserting");
    const db_op_dep_t *deps[2] = {&op->u.ins.after, &op->u.ins.follow};
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < deps[k]->n; i++) {
            sqlite3_bind_text(a->st_dep, 1, op->msg_id, -1, SQLITE_STATIC);
            sqlite3_bind_text(a->st_dep, 2, deps[k]->ids[i], -1, SQLITE_STATIC);
            sqlite3_bind_text(a->st_dep, 3, k == 0 ? "after" : "follow", -1, SQLITE_STATIC);
            sqlite3_bind_int(a->st_dep, 4, deps[k]->flags);
            if ((rc = s_step(a->st_dep)) != SQLITE_DONE)
                return s_fatal(a, op, rc, operr, "recording dependencies of");
        }
    }
    return DB_APPLY_DONE;
}

// s_apply_update: run a bound UPDATE of one row; refused (naming what it
// did and which thing was missing) when it changed nothing.
static db_apply_outcome_t s_apply_update(db_apply_t *a, const db_op_t *op, sqlite3_stmt *st,
                                         ipp_error_t *operr, const char *what, const char *missing)
{
    int rc = s_step(st);
    if (rc != SQLITE_DONE)
        return s_fatal(a, op, rc, operr, what);
    if (sqlite3_changes(a->db) == 0) {
        ipp_error_set(operr, IPP_ERR_NOT_FOUND, "%s %s: no such %s", what, op->msg_id, missing);
        return DB_APPLY_REFUSED;
    }
    return DB_APPLY_DONE;
}

// s_udf_chain_hash: ipp_chain_hash(seq, prev_hash, prev_msg_id, req_hash,
// result columns…) — the SQL side of a result UPDATE, so the engine
// columns and the request hash are read from the row being updated
// without a separate SELECT. Leaves the hash in a->udf_hash too.
static void s_udf_chain_hash(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    db_apply_t *a = sqlite3_user_data(ctx);
    if (argc != 4 + DB_AUDIT_NRES) {
        sqlite3_result_error(ctx, "ipp_chain_hash: wrong number of arguments", -1);
        return;
    }
    uint8_t prev[DB_AUDIT_HASH_BYTES] = {0}, rh[DB_AUDIT_HASH_BYTES] = {0};
    if (sqlite3_value_bytes(argv[1]) == DB_AUDIT_HASH_BYTES)
        memcpy(prev, sqlite3_value_blob(argv[1]), sizeof prev);
    if (sqlite3_value_bytes(argv[3]) == DB_AUDIT_HASH_BYTES)
        memcpy(rh, sqlite3_value_blob(argv[3]), sizeof rh);
    const char *prev_id = (const char *)sqlite3_value_text(argv[2]);
    db_val_t res[DB_AUDIT_NRES];
    for (int i = 0; i < DB_AUDIT_NRES; i++)
        res[i] = db_val_value(argv[4 + i]);
    db_audit_chain_hash(sqlite3_value_int64(argv[0]), prev, prev_id, rh, res, a->udf_hash);
    sqlite3_result_blob(ctx, a->udf_hash, DB_AUDIT_HASH_BYTES, SQLITE_TRANSIENT);
}

static db_apply_outcome_t s_apply_result(db_apply_t *a, const db_op_t *op, ipp_error_t *operr)
{
    s_scratch_reset(a);
    db_val_t v[12] = {
        db_val_text(db_status_name(op->u.res.status)),  // ?2
        s_time_val(op->u.res.started),                  // ?3
        s_time_val(op->u.res.completed),                // ?4
        s_time_val(op->u.res.received),                 // ?5
        s_blob_val(op->u.res.rheader),                  // ?6
        s_blob_val(op->u.res.rcontent),                 // ?7
        s_blob_val(op->u.res.rbuffers),                 // ?8
        db_val_text(op->u.res.execute_result),          // ?9
        s_error_json(&a->js[0], op),                    // ?10
        op->u.res.out.data ? db_val_textn(op->u.res.out.data, op->u.res.out.size)
                           : db_val_null(),  // ?11
        op->u.res.err.data ? db_val_textn(op->u.res.err.data, op->u.res.err.size)
                           : db_val_null(),  // ?12
    };
    if (!s_scratch_ok(a))
        return s_nomem(op, operr);
    int64_t seq = a->work.seq + 1;
    const char *prev_id = a->work.seq ? a->work.msg_id : NULL;
    const db_op_t *asg = op->fold;
    sqlite3_stmt *st = asg ? a->st_result_asg : a->st_result;
    sqlite3_bind_text(st, 1, op->msg_id, -1, SQLITE_STATIC);
    for (int i = 0; i < 11; i++)
        db_val_bind(st, i + 2, &v[i]);
    sqlite3_bind_int64(st, 13, seq);
    if (prev_id)
        sqlite3_bind_text(st, 14, prev_id, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 15, a->work.hash, DB_AUDIT_HASH_BYTES, SQLITE_STATIC);
    if (asg) {
        sqlite3_bind_int(st, 16, asg->u.asg.engine_id);
        if (asg->u.asg.engine_uuid)
            sqlite3_bind_text(st, 17, asg->u.asg.engine_uuid, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 18, asg->u.asg.attempts);
    }
    int rc = s_step(st);
    if (rc != SQLITE_DONE)
        return s_fatal(a, op, rc, operr, "storing the result of");
    if (sqlite3_changes(a->db) == 0) {
        // Say why: unknown, or finished already.
        sqlite3_bind_text(a->st_why, 1, op->msg_id, -1, SQLITE_STATIC);
        rc = sqlite3_step(a->st_why);
        if (rc == SQLITE_ROW)
            ipp_error_set(operr, IPP_ERR_INVALID,
                          "result for %s: the task is already completed (%s)", op->msg_id,
                          (const char *)sqlite3_column_text(a->st_why, 0));
        else if (rc == SQLITE_DONE)
            ipp_error_set(operr, IPP_ERR_NOT_FOUND, "result for %s: no such task", op->msg_id);
        s_step(a->st_why);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            return s_fatal(a, op, rc, operr, "reading");
        return DB_APPLY_REFUSED;
    }
    a->work.seq = seq;
    memcpy(a->work.hash, a->udf_hash, DB_AUDIT_HASH_BYTES);
    snprintf(a->work.msg_id, sizeof a->work.msg_id, "%s", op->msg_id);
    return DB_APPLY_DONE;
}

db_apply_outcome_t db_apply_op(db_apply_t *a, const db_op_t *op, int64_t *count, ipp_error_t *operr)
{
    sqlite3_stmt *st;
    switch (op->kind) {
    case DB_OP_INSERT:
        return s_apply_insert(a, op, operr);
    case DB_OP_ASSIGN:
        if (op->fold)
            return DB_APPLY_DONE;  // applied with its result
        st = a->st_assign;
        sqlite3_bind_text(st, 1, op->msg_id, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, op->u.asg.engine_id);
        if (op->u.asg.engine_uuid)
            sqlite3_bind_text(st, 3, op->u.asg.engine_uuid, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 4, op->u.asg.attempts);
        return s_apply_update(a, op, st, operr, "assigning", "pending task");
    case DB_OP_STARTED:
        st = a->st_started;
        sqlite3_bind_text(st, 1, op->msg_id, -1, SQLITE_STATIC);
        if (op->u.sta.started != DB_TIME_NONE)
            sqlite3_bind_int64(st, 2, op->u.sta.started);
        return s_apply_update(a, op, st, operr, "starting", "pending task");
    case DB_OP_RESULT:
        return s_apply_result(a, op, operr);
    case DB_OP_RESUBMITTED:
        st = a->st_resub;
        sqlite3_bind_text(st, 1, op->msg_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, op->u.rsb.new_id, -1, SQLITE_STATIC);
        return s_apply_update(a, op, st, operr, "marking resubmitted", "task");
    case DB_OP_PURGE: {
        ipp_err_t rc = db_purge_run(a->db, &op->u.pur.spec, ipp_clock_now_us(), count, operr);
        if (rc == IPP_OK)
            return DB_APPLY_DONE;
        if (rc == IPP_ERR_PENDING || rc == IPP_ERR_NOT_FOUND || rc == IPP_ERR_QUERY ||
            rc == IPP_ERR_INVALID)
            return DB_APPLY_REFUSED;
        return DB_APPLY_FATAL;
    }
    case DB_OP_ENGINE_UP: {
        st = a->st_eng_up;
        sqlite3_bind_int(st, 1, op->u.eng.id);
        sqlite3_bind_text(st, 2, op->msg_id, -1, SQLITE_STATIC);
        if (op->u.eng.hostname)
            sqlite3_bind_text(st, 3, op->u.eng.hostname, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 4, op->u.eng.pid);
        if (op->u.eng.when != DB_TIME_NONE)
            sqlite3_bind_int64(st, 5, op->u.eng.when);
        int rc = s_step(st);
        if (rc == SQLITE_CONSTRAINT) {
            ipp_error_set(operr, IPP_ERR_INVALID,
                          "engine id %d already belongs to another uuid than %s", (int)op->u.eng.id,
                          op->msg_id);
            return DB_APPLY_REFUSED;
        }
        return rc == SQLITE_DONE ? DB_APPLY_DONE : s_fatal(a, op, rc, operr, "registering engine");
    }
    case DB_OP_ENGINE_DOWN:
        st = a->st_eng_down;
        sqlite3_bind_text(st, 1, op->msg_id, -1, SQLITE_STATIC);
        if (op->u.eng.when != DB_TIME_NONE)
            sqlite3_bind_int64(st, 2, op->u.eng.when);
        return s_apply_update(a, op, st, operr, "unregistering engine", "engine");
    case DB_OP_KEY_SEEN: {
        // A key revoked or unknown to this file changes nothing: not an error.
        st = a->st_key_seen;
        sqlite3_bind_text(st, 1, op->msg_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, op->u.eng.when);
        int rc = s_step(st);
        return rc == SQLITE_DONE ? DB_APPLY_DONE : s_fatal(a, op, rc, operr, "recording key");
    }
    }
    return DB_APPLY_DONE;
}

/* ------------------------------------------------------------ folding */

// s_fold_find: the slot of msg_id in this batch's table (a free one if
// it has none yet), or NULL when the table is full.
static s_fold_slot_t *s_fold_find(db_apply_t *a, const char *msg_id)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)msg_id; *p; p++)
        h = (h ^ *p) * 16777619u;
    for (uint32_t k = 0; k < S_FOLD_SLOTS; k++) {
        s_fold_slot_t *sl = &a->fold[(h + k) & (S_FOLD_SLOTS - 1)];
        if (sl->gen != a->fold_gen || strcmp(sl->last->msg_id, msg_id) == 0)
            return sl;
    }
    return NULL;
}

// s_fold_plan: within the batch, pair each result with an assignment of
// the same task that immediately precedes it (no other mutation of that
// task in between, no purge anywhere between). Applying the pair as one
// UPDATE leaves exactly the state applying them one by one would; the
// intermediate state was never visible outside the transaction anyway.
static void s_fold_plan(db_apply_t *a, db_op_t *first, size_t n)
{
    if (!a->fold)
        return;
    a->fold_gen++;
    db_op_t *op = first;
    for (size_t i = 0; i < n; i++, op = op->next) {
        op->fold = NULL;
        if (op->kind == DB_OP_PURGE) {
            a->fold_gen++;  // forget everything before a purge
            continue;
        }
        if (op->kind == DB_OP_ENGINE_UP || op->kind == DB_OP_ENGINE_DOWN ||
            op->kind == DB_OP_KEY_SEEN)
            continue;
        s_fold_slot_t *sl = s_fold_find(a, op->msg_id);
        if (!sl)
            continue;
        if (sl->gen == a->fold_gen && op->kind == DB_OP_RESULT && sl->last->kind == DB_OP_ASSIGN &&
            !sl->last->fold) {
            op->fold = sl->last;
            sl->last->fold = op;
        }
        sl->gen = a->fold_gen;
        sl->last = op;
    }
}

/* ------------------------------------------------------------ lifecycle */

static const struct {
    size_t offset;
    const char *sql;
} s_stmts[] = {
    {offsetof(db_apply_t, st_begin), "BEGIN IMMEDIATE"},
    {offsetof(db_apply_t, st_commit), "COMMIT"},
    {offsetof(db_apply_t, st_rollback), "ROLLBACK"},
    {offsetof(db_apply_t, st_insert),
     "INSERT INTO tasks (" DB_AUDIT_REQ_COLS ", req_hash) VALUES"
     " (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)"},
    {offsetof(db_apply_t, st_dep),
     "INSERT OR IGNORE INTO deps (task, depends_on, kind, flags) VALUES (?1, ?2, ?3, ?4)"},
    {offsetof(db_apply_t, st_assign),
     "UPDATE tasks SET engine_id = ?2, engine_uuid = ?3, attempts = ?4"
     " WHERE msg_id = ?1 AND status = 'pending'"},
    {offsetof(db_apply_t, st_started),
     "UPDATE tasks SET started = ?2 WHERE msg_id = ?1 AND status = 'pending'"},
    // The chain hash is computed from the row's old engine columns and
    // request hash and the new result values, in this one statement; the
    // argument order is DB_AUDIT_RES_COLS.
    {offsetof(db_apply_t, st_result),
     "UPDATE tasks SET status = ?2, started = coalesce(?3, started), completed = ?4,"
     " received = ?5, result_header = ?6, result_content = ?7, result_buffers = ?8,"
     " execute_result = ?9, error = ?10, stdout = ?11, stderr = ?12, chain_seq = ?13,"
     " chain_prev = ?14, chain_hash = ipp_chain_hash(?13, ?15, ?14, req_hash,"
     " ?2, engine_id, engine_uuid, attempts, coalesce(?3, started), ?4, ?5, ?6, ?7, ?8,"
     " ?9, ?10, ?11, ?12)"
     " WHERE msg_id = ?1 AND status = 'pending'"},
    // A result with the assignment that preceded it in the same batch:
    // one row write instead of two.
    {offsetof(db_apply_t, st_result_asg),
     "UPDATE tasks SET status = ?2, started = coalesce(?3, started), completed = ?4,"
     " received = ?5, result_header = ?6, result_content = ?7, result_buffers = ?8,"
     " execute_result = ?9, error = ?10, stdout = ?11, stderr = ?12, chain_seq = ?13,"
     " chain_prev = ?14, engine_id = ?16, engine_uuid = ?17, attempts = ?18,"
     " chain_hash = ipp_chain_hash(?13, ?15, ?14, req_hash,"
     " ?2, ?16, ?17, ?18, coalesce(?3, started), ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
     " WHERE msg_id = ?1 AND status = 'pending'"},
    {offsetof(db_apply_t, st_why), "SELECT status FROM tasks WHERE msg_id = ?1"},
    {offsetof(db_apply_t, st_resub), "UPDATE tasks SET resubmitted = ?2 WHERE msg_id = ?1"},
    {offsetof(db_apply_t, st_eng_up),
     "INSERT INTO engines (id, uuid, hostname, pid, registered, unregistered)"
     " VALUES (?1, ?2, ?3, ?4, ?5, NULL) ON CONFLICT (uuid) DO UPDATE SET"
     " hostname = excluded.hostname, pid = excluded.pid, registered = excluded.registered,"
     " unregistered = NULL"},
    {offsetof(db_apply_t, st_eng_down), "UPDATE engines SET unregistered = ?2 WHERE uuid = ?1"},
    {offsetof(db_apply_t, st_key_seen), DB_KEYS_SEEN_SQL},
    {offsetof(db_apply_t, st_head), DB_AUDIT_HEAD_SAVE_SQL},
};

ipp_err_t db_apply_init(db_apply_t *a, sqlite3 *db, const char *path, size_t batch_max,
                        ipp_error_t *err)
{
    memset(a, 0, sizeof *a);
    a->db = db;
    a->path = path;
    for (int i = 0; i < 4; i++)
        db_sbuf_init(&a->js[i]);
    // Without the table the writer works the same, one write per mutation.
    if (batch_max <= S_FOLD_SLOTS / 2)
        a->fold = calloc(S_FOLD_SLOTS, sizeof *a->fold);
    int rc = sqlite3_create_function_v2(db, "ipp_chain_hash", 4 + DB_AUDIT_NRES,
                                        SQLITE_UTF8 | SQLITE_DIRECTONLY, a, s_udf_chain_hash, NULL,
                                        NULL, NULL);
    if (rc != SQLITE_OK)
        return db_sql_fail(err, db, rc, "%s: registering ipp_chain_hash", path);
    for (size_t i = 0; i < sizeof s_stmts / sizeof s_stmts[0]; i++) {
        sqlite3_stmt **slot = (sqlite3_stmt **)((char *)a + s_stmts[i].offset);
        rc = sqlite3_prepare_v3(db, s_stmts[i].sql, -1, SQLITE_PREPARE_PERSISTENT, slot, NULL);
        if (rc != SQLITE_OK)
            return db_sql_fail(err, db, rc, "%s: preparing the writer's statements", path);
    }
    return db_audit_head_load(db, &a->chain, err);
}

void db_apply_fini(db_apply_t *a)
{
    for (size_t i = 0; i < sizeof s_stmts / sizeof s_stmts[0]; i++) {
        sqlite3_stmt **slot = (sqlite3_stmt **)((char *)a + s_stmts[i].offset);
        sqlite3_finalize(*slot);
        *slot = NULL;
    }
    for (int i = 0; i < 4; i++)
        db_sbuf_fini(&a->js[i]);
    free(a->fold);
    a->fold = NULL;
}

ipp_err_t db_apply_begin(db_apply_t *a, db_op_t *first, size_t n, ipp_error_t *err)
{
    int rc = s_step(a->st_begin);
    if (rc != SQLITE_DONE)
        return db_sql_fail(err, a->db, rc, "%s: cannot begin a transaction", a->path);
    a->work = a->chain;
    s_fold_plan(a, first, n);
    return IPP_OK;
}

ipp_err_t db_apply_commit(db_apply_t *a, db_writer_fault_fn fault, void *fault_ctx,
                          uint64_t first_seq, uint64_t last_seq, ipp_error_t *err)
{
    int rc;
    ipp_err_t code = IPP_OK;
    if (a->work.seq != a->chain.seq) {
        sqlite3_bind_int64(a->st_head, 1, a->work.seq);
        sqlite3_bind_blob(a->st_head, 2, a->work.hash, DB_AUDIT_HASH_BYTES, SQLITE_STATIC);
        sqlite3_bind_text(a->st_head, 3, a->work.msg_id, -1, SQLITE_STATIC);
        if ((rc = s_step(a->st_head)) != SQLITE_DONE) {
            code = db_sql_fail(err, a->db, rc, "%s: saving the audit chain head", a->path);
            goto out;
        }
    }
    rc = fault ? fault(fault_ctx, first_seq, last_seq) : SQLITE_OK;
    if (rc == SQLITE_OK)
        rc = s_step(a->st_commit);
    if (rc != SQLITE_OK && rc != SQLITE_DONE) {
        code = db_sql_fail(err, NULL, rc, "%s: commit failed", a->path);
        goto out;
    }
    a->chain = a->work;
out:
    if (code)
        db_apply_rollback(a);
    return code;
}

void db_apply_rollback(db_apply_t *a)
{
    if (!sqlite3_get_autocommit(a->db))
        s_step(a->st_rollback);
}
