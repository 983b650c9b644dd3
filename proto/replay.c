/* replay.c — bounded memory of MACs seen, with a date watermark.
 *
 * A ring holds (fingerprint, date) in arrival order; an open-addressing
 * table of ring positions (linear probing, backward-shift deletion, no
 * tombstones) finds a fingerprint in O(1). Owns both arrays. Never
 * allocates after creation.
 */
#include "proto/replay.h"

#include <stdlib.h>
#include <string.h>

struct wire_replay_t {
    uint64_t *fp;       // ring: MAC fingerprints in arrival order
    int64_t *date;      // ring: their dates (µs)
    size_t cap;         // ring capacity
    size_t head;        // ring index of the oldest entry
    size_t count;       // entries in the ring
    uint32_t *slots;    // hash table: ring index + 1, 0 = empty
    size_t mask;        // table size - 1 (a power of two ≥ 2·cap)
    int64_t window;     // accepted skew either side of now (µs)
    int64_t watermark;  // newest date ever forgotten
};

wire_replay_t *wire_replay_new(size_t capacity, int64_t window_us)
{
    if (capacity == 0 || capacity > (1u << 30))
        return NULL;
    wire_replay_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    size_t tsize = 16;
    while (tsize < capacity * 2)
        tsize <<= 1;
    self->fp = malloc(capacity * sizeof *self->fp);
    self->date = malloc(capacity * sizeof *self->date);
    self->slots = calloc(tsize, sizeof *self->slots);
    if (!self->fp || !self->date || !self->slots) {
        wire_replay_destroy(&self);
        return NULL;
    }
    self->cap = capacity;
    self->mask = tsize - 1;
    self->window = window_us;
    self->watermark = INT64_MIN;
    return self;
}

void wire_replay_destroy(wire_replay_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    wire_replay_t *self = *self_p;
    free(self->fp);
    free(self->date);
    free(self->slots);
    free(self);
    *self_p = NULL;
}

// s_find_slot: the table slot holding ring index ri, or the empty slot where
// fingerprint f would go when ri is SIZE_MAX (lookup by fingerprint: then
// *found is set when an entry with f exists).
static size_t s_probe(const wire_replay_t *self, uint64_t f, size_t ri, int *found)
{
    size_t i = (size_t)f & self->mask;
    for (;;) {
        uint32_t v = self->slots[i];
        if (v == 0)
            return i;
        if (ri == SIZE_MAX) {
            if (self->fp[v - 1] == f) {
                *found = 1;
                return i;
            }
        } else if (v - 1 == ri) {
            return i;
        }
        i = (i + 1) & self->mask;
    }
}

// s_forget_oldest: drop the ring head from the table and advance the
// watermark to its date.
static void s_forget_oldest(wire_replay_t *self)
{
    size_t ri = self->head;
    size_t i = s_probe(self, self->fp[ri], ri, NULL);
    // Backward-shift deletion keeps every probe chain unbroken.
    size_t j = i;
    for (;;) {
        j = (j + 1) & self->mask;
        uint32_t v = self->slots[j];
        if (v == 0)
            break;
        size_t home = (size_t)self->fp[v - 1] & self->mask;
        // Move v back to i unless its home lies cyclically in (i, j].
        int between = (i <= j) ? (home > i && home <= j) : (home > i || home <= j);
        if (!between) {
            self->slots[i] = v;
            i = j;
        }
    }
    self->slots[i] = 0;
    if (self->date[ri] > self->watermark)
        self->watermark = self->date[ri];
    self->head = (self->head + 1) % self->cap;
    self->count--;
}

ipp_err_t wire_replay_check(wire_replay_t *self, const uint8_t *mac, size_t mac_len,
                            int64_t date_us, int64_t now_us)
{
    if (date_us < now_us - self->window || date_us > now_us + self->window)
        return IPP_ERR_STALE;
    // Entries dated before the window can go: the window check refuses
    // their replays already.
    while (self->count > 0 && self->date[self->head] < now_us - self->window)
        s_forget_oldest(self);
    if (date_us <= self->watermark)
        return IPP_ERR_STALE;
    uint64_t f = 0;
    memcpy(&f, mac, mac_len < sizeof f ? mac_len : sizeof f);
    int found = 0;
    size_t slot = s_probe(self, f, SIZE_MAX, &found);
    if (found)
        return IPP_ERR_REPLAY;
    if (self->count == self->cap) {
        s_forget_oldest(self);
        if (date_us <= self->watermark)
            return IPP_ERR_STALE;
        // The table changed: find the insertion slot again.
        slot = s_probe(self, f, SIZE_MAX, &found);
    }
    size_t ri = (self->head + self->count) % self->cap;
    self->fp[ri] = f;
    self->date[ri] = date_us;
    self->slots[slot] = (uint32_t)(ri + 1);
    self->count++;
    return IPP_OK;
}

size_t wire_replay_count(const wire_replay_t *self)
{
    return self->count;
}

int64_t wire_replay_watermark(const wire_replay_t *self)
{
    return self->watermark;
}
