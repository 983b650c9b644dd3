/* test_sched_scale.c — 100,000 waiting tasks: correctness at scale, and proof
 * that no event scans them. sched_stats_t.ops counts every inner-loop step
 * (edges, slots, candidates, list and heap moves, map probes); each test
 * measures one event's ops with a huge backlog and checks the cost depends
 * on the event's own edges only.
 */
#include "test_sched_fake.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 100000

static uint64_t s_ops(fake_hub_t *h)
{
    sched_stats_t st;
    sched_stats(h->sched, &st);
    return st.ops;
}

static char (*s_ids(const char *prefix, int n))[16]
{
    char(*ids)[16] = malloc((size_t)n * sizeof *ids);
    ck_assert_ptr_nonnull(ids);
    for (int i = 0; i < n; i++)
        snprintf(ids[i], sizeof ids[i], "%s%06d", prefix, i);
    return ids;
}

// ---------------------------------------------------------------- chain

typedef struct {
    char (*ids)[16];  // the chain, in order
    int next;         // index expected at the next dispatch
} order_t;

static void s_check_order(fake_hub_t *h, const char *msg_id, int engine)
{
    order_t *o = h->arg;
    (void)engine;
    ck_assert_str_eq(msg_id, o->ids[o->next]);
    o->next++;
}

START_TEST(test_chain_of_100k_in_order_constant_cost)
{
    fake_hub_t *h = fake_new(NULL);
    h->record = false;
    fake_engines(h, 2);
    order_t o = {s_ids("c", N), 0};
    h->arg = &o;
    h->on_dispatch = s_check_order;
    ck_assert_int_eq(fake_submit(h, o.ids[0]), IPP_OK);
    for (int i = 1; i < N; i++) {
        const char *dep[] = {o.ids[i - 1]};
        ck_assert_int_eq(fake_submit_after(h, o.ids[i], dep, 1), IPP_OK);
    }
    sched_stats_t st;
    sched_stats(h->sched, &st);
    ck_assert_uint_eq(st.waiting, N - 1);
    ck_assert_uint_eq(st.running, 1);
    ck_assert_int_eq(o.next, 1);
    uint64_t worst = 0;
    for (int i = 0; i < N; i++) {
        uint64_t before = s_ops(h);
        int engine = -1;
        ck_assert_int_eq(sched_task_state(h->sched, o.ids[i], &engine), SCHED_STATE_RUNNING);
        ck_assert_int_eq(sched_result(h->sched, o.ids[i], true, engine, NULL), IPP_OK);
        uint64_t cost = s_ops(h) - before;
        if (cost > worst)
            worst = cost;
    }
    ck_assert_int_eq(o.next, N);  // every task dispatched, in chain order
    // One completion, one dependent: a handful of steps, whether 99,998
    // tasks wait behind it or none.
    ck_assert_uint_le(worst, 40);
    sched_stats(h->sched, &st);
    ck_assert_uint_eq(st.waiting + st.queued + st.running, 0);
    ck_assert_uint_le(st.cached, 65536);  // finished tasks do not pile up
    free(o.ids);
    fake_destroy(&h);
}
END_TEST

// ------------------------------------------------------ fan-out, fan-in

START_TEST(test_fan_out_fan_in_100k)
{
    sched_config_t c = sched_config_default();
    c.hwm = 0;
    fake_hub_t *h = fake_new(&c);
    h->record = false;
    fake_engines(h, 2);
    char(*mid)[16] = s_ids("m", N);
    const char **ptrs = malloc(N * sizeof *ptrs);
    ck_assert_int_eq(fake_submit(h, "root"), IPP_OK);
    const char *root[] = {"root"};
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(fake_submit_after(h, mid[i], root, 1), IPP_OK);
        ptrs[i] = mid[i];
    }
    ck_assert_int_eq(fake_submit_after(h, "sink", ptrs, N), IPP_OK);
    ck_assert_uint_eq(h->n_dispatch, 1);

    // root has N dependents: its completion costs O(N), here ≥ N and a
    // small constant times N.
    uint64_t before = s_ops(h);
    ck_assert_int_eq(fake_ok(h, "root"), IPP_OK);
    uint64_t cost = s_ops(h) - before;
    ck_assert_uint_eq(h->n_dispatch, 1 + N);
    ck_assert_uint_ge(cost, N);
    ck_assert_uint_le(cost, 20ULL * N);

    // Each middle task has one dependent (sink): constant cost each.
    uint64_t worst = 0;
    for (int i = 0; i < N; i++) {
        before = s_ops(h);
        ck_assert_int_eq(fake_ok(h, mid[i]), IPP_OK);
        uint64_t one = s_ops(h) - before;
        if (one > worst)
            worst = one;
        if (i < N - 1)
            ck_assert_int_eq(sched_task_state(h->sched, "sink", NULL), SCHED_STATE_WAITING);
    }
    ck_assert_uint_le(worst, 40);
    ck_assert_int_eq(sched_task_state(h->sched, "sink", NULL), SCHED_STATE_RUNNING);
    free(ptrs);
    free(mid);
    fake_destroy(&h);
}
END_TEST

// ------------------------------------- O(k) whatever waits in the background

// s_cost_of_k: ops of completing a task with k dependents while `backlog`
// unrelated tasks wait on a pending id.
static uint64_t s_cost_of_k(int k, int backlog)
{
    sched_config_t c = sched_config_default();
    c.hwm = 0;
    fake_hub_t *h = fake_new(&c);
    h->record = false;
    fake_engines(h, 2);
    fake_db(h, "blocker", SCHED_LOOKUP_PENDING, -1);
    const char *blocker[] = {"blocker"};
    char(*bg)[16] = s_ids("b", backlog > 0 ? backlog : 1);
    for (int i = 0; i < backlog; i++)
        ck_assert_int_eq(fake_submit_after(h, bg[i], blocker, 1), IPP_OK);
    ck_assert_int_eq(fake_submit(h, "K"), IPP_OK);
    const char *kk[] = {"K"};
    char id[16];
    for (int i = 0; i < k; i++) {
        snprintf(id, sizeof id, "k%d", i);
        ck_assert_int_eq(fake_submit_after(h, id, kk, 1), IPP_OK);
    }
    sched_stats_t st;
    sched_stats(h->sched, &st);
    ck_assert_uint_eq(st.waiting, (size_t)(backlog + k));
    uint64_t before = s_ops(h);
    ck_assert_int_eq(fake_ok(h, "K"), IPP_OK);
    uint64_t cost = s_ops(h) - before;
    sched_stats(h->sched, &st);
    ck_assert_uint_eq(st.waiting, (size_t)backlog);
    ck_assert_uint_eq(st.running, (size_t)k);
    free(bg);
    fake_destroy(&h);
    return cost;
}

START_TEST(test_completion_cost_is_o_k_not_o_waiting)
{
    uint64_t small10 = s_cost_of_k(10, 0);
    uint64_t big10 = s_cost_of_k(10, N);
    uint64_t big100 = s_cost_of_k(100, N);
    // Same event, same edges: the backlog adds nothing but, at most, a
    // map probe or two.
    ck_assert_uint_le(big10, small10 + 4);
    ck_assert_uint_le(big10, 20 * 10 + 20);
    // Ten times the dependents: about ten times the cost.
    ck_assert_uint_le(big100, 20 * 100 + 20);
    ck_assert_uint_ge(big100, 5 * big10);
}
END_TEST

// ----------------------------------------------- queues at the high-water mark

typedef struct {
    char cur[2][16];  // what runs on engines 0 and 1
} where_t;

static void s_track(fake_hub_t *h, const char *msg_id, int engine)
{
    where_t *w = h->arg;
    ck_assert(engine == 0 || engine == 1);
    snprintf(w->cur[engine], sizeof w->cur[engine], "%s", msg_id);
}

START_TEST(test_freeing_a_slot_does_not_scan_the_queue)
{
    fake_hub_t *h = fake_new(NULL);  // hwm 1
    h->record = false;
    where_t w = {{"", ""}};
    h->arg = &w;
    h->on_dispatch = s_track;
    fake_engines(h, 2);
    char(*u)[16] = s_ids("u", N);
    char(*r)[16] = s_ids("r", N);
    int one = 1;
    // N unrestricted tasks and N restricted to engine 1, interleaved.
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(fake_submit(h, u[i]), IPP_OK);
        sched_spec_t s = fake_task(r[i]);
        s.targets = &one;
        s.n_targets = 1;
        ck_assert_int_eq(sched_submit(h->sched, &s), IPP_OK);
    }
    sched_stats_t st;
    sched_stats(h->sched, &st);
    ck_assert_uint_eq(st.running, 2);
    ck_assert_uint_eq(st.queued, 2 * N - 2);
    ck_assert_uint_eq(st.unassigned, 2 * N - 2);
    // Engine 0 may take only unrestricted tasks: it must find the next one
    // without walking the restricted ones queued before it.
    uint64_t worst = 0;
    for (int i = 0; i < 2000; i++) {
        char prev[16];
        strcpy(prev, w.cur[0]);
        uint64_t before = s_ops(h);
        ck_assert_int_eq(sched_result(h->sched, prev, true, 0, NULL), IPP_OK);
        uint64_t cost = s_ops(h) - before;
        worst = cost > worst ? cost : worst;
        ck_assert_int_eq(w.cur[0][0], 'u');
        ck_assert_str_ne(w.cur[0], prev);
    }
    // Engine 1 takes the older head of its own queue and the shared one.
    char last_r[16] = "";
    for (int i = 0; i < 2000; i++) {
        char prev[16];
        strcpy(prev, w.cur[1]);
        uint64_t before = s_ops(h);
        ck_assert_int_eq(sched_result(h->sched, prev, true, 1, NULL), IPP_OK);
        uint64_t cost = s_ops(h) - before;
        worst = cost > worst ? cost : worst;
        if (w.cur[1][0] == 'r') {
            ck_assert_int_gt(strcmp(w.cur[1], last_r), 0);  // FIFO among them
            strcpy(last_r, w.cur[1]);
        }
    }
    ck_assert_str_ne(last_r, "");
    ck_assert_uint_le(worst, 40);
    free(u);
    free(r);
    fake_destroy(&h);
}
END_TEST

// ------------------------------------------------------- timers at scale

START_TEST(test_tick_cost_is_logarithmic)
{
    fake_hub_t *h = fake_new(NULL);
    h->record = false;
    fake_engines(h, 1);
    fake_db(h, "blocker", SCHED_LOOKUP_PENDING, -1);
    const char *blocker[] = {"blocker"};
    char(*w)[16] = s_ids("w", N);
    int64_t t0 = h->now;
    for (int i = 0; i < N; i++) {
        sched_spec_t s = fake_task(w[i]);
        s.after = SCHED_DEP(blocker, 1);
        s.timeout_us = 1000000 + i;  // one expires per µs after 1 s
        ck_assert_int_eq(sched_submit(h->sched, &s), IPP_OK);
    }
    ck_assert_int_eq(sched_next_deadline(h->sched), t0 + 1000000);
    uint64_t before = s_ops(h);
    sched_tick(h->sched);  // nothing due
    ck_assert_uint_eq(s_ops(h) - before, 0);
    h->now = t0 + 1000000 + 9;  // ten due
    before = s_ops(h);
    sched_tick(h->sched);
    uint64_t cost = s_ops(h) - before;
    ck_assert_uint_eq(h->n_finish, 10);
    ck_assert_uint_le(cost, 10 * (2 * 17 + 20));  // 10 × (heap depth ~17, twice, + edges)
    sched_stats_t st;
    sched_stats(h->sched, &st);
    ck_assert_uint_eq(st.waiting, N - 10);
    // Aborting one of them costs its own edges and a heap removal, too.
    before = s_ops(h);
    ck_assert_int_eq(sched_abort(h->sched, w[N / 2]), IPP_OK);
    ck_assert_uint_le(s_ops(h) - before, 2 * 17 + 20);
    free(w);
    fake_destroy(&h);
}
END_TEST

static Suite *s_suite(void)
{
    Suite *s = suite_create("sched_scale");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 100);
    tcase_add_test(tc, test_chain_of_100k_in_order_constant_cost);
    tcase_add_test(tc, test_fan_out_fan_in_100k);
    tcase_add_test(tc, test_completion_cost_is_o_k_not_o_waiting);
    tcase_add_test(tc, test_freeing_a_slot_does_not_scan_the_queue);
    tcase_add_test(tc, test_tick_cost_is_logarithmic);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(s_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
