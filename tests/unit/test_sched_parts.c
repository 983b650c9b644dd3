/* test_sched_parts.c — the scheduler's building blocks on their own: the id
 * map, the timeout heap, the finished-outcome cache, the outbox, the
 * routing schemes and the Dependency counters.
 */
#include "scheduler/deps.h"
#include "scheduler/donecache.h"
#include "scheduler/idmap.h"
#include "scheduler/outbox.h"
#include "scheduler/schemes.h"
#include "scheduler/timeheap.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------- idmap

typedef struct {
    char key[32];
    int value;
} rec_t;

static bool rec_eq(const void *val, const void *key)
{
    return strcmp(((const rec_t *)val)->key, key) == 0;
}

START_TEST(test_idmap_put_get_del_against_reference)
{
    enum { N = 20000 };
    rec_t *recs = calloc(N, sizeof *recs);
    bool *in = calloc(N, sizeof *in);
    ck_assert_ptr_nonnull(recs);
    sched_idmap_t m;
    ck_assert_int_eq(sched_idmap_init(&m, rec_eq), 0);
    for (int i = 0; i < N; i++) {
        snprintf(recs[i].key, sizeof recs[i].key, "id-%d", i);
        recs[i].value = i;
    }
    sched_rng_t rng;
    sched_rng_seed(&rng, 7);
    size_t count = 0;
    // Random inserts and deletes, checked against a bitmap after each step
    // for the touched key and periodically for all keys: deletion must keep
    // every other key reachable (backward shift, no tombstones).
    for (int step = 0; step < 200000; step++) {
        int i = (int)sched_rng_below(&rng, N);
        uint64_t h = sched_hash_str(1, recs[i].key);
        if (in[i]) {
            ck_assert_ptr_eq(sched_idmap_del(&m, h, recs[i].key), &recs[i]);
            in[i] = false;
            count--;
        } else {
            ck_assert_ptr_null(sched_idmap_get(&m, h, recs[i].key, NULL));
            ck_assert_int_eq(sched_idmap_put(&m, h, &recs[i]), 0);
            in[i] = true;
            count++;
        }
        ck_assert_uint_eq(m.count, count);
        if (step % 20000 == 0) {
            for (int j = 0; j < N; j++) {
                void *got = sched_idmap_get(&m, sched_hash_str(1, recs[j].key), recs[j].key, NULL);
                ck_assert_ptr_eq(got, in[j] ? &recs[j] : NULL);
            }
        }
    }
    // Load stays at most 70 %.
    ck_assert_uint_le(m.count * 10, (m.mask + 1) * 7);
    ck_assert_ptr_null(sched_idmap_del(&m, sched_hash_str(1, "absent"), "absent"));
    uint64_t probes = 0;
    sched_idmap_get(&m, sched_hash_str(1, "absent"), "absent", &probes);
    ck_assert_uint_ge(probes, 1);
    sched_idmap_fini(&m);
    free(recs);
    free(in);
}
END_TEST

START_TEST(test_hashes_are_seeded_and_spread)
{
    ck_assert_uint_ne(sched_hash_str(1, "abc"), sched_hash_str(2, "abc"));
    ck_assert_uint_ne(sched_hash_str(1, "abc"), sched_hash_str(1, "abd"));
    ck_assert_uint_ne(sched_hash_int(1, 5), sched_hash_int(1, 6));
    ck_assert_uint_ne(sched_hash_int(0, 0), 0);
    ck_assert_uint_ne(sched_hash_str(0, ""), 0);
}
END_TEST

// ------------------------------------------------------------- timeheap

START_TEST(test_timeheap_orders_and_disarms_anywhere)
{
    enum { N = 5000 };
    sched_timer_t *t = calloc(N, sizeof *t);
    uint64_t ops = 0;
    sched_timeheap_t h;
    sched_timeheap_init(&h, &ops);
    sched_rng_t rng;
    sched_rng_seed(&rng, 3);
    for (int i = 0; i < N; i++) {
        sched_timer_init(&t[i]);
        ck_assert(!sched_timer_armed(&t[i]));
        ck_assert_int_eq(sched_timeheap_arm(&h, &t[i], (int64_t)sched_rng_below(&rng, 100000)), 0);
        ck_assert(sched_timer_armed(&t[i]));
    }
    ck_assert_uint_gt(ops, 0);
    // Disarm every third one from wherever it sits.
    for (int i = 0; i < N; i += 3) {
        sched_timeheap_disarm(&h, &t[i]);
        ck_assert(!sched_timer_armed(&t[i]));
        sched_timeheap_disarm(&h, &t[i]);  // idempotent
    }
    for (size_t i = 0; i < h.count; i++)
        ck_assert_uint_eq(h.items[i]->index, i);
    int64_t last = INT64_MIN;
    size_t popped = 0;
    sched_timer_t *top;
    while ((top = sched_timeheap_peek(&h))) {
        ck_assert_int_ge(top->deadline, last);
        last = top->deadline;
        sched_timeheap_disarm(&h, top);
        popped++;
    }
    ck_assert_uint_eq(popped, N - (N + 2) / 3);
    sched_timeheap_fini(&h);
    free(t);
}
END_TEST

// ------------------------------------------------------------ donecache

START_TEST(test_donecache_bounded_ring)
{
    sched_done_t *c = sched_done_new(4, 9);
    ck_assert_ptr_nonnull(c);
    char id[16];
    for (int i = 0; i < 10; i++) {
        snprintf(id, sizeof id, "t%d", i);
        ck_assert_int_eq(sched_done_put(c, id, i % 2 == 0, i), 0);
        ck_assert_uint_le(sched_done_count(c), 4);
    }
    ck_assert_uint_eq(sched_done_count(c), 4);
    ck_assert_ptr_null(sched_done_get(c, "t5"));  // forgotten: oldest first
    const sched_done_entry_t *e = sched_done_get(c, "t8");
    ck_assert_ptr_nonnull(e);
    ck_assert(e->ok);
    ck_assert_int_eq(e->engine, 8);
    // Updating an id keeps one entry.
    ck_assert_int_eq(sched_done_put(c, "t8", false, 2), 0);
    ck_assert_uint_eq(sched_done_count(c), 4);
    e = sched_done_get(c, "t8");
    ck_assert(!e->ok);
    ck_assert_int_eq(e->engine, 2);
    sched_done_del(c, "t8");
    ck_assert_ptr_null(sched_done_get(c, "t8"));
    ck_assert_uint_eq(sched_done_count(c), 3);
    sched_done_del(c, "t8");  // absent: no-op
    ck_assert_uint_eq(sched_done_count(c), 3);
    // Too long an id is refused.
    char longid[80];
    memset(longid, 'x', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    ck_assert_int_eq(sched_done_put(c, longid, true, 0), -1);
    ck_assert_ptr_null(sched_done_new(0, 0));
    sched_done_destroy(&c);
    ck_assert_ptr_null(c);
    sched_done_destroy(&c);
}
END_TEST

// --------------------------------------------------------------- outbox

START_TEST(test_outbox_fifo_across_growth)
{
    sched_outbox_t o;
    sched_outbox_init(&o);
    sched_out_t out;
    int next_pop = 0;
    for (int i = 0; i < 1000; i++) {
        sched_out_t *slot = sched_outbox_push(&o);
        ck_assert_ptr_nonnull(slot);
        slot->engine = i;
        if (i % 3 == 0) {  // interleave pops so the ring wraps before growing
            ck_assert_int_eq(sched_outbox_pop(&o, &out), 1);
            ck_assert_int_eq(out.engine, next_pop++);
        }
    }
    while (sched_outbox_pop(&o, &out))
        ck_assert_int_eq(out.engine, next_pop++);
    ck_assert_int_eq(next_pop, 1000);
    sched_outbox_fini(&o);
}
END_TEST

// -------------------------------------------------------------- schemes

START_TEST(test_scheme_leastload_prefers_low_load_then_lru)
{
    sched_rng_t rng;
    sched_rng_seed(&rng, 1);
    sched_cand_t c[] = {{4, 3}, {7, 1}, {2, 1}, {9, 5}};
    ck_assert_uint_eq(sched_scheme_leastload.choose(c, 4, &rng), 1);  // first of the 1s
    sched_cand_t d[] = {{4, 0}, {7, 0}};
    ck_assert_uint_eq(sched_scheme_leastload.choose(d, 2, &rng), 0);
}
END_TEST

START_TEST(test_scheme_lru_takes_front)
{
    sched_rng_t rng;
    sched_rng_seed(&rng, 1);
    sched_cand_t c[] = {{4, 9}, {7, 0}};
    ck_assert_uint_eq(sched_scheme_lru.choose(c, 2, &rng), 0);
}
END_TEST

START_TEST(test_scheme_random_ones_are_seeded_and_spread)
{
    sched_cand_t c[4] = {{0, 0}, {1, 0}, {2, 0}, {3, 0}};
    sched_rng_t a, b;
    sched_rng_seed(&a, 42);
    sched_rng_seed(&b, 42);
    size_t hits[4] = {0};
    size_t front = 0;
    for (int i = 0; i < 4000; i++) {
        size_t x = sched_scheme_plainrandom.choose(c, 4, &a);
        ck_assert_uint_eq(x, sched_scheme_plainrandom.choose(c, 4, &b));  // same seed, same picks
        ck_assert_uint_lt(x, 4);
        hits[x]++;
        size_t y = sched_scheme_twobin.choose(c, 4, &a);
        ck_assert_uint_eq(y, sched_scheme_twobin.choose(c, 4, &b));
        front += y == 0;
    }
    for (int i = 0; i < 4; i++)
        ck_assert_uint_gt(hits[i], 800);  // ~1000 each
    // twobin: min of two uniform picks: P(0) = 1 - (3/4)^2 = 7/16 ≈ 1750.
    ck_assert_uint_gt(front, 1500);
    ck_assert_uint_lt(front, 2000);
    sched_rng_seed(&b, 43);
    bool differ = false;
    sched_rng_seed(&a, 42);
    for (int i = 0; i < 16; i++)
        differ |= sched_rng_next(&a) != sched_rng_next(&b);
    ck_assert(differ);
}
END_TEST

START_TEST(test_scheme_weighted_favours_idle)
{
    sched_rng_t rng;
    sched_rng_seed(&rng, 5);
    sched_cand_t c[] = {{0, 4}, {1, 0}, {2, 4}};
    int idle = 0;
    for (int i = 0; i < 1000; i++)
        idle += sched_scheme_weighted.choose(c, 3, &rng) == 1;
    ck_assert_int_ge(idle, 995);
    // Equal loads: both picked.
    sched_cand_t d[] = {{0, 2}, {1, 2}};
    int first = 0;
    for (int i = 0; i < 1000; i++)
        first += sched_scheme_weighted.choose(d, 2, &rng) == 0;
    ck_assert_int_gt(first, 300);
    ck_assert_int_lt(first, 700);
    double u = sched_rng_unit(&rng);
    ck_assert(u >= 0.0 && u < 1.0);
}
END_TEST

START_TEST(test_scheme_by_name)
{
    ck_assert_ptr_eq(sched_scheme_by_name("leastload"), &sched_scheme_leastload);
    ck_assert_ptr_eq(sched_scheme_by_name("lru"), &sched_scheme_lru);
    ck_assert_ptr_eq(sched_scheme_by_name("plainrandom"), &sched_scheme_plainrandom);
    ck_assert_ptr_eq(sched_scheme_by_name("twobin"), &sched_scheme_twobin);
    ck_assert_ptr_eq(sched_scheme_by_name("weighted"), &sched_scheme_weighted);
    ck_assert_ptr_null(sched_scheme_by_name("pure"));
    ck_assert_ptr_null(sched_scheme_by_name(NULL));
}
END_TEST

// ----------------------------------------------------------------- deps

// Dependency.check / Dependency.unreachable as IPython Parallel defines
// them, on explicit sets, to compare the counters against.
static bool ref_met(int n, const bool *done, const bool *ok, bool all, bool succ, bool fail)
{
    if (n == 0)
        return true;
    int hit = 0;
    for (int i = 0; i < n; i++)
        hit += done[i] && ((ok[i] && succ) || (!ok[i] && fail));
    return all ? hit == n : hit > 0;
}

static bool ref_unreachable(int n, const bool *done, const bool *ok, bool all, bool succ, bool fail)
{
    if (n == 0)
        return false;
    int bad = 0;
    for (int i = 0; i < n; i++)
        bad += done[i] && ((ok[i] && !succ) || (!ok[i] && !fail));
    return all ? bad > 0 : bad == n;
}

START_TEST(test_depset_matches_set_semantics_exhaustively)
{
    // Every flag combination, every outcome vector for up to 3 ids,
    // finished in order: the counters agree with the set definitions at
    // every step.
    for (int flags = 0; flags < 8; flags++) {
        bool all = flags & 1, succ = flags & 2, fail = flags & 4;
        if (!succ && !fail)
            continue;  // refused by submit
        for (int n = 0; n <= 3; n++) {
            for (int outcome = 0; outcome < (1 << n); outcome++) {
                sched_depset_t d;
                sched_depset_init(&d, (uint32_t)n, all, succ, fail);
                bool done[3] = {0}, ok[3] = {0};
                for (int k = 0; k <= n; k++) {
                    ck_assert_int_eq(sched_depset_met(&d), ref_met(n, done, ok, all, succ, fail));
                    ck_assert_int_eq(sched_depset_unreachable(&d),
                                     ref_unreachable(n, done, ok, all, succ, fail));
                    if (k == n)
                        break;
                    ok[k] = (outcome >> k) & 1;
                    done[k] = true;
                    sched_depset_note(&d, sched_depset_counts(&d, ok[k]));
                }
            }
        }
    }
}
END_TEST

START_TEST(test_loc_all_spreads_any_keeps)
{
    sched_loc_t l;
    sched_loc_init(&l);
    ck_assert_uint_eq(sched_loc_count(&l), 0);
    ck_assert_int_eq(sched_loc_add(&l, 3, false), 1);
    ck_assert_int_eq(sched_loc_add(&l, 3, false), 0);
    ck_assert(!l.spread);
    ck_assert_int_eq(sched_loc_add(&l, 4, false), 1);
    ck_assert(l.spread);
    ck_assert_uint_eq(sched_loc_count(&l), 1);
    sched_loc_fini(&l);

    sched_loc_init(&l);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(sched_loc_add(&l, i, true), 1);
    ck_assert_int_eq(sched_loc_add(&l, 5, true), 0);
    ck_assert_uint_eq(sched_loc_count(&l), 10);
    for (uint32_t i = 0; i < 10; i++)
        ck_assert_int_eq(sched_loc_at(&l, i), (int)i);
    ck_assert(sched_loc_has(&l, 9));
    ck_assert(!sched_loc_has(&l, 10));
    sched_loc_fini(&l);
}
END_TEST

static Suite *s_suite(void)
{
    Suite *s = suite_create("sched_parts");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_idmap_put_get_del_against_reference);
    tcase_add_test(tc, test_hashes_are_seeded_and_spread);
    tcase_add_test(tc, test_timeheap_orders_and_disarms_anywhere);
    tcase_add_test(tc, test_donecache_bounded_ring);
    tcase_add_test(tc, test_outbox_fifo_across_growth);
    tcase_add_test(tc, test_scheme_leastload_prefers_low_load_then_lru);
    tcase_add_test(tc, test_scheme_lru_takes_front);
    tcase_add_test(tc, test_scheme_random_ones_are_seeded_and_spread);
    tcase_add_test(tc, test_scheme_weighted_favours_idle);
    tcase_add_test(tc, test_scheme_by_name);
    tcase_add_test(tc, test_depset_matches_set_semantics_exhaustively);
    tcase_add_test(tc, test_loc_all_spreads_any_keeps);
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
