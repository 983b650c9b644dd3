/* test_python.c — Python tasks end to end: the real controller and
 * engines (which load the Python plugin by default from the build tree),
 * a libipp client sending py.* call tasks whose buffers /usr/bin/python3
 * makes at test time, and the recorded outcome read back through
 * `ipp-query get` and `ipp result`.
 */
#include "harness.h"

#include "ipp/ipp.h"

#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define T_PYTHON "/usr/bin/python3"

static h_cluster_t C;
static h_client_t K;

// Argument buffers read back from files the generator wrote, owned.
typedef struct t_parts_t {
    ipp_buf_t v[8];  // data malloc'ed
    size_t n;
} t_parts_t;

static void t_parts_free(t_parts_t *p)
{
    for (size_t i = 0; i < p->n; i++)
        free((void *)p->v[i].data);
    p->n = 0;
}

static const char t_prelude[] =
    "import sys, pickle, cloudpickle\n"
    "D = sys.argv[1]\n"
    "def out(name, parts):\n"
    "    for i, p in enumerate(parts):\n"
    "        open('%s/%s.%d' % (D, name, i), 'wb').write(bytes(p))\n"
    "    open('%s/%s.n' % (D, name), 'w').write(str(len(parts)))\n"
    "def value(name):\n"
    "    n = int(open('%s/%s.n' % (D, name)).read())\n"
    "    p = [open('%s/%s.%d' % (D, name, i), 'rb').read() for i in range(n)]\n"
    "    return pickle.loads(p[0], buffers=p[1:])\n"
    "def call(f, *args, **kwargs):\n"
    "    bufs = []\n"
    "    data = cloudpickle.dumps((f, args, kwargs), protocol=5, buffer_callback=bufs.append)\n"
    "    return [data] + [b.raw() for b in bufs]\n";

static int t_python(const char *code)
{
    char path[700], cmd[1600];
    snprintf(path, sizeof path, "%s/gen.py", C.dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(t_prelude, f);
    fputs(code, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "%s %s %s", T_PYTHON, path, C.dir);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void *t_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

// t_make: run code, which writes parts `a` with out('a', …).
static void t_make(const char *code, t_parts_t *p)
{
    ck_assert_int_eq(t_python(code), 0);
    char path[700];
    snprintf(path, sizeof path, "%s/a.n", C.dir);
    size_t len;
    char *count = t_slurp(path, &len);
    p->n = (size_t)atoi(count);
    free(count);
    ck_assert_uint_le(p->n, 8);
    for (size_t i = 0; i < p->n; i++) {
        snprintf(path, sizeof path, "%s/a.%zu", C.dir, i);
        p->v[i] = (ipp_buf_t){t_slurp(path, &len), len, NULL, NULL};
        p->v[i].size = len;
    }
}

// t_save: task i's result buffers as parts `name`, for value(name).
static void t_save(ipp_ar_t *ar, size_t i, const char *name)
{
    size_t n = 0;
    const ipp_buf_t *b = ipp_ar_result(ar, i, &n);
    char path[700];
    for (size_t k = 0; k < n; k++) {
        snprintf(path, sizeof path, "%s/%s.%zu", C.dir, name, k);
        FILE *f = fopen(path, "wb");
        ck_assert_ptr_nonnull(f);
        fwrite(b[k].data, 1, b[k].size, f);
        fclose(f);
    }
    snprintf(path, sizeof path, "%s/%s.n", C.dir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "%zu", n);
    fclose(f);
}

// t_run: the stdout of a shell command (at most size-1 bytes), its exit
// status in *status.
static void t_run(const char *cmd, char *out, size_t size, int *status)
{
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t n = fread(out, 1, size - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static ipp_client_t *t_connect(void)
{
    ipp_error_t err;
    char path[800];
    snprintf(path, sizeof path, "%s/security/%s", C.profile_dir, CONN_CLIENT_FILE);
    ipp_client_t *c = ipp_client_connect(path, 10, &err);
    ck_assert_msg(c != NULL, "%s", err.msg);
    ck_assert_int_eq(ipp_client_wait_for_engines(c, (size_t)C.n_engines, 15, &err), IPP_OK);
    return c;
}

static ipp_ar_t *t_execute(ipp_view_t *v, const char *src)
{
    ipp_error_t err;
    ipp_buf_t arg = {src, strlen(src), NULL, NULL};
    ipp_ar_t *ar = ipp_view_apply(v, "py.execute", &arg, 1, NULL, &err);
    ck_assert_msg(ar != NULL, "%s", err.msg);
    return ar;
}

START_TEST(test_python_end_to_end)
{
    h_up(&C, &K, 2, NULL);
    ipp_client_t *c = t_connect();
    ipp_error_t err;
    ipp_view_t *dv = ipp_client_direct_view(c, NULL, 0, &err);
    ck_assert_ptr_nonnull(dv);

    // execute on both engines: the namespace gets c, stdout is recorded
    ipp_ar_t *ar = t_execute(dv, "c = 10\nprint('c is', c)\n");
    ck_assert_msg(ipp_ar_get(ar, 60, &err) == IPP_OK, "%s", err.msg);
    ipp_metadata_t md;
    for (size_t i = 0; i < 2; i++) {
        ck_assert_int_eq(ipp_ar_metadata(ar, i, &md), IPP_OK);
        ck_assert_uint_eq(md.stdout_len, 8);
        ck_assert(memcmp(md.stdout_data, "c is 10\n", 8) == 0);
    }
    ipp_ar_destroy(&ar);

    // apply of a lambda that reads it, as in the seeds: [20, 20]
    t_parts_t p = {0};
    t_make("import os\n"
           "out('a', call(lambda x: (c * x, os.getpid() > 0), 2))\n",
           &p);
    ar = ipp_view_apply(dv, "py.apply", p.v, p.n, NULL, &err);
    ck_assert_ptr_nonnull(ar);
    ck_assert_msg(ipp_ar_get(ar, 60, &err) == IPP_OK, "%s", err.msg);
    for (size_t i = 0; i < 2; i++) {
        ck_assert_int_eq(ipp_ar_metadata(ar, i, &md), IPP_OK);
        ck_assert_ptr_nonnull(md.summary);
        ck_assert_str_eq(md.summary, "(20, True)");
    }
    t_save(ar, 0, "r");
    ck_assert_int_eq(t_python("assert value('r') == (20, True)\n"), 0);
    char id[IPP_MSGID_LEN + 1];
    snprintf(id, sizeof id, "%s", ipp_ar_msg_id(ar, 0));
    ipp_ar_destroy(&ar);
    t_parts_free(&p);

    // the record: summary in the task row and through both tools
    char sql[256], text[4096];
    snprintf(sql, sizeof sql, "SELECT execute_result FROM tasks WHERE msg_id = '%s'", id);
    ck_assert(h_db_text(&C, sql, text, sizeof text));
    ck_assert_str_eq(text, "(20, True)");
    char cmd[1024];
    int st;
    snprintf(cmd, sizeof cmd, "%s --json get %s", IPP_QUERY_BIN, id);
    t_run(cmd, text, sizeof text, &st);
    ck_assert_msg(st == 0, "ipp-query get: %d: %s", st, text);
    ck_assert_msg(strstr(text, "\"summary\": \"(20, True)\"") ||
                      strstr(text, "\"summary\":\"(20, True)\""),
                  "%s", text);
    snprintf(cmd, sizeof cmd, "%s result %s", IPP_CLI_BIN, id);
    t_run(cmd, text, sizeof text, &st);
    ck_assert_msg(st == 0, "ipp result: %d: %s", st, text);
    ck_assert_msg(strstr(text, "--- result (summary; 1 buffer in --json)\n(20, True)\n"), "%s",
                  text);

    // an exception: RemoteError with the traceback, recorded as such
    ar = t_execute(dv, "import sys\nprint('oops', file=sys.stderr)\n"
                       "def f():\n    raise ValueError('no good')\nf()\n");
    ck_assert_int_ne(ipp_ar_get(ar, 60, &err), IPP_OK);
    ck_assert_int_eq(ipp_ar_metadata(ar, 0, &md), IPP_OK);
    ck_assert_ptr_nonnull(md.error);
    ck_assert_str_eq(md.error->ename, "ValueError");
    ck_assert_str_eq(md.error->evalue, "no good");
    bool in_f = false;
    for (size_t k = 0; k < md.error->n_traceback; k++)
        in_f = in_f || strstr(md.error->traceback[k], "line 4, in f");
    ck_assert(in_f);
    ck_assert_uint_eq(md.stderr_len, 5);
    ck_assert(memcmp(md.stderr_data, "oops\n", 5) == 0);
    snprintf(id, sizeof id, "%s", ipp_ar_msg_id(ar, 0));
    ipp_ar_destroy(&ar);
    snprintf(cmd, sizeof cmd, "%s --json get %s", IPP_QUERY_BIN, id);
    t_run(cmd, text, sizeof text, &st);
    ck_assert_int_eq(st, 1);  // a failed task
    ck_assert_msg(strstr(text, "ValueError: no good") && strstr(text, "line 4, in f") &&
                      strstr(text, "oops"),
                  "%s", text);

    ipp_view_destroy(&dv);
    ipp_client_destroy(&c);
    h_down(&C, &K);
}
END_TEST

START_TEST(test_python_stops)
{
    // short heartbeats: a Python call longer than period x misses must not
    // cost its engine
    const char *ctl[] = {"--heartbeat-period", "0.2", "--heartbeat-misses", "3", NULL};
    h_up(&C, &K, 1, ctl);
    ipp_client_t *c = t_connect();
    ipp_error_t err;
    int target = 0;
    ipp_view_t *dv = ipp_client_direct_view(c, &target, 1, &err);
    ck_assert_ptr_nonnull(dv);

    ipp_ar_t *ar = t_execute(dv, "import time\nkept = 'yes'\ntime.sleep(2)\nprint('slept')\n");
    ck_assert_msg(ipp_ar_get(ar, 60, &err) == IPP_OK, "%s", err.msg);
    ipp_metadata_t md;
    ck_assert_int_eq(ipp_ar_metadata(ar, 0, &md), IPP_OK);
    ck_assert_int_eq(md.engine_id, 0);
    ipp_ar_destroy(&ar);

    // a wall-time limit on the call
    const char *src = "import time\ntime.sleep(100)\n";
    ipp_buf_t arg = {src, strlen(src), NULL, NULL};
    ipp_task_t t = {.kind = IPP_TASK_CALL,
                    .function = "py.execute",
                    .args = &arg,
                    .n_args = 1,
                    .wall_limit = 0.5};
    ar = ipp_view_submit(dv, &t, NULL, &err);
    ck_assert_ptr_nonnull(ar);
    ck_assert_int_ne(ipp_ar_get(ar, 60, &err), IPP_OK);
    ck_assert_int_eq(ipp_ar_metadata(ar, 0, &md), IPP_OK);
    ck_assert_ptr_nonnull(md.error);
    ck_assert_str_eq(md.error->ename, "WallTimeExceeded");
    ipp_ar_destroy(&ar);

    // abort of a running Python task, once it shows it runs
    char marker[700], code[1024];
    snprintf(marker, sizeof marker, "%s/running", C.dir);
    snprintf(code, sizeof code, "import time\nopen('%s', 'w').close()\nwhile True:\n    pass\n",
             marker);
    ar = t_execute(dv, code);
    for (int i = 0; i < 60000 && access(marker, F_OK) != 0; i++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    ck_assert_int_eq(access(marker, F_OK), 0);
    ck_assert_int_eq(ipp_ar_abort(ar, NULL, &err), IPP_OK);
    ck_assert_int_ne(ipp_ar_get(ar, 60, &err), IPP_OK);
    ck_assert_int_eq(ipp_ar_metadata(ar, 0, &md), IPP_OK);
    ck_assert_int_eq(md.status, IPP_STATUS_ABORTED);
    ck_assert_str_eq(md.error->ename, "TaskAborted");
    ipp_ar_destroy(&ar);

    // the namespace survived both stops
    ar = t_execute(dv, "print(kept)\n");
    ck_assert_msg(ipp_ar_get(ar, 60, &err) == IPP_OK, "%s", err.msg);
    ck_assert_int_eq(ipp_ar_metadata(ar, 0, &md), IPP_OK);
    ck_assert_uint_eq(md.stdout_len, 4);
    ck_assert(memcmp(md.stdout_data, "yes\n", 4) == 0);
    ipp_ar_destroy(&ar);

    // the interpreter killed mid-task: that task fails, the engine stays
    ar = t_execute(dv, "import os\nos.kill(os.getpid(), 9)\n");
    ck_assert_int_ne(ipp_ar_get(ar, 60, &err), IPP_OK);
    ck_assert_int_eq(ipp_ar_metadata(ar, 0, &md), IPP_OK);
    ck_assert_str_eq(md.error->ename, "InterpreterDied");
    ck_assert_int_eq(md.engine_id, 0);
    ipp_ar_destroy(&ar);
    ar = t_execute(dv, "print('kept' in globals())\n");
    ck_assert_msg(ipp_ar_get(ar, 60, &err) == IPP_OK, "%s", err.msg);
    ck_assert_int_eq(ipp_ar_metadata(ar, 0, &md), IPP_OK);
    ck_assert(md.stdout_len == 6 && memcmp(md.stdout_data, "False\n", 6) == 0);
    ipp_ar_destroy(&ar);

    ipp_view_destroy(&dv);
    ipp_client_destroy(&c);
    h_down(&C, &K);
}
END_TEST

START_TEST(test_no_python_engine)
{
    // --no-python: the py.* functions are not there; a Python task gets
    // the engine's answer to any unknown function
    h_cluster_init(&C);
    h_controller_start(&C, NULL);
    const char *args[] = {"--no-python", NULL};
    h_engine_start(&C, args);
    h_client_open(&K, &C);
    ck_assert(h_wait_engines(&K, 1, 15000));
    ipp_client_t *c = t_connect();
    ipp_error_t err;
    ipp_view_t *dv = ipp_client_direct_view(c, NULL, 0, &err);
    ipp_ar_t *ar = t_execute(dv, "x = 1\n");
    ck_assert_int_ne(ipp_ar_get(ar, 60, &err), IPP_OK);
    ipp_metadata_t md;
    ck_assert_int_eq(ipp_ar_metadata(ar, 0, &md), IPP_OK);
    ck_assert_str_eq(md.error->ename, "NameError");
    ipp_ar_destroy(&ar);
    ipp_view_destroy(&dv);
    ipp_client_destroy(&c);
    h_down(&C, &K);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("python");
    TCase *tc = tcase_create("python");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_python_end_to_end);
    tcase_add_test(tc, test_python_stops);
    tcase_add_test(tc, test_no_python_engine);
    suite_add_tcase(s, tc);
    return h_main(s);
}
