/* hub.h — the controller object, shared by the files of hub/ only.
 *
 * One hub_t per ipp-controller process. It owns the ZeroMQ sockets, the wire
 * session, the task store's writer and reader, the scheduler, the engine
 * registry and the pending tasks. Everything runs on one thread (the event
 * loop in controller.c) except the task store's writer thread, which only
 * store.c talks to (through db_writer_*).
 *
 * The files of hub/ call one way: main → controller (the loop and the
 * dispatch tables) → the handlers → store → send. Among the handlers,
 * queries.c, engines.c and recovery.c call into tasks.c, and queries.c into
 * engines.c; tasks.c calls none of them, and nothing calls back into
 * controller.c. registry.c (the engine table) is a leaf any of them use.
 *
 * Write-ahead: a task goes to an engine only after its request is committed
 * (hub_wait_t of kind HUB_WAIT_SUBMIT), and a result goes to any client only
 * after it is committed (HUB_WAIT_RESULT, HUB_WAIT_FAILED). Commits complete
 * in sequence order, so the waits form one FIFO.
 */
#ifndef IPP_HUB_HUB_H
#define IPP_HUB_HUB_H

#include "db/keys.h"
#include "hub/registry.h"
#include "proto/conn.h"
#include "proto/pool.h"
#include "proto/strmap.h"
#include "proto/log.h"
#include "proto/wire.h"
#include "scheduler/sched.h"

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

// Settings from the command line.
typedef struct hub_config_t {
    char profile_dir[1024];            // $IPP_DIR/profile_NAME
    char ip[64];                       // address to bind (default 127.0.0.1)
    char db_path[1100];                // task store file
    int durability;                    // DB_DURABILITY_NORMAL or _FULL
    const sched_scheme_ops_t *scheme;  // routing scheme
    uint32_t hwm;                      // outstanding tasks per engine (0 = unlimited)
    int64_t heartbeat_us;              // heartbeat period
    int heartbeat_misses;              // periods of silence before an engine is dead
    int64_t grace_us;                  // after a restart: how long engines get to
                                       // report held tasks before those are requeued
    int64_t window_us;                 // accepted clock skew for messages
    size_t max_engines;                // registered engines at most (--max-engines;
                                       // 0 = HUB_MAX_ENGINES_DEFAULT)
    int client_port;                   // 0 = reuse the connection file's, else free
    int engine_port;                   // likewise
    int notify_port;                   // likewise
    bool curve;                        // CurveZMQ on every socket, a key per peer (keys.c)
    bool no_ipc;                       // TCP only: no ipc:// endpoints for local peers
} hub_config_t;

// Engines registered at once unless --max-engines says otherwise.
#define HUB_MAX_ENGINES_DEFAULT 1024

// A client that asked about a pending task: it is sent TASK_DONE directly
// when the task completes (its done.<id> subscription may reach the XPUB
// too late to see the notification).
typedef struct hub_watcher_t {
    uint8_t ident[64];  // its routing id
    size_t len;         // length
} hub_watcher_t;

// Buffers a task holds inline (its arguments, and its result's): more
// than this many take an array from the heap.
#define HUB_TASK_BUFS 2

// The longest label a task may carry, in bytes. A task's label is read
// from its decoded request (req->label), which it keeps anyway: no copy.
#define HUB_LABEL_MAX 127

// A pending task: what the controller keeps in memory until the result is
// committed and delivered. Completed tasks are not kept. Records come from
// hub_t.task_pool (hub_task_new) and never move while they live: the map
// keys are their msg_id, and bufs may point into the record.
typedef struct hub_task_t {
    char msg_id[IPP_MSGID_LEN + 1];         // the task's id (map key)
    Ipp__TaskRequest *req;                  // decoded request, owned
    zmq_msg_t *bufs;                        // argument buffers, owned (shared data):
                                            // bufs_inline, or an array from the heap
    size_t n_bufs;                          // how many
    uint8_t client[64];                     // submitting client's routing id
    size_t client_len;                      // its length (0: nobody to tell)
    int engine;                             // engine it runs on, -1
    int attempts;                           // times sent to an engine
    bool in_sched;                          // handed to the scheduler
    struct hub_watcher_t *watchers;         // clients told it was pending, owned
    size_t n_watchers;                      // how many
    bool held;                              // recovery: was running when the
                                            // controller died; waits for its engine
    bool aborted;                           // aborted while running: its engine was
                                            // told to stop it; what comes back is final
    Ipp__TaskResult *result;                // result waiting for its commit, owned
    zmq_msg_t *rbufs;                       // its buffers, owned: rbufs_inline or the heap's
    size_t n_rbufs;                         // how many
    size_t sack;                            // 1 + its slot in hub_t.sacks while its
                                            // "accepted" waits (0: none; may be stale)
    struct hub_client_t *owner;             // its client's tally while counted (else NULL)
    int unsaved;                            // 0, or the hub_wait_kind_t (RESULT or FAILED)
                                            // whose commit failed: result is held and
                                            // written again (hub_tasks_retry_unsaved)
    int unsaved_engine;                     // RESULT: the engine that sent it
    char by[DB_KEY_NAME_MAX + 1];           // who submitted it: key name, or the header's user
    bool by_key;                            // by is a Curve key's name (else self-declared)
    zmq_msg_t bufs_inline[HUB_TASK_BUFS];   // bufs when there are few
    zmq_msg_t rbufs_inline[HUB_TASK_BUFS];  // rbufs when there are few
} hub_task_t;

// A client with tasks in hub_t.tasks: how many (see hub_deliveries_flush).
typedef struct hub_client_t {
    char key[2 * 64 + 1];  // its routing id in hex (the map key)
    long outstanding;      // its tasks not yet delivered
} hub_client_t;

struct hub_t;

// Messages (or subscription changes) read from one socket before looking
// at the others, so a flood from one side cannot starve the other.
#define HUB_BATCH 256

// Acknowledgements wait at most this long, or for this many (see
// hub_acks_flush).
#define HUB_ACK_DELAY_US 20000
#define HUB_ACK_MAX 256

// "Accepted" waits at most this long, or for this many: a task whose
// result reaches its client first needs none (the result says it was
// recorded), and the client is spared a wake-up in the middle of the
// round trip. See hub_accepts_flush.
#define HUB_ACCEPT_DELAY_US 2000
#define HUB_ACCEPT_MAX 4096

// A result for a client that still waits for others of its tasks is held
// at most this long, or until this many are held, and then sent with the
// others held (see hub_deliveries_flush).
#define HUB_DELIVER_DELAY_US 1000
#define HUB_DELIVER_MAX 512

// When all that waits for the disk is results (at most HUB_HOLD_MAX),
// other tasks still run on engines and none waits for a dependency (which
// a commit could release), the commit is held at most this long
// for their results, so one transaction carries several: they share the
// same few pages (the rows and every index append at the right edge), so
// two results cost about what one did. See hub_run.
#define HUB_HOLD_US 300
#define HUB_HOLD_MAX 64

// A result acknowledgement waiting to be sent with others to its engine.
typedef struct hub_ack_t {
    int engine;                      // where the result came from
    char msg_id[IPP_MSGID_LEN + 1];  // the task
} hub_ack_t;

// An acceptance waiting to be sent with others to its client.
typedef struct hub_sack_t {
    uint8_t client[64];              // the client's routing id
    size_t client_len;               // its length
    char msg_id[IPP_MSGID_LEN + 1];  // the task
} hub_sack_t;

// What to do once a DB mutation is committed.
typedef enum hub_wait_kind_t {
    HUB_WAIT_SUBMIT = 1,  // request durable: ack client, schedule
    HUB_WAIT_RESULT = 2,  // engine result durable: ack engine, deliver
    HUB_WAIT_FAILED = 3,  // scheduler failure durable: deliver
    HUB_WAIT_REPLY = 4,   // a query's mutation settled: call done
} hub_wait_kind_t;

typedef struct hub_wait_t {
    uint64_t seq;          // writer sequence to wait for
    hub_wait_kind_t kind;  // what then
    hub_task_t *task;      // the task, for task kinds
    int engine;            // the engine that sent the result
    void *reply;           // HUB_WAIT_REPLY: a prepared request context, owned
    void (*done)(struct hub_t *hub, struct hub_wait_t *w, const ipp_error_t *err,
                 int64_t count);  // HUB_WAIT_REPLY: called when settled
} hub_wait_t;

// A Curve key the controller knows (keys.c): loaded from the task store at
// start and again when `ipp keys` says one changed.
// The key an engine registered with, by its uuid (Curve only).
typedef struct hub_engine_key_t {
    char uuid[64];                   // the engine's uuid (the map's key)
    char name[DB_KEY_NAME_MAX + 1];  // the key's name (the ZAP User-Id)
} hub_engine_key_t;

typedef struct hub_key_t {
    char name[DB_KEY_NAME_MAX + 1];       // its name (the ZAP User-Id)
    db_role_t role;                       // client, engine or admin
    char public_key[DB_KEY_Z85_LEN + 1];  // Z85
    bool revoked;                         // refused from now on, also on open connections
    int64_t seen_queued;                  // monotonic µs its last_seen was last written
} hub_key_t;

// Why a peer or a request was refused (counted in hub_t.refusals).
typedef enum hub_refusal_t {
    HUB_REFUSE_UNKNOWN = 0,  // a key the controller does not know
    HUB_REFUSE_SOCKET,       // a known key on the socket of another role
    HUB_REFUSE_REVOKED,      // a revoked key (at the handshake or on a message)
    HUB_REFUSE_DENIED,       // a request the key's role does not permit
    HUB_REFUSE__N
} hub_refusal_t;

typedef struct hub_t {
    hub_config_t cfg;                  // settings
    const ipp_logger_t *log;           // logger (owned by main)
    void *zctx;                        // ZeroMQ context
    void *client_sock;                 // ROUTER for clients
    void *engine_sock;                 // ROUTER for engines
    void *pub_sock;                    // XPUB for notifications
    ipp_strmap_t *subs;                // topics someone subscribed to (owned keys)
    uint64_t sub_lens;                 // bit n: some topic of length n (n < 63), bit 63: longer
    wire_session_t *wire;              // signing session
    conn_info_t client_conn;           // what the client connection file says
    char host_id[CONN_HOST_ID_MAX];    // this host (conn_host_id); "" = peers use TCP only
    conn_info_t engine_conn;           // what the engine connection file says
    struct hub_store_t *store;         // the task store (store.c)
    struct hub_reads_t *reads;         // large reads, off the loop (reads.c)
    sched_t *sched;                    // scheduler
    hub_registry_t *engines;           // live engines
    ipp_strmap_t *tasks;               // pending tasks by msg_id
    ipp_pool_t task_pool;              // where the hub_task_t records come from
    hub_wait_t *waits;                 // ring of commit waits, in seq order
    size_t waits_head;                 // index of the oldest
    size_t waits_n;                    // how many
    size_t waits_cap;                  // ring size
    size_t waits_results;              // how many of them are HUB_WAIT_RESULT
    int64_t hold_since;                // monotonic µs the commit is held since; 0 = not held
    wire_msg_t in;                     // reused for every incoming message
    int64_t started;                   // wall clock µs at start
    int64_t engines_seq;               // seq of the last ENGINE_EVENT (µs clock, strictly rising)
    int64_t next_beat;                 // monotonic µs of the next heartbeat check
    int64_t grace_until;               // monotonic µs: end of the recovery grace
    bool recovering;                   // grace period running
    bool stopping;                     // leave the loop
    bool engines_told_stop;            // a shutdown stopped every engine: hub_stop
                                       // waits for them to say they leave
    volatile sig_atomic_t *stop_flag;  // set by main's signal handler
    char pid_path[1100];               // the pid file
    bool pid_claimed;                  // it holds our pid: remove it in hub_stop
    int64_t sacks_due;                 // monotonic µs by which they must be sent
    hub_sack_t *sacks;                 // submit acceptances gathered (hub_accepts_flush)
    size_t n_sacks;                    // how many
    size_t cap_sacks;                  // allocated
    struct hub_dispatch_t *dispatch;   // tasks waiting to go to engines in
                                       // batches (dispatch.c), or NULL
    hub_ack_t *acks;                   // result acks gathered (see hub_acks_flush)
    size_t n_acks;                     // how many
    size_t cap_acks;                   // allocated
    int64_t acks_due;                  // monotonic µs by which they must be sent
    ipp_strmap_t *clients;             // hub_client_t by hex routing id (owned values)
    hub_task_t **held;                 // delivered tasks whose results wait to go out
    size_t n_held;                     // how many
    size_t cap_held;                   // allocated
    int64_t held_due;                  // monotonic µs by which they must be sent
    char (*unsaved)[IPP_MSGID_LEN + 1];  // tasks whose result or failure could not
                                         // be committed (disk full…), written again
    size_t n_unsaved;                    // how many
    size_t cap_unsaved;                  // allocated
    char curve_secret[41];               // server secret key (Z85) while Curve is on
    void *zap_sock;                      // ZAP handler (REP on inproc://zeromq.zap.01), Curve only
    ipp_strmap_t *keys;                  // hub_key_t by name (owned values), Curve only
    ipp_strmap_t *keys_by_pub;           // the same entries by public key (borrowed)
    ipp_strmap_t *refused_logged;        // "reason|key|host" already logged (values unused)
    ipp_strmap_t *engine_keys;           // hub_engine_key_t by engine uuid (owned), Curve only
    int64_t refusals[HUB_REFUSE__N];     // refusals counted since start
    const hub_key_t *peer;               // the key of the message being handled (NULL
                                         // without Curve: no identity, nothing limited)
} hub_t;

// The message handlers: controller.c dispatches to them through one
// const table per socket. msg is decoded and authentic; a handler may take
// its content or buffers (setting them NULL in msg); ident is the sender's
// routing id; e is the registered engine it came from, NULL if the sender
// is not registered with this run of the controller.
typedef void hub_client_fn(hub_t *hub, wire_msg_t *msg, const wire_frame_t *ident);
typedef void hub_engine_fn(hub_t *hub, wire_msg_t *msg, const wire_frame_t *ident, hub_engine_t *e);

// ---- controller.c
// The lifecycle: hub_new, hub_start, hub_run, hub_stop, hub_destroy.
// hub_new: a controller with cfg (copied) and log (borrowed, must outlive
// it): memory only — scheduler, registry, maps; nothing on disk or the
// network yet. NULL with err filled.
hub_t *hub_new(const hub_config_t *cfg, const ipp_logger_t *log, ipp_error_t *err);
// hub_start: claim the profile's pid file, bind the sockets (the ports of
// the connection files when free), open the task store and start its
// writer thread, recover pending work, then write the connection files.
// Once per hub. IPP_OK, or err filled and everything it opened closed
// again (the caller still destroys the hub).
ipp_err_t hub_start(hub_t *hub, ipp_error_t *err);
// hub_run: the event loop, until a shutdown request or *hub->stop_flag.
ipp_err_t hub_run(hub_t *hub);
// hub_stop: commit what is queued and deliver what waited for it, tell
// engines and subscribers the controller goes, stop the writer, close the
// sockets, remove the pid file. Safe on a hub never (or not fully) started
// and more than once.
void hub_stop(hub_t *hub);
// hub_destroy: hub_stop if needed, then free everything; NULL-safe; sets
// *hub_p = NULL.
void hub_destroy(hub_t **hub_p);

// ---- engines.c
// The engine socket's handlers (but TASK_RESULT: hub_task_result).
// hub_engine_register: REGISTRATION_REQUEST — an id from the store, the
// reply, the announcement; tasks it reports running or finished adopted.
// Refused past cfg.max_engines. The engine is held in the scheduler (no
// work) until its first heartbeat.
hub_engine_fn hub_engine_register;
// hub_engine_heartbeat: HEARTBEAT — echoed; the first since registering
// makes the engine schedulable; an unregistered sender is told to register.
hub_engine_fn hub_engine_heartbeat;
// hub_engine_unmet: UNMET_DEPENDENCY — the engine cannot run a task here.
hub_engine_fn hub_engine_unmet;
// hub_engine_unregister: UNREGISTRATION — the engine leaves.
hub_engine_fn hub_engine_unregister;
// hub_engines_check: declare engines that missed too many heartbeats dead.
void hub_engines_check(hub_t *hub, int64_t now_mono);
// hub_keys_engine_registered: with Curve, remember that the engine of
// uuid registered with the key of the message being handled (hub->peer).
void hub_keys_engine_registered(hub_t *hub, const char *uuid);
// hub_engines_drop_revoked: with Curve, every engine registered with a
// key now revoked or no longer in the key table is unregistered at once,
// as for a death (its tasks are retried or fail). Returns how many.
size_t hub_engines_drop_revoked(hub_t *hub);
// hub_engines_stop: tell every engine (or those in targets) to stop.
void hub_engines_stop(hub_t *hub, const int *targets, size_t n);
// hub_engine_info: fill an EngineInfo (strings borrowed from e).
void hub_engine_info(const hub_engine_t *e, Ipp__EngineInfo *out, bool alive);

// ---- keys.c: Curve — the server key, the key table, the ZAP handler,
// the check of every message's key and the role permissions.
// hub_keys_setup: with cfg.curve, read (or create) the server key pair and
// the profile owner's admin key ("owner", its pair in ipp-client.json), and
// bind the ZAP handler in hub->zctx: before any socket binds, so no
// connection is ever accepted unchecked. Without Curve: nothing.
ipp_err_t hub_keys_setup(hub_t *hub, ipp_error_t *err);
// hub_keys_socket: make sock a Curve server of domain ("client", "notify",
// "engine"): only keys of that socket's roles get in.
ipp_err_t hub_keys_socket(hub_t *hub, void *sock, const char *domain, ipp_error_t *err);
// hub_keys_load: read keys names[0..n) (names NULL: every key) from the
// task store into the table; a name no longer in the store is dropped
// (refused from then on). *loaded gets how many were read.
ipp_err_t hub_keys_load(hub_t *hub, const char *const *names, size_t n, int *loaded,
                        ipp_error_t *err);
// hub_keys_zap: answer the ZAP requests waiting (from the loop; never
// touches the disk).
void hub_keys_zap(hub_t *hub);
// hub_keys_check: the key msg (received on sock) came with, set as
// hub->peer; true when it may be handled. A message of a key unknown or
// revoked since its handshake is refused (counted, logged once, answered
// with ERROR_REPLY when it has a header). Without Curve: true, peer NULL.
bool hub_keys_check(hub_t *hub, void *sock, wire_msg_t *msg);
// hub_refused: count a refusal and log it the first time this reason, key
// and peer host come together.
void hub_refused(hub_t *hub, hub_refusal_t why, const char *key, const char *peer,
                 const char *what);
// hub_refusal_name: "unknown key", "wrong socket", "revoked", "not permitted".
const char *hub_refusal_name(hub_refusal_t why);
// hub_permit_admin: may the sender do what (a request of admins only)? If
// not, it is answered with ERROR_REPLY (IPP_ERR_DENIED naming what and the
// role it needs), counted, and false is returned.
bool hub_permit_admin(hub_t *hub, const wire_frame_t *ident, const char *parent, const char *what);
// hub_permit_task: may the sender act (what: "abort", "purge", "resubmit")
// on a task submitted by `by` (by_key: by is a key's name)? Admins may on
// any; clients on their own. Refused as hub_permit_admin does.
bool hub_permit_task(hub_t *hub, const wire_frame_t *ident, const char *parent, const char *what,
                     const char *msg_id, const char *by, bool by_key);
// hub_keys_free: free the key table (hub_destroy).
void hub_keys_free(hub_t *hub);
// hub_query_keys_reload: KEYS_RELOAD_REQUEST (admins only with Curve).
hub_client_fn hub_query_keys_reload;

// ---- record.c: the task record (a leaf)
// hub_task_watch: remember that the client ident was told task is pending
// (it is sent TASK_DONE directly when the task completes).
void hub_task_watch(hub_task_t *task, const wire_frame_t *ident);
// hub_task_new: a zeroed task record from hub->task_pool, engine -1; NULL
// when out of memory. Give it back with hub_task_free (same hub).
hub_task_t *hub_task_new(hub_t *hub);
// hub_task_bufs: make room for n argument buffers (task->bufs: inline when
// n ≤ HUB_TASK_BUFS, else from the heap), none yet initialised and
// n_bufs left 0 for the caller to set. task must hold none. false when
// out of memory (nothing changed).
bool hub_task_bufs(hub_task_t *task, size_t n);
// hub_task_rbufs: the same for the result's buffers (task->rbufs).
bool hub_task_rbufs(hub_task_t *task, size_t n);
// hub_task_free_bufs: release a buffer array from hub_task_bufs or
// hub_task_rbufs whose frames are closed already (a heap one is freed).
void hub_task_free_bufs(hub_task_t *task, zmq_msg_t **bufs_p);
// hub_task_result_drop: free task's held result and its buffers (the one
// place a TaskResult the hub holds is freed); task may hold none.
void hub_task_result_drop(hub_task_t *task);
// hub_task_free: free everything task owns and give the record back to
// hub's pool (NULL-safe).
void hub_task_free(hub_t *hub, hub_task_t *task);
// hub_task_spec: the scheduler spec of task into spec (its pointers, the
// targets too, borrowed from task->req: valid while the task lives).
void hub_task_spec(const hub_task_t *task, sched_spec_t *spec);

// ---- tasks.c
// hub_wait_push: add a commit wait (copied; the ring owns w->reply from
// here); false if out of memory (then the caller still owns w->reply).
bool hub_wait_push(hub_t *hub, const hub_wait_t *w);
// hub_tasks_retry_unsaved: write again the results and failures whose
// commit failed (a full disk, an I/O error); called every heartbeat
// interval. The engine is acknowledged, dependents released and the
// client told only when one commits, so nothing is run twice.
void hub_tasks_retry_unsaved(hub_t *hub);
// hub_client_submit: a TASK_REQUEST from the client ident (also a
// resubmission built by queries.c): validated, recorded, tracked; takes
// msg's content and buffers when the record is queued.
hub_client_fn hub_client_submit;
// hub_task_result: a TASK_RESULT from engine e (refused when e is NULL);
// takes msg's content and buffers when they become the task's result.
hub_engine_fn hub_task_result;
// hub_task_take_result: the result r of task id from engine e (both
// checked to be there): recorded (its commit waits as HUB_WAIT_RESULT), or
// acknowledged at once when it is not needed, or dropped for a copy whose
// commit is pending. Takes r whatever happens; the nb buffers of msg from
// first_buf are moved out when the result is kept.
void hub_task_take_result(hub_t *hub, hub_engine_t *e, const char *id, Ipp__TaskResult *r,
                          wire_msg_t *msg, size_t first_buf, size_t nb);
// hub_commits: run the waits whose mutations are now committed (or failed).
void hub_commits(hub_t *hub);
// hub_sched_ops: the scheduler callbacks (ctx = hub).
extern const sched_ops_t hub_sched_ops;
// hub_task_fail_now: record that the controller failed task (status, ename,
// evalue) and deliver it once committed.
void hub_task_fail_now(hub_t *hub, hub_task_t *task, Ipp__Status status, const char *ename,
                       const char *evalue);

// ---- dispatch.c: tasks to engines, several per message
// hub_dispatch: send task, its request committed, to engine e (a
// scheduler decision): at once as a TASK_REQUEST when hwm is 1 or e did
// not register for batches, else with the others this turn sends e, by
// hub_dispatch_flush. Sets task->engine and attempts and records the
// assignment. The task's buffers are shared, not copied.
void hub_dispatch(hub_t *hub, hub_task_t *task, hub_engine_t *e);
// hub_dispatch_flush: send what hub_dispatch gathered: one TASK_BATCH per
// engine and up to WIRE_BATCH_MAX tasks (a lone task as a TASK_REQUEST).
// A task no longer pending on that engine (aborted, its engine lost) is
// left out. Called before the loop sleeps.
void hub_dispatch_flush(hub_t *hub);
// hub_dispatch_free: drop what waits and free the outbox (hub_destroy).
void hub_dispatch_free(hub_t *hub);
// hub_results_batch: RESULT_BATCH from engine e: checked whole (a bad
// batch gets an ERROR_REPLY and changes nothing), then each result taken
// as hub_task_result takes a lone one.
hub_engine_fn hub_results_batch;

// ---- deliver.c
// hub_deliver: task's result is committed: send it to its client (or hold
// it briefly, see hub_deliveries_flush), announce it, and free the task.
void hub_deliver(hub_t *hub, hub_task_t *task);
// hub_ack: tell engine now that msg_id's result is recorded.
void hub_ack(hub_t *hub, int engine, const char *msg_id);
// hub_ack_later: the same, gathered into the next batch (hub_acks_flush).
void hub_ack_later(hub_t *hub, int engine, const char *msg_id);
// hub_accept_later: task's request is committed: its client is told
// "accepted" with the next batch (hub_accepts_flush).
void hub_accept_later(hub_t *hub, hub_task_t *task);
// hub_acks_flush: send the result acknowledgements gathered so far, one
// message per engine — always when force, else once HUB_ACK_MAX are
// waiting or the oldest has waited HUB_ACK_DELAY_US. An acknowledgement
// only lets the engine forget a result it keeps; sending them in bulk
// spares the engine a wake-up per task. Until then the engine holds the
// result, and would re-send it on re-registering (answered "not needed").
void hub_acks_flush(hub_t *hub, bool force);
// hub_accepts_flush: send the gathered acceptances, one SUBMIT_REPLY per
// client — always when force, else once HUB_ACCEPT_MAX wait or the oldest
// has waited HUB_ACCEPT_DELAY_US. One whose task's result was delivered
// meanwhile is not sent: a TASK_RESULT also means the request is recorded.
void hub_accepts_flush(hub_t *hub, bool force);
// hub_deliveries_flush: send the results held back and free their tasks —
// always when force, else once HUB_DELIVER_MAX are held or the oldest has
// waited HUB_DELIVER_DELAY_US. A result is held only while its client
// still has other tasks outstanding: one that waits on a single task gets
// it at once, and so does the last of a batch (which sends the others
// first). Held results travel together, so a client busy with many tasks
// is woken once per batch rather than once per task; dependents never
// wait for this (they are released at the commit).
void hub_deliveries_flush(hub_t *hub, bool force);
// hub_task_count: add task to its client's tally (on submission).
void hub_task_count(hub_t *hub, hub_task_t *task);
// hub_task_uncount: take task off its client's tally; the client's tasks
// still outstanding after it.
long hub_task_uncount(hub_t *hub, hub_task_t *task);

// ---- queries.c: the client socket's handlers but TASK_REQUEST, one per
// request type, each answering with its *_REPLY or an ERROR_REPLY.
hub_client_fn hub_query_connect;       // CONNECT_REQUEST
hub_client_fn hub_query_queue_status;  // QUEUE_STATUS_REQUEST
hub_client_fn hub_query_results;       // RESULT_REQUEST (status and records)
hub_client_fn hub_query_purge;         // PURGE_REQUEST (answered once settled)
hub_client_fn hub_query_resubmit;      // RESUBMIT_REQUEST
hub_client_fn hub_query_db;            // DB_QUERY_REQUEST
hub_client_fn hub_query_history;       // HISTORY_REQUEST
// hub_query_reads_done: send the replies of the reads the reader thread
// finished (db_query, history pages); called when hub_reads_fd is readable.
void hub_query_reads_done(hub_t *hub);
hub_client_fn hub_query_abort;        // ABORT_REQUEST
hub_client_fn hub_query_clear;        // CLEAR_REQUEST
hub_client_fn hub_query_shutdown;     // SHUTDOWN_REQUEST (of engines, the hub)
hub_client_fn hub_query_load;         // LOAD_REQUEST
hub_client_fn hub_query_engine_list;  // ENGINE_LIST_REQUEST

// ---- send.c
// hub_reply: send a reply of type to the client with routing id ident.
// The frames of bufs go with the message (or are closed); the array
// stays the caller's.
ipp_err_t hub_reply(hub_t *hub, const wire_frame_t *ident, const char *parent, Ipp__MsgType type,
                    const ProtobufCMessage *content, zmq_msg_t *bufs, size_t n_bufs);
// hub_error_fill: er = {code, its name, text, field} (strings borrowed).
void hub_error_fill(Ipp__ErrorReply *er, ipp_err_t code, const char *field, char *text);
// hub_reply_error: send ERROR_REPLY {code, ename, evalue, field} on sock
// (the client or the engine socket) to ident (NULL: no routing frame).
void hub_reply_error(hub_t *hub, void *sock, const wire_frame_t *ident, const char *parent,
                     ipp_err_t code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
// hub_publish: send a notification with topic when some subscription is
// a prefix of it (the XPUB socket tells us who listens to what) or when
// force is set.
void hub_publish(hub_t *hub, const char *topic, Ipp__MsgType type, const ProtobufCMessage *content,
                 bool force);
// hub_subscriptions: read the XPUB's subscribe/unsubscribe messages.
void hub_subscriptions(hub_t *hub);
// A wire Dependency read with IPython Parallel's defaults (all, success).
typedef struct hub_dep_t {
    const char *const *ids;  // borrowed from the message
    size_t n;                // 0: no dependency
    bool all, success, failure;
} hub_dep_t;
// hub_dep_read: d (may be NULL) as a hub_dep_t.
hub_dep_t hub_dep_read(const Ipp__Dependency *d);

// ---- store.c: the controller's adapter to db/. Every write to the store
// goes through it; queries.c and recovery.c read through hub_store_reader.
typedef struct hub_store_t hub_store_t;
// hub_store_open: open (create, migrate) the task store of cfg->db_path and
// start its writer thread. NULL with err filled.
hub_store_t *hub_store_open(const hub_config_t *cfg, const ipp_logger_t *log, ipp_error_t *err);
// hub_store_close: commit everything queued, stop the writer, free.
void hub_store_close(hub_store_t **store_p);
// hub_store_fd: a descriptor that becomes readable when commits happen.
int hub_store_fd(hub_store_t *store);
// hub_store_flush: hand the writer what is held back and due, and get
// what is queued committed (before the loop sleeps): on this thread when
// it is a few mutations and the writer is idle — then returns true and the
// caller handles the commits at once — else on the writer thread (false,
// always so when !here_ok).
bool hub_store_flush(hub_store_t *store, bool here_ok);
// hub_store_deadline: when hub_store_flush must run next (monotonic µs), or
// -1 when nothing is held back.
int64_t hub_store_deadline(const hub_store_t *store);
// hub_store_committed: consume the fd's signal; every seq up to the value
// returned is settled: committed unless a report covers it.
uint64_t hub_store_committed(hub_store_t *store);
// hub_store_next_report: the oldest failure (or purge count) report: seqs
// first..last, err (IPP_OK for a purge that ran), count. false when none.
bool hub_store_next_report(hub_store_t *store, uint64_t *first, uint64_t *last, int64_t *count,
                           ipp_error_t *err);
// hub_store_sync: block until everything queued is settled (shutdown only).
uint64_t hub_store_sync(hub_store_t *store);
// hub_store_reader: the read connection, lent for reads only (queries.c,
// recovery.c); the store keeps it.
struct db_reader_t *hub_store_reader(hub_store_t *store);
// hub_store_insert: record a new task request from msg (its header,
// content and buffer frames are copied). Returns the mutation's seq, 0 if
// it could not be queued (err says why).
uint64_t hub_store_insert(hub_store_t *store, const hub_task_t *task, const wire_msg_t *msg,
                          ipp_error_t *err);
// hub_store_assign: record that task went to engine (uuid) as attempt n.
void hub_store_assign(hub_store_t *store, const hub_task_t *task, int engine,
                      const char *engine_uuid);
// hub_store_result: record task's final result (task->result, task->rbufs)
// from engine; received is the controller's clock. Returns seq, 0 on failure.
uint64_t hub_store_result(hub_store_t *store, const hub_task_t *task, const char *engine_uuid,
                          int64_t received);
// hub_store_fail: record that the controller finished task with status and
// error (aborted, unreachable, lost…). Returns seq, 0 on failure.
uint64_t hub_store_fail(hub_store_t *store, const hub_task_t *task, Ipp__Status status,
                        const char *ename, const char *evalue, int64_t when);
// hub_store_purge: queue the purge req asks for, by whom; settled (with its
// count) in a report of the writer. Returns seq, 0 with err filled if it
// could not be queued.
uint64_t hub_store_purge(hub_store_t *store, const Ipp__PurgeRequest *req, const char *by,
                         ipp_error_t *err);
// hub_store_resubmitted: record that old_id was resubmitted as new_id.
uint64_t hub_store_resubmitted(hub_store_t *store, const char *old_id, const char *new_id);
// hub_store_engine_id: the stable id of engine uuid (allocated on first
// sight), recording the registration. IPP_OK or an error.
ipp_err_t hub_store_engine_id(hub_store_t *store, const char *uuid, const char *hostname, int pid,
                              int64_t when, int *id, ipp_error_t *err);
// hub_store_key_seen: record that the Curve key name was seen at when.
void hub_store_key_seen(hub_store_t *store, const char *name, int64_t when);
// hub_store_engine_gone: record that engine uuid unregistered at when.
void hub_store_engine_gone(hub_store_t *store, const char *uuid, int64_t when);
// hub_store_engine_known: has an engine with id ever registered (with
// this database)?
bool hub_store_engine_known(const hub_store_t *store, int id);
// hub_store_dep: what the store knows of a dependency id (for the
// scheduler's lookup): finished ok / with error (and where), pending, unknown.
sched_lookup_t hub_store_dep(hub_store_t *store, const char *msg_id, int *engine);

// ---- recovery.c
// hub_recover: reload pending tasks from the store (at start).
ipp_err_t hub_recover(hub_t *hub, ipp_error_t *err);
// hub_recovery_end: after the grace period, requeue held tasks nobody holds.
void hub_recovery_end(hub_t *hub);

#endif
