/* functions.h — the registry of call functions and the way to call one.
 *
 * A call task names a function registered here (a built-in or a plugin's)
 * and passes argument buffers; eng_functions_call runs it synchronously on
 * the calling thread and fills an eng_result_t. The registry owns the names;
 * the functions' code and userdata belong to whoever registered them (the
 * built-ins, or a plugin that must stay loaded while its functions are
 * registered — eng_plugin_destroy removes them first).
 */
#ifndef IPP_ENGINE_FUNCTIONS_H
#define IPP_ENGINE_FUNCTIONS_H

#include "engine/namespace.h"
#include "engine/result.h"
#include "ipp/error.h"
#include "ipp/plugin.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct eng_functions_t eng_functions_t;

// Longest function name accepted.
#define ENG_FUNCTION_NAME_MAX 255

// eng_functions_new: an empty registry (no built-ins); caller owns it.
// NULL when out of memory.
eng_functions_t *eng_functions_new(void);

// eng_functions_destroy: free the registry; sets *self_p = NULL. NULL-safe.
// Unload plugins first or their fini runs after the names are gone (harmless).
void eng_functions_destroy(eng_functions_t **self_p);

// eng_functions_add: register fn as name. owner tags the entry so a
// plugin can remove all of its functions; origin ("builtin", a plugin path)
// is copied for messages. IPP_ERR_INVALID (bad name: empty, longer than
// ENG_FUNCTION_NAME_MAX, control characters or spaces; or already
// registered, with err naming the earlier origin), IPP_ERR_NOMEM.
ipp_err_t eng_functions_add(eng_functions_t *self, const char *name, ipp_call_fn_t fn,
                            void *userdata, const void *owner, const char *origin,
                            ipp_error_t *err);

// eng_functions_remove_owner: drop every function registered with owner;
// returns how many.
size_t eng_functions_remove_owner(eng_functions_t *self, const void *owner);

// eng_functions_has: whether name is registered.
bool eng_functions_has(const eng_functions_t *self, const char *name);

// eng_functions_count: how many functions are registered.
size_t eng_functions_count(const eng_functions_t *self);

// eng_functions_name: the i-th registered name in registration order
// (borrowed, valid until the registry changes); NULL past the end. This is
// the list the engine reports at registration.
const char *eng_functions_name(const eng_functions_t *self, size_t i);

// eng_functions_origin: where name came from ("builtin" or a plugin path),
// borrowed; NULL when not registered.
const char *eng_functions_origin(const eng_functions_t *self, const char *name);

// Options of one call.
typedef struct eng_call_opts_t {
    eng_namespace_t *ns;       // the namespace the function may use; NULL = none
    const atomic_int *cancel;  // set to IPP_CALL_CANCEL_ABORT (or any non-zero
                               // value) to abort, IPP_CALL_CANCEL_WALL_TIME when
                               // the wall-time limit passed; NULL = never
    size_t stdout_limit;       // bound on stdout and on stderr; 0 = 1 MiB
    uint64_t seq;              // the task's number (ipp_call_seq); 0 = none
} eng_call_opts_t;

// eng_functions_has_ahead: whether name has a send-ahead hook
// (ipp_plugin_set_ahead).
bool eng_functions_has_ahead(const eng_functions_t *self, const char *name);

// eng_functions_ahead: hand the task numbered opts->seq to name's
// send-ahead hook (args borrowed for the call; opts->cancel may say it is
// already cancelled). Nothing is produced; the task must later go through
// eng_functions_call with the same seq and args. IPP_ERR_NOT_FOUND when
// name has no hook.
ipp_err_t eng_functions_ahead(const eng_functions_t *self, const char *name, const eng_span_t *args,
                              size_t nargs, const eng_call_opts_t *opts);

// eng_functions_call: run name(args) now, on this thread, and fill res
// (which the caller initialised): started/completed, stdout, stderr,
// result buffers and summary, and on failure status ERROR with the
// function's ename/evalue/traceback (result buffers and summary dropped),
// or ABORTED/"TaskAborted" (ERROR/"WallTimeExceeded" for
// IPP_CALL_CANCEL_WALL_TIME) when opts->cancel was set by the time it
// returned — keeping the function's evalue and traceback if it failed
// with that same ename. An unknown name fills res with "NameError"
// and returns IPP_ERR_NOT_FOUND. args are borrowed for the call. opts may
// be NULL. Returns IPP_OK when the function ran, whatever its outcome.
// A long function blocks the calling thread; it may run on a worker thread
// as long as no other thread changes the registry or touches opts->ns
// meanwhile (abort it through opts->cancel).
ipp_err_t eng_functions_call(const eng_functions_t *self, const char *name, const eng_span_t *args,
                             size_t nargs, const eng_call_opts_t *opts, eng_result_t *res);

// A registration in progress: what a plugin's ipp_plugin_init receives.
// Embedded (init only, nothing to free); `pub` must stay first.
typedef struct eng_registration_t {
    ipp_plugin_registry_t pub;   // what the plugin sees
    eng_functions_t *functions;  // where names go, borrowed
    const void *owner;           // tag for the entries, borrowed
    const char *origin;          // "builtin" or the plugin path, borrowed
    ipp_error_t err;             // first failure, IPP_OK when none
    size_t added;                // functions registered so far
    ipp_plugin_fini_fn_t fini;   // cleanup the plugin asked for, or NULL
    void *fini_state;            // its argument, owned by the plugin
} eng_registration_t;

// eng_registration_init: prepare reg to register into functions with
// owner and origin (both borrowed for reg's lifetime).
void eng_registration_init(eng_registration_t *reg, eng_functions_t *functions, const void *owner,
                           const char *origin);

#endif
