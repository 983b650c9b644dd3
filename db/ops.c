/* db/ops.c — building queued mutations and carving them from chunks.
 *
 * One copy routine per kind runs twice: first with no destination to
 * measure, then into the block. Owns the chunks; an op block is never
 * freed alone unless it was too big for a chunk.
 */
#include "db/ops.h"

#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#define S_CHUNK_BYTES (1u << 20)      // one chunk
#define S_BIG_OP (S_CHUNK_BYTES / 4)  // ops larger than this get their own malloc
#define S_SPARE_MAX 8                 // empty chunks kept for reuse

struct db_opchunk_t {
    db_opchunk_t *next;  // sealed list or spare list
    size_t used;         // bytes carved
    uint64_t carved;     // ops carved (mutex)
    uint64_t freed;      // ops settled (writer thread only)
    bool sealed;         // full: no more carving (mutex)
    alignas(max_align_t) unsigned char data[];
};

/* ------------------------------------------------------------ copying */

// A two-pass copier: with base NULL it only measures.
typedef struct {
    unsigned char *base;  // destination block, or NULL when measuring
    size_t off;           // bytes used so far
} s_cp_t;

static void *s_raw(s_cp_t *c, size_t n, size_t align)
{
    c->off = (c->off + align - 1) & ~(align - 1);
    void *p = c->base ? c->base + c->off : NULL;
    c->off += n;
    return p;
}

static const char *s_str(s_cp_t *c, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *p = s_raw(c, n, 1);
    if (p)
        memcpy(p, s, n);
    return p;
}

static db_blob_t s_blob(s_cp_t *c, db_blob_t b)
{
    if (!b.data)
        return (db_blob_t){NULL, 0};
    void *p = s_raw(c, b.size, 1);
    if (p && b.size)
        memcpy(p, b.data, b.size);
    return (db_blob_t){p, b.size};
}

static const char **s_strv(s_cp_t *c, const char *const *v, size_t n)
{
    if (!n)
        return NULL;
    const char **out = s_raw(c, n * sizeof *out, alignof(const char *));
    for (size_t i = 0; i < n; i++) {
        const char *s = s_str(c, v[i] ? v[i] : "");
        if (out)
            out[i] = s;
    }
    return out;
}

static const int32_t *s_ints(s_cp_t *c, const int32_t *v, size_t n)
{
    if (!n)
        return NULL;
    int32_t *out = s_raw(c, n * sizeof *out, alignof(int32_t));
    if (out)
        memcpy(out, v, n * sizeof *out);
    return out;
}

// s_bufs: the buffers framed into one blob (data NULL when n == 0).
static db_blob_t s_bufs(s_cp_t *c, const db_blob_t *v, size_t n)
{
    if (!n)
        return (db_blob_t){NULL, 0};
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += 8 + (v[i].data ? v[i].size : 0);
    uint8_t *p = s_raw(c, total, 1);
    if (p) {
        uint8_t *q = p;
        for (size_t i = 0; i < n; i++)
            q = db_buffers_frame(q, v[i].data, v[i].data ? v[i].size : 0);
    }
    return (db_blob_t){p, total};
}

static db_op_dep_t s_dep(s_cp_t *c, const db_dep_spec_t *d)
{
    db_op_dep_t out = {0};
    if (!d->n)
        return out;
    out.ids = s_strv(c, d->ids, d->n);
    out.n = d->n;
    out.flags = (d->all ? DB_DEP_ALL : 0) | (d->success ? DB_DEP_SUCCESS : 0) |
                (d->failure ? DB_DEP_FAILURE : 0);
    return out;
}

static void s_fill_insert(s_cp_t *c, db_op_t *op, const db_request_t *r)
{
    op->msg_id = s_str(c, r->msg_id);
    op->u.ins.header = s_blob(c, r->header);
    op->u.ins.content = s_blob(c, r->content);
    op->u.ins.buffers = s_bufs(c, r->buffers, r->n_buffers);
    op->u.ins.submitted = r->submitted;
    op->u.ins.client_uuid = s_str(c, r->client_uuid);
    op->u.ins.queue = s_str(c, r->queue);
    op->u.ins.label = s_str(c, r->label);
    op->u.ins.execute_input = s_str(c, r->execute_input);
    op->u.ins.after = s_dep(c, &r->after);
    op->u.ins.follow = s_dep(c, &r->follow);
    op->u.ins.timeout = r->timeout_us;
    op->u.ins.retries = r->retries;
    op->u.ins.targets = s_ints(c, r->targets, r->n_targets);
    op->u.ins.n_targets = r->n_targets;
    op->u.ins.requires = s_strv(c, r->requires, r->n_requires);
    op->u.ins.n_requires = r->n_requires;
    op->u.ins.submitted_by = s_str(c, r->submitted_by);
    op->u.ins.submitted_by_key = r->submitted_by_key;
}

static void s_fill_result(s_cp_t *c, db_op_t *op, const db_result_t *r)
{
    op->msg_id = s_str(c, r->msg_id);
    op->u.res.status = r->status;
    op->u.res.started = r->started;
    op->u.res.completed = r->completed;
    op->u.res.received = r->received;
    op->u.res.out = s_blob(c, r->stdout_data);
    op->u.res.err = s_blob(c, r->stderr_data);
    op->u.res.ename = s_str(c, r->ename);
    op->u.res.evalue = s_str(c, r->evalue);
    op->u.res.tb = s_strv(c, r->traceback, r->n_traceback);
    op->u.res.n_tb = r->n_traceback;
    op->u.res.eid = r->error_engine_id;
    op->u.res.rheader = s_blob(c, r->result_header);
    op->u.res.rcontent = s_blob(c, r->result_content);
    op->u.res.rbuffers = s_bufs(c, r->result_buffers, r->n_result_buffers);
    op->u.res.execute_result = s_str(c, r->execute_result);
}

static void s_fill_purge(s_cp_t *c, db_op_t *op, const db_purge_spec_t *p)
{
    db_purge_spec_t *d = &op->u.pur.spec;
    d->msg_ids = s_strv(c, p->msg_ids, p->n_msg_ids);
    d->n_msg_ids = p->n_msg_ids;
    d->engine_ids = s_ints(c, p->engine_ids, p->n_engine_ids);
    d->n_engine_ids = p->n_engine_ids;
    d->query_json = s_str(c, p->query_json);
    d->all_completed = p->all_completed;
    d->allow_pending = p->allow_pending;
    d->by = s_str(c, p->by);
}

static void s_fill_small(s_cp_t *c, db_op_t *op, const db_op_small_t *a)
{
    op->msg_id = s_str(c, a->msg_id);
    const char *text = s_str(c, a->text);
    switch (op->kind) {
    case DB_OP_ASSIGN:
        op->u.asg.engine_id = a->i1;
        op->u.asg.engine_uuid = text;
        op->u.asg.attempts = a->i2;
        break;
    case DB_OP_STARTED:
        op->u.sta.started = a->t;
        break;
    case DB_OP_RESUBMITTED:
        op->u.rsb.new_id = text;
        break;
    case DB_OP_KEY_SEEN:
        op->u.eng.when = a->t;
        break;
    default:  // engine up / down
        op->u.eng.id = a->i1;
        op->u.eng.hostname = text;
        op->u.eng.pid = a->i2;
        op->u.eng.when = a->t;
        break;
    }
}

static void s_fill(s_cp_t *c, db_op_t *op, db_op_kind_t kind, const void *arg)
{
    op->kind = kind;
    switch (kind) {
    case DB_OP_INSERT:
        s_fill_insert(c, op, arg);
        break;
    case DB_OP_RESULT:
        s_fill_result(c, op, arg);
        break;
    case DB_OP_PURGE:
        s_fill_purge(c, op, arg);
        break;
    default:
        s_fill_small(c, op, arg);
        break;
    }
}

size_t db_op_measure(db_op_kind_t kind, const void *arg)
{
    db_op_t scratch;
    memset(&scratch, 0, sizeof scratch);
    s_cp_t c = {NULL, sizeof(db_op_t)};
    s_fill(&c, &scratch, kind, arg);
    return (c.off + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1);
}

db_op_t *db_op_write(void *mem, db_op_kind_t kind, const void *arg)
{
    db_op_t *op = mem;
    memset(op, 0, sizeof *op);
    s_cp_t c = {mem, sizeof(db_op_t)};
    s_fill(&c, op, kind, arg);
    return op;
}

/* ------------------------------------------------------------ arena */

static void s_seal(db_oparena_t *a)
{
    db_opchunk_t *c = a->cur;
    if (!c)
        return;
    a->cur = NULL;
    c->sealed = true;
    c->next = NULL;
    if (a->sealed_tail)
        a->sealed_tail->next = c;
    else
        a->sealed_head = c;
    a->sealed_tail = c;
}

void *db_oparena_alloc(db_oparena_t *a, size_t n, db_opchunk_t **chunk)
{
    if (n > S_BIG_OP) {
        *chunk = NULL;
        return aligned_alloc(alignof(max_align_t), n);
    }
    if (a->cur && S_CHUNK_BYTES - a->cur->used < n)
        s_seal(a);
    if (!a->cur) {
        db_opchunk_t *c = a->spare;
        if (c) {
            a->spare = c->next;
            a->n_spare--;
        } else if (!(c = malloc(sizeof *c + S_CHUNK_BYTES))) {
            return NULL;
        }
        memset(c, 0, sizeof *c);
        a->cur = c;
    }
    db_opchunk_t *c = a->cur;
    void *p = c->data + c->used;
    c->used += n;
    c->carved++;
    *chunk = c;
    return p;
}

void db_op_settled(db_op_t *op)
{
    if (op->chunk)
        op->chunk->freed++;
    else
        free(op);
}

void db_oparena_reclaim(db_oparena_t *a)
{
    db_opchunk_t *c;
    while ((c = a->sealed_head) && c->freed == c->carved) {
        a->sealed_head = c->next;
        if (!a->sealed_head)
            a->sealed_tail = NULL;
        if (a->n_spare < S_SPARE_MAX) {
            c->next = a->spare;
            a->spare = c;
            a->n_spare++;
        } else {
            free(c);
        }
    }
    // A current chunk whose ops have all settled can simply start over.
    if ((c = a->cur) && c->freed == c->carved) {
        c->used = 0;
        c->carved = c->freed = 0;
    }
}

void db_oparena_fini(db_oparena_t *a)
{
    db_opchunk_t *lists[2] = {a->sealed_head, a->spare};
    for (int i = 0; i < 2; i++) {
        db_opchunk_t *c = lists[i];
        while (c) {
            db_opchunk_t *next = c->next;
            free(c);
            c = next;
        }
    }
    free(a->cur);
    memset(a, 0, sizeof *a);
}
