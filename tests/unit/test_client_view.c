/* test_client_view.c — libipp's views: the partition function (pure),
 * scatter/gather and direct map placement, load-balanced flags per view
 * and per call as they appear in TASK_REQUEST, commands, push/pull, bad
 * arguments refused before anything is sent (and handed-over buffers
 * released), and many tasks submitted without waiting on any reply.
 */
#include "test_client_peer.h"

#include "proto/clock.h"
#include "proto/codec.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const int s_three[] = {0, 1, 2};

// ------------------------------------------------------------ partition

START_TEST(test_partition)
{
    size_t lo, hi;
    // 10 over 3: 4, 3, 3.
    ipp_partition(10, 3, 0, &lo, &hi);
    ck_assert_uint_eq(lo, 0);
    ck_assert_uint_eq(hi, 4);
    ipp_partition(10, 3, 1, &lo, &hi);
    ck_assert_uint_eq(lo, 4);
    ck_assert_uint_eq(hi, 7);
    ipp_partition(10, 3, 2, &lo, &hi);
    ck_assert_uint_eq(lo, 7);
    ck_assert_uint_eq(hi, 10);
    // 2 over 4: 1, 1, 0, 0.
    ipp_partition(2, 4, 1, &lo, &hi);
    ck_assert_uint_eq(lo, 1);
    ck_assert_uint_eq(hi, 2);
    ipp_partition(2, 4, 3, &lo, &hi);
    ck_assert_uint_eq(lo, 2);
    ck_assert_uint_eq(hi, 2);
    // 16 over 4: the seeds' example, [0..4) [4..8) [8..12) [12..16).
    ipp_partition(16, 4, 3, &lo, &hi);
    ck_assert_uint_eq(lo, 12);
    ck_assert_uint_eq(hi, 16);
    // Degenerate: no parts, part out of range, nothing to split.
    ipp_partition(5, 0, 0, &lo, &hi);
    ck_assert_uint_eq(hi - lo, 0);
    ipp_partition(5, 2, 2, &lo, &hi);
    ck_assert_uint_eq(hi - lo, 0);
    ipp_partition(0, 3, 1, &lo, &hi);
    ck_assert_uint_eq(lo, 0);
    ck_assert_uint_eq(hi, 0);
    // Every n and parts: contiguous, covering, sizes n/parts(+1), the
    // larger ones first.
    for (size_t n = 0; n <= 60; n++) {
        for (size_t parts = 1; parts <= 13; parts++) {
            size_t at = 0;
            for (size_t p = 0; p < parts; p++) {
                ipp_partition(n, parts, p, &lo, &hi);
                ck_assert_uint_eq(lo, at);
                size_t want = n / parts + (p < n % parts ? 1 : 0);
                ck_assert_uint_eq(hi - lo, want);
                at = hi;
            }
            ck_assert_uint_eq(at, n);
        }
    }
}
END_TEST

// ------------------------------------------------------- scatter, gather

static const char *s_items[] = {"a", "bb", "ccc", "", "eeeee", "f", "gg"};

static void s_script_scatter(peer_t *p)
{
    if (!peer_handshake(p, s_three, 3))
        return;
    wire_msg_t m;
    wire_msg_init(&m);
    // 7 items over 3 engines: [0,3) [3,5) [5,7).
    const char *parts[] = {"abbccc", "eeeee", "fgg"};
    for (int i = 0; i < 3; i++) {
        if (!peer_expect(p, &m, IPP__MSG_TYPE__TASK_REQUEST, 5000))
            goto out;
        const Ipp__TaskRequest *q = (const Ipp__TaskRequest *)m.content;
        PEER_REQUIRE(p,
                     q->kind_case == IPP__TASK_REQUEST__KIND_NS &&
                         q->ns->op == IPP__NAMESPACE_OP__OP__PUSH && q->ns->n_keys == 1 &&
                         strcmp(q->ns->keys[0], "data") == 0,
                     "push of key data");
        PEER_REQUIRE(p,
                     q->queue == IPP__QUEUE__QUEUE_MUX && q->n_targets == 1 && q->targets[0] == i,
                     "part %d to engine %d", i, i);
        PEER_REQUIRE(p, wire_msg_n_buffers(&m) == 1 && peer_buf_is(&m, 0, parts[i]),
                     "part %d bytes", i);
        peer_accept(p, &m);
        peer_result(p, m.header->msg_id, IPP__STATUS__OK, i, NULL, 0, 0);
    }
    // gather: a pull of the key on each engine, in order.
    for (int i = 0; i < 3; i++) {
        if (!peer_expect(p, &m, IPP__MSG_TYPE__TASK_REQUEST, 5000))
            goto out;
        const Ipp__TaskRequest *q = (const Ipp__TaskRequest *)m.content;
        PEER_REQUIRE(p,
                     q->kind_case == IPP__TASK_REQUEST__KIND_NS &&
                         q->ns->op == IPP__NAMESPACE_OP__OP__PULL && q->ns->n_keys == 1 &&
                         strcmp(q->ns->keys[0], "data") == 0 && q->targets[0] == i &&
                         wire_msg_n_buffers(&m) == 0,
                     "pull %d", i);
        peer_accept(p, &m);
        peer_result(p, m.header->msg_id, IPP__STATUS__OK, i, parts[i], 0, 0);
    }
out:
    wire_msg_fini(&m);
}

START_TEST(test_scatter_gather)
{
    peer_t p;
    peer_start(&p);
    peer_run(&p, s_script_scatter, NULL);
    ipp_client_t *c = peer_client(&p, 5);
    ipp_error_t err;
    ipp_view_t *dv = ipp_client_direct_view(c, NULL, 0, &err);
    ipp_buf_t items[7];
    for (int i = 0; i < 7; i++)
        items[i] = (ipp_buf_t){s_items[i], strlen(s_items[i]), NULL, NULL};
    ipp_ar_t *sc = ipp_view_scatter(dv, "data", items, 7, NULL, &err);
    ck_assert_msg(sc != NULL, "%s", err.msg);
    ck_assert_uint_eq(ipp_ar_len(sc), 3);
    ck_assert_int_eq(ipp_ar_get(sc, 5, &err), IPP_OK);
    ipp_ar_t *ga = ipp_view_gather(dv, "data", NULL, &err);
    void *all = NULL;
    size_t len = 0;
    ck_assert_int_eq(ipp_ar_concat(ga, 5, &all, &len, &err), IPP_OK);
    ck_assert_uint_eq(len, 14);
    ck_assert_int_eq(memcmp(all, "abbccceeeeefgg", 14), 0);
    free(all);
    peer_join(&p);
    ipp_ar_destroy(&ga);
    ipp_ar_destroy(&sc);
    ipp_view_destroy(&dv);
    ipp_client_destroy(&c);
    peer_stop(&p);
}
END_TEST

// ------------------------------------------------------------ direct map

static void s_script_direct_map(peer_t *p)
{
    const int ids[] = {4, 9};
    if (!peer_handshake(p, ids, 2))
        return;
    wire_msg_t m;
    wire_msg_init(&m);
    // 5 items over engines 4 and 9: 0,1,2 → 4; 3,4 → 9. One task each.
    const int where[] = {4, 4, 4, 9, 9};
    for (int i = 0; i < 5; i++) {
        if (!peer_expect(p, &m, IPP__MSG_TYPE__TASK_REQUEST, 5000))
            goto out;
        const Ipp__TaskRequest *q = (const Ipp__TaskRequest *)m.content;
        char want[8];
        snprintf(want, sizeof want, "x%d", i);
        PEER_REQUIRE(p,
                     q->kind_case == IPP__TASK_REQUEST__KIND_CALL &&
                         strcmp(q->call->function, "square") == 0,
                     "call");
        PEER_REQUIRE(p, q->n_targets == 1 && q->targets[0] == where[i], "item %d on %d", i,
                     where[i]);
        PEER_REQUIRE(
            p, wire_msg_n_buffers(&m) == 2 && peer_buf_is(&m, 0, want) && peer_buf_is(&m, 1, "k"),
            "item %d args", i);
        PEER_REQUIRE(p, q->label && strcmp(q->label, "sq") == 0, "label");
        peer_accept(p, &m);
        char out[8];
        snprintf(out, sizeof out, "y%d", i);
        peer_result(p, m.header->msg_id, IPP__STATUS__OK, where[i], out, 0, 0);
    }
out:
    wire_msg_fini(&m);
}

START_TEST(test_direct_map)
{
    peer_t p;
    peer_start(&p);
    peer_run(&p, s_script_direct_map, NULL);
    ipp_client_t *c = peer_client(&p, 5);
    ipp_error_t err;
    ipp_view_t *dv = ipp_client_direct_view(c, NULL, 0, &err);
    ipp_buf_t items[10];
    char names[5][4];
    for (int i = 0; i < 5; i++) {
        snprintf(names[i], sizeof names[i], "x%d", i);
        items[2 * i] = (ipp_buf_t){names[i], 2, NULL, NULL};
        items[2 * i + 1] = (ipp_buf_t){"k", 1, NULL, NULL};
    }
    ipp_flags_t f = {.set = IPP_FLAG_LABEL, .label = "sq"};
    ipp_ar_t *ar = ipp_view_map(dv, "square", items, 5, 2, &f, &err);
    ck_assert_msg(ar != NULL, "%s", err.msg);
    ck_assert_int_eq(ipp_ar_get(ar, 5, &err), IPP_OK);
    for (size_t i = 0; i < 5; i++) {
        size_t n;
        const ipp_buf_t *b = ipp_ar_result(ar, i, &n);
        char want[4];
        snprintf(want, sizeof want, "y%zu", i);
        ck_assert_int_eq(memcmp(b[0].data, want, 2), 0);
        ipp_metadata_t md;
        ipp_ar_metadata(ar, i, &md);
        ck_assert_str_eq(md.label, "sq");
    }
    peer_join(&p);
    ipp_ar_destroy(&ar);
    ipp_view_destroy(&dv);
    ipp_client_destroy(&c);
    peer_stop(&p);
}
END_TEST

// ----------------------------------------------- load-balanced flags

typedef struct {
    char dep_ids[2][40];  // the ids of the AsyncResult used as follow
} s_flags_state_t;

#define ID_X "018f0000-0000-7000-8000-0000000000aa"
#define ID_Y "018f0000-0000-7000-8000-0000000000bb"

static void s_script_flags(peer_t *p)
{
    s_flags_state_t *st = p->arg;
    if (!peer_handshake(p, s_three, 3))
        return;
    wire_msg_t m;
    wire_msg_init(&m);
    // Two plain tasks first: their ids become a follow dependency.
    for (int i = 0; i < 2; i++) {
        if (!peer_expect(p, &m, IPP__MSG_TYPE__TASK_REQUEST, 5000))
            goto out;
        snprintf(st->dep_ids[i], sizeof st->dep_ids[i], "%s", m.header->msg_id);
        peer_accept(p, &m);
    }
    // The view's flags (label v, retries 2, after X) with the call's on
    // top (label c, timeout 1.5 s, follow = that AsyncResult, failure
    // counts, targets [1], requires).
    if (!peer_expect(p, &m, IPP__MSG_TYPE__TASK_REQUEST, 5000))
        goto out;
    const Ipp__TaskRequest *q = (const Ipp__TaskRequest *)m.content;
    PEER_REQUIRE(p, q->queue == IPP__QUEUE__QUEUE_TASK, "queue");
    PEER_REQUIRE(p, q->label && strcmp(q->label, "c") == 0, "call label wins");
    PEER_REQUIRE(p, q->has_retries && q->retries == 2, "view retries");
    PEER_REQUIRE(p, q->has_timeout_us && q->timeout_us == 1500000, "timeout");
    PEER_REQUIRE(p,
                 q->after && q->after->n_ids == 2 && strcmp(q->after->ids[0], ID_X) == 0 &&
                     strcmp(q->after->ids[1], ID_Y) == 0 && q->after->has_all && !q->after->all &&
                     q->after->success && !q->after->failure,
                 "view after (any of X, Y)");
    PEER_REQUIRE(p,
                 q->follow && q->follow->n_ids == 2 &&
                     strcmp(q->follow->ids[0], st->dep_ids[0]) == 0 &&
                     strcmp(q->follow->ids[1], st->dep_ids[1]) == 0 && q->follow->all &&
                     q->follow->success && q->follow->failure,
                 "call follow from the AsyncResult");
    PEER_REQUIRE(p, q->n_targets == 1 && q->targets[0] == 1, "targets");
    PEER_REQUIRE(p,
                 q->n_requires == 2 && strcmp(q->requires[0], "fn:echo") == 0 &&
                     strcmp(q->requires[1], "tag:gpu") == 0,
                 "requires");
    peer_accept(p, &m);
    // Third: the call clears label and after; the view's retries stay.
    if (!peer_expect(p, &m, IPP__MSG_TYPE__TASK_REQUEST, 5000))
        goto out;
    q = (const Ipp__TaskRequest *)m.content;
    PEER_REQUIRE(p,
                 !q->label && !q->after && !q->follow && !q->has_timeout_us && q->has_retries &&
                     q->retries == 2 && q->n_targets == 0,
                 "cleared flags");
    peer_accept(p, &m);
out:
    wire_msg_fini(&m);
}

START_TEST(test_lb_flags)
{
    peer_t p;
    peer_start(&p);
    s_flags_state_t st;
    memset(&st, 0, sizeof st);
    peer_run(&p, s_script_flags, &st);
    ipp_client_t *c = peer_client(&p, 5);
    ipp_error_t err;
    ipp_view_t *lb = ipp_client_lb_view(c, &err);
    ipp_buf_t two[2] = {{"1", 1, NULL, NULL}, {"2", 1, NULL, NULL}};
    ipp_ar_t *first = ipp_view_map(lb, "work", two, 2, 1, NULL, &err);

    const char *xy[] = {ID_X, ID_Y};
    ipp_dependency_t after = IPP_DEPENDENCY_INIT;
    after.ids = xy;
    after.n_ids = 2;
    after.all = false;
    ipp_flags_t vf = {.set = IPP_FLAG_LABEL | IPP_FLAG_RETRIES | IPP_FLAG_AFTER,
                      .label = "v",
                      .retries = 2,
                      .after = &after};
    ck_assert_int_eq(ipp_view_set_flags(lb, &vf, &err), IPP_OK);

    ipp_dependency_t follow = IPP_DEPENDENCY_INIT;
    follow.ars = &first;
    follow.n_ars = 1;
    follow.failure = true;
    const int t1[] = {1};
    const char *req[] = {"fn:echo", "tag:gpu"};
    ipp_flags_t cf = {.set = IPP_FLAG_LABEL | IPP_FLAG_TIMEOUT | IPP_FLAG_FOLLOW |
                             IPP_FLAG_TARGETS | IPP_FLAG_REQUIRES,
                      .label = "c",
                      .timeout = 1.5,
                      .follow = &follow,
                      .targets = t1,
                      .n_targets = 1,
                      .requires = req,
                      .n_requires = 2};
    ipp_ar_t *second = ipp_view_apply(lb, "echo", NULL, 0, &cf, &err);
    ck_assert_msg(second != NULL, "%s", err.msg);
    ipp_metadata_t md;
    ipp_ar_metadata(second, 0, &md);
    ck_assert_str_eq(md.label, "c");
    ck_assert_uint_eq(md.n_after, 2);
    ck_assert_str_eq(md.after[1], ID_Y);
    ck_assert_uint_eq(md.n_follow, 2);
    ck_assert_str_eq(md.follow[0], ipp_ar_msg_id(first, 0));
    int tv[2];
    ck_assert_uint_eq(ipp_view_targets(lb, tv, 2), 0);

    ipp_flags_t clear = {.set = IPP_FLAG_LABEL | IPP_FLAG_AFTER, .label = NULL, .after = NULL};
    ipp_ar_t *third = ipp_view_apply(lb, "echo", NULL, 0, &clear, &err);
    ck_assert_ptr_nonnull(third);
    ipp_ar_metadata(third, 0, &md);
    ck_assert_ptr_null(md.label);
    ck_assert_uint_eq(md.n_after, 0);

    // Bad flag values are refused.
    ipp_flags_t neg = {.set = IPP_FLAG_RETRIES, .retries = -1};
    ck_assert_ptr_null(ipp_view_apply(lb, "echo", NULL, 0, &neg, &err));
    ck_assert_int_eq(err.code, IPP_ERR_INVALID);
    // Over the cap: refused here, before anything is sent.
    ipp_flags_t many = {.set = IPP_FLAG_RETRIES, .retries = IPP_RETRIES_MAX + 1};
    ck_assert_ptr_null(ipp_view_apply(lb, "echo", NULL, 0, &many, &err));
    ck_assert_int_eq(err.code, IPP_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "retries: at most 100"));
    const char *junk[] = {"not-an-id"};
    ipp_dependency_t bad = IPP_DEPENDENCY_INIT;
    bad.ids = junk;
    bad.n_ids = 1;
    ipp_flags_t badf = {.set = IPP_FLAG_AFTER, .after = &bad};
    ck_assert_int_eq(ipp_view_set_flags(lb, &badf, &err), IPP_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "not-an-id"));
    peer_join(&p);
    ipp_ar_destroy(&first);
    ipp_ar_destroy(&second);
    ipp_ar_destroy(&third);
    ipp_view_destroy(&lb);
    ipp_client_destroy(&c);
    peer_stop(&p);
}
END_TEST

// -------------------------------------------------------------- commands

static void s_script_commands(peer_t *p)
{
    if (!peer_handshake(p, s_three, 3))
        return;
    wire_msg_t m;
    wire_msg_init(&m);
    // execute on a direct view of engine 2.
    if (!peer_expect(p, &m, IPP__MSG_TYPE__TASK_REQUEST, 5000))
        goto out;
    const Ipp__TaskRequest *q = (const Ipp__TaskRequest *)m.content;
    PEER_REQUIRE(p,
                 q->kind_case == IPP__TASK_REQUEST__KIND_COMMAND && q->command->shell &&
                     strcmp(q->command->shell, "echo hi | wc -c") == 0 && q->command->n_argv == 0,
                 "shell");
    PEER_REQUIRE(p, q->targets[0] == 2 && q->queue == IPP__QUEUE__QUEUE_MUX, "on engine 2");
    // run with argv.
    if (!peer_expect(p, &m, IPP__MSG_TYPE__TASK_REQUEST, 5000))
        goto out;
    q = (const Ipp__TaskRequest *)m.content;
    PEER_REQUIRE(p,
                 q->command->n_argv == 3 && strcmp(q->command->argv[0], "ls") == 0 &&
                     strcmp(q->command->argv[2], "/tmp") == 0 && !q->command->shell,
                 "argv");
    // submit with everything a command can carry.
    if (!peer_expect(p, &m, IPP__MSG_TYPE__TASK_REQUEST, 5000))
        goto out;
    q = (const Ipp__TaskRequest *)m.content;
    const Ipp__Command *cmd = q->command;
    PEER_REQUIRE(p, cmd->n_argv == 2 && strcmp(cmd->argv[1], "-c") == 0, "argc-limited argv");
    PEER_REQUIRE(p,
                 cmd->n_env == 2 && strcmp(cmd->env[0]->name, "A") == 0 &&
                     strcmp(cmd->env[0]->value, "1") == 0 &&
                     strcmp(cmd->env[1]->name, "PATHS") == 0 &&
                     strcmp(cmd->env[1]->value, "x=y") == 0,
                 "env split at the first =");
    PEER_REQUIRE(p, cmd->cwd && strcmp(cmd->cwd, "/var") == 0, "cwd");
    PEER_REQUIRE(p,
                 cmd->has_stdin_data && cmd->stdin_data.len == 3 &&
                     memcmp(cmd->stdin_data.data, "in\n", 3) == 0,
                 "stdin");
    PEER_REQUIRE(p, cmd->has_wall_limit_us && cmd->wall_limit_us == 2500000, "wall limit");
    PEER_REQUIRE(p, q->queue == IPP__QUEUE__QUEUE_TASK, "load balanced");
    // map_tasks over two commands on the direct view of engine 2.
    for (int i = 0; i < 2; i++) {
        if (!peer_expect(p, &m, IPP__MSG_TYPE__TASK_REQUEST, 5000))
            goto out;
        q = (const Ipp__TaskRequest *)m.content;
        PEER_REQUIRE(p, q->command && q->command->shell && q->targets[0] == 2, "map_tasks %d", i);
    }
out:
    wire_msg_fini(&m);
}

START_TEST(test_commands)
{
    peer_t p;
    peer_start(&p);
    peer_run(&p, s_script_commands, NULL);
    ipp_client_t *c = peer_client(&p, 5);
    ipp_error_t err;
    int two = 2;
    ipp_view_t *dv = ipp_client_direct_view(c, &two, 1, &err);
    ipp_view_t *lb = ipp_client_lb_view(c, &err);
    ipp_ar_t *a1 = ipp_view_execute(dv, "echo hi | wc -c", NULL, &err);
    const char *argv[] = {"ls", "-l", "/tmp", NULL};
    ipp_ar_t *a2 = ipp_view_run(dv, argv, NULL, &err);
    const char *env[] = {"A=1", "PATHS=x=y"};
    const char *av[] = {"sh", "-c", "never sent"};
    ipp_task_t t = {.kind = IPP_TASK_ARGV,
                    .argv = av,
                    .argc = 2,
                    .env = env,
                    .n_env = 2,
                    .cwd = "/var",
                    .stdin_data = "in\n",
                    .stdin_len = 3,
                    .wall_limit = 2.5};
    ipp_ar_t *a3 = ipp_view_submit(lb, &t, NULL, &err);
    ipp_task_t two_tasks[2] = {{.kind = IPP_TASK_SHELL, .shell = "true"},
                               {.kind = IPP_TASK_SHELL, .shell = "false"}};
    ipp_ar_t *a4 = ipp_view_map_tasks(dv, two_tasks, 2, NULL, &err);
    ck_assert(a1 && a2 && a3 && a4);
    ck_assert_uint_eq(ipp_ar_len(a4), 2);
    peer_join(&p);
    ipp_ar_destroy(&a1);
    ipp_ar_destroy(&a2);
    ipp_ar_destroy(&a3);
    ipp_ar_destroy(&a4);
    ipp_view_destroy(&lb);
    ipp_view_destroy(&dv);
    ipp_client_destroy(&c);
    peer_stop(&p);
}
END_TEST

// ------------------------------------------------------------- push/pull

static void s_script_push_pull(peer_t *p)
{
    if (!peer_handshake(p, s_three, 3))
        return;
    wire_msg_t m;
    wire_msg_init(&m);
    for (int i = 0; i < 2; i++) {
        if (!peer_expect(p, &m, IPP__MSG_TYPE__TASK_REQUEST, 5000))
            goto out;
        const Ipp__TaskRequest *q = (const Ipp__TaskRequest *)m.content;
        PEER_REQUIRE(p,
                     q->ns->op == IPP__NAMESPACE_OP__OP__PUSH && q->ns->n_keys == 2 &&
                         strcmp(q->ns->keys[1], "b") == 0 && peer_buf_is(&m, 0, "one") &&
                         peer_buf_is(&m, 1, "two") && q->targets[0] == 2 * i,
                     "push %d", i);
        peer_accept(p, &m);
        peer_result(p, m.header->msg_id, IPP__STATUS__OK, 2 * i, NULL, 0, 0);
    }
    for (int i = 0; i < 2; i++) {
        if (!peer_expect(p, &m, IPP__MSG_TYPE__TASK_REQUEST, 5000))
            goto out;
        const Ipp__TaskRequest *q = (const Ipp__TaskRequest *)m.content;
        PEER_REQUIRE(p, q->ns->op == IPP__NAMESPACE_OP__OP__PULL && q->ns->n_keys == 2, "pull");
        peer_accept(p, &m);
        Ipp__TaskResult r = IPP__TASK_RESULT__INIT;
        r.has_status = 1;
        r.status = IPP__STATUS__OK;
        r.has_engine_id = 1;
        r.engine_id = 2 * i;
        zmq_msg_t b[2];
        peer_bufs(b, 2, "one", "two");
        peer_send(p, IPP__MSG_TYPE__TASK_RESULT, m.header->msg_id, &r.base, b, 2);
    }
    if (!peer_expect(p, &m, IPP__MSG_TYPE__TASK_REQUEST, 5000))
        goto out;
    const Ipp__TaskRequest *q = (const Ipp__TaskRequest *)m.content;
    PEER_REQUIRE(p, q->ns->op == IPP__NAMESPACE_OP__OP__CLEAR, "clear");
out:
    wire_msg_fini(&m);
}

START_TEST(test_push_pull)
{
    peer_t p;
    peer_start(&p);
    peer_run(&p, s_script_push_pull, NULL);
    ipp_client_t *c = peer_client(&p, 5);
    ipp_error_t err;
    int t[] = {0, 2};
    ipp_view_t *dv = ipp_client_direct_view(c, t, 2, &err);
    const char *keys[] = {"a", "b"};
    ipp_buf_t vals[2] = {{"one", 3, NULL, NULL}, {"two", 3, NULL, NULL}};
    ipp_ar_t *push = ipp_view_push(dv, keys, vals, 2, NULL, &err);
    ck_assert_int_eq(ipp_ar_get(push, 5, &err), IPP_OK);
    ipp_ar_t *pull = ipp_view_pull(dv, keys, 2, NULL, &err);
    ipp_ar_item_t items[2];
    size_t n;
    ck_assert_int_eq(ipp_ar_get_dict(pull, 5, items, 2, &n, &err), IPP_OK);
    ck_assert_int_eq(items[1].engine_id, 2);
    ck_assert_uint_eq(items[1].n_buffers, 2);
    ck_assert_int_eq(memcmp(items[1].buffers[1].data, "two", 3), 0);
    ipp_ar_t *clr = ipp_view_clear_namespace(dv, NULL, &err);
    ck_assert_ptr_nonnull(clr);
    peer_join(&p);
    ipp_ar_destroy(&clr);
    ipp_ar_destroy(&pull);
    ipp_ar_destroy(&push);
    ipp_view_destroy(&dv);
    ipp_client_destroy(&c);
    peer_stop(&p);
}
END_TEST

// ----------------------------------------------------- bad arguments

static int s_released;
static void s_release_count(void *data, void *hint)
{
    (void)data;
    (void)hint;
    __atomic_add_fetch(&s_released, 1, __ATOMIC_SEQ_CST);
}

static void s_script_nothing_sent(peer_t *p)
{
    if (!peer_handshake(p, s_three, 3))
        return;
    wire_msg_t m;
    wire_msg_init(&m);
    int got = peer_recv(p, &m, 800);
    if (got)
        peer_fail(p, "a bad call sent %s", wire_type_name(got));
    wire_msg_fini(&m);
}

START_TEST(test_bad_arguments)
{
    s_released = 0;
    peer_t p;
    peer_start(&p);
    peer_run(&p, s_script_nothing_sent, NULL);
    ipp_client_t *c = peer_client(&p, 5);
    ipp_error_t err;
    ipp_view_t *lb = ipp_client_lb_view(c, &err);
    ipp_view_t *dv = ipp_client_direct_view(c, NULL, 0, &err);
    static char byte = 'q';
    ipp_buf_t owned = {&byte, 1, s_release_count, NULL};

#define REFUSED(call, code_)                                                                       \
    do {                                                                                           \
        ck_assert_ptr_null(call);                                                                  \
        ck_assert_int_eq(err.code, code_);                                                         \
    } while (0)
    REFUSED(ipp_view_apply(lb, NULL, &owned, 1, NULL, &err), IPP_ERR_INVALID);
    REFUSED(ipp_view_apply(NULL, "f", &owned, 1, NULL, &err), IPP_ERR_INVALID);
    REFUSED(ipp_view_map(lb, "f", &owned, 1, 0, NULL, &err), IPP_ERR_INVALID);
    REFUSED(ipp_view_map(lb, "", &owned, 1, 1, NULL, &err), IPP_ERR_INVALID);
    REFUSED(ipp_view_push(lb, (const char *[]){"k"}, &owned, 1, NULL, &err), IPP_ERR_INVALID);
    REFUSED(ipp_view_push(dv, (const char *[]){""}, &owned, 1, NULL, &err), IPP_ERR_INVALID);
    REFUSED(ipp_view_scatter(lb, "k", &owned, 1, NULL, &err), IPP_ERR_INVALID);
    REFUSED(ipp_view_scatter(dv, "", &owned, 1, NULL, &err), IPP_ERR_INVALID);
    ipp_flags_t lbonly = {.set = IPP_FLAG_RETRIES, .retries = 1};
    REFUSED(ipp_view_apply(dv, "f", &owned, 1, &lbonly, &err), IPP_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "LoadBalancedView"));
    // Every handed-over buffer went back (args_per_item 0 hands over none).
    ck_assert_int_eq(s_released, 8);
    ck_assert_int_eq(ipp_view_set_flags(dv, &lbonly, &err), IPP_ERR_INVALID);
    REFUSED(ipp_view_pull(lb, (const char *[]){"k"}, 1, NULL, &err), IPP_ERR_INVALID);
    REFUSED(ipp_view_gather(dv, NULL, NULL, &err), IPP_ERR_INVALID);
    REFUSED(ipp_view_execute(lb, NULL, NULL, &err), IPP_ERR_INVALID);
    REFUSED(ipp_view_run(lb, (const char *[]){NULL}, NULL, &err), IPP_ERR_INVALID);
    ipp_task_t badenv = {
        .kind = IPP_TASK_SHELL, .shell = "true", .env = (const char *[]){"NOEQ"}, .n_env = 1};
    REFUSED(ipp_view_submit(lb, &badenv, NULL, &err), IPP_ERR_INVALID);
    ipp_task_t badkind = {.kind = (ipp_task_kind_t)9};
    REFUSED(ipp_view_map_tasks(lb, &badkind, 1, NULL, &err), IPP_ERR_INVALID);
    REFUSED(ipp_client_direct_view(c, (const int[]){0, 0}, 2, &err), IPP_ERR_INVALID);
    REFUSED(ipp_client_direct_view(c, (const int[]){42}, 1, &err), IPP_ERR_INVALID);
    REFUSED(ipp_client_direct_view(c, (const int[]){0}, 0, &err), IPP_ERR_INVALID);
#undef REFUSED
    peer_join(&p);
    ck_assert_uint_eq(ipp_client_outstanding(c), 0);
    ipp_view_destroy(&dv);
    ipp_view_destroy(&lb);
    ipp_client_destroy(&c);
    peer_stop(&p);
}
END_TEST

static void s_script_hello_none(peer_t *p)
{
    peer_handshake(p, NULL, 0);
}

START_TEST(test_no_engines)
{
    // A controller with no engines: a direct view on "all" has nobody.
    peer_t p;
    peer_start(&p);
    peer_run(&p, s_script_hello_none, NULL);
    ipp_client_t *c = peer_client(&p, 5);
    peer_join(&p);
    ipp_error_t err;
    ck_assert_uint_eq(ipp_client_ids(c, NULL, 0), 0);
    ipp_view_t *dv = ipp_client_direct_view(c, NULL, 0, &err);
    ck_assert_ptr_nonnull(dv);
    ck_assert_ptr_null(ipp_view_apply(dv, "f", NULL, 0, NULL, &err));
    ck_assert_int_eq(err.code, IPP_ERR_NO_ENGINES);
    ck_assert_uint_eq(ipp_view_targets(dv, NULL, 0), 0);
    ipp_view_destroy(&dv);
    ipp_client_destroy(&c);
    peer_stop(&p);
}
END_TEST

// --------------------------------------------------------- many tasks

#define MANY 20000

static void s_script_many(peer_t *p)
{
    if (!peer_handshake(p, s_three, 3))
        return;
    // Read nothing until the client has submitted everything: if
    // submitting waited for any reply, it would never finish.
    int *submitted = p->arg;
    int64_t end = ipp_clock_mono_us() + 10000000;
    while (!__atomic_load_n(submitted, __ATOMIC_SEQ_CST) && ipp_clock_mono_us() < end)
        usleep(1000);
    PEER_REQUIRE(p, __atomic_load_n(submitted, __ATOMIC_SEQ_CST), "submission waited on replies");
    wire_msg_t m;
    wire_msg_init(&m);
    for (int i = 0; i < MANY; i++) {
        if (!peer_expect(p, &m, IPP__MSG_TYPE__TASK_REQUEST, 10000))
            break;
        peer_accept(p, &m);
        size_t len;
        const char *d = wire_msg_buffer(&m, 0, &len);
        char echo[32];
        snprintf(echo, sizeof echo, "%.*s", (int)len, d);
        peer_result(p, m.header->msg_id, IPP__STATUS__OK, i % 3, echo, 0, 0);
    }
    wire_msg_fini(&m);
}

START_TEST(test_many_tasks)
{
    peer_t p;
    peer_start(&p);
    int submitted = 0;
    peer_run(&p, s_script_many, &submitted);
    ipp_client_t *c = peer_client(&p, 5);
    ipp_error_t err;
    ipp_view_t *lb = ipp_client_lb_view(c, &err);
    ipp_buf_t *items = calloc(MANY, sizeof *items);
    char(*text)[12] = calloc(MANY, sizeof *text);
    for (int i = 0; i < MANY; i++) {
        snprintf(text[i], sizeof text[i], "%d", i);
        items[i] = (ipp_buf_t){text[i], strlen(text[i]), NULL, NULL};
    }
    int64_t t0 = ipp_clock_mono_us();
    ipp_ar_t *ar = ipp_view_map(lb, "echo", items, MANY, 1, NULL, &err);
    int64_t submit_us = ipp_clock_mono_us() - t0;
    ck_assert_ptr_nonnull(ar);
    __atomic_store_n(&submitted, 1, __ATOMIC_SEQ_CST);
    ck_assert_msg(ipp_ar_get(ar, 20, &err) == IPP_OK, "%s (peer: %s)", err.msg, p.fail);
    int64_t total_us = ipp_clock_mono_us() - t0;
    for (int i = 0; i < MANY; i += 997) {
        size_t n;
        const ipp_buf_t *b = ipp_ar_result(ar, (size_t)i, &n);
        ck_assert_uint_eq(n, 1);
        ck_assert_uint_eq(b[0].size, strlen(text[i]));
        ck_assert_int_eq(memcmp(b[0].data, text[i], b[0].size), 0);
    }
    ck_assert_uint_eq(ipp_client_outstanding(c), 0);
    fprintf(stderr, "many_tasks: %d tasks submitted in %.3f s, all results after %.3f s\n", MANY,
            (double)submit_us / 1e6, (double)total_us / 1e6);
    peer_join(&p);
    ipp_ar_destroy(&ar);
    free(items);
    free(text);
    ipp_view_destroy(&lb);
    ipp_client_destroy(&c);
    peer_stop(&p);
}
END_TEST

static Suite *s_suite(void)
{
    Suite *s = suite_create("client_view");
    TCase *tc = tcase_create("view");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_partition);
    tcase_add_test(tc, test_scatter_gather);
    tcase_add_test(tc, test_direct_map);
    tcase_add_test(tc, test_lb_flags);
    tcase_add_test(tc, test_commands);
    tcase_add_test(tc, test_push_pull);
    tcase_add_test(tc, test_bad_arguments);
    tcase_add_test(tc, test_no_engines);
    tcase_add_test(tc, test_many_tasks);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(s_suite());
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
