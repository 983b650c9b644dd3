/* schemes.c — the five routing schemes and the seeded generator.
 *
 * Pure functions of (candidates, generator). Every scheme returns an index
 * into the candidate array the scheduler built; none allocates or keeps
 * state between calls.
 */
#include "scheduler/schemes.h"

#include <string.h>

static uint64_t s_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void sched_rng_seed(sched_rng_t *rng, uint64_t seed)
{
    // Expand the seed with splitmix64, which never yields an all-zero state
    // for xoshiro from four consecutive outputs.
    for (int i = 0; i < 4; i++) {
        seed += 0x9e3779b97f4a7c15ULL;
        uint64_t z = seed;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        rng->s[i] = z ^ (z >> 31);
    }
}

uint64_t sched_rng_next(sched_rng_t *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = s_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = s_rotl(s[3], 45);
    return result;
}

uint64_t sched_rng_below(sched_rng_t *rng, uint64_t n)
{
    // Rejection sampling: no modulo bias for any n.
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do
        x = sched_rng_next(rng);
    while (x >= limit);
    return x % n;
}

double sched_rng_unit(sched_rng_t *rng)
{
    return (double)(sched_rng_next(rng) >> 11) * 0x1.0p-53;
}

static size_t s_leastload(const sched_cand_t *c, size_t n, sched_rng_t *rng)
{
    (void)rng;
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (c[i].load < c[best].load)
            best = i;  // strict: the first (least recently used) wins ties
    return best;
}

static size_t s_lru(const sched_cand_t *c, size_t n, sched_rng_t *rng)
{
    (void)c;
    (void)n;
    (void)rng;
    return 0;
}

static size_t s_plainrandom(const sched_cand_t *c, size_t n, sched_rng_t *rng)
{
    (void)c;
    return (size_t)sched_rng_below(rng, n);
}

static size_t s_twobin(const sched_cand_t *c, size_t n, sched_rng_t *rng)
{
    (void)c;
    size_t a = (size_t)sched_rng_below(rng, n);
    size_t b = (size_t)sched_rng_below(rng, n);
    return a < b ? a : b;
}

// s_weight: inverse load; an idle engine weighs a million times a busy one.
static double s_weight(uint32_t load)
{
    return 1.0 / (1e-6 + (double)load);
}

// s_pick_weighted: the candidate where the running sum of weights first
// reaches x (x < total).
static size_t s_pick_weighted(const sched_cand_t *c, size_t n, double x)
{
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        sum += s_weight(c[i].load);
        if (sum >= x)
            return i;
    }
    return n - 1;  // rounding: x within the last ulp of the total
}

static size_t s_weighted(const sched_cand_t *c, size_t n, sched_rng_t *rng)
{
    double total = 0;
    for (size_t i = 0; i < n; i++)
        total += s_weight(c[i].load);
    size_t a = s_pick_weighted(c, n, sched_rng_unit(rng) * total);
    size_t b = s_pick_weighted(c, n, sched_rng_unit(rng) * total);
    return c[b].load < c[a].load ? b : a;
}

const sched_scheme_ops_t sched_scheme_leastload = {"leastload", s_leastload};
const sched_scheme_ops_t sched_scheme_lru = {"lru", s_lru};
const sched_scheme_ops_t sched_scheme_plainrandom = {"plainrandom", s_plainrandom};
const sched_scheme_ops_t sched_scheme_twobin = {"twobin", s_twobin};
const sched_scheme_ops_t sched_scheme_weighted = {"weighted", s_weighted};

const sched_scheme_ops_t *sched_scheme_by_name(const char *name)
{
    static const sched_scheme_ops_t *const all[] = {
        &sched_scheme_leastload, &sched_scheme_lru,      &sched_scheme_plainrandom,
        &sched_scheme_twobin,    &sched_scheme_weighted,
    };
    if (!name)
        return NULL;
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strcmp(all[i]->name, name) == 0)
            return all[i];
    return NULL;
}
