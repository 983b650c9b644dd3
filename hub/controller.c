/* controller.c — the controller object: its lifecycle, dispatch and loop.
 *
 * Creates and frees every resource of hub_t: hub_new allocates, hub_start
 * claims the pid file, binds the sockets, opens the task store and
 * recovers, hub_stop releases what start took, hub_destroy frees.
 * Incoming messages go to their handlers through one const {msg_type,
 * handler} table per socket.
 * The loop: work out the next timer deadline (heartbeat check, scheduler
 * timeouts, end of the recovery grace), poll the client and engine sockets
 * and the task store's commit descriptor, handle what arrived, then before
 * sleeping hand the writer its batch. Nothing here blocks on the disk: the
 * writer thread does. It is the top of hub/: no other file but main.c
 * calls into it, and replies and notifications are send.c's.
 */
#include "hub/hub.h"
#include "hub/reads.h"

#include "proto/clock.h"
#include "proto/codec.h"
#include "proto/zpoll.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// ------------------------------------------------------------- pid file

// s_is_controller: whether pid is a running (not zombie) ipp-controller.
// A pid file left by a controller killed with SIGKILL may name a process
// that is a zombie now, or a recycled pid running something else.
static bool s_is_controller(int pid)
{
    if (kill(pid, 0) != 0 && errno != EPERM)
        return false;
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return true;  // no /proc: trust kill()
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *rp = strrchr(buf, ')');  // state follows "(comm)"
    if (rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X'))
        return false;
    snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
    f = fopen(path, "r");
    if (!f)
        return true;
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';  // argv[0] ends at the first NUL
    return strstr(buf, "ipp-controller") != NULL;
}

// s_pid_claim: write our pid to path unless a live controller holds it.
static ipp_err_t s_pid_claim(const char *path, ipp_error_t *err)
{
    FILE *f = fopen(path, "r");
    if (f) {
        int pid = 0;
        if (fscanf(f, "%d", &pid) == 1 && pid > 0 && pid != getpid() && s_is_controller(pid)) {
            fclose(f);
            return ipp_error_set(err, IPP_ERR_INVALID,
                                 "a controller is already running for this profile "
                                 "(pid %d, %s); stop it first",
                                 pid, path);
        }
        fclose(f);
    }
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%s.%d", path, (int)getpid());
    f = fopen(tmp, "w");
    if (!f)
        return ipp_error_set(err, IPP_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
    fprintf(f, "%d\n", (int)getpid());
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return ipp_error_set(err, IPP_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    }
    return IPP_OK;
}

// ------------------------------------------------------------- sockets

// s_bind: bind sock to ip:port (port 0: any free port); *bound gets the port.
static ipp_err_t s_bind(hub_t *hub, void *sock, int port, int *bound, ipp_error_t *err)
{
    char ep[128];
    conn_info_t tmp = hub->client_conn;
    snprintf(tmp.ip, sizeof tmp.ip, "%s", hub->cfg.ip);
    if (port > 0) {
        conn_endpoint(&tmp, port, ep, sizeof ep);
        if (zmq_bind(sock, ep) == 0) {
            *bound = port;
            return IPP_OK;
        }
        IPP_LOGW(hub->log, "cannot bind %s again (%s); taking a free port", ep,
                 zmq_strerror(zmq_errno()));
    }
    if (strchr(hub->cfg.ip, ':'))
        snprintf(ep, sizeof ep, "tcp://[%s]:*", hub->cfg.ip);
    else
        snprintf(ep, sizeof ep, "tcp://%s:*", hub->cfg.ip);
    if (zmq_bind(sock, ep) != 0)
        return ipp_error_set(err, IPP_ERR_ZMQ, "cannot bind %s: %s", ep, zmq_strerror(zmq_errno()));
    char last[256];
    size_t len = sizeof last;
    zmq_getsockopt(sock, ZMQ_LAST_ENDPOINT, last, &len);
    const char *colon = strrchr(last, ':');
    *bound = colon ? atoi(colon + 1) : 0;
    if (*bound <= 0)
        return ipp_error_set(err, IPP_ERR_ZMQ, "cannot tell the port of %s", last);
    return IPP_OK;
}

// s_bind_ipc: also bind sock to the profile's ipc endpoint name (peers on
// this host connect there: no TCP stack on the way). The endpoint goes to
// ep ("" when there is none); a failure only costs local peers some speed.
static void s_bind_ipc(hub_t *hub, void *sock, const char *name, char *ep, size_t size)
{
    if (hub->cfg.no_ipc || !hub->host_id[0]) {
        ep[0] = '\0';
        return;
    }
    if (!conn_ipc_endpoint(hub->cfg.profile_dir, name, ep, size)) {
        IPP_LOGI(hub->log, "profile path too long for a Unix socket: %s peers use TCP", name);
        return;
    }
    // A socket file left by a controller that was killed is in the way;
    // the pid file says no other controller owns this profile.
    unlink(ep + 6);
    if (zmq_bind(sock, ep) != 0) {
        IPP_LOGW(hub->log, "cannot bind %s (%s); %s peers use TCP", ep, zmq_strerror(zmq_errno()),
                 name);
        ep[0] = '\0';
    }
}

static void *s_socket(hub_t *hub, int type, ipp_error_t *err)
{
    void *sock = zmq_socket(hub->zctx, type);
    if (!sock) {
        ipp_error_set(err, IPP_ERR_ZMQ, "zmq_socket: %s", zmq_strerror(zmq_errno()));
        return NULL;
    }
    if (wire_socket_setup(hub->wire, sock) != IPP_OK) {
        ipp_error_set(err, IPP_ERR_ZMQ, "socket options: %s", zmq_strerror(zmq_errno()));
        zmq_close(sock);
        return NULL;
    }
    if (type == ZMQ_ROUTER) {
        int one = 1;
        zmq_setsockopt(sock, ZMQ_ROUTER_HANDOVER, &one, sizeof one);
        // Say when a peer is gone or not reading instead of dropping the
        // message without a word.
        zmq_setsockopt(sock, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    }
    return sock;
}

// s_open_conn: reuse the key and ports of existing connection files (a
// restart: engines and clients find us where they were), else make new.
static void s_open_conn(hub_t *hub)
{
    char path[1200];
    conn_info_t c, e;
    ipp_error_t err;
    conn_info_init(&hub->client_conn, CONN_CLIENT);
    conn_info_init(&hub->engine_conn, CONN_ENGINE);
    bool reuse = false;
    if (conn_file_path(hub->cfg.profile_dir, CONN_CLIENT, path, sizeof path, &err) == IPP_OK &&
        conn_read(path, CONN_CLIENT, &c, &err) == IPP_OK &&
        conn_file_path(hub->cfg.profile_dir, CONN_ENGINE, path, sizeof path, &err) == IPP_OK &&
        conn_read(path, CONN_ENGINE, &e, &err) == IPP_OK && c.key_len == e.key_len &&
        memcmp(c.key, e.key, c.key_len) == 0) {
        reuse = true;
        hub->client_conn = c;
        hub->engine_conn = e;
        IPP_LOGI(hub->log, "reusing the key and ports of %s", hub->cfg.profile_dir);
    }
    if (!reuse) {
        conn_info_new_key(&hub->client_conn);
        memcpy(hub->engine_conn.key, hub->client_conn.key, hub->client_conn.key_len);
        hub->engine_conn.key_len = hub->client_conn.key_len;
    }
    if (hub->cfg.client_port)
        hub->client_conn.client_port = hub->cfg.client_port;
    if (hub->cfg.notify_port)
        hub->client_conn.notify_port = hub->cfg.notify_port;
    if (hub->cfg.engine_port)
        hub->engine_conn.engine_port = hub->cfg.engine_port;
}

// s_write_conn: write both connection files with the bound ports.
static ipp_err_t s_write_conn(hub_t *hub, ipp_error_t *err)
{
    char path[1200];
    ipp_err_t rc;
    hub->client_conn.controller_pid = hub->engine_conn.controller_pid = (int)getpid();
    // Peers connect where we bound; a wildcard bind is reached on loopback.
    const char *ip = hub->cfg.ip;
    if (strcmp(ip, "0.0.0.0") == 0 || strcmp(ip, "*") == 0)
        ip = "127.0.0.1";
    else if (strcmp(ip, "::") == 0)
        ip = "::1";
    snprintf(hub->client_conn.ip, sizeof hub->client_conn.ip, "%s", ip);
    snprintf(hub->engine_conn.ip, sizeof hub->engine_conn.ip, "%s", ip);
    if ((rc = conn_file_path(hub->cfg.profile_dir, CONN_CLIENT, path, sizeof path, err)) ||
        (rc = conn_write(path, &hub->client_conn, err)) ||
        (rc = conn_file_path(hub->cfg.profile_dir, CONN_ENGINE, path, sizeof path, err)) ||
        (rc = conn_write(path, &hub->engine_conn, err)))
        return rc;
    return IPP_OK;
}

// ------------------------------------------------------------- lifecycle

// s_wait_engines_left: after a shutdown that stopped every engine, wait
// (1 s at most) until each has said it leaves before the sockets close. An
// engine's DEALER (ZMQ_IMMEDIATE) drops what it has not read yet when its
// connection goes: closing at once could take the stop with it, and the
// engine would stay, waiting for the next controller, instead of exiting.
// Only unregistrations count here; anything else an engine sends now is
// sent again to the next controller, as it would be without the wait.
static void s_wait_engines_left(hub_t *hub)
{
    size_t n = hub_registry_count(hub->engines);
    bool *left = n ? calloc(n, sizeof *left) : NULL;
    if (!left)
        return;
    size_t gone = 0;
    int64_t until = ipp_clock_mono_us() + 1000000;
    wire_msg_t msg;
    wire_msg_init(&msg);
    while (gone < n) {
        int64_t wait_us = until - ipp_clock_mono_us();
        if (wait_us <= 0)
            break;
        zmq_pollitem_t item = {hub->engine_sock, 0, ZMQ_POLLIN, 0};
        int r = ipp_zpoll(&item, 1, (long)(wait_us / 1000) + 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            break;
        while (r > 0 &&
               wire_recv(hub->wire, hub->engine_sock, ZMQ_DONTWAIT, &msg, NULL) != IPP_ERR_ZMQ) {
            wire_frame_t id[1];
            if (!msg.header || wire_msg_type(&msg) != IPP__MSG_TYPE__UNREGISTRATION ||
                wire_msg_idents(&msg, id, 1) != 1)
                continue;
            for (size_t i = 0; i < n; i++) {
                const hub_engine_t *e = hub_registry_at(hub->engines, i);
                if (!left[i] && e && e->ident_len == id->size &&
                    memcmp(e->ident, id->data, id->size) == 0) {
                    left[i] = true;
                    gone++;
                }
            }
        }
    }
    if (gone < n)
        IPP_LOGI(hub->log, "stopping: %zu of %zu engines did not say they left within 1 s",
                 n - gone, n);
    wire_msg_fini(&msg);
    free(left);
}

hub_t *hub_new(const hub_config_t *cfg, const ipp_logger_t *log, ipp_error_t *err)
{
    hub_t *hub = calloc(1, sizeof *hub);
    if (!hub) {
        ipp_error_set(err, IPP_ERR_NOMEM, "no memory for the controller");
        return NULL;
    }
    hub->cfg = *cfg;
    ipp_pool_init(&hub->task_pool, sizeof(hub_task_t), 256);
    if (hub->cfg.max_engines == 0)
        hub->cfg.max_engines = HUB_MAX_ENGINES_DEFAULT;
    hub->log = log;
    hub->started = ipp_clock_now_us();
    wire_msg_init(&hub->in);
    snprintf(hub->pid_path, sizeof hub->pid_path, "%s/ipp-controller.pid", hub->cfg.profile_dir);
    sched_config_t sc = sched_config_default();
    sc.scheme = cfg->scheme;
    sc.hwm = cfg->hwm;
    // A task whose targets are all down waits as long as engines get to
    // come back after a restart, then fails (docs/PROTOCOL.md).
    sc.targets_grace_us = cfg->grace_us;
    sc.seed = (uint64_t)hub->started;
    hub->sched = sched_new(&sc, &hub_sched_ops, hub);
    hub->engines = hub_registry_new();
    hub->tasks = ipp_strmap_new();
    hub->clients = ipp_strmap_new();
    hub->subs = ipp_strmap_new();
    if (!hub->sched || !hub->engines || !hub->tasks || !hub->clients || !hub->subs) {
        ipp_error_set(err, IPP_ERR_NOMEM, "no memory for the scheduler");
        hub_destroy(&hub);
        return NULL;
    }
    return hub;
}

ipp_err_t hub_start(hub_t *hub, ipp_error_t *err)
{
    ipp_error_t local;
    if (!err)
        err = &local;  // the steps below read back the code they set
    if (hub->pid_claimed || hub->zctx)
        return ipp_error_set(err, IPP_ERR_INVALID, "the controller was already started");
    if (conn_profile_prepare(hub->cfg.profile_dir, err) != IPP_OK)
        goto fail;
    if (s_pid_claim(hub->pid_path, err) != IPP_OK)
        goto fail;  // not ours to remove
    hub->pid_claimed = true;
    s_open_conn(hub);

    wire_opts_t wo = {0};
    wo.key = hub->client_conn.key;
    wo.key_len = hub->client_conn.key_len;
    wo.window_us = hub->cfg.window_us;
    char guard_path[1100];  // what the replay guard must not forget over a restart
    snprintf(guard_path, sizeof guard_path, "%s/replay-guard", hub->cfg.profile_dir);
    wo.state_path = guard_path;
    wo.log = hub->log;
    wo.username = "controller";
    hub->wire = wire_session_new(&wo, err);
    if (!hub->wire)
        goto fail;

    hub->zctx = zmq_ctx_new();
    if (!hub->zctx) {
        ipp_error_set(err, IPP_ERR_ZMQ, "zmq_ctx_new: %s", zmq_strerror(zmq_errno()));
        goto fail;
    }
    if (hub_keys_setup(hub, err) != IPP_OK)
        goto fail;
    if (!(hub->client_sock = s_socket(hub, ZMQ_ROUTER, err)) ||
        !(hub->engine_sock = s_socket(hub, ZMQ_ROUTER, err)) ||
        !(hub->pub_sock = s_socket(hub, ZMQ_XPUB, err)) ||
        hub_keys_socket(hub, hub->client_sock, "client", err) != IPP_OK ||
        hub_keys_socket(hub, hub->engine_sock, "engine", err) != IPP_OK ||
        hub_keys_socket(hub, hub->pub_sock, "notify", err) != IPP_OK)
        goto fail;
    if (s_bind(hub, hub->client_sock, hub->client_conn.client_port, &hub->client_conn.client_port,
               err) != IPP_OK ||
        s_bind(hub, hub->pub_sock, hub->client_conn.notify_port, &hub->client_conn.notify_port,
               err) != IPP_OK ||
        s_bind(hub, hub->engine_sock, hub->engine_conn.engine_port, &hub->engine_conn.engine_port,
               err) != IPP_OK)
        goto fail;
    if (!hub->cfg.no_ipc && !conn_host_id(hub->host_id, sizeof hub->host_id))
        IPP_LOGI(hub->log, "cannot tell this host's identity from /proc: peers use TCP only");
    s_bind_ipc(hub, hub->client_sock, "client", hub->client_conn.ipc_client,
               sizeof hub->client_conn.ipc_client);
    s_bind_ipc(hub, hub->pub_sock, "notify", hub->client_conn.ipc_notify,
               sizeof hub->client_conn.ipc_notify);
    s_bind_ipc(hub, hub->engine_sock, "engine", hub->engine_conn.ipc_engine,
               sizeof hub->engine_conn.ipc_engine);
    if (!hub->client_conn.ipc_client[0] || !hub->client_conn.ipc_notify[0])
        hub->client_conn.ipc_client[0] = hub->client_conn.ipc_notify[0] = '\0';
    snprintf(hub->client_conn.host_id, sizeof hub->client_conn.host_id, "%s", hub->host_id);
    snprintf(hub->engine_conn.host_id, sizeof hub->engine_conn.host_id, "%s", hub->host_id);

    hub->store = hub_store_open(&hub->cfg, hub->log, err);
    if (!hub->store)
        goto fail;
    // Reads that may be large get a thread and a connection of their own.
    hub->reads = hub_reads_new(hub->cfg.db_path, 0, 0, hub->log, err);
    if (!hub->reads)
        goto fail;
    int keys = 0;
    if (hub_keys_load(hub, NULL, 0, &keys, err) != IPP_OK)
        goto fail;
    if (hub_recover(hub, err) != IPP_OK)
        goto fail;
    // Connection files last: whoever reads them finds a controller ready.
    if (s_write_conn(hub, err) != IPP_OK)
        goto fail;
    hub->next_beat = ipp_clock_mono_us() + hub->cfg.heartbeat_us;
    IPP_LOGI(hub->log, "listening on %s: clients %d, notifications %d, engines %d; db %s",
             hub->cfg.ip, hub->client_conn.client_port, hub->client_conn.notify_port,
             hub->engine_conn.engine_port, hub->cfg.db_path);
    if (hub->engine_conn.ipc_engine[0] || hub->client_conn.ipc_client[0])
        IPP_LOGI(hub->log, "and for peers on this host on %s, %s, %s",
                 hub->client_conn.ipc_client[0] ? hub->client_conn.ipc_client : "-",
                 hub->client_conn.ipc_notify[0] ? hub->client_conn.ipc_notify : "-",
                 hub->engine_conn.ipc_engine[0] ? hub->engine_conn.ipc_engine : "-");
    if (hub->cfg.curve)
        IPP_LOGI(hub->log, "curve: on; %d key%s known (ipp keys list)", keys, keys == 1 ? "" : "s");
    return IPP_OK;
fail:
    hub_stop(hub);
    return err->code;
}

void hub_stop(hub_t *hub)
{
    if (!hub)
        return;
    if (hub->store) {
        // Everything handed to the writer is committed before we go, and
        // what waited for it is delivered.
        hub_store_sync(hub->store);
        hub_commits(hub);
        hub_accepts_flush(hub, true);
        hub_acks_flush(hub, true);
        hub_deliveries_flush(hub, true);
    }
    if (hub->engines && hub->engine_sock && hub->pub_sock) {
        // Tell engines and clients we are going. Engines keep running and
        // register again as soon as a controller is back; clients' waits
        // end instead of running into their timeouts.
        Ipp__Unregistration u = IPP__UNREGISTRATION__INIT;
        u.reason = "controller stopping";
        for (size_t i = 0; i < hub_registry_count(hub->engines); i++) {
            hub_engine_t *e = hub_registry_at(hub->engines, i);
            wire_send(hub->wire, hub->engine_sock, &(wire_frame_t){e->ident, e->ident_len}, 1,
                      IPP__MSG_TYPE__UNREGISTRATION, NULL, &u.base, NULL, 0, ZMQ_DONTWAIT, NULL,
                      NULL);
        }
        Ipp__ShutdownNotice note = IPP__SHUTDOWN_NOTICE__INIT;
        note.has_when = 1;
        note.when = ipp_clock_now_us();
        hub_publish(hub, "shutdown", IPP__MSG_TYPE__SHUTDOWN_NOTICE, &note.base, true);
        if (hub->engines_told_stop)
            s_wait_engines_left(hub);
    }
    hub_reads_destroy(&hub->reads);  // reads under way finish; their replies are not sent
    hub_store_close(&hub->store);
    wire_msg_fini(&hub->in);
    if (hub->client_sock)
        zmq_close(hub->client_sock);
    if (hub->engine_sock)
        zmq_close(hub->engine_sock);
    if (hub->pub_sock)
        zmq_close(hub->pub_sock);
    if (hub->zap_sock)
        zmq_close(hub->zap_sock);
    hub->client_sock = hub->engine_sock = hub->pub_sock = hub->zap_sock = NULL;
    if (hub->zctx)
        zmq_ctx_term(hub->zctx);
    hub->zctx = NULL;
    wire_session_destroy(&hub->wire);
    if (hub->pid_claimed) {
        // Our socket files (libzmq leaves them): a peer finds none, not a
        // dead one. Only with the profile ours: else they are another's.
        const char *ipc[] = {hub->client_conn.ipc_client, hub->client_conn.ipc_notify,
                             hub->engine_conn.ipc_engine};
        for (size_t i = 0; i < sizeof ipc / sizeof ipc[0]; i++)
            if (strncmp(ipc[i], "ipc://", 6) == 0)
                unlink(ipc[i] + 6);
        unlink(hub->pid_path);
    }
    hub->pid_claimed = false;
}

static void s_free_key(void *arg, const char *key, void *value)
{
    (void)arg;
    (void)key;
    free(value);
}

static void s_free_task(void *arg, const char *key, void *value)
{
    (void)key;
    hub_task_free(arg, value);
}

void hub_destroy(hub_t **hub_p)
{
    if (!hub_p || !*hub_p)
        return;
    hub_t *hub = *hub_p;
    hub_stop(hub);
    sched_destroy(&hub->sched);
    if (hub->tasks)
        ipp_strmap_each(hub->tasks, s_free_task, hub);
    ipp_strmap_destroy(&hub->tasks);
    for (size_t i = 0; i < hub->n_held; i++)
        hub_task_free(hub, hub->held[i]);  // only if hub_stop could not send them
    free(hub->held);
    hub_dispatch_free(hub);
    ipp_pool_fini(&hub->task_pool);  // every task was given back above
    if (hub->clients)
        ipp_strmap_each(hub->clients, s_free_key, NULL);
    ipp_strmap_destroy(&hub->clients);
    if (hub->subs)
        ipp_strmap_each(hub->subs, s_free_key, NULL);
    ipp_strmap_destroy(&hub->subs);
    free(hub->acks);
    free(hub->sacks);
    for (size_t i = 0; i < hub->waits_n; i++) {
        hub_wait_t *w = &hub->waits[(hub->waits_head + i) % hub->waits_cap];
        free(w->reply);
    }
    free(hub->waits);
    free(hub->unsaved);
    hub_registry_destroy(&hub->engines);
    hub_keys_free(hub);
    wire_msg_fini(&hub->in);
    free(hub);
    *hub_p = NULL;
}

// ------------------------------------------------------------- the loop

// s_drain: handle up to HUB_BATCH messages waiting on sock.
static void s_drain(hub_t *hub, void *sock, void (*handle)(hub_t *, wire_msg_t *))
{
    for (int i = 0; i < HUB_BATCH && !hub->stopping; i++) {
        ipp_error_t err;
        ipp_err_t rc = wire_recv(hub->wire, sock, ZMQ_DONTWAIT, &hub->in, &err);
        if (rc == IPP_ERR_ZMQ && errno == EAGAIN)
            return;
        if (rc == IPP_OK) {
            handle(hub, &hub->in);
            continue;
        }
        // A signed request we cannot read, or refused for its date (the
        // text names the clock offset), gets an answer; anything not
        // authentic is dropped (wire_recv logged it).
        if ((rc == IPP_ERR_BAD_CONTENT || rc == IPP_ERR_UNKNOWN_TYPE || rc == IPP_ERR_VERSION ||
             rc == IPP_ERR_STALE) &&
            hub->in.header) {
            wire_frame_t id[1];
            size_t n = wire_msg_idents(&hub->in, id, 1);
            hub_reply_error(hub, sock, n ? id : NULL, hub->in.header->msg_id, rc, NULL, "%s",
                            err.msg);
        }
        if (rc == IPP_ERR_ZMQ)
            return;
    }
}

// Where each message type goes: one table per socket. A TASK_REQUEST goes
// to tasks.c, every other request of a client to queries.c; a TASK_RESULT
// goes to tasks.c, the rest of what engines send to engines.c.
typedef struct {
    int type;           // message type (an Ipp__MsgType)
    hub_client_fn *fn;  // its handler
} s_client_route_t;

typedef struct {
    int type;           // message type (an Ipp__MsgType)
    hub_engine_fn *fn;  // its handler
} s_engine_route_t;

static const s_client_route_t s_client_routes[] = {
    {IPP__MSG_TYPE__TASK_REQUEST, hub_client_submit},
    {IPP__MSG_TYPE__RESULT_REQUEST, hub_query_results},
    {IPP__MSG_TYPE__CONNECT_REQUEST, hub_query_connect},
    {IPP__MSG_TYPE__QUEUE_STATUS_REQUEST, hub_query_queue_status},
    {IPP__MSG_TYPE__PURGE_REQUEST, hub_query_purge},
    {IPP__MSG_TYPE__RESUBMIT_REQUEST, hub_query_resubmit},
    {IPP__MSG_TYPE__DB_QUERY_REQUEST, hub_query_db},
    {IPP__MSG_TYPE__HISTORY_REQUEST, hub_query_history},
    {IPP__MSG_TYPE__ABORT_REQUEST, hub_query_abort},
    {IPP__MSG_TYPE__CLEAR_REQUEST, hub_query_clear},
    {IPP__MSG_TYPE__SHUTDOWN_REQUEST, hub_query_shutdown},
    {IPP__MSG_TYPE__LOAD_REQUEST, hub_query_load},
    {IPP__MSG_TYPE__ENGINE_LIST_REQUEST, hub_query_engine_list},
    {IPP__MSG_TYPE__KEYS_RELOAD_REQUEST, hub_query_keys_reload},
};

static const s_engine_route_t s_engine_routes[] = {
    {IPP__MSG_TYPE__TASK_RESULT, hub_task_result},
    {IPP__MSG_TYPE__RESULT_BATCH, hub_results_batch},
    {IPP__MSG_TYPE__HEARTBEAT, hub_engine_heartbeat},
    {IPP__MSG_TYPE__REGISTRATION_REQUEST, hub_engine_register},
    {IPP__MSG_TYPE__UNMET_DEPENDENCY, hub_engine_unmet},
    {IPP__MSG_TYPE__UNREGISTRATION, hub_engine_unregister},
};

#define S_COUNT(a) (sizeof(a) / sizeof((a)[0]))

// s_client: hand one message from the client socket to its handler.
static void s_client(hub_t *hub, wire_msg_t *msg)
{
    wire_frame_t ident[1];
    if (wire_msg_idents(msg, ident, 1) != 1)
        return;  // a ROUTER always adds exactly one
    if (!hub_keys_check(hub, hub->client_sock, msg))
        return;
    int type = wire_msg_type(msg);
    for (size_t i = 0; i < S_COUNT(s_client_routes); i++) {
        if (s_client_routes[i].type == type) {
            s_client_routes[i].fn(hub, msg, ident);
            return;
        }
    }
    hub_reply_error(hub, hub->client_sock, ident, msg->header->msg_id, IPP_ERR_UNKNOWN_TYPE, NULL,
                    "a client cannot send %s", wire_type_name(type));
}

// s_engine: hand one message from the engine socket to its handler, with
// the registered engine it came from (whose heartbeat clock it resets).
static void s_engine(hub_t *hub, wire_msg_t *msg)
{
    wire_frame_t ident[1];
    if (wire_msg_idents(msg, ident, 1) != 1)
        return;  // a ROUTER always adds exactly one
    // A revoked engine's heartbeats stop counting: it is declared dead.
    if (!hub_keys_check(hub, hub->engine_sock, msg))
        return;
    hub_engine_t *e = hub_registry_by_ident(hub->engines, ident->data, ident->size);
    if (e)
        e->last_seen = ipp_clock_mono_us();
    int type = wire_msg_type(msg);
    for (size_t i = 0; i < S_COUNT(s_engine_routes); i++) {
        if (s_engine_routes[i].type == type) {
            s_engine_routes[i].fn(hub, msg, ident, e);
            return;
        }
    }
    hub_reply_error(hub, hub->engine_sock, ident, msg->header->msg_id, IPP_ERR_UNKNOWN_TYPE, NULL,
                    "an engine cannot send %s here", wire_type_name(type));
}

// s_hold: whether to hold this turn's commit (see HUB_HOLD_US): every wait
// is a result, few of them, some task still runs on an engine, whose
// result may join them, and no task waits for a dependency (a commit may
// be what lets it run: a DAG never waits here); never longer than
// HUB_HOLD_US in a row.
static bool s_hold(hub_t *hub, int64_t now)
{
    sched_stats_t st;
    if (hub->waits_n == 0 || hub->waits_n != hub->waits_results ||
        hub->waits_results > HUB_HOLD_MAX) {
        hub->hold_since = 0;
        return false;
    }
    sched_stats(hub->sched, &st);
    // A result waiting here is still counted running by the scheduler.
    if (st.running <= hub->waits_results || st.waiting > 0 ||
        (hub->hold_since && now - hub->hold_since >= HUB_HOLD_US)) {
        hub->hold_since = 0;
        return false;
    }
    if (!hub->hold_since)
        hub->hold_since = now;
    return true;
}

ipp_err_t hub_run(hub_t *hub)
{
    while (!hub->stopping && !(hub->stop_flag && *hub->stop_flag)) {
        int64_t now = ipp_clock_mono_us();
        int64_t deadline = hub->next_beat;
        int64_t sd = sched_next_deadline(hub->sched);
        if (sd >= 0 && sd < deadline)
            deadline = sd;
        if (hub->recovering && hub->grace_until < deadline)
            deadline = hub->grace_until;
        int64_t fd_ = hub_store_deadline(hub->store);
        if (fd_ >= 0 && fd_ < deadline)
            deadline = fd_;
        if (hub->n_acks && hub->acks_due < deadline)
            deadline = hub->acks_due;
        if (hub->n_sacks && hub->sacks_due < deadline)
            deadline = hub->sacks_due;
        if (hub->n_held && hub->held_due < deadline)
            deadline = hub->held_due;
        if (hub->hold_since && hub->hold_since + HUB_HOLD_US < deadline)
            deadline = hub->hold_since + HUB_HOLD_US;
        int64_t timeout_us = deadline > now ? deadline - now : 0;
        zmq_pollitem_t items[6] = {
            {hub->client_sock, 0, ZMQ_POLLIN, 0},
            {hub->engine_sock, 0, ZMQ_POLLIN, 0},
            {NULL, hub_store_fd(hub->store), ZMQ_POLLIN, 0},
            {hub->pub_sock, 0, ZMQ_POLLIN, 0},
            {NULL, hub_reads_fd(hub->reads), ZMQ_POLLIN, 0},
            {hub->zap_sock, 0, ZMQ_POLLIN, 0},
        };
        int n = ipp_zpoll_us(items, hub->zap_sock ? 6 : 5, timeout_us);
        if (n < 0) {
            if (zmq_errno() == EINTR)
                continue;
            IPP_LOGE(hub->log, "poll: %s", zmq_strerror(zmq_errno()));
            return IPP_ERR_ZMQ;
        }
        // Subscriptions first: a client subscribes to done.<id> and then
        // asks for the result, so its subscription must count before the
        // completion it waits for is announced.
        // Handshakes first: a peer waits for its answer to say anything.
        if (hub->zap_sock && (items[5].revents & ZMQ_POLLIN))
            hub_keys_zap(hub);
        if (items[3].revents & ZMQ_POLLIN)
            hub_subscriptions(hub);
        if (items[2].revents & ZMQ_POLLIN)
            hub_commits(hub);
        if (items[1].revents & ZMQ_POLLIN)
            s_drain(hub, hub->engine_sock, s_engine);
        if (items[0].revents & ZMQ_POLLIN)
            s_drain(hub, hub->client_sock, s_client);
        if (items[4].revents & ZMQ_POLLIN)
            hub_query_reads_done(hub);
        now = ipp_clock_mono_us();
        if (now >= hub->next_beat) {
            hub_engines_check(hub, now);
            hub_tasks_retry_unsaved(hub);
            hub->next_beat = now + hub->cfg.heartbeat_us;
        }
        if (hub->recovering && now >= hub->grace_until)
            hub_recovery_end(hub);
        sd = sched_next_deadline(hub->sched);
        if (sd >= 0 && now >= sd)
            sched_tick(hub->sched);
        // Before sleeping: the batch of this iteration goes to the disk.
        // Committed here (small, writer idle), its waits are handled at
        // once, which may queue a few more (a dependent's result...).
        if (!s_hold(hub, now))
            for (int i = 0; hub_store_flush(hub->store, i < 4); i++)
                hub_commits(hub);
        hub_dispatch_flush(hub);  // what this turn's results and commits let go
        hub_accepts_flush(hub, false);
        hub_acks_flush(hub, false);
        hub_deliveries_flush(hub, false);
    }
    return IPP_OK;
}
