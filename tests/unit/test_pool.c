/* test_pool.c — the block pool (proto/pool.c): objects come back zeroed
 * and aligned, freed ones are reused first, blocks grow as needed and are
 * all released at fini (ASan's leak check sees a missed one); and
 * IPP_GROW (proto/grow.c), the one doubling reallocation.
 */
#include "proto/grow.h"
#include "proto/pool.h"

#include "testutil.h"

#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

START_TEST(test_pool_reuses_and_zeroes)
{
    ipp_pool_t p;
    ipp_pool_init(&p, 40, 4);
    void *a[10];
    for (int i = 0; i < 10; i++) {
        a[i] = ipp_pool_alloc(&p);
        ck_assert_ptr_nonnull(a[i]);
        memset(a[i], 0xab, 40);
    }
    ck_assert_uint_eq(p.live, 10);
    ipp_pool_free(&p, a[3]);
    ck_assert_uint_eq(p.live, 9);
    void *b = ipp_pool_alloc(&p);
    ck_assert_ptr_eq(b, a[3]);
    for (int i = 0; i < 40; i++)
        ck_assert_int_eq(((unsigned char *)b)[i], 0);
    ipp_pool_free(&p, NULL);
    ck_assert_uint_eq(p.live, 10);
    ipp_pool_fini(&p);
    ck_assert_uint_eq(p.live, 0);
}
END_TEST

START_TEST(test_pool_objects_distinct_and_aligned)
{
    // Many blocks of odd-sized objects: every object is aligned for any
    // scalar and no two overlap (each keeps the pattern written into it).
    enum { N = 1000, SIZE = 37 };
    ipp_pool_t p;
    ipp_pool_init(&p, SIZE, 7);
    unsigned char **v = calloc(N, sizeof *v);
    ck_assert_ptr_nonnull(v);
    for (int i = 0; i < N; i++) {
        v[i] = ipp_pool_alloc(&p);
        ck_assert_ptr_nonnull(v[i]);
        ck_assert_uint_eq((uintptr_t)v[i] % alignof(max_align_t), 0);
        memset(v[i], i & 0xff, SIZE);
    }
    for (int i = 0; i < N; i++)
        for (int k = 0; k < SIZE; k++)
            ck_assert_int_eq(v[i][k], i & 0xff);
    // Free every other one, allocate as many again: the freed ones come back.
    for (int i = 0; i < N; i += 2)
        ipp_pool_free(&p, v[i]);
    ck_assert_uint_eq(p.live, N / 2);
    for (int i = 0; i < N; i += 2) {
        unsigned char *o = ipp_pool_alloc(&p);
        bool was_freed = false;
        for (int j = 0; j < N && !was_freed; j += 2)
            was_freed = o == v[j];
        ck_assert(was_freed);
    }
    ck_assert_uint_eq(p.live, N);
    ipp_pool_fini(&p);
    free(v);
}
END_TEST

START_TEST(test_pool_tiny_objects_and_zero_per_block)
{
    // An object smaller than a pointer still holds the free-list link; a
    // block size of 0 means one object per block.
    ipp_pool_t p;
    ipp_pool_init(&p, 1, 0);
    ck_assert_uint_ge(p.size, sizeof(void *));
    ck_assert_uint_eq(p.per_block, 1);
    void *a = ipp_pool_alloc(&p);
    void *b = ipp_pool_alloc(&p);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_ne(a, b);
    ipp_pool_free(&p, a);
    ipp_pool_free(&p, b);
    ck_assert_ptr_eq(ipp_pool_alloc(&p), b);  // last freed, first reused
    ipp_pool_fini(&p);
    ipp_pool_fini(&p);  // twice is harmless
}
END_TEST

// IPP_GROW: doubling from a first size, at least what is needed, the
// contents kept; an impossible size refused with nothing changed.
START_TEST(test_grow_doubles_and_refuses_overflow)
{
    int *v = NULL;
    size_t cap = 0;
    ck_assert_int_eq(IPP_GROW(v, cap, 1, 4), 0);
    ck_assert_uint_eq(cap, 4);
    for (int i = 0; i < 4; i++)
        v[i] = i;
    ck_assert_int_eq(IPP_GROW(v, cap, 4, 4), 0);  // fits: nothing to do
    ck_assert_uint_eq(cap, 4);
    ck_assert_int_eq(IPP_GROW(v, cap, 5, 4), 0);
    ck_assert_uint_eq(cap, 8);
    ck_assert_int_eq(IPP_GROW(v, cap, 100, 4), 0);  // more than twice: the need, doubled up
    ck_assert_uint_eq(cap, 128);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(v[i], i);
    int *before = v;
    ck_assert_int_eq(IPP_GROW(v, cap, SIZE_MAX / 2, 4), -1);  // the bytes would overflow
    ck_assert_ptr_eq(v, before);
    ck_assert_uint_eq(cap, 128);
    free(v);
    char *c = NULL;
    size_t cc = 0;
    ck_assert_int_eq(IPP_GROW(c, cc, 3, 0), 0);  // no first size: from 1
    ck_assert_uint_eq(cc, 4);
    free(c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pool");
    TCase *tc = tcase_create("pool");
    tcase_add_test(tc, test_pool_reuses_and_zeroes);
    tcase_add_test(tc, test_pool_objects_distinct_and_aligned);
    tcase_add_test(tc, test_pool_tiny_objects_and_zero_per_block);
    tcase_add_test(tc, test_grow_doubles_and_refuses_overflow);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
