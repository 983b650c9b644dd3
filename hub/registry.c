/* registry.c — live engines indexed by id.
 *
 * Engines are few (tens to thousands) and ids are small, so a sorted array
 * of pointers serves every lookup: by id with a binary search, by uuid or
 * routing id with a scan that only registration and unknown-peer paths take.
 * The hot path (a result arriving) looks engines up by id.
 */
#include "hub/registry.h"
#include "proto/grow.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct hub_registry_t {
    hub_engine_t **v;  // live engines sorted by id, owned
    size_t n;          // how many
    size_t cap;        // allocated
};

hub_registry_t *hub_registry_new(void)
{
    return calloc(1, sizeof(hub_registry_t));
}

static void s_free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void s_engine_free(hub_engine_t *e)
{
    if (!e)
        return;
    s_free_strv(e->tags, e->n_tags);
    s_free_strv(e->functions, e->n_functions);
    free(e);
}

void hub_registry_destroy(hub_registry_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    hub_registry_t *self = *self_p;
    for (size_t i = 0; i < self->n; i++)
        s_engine_free(self->v[i]);
    free(self->v);
    free(self);
    *self_p = NULL;
}

// s_find: index of id in v, or where it would go (*found says which).
static size_t s_find(const hub_registry_t *self, int id, int *found)
{
    size_t lo = 0, hi = self->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (self->v[mid]->id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < self->n && self->v[lo]->id == id;
    return lo;
}

static char **s_copy_strv(char *const *src, size_t n, int *ok)
{
    if (n == 0)
        return NULL;
    char **v = calloc(n, sizeof *v);
    if (!v) {
        *ok = 0;
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        v[i] = strdup(src[i] ? src[i] : "");
        if (!v[i])
            *ok = 0;
    }
    return v;
}

hub_engine_t *hub_registry_add(hub_registry_t *self, int id, const char *uuid, const char *hostname,
                               int pid, char *const *tags, size_t n_tags, char *const *functions,
                               size_t n_functions, const void *ident, size_t ident_len)
{
    int found;
    size_t at = s_find(self, id, &found);
    if (found || ident_len > HUB_IDENT_MAX)
        return NULL;
    if (IPP_GROW(self->v, self->cap, self->n + 1, 16) != 0)
        return NULL;
    hub_engine_t *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    int ok = 1;
    e->id = id;
    snprintf(e->uuid, sizeof e->uuid, "%s", uuid ? uuid : "");
    snprintf(e->hostname, sizeof e->hostname, "%s", hostname ? hostname : "");
    e->pid = pid;
    e->tags = s_copy_strv(tags, n_tags, &ok);
    e->n_tags = n_tags;
    e->functions = s_copy_strv(functions, n_functions, &ok);
    e->n_functions = n_functions;
    memcpy(e->ident, ident, ident_len);
    e->ident_len = ident_len;
    if (!ok) {
        s_engine_free(e);
        return NULL;
    }
    memmove(&self->v[at + 1], &self->v[at], (self->n - at) * sizeof *self->v);
    self->v[at] = e;
    self->n++;
    return e;
}

void hub_registry_remove(hub_registry_t *self, int id)
{
    int found;
    size_t at = s_find(self, id, &found);
    if (!found)
        return;
    s_engine_free(self->v[at]);
    memmove(&self->v[at], &self->v[at + 1], (self->n - at - 1) * sizeof *self->v);
    self->n--;
}

hub_engine_t *hub_registry_get(const hub_registry_t *self, int id)
{
    int found;
    size_t at = s_find(self, id, &found);
    return found ? self->v[at] : NULL;
}

hub_engine_t *hub_registry_by_uuid(const hub_registry_t *self, const char *uuid)
{
    for (size_t i = 0; i < self->n; i++)
        if (strcmp(self->v[i]->uuid, uuid) == 0)
            return self->v[i];
    return NULL;
}

hub_engine_t *hub_registry_by_ident(const hub_registry_t *self, const void *ident, size_t len)
{
    for (size_t i = 0; i < self->n; i++)
        if (self->v[i]->ident_len == len && memcmp(self->v[i]->ident, ident, len) == 0)
            return self->v[i];
    return NULL;
}

size_t hub_registry_count(const hub_registry_t *self)
{
    return self->n;
}

hub_engine_t *hub_registry_at(const hub_registry_t *self, size_t i)
{
    return i < self->n ? self->v[i] : NULL;
}

bool hub_engine_has_tag(const hub_engine_t *e, const char *tag)
{
    for (size_t i = 0; i < e->n_tags; i++)
        if (strcmp(e->tags[i], tag) == 0)
            return true;
    return false;
}
