/* test_sched_dag.c — graph dependencies: after/follow with all/any and
 * success/failure, IPython Parallel's DAG example, follow placement and
 * impossibility, timeouts on the fake clock, cascades, and dependency ids
 * resolved through the hub's lookup (ok, error, pending, unknown) and the
 * bounded cache of finished outcomes.
 */
#include "test_sched_fake.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEC 1000000

typedef struct {
    char ids[64][64];  // running task ids collected
    int n;             // how many
} running_t;

static void s_collect_running(void *arg, const char *msg_id, void *user, bool running)
{
    running_t *r = arg;
    (void)user;
    if (running && r->n < 64)
        snprintf(r->ids[r->n++], sizeof r->ids[0], "%s", msg_id);
}

// s_drain: play engines 0..n_engines-1: finish every running task, failing
// those named in fail (NULL-terminated), until nothing runs.
static void s_drain(fake_hub_t *h, int n_engines, const char *const *fail)
{
    for (;;) {
        running_t r = {.n = 0};
        for (int e = 0; e < n_engines; e++)
            sched_foreach_task(h->sched, e, s_collect_running, &r);
        if (r.n == 0)
            return;
        for (int i = 0; i < r.n; i++) {
            bool ok = true;
            for (const char *const *f = fail; f && *f; f++)
                if (strcmp(*f, r.ids[i]) == 0)
                    ok = false;
            ck_assert_int_eq(ok ? fake_ok(h, r.ids[i]) : fake_fail(h, r.ids[i]), IPP_OK);
        }
    }
}

static sched_config_t cfg_free(void)
{
    sched_config_t c = sched_config_default();
    c.hwm = 0;
    return c;
}

static ipp_err_t s_submit_dep(fake_hub_t *h, const char *id, const char *const *ids, size_t n,
                              bool all, bool success, bool failure)
{
    sched_spec_t s = fake_task(id);
    s.after = (sched_dep_t){ids, n, all, success, failure};
    return sched_submit(h->sched, &s);
}

static ipp_err_t s_submit_follow(fake_hub_t *h, const char *id, const char *const *ids, size_t n,
                                 bool all)
{
    sched_spec_t s = fake_task(id);
    s.follow = (sched_dep_t){ids, n, all, true, false};
    return sched_submit(h->sched, &s);
}

static bool s_ran_ok(fake_hub_t *h, const char *id)
{
    return fake_dispatches(h, id) > 0 && !fake_finished(h, id) &&
           sched_task_state(h->sched, id, NULL) == SCHED_STATE_DONE_OK;
}

static bool s_impossible(fake_hub_t *h, const char *id)
{
    const fake_event_t *f = fake_finished(h, id);
    return f && f->why == SCHED_UNREACHABLE && strcmp(f->ename, "ImpossibleDependency") == 0 &&
           fake_dispatches(h, id) == 0;
}

// ------------------------------------------------------- the seeds' DAG

// The five-node example: 1 and 2 after 0; 3 after 1 and 2; 4 after 1.
static void s_dag5(fake_hub_t *h, const char *p)
{
    char n[5][16];
    for (int i = 0; i < 5; i++)
        snprintf(n[i], sizeof n[i], "%s%d", p, i);
    const char *d0[] = {n[0]}, *d1[] = {n[1]}, *d12[] = {n[1], n[2]};
    ck_assert_int_eq(fake_submit(h, n[0]), IPP_OK);
    ck_assert_int_eq(fake_submit_after(h, n[1], d0, 1), IPP_OK);
    ck_assert_int_eq(fake_submit_after(h, n[2], d0, 1), IPP_OK);
    ck_assert_int_eq(fake_submit_after(h, n[3], d12, 2), IPP_OK);
    ck_assert_int_eq(fake_submit_after(h, n[4], d1, 1), IPP_OK);
}

START_TEST(test_seed_dag_node0_fails_everything_impossible)
{
    sched_config_t c = cfg_free();
    fake_hub_t *h = fake_new(&c);
    fake_engines(h, 2);
    s_dag5(h, "a");
    const char *fail[] = {"a0", NULL};
    s_drain(h, 2, fail);
    ck_assert_int_eq(sched_task_state(h->sched, "a0", NULL), SCHED_STATE_DONE_ERR);
    for (int i = 1; i < 5; i++) {
        char id[8];
        snprintf(id, sizeof id, "a%d", i);
        ck_assert_msg(s_impossible(h, id), "%s should be impossible", id);
    }
    sched_stats_t st;
    sched_stats(h->sched, &st);
    ck_assert_uint_eq(st.waiting + st.queued + st.running, 0);
    fake_destroy(&h);
}
END_TEST

START_TEST(test_seed_dag_node1_fails_2_runs_3_4_impossible)
{
    sched_config_t c = cfg_free();
    fake_hub_t *h = fake_new(&c);
    fake_engines(h, 2);
    s_dag5(h, "b");
    const char *fail[] = {"b1", NULL};
    s_drain(h, 2, fail);
    ck_assert(s_ran_ok(h, "b0"));
    ck_assert(s_ran_ok(h, "b2"));
    ck_assert(s_impossible(h, "b3"));
    ck_assert(s_impossible(h, "b4"));
    fake_destroy(&h);
}
END_TEST

START_TEST(test_seed_dag_node2_fails_3_impossible_4_runs)
{
    sched_config_t c = cfg_free();
    fake_hub_t *h = fake_new(&c);
    fake_engines(h, 2);
    s_dag5(h, "c");
    const char *fail[] = {"c2", NULL};
    s_drain(h, 2, fail);
    ck_assert(s_ran_ok(h, "c1"));
    ck_assert(s_ran_ok(h, "c4"));
    ck_assert(s_impossible(h, "c3"));
    // Order: no node was sent before its parents finished.
    ck_assert(fake_index(h, 'D', "c1") > fake_index(h, 'D', "c0"));
    ck_assert(fake_index(h, 'D', "c4") > fake_index(h, 'D', "c1"));
    fake_destroy(&h);
}
END_TEST

START_TEST(test_seed_dag_all_succeed_in_order)
{
    sched_config_t c = cfg_free();
    fake_hub_t *h = fake_new(&c);
    fake_engines(h, 2);
    s_dag5(h, "d");
    ck_assert_uint_eq(h->n_dispatch, 1);  // only node 0 can start
    s_drain(h, 2, NULL);
    for (int i = 0; i < 5; i++) {
        char id[8];
        snprintf(id, sizeof id, "d%d", i);
        ck_assert(s_ran_ok(h, id));
    }
    ck_assert(fake_index(h, 'D', "d3") > fake_index(h, 'D', "d2"));
    ck_assert(fake_index(h, 'D', "d3") > fake_index(h, 'D', "d1"));
    fake_destroy(&h);
}
END_TEST

// ------------------------------------------------ success / failure / any

START_TEST(test_failure_only_and_both_flags)
{
    sched_config_t c = cfg_free();
    fake_hub_t *h = fake_new(&c);
    fake_engines(h, 2);
    ck_assert_int_eq(fake_submit(h, "A"), IPP_OK);
    ck_assert_int_eq(fake_submit(h, "A2"), IPP_OK);
    const char *a[] = {"A"}, *a2[] = {"A2"};
    ck_assert_int_eq(s_submit_dep(h, "cleanup", a, 1, true, false, true), IPP_OK);
    ck_assert_int_eq(s_submit_dep(h, "next", a, 1, true, true, false), IPP_OK);
    ck_assert_int_eq(s_submit_dep(h, "always", a, 1, true, true, true), IPP_OK);
    ck_assert_int_eq(s_submit_dep(h, "cleanup2", a2, 1, true, false, true), IPP_OK);
    ck_assert_int_eq(s_submit_dep(h, "always2", a2, 1, true, true, true), IPP_OK);
    ck_assert_int_eq(fake_fail(h, "A"), IPP_OK);
    ck_assert_int_eq(fake_ok(h, "A2"), IPP_OK);
    ck_assert_int_ge(fake_where(h, "cleanup"), 0);  // runs because A failed
    ck_assert_int_ge(fake_where(h, "always"), 0);
    ck_assert(s_impossible(h, "next"));
    ck_assert(s_impossible(h, "cleanup2"));  // A2 succeeded: cleanup can never run
    ck_assert_int_ge(fake_where(h, "always2"), 0);
    ck_assert_ptr_nonnull(strstr(fake_finished(h, "next")->evalue, "'A'"));
    fake_destroy(&h);
}
END_TEST

START_TEST(test_any_of_runs_on_first_success_and_fails_when_all_failed)
{
    sched_config_t c = cfg_free();
    fake_hub_t *h = fake_new(&c);
    fake_engines(h, 2);
    const char *xyz[] = {"X", "Y", "Z"};
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(fake_submit(h, xyz[i]), IPP_OK);
    ck_assert_int_eq(s_submit_dep(h, "D", xyz, 3, false, true, false), IPP_OK);
    ck_assert_int_eq(fake_fail(h, "X"), IPP_OK);
    ck_assert_int_eq(sched_task_state(h->sched, "D", NULL), SCHED_STATE_WAITING);
    ck_assert_int_eq(fake_ok(h, "Y"), IPP_OK);
    ck_assert_int_ge(fake_where(h, "D"), 0);  // Z still running: any is enough
    ck_assert_int_eq(sched_task_state(h->sched, "Z", NULL), SCHED_STATE_RUNNING);
    ck_assert_int_eq(fake_ok(h, "Z"), IPP_OK);
    ck_assert_uint_eq(fake_dispatches(h, "D"), 1);

    const char *pq[] = {"P", "Q"};
    ck_assert_int_eq(fake_submit(h, "P"), IPP_OK);
    ck_assert_int_eq(fake_submit(h, "Q"), IPP_OK);
    ck_assert_int_eq(s_submit_dep(h, "E", pq, 2, false, true, false), IPP_OK);
    ck_assert_int_eq(fake_fail(h, "P"), IPP_OK);
    ck_assert_ptr_null(fake_finished(h, "E"));  // Q may still succeed
    ck_assert_int_eq(fake_fail(h, "Q"), IPP_OK);
    ck_assert(s_impossible(h, "E"));
    fake_destroy(&h);
}
END_TEST

START_TEST(test_all_success_fails_at_first_failure_and_duplicates_count_once)
{
    sched_config_t c = cfg_free();
    fake_hub_t *h = fake_new(&c);
    fake_engines(h, 2);
    ck_assert_int_eq(fake_submit(h, "K1"), IPP_OK);
    ck_assert_int_eq(fake_submit(h, "K2"), IPP_OK);
    const char *k[] = {"K1", "K2", "K1"};
    ck_assert_int_eq(fake_submit_after(h, "J", k, 3), IPP_OK);
    const char *k1[] = {"K1", "K1"};
    ck_assert_int_eq(fake_submit_after(h, "J1", k1, 2), IPP_OK);
    ck_assert_int_eq(fake_ok(h, "K1"), IPP_OK);
    ck_assert_int_ge(fake_where(h, "J1"), 0);  // K1 once is all of {K1}
    ck_assert_int_eq(fake_where(h, "J"), -1);
    ck_assert_int_eq(fake_fail(h, "K2"), IPP_OK);
    ck_assert(s_impossible(h, "J"));
    fake_destroy(&h);
}
END_TEST

START_TEST(test_self_dependency_is_invalid)
{
    fake_hub_t *h = fake_new(NULL);
    fake_engines(h, 1);
    const char *me[] = {"me"};
    ck_assert_int_eq(fake_submit_after(h, "me", me, 1), IPP_OK);
    const fake_event_t *f = fake_finished(h, "me");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(f->why, SCHED_INVALID);
    ck_assert_str_eq(f->ename, "InvalidDependency");
    ck_assert_int_eq(sched_outcome_err(SCHED_INVALID), IPP_ERR_CYCLE);
    fake_destroy(&h);
}
END_TEST

START_TEST(test_mux_task_waits_for_after)
{
    fake_hub_t *h = fake_new(NULL);
    fake_engines(h, 2);
    ck_assert_int_eq(fake_submit(h, "pre"), IPP_OK);
    sched_spec_t m = fake_mux("m", 0);
    const char *pre[] = {"pre"};
    m.after = SCHED_DEP(pre, 1);
    ck_assert_int_eq(sched_submit(h->sched, &m), IPP_OK);
    ck_assert_int_eq(sched_task_state(h->sched, "m", NULL), SCHED_STATE_WAITING);
    ck_assert_int_eq(fake_ok(h, "pre"), IPP_OK);
    ck_assert_int_eq(fake_where(h, "m"), 0);
    fake_destroy(&h);
}
END_TEST

// --------------------------------------------------------------- follow

START_TEST(test_follow_goes_where_the_dependency_ran)
{
    fake_hub_t *h = fake_new(NULL);  // leastload, hwm 1
    fake_engines(h, 3);
    ck_assert_int_eq(fake_submit(h, "A"), IPP_OK);
    int ea = fake_where(h, "A");
    const char *a[] = {"A"};
    ck_assert_int_eq(s_submit_follow(h, "B", a, 1, true), IPP_OK);
    ck_assert_int_eq(sched_task_state(h->sched, "B", NULL), SCHED_STATE_WAITING);  // A not done
    ck_assert_int_eq(fake_ok(h, "A"), IPP_OK);
    ck_assert_int_eq(fake_where(h, "B"), ea);  // although other engines are less recently used
    ck_assert_int_eq(fake_ok(h, "B"), IPP_OK);
    // Again with A finished already: from the cache, and waiting when that
    // engine is busy while others are idle.
    ck_assert_int_eq(fake_submit(h, "busy"), IPP_OK);
    int eb = fake_where(h, "busy");
    if (eb != ea) {
        ck_assert_int_eq(fake_ok(h, "busy"), IPP_OK);
        sched_spec_t s = fake_task("busy2");
        s.targets = &ea;
        s.n_targets = 1;
        ck_assert_int_eq(sched_submit(h->sched, &s), IPP_OK);
    }
    ck_assert_int_eq(s_submit_follow(h, "C", a, 1, true), IPP_OK);
    ck_assert_int_eq(fake_where(h, "C"), -1);
    ck_assert_int_eq(sched_task_state(h->sched, "C", NULL), SCHED_STATE_QUEUED);
    ck_assert_int_eq(fake_ok(h, eb != ea ? "busy2" : "busy"), IPP_OK);
    ck_assert_int_eq(fake_where(h, "C"), ea);
    fake_destroy(&h);
}
END_TEST

START_TEST(test_follow_all_spread_is_impossible)
{
    sched_config_t c = cfg_free();
    fake_hub_t *h = fake_new(&c);
    fake_engines(h, 2);
    ck_assert_int_eq(fake_submit(h, "A"), IPP_OK);
    ck_assert_int_eq(fake_submit(h, "B"), IPP_OK);
    ck_assert_int_ne(fake_where(h, "A"), fake_where(h, "B"));
    const char *ab[] = {"A", "B"};
    ck_assert_int_eq(s_submit_follow(h, "live", ab, 2, true), IPP_OK);
    ck_assert_int_eq(fake_ok(h, "A"), IPP_OK);
    ck_assert_ptr_null(fake_finished(h, "live"));
    ck_assert_int_eq(fake_ok(h, "B"), IPP_OK);
    ck_assert(s_impossible(h, "live"));
    ck_assert_ptr_nonnull(strstr(fake_finished(h, "live")->evalue, "all=true"));
    // Submitted after both finished: fails at once, from the cache.
    ck_assert_int_eq(s_submit_follow(h, "late", ab, 2, true), IPP_OK);
    ck_assert(s_impossible(h, "late"));
    // With any, either engine will do.
    ck_assert_int_eq(s_submit_follow(h, "anyab", ab, 2, false), IPP_OK);
    ck_assert_int_ge(fake_where(h, "anyab"), 0);
    fake_destroy(&h);
}
END_TEST

START_TEST(test_follow_any_gains_engines_as_deps_finish)
{
    fake_hub_t *h = fake_new(NULL);  // hwm 1
    fake_engines(h, 2);
    ck_assert_int_eq(fake_submit(h, "A"), IPP_OK);
    ck_assert_int_eq(fake_submit(h, "B"), IPP_OK);
    int ea = fake_where(h, "A"), eb = fake_where(h, "B");
    ck_assert_int_eq(fake_ok(h, "A"), IPP_OK);
    sched_spec_t s = fake_task("hold");  // keep A's engine busy
    s.targets = &ea;
    s.n_targets = 1;
    ck_assert_int_eq(sched_submit(h->sched, &s), IPP_OK);
    ck_assert_int_eq(fake_where(h, "hold"), ea);
    const char *ab[] = {"A", "B"};
    ck_assert_int_eq(s_submit_follow(h, "F", ab, 2, false), IPP_OK);
    ck_assert_int_eq(sched_task_state(h->sched, "F", NULL),
                     SCHED_STATE_QUEUED);  // only A's engine so far
    ck_assert_int_eq(fake_ok(h, "B"), IPP_OK);
    ck_assert_int_eq(fake_where(h, "F"), eb);  // B's engine is allowed now, and free
    fake_destroy(&h);
}
END_TEST

START_TEST(test_follow_unreachable_cases)
{
    sched_config_t c = cfg_free();
    fake_hub_t *h = fake_new(&c);
    fake_engines(h, 2);
    ck_assert_int_eq(fake_submit(h, "A"), IPP_OK);
    int ea = fake_where(h, "A");
    ck_assert_int_eq(fake_ok(h, "A"), IPP_OK);
    // follow A, but targets exclude A's engine.
    int other = 1 - ea;
    const char *a[] = {"A"};
    sched_spec_t s = fake_task("T");
    s.follow = SCHED_DEP(a, 1);
    s.targets = &other;
    s.n_targets = 1;
    ck_assert_int_eq(sched_submit(h->sched, &s), IPP_OK);
    ck_assert(s_impossible(h, "T"));
    // A followed task that never ran anywhere has no location.
    ck_assert_int_eq(fake_submit(h, "gate"), IPP_OK);
    const char *gate[] = {"gate"};
    ck_assert_int_eq(fake_submit_after(h, "ab", gate, 1), IPP_OK);
    const char *ab[] = {"ab"};
    sched_spec_t f = fake_task("F");
    f.follow = (sched_dep_t){ab, 1, true, true, true};  // success or failure
    ck_assert_int_eq(sched_submit(h->sched, &f), IPP_OK);
    ck_assert_int_eq(sched_abort(h->sched, "ab"), IPP_OK);
    ck_assert(s_impossible(h, "F"));
    // A failed followed task with success-only follow.
    ck_assert_int_eq(fake_fail(h, "gate"), IPP_OK);
    ck_assert_int_eq(s_submit_follow(h, "G", gate, 1, true), IPP_OK);
    ck_assert(s_impossible(h, "G"));
    fake_destroy(&h);
}
END_TEST

// ------------------------------------------------------------- timeouts

START_TEST(test_timeout_fires_at_the_deadline_not_before)
{
    fake_hub_t *h = fake_new(NULL);
    fake_engines(h, 1);
    ck_assert_int_eq(fake_submit(h, "slow"), IPP_OK);
    const char *slow[] = {"slow"};
    sched_spec_t s = fake_task("T");
    s.after = SCHED_DEP(slow, 1);
    s.timeout_us = 5 * SEC;
    int64_t t0 = h->now;
    ck_assert_int_eq(sched_submit(h->sched, &s), IPP_OK);
    const char *t[] = {"T"};
    ck_assert_int_eq(fake_submit_after(h, "Tkid", t, 1), IPP_OK);
    ck_assert_int_eq(sched_next_deadline(h->sched), t0 + 5 * SEC);
    h->now = t0 + 5 * SEC - 1;
    sched_tick(h->sched);
    ck_assert_ptr_null(fake_finished(h, "T"));
    h->now = t0 + 5 * SEC;
    sched_tick(h->sched);
    const fake_event_t *f = fake_finished(h, "T");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(f->why, SCHED_TIMEOUT);
    ck_assert_str_eq(f->ename, "DependencyTimeout");
    ck_assert(s_impossible(h, "Tkid"));  // cascades
    ck_assert_int_eq(sched_next_deadline(h->sched), -1);
    ck_assert_int_eq(sched_outcome_err(SCHED_TIMEOUT), IPP_ERR_UNREACHABLE);
    fake_destroy(&h);
}
END_TEST

START_TEST(test_timeout_disarmed_once_sent_and_covers_queued)
{
    fake_hub_t *h = fake_new(NULL);
    fake_engines(h, 1);
    int64_t t0 = h->now;
    ck_assert_int_eq(fake_submit(h, "pre"), IPP_OK);
    const char *pre[] = {"pre"};
    sched_spec_t s = fake_task("T");
    s.after = SCHED_DEP(pre, 1);
    s.timeout_us = 5 * SEC;
    ck_assert_int_eq(sched_submit(h->sched, &s), IPP_OK);
    sched_spec_t q = fake_task("Q");  // runnable, but the engine is taken
    q.timeout_us = 1 * SEC;
    ck_assert_int_eq(sched_submit(h->sched, &q), IPP_OK);
    ck_assert_int_eq(sched_next_deadline(h->sched), t0 + 1 * SEC);
    h->now = t0 + 2 * SEC;
    sched_tick(h->sched);
    const fake_event_t *f = fake_finished(h, "Q");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(f->why, SCHED_TIMEOUT);
    ck_assert_ptr_nonnull(strstr(f->evalue, "no engine"));
    ck_assert_int_eq(fake_ok(h, "pre"), IPP_OK);
    ck_assert_int_eq(fake_where(h, "T"), 0);
    ck_assert_int_eq(sched_next_deadline(h->sched), -1);
    h->now = t0 + 60 * SEC;
    sched_tick(h->sched);
    ck_assert_ptr_null(fake_finished(h, "T"));
    ck_assert_int_eq(sched_task_state(h->sched, "T", NULL), SCHED_STATE_RUNNING);
    fake_destroy(&h);
}
END_TEST

// -------------------------------------------------------------- cascade

START_TEST(test_impossible_cascades_through_three_levels)
{
    sched_config_t c = cfg_free();
    fake_hub_t *h = fake_new(&c);
    fake_engines(h, 2);
    ck_assert_int_eq(fake_submit(h, "A"), IPP_OK);
    const char *a[] = {"A"}, *b[] = {"B"}, *cc[] = {"C"}, *b2[] = {"B", "B2"};
    ck_assert_int_eq(fake_submit_after(h, "B", a, 1), IPP_OK);
    ck_assert_int_eq(fake_submit_after(h, "B2", a, 1), IPP_OK);
    ck_assert_int_eq(fake_submit_after(h, "C", b, 1), IPP_OK);
    ck_assert_int_eq(fake_submit_after(h, "C2", b2, 2), IPP_OK);
    ck_assert_int_eq(fake_submit_after(h, "D", cc, 1), IPP_OK);
    // A failure-only cleanup two levels down still runs.
    ck_assert_int_eq(s_submit_dep(h, "cleanup", cc, 1, true, false, true), IPP_OK);
    ck_assert_int_eq(fake_fail(h, "A"), IPP_OK);
    const char *gone[] = {"B", "B2", "C", "C2", "D"};
    for (int i = 0; i < 5; i++)
        ck_assert_msg(s_impossible(h, gone[i]), "%s", gone[i]);
    ck_assert(fake_index(h, 'F', "B") < fake_index(h, 'F', "C"));
    ck_assert(fake_index(h, 'F', "C") < fake_index(h, 'F', "D"));
    ck_assert_int_ge(fake_where(h, "cleanup"), 0);
    sched_stats_t st;
    sched_stats(h->sched, &st);
    ck_assert_uint_eq(st.waiting, 0);
    ck_assert_uint_eq(st.failed, 5);
    fake_destroy(&h);
}
END_TEST

// --------------------------------------------------------------- lookup

START_TEST(test_lookup_ok_and_error_from_the_hub)
{
    fake_hub_t *h = fake_new(NULL);
    fake_engines(h, 3);
    fake_db(h, "old-ok", SCHED_LOOKUP_OK, 1);
    fake_db(h, "old-err", SCHED_LOOKUP_ERROR, 0);
    const char *ok[] = {"old-ok"}, *err[] = {"old-err"};
    ck_assert_int_eq(fake_submit_after(h, "T1", ok, 1), IPP_OK);
    ck_assert_int_ge(fake_where(h, "T1"), 0);
    ck_assert_uint_eq(h->n_lookups, 1);
    ck_assert_int_eq(s_submit_follow(h, "T2", ok, 1, true), IPP_OK);
    ck_assert_int_eq(fake_where(h, "T2"), 1);  // where the DB says it ran
    ck_assert_uint_eq(h->n_lookups, 1);        // second time from the cache
    sched_stats_t st;
    sched_stats(h->sched, &st);
    ck_assert_uint_eq(st.cache_hits, 1);
    ck_assert_uint_eq(st.lookups, 1);
    ck_assert_int_eq(fake_submit_after(h, "T3", err, 1), IPP_OK);
    ck_assert(s_impossible(h, "T3"));
    ck_assert_int_eq(s_submit_dep(h, "T4", err, 1, true, false, true), IPP_OK);
    ck_assert_int_ge(fake_where(h, "T4"), 0);
    fake_destroy(&h);
}
END_TEST

START_TEST(test_lookup_pending_then_submitted_or_completed)
{
    fake_hub_t *h = fake_new(NULL);
    fake_engines(h, 2);
    fake_db(h, "later", SCHED_LOOKUP_PENDING, -1);
    fake_db(h, "elsewhere", SCHED_LOOKUP_PENDING, -1);
    const char *later[] = {"later"}, *elsewhere[] = {"elsewhere"};
    ck_assert_int_eq(fake_submit_after(h, "W1", later, 1), IPP_OK);
    ck_assert_int_eq(fake_submit_after(h, "W1b", later, 1), IPP_OK);
    ck_assert_uint_eq(h->n_lookups, 1);  // the placeholder answers the second
    ck_assert_int_eq(sched_task_state(h->sched, "W1", NULL), SCHED_STATE_WAITING);
    ck_assert_int_eq(sched_task_state(h->sched, "later", NULL), SCHED_STATE_EXPECTED);
    ck_assert_int_eq(fake_submit(h, "later"), IPP_OK);  // arrives (e.g. recovery order)
    ck_assert_int_ge(fake_where(h, "later"), 0);
    ck_assert_int_eq(fake_ok(h, "later"), IPP_OK);
    ck_assert_int_ge(fake_where(h, "W1"), 0);
    ck_assert_int_ge(fake_where(h, "W1b"), 0);

    ck_assert_int_eq(fake_submit_after(h, "W2", elsewhere, 1), IPP_OK);
    ck_assert_int_eq(sched_result(h->sched, "elsewhere", false, 1, NULL), IPP_OK);
    ck_assert(s_impossible(h, "W2"));
    ck_assert_int_eq(sched_task_state(h->sched, "elsewhere", NULL), SCHED_STATE_DONE_ERR);

    // A placeholder nobody waits for any more is forgotten.
    fake_db(h, "never", SCHED_LOOKUP_PENDING, -1);
    const char *never[] = {"never"};
    ck_assert_int_eq(fake_submit_after(h, "W3", never, 1), IPP_OK);
    sched_stats_t st;
    sched_stats(h->sched, &st);
    ck_assert_uint_eq(st.expected, 1);
    ck_assert_int_eq(sched_abort(h->sched, "W3"), IPP_OK);
    sched_stats(h->sched, &st);
    ck_assert_uint_eq(st.expected, 0);
    ck_assert_int_eq(sched_task_state(h->sched, "never", NULL), SCHED_STATE_UNKNOWN);
    fake_destroy(&h);
}
END_TEST

START_TEST(test_lookup_unknown_is_impossible_naming_the_id)
{
    fake_hub_t *h = fake_new(NULL);
    fake_engines(h, 1);
    ck_assert_int_eq(fake_submit(h, "real"), IPP_OK);
    const char *ids[] = {"real", "ghost-1234"};
    ck_assert_int_eq(fake_submit_after(h, "T", ids, 2), IPP_OK);
    const fake_event_t *f = fake_finished(h, "T");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(f->why, SCHED_UNREACHABLE);
    ck_assert_ptr_nonnull(strstr(f->evalue, "ghost-1234"));
    ck_assert_int_eq(sched_abort(h->sched, "T"), IPP_ERR_NOT_FOUND);
    // No edge to "real" is left behind: its completion is harmless.
    ck_assert_int_eq(fake_ok(h, "real"), IPP_OK);
    ck_assert_uint_eq(fake_dispatches(h, "T"), 0);
    fake_destroy(&h);
}
END_TEST

START_TEST(test_finished_cache_is_bounded_and_falls_back_to_lookup)
{
    sched_config_t c = sched_config_default();
    c.done_cache = 8;
    c.hwm = 0;
    fake_hub_t *h = fake_new(&c);
    fake_engines(h, 2);
    char id[16];
    for (int i = 0; i < 100; i++) {
        snprintf(id, sizeof id, "t%d", i);
        ck_assert_int_eq(fake_submit(h, id), IPP_OK);
        ck_assert_int_eq(fake_ok(h, id), IPP_OK);
        sched_stats_t st;
        sched_stats(h->sched, &st);
        ck_assert_uint_le(st.cached, 8);
    }
    const char *recent[] = {"t99"}, *old[] = {"t3"};
    ck_assert_int_eq(fake_submit_after(h, "r", recent, 1), IPP_OK);
    ck_assert_uint_eq(h->n_lookups, 0);
    fake_db(h, "t3", SCHED_LOOKUP_OK, 0);  // the database still has it
    ck_assert_int_eq(fake_submit_after(h, "o", old, 1), IPP_OK);
    ck_assert_uint_eq(h->n_lookups, 1);
    ck_assert_int_ge(fake_where(h, "o"), 0);
    fake_destroy(&h);
}
END_TEST

static Suite *s_suite(void)
{
    Suite *s = suite_create("sched_dag");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_seed_dag_node0_fails_everything_impossible);
    tcase_add_test(tc, test_seed_dag_node1_fails_2_runs_3_4_impossible);
    tcase_add_test(tc, test_seed_dag_node2_fails_3_impossible_4_runs);
    tcase_add_test(tc, test_seed_dag_all_succeed_in_order);
    tcase_add_test(tc, test_failure_only_and_both_flags);
    tcase_add_test(tc, test_any_of_runs_on_first_success_and_fails_when_all_failed);
    tcase_add_test(tc, test_all_success_fails_at_first_failure_and_duplicates_count_once);
    tcase_add_test(tc, test_self_dependency_is_invalid);
    tcase_add_test(tc, test_mux_task_waits_for_after);
    tcase_add_test(tc, test_follow_goes_where_the_dependency_ran);
    tcase_add_test(tc, test_follow_all_spread_is_impossible);
    tcase_add_test(tc, test_follow_any_gains_engines_as_deps_finish);
    tcase_add_test(tc, test_follow_unreachable_cases);
    tcase_add_test(tc, test_timeout_fires_at_the_deadline_not_before);
    tcase_add_test(tc, test_timeout_disarmed_once_sent_and_covers_queued);
    tcase_add_test(tc, test_impossible_cascades_through_three_levels);
    tcase_add_test(tc, test_lookup_ok_and_error_from_the_hub);
    tcase_add_test(tc, test_lookup_pending_then_submitted_or_completed);
    tcase_add_test(tc, test_lookup_unknown_is_impossible_naming_the_id);
    tcase_add_test(tc, test_finished_cache_is_bounded_and_falls_back_to_lookup);
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
