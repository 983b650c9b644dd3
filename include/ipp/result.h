/* ipp/result.h — AsyncResult: the tasks one call submitted, and their outcome.
 *
 * Every submitting call of a view (ipp/view.h) returns an ipp_ar_t at once,
 * without waiting for the controller; Client.get_result (ipp/client.h)
 * returns one too (an "AsyncHubResult") for tasks of any client, of any
 * age. An AsyncResult holds one entry per task, in submission order:
 * its msg_id, its status, its result buffers, its metadata (timestamps,
 * engine, stdout, stderr, error) — all owned by the AsyncResult and valid
 * until ipp_ar_destroy.
 *
 * Nothing happens behind the caller's back: there is no thread. Results
 * arrive while the owning client spins — inside ipp_ar_wait, ipp_ar_get,
 * ipp_ar_next, ipp_client_spin and every call that waits for a reply —
 * so done callbacks run on the caller's thread, from those calls. (Long
 * submissions also read what has arrived every few hundred tasks, so
 * replies do not pile up, but run no callbacks.)
 *
 * Times in the API are seconds as double; a negative timeout means wait
 * forever (IPP_FOREVER), 0 means do not block. Timestamps are µs since the
 * Unix epoch (UTC), 0 when unknown.
 *
 * Errors are values, never aborts: a failed task becomes an
 * ipp_remote_error_t (RemoteError) readable with ipp_ar_error, and
 * ipp_ar_get reports a RemoteError (one task) or a CompositeError (several)
 * through its return code and ipp_error_t message.
 */
#ifndef IPP_RESULT_H
#define IPP_RESULT_H

#include "ipp/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Wait without a time limit. */
#define IPP_FOREVER (-1.0)

typedef struct ipp_client_t ipp_client_t;
typedef struct ipp_ar_t ipp_ar_t;

/* ipp_free_fn: releases bytes handed to the library (see ipp_buf_t). It may
 * be called from a ZeroMQ I/O thread, so it must be thread safe (free() is). */
typedef void(ipp_free_fn)(void *data, void *hint);

/* A span of bytes: an argument or value going out, a result coming back.
 *
 * Going out (arguments, pushed values, scattered items): with free_fn NULL
 * the library copies the bytes during the call and the caller keeps them;
 * with free_fn set the library takes ownership of data whatever the call
 * returns, sends it without copying, and calls free_fn(data, hint) once the
 * last send using it is done (or on failure).
 *
 * Coming back (ipp_ar_result): data and size only; the bytes are owned by
 * the AsyncResult, read-only, and live until ipp_ar_destroy. */
typedef struct ipp_buf_t {
    const void *data;     /* the bytes (may be NULL when size is 0) */
    size_t size;          /* how many */
    ipp_free_fn *free_fn; /* NULL: copied; else: ownership passes to the library */
    void *hint;           /* second argument of free_fn */
} ipp_buf_t;

/* A task's outcome. Values 1..7 are the wire's Status; REFUSED is the
 * client's own: the task never got into the controller (the controller
 * refused it in its SUBMIT_REPLY or ERROR_REPLY, or it could not be sent). */
typedef enum ipp_status_t {
    IPP_STATUS_PENDING = 1,     /* submitted, not finished */
    IPP_STATUS_OK = 2,          /* ran and succeeded */
    IPP_STATUS_ERROR = 3,       /* ran and failed (RemoteError, exit status, signal, limit) */
    IPP_STATUS_ABORTED = 4,     /* TaskAborted before running */
    IPP_STATUS_UNREACHABLE = 5, /* ImpossibleDependency or DependencyTimeout */
    IPP_STATUS_LOST = 6,        /* EngineError: its engine died, no retries left */
    IPP_STATUS_UNKNOWN = 7,     /* the controller knows no such msg_id */
    IPP_STATUS_REFUSED = 100,   /* not accepted or not sent (client side) */
} ipp_status_t;

/* ipp_status_name: "pending", "ok", "error", … ; static, never NULL. */
const char *ipp_status_name(int status);

/* A RemoteError: why one task failed. Every pointer is owned by the
 * AsyncResult it came from. */
typedef struct ipp_remote_error_t {
    const char *msg_id;           /* the failed task */
    const char *ename;            /* e.g. "CommandFailed", "TaskAborted" */
    const char *evalue;           /* the message ("" when none) */
    const char *const *traceback; /* lines, n_traceback of them */
    size_t n_traceback;           /* how many lines */
    int engine_id;                /* where it failed, -1 if nowhere */
    ipp_status_t status;          /* ERROR, ABORTED, UNREACHABLE, LOST, UNKNOWN, REFUSED */
    ipp_err_t code;               /* IPP_ERR_REMOTE, _ABORTED, _UNREACHABLE, _ENGINE,
                                         _NOT_FOUND, or a refusal's own code */
} ipp_remote_error_t;

/* Everything known about one task. Pointers are owned by the AsyncResult
 * and live until ipp_ar_destroy; NULL (or 0 / -1) when unknown. */
typedef struct ipp_metadata_t {
    const char *msg_id;              /* the task's id */
    ipp_status_t status;             /* PENDING until it finished */
    bool accepted;                   /* the controller acknowledged the submission */
    int64_t submitted;               /* when the task left the client (µs UTC) */
    int64_t started;                 /* when the engine started it */
    int64_t completed;               /* when the engine finished it */
    int64_t received;                /* when the result reached the client (hub
                                      results: the controller's record of it) */
    int engine_id;                   /* the engine that ran it, -1 if none */
    const char *engine_uuid;         /* its uuid, NULL if not known */
    const char *label;               /* the task's label, NULL if none */
    const void *stdout_data;         /* what it printed */
    size_t stdout_len;               /* its length */
    bool stdout_truncated;           /* the engine cut it at its limit */
    const void *stderr_data;         /* what it wrote to stderr */
    size_t stderr_len;               /* its length */
    bool stderr_truncated;           /* the engine cut it at its limit */
    int exit_status;                 /* command tasks: exit code (-1 unknown) */
    int term_signal;                 /* command tasks: signal, 0 none */
    int attempts;                    /* tries so far (hub records), 0 unknown */
    const ipp_remote_error_t *error; /* NULL when it succeeded or is pending */
    const char *const *after;        /* time dependencies (msg_ids) */
    size_t n_after;                  /* how many */
    const char *const *follow;       /* location dependencies (msg_ids) */
    size_t n_follow;                 /* how many */
    const char *summary;             /* a readable form of the value (a Python
                                      task's repr), NULL if none */
} ipp_metadata_t;

/* Which timestamp, for ipp_ar_timedelta. */
typedef enum ipp_stamp_t {
    IPP_STAMP_SUBMITTED = 0,
    IPP_STAMP_STARTED = 1,
    IPP_STAMP_COMPLETED = 2,
    IPP_STAMP_RECEIVED = 3,
} ipp_stamp_t;

/* One entry of ipp_ar_get_dict: an engine and what it returned. */
typedef struct ipp_ar_item_t {
    int engine_id;            /* the engine */
    size_t index;             /* the task's index in the AsyncResult */
    const ipp_buf_t *buffers; /* its result buffers (owned by the AsyncResult) */
    size_t n_buffers;         /* how many */
} ipp_ar_item_t;

/* ipp_ar_done_fn: a done callback; ar is ready (every task finished) when
 * it is called. It may read ar, add callbacks, destroy ar (after which it
 * must not touch it; a wait on ar in progress then returns IPP_ERR_CLOSED)
 * and make any client call, but must not destroy the client. */
typedef void(ipp_ar_done_fn)(ipp_ar_t *ar, void *arg);

/* ipp_ar_destroy: forget the tasks (they keep running and stay in the
 * controller's database; ipp_client_get_result finds them again), free
 * every buffer and string the result owns, free *ar_p and set it to NULL.
 * NULL-safe. Safe after the client was destroyed, and from inside the
 * AsyncResult's own done callback. */
void ipp_ar_destroy(ipp_ar_t **ar_p);

/* ipp_ar_len: how many tasks. */
size_t ipp_ar_len(const ipp_ar_t *ar);

/* ipp_ar_msg_id: task i's msg_id (owned by ar), or NULL if i is out of range. */
const char *ipp_ar_msg_id(const ipp_ar_t *ar, size_t i);

/* ipp_ar_is_hub: true for an AsyncHubResult (from ipp_client_get_result or
 * ipp_client_resubmit), which learns of completions from the controller's
 * task-done notifications rather than from being the submitter. */
bool ipp_ar_is_hub(const ipp_ar_t *ar);

/* ipp_ar_ready: every task finished (whatever the outcome). Does not spin. */
bool ipp_ar_ready(const ipp_ar_t *ar);

/* ipp_ar_successful: ready and every task succeeded. False while not ready
 * (where Python would raise). */
bool ipp_ar_successful(const ipp_ar_t *ar);

/* ipp_ar_progress: how many tasks have finished. */
size_t ipp_ar_progress(const ipp_ar_t *ar);

/* ipp_ar_wait: spin the client until ar is ready or timeout passes.
 * IPP_OK when ready — whether the tasks succeeded or not; IPP_ERR_TIMEOUT;
 * IPP_ERR_CLOSED when the client is gone (destroyed, or the controller
 * announced its shutdown) and ar is not ready. */
ipp_err_t ipp_ar_wait(ipp_ar_t *ar, double timeout, ipp_error_t *err);

/* ipp_ar_get: ipp_ar_wait, then the outcome. IPP_OK: every task succeeded;
 * read the results with ipp_ar_result. A failure: for a one-task ar, that
 * task's RemoteError code (IPP_ERR_REMOTE, _ABORTED, _UNREACHABLE, _ENGINE,
 * _NOT_FOUND, …) with "RemoteError: ename: evalue (engine N)" in err; for
 * several tasks, IPP_ERR_REMOTE with "CompositeError: K of N tasks failed;
 * …" (the list: ipp_ar_errors). IPP_ERR_TIMEOUT / IPP_ERR_CLOSED as wait. */
ipp_err_t ipp_ar_get(ipp_ar_t *ar, double timeout, ipp_error_t *err);

/* ipp_ar_result: task i's result buffers (*n of them) — the values a call
 * returned, the values a pull fetched. Owned by ar; NULL with *n = 0 when
 * the task has none, is pending or i is out of range. Does not spin. */
const ipp_buf_t *ipp_ar_result(const ipp_ar_t *ar, size_t i, size_t *n);

/* ipp_ar_get_dict: ipp_ar_get, then one item per task keyed by the engine
 * that ran it, in task order, written to out (up to max); *n gets the count
 * (ipp_ar_len). Meant for direct views; IPP_ERR_INVALID if an engine ran two
 * of the tasks (the keys would clash) or max is too small. */
ipp_err_t ipp_ar_get_dict(ipp_ar_t *ar, double timeout, ipp_ar_item_t *out, size_t max, size_t *n,
                          ipp_error_t *err);

/* ipp_ar_concat: ipp_ar_get, then every result buffer of every task, in
 * task order, concatenated into one new allocation (*data, *len; caller
 * frees with free(); *data is never NULL on success). What a gather returns. */
ipp_err_t ipp_ar_concat(ipp_ar_t *ar, double timeout, void **data, size_t *len, ipp_error_t *err);

/* ipp_ar_status: task i's status (IPP_STATUS_UNKNOWN if out of range). */
ipp_status_t ipp_ar_status(const ipp_ar_t *ar, size_t i);

/* ipp_ar_error: task i's RemoteError (owned by ar), NULL if it succeeded,
 * is pending or i is out of range. */
const ipp_remote_error_t *ipp_ar_error(const ipp_ar_t *ar, size_t i);

/* ipp_ar_errors: the CompositeError: every failed task's RemoteError, in
 * task order, written to out (up to max; out may be NULL with max 0);
 * returns how many tasks failed. Pointers owned by ar. */
size_t ipp_ar_errors(const ipp_ar_t *ar, const ipp_remote_error_t **out, size_t max);

/* ipp_ar_metadata: everything known about task i into *md (pointers owned
 * by ar). IPP_ERR_INVALID if i is out of range. */
ipp_err_t ipp_ar_metadata(const ipp_ar_t *ar, size_t i, ipp_metadata_t *md);

/* ipp_ar_elapsed: seconds since the first submission; once ready, the
 * wall time. */
double ipp_ar_elapsed(const ipp_ar_t *ar);

/* ipp_ar_serial_time: the sum of the tasks' run times (completed − started)
 * in seconds, over the tasks whose both stamps are known. */
double ipp_ar_serial_time(const ipp_ar_t *ar);

/* ipp_ar_wall_time: seconds from the earliest submitted to the latest
 * received — what the computation cost, overhead included (the seeds'
 * definition). For other pairs use ipp_ar_timedelta. 0 if unknown. */
double ipp_ar_wall_time(const ipp_ar_t *ar);

/* ipp_ar_timedelta: seconds from the earliest `from` stamp to the latest
 * `to` stamp over the tasks (e.g. STARTED→COMPLETED: first start to last
 * completion). 0 if either is unknown. */
double ipp_ar_timedelta(const ipp_ar_t *ar, ipp_stamp_t from, ipp_stamp_t to);

/* ipp_ar_wait_interactive: ipp_ar_wait, printing progress to out (NULL:
 * stdout) every interval seconds (<= 0: 1 s): on a terminal one line
 * "  3/10 tasks finished after    2 s" redrawn in place, then "done";
 * otherwise a plain line whenever the count changed, then "done". Returns
 * as ipp_ar_wait. */
ipp_err_t ipp_ar_wait_interactive(ipp_ar_t *ar, FILE *out, double interval, double timeout,
                                  ipp_error_t *err);

/* ipp_ar_add_done_callback: call fn(ar, arg) once, when ar becomes ready —
 * from inside whichever call of this client spins at that moment — or at
 * once, from inside this call, if ar is ready already. Callbacks run in
 * the order they were added. IPP_ERR_NOMEM. */
ipp_err_t ipp_ar_add_done_callback(ipp_ar_t *ar, ipp_ar_done_fn *fn, void *arg, ipp_error_t *err);

/* ipp_ar_abort: ask the controller to abort ar's unfinished tasks (an
 * ABORT_REQUEST; waits for its reply). Tasks that had not started finish
 * later with IPP_STATUS_ABORTED; running ones finish normally. *aborted
 * (may be NULL) gets how many the controller aborted. */
ipp_err_t ipp_ar_abort(ipp_ar_t *ar, size_t *aborted, ipp_error_t *err);

/* ipp_ar_next: iteration in completion order. Waits up to timeout for a
 * finished task not yet returned by this function and writes its index to
 * *index. IPP_OK; IPP_ERR_NOT_FOUND when every task was returned already
 * (the end); IPP_ERR_TIMEOUT; IPP_ERR_CLOSED. */
ipp_err_t ipp_ar_next(ipp_ar_t *ar, double timeout, size_t *index, ipp_error_t *err);

/* ipp_ar_wait_task: ordered access: wait until task i finished. IPP_OK
 * (whatever its outcome), IPP_ERR_TIMEOUT, IPP_ERR_CLOSED, IPP_ERR_INVALID
 * if i is out of range. */
ipp_err_t ipp_ar_wait_task(ipp_ar_t *ar, size_t i, double timeout, ipp_error_t *err);

#ifdef __cplusplus
}
#endif
#endif
