/* outbox.h — the scheduler's decisions waiting to be told to the hub.
 *
 * The scheduler never calls the hub's dispatch or finish callbacks while
 * its own state is half-updated: each decision is copied here, and the
 * outermost public call delivers them in order once its work is done. So a
 * callback may call back into the scheduler, and a deep cascade (a chain of
 * 100,000 tasks failing) is a loop, not a recursion. Entries are copies:
 * they stay valid whatever the scheduler does with the task afterwards.
 */
#ifndef IPP_SCHED_OUTBOX_H
#define IPP_SCHED_OUTBOX_H

#include "scheduler/donecache.h"

#include <stddef.h>
#include <stdint.h>

#define SCHED_EVALUE_MAX 192  // longest evalue text kept, NUL included

typedef enum sched_out_kind_t {
    SCHED_OUT_DISPATCH = 1,  // send the task to engine
    SCHED_OUT_FINISH = 2,    // the scheduler failed the task itself
} sched_out_kind_t;

typedef struct sched_out_t {
    sched_out_kind_t kind;          // what to tell
    int32_t engine;                 // DISPATCH: the engine
    int why;                        // FINISH: a sched_outcome_t
    void *user;                     // the hub's pointer for the task
    char msg_id[SCHED_ID_MAX + 1];  // the task's id
    char evalue[SCHED_EVALUE_MAX];  // FINISH: the message
} sched_out_t;

typedef struct sched_outbox_t {
    sched_out_t *ring;  // entries (owned)
    size_t cap;         // ring length
    size_t head;        // oldest entry
    size_t count;       // entries queued
} sched_outbox_t;

// sched_outbox_init: an empty outbox.
void sched_outbox_init(sched_outbox_t *o);

// sched_outbox_fini: free the ring, dropping undelivered entries.
void sched_outbox_fini(sched_outbox_t *o);

// sched_outbox_push: a slot at the tail for the caller to fill, or NULL
// when out of memory. Valid until the next push or pop.
sched_out_t *sched_outbox_push(sched_outbox_t *o);

// sched_outbox_pop: copy the oldest entry into *out and drop it. Returns 1,
// or 0 when empty.
int sched_outbox_pop(sched_outbox_t *o, sched_out_t *out);

#endif
