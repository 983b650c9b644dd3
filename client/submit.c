/* submit.c — turning calls on a view into TASK_REQUESTs.
 *
 * Owns nothing beyond one call: a submitting call checks everything first (nothing is sent for a bad argument), resolves
 * the targets, merges call flags over view flags, then sends one
 * TASK_REQUEST per task without waiting for any reply: the AsyncResult
 * learns of SUBMIT_REPLY and TASK_RESULT later, from the receive loop.
 *
 * Per task the loop allocates nothing of its own beyond what the wire
 * needs (ZeroMQ frames), and argument bytes are copied at most once:
 * buffers handed over with a free_fn are sent in place, and a buffer
 * going to several engines is shared (zmq_msg_copy counts references).
 * Every buffer handed over is released on every path, sent or not.
 */
#include "client/internal.h"

#include "proto/clock.h"

#include <stdlib.h>
#include <string.h>

// -------------------------------------------------------------- buffers

// s_release: give back the buffers a caller handed over (free_fn set).
static void s_release(const ipp_buf_t *bufs, size_t n)
{
    for (size_t i = 0; bufs && i < n; i++)
        if (bufs[i].free_fn)
            bufs[i].free_fn((void *)bufs[i].data, bufs[i].hint);
}

// s_make_msgs: frames for bufs[0..n) into out: handed-over buffers are
// wrapped, others copied. Takes the handed-over buffers whatever happens.
static ipp_err_t s_make_msgs(const ipp_buf_t *bufs, size_t n, zmq_msg_t *out, ipp_error_t *err)
{
    for (size_t i = 0; i < n; i++) {
        const ipp_buf_t *b = &bufs[i];
        int rc;
        if (b->free_fn) {
            rc = zmq_msg_init_data(&out[i], (void *)b->data, b->size, b->free_fn, b->hint);
        } else {
            rc = zmq_msg_init_size(&out[i], b->size);
            if (rc == 0 && b->size)
                memcpy(zmq_msg_data(&out[i]), b->data, b->size);
        }
        if (rc != 0) {
            for (size_t k = 0; k < i; k++)
                zmq_msg_close(&out[k]);
            s_release(bufs + i, n - i);
            return ipp_error_set(err, IPP_ERR_NOMEM, "no memory for argument %zu", i);
        }
    }
    return IPP_OK;
}

// s_close_msgs: close n frames.
static void s_close_msgs(zmq_msg_t *m, size_t n)
{
    for (size_t i = 0; m && i < n; i++)
        zmq_msg_close(&m[i]);
}

// s_bufs_ok: a buffer list is well formed.
static bool s_bufs_ok(const ipp_buf_t *bufs, size_t n)
{
    if (n && !bufs)
        return false;
    for (size_t i = 0; i < n; i++)
        if (bufs[i].size && !bufs[i].data)
            return false;
    return true;
}

// The flags in force for one call: call's where set, else the view's.
typedef struct s_eff_t {
    const cl_dep_t *after;   // NULL: none
    const cl_dep_t *follow;  // NULL: none
    int64_t timeout_us;      // 0: none
    bool has_retries;        // retries given
    int retries;             // further attempts
    const char *label;       // NULL: none
    const int *targets;      // allowed engines
    size_t n_targets;        // how many
    char **requires;         // requirements
    size_t n_requires;       // how many
} s_eff_t;

static void s_merge(const cl_flags_t *view, const cl_flags_t *call, s_eff_t *e)
{
#define PICK(bit) ((call->set & (bit)) ? call : view)
    const cl_flags_t *f = PICK(IPP_FLAG_AFTER);
    e->after = f->has_after ? &f->after : NULL;
    f = PICK(IPP_FLAG_FOLLOW);
    e->follow = f->has_follow ? &f->follow : NULL;
    e->timeout_us = PICK(IPP_FLAG_TIMEOUT)->timeout_us;
    f = PICK(IPP_FLAG_RETRIES);
    e->has_retries = (f->set & IPP_FLAG_RETRIES) != 0;
    e->retries = f->retries;
    e->label = PICK(IPP_FLAG_LABEL)->label;
    f = PICK(IPP_FLAG_TARGETS);
    e->targets = f->targets;
    e->n_targets = f->n_targets;
    f = PICK(IPP_FLAG_REQUIRES);
    e->requires = f->requires;
    e->n_requires = f->n_requires;
#undef PICK
}

// ---------------------------------------------------------- task shapes

// s_task_check: a task description is complete and consistent.
static ipp_err_t s_task_check(const ipp_task_t *t, size_t i, ipp_error_t *err)
{
    if (!t)
        return ipp_error_set(err, IPP_ERR_INVALID, "task %zu: missing", i);
    switch (t->kind) {
    case IPP_TASK_CALL:
        if (!t->function || !t->function[0])
            return ipp_error_set(err, IPP_ERR_INVALID, "task %zu: no function name", i);
        if (!s_bufs_ok(t->args, t->n_args))
            return ipp_error_set(err, IPP_ERR_INVALID, "task %zu: malformed arguments", i);
        return IPP_OK;
    case IPP_TASK_ARGV:
        if (!t->argv || !t->argv[0] || !t->argv[0][0])
            return ipp_error_set(err, IPP_ERR_INVALID, "task %zu: no program in argv", i);
        for (size_t k = 0; k < t->argc; k++)
            if (!t->argv[k])
                return ipp_error_set(err, IPP_ERR_INVALID, "task %zu: argv[%zu] is NULL", i, k);
        break;
    case IPP_TASK_SHELL:
        if (!t->shell)
            return ipp_error_set(err, IPP_ERR_INVALID, "task %zu: no shell command", i);
        break;
    default:
        return ipp_error_set(err, IPP_ERR_INVALID, "task %zu: unknown kind %d", i, (int)t->kind);
    }
    if (t->n_env && !t->env)
        return ipp_error_set(err, IPP_ERR_INVALID, "task %zu: env count without a list", i);
    for (size_t k = 0; k < t->n_env; k++)
        if (!t->env[k] || !strchr(t->env[k], '=') || t->env[k][0] == '=')
            return ipp_error_set(err, IPP_ERR_INVALID, "task %zu: env entry %zu is not NAME=VALUE",
                                 i, k);
    if (t->stdin_len && !t->stdin_data)
        return ipp_error_set(err, IPP_ERR_INVALID, "task %zu: stdin length without data", i);
    if (!(t->wall_limit >= 0))
        return ipp_error_set(err, IPP_ERR_INVALID, "task %zu: negative wall limit", i);
    return IPP_OK;
}

// Storage the protobuf structs of one task point into, until it is packed.
typedef struct s_scratch_t {
    Ipp__Call call;          // CALL
    Ipp__Command cmd;        // ARGV/SHELL
    Ipp__NamespaceOp ns;     // namespace ops
    Ipp__EnvVar *envs;       // env entries (allocated)
    Ipp__EnvVar **env_ptrs;  // pointers to them (allocated)
    char *names;             // their names (allocated)
} s_scratch_t;

static void s_scratch_fini(s_scratch_t *sc)
{
    free(sc->envs);
    free(sc->env_ptrs);
    free(sc->names);
    sc->envs = NULL;
    sc->env_ptrs = NULL;
    sc->names = NULL;
}

// s_fill_kind: the kind part of req for task t (strings borrowed from t).
static ipp_err_t s_fill_kind(const ipp_task_t *t, Ipp__TaskRequest *req, s_scratch_t *sc,
                             ipp_error_t *err)
{
    if (t->kind == IPP_TASK_CALL) {
        sc->call = (Ipp__Call)IPP__CALL__INIT;
        sc->call.function = (char *)t->function;
        if (t->wall_limit > 0) {
            sc->call.has_wall_limit_us = 1;
            sc->call.wall_limit_us = cl_timeout_us(t->wall_limit);
        }
        req->kind_case = IPP__TASK_REQUEST__KIND_CALL;
        req->call = &sc->call;
        return IPP_OK;
    }
    sc->cmd = (Ipp__Command)IPP__COMMAND__INIT;
    if (t->kind == IPP_TASK_ARGV) {
        size_t argc = t->argc;
        if (!argc)
            while (t->argv[argc])
                argc++;
        sc->cmd.n_argv = argc;
        sc->cmd.argv = (char **)t->argv;
    } else {
        sc->cmd.shell = (char *)t->shell;
    }
    if (t->n_env) {
        size_t names = 0;
        for (size_t k = 0; k < t->n_env; k++)
            names += (size_t)(strchr(t->env[k], '=') - t->env[k]) + 1;
        sc->envs = calloc(t->n_env, sizeof *sc->envs);
        sc->env_ptrs = calloc(t->n_env, sizeof *sc->env_ptrs);
        sc->names = malloc(names);
        if (!sc->envs || !sc->env_ptrs || !sc->names) {
            s_scratch_fini(sc);
            return ipp_error_set(err, IPP_ERR_NOMEM, "env: out of memory");
        }
        char *at = sc->names;
        for (size_t k = 0; k < t->n_env; k++) {
            const char *eq = strchr(t->env[k], '=');
            size_t len = (size_t)(eq - t->env[k]);
            memcpy(at, t->env[k], len);
            at[len] = '\0';
            sc->envs[k] = (Ipp__EnvVar)IPP__ENV_VAR__INIT;
            sc->envs[k].name = at;
            sc->envs[k].value = (char *)eq + 1;
            sc->env_ptrs[k] = &sc->envs[k];
            at += len + 1;
        }
        sc->cmd.n_env = t->n_env;
        sc->cmd.env = sc->env_ptrs;
    }
    sc->cmd.cwd = (char *)t->cwd;
    if (t->stdin_len) {
        sc->cmd.has_stdin_data = 1;
        sc->cmd.stdin_data.data = (uint8_t *)t->stdin_data;
        sc->cmd.stdin_data.len = t->stdin_len;
    }
    if (t->wall_limit > 0) {
        sc->cmd.has_wall_limit_us = 1;
        sc->cmd.wall_limit_us = cl_timeout_us(t->wall_limit);
    }
    req->kind_case = IPP__TASK_REQUEST__KIND_COMMAND;
    req->command = &sc->cmd;
    return IPP_OK;
}

// s_fill_ns: a namespace operation as req's kind.
static void s_fill_ns(Ipp__NamespaceOp__Op op, const char *const *keys, size_t n,
                      Ipp__TaskRequest *req, s_scratch_t *sc)
{
    sc->ns = (Ipp__NamespaceOp)IPP__NAMESPACE_OP__INIT;
    sc->ns.has_op = 1;
    sc->ns.op = op;
    sc->ns.n_keys = n;
    sc->ns.keys = (char **)keys;
    req->kind_case = IPP__TASK_REQUEST__KIND_NS;
    req->ns = &sc->ns;
}

// ----------------------------------------------------------- submission

// How the tasks of one call get their kind and buffers.
typedef enum {
    S_SAME,   // every task the same: task (or ns op) and shared frames
    S_ITEMS,  // map: function, args_per_item buffers per task
    S_TASKS,  // map over task descriptions
    S_PARTS,  // scatter: a push of one prepared frame per task
} s_mode_t;

typedef struct s_src_t {
    s_mode_t mode;            // which of the above
    const ipp_task_t *task;   // S_SAME with a task; S_TASKS: the array
    bool ns;                  // S_SAME/S_PARTS: a namespace op instead of a task
    Ipp__NamespaceOp__Op op;  // which
    const char *const *keys;  // its keys
    size_t n_keys;            // how many
    zmq_msg_t *shared;        // S_SAME: frames each task gets a reference to
    size_t n_shared;          // how many
    const char *function;     // S_ITEMS
    const ipp_buf_t *items;   // S_ITEMS: n * k buffers
    size_t k;                 // S_ITEMS: buffers per task
    zmq_msg_t *parts;         // S_PARTS: one frame per task (moved out when sent)
} s_src_t;

// s_skip: task j will not be sent: release what it owns.
static void s_skip(s_src_t *src, size_t j)
{
    switch (src->mode) {
    case S_ITEMS:
        s_release(src->items + j * src->k, src->k);
        break;
    case S_TASKS:
        if (src->task[j].kind == IPP_TASK_CALL)
            s_release(src->task[j].args, src->task[j].n_args);
        break;
    case S_PARTS:
        zmq_msg_close(&src->parts[j]);
        break;
    case S_SAME:
        break;
    }
}

// s_fill: kind and frames of task j. *bufs points at frames the send will
// take (in *own when allocated here). Takes task j's handed-over buffers.
static ipp_err_t s_fill(s_src_t *src, size_t j, Ipp__TaskRequest *req, s_scratch_t *sc,
                        zmq_msg_t *small, size_t n_small, zmq_msg_t **own, zmq_msg_t **bufs,
                        size_t *n_bufs, ipp_error_t *err)
{
    *own = NULL;
    *bufs = NULL;
    *n_bufs = 0;
    const ipp_buf_t *args = NULL;
    size_t n_args = 0;
    switch (src->mode) {
    case S_SAME:
        if (src->ns)
            s_fill_ns(src->op, src->keys, src->n_keys, req, sc);
        else if (s_fill_kind(src->task, req, sc, err) != IPP_OK)
            return err->code;
        if (src->n_shared) {
            zmq_msg_t *m = src->n_shared <= n_small ? small : malloc(src->n_shared * sizeof *m);
            if (!m)
                return ipp_error_set(err, IPP_ERR_NOMEM, "out of memory");
            if (m != small)
                *own = m;
            for (size_t i = 0; i < src->n_shared; i++) {
                zmq_msg_init(&m[i]);
                zmq_msg_copy(&m[i], &src->shared[i]);
            }
            *bufs = m;
            *n_bufs = src->n_shared;
        }
        return IPP_OK;
    case S_PARTS:
        s_fill_ns(src->op, src->keys, src->n_keys, req, sc);
        *bufs = &src->parts[j];
        *n_bufs = 1;
        return IPP_OK;
    case S_ITEMS:
        sc->call = (Ipp__Call)IPP__CALL__INIT;
        sc->call.function = (char *)src->function;
        req->kind_case = IPP__TASK_REQUEST__KIND_CALL;
        req->call = &sc->call;
        args = src->items + j * src->k;
        n_args = src->k;
        break;
    case S_TASKS:
        if (s_fill_kind(&src->task[j], req, sc, err) != IPP_OK) {
            s_skip(src, j);
            return err->code;
        }
        if (src->task[j].kind == IPP_TASK_CALL) {
            args = src->task[j].args;
            n_args = src->task[j].n_args;
        }
        break;
    }
    if (!n_args)
        return IPP_OK;
    zmq_msg_t *m = n_args <= n_small ? small : malloc(n_args * sizeof *m);
    if (!m) {
        s_release(args, n_args);
        return ipp_error_set(err, IPP_ERR_NOMEM, "out of memory");
    }
    if (m != small)
        *own = m;
    ipp_err_t rc = s_make_msgs(args, n_args, m, err);
    if (rc != IPP_OK) {
        free(*own);
        *own = NULL;
        return rc;
    }
    *bufs = m;
    *n_bufs = n_args;
    return IPP_OK;
}

// s_dep_pb: a dependency as protobuf (ids borrowed).
static void s_dep_pb(const cl_dep_t *d, Ipp__Dependency *pb)
{
    *pb = (Ipp__Dependency)IPP__DEPENDENCY__INIT;
    pb->n_ids = d->n;
    pb->ids = d->ids;
    pb->has_all = 1;
    pb->all = d->all;
    pb->has_success = 1;
    pb->success = d->success;
    pb->has_failure = 1;
    pb->failure = d->failure;
}

// s_ar_flags: record the flags every task got on the AsyncResult.
static void s_ar_flags(ipp_ar_t *ar, const s_eff_t *e)
{
    if (e->after && e->after->n) {
        ar->after = cl_strv_dup(e->after->ids, e->after->n);
        ar->n_after = ar->after ? e->after->n : 0;
    }
    if (e->follow && e->follow->n) {
        ar->follow = cl_strv_dup(e->follow->ids, e->follow->n);
        ar->n_follow = ar->follow ? e->follow->n : 0;
    }
    ar->label = cl_strdup_or_null(e->label);
}

// s_run: send n tasks; task j goes to engine engine_of[j] (a DirectView's
// mux queue) or, with engine_of NULL, to the scheduler. src says what
// each task is. Always consumes src's handed-over buffers.
static ipp_ar_t *s_run(ipp_view_t *v, const cl_flags_t *callf, size_t n, const int *engine_of,
                       s_src_t *src, ipp_error_t *err)
{
    ipp_client_t *c = v->client;
    s_eff_t e;
    s_merge(&v->flags, callf, &e);
    ipp_ar_t *ar = cl_ar_new(c, n, false);
    if (!ar) {
        for (size_t j = 0; j < n; j++)
            s_skip(src, j);
        ipp_error_set(err, IPP_ERR_NOMEM, "submit: no memory for %zu tasks", n);
        return NULL;
    }
    s_ar_flags(ar, &e);

    Ipp__TaskRequest base = IPP__TASK_REQUEST__INIT;
    Ipp__Dependency after, follow;
    base.has_queue = 1;
    base.queue = engine_of ? IPP__QUEUE__QUEUE_MUX : IPP__QUEUE__QUEUE_TASK;
    if (!engine_of) {
        base.n_targets = e.n_targets;
        base.targets = (int32_t *)e.targets;
        if (e.after) {
            s_dep_pb(e.after, &after);
            base.after = &after;
        }
        if (e.follow) {
            s_dep_pb(e.follow, &follow);
            base.follow = &follow;
        }
        if (e.timeout_us > 0) {
            base.has_timeout_us = 1;
            base.timeout_us = e.timeout_us;
        }
        if (e.has_retries) {
            base.has_retries = 1;
            base.retries = e.retries;
        }
        base.n_requires = e.n_requires;
        base.requires = e.requires;
    }
    base.label = (char *)e.label;

    ipp_error_t send_err;
    ipp_error_clear(&send_err);
    bool broken = false;  // sending failed: the rest are refused unsent
    for (size_t j = 0; j < n; j++) {
        cl_task_t *t = &ar->tasks[j];
        wire_session_new_id(c->ws, t->msg_id);
        if (broken) {
            s_skip(src, j);
            cl_task_fail(c, t, IPP_STATUS_REFUSED, send_err.code, "SendError", send_err.msg);
            continue;
        }
        Ipp__TaskRequest req = base;
        int32_t target;
        if (engine_of) {
            target = engine_of[j];
            req.n_targets = 1;
            req.targets = &target;
        }
        s_scratch_t sc;
        memset(&sc, 0, sizeof sc);
        zmq_msg_t small[4];
        zmq_msg_t *own = NULL, *bufs = NULL;
        size_t nb = 0;
        ipp_error_t e2;
        if (s_fill(src, j, &req, &sc, small, 4, &own, &bufs, &nb, &e2) != IPP_OK) {
            cl_task_fail(c, t, IPP_STATUS_REFUSED, e2.code, "SubmitError", e2.msg);
            continue;
        }
        if (cl_index_add(&c->index, t) != IPP_OK) {
            s_close_msgs(bufs, nb);
            free(own);
            s_scratch_fini(&sc);
            cl_task_fail(c, t, IPP_STATUS_REFUSED, IPP_ERR_NOMEM, "MemoryError",
                         "no memory to track the task");
            continue;
        }
        t->submitted = ipp_clock_now_us();
        ipp_err_t rc = cl_send(c, IPP__MSG_TYPE__TASK_REQUEST, &req.base, bufs, nb, t->msg_id, NULL,
                               &send_err);
        free(own);
        s_scratch_fini(&sc);
        if (rc != IPP_OK) {
            broken = true;
            cl_task_fail(c, t, IPP_STATUS_REFUSED, send_err.code, "SendError", send_err.msg);
            continue;
        }
        cl_maybe_drain(c);
    }
    return ar;
}

// s_call_prep: the checks every submitting call shares, the call's flags
// copied, and the engines a DirectView targets now (*targets owned by the
// caller; NULL for a LoadBalancedView).
static ipp_err_t s_call_prep(ipp_view_t *v, const ipp_flags_t *flags, const char *what,
                             cl_flags_t *callf, int **targets, size_t *n_targets, ipp_error_t *err)
{
    memset(callf, 0, sizeof *callf);
    *targets = NULL;
    *n_targets = 0;
    if (!v)
        return ipp_error_set(err, IPP_ERR_INVALID, "%s: no view", what);
    if (!v->client)
        return ipp_error_set(err, IPP_ERR_CLOSED, "%s: the client is gone", what);
    ipp_err_t rc = cl_direct_flags_ok(v, flags ? flags->set : 0, err);
    if (rc == IPP_OK)
        rc = cl_flags_copy(flags, callf, err);
    if (rc != IPP_OK || !v->direct)
        return rc;
    size_t n = v->all ? ipp_client_ids(v->client, NULL, 0) : v->n_targets;
    if (!n)
        return ipp_error_set(err, IPP_ERR_NO_ENGINES, "%s: no engines registered", what);
    *targets = malloc(n * sizeof **targets);
    if (!*targets)
        return ipp_error_set(err, IPP_ERR_NOMEM, "%s: out of memory", what);
    if (v->all)
        ipp_client_ids(v->client, *targets, n);
    else
        memcpy(*targets, v->targets, n * sizeof **targets);
    *n_targets = n;
    return IPP_OK;
}

// s_same: the apply pattern: one task description (or ns op), every
// target of a DirectView or one scheduled task. shared_in are the
// argument buffers (handed-over ones taken whatever happens).
static ipp_ar_t *s_same(ipp_view_t *v, const ipp_flags_t *flags, const char *what, s_src_t *src,
                        const ipp_buf_t *shared_in, size_t n_shared, ipp_error_t *err)
{
    cl_flags_t callf;
    int *targets = NULL;
    size_t nt = 0;
    ipp_ar_t *ar = NULL;
    zmq_msg_t *shared = NULL;
    if (s_call_prep(v, flags, what, &callf, &targets, &nt, err) != IPP_OK) {
        s_release(shared_in, n_shared);
        goto out;
    }
    if (n_shared) {
        shared = malloc(n_shared * sizeof *shared);
        if (!shared) {
            s_release(shared_in, n_shared);
            ipp_error_set(err, IPP_ERR_NOMEM, "%s: out of memory", what);
            goto out;
        }
        if (s_make_msgs(shared_in, n_shared, shared, err) != IPP_OK) {
            free(shared);
            shared = NULL;
            goto out;
        }
    }
    src->mode = S_SAME;
    src->shared = shared;
    src->n_shared = n_shared;
    ar = s_run(v, &callf, v->direct ? nt : 1, v->direct ? targets : NULL, src, err);
out:
    if (shared) {
        s_close_msgs(shared, n_shared);
        free(shared);
    }
    free(targets);
    cl_flags_fini(&callf);
    return ar;
}

// s_spread: engine_of for n tasks split over targets as ipp_partition
// splits items. NULL when out of memory.
static int *s_spread(const int *targets, size_t nt, size_t n)
{
    int *engine_of = malloc((n ? n : 1) * sizeof *engine_of);
    if (!engine_of)
        return NULL;
    for (size_t p = 0; p < nt; p++) {
        size_t lo, hi;
        ipp_partition(n, nt, p, &lo, &hi);
        for (size_t i = lo; i < hi; i++)
            engine_of[i] = targets[p];
    }
    return engine_of;
}

// s_each: the map pattern: task j from src, spread over a DirectView's
// targets or scheduled one by one.
static ipp_ar_t *s_each(ipp_view_t *v, const ipp_flags_t *flags, const char *what, size_t n,
                        s_src_t *src, ipp_error_t *err)
{
    cl_flags_t callf;
    int *targets = NULL, *engine_of = NULL;
    size_t nt = 0;
    ipp_ar_t *ar = NULL;
    if (s_call_prep(v, flags, what, &callf, &targets, &nt, err) != IPP_OK) {
        for (size_t j = 0; j < n; j++)
            s_skip(src, j);
        goto out;
    }
    if (v->direct && !(engine_of = s_spread(targets, nt, n))) {
        for (size_t j = 0; j < n; j++)
            s_skip(src, j);
        ipp_error_set(err, IPP_ERR_NOMEM, "%s: out of memory", what);
        goto out;
    }
    ar = s_run(v, &callf, n, engine_of, src, err);
out:
    free(engine_of);
    free(targets);
    cl_flags_fini(&callf);
    return ar;
}

// ------------------------------------------------------------ the calls

ipp_ar_t *ipp_view_submit(ipp_view_t *v, const ipp_task_t *task, const ipp_flags_t *flags,
                          ipp_error_t *err)
{
    if (s_task_check(task, 0, err) != IPP_OK) {
        if (task && task->kind == IPP_TASK_CALL && s_bufs_ok(task->args, task->n_args))
            s_release(task->args, task->n_args);
        return NULL;
    }
    s_src_t src;
    memset(&src, 0, sizeof src);
    src.task = task;
    bool call = task->kind == IPP_TASK_CALL;
    return s_same(v, flags, "submit", &src, call ? task->args : NULL, call ? task->n_args : 0, err);
}

ipp_ar_t *ipp_view_apply(ipp_view_t *v, const char *function, const ipp_buf_t *args, size_t n_args,
                         const ipp_flags_t *flags, ipp_error_t *err)
{
    ipp_task_t t;
    memset(&t, 0, sizeof t);
    t.kind = IPP_TASK_CALL;
    t.function = function;
    t.args = args;
    t.n_args = n_args;
    return ipp_view_submit(v, &t, flags, err);
}

ipp_ar_t *ipp_view_execute(ipp_view_t *v, const char *shell, const ipp_flags_t *flags,
                           ipp_error_t *err)
{
    ipp_task_t t;
    memset(&t, 0, sizeof t);
    t.kind = IPP_TASK_SHELL;
    t.shell = shell;
    return ipp_view_submit(v, &t, flags, err);
}

ipp_ar_t *ipp_view_run(ipp_view_t *v, const char *const *argv, const ipp_flags_t *flags,
                       ipp_error_t *err)
{
    ipp_task_t t;
    memset(&t, 0, sizeof t);
    t.kind = IPP_TASK_ARGV;
    t.argv = argv;
    return ipp_view_submit(v, &t, flags, err);
}

ipp_ar_t *ipp_view_map(ipp_view_t *v, const char *function, const ipp_buf_t *items, size_t n_items,
                       size_t args_per_item, const ipp_flags_t *flags, ipp_error_t *err)
{
    bool bufs_ok = args_per_item && n_items <= SIZE_MAX / args_per_item &&
                   s_bufs_ok(items, n_items * args_per_item);
    if (!function || !function[0] || !bufs_ok) {
        if (bufs_ok)
            s_release(items, n_items * args_per_item);
        ipp_error_set(err, IPP_ERR_INVALID, "map: %s",
                      bufs_ok ? "no function name"
                              : "malformed items (args_per_item must be at least 1)");
        return NULL;
    }
    s_src_t src;
    memset(&src, 0, sizeof src);
    src.mode = S_ITEMS;
    src.function = function;
    src.items = items;
    src.k = args_per_item;
    return s_each(v, flags, "map", n_items, &src, err);
}

ipp_ar_t *ipp_view_map_tasks(ipp_view_t *v, const ipp_task_t *tasks, size_t n,
                             const ipp_flags_t *flags, ipp_error_t *err)
{
    if (n && !tasks) {
        ipp_error_set(err, IPP_ERR_INVALID, "map_tasks: a count without tasks");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if (s_task_check(&tasks[i], i, err) != IPP_OK) {
            for (size_t k = 0; k < n; k++)
                if (tasks[k].kind == IPP_TASK_CALL && s_bufs_ok(tasks[k].args, tasks[k].n_args))
                    s_release(tasks[k].args, tasks[k].n_args);
            return NULL;
        }
    }
    s_src_t src;
    memset(&src, 0, sizeof src);
    src.mode = S_TASKS;
    src.task = tasks;
    return s_each(v, flags, "map_tasks", n, &src, err);
}

// s_direct_only: namespace operations need a DirectView.
static bool s_direct_only(const ipp_view_t *v, const char *what, ipp_error_t *err)
{
    if (v && !v->direct) {
        ipp_error_set(err, IPP_ERR_INVALID,
                      "%s: a LoadBalancedView cannot know where data lives; use a DirectView",
                      what);
        return false;
    }
    return true;
}

// s_keys_ok: n non-empty keys.
static bool s_keys_ok(const char *const *keys, size_t n)
{
    if (!n || !keys)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!keys[i] || !keys[i][0])
            return false;
    return true;
}

ipp_ar_t *ipp_view_push(ipp_view_t *v, const char *const *keys, const ipp_buf_t *values, size_t n,
                        const ipp_flags_t *flags, ipp_error_t *err)
{
    bool bufs_ok = s_bufs_ok(values, n);
    bool ok = s_direct_only(v, "push", err);
    if (ok && (!s_keys_ok(keys, n) || !bufs_ok)) {
        ipp_error_set(err, IPP_ERR_INVALID, "push: give n non-empty keys and n values");
        ok = false;
    }
    if (!ok) {
        if (bufs_ok)
            s_release(values, n);
        return NULL;
    }
    s_src_t src;
    memset(&src, 0, sizeof src);
    src.ns = true;
    src.op = IPP__NAMESPACE_OP__OP__PUSH;
    src.keys = keys;
    src.n_keys = n;
    return s_same(v, flags, "push", &src, values, n, err);
}

ipp_ar_t *ipp_view_pull(ipp_view_t *v, const char *const *keys, size_t n, const ipp_flags_t *flags,
                        ipp_error_t *err)
{
    if (!s_direct_only(v, "pull", err))
        return NULL;
    if (!s_keys_ok(keys, n)) {
        ipp_error_set(err, IPP_ERR_INVALID, "pull: give at least one non-empty key");
        return NULL;
    }
    s_src_t src;
    memset(&src, 0, sizeof src);
    src.ns = true;
    src.op = IPP__NAMESPACE_OP__OP__PULL;
    src.keys = keys;
    src.n_keys = n;
    return s_same(v, flags, "pull", &src, NULL, 0, err);
}

ipp_ar_t *ipp_view_clear_namespace(ipp_view_t *v, const ipp_flags_t *flags, ipp_error_t *err)
{
    if (!s_direct_only(v, "clear_namespace", err))
        return NULL;
    s_src_t src;
    memset(&src, 0, sizeof src);
    src.ns = true;
    src.op = IPP__NAMESPACE_OP__OP__CLEAR;
    return s_same(v, flags, "clear_namespace", &src, NULL, 0, err);
}

void ipp_partition(size_t n, size_t parts, size_t p, size_t *lo, size_t *hi)
{
    size_t a = 0, b = 0;
    if (parts && p < parts) {
        size_t base = n / parts, extra = n % parts;
        if (p < extra) {
            a = p * (base + 1);
            b = a + base + 1;
        } else {
            a = extra * (base + 1) + (p - extra) * base;
            b = a + base;
        }
    }
    if (lo)
        *lo = a;
    if (hi)
        *hi = b;
}

ipp_ar_t *ipp_view_scatter(ipp_view_t *v, const char *key, const ipp_buf_t *items, size_t n_items,
                           const ipp_flags_t *flags, ipp_error_t *err)
{
    bool bufs_ok = s_bufs_ok(items, n_items);
    cl_flags_t callf;
    int *targets = NULL;
    size_t nt = 0;
    zmq_msg_t *parts = NULL;
    ipp_ar_t *ar = NULL;
    memset(&callf, 0, sizeof callf);
    bool ok = s_direct_only(v, "scatter", err);
    if (ok && (!bufs_ok || !key || !key[0])) {
        ipp_error_set(err, IPP_ERR_INVALID, "scatter: give a non-empty key and the items");
        ok = false;
    }
    if (!ok) {
        if (bufs_ok)
            s_release(items, n_items);
        return NULL;
    }
    if (s_call_prep(v, flags, "scatter", &callf, &targets, &nt, err) != IPP_OK) {
        s_release(items, n_items);
        goto out;
    }
    // Each part is one frame: its items' bytes back to back (one copy).
    parts = calloc(nt, sizeof *parts);
    if (!parts) {
        s_release(items, n_items);
        ipp_error_set(err, IPP_ERR_NOMEM, "scatter: out of memory");
        goto out;
    }
    for (size_t p = 0; p < nt; p++) {
        size_t lo, hi, size = 0;
        ipp_partition(n_items, nt, p, &lo, &hi);
        for (size_t i = lo; i < hi; i++)
            size += items[i].size;
        if (zmq_msg_init_size(&parts[p], size) != 0) {
            s_close_msgs(parts, p);
            free(parts);
            parts = NULL;
            s_release(items, n_items);
            ipp_error_set(err, IPP_ERR_NOMEM, "scatter: no memory for %zu bytes", size);
            goto out;
        }
        char *at = zmq_msg_data(&parts[p]);
        for (size_t i = lo; i < hi; i++) {
            if (items[i].size)
                memcpy(at, items[i].data, items[i].size);
            at += items[i].size;
        }
    }
    s_release(items, n_items);
    s_src_t src;
    memset(&src, 0, sizeof src);
    src.mode = S_PARTS;
    src.op = IPP__NAMESPACE_OP__OP__PUSH;
    src.keys = &key;
    src.n_keys = 1;
    src.parts = parts;
    // Each part frame is moved into its message (or closed) by s_run.
    ar = s_run(v, &callf, nt, targets, &src, err);
out:
    free(parts);
    free(targets);
    cl_flags_fini(&callf);
    return ar;
}

ipp_ar_t *ipp_view_gather(ipp_view_t *v, const char *key, const ipp_flags_t *flags,
                          ipp_error_t *err)
{
    if (!key || !key[0]) {
        ipp_error_set(err, IPP_ERR_INVALID, "gather: no key");
        return NULL;
    }
    return ipp_view_pull(v, &key, 1, flags, err);
}
