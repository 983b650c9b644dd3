/* registry.h — the engines the controller knows.
 *
 * Engine ids are small integers handed out by the task store (stable per
 * engine uuid, also across controller restarts); the registry indexes the
 * live ones by id, uuid and routing identity, and tracks heartbeats.
 * It owns the hub_engine_t records; callers borrow them until the engine
 * is removed.
 */
#ifndef IPP_HUB_REGISTRY_H
#define IPP_HUB_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HUB_IDENT_MAX 255

typedef struct hub_engine_t {
    int id;                        // stable engine id
    char uuid[64];                 // engine uuid (also its routing id)
    char hostname[256];            // where it runs
    int pid;                       // its process id there
    char **tags;                   // --tag values, owned
    size_t n_tags;                 // how many
    char **functions;              // callable functions, owned
    size_t n_functions;            // how many
    int64_t registered;            // wall clock µs of this registration
    int64_t last_seen;             // monotonic µs of its last message
    uint8_t ident[HUB_IDENT_MAX];  // ROUTER routing id
    size_t ident_len;              // its length
    int64_t completed;             // tasks it finished in this run
    bool alive;                    // a heartbeat came after this registration:
                                   // the scheduler may send it work
    bool batches;                  // it registered for TASK_BATCH / RESULT_BATCH
} hub_engine_t;

typedef struct hub_registry_t hub_registry_t;

// hub_registry_new: an empty registry; NULL if out of memory. Caller owns.
hub_registry_t *hub_registry_new(void);

// hub_registry_destroy: free every engine and *self_p (NULL-safe).
void hub_registry_destroy(hub_registry_t **self_p);

// hub_registry_add: record a live engine with id and uuid; returns the new
// record (owned by the registry) or NULL if out of memory or id is taken.
// tags and functions are copied.
hub_engine_t *hub_registry_add(hub_registry_t *self, int id, const char *uuid, const char *hostname,
                               int pid, char *const *tags, size_t n_tags, char *const *functions,
                               size_t n_functions, const void *ident, size_t ident_len);

// hub_registry_remove: forget engine id (no-op if unknown).
void hub_registry_remove(hub_registry_t *self, int id);

// hub_registry_get: the live engine with id, or NULL.
hub_engine_t *hub_registry_get(const hub_registry_t *self, int id);

// hub_registry_by_uuid: the live engine with uuid, or NULL.
hub_engine_t *hub_registry_by_uuid(const hub_registry_t *self, const char *uuid);

// hub_registry_by_ident: the live engine whose routing id is ident, or NULL.
hub_engine_t *hub_registry_by_ident(const hub_registry_t *self, const void *ident, size_t len);

// hub_registry_count: live engines.
size_t hub_registry_count(const hub_registry_t *self);

// hub_registry_at: the i-th live engine in id order (0 ≤ i < count).
hub_engine_t *hub_registry_at(const hub_registry_t *self, size_t i);

// hub_registry_has_tag / has_function: whether engine e offers it.
bool hub_engine_has_tag(const hub_engine_t *e, const char *tag);

#endif
