/* ipp/plugin.h — the interface between ipp-engine and the functions it runs.
 *
 * A plugin is a shared object loaded with `ipp-engine --plugin PATH.so`. It
 * exports one entry point, ipp_plugin_init(), which registers call functions
 * by name. A call task names one of them; the engine runs it in its own
 * process, one task at a time, with the task's argument buffers, and sends
 * back what the function appended as result buffers, what it printed to
 * stdout and stderr, the error it set (if any, with a traceback) and a
 * summary of its value.
 *
 * Every entry below reaches the engine through a table of function pointers
 * carried by the registry and context objects, so a plugin needs no symbols
 * from the engine binary and links against nothing of ipp. This header is
 * self-contained: it includes only the C standard library.
 *
 * A minimal plugin:
 *
 *     #include <ipp/plugin.h>
 *
 *     static void s_add(ipp_call_ctx_t *ctx, void *userdata)
 *     {
 *         size_t len;
 *         const char *a = ipp_call_arg(ctx, 0, &len);
 *         if (!a) {
 *             ipp_call_error(ctx, "ValueError", "add: need one argument");
 *             return;
 *         }
 *         ipp_call_printf(ctx, "got %zu bytes\n", len);
 *         ipp_call_return(ctx, a, len);
 *     }
 *
 *     int ipp_plugin_init(ipp_plugin_registry_t *reg)
 *     {
 *         return ipp_plugin_register(reg, "add", s_add, NULL);
 *     }
 *
 * Rules for functions: they run on the engine's thread (or a worker thread
 * the engine chooses) and block the engine's task slot while they run; long
 * ones should poll ipp_call_cancelled() and return when it says so. They must
 * not call exit(), must not keep ctx or any pointer obtained through it after
 * returning, and must not crash: a crash takes the engine down.
 */
#ifndef IPP_PLUGIN_H
#define IPP_PLUGIN_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI version of the table below. Raised only when an existing entry
 * changes meaning; new entries are appended and detected by the table size
 * (IPP_PLUGIN_API_HAS). */
#define IPP_PLUGIN_ABI_VERSION 1

/* The name of the entry point every plugin exports. */
#define IPP_PLUGIN_INIT_SYMBOL "ipp_plugin_init"

typedef struct ipp_plugin_api_t ipp_plugin_api_t;
typedef struct ipp_plugin_registry_t ipp_plugin_registry_t;
typedef struct ipp_call_ctx_t ipp_call_ctx_t;

/* A call function. ctx is valid only during the call; userdata is what was
 * given to ipp_plugin_register (owned by the plugin). */
typedef void (*ipp_call_fn_t)(ipp_call_ctx_t *ctx, void *userdata);

/* A plugin's cleanup, run once before the engine unloads it. */
typedef void (*ipp_plugin_fini_fn_t)(void *state);

/* The entry point: register functions through reg (valid only during the
 * call). Return 0 on success; anything else makes the engine refuse the
 * plugin, and every function it registered is removed again. */
typedef int (*ipp_plugin_init_fn_t)(ipp_plugin_registry_t *reg);
int ipp_plugin_init(ipp_plugin_registry_t *reg);

/* The engine's side, as seen by a plugin. Plugins call the inline wrappers
 * below rather than these pointers. All int results: 0 on success, -1 on
 * failure. */
struct ipp_plugin_api_t {
    uint32_t abi_version; /* IPP_PLUGIN_ABI_VERSION of the engine */
    uint32_t size;        /* sizeof(ipp_plugin_api_t) in the engine */
    int (*register_fn)(ipp_plugin_registry_t *reg, const char *name, ipp_call_fn_t fn,
                       void *userdata);
    void (*set_fini)(ipp_plugin_registry_t *reg, ipp_plugin_fini_fn_t fini, void *state);
    size_t (*nargs)(const ipp_call_ctx_t *ctx);
    const void *(*arg)(const ipp_call_ctx_t *ctx, size_t i, size_t *len);
    int (*append_result)(ipp_call_ctx_t *ctx, const void *data, size_t len);
    int (*write_stdout)(ipp_call_ctx_t *ctx, const void *data, size_t len);
    int (*vprint)(ipp_call_ctx_t *ctx, const char *fmt, va_list ap);
    int (*verror)(ipp_call_ctx_t *ctx, const char *ename, const char *fmt, va_list ap);
    int (*ns_get)(ipp_call_ctx_t *ctx, const char *key, const void **data, size_t *len);
    int (*ns_set)(ipp_call_ctx_t *ctx, const char *key, const void *data, size_t len);
    int (*ns_del)(ipp_call_ctx_t *ctx, const char *key);
    int (*cancelled)(const ipp_call_ctx_t *ctx);
    /* Appended after the first release; test with IPP_PLUGIN_API_HAS. */
    int (*write_stderr)(ipp_call_ctx_t *ctx, const void *data, size_t len);
    int (*set_traceback)(ipp_call_ctx_t *ctx, const char *text, size_t len);
    int (*set_summary)(ipp_call_ctx_t *ctx, const char *text, size_t len);
    /* Appended with send-ahead (see ipp_plugin_set_ahead). */
    int (*set_ahead)(ipp_plugin_registry_t *reg, const char *name, ipp_call_fn_t ahead);
    uint64_t (*call_seq)(const ipp_call_ctx_t *ctx);
    int (*set_started)(ipp_call_ctx_t *ctx, int64_t wall_us);
};

/* IPP_PLUGIN_API_HAS: whether the engine's table has entry `member` (an
 * older engine's table is shorter). The wrappers below check it, so a
 * plugin built against this header still loads into an older engine. */
#define IPP_PLUGIN_API_HAS(api, member)                                                            \
    ((api)->size >= offsetof(ipp_plugin_api_t, member) + sizeof((api)->member) &&                  \
     (api)->member != NULL)

/* What ipp_call_cancelled returns once a call should stop. An engine
 * older than these values returns 1 for both. */
#define IPP_CALL_CANCEL_ABORT 1     /* the task was aborted */
#define IPP_CALL_CANCEL_WALL_TIME 2 /* its wall-time limit (Call.wall_limit_us) passed */

/* The most bytes of a summary the engine keeps (longer ones are cut at a
 * character boundary and end with "…"). */
#define IPP_CALL_SUMMARY_MAX 8192

/* The registry handed to ipp_plugin_init. Only `api` is public; the engine
 * keeps its own state behind it, so never copy or allocate one. */
struct ipp_plugin_registry_t {
    const ipp_plugin_api_t *api; /* the engine's entry points */
};

/* The context of one call. Same rules as the registry. */
struct ipp_call_ctx_t {
    const ipp_plugin_api_t *api; /* the engine's entry points */
};

/* ipp_plugin_register: make fn callable as `name` (visible ASCII, no
 * spaces, at most 255 bytes, not already registered). userdata stays owned
 * by the plugin and must live until the plugin is unloaded. Returns 0, or -1
 * (bad or duplicate name, out of memory); a failed registration also makes
 * the engine refuse the plugin with a message naming the function. */
static inline int ipp_plugin_register(ipp_plugin_registry_t *reg, const char *name,
                                      ipp_call_fn_t fn, void *userdata)
{
    return reg->api->register_fn(reg, name, fn, userdata);
}

/* ipp_plugin_set_fini: run fini(state) once when the engine unloads the
 * plugin (before dlclose) — also when it refuses the plugin after init.
 * The plugin owns state; fini frees it. */
static inline void ipp_plugin_set_fini(ipp_plugin_registry_t *reg, ipp_plugin_fini_fn_t fini,
                                       void *state)
{
    reg->api->set_fini(reg, fini, state);
}

/* ipp_call_nargs: how many argument buffers the call has. */
static inline size_t ipp_call_nargs(const ipp_call_ctx_t *ctx)
{
    return ctx->api->nargs(ctx);
}

/* ipp_call_arg: argument i (borrowed, valid during the call, not
 * NUL-terminated) and its length in *len (if len is not NULL). Returns NULL
 * when i is out of range; a zero-length argument is a non-NULL pointer. */
static inline const void *ipp_call_arg(const ipp_call_ctx_t *ctx, size_t i, size_t *len)
{
    return ctx->api->arg(ctx, i, len);
}

/* ipp_call_return: append a copy of data[0..len) as the next result
 * buffer. Returns 0, or -1 when out of memory. */
static inline int ipp_call_return(ipp_call_ctx_t *ctx, const void *data, size_t len)
{
    return ctx->api->append_result(ctx, data, len);
}

/* ipp_call_write: append bytes to the task's stdout (bounded by the
 * engine; past the bound output is dropped and the truncation marked).
 * Returns 0, or -1 when out of memory. */
static inline int ipp_call_write(ipp_call_ctx_t *ctx, const void *data, size_t len)
{
    return ctx->api->write_stdout(ctx, data, len);
}

/* ipp_call_printf: printf to the task's stdout, as ipp_call_write. */
static inline int ipp_call_printf(ipp_call_ctx_t *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline int ipp_call_printf(ipp_call_ctx_t *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = ctx->api->vprint(ctx, fmt, ap);
    va_end(ap);
    return rc;
}

/* ipp_call_error: fail the call with ename (e.g. "ValueError"; copied) and
 * a printf-style evalue. The first error set wins; result buffers are
 * discarded when the call fails; stdout is kept. Returns 0. */
static inline int ipp_call_error(ipp_call_ctx_t *ctx, const char *ename, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline int ipp_call_error(ipp_call_ctx_t *ctx, const char *ename, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = ctx->api->verror(ctx, ename, fmt, ap);
    va_end(ap);
    return rc;
}

/* ipp_ns_get: look key up in the engine namespace (what direct views
 * push and pull). On success *data and *len describe the value, borrowed:
 * valid until the namespace changes or the call returns. Returns 0, or -1
 * when the key is not set. */
static inline int ipp_ns_get(ipp_call_ctx_t *ctx, const char *key, const void **data, size_t *len)
{
    return ctx->api->ns_get(ctx, key, data, len);
}

/* ipp_ns_set: set key to a copy of data[0..len). Returns 0, or -1 (empty
 * key, out of memory). */
static inline int ipp_ns_set(ipp_call_ctx_t *ctx, const char *key, const void *data, size_t len)
{
    return ctx->api->ns_set(ctx, key, data, len);
}

/* ipp_ns_del: remove key. Returns 0, or -1 when it was not set. */
static inline int ipp_ns_del(ipp_call_ctx_t *ctx, const char *key)
{
    return ctx->api->ns_del(ctx, key);
}

/* ipp_call_cancelled: non-zero once the task has been aborted
 * (IPP_CALL_CANCEL_ABORT) or has run past its wall-time limit
 * (IPP_CALL_CANCEL_WALL_TIME); a long function should return soon after.
 * What it set is then discarded, except its stdout and stderr: the task
 * ends ABORTED/"TaskAborted" or ERROR/"WallTimeExceeded" — with the
 * function's own evalue and traceback if it set an error under that ename. */
static inline int ipp_call_cancelled(const ipp_call_ctx_t *ctx)
{
    return ctx->api->cancelled(ctx);
}

/* ipp_call_write_stderr: append bytes to the task's stderr, bounded as
 * stdout is. Returns 0, or -1 when out of memory or when the engine is too
 * old to record stderr of calls. */
static inline int ipp_call_write_stderr(ipp_call_ctx_t *ctx, const void *data, size_t len)
{
    if (!IPP_PLUGIN_API_HAS(ctx->api, write_stderr))
        return -1;
    return ctx->api->write_stderr(ctx, data, len);
}

/* ipp_call_traceback: the traceback of the error the call fails with,
 * text[0..len) (copied; lines separated by '\n', sent as RemoteError's
 * traceback lines). Used only if the call fails; the last one set wins.
 * Returns 0, or -1 (out of memory, engine too old). */
static inline int ipp_call_traceback(ipp_call_ctx_t *ctx, const char *text, size_t len)
{
    if (!IPP_PLUGIN_API_HAS(ctx->api, set_traceback))
        return -1;
    return ctx->api->set_traceback(ctx, text, len);
}

/* ipp_call_summary: a short readable form of the call's value (copied;
 * recorded as the task's summary, shown by `ipp result` and `ipp-query
 * get`), at most IPP_CALL_SUMMARY_MAX bytes kept. Used only if the call
 * succeeds; the last one set wins. Returns 0, or -1 (text not UTF-8, out
 * of memory, engine too old). */
static inline int ipp_call_summary(ipp_call_ctx_t *ctx, const char *text, size_t len)
{
    if (!IPP_PLUGIN_API_HAS(ctx->api, set_summary))
        return -1;
    return ctx->api->set_summary(ctx, text, len);
}

/* ipp_plugin_set_ahead: let the engine hand tasks for the registered
 * function `name` to `ahead` before their turn, so a plugin that runs them
 * elsewhere (another process) can start on the next ones while the current
 * one runs. The engine calls ahead(ctx, userdata) on the calls' thread, in
 * the tasks' order, at most once per task, only for tasks of such
 * functions queued directly behind one that runs or was handed ahead, and
 * before that task's own call. The ctx of an ahead call offers only
 * ipp_call_nargs, ipp_call_arg, ipp_call_seq and ipp_call_cancelled (what
 * it writes or sets is dropped). Whatever ahead did, each task is later
 * called as usual, in order, with the same arguments and ipp_call_seq, its
 * ctx possibly cancelled from the start; the call must then settle what
 * ahead began. If ahead declines a task (does nothing with it), it must
 * decline every later one until that task's call: running them before it
 * would break the engine's order. The engine may stop (unload the plugin)
 * with tasks handed ahead and never called. Returns 0, or -1 (name not
 * registered by this plugin, engine too old). */
static inline int ipp_plugin_set_ahead(ipp_plugin_registry_t *reg, const char *name,
                                       ipp_call_fn_t ahead)
{
    if (!IPP_PLUGIN_API_HAS(reg->api, set_ahead))
        return -1;
    return reg->api->set_ahead(reg, name, ahead);
}

/* ipp_call_seq: the task's number on this engine (non-zero, increasing in
 * the order tasks run), the same in its ahead call and its call; 0 when
 * the engine is too old to number them. */
static inline uint64_t ipp_call_seq(const ipp_call_ctx_t *ctx)
{
    if (!IPP_PLUGIN_API_HAS(ctx->api, call_seq))
        return 0;
    return ctx->api->call_seq(ctx);
}

/* ipp_call_started: when the task really started (µs since the Unix
 * epoch), where it ran elsewhere and not at the call's own start; recorded
 * as the task's start. Returns 0, or -1 (not positive, engine too old). */
static inline int ipp_call_started(ipp_call_ctx_t *ctx, int64_t wall_us)
{
    if (!IPP_PLUGIN_API_HAS(ctx->api, set_started))
        return -1;
    return ctx->api->set_started(ctx, wall_us);
}

#ifdef __cplusplus
}
#endif
#endif
