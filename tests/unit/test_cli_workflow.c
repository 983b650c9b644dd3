/* test_cli_workflow.c — the workflow-file checker of `ipp dag` on its own:
 * field parsing, every kind of error, topological order, cycles found
 * and printed, and inputs large enough that a recursive walk would
 * overflow the stack. No processes; runs in well under a second.
 */
#include "tools/ipp/workflow.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// s_parse: wf_parse on text; *errors set (caller frees) on failure.
static wf_t *s_parse(const char *text, char **errors)
{
    return wf_parse(text, strlen(text), "t.json", errors);
}

// s_pos: position of node i in wf->order.
static size_t s_pos(const wf_t *wf, size_t i)
{
    for (size_t k = 0; k < wf->n; k++)
        if (wf->order[k] == i)
            return k;
    ck_abort_msg("node %zu not in the order", i);
    return 0;
}

START_TEST(test_fields)
{
    char *errors = NULL;
    wf_t *wf = s_parse("{\"description\": \"d\", \"tasks\": {"
                       "\"a\": {\"cmd\": [\"echo\", \"x y\"], \"env\": {\"K\": \"v=1\"}, "
                       "\"cwd\": \"/tmp\", \"wall_limit\": 2.5, \"timeout\": 3, \"retries\": 2},"
                       "\"b\": {\"call\": \"echo\", \"args\": [\"p\", \"\"], \"requires\": "
                       "[\"fn:echo\"], \"targets\": [1, 0]},"
                       "\"c\": {\"shell\": \"true\", \"after\": {\"ids\": [\"a\", \"b\"], "
                       "\"all\": false, \"success\": false, \"failure\": true}, "
                       "\"follow\": [\"a\"]}}}",
                       &errors);
    ck_assert_msg(wf, "%s", errors);
    ck_assert_uint_eq(wf->n, 3);
    const wf_node_t *a = &wf->nodes[0], *b = &wf->nodes[1], *c = &wf->nodes[2];
    ck_assert_str_eq(a->name, "a");
    ck_assert_int_eq(a->kind, IPP_TASK_ARGV);
    ck_assert_uint_eq(a->argc, 2);
    ck_assert_str_eq(a->argv[1], "x y");
    ck_assert_ptr_null(a->argv[2]);
    ck_assert_uint_eq(a->n_env, 1);
    ck_assert_str_eq(a->env[0], "K=v=1");
    ck_assert_str_eq(a->cwd, "/tmp");
    ck_assert(a->wall_limit == 2.5 && a->timeout == 3);
    ck_assert_int_eq(a->retries, 2);
    ck_assert_int_eq(b->kind, IPP_TASK_CALL);
    ck_assert_str_eq(b->call, "echo");
    ck_assert_uint_eq(b->n_args, 2);
    ck_assert_str_eq(b->args[1], "");
    ck_assert_str_eq(b->requires[0], "fn:echo");
    ck_assert_uint_eq(b->n_targets, 2);
    ck_assert_int_eq(b->targets[0], 1);
    ck_assert_int_eq(c->kind, IPP_TASK_SHELL);
    ck_assert_uint_eq(c->after.n, 2);
    ck_assert(!c->after.all && !c->after.success && c->after.failure);
    ck_assert_uint_eq(c->follow.n, 1);
    ck_assert(c->follow.all && c->follow.success && !c->follow.failure);
    ck_assert_int_eq(wf_find(wf, "c"), 2);
    ck_assert_int_eq(wf_find(wf, "zz"), -1);
    ck_assert_uint_lt(s_pos(wf, 0), s_pos(wf, 2));
    ck_assert_uint_lt(s_pos(wf, 1), s_pos(wf, 2));
    wf_destroy(&wf);
    ck_assert_ptr_null(wf);
    wf_destroy(&wf);  // NULL-safe
}
END_TEST

START_TEST(test_errors)
{
    static const struct {
        const char *text;
        const char *expect;
    } cases[] = {
        {"", "not valid JSON"},
        {"{\"tasks\": ", "not valid JSON"},
        {"null", "must be a JSON object"},
        {"{}", "no 'tasks'"},
        {"{\"tasks\": []}", "field 'tasks': must be an object"},
        {"{\"tasks\": {\"a\": 5}}", "node 'a': must be an object, not an integer"},
        {"{\"tasks\": {\"\": {\"shell\": \"x\"}}}", "node '': a name is"},
        {"{\"tasks\": {\"a/b\": {\"shell\": \"x\"}}}", "node 'a/b': a name is"},
        {"{\"tasks\": {\"a\": {\"cmd\": []}}}", "field 'cmd': must not be empty"},
        {"{\"tasks\": {\"a\": {\"cmd\": [\"\"]}}}", "the program name is empty"},
        {"{\"tasks\": {\"a\": {\"cmd\": [\"x\", 2]}}}", "item 2 must be a string, not an integer"},
        {"{\"tasks\": {\"a\": {\"shell\": 1}}}", "field 'shell': must be a string"},
        {"{\"tasks\": {\"a\": {\"call\": \"\"}}}", "field 'call': must not be empty"},
        {"{\"tasks\": {\"a\": {\"cmd\": [\"x\"], \"shell\": \"y\", \"call\": \"z\"}}}",
         "has 'cmd', 'shell' and 'call'"},
        {"{\"tasks\": {\"a\": {\"shell\": \"y\", \"call\": \"z\"}}}", "has 'shell' and 'call'"},
        {"{\"tasks\": {\"a\": {\"shell\": \"y\", \"args\": [\"z\"]}}}", "only a 'call' takes args"},
        {"{\"tasks\": {\"a\": {\"call\": \"y\", \"env\": {}}}}",
         "only commands (cmd, shell) take env"},
        {"{\"tasks\": {\"a\": {\"shell\": \"y\", \"env\": {\"A\": 1}}}}",
         "field 'env.A': must be a string"},
        {"{\"tasks\": {\"a\": {\"shell\": \"y\", \"env\": {\"A=B\": \"c\"}}}}",
         "is not a variable name"},
        {"{\"tasks\": {\"a\": {\"shell\": \"y\", \"env\": [\"A=B\"]}}}",
         "field 'env': must be an object"},
        {"{\"tasks\": {\"a\": {\"call\": \"y\", \"cwd\": \"/\"}}}",
         "only commands (cmd, shell) take cwd"},
        {"{\"tasks\": {\"a\": {\"shell\": \"y\", \"cwd\": \"\"}}}",
         "field 'cwd': must be a folder path"},
        {"{\"tasks\": {\"a\": {\"shell\": \"y\", \"timeout\": -2}}}",
         "field 'timeout': must be between"},
        {"{\"tasks\": {\"a\": {\"shell\": \"y\", \"timeout\": true}}}",
         "must be a number of seconds, not a boolean"},
        {"{\"tasks\": {\"a\": {\"shell\": \"y\", \"retries\": 1.5}}}", "field 'retries'"},
        {"{\"tasks\": {\"a\": {\"shell\": \"y\", \"retries\": 101}}}", "from 0 to 100"},
        {"{\"tasks\": {\"a\": {\"shell\": \"y\", \"requires\": \"fn:x\"}}}",
         "field 'requires': must be a list"},
        {"{\"tasks\": {\"a\": {\"shell\": \"y\", \"requires\": [\"\"]}}}",
         "field 'requires': item 1 is empty"},
        {"{\"tasks\": {\"a\": {\"shell\": \"y\", \"targets\": [-1]}}}", "field 'targets': item 1"},
        {"{\"tasks\": {\"a\": {\"shell\": \"y\", \"targets\": 0}}}",
         "field 'targets': must be a list"},
        {"{\"tasks\": {\"a\": {\"shell\": \"y\", \"after\": \"b\"}}}",
         "field 'after': must be a list of node names or an object"},
        {"{\"tasks\": {\"a\": {\"shell\": \"y\", \"after\": [1]}}}",
         "field 'after': item 1 must be a node name"},
        {"{\"tasks\": {\"a\": {\"shell\": \"y\"}, \"b\": {\"shell\": \"y\", \"after\": [\"a\", \"a\"]}}}",
         "node 'a' is listed twice"},
        {"{\"tasks\": {\"a\": {\"shell\": \"y\"}, \"b\": {\"shell\": \"y\", \"follow\": {\"all\": true}}}}",
         "field 'follow': the object needs 'ids'"},
        {"{\"tasks\": {\"a\": {\"shell\": \"y\"}, \"b\": {\"shell\": \"y\", \"after\": {\"ids\": [\"a\"], \"any\": true}}}}",
         "unknown key 'any'"},
        {"{\"tasks\": {\"a\": {\"shell\": \"y\"}, \"b\": {\"shell\": \"y\", \"after\": {\"ids\": [\"a\"], \"success\": false}}}}",
         "could never run"},
        {"{\"tasks\": {\"a\": {\"shell\": \"y\"}, \"b\": {\"shell\": \"y\", \"after\": {\"ids\": \"a\"}}}}",
         "field 'after.ids': must be a list"},
        {"{\"tasks\": {\"a\": {\"shell\": \"y\"}}, \"description\": 3}",
         "field 'description': must be a string"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *errors = NULL;
        wf_t *wf = s_parse(cases[i].text, &errors);
        ck_assert_msg(!wf, "case %zu accepted: %s", i, cases[i].text);
        ck_assert_ptr_nonnull(errors);
        ck_assert_msg(strstr(errors, cases[i].expect), "case %zu: '%s' not in:\n%s", i,
                      cases[i].expect, errors);
        ck_assert_msg(strncmp(errors, "t.json: ", 8) == 0, "case %zu: %s", i, errors);
        free(errors);
    }
}
END_TEST

START_TEST(test_many_errors_capped)
{
    // 300 nodes each with an unknown dependency: reported up to the cap.
    size_t cap = 300 * 80 + 64;
    char *text = malloc(cap);
    size_t len = (size_t)snprintf(text, cap, "{\"tasks\": {");
    for (int i = 0; i < 300; i++)
        len += (size_t)snprintf(text + len, cap - len,
                                "%s\"n%d\": {\"shell\": \"x\", \"after\": [\"m%d\"]}", i ? "," : "",
                                i, i);
    snprintf(text + len, cap - len, "}}");
    char *errors = NULL;
    wf_t *wf = s_parse(text, &errors);
    ck_assert_ptr_null(wf);
    ck_assert_msg(strstr(errors, "unknown node 'm0'"), "%s", errors);
    ck_assert_msg(strstr(errors, "... and 250 more problems"), "%s", errors);
    free(errors);
    free(text);
}
END_TEST

START_TEST(test_control_characters_in_names)
{
    // Names and keys are the user's text: a newline or an escape in one
    // must neither split a problem over two lines nor reach the terminal.
    char *errors = NULL;
    wf_t *wf = s_parse("{\"tasks\": {\"a\\nb\": {\"shell\": \"x\", \"col\\u001b[2Jour\": 1,"
                       " \"after\": [\"no\\rpe\"]}}, \"ex\\ttra\": 1}",
                       &errors);
    ck_assert_ptr_null(wf);
    ck_assert_ptr_nonnull(errors);
    ck_assert_msg(!strchr(errors, '\033') && !strchr(errors, '\r') && !strchr(errors, '\t'), "%s",
                  errors);
    size_t lines = 0;
    for (const char *p = errors; *p; lines++) {
        ck_assert_msg(strncmp(p, "t.json: ", 8) == 0, "a line not naming the file in:\n%s", errors);
        const char *nl = strchr(p, '\n');
        ck_assert_ptr_nonnull(nl);
        p = nl + 1;
    }
    ck_assert_uint_eq(lines, 4);  // bad name, unknown field, unknown node, unknown top-level
    ck_assert_msg(strstr(errors, "node 'a?b'"), "%s", errors);
    free(errors);
}
END_TEST

START_TEST(test_order_parents_first)
{
    // Children listed before their parents: node i waits for i+1 and i+7.
    enum { N = 2000 };
    size_t cap = (size_t)N * 80 + 64;
    char *text = malloc(cap);
    size_t len = (size_t)snprintf(text, cap, "{\"tasks\": {");
    for (int i = 0; i < N; i++) {
        len += (size_t)snprintf(text + len, cap - len, "%s\"n%d\": {\"shell\": \"x\"", i ? "," : "",
                                i);
        if (i + 7 < N)
            len += (size_t)snprintf(text + len, cap - len, ", \"after\": [\"n%d\", \"n%d\"]", i + 1,
                                    i + 7);
        else if (i + 1 < N)
            len += (size_t)snprintf(text + len, cap - len, ", \"follow\": [\"n%d\"]", i + 1);
        len += (size_t)snprintf(text + len, cap - len, "}");
    }
    snprintf(text + len, cap - len, "}}");
    char *errors = NULL;
    wf_t *wf = s_parse(text, &errors);
    ck_assert_msg(wf, "%s", errors);
    size_t *pos = calloc(N, sizeof *pos);
    for (size_t k = 0; k < wf->n; k++)
        pos[wf->order[k]] = k;
    for (size_t i = 0; i < N; i++) {
        const wf_dep_t *deps[2] = {&wf->nodes[i].after, &wf->nodes[i].follow};
        for (int d = 0; d < 2; d++)
            for (size_t k = 0; k < deps[d]->n; k++)
                ck_assert_uint_lt(pos[deps[d]->nodes[k]], pos[i]);
    }
    ck_assert_uint_eq(wf->order[0], N - 1);
    free(pos);
    wf_destroy(&wf);
    free(text);
}
END_TEST

START_TEST(test_cycles)
{
    char *errors = NULL;
    // Through follow as well as after; d only hangs off the cycle.
    wf_t *wf = s_parse("{\"tasks\": {\"d\": {\"shell\": \"x\", \"after\": [\"b\"]},"
                       "\"a\": {\"shell\": \"x\", \"follow\": [\"c\"]},"
                       "\"b\": {\"shell\": \"x\", \"after\": [\"a\"]},"
                       "\"c\": {\"shell\": \"x\", \"after\": [\"b\"]}}}",
                       &errors);
    ck_assert_ptr_null(wf);
    ck_assert_msg(strstr(errors, "cycle: a -> b -> c -> a"), "%s", errors);
    ck_assert_msg(!strstr(errors, "d ->") && !strstr(errors, "-> d"), "%s", errors);
    free(errors);
    // A long chain closed at the end: found without deep recursion (a
    // recursive walk 50,000 deep would overflow a sanitized stack), and the
    // printed cycle is shortened rather than overflowing.
    enum { N = 50000, N2 = 20000 };
    size_t cap = (size_t)N * 64 + 64;
    char *text = malloc(cap);
    size_t len = (size_t)snprintf(text, cap, "{\"tasks\": {");
    for (int i = 0; i < N; i++)
        len += (size_t)snprintf(text + len, cap - len,
                                "%s\"n%d\": {\"cmd\": [\"x\"], \"after\": [\"n%d\"]}", i ? "," : "",
                                i, (i + 1) % N);
    snprintf(text + len, cap - len, "}}");
    wf = s_parse(text, &errors);
    ck_assert_ptr_null(wf);
    ck_assert_msg(strstr(errors, "dependency cycle: n0 -> "), "%.300s", errors);
    ck_assert_msg(strstr(errors, "..."), "%.300s", errors);
    free(errors);
    // A chain without the closing edge is a valid workflow.
    len = (size_t)snprintf(text, cap, "{\"tasks\": {");
    for (int i = 0; i < N2; i++) {
        if (i + 1 < N2)
            len += (size_t)snprintf(text + len, cap - len,
                                    "%s\"n%d\": {\"cmd\": [\"x\"], \"after\": [\"n%d\"]}",
                                    i ? "," : "", i, i + 1);
        else
            len += (size_t)snprintf(text + len, cap - len, ",\"n%d\": {\"cmd\": [\"x\"]}", i);
    }
    snprintf(text + len, cap - len, "}}");
    wf = s_parse(text, &errors);
    ck_assert_msg(wf, "%.300s", errors);
    ck_assert_uint_eq(wf->order[0], N2 - 1);
    ck_assert_uint_eq(wf->order[N2 - 1], 0);
    wf_destroy(&wf);
    free(text);
}
END_TEST

START_TEST(test_files_and_prefixes)
{
    char buf[64];
    ck_assert_str_eq(wf_prefix_of("/a/b/night.ly.json", buf, sizeof buf), "night.ly");
    ck_assert_str_eq(wf_prefix_of("flow", buf, sizeof buf), "flow");
    ck_assert_str_eq(wf_prefix_of(".hidden", buf, sizeof buf), ".hidden");
    ck_assert(wf_valid_prefix("nightly/2024-01_a.b"));
    ck_assert(!wf_valid_prefix(""));
    ck_assert(!wf_valid_prefix("/x"));
    ck_assert(!wf_valid_prefix("x/"));
    ck_assert(!wf_valid_prefix("a*"));
    ck_assert(!wf_valid_prefix("a b"));
    ck_assert(!wf_valid_prefix("a[1]"));
    char *errors = NULL;
    ck_assert_ptr_null(wf_load("/nonexistent/flow.json", &errors));
    ck_assert_msg(strstr(errors, "/nonexistent/flow.json: cannot open"), "%s", errors);
    free(errors);
    ck_assert_ptr_null(wf_load("/", &errors));
    ck_assert_msg(strstr(errors, "cannot read"), "%s", errors);
    free(errors);
    char path[] = "/tmp/ipp-wf-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    const char body[] = "{\"tasks\": {\"only\": {\"shell\": \"true\"}}}";
    ck_assert_int_eq(write(fd, body, sizeof body - 1), (ssize_t)sizeof body - 1);
    close(fd);
    wf_t *wf = wf_load(path, &errors);
    unlink(path);
    ck_assert_msg(wf, "%s", errors);
    ck_assert_str_eq(wf->nodes[0].shell, "true");
    wf_destroy(&wf);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cli_workflow");
    TCase *tc = tcase_create("workflow");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_fields);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_many_errors_capped);
    tcase_add_test(tc, test_control_characters_in_names);
    tcase_add_test(tc, test_order_parents_first);
    tcase_add_test(tc, test_cycles);
    tcase_add_test(tc, test_files_and_prefixes);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
