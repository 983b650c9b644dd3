/* taskmap.h — msg_id → pending task, for the controller.
 *
 * Open addressing with linear probing and backward-shift deletion; keys
 * are the tasks' own msg_id strings (the map stores pointers, never copies),
 * so a task must stay in place while it is in the map. Grows by doubling at
 * half load; never shrinks below its start size.
 */
#ifndef IPP_HUB_TASKMAP_H
#define IPP_HUB_TASKMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct hub_taskmap_t hub_taskmap_t;

// hub_taskmap_new: an empty map; NULL if out of memory. Caller owns it.
hub_taskmap_t *hub_taskmap_new(void);

// hub_taskmap_destroy: free the map (not the values) and set *self_p NULL.
void hub_taskmap_destroy(hub_taskmap_t **self_p);

// hub_taskmap_put: map key (borrowed: it must live as long as the entry)
// to value. Returns 0, 1 if key was already there (nothing changed), -1 if
// out of memory.
int hub_taskmap_put(hub_taskmap_t *self, const char *key, void *value);

// hub_taskmap_get: the value for key, or NULL.
void *hub_taskmap_get(const hub_taskmap_t *self, const char *key);

// hub_taskmap_del: remove key; returns its value or NULL.
void *hub_taskmap_del(hub_taskmap_t *self, const char *key);

// hub_taskmap_count: entries.
size_t hub_taskmap_count(const hub_taskmap_t *self);

// hub_taskmap_each: call fn(arg, key, value) for every entry; fn must not
// change the map. Order is unspecified.
void hub_taskmap_each(const hub_taskmap_t *self, void (*fn)(void *arg, const char *key, void *value),
                      void *arg);

#endif
