/* result.c — AsyncResult: a call's tasks, their lifecycle, their outcomes,
 * their callbacks. Reading them is arinfo.c's, waiting on them wait.c's.
 *
 * Owns each task's result frames (moved, not copied, out of the received
 * messages), its strings (stdout, stderr, error, uuid, label, dependency
 * ids) and the done callbacks. Tasks are filled by the client's receive
 * loop through cl_task_take_result / cl_task_take_record / cl_task_fail,
 * and every outcome ends in cl_task_finish, the one place that updates
 * counts, the index and the completion order.
 *
 * Never blocks, and never calls a callback while a
 * message is half handled: callbacks wait on the client's ready queue until
 * the receive loop is done with its input.
 */
#include "client/internal.h"

#include "proto/clock.h"
#include "proto/grow.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *ipp_status_name(int status)
{
    switch (status) {
    case IPP_STATUS_PENDING:
        return "pending";
    case IPP_STATUS_OK:
        return "ok";
    case IPP_STATUS_ERROR:
        return "error";
    case IPP_STATUS_ABORTED:
        return "aborted";
    case IPP_STATUS_UNREACHABLE:
        return "unreachable";
    case IPP_STATUS_LOST:
        return "lost";
    case IPP_STATUS_UNKNOWN:
        return "unknown";
    case IPP_STATUS_REFUSED:
        return "refused";
    default:
        return "invalid";
    }
}

// ------------------------------------------------------------ lifecycle

ipp_ar_t *cl_ar_new(ipp_client_t *c, size_t n, bool hub)
{
    if (n > UINT32_MAX)
        return NULL;
    ipp_ar_t *ar = calloc(1, sizeof *ar);
    if (!ar)
        return NULL;
    ar->tasks = calloc(n ? n : 1, sizeof *ar->tasks);
    ar->order = malloc((n ? n : 1) * sizeof *ar->order);
    if (!ar->tasks || !ar->order) {
        free(ar->tasks);
        free(ar->order);
        free(ar);
        return NULL;
    }
    ar->n = n;
    ar->hub = hub;
    for (size_t i = 0; i < n; i++) {
        cl_task_t *t = &ar->tasks[i];
        t->status = IPP_STATUS_PENDING;
        t->engine_id = -1;
        t->index = (uint32_t)i;
        t->hub = hub;
        t->ar = ar;
    }
    ar->client = c;
    ar->next = c->ars;
    if (c->ars)
        c->ars->prev = ar;
    c->ars = ar;
    c->n_outstanding += n;
    return ar;
}

// s_queue_remove: take ar off its client's ready queue.
static void s_queue_remove(ipp_client_t *c, ipp_ar_t *ar)
{
    if (!ar->cb_queued)
        return;
    ipp_ar_t *prev = NULL;
    for (ipp_ar_t *p = c->cb_head; p; prev = p, p = p->cb_next) {
        if (p != ar)
            continue;
        if (prev)
            prev->cb_next = p->cb_next;
        else
            c->cb_head = p->cb_next;
        if (c->cb_tail == ar)
            c->cb_tail = prev;
        break;
    }
    ar->cb_next = NULL;
    ar->cb_queued = false;
}

// s_unlink: take ar out of its client: list, queue, index, subscriptions.
static void s_unlink(ipp_ar_t *ar, bool client_going)
{
    ipp_client_t *c = ar->client;
    if (!c)
        return;
    s_queue_remove(c, ar);
    if (ar->prev)
        ar->prev->next = ar->next;
    else
        c->ars = ar->next;
    if (ar->next)
        ar->next->prev = ar->prev;
    ar->prev = ar->next = NULL;
    for (size_t i = 0; i < ar->n; i++) {
        cl_task_t *t = &ar->tasks[i];
        if (t->done)
            continue;
        if (!client_going) {
            cl_index_remove(&c->index, t);
            if (t->subscribed)
                cl_subscribe_done(c, t->msg_id, false);
        }
        t->indexed = 0;
        t->subscribed = 0;
        c->n_outstanding--;
    }
    ar->client = NULL;
}

void cl_ar_detach(ipp_ar_t *ar)
{
    s_unlink(ar, true);
}

static void s_extra_free(cl_extra_t *x)
{
    if (!x)
        return;
    free(x->stdout_data);
    free(x->stderr_data);
    free(x->engine_uuid);
    free(x->label);
    free(x->summary);
    free((char *)x->error.ename);
    free((char *)x->error.evalue);
    cl_strv_free((char **)x->error.traceback, x->error.n_traceback);
    cl_strv_free(x->after, x->n_after);
    cl_strv_free(x->follow, x->n_follow);
    free(x);
}

static void s_bufs_free(cl_bufs_t *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->n; i++)
        zmq_msg_close(&b->msgs[i]);
    free(b);
}

// cl_ar_free: see internal.h.
void cl_ar_free(ipp_ar_t *ar)
{
    for (size_t i = 0; i < ar->n; i++) {
        s_bufs_free(ar->tasks[i].bufs);
        s_extra_free(ar->tasks[i].extra);
    }
    free(ar->tasks);
    free(ar->order);
    cl_strv_free(ar->after, ar->n_after);
    cl_strv_free(ar->follow, ar->n_follow);
    free(ar->label);
    free(ar->cbs);
    free(ar);
}

void ipp_ar_destroy(ipp_ar_t **ar_p)
{
    if (!ar_p || !*ar_p)
        return;
    ipp_ar_t *ar = *ar_p;
    *ar_p = NULL;
    if (ar->zombie)
        return;
    s_unlink(ar, false);
    if (ar->firing || ar->waiters) {
        // Called from a callback while this result's callbacks run or a
        // wait on it spins: free once they return.
        ar->zombie = true;
        return;
    }
    cl_ar_free(ar);
}

// ------------------------------------------------------------- outcomes

// s_extra: t's extra part, made on first use; NULL when out of memory.
static cl_extra_t *s_extra(cl_task_t *t)
{
    if (!t->extra) {
        t->extra = calloc(1, sizeof *t->extra);
        if (t->extra)
            t->extra->exit_status = -1;
    }
    return t->extra;
}

// s_code_of: the error code a failed status stands for.
static ipp_err_t s_code_of(ipp_status_t st)
{
    switch (st) {
    case IPP_STATUS_ABORTED:
        return IPP_ERR_ABORTED;
    case IPP_STATUS_UNREACHABLE:
        return IPP_ERR_UNREACHABLE;
    case IPP_STATUS_LOST:
        return IPP_ERR_ENGINE;
    case IPP_STATUS_UNKNOWN:
        return IPP_ERR_NOT_FOUND;
    default:
        return IPP_ERR_REMOTE;
    }
}

// s_ename_of: the name IPython Parallel gives a failure of this status.
static const char *s_ename_of(ipp_status_t st)
{
    switch (st) {
    case IPP_STATUS_ABORTED:
        return "TaskAborted";
    case IPP_STATUS_UNREACHABLE:
        return "ImpossibleDependency";
    case IPP_STATUS_LOST:
        return "EngineError";
    case IPP_STATUS_UNKNOWN:
        return "KeyError";
    case IPP_STATUS_REFUSED:
        return "SubmitRefused";
    default:
        return "RemoteError";
    }
}

// s_set_error: give t a RemoteError (strings copied). re may be NULL.
static void s_set_error(ipp_client_t *c, cl_task_t *t, ipp_status_t st, ipp_err_t code,
                        const char *ename, const char *evalue, char *const *tb, size_t n_tb,
                        int engine_id)
{
    cl_extra_t *x = s_extra(t);
    if (!x) {
        if (c)
            IPP_LOGE(&c->log, "client: no memory for the error of task %s", t->msg_id);
        return;
    }
    free((char *)x->error.ename);
    free((char *)x->error.evalue);
    cl_strv_free((char **)x->error.traceback, x->error.n_traceback);
    memset(&x->error, 0, sizeof x->error);
    x->error.msg_id = t->msg_id;
    x->error.ename = strdup(ename && ename[0] ? ename : s_ename_of(st));
    x->error.evalue = strdup(evalue ? evalue : "");
    x->error.traceback = (const char *const *)cl_strv_dup(tb, n_tb);
    x->error.n_traceback = x->error.traceback ? n_tb : 0;
    x->error.engine_id = engine_id;
    x->error.status = st;
    x->error.code = code;
    x->has_error = x->error.ename && x->error.evalue;
}

void cl_task_finish(ipp_client_t *c, cl_task_t *t)
{
    if (t->done)
        return;
    t->done = 1;
    ipp_ar_t *ar = t->ar;
    if (c && ar->client == c) {
        cl_index_remove(&c->index, t);
        if (t->subscribed)
            cl_subscribe_done(c, t->msg_id, false);
        t->subscribed = 0;
        c->n_outstanding--;
    }
    ar->order[ar->n_done++] = t->index;
    if (ar->n_done == ar->n && ar->cbs_fired < ar->n_cbs && !ar->cb_queued && c &&
        ar->client == c) {
        ar->cb_queued = true;
        ar->cb_next = NULL;
        if (c->cb_tail)
            c->cb_tail->cb_next = ar;
        else
            c->cb_head = ar;
        c->cb_tail = ar;
    }
}

void cl_task_fail(ipp_client_t *c, cl_task_t *t, ipp_status_t st, ipp_err_t code, const char *ename,
                  const char *evalue)
{
    if (t->done)
        return;
    t->status = (uint8_t)st;
    t->received = ipp_clock_now_us();
    s_set_error(c, t, st, code, ename, evalue, NULL, 0, -1);
    cl_task_finish(c, t);
}

// s_status: a wire Status as the client's (anything unexpected is ERROR).
static ipp_status_t s_status(bool has, int st, bool has_error)
{
    if (!has || st == IPP__STATUS__STATUS_UNSPECIFIED || st == IPP__STATUS__PENDING)
        return has_error ? IPP_STATUS_ERROR : IPP_STATUS_OK;
    if (st >= IPP__STATUS__OK && st <= IPP__STATUS__UNKNOWN)
        return (ipp_status_t)st;
    return IPP_STATUS_ERROR;
}

// s_take_bufs: keep m's buffers [first, first + n) in t.
static void s_take_bufs(ipp_client_t *c, cl_task_t *t, wire_msg_t *m, size_t first, size_t n,
                        bool move)
{
    if (!n)
        return;
    cl_bufs_t *b = malloc(sizeof *b + n * sizeof(zmq_msg_t) + n * sizeof(ipp_buf_t));
    if (!b) {
        if (c)
            IPP_LOGE(&c->log, "client: no memory for the result of task %s", t->msg_id);
        return;
    }
    b->n = n;
    b->views = (ipp_buf_t *)(void *)&b->msgs[n];
    for (size_t i = 0; i < n; i++) {
        zmq_msg_t *src = wire_msg_buffer_msg(m, first + i);
        zmq_msg_init(&b->msgs[i]);
        if (move)
            zmq_msg_move(&b->msgs[i], src);
        else
            zmq_msg_copy(&b->msgs[i], src);
        // Small messages live inside zmq_msg_t: take the address only now
        // that the frame sits where it stays.
        b->views[i] = (ipp_buf_t){zmq_msg_data(&b->msgs[i]), zmq_msg_size(&b->msgs[i]), NULL, NULL};
    }
    t->bufs = b;
}

// s_set_output: keep a copy of stdout (which 1) or stderr (2).
static void s_set_output(cl_task_t *t, int which, const ProtobufCBinaryData *d, bool trunc)
{
    if (!d->len && !trunc)
        return;
    cl_extra_t *x = s_extra(t);
    if (!x)
        return;
    char *copy = malloc(d->len + 1);
    if (!copy)
        return;
    if (d->len)
        memcpy(copy, d->data, d->len);
    copy[d->len] = '\0';
    if (which == 1) {
        free(x->stdout_data);
        x->stdout_data = copy;
        x->stdout_len = d->len;
        x->stdout_trunc = trunc;
    } else {
        free(x->stderr_data);
        x->stderr_data = copy;
        x->stderr_len = d->len;
        x->stderr_trunc = trunc;
    }
}

// s_set_engine_uuid: the engine's uuid, from the record or the engine list.
static void s_set_engine_uuid(ipp_client_t *c, cl_task_t *t, const char *uuid)
{
    if (!uuid && c && t->engine_id >= 0) {
        const cl_engine_t *e = cl_engine_find(c, t->engine_id);
        if (e && e->uuid[0])
            uuid = e->uuid;
    }
    if (!uuid || !uuid[0])
        return;
    cl_extra_t *x = s_extra(t);
    if (x && !x->engine_uuid)
        x->engine_uuid = strdup(uuid);
}

// s_set_failure: the RemoteError of a finished task that did not succeed.
static void s_set_failure(ipp_client_t *c, cl_task_t *t, const Ipp__RemoteError *re,
                          int exit_status, int term_signal)
{
    ipp_status_t st = (ipp_status_t)t->status;
    int engine = (re && re->has_engine_id && re->engine_id >= 0) ? re->engine_id : t->engine_id;
    char value[96] = "";
    const char *ename = re ? re->ename : NULL;
    const char *evalue = re ? re->evalue : NULL;
    if (!ename && st == IPP_STATUS_ERROR && term_signal > 0) {
        ename = "CommandFailed";
        snprintf(value, sizeof value, "killed by signal %d", term_signal);
        evalue = value;
    } else if (!ename && st == IPP_STATUS_ERROR && exit_status > 0) {
        ename = "CommandFailed";
        snprintf(value, sizeof value, "exit status %d", exit_status);
        evalue = value;
    } else if (!ename && st == IPP_STATUS_UNKNOWN) {
        snprintf(value, sizeof value, "no such msg_id %s", t->msg_id);
        evalue = value;
    }
    s_set_error(c, t, st, s_code_of(st), ename, evalue, re ? re->traceback : NULL,
                re ? re->n_traceback : 0, engine);
}

// s_set_summary: keep a copy of the result's summary (NULL: none).
static void s_set_summary(cl_task_t *t, const char *summary)
{
    if (!summary || !*summary)
        return;
    cl_extra_t *x = s_extra(t);
    if (x && !x->summary)
        x->summary = strdup(summary);
}

// s_set_exit: a command's exit status and signal, as a result or record
// says them (has_*: whether it did), kept in t's extras when given; the
// values to use (-1 and 0 when not given) into *exit_status, *term_signal.
static void s_set_exit(cl_task_t *t, bool has_exit, int32_t exit_v, bool has_sig, int32_t sig_v,
                       int *exit_status, int *term_signal)
{
    *exit_status = has_exit ? exit_v : -1;
    *term_signal = has_sig ? sig_v : 0;
    if (!has_exit && !has_sig)
        return;
    cl_extra_t *x = s_extra(t);
    if (x) {
        x->exit_status = *exit_status;
        x->term_signal = *term_signal;
    }
}

void cl_task_take_result(ipp_client_t *c, cl_task_t *t, const Ipp__TaskResult *r, wire_msg_t *m,
                         bool move)
{
    if (t->done)
        return;
    t->status = (uint8_t)s_status(r->has_status, r->status, r->error != NULL);
    if (r->has_engine_id && r->engine_id >= 0)
        t->engine_id = r->engine_id;
    else if (r->error && r->error->has_engine_id && r->error->engine_id >= 0)
        t->engine_id = r->error->engine_id;
    t->started = r->has_started ? r->started : 0;
    t->completed = r->has_completed ? r->completed : 0;
    t->received = ipp_clock_now_us();
    // The controller delivers a result only once it is recorded, and the
    // request before it: a result is an acceptance too (a quick task's
    // SUBMIT_REPLY is not sent at all when its result goes first).
    t->accepted = 1;
    s_set_output(t, 1, &r->stdout_data, r->has_stdout_truncated && r->stdout_truncated);
    s_set_output(t, 2, &r->stderr_data, r->has_stderr_truncated && r->stderr_truncated);
    int exit_status = -1, term_signal = 0;
    s_set_exit(t, r->has_exit_status, r->exit_status, r->has_term_signal, r->term_signal,
               &exit_status, &term_signal);
    s_set_engine_uuid(c, t, NULL);
    s_set_summary(t, r->summary);
    if (t->status != IPP_STATUS_OK)
        s_set_failure(c, t, r->error, exit_status, term_signal);
    s_take_bufs(c, t, m, 0, wire_msg_n_buffers(m), move);
    cl_task_finish(c, t);
}

void cl_task_take_record(ipp_client_t *c, cl_task_t *t, const Ipp__TaskRecord *r, wire_msg_t *m,
                         size_t first, size_t n, bool move)
{
    if (t->done)
        return;
    t->status = (uint8_t)s_status(r->has_status, r->status, r->error != NULL);
    if (r->has_engine_id && r->engine_id >= 0)
        t->engine_id = r->engine_id;
    t->submitted = r->has_submitted ? r->submitted : 0;
    t->started = r->has_started ? r->started : 0;
    t->completed = r->has_completed ? r->completed : 0;
    t->received = r->has_received ? r->received : ipp_clock_now_us();
    t->accepted = 1;
    s_set_output(t, 1, &r->stdout_data, r->has_stdout_truncated && r->stdout_truncated);
    s_set_output(t, 2, &r->stderr_data, r->has_stderr_truncated && r->stderr_truncated);
    s_set_engine_uuid(c, t, r->engine_uuid);
    s_set_summary(t, r->summary);
    int exit_status = -1, term_signal = 0;
    s_set_exit(t, r->has_exit_status, r->exit_status, r->has_term_signal, r->term_signal,
               &exit_status, &term_signal);
    if (r->label || r->has_attempts || r->request) {
        cl_extra_t *x = s_extra(t);
        if (x) {
            if (r->label && !x->label)
                x->label = strdup(r->label);
            x->attempts = r->has_attempts ? r->attempts : 0;
            const Ipp__TaskRequest *q = r->request;
            if (q && q->after && q->after->n_ids && !x->after) {
                x->after = cl_strv_dup(q->after->ids, q->after->n_ids);
                x->n_after = x->after ? q->after->n_ids : 0;
            }
            if (q && q->follow && q->follow->n_ids && !x->follow) {
                x->follow = cl_strv_dup(q->follow->ids, q->follow->n_ids);
                x->n_follow = x->follow ? q->follow->n_ids : 0;
            }
        }
    }
    if (t->status != IPP_STATUS_OK)
        s_set_failure(c, t, r->error, exit_status, term_signal);
    s_take_bufs(c, t, m, first, n, move);
    cl_task_finish(c, t);
}

// ------------------------------------------------------------- callbacks

// s_fire: run ar's callbacks not yet run. ar may be destroyed by one of
// them; then the rest are skipped and it is freed here.
static void s_fire(ipp_ar_t *ar)
{
    ar->firing = true;
    while (ar->cbs_fired < ar->n_cbs && !ar->zombie) {
        cl_cb_t cb = ar->cbs[ar->cbs_fired++];
        cb.fn(ar, cb.arg);
    }
    ar->firing = false;
    if (ar->zombie && !ar->waiters)
        cl_ar_free(ar);
}

void cl_fire_callbacks(ipp_client_t *c)
{
    while (c->cb_head) {
        ipp_ar_t *ar = c->cb_head;
        c->cb_head = ar->cb_next;
        if (!c->cb_head)
            c->cb_tail = NULL;
        ar->cb_next = NULL;
        ar->cb_queued = false;
        s_fire(ar);
    }
}

ipp_err_t ipp_ar_add_done_callback(ipp_ar_t *ar, ipp_ar_done_fn *fn, void *arg, ipp_error_t *err)
{
    if (!ar || !fn)
        return ipp_error_set(err, IPP_ERR_INVALID, "add_done_callback: no result or function");
    if (IPP_GROW(ar->cbs, ar->cap_cbs, ar->n_cbs + 1, 4) != 0)
        return ipp_error_set(err, IPP_ERR_NOMEM, "add_done_callback: out of memory");
    ar->cbs[ar->n_cbs++] = (cl_cb_t){fn, arg};
    // Ready already and nothing else pending for it: call it now. Otherwise
    // the running or queued firing picks it up in order.
    if (ar->n_done == ar->n && !ar->firing && !ar->cb_queued)
        s_fire(ar);
    return IPP_OK;
}
