/* deps.c — counters for Dependency semantics, and the follow location set.
 *
 * Owns only the location array. Never looks at msg_ids: the scheduler maps
 * finishing ids to the sets that wait on them.
 */
#include "scheduler/deps.h"

#include <stdlib.h>

void sched_depset_init(sched_depset_t *d, uint32_t n, bool all, bool success, bool failure)
{
    d->n = n;
    d->met = 0;
    d->bad = 0;
    d->all = all;
    d->success = success;
    d->failure = failure;
}

bool sched_depset_counts(const sched_depset_t *d, bool ok)
{
    return ok ? d->success : d->failure;
}

void sched_depset_note(sched_depset_t *d, bool counts)
{
    if (counts)
        d->met++;
    else
        d->bad++;
}

bool sched_depset_met(const sched_depset_t *d)
{
    if (d->n == 0)
        return true;
    return d->all ? d->met == d->n : d->met > 0;
}

bool sched_depset_unreachable(const sched_depset_t *d)
{
    if (d->n == 0)
        return false;
    return d->all ? d->bad > 0 : d->bad == d->n;
}

void sched_loc_init(sched_loc_t *l)
{
    l->first = -1;
    l->spread = false;
    l->more = NULL;
    l->n_more = 0;
    l->cap_more = 0;
}

void sched_loc_fini(sched_loc_t *l)
{
    free(l->more);
    sched_loc_init(l);
}

int sched_loc_add(sched_loc_t *l, int32_t engine, bool keep)
{
    if (l->first < 0) {
        l->first = engine;
        return 1;
    }
    if (sched_loc_has(l, engine))
        return 0;
    if (!keep) {
        l->spread = true;
        return 1;
    }
    if (l->n_more == l->cap_more) {
        uint32_t cap = l->cap_more ? l->cap_more * 2 : 4;
        int32_t *more = realloc(l->more, cap * sizeof *more);
        if (!more)
            return -1;
        l->more = more;
        l->cap_more = cap;
    }
    l->more[l->n_more++] = engine;
    l->spread = true;
    return 1;
}

uint32_t sched_loc_count(const sched_loc_t *l)
{
    return l->first < 0 ? 0 : 1 + l->n_more;
}

int32_t sched_loc_at(const sched_loc_t *l, uint32_t i)
{
    return i == 0 ? l->first : l->more[i - 1];
}

bool sched_loc_has(const sched_loc_t *l, int32_t engine)
{
    if (l->first == engine)
        return true;
    for (uint32_t i = 0; i < l->n_more; i++)
        if (l->more[i] == engine)
            return true;
    return false;
}
