/* outbox.c — a growable ring of sched_out_t copies.
 *
 * Owns the ring. Grows by doubling and keeps its size afterwards, so a
 * steady flow of decisions allocates nothing.
 */
#include "scheduler/outbox.h"

#include <stdlib.h>
#include <string.h>

void sched_outbox_init(sched_outbox_t *o)
{
    memset(o, 0, sizeof *o);
}

void sched_outbox_fini(sched_outbox_t *o)
{
    free(o->ring);
    memset(o, 0, sizeof *o);
}

sched_out_t *sched_outbox_push(sched_outbox_t *o)
{
    if (o->count == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 64;
        sched_out_t *ring = malloc(cap * sizeof *ring);
        if (!ring)
            return NULL;
        // Unwrap into the new ring, oldest first.
        for (size_t i = 0; i < o->count; i++)
            ring[i] = o->ring[(o->head + i) % o->cap];
        free(o->ring);
        o->ring = ring;
        o->cap = cap;
        o->head = 0;
    }
    sched_out_t *slot = &o->ring[(o->head + o->count) % o->cap];
    o->count++;
    return slot;
}

int sched_outbox_pop(sched_outbox_t *o, sched_out_t *out)
{
    if (o->count == 0)
        return 0;
    *out = o->ring[o->head];
    o->head = (o->head + 1) % o->cap;
    o->count--;
    return 1;
}
