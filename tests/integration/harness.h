/* harness.h — real processes for integration tests.
 *
 * Starts ipp-controller and ipp-engine binaries (paths from the build) in a
 * temporary $IPP_DIR, on 127.0.0.1 with ports the controller picks, and
 * talks to the controller with a wire-level client: real sockets, real
 * signing, nothing of ours mocked. Every process started is recorded by pid
 * and killed (SIGKILL) and reaped at the end, also when a test fails; each
 * also gets SIGKILL from the kernel if the test process dies first.
 *
 * Functions fail the current Check test (ck_assert) on setup problems; the
 * ones that wait take a timeout so no test can hang.
 */
#ifndef IPP_TESTS_HARNESS_H
#define IPP_TESTS_HARNESS_H

#include "proto/conn.h"
#include "proto/ipp.pb-c.h"
#include "proto/wire.h"

#include <check.h>

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define H_MAX_PROCS 32

typedef struct h_cluster_t {
    char dir[256];               // temporary $IPP_DIR
    char profile_dir[512];       // its profile_default
    char db_path[600];           // the task database
    pid_t controller;            // controller pid, 0 if not running
    pid_t engines[H_MAX_PROCS];  // engine pids (0 = stopped)
    int n_engines;               // started so far
    pid_t all[H_MAX_PROCS * 2];  // every pid started, for cleanup
    int n_all;                   // how many
    const char *extra[16];       // extra controller arguments
    int n_extra;                 // how many
} h_cluster_t;

// A client on the wire.
typedef struct h_client_t {
    void *zctx;            // its own context
    void *dealer;          // to the client ROUTER
    void *sub;             // to the notification PUB
    wire_session_t *wire;  // signing
    conn_info_t info;      // the connection file it read
    wire_msg_t msg;        // last message received
} h_client_t;

// h_cluster_init: a fresh temporary $IPP_DIR (set in the environment).
void h_cluster_init(h_cluster_t *c);

// h_controller_start: start ipp-controller with args (NULL-terminated,
// added to c->extra) and wait up to 10 s for its connection files.
void h_controller_start(h_cluster_t *c, const char *const *args);

// h_controller_kill: SIGKILL the controller and reap it.
void h_controller_kill(h_cluster_t *c);

// h_controller_stop: SIGTERM it and wait for a clean exit (status 0).
int h_controller_stop(h_cluster_t *c);

// h_engine_start: start an engine with extra args (NULL-terminated, may be
// NULL); returns its index.
int h_engine_start(h_cluster_t *c, const char *const *args);

// h_engine_kill: SIGKILL engine i and reap it.
void h_engine_kill(h_cluster_t *c, int i);

// h_cluster_stop: SIGTERM the controller and engines still running, wait
// (10 s each, then SIGKILL) and return how many did not exit with status
// 0 — a sanitizer report (a leak, say) makes a non-zero status. Names them
// on stderr.
int h_cluster_stop(h_cluster_t *c);

// h_cluster_fini: kill and reap everything started, remove the folder.
void h_cluster_fini(h_cluster_t *c);

// h_up: a fresh cluster: controller (ctl_args, NULL-terminated, may be
// NULL), n engines, client k connected, every engine registered (15 s).
void h_up(h_cluster_t *c, h_client_t *k, int n, const char *const *ctl_args);

// h_down: close k, stop everything with SIGTERM, remove the folder; fails
// the test if a process did not exit with status 0 (a crash, a sanitizer
// report, a leak).
void h_down(h_cluster_t *c, h_client_t *k);

// h_main: run a Check suite (fork mode) and return the process exit status.
int h_main(Suite *s);

// h_die_with_parent: in a child just forked from parent, have the kernel
// SIGKILL it when the parent dies (exits at once if parent is gone).
void h_die_with_parent(pid_t parent);

// h_client_open: connect a client (subscribed to every notification).
void h_client_open(h_client_t *cl, const h_cluster_t *c);

// h_client_try_open: h_client_open that never fails the test (for forked
// processes): false with the reason in why. Either way, close cl with
// h_client_close.
bool h_client_try_open(h_client_t *cl, const h_cluster_t *c, char *why, size_t why_size);

// h_client_close: close it.
void h_client_close(h_client_t *cl);

// h_engine_peer_open: a raw peer on the engine port (signed with the
// engine file's key), not an engine: it only sends what the test sends.
// routing_id NULL: a fresh one. Close it with h_client_close.
void h_engine_peer_open(h_client_t *cl, const h_cluster_t *c, const char *routing_id);

// h_send_bytes: send a message of type whose content frame is the given
// bytes (correctly signed, whatever they hold); its msg_id into id_out.
void h_send_bytes(h_client_t *cl, Ipp__MsgType type, const void *content, size_t len, char *id_out);

// h_send: send a request; returns its msg_id in id_out (37 bytes).
void h_send(h_client_t *cl, Ipp__MsgType type, const ProtobufCMessage *content, zmq_msg_t *bufs,
            size_t n_bufs, char *id_out);

// h_try_send: h_send that returns wire_send's result instead of failing
// the test; msg_id, if not NULL, is the id to send under.
ipp_err_t h_try_send(h_client_t *cl, Ipp__MsgType type, const ProtobufCMessage *content,
                     zmq_msg_t *bufs, size_t n_bufs, const char *msg_id, char *id_out);

// h_recv: the next message from the controller (DEALER) within timeout_ms,
// into cl->msg; its type, or 0 on timeout.
int h_recv(h_client_t *cl, int timeout_ms);

// h_request: send and wait for the reply whose parent is the request,
// skipping others; returns the reply type (0 on timeout).
int h_request(h_client_t *cl, Ipp__MsgType type, const ProtobufCMessage *content, int timeout_ms);

// h_wait_engines: poll CONNECT until n engines are registered (timeout).
bool h_wait_engines(h_client_t *cl, size_t n, int timeout_ms);

// A task to submit.
typedef struct h_task_t {
    const char *call;         // call function, or NULL
    const char *const *args;  // its string arguments
    size_t n_args;
    const char *shell;         // shell command, or NULL
    int target;                // >= 0: direct (mux) to this engine
    const int *targets;        // load-balanced (target < 0): engines allowed
    size_t n_targets;          // how many (0: any)
    const char *const *after;  // after ids
    size_t n_after;
    bool after_any;             // all = false
    bool after_failure;         // failure counts
    bool after_no_success;      // success does not count
    const char *const *follow;  // follow ids
    size_t n_follow;
    double timeout_s;  // dependency timeout
    int retries;
    const char *label;
    const char *const *requires;
    size_t n_requires;
    double wall_limit_s;
} h_task_t;

// h_submit: submit t; its msg_id into id (37 bytes). Does not wait.
void h_submit(h_client_t *cl, const h_task_t *t, char *id);

// h_submit_as: submit t under msg_id (NULL: a new one), its id into id (37
// bytes, may be NULL); wire_send's result, never failing the test. Sending
// an id again (signed afresh) is how a client re-sends a request whose
// acceptance it did not see.
ipp_err_t h_submit_as(h_client_t *cl, const h_task_t *t, const char *msg_id, char *id);

// A task's outcome, as its TASK_RESULT said.
typedef struct h_result_t {
    char msg_id[IPP_MSGID_LEN + 1];
    int status;  // Ipp__Status
    int engine_id;
    char ename[64];
    char evalue[256];
    char out[256];  // stdout (truncated here)
    char buf0[64];  // first result buffer as text
    bool accepted;  // SUBMIT_REPLY said accepted, or a TASK_RESULT came
    bool refused;   // SUBMIT_REPLY said refused
    bool done;      // TASK_RESULT arrived
} h_result_t;

// h_collect: receive until every one of ids (n) has a TASK_RESULT or a
// refusal, or timeout_ms passes; res[i] matches ids[i]. Returns how many
// finished.
size_t h_collect(h_client_t *cl, char (*ids)[IPP_MSGID_LEN + 1], size_t n, h_result_t *res,
                 int timeout_ms);

// h_db_int: one integer from SQL on the cluster's database (read-only
// connection), or -1.
int64_t h_db_int(const h_cluster_t *c, const char *sql);

// h_db_text: the first column of SQL's first row as text into out (size
// bytes), read-only; false if there was no row (out then holds the error,
// or is empty).
bool h_db_text(const h_cluster_t *c, const char *sql, char *out, size_t size);

#endif
