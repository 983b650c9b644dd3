/* internal.h — what the files of client/ share and nobody else sees.
 *
 * The bodies of the public objects (client, view, AsyncResult), a task's
 * bookkeeping, the msg_id index, and the few functions one file of client/
 * calls in another (prefix cl_). Never installed: the public API is
 * include/ipp/{client,view,result}.h, which must not depend on anything
 * declared here.
 *
 * Ownership in one sentence: the client owns its sockets, session, index
 * and engine list; an AsyncResult owns its tasks and everything they hold
 * (result frames, strings); the index only points at tasks, and a task is
 * in it exactly while it is unfinished and its AsyncResult alive.
 */
#ifndef IPP_CLIENT_INTERNAL_H
#define IPP_CLIENT_INTERNAL_H

#include "ipp/ipp.h"
#include "proto/codec.h"
#include "proto/log.h"
#include "proto/msgid.h"
#include "proto/wire.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

// Nothing declared here is part of libipp's ABI.
#pragma GCC visibility push(hidden)

typedef struct cl_task_t cl_task_t;

// ---------------------------------------------------------------- index

// msg_id → unfinished tasks with that id. Open addressing, linear probing,
// backward-shift deletion (no tombstones); a slot holds the head of a
// chain of tasks sharing one msg_id (a task submitted here and also asked
// for with get_result, say), linked through cl_task_t.next_same.
typedef struct cl_index_t {
    cl_task_t **slots;  // cap entries, NULL = empty
    size_t cap;         // a power of two (0 before the first add)
    size_t count;       // slots in use (distinct ids)
} cl_index_t;

// cl_index_init: an empty index.
void cl_index_init(cl_index_t *ix);

// cl_index_fini: free the slot array (the tasks are not the index's).
void cl_index_fini(cl_index_t *ix);

// cl_index_find: the first task with msg_id id, or NULL.
cl_task_t *cl_index_find(const cl_index_t *ix, const char *id);

// cl_index_add: put t (t->msg_id set) in the index. IPP_ERR_NOMEM.
ipp_err_t cl_index_add(cl_index_t *ix, cl_task_t *t);

// cl_index_remove: take t out of the index (no-op if it is not there).
void cl_index_remove(cl_index_t *ix, cl_task_t *t);

// ---------------------------------------------------------------- tasks

// A task's result buffers: one allocation holding the frames (moved out of
// the received message, so the bytes are never copied) and the views the
// API hands out.
typedef struct cl_bufs_t {
    size_t n;          // how many
    ipp_buf_t *views;  // n views of msgs, inside this allocation
    zmq_msg_t msgs[];  // the frames
} cl_bufs_t;

// The rare parts of a task, allocated only when one of them is present.
typedef struct cl_extra_t {
    char *stdout_data;         // captured stdout (owned), NULL if none
    size_t stdout_len;         // its length
    bool stdout_trunc;         // cut by the engine
    char *stderr_data;         // captured stderr (owned), NULL if none
    size_t stderr_len;         // its length
    bool stderr_trunc;         // cut by the engine
    char *engine_uuid;         // engine uuid (owned), NULL if not known
    char *label;               // label from a hub record (owned)
    char *summary;             // the result's summary (owned), NULL if none
    int exit_status;           // command exit code, -1 unknown
    int term_signal;           // command signal, 0 none
    int attempts;              // tries (hub records), 0 unknown
    bool has_error;            // error below is filled
    ipp_remote_error_t error;  // its strings and traceback array are owned here
    char **after;              // dependencies from a hub record (owned)
    size_t n_after;            // how many
    char **follow;             // likewise
    size_t n_follow;           // how many
} cl_extra_t;

// One task of an AsyncResult. Kept small: hot paths touch only the first
// fields; the rest lives in extra.
struct cl_task_t {
    char msg_id[IPP_MSGID_LEN + 1];  // the task's id
    uint8_t status;                  // ipp_status_t
    unsigned done : 1;               // finished (any outcome)
    unsigned accepted : 1;           // SUBMIT_REPLY accepted it
    unsigned hub : 1;                // learns its outcome from the hub (get_result)
    unsigned indexed : 1;            // in the client's index
    unsigned subscribed : 1;         // this task subscribed to done.<msg_id>
    unsigned reasked : 1;            // asked again after "completed" without a record
    int32_t engine_id;               // -1 until known
    uint32_t index;                  // position in its AsyncResult
    int64_t submitted;               // µs UTC, 0 unknown
    int64_t started;                 // likewise
    int64_t completed;               // likewise
    int64_t received;                // likewise
    cl_bufs_t *bufs;                 // result buffers, NULL if none
    cl_extra_t *extra;               // rare parts, NULL if none
    cl_task_t *next_same;            // next unfinished task with this msg_id (index chain)
    ipp_ar_t *ar;                    // the AsyncResult holding this task
};

// A done callback.
typedef struct cl_cb_t {
    ipp_ar_done_fn *fn;  // what to call
    void *arg;           // its argument
} cl_cb_t;

struct ipp_ar_t {
    ipp_client_t *client;  // NULL once the client is destroyed
    cl_task_t *tasks;      // n tasks, in submission order (owned)
    size_t n;              // how many
    size_t n_done;         // how many finished
    uint32_t *order;       // order[0..n_done): task indexes in completion order
    size_t next_pos;       // ipp_ar_next's position in order
    bool hub;              // an AsyncHubResult
    char **after;          // the after ids every task was submitted with (owned)
    size_t n_after;        // how many
    char **follow;         // the follow ids (owned)
    size_t n_follow;       // how many
    char *label;           // the label every task was submitted with (owned)
    cl_cb_t *cbs;          // done callbacks
    size_t n_cbs;          // in use
    size_t cap_cbs;        // allocated
    size_t cbs_fired;      // callbacks already called
    bool cb_queued;        // on the client's ready queue
    bool firing;           // its callbacks are running now
    bool zombie;           // destroyed while firing or waited on: free after
    unsigned waiters;      // calls waiting on it right now (nested spins)
    ipp_ar_t *cb_next;     // next on the client's ready queue
    ipp_ar_t *prev;        // the client's list of live AsyncResults
    ipp_ar_t *next;        // likewise
};

// ---------------------------------------------------------------- views

// A dependency with owned ids.
typedef struct cl_dep_t {
    char **ids;    // msg_ids (owned)
    size_t n;      // how many
    bool all;      // all vs any
    bool success;  // success counts
    bool failure;  // failure counts
} cl_dep_t;

// Flags with owned contents (a view's, or a call's copy).
typedef struct cl_flags_t {
    unsigned set;        // IPP_FLAG_* given
    bool has_after;      // after below is meaningful (else none)
    cl_dep_t after;      // time dependency
    bool has_follow;     // follow below is meaningful
    cl_dep_t follow;     // location dependency
    int64_t timeout_us;  // dependency wait limit, 0 none
    int retries;         // further attempts
    char *label;         // NULL none
    int *targets;        // allowed engines
    size_t n_targets;    // how many
    char **requires;     // requirements
    size_t n_requires;   // how many
} cl_flags_t;

struct ipp_view_t {
    ipp_client_t *client;  // NULL once the client is destroyed
    bool direct;           // DirectView (else load balanced)
    bool all;              // DirectView on "all" engines
    int *targets;          // DirectView targets (owned) unless all
    size_t n_targets;      // how many
    cl_flags_t flags;      // the view's flags
    ipp_view_t *prev;      // the client's list of live views
    ipp_view_t *next;      // likewise
};

// cl_flags_fini: free what f owns and zero it. (view.c)
void cl_flags_fini(cl_flags_t *f);

// cl_flags_copy: the fields of in named by in->set, owned, into out (which
// the caller finishes with cl_flags_fini whatever this returns).
// IPP_ERR_INVALID for a bad value, IPP_ERR_NOMEM.
ipp_err_t cl_flags_copy(const ipp_flags_t *in, cl_flags_t *out, ipp_error_t *err);

// cl_direct_flags_ok: IPP_OK unless v is a DirectView and set names a flag
// other than label (IPP_ERR_INVALID, saying which flags are for which view).
ipp_err_t cl_direct_flags_ok(const ipp_view_t *v, unsigned set, ipp_error_t *err);

// ---------------------------------------------------------------- client

// An engine the client knows.
typedef struct cl_engine_t {
    int id;              // engine id
    char *uuid;          // owned, never NULL
    char *hostname;      // owned, never NULL
    int pid;             // 0 unknown
    int64_t registered;  // µs UTC, 0 unknown
    bool alive;          // registered now
    int64_t seq;         // seq of the event or list this came from (0: none given)
    char *tags;          // its --tag values, comma-separated; owned, NULL until known
} cl_engine_t;

// A blocking request waiting for its reply (on the caller's stack).
typedef struct cl_wait_t {
    char id[IPP_MSGID_LEN + 1];  // the request's msg_id
    bool got;                    // the reply arrived
    wire_msg_t msg;              // the reply, moved in from the receive buffer
    struct cl_wait_t *next;      // other waiting requests (nested spins)
} cl_wait_t;

typedef char cl_id_t[IPP_MSGID_LEN + 1];

// A RESULT_REQUEST sent for AsyncHubResults, remembered until its reply so
// an ERROR_REPLY can be pinned on the tasks it asked about.
typedef struct cl_hubreq_t {
    cl_id_t id;                // the request's msg_id
    cl_id_t *ids;              // the msg_ids it asked about (owned)
    size_t n;                  // how many
    struct cl_hubreq_t *next;  // list
} cl_hubreq_t;

struct ipp_client_t {
    void *ctx;                    // ZeroMQ context (owned)
    void *dealer;                 // to the controller's client ROUTER
    void *sub;                    // from the controller's PUB
    void *monitor;                // with Curve, until the first handshake: the
                                  // dealer's monitor (PAIR, owned)
    int epfd;                     // epoll set of both sockets' ZMQ_FD
    wire_session_t *ws;           // signing, ids, replay guard (owned)
    ipp_logger_t log;             // where warnings go
    char path[4096];              // the connection file
    char endpoint[320];           // client ROUTER endpoint
    char notify_endpoint[320];    // PUB endpoint
    int64_t timeout_us;           // request timeout
    wire_msg_t rx;                // receive buffer, reused
    wire_msg_t tx;                // send buffer, reused
    bool tx_busy;                 // tx holds a message being sent
    cl_index_t index;             // unfinished tasks by msg_id
    cl_engine_t *engines;         // known engines, by ascending id
    size_t n_engines;             // how many
    size_t cap_engines;           // allocated
    char controller_session[64];  // from CONNECT_REPLY
    bool shutdown_seen;           // SHUTDOWN_NOTICE and nothing heard since
    uint32_t sub_epoch;           // SUBSCRIBED notices heard (0: subscriptions not yet live)
    uint32_t list_epoch;          // sub_epoch when the engine list was last asked for
    cl_wait_t *waits;             // blocking requests waiting
    cl_hubreq_t *hubreqs;         // hub RESULT_REQUESTs waiting
    cl_id_t *reask;               // ids whose done notification came: ask again
    size_t n_reask;               // how many
    size_t cap_reask;             // allocated
    ipp_ar_t *ars;                // live AsyncResults
    ipp_view_t *views;            // live views
    ipp_ar_t *cb_head;            // AsyncResults ready with callbacks to run
    ipp_ar_t *cb_tail;            // likewise
    size_t n_outstanding;         // unfinished tasks of live AsyncResults
    unsigned sends_since_drain;   // submissions since input was last read
    ipp_error_t last_refusal;     // why the last refused message was refused
    ipp_task_done_fn *follow_fn;  // every task's done notification goes here (NULL: none)
    void *follow_arg;             // its argument
};

// cl_send: sign and send one message to the controller; buffers are taken
// whatever happens. Never blocks forever: when ZeroMQ's queue is full it
// reads input (so the controller can make progress) and waits for room up
// to the client's timeout (IPP_ERR_TIMEOUT). msg_id NULL: a fresh id;
// id_out (may be NULL) gets the id sent.
ipp_err_t cl_send(ipp_client_t *c, Ipp__MsgType type, const ProtobufCMessage *content,
                  zmq_msg_t *buffers, size_t n_buffers, const char *msg_id, char *id_out,
                  ipp_error_t *err);

// cl_request: send a request and spin until its reply (parent_id = the
// request) or the timeout. On IPP_OK *reply holds the reply (caller
// finishes it with wire_msg_fini) and its type is expect. An ERROR_REPLY
// becomes its code and message; a reply of another type IPP_ERR_BAD_CONTENT.
ipp_err_t cl_request(ipp_client_t *c, Ipp__MsgType type, const ProtobufCMessage *content,
                     Ipp__MsgType expect, wire_msg_t *reply, ipp_error_t *err);

// cl_pump: wait up to timeout_us (0: not at all) for input, handle all of
// it, send pending re-asks, run ready callbacks.
ipp_err_t cl_pump(ipp_client_t *c, int64_t timeout_us, ipp_error_t *err);

// cl_maybe_drain: during long submission loops, read what has arrived
// every so often so the controller's replies do not pile up.
void cl_maybe_drain(ipp_client_t *c);

// cl_drain: read and handle everything waiting on both sockets (no
// waiting). Returns how many messages were read. (recv.c)
size_t cl_drain(ipp_client_t *c);

// cl_engine_find: the known engine with id, or NULL. (engines.c)
const cl_engine_t *cl_engine_find(const ipp_client_t *c, int id);

// cl_engines_clear: forget every known engine (frees their strings).
void cl_engines_clear(ipp_client_t *c);

// cl_engines_replace: the known engines become the n of infos (a
// CONNECT_REPLY's or ENGINE_LIST_REPLY's list made at event seq; nothing is
// taken), except those heard of by an event after it (a higher seq).
void cl_engines_replace(ipp_client_t *c, Ipp__EngineInfo **infos, size_t n, int64_t seq);

// cl_on_engine_event: an ENGINE_EVENT notification (m keeps its content).
void cl_on_engine_event(ipp_client_t *c, wire_msg_t *m);

// cl_subscribe_done: (un)subscribe to done.<id> on the SUB socket.
void cl_subscribe_done(ipp_client_t *c, const char *id, bool on);

// cl_hubreq_add: remember a RESULT_REQUEST (its id) for ids. IPP_ERR_NOMEM.
ipp_err_t cl_hubreq_add(ipp_client_t *c, const char *req_id, const cl_id_t *ids, size_t n);

// cl_hubreq_free: free r (unlinked already; NULL is fine).
void cl_hubreq_free(cl_hubreq_t *r);

// cl_error_from_reply: turn an ErrorReply into an error code and message.
ipp_err_t cl_error_from_reply(const Ipp__ErrorReply *er, const char *what, ipp_error_t *err);

// cl_mono_us: the monotonic clock.
int64_t cl_mono_us(void);

// cl_timeout_us: seconds → µs; negative → -1 (forever).
int64_t cl_timeout_us(double seconds);

// ---------------------------------------------------------- AsyncResults

// cl_ar_new: an AsyncResult of n tasks (ids empty, status PENDING,
// engine -1), linked into the client's list. NULL when out of memory.
ipp_ar_t *cl_ar_new(ipp_client_t *c, size_t n, bool hub);

// cl_ar_detach: the client is going: forget it (tasks leave the index).
void cl_ar_detach(ipp_ar_t *ar);

// cl_ar_free: free ar and everything it owns. Only once ar is unlinked
// from its client and nobody waits on it or fires its callbacks.
void cl_ar_free(ipp_ar_t *ar);

// cl_task_finish: t is done: out of the index, unsubscribed, counted,
// its AsyncResult's callbacks queued when it became ready. Idempotent.
void cl_task_finish(ipp_client_t *c, cl_task_t *t);

// cl_task_fail: finish t with status st and a RemoteError of code, ename,
// evalue (copied; NULL = ""), engine -1.
void cl_task_fail(ipp_client_t *c, cl_task_t *t, ipp_status_t st, ipp_err_t code, const char *ename,
                  const char *evalue);

// cl_task_take_result: fill t from a TASK_RESULT r (m is the whole message)
// and finish it. Buffers are moved out of m if move, else shared
// (zmq_msg_copy).
void cl_task_take_result(ipp_client_t *c, cl_task_t *t, const Ipp__TaskResult *r, wire_msg_t *m,
                         bool move);

// cl_task_take_record: fill t from a TaskRecord r whose buffers are
// m's buffers [first, first + n) and finish it (same move rule).
void cl_task_take_record(ipp_client_t *c, cl_task_t *t, const Ipp__TaskRecord *r, wire_msg_t *m,
                         size_t first, size_t n, bool move);

// cl_fire_callbacks: run the callbacks of every AsyncResult on the ready
// queue.
void cl_fire_callbacks(ipp_client_t *c);

// cl_strdup_or_null / cl_strv_dup: copies (NULL stays NULL). cl_strv_free
// frees n strings and the array.
char *cl_strdup_or_null(const char *s);
char **cl_strv_dup(char *const *v, size_t n);
void cl_strv_free(char **v, size_t n);

// -------------------------------------------------------------- hub side

// cl_on_result_reply: a RESULT_REPLY to a hub request (see cl_hubreq_t).
void cl_on_result_reply(ipp_client_t *c, wire_msg_t *m);

// cl_on_hub_error: an ERROR_REPLY to a hub request: fail its tasks.
void cl_on_hub_error(ipp_client_t *c, cl_hubreq_t *req, const Ipp__ErrorReply *er);

// cl_on_task_done: a TASK_DONE notification.
void cl_on_task_done(ipp_client_t *c, const Ipp__TaskDone *d);

// cl_flush_reasks: send one RESULT_REQUEST for every id queued by
// notifications since the last flush.
void cl_flush_reasks(ipp_client_t *c);

#pragma GCC visibility pop

#endif
