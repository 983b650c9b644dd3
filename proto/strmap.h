/* strmap.h — string → pointer map (msg_id → task in the controller and the
 * engine, topics in the controller).
 *
 * Open addressing with linear probing and backward-shift deletion; keys
 * are the tasks' own msg_id strings (the map stores pointers, never copies),
 * so a task must stay in place while it is in the map. Grows by doubling at
 * half load; never shrinks below its start size.
 */
#ifndef IPP_PROTO_STRMAP_H
#define IPP_PROTO_STRMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct ipp_strmap_t ipp_strmap_t;

// ipp_strmap_new: an empty map; NULL if out of memory. Caller owns it.
ipp_strmap_t *ipp_strmap_new(void);

// ipp_strmap_destroy: free the map (not the values) and set *self_p NULL.
void ipp_strmap_destroy(ipp_strmap_t **self_p);

// ipp_strmap_put: map key (borrowed: it must live as long as the entry)
// to value. Returns 0, 1 if key was already there (nothing changed), -1 if
// out of memory.
int ipp_strmap_put(ipp_strmap_t *self, const char *key, void *value);

// ipp_strmap_get: the value for key, or NULL.
void *ipp_strmap_get(const ipp_strmap_t *self, const char *key);

// ipp_strmap_del: remove key; returns its value or NULL.
void *ipp_strmap_del(ipp_strmap_t *self, const char *key);

// ipp_strmap_count: entries.
size_t ipp_strmap_count(const ipp_strmap_t *self);

// ipp_strmap_each: call fn(arg, key, value) for every entry; fn must not
// change the map. Order is unspecified.
void ipp_strmap_each(const ipp_strmap_t *self, void (*fn)(void *arg, const char *key, void *value),
                     void *arg);

#endif
