/* requires.h — functional dependencies: does this engine have what a task
 * requires?
 *
 * A task may require `fn:NAME` (a registered call function), `cmd:PROGRAM`
 * (an executable on PATH, or a path naming an executable file) or `tag:T`
 * (the engine was started with --tag T). The engine answers a task whose
 * requirements are not all met with UnmetDependency listing the missing
 * ones, and the scheduler tries another engine.
 */
#ifndef IPP_ENGINE_REQUIRES_H
#define IPP_ENGINE_REQUIRES_H

#include "engine/functions.h"
#include "ipp/error.h"

#include <stddef.h>

// What the engine has.
typedef struct eng_requires_env_t {
    const eng_functions_t *functions;  // registered functions; NULL = none
    const char *const *tags;           // the engine's --tag values
    size_t ntags;                      // how many
    const char *path;                  // search path for cmd:; NULL = $PATH
} eng_requires_env_t;

// Requirements not met, in the order given. Embedded (init/fini); owns
// its strings.
typedef struct eng_missing_t {
    char **items;    // each requirement as given ("cmd:foo"), owned
    char **reasons;  // why it is missing, parallel to items, owned
    size_t count;    // how many are missing
    size_t cap;      // entries allocated
} eng_missing_t;

// eng_missing_init: an empty list.
void eng_missing_init(eng_missing_t *self);

// eng_missing_fini: free the list and re-init it. NULL-safe.
void eng_missing_fini(eng_missing_t *self);

// eng_requires_check: check requires[0..n) against env and append each
// unmet one to missing (which the caller initialised) with a reason. An
// unknown kind, an empty name or a NULL entry is unmet too. Returns IPP_OK
// when the check ran (missing->count == 0: all met), IPP_ERR_NOMEM.
ipp_err_t eng_requires_check(const char *const *requires, size_t n, const eng_requires_env_t *env,
                             eng_missing_t *missing);

// eng_requires_find_program: whether program names an executable regular
// file: directly when it contains a '/', else by searching path (NULL =
// $PATH, unset = the system default path). When found and out is not NULL,
// out receives the full path (truncated to size).
bool eng_requires_find_program(const char *program, const char *path, char *out, size_t size);

#endif
