/* builtins.c — the call functions every engine has.
 *
 * noop, echo, sleep, getpid, hostname, fail and env, written against the
 * public plugin interface. Owns nothing. sleep must stay abortable: it
 * sleeps in short slices and checks the task's cancel flag between them.
 */
#include "engine/builtins.h"

#include "proto/clock.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

// How long sleep waits at most before looking at the cancel flag.
#define S_SLEEP_SLICE_US 20000
// Longest argument text sleep and env accept.
#define S_TEXT_MAX 256

// s_arg_text: argument i as a NUL-terminated string in buf; false when
// it is missing, too long or contains a NUL (an error is set then).
static bool s_arg_text(ipp_call_ctx_t *ctx, const char *fn, size_t i, char *buf, size_t size)
{
    size_t len = 0;
    const char *arg = ipp_call_arg(ctx, i, &len);
    if (!arg) {
        ipp_call_error(ctx, "ValueError", "%s: missing argument %zu", fn, i + 1);
        return false;
    }
    if (len >= size || memchr(arg, '\0', len)) {
        ipp_call_error(ctx, "ValueError", "%s: argument %zu is not a short text", fn, i + 1);
        return false;
    }
    memcpy(buf, arg, len);
    buf[len] = '\0';
    return true;
}

// noop: nothing in, nothing out.
static void s_noop(ipp_call_ctx_t *ctx, void *userdata)
{
    (void)ctx;
    (void)userdata;
}

// echo: returns its argument buffers unchanged.
static void s_echo(ipp_call_ctx_t *ctx, void *userdata)
{
    (void)userdata;
    size_t n = ipp_call_nargs(ctx);
    for (size_t i = 0; i < n; i++) {
        size_t len = 0;
        const void *arg = ipp_call_arg(ctx, i, &len);
        if (ipp_call_return(ctx, arg, len) != 0)
            return;
    }
}

// sleep: waits the number of seconds in its argument (decimal text, may be
// fractional), returning early when the task is aborted.
static void s_sleep(ipp_call_ctx_t *ctx, void *userdata)
{
    (void)userdata;
    char text[S_TEXT_MAX];
    if (!s_arg_text(ctx, "sleep", 0, text, sizeof text))
        return;
    char *end = NULL;
    errno = 0;
    double seconds = strtod(text, &end);
    while (end && (*end == ' ' || *end == '\n' || *end == '\t'))
        end++;
    if (end == text || !end || *end || errno || !isfinite(seconds) || seconds < 0 ||
        seconds > 1e9) {
        ipp_call_error(ctx, "ValueError", "sleep: '%s' is not a number of seconds (0 to 1e9)",
                       text);
        return;
    }
    int64_t deadline = ipp_clock_mono_us() + (int64_t)(seconds * 1e6);
    for (;;) {
        if (ipp_call_cancelled(ctx))
            return;
        int64_t left = deadline - ipp_clock_mono_us();
        if (left <= 0)
            return;
        if (left > S_SLEEP_SLICE_US)
            left = S_SLEEP_SLICE_US;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)left * 1000};
        nanosleep(&ts, NULL);
    }
}

// getpid: the engine's pid as decimal text.
static void s_getpid(ipp_call_ctx_t *ctx, void *userdata)
{
    (void)userdata;
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%ld", (long)getpid());
    ipp_call_return(ctx, buf, (size_t)n);
}

// hostname: the engine host's name.
static void s_hostname(ipp_call_ctx_t *ctx, void *userdata)
{
    (void)userdata;
    char buf[256];
    if (gethostname(buf, sizeof buf) != 0) {
        ipp_call_error(ctx, "OSError", "hostname: %s", strerror(errno));
        return;
    }
    buf[sizeof buf - 1] = '\0';
    ipp_call_return(ctx, buf, strlen(buf));
}

// fail: always fails, with ename "TaskFailed" and its first argument (if
// any) as the message.
static void s_fail(ipp_call_ctx_t *ctx, void *userdata)
{
    (void)userdata;
    size_t len = 0;
    const char *msg = ipp_call_arg(ctx, 0, &len);
    if (!msg) {
        ipp_call_error(ctx, "TaskFailed", "fail called");
        return;
    }
    if (len > 4096)
        len = 4096;
    ipp_call_error(ctx, "TaskFailed", "%.*s", (int)len, msg);
}

// env: the value of the engine's environment variable named by the
// argument; "KeyError" when it is not set.
static void s_env(ipp_call_ctx_t *ctx, void *userdata)
{
    (void)userdata;
    char name[S_TEXT_MAX];
    if (!s_arg_text(ctx, "env", 0, name, sizeof name))
        return;
    const char *value = getenv(name);
    if (!value) {
        ipp_call_error(ctx, "KeyError", "environment variable '%s' is not set", name);
        return;
    }
    ipp_call_return(ctx, value, strlen(value));
}

static const struct {
    const char *name;  // registered name
    ipp_call_fn_t fn;  // the code
} s_builtins[] = {
    {"noop", s_noop},         {"echo", s_echo}, {"sleep", s_sleep}, {"getpid", s_getpid},
    {"hostname", s_hostname}, {"fail", s_fail}, {"env", s_env},
};

ipp_err_t eng_builtins_register(eng_functions_t *functions, ipp_error_t *err)
{
    for (size_t i = 0; i < sizeof s_builtins / sizeof s_builtins[0]; i++) {
        ipp_err_t rc = eng_functions_add(functions, s_builtins[i].name, s_builtins[i].fn, NULL,
                                         NULL, "builtin", err);
        if (rc != IPP_OK)
            return rc;
    }
    return IPP_OK;
}
