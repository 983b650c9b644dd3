/* schemes.h — routing schemes for the load-balanced queue, behind an ops struct.
 *
 * A scheme chooses one engine from candidates that can all take the task
 * now (registered, allowed, under the high-water mark). Candidates come in
 * least-recently-used order, oldest first, each with its load (tasks sent
 * and not finished). The schemes are IPython Parallel's: leastload (the
 * lowest load, ties to the least recently used), lru, plainrandom, twobin
 * (two random picks, the less recently used one) and weighted (two picks
 * weighted by inverse load, the less loaded one). Random schemes draw from
 * the scheduler's seeded generator, so a given seed gives a given sequence.
 * A scheme keeps no state of its own and never allocates.
 */
#ifndef IPP_SCHED_SCHEMES_H
#define IPP_SCHED_SCHEMES_H

#include <stddef.h>
#include <stdint.h>

// A candidate engine for one placement.
typedef struct sched_cand_t {
    int32_t engine;  // engine id
    uint32_t load;   // tasks sent to it and not finished
} sched_cand_t;

// The scheduler's pseudo-random generator (xoshiro256**), seeded by config.
typedef struct sched_rng_t {
    uint64_t s[4];  // state; never all zero
} sched_rng_t;

typedef struct sched_scheme_ops_t {
    const char *name;  // the --scheme name
    // choose: the index (< n) of the candidate to use; n ≥ 1; cands in LRU
    // order, oldest first; may draw from rng.
    size_t (*choose)(const sched_cand_t *cands, size_t n, sched_rng_t *rng);
} sched_scheme_ops_t;

extern const sched_scheme_ops_t sched_scheme_leastload;
extern const sched_scheme_ops_t sched_scheme_lru;
extern const sched_scheme_ops_t sched_scheme_plainrandom;
extern const sched_scheme_ops_t sched_scheme_twobin;
extern const sched_scheme_ops_t sched_scheme_weighted;

// sched_scheme_by_name: the scheme called name ("leastload", "lru",
// "plainrandom", "twobin", "weighted"), or NULL. Static; never free it.
const sched_scheme_ops_t *sched_scheme_by_name(const char *name);

// sched_rng_seed: seed rng from seed (any value, 0 included).
void sched_rng_seed(sched_rng_t *rng, uint64_t seed);

// sched_rng_next: the next 64 random bits.
uint64_t sched_rng_next(sched_rng_t *rng);

// sched_rng_below: a uniform integer in [0, n); n ≥ 1.
uint64_t sched_rng_below(sched_rng_t *rng, uint64_t n);

// sched_rng_unit: a uniform double in [0, 1).
double sched_rng_unit(sched_rng_t *rng);

#endif
