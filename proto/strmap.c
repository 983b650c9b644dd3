/* strmap.c — an open-addressing string → pointer map.
 *
 * Hashes with FNV-1a over the key; slots hold the key pointer, the value
 * and the hash, so probes compare strings only on a hash match.
 */
#include "proto/strmap.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *key;  // borrowed; NULL = empty slot
    void *value;      // the caller's pointer
    uint64_t hash;    // of key
} s_slot_t;

struct ipp_strmap_t {
    s_slot_t *slots;  // table
    size_t mask;      // size - 1
    size_t count;     // entries
};

static uint64_t s_hash(const char *key)
{
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        h ^= *p;
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

ipp_strmap_t *ipp_strmap_new(void)
{
    ipp_strmap_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->slots = calloc(1024, sizeof *self->slots);
    if (!self->slots) {
        free(self);
        return NULL;
    }
    self->mask = 1023;
    return self;
}

void ipp_strmap_destroy(ipp_strmap_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->slots);
    free(*self_p);
    *self_p = NULL;
}

// s_find: slot index holding key, or the empty slot where it would go.
static size_t s_find(const ipp_strmap_t *self, const char *key, uint64_t h)
{
    size_t i = (size_t)h & self->mask;
    while (self->slots[i].key && (self->slots[i].hash != h || strcmp(self->slots[i].key, key) != 0))
        i = (i + 1) & self->mask;
    return i;
}

static int s_grow(ipp_strmap_t *self)
{
    size_t size = (self->mask + 1) * 2;
    s_slot_t *slots = calloc(size, sizeof *slots);
    if (!slots)
        return -1;
    s_slot_t *old = self->slots;
    size_t old_size = self->mask + 1;
    self->slots = slots;
    self->mask = size - 1;
    for (size_t i = 0; i < old_size; i++) {
        if (!old[i].key)
            continue;
        size_t j = (size_t)old[i].hash & self->mask;
        while (slots[j].key)
            j = (j + 1) & self->mask;
        slots[j] = old[i];
    }
    free(old);
    return 0;
}

int ipp_strmap_put(ipp_strmap_t *self, const char *key, void *value)
{
    if ((self->count + 1) * 2 > self->mask + 1 && s_grow(self) != 0)
        return -1;
    uint64_t h = s_hash(key);
    size_t i = s_find(self, key, h);
    if (self->slots[i].key)
        return 1;
    self->slots[i].key = key;
    self->slots[i].value = value;
    self->slots[i].hash = h;
    self->count++;
    return 0;
}

void *ipp_strmap_get(const ipp_strmap_t *self, const char *key)
{
    size_t i = s_find(self, key, s_hash(key));
    return self->slots[i].key ? self->slots[i].value : NULL;
}

void *ipp_strmap_del(ipp_strmap_t *self, const char *key)
{
    size_t i = s_find(self, key, s_hash(key));
    if (!self->slots[i].key)
        return NULL;
    void *value = self->slots[i].value;
    size_t j = i;
    for (;;) {
        j = (j + 1) & self->mask;
        if (!self->slots[j].key)
            break;
        size_t home = (size_t)self->slots[j].hash & self->mask;
        int between = (i <= j) ? (home > i && home <= j) : (home > i || home <= j);
        if (!between) {
            self->slots[i] = self->slots[j];
            i = j;
        }
    }
    self->slots[i].key = NULL;
    self->slots[i].value = NULL;
    self->count--;
    return value;
}

size_t ipp_strmap_count(const ipp_strmap_t *self)
{
    return self->count;
}

void ipp_strmap_each(const ipp_strmap_t *self, void (*fn)(void *, const char *, void *), void *arg)
{
    for (size_t i = 0; i <= self->mask; i++)
        if (self->slots[i].key)
            fn(arg, self->slots[i].key, self->slots[i].value);
}
