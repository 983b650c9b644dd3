/* daemon.c — ipp-engine's network side: lifecycle, registration,
 * heartbeats, messages and the loop.
 *
 * Owns the socket, the wire session, the function registry and plugins,
 * the namespace, the command guard, the worker thread's lifetime and the
 * registration state; the tasks themselves are tasks.c's (the state both
 * share is in daemon_int.h). new starts nothing; start brings up the
 * guard, the worker and the socket; stop takes them down. Must never
 * block in the loop but in zmq_poll, and never exit the process.
 */
#include "engine/daemon_int.h"

#include "engine/builtins.h"
#include "proto/clock.h"
#include "proto/conn.h"
#include "proto/zpoll.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define S_REGISTER_EVERY_US 1000000LL  // registration retry interval
#define S_DEFAULT_PERIOD_US 1000000LL  // heartbeat period until told
#define S_DEFAULT_MISSES 5
#define S_CONNECT_BACKOFF_MIN_US 50000LL  // first wait after a failed connect
#define S_CONNECT_BACKOFF_MAX_US 2000000LL

// ------------------------------------------------------------ connection

// s_connect: (re)connect the DEALER to the endpoint of the connection file.
static ipp_err_t s_connect(eng_daemon_t *self, ipp_error_t *err)
{
    conn_info_t info;
    const char *src = self->opts.conn_text ? "$IPP_CONNECTION_INFO" : self->opts.conn_path;
    ipp_err_t rc = self->opts.conn_text
                       ? conn_parse(self->opts.conn_text, strlen(self->opts.conn_text), src,
                                    CONN_ENGINE, &info, err)
                       : conn_read(self->opts.conn_path, CONN_ENGINE, &info, err);
    if (rc != IPP_OK)
        return rc;
    char ep[256];
    conn_peer_endpoint(&info, CONN_SOCK_ENGINE, ep, sizeof ep);
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
    if (info.curve_server_key[0]) {
        // With Curve the controller lets in only engine keys it knows: the
        // file must be one `ipp keys new --role engine` wrote.
        rc = conn_curve_check("engine", err);
        if (rc == IPP_OK && !info.curve_public_key[0])
            rc = ipp_error_set(err, IPP_ERR_CONN_FILE,
                               "%s holds the controller's Curve key but no engine key pair; "
                               "make one with `ipp keys new --role engine NAME --out FILE` "
                               "and start the engine with --connection FILE",
                               src);
        if (rc == IPP_OK &&
            (zmq_setsockopt(self->sock, ZMQ_CURVE_SERVERKEY, info.curve_server_key, 40) != 0 ||
             zmq_setsockopt(self->sock, ZMQ_CURVE_PUBLICKEY, info.curve_public_key, 40) != 0 ||
             zmq_setsockopt(self->sock, ZMQ_CURVE_SECRETKEY, info.curve_secret_key, 40) != 0))
            rc = ipp_error_set(err, IPP_ERR_ZMQ, "cannot set the Curve keys: %s",
                               zmq_strerror(errno));
        memset(info.curve_secret_key, 0, sizeof info.curve_secret_key);
        if (rc != IPP_OK) {
            zmq_close(self->sock);
            self->sock = NULL;
            return rc;
        }
    }
    zmq_setsockopt(self->sock, ZMQ_ROUTING_ID, self->uuid, strlen(self->uuid));
    // Nothing queues for a controller that is not there: a registration
    // or result sent into the void would arrive late and twice.
    zmq_setsockopt(self->sock, ZMQ_IMMEDIATE, &one, sizeof one);
    if (zmq_connect(self->sock, ep) != 0)
        return ipp_error_set(err, IPP_ERR_ZMQ, "cannot connect to %s: %s", ep, zmq_strerror(errno));
    snprintf(self->endpoint, sizeof self->endpoint, "%s", ep);
    IPP_LOGI(self->log, "engine %s connecting to %s", self->uuid, ep);
    return IPP_OK;
}

// s_connect_failed: note a failed (re)connect: double the back-off (up to
// S_CONNECT_BACKOFF_MAX_US) and log the reason when it is new.
static void s_connect_failed(eng_daemon_t *self, const ipp_error_t *err)
{
    int64_t b = self->connect_backoff_us ? self->connect_backoff_us * 2 : S_CONNECT_BACKOFF_MIN_US;
    self->connect_backoff_us = b > S_CONNECT_BACKOFF_MAX_US ? S_CONNECT_BACKOFF_MAX_US : b;
    if (strcmp(err->msg, self->connect_error) != 0) {
        if (err->code == IPP_ERR_NOT_FOUND)
            IPP_LOGW(self->log, "%s; waiting for the controller (retrying with a back-off)",
                     err->msg);
        else
            IPP_LOGW(self->log, "%s; retrying", err->msg);
        snprintf(self->connect_error, sizeof self->connect_error, "%s", err->msg);
    }
}

// ------------------------------------------------------------ registration

// s_register: send a registration request; false if it did not go out.
static bool s_register(eng_daemon_t *self)
{
    size_t nq = self->current && !self->in_worker ? 1 : 0, nh = 0;
    for (eng_job_t *j = self->pipe_head; j; j = j->next)
        nq++;
    for (eng_job_t *j = self->queue_head; j; j = j->next)
        nq++;
    for (eng_held_t *h = self->held_head; h; h = h->next)
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
    if (self->current && !self->in_worker)
        running[k++] = self->current->msg_id;
    for (eng_job_t *j = self->pipe_head; j; j = j->next)
        running[k++] = j->msg_id;
    for (eng_job_t *j = self->queue_head; j; j = j->next)
        running[k++] = j->msg_id;
    k = 0;
    for (eng_held_t *h = self->held_head; h; h = h->next)
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
    req.has_batches = 1;
    req.batches = 1;
    bool sent =
        eng_daemon_send(self, IPP__MSG_TYPE__REGISTRATION_REQUEST, NULL, &req.base, NULL, 0);
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
    self->misses = (rep->has_heartbeat_misses && rep->heartbeat_misses > 0) ? rep->heartbeat_misses
                                                                            : S_DEFAULT_MISSES;
    snprintf(self->controller, sizeof self->controller, "%s", msg->header->session);
    bool first = !self->registered;
    self->registered = true;
    self->batches = rep->has_batches && rep->batches;
    // The first heartbeat goes at once: the controller sends no work to an
    // engine until it has heard one after the registration.
    self->next_beat = ipp_clock_mono_us();
    if (first)
        IPP_LOGI(self->log, "registered as engine %d", self->engine_id);
    // Everything not acknowledged goes again.
    eng_tasks_resend(self);
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
        eng_tasks_receive(self, msg);
        break;
    case IPP__MSG_TYPE__TASK_BATCH:
        eng_tasks_receive_batch(self, msg);
        break;
    case IPP__MSG_TYPE__RESULT_ACK:
        eng_tasks_ack(self, (Ipp__ResultAck *)msg->content);
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
                eng_tasks_abort(self, c->msg_ids[i]);
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
    if (sodium_init() < 0) {
        ipp_error_set(err, IPP_ERR_IO, "libsodium failed to initialise");
        goto fail;
    }
    if (opts->uuid) {
        if (!opts->uuid[0] || strlen(opts->uuid) > IPP_MSGID_LEN) {
            ipp_error_set(err, IPP_ERR_INVALID, "--uuid must be 1 to %d characters", IPP_MSGID_LEN);
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
    if (pthread_create(&self->worker, NULL, eng_tasks_worker, self) != 0)
        return ipp_error_set(err, IPP_ERR_IO, "cannot start the worker thread");
    self->worker_started = true;
    self->zctx = zmq_ctx_new();
    if (!self->zctx)
        return ipp_error_set(err, IPP_ERR_ZMQ, "zmq_ctx_new failed");
    ipp_err_t rc = s_connect(self, err);
    if (rc == IPP_ERR_NOT_FOUND && !self->opts.conn_text) {
        // Started before its controller: run waits for the file.
        s_connect_failed(self, err);
        rc = IPP_OK;
    }
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
            if (s_connect(self, &err) != IPP_OK) {
                s_connect_failed(self, &err);
            } else {
                if (self->connect_backoff_us)
                    IPP_LOGI(self->log, "connection info found");
                self->connect_backoff_us = 0;
                self->connect_error[0] = '\0';
                sent = self->sock && s_register(self);
            }
            // Not connected yet: try again after the back-off; sent: wait
            // for the reply.
            self->next_register =
                now + (sent ? S_REGISTER_EVERY_US
                            : (self->connect_backoff_us ? self->connect_backoff_us
                                                        : S_REGISTER_EVERY_US / 20));
        }
        if (self->registered && now >= self->next_beat) {
            Ipp__Heartbeat hb = IPP__HEARTBEAT__INIT;
            hb.has_seq = 1;
            hb.seq = ++self->beat_seq;
            hb.has_engine_id = 1;
            hb.engine_id = self->engine_id;
            hb.running = self->current ? self->current->msg_id : NULL;
            eng_daemon_send(self, IPP__MSG_TYPE__HEARTBEAT, NULL, &hb.base, NULL, 0);
            self->next_beat = now + self->period_us;
        }
        if (self->registered && now - self->last_heard > self->period_us * self->misses)
            s_lost(self, "the controller is silent");
        eng_tasks_start(self);
        eng_tasks_flush(self);  // before sleeping: what finished goes out

        int64_t deadline = self->registered ? self->next_beat : self->next_register;
        int64_t call_deadline = eng_tasks_deadline(self);
        if (call_deadline && call_deadline < deadline)
            deadline = call_deadline;
        long timeout = deadline > now ? (long)((deadline - now + 999) / 1000) : 0;
        zmq_pollitem_t items[2 + ENG_RUNNER_MAX_FDS];
        size_t n = 0;
        // No socket yet (no connection file yet): an item that is never ready.
        items[n++] = self->sock ? (zmq_pollitem_t){self->sock, 0, ZMQ_POLLIN, 0}
                                : (zmq_pollitem_t){NULL, -1, 0, 0};
        items[n++] = (zmq_pollitem_t){NULL, self->efd, ZMQ_POLLIN, 0};
        if (self->runner) {
            struct pollfd pf[ENG_RUNNER_MAX_FDS];
            size_t k = eng_runner_pollfds(self->runner, pf, ENG_RUNNER_MAX_FDS);
            // poll(2) flags are not ZeroMQ's (POLLOUT is ZMQ_POLLERR's value).
            for (size_t i = 0; i < k; i++)
                items[n++] = (zmq_pollitem_t){NULL, pf[i].fd,
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
        if (self->sock && (items[0].revents & ZMQ_POLLIN)) {
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
        eng_tasks_collect(self);
    }
    eng_tasks_flush(self);  // what finished in the last turn
    wire_msg_fini(&msg);
    return rc;
}

void eng_daemon_stop(eng_daemon_t *self)
{
    if (!self)
        return;
    self->running = false;
    if (self->worker_started) {
        eng_tasks_stop_worker(self);
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
        eng_daemon_send(self, IPP__MSG_TYPE__UNREGISTRATION, NULL, &u.base, NULL, 0);
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
    eng_tasks_fini(self);
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
