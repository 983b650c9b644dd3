/* plugin.c — eng_plugin_t: dlopen a plugin and run its entry point.
 *
 * Owns the dlopen handle and a copy of the path. Must never leave a
 * function registered whose code could be unloaded: every failure path
 * removes what the plugin registered before dlclose.
 */
#include "engine/plugin.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

struct eng_plugin_t {
    char *path;                  // where it was loaded from, owned
    void *handle;                // dlopen handle, owned
    eng_functions_t *functions;  // registry it registered into, borrowed
    size_t count;                // functions it registered
    ipp_plugin_fini_fn_t fini;   // its cleanup, or NULL
    void *fini_state;            // owned by the plugin
    const ipp_logger_t *lg;      // borrowed, may be NULL
};

void eng_plugin_destroy(eng_plugin_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    eng_plugin_t *self = *self_p;
    if (self->functions)
        eng_functions_remove_owner(self->functions, self);
    if (self->fini)
        self->fini(self->fini_state);
    if (self->handle && dlclose(self->handle) != 0)
        IPP_LOGW(self->lg, "plugin %s: dlclose: %s", self->path, dlerror());
    free(self->path);
    free(self);
    *self_p = NULL;
}

eng_plugin_t *eng_plugin_load(const char *path, eng_functions_t *functions, const ipp_logger_t *lg,
                              ipp_error_t *err)
{
    if (!path || !*path || !functions) {
        ipp_error_set(err, IPP_ERR_INVALID, "plugin: no path given");
        return NULL;
    }
    eng_plugin_t *self = calloc(1, sizeof *self);
    if (!self || !(self->path = strdup(path))) {
        free(self);
        ipp_error_set(err, IPP_ERR_NOMEM, "plugin %s: out of memory", path);
        return NULL;
    }
    self->lg = lg;

    dlerror();
    self->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!self->handle) {
        const char *why = dlerror();
        ipp_error_set(err, IPP_ERR_IO, "plugin %s: cannot load: %s", path,
                      why ? why : "unknown error");
        goto fail;
    }
    // dlsym returns an object pointer; copying its bits into a function
    // pointer avoids a conversion ISO C leaves undefined.
    void *sym = dlsym(self->handle, IPP_PLUGIN_INIT_SYMBOL);
    if (!sym) {
        ipp_error_set(err, IPP_ERR_NOT_FOUND,
                      "plugin %s: no entry point %s() (is it an ipp plugin?)", path,
                      IPP_PLUGIN_INIT_SYMBOL);
        goto fail;
    }
    ipp_plugin_init_fn_t init;
    memcpy(&init, &sym, sizeof init);

    eng_registration_t reg;
    eng_registration_init(&reg, functions, self, self->path);
    self->functions = functions;
    int rc = init(&reg.pub);
    self->fini = reg.fini;
    self->fini_state = reg.fini_state;
    if (reg.err.code != IPP_OK) {
        ipp_error_set(err, reg.err.code, "plugin %s: %s() failed: %s", path, IPP_PLUGIN_INIT_SYMBOL,
                      reg.err.msg);
        goto fail;
    }
    if (rc != 0) {
        ipp_error_set(err, IPP_ERR_INVALID, "plugin %s: %s() failed (returned %d)", path,
                      IPP_PLUGIN_INIT_SYMBOL, rc);
        goto fail;
    }
    self->count = reg.added;
    IPP_LOGI(lg, "plugin %s: %zu functions registered", path, self->count);
    return self;
fail:
    eng_plugin_destroy(&self);
    return NULL;
}

const char *eng_plugin_path(const eng_plugin_t *self)
{
    return self->path;
}

size_t eng_plugin_count(const eng_plugin_t *self)
{
    return self->count;
}
