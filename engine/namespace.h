/* namespace.h — the engine's namespace: named byte values for direct views.
 *
 * Clients push values to an engine by name, call functions that read and
 * write them, and pull them back. The namespace lives as long as the
 * engine (or until a clear); it is not thread-safe: the engine runs one
 * task at a time and serialises every access.
 */
#ifndef IPP_ENGINE_NAMESPACE_H
#define IPP_ENGINE_NAMESPACE_H

#include "engine/result.h"
#include "ipp/error.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct eng_namespace_t eng_namespace_t;

// eng_namespace_new: an empty namespace; caller owns it. NULL when out of
// memory.
eng_namespace_t *eng_namespace_new(void);

// eng_namespace_destroy: free every value and the namespace; sets
// *self_p = NULL. NULL-safe.
void eng_namespace_destroy(eng_namespace_t **self_p);

// eng_namespace_set: set key (non-empty) to a copy of data[0..len).
// IPP_ERR_INVALID for an empty key; IPP_ERR_NOMEM leaves the old value.
ipp_err_t eng_namespace_set(eng_namespace_t *self, const char *key, const void *data, size_t len);

// eng_namespace_get: the value of key, borrowed: *data stays valid until
// the key is set, deleted or cleared. IPP_ERR_NOT_FOUND when not set.
ipp_err_t eng_namespace_get(const eng_namespace_t *self, const char *key, const void **data,
                            size_t *len);

// eng_namespace_del: remove key; returns whether it was set.
bool eng_namespace_del(eng_namespace_t *self, const char *key);

// eng_namespace_clear: remove every key.
void eng_namespace_clear(eng_namespace_t *self);

// eng_namespace_count: how many keys are set.
size_t eng_namespace_count(const eng_namespace_t *self);

// eng_namespace_push: the PUSH task: keys[i] gets a copy of values[i],
// all or nothing. res gets timestamps and, on failure, status ERROR with
// ename "ValueError" (counts differ, empty key) or "MemoryError". Returns
// IPP_OK when every key was set.
ipp_err_t eng_namespace_push(eng_namespace_t *self, const char *const *keys, size_t nkeys,
                             const eng_span_t *values, size_t nvalues, eng_result_t *res);

// eng_namespace_pull: the PULL task: res gets a copy of each key's value
// as a buffer, in order. A key not set fails the whole pull with ename
// "NameError" and an evalue naming every missing key (IPP_ERR_NOT_FOUND).
ipp_err_t eng_namespace_pull(const eng_namespace_t *self, const char *const *keys, size_t nkeys,
                             eng_result_t *res);

// eng_namespace_clear_task: the CLEAR task: clear, with timestamps in res.
void eng_namespace_clear_task(eng_namespace_t *self, eng_result_t *res);

#endif
