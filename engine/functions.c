/* functions.c — eng_functions_t, the call-function registry, and the call
 * context behind ipp/plugin.h.
 *
 * Owns the names and origins of registered functions; never their code or
 * userdata. A call runs the function synchronously with a context on the
 * stack: arguments are borrowed, everything the function produces lands in
 * the caller's eng_result_t. Must never let a function's failure escape as
 * anything but a result: no aborts, no exits, no logging per call.
 */
#include "engine/functions.h"

#include "engine/capture.h"
#include "proto/clock.h"
#include "proto/grow.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct s_fn_t {
    char *name;           // registered name, owned
    char *origin;         // "builtin" or plugin path, owned
    ipp_call_fn_t fn;     // the code, owned by origin
    ipp_call_fn_t ahead;  // its send-ahead hook, or NULL
    void *userdata;       // its argument, owned by origin
    const void *owner;    // tag for removal, borrowed
} s_fn_t;

struct eng_functions_t {
    s_fn_t *fns;   // registered functions in registration order, owned
    size_t count;  // entries used
    size_t cap;    // entries allocated
};

// The context of one call; pub must stay first (plugins hold &pub).
typedef struct s_ctx_t {
    ipp_call_ctx_t pub;        // what the function sees
    const eng_span_t *args;    // argument buffers, borrowed
    size_t nargs;              // how many
    eng_result_t *res;         // where results go, borrowed
    eng_capture_t out;         // the task's stdout
    eng_capture_t err;         // the task's stderr
    eng_namespace_t *ns;       // the engine namespace, borrowed, may be NULL
    const atomic_int *cancel;  // abort flag, borrowed, may be NULL
    uint64_t seq;              // the task's number, 0 = none
    int64_t started;           // start reported by the function; 0 = none
    bool failed;               // the function set an error
    bool nomem;                // something it asked for could not be stored
} s_ctx_t;

eng_functions_t *eng_functions_new(void)
{
    return calloc(1, sizeof(eng_functions_t));
}

void eng_functions_destroy(eng_functions_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    eng_functions_t *self = *self_p;
    for (size_t i = 0; i < self->count; i++) {
        free(self->fns[i].name);
        free(self->fns[i].origin);
    }
    free(self->fns);
    free(self);
    *self_p = NULL;
}

static const s_fn_t *s_lookup(const eng_functions_t *self, const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < self->count; i++)
        if (strcmp(self->fns[i].name, name) == 0)
            return &self->fns[i];
    return NULL;
}

// s_name_ok: non-empty, bounded, printable ASCII without spaces.
static bool s_name_ok(const char *name)
{
    if (!name || !*name)
        return false;
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++, n++)
        if (*p <= 0x20 || *p >= 0x7f || n >= ENG_FUNCTION_NAME_MAX)
            return false;
    return true;
}

ipp_err_t eng_functions_add(eng_functions_t *self, const char *name, ipp_call_fn_t fn,
                            void *userdata, const void *owner, const char *origin, ipp_error_t *err)
{
    if (!s_name_ok(name))
        return ipp_error_set(err, IPP_ERR_INVALID,
                             "invalid function name '%.64s' (want 1-%d printable "
                             "characters, no spaces)",
                             name ? name : "(null)", ENG_FUNCTION_NAME_MAX);
    if (!fn)
        return ipp_error_set(err, IPP_ERR_INVALID, "function '%s' has no code", name);
    const s_fn_t *dup = s_lookup(self, name);
    if (dup)
        return ipp_error_set(err, IPP_ERR_INVALID, "function '%s' is already registered (by %s)",
                             name, dup->origin);
    if (IPP_GROW(self->fns, self->cap, self->count + 1, 16) != 0)
        return ipp_error_set(err, IPP_ERR_NOMEM, "out of memory registering '%s'", name);
    s_fn_t entry = {.fn = fn, .userdata = userdata, .owner = owner};
    entry.name = strdup(name);
    entry.origin = strdup(origin ? origin : "unknown");
    if (!entry.name || !entry.origin) {
        free(entry.name);
        free(entry.origin);
        return ipp_error_set(err, IPP_ERR_NOMEM, "out of memory registering '%s'", name);
    }
    self->fns[self->count++] = entry;
    return IPP_OK;
}

size_t eng_functions_remove_owner(eng_functions_t *self, const void *owner)
{
    size_t kept = 0, removed = 0;
    for (size_t i = 0; i < self->count; i++) {
        if (self->fns[i].owner == owner) {
            free(self->fns[i].name);
            free(self->fns[i].origin);
            removed++;
        } else {
            self->fns[kept++] = self->fns[i];
        }
    }
    // no stale copies past the end: they would hide a plugin's leaks
    memset(self->fns + kept, 0, (self->count - kept) * sizeof *self->fns);
    self->count = kept;
    return removed;
}

bool eng_functions_has(const eng_functions_t *self, const char *name)
{
    return s_lookup(self, name) != NULL;
}

size_t eng_functions_count(const eng_functions_t *self)
{
    return self->count;
}

const char *eng_functions_name(const eng_functions_t *self, size_t i)
{
    return i < self->count ? self->fns[i].name : NULL;
}

const char *eng_functions_origin(const eng_functions_t *self, const char *name)
{
    const s_fn_t *f = s_lookup(self, name);
    return f ? f->origin : NULL;
}

// ------------------------------------------------------ the plugin table

static int s_register(ipp_plugin_registry_t *pub, const char *name, ipp_call_fn_t fn,
                      void *userdata)
{
    eng_registration_t *reg = (eng_registration_t *)pub;
    ipp_error_t err;
    ipp_error_clear(&err);
    if (eng_functions_add(reg->functions, name, fn, userdata, reg->owner, reg->origin, &err) !=
        IPP_OK) {
        if (reg->err.code == IPP_OK)
            reg->err = err;
        return -1;
    }
    reg->added++;
    return 0;
}

static void s_set_fini(ipp_plugin_registry_t *pub, ipp_plugin_fini_fn_t fini, void *state)
{
    eng_registration_t *reg = (eng_registration_t *)pub;
    reg->fini = fini;
    reg->fini_state = state;
}

static int s_set_ahead(ipp_plugin_registry_t *pub, const char *name, ipp_call_fn_t ahead)
{
    eng_registration_t *reg = (eng_registration_t *)pub;
    s_fn_t *f = (s_fn_t *)s_lookup(reg->functions, name);
    if (!f || f->owner != reg->owner || !ahead)
        return -1;
    f->ahead = ahead;
    return 0;
}

static size_t s_nargs(const ipp_call_ctx_t *pub)
{
    return ((const s_ctx_t *)pub)->nargs;
}

static const void *s_arg(const ipp_call_ctx_t *pub, size_t i, size_t *len)
{
    const s_ctx_t *ctx = (const s_ctx_t *)pub;
    if (i >= ctx->nargs) {
        if (len)
            *len = 0;
        return NULL;
    }
    if (len)
        *len = ctx->args[i].len;
    // a zero-length argument is still "present": hand out a valid pointer
    return ctx->args[i].data ? ctx->args[i].data : (const void *)"";
}

static int s_append_result(ipp_call_ctx_t *pub, const void *data, size_t len)
{
    s_ctx_t *ctx = (s_ctx_t *)pub;
    if (len && !data)
        return -1;
    if (eng_result_add_buffer(ctx->res, data, len) != IPP_OK) {
        ctx->nomem = true;
        return -1;
    }
    return 0;
}

static int s_write_stdout(ipp_call_ctx_t *pub, const void *data, size_t len)
{
    s_ctx_t *ctx = (s_ctx_t *)pub;
    if (len && !data)
        return -1;
    if (eng_capture_append(&ctx->out, data, len) != IPP_OK) {
        ctx->nomem = true;
        return -1;
    }
    return 0;
}

__attribute__((format(printf, 2, 0))) static int s_vprint(ipp_call_ctx_t *pub, const char *fmt,
                                                          va_list ap)
{
    s_ctx_t *ctx = (s_ctx_t *)pub;
    ipp_err_t rc = eng_capture_vprintf(&ctx->out, fmt, ap);
    if (rc == IPP_ERR_NOMEM)
        ctx->nomem = true;
    return rc == IPP_OK ? 0 : -1;
}

__attribute__((format(printf, 3, 0))) static int s_verror(ipp_call_ctx_t *pub, const char *ename,
                                                          const char *fmt, va_list ap)
{
    s_ctx_t *ctx = (s_ctx_t *)pub;
    if (ctx->failed)
        return 0;
    ctx->failed = true;
    eng_result_t *res = ctx->res;
    res->status = ENG_STATUS_ERROR;
    snprintf(res->ename, sizeof res->ename, "%s", ename && *ename ? ename : "Error");
    free(res->evalue);
    res->evalue = NULL;
    if (vasprintf(&res->evalue, fmt, ap) < 0)
        res->evalue = NULL;
    return 0;
}

static int s_write_stderr(ipp_call_ctx_t *pub, const void *data, size_t len)
{
    s_ctx_t *ctx = (s_ctx_t *)pub;
    if (len && !data)
        return -1;
    if (eng_capture_append(&ctx->err, data, len) != IPP_OK) {
        ctx->nomem = true;
        return -1;
    }
    return 0;
}

// s_dup_text: a NUL-terminated copy of text[0..len) into *dst (the old
// one freed). -1 when out of memory (dst unchanged).
static int s_dup_text(char **dst, const char *text, size_t len)
{
    char *copy = malloc(len + 1);
    if (!copy)
        return -1;
    if (len)
        memcpy(copy, text, len);
    copy[len] = '\0';
    free(*dst);
    *dst = copy;
    return 0;
}

static int s_set_traceback(ipp_call_ctx_t *pub, const char *text, size_t len)
{
    s_ctx_t *ctx = (s_ctx_t *)pub;
    if (len && !text)
        return -1;
    if (s_dup_text(&ctx->res->traceback, text, len) != 0) {
        ctx->nomem = true;
        return -1;
    }
    return 0;
}

// s_utf8_len: the length of the well-formed UTF-8 sequence at s[0..n),
// 0 when it is not one (overlong forms, surrogates, past U+10FFFF).
static size_t s_utf8_len(const unsigned char *s, size_t n)
{
    if (s[0] < 0x80)
        return 1;
    size_t len = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
    if (!len || s[0] > 0xf4 || len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f) ||
        (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
        return 0;
    return len;
}

static int s_set_summary(ipp_call_ctx_t *pub, const char *text, size_t len)
{
    s_ctx_t *ctx = (s_ctx_t *)pub;
    if (len && !text)
        return -1;
    // Cut at the last whole character that fits, leaving room for "…".
    static const char ellipsis[] = "\xe2\x80\xa6";
    const size_t room = IPP_CALL_SUMMARY_MAX - (sizeof ellipsis - 1);
    size_t keep = 0;
    for (size_t i = 0; i < len;) {
        size_t n = s_utf8_len((const unsigned char *)text + i, len - i);
        if (!n || memchr(text + i, '\0', n))
            return -1;
        if (i + n <= room)
            keep = i + n;
        i += n;
    }
    bool cut = len > IPP_CALL_SUMMARY_MAX;
    char *copy = malloc((cut ? keep : len) + sizeof ellipsis);
    if (!copy) {
        ctx->nomem = true;
        return -1;
    }
    size_t n = cut ? keep : len;
    if (n)
        memcpy(copy, text, n);
    if (cut)
        memcpy(copy + n, ellipsis, sizeof ellipsis);
    else
        copy[n] = '\0';
    free(ctx->res->summary);
    ctx->res->summary = copy;
    return 0;
}

static int s_ns_get(ipp_call_ctx_t *pub, const char *key, const void **data, size_t *len)
{
    s_ctx_t *ctx = (s_ctx_t *)pub;
    if (!ctx->ns)
        return -1;
    const void *d = NULL;
    size_t n = 0;
    if (eng_namespace_get(ctx->ns, key, &d, &n) != IPP_OK)
        return -1;
    if (data)
        *data = d ? d : (const void *)"";
    if (len)
        *len = n;
    return 0;
}

static int s_ns_set(ipp_call_ctx_t *pub, const char *key, const void *data, size_t len)
{
    s_ctx_t *ctx = (s_ctx_t *)pub;
    if (!ctx->ns || (len && !data))
        return -1;
    ipp_err_t rc = eng_namespace_set(ctx->ns, key, data, len);
    if (rc == IPP_ERR_NOMEM)
        ctx->nomem = true;
    return rc == IPP_OK ? 0 : -1;
}

static int s_ns_del(ipp_call_ctx_t *pub, const char *key)
{
    s_ctx_t *ctx = (s_ctx_t *)pub;
    return ctx->ns && eng_namespace_del(ctx->ns, key) ? 0 : -1;
}

static int s_cancelled(const ipp_call_ctx_t *pub)
{
    const s_ctx_t *ctx = (const s_ctx_t *)pub;
    int v = ctx->cancel ? atomic_load(ctx->cancel) : 0;
    return v == IPP_CALL_CANCEL_WALL_TIME ? v : v ? IPP_CALL_CANCEL_ABORT : 0;
}

static uint64_t s_call_seq(const ipp_call_ctx_t *pub)
{
    return ((const s_ctx_t *)pub)->seq;
}

static int s_set_started(ipp_call_ctx_t *pub, int64_t wall_us)
{
    s_ctx_t *ctx = (s_ctx_t *)pub;
    if (wall_us <= 0 || !ctx->res)
        return -1;
    ctx->started = wall_us;
    return 0;
}

static const ipp_plugin_api_t s_api = {
    .abi_version = IPP_PLUGIN_ABI_VERSION,
    .size = sizeof(ipp_plugin_api_t),
    .register_fn = s_register,
    .set_fini = s_set_fini,
    .nargs = s_nargs,
    .arg = s_arg,
    .append_result = s_append_result,
    .write_stdout = s_write_stdout,
    .vprint = s_vprint,
    .verror = s_verror,
    .ns_get = s_ns_get,
    .ns_set = s_ns_set,
    .ns_del = s_ns_del,
    .cancelled = s_cancelled,
    .write_stderr = s_write_stderr,
    .set_traceback = s_set_traceback,
    .set_summary = s_set_summary,
    .set_ahead = s_set_ahead,
    .call_seq = s_call_seq,
    .set_started = s_set_started,
};

void eng_registration_init(eng_registration_t *reg, eng_functions_t *functions, const void *owner,
                           const char *origin)
{
    memset(reg, 0, sizeof *reg);
    reg->pub.api = &s_api;
    reg->functions = functions;
    reg->owner = owner;
    reg->origin = origin;
    ipp_error_clear(&reg->err);
}

// ---------------------------------------------------------------- calls

ipp_err_t eng_functions_call(const eng_functions_t *self, const char *name, const eng_span_t *args,
                             size_t nargs, const eng_call_opts_t *opts, eng_result_t *res)
{
    res->started = ipp_clock_now_us();
    const s_fn_t *f = s_lookup(self, name);
    if (!f) {
        eng_result_set_error(res, ENG_STATUS_ERROR, "NameError",
                             "no function named '%.200s' is registered on this engine",
                             name ? name : "(null)");
        res->completed = ipp_clock_now_us();
        return IPP_ERR_NOT_FOUND;
    }
    s_ctx_t ctx = {
        .pub = {.api = &s_api},
        .args = args,
        .nargs = args ? nargs : 0,
        .res = res,
        .ns = opts ? opts->ns : NULL,
        .cancel = opts ? opts->cancel : NULL,
        .seq = opts ? opts->seq : 0,
    };
    eng_capture_init(&ctx.out, opts ? opts->stdout_limit : 0);
    eng_capture_init(&ctx.err, opts ? opts->stdout_limit : 0);

    f->fn(&ctx.pub, f->userdata);

    int why = s_cancelled(&ctx.pub);
    if (why) {
        // The function's own account of the stop is kept when it gave one.
        const char *ename = why == IPP_CALL_CANCEL_WALL_TIME ? "WallTimeExceeded" : "TaskAborted";
        eng_result_drop_buffers(res);
        free(res->summary);
        res->summary = NULL;
        if (!ctx.failed || strcmp(res->ename, ename) != 0) {
            free(res->traceback);
            res->traceback = NULL;
            if (why == IPP_CALL_CANCEL_WALL_TIME)
                eng_result_set_error(res, ENG_STATUS_ERROR, ename,
                                     "call to '%s' exceeded its wall-time limit", f->name);
            else
                eng_result_set_error(res, ENG_STATUS_ABORTED, ename, "call to '%s' aborted",
                                     f->name);
        }
        res->status = why == IPP_CALL_CANCEL_WALL_TIME ? ENG_STATUS_ERROR : ENG_STATUS_ABORTED;
    } else if (ctx.failed) {
        eng_result_drop_buffers(res);
        free(res->summary);
        res->summary = NULL;
    } else if (ctx.nomem) {
        eng_result_drop_buffers(res);
        free(res->summary);
        res->summary = NULL;
        eng_result_set_error(res, ENG_STATUS_ERROR, "MemoryError",
                             "engine out of memory during call to '%s'", f->name);
    }
    if (res->status == ENG_STATUS_OK) {
        free(res->traceback);
        res->traceback = NULL;
    }
    free(res->stdout_data.data);
    eng_capture_finish(&ctx.out, &res->stdout_data, &res->stdout_truncated);
    eng_capture_fini(&ctx.out);
    free(res->stderr_data.data);
    eng_capture_finish(&ctx.err, &res->stderr_data, &res->stderr_truncated);
    eng_capture_fini(&ctx.err);
    res->completed = ipp_clock_now_us();
    if (ctx.started > 0 && ctx.started <= res->completed)
        res->started = ctx.started;
    return IPP_OK;
}

bool eng_functions_has_ahead(const eng_functions_t *self, const char *name)
{
    const s_fn_t *f = s_lookup(self, name);
    return f && f->ahead;
}

ipp_err_t eng_functions_ahead(const eng_functions_t *self, const char *name, const eng_span_t *args,
                              size_t nargs, const eng_call_opts_t *opts)
{
    const s_fn_t *f = s_lookup(self, name);
    if (!f || !f->ahead)
        return IPP_ERR_NOT_FOUND;
    // No result, no namespace: only the arguments, the number and the
    // cancel flag are there (a write or an error lands nowhere).
    eng_result_t scratch;
    eng_result_init(&scratch);
    s_ctx_t ctx = {
        .pub = {.api = &s_api},
        .args = args,
        .nargs = args ? nargs : 0,
        .res = &scratch,
        .cancel = opts ? opts->cancel : NULL,
        .seq = opts ? opts->seq : 0,
    };
    eng_capture_init(&ctx.out, 1);
    eng_capture_init(&ctx.err, 1);
    f->ahead(&ctx.pub, f->userdata);
    eng_capture_fini(&ctx.out);
    eng_capture_fini(&ctx.err);
    eng_result_fini(&scratch);
    return IPP_OK;
}
