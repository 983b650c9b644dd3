/* namespace.c — eng_namespace_t, a string → bytes hash map.
 *
 * Owns every key and value it holds (copies in, borrowed pointers out).
 * Chained buckets, FNV-1a hashes, doubling at load 1. A push prepares
 * every new entry before touching the map, so it never half-applies.
 */
#include "engine/namespace.h"

#include "proto/clock.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct s_entry_t {
    struct s_entry_t *next;  // next in the bucket chain
    uint64_t hash;           // FNV-1a of key
    void *data;              // value bytes, owned; NULL when len is 0
    size_t len;              // value length
    char key[];              // NUL-terminated key
} s_entry_t;

struct eng_namespace_t {
    s_entry_t **buckets;  // nbuckets chain heads, owned
    size_t nbuckets;      // a power of two
    size_t count;         // entries in the map
};

#define S_MIN_BUCKETS 16

static uint64_t s_hash(const char *key)
{
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        h ^= *p;
        h *= 1099511628211ull;
    }
    return h;
}

eng_namespace_t *eng_namespace_new(void)
{
    eng_namespace_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->buckets = calloc(S_MIN_BUCKETS, sizeof *self->buckets);
    if (!self->buckets) {
        free(self);
        return NULL;
    }
    self->nbuckets = S_MIN_BUCKETS;
    return self;
}

static void s_entry_free(s_entry_t *e)
{
    if (!e)
        return;
    free(e->data);
    free(e);
}

void eng_namespace_clear(eng_namespace_t *self)
{
    for (size_t i = 0; i < self->nbuckets; i++) {
        s_entry_t *e = self->buckets[i];
        while (e) {
            s_entry_t *next = e->next;
            s_entry_free(e);
            e = next;
        }
        self->buckets[i] = NULL;
    }
    self->count = 0;
}

void eng_namespace_destroy(eng_namespace_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    eng_namespace_t *self = *self_p;
    eng_namespace_clear(self);
    free(self->buckets);
    free(self);
    *self_p = NULL;
}

size_t eng_namespace_count(const eng_namespace_t *self)
{
    return self->count;
}

// s_find: the link pointing at key's entry (*link is NULL when absent).
static s_entry_t **s_find(const eng_namespace_t *self, const char *key, uint64_t hash)
{
    s_entry_t **link = &self->buckets[hash & (self->nbuckets - 1)];
    while (*link && ((*link)->hash != hash || strcmp((*link)->key, key) != 0))
        link = &(*link)->next;
    return link;
}

// s_entry_new: a detached entry holding copies of key and value.
static s_entry_t *s_entry_new(const char *key, const void *data, size_t len)
{
    size_t klen = strlen(key);
    s_entry_t *e = malloc(sizeof *e + klen + 1);
    if (!e)
        return NULL;
    e->next = NULL;
    e->hash = s_hash(key);
    e->data = NULL;
    e->len = len;
    memcpy(e->key, key, klen + 1);
    if (len) {
        e->data = malloc(len);
        if (!e->data) {
            free(e);
            return NULL;
        }
        memcpy(e->data, data, len);
    }
    return e;
}

// s_grow: double the buckets when the load passes 1. A failed allocation
// only leaves chains longer, so it is not an error.
static void s_grow(eng_namespace_t *self)
{
    if (self->count <= self->nbuckets)
        return;
    size_t n = self->nbuckets * 2;
    s_entry_t **fresh = calloc(n, sizeof *fresh);
    if (!fresh)
        return;
    for (size_t i = 0; i < self->nbuckets; i++) {
        s_entry_t *e = self->buckets[i];
        while (e) {
            s_entry_t *next = e->next;
            s_entry_t **head = &fresh[e->hash & (n - 1)];
            e->next = *head;
            *head = e;
            e = next;
        }
    }
    free(self->buckets);
    self->buckets = fresh;
    self->nbuckets = n;
}

// s_commit: put a prepared entry in the map, replacing any old value.
// Takes ownership of e; cannot fail.
static void s_commit(eng_namespace_t *self, s_entry_t *e)
{
    s_entry_t **link = s_find(self, e->key, e->hash);
    if (*link) {
        s_entry_t *old = *link;
        e->next = old->next;
        *link = e;
        s_entry_free(old);
        return;
    }
    *link = e;
    self->count++;
    s_grow(self);
}

ipp_err_t eng_namespace_set(eng_namespace_t *self, const char *key, const void *data, size_t len)
{
    if (!key || !*key)
        return IPP_ERR_INVALID;
    s_entry_t *e = s_entry_new(key, data, len);
    if (!e)
        return IPP_ERR_NOMEM;
    s_commit(self, e);
    return IPP_OK;
}

ipp_err_t eng_namespace_get(const eng_namespace_t *self, const char *key, const void **data,
                            size_t *len)
{
    if (!key || !*key)
        return IPP_ERR_NOT_FOUND;
    s_entry_t *e = *s_find(self, key, s_hash(key));
    if (!e)
        return IPP_ERR_NOT_FOUND;
    if (data)
        *data = e->data;
    if (len)
        *len = e->len;
    return IPP_OK;
}

bool eng_namespace_del(eng_namespace_t *self, const char *key)
{
    if (!key || !*key)
        return false;
    s_entry_t **link = s_find(self, key, s_hash(key));
    s_entry_t *e = *link;
    if (!e)
        return false;
    *link = e->next;
    s_entry_free(e);
    self->count--;
    return true;
}

ipp_err_t eng_namespace_push(eng_namespace_t *self, const char *const *keys, size_t nkeys,
                             const eng_span_t *values, size_t nvalues, eng_result_t *res)
{
    ipp_err_t rc = IPP_OK;
    s_entry_t **prepared = NULL;
    res->started = ipp_clock_now_us();
    if (nkeys != nvalues) {
        eng_result_set_error(res, ENG_STATUS_ERROR, "ValueError", "push: %zu keys but %zu values",
                             nkeys, nvalues);
        rc = IPP_ERR_INVALID;
        goto out;
    }
    for (size_t i = 0; i < nkeys; i++) {
        if (!keys[i] || !*keys[i]) {
            eng_result_set_error(res, ENG_STATUS_ERROR, "ValueError", "push: key %zu is empty", i);
            rc = IPP_ERR_INVALID;
            goto out;
        }
    }
    prepared = calloc(nkeys ? nkeys : 1, sizeof *prepared);
    if (!prepared) {
        rc = IPP_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < nkeys; i++) {
        prepared[i] = s_entry_new(keys[i], values[i].data, values[i].len);
        if (!prepared[i]) {
            rc = IPP_ERR_NOMEM;
            goto out;
        }
    }
    for (size_t i = 0; i < nkeys; i++) {
        s_commit(self, prepared[i]);
        prepared[i] = NULL;
    }
out:
    if (rc == IPP_ERR_NOMEM)
        eng_result_set_error(res, ENG_STATUS_ERROR, "MemoryError",
                             "push: out of memory storing %zu values", nkeys);
    if (prepared)
        for (size_t i = 0; i < nkeys; i++)
            s_entry_free(prepared[i]);
    free(prepared);
    res->completed = ipp_clock_now_us();
    return rc;
}

// s_name_missing: append "'key'" to the evalue being built, bounded.
static void s_name_missing(char *buf, size_t size, size_t *used, const char *key, bool first)
{
    if (*used >= size)
        return;
    int n = snprintf(buf + *used, size - *used, "%s'%.100s'", first ? "" : ", ", key);
    if (n > 0)
        *used += (size_t)n;
    if (*used >= size)
        *used = size;
}

ipp_err_t eng_namespace_pull(const eng_namespace_t *self, const char *const *keys, size_t nkeys,
                             eng_result_t *res)
{
    res->started = ipp_clock_now_us();
    char names[400];
    size_t used = 0;
    size_t missing = 0;
    names[0] = '\0';
    for (size_t i = 0; i < nkeys; i++) {
        const char *key = keys[i] ? keys[i] : "";
        if (eng_namespace_get(self, key, NULL, NULL) != IPP_OK)
            s_name_missing(names, sizeof names, &used, key, missing++ == 0);
    }
    if (missing) {
        eng_result_set_error(res, ENG_STATUS_ERROR, "NameError", "%s %s %s not defined",
                             missing == 1 ? "name" : "names", names, missing == 1 ? "is" : "are");
        res->completed = ipp_clock_now_us();
        return IPP_ERR_NOT_FOUND;
    }
    for (size_t i = 0; i < nkeys; i++) {
        const void *data = NULL;
        size_t len = 0;
        eng_namespace_get(self, keys[i], &data, &len);
        if (eng_result_add_buffer(res, data, len) != IPP_OK) {
            eng_result_drop_buffers(res);
            eng_result_set_error(res, ENG_STATUS_ERROR, "MemoryError",
                                 "pull: out of memory copying %zu values", nkeys);
            res->completed = ipp_clock_now_us();
            return IPP_ERR_NOMEM;
        }
    }
    res->completed = ipp_clock_now_us();
    return IPP_OK;
}

void eng_namespace_clear_task(eng_namespace_t *self, eng_result_t *res)
{
    res->started = ipp_clock_now_us();
    eng_namespace_clear(self);
    res->completed = ipp_clock_now_us();
}
