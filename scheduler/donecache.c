/* donecache.c — ring of outcomes plus an idmap from msg_id to ring entry.
 *
 * Owns the ring and the map. Entries never move (the ring is allocated
 * once), so the map can point at them. A deleted entry leaves a hole in the
 * ring that is simply skipped when the ring wraps onto it.
 */
#include "scheduler/donecache.h"

#include "scheduler/idmap.h"

#include <stdlib.h>
#include <string.h>

struct sched_done_t {
    sched_done_entry_t *ring;  // capacity entries (owned)
    size_t cap;                // ring length
    size_t next;               // ring position written next
    size_t count;              // entries in use
    uint64_t seed;             // hash seed
    sched_idmap_t map;         // msg_id → entry in ring
};

static bool s_eq(const void *val, const void *key)
{
    return strcmp(((const sched_done_entry_t *)val)->msg_id, (const char *)key) == 0;
}

sched_done_t *sched_done_new(size_t capacity, uint64_t seed)
{
    if (capacity == 0)
        return NULL;
    sched_done_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->ring = calloc(capacity, sizeof *self->ring);
    if (!self->ring || sched_idmap_init(&self->map, s_eq) != 0) {
        sched_done_destroy(&self);
        return NULL;
    }
    self->cap = capacity;
    self->seed = seed;
    return self;
}

void sched_done_destroy(sched_done_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sched_done_t *self = *self_p;
    sched_idmap_fini(&self->map);
    free(self->ring);
    free(self);
    *self_p = NULL;
}

const sched_done_entry_t *sched_done_get(const sched_done_t *self, const char *msg_id)
{
    return sched_idmap_get(&self->map, sched_hash_str(self->seed, msg_id), msg_id, NULL);
}

int sched_done_put(sched_done_t *self, const char *msg_id, bool ok, int32_t engine)
{
    size_t len = strlen(msg_id);
    if (len > SCHED_ID_MAX)
        return -1;
    uint64_t h = sched_hash_str(self->seed, msg_id);
    sched_done_entry_t *e = sched_idmap_get(&self->map, h, msg_id, NULL);
    if (e) {
        e->ok = ok;
        e->engine = engine;
        return 0;
    }
    e = &self->ring[self->next];
    if (e->used) {
        sched_idmap_del(&self->map, sched_hash_str(self->seed, e->msg_id), e->msg_id);
        e->used = false;
        self->count--;
    }
    memcpy(e->msg_id, msg_id, len);
    e->msg_id[len] = '\0';
    e->ok = ok;
    e->engine = engine;
    if (sched_idmap_put(&self->map, h, e) != 0)
        return -1;
    e->used = true;
    self->count++;
    self->next = (self->next + 1) % self->cap;
    return 0;
}

void sched_done_del(sched_done_t *self, const char *msg_id)
{
    sched_done_entry_t *e = sched_idmap_del(&self->map, sched_hash_str(self->seed, msg_id), msg_id);
    if (e) {
        e->used = false;
        self->count--;
    }
}

size_t sched_done_count(const sched_done_t *self)
{
    return self->count;
}
