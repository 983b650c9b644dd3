/* plugin.h — one loaded plugin: a shared object that registered call
 * functions through ipp/plugin.h.
 *
 * Loading dlopens the file (RTLD_NOW | RTLD_LOCAL), finds ipp_plugin_init,
 * and lets it register into the engine's function registry. Destroying the
 * plugin removes its functions, runs its fini, and unloads it — so the
 * registry must outlive every plugin loaded into it.
 */
#ifndef IPP_ENGINE_PLUGIN_H
#define IPP_ENGINE_PLUGIN_H

#include "engine/functions.h"
#include "ipp/error.h"
#include "proto/log.h"

#include <stddef.h>

typedef struct eng_plugin_t eng_plugin_t;

// eng_plugin_load: load path and register its functions into functions
// (borrowed; must outlive the plugin). Caller owns the result. On failure
// returns NULL, nothing stays registered, and err names the file and the
// cause: cannot be loaded (dlerror text), no ipp_plugin_init, or init
// failed (with the registration error when there was one). lg may be NULL.
eng_plugin_t *eng_plugin_load(const char *path, eng_functions_t *functions, const ipp_logger_t *lg,
                              ipp_error_t *err);

// eng_plugin_destroy: remove the plugin's functions, run its fini, dlclose
// it; sets *self_p = NULL. NULL-safe.
void eng_plugin_destroy(eng_plugin_t **self_p);

// eng_plugin_path: the path it was loaded from (borrowed).
const char *eng_plugin_path(const eng_plugin_t *self);

// eng_plugin_count: how many functions it registered.
size_t eng_plugin_count(const eng_plugin_t *self);

#endif
