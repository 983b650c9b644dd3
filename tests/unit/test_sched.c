/* test_sched.c — the scheduler's queues and events: routing schemes, hwm,
 * targets, mux FIFOs, retries, refusals (functional dependencies), engines
 * coming and going, abort, re-entrant callbacks, accessors and bad input.
 * Dependency graphs are in test_sched_dag.c, scale in test_sched_scale.c.
 */
#include "test_sched_fake.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static sched_config_t cfg_hwm(uint32_t hwm, const sched_scheme_ops_t *scheme)
{
    sched_config_t c = sched_config_default();
    c.hwm = hwm;
    c.scheme = scheme;
    return c;
}

static int s_load(fake_hub_t *h, int engine)
{
    sched_engine_info_t info;
    ck_assert_int_eq(sched_engine_info(h->sched, engine, &info), IPP_OK);
    return (int)info.running;
}

// -------------------------------------------------------------- schemes

START_TEST(test_leastload_lowest_load_ties_to_lru)
{
    sched_config_t c = cfg_hwm(0, &sched_scheme_leastload);
    fake_hub_t *h = fake_new(&c);
    fake_engines(h, 3);  // a new engine is least recently used: order 2, 1, 0
    int ids[3];
    ck_assert_uint_eq(sched_engines(h->sched, ids, 3), 3);
    ck_assert_int_eq(ids[0], 2);
    ck_assert_int_eq(ids[2], 0);
    const char *names[] = {"a", "b", "c", "d"};
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(fake_submit(h, names[i]), IPP_OK);
    ck_assert_int_eq(fake_where(h, "a"), 2);
    ck_assert_int_eq(fake_where(h, "b"), 1);
    ck_assert_int_eq(fake_where(h, "c"), 0);
    ck_assert_int_eq(fake_where(h, "d"), 2);    // all at 1: least recently used
    ck_assert_int_eq(fake_ok(h, "b"), IPP_OK);  // engine 1 drops to 0
    ck_assert_int_eq(fake_submit(h, "e"), IPP_OK);
    ck_assert_int_eq(fake_where(h, "e"), 1);
    ck_assert_int_eq(s_load(h, 2), 2);
    fake_destroy(&h);
}
END_TEST

START_TEST(test_lru_rotates_ignoring_load)
{
    sched_config_t c = cfg_hwm(0, &sched_scheme_lru);
    fake_hub_t *h = fake_new(&c);
    fake_engines(h, 3);
    char id[16];
    int expect[] = {2, 1, 0, 2, 1, 0};
    for (int i = 0; i < 6; i++) {
        snprintf(id, sizeof id, "t%d", i);
        ck_assert_int_eq(fake_submit(h, id), IPP_OK);
        ck_assert_int_eq(fake_where(h, id), expect[i]);
        if (i == 0)
            ck_assert_int_eq(fake_ok(h, id), IPP_OK);  // load no matter
    }
    fake_destroy(&h);
}
END_TEST

// s_run_scheme: 300 tasks on 3 engines with scheme and seed; the engines
// chosen, in order, into out.
static void s_run_scheme(const sched_scheme_ops_t *scheme, uint64_t seed, int *out)
{
    sched_config_t c = cfg_hwm(0, scheme);
    c.seed = seed;
    fake_hub_t *h = fake_new(&c);
    fake_engines(h, 3);
    char id[16];
    for (int i = 0; i < 300; i++) {
        snprintf(id, sizeof id, "t%d", i);
        ck_assert_int_eq(fake_submit(h, id), IPP_OK);
        out[i] = fake_where(h, id);
        ck_assert_int_ge(out[i], 0);
        if (i % 2)
            ck_assert_int_eq(fake_ok(h, id), IPP_OK);
    }
    fake_destroy(&h);
}

START_TEST(test_random_schemes_deterministic_by_seed_and_spread)
{
    const sched_scheme_ops_t *schemes[] = {&sched_scheme_plainrandom, &sched_scheme_twobin,
                                           &sched_scheme_weighted};
    for (size_t s = 0; s < 3; s++) {
        int a[300], b[300], d[300];
        s_run_scheme(schemes[s], 11, a);
        s_run_scheme(schemes[s], 11, b);
        s_run_scheme(schemes[s], 12, d);
        ck_assert_mem_eq(a, b, sizeof a);
        int hits[3] = {0};
        bool differ = false;
        for (int i = 0; i < 300; i++) {
            hits[a[i]]++;
            differ |= a[i] != d[i];
        }
        ck_assert_msg(differ, "%s: a different seed gives the same choices", schemes[s]->name);
        for (int e = 0; e < 3; e++)
            ck_assert_msg(hits[e] > 30, "%s: engine %d chosen %d times", schemes[s]->name, e,
                          hits[e]);
    }
}
END_TEST

START_TEST(test_weighted_avoids_loaded_engine)
{
    sched_config_t c = cfg_hwm(0, &sched_scheme_weighted);
    c.seed = 99;
    fake_hub_t *h = fake_new(&c);
    fake_engines(h, 2);
    int target = 0;
    char id[16];
    for (int i = 0; i < 6; i++) {  // load engine 0 with 6 tasks
        snprintf(id, sizeof id, "busy%d", i);
        sched_spec_t s = fake_task(id);
        s.targets = &target;
        s.n_targets = 1;
        ck_assert_int_eq(sched_submit(h->sched, &s), IPP_OK);
    }
    ck_assert_int_eq(s_load(h, 0), 6);
    for (int i = 0; i < 50; i++) {
        snprintf(id, sizeof id, "t%d", i);
        ck_assert_int_eq(fake_submit(h, id), IPP_OK);
        ck_assert_int_eq(fake_where(h, id), 1);
        ck_assert_int_eq(fake_ok(h, id), IPP_OK);
    }
    fake_destroy(&h);
}
END_TEST

// ------------------------------------------------------------------ hwm

START_TEST(test_hwm1_queues_and_refills_freed_engine_fifo)
{
    fake_hub_t *h = fake_new(NULL);  // defaults: leastload, hwm 1
    fake_engines(h, 2);
    const char *ids[] = {"a", "b", "c", "d", "e"};
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(fake_submit(h, ids[i]), IPP_OK);
    sched_stats_t st;
    sched_stats(h->sched, &st);
    ck_assert_uint_eq(st.running, 2);
    ck_assert_uint_eq(st.queued, 3);
    ck_assert_uint_eq(st.unassigned, 3);
    ck_assert_uint_eq(h->n_dispatch, 2);
    int ea = fake_where(h, "a"), eb = fake_where(h, "b");
    ck_assert_int_ne(ea, eb);
    ck_assert_int_eq(fake_ok(h, "b"), IPP_OK);
    ck_assert_int_eq(fake_where(h, "c"), eb);  // the oldest queued, to the freed engine
    ck_assert_int_eq(fake_where(h, "d"), -1);
    ck_assert_int_eq(fake_ok(h, "a"), IPP_OK);
    ck_assert_int_eq(fake_where(h, "d"), ea);
    ck_assert_int_eq(s_load(h, 0), 1);
    ck_assert_int_eq(s_load(h, 1), 1);
    sched_stats(h->sched, &st);
    ck_assert_uint_eq(st.queued, 1);
    fake_destroy(&h);
}
END_TEST

// sched_release: the engine's slot is freed at once (the next task goes
// there), dependents wait for the outcome, and losing the engine meanwhile
// does not lose the released task.
START_TEST(test_release_frees_slot_before_outcome)
{
    fake_hub_t *h = fake_new(NULL);  // hwm 1
    fake_engines(h, 1);
    ck_assert_int_eq(fake_submit(h, "a"), IPP_OK);
    ck_assert_int_eq(fake_submit(h, "b"), IPP_OK);
    const char *deps[] = {"a"};
    ck_assert_int_eq(fake_submit_after(h, "c", deps, 1), IPP_OK);
    ck_assert_int_eq(fake_where(h, "a"), 0);
    ck_assert_int_eq(fake_where(h, "b"), -1);  // hwm 1: waits
    ck_assert_int_eq(sched_release(h->sched, "a", 0), IPP_OK);
    ck_assert_int_eq(fake_where(h, "b"), 0);   // slot free: b goes now
    ck_assert_int_eq(fake_where(h, "c"), -1);  // a's outcome not known yet
    ck_assert_int_eq(sched_release(h->sched, "a", 0), IPP_ERR_NOT_FOUND);  // once
    ck_assert_int_eq(sched_release(h->sched, "zz", 0), IPP_ERR_NOT_FOUND);
    // The engine goes away: b is lost, a (released) is not.
    ck_assert_int_eq(sched_engine_remove(h->sched, 0), IPP_OK);
    ck_assert_ptr_nonnull(fake_finished(h, "b"));
    ck_assert_ptr_null(fake_finished(h, "a"));
    bool final = false;
    ck_assert_int_eq(sched_result(h->sched, "a", true, 0, &final), IPP_OK);
    ck_assert(final);
    ck_assert_int_eq(sched_task_state(h->sched, "a", NULL), SCHED_STATE_DONE_OK);
    // c became runnable and waits for an engine.
    ck_assert_int_eq(sched_engine_add(h->sched, 1), IPP_OK);
    ck_assert_int_eq(fake_where(h, "c"), 1);
    fake_destroy(&h);
}
END_TEST

START_TEST(test_hwm0_sends_everything_at_once)
{
    sched_config_t c = cfg_hwm(0, NULL);
    fake_hub_t *h = fake_new(&c);
    fake_engines(h, 2);
    char id[16];
    for (int i = 0; i < 10; i++) {
        snprintf(id, sizeof id, "t%d", i);
        ck_assert_int_eq(fake_submit(h, id), IPP_OK);
    }
    ck_assert_uint_eq(h->n_dispatch, 10);
    ck_assert_int_eq(s_load(h, 0), 5);
    ck_assert_int_eq(s_load(h, 1), 5);
    sched_stats_t st;
    sched_stats(h->sched, &st);
    ck_assert_uint_eq(st.queued, 0);
    fake_destroy(&h);
}
END_TEST

START_TEST(test_hwm2_and_no_engines_waits)
{
    sched_config_t c = cfg_hwm(2, NULL);
    fake_hub_t *h = fake_new(&c);
    char id[16];
    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof id, "t%d", i);
        ck_assert_int_eq(fake_submit(h, id), IPP_OK);
    }
    ck_assert_uint_eq(h->n_dispatch, 0);  // no engine: everything waits
    ck_assert_int_eq(sched_engine_add(h->sched, 0), IPP_OK);
    ck_assert_uint_eq(h->n_dispatch, 2);  // up to hwm
    ck_assert_int_eq(fake_where(h, "t0"), 0);
    ck_assert_int_eq(fake_where(h, "t1"), 0);
    ck_assert_int_eq(sched_engine_add(h->sched, 1), IPP_OK);
    ck_assert_int_eq(fake_where(h, "t2"), 1);
    ck_assert_int_eq(fake_where(h, "t3"), 1);
    ck_assert_int_eq(fake_where(h, "t4"), -1);
    fake_destroy(&h);
}
END_TEST

// -------------------------------------------------------------- targets

START_TEST(test_targets_restrict_and_wait_for_their_engine)
{
    fake_hub_t *h = fake_new(NULL);
    fake_engines(h, 3);
    int one = 1;
    sched_spec_t a = fake_task("a");
    a.targets = &one;
    a.n_targets = 1;
    sched_spec_t b = fake_task("b");
    b.targets = &one;
    b.n_targets = 1;
    ck_assert_int_eq(sched_submit(h->sched, &a), IPP_OK);
    ck_assert_int_eq(fake_where(h, "a"), 1);  // not the LRU engine 2
    ck_assert_int_eq(sched_submit(h->sched, &b), IPP_OK);
    ck_assert_int_eq(fake_where(h, "b"), -1);  // 1 is full; 0 and 2 are not allowed
    ck_assert_int_eq(fake_submit(h, "c"), IPP_OK);
    ck_assert_int_ne(fake_where(h, "c"), 1);
    ck_assert_int_ge(fake_where(h, "c"), 0);
    ck_assert_int_eq(fake_ok(h, "a"), IPP_OK);
    ck_assert_int_eq(fake_where(h, "b"), 1);

    // Targets naming an engine not up yet: waits, then runs there.
    int seven[] = {7, 7};
    sched_spec_t d = fake_task("d");
    d.targets = seven;
    d.n_targets = 2;
    ck_assert_int_eq(sched_submit(h->sched, &d), IPP_OK);
    ck_assert_int_eq(fake_where(h, "d"), -1);
    ck_assert_int_eq(sched_task_state(h->sched, "d", NULL), SCHED_STATE_QUEUED);
    ck_assert_int_eq(sched_engine_add(h->sched, 7), IPP_OK);
    ck_assert_int_eq(fake_where(h, "d"), 7);
    fake_destroy(&h);
}
END_TEST

// With targets_grace_us, a runnable task whose targets are all down fails
// with ImpossibleDependency when none registers in time; one that comes
// back in time takes it; its own shorter timeout still counts; and a task
// whose only target dies while it waits gets the same grace.
START_TEST(test_targets_all_down_fail_after_the_grace)
{
    sched_config_t c = sched_config_default();
    c.targets_grace_us = 1000;
    fake_hub_t *h = fake_new(&c);
    fake_engines(h, 1);
    int seven = 7, eight = 8, zero = 0;
    sched_spec_t a = fake_task("a");
    a.targets = &seven;
    a.n_targets = 1;
    ck_assert_int_eq(sched_submit(h->sched, &a), IPP_OK);
    sched_spec_t b = fake_task("b");
    b.targets = &eight;
    b.n_targets = 1;
    ck_assert_int_eq(sched_submit(h->sched, &b), IPP_OK);
    sched_spec_t t = fake_task("t");
    t.targets = &seven;
    t.n_targets = 1;
    t.timeout_us = 500;
    ck_assert_int_eq(sched_submit(h->sched, &t), IPP_OK);
    ck_assert_int_eq(sched_next_deadline(h->sched), h->now + 500);
    h->now += 600;
    sched_tick(h->sched);
    ck_assert_int_eq(fake_finished(h, "t")->why, SCHED_TIMEOUT);
    ck_assert_int_eq(sched_engine_add(h->sched, 8), IPP_OK);  // b's comes back in time
    ck_assert_int_eq(fake_where(h, "b"), 8);
    h->now += 500;
    sched_tick(h->sched);
    const fake_event_t *f = fake_finished(h, "a");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(f->why, SCHED_UNREACHABLE);
    ck_assert_str_eq(f->ename, "ImpossibleDependency");
    ck_assert_ptr_nonnull(strstr(f->evalue, "target engines"));
    ck_assert_ptr_null(fake_finished(h, "b"));

    // Waiting for busy engine 0, which then dies: the grace starts then.
    ck_assert_int_eq(fake_submit(h, "busy"), IPP_OK);
    ck_assert_int_eq(fake_where(h, "busy"), 0);
    sched_spec_t w = fake_task("w");
    w.targets = &zero;
    w.n_targets = 1;
    ck_assert_int_eq(sched_submit(h->sched, &w), IPP_OK);
    ck_assert_int_eq(sched_next_deadline(h->sched), -1);  // 0 is up: no grace
    ck_assert_int_eq(sched_engine_remove(h->sched, 0), IPP_OK);
    ck_assert_int_eq(sched_next_deadline(h->sched), h->now + 1000);
    h->now += 1000;
    sched_tick(h->sched);
    ck_assert_int_eq(fake_finished(h, "w")->why, SCHED_UNREACHABLE);
    fake_destroy(&h);
}
END_TEST

START_TEST(test_restricted_and_shared_queues_keep_age_order)
{
    fake_hub_t *h = fake_new(NULL);
    fake_engines(h, 1);
    ck_assert_int_eq(fake_submit(h, "busy"), IPP_OK);
    int zero = 0;
    ck_assert_int_eq(fake_submit(h, "u1"), IPP_OK);
    sched_spec_t r = fake_task("r");
    r.targets = &zero;
    r.n_targets = 1;
    ck_assert_int_eq(sched_submit(h->sched, &r), IPP_OK);
    ck_assert_int_eq(fake_submit(h, "u2"), IPP_OK);
    ck_assert_int_eq(fake_ok(h, "busy"), IPP_OK);
    ck_assert_int_eq(fake_where(h, "u1"), 0);
    ck_assert_int_eq(fake_ok(h, "u1"), IPP_OK);
    ck_assert_int_eq(fake_where(h, "r"), 0);
    ck_assert_int_eq(fake_ok(h, "r"), IPP_OK);
    ck_assert_int_eq(fake_where(h, "u2"), 0);
    ck_assert(fake_index(h, 'D', "u1") < fake_index(h, 'D', "r"));
    ck_assert(fake_index(h, 'D', "r") < fake_index(h, 'D', "u2"));
    fake_destroy(&h);
}
END_TEST

// ------------------------------------------------------------------ mux

START_TEST(test_mux_fifo_per_engine_with_window)
{
    sched_config_t c = sched_config_default();
    c.mux_hwm = 1;
    fake_hub_t *h = fake_new(&c);
    fake_engines(h, 2);
    const char *m0[] = {"m0a", "m0b", "m0c"};
    const char *m1[] = {"m1a", "m1b"};
    for (int i = 0; i < 3; i++) {
        sched_spec_t s = fake_mux(m0[i], 0);
        ck_assert_int_eq(sched_submit(h->sched, &s), IPP_OK);
        if (i < 2) {
            s = fake_mux(m1[i], 1);
            ck_assert_int_eq(sched_submit(h->sched, &s), IPP_OK);
        }
    }
    sched_engine_info_t info;
    ck_assert_int_eq(sched_engine_info(h->sched, 0, &info), IPP_OK);
    ck_assert_uint_eq(info.queued, 2);
    ck_assert_uint_eq(info.running, 1);
    ck_assert_int_eq(sched_task_state(h->sched, "m0b", NULL), SCHED_STATE_QUEUED);
    ck_assert_int_eq(fake_where(h, "m0a"), 0);
    ck_assert_int_eq(fake_where(h, "m1a"), 1);
    ck_assert_int_eq(fake_where(h, "m0b"), -1);
    ck_assert_int_eq(fake_ok(h, "m0a"), IPP_OK);
    ck_assert_int_eq(fake_where(h, "m0b"), 0);
    ck_assert_int_eq(fake_where(h, "m0c"), -1);
    ck_assert_int_eq(fake_fail(h, "m0b"), IPP_OK);  // an error does not stop the queue
    ck_assert_int_eq(fake_where(h, "m0c"), 0);
    ck_assert_int_eq(fake_ok(h, "m1a"), IPP_OK);
    ck_assert_int_eq(fake_where(h, "m1b"), 1);
    ck_assert(fake_index(h, 'D', "m0a") < fake_index(h, 'D', "m0b"));
    ck_assert(fake_index(h, 'D', "m0b") < fake_index(h, 'D', "m0c"));
    fake_destroy(&h);
}
END_TEST

START_TEST(test_mux_unlimited_sends_in_order_and_counts_as_load)
{
    fake_hub_t *h = fake_new(NULL);  // mux_hwm 0, hwm 1
    fake_engines(h, 2);
    const char *m[] = {"m1", "m2", "m3"};
    for (int i = 0; i < 3; i++) {
        sched_spec_t s = fake_mux(m[i], 0);
        ck_assert_int_eq(sched_submit(h->sched, &s), IPP_OK);
        ck_assert_int_eq(fake_where(h, m[i]), 0);
        ck_assert_int_eq(fake_index(h, 'D', m[i]), i);
    }
    ck_assert_int_eq(s_load(h, 0), 3);
    ck_assert_int_eq(fake_submit(h, "lb1"), IPP_OK);
    ck_assert_int_eq(fake_where(h, "lb1"), 1);  // engine 0 is over hwm
    ck_assert_int_eq(fake_submit(h, "lb2"), IPP_OK);
    ck_assert_int_eq(fake_where(h, "lb2"), -1);

    // A mux task for an engine that is not up fails with EngineError.
    sched_spec_t s = fake_mux("lost", 5);
    ck_assert_int_eq(sched_submit(h->sched, &s), IPP_OK);
    const fake_event_t *f = fake_finished(h, "lost");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(f->why, SCHED_LOST);
    ck_assert_str_eq(f->ename, "EngineError");
    ck_assert_ptr_nonnull(strstr(f->evalue, "5"));
    fake_destroy(&h);
}
END_TEST

// -------------------------------------------------------------- retries

START_TEST(test_retries_go_to_another_engine)
{
    fake_hub_t *h = fake_new(NULL);
    fake_engines(h, 2);
    sched_spec_t s = fake_task("t");
    s.retries = 2;
    ck_assert_int_eq(sched_submit(h->sched, &s), IPP_OK);
    int first = fake_where(h, "t");
    bool final = true;
    ck_assert_int_eq(sched_result(h->sched, "t", false, first, &final), IPP_OK);
    ck_assert(!final);
    ck_assert_uint_eq(fake_dispatches(h, "t"), 2);
    int second = fake_where(h, "t");
    ck_assert_int_eq(second, 1 - first);
    ck_assert_int_eq(sched_result(h->sched, "t", false, second, &final), IPP_OK);
    ck_assert(!final);
    // Failed on both: it may go back to one of them rather than nowhere.
    ck_assert_uint_eq(fake_dispatches(h, "t"), 3);
    int third = fake_where(h, "t");
    ck_assert_int_eq(sched_result(h->sched, "t", false, third, &final), IPP_OK);
    ck_assert(final);  // out of retries: the hub reports this error
    ck_assert_ptr_null(fake_finished(h, "t"));
    ck_assert_int_eq(sched_task_state(h->sched, "t", NULL), SCHED_STATE_DONE_ERR);
    fake_destroy(&h);
}
END_TEST

START_TEST(test_retries_left_and_mux_retry_on_its_engine)
{
    fake_hub_t *h = fake_new(NULL);
    fake_engines(h, 2);
    sched_spec_t s = fake_mux("m", 1);
    s.retries = 1;
    ck_assert_int_eq(sched_submit(h->sched, &s), IPP_OK);
    ck_assert_uint_eq(sched_retries_left(h->sched, "m"), 1);
    ck_assert_int_eq(fake_fail(h, "m"), IPP_OK);
    ck_assert_uint_eq(fake_dispatches(h, "m"), 2);
    ck_assert_int_eq(fake_where(h, "m"), 1);  // a direct task stays on its engine
    ck_assert_uint_eq(sched_retries_left(h->sched, "m"), 0);
    bool final = false;
    ck_assert_int_eq(sched_result(h->sched, "m", false, 1, &final), IPP_OK);
    ck_assert(final);
    ck_assert_uint_eq(sched_retries_left(h->sched, "m"), 0);  // not live
    ck_assert_uint_eq(sched_retries_left(h->sched, "nothing"), 0);
    fake_destroy(&h);
}
END_TEST

START_TEST(test_retry_waits_for_the_other_engine_and_single_engine_reuses)
{
    fake_hub_t *h = fake_new(NULL);
    fake_engines(h, 2);
    ck_assert_int_eq(fake_submit(h, "long"), IPP_OK);  // engine 1 (LRU)
    ck_assert_int_eq(fake_where(h, "long"), 1);
    sched_spec_t s = fake_task("t");
    s.retries = 1;
    ck_assert_int_eq(sched_submit(h->sched, &s), IPP_OK);
    ck_assert_int_eq(fake_where(h, "t"), 0);
    ck_assert_int_eq(fake_fail(h, "t"), IPP_OK);
    ck_assert_uint_eq(fake_dispatches(h, "t"), 1);  // waits for engine 1
    ck_assert_int_eq(fake_submit(h, "other"), IPP_OK);
    ck_assert_int_eq(fake_where(h, "other"), 0);  // engine 0 still serves others
    ck_assert_int_eq(fake_ok(h, "long"), IPP_OK);
    ck_assert_int_eq(fake_where(h, "t"), 1);
    fake_destroy(&h);

    h = fake_new(NULL);
    fake_engines(h, 1);
    s = fake_task("solo");
    s.retries = 1;
    ck_assert_int_eq(sched_submit(h->sched, &s), IPP_OK);
    ck_assert_int_eq(fake_fail(h, "solo"), IPP_OK);
    ck_assert_uint_eq(fake_dispatches(h, "solo"), 2);
    ck_assert_int_eq(fake_where(h, "solo"), 0);
    fake_destroy(&h);
}
END_TEST

// ---------------------------------------------- unmet (functional deps)

START_TEST(test_unmet_rotates_then_impossible_when_all_refused)
{
    fake_hub_t *h = fake_new(NULL);
    fake_engines(h, 3);
    ck_assert_int_eq(fake_submit(h, "t"), IPP_OK);
    bool seen[3] = {false};
    for (int i = 0; i < 3; i++) {
        int e = fake_where(h, "t");
        ck_assert_int_ge(e, 0);
        ck_assert_msg(!seen[e], "sent twice to engine %d", e);
        seen[e] = true;
        ck_assert_int_eq(sched_unmet(h->sched, "t", e), IPP_OK);
    }
    ck_assert_uint_eq(fake_dispatches(h, "t"), 3);
    const fake_event_t *f = fake_finished(h, "t");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(f->why, SCHED_UNREACHABLE);
    ck_assert_str_eq(f->ename, "ImpossibleDependency");
    ck_assert_int_eq(sched_unmet(h->sched, "t", 0), IPP_ERR_NOT_FOUND);

    // With targets: every target refusing is enough, other engines or not.
    int tg[] = {0, 1};
    sched_spec_t s = fake_task("u");
    s.targets = tg;
    s.n_targets = 2;
    ck_assert_int_eq(sched_submit(h->sched, &s), IPP_OK);
    ck_assert_int_eq(sched_unmet(h->sched, "u", fake_where(h, "u")), IPP_OK);
    ck_assert_ptr_null(fake_finished(h, "u"));
    ck_assert_int_eq(sched_unmet(h->sched, "u", fake_where(h, "u")), IPP_OK);
    ck_assert_ptr_nonnull(fake_finished(h, "u"));
    ck_assert_int_eq(fake_finished(h, "u")->why, SCHED_UNREACHABLE);
    fake_destroy(&h);
}
END_TEST

START_TEST(test_unmet_new_engine_gets_a_chance)
{
    fake_hub_t *h = fake_new(NULL);
    fake_engines(h, 2);
    ck_assert_int_eq(fake_submit(h, "busy"), IPP_OK);  // on engine 1
    ck_assert_int_eq(fake_submit(h, "t"), IPP_OK);     // on engine 0
    ck_assert_int_eq(fake_where(h, "t"), 0);
    ck_assert_int_eq(sched_unmet(h->sched, "t", 0), IPP_OK);
    ck_assert_int_eq(sched_task_state(h->sched, "t", NULL), SCHED_STATE_QUEUED);
    ck_assert_int_eq(fake_submit(h, "x"), IPP_OK);
    ck_assert_int_eq(fake_where(h, "x"), 0);  // engine 0 serves others meanwhile
    ck_assert_int_eq(fake_ok(h, "x"), IPP_OK);
    ck_assert_uint_eq(fake_dispatches(h, "t"), 1);  // never back to engine 0
    ck_assert_int_eq(sched_engine_add(h->sched, 2), IPP_OK);
    ck_assert_int_eq(fake_where(h, "t"), 2);
    ck_assert_int_eq(sched_unmet(h->sched, "t", 2), IPP_OK);
    ck_assert_ptr_null(fake_finished(h, "t"));  // engine 1 has not refused yet
    ck_assert_int_eq(fake_ok(h, "busy"), IPP_OK);
    ck_assert_int_eq(fake_where(h, "t"), 1);
    ck_assert_int_eq(sched_unmet(h->sched, "t", 1), IPP_OK);
    ck_assert_ptr_nonnull(fake_finished(h, "t"));
    fake_destroy(&h);
}
END_TEST

START_TEST(test_unmet_last_allowed_engine_leaving_fails_task)
{
    fake_hub_t *h = fake_new(NULL);
    fake_engines(h, 2);
    ck_assert_int_eq(fake_submit(h, "busy"), IPP_OK);
    ck_assert_int_eq(fake_submit(h, "t"), IPP_OK);
    ck_assert_int_eq(sched_unmet(h->sched, "t", 0), IPP_OK);
    ck_assert_ptr_null(fake_finished(h, "t"));
    ck_assert_int_eq(sched_engine_remove(h->sched, 1), IPP_OK);
    const fake_event_t *f = fake_finished(h, "t");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(f->why, SCHED_UNREACHABLE);
    ck_assert_int_eq(fake_finished(h, "busy")->why, SCHED_LOST);
    fake_destroy(&h);
}
END_TEST

// -------------------------------------------------------------- engines

START_TEST(test_engine_removal_lost_retried_or_engine_error)
{
    sched_config_t c = cfg_hwm(0, NULL);
    c.mux_hwm = 1;
    fake_hub_t *h = fake_new(&c);
    fake_engines(h, 2);
    int zero = 0;
    // On engine 0: "a" (no retries), "b" (targets {0}, a retry left), "c"
    // (any engine, a retry left; adopted as running there), two queued mux
    // tasks, and "kid" waiting for a's success.
    sched_spec_t a = fake_task("a");
    a.targets = &zero;
    a.n_targets = 1;
    ck_assert_int_eq(sched_submit(h->sched, &a), IPP_OK);
    sched_spec_t b = a;
    b.msg_id = "b";
    b.user = (void *)"b";
    b.retries = 1;
    ck_assert_int_eq(sched_submit(h->sched, &b), IPP_OK);
    sched_spec_t cc = fake_task("c");
    cc.retries = 1;
    ck_assert_int_eq(sched_adopt(h->sched, &cc, 0), IPP_OK);
    ck_assert_int_eq(fake_where(h, "a"), 0);
    ck_assert_int_eq(fake_where(h, "b"), 0);
    sched_spec_t m1 = fake_mux("mux1", 0), m2 = fake_mux("mux2", 0);
    ck_assert_int_eq(sched_submit(h->sched, &m1), IPP_OK);
    ck_assert_int_eq(sched_submit(h->sched, &m2), IPP_OK);
    ck_assert_int_eq(fake_where(h, "mux1"), -1);  // engine 0's load is over mux_hwm
    const char *dep[] = {"a"};
    ck_assert_int_eq(fake_submit_after(h, "kid", dep, 1), IPP_OK);
    ck_assert_int_eq(s_load(h, 0), 3);

    ck_assert_int_eq(sched_engine_remove(h->sched, 0), IPP_OK);
    const fake_event_t *f = fake_finished(h, "a");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(f->why, SCHED_LOST);
    ck_assert_str_eq(f->ename, "EngineError");
    ck_assert_ptr_nonnull(strstr(f->evalue, "engine 0"));
    ck_assert_int_eq(fake_finished(h, "mux1")->why, SCHED_LOST);
    ck_assert_int_eq(fake_finished(h, "mux2")->why, SCHED_LOST);
    ck_assert_int_eq(fake_finished(h, "kid")->why, SCHED_UNREACHABLE);
    ck_assert_int_eq(fake_where(h, "c"), 1);  // retried on the other engine
    ck_assert_ptr_null(fake_finished(h, "b"));
    ck_assert_int_eq(sched_task_state(h->sched, "b", NULL), SCHED_STATE_QUEUED);  // waits for 0
    int e = -5;
    ck_assert_int_eq(sched_task_state(h->sched, "a", &e), SCHED_STATE_DONE_ERR);
    ck_assert_int_eq(e, 0);  // an engine error happened there
    ck_assert_int_eq(sched_engine_remove(h->sched, 0), IPP_ERR_NOT_FOUND);
    sched_engine_info_t info;
    ck_assert_int_eq(sched_engine_info(h->sched, 0, &info), IPP_OK);  // b still names it
    ck_assert(!info.registered);

    // c loses engine 1 too, with no retry left; then 0 returns for b.
    ck_assert_int_eq(sched_engine_remove(h->sched, 1), IPP_OK);
    ck_assert_int_eq(fake_finished(h, "c")->why, SCHED_LOST);
    ck_assert_int_eq(sched_engine_info(h->sched, 1, &info), IPP_ERR_NOT_FOUND);  // forgotten
    ck_assert_int_eq(sched_engine_add(h->sched, 0), IPP_OK);
    ck_assert_int_eq(fake_where(h, "b"), 0);
    ck_assert_uint_eq(fake_dispatches(h, "b"), 2);
    fake_destroy(&h);
}
END_TEST

// A new process in engine 0's place (same id): what it reports it holds
// stays running there, the rest is lost as with a death, queued mux tasks
// wait for it, and it gets no work until unheld.
START_TEST(test_engine_restart_keeps_what_the_new_process_holds)
{
    sched_config_t c = cfg_hwm(0, NULL);
    c.mux_hwm = 1;
    fake_hub_t *h = fake_new(&c);
    fake_engines(h, 1);
    sched_spec_t kept = fake_task("kept");
    ck_assert_int_eq(sched_submit(h->sched, &kept), IPP_OK);
    sched_spec_t gone = fake_task("gone");
    ck_assert_int_eq(sched_submit(h->sched, &gone), IPP_OK);
    sched_spec_t again = fake_task("again");
    again.retries = 1;
    ck_assert_int_eq(sched_submit(h->sched, &again), IPP_OK);
    sched_spec_t m = fake_mux("mux", 0);
    ck_assert_int_eq(sched_submit(h->sched, &m), IPP_OK);
    ck_assert_int_eq(fake_where(h, "kept"), 0);
    ck_assert_int_eq(fake_where(h, "again"), 0);
    ck_assert_int_eq(fake_where(h, "mux"), -1);  // over mux_hwm: queued
    ck_assert_uint_eq(fake_dispatches(h, "again"), 1);

    const char *keep[] = {"kept", "unknown-id"};
    ck_assert_int_eq(sched_engine_restart(h->sched, 0, keep, 2), IPP_OK);
    ck_assert_ptr_null(fake_finished(h, "kept"));
    ck_assert_int_eq(sched_task_state(h->sched, "kept", NULL), SCHED_STATE_RUNNING);
    const fake_event_t *f = fake_finished(h, "gone");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(f->why, SCHED_LOST);
    ck_assert_ptr_nonnull(strstr(f->evalue, "restarted"));
    ck_assert_ptr_null(fake_finished(h, "again"));
    ck_assert_ptr_null(fake_finished(h, "mux"));
    ck_assert_uint_eq(fake_dispatches(h, "again"), 1);  // held: not sent yet
    ck_assert_int_eq(s_load(h, 0), 1);                  // "kept"

    ck_assert_int_eq(sched_engine_unhold(h->sched, 0), IPP_OK);
    ck_assert_uint_eq(fake_dispatches(h, "again"), 2);
    ck_assert_int_eq(fake_where(h, "again"), 0);
    ck_assert_int_eq(fake_ok(h, "kept"), IPP_OK);
    ck_assert_int_eq(sched_task_state(h->sched, "kept", NULL), SCHED_STATE_DONE_OK);
    ck_assert_int_eq(sched_engine_restart(h->sched, 7, NULL, 0), IPP_ERR_NOT_FOUND);
    ck_assert_int_eq(sched_engine_restart(h->sched, 0, NULL, 1), IPP_ERR_INVALID);
    fake_destroy(&h);
}
END_TEST

START_TEST(test_late_result_from_old_engine_ignored)
{
    fake_hub_t *h = fake_new(NULL);
    fake_engines(h, 2);
    sched_spec_t s = fake_task("t");
    s.retries = 1;
    ck_assert_int_eq(sched_submit(h->sched, &s), IPP_OK);
    int first = fake_where(h, "t");
    ck_assert_int_eq(sched_engine_remove(h->sched, first), IPP_OK);
    int second = fake_where(h, "t");
    ck_assert_int_eq(second, 1 - first);
    ck_assert_int_eq(sched_result(h->sched, "t", true, first, NULL), IPP_ERR_NOT_FOUND);
    ck_assert_int_eq(sched_task_state(h->sched, "t", NULL), SCHED_STATE_RUNNING);
    ck_assert_int_eq(sched_result(h->sched, "t", true, second, NULL), IPP_OK);
    ck_assert_int_eq(sched_task_state(h->sched, "t", NULL), SCHED_STATE_DONE_OK);
    fake_destroy(&h);
}
END_TEST

START_TEST(test_adopt_running_task_counts_as_load)
{
    fake_hub_t *h = fake_new(NULL);
    fake_engines(h, 2);
    sched_spec_t s = fake_task("held");
    ck_assert_int_eq(sched_adopt(h->sched, &s, 1), IPP_OK);
    ck_assert_uint_eq(h->n_dispatch, 0);  // already there: not sent again
    ck_assert_int_eq(s_load(h, 1), 1);
    ck_assert_int_eq(sched_adopt(h->sched, &s, 1), IPP_ERR_INVALID);  // live
    s.msg_id = "other";
    ck_assert_int_eq(sched_adopt(h->sched, &s, 9), IPP_ERR_INVALID);  // no engine 9
    const char *dep[] = {"held"};
    ck_assert_int_eq(fake_submit_after(h, "child", dep, 1), IPP_OK);
    ck_assert_int_eq(fake_submit(h, "x"), IPP_OK);
    ck_assert_int_eq(fake_where(h, "x"), 0);
    ck_assert_int_eq(fake_ok(h, "held"), IPP_OK);
    ck_assert_int_eq(fake_where(h, "child"), 1);
    fake_destroy(&h);
}
END_TEST

// ---------------------------------------------------------------- abort

START_TEST(test_abort_waiting_queued_running_unknown)
{
    fake_hub_t *h = fake_new(NULL);
    fake_engines(h, 1);
    ck_assert_int_eq(fake_submit(h, "run"), IPP_OK);
    ck_assert_int_eq(fake_submit(h, "queued"), IPP_OK);
    const char *dep[] = {"run"};
    ck_assert_int_eq(fake_submit_after(h, "waits", dep, 1), IPP_OK);
    const char *dep2[] = {"waits"};
    ck_assert_int_eq(fake_submit_after(h, "grandchild", dep2, 1), IPP_OK);

    ck_assert_int_eq(sched_abort(h->sched, "run"), IPP_ERR_PENDING);
    ck_assert_int_eq(sched_abort(h->sched, "nope"), IPP_ERR_NOT_FOUND);
    ck_assert_int_eq(sched_abort(h->sched, "queued"), IPP_OK);
    const fake_event_t *f = fake_finished(h, "queued");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(f->why, SCHED_ABORTED);
    ck_assert_str_eq(f->ename, "TaskAborted");
    ck_assert_str_eq((const char *)f->user, "queued");
    ck_assert_int_eq(sched_abort(h->sched, "queued"), IPP_ERR_NOT_FOUND);
    ck_assert_int_eq(sched_abort(h->sched, "waits"), IPP_OK);
    ck_assert_int_eq(fake_finished(h, "waits")->why, SCHED_ABORTED);
    ck_assert_int_eq(fake_finished(h, "grandchild")->why, SCHED_UNREACHABLE);
    sched_stats_t st;
    sched_stats(h->sched, &st);
    ck_assert_uint_eq(st.queued, 0);
    ck_assert_uint_eq(st.waiting, 0);
    ck_assert_int_eq(fake_ok(h, "run"), IPP_OK);
    ck_assert_uint_eq(h->n_dispatch, 1);  // the aborted ones never ran
    fake_destroy(&h);
}
END_TEST

// An abort of a running task cannot stop it here, but it takes away its
// retries: neither the failure its engine reports nor the loss of its
// engine sends it anywhere again.
START_TEST(test_abort_running_task_is_never_retried)
{
    fake_hub_t *h = fake_new(NULL);
    fake_engines(h, 2);
    sched_spec_t s = fake_task("many");
    s.retries = 5;
    ck_assert_int_eq(sched_submit(h->sched, &s), IPP_OK);
    ck_assert_int_eq(sched_abort(h->sched, "many"), IPP_ERR_PENDING);
    ck_assert_uint_eq(sched_retries_left(h->sched, "many"), 0);
    bool final = false;
    ck_assert_int_eq(sched_result(h->sched, "many", false, fake_where(h, "many"), &final), IPP_OK);
    ck_assert(final);
    ck_assert_uint_eq(fake_dispatches(h, "many"), 1);
    ck_assert_int_eq(sched_task_state(h->sched, "many", NULL), SCHED_STATE_DONE_ERR);

    // Its engine dies after the abort: lost, not sent to the other one.
    s.msg_id = "lost";
    s.user = (void *)"lost";
    ck_assert_int_eq(sched_submit(h->sched, &s), IPP_OK);
    int where = fake_where(h, "lost");
    ck_assert_int_eq(sched_abort(h->sched, "lost"), IPP_ERR_PENDING);
    ck_assert_int_eq(sched_engine_remove(h->sched, where), IPP_OK);
    ck_assert_uint_eq(fake_dispatches(h, "lost"), 1);
    const fake_event_t *f = fake_finished(h, "lost");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(f->why, SCHED_LOST);

    // A retry re-dispatched before the abort came: the new attempt is the
    // one aborted, and it is the last.
    s.msg_id = "again";
    s.user = (void *)"again";
    ck_assert_int_eq(sched_engine_add(h->sched, where), IPP_OK);
    ck_assert_int_eq(sched_submit(h->sched, &s), IPP_OK);
    ck_assert_int_eq(fake_fail(h, "again"), IPP_OK);
    ck_assert_uint_eq(fake_dispatches(h, "again"), 2);
    ck_assert_int_eq(sched_abort(h->sched, "again"), IPP_ERR_PENDING);
    ck_assert_int_eq(sched_result(h->sched, "again", false, fake_where(h, "again"), &final),
                     IPP_OK);
    ck_assert(final);
    ck_assert_uint_eq(fake_dispatches(h, "again"), 2);
    fake_destroy(&h);
}
END_TEST

// An engine added held (registered, not yet proven alive) is never sent
// anything: not load-balanced work, not tasks that name it, not its mux
// queue. Unheld, it is served at once; removed while held, nothing is lost.
START_TEST(test_held_engine_gets_no_work_until_unheld)
{
    fake_hub_t *h = fake_new(NULL);
    fake_engines(h, 1);
    ck_assert_int_eq(sched_engine_add_held(h->sched, 5), IPP_OK);
    ck_assert_int_eq(sched_engine_add_held(h->sched, 5), IPP_ERR_INVALID);  // registered
    for (int i = 0; i < 4; i++) {
        char id[8];
        snprintf(id, sizeof id, "t%d", i);
        ck_assert_int_eq(fake_submit(h, id), IPP_OK);
    }
    ck_assert_int_eq(fake_where(h, "t0"), 0);
    ck_assert_int_eq(fake_where(h, "t1"), -1);  // engine 0 is busy; 5 is held
    int five = 5;
    sched_spec_t tg = fake_task("targeted");
    tg.targets = &five;
    tg.n_targets = 1;
    ck_assert_int_eq(sched_submit(h->sched, &tg), IPP_OK);
    sched_spec_t mx = fake_mux("mux", 5);
    ck_assert_int_eq(sched_submit(h->sched, &mx), IPP_OK);
    ck_assert_uint_eq(h->n_dispatch, 1);
    ck_assert_ptr_null(fake_finished(h, "targeted"));
    ck_assert_ptr_null(fake_finished(h, "mux"));
    // A task it already runs (adopted after a restart) is its own.
    sched_spec_t ad = fake_task("adopted");
    ck_assert_int_eq(sched_adopt(h->sched, &ad, 5), IPP_OK);

    ck_assert_int_eq(sched_engine_unhold(h->sched, 5), IPP_OK);
    ck_assert_int_eq(fake_where(h, "mux"), 5);
    ck_assert_uint_eq(h->n_dispatch, 2);  // its load (adopted, mux) is at the hwm
    ck_assert_int_eq(sched_engine_unhold(h->sched, 5), IPP_OK);  // not held: no-op
    ck_assert_int_eq(sched_engine_unhold(h->sched, 9), IPP_ERR_NOT_FOUND);
    ck_assert_int_eq(fake_ok(h, "adopted"), IPP_OK);
    ck_assert_int_eq(fake_ok(h, "mux"), IPP_OK);
    ck_assert_int_eq(fake_where(h, "t1"), 5);  // the oldest waiting
    ck_assert_int_eq(fake_ok(h, "t1"), IPP_OK);
    ck_assert_int_eq(fake_ok(h, "t0"), IPP_OK);
    ck_assert(fake_where(h, "targeted") == 5 || fake_where(h, "t2") == 5);

    // Held and gone: its queue fails, the others wait for engine 0.
    ck_assert_int_eq(sched_engine_add_held(h->sched, 7), IPP_OK);
    sched_spec_t m7 = fake_mux("m7", 7);
    ck_assert_int_eq(sched_submit(h->sched, &m7), IPP_OK);
    size_t sent = h->n_dispatch;
    ck_assert_int_eq(sched_engine_remove(h->sched, 7), IPP_OK);
    ck_assert_int_eq(fake_finished(h, "m7")->why, SCHED_LOST);
    ck_assert_uint_eq(h->n_dispatch, sent);
    fake_destroy(&h);
}
END_TEST

// ---------------------------------------------------------- re-entrancy

static void s_finish_submits(fake_hub_t *h, const char *msg_id, sched_outcome_t why)
{
    (void)why;
    if (strcmp(msg_id, "a") == 0)
        ck_assert_int_eq(fake_submit(h, "b"), IPP_OK);
}

static void s_dispatch_completes(fake_hub_t *h, const char *msg_id, int engine)
{
    // The engine answers at once, from inside the dispatch callback.
    ck_assert_int_eq(sched_result(h->sched, msg_id, true, engine, NULL), IPP_OK);
}

START_TEST(test_callbacks_may_call_back_in)
{
    fake_hub_t *h = fake_new(NULL);
    fake_engines(h, 1);
    h->on_finish = s_finish_submits;
    ck_assert_int_eq(fake_submit(h, "x"), IPP_OK);
    ck_assert_int_eq(fake_submit(h, "a"), IPP_OK);  // queued behind x
    ck_assert_int_eq(sched_abort(h->sched, "a"), IPP_OK);
    ck_assert_ptr_nonnull(fake_finished(h, "a"));
    ck_assert_int_eq(sched_task_state(h->sched, "b", NULL),
                     SCHED_STATE_QUEUED);  // x holds the engine
    h->on_finish = NULL;

    // A chain where every dispatch completes synchronously inside the callback.
    h->on_dispatch = s_dispatch_completes;
    ck_assert_int_eq(fake_ok(h, "x"), IPP_OK);  // b runs and completes inside
    ck_assert_int_eq(sched_task_state(h->sched, "b", NULL), SCHED_STATE_DONE_OK);
    char prev[16] = "b", id[16];
    for (int i = 0; i < 2000; i++) {
        snprintf(id, sizeof id, "c%d", i);
        const char *dep[] = {prev};
        ck_assert_int_eq(fake_submit_after(h, id, dep, 1), IPP_OK);
        ck_assert_int_eq(sched_task_state(h->sched, id, NULL), SCHED_STATE_DONE_OK);
        strcpy(prev, id);
    }
    sched_stats_t st;
    sched_stats(h->sched, &st);
    ck_assert_uint_eq(st.running + st.queued + st.waiting, 0);
    fake_destroy(&h);
}
END_TEST

static void s_dispatch_holds(fake_hub_t *h, const char *msg_id, int engine)
{
    (void)engine;
    if (strcmp(msg_id, "root") == 0) {
        // Submit dependents of root from inside root's dispatch: the
        // scheduler's state already shows root running.
        ck_assert_int_eq(sched_task_state(h->sched, "root", NULL), SCHED_STATE_RUNNING);
        const char *dep[] = {"root"};
        ck_assert_int_eq(fake_submit_after(h, "kid", dep, 1), IPP_OK);
    }
}

START_TEST(test_nested_calls_see_consistent_state)
{
    fake_hub_t *h = fake_new(NULL);
    fake_engines(h, 1);
    h->on_dispatch = s_dispatch_holds;
    ck_assert_int_eq(fake_submit(h, "root"), IPP_OK);
    ck_assert_int_eq(sched_task_state(h->sched, "kid", NULL), SCHED_STATE_WAITING);
    h->on_dispatch = NULL;
    ck_assert_int_eq(fake_ok(h, "root"), IPP_OK);
    ck_assert_int_eq(fake_where(h, "kid"), 0);
    fake_destroy(&h);
}
END_TEST

// ------------------------------------------------- accessors, bad input

static void s_collect(void *arg, const char *msg_id, void *user, bool running)
{
    char *buf = arg;
    strcat(buf, running ? "R:" : "Q:");
    strcat(buf, msg_id);
    strcat(buf, " ");
    ck_assert_str_eq(user, msg_id);
}

START_TEST(test_accessors_report_queues)
{
    sched_config_t c = sched_config_default();
    c.mux_hwm = 1;
    fake_hub_t *h = fake_new(&c);
    fake_engines(h, 2);
    sched_spec_t m1 = fake_mux("m1", 0), m2 = fake_mux("m2", 0);
    ck_assert_int_eq(sched_submit(h->sched, &m1), IPP_OK);
    ck_assert_int_eq(sched_submit(h->sched, &m2), IPP_OK);
    ck_assert_int_eq(fake_submit(h, "t1"), IPP_OK);
    ck_assert_int_eq(fake_submit(h, "t2"), IPP_OK);
    char buf[256] = "";
    ck_assert_int_eq(sched_foreach_task(h->sched, 0, s_collect, buf), IPP_OK);
    ck_assert_str_eq(buf, "Q:m2 R:m1 ");
    ck_assert_int_eq(sched_foreach_task(h->sched, 9, s_collect, buf), IPP_ERR_NOT_FOUND);
    sched_engine_info_t info;
    ck_assert_int_eq(sched_engine_info(h->sched, 1, &info), IPP_OK);
    ck_assert(info.registered);
    ck_assert_uint_eq(info.running, 1);
    ck_assert_uint_eq(info.queued, 0);
    sched_stats_t st;
    sched_stats(h->sched, &st);
    ck_assert_uint_eq(st.engines, 2);
    ck_assert_uint_eq(st.running, 2);
    ck_assert_uint_eq(st.queued, 2);      // m2 and t2
    ck_assert_uint_eq(st.unassigned, 1);  // t2 only: m2 has its engine
    ck_assert_uint_eq(st.dispatched, 2);
    int e = 5;
    ck_assert_int_eq(sched_task_state(h->sched, "m2", &e), SCHED_STATE_QUEUED);
    ck_assert_int_eq(e, 0);
    ck_assert_int_eq(sched_task_state(h->sched, "t2", &e), SCHED_STATE_QUEUED);
    ck_assert_int_eq(e, -1);
    ck_assert_int_eq(fake_ok(h, "m1"), IPP_OK);
    ck_assert_int_eq(sched_engine_info(h->sched, 0, &info), IPP_OK);
    ck_assert_uint_eq(info.completed, 1);
    ck_assert_int_eq(sched_task_state(h->sched, "m1", &e), SCHED_STATE_DONE_OK);
    ck_assert_int_eq(e, 0);
    ck_assert_int_eq(sched_task_state(h->sched, "zzz", &e), SCHED_STATE_UNKNOWN);
    ck_assert_int_eq(sched_next_deadline(h->sched), -1);
    ck_assert_str_eq(sched_outcome_ename(SCHED_TIMEOUT), "DependencyTimeout");
    ck_assert_int_eq(sched_outcome_err(SCHED_LOST), IPP_ERR_ENGINE);
    ck_assert_int_eq(sched_outcome_err(SCHED_ABORTED), IPP_ERR_ABORTED);
    ck_assert_int_eq(sched_outcome_err(SCHED_UNREACHABLE), IPP_ERR_UNREACHABLE);
    fake_destroy(&h);
}
END_TEST

START_TEST(test_bad_input_refused_without_side_effects)
{
    fake_hub_t *h = fake_new(NULL);
    fake_engines(h, 1);
    ck_assert_int_eq(sched_engine_add(h->sched, 0), IPP_ERR_INVALID);
    ck_assert_int_eq(sched_engine_add(h->sched, -1), IPP_ERR_INVALID);
    ck_assert_int_eq(sched_engine_remove(h->sched, 3), IPP_ERR_NOT_FOUND);
    ck_assert_int_eq(fake_submit(h, "dup"), IPP_OK);
    ck_assert_int_eq(fake_submit(h, "dup"), IPP_ERR_INVALID);
    ck_assert_int_eq(fake_submit(h, ""), IPP_ERR_INVALID);
    char longid[70];
    memset(longid, 'a', 64);
    longid[64] = '\0';
    ck_assert_int_eq(fake_submit(h, longid), IPP_ERR_INVALID);
    longid[63] = '\0';
    ck_assert_int_eq(fake_submit(h, longid), IPP_OK);  // 63 bytes is the limit
    sched_spec_t s = fake_task("nodeps");
    const char *ids[] = {"dup"};
    s.after = (sched_dep_t){ids, 1, true, false, false};  // fulfilled by nothing
    ck_assert_int_eq(sched_submit(h->sched, &s), IPP_ERR_INVALID);
    s = fake_mux("mf", 0);
    s.follow = SCHED_DEP(ids, 1);
    ck_assert_int_eq(sched_submit(h->sched, &s), IPP_ERR_INVALID);
    s = fake_mux("mneg", -2);
    ck_assert_int_eq(sched_submit(h->sched, &s), IPP_ERR_INVALID);
    s = fake_task("tneg");
    int neg = -1;
    s.targets = &neg;
    s.n_targets = 1;
    ck_assert_int_eq(sched_submit(h->sched, &s), IPP_ERR_INVALID);
    s = fake_task("badid");
    const char *bad[] = {NULL};
    s.after = SCHED_DEP(bad, 1);
    ck_assert_int_eq(sched_submit(h->sched, &s), IPP_ERR_INVALID);
    s = fake_task("negtimeout");
    s.timeout_us = -5;
    ck_assert_int_eq(sched_submit(h->sched, &s), IPP_ERR_INVALID);
    ck_assert_int_eq(sched_submit(h->sched, NULL), IPP_ERR_INVALID);
    ck_assert_int_eq(sched_result(h->sched, "never", true, 0, NULL), IPP_ERR_NOT_FOUND);
    ck_assert_int_eq(sched_unmet(h->sched, "never", 0), IPP_ERR_NOT_FOUND);
    ck_assert_int_eq(sched_unmet(h->sched, "dup", 5), IPP_ERR_NOT_FOUND);
    sched_stats_t st;
    sched_stats(h->sched, &st);
    ck_assert_uint_eq(st.running + st.queued + st.waiting, 2);  // dup and the 63-byte one
    ck_assert_uint_eq(h->n_finish, 0);

    sched_ops_t none = {0};
    ck_assert_ptr_null(sched_new(NULL, &none, NULL));
    sched_t *nil = NULL;
    sched_destroy(&nil);
    sched_destroy(NULL);
    fake_destroy(&h);
}
END_TEST

START_TEST(test_result_for_queued_task_finishes_it)
{
    fake_hub_t *h = fake_new(NULL);
    fake_engines(h, 1);
    ck_assert_int_eq(fake_submit(h, "busy"), IPP_OK);
    ck_assert_int_eq(fake_submit(h, "q"), IPP_OK);
    const char *dep[] = {"q"};
    ck_assert_int_eq(fake_submit_after(h, "kid", dep, 1), IPP_OK);
    // The hub learnt q's outcome elsewhere (e.g. an engine held its result
    // across a controller restart): q must not run again.
    ck_assert_int_eq(sched_result(h->sched, "q", true, 0, NULL), IPP_OK);
    ck_assert_int_eq(sched_task_state(h->sched, "q", NULL), SCHED_STATE_DONE_OK);
    ck_assert_int_eq(fake_ok(h, "busy"), IPP_OK);
    ck_assert_uint_eq(fake_dispatches(h, "q"), 0);
    ck_assert_int_eq(fake_where(h, "kid"), 0);
    fake_destroy(&h);
}
END_TEST

static Suite *s_suite(void)
{
    Suite *s = suite_create("sched");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_leastload_lowest_load_ties_to_lru);
    tcase_add_test(tc, test_lru_rotates_ignoring_load);
    tcase_add_test(tc, test_random_schemes_deterministic_by_seed_and_spread);
    tcase_add_test(tc, test_weighted_avoids_loaded_engine);
    tcase_add_test(tc, test_hwm1_queues_and_refills_freed_engine_fifo);
    tcase_add_test(tc, test_release_frees_slot_before_outcome);
    tcase_add_test(tc, test_hwm0_sends_everything_at_once);
    tcase_add_test(tc, test_hwm2_and_no_engines_waits);
    tcase_add_test(tc, test_targets_restrict_and_wait_for_their_engine);
    tcase_add_test(tc, test_targets_all_down_fail_after_the_grace);
    tcase_add_test(tc, test_restricted_and_shared_queues_keep_age_order);
    tcase_add_test(tc, test_mux_fifo_per_engine_with_window);
    tcase_add_test(tc, test_mux_unlimited_sends_in_order_and_counts_as_load);
    tcase_add_test(tc, test_retries_go_to_another_engine);
    tcase_add_test(tc, test_retries_left_and_mux_retry_on_its_engine);
    tcase_add_test(tc, test_retry_waits_for_the_other_engine_and_single_engine_reuses);
    tcase_add_test(tc, test_unmet_rotates_then_impossible_when_all_refused);
    tcase_add_test(tc, test_unmet_new_engine_gets_a_chance);
    tcase_add_test(tc, test_unmet_last_allowed_engine_leaving_fails_task);
    tcase_add_test(tc, test_engine_removal_lost_retried_or_engine_error);
    tcase_add_test(tc, test_engine_restart_keeps_what_the_new_process_holds);
    tcase_add_test(tc, test_late_result_from_old_engine_ignored);
    tcase_add_test(tc, test_adopt_running_task_counts_as_load);
    tcase_add_test(tc, test_abort_waiting_queued_running_unknown);
    tcase_add_test(tc, test_abort_running_task_is_never_retried);
    tcase_add_test(tc, test_held_engine_gets_no_work_until_unheld);
    tcase_add_test(tc, test_callbacks_may_call_back_in);
    tcase_add_test(tc, test_nested_calls_see_consistent_state);
    tcase_add_test(tc, test_accessors_report_queues);
    tcase_add_test(tc, test_bad_input_refused_without_side_effects);
    tcase_add_test(tc, test_result_for_queued_task_finishes_it);
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
