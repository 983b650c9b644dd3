/* daemon.c — ipp-engine's loop: registration, heartbeats, tasks, results.
 *
 * Owns the socket, the wire session, the function registry and plugins,
 * the namespace, the FIFO of tasks received, the task in progress (a
 * runner or a call on the worker thread) and the results not yet
 * acknowledged. The worker thread only ever runs one call; it touches
 * nothing of the daemon but the job it is handed and an eventfd.
 */
#include "engine/daemon.h"

#include "engine/builtins.h"
#include "engine/functions.h"
#include "engine/guard.h"
#include "engine/namespace.h"
#include "engine/plugin.h"
#include "engine/request.h"
#include "engine/requires.h"
#include "engine/runner.h"
#include "proto/clock.h"
#include "proto/conn.h"
#include "proto/strmap.h"
#include "proto/wire.h"
#include "proto/zpoll.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define S_REGISTER_EVERY_US 1000000LL  // registration retry interval
#define S_DEFAULT_PERIOD_US 1000000LL  // heartbeat period until told
#define S_DEFAULT_MISSES 5

// A task received and not finished.
typedef struct s_job_t {
    char msg_id[IPP_MSGID_LEN + 1];  // the task
    Ipp__TaskRequest *req;           // decoded request, owned
    zmq_msg_t *bufs;                 // argument buffers, owned
    size_t n_bufs;                   // how many
    struct s_job_t *next;            // FIFO link
} s_job_t;

// A finished task whose result the controller has not acknowledged.
typedef struct s_held_t {
    char msg_id[IPP_MSGID_LEN + 1];  // the task
    eng_result_t res;                // its result, owned
    bool is_command;                 // exit status and signal mean something
    struct s_held_t *prev;           // list links (oldest first)
    struct s_held_t *next;
} s_held_t;

struct eng_daemon_t {
    eng_daemon_opts_t opts;          // as given (pointers borrowed)
    const ipp_logger_t *log;         // logger
    char uuid[IPP_MSGID_LEN + 1];    // engine uuid = routing id
    char hostname[256];              // gethostname
    char endpoint[256];              // where the DEALER is connected
    void *zctx;                      // ZeroMQ context
    void *sock;                      // DEALER to the controller
    wire_session_t *wire;            // signing session
    eng_functions_t *functions;      // call functions
    eng_plugin_t **plugins;          // loaded plugins, owned
    size_t n_plugins;                // how many
    eng_namespace_t *ns;             // the engine namespace
    int engine_id;                   // id given by the controller, -1
    bool registered;                 // a registration reply arrived
    char controller[IPP_MSGID_LEN + 1];  // controller session we registered with
    int64_t period_us;               // heartbeat period
    int misses;                      // silent periods before re-registering
    int64_t last_heard;              // mono µs of the last controller message
    int64_t next_beat;               // mono µs of the next heartbeat
    int64_t next_register;           // mono µs of the next registration attempt
    uint64_t beat_seq;               // heartbeat counter
    s_job_t *queue_head, *queue_tail;  // tasks waiting, FIFO
    s_job_t *current;                // the task in progress
    eng_runner_t *runner;            // its child process (command tasks)
    eng_guard_t *guard;              // kills commands if the engine dies
    bool in_worker;                  // it is a call on the worker thread
    s_held_t *held_head, *held_tail; // results not acknowledged
    ipp_strmap_t *jobs_idx;          // msg_id → queued or running job
    ipp_strmap_t *held_idx;          // msg_id → held result
    bool stopping;                   // STOP received
    bool started;                    // eng_daemon_start was called
    bool running;                    // started and not stopped: run may loop
    bool clear_pending;              // clear the namespace when idle
    // worker thread
    pthread_t worker;                // runs slow calls
    bool worker_started;             // joined at destroy
    pthread_mutex_t mu;              // guards the three below
    pthread_cond_t cv;               // signals a job or quit
    s_job_t *work;                   // job for the worker, NULL = none
    bool work_done;                  // the worker finished work
    bool worker_quit;                // leave
    eng_result_t work_res;           // the worker's result
    atomic_int cancel;               // abort the running call
    int efd;                         // eventfd: worker → loop
};

// ------------------------------------------------------------ helpers

static void s_job_free(s_job_t *job)
{
    if (!job)
        return;
    if (job->req)
        ipp__task_request__free_unpacked(job->req, NULL);
    for (size_t i = 0; i < job->n_bufs; i++)
        zmq_msg_close(&job->bufs[i]);
    free(job->bufs);
    free(job);
}

// s_send: send a message without waiting; false if it could not go out
// (EAGAIN: not connected yet, with ZMQ_IMMEDIATE).
static bool s_send(eng_daemon_t *self, Ipp__MsgType type, const char *parent,
                   const ProtobufCMessage *content, zmq_msg_t *bufs, size_t n_bufs)
{
    if (wire_send(self->wire, self->sock, NULL, 0, type, parent, content, bufs, n_bufs,
                  ZMQ_DONTWAIT, NULL, NULL) == IPP_OK)
        return true;
    if (errno != EAGAIN)
        IPP_LOGW(self->log, "send failed: %s", zmq_strerror(errno));
    return false;
}

// s_connect: (re)connect the DEALER to the endpoint of the connection file.
static ipp_err_t s_connect(eng_daemon_t *self, ipp_error_t *err)
{
    conn_info_t info;
    ipp_err_t rc = conn_read(self->opts.conn_path, CONN_ENGINE, &info, err);
    if (rc != IPP_OK)
        return rc;
    char ep[256];
    conn_endpoint(&info, info.engine_port, ep, sizeof ep);
    if (self->sock && strcmp(ep, self->endpoint) == 0)
        return IPP_OK;
    if (self->wire) {
        // A controller restarted with a new key: a new session to match.
        wire_session_destroy(&self->wire);
    }
    wire_opts_t wo = {0};
    wo.key = info.key;
    wo.key_len = info.key_len;
    wo.log = self->log;
    wo.username = "engine";
    self->wire = wire_session_new(&wo, err);
    if (!self->wire)
        return err ? err->code : IPP_ERR_NOMEM;
    if (self->sock) {
        zmq_disconnect(self->sock, self->endpoint);
        zmq_close(self->sock);
        self->sock = NULL;
    }
    self->sock = zmq_socket(self->zctx, ZMQ_DEALER);
    if (!self->sock)
        return ipp_error_set(err, IPP_ERR_ZMQ, "zmq_socket: %s", zmq_strerror(errno));
    int one = 1;
    wire_socket_setup(self->wire, self->sock);
    zmq_setsockopt(self->sock, ZMQ_ROUTING_ID, self->uuid, strlen(self->uuid));
    // Nothing queues for a controller that is not there: a registration
    // or result sent into the void would arrive late and twice.
    zmq_setsockopt(self->sock, ZMQ_IMMEDIATE, &one, sizeof one);
    if (zmq_connect(self->sock, ep) != 0)
        return ipp_error_set(err, IPP_ERR_ZMQ, "cannot connect to %s: %s", ep,
                             zmq_strerror(errno));
    snprintf(self->endpoint, sizeof self->endpoint, "%s", ep);
    IPP_LOGI(self->log, "engine %s connecting to %s", self->uuid, ep);
    return IPP_OK;
}

// ------------------------------------------------------------ results

// s_send_result: send held result h (a copy; h stays until acknowledged).
static void s_send_result(eng_daemon_t *self, const s_held_t *h)
{
    const eng_result_t *res = &h->res;
    Ipp__TaskResult r = IPP__TASK_RESULT__INIT;
    Ipp__RemoteError er = IPP__REMOTE_ERROR__INIT;
    r.has_status = 1;
    r.status = res->status == ENG_STATUS_OK      ? IPP__STATUS__OK
               : res->status == ENG_STATUS_ABORTED ? IPP__STATUS__ABORTED
                                                   : IPP__STATUS__ERROR;
    if (res->ename[0]) {
        er.ename = (char *)res->ename;
        er.evalue = res->evalue ? res->evalue : "";
        er.has_engine_id = 1;
        er.engine_id = self->engine_id;
        r.error = &er;
    }
    r.has_stdout_data = 1;
    r.stdout_data.data = res->stdout_data.data;
    r.stdout_data.len = res->stdout_data.len;
    r.has_stderr_data = res->stderr_data.len > 0;
    r.stderr_data.data = res->stderr_data.data;
    r.stderr_data.len = res->stderr_data.len;
    r.has_stdout_truncated = res->stdout_truncated;
    r.stdout_truncated = res->stdout_truncated;
    r.has_stderr_truncated = res->stderr_truncated;
    r.stderr_truncated = res->stderr_truncated;
    r.has_started = 1;
    r.started = res->started;
    r.has_completed = 1;
    r.completed = res->completed;
    if (h->is_command) {
        r.has_exit_status = 1;
        r.exit_status = res->exit_status;
        r.has_term_signal = 1;
        r.term_signal = res->term_signal;
    }
    r.has_engine_id = 1;
    r.engine_id = self->engine_id;
    r.msg_id = (char *)h->msg_id;
    zmq_msg_t *bufs = NULL;
    size_t n = res->nbuffers;
    if (n) {
        bufs = calloc(n, sizeof *bufs);
        if (!bufs) {
            IPP_LOGE(self->log, "no memory to send the result of %s", h->msg_id);
            return;
        }
        for (size_t i = 0; i < n; i++) {
            zmq_msg_init_size(&bufs[i], res->buffers[i].len);
            if (res->buffers[i].len)
                memcpy(zmq_msg_data(&bufs[i]), res->buffers[i].data, res->buffers[i].len);
        }
    }
    s_send(self, IPP__MSG_TYPE__TASK_RESULT, h->msg_id, &r.base, bufs, n);
    free(bufs);
}

// s_finish: the current task (or job) is done with res: keep and send it.
static void s_finish(eng_daemon_t *self, s_job_t *job, eng_result_t *res, bool is_command)
{
    ipp_strmap_del(self->jobs_idx, job->msg_id);  // the caller frees job next
    s_held_t *h = calloc(1, sizeof *h);
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
    if (self->registered)
        s_send_result(self, h);
}

static void s_ack(eng_daemon_t *self, const Ipp__ResultAck *ack)
{
    for (size_t i = 0; i < ack->n_msg_ids; i++) {
        s_held_t *h = ipp_strmap_del(self->held_idx, ack->msg_ids[i]);
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
        eng_result_fini(&h->res);
        free(h);
    }
}

// ------------------------------------------------------------ worker

static void *s_worker_main(void *arg)
{
    eng_daemon_t *self = arg;
    pthread_mutex_lock(&self->mu);
    for (;;) {
        while (!self->work && !self->worker_quit)
            pthread_cond_wait(&self->cv, &self->mu);
        if (self->worker_quit)
            break;
        s_job_t *job = self->work;
        pthread_mutex_unlock(&self->mu);

        eng_result_t res;
        eng_result_init(&res);
        eng_spans_t args;
        if (eng_spans_init(&args, job->bufs, job->n_bufs) == IPP_OK) {
            eng_call_opts_t co = {self->ns, &self->cancel, self->opts.output_limit};
            eng_functions_call(self->functions, job->req->call->function, args.v, args.n, &co,
                               &res);
        } else {
            eng_result_set_error(&res, ENG_STATUS_ERROR, "MemoryError", "no memory for arguments");
        }
        eng_spans_fini(&args);

        pthread_mutex_lock(&self->mu);
        eng_result_move(&self->work_res, &res);
        self->work = NULL;
        self->work_done = true;
        uint64_t one = 1;
        if (write(self->efd, &one, sizeof one) < 0)
            IPP_LOGE(self->log, "worker cannot signal the loop: %s", strerror(errno));
    }
    pthread_mutex_unlock(&self->mu);
    return NULL;
}

// ------------------------------------------------------------ tasks

// s_quick: whether call fn is quick enough to run on the loop's thread.
static bool s_quick(const eng_daemon_t *self, const char *fn)
{
    const char *origin = eng_functions_origin(self->functions, fn);
    return origin && strcmp(origin, "builtin") == 0 && strcmp(fn, "sleep") != 0;
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

// s_start: begin the next queued task, if idle.
static void s_start(eng_daemon_t *self)
{
    while (!self->current && self->queue_head && !self->stopping) {
        s_job_t *job = self->queue_head;
        self->queue_head = job->next;
        if (!self->queue_head)
            self->queue_tail = NULL;
        job->next = NULL;
        const Ipp__TaskRequest *r = job->req;
        eng_result_t res;
        eng_result_init(&res);
        switch (r->kind_case) {
        case IPP__TASK_REQUEST__KIND_COMMAND: {
            eng_request_cmd_t rc;
            if (eng_request_command(r->command, self->opts.output_limit, &rc) != IPP_OK) {
                eng_result_set_error(&res, ENG_STATUS_ERROR, "MemoryError",
                                     "no memory to start the command");
                res.started = res.completed = ipp_clock_now_us();
                eng_request_command_fini(&rc);
                s_finish(self, job, &res, true);
                s_job_free(job);
                continue;
            }
            eng_command_t cmd = rc.cmd;
            cmd.guard = s_guard(self);
            if (!cmd.guard) {
                eng_result_set_error(&res, ENG_STATUS_ERROR, "ExecError",
                                     "no command guard: a command could outlive this engine");
                res.started = res.completed = ipp_clock_now_us();
                eng_request_command_fini(&rc);
                s_finish(self, job, &res, true);
                s_job_free(job);
                continue;
            }
            self->runner = eng_runner_new(&cmd, self->log);
            eng_request_command_fini(&rc);
            if (!self->runner) {
                eng_result_set_error(&res, ENG_STATUS_ERROR, "MemoryError",
                                     "no memory to start the command");
                s_finish(self, job, &res, true);
                s_job_free(job);
                continue;
            }
            self->current = job;
            eng_runner_poll(self->runner);
            return;
        }
        case IPP__TASK_REQUEST__KIND_CALL: {
            const char *fn = r->call->function;
            if (s_quick(self, fn)) {
                eng_spans_t args;
                if (eng_spans_init(&args, job->bufs, job->n_bufs) == IPP_OK) {
                    eng_call_opts_t co = {self->ns, NULL, self->opts.output_limit};
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
            atomic_store(&self->cancel, 0);
            pthread_mutex_lock(&self->mu);
            self->work = job;
            self->work_done = false;
            pthread_cond_signal(&self->cv);
            pthread_mutex_unlock(&self->mu);
            self->current = job;
            self->in_worker = true;
            return;
        }
        case IPP__TASK_REQUEST__KIND_NS: {
            const Ipp__NamespaceOp *op = r->ns;
            if (op->op == IPP__NAMESPACE_OP__OP__PUSH) {
                eng_spans_t vals;
                if (eng_spans_init(&vals, job->bufs, job->n_bufs) == IPP_OK)
                    eng_namespace_push(self->ns, (const char *const *)op->keys, op->n_keys,
                                       vals.v, vals.n, &res);
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

// s_current_done: collect the result of the task in progress.
static void s_current_done(eng_daemon_t *self)
{
    s_job_t *job = self->current;
    eng_result_t res;
    eng_result_init(&res);
    bool is_command = self->runner != NULL;
    if (self->runner) {
        eng_runner_take_result(self->runner, &res);
        eng_runner_destroy(&self->runner);
    } else {
        pthread_mutex_lock(&self->mu);
        eng_result_move(&res, &self->work_res);
        self->work_done = false;
        pthread_mutex_unlock(&self->mu);
        self->in_worker = false;
    }
    self->current = NULL;
    s_finish(self, job, &res, is_command);
    s_job_free(job);
    if (self->clear_pending) {
        eng_namespace_clear(self->ns);
        self->clear_pending = false;
    }
}

// s_known: whether msg_id is queued, running or held here.
static bool s_known(const eng_daemon_t *self, const char *msg_id)
{
    return ipp_strmap_get(self->jobs_idx, msg_id) || ipp_strmap_get(self->held_idx, msg_id);
}

static void s_task(eng_daemon_t *self, wire_msg_t *msg)
{
    const char *id = msg->header->msg_id;
    Ipp__TaskRequest *r = (Ipp__TaskRequest *)msg->content;
    if (s_known(self, id))
        return;  // sent twice (a re-registration raced it): once is enough
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
            s_send(self, IPP__MSG_TYPE__UNMET_DEPENDENCY, id, &u.base, NULL, 0);
            eng_missing_fini(&missing);
            return;
        }
        eng_missing_fini(&missing);
    }
    s_job_t *job = calloc(1, sizeof *job);
    size_t nb = wire_msg_n_buffers(msg);
    if (job && nb)
        job->bufs = calloc(nb, sizeof *job->bufs);
    if (!job || (nb && !job->bufs)) {
        free(job);
        IPP_LOGE(self->log, "no memory for task %s", id);
        return;  // the controller requeues it when this engine is lost
    }
    memcpy(job->msg_id, id, sizeof job->msg_id);
    job->req = r;
    msg->content = NULL;
    for (size_t i = 0; i < nb; i++) {
        zmq_msg_init(&job->bufs[i]);
        zmq_msg_move(&job->bufs[i], wire_msg_buffer_msg(msg, i));
    }
    job->n_bufs = nb;
    if (ipp_strmap_put(self->jobs_idx, job->msg_id, job) < 0)
        IPP_LOGW(self->log, "no memory to index task %s", id);
    if (self->queue_tail)
        self->queue_tail->next = job;
    else
        self->queue_head = job;
    self->queue_tail = job;
}

// s_abort: stop msg_id if it runs or waits here.
static void s_abort(eng_daemon_t *self, const char *msg_id)
{
    if (self->current && strcmp(self->current->msg_id, msg_id) == 0) {
        if (self->runner)
            eng_runner_abort(self->runner);
        else
            atomic_store(&self->cancel, 1);
        return;
    }
    s_job_t *prev = NULL;
    for (s_job_t *j = self->queue_head; j; prev = j, j = j->next) {
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

// ------------------------------------------------------------ registration

// s_register: send a registration request; false if it did not go out.
static bool s_register(eng_daemon_t *self)
{
    size_t nq = self->current ? 1 : 0, nh = 0;
    for (s_job_t *j = self->queue_head; j; j = j->next)
        nq++;
    for (s_held_t *h = self->held_head; h; h = h->next)
        nh++;
    char **running = nq ? calloc(nq, sizeof *running) : NULL;
    char **finished = nh ? calloc(nh, sizeof *finished) : NULL;
    size_t nf = eng_functions_count(self->functions);
    char **fns = nf ? calloc(nf, sizeof *fns) : NULL;
    if ((nq && !running) || (nh && !finished) || (nf && !fns)) {
        free(running);
        free(finished);
        free(fns);
        return false;  // tried again next interval
    }
    size_t k = 0;
    if (self->current)
        running[k++] = self->current->msg_id;
    for (s_job_t *j = self->queue_head; j; j = j->next)
        running[k++] = j->msg_id;
    k = 0;
    for (s_held_t *h = self->held_head; h; h = h->next)
        finished[k++] = h->msg_id;
    for (size_t i = 0; i < nf; i++)
        fns[i] = (char *)eng_functions_name(self->functions, i);
    Ipp__RegistrationRequest req = IPP__REGISTRATION_REQUEST__INIT;
    req.uuid = self->uuid;
    req.hostname = self->hostname;
    req.has_pid = 1;
    req.pid = (int)getpid();
    req.n_tags = self->opts.n_tags;
    req.tags = (char **)self->opts.tags;
    req.n_functions = nf;
    req.functions = fns;
    req.n_running = nq;
    req.running = running;
    req.n_finished = nh;
    req.finished = finished;
    bool sent = s_send(self, IPP__MSG_TYPE__REGISTRATION_REQUEST, NULL, &req.base, NULL, 0);
    free(running);
    free(finished);
    free(fns);
    return sent;
}

// s_lost: the controller went silent or restarted: register again.
static void s_lost(eng_daemon_t *self, const char *why)
{
    if (self->registered)
        IPP_LOGW(self->log, "engine %d: %s; registering again", self->engine_id, why);
    self->registered = false;
    ipp_error_t err;
    if (s_connect(self, &err) != IPP_OK)
        IPP_LOGW(self->log, "%s", err.msg);
    self->next_register = ipp_clock_mono_us();
}

static void s_registered(eng_daemon_t *self, wire_msg_t *msg)
{
    Ipp__RegistrationReply *rep = (Ipp__RegistrationReply *)msg->content;
    self->engine_id = rep->has_engine_id ? rep->engine_id : -1;
    self->period_us = (rep->has_heartbeat_period_us && rep->heartbeat_period_us > 0)
                          ? rep->heartbeat_period_us
                          : S_DEFAULT_PERIOD_US;
    self->misses = (rep->has_heartbeat_misses && rep->heartbeat_misses > 0)
                       ? rep->heartbeat_misses
                       : S_DEFAULT_MISSES;
    snprintf(self->controller, sizeof self->controller, "%s", msg->header->session);
    bool first = !self->registered;
    self->registered = true;
    self->next_beat = ipp_clock_mono_us() + self->period_us;
    if (first)
        IPP_LOGI(self->log, "registered as engine %d", self->engine_id);
    // Everything not acknowledged goes again.
    for (s_held_t *h = self->held_head; h; h = h->next)
        s_send_result(self, h);
}

static void s_message(eng_daemon_t *self, wire_msg_t *msg)
{
    self->last_heard = ipp_clock_mono_us();
    switch (wire_msg_type(msg)) {
    case IPP__MSG_TYPE__REGISTRATION_REPLY:
        s_registered(self, msg);
        break;
    case IPP__MSG_TYPE__HEARTBEAT:
        if (self->registered && strcmp(msg->header->session, self->controller) != 0)
            s_lost(self, "the controller restarted");
        break;
    case IPP__MSG_TYPE__ERROR_REPLY: {
        Ipp__ErrorReply *e = (Ipp__ErrorReply *)msg->content;
        if (e->code == IPP_ERR_NOT_FOUND && e->field && strcmp(e->field, "engine") == 0)
            s_lost(self, "the controller does not know this engine");
        else
            IPP_LOGW(self->log, "controller error: %s", e->evalue ? e->evalue : "?");
        break;
    }
    case IPP__MSG_TYPE__UNREGISTRATION:
        // The controller is stopping: be ready for the next one at once.
        s_lost(self, "the controller is stopping");
        break;
    case IPP__MSG_TYPE__TASK_REQUEST:
        s_task(self, msg);
        break;
    case IPP__MSG_TYPE__RESULT_ACK:
        s_ack(self, (Ipp__ResultAck *)msg->content);
        break;
    case IPP__MSG_TYPE__ENGINE_CONTROL: {
        Ipp__EngineControl *c = (Ipp__EngineControl *)msg->content;
        if (c->action == IPP__ENGINE_CONTROL__ACTION__STOP) {
            IPP_LOGI(self->log, "engine %d: stop requested", self->engine_id);
            self->stopping = true;
        } else if (c->action == IPP__ENGINE_CONTROL__ACTION__CLEAR_NAMESPACE) {
            if (self->current)
                self->clear_pending = true;
            else
                eng_namespace_clear(self->ns);
        } else if (c->action == IPP__ENGINE_CONTROL__ACTION__ABORT) {
            for (size_t i = 0; i < c->n_msg_ids; i++)
                s_abort(self, c->msg_ids[i]);
        }
        break;
    }
    default:
        IPP_LOGD(self->log, "ignored a message of type %d", wire_msg_type(msg));
        break;
    }
}

// ------------------------------------------------------------ lifecycle

eng_daemon_t *eng_daemon_new(const eng_daemon_opts_t *opts, ipp_error_t *err)
{
    eng_daemon_t *self = calloc(1, sizeof *self);
    if (!self) {
        ipp_error_set(err, IPP_ERR_NOMEM, "no memory for the engine");
        return NULL;
    }
    self->opts = *opts;
    self->log = opts->log;
    self->engine_id = -1;
    self->efd = -1;
    self->period_us = S_DEFAULT_PERIOD_US;
    self->misses = S_DEFAULT_MISSES;
    pthread_mutex_init(&self->mu, NULL);
    pthread_cond_init(&self->cv, NULL);
    eng_result_init(&self->work_res);
    if (sodium_init() < 0) {
        ipp_error_set(err, IPP_ERR_IO, "libsodium failed to initialise");
        goto fail;
    }
    if (opts->uuid) {
        if (!opts->uuid[0] || strlen(opts->uuid) > IPP_MSGID_LEN) {
            ipp_error_set(err, IPP_ERR_INVALID, "--uuid must be 1 to %d characters",
                          IPP_MSGID_LEN);
            goto fail;
        }
        snprintf(self->uuid, sizeof self->uuid, "%s", opts->uuid);
    } else {
        ipp_msgid_uuid4(self->uuid);
    }
    if (gethostname(self->hostname, sizeof self->hostname - 1) != 0)
        snprintf(self->hostname, sizeof self->hostname, "unknown");
    self->functions = eng_functions_new();
    self->ns = eng_namespace_new();
    self->jobs_idx = ipp_strmap_new();
    self->held_idx = ipp_strmap_new();
    if (!self->functions || !self->ns || !self->jobs_idx || !self->held_idx) {
        ipp_error_set(err, IPP_ERR_NOMEM, "no memory for the engine");
        goto fail;
    }
    if (eng_builtins_register(self->functions, err) != IPP_OK)
        goto fail;
    if (opts->n_plugins) {
        self->plugins = calloc(opts->n_plugins, sizeof *self->plugins);
        if (!self->plugins) {
            ipp_error_set(err, IPP_ERR_NOMEM, "no memory for plugins");
            goto fail;
        }
        for (size_t i = 0; i < opts->n_plugins; i++) {
            self->plugins[i] = eng_plugin_load(opts->plugins[i], self->functions, self->log, err);
            if (!self->plugins[i])
                goto fail;
            self->n_plugins++;
        }
    }
    return self;
fail:
    eng_daemon_destroy(&self);
    return NULL;
}

ipp_err_t eng_daemon_start(eng_daemon_t *self, ipp_error_t *err)
{
    if (self->started)
        return ipp_error_set(err, IPP_ERR_INVALID, "the engine was already started");
    self->started = true;
    // The guard first: it then holds nothing of the threads and sockets.
    self->guard = eng_guard_new(self->log, err);
    if (!self->guard)
        return err ? err->code : IPP_ERR_IO;
    self->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (self->efd < 0)
        return ipp_error_set(err, IPP_ERR_IO, "eventfd: %s", strerror(errno));
    if (pthread_create(&self->worker, NULL, s_worker_main, self) != 0)
        return ipp_error_set(err, IPP_ERR_IO, "cannot start the worker thread");
    self->worker_started = true;
    self->zctx = zmq_ctx_new();
    if (!self->zctx)
        return ipp_error_set(err, IPP_ERR_ZMQ, "zmq_ctx_new failed");
    ipp_err_t rc = s_connect(self, err);
    if (rc == IPP_OK)
        self->running = true;
    return rc;
}

ipp_err_t eng_daemon_run(eng_daemon_t *self)
{
    if (!self->running)
        return IPP_ERR_INVALID;
    wire_msg_t msg;
    wire_msg_init(&msg);
    self->last_heard = ipp_clock_mono_us();
    self->next_register = self->last_heard;
    ipp_err_t rc = IPP_OK;
    while (!self->stopping && !(self->opts.stop && *self->opts.stop)) {
        int64_t now = ipp_clock_mono_us();
        if (!self->registered && now >= self->next_register) {
            // Re-read the connection file: the controller may have moved.
            ipp_error_t err;
            bool sent = false;
            if (s_connect(self, &err) != IPP_OK)
                IPP_LOGW(self->log, "%s", err.msg);
            else
                sent = s_register(self);
            // Not connected yet: try again soon; sent: wait for the reply.
            self->next_register = now + (sent ? S_REGISTER_EVERY_US : S_REGISTER_EVERY_US / 20);
        }
        if (self->registered && now >= self->next_beat) {
            Ipp__Heartbeat hb = IPP__HEARTBEAT__INIT;
            hb.has_seq = 1;
            hb.seq = ++self->beat_seq;
            hb.has_engine_id = 1;
            hb.engine_id = self->engine_id;
            hb.running = self->current ? self->current->msg_id : NULL;
            s_send(self, IPP__MSG_TYPE__HEARTBEAT, NULL, &hb.base, NULL, 0);
            self->next_beat = now + self->period_us;
        }
        if (self->registered && now - self->last_heard > self->period_us * self->misses)
            s_lost(self, "the controller is silent");
        s_start(self);

        int64_t deadline = self->registered ? self->next_beat : self->next_register;
        long timeout = deadline > now ? (long)((deadline - now + 999) / 1000) : 0;
        zmq_pollitem_t items[2 + ENG_RUNNER_MAX_FDS];
        size_t n = 0;
        items[n++] = (zmq_pollitem_t){self->sock, 0, ZMQ_POLLIN, 0};
        items[n++] = (zmq_pollitem_t){NULL, self->efd, ZMQ_POLLIN, 0};
        if (self->runner) {
            struct pollfd pf[ENG_RUNNER_MAX_FDS];
            size_t k = eng_runner_pollfds(self->runner, pf, ENG_RUNNER_MAX_FDS);
            // poll(2) flags are not ZeroMQ's (POLLOUT is ZMQ_POLLERR's value).
            for (size_t i = 0; i < k; i++)
                items[n++] = (zmq_pollitem_t){
                    NULL, pf[i].fd,
                    (short)((pf[i].events & POLLIN ? ZMQ_POLLIN : 0) |
                            (pf[i].events & POLLOUT ? ZMQ_POLLOUT : 0)),
                    0};
            int rt = eng_runner_timeout_ms(self->runner);
            if (rt >= 0 && rt < timeout)
                timeout = rt;
        }
        if (ipp_zpoll(items, (int)n, timeout) < 0) {
            if (errno == EINTR)
                continue;
            IPP_LOGE(self->log, "poll: %s", zmq_strerror(errno));
            rc = IPP_ERR_ZMQ;
            break;
        }
        if (items[0].revents & ZMQ_POLLIN) {
            for (int i = 0; i < 256; i++) {
                ipp_error_t err;
                ipp_err_t r = wire_recv(self->wire, self->sock, ZMQ_DONTWAIT, &msg, &err);
                if (r == IPP_ERR_ZMQ)
                    break;
                if (r == IPP_OK)
                    s_message(self, &msg);
            }
        }
        if (items[1].revents & ZMQ_POLLIN) {
            uint64_t v;
            if (read(self->efd, &v, sizeof v) < 0 && errno != EAGAIN)
                IPP_LOGW(self->log, "eventfd: %s", strerror(errno));
        }
        if (self->in_worker) {
            pthread_mutex_lock(&self->mu);
            bool done = self->work_done;
            pthread_mutex_unlock(&self->mu);
            if (done)
                s_current_done(self);
        }
        if (self->runner && eng_runner_poll(self->runner))
            s_current_done(self);
    }
    wire_msg_fini(&msg);
    return rc;
}

void eng_daemon_stop(eng_daemon_t *self)
{
    if (!self)
        return;
    self->running = false;
    if (self->worker_started) {
        atomic_store(&self->cancel, 1);
        pthread_mutex_lock(&self->mu);
        self->worker_quit = true;
        pthread_cond_signal(&self->cv);
        pthread_mutex_unlock(&self->mu);
        pthread_join(self->worker, NULL);
        self->worker_started = false;
        // The worker left without finishing its job: nothing to send.
        self->in_worker = false;
    }
    eng_runner_destroy(&self->runner);
    eng_guard_destroy(&self->guard);
    if (self->sock && self->wire && self->registered) {
        Ipp__Unregistration u = IPP__UNREGISTRATION__INIT;
        u.has_engine_id = 1;
        u.engine_id = self->engine_id;
        u.uuid = self->uuid;
        u.reason = "engine stopping";
        s_send(self, IPP__MSG_TYPE__UNREGISTRATION, NULL, &u.base, NULL, 0);
    }
    self->registered = false;
    if (self->sock) {
        int linger = 500;
        zmq_setsockopt(self->sock, ZMQ_LINGER, &linger, sizeof linger);
        zmq_close(self->sock);
        self->sock = NULL;
    }
    if (self->zctx) {
        zmq_ctx_term(self->zctx);
        self->zctx = NULL;
    }
    if (self->efd >= 0) {
        close(self->efd);
        self->efd = -1;
    }
}

void eng_daemon_destroy(eng_daemon_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    eng_daemon_t *self = *self_p;
    eng_daemon_stop(self);
    s_job_free(self->current);
    while (self->queue_head) {
        s_job_t *j = self->queue_head;
        self->queue_head = j->next;
        s_job_free(j);
    }
    while (self->held_head) {
        s_held_t *h = self->held_head;
        self->held_head = h->next;
        eng_result_fini(&h->res);
        free(h);
    }
    eng_result_fini(&self->work_res);
    wire_session_destroy(&self->wire);
    for (size_t i = 0; i < self->n_plugins; i++)
        eng_plugin_destroy(&self->plugins[i]);
    free(self->plugins);
    eng_namespace_destroy(&self->ns);
    eng_functions_destroy(&self->functions);
    ipp_strmap_destroy(&self->jobs_idx);
    ipp_strmap_destroy(&self->held_idx);
    pthread_mutex_destroy(&self->mu);
    pthread_cond_destroy(&self->cv);
    free(self);
    *self_p = NULL;
}
