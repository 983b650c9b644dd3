/* idmap.c — open addressing with linear probing and backward-shift delete.
 *
 * Owns only its slot table; records belong to the caller. A stored hash of
 * 0 is remapped to 1 so that a slot's emptiness is read from val alone and
 * the full hash can short-cut key comparisons.
 */
#include "scheduler/idmap.h"

#include <stdlib.h>
#include <string.h>

#define IDMAP_MIN 16

static uint64_t s_mix(uint64_t x)
{
    // splitmix64 finaliser: every input bit affects every output bit.
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

uint64_t sched_hash_str(uint64_t seed, const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ s_mix(seed);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ULL;
    }
    h = s_mix(h);
    return h ? h : 1;
}

uint64_t sched_hash_int(uint64_t seed, int64_t v)
{
    uint64_t h = s_mix((uint64_t)v ^ s_mix(seed + 0x9e3779b97f4a7c15ULL));
    return h ? h : 1;
}

int sched_idmap_init(sched_idmap_t *m, sched_idmap_eq_fn eq)
{
    memset(m, 0, sizeof *m);
    m->eq = eq;
    m->slots = calloc(IDMAP_MIN, sizeof *m->slots);
    if (!m->slots)
        return -1;
    m->mask = IDMAP_MIN - 1;
    return 0;
}

void sched_idmap_fini(sched_idmap_t *m)
{
    free(m->slots);
    m->slots = NULL;
    m->mask = 0;
    m->count = 0;
}

void *sched_idmap_get(const sched_idmap_t *m, uint64_t h, const void *key, uint64_t *probes)
{
    size_t i = (size_t)h & m->mask;
    uint64_t n = 0;
    void *found = NULL;
    for (;;) {
        const sched_idmap_slot_t *s = &m->slots[i];
        n++;
        if (!s->val)
            break;
        if (s->hash == h && m->eq(s->val, key)) {
            found = s->val;
            break;
        }
        i = (i + 1) & m->mask;
    }
    if (probes)
        *probes += n;
    return found;
}

// s_place: put (h, val) in the first empty slot of its probe chain.
static void s_place(sched_idmap_slot_t *slots, size_t mask, uint64_t h, void *val)
{
    size_t i = (size_t)h & mask;
    while (slots[i].val)
        i = (i + 1) & mask;
    slots[i].hash = h;
    slots[i].val = val;
}

static int s_grow(sched_idmap_t *m)
{
    size_t size = (m->mask + 1) * 2;
    sched_idmap_slot_t *slots = calloc(size, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t i = 0; i <= m->mask; i++)
        if (m->slots[i].val)
            s_place(slots, size - 1, m->slots[i].hash, m->slots[i].val);
    free(m->slots);
    m->slots = slots;
    m->mask = size - 1;
    return 0;
}

int sched_idmap_put(sched_idmap_t *m, uint64_t h, void *val)
{
    if ((m->count + 1) * 10 > (m->mask + 1) * 7 && s_grow(m) != 0)
        return -1;
    s_place(m->slots, m->mask, h, val);
    m->count++;
    return 0;
}

void *sched_idmap_del(sched_idmap_t *m, uint64_t h, const void *key)
{
    size_t i = (size_t)h & m->mask;
    for (;;) {
        sched_idmap_slot_t *s = &m->slots[i];
        if (!s->val)
            return NULL;
        if (s->hash == h && m->eq(s->val, key))
            break;
        i = (i + 1) & m->mask;
    }
    void *val = m->slots[i].val;
    // Backward shift: pull later members of the chain into the hole when
    // their home slot does not lie (cyclically) between the hole and them.
    size_t hole = i;
    size_t j = i;
    for (;;) {
        j = (j + 1) & m->mask;
        sched_idmap_slot_t *s = &m->slots[j];
        if (!s->val)
            break;
        size_t home = (size_t)s->hash & m->mask;
        bool movable = hole <= j ? (home <= hole || home > j) : (home <= hole && home > j);
        if (movable) {
            m->slots[hole] = *s;
            hole = j;
        }
    }
    m->slots[hole].val = NULL;
    m->slots[hole].hash = 0;
    m->count--;
    return val;
}
