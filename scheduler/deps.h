/* deps.h — IPython Parallel's Dependency, kept as counters, and follow locations.
 *
 * A dependency is a set of msg_ids with three switches: all|any, success
 * (successes fulfil it) and failure (failures fulfil it). Instead of
 * re-testing set inclusion on every event, a task keeps three counts per
 * dependency — ids in the set, finished ids whose outcome counts, finished
 * ids whose outcome does not — and each finishing dependency updates them
 * in O(1). Then:
 *   met:         all → every id counts;      any → at least one counts;
 *   unreachable: all → some id cannot count; any → no id can count any more.
 * An empty dependency is always met and never unreachable.
 *
 * A `follow` dependency also says where: the task may run only on an engine
 * where (all → every, any → some) followed task ran with a counting
 * outcome. sched_loc_t collects those engines; with all=true a second
 * distinct engine makes the dependency impossible. A followed task that
 * finished without running anywhere (aborted, timed out, impossible) has no
 * location, so for `follow` its outcome never counts.
 */
#ifndef IPP_SCHED_DEPS_H
#define IPP_SCHED_DEPS_H

#include <stdbool.h>
#include <stdint.h>

typedef struct sched_depset_t {
    uint32_t n;    // distinct ids in the set
    uint32_t met;  // finished, with an outcome that counts
    uint32_t bad;  // finished, with an outcome that does not count
    bool all;      // all ids must count (else any one)
    bool success;  // a success counts
    bool failure;  // a failure counts
} sched_depset_t;

// sched_depset_init: a set of n distinct ids, none finished yet.
void sched_depset_init(sched_depset_t *d, uint32_t n, bool all, bool success, bool failure);

// sched_depset_counts: does an outcome (ok or not) fulfil d?
bool sched_depset_counts(const sched_depset_t *d, bool ok);

// sched_depset_note: one more id of d finished; counts says whether its
// outcome fulfils d.
void sched_depset_note(sched_depset_t *d, bool counts);

// sched_depset_met: is d fulfilled?
bool sched_depset_met(const sched_depset_t *d);

// sched_depset_unreachable: can d never be fulfilled whatever finishes next?
bool sched_depset_unreachable(const sched_depset_t *d);

// Engines where counting followed tasks ran.
typedef struct sched_loc_t {
    int32_t first;      // the first such engine, -1 before any
    bool spread;        // a second, different engine was seen
    int32_t *more;      // any-mode: the other distinct engines (owned)
    uint32_t n_more;    // entries in more
    uint32_t cap_more;  // allocated length of more
} sched_loc_t;

// sched_loc_init: no engine yet.
void sched_loc_init(sched_loc_t *l);

// sched_loc_fini: free the array.
void sched_loc_fini(sched_loc_t *l);

// sched_loc_add: note engine. With keep (any-mode) distinct engines are
// all kept; without (all-mode) only the first is, and a different one sets
// spread. Returns 1 if engine was new, 0 if already known, -1 when out of
// memory (nothing changed).
int sched_loc_add(sched_loc_t *l, int32_t engine, bool keep);

// sched_loc_count: distinct engines kept.
uint32_t sched_loc_count(const sched_loc_t *l);

// sched_loc_at: the i-th kept engine (i < sched_loc_count).
int32_t sched_loc_at(const sched_loc_t *l, uint32_t i);

// sched_loc_has: is engine kept?
bool sched_loc_has(const sched_loc_t *l, int32_t engine);

#endif
