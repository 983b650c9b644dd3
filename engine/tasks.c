/* tasks.c — the engine's tasks: queue, execution, results.
 *
 * Owns, inside eng_daemon_t, the FIFO of tasks received, the task in
 * progress (a runner, or a call on the worker thread), the results not
 * yet acknowledged, and the worker thread's side of the hand-off. The
 * worker thread only ever runs one call; it touches nothing of the daemon
 * but the job it is handed, its result slot and the eventfd. Must never
 * block the loop (commands run as child processes, slow calls on the
 * worker) nor drop a result before the controller acknowledged it.
 */
#include "engine/daemon_int.h"

#include "engine/request.h"
#include "engine/requires.h"
#include "proto/batch.h"
#include "proto/clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void s_job_free(eng_job_t *job)
{
    if (!job)
        return;
    if (job->req)
        ipp__task_request__free_unpacked(job->req, NULL);
    for (size_t i = 0; i < job->n_bufs; i++)
        zmq_msg_close(&job->bufs[i]);
    free(job->bufs);
    eng_result_fini(&job->res);
    free(job);
}

// ------------------------------------------------------------ results

// s_split_lines: text cut at '\n' into *lines (one malloc'ed block the
// caller frees: the pointer array followed by the text); a last empty
// line is dropped. Returns the count; 0 with *lines NULL when text is NULL
// or out of memory.
static size_t s_split_lines(const char *text, char ***lines)
{
    *lines = NULL;
    if (!text)
        return 0;
    size_t len = strlen(text), n = 1;
    for (const char *p = text; *p; p++)
        n += *p == '\n';
    char **v = malloc(n * sizeof *v + len + 1);
    if (!v)
        return 0;
    char *copy = (char *)(v + n);
    memcpy(copy, text, len + 1);
    size_t k = 0;
    for (char *p = copy;;) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        if (nl || *p)
            v[k++] = p;
        if (!nl)
            break;
        p = nl + 1;
    }
    *lines = v;
    return k;
}

// A result as the wire carries it, borrowing from its eng_held_t.
typedef struct {
    Ipp__TaskResult r;    // the message
    Ipp__RemoteError er;  // its error, when there is one
    char **tb;            // the traceback's lines (malloc'ed, freed by s_wire_fini)
} s_wire_result_t;

// s_wire_fill: w as the message of held result h (borrowed: h must
// outlive w).
static void s_wire_fill(const eng_daemon_t *self, const eng_held_t *h, s_wire_result_t *w)
{
    const eng_result_t *res = &h->res;
    Ipp__TaskResult *r = &w->r;
    Ipp__RemoteError *er = &w->er;
    ipp__task_result__init(r);
    ipp__remote_error__init(er);
    w->tb = NULL;
    r->has_status = 1;
    r->status = res->status == ENG_STATUS_OK        ? IPP__STATUS__OK
                : res->status == ENG_STATUS_ABORTED ? IPP__STATUS__ABORTED
                                                    : IPP__STATUS__ERROR;
    if (res->ename[0]) {
        er->ename = (char *)res->ename;
        er->evalue = res->evalue ? res->evalue : "";
        er->has_engine_id = 1;
        er->engine_id = self->engine_id;
        er->n_traceback = s_split_lines(res->traceback, &w->tb);
        er->traceback = w->tb;
        r->error = er;
    }
    r->summary = res->summary;
    r->has_stdout_data = 1;
    r->stdout_data.data = res->stdout_data.data;
    r->stdout_data.len = res->stdout_data.len;
    r->has_stderr_data = res->stderr_data.len > 0;
    r->stderr_data.data = res->stderr_data.data;
    r->stderr_data.len = res->stderr_data.len;
    r->has_stdout_truncated = res->stdout_truncated;
    r->stdout_truncated = res->stdout_truncated;
    r->has_stderr_truncated = res->stderr_truncated;
    r->stderr_truncated = res->stderr_truncated;
    r->has_started = 1;
    r->started = res->started;
    r->has_completed = 1;
    r->completed = res->completed;
    if (h->is_command) {
        r->has_exit_status = 1;
        r->exit_status = res->exit_status;
        r->has_term_signal = 1;
        r->term_signal = res->term_signal;
    }
    r->has_engine_id = 1;
    r->engine_id = self->engine_id;
    r->msg_id = (char *)h->msg_id;
}

static void s_wire_fini(s_wire_result_t *w)
{
    free(w->tb);
    w->tb = NULL;
}

// s_copy_bufs: copies of h's result buffers into bufs[0..nbuffers).
static void s_copy_bufs(const eng_held_t *h, zmq_msg_t *bufs)
{
    const eng_result_t *res = &h->res;
    for (size_t i = 0; i < res->nbuffers; i++) {
        zmq_msg_init_size(&bufs[i], res->buffers[i].len);
        if (res->buffers[i].len)
            memcpy(zmq_msg_data(&bufs[i]), res->buffers[i].data, res->buffers[i].len);
    }
}

// s_send_result: send held result h (a copy; h stays until acknowledged).
static void s_send_result(eng_daemon_t *self, const eng_held_t *h)
{
    s_wire_result_t w;
    s_wire_fill(self, h, &w);
    zmq_msg_t *bufs = NULL;
    size_t n = h->res.nbuffers;
    if (n) {
        bufs = calloc(n, sizeof *bufs);
        if (!bufs) {
            IPP_LOGE(self->log, "no memory to send the result of %s", h->msg_id);
            s_wire_fini(&w);
            return;
        }
        s_copy_bufs(h, bufs);
    }
    eng_daemon_send(self, IPP__MSG_TYPE__TASK_RESULT, h->msg_id, &w.r.base, bufs, n);
    free(bufs);
    s_wire_fini(&w);
}

// s_send_batch: held results hs[0..n) as one RESULT_BATCH; false when
// out of memory (nothing sent).
static bool s_send_batch(eng_daemon_t *self, eng_held_t *const *hs, size_t n)
{
    size_t nb = 0;
    for (size_t i = 0; i < n; i++)
        nb += hs[i]->res.nbuffers;
    s_wire_result_t *w = calloc(n, sizeof *w);
    Ipp__TaskResult **rs = calloc(n, sizeof *rs);
    uint32_t *counts = calloc(n, sizeof *counts);
    zmq_msg_t *bufs = nb ? calloc(nb, sizeof *bufs) : NULL;
    bool ok = w && rs && counts && (!nb || bufs);
    if (ok) {
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            s_wire_fill(self, hs[i], &w[i]);
            rs[i] = &w[i].r;
            counts[i] = (uint32_t)hs[i]->res.nbuffers;
            if (hs[i]->res.nbuffers) {
                s_copy_bufs(hs[i], bufs + k);
                k += hs[i]->res.nbuffers;
            }
        }
        Ipp__ResultBatch b = IPP__RESULT_BATCH__INIT;
        b.n_results = n;
        b.results = rs;
        b.n_n_buffers = n;
        b.n_buffers = counts;
        eng_daemon_send(self, IPP__MSG_TYPE__RESULT_BATCH, NULL, &b.base, bufs, nb);
        for (size_t i = 0; i < n; i++)
            s_wire_fini(&w[i]);
    }
    free(w);
    free(rs);
    free(counts);
    free(bufs);
    return ok;
}

void eng_tasks_flush(eng_daemon_t *self)
{
    if (!self->registered || self->n_unsent == 0)
        return;
    // The unsent ones are the last n_unsent of the held list.
    eng_held_t *h = self->held_tail;
    for (size_t i = 1; i < self->n_unsent && h && h->prev; i++)
        h = h->prev;
    eng_held_t *chunk[WIRE_BATCH_MAX];
    size_t n = 0;
    for (; h; h = h->next) {
        h->unsent = false;
        chunk[n++] = h;
        if (n == WIRE_BATCH_MAX || !h->next) {
            if (n == 1 || !self->batches || !s_send_batch(self, chunk, n))
                for (size_t i = 0; i < n; i++)
                    s_send_result(self, chunk[i]);
            n = 0;
        }
    }
    self->n_unsent = 0;
}

// s_finish: the current task (or job) is done with res: keep and send it.
static void s_finish(eng_daemon_t *self, eng_job_t *job, eng_result_t *res, bool is_command)
{
    ipp_strmap_del(self->jobs_idx, job->msg_id);  // the caller frees job next
    eng_held_t *h = calloc(1, sizeof *h);
    if (!h) {
        IPP_LOGE(self->log, "no memory to keep the result of %s", job->msg_id);
        eng_result_fini(res);
        return;
    }
    memcpy(h->msg_id, job->msg_id, sizeof h->msg_id);
    eng_result_init(&h->res);
    eng_result_move(&h->res, res);
    h->is_command = is_command;
    h->prev = self->held_tail;
    if (self->held_tail)
        self->held_tail->next = h;
    else
        self->held_head = h;
    self->held_tail = h;
    if (ipp_strmap_put(self->held_idx, h->msg_id, h) < 0)
        IPP_LOGW(self->log, "no memory to index the result of %s", h->msg_id);
    // Sent before the loop sleeps, with the others finished meanwhile.
    h->unsent = true;
    if (++self->n_unsent >= WIRE_BATCH_MAX)
        eng_tasks_flush(self);
}

void eng_tasks_ack(eng_daemon_t *self, const Ipp__ResultAck *ack)
{
    for (size_t i = 0; i < ack->n_msg_ids; i++) {
        eng_held_t *h = ipp_strmap_del(self->held_idx, ack->msg_ids[i]);
        if (!h)
            continue;  // acknowledged twice, or never ours
        if (h->prev)
            h->prev->next = h->next;
        else
            self->held_head = h->next;
        if (h->next)
            h->next->prev = h->prev;
        else
            self->held_tail = h->prev;
        if (h->unsent)
            self->n_unsent--;
        eng_result_fini(&h->res);
        free(h);
    }
}

// ------------------------------------------------------------ worker

// Most calls behind the running one handed ahead at once.
#define S_AHEAD_MAX 32
// Most calls in the pipe (running, handed ahead, or waiting to be).
#define S_PIPE_MAX 256

// s_call_job: run job's call on this thread into job->res.
static void s_call_job(eng_daemon_t *self, eng_job_t *job, eng_result_t *res)
{
    eng_spans_t args;
    if (eng_spans_init(&args, job->bufs, job->n_bufs) == IPP_OK) {
        eng_call_opts_t co = {self->ns, &job->cancel, self->opts.output_limit, job->seq};
        eng_functions_call(self->functions, job->req->call->function, args.v, args.n, &co, res);
    } else {
        eng_result_set_error(res, ENG_STATUS_ERROR, "MemoryError", "no memory for arguments");
    }
    eng_spans_fini(&args);
}

// s_ahead_job: hand job ahead to its function's hook; false when its
// arguments cannot be described (the ones behind it must wait then).
static bool s_ahead_job(eng_daemon_t *self, eng_job_t *job)
{
    eng_spans_t args;
    if (eng_spans_init(&args, job->bufs, job->n_bufs) != IPP_OK)
        return false;
    eng_call_opts_t co = {NULL, &job->cancel, self->opts.output_limit, job->seq};
    eng_functions_ahead(self->functions, job->req->call->function, args.v, args.n, &co);
    eng_spans_fini(&args);
    return true;
}

void *eng_tasks_worker(void *arg)
{
    eng_daemon_t *self = arg;
    pthread_mutex_lock(&self->mu);
    for (;;) {
        while (!self->work_next && !self->worker_quit)
            pthread_cond_wait(&self->cv, &self->mu);
        if (self->worker_quit)
            break;
        eng_job_t *job = self->work_next;
        self->work_next = job->next;
        job->state = ENG_JOB_RUNNING;
        int64_t limit = job->req->call->wall_limit_us;
        job->deadline = limit > 0 ? ipp_clock_mono_us() + limit : 0;
        self->work_running = job;
        atomic_store(&self->run_deadline, atomic_load(&job->cancel) ? 0 : job->deadline);
        // This one and the ones behind it, in order, for the send-ahead
        // hook: jobs in the pipe stay until their result is collected, so
        // the pointers outlive the lock.
        eng_job_t *ahead[S_AHEAD_MAX + 1];
        size_t n_ahead = 0;
        // Marked before the lock goes: the loop no longer takes them back.
        for (eng_job_t *j = job; j && j->aheadable && n_ahead < S_AHEAD_MAX + 1; j = j->next)
            if (!j->ahead_done) {
                j->ahead_done = true;
                ahead[n_ahead++] = j;
            }
        pthread_mutex_unlock(&self->mu);

        for (size_t i = 0; i < n_ahead; i++) {
            if (s_ahead_job(self, ahead[i]))
                continue;
            // offered again, in order, before the call after this one
            pthread_mutex_lock(&self->mu);
            for (size_t k = i; k < n_ahead; k++)
                ahead[k]->ahead_done = false;
            pthread_mutex_unlock(&self->mu);
            break;
        }
        eng_result_t res;
        eng_result_init(&res);
        s_call_job(self, job, &res);

        pthread_mutex_lock(&self->mu);
        eng_result_move(&job->res, &res);
        job->state = ENG_JOB_DONE;
        self->work_running = NULL;
        atomic_store(&self->run_deadline, 0);
        // One wake-up of the loop for whatever finishes before it looks.
        if (!self->work_signalled) {
            self->work_signalled = true;
            uint64_t one = 1;
            if (write(self->efd, &one, sizeof one) < 0)
                IPP_LOGE(self->log, "worker cannot signal the loop: %s", strerror(errno));
        }
    }
    pthread_mutex_unlock(&self->mu);
    return NULL;
}

void eng_tasks_stop_worker(eng_daemon_t *self)
{
    pthread_mutex_lock(&self->mu);
    for (eng_job_t *j = self->pipe_head; j; j = j->next)
        atomic_store(&j->cancel, IPP_CALL_CANCEL_ABORT);
    self->worker_quit = true;
    pthread_cond_signal(&self->cv);
    pthread_mutex_unlock(&self->mu);
    pthread_join(self->worker, NULL);
}

// s_pipe_add: hand job to the worker, behind the pipe's others.
static void s_pipe_add(eng_daemon_t *self, eng_job_t *job)
{
    job->seq = ++self->next_seq;
    job->state = ENG_JOB_HANDED;
    job->next = NULL;
    pthread_mutex_lock(&self->mu);
    if (self->pipe_tail)
        self->pipe_tail->next = job;
    else
        self->pipe_head = job;
    self->pipe_tail = job;
    self->n_pipe++;
    if (!self->work_next) {
        self->work_next = job;
        pthread_cond_signal(&self->cv);
    }
    pthread_mutex_unlock(&self->mu);
    self->current = self->pipe_head;
    self->in_worker = true;
}

// ------------------------------------------------------------ tasks

// s_quick: whether call fn is quick enough to run on the loop's thread.
static bool s_quick(const eng_daemon_t *self, const char *fn)
{
    const char *origin = eng_functions_origin(self->functions, fn);
    return origin && strcmp(origin, "builtin") == 0 && strcmp(fn, "sleep") != 0;
}

// s_aheadable: whether job is a call the worker may hand ahead (and so
// one that may follow a running one of its kind into the pipe).
static bool s_aheadable(const eng_daemon_t *self, const eng_job_t *job)
{
    const Ipp__TaskRequest *r = job->req;
    return r->kind_case == IPP__TASK_REQUEST__KIND_CALL && !s_quick(self, r->call->function) &&
           !(r->call->has_wall_limit_us && r->call->wall_limit_us < 0) &&
           eng_functions_has_ahead(self->functions, r->call->function);
}

// s_guard: the live command guard, started again if it died; NULL if it
// cannot be (borrowed).
static eng_guard_t *s_guard(eng_daemon_t *self)
{
    if (self->guard && eng_guard_alive(self->guard))
        return self->guard;
    eng_guard_destroy(&self->guard);
    ipp_error_t err;
    self->guard = eng_guard_new(self->log, &err);
    if (!self->guard)
        IPP_LOGE(self->log, "%s", err.msg);
    return self->guard;
}

// s_start_command: start command task job as the current one; true if it
// runs. Otherwise its error result is kept and job is freed.
static bool s_start_command(eng_daemon_t *self, eng_job_t *job)
{
    eng_result_t res;
    eng_result_init(&res);
    eng_request_cmd_t rc;
    const char *ename = NULL, *why = NULL;
    if (eng_request_command(job->req->command, self->opts.output_limit, &rc) != IPP_OK) {
        ename = "MemoryError";
        why = "no memory to start the command";
    } else if (!(rc.cmd.guard = s_guard(self))) {
        ename = "ExecError";
        why = "no command guard process: the command could outlive this engine";
    } else if (!(self->runner = eng_runner_new(&rc.cmd, self->log))) {
        ename = "MemoryError";
        why = "no memory to start the command";
    }
    eng_request_command_fini(&rc);
    if (ename) {
        eng_result_set_error(&res, ENG_STATUS_ERROR, ename, "%s", why);
        res.started = res.completed = ipp_clock_now_us();
        s_finish(self, job, &res, true);
        s_job_free(job);
        return false;
    }
    self->current = job;
    eng_runner_poll(self->runner);
    return true;
}

void eng_tasks_start(eng_daemon_t *self)
{
    // Calls that can be handed ahead follow a running one into the pipe.
    while (self->in_worker && self->queue_head && !self->stopping && self->n_pipe < S_PIPE_MAX &&
           self->pipe_tail->aheadable && s_aheadable(self, self->queue_head)) {
        eng_job_t *job = self->queue_head;
        self->queue_head = job->next;
        if (!self->queue_head)
            self->queue_tail = NULL;
        job->aheadable = true;
        s_pipe_add(self, job);
    }
    while (!self->current && self->queue_head && !self->stopping) {
        eng_job_t *job = self->queue_head;
        self->queue_head = job->next;
        if (!self->queue_head)
            self->queue_tail = NULL;
        job->next = NULL;
        const Ipp__TaskRequest *r = job->req;
        eng_result_t res;
        eng_result_init(&res);
        switch (r->kind_case) {
        case IPP__TASK_REQUEST__KIND_COMMAND:
            if (s_start_command(self, job))
                return;
            continue;
        case IPP__TASK_REQUEST__KIND_CALL: {
            const char *fn = r->call->function;
            if (s_quick(self, fn)) {
                eng_spans_t args;
                if (eng_spans_init(&args, job->bufs, job->n_bufs) == IPP_OK) {
                    eng_call_opts_t co = {self->ns, NULL, self->opts.output_limit, 0};
                    eng_functions_call(self->functions, fn, args.v, args.n, &co, &res);
                } else {
                    eng_result_set_error(&res, ENG_STATUS_ERROR, "MemoryError",
                                         "no memory for arguments");
                }
                eng_spans_fini(&args);
                s_finish(self, job, &res, false);
                s_job_free(job);
                continue;
            }
            if (r->call->has_wall_limit_us && r->call->wall_limit_us < 0) {
                eng_result_set_error(&res, ENG_STATUS_ERROR, "ValueError",
                                     "call.wall_limit_us is negative (%lld)",
                                     (long long)r->call->wall_limit_us);
                res.started = res.completed = ipp_clock_now_us();
                s_finish(self, job, &res, false);
                s_job_free(job);
                continue;
            }
            job->aheadable = s_aheadable(self, job);
            s_pipe_add(self, job);
            eng_tasks_start(self);  // the ones that may follow it
            return;
        }
        case IPP__TASK_REQUEST__KIND_NS: {
            const Ipp__NamespaceOp *op = r->ns;
            if (op->op == IPP__NAMESPACE_OP__OP__PUSH) {
                eng_spans_t vals;
                if (eng_spans_init(&vals, job->bufs, job->n_bufs) == IPP_OK)
                    eng_namespace_push(self->ns, (const char *const *)op->keys, op->n_keys, vals.v,
                                       vals.n, &res);
                else
                    eng_result_set_error(&res, ENG_STATUS_ERROR, "MemoryError", "no memory");
                eng_spans_fini(&vals);
            } else if (op->op == IPP__NAMESPACE_OP__OP__PULL) {
                eng_namespace_pull(self->ns, (const char *const *)op->keys, op->n_keys, &res);
            } else if (op->op == IPP__NAMESPACE_OP__OP__CLEAR) {
                eng_namespace_clear_task(self->ns, &res);
            } else {
                eng_result_set_error(&res, ENG_STATUS_ERROR, "ValueError",
                                     "unknown namespace operation");
            }
            s_finish(self, job, &res, false);
            s_job_free(job);
            continue;
        }
        default:
            eng_result_set_error(&res, ENG_STATUS_ERROR, "ValueError",
                                 "task has no command, call or namespace operation");
            res.started = res.completed = ipp_clock_now_us();
            s_finish(self, job, &res, false);
            s_job_free(job);
            continue;
        }
    }
}

// s_clear_if_idle: a namespace clear asked for during tasks, once none runs.
static void s_clear_if_idle(eng_daemon_t *self)
{
    if (self->clear_pending && !self->current) {
        eng_namespace_clear(self->ns);
        self->clear_pending = false;
    }
}

// s_command_done: collect the result of the command in progress.
static void s_command_done(eng_daemon_t *self)
{
    eng_job_t *job = self->current;
    eng_result_t res;
    eng_result_init(&res);
    eng_runner_take_result(self->runner, &res);
    eng_runner_destroy(&self->runner);
    self->current = NULL;
    s_finish(self, job, &res, true);
    s_job_free(job);
    s_clear_if_idle(self);
}

// s_pipe_collect: keep and send the results the worker finished, in order.
static void s_pipe_collect(eng_daemon_t *self)
{
    eng_job_t *done = NULL;
    pthread_mutex_lock(&self->mu);
    self->work_signalled = false;
    if (self->pipe_head && self->pipe_head->state == ENG_JOB_DONE) {
        done = self->pipe_head;
        eng_job_t *last = done;
        self->n_pipe--;
        while (last->next && last->next->state == ENG_JOB_DONE) {
            last = last->next;
            self->n_pipe--;
        }
        self->pipe_head = last->next;
        if (!self->pipe_head)
            self->pipe_tail = NULL;
        last->next = NULL;
    }
    pthread_mutex_unlock(&self->mu);
    self->current = self->pipe_head;
    self->in_worker = self->pipe_head != NULL;
    while (done) {
        eng_job_t *job = done;
        done = job->next;
        eng_result_t res;
        eng_result_init(&res);
        eng_result_move(&res, &job->res);
        s_finish(self, job, &res, false);
        s_job_free(job);
    }
    s_clear_if_idle(self);
}

// s_known: whether msg_id is queued, running or held here.
static bool s_known(const eng_daemon_t *self, const char *msg_id)
{
    return ipp_strmap_get(self->jobs_idx, msg_id) || ipp_strmap_get(self->held_idx, msg_id);
}

// s_take: queue task id (request r, taken whatever happens) with the nb
// buffers of msg from first (moved out when it is queued); answer
// UNMET_DEPENDENCY or ignore a duplicate instead.
static void s_take(eng_daemon_t *self, const char *id, Ipp__TaskRequest *r, wire_msg_t *msg,
                   size_t first, size_t nb)
{
    if (s_known(self, id))
        goto drop;  // sent twice (a re-registration raced it): once is enough
    if (r->n_requires) {
        eng_missing_t missing;
        eng_missing_init(&missing);
        eng_requires_env_t env = {self->functions, self->opts.tags, self->opts.n_tags, NULL};
        eng_requires_check((const char *const *)r->requires, r->n_requires, &env, &missing);
        if (missing.count) {
            Ipp__UnmetDependency u = IPP__UNMET_DEPENDENCY__INIT;
            u.msg_id = (char *)id;
            u.has_engine_id = 1;
            u.engine_id = self->engine_id;
            u.n_missing = missing.count;
            u.missing = missing.items;
            IPP_LOGI(self->log, "task %s needs %s here: unmet", id, missing.items[0]);
            eng_daemon_send(self, IPP__MSG_TYPE__UNMET_DEPENDENCY, id, &u.base, NULL, 0);
            eng_missing_fini(&missing);
            goto drop;
        }
        eng_missing_fini(&missing);
    }
    eng_job_t *job = calloc(1, sizeof *job);
    if (job && nb)
        job->bufs = calloc(nb, sizeof *job->bufs);
    if (!job || (nb && !job->bufs)) {
        free(job);
        IPP_LOGE(self->log, "no memory for task %s", id);
        goto drop;  // the controller requeues it when this engine is lost
    }
    memcpy(job->msg_id, id, sizeof job->msg_id);
    eng_result_init(&job->res);
    job->req = r;
    for (size_t i = 0; i < nb; i++) {
        zmq_msg_init(&job->bufs[i]);
        zmq_msg_move(&job->bufs[i], wire_msg_buffer_msg(msg, first + i));
    }
    job->n_bufs = nb;
    if (ipp_strmap_put(self->jobs_idx, job->msg_id, job) < 0)
        IPP_LOGW(self->log, "no memory to index task %s", id);
    if (self->queue_tail)
        self->queue_tail->next = job;
    else
        self->queue_head = job;
    self->queue_tail = job;
    return;
drop:
    ipp__task_request__free_unpacked(r, NULL);
}

void eng_tasks_receive(eng_daemon_t *self, wire_msg_t *msg)
{
    Ipp__TaskRequest *r = (Ipp__TaskRequest *)msg->content;
    msg->content = NULL;
    s_take(self, msg->header->msg_id, r, msg, 0, wire_msg_n_buffers(msg));
}

void eng_tasks_receive_batch(eng_daemon_t *self, wire_msg_t *msg)
{
    Ipp__TaskBatch *b = (Ipp__TaskBatch *)msg->content;
    ipp_error_t err;
    if (wire_batch_check_tasks(b, wire_msg_n_buffers(msg), NULL, &err) != IPP_OK) {
        // Only a controller sends these, signed: a bug, not an attack.
        // Nothing is taken; the controller retries the tasks when it
        // finds this engine lost, or after a restart.
        IPP_LOGE(self->log, "task batch %s refused: %s", msg->header->msg_id, err.msg);
        return;
    }
    // Take every request out of the batch: each is then owned alone; the
    // batch frees only its arrays.
    size_t n = b->n_tasks, first = 0;
    Ipp__TaskRequest **rs = b->tasks;
    b->n_tasks = 0;
    for (size_t i = 0; i < n; i++) {
        s_take(self, b->msg_ids[i], rs[i], msg, first, b->n_buffers[i]);
        first += b->n_buffers[i];
    }
}

void eng_tasks_abort(eng_daemon_t *self, const char *msg_id)
{
    if (self->runner && self->current && strcmp(self->current->msg_id, msg_id) == 0) {
        eng_runner_abort(self->runner);
        return;
    }
    // In the pipe: running, handed ahead or waiting for the worker, it is
    // the worker's to stop (a call handed ahead may have begun elsewhere).
    // One that only waits in it (not started, not handed ahead) leaves it
    // at once, as from the queue.
    bool found = false;
    eng_job_t *gone = NULL;
    pthread_mutex_lock(&self->mu);
    for (eng_job_t *j = self->pipe_head, *prev = NULL; j && !found; prev = j, j = j->next) {
        if (strcmp(j->msg_id, msg_id) != 0 || j->state == ENG_JOB_DONE)
            continue;
        found = true;
        if (j->state == ENG_JOB_HANDED && !j->ahead_done && j != self->pipe_head) {
            prev->next = j->next;
            if (self->pipe_tail == j)
                self->pipe_tail = prev;
            if (self->work_next == j)
                self->work_next = j->next;
            self->n_pipe--;
            gone = j;
            break;
        }
        atomic_store(&j->cancel, IPP_CALL_CANCEL_ABORT);
        if (j == self->work_running)
            atomic_store(&self->run_deadline, 0);
    }
    pthread_mutex_unlock(&self->mu);
    if (gone) {
        eng_result_t res;
        eng_result_init(&res);
        eng_result_set_error(&res, ENG_STATUS_ABORTED, "TaskAborted", "aborted before it ran");
        res.started = res.completed = ipp_clock_now_us();
        s_finish(self, gone, &res, false);
        s_job_free(gone);
    }
    if (found)
        return;
    eng_job_t *prev = NULL;
    for (eng_job_t *j = self->queue_head; j; prev = j, j = j->next) {
        if (strcmp(j->msg_id, msg_id) != 0)
            continue;
        if (prev)
            prev->next = j->next;
        else
            self->queue_head = j->next;
        if (self->queue_tail == j)
            self->queue_tail = prev;
        eng_result_t res;
        eng_result_init(&res);
        eng_result_set_error(&res, ENG_STATUS_ABORTED, "TaskAborted", "aborted before it ran");
        res.started = res.completed = ipp_clock_now_us();
        s_finish(self, j, &res, false);
        s_job_free(j);
        return;
    }
}

int64_t eng_tasks_deadline(const eng_daemon_t *self)
{
    return self->in_worker ? atomic_load(&self->run_deadline) : 0;
}

void eng_tasks_collect(eng_daemon_t *self)
{
    if (self->in_worker) {
        int64_t dl = atomic_load(&self->run_deadline);
        if (dl && ipp_clock_mono_us() >= dl) {
            pthread_mutex_lock(&self->mu);
            eng_job_t *j = self->work_running;
            if (j && j->deadline && atomic_load(&j->cancel) == 0 &&
                ipp_clock_mono_us() >= j->deadline) {
                IPP_LOGI(self->log, "task %s: wall-time limit reached; stopping the call",
                         j->msg_id);
                atomic_store(&j->cancel, IPP_CALL_CANCEL_WALL_TIME);
                atomic_store(&self->run_deadline, 0);
            }
            pthread_mutex_unlock(&self->mu);
        }
        s_pipe_collect(self);
    }
    if (self->runner && eng_runner_poll(self->runner))
        s_command_done(self);
}

void eng_tasks_resend(eng_daemon_t *self)
{
    for (eng_held_t *h = self->held_head; h; h = h->next) {
        s_send_result(self, h);
        h->unsent = false;
    }
    self->n_unsent = 0;
}

void eng_tasks_fini(eng_daemon_t *self)
{
    if (self->current && self->current != self->pipe_head)
        s_job_free(self->current);
    self->current = NULL;
    while (self->pipe_head) {
        eng_job_t *j = self->pipe_head;
        self->pipe_head = j->next;
        s_job_free(j);
    }
    self->pipe_tail = self->work_next = self->work_running = NULL;
    self->n_pipe = 0;
    self->in_worker = false;
    while (self->queue_head) {
        eng_job_t *j = self->queue_head;
        self->queue_head = j->next;
        s_job_free(j);
    }
    self->queue_tail = NULL;
    while (self->held_head) {
        eng_held_t *h = self->held_head;
        self->held_head = h->next;
        eng_result_fini(&h->res);
        free(h);
    }
    self->held_tail = NULL;
    self->n_unsent = 0;
}
