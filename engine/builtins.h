/* builtins.h — the functions every engine has: noop, echo, sleep,
 * getpid, hostname, fail, env.
 *
 * They are written against ipp/plugin.h like any plugin, so they also
 * serve as the reference for how a function uses its context.
 */
#ifndef IPP_ENGINE_BUILTINS_H
#define IPP_ENGINE_BUILTINS_H

#include "engine/functions.h"
#include "ipp/error.h"

// eng_builtins_register: add the built-ins to functions (origin
// "builtin"). Fails (with err) if one of the names is already taken.
ipp_err_t eng_builtins_register(eng_functions_t *functions, ipp_error_t *err);

#endif
