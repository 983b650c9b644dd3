/* idmap.h — open-addressing hash map from a key to a caller's record.
 *
 * The scheduler's index of msg_ids (live tasks, finished outcomes) and of
 * engine ids. The map stores pointers to records that carry their own key;
 * it never copies keys and never frees records — their owner does. Linear
 * probing with backward-shift deletion (no tombstones), so lookups stay
 * short however many inserts and deletes have happened. It grows by
 * doubling at 70 % load; a growth rehashes every entry once, which is
 * amortised O(1) per insert and never happens on lookup or delete.
 *
 * The body is public so the map can be embedded; treat the fields as
 * private.
 */
#ifndef IPP_SCHED_IDMAP_H
#define IPP_SCHED_IDMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// sched_idmap_eq_fn: does record val have key key?
typedef bool (*sched_idmap_eq_fn)(const void *val, const void *key);

typedef struct sched_idmap_slot_t {
    uint64_t hash;  // full hash of the record's key (0 never stored: see idmap.c)
    void *val;      // the record (borrowed), NULL when the slot is empty
} sched_idmap_slot_t;

typedef struct sched_idmap_t {
    sched_idmap_slot_t *slots;  // table of mask + 1 slots (owned)
    size_t mask;                // table size - 1; size is a power of two
    size_t count;               // records stored
    sched_idmap_eq_fn eq;       // key comparison
} sched_idmap_t;

// sched_idmap_init: an empty map comparing keys with eq. Returns 0, or -1
// when out of memory (then *m is safe to fini).
int sched_idmap_init(sched_idmap_t *m, sched_idmap_eq_fn eq);

// sched_idmap_fini: free the table (not the records). Safe on a zeroed map.
void sched_idmap_fini(sched_idmap_t *m);

// sched_idmap_get: the record with key (whose hash is h), or NULL. *probes
// (if not NULL) is incremented by the slots inspected.
void *sched_idmap_get(const sched_idmap_t *m, uint64_t h, const void *key, uint64_t *probes);

// sched_idmap_put: store val under hash h; its key must not be present.
// The map borrows val. Returns 0, or -1 when out of memory (map unchanged).
int sched_idmap_put(sched_idmap_t *m, uint64_t h, void *val);

// sched_idmap_del: remove and return the record with key, or NULL.
void *sched_idmap_del(sched_idmap_t *m, uint64_t h, const void *key);

// sched_hash_str: a seeded 64-bit hash of a NUL-terminated string.
uint64_t sched_hash_str(uint64_t seed, const char *s);

// sched_hash_int: a seeded 64-bit hash of an integer.
uint64_t sched_hash_int(uint64_t seed, int64_t v);

#endif
