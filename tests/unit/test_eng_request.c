/* test_eng_request.c — unit tests of the TaskRequest translations: a
 * command task with every field, and with more environment variables
 * than any fixed table would hold, run for real through the runner; a
 * task's frames as spans.
 */
#include "engine/request.h"
#include "engine/runner.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// t_run: run cmd to the end (30 s at most); its stdout into out (cap).
static void t_run(const eng_command_t *cmd, char *out, size_t cap)
{
    eng_runner_t *r = eng_runner_new(cmd, NULL);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(eng_runner_wait(r, 30 * 1000000), IPP_OK);
    const eng_result_t *res = eng_runner_result(r);
    ck_assert_ptr_nonnull(res);
    ck_assert_msg(res->status == ENG_STATUS_OK, "%s: %s", res->ename,
                  res->evalue ? res->evalue : "");
    size_t n = res->stdout_data.len < cap - 1 ? res->stdout_data.len : cap - 1;
    if (n)
        memcpy(out, res->stdout_data.data, n);
    out[n] = '\0';
    eng_runner_destroy(&r);
}

START_TEST(test_command_fields)
{
    Ipp__Command c = IPP__COMMAND__INIT;
    char *argv[] = {"first", "second"};
    c.shell = "read line; printf '%s %s %s %s' \"$0\" \"$1\" \"$line\" \"$(pwd)\"";
    c.argv = argv;
    c.n_argv = 2;
    c.cwd = "/";
    c.has_stdin_data = 1;
    c.stdin_data.data = (uint8_t *)"from stdin\n";
    c.stdin_data.len = strlen("from stdin\n");
    c.has_wall_limit_us = 1;
    c.wall_limit_us = 20 * 1000000;
    eng_request_cmd_t rc;
    ck_assert_int_eq(eng_request_command(&c, 4096, &rc), IPP_OK);
    ck_assert_int_eq(rc.cmd.wall_limit_us, 20 * 1000000);
    ck_assert_uint_eq(rc.cmd.stdout_limit, 4096);
    ck_assert_uint_eq(rc.cmd.stderr_limit, 4096);
    char out[256];
    t_run(&rc.cmd, out, sizeof out);
    ck_assert_str_eq(out, "first second from stdin /");
    eng_request_command_fini(&rc);
    eng_request_command_fini(&rc);  // idempotent
    ck_assert_ptr_null(rc.env);
}
END_TEST

START_TEST(test_many_env_vars)
{
    enum { N = 300 };
    Ipp__EnvVar vars[N], *ptrs[N];
    char names[N][16], values[N][16];
    for (int i = 0; i < N; i++) {
        ipp__env_var__init(&vars[i]);
        snprintf(names[i], sizeof names[i], "IPP_T_V%d", i);
        snprintf(values[i], sizeof values[i], "v%d", i);
        vars[i].name = names[i];
        vars[i].value = values[i];
        ptrs[i] = &vars[i];
    }
    Ipp__Command c = IPP__COMMAND__INIT;
    c.shell = "printf '%s %s %s %s' \"$IPP_T_V0\" \"$IPP_T_V63\" \"$IPP_T_V64\" \"$IPP_T_V299\"";
    c.env = ptrs;
    c.n_env = N;
    eng_request_cmd_t rc;
    ck_assert_int_eq(eng_request_command(&c, 0, &rc), IPP_OK);
    ck_assert_uint_eq(rc.cmd.nenv, N);
    char out[256];
    t_run(&rc.cmd, out, sizeof out);
    ck_assert_str_eq(out, "v0 v63 v64 v299");
    eng_request_command_fini(&rc);
}
END_TEST

// t_frames: n frames, frame i holding i + 1 bytes of 'a' + i.
static void t_frames(zmq_msg_t *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(zmq_msg_init_size(&m[i], i + 1), 0);
        memset(zmq_msg_data(&m[i]), 'a' + (int)i, i + 1);
    }
}

START_TEST(test_spans)
{
    // none, a few (inline) and many (on the heap)
    const size_t counts[] = {0, 3, 8, 9, 20};
    for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++) {
        size_t n = counts[k];
        zmq_msg_t m[20];
        t_frames(m, n);
        eng_spans_t s;
        ck_assert_int_eq(eng_spans_init(&s, m, n), IPP_OK);
        ck_assert_uint_eq(s.n, n);
        ck_assert(n > 8 ? s.v != s.small : s.v == s.small);
        for (size_t i = 0; i < n; i++) {
            ck_assert_ptr_eq(s.v[i].data, zmq_msg_data(&m[i]));
            ck_assert_uint_eq(s.v[i].len, i + 1);
            ck_assert_int_eq(((const char *)s.v[i].data)[i], 'a' + (int)i);
        }
        eng_spans_fini(&s);
        eng_spans_fini(&s);  // idempotent
        ck_assert_uint_eq(s.n, 0);
        for (size_t i = 0; i < n; i++)
            zmq_msg_close(&m[i]);
    }
}
END_TEST

static Suite *s_suite(void)
{
    Suite *s = suite_create("eng_request");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_command_fields);
    tcase_add_test(tc, test_many_env_vars);
    tcase_add_test(tc, test_spans);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    SRunner *sr = srunner_create(s_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
