/* eng_test_plugin.c — a plugin for the engine's unit tests.
 *
 * Built several times with different defines: the normal plugin (functions
 * that print, return, use the namespace and fail), one without the entry
 * point, one whose init fails after registering, and one that registers a
 * name the built-ins already use. Uses nothing but ipp/plugin.h and libc.
 */
#include <ipp/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef ENG_TEST_PLUGIN_NO_INIT

// Exported so the object is a valid library that simply lacks the entry.
int eng_test_plugin_not_an_entry(void);
int eng_test_plugin_not_an_entry(void)
{
    return 42;
}

#else

// State freed by the fini; a missed fini shows up as a leak.
typedef struct t_state_t {
    int calls;  // how many times t_count ran
} t_state_t;

// t_greet: prints "hello NAME" and returns "greeted".
static void t_greet(ipp_call_ctx_t *ctx, void *userdata)
{
    (void)userdata;
    size_t len = 0;
    const char *name = ipp_call_arg(ctx, 0, &len);
    if (!name) {
        ipp_call_error(ctx, "ValueError", "t_greet: need a name");
        return;
    }
    ipp_call_printf(ctx, "hello %.*s\n", (int)len, name);
    ipp_call_return(ctx, "greeted", 7);
}

// t_store: namespace[arg0] = arg1.
static void t_store(ipp_call_ctx_t *ctx, void *userdata)
{
    (void)userdata;
    size_t klen = 0, vlen = 0;
    const char *key = ipp_call_arg(ctx, 0, &klen);
    const void *value = ipp_call_arg(ctx, 1, &vlen);
    char buf[64];
    if (!key || !value || klen >= sizeof buf) {
        ipp_call_error(ctx, "ValueError", "t_store: need a key and a value");
        return;
    }
    memcpy(buf, key, klen);
    buf[klen] = '\0';
    if (ipp_ns_set(ctx, buf, value, vlen) != 0)
        ipp_call_error(ctx, "RuntimeError", "t_store: cannot set '%s'", buf);
}

// t_load: returns namespace[arg0], NameError when missing; then deletes it
// when a second argument "del" is given.
static void t_load(ipp_call_ctx_t *ctx, void *userdata)
{
    (void)userdata;
    size_t klen = 0, alen = 0;
    const char *key = ipp_call_arg(ctx, 0, &klen);
    const char *action = ipp_call_arg(ctx, 1, &alen);
    char buf[64];
    if (!key || klen >= sizeof buf) {
        ipp_call_error(ctx, "ValueError", "t_load: need a key");
        return;
    }
    memcpy(buf, key, klen);
    buf[klen] = '\0';
    const void *value = NULL;
    size_t vlen = 0;
    if (ipp_ns_get(ctx, buf, &value, &vlen) != 0) {
        ipp_call_error(ctx, "NameError", "name '%s' is not defined", buf);
        return;
    }
    ipp_call_return(ctx, value, vlen);
    if (action && alen == 3 && memcmp(action, "del", 3) == 0 && ipp_ns_del(ctx, buf) != 0)
        ipp_call_error(ctx, "RuntimeError", "t_load: cannot delete '%s'", buf);
}

// t_fail: prints, returns a buffer, then fails (the buffer must be dropped,
// the output kept); a second error is ignored.
static void t_fail(ipp_call_ctx_t *ctx, void *userdata)
{
    (void)userdata;
    ipp_call_printf(ctx, "about to fail\n");
    ipp_call_return(ctx, "lost", 4);
    ipp_call_error(ctx, "PluginError", "bad thing %d", 42);
    ipp_call_error(ctx, "OtherError", "ignored");
}

// t_count: counts its calls in the plugin state; returns the count.
static void t_count(ipp_call_ctx_t *ctx, void *userdata)
{
    t_state_t *state = userdata;
    state->calls++;
    char text[16];
    size_t n = 0;
    for (int v = state->calls; v > 0 && n < sizeof text; v /= 10)
        text[n++] = (char)('0' + v % 10);
    for (size_t i = 0; i < n / 2; i++) {
        char c = text[i];
        text[i] = text[n - 1 - i];
        text[n - 1 - i] = c;
    }
    ipp_call_return(ctx, text, n);
}

// t_report: the entries appended to the table: arg 0 to stderr, arg 1 as
// the summary; with arg 2, fail with it as the traceback. Prints what the
// summary call returned ("summary 0" / "summary -1").
static void t_report(ipp_call_ctx_t *ctx, void *userdata)
{
    (void)userdata;
    size_t n0 = 0, n1 = 0, n2 = 0;
    const char *err = ipp_call_arg(ctx, 0, &n0);
    const char *sum = ipp_call_arg(ctx, 1, &n1);
    const char *tb = ipp_call_arg(ctx, 2, &n2);
    if (err)
        ipp_call_write_stderr(ctx, err, n0);
    if (sum)
        ipp_call_printf(ctx, "summary %d", ipp_call_summary(ctx, sum, n1));
    if (tb) {
        ipp_call_error(ctx, "ReportedError", "with a traceback");
        ipp_call_traceback(ctx, tb, n2);
    }
}

// t_fini: frees the state and, when the test asks for it, leaves a file
// behind as proof that it ran.
static void t_fini(void *state)
{
    free(state);
    const char *proof = getenv("ENG_TEST_PLUGIN_FINI_FILE");
    if (proof) {
        FILE *f = fopen(proof, "w");
        if (f)
            fclose(f);
    }
}

int ipp_plugin_init(ipp_plugin_registry_t *reg)
{
    if (reg->api->abi_version != IPP_PLUGIN_ABI_VERSION)
        return -1;
    t_state_t *state = calloc(1, sizeof *state);
    if (!state)
        return -1;
    ipp_plugin_set_fini(reg, t_fini, state);
    int rc = ipp_plugin_register(reg, "t_greet", t_greet, NULL);
    rc |= ipp_plugin_register(reg, "t_store", t_store, NULL);
    rc |= ipp_plugin_register(reg, "t_load", t_load, NULL);
    rc |= ipp_plugin_register(reg, "t_fail", t_fail, NULL);
    rc |= ipp_plugin_register(reg, "t_count", t_count, state);
    rc |= ipp_plugin_register(reg, "t_report", t_report, NULL);
#ifdef ENG_TEST_PLUGIN_DUPLICATE
    // "echo" is a built-in: the engine must refuse this plugin, even
    // though init itself reports success
    ipp_plugin_register(reg, "echo", t_greet, NULL);
#endif
#ifdef ENG_TEST_PLUGIN_INIT_FAILS
    return 7;
#endif
    return rc;
}

#endif
