/* replay.c — bounded memory of MACs accepted, expiring each by its own date.
 *
 * Entries (a fingerprint each) sit in time buckets of 100 ms, a ring of
 * buckets covering the window and the forward skew; an open-addressing
 * table of entry indices (linear probing, backward-shift deletion, no
 * tombstones) finds a fingerprint in O(1). A bucket is dropped whole once
 * its dates are all older than the window. Owns the arrays and, when
 * persisted, the state file's descriptor. Never allocates after creation;
 * never blocks on the disk (no fsync on the way of a message).
 */
#include "proto/replay.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_MAGIC "IPPRGv1\n"
#define S_HEADER 64    // file: magic, ceiling, slot count, boot id
#define S_SLOT 16      // file: fingerprint, date per dated-ahead entry
#define S_BOOT_LEN 40  // file: boot id field

// A bucket: the entries whose dates fall in one 100 ms.
typedef struct s_bucket_t {
    int64_t id;      // bucket number (date / width, rounded down); INT64_MIN if unused
    uint32_t head;   // first entry + 1, 0 = none
    uint32_t count;  // entries in it
} s_bucket_t;

struct wire_replay_t {
    uint64_t *fp;         // per entry: MAC fingerprint
    uint32_t *next;       // per entry: next in its bucket or in the free list, + 1
    uint32_t *aslot;      // per entry: its slot among the dated-ahead + 1, 0 = not ahead
    uint32_t free_head;   // first free entry + 1
    size_t cap;           // entries
    size_t count;         // entries in use
    uint32_t *slots;      // hash table: entry + 1, 0 = empty
    size_t mask;          // table size − 1 (a power of two ≥ 2·cap)
    s_bucket_t *buckets;  // ring of buckets, indexed by id mod nb
    size_t nb;            // how many
    bool started;         // lo and high are set (first check or load)
    int64_t lo;           // oldest bucket kept; dates before it are refused
    int64_t high;         // latest now seen (µs)
    int64_t window;       // how old a message may be (µs)
    int64_t future;       // how far ahead a message may be dated (µs)
    int64_t forgot;       // dates before this were forgotten for lack of room
    int64_t not_before;   // dates at or before this are refused
    uint32_t *afree;      // stack of free dated-ahead slots
    size_t acap;          // dated-ahead slots
    size_t aused;         // in use
    int fd;               // state file, −1 when not persisted
    int64_t lease;        // ceiling over every date accepted not ahead
    bool write_failed;    // a write to the state file failed
};

// s_bid: the bucket of date d (rounded down, also below zero).
static int64_t s_bid(int64_t d)
{
    int64_t q = d / WIRE_REPLAY_BUCKET_US;
    return (d % WIRE_REPLAY_BUCKET_US < 0) ? q - 1 : q;
}

// s_bucket: the place in the ring of bucket id (owned by self).
static s_bucket_t *s_bucket(wire_replay_t *self, int64_t id)
{
    int64_t m = id % (int64_t)self->nb;
    return &self->buckets[m < 0 ? m + (int64_t)self->nb : m];
}

wire_replay_t *wire_replay_new(size_t capacity, int64_t window_us, int64_t future_us)
{
    const int64_t day = 86400LL * 1000000;
    if (capacity == 0 || capacity > (1u << 30) || window_us <= 0 || window_us > day ||
        future_us < 0 || future_us > window_us)
        return NULL;
    if (future_us == 0)
        future_us = window_us < 60LL * 1000000 ? window_us : 60LL * 1000000;
    wire_replay_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->fd = -1;
    size_t tsize = 16;
    while (tsize < capacity * 2)
        tsize <<= 1;
    self->nb = (size_t)((window_us + future_us) / WIRE_REPLAY_BUCKET_US) + 4;
    self->acap = capacity / 8;
    self->fp = malloc(capacity * sizeof *self->fp);
    self->next = malloc(capacity * sizeof *self->next);
    self->aslot = calloc(capacity, sizeof *self->aslot);
    self->slots = calloc(tsize, sizeof *self->slots);
    self->buckets = malloc(self->nb * sizeof *self->buckets);
    self->afree = malloc((self->acap ? self->acap : 1) * sizeof *self->afree);
    if (!self->fp || !self->next || !self->aslot || !self->slots || !self->buckets ||
        !self->afree) {
        wire_replay_destroy(&self);
        return NULL;
    }
    for (size_t i = 0; i < capacity; i++)
        self->next[i] = (i + 1 < capacity) ? (uint32_t)(i + 2) : 0;
    self->free_head = 1;
    for (size_t i = 0; i < self->nb; i++)
        self->buckets[i] = (s_bucket_t){INT64_MIN, 0, 0};
    for (size_t i = 0; i < self->acap; i++)
        self->afree[i] = (uint32_t)(self->acap - 1 - i);
    self->cap = capacity;
    self->mask = tsize - 1;
    self->window = window_us;
    self->future = future_us;
    self->forgot = INT64_MIN;
    self->not_before = INT64_MIN;
    self->lease = INT64_MIN;
    return self;
}

void wire_replay_destroy(wire_replay_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    wire_replay_t *self = *self_p;
    if (self->fd >= 0)
        close(self->fd);
    free(self->fp);
    free(self->next);
    free(self->aslot);
    free(self->slots);
    free(self->buckets);
    free(self->afree);
    free(self);
    *self_p = NULL;
}

// ------------------------------------------------------------ hash table

// s_probe: the table slot holding entry e, or the empty slot where
// fingerprint f would go when e is SIZE_MAX (lookup by fingerprint: then
// *found is set when an entry with f exists).
static size_t s_probe(const wire_replay_t *self, uint64_t f, size_t e, int *found)
{
    size_t i = (size_t)f & self->mask;
    for (;;) {
        uint32_t v = self->slots[i];
        if (v == 0)
            return i;
        if (e == SIZE_MAX) {
            if (self->fp[v - 1] == f) {
                *found = 1;
                return i;
            }
        } else if (v - 1 == e) {
            return i;
        }
        i = (i + 1) & self->mask;
    }
}

// s_unhash: take entry e out of the table.
static void s_unhash(wire_replay_t *self, size_t e)
{
    size_t i = s_probe(self, self->fp[e], e, NULL);
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
}

// --------------------------------------------------------------- buckets

// s_drop: forget every entry of bucket id (if it is kept).
static void s_drop(wire_replay_t *self, int64_t id)
{
    s_bucket_t *b = s_bucket(self, id);
    if (b->id != id)
        return;
    uint32_t v = b->head;
    while (v) {
        size_t e = v - 1;
        v = self->next[e];
        s_unhash(self, e);
        if (self->aslot[e]) {
            self->afree[self->acap - self->aused] = self->aslot[e] - 1;
            self->aused--;
            self->aslot[e] = 0;
        }
        self->next[e] = self->free_head;
        self->free_head = (uint32_t)(e + 1);
        self->count--;
    }
    *b = (s_bucket_t){INT64_MIN, 0, 0};
}

// s_advance: note the time now; drop the buckets whose dates are all
// older than the window.
static void s_advance(wire_replay_t *self, int64_t now)
{
    if (!self->started) {
        self->started = true;
        self->high = now;
        self->lo = s_bid(now - self->window);
        return;
    }
    if (now <= self->high)
        return;  // a clock stepping back never brings forgotten dates back
    self->high = now;
    int64_t lo = s_bid(now - self->window);
    if (lo <= self->lo)
        return;
    if (lo - self->lo >= (int64_t)self->nb) {
        for (size_t i = 0; i < self->nb; i++)
            if (self->buckets[i].id != INT64_MIN && self->buckets[i].id < lo)
                s_drop(self, self->buckets[i].id);
    } else {
        for (int64_t id = self->lo; id < lo; id++)
            s_drop(self, id);
    }
    self->lo = lo;
}

// s_oldest: the oldest bucket holding entries, INT64_MAX if none.
static int64_t s_oldest(wire_replay_t *self)
{
    int64_t from = self->lo;
    if (self->forgot != INT64_MIN && s_bid(self->forgot) > from)
        from = s_bid(self->forgot);
    int64_t to = s_bid(self->high + self->future);
    for (int64_t id = from; id <= to; id++) {
        s_bucket_t *b = s_bucket(self, id);
        if (b->id == id && b->count)
            return id;
    }
    return INT64_MAX;
}

// s_insert: remember fingerprint f dated d at table slot; false if its
// bucket's place in the ring is taken (cannot happen while dates stay in
// the span the ring covers).
static bool s_insert(wire_replay_t *self, uint64_t f, int64_t d, size_t slot)
{
    int64_t id = s_bid(d);
    s_bucket_t *b = s_bucket(self, id);
    if (b->id != id) {
        if (b->count)
            return false;
        *b = (s_bucket_t){id, 0, 0};
    }
    size_t e = self->free_head - 1;
    self->free_head = self->next[e];
    self->fp[e] = f;
    self->aslot[e] = 0;
    self->next[e] = b->head;
    b->head = (uint32_t)(e + 1);
    b->count++;
    self->slots[slot] = (uint32_t)(e + 1);
    self->count++;
    return true;
}

// ------------------------------------------------------------ the file

// s_put: pwrite all of buf at off; false (and the failure noted) if not.
static bool s_put(wire_replay_t *self, const void *buf, size_t len, off_t off)
{
    if (self->fd < 0)
        return true;
    if (pwrite(self->fd, buf, len, off) == (ssize_t)len)
        return true;
    self->write_failed = true;
    return false;
}

// s_put_ahead: write dated-ahead slot k: fingerprint f, date d.
static void s_put_ahead(wire_replay_t *self, size_t k, uint64_t f, int64_t d)
{
    uint8_t rec[S_SLOT];
    memcpy(rec, &f, 8);
    memcpy(rec + 8, &d, 8);
    s_put(self, rec, sizeof rec, (off_t)(S_HEADER + k * S_SLOT));
}

// s_take_ahead: give entry e (fingerprint f, date d) a dated-ahead slot
// and write it to the file. The caller checked that one is free.
static void s_take_ahead(wire_replay_t *self, size_t e, uint64_t f, int64_t d)
{
    size_t k = self->afree[self->acap - self->aused - 1];
    self->aused++;
    self->aslot[e] = (uint32_t)(k + 1);
    s_put_ahead(self, k, f, d);
}

// ----------------------------------------------------------------- check

ipp_err_t wire_replay_check(wire_replay_t *self, const uint8_t *mac, size_t mac_len,
                            int64_t date_us, int64_t now_us, wire_replay_why_t *why)
{
    wire_replay_why_t w = WIRE_REPLAY_FRESH;
    ipp_err_t rc = IPP_ERR_STALE;
    int64_t d = date_us;
    if (d < now_us - self->window) {
        w = WIRE_REPLAY_PAST;
        goto out;
    }
    if (d > now_us + self->future) {
        w = WIRE_REPLAY_FUTURE;
        goto out;
    }
    s_advance(self, now_us);
    int64_t id = s_bid(d);
    if (id < self->lo) {
        w = WIRE_REPLAY_PAST;  // only after the clock stepped back
        goto out;
    }
    if (d <= self->not_before) {
        w = WIRE_REPLAY_NOT_BEFORE;
        goto out;
    }
    if (d < self->forgot) {
        w = WIRE_REPLAY_FORGOTTEN;
        goto out;
    }
    uint64_t f = 0;
    memcpy(&f, mac, mac_len < sizeof f ? mac_len : sizeof f);
    int found = 0;
    size_t slot = s_probe(self, f, SIZE_MAX, &found);
    if (found) {
        w = WIRE_REPLAY_SEEN;
        rc = IPP_ERR_REPLAY;
        goto out;
    }
    bool ahead = d > now_us + WIRE_REPLAY_AHEAD_US;
    if (ahead && self->aused == self->acap) {
        w = WIRE_REPLAY_AHEAD_FULL;
        goto out;
    }
    if (self->count == self->cap) {
        // Full of dates still inside the window. Forget the oldest-dated
        // bucket, unless the newcomer is the oldest-dated (then it goes),
        // and never one dated ahead: time would bring its dates to every
        // correctly dated message. Dated-ahead entries hold at most an
        // eighth of the room, so the oldest bucket is one not ahead.
        int64_t old = s_oldest(self);
        if (old == INT64_MAX || old >= id || old > s_bid(now_us + WIRE_REPLAY_AHEAD_US)) {
            w = WIRE_REPLAY_FULL;
            goto out;
        }
        s_drop(self, old);
        int64_t end = (old + 1) * WIRE_REPLAY_BUCKET_US;
        if (end > self->forgot)
            self->forgot = end;
        slot = s_probe(self, f, SIZE_MAX, &found);
    }
    if (!ahead && d > self->lease) {
        // Raised before the message counts as accepted, in steps, so a
        // restart knows a ceiling over every date this run accepted.
        int64_t base = d > now_us ? d : now_us;
        self->lease = base + WIRE_REPLAY_LEASE_US;
        s_put(self, &self->lease, sizeof self->lease, 8);
    }
    if (!s_insert(self, f, d, slot)) {
        w = WIRE_REPLAY_FULL;
        goto out;
    }
    if (ahead)
        s_take_ahead(self, self->slots[slot] - 1, f, d);
    rc = IPP_OK;
out:
    if (why)
        *why = w;
    return rc;
}

// ------------------------------------------------------------ persisting

// s_boot_id: this machine's boot id into out ("" when unknown).
static void s_boot_id(char out[S_BOOT_LEN])
{
    memset(out, 0, S_BOOT_LEN);
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");
    if (!f)
        return;
    if (!fgets(out, S_BOOT_LEN, f))
        out[0] = '\0';
    fclose(f);
    out[strcspn(out, "\n")] = '\0';
}

// s_load: remember again the dated-ahead entries of a previous run (n
// records at recs) that the ceiling *ceil does not cover, writing each to
// img at its new slot; raise *ceil over any that cannot be remembered.
static void s_load(wire_replay_t *self, const uint8_t *recs, uint64_t n, int64_t now, int64_t *ceil,
                   uint8_t *img)
{
    for (uint64_t k = 0; k < n; k++) {
        uint64_t f;
        int64_t d;
        memcpy(&f, recs + k * S_SLOT, 8);
        memcpy(&d, recs + k * S_SLOT + 8, 8);
        if ((f == 0 && d == 0) || d <= *ceil || d < now - self->window)
            continue;  // empty, covered by the ceiling, or expired
        int found = 0;
        size_t slot = s_probe(self, f, SIZE_MAX, &found);
        if (found)
            continue;
        if (d > now + self->future || s_bid(d) < self->lo || self->aused == self->acap ||
            self->count == self->cap || !s_insert(self, f, d, slot)) {
            // Our clock went back, or there is less room than before:
            // refuse by date what cannot be refused by MAC.
            *ceil = d;
            continue;
        }
        s_take_ahead(self, self->slots[slot] - 1, f, d);
        size_t at = self->aslot[self->slots[slot] - 1] - 1;
        memcpy(img + S_HEADER + at * S_SLOT, &f, 8);
        memcpy(img + S_HEADER + at * S_SLOT + 8, &d, 8);
    }
}

ipp_err_t wire_replay_persist(wire_replay_t *self, const char *path, int64_t now_us,
                              int64_t *ceiling_us, ipp_error_t *err)
{
    ipp_err_t rc = IPP_OK;
    int fd = -1, tfd = -1;
    uint8_t *img = NULL, *recs = NULL;
    char tmp[4200];
    if (self->fd >= 0 || strlen(path) + 5 > sizeof tmp) {
        rc = ipp_error_set(err, IPP_ERR_INVALID, "replay guard: cannot keep its state in %s", path);
        goto out;
    }
    s_advance(self, now_us);
    char boot[S_BOOT_LEN];
    s_boot_id(boot);
    // With no file, nothing says what an earlier run accepted: refuse
    // whatever was signed before this run.
    int64_t ceil = now_us;
    size_t img_size = S_HEADER + self->acap * S_SLOT;
    img = calloc(1, img_size);
    if (!img) {
        rc = ipp_error_set(err, IPP_ERR_NOMEM, "replay guard: no memory to load %s", path);
        goto out;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno != ENOENT) {
        rc = ipp_error_set(err, IPP_ERR_IO, "replay guard: cannot open %s: %s", path,
                           strerror(errno));
        goto out;
    }
    struct stat st;
    uint8_t hdr[S_HEADER];
    if (fd >= 0 && fstat(fd, &st) == 0 && st.st_size >= S_HEADER &&
        pread(fd, hdr, S_HEADER, 0) == S_HEADER && memcmp(hdr, S_MAGIC, 8) == 0) {
        int64_t lease;
        uint64_t n;
        char fboot[S_BOOT_LEN];
        memcpy(&lease, hdr + 8, 8);
        memcpy(&n, hdr + 16, 8);
        memcpy(fboot, hdr + 24, S_BOOT_LEN);
        fboot[S_BOOT_LEN - 1] = '\0';
        // Same boot: the page cache kept every write, so the ceiling is
        // exact. After a reboot writes may be lost: this run's start is
        // a ceiling over everything the old run accepted not ahead.
        if (boot[0] && strcmp(boot, fboot) == 0)
            ceil = lease;
        else if (lease > ceil)
            ceil = lease;
        uint64_t fit = (uint64_t)(st.st_size - S_HEADER) / S_SLOT;
        if (n > fit)
            n = fit;
        recs = n ? malloc(n * S_SLOT) : NULL;
        if (n && (!recs || pread(fd, recs, n * S_SLOT, S_HEADER) != (ssize_t)(n * S_SLOT))) {
            rc = ipp_error_set(err, IPP_ERR_IO, "replay guard: cannot read %s", path);
            goto out;
        }
        s_load(self, recs, n, now_us, &ceil, img);
    }
    uint64_t na = self->acap;
    memcpy(img, S_MAGIC, 8);
    memcpy(img + 8, &ceil, 8);
    memcpy(img + 16, &na, 8);
    memcpy(img + 24, boot, S_BOOT_LEN);
    // A fresh image, written aside and renamed over: a crash now leaves
    // the old file or the new, whole.
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    tfd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (tfd < 0 || write(tfd, img, img_size) != (ssize_t)img_size || fsync(tfd) != 0 ||
        rename(tmp, path) != 0) {
        rc = ipp_error_set(err, IPP_ERR_IO, "replay guard: cannot write %s: %s", tmp,
                           strerror(errno));
        unlink(tmp);
        goto out;
    }
    self->fd = open(path, O_RDWR | O_CLOEXEC);
    if (self->fd < 0) {
        rc = ipp_error_set(err, IPP_ERR_IO, "replay guard: cannot open %s: %s", path,
                           strerror(errno));
        goto out;
    }
    self->lease = ceil;
    if (ceil > self->not_before)
        self->not_before = ceil;
    if (ceiling_us)
        *ceiling_us = ceil;
out:
    if (fd >= 0)
        close(fd);
    if (tfd >= 0)
        close(tfd);
    free(img);
    free(recs);
    return rc;
}

// -------------------------------------------------------------- accessors

void wire_replay_set_not_before(wire_replay_t *self, int64_t t)
{
    self->not_before = t;
}

int64_t wire_replay_not_before(const wire_replay_t *self)
{
    return self->not_before;
}

int64_t wire_replay_future(const wire_replay_t *self)
{
    return self->future;
}

int64_t wire_replay_window(const wire_replay_t *self)
{
    return self->window;
}

size_t wire_replay_count(const wire_replay_t *self)
{
    return self->count;
}

size_t wire_replay_ahead_count(const wire_replay_t *self)
{
    return self->aused;
}

size_t wire_replay_ahead_capacity(const wire_replay_t *self)
{
    return self->acap;
}

size_t wire_replay_memory(const wire_replay_t *self)
{
    return sizeof *self +
           self->cap * (sizeof *self->fp + sizeof *self->next + sizeof *self->aslot) +
           (self->mask + 1) * sizeof *self->slots + self->nb * sizeof *self->buckets +
           (self->acap ? self->acap : 1) * sizeof *self->afree;
}

bool wire_replay_write_failed(const wire_replay_t *self)
{
    return self->write_failed;
}
