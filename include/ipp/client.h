/* ipp/client.h — the Client: a connection to one controller.
 *
 * A client reads a connection file (a path, or a profile's
 * $IPP_DIR/profile_NAME/security/ipp-client.json), connects a DEALER to the
 * controller's client port and a SUB to its notification port, says hello
 * (CONNECT_REQUEST) and learns the engines. It keeps the engine list up to
 * date from ENGINE_EVENT notifications, makes views (ipp/view.h), fetches
 * results of any task by msg_id (AsyncHubResult) and asks the controller
 * the hub queries: result_status, queue_status, purge, resubmit, db_query,
 * history, abort, clear, shutdown, load.
 *
 * Threads: none. A client and everything made from it (views, AsyncResults)
 * belong to one thread at a time. Incoming messages are handled only while
 * the caller is inside a call that spins: ipp_client_spin, the waits and
 * every call that waits for a reply. To fit a client into another event
 * loop, poll ipp_client_fd() for reading and call ipp_client_spin(c, 0)
 * whenever it is readable, and also once before going back to sleep on
 * it: the descriptor is
 * edge-triggered (ZeroMQ's ZMQ_FD), it signals new arrivals, not unread
 * ones, and any libipp call (a submission, say) may have taken its edge.
 * Spin reads until ZMQ_EVENTS says nothing is left, which re-arms it.
 * (Submitting calls do not do this themselves: it would cost a system call
 * per task.)
 *
 * Requests that wait for a reply (every hub query, abort, connect) give up
 * after the client's timeout (ipp_client_opts_t.timeout, default 10 s) with
 * IPP_ERR_TIMEOUT; a controller's ERROR_REPLY becomes the error it carries
 * (code + "ename: evalue"). There are no heartbeats: a lost controller shows
 * as timeouts, or as IPP_ERR_CLOSED after it announced its shutdown. No
 * call aborts the process.
 */
#ifndef IPP_CLIENT_H
#define IPP_CLIENT_H

#include "ipp/error.h"
#include "ipp/result.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

struct json_t; /* jansson's, for ipp_client_db_query_json */

/* How much a client logs (ipp_client_opts_t.log_level). */
enum {
    IPP_LOG_LEVEL_DEFAULT = 0, /* warnings */
    IPP_LOG_LEVEL_ERROR = 1,   /* errors only */
    IPP_LOG_LEVEL_WARN = 2,    /* and refused messages, lost replies */
    IPP_LOG_LEVEL_INFO = 3,    /* and shutdown notices */
    IPP_LOG_LEVEL_DEBUG = 4,   /* and messages nobody waited for */
};

/* How to connect. Zero/NULL fields take the defaults. */
typedef struct ipp_client_opts_t {
    const char *connection_file;  /* path of ipp-client.json; NULL: use profile */
    const char *profile;          /* profile name (NULL: "default") */
    const char *ipp_dir;          /* NULL: $IPP_DIR, else ~/.ipp */
    double timeout;               /* s to wait for the controller's answer to the
                                     hello and to every request (0: 10 s) */
    const char *username;         /* put in every header (NULL: $USER) */
    FILE *log;                    /* where warnings go (NULL: stderr) */
    int log_level;                /* IPP_LOG_LEVEL_*; 0: warnings */
    const char *curve_public_key; /* Z85 client key pair, used when the connection */
    const char *curve_secret_key; /* file has a Curve server key; NULL: a fresh pair */
} ipp_client_opts_t;

/* Information about one engine; strings owned by the client, valid until
 * its next spin. */
typedef struct ipp_engine_info_t {
    int id;               /* engine id */
    const char *uuid;     /* stable uuid ("" if not known) */
    const char *hostname; /* where it runs ("" if not known) */
    int pid;              /* its process id, 0 if not known */
    int64_t registered;   /* when it registered (µs UTC), 0 if not known */
    bool alive;           /* registered now */
    const char *tags;     /* its --tag values, comma-separated ("" if none) */
} ipp_engine_info_t;

/* A list of strings; each string and the array are owned by the struct. */
typedef struct ipp_strv_t {
    char **v; /* the strings */
    size_t n; /* how many */
} ipp_strv_t;

/* ipp_strv_fini: free what sv holds (NULL-safe) and zero it. */
void ipp_strv_fini(ipp_strv_t *sv);

/* A list of ints, owned by the struct. */
typedef struct ipp_intv_t {
    int *v;   /* the values */
    size_t n; /* how many */
} ipp_intv_t;

/* ipp_intv_fini: free what iv holds (NULL-safe) and zero it. */
void ipp_intv_fini(ipp_intv_t *iv);

/* result_status: where each asked-for msg_id stands. */
typedef struct ipp_result_status_t {
    ipp_strv_t pending;   /* submitted, not finished */
    ipp_strv_t completed; /* finished (any outcome), recorded in the DB */
    ipp_strv_t unknown;   /* never heard of */
} ipp_result_status_t;

/* ipp_result_status_fini: free its lists (NULL-safe). */
void ipp_result_status_fini(ipp_result_status_t *rs);

/* queue_status: one engine's queue. */
typedef struct ipp_engine_queue_t {
    int engine_id;          /* the engine */
    int queued;             /* tasks waiting for it */
    int running;            /* tasks it runs now */
    int64_t completed;      /* tasks it finished */
    ipp_strv_t queued_ids;  /* verbose: the waiting msg_ids */
    ipp_strv_t running_ids; /* verbose: the running msg_ids */
} ipp_engine_queue_t;

/* queue_status: messages the controller refused for one reason. */
typedef struct ipp_refusal_count_t {
    char reason[32]; /* the error's name: BAD_MAC, STALE, REPLAY… */
    uint64_t count;  /* how many since the controller started */
} ipp_refusal_count_t;

/* queue_status: every engine's queue and the scheduler's own. */
typedef struct ipp_queue_status_t {
    ipp_engine_queue_t *engines; /* one per engine asked about */
    size_t n_engines;            /* how many */
    int unassigned;              /* tasks not yet given to an engine */
    ipp_strv_t unassigned_ids;   /* verbose: their msg_ids */
    bool curve;                  /* the controller runs with CurveZMQ */
    /* With Curve: peers and requests refused since the controller started. */
    int64_t refused_unknown_key;  /* a key it does not know */
    int64_t refused_wrong_socket; /* a key on the socket of another role */
    int64_t refused_revoked;      /* a revoked key */
    int64_t refused_denied;       /* a request the key's role does not permit */
    /* Messages refused as not authentic or malformed (bad signature, stale,
     * replayed, no delimiter…), by reason; only reasons that occurred. */
    ipp_refusal_count_t *refused_messages; /* NULL when none */
    size_t n_refused_messages;             /* how many reasons */
} ipp_queue_status_t;

/* ipp_queue_status_fini: free what qs holds (NULL-safe). */
void ipp_queue_status_fini(ipp_queue_status_t *qs);

/* ipp_client_new: connect as opts says, wait for CONNECT_REPLY. Errors:
 * from reading the connection file (IPP_ERR_NOT_FOUND: no file;
 * IPP_ERR_PERMISSION: readable by others; IPP_ERR_CONN_FILE: malformed —
 * each naming the file), IPP_ERR_TIMEOUT when the controller does not
 * answer within opts->timeout (naming the endpoint and the file),
 * IPP_ERR_DENIED as soon as a Curve controller's handshake refuses the
 * key (unknown to it, revoked, or an engine key; naming the endpoint and
 * the file), IPP_ERR_ZMQ, IPP_ERR_NOMEM. Caller owns the result. */
ipp_client_t *ipp_client_new(const ipp_client_opts_t *opts, ipp_error_t *err);

/* ipp_client_connect: ipp_client_new with where = a connection file path
 * (anything containing '/' or ending in ".json") or else a profile name
 * (NULL: "default"). Caller owns the result. */
ipp_client_t *ipp_client_connect(const char *where, double timeout, ipp_error_t *err);

/* ipp_client_destroy: close the sockets (unsent messages get up to a
 * second to leave), free *client_p and set it to NULL. NULL-safe.
 * AsyncResults and views made from it stay valid to read and destroy;
 * their waits then fail with IPP_ERR_CLOSED. */
void ipp_client_destroy(ipp_client_t **client_p);

/* ipp_client_session: this client's session uuid (its identity on the wire
 * and client_uuid in task records); owned by the client. */
const char *ipp_client_session(const ipp_client_t *client);

/* ipp_client_connection_file: the path connected from; owned by the client. */
const char *ipp_client_connection_file(const ipp_client_t *client);

/* ipp_client_set_timeout: the request timeout in seconds (> 0). */
void ipp_client_set_timeout(ipp_client_t *client, double timeout);

/* ipp_client_ids: the ids of the registered engines, ascending, written to
 * out (up to max; out may be NULL with max 0); returns how many there are. */
size_t ipp_client_ids(const ipp_client_t *client, int *out, size_t max);

/* ipp_client_engines: every engine the client knows (also ones that left),
 * by id, written to out (up to max); returns how many there are. */
size_t ipp_client_engines(const ipp_client_t *client, ipp_engine_info_t *out, size_t max);

/* ipp_client_refresh_engines: ask the controller for its engine list
 * (ENGINE_LIST_REQUEST) and replace the client's. */
ipp_err_t ipp_client_refresh_engines(ipp_client_t *client, ipp_error_t *err);

/* ipp_client_wait_for_engines: wait until at least n engines are
 * registered: asks for the list once, then follows ENGINE_EVENT
 * notifications. IPP_ERR_TIMEOUT (saying how many there are). */
ipp_err_t ipp_client_wait_for_engines(ipp_client_t *client, size_t n, double timeout,
                                      ipp_error_t *err);

/* ipp_client_fd: a descriptor that becomes readable when messages may be
 * waiting (an epoll set of both sockets' ZMQ_FD). Edge-triggered: when it
 * polls readable, and before sleeping on it after any other libipp call,
 * call ipp_client_spin(client, 0), which reads until nothing is left and so
 * re-arms it. Owned by the client (valid until ipp_client_destroy). */
int ipp_client_fd(const ipp_client_t *client);

/* ipp_client_spin: handle every message waiting; if there was none, wait
 * up to timeout for some first. Runs done callbacks of AsyncResults that
 * became ready. IPP_OK (also when nothing came), IPP_ERR_ZMQ. */
ipp_err_t ipp_client_spin(ipp_client_t *client, double timeout, ipp_error_t *err);

/* A task-done notification: msg_id and label (NULL if none) borrowed for
 * the call, the task's final status, the engine it ran on (-1: none). */
typedef void ipp_task_done_fn(void *arg, const char *msg_id, const char *label, ipp_status_t status,
                              int engine_id);

/* ipp_client_follow_tasks: subscribe to the done notification of every
 * task (any client's) and call fn(arg, …) for each, from inside the
 * client's spins; fn NULL unsubscribes. For monitors such as the
 * dashboard: a busy controller sends one notification per task.
 * Notifications sent while the subscription was not yet live are missed
 * (read the database for what came before). IPP_ERR_ZMQ. */
ipp_err_t ipp_client_follow_tasks(ipp_client_t *client, ipp_task_done_fn *fn, void *arg,
                                  ipp_error_t *err);

/* ipp_client_outstanding: how many tasks of live AsyncResults are not
 * finished. */
size_t ipp_client_outstanding(const ipp_client_t *client);

/* ipp_client_wait: spin until no task is outstanding. IPP_ERR_TIMEOUT,
 * IPP_ERR_CLOSED (the controller announced its shutdown). */
ipp_err_t ipp_client_wait(ipp_client_t *client, double timeout, ipp_error_t *err);

/* ipp_client_shutdown_seen: the controller announced its shutdown
 * (SHUTDOWN_NOTICE) and has not been heard from since. */
bool ipp_client_shutdown_seen(const ipp_client_t *client);

/* ---------------------------------------------------------- hub queries */

/* ipp_client_get_result: an AsyncHubResult for ids[0..n) — tasks of any
 * client, also from before this client started. Subscribes to each id's
 * task-done notification first, then asks the controller (RESULT_REQUEST
 * with records); finished tasks come back with their record and buffers,
 * pending ones when their notification arrives (the client then asks
 * again), unknown ones finish with IPP_STATUS_UNKNOWN. Does not wait.
 * IPP_ERR_INVALID for an id that is not a uuid. Caller owns the result. */
ipp_ar_t *ipp_client_get_result(ipp_client_t *client, const char *const *ids, size_t n,
                                ipp_error_t *err);

/* ipp_client_result_status: which of ids[0..n) are pending, completed or
 * unknown. out is filled (caller frees it with ipp_result_status_fini). */
ipp_err_t ipp_client_result_status(ipp_client_t *client, const char *const *ids, size_t n,
                                   ipp_result_status_t *out, ipp_error_t *err);

/* ipp_client_queue_status: queues of targets[0..n) (n 0: all engines);
 * verbose lists msg_ids. out is filled (ipp_queue_status_fini). */
ipp_err_t ipp_client_queue_status(ipp_client_t *client, const int *targets, size_t n, bool verbose,
                                  ipp_queue_status_t *out, ipp_error_t *err);

/* ipp_client_keys_reload: tell the controller that the keys names[0..n)
 * (n 0: all) changed in its task database (`ipp keys new|revoke` does it
 * after writing them), so it reads them again: a revocation takes effect
 * at once. Needs an admin key when the controller runs with Curve
 * (IPP_ERR_DENIED otherwise); without Curve it is answered and does
 * nothing. *loaded (may be NULL) gets how many keys were read. */
ipp_err_t ipp_client_keys_reload(ipp_client_t *client, const char *const *names, size_t n,
                                 int *loaded, ipp_error_t *err);

/* ipp_client_purge_results: forget completed records: ids[0..n_ids), or
 * all of them, or those run by engines[0..n_engines). A pending id refuses
 * the whole request (IPP_ERR_PENDING). *purged (may be NULL) gets how many
 * records went. */
ipp_err_t ipp_client_purge_results(ipp_client_t *client, const char *const *ids, size_t n_ids,
                                   bool all, const int *engines, size_t n_engines, int64_t *purged,
                                   ipp_error_t *err);

/* ipp_client_resubmit: run ids[0..n) again as new tasks (same request and
 * flags); returns an AsyncHubResult of the new tasks, new id i replacing
 * ids[i]. Caller owns the result. */
ipp_ar_t *ipp_client_resubmit(ipp_client_t *client, const char *const *ids, size_t n,
                              ipp_error_t *err);

/* ipp_client_db_query: run a db_query (query_json: a JSON object of
 * TaskRecord keys to values or {"$op": value} tests) with a projection
 * keys[0..n_keys) (n_keys 0: every key) and a row limit (0: none). *text
 * gets the rows as JSON lines, one object per line (caller frees with
 * free()). IPP_ERR_QUERY from the controller for a bad query. */
ipp_err_t ipp_client_db_query(ipp_client_t *client, const char *query_json, const char *const *keys,
                              size_t n_keys, int64_t limit, char **text, ipp_error_t *err);

/* ipp_client_db_query_json: the same, *rows getting a JSON array of
 * objects (caller owns it: json_decref). IPP_ERR_BAD_CONTENT if a line
 * does not parse. */
ipp_err_t ipp_client_db_query_json(ipp_client_t *client, const char *query_json,
                                   const char *const *keys, size_t n_keys, int64_t limit,
                                   struct json_t **rows, ipp_error_t *err);

/* ipp_client_find_label: the msg_ids of the tasks whose label matches the
 * glob pattern (a db_query {"label": {"$glob": pattern}} projected on
 * msg_id), in the order the controller returns them, into *out (caller
 * frees with ipp_strv_fini). Feed them to ipp_client_get_result to fetch
 * results by label. */
ipp_err_t ipp_client_find_label(ipp_client_t *client, const char *pattern, ipp_strv_t *out,
                                ipp_error_t *err);

/* ipp_client_history: every msg_id the controller knows, in submission
 * order, into *out (caller frees with ipp_strv_fini). */
ipp_err_t ipp_client_history(ipp_client_t *client, ipp_strv_t *out, ipp_error_t *err);

/* ipp_client_abort: abort ids[0..n_ids) and everything queued on
 * targets[0..n_targets). aborted / not_pending (either may be NULL) get
 * the controller's answer (caller frees with ipp_strv_fini). */
ipp_err_t ipp_client_abort(ipp_client_t *client, const char *const *ids, size_t n_ids,
                           const int *targets, size_t n_targets, ipp_strv_t *aborted,
                           ipp_strv_t *not_pending, ipp_error_t *err);

/* ipp_client_clear: clear the namespaces of targets[0..n) (n 0: all);
 * cleared (may be NULL) gets the engines cleared (ipp_intv_fini). */
ipp_err_t ipp_client_clear(ipp_client_t *client, const int *targets, size_t n, ipp_intv_t *cleared,
                           ipp_error_t *err);

/* ipp_client_shutdown: stop engines targets[0..n) (n 0 with hub: all),
 * and the controller too if hub. stopping / hub_stopping (may be NULL)
 * get the controller's answer (ipp_intv_fini). */
ipp_err_t ipp_client_shutdown(ipp_client_t *client, const int *targets, size_t n, bool hub,
                              ipp_intv_t *stopping, bool *hub_stopping, ipp_error_t *err);

/* ipp_client_load: outstanding tasks per engine of targets[0..n) (n 0:
 * all): engine_ids[i] has outstanding[i] (either may be NULL;
 * ipp_intv_fini). */
ipp_err_t ipp_client_load(ipp_client_t *client, const int *targets, size_t n,
                          ipp_intv_t *engine_ids, ipp_intv_t *outstanding, ipp_error_t *err);

#ifdef __cplusplus
}
#endif
#endif
