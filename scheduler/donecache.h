/* donecache.h — a bounded memory of recently finished tasks' outcomes.
 *
 * When a task finishes, the scheduler forgets the task and keeps only its
 * outcome here: (msg_id, ok, engine). New dependencies on it are resolved
 * from this cache without asking the hub. The cache is a ring: at capacity,
 * the oldest outcome is forgotten (the hub still has it in the database and
 * answers through the lookup callback). So memory is fixed however many
 * tasks complete. Allocates only at creation.
 */
#ifndef IPP_SCHED_DONECACHE_H
#define IPP_SCHED_DONECACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCHED_ID_MAX 63  // longest msg_id accepted, in bytes

typedef struct sched_done_t sched_done_t;

typedef struct sched_done_entry_t {
    char msg_id[SCHED_ID_MAX + 1];  // the finished task's id
    int32_t engine;                 // where it ran, -1 if it never ran
    bool ok;                        // finished successfully
    bool used;                      // slot holds an outcome
} sched_done_entry_t;

// sched_done_new: a cache of capacity outcomes (capacity ≥ 1). NULL on
// failure. Caller owns the result.
sched_done_t *sched_done_new(size_t capacity, uint64_t seed);

// sched_done_destroy: free *self_p (NULL-safe) and set it to NULL.
void sched_done_destroy(sched_done_t **self_p);

// sched_done_get: the outcome of msg_id, or NULL. The entry is owned by the
// cache and valid until the next put or del.
const sched_done_entry_t *sched_done_get(const sched_done_t *self, const char *msg_id);

// sched_done_put: remember msg_id's outcome (replacing an older one for the
// same id), forgetting the oldest outcome when full. Returns 0, or -1 when
// msg_id is longer than SCHED_ID_MAX or memory ran out (nothing stored).
int sched_done_put(sched_done_t *self, const char *msg_id, bool ok, int32_t engine);

// sched_done_del: forget msg_id's outcome if present.
void sched_done_del(sched_done_t *self, const char *msg_id);

// sched_done_count: outcomes remembered now.
size_t sched_done_count(const sched_done_t *self);

#endif
