/* timeheap.h — a binary min-heap of deadlines whose elements know their index.
 *
 * The scheduler's timeouts: each waiting task embeds a sched_timer_t, so
 * arming, disarming and re-arming a task's timer is O(log n) with no search
 * and no allocation beyond the heap's own array. The heap borrows timers;
 * it never frees them.
 */
#ifndef IPP_SCHED_TIMEHEAP_H
#define IPP_SCHED_TIMEHEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCHED_TIMER_IDLE SIZE_MAX

typedef struct sched_timer_t {
    int64_t deadline;  // µs on the scheduler's monotonic clock
    size_t index;      // position in the heap, SCHED_TIMER_IDLE when not armed
} sched_timer_t;

typedef struct sched_timeheap_t {
    sched_timer_t **items;  // heap array (owned); the timers are borrowed
    size_t count;           // timers armed
    size_t cap;             // allocated length of items
    uint64_t *ops;          // sift steps are added here (may be NULL)
} sched_timeheap_t;

// sched_timer_init: an idle timer.
void sched_timer_init(sched_timer_t *t);

// sched_timer_armed: is t in a heap?
bool sched_timer_armed(const sched_timer_t *t);

// sched_timeheap_init: an empty heap; sift steps are counted into *ops.
void sched_timeheap_init(sched_timeheap_t *h, uint64_t *ops);

// sched_timeheap_fini: free the array (not the timers).
void sched_timeheap_fini(sched_timeheap_t *h);

// sched_timeheap_arm: insert idle timer t with deadline. Returns 0, or -1
// when out of memory (t stays idle).
int sched_timeheap_arm(sched_timeheap_t *h, sched_timer_t *t, int64_t deadline);

// sched_timeheap_disarm: remove t if armed; no-op otherwise.
void sched_timeheap_disarm(sched_timeheap_t *h, sched_timer_t *t);

// sched_timeheap_peek: the earliest timer, or NULL when empty.
sched_timer_t *sched_timeheap_peek(const sched_timeheap_t *h);

#endif
