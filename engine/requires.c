/* requires.c — checking a task's functional dependencies.
 *
 * Owns only the missing list it fills. Reads the file system (stat) and
 * the environment; never runs anything and never changes engine state.
 */
#include "engine/requires.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void eng_missing_init(eng_missing_t *self)
{
    memset(self, 0, sizeof *self);
}

void eng_missing_fini(eng_missing_t *self)
{
    if (!self)
        return;
    for (size_t i = 0; i < self->count; i++) {
        free(self->items[i]);
        free(self->reasons[i]);
    }
    free(self->items);
    free(self->reasons);
    eng_missing_init(self);
}

__attribute__((format(printf, 3, 4))) static ipp_err_t
s_missing_add(eng_missing_t *self, const char *item, const char *fmt, ...)
{
    if (self->count == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 4;
        char **items = realloc(self->items, cap * sizeof *items);
        if (!items)
            return IPP_ERR_NOMEM;
        self->items = items;
        char **reasons = realloc(self->reasons, cap * sizeof *reasons);
        if (!reasons)
            return IPP_ERR_NOMEM;
        self->reasons = reasons;
        self->cap = cap;
    }
    char *reason = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&reason, fmt, ap);
    va_end(ap);
    char *copy = strdup(item);
    if (n < 0 || !copy) {
        if (n >= 0)
            free(reason);
        free(copy);
        return IPP_ERR_NOMEM;
    }
    self->items[self->count] = copy;
    self->reasons[self->count] = reason;
    self->count++;
    return IPP_OK;
}

// s_is_executable: a regular file we may execute.
static bool s_is_executable(const char *file)
{
    struct stat st;
    return stat(file, &st) == 0 && S_ISREG(st.st_mode) && access(file, X_OK) == 0;
}

bool eng_requires_find_program(const char *program, const char *path, char *out, size_t size)
{
    if (!program || !*program)
        return false;
    if (strchr(program, '/')) {
        if (!s_is_executable(program))
            return false;
        if (out && size)
            snprintf(out, size, "%s", program);
        return true;
    }
    if (!path)
        path = getenv("PATH");
    if (!path)
        path = "/usr/local/bin:/usr/bin:/bin";
    const char *p = path;
    for (;;) {
        const char *colon = strchr(p, ':');
        size_t dlen = colon ? (size_t)(colon - p) : strlen(p);
        char file[PATH_MAX];
        // an empty entry means the current directory, as in execvp
        int n = dlen ? snprintf(file, sizeof file, "%.*s/%s", (int)dlen, p, program)
                     : snprintf(file, sizeof file, "./%s", program);
        if (n > 0 && (size_t)n < sizeof file && s_is_executable(file)) {
            if (out && size)
                snprintf(out, size, "%s", file);
            return true;
        }
        if (!colon)
            return false;
        p = colon + 1;
    }
}

// s_check_one: append req to missing if env lacks it.
static ipp_err_t s_check_one(const char *req, const eng_requires_env_t *env, eng_missing_t *missing)
{
    if (!req)
        return s_missing_add(missing, "", "empty requirement");
    const char *colon = strchr(req, ':');
    if (!colon)
        return s_missing_add(missing, req,
                             "requirement '%s' has no kind (expected fn:NAME, "
                             "cmd:PROGRAM or tag:T)",
                             req);
    size_t klen = (size_t)(colon - req);
    const char *name = colon + 1;
    if (klen == 2 && strncmp(req, "fn", 2) == 0) {
        if (!*name)
            return s_missing_add(missing, req, "fn: requirement names no function");
        if (env && env->functions && eng_functions_has(env->functions, name))
            return IPP_OK;
        return s_missing_add(missing, req, "no function '%s' is registered", name);
    }
    if (klen == 3 && strncmp(req, "cmd", 3) == 0) {
        if (!*name)
            return s_missing_add(missing, req, "cmd: requirement names no program");
        if (eng_requires_find_program(name, env ? env->path : NULL, NULL, 0))
            return IPP_OK;
        if (strchr(name, '/'))
            return s_missing_add(missing, req, "'%s' is not an executable file", name);
        return s_missing_add(missing, req, "program '%s' not found on PATH", name);
    }
    if (klen == 3 && strncmp(req, "tag", 3) == 0) {
        if (!*name)
            return s_missing_add(missing, req, "tag: requirement names no tag");
        for (size_t i = 0; env && i < env->ntags; i++)
            if (env->tags[i] && strcmp(env->tags[i], name) == 0)
                return IPP_OK;
        return s_missing_add(missing, req, "engine has no tag '%s'", name);
    }
    return s_missing_add(missing, req,
                         "unknown requirement kind '%.*s' (expected fn:, cmd: or tag:)", (int)klen,
                         req);
}

ipp_err_t eng_requires_check(const char *const *requires, size_t n, const eng_requires_env_t *env,
                             eng_missing_t *missing)
{
    for (size_t i = 0; i < n; i++) {
        ipp_err_t rc = s_check_one(requires ? requires[i] : NULL, env, missing);
        if (rc != IPP_OK)
            return rc;
    }
    return IPP_OK;
}
