/* harness.c — start, stop and talk to real ipp processes for tests.
 *
 * Owns the processes it starts (killed and reaped in h_cluster_fini) and
 * the client sockets (closed in h_client_close).
 */
#include "harness.h"

#include "proto/clock.h"

#include <check.h>
#include <sodium.h>
#include <errno.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef IPP_CONTROLLER_BIN
#error "IPP_CONTROLLER_BIN must be defined by the build"
#endif
#ifndef IPP_ENGINE_BIN
#error "IPP_ENGINE_BIN must be defined by the build"
#endif

static void s_track(h_cluster_t *c, pid_t pid)
{
    if (c->n_all < H_MAX_PROCS * 2)
        c->all[c->n_all++] = pid;
}

// s_spawn: fork + exec argv with output to log; returns the pid.
static pid_t s_spawn(h_cluster_t *c, const char *const *argv, const char *log)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        h_die_with_parent(parent);
        FILE *f = fopen(log, "a");
        if (f) {
            dup2(fileno(f), 1);
            dup2(fileno(f), 2);
        }
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    s_track(c, pid);
    return pid;
}

void h_die_with_parent(pid_t parent)
{
    // Whatever way the test process ends (a failed check exits without
    // running any cleanup), the kernel then kills what it started.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);  // the parent died before the line above
}

void h_cluster_init(h_cluster_t *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->dir, sizeof c->dir, "/tmp/ipp-it-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(c->dir));
    setenv("IPP_DIR", c->dir, 1);
    snprintf(c->profile_dir, sizeof c->profile_dir, "%s/profile_default", c->dir);
    snprintf(c->db_path, sizeof c->db_path, "%s/db/tasks.db", c->profile_dir);
}

void h_controller_start(h_cluster_t *c, const char *const *args)
{
    const char *argv[40];
    int n = 0;
    argv[n++] = IPP_CONTROLLER_BIN;
    argv[n++] = "--heartbeat-period";
    argv[n++] = "0.2";
    argv[n++] = "--heartbeat-misses";
    argv[n++] = "5";
    argv[n++] = "--log-level";
    argv[n++] = getenv("IPP_TEST_LOG") ? getenv("IPP_TEST_LOG") : "info";
    for (int i = 0; i < c->n_extra && n < 36; i++)
        argv[n++] = c->extra[i];
    for (int i = 0; args && args[i] && n < 38; i++) {
        argv[n++] = args[i];
        if (c->n_extra < 16)
            c->extra[c->n_extra++] = args[i];
    }
    argv[n] = NULL;
    // Remove the old connection files' pid marker: wait for new ones.
    char cf[700];
    snprintf(cf, sizeof cf, "%s/security/%s", c->profile_dir, CONN_CLIENT_FILE);
    char log[700];
    snprintf(log, sizeof log, "%s/controller.log", c->dir);
    c->controller = s_spawn(c, argv, log);
    int64_t until = ipp_clock_mono_us() + 10 * 1000000;
    for (;;) {
        conn_info_t info;
        if (conn_read(cf, CONN_CLIENT, &info, NULL) == IPP_OK &&
            info.controller_pid == c->controller)
            break;
        int st;
        if (waitpid(c->controller, &st, WNOHANG) == c->controller) {
            c->controller = 0;
            ck_abort_msg("controller exited at start (see %s)", log);
        }
        ck_assert_msg(ipp_clock_mono_us() < until, "controller did not start in 10 s (%s)", log);
        usleep(20000);
    }
}

void h_controller_kill(h_cluster_t *c)
{
    if (c->controller > 0) {
        kill(c->controller, SIGKILL);
        waitpid(c->controller, NULL, 0);
        c->controller = 0;
    }
}

int h_controller_stop(h_cluster_t *c)
{
    int st = -1;
    if (c->controller > 0) {
        kill(c->controller, SIGTERM);
        int64_t until = ipp_clock_mono_us() + 20 * 1000000;
        while (waitpid(c->controller, &st, WNOHANG) == 0) {
            if (ipp_clock_mono_us() > until) {
                kill(c->controller, SIGKILL);
                waitpid(c->controller, &st, 0);
                break;
            }
            usleep(10000);
        }
        c->controller = 0;
    }
    return st;
}

int h_engine_start(h_cluster_t *c, const char *const *args)
{
    ck_assert_int_lt(c->n_engines, H_MAX_PROCS);
    const char *argv[32];
    int n = 0;
    argv[n++] = IPP_ENGINE_BIN;
    argv[n++] = "--log-level";
    argv[n++] = "info";
    for (int i = 0; args && args[i] && n < 31; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    char log[700];
    snprintf(log, sizeof log, "%s/engine-%d.log", c->dir, c->n_engines);
    c->engines[c->n_engines] = s_spawn(c, argv, log);
    return c->n_engines++;
}

void h_engine_kill(h_cluster_t *c, int i)
{
    if (c->engines[i] > 0) {
        kill(c->engines[i], SIGKILL);
        waitpid(c->engines[i], NULL, 0);
        c->engines[i] = 0;
    }
}

// s_term: SIGTERM pid, wait up to 10 s; 0 if it exited with status 0.
static int s_term(pid_t pid, const char *what, const char *dir)
{
    int st = 0;
    kill(pid, SIGTERM);
    int64_t until = ipp_clock_mono_us() + 10 * 1000000;
    pid_t r;
    while ((r = waitpid(pid, &st, WNOHANG)) == 0 && ipp_clock_mono_us() < until)
        usleep(10000);
    if (r == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        fprintf(stderr, "%s (pid %d) did not stop on SIGTERM in 10 s (%s)\n", what, (int)pid, dir);
        return 1;
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "%s (pid %d) ended with %s %d (logs in %s)\n", what, (int)pid,
                WIFEXITED(st) ? "status" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st),
                dir);
        return 1;
    }
    return 0;
}

int h_cluster_stop(h_cluster_t *c)
{
    int bad = 0;
    // Engines first, while the controller can still hear them leave.
    for (int i = 0; i < c->n_engines; i++) {
        if (c->engines[i] > 0) {
            char what[32];
            snprintf(what, sizeof what, "engine %d", i);
            bad += s_term(c->engines[i], what, c->dir);
            c->engines[i] = 0;
        }
    }
    if (c->controller > 0) {
        bad += s_term(c->controller, "controller", c->dir);
        c->controller = 0;
    }
    return bad;
}

void h_cluster_fini(h_cluster_t *c)
{
    for (int i = 0; i < c->n_all; i++) {
        // Reap what already exited; kill what did not.
        if (c->all[i] > 0 && waitpid(c->all[i], NULL, WNOHANG) == 0) {
            kill(c->all[i], SIGKILL);
            waitpid(c->all[i], NULL, 0);
        }
    }
    if (getenv("IPP_TEST_KEEP")) {
        fprintf(stderr, "kept %s\n", c->dir);
        return;
    }
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", c->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", c->dir);
}

// ------------------------------------------------------------ client

bool h_client_try_open(h_client_t *cl, const h_cluster_t *c, char *why, size_t why_size)
{
    memset(cl, 0, sizeof *cl);
    wire_msg_init(&cl->msg);
    char cf[700];
    snprintf(cf, sizeof cf, "%s/security/%s", c->profile_dir, CONN_CLIENT_FILE);
    ipp_error_t err;
    if (conn_read(cf, CONN_CLIENT, &cl->info, &err) != IPP_OK) {
        snprintf(why, why_size, "%s", err.msg);
        return false;
    }
    static ipp_logger_t quiet = {IPP_LOG_ERROR, NULL, "test-client"};
    wire_opts_t wo = {0};
    wo.key = cl->info.key;
    wo.key_len = cl->info.key_len;
    wo.log = &quiet;
    cl->wire = wire_session_new(&wo, &err);
    if (!cl->wire) {
        snprintf(why, why_size, "%s", err.msg);
        return false;
    }
    cl->zctx = zmq_ctx_new();
    cl->dealer = cl->zctx ? zmq_socket(cl->zctx, ZMQ_DEALER) : NULL;
    cl->sub = cl->zctx ? zmq_socket(cl->zctx, ZMQ_SUB) : NULL;
    if (!cl->dealer || !cl->sub) {
        snprintf(why, why_size, "zmq: %s", zmq_strerror(zmq_errno()));
        return false;
    }
    wire_socket_setup(cl->wire, cl->dealer);
    wire_socket_setup(cl->wire, cl->sub);
    const char *sid = wire_session_id(cl->wire);
    zmq_setsockopt(cl->dealer, ZMQ_ROUTING_ID, sid, strlen(sid));
    zmq_setsockopt(cl->sub, ZMQ_SUBSCRIBE, "", 0);
    char ep[128];
    if (zmq_connect(cl->dealer, conn_endpoint(&cl->info, cl->info.client_port, ep, sizeof ep)) !=
            0 ||
        zmq_connect(cl->sub, conn_endpoint(&cl->info, cl->info.notify_port, ep, sizeof ep)) != 0) {
        snprintf(why, why_size, "cannot connect to %s: %s", ep, zmq_strerror(zmq_errno()));
        return false;
    }
    return true;
}

void h_client_open(h_client_t *cl, const h_cluster_t *c)
{
    char why[300];
    ck_assert_msg(h_client_try_open(cl, c, why, sizeof why), "%s", why);
}

void h_client_close(h_client_t *cl)
{
    wire_msg_fini(&cl->msg);
    if (cl->dealer)
        zmq_close(cl->dealer);
    if (cl->sub)
        zmq_close(cl->sub);
    if (cl->zctx)
        zmq_ctx_term(cl->zctx);
    wire_session_destroy(&cl->wire);
    memset(cl, 0, sizeof *cl);
}

ipp_err_t h_try_send(h_client_t *cl, Ipp__MsgType type, const ProtobufCMessage *content,
                     zmq_msg_t *bufs, size_t n_bufs, const char *msg_id, char *id_out)
{
    return wire_send(cl->wire, cl->dealer, NULL, 0, type, NULL, content, bufs, n_bufs, 0, msg_id,
                     id_out);
}

void h_engine_peer_open(h_client_t *cl, const h_cluster_t *c, const char *routing_id)
{
    memset(cl, 0, sizeof *cl);
    char cf[700];
    snprintf(cf, sizeof cf, "%s/security/%s", c->profile_dir, CONN_ENGINE_FILE);
    ipp_error_t err;
    ck_assert_msg(conn_read(cf, CONN_ENGINE, &cl->info, &err) == IPP_OK, "%s", err.msg);
    static ipp_logger_t quiet = {IPP_LOG_ERROR, NULL, "test-peer"};
    wire_opts_t wo = {0};
    wo.key = cl->info.key;
    wo.key_len = cl->info.key_len;
    wo.log = &quiet;
    cl->wire = wire_session_new(&wo, &err);
    ck_assert_ptr_nonnull(cl->wire);
    cl->zctx = zmq_ctx_new();
    cl->dealer = zmq_socket(cl->zctx, ZMQ_DEALER);
    wire_socket_setup(cl->wire, cl->dealer);
    const char *rid = routing_id ? routing_id : wire_session_id(cl->wire);
    zmq_setsockopt(cl->dealer, ZMQ_ROUTING_ID, rid, strlen(rid));
    char ep[128];
    ck_assert_int_eq(
        zmq_connect(cl->dealer, conn_endpoint(&cl->info, cl->info.engine_port, ep, sizeof ep)), 0);
    wire_msg_init(&cl->msg);
}

void h_send_bytes(h_client_t *cl, Ipp__MsgType type, const void *content, size_t len, char *id_out)
{
    Ipp__Header h = IPP__HEADER__INIT;
    char id[IPP_MSGID_LEN + 1];
    wire_session_new_id(cl->wire, id);
    h.msg_id = id;
    h.has_msg_type = 1;
    h.msg_type = type;
    h.session = (char *)wire_session_id(cl->wire);
    h.has_date = 1;
    h.date = ipp_clock_now_us();
    h.has_version = 1;
    h.version = 1;
    uint8_t hb[256];
    ck_assert_uint_le(ipp__header__get_packed_size(&h), sizeof hb);
    size_t hl = ipp__header__pack(&h, hb);
    // The MAC as wire.c computes it: BLAKE2b over each frame, each after
    // its 8-byte little-endian length.
    uint8_t mac[WIRE_MAC_LEN];
    crypto_generichash_state st;
    crypto_generichash_init(&st, cl->info.key, cl->info.key_len, WIRE_MAC_LEN);
    const uint8_t *parts[2] = {hb, content};
    size_t lens[2] = {hl, len};
    for (int i = 0; i < 2; i++) {
        uint8_t l[8] = {0};
        for (int k = 0; k < 8; k++)
            l[k] = (uint8_t)((uint64_t)lens[i] >> (8 * k));
        crypto_generichash_update(&st, l, 8);
        crypto_generichash_update(&st, parts[i], lens[i]);
    }
    crypto_generichash_final(&st, mac, WIRE_MAC_LEN);
    zmq_send(cl->dealer, WIRE_DELIM, WIRE_DELIM_LEN, ZMQ_SNDMORE);
    zmq_send(cl->dealer, mac, WIRE_MAC_LEN, ZMQ_SNDMORE);
    zmq_send(cl->dealer, hb, hl, ZMQ_SNDMORE);
    zmq_send(cl->dealer, content, len, 0);
    if (id_out)
        memcpy(id_out, id, sizeof id);
}

void h_send(h_client_t *cl, Ipp__MsgType type, const ProtobufCMessage *content, zmq_msg_t *bufs,
            size_t n_bufs, char *id_out)
{
    ck_assert_int_eq(h_try_send(cl, type, content, bufs, n_bufs, NULL, id_out), IPP_OK);
}

int h_recv(h_client_t *cl, int timeout_ms)
{
    int64_t until = ipp_clock_mono_us() + (int64_t)timeout_ms * 1000;
    for (;;) {
        int64_t left = (until - ipp_clock_mono_us()) / 1000;
        if (left < 0)
            return 0;
        zmq_pollitem_t it = {cl->dealer, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, (long)left) <= 0)
            continue;
        if (wire_recv(cl->wire, cl->dealer, ZMQ_DONTWAIT, &cl->msg, NULL) == IPP_OK)
            return wire_msg_type(&cl->msg);
    }
}

int h_request(h_client_t *cl, Ipp__MsgType type, const ProtobufCMessage *content, int timeout_ms)
{
    char id[IPP_MSGID_LEN + 1];
    h_send(cl, type, content, NULL, 0, id);
    int64_t until = ipp_clock_mono_us() + (int64_t)timeout_ms * 1000;
    while (ipp_clock_mono_us() < until) {
        int t = h_recv(cl, (int)((until - ipp_clock_mono_us()) / 1000) + 1);
        if (t && cl->msg.header->parent_id && strcmp(cl->msg.header->parent_id, id) == 0)
            return t;
    }
    return 0;
}

bool h_wait_engines(h_client_t *cl, size_t n, int timeout_ms)
{
    int64_t until = ipp_clock_mono_us() + (int64_t)timeout_ms * 1000;
    while (ipp_clock_mono_us() < until) {
        Ipp__ConnectRequest req = IPP__CONNECT_REQUEST__INIT;
        if (h_request(cl, IPP__MSG_TYPE__CONNECT_REQUEST, &req.base, 2000) ==
                IPP__MSG_TYPE__CONNECT_REPLY &&
            ((Ipp__ConnectReply *)cl->msg.content)->n_engines >= n)
            return true;
        usleep(50000);
    }
    return false;
}

ipp_err_t h_submit_as(h_client_t *cl, const h_task_t *t, const char *msg_id, char *id)
{
    Ipp__TaskRequest req = IPP__TASK_REQUEST__INIT;
    Ipp__Call call = IPP__CALL__INIT;
    Ipp__Command cmd = IPP__COMMAND__INIT;
    Ipp__Dependency after = IPP__DEPENDENCY__INIT;
    Ipp__Dependency follow = IPP__DEPENDENCY__INIT;
    zmq_msg_t bufs[16];
    size_t nb = 0;
    if (t->call) {
        call.function = (char *)t->call;
        req.kind_case = IPP__TASK_REQUEST__KIND_CALL;
        req.call = &call;
        for (size_t i = 0; i < t->n_args && i < 16; i++) {
            zmq_msg_init_size(&bufs[nb], strlen(t->args[i]));
            memcpy(zmq_msg_data(&bufs[nb]), t->args[i], strlen(t->args[i]));
            nb++;
        }
    } else {
        cmd.shell = (char *)t->shell;
        if (t->wall_limit_s > 0) {
            cmd.has_wall_limit_us = 1;
            cmd.wall_limit_us = (int64_t)(t->wall_limit_s * 1e6);
        }
        req.kind_case = IPP__TASK_REQUEST__KIND_COMMAND;
        req.command = &cmd;
    }
    int32_t target = t->target;
    req.has_queue = 1;
    if (t->target >= 0) {
        req.queue = IPP__QUEUE__QUEUE_MUX;
        req.n_targets = 1;
        req.targets = &target;
    } else {
        req.queue = IPP__QUEUE__QUEUE_TASK;
        req.n_targets = t->n_targets;
        req.targets = (int32_t *)t->targets;
    }
    if (t->n_after) {
        after.n_ids = t->n_after;
        after.ids = (char **)t->after;
        after.has_all = 1;
        after.all = !t->after_any;
        after.has_success = 1;
        after.success = !t->after_no_success;
        after.has_failure = 1;
        after.failure = t->after_failure;
        req.after = &after;
    }
    if (t->n_follow) {
        follow.n_ids = t->n_follow;
        follow.ids = (char **)t->follow;
        req.follow = &follow;
    }
    if (t->timeout_s > 0) {
        req.has_timeout_us = 1;
        req.timeout_us = (int64_t)(t->timeout_s * 1e6);
    }
    if (t->retries) {
        req.has_retries = 1;
        req.retries = t->retries;
    }
    req.label = (char *)t->label;
    req.n_requires = t->n_requires;
    req.requires = (char **)t->requires;
    return h_try_send(cl, IPP__MSG_TYPE__TASK_REQUEST, &req.base, bufs, nb, msg_id, id);
}

void h_submit(h_client_t *cl, const h_task_t *t, char *id)
{
    ck_assert_int_eq(h_submit_as(cl, t, NULL, id), IPP_OK);
}

size_t h_collect(h_client_t *cl, char (*ids)[IPP_MSGID_LEN + 1], size_t n, h_result_t *res,
                 int timeout_ms)
{
    size_t finished = 0;
    for (size_t i = 0; i < n; i++) {
        memset(&res[i], 0, sizeof res[i]);
        memcpy(res[i].msg_id, ids[i], sizeof res[i].msg_id);
        res[i].engine_id = -1;
    }
    int64_t until = ipp_clock_mono_us() + (int64_t)timeout_ms * 1000;
    while (finished < n && ipp_clock_mono_us() < until) {
        int t = h_recv(cl, (int)((until - ipp_clock_mono_us()) / 1000) + 1);
        if (t == IPP__MSG_TYPE__SUBMIT_REPLY) {
            // Acceptances come batched, without a parent.
            Ipp__SubmitReply *s = (Ipp__SubmitReply *)cl->msg.content;
            for (size_t k = 0; k < s->n_accepted_ids; k++)
                for (size_t i = 0; i < n; i++)
                    if (strcmp(ids[i], s->accepted_ids[k]) == 0)
                        res[i].accepted = true;
        }
        if (!t || !cl->msg.header->parent_id)
            continue;
        const char *pid = cl->msg.header->parent_id;
        h_result_t *r = NULL;
        for (size_t i = 0; i < n && !r; i++)
            if (strcmp(ids[i], pid) == 0)
                r = &res[i];
        if (!r)
            continue;
        if (t == IPP__MSG_TYPE__SUBMIT_REPLY) {
            Ipp__SubmitReply *s = (Ipp__SubmitReply *)cl->msg.content;
            if (s->accepted) {
                r->accepted = true;
            } else if (!r->refused) {
                r->refused = true;
                if (s->error && s->error->evalue)
                    snprintf(r->evalue, sizeof r->evalue, "%s", s->error->evalue);
                finished++;
            }
        } else if (t == IPP__MSG_TYPE__TASK_RESULT && !r->done) {
            Ipp__TaskResult *tr = (Ipp__TaskResult *)cl->msg.content;
            r->accepted = true;  // a result is only sent once the request is recorded
            r->done = true;
            r->status = tr->status;
            r->engine_id = tr->has_engine_id ? tr->engine_id : -1;
            if (tr->error) {
                snprintf(r->ename, sizeof r->ename, "%s", tr->error->ename ? tr->error->ename : "");
                snprintf(r->evalue, sizeof r->evalue, "%s",
                         tr->error->evalue ? tr->error->evalue : "");
            }
            if (tr->has_stdout_data) {
                size_t l = tr->stdout_data.len < sizeof r->out - 1 ? tr->stdout_data.len
                                                                   : sizeof r->out - 1;
                if (l)
                    memcpy(r->out, tr->stdout_data.data, l);
                r->out[l] = '\0';
            }
            if (wire_msg_n_buffers(&cl->msg)) {
                size_t l;
                const char *b = wire_msg_buffer(&cl->msg, 0, &l);
                if (l > sizeof r->buf0 - 1)
                    l = sizeof r->buf0 - 1;
                if (l)
                    memcpy(r->buf0, b, l);
                r->buf0[l] = '\0';
            }
            finished++;
        }
    }
    return finished;
}

int64_t h_db_int(const h_cluster_t *c, const char *sql)
{
    sqlite3 *db = NULL;
    int64_t v = -1;
    if (sqlite3_open_v2(c->db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return -1;
    }
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    else if (rc != SQLITE_DONE)  // no row: -1, quietly
        fprintf(stderr, "h_db_int: %s: %s\n", sql, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

bool h_db_text(const h_cluster_t *c, const char *sql, char *out, size_t size)
{
    sqlite3 *db = NULL;
    bool got = false;
    out[0] = '\0';
    if (sqlite3_open_v2(c->db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        snprintf(out, size, "cannot open %s: %s", c->db_path, db ? sqlite3_errmsg(db) : "?");
        sqlite3_close(db);
        return false;
    }
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const unsigned char *v = sqlite3_column_text(st, 0);
        snprintf(out, size, "%s", v ? (const char *)v : "");
        got = true;
    } else if (rc != SQLITE_DONE) {
        snprintf(out, size, "%s: %s", sql, sqlite3_errmsg(db));
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return got;
}

void h_up(h_cluster_t *c, h_client_t *k, int n, const char *const *ctl_args)
{
    h_cluster_init(c);
    h_controller_start(c, ctl_args);
    for (int i = 0; i < n; i++)
        h_engine_start(c, NULL);
    h_client_open(k, c);
    ck_assert_msg(h_wait_engines(k, (size_t)n, 15000), "engines did not register");
}

void h_down(h_cluster_t *c, h_client_t *k)
{
    h_client_close(k);
    int bad = h_cluster_stop(c);
    h_cluster_fini(c);
    ck_assert_msg(bad == 0, "%d processes did not stop cleanly", bad);
}

int h_main(Suite *s)
{
    if (sodium_init() < 0)
        return 1;
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
