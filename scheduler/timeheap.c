/* timeheap.c — binary min-heap on deadline, index kept in each element.
 *
 * Owns the pointer array only. Ties are broken by nothing: two timers with
 * the same deadline fire in an unspecified order, both in the same tick.
 */
#include "scheduler/timeheap.h"
#include "proto/grow.h"

#include <stdlib.h>

void sched_timer_init(sched_timer_t *t)
{
    t->deadline = 0;
    t->index = SCHED_TIMER_IDLE;
}

bool sched_timer_armed(const sched_timer_t *t)
{
    return t->index != SCHED_TIMER_IDLE;
}

void sched_timeheap_init(sched_timeheap_t *h, uint64_t *ops)
{
    h->items = NULL;
    h->count = 0;
    h->cap = 0;
    h->ops = ops;
}

void sched_timeheap_fini(sched_timeheap_t *h)
{
    for (size_t i = 0; i < h->count; i++)
        h->items[i]->index = SCHED_TIMER_IDLE;
    free(h->items);
    h->items = NULL;
    h->count = h->cap = 0;
}

static void s_set(sched_timeheap_t *h, size_t i, sched_timer_t *t)
{
    h->items[i] = t;
    t->index = i;
    if (h->ops)
        (*h->ops)++;
}

static void s_up(sched_timeheap_t *h, size_t i)
{
    sched_timer_t *t = h->items[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (h->items[parent]->deadline <= t->deadline)
            break;
        s_set(h, i, h->items[parent]);
        i = parent;
    }
    s_set(h, i, t);
}

static void s_down(sched_timeheap_t *h, size_t i)
{
    sched_timer_t *t = h->items[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= h->count)
            break;
        if (child + 1 < h->count && h->items[child + 1]->deadline < h->items[child]->deadline)
            child++;
        if (t->deadline <= h->items[child]->deadline)
            break;
        s_set(h, i, h->items[child]);
        i = child;
    }
    s_set(h, i, t);
}

int sched_timeheap_arm(sched_timeheap_t *h, sched_timer_t *t, int64_t deadline)
{
    if (IPP_GROW(h->items, h->cap, h->count + 1, 64) != 0)
        return -1;
    t->deadline = deadline;
    h->items[h->count] = t;
    t->index = h->count;
    h->count++;
    s_up(h, t->index);
    return 0;
}

void sched_timeheap_disarm(sched_timeheap_t *h, sched_timer_t *t)
{
    if (t->index == SCHED_TIMER_IDLE)
        return;
    size_t i = t->index;
    t->index = SCHED_TIMER_IDLE;
    h->count--;
    if (i == h->count)
        return;
    // Move the last element into the hole and restore order in whichever
    // direction it is out of place.
    sched_timer_t *last = h->items[h->count];
    h->items[i] = last;
    last->index = i;
    if (i > 0 && h->items[(i - 1) / 2]->deadline > last->deadline)
        s_up(h, i);
    else
        s_down(h, i);
}

sched_timer_t *sched_timeheap_peek(const sched_timeheap_t *h)
{
    return h->count ? h->items[0] : NULL;
}
