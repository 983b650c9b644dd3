/* test_eng_functions.c — unit tests of the call-function registry, the
 * built-ins and plugin loading.
 *
 * Loads real plugin objects built from eng_test_plugin.c (paths come from
 * the build), calls their functions through the registry, and checks the
 * three ways loading fails plus a plugin that takes a built-in's name.
 */
#include "engine/builtins.h"
#include "engine/functions.h"
#include "engine/plugin.h"
#include "proto/clock.h"

#include "testutil.h"

#include <check.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char t_dir[PATH_MAX];
static eng_functions_t *t_fns;
static eng_namespace_t *t_ns;

static void t_setup(void)
{
    tu_tmpdir(t_dir, sizeof t_dir, "eng_functions");
    t_fns = eng_functions_new();
    ck_assert_ptr_nonnull(t_fns);
    ipp_error_t err;
    ipp_error_clear(&err);
    ck_assert_int_eq(eng_builtins_register(t_fns, &err), IPP_OK);
    t_ns = eng_namespace_new();
    ck_assert_ptr_nonnull(t_ns);
}

static void t_teardown(void)
{
    eng_namespace_destroy(&t_ns);
    eng_functions_destroy(&t_fns);
    tu_rmtree(t_dir);
}

// t_arm_fini_proof: have the test plugin's fini create t_dir/fini-ran.
static const char *t_arm_fini_proof(void)
{
    static char proof[PATH_MAX + 16];
    snprintf(proof, sizeof proof, "%s/fini-ran", t_dir);
    setenv("ENG_TEST_PLUGIN_FINI_FILE", proof, 1);
    return proof;
}

static eng_span_t t_text(const char *s)
{
    return (eng_span_t){.data = s, .len = strlen(s)};
}

static bool t_buf_is(const eng_buf_t *b, const char *text)
{
    size_t n = strlen(text);
    return b->len == n && (n == 0 || memcmp(b->data, text, n) == 0);
}

// t_call: call name with args, namespace t_ns, and return the status code.
static ipp_err_t t_call(const char *name, const eng_span_t *args, size_t nargs, eng_result_t *res)
{
    eng_call_opts_t opts = {.ns = t_ns};
    eng_result_init(res);
    return eng_functions_call(t_fns, name, args, nargs, &opts, res);
}

// ---------------------------------------------------------------- built-ins

START_TEST(test_builtins_listed)
{
    const char *expect[] = {"noop", "echo", "sleep", "getpid", "hostname", "fail", "env"};
    ck_assert_uint_eq(eng_functions_count(t_fns), 7);
    for (size_t i = 0; i < 7; i++) {
        ck_assert_str_eq(eng_functions_name(t_fns, i), expect[i]);
        ck_assert(eng_functions_has(t_fns, expect[i]));
        ck_assert_str_eq(eng_functions_origin(t_fns, expect[i]), "builtin");
    }
    ck_assert_ptr_null(eng_functions_name(t_fns, 7));
    ck_assert(!eng_functions_has(t_fns, "nope"));
    ck_assert_ptr_null(eng_functions_origin(t_fns, "nope"));
}
END_TEST

START_TEST(test_noop)
{
    eng_result_t res;
    int64_t before = ipp_clock_now_us();
    ck_assert_int_eq(t_call("noop", NULL, 0, &res), IPP_OK);
    ck_assert_int_eq(res.status, ENG_STATUS_OK);
    ck_assert_uint_eq(res.nbuffers, 0);
    ck_assert_uint_eq(res.stdout_data.len, 0);
    ck_assert_int_ge(res.started, before);
    ck_assert_int_ge(res.completed, res.started);
    eng_result_fini(&res);
}
END_TEST

START_TEST(test_echo)
{
    const char binary[] = {'a', '\0', 'b', '\xff'};
    eng_span_t args[] = {
        t_text("first"), {.data = NULL, .len = 0}, {.data = binary, .len = sizeof binary}};
    eng_result_t res;
    ck_assert_int_eq(t_call("echo", args, 3, &res), IPP_OK);
    ck_assert_int_eq(res.status, ENG_STATUS_OK);
    ck_assert_uint_eq(res.nbuffers, 3);
    ck_assert(t_buf_is(&res.buffers[0], "first"));
    ck_assert_uint_eq(res.buffers[1].len, 0);
    ck_assert_uint_eq(res.buffers[2].len, sizeof binary);
    ck_assert_int_eq(memcmp(res.buffers[2].data, binary, sizeof binary), 0);
    ck_assert(res.buffers[0].data != args[0].data);  // copies, not the input
    eng_result_fini(&res);
}
END_TEST

START_TEST(test_sleep)
{
    eng_span_t arg = t_text("0.2");
    eng_result_t res;
    int64_t t0 = ipp_clock_mono_us();
    ck_assert_int_eq(t_call("sleep", &arg, 1, &res), IPP_OK);
    int64_t took = ipp_clock_mono_us() - t0;
    ck_assert_int_eq(res.status, ENG_STATUS_OK);
    ck_assert_int_ge(took, 200000);
    ck_assert_int_lt(took, 1500000);
    ck_assert_int_ge(res.completed - res.started, 190000);
    ck_assert_uint_eq(res.nbuffers, 0);
    eng_result_fini(&res);

    const char *bad[] = {"abc", "-1", "1e99", "nan", "2x", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        arg = t_text(bad[i]);
        ck_assert_int_eq(t_call("sleep", &arg, 1, &res), IPP_OK);
        ck_assert_int_eq(res.status, ENG_STATUS_ERROR);
        ck_assert_str_eq(res.ename, "ValueError");
        ck_assert_ptr_nonnull(strstr(res.evalue, "sleep"));
        eng_result_fini(&res);
    }
    ck_assert_int_eq(t_call("sleep", NULL, 0, &res), IPP_OK);
    ck_assert_str_eq(res.ename, "ValueError");
    ck_assert_ptr_nonnull(strstr(res.evalue, "missing argument"));
    eng_result_fini(&res);
}
END_TEST

static void *t_cancel_later(void *flag)
{
    usleep(150000);
    atomic_store((atomic_int *)flag, 1);
    return NULL;
}

START_TEST(test_sleep_cancelled)
{
    atomic_int cancel;
    atomic_init(&cancel, 0);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, t_cancel_later, &cancel), 0);
    eng_span_t arg = t_text("30");
    eng_call_opts_t opts = {.cancel = &cancel};
    eng_result_t res;
    eng_result_init(&res);
    int64_t t0 = ipp_clock_mono_us();
    ck_assert_int_eq(eng_functions_call(t_fns, "sleep", &arg, 1, &opts, &res), IPP_OK);
    ck_assert_int_lt(ipp_clock_mono_us() - t0, 2000000);
    pthread_join(th, NULL);
    ck_assert_int_eq(res.status, ENG_STATUS_ABORTED);
    ck_assert_str_eq(res.ename, "TaskAborted");
    ck_assert_ptr_nonnull(strstr(res.evalue, "sleep"));
    eng_result_fini(&res);
}
END_TEST

START_TEST(test_getpid_hostname)
{
    eng_result_t res;
    ck_assert_int_eq(t_call("getpid", NULL, 0, &res), IPP_OK);
    ck_assert_uint_eq(res.nbuffers, 1);
    char expect[32];
    snprintf(expect, sizeof expect, "%ld", (long)getpid());
    ck_assert(t_buf_is(&res.buffers[0], expect));
    eng_result_fini(&res);

    ck_assert_int_eq(t_call("hostname", NULL, 0, &res), IPP_OK);
    char host[256];
    ck_assert_int_eq(gethostname(host, sizeof host), 0);
    host[sizeof host - 1] = '\0';
    ck_assert_uint_eq(res.nbuffers, 1);
    ck_assert(t_buf_is(&res.buffers[0], host));
    eng_result_fini(&res);
}
END_TEST

START_TEST(test_fail)
{
    eng_span_t arg = t_text("the disk is on fire");
    eng_result_t res;
    ck_assert_int_eq(t_call("fail", &arg, 1, &res), IPP_OK);
    ck_assert_int_eq(res.status, ENG_STATUS_ERROR);
    ck_assert_str_eq(res.ename, "TaskFailed");
    ck_assert_str_eq(res.evalue, "the disk is on fire");
    ck_assert_uint_eq(res.nbuffers, 0);
    eng_result_fini(&res);

    ck_assert_int_eq(t_call("fail", NULL, 0, &res), IPP_OK);
    ck_assert_str_eq(res.ename, "TaskFailed");
    ck_assert_str_eq(res.evalue, "fail called");
    eng_result_fini(&res);
}
END_TEST

START_TEST(test_env)
{
    setenv("IPP_TEST_ENV_VALUE", "forty two", 1);
    eng_span_t arg = t_text("IPP_TEST_ENV_VALUE");
    eng_result_t res;
    ck_assert_int_eq(t_call("env", &arg, 1, &res), IPP_OK);
    ck_assert_int_eq(res.status, ENG_STATUS_OK);
    ck_assert(t_buf_is(&res.buffers[0], "forty two"));
    eng_result_fini(&res);

    arg = t_text("IPP_TEST_ENV_UNSET_123");
    ck_assert_int_eq(t_call("env", &arg, 1, &res), IPP_OK);
    ck_assert_str_eq(res.ename, "KeyError");
    ck_assert_ptr_nonnull(strstr(res.evalue, "IPP_TEST_ENV_UNSET_123"));
    eng_result_fini(&res);
}
END_TEST

START_TEST(test_unknown_function)
{
    eng_result_t res;
    ck_assert_int_eq(t_call("no_such_fn", NULL, 0, &res), IPP_ERR_NOT_FOUND);
    ck_assert_int_eq(res.status, ENG_STATUS_ERROR);
    ck_assert_str_eq(res.ename, "NameError");
    ck_assert_ptr_nonnull(strstr(res.evalue, "'no_such_fn'"));
    eng_result_fini(&res);
}
END_TEST

static void t_dummy(ipp_call_ctx_t *ctx, void *userdata)
{
    (void)ctx;
    (void)userdata;
}

START_TEST(test_register_rules)
{
    ipp_error_t err;
    ipp_error_clear(&err);
    ck_assert_int_eq(eng_functions_add(t_fns, "echo", t_dummy, NULL, NULL, "test", &err),
                     IPP_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "already registered"));
    ck_assert_ptr_nonnull(strstr(err.msg, "builtin"));
    const char *bad[] = {"", "has space", "tab\tname", "\x7f"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_int_eq(eng_functions_add(t_fns, bad[i], t_dummy, NULL, NULL, "test", &err),
                         IPP_ERR_INVALID);
    ck_assert_int_eq(eng_functions_add(t_fns, NULL, t_dummy, NULL, NULL, "test", &err),
                     IPP_ERR_INVALID);
    char longname[300];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    ck_assert_int_eq(eng_functions_add(t_fns, longname, t_dummy, NULL, NULL, "t", &err),
                     IPP_ERR_INVALID);
    ck_assert_int_eq(eng_functions_add(t_fns, "mine.fn", NULL, NULL, NULL, "t", &err),
                     IPP_ERR_INVALID);
    ck_assert_uint_eq(eng_functions_count(t_fns), 7);

    // owners: removal takes exactly the owner's functions, order kept
    int owner_a, owner_b;
    ck_assert_int_eq(eng_functions_add(t_fns, "a1", t_dummy, NULL, &owner_a, "a", &err), IPP_OK);
    ck_assert_int_eq(eng_functions_add(t_fns, "b1", t_dummy, NULL, &owner_b, "b", &err), IPP_OK);
    ck_assert_int_eq(eng_functions_add(t_fns, "a2", t_dummy, NULL, &owner_a, "a", &err), IPP_OK);
    ck_assert_uint_eq(eng_functions_remove_owner(t_fns, &owner_a), 2);
    ck_assert_uint_eq(eng_functions_count(t_fns), 8);
    ck_assert_str_eq(eng_functions_name(t_fns, 7), "b1");
    ck_assert(!eng_functions_has(t_fns, "a1"));
}
END_TEST

START_TEST(test_call_stdout_bounded)
{
    eng_plugin_t *p = NULL;
    ipp_error_t err;
    ipp_error_clear(&err);
    p = eng_plugin_load(ENG_TEST_PLUGIN_PATH, t_fns, NULL, &err);
    ck_assert_msg(p != NULL, "%s", err.msg);
    char name[2000];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    eng_span_t arg = t_text(name);
    eng_call_opts_t opts = {.stdout_limit = 8};
    eng_result_t res;
    eng_result_init(&res);
    ck_assert_int_eq(eng_functions_call(t_fns, "t_greet", &arg, 1, &opts, &res), IPP_OK);
    ck_assert_int_eq(res.status, ENG_STATUS_OK);
    ck_assert(res.stdout_truncated);
    ck_assert(t_buf_is(&res.stdout_data, "hello nn\n[ipp: output truncated after 8 bytes]\n"));
    eng_result_fini(&res);
    eng_plugin_destroy(&p);
    ck_assert_ptr_null(p);
}
END_TEST

// ---------------------------------------------------------------- plugins

START_TEST(test_plugin_functions)
{
    const char *proof = t_arm_fini_proof();
    ipp_error_t err;
    ipp_error_clear(&err);
    eng_plugin_t *p = eng_plugin_load(ENG_TEST_PLUGIN_PATH, t_fns, NULL, &err);
    ck_assert_msg(p != NULL, "%s", err.msg);
    ck_assert_str_eq(eng_plugin_path(p), ENG_TEST_PLUGIN_PATH);
    ck_assert_uint_eq(eng_plugin_count(p), 6);
    ck_assert_uint_eq(eng_functions_count(t_fns), 13);
    ck_assert_str_eq(eng_functions_name(t_fns, 7), "t_greet");
    ck_assert_str_eq(eng_functions_origin(t_fns, "t_greet"), ENG_TEST_PLUGIN_PATH);

    // printing and returning
    eng_span_t arg = t_text("world");
    eng_result_t res;
    ck_assert_int_eq(t_call("t_greet", &arg, 1, &res), IPP_OK);
    ck_assert_int_eq(res.status, ENG_STATUS_OK);
    ck_assert(t_buf_is(&res.stdout_data, "hello world\n"));
    ck_assert(!res.stdout_truncated);
    ck_assert_uint_eq(res.nbuffers, 1);
    ck_assert(t_buf_is(&res.buffers[0], "greeted"));
    eng_result_fini(&res);

    // stderr, a summary, a traceback: the entries appended to the table
    eng_span_t rep[3] = {t_text("warned\n"), t_text("[1, 2]"), t_text("line 1\nline 2\n")};
    ck_assert_int_eq(t_call("t_report", rep, 2, &res), IPP_OK);
    ck_assert_int_eq(res.status, ENG_STATUS_OK);
    ck_assert(t_buf_is(&res.stderr_data, "warned\n"));
    ck_assert(t_buf_is(&res.stdout_data, "summary 0"));
    ck_assert_str_eq(res.summary, "[1, 2]");
    ck_assert_ptr_null(res.traceback);
    eng_result_fini(&res);
    ck_assert_int_eq(t_call("t_report", rep, 3, &res), IPP_OK);
    ck_assert_int_eq(res.status, ENG_STATUS_ERROR);
    ck_assert_str_eq(res.ename, "ReportedError");
    ck_assert_str_eq(res.traceback, "line 1\nline 2\n");
    ck_assert_ptr_null(res.summary);  // a failed call has no summary
    ck_assert(t_buf_is(&res.stderr_data, "warned\n"));
    eng_result_fini(&res);
    // a summary that is not UTF-8 (or holds a NUL) is refused
    eng_span_t bad[2] = {t_text(""), {"ok\xc3(", 5}};
    ck_assert_int_eq(t_call("t_report", bad, 2, &res), IPP_OK);
    ck_assert(t_buf_is(&res.stdout_data, "summary -1"));
    ck_assert_ptr_null(res.summary);
    eng_result_fini(&res);
    bad[1] = (eng_span_t){"a\0b", 3};
    ck_assert_int_eq(t_call("t_report", bad, 2, &res), IPP_OK);
    ck_assert(t_buf_is(&res.stdout_data, "summary -1"));
    eng_result_fini(&res);
    // a long one is cut at a character boundary, ending with "…"
    size_t big = IPP_CALL_SUMMARY_MAX + 100;
    char *text = malloc(big);
    ck_assert_ptr_nonnull(text);
    for (size_t k = 0; k + 1 < big; k += 2)
        memcpy(text + k, "\xc3\xa9", 2);  // é, two bytes each
    bad[1] = (eng_span_t){text, big};
    ck_assert_int_eq(t_call("t_report", bad, 2, &res), IPP_OK);
    free(text);
    ck_assert(t_buf_is(&res.stdout_data, "summary 0"));
    size_t slen = strlen(res.summary);
    ck_assert_uint_le(slen, IPP_CALL_SUMMARY_MAX);
    ck_assert_uint_ge(slen, IPP_CALL_SUMMARY_MAX - 4);
    ck_assert_str_eq(res.summary + slen - 3, "\xe2\x80\xa6");
    ck_assert_uint_eq((slen - 3) % 2, 0);  // whole characters only
    eng_result_fini(&res);

    // its own argument check
    ck_assert_int_eq(t_call("t_greet", NULL, 0, &res), IPP_OK);
    ck_assert_str_eq(res.ename, "ValueError");
    eng_result_fini(&res);

    // the namespace, both ways
    eng_span_t kv[] = {t_text("answer"), t_text("42")};
    ck_assert_int_eq(t_call("t_store", kv, 2, &res), IPP_OK);
    ck_assert_int_eq(res.status, ENG_STATUS_OK);
    eng_result_fini(&res);
    const void *data;
    size_t len;
    ck_assert_int_eq(eng_namespace_get(t_ns, "answer", &data, &len), IPP_OK);
    ck_assert_uint_eq(len, 2);
    ck_assert_int_eq(memcmp(data, "42", 2), 0);
    ck_assert_int_eq(eng_namespace_set(t_ns, "pushed", "xyz", 3), IPP_OK);
    arg = t_text("pushed");
    ck_assert_int_eq(t_call("t_load", &arg, 1, &res), IPP_OK);
    ck_assert_int_eq(res.status, ENG_STATUS_OK);
    ck_assert(t_buf_is(&res.buffers[0], "xyz"));
    eng_result_fini(&res);
    eng_span_t del[] = {t_text("answer"), t_text("del")};
    ck_assert_int_eq(t_call("t_load", del, 2, &res), IPP_OK);
    ck_assert_int_eq(res.status, ENG_STATUS_OK);
    ck_assert(t_buf_is(&res.buffers[0], "42"));
    eng_result_fini(&res);
    ck_assert_int_eq(eng_namespace_get(t_ns, "answer", NULL, NULL), IPP_ERR_NOT_FOUND);
    arg = t_text("answer");
    ck_assert_int_eq(t_call("t_load", &arg, 1, &res), IPP_OK);
    ck_assert_int_eq(res.status, ENG_STATUS_ERROR);
    ck_assert_str_eq(res.ename, "NameError");
    ck_assert_str_eq(res.evalue, "name 'answer' is not defined");
    eng_result_fini(&res);

    // errors: first one wins, buffers dropped, stdout kept
    ck_assert_int_eq(t_call("t_fail", NULL, 0, &res), IPP_OK);
    ck_assert_int_eq(res.status, ENG_STATUS_ERROR);
    ck_assert_str_eq(res.ename, "PluginError");
    ck_assert_str_eq(res.evalue, "bad thing 42");
    ck_assert_uint_eq(res.nbuffers, 0);
    ck_assert(t_buf_is(&res.stdout_data, "about to fail\n"));
    eng_result_fini(&res);

    // userdata survives between calls
    ck_assert_int_eq(t_call("t_count", NULL, 0, &res), IPP_OK);
    ck_assert(t_buf_is(&res.buffers[0], "1"));
    eng_result_fini(&res);
    ck_assert_int_eq(t_call("t_count", NULL, 0, &res), IPP_OK);
    ck_assert(t_buf_is(&res.buffers[0], "2"));
    eng_result_fini(&res);

    // without a namespace the namespace calls fail cleanly
    kv[0] = t_text("k");
    eng_result_init(&res);
    ck_assert_int_eq(eng_functions_call(t_fns, "t_store", kv, 2, NULL, &res), IPP_OK);
    ck_assert_str_eq(res.ename, "RuntimeError");
    eng_result_fini(&res);

    // unloading removes its functions and runs its fini
    ck_assert_int_ne(access(proof, F_OK), 0);
    eng_plugin_destroy(&p);
    ck_assert_ptr_null(p);
    ck_assert_int_eq(access(proof, F_OK), 0);
    ck_assert_uint_eq(eng_functions_count(t_fns), 7);
    ck_assert(!eng_functions_has(t_fns, "t_greet"));
    ck_assert_int_eq(t_call("t_greet", &arg, 1, &res), IPP_ERR_NOT_FOUND);
    eng_result_fini(&res);
}
END_TEST

START_TEST(test_plugin_bad_path)
{
    ipp_error_t err;
    ipp_error_clear(&err);
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/missing.so", t_dir);
    ck_assert_ptr_null(eng_plugin_load(path, t_fns, NULL, &err));
    ck_assert_int_eq(err.code, IPP_ERR_IO);
    ck_assert_ptr_nonnull(strstr(err.msg, path));
    ck_assert_ptr_nonnull(strstr(err.msg, "cannot load"));

    // not a shared object at all
    snprintf(path, sizeof path, "%s/junk.so", t_dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("not an ELF file\n", f);
    fclose(f);
    ipp_error_clear(&err);
    ck_assert_ptr_null(eng_plugin_load(path, t_fns, NULL, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, path));
    ck_assert_uint_eq(eng_functions_count(t_fns), 7);

    ipp_error_clear(&err);
    ck_assert_ptr_null(eng_plugin_load("", t_fns, NULL, &err));
    ck_assert_int_eq(err.code, IPP_ERR_INVALID);
}
END_TEST

START_TEST(test_plugin_no_entry_point)
{
    ipp_error_t err;
    ipp_error_clear(&err);
    ck_assert_ptr_null(eng_plugin_load(ENG_TEST_PLUGIN_NOINIT_PATH, t_fns, NULL, &err));
    ck_assert_int_eq(err.code, IPP_ERR_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(err.msg, ENG_TEST_PLUGIN_NOINIT_PATH));
    ck_assert_ptr_nonnull(strstr(err.msg, "ipp_plugin_init"));
    ck_assert_uint_eq(eng_functions_count(t_fns), 7);
}
END_TEST

START_TEST(test_plugin_init_fails)
{
    const char *proof = t_arm_fini_proof();
    ipp_error_t err;
    ipp_error_clear(&err);
    ck_assert_ptr_null(eng_plugin_load(ENG_TEST_PLUGIN_INITFAIL_PATH, t_fns, NULL, &err));
    ck_assert_int_eq(access(proof, F_OK), 0);  // its state was released
    ck_assert_ptr_nonnull(strstr(err.msg, ENG_TEST_PLUGIN_INITFAIL_PATH));
    ck_assert_ptr_nonnull(strstr(err.msg, "failed (returned 7)"));
    // what it registered before failing is gone again
    ck_assert_uint_eq(eng_functions_count(t_fns), 7);
    ck_assert(!eng_functions_has(t_fns, "t_greet"));
}
END_TEST

START_TEST(test_plugin_duplicate_name)
{
    ipp_error_t err;
    ipp_error_clear(&err);
    ck_assert_ptr_null(eng_plugin_load(ENG_TEST_PLUGIN_DUP_PATH, t_fns, NULL, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, ENG_TEST_PLUGIN_DUP_PATH));
    ck_assert_ptr_nonnull(strstr(err.msg, "'echo' is already registered (by builtin)"));
    ck_assert_uint_eq(eng_functions_count(t_fns), 7);
    ck_assert_str_eq(eng_functions_origin(t_fns, "echo"), "builtin");

    // the same plugin twice: the second load collides with the first
    eng_plugin_t *p = eng_plugin_load(ENG_TEST_PLUGIN_PATH, t_fns, NULL, &err);
    ck_assert_ptr_nonnull(p);
    ipp_error_clear(&err);
    ck_assert_ptr_null(eng_plugin_load(ENG_TEST_PLUGIN_PATH, t_fns, NULL, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "already registered"));
    ck_assert_uint_eq(eng_functions_count(t_fns), 13);  // the first one intact
    eng_result_t res;
    eng_span_t arg = t_text("again");
    ck_assert_int_eq(t_call("t_greet", &arg, 1, &res), IPP_OK);
    ck_assert(t_buf_is(&res.stdout_data, "hello again\n"));
    eng_result_fini(&res);
    eng_plugin_destroy(&p);
}
END_TEST

static Suite *t_suite(void)
{
    Suite *s = suite_create("eng_functions");
    TCase *tc = tcase_create("functions");
    tcase_add_checked_fixture(tc, t_setup, t_teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_builtins_listed);
    tcase_add_test(tc, test_noop);
    tcase_add_test(tc, test_echo);
    tcase_add_test(tc, test_sleep);
    tcase_add_test(tc, test_sleep_cancelled);
    tcase_add_test(tc, test_getpid_hostname);
    tcase_add_test(tc, test_fail);
    tcase_add_test(tc, test_env);
    tcase_add_test(tc, test_unknown_function);
    tcase_add_test(tc, test_register_rules);
    tcase_add_test(tc, test_call_stdout_bounded);
    suite_add_tcase(s, tc);

    TCase *tp = tcase_create("plugins");
    tcase_add_checked_fixture(tp, t_setup, t_teardown);
    tcase_set_timeout(tp, 20);
    tcase_add_test(tp, test_plugin_functions);
    tcase_add_test(tp, test_plugin_bad_path);
    tcase_add_test(tp, test_plugin_no_entry_point);
    tcase_add_test(tp, test_plugin_init_fails);
    tcase_add_test(tp, test_plugin_duplicate_name);
    suite_add_tcase(s, tp);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(t_suite());
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
