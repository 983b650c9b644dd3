/* ipp/view.h — DirectView and LoadBalancedView: how work is submitted.
 *
 * A view is a client plus where its tasks go:
 * - a DirectView names engines (one, several, or "all" — the engines
 *   registered at the moment of each call). Every call sends one task per
 *   target engine (TASK_REQUEST with queue MUX and that one engine), except
 *   map and scatter, which split their items over the targets. Namespace
 *   operations (push, pull, scatter, gather) exist only here.
 * - a LoadBalancedView lets the controller's scheduler choose: each task
 *   runs once, on one engine, subject to the flags (after, follow, timeout,
 *   retries, label, targets, requires).
 *
 * Tasks are what ipp runs (see DESIGN): a call (a function registered in
 * the engine, with argument buffers), or a command (argv, or a shell
 * string). Every submitting function returns an AsyncResult (ipp/result.h)
 * at once: it sends without waiting for any reply, so submitting many
 * tasks costs no round trips. Argument buffers follow ipp_buf_t's rules:
 * copied unless a free_fn hands them over.
 *
 * A submitting function returns NULL (err filled) only when nothing was
 * sent: bad arguments (IPP_ERR_INVALID), no engine to target
 * (IPP_ERR_NO_ENGINES), a client that is gone (IPP_ERR_CLOSED), out of
 * memory. If sending fails part way (the controller stopped reading for
 * longer than the client's timeout), the AsyncResult is returned and the
 * tasks that could not be sent are finished with IPP_STATUS_REFUSED.
 *
 * Flags are set per view (ipp_view_set_flags) and per call (the flags
 * argument of each call, NULL for none): a field marked in the call's `set`
 * wins over the view's.
 */
#ifndef IPP_VIEW_H
#define IPP_VIEW_H

#include "ipp/error.h"
#include "ipp/result.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ipp_view_t ipp_view_t;

/* What a task does. */
typedef enum ipp_task_kind_t {
    IPP_TASK_CALL = 1,  /* function + argument buffers, run inside the engine */
    IPP_TASK_ARGV = 2,  /* a child process from argv */
    IPP_TASK_SHELL = 3, /* a child process: /bin/sh -c STRING */
} ipp_task_kind_t;

/* One task, as given to ipp_view_submit / ipp_view_map_tasks. Nothing here
 * is kept after the call, except buffers handed over with a free_fn. */
typedef struct ipp_task_t {
    ipp_task_kind_t kind;    /* which of the three */
    const char *function;    /* CALL: the registered function's name */
    const ipp_buf_t *args;   /* CALL: argument buffers */
    size_t n_args;           /* how many */
    const char *const *argv; /* ARGV: program and arguments */
    size_t argc;             /* how many; 0 = argv is NULL-terminated */
    const char *shell;       /* SHELL: the command line */
    const char *const *env;  /* ARGV/SHELL: "NAME=VALUE" additions */
    size_t n_env;            /* how many */
    const char *cwd;         /* ARGV/SHELL: working directory, NULL = engine's */
    const void *stdin_data;  /* ARGV/SHELL: bytes for stdin (copied) */
    size_t stdin_len;        /* their length */
    double wall_limit;       /* running-time limit in s, 0 = none (a call is
                                      stopped by its engine: WallTimeExceeded) */
} ipp_task_t;

/* A graph dependency: msg_ids (given directly, and/or every task of some
 * AsyncResults) with IPython Parallel's flags. Start from
 * IPP_DEPENDENCY_INIT, whose all/success are true. */
typedef struct ipp_dependency_t {
    const char *const *ids; /* msg_ids */
    size_t n_ids;           /* how many */
    ipp_ar_t *const *ars;   /* AsyncResults: each of their tasks */
    size_t n_ars;           /* how many */
    bool all;               /* every one must be met (else any one) */
    bool success;           /* a success meets it */
    bool failure;           /* a failure meets it */
} ipp_dependency_t;

#define IPP_DEPENDENCY_INIT                                                                        \
    {                                                                                              \
        NULL, 0, NULL, 0, true, true, false                                                        \
    }

/* Bits of ipp_flags_t.set: which fields are given. */
enum {
    IPP_FLAG_AFTER = 1 << 0,    /* after */
    IPP_FLAG_FOLLOW = 1 << 1,   /* follow */
    IPP_FLAG_TIMEOUT = 1 << 2,  /* timeout */
    IPP_FLAG_RETRIES = 1 << 3,  /* retries */
    IPP_FLAG_LABEL = 1 << 4,    /* label */
    IPP_FLAG_TARGETS = 1 << 5,  /* targets */
    IPP_FLAG_REQUIRES = 1 << 6, /* requires */
};

/* Flags of a call or a view. Only the fields whose bit is in `set` count:
 *     ipp_flags_t f = {.set = IPP_FLAG_LABEL | IPP_FLAG_RETRIES,
 *                      .label = "nightly", .retries = 2};
 * A field set to "nothing" (NULL label, no ids, timeout 0, no targets)
 * clears the view's value for that call. On a DirectView only label is
 * allowed (the others are the scheduler's: IPP_ERR_INVALID). */
typedef struct ipp_flags_t {
    unsigned set;                   /* IPP_FLAG_* bits of the fields given */
    const ipp_dependency_t *after;  /* run only after these finished (NULL = none) */
    const ipp_dependency_t *follow; /* run only where these ran (NULL = none) */
    double timeout;                 /* fail with DependencyTimeout if dependencies are not
                                         met within this many seconds; 0 = no limit */
    int retries;                    /* further attempts after a failure, 0 to
                                         IPP_RETRIES_MAX (ipp/limits.h) */
    const char *label;              /* a name to find the task by later */
    const int *targets;             /* engines the scheduler may use (n_targets of them) */
    size_t n_targets;               /* 0 = any */
    const char *const *requires;    /* "fn:NAME", "cmd:PROGRAM", "tag:T" */
    size_t n_requires;              /* how many */
} ipp_flags_t;

/* ipp_client_direct_view: a DirectView on targets[0..n_targets) (engine
 * ids, copied); targets NULL means "all": the engines registered at each
 * call. IPP_ERR_INVALID for an id the client does not know or a repeated
 * one. Caller owns the result (ipp_view_destroy); it may outlive the
 * client, after which its calls fail with IPP_ERR_CLOSED. */
ipp_view_t *ipp_client_direct_view(ipp_client_t *client, const int *targets, size_t n_targets,
                                   ipp_error_t *err);

/* ipp_client_lb_view: a LoadBalancedView (no flags). Caller owns it. */
ipp_view_t *ipp_client_lb_view(ipp_client_t *client, ipp_error_t *err);

/* ipp_view_destroy: free *view_p (NULL-safe), set it to NULL. AsyncResults
 * made through it live on. */
void ipp_view_destroy(ipp_view_t **view_p);

/* ipp_view_is_direct: true for a DirectView. */
bool ipp_view_is_direct(const ipp_view_t *view);

/* ipp_view_targets: the engines a DirectView sends to now ("all" resolved),
 * or a LoadBalancedView's targets flag; written to out (up to max); returns
 * how many there are. */
size_t ipp_view_targets(const ipp_view_t *view, int *out, size_t max);

/* ipp_view_set_flags: set the view's flags named in flags->set (copied;
 * dependencies on AsyncResults are turned into their msg_ids now).
 * IPP_ERR_INVALID for scheduler flags on a DirectView. */
ipp_err_t ipp_view_set_flags(ipp_view_t *view, const ipp_flags_t *flags, ipp_error_t *err);

/* ipp_view_apply: call function(args…) — on every target of a DirectView
 * (one task each, in target order), on one engine of the scheduler's
 * choosing for a LoadBalancedView. Takes ownership of args with a free_fn
 * whatever happens. Caller owns the result. */
ipp_ar_t *ipp_view_apply(ipp_view_t *view, const char *function, const ipp_buf_t *args,
                         size_t n_args, const ipp_flags_t *flags, ipp_error_t *err);

/* ipp_view_execute: run `/bin/sh -c shell` as apply runs a call (shell is
 * copied). Caller owns the result. */
ipp_ar_t *ipp_view_execute(ipp_view_t *view, const char *shell, const ipp_flags_t *flags,
                           ipp_error_t *err);

/* ipp_view_run: run the program argv[0] with argv (NULL-terminated) as
 * apply runs a call. Caller owns the result. */
ipp_ar_t *ipp_view_run(ipp_view_t *view, const char *const *argv, const ipp_flags_t *flags,
                       ipp_error_t *err);

/* ipp_view_submit: task (any kind, with env, cwd, stdin, wall limit) as
 * apply runs a call. Takes ownership of task->args with a free_fn
 * whatever happens. Caller owns the result. */
ipp_ar_t *ipp_view_submit(ipp_view_t *view, const ipp_task_t *task, const ipp_flags_t *flags,
                          ipp_error_t *err);

/* ipp_view_map: one call task per item: function(items[i*k .. i*k+k))
 * where k = args_per_item (>= 1) and there are n_items items (so items
 * holds n_items*k buffers). A DirectView splits the items over its targets
 * in contiguous, nearly equal chunks (ipp_partition: item i runs on the
 * engine whose chunk holds it); a LoadBalancedView schedules each. Results
 * are in item order. Takes ownership of buffers with a free_fn whatever
 * happens. Caller owns the result. */
ipp_ar_t *ipp_view_map(ipp_view_t *view, const char *function, const ipp_buf_t *items,
                       size_t n_items, size_t args_per_item, const ipp_flags_t *flags,
                       ipp_error_t *err);

/* ipp_view_map_tasks: map over task descriptions: one task per tasks[i]
 * (commands too), placed as ipp_view_map places items. Takes ownership of
 * every task's handed-over args whatever happens. Caller owns the result. */
ipp_ar_t *ipp_view_map_tasks(ipp_view_t *view, const ipp_task_t *tasks, size_t n,
                             const ipp_flags_t *flags, ipp_error_t *err);

/* ipp_view_push: DirectView only: on every target set keys[i] to
 * values[i] (i < n) in the engine's namespace. Takes ownership of values
 * with a free_fn whatever happens. Caller owns the result. */
ipp_ar_t *ipp_view_push(ipp_view_t *view, const char *const *keys, const ipp_buf_t *values,
                        size_t n, const ipp_flags_t *flags, ipp_error_t *err);

/* ipp_view_pull: DirectView only: fetch keys[0..n) from every target;
 * task j's result buffers are target j's values, in key order. Caller owns
 * the result. */
ipp_ar_t *ipp_view_pull(ipp_view_t *view, const char *const *keys, size_t n,
                        const ipp_flags_t *flags, ipp_error_t *err);

/* ipp_view_clear_namespace: DirectView only: remove every key on every
 * target. Caller owns the result. */
ipp_ar_t *ipp_view_clear_namespace(ipp_view_t *view, const ipp_flags_t *flags, ipp_error_t *err);

/* ipp_view_scatter: DirectView only: split items[0..n_items) into one
 * contiguous, nearly equal part per target (ipp_partition; the first
 * n_items % n_targets parts get one more) and push part j to target j
 * under key, as the concatenation of the part's bytes (item boundaries
 * are not kept: use fixed-size items to split arrays). One push task per
 * target, also for an empty part. Takes ownership of items with a free_fn
 * whatever happens (their bytes are copied into the parts, and released
 * before the call returns). Caller owns the result. */
ipp_ar_t *ipp_view_scatter(ipp_view_t *view, const char *key, const ipp_buf_t *items,
                           size_t n_items, const ipp_flags_t *flags, ipp_error_t *err);

/* ipp_view_gather: DirectView only: pull key from every target, in target
 * order; ipp_ar_concat on the result gives the parts concatenated — the
 * inverse of scatter. Caller owns the result. */
ipp_ar_t *ipp_view_gather(ipp_view_t *view, const char *key, const ipp_flags_t *flags,
                          ipp_error_t *err);

/* ipp_partition: part p (0 <= p < parts) of n items split into `parts`
 * contiguous, nearly equal parts: items [*lo, *hi). The first n % parts
 * parts hold n / parts + 1 items, the others n / parts. parts 0 or p out of
 * range gives an empty range. Pure. */
void ipp_partition(size_t n, size_t parts, size_t p, size_t *lo, size_t *hi);

#ifdef __cplusplus
}
#endif
#endif
